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
mark=$(log_mark)
daemon_start
IMAGE=cassandra:4.1.5
wait_for 100 "5 nodes Ready" pods_are cass $pods
wait_for 30 "converged after the deployment" converged_since "$mark"
violations_empty

step="image bump: drained and restarted one at a time, highest ordinal first"
watch_start cass
mark=$(log_mark)
sed -i 's/cassandra:4.1.5/cassandra:4.1.6/' "$sts"
cass_commit "cassandra 4.1.6"
IMAGE=cassandra:4.1.6
wait_for 100 "all pods on 4.1.6 and Ready" pods_are cass $pods
wait_for 30 "converged after the bump" converged_since "$mark"
watch_stop
order=$(deletion_order)
[ "$order" = "cass-4 cass-3 cass-2 cass-1 cass-0 " ] || fail "pods deleted in the order '$order'"
max=$(max_unavailable 5)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"
for p in $pods; do
	n=$(tail -n +"$mark" "$work/daemon.log" | grep -c "running step.*drain cass/$p ")
	[ "$n" -ge 1 ] || fail "$p was not drained through the Management API before its restart"
done
grep -q "partition of StatefulSet cass/cass to 0" "$work/daemon.log" || fail "the partition was never lowered to 0"
violations_empty

step="a converged daemon makes no request (no probes while idle)"
counters_total() { kubesim_curl /_sim/counters | sed -n 's/^{"total":\([0-9]*\).*/\1/p'; }
sleep 2
idle_before=$(counters_total)
sleep 3
idle_after=$(counters_total)
[ -n "$idle_before" ] && [ "$idle_before" = "$idle_after" ] || fail "idle daemon made requests: $idle_before -> $idle_after"

step="image bump rolled by daemons killed with SIGKILL at random moments"
daemon_kill
watch_start cass
sed -i 's/cassandra:4.1.6/cassandra:4.1.7/' "$sts"
cass_commit "cassandra 4.1.7"
IMAGE=cassandra:4.1.7
mark=$(log_mark)
roll_with_kills 5 100 pods_are cass $pods
wait_for 30 "converged after the killed roll" converged_since "$mark"
echo "   rolled with $kills SIGKILLs"
[ "$kills" -ge 2 ] || fail "only $kills SIGKILLs happened; restarts were not exercised"
watch_stop
order=$(deletion_order)
[ "$order" = "cass-4 cass-3 cass-2 cass-1 cass-0 " ] || fail "pods deleted in the order '$order'"
awk 'NF >= 2 { seen[$1 " " $2] = 1 } END { for (k in seen) { split(k, a, " "); n[a[1]]++ } for (p in n) print p, n[p] }' \
	"$work/watch.out" | sort >"$work/incarnations"
printf 'cass-0 2\ncass-1 2\ncass-2 2\ncass-3 2\ncass-4 2\n' | cmp -s - "$work/incarnations" ||
	{ cat "$work/incarnations"; fail "a pod was not replaced exactly once"; }
max=$(max_unavailable 5)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"
violations_empty
echo "PASS"
exit 0
