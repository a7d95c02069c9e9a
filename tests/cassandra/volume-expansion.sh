#!/bin/sh
# A larger disk in the volume claim template. Without allowVolumeExpansion
# the rollout is refused with the safe sequence as the reason; with it,
# keelson carries the whole sequence out unattended: the PVCs are resized
# in place, the StatefulSet is deleted with propagation Orphan (its UID as
# precondition), re-created around the running pods (none deleted by the
# controller) and the nodes restarted one at a time, each once. Nothing
# blocks, the ring keeps the same nodes (host IDs: no data lost) and
# kubesim's invariant log stays empty.
set -u
. "${top_srcdir:-.}/tests/cassandra/lib.sh"
cass_setup volume-expansion "$srcdir/tests/cassandra/repo"
sts="$repo/clusters/sim/cass/statefulset.yaml"
system="$repo/clusters/sim/cass/system.yaml"
sed -i 's/replicas: 5/replicas: 3/' "$sts"
cass_commit "three nodes"
pods="cass-0 cass-1 cass-2"
IMAGE=cassandra:4.1.5

step="initial deployment"
cass_deploy cass $pods
# The host IDs of the Normal nodes of the ring as cass-0 sees them, sorted:
# a node that lost its data comes back with a new one.
host_ids() {
	"$KUBECTL" get --raw "/api/v1/namespaces/cass/pods/cass-0:8080/proxy/api/v0/metadata/endpoints" |
		python3 -c 'import json, sys
print(" ".join(sorted(e["HOST_ID"] for e in json.load(sys.stdin)["entity"] if e["STATUS"].startswith("NORMAL"))))'
}
before=$(scenario_pod_uids cass)

step="a larger disk without allowVolumeExpansion: refused with the safe sequence"
mark=$(log_mark)
sed -i 's/storage: 10Gi/storage: 20Gi/' "$sts"
cass_commit "20Gi disks"
scenario_wait 30 "the refusal" sh -c "tail -n +$mark '$work/daemon.log' | grep -q 'system blocked.*changes volumeClaimTemplates, which Kubernetes does not allow on a live StatefulSet. Safe sequence'"
[ "$(scenario_pod_uids cass)" = "$before" ] || fail "pods were touched"
size=$("$KUBECTL" get pvc data-cass-0 -n cass -o jsonpath='{.spec.resources.requests.storage}')
[ "$size" = 10Gi ] || fail "PVC data-cass-0 was resized to $size without allowVolumeExpansion"

step="allowVolumeExpansion: resize, orphaning delete, re-create, roll; nobody steps in"
host_ids_before=$(host_ids)
[ "$(echo "$host_ids_before" | wc -w)" = 3 ] || fail "expected 3 host IDs in the ring, got '$host_ids_before'"
sts_uid=$("$KUBECTL" get statefulset cass -n cass -o jsonpath='{.metadata.uid}')
scenario_watch_start cass
mark=$(log_mark)
printf '    allowVolumeExpansion: true\n' >>"$system"
cass_commit "allow volume expansion"
scenario_wait 60 "StatefulSet cass re-created" sh -c "uid=\$('$KUBECTL' get statefulset cass -n cass -o jsonpath='{.metadata.uid}' 2>/dev/null); [ -n \"\$uid\" ] && [ \"\$uid\" != '$sts_uid' ]"
scenario_wait 100 "converged after the re-create" converged_since "$mark"
scenario_wait 30 "3 nodes Ready" pods_are cass $pods
scenario_watch_stop
tail -n +"$mark" "$work/daemon.log" | grep -q "system blocked" && fail "the expansion blocked: $(grep 'system blocked' "$work/daemon.log" | tail -n 1)"
ran=$(tail -n +"$mark" "$work/daemon.log" | grep "running step" | sed -n 's/.*description="\([^"]*\)".*/\1/p')
for p in $pods; do
	echo "$ran" | grep -q "resize PersistentVolumeClaim cass/data-$p to 20Gi" || fail "data-$p was not resized: $ran"
	size=$("$KUBECTL" get pvc "data-$p" -n cass -o jsonpath='{.spec.resources.requests.storage}')
	[ "$size" = 20Gi ] || fail "PVC data-$p is $size, expected 20Gi"
done
echo "$ran" | grep -q "delete StatefulSet cass/cass keeping its pods and PVCs (propagation Orphan)" ||
	fail "no orphaning delete step ran: $ran"
echo "$ran" | grep -q "re-create StatefulSet cass/cass (rack rack1) with 3 replicas around its 3 running pods" ||
	fail "the StatefulSet was not re-created around its pods: $ran"
# The resizes come first, then the delete, then the re-create.
order=$(echo "$ran" | grep -n "resize PersistentVolumeClaim\|delete StatefulSet\|re-create StatefulSet" | cut -d: -f2- | cut -c1-10 | uniq | tr '\n' '|')
[ "$order" = "resize Per|delete Sta|re-create |" ] || fail "steps ran in the order '$order'"
vct=$("$KUBECTL" get statefulset cass -n cass -o jsonpath='{.spec.volumeClaimTemplates[0].spec.resources.requests.storage}')
[ "$vct" = 20Gi ] || fail "the re-created StatefulSet asks for $vct"
max=$(scenario_max_unavailable 3)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"
# Every node restarted exactly once, one at a time, highest ordinal first.
order=$(deletion_order)
[ "$order" = "cass-2 cass-1 cass-0 " ] || fail "pods deleted in the order '$order'"
# No data lost: the same nodes (host IDs) are in the ring.
host_ids_after=$(host_ids)
[ "$host_ids_after" = "$host_ids_before" ] ||
	fail "the ring's nodes changed: '$host_ids_before' -> '$host_ids_after' (a node lost its data)"
scenario_assert_no_violations
echo "PASS"
exit 0
