/*
 * The Spark model on a real store with every kubesim controller (kubelet,
 * garbage collector, ...) and the clock at 100x: drivers run and end,
 * executors follow their driver, the first N attempts fail, and each
 * violation is recorded exactly once in its scenario and never in the
 * legal ones.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/kubesim/models/spark/spark_model.h"
#include "tests/kubesim/sim.h"
#include "tests/kubesim/types.h"
#include "tests/unit/check_main.h"

#define NS "default"

static struct ks_spark_model *model;

static void setup(void)
{
	th_setup();
	ks_sim_reset();
	int rc = ks_spark_model_start(th_store, &model);
	ck_assert_msg(rc == 0, "model: %s", keelson_error_last()->message);
}

static void teardown(void)
{
	ks_spark_model_stop(model);
	model = NULL;
	th_teardown();
}

static void sync_all(void)
{
	ck_assert_int_eq(ks_controllers_sync(th_controllers, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(ks_spark_model_sync(model, TH_TIMEOUT_MS), 0);
}

struct driver_opts {
	const char *name;      /* default "<app>-driver" */
	const char *app;
	const char *hash;
	int attempt;
	const char *policy;    /* NULL: no annotation (Never) */
	int retries;
	int executors;
	long run_ms;           /* 0: runs until deleted */
	int fail_first;        /* 0: no knob */
	const char *interval;  /* onFailureRetryInterval; NULL: absent (5 s) */
	const char *owner;     /* a ConfigMap standing in for the SparkApplication; NULL: none */
};

/* A driver pod as keelson labels it (README.md). Failing drivers get a
 * run-ms of 5 simulated seconds, so the model's exit-code patch lands long
 * before the kubelet ends them even on a loaded machine. */
static void create_driver(const struct driver_opts *o)
{
	char name[128], ann[1024], json[4096], refs[512] = "";
	snprintf(name, sizeof(name), "%s", o->name ? o->name : "");
	if (!o->name)
		snprintf(name, sizeof(name), "%s-driver", o->app);
	int n = snprintf(ann, sizeof(ann), "\"%s\":\"%d\",\"%s\":\"%d\"",
		KS_SPARK_ANN_EXECUTORS, o->executors, KS_SPARK_ANN_ON_FAILURE_RETRIES, o->retries);
	if (o->policy)
		n += snprintf(ann + n, sizeof(ann) - (size_t)n, ",\"%s\":\"%s\"",
			KS_SPARK_ANN_RESTART_POLICY, o->policy);
	if (o->run_ms > 0)
		n += snprintf(ann + n, sizeof(ann) - (size_t)n, ",\"%s\":\"%ld\"", KS_ANN_RUN_MS,
			o->run_ms);
	if (o->interval)
		n += snprintf(ann + n, sizeof(ann) - (size_t)n, ",\"%s\":\"%s\"",
			KS_SPARK_ANN_RETRY_INTERVAL, o->interval);
	if (o->fail_first > 0)
		snprintf(ann + n, sizeof(ann) - (size_t)n, ",\"%s\":\"%d\"", KS_SPARK_ANN_FAIL_FIRST,
			o->fail_first);
	if (o->owner) {
		cJSON *cm = th_get("", "configmaps", NS, o->owner);
		ck_assert_ptr_nonnull(cm);
		snprintf(refs, sizeof(refs), "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
			"\"name\":\"%s\",\"uid\":\"%s\",\"controller\":true}],", o->owner,
			th_str(cm, "metadata", "uid", NULL));
		cJSON_Delete(cm);
	}
	snprintf(json, sizeof(json),
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{%s\"name\":\"%s\","
		"\"labels\":{\"%s\":\"%s\",\"%s\":\"driver\",\"%s\":\"%s\",\"%s\":\"%d\","
		"\"%s\":\"sub-%s-%d\",\"%s\":\"spark-%s%d\"},"
		"\"annotations\":{%s}},"
		"\"spec\":{\"restartPolicy\":\"Never\",\"terminationGracePeriodSeconds\":30,"
		"\"containers\":[{\"name\":\"spark-kubernetes-driver\","
		"\"image\":\"apache/spark:3.5.1\"}]}}",
		refs, name, KS_SPARK_LABEL_APP, o->app, KS_SPARK_LABEL_ROLE, KS_SPARK_LABEL_SPEC_HASH,
		o->hash, KS_SPARK_LABEL_ATTEMPT, o->attempt, KS_SPARK_LABEL_SUBMISSION, o->hash,
		o->attempt, KS_SPARK_LABEL_SELECTOR, o->hash, o->attempt, ann);
	cJSON_Delete(th_create("", "pods", NS, json));
}

static const char *phase_of(const char *name, char *buf, size_t size)
{
	cJSON *pod = th_get("", "pods", NS, name);
	const char *p = pod ? th_str(pod, "status", "phase", NULL) : NULL;
	snprintf(buf, size, "%s", p ? p : "");
	cJSON_Delete(pod);
	return buf;
}

static bool phase_is(const char *name, const char *phase)
{
	char buf[32];
	return !strcmp(phase_of(name, buf, sizeof(buf)), phase);
}

/* Executor pods of `app` (any state). */
static int executors_of(const char *app)
{
	cJSON *list = ks_ctl_list(th_store, th_type("", "pods"), NS, NULL, NULL);
	int n = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, list) {
		const char *role = ks_ctl_label(p, KS_SPARK_LABEL_ROLE);
		const char *a = ks_ctl_label(p, KS_SPARK_LABEL_APP);
		n += role && a && !strcmp(role, "executor") && !strcmp(a, app);
	}
	cJSON_Delete(list);
	return n;
}

