#!/bin/sh
# A spec change of a running SparkApplication (native mode): keelson run,
# killed with SIGKILL at random moments, kills the running driver exactly
# once, waits until it and its executors are gone, and resubmits exactly
# once with the new spec (attempt counters reset); never two drivers at
# once; kubesim's invariant log stays empty. Then onSpecChange:
# waitForCompletion lets the running attempt finish before the new spec
# is submitted.
name=spark-spec-change
. "${top_srcdir:-.}/tests/spark/spark-lib.sh"

spark_start 10
# A killed driver takes 20 s (simulated; 2 s here) to go: resubmitting
# before it and its executors are gone would be seen.
STOP_DELAY_MS=20000
running_hash() {
	k get pods -n jobs -l spark-role=driver \
		-o jsonpath='{range .items[*]}{.status.phase}/{.metadata.labels.keelson\.dev/spark-spec-hash}{" "}{end}'
}

step="submit a streaming application (runs until killed)"
spark_app 3.5.1 '{type: Never}' ""
spark_commit "etl: submit"
spark_roll '[ "$(spark_state)" = RUNNING ] && [ "$(k get pods -n jobs -l spark-role=executor -o name | wc -l)" -eq 2 ]' 60 1
old_hash=$(spark_annotation keelson.dev/spark-spec-hash)
old_uid=$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}')
[ -n "$old_hash" ] && [ -n "$old_uid" ] || fail "no running driver recorded"

step="spec change while running: one kill, one resubmission, under SIGKILLs"
# This one ends by itself after 250 s simulated (25 s here), for the
# waitForCompletion step below.
spark_app 3.5.2 '{type: Never}' 250000
spark_commit "etl: spark 3.5.2"
new_running='[ "$(spark_state)" = RUNNING ] && [ "$(spark_annotation keelson.dev/spark-spec-hash)" != "$old_hash" ] && [ "$(running_hash)" = "Running/$(spark_annotation keelson.dev/spark-spec-hash) " ]'
spark_roll "$new_running" 100 4
new_hash=$(spark_annotation keelson.dev/spark-spec-hash)
image=$(k get pod etl-driver -n jobs -o jsonpath='{.spec.containers[0].image}')
[ "$image" = apache/spark:3.5.2 ] || fail "the new driver runs $image"
[ "$(spark_annotation keelson.dev/spark-execution-attempts)" = 1 ] || fail "attempts not reset: $(spark_annotation keelson.dev/spark-execution-attempts)"
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.labels.keelson\.dev/spark-attempt}')" = 1 ] ||
	fail "the new driver is not attempt 1"
sleep 2 # anything more would come now
spark_check_history
[ "$(wc -l <"$work/drivers.txt")" -eq 2 ] || fail "expected two drivers in all, got: $(cat "$work/drivers.txt")"
first=$(sed -n 1p "$work/drivers.txt")
second=$(sed -n 2p "$work/drivers.txt")
case $first in "$old_uid 1 $old_hash "*) ;; *) fail "first driver: $first" ;; esac
case $second in *" 1 $new_hash "*) ;; *) fail "second driver: $second" ;; esac
# The old driver was deleted while Running: one kill.
kills=$(awk -v u="$old_uid" '$3 == u && $8 == "deleting" && $7 == "Running"' "$work/events.txt" | head -n 1 | wc -l)
[ "$kills" -eq 1 ] || fail "the running driver was not killed"
grep -c "kill the running driver pod jobs/etl-driver" "$work/daemon.log" >/dev/null || fail "no kill step logged"
spark_check_violations

step="onSpecChange waitForCompletion: the running attempt finishes first"
sed -i 's/onSpecChange: resubmit/onSpecChange: waitForCompletion/' "$repo/clusters/sim/jobs/system.yaml"
spark_app 3.5.3 '{type: Never}' 5000
spark_commit "etl: spark 3.5.3, wait for completion"
cur_uid=$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}')
start_daemon
i=0
until grep -q "to finish before submitting spec" "$work/daemon.log"; do
	i=$((i + 1))
	[ $i -le 150 ] || fail "keelson did not wait for the running attempt"
	sleep 0.2
done
sleep 1
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}/{.status.phase}')" = "$cur_uid/Running" ] ||
	fail "the running driver was touched while waiting for it to finish"
stop_daemon
spark_roll '[ "$(k get pod etl-driver -n jobs -o jsonpath={.spec.containers[0].image})" = apache/spark:3.5.3 ] && [ "$(spark_state)" = COMPLETED ]' 100 1
spark_stop_watch
spark_check_history
[ "$(wc -l <"$work/drivers.txt")" -eq 3 ] || fail "expected three drivers in all, got: $(cat "$work/drivers.txt")"
running_kills=$(awk -v u="$cur_uid" '$3 == u && $8 == "deleting" && $7 == "Running"' "$work/events.txt" | wc -l)
[ "$running_kills" -eq 0 ] || fail "the second driver was killed while running under waitForCompletion"
spark_check_violations
echo "PASS"
exit 0
