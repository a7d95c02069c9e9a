/*
 * The Spark plugin: spark-operator's rules (states, ShouldRetry, the
 * linear retry delay), the JSON builder, and plan() through the real host
 * (keelson_plugin_plan) against a small simulated cluster: the test runs
 * each plan's first step itself (merge patch of the SparkApplication,
 * driver pod created, pod deleted) and moves a fake clock, so whole
 * lifecycles (submit, spec change, retries, Always) are checked step by
 * step, restarts included (nothing is kept between plans).
 */
#include "config.h"

#include "core/error.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "plugins/spark/json_builder.h"
#include "plugins/spark/spark_rules.h"
#include "tests/plugin/fake_view.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

const struct keelson_plugin *keelson_plugin_entry(void);

/* --- rules ---------------------------------------------------------------- */

START_TEST(test_state_names)
{
	ck_assert_str_eq(spark_state_name(SPARK_NEW), "");
	ck_assert_str_eq(spark_state_name(SPARK_PENDING_RERUN), "PENDING_RERUN");
	ck_assert_int_eq(spark_state_parse(NULL), SPARK_NEW);
	ck_assert_int_eq(spark_state_parse("SUBMISSION_FAILED"), SPARK_SUBMISSION_FAILED);
	ck_assert_int_eq(spark_state_parse("INVALIDATING"), SPARK_INVALIDATING);
	ck_assert_int_eq(spark_state_parse("bogus"), SPARK_UNKNOWN);
	ck_assert(spark_state_terminal(SPARK_COMPLETED) && spark_state_terminal(SPARK_FAILED));
	ck_assert(!spark_state_terminal(SPARK_FAILING));
}
END_TEST

START_TEST(test_should_retry)
{
	struct spark_restart_policy onf = {.type = SPARK_RESTART_ON_FAILURE, .on_failure_retries = 2,
					   .on_failure_retry_interval_s = 10, .on_submission_failure_retries = 1,
					   .on_submission_failure_retry_interval_s = 3};
	struct spark_attempts at = {.submission_attempts = 1, .execution_attempts = 1, .last_submission_ms = 1000};
	ck_assert(spark_should_retry(SPARK_FAILING, &onf, &at));
	at.execution_attempts = 2;
	ck_assert(spark_should_retry(SPARK_FAILING, &onf, &at));
	at.execution_attempts = 3; /* three attempts: the budget of 2 retries is spent */
	ck_assert(!spark_should_retry(SPARK_FAILING, &onf, &at));
	ck_assert(!spark_should_retry(SPARK_SUCCEEDING, &onf, &at));
	at.submission_attempts = 1;
	ck_assert(spark_should_retry(SPARK_SUBMISSION_FAILED, &onf, &at));
	at.submission_attempts = 2;
	ck_assert(!spark_should_retry(SPARK_SUBMISSION_FAILED, &onf, &at));
	struct spark_restart_policy never = {.type = SPARK_RESTART_NEVER, .on_failure_retries = 5};
	at.execution_attempts = 1;
	ck_assert(!spark_should_retry(SPARK_FAILING, &never, &at));
	struct spark_restart_policy always = {.type = SPARK_RESTART_ALWAYS, .on_failure_retries = -1};
	at.execution_attempts = 100;
	ck_assert(spark_should_retry(SPARK_FAILING, &always, &at));
	ck_assert(spark_should_retry(SPARK_SUCCEEDING, &always, &at));
	/* OnFailure without onFailureRetries never retries (nil in spark-operator). */
	struct spark_restart_policy unset = {.type = SPARK_RESTART_ON_FAILURE, .on_failure_retries = -1,
					     .on_submission_failure_retries = -1};
	at.execution_attempts = 0;
	ck_assert(!spark_should_retry(SPARK_FAILING, &unset, &at));
}
END_TEST

START_TEST(test_retry_delay)
{
	struct spark_restart_policy p = {.type = SPARK_RESTART_ON_FAILURE, .on_failure_retries = 2,
					 .on_failure_retry_interval_s = 10, .on_submission_failure_retries = 3,
					 .on_submission_failure_retry_interval_s = 3};
	struct spark_attempts at = {.submission_attempts = 1, .execution_attempts = 1, .last_submission_ms = 100000};
	long long due = 0;
	/* interval x submissions - (now - last submission): linear. */
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_FAILING, &p, &at, 104000), 0);
	ck_assert_int_eq(due, 6000);
	at.submission_attempts = 2;
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_FAILING, &p, &at, 104000), 0);
	ck_assert_int_eq(due, 16000);
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_FAILING, &p, &at, 130000), 0);
	ck_assert_int_eq(due, -10000);
	/* Submission failures use their own interval. */
	at.submission_attempts = 3;
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_SUBMISSION_FAILED, &p, &at, 100000), 0);
	ck_assert_int_eq(due, 9000);
	/* spark-operator refuses to compute without an attempt or a time. */
	at.submission_attempts = 0;
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_FAILING, &p, &at, 100000), -1);
	at.submission_attempts = 1;
	at.last_submission_ms = 0;
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_FAILING, &p, &at, 100000), -1);
	ck_assert_int_eq(spark_retry_due_in_ms(&due, SPARK_RUNNING, &p, &at, 100000), -1);
}
END_TEST

