#!/usr/bin/env bash
# An idle `keelson run` makes no Kubernetes API request but re-opening its
# watches. The example repository (with its SparkApplication custom
# resource and CRD) is applied to kubesim; as soon as the daemon reports
# convergence a 15 s window starts in which it polls Git every second and
# checks drift every 2 s, with its watches ending every 2 to 4 s
# (KEELSON_KUBE_WATCH_TIMEOUT=2, as a server's timeoutSeconds would after
# 30 to 60 minutes). Any other request in the window fails the test: a
# relist after a watch ends (resuming from a stale resourceVersion), a
# custom resource type watched one drift check late (its LIST and GETs
# after convergence), a periodic read. No Git pack may be fetched either.
# Runs bench/idle-cost.sh, which prints the counts. Needs git and curl.
set -euo pipefail

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
command -v git >/dev/null 2>&1 || { echo "idle-kubesim: no git, skipping"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "idle-kubesim: no curl, skipping"; exit 77; }
for b in kubesim keelson; do
	[ -x "$builddir/$b" ] || { echo "idle-kubesim: $builddir/$b is not built" >&2; exit 1; }
done

out=$(bash "$srcdir/bench/idle-cost.sh" --build-dir "$builddir" --seconds 15 --watch-timeout 2 \
	--drift-check 2s) || { echo "idle-kubesim: bench/idle-cost.sh failed" >&2; exit 1; }
echo "$out"
value() { printf '%s\n' "$out" | sed -n "s/^$1 \\([0-9]*\\)\$/\\1/p"; }
other=$(value "other API requests")
watches=$(value "watch requests")
packs=$(value "git packs fetched")
cycles=$(value "reconcile cycles")
[ -n "$other" ] && [ -n "$watches" ] && [ -n "$packs" ] && [ -n "$cycles" ] ||
	{ echo "idle-kubesim: cannot read the figures above" >&2; exit 1; }
status=0
if [ "$other" != 0 ]; then
	echo "FAIL: the idle daemon made $other API requests besides re-opening watches" \
		"($(printf '%s\n' "$out" | sed -n 's/^API requests by verb//p'))" >&2
	status=1
fi
# The window must have covered watch ends, or it proves nothing about them.
if [ "$watches" -lt 1 ]; then
	echo "FAIL: no watch ended and re-opened in the window (KEELSON_KUBE_WATCH_TIMEOUT not honoured?)" >&2
	status=1
fi
# About a dozen types, each re-opened every 2 to 4 s: a watch that ends at
# once and is re-opened in a hot loop would show hundreds.
if [ "$watches" -gt 150 ]; then
	echo "FAIL: $watches watch requests in 15 s: watches end too often" >&2
	status=1
fi
if [ "$cycles" -lt 3 ]; then
	echo "FAIL: only $cycles reconcile cycles in the window: the window did not cover drift checks" >&2
	status=1
fi
if [ "$packs" != 0 ]; then
	echo "FAIL: $packs Git packs fetched while no commit was made" >&2
	status=1
fi
exit $status
