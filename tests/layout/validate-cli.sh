#!/bin/sh
# `keelson validate` end to end: exit codes, text and JSON output, on the
# example repository and on broken repositories.
set -eu
top=${top_srcdir:-.}
build=${top_builddir:-.}
keelson="$build/keelson"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keelson-validate-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "validate-cli: FAIL: $*" >&2; exit 1; }

# The example is valid: exit 0 and a summary.
"$keelson" validate "$top/repo-layout/example" > "$tmp/out" || fail "example rejected: $(cat "$tmp/out")"
grep -q '^2 clusters, 5 systems, 33 objects in 29 YAML files$' "$tmp/out" || fail "summary: $(cat "$tmp/out")"
grep -q '^  kafka-events  *plugin kafka  *11 objects  prune=true drift=heal' "$tmp/out" || fail "kafka line: $(cat "$tmp/out")"

"$keelson" validate --output json "$top/repo-layout/example" > "$tmp/out.json" || fail "example rejected (json)"
python3 - "$tmp/out.json" <<'PY' || fail "json summary"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["valid"] is True and j["problems"] == [], j
assert j["counts"] == {"clusters": 2, "systems": 5, "objects": 33, "files": 29}, j["counts"]
prod = [c for c in j["clusters"] if c["name"] == "prod-chicago"][0]
assert [s["name"] for s in prod["systems"]] == ["cassandra-chicago", "kafka-events", "platform", "spark-etl"]
platform = [s for s in prod["systems"] if s["name"] == "platform"][0]
assert platform["policy"] == {"prune": False, "driftPolicy": "heal", "pollInterval": "1m",
                              "driftCheckInterval": "10m", "alertRepeatInterval": "1h"}, platform
PY

# A broken repository: exit 1, every problem as FILE:LINE:COLUMN: MESSAGE [CODE].
status=0
"$keelson" validate "$top/tests/layout/broken/wrong-type" > "$tmp/out" || status=$?
[ "$status" -eq 1 ] || fail "broken repository exit status $status, expected 1"
grep -q '^clusters/prod/cluster.yaml:11:18: spec.policy.driftPolicy is "repair"; it must be one of: alert, heal, ignore \[wrong-type\]$' "$tmp/out" \
  || fail "problem line: $(cat "$tmp/out")"
[ "$(grep -c '\[wrong-type\]$' "$tmp/out")" -eq 6 ] || fail "expected 6 problems: $(cat "$tmp/out")"
tail -n 1 "$tmp/out" | grep -q '^6 problems in .*; the revision is rejected' || fail "last line: $(tail -n 1 "$tmp/out")"

status=0
"$keelson" validate -o json "$top/tests/layout/broken/claimed-twice" > "$tmp/out.json" || status=$?
[ "$status" -eq 1 ] || fail "broken repository (json) exit status $status"
python3 - "$tmp/out.json" <<'PY' || fail "json problems"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["valid"] is False
assert j["problems"] == [{"file": "clusters/prod/web/deployment.yaml", "line": 7, "column": 1,
    "code": "claimed-twice", "message": j["problems"][0]["message"]}], j["problems"]
assert "claimed by two systems of cluster prod" in j["problems"][0]["message"]
PY

# Bad usage exits 2; a missing path exits 1 with a message.
status=0; "$keelson" validate --output yaml . > /dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "--output yaml: exit $status, expected 2"
status=0; "$keelson" validate a b > /dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "two paths: exit $status, expected 2"
status=0; "$keelson" validate "$tmp/nonexistent" > /dev/null 2> "$tmp/err" || status=$?
[ "$status" -eq 1 ] || fail "missing path: exit $status, expected 1"
grep -q 'no such directory' "$tmp/err" || fail "missing path message: $(cat "$tmp/err")"

# A file, not a directory.
status=0; "$keelson" validate "$top/repo-layout/example/keelson.yaml" > /dev/null 2> "$tmp/err" || status=$?
[ "$status" -eq 1 ] && grep -q 'is a file; give the root directory' "$tmp/err" || fail "file argument"

