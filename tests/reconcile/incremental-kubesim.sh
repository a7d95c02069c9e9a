#!/bin/sh
# keelson run against kubesim: a commit that changes only system b is
# applied to b without re-diffing system a (a's inventory keeps the revision
# its content last changed in, and the cycle reports one system diffed, one
# unchanged; the loader parsed one file and took a's objects as checked); drift
# made afterwards in the unchanged system a is still detected as drift at a's
# revision and healed; a drift check (full cycle) compares a again; a commit
# whose tree has more files than the Git source's entry limit is refused and
# the last good revision stays in force.
# Needs $KUBECTL (skipped with 77 when empty), git, and $top_builddir.
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init incremental-kubesim git curl
SCENARIO_LOGS="out err daemon.log"
SCENARIO_TAIL=60
kubesim_start "$work" --log-level error || exit 1

step=""
# wait_until SECONDS DESCRIPTION COMMAND...: scenario_wait, output discarded.
wait_until() {
	scenario_wait -q "$@"
}
kget() {
	"$KUBECTL" --request-timeout=20s get "$@" 2>/dev/null
}
inventory_rev() {
	kget configmap "keelson-inventory-c1-$1" -n keelson-system \
		-o jsonpath='{.metadata.annotations.keelson\.dev/revision}'
}
cm_value() {
	kget configmap "cm-$1" -n default -o jsonpath='{.data.v}'
}
is_value() { [ "$(cm_value "$1")" = "$2" ]; }
is_inventory() { [ "$(inventory_rev "$1")" = "$2" ]; }
log_has() { grep -q "$1" "$work/daemon.log"; }

repo="$work/repo"
mkdir -p "$repo/clusters/c1/a" "$repo/clusters/c1/b"
cat >"$repo/keelson.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: incremental
spec:
  statusBranch: keelson/status
  policy:
    prune: true
    driftPolicy: heal
    pollInterval: 1m
    driftCheckInterval: 1h
    alertRepeatInterval: 1h
EOF
cat >"$repo/clusters/c1/cluster.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Cluster
metadata:
  name: c1
spec:
  kubeContext: kubesim
EOF
for s in a b; do
	cat >"$repo/clusters/c1/$s/system.yaml" <<EOF
apiVersion: keelson.dev/v1alpha1
kind: System
metadata:
  name: $s
spec:
  plugin: generic
EOF
	cat >"$repo/clusters/c1/$s/cm.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-$s
  namespace: default
data:
  v: "1"
EOF
done
git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
git_in add -A
git_in commit -q -m "two systems"
sha1=$(git -C "$repo" rev-parse HEAD)

cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1s
clusters:
  - name: c1
    kubeconfig: $KUBECONFIG
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: 2s
EOF

step="the daemon converges on the first revision"
# The tree of every revision here has at most 6 files; the last step
# commits a seventh.
KEELSON_GIT_MAX_TREE_ENTRIES=6 "$KEELSON" --log-level debug run --config "$work/keelson.yaml" \
	>"$work/daemon.out" 2>"$work/daemon.log" &
daemon=$!
wait_until 60 "daemon did not converge" log_has 'msg="reconcile cycle done".*converged=true'
is_inventory a "$sha1" || fail "inventory of a: '$(inventory_rev a)', expected $sha1"
is_inventory b "$sha1" || fail "inventory of b: '$(inventory_rev b)', expected $sha1"

step="a commit changing system b does not re-diff system a"
# The cycle a commit causes compares only what it changed, unless a watch
# event arrived since the last cycle (the first cycle's own writes may
# still be arriving): then everything is compared, as it must be. Commit
# until a cycle shows the commit alone.
v=1
while :; do
	v=$((v + 1))
	[ $v -gt 5 ] && fail "no commit cycle left system a alone (4 commits)"
	sed -i "s/v: \"$((v - 1))\"/v: \"$v\"/" "$repo/clusters/c1/b/cm.yaml"
	git_in commit -q -am "b: v$v"
	sha2=$(git -C "$repo" rev-parse HEAD)
	wait_until 60 "b's ConfigMap not updated" is_value b $v
	wait_until 30 "b's inventory not at the new revision" is_inventory b "$sha2"
	wait_until 30 "no cycle after the commit" log_has "msg=\"reconcile cycle done\" revision=$sha2 converged=true"
	# The first cycle of the revision: b compared, a left alone.
	grep -m 1 "msg=\"reconcile cycle done\" revision=$sha2 " "$work/daemon.log" >"$work/first"
	grep -q "systemsDiffed=1 systemsUnchanged=1" "$work/first" && break
	grep -q "systemsDiffed=2 systemsUnchanged=0" "$work/first" ||
		fail "unexpected first cycle of $sha2: $(cat "$work/first")"
done
is_inventory a "$sha1" || fail "a's inventory was rewritten: '$(inventory_rev a)', expected $sha1"
grep -q "msg=\"new revision\" revision=$sha2.*filesParsed=1 filesUnchanged=5 systemsUnchanged=1" "$work/daemon.log" ||
	fail "the loader read more than the changed file: $(grep "msg=\"new revision\" revision=$sha2" "$work/daemon.log")"

step="drift in the unchanged system a is healed as drift"
"$KUBECTL" --request-timeout=20s patch configmap cm-a -n default --type merge -p '{"data":{"v":"hand"}}' \
	>/dev/null 2>&1 || fail "kubectl patch failed"
wait_until 60 "a's drift not detected" log_has 'drift detected; healing.*name=cm-a'
wait_until 60 "a's drift not healed" is_value a 1
is_inventory a "$sha1" || fail "healing rewrote a's inventory: '$(inventory_rev a)'"

step="a drift check compares system a again"
# A full cycle (what the drift check runs; --once is always one) finds a
# in sync at its revision and rewrites nothing.
kill "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
daemon=
"$KUBECTL" --request-timeout=20s patch configmap cm-a -n default --type merge -p '{"data":{"v":"again"}}' \
	>/dev/null 2>&1 || fail "kubectl patch failed"
"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err" || fail "keelson sync failed"
is_value a 1 || fail "drift in a not healed by a full cycle: '$(cm_value a)'"
grep -q "msg=applied.*name=cm-a" "$work/err" || fail "the full cycle did not apply cm-a"

step="a tree over the Git source's entry limit is refused; the last good revision stays"
KEELSON_GIT_MAX_TREE_ENTRIES=6 "$KEELSON" --log-level debug run --config "$work/keelson.yaml" \
	>"$work/daemon.out" 2>"$work/daemon.log" &
daemon=$!
wait_until 60 "daemon did not converge after restart" log_has 'msg="reconcile cycle done".*converged=true'
sed -i 's/v: "1"/v: "3"/' "$repo/clusters/c1/a/cm.yaml"
printf 'one file too many\n' >"$repo/README.md"
git_in add -A
git_in commit -q -m "a: v3, and a seventh file"
sha3=$(git -C "$repo" rev-parse HEAD)
wait_until 60 "the oversized tree was not refused" log_has "revision rejected.*revision=$sha3"
grep "invalid revision.*revision=$sha3" "$work/daemon.log" | grep -q "more than 6 files" ||
	fail "the refusal does not name the limit: $(grep "revision=$sha3" "$work/daemon.log" | head -3)"
is_value a 1 || fail "a change of the refused revision was applied: '$(cm_value a)'"
is_value b $v || fail "b changed: '$(cm_value b)'"
grep -q "msg=\"reconcile cycle done\" revision=$sha3" "$work/daemon.log" &&
	fail "the refused revision was put in force"
echo "incremental-kubesim: ok"
