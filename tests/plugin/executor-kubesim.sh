#!/bin/sh
# The executor against kubesim: the example plugin rolls a 3-replica
# OnDelete StatefulSet one pod at a time after an image bump, while the
# driver (a keelson restarted from scratch each time) is killed with SIGKILL
# at random moments. A kubectl watch records every pod version: each pod
# must be replaced exactly once and never two pods be unavailable at once.
# Then a pod that never becomes Ready: the rollout waits, then is blocked
# and alerted, and no further pod is touched.
# Needs $KUBECTL (skipped with 77 when empty) and $top_builddir.
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "executor-kubesim: KUBECTL is empty, skipping"
	exit 77
fi
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KUBESIM=$builddir/kubesim
DRIVER=$builddir/tests/plugin/exec_driver
PLUGINS=$builddir/plugins/example/.libs
[ -x "$KUBESIM" ] || { echo "executor-kubesim: $KUBESIM not built"; exit 1; }
[ -x "$DRIVER" ] || { echo "executor-kubesim: $DRIVER not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/executor-kubesim.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
watch_pid=
driver_pid=
cleanup() {
	for p in $driver_pid $watch_pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*"
	for f in driver.out watch.out kubesim.err; do
		[ -f "$work/$f" ] && { echo "--- $f (last 40 lines)"; tail -40 "$work/$f"; }
	done
	exit 1
}

kubesim_start "$work" --log-level error || fail "kubesim did not start"

cp -R "$srcdir/tests/plugin/repo" "$work/repo"
chmod -R u+w "$work/repo"
sts="$work/repo/clusters/sim/web/statefulset.yaml"

# drive REVISION MAX_SECONDS: run the driver to the end; its exit status.
drive() {
	"$DRIVER" "$work/repo" "$KUBECONFIG" "$PLUGINS" default "$1" "$2" >>"$work/driver.out" 2>&1
}

echo "== initial rollout"
drive r1 60 || fail "initial rollout did not converge"

"$KUBECTL" get pods -n web -w \
	-o jsonpath='{.metadata.name} {.metadata.uid} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
	>"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
sleep 1

echo "== image bump, driver killed with SIGKILL at random moments"
sed -i 's/nginx:1.27/nginx:1.28/' "$sts"

# What keelson plan shows a reviewer first: the whole ordered roll.
KEELSON=$builddir/keelson
"$KEELSON" plan --repo "$work/repo" --kubeconfig "$KUBECONFIG" --plugin-dir "$PLUGINS" >"$work/plan.out" 2>&1
rc=$?
[ $rc -eq 1 ] || { cat "$work/plan.out"; fail "keelson plan exited $rc, expected 1 (steps remain)"; }
cat >"$work/plan.expected" <<'END'
cluster sim, system web (plugin restart-one-at-a-time):
  1. [apply] apply StatefulSet web/web (drifted)
  2. [delete-pod] delete pod web/web-2 (out of date; grace 0s)
       gate: all 3 pods of web Ready (now 3)
  3. [wait] wait until all 3 pods of web Ready (now 3) before restarting web-1
       gate: all 3 pods of web Ready (now 3)
       timeout: 120s
  4. [delete-pod] delete pod web/web-1 (out of date; grace 0s)
       gate: all 3 pods of web Ready (now 3)
  5. [wait] wait until all 3 pods of web Ready (now 3) before restarting web-0
       gate: all 3 pods of web Ready (now 3)
       timeout: 120s
  6. [delete-pod] delete pod web/web-0 (out of date; grace 0s)
       gate: all 3 pods of web Ready (now 3)
END
diff -u "$work/plan.expected" "$work/plan.out" || fail "keelson plan printed something else"
kills=0
done_=0
n=0
while [ $n -lt 60 ]; do
	n=$((n + 1))
	# Every other run reads through a watch cache, as the daemon does.
	EXEC_DRIVER_CACHE=$((n % 2)) "$DRIVER" "$work/repo" "$KUBECONFIG" "$PLUGINS" default r2 60 \
		>>"$work/driver.out" 2>&1 &
	driver_pid=$!
	# 0.1 .. 0.9 s
	delay=$(awk -v s="$n$$" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * 0.8 }')
	sleep "$delay"
	# After 30 kills (a slow machine where runs rarely get far), let it finish.
	if [ $kills -lt 30 ] && kill -0 "$driver_pid" 2>/dev/null; then
		kill -9 "$driver_pid" 2>/dev/null
		wait "$driver_pid" 2>/dev/null
		kills=$((kills + 1))
		driver_pid=
	else
		wait "$driver_pid"
		rc=$?
		driver_pid=
		[ $rc -eq 0 ] || fail "driver exited $rc"
		done_=1
		break
	fi
done
[ $done_ -eq 1 ] || fail "rollout did not finish after $n runs"
echo "   finished after $kills SIGKILLs"
[ $kills -ge 5 ] || fail "only $kills SIGKILLs happened; the test did not exercise restarts"
sleep 1
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
watch_pid=

# Every pod: exactly two incarnations (the old and its one replacement).
awk 'NF >= 2 { seen[$1 " " $2] = 1 }
     END { for (k in seen) { split(k, a, " "); n[a[1]]++ }
           for (p in n) print p, n[p] }' "$work/watch.out" | sort >"$work/incarnations"
cat >"$work/expected" <<END
web-0 2
web-1 2
web-2 2
END
cmp -s "$work/incarnations" "$work/expected" ||
	{ cat "$work/incarnations"; fail "a pod was not replaced exactly once"; }

# Never more than one pod unavailable: replay the watch.
max=$(awk '
	NF >= 2 {
		name = $1; uid = $2; ready = 0; term = 0
		for (i = 3; i <= NF; i++) { if ($i == "True") ready = 1; else if ($i ~ /T.*Z$/) term = 1 }
		ok[name] = ready && !term
		up = 0; for (p in ok) up += ok[p]
		if (seen_all || length(ok) == 3) { seen_all = 1; down = 3 - up; if (down > max) max = down }
	}
	END { print max + 0 }' "$work/watch.out")
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"

images=$("$KUBECTL" get pods -n web -o jsonpath='{.items[*].spec.containers[0].image}')
[ "$images" = "nginx:1.28 nginx:1.28 nginx:1.28" ] || fail "pods run '$images'"

echo "== a pod that never becomes Ready: wait, then blocked, nothing else touched"
# The next template makes new pods fail readiness (kubesim annotation).
sed -i 's/nginx:1.28/nginx:1.29/' "$sts"
python3 - "$sts" <<'PY' || fail "cannot edit $sts"
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("      labels:\n        app: web\n    spec:",
              "      labels:\n        app: web\n      annotations:\n        kubesim.keelson.dev/ready: \"false\"\n    spec:", 1)
open(p, "w").write(s)
PY
sed -i 's/readyTimeout: 2m/readyTimeout: 3s/' "$work/repo/clusters/sim/web/system.yaml"
before=$("$KUBECTL" get pods -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}')
# Through the watch cache: the same gates must hold on cached reads.
EXEC_DRIVER_CACHE=1 drive r3 60
rc=$?
[ $rc -eq 3 ] || fail "driver exited $rc, expected 3 (blocked)"
grep -q "^ALERT	sim/web	timed out after 3s: wait until all 3 pods of web Ready (now 2) before restarting web-1" \
	"$work/driver.out" || fail "no alert for the blocked rollout"
after=$("$KUBECTL" get pods -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}')
# Only web-2 was replaced.
changed=0
for pair in $before; do
	case " $after " in
	*" $pair "*) ;;
	*) changed=$((changed + 1)); case $pair in web-2=*) ;; *) fail "$pair was touched";; esac ;;
	esac