static void delete_pod(const char *name, long grace)
{
	struct ks_delete_options opts = {
		.version = KS_DELETE_OPTIONS_VERSION,
		.has_grace_period = grace >= 0,
		.grace_period_seconds = grace,
	};
	int rc = ks_store_delete(th_store, th_type("", "pods"), NS, name, &opts, NULL, NULL);
	ck_assert_msg(rc == 0, "delete %s: %s", name, keelson_error_last()->message);
}

/* Delete the driver and wait until it and its executors are gone (what
 * keelson must do before a resubmission). */
static void delete_attempt(const char *driver, const char *app)
{
	delete_pod(driver, -1);
	ck_assert_msg(TH_WAIT(!th_exists("", "pods", NS, driver) && executors_of(app) == 0,
		TH_TIMEOUT_MS), "%s and its executors not gone", driver);
	sync_all();
}

/* Violations from source "spark" whose message contains `needle`. */
static int violations_with(const char *needle)
{
	cJSON *all = ks_violations_json();
	int n = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, all) {
		const char *src = th_str(v, "source", NULL);
		const char *msg = th_str(v, "message", NULL);
		n += src && msg && !strcmp(src, "spark") && strstr(msg, needle);
	}
	cJSON_Delete(all);
	return n;
}

static char *violations_text(void)
{
	cJSON *all = ks_violations_json();
	char *text = cJSON_PrintUnformatted(all);
	cJSON_Delete(all);
	return text;
}

static void assert_no_violations(void)
{
	sync_all();
	char *text = violations_text();
	ck_assert_msg(ks_violations_count() == 0, "unexpected violations: %s", text);
	free(text);
}

static void assert_one_violation(const char *needle)
{
	sync_all();
	char *text = violations_text();
	ck_assert_msg(ks_violations_count() == 1 && violations_with(needle) == 1,
		"expected exactly one violation with \"%s\": %s", needle, text);
	free(text);
}

/* ---------------------------------------------------------------------------
 * Run and outcome
 * ------------------------------------------------------------------------- */

START_TEST(driver_runs_and_succeeds)
{
	struct driver_opts o = {.app = "etl", .hash = "h1", .attempt = 1,
		.policy = "OnFailure", .retries = 2, .executors = 3, .run_ms = 20000};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("etl-driver", "Running"), TH_TIMEOUT_MS));
	ck_assert(TH_WAIT(executors_of("etl") == 3, TH_TIMEOUT_MS));
	ck_assert(TH_WAIT(phase_is("etl-driver", "Succeeded"), TH_TIMEOUT_MS));
	/* Spark deletes its executors when the driver ends. */
	ck_assert(TH_WAIT(executors_of("etl") == 0, TH_TIMEOUT_MS));
	cJSON *pod = th_get("", "pods", NS, "etl-driver");
	const cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"),
		"containerStatuses"), 0);
	ck_assert_int_eq(th_num(cs, "state", "terminated", "exitCode", NULL), 0);
	cJSON_Delete(pod);
	sync_all();
	char *log = ks_pod_log_get(NS, "etl-driver", NULL, -1);
	ck_assert_msg(strstr(log, "submitted application etl (spec hash h1, attempt 1"), "%s", log);
	ck_assert_msg(strstr(log, "running, requesting 3 executors"), "%s", log);
	ck_assert_msg(strstr(log, "finished, exit code 0 (succeeded)"), "%s", log);
	free(log);
	ck_assert_int_eq(ks_spark_model_attempts(model, NS, "etl"), 1);
	ck_assert_int_eq(ks_spark_model_attempts(model, NS, "other"), -1);
	assert_no_violations();
}
END_TEST

