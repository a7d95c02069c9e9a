#!/bin/sh
# keelson validate checks spec.parameters against the loaded plugins' own
# tables: --plugin-dir and $KEELSON_PLUGIN_DIR must load; without either and
# without an installed plugin directory, the provisional tables are used
# and a warning says so.
set -u
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KEELSON=$builddir/keelson
PLUGINS=$builddir/plugins/example/.libs
[ -x "$KEELSON" ] || { echo "validate-plugins: $KEELSON not built"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/validate-plugins.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fail() {
	echo "validate-plugins: FAIL: $*"
	for f in out err; do [ -f "$work/$f" ] && { echo "--- $f"; cat "$work/$f"; }; done
	exit 1
}
validate() {
	"$KEELSON" validate "$@" >"$work/out" 2>"$work/err"
	rc=$?
}
repo="$work/repo"
cp -R "$srcdir/tests/plugin/repo" "$repo"
chmod -R u+w "$repo"

validate --plugin-dir "$PLUGINS" "$repo"
[ $rc -eq 0 ] || fail "with the example plugin: exit $rc"
grep -q "^plugins: $PLUGINS: generic restart-one-at-a-time\$" "$work/out" || fail "the summary does not name the plugins"
KEELSON_PLUGIN_DIR="$PLUGINS" "$KEELSON" validate -o json "$repo" >"$work/out" 2>"$work/err" || fail "KEELSON_PLUGIN_DIR"
python3 - "$work/out" "$PLUGINS" <<'PY' || fail "json names the plugin tables"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["valid"] is True, j
assert j["plugins"]["tables"] == "loaded" and j["plugins"]["dir"] == sys.argv[2], j["plugins"]
assert j["plugins"]["names"] == ["generic", "restart-one-at-a-time"], j["plugins"]
PY

# A parameter of the wrong type, against the plugin's real table.
sed -i 's/gracePeriodSeconds: 0/gracePeriodSeconds: soon/' "$repo/clusters/sim/web/system.yaml"
validate --plugin-dir "$PLUGINS" "$repo"
[ $rc -eq 1 ] || fail "a bad parameter: exit $rc"
grep -q '^clusters/sim/web/system.yaml:10:25: .*gracePeriodSeconds' "$work/out" || fail "no file:line:column for the parameter"
sed -i 's/gracePeriodSeconds: soon/gracePeriodSeconds: 0/' "$repo/clusters/sim/web/system.yaml"

# A named directory that does not load is an error, not a fallback.
validate --plugin-dir "$work/none" "$repo"
[ $rc -eq 2 ] || fail "missing --plugin-dir: exit $rc"
grep -q "$work/none" "$work/err" || fail "the missing directory is not named"
KEELSON_PLUGIN_DIR="$work/none" "$KEELSON" validate "$repo" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "missing KEELSON_PLUGIN_DIR: exit $rc"

# No plugin directory at all: provisional tables, with a warning; the
# example plugin is then unknown and the Kafka system of the example
# repository is checked against the provisional Kafka table.
# (Only where no plugins are installed: an installed directory is loaded.)
env -u KEELSON_PLUGIN_DIR "$KEELSON" validate "$repo" >"$work/out" 2>"$work/err"
rc=$?
if grep -q 'warning: no plugin directory .*provisional tables' "$work/err"; then
	[ $rc -eq 1 ] || fail "without plugins: exit $rc"
	grep -q 'unknown plugin "restart-one-at-a-time"' "$work/out" || fail "the unloaded plugin is not reported"
	env -u KEELSON_PLUGIN_DIR "$KEELSON" validate -o json "$srcdir/repo-layout/example" >"$work/out" 2>"$work/err" ||
		fail "the example repository against the provisional tables"
	grep -q '"tables":	"provisional"' "$work/out" || fail "json does not say provisional"
else
	echo "validate-plugins: plugins are installed here; the fallback case is not run"
fi
echo "validate-plugins: ok"