done
[ $changed -eq 1 ] || fail "$changed pods were replaced, expected 1"
# Blocked survives a restart: the next run reports blocked without acting.
drive r3 10
[ $? -eq 3 ] || fail "a restarted driver did not stay blocked"
tail -1 "$work/driver.out" | grep -q "^blocked	web	timed out" || fail "restart did not report blocked"

echo "== DELETE steps: UID precondition, propagation, 404 done"
# del UID PROPAGATION: one executor cycle deleting StatefulSet web/web.
del() {
	"$DRIVER" --delete "$KUBECONFIG" apps/v1 StatefulSet web web "$1" "$2" 2>>"$work/driver.out"
}
sts_uid=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.metadata.uid}')
[ -n "$sts_uid" ] || fail "StatefulSet web has no uid"
pods_before=$("$KUBECTL" get pods -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}')
# A stale plan (another UID): the server refuses (409), nothing is deleted,
# the cycle ends so the next one re-plans.
out=$(del 00000000-0000-0000-0000-000000000000 Orphan)
[ "$(printf '%s' "$out" | cut -f1-3)" = "ran	delete	apps/v1 StatefulSet web/web" ] ||
	fail "stale delete: '$out'"
[ "$("$KUBECTL" get statefulset web -n web -o jsonpath='{.metadata.uid}')" = "$sts_uid" ] ||
	fail "a delete with a stale UID precondition deleted StatefulSet web"
# The live UID, propagation Orphan: the StatefulSet goes, its pods stay.
out=$(del live Orphan)
[ "$out" = "ran	delete	apps/v1 StatefulSet web/web	delete StatefulSet web/web" ] || fail "orphan delete: '$out'"
n=0
while "$KUBECTL" get statefulset web -n web -o name >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 100 ] || fail "StatefulSet web still exists after the orphaning delete"
	sleep 0.1
done
pods_after=$("$KUBECTL" get pods -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}')
[ "$pods_after" = "$pods_before" ] || fail "orphaning delete touched pods: '$pods_before' -> '$pods_after'"
owners=$("$KUBECTL" get pods -n web -o jsonpath='{range .items[*]}{.metadata.ownerReferences[*].name}{end}')
[ -z "$owners" ] || fail "orphaned pods still name an owner: $owners"
# Gone: the plugin plans nothing (converged); a delete planned anyway (a
# cache that has not seen the delete yet) gets 404, which counts as done.
out=$(del live Orphan)
[ "$(printf '%s' "$out" | cut -f1)" = converged ] || fail "after the delete: '$out'"
out=$(del "$sts_uid" Background)
[ "$out" = "ran	delete	apps/v1 StatefulSet web/web	delete StatefulSet web/web" ] || fail "delete of a gone object: '$out'"
out=$("$DRIVER" --delete "$KUBECONFIG" v1 Pod web web-0 live Background 2>>"$work/driver.out")
[ "$(printf '%s' "$out" | cut -f1-3)" = "ran	delete	v1 Pod web/web-0" ] || fail "pod delete: '$out'"
echo "PASS"
exit 0