START_TEST(executors_owned_and_collected_with_driver)
{
	struct driver_opts o = {.app = "stream", .hash = "s1", .attempt = 1,
		.policy = "Always", .executors = 2};
	create_driver(&o);
	ck_assert(TH_WAIT(executors_of("stream") == 2, TH_TIMEOUT_MS));
	cJSON *driver = th_get("", "pods", NS, "stream-driver");
	cJSON *e1 = th_get("", "pods", NS, "stream-exec-1");
	ck_assert_ptr_nonnull(driver);
	ck_assert_ptr_nonnull(e1);
	ck_assert(th_exists("", "pods", NS, "stream-exec-2"));
	const cJSON *ref = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e1,
		"metadata"), "ownerReferences"), 0);
	ck_assert_str_eq(th_str(ref, "kind", NULL), "Pod");
	ck_assert_str_eq(th_str(ref, "name", NULL), "stream-driver");
	ck_assert_str_eq(th_str(ref, "uid", NULL), ks_meta_string(driver, "uid"));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ref, "controller")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ref, "blockOwnerDeletion")));
	ck_assert_str_eq(ks_ctl_label(e1, KS_SPARK_LABEL_ROLE), "executor");
	ck_assert_str_eq(ks_ctl_label(e1, KS_SPARK_LABEL_APP), "stream");
	ck_assert_str_eq(ks_ctl_label(e1, KS_SPARK_LABEL_EXEC_ID), "1");
	ck_assert_str_eq(ks_ctl_label(e1, KS_SPARK_LABEL_SUBMISSION), "sub-s1-1");
	ck_assert_str_eq(ks_ctl_label(e1, KS_SPARK_LABEL_SELECTOR), "spark-s11");
	cJSON_Delete(driver);
	cJSON_Delete(e1);
	/* Still running long after: a driver without run-ms runs until killed. */
	ks_clock_sleep(20.0);
	ck_assert(phase_is("stream-driver", "Running"));
	/* Killed: the garbage collector takes the executors with it. */
	delete_pod("stream-driver", 0);
	ck_assert(TH_WAIT(executors_of("stream") == 0, TH_TIMEOUT_MS));
	ck_assert(!th_exists("", "pods", NS, "stream-driver"));
	assert_no_violations();
}
END_TEST

START_TEST(fail_first_attempts_within_on_failure_budget)
{
	struct driver_opts o = {.app = "flaky", .hash = "f1", .policy = "OnFailure",
		.retries = 2, .executors = 1, .run_ms = 5000, .fail_first = 2,
		.interval = "2"};
	for (int attempt = 1; attempt <= 3; attempt++) {
		o.attempt = attempt;
		create_driver(&o);
		const char *want = attempt <= 2 ? "Failed" : "Succeeded";
		char buf[32];
		ck_assert_msg(TH_WAIT(phase_is("flaky-driver", want), TH_TIMEOUT_MS),
			"attempt %d: phase %s, want %s", attempt,
			phase_of("flaky-driver", buf, sizeof(buf)), want);
		sync_all();
		char *log = ks_pod_log_get(NS, "flaky-driver", NULL, -1);
		ck_assert_msg(strstr(log, attempt <= 2 ? "exit code 1 (failed)" :
			"exit code 0 (succeeded)"), "attempt %d: %s", attempt, log);
		free(log);
		ck_assert_int_eq(ks_spark_model_attempts(model, NS, "flaky"), attempt);
		delete_attempt("flaky-driver", "flaky");
	}
	assert_no_violations();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Legal resubmissions
 * ------------------------------------------------------------------------- */

START_TEST(resubmission_after_spec_change)
{
	/* Never: a succeeded app resubmitted only because its spec changed,
	 * and a running one killed and resubmitted with the new spec. */
	struct driver_opts o = {.app = "report", .hash = "r1", .attempt = 1, .executors = 1,
		.run_ms = 500};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("report-driver", "Succeeded"), TH_TIMEOUT_MS));
	delete_attempt("report-driver", "report");
	o.hash = "r2";
	o.run_ms = 0;
	create_driver(&o);
	ck_assert(TH_WAIT(executors_of("report") == 1, TH_TIMEOUT_MS));
	delete_attempt("report-driver", "report");
	o.hash = "r3";
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("report-driver", "Running"), TH_TIMEOUT_MS));
	ck_assert_int_eq(ks_spark_model_attempts(model, NS, "report"), 1);
	assert_no_violations();
}
END_TEST

