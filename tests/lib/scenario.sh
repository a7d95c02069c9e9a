# Shared plumbing of the scenario shell tests that drive `keelson run` /
# `keelson sync` against kubesim (tests/kafka, tests/cassandra, tests/spark,
# tests/reconcile/plugin-rollout-kubesim.sh, tests/election/ha-kubesim.sh,
# tests/status/daemon-kubesim.sh, tests/alerts/*.sh).
# POSIX sh (dash and bash); source it with
#	. "${top_srcdir:-.}/tests/lib/scenario.sh"
# Sourcing defines functions and sets srcdir ($top_srcdir) and builddir
# ($top_builddir); nothing runs until scenario_init.
# Functions use prefixed globals instead of `local` (not POSIX).
#
# Set-up and tear-down
#   scenario_init NAME [TOOL...]
#	Exits 77 when $KUBECTL is empty or a TOOL (git, curl, python3, ...) is
#	not on PATH, 1 when $top_builddir/keelson or kubesim is not built.
#	Sets scenario_name, KUBESIM, KEELSON; makes the work
#	directory $work (kept when KEEP_WORK or KEEP is set), sources
#	tests/lib/kubesim.sh and installs an EXIT/INT/TERM trap that kills the
#	processes whose pids are in the variables daemon, watch_pid, hook_pid
#	and those named with scenario_track, stops kubesim and removes $work.
#   scenario_need_plugin DIR FILE
#	PLUGINS=$builddir/DIR; exits 1 unless $PLUGINS/FILE is built.
#   scenario_track VAR...
#	The cleanup also kills the pids in these variables (read at exit).
#   SCENARIO_KILL (default TERM): the signal the cleanup sends.
#   fail MESSAGE...
#	Prints "FAIL [NAME: $step]: MESSAGE", the last $SCENARIO_TAIL (40)
#	lines of each file of $SCENARIO_LOGS (default "err daemon.log
#	watch.out kubesim.err", relative to $work) that exists, runs
#	$SCENARIO_ON_FAIL (a command, eval'd) if set, and exits 1.
#
# Waiting
#   scenario_wait [-q] SECONDS DESCRIPTION COMMAND...
#	Runs COMMAND until it succeeds, $SCENARIO_POLL_HZ (5) times a second,
#	at most SECONDS x SCENARIO_POLL_HZ tries, else fails "timed out after
#	SECONDS s waiting for: DESCRIPTION". -q discards COMMAND's output.
#	Fails at once when the keelson run in $daemon has exited, and, with
#	SCENARIO_FAIL_ON_BLOCK set and BLOCK_OK empty, when daemon.log says
#	'msg="system blocked'. SECONDS is multiplied by
#	$KEELSON_TEST_TIME_FACTOR (default 1; make check-valgrind sets 10:
#	keelson under valgrind is 10-50 times slower).
#   scenario_log_has FILE PATTERN: grep -q that does not complain about a
#	file that does not exist yet (a COMMAND for scenario_wait).
#
# The daemon (pid in $daemon, output appended to $work/daemon.log)
#   scenario_daemon_start [CONFIG]
#	keelson run --config CONFIG (default $CONFIG, else $work/keelson.yaml),
#	with --plugin-dir $PLUGINS when PLUGINS is set.
#   scenario_daemon_stop [-SIGNAL]
#	kill (default -TERM) and wait; returns keelson's exit status; does
#	nothing and returns 0 when no daemon runs.
#   scenario_roll_with_kills KILLS SECONDS COMMAND...
#	Runs daemons killed with SIGKILL after random delays (0.3 .. 2.3 s)
#	until COMMAND holds or KILLS kills happened (sets kills); then one
#	daemon (left running) has SECONDS to make COMMAND hold.
#   scenario_sync_until_converged CONFIG MAX_RUNS
#	keelson sync --once --config CONFIG (its pluginDir, if any) until it
#	exits 0 (converged), at most MAX_RUNS runs; each run
#	that exits 1 must log progress (a plugin step ran or waits); any other
#	exit fails. Sets runs; the last run's output is in $work/out and err.
#   scenario_http_base
#	Waits for the daemon's "HTTP server listening" log line and sets port
#	and base (http://127.0.0.1:PORT). Truncate daemon.log before starting
#	a daemon whose port is wanted.
#
# Git and configuration
#   git_in ARGS...        git -C $repo as user "test"; fails on error
#   scenario_repo_copy DIR MESSAGE
#	repo=$work/repo copied from DIR (made writable), git init -b main, all
#	committed with MESSAGE.
#   scenario_repo_skeleton NAME STATUS_BRANCH DRIFT_POLICY POLL_INTERVAL
#	repo=$work/repo with a Repository NAME (prune, the given statusBranch,
#	driftPolicy, pollInterval; driftCheckInterval 10m, alertRepeatInterval
#	1h) and clusters/sim/cluster.yaml (kubeContext kubesim).
#   scenario_system DIR NAME PLUGIN: $repo/DIR/system.yaml of a System.
#   scenario_color_app COLOR
#	clusters/sim/app: System app (plugin generic), Namespace app and
#	ConfigMap app/settings with data color: COLOR (settings.yaml).
#   scenario_git_init: git init -b main $repo.
#   scenario_commit MESSAGE: git add -A and commit in $repo.
#   scenario_config FILE [url=URL] [poll=D] [backoff=D] [kubeconfig=PATH]
#	[cache=DIR]
#	A keelson.yaml with git (url default $repo, ref main, cacheDir default
#	$work/gitcache, pollInterval default 1s), the cluster sim (kubeconfig
#	default $KUBECONFIG, context kubesim) and retry (initialBackoff 200ms,
#	maxBackoff default 1s). Append further sections with cat >>.
#   scenario_alerts_config FROM TO: TO is FROM plus an alerts section
#	sending to the webhook receiver (scenario_hook_start) once an hour.
#
# Receivers and ports
#   scenario_free_port: a TCP port free on 127.0.0.1 right now.
#   scenario_gitd_start SRVDIR REPO [keep-port]
#	`git daemon` (pushes enabled) serving SRVDIR on 127.0.0.1:$gport
#	until git ls-remote git://127.0.0.1:$gport/REPO answers; 5 tries of
#	5 s, each on a new free port unless keep-port (a restart on the port
#	the daemon was configured with). Sets gitd (pid; track it) and gport;
#	returns 1 when it does not start. Output appended to $work/gitd.log.
#   scenario_gitd_stop: stops it.
#   scenario_hook_start
#	A webhook receiver on 127.0.0.1 (pid in hook_pid): one line per POST
#	body in $work/hook.out; sets hook_url.
#   scenario_alertmanager_start
#	The Alertmanager binary $AM on a free port (up to 5 tries), storage
#	and configuration under $work; sets am (pid) and amurl; returns 1
#	when it does not start. set -e safe (tests/alerts/alertmanager.sh).
#
# Pods and kubesim
#   scenario_watch_start NS / scenario_watch_stop
#	kubectl watch of the pods of NS into $work/watch.out, one line per
#	event: "name uid deletionTimestamp ready" (pid in watch_pid).
#   scenario_incarnations: "pod count" of the uids seen per pod, sorted.
#   scenario_replaced_once POD...: the watch saw exactly two incarnations
#	of each POD and no other pod; prints the incarnations when not.
#   scenario_deletion_order: pods in the order they were first seen
#	terminating, one a line.
#   scenario_max_unavailable N: the most pods (of N) not Ready or
#	terminating at once, counted from when the watch had seen all N.
#   scenario_pod_uids NS: "name=uid " of every pod of NS.
#   scenario_assert_only_replaced BEFORE AFTER POD: fails unless exactly POD
#	changed uid between the two scenario_pod_uids listings.
#   scenario_violations: kubesim's invariant log, white space removed.
#   scenario_assert_no_violations: fails unless that log is empty.
#   scenario_requests_total: kubesim's request counter.
#   scenario_assert_idle: fails when kubesim counts requests over 3 s
#	(after 2 s to let the last cycle end).

