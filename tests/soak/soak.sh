#!/usr/bin/env bash
# Soak under faults (issue 11): from a seed, random sequences of commits to
# a copy of the example repository (prod-chicago, the real kafka, cassandra
# and spark plugins) while kubesim injects API faults, the Git server is
# stopped and restarted and `keelson run` is killed with SIGKILL; after each
# sequence the live state, the invariant log, the refusals of bad commits,
# the status branch and unrelated objects are checked. See
# tests/soak/README.md.
#
#   soak.sh --seed N [--sequences K] [--steps M] [--clock-factor F] [--keep]
#
# Exit 0 when every sequence passed, 1 on a failure (the seed, the replay
# command and the kept work directory are printed), 2 on bad usage.
# The last line of a run is machine-readable:
#   SOAK-STATS seed=N sequences=.. commits=.. bad=.. faults=.. errors=.. throttles=.. conflicts=.. dropped_watches=.. git_restarts=.. kills=..
# (faults: fault periods; errors .. dropped_watches: the faults kubesim
# injected, from its /_sim/counters).
set -u

usage() {
	echo "usage: $0 --seed N [--sequences K] [--steps M] [--clock-factor F] [--keep]" >&2
	exit 2
}

seed=
sequences=2
steps=4
clock=40
keep=no
while [ $# -gt 0 ]; do
	case $1 in
	--seed) seed=${2:-}; shift 2 || usage ;;
	--sequences) sequences=${2:-}; shift 2 || usage ;;
	--steps) steps=${2:-}; shift 2 || usage ;;
	--clock-factor) clock=${2:-}; shift 2 || usage ;;
	--keep) keep=yes; shift ;;
	*) usage ;;
	esac
done
for v in "$seed" "$sequences" "$steps" "$clock"; do
	case $v in '' | *[!0-9]*) usage ;; esac
done

srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
builddir=$(cd "${top_builddir:-.}" && pwd)
KUBECTL=${KUBECTL:-kubectl}
if ! command -v "$KUBECTL" >/dev/null 2>&1; then
	echo "soak: no kubectl, skipping"
	exit 77
fi
for t in git curl python3; do
	command -v $t >/dev/null 2>&1 || { echo "soak: no $t, skipping"; exit 77; }
done
KUBESIM=$builddir/kubesim
KEELSON=$builddir/keelson
for f in "$KUBESIM" "$KEELSON"; do
	[ -x "$f" ] || { echo "soak: $f is not built"; exit 1; }
done
for p in kafka cassandra spark; do
	[ -f "$builddir/plugins/$p/.libs/$p.so" ] || { echo "soak: the $p plugin is not built ($builddir/plugins/$p/.libs/$p.so)"; exit 1; }
done

# Every random choice comes from bash's generator seeded here, so a seed
# replays the same commits, faults and kill delays (timing relative to the
# daemon still varies with machine load).
RANDOM=$seed
# Never call rnd in a subshell ($(...)): bash reseeds $RANDOM there.
rnd() { R=$((RANDOM % $1)); }                               # R = 0 .. N-1
rnd_sleep() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; } # milliseconds

