#!/bin/sh
# Two `keelson run` processes with leaderElection against kubesim, sharing
# a plugin rollout (the example plugin restart-one-at-a-time on a 3-replica
# OnDelete StatefulSet, tests/plugin/repo). Each daemon reaches kubesim
# through its own logging TLS proxy, so every request is attributed to the
# process that sent it. The leader is killed with SIGKILL mid-rollout; the
# standby takes the Lease over within leaseDuration and finishes the roll.
# Checked: each pod replaced exactly once and never two unavailable (a
# kubectl watch), kubesim's invariant log empty, the standby sent nothing
# but GETs of the Lease until it acquired it, the Lease (holder, transitions).
# Then the leader is cut off from the API server (its proxy drops
# everything): it stops leading at renewDeadline, before the other takes
# the expired Lease over, and back in contact it stays a standby that sends
# nothing but Lease GETs. Last, SIGTERM releases the Lease so the other
# instance takes over at once.
# Needs $KUBECTL (skipped with 77 when empty), git, curl, openssl, python3.
set -u

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init ha-kubesim git curl openssl python3
scenario_need_plugin plugins/example/.libs restart-one-at-a-time.so
pid_a=
pid_b=
proxy_a=
proxy_b=
scenario_track pid_a pid_b proxy_a proxy_b
SCENARIO_LOGS="a.log b.log requests-a.log requests-b.log watch.out err kubesim.err proxy-a.err proxy-b.err"
# Take-over times are measured when a wait ends: poll every 0.1 s.
SCENARIO_POLL_HZ=10

step="start"
kubesim_start "$work" --log-level error || fail "kubesim did not start"

# A logging TLS proxy per daemon: terminates TLS with its own certificate,
# logs "TIME METHOD PATH" for every HTTP/1.1 request line, forwards to
# kubesim over TLS.
cat >"$work/proxy.py" <<'PY'
import asyncio, os, re, ssl, sys, time
cert, key, upstream, upstream_ca, port_file, log_file, block_file = sys.argv[1:8]
host, port = upstream.rsplit(":", 1)
request_line = re.compile(rb"^(GET|POST|PUT|PATCH|DELETE|HEAD) (\S+) HTTP/1\.[01]$")
log = open(log_file, "ab", buffering=0)

class RequestLog:
    """Parses the client's HTTP/1.1 byte stream (headers, then a body of
    Content-Length bytes or chunked) and logs each request line."""
    def __init__(self):
        self.buf = b""
        self.body_left = 0
        self.chunked = False

    def feed(self, data):
        self.buf += data
        while True:
            if self.body_left > 0:
                n = min(self.body_left, len(self.buf))
                self.buf = self.buf[n:]
                self.body_left -= n
                if self.body_left > 0:
                    return
            if self.chunked:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2:]
                if size == 0:
                    self.chunked = False
                    self.body_left = 2  # the CRLF after the last chunk (no trailers)
                else:
                    self.body_left = size + 2
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].split(b"\r\n")
            self.buf = self.buf[end + 4:]
            m = request_line.match(head[0])
            log.write(b"%.3f %s %s\n" % (time.time(), m.group(1), m.group(2)) if m else b"0 UNPARSED %s\n" % head[0][:200])
            for h in head[1:]:
                name, _, value = h.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    self.body_left = int(value.strip())
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    self.chunked = True

async def pipe(reader, writer, scan):
    parser = RequestLog() if scan else None
    try:
        while True:
            data = await reader.read(65536)
            if not data or os.path.exists(block_file):
                break
            if parser:
                parser.feed(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError) as e:
        # A daemon killed with SIGKILL resets its connections: every
        # request it had sent whole is logged already.
        if parser:
            log.write(b"0 PROXY-RESET %s\n" % repr(e).encode())
    except Exception as e:
        if parser:
            log.write(b"0 PROXY-ERROR %s\n" % repr(e).encode())
    finally:
        try:
            writer.close()
        except Exception:
            pass

