/*
 * The kafka plugin's planning against a fake host: restart order (not
 * Ready first, active controller last), the metrics gate and every way it
 * fails closed, stuck pods, Cruise Control's per-partition rule, scaling,
 * the configuration hash, the preview, and the Prometheus parser.
 */
#include "config.h"

#include "core/error.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "plugins/kafka/prom.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBROKERS 5

struct kfake {
	struct keelson_plugin_env env;
	cJSON *pods;
	long long now;
	int fail_list;
	char *metrics[8];       /* body per ordinal; NULL: the scrape fails */
	char *ctrl_metrics[8];  /* of the pods ctrl-N (KRaft controllers only) */
	char *cc_state;         /* NULL: Cruise Control unreachable */
	char *cc_cluster_state;
	char *cc_user_tasks;
	unsigned http_calls;
	int timeout_pod;        /* this ordinal's scrape times out (no answer); -1: none */
};

static struct kfake fk;
static struct keelson_plugin_registry *registry;
static const struct keelson_plugin *kafka;
static cJSON *desired_sts, *live_sts, *desired_cm, *params_doc;
static struct keelson_plugin_params *params;
static struct keelson_plan *plan;

static int fk_get(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
		  const char *name)
{
	(void)payload, (void)api_version, (void)kind, (void)ns, (void)name;
	*out = NULL;
	return keelson_error_set(KEELSON_ENOTFOUND, "fake: not found");
}

static int fk_list(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
		   const char *selector)
{
	struct kfake *f = payload;
	(void)api_version;
	*out = NULL;
	if (f->fail_list)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: the API server is unreachable");
	ck_assert_str_eq(kind, "Pod");
	ck_assert_str_eq(ns, "kafka");
	ck_assert(strncmp(selector, "app=", 4) == 0);
	cJSON *list = cJSON_CreateArray();
	const cJSON *pod;
	cJSON_ArrayForEach(pod, f->pods) {
		const char *app = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "labels"), "app"));
		if (app != NULL && strcmp(app, selector + 4) == 0)
			cJSON_AddItemToArray(list, cJSON_Duplicate(pod, 1));
	}
	*out = list;
	return 0;
}

static int answer(long *status, char **body, size_t *len, const char *text)
{
	if (text == NULL) {
		*status = 503;
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: 503 Service Unavailable");
	}
	*status = 200;
	*body = strdup(text);
	*len = strlen(text);
	return 0;
}

static int fk_http(long *status, char **body, size_t *len, void *payload, enum keelson_proxy_target target,
		   const char *ns, const char *name, const char *port, const char *method, const char *path,
		   const char *req_body, long long timeout_ms)
{
	struct kfake *f = payload;
	(void)req_body, (void)timeout_ms;
	f->http_calls++;
	ck_assert_str_eq(ns, "kafka");
	ck_assert_str_eq(method, "GET");
	if (target == KEELSON_PROXY_POD) {
		ck_assert_str_eq(port, "9404");
		ck_assert_str_eq(path, "/metrics");
		if (strncmp(name, "ctrl-", 5) == 0) {
			int c = atoi(name + 5);
			return answer(status, body, len, c >= 0 && c < 8 ? f->ctrl_metrics[c] : NULL);
		}
		int ordinal = atoi(name + strlen("kafka-"));
		if (ordinal == f->timeout_pod) {
			*status = 0;
			return keelson_error_set(KEELSON_ETIMEOUT, "fake: timed out after 10 s");
		}
		return answer(status, body, len, ordinal >= 0 && ordinal < 8 ? f->metrics[ordinal] : NULL);
	}
	ck_assert_str_eq(name, "cc");
	ck_assert_str_eq(port, "9090");
	if (strncmp(path, "/kafkacruisecontrol/state?", 26) == 0)
		return answer(status, body, len, f->cc_state);
	if (strncmp(path, "/kafkacruisecontrol/kafka_cluster_state?", 40) == 0)
		return answer(status, body, len, f->cc_state ? f->cc_cluster_state : NULL);
	if (strncmp(path, "/kafkacruisecontrol/user_tasks?", 31) == 0)
		return answer(status, body, len, f->cc_state ? f->cc_user_tasks : NULL);
	ck_abort_msg("unexpected path %s", path);
	return -1;
}

static long long fk_now(void *payload)
{
	return ((struct kfake *)payload)->now;
}

static void set_metrics(int ordinal, int urp, int umi, int offline, int active, int partitions)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "# HELP kafka_server_replicamanager_underreplicatedpartitions x\n"
		 "# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge\n"
		 "kafka_server_replicamanager_underreplicatedpartitions %d\n"
		 "kafka_server_replicamanager_underminisrpartitioncount %d.0\n"
		 "kafka_controller_kafkacontroller_offlinepartitionscount %d\n"
		 "kafka_controller_kafkacontroller_activecontrollercount %d\n"
		 "kafka_server_replicamanager_partitioncount %d\n"
		 "kafka_server_kafkaserver_brokerstate 3\n"
		 "kafka_cluster_partition_atminisr{topic=\"t\",partition=\"0\"} 0 1700000000000\n",
		 urp, umi, offline, active, partitions);
	free(fk.metrics[ordinal]);
	fk.metrics[ordinal] = strdup(text);
}

static void set_body(int ordinal, const char *text)
{
	free(fk.metrics[ordinal]);
	fk.metrics[ordinal] = text ? strdup(text) : NULL;
}

/* A pod of StatefulSet kafka. waiting: a container waiting reason or NULL. */
static cJSON *add_pod(int ordinal, const char *uid, const char *hash, int ready, const char *waiting, int terminating)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"kafka-%d\",\"namespace\":\"kafka\",\"uid\":\"%s\"%s,"
		 "\"labels\":{\"app\":\"kafka\",\"controller-revision-hash\":\"%s\"}},"
		 "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}],"
		 "\"containerStatuses\":[{\"name\":\"kafka\",\"state\":{%s%s%s}}]}}",
		 ordinal, uid, terminating ? ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"" : "", hash,
		 ready ? "True" : "False", waiting ? "\"waiting\":{\"reason\":\"" : "\"running\":{}",
		 waiting ? waiting : "", waiting ? "\"}" : "");
	cJSON *pod = cJSON_Parse(text);
	ck_assert_ptr_nonnull(pod);
	cJSON_AddItemToArray(fk.pods, pod);
	return pod;
}