scenario_name=${scenario_name:-scenario}
# Known before scenario_init: tests name their fixtures with them.
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
work=${work:-}
step=${step:-}
daemon=${daemon:-}
watch_pid=${watch_pid:-}
hook_pid=${hook_pid:-}
scenario_pid_vars="daemon watch_pid hook_pid"

scenario_init() {
	scenario_name=$1
	shift
	if [ -z "${KUBECTL:-}" ]; then
		echo "$scenario_name: KUBECTL is empty, skipping"
		exit 77
	fi
	for si_tool in "$@"; do
		command -v "$si_tool" >/dev/null 2>&1 || { echo "$scenario_name: no $si_tool, skipping"; exit 77; }
	done
	KUBESIM=$builddir/kubesim
	KEELSON=$builddir/keelson
	[ -x "$KUBESIM" ] || { echo "$scenario_name: $KUBESIM not built"; exit 1; }
	[ -x "$KEELSON" ] || { echo "$scenario_name: $KEELSON not built"; exit 1; }
	work=$(mktemp -d "${TMPDIR:-/tmp}/$scenario_name.XXXXXX") || exit 1
	. "$srcdir/tests/lib/kubesim.sh"
	trap scenario_cleanup EXIT INT TERM
}

scenario_need_plugin() {
	PLUGINS=$builddir/$1
	[ -f "$PLUGINS/$2" ] || { echo "$scenario_name: $PLUGINS/$2 is not built"; exit 1; }
}

