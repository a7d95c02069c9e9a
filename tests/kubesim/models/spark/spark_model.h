/*
 * kubesim Spark model: driver pods that keelson labels as Spark drivers
 * (README.md: labels sparkoperator.k8s.io/app-name, spark-role=driver,
 * keelson.dev/spark-spec-hash, ...) run for a configurable simulated time
 * (the kubelet's run-ms) and end Succeeded or Failed (exit-code, or the
 * model's "fail the first N attempts" knob). A Running driver gets its
 * executor pods, owned by it and so garbage-collected with it; executors
 * are deleted when the driver finishes, as Spark does. Breaking the
 * submission rules of operator-safety-rules.md section 3 (two drivers of an
 * application at once, a resubmission before the previous attempt is gone,
 * a resubmission without a spec change or a restart-policy reason, more
 * attempts than the policy allows, a retry before its linear delay was
 * due) goes to kubesim's invariant log (sim.h, source "spark").
 */
#ifndef KUBESIM_MODELS_SPARK_MODEL_H
#define KUBESIM_MODELS_SPARK_MODEL_H

#include "tests/kubesim/store.h"

/* Labels keelson puts on driver pods (and the model copies to executors). */
#define KS_SPARK_LABEL_APP "sparkoperator.k8s.io/app-name"
#define KS_SPARK_LABEL_SUBMISSION "sparkoperator.k8s.io/submission-id"
#define KS_SPARK_LABEL_ROLE "spark-role"
#define KS_SPARK_LABEL_SELECTOR "spark-app-selector"
#define KS_SPARK_LABEL_SPEC_HASH "keelson.dev/spark-spec-hash"
#define KS_SPARK_LABEL_ATTEMPT "keelson.dev/spark-attempt"
#define KS_SPARK_LABEL_EXEC_ID "spark-exec-id"

/* Annotations keelson puts on driver pods. */
#define KS_SPARK_ANN_RESTART_POLICY "keelson.dev/spark-restart-policy"
#define KS_SPARK_ANN_ON_FAILURE_RETRIES "keelson.dev/spark-on-failure-retries"
#define KS_SPARK_ANN_RETRY_INTERVAL "keelson.dev/spark-on-failure-retry-interval"
#define KS_SPARK_ANN_EXECUTORS "keelson.dev/spark-executor-instances"

/* Model knobs (from the SparkApplication's spec.driver.annotations). */
#define KS_SPARK_ANN_FAIL_FIRST "kubesim.keelson.dev/spark-fail-first-attempts"
#define KS_SPARK_ANN_FAIL_EXIT_CODE "kubesim.keelson.dev/spark-fail-exit-code"

struct ks_spark_model;

/* Start the model on `store` (which must outlive it): a ks_controller
 * watching pods. Start it after ks_controllers_start() and stop it before
 * ks_controllers_stop(). Returns 0 or a keelson error code. */
int ks_spark_model_start(struct ks_store *store, struct ks_spark_model **out);

/* Stop the controller and free. Accepts NULL. */
void ks_spark_model_stop(struct ks_spark_model *model);

/* Wait until the model has processed the store's events up to its current
 * resourceVersion (tests). KEELSON_ETIMEOUT after `timeout_ms`. */
int ks_spark_model_sync(struct ks_spark_model *model, int timeout_ms);

/* Drivers the model saw for application `app` in `namespace` since its
 * spec hash last changed (the model's own attempt count), or -1 when it
 * knows no such application. */
int ks_spark_model_attempts(struct ks_spark_model *model, const char *namespace,
	const char *app);

#endif
