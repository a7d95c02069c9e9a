#!/bin/sh
# Scaling a one-rack datacenter (keyspaces with replication factor 3):
# 3 -> 5 adds one node at a time, the next only after the previous one
# joined (UJ to UN); 5 -> 4 decommissions cass-4 and waits until it has
# LEFT before the StatefulSet shrinks; 4 -> 2 decommissions cass-3, then
# refuses cass-2 (two nodes would be fewer than the replication factor):
# blocked with that reason, nothing decommissioned. kubesim's invariant log
# (two joins at once, a node removed without decommission, a decommission
# below the replication factor) stays empty. The PVCs of the nodes that left
# are kept by default; with deleteDecommissionedVolumes: true (and the
# StatefulSet back at 3) keelson deletes data-cass-3 and data-cass-4 and
# nothing else.
set -u
. "${top_srcdir:-.}/tests/cassandra/lib.sh"
cass_setup scale "$srcdir/tests/cassandra/repo"
sts="$repo/clusters/sim/cass/statefulset.yaml"
sed -i 's/replicas: 5/replicas: 3/' "$sts"
cass_commit "three nodes"
IMAGE=cassandra:4.1.5

step="initial deployment of three nodes"
cass_deploy cass cass-0 cass-1 cass-2

step="scale 3 -> 5: one join at a time"
mark=$(log_mark)
sed -i 's/replicas: 3/replicas: 5/' "$sts"
cass_commit "five nodes"
scenario_wait 100 "5 nodes Ready" pods_are cass cass-0 cass-1 cass-2 cass-3 cass-4
scenario_wait 30 "converged after scaling up" converged_since "$mark"
steps=$(tail -n +"$mark" "$work/daemon.log" | grep "running step" | sed -n 's/.*description="\([^"]*\)".*/\1/p')
echo "$steps" | grep -q "scale StatefulSet cass/cass to 4 replicas" || fail "no step to 4 replicas: $steps"
echo "$steps" | grep -q "scale StatefulSet cass/cass to 5 replicas" || fail "no step to 5 replicas: $steps"
# cass-3 was UN before 5 replicas were asked for.
l4=$(tail -n +"$mark" "$work/daemon.log" | grep -n "running step.*to 5 replicas" | head -n 1 | cut -d: -f1)
lw=$(tail -n +"$mark" "$work/daemon.log" | grep -n "plugin waiting.*cass/cass-3" | tail -n 1 | cut -d: -f1)
[ -n "$lw" ] && [ -n "$l4" ] && [ "$lw" -lt "$l4" ] || fail "keelson did not wait for cass-3 to join before adding cass-4"
scenario_assert_no_violations

step="scale 5 -> 4: decommission, LEFT, then shrink"
mark=$(log_mark)
sed -i 's/replicas: 5/replicas: 4/' "$sts"
cass_commit "four nodes"
scenario_wait 100 "4 nodes Ready" pods_are cass cass-0 cass-1 cass-2 cass-3
scenario_wait 30 "converged after scaling down" converged_since "$mark"
ran=$(tail -n +"$mark" "$work/daemon.log" | grep "running step")
echo "$ran" | head -n 1 | grep -q "decommission cass/cass-4" || fail "the first step was not the decommission of cass-4: $ran"
echo "$ran" | grep -q "shrink StatefulSet cass/cass to 4 replicas (cass-4 has LEFT the ring)" ||
	fail "the StatefulSet did not shrink after cass-4 left: $ran"
# Data is never deleted by default: cass-4's volume stays.
"$KUBECTL" get pvc data-cass-4 -n cass -o name >/dev/null 2>&1 || fail "PVC data-cass-4 was deleted by default"
scenario_assert_no_violations

step="scale 4 -> 2 with replication factor 3: cass-3 leaves, cass-2 is refused"
mark=$(log_mark)
sed -i 's/replicas: 4/replicas: 2/' "$sts"
cass_commit "two nodes"
scenario_wait 100 "the refusal" grep -q 'system blocked.*refusing to decommission cass/cass-2: datacenter dc1 would keep 2 nodes, fewer than the replication factor 3' "$work/daemon.log"
ran=$(tail -n +"$mark" "$work/daemon.log" | grep "running step")
echo "$ran" | grep -q "decommission cass/cass-3" || fail "cass-3 was not decommissioned first"
echo "$ran" | grep -q "decommission cass/cass-2" && fail "cass-2 was decommissioned"
IMAGE=cassandra:4.1.5
scenario_wait 30 "3 nodes Ready after cass-3 left" pods_are cass cass-0 cass-1 cass-2
replicas=$("$KUBECTL" get statefulset cass -n cass -o jsonpath='{.spec.replicas}')
[ "$replicas" = 3 ] || fail "StatefulSet cass has $replicas replicas, expected 3"
scenario_assert_no_violations

step="deleteDecommissionedVolumes: the PVCs of the nodes that LEFT go, each by its UID"
"$KUBECTL" get pvc data-cass-3 data-cass-4 -n cass -o name >/dev/null 2>&1 || fail "PVCs of cass-3/cass-4 missing before the opt-in"
keep=$("$KUBECTL" get pvc data-cass-0 data-cass-1 data-cass-2 -n cass -o jsonpath='{.items[*].metadata.uid}')
mark=$(log_mark)
sed -i 's/replicas: 2/replicas: 3/' "$sts"
printf '    deleteDecommissionedVolumes: true\n' >>"$repo/clusters/sim/cass/system.yaml"
cass_commit "three nodes, delete the volumes of decommissioned nodes"
scenario_wait 60 "PVCs data-cass-3 and data-cass-4 deleted" sh -c "! '$KUBECTL' get pvc data-cass-3 -n cass -o name >/dev/null 2>&1 && ! '$KUBECTL' get pvc data-cass-4 -n cass -o name >/dev/null 2>&1"
scenario_wait 30 "converged after the cleanup" converged_since "$mark"
ran=$(tail -n +"$mark" "$work/daemon.log" | grep "running step" | sed -n 's/.*description="\([^"]*\)".*/\1/p')
echo "$ran" | grep -q "delete PersistentVolumeClaim cass/data-cass-3 of decommissioned node cass-3" ||
	fail "no delete step for data-cass-3: $ran"
echo "$ran" | grep -q "delete PersistentVolumeClaim cass/data-cass-4 of decommissioned node cass-4" ||
	fail "no delete step for data-cass-4: $ran"
now=$("$KUBECTL" get pvc data-cass-0 data-cass-1 data-cass-2 -n cass -o jsonpath='{.items[*].metadata.uid}')
[ "$now" = "$keep" ] || fail "the volumes of running nodes changed: '$keep' -> '$now'"
scenario_wait 30 "3 nodes Ready" pods_are cass cass-0 cass-1 cass-2
scenario_assert_no_violations
echo "PASS"
exit 0
