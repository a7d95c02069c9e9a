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
. "${top_srcdir:-.}/tests/lib/scenario.sh"
work=$(mktemp -d)
am=
cleanup() {
  if [ -n "$am" ]; then kill "$am" 2>/dev/null || true; wait "$am" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
scenario_alertmanager_start || { echo "could not start alertmanager"; exit 1; }
ALERTMANAGER_URL="$amurl" "$top_builddir/tests/alerts/test_alertmanager"
