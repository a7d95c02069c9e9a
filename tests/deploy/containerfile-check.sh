#!/bin/sh
# deploy/container/Containerfile, checked statically: no container engine
# runs here, so the image is never built by `make check`. Checked: a Debian
# base for every stage, a numeric non-root USER in the final stage, the
# keelson binary and the plugin directory copied, and the plugin directory
# the same as the pluginDir of the Kubernetes ConfigMap.
set -u
srcdir=${top_srcdir:-.}
f="$srcdir/deploy/container/Containerfile"
[ -f "$f" ] || { echo "containerfile-check: $f missing"; exit 1; }
fail() { echo "FAIL: $f: $*"; exit 1; }

from=$(grep -c '^FROM ' "$f")
[ "$from" -ge 1 ] || fail "no FROM"
[ "$(grep '^FROM ' "$f" | grep -c -v '^FROM debian:')" -eq 0 ] || fail "a stage is not based on debian: $(grep '^FROM ' "$f" | grep -v '^FROM debian:')"
# The last USER applies to the final stage only if it follows the last FROM.
last_from=$(grep -n '^FROM ' "$f" | tail -n 1 | cut -d: -f1)
user_line=$(grep -n '^USER ' "$f" | tail -n 1)
[ -n "$user_line" ] || fail "no USER: the image would run as root"
[ "${user_line%%:*}" -gt "$last_from" ] || fail "USER is not in the final stage"
user=${user_line#*:USER }
uid=${user%%:*}
case "$uid" in
'' | *[!0-9]*) fail "USER $user is not numeric (runAsNonRoot cannot check a name)" ;;
0) fail "USER is root" ;;
esac
grep -q '^COPY --from=build /out/usr/bin/keelson /usr/bin/keelson$' "$f" || fail "the keelson binary is not copied"
grep -q '^COPY --from=build /out/usr/lib/keelson/ /usr/lib/keelson/$' "$f" || fail "the plugins are not copied"
grep -q '^pluginDir: /usr/lib/keelson$' "$srcdir/deploy/kubernetes/configmap.yaml" 2>/dev/null ||
	grep -q '^    pluginDir: /usr/lib/keelson$' "$srcdir/deploy/kubernetes/configmap.yaml" ||
	fail "the ConfigMap's pluginDir is not /usr/lib/keelson, where the image has the plugins"
grep -q "runAsUser: $uid\$" "$srcdir/deploy/kubernetes/deployment.yaml" ||
	fail "deployment.yaml's runAsUser is not the image's USER $uid"
echo "containerfile-check: ok"