work=$(mktemp -d "${TMPDIR:-/tmp}/soak-$seed.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
daemon=
gitd=
gport=
failed=no
n_seq=0 n_commits=0 n_bad=0 n_faults=0 n_git=0 n_kills=0 n_storms=0
log=$work/daemon.log
: >"$log"

# The faults kubesim injected so far, by type ("error throttle conflict
# droppedWatch", then the writes conflictRate could have hit), zeros when
# it cannot be asked.
injected_faults() {
	kubesim_curl /_sim/counters 2>/dev/null | python3 -c '
import json, sys
try:
    f = json.load(sys.stdin).get("faults", {})
except Exception:
    f = {}
print(*(int(f.get(k, 0)) for k in ("error", "throttle", "conflict", "droppedWatch", "conflictEligible")))' 2>/dev/null || echo 0 0 0 0 0
}
# Which requests met which injected faults ("patch pods: conflict=2, ...").
faults_by_request() {
	kubesim_curl /_sim/counters 2>/dev/null | python3 -c '
import json, sys
try:
    by = json.load(sys.stdin).get("faultsByRequest", {})
except Exception:
    by = {}
print(", ".join("%s: %s" % (r, " ".join("%s=%d" % kv for kv in sorted(f.items()))) for r, f in sorted(by.items())) or "none")' 2>/dev/null
}
# Times the leader stopped leading because no renewal got through.
stepdowns() {
	grep -c 'msg="leader election: stopped leading; standing by".*reason="no renewal within renewDeadline' "$log" 2>/dev/null
}
stats() { # stats [SEQUENCES]: what this run survived
	local inj
	inj=$(injected_faults)
	set -- "${1:-$n_seq}" $inj
	echo "SOAK-STATS seed=$seed sequences=$1 commits=$n_commits bad=$n_bad faults=$n_faults errors=${2:-0} throttles=${3:-0} conflicts=${4:-0} dropped_watches=${5:-0} conflict_storms=$n_storms stepdowns=$(stepdowns) git_restarts=$n_git kills=$n_kills"
}

cleanup() {
	for p in $daemon $gitd; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	if [ "$failed" = no ] && [ "$keep" = no ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

step=setup
fail() {
	failed=yes
	echo "FAIL [soak seed $seed, sequence $n_seq, $step]: $*"
	for f in daemon.log kubesim.err gitd.log; do
		[ -s "$work/$f" ] && { echo "--- $f (last 30 lines)"; tail -n 30 "$work/$f"; }
	done
	echo "injected faults by request: $(faults_by_request)"
	echo "work directory kept: $work"
	echo "replay: top_srcdir=$srcdir top_builddir=$builddir $srcdir/tests/soak/soak.sh --seed $seed --sequences $sequences --steps $steps --clock-factor $clock"
	stats $((n_seq > 0 ? n_seq - 1 : 0))
	exit 1
}

k() { "$KUBECTL" --request-timeout=20s "$@"; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll every 0.5 s.
wait_until() {
	local limit=$1 what=$2 i=0
	shift 2
	until "$@"; do
		i=$((i + 1))
		[ $i -le $((limit * 2)) ] || fail "not within ${limit}s: $what"
		sleep 0.5
	done
}

# --- kubesim, plugins, repository, git daemon --------------------------------

kubesim_start "$work" --log-level error --clock-factor "$clock" || fail "kubesim did not start"
k apply -f "$srcdir/scripts/demo-addons/sparkapplication-crd.yaml" >/dev/null || fail "kubectl apply the SparkApplication CRD"
k wait --for=condition=Established crd --all --timeout=30s >/dev/null || fail "the SparkApplication CRD is not Established"

plugins=$work/plugins
mkdir -p "$plugins"
for p in kafka cassandra spark; do ln -s "$builddir/plugins/$p/.libs/$p.so" "$plugins/"; done
export KEELSON_PLUGIN_DIR=$plugins

repo=$work/repo          # where the soak commits
origin=$work/srv/config.git # what git daemon serves
cp -R "$srcdir/repo-layout/example" "$repo"
chmod -R u+w "$repo"
git_in() { git -C "$repo" -c user.name=soak -c user.email=soak@keelson.invalid "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
git_in add -A
git_in commit -q -m "example data platform"
mkdir -p "$work/srv"
git init -q --bare -b main "$origin" || fail "git init --bare"
git_in remote add origin "$origin"
git_in push -q origin main
last_good=$(git -C "$repo" rev-parse HEAD)

gport=$((20000 + seed % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$gport") 2>/dev/null; do gport=$((gport + 1)); done
start_gitd() {
	local i
	[ -z "$gitd" ] || return 0
	for i in $(seq 100); do
		git daemon --reuseaddr --listen=127.0.0.1 --port="$gport" --base-path="$work/srv" --export-all \
			--enable=receive-pack "$work/srv" >>"$work/gitd.log" 2>&1 &
		gitd=$!
		local j
		for j in $(seq 30); do
			git ls-remote "git://127.0.0.1:$gport/config.git" >/dev/null 2>&1 && return 0
			kill -0 "$gitd" 2>/dev/null || break
			sleep 0.1
		done
		kill "$gitd" 2>/dev/null
		wait "$gitd" 2>/dev/null
		gitd=
		sleep 0.2 # the port is still held by the previous daemon's connections
	done
	fail "git daemon did not start on 127.0.0.1:$gport"
}
stop_gitd() {
	[ -n "$gitd" ] || return 0
	kill "$gitd" 2>/dev/null
	wait "$gitd" 2>/dev/null
	gitd=
}
start_gitd

cat >"$work/keelson.yaml" <<EOF
git:
  url: git://127.0.0.1:$gport/config.git
  ref: main
  cacheDir: $work/gitcache
  pollInterval: 1s
clusters:
  - name: prod-chicago
    kubeconfig: $KUBECONFIG
    context: kubesim
retry:
  initialBackoff: 200ms
  maxBackoff: 2s
status:
  branch: keelson/status
  interval: 1s
pluginDir: $plugins
EOF
# Leader election (one instance, as a Deployment with replicas 1 runs it):
# the Lease renewals are PUTs guarded by their resourceVersion, the writes
# conflictRate reaches. A restarted daemon has a new identity (host_pid),
# so after a SIGKILL it waits for the old holder's Lease to expire.
election=no
if [ "${SOAK_LEADER_ELECTION:-1}" != 0 ]; then
	election=yes
	cat >>"$work/keelson.yaml" <<EOF
leaderElection:
  leaseDuration: 4s
  renewDeadline: 3s
  retryPeriod: 500ms
EOF
	k create namespace keelson-system >/dev/null || fail "kubectl create namespace keelson-system (the Lease's namespace)"
fi

n_starts=0
start_daemon() {
	[ -z "$daemon" ] || return 0
	"$KEELSON" run --config "$work/keelson.yaml" >>"$log" 2>&1 &
	daemon=$!
	n_starts=$((n_starts + 1))
}
kill_daemon() {
	[ -n "$daemon" ] || return 0
	kill -9 "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=
	n_kills=$((n_kills + 1))
}

# --- objects keelson does not own --------------------------------------------

bystanders="configmap/soak-bystander-a -n default
configmap/soak-bystander-b -n soak-bystander
secret/soak-bystander-s -n soak-bystander
configmap/soak-bystander-k -n kafka-events"
k create namespace soak-bystander >/dev/null || fail "kubectl create namespace"
k create configmap soak-bystander-a -n default --from-literal=k=v >/dev/null || fail "kubectl create configmap"
k create configmap soak-bystander-b -n soak-bystander --from-literal=k=v >/dev/null || fail "kubectl create configmap"
k create secret generic soak-bystander-s -n soak-bystander --from-literal=k=v >/dev/null || fail "kubectl create secret"
# In a namespace keelson manages (created once keelson made it, below).
bystander_rvs() {
	local line
	printf '%s\n' "$bystanders" | while read -r line; do
		# shellcheck disable=SC2086
		printf '%s %s\n' "$line" "$(k get $line -o jsonpath='{.metadata.resourceVersion}' 2>&1)"
	done
}

# --- convergence and checks ---------------------------------------------------

# The status branch as "system phase revision" lines for prod-chicago.
status_lines() {
	"$KEELSON" status --repo "$origin" --output json 2>/dev/null | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    if d.get("cluster") == "prod-chicago":
        print(d.get("system"), d.get("phase"), d.get("revision"))' | sort
}
systems="cassandra-chicago kafka-events platform spark-etl"
status_synced() {
	local want s
	want=$(for s in $systems; do echo "$s Synced $last_good"; done)
	[ "$(status_lines)" = "$want" ]
}
converged_log() {
	grep -q "msg=\"reconcile cycle done\" revision=$last_good converged=true" "$log" ||
		grep "msg=\"reconcile cycle done\"" "$log" | grep "revision=$last_good" | grep -q 'converged=true'
}
live_matches() {
	rm -rf "$work/good"
	git -C "$repo" worktree prune
	git -C "$repo" worktree add -q --detach "$work/good" "$last_good" >/dev/null 2>&1 || return 1
	"$KEELSON" diff --repo "$work/good" --cluster prod-chicago --kubeconfig "$KUBECONFIG" --context kubesim \
		--no-color >"$work/diff.out" 2>&1
}
# Settled: the daemon converged at the last valid revision and every
# system's status is about it and no longer Progressing (check_all then
# asserts Synced and a clean diff, with a message saying which failed).
status_settled() {
	local lines
	lines=$(status_lines)
	[ "$(printf '%s\n' "$lines" | awk -v rev="$last_good" '$3 == rev && $2 != "Progressing"' | wc -l)" = 4 ]
}
converged() { converged_log && status_settled; }

# refusal_reported SHA: the daemon logged the problem (file:line:column)
# and a status commit says Failed at SHA with "revision rejected".
refusal_reported() {
	grep -q "msg=\"invalid revision\" revision=$1 file=[^ ]*:[0-9]*:[0-9]* code=" "$log" &&
		git -C "$origin" log -p --format= keelson/status -- 2>/dev/null | sed 's/^[-+ ]//' | tr -d ' \t\n' |
		grep -q "\"revision\":\"$1\",\"phase\":\"Failed\",\"step\":null,\"lastError\":\"revisionrejected"
}

check_all() {
	step="checks"
	live_matches || { cat "$work/diff.out"; fail "the live state differs from the last valid commit $last_good (keelson diff above)"; }
	local v
	v=$(kubesim_curl /_sim/violations | tr -d ' \n')
	case $v in *'"violations":[]'*) ;; *) fail "kubesim's invariant log is not empty: $v" ;; esac
	status_synced || fail "status branch does not say Synced at $last_good for every system: $(status_lines | tr '\n' ';')"
	bystander_rvs >"$work/bystanders.now"
	cmp -s "$work/bystanders.before" "$work/bystanders.now" ||
		fail "an object keelson does not own changed: $(diff "$work/bystanders.before" "$work/bystanders.now" | tr '\n' ';')"
}

# --- mutations ----------------------------------------------------------------

C=$repo/clusters/prod-chicago
cycle_value() { # cycle_value CURRENT LIST...: the element after CURRENT
	local cur=$1 first= take=no v
	shift
	for v in "$@"; do
		[ -n "$first" ] || first=$v
		[ $take = yes ] && { echo "$v"; return; }
		[ "$v" = "$cur" ] && take=yes
	done
	echo "$first"
}
mutate_good() {
	local f cur new
	rnd 5
	case $R in
	0)
		f=$C/kafka-events/statefulset.yaml
		cur=$(sed -n 's|^ *image: apache/kafka:||p' "$f")
		new=$(cycle_value "$cur" 3.7.0 3.7.1 3.7.2)
		sed -i "s|image: apache/kafka:$cur\$|image: apache/kafka:$new|" "$f"
		what="kafka image $new" ;;
	1)
		f=$C/kafka-events/configmap.yaml
		cur=$(sed -n 's/^ *log.retention.hours=//p' "$f")
		rnd 300
		new=$((24 + R))
		[ "$new" != "$cur" ] || new=$((new + 1))
		sed -i "s/log.retention.hours=$cur\$/log.retention.hours=$new/" "$f"
		what="kafka config log.retention.hours=$new" ;;
	2)
		f=$C/cassandra-chicago/statefulset.yaml
		cur=$(sed -n 's|^ *image: cassandra:||p' "$f")
		new=$(cycle_value "$cur" 4.1.5 4.1.6 4.1.7)
		sed -i "s|image: cassandra:$cur\$|image: cassandra:$new|" "$f"
		what="cassandra image $new" ;;
	3)
		f=$C/spark-etl/sparkapplication.yaml
		cur=$(sed -n 's/^ *spark.sql.shuffle.partitions: "\([0-9]*\)"$/\1/p' "$f")
		rnd 400
		new=$((50 + R))
		[ "$new" != "$cur" ] || new=$((new + 1))
		sed -i "s/spark.sql.shuffle.partitions: \"$cur\"/spark.sql.shuffle.partitions: \"$new\"/" "$f"
		what="spark shuffle partitions $new" ;;
	4)
		# Scale: the Spark executors. (Kafka here is KRaft combined mode
		# with a static voter list and Cassandra refuses scale-down, so
		# their replica counts stay.)
		f=$C/spark-etl/sparkapplication.yaml
		cur=$(awk '/^  executor:/ { e = 1 } e && /^    instances:/ { print $2; exit }' "$f")
		rnd 12
		new=$((2 + R))
		[ "$new" != "$cur" ] || new=$((new + 1))
		awk -v n="$new" '/^  executor:/ { e = 1 } e && /^    instances:/ { sub(/[0-9]+/, n); e = 0 } { print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
		what="spark executors $new" ;;
	esac
}
mutate_bad() {
	rnd 3
	case $R in
	0)
		printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: soak-broken\n  namespace: kafka-events\ndata: {a: [unclosed\n' \
			>"$C/kafka-events/broken.yaml"
		what="broken YAML" ;;
	1)
		sed -i 's/^  plugin: cassandra$/  plugin: cassandra\n  colour: blue/' "$C/cassandra-chicago/system.yaml"
		what="unknown field in a System" ;;
	2)
		sed -i 's/^    metricsPort: 9404$/    metricsPort: 9404\n    brokerFlavour: spicy/' "$C/kafka-events/system.yaml"
		what="unknown kafka plugin parameter" ;;
	esac
}
# Start from the last valid tree (a bad commit is never built upon).
restore_good() {
	rm -rf "$repo/clusters"
	git -C "$repo" checkout -q "$last_good" -- clusters || fail "git checkout $last_good"
}
# commit MESSAGE: commit everything and push to the served repository.
# --allow-empty: the same bad change twice in a row is a new commit with an
# unchanged tree, which keelson must refuse again.
commit() {
	git_in add -A
	git_in commit -q --allow-empty -m "$1"
	git_in push -q origin main
	n_commits=$((n_commits + 1))
}

