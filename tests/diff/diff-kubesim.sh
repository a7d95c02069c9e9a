#!/bin/sh
# keelson diff against kubesim, with the real kubectl making the changes:
# missing objects, in sync right after a server-side apply (server defaults
# present live), drift from kubectl patch reported with the JSON pointer and
# file:line:column, fields removed from the repository that keelson applied
# before, ignore rules, errors (exit 2).
# Needs $KUBECTL (skipped with 77 when empty) and $top_builddir.
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "diff-kubesim: KUBECTL is empty, skipping"
	exit 77
fi
srcdir=${top_srcdir:-.}
KUBESIM=${top_builddir:-.}/kubesim
KEELSON=${top_builddir:-.}/keelson
[ -x "$KUBESIM" ] || { echo "diff-kubesim: $KUBESIM not built"; exit 1; }
[ -x "$KEELSON" ] || { echo "diff-kubesim: $KEELSON not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/diff-kubesim.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
cleanup() {
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

kubesim_start "$work" --log-level error || exit 1

cp -R "$srcdir/tests/diff/repo" "$work/repo"
chmod -R u+w "$work/repo"
app="$work/repo/clusters/sim/web"

step=""
fail() {
	echo "FAIL [$step]: $*"
	[ -f "$work/out" ] && { echo "--- keelson diff stdout"; cat "$work/out"; }
	[ -f "$work/err" ] && { echo "--- keelson diff stderr"; cat "$work/err"; }
	exit 1
}
k() {
	"$KUBECTL" --request-timeout=20s "$@" >"$work/kubectl.out" 2>&1 ||
		{ cat "$work/kubectl.out"; fail "kubectl $* failed"; }
}
# kdiff WANT_EXIT ARGS...: run keelson diff on the repository copy.
kdiff() {
	want=$1
	shift
	"$KEELSON" diff --repo "$work/repo" --kubeconfig "$KUBECONFIG" "$@" >"$work/out" 2>"$work/err"
	got=$?
	[ "$got" = "$want" ] || fail "keelson diff $* exited $got, expected $want"
}
contains() {
	grep -qF -- "$1" "$work/out" || fail "output lacks '$1'"
}
lacks() {
	if grep -qF -- "$1" "$work/out"; then fail "output has '$1'"; fi
}

step="nothing applied yet"
kdiff 1
contains "# StatefulSet web/web (cluster sim, system web, clusters/sim/web/statefulset.yaml:1): not in the cluster"
contains "+++ repository/apps.v1.StatefulSet.web.web"
contains "+  replicas: 2"

step="in sync after server-side apply"
for f in namespace configmap secret service statefulset; do
	k apply --server-side --field-manager=keelson -f "$app/$f.yaml"
done
kdiff 0
[ -s "$work/out" ] && fail "a diff was printed for objects in sync"
grep -q "5 in sync, 0 drifted, 0 missing" "$work/err" || fail "summary missing"
# The server did add defaults (so "in sync" above means they were ignored).
k get statefulset web -n web -o jsonpath='{.spec.podManagementPolicy}'
grep -q OrderedReady "$work/kubectl.out" || fail "kubesim did not default the StatefulSet"
kdiff 0 --output json
contains '"inSync":	true'

step="a label added by someone else is not drift"
k label statefulset web -n web added-by=kubectl
kdiff 0

step="drift made with kubectl patch"
k patch statefulset web -n web --type merge -p '{"spec":{"replicas":5}}'
kdiff 1
contains "#   clusters/sim/web/statefulset.yaml:9:13: /spec/replicas: repository 2, live 5"
contains "-  replicas: 5"
contains "+  replicas: 2"
lacks "managedFields"
lacks "resourceVersion"
lacks "added-by"
lacks "$(printf '\033')"
kdiff 1 --output json --system web
contains '"pointer":	"/spec/replicas"'
contains '"file":	"clusters/sim/web/statefulset.yaml"'
contains '"line":	9'
contains '"state":	"drifted"'

step="colours on a terminal only"
if command -v script >/dev/null 2>&1; then
	esc=$(printf '\033')
	script -qec "'$KEELSON' diff --repo '$work/repo' --kubeconfig '$KUBECONFIG'" /dev/null >"$work/out" 2>&1
	grep -q "${esc}\[31m-  replicas: 5" "$work/out" || fail "no red removed line on a terminal"
	grep -q "${esc}\[32m+  replicas: 2" "$work/out" || fail "no green added line on a terminal"
	script -qec "'$KEELSON' diff --no-color --repo '$work/repo' --kubeconfig '$KUBECONFIG'" /dev/null >"$work/out" 2>&1
	lacks "$esc"
	contains "-  replicas: 5"
else
	echo "diff-kubesim: no script(1), terminal colours not checked"
fi

step="drift in a keyed list item"
k patch statefulset web -n web --type json \
	-p '[{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"debug"}]'
kdiff 1
contains "/spec/template/spec/containers/0/env/0/value: repository \"production\", live \"debug\""
contains "statefulset.yaml:27:22"

step="back in sync"
k patch statefulset web -n web --type json -p '[{"op":"replace","path":"/spec/replicas","value":2},
	{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"production"}]'
kdiff 0

step="intstr kept as given: a string targetPort live differs from a number"
k patch service web -n web --type json -p '[{"op":"replace","path":"/spec/ports/1/targetPort","value":"9090"}]'
kdiff 1
contains "/spec/ports/1/targetPort: repository 9090, live \"9090\""
k apply --server-side --force-conflicts --field-manager=keelson -f "$app/service.yaml"
kdiff 0

step="secret values never printed"
k patch secret web-credentials -n web --type merge -p '{"data":{"password":"c2VjcmV0LWxpdmU="},"stringData":null}'
kdiff 1
contains "/stringData/password: repository *** (redacted), live *** (redacted)"
contains '+  password: "*** (after)"'
lacks "hunter2"
lacks "c2VjcmV0LWxpdmU="
lacks "aHVudGVyMg=="
kdiff 1 --output json
lacks "hunter2"
lacks "c2VjcmV0LWxpdmU="
k apply --server-side --force-conflicts --field-manager=keelson -f "$app/secret.yaml"
kdiff 0

step="field removed from the repository, still set live"
sed -i '/^  size: 1Gi$/d' "$app/configmap.yaml"
kdiff 1
contains "/data/size: removed from the repository, still set live: \"1Gi\""
contains "-  size: 1Gi"
k apply --server-side --field-manager=keelson -f "$app/configmap.yaml"
kdiff 0

step="ignore rules of the system"
k patch statefulset web -n web --type merge -p '{"spec":{"replicas":4}}'
kdiff 1
contains "/spec/replicas: repository 2, live 4"
cat >>"$app/system.yaml" <<'EOF'
  ignoreDifferences:
    - group: apps
      kind: StatefulSet
      jsonPointers: [/spec/replicas]
EOF
"$KEELSON" validate "$work/repo" >"$work/out" 2>"$work/err" || fail "keelson validate rejects spec.ignoreDifferences"
kdiff 0
grep -q "5 in sync" "$work/err" || fail "ignored drift still counted"
lacks "replicas"
# Only what the rule names: other drift of the same object still shows.
k patch statefulset web -n web --type json \
	-p '[{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"debug"}]'
kdiff 1
contains "/spec/template/spec/containers/0/env/0/value: repository \"production\", live \"debug\""
lacks "/spec/replicas:"
k patch statefulset web -n web --type json \
	-p '[{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"production"}]'
kdiff 0
# A malformed rule rejects the revision before anything is compared.
sed -i 's|\[/spec/replicas\]|[spec/replicas]|' "$app/system.yaml"
kdiff 2
grep -q "clusters/sim/web/system.yaml:.*JSON pointer" "$work/err" || fail "bad pointer not reported with its position"
sed -i 's|\[spec/replicas\]|[/spec/replicas]|' "$app/system.yaml"
kdiff 0

step="no false drift on the example repository right after apply"
example="$srcdir/repo-layout/example"
applied=0
for f in "$example"/clusters/prod-chicago/*/namespace.yaml; do
	k apply --server-side --field-manager=keelson -f "$f"
done
for f in "$example"/clusters/prod-chicago/*/*.yaml; do
	case "$f" in */system.yaml) continue ;; esac
	# kubesim may not serve every kind (PriorityClass, SparkApplication
	# without its CRD): those objects are missing, not drifted.
	"$KUBECTL" --request-timeout=20s apply --server-side --field-manager=keelson -f "$f" >"$work/kubectl.out" 2>&1 || continue
	applied=$((applied + $(grep -c "serverside-applied" "$work/kubectl.out")))
