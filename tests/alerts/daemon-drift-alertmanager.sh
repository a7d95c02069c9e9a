#!/usr/bin/env bash
# Drift alerts from `keelson run` to the real Alertmanager (Debian package
# prometheus-alertmanager) on 127.0.0.1, against kubesim: a system under
# driftPolicy alert, a hand edit made with kubectl is detected from the
# watch as it happens; KeelsonDrift with labels cluster, system, kind,
# namespace and name is read back from Alertmanager's API; further cycles
# within alerts.repeatInterval send nothing more (Alertmanager's own
# received counter); the status branch (the repository's spec.statusBranch,
# since the configuration names none) says Degraded with the drifted
# object; /metrics shows keelson_drift_objects 1; the drift is not healed.
# Then the edit is undone with kubectl: the alert is resolved in
# Alertmanager, the gauge drops to 0 and the status is Synced again. A
# drift alert of a system then removed from the repository is resolved and
# its gauge dropped.
# Skips (77) without KUBECTL or the Alertmanager binary.
set -u

name=daemon-drift-alertmanager
AM=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}
if [ -z "$AM" ]; then
	echo "$name: prometheus-alertmanager not found (apt-get install prometheus-alertmanager); skipping"
	exit 77
fi
. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init "$name" git curl python3
am=
scenario_track am
SCENARIO_LOGS="daemon.log am.log kubesim.err out"
SCENARIO_TAIL=60

step="alertmanager starts"
scenario_alertmanager_start >"$work/am-attempts.log" || fail "could not start alertmanager: $(cat "$work/am-attempts.log")"

kubesim_start "$work" --log-level error || fail "kubesim did not start"

scenario_repo_skeleton drift-alert-test ops/keelson-status alert 1m
scenario_color_app blue
scenario_git_init
scenario_commit "app"
# libgit2 pushes (the status branch) only to bare local repositories.
git clone -q --bare "$repo" "$work/origin.git" || fail "git clone --bare"

scenario_config "$work/keelson.yaml" url="$work/origin.git" poll=1m
cat >>"$work/keelson.yaml" <<EOF
alerts:
  alertmanagerUrl: $amurl
  repeatInterval: 1m
http:
  listen: 127.0.0.1:0
status:
  interval: 1s
EOF

step="keelson run applies the revision"
scenario_daemon_start
scenario_http_base
color() { "$KUBECTL" get configmap settings -n app -o jsonpath='{.data.color}' 2>/dev/null; }
is_color() { [ "$(color)" = "$1" ]; }
scenario_wait -q 60 "ConfigMap blue" is_color blue
scenario_wait -q 30 "/readyz" curl -fs "$base/readyz"
metric() {
	curl -fs "$base/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { print v == "" ? "absent" : v }'
}
drift_gauge='keelson_drift_objects{cluster="sim",system="app"}'
[ "$(metric "$drift_gauge")" = 0 ] || fail "drift gauge $(metric "$drift_gauge") before any drift"

# The KeelsonDrift alert for app/settings as "state labels..." or nothing.
am_alert() {
	curl -fs "$amurl/api/v2/alerts" | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    l = a["labels"]
    if l.get("alertname") == "KeelsonDrift" and l.get("name") == "settings":
        print(a["status"]["state"], l.get("cluster"), l.get("system"), l.get("kind"), l.get("namespace"), l.get("name"))
'
}
am_received() {
	curl -fs "$amurl/metrics" |
		awk '$1 == "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"}" { print $2 }'
}
# The daemon's configuration names no status.branch: the repository's
# spec.statusBranch is used.
status_json() { "$KEELSON" status --config "$work/keelson.yaml" --branch ops/keelson-status --output json 2>/dev/null; }
status_is() { # status_is PHASE DRIFTCOUNT
	status_json | python3 -c '
import json, sys
d = [x for x in json.load(sys.stdin) if x["system"] == "app"][0]
sys.exit(0 if d["phase"] == sys.argv[1] and d["drift"]["count"] == int(sys.argv[2]) else 1)' "$1" "$2"
}
scenario_wait -q 20 "status Synced" status_is Synced 0
git --git-dir="$work/origin.git" rev-parse -q --verify refs/heads/keelson/status >/dev/null &&
	fail "status written to keelson/status instead of the repository's ops/keelson-status"