# Since the daemon's last start, a cycle ran at the last valid revision.
# starts_before: "keelson started" lines before the restart (the new
# daemon may not have logged its own yet).
restarted_loaded() {
	awk -v rev="$last_good" -v before="$starts_before" '/msg="keelson started"/ { ok = 0; starts++ }
		/msg="reconcile cycle done"/ && index($0, "revision=" rev " ") { ok = 1 }
		END { exit !(ok && starts > before) }' "$log"
}

# Random disturbances between commits: sleeps, SIGKILLs, Git server outages.
# At least one of each per sequence: forced_kill and forced_git name the step.
disturb() {
	rnd 1500
	rnd_sleep $((200 + R))
	rnd 10
	if [ $R -lt 3 ] || [ "$s" = "$forced_kill" ]; then
		rnd 800
		rnd_sleep $R
		if [ -n "${SOAK_AVOID_INVALID_HEAD_RESTART:-}" ] && [ $last_was_bad = yes ]; then
			echo "  (SIGKILL postponed: the head is invalid, SOAK_AVOID_INVALID_HEAD_RESTART)"
			[ "$s" != "$forced_kill" ] || forced_kill=$((s + 1))
		else
			kill_daemon
			echo "  SIGKILL keelson run"
			starts_before=$(grep -c 'msg="keelson started"' "$log")
			rnd 800
			rnd_sleep $R
			start_daemon
			if [ -n "${SOAK_AVOID_INVALID_HEAD_RESTART:-}" ]; then
				start_gitd
				wait_until 90 "the restarted keelson loaded $last_good" restarted_loaded
			fi
		fi
	fi
	[ "$election" = yes ] && [ "$s" = "$forced_storm" ] && conflict_storm
	rnd 10
	if [ -n "$gitd" ] && { [ $R -lt 2 ] || [ "$s" = "$forced_git" ]; }; then
		stop_gitd
		echo "  git daemon stopped"
		n_git=$((n_git + 1))
	elif [ -z "$gitd" ]; then
		start_gitd
	fi
}

