#!/bin/sh
# Scenario 1: an image bump on 5 Kafka brokers rolled by `keelson run` and
# the kafka plugin against kubesim's Kafka model: exactly 5 restarts, one
# at a time, the active controller last, the final state as Git says, and
# kubesim's invariant log empty. Then a change of the broker ConfigMap
# alone rolls the brokers again (config hash in the pod template).
. "${top_srcdir:-.}/tests/kafka/kafka-lib.sh"

kafka_setup kafka-roll
kafka_deploy

step="move the active controller off the lowest ordinal"
# The model's controller is whichever broker was up first and stays put
# until it goes down, then the lowest broker up takes over. With kafka-0 as
# controller, "controller last" would equal "highest ordinal first":
# deleting it by hand hands the role to kafka-1.
first=$(active_controller)
[ -n "$first" ] || fail "no active controller"
if [ "$first" = kafka-0 ]; then
	k delete pod -n kafka kafka-0 --wait=false >/dev/null || fail "deleting kafka-0"
	moved() { [ "$(active_controller)" = kafka-1 ]; }
	scenario_wait 30 "kafka-1 is the active controller" moved
	caught_up() {
		all_ready 5 || return 1
		s=0
		for p in kafka-0 kafka-1 kafka-2 kafka-3 kafka-4; do
			v=$(metric "$p" kafka_server_replicamanager_underreplicatedpartitions)
			[ -n "$v" ] || return 1
			s=$((s + v))
		done
		[ "$s" -eq 0 ]
	}
	scenario_wait 60 "kafka-0 is back and caught up" caught_up
	scenario_assert_no_violations
fi

step="image bump"
controller=$(active_controller)
[ -n "$controller" ] || fail "no active controller before the roll"
[ "$controller" != kafka-0 ] || fail "the controller is still kafka-0"
scenario_watch_start kafka
sed -i 's|apache/kafka:3.7.0|apache/kafka:3.7.1|' "$sts"
git_in commit -q -a -m "kafka 3.7.1"
scenario_daemon_start
images_done() { [ "$(all_images)" = "apache/kafka:3.7.1:5 " ] && all_ready 5; }
scenario_wait 100 "all 5 pods run 3.7.1 and are Ready" images_done
scenario_wait 30 "the rollout converged" converged
scenario_daemon_stop
scenario_watch_stop

step="exactly 5 restarts, one at a time, controller last"
brokers="kafka-0 kafka-1 kafka-2 kafka-3 kafka-4"
scenario_replaced_once $brokers || fail "a pod was not replaced exactly once"
order=$(scenario_deletion_order | tr '\n' ' ')
[ "$(scenario_deletion_order | wc -l)" -eq 5 ] || fail "expected 5 deletions, saw: $order"
last=$(scenario_deletion_order | tail -n 1)
[ "$last" = "$controller" ] || fail "the active controller $controller was not restarted last: $order"
expected_order=$(printf 'kafka-4\nkafka-3\nkafka-2\nkafka-1\nkafka-0\n' | grep -vx "$controller" | tr '\n' ' ')"$controller "
[ "$order" = "$expected_order" ] || fail "restart order $order, expected $expected_order"
down=$(scenario_max_unavailable 5)
[ "$down" -le 1 ] || fail "$down brokers were unavailable at once"
grep -q 'running step.*restart kafka-[0-4]: delete pod kafka/kafka-[0-4]' "$work/daemon.log" ||
	fail "no delete step logged"
echo "   restarts: $order(controller $controller)"

step="final state matches Git"
img=$(k get statefulset kafka -n kafka -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$img" = apache/kafka:3.7.1 ] || fail "StatefulSet image $img"
strategy=$(k get statefulset kafka -n kafka -o jsonpath='{.spec.updateStrategy.type}')
[ "$strategy" = OnDelete ] || fail "updateStrategy $strategy, expected OnDelete"
hash=$(k get statefulset kafka -n kafka -o jsonpath='{.spec.template.metadata.annotations.keelson\.dev/config-hash}')
[ -n "$hash" ] || fail "no keelson.dev/config-hash in the pod template"
urev=$(k get statefulset kafka -n kafka -o jsonpath='{.status.updateRevision}')
revs=$(k get pods -n kafka -o jsonpath='{.items[*].metadata.labels.controller-revision-hash}')
for r in $revs; do [ "$r" = "$urev" ] || fail "pod at revision $r, not $urev"; done
scenario_assert_no_violations

step="a ConfigMap change alone rolls the brokers"
scenario_watch_start kafka
sed -i 's/log.retention.hours=168/log.retention.hours=72/' "$repo/clusters/sim/kafka/configmap.yaml"
git_in commit -q -a -m "kafka: retention 72h"
scenario_daemon_start
hash_changed() {
	h=$(k get statefulset kafka -n kafka -o jsonpath='{.spec.template.metadata.annotations.keelson\.dev/config-hash}')
	[ -n "$h" ] && [ "$h" != "$hash" ]
}
scenario_wait 30 "the config hash changed" hash_changed
rolled_again() {
	u=$(k get statefulset kafka -n kafka -o jsonpath='{.status.updateRevision}')
	[ "$u" != "$urev" ] || return 1
	for r in $(k get pods -n kafka -o jsonpath='{.items[*].metadata.labels.controller-revision-hash}'); do
		[ "$r" = "$u" ] || return 1
	done
	all_ready 5
}
scenario_wait 100 "every pod restarted with the new configuration" rolled_again
scenario_daemon_stop
scenario_watch_stop
scenario_replaced_once $brokers || fail "config roll: a pod was not replaced exactly once"
down=$(scenario_max_unavailable 5)
[ "$down" -le 1 ] || fail "config roll: $down brokers were unavailable at once"
data=$(k get configmap kafka-config -n kafka -o jsonpath='{.data.server\.properties}')
case $data in *log.retention.hours=72*) ;; *) fail "ConfigMap not applied: $data" ;; esac
scenario_assert_no_violations
echo "PASS"
exit 0