/* Five Ready pods at `hash`, healthy metrics, the controller on `controller`. */
static void healthy(const char *hash, int controller)
{
	char uid[16];
	for (int i = 0; i < NBROKERS; i++) {
		snprintf(uid, sizeof(uid), "u%d", i);
		add_pod(i, uid, hash, 1, NULL, 0);
		set_metrics(i, 0, 0, 0, i == controller, 18);
	}
}

static const char sts_desired_text[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"kafka\",\"namespace\":\"kafka\"},"
	"\"spec\":{\"replicas\":5,\"selector\":{\"matchLabels\":{\"app\":\"kafka\"}},"
	"\"template\":{\"metadata\":{\"labels\":{\"app\":\"kafka\"}},\"spec\":{\"containers\":[{\"name\":\"kafka\","
	"\"image\":\"apache/kafka:3.7.1\"}],\"volumes\":[{\"name\":\"config\",\"configMap\":{\"name\":\"kafka-config\"}}]}}}}";

static const char cm_text[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kafka-config\",\"namespace\":\"kafka\"},"
	"\"data\":{\"server.properties\":\"num.partitions=6\\n\",\"log4j.properties\":\"x\"}}";

/* The live StatefulSet: the desired one as the plugin applies it, plus
 * status at updateRevision rev2. */
static void make_live(const char *config_hash)
{
	cJSON_Delete(live_sts);
	live_sts = cJSON_Duplicate(desired_sts, 1);
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(live_sts, "spec");
	cJSON *strategy = cJSON_AddObjectToObject(spec, "updateStrategy");
	cJSON_AddStringToObject(strategy, "type", "OnDelete");
	cJSON *tmd = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "template"), "metadata");
	if (config_hash != NULL)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(tmd, "annotations"), "keelson.dev/config-hash",
					config_hash);
	cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(live_sts, "metadata"), "generation", 2);
	cJSON *status = cJSON_AddObjectToObject(live_sts, "status");
	cJSON_AddNumberToObject(status, "observedGeneration", 2);
	cJSON_AddStringToObject(status, "updateRevision", "rev2");
}

static void parse_params(const char *json)
{
	keelson_plugin_params_free(params);
	cJSON_Delete(params_doc);
	params_doc = cJSON_Parse(json);
	ck_assert_ptr_nonnull(params_doc);
	struct keelson_problem_list *problems = keelson_problem_list_new();
	int rc = keelson_plugin_params_parse(&params, problems, kafka, params_doc, NULL, "system.yaml");
	ck_assert_msg(rc == 0, "parameters refused: %s", problems->count ? problems->items[0].message : "?");
	keelson_problem_list_free(problems);
}

/* What the diff engine would say: every field the repository sets equal. */
static int subset(const cJSON *d, const cJSON *l)
{
	if (l == NULL)
		return 0;
	if (cJSON_IsObject(d)) {
		const cJSON *c;
		cJSON_ArrayForEach(c, d) {
			if (!cJSON_IsObject(l) || !subset(c, cJSON_GetObjectItemCaseSensitive(l, c->string)))
				return 0;
		}
		return cJSON_IsObject(l);
	}
	if (cJSON_IsArray(d)) {
		if (!cJSON_IsArray(l) || cJSON_GetArraySize(d) != cJSON_GetArraySize(l))
			return 0;
		for (int i = 0; i < cJSON_GetArraySize(d); i++)
			if (!subset(cJSON_GetArrayItem(d, i), cJSON_GetArrayItem(l, i)))
				return 0;
		return 1;
	}
	return cJSON_Compare(d, l, 1);
}

static enum keelson_object_state state_of(const cJSON *desired, const cJSON *live)
{
	return live == NULL ? KEELSON_OBJECT_MISSING : subset(desired, live) ? KEELSON_OBJECT_IN_SYNC
									     : KEELSON_OBJECT_DRIFTED;
}

static void do_plan_flags(unsigned flags, const cJSON *cm_live)
{
	keelson_plan_free(plan);
	plan = NULL;
	struct keelson_plan_object objects[2] = {
		{.desired = desired_cm, .live = cm_live, .state = cm_live ? KEELSON_OBJECT_IN_SYNC : KEELSON_OBJECT_MISSING,
		 .file = "configmap.yaml", .line = 1},
		{.desired = desired_sts, .live = live_sts, .state = state_of(desired_sts, live_sts),
		 .file = "statefulset.yaml", .line = 1},
	};
	struct keelson_plan_input in = {.cluster = "sim", .system = "kafka", .revision = "abc", .objects = objects,
					.object_count = 2, .params = params, .env = &fk.env, .view_flags = flags};
	int rc = keelson_plugin_plan(&plan, kafka, &in);
	ck_assert_msg(rc == 0, "plan failed: %s", keelson_error_last()->message);
}

static void do_plan(void)
{
	do_plan_flags(0, desired_cm);
}

static void assert_step(size_t i, enum keelson_step_kind kind, const char *has)
{
	ck_assert_msg(i < plan->count, "plan has %zu steps, wanted step %zu (%s)", plan->count, i + 1, has);
	const struct keelson_plan_step *s = &plan->steps[i];
	const char *text = kind == KEELSON_STEP_BLOCKED ? s->reason : s->description;
	ck_assert_msg(s->kind == kind, "step %zu is %s: %s", i + 1, keelson_step_kind_name(s->kind), s->description);
	ck_assert_msg(strstr(text, has) != NULL, "step %zu \"%s\" lacks \"%s\"", i + 1, text, has);
}

static void assert_gate(size_t i, const char *has)
{
	ck_assert_msg(i < plan->count, "no step %zu", i + 1);
	const char *gate = plan->steps[i].gate;
	ck_assert_msg(gate != NULL && strstr(gate, has) != NULL, "gate of step %zu \"%s\" lacks \"%s\"", i + 1,
		      gate ? gate : "(none)", has);
}

/* The pods deleted by the plan, in order: "kafka-4 kafka-3 ...". */
static const char *deletions(void)
{
	static char out[256];
	out[0] = '\0';
	for (size_t i = 0; i < plan->count; i++)
		if (plan->steps[i].kind == KEELSON_STEP_DELETE_POD)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", out[0] ? " " : "",
				 plan->steps[i].name);
	return out;
}

