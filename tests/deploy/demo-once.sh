#!/bin/sh
# The README's main command, non-interactively: scripts/demo --once against
# this build (KEELSON_DEMO_BUILD) must bring the example up in kubesim,
# roll a Kafka image bump out one broker at a time through the plugins,
# commit the status and leave kubesim's invariant log empty (exit 0), and
# must leave no process behind. Needs $KUBECTL (skipped with 77 when
# empty), bash and git.
set -u
if [ -z "${KUBECTL:-}" ]; then
	echo "demo-once: KUBECTL is empty, skipping"
	exit 77
fi
for tool in bash git; do
	command -v $tool >/dev/null 2>&1 || { echo "demo-once: no $tool, skipping"; exit 77; }
done
srcdir=${top_srcdir:-.}
builddir=$(cd "${top_builddir:-.}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/demo-once.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

KEELSON_DEMO_BUILD=$builddir KEELSON_DEMO_DIR=$work/demo KEELSON_DEMO_TIMEOUT=300 CI=true KUBECTL=$KUBECTL \
	bash "$srcdir/scripts/demo" --once </dev/null >"$work/out" 2>&1
rc=$?
fail() {
	echo "FAIL: $*"
	tail -n 60 "$work/out"
	[ -f "$work/demo/keelson.log" ] && { echo "--- keelson.log (last 30 lines)"; tail -n 30 "$work/demo/keelson.log"; }
	exit 1
}
[ $rc -eq 0 ] || fail "scripts/demo --once exited $rc"
grep -q 'the rollout converged, status was committed, no violation' "$work/out" || fail "no success line"
grep -q '"violations":\[\]' "$work/out" || fail "the invariant log was not shown empty"
for b in 2 1 0; do
	grep -q "plugin step ran .*kafka-$b" "$work/out" || fail "the daemon's log shows no restart of kafka-$b"
done
# The commit was rolled out after the plan was shown, and the status
# branch has the bump.
grep -q 'status branch' "$work/out" || fail "no pointer to the status branch"
# Nothing of the demo may outlive it.
sleep 1
if pgrep -f "$work/demo" >/dev/null 2>&1; then
	pgrep -af "$work/demo"
	fail "processes of the demo are still running"
fi
echo "demo-once: ok"
