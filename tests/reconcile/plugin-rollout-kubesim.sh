#!/bin/sh
# keelson run and keelson sync driving a plugin system through the executor:
# a local Git repository (tests/plugin/repo) whose system uses the example
# plugin restart-one-at-a-time on a 3-replica OnDelete StatefulSet in
# kubesim. An image bump committed to Git is rolled by the daemon, which is
# killed with SIGKILL at random moments and restarted; a kubectl watch
# records every pod version: each pod must be replaced exactly once and
# never two be unavailable at once. keelson sync --once advances one step
# per run and exits 1 until the roll converges. The objects applied by the
# plugin are in the system's inventory; an idle daemon makes no request;
# kubesim's invariant log stays empty. A hand edit under driftPolicy alert
# is reported, not rolled back by the plugin. The pods the roll deleted
# have RolloutStep Events from keelson. Then a pod that never becomes Ready:
# the rollout blocks, the webhook receives KeelsonRolloutBlocked, nothing
# else is touched, and a restarted daemon stays blocked and alerts again.
# Needs $KUBECTL (skipped with 77 when empty), git, curl and $top_builddir.
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init plugin-rollout-kubesim git curl
scenario_need_plugin plugins/example/.libs restart-one-at-a-time.so

kubesim_start "$work" --log-level error || fail "kubesim did not start"
scenario_repo_copy "$srcdir/tests/plugin/repo" "web, restart-one-at-a-time"
sts="$repo/clusters/sim/web/statefulset.yaml"

# The plugin directory comes from the configuration file here; the daemon
# runs below pass --plugin-dir instead.
scenario_config "$work/keelson-noplugins.yaml" backoff=2s
{ cat "$work/keelson-noplugins.yaml"; echo "pluginDir: $PLUGINS"; } >"$work/keelson.yaml"

step="a plugin that is not loaded rejects the revision"
KEELSON_PLUGIN_DIR="$work/none" "$KEELSON" sync --once --config "$work/keelson-noplugins.yaml" \
	>"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync without the plugin exited $rc, expected 1"
grep -q "restart-one-at-a-time" "$work/err" || fail "the rejection does not name the plugin"
"$KEELSON" sync --once --config "$work/keelson.yaml" --plugin-dir "$work/none" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "a missing --plugin-dir exited $rc, expected 2"
grep -q "$work/none" "$work/err" || fail "the error does not name the plugin directory"

step="sync --once: one step per run, exit 1 until converged"
scenario_sync_until_converged "$work/keelson.yaml" 100
[ $runs -ge 2 ] || fail "the first sync converged at once; expected at least one step first"
grep -q "revision [0-9a-f]*: converged" "$work/err" || fail "no converged summary"
k_ready=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.status.readyReplicas}')
[ "$k_ready" = 3 ] || fail "StatefulSet web has '$k_ready' ready replicas"
inv=$("$KUBECTL" get configmap keelson-inventory-sim-web -n keelson-system -o jsonpath='{.data.objects}')
case $inv in *'"kind":"StatefulSet"'*'"name":"web"'* | *'"name":"web"'*'"kind":"StatefulSet"'*) ;;
*) fail "the StatefulSet applied by the plugin is not in the inventory: $inv" ;; esac
lab=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.metadata.labels.keelson\.dev/system}')
[ "$lab" = web ] || fail "StatefulSet web not labelled keelson.dev/system=web ('$lab')"
"$KUBECTL" get configmap keelson-rollout-sim-web -n keelson-system -o name >/dev/null 2>&1 ||
	fail "no rollout state ConfigMap in keelson-system"

scenario_watch_start web

step="image bump rolled by keelson run, killed with SIGKILL at random moments"
sed -i 's/nginx:1.27/nginx:1.28/' "$sts"
git_in commit -q -a -m "web: nginx 1.28"
images() { "$KUBECTL" get pods -n web -o jsonpath='{.items[*].spec.containers[0].image}'; }
rolled() {
	[ "$(images)" = "nginx:1.28 nginx:1.28 nginx:1.28" ] &&
		"$KUBECTL" get pods -n web -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' |
		grep -qx "True True True"
}
# The daemons get the plugin directory from --plugin-dir, not the file.
CONFIG="$work/keelson-noplugins.yaml"
: >"$work/daemon.log"
scenario_roll_with_kills 6 60 rolled
echo "   rolled with $kills SIGKILLs"
[ $kills -ge 2 ] || fail "only $kills SIGKILLs happened; restarts were not exercised"
scenario_wait 3 "the daemon to log the rollout converged" grep -q "plugin rollout converged" "$work/daemon.log"

