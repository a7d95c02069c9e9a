#!/bin/sh
# restartPolicy OnFailure with onFailureRetries 2 and onFailureRetryInterval
# 3 s on an application whose first three attempts fail (kubesim's Spark
# model, at clock factor 1 so keelson's and kubesim's clocks agree): keelson
# run, killed with SIGKILL at random moments, runs exactly three drivers,
# each retry spark-operator's linear delay after the previous submission
# (3 s x 1, then 3 s x 2, measured on the drivers' creationTimestamps),
# and ends FAILED with three attempts and the last failure recorded;
# never two drivers at once; kubesim's invariant log stays empty.
name=spark-retries
. "${top_srcdir:-.}/tests/spark/spark-lib.sh"

spark_start 1
step="three failing attempts under SIGKILLs"
spark_app 3.5.1 '{type: OnFailure, onFailureRetries: 2, onFailureRetryInterval: 3}' 1000 \
	'      kubesim.keelson.dev/spark-fail-first-attempts: "3"
      kubesim.keelson.dev/spark-fail-exit-code: "3"'
spark_commit "etl: fails three times"
spark_roll '[ "$(spark_state)" = FAILED ]' 100 3

step="exactly three drivers, attempts 1..3, linear delays"
sleep 2 # a fourth driver would come now
spark_stop_watch
spark_check_history
[ "$(wc -l <"$work/drivers.txt")" -eq 3 ] || fail "expected three drivers, got: $(cat "$work/drivers.txt")"
awk '{ print $2 }' "$work/drivers.txt" | tr '\n' ' ' | grep -qx "1 2 3 " || fail "attempt labels: $(cat "$work/drivers.txt")"
[ "$(awk '{ print $3 }' "$work/drivers.txt" | sort -u | wc -l)" -eq 1 ] || fail "the spec hash changed between attempts"
python3 - "$work/drivers.txt" <<'PY' || fail "retry delays wrong: $(cat "$work/drivers.txt")"
import sys, datetime
t = [datetime.datetime.strptime(l.split()[3], "%Y-%m-%dT%H:%M:%SZ") for l in open(sys.argv[1])]
gaps = [(t[i + 1] - t[i]).total_seconds() for i in range(len(t) - 1)]
print("   gaps between submissions (s):", gaps)
# Retry k is due 3 s x k after the previous submission (creationTimestamps
# have 1 s precision); it may come later by keelson's cycle, back-off and
# a restart after SIGKILL, never earlier.
for k, gap in enumerate(gaps, 1):
    if not (3 * k - 1 <= gap <= 3 * k + 7):
        print("retry", k, "came", gap, "s after the previous submission, expected", 3 * k)
        sys.exit(1)
PY
[ "$(spark_annotation keelson.dev/spark-execution-attempts)" = 3 ] || fail "execution attempts: $(spark_annotation keelson.dev/spark-execution-attempts)"
failure=$(spark_annotation keelson.dev/spark-last-failure)
case $failure in *"exit code 3"*) ;; *) fail "last failure: $failure" ;; esac
status=$(k get sparkapplication etl -n jobs -o jsonpath='{.status.applicationState.state}/{.status.executionAttempts}')
[ "$status" = FAILED/3 ] || fail "SparkApplication status '$status'"
grep -q "onFailureRetryInterval 3s x 1 submissions" "$work/daemon.log" || fail "no first retry delay logged"
grep -q "onFailureRetryInterval 3s x 2 submissions" "$work/daemon.log" || fail "no second retry delay logged"
# The wait steps (logged every cycle) report the last failure.
grep -q "retry jobs/etl in [0-9]*s: .*(last failure: driver pod etl-driver failed: exit code 3" "$work/daemon.log" ||
	fail "the retry waits do not report the last failure"
spark_check_violations
echo "PASS"
exit 0
