#!/usr/bin/env bash
# Idle cost: how many Kubernetes API requests a converged `keelson run`
# makes while nothing changes, read from kubesim's /_sim/counters before and
# after an idle window, and whether a Git poll without a new commit fetched
# a pack. Uses the example repository (as tests/reconcile/reconcile-kubesim.sh
# does), polled every second and drift-checked every 5 s, so the window
# covers many polls and drift checks; --objects N adds N ConfigMaps in
# generic systems of 2,000 (the issue-12 figure is for 10,000 objects).
#
#   bench/idle-cost.sh [--build-dir DIR] [--seconds N] [--objects N]
#                      [--watch-timeout S] [--drift-check DURATION] [--pushes N]
#                      [--trigger inotify|webhook] [--restart]
#
# --pushes N: after the idle window, N commits each changing one file (one
# ConfigMap's data) of the tracked repository; for each, the time from the
# end of the push to kubesim's first request, and the daemon's CPU time
# over the same span (utime+stime, 10 ms ticks; a drift check running
# meanwhile is counted too: use a --drift-check longer than the run for
# this figure). Prints "push trigger T", "push to first request median
# S", "push cpu median S", each push's figures.
#
# --trigger inotify (default): keelson tracks the local repository (a
# path), polled every second; a commit there is the push, seen through
# inotify. --trigger webhook: keelson tracks a bare copy served by
# `git daemon` on loopback (a network remote: no inotify), polled every
# 10 minutes, with the `http:` section's generic HMAC webhook; each push is
# `git push` to it followed at once by a signed POST /hooks/generic (what
# a forge does), timed from the end of `git push`. Needs curl, openssl
# and python3 (a free port for git daemon).
#
# --restart: once the daemon has converged, kill it (SIGKILL) and start it
# again on the same cluster and Git cache; the window starts when the new
# one has converged, so its figures (RSS above all) are those of a daemon
# that listed existing objects rather than created them.
#
# --watch-timeout S sets KEELSON_KUBE_WATCH_TIMEOUT, so the cache's watches
# end (and are re-opened) every S to 2S seconds inside the window; the
# window starts as soon as the daemon reports convergence.
#
# Prints "managed objects N", "idle seconds N", "reconcile cycles N",
# "API requests R", "API requests per idle minute R", "watch requests W",
# "other API requests O", "API requests by verb VERB=N ...",
# "git packs fetched P", "keelson RSS KiB K" (VmRSS at the end of the
# window), "keelson idle cpu seconds C" (the daemon's utime+stime over the
# window: drift checks, polls) lines, for bench/run and
# tests/kube/idle-kubesim.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=./build
seconds=60
objects_extra=0
drift_check=5s
pushes=0
trigger=inotify
restart=0
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) [ $# -ge 2 ] || { echo "idle-cost: --build-dir needs a directory" >&2; exit 2; }
		build=$2; shift 2 ;;
	--seconds)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 3600 ] ||
			{ echo "idle-cost: --seconds needs a whole number from 1 to 3600" >&2; exit 2; }
		seconds=$2; shift 2 ;;
	--objects)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -le 200000 ] ||
			{ echo "idle-cost: --objects needs a whole number up to 200000" >&2; exit 2; }
		objects_extra=$2; shift 2 ;;
	--watch-timeout)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] ||
			{ echo "idle-cost: --watch-timeout needs a whole number of seconds" >&2; exit 2; }
		export KEELSON_KUBE_WATCH_TIMEOUT=$2; shift 2 ;;
	--pushes)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -le 50 ] ||
			{ echo "idle-cost: --pushes needs a whole number up to 50" >&2; exit 2; }
		pushes=$2; shift 2 ;;
	--trigger)
		[ $# -ge 2 ] && { [ "$2" = inotify ] || [ "$2" = webhook ]; } ||
			{ echo "idle-cost: --trigger needs inotify or webhook" >&2; exit 2; }
		trigger=$2; shift 2 ;;
	--restart) restart=1; shift ;;
	--drift-check)
		[ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+(ms|s|m)$ ]] ||
			{ echo "idle-cost: --drift-check needs a duration such as 5s" >&2; exit 2; }
		drift_check=$2; shift 2 ;;
	-h | --help) sed -n '2,46p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