done
[ "$applied" -ge 20 ] || fail "only $applied example objects applied"
"$KEELSON" diff --repo "$example" --cluster prod-chicago --context kubesim --kubeconfig "$KUBECONFIG" \
	>"$work/out" 2>"$work/err"
grep -q "^keelson diff: $applied in sync, 0 drifted" "$work/err" || fail "false drift on the example repository ($applied applied)"
grep -q "drifted\|differ" "$work/out" && fail "a field of the example repository is reported as drift"

step="applied by keelson, no longer in the repository (inventory)"
k patch statefulset web -n web --type merge -p '{"spec":{"replicas":2}}'
cat >"$work/old.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: old-config
  namespace: web
data:
  left: repository
EOF
k apply --server-side --field-manager=keelson -f "$work/old.yaml"
uid=$("$KUBECTL" get configmap old-config -n web -o 'jsonpath={.metadata.uid}')
[ -n "$uid" ] || fail "no uid for old-config"
k create namespace keelson-system
k create configmap keelson-inventory-sim-web -n keelson-system \
	--from-literal=objects="[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"namespace\":\"web\",\"name\":\"old-config\",\"uid\":\"$uid\"},{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"namespace\":\"web\",\"name\":\"web-config\",\"uid\":\"\"}]"
kdiff 1 --system web
contains "# ConfigMap web/old-config (cluster sim, system web): not in the repository; keelson applied it (prune is on: it will be deleted)"
contains "+++ /dev/null"
contains "-  left: repository"
lacks "web-config"
grep -q "0 drifted, 0 missing, 1 not in the repository" "$work/err" || fail "summary of objects not in the repository"
kdiff 1 --output json
contains '"state":	"not-in-repository"'
# Another object by that name (not the one keelson applied) is not claimed.
k delete configmap old-config -n web
k create configmap old-config -n web --from-literal=someone=else
kdiff 0 --system web
k delete configmap old-config -n web

step="selection and errors"
kdiff 2 --cluster nope
grep -q 'no cluster "nope"' "$work/err" || fail "unknown cluster message"
kdiff 2 --system nope
kdiff 2 --output yaml
kdiff 0 --cluster sim --system web --context kubesim
kdiff 2 --context does-not-exist
kubesim_stop
kdiff 2
grep -q "cluster sim, system web: .*reading the live object" "$work/err" || fail "unreachable cluster message"

echo "diff-kubesim: all steps passed"
