#!/bin/sh
# The example repository's Cassandra system (repo-layout/example/clusters/
# prod-chicago/cassandra-chicago: 5 replicas, RollingUpdate, preStop
# `nodetool drain`, 1800 s grace, volume claim templates, no Management API),
# managed as written: created one join at a time, an image bump previewed by
# `keelson plan --base --head` (every restart, highest ordinal first, gates
# saying ring state is not verified), then rolled by keelson one pod at a
# time through the preStop drain with an empty invariant log; a
# scale-down is refused in the preview (no Management API to decommission).
set -u
. "${top_srcdir:-.}/tests/cassandra/lib.sh"
example="$srcdir/repo-layout/example"
tree="${TMPDIR:-/tmp}/cassandra-example-tree.$$"
mkdir -p "$tree/clusters/prod-chicago" || exit 1
cp "$example/keelson.yaml" "$tree/"
sed 's/kubeContext: prod-chicago/kubeContext: kubesim/' "$example/clusters/prod-chicago/cluster.yaml" \
	>"$tree/clusters/prod-chicago/cluster.yaml"
cp -R "$example/clusters/prod-chicago/cassandra-chicago" "$example/clusters/prod-chicago/platform" \
	"$tree/clusters/prod-chicago/"
cass_setup example "$tree"
rm -rf "$tree"
sed -i 's/name: sim/name: prod-chicago/' "$work/keelson.yaml"
sts="$repo/clusters/prod-chicago/cassandra-chicago/statefulset.yaml"
pods="cassandra-0 cassandra-1 cassandra-2 cassandra-3 cassandra-4"

step="the example's Cassandra system is created one join at a time"
IMAGE=cassandra:4.1.5
cass_deploy cassandra $pods
grep -q "ring state (UN/UJ/UL/DN) is not being verified" "$work/daemon.log" ||
	fail "the daemon did not warn that ring state is not verified"
scenario_assert_no_violations

step="keelson plan --base --head previews the roll"
# The daemon waits until the pod watch runs: it must see every deletion.
scenario_daemon_stop -9
sed -i 's/cassandra:4.1.5/cassandra:4.1.6/' "$sts"
cass_commit "cassandra 4.1.6"
"$KEELSON" plan --repo "$repo" --base HEAD~1 --head HEAD --plugin-dir "$PLUGINS" >"$work/plan.out" 2>"$work/plan.err"
rc=$?
[ $rc -eq 1 ] || { cat "$work/plan.out" "$work/plan.err"; fail "plan exited $rc, expected 1"; }
deletes=$(sed -n 's/.*\[delete-pod\] delete pod cassandra\/\(cassandra-[0-9]\).*/\1/p' "$work/plan.out" | tr '\n' ' ')
[ "$deletes" = "cassandra-4 cassandra-3 cassandra-2 cassandra-1 cassandra-0 " ] ||
	{ cat "$work/plan.out"; fail "the preview deletes '$deletes'"; }
grep -q "gate:.*ring state not verified (no managementApiPort)" "$work/plan.out" ||
	fail "the preview's gates do not say that ring state is not verified"
grep -q "\[http\]" "$work/plan.out" && fail "the preview drains through a Management API the pods do not have"

step="the image bump is rolled through the preStop drain, one pod at a time"
scenario_watch_start cassandra
mark=$(log_mark)
scenario_daemon_start
IMAGE=cassandra:4.1.6
scenario_wait 100 "all pods on 4.1.6 and Ready" pods_are cassandra $pods
scenario_wait 30 "converged after the bump" converged_since "$mark"
scenario_watch_stop
order=$(deletion_order)
[ "$order" = "cassandra-4 cassandra-3 cassandra-2 cassandra-1 cassandra-0 " ] ||
	fail "pods deleted in the order '$order'"
max=$(scenario_max_unavailable 5)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"
scenario_assert_no_violations

step="a scale-down is refused in the preview: nothing can decommission"
git -C "$repo" checkout -q -b scale-down || fail "git checkout"
sed -i 's/replicas: 5/replicas: 4/' "$sts"
cass_commit "four nodes"
"$KEELSON" plan --repo "$repo" --base main --head scale-down --plugin-dir "$PLUGINS" >"$work/plan.out" 2>"$work/plan.err"
rc=$?
[ $rc -eq 3 ] || { cat "$work/plan.out" "$work/plan.err"; fail "plan of a refused change exited $rc, expected 3"; }
grep -q "refused: StatefulSet cassandra/cassandra goes from 5 to 4 replicas, but without managementApiPort keelson can neither decommission cassandra-4" "$work/plan.out" ||
	{ cat "$work/plan.out"; fail "the preview does not refuse the scale-down"; }
echo "PASS"
exit 0
