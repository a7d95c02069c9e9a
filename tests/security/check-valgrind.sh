#!/usr/bin/env bash
# `make check-valgrind`: the Check suites and the keelson CLI and daemon
# scenario tests under valgrind memcheck, in a build without sanitizers.
#   check-valgrind.sh SRCDIR BUILDDIR KUBECTL KEELSON_CFLAGS -- SUITE... -- SCRIPT...
# Check suites run as `make check` runs them, one forked child per test
# (valgrind follows the fork and checks each child at its exit; CK_FORK=no
# would report what a test leaves in a static for the next one). Scenario scripts
# run with top_builddir pointing at a shim directory whose `keelson` runs
# the real one under valgrind (kubesim and the other helpers run as they
# are: they are test tools). A test fails when it fails or when valgrind
# reports an error or a definite or indirect leak in any process, or leaves
# a keelson running; every valgrind log is kept under
# BUILDDIR/tests/security/valgrind/.
set -uo pipefail
src=$1 build=$2 kubectl=$3 cflags=$4
shift 4
case " $cflags " in *-fsanitize=*)
  echo "check-valgrind: this build uses sanitizers; valgrind needs a plain build:" >&2
  echo "  mkdir build-valgrind && cd build-valgrind && ../configure && make check-valgrind" >&2
  exit 2 ;;
esac
command -v valgrind > /dev/null 2>&1 || { echo "check-valgrind: valgrind not installed (scripts/install-deps)" >&2; exit 2; }
[ "${1:-}" = "--" ] && shift
# Of the check programs: keelson's Check suites and the fuzz replay
# programs (kubesim's own suites test the simulator, not keelson).
suites=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
  tests/kubesim/*|tests/alerts/test_alertmanager) ;;
  */test_*|tests/fuzz/replay-*) suites+=("$1") ;;
  esac
  shift
done
[ "${1:-}" = "--" ] && shift
scripts=("$@")
# VALGRIND_ONLY: a subset, by path.
if [ -n "${VALGRIND_ONLY:-}" ]; then
  keep() { case " $VALGRIND_ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
  s2=() c2=()
  for t in "${suites[@]}"; do keep "$t" && s2+=("$t"); done
  for t in "${scripts[@]}"; do keep "$t" && c2+=("$t"); done
  suites=("${s2[@]}") scripts=("${c2[@]}")
fi

logs="$build/tests/security/valgrind"
rm -rf "$logs"
mkdir -p "$logs"
supp="$src/tests/security/valgrind.supp"
vg=(valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --error-exitcode=99 --track-fds=no --num-callers=30 --suppressions="$supp")
timeout_s=${VALGRIND_TIMEOUT:-1800}
# Check's own timeouts (tcase_set_timeout) are set for
# native speed; memcheck runs code 10-50 times slower.
ck_multiplier=${VALGRIND_CK_TIMEOUT_MULTIPLIER:-20}
# Tests whose own time bounds (a client's request timeout, "done within N
# ms") assume native speed scale them by KEELSON_TEST_TIME_FACTOR.
export KEELSON_TEST_TIME_FACTOR=${KEELSON_TEST_TIME_FACTOR:-10}

# The shim: everything of the build directory, but keelson under valgrind.
shim="$build/tests/security/valgrind-shim"
rm -rf "$shim"
mkdir -p "$shim"
for entry in "$build"/* "$build"/.libs; do
  [ -e "$entry" ] || continue
  name=$(basename "$entry")
  [ "$name" = keelson ] && continue
  ln -s "$entry" "$shim/$name"
done
cat > "$shim/keelson" <<EOF
#!/bin/sh
exec valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \\
  --show-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 \\
  --suppressions="$supp" --log-file="\$VALGRIND_LOG_DIR/keelson.%p.log" "$build/keelson" "\$@"
EOF
chmod +x "$shim/keelson"

# A log with anything but empty lines is a report (--quiet prints nothing
# for a clean process).
reports_in() { # DIR -> number of logs with a report
  local n=0 f
  for f in "$1"/*.log; do
    [ -e "$f" ] || continue
    grep -q '[^[:space:]]' "$f" && n=$((n + 1))
  done
  echo "$n"
}

# A keelson a script started in the background and did not stop is still
# writing its log (valgrind writes the leak report at exit) and would run
# on into the next test: wait for it a while, then stop it and fail the
# test. The processes are found by the log directory in their command line,
# which only the shim's valgrind has.
stray_keelsons() { # DIR -> pids
  pgrep -f -- "--log-file=$1/keelson\." 2> /dev/null
}
reap_strays() { # DIR -> 0 when none was left running
  local i pids
  for i in $(seq 1 "${VALGRIND_STRAY_WAIT:-60}"); do
    pids=$(stray_keelsons "$1")
    [ -z "$pids" ] && return 0
    sleep 1
  done
  echo "check-valgrind: keelson still running after the test ended: $pids" >> "$1/output"
  kill -TERM $pids 2> /dev/null
  for i in $(seq 1 60); do
    [ -z "$(stray_keelsons "$1")" ] && return 1
    sleep 1
  done
  kill -KILL $(stray_keelsons "$1") 2> /dev/null
  return 1
}

pass=0 fail=0 skip=0
rows=()
run_one() { # KIND NAME DIR STATUS
  local kind=$1 name=$2 dir=$3 status=$4 reports result
  reports=$(reports_in "$dir")
  if [ "$status" -eq 77 ]; then result=SKIP; skip=$((skip + 1))
  elif [ "$status" -eq 0 ] && [ "$reports" -eq 0 ]; then result=PASS; pass=$((pass + 1))
  else result=FAIL; fail=$((fail + 1)); fi
  rows+=("$(printf '%-5s %-6s %-48s exit %-4s valgrind reports %s' "$result" "$kind" "$name" "$status" "$reports")")
  echo "${rows[-1]}"
  if [ "$reports" -gt 0 ]; then
    local f
    for f in "$dir"/*.log; do
      grep -q '[^[:space:]]' "$f" && echo "      $f"
    done
  fi
  return 0
}

export top_srcdir="$src" KUBECTL="$kubectl"
for t in "${suites[@]}"; do
  dir="$logs/$(echo "$t" | tr / _)"
  mkdir -p "$dir"
  ( cd "$build" && CK_DEFAULT_TIMEOUT=$timeout_s CK_TIMEOUT_MULTIPLIER=$ck_multiplier top_builddir="$build" \
      timeout "$timeout_s" "${vg[@]}" --log-file="$dir/suite.%p.log" "./$t" ) > "$dir/output" 2>&1
  run_one suite "$t" "$dir" $?
done
for t in "${scripts[@]}"; do
  dir="$logs/$(echo "$t" | tr / _)"
  mkdir -p "$dir"
  ( cd "$build" || exit 1
    export VALGRIND_LOG_DIR="$dir" top_builddir="$shim"
    if [ -x "$src/$t" ]; then timeout "$timeout_s" "$src/$t"; else timeout "$timeout_s" sh "$src/$t"; fi
  ) > "$dir/output" 2>&1
  status=$?
  if ! reap_strays "$dir" && [ "$status" -eq 0 ]; then
    status=98 # left a keelson running
  fi
  run_one script "$t" "$dir" "$status"
done
echo
echo "check-valgrind: $pass passed, $fail failed, $skip skipped (logs: $logs)"
[ "$fail" -eq 0 ]