scenario_track() {
	scenario_pid_vars="$scenario_pid_vars $*"
}

scenario_cleanup() {
	for sc_var in $scenario_pid_vars; do
		eval "sc_pid=\${$sc_var:-}"
		[ -n "$sc_pid" ] || continue
		kill "-${SCENARIO_KILL:-TERM}" "$sc_pid" 2>/dev/null
		wait "$sc_pid" 2>/dev/null
	done
	kubesim_stop
	[ -n "${KEEP_WORK:-}${KEEP:-}" ] || rm -rf "$work"
}

fail() {
	echo "FAIL [$scenario_name: $step]: $*"
	for sf_f in ${SCENARIO_LOGS:-err daemon.log watch.out kubesim.err}; do
		[ -f "$work/$sf_f" ] && { echo "--- $sf_f (last ${SCENARIO_TAIL:-40} lines)"; tail -n "${SCENARIO_TAIL:-40}" "$work/$sf_f"; }
	done
	[ -z "${SCENARIO_ON_FAIL:-}" ] || eval "$SCENARIO_ON_FAIL"
	exit 1
}

scenario_wait() {
	sw_quiet=
	if [ "$1" = -q ]; then
		sw_quiet=1
		shift
	fi
	sw_limit=$(($1 * ${KEELSON_TEST_TIME_FACTOR:-1} * ${SCENARIO_POLL_HZ:-5}))
	sw_what=$2
	shift 2
	sw_i=0
	sw_sleep=$(awk -v hz="${SCENARIO_POLL_HZ:-5}" 'BEGIN { printf "%.3f", 1 / hz }')
	while :; do
		if [ -n "$sw_quiet" ]; then
			"$@" >/dev/null 2>&1 && return 0
		else
			"$@" && return 0
		fi
		if [ -n "${SCENARIO_FAIL_ON_BLOCK:-}" ] && [ -z "${BLOCK_OK:-}" ] &&
			grep -q 'msg="system blocked' "$work/daemon.log" 2>/dev/null; then
			fail "the rollout blocked while waiting for: $sw_what"
		fi
		if [ -n "$daemon" ] && ! kill -0 "$daemon" 2>/dev/null; then
			fail "keelson run exited while waiting for: $sw_what"
		fi
		sw_i=$((sw_i + 1))
		[ $sw_i -le $sw_limit ] || fail "timed out after $((sw_limit / ${SCENARIO_POLL_HZ:-5}))s waiting for: $sw_what"
		sleep "$sw_sleep"
	done
}

scenario_log_has() {
	grep -q "$2" "$1" 2>/dev/null
}

scenario_daemon_start() {
	if [ -n "${PLUGINS:-}" ]; then
		"$KEELSON" run --config "${1:-${CONFIG:-$work/keelson.yaml}}" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
	else
		"$KEELSON" run --config "${1:-${CONFIG:-$work/keelson.yaml}}" >>"$work/daemon.log" 2>&1 &
	fi
	daemon=$!
}

scenario_daemon_stop() {
	[ -n "$daemon" ] || return 0
	kill "${1:--TERM}" "$daemon" 2>/dev/null
	sds_rc=0
	wait "$daemon" 2>/dev/null || sds_rc=$?
	daemon=
	return $sds_rc
}

scenario_roll_with_kills() {
	srk_kills_wanted=$1
	srk_limit=$2
	shift 2
	kills=0
	srk_n=0
	while [ $kills -lt "$srk_kills_wanted" ]; do
		srk_n=$((srk_n + 1))
		scenario_daemon_start
		srk_delay=$(awk -v s="$srk_n$$" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 2 }')
		sleep "$srk_delay"
		if "$@"; then
			return 0
		fi
		scenario_daemon_stop -9
		kills=$((kills + 1))
	done
	scenario_daemon_start
	scenario_wait "$srk_limit" "the roll finishing after $kills SIGKILLs" "$@"
}

