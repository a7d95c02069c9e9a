#!/bin/sh
# keelson sync --once and keelson run against kubesim, with the example
# repository in a local Git repository: first sync creates everything in
# dependency order (a CRD first, waited for until Established); diff finds
# no drift right after; an edit changes exactly the edited object; a removed
# manifest is pruned only where prune is on; kubectl-made drift is detected
# and healed by the daemon; an idle daemon makes no Kubernetes request; an
# invalid revision and an unreachable API server fail clearly.
# Needs $KUBECTL (skipped with 77 when empty), git, and $top_builddir.
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init reconcile-kubesim git curl
SCENARIO_LOGS="out err daemon.log"
SCENARIO_TAIL=60
kubesim_start "$work" --log-level error || exit 1

step=""
k() {
	"$KUBECTL" --request-timeout=20s "$@" >"$work/kubectl.out" 2>&1 ||
		{ cat "$work/kubectl.out"; fail "kubectl $* failed"; }
}
counters_total() {
	kubesim_curl /_sim/counters |
		sed -n 's/^{"total":\([0-9]*\).*/\1/p'
}

# The repository: the example, plus the SparkApplication CRD in the spark-etl
# system (so the CRD is applied first and waited for), with a short drift check.
repo="$work/repo"
cp -R "$srcdir/repo-layout/example" "$repo"
chmod -R u+w "$repo"
sed -i 's/driftCheckInterval: 10m/driftCheckInterval: 2s/' "$repo/keelson.yaml"
# This test is about the generic path. keelson refuses a revision whose
# systems name a plugin it has not loaded, and the kafka, cassandra and
# spark plugins are not built yet: run those systems as generic (no
# parameters). tests/reconcile/plugin-rollout-kubesim.sh covers plugins.
for f in "$repo"/clusters/*/*/system.yaml; do
	awk '/^  plugin: (kafka|cassandra|spark)$/ { print "  plugin: generic"; gen = 1; next }
	     gen && /^  parameters:/ { skip = 1; next }
	     skip && /^(    |$)/ { next }
	     { skip = 0; print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
done
cat >"$repo/clusters/prod-chicago/spark-etl/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: sparkapplications.sparkoperator.k8s.io
spec:
  group: sparkoperator.k8s.io
  scope: Namespaced
  names: {plural: sparkapplications, singular: sparkapplication, kind: SparkApplication}
  versions:
  - name: v1beta2
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
EOF
git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
git_in add -A
git_in commit -q -m "example repository"

cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1s
clusters:
  - name: prod-chicago
    kubeconfig: $KUBECONFIG
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: 2s
EOF

# ksync WANT_EXIT: keelson sync --once.
ksync() {
	"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
	got=$?
	[ "$got" = "$1" ] || fail "keelson sync exited $got, expected $1"
}
# Rank of a kind in apply order (what the log must show, never decreasing).
rank() {
	case "$1" in
	Namespace) echo 0 ;; CustomResourceDefinition) echo 1 ;;
	ServiceAccount | Role | RoleBinding | ClusterRole | ClusterRoleBinding) echo 2 ;;
	ConfigMap | Secret) echo 3 ;; Service) echo 4 ;; PersistentVolumeClaim) echo 5 ;;
	StatefulSet | Deployment | DaemonSet | Job | CronJob) echo 6 ;; *) echo 7 ;;
	esac
}

step="first sync creates everything"
ksync 0
grep -q "converged (" "$work/err" || fail "no converged summary"
grep -q "msg=applied" "$work/err" || fail "nothing logged as applied"
for sys in cassandra-chicago kafka-events platform spark-etl; do
	last=0
	for kind in $(grep "msg=applied" "$work/err" | grep "system=$sys " | sed -n 's/.* kind=\([A-Za-z]*\).*/\1/p'); do
		r=$(rank "$kind")
		[ "$r" -ge "$last" ] || fail "system $sys: $kind applied after a kind of rank $last"
		last=$r
	done
done
applied=$(grep -c "msg=applied" "$work/err")
[ "$applied" = 28 ] || fail "expected 28 objects applied, log shows $applied"
k get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}'
[ "$(cat "$work/kubectl.out")" = 3 ] || fail "StatefulSet kafka not created as written"
k get sparkapplication orders-daily -n spark-etl -o name
k get priorityclass stateful-critical -o jsonpath='{.metadata.labels.keelson\.dev/system}'
[ "$(cat "$work/kubectl.out")" = platform ] || fail "PriorityClass lacks keelson's system label"
k get configmap keelson-inventory-prod-chicago-kafka-events -n keelson-system -o jsonpath='{.data.objects}'
grep -q '"kind":"StatefulSet","namespace":"kafka-events","name":"kafka","uid":"[^"]' "$work/kubectl.out" ||
	fail "inventory lacks the StatefulSet with its uid: $(cat "$work/kubectl.out")"