async def handle(client_reader, client_writer):
    if os.path.exists(block_file):  # a network partition: nothing gets through
        client_writer.close()
        return
    ctx = ssl.create_default_context(cafile=upstream_ca)
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        up_reader, up_writer = await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=host)
    except Exception:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer, True), pipe(up_reader, client_writer, False))

async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/proxy.key" -out "$work/proxy.crt" \
	>"$work/err" 2>&1 || fail "openssl could not make the proxy certificate"
upstream=${KUBESIM_SERVER#https://}
start_proxy() { # NAME -> prints the pid; kubeconfig in $work/kubeconfig-NAME
	python3 "$work/proxy.py" "$work/proxy.crt" "$work/proxy.key" "$upstream" "$KUBESIM_CA" \
		"$work/proxy-$1.port" "$work/requests-$1.log" "$work/block-$1" >"$work/proxy-$1.err" 2>&1 &
	echo $!
}
proxy_a=$(start_proxy a)
proxy_b=$(start_proxy b)
for n in a b; do
	scenario_wait 10 "proxy $n to start" test -s "$work/proxy-$n.port"
	ca=$(base64 -w0 <"$work/proxy.crt")
	sed -e "s|^\( *server: \).*|\1https://127.0.0.1:$(cat "$work/proxy-$n.port")|" \
		-e "s|^\( *certificate-authority-data: \).*|\1$ca|" "$KUBECONFIG" >"$work/kubeconfig-$n"
done

scenario_repo_copy "$srcdir/tests/plugin/repo" "web, restart-one-at-a-time"
sts="$repo/clusters/sim/web/statefulset.yaml"

# Short durations keep the test quick; the semantics are the defaults'.
write_config() { # NAME IDENTITY
	scenario_config "$work/keelson-$1.yaml" backoff=2s cache="$work/gitcache-$1" kubeconfig="$work/kubeconfig-$1"
	cat >>"$work/keelson-$1.yaml" <<EOF
pluginDir: $PLUGINS
http:
  listen: 127.0.0.1:$(scenario_free_port)
leaderElection:
  identity: $2
  leaseDuration: 4s
  renewDeadline: 3s
  retryPeriod: 500ms
EOF
}
write_config a keelson-a
write_config b keelson-b
# keelson sync straight to kubesim, without leader election.
scenario_config "$work/keelson-sync.yaml" backoff=2s cache="$work/gitcache-a"
echo "pluginDir: $PLUGINS" >>"$work/keelson-sync.yaml"

step="initial state"
"$KUBECTL" create namespace keelson-system >"$work/err" 2>&1 || fail "kubectl create namespace keelson-system"
scenario_sync_until_converged "$work/keelson-sync.yaml" 100
images() { "$KUBECTL" get pods -n web -o jsonpath='{.items[*].spec.containers[0].image}'; }
[ "$(images)" = "nginx:1.27 nginx:1.27 nginx:1.27" ] || fail "initial images: $(images)"

scenario_watch_start web

step="a leads, b stands by"
"$KEELSON" run --config "$work/keelson-a.yaml" >"$work/a.log" 2>&1 &
pid_a=$!
scenario_wait 60 "a did not become leader" scenario_log_has "$work/a.log" 'msg="leader election: leading'
"$KEELSON" run --config "$work/keelson-b.yaml" >"$work/b.log" 2>&1 &
pid_b=$!
scenario_wait 60 "b did not see a holding the lease" scenario_log_has "$work/b.log" 'lease held by another instance.*holder=keelson-a'
lease() { "$KUBECTL" get lease keelson -n keelson-system -o jsonpath="$1"; }
[ "$(lease '{.spec.holderIdentity}')" = keelson-a ] || fail "lease holder is '$(lease '{.spec.holderIdentity}')'"
[ "$(lease '{.spec.leaseDurationSeconds}')" = 4 ] || fail "leaseDurationSeconds is not 4"
case $(lease '{.spec.renewTime}') in
[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z) ;;
*) fail "renewTime is not a MicroTime: $(lease '{.spec.renewTime}')" ;;
esac
t0=$(lease '{.spec.leaseTransitions}')
[ "${t0:-0}" = 0 ] || fail "leaseTransitions is '$t0' after the first acquisition"
leader_gauge() { # NAME -> the keelson_leader sample of that daemon's /metrics
	port=$(sed -n 's/^  listen: 127.0.0.1://p' "$work/keelson-$1.yaml")
	curl -s "http://127.0.0.1:$port/metrics" | grep '^keelson_leader{'
}
g=$(leader_gauge a)
[ "$g" = 'keelson_leader{lease="keelson-system/keelson",identity="keelson-a"} 1' ] || fail "a's gauge: '$g'"
g=$(leader_gauge b)
[ "$g" = 'keelson_leader{lease="keelson-system/keelson",identity="keelson-b"} 0' ] || fail "b's gauge: '$g'"

