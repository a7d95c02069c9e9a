#!/bin/sh
# Git content cannot escape the configuration repository: a commit with a
# symbolic link leaving the repository, a tree entry named "..", a
# submodule (gitlink) or a crafted tree with two entries of one name is
# refused, with a message naming the path and what to do, while the last
# good commit stays valid. The commits are made with Git plumbing (git
# update-index --cacheinfo, git mktree, git commit-tree), as an attacker
# with push access would; Git's porcelain never writes most of them.
set -eu
top=${top_srcdir:-.}
build=${top_builddir:-.}
keelson="$build/keelson"
command -v git > /dev/null 2>&1 || { echo "git-escape: git not installed" >&2; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keelson-git-escape-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "git-escape: FAIL: $*" >&2; exit 1; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com

repo="$tmp/config"
mkdir "$repo"
cp -R "$top/repo-layout/example/." "$repo/"
chmod -R u+w "$repo"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m example
good=$(git -C "$repo" rev-parse HEAD)
n=0

# validate_refused NAME PATTERN...: the tip of main is refused (exit 1) and
# the output names what is wrong; the good commit still validates.
validate_refused() {
  name=$1
  shift
  n=$((n + 1))
  status=0
  "$keelson" --log-level error validate --cache-dir "$tmp/cache-$n" "file://$repo@main" \
    > "$tmp/out-$n" 2>&1 || status=$?
  [ "$status" -eq 1 ] || fail "$name: exit $status, expected 1: $(cat "$tmp/out-$n")"
  for pattern in "$@"; do
    grep -q -e "$pattern" "$tmp/out-$n" || fail "$name: no \"$pattern\" in: $(cat "$tmp/out-$n")"
  done
  "$keelson" --log-level error validate --cache-dir "$tmp/cache-$n" "file://$repo@$good" > /dev/null 2>&1 \
    || fail "$name: the last good commit no longer validates"
  git -C "$repo" update-ref refs/heads/main "$good"
  git -C "$repo" reset -q --hard "$good"
}

# commit_tree TREE MESSAGE: a commit of TREE on top of the good one, as main.
commit_tree() {
  c=$(git -C "$repo" commit-tree "$1" -p "$good" -m "$2")
  git -C "$repo" update-ref refs/heads/main "$c"
}

# 1. A submodule: a gitlink to a commit of another repository, with the
# .gitmodules file `git submodule add` would write.
sub="$tmp/vendor"
git init -q -b main "$sub"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vendored, namespace: platform}\n' > "$sub/cm.yaml"
git -C "$sub" add cm.yaml
git -C "$sub" commit -q -m vendored
sub_sha=$(git -C "$sub" rev-parse HEAD)
printf '[submodule "vendored"]\n\tpath = clusters/prod-chicago/platform/vendored\n\turl = %s\n' "$sub" \
  > "$repo/.gitmodules"
git -C "$repo" add .gitmodules
git -C "$repo" update-index --add --cacheinfo "160000,$sub_sha,clusters/prod-chicago/platform/vendored"
git -C "$repo" commit -q -m "vendor a submodule"
validate_refused submodule \
  'clusters/prod-chicago/platform/vendored is a Git submodule' \
  'keelson does not fetch submodules' 'git rm --cached clusters/prod-chicago/platform/vendored'

# 2. A tree entry named "..": a directory that, checked out naively, would
# sit beside the repository.
blob=$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: escaped, namespace: platform}\n' \
  | git -C "$repo" hash-object -w --stdin)
evil=$(printf '100644 blob %s\tpasswd.yaml\n' "$blob" | git -C "$repo" mktree)
root=$( (git -C "$repo" ls-tree "$good"; printf '040000 tree %s\t..\n' "$evil") | git -C "$repo" mktree)
commit_tree "$root" "dot-dot tree entry"
validate_refused dot-dot 'tree entry "\.\."' 'could name a file outside the repository' 'git rm'

