#!/bin/sh
# Scenario 3: a broker that never becomes Ready after its restart (the new
# pod template carries kubesim's ready "false"): the rollout waits for it
# for restartTimeout, then blocks; the webhook receives
# KeelsonRolloutBlocked naming the system and why; no other broker is
# touched, also by a restarted keelson, which stays blocked; kubesim's
# invariant log stays empty.
. "${top_srcdir:-.}/tests/kafka/kafka-lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "kafka-blocked: no python3 for the webhook receiver, skipping"; exit 77; }

kafka_setup kafka-blocked
kafka_deploy

step="webhook receiver"
python3 - "$work/hook.port" "$work/hook.out" <<'PY' >"$work/hook.err" 2>&1 &
import http.server, os, sys
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
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
hook_pid=$!
hook_up() { [ -s "$work/hook.port" ]; }
wait_until 10 "the webhook receiver listens" hook_up
cp "$work/keelson.yaml" "$work/keelson-alerts.yaml"
printf 'alerts:\n  webhookUrl: http://127.0.0.1:%s/hook\n  repeatInterval: 1h\n' "$(cat "$work/hook.port")" \
	>>"$work/keelson-alerts.yaml"
CONFIG="$work/keelson-alerts.yaml"

step="a new version that never becomes Ready"
pods_now() { k get pods -n kafka -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'; }
before=$(pods_now)
sed -i 's|apache/kafka:3.7.0|apache/kafka:3.8.0-broken|' "$sts"
sed -i 's|kubesim.keelson.dev/stop-delay-ms: "1000"|kubesim.keelson.dev/stop-delay-ms: "1000"\n        kubesim.keelson.dev/ready: "false"|' "$sts"
grep -q 'kubesim.keelson.dev/ready: "false"' "$sts" || fail "cannot edit $sts"
sed -i 's/restartTimeout: 1m/restartTimeout: 5s/' "$system"
git_in commit -q -a -m "kafka 3.8.0 that never becomes Ready"
BLOCK_OK=1
start_daemon
alerted() { grep -q KeelsonRolloutBlocked "$work/hook.out" 2>/dev/null; }
wait_until 60 "a KeelsonRolloutBlocked alert" alerted
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q '"system":"kafka"' || fail "the alert does not name system kafka"
grep KeelsonRolloutBlocked "$work/hook.out" | grep -q 'timed out after 5s: wait before restarting kafka-3: kafka-4 is not Ready' ||
	fail "the alert does not say why: $(cat "$work/hook.out")"
grep -q 'level=error msg="system blocked.*cluster=sim system=kafka reason=' "$work/daemon.log" ||
	fail "no error log line for the blocked system"
stop_daemon -9

step="a restarted keelson stays blocked and touches nothing"
alerts_before=$(grep -c KeelsonRolloutBlocked "$work/hook.out")
start_daemon
alerted_again() { [ "$(grep -c KeelsonRolloutBlocked "$work/hook.out")" -gt "$alerts_before" ]; }
wait_until 30 "a restarted daemon alerts the blocked rollout again" alerted_again
sleep 2
stop_daemon
after=$(pods_now)
changed=0
for pair in $before; do
	case " $after " in
	*" $pair "*) ;;
	*) changed=$((changed + 1)); case $pair in kafka-4=*) ;; *) fail "$pair was touched" ;; esac ;;
	esac
done
[ $changed -eq 1 ] || fail "$changed pods were replaced, expected only kafka-4"
"$KEELSON" sync --once --config "$work/keelson.yaml" --plugin-dir "$PLUGINS" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "sync of a blocked system exited $rc, expected 1"
grep -q "1 blocked" "$work/err" || fail "sync summary does not count the blocked system"
img=$(k get pod kafka-3 -n kafka -o jsonpath='{.spec.containers[0].image}')
[ "$img" = apache/kafka:3.7.0 ] || fail "kafka-3 runs $img"
assert_no_violations
echo "PASS"
exit 0
