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
if [ -z "${KUBECTL:-}" ]; then
	echo "$name: KUBECTL is empty, skipping"
	exit 77
fi
for tool in git curl python3; do
	command -v $tool >/dev/null 2>&1 || { echo "$name: no $tool, skipping"; exit 77; }
done
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KEELSON=$builddir/keelson
[ -x "$KEELSON" ] || { echo "$name: $KEELSON not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
daemon=
am=
cleanup() {
	for p in $daemon $am; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

step=""
fail() {
	echo "FAIL [$step]: $*"
	for f in daemon.log am.log kubesim.err out; do
		[ -f "$work/$f" ] && { echo "--- $f (last 60 lines)"; tail -n 60 "$work/$f"; }
	done
	exit 1
}
wait_for() {
	local what=$1 limit=$2
	shift 2
	local i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le $((limit * 5)) ] || fail "timed out after ${limit}s waiting for: $what"
		[ -z "$daemon" ] || kill -0 "$daemon" 2>/dev/null || fail "keelson run exited while waiting for: $what"
		sleep 0.2
	done
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

step="alertmanager starts"
cat >"$work/alertmanager.yml" <<'YAML'
route:
  receiver: "null"
receivers:
  - name: "null"
YAML
for attempt in 1 2 3 4 5; do
	amport=$(free_port)
	"$AM" --config.file="$work/alertmanager.yml" --storage.path="$work/am-data" \
		--web.listen-address="127.0.0.1:$amport" --cluster.listen-address= \
		--log.level=warn >"$work/am.log" 2>&1 &
	am=$!
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$amport/-/ready" >/dev/null 2>&1 && break 2
		kill -0 "$am" 2>/dev/null || break
		sleep 0.1
	done
	kill "$am" 2>/dev/null
	wait "$am" 2>/dev/null
	am=
done
[ -n "$am" ] || fail "could not start alertmanager"
amurl="http://127.0.0.1:$amport"

kubesim_start "$work" --log-level error || fail "kubesim did not start"

repo="$work/repo"
mkdir -p "$repo/clusters/sim/app"
cat >"$repo/keelson.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: drift-alert-test
spec:
  statusBranch: ops/keelson-status
  policy:
    prune: true
    driftPolicy: alert
    pollInterval: 1m
    driftCheckInterval: 10m
    alertRepeatInterval: 1h
EOF
cat >"$repo/clusters/sim/cluster.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Cluster
metadata:
  name: sim
spec:
  kubeContext: kubesim
EOF
cat >"$repo/clusters/sim/app/system.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: System
metadata:
  name: app
spec:
  plugin: generic
EOF
cat >"$repo/clusters/sim/app/objects.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: app
data:
  color: blue
EOF
git init -q -b main "$repo" || fail "git init"
git -C "$repo" add -A && git -C "$repo" -c user.name=t -c user.email=t@e commit -q -m "app" || fail "git commit"
# libgit2 pushes (the status branch) only to bare local repositories.
git clone -q --bare "$repo" "$work/origin.git" || fail "git clone --bare"

cat >"$work/keelson.yaml" <<EOF
git:
  url: $work/origin.git
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1m
clusters:
  - name: sim
    kubeconfig: $KUBECONFIG
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: 1s
alerts:
  alertmanagerUrl: $amurl
  repeatInterval: 1m
http:
  listen: 127.0.0.1:0
status:
  interval: 1s
EOF

step="keelson run applies the revision"
"$KEELSON" run --config "$work/keelson.yaml" >"$work/daemon.log" 2>&1 &
daemon=$!
wait_for "HTTP port" 60 grep -q 'HTTP server listening' "$work/daemon.log"
port=$(sed -n 's/.*HTTP server listening.* port=\([0-9][0-9]*\).*/\1/p' "$work/daemon.log" | head -n 1)
base="http://127.0.0.1:$port"
color() { "$KUBECTL" get configmap settings -n app -o jsonpath='{.data.color}' 2>/dev/null; }
is_color() { [ "$(color)" = "$1" ]; }
wait_for "ConfigMap blue" 60 is_color blue
wait_for "/readyz" 30 curl -fs "$base/readyz"
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
wait_for "status Synced" 20 status_is Synced 0
git --git-dir="$work/origin.git" rev-parse -q --verify refs/heads/keelson/status >/dev/null &&
	fail "status written to keelson/status instead of the repository's ops/keelson-status"
"$KEELSON" status --config "$work/keelson.yaml" >"$work/out" 2>&1 && fail "keelson status found keelson/status"
grep -q 'pass --branch' "$work/out" || fail "no hint about --branch: $(cat "$work/out")"

step="drift made with kubectl is alerted"
"$KUBECTL" patch configmap settings -n app --type merge -p '{"data":{"color":"red"}}' >/dev/null || fail "kubectl patch"
has_alert() { am_alert | grep -q '^active sim app ConfigMap app settings$'; }
wait_for "KeelsonDrift active in Alertmanager" 30 has_alert
wait_for "drift gauge 1" 10 sh -c "curl -fs $base/metrics | grep -q '^keelson_drift_objects{cluster=\"sim\",system=\"app\"} 1\$'"
wait_for "status Degraded with one drifted object" 20 status_is Degraded 1
status_json | grep -q 'core/ConfigMap/app/settings' || fail "status does not list the drifted object: $(status_json)"
is_color red || fail "driftPolicy alert healed the drift"

step="not re-sent within repeatInterval"
received=$(am_received)
[ -n "$received" ] && [ "$received" -ge 1 ] || fail "Alertmanager received count '$received'"
# More drift on the same object: keelson wakes, recomputes and fires again;
# the sender must not deliver before the interval.
"$KUBECTL" annotate configmap settings -n app touched=1 >/dev/null || fail "kubectl annotate"
"$KUBECTL" annotate configmap settings -n app touched=2 --overwrite >/dev/null || fail "kubectl annotate"
wait_for "two more cycles" 10 sh -c "[ \$(grep -c 'reconcile cycle done' $work/daemon.log) -ge 3 ]"
sleep 1
[ "$(am_received)" = "$received" ] || fail "re-sent within repeatInterval ($received -> $(am_received))"

step="drift undone: the alert is resolved"
"$KUBECTL" patch configmap settings -n app --type merge -p '{"data":{"color":"blue"}}' >/dev/null || fail "kubectl patch"
no_alert() { [ -z "$(am_alert)" ]; }
wait_for "KeelsonDrift gone from Alertmanager" 30 no_alert
wait_for "drift gauge 0" 10 sh -c "curl -fs $base/metrics | grep -q '^keelson_drift_objects{cluster=\"sim\",system=\"app\"} 0\$'"
wait_for "status Synced again" 20 status_is Synced 0
grep -q 'level=error' "$work/daemon.log" && fail "errors logged: $(grep 'level=error' "$work/daemon.log")"

step="a system removed from the repository: its drift alert is resolved"
"$KUBECTL" patch configmap settings -n app --type merge -p '{"data":{"color":"red"}}' >/dev/null || fail "kubectl patch"
wait_for "KeelsonDrift active again" 30 has_alert
# Another system keeps the cluster in the repository.
mkdir -p "$repo/clusters/sim/other"
sed 's/name: app$/name: other/' "$repo/clusters/sim/app/system.yaml" >"$repo/clusters/sim/other/system.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: default\ndata:\n  k: v\n' \
	>"$repo/clusters/sim/other/cm.yaml"
git -C "$repo" rm -q -r clusters/sim/app || fail "git rm"
git -C "$repo" add -A && git -C "$repo" -c user.name=t -c user.email=t@e commit -q -m "app removed" || fail "git commit"
git -C "$repo" push -q "$work/origin.git" main || fail "git push"
wait_for "KeelsonDrift resolved after the system left" 30 no_alert
wait_for "drift gauge of app dropped" 10 sh -c "! curl -fs $base/metrics | grep -q '^keelson_drift_objects{cluster=\"sim\",system=\"app\"}'"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
daemon=
[ $rc -eq 0 ] || fail "keelson run exited $rc after SIGTERM"
echo "$name: ok"
exit 0
