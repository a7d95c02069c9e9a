#!/usr/bin/env bash
# Idle cost: how many Kubernetes API requests a converged `keelson run`
# makes while nothing changes, read from kubesim's /_sim/counters before and
# after an idle window. Uses the example repository (as
# tests/reconcile/reconcile-kubesim.sh does), polled every second and
# drift-checked every 5 s, so the window covers many polls and drift checks.
#
#   bench/idle-cost.sh [--build-dir DIR] [--seconds N]
#
# Prints "managed objects N", "idle seconds N", "API requests R" and
# "API requests per idle minute R" lines, for bench/run.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=./build
seconds=60
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) [ $# -ge 2 ] || { echo "idle-cost: --build-dir needs a directory" >&2; exit 2; }
		build=$2; shift 2 ;;
	--seconds)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 3600 ] ||
			{ echo "idle-cost: --seconds needs a whole number from 1 to 3600" >&2; exit 2; }
		seconds=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "idle-cost: unknown option '$1'" >&2; exit 2 ;;
	esac
done
KUBESIM=$build/kubesim
KEELSON=$build/keelson
[ -x "$KUBESIM" ] || { echo "idle-cost: $KUBESIM is not built" >&2; exit 2; }
[ -x "$KEELSON" ] || { echo "idle-cost: $KEELSON is not built" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/keelson-idle-cost.XXXXXX")
. "$top/tests/lib/kubesim.sh"
daemon=
cleanup() {
	for p in $daemon; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	kubesim_stop || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() {
	echo "idle-cost: $*" >&2
	for f in kubesim.err daemon.log; do
		[ -f "$work/$f" ] && { echo "--- $f" >&2; tail -n 30 "$work/$f" >&2; }
	done
	exit 1
}

kubesim_start "$work" --log-level error || fail "kubesim did not start"
counters_total() {
	kubesim_curl /_sim/counters |
		sed -n 's/^{"total":\([0-9]*\).*/\1/p'
}

# The example repository, its stateful systems run as generic (as in
# tests/reconcile/reconcile-kubesim.sh: the figure is about the idle loop,
# not about plugins), plus the SparkApplication CRD its spark system needs.
# kubesim does not serve scheduling.k8s.io, so the PriorityClass is left out
# (keelson would otherwise never converge and keep probing for the type).
repo="$work/repo"
cp -R "$top/repo-layout/example" "$repo"
chmod -R u+w "$repo"
rm -f "$repo/clusters/prod-chicago/platform/priorityclass.yaml"
sed -i 's/driftCheckInterval: .*/driftCheckInterval: 5s/' "$repo/keelson.yaml"
for f in "$repo"/clusters/*/*/system.yaml; do
	awk '/^  plugin: (kafka|cassandra|spark)$/ { print "  plugin: generic"; gen = 1; next }
	     gen && /^  parameters:/ { skip = 1; next }
	     skip && /^(    |$)/ { next }
	     { skip = 0; print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
done
cat >"$repo/clusters/prod-chicago/spark-etl/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: sparkapplications.sparkoperator.k8s.io
spec:
  group: sparkoperator.k8s.io
  scope: Namespaced
  names: {plural: sparkapplications, singular: sparkapplication, kind: SparkApplication}
  versions:
  - name: v1beta2
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
EOF
git init -q -b main "$repo" || fail "git init failed"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com add -A >/dev/null || fail "git add failed"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -q -m example >/dev/null ||
	fail "git commit failed"
# Managed objects: documents in the managed cluster's manifests (cluster.yaml
# and system.yaml describe the layout, not Kubernetes objects).
objects=$(find "$repo/clusters/prod-chicago" -name '*.yaml' ! -name cluster.yaml ! -name system.yaml \
	-exec grep -h '^kind:' {} + | wc -l)

cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1s
clusters:
  - name: prod-chicago
    kubeconfig: $KUBECONFIG
    context: kubesim
EOF

"$KEELSON" --log-level debug run --config "$work/keelson.yaml" >"$work/daemon.out" 2>"$work/daemon.log" &
daemon=$!
i=0
until grep -q 'msg="reconcile cycle done".*converged=true' "$work/daemon.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "keelson run did not converge within 60 s"
	kill -0 "$daemon" 2>/dev/null || fail "keelson run exited"
	sleep 0.1
done
# Let the first cycle's stragglers (waits, status writes) finish.
sleep 2
before=$(counters_total)
[ -n "$before" ] || fail "cannot read kubesim's /_sim/counters"
cycles_before=$(grep -c 'msg="reconcile cycle done"' "$work/daemon.log" || true)
log_lines_before=$(wc -l <"$work/daemon.log")
sleep "$seconds"
after=$(counters_total)
[ -n "$after" ] || fail "cannot read kubesim's /_sim/counters"
kill -0 "$daemon" 2>/dev/null || fail "keelson run exited during the idle window"
cycles_after=$(grep -c 'msg="reconcile cycle done"' "$work/daemon.log" || true)

requests=$((after - before))
# Which requests, from keelson's own debug log, so a non-zero figure says
# what to look at.
tail -n +"$((log_lines_before + 1))" "$work/daemon.log" | grep 'msg="kube request"' |
	sed 's/^time=[^ ]* //' | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/idle request: /' >&2 || true
echo "managed objects $objects"
echo "idle seconds $seconds"
echo "reconcile cycles $((cycles_after - cycles_before))"
echo "API requests $requests"
awk -v r="$requests" -v s="$seconds" 'BEGIN { printf "API requests per idle minute %.1f\n", r * 60 / s }'
