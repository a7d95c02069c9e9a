# Shared set-up of the kafka plugin scenario tests (POSIX sh; sourced).
# The generic plumbing (fail, git_in, scenario_wait, the daemon, the pod
# watch and its analysis, kubesim's invariant log) is tests/lib/scenario.sh.
#
# kafka_setup NAME [kubesim args]
#	kubesim with the simulated clock at 20x, a Git repository copied from
#	tests/kafka/repo and a keelson configuration ($work/keelson.yaml); sets
#	work, repo, sts, system, KEELSON, PLUGINS. Waits fail as soon as the
#	rollout blocks, unless BLOCK_OK is set.
# kafka_deploy [N]
#	keelson run until the N (5) brokers of the first commit are Ready and
#	the rollout converged (the daemon is stopped afterwards).
# k ARGS...: kubectl with a request timeout.
# metric POD NAME, active_controller, all_images, all_ready N, converged
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
SCENARIO_FAIL_ON_BLOCK=1

k() {
	"$KUBECTL" --request-timeout=20s "$@"
}

kafka_setup() {
	kafka_name=$1
	shift
	scenario_init "$kafka_name" git curl
	scenario_need_plugin plugins/kafka/.libs kafka.so
	kubesim_start "$work" --log-level error --clock-factor 20 "$@" || fail "kubesim did not start"
	scenario_repo_copy "$srcdir/tests/kafka/repo" "kafka, 5 brokers"
	sts="$repo/clusters/sim/kafka/statefulset.yaml"
	system="$repo/clusters/sim/kafka/system.yaml"
	scenario_config "$work/keelson.yaml"
	: >"$work/daemon.log"
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

converged() {
	grep -q "plugin rollout converged" "$work/daemon.log"
}

kafka_deploy() {
	step="first deployment"
	scenario_daemon_start
	scenario_wait 90 "${1:-5} brokers Ready" all_ready "${1:-5}"
	scenario_wait 60 "the first rollout converged" converged
	scenario_daemon_stop
	: >"$work/daemon.log"
	scenario_assert_no_violations
}
