#!/bin/sh
# The real kubectl against kubesim: every step asserts its result.
# Needs $KUBECTL (skipped with 77 when empty) and $top_builddir (for the
# kubesim binary). On failure prints the step, kubectl's output and the end
# of kubesim's log; rerun one command with -v=8 to see the HTTP exchange.
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "kubectl-proof: KUBECTL is empty, skipping"
	exit 77
fi
KUBESIM=${top_builddir:-.}/kubesim
[ -x "$KUBESIM" ] || { echo "kubectl-proof: $KUBESIM not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-proof.XXXXXX")
. "${top_srcdir:-.}/tests/lib/kubesim.sh"
watch_pid=
cert_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
	[ -n "$cert_pid" ] && kill "$cert_pid" 2>/dev/null
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

kubesim_start "$work" --log-level error || exit 1

step=""
fail() {
	echo "FAIL [$step]: $*"
	[ -f "$work/last" ] && { echo "--- kubectl output"; cat "$work/last"; }
	echo "--- kubesim log (tail)"
	tail -20 "$work/kubesim.err"
	exit 1
}
# k ARGS...: run kubectl, output in $work/last, returns kubectl's status.
k() {
	"$KUBECTL" --request-timeout=60s "$@" >"$work/last" 2>&1
}
ok() { k "$@" || fail "kubectl $* exited $?"; }
expect() { # expect WANT GOT WHAT
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}
contains() { # contains NEEDLE WHAT
	grep -q -- "$1" "$work/last" || fail "$2: output lacks '$1'"
}
jp() { # jp RESOURCE JSONPATH
	"$KUBECTL" --request-timeout=60s get "$1" -o "jsonpath=$2" 2>"$work/last.err"
}

step="version"
ok version
contains "Server Version: v1.32.9" "kubectl version"

step="api-resources"
ok api-resources
contains "statefulsets.*sts.*apps/v1.*true.*StatefulSet" "api-resources"
contains "leases.*coordination.k8s.io/v1" "api-resources"
contains "customresourcedefinitions.*crd,crds" "api-resources"

step="auth"
ok auth can-i create statefulsets
contains "^yes$" "auth can-i"
ok auth whoami
contains "kubesim-admin" "auth whoami"

step="create"
cat >"$work/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: proof
  labels: {app: proof}
data:
  a: "1"
EOF
ok create -f "$work/cm.yaml"
contains "configmap/proof created" "create"
k create -f "$work/cm.yaml" && fail "second create succeeded"
contains 'configmaps "proof" already exists' "create twice"

step="get (Table)"
ok get configmap proof
contains "^NAME *DATA *AGE" "table header"
contains "^proof *1 " "table row"

step="get -o yaml"
ok get configmap proof -o yaml
contains "^kind: ConfigMap" "get -o yaml"
contains "  a: \"1\"" "get -o yaml"
contains "uid: " "get -o yaml"
contains "resourceVersion: \"" "get -o yaml"

step="apply x3"
cat >"$work/sts.yaml" <<'EOF'
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: registry.example/web:1
        ports:
        - containerPort: 80
EOF
ok apply -f "$work/sts.yaml"
contains "statefulset.apps/web created" "first apply"
expect "1" "$(jp sts/web '{.metadata.generation}')" "generation after create"
ok apply -f "$work/sts.yaml"
contains "statefulset.apps/web unchanged" "second apply"
expect "1" "$(jp sts/web '{.metadata.generation}')" "generation after unchanged apply"
sed 's#web:1#web:2#' "$work/sts.yaml" >"$work/sts2.yaml"
ok apply -f "$work/sts2.yaml"
contains "statefulset.apps/web configured" "third apply"
expect "2 registry.example/web:2" "$(jp sts/web '{.metadata.generation} {.spec.template.spec.containers[0].image}')" "generation and image after configure"

step="diff"
k diff -f "$work/sts2.yaml"; rc=$?
expect 0 "$rc" "kubectl diff exit status without changes"
sed 's#web:1#web:3#' "$work/sts.yaml" >"$work/sts3.yaml"
k diff -f "$work/sts3.yaml"; rc=$?
expect 1 "$rc" "kubectl diff exit status with changes"
contains "registry.example/web:3" "diff output"
expect "registry.example/web:2" "$(jp sts/web '{.spec.template.spec.containers[0].image}')" "diff must not change the object"

