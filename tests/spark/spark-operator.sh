#!/bin/sh
# The spark plugin in operator mode, against kubesim's simulated
# spark-operator: keelson run, killed with SIGKILL at random moments,
# applies the SparkApplication and waits on its .status while spark-operator
# submits and runs it, until COMPLETED; a spec change is applied and
# spark-operator kills and resubmits; keelson itself never creates, patches
# or deletes a pod, and never two drivers exist at once.
name=spark-operator
. "${top_srcdir:-.}/tests/spark/spark-lib.sh"

spark_start 10
sed -i 's/mode: native/mode: operator/' "$repo/clusters/sim/jobs/system.yaml"
SPARK_OPERATOR=1
step="operator mode: applied, followed to COMPLETED under SIGKILLs"
spark_app 3.5.1 '{type: Never}' 40000
spark_commit "etl: submit through spark-operator"
spark_roll '[ "$(spark_status)" = COMPLETED ]' 100 3
grep -q "wait for spark-operator: jobs/etl is" "$work/daemon.log" || fail "keelson did not follow the status"
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.labels.sparkoperator\.k8s\.io/launched-by-spark-operator}')" = true ] ||
	fail "the driver was not made by spark-operator"

step="spec change: spark-operator kills and resubmits, keelson follows"
spark_app 3.5.2 '{type: Never}' 40000
spark_commit "etl: spark 3.5.2"
spark_roll '[ "$(spark_status)" = COMPLETED ] && [ "$(k get pod etl-driver -n jobs -o jsonpath={.spec.containers[0].image})" = apache/spark:3.5.2 ]' 100 2
spark_stop_watch
spark_check_history
[ "$(wc -l <"$work/drivers.txt")" -eq 2 ] || fail "expected two drivers, got: $(cat "$work/drivers.txt")"
grep "plugin step ran" "$work/daemon.log" | grep -v "apply SparkApplication\|apply Namespace" &&
	fail "keelson ran steps other than applying the repository's objects"
[ -z "$(spark_annotation keelson.dev/spark-state)" ] || fail "keelson wrote a native-mode record in operator mode"
spark_check_violations
echo "PASS"
exit 0
