#!/bin/sh
# restartPolicy Always (native mode): the first attempt fails and is retried
# after its delay, every attempt that succeeds is rerun at once; keelson
# run, killed with SIGKILL at random moments, reruns the application again
# and again with attempt numbers counting up, never two drivers at once,
# and kubesim's invariant log stays empty (no rerun without a reason, none
# too early).
name=spark-always
. "${top_srcdir:-.}/tests/spark/spark-lib.sh"

spark_start 10
step="reruns under SIGKILLs"
spark_app 3.5.1 '{type: Always, onFailureRetryInterval: 1}' 3000 \
	'      kubesim.keelson.dev/spark-fail-first-attempts: "1"'
spark_commit "etl: always"
spark_roll '[ "$(spark_annotation keelson.dev/spark-execution-attempts)" -ge 4 ] 2>/dev/null' 100 3

step="attempts counted up, one driver at a time"
spark_stop_watch
spark_check_history
n=$(wc -l <"$work/drivers.txt")
[ "$n" -ge 4 ] || fail "expected at least four drivers, got: $(cat "$work/drivers.txt")"
awk '{ if ($2 != NR) { print "driver", NR, "has attempt", $2; exit 1 } }' "$work/drivers.txt" ||
	fail "attempt labels: $(cat "$work/drivers.txt")"
# The first attempt failed, the later ones succeeded: reruns for both reasons.
python3 - "$work/events.txt" <<'PY' || fail "outcomes: $(cat "$work/drivers.txt")"
import sys
final = {}
for line in open(sys.argv[1]):
    t, name, uid, role, attempt, h, phase, deleting, created = line.split()
    if role == "driver" and phase in ("Succeeded", "Failed"):
        final[int(attempt)] = phase
print("   outcomes by attempt:", dict(sorted(final.items())))
ok = final.get(1) == "Failed" and final.get(2) == "Succeeded" and final.get(3) == "Succeeded"
sys.exit(0 if ok else 1)
PY
spark_check_violations
echo "PASS"
exit 0
