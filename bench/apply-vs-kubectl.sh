#!/usr/bin/env bash
# Apply throughput, side by side: the first sync of N objects (default
# 1,000: ConfigMaps, Services and Secrets in one namespace, 20 documents a
# file) by `keelson sync --once` against `kubectl apply --server-side -f DIR`
# on the same manifests against the same kubesim, each run on an emptied
# kubesim (POST /_sim/reset), alternating, --runs times (default 5). Prints
# each run's wall time and the medians.
#
#   bench/apply-vs-kubectl.sh [--build-dir DIR] [--objects N] [--runs R]
#                             [--qps Q] [--burst B]
#
# keelson's client-side rate limit is set to --qps/--burst (default 5000 and
# 1000): kubectl has none, and with keelson's default (50 per second)
# 1,000 objects take 20 to 40 s whatever else is done. keelson's time
# includes its whole process: Git clone of the local repository, load and
# validation, discovery, the inventory, one server-side apply per new
# object (keelson's labels are part of it) and waiting until its watch
# cache shows its writes. kubectl's includes its start-up and discovery
# (cached in KUBECACHEDIR after a first, unmeasured run). Beside the wall
# time each run records the CPU time (user+system) of the measured process
# and of kubesim over the same span: on a loaded machine wall time
# includes waiting for a core.
#
# Lines for bench/run: "keelson median S", "kubectl median S",
# "ratio kubectl/keelson R", "requests keelson N kubectl M"; also
# "cpu median keelson S kubectl S", "kubesim cpu median keelson S kubectl S"
# and "requests by verb keelson {...} kubectl {...}".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=./build
objects=1000
runs=5
qps=5000
burst=1000
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) [ $# -ge 2 ] || { echo "apply-vs-kubectl: --build-dir needs a directory" >&2; exit 2; }
		build=$2; shift 2 ;;
	--objects | --runs | --qps | --burst)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 200000 ] ||
			{ echo "apply-vs-kubectl: $1 needs a whole number from 1 to 200000" >&2; exit 2; }
		case "$1" in --objects) objects=$2 ;; --runs) runs=$2 ;; --qps) qps=$2 ;; --burst) burst=$2 ;; esac
		shift 2 ;;
	-h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "apply-vs-kubectl: unknown option '$1'" >&2; exit 2 ;;
	esac
done
KUBESIM=$build/kubesim
KEELSON=$build/keelson
KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -x "$KUBESIM" ] || { echo "apply-vs-kubectl: $KUBESIM is not built" >&2; exit 2; }
[ -x "$KEELSON" ] || { echo "apply-vs-kubectl: $KEELSON is not built" >&2; exit 2; }
[ -n "$KUBECTL" ] || { echo "apply-vs-kubectl: no kubectl (set KUBECTL)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/keelson-apply-bench.XXXXXX")
. "$top/tests/lib/kubesim.sh"
cleanup() {
	kubesim_stop || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() {
	echo "apply-vs-kubectl: $*" >&2
	[ -f "$work/kubesim.err" ] && tail -n 20 "$work/kubesim.err" >&2
	exit 1
}

# The manifests: one Namespace, then a third each of ConfigMaps, Services,
# Secrets, 20 documents a file, in clusters/bench/bench of a repository.
repo=$work/repo
dir=$repo/clusters/bench/bench
mkdir -p "$dir"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n' >"$dir/000-namespace.yaml"
awk -v n="$objects" -v dir="$dir" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = sprintf("%s/objects-%04d.yaml", dir, int(i / 20) + 1)
		if (i % 20) print "---" > f
		k = i % 3
		if (k == 0) {
			printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  namespace: bench\n", i > f
			printf "  labels:\n    app: bench\ndata:\n  index: \"%d\"\n  settings: |\n    a=1\n    b=2\n", i > f
		} else if (k == 1) {
			printf "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%05d\n  namespace: bench\n", i > f
			printf "  labels:\n    app: bench\nspec:\n  selector:\n    app: bench-%d\n", i > f
			printf "  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n" > f
		} else {
			printf "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-%05d\n  namespace: bench\n", i > f
			printf "type: Opaque\nstringData:\n  password: \"not-a-secret-%d\"\n", i > f
		}
		if (i % 20 == 19 || i == n - 1) close(f)
	}
}'
cat >"$repo/keelson.yaml" <<'EOY'
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: bench
spec:
  statusBranch: keelson/status
  policy:
    prune: true
    driftPolicy: heal
    pollInterval: 1m
    driftCheckInterval: 10m
    alertRepeatInterval: 1h
