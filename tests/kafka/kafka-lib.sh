# Shared set-up of the kafka plugin scenario tests (POSIX sh; sourced).
#
# kafka_setup NAME [kubesim args]
#	kubesim with the simulated clock at 20x, a Git repository copied from
#	tests/kafka/repo, a keelson configuration ($work/keelson.yaml) and a
#	kubectl pod watch; sets work, repo, sts, KEELSON, PLUGINS.
# kafka_deploy
#	keelson run until the 5 brokers of the first commit are Ready and the
#	rollout converged (the daemon is stopped afterwards).
# start_daemon / stop_daemon [-9]
# wait_until SECONDS DESCRIPTION COMMAND...
# metric POD NAME, active_controller, violations, all_images, all_ready
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "kafka: KUBECTL is empty, skipping"
	exit 77
fi
command -v git >/dev/null 2>&1 || { echo "kafka: no git, skipping"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "kafka: no curl, skipping"; exit 77; }
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KUBESIM=$builddir/kubesim
KEELSON=$builddir/keelson
PLUGINS=$builddir/plugins/kafka/.libs
[ -x "$KUBESIM" ] || { echo "kafka: $KUBESIM not built"; exit 1; }
[ -x "$KEELSON" ] || { echo "kafka: $KEELSON not built"; exit 1; }
[ -f "$PLUGINS/kafka.so" ] || { echo "kafka: the kafka plugin is not built"; exit 1; }

. "$srcdir/tests/lib/kubesim.sh"
daemon=
watch_pid=
hook_pid=
test_name=kafka
step=""

kafka_cleanup() {
	for p in $daemon $watch_pid $hook_pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}

fail() {
	echo "FAIL [$test_name: $step]: $*"
	for f in err daemon.log watch.out kubesim.err; do
		[ -f "$work/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$work/$f"; }
	done
	exit 1
}

k() {
	"$KUBECTL" --request-timeout=20s "$@"
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll every 0.2 s.
wait_until() {
	limit=$1
	what=$2
	shift 2
	i=0
	until "$@"; do
		if [ -z "${BLOCK_OK:-}" ] && grep -q 'msg="system blocked' "$work/daemon.log" 2>/dev/null; then
			fail "the rollout blocked while waiting until $what"
		fi
		i=$((i + 1))
		[ $i -le $((limit * 5)) ] || fail "not within ${limit}s: $what"
		sleep 0.2
	done
}

kafka_setup() {
	test_name=$1
	shift
	work=$(mktemp -d "${TMPDIR:-/tmp}/$test_name.XXXXXX")
	trap kafka_cleanup EXIT INT TERM
	kubesim_start "$work" --log-level error --clock-factor 20 "$@" || fail "kubesim did not start"
	repo="$work/repo"
	cp -R "$srcdir/tests/kafka/repo" "$repo"
	chmod -R u+w "$repo"
	sts="$repo/clusters/sim/kafka/statefulset.yaml"
	system="$repo/clusters/sim/kafka/system.yaml"
	git init -q -b main "$repo" || fail "git init"
	git_in add -A
	git_in commit -q -m "kafka, 5 brokers"
	cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1s
clusters:
  - name: sim
    kubeconfig: $KUBECONFIG
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: 1s
EOF
	: >"$work/daemon.log"
}

git_in() {
	git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"
}

start_daemon() {
	"$KEELSON" run --config "${CONFIG:-$work/keelson.yaml}" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
	daemon=$!
}

stop_daemon() {
	[ -n "$daemon" ] || return 0
	kill ${1:-} "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=
}

all_images() {
	k get pods -n kafka -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}' | sort | uniq -c |
		awk '{ printf "%s:%s ", $2, $1 }'
}

# all_ready N: exactly N pods, all Ready and not terminating.
all_ready() {
	out=$(k get pods -n kafka -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}/{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
	[ "$(printf '%s\n' "$out" | grep -c '^/True$')" = "$1" ] && [ "$(printf '%s\n' "$out" | grep -c .)" = "$1" ]
}

metric() {
	k get --raw "/api/v1/namespaces/kafka/pods/$1:9404/proxy/metrics" 2>/dev/null |
		awk -v n="$2" '$1 == n { print $2 }'
}

# The pod whose metrics say it is the active controller.
active_controller() {
	for p in $(k get pods -n kafka -o jsonpath='{.items[*].metadata.name}'); do
		[ "$(metric "$p" kafka_controller_kafkacontroller_activecontrollercount)" = 1 ] && echo "$p"
	done
}

violations() {
	kubesim_curl /_sim/violations | tr -d ' \n'
}

assert_no_violations() {
	v=$(violations)
	case $v in *'"violations":[]'*) ;; *) fail "kubesim violations: $v" ;; esac
}

converged() {
	grep -q "plugin rollout converged" "$work/daemon.log"
}

kafka_deploy() {
	step="first deployment"
	start_daemon
	wait_until 90 "${1:-5} brokers Ready" all_ready "${1:-5}"
	wait_until 60 "the first rollout converged" converged
	stop_daemon
	: >"$work/daemon.log"
	assert_no_violations
}

# Record every pod incarnation and state change: "name uid deletion ready".
start_watch() {
	# No --request-timeout: it would end the watch.
	"$KUBECTL" get pods -n kafka -w \
		-o jsonpath='{.metadata.name} {.metadata.uid} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
		>"$work/watch.out" 2>"$work/watch.err" &
	watch_pid=$!
	sleep 1
}

stop_watch() {
	sleep 1
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	watch_pid=
}

# Pods in the order they were first seen terminating (one per deletion).
deletion_order() {
	awk 'NF >= 3 && $3 ~ /T.*Z$/ && !seen[$1 " " $2]++ { print $1 }' "$work/watch.out"
}

# "name count" of incarnations per pod.
incarnations() {
	awk 'NF >= 2 { seen[$1 " " $2] = 1 }
	     END { for (k in seen) { split(k, a, " "); n[a[1]]++ } for (p in n) print p, n[p] }' "$work/watch.out" | sort
}

# The most pods unavailable at once among N pods, from the watch.
max_down() {
	awk -v total="$1" '
	NF >= 2 {
		name = $1; ready = 0; term = 0
		for (i = 3; i <= NF; i++) { if ($i == "True") ready = 1; else if ($i ~ /T.*Z$/) term = 1 }
		ok[name] = ready && !term
		up = 0; for (p in ok) up += ok[p]
		if (seen_all || length(ok) == total) { seen_all = 1; down = total - up; if (down > max) max = down }
	}
	END { print max + 0 }' "$work/watch.out"
}