"$KEELSON" status --config "$work/keelson.yaml" >"$work/out" 2>&1 && fail "keelson status found keelson/status"
grep -q 'pass --branch' "$work/out" || fail "no hint about --branch: $(cat "$work/out")"

step="drift made with kubectl is alerted"
"$KUBECTL" patch configmap settings -n app --type merge -p '{"data":{"color":"red"}}' >/dev/null || fail "kubectl patch"
has_alert() { am_alert | grep -q '^active sim app ConfigMap app settings$'; }
scenario_wait -q 30 "KeelsonDrift active in Alertmanager" has_alert
scenario_wait -q 10 "drift gauge 1" sh -c "curl -fs $base/metrics | grep -q '^keelson_drift_objects{cluster=\"sim\",system=\"app\"} 1\$'"
scenario_wait -q 20 "status Degraded with one drifted object" status_is Degraded 1
status_json | grep -q 'core/ConfigMap/app/settings' || fail "status does not list the drifted object: $(status_json)"
is_color red || fail "driftPolicy alert healed the drift"

step="not re-sent within repeatInterval"
received=$(am_received)
[ -n "$received" ] && [ "$received" -ge 1 ] || fail "Alertmanager received count '$received'"
# More drift on the same object: keelson wakes, recomputes and fires again;
# the sender must not deliver before the interval.
"$KUBECTL" annotate configmap settings -n app touched=1 >/dev/null || fail "kubectl annotate"
"$KUBECTL" annotate configmap settings -n app touched=2 --overwrite >/dev/null || fail "kubectl annotate"
scenario_wait -q 10 "two more cycles" sh -c "[ \$(grep -c 'reconcile cycle done' $work/daemon.log) -ge 3 ]"
sleep 1
[ "$(am_received)" = "$received" ] || fail "re-sent within repeatInterval ($received -> $(am_received))"

step="drift undone: the alert is resolved"
"$KUBECTL" patch configmap settings -n app --type merge -p '{"data":{"color":"blue"}}' >/dev/null || fail "kubectl patch"
no_alert() { [ -z "$(am_alert)" ]; }
scenario_wait -q 30 "KeelsonDrift gone from Alertmanager" no_alert
scenario_wait -q 10 "drift gauge 0" sh -c "curl -fs $base/metrics | grep -q '^keelson_drift_objects{cluster=\"sim\",system=\"app\"} 0\$'"
scenario_wait -q 20 "status Synced again" status_is Synced 0
grep -q 'level=error' "$work/daemon.log" && fail "errors logged: $(grep 'level=error' "$work/daemon.log")"

step="a system removed from the repository: its drift alert is resolved"
"$KUBECTL" patch configmap settings -n app --type merge -p '{"data":{"color":"red"}}' >/dev/null || fail "kubectl patch"
scenario_wait -q 30 "KeelsonDrift active again" has_alert
# Another system keeps the cluster in the repository.
mkdir -p "$repo/clusters/sim/other"
sed 's/name: app$/name: other/' "$repo/clusters/sim/app/system.yaml" >"$repo/clusters/sim/other/system.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\ndata:\n  k: v\n' \
	>"$repo/clusters/sim/other/cm.yaml"
git -C "$repo" rm -q -r clusters/sim/app || fail "git rm"
scenario_commit "app removed"
git -C "$repo" push -q "$work/origin.git" main || fail "git push"
scenario_wait -q 30 "KeelsonDrift resolved after the system left" no_alert
scenario_wait -q 10 "drift gauge of app dropped" sh -c "! curl -fs $base/metrics | grep -q '^keelson_drift_objects{cluster=\"sim\",system=\"app\"}'"

rc=0
scenario_daemon_stop -TERM || rc=$?
[ $rc -eq 0 ] || fail "keelson run exited $rc after SIGTERM"
echo "$name: ok"
exit 0