START_TEST(test_driver_state)
{
	struct spark_driver_observation d = {.phase = "Pending"};
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_SUBMITTED);
	d.phase = "Running";
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_RUNNING);
	d.container_terminated = 1;
	d.exit_code = 0;
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_SUCCEEDING);
	d.exit_code = 137;
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_FAILING);
	d = (struct spark_driver_observation){.phase = "Succeeded"};
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_SUCCEEDING);
	d = (struct spark_driver_observation){.phase = "Failed", .container_terminated = 1, .exit_code = 0};
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_SUCCEEDING);
	d.exit_code = 1;
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_FAILING);
	d = (struct spark_driver_observation){.phase = "Running", .terminating = 1};
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_FAILING);
	d = (struct spark_driver_observation){.phase = "Weird"};
	ck_assert_int_eq(spark_state_from_driver(&d), SPARK_UNKNOWN);
}
END_TEST

START_TEST(test_memory)
{
	ck_assert_int_eq(spark_memory_mib("2g"), 2048);
	ck_assert_int_eq(spark_memory_mib("512m"), 512);
	ck_assert_int_eq(spark_memory_mib("1Gi"), 1024);
	ck_assert_int_eq(spark_memory_mib("1G"), 954);
	ck_assert_int_eq(spark_memory_mib("1048576"), 1);
	ck_assert_int_eq(spark_memory_mib("2x"), -1);
	ck_assert_int_eq(spark_memory_mib("-1g"), -1);
	ck_assert_int_eq(spark_memory_mib(NULL), -1);
	ck_assert_int_eq(spark_memory_overhead_mib(2048, "Scala"), 384);
	ck_assert_int_eq(spark_memory_overhead_mib(8192, "Scala"), 820);
	ck_assert_int_eq(spark_memory_overhead_mib(2048, "Python"), 820);
}
END_TEST

START_TEST(test_json_builder)
{
	struct jb b;
	jb_init(&b, 1024);
	jb_begin_object(&b);
	jb_kv_string(&b, "a\"b", "line\nnext\t\x01");
	jb_key(&b, "list");
	jb_begin_array(&b);
	jb_int(&b, -3);
	jb_bool(&b, 1);
	jb_string(&b, NULL);
	jb_raw(&b, "{\"x\":1}");
	jb_end_array(&b);
	jb_end_object(&b);
	ck_assert_str_eq(jb_text(&b), "{\"a\\\"b\":\"line\\nnext\\t\\u0001\",\"list\":[-3,true,null,{\"x\":1}]}");
	cJSON *parsed = cJSON_Parse(jb_text(&b));
	ck_assert_ptr_nonnull(parsed);
	cJSON_Delete(parsed);
	jb_dispose(&b);
	jb_init(&b, 16);
	jb_kv_string(&b, "key", "a value longer than sixteen bytes");
	ck_assert_ptr_null(jb_text(&b));
	jb_dispose(&b);
}
END_TEST

/* --- a simulated cluster ------------------------------------------------- */

static const char app_template[] =
	"{\"apiVersion\":\"sparkoperator.k8s.io/v1beta2\",\"kind\":\"SparkApplication\","
	"\"metadata\":{\"name\":\"etl\",\"namespace\":\"jobs\"},"
	"\"spec\":{\"type\":\"Scala\",\"mode\":\"cluster\",\"image\":\"apache/spark:%s\",\"mainClass\":\"com.acme.Etl\","
	"\"mainApplicationFile\":\"local:///opt/etl.jar\",\"arguments\":[\"--day\",\"1\"],"
	"\"sparkConf\":{\"spark.sql.shuffle.partitions\":\"200\"},"
	"\"restartPolicy\":%s,"
	"\"volumes\":[{\"name\":\"conf\",\"configMap\":{\"name\":\"etl-conf\"}}],"
	"\"driver\":{\"cores\":1,\"memory\":\"2g\",\"serviceAccount\":\"spark\",\"labels\":{\"team\":\"data\"},"
	"\"configMaps\":[{\"name\":\"etl-conf\",\"path\":\"/etc/etl\"}],"
	"\"volumeMounts\":[{\"name\":\"conf\",\"mountPath\":\"/etc/conf\"}]},"
	"\"executor\":{\"instances\":3,\"cores\":2,\"memory\":\"4g\"}}}";

