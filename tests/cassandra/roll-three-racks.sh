#!/bin/sh
# Six nodes in three racks (one OnDelete StatefulSet per rack, Parallel pod
# management, cass-operator labels): the datacenter is created one join at
# a time; an image bump restarts the nodes rack by rack (rack order of
# spec.parameters.statefulSets), one at a time, each drained first, with
# the rack quiet period between racks; then a change of the mounted
# ConfigMap (no template change in Git) restarts every node again, rolled
# by daemons killed with SIGKILL at random moments. kubesim's invariant log
# stays empty throughout.
set -u
. "${top_srcdir:-.}/tests/cassandra/lib.sh"
cass_setup roll-three-racks "$srcdir/tests/cassandra/repo-racks"
dir="$repo/clusters/sim/cass"
pods="cass-a-0 cass-a-1 cass-b-0 cass-b-1 cass-c-0 cass-c-1"
expected="cass-a-1 cass-a-0 cass-b-1 cass-b-0 cass-c-1 cass-c-0 "

# Seconds of the day of the first daemon log line matching $1.
log_time() {
	grep "$1" "$work/daemon.log" | head -n 1 |
		sed -n 's/^time=[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9.]*\)Z.*/\1 \2 \3/p' |
		awk '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 }'
}

# Every pod at its StatefulSet's updateRevision and Ready.
all_current() {
	for r in a b c; do
		rev=$("$KUBECTL" get statefulset "cass-$r" -n cass -o jsonpath='{.status.updateRevision}') || return 1
		got=$("$KUBECTL" get pods -n cass -l "cassandra.datastax.com/rack=rack-$r" \
			-o jsonpath='{range .items[*]}{.metadata.labels.controller-revision-hash},{.status.conditions[?(@.type=="Ready")].status} {end}')
		[ "$got" = "$rev,True $rev,True " ] || return 1
	done
}

config_hash() {
	"$KUBECTL" get statefulset "cass-$1" -n cass \
		-o jsonpath='{.spec.template.metadata.annotations.cassandra\.keelson\.dev/config-hash}'
}

step="initial deployment: six nodes join one at a time"
IMAGE=cassandra:4.1.5
cass_deploy cass $pods
scenario_assert_no_violations

step="image bump: rack by rack, one node at a time, quiet period between racks"
cass_bump_image 4.1.5 4.1.6 "$expected" "$dir"/statefulset-*.yaml
for r in b c; do
	start=$(log_time "running step.*start the quiet period of rack rack-$r")
	first=$(log_time "running step.*drain cass/cass-$r-1 ")
	[ -n "$start" ] && [ -n "$first" ] || fail "no quiet period logged before rack rack-$r"
	awk -v a="$start" -v b="$first" 'BEGIN { exit !(b - a >= 3) }' ||
		fail "rack rack-$r started $start -> $first, before its 3 s quiet period ended"
done
scenario_assert_no_violations

step="a change of the mounted ConfigMap restarts every node (daemons killed with SIGKILL)"
scenario_daemon_stop -9
before_a=$(config_hash a)
[ -n "$before_a" ] || fail "StatefulSet cass-a carries no configuration hash"
scenario_watch_start cass
sed -i 's/concurrent_reads: 32/concurrent_reads: 64/' "$dir/configmap.yaml"
cass_commit "cassandra: concurrent_reads 64"
new_config() { [ "$(config_hash a)" != "$before_a" ] && [ "$(config_hash c)" = "$(config_hash a)" ] && all_current; }
cass_roll_with_kills 4 new_config
cass_check_roll "$expected" $pods
echo "PASS"
exit 0