step="apply --server-side"
cat >"$work/ssa.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
data:
  owner: first
EOF
ok apply --server-side -f "$work/ssa.yaml"
contains "configmap/ssa serverside-applied" "server-side apply create"
rv1=$(jp cm/ssa '{.metadata.resourceVersion}')
ok apply --server-side -f "$work/ssa.yaml"
expect "$rv1" "$(jp cm/ssa '{.metadata.resourceVersion}')" "RV after no-op server-side apply"
expect "kubectl Apply" "$(jp cm/ssa '{.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation}')" "managedFields entry"
sed 's/first/second/' "$work/ssa.yaml" >"$work/ssa2.yaml"
k apply --server-side --field-manager=intruder -f "$work/ssa2.yaml" && fail "conflicting apply succeeded"
contains 'conflict with "kubectl"' "server-side apply conflict"
contains ".data.owner" "server-side apply conflict field"
ok apply --server-side --field-manager=intruder --force-conflicts -f "$work/ssa2.yaml"
expect "second" "$(jp cm/ssa '{.data.owner}')" "value after --force-conflicts"

step="patch"
ok patch configmap proof --type merge -p '{"data":{"b":"2"}}'
expect "1 2" "$(jp cm/proof '{.data.a} {.data.b}')" "merge patch"
ok patch configmap proof --type json -p '[{"op":"remove","path":"/data/a"}]'
expect "" "$(jp cm/proof '{.data.a}')" "json patch removed data.a"
ok patch sts web --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example/web:4"}]}}}}'
expect "registry.example/web:4 80" "$(jp sts/web '{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}')" "strategic patch merges containers by name"
k patch configmap proof --type json -p '[{"op":"test","path":"/data/b","value":"9"}]' && fail "failing json patch test op succeeded"

step="dry run (dryRun=All persists nothing)"
rv_before=$(jp cm/proof '{.metadata.resourceVersion}')
ok create configmap dry-only --from-literal=x=1 --dry-run=server -o name
contains "configmap/dry-only" "server dry-run create answers the object"
k get configmap dry-only && fail "server dry-run create stored the object"
ok patch configmap proof --type merge -p '{"data":{"b":"dry"}}' --dry-run=server
expect "2 $rv_before" "$(jp cm/proof '{.data.b} {.metadata.resourceVersion}')" "server dry-run patch changed the object"
ok delete configmap proof --dry-run=server
ok get configmap proof
expect "$rv_before" "$(jp cm/proof '{.metadata.resourceVersion}')" "server dry-run delete changed the object"

step="scale statefulset"
ok scale statefulset web --replicas=3
contains "statefulset.apps/web scaled" "scale"
expect "3" "$(jp sts/web '{.spec.replicas}')" "replicas after scale"

step="exec"
cat >"$work/pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: registry.example/shell:1
EOF
ok apply -f "$work/pod.yaml"
ok wait --for=condition=Ready pod/shell --timeout=120s
ok exec shell -- echo hello from kubesim
contains "^hello from kubesim$" "exec output"
k exec shell -- false; rc=$?
expect 1 "$rc" "exec exit status"
printf 'piped\n' >"$work/stdin.txt"
"$KUBECTL" --request-timeout=20s exec -i shell -- cat <"$work/stdin.txt" >"$work/last" 2>&1 || fail "exec -i failed"
contains "^piped$" "exec stdin"

step="get -w"
: >"$work/watch.out"
"$KUBECTL" get configmap proof -w --request-timeout=30s >>"$work/watch.out" 2>&1 &
watch_pid=$!
# kubectl drops the synthetic first event, so a change made before its
# watch starts is not shown: keep changing until one is (load-proof).
i=0
until [ "$(grep -c '^proof' "$work/watch.out")" -ge 2 ]; do
	i=$((i + 1))
	[ $i -gt 40 ] && fail "get -w did not show a change: $(cat "$work/watch.out")"
	ok label --overwrite configmap proof watched=$i
	sleep 0.5
done
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
watch_pid=