START_TEST(always_reruns)
{
	struct driver_opts o = {.app = "loop", .hash = "l1", .policy = "Always", .executors = 1,
		.run_ms = 500};
	for (int attempt = 1; attempt <= 3; attempt++) {
		o.attempt = attempt;
		create_driver(&o);
		ck_assert(TH_WAIT(phase_is("loop-driver", "Succeeded"), TH_TIMEOUT_MS));
		delete_attempt("loop-driver", "loop");
	}
	assert_no_violations();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Violations
 * ------------------------------------------------------------------------- */

START_TEST(violation_two_drivers)
{
	struct driver_opts o = {.app = "dup", .hash = "d1", .attempt = 1, .policy = "Always",
		.executors = 1};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("dup-driver", "Running"), TH_TIMEOUT_MS));
	o.name = "dup-driver-2";
	o.attempt = 2;
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("dup-driver-2", "Running"), TH_TIMEOUT_MS));
	assert_one_violation("two drivers at once");
	ck_assert_int_eq(violations_with("dup-driver-2 submitted while driver dup-driver"), 1);
}
END_TEST

START_TEST(violation_resubmitted_before_previous_gone)
{
	struct driver_opts o = {.app = "early", .hash = "e1", .attempt = 1, .executors = 2};
	create_driver(&o);
	ck_assert(TH_WAIT(executors_of("early") == 2, TH_TIMEOUT_MS));
	/* Killed with a long grace: still terminating when the new spec is
	 * submitted, however slow this machine is. */
	delete_pod("early-driver", 600);
	sync_all();
	o.name = "early-driver-b";
	o.hash = "e2";
	create_driver(&o);
	assert_one_violation("before the previous attempt was gone");
	ck_assert_int_eq(violations_with("driver pod early-driver, 2 executor pods"), 1);
}
END_TEST

START_TEST(violation_resubmission_without_reason)
{
	/* Never, succeeded, same spec submitted again. */
	struct driver_opts o = {.app = "once", .hash = "o1", .attempt = 1, .executors = 1,
		.run_ms = 500};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("once-driver", "Succeeded"), TH_TIMEOUT_MS));
	delete_attempt("once-driver", "once");
	o.attempt = 2;
	create_driver(&o);
	assert_one_violation("resubmitted with an unchanged spec (hash o1) after the previous "
		"attempt once-driver succeeded under restartPolicy Never");
}
END_TEST

START_TEST(readded_application_starts_afresh)
{
	/* Never, succeeded; the application is removed and added back with the
	 * same spec: its new driver is controlled by another object, a first
	 * submission, not a resubmission. The same owner again is one. */
	cJSON_Delete(th_create("", "configmaps", NS, "{\"metadata\":{\"name\":\"app-v1\"}}"));
	cJSON_Delete(th_create("", "configmaps", NS, "{\"metadata\":{\"name\":\"app-v2\"}}"));
	struct driver_opts o = {.app = "again", .hash = "a1", .attempt = 1, .executors = 1,
		.run_ms = 500, .owner = "app-v1"};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("again-driver", "Succeeded"), TH_TIMEOUT_MS));
	delete_attempt("again-driver", "again");
	o.owner = "app-v2";
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("again-driver", "Succeeded"), TH_TIMEOUT_MS));
	assert_no_violations();
	ck_assert_int_eq(ks_spark_model_attempts(model, NS, "again"), 1);
	delete_attempt("again-driver", "again");
	create_driver(&o);
	assert_one_violation("resubmitted with an unchanged spec (hash a1) after the previous "
		"attempt again-driver succeeded under restartPolicy Never");
}
END_TEST

#define SPARK_GROUP "sparkoperator.k8s.io"

