#!/bin/sh
# `make install DESTDIR=...` from the build directory installs exactly the
# binary, every plugin of pkglib_LTLIBRARIES under $(pkglibdir), the SDK
# header, keelson(8), keelson.yaml(5) and the example configuration; the
# installed binary loads the installed plugins; the installed example
# configuration parses; `make uninstall` removes every file again. Works
# under `make distcheck` (only DESTDIR is written).
set -u
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
[ -f "$builddir/Makefile" ] || { echo "install-check: no $builddir/Makefile"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/install-check.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
dest="$work/dest"
fail() {
	echo "FAIL: $*"
	[ -f "$work/make.out" ] && { echo "--- make output (last 30 lines)"; tail -n 30 "$work/make.out"; }
	exit 1
}
# A make started by a test must not talk to the parent's jobserver.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$builddir" "$@"; }

cat >"$work/print.mk" <<'MK'
print-dirs:
	@echo "bindir='$(bindir)' pkglibdir='$(pkglibdir)' man5dir='$(man5dir)' man8dir='$(man8dir)'"
	@echo "exampledir='$(exampledir)' includedir='$(includedir)' plugins='$(pkglib_LTLIBRARIES)'"
MK
dirs=$(mk -f Makefile -f "$work/print.mk" print-dirs 2>/dev/null | grep -E "^(bindir|exampledir)=") ||
	fail "cannot read the installation directories"
eval "$dirs"
[ -n "$bindir" ] && [ -n "$pkglibdir" ] && [ -n "$plugins" ] || fail "installation directories: $dirs"

mk install DESTDIR="$dest" >"$work/make.out" 2>&1 || fail "make install DESTDIR=$dest failed"

# The expected file list, relative to DESTDIR.
{
	echo "$bindir/keelson"
	echo "$man8dir/keelson.8"
	echo "$man5dir/keelson.yaml.5"
	echo "$exampledir/keelson.yaml"
	echo "$includedir/keelson/plugin.h"
	for la in $plugins; do
		name=$(basename "$la" .la)
		echo "$pkglibdir/$name.so"
		echo "$pkglibdir/$name.la"
	done
} | sort >"$work/expected"
(cd "$dest" && find . -type f -o -type l) | sed 's|^\.||' | sort >"$work/installed"
if ! cmp -s "$work/expected" "$work/installed"; then
	diff "$work/expected" "$work/installed" | sed -n 's/^< /missing: /p; s/^> /unexpected: /p'
	fail "the installed files differ from the expected list"
fi
echo "installed: $(wc -l <"$work/installed") files ($(echo "$plugins" | wc -w) plugins)"

[ -x "$dest$bindir/keelson" ] || fail "$bindir/keelson is not executable"
"$dest$bindir/keelson" version >"$work/out" 2>&1 || fail "installed keelson version: $(cat "$work/out")"
KEELSON_PLUGIN_DIR="$dest$pkglibdir" "$dest$bindir/keelson" plugins >"$work/out" 2>&1 ||
	fail "the installed keelson cannot load the installed plugins: $(cat "$work/out")"
grep -q "restart-one-at-a-time .*$dest$pkglibdir/restart-one-at-a-time.so" "$work/out" ||
	fail "the installed example plugin is not listed: $(cat "$work/out")"

# The installed example configuration is accepted by the parser (paths
# pointed into the work directory; past the configuration keelson creates
# its Git cache, then fails on the absent repository).
mkdir -p "$work/cache" "$work/plugins"
sed -e "s|^  url: .*|  url: $work/no-repository|" -e "s|^  cacheDir: .*|  cacheDir: $work/cache|" \
	-e "s|^pluginDir: .*|pluginDir: $work/plugins|" "$dest$exampledir/keelson.yaml" >"$work/keelson.yaml"
"$dest$bindir/keelson" sync --once --config "$work/keelson.yaml" >"$work/out" 2>&1
grep -q "$work/keelson.yaml:" "$work/out" && fail "the example configuration is rejected: $(cat "$work/out")"
grep -q "created git cache" "$work/out" || fail "keelson did not get past the example configuration: $(cat "$work/out")"
cmp -s "$srcdir/docs/man/keelson.8" "$dest$man8dir/keelson.8" || fail "the installed keelson.8 differs from the source"

mk uninstall DESTDIR="$dest" >"$work/make.out" 2>&1 || fail "make uninstall DESTDIR=$dest failed"
left=$(cd "$dest" && find . -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left files: $left"
echo "install-check: ok"