scenario_sync_until_converged() {
	runs=0
	while :; do
		runs=$((runs + 1))
		[ $runs -le "$2" ] || fail "not converged after $2 sync runs"
		ssuc_rc=0
		"$KEELSON" sync --once --config "$1" >"$work/out" 2>"$work/err" || ssuc_rc=$?
		[ $ssuc_rc -eq 0 ] && return 0
		[ $ssuc_rc -eq 1 ] || fail "sync --once exited $ssuc_rc"
		grep -q "plugin step ran\|plugin waiting" "$work/err" || fail "a non-converged sync reported no progress"
		# Paces the runs like a daemon's cycles; each run waits for nothing.
		sleep 0.3
	done
}

scenario_http_base() {
	scenario_wait 60 "the HTTP server's port in the log" grep -q 'HTTP server listening' "$work/daemon.log"
	port=$(sed -n 's/.*HTTP server listening.* port=\([0-9][0-9]*\).*/\1/p' "$work/daemon.log" | head -n 1)
	[ -n "$port" ] || fail "no port in: $(grep 'HTTP server listening' "$work/daemon.log")"
	base="http://127.0.0.1:$port"
}

git_in() {
	git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"
}

scenario_git_init() {
	git init -q -b main "$repo" >/dev/null 2>&1 || fail "git init $repo"
}

scenario_commit() {
	git_in add -A
	git_in commit -q -m "$1"
}

scenario_repo_copy() {
	repo="$work/repo"
	cp -R "$1" "$repo" || fail "cannot copy $1"
	chmod -R u+w "$repo"
	scenario_git_init
	scenario_commit "$2"
}

scenario_repo_skeleton() {
	repo="$work/repo"
	mkdir -p "$repo/clusters/sim" || fail "mkdir $repo/clusters/sim"
	cat >"$repo/keelson.yaml" <<EOF
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: $1
spec:
  statusBranch: $2
  policy:
    prune: true
    driftPolicy: $3
    pollInterval: $4
    driftCheckInterval: 10m
    alertRepeatInterval: 1h
EOF
	cat >"$repo/clusters/sim/cluster.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Cluster
metadata:
  name: sim
spec:
  kubeContext: kubesim
EOF
}

scenario_system() {
	mkdir -p "$repo/$1" || fail "mkdir $repo/$1"
	cat >"$repo/$1/system.yaml" <<EOF
apiVersion: keelson.dev/v1alpha1
kind: System
metadata:
  name: $2
spec:
  plugin: $3
EOF
}

scenario_color_app() {
	scenario_system clusters/sim/app app generic
	cat >"$repo/clusters/sim/app/namespace.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: app
EOF
	cat >"$repo/clusters/sim/app/settings.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: app
data:
  color: $1
EOF
}

scenario_config() {
	scf_file=$1
	shift
	scf_url=$repo scf_poll=1s scf_backoff=1s scf_kubeconfig=$KUBECONFIG scf_cache=$work/gitcache
	for scf_arg in "$@"; do
		case $scf_arg in
		url=*) scf_url=${scf_arg#url=} ;;
		poll=*) scf_poll=${scf_arg#poll=} ;;
		backoff=*) scf_backoff=${scf_arg#backoff=} ;;
		kubeconfig=*) scf_kubeconfig=${scf_arg#kubeconfig=} ;;
		cache=*) scf_cache=${scf_arg#cache=} ;;
		*) fail "scenario_config: unknown setting '$scf_arg'" ;;
		esac
	done
	cat >"$scf_file" <<EOF
git:
  url: $scf_url
  ref: main
  cacheDir: $scf_cache
  pollInterval: $scf_poll
clusters:
  - name: sim
    kubeconfig: $scf_kubeconfig
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: $scf_backoff
EOF
}

scenario_alerts_config() {
	[ -n "${hook_url:-}" ] || fail "scenario_alerts_config before scenario_hook_start"
	cp "$1" "$2" || fail "cp $1 $2"
	printf 'alerts:\n  webhookUrl: %s\n  repeatInterval: 1h\n' "$hook_url" >>"$2"
}

scenario_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

scenario_gitd_start() {
	for sgs_attempt in 1 2 3 4 5; do
		[ -n "${gport:-}" ] || gport=$(scenario_free_port)
		git daemon --reuseaddr --listen=127.0.0.1 --port="$gport" --base-path="$1" --export-all \
			--enable=receive-pack --informative-errors "$1" >>"$work/gitd.log" 2>&1 &
		gitd=$!
		for _ in $(seq 50); do
			git ls-remote "git://127.0.0.1:$gport/$2" >/dev/null 2>&1 && return 0
			kill -0 "$gitd" 2>/dev/null || break
			sleep 0.1
		done
		kill "$gitd" 2>/dev/null
		wait "$gitd" 2>/dev/null
		gitd=
		[ "${3:-}" = keep-port ] || gport=
	done
	return 1
}

