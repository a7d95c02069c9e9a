/*
 * The spark-operator rules the Spark plugin follows, as pure functions
 * (libc only) so they can be tested without a host: application states,
 * the driver-pod-to-state mapping, ShouldRetry and TimeUntilNextRetryDue
 * of kubeflow/spark-operator (operator-safety-rules.md section 3.3).
 */
#ifndef KEELSON_PLUGINS_SPARK_RULES_H
#define KEELSON_PLUGINS_SPARK_RULES_H

#include <stddef.h>

/* spark-operator's ApplicationStateType; NEW is the empty string. */
enum spark_state {
	SPARK_NEW = 0,
	SPARK_SUBMITTED,
	SPARK_RUNNING,
	SPARK_SUCCEEDING,
	SPARK_COMPLETED,
	SPARK_FAILING,
	SPARK_FAILED,
	SPARK_SUBMISSION_FAILED,
	SPARK_PENDING_RERUN,
	SPARK_INVALIDATING,
	SPARK_UNKNOWN,
};

/* "SUBMITTED", ...; "" for NEW. */
const char *spark_state_name(enum spark_state state);
/* The state named `name` (NULL or "" is NEW); SPARK_UNKNOWN for anything else. */
enum spark_state spark_state_parse(const char *name);
/* COMPLETED or FAILED. */
int spark_state_terminal(enum spark_state state);

enum spark_restart_type { SPARK_RESTART_NEVER = 0, SPARK_RESTART_ON_FAILURE, SPARK_RESTART_ALWAYS };

/* spec.restartPolicy with spark-operator's defaults applied. */
struct spark_restart_policy {
	enum spark_restart_type type;
	long long on_failure_retries;            /* -1: not set (never retried) */
	long long on_failure_retry_interval_s;   /* 5 when type != Never and not set */
	long long on_submission_failure_retries; /* -1: not set */
	long long on_submission_failure_retry_interval_s;
};

/* "Never", "OnFailure", "Always" (NULL or "" is Never); -1 for others. */
int spark_restart_type_parse(const char *name, enum spark_restart_type *out);
const char *spark_restart_type_name(enum spark_restart_type type);

/* Counters spark-operator keeps in the status. */
struct spark_attempts {
	long long submission_attempts;
	long long execution_attempts;
	long long last_submission_ms; /* 0: none */
};

/* util.ShouldRetry: from SUCCEEDING (Always), FAILING (Always, or OnFailure
 * while execution_attempts <= onFailureRetries) or SUBMISSION_FAILED
 * (Always, or OnFailure while submission_attempts <=
 * onSubmissionFailureRetries). 0 for every other state. */
int spark_should_retry(enum spark_state state, const struct spark_restart_policy *policy,
		       const struct spark_attempts *attempts);

/* util.TimeUntilNextRetryDue, in ms: interval x submission_attempts -
 * (now - last_submission), the interval being onFailureRetryInterval in
 * FAILING and onSubmissionFailureRetryInterval in SUBMISSION_FAILED (a
 * linear back-off). <= 0 means due. Returns -1 (and *out untouched) when
 * spark-operator would refuse to compute it: another state, no interval,
 * no last attempt time or no attempt yet. */
int spark_retry_due_in_ms(long long *out, enum spark_state state, const struct spark_restart_policy *policy,
			  const struct spark_attempts *attempts, long long now_ms);

/* What a driver pod says (spark-operator's DriverStateToApplicationState
 * and GetDriverState). */
struct spark_driver_observation {
	const char *phase;       /* status.phase, or NULL */
	int terminating;         /* metadata.deletionTimestamp set */
	int container_terminated;/* the driver container has terminated */
	long long exit_code;     /* its exit code when terminated */
};

/* Pending -> SUBMITTED; Running -> RUNNING (driver container terminated:
 * exit 0 -> SUCCEEDING, else FAILING); Succeeded -> SUCCEEDING; Failed ->
 * FAILING (exit 0 -> SUCCEEDING); a pod deleted before it ended ->
 * FAILING; anything else UNKNOWN. */
enum spark_state spark_state_from_driver(const struct spark_driver_observation *driver);

/* Kubernetes/Spark memory ("2g", "512m", "1024Mi", "1Gi", "2048k",
 * plain bytes) in MiB, rounded up; -1 when malformed or absurd. */
long long spark_memory_mib(const char *text);

/* spark-operator's driver memory overhead when memoryOverhead is not set:
 * max(384 MiB, factor x memory), factor 0.1 for JVM applications and 0.4
 * for Python and R. */
long long spark_memory_overhead_mib(long long memory_mib, const char *type);

#endif
