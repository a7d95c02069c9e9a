#!/bin/sh
# Every file under repo-layout/ and tests/layout/ must be listed in EXTRA_DIST
# (repo-layout/local.mk, reconciler/layout/local.mk): the lists are explicit,
# so a new fixture that is not listed would be missing from the tarball and
# `make distcheck` would test without it. Meaningful on a checkout; in a
# distribution tree it checks what shipped.
set -eu
top=${top_srcdir:-.}
cd "$top"
lists="repo-layout/local.mk reconciler/layout/local.mk"
missing=0
for f in $(find repo-layout tests/layout -type f ! -name local.mk ! -name '*.o' \
           ! -name '*.log' ! -name '*.trs' | LC_ALL=C sort); do
  case "$f" in
    tests/layout/*.c) continue ;; # compiled sources: distributed through _SOURCES
  esac
  if ! grep -q -F -x -e "	$f \\" -e "	$f" $lists; then
    echo "dist-lists: $f is not in EXTRA_DIST of $lists" >&2
    missing=$((missing + 1))
  fi
done
if [ "$missing" -ne 0 ]; then
  echo "dist-lists: $missing file(s) missing; add them to the list" >&2
  exit 1
fi
echo "dist-lists: all files under repo-layout/ and tests/layout/ ship"
