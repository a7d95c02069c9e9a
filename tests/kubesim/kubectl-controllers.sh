#!/bin/sh
# The real kubectl against kubesim's controllers: pods become Ready,
# `rollout status` prints what it prints against a real API server (M16),
# `rollout restart` replaces pods highest ordinal first, `rollout undo` goes
# back through the ControllerRevisions, `scale` works both
# ways in OrderedReady order, `delete --cascade=foreground` removes the pods
# first, deleting a namespace removes what is in it, and Deployments roll out.
# Skips (77) when kubectl or the kubesim binary is missing.
set -u

top_builddir=${top_builddir:-.}
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
	echo "SKIP: kubesim binary not built yet (looked in $top_builddir/tests/kubesim and $top_builddir)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-controllers.XXXXXX")
. "${top_srcdir:-.}/tests/lib/kubesim.sh"
cleanup() {
	kubesim_stop
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# kubesim_start gives a fresh discovery cache every run (M3): stale
# discovery from an older kubesim build would otherwise be reused for 6 hours.

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

kubesim_start "$tmp" --clock-factor 1 || die "kubesim did not start"

cat >"$tmp/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 3
  serviceName: web
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        kubesim.keelson.dev/ready-delay-ms: "300"
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: nginx:1.27
EOF

# "name=revision" for every pod of app=web, sorted by name.
revisions() {
	k get pods -l app=web \
		-o 'jsonpath={range .items[*]}{.metadata.name}={.metadata.labels.controller-revision-hash}{"\n"}{end}' |
		sort
}

# True when a lower ordinal carries revision $1 while a higher one does not:
# a rolling update must go from the highest ordinal down.
out_of_order() {
	awk -F= -v new="$1" '
		{ split($1, p, "-"); ord = p[length(p)] + 0; rev[ord] = $2; if (ord > max) max = ord }
		END {
			for (i = 0; i <= max; i++)
				for (j = i + 1; j <= max; j++)
					if ((i in rev) && (j in rev) && rev[i] == new && rev[j] != new)
						bad = 1
			exit bad ? 0 : 1
		}'
}

sts_field() {
	k get statefulset web -o "jsonpath={$1}"
}

# --- create, wait, rollout status ------------------------------------------
k create --validate=false -f "$tmp/web.yaml" >"$tmp/out" 2>&1 || die "create: $(cat "$tmp/out")"
k wait --for=condition=Ready pod/web-0 --timeout=60s >"$tmp/out" 2>&1 ||
	fail "wait pod/web-0 Ready: $(cat "$tmp/out")"
grep -q "pod/web-0 condition met" "$tmp/out" || fail "wait output: $(cat "$tmp/out")"
k rollout status statefulset/web --timeout=60s >"$tmp/out" 2>&1 ||
	fail "rollout status: $(cat "$tmp/out")"
# partition 0 is defaulted when the strategy type was (M6), so kubectl takes
# the partitioned branch of its status viewer.
tail -n 1 "$tmp/out" | grep -qx "partitioned roll out complete: 3 new pods have been updated..." ||
	fail "rollout status output: $(cat "$tmp/out")"
[ "$(sts_field .status.readyReplicas)" = 3 ] || fail "readyReplicas $(sts_field .status.readyReplicas)"
[ "$(k get pod web-2 -o 'jsonpath={.metadata.labels.statefulset\.kubernetes\.io/pod-name}')" = web-2 ] ||
	fail "pod-name label on web-2"
[ "$(k get pod web-1 -o 'jsonpath={.spec.hostname}.{.spec.subdomain}')" = web-1.web ] ||
	fail "hostname/subdomain of web-1"
[ "$(k get pod web-1 -o 'jsonpath={.spec.nodeName}')" = kubesim-node-1 ] || fail "nodeName of web-1"
[ "$(k get pod web-1 -o 'jsonpath={.status.phase}')" = Running ] || fail "phase of web-1"

# --- rollout restart: highest ordinal first ---------------------------------
old_rev=$(sts_field .status.updateRevision)
k rollout restart statefulset/web >"$tmp/out" 2>&1 || fail "rollout restart: $(cat "$tmp/out")"
grep -q "statefulset.apps/web restarted" "$tmp/out" || fail "restart output: $(cat "$tmp/out")"
new_rev=$old_rev
i=0
while [ "$new_rev" = "$old_rev" ] && [ "$i" -lt 100 ]; do
	new_rev=$(sts_field .status.updateRevision)
	i=$((i + 1))
	[ "$new_rev" = "$old_rev" ] && sleep 0.1
done
[ "$new_rev" != "$old_rev" ] || fail "updateRevision did not change after restart"
i=0
while [ "$i" -lt 300 ]; do
	revisions >"$tmp/revs"
	if out_of_order "$new_rev" <"$tmp/revs"; then
		fail "rolling update out of order: $(tr '\n' ' ' <"$tmp/revs")"
		break
	fi
	[ "$(grep -c "=$new_rev\$" "$tmp/revs")" = 3 ] && break
	i=$((i + 1))
	sleep 0.05
done
k rollout status statefulset/web --timeout=60s >"$tmp/out" 2>&1 ||
	fail "rollout status after restart: $(cat "$tmp/out")"
grep -q "partitioned roll out complete: 3 new pods have been updated..." "$tmp/out" ||
	fail "rollout status after restart: $(cat "$tmp/out")"
[ "$(sts_field .status.currentRevision)" = "$new_rev" ] ||
	fail "currentRevision $(sts_field .status.currentRevision), want $new_rev"
[ "$(revisions | grep -c "=$new_rev\$")" = 3 ] || fail "pods not all at $new_rev: $(revisions)"

# --- rollout undo: the previous ControllerRevision becomes the newest ---------
k rollout undo statefulset/web >"$tmp/out" 2>&1 || fail "rollout undo: $(cat "$tmp/out")"
grep -q "statefulset.apps/web rolled back" "$tmp/out" || fail "undo output: $(cat "$tmp/out")"
k rollout status statefulset/web --timeout=60s >"$tmp/out" 2>&1 ||
	fail "rollout status after undo: $(cat "$tmp/out")"
[ "$(sts_field .status.updateRevision)" = "$old_rev" ] ||
	fail "updateRevision after undo $(sts_field .status.updateRevision), want $old_rev"
[ "$(k get controllerrevision "$old_rev" -o 'jsonpath={.revision}')" = 3 ] ||
	fail "revision number of $old_rev after undo: $(k get controllerrevision "$old_rev" -o 'jsonpath={.revision}')"
[ "$(revisions | grep -c "=$old_rev\$")" = 3 ] || fail "pods not back at $old_rev: $(revisions)"

# --- scale up and down (OrderedReady) ---------------------------------------
k scale statefulset web --replicas=5 >"$tmp/out" 2>&1 || fail "scale up: $(cat "$tmp/out")"
grep -q "statefulset.apps/web scaled" "$tmp/out" || fail "scale output: $(cat "$tmp/out")"
k rollout status statefulset/web --timeout=60s >"$tmp/out" 2>&1 ||
	fail "rollout status after scale up: $(cat "$tmp/out")"
grep -q "partitioned roll out complete: 5 new pods have been updated..." "$tmp/out" ||
	fail "rollout status after scale up: $(cat "$tmp/out")"
k scale statefulset web --replicas=2 >"$tmp/out" 2>&1 || fail "scale down: $(cat "$tmp/out")"
i=0
while [ "$i" -lt 300 ]; do
	pods=$(k get pods -l app=web -o 'jsonpath={range .items[*]}{.metadata.name} {end}')
	case " $pods " in
	*" web-4 "*) case " $pods " in *" web-3 "*) ;; *) fail "web-3 went before web-4: $pods"; break ;; esac ;;
	esac
	case " $pods " in
	*" web-3 "*) case " $pods " in *" web-2 "*) ;; *) fail "web-2 went before web-3: $pods"; break ;; esac ;;
	esac
	[ "$pods" = "web-0 web-1 " ] && break
	i=$((i + 1))
	sleep 0.05
