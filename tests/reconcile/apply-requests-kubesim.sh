#!/bin/sh
# One request per new object: `keelson sync --once` against kubesim applies
# each object once, with keelson's labels (keelson.dev/cluster,
# keelson.dev/system) in the same server-side apply (field manager keelson),
# counted with kubesim's /_sim/counters. Then: a second sync applies nothing
# (the labels are not drift); objects labelled the earlier way (labels
# applied apart, field manager keelson-ownership) are taken over without a
# request, keep their labels through the next apply of the object, and are
# pruned like the others; an object made by hand is adopted with one
# request; an in-sync object that moves to another system gets the labels
# alone (keelson-ownership), not its fields again.
# Needs $KUBECTL (skipped with 77 when empty), git, curl and $top_builddir.
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init apply-requests-kubesim git curl
SCENARIO_LOGS="out err kubectl.out"
SCENARIO_TAIL=40
kubesim_start "$work" --log-level error || exit 1

step=""
k() {
	"$KUBECTL" --request-timeout=20s "$@" >"$work/kubectl.out" 2>&1 ||
		{ cat "$work/kubectl.out"; fail "kubectl $* failed"; }
}
# counters FILE: kubesim's request counters into FILE.
counters() {
	kubesim_curl /_sim/counters >"$1" || fail "cannot read kubesim's counters"
	grep -q '"byResource"' "$1" || fail "counters without byResource: $(cat "$1")"
}
# count FILE RESOURCE VERB: requests of VERB on RESOURCE in FILE (0 when absent).
count() {
	n=$(sed -n "s/.*\"$2\":{\([^}]*\)}.*/\1/p" "$1" | tr ',' '\n' | sed -n "s/^\"$3\":\([0-9]*\)$/\1/p")
	echo "${n:-0}"
}
# delta RESOURCE VERB: requests since the last `counters "$work/c0"`.
delta() {
	echo $(($(count "$work/c1" "$1" "$2") - $(count "$work/c0" "$1" "$2")))
}
expect_delta() {
	got=$(delta "$1" "$2")
	[ "$got" = "$3" ] || fail "$1 $2 requests: $got, expected $3 ($4)"
}

# The repository: system web (a Namespace, 12 ConfigMaps, 4 Services,
# 4 Secrets); system legacy is added later.
repo="$work/repo"
mkdir -p "$repo/clusters/sim/web"
cat >"$repo/keelson.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: apply-requests
spec:
  statusBranch: keelson/status
  policy:
    prune: true
    driftPolicy: heal
    pollInterval: 1m
    driftCheckInterval: 10m
    alertRepeatInterval: 1h
EOF
printf 'apiVersion: keelson.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: sim\nspec:\n  kubeContext: kubesim\n' \
	>"$repo/clusters/sim/cluster.yaml"
system_yaml() {
	printf 'apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: %s\nspec:\n  plugin: generic\n' "$1"
}
system_yaml web >"$repo/clusters/sim/web/system.yaml"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n' >"$repo/clusters/sim/web/namespace.yaml"
i=0
while [ $i -lt 12 ]; do
	[ $i -gt 0 ] && echo "---"
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d\n  namespace: web\n' $i
	printf '  labels:\n    app: web\n  annotations:\n    example.com/index: "%d"\ndata:\n  index: "%d"\n' $i $i
	i=$((i + 1))
done >"$repo/clusters/sim/web/configmaps.yaml"
i=0
while [ $i -lt 4 ]; do
	[ $i -gt 0 ] && echo "---"
	printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: web\n' $i
	printf 'spec:\n  selector:\n    app: web-%d\n  ports:\n  - name: http\n    port: 80\n' $i
	echo "---"
	printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-%d\n  namespace: web\n' $i
	printf 'type: Opaque\nstringData:\n  password: "not-a-secret-%d"\n' $i
	i=$((i + 1))
done >"$repo/clusters/sim/web/services.yaml"

git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
git_in add -A
git_in commit -q -m "web"

cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
clusters:
  - name: sim
    kubeconfig: $KUBECONFIG
    context: kubesim
kubernetes:
  qps: 1000
  burst: 1000
EOF

