#!/bin/sh
# Scenario 4: scaling with rebalancing through kubesim's simulated Cruise
# Control. 3 -> 5: the new brokers start, then add_broker moves partitions
# onto them (no existing broker restarted). 5 -> 3: remove_broker empties
# brokers 3 and 4 first, the StatefulSet shrinks only then. 3 -> 2 with
# replication factor 3: refused (blocked) while the replicas remain, nothing
# deleted. kubesim's invariant log (which records a broker removed while
# holding replicas) stays empty throughout.
. "${top_srcdir:-.}/tests/kafka/kafka-lib.sh"

kafka_setup kafka-scale
sed -i 's/^  replicas: 5$/  replicas: 3/' "$sts"
# Cruise Control moves 5 replicas per 10 simulated seconds (0.5 s real):
# its tasks last long enough to be seen running and followed.
sed -i '0,/^  namespace: kafka$/s//  namespace: kafka\n  annotations:\n    kubesim.keelson.dev\/kafka-move-ms: "10000"/' "$sts"
grep -q 'kafka-move-ms: "10000"' "$sts" || fail "cannot annotate $sts"
git_in commit -q -a -m "kafka, 3 brokers"
kafka_deploy 3

partitions() {
	metric "$1" kafka_server_replicamanager_partitioncount
}
held_by() {
	v=$(partitions "$1")
	[ -n "$v" ] && [ "$v" -gt 0 ]
}
uids() { k get pods -n kafka -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'; }

step="scale 3 -> 5 with add_broker"
[ "$(partitions kafka-0)" = 18 ] || fail "kafka-0 holds $(partitions kafka-0) replicas, expected 18 (3 topics x 6, RF 3)"
before=$(uids)
sed -i 's/^  replicas: 3$/  replicas: 5/' "$sts"
git_in commit -q -a -m "kafka, 5 brokers"
scenario_daemon_start
scenario_wait 60 "5 brokers Ready" all_ready 5
rebalanced() { held_by kafka-3 && held_by kafka-4 && converged; }
scenario_wait 60 "Cruise Control moved partitions onto kafka-3 and kafka-4" rebalanced
scenario_daemon_stop
grep -q 'running step.*ask Cruise Control to move partitions onto new brokers 3,4 (add_broker, dryrun=false)' \
	"$work/daemon.log" || fail "no add_broker step logged"
grep -q 'plugin waiting.*wait for Cruise Control task .* (add_broker 3,4, ' "$work/daemon.log" ||
	fail "the task was not followed"
after=$(uids)
for pair in $before; do
	case " $after " in *" $pair "*) ;; *) fail "$pair was restarted by a scale-up" ;; esac
done
total=0
for p in kafka-0 kafka-1 kafka-2 kafka-3 kafka-4; do total=$((total + $(partitions "$p"))); done
[ "$total" -eq 54 ] || fail "the brokers hold $total replicas, expected 54"
[ "$(partitions kafka-0)" -lt 18 ] || fail "nothing moved off kafka-0"
scenario_assert_no_violations
: >"$work/daemon.log"

step="scale 5 -> 3 with remove_broker first"
sed -i 's/^  replicas: 5$/  replicas: 3/' "$sts"
git_in commit -q -a -m "kafka, back to 3 brokers"
scenario_daemon_start
shrunk() { all_ready 3 && converged; }
scenario_wait 60 "the StatefulSet shrank to 3 brokers" shrunk
scenario_daemon_stop
grep -q 'running step.*ask Cruise Control to move every replica off brokers 3,4 (remove_broker, dryrun=false)' \
	"$work/daemon.log" || fail "no remove_broker step logged"
grep -q 'running step.*apply StatefulSet kafka/kafka (replicas 5 -> 3' "$work/daemon.log" ||
	fail "no shrink logged"
# The shrink came after the task: the remove_broker step is logged first.
first_rm=$(grep -n 'running step.*remove_broker' "$work/daemon.log" | head -n 1 | cut -d: -f1)
first_shrink=$(grep -n 'running step.*replicas 5 -> 3' "$work/daemon.log" | head -n 1 | cut -d: -f1)
[ "$first_rm" -lt "$first_shrink" ] || fail "the StatefulSet shrank before Cruise Control emptied the brokers"
for p in kafka-0 kafka-1 kafka-2; do [ "$(partitions "$p")" = 18 ] || fail "$p holds $(partitions "$p") replicas"; done
scenario_assert_no_violations
: >"$work/daemon.log"

step="scale 3 -> 2 refused while replicas remain"
before=$(uids)
sed -i 's/^  replicas: 3$/  replicas: 2/' "$sts"
git_in commit -q -a -m "kafka, 2 brokers (RF 3 cannot fit)"
BLOCK_OK=1
scenario_daemon_start
refused() { grep -q 'msg="system blocked.*reason="scale-down of kafka/kafka from 3 to 2 refused: brokers 2 (18 replicas) hold replicas and partition topic-[0-9]-[0-9] has 3 replicas, more than the 2 brokers that would remain' "$work/daemon.log"; }
scenario_wait 30 "the scale-down is refused" refused
sleep 1
scenario_daemon_stop
[ "$(uids)" = "$before" ] || fail "pods changed during a refused scale-down"
replicas=$(k get statefulset kafka -n kafka -o jsonpath='{.spec.replicas}')
[ "$replicas" = 3 ] || fail "the StatefulSet has $replicas replicas after a refused scale-down"
scenario_assert_no_violations
echo "PASS"
exit 0