static const char *op_state(const char *name, char *buf, size_t size)
{
	cJSON *app = th_get(SPARK_GROUP, "sparkapplications", NS, name);
	const char *st = app ? th_str(app, "status", "applicationState", "state", NULL) : NULL;
	snprintf(buf, size, "%s", st ? st : "");
	cJSON_Delete(app);
	return buf;
}

static bool op_state_is(const char *name, const char *state)
{
	char buf[64];
	return !strcmp(op_state(name, buf, sizeof(buf)), state);
}

static char *driver_uid(const char *name, char *buf, size_t size)
{
	cJSON *pod = th_get("", "pods", NS, name);
	const char *uid = pod ? th_str(pod, "metadata", "uid", NULL) : NULL;
	snprintf(buf, size, "%s", uid ? uid : "");
	cJSON_Delete(pod);
	return buf;
}

START_TEST(simulated_operator_runs_and_resubmits)
{
	cJSON *crd = cJSON_Parse("{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
		"\"metadata\":{\"name\":\"sparkapplications.sparkoperator.k8s.io\"},\"spec\":{\"group\":\"" SPARK_GROUP "\","
		"\"scope\":\"Namespaced\",\"names\":{\"plural\":\"sparkapplications\",\"singular\":\"sparkapplication\","
		"\"kind\":\"SparkApplication\"},\"versions\":[{\"name\":\"v1beta2\",\"served\":true,\"storage\":true,"
		"\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
		"\"x-kubernetes-preserve-unknown-fields\":true}}}]}}");
	ck_assert_int_eq(ks_crd_register_types(th_store, crd), 0);
	cJSON_Delete(crd);
	/* Only applications that opt in are run. */
	cJSON_Delete(th_create(SPARK_GROUP, "sparkapplications", NS,
		"{\"apiVersion\":\"sparkoperator.k8s.io/v1beta2\",\"kind\":\"SparkApplication\","
		"\"metadata\":{\"name\":\"other\"},\"spec\":{\"image\":\"apache/spark:1\"}}"));
	cJSON_Delete(th_create(SPARK_GROUP, "sparkapplications", NS,
		"{\"apiVersion\":\"sparkoperator.k8s.io/v1beta2\",\"kind\":\"SparkApplication\","
		"\"metadata\":{\"name\":\"op\",\"annotations\":{\"kubesim.keelson.dev/spark-operator\":\"true\"}},"
		"\"spec\":{\"image\":\"apache/spark:1\",\"restartPolicy\":{\"type\":\"Never\"},"
		"\"driver\":{\"annotations\":{\"kubesim.keelson.dev/run-ms\":\"500\"}}}}"));
	char buf[64], first[64], second[64];
	ck_assert_msg(TH_WAIT(op_state_is("op", "COMPLETED"), TH_TIMEOUT_MS), "state %s", op_state("op", buf, sizeof(buf)));
	cJSON *pod = th_get("", "pods", NS, "op-driver");
	ck_assert_ptr_nonnull(pod);
	ck_assert_str_eq(th_str(pod, "metadata", "labels", "sparkoperator.k8s.io/launched-by-spark-operator", NULL), "true");
	ck_assert_str_eq(th_str(pod, "status", "phase", NULL), "Succeeded");
	cJSON_Delete(pod);
	driver_uid("op-driver", first, sizeof(first));
	ck_assert(!th_exists("", "pods", NS, "other-driver"));
	ck_assert(op_state_is("other", ""));
	cJSON *app = th_get(SPARK_GROUP, "sparkapplications", NS, "op");
	ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(app, "status"), "submissionID")));
	cJSON_Delete(app);
	/* A spec change: invalidated, the old driver deleted, one new driver. */
	cJSON *patch = cJSON_Parse("{\"spec\":{\"image\":\"apache/spark:2\"}}");
	ck_assert_int_eq(ks_ctl_patch(th_store, th_type(SPARK_GROUP, "sparkapplications"), NS, "op", NULL, patch, NULL), 0);
	cJSON_Delete(patch);
	ck_assert(TH_WAIT(strcmp(driver_uid("op-driver", second, sizeof(second)), first) && second[0] &&
		op_state_is("op", "COMPLETED"), TH_TIMEOUT_MS));
	pod = th_get("", "pods", NS, "op-driver");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "containers"), 0), "image")), "apache/spark:2");
	cJSON_Delete(pod);
	/* These drivers carry no keelson spec hash: never judged. */
	assert_no_violations();
}
END_TEST