ksync() {
	"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err" ||
		fail "keelson sync --once exited $?"
}
kdiff() {
	"$KEELSON" diff --repo "$repo" --kubeconfig "$KUBECONFIG" --cluster sim --context kubesim --no-color \
		>"$work/out" 2>"$work/err" || fail "keelson diff reports differences: $(cat "$work/out")"
}
# labels NS: "name cluster system" of every ConfigMap, Service and Secret in NS.
labels() {
	"$KUBECTL" get configmaps,services,secrets -n "$1" \
		-o jsonpath='{range .items[*]}{.metadata.name} {.metadata.labels.keelson\.dev/cluster} {.metadata.labels.keelson\.dev/system}{"\n"}{end}' |
		grep -v '^kube-root-ca' | sort
}
# managers KIND NS NAME: the field managers of the object, one a line.
managers() {
	"$KUBECTL" get "$1" -n "$2" "$3" --show-managed-fields \
		-o jsonpath='{range .metadata.managedFields[*]}{.manager}{"\n"}{end}' | sort -u
}
# label_owner KIND NS NAME MANAGER: whether MANAGER's fields hold the system label.
label_owner() {
	"$KUBECTL" get "$1" -n "$2" "$3" --show-managed-fields \
		-o jsonpath="{range .metadata.managedFields[?(@.manager==\"$4\")]}{.fieldsV1}{end}" |
		grep -q '"f:keelson.dev/system"'
}

step="first sync: one apply per new object"
counters "$work/c0"
ksync
counters "$work/c1"
expect_delta services patch 4 "one apply per Service"
expect_delta secrets patch 4 "one apply per Secret"
expect_delta namespaces patch 1 "one apply for the Namespace web"
# 12 ConfigMaps and the inventory, written before the first apply and
# again with the uids and the revision.
expect_delta configmaps patch 14 "one apply per ConfigMap, two inventory writes"
[ "$(grep -c "msg=applied" "$work/err")" = 21 ] || fail "expected 21 objects applied"
grep -q "msg=\"*labelled" "$work/err" && fail "a separate label apply was made"
labels web >"$work/labels"
[ "$(wc -l <"$work/labels")" = 20 ] || fail "expected 20 objects in web: $(cat "$work/labels")"
grep -v ' sim web$' "$work/labels" && fail "objects without keelson's labels (above)"
for obj in configmap/cm-00 service/svc-1 secret/secret-2; do
	m=$(managers "${obj%/*}" web "${obj#*/}") || fail "kubectl get $obj"
	[ "$m" = keelson ] || fail "$obj: field managers '$m', expected only keelson"
	label_owner "${obj%/*}" web "${obj#*/}" keelson || fail "$obj: the system label is not owned by keelson"
done
# The repository's own labels and annotations went with keelson's.
k get configmap cm-07 -n web -o jsonpath='{.metadata.labels.app} {.metadata.annotations.example\.com/index} {.data.index}'
[ "$(cat "$work/kubectl.out")" = "web 7 7" ] || fail "cm-07 as applied: $(cat "$work/kubectl.out")"
k get namespace web -o jsonpath='{.metadata.labels.keelson\.dev/system}'
[ "$(cat "$work/kubectl.out")" = web ] || fail "Namespace web lacks keelson's label"

step="second sync: the labels are not drift"
kdiff
grep -q "21 in sync, 0 drifted, 0 missing" "$work/err" || fail "diff summary: $(cat "$work/err")"
counters "$work/c0"
ksync
counters "$work/c1"
for r in configmaps services secrets namespaces; do
	expect_delta $r patch 0 "nothing changed"
done

step="objects labelled the earlier way (keelson-ownership) are taken over without a request"
mkdir -p "$repo/clusters/sim/legacy"
system_yaml legacy >"$repo/clusters/sim/legacy/system.yaml"
i=0
while [ $i -lt 4 ]; do
	[ $i -gt 0 ] && echo "---"
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old-%d\n  namespace: web\n' $i
	printf 'data:\n  value: "%d"\n' $i
	i=$((i + 1))
done >"$repo/clusters/sim/legacy/configmaps.yaml"
git_in add -A
git_in commit -q -m "legacy"
sha=$(git -C "$repo" rev-parse HEAD)
# What the two-manager scheme left: the object by keelson, the labels by
# keelson-ownership, and an inventory at this revision with the uids.
k apply --server-side --field-manager=keelson --force-conflicts -f "$repo/clusters/sim/legacy/configmaps.yaml"
i=0
while [ $i -lt 4 ]; do
	[ $i -gt 0 ] && echo "---"
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old-%d\n  namespace: web\n' $i
	printf '  labels:\n    keelson.dev/cluster: sim\n    keelson.dev/system: legacy\n'
	i=$((i + 1))
