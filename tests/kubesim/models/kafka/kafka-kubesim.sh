#!/bin/sh
# The Kafka model inside the kubesim binary, driven with the real kubectl:
# the example cluster repo-layout/example/clusters/prod-chicago/kafka-events
# is applied as it is, its brokers serve metrics through the pod proxy,
# Cruise Control answers through the service proxy, one deleted broker is
# no violation and a second deleted while partitions are under-replicated
# is one. Skips (77) without kubectl, without the kubesim binary, or while
# the binary does not start the model (ks_kafka_model_start not linked).
set -u

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
KUBECTL=${KUBECTL:-}
if [ -z "$KUBECTL" ]; then
	echo "SKIP: KUBECTL is empty (configure found no kubectl)"
	exit 77
fi
KUBESIM=
for candidate in "$top_builddir/tests/kubesim/kubesim" "$top_builddir/kubesim"; do
	if [ -x "$candidate" ]; then
		KUBESIM=$candidate
		break
	fi
done
if [ -z "$KUBESIM" ]; then
	echo "SKIP: kubesim binary not built yet"
	exit 77
fi
if ! grep -q ks_kafka_model_start "$KUBESIM"; then
	echo "SKIP: $KUBESIM does not start the Kafka model yet (link \$(KUBESIM_MODEL_LIBS), call ks_kafka_model_start)"
	exit 77
fi
EXAMPLE="$top_srcdir/repo-layout/example/clusters/prod-chicago/kafka-events"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kafka-kubesim.XXXXXX")
. "${top_srcdir:-.}/tests/lib/kubesim.sh"
cleanup() {
	kubesim_stop
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM


failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
die() {
	echo "FAIL: $*"
	echo "--- kubesim stderr:"
	tail -n 30 "$tmp/kubesim.err" 2>/dev/null
	exit 1
}
k() {
	"$KUBECTL" --request-timeout=20s "$@"
}

# Simulated time 20x: the example's 10 s readiness delay takes 0.5 s.
kubesim_start "$tmp" --clock-factor 20 || die "kubesim did not start"

# system.yaml is keelson's own document, not a Kubernetes object.
for f in namespace configmap rbac services pdb statefulset; do
	k apply -f "$EXAMPLE/$f.yaml" >"$tmp/apply.out" 2>&1 || die "kubectl apply $f.yaml: $(cat "$tmp/apply.out")"
done
k -n kafka-events wait --for=condition=Ready pod -l app.kubernetes.io/name=kafka --timeout=60s \
	>/dev/null || die "the example's broker pods did not become Ready"

# metric POD NAME: the value of an unlabelled series of one broker.
metric() {
	k get --raw "/api/v1/namespaces/kafka-events/pods/$1:9404/proxy/metrics" |
		awk -v n="$2" '$1 == n { print $2 }'
}
# cluster_sum NAME: summed over the brokers that answer.
cluster_sum() {
	s=0
	for p in kafka-0 kafka-1 kafka-2; do
		v=$(metric "$p" "$1" 2>/dev/null)
		[ -n "$v" ] && s=$((s + v))
	done
	echo "$s"
}

text=$(k get --raw /api/v1/namespaces/kafka-events/pods/kafka-0:9404/proxy/metrics) ||
	fail "metrics of kafka-0 through the pod proxy"
echo "$text" | grep -q '^# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge$' ||
	fail "no TYPE line for the under-replicated gauge"
echo "$text" | grep -q '^kafka_cluster_partition_underminisr{topic="topic-0",partition="0"} 0$' ||
	fail "no per-partition under-min-ISR gauge"
[ "$(cluster_sum kafka_controller_kafkacontroller_activecontrollercount)" = 1 ] ||
	fail "active controllers summed over the brokers is not 1"
[ "$(cluster_sum kafka_server_kafkaserver_brokerstate)" = 9 ] || fail "not every broker RUNNING (3)"
[ "$(cluster_sum kafka_server_replicamanager_underreplicatedpartitions)" = 0 ] ||
	fail "under-replicated partitions in a healthy cluster"
# 3 topics x num.partitions=6 from the example's kafka-config, one leader each.
[ "$(cluster_sum kafka_server_replicamanager_leadercount)" = 18 ] ||
	fail "expected 18 partition leaders (3 topics x num.partitions=6 from kafka-config)"

# Cruise Control behind a Service named <cluster>-cruise-control.
cat >"$tmp/cc.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: kafka-cruise-control
  namespace: kafka-events
spec:
  selector:
    app: cruise-control
  ports:
  - port: 9090
EOF
k apply -f "$tmp/cc.yaml" >/dev/null || die "creating the Cruise Control service"
CC=/api/v1/namespaces/kafka-events/services/kafka-cruise-control:9090/proxy/kafkacruisecontrol
k get --raw "$CC/kafka_cluster_state?json=true" >"$tmp/state.json" || fail "kafka_cluster_state"
grep -q '"Summary":{"Brokers":3,"Topics":3,"Replicas":54' "$tmp/state.json" ||
	fail "kafka_cluster_state summary: $(head -c 300 "$tmp/state.json")"
k get --raw "$CC/state" | grep -q '"state":"NO_TASK_IN_PROGRESS"' || fail "executor state"
echo '{}' | k create --raw "$CC/remove_broker?brokerid=2&dryrun=false" -f - >"$tmp/rm.out" 2>&1 &&
	fail "remove_broker of 1 of 3 brokers with RF 3 succeeded: $(cat "$tmp/rm.out")"
echo '{}' | k create --raw "$CC/add_broker?brokerid=1" -f - >"$tmp/add.out" 2>&1 ||
	fail "add_broker dry run: $(cat "$tmp/add.out")"
grep -q '"progress"' "$tmp/add.out" || fail "add_broker did not answer with progress (202)"

# One broker deleted: under-replicated partitions, no violation.
k -n kafka-events delete pod kafka-1 --wait=false >/dev/null || die "deleting kafka-1"
sleep 0.3
urp=$(($(metric kafka-0 kafka_server_replicamanager_underreplicatedpartitions) + \
	$(metric kafka-2 kafka_server_replicamanager_underreplicatedpartitions)))
[ "$urp" -gt 0 ] || fail "no under-replicated partitions after deleting kafka-1"
k get --raw /_sim/violations | grep -q '^{"violations":\[\]}$' ||
	fail "violations after one delete: $(k get --raw /_sim/violations)"

# A second one while partitions are under-replicated: recorded.
k -n kafka-events delete pod kafka-2 --wait=false >/dev/null || die "deleting kafka-2"
sleep 0.3
k get --raw /_sim/violations >"$tmp/violations.json"
grep -q 'broker 2 deleted while 18 partitions were under-replicated' "$tmp/violations.json" ||
	fail "no violation for the second delete: $(head -c 400 "$tmp/violations.json")"

if [ "$failures" -ne 0 ]; then
	echo "--- kubesim stderr:"
	tail -n 20 "$tmp/kubesim.err"
	exit 1
fi
echo "PASS: kafka model through kubesim and kubectl"
