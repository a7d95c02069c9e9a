#!/bin/sh
# keelson run and keelson sync driving a plugin system through the executor:
# a local Git repository (tests/plugin/repo) whose system uses the example
# plugin restart-one-at-a-time on a 3-replica OnDelete StatefulSet in
# kubesim. An image bump committed to Git is rolled by the daemon, which is
# killed with SIGKILL at random moments and restarted; a kubectl watch
# records every pod version: each pod must be replaced exactly once and
# never two be unavailable at once. keelson sync --once advances one step
# per run and exits 1 until the roll converges. The objects applied by the
# plugin are in the system's inventory; an idle daemon makes no request;
# kubesim's invariant log stays empty. A hand edit under driftPolicy alert
# is reported, not rolled back by the plugin. The pods the roll deleted
# have RolloutStep Events from keelson. Then a pod that never becomes Ready:
# the rollout blocks, the webhook receives KeelsonRolloutBlocked, nothing
# else is touched, and a restarted daemon stays blocked and alerts again.
# Needs $KUBECTL (skipped with 77 when empty), git, curl and $top_builddir.
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "plugin-rollout-kubesim: KUBECTL is empty, skipping"
	exit 77
fi
command -v git >/dev/null 2>&1 || { echo "plugin-rollout-kubesim: no git, skipping"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "plugin-rollout-kubesim: no curl, skipping"; exit 77; }
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KUBESIM=$builddir/kubesim
KEELSON=$builddir/keelson
PLUGINS=$builddir/plugins/example/.libs
[ -x "$KUBESIM" ] || { echo "plugin-rollout-kubesim: $KUBESIM not built"; exit 1; }
[ -x "$KEELSON" ] || { echo "plugin-rollout-kubesim: $KEELSON not built"; exit 1; }
[ -f "$PLUGINS/restart-one-at-a-time.so" ] || { echo "plugin-rollout-kubesim: example plugin not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/plugin-rollout-kubesim.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
daemon=
watch_pid=
hook_pid=
cleanup() {
	for p in $daemon $watch_pid $hook_pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

step=""
fail() {
	echo "FAIL [$step]: $*"
	for f in err daemon.log watch.out kubesim.err; do
		[ -f "$work/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$work/$f"; }
	done
	exit 1
}

kubesim_start "$work" --log-level error || fail "kubesim did not start"
sim_get() {
	kubesim_curl "$1"
}
counters_total() {
	sim_get /_sim/counters | sed -n 's/^{"total":\([0-9]*\).*/\1/p'
}
violations() {
	sim_get /_sim/violations | tr -d ' \n'
}

repo="$work/repo"
cp -R "$srcdir/tests/plugin/repo" "$repo"
chmod -R u+w "$repo"
sts="$repo/clusters/sim/web/statefulset.yaml"
git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
git_in add -A
git_in commit -q -m "web, restart-one-at-a-time"

# The plugin directory comes from the configuration file here; the daemon
# runs below pass --plugin-dir instead.
cat >"$work/keelson.yaml" <<EOF
git:
  url: $repo
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1s
clusters:
  - name: sim
    kubeconfig: $KUBECONFIG
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: 2s
pluginDir: $PLUGINS
EOF
grep -v '^pluginDir:' "$work/keelson.yaml" >"$work/keelson-noplugins.yaml"

step="a plugin that is not loaded rejects the revision"
KEELSON_PLUGIN_DIR="$work/none" "$KEELSON" sync --once --config "$work/keelson-noplugins.yaml" \
	>"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync without the plugin exited $rc, expected 1"
grep -q "restart-one-at-a-time" "$work/err" || fail "the rejection does not name the plugin"
"$KEELSON" sync --once --config "$work/keelson.yaml" --plugin-dir "$work/none" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "a missing --plugin-dir exited $rc, expected 2"
grep -q "$work/none" "$work/err" || fail "the error does not name the plugin directory"

step="sync --once: one step per run, exit 1 until converged"
runs=0
while :; do
	runs=$((runs + 1))
	[ $runs -le 100 ] || fail "not converged after 100 sync runs"
	"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
	rc=$?
	[ $rc -eq 0 ] && break
	[ $rc -eq 1 ] || fail "sync exited $rc"
	grep -q "plugin step ran\|plugin waiting" "$work/err" || fail "a non-converged sync reported no progress"
	sleep 0.3
done
[ $runs -ge 2 ] || fail "the first sync converged at once; expected at least one step first"
grep -q "revision [0-9a-f]*: converged" "$work/err" || fail "no converged summary"
k_ready=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.status.readyReplicas}')
[ "$k_ready" = 3 ] || fail "StatefulSet web has '$k_ready' ready replicas"
inv=$("$KUBECTL" get configmap keelson-inventory-sim-web -n keelson-system -o jsonpath='{.data.objects}')
case $inv in *'"kind":"StatefulSet"'*'"name":"web"'* | *'"name":"web"'*'"kind":"StatefulSet"'*) ;;
*) fail "the StatefulSet applied by the plugin is not in the inventory: $inv" ;; esac
lab=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.metadata.labels.keelson\.dev/system}')
[ "$lab" = web ] || fail "StatefulSet web not labelled keelson.dev/system=web ('$lab')"
"$KUBECTL" get configmap keelson-rollout-sim-web -n keelson-system -o name >/dev/null 2>&1 ||
	fail "no rollout state ConfigMap in keelson-system"

