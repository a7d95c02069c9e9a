#!/bin/sh
# Image bumps of a 5-node, one-rack datacenter (RollingUpdate StatefulSet,
# Management API on port 8080) rolled by `keelson run` with the cassandra
# plugin in kubesim: every node drained, then its pod deleted, one at a
# time from the highest ordinal down, each back Up/Normal before the next;
# kubesim's invariant log (stopped without drain, two nodes down at once)
# stays empty. The second bump is rolled by daemons killed with SIGKILL at
# random moments: every pod is still replaced exactly once, in order.
set -u
. "${top_srcdir:-.}/tests/cassandra/lib.sh"
cass_setup roll-one-rack "$srcdir/tests/cassandra/repo"
sts="$repo/clusters/sim/cass/statefulset.yaml"
pods="cass-0 cass-1 cass-2 cass-3 cass-4"

step="initial deployment: five nodes join one at a time"
IMAGE=cassandra:4.1.5
cass_deploy cass $pods
scenario_assert_no_violations

step="image bump: drained and restarted one at a time, highest ordinal first"
cass_bump_image 4.1.5 4.1.6 "cass-4 cass-3 cass-2 cass-1 cass-0 " "$sts"
grep -q "partition of StatefulSet cass/cass to 0" "$work/daemon.log" || fail "the partition was never lowered to 0"
scenario_assert_no_violations

step="a converged daemon makes no request (no probes while idle)"
scenario_assert_idle

step="image bump rolled by daemons killed with SIGKILL at random moments"
scenario_daemon_stop -9
scenario_watch_start cass
sed -i 's/cassandra:4.1.6/cassandra:4.1.7/' "$sts"
cass_commit "cassandra 4.1.7"
IMAGE=cassandra:4.1.7
cass_roll_with_kills 5 pods_are cass $pods
cass_check_roll "cass-4 cass-3 cass-2 cass-1 cass-0 " $pods
echo "PASS"
exit 0
