#!/bin/sh
# Limits on the files keelson reads at start, end to end through the CLI:
# the configuration file (1 MiB, 256 clusters), a kubeconfig (4 MiB) and a
# webhook secret file (4096 bytes) over their limits are refused with a
# message naming the file and the limit, and nothing is done.
set -u
builddir=${top_builddir:-.}
srcdir=${top_srcdir:-.}
keelson="$builddir/keelson"
command -v git > /dev/null 2>&1 || { echo "limits-cli: git not installed" >&2; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keelson-limits-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "limits-cli: FAIL: $*" >&2; exit 1; }
padding() { head -c "$1" /dev/zero | tr '\0' '#' | fold -w 1000 | sed 's/^/# /'; }

cp -R "$srcdir/repo-layout/example" "$tmp/repo"
chmod -R u+w "$tmp/repo"
git -C "$tmp/repo" init -q -b main
git -C "$tmp/repo" add -A
git -C "$tmp/repo" -c user.name=t -c user.email=t@example.com commit -q -m example
config_head() {
  printf 'git:\n  url: file://%s/repo\n  cacheDir: %s/cache\nclusters:\n  - name: prod-chicago\n    kubeconfig: %s/none\n' \
    "$tmp" "$tmp" "$tmp"
}

# The configuration file: one byte over 1 MiB of valid YAML.
{ config_head; padding 1100000; } > "$tmp/big.yaml"
status=0
"$keelson" sync --once --config "$tmp/big.yaml" > "$tmp/out" 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "config over 1 MiB: exit $status: $(cat "$tmp/out")"
grep -q "big.yaml: [0-9]* bytes; a configuration file is at most 1048576 bytes" "$tmp/out" \
  || fail "config over 1 MiB: $(cat "$tmp/out")"
[ ! -e "$tmp/cache" ] || fail "config over 1 MiB: the Git cache was created"

# 257 clusters, one more than a configuration file may list: refused at
# start with the position of the list, nothing fetched.
{ printf 'git:\n  url: file://%s/repo\n  cacheDir: %s/cache\nclusters:\n' "$tmp" "$tmp"
  i=1
  while [ "$i" -le 257 ]; do printf '  - name: c%d\n    kubeconfig: %s/none\n' "$i" "$tmp"; i=$((i + 1)); done
} > "$tmp/clusters.yaml"
status=0
"$keelson" sync --once --config "$tmp/clusters.yaml" > "$tmp/out" 2>&1 || status=$?
[ "$status" -eq 2 ] || fail "257 clusters: exit $status: $(cat "$tmp/out")"
grep -q "clusters.yaml:5:3: clusters lists 257 entries; at most 256" "$tmp/out" \
  || fail "257 clusters: $(cat "$tmp/out")"
[ ! -e "$tmp/cache" ] || fail "257 clusters: the Git cache was created"

# A kubeconfig over 4 MiB.
{ echo "apiVersion: v1"; padding 4300000; } > "$tmp/kubeconfig"
"$keelson" diff --repo "$tmp/repo" --cluster prod-chicago --kubeconfig "$tmp/kubeconfig" > "$tmp/out" 2>&1
grep -q "kubeconfig: [0-9]* bytes is more than the 4194304 allowed" "$tmp/out" \
  || fail "kubeconfig over 4 MiB: $(cat "$tmp/out")"

# A webhook secret file over 4096 bytes: keelson run refuses to start, and
# the message names the file, not its content.
head -c 5000 /dev/zero | tr '\0' 'q' > "$tmp/secret"
{ config_head; printf 'http:\n  listen: 127.0.0.1:0\n  githubSecretFile: %s/secret\n' "$tmp"; } > "$tmp/run.yaml"
status=0
timeout 60 "$keelson" run --config "$tmp/run.yaml" > "$tmp/out" 2>&1 || status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "oversized secret file: exit $status: $(cat "$tmp/out")"
grep -q "secret file $tmp/secret is longer than 4096 bytes" "$tmp/out" || fail "oversized secret file: $(cat "$tmp/out")"
grep -q "qqqq" "$tmp/out" && fail "the secret's content was printed"
echo "limits-cli: configuration (size, clusters), kubeconfig and secret file limits enforced"
