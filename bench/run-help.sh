#!/bin/sh
# bench/run is never run as a test (its figures are not timed tests); this
# only checks that it starts, documents its options and rejects bad ones.
srcdir=${top_srcdir:-.}
out=$(bash "$srcdir/bench/run" --help) || { echo "bench/run --help failed"; exit 1; }
for opt in --build-dir --no-build --quick --idle-seconds "BUILD_DIR=build bash scripts/setup"; do
	case "$out" in
	*"$opt"*) ;;
	*) echo "bench/run --help does not mention $opt"; exit 1 ;;
	esac
done
if bash "$srcdir/bench/run" --no-such-option >/dev/null 2>&1; then
	echo "bench/run accepted an unknown option"
	exit 1
fi
if bash "$srcdir/bench/run" --build-dir "${TMPDIR:-/tmp}/no-such-keelson-build-$$" >/dev/null 2>&1; then
	echo "bench/run accepted a missing build directory"
	exit 1
fi
# A sanitizer build is refused, with the way to make a plain one.
fake="${TMPDIR:-/tmp}/bench-run-help-$$"
mkdir -p "$fake" || exit 1
printf 'KEELSON_CFLAGS = -Wall -fsanitize=address,undefined\n' >"$fake/Makefile"
err=$(bash "$srcdir/bench/run" --build-dir "$fake" --no-build 2>&1)
rc=$?
rm -rf "$fake"
[ "$rc" = 2 ] || { echo "bench/run on a sanitizer build exited $rc, expected 2"; exit 1; }
case "$err" in
*"--enable-sanitizers"*"BUILD_DIR=build bash scripts/setup"*) ;;
*) echo "bench/run did not explain the sanitizer refusal: $err"; exit 1 ;;
esac
exit 0
