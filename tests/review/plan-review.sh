#!/bin/sh
# keelson plan --base --head end to end on real Git repositories: a
# ConfigMap edit, an added and a removed manifest, a StatefulSet image bump
# under the example plugin (ordered restarts with gates, exit 1), a change
# the plugin refuses (exit 3), no change (exit 0), an invalid head (exit 2
# with file:line:column), Markdown and JSON (parsed by python3), the
# repository given as a file:// URL and served by `git daemon` on
# 127.0.0.1, and --live against kubesim after the base revision was synced.
# With the Kafka plugin built: an image bump of the example repository's
# kafka-events system plans ordered broker restarts with gates.
# Needs git and python3 (skipped with 77 without them); --live starts kubesim
# from the build directory.
set -u

command -v git >/dev/null 2>&1 || { echo "plan-review: no git, skipping"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "plan-review: no python3, skipping"; exit 77; }
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KEELSON=$builddir/keelson
PLUGINS=$builddir/plugins/example/.libs
[ -x "$KEELSON" ] || { echo "plan-review: $KEELSON not built"; exit 1; }
[ -f "$PLUGINS/restart-one-at-a-time.so" ] || { echo "plan-review: example plugin not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/plan-review.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

step=""
fail() {
	echo "FAIL [$step]: $*"
	for f in out err kubesim.err git-daemon.err; do
		[ -f "$work/$f" ] && { echo "--- $f (last 60 lines)"; tail -n 60 "$work/$f"; }
	done
	exit 1
}

# plan ARGS...: run keelson plan on the repository with the example plugin;
# output in $work/out, errors in $work/err, exit status in $rc.
plan() {
	"$KEELSON" plan --plugin-dir "$PLUGINS" "$@" >"$work/out" 2>"$work/err"
	rc=$?
}
expect_rc() {
	[ "$rc" -eq "$1" ] || fail "exit status $rc, expected $1"
}

repo="$work/repo"
cp -R "$srcdir/tests/plugin/repo" "$repo"
chmod -R u+w "$repo"
web="$repo/clusters/sim/web"
git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
cat >"$web/settings.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: web
data:
  logLevel: info
  retention: 7d
EOF
cat >"$web/old.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: old
  namespace: web
data:
  x: "1"
EOF
git_in add -A
git_in commit -q -m base
base=$(git -C "$repo" rev-parse HEAD)

step="ConfigMap edit, an added and a removed manifest"
git_in checkout -q -b topic
sed -i 's/logLevel: info/logLevel: debug/; /retention: 7d/d' "$web/settings.yaml"
git_in rm -q clusters/sim/web/old.yaml
cat >"$web/new.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: new
  namespace: web
data:
  y: "2"
EOF
git_in add -A
git_in commit -q -m "config changes"
config=$(git -C "$repo" rev-parse HEAD)
plan --repo "$repo" --base main --head topic --output json
expect_rc 1
python3 - "$work/out" "$base" "$config" <<'PY' || fail "json of the config change"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["schemaVersion"] == 1 and j["mode"] == "preview", j
assert j["result"] == "changes" and j["exitCode"] == 1, j
assert j["base"] == {"revision": "main", "commit": sys.argv[2]}, j["base"]
assert j["head"] == {"revision": "topic", "commit": sys.argv[3]}, j["head"]
assert j["summary"] == {"systems": 1, "objectsChanged": 3, "steps": 2, "refused": 0, "errors": 0}, j["summary"]
s = j["systems"][0]
assert (s["cluster"], s["system"], s["plugin"], s["change"]) == ("sim", "web", "restart-one-at-a-time", "modified"), s
objects = {(o["kind"], o["name"]): o for o in s["objects"]}
assert set(objects) == {("ConfigMap", "settings"), ("ConfigMap", "new"), ("ConfigMap", "old")}, objects.keys()
settings = objects[("ConfigMap", "settings")]
assert settings["change"] == "modified" and settings["file"] == "clusters/sim/web/settings.yaml", settings
fields = {f["pointer"]: f for f in settings["fields"]}
assert fields["/data/logLevel"]["change"] == "changed", fields
assert (fields["/data/logLevel"]["before"], fields["/data/logLevel"]["after"]) == ("info", "debug"), fields
assert (fields["/data/logLevel"]["line"], fields["/data/logLevel"]["column"]) == (7, 13), fields
assert fields["/data/retention"]["change"] == "removed" and fields["/data/retention"]["after"] is None, fields
assert objects[("ConfigMap", "new")]["change"] == "added" and objects[("ConfigMap", "new")]["prune"] is None
old = objects[("ConfigMap", "old")]
assert old["change"] == "removed" and old["prune"] == "delete" and old["file"] == "clusters/sim/web/old.yaml", old
steps = s["plan"]["steps"]
assert s["plan"]["status"] == "ok" and [t["kind"] for t in steps] == ["apply", "apply"], steps
assert [t["target"]["name"] for t in steps] == ["new", "settings"], steps
PY

step="text output of the config change"
plan --repo "$repo" --base main --head topic
expect_rc 1
grep -q '^      clusters/sim/web/settings.yaml:7:13: /data/logLevel: "info" -> "debug"$' "$work/out" ||
	fail "no field line with the head file:line:column"
grep -q '^    removed ConfigMap web/old (clusters/sim/web/old.yaml:1): prune is on for this system: it will be deleted$' \
	"$work/out" || fail "the removal does not say it will be pruned"
grep -q '^    added ConfigMap web/new (clusters/sim/web/new.yaml:1)$' "$work/out" || fail "no added object"

step="StatefulSet image bump: ordered restarts with gates"
sed -i 's/nginx:1.27/nginx:1.28/' "$web/statefulset.yaml"
git_in commit -q -am "nginx 1.28"
plan --repo "$repo" --base topic~1 --head topic
expect_rc 1
sed -n 's/^    \([0-9]*\)\. \[\([a-z-]*\)\] \(.*\)$/\1 \2 \3/p' "$work/out" >"$work/steps"
cat >"$work/want" <<'EOF'
1 apply apply StatefulSet web/web (drifted)
2 delete-pod delete pod web/web-2 (out of date; grace 0s)
3 wait wait until all 3 pods of web Ready before restarting web-1
4 delete-pod delete pod web/web-1 (out of date; grace 0s)
5 wait wait until all 3 pods of web Ready before restarting web-0
6 delete-pod delete pod web/web-0 (out of date; grace 0s)
7 wait wait until all 3 pods of web are Ready
EOF
cmp -s "$work/steps" "$work/want" || fail "steps: $(cat "$work/steps")"
[ "$(grep -c '^         gate: all 3 pods of web Ready$' "$work/out")" -eq 6 ] || fail "not every restart step is gated"
grep -q '/spec/template/spec/containers/0/image: "nginx:1.27" -> "nginx:1.28"' "$work/out" || fail "no image field line"

step="Markdown for a pull-request comment"
plan --repo "$repo" --base main --head topic --output markdown
expect_rc 1
grep -q '^| cluster | system | plugin | change | objects changed | steps | refused |$' "$work/out" || fail "no summary table"
grep -q '^| sim | web | restart-one-at-a-time | modified | 4 | 9 | 0 |$' "$work/out" || fail "summary row"
grep -q '^3\. \*\*apply\*\* apply StatefulSet web/web (drifted)$' "$work/out" || fail "numbered apply step"
grep -q '^4\. \*\*delete-pod\*\* delete pod web/web-2 (out of date; grace 0s)<br>gate: all 3 pods of web Ready$' \
	"$work/out" || fail "numbered restart step with its gate"
grep -q '^```diff$' "$work/out" || fail "no diff block"
grep -q '`/spec/template/spec/containers/0/image` (`clusters/sim/web/statefulset.yaml:21:18`)' "$work/out" ||
	fail "no field with its head position"

step="no change"
plan --repo "$repo" --base topic --head topic
expect_rc 0
grep -q 'nothing would change (exit 0)$' "$work/out" || fail "no-change summary"
plan --repo "$repo" --base topic --head topic -o json
expect_rc 0
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["result"]=="no-changes" and j["summary"]["steps"]==0, j' \
	"$work/out" || fail "no-change json"

step="a change the plugin refuses: exit 3"
git_in checkout -q -b refused topic
sed -i 's/type: OnDelete/type: RollingUpdate/' "$web/statefulset.yaml"
git_in commit -q -am "RollingUpdate"
plan --repo "$repo" --base topic --head refused -o json
expect_rc 3
python3 - "$work/out" <<'PY' || fail "json of the refused change"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "refused" and j["exitCode"] == 3 and j["summary"]["refused"] == 1, j
steps = j["systems"][0]["plan"]["steps"]
assert [s["kind"] for s in steps] == ["blocked"], steps
assert "OnDelete" in steps[0]["reason"], steps
PY
plan --repo "$repo" --base topic --head refused -o markdown
expect_rc 3
grep -q '^1\. ⛔ \*\*blocked\*\*' "$work/out" || fail "the blocked step is not marked in Markdown"

step="invalid head: exit 2 with file:line:column"
git_in checkout -q -b broken topic
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: web\ndata: [1\n' >"$web/bad.yaml"
git_in add -A
git_in commit -q -m broken
plan --repo "$repo" --base topic --head broken
expect_rc 2
grep -q '^clusters/sim/web/bad.yaml:7:1: ' "$work/err" || fail "the problem has no file:line:column"
grep -q 'the head revision broken (.*) is not valid: 1 problem' "$work/err" || fail "no summary of the rejection"
plan --repo "$repo" --base topic --head broken -o json
expect_rc 2
python3 - "$work/out" <<'PY' || fail "json of the invalid head"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "error" and j["exitCode"] == 2, j
p = j["problems"][0]
assert (p["file"], p["line"], p["column"]) == ("clusters/sim/web/bad.yaml", 7, 1), p
assert j["head"]["revision"] == "broken" and len(j["head"]["commit"]) == 40, j["head"]
PY
# A submodule entry: its files are not in the repository, so the revision
# is refused (as the daemon's Git source refuses it).
git_in checkout -q -b submodule topic
git_in update-index --add --cacheinfo "160000,$base,clusters/sim/web/vendored"
git_in commit -q -m submodule
plan --repo "$repo" --base topic --head submodule
expect_rc 2
grep -q 'clusters/sim/web/vendored is a Git submodule' "$work/err" || fail "the submodule is not named"
plan --repo "$repo" --base topic --head no-such-branch
expect_rc 2
grep -q '"no-such-branch" is not a commit' "$work/err" || fail "an unknown revision is not named"
plan --repo "$repo" --base topic
expect_rc 2

step="the repository as a file:// URL (temporary bare clone)"
mkdir "$work/tmp"
TMPDIR="$work/tmp" plan --repo "file://$repo" --base main --head topic -o json
expect_rc 1
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["summary"]["steps"]==9 and j["repository"].startswith("file://"), j' \
	"$work/out" || fail "file:// review"
[ -z "$(ls -A "$work/tmp")" ] || fail "the temporary clone was left behind: $(ls -A "$work/tmp")"

step="the repository served by git daemon on 127.0.0.1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir "$work/srv"
git clone -q --bare "$repo" "$work/srv/config.git" || fail "bare clone"
git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$work/srv" --export-all \
	"$work/srv" 2>"$work/git-daemon.err" &
daemon_pid=$!
i=0
until git ls-remote "git://127.0.0.1:$port/config.git" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 300 ] || fail "git daemon did not answer"
	sleep 0.1
done
plan --repo "git://127.0.0.1:$port/config.git" --base "$base" --head refused
expect_rc 3
grep -q '^keelson plan: git://127.0.0.1:'"$port"'/config.git, base ' "$work/out" || fail "the URL is not named"
grep -q 'refused: StatefulSet web/web must have spec.updateStrategy.type OnDelete' "$work/out" ||
	fail "no refusal over git://"

step="--live against kubesim, after the base revision was synced"
kubesim_start "$work" --log-level error || fail "kubesim did not start"
cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
clusters:
  - name: sim
    kubeconfig: $KUBECONFIG
    context: kubesim
pluginDir: $PLUGINS
EOF
runs=0
while :; do
	runs=$((runs + 1))
	[ $runs -le 100 ] || fail "base not converged after 100 sync runs"
	"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
	rc=$?
	[ $rc -eq 0 ] && break
	[ $rc -eq 1 ] || fail "sync exited $rc"
	sleep 0.3
done
plan --repo "$repo" --base main --head topic --live --kubeconfig "$KUBECONFIG" -o json
expect_rc 1
python3 - "$work/out" <<'PY' || fail "live plan"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["mode"] == "live", j["mode"]
steps = j["systems"][0]["plan"]["steps"]
kinds = [s["kind"] for s in steps]
# Against the cluster: the pods are real, all Ready, so the first restart's
# gate holds now (no wait before it) and gates report what was observed.
assert kinds[:3] == ["apply", "apply", "apply"], kinds
deletes = [s for s in steps if s["kind"] == "delete-pod"]
assert [d["target"]["name"] for d in deletes] == ["web-2", "web-1", "web-0"], deletes
assert kinds[3] == "delete-pod", kinds
assert all("(now 3)" in d["gate"] for d in deletes), deletes
PY
# Nothing was changed in the cluster by planning.
"$KEELSON" plan --plugin-dir "$PLUGINS" --repo "$repo" --base main --head main --live --kubeconfig "$KUBECONFIG" \
	>"$work/out" 2>"$work/err"
rc=$?
expect_rc 0
kubesim_stop || fail "kubesim exited uncleanly"
# A cluster that cannot be read makes the review incomplete: exit 2, not 3.
printf 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n' >"$work/empty-kubeconfig"
plan --repo "$repo" --base main --head topic --live --kubeconfig "$work/empty-kubeconfig" -o json
expect_rc 2
python3 - "$work/out" <<'PY' || fail "live plan without a cluster"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["result"] == "error" and j["summary"]["errors"] == 1 and j["error"], j
plan = j["systems"][0]["plan"]
assert plan["status"] == "failed" and plan["clusterUnreadable"] is True and "cluster sim" in plan["error"], plan
PY

step="Kafka plugin: image bump of kafka-events"
# The example repository names the kafka, cassandra and spark plugins: all
# three must load for its revisions to be valid.
if [ -f "$builddir/plugins/kafka/.libs/kafka.so" ] && [ -f "$builddir/plugins/cassandra/.libs/cassandra.so" ] &&
	[ -f "$builddir/plugins/spark/.libs/spark.so" ]; then
	mkdir "$work/plugins"
	for p in kafka cassandra spark; do
		ln -s "$(cd "$builddir/plugins/$p/.libs" && pwd)/$p.so" "$work/plugins/$p.so" || fail "link $p.so"
	done
	ex="$work/example"
	cp -R "$srcdir/repo-layout/example" "$ex"
	chmod -R u+w "$ex"
	gx() { git -C "$ex" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
	git init -q -b main "$ex" || fail "git init example"
	gx add -A
	gx commit -q -m example
	sts="$ex/clusters/prod-chicago/kafka-events/statefulset.yaml"
	image=$(sed -n 's/^ *image: *\([^ ]*kafka[^ ]*\)$/\1/p' "$sts" | head -n 1)
	[ -n "$image" ] || fail "no Kafka image in $sts"
	sed -i "s|image: $image|image: $image-bump|" "$sts"
	gx commit -q -am "kafka image bump"
	"$KEELSON" plan --plugin-dir "$work/plugins" --repo "$ex" --base HEAD~1 --head HEAD -o json \
		>"$work/out" 2>"$work/err"
	rc=$?
	expect_rc 1
	python3 - "$work/out" <<'PY' || fail "kafka plan"
import json, sys
j = json.load(open(sys.argv[1]))
changed = [s for s in j["systems"] if s["change"] != "unchanged"]
assert [s["system"] for s in changed] == ["kafka-events"], [(s["system"], s["change"]) for s in j["systems"]]
s = changed[0]
assert s["plugin"] == "kafka" and s["plan"]["status"] == "ok", s
assert [o["kind"] + "/" + o["name"] for o in s["objects"]] == ["StatefulSet/kafka"], s["objects"]
assert s["objects"][0]["fields"][0]["pointer"].endswith("/image"), s["objects"][0]["fields"]
steps = s["plan"]["steps"]
kinds = [t["kind"] for t in steps]
# The template change reaches the StatefulSet before any broker restarts.
assert kinds[0] in ("apply", "patch") and "blocked" not in kinds, kinds
assert kinds.index("delete-pod") > 0, kinds
restarts = [i for i, t in enumerate(steps) if t["kind"] == "delete-pod"]
names = [steps[i]["target"]["name"] for i in restarts]
# One broker at a time: every broker once, a wait before each next one.
assert sorted(names) == ["kafka-0", "kafka-1", "kafka-2"], names
assert all(steps[i - 1]["kind"] == "wait" for i in restarts[1:]), kinds
assert all(steps[i]["gate"] and ("URP" in steps[i]["gate"] or "under-replicated" in steps[i]["gate"].lower()) for i in restarts), [steps[i]["gate"] for i in restarts]
PY
else
	echo "plan-review: the kafka, cassandra and spark plugins are not all built; the example repository case is not run"
fi

echo "plan-review: ok"