struct sim {
	struct fake fake;
	cJSON *desired;
	cJSON *live;  /* the SparkApplication, or NULL */
	cJSON *params_doc;
	struct keelson_plugin_params *params;
	const struct keelson_plugin *plugin;
	unsigned preview;
	int creates, deletes, patches;
	unsigned pod_serial;
	char last_created_uid[64];
};

static cJSON *make_app(const char *version, const char *policy)
{
	char text[4096];
	snprintf(text, sizeof(text), app_template, version, policy);
	cJSON *app = cJSON_Parse(text);
	ck_assert_ptr_nonnull(app);
	return app;
}

static void sim_init(struct sim *s, const char *params, const char *policy)
{
	memset(s, 0, sizeof(*s));
	fake_init(&s->fake);
	s->plugin = keelson_plugin_entry();
	s->desired = make_app("3.5.1", policy);
	s->params_doc = cJSON_Parse(params);
	ck_assert_ptr_nonnull(s->params_doc);
	struct keelson_problem_list *problems = keelson_problem_list_new();
	int rc = keelson_plugin_params_parse(&s->params, problems, s->plugin, s->params_doc, NULL, "system.yaml");
	ck_assert_msg(rc == 0, "parameters refused: %s", problems->count ? problems->items[0].message : "?");
	keelson_problem_list_free(problems);
}

static void sim_dispose(struct sim *s)
{
	keelson_plugin_params_free(s->params);
	cJSON_Delete(s->params_doc);
	cJSON_Delete(s->desired);
	cJSON_Delete(s->live);
	fake_dispose(&s->fake);
}

static struct keelson_plan *sim_plan(struct sim *s)
{
	enum keelson_object_state state = KEELSON_OBJECT_MISSING;
	if (s->live != NULL)
		state = cJSON_Compare(cJSON_GetObjectItem(s->desired, "spec"), cJSON_GetObjectItem(s->live, "spec"), 1)
				? KEELSON_OBJECT_IN_SYNC : KEELSON_OBJECT_DRIFTED;
	struct keelson_plan_object object = {.desired = s->desired, .live = s->live, .state = state,
					     .file = "clusters/sim/jobs/app.yaml", .line = 1};
	struct keelson_plan_input in = {.cluster = "sim", .system = "jobs", .revision = "abc", .objects = &object,
					.object_count = 1, .params = s->params, .env = &s->fake.env,
					.view_flags = s->preview};
	struct keelson_plan *plan = NULL;
	int rc = keelson_plugin_plan(&plan, s->plugin, &in);
	ck_assert_msg(rc == 0, "plan failed: %s", keelson_error_last()->message);
	return plan;
}

static void merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, patch) {
		cJSON *existing = cJSON_GetObjectItemCaseSensitive(target, m->string);
		if (cJSON_IsNull(m)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, m->string);
		} else if (cJSON_IsObject(m) && cJSON_IsObject(existing)) {
			merge_patch(existing, m);
		} else {
			cJSON_DeleteItemFromObjectCaseSensitive(target, m->string);
			cJSON_AddItemToObject(target, m->string, cJSON_Duplicate(m, 1));
		}
	}
}

static cJSON *find_pod(struct sim *s, const char *name)
{
	cJSON *pod;
	cJSON_ArrayForEach(pod, s->fake.pods) {
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "name"));
		if (n != NULL && strcmp(n, name) == 0)
			return pod;
	}
	return NULL;
}

static const char *label_of(const cJSON *obj, const char *label)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "labels"), label));
}

static const char *annotation_of(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "annotations"), key));
}

/* Run step `i` of the plan as the executor and the API server would. */
static void sim_run(struct sim *s, const struct keelson_plan *plan, size_t i)
{
	ck_assert_uint_gt(plan->count, i);
	const struct keelson_plan_step *st = &plan->steps[i];
	switch (st->kind) {
	case KEELSON_STEP_APPLY: {
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(st->object, "kind"));
		if (strcmp(kind, "SparkApplication") == 0) {
			cJSON *fresh = cJSON_Duplicate(st->object, 1);
			cJSON *md = cJSON_GetObjectItem(fresh, "metadata");
			cJSON_AddStringToObject(md, "uid", "app-uid-1");
			if (s->live != NULL) {
				cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(s->live, "metadata"), "annotations");
				if (ann != NULL)
					cJSON_AddItemToObject(md, "annotations", cJSON_Duplicate(ann, 1));
			}
			cJSON_Delete(s->live);
			s->live = fresh;
		} else {
			ck_assert_str_eq(kind, "Pod");
			const char *name = cJSON_GetStringValue(
				cJSON_GetObjectItem(cJSON_GetObjectItem(st->object, "metadata"), "name"));
			if (find_pod(s, name) != NULL)
				break; /* applied again: the same pod */
			cJSON *pod = cJSON_Duplicate(st->object, 1);
			snprintf(s->last_created_uid, sizeof(s->last_created_uid), "pod-uid-%u", ++s->pod_serial);
			cJSON_AddStringToObject(cJSON_GetObjectItem(pod, "metadata"), "uid", s->last_created_uid);
			cJSON *status = cJSON_AddObjectToObject(pod, "status");
			cJSON_AddStringToObject(status, "phase", "Pending");
			cJSON_AddItemToArray(s->fake.pods, pod);
			s->creates++;
		}
		break;
	}
	case KEELSON_STEP_PATCH: {
		ck_assert_ptr_nonnull(s->live);
		cJSON *patch = cJSON_Parse(st->patch);
		ck_assert_ptr_nonnull(patch);
		merge_patch(s->live, patch);
		cJSON_Delete(patch);
		s->patches++;
		break;
	}
	case KEELSON_STEP_DELETE_POD: {
		cJSON *pod = find_pod(s, st->name);
		ck_assert_ptr_nonnull(pod);
		const char *uid = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "uid"));
		ck_assert_str_eq(uid, st->precondition_uid);
		/* Terminating first; the test removes it (sim_gone). */
		cJSON_AddStringToObject(cJSON_GetObjectItem(pod, "metadata"), "deletionTimestamp", "2026-01-01T00:00:00Z");
		s->deletes++;
		break;
	}
	default:
		ck_abort_msg("step %zu is not runnable: %s", i + 1, st->description);
	}
}