START_TEST(violation_resubmission_after_failure_under_never)
{
	struct driver_opts o = {.app = "nev", .hash = "n1", .attempt = 1, .policy = "Never",
		.executors = 1, .run_ms = 5000, .fail_first = 1};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("nev-driver", "Failed"), TH_TIMEOUT_MS));
	delete_attempt("nev-driver", "nev");
	o.attempt = 2;
	create_driver(&o);
	assert_one_violation("failed under restartPolicy Never");
}
END_TEST

START_TEST(violation_resubmission_after_success_under_on_failure)
{
	struct driver_opts o = {.app = "ok", .hash = "k1", .attempt = 1, .policy = "OnFailure",
		.retries = 3, .executors = 0, .run_ms = 500};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("ok-driver", "Succeeded"), TH_TIMEOUT_MS));
	delete_attempt("ok-driver", "ok");
	o.attempt = 2;
	create_driver(&o);
	assert_one_violation("succeeded under restartPolicy OnFailure");
}
END_TEST

START_TEST(violation_more_attempts_than_policy)
{
	struct driver_opts o = {.app = "many", .hash = "m1", .policy = "OnFailure",
		.retries = 1, .executors = 1, .run_ms = 5000, .fail_first = 5,
		.interval = "0"};
	for (int attempt = 1; attempt <= 2; attempt++) {
		o.attempt = attempt;
		create_driver(&o);
		ck_assert(TH_WAIT(phase_is("many-driver", "Failed"), TH_TIMEOUT_MS));
		delete_attempt("many-driver", "many");
	}
	assert_no_violations();
	/* A wrong attempt label does not hide the third attempt. */
	o.attempt = 1;
	create_driver(&o);
	assert_one_violation("attempt 3 of spec hash m1, more than restartPolicy OnFailure "
		"with onFailureRetries 1 allows (2 attempts)");
	char *log = ks_pod_log_get(NS, "many-driver", NULL, -1);
	ck_assert_msg(strstr(log, "attempt label 1, but the model saw 3 drivers of spec hash m1"),
		"%s", log);
	free(log);
}
END_TEST

START_TEST(violation_retry_before_due)
{
	/* Interval 300 s: the second attempt is due 300 s after the first was
	 * submitted; resubmitted as soon as the 5 s run failed, it is early.
	 * (The legal pace is in fail_first_attempts_within_on_failure_budget.) */
	struct driver_opts o = {.app = "hasty", .hash = "y1", .attempt = 1,
		.policy = "OnFailure", .retries = 3, .executors = 0, .run_ms = 5000,
		.fail_first = 5, .interval = "300"};
	create_driver(&o);
	ck_assert(TH_WAIT(phase_is("hasty-driver", "Failed"), TH_TIMEOUT_MS));
	delete_attempt("hasty-driver", "hasty");
	assert_no_violations();
	o.attempt = 2;
	create_driver(&o);
	assert_one_violation("before the retry was due (onFailureRetryInterval 300 s x 1 "
		"submissions = 300 s)");
}
END_TEST

Suite *suite_spark_model(void);
Suite *suite_spark_model(void)
{
	Suite *s = suite_create("spark_model");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"driver_runs_and_succeeds", driver_runs_and_succeeds},
		{"executors_owned_and_collected_with_driver",
			executors_owned_and_collected_with_driver},
		{"fail_first_attempts_within_on_failure_budget",
			fail_first_attempts_within_on_failure_budget},
		{"resubmission_after_spec_change", resubmission_after_spec_change},
		{"always_reruns", always_reruns},
		{"violation_two_drivers", violation_two_drivers},
		{"violation_resubmitted_before_previous_gone",
			violation_resubmitted_before_previous_gone},
		{"violation_resubmission_without_reason", violation_resubmission_without_reason},
		{"readded_application_starts_afresh", readded_application_starts_afresh},
		{"simulated_operator_runs_and_resubmits", simulated_operator_runs_and_resubmits},
		{"violation_resubmission_after_failure_under_never",
			violation_resubmission_after_failure_under_never},
		{"violation_resubmission_after_success_under_on_failure",
			violation_resubmission_after_success_under_on_failure},
		{"violation_more_attempts_than_policy", violation_more_attempts_than_policy},
		{"violation_retry_before_due", violation_retry_before_due},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 30);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_spark_model)
