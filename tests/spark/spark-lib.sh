# Shared plumbing of the Spark scenario tests (tests/spark/spark-*.sh):
# kubesim with the SparkApplication CRD, a local Git repository with one
# system "jobs" run by the spark plugin in native mode, a kubectl watch that
# records every driver pod event, keelson run killed with SIGKILL at random
# moments, and checks on kubesim's invariant log and the pod history.
# POSIX sh; source it after setting `name`.
#
# spark_start FACTOR        kubesim (--clock-factor FACTOR), CRD, repository
# spark_app VERSION POLICY RUN_MS [EXTRA_ANNOTATIONS]
#                           write the SparkApplication (image tag VERSION,
#                           restartPolicy POLICY as YAML flow, driver run time
#                           RUN_MS simulated ms or "" for a streaming app);
#                           with SPARK_OPERATOR=1 it is annotated for
#                           kubesim's simulated spark-operator
# spark_commit MSG          commit the repository
# spark_roll COND MAX_S [KILLS]
#                           run keelson, SIGKILL it at random moments (at
#                           least KILLS times, default 3) until `eval COND`
#                           holds, at most MAX_S seconds
# spark_annotation KEY      an annotation of the live SparkApplication
# spark_check_history       the watch shows never two drivers at once
# spark_check_violations    kubesim's invariant log is empty
set -u

if [ -z "${KUBECTL:-}" ]; then
	echo "$name: KUBECTL is empty, skipping"
	exit 77
fi
command -v git >/dev/null 2>&1 || { echo "$name: no git, skipping"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "$name: no curl, skipping"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "$name: no python3, skipping"; exit 77; }
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KUBESIM=$builddir/kubesim
KEELSON=$builddir/keelson
PLUGINS=$builddir/plugins/spark/.libs
[ -x "$KUBESIM" ] || { echo "$name: $KUBESIM not built"; exit 1; }
[ -x "$KEELSON" ] || { echo "$name: $KEELSON not built"; exit 1; }
[ -f "$PLUGINS/spark.so" ] || { echo "$name: the spark plugin is not built ($PLUGINS/spark.so)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
daemon=
watch_pid=
spark_cleanup() {
	for p in $daemon $watch_pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	rm -rf "$work"
}
trap spark_cleanup EXIT INT TERM

step=""
fail() {
	echo "FAIL [$step]: $*"
	[ -n "${SPARK_KEEP_LOGS:-}" ] && cp "$work/daemon.log" "$work/watch.json" "$SPARK_KEEP_LOGS/" 2>/dev/null
	for f in daemon.log events.txt kubesim.err; do
		[ -f "$work/$f" ] && { echo "--- $f (last 60 lines)"; tail -n 60 "$work/$f"; }
	done
	"$KUBECTL" get pods -n jobs -o wide 2>&1 | head -20
	"$KUBECTL" get sparkapplication etl -n jobs -o jsonpath='{.metadata.annotations}' 2>&1
	echo
	exit 1
}

k() { "$KUBECTL" "$@"; }

repo="$work/repo"
app="$repo/clusters/sim/jobs/sparkapplication.yaml"
git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }

spark_start() {
	kubesim_start "$work" --log-level error --clock-factor "$1" || fail "kubesim did not start"
	# The CRD as spark-operator installs it; with SPARK_STATUS_SUBRESOURCE=1
	# also its status subresource, so .status is written only through
	# /status (the plugin's separate status patch).
	cat >"$work/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: sparkapplications.sparkoperator.k8s.io
spec:
  group: sparkoperator.k8s.io
  scope: Namespaced
  names: {plural: sparkapplications, singular: sparkapplication, kind: SparkApplication, shortNames: [sparkapp]}
  versions:
  - name: v1beta2
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
EOF
	if [ "${SPARK_STATUS_SUBRESOURCE:-0}" = 1 ]; then
		printf '    subresources:\n      status: {}\n' >>"$work/crd.yaml"
	fi
	k apply -f "$work/crd.yaml" >/dev/null 2>&1 || fail "cannot install the SparkApplication CRD"
	i=0
	until k get sparkapplications -A >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "the SparkApplication CRD is not served"
		sleep 0.1
	done
	mkdir -p "$repo/clusters/sim/jobs"
	cat >"$repo/keelson.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: spark-test
spec:
  statusBranch: keelson/status
  policy:
    prune: true
    driftPolicy: heal
    pollInterval: 1m
    driftCheckInterval: 10m
    alertRepeatInterval: 1h
EOF
	cat >"$repo/clusters/sim/cluster.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: Cluster
metadata:
  name: sim
spec:
  kubeContext: kubesim
EOF
	cat >"$repo/clusters/sim/jobs/system.yaml" <<'EOF'
apiVersion: keelson.dev/v1alpha1
kind: System
metadata:
  name: jobs
spec:
  plugin: spark
  parameters:
    mode: native
    onSpecChange: resubmit
    killTimeout: 2m
EOF
	cat >"$repo/clusters/sim/jobs/namespace.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: jobs
EOF
	git init -q -b main "$repo" || fail "git init"
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
  maxBackoff: 1s
EOF
	: >"$work/daemon.log"
	# Every pod event of the namespace, with the event type.
	k get pods -n jobs -w --output-watch-events -o json >"$work/watch.json" 2>"$work/watch.err" &
	watch_pid=$!
}

