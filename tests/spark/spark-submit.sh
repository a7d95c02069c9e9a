#!/bin/sh
# The spark plugin in native mode submits a SparkApplication committed to
# Git: keelson run, killed with SIGKILL at random moments, applies the
# application, creates exactly one driver pod from it (labels, owner, the
# spec as arguments), follows it to COMPLETED and records that on the
# SparkApplication; kubesim's invariant log stays empty. Then keelson is
# idle: no Kubernetes request while nothing changes. Removed from Git, the
# application is pruned and the garbage collector removes its driver (the
# driver itself is not in the inventory). The CRD has the status
# subresource, as spark-operator's does: the state reaches .status through
# the plugin's separate patch of /status.
name=spark-submit
SPARK_STATUS_SUBRESOURCE=1
. "${top_srcdir:-.}/tests/spark/spark-lib.sh"

spark_start 10
step="submit, run to COMPLETED under SIGKILLs"
spark_app 3.5.1 '{type: Never}' 40000
spark_commit "etl: submit"
spark_roll '[ "$(spark_state)" = COMPLETED ]' 100 3

step="exactly one driver, made from the application"
spark_stop_watch
spark_check_history
[ "$(wc -l <"$work/drivers.txt")" -eq 1 ] || fail "expected one driver, got: $(cat "$work/drivers.txt")"
read -r uid attempt hash created <"$work/drivers.txt"
[ "$attempt" = 1 ] || fail "driver attempt label '$attempt'"
[ "$hash" = "$(spark_annotation keelson.dev/spark-spec-hash)" ] || fail "driver spec hash $hash differs from the record"
[ "$(spark_annotation keelson.dev/spark-execution-attempts)" = 1 ] || fail "execution attempts recorded: $(spark_annotation keelson.dev/spark-execution-attempts)"
owner=$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].uid}')
app_uid=$(k get sparkapplication etl -n jobs -o jsonpath='{.metadata.uid}')
[ "$owner" = "SparkApplication/etl/$app_uid" ] || fail "driver owner '$owner'"
args=$(k get pod etl-driver -n jobs -o jsonpath='{.spec.containers[0].args}')
case $args in *'"--class","com.acme.Etl","local:///opt/etl.jar","--day","2026-11-26"'*) ;; *) fail "driver args: $args" ;; esac
case $args in *'spark.sql.shuffle.partitions=20'*) ;; *) fail "sparkConf not passed: $args" ;; esac
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.status.phase}')" = Succeeded ] || fail "driver did not succeed"
status=$(k get sparkapplication etl -n jobs -o jsonpath='{.status.applicationState.state}/{.status.executionAttempts}')
[ "$status" = COMPLETED/1 ] || fail "SparkApplication status '$status'"
# The driver is not in the inventory (it would be pruned): only the repository's objects are.
inv=$(k get configmap keelson-inventory-sim-jobs -n keelson-system -o jsonpath='{.data.objects}')
case $inv in *etl-driver*) fail "the driver pod is in the inventory: $inv" ;; esac
case $inv in *SparkApplication*) ;; *) fail "the SparkApplication is not in the inventory: $inv" ;; esac
spark_check_violations

step="idle: no request, nothing submitted again"
scenario_daemon_start
scenario_wait 20 "the daemon to converge" grep -q "reconcile cycle done.*converged=true" "$work/daemon.log"
scenario_assert_idle
scenario_daemon_stop -9
[ "$(k get pod etl-driver -n jobs -o jsonpath='{.metadata.uid}')" = "$uid" ] || fail "the driver was replaced"
spark_check_violations

step="removed from Git: the application is pruned, its driver garbage-collected"
git_in rm -q "$app"
git_in commit -q -m "etl: removed"
scenario_daemon_start
etl_gone() { ! k get sparkapplication etl -n jobs >/dev/null 2>&1 && ! k get pod etl-driver -n jobs >/dev/null 2>&1; }
scenario_wait 30 "the SparkApplication and its driver to go" etl_gone
scenario_daemon_stop -9
spark_check_violations
echo "PASS"
exit 0