/* Plan, check step 1 is `kind` and says `has`, run it. */
static void sim_step(struct sim *s, enum keelson_step_kind kind, const char *has)
{
	struct keelson_plan *plan = sim_plan(s);
	ck_assert_msg(plan->count > 0, "converged, expected %s \"%s\"", keelson_step_kind_name(kind), has);
	ck_assert_msg(plan->steps[0].kind == kind && strstr(plan->steps[0].description, has) != NULL,
		      "step 1 is %s \"%s\", expected %s \"%s\"", keelson_step_kind_name(plan->steps[0].kind),
		      plan->steps[0].description, keelson_step_kind_name(kind), has);
	if (kind != KEELSON_STEP_WAIT && kind != KEELSON_STEP_BLOCKED)
		sim_run(s, plan, 0);
	keelson_plan_free(plan);
}

static void sim_converged(struct sim *s)
{
	struct keelson_plan *plan = sim_plan(s);
	ck_assert_msg(plan->count == 0, "expected converged, step 1 is %s \"%s\"",
		      plan->count ? keelson_step_kind_name(plan->steps[0].kind) : "", plan->count ? plan->steps[0].description : "");
	keelson_plan_free(plan);
}

static const char *state_of(struct sim *s)
{
	return annotation_of(s->live, "keelson.dev/spark-state");
}

/* The driver's phase and, when it ended, its exit code. */
static void driver_ends(struct sim *s, const char *phase, int exit_code)
{
	cJSON *pod = find_pod(s, "etl-driver");
	ck_assert_ptr_nonnull(pod);
	cJSON_DeleteItemFromObject(pod, "status");
	char text[256];
	if (exit_code < 0)
		snprintf(text, sizeof(text), "{\"phase\":\"%s\"}", phase);
	else
		snprintf(text, sizeof(text),
			 "{\"phase\":\"%s\",\"containerStatuses\":[{\"name\":\"spark-kubernetes-driver\","
			 "\"state\":{\"terminated\":{\"exitCode\":%d,\"reason\":\"%s\"}}}]}",
			 phase, exit_code, exit_code ? "Error" : "Completed");
	cJSON_AddItemToObject(pod, "status", cJSON_Parse(text));
}

static void add_executor(struct sim *s, int n)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"etl-exec-%d\",\"namespace\":\"jobs\",\"uid\":\"e%d\",\"labels\":"
		 "{\"sparkoperator.k8s.io/app-name\":\"etl\",\"spark-role\":\"executor\"}},\"status\":{\"phase\":\"Running\"}}",
		 n, n);
	cJSON_AddItemToArray(s->fake.pods, cJSON_Parse(text));
}

/* Every pod of the application is gone (the kubelet and the garbage collector). */
static void sim_gone(struct sim *s)
{
	cJSON_Delete(s->fake.pods);
	s->fake.pods = cJSON_CreateArray();
}

static const char native[] = "{\"mode\":\"native\",\"driverPodCreationGracePeriod\":\"10s\",\"killTimeout\":\"1m\"}";
static const char on_failure_2[] =
	"{\"type\":\"OnFailure\",\"onFailureRetries\":2,\"onFailureRetryInterval\":10,"
	"\"onSubmissionFailureRetries\":1,\"onSubmissionFailureRetryInterval\":3}";