spark_app() {
	version=$1 policy=$2 run_ms=$3 extra=${4:-}
	run_line=
	[ -n "$run_ms" ] && run_line="      kubesim.keelson.dev/run-ms: \"$run_ms\""
	op_line=
	[ -n "${SPARK_OPERATOR:-}" ] && op_line='  annotations: {kubesim.keelson.dev/spark-operator: "true"}'
	cat >"$app" <<EOF
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: etl
  namespace: jobs
$op_line
spec:
  type: Scala
  mode: cluster
  image: apache/spark:$version
  mainClass: com.acme.Etl
  mainApplicationFile: local:///opt/etl.jar
  arguments: ["--day", "2026-11-26"]
  sparkConf:
    spark.sql.shuffle.partitions: "20"
  restartPolicy: $policy
  driver:
    cores: 1
    memory: 1g
    terminationGracePeriodSeconds: 30
    annotations:
      kubesim.keelson.dev/stop-delay-ms: "${STOP_DELAY_MS:-500}"
$run_line
$extra
  executor:
    instances: 2
    cores: 1
    memory: 1g
EOF
	sed -i '/^$/d' "$app"
}

spark_commit() {
	git_in add -A
	git_in commit -q -m "$1"
}

spark_annotation() {
	k get sparkapplication etl -n jobs -o json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("annotations",{}).get(sys.argv[1],""))' "$1"
}

spark_state() { spark_annotation keelson.dev/spark-state; }
spark_status() { k get sparkapplication etl -n jobs -o jsonpath='{.status.applicationState.state}' 2>/dev/null; }

start_daemon() {
	"$KEELSON" run --config "$work/keelson.yaml" --plugin-dir "$PLUGINS" >>"$work/daemon.log" 2>&1 &
	daemon=$!
}

stop_daemon() {
	[ -n "$daemon" ] || return 0
	kill -9 "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=
}

spark_roll() {
	cond=$1 max_s=$2 min_kills=${3:-3}
	kills=0
	started=$(date +%s)
	while :; do
		start_daemon
		# 0.4 .. 2.4 s
		delay=$(awk -v s="$kills$$$(date +%N)" 'BEGIN { srand(s); printf "%.2f", 0.4 + rand() * 2 }')
		sleep "$delay"
		if eval "$cond"; then
			[ $kills -ge "$min_kills" ] && break
		fi
		[ $(($(date +%s) - started)) -lt "$max_s" ] || fail "not done within ${max_s}s after $kills SIGKILLs"
		if [ $kills -lt 12 ]; then
			stop_daemon
			kills=$((kills + 1))
		else
			# Enough kills: let this daemon finish.
			i=0
			until eval "$cond"; do
				[ $(($(date +%s) - started)) -lt "$max_s" ] || fail "not done within ${max_s}s after $kills SIGKILLs"
				sleep 0.3
			done
			break
		fi
	done
	stop_daemon
	echo "   done with $kills SIGKILLs"
}

# The watch as one line per event: TYPE NAME UID ROLE ATTEMPT HASH PHASE
# DELETING CREATED.
spark_events() {
	python3 - "$work/watch.json" >"$work/events.txt" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
dec = json.JSONDecoder()
i = 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    try:
        ev, i = dec.raw_decode(text, i)
    except ValueError:
        break
    o = ev.get("object", {})
    md = o.get("metadata", {})
    lab = md.get("labels", {}) or {}
    print(ev.get("type"), md.get("name"), md.get("uid"), lab.get("spark-role", "-"),
          lab.get("keelson.dev/spark-attempt", "-"), lab.get("keelson.dev/spark-spec-hash", "-"),
          o.get("status", {}).get("phase", "-"), "deleting" if md.get("deletionTimestamp") else "-",
          md.get("creationTimestamp", "-"))
PY
}

# Never two driver pods (by uid) in existence at once, and print the
# drivers in creation order: UID ATTEMPT HASH CREATED.
spark_check_history() {
	spark_events
	python3 - "$work/events.txt" >"$work/drivers.txt" <<'PY' || fail "two drivers existed at once: $(cat "$work/drivers.txt")"
import sys
alive, order, info, worst = set(), [], {}, 0
for line in open(sys.argv[1]):
    t, name, uid, role, attempt, h, phase, deleting, created = line.split()
    if role != "driver":
        continue
    if uid not in info:
        order.append(uid)
        info[uid] = (attempt, h, created)
    if t == "DELETED":
        alive.discard(uid)
    else:
        alive.add(uid)
    worst = max(worst, len(alive))
for uid in order:
    print(uid, *info[uid])
if worst > 1:
    print("at most", worst, "drivers existed at once")
    sys.exit(1)
PY
}

spark_check_violations() {
	v=$(kubesim_curl /_sim/violations | tr -d ' \n')
	case $v in "" | "[]" | *'"violations":[]'* | *'"items":[]'*) ;; *) fail "kubesim violations: $v" ;; esac
}

spark_stop_watch() {
	sleep 0.5
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	watch_pid=
}