step="wait --for=delete"
# A finalizer keeps the object until the waiter has surely started.
ok patch configmap proof --type merge -p '{"metadata":{"finalizers":["example.com/hold"]}}'
ok delete configmap proof --wait=false
expect "example.com/hold" "$(jp cm/proof '{.metadata.finalizers[0]}')" "finalizer keeps the object"
"$KUBECTL" wait --for=delete configmap/proof --timeout=120s >"$work/wait.out" 2>&1 &
wait_pid=$!
sleep 2
kill -0 "$wait_pid" 2>/dev/null || fail "kubectl wait ended before the deletion: $(cat "$work/wait.out")"
ok patch configmap proof --type merge -p '{"metadata":{"finalizers":null}}'
wait "$wait_pid" || fail "kubectl wait --for=delete failed: $(cat "$work/wait.out")"
grep -q "condition met" "$work/wait.out" || fail "wait --for=delete output: $(cat "$work/wait.out")"
k get configmap proof && fail "configmap still exists after its finalizer was removed"

step="CRD Established"
cat >"$work/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
EOF
ok apply -f "$work/crd.yaml"
ok wait --for=condition=Established crd/widgets.example.com --timeout=120s
contains "condition met" "wait Established"
cat >"$work/widget.yaml" <<'EOF'
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
EOF
ok apply -f "$work/widget.yaml"
contains "widget.example.com/w1 created" "apply custom resource"
expect "3" "$(jp wg/w1 '{.spec.size}')" "custom resource via short name"
k patch wg w1 --type strategic -p '{"spec":{"size":4}}' && fail "strategic patch on a CR succeeded"
contains "415\|UnsupportedMediaType\|not supported\|unknown format" "SMP on CR refused"
ok delete crd widgets.example.com --timeout=120s
k get wg w1 && fail "custom resource survived its CRD"

step="delete --cascade=foreground"
ok delete statefulset web --cascade=foreground --timeout=120s
k get statefulset web && fail "statefulset still exists after foreground delete"

step="client-side apply, then server-side apply with a changed value"
# The real server lets manager "kubectl" take over, without
# --force-conflicts, the fields whose live values are still the ones in
# the last-applied annotation; kubectl then rewrites managedFields with a
# JSON patch (a managedFields-only write that must be stored).
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: migrate, namespace: default}\ndata: {a: "1"}\n' \
	>"$work/csa.yaml"
sed 's/"1"/"2"/' "$work/csa.yaml" >"$work/ssa.yaml"
sed 's/"1"/"3"/' "$work/csa.yaml" >"$work/other.yaml"
ok apply -f "$work/csa.yaml"
k apply --server-side --field-manager=someone-else -f "$work/other.yaml" &&
	fail "another manager took a client-side-applied value without a conflict"
contains "conflict with \"kubectl-client-side-apply\"" "conflict for another manager"
ok apply --server-side -f "$work/ssa.yaml"
contains "configmap/migrate serverside-applied" "server-side apply after client-side apply"
expect "2" "$(jp cm/migrate '{.data.a}')" "value after server-side apply"
managers=$("$KUBECTL" get cm migrate --show-managed-fields -o 'jsonpath={.metadata.managedFields[*].manager}')
case " $managers " in
*" kubectl-client-side-apply "*) fail "client-side apply manager not migrated: $managers" ;;
esac
for i in 1 2 3 4 5 6; do
	k apply --server-side --field-manager="rival-$i" -f "$work/other.yaml" &&
		fail "rival-$i changed a value owned by kubectl without a conflict"
done

step="error paths (their Status objects must not leak)"
k create configmap orphan -n no-such-namespace && fail "create in a missing namespace succeeded"
contains "not found" "create in a missing namespace"
for i in 1 2 3 4 5 6; do
	k get configmap "missing-$i" && fail "get of a missing configmap succeeded"
done

step="PriorityClass (scheduling.k8s.io/v1, built in)"
ok api-resources --api-group=scheduling.k8s.io
contains "priorityclasses *pc *scheduling.k8s.io/v1 *false *PriorityClass" "api-resources"
ok apply -f "${top_srcdir:-.}/repo-layout/example/clusters/prod-chicago/platform/priorityclass.yaml"
contains "priorityclass.scheduling.k8s.io/stateful-critical created" "apply priorityclass.yaml"
expect "1000000 PreemptLowerPriority" "$(jp pc/stateful-critical '{.value} {.preemptionPolicy}')" \
	"PriorityClass fields"
