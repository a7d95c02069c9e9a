#!/bin/sh
# `make soak`: soak.sh for every seed, then the totals it survived.
#   soak-loop.sh --seeds "1 2 3" [--sequences K] [--steps M] [--clock-factor F]
# Exit 1 when any seed failed (each failure printed its replay command).
set -u
seeds= sequences=4 steps=6 clock=40
while [ $# -gt 0 ]; do
	case $1 in
	--seeds) seeds=$2 ;;
	--sequences) sequences=$2 ;;
	--steps) steps=$2 ;;
	--clock-factor) clock=$2 ;;
	*) echo "usage: $0 --seeds \"N ...\" [--sequences K] [--steps M] [--clock-factor F]" >&2; exit 2 ;;
	esac
	shift 2
done
[ -n "$seeds" ] || { echo "soak-loop: no seeds" >&2; exit 2; }
here=$(dirname "$0")
out=$(mktemp "${TMPDIR:-/tmp}/soak-loop.XXXXXX")
trap 'rm -f "$out"' EXIT
failed=
for seed in $seeds; do
	echo "=== soak seed $seed"
	bash "$here/soak.sh" --seed "$seed" --sequences "$sequences" --steps "$steps" --clock-factor "$clock" | tee -a "$out"
	rc=$(tail -n 1 "$out" | grep -c '^SOAK-STATS') # a crash of the runner itself leaves no stats line
	grep -q "^PASS soak seed $seed:" "$out" || failed="$failed $seed"
	[ "$rc" = 1 ] || echo "SOAK-STATS seed=$seed sequences=0 commits=0 bad=0 faults=0 errors=0 throttles=0 conflicts=0 dropped_watches=0 conflict_storms=0 stepdowns=0 git_restarts=0 kills=0" >>"$out"
done
grep '^SOAK-STATS' "$out" | awk -v failed="$failed" '
	{ for (i = 3; i <= NF; i++) { split($i, kv, "="); sum[kv[1]] += kv[2] } runs++ }
	END {
		printf "soak: %d seeds; survived %d sequences, %d commits (%d bad%s), %d fault periods (injected: %d 500s, %d 429s, %d 409 conflicts, %d dropped watches), %d conflict storms (%d leader step-downs), %d git restarts, %d SIGKILLs\n",
			runs, sum["sequences"], sum["commits"], sum["bad"], failed == "" ? ", all refused" : "",
			sum["faults"], sum["errors"], sum["throttles"], sum["conflicts"], sum["dropped_watches"],
			sum["conflict_storms"], sum["stepdowns"], sum["git_restarts"], sum["kills"]
		if (failed != "") printf "soak: FAILED seeds:%s (replay commands above)\n", failed
	}'
[ -z "$failed" ]
