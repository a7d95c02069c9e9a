#!/bin/sh
# Spec changes of a running SparkApplication (native mode), with keelson
# run killed with SIGKILL at random moments; never two drivers at once,
# kubesim's invariant log stays empty.
# - onSpecChange waitForCompletion: the running attempt is left to finish
#   on its own, then the new spec is submitted.
# - onSpecChange resubmit: the running driver is killed exactly once,
#   keelson waits until it and its executors are gone, and resubmits
#   exactly once with the new spec (attempt counters reset). The review of
#   that commit (keelson plan --base --head) shows the kill and the
#   resubmission.
name=spark-spec-change
. "${top_srcdir:-.}/tests/spark/spark-lib.sh"

spark_start 10
# A killed driver takes 20 s (simulated; 2 s here) to go: resubmitting
# before it and its executors are gone would be seen.
STOP_DELAY_MS=20000
drivers_now() {
	k get pods -n jobs -l spark-role=driver \
		-o jsonpath='{range .items[*]}{.status.phase}/{.metadata.labels.keelson\.dev/spark-spec-hash}{" "}{end}'
}
running_new() { # the record's spec hash differs from $1 and its driver runs
	h=$(spark_annotation keelson.dev/spark-spec-hash)
	[ "$(spark_state)" = RUNNING ] && [ "$h" != "$1" ] && [ "$(drivers_now)" = "Running/$h " ]
}

step="waitForCompletion: submit an attempt that ends by itself"
sed -i 's/onSpecChange: resubmit/onSpecChange: waitForCompletion/' "$repo/clusters/sim/jobs/system.yaml"
# 200 s simulated, 20 s here.
spark_app 3.5.1 '{type: Never}' 200000
spark_commit "etl: submit, wait for completion on spec changes"
spark_roll '[ "$(spark_state)" = RUNNING ]' 60 1
first_hash=$(spark_annotation keelson.dev/spark-spec-hash)
first_uid=$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}')
[ -n "$first_hash" ] && [ -n "$first_uid" ] || fail "no running driver recorded"

step="waitForCompletion: a spec change waits for the running attempt"
spark_app 3.5.2 '{type: Never}' ""
spark_commit "etl: spark 3.5.2 (streaming)"
scenario_daemon_start
scenario_wait 20 "keelson to wait for the running attempt" grep -q "to finish before submitting spec" "$work/daemon.log"
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}/{.status.phase}')" = "$first_uid/Running" ] ||
	fail "the running driver was touched while keelson waits for it to finish"
scenario_daemon_stop -9
spark_roll "running_new $first_hash" 60 2
second_hash=$(spark_annotation keelson.dev/spark-spec-hash)
second_uid=$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}')
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.spec.containers[0].image}')" = apache/spark:3.5.2 ] ||
	fail "the second driver does not run the new spec"
spark_events
awk -v u="$first_uid" '$3 == u && $8 == "deleting" && $7 != "Succeeded"' "$work/events.txt" | grep -q . &&
	fail "the first driver was deleted before it finished (waitForCompletion)"
spark_check_violations

step="resubmit: spec change while running, one kill, one resubmission, under SIGKILLs"
sed -i 's/onSpecChange: waitForCompletion/onSpecChange: resubmit/' "$repo/clusters/sim/jobs/system.yaml"
spark_app 3.5.3 '{type: Never}' ""
spark_commit "etl: spark 3.5.3, resubmit on spec changes"
# What a reviewer sees for this commit (offline preview).
"$KEELSON" plan --repo "$repo" --base HEAD~1 --head HEAD --plugin-dir "$PLUGINS" >"$work/review.txt" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$work/review.txt"; fail "keelson plan --base --head exited $rc, expected 1"; }
for want in "invalidate jobs/etl: spec changed" "kill driver pod jobs/etl-driver" \
	"are gone before submitting" "submit jobs/etl: create driver pod etl-driver, attempt 1"; do
	grep -q "$want" "$work/review.txt" || { cat "$work/review.txt"; fail "the review lacks \"$want\""; }
done
spark_roll "running_new $second_hash" 100 4
third_hash=$(spark_annotation keelson.dev/spark-spec-hash)
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.spec.containers[0].image}')" = apache/spark:3.5.3 ] ||
	fail "the third driver does not run the new spec"
[ "$(spark_annotation keelson.dev/spark-execution-attempts)" = 1 ] ||
	fail "attempts not reset: $(spark_annotation keelson.dev/spark-execution-attempts)"
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.labels.keelson\.dev/spark-attempt}')" = 1 ] ||
	fail "the new driver is not attempt 1"
sleep 2 # anything more would come now
spark_stop_watch
spark_check_history
[ "$(wc -l <"$work/drivers.txt")" -eq 3 ] || fail "expected three drivers in all, got: $(cat "$work/drivers.txt")"
case $(sed -n 2p "$work/drivers.txt") in "$second_uid 1 $second_hash "*) ;; *) fail "second driver: $(sed -n 2p "$work/drivers.txt")" ;; esac
case $(sed -n 3p "$work/drivers.txt") in *" 1 $third_hash "*) ;; *) fail "third driver: $(sed -n 3p "$work/drivers.txt")" ;; esac
# The second driver was deleted while Running: one kill; the third never.
kills=$(awk -v u="$second_uid" '$3 == u && $8 == "deleting" && $7 == "Running"' "$work/events.txt" | head -n 1 | wc -l)
[ "$kills" -eq 1 ] || fail "the running driver was not killed"
# (A SIGKILL may come between a step and its log line: at most one.)
[ "$(grep -c 'plugin step ran.*kill the running driver pod jobs/etl-driver' "$work/daemon.log")" -le 1 ] ||
	fail "more than one kill step: $(grep 'kill the running driver' "$work/daemon.log")"
spark_check_violations
echo "PASS"
exit 0