static char config_hash[17];

static void setup(void)
{
	char path[4096];
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	test_plugin_path(path, sizeof(path), "kafka", "kafka");
	ck_assert_msg(keelson_plugin_registry_load_file(registry, path) == 0, "%s", keelson_error_last()->message);
	kafka = keelson_plugin_registry_find(registry, "kafka");
	memset(&fk, 0, sizeof(fk));
	fk.pods = cJSON_CreateArray();
	fk.now = 1700000000000LL;
	fk.timeout_pod = -1;
	fk.env = (struct keelson_plugin_env){.version = KEELSON_PLUGIN_ENV_VERSION, .payload = &fk, .live_get = fk_get,
					     .live_list = fk_list, .http = fk_http, .now_ms = fk_now};
	desired_sts = cJSON_Parse(sts_desired_text);
	desired_cm = cJSON_Parse(cm_text);
	params = NULL;
	params_doc = NULL;
	plan = NULL;
	live_sts = NULL;
	parse_params("{\"statefulSets\":[\"kafka\"],\"metricsPort\":9404,\"restartTimeout\":\"2m\"}");
	/* The hash the plugin stamps, from its patch of a new StatefulSet. */
	do_plan();
	assert_step(1, KEELSON_STEP_PATCH, "patch StatefulSet kafka/kafka: updateStrategy OnDelete, "
					   "keelson.dev/config-hash ");
	cJSON *patch = cJSON_Parse(plan->steps[1].patch);
	const cJSON *hash = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(patch, "spec"), "template"),
				"metadata"),
			"annotations"),
		"keelson.dev/config-hash");
	ck_assert_ptr_nonnull(cJSON_GetStringValue(hash));
	snprintf(config_hash, sizeof(config_hash), "%s", cJSON_GetStringValue(hash));
	cJSON_Delete(patch);
	make_live(config_hash);
}

static void teardown(void)
{
	keelson_plan_free(plan);
	keelson_plugin_params_free(params);
	cJSON_Delete(params_doc);
	cJSON_Delete(desired_sts);
	cJSON_Delete(live_sts);
	cJSON_Delete(desired_cm);
	cJSON_Delete(fk.pods);
	for (int i = 0; i < 8; i++) {
		free(fk.metrics[i]);
		free(fk.ctrl_metrics[i]);
	}
	free(fk.cc_state);
	free(fk.cc_cluster_state);
	free(fk.cc_user_tasks);
	keelson_plugin_registry_free(registry);
}

START_TEST(test_missing_statefulset_created_empty)
{
	keelson_plan_free(plan);
	plan = NULL;
	cJSON_Delete(live_sts);
	live_sts = NULL;
	do_plan();
	/* Created without pods, made OnDelete with the hash, then the
	 * repository's object: no pod ever runs a template about to change. */
	ck_assert_uint_eq(plan->count, 3);
	assert_step(0, KEELSON_STEP_APPLY, "create StatefulSet kafka/kafka with 0 replicas");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(plan->steps[0].object, "spec");
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "replicas")), 0);
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(spec, "template"));
	assert_step(1, KEELSON_STEP_PATCH, "(new StatefulSet)");
	ck_assert_str_eq(plan->steps[1].kind_name, "StatefulSet");
	ck_assert_int_eq(plan->steps[1].patch_type, KEELSON_PATCH_MERGE);
	char expect[256];
	snprintf(expect, sizeof(expect), "{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\",\"rollingUpdate\":null},"
		 "\"template\":{\"metadata\":{\"annotations\":{\"keelson.dev/config-hash\":\"%s\"}}}}}", config_hash);
	ck_assert_str_eq(plan->steps[1].patch, expect);
	assert_step(2, KEELSON_STEP_APPLY, "apply StatefulSet kafka/kafka (5 replicas)");
	ck_assert_int_eq(cJSON_Compare(plan->steps[2].object, desired_sts, 1), 1);
	ck_assert_uint_eq(strlen(config_hash), 16);
}
END_TEST

START_TEST(test_converged)
{
	healthy("rev2", 1);
	do_plan();
	ck_assert_uint_eq(plan->count, 0);
}
END_TEST

static void ready_since(const char *time)
{
	const cJSON *pod;
	cJSON_ArrayForEach(pod, fk.pods) {
		cJSON *c = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "status"), "conditions"), 0);
		cJSON_DeleteItemFromObjectCaseSensitive(c, "lastTransitionTime");
		cJSON_AddStringToObject(c, "lastTransitionTime", time);
	}
}

START_TEST(test_idle_not_probed)
{
	/* Every pod Ready for long (fake now: 2023-11-14T22:13:20Z) and up to
	 * date: no scrape at all. */
	healthy("rev2", 1);
	set_metrics(0, 5, 0, 0, 0, 18);
	ready_since("2023-11-14T20:00:00Z");
	do_plan();
	ck_assert_uint_eq(plan->count, 0);
	ck_assert_uint_eq(fk.http_calls, 0);
	/* A pod Ready for a minute only: its catch-up is checked. */
	ready_since("2023-11-14T22:12:20.5+00:00");
	do_plan();
	ck_assert_uint_eq(fk.http_calls, NBROKERS);
	assert_step(0, KEELSON_STEP_WAIT, "wait until every broker is back and caught up: URP 5");
}
END_TEST

START_TEST(test_roll_order_controller_last)
{
	healthy("rev1", 1);
	do_plan();
	ck_assert_str_eq(deletions(), "kafka-4 kafka-3 kafka-2 kafka-0 kafka-1");
	assert_step(0, KEELSON_STEP_DELETE_POD, "restart kafka-4: delete pod kafka/kafka-4 (out of date;");
	ck_assert_str_eq(plan->steps[0].precondition_uid, "u4");
	ck_assert_str_eq(plan->steps[0].gate,
			 "all 5 brokers Ready, URP 0, UnderMinIsr 0, offline 0, 1 active controller (broker 1)");
	assert_step(1, KEELSON_STEP_WAIT, "wait until kafka-4 is back (new pod Ready, caught up: URP 0) before "
					 "restarting kafka-3, within 120s");
	ck_assert_int_eq(plan->steps[1].timeout_ms, 120000);
	assert_step(8, KEELSON_STEP_DELETE_POD, "restart kafka-1: delete pod kafka/kafka-1 (out of date, active "
						"controller last;");
	assert_step(9, KEELSON_STEP_WAIT, "wait until kafka-1 is back");
	ck_assert_uint_eq(plan->count, 10);
}
END_TEST