gitd=
cleanup() {
	for p in $daemon $gitd; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	kubesim_stop || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() {
	echo "idle-cost: $*" >&2
	for f in kubesim.err daemon.log gitd.log; do
		[ -f "$work/$f" ] && { echo "--- $f" >&2; tail -n 30 "$work/$f" >&2; }
	done
	exit 1
}

kubesim_start "$work" --log-level error || fail "kubesim did not start"

# The example repository, its stateful systems run as generic (as in
# tests/reconcile/reconcile-kubesim.sh: the figure is about the idle loop,
# not about plugins), plus the SparkApplication CRD its spark system needs.
# kubesim does not serve scheduling.k8s.io, so the PriorityClass is left out
# (keelson would otherwise never converge and keep probing for the type).
repo="$work/repo"
cp -R "$top/repo-layout/example" "$repo"
chmod -R u+w "$repo"
rm -f "$repo/clusters/prod-chicago/platform/priorityclass.yaml"
sed -i "s/driftCheckInterval: .*/driftCheckInterval: $drift_check/" "$repo/keelson.yaml"
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
# --objects N: generic systems of up to 2,000 ConfigMaps each (an inventory
# holds at most 5,000 objects), 20 documents a file.
if [ "$objects_extra" -gt 0 ]; then
	for k in $(seq 0 $(((objects_extra - 1) / 2000))); do
		mkdir -p "$repo/clusters/prod-chicago/bulk-$k"
		printf 'apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: bulk-%s\nspec:\n  plugin: generic\n' \
			"$k" >"$repo/clusters/prod-chicago/bulk-$k/system.yaml"
		printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bulk-%s\n' "$k" \
			>"$repo/clusters/prod-chicago/bulk-$k/namespace.yaml"
	done
	awk -v n="$objects_extra" -v base="$repo/clusters/prod-chicago" 'BEGIN {
		for (i = 0; i < n; i++) {
			k = int(i / 2000)
			f = sprintf("%s/bulk-%d/cm-%05d.yaml", base, k, int(i / 20))
			if (i % 20) print "---" > f
			printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%06d\n  namespace: bulk-%d\n", i, k > f
			printf "  labels:\n    app: bulk\ndata:\n  index: \"%d\"\n  text: \"%s\"\n", i,
				"idle benchmark object, a short line of text" > f
			if (i % 20 == 19 || i == n - 1) close(f)
		}
	}'
fi
git init -q -b main "$repo" || fail "git init failed"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com add -A >/dev/null || fail "git add failed"
git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -q -m example >/dev/null ||
	fail "git commit failed"
# Managed objects: documents in the managed cluster's manifests (cluster.yaml
# and system.yaml describe the layout, not Kubernetes objects).
objects=$(find "$repo/clusters/prod-chicago" -name '*.yaml' ! -name cluster.yaml ! -name system.yaml \
	-exec grep -h '^kind:' {} + | wc -l)

git_url=$repo
poll=1s
if [ "$trigger" = webhook ]; then
	for tool in curl openssl python3; do
		command -v "$tool" >/dev/null || fail "--trigger webhook needs $tool"
	done
	mkdir -p "$work/srv"
	git clone -q --bare "$repo" "$work/srv/origin.git" || fail "git clone --bare failed"
	git -C "$repo" remote add origin "$work/srv/origin.git"
	# The port may be taken between choosing and binding it: a few tries.
	for attempt in 1 2 3 4 5; do
		gport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		git daemon --reuseaddr --listen=127.0.0.1 --port="$gport" --base-path="$work/srv" --export-all \
			"$work/srv" >>"$work/gitd.log" 2>&1 &
		gitd=$!
		for i in $(seq 50); do
			git ls-remote "git://127.0.0.1:$gport/origin.git" >/dev/null 2>&1 && break 2
			kill -0 "$gitd" 2>/dev/null || break
			sleep 0.1
		done
		kill "$gitd" 2>/dev/null || true
		wait "$gitd" 2>/dev/null || true
		gitd=
	done
	[ -n "$gitd" ] || fail "git daemon did not start"
	git_url="git://127.0.0.1:$gport/origin.git"
	# Only the webhook can make keelson fetch within the run.
	poll=10m
	printf 'bench-hook-secret\n' >"$work/hook-secret"
