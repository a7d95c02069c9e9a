#!/usr/bin/env bash
# The alert sender against the real Alertmanager (Debian package
# prometheus-alertmanager) on 127.0.0.1: a temporary configuration and
# storage directory, clustering off. Skips (77) when it is not installed.
set -euo pipefail
AM=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}
if [ -z "$AM" ]; then
  echo "prometheus-alertmanager not found (apt-get install prometheus-alertmanager); skipping"
  exit 77
fi
top_builddir=${top_builddir:-$(pwd)}
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cat >"$work/alertmanager.yml" <<'YAML'
route:
  receiver: "null"
receivers:
  - name: "null"
YAML
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# A port found free can be taken before Alertmanager binds it: try a few.
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  "$AM" --config.file="$work/alertmanager.yml" --storage.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
    --log.level=warn >"$work/am.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then break 2; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
  echo "alertmanager did not start on port $port (attempt $attempt):"; cat "$work/am.log"
done
[ -n "$pid" ] || { echo "could not start alertmanager"; exit 1; }
ALERTMANAGER_URL="http://127.0.0.1:$port" "$top_builddir/tests/alerts/test_alertmanager"