EOY
printf 'apiVersion: keelson.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: bench\nspec:\n  kubeContext: kubesim\n' \
	>"$repo/clusters/bench/cluster.yaml"
printf 'apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: bench\nspec:\n  plugin: generic\n' \
	>"$dir/system.yaml"
git init -q -b main "$repo"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com add -A
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -q -m bench
# kubectl reads only the manifests, not keelson's own documents.
mkdir -p "$work/manifests"
cp "$dir"/000-namespace.yaml "$dir"/objects-*.yaml "$work/manifests/"

kubesim_start "$work" --log-level error || fail "kubesim did not start"
cat >"$work/keelson.yaml" <<EOY
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
clusters:
  - name: bench
    kubeconfig: $KUBECONFIG
    context: kubesim
kubernetes:
  qps: $qps
  burst: $burst
EOY

reset() { kubesim_curl /_sim/reset -X POST >/dev/null || fail "cannot reset kubesim"; }
total() { kubesim_curl /_sim/counters | sed -n 's/^{"total":\([0-9]*\).*/\1/p'; }
by_verb() { kubesim_curl /_sim/counters | sed -n 's/.*"byVerb":\({[^}]*}\).*/\1/p'; }
now() { date +%s.%N; }
# kubesim's CPU time so far (utime+stime), in seconds.
kubesim_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$KUBESIM_PID/stat"
}
# timed OUT CMD...: run CMD, its wall time in seconds into $wall and its CPU
# time (user+system, children included) into $cpu; OUT gets its stdout.
TIMEFORMAT='%3R %3U %3S'
timed() {
	local out=$1 t
	shift
	t=$({ time "$@" >"$out" 2>"$out.err"; } 2>&1) || { tail -n 20 "$out.err" >&2; return 1; }
	wall=$(echo "$t" | awk '{ print $1 }')
	cpu=$(echo "$t" | awk '{ printf "%.3f", $2 + $3 }')
}
# Warm kubectl's discovery cache (a real user's would be warm too).
reset
"$KUBECTL" get namespaces >/dev/null 2>&1 || fail "kubectl cannot reach kubesim"

keelson_times=()
kubectl_times=()
keelson_cpus=()
kubectl_cpus=()
keelson_sim_cpus=()
kubectl_sim_cpus=()
for r in $(seq 1 "$runs"); do
	reset
	rm -rf "$work/gitcache"
	c0=$(total); s0=$(kubesim_cpu)
	timed "$work/keelson.out" "$KEELSON" sync --once --config "$work/keelson.yaml" || fail "keelson sync --once failed"
	c1=$(total); s1=$(kubesim_cpu)
	keelson_verbs=$(by_verb)
	keelson_times+=("$wall")
	keelson_cpus+=("$cpu")
	keelson_sim_cpus+=("$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')")
	keelson_requests=$((c1 - c0))
	reset
	c0=$(total); s0=$(kubesim_cpu)
	timed "$work/kubectl.out" "$KUBECTL" apply --server-side -f "$work/manifests" || fail "kubectl apply failed"
	c1=$(total); s1=$(kubesim_cpu)
	kubectl_verbs=$(by_verb)
	kubectl_times+=("$wall")
	kubectl_cpus+=("$cpu")
	kubectl_sim_cpus+=("$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')")
	kubectl_requests=$((c1 - c0))
	echo "run $r keelson ${keelson_times[-1]} s (cpu ${keelson_cpus[-1]} s, kubesim ${keelson_sim_cpus[-1]} s)" \
		"kubectl ${kubectl_times[-1]} s (cpu ${kubectl_cpus[-1]} s, kubesim ${kubectl_sim_cpus[-1]} s)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
km=$(median "${keelson_times[@]}")
cm=$(median "${kubectl_times[@]}")
echo "objects $((objects + 1))"
echo "keelson median $km"
echo "kubectl median $cm"
echo "ratio kubectl/keelson $(awk -v a="$cm" -v b="$km" 'BEGIN { printf "%.2f", a / b }')"
echo "requests keelson $keelson_requests kubectl $kubectl_requests"
echo "requests by verb keelson $keelson_verbs kubectl $kubectl_verbs"
echo "cpu median keelson $(median "${keelson_cpus[@]}") kubectl $(median "${kubectl_cpus[@]}")"
echo "kubesim cpu median keelson $(median "${keelson_sim_cpus[@]}") kubectl $(median "${kubectl_sim_cpus[@]}")"