fi

cat >"$work/keelson.yaml" <<EOF
git:
  url: $git_url
  ref: main
  cacheDir: $work/gitcache
  pollInterval: $poll
clusters:
  - name: prod-chicago
    kubeconfig: $KUBECONFIG
    context: kubesim
# The first sync of --objects N makes 2N requests; keelson's default limit
# (50 per second) would take minutes to converge before the idle window.
kubernetes:
  qps: 5000
  burst: 1000
EOF
if [ "$trigger" = webhook ]; then
	cat >>"$work/keelson.yaml" <<EOF
http:
  listen: 127.0.0.1:0
  genericSecretFile: $work/hook-secret
EOF
fi

start_daemon() {
	"$KEELSON" --log-level debug run --config "$work/keelson.yaml" >"$work/daemon.out" 2>"$work/daemon.log" &
	daemon=$!
	local i=0
	until grep -q 'msg="reconcile cycle done".*converged=true' "$work/daemon.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 3000 ] || fail "keelson run did not converge within 300 s"
		kill -0 "$daemon" 2>/dev/null || fail "keelson run exited"
		sleep 0.1
	done
}
start_daemon
if [ "$restart" = 1 ]; then
	# The restarted daemon lists every object instead of following its
	# creation, and reads a revision it already applied.
	kill -9 "$daemon"
	wait "$daemon" 2>/dev/null || true
	start_daemon
fi
hook_url=
if [ "$trigger" = webhook ]; then
	port=$(sed -n 's/.*HTTP server listening.* port=\([0-9][0-9]*\).*/\1/p' "$work/daemon.log" | head -n 1)
	[ -n "$port" ] || fail "no 'HTTP server listening ... port=' line in the daemon's log"
	hook_url="http://127.0.0.1:$port/hooks/generic"