START_TEST(test_not_ready_first)
{
	/* kafka-1 is out of date and not Ready (not stuck): it goes first, and
	 * the rollout waits for it to become Ready rather than restarting it
	 * under a failing gate. */
	healthy("rev1", 3);
	cJSON_DeleteItemFromArray(fk.pods, 1);
	add_pod(1, "u1", "rev1", 0, NULL, 0);
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "wait before restarting kafka-1: kafka-1 is not Ready");
	ck_assert_str_eq(plan->steps[0].key, "kafka roll kafka/kafka to rev2: 5 left");
	ck_assert_str_eq(deletions(), "kafka-1 kafka-4 kafka-2 kafka-0 kafka-3");
}
END_TEST

START_TEST(test_gate_urp_umi_offline_controllers)
{
	struct {
		int urp, umi, offline, active0, active1;
		const char *why;
	} cases[] = {
		{3, 0, 0, 1, 0, "URP 3, UnderMinIsr 0, offline 0"},
		{0, 2, 0, 1, 0, "URP 0, UnderMinIsr 2, offline 0"},
		{0, 0, 1, 1, 0, "URP 0, UnderMinIsr 0, offline 1"},
		{0, 0, 0, 1, 1, "2 active controllers reported, exactly 1 needed"},
		{0, 0, 0, 0, 0, "0 active controllers reported, exactly 1 needed"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		cJSON_Delete(fk.pods);
		fk.pods = cJSON_CreateArray();
		healthy("rev1", -1);
		set_metrics(0, cases[c].urp, cases[c].umi, cases[c].offline, cases[c].active0, 18);
		set_metrics(1, 0, 0, 0, cases[c].active1, 18);
		do_plan();
		assert_step(0, KEELSON_STEP_WAIT, cases[c].why);
		ck_assert_str_eq(plan->steps[0].key, "kafka roll kafka/kafka to rev2: 5 left");
		ck_assert_int_eq(plan->steps[0].timeout_ms, 120000);
		/* The rest is still shown, gated. */
		assert_step(1, KEELSON_STEP_DELETE_POD, "restart kafka-4");
	}
}
END_TEST

START_TEST(test_metrics_fail_closed)
{
	struct {
		const char *body;
		const char *why;
	} cases[] = {
		{NULL, "GET kafka-2:9404/metrics failed: fake: 503"},
		{"kafka_server_replicamanager_underreplicatedpartitions zero\n", "unparsable metrics (line 1: the value"},
		{"kafka_server_replicamanager_underreplicatedpartitions{topic=\"a 0\n", "unparsable metrics (line 1: "
											  "malformed labels"},
		{"kafka_server_replicamanager_underreplicatedpartitions NaN\n", "is nan"},
		{"kafka_server_replicamanager_underminisrpartitioncount 0\nkafka_server_replicamanager_partitioncount 3\n",
		 "lack kafka_server_replicamanager_underreplicatedpartitions"},
		{"", "lack kafka_server_replicamanager_underreplicatedpartitions"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		cJSON_Delete(fk.pods);
		fk.pods = cJSON_CreateArray();
		healthy("rev1", 0);
		set_body(2, cases[c].body);
		do_plan();
		assert_step(0, KEELSON_STEP_WAIT, cases[c].why);
		assert_step(0, KEELSON_STEP_WAIT, "(gate fails closed)");
	}
}
END_TEST

START_TEST(test_scrape_timeout_bounds_plan)
{
	/* A pod that does not answer: the others are not scraped (one plan
	 * waits one probe timeout at most), the gate waits. */
	healthy("rev1", 0);
	fk.timeout_pod = 1;
	do_plan();
	ck_assert_uint_eq(fk.http_calls, 2);
	assert_step(0, KEELSON_STEP_WAIT, "GET kafka-1:9404/metrics failed: fake: timed out after 10 s (gate fails "
					  "closed)");
}
END_TEST

static void set_replicas(cJSON *sts, int n)
{
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(sts, "spec"), "replicas",
					       cJSON_CreateNumber(n));
}

START_TEST(test_controllers_first)
{
	/* KRaft controllers in their own StatefulSet, listed first: they roll
	 * before any broker, their active one last of them; they expose no
	 * replica metrics. */
	cJSON *ctrl = cJSON_Parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"ctrl\","
				  "\"namespace\":\"kafka\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":"
				  "{\"app\":\"ctrl\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"ctrl\"}},"
				  "\"spec\":{\"containers\":[{\"name\":\"kafka\",\"image\":\"apache/kafka:3.7.1\"}]}}}}");
	cJSON *ctrl_live = cJSON_Duplicate(ctrl, 1);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(ctrl_live, "spec"),
							"updateStrategy"), "type", "OnDelete");
	cJSON *status = cJSON_AddObjectToObject(ctrl_live, "status");
	cJSON_AddStringToObject(status, "updateRevision", "crev2");
	cJSON_AddNumberToObject(status, "observedGeneration", 0);
	set_replicas(desired_sts, 3);
	set_replicas(live_sts, 3);
	parse_params("{\"statefulSets\":[\"ctrl\",\"kafka\"],\"controllerStatefulSets\":[\"ctrl\"],"
		     "\"metricsPort\":9404}");
	char uid[16], name[16], text[512];
	for (int i = 0; i < 3; i++) {
		snprintf(uid, sizeof(uid), "u%d", i);
		add_pod(i, uid, "rev1", 1, NULL, 0);
		set_metrics(i, 0, 0, 0, 0, 18);
		snprintf(name, sizeof(name), "ctrl-%d", i);
		snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"kafka\",\"uid\":\"c%d\","
			 "\"labels\":{\"app\":\"ctrl\",\"controller-revision-hash\":\"crev1\"}},\"status\":{\"phase\":"
			 "\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}", name, i);
		cJSON_AddItemToArray(fk.pods, cJSON_Parse(text));
		snprintf(text, sizeof(text), "kafka_controller_kafkacontroller_activecontrollercount %d\n"
			 "kafka_controller_kafkacontroller_offlinepartitionscount 0\n", i == 1);
		fk.ctrl_metrics[i] = strdup(text);
	}
	struct keelson_plan_object objects[3] = {
		{.desired = desired_cm, .live = desired_cm, .state = KEELSON_OBJECT_IN_SYNC, .file = "cm.yaml"},
		{.desired = ctrl, .live = ctrl_live, .state = KEELSON_OBJECT_IN_SYNC, .file = "ctrl.yaml"},
		{.desired = desired_sts, .live = live_sts, .state = KEELSON_OBJECT_IN_SYNC, .file = "sts.yaml"},
	};
	struct keelson_plan_input in = {.cluster = "sim", .system = "kafka", .objects = objects, .object_count = 3,
					.params = params, .env = &fk.env};
	keelson_plan_free(plan);
	ck_assert_int_eq(keelson_plugin_plan(&plan, kafka, &in), 0);
	ck_assert_msg(plan->count > 0 && plan->steps[0].kind == KEELSON_STEP_DELETE_POD, "first step: %s",
		      plan->count ? plan->steps[0].description : "none");
	ck_assert_str_eq(deletions(), "ctrl-2 ctrl-0 ctrl-1 kafka-2 kafka-1 kafka-0");
	ck_assert_str_eq(plan->steps[0].gate,
			 "all 6 Kafka nodes Ready, URP 0, UnderMinIsr 0, offline 0, 1 active controller (ctrl-1)");
	/* A controller pod without controller metrics: fail closed. */
	free(fk.ctrl_metrics[0]);
	fk.ctrl_metrics[0] = strdup("# nothing\n");
	keelson_plan_free(plan);
	ck_assert_int_eq(keelson_plugin_plan(&plan, kafka, &in), 0);
	assert_step(0, KEELSON_STEP_WAIT, "wait before restarting ctrl-2: metrics of ctrl-0 lack "
					  "kafka_controller_kafkacontroller_activecontrollercount");
	cJSON_Delete(ctrl);
	cJSON_Delete(ctrl_live);
}
END_TEST

