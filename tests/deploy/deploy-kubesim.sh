#!/bin/sh
# deploy/kubernetes renders with `kubectl kustomize` and applies to kubesim
# with kubectl; the objects read back from the API server are checked:
# Deployment (two replicas, probes on /healthz and /readyz on the http port,
# requests and limits, the keelson ServiceAccount, non-root and read-only
# root, POD_NAME from the downward API, Recreate), ClusterRoleBinding
# subject, ClusterRole (pods/proxy, no escalate or bind, no wildcard),
# leases (get, create, update) only in keelson-system, the ConfigMap's
# keelson.yaml, the Service port and the credentials Secret reference.
# keelson parses the ConfigMap's keelson.yaml (paths redirected).
# Needs $KUBECTL (skipped with 77 when empty), $top_builddir/kubesim and keelson.
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "deploy-kubesim: KUBECTL is empty, skipping"
	exit 77
fi
srcdir=${top_srcdir:-.}
KUBESIM=${top_builddir:-.}/kubesim
[ -x "$KUBESIM" ] || { echo "deploy-kubesim: $KUBESIM not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/deploy-kubesim.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
cleanup() {
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

step="render"
fail() {
	echo "FAIL [$step]: $*"
	[ -f "$work/kubectl.out" ] && { echo "--- last kubectl output"; tail -n 40 "$work/kubectl.out"; }
	exit 1
}

# Render first: a broken base fails here, without a server.
"$KUBECTL" kustomize "$srcdir/deploy/kubernetes" >"$work/rendered.yaml" 2>"$work/kubectl.out" ||
	fail "kubectl kustomize $srcdir/deploy/kubernetes failed"
for kind in Namespace ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding ConfigMap Deployment Service; do
	grep -q "^kind: $kind\$" "$work/rendered.yaml" || fail "the rendered base has no $kind"
done

kubesim_start "$work" --log-level error || exit 1

k() {
	"$KUBECTL" --request-timeout=20s "$@" >"$work/kubectl.out" 2>&1 ||
		fail "kubectl $* failed"
}
# get KIND/NAME [-n NS] JSONPATH EXPECTED
expect() {
	want=$1
	shift
	k get "$@"
	got=$(cat "$work/kubectl.out")
	[ "$got" = "$want" ] || fail "kubectl get $*: expected '$want', got '$got'"
}

step="apply"
k apply -f "$work/rendered.yaml"

ns="-n keelson-system"
dep="deployment/keelson $ns -o"
c='.spec.template.spec.containers[0]'

step="deployment"
# shellcheck disable=SC2086
{
	expect 2 $dep "jsonpath={.spec.replicas}"
	expect keelson $dep "jsonpath={.spec.template.spec.serviceAccountName}"
	expect "/healthz http" $dep "jsonpath={$c.livenessProbe.httpGet.path} {$c.livenessProbe.httpGet.port}"
	expect "/readyz http" $dep "jsonpath={$c.readinessProbe.httpGet.path} {$c.readinessProbe.httpGet.port}"
	expect "http 8080" $dep "jsonpath={$c.ports[0].name} {$c.ports[0].containerPort}"
	expect "100m 128Mi 1 512Mi" $dep \
		"jsonpath={$c.resources.requests.cpu} {$c.resources.requests.memory} {$c.resources.limits.cpu} {$c.resources.limits.memory}"
	expect "true 10001" $dep \
		"jsonpath={.spec.template.spec.securityContext.runAsNonRoot} {.spec.template.spec.securityContext.runAsUser}"
	expect "false true ALL" $dep \
		"jsonpath={$c.securityContext.allowPrivilegeEscalation} {$c.securityContext.readOnlyRootFilesystem} {$c.securityContext.capabilities.drop[0]}"
	expect "run --config /etc/keelson/config/keelson.yaml" $dep "jsonpath={$c.args[*]}"
	expect "keelson-config keelson-credentials" $dep \
		"jsonpath={.spec.template.spec.volumes[?(@.name==\"config\")].configMap.name} {.spec.template.spec.volumes[?(@.name==\"credentials\")].secret.secretName}"
	expect "/etc/keelson/config /etc/keelson/secrets" $dep \
		"jsonpath={$c.volumeMounts[?(@.name==\"config\")].mountPath} {$c.volumeMounts[?(@.name==\"credentials\")].mountPath}"
	expect "keelson:dev" $dep "jsonpath={$c.image}"
	# Leader election: the identity comes from the downward API; Recreate
	# because a standby is never Ready (deploy/README.md).
	expect "POD_NAME metadata.name" $dep \
		"jsonpath={$c.env[?(@.name==\"POD_NAME\")].name} {$c.env[?(@.name==\"POD_NAME\")].valueFrom.fieldRef.fieldPath}"
	expect "Recreate" $dep "jsonpath={.spec.strategy.type}"
}

step="service"
# shellcheck disable=SC2086
expect "8080 http keelson" service/keelson $ns -o \
	"jsonpath={.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.selector.app\.kubernetes\.io/name}"
# The Service must select the Deployment's pods.
# shellcheck disable=SC2086
expect keelson $dep "jsonpath={.spec.template.metadata.labels.app\.kubernetes\.io/name}"

step="rbac"
# shellcheck disable=SC2086
expect keelson serviceaccount/keelson $ns -o "jsonpath={.metadata.name}"
expect "ClusterRole keelson ServiceAccount keelson keelson-system" clusterrolebinding/keelson -o \
	"jsonpath={.roleRef.kind} {.roleRef.name} {.subjects[0].kind} {.subjects[0].name} {.subjects[0].namespace}"
k get clusterrole/keelson -o jsonpath='{range .rules[*]}{.apiGroups}{" "}{.resources}{" "}{.verbs}{"\n"}{end}'
cp "$work/kubectl.out" "$work/rules.txt"
grep -q 'pods/proxy' "$work/rules.txt" || fail "the ClusterRole does not grant pods/proxy"
grep 'pods/proxy' "$work/rules.txt" | grep -q '"create"' || fail "pods/proxy without create (POST probes)"
grep -q '"\*"' "$work/rules.txt" && fail "the ClusterRole has a wildcard: $(grep '"\*"' "$work/rules.txt")"
grep -E -q '"(escalate|bind|impersonate)"' "$work/rules.txt" && fail "the ClusterRole grants escalate, bind or impersonate"
grep -q 'leases' "$work/rules.txt" && fail "leases must be granted only in keelson-system, not cluster-wide"
for res in statefulsets poddisruptionbudgets customresourcedefinitions sparkapplications priorityclasses rolebindings; do
	grep -q "\"$res\"" "$work/rules.txt" || fail "the ClusterRole does not cover $res"
done
# shellcheck disable=SC2086
expect "coordination.k8s.io leases get create update (one rule)" role/keelson-leader-election $ns -o \
	"jsonpath={.rules[0].apiGroups[0]} {.rules[0].resources[0]} {.rules[0].verbs[*]} ({range .rules[*]}one{end} rule)"
# shellcheck disable=SC2086
expect "keelson-leader-election keelson" rolebinding/keelson-leader-election $ns -o \
	"jsonpath={.roleRef.name} {.subjects[0].name}"

step="configmap"
# shellcheck disable=SC2086
k get configmap/keelson-config $ns -o 'jsonpath={.data.keelson\.yaml}'
cp "$work/kubectl.out" "$work/keelson.yaml"
for key in '^git:' '^  url: ' '^  cacheDir: /var/lib/keelson/git$' '^  tokenFile: /etc/keelson/secrets/' \
	'^clusters:' '^  - name: ' '^inventoryNamespace: keelson-system$' '^pluginDir: /usr/lib/keelson$' \
	'^leaderElection:' '^  leaseName: keelson$'; do
	grep -q -- "$key" "$work/keelson.yaml" || fail "keelson.yaml in the ConfigMap has no line matching '$key'"
done
# keelson's own parser accepts the file: the same keys, with the paths
# pointed into the work directory. A configuration error names the file
# ("FILE:LINE:COL: ..."); past the configuration keelson creates its Git
# cache, then fails on the (absent) repository.
step="configmap parse"
KEELSON=${top_builddir:-.}/keelson
[ -x "$KEELSON" ] || fail "$KEELSON not built"
mkdir -p "$work/cache" "$work/plugins"
echo token >"$work/git-token"
sed -e "s|^  url: .*|  url: $work/no-repository|" -e "s|^  cacheDir: .*|  cacheDir: $work/cache|" \
	-e "s|^  tokenFile: .*|  tokenFile: $work/git-token|" -e "s|^pluginDir: .*|pluginDir: $work/plugins|" \
	"$work/keelson.yaml" >"$work/local.yaml"
"$KEELSON" sync --once --config "$work/local.yaml" >"$work/kubectl.out" 2>&1
grep -q "$work/local.yaml:" "$work/kubectl.out" && fail "keelson rejects the ConfigMap's keelson.yaml"
grep -q "created git cache" "$work/kubectl.out" || fail "keelson did not get past its configuration"

# The Git cache must be on a writable volume: the root file system is read-only.
# shellcheck disable=SC2086
expect "/var/lib/keelson" $dep "jsonpath={$c.volumeMounts[?(@.name==\"git-cache\")].mountPath}"

echo "deploy-kubesim: ok"
exit 0