# A Git repository by URL, at a branch and at a commit (no network: file://).
if command -v git > /dev/null 2>&1; then
  repo="$tmp/config"
  mkdir "$repo"
  cp -R "$top/repo-layout/example/." "$repo/"
  chmod -R u+w "$repo"
  (cd "$repo" && git init -q -b main && git -c user.name=t -c user.email=t@example.com add -A &&
   git -c user.name=t -c user.email=t@example.com commit -q -m example)
  sha=$(cd "$repo" && git rev-parse HEAD)
  "$keelson" validate --cache-dir "$tmp/cache1" "file://$repo@main" > "$tmp/out" \
    || fail "file:// URL at main: $(cat "$tmp/out")"
  grep -q '^2 clusters, 5 systems, 33 objects in 29 YAML files$' "$tmp/out" || fail "URL summary: $(cat "$tmp/out")"
  # Break the repository in a second commit: the older commit stays valid.
  sed -i 's/driftPolicy: alert/driftPolicy: sometimes/' "$repo/keelson.yaml"
  (cd "$repo" && git -c user.name=t -c user.email=t@example.com commit -q -am broken)
  status=0
  "$keelson" validate --cache-dir "$tmp/cache2" "file://$repo@main" > "$tmp/out" || status=$?
  [ "$status" -eq 1 ] && grep -q '^keelson.yaml:11:18: spec.policy.driftPolicy is "sometimes"' "$tmp/out" \
    || fail "broken commit: exit $status: $(cat "$tmp/out")"
  "$keelson" validate --cache-dir "$tmp/cache3" "file://$repo@$sha" > "$tmp/out" \
    || fail "URL at a commit: $(cat "$tmp/out")"
  # Without --cache-dir: the Git source's naming (readable URL part, hash)
  # under $XDG_CACHE_HOME, the same directory on the next run.
  XDG_CACHE_HOME="$tmp/xdg" "$keelson" validate "file://$repo@$sha" > "$tmp/out" \
    || fail "default cache dir: $(cat "$tmp/out")"
  XDG_CACHE_HOME="$tmp/xdg" "$keelson" validate "file://$repo@$sha" > "$tmp/out" \
    || fail "default cache dir, second run: $(cat "$tmp/out")"
  ls "$tmp/xdg/keelson/validate" > "$tmp/caches"
  grep -qx '[A-Za-z0-9._-]*-[0-9a-f]\{16\}' "$tmp/caches" && [ "$(wc -l < "$tmp/caches")" -eq 1 ] \
    || fail "default cache directories: $(cat "$tmp/caches")"
  # Symbolic links read from a commit: the same problems as from a checkout.
  git -C "$repo" checkout -q "$sha" -- keelson.yaml
  ln -s /etc/passwd "$repo/clusters/staging/spark-etl/passwd.yaml"
  ln -s ../prod-chicago/platform "$repo/clusters/staging/platform"
  (cd "$repo" && git -c user.name=t -c user.email=t@example.com add -A &&
   git -c user.name=t -c user.email=t@example.com commit -q -m links)
  status=0
  "$keelson" validate --cache-dir "$tmp/cache4" "file://$repo" > "$tmp/out-git" || status=$?
  [ "$status" -eq 1 ] || fail "symlinks in a commit: exit $status: $(cat "$tmp/out-git")"
  status=0
  "$keelson" validate "$repo" > "$tmp/out-dir" || status=$?
  [ "$status" -eq 1 ] || fail "symlinks in a checkout: exit $status"
  grep -c '\[path-escape\]$' "$tmp/out-git" | grep -qx 2 || fail "symlink problems: $(cat "$tmp/out-git")"
  head -n 2 "$tmp/out-git" > "$tmp/a"; head -n 2 "$tmp/out-dir" > "$tmp/b"
  cmp -s "$tmp/a" "$tmp/b" || fail "commit and checkout disagree: $(cat "$tmp/a" "$tmp/b")"

  # Every broken repository gives the same problems from a commit as from
  # a checkout: the two file sources feed the loader the same revision.
  for case_dir in "$top"/tests/layout/broken/*/; do
    name=$(basename "$case_dir")
    work="$tmp/case-$name"
    mkdir "$work"
    cp -R "$case_dir." "$work/"
    chmod -R u+w "$work"
    (cd "$work" && git init -q -b main && git -c user.name=t -c user.email=t@example.com add -A &&
     git -c user.name=t -c user.email=t@example.com commit -q -m "$name")
    "$keelson" validate -o json "$work" > "$tmp/dir.json" || true
    "$keelson" --log-level warn validate -o json --cache-dir "$tmp/cache-$name" "file://$work" \
      > "$tmp/git.json" || true
    python3 - "$tmp/dir.json" "$tmp/git.json" "$name" <<'PY' || fail "broken/$name: commit and checkout disagree"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["valid"] is False and b["valid"] is False, sys.argv[3]
assert a["problems"] == b["problems"], (a["problems"], b["problems"])
PY
  done
fi
echo "validate-cli: ok"
