#!/bin/sh
# keelson plugins: listing, --describe, and the refusals as a person sees
# them (exit status and message on standard error).
set -u
builddir=${top_builddir:-.}
KEELSON=$builddir/keelson
libs=$builddir/plugins
[ -x "$KEELSON" ] || { echo "plugins-cli: $KEELSON not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/plugins-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() {
	echo "FAIL: $*"
	for f in out err; do [ -f "$work/$f" ] && { echo "--- $f"; cat "$work/$f"; }; done
	exit 1
}
# run WANT_EXIT ARGS...
run() {
	want=$1
	shift
	"$KEELSON" plugins "$@" >"$work/out" 2>"$work/err"
	got=$?
	[ "$got" = "$want" ] || fail "keelson plugins $* exited $got, expected $want"
}
has() { grep -qF -- "$2" "$work/$1" || fail "$1 lacks '$2'"; }
abs() { (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); }

run 0 --plugin-dir "$libs/example/.libs"
has out "generic"
has out "(built in)"
has out "restart-one-at-a-time    1.0"

run 0 --plugin-dir "$libs/example/.libs" --describe restart-one-at-a-time
has out "  readyTimeout (duration, default 5m)"
has out "  statefulSet (string, required)"

run 0 --describe generic
has out "Parameters: none"

run 1 --plugin-dir "$libs/example/.libs" --describe kafka
has err 'no plugin named "kafka"'

mkdir "$work/abi" "$work/dup"
ln -s "$(abs "$libs/testing/.libs/wrong_abi.so")" "$work/abi/wrong_abi.so"
run 1 --plugin-dir "$work/abi"
has err "keelson plugins: plugin $work/abi/wrong_abi.so is not binary compatible: it was built for plugin ABI 42, this keelson has ABI 1"

ln -s "$(abs "$libs/testing/.libs/twin_a.so")" "$work/dup/a.so"
ln -s "$(abs "$libs/testing/.libs/twin_b.so")" "$work/dup/b.so"
run 1 --plugin-dir "$work/dup"
has err "plugin $work/dup/b.so: a plugin named \"twin\" is already loaded from $work/dup/a.so"

run 1 --plugin-dir "$work/none"
has err "cannot read the plugin directory $work/none"

run 2 --bogus
has err 'unknown argument "--bogus"'
echo PASS