START_TEST(test_restart_in_flight)
{
	/* kafka-4 was deleted: terminating, then new and not Ready; the key
	 * stays the same through all of it, so its timeout counts once. */
	healthy("rev2", 0);
	cJSON_DeleteItemFromArray(fk.pods, 4);
	cJSON_DeleteItemFromArray(fk.pods, 3);
	add_pod(3, "u3", "rev1", 1, NULL, 0);
	add_pod(4, "u4", "rev1", 1, NULL, 1);
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "wait before restarting kafka-3: kafka-4 is terminating (restarting)");
	char key[256];
	snprintf(key, sizeof(key), "%s", plan->steps[0].key);
	ck_assert_str_eq(key, "kafka roll kafka/kafka to rev2: 1 left");
	cJSON_DeleteItemFromArray(fk.pods, 4);
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "kafka-4 does not exist yet");
	ck_assert_str_eq(plan->steps[0].key, key);
	add_pod(4, "u4new", "rev2", 0, NULL, 0);
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "kafka-4 is not Ready (runs the new version; waiting for it to start)");
	ck_assert_str_eq(plan->steps[0].key, key);
	cJSON_DeleteItemFromArray(fk.pods, 4);
	add_pod(4, "u4new", "rev2", 1, NULL, 0);
	set_metrics(0, 4, 0, 0, 1, 18); /* kafka-4 not back in the ISRs yet */
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "URP 4");
	ck_assert_str_eq(plan->steps[0].key, key);
	set_metrics(0, 0, 0, 0, 1, 18);
	do_plan();
	assert_step(0, KEELSON_STEP_DELETE_POD, "restart kafka-3");
	/* After the last restart: the settle wait, then converged. */
	cJSON_DeleteItemFromArray(fk.pods, 3);
	add_pod(3, "u3new", "rev2", 1, NULL, 0);
	set_metrics(0, 2, 0, 0, 1, 18);
	do_plan();
	ck_assert_uint_eq(plan->count, 1);
	assert_step(0, KEELSON_STEP_WAIT, "wait until every broker is back and caught up: URP 2");
	ck_assert_str_eq(plan->steps[0].key, "kafka roll kafka/kafka to rev2: 0 left");
	set_metrics(0, 0, 0, 0, 1, 18);
	do_plan();
	ck_assert_uint_eq(plan->count, 0);
}
END_TEST

START_TEST(test_stuck_pods)
{
	/* Out of date and crash-looping: replaced without the gate, even with
	 * partitions under-replicated (it is down already). */
	healthy("rev1", 0);
	cJSON_DeleteItemFromArray(fk.pods, 2);
	add_pod(2, "u2", "rev1", 0, "CrashLoopBackOff", 0);
	set_body(2, NULL);
	set_metrics(0, 6, 0, 0, 1, 18);
	do_plan();
	assert_step(0, KEELSON_STEP_DELETE_POD, "restart kafka-2: delete pod kafka/kafka-2 (out of date, stuck: "
						"CrashLoopBackOff;");
	assert_gate(0, "kafka-2 is stuck (CrashLoopBackOff) and out of date: replaced without the metrics gate");
	ck_assert_uint_eq(plan->count, 1);

	/* Up to date and stuck: the new version does not start: blocked. */
	cJSON_DeleteItemFromArray(fk.pods, 4);
	add_pod(2, "u2new", "rev2", 0, "ImagePullBackOff", 0);
	do_plan();
	ck_assert_uint_eq(plan->count, 1);
	assert_step(0, KEELSON_STEP_BLOCKED, "kafka/kafka-2 runs the new version but is stuck (ImagePullBackOff); no "
					     "other broker is restarted");
}
END_TEST

START_TEST(test_pods_unreadable)
{
	healthy("rev1", 0);
	fk.fail_list = 1;
	do_plan();
	ck_assert_uint_eq(plan->count, 1);
	assert_step(0, KEELSON_STEP_WAIT, "the pods of kafka/kafka cannot be read (gate fails closed)");
	ck_assert_int_eq(plan->steps[0].timeout_ms, 120000);
}
END_TEST

