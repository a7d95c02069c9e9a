#!/bin/sh
# The checks of tests/lib/scenario.sh on made-up input, without kubesim or
# keelson: each must pass on a good history and fail on a bad one, so the
# scenario tests that use them fail when what they check breaks.
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_name=scenario-selftest
work=$(mktemp -d "${TMPDIR:-/tmp}/scenario-selftest.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
failures=0
check() { # DESCRIPTION COMMAND...: COMMAND must succeed
	what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "NOT OK: $what"
		failures=$((failures + 1))
	fi
}
refused() { # COMMAND... must fail
	! "$@" >/dev/null 2>&1
}
# In a subshell, `fail` exits that subshell with 1 and prints FAIL [...].
fails_with() { # PATTERN COMMAND...: COMMAND calls fail with PATTERN
	fw_pattern=$1
	shift
	fw_out=$( ("$@") 2>&1)
	fw_rc=$?
	[ $fw_rc -eq 1 ] && printf '%s\n' "$fw_out" | grep -q "^FAIL \[scenario-selftest: .*\]: $fw_pattern" && return 0
	echo "  exit status $fw_rc, output: $fw_out"
	return 1
}

T0=2026-11-26T10:00:00Z
# A roll of 3 pods, one at a time: "name uid deletionTimestamp ready".
cat >"$work/watch.out" <<EOF
web-0 u0 True
web-1 u1 True
web-2 u2 True
web-2 u2 $T0 True
web-2 u2 $T0
web-2 u2b
web-2 u2b True
web-1 u1 $T0 True
web-1 u1b
web-1 u1b True
web-0 u0 $T0 True
web-0 u0b
web-0 u0b True
EOF
check "a one-at-a-time roll: each pod replaced once" scenario_replaced_once web-0 web-1 web-2
check "a one-at-a-time roll: at most 1 unavailable" [ "$(scenario_max_unavailable 3)" = 1 ]
check "deletion order highest first" [ "$(scenario_deletion_order | tr '\n' ' ')" = "web-2 web-1 web-0 " ]
check "a pod missing from the expectation is noticed" refused scenario_replaced_once web-0 web-1
check "an expected pod never seen is noticed" refused scenario_replaced_once web-0 web-1 web-2 web-3

# web-1 replaced twice, and two pods down at once.
cat >>"$work/watch.out" <<EOF
web-1 u1b $T0 True
web-0 u0b $T0 True
web-1 u1c
web-0 u0c
web-1 u1c True
web-0 u0c True
EOF
check "a pod replaced twice is noticed" refused scenario_replaced_once web-0 web-1 web-2
check "two unavailable at once is counted" [ "$(scenario_max_unavailable 3)" = 2 ]

before="web-0=a web-1=b web-2=c "
check "only the named pod replaced" sh -c ". '${top_srcdir:-.}/tests/lib/scenario.sh'; scenario_assert_only_replaced '$before' 'web-0=a web-1=b web-2=x ' web-2"
check "another pod touched fails" fails_with "web-1=b was touched" scenario_assert_only_replaced "$before" "web-0=a web-1=y web-2=x " web-2
check "nothing replaced fails" fails_with "0 pods were replaced, expected only web-2" scenario_assert_only_replaced "$before" "$before" web-2

check "a wait that succeeds at once" scenario_wait 1 "true" true
check "a wait times out and says for what" fails_with "timed out after 1s waiting for: the impossible" scenario_wait 1 "the impossible" false
# A keelson run that has exited: a pid already reaped. (Not a process
# killed here: killed between fork and exec, the child would run this
# shell's trap.)
true &
daemon=$!
wait "$daemon"
check "a wait notices that keelson run exited" fails_with "keelson run exited while waiting for: x" scenario_wait 5 "x" false
daemon=
echo 'time=... level=error msg="system blocked" cluster=sim system=web' >"$work/daemon.log"
env_block() { SCENARIO_FAIL_ON_BLOCK=1 "$@"; }
check "a wait with SCENARIO_FAIL_ON_BLOCK fails when the rollout blocks" \
	fails_with "the rollout blocked while waiting for: y" env_block scenario_wait 5 "y" false
env_block_ok() { SCENARIO_FAIL_ON_BLOCK=1 BLOCK_OK=1 "$@"; }
check "BLOCK_OK lets it wait on" fails_with "timed out after 1s waiting for: z" env_block_ok scenario_wait 1 "z" false

# fail quotes the logs it is told to.
echo "the last daemon line" >"$work/daemon.log"
check "fail prints the tail of daemon.log" sh -c "out=\$( (. '${top_srcdir:-.}/tests/lib/scenario.sh'; work='$work'; step=s; fail boom) ); \
	printf '%s\n' \"\$out\" | grep -q '^FAIL \[scenario: s\]: boom' && printf '%s\n' \"\$out\" | grep -q 'the last daemon line'"

# The invariant-log check fails closed: an unreadable log is a failure.
kubesim_curl() { printf '%s' "$fake_violations"; }
fake_violations='{"violations":[]}'
check "an empty invariant log passes" scenario_assert_no_violations
fake_violations='{"violations":[{"kind":"two-down"}]}'
check "a violation fails" fails_with "kubesim violations" scenario_assert_no_violations
fake_violations=''
check "no answer from kubesim fails" fails_with "kubesim violations" scenario_assert_no_violations

[ $failures -eq 0 ] || { echo "$failures check(s) of tests/lib/scenario.sh failed"; exit 1; }
echo "PASS"