cat >"$work/pc.yaml" <<'EOF'
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: batch-low
value: 10
EOF
ok apply -f "$work/pc.yaml"
expect "PreemptLowerPriority" "$(jp priorityclass/batch-low '{.preemptionPolicy}')" \
	"preemptionPolicy default"
ok get pc stateful-critical
contains "^NAME *VALUE *GLOBAL-DEFAULT *AGE" "get pc (Table header)"
contains "^stateful-critical *1000000 *false " "get pc (Table row)"
ok delete pc batch-low
contains 'priorityclass.scheduling.k8s.io "batch-low" deleted' "delete pc"

step="client-certificate authentication (--kubeconfig-client-cert)"
"$KUBESIM" --listen 127.0.0.1:0 --kubeconfig-out "$work/kubeconfig-cert" \
	--kubeconfig-client-cert --log-level error >"$work/cert.out" 2>"$work/cert.err" &
cert_pid=$!
i=0
until grep -q "kubesim listening on https://127.0.0.1:" "$work/cert.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 1800 ] || ! kill -0 "$cert_pid" 2>/dev/null; then
		cat "$work/cert.err"
		fail "kubesim --kubeconfig-client-cert did not start (waited $((i / 10)) s)"
	fi
	sleep 0.1
done
grep -q "client-certificate-data: " "$work/kubeconfig-cert" || fail "kubeconfig lacks client-certificate-data"
grep -q "token: " "$work/kubeconfig-cert" && fail "kubeconfig still carries a token"
ok --kubeconfig "$work/kubeconfig-cert" auth whoami
contains "Username *kubesim-client" "auth whoami with a client certificate"
contains "system:masters" "auth whoami groups (the certificate's O)"
ok --kubeconfig "$work/kubeconfig-cert" get namespaces
contains "^default " "get namespaces with a client certificate"
# the same server without the certificate (a wrong token instead): 401
sed -e '/client-key-data/d' -e 's/client-certificate-data: .*/token: not-the-token/' \
	"$work/kubeconfig-cert" >"$work/kubeconfig-none"
k --kubeconfig "$work/kubeconfig-none" get namespaces </dev/null &&
	fail "a request without the certificate was accepted"
contains "Unauthorized" "get without the certificate"
kill "$cert_pid"
wait "$cert_pid" 2>/dev/null
cert_pid=

step="injected conflicts read like real ones (conflictRate)"
# kubectl's output for a real 409 and for an injected one must be the
# same: the injected Status is the real server's (issue 11).
sim_faults() { # sim_faults JSON
	printf '%s' "$1" >"$work/faults.json"
	ok create --raw /_sim/faults -f "$work/faults.json"
}
ok create configmap conflict --from-literal=a=1
rv=$(jp cm/conflict '{.metadata.resourceVersion}')
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conflict\n  resourceVersion: "%s"\ndata:\n  a: "2"\n' "$rv" \
	>"$work/replace.yaml"
ok replace -f "$work/replace.yaml"
# Real: the same file again carries a stale resourceVersion.
k replace -f "$work/replace.yaml" && fail "replace with a stale resourceVersion succeeded"
cp "$work/last" "$work/real-replace"
contains 'Error from server (Conflict)' "real replace conflict"
contains 'Operation cannot be fulfilled on configmaps "conflict": the object has been modified' "real replace conflict"
# Injected: the current resourceVersion, refused as if someone wrote first.
rv=$(jp cm/conflict '{.metadata.resourceVersion}')
sed "s/resourceVersion: .*/resourceVersion: \"$rv\"/" "$work/replace.yaml" >"$work/replace2.yaml"
mv "$work/replace2.yaml" "$work/replace.yaml"
sim_faults '{"conflictRate":{"update":1}}'
k replace -f "$work/replace.yaml" && fail "replace succeeded under conflictRate update=1"
cmp -s "$work/real-replace" "$work/last" ||
	fail "kubectl replace: the injected conflict reads differently from the real one: $(diff "$work/real-replace" "$work/last" | tr '\n' ' ')"
