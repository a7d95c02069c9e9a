#!/bin/sh
# Scenario 2: the image bump of scenario 1 with keelson killed by SIGKILL
# at 20 random moments of the rollout and started again each time: the
# roll completes, no broker is restarted twice (each pod has exactly two
# incarnations), never two are down at once, and kubesim's invariant log
# stays empty.
. "${top_srcdir:-.}/tests/kafka/kafka-lib.sh"

kafka_setup kafka-sigkill
kafka_deploy

step="image bump, keelson killed with SIGKILL 20 times"
scenario_watch_start kafka
sed -i 's|apache/kafka:3.7.0|apache/kafka:3.7.1|' "$sts"
# Catching up takes 150 simulated seconds (7.5 s real): the roll lasts
# at least 40 s, long enough for 20 kills landing in every phase of a
# restart even on a loaded machine.
sed -i 's|kafka-catchup-ms: "5000"|kafka-catchup-ms: "150000"|' "$sts"
git_in commit -q -a -m "kafka 3.7.1"
images_done() { [ "$(all_images)" = "apache/kafka:3.7.1:5 " ] && all_ready 5; }
kills=0
n=0
seed=${KAFKA_SIGKILL_SEED:-$$}
echo "   random seed $seed (KAFKA_SIGKILL_SEED to repeat)"
while [ $kills -lt 20 ]; do
	n=$((n + 1))
	[ $n -le 60 ] || fail "60 daemon runs without reaching 20 kills"
	started=$(grep -c 'msg="keelson started"' "$work/daemon.log")
	scenario_daemon_start
	# Counted from the daemon's start-up, 0.1 .. 1.2 s: from its first
	# reads to the middle of a step.
	i=0
	while [ "$(grep -c 'msg="keelson started"' "$work/daemon.log")" -le "$started" ] && [ $i -lt 100 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	delay=$(awk -v s="$seed$n" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * 1.1 }')
	sleep "$delay"
	if images_done && converged; then
		break
	fi
	scenario_daemon_stop -9
	kills=$((kills + 1))
done
echo "   $kills SIGKILLs"
[ $kills -ge 20 ] || echo "   (the roll finished before the 20th kill)"
[ -n "$daemon" ] || scenario_daemon_start
scenario_wait 110 "all 5 pods run 3.7.1 and are Ready after $kills SIGKILLs" images_done
scenario_wait 30 "the rollout converged" converged
scenario_daemon_stop
scenario_watch_stop

step="no broker restarted twice, one at a time"
brokers="kafka-0 kafka-1 kafka-2 kafka-3 kafka-4"
scenario_replaced_once $brokers || fail "a pod was not replaced exactly once"
down=$(scenario_max_unavailable 5)
[ "$down" -le 1 ] || fail "$down brokers were unavailable at once"
[ $kills -ge 20 ] || fail "only $kills SIGKILLs happened during the roll; restarts were not exercised"
scenario_assert_no_violations
echo "PASS"
exit 0