scenario_gitd_stop() {
	[ -n "${gitd:-}" ] || return 0
	kill "$gitd" 2>/dev/null
	wait "$gitd" 2>/dev/null
	gitd=
}

scenario_hook_start() {
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
# Written whole, then renamed: a reader never sees half a port number.
open(port_file + ".tmp", "w").write(str(srv.server_port))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
	hook_pid=$!
	scenario_wait 10 "the webhook receiver to listen" test -s "$work/hook.port"
	hook_url="http://127.0.0.1:$(cat "$work/hook.port")/hook"
}

scenario_alertmanager_start() {
	cat >"$work/alertmanager.yml" <<'YAML'
route:
  receiver: "null"
receivers:
  - name: "null"
YAML
	# A port found free can be taken before Alertmanager binds it: try a few.
	for sas_attempt in 1 2 3 4 5; do
		sas_port=$(scenario_free_port)
		"$AM" --config.file="$work/alertmanager.yml" --storage.path="$work/am-data" \
			--web.listen-address="127.0.0.1:$sas_port" --cluster.listen-address= \
			--log.level=warn >"$work/am.log" 2>&1 &
		am=$!
		for _ in $(seq 100); do
			if curl -fsS "http://127.0.0.1:$sas_port/-/ready" >/dev/null 2>&1; then
				amurl="http://127.0.0.1:$sas_port"
				return 0
			fi
			kill -0 "$am" 2>/dev/null || break
			sleep 0.1
		done
		kill "$am" 2>/dev/null || :
		wait "$am" 2>/dev/null || :
		am=
		echo "alertmanager did not start on port $sas_port (attempt $sas_attempt):"
		cat "$work/am.log"
	done
	return 1
}

scenario_watch_start() {
	# No --request-timeout: it would end the watch.
	"$KUBECTL" get pods -n "$1" -w \
		-o jsonpath='{.metadata.name} {.metadata.uid} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
		>"$work/watch.out" 2>"$work/watch.err" &
	watch_pid=$!
	# The watch must have listed the pods before anything changes them.
	sleep 1
}

scenario_watch_stop() {
	# The last events are still on their way.
	sleep 1
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	watch_pid=
}

scenario_incarnations() {
	awk 'NF >= 2 { seen[$1 " " $2] = 1 }
	     END { for (k in seen) { split(k, a, " "); n[a[1]]++ } for (p in n) print p, n[p] }' "$work/watch.out" | sort
}

scenario_replaced_once() {
	for sro_p in "$@"; do echo "$sro_p 2"; done | sort >"$work/incarnations.expected"
	scenario_incarnations >"$work/incarnations"
	cmp -s "$work/incarnations" "$work/incarnations.expected" || { cat "$work/incarnations"; return 1; }
}

scenario_deletion_order() {
	awk 'NF >= 3 && $3 ~ /T.*Z$/ && !seen[$1 " " $2]++ { print $1 }' "$work/watch.out"
}

scenario_max_unavailable() {
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

scenario_pod_uids() {
	"$KUBECTL" get pods -n "$1" -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'
}

scenario_assert_only_replaced() {
	saor_changed=0
	for saor_pair in $1; do
		case " $2 " in
		*" $saor_pair "*) ;;
		*)
			saor_changed=$((saor_changed + 1))
			case $saor_pair in "$3"=*) ;; *) fail "$saor_pair was touched" ;; esac
			;;
		esac
	done
	[ $saor_changed -eq 1 ] || fail "$saor_changed pods were replaced, expected only $3"
}

scenario_violations() {
	kubesim_curl /_sim/violations | tr -d ' \n'
}

scenario_assert_no_violations() {
	sanv=$(scenario_violations)
	case $sanv in *'"violations":[]'*) ;; *) fail "kubesim violations: $sanv" ;; esac
}

scenario_requests_total() {
	kubesim_curl /_sim/counters | sed -n 's/^{"total":\([0-9]*\).*/\1/p'
}

scenario_assert_idle() {
	sleep 2
	sai_before=$(scenario_requests_total)
	# Nothing to poll for: the absence of requests is what is checked.
	sleep 3
	sai_after=$(scenario_requests_total)
	[ -n "$sai_before" ] && [ "$sai_before" = "$sai_after" ] || fail "idle daemon made requests: $sai_before -> $sai_after"
}