# A conflict storm: every Lease renewal refused with 409 until the leader
# stops acting (renewDeadline 3 s, real time; it must within 10 s), then
# it takes its Lease back (still its own) once the storm ends.
# Whether the daemon started last leads now: its "keelson started" is
# in the log (the killed one's lines come before it) and its election
# lines since end on "leading".
is_leading() {
	awk -v want="$n_starts" '/msg="keelson started"/ { starts++; l = 0 }
		/msg="leader election: leading;/ { l = 1 } /msg="leader election: stopped leading/ { l = 0 }
		END { exit !(starts == want && l) }' "$log"
}
stood_down_since() { [ "$(stepdowns)" -gt "$1" ]; }
conflict_storm() {
	local storm before
	# Only a leader can be made to stand down: wait until this one leads
	# (after a SIGKILL, the killed holder's Lease expires first).
	wait_until 30 "keelson run leads, before a conflict storm" is_leading
	before=$(stepdowns)
	storm=$(printf '%s' "$faults" | sed 's/"conflictRate":{[^}]*}/"conflictRate":{"update":1}/')
	kubesim_curl /_sim/faults -X POST -H 'Content-Type: application/json' -d "$storm" -o /dev/null -w '%{http_code}' |
		grep -q '^20' || fail "kubesim refused the faults $storm"
	wait_until 10 "the leader stood down (renewDeadline 3 s) while every Lease update was refused with 409" \
		stood_down_since "$before"
	kubesim_curl /_sim/faults -X POST -H 'Content-Type: application/json' -d "$faults" -o /dev/null -w '%{http_code}' |
		grep -q '^20' || fail "kubesim refused the faults $faults"
	n_storms=$((n_storms + 1))
	echo "  conflict storm: every Lease update refused until the leader stood down"
}

