#!/bin/sh
# Scenario 5: `keelson plan` for an image bump on 5 brokers prints the
# ordered steps with their gates: offline (--base/--head preview: highest
# ordinal first, the controller decided at run time) and against the live
# kubesim cluster (the active controller, read from the metrics, last and
# named in the gate). Nothing is changed by either.
. "${top_srcdir:-.}/tests/kafka/kafka-lib.sh"

kafka_setup kafka-plan
kafka_deploy
sed -i 's|apache/kafka:3.7.0|apache/kafka:3.7.1|' "$sts"
git_in commit -q -a -m "kafka 3.7.1"

step="preview: keelson plan --base --head"
"$KEELSON" plan --repo "$repo" --base HEAD~1 --head HEAD --plugin-dir "$PLUGINS" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "plan exited $rc, expected 1 (steps remain): $(cat "$work/err")"
gate='all 5 brokers Ready, URP 0, UnderMinIsr 0, offline 0, 1 active controller'
# The numbered steps, one line each: "N. [kind] description".
grep -E '^ +[0-9]+\. \[' "$work/out" | sed 's/^ *//' >"$work/steps"
cat >"$work/expected" <<'EOF'
1. [apply] apply StatefulSet kafka/kafka (pod template changed)
2. [delete-pod] restart kafka-4: delete pod kafka/kafka-4 (out of date; the pod's grace period)
3. [wait] wait until kafka-4 is back (new pod Ready, caught up: URP 0) before restarting kafka-3, within 60s
4. [delete-pod] restart kafka-3: delete pod kafka/kafka-3 (out of date; the pod's grace period)
5. [wait] wait until kafka-3 is back (new pod Ready, caught up: URP 0) before restarting kafka-2, within 60s
6. [delete-pod] restart kafka-2: delete pod kafka/kafka-2 (out of date; the pod's grace period)
7. [wait] wait until kafka-2 is back (new pod Ready, caught up: URP 0) before restarting kafka-1, within 60s
8. [delete-pod] restart kafka-1: delete pod kafka/kafka-1 (out of date; the pod's grace period)
9. [wait] wait until kafka-1 is back (new pod Ready, caught up: URP 0) before restarting kafka-0, within 60s
10. [delete-pod] restart kafka-0: delete pod kafka/kafka-0 (out of date; the pod's grace period)
11. [wait] wait until kafka-0 is back (new pod Ready, caught up: URP 0), within 60s
EOF
diff -u "$work/expected" "$work/steps" >"$work/steps.diff" || { cat "$work/steps.diff"; fail "preview steps differ"; }
grep -q "gate: $gate, Cruise Control idle, no partition of broker 4 at min ISR; active controller last, decided at run time\$" \
	"$work/out" || { cat "$work/out"; fail "no gate line for restarting kafka-4"; }
[ "$(grep -c "gate: $gate" "$work/out")" -eq 10 ] || fail "expected a gate on each of the 10 restart steps"

step="live: keelson plan against kubesim"
controller=$(active_controller)
[ -n "$controller" ] || fail "no active controller"
ordinal=${controller#kafka-}
before=$(k get pods -n kafka -o jsonpath='{.items[*].metadata.uid}')
"$KEELSON" plan --repo "$repo" --plugin-dir "$PLUGINS" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 1 ] || fail "live plan exited $rc, expected 1: $(cat "$work/err")"
grep -E '^ +[0-9]+\. \[' "$work/out" | sed 's/^ *//' >"$work/steps"
head -n 1 "$work/steps" | grep -q '^1\. \[apply\] apply StatefulSet kafka/kafka (pod template changed' ||
	fail "the first step is not the apply: $(head -n 1 "$work/steps")"
order=$(sed -n 's/^[0-9]*\. \[delete-pod\] restart \(kafka-[0-4]\):.*/\1/p' "$work/steps" | tr '\n' ' ')
expected_order=$(printf 'kafka-4\nkafka-3\nkafka-2\nkafka-1\nkafka-0\n' | grep -vx "$controller" | tr '\n' ' ')"$controller "
[ "$order" = "$expected_order" ] || fail "live plan restarts $order, expected $expected_order"
grep -q "restart $controller: delete pod kafka/$controller (out of date, active controller last;" "$work/steps" ||
	fail "the controller's restart does not say why it is last"
grep -q "gate: $gate (broker $ordinal), Cruise Control idle, no partition of broker [0-4] at min ISR\$" "$work/out" ||
	{ cat "$work/out"; fail "the live gate does not name the active controller broker $ordinal"; }
after=$(k get pods -n kafka -o jsonpath='{.items[*].metadata.uid}')
[ "$before" = "$after" ] || fail "keelson plan changed pods"
img=$(k get statefulset kafka -n kafka -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$img" = apache/kafka:3.7.0 ] || fail "keelson plan applied the StatefulSet ($img)"
echo "PASS"
exit 0