step="no false drift right after the sync"
"$KEELSON" diff --repo "$repo" --kubeconfig "$KUBECONFIG" --cluster prod-chicago --context kubesim \
	>"$work/out" 2>"$work/err" || fail "keelson diff reports differences right after sync"
grep -q "28 in sync, 0 drifted, 0 missing" "$work/err" || fail "diff summary: $(cat "$work/err")"

step="second sync applies nothing"
ksync 0
grep -q "msg=applied" "$work/err" && fail "a converged revision was applied again"
grep -q "0 applied, 0 pruned" "$work/err" || fail "summary: $(tail -n 1 "$work/err")"

step="an edit changes exactly the edited object"
rvs() {
	# A StatefulSet by generation, labels and annotations, not by
	# resourceVersion: kubesim's controllers write its status while the pods
	# start (for minutes without a clock factor), and a slow keelson (under
	# valgrind, 10 s a sync) leaves time for such a write between the two
	# listings.
	{
		"$KUBECTL" get statefulsets -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}=g{.metadata.generation} {.metadata.labels} {.metadata.annotations}{"\n"}{end}'
		"$KUBECTL" get services,configmaps,serviceaccounts -A \
			-o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'
	} | grep -v keelson-system | sort
}
rvs >"$work/rv.before"
sed -i 's/^  replicas: 3$/  replicas: 4/' "$repo/clusters/prod-chicago/kafka-events/statefulset.yaml"
git_in commit -q -am "kafka: 4 brokers"
ksync 0
[ "$(grep -c "msg=applied" "$work/err")" = 1 ] || fail "expected one object applied"
grep "msg=applied" "$work/err" | grep -q "kind=StatefulSet namespace=kafka-events name=kafka" ||
	fail "the applied object is not the edited StatefulSet"
rvs >"$work/rv.after"
changed=$(diff "$work/rv.before" "$work/rv.after" | grep -c '^>')
[ "$changed" = 1 ] || fail "$changed objects changed, expected 1: $(diff "$work/rv.before" "$work/rv.after")"
grep -q "^kafka-events/kafka=" "$work/rv.before" || fail "rv listing broken"
k get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}'
[ "$(cat "$work/kubectl.out")" = 4 ] || fail "replicas not applied"

step="removed manifests: pruned only where prune is on"
git_in rm -q clusters/prod-chicago/kafka-events/pdb.yaml clusters/prod-chicago/platform/priorityclass.yaml
git_in commit -q -m "remove the kafka PDB and the PriorityClass"
ksync 0
"$KUBECTL" get pdb kafka -n kafka-events >/dev/null 2>&1 && fail "PDB kafka (prune on) was not pruned"
k get priorityclass stateful-critical -o name
grep -q "msg=pruned.*kind=PodDisruptionBudget" "$work/err" || fail "prune not logged"
grep -q "prune is off.*kind=PriorityClass" "$work/err" || fail "held prune not logged"
k get configmap keelson-inventory-prod-chicago-kafka-events -n keelson-system -o jsonpath='{.data.objects}'
grep -q PodDisruptionBudget "$work/kubectl.out" && fail "pruned object still in the inventory"
k get pdb cassandra -n cassandra -o name

step="an object keelson did not create is never pruned"
k create configmap hand-made -n kafka-events
git_in commit -q --allow-empty -m "nothing"
ksync 0
k get configmap hand-made -n kafka-events -o name

step="daemon: drift made with kubectl is detected and healed"
"$KEELSON" --log-level debug run --config "$work/keelson.yaml" >"$work/daemon.out" 2>"$work/daemon.log" &
daemon=$!
i=0
until grep -q 'msg="reconcile cycle done".*converged=true' "$work/daemon.log"; do
	i=$((i + 1))
	[ $i -gt 300 ] && fail "daemon did not converge"
	kill -0 "$daemon" 2>/dev/null || fail "daemon exited"
	sleep 0.1
done
k patch statefulset kafka -n kafka-events --type merge -p '{"spec":{"replicas":7}}'
i=0
until grep -q 'drift detected; healing.*field=/spec/replicas' "$work/daemon.log"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "drift not detected"
	sleep 0.1