"$KUBECTL" get pods -n web -w \
	-o jsonpath='{.metadata.name} {.metadata.uid} {.metadata.deletionTimestamp} {.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
	>"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
sleep 1

step="image bump rolled by keelson run, killed with SIGKILL at random moments"
sed -i 's/nginx:1.27/nginx:1.28/' "$sts"
git_in commit -q -a -m "web: nginx 1.28"
images() { "$KUBECTL" get pods -n web -o jsonpath='{.items[*].spec.containers[0].image}'; }
kills=0
n=0
done_=0
: >"$work/daemon.log"
while [ $n -lt 40 ]; do
	n=$((n + 1))
	"$KEELSON" run --config "$work/keelson-noplugins.yaml" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
	daemon=$!
	# 0.3 .. 2.3 s
	delay=$(awk -v s="$n$$" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 2 }')
	sleep "$delay"
	if [ "$(images)" = "nginx:1.28 nginx:1.28 nginx:1.28" ] &&
		"$KUBECTL" get pods -n web -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' |
		grep -qx "True True True"; then
		done_=1
		break
	fi
	[ $kills -lt 6 ] || break
	kill -9 "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=
	kills=$((kills + 1))
done
if [ $done_ -eq 0 ]; then
	# After the kills, let one daemon finish the roll.
	[ -n "$daemon" ] || {
		"$KEELSON" run --config "$work/keelson-noplugins.yaml" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
		daemon=$!
	}
	i=0
	until [ "$(images)" = "nginx:1.28 nginx:1.28 nginx:1.28" ] &&
		"$KUBECTL" get pods -n web -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' |
		grep -qx "True True True"; do
		i=$((i + 1))
		[ $i -le 120 ] || fail "the roll did not finish within 60 s after $kills SIGKILLs"
		sleep 0.5
	done
fi
echo "   rolled with $kills SIGKILLs"
[ $kills -ge 2 ] || fail "only $kills SIGKILLs happened; restarts were not exercised"
grep -q "msg=\"plugin rollout converged\"\|msg=plugin rollout converged\|plugin rollout converged" "$work/daemon.log" ||
	{ sleep 3; grep -q "plugin rollout converged" "$work/daemon.log"; } || fail "the daemon never logged the rollout converged"

step="Kubernetes Events on the pods the roll restarted"
events=$("$KUBECTL" get events -n web -o jsonpath='{range .items[?(@.reason=="RolloutStep")]}{.involvedObject.kind}/{.involvedObject.name} {.source.component} {.type} {.message}{"\n"}{end}')
# Events are best effort: a SIGKILL between a step and its Event loses that
# one Event (the step is never replayed), so one pod may lack it.
with_event=0
for p in web-0 web-1 web-2; do
	printf '%s\n' "$events" | grep -q "^Pod/$p keelson Normal delete-pod: .*(system web, revision " &&
		with_event=$((with_event + 1))
done
[ $with_event -ge 2 ] || fail "only $with_event of 3 restarted pods have a RolloutStep Event from keelson: $events"

step="an idle daemon makes no Kubernetes request"
sleep 2
before=$(counters_total)
sleep 3
after=$(counters_total)
[ -n "$before" ] && [ "$before" = "$after" ] || fail "idle daemon made requests: $before -> $after"

kill "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
daemon=
sleep 1
kill "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
watch_pid=

step="each pod replaced exactly once, never two unavailable"
awk 'NF >= 2 { seen[$1 " " $2] = 1 }
     END { for (k in seen) { split(k, a, " "); n[a[1]]++ }
           for (p in n) print p, n[p] }' "$work/watch.out" | sort >"$work/incarnations"
printf 'web-0 2\nweb-1 2\nweb-2 2\n' >"$work/expected"
cmp -s "$work/incarnations" "$work/expected" ||
	{ cat "$work/incarnations"; fail "a pod was not replaced exactly once"; }
