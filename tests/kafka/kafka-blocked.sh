#!/bin/sh
# Scenario 3: a broker that never becomes Ready after its restart (the new
# pod template carries kubesim's ready "false"): the rollout waits for it
# for restartTimeout, then blocks; the webhook receives
# KeelsonRolloutBlocked naming the system and why; no other broker is
# touched, also by a restarted keelson, which stays blocked; kubesim's
# invariant log stays empty.
. "${top_srcdir:-.}/tests/kafka/kafka-lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "kafka-blocked: no python3 for the webhook receiver, skipping"; exit 77; }

kafka_setup kafka-blocked
kafka_deploy

step="webhook receiver"
scenario_hook_start
scenario_alerts_config "$work/keelson.yaml" "$work/keelson-alerts.yaml"
CONFIG="$work/keelson-alerts.yaml"

step="a new version that never becomes Ready"
before=$(scenario_pod_uids kafka)
sed -i 's|apache/kafka:3.7.0|apache/kafka:3.8.0-broken|' "$sts"
sed -i 's|kubesim.keelson.dev/stop-delay-ms: "1000"|kubesim.keelson.dev/stop-delay-ms: "1000"\n        kubesim.keelson.dev/ready: "false"|' "$sts"
grep -q 'kubesim.keelson.dev/ready: "false"' "$sts" || fail "cannot edit $sts"
sed -i 's/restartTimeout: 1m/restartTimeout: 5s/' "$system"
git_in commit -q -a -m "kafka 3.8.0 that never becomes Ready"
BLOCK_OK=1
scenario_daemon_start
alerted() { grep -q KeelsonRolloutBlocked "$work/hook.out" 2>/dev/null; }
scenario_wait 60 "a KeelsonRolloutBlocked alert" alerted
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q '"system":"kafka"' || fail "the alert does not name system kafka"
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q 'timed out after 5s: wait before restarting kafka-3: kafka-4 is not Ready' ||
	fail "the alert does not say why: $(cat "$work/hook.out")"
grep -q 'level=error msg="system blocked.*cluster=sim system=kafka reason=' "$work/daemon.log" ||
	fail "no error log line for the blocked system"
scenario_daemon_stop -9

step="a restarted keelson stays blocked and touches nothing"
alerts_before=$(grep -c KeelsonRolloutBlocked "$work/hook.out")
scenario_daemon_start
alerted_again() { [ "$(grep -c KeelsonRolloutBlocked "$work/hook.out")" -gt "$alerts_before" ]; }
scenario_wait 30 "a restarted daemon alerts the blocked rollout again" alerted_again
sleep 2
scenario_daemon_stop
scenario_assert_only_replaced "$before" "$(scenario_pod_uids kafka)" kafka-4
"$KEELSON" sync --once --config "$work/keelson.yaml" --plugin-dir "$PLUGINS" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync of a blocked system exited $rc, expected 1"
grep -q "1 blocked" "$work/err" || fail "sync summary does not count the blocked system"
img=$(k get pod kafka-3 -n kafka -o jsonpath='{.spec.containers[0].image}')
[ "$img" = apache/kafka:3.7.0 ] || fail "kafka-3 runs $img"
scenario_assert_no_violations
echo "PASS"
exit 0
