# Shared plumbing of the Cassandra scenario tests (POSIX sh; source it).
# Each test: kubesim with the Cassandra model at an accelerated clock, a
# local Git repository copied from a fixture under tests/cassandra/, and
# `keelson run --plugin-dir` with the cassandra plugin of the build. The
# generic plumbing (fail, scenario_wait, scenario_daemon_start/stop, the pod
# watch and its analysis, the webhook receiver, kubesim's invariant log) is
# tests/lib/scenario.sh.
#
#   cass_setup NAME FIXTURE [kubesim args...]   work dir, kubesim, repo, config
#   cass_commit MESSAGE                         commit everything in $repo
#   pods_are NS POD...                          exactly these pods, Ready, $IMAGE
#   cass_deploy NS POD...                       keelson run until pods_are and converged
#   log_mark / converged_since MARK             daemon.log position, converged after it
#   cass_roll_with_kills KILLS COMMAND...       a roll by daemons killed with SIGKILL
#   cass_bump_image FROM TO ORDER FILE...       an image bump rolled and checked
#   cass_check_roll ORDER POD...                the watch of a roll: order, once, one down
# Needs $KUBECTL, git, curl, python3 (webhook receiver only) and $top_builddir.

. "${top_srcdir:-.}/tests/lib/scenario.sh"
CLOCK_FACTOR=${CLOCK_FACTOR:-25}
# Daemons are always stopped with SIGKILL here, also by the cleanup.
SCENARIO_KILL=KILL
SCENARIO_LOGS="daemon.log watch.out kubesim.err hook.out"

cass_setup() {
	cass_name=$1
	fixture=$2
	shift 2
	scenario_init "$cass_name" git curl
	scenario_need_plugin plugins/cassandra/.libs cassandra.so
	kubesim_start "$work" --log-level error --clock-factor "$CLOCK_FACTOR" "$@" || fail "kubesim did not start"
	scenario_repo_copy "$fixture" "initial"
	scenario_config "$work/keelson.yaml"
	: >"$work/daemon.log"
}

cass_commit() {
	scenario_commit "$1"
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

# Starts keelson run and waits until the pods of NS are exactly POD..., Ready
# with $IMAGE, and the rollout converged; the daemon keeps running.
cass_deploy() {
	cd_mark=$(log_mark)
	scenario_daemon_start
	cd_ns=$1
	shift
	scenario_wait 100 "$# nodes Ready" pods_are "$cd_ns" "$@"
	scenario_wait 30 "converged after the deployment" converged_since "$cd_mark"
}

converged_since() {
	tail -n +"$1" "$work/daemon.log" | grep -q "plugin rollout converged"
}

log_mark() {
	echo $(($(wc -l <"$work/daemon.log") + 1))
}

# Daemons killed with SIGKILL at random moments (KILLS at most, 2 at least)
# until COMMAND holds, then converged; the last daemon keeps running.
cass_roll_with_kills() {
	crk_kills=$1
	shift
	crk_mark=$(log_mark)
	scenario_roll_with_kills "$crk_kills" 100 "$@"
	scenario_wait 30 "converged after the killed roll" converged_since "$crk_mark"
	echo "   rolled with $kills SIGKILLs"
	[ "$kills" -ge 2 ] || fail "only $kills SIGKILLs happened; restarts were not exercised"
}

# Stops the pod watch and checks the roll it saw: the pods deleted in ORDER
# ("a b c "), each POD replaced exactly once, never two unavailable at once;
# kubesim's invariant log empty.
cass_check_roll() {
	ccr_expected=$1
	shift
	scenario_watch_stop
	ccr_order=$(deletion_order)
	[ "$ccr_order" = "$ccr_expected" ] || fail "pods deleted in the order '$ccr_order', expected '$ccr_expected'"
	scenario_replaced_once "$@" || fail "a pod was not replaced exactly once"
	ccr_max=$(scenario_max_unavailable $#)
	[ "$ccr_max" -le 1 ] || fail "$ccr_max pods were unavailable at once"
	scenario_assert_no_violations
}

# An image bump FROM -> TO in FILE..., committed and rolled by the running
# daemon while a pod watch records it: every pod of $pods (namespace cass)
# back Ready on TO, converged, checked by cass_check_roll ORDER, and each
# drained through the Management API before its restart. Sets IMAGE=TO.
cass_bump_image() {
	cbi_from=$1 cbi_to=$2 cbi_order=$3
	shift 3
	scenario_watch_start cass
	cbi_mark=$(log_mark)
	sed -i "s/cassandra:$cbi_from/cassandra:$cbi_to/" "$@" || fail "cannot edit $*"
	cass_commit "cassandra $cbi_to"
	IMAGE=cassandra:$cbi_to
	scenario_wait 100 "all pods on $cbi_to and Ready" pods_are cass $pods
	scenario_wait 30 "converged after the bump" converged_since "$cbi_mark"
	cass_check_roll "$cbi_order" $pods
	for cbi_p in $pods; do
		tail -n +"$cbi_mark" "$work/daemon.log" | grep -q "running step.*drain cass/$cbi_p " ||
			fail "$cbi_p was not drained through the Management API before its restart"
	done
}

# Pods in the order keelson (or a controller) started deleting them, on one
# line: "a b c ".
deletion_order() {
	scenario_deletion_order | tr '\n' ' '
}
