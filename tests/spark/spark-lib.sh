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

. "${top_srcdir:-.}/tests/lib/scenario.sh"
scenario_init "$name" git curl python3
scenario_need_plugin plugins/spark/.libs spark.so
# Spark daemons are always stopped with SIGKILL.
SCENARIO_KILL=KILL
SCENARIO_LOGS="daemon.log events.txt kubesim.err"
SCENARIO_TAIL=60
SCENARIO_ON_FAIL=spark_fail_details
spark_fail_details() {
	[ -n "${SPARK_KEEP_LOGS:-}" ] && cp "$work/daemon.log" "$work/watch.json" "$SPARK_KEEP_LOGS/" 2>/dev/null
	"$KUBECTL" get pods -n jobs -o wide 2>&1 | head -20
	"$KUBECTL" get sparkapplication etl -n jobs -o jsonpath='{.metadata.annotations}' 2>&1
	echo
}

k() { "$KUBECTL" "$@"; }

repo="$work/repo"
app="$repo/clusters/sim/jobs/sparkapplication.yaml"

spark_start() {
	kubesim_start "$work" --log-level error --clock-factor "$1" || fail "kubesim did not start"
	# The CRD as spark-operator installs it (the demo's copy); its status
	# subresource only with SPARK_STATUS_SUBRESOURCE=1, so that .status is
	# written only through /status (the plugin's separate status patch).
	crd="$srcdir/scripts/demo-addons/sparkapplication-crd.yaml"
	if [ "${SPARK_STATUS_SUBRESOURCE:-0}" = 1 ]; then
		grep -q '^      subresources:$' "$crd" || fail "$crd has no status subresource"
		cp "$crd" "$work/crd.yaml" || fail "cannot copy $crd"
	else
		sed '/^      subresources:$/,/^        status: {}$/d' "$crd" >"$work/crd.yaml" || fail "cannot read $crd"
		grep -q 'subresources\|^        status:' "$work/crd.yaml" && fail "cannot remove the status subresource from $crd"
	fi
	k apply -f "$work/crd.yaml" >/dev/null 2>&1 || fail "cannot install the SparkApplication CRD"
	scenario_wait -q 10 "the SparkApplication CRD to be served" k get sparkapplications -A
	scenario_repo_skeleton spark-test keelson/status heal 1m
	mkdir -p "$repo/clusters/sim/jobs"
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
	scenario_git_init
	scenario_config "$work/keelson.yaml"
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
	scenario_commit "$1"
}

spark_annotation() {
	k get sparkapplication etl -n jobs -o json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"].get("annotations",{}).get(sys.argv[1],""))' "$1"
}

spark_state() { spark_annotation keelson.dev/spark-state; }
spark_status() { k get sparkapplication etl -n jobs -o jsonpath='{.status.applicationState.state}' 2>/dev/null; }

spark_roll() {
	cond=$1 max_s=$2 min_kills=${3:-3}
	kills=0
	started=$(date +%s)
	while :; do
		scenario_daemon_start
		# 0.4 .. 2.4 s
		delay=$(awk -v s="$kills$$$(date +%N)" 'BEGIN { srand(s); printf "%.2f", 0.4 + rand() * 2 }')
		sleep "$delay"
		if eval "$cond"; then
			[ $kills -ge "$min_kills" ] && break
		fi
		[ $(($(date +%s) - started)) -lt "$max_s" ] || fail "not done within ${max_s}s after $kills SIGKILLs"
		if [ $kills -lt 12 ]; then
			scenario_daemon_stop -9
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
	scenario_daemon_stop -9
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
	scenario_assert_no_violations
}

spark_stop_watch() {
	sleep 0.5
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	watch_pid=
}
