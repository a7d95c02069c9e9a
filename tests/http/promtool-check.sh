#!/usr/bin/env bash
# /metrics as served over HTTP passes `promtool check metrics` (Debian
# package prometheus). Skips (77) when promtool is not installed.
set -euo pipefail
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$PROMTOOL" ]; then
  echo "promtool not found (apt-get install prometheus); skipping"
  exit 77
fi
top_builddir=${top_builddir:-$(pwd)}
work=$(mktemp -d)
fifo="$work/in"
mkfifo "$fifo"
pid=
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$top_builddir/tests/http/metrics_sample" <"$fifo" >"$work/port" 2>"$work/log" &
pid=$!
exec 3>"$fifo"
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(head -n1 "$work/port")
[ -n "$port" ] || { echo "metrics_sample did not start:"; cat "$work/log"; exit 1; }
curl -sS -D "$work/headers" -o "$work/metrics" "http://127.0.0.1:$port/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$work/headers" || { echo "wrong Content-Type:"; cat "$work/headers"; exit 1; }
for family in keelson_reconcile_duration_seconds keelson_git_fetches_total keelson_api_requests_total \
    keelson_api_request_duration_seconds keelson_drift_objects keelson_rollout_steps_total \
    keelson_system_blocked keelson_last_successful_sync_timestamp_seconds; do
  grep -q "^# TYPE $family " "$work/metrics" || { echo "missing family $family"; exit 1; }
done
# promtool prints lint problems and exits non-zero for them.
if ! "$PROMTOOL" check metrics <"$work/metrics" >"$work/lint" 2>&1; then
  echo "promtool check metrics failed:"; cat "$work/lint"; echo "--- metrics:"; cat "$work/metrics"; exit 1
fi
# Parse errors are caught as well: a broken exposition must fail.
printf 'bad metric{x="1"\n' >"$work/broken"
if "$PROMTOOL" check metrics <"$work/broken" >/dev/null 2>&1; then
  echo "promtool accepted a broken exposition: the check proves nothing"; exit 1
fi
echo "promtool check metrics: ok ($(grep -vc '^#' "$work/metrics") samples)"