step="Kubernetes Events on the pods the roll restarted"
events=$("$KUBECTL" get events -n web -o jsonpath='{range .items[?(@.reason=="RolloutStep")]}{.involvedObject.kind}/{.involvedObject.name} {.source.component} {.type} {.message}{"\n"}{end}')
# Events are best effort: a SIGKILL between a step and its Event loses that
# one Event (the step is never replayed), so one pod may lack it.
with_event=0
for p in web-0 web-1 web-2; do
	printf '%s\n' "$events" | grep -q "^Pod/$p keelson Normal delete-pod: .*(system web, revision " &&
		with_event=$((with_event + 1))
done
[ $with_event -ge 2 ] || fail "only $with_event of 3 restarted pods have a RolloutStep Event from keelson: $events"

step="an idle daemon makes no Kubernetes request"
scenario_assert_idle

scenario_daemon_stop
scenario_watch_stop

step="each pod replaced exactly once, never two unavailable"
scenario_replaced_once web-0 web-1 web-2 || fail "a pod was not replaced exactly once"
max=$(scenario_max_unavailable 3)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"

step="driftPolicy alert on a plugin system: reported, not healed"
"$KUBECTL" patch statefulset web -n web --type merge \
	-p '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:hand-edit"}]}}}}' \
	>/dev/null 2>&1 || fail "kubectl patch failed"
"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync with reported drift exited $rc, expected 1"
grep -q 'drift detected; not healed (driftPolicy alert).*kind=StatefulSet' "$work/err" || fail "drift not reported"
grep -q "plugin step ran" "$work/err" && fail "the plugin acted on drift that driftPolicy alert only reports"
img=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$img" = nginx:hand-edit ] || fail "drift was healed ($img)"

step="kubesim invariant log"
scenario_assert_no_violations

step="a pod that never becomes Ready: blocked, alerted, nothing else touched"
scenario_hook_start
scenario_alerts_config "$work/keelson-noplugins.yaml" "$work/keelson-alerts.yaml"
sed -i 's/nginx:1.28/nginx:1.29/' "$sts"
python3 - "$sts" <<'PY' || fail "cannot edit $sts"
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("      labels:\n        app: web\n    spec:",
              "      labels:\n        app: web\n      annotations:\n        kubesim.keelson.dev/ready: \"false\"\n    spec:", 1)
open(p, "w").write(s)
PY
sed -i 's/readyTimeout: 2m/readyTimeout: 3s/' "$repo/clusters/sim/web/system.yaml"
git_in commit -q -a -m "web: nginx 1.29 that never becomes Ready"
before=$(scenario_pod_uids web)
scenario_daemon_start "$work/keelson-alerts.yaml"
scenario_wait 60 "a KeelsonRolloutBlocked alert" scenario_log_has "$work/hook.out" KeelsonRolloutBlocked
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q '"system":"web"' || fail "the alert does not name system web"
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q 'timed out after 3s' || fail "the alert does not say why"
grep -q 'level=error msg="system blocked.*cluster=sim system=web reason=' "$work/daemon.log" ||
	fail "no error log line for the blocked system"
scenario_daemon_stop -9
alerts_before=$(grep -c KeelsonRolloutBlocked "$work/hook.out")
# Restarted: stays blocked (persisted), alerts again, touches nothing.
scenario_daemon_start "$work/keelson-alerts.yaml"
alerted_again() { [ "$(grep -c KeelsonRolloutBlocked "$work/hook.out")" -gt "$alerts_before" ]; }
scenario_wait 30 "a restarted daemon to alert the blocked rollout again" alerted_again
sleep 2
scenario_assert_only_replaced "$before" "$(scenario_pod_uids web)" web-2
"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync of a blocked system exited $rc, expected 1"
grep -q "1 blocked" "$work/err" || fail "sync summary does not count the blocked system"
scenario_assert_no_violations
echo "PASS"
exit 0