/* Apply, submit, create: the driver pod as spark-operator would make it. */
static void submit_first(struct sim *s)
{
	sim_step(s, KEELSON_STEP_APPLY, "apply SparkApplication jobs/etl (missing)");
	sim_step(s, KEELSON_STEP_APPLY, "submit jobs/etl: create driver pod etl-driver, attempt 1");
	ck_assert_int_eq(s->creates, 1);
	/* Seen: recorded, not created again. */
	sim_step(s, KEELSON_STEP_PATCH, "record the submission of jobs/etl: attempt 1 is SUBMITTED");
	ck_assert_str_eq(state_of(s), "SUBMITTED");
	ck_assert_int_eq(s->creates, 1);
}

START_TEST(test_submit)
{
	struct sim s;
	sim_init(&s, native, on_failure_2);
	/* The whole plan is shown at once: apply, record, create. */
	struct keelson_plan *plan = sim_plan(&s);
	ck_assert_uint_eq(plan->count, 3);
	ck_assert_int_eq(plan->steps[1].kind, KEELSON_STEP_APPLY);
	ck_assert_int_eq(plan->steps[2].kind, KEELSON_STEP_PATCH);
	keelson_plan_free(plan);
	submit_first(&s);
	cJSON *pod = find_pod(&s, "etl-driver");
	ck_assert_str_eq(label_of(pod, "sparkoperator.k8s.io/app-name"), "etl");
	ck_assert_str_eq(label_of(pod, "spark-role"), "driver");
	ck_assert_str_eq(label_of(pod, "keelson.dev/spark-attempt"), "1");
	ck_assert_str_eq(label_of(pod, "team"), "data");
	ck_assert_str_eq(label_of(pod, "sparkoperator.k8s.io/submission-id"),
			 annotation_of(s.live, "keelson.dev/spark-submission-id"));
	ck_assert_str_eq(label_of(pod, "keelson.dev/spark-spec-hash"), annotation_of(s.live, "keelson.dev/spark-spec-hash"));
	ck_assert_str_eq(annotation_of(pod, "keelson.dev/spark-restart-policy"), "OnFailure");
	ck_assert_str_eq(annotation_of(pod, "keelson.dev/spark-on-failure-retries"), "2");
	ck_assert_str_eq(annotation_of(pod, "keelson.dev/spark-executor-instances"), "3");
	const cJSON *owner = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "ownerReferences"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(owner, "uid")), "app-uid-1");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(owner, "controller")));
	const cJSON *spec = cJSON_GetObjectItem(pod, "spec");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "restartPolicy")), "Never");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "serviceAccountName")), "spark");
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "containers"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(c, "image")), "apache/spark:3.5.1");
	char *args = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "args"));
	ck_assert_msg(strstr(args, "\"--class\",\"com.acme.Etl\",\"local:///opt/etl.jar\",\"--day\",\"1\"]") != NULL, "%s", args);
	ck_assert_msg(strstr(args, "spark.sql.shuffle.partitions=200") != NULL, "%s", args);
	ck_assert_msg(strstr(args, "spark.executor.instances=3") != NULL, "%s", args);
	ck_assert_msg(strstr(args, "spark.executor.memory=4g") != NULL, "%s", args);
	free(args);
	/* 2g plus the 384 MiB minimum overhead. */
	const cJSON *res = cJSON_GetObjectItem(c, "resources");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "requests"), "memory")), "2432Mi");
	char *mounts = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "volumeMounts"));
	ck_assert_msg(strstr(mounts, "{\"name\":\"conf\",\"mountPath\":\"/etc/conf\"}") &&
		      strstr(mounts, "{\"name\":\"etl-conf-vol\",\"mountPath\":\"/etc/etl\"}"), "%s", mounts);
	free(mounts);
	char *vols = cJSON_PrintUnformatted(cJSON_GetObjectItem(spec, "volumes"));
	ck_assert_msg(strstr(vols, "\"configMap\":{\"name\":\"etl-conf\"}") != NULL, "%s", vols);
	free(vols);
	/* Pending, then Running: recorded, then nothing to do while it runs. */
	sim_converged(&s);
	driver_ends(&s, "Running", -1);
	sim_step(&s, KEELSON_STEP_PATCH, "is RUNNING");
	ck_assert_str_eq(state_of(&s), "RUNNING");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(s.live, "status"),
		"applicationState"), "state")), "RUNNING");
	sim_converged(&s);
	driver_ends(&s, "Succeeded", 0);
	sim_step(&s, KEELSON_STEP_PATCH, "succeeded");
	sim_step(&s, KEELSON_STEP_PATCH, "COMPLETED");
	ck_assert_str_eq(state_of(&s), "COMPLETED");
	sim_converged(&s);
	ck_assert_int_eq(s.creates, 1);
	ck_assert_int_eq(s.deletes, 0);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_fail_closed)
{
	struct sim s;
	sim_init(&s, native, on_failure_2);
	sim_step(&s, KEELSON_STEP_APPLY, "apply SparkApplication");
	s.fake.fail_reads = 1;
	sim_step(&s, KEELSON_STEP_WAIT, "cannot be read");
	struct keelson_plan *plan = sim_plan(&s);
	for (size_t i = 0; i < plan->count; i++)
		ck_assert_msg(plan->steps[i].kind != KEELSON_STEP_APPLY && plan->steps[i].kind != KEELSON_STEP_PATCH,
			      "acts without the pod list: %s", plan->steps[i].description);
	keelson_plan_free(plan);
	s.fake.fail_reads = 0;
	/* A driver nobody recorded (say, left by someone) is removed first. */
	cJSON *stray = cJSON_Parse("{\"metadata\":{\"name\":\"etl-driver\",\"namespace\":\"jobs\",\"uid\":\"stray\","
				   "\"labels\":{\"sparkoperator.k8s.io/app-name\":\"etl\",\"spark-role\":\"driver\"}},"
				   "\"status\":{\"phase\":\"Running\"}}");
	cJSON_AddItemToArray(s.fake.pods, stray);
	sim_step(&s, KEELSON_STEP_DELETE_POD, "kill the running driver pod jobs/etl-driver");
	sim_step(&s, KEELSON_STEP_WAIT, "are gone");
	ck_assert_int_eq(s.creates, 0);
	sim_gone(&s);
	sim_step(&s, KEELSON_STEP_APPLY, "create driver pod");
	sim_dispose(&s);
}
END_TEST

