# Shared plumbing of the Cassandra scenario tests (POSIX sh; source it).
# Each test: kubesim with the Cassandra model at an accelerated clock, a
# local Git repository copied from a fixture under tests/cassandra/, and
# `keelson run --plugin-dir` with the cassandra plugin of the build.
#
#   cass_setup NAME FIXTURE [kubesim args...]   work dir, kubesim, repo, config
#   cass_commit MESSAGE                         commit everything in $repo
#   daemon_start [config] / daemon_kill         keelson run (SIGKILL to stop)
#   wait_for SECONDS DESCRIPTION COMMAND...     poll COMMAND every 0.2 s
#   watch_start NS / watch_stop                 kubectl watch of the pods
#   violations_empty                            kubesim's invariant log is empty
# Needs $KUBECTL, git, curl, python3 (webhook receiver only) and $top_builddir.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KUBESIM=$builddir/kubesim
KEELSON=$builddir/keelson
PLUGINS=$builddir/plugins/cassandra/.libs
CLOCK_FACTOR=${CLOCK_FACTOR:-25}

daemon=
watch_pid=
hook_pid=
test_name=cassandra
step=""

cass_requirements() {
	if [ -z "${KUBECTL:-}" ]; then
		echo "$test_name: KUBECTL is empty, skipping"
		exit 77
	fi
	command -v git >/dev/null 2>&1 || { echo "$test_name: no git, skipping"; exit 77; }
	command -v curl >/dev/null 2>&1 || { echo "$test_name: no curl, skipping"; exit 77; }
	[ -x "$KUBESIM" ] || { echo "$test_name: $KUBESIM not built"; exit 1; }
	[ -x "$KEELSON" ] || { echo "$test_name: $KEELSON not built"; exit 1; }
	[ -f "$PLUGINS/cassandra.so" ] || { echo "$test_name: the cassandra plugin is not built"; exit 1; }
}

cleanup() {
	for p in $daemon $watch_pid $hook_pid; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}

fail() {
	echo "FAIL [$test_name: $step]: $*"
	for f in daemon.log watch.out kubesim.err hook.out; do
		[ -f "$work/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$work/$f"; }
	done
	exit 1
}

cass_setup() {
	test_name=$1
	fixture=$2
	shift 2
	cass_requirements
	work=$(mktemp -d "${TMPDIR:-/tmp}/$test_name.XXXXXX")
	. "$srcdir/tests/lib/kubesim.sh"
	trap cleanup EXIT INT TERM
	kubesim_start "$work" --log-level error --clock-factor "$CLOCK_FACTOR" "$@" || fail "kubesim did not start"
	repo="$work/repo"
	cp -R "$fixture" "$repo"
	chmod -R u+w "$repo"
	git init -q -b main "$repo" || fail "git init"
	cass_commit "initial"
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

cass_commit() {
	git -C "$repo" -c user.name=test -c user.email=test@example.com add -A >/dev/null 2>&1 &&
		git -C "$repo" -c user.name=test -c user.email=test@example.com commit -q -m "$1" >/dev/null 2>&1 ||
		fail "git commit $1"
}

daemon_start() {
	"$KEELSON" run --config "${1:-$work/keelson.yaml}" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
	daemon=$!
}

daemon_kill() {
	[ -n "$daemon" ] || return 0
	kill -9 "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=
}

wait_for() {
	wait_limit=$(($1 * 5))
	wait_what=$2
	shift 2
	wait_i=0
	until "$@"; do
		wait_i=$((wait_i + 1))
		[ $wait_i -le $wait_limit ] || fail "timed out: $wait_what"
		sleep 0.2
	done
}

# Pods of namespace $1 as "name=image,ready" words, sorted.
pods_state() {
	"$KUBECTL" get pods -n "$1" -o jsonpath='{range .items[*]}{.metadata.name}={.spec.containers[0].image},{.status.conditions[?(@.type=="Ready")].status}{" "}{end}' 2>/dev/null |
		tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' '
}

# All of the named pods ($2...) of namespace $1 Ready with image $IMAGE and
# no other pod.
pods_are() {
	pa_ns=$1
	shift
	pa_want=
	for pa_p in "$@"; do pa_want="$pa_want$pa_p=$IMAGE,True "; done
	[ "$(pods_state "$pa_ns")" = "$pa_want" ]
}

converged_since() {
	tail -n +"$1" "$work/daemon.log" | grep -q "plugin rollout converged"
}

log_mark() {
	echo $(($(wc -l <"$work/daemon.log") + 1))
}

watch_start() {
	"$KUBECTL" get pods -n "$1" -w \
		-o jsonpath='{.metadata.name} {.metadata.uid} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
		>"$work/watch.out" 2>"$work/watch.err" &
	watch_pid=$!
	sleep 1
}

watch_stop() {
	sleep 1
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	watch_pid=
}

# Pods in the order keelson (or a controller) started deleting them.
deletion_order() {
	awk 'NF >= 3 && $3 ~ /T.*Z$/ && !seen[$1 " " $2]++ { printf "%s ", $1 }' "$work/watch.out"
}

# The largest number of pods (out of $1) not Ready or terminating at once.
max_unavailable() {
	awk -v total="$1" '
	NF >= 2 {
		name = $1; ready = 0; term = 0
		for (i = 3; i <= NF; i++) { if ($i == "True") ready = 1; else if ($i ~ /T.*Z$/) term = 1 }
		ok[name] = ready && !term
		up = 0; n = 0; for (p in ok) { up += ok[p]; n++ }
		if (n == total) { down = total - up; if (down > max) max = down }
	}
	END { print max + 0 }' "$work/watch.out"
}

violations() {
	kubesim_curl /_sim/violations | tr -d ' \n'
}

violations_empty() {
	v=$(violations)
	case $v in *'"violations":[]'*) ;; *) fail "kubesim violations: $v" ;; esac
}

# A webhook receiver on loopback: one line per POST body in $work/hook.out.
hook_start() {
	python3 - "$work/hook.port" "$work/hook.out" <<'PY' >"$work/hook.err" 2>&1 &
import http.server, os, sys
port_file, out_file = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(out_file, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(srv.server_port))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
	hook_pid=$!
	wait_for 10 "webhook receiver start" test -s "$work/hook.port"
}

# Run daemons killed with SIGKILL after random delays (0.3 .. 2.3 s) until
# COMMAND... holds; at least $1 kills, then one daemon finishes. $2: how
# long (s) the last daemon may take.
roll_with_kills() {
	rk_kills_wanted=$1
	rk_limit=$2
	shift 2
	kills=0
	rk_n=0
	while [ $kills -lt "$rk_kills_wanted" ]; do
		rk_n=$((rk_n + 1))
		daemon_start
		rk_delay=$(awk -v s="$rk_n$$" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 2 }')
		sleep "$rk_delay"
		if "$@"; then
			break
		fi
		daemon_kill
		kills=$((kills + 1))
	done
	[ -n "$daemon" ] || daemon_start
	wait_for "$rk_limit" "the roll finishing after $kills SIGKILLs" "$@"
}