step="image bump; a killed with SIGKILL mid-rollout"
sed -i 's/nginx:1.27/nginx:1.28/' "$sts"
git_in commit -q -a -m "web: nginx 1.28"
roll_started() { [ "$(images | tr ' ' '\n' | grep -c 'nginx:1.28')" -ge 1 ]; }
scenario_wait 60 "a to start the rollout" roll_started
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null
pid_a=
killed_at=$(date +%s.%N)
at_kill=$(images)
new_at_kill=$(echo "$at_kill" | tr ' ' '\n' | grep -c 'nginx:1.28')
[ "$new_at_kill" -lt 3 ] || fail "the rollout was over before a was killed: $at_kill"
grep -q "plugin step ran" "$work/b.log" && fail "b ran a plugin step while standing by"

step="b takes over and finishes"
scenario_wait 30 "b did not take over" scenario_log_has "$work/b.log" 'msg="leader election: leading'
took_over=$(date +%s.%N)
# leaseDuration (4 s) after b last saw a renew, plus a retry period with
# jitter (1.1 s), plus slack for a loaded machine.
awk -v k="$killed_at" -v t="$took_over" 'BEGIN { exit !(t - k < 9) }' ||
	fail "b took over $(awk -v k="$killed_at" -v t="$took_over" 'BEGIN { print t - k }') s after the kill (leaseDuration 4 s)"
rolled() {
	[ "$(images)" = "nginx:1.28 nginx:1.28 nginx:1.28" ] &&
		"$KUBECTL" get pods -n web -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' |
		grep -qx "True True True"
}
scenario_wait 120 "b to finish the roll (at the kill: $at_kill)" rolled
[ "$(lease '{.spec.holderIdentity}')" = keelson-b ] || fail "lease holder is not keelson-b"
[ "$(lease '{.spec.leaseTransitions}')" = 1 ] || fail "leaseTransitions is '$(lease '{.spec.leaseTransitions}')', expected 1"
echo "   killed at [$at_kill]; b took over and finished"

step="the standby sent only Lease GETs until it acquired the Lease"
lease_path=/apis/coordination.k8s.io/v1/namespaces/keelson-system/leases/keelson
awk -v lp="$lease_path" '
	$3 == lp && ($2 == "PUT" || $2 == "POST") { exit found = 1 }
	$2 == "PROXY-RESET" { next }
	!($2 == "GET" && $3 == lp) { print "standby request: " $0; bad = 1 }
	END { exit bad ? 2 : (found ? 0 : 3) }' "$work/requests-b.log" >"$work/standby-violations"
rc=$?
[ $rc -eq 0 ] || { cat "$work/standby-violations"; fail "b's requests before its first Lease write (rc $rc)"; }
grep -c "GET $lease_path" "$work/requests-b.log" >/dev/null || fail "b never read the Lease"
grep -q ' UNPARSED \| PROXY-ERROR ' "$work/requests-a.log" "$work/requests-b.log" &&
	fail "the proxy could not follow the requests: $(grep -h ' UNPARSED \| PROXY-ERROR ' "$work/requests-a.log" "$work/requests-b.log")"