set_faults() {
	local err thr lat drop=false conf
	rnd 6; err=$((2 + R))
	rnd 10; thr=$R
	rnd 40; lat=$R
	rnd 2; [ $R = 1 ] && drop=true
	# Conflicts hit only writes that carry a precondition (the Lease,
	# unforced server-side applies, resourceVersion-guarded patches;
	# tests/kubesim/README.md), so their rate is higher: 5 to 25 %.
	rnd 5; conf=$((5 + 5 * R))
	faults=$(printf '{"errorRate":{"*":0.0%d},"throttleRate":0.0%d,"retryAfterSeconds":1,"latencyMs":%d,"dropWatches":%s,"conflictRate":{"*":0.%02d}}' \
		"$err" "$thr" "$lat" "$drop" "$conf")
	kubesim_curl /_sim/faults -X POST -H 'Content-Type: application/json' -d "$faults" -o /dev/null -w '%{http_code}' |
		grep -q '^20' || fail "kubesim refused the faults $faults"
	n_faults=$((n_faults + 1))
}
clear_faults() {
	kubesim_curl /_sim/faults -X POST -H 'Content-Type: application/json' -d '{}' -o /dev/null -w '%{http_code}' |
		grep -q '^20' || fail "kubesim did not clear the faults"
}

# --- first deployment (no faults) --------------------------------------------