START_TEST(test_rolling_update_refused)
{
	cJSON *strategy = cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(desired_sts, "spec"),
						  "updateStrategy");
	cJSON_AddStringToObject(strategy, "type", "RollingUpdate");
	healthy("rev1", 0);
	do_plan();
	ck_assert_uint_eq(plan->count, 1);
	assert_step(0, KEELSON_STEP_BLOCKED, "StatefulSet kafka/kafka sets spec.updateStrategy.type RollingUpdate "
					     "(statefulset.yaml:1)");
	ck_assert_uint_eq(fk.http_calls, 0);
}
END_TEST

START_TEST(test_live_rolling_update_switched)
{
	/* Someone set RollingUpdate by hand: applied back to OnDelete first. */
	healthy("rev2", 0);
	cJSON *strategy = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(live_sts, "spec"),
							   "updateStrategy");
	cJSON_ReplaceItemInObjectCaseSensitive(strategy, "type", cJSON_CreateString("RollingUpdate"));
	do_plan();
	assert_step(0, KEELSON_STEP_PATCH, "patch StatefulSet kafka/kafka: updateStrategy OnDelete, "
					   "keelson.dev/config-hash");
	assert_step(0, KEELSON_STEP_PATCH, "(updateStrategy RollingUpdate -> OnDelete)");
	ck_assert_uint_eq(plan->count, 1);
}
END_TEST

START_TEST(test_config_change_rolls)
{
	healthy("rev2", 0);
	cJSON *data = cJSON_GetObjectItemCaseSensitive(desired_cm, "data");
	cJSON_ReplaceItemInObjectCaseSensitive(data, "server.properties", cJSON_CreateString("num.partitions=12\n"));
	cJSON *cm_live = cJSON_Parse(cm_text);
	do_plan_flags(0, cm_live);
	cJSON_Delete(cm_live);
	/* The ConfigMap (drifted in a real view; here the hash tells), then
	 * the StatefulSet with the new hash, then every pod. */
	char expect[128];
	snprintf(expect, sizeof(expect), "broker configuration changed: config hash %s -> ", config_hash);
	assert_step(0, KEELSON_STEP_PATCH, expect);
	ck_assert_str_eq(deletions(), "kafka-4 kafka-3 kafka-2 kafka-1 kafka-0");
	/* Reordering keys changes nothing. */
	cJSON_Delete(desired_cm);
	desired_cm = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kafka-config\","
				 "\"namespace\":\"kafka\"},\"data\":{\"log4j.properties\":\"x\","
				 "\"server.properties\":\"num.partitions=6\\n\"}}");
	do_plan();
	ck_assert_uint_eq(plan->count, 0);
}
END_TEST

static void with_cc(const char *cluster_state)
{
	parse_params("{\"statefulSets\":[\"kafka\"],\"metricsPort\":9404,\"restartTimeout\":\"2m\","
		     "\"cruiseControlService\":\"cc\",\"rebalanceTimeout\":\"10m\"}");
	fk.cc_state = strdup("{\"ExecutorState\":{\"state\":\"NO_TASK_IN_PROGRESS\"},\"version\":1}");
	fk.cc_cluster_state = strdup(cluster_state);
	fk.cc_user_tasks = strdup("{\"userTasks\":[],\"version\":1}");
}

static char *cluster_state(const char *partition)
{
	static char text[2048];
	snprintf(text, sizeof(text),
		 "{\"KafkaBrokerState\":{},\"KafkaPartitionState\":{\"offline\":[],\"urp\":[],\"under-min-isr\":[],"
		 "\"with-offline-replicas\":[],\"other\":[%s]},\"version\":1}", partition);
	return text;
}

START_TEST(test_cruise_control_min_isr_rule)
{
	struct {
		const char *partition;
		int allowed;
		const char *why;
	} cases[] = {
		{"{\"topic\":\"t\",\"partition\":0,\"leader\":4,\"replicas\":[4,0,1],\"in-sync\":[4,0,1],\"min-isr\":2}", 1, ""},
		{"{\"topic\":\"t\",\"partition\":1,\"leader\":4,\"replicas\":[4,0,1],\"in-sync\":[4,0],\"min-isr\":2}", 0,
		 "partition t-1 has exactly min.insync.replicas 2 in sync, broker 4 among them"},
		{"{\"topic\":\"t\",\"partition\":2,\"leader\":0,\"replicas\":[4,0,1],\"in-sync\":[0],\"min-isr\":2}", 0,
		 "partition t-2 has 1 in-sync replicas, below its min.insync.replicas 2"},
		/* At min ISR without broker 4 in sync: its restart changes nothing. */
		{"{\"topic\":\"t\",\"partition\":3,\"leader\":0,\"replicas\":[4,0,1],\"in-sync\":[0,1],\"min-isr\":2}", 1, ""},
		/* replicas <= min ISR: unavailable for acks=all anyway. */
		{"{\"topic\":\"t\",\"partition\":4,\"leader\":4,\"replicas\":[4,0],\"in-sync\":[4,0],\"min-isr\":2}", 1, ""},
		/* Not a replica of broker 4. */
		{"{\"topic\":\"t\",\"partition\":5,\"leader\":0,\"replicas\":[0,1,2],\"in-sync\":[0],\"min-isr\":2}", 1, ""},
		{"{\"topic\":\"t\",\"partition\":6,\"leader\":4,\"replicas\":[4,0,1],\"in-sync\":[4,0,1]}", 0,
		 "lacks topic, in-sync or min-isr"},
	};
	healthy("rev1", 0);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		free(fk.cc_state);
		free(fk.cc_cluster_state);
		free(fk.cc_user_tasks);
		with_cc(cluster_state(cases[c].partition));
		do_plan();
		if (cases[c].allowed) {
			assert_step(0, KEELSON_STEP_DELETE_POD, "restart kafka-4");
			assert_gate(0, ", Cruise Control idle, no partition of broker 4 at min ISR");
		} else {
			assert_step(0, KEELSON_STEP_WAIT, cases[c].why);
		}
	}
	/* Cruise Control busy, unreachable, not JSON: wait. */
	free(fk.cc_state);
	fk.cc_state = strdup("{\"ExecutorState\":{\"state\":\"INTER_BROKER_REPLICA_MOVEMENT_TASK_IN_PROGRESS\","
			     "\"triggeredUserTaskId\":\"t-1\"}}");
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "Cruise Control's executor is INTER_BROKER_REPLICA_MOVEMENT_TASK_IN_PROGRESS, "
					  "task t-1");
	free(fk.cc_state);
	fk.cc_state = NULL;
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "Cruise Control kafka/cc:9090 GET /kafkacruisecontrol/state?json=true failed");
	assert_step(0, KEELSON_STEP_WAIT, "(fails closed)");
	fk.cc_state = strdup("<html>proxy error</html>");
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "answered something that is not JSON (fails closed)");
}
END_TEST