done >"$work/legacy-labels.yaml"
k apply --server-side --field-manager=keelson-ownership --force-conflicts -f "$work/legacy-labels.yaml"
entries=""
i=0
while [ $i -lt 4 ]; do
	k get configmap "old-$i" -n web -o jsonpath='{.metadata.uid}'
	uid=$(cat "$work/kubectl.out")
	[ -n "$uid" ] || fail "old-$i has no uid"
	entries="$entries${entries:+,}{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"namespace\":\"web\",\"name\":\"old-$i\",\"uid\":\"$uid\"}"
	i=$((i + 1))
done
cat >"$work/inventory.json" <<EOF
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keelson-inventory-sim-legacy","namespace":"keelson-system",
 "labels":{"keelson.dev/cluster":"sim","keelson.dev/system":"legacy","keelson.dev/inventory":"true"},
 "annotations":{"keelson.dev/revision":"$sha"}},
 "data":{"objects":$(printf '%s' "[$entries]" | sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$/"/')}}
EOF
k apply --server-side --field-manager=keelson --force-conflicts -f "$work/inventory.json"
for i in 0 1 2 3; do
	m=$(managers configmap web "old-$i" | tr '\n' ' ')
	[ "$m" = "keelson keelson-ownership " ] || fail "old-$i: field managers '$m' (setting up the old scheme)"
	label_owner configmap web "old-$i" keelson && fail "old-$i: keelson owns the label (setting up the old scheme)"
done
kdiff
grep -q "25 in sync, 0 drifted, 0 missing" "$work/err" || fail "diff summary: $(cat "$work/err")"
labels web >"$work/labels.before"
"$KUBECTL" get configmaps -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' |
	sort >"$work/rv.before"
counters "$work/c0"
ksync
counters "$work/c1"
grep -q "msg=applied" "$work/err" && fail "an object was applied: $(grep msg=applied "$work/err")"
grep -q "msg=\"*labelled" "$work/err" && fail "an object was labelled again"
expect_delta configmaps patch 1 "only web's inventory records the new revision"
"$KUBECTL" get configmaps -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' |
	sort >"$work/rv.after"
cmp -s "$work/rv.before" "$work/rv.after" || fail "objects changed: $(diff "$work/rv.before" "$work/rv.after")"
counters "$work/c0"
ksync
counters "$work/c1"
expect_delta configmaps patch 0 "no flapping"
kdiff

step="the next apply of an old-scheme object keeps its labels"
sed -i 's/^  value: "1"$/  value: "one"/' "$repo/clusters/sim/legacy/configmaps.yaml"
git_in commit -q -am "legacy: old-1 changes"
counters "$work/c0"
ksync
counters "$work/c1"
[ "$(grep -c "msg=applied" "$work/err")" = 1 ] || fail "expected one object applied"
grep "msg=applied" "$work/err" | grep -q "name=old-1 " || fail "the applied object is not old-1"
# old-1 and the two inventories' revisions.
expect_delta configmaps patch 3 "one apply, two inventory revisions"
k get configmap old-1 -n web -o jsonpath='{.data.value} {.metadata.labels.keelson\.dev/cluster} {.metadata.labels.keelson\.dev/system}'
[ "$(cat "$work/kubectl.out")" = "one sim legacy" ] || fail "old-1 after its apply: $(cat "$work/kubectl.out")"
label_owner configmap web old-1 keelson || fail "old-1: keelson does not own the label after its apply"
label_owner configmap web old-1 keelson-ownership || fail "old-1: keelson-ownership lost the label"
labels web >"$work/labels.after"
cmp -s "$work/labels.before" "$work/labels.after" || fail "labels changed: $(diff "$work/labels.before" "$work/labels.after")"
kdiff
counters "$work/c0"
ksync
counters "$work/c1"
expect_delta configmaps patch 0 "no flapping after the takeover"

step="pruning: an old-scheme object and a new one"
for i in 0 1 3; do
	[ $i -gt 0 ] && echo "---"
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old-%d\n  namespace: web\n' $i
	if [ $i = 1 ]; then printf 'data:\n  value: "one"\n'; else printf 'data:\n  value: "%d"\n' $i; fi
done >"$repo/clusters/sim/legacy/configmaps.yaml"
awk 'BEGIN { RS = "---\n"; ORS = "" } !/name: cm-11\n/ { if (n++) print "---\n"; print }' \
	"$repo/clusters/sim/web/configmaps.yaml" >"$work/cms" && mv "$work/cms" "$repo/clusters/sim/web/configmaps.yaml"
grep -q "cm-11" "$repo/clusters/sim/web/configmaps.yaml" && fail "test setup: cm-11 still in the repository"
grep -q "old-2" "$repo/clusters/sim/legacy/configmaps.yaml" && fail "test setup: old-2 still in the repository"
git_in add -A
git_in commit -q -m "remove old-2 and cm-11"
counters "$work/c0"
ksync
counters "$work/c1"
expect_delta configmaps delete 2 "old-2 and cm-11 pruned"
"$KUBECTL" get configmap old-2 -n web >/dev/null 2>&1 && fail "old-2 (labelled by keelson-ownership) was not pruned"
"$KUBECTL" get configmap cm-11 -n web >/dev/null 2>&1 && fail "cm-11 was not pruned"
grep -q "msg=applied" "$work/err" && fail "an object was applied: $(grep msg=applied "$work/err")"
k get configmap old-3 -n web -o name
kdiff

step="an object made by hand is adopted with one request"
# keelson's watch cache holds only labelled objects: an unlabelled one is
# applied like a new one, labels included.
k create configmap adopted -n web --from-literal=value=hand-made
printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: adopted\n  namespace: web\ndata:\n  value: hand-made\n' \
	>>"$repo/clusters/sim/legacy/configmaps.yaml"
git_in commit -q -am "adopt"
counters "$work/c0"
ksync
counters "$work/c1"
[ "$(grep -c "msg=applied" "$work/err")" = 1 ] || fail "expected one object applied"
grep "msg=applied" "$work/err" | grep -q "name=adopted " || fail "the applied object is not adopted"
grep -q "msg=\"*labelled" "$work/err" && fail "a separate label apply was made"
# adopted, legacy's inventory before and after, web's revision.
expect_delta configmaps patch 4 "one apply, three inventory writes"
k get configmap adopted -n web -o jsonpath='{.metadata.labels.keelson\.dev/cluster} {.metadata.labels.keelson\.dev/system}'
[ "$(cat "$work/kubectl.out")" = "sim legacy" ] || fail "adopted not labelled: $(cat "$work/kubectl.out")"
label_owner configmap web adopted keelson || fail "adopted: the labels are not keelson's"
kdiff

step="an in-sync object that moves to another system is labelled alone (keelson-ownership)"
awk 'BEGIN { RS = "---\n"; ORS = "" } !/name: cm-10\n/ { if (n++) print "---\n"; print }' \
	"$repo/clusters/sim/web/configmaps.yaml" >"$work/cms" && mv "$work/cms" "$repo/clusters/sim/web/configmaps.yaml"
printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-10\n  namespace: web\n  labels:\n    app: web\n  annotations:\n    example.com/index: "10"\ndata:\n  index: "10"\n' \
	>>"$repo/clusters/sim/legacy/configmaps.yaml"
git_in commit -q -am "cm-10 moves to legacy"
counters "$work/c0"
ksync
counters "$work/c1"
grep -q "msg=applied" "$work/err" && fail "the in-sync object was applied: $(grep msg=applied "$work/err")"
grep -q "msg=labelled .*name=cm-10 " "$work/err" || fail "cm-10 not labelled"
grep -q "msg=\"object moved to another system; not pruned\".*name=cm-10$" "$work/err" || fail "move not logged"
expect_delta configmaps delete 0 "a moved object is not pruned"
# The labels, legacy's inventory before and after, web's inventory.
expect_delta configmaps patch 4 "one label apply, three inventory writes"
k get configmap cm-10 -n web -o jsonpath='{.metadata.labels.keelson\.dev/cluster} {.metadata.labels.keelson\.dev/system}'
[ "$(cat "$work/kubectl.out")" = "sim legacy" ] || fail "cm-10 not relabelled: $(cat "$work/kubectl.out")"
label_owner configmap web cm-10 keelson-ownership || fail "cm-10: labels not applied by keelson-ownership"
kdiff
counters "$work/c0"
ksync
counters "$work/c1"
expect_delta configmaps patch 0 "nothing left to do"

echo "apply-requests-kubesim: ok"
