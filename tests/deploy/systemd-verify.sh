#!/bin/sh
# deploy/systemd/keelson.service passes `systemd-analyze verify` and keeps its
# hardening. verify requires ExecStart's binary to exist, and /usr/bin/keelson
# is not installed under `make check`: the unit is checked with ExecStart
# pointed at the built keelson, and the man pages of Documentation= are
# found through MANPATH in the source tree (--man=no only without man(1)).
# Skipped (77) without systemd-analyze (Debian package systemd).
set -u
srcdir=${top_srcdir:-.}
unit="$srcdir/deploy/systemd/keelson.service"
KEELSON=${top_builddir:-.}/keelson
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-verify: no systemd-analyze (Debian package systemd), skipping"
	exit 77
fi
[ -x "$KEELSON" ] || { echo "systemd-verify: $KEELSON not built"; exit 1; }
[ -f "$unit" ] || { echo "systemd-verify: $unit missing"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/systemd-verify.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

grep -q '^ExecStart=/usr/bin/keelson run --config /etc/keelson/keelson.yaml$' "$unit" ||
	{ echo "FAIL: ExecStart is not 'keelson run --config /etc/keelson/keelson.yaml'"; exit 1; }
# The file name is the unit name: keep keelson.service.
sed "s|^ExecStart=/usr/bin/keelson |ExecStart=$KEELSON |" "$unit" >"$work/keelson.service"
# verify prints warnings (unknown keys, bad values) but may still exit 0 for
# some of them: any output is a failure too.
man_check=--man=no
if command -v man >/dev/null 2>&1; then
	mkdir -p "$work/man/man5" "$work/man/man8"
	cp "$srcdir/docs/man/keelson.8" "$work/man/man8/" && cp "$srcdir/docs/man/keelson.yaml.5" "$work/man/man5/" ||
		{ echo "FAIL: cannot copy the man pages"; exit 1; }
	MANPATH="$work/man"
	export MANPATH
	man_check=--man=yes
else
	echo "systemd-verify: no man(1); Documentation= not checked"
fi
if ! systemd-analyze verify "$man_check" "$work/keelson.service" >"$work/out" 2>&1 || [ -s "$work/out" ]; then
	echo "FAIL: systemd-analyze verify $unit:"
	cat "$work/out"
	exit 1
fi
for opt in 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'PrivateDevices=yes' 'DynamicUser=yes' 'CapabilityBoundingSet=$' 'StateDirectory=keelson' \
	'RestrictAddressFamilies=' 'SystemCallFilter=@system-service' 'MemoryDenyWriteExecute=yes'; do
	grep -q "^$opt" "$unit" || { echo "FAIL: $unit lacks the hardening option $opt"; exit 1; }
done
echo "systemd-verify: ok"
