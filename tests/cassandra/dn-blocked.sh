#!/bin/sh
# A node that stays down after its restart: the rollout waits restartTimeout
# for it to be Up/Normal, then blocks; the webhook receives
# KeelsonRolloutBlocked naming the node; no other node is drained or
# restarted, also not by a daemon restarted afterwards; the invariant log
# stays empty (one node down is allowed).
set -u
. "${top_srcdir:-.}/tests/cassandra/lib.sh"
cass_setup dn-blocked "$srcdir/tests/cassandra/repo"
sts="$repo/clusters/sim/cass/statefulset.yaml"
sed -i 's/replicas: 5/replicas: 3/' "$sts"
cass_commit "three nodes"
pods="cass-0 cass-1 cass-2"

step="initial deployment"
IMAGE=cassandra:4.1.5
cass_deploy cass $pods
scenario_daemon_stop -9

step="a restarted node that never comes back: blocked, alerted, nothing else touched"
scenario_hook_start
scenario_alerts_config "$work/keelson.yaml" "$work/keelson-alerts.yaml"
# The new template's nodes take "forever" (simulated) to start: DN after restart.
sed -i 's/cassandra:4.1.5/cassandra:4.1.6/; s/cassandra-start-s: "10"/cassandra-start-s: "1000000"/' "$sts"
sed -i 's/restartTimeout: 2m/restartTimeout: 4s/' "$repo/clusters/sim/cass/system.yaml"
cass_commit "cassandra 4.1.6 that never starts"
before=$(scenario_pod_uids cass)
mark=$(log_mark)
scenario_daemon_start "$work/keelson-alerts.yaml"
scenario_wait 60 "a KeelsonRolloutBlocked alert" grep -qs KeelsonRolloutBlocked "$work/hook.out"
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q '"system":"cass"' || fail "the alert does not name system cass"
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q 'cass/cass-2' || fail "the alert does not name the node cass-2"
grep -q 'level=error msg="system blocked.*system=cass reason="timed out after 4s' "$work/daemon.log" ||
	fail "no error log line for the blocked system"
drains=$(tail -n +"$mark" "$work/daemon.log" | grep "running step" | grep -c "drain cass/")
[ "$drains" -eq 1 ] || fail "$drains nodes were drained, expected only cass-2"
tail -n +"$mark" "$work/daemon.log" | grep "running step" | grep -q "drain cass/cass-2 " || fail "cass-2 was not drained"
scenario_daemon_stop -9
alerts=$(grep -c KeelsonRolloutBlocked "$work/hook.out")

step="a restarted daemon stays blocked and touches nothing"
scenario_daemon_start "$work/keelson-alerts.yaml"
scenario_wait 30 "the restarted daemon alerting again" sh -c "[ \$(grep -c KeelsonRolloutBlocked '$work/hook.out') -gt $alerts ]"
sleep 2
scenario_assert_only_replaced "$before" "$(scenario_pod_uids cass)" cass-2
drains=$(tail -n +"$mark" "$work/daemon.log" | grep "running step" | grep -c "drain cass/")
[ "$drains" -eq 1 ] || fail "$drains drains after the restart, expected still 1"
for p in cass-0 cass-1; do
	r=$("$KUBECTL" get pod "$p" -n cass -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
	[ "$r" = True ] || fail "$p is not Ready ($r)"
done
scenario_assert_no_violations
echo "PASS"
exit 0