START_TEST(test_scale_down)
{
	healthy("rev2", 0);
	set_replicas(desired_sts, 3);
	/* Without Cruise Control, brokers holding replicas: refused. */
	do_plan();
	ck_assert_uint_eq(plan->count, 1);
	assert_step(0, KEELSON_STEP_BLOCKED, "scale-down of kafka/kafka from 5 to 3 refused: brokers 3 (18 replicas), "
					     "4 (18 replicas) still hold partition replicas");
	/* Empty: the StatefulSet shrinks, gated on it. */
	set_metrics(3, 0, 0, 0, 0, 0);
	set_metrics(4, 0, 0, 0, 0, 0);
	do_plan();
	assert_step(0, KEELSON_STEP_APPLY, "apply StatefulSet kafka/kafka (replicas 5 -> 3");
	assert_gate(0, "brokers 3,4 hold no partition replica");

	/* With Cruise Control: remove_broker first. */
	set_metrics(3, 0, 0, 0, 0, 5);
	with_cc(cluster_state("{\"topic\":\"t\",\"partition\":0,\"leader\":4,\"replicas\":[4,0,1],"
			      "\"in-sync\":[4,0,1],\"min-isr\":2}"));
	do_plan();
	assert_step(0, KEELSON_STEP_HTTP, "ask Cruise Control to move every replica off brokers 3,4 (remove_broker, "
					  "dryrun=false): they hold 3 (5 replicas)");
	ck_assert_str_eq(plan->steps[0].http_method, "POST");
	ck_assert_str_eq(plan->steps[0].http_path, "/kafkacruisecontrol/remove_broker?brokerid=3,4&dryrun=false");
	ck_assert_int_eq(plan->steps[0].http_target, KEELSON_PROXY_SERVICE);
	assert_step(1, KEELSON_STEP_WAIT, "wait for Cruise Control to empty brokers 3,4");

	/* The task runs (found again by its URL after a restart). */
	free(fk.cc_user_tasks);
	fk.cc_user_tasks = strdup("{\"userTasks\":[{\"UserTaskId\":\"old\",\"RequestURL\":\"POST /kafkacruisecontrol/"
				  "remove_broker?brokerid=3,4&dryrun=false\",\"StartMs\":\"100\",\"Status\":\"Completed\"},"
				  "{\"UserTaskId\":\"t-9\",\"RequestURL\":\"POST /kafkacruisecontrol/remove_broker?"
				  "brokerid=3%2C4&dryrun=false\",\"StartMs\":\"200\",\"Status\":\"InExecution\"},"
				  "{\"UserTaskId\":\"dry\",\"RequestURL\":\"POST /kafkacruisecontrol/remove_broker?"
				  "brokerid=3,4\",\"StartMs\":\"300\",\"Status\":\"Active\"}],\"version\":1}");
	do_plan();
	ck_assert_uint_eq(plan->count, 1);
	assert_step(0, KEELSON_STEP_WAIT, "wait for Cruise Control task t-9 (remove_broker 3,4, InExecution)");
	ck_assert_int_eq(plan->steps[0].timeout_ms, 600000);

	/* It failed: refused. */
	free(fk.cc_user_tasks);
	fk.cc_user_tasks = strdup("{\"userTasks\":[{\"UserTaskId\":\"t-9\",\"RequestURL\":\"POST /kafkacruisecontrol/"
				  "remove_broker?brokerid=3,4&dryrun=false\",\"StartMs\":\"200\",\"Status\":"
				  "\"CompletedWithError\",\"originalResponse\":\"{\\\"errorMessage\\\":\\\"stopped\\\"}\"}]}");
	do_plan();
	assert_step(0, KEELSON_STEP_BLOCKED, "Cruise Control task t-9 (remove_broker 3,4) failed: stopped");

	/* More replicas than brokers would remain: refused before asking. */
	free(fk.cc_user_tasks);
	fk.cc_user_tasks = strdup("{\"userTasks\":[]}");
	set_replicas(desired_sts, 2);
	do_plan();
	assert_step(0, KEELSON_STEP_BLOCKED, "scale-down of kafka/kafka from 5 to 2 refused: brokers 2 (18 replicas), 3 "
					     "(5 replicas) hold replicas and partition t-0 has 3 replicas, more than the 2 "
					     "brokers that would remain");
}
END_TEST

START_TEST(test_scale_up)
{
	healthy("rev2", 0);
	set_metrics(3, 0, 0, 0, 0, 0);
	set_metrics(4, 0, 0, 0, 0, 0);
	/* Without Cruise Control the new brokers stay empty: converged. */
	do_plan();
	ck_assert_uint_eq(plan->count, 0);
	with_cc(cluster_state(""));
	do_plan();
	assert_step(0, KEELSON_STEP_HTTP, "ask Cruise Control to move partitions onto new brokers 3,4 (add_broker, "
					  "dryrun=false)");
	ck_assert_str_eq(plan->steps[0].http_path, "/kafkacruisecontrol/add_broker?brokerid=3,4&dryrun=false");
	free(fk.cc_user_tasks);
	fk.cc_user_tasks = strdup("{\"userTasks\":[{\"UserTaskId\":\"a-1\",\"RequestURL\":\"POST /kafkacruisecontrol/"
				  "add_broker?brokerid=3,4&dryrun=false\",\"StartMs\":\"5\",\"Status\":\"Active\"}]}");
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "wait for Cruise Control task a-1 (add_broker 3,4, Active)");
	free(fk.cc_user_tasks);
	fk.cc_user_tasks = strdup("{\"userTasks\":[{\"UserTaskId\":\"a-1\",\"RequestURL\":\"POST /kafkacruisecontrol/"
				  "add_broker?brokerid=3,4&dryrun=false\",\"StartMs\":\"5\",\"Status\":\"Completed\"}]}");
	do_plan();
	ck_assert_uint_eq(plan->count, 0);
	/* Unreachable while brokers are empty: wait, fail closed. */
	free(fk.cc_state);
	fk.cc_state = NULL;
	do_plan();
	assert_step(0, KEELSON_STEP_WAIT, "wait before moving partitions onto new brokers 3,4: Cruise Control");
}
END_TEST