max=$(awk '
	NF >= 2 {
		name = $1; ready = 0; term = 0
		for (i = 3; i <= NF; i++) { if ($i == "True") ready = 1; else if ($i ~ /T.*Z$/) term = 1 }
		ok[name] = ready && !term
		up = 0; for (p in ok) up += ok[p]
		if (seen_all || length(ok) == 3) { seen_all = 1; down = 3 - up; if (down > max) max = down }
	}
	END { print max + 0 }' "$work/watch.out")
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"

step="driftPolicy alert on a plugin system: reported, not healed"
"$KUBECTL" patch statefulset web -n web --type merge \
	-p '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:hand-edit"}]}}}}' \
	>/dev/null 2>&1 || fail "kubectl patch failed"
"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync with reported drift exited $rc, expected 1"
grep -q 'drift detected; not healed (driftPolicy alert).*kind=StatefulSet' "$work/err" || fail "drift not reported"
grep -q "plugin step ran" "$work/err" && fail "the plugin acted on drift that driftPolicy alert only reports"
img=$("$KUBECTL" get statefulset web -n web -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$img" = nginx:hand-edit ] || fail "drift was healed ($img)"

step="kubesim invariant log"
v=$(violations)
case $v in "" | "[]" | *'"violations":[]'* | *'"items":[]'*) ;; *) fail "kubesim violations: $v" ;; esac

step="a pod that never becomes Ready: blocked, alerted, nothing else touched"
# A webhook receiver on loopback: one line per POST body.
python3 - "$work/hook.port" "$work/hook.out" <<'PY' >"$work/hook.err" 2>&1 &
import http.server, sys
port_file, out_file = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(out_file, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(srv.server_port))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
hook_pid=$!
i=0
until [ -s "$work/hook.port" ]; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "webhook receiver did not start"
	sleep 0.1
done
cp "$work/keelson-noplugins.yaml" "$work/keelson-alerts.yaml"
printf 'alerts:\n  webhookUrl: http://127.0.0.1:%s/hook\n  repeatInterval: 1h\n' "$(cat "$work/hook.port")" \
	>>"$work/keelson-alerts.yaml"
sed -i 's/nginx:1.28/nginx:1.29/' "$sts"
python3 - "$sts" <<'PY' || fail "cannot edit $sts"
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("      labels:\n        app: web\n    spec:",
              "      labels:\n        app: web\n      annotations:\n        kubesim.keelson.dev/ready: \"false\"\n    spec:", 1)
open(p, "w").write(s)
PY
sed -i 's/readyTimeout: 2m/readyTimeout: 3s/' "$repo/clusters/sim/web/system.yaml"
git_in commit -q -a -m "web: nginx 1.29 that never becomes Ready"
pods_now() { "$KUBECTL" get pods -n web -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'; }
before=$(pods_now)
"$KEELSON" run --config "$work/keelson-alerts.yaml" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
daemon=$!
i=0
until grep -q KeelsonRolloutBlocked "$work/hook.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 120 ] || fail "no KeelsonRolloutBlocked alert within 60 s"
	sleep 0.5
done
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q '"system":"web"' || fail "the alert does not name system web"
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q 'timed out after 3s' || fail "the alert does not say why"
grep -q 'level=error msg="system blocked.*cluster=sim system=web reason=' "$work/daemon.log" ||
	fail "no error log line for the blocked system"
kill -9 "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
daemon=
alerts_before=$(grep -c KeelsonRolloutBlocked "$work/hook.out")
# Restarted: stays blocked (persisted), alerts again, touches nothing.
"$KEELSON" run --config "$work/keelson-alerts.yaml" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
daemon=$!
i=0
until [ "$(grep -c KeelsonRolloutBlocked "$work/hook.out")" -gt "$alerts_before" ]; do
	i=$((i + 1))
	[ $i -le 60 ] || fail "a restarted daemon did not alert the blocked rollout again"
	sleep 0.5
done
sleep 2
after=$(pods_now)
changed=0
for pair in $before; do
	case " $after " in
	*" $pair "*) ;;
	*) changed=$((changed + 1)); case $pair in web-2=*) ;; *) fail "$pair was touched" ;; esac ;;
	esac
done
[ $changed -eq 1 ] || fail "$changed pods were replaced, expected only web-2"
"$KEELSON" sync --once --config "$work/keelson.yaml" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync of a blocked system exited $rc, expected 1"
grep -q "1 blocked" "$work/err" || fail "sync summary does not count the blocked system"
v=$(violations)
case $v in "" | "[]" | *'"violations":[]'* | *'"items":[]'*) ;; *) fail "kubesim violations: $v" ;; esac
echo "PASS"
exit 0