START_TEST(test_spec_change_running)
{
	struct sim s;
	sim_init(&s, native, "{\"type\":\"Never\"}");
	submit_first(&s);
	driver_ends(&s, "Running", -1);
	sim_step(&s, KEELSON_STEP_PATCH, "RUNNING");
	add_executor(&s, 1);
	add_executor(&s, 2);
	char old_hash[64];
	snprintf(old_hash, sizeof(old_hash), "%s", annotation_of(s.live, "keelson.dev/spark-spec-hash"));
	cJSON_Delete(s.desired);
	s.desired = make_app("3.5.2", "{\"type\":\"Never\"}");
	sim_step(&s, KEELSON_STEP_APPLY, "apply SparkApplication jobs/etl (changed)");
	sim_step(&s, KEELSON_STEP_PATCH, "invalidate jobs/etl: spec changed");
	ck_assert_str_eq(state_of(&s), "INVALIDATING");
	sim_step(&s, KEELSON_STEP_DELETE_POD, "kill the running driver pod jobs/etl-driver");
	/* Terminating, executors still there: wait (never two drivers). */
	sim_step(&s, KEELSON_STEP_WAIT, "are gone before submitting");
	/* A restart in between changes nothing: the same wait. */
	sim_step(&s, KEELSON_STEP_WAIT, "1 driver and 2 executor pods");
	sim_gone(&s);
	sim_step(&s, KEELSON_STEP_APPLY, "create driver pod etl-driver, attempt 1");
	sim_step(&s, KEELSON_STEP_PATCH, "record the submission of jobs/etl: attempt 1");
	ck_assert_str_ne(annotation_of(s.live, "keelson.dev/spark-spec-hash"), old_hash);
	cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(find_pod(&s, "etl-driver"), "spec"), "containers"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(c, "image")), "apache/spark:3.5.2");
	ck_assert_str_eq(label_of(find_pod(&s, "etl-driver"), "keelson.dev/spark-attempt"), "1");
	sim_converged(&s);
	ck_assert_int_eq(s.deletes, 1);
	ck_assert_int_eq(s.creates, 2);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_spec_change_wait)
{
	struct sim s;
	sim_init(&s, "{\"mode\":\"native\",\"onSpecChange\":\"waitForCompletion\"}", "{\"type\":\"Never\"}");
	submit_first(&s);
	driver_ends(&s, "Running", -1);
	sim_step(&s, KEELSON_STEP_PATCH, "RUNNING");
	cJSON_Delete(s.desired);
	s.desired = make_app("3.5.2", "{\"type\":\"Never\"}");
	sim_step(&s, KEELSON_STEP_APPLY, "apply SparkApplication");
	sim_step(&s, KEELSON_STEP_WAIT, "to finish before submitting spec");
	ck_assert_int_eq(s.deletes, 0);
	driver_ends(&s, "Succeeded", 0);
	sim_step(&s, KEELSON_STEP_PATCH, "invalidate");
	sim_step(&s, KEELSON_STEP_DELETE_POD, "delete the finished driver pod");
	sim_gone(&s);
	sim_step(&s, KEELSON_STEP_APPLY, "create driver pod etl-driver, attempt 1");
	sim_step(&s, KEELSON_STEP_PATCH, "record the submission");
	ck_assert_int_eq(s.creates, 2);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_on_failure_retries)
{
	struct sim s;
	sim_init(&s, native, on_failure_2);
	long long submitted_at[4] = {0};
	submit_first(&s);
	submitted_at[1] = s.fake.now;
	for (int attempt = 1; attempt <= 3; attempt++) {
		driver_ends(&s, "Failed", 1);
		s.fake.now += 2000; /* it ran 2 s */
		sim_step(&s, KEELSON_STEP_PATCH, "failed: driver pod etl-driver failed: exit code 1");
		ck_assert_str_eq(state_of(&s), "FAILING");
		if (attempt == 3)
			break;
		/* interval 10 s x submissions so far, from the last submission. */
		long long due = submitted_at[attempt] + 10000LL * attempt;
		while (s.fake.now < due) {
			sim_step(&s, KEELSON_STEP_WAIT, "retry jobs/etl in");
			s.fake.now += 1000;
		}
		sim_step(&s, KEELSON_STEP_PATCH, "rerun jobs/etl after attempt");
		ck_assert_str_eq(state_of(&s), "PENDING_RERUN");
		sim_step(&s, KEELSON_STEP_DELETE_POD, "delete the finished driver pod");
		sim_step(&s, KEELSON_STEP_WAIT, "are gone");
		sim_gone(&s);
		char want[64];
		snprintf(want, sizeof(want), "create driver pod etl-driver, attempt %d", attempt + 1);
		sim_step(&s, KEELSON_STEP_APPLY, want);
		snprintf(want, sizeof(want), "attempt %d is SUBMITTED", attempt + 1);
		sim_step(&s, KEELSON_STEP_PATCH, want);
		submitted_at[attempt + 1] = s.fake.now;
		ck_assert_int_ge(submitted_at[attempt + 1] - submitted_at[attempt], 10000LL * attempt);
		ck_assert_int_lt(submitted_at[attempt + 1] - submitted_at[attempt], 10000LL * attempt + 1000);
		char n[8];
		snprintf(n, sizeof(n), "%d", attempt + 1);
		ck_assert_str_eq(label_of(find_pod(&s, "etl-driver"), "keelson.dev/spark-attempt"), n);
	}
	sim_step(&s, KEELSON_STEP_PATCH, "FAILED after 3 attempts");
	ck_assert_str_eq(state_of(&s), "FAILED");
	ck_assert_str_eq(annotation_of(s.live, "keelson.dev/spark-execution-attempts"), "3");
	ck_assert_msg(strstr(annotation_of(s.live, "keelson.dev/spark-last-failure"), "exit code 1") != NULL,
		      "last failure: %s", annotation_of(s.live, "keelson.dev/spark-last-failure"));
	const cJSON *st = cJSON_GetObjectItem(s.live, "status");
	ck_assert_int_eq(cJSON_GetObjectItem(st, "executionAttempts")->valueint, 3);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "applicationState"), "state")), "FAILED");
	sim_converged(&s);
	ck_assert_int_eq(s.creates, 3);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_always_reruns)
{
	struct sim s;
	sim_init(&s, native, "{\"type\":\"Always\"}");
	submit_first(&s);
	for (int run = 1; run <= 3; run++) {
		driver_ends(&s, "Succeeded", 0);
		sim_step(&s, KEELSON_STEP_PATCH, "succeeded");
		sim_step(&s, KEELSON_STEP_PATCH, "rerun jobs/etl after attempt");
		sim_step(&s, KEELSON_STEP_DELETE_POD, "delete the finished driver pod");
		sim_gone(&s);
		/* A rerun after success is not delayed. */
		sim_step(&s, KEELSON_STEP_APPLY, "submit jobs/etl: create driver pod");
		sim_step(&s, KEELSON_STEP_PATCH, "record the submission");
	}
	ck_assert_int_eq(s.creates, 4);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_submission_failure)
{
	struct sim s;
	sim_init(&s, native, on_failure_2);
	submit_first(&s);
	/* The recorded driver disappears (deleted by someone): spark-operator's
	 * grace, then "driver pod not found", a failure for the policy. */
	sim_gone(&s);
	s.fake.now += 1000;
	sim_step(&s, KEELSON_STEP_WAIT, "is not in the pod list");
	s.fake.now += 10000;
	sim_step(&s, KEELSON_STEP_PATCH, "not found");
	ck_assert_str_eq(state_of(&s), "FAILING");
	sim_step(&s, KEELSON_STEP_PATCH, "rerun jobs/etl after attempt 1");
	sim_dispose(&s);

	/* An invalid spec is a submission failure without any pod. */
	sim_init(&s, native, "{\"type\":\"Never\"}");
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(s.desired, "spec"), "mainApplicationFile");
	sim_step(&s, KEELSON_STEP_APPLY, "apply SparkApplication");
	sim_step(&s, KEELSON_STEP_PATCH, "spec.mainApplicationFile is not set");
	ck_assert_str_eq(state_of(&s), "SUBMISSION_FAILED");
	sim_step(&s, KEELSON_STEP_PATCH, "FAILED");
	sim_converged(&s);
	ck_assert_int_eq(s.creates, 0);
	sim_dispose(&s);

	/* onSubmissionFailureRetries 1, interval 3 s: one retry after 3 s x 1. */
	sim_init(&s, native, on_failure_2);
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(s.desired, "spec"), "image");
	sim_step(&s, KEELSON_STEP_APPLY, "apply SparkApplication");
	sim_step(&s, KEELSON_STEP_PATCH, "submission 1 of jobs/etl failed: neither spec.image");
	s.fake.now += 2000;
	sim_step(&s, KEELSON_STEP_WAIT, "retry jobs/etl in 1s: onSubmissionFailureRetryInterval 3s x 1");
	s.fake.now += 1000;
	sim_step(&s, KEELSON_STEP_PATCH, "submission 2 of jobs/etl failed");
	sim_step(&s, KEELSON_STEP_PATCH, "FAILED after 0 attempts (2 submissions");
	ck_assert_int_eq(s.creates, 0);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_preview)
{
	struct sim s;
	sim_init(&s, native, "{\"type\":\"Never\"}");
	s.preview = KEELSON_VIEW_PREVIEW;
	struct keelson_plan *plan = sim_plan(&s);
	ck_assert_uint_eq(plan->count, 3);
	ck_assert_msg(strstr(plan->steps[1].description, "submit jobs/etl: create driver pod etl-driver, attempt 1") != NULL,
		      "%s", plan->steps[1].description);
	ck_assert_int_eq(plan->steps[1].kind, KEELSON_STEP_APPLY);
	keelson_plan_free(plan);
	/* The base declares 3.5.1, the head 3.5.2: kill and resubmit. */
	s.live = make_app("3.5.1", "{\"type\":\"Never\"}");
	cJSON_Delete(s.desired);
	s.desired = make_app("3.5.2", "{\"type\":\"Never\"}");
	plan = sim_plan(&s);
	const char *want[] = {"apply SparkApplication", "invalidate jobs/etl", "kill driver pod jobs/etl-driver",
			      "are gone", "submit jobs/etl: create driver pod", "record the submission"};
	ck_assert_uint_eq(plan->count, 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(strstr(plan->steps[i].description, want[i]) != NULL, "step %zu: %s", i + 1,
			      plan->steps[i].description);
	keelson_plan_free(plan);
	/* Unchanged spec: only the other objects would be applied. */
	cJSON_Delete(s.live);
	s.live = make_app("3.5.2", "{\"type\":\"Never\"}");
	sim_converged(&s);
	sim_dispose(&s);
}
END_TEST

START_TEST(test_operator_mode)
{
	struct sim s;
	sim_init(&s, "{\"mode\":\"operator\",\"operatorTimeout\":\"5m\"}", "{\"type\":\"Never\"}");
	sim_step(&s, KEELSON_STEP_APPLY, "apply SparkApplication");
	sim_step(&s, KEELSON_STEP_WAIT, "NEW (not picked up yet)");
	cJSON_AddItemToObject(s.live, "status",
			      cJSON_Parse("{\"applicationState\":{\"state\":\"SUBMITTED\"},\"submissionAttempts\":1}"));
	sim_step(&s, KEELSON_STEP_WAIT, "is SUBMITTED (1 submissions");
	cJSON_DeleteItemFromObject(s.live, "status");
	cJSON_AddItemToObject(s.live, "status", cJSON_Parse("{\"applicationState\":{\"state\":\"RUNNING\"}}"));
	sim_converged(&s);
	ck_assert_int_eq(s.creates, 0);
	ck_assert_int_eq(s.patches, 0);
	sim_dispose(&s);
}
END_TEST

static Suite *suite_spark(void)
{
	Suite *s = suite_create("spark");
	TCase *rules = tcase_create("rules");
	tcase_add_test(rules, test_state_names);
	tcase_add_test(rules, test_should_retry);
	tcase_add_test(rules, test_retry_delay);
	tcase_add_test(rules, test_driver_state);
	tcase_add_test(rules, test_memory);
	tcase_add_test(rules, test_json_builder);
	suite_add_tcase(s, rules);
	TCase *native_tc = tcase_create("native");
	tcase_add_test(native_tc, test_submit);
	tcase_add_test(native_tc, test_fail_closed);
	tcase_add_test(native_tc, test_spec_change_running);
	tcase_add_test(native_tc, test_spec_change_wait);
	tcase_add_test(native_tc, test_on_failure_retries);
	tcase_add_test(native_tc, test_always_reruns);
	tcase_add_test(native_tc, test_submission_failure);
	suite_add_tcase(s, native_tc);
	TCase *other = tcase_create("preview and operator");
	tcase_add_test(other, test_preview);
	tcase_add_test(other, test_operator_mode);
	suite_add_tcase(s, other);
	return s;
}

KEELSON_CHECK_MAIN(suite_spark)