step="first deployment"
start_daemon
wait_until 240 "the first deployment converged at $last_good" converged
k create configmap soak-bystander-k -n kafka-events --from-literal=k=v >/dev/null || fail "kubectl create configmap in kafka-events"
bystander_rvs >"$work/bystanders.before"
grep -q ' [0-9][0-9]*$' "$work/bystanders.before" || fail "bystander resourceVersions: $(cat "$work/bystanders.before")"
check_all
echo "soak seed $seed: first deployment converged"

# --- sequences ----------------------------------------------------------------

while [ $n_seq -lt "$sequences" ]; do
	n_seq=$((n_seq + 1))
	step="sequence $n_seq"
	set_faults
	echo "soak seed $seed: sequence $n_seq, faults $faults"
	s=0
	last_was_bad=no
	rnd "$steps"; forced_bad=$((1 + R))
	rnd "$steps"; forced_kill=$((1 + R))
	rnd "$steps"; forced_git=$((1 + R))
	forced_storm=
	if [ "$election" = yes ]; then rnd "$steps"; forced_storm=$((1 + R)); fi
	while [ $s -lt "$steps" ] || [ $last_was_bad = yes ]; do
		s=$((s + 1))
		restore_good
		rnd 4
		if [ $s -le "$steps" ] && { [ $R = 0 ] || [ $s = $forced_bad ]; }; then
			mutate_bad
			commit "bad: $what"
			n_bad=$((n_bad + 1))
			bad=$(git -C "$repo" rev-parse HEAD)
			echo "  commit $bad bad: $what"
			last_was_bad=yes
			# The refusal must be reported before a newer commit hides
			# this one: keelson and the Git server run until it is.
			step="refusal of $bad ($what)"
			[ -n "$gitd" ] || start_gitd
			start_daemon
			wait_until 90 "keelson reported $bad ($what) as invalid in its log and on the status branch" \
				refusal_reported "$bad"
			step="sequence $n_seq"
		else
			mutate_good
			commit "$what"
			last_good=$(git -C "$repo" rev-parse HEAD)
			echo "  commit $last_good: $what"
			last_was_bad=no
		fi
		disturb
	done
	step="convergence"
	clear_faults
	# Self-test of the checks (README): touch what keelson must not have.
	case ${SOAK_SELFTEST:-} in
	bystander) k annotate configmap soak-bystander-k -n kafka-events soak/selftest=1 >/dev/null ;;
	esac || fail "SOAK_SELFTEST=$SOAK_SELFTEST: kubectl failed"
	[ -n "$gitd" ] || start_gitd
	start_daemon
	wait_until 240 "converged at $last_good after sequence $n_seq (the daemon logs converged=true, status about it and not Progressing)" converged
	if [ "${SOAK_SELFTEST:-}" = drift ]; then
		# prod-chicago heals drift: keelson must not be running to see it.
		kill_daemon
		k patch configmap orders-etl-config -n spark-etl --type merge -p '{"data":{"etl.conf":"selftest"}}' >/dev/null ||
			fail "SOAK_SELFTEST=drift: kubectl patch failed"
	fi
	check_all
	echo "soak seed $seed: sequence $n_seq passed"
done
kill -TERM "$daemon" 2>/dev/null
wait "$daemon" 2>/dev/null
daemon=
step="keelson's exit"
grep -q 'ERROR: AddressSanitizer\|runtime error:' "$log" && fail "a sanitizer report in the daemon's log"
echo "soak seed $seed: injected faults by request: $(faults_by_request)"
set -- $(injected_faults)
echo "PASS soak seed $seed: $n_seq sequences, $n_commits commits ($n_bad bad), $n_faults fault periods ($1 injected 500s, $2 429s, $3 409 conflicts of $5 writes that could conflict, $4 dropped watches), $n_storms conflict storms ($(stepdowns) leader step-downs), $n_git git restarts, $n_kills SIGKILLs"
stats
exit 0