# Attribution: a deleted the first pods, b the rest; together each pod
# exactly once.
pod_deletes() { grep ' DELETE /api/v1/namespaces/web/pods/web-' "$work/requests-$1.log" | sed 's|.*/pods/||; s|?.*||'; }
[ "$(pod_deletes a | wc -l)" -ge 1 ] || fail "a deleted no pod before it was killed"
[ "$(pod_deletes b | wc -l)" -ge 1 ] || fail "b deleted no pod after taking over"
deleted=$({ pod_deletes a; pod_deletes b; } | sort | tr '\n' ' ')
[ "$deleted" = "web-0 web-1 web-2 " ] || fail "pod deletions (a then b): $deleted"

step="each pod replaced exactly once, never two unavailable"
scenario_watch_stop
scenario_replaced_once web-0 web-1 web-2 || fail "a pod was not replaced exactly once"
max=$(scenario_max_unavailable 3)
[ "$max" -le 1 ] || fail "$max pods were unavailable at once"

step="kubesim invariant log"
scenario_assert_no_violations

step="a restarted a stands by"
"$KEELSON" run --config "$work/keelson-a.yaml" >"$work/a.log" 2>&1 &
pid_a=$!
scenario_wait 30 "a did not see b holding the lease" scenario_log_has "$work/a.log" 'lease held by another instance.*holder=keelson-b'

step="b cut off from the API server: it stops leading before a takes over"
touch "$work/block-b"
scenario_wait 10 "b did not stop leading within 10 s of the partition" scenario_log_has "$work/b.log" 'msg="leader election: stopped leading'
grep 'stopped leading' "$work/b.log" | grep -q 'renewDeadline' || fail "b's step-down does not name the renew deadline"
scenario_wait 20 "a did not take over from the cut-off b" scenario_log_has "$work/a.log" 'msg="leader election: leading'
log_time() { grep "$2" "$1" | tail -n 1 | sed 's/^time=\([^ ]*\) .*/\1/'; }
b_stopped=$(log_time "$work/b.log" 'msg="leader election: stopped leading')
a_leads=$(log_time "$work/a.log" 'msg="leader election: leading')
# ISO 8601 UTC with milliseconds: string order is time order.
[ "$b_stopped" \< "$a_leads" ] || fail "a led at $a_leads, before b stopped at $b_stopped: two leaders"
[ "$(lease '{.spec.holderIdentity}')" = keelson-a ] || fail "lease holder is not keelson-a after the partition"
[ "$(lease '{.spec.leaseTransitions}')" = 2 ] || fail "leaseTransitions is not 2 after the partition"
: >"$work/requests-b.log"
rm -f "$work/block-b"
scenario_wait 20 "b, back in contact, did not see a leading" scenario_log_has "$work/b.log" 'lease held by another instance.*holder=keelson-a'
sleep 2
awk -v lp="$lease_path" '$2 == "PROXY-RESET" { next } !($2 == "GET" && $3 == lp) { print "standby request: " $0; bad = 1 } END { exit bad }' \
	"$work/requests-b.log" || fail "b sent more than Lease GETs after the partition"
[ "$(grep -c 'msg="leader election: leading' "$work/b.log")" = 1 ] || fail "b led again after the partition"

step="SIGTERM releases the Lease; the standby takes over at once"
kill -TERM "$pid_a"
wait "$pid_a"
rc=$?
pid_a=
[ $rc -eq 0 ] || fail "a exited $rc on SIGTERM"
grep -q 'leader election: lease released' "$work/a.log" || fail "a did not log the release"
released=$(date +%s.%N)
b_leads_again() { [ "$(grep -c 'msg="leader election: leading' "$work/b.log")" = 2 ]; }
scenario_wait 10 "b to take over after the release" b_leads_again
took_over=$(date +%s.%N)
# Without the release b would wait the whole leaseDuration (4 s).
awk -v r="$released" -v t="$took_over" 'BEGIN { exit !(t - r < 3) }' ||
	fail "b took over $(awk -v r="$released" -v t="$took_over" 'BEGIN { print t - r }') s after the release"
[ "$(lease '{.spec.leaseTransitions}')" = 3 ] || fail "leaseTransitions is not 3 after the release"
kill -TERM "$pid_b"
wait "$pid_b" 2>/dev/null
pid_b=
scenario_assert_no_violations
echo "PASS"
exit 0