expect "$rv" "$(jp cm/conflict '{.metadata.resourceVersion}')" "RV after an injected conflict (nothing written)"
# Unconditional writes never conflict on the real server, nor here.
ok patch configmap conflict --type merge -p '{"data":{"b":"1"}}'
sim_faults '{"conflictRate":{"patch":1}}'
ok patch configmap conflict --type merge -p '{"data":{"c":"1"}}'
# A patch carrying a resourceVersion is a precondition.
rv=$(jp cm/conflict '{.metadata.resourceVersion}')
k annotate configmap conflict x=1 --resource-version="$rv" && fail "annotate --resource-version succeeded under conflictRate patch=1"
contains 'Error from server (Conflict)' "annotate --resource-version"
contains 'Operation cannot be fulfilled on configmaps "conflict": the object has been modified' "annotate --resource-version"
# Server-side apply: a real field-manager conflict with an Update manager
# (kubectl replace), then an injected one on a value that would not
# conflict; the same output but for the manager's name.
sim_faults '{}'
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conflict\ndata:\n  a: "%s"\n' 9 >"$work/ssa-real.yaml"
k apply --server-side -f "$work/ssa-real.yaml" && fail "server-side apply over kubectl-replace's value succeeded"
cp "$work/last" "$work/real-ssa"
contains 'Apply failed with 1 conflict: conflict with "kubectl-replace" using v1: .data.a' "real server-side apply conflict"
a=$(jp cm/conflict '{.data.a}')
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conflict\ndata:\n  a: "%s"\n' "$a" >"$work/ssa-same.yaml"
sim_faults '{"conflictRate":{"*":1}}'
k apply --server-side -f "$work/ssa-same.yaml" && fail "server-side apply succeeded under conflictRate *=1"
sed 's/kubesim-injected-conflict/kubectl-replace/g' "$work/last" >"$work/injected-ssa"
cmp -s "$work/real-ssa" "$work/injected-ssa" ||
	fail "server-side apply: the injected conflict reads differently from the real one: $(diff "$work/real-ssa" "$work/injected-ssa" | tr '\n' ' ')"
ok apply --server-side --force-conflicts -f "$work/ssa-same.yaml" # force never conflicts
ok get --raw /_sim/counters
expect 3 "$(tr -d ' \n' <"$work/last" | sed -n 's/.*"faults":{\([^}]*\)}.*/\1/p' | tr ',' '\n' | sed -n 's/^"conflict"://p')" \
	"/_sim/counters faults.conflict"
sim_faults '{}'

step="Secret stringData is merged into data"
printf '%s\n' 'apiVersion: v1' 'kind: Secret' 'metadata:' '  name: sd' 'type: Opaque' 'data:' \
	'  kept: a2VwdA==' '  user: b2xk' 'stringData:' '  user: admin' '  password: s3cr3t' >"$work/secret.yaml"
ok apply -f "$work/secret.yaml"
ok get secret sd -o json
grep -q '"stringData"' "$work/last" && fail "kubectl get secret -o json shows stringData"
expect "a2VwdA== YWRtaW4= czNjcjN0" "$(jp secret/sd '{.data.kept} {.data.user} {.data.password}')" "Secret data after apply"
ok apply --server-side --force-conflicts --field-manager=sd -f "$work/secret.yaml"
rv=$(jp secret/sd '{.metadata.resourceVersion}')
ok apply --server-side --field-manager=sd -f "$work/secret.yaml"
expect "$rv" "$(jp secret/sd '{.metadata.resourceVersion}')" "RV after a no-op server-side apply with stringData"
ok get secret sd -o json
grep -q '"stringData"' "$work/last" && fail "kubectl get secret -o json shows stringData after server-side apply"

step="reset keeps the node"
ok create --raw /_sim/reset -f /dev/null
contains '"status":"reset"' "POST /_sim/reset"
k get configmap migrate && fail "configmap survived /_sim/reset"
ok get nodes
contains "kubesim-node.*Ready" "node after /_sim/reset"

step="shutdown"
# Under ASan/LSan kubesim exits non-zero when it leaks or trips a sanitizer
# check; a clean stop on SIGTERM must exit 0 with no sanitizer report.
status=0
kubesim_stop || status=$?
if [ "$status" -ne 0 ] || grep -q "Sanitizer\|runtime error:" "$work/kubesim.err"; then
	echo "FAIL [$step]: kubesim exited $status after SIGTERM"
	grep -A30 "Sanitizer\|runtime error:" "$work/kubesim.err" | head -120
	exit 1
fi

echo "kubectl-proof: all steps passed"
exit 0
