#!/usr/bin/env bash
# `make fuzz`: runs each libFuzzer target for a set time and prints, per
# target, the executions and the crashes found.
#   run-fuzzers.sh SRCDIR BUILDDIR SECONDS TARGET...
# Each target starts from its committed seeds (tests/fuzz/corpus/NAME,
# read-only) plus a growing work corpus in BUILDDIR/tests/fuzz/work/NAME
# (kept between runs, never committed). Crash inputs land in
# BUILDDIR/tests/fuzz/artifacts/NAME/; to keep one as a regression test,
# copy it to tests/fuzz/crashes/NAME/ and fix the bug (see README.md).
# Exit status 1 when any target crashed.
set -uo pipefail
src=$1 build=$2 seconds=$3
shift 3
[ "$#" -gt 0 ] || { echo "run-fuzzers.sh: no targets" >&2; exit 2; }
failed=0
rows=()
for t in "$@"; do
  bin="$build/tests/fuzz/fuzz-$t"
  [ -x "$bin" ] || { echo "run-fuzzers.sh: $bin not built" >&2; exit 2; }
  work="$build/tests/fuzz/work/$t"
  art="$build/tests/fuzz/artifacts/$t"
  log="$build/tests/fuzz/fuzz-$t.log"
  mkdir -p "$work" "$art"
  before=$(find "$art" -type f | wc -l)
  stamp="$build/tests/fuzz/.stamp-$t"
  touch "$stamp"
  echo "fuzz: $t for ${seconds}s (log: $log)"
  # -timeout: one input taking 10 s is a hang worth reporting;
  # -rss_limit_mb: the default 2 GiB, explicit; -max_len large enough for
  # the layout seeds (whole repositories).
  # A target's dictionary (tests/fuzz/NAME.dict: the words its input
  # format decides on), when it has one.
  dict=()
  [ -f "$src/tests/fuzz/$t.dict" ] && dict=(-dict="$src/tests/fuzz/$t.dict")
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 "${dict[@]}" \
    -print_final_stats=1 -artifact_prefix="$art/" "$work" "$src/tests/fuzz/corpus/$t" \
    > "$log" 2>&1
  status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  after=$(find "$art" -type f | wc -l)
  new=$((after - before))
  corpus=$(find "$work" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$new" -gt 0 ]; then
    failed=1
    echo "fuzz: $t FAILED (exit $status); new artifacts:" >&2
    find "$art" -type f -newer "$stamp" | sed 's/^/  /' >&2
    tail -n 30 "$log" >&2
  fi
  rows+=("$(printf '%-16s %12s %8s %8s' "$t" "${execs:-?}" "$new" "$corpus")")
done
printf '\n%-16s %12s %8s %8s\n' target executions crashes corpus
printf '%s\n' "${rows[@]}"
exit "$failed"