fi
# No settling time: whatever the daemon still does once it reported
# convergence (a type it should have watched already, a relist) is idle
# cost too.
counters_json() { kubesim_curl /_sim/counters; }
# verb_count JSON VERB: that verb's count in byVerb (0 when absent).
verb_count() {
	printf '%s' "$1" | sed -n 's/.*"byVerb":{\([^}]*\)}.*/\1/p' | tr ',' '\n' |
		sed -n "s/^\"$2\":\([0-9]*\)$/\1/p" | awk '{ s += $1 } END { print s + 0 }'
}
packs() { find "$work/gitcache" -name '*.pack' 2>/dev/null | wc -l; }
c_before=$(counters_json)
before=$(printf '%s' "$c_before" | sed -n 's/^{"total":\([0-9]*\).*/\1/p')
[ -n "$before" ] || fail "cannot read kubesim's /_sim/counters"
packs_before=$(packs)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon/stat"; }
idle_cpu_before=$(cpu_ticks)
cycles_before=$(grep -c 'msg="reconcile cycle done"' "$work/daemon.log" || true)
log_lines_before=$(wc -l <"$work/daemon.log")
sleep "$seconds"
c_after=$(counters_json)
after=$(printf '%s' "$c_after" | sed -n 's/^{"total":\([0-9]*\).*/\1/p')
[ -n "$after" ] || fail "cannot read kubesim's /_sim/counters"
kill -0 "$daemon" 2>/dev/null || fail "keelson run exited during the idle window"
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon/status" 2>/dev/null || echo "?")
idle_cpu=$(awk -v t="$(($(cpu_ticks) - idle_cpu_before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
packs_after=$(packs)
cycles_after=$(grep -c 'msg="reconcile cycle done"' "$work/daemon.log" || true)

# Pushes: one changed file each, timed to kubesim's first write.
push_times=()
push_cpus=()
# Requests other than watches: the first one after a commit is the
# daemon's first API request for it.
writes() {
	local j
	j=$(counters_json)
	echo $(($(printf '%s' "$j" | sed -n 's/^{"total":\([0-9]*\).*/\1/p') - $(verb_count "$j" watch)))
}
target="$repo/clusters/prod-chicago/kafka-events/configmap.yaml"
# The same body for every push (as a forge's, it names repository and
# branch), signed once so the timed span has no openssl in it.
hook_body=$(printf '{"repository":"%s","ref":"refs/heads/main"}' "$git_url")
hook_sig=$(printf '%s' "$hook_body" | openssl dgst -sha256 -hmac bench-hook-secret 2>/dev/null | sed 's/^.*= *//') || true
for p in $(seq 1 "$pushes"); do
	w0=$(writes)
	sed -i "0,/^data:/s//data:\n  bench-push: \"$p\"/" "$target"
	sed -i "/^  bench-push: \"$((p - 1))\"$/d" "$target"
	git -C "$repo" -c user.name=bench -c user.email=bench@example.com commit -q -a -m "push $p" ||
		fail "git commit failed"
	if [ "$trigger" = webhook ]; then
		git -C "$repo" push -q origin main 2>>"$work/gitd.log" || fail "push $p: git push failed"
		t0=$(date +%s.%N)
		c0=$(cpu_ticks)
		code=$(curl -s -o "$work/hook.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
			-H "X-Keelson-Signature-256: sha256=$hook_sig" --data-binary "$hook_body" "$hook_url") ||
			fail "push $p: POST $hook_url failed"
		[ "$code" = 202 ] || fail "push $p: webhook answered $code, expected 202: $(cat "$work/hook.out")"
	else
		t0=$(date +%s.%N)
		c0=$(cpu_ticks)
	fi
	k=0
	while [ "$(writes)" = "$w0" ]; do
		k=$((k + 1))
		[ $k -le 3000 ] || fail "push $p: no API request within 60 s"
		sleep 0.01
	done
	t1=$(date +%s.%N)
	c1=$(cpu_ticks)
	push_times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
	push_cpus+=("$(awk -v t="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }')")
	echo "push $p first request after ${push_times[-1]} s, daemon cpu ${push_cpus[-1]} s"
	# Let this commit's cycle converge before the next push.
	sha=$(git -C "$repo" rev-parse HEAD)
	k=0
	until grep -q "msg=\"reconcile cycle done\" revision=$sha converged=true" "$work/daemon.log"; do
		k=$((k + 1))
		[ $k -le 6000 ] || fail "push $p: revision $sha did not converge within 300 s"
		sleep 0.05
	done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if [ "$pushes" -gt 0 ]; then
	echo "push trigger $trigger"
	echo "push to first request median $(median "${push_times[@]}")"
	echo "push cpu median $(median "${push_cpus[@]}")"
fi

requests=$((after - before))
by_verb=
for v in get list watch create update patch delete deletecollection; do
	d=$(($(verb_count "$c_after" "$v") - $(verb_count "$c_before" "$v")))
	[ "$d" = 0 ] || by_verb="$by_verb $v=$d"
done
watches=$(($(verb_count "$c_after" watch) - $(verb_count "$c_before" watch)))
# Which requests, from keelson's own debug log, so a non-zero figure says
# what to look at.
tail -n +"$((log_lines_before + 1))" "$work/daemon.log" | grep 'msg="kube request"' |
	sed 's/^time=[^ ]* //' | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/idle request: /' >&2 || true
echo "managed objects $objects"
echo "watch requests $watches"
echo "other API requests $((requests - watches))"
echo "API requests by verb${by_verb:- none}"
echo "git packs fetched $((packs_after - packs_before))"
echo "keelson RSS KiB $rss_kib"
echo "keelson idle cpu seconds $idle_cpu"
echo "idle seconds $seconds"
echo "reconcile cycles $((cycles_after - cycles_before))"
echo "API requests $requests"
awk -v r="$requests" -v s="$seconds" 'BEGIN { printf "API requests per idle minute %.1f\n", r * 60 / s }'