done
[ "$pods" = "web-0 web-1 " ] || fail "after scale to 2: pods '$pods'"
[ "$(sts_field .status.replicas)" = 2 ] || fail "status.replicas $(sts_field .status.replicas) after scale down"

# --- foreground cascading delete ---------------------------------------------
k delete statefulset web --cascade=foreground --timeout=60s >"$tmp/out" 2>&1 ||
	fail "delete --cascade=foreground: $(cat "$tmp/out")"
grep -q 'statefulset.apps "web" deleted' "$tmp/out" || fail "delete output: $(cat "$tmp/out")"
[ -z "$(k get pods -l app=web -o name)" ] || fail "pods left after foreground delete: $(k get pods -o name)"
[ -z "$(k get controllerrevisions -o name)" ] || fail "revisions left: $(k get controllerrevisions -o name)"
k get statefulset web >"$tmp/out" 2>&1 && fail "statefulset still there after delete"

# --- namespace deletion -------------------------------------------------------
cat >"$tmp/ns.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: scratch
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: scratch
data:
  a: b
EOF
k create --validate=false -f "$tmp/ns.yaml" >"$tmp/out" 2>&1 || fail "create namespace: $(cat "$tmp/out")"
k -n scratch create --validate=false -f "$tmp/web.yaml" >"$tmp/out" 2>&1 ||
	fail "create in namespace: $(cat "$tmp/out")"
k -n scratch rollout status statefulset/web --timeout=60s >/dev/null 2>&1 ||
	fail "rollout status in scratch"
k delete namespace scratch --timeout=60s >"$tmp/out" 2>&1 || fail "delete namespace: $(cat "$tmp/out")"
k get namespace scratch >"$tmp/out" 2>&1 && fail "namespace scratch still there"
grep -q 'namespaces "scratch" not found' "$tmp/out" || fail "get deleted namespace: $(cat "$tmp/out")"
[ -z "$(k get pods,configmaps,statefulsets -n scratch -o name 2>/dev/null)" ] ||
	fail "objects left in scratch"

# --- Deployment rollout -------------------------------------------------------
cat >"$tmp/api.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: api
        image: nginx:1.27
EOF
k create --validate=false -f "$tmp/api.yaml" >"$tmp/out" 2>&1 || fail "create deployment: $(cat "$tmp/out")"
k rollout status deployment/api --timeout=60s >"$tmp/out" 2>&1 ||
	fail "deployment rollout status: $(cat "$tmp/out")"
tail -n 1 "$tmp/out" | grep -qx 'deployment "api" successfully rolled out' ||
	fail "deployment rollout status output: $(cat "$tmp/out")"
k rollout restart deployment/api >/dev/null 2>&1 || fail "deployment rollout restart"
k rollout status deployment/api --timeout=60s >"$tmp/out" 2>&1 ||
	fail "deployment rollout status after restart: $(cat "$tmp/out")"
[ "$(k get replicasets -l app=api -o name | wc -l)" -eq 2 ] ||
	fail "replicasets after restart: $(k get replicasets -o name)"
[ "$(k get deployment api -o 'jsonpath={.status.updatedReplicas}/{.status.availableReplicas}')" = 2/2 ] ||
	fail "deployment status after restart"

if [ "$failures" -gt 0 ]; then
	echo "--- kubesim stderr:"
	tail -n 30 "$tmp/kubesim.err"
	exit 1
fi
echo "PASS: kubectl against kubesim controllers"
exit 0