START_TEST(test_preview)
{
	/* Base revision: image 3.7.0, 5 replicas, as the repository writes
	 * it (no config hash). No pods, no probes. */
	make_live(NULL);
	cJSON *container = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(live_sts, "spec"), "template"), "spec"),
		"containers"), 0);
	cJSON_ReplaceItemInObjectCaseSensitive(container, "image", cJSON_CreateString("apache/kafka:3.7.0"));
	do_plan_flags(KEELSON_VIEW_PREVIEW, desired_cm);
	ck_assert_uint_eq(fk.http_calls, 0);
	assert_step(0, KEELSON_STEP_APPLY, "apply StatefulSet kafka/kafka (pod template changed");
	ck_assert_str_eq(deletions(), "kafka-4 kafka-3 kafka-2 kafka-1 kafka-0");
	assert_gate(1, "all 5 brokers Ready, URP 0, UnderMinIsr 0, offline 0, 1 active controller; active controller "
		       "last, decided at run time");
	ck_assert_uint_eq(plan->count, 11);

	/* A scale-down in preview: remove, wait, shrink, no roll. */
	set_replicas(desired_sts, 3);
	cJSON_ReplaceItemInObjectCaseSensitive(container, "image", cJSON_CreateString("apache/kafka:3.7.1"));
	do_plan_flags(KEELSON_VIEW_PREVIEW, desired_cm);
	assert_step(0, KEELSON_STEP_WAIT, "wait until brokers 3,4 hold no partition replica (refused otherwise)");
	assert_step(1, KEELSON_STEP_APPLY, "apply StatefulSet kafka/kafka (replicas 5 -> 3");
	ck_assert_uint_eq(plan->count, 2);
}
END_TEST

/* --- the Prometheus parser ------------------------------------------------ */

struct collected {
	char names[8][128];
	double values[8];
	char topic[8][64];
	int n;
};

static int collect(void *ctx, const struct kafka_prom_sample *s)
{
	struct collected *c = ctx;
	if (c->n >= 8)
		return 1;
	snprintf(c->names[c->n], sizeof(c->names[0]), "%.*s", (int)s->name_len, s->name);
	c->values[c->n] = s->value;
	if (kafka_prom_label(s, "topic", c->topic[c->n], sizeof(c->topic[0])) != 0)
		snprintf(c->topic[c->n], sizeof(c->topic[0]), "-");
	c->n++;
	return 0;
}

START_TEST(test_prometheus_parser)
{
	const char *text = "# HELP a x\n# TYPE a gauge\n\na 1\r\n"
			   "b{topic=\"t\\\"1\",partition=\"0\",} 2.5e1 1700000000000\n"
			   "  c{} +Inf\nd -3\n";
	struct collected c = {0};
	char err[200];
	ck_assert_int_eq(kafka_prom_parse(text, strlen(text), collect, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.n, 4);
	ck_assert_str_eq(c.names[0], "a");
	ck_assert(c.values[0] == 1);
	ck_assert_str_eq(c.names[1], "b");
	ck_assert(c.values[1] == 25);
	ck_assert_str_eq(c.topic[1], "t\"1");
	ck_assert_str_eq(c.topic[0], "-");
	ck_assert(isinf(c.values[2]));
	ck_assert(c.values[3] == -3);

	static const char *const bad[] = {
		"a\n", "a 1 2 3\n", "1a 2\n", "a{b=\"c} 1\n", "a{b=c} 1\n", "a 0x10\n", "a{b=\"c\"}1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct collected none = {0};
		ck_assert_msg(kafka_prom_parse(bad[i], strlen(bad[i]), collect, &none, err, sizeof(err)) == -1,
			      "accepted %s", bad[i]);
		ck_assert_ptr_nonnull(strstr(err, "line 1: "));
	}
	/* A NUL inside, an over-long line, an oversized body: refused. */
	struct collected none = {0};
	ck_assert_int_eq(kafka_prom_parse("a 1\0b", 5, collect, &none, err, sizeof(err)), -1);
	size_t long_len = KAFKA_PROM_MAX_LINE + 10;
	char *long_line = malloc(long_len);
	memset(long_line, 'a', long_len);
	ck_assert_int_eq(kafka_prom_parse(long_line, long_len, collect, &none, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "longer than"));
	free(long_line);
	ck_assert_int_eq(kafka_prom_parse("a 1\n", (size_t)KAFKA_PROM_MAX_BODY + 1, collect, &none, err, sizeof(err)),
			 -1);
}
END_TEST

Suite *suite_kafka_plan(void);
Suite *suite_kafka_plan(void)
{
	Suite *s = suite_create("kafka_plan");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"missing_sts_created_empty", test_missing_statefulset_created_empty},
		{"converged", test_converged},
		{"idle_not_probed", test_idle_not_probed},
		{"roll_order_controller_last", test_roll_order_controller_last},
		{"not_ready_first", test_not_ready_first},
		{"gate_urp_umi_offline_controllers", test_gate_urp_umi_offline_controllers},
		{"metrics_fail_closed", test_metrics_fail_closed},
		{"scrape_timeout_bounds_plan", test_scrape_timeout_bounds_plan},
		{"controllers_first", test_controllers_first},
		{"restart_in_flight", test_restart_in_flight},
		{"stuck_pods", test_stuck_pods},
		{"pods_unreadable", test_pods_unreadable},
		{"rolling_update_refused", test_rolling_update_refused},
		{"live_rolling_update_switched", test_live_rolling_update_switched},
		{"config_change_rolls", test_config_change_rolls},
		{"cruise_control_min_isr", test_cruise_control_min_isr_rule},
		{"scale_down", test_scale_down},
		{"scale_up", test_scale_up},
		{"preview", test_preview},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	TCase *tc = tcase_create("prometheus_parser");
	tcase_add_test(tc, test_prometheus_parser);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_kafka_plan)
