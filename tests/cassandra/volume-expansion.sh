#!/bin/sh
# A larger disk in the volume claim template. Without allowVolumeExpansion
# the rollout is refused with the safe sequence as the reason; with it, the
# PVCs are resized in place, then keelson blocks and asks for the
# orphaning re-create; after `kubectl delete statefulset --cascade=orphan`
# (and deleting the rollout state), keelson re-creates the StatefulSet
# around the running pods (none deleted by the controller) and restarts the
# nodes one at a time. kubesim's invariant log stays empty.
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
mark=$(log_mark)
daemon_start
wait_for 100 "3 nodes Ready" pods_are cass $pods
wait_for 30 "converged after the deployment" converged_since "$mark"
uids() { "$KUBECTL" get pods -n cass -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'; }
before=$(uids)

step="a larger disk without allowVolumeExpansion: refused with the safe sequence"
mark=$(log_mark)
sed -i 's/storage: 10Gi/storage: 20Gi/' "$sts"
cass_commit "20Gi disks"
wait_for 30 "the refusal" sh -c "tail -n +$mark '$work/daemon.log' | grep -q 'system blocked.*changes volumeClaimTemplates, which Kubernetes does not allow on a live StatefulSet. Safe sequence'"
[ "$(uids)" = "$before" ] || fail "pods were touched"
size=$("$KUBECTL" get pvc data-cass-0 -n cass -o jsonpath='{.spec.resources.requests.storage}')
[ "$size" = 10Gi ] || fail "PVC data-cass-0 was resized to $size without allowVolumeExpansion"

step="allowVolumeExpansion: PVCs resized, then the re-create is asked for"
mark=$(log_mark)
printf '    allowVolumeExpansion: true\n' >>"$system"
cass_commit "allow volume expansion"
wait_for 30 "the request to re-create" sh -c "tail -n +$mark '$work/daemon.log' | grep -q 'system blocked.*the PVCs of StatefulSet cass/cass are resized.*--cascade=orphan'"
for p in $pods; do
	size=$("$KUBECTL" get pvc "data-$p" -n cass -o jsonpath='{.spec.resources.requests.storage}')
	[ "$size" = 20Gi ] || fail "PVC data-$p is $size, expected 20Gi"
done
[ "$(uids)" = "$before" ] || fail "pods were touched while resizing"

step="orphaning re-create: pods adopted, then restarted one at a time"
watch_start cass
"$KUBECTL" delete statefulset cass -n cass --cascade=orphan >/dev/null || fail "kubectl delete --cascade=orphan"
"$KUBECTL" delete configmap keelson-rollout-sim-cass -n keelson-system >/dev/null || fail "deleting the rollout state"
mark=$(log_mark)
wait_for 30 "StatefulSet cass re-created" sh -c "'$KUBECTL' get statefulset cass -n cass -o name >/dev/null 2>&1"
vct=$("$KUBECTL" get statefulset cass -n cass -o jsonpath='{.spec.volumeClaimTemplates[0].spec.resources.requests.storage}')
[ "$vct" = 20Gi ] || fail "the re-created StatefulSet asks for $vct"
wait_for 100 "converged after the re-create" converged_since "$mark"
wait_for 30 "3 nodes Ready" pods_are cass $pods
watch_stop
tail -n +"$mark" "$work/daemon.log" | grep -q "running step.*re-create StatefulSet cass/cass (rack rack1) with 3 replicas around its 3 running pods" ||
	fail "the StatefulSet was not re-created around its pods"
max=$(max_unavailable 3)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"
order=$(deletion_order)
[ "$order" = "cass-2 cass-1 cass-0 " ] || fail "pods deleted in the order '$order'"
violations_empty
echo "PASS"
exit 0