# 3. The same one level down, in a system directory.
platform=$(git -C "$repo" rev-parse "$good:clusters/prod-chicago/platform")
platform2=$( (git -C "$repo" ls-tree "$platform"; printf '040000 tree %s\t..\n' "$evil") | git -C "$repo" mktree)
prod=$(git -C "$repo" rev-parse "$good:clusters/prod-chicago")
prod2=$(git -C "$repo" ls-tree "$prod" | sed "s/[0-9a-f]\{40\}\tplatform\$/$platform2\tplatform/" | git -C "$repo" mktree)
clusters=$(git -C "$repo" rev-parse "$good:clusters")
clusters2=$(git -C "$repo" ls-tree "$clusters" | sed "s/[0-9a-f]\{40\}\tprod-chicago\$/$prod2\tprod-chicago/" \
  | git -C "$repo" mktree)
root=$(git -C "$repo" ls-tree "$good" | sed "s/[0-9a-f]\{40\}\tclusters\$/$clusters2\tclusters/" | git -C "$repo" mktree)
commit_tree "$root" "nested dot-dot"
validate_refused nested-dot-dot 'tree entry "clusters/prod-chicago/platform/\.\."'

# 4. Two entries with one name: which one is "the" keelson.yaml?
root=$( (git -C "$repo" ls-tree "$good"; printf '100644 blob %s\tkeelson.yaml\n' "$blob") | git -C "$repo" mktree)
commit_tree "$root" "duplicate entry"
validate_refused duplicate-entry 'two entries named keelson.yaml' 'rewrite the commit'

# 5. Trees nested deeper than a path can be long (4096 bytes): refused
# before the walk descends further.
t=$(printf '100644 blob %s\tdeep.yaml\n' "$blob" | git -C "$repo" mktree)
i=0
while [ $i -lt 1400 ]; do
  t=$(printf '040000 tree %s\taa\n' "$t" | git -C "$repo" mktree)
  i=$((i + 1))
done
root=$( (git -C "$repo" ls-tree "$good"; printf '040000 tree %s\tdeep\n' "$t") | git -C "$repo" mktree)
commit_tree "$root" "deeply nested trees"
validate_refused deep-trees 'a path is longer than 4096 bytes (deep/aa/aa' 'nest the directories less deeply'

# 6. Symbolic links: a manifest linking outside the repository, and a
# system directory linking to another cluster's directory.
ln -s /etc/passwd "$repo/clusters/staging/spark-etl/passwd.yaml"
ln -s ../../../../etc "$repo/clusters/staging/spark-etl/etc"
git -C "$repo" add -A
git -C "$repo" commit -q -m links
validate_refused symlinks \
  'clusters/staging/spark-etl/passwd.yaml: symbolic link to "/etc/passwd" leaves the repository' \
  'clusters/staging/spark-etl/etc: symbolic link to "../../../../etc" leaves the repository' \
  'replace the link with the file itself'

# 7. The daemon's path is the same Git source and loader: `keelson sync`
# with a refused tip applies nothing and says why (no cluster needed: the
# revision is refused before any API request).
git -C "$repo" update-index --add --cacheinfo "160000,$sub_sha,clusters/prod-chicago/platform/vendored"
git -C "$repo" commit -q -m "vendor a submodule again"
cat > "$tmp/keelson.yaml" <<EOF
git:
  url: file://$repo
  ref: main
  cacheDir: $tmp/daemon-cache
clusters:
  - name: prod-chicago
    kubeconfig: $tmp/no-such-kubeconfig
EOF
status=0
"$keelson" sync --once --config "$tmp/keelson.yaml" > "$tmp/sync.out" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "sync of a revision with a submodule succeeded: $(cat "$tmp/sync.out")"
grep -q 'is a Git submodule' "$tmp/sync.out" || fail "sync does not say why: $(cat "$tmp/sync.out")"
echo "git-escape: submodule, '..' entries, duplicate entries and escaping links refused"