done
grep 'drift detected; healing' "$work/daemon.log" | grep -q 'file=clusters/prod-chicago/kafka-events/statefulset.yaml:14:' ||
	fail "drift not reported with file:line"
i=0
until [ "$("$KUBECTL" get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}')" = 4 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "drift not healed"
	sleep 0.1
done

step="idle daemon makes no Kubernetes request"
sleep 2
before=$(counters_total)
[ -n "$before" ] || fail "cannot read kubesim counters"
lines_before=$(grep -c 'msg="reconcile cycle done"' "$work/daemon.log")
sleep 5
after=$(counters_total)
lines_after=$(grep -c 'msg="reconcile cycle done"' "$work/daemon.log")
[ "$before" = "$after" ] || fail "idle daemon made $((after - before)) requests"
[ "$lines_after" -gt "$lines_before" ] || fail "no full drift-check cycle ran in the idle window"

step="daemon applies a new revision as soon as it is committed"
sed -i 's/^  replicas: 4$/  replicas: 3/' "$repo/clusters/prod-chicago/kafka-events/statefulset.yaml"
git_in commit -q -am "kafka: back to 3"
i=0
until [ "$("$KUBECTL" get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}')" = 3 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "new revision not applied by the daemon"
	sleep 0.1
done

step="driftPolicy alert: drift is reported once, not healed"
system_yaml="$repo/clusters/prod-chicago/kafka-events/system.yaml"
cp "$system_yaml" "$work/system.yaml.orig"
printf '  policy:\n    driftPolicy: alert\n' >>"$system_yaml"
git_in commit -q -am "kafka-events: alert on drift"
alert_rev=$(git -C "$repo" rev-parse HEAD)
inv_rev() {
	"$KUBECTL" get configmap keelson-inventory-prod-chicago-kafka-events -n keelson-system \
		-o jsonpath='{.metadata.annotations.keelson\.dev/revision}' 2>/dev/null
}
i=0
until [ "$(inv_rev)" = "$alert_rev" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "daemon did not take the alert revision"
	sleep 0.1
done
k patch statefulset kafka -n kafka-events --type merge -p '{"spec":{"replicas":6}}'
i=0
until grep -q 'drift detected; not healed (driftPolicy alert).*field=/spec/replicas.*live=6' "$work/daemon.log"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "alert drift not reported"
	sleep 0.1
done
sleep 3
k get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}'
[ "$(cat "$work/kubectl.out")" = 6 ] || fail "drift was healed under driftPolicy alert"
n=$(grep -c 'drift detected; not healed (driftPolicy alert).*live=6' "$work/daemon.log")
[ "$n" = 1 ] || fail "the same drift was reported $n times within alertRepeatInterval"
ksync 1
grep -q "1 drifted" "$work/err" || fail "sync --once does not count the drift"
cp "$work/system.yaml.orig" "$system_yaml"
git_in commit -q -am "kafka-events: heal again"
i=0
until [ "$("$KUBECTL" get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}')" = 3 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the next revision did not take the field back"
	sleep 0.1
done

step="SIGHUP reloads the configuration"
kill -HUP "$daemon"
i=0
until grep -q 'msg="configuration reloaded"' "$work/daemon.log"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "SIGHUP did not reload"
	sleep 0.1
done
kill -0 "$daemon" 2>/dev/null || fail "daemon died on SIGHUP"

step="SIGTERM stops the daemon cleanly"
kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=
[ "$rc" = 0 ] || fail "daemon exited $rc on SIGTERM"
grep -q 'msg="keelson stopped"' "$work/daemon.log" || fail "no clean stop"

step="an immutable-field change is not applied; it needs a planned operation"
sts="$repo/clusters/prod-chicago/cassandra-chicago/statefulset.yaml"
sed -i 's/^            storage: 500Gi$/            storage: 1Ti/' "$sts"
git_in commit -q -am "cassandra: bigger volumes"
ksync 1
grep -q 'needs a planned operation.*kind=StatefulSet namespace=cassandra name=cassandra field=/spec/volumeClaimTemplates' "$work/err" ||
	fail "immutable change not reported"
grep -q "1 blocked" "$work/err" || fail "summary does not count the blocked change"
k get statefulset cassandra -n cassandra -o jsonpath='{.spec.volumeClaimTemplates[0].spec.resources.requests.storage}'
[ "$(cat "$work/kubectl.out")" = 500Gi ] || fail "the immutable change was applied"
sed -i 's/^            storage: 1Ti$/            storage: 500Gi/' "$sts"
git_in commit -q -am "cassandra: volumes as they are"
ksync 0

step="an invalid revision is rejected whole; the cluster keeps the last good one"
sed -i 's/^  replicas: 3$/  replicas: 5/' "$repo/clusters/prod-chicago/kafka-events/statefulset.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  namespace: kafka-events\n  bad: [\n' \
	>"$repo/clusters/prod-chicago/kafka-events/broken.yaml"
good_rev=$(git -C "$repo" rev-parse HEAD)
git_in add -A
git_in commit -q -m "broken"
ksync 1
grep -q "clusters/prod-chicago/kafka-events/broken.yaml:" "$work/err" || fail "problem without its file"
grep -q "revision rejected" "$work/err" || fail "rejection not said"
# A fresh process (as after a restart) starting on the invalid commit keeps
# the last valid one in force instead of having none.
grep -q "started on an invalid commit: the last valid one is in force.*revision=$good_rev" "$work/err" ||
	fail "a process starting on an invalid commit did not put the last valid one in force"
k get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}'
[ "$(cat "$work/kubectl.out")" = 3 ] || fail "part of an invalid revision was applied"

step="failing requests: reported per object, retried, nothing recorded as done"
sim_faults() {
	kubesim_curl /_sim/faults -H "Content-Type: application/json" -X POST -d "$1" >/dev/null ||
		fail "cannot set kubesim faults"
}
sed -i 's/^  replicas: [0-9]*$/  replicas: 2/' "$repo/clusters/prod-chicago/kafka-events/statefulset.yaml"
git_in rm -q clusters/prod-chicago/kafka-events/broken.yaml
git_in commit -q -am "kafka: 2 brokers"
new_rev=$(git -C "$repo" rev-parse HEAD)
sim_faults '{"errorRate":{"patch":1}}'
ksync 1
grep -q 'msg="apply failed".*kind=StatefulSet namespace=kafka-events name=kafka.*file=clusters/prod-chicago/kafka-events/statefulset.yaml' "$work/err" ||
	fail "failed apply not reported with the object and its file"
grep -q "not pruning: earlier steps failed" "$work/err" || fail "prune not held after a failure"
[ "$(inv_rev)" != "$new_rev" ] || fail "a failed revision was recorded as converged"
sim_faults '{}'
ksync 0
[ "$(inv_rev)" = "$new_rev" ] || fail "converged revision not recorded"
k get statefulset kafka -n kafka-events -o jsonpath='{.spec.replicas}'
[ "$(cat "$work/kubectl.out")" = 2 ] || fail "revision not applied after the fault cleared"

step="rejected credentials fail clearly"
sed "s/^\( *token: \).*/\1wrong-token/" "$KUBECONFIG" >"$work/kubeconfig.bad"
sed "s|kubeconfig: $KUBECONFIG|kubeconfig: $work/kubeconfig.bad|" "$work/keelson.yaml" >"$work/keelson-bad.yaml"
"$KEELSON" sync --once --config "$work/keelson-bad.yaml" >"$work/out" 2>"$work/err"
[ $? = 1 ] || fail "sync with a rejected token should exit 1"
grep -q 'cluster not reconciled.*cluster=prod-chicago' "$work/err" || fail "no message naming the cluster"
grep -qi 'credentials\|unauthori' "$work/err" || fail "message does not point at the credentials"

step="an unreachable API server fails clearly"
kubesim_stop
ksync 1
grep -q "cluster not reconciled" "$work/err" || fail "no clear message for an unreachable server"
grep -q "NOT converged" "$work/err" || fail "summary does not say NOT converged"

step="bad usage"
"$KEELSON" sync --once >"$work/out" 2>"$work/err"
[ $? = 2 ] || fail "sync without --config should exit 2"
printf 'git:\n  url: x\n  cacheDir: /tmp\n  pollIntreval: 1s\nclusters: [{name: a}]\n' >"$work/bad.yaml"
"$KEELSON" sync --once --config "$work/bad.yaml" >"$work/out" 2>"$work/err"
[ $? = 2 ] || fail "an invalid configuration should exit 2"
grep -q 'bad.yaml:4:3: unknown key "pollIntreval"' "$work/err" || fail "config error without position"

echo "reconcile-kubesim: all steps passed"
