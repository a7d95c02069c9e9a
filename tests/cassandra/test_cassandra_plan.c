/*
 * The cassandra plugin's planner against a fake host: pods in memory and a
 * fake Management API (gossip views, keyspaces) answering the probes.
 * Order, gates, fail-closed waits, scaling, refusals and the preview.
 */
#include "config.h"

#include "core/error.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* The hash of "no ConfigMap": FNV-1a's offset basis. */
#define EMPTY_HASH "cbf29ce484222325"

struct node {
	char pod[64], ip[32], status[16];
	int alive;
};

struct fake {
	struct keelson_plugin_env env;
	cJSON *pods, *pvcs;
	struct node nodes[16];
	int nnodes;
	int fail_http;
	int rf;
	int schemas; /* schema versions the ring reports (0: 1) */
	unsigned http_calls, list_calls;
};

static struct fake F;
static struct keelson_plugin_registry *registry;
static const struct keelson_plugin *cassandra;

static int fake_get(cJSON **out, void *payload, const char *av, const char *kind, const char *ns, const char *name)
{
	struct fake *f = payload;
	(void)av, (void)ns;
	*out = NULL;
	const cJSON *pvc;
	cJSON_ArrayForEach(pvc, f->pvcs) {
		const cJSON *md = cJSON_GetObjectItem(pvc, "metadata");
		if (strcmp(kind, "PersistentVolumeClaim") == 0 &&
		    strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(md, "name")), name) == 0) {
			*out = cJSON_Duplicate(pvc, 1);
			return 0;
		}
	}
	return keelson_error_set(KEELSON_ENOTFOUND, "fake: %s %s not found", kind, name);
}

static void pvc(const char *name, const char *size)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
		 "\"%s\",\"namespace\":\"cass\",\"uid\":\"uid-pvc-%s\"},\"spec\":{\"resources\":{\"requests\":"
		 "{\"storage\":\"%s\"}}}}", name, name, size);
	cJSON_AddItemToArray(F.pvcs, cJSON_Parse(text));
}

static int fake_list(cJSON **out, void *payload, const char *av, const char *kind, const char *ns, const char *selector)
{
	struct fake *f = payload;
	(void)av;
	f->list_calls++;
	*out = cJSON_CreateArray();
	const cJSON *pod;
	if (strcmp(kind, "PersistentVolumeClaim") == 0) {
		cJSON_ArrayForEach(pod, f->pvcs)
			cJSON_AddItemToArray(*out, cJSON_Duplicate(pod, 1));
		return 0;
	}
	cJSON_ArrayForEach(pod, f->pods) {
		const cJSON *md = cJSON_GetObjectItem(pod, "metadata");
		if (strcmp(kind, "Pod") == 0 && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(md, "namespace")), ns) == 0 &&
		    keelson_label_selector_match(selector, cJSON_GetObjectItem(md, "labels")) == 1)
			cJSON_AddItemToArray(*out, cJSON_Duplicate(pod, 1));
	}
	return 0;
}

static int fake_http(long *status, char **body, size_t *len, void *payload, enum keelson_proxy_target target,
		     const char *ns, const char *name, const char *port, const char *method, const char *path,
		     const char *req_body, long long timeout_ms)
{
	struct fake *f = payload;
	(void)target, (void)ns, (void)name, (void)req_body, (void)timeout_ms;
	f->http_calls++;
	*body = NULL;
	*len = 0;
	if (f->fail_http || port == NULL || strcmp(port, "8080") != 0)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: connection refused");
	cJSON *answer = NULL;
	if (strcmp(method, "GET") == 0 && strcmp(path, "/api/v0/metadata/endpoints") == 0) {
		answer = cJSON_CreateObject();
		cJSON *arr = cJSON_AddArrayToObject(answer, "entity");
		for (int i = 0; i < f->nnodes; i++) {
			cJSON *e = cJSON_CreateObject();
			char gossip[64];
			snprintf(gossip, sizeof(gossip), "%s,-1234", f->nodes[i].status);
			cJSON_AddStringToObject(e, "DC", "dc1");
			cJSON_AddStringToObject(e, "RACK", "rack1");
			cJSON_AddStringToObject(e, "ENDPOINT_IP", f->nodes[i].ip);
			cJSON_AddStringToObject(e, "IS_ALIVE", f->nodes[i].alive ? "true" : "false");
			cJSON_AddStringToObject(e, "STATUS", gossip);
			cJSON_AddItemToArray(arr, e);
		}
	} else if (strcmp(path, "/api/v1/ops/node/schema/versions") == 0) {
		answer = f->schemas > 1 ? cJSON_Parse("{\"a1\":[\"10.0.4.1\"],\"b2\":[\"10.0.4.2\"]}")
				       : cJSON_Parse("{\"a1\":[\"10.0.4.1\",\"10.0.4.2\"],\"UNREACHABLE\":[\"10.0.4.3\"]}");
	} else if (strcmp(path, "/api/v0/ops/keyspace") == 0) {
		answer = cJSON_Parse("[\"system\",\"system_auth\",\"app\"]");
	} else if (strcmp(path, "/api/v0/ops/keyspace/replication?keyspaceName=system") == 0) {
		answer = cJSON_Parse("{\"class\":\"org.apache.cassandra.locator.LocalStrategy\"}");
	} else if (strncmp(path, "/api/v0/ops/keyspace/replication?keyspaceName=", 46) == 0) {
		char text[128];
		snprintf(text, sizeof(text), "{\"class\":\"org.apache.cassandra.locator.NetworkTopologyStrategy\","
			 "\"dc1\":\"%d\"}", strcmp(path + 46, "app") == 0 ? f->rf : 1);
		answer = cJSON_Parse(text);
	}
	if (answer == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "fake: %s %s not found", method, path);
	*body = cJSON_PrintUnformatted(answer);
	*len = strlen(*body);
	*status = 200;
	cJSON_Delete(answer);
	return 0;
}

static long long fake_now(void *payload)
{
	(void)payload;
	return 1700000000000LL;
}

/* Pod `sts`-`ord` at revision `rev`, its node `status` in every view. */
static void pod(const char *sts, int ord, const char *rev, int ready, const char *status, int alive)
{
	char name[64], uid[96], ip[32], text[1024];
	snprintf(name, sizeof(name), "%s-%d", sts, ord);
	snprintf(uid, sizeof(uid), "uid-%s", name);
	snprintf(ip, sizeof(ip), "10.0.%d.%d", (int)strlen(sts), ord + 1);
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"cass\","
		 "\"uid\":\"%s\",\"labels\":{\"app\":\"cassandra\",\"rack\":\"%s\",\"controller-revision-hash\":\"%s\"}},"
		 "\"spec\":{\"terminationGracePeriodSeconds\":1800},"
		 "\"status\":{\"podIP\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, uid, sts, rev, ip, ready ? "True" : "False");
	cJSON_AddItemToArray(F.pods, cJSON_Parse(text));
	struct node *n = &F.nodes[F.nnodes++];
	snprintf(n->pod, sizeof(n->pod), "%s", name);
	snprintf(n->ip, sizeof(n->ip), "%s", ip);
	snprintf(n->status, sizeof(n->status), "%s", status);
	n->alive = alive;
}

static cJSON *sts_json(const char *name, int replicas, const char *image, const char *vct_size, int live,
		       int partition, const char *hash)
{
	char text[2048], ann[256] = "", status[256] = "", strategy[128] = "", meta[128] = "";
	if (live)
		snprintf(meta, sizeof(meta), ",\"generation\":2,\"uid\":\"uid-sts-%s\"", name);
	if (hash != NULL)
		snprintf(ann, sizeof(ann), ",\"annotations\":{\"cassandra.keelson.dev/config-hash\":\"%s\"}", hash);
	if (live) {
		snprintf(status, sizeof(status), ",\"status\":{\"observedGeneration\":2,\"updateRevision\":\"rev2\","
			 "\"currentRevision\":\"rev1\"}");
		snprintf(strategy, sizeof(strategy), "\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
			 "{\"partition\":%d}},", partition);
	}
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"cass\""
		 "%s},\"spec\":{\"replicas\":%d,\"serviceName\":\"cass\",%s"
		 "\"selector\":{\"matchLabels\":{\"app\":\"cassandra\",\"rack\":\"%s\"}},"
		 "\"template\":{\"metadata\":{\"labels\":{\"app\":\"cassandra\",\"rack\":\"%s\"}%s},\"spec\":{"
		 "\"terminationGracePeriodSeconds\":1800,\"containers\":[{\"name\":\"cassandra\",\"image\":\"%s\"}]}},"
		 "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"},\"spec\":{\"resources\":{\"requests\":"
		 "{\"storage\":\"%s\"}}}}]}%s}",
		 name, meta, replicas, strategy, name, name, ann, image, vct_size, status);
	cJSON *j = cJSON_Parse(text);
	ck_assert_ptr_nonnull(j);
	return j;
}

static void setup(void)
{
	char path[4096];
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	test_plugin_path(path, sizeof(path), "cassandra", "cassandra");
	ck_assert_msg(keelson_plugin_registry_load_file(registry, path) == 0, "%s", keelson_error_last()->message);
	cassandra = keelson_plugin_registry_find(registry, "cassandra");
	memset(&F, 0, sizeof(F));
	F.pods = cJSON_CreateArray();
	F.pvcs = cJSON_CreateArray();
	F.rf = 3;
	F.env = (struct keelson_plugin_env){.version = KEELSON_PLUGIN_ENV_VERSION, .payload = &F, .live_get = fake_get,
					    .live_list = fake_list, .http = fake_http, .now_ms = fake_now};
}

static void teardown(void)
{
	cJSON_Delete(F.pods);
	cJSON_Delete(F.pvcs);
	keelson_plugin_registry_free(registry);
}

struct rackdef {
	cJSON *desired, *live;
	enum keelson_object_state state;
};

static struct keelson_plan *plan_racks(const char *params_json, struct rackdef *racks, size_t n, unsigned flags)
{
	cJSON *doc = cJSON_Parse(params_json);
	struct keelson_plugin_params *params = NULL;
	struct keelson_problem_list *problems = keelson_problem_list_new();
	int rc = keelson_plugin_params_parse(&params, problems, cassandra, doc, NULL, "system.yaml");
	ck_assert_msg(rc == 0, "params: %s", problems->count ? problems->items[0].message : "?");
	keelson_problem_list_free(problems);
	struct keelson_plan_object objects[8];
	for (size_t i = 0; i < n; i++)
		objects[i] = (struct keelson_plan_object){.desired = racks[i].desired, .live = racks[i].live,
							  .state = racks[i].state, .file = "statefulset.yaml", .line = 1};
	struct keelson_plan_input in = {.cluster = "sim", .system = "cass", .revision = "abc", .objects = objects,
					.object_count = n, .params = params, .env = &F.env, .view_flags = flags};
	struct keelson_plan *plan = NULL;
	rc = keelson_plugin_plan(&plan, cassandra, &in);
	ck_assert_msg(rc == 0, "plan failed: %s", keelson_error_last()->message);
	keelson_plugin_params_free(params);
	cJSON_Delete(doc);
	for (size_t i = 0; i < n; i++) {
		cJSON_Delete(racks[i].desired);
		cJSON_Delete(racks[i].live);
	}
	return plan;
}

#define MGMT "{\"statefulSets\":[\"cass\"],\"datacenter\":\"dc1\",\"managementApiPort\":8080,\"restartTimeout\":\"5m\"}"
#define NO_MGMT "{\"statefulSets\":[\"cass\"],\"datacenter\":\"dc1\"}"

static struct keelson_plan *plan_one(const char *params, int desired_replicas, int live_replicas, const char *live_image,
				     int partition, enum keelson_object_state state)
{
	struct rackdef r = {sts_json("cass", desired_replicas, "cassandra:4.1.6", "10Gi", 0, 0, NULL),
			    sts_json("cass", live_replicas, live_image, "10Gi", 1, partition, EMPTY_HASH), state};
	return plan_racks(params, &r, 1, 0);
}

static void assert_step(const struct keelson_plan *plan, size_t i, enum keelson_step_kind kind, const char *has)
{
	ck_assert_msg(i < plan->count, "plan has %zu steps, wanted step %zu (%s)", plan->count, i + 1, has);
	ck_assert_msg(plan->steps[i].kind == kind, "step %zu is %s: %s", i + 1, keelson_step_kind_name(plan->steps[i].kind),
		      plan->steps[i].description);
	ck_assert_msg(strstr(plan->steps[i].description, has) != NULL, "step %zu \"%s\" lacks \"%s\"", i + 1,
		      plan->steps[i].description, has);
}

static void three_up_to_date(void)
{
	pod("cass", 0, "rev2", 1, "NORMAL", 1);
	pod("cass", 1, "rev2", 1, "NORMAL", 1);
	pod("cass", 2, "rev2", 1, "NORMAL", 1);
}

START_TEST(test_converged)
{
	three_up_to_date();
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 0);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_new_template_is_held_then_applied)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.5", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "hold the pods of StatefulSet cass/cass");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].patch, "\"partition\":3"));
	assert_step(plan, 1, KEELSON_STEP_APPLY, "new pod template");
	/* The applied object is the repository's: nothing keelson adds. */
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(plan->steps[1].object, "spec"), "updateStrategy"));
	assert_step(plan, 2, KEELSON_STEP_HTTP, "drain cass/cass-2");
	assert_step(plan, 3, KEELSON_STEP_PATCH, "partition of StatefulSet cass/cass to 2");
	assert_step(plan, 4, KEELSON_STEP_DELETE_POD, "delete pod cass/cass-2");
	assert_step(plan, 5, KEELSON_STEP_WAIT, "cass/cass-2 is Ready and Up/Normal");
	assert_step(plan, 6, KEELSON_STEP_HTTP, "drain cass/cass-1");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_restart_drains_highest_ordinal_first)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 3, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_HTTP, "drain cass/cass-2");
	ck_assert_str_eq(plan->steps[0].http_method, "POST");
	ck_assert_str_eq(plan->steps[0].http_path, "/api/v0/ops/node/drain");
	ck_assert_str_eq(plan->steps[0].http_port, "8080");
	ck_assert_str_eq(plan->steps[0].name, "cass-2");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].gate, "Up/Normal"));
	assert_step(plan, 1, KEELSON_STEP_PATCH, "to 2");
	assert_step(plan, 2, KEELSON_STEP_DELETE_POD, "cass/cass-2");
	ck_assert_str_eq(plan->steps[2].precondition_uid, "uid-cass-2");
	ck_assert_int_lt(plan->steps[2].grace_seconds, 0);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_drained_node_is_not_drained_again)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 0, "NORMAL", 0);
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 3, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "to 2");
	assert_step(plan, 1, KEELSON_STEP_DELETE_POD, "cass/cass-2");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_another_node_down_waits)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	F.nodes[0].alive = 0; /* cass-0 DN in the views, pod still Ready */
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 3, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "wait before restarting cass/cass-2");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].description, "DN"));
	ck_assert_str_eq(plan->steps[0].key, "gate/cass/cass-2/uid-cass-2");
	ck_assert_int_eq(plan->steps[0].timeout_ms, 300000);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_schema_disagreement_waits)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	F.schemas = 2;
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 3, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "2 schema versions");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_probe_failure_fails_closed)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	F.fail_http = 1;
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 3, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "cannot be read");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_restarted_node_is_waited_for)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev2", 0, "NORMAL", 0);
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 2, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "wait for cass/cass-2 to become Ready");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].description, "no other node is touched"));
	ck_assert_str_eq(plan->steps[0].key, "settle/cass/cass-2/rev2");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_without_management_api_says_so)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	struct keelson_plan *plan = plan_one(NO_MGMT, 3, 3, "cassandra:4.1.6", 3, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(F.http_calls, 0);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "to 2");
	assert_step(plan, 1, KEELSON_STEP_DELETE_POD, "cass/cass-2");
	for (size_t i = 0; i < plan->count; i++)
		if (plan->steps[i].kind != KEELSON_STEP_WAIT || plan->steps[i].gate != NULL)
			ck_assert_msg(plan->steps[i].gate != NULL &&
				      strstr(plan->steps[i].gate, "ring state not verified") != NULL,
				      "step %zu gate: %s", i + 1, plan->steps[i].gate);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_scale_down_below_rf_refused)
{
	three_up_to_date();
	struct keelson_plan *plan = plan_one(MGMT, 2, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_BLOCKED, "stop");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "refusing to decommission cass/cass-2"));
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "would keep 2 nodes, fewer than the replication factor 3"));
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_scale_down_decommissions_first)
{
	three_up_to_date();
	pod("cass", 3, "rev2", 1, "NORMAL", 1);
	struct keelson_plan *plan = plan_one(MGMT, 3, 4, "cassandra:4.1.6", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_HTTP, "decommission cass/cass-3");
	ck_assert_str_eq(plan->steps[0].http_path, "/api/v1/ops/node/decommission?force=false");
	assert_step(plan, 1, KEELSON_STEP_WAIT, "has LEFT the ring");
	assert_step(plan, 2, KEELSON_STEP_APPLY, "shrink StatefulSet cass/cass to 3");
	keelson_plan_free(plan);
}
END_TEST

/* New template and fewer nodes in one commit: held first, the leaving node
 * is decommissioned, never restarted. */
START_TEST(test_scale_down_with_new_template)
{
	pod("cass", 0, "rev1", 1, "NORMAL", 1);
	pod("cass", 1, "rev1", 1, "NORMAL", 1);
	pod("cass", 2, "rev1", 1, "NORMAL", 1);
	pod("cass", 3, "rev1", 1, "NORMAL", 1);
	struct keelson_plan *plan = plan_one(MGMT, 3, 4, "cassandra:4.1.5", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "hold the pods of StatefulSet cass/cass");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].patch, "\"partition\":4"));
	assert_step(plan, 1, KEELSON_STEP_HTTP, "decommission cass/cass-3");
	int drains = 0;
	for (size_t i = 0; i < plan->count; i++) {
		ck_assert_msg(strstr(plan->steps[i].description, "drain cass/cass-3") == NULL, "cass-3 restarted: %s",
			      plan->steps[i].description);
		drains += strstr(plan->steps[i].description, "drain cass/") != NULL;
	}
	ck_assert_int_eq(drains, 3);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_scale_down_shrinks_after_left)
{
	three_up_to_date();
	pod("cass", 3, "rev2", 0, "LEFT", 1);
	struct keelson_plan *plan = plan_one(MGMT, 3, 4, "cassandra:4.1.6", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "shrink StatefulSet cass/cass to 3 replicas (cass-3 has LEFT");
	const cJSON *replicas = cJSON_GetObjectItem(cJSON_GetObjectItem(plan->steps[0].object, "spec"), "replicas");
	ck_assert_int_eq(replicas->valueint, 3);
	ck_assert_uint_eq(plan->count, 1);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_scale_down_waits_while_leaving)
{
	three_up_to_date();
	pod("cass", 3, "rev2", 1, "LEAVING", 1);
	struct keelson_plan *plan = plan_one(MGMT, 3, 4, "cassandra:4.1.6", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "until cass/cass-3 has LEFT the ring");
	ck_assert_int_eq(plan->steps[0].timeout_ms, 12LL * 3600 * 1000);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_scale_up_one_join_at_a_time)
{
	three_up_to_date();
	struct keelson_plan *plan = plan_one(MGMT, 5, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "to 4 replicas: cass-3 joins");
	assert_step(plan, 1, KEELSON_STEP_WAIT, "cass/cass-3 has joined");
	assert_step(plan, 2, KEELSON_STEP_APPLY, "to 5 replicas: cass-4 joins");
	assert_step(plan, 3, KEELSON_STEP_WAIT, "cass/cass-4 has joined");
	ck_assert_uint_eq(plan->count, 4);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_scale_up_waits_for_joining_node)
{
	three_up_to_date();
	pod("cass", 3, "rev2", 0, "BOOT", 1);
	struct keelson_plan *plan = plan_one(MGMT, 5, 4, "cassandra:4.1.6", 0, KEELSON_OBJECT_DRIFTED);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "cass/cass-3 to become Ready");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].description, "UJ"));
	ck_assert_int_eq(plan->steps[0].timeout_ms, 12LL * 3600 * 1000);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_volume_claim_change_blocked)
{
	three_up_to_date();
	struct rackdef r = {sts_json("cass", 3, "cassandra:4.1.6", "20Gi", 0, 0, NULL),
			    sts_json("cass", 3, "cassandra:4.1.6", "10Gi", 1, 0, EMPTY_HASH), KEELSON_OBJECT_DRIFTED};
	struct keelson_plan *plan = plan_racks(MGMT, &r, 1, 0);
	assert_step(plan, 0, KEELSON_STEP_BLOCKED, "stop");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "volumeClaimTemplates"));
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "allowVolumeExpansion"));
	ck_assert_uint_eq(F.http_calls, 0);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_unlisted_statefulset_blocked)
{
	struct rackdef r[2] = {
		{sts_json("cass", 3, "cassandra:4.1.6", "10Gi", 0, 0, NULL), NULL, KEELSON_OBJECT_MISSING},
		{sts_json("other", 3, "cassandra:4.1.6", "10Gi", 0, 0, NULL), NULL, KEELSON_OBJECT_MISSING},
	};
	struct keelson_plan *plan = plan_racks(MGMT, r, 2, 0);
	assert_step(plan, 0, KEELSON_STEP_BLOCKED, "stop");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "cass/other"));
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_create_empty_then_join)
{
	struct rackdef r = {sts_json("cass", 3, "cassandra:4.1.6", "10Gi", 0, 0, NULL), NULL, KEELSON_OBJECT_MISSING};
	struct keelson_plan *plan = plan_racks(MGMT, &r, 1, 0);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "create StatefulSet cass/cass (rack cass) with 0 replicas");
	const cJSON *replicas = cJSON_GetObjectItem(cJSON_GetObjectItem(plan->steps[0].object, "spec"), "replicas");
	ck_assert_int_eq(replicas->valueint, 0);
	assert_step(plan, 1, KEELSON_STEP_APPLY, "to 1 replicas: cass-0 joins");
	assert_step(plan, 5, KEELSON_STEP_APPLY, "to 3 replicas: cass-2 joins");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_volume_expansion_resizes_pvcs_then_deletes_orphaning)
{
	three_up_to_date();
	pvc("data-cass-0", "20Gi");
	pvc("data-cass-1", "10Gi");
	pvc("data-cass-2", "10Gi");
	struct rackdef r = {sts_json("cass", 3, "cassandra:4.1.6", "20Gi", 0, 0, NULL),
			    sts_json("cass", 3, "cassandra:4.1.6", "10Gi", 1, 0, EMPTY_HASH), KEELSON_OBJECT_DRIFTED};
	struct keelson_plan *plan = plan_racks("{\"statefulSets\":[\"cass\"],\"datacenter\":\"dc1\","
					       "\"managementApiPort\":8080,\"allowVolumeExpansion\":true}", &r, 1, 0);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "resize PersistentVolumeClaim cass/data-cass-1 to 20Gi");
	ck_assert_str_eq(plan->steps[0].kind_name, "PersistentVolumeClaim");
	ck_assert_str_eq(plan->steps[0].patch, "{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"20Gi\"}}}}");
	assert_step(plan, 1, KEELSON_STEP_PATCH, "data-cass-2");
	/* Then the StatefulSet goes, its pods and PVCs stay: only this
	 * incarnation (a stale plan must not delete a re-created one). */
	assert_step(plan, 2, KEELSON_STEP_DELETE, "delete StatefulSet cass/cass keeping its pods and PVCs");
	ck_assert_str_eq(plan->steps[2].api_version, "apps/v1");
	ck_assert_str_eq(plan->steps[2].kind_name, "StatefulSet");
	ck_assert_str_eq(plan->steps[2].namespace_, "cass");
	ck_assert_str_eq(plan->steps[2].name, "cass");
	ck_assert_str_eq(plan->steps[2].precondition_uid, "uid-sts-cass");
	ck_assert_str_eq(plan->steps[2].propagation, "Orphan");
	ck_assert_uint_eq(plan->count, 3);
	keelson_plan_free(plan);
}
END_TEST

/* The orphaning delete is pending (the garbage collector has not removed
 * the StatefulSet yet): wait, do not delete again. */
START_TEST(test_volume_expansion_waits_for_orphaning_delete)
{
	three_up_to_date();
	pvc("data-cass-0", "20Gi");
	pvc("data-cass-1", "20Gi");
	pvc("data-cass-2", "20Gi");
	cJSON *live = sts_json("cass", 3, "cassandra:4.1.6", "10Gi", 1, 0, EMPTY_HASH);
	cJSON_AddStringToObject(cJSON_GetObjectItem(live, "metadata"), "deletionTimestamp", "2026-01-01T00:00:00Z");
	struct rackdef r = {sts_json("cass", 3, "cassandra:4.1.6", "20Gi", 0, 0, NULL), live, KEELSON_OBJECT_DRIFTED};
	struct keelson_plan *plan = plan_racks("{\"statefulSets\":[\"cass\"],\"datacenter\":\"dc1\","
					       "\"managementApiPort\":8080,\"allowVolumeExpansion\":true}", &r, 1, 0);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "wait for StatefulSet cass/cass to be deleted (orphaning");
	keelson_plan_free(plan);
}
END_TEST

#define CLEANUP "{\"statefulSets\":[\"cass\"],\"datacenter\":\"dc1\",\"managementApiPort\":8080," \
		"\"deleteDecommissionedVolumes\":true}"

/* The PVCs of removed ordinals are data: kept unless the repository opts in. */
START_TEST(test_decommissioned_volumes_kept_by_default)
{
	three_up_to_date();
	pvc("data-cass-0", "10Gi");
	pvc("data-cass-3", "10Gi");
	struct keelson_plan *plan = plan_one(MGMT, 3, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 0);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_decommissioned_volumes_deleted_on_opt_in)
{
	three_up_to_date();
	pvc("data-cass-0", "10Gi");
	pvc("data-cass-2", "10Gi");
	pvc("data-cass-3", "10Gi");
	pvc("data-other-4", "10Gi"); /* another StatefulSet's */
	pvc("data-cass-4x", "10Gi"); /* not an ordinal */
	struct keelson_plan *plan = plan_one(CLEANUP, 3, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_DELETE, "delete PersistentVolumeClaim cass/data-cass-3 of decommissioned "
		    "node cass-3");
	ck_assert_str_eq(plan->steps[0].api_version, "v1");
	ck_assert_str_eq(plan->steps[0].kind_name, "PersistentVolumeClaim");
	ck_assert_str_eq(plan->steps[0].name, "data-cass-3");
	ck_assert_str_eq(plan->steps[0].precondition_uid, "uid-pvc-data-cass-3");
	ck_assert_str_eq(plan->steps[0].propagation, "Background");
	keelson_plan_free(plan);
}
END_TEST

/* Its pod still there, or a node in the ring without a pod (removed
 * without decommission, DN): no PVC is deleted. */
START_TEST(test_decommissioned_volumes_wait_for_pod_and_ring)
{
	three_up_to_date();
	pod("cass", 3, "rev2", 1, "NORMAL", 1);
	pvc("data-cass-3", "10Gi");
	struct keelson_plan *plan = plan_one(CLEANUP, 3, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_IN_SYNC);
	for (size_t i = 0; i < plan->count; i++)
		ck_assert_int_ne(plan->steps[i].kind, KEELSON_STEP_DELETE);
	keelson_plan_free(plan);

	teardown();
	setup();
	three_up_to_date();
	pvc("data-cass-3", "10Gi");
	struct node *n = &F.nodes[F.nnodes++];
	snprintf(n->pod, sizeof(n->pod), "cass-3");
	snprintf(n->ip, sizeof(n->ip), "10.0.4.4");
	snprintf(n->status, sizeof(n->status), "NORMAL");
	n->alive = 0;
	plan = plan_one(CLEANUP, 3, 3, "cassandra:4.1.6", 0, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_ge(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "");
	for (size_t i = 0; i < plan->count; i++)
		ck_assert_int_ne(plan->steps[i].kind, KEELSON_STEP_DELETE);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_volume_shrink_refused)
{
	three_up_to_date();
	struct rackdef r = {sts_json("cass", 3, "cassandra:4.1.6", "5Gi", 0, 0, NULL),
			    sts_json("cass", 3, "cassandra:4.1.6", "10Gi", 1, 0, EMPTY_HASH), KEELSON_OBJECT_DRIFTED};
	struct keelson_plan *plan = plan_racks("{\"statefulSets\":[\"cass\"],\"datacenter\":\"dc1\","
					       "\"allowVolumeExpansion\":true}", &r, 1, 0);
	assert_step(plan, 0, KEELSON_STEP_BLOCKED, "stop");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "a volume can only grow"));
	keelson_plan_free(plan);
}
END_TEST

/* Pods left by `kubectl delete statefulset --cascade=orphan` are adopted,
 * not deleted by a StatefulSet created with 0 replicas. */
START_TEST(test_orphaned_pods_adopted)
{
	three_up_to_date();
	struct rackdef r = {sts_json("cass", 3, "cassandra:4.1.6", "20Gi", 0, 0, NULL), NULL, KEELSON_OBJECT_MISSING};
	struct keelson_plan *plan = plan_racks(MGMT, &r, 1, 0);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "re-create StatefulSet cass/cass (rack cass) with 3 replicas");
	const cJSON *spec = cJSON_GetObjectItem(plan->steps[0].object, "spec");
	ck_assert_int_eq(cJSON_GetObjectItem(spec, "replicas")->valueint, 3);
	const cJSON *part = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "updateStrategy"),
								     "rollingUpdate"), "partition");
	ck_assert_ptr_nonnull(part);
	ck_assert_int_eq(part->valueint, 3);
	keelson_plan_free(plan);
}
END_TEST

/* Rack a is done, rack b not started: the quiet period is stamped on
 * rack b's StatefulSet, then waited for, then rack b starts. */
static struct keelson_plan *plan_quiet(const char *stamp)
{
	pod("cass-a", 0, "rev2", 1, "NORMAL", 1);
	pod("cass-a", 1, "rev2", 1, "NORMAL", 1);
	pod("cass-b", 0, "rev1", 1, "NORMAL", 1);
	pod("cass-b", 1, "rev1", 1, "NORMAL", 1);
	cJSON *live_b = sts_json("cass-b", 2, "cassandra:4.1.6", "10Gi", 1, 2, EMPTY_HASH);
	if (stamp != NULL) {
		cJSON *ann = cJSON_AddObjectToObject(cJSON_GetObjectItem(live_b, "metadata"), "annotations");
		cJSON_AddStringToObject(ann, "cassandra.keelson.dev/rack-started", stamp);
	}
	struct rackdef r[2] = {
		{sts_json("cass-a", 2, "cassandra:4.1.6", "10Gi", 0, 0, NULL),
		 sts_json("cass-a", 2, "cassandra:4.1.6", "10Gi", 1, 0, EMPTY_HASH), KEELSON_OBJECT_IN_SYNC},
		{sts_json("cass-b", 2, "cassandra:4.1.6", "10Gi", 0, 0, NULL), live_b, KEELSON_OBJECT_IN_SYNC},
	};
	return plan_racks("{\"statefulSets\":[\"cass-a\",\"cass-b\"],\"datacenter\":\"dc1\","
			  "\"managementApiPort\":8080,\"rackQuietPeriod\":\"20s\"}", r, 2, 0);
}

START_TEST(test_quiet_period_between_racks)
{
	struct keelson_plan *plan = plan_quiet(NULL);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "start the quiet period of rack cass-b");
	ck_assert_str_eq(plan->steps[0].name, "cass-b");
	ck_assert_str_eq(plan->steps[0].patch,
			 "{\"metadata\":{\"annotations\":{\"cassandra.keelson.dev/rack-started\":\"rev2@1700000000000\"}}}");
	assert_step(plan, 1, KEELSON_STEP_WAIT, "quiet period of 20s before restarting rack cass-b");
	assert_step(plan, 2, KEELSON_STEP_HTTP, "drain cass/cass-b-1");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_quiet_period_running)
{
	struct keelson_plan *plan = plan_quiet("rev2@1699999995000");
	assert_step(plan, 0, KEELSON_STEP_WAIT, "quiet period of 20s");
	ck_assert_str_eq(plan->steps[0].key, "rack-quiet/cass/cass-b/rev2");
	assert_step(plan, 1, KEELSON_STEP_HTTP, "drain cass/cass-b-1");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_quiet_period_over)
{
	struct keelson_plan *plan = plan_quiet("rev2@1699999970000");
	assert_step(plan, 0, KEELSON_STEP_HTTP, "drain cass/cass-b-1");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_quiet_period_of_another_revision_restarts)
{
	struct keelson_plan *plan = plan_quiet("rev1@1699999970000");
	assert_step(plan, 0, KEELSON_STEP_PATCH, "start the quiet period of rack cass-b");
	keelson_plan_free(plan);
}
END_TEST

/* A pull-request preview: no pods, no probes, the whole sequence. */
START_TEST(test_preview_two_racks)
{
	struct rackdef r[2] = {
		{sts_json("cass-a", 2, "cassandra:4.1.6", "10Gi", 0, 0, NULL),
		 sts_json("cass-a", 2, "cassandra:4.1.5", "10Gi", 0, 0, NULL), KEELSON_OBJECT_DRIFTED},
		{sts_json("cass-b", 2, "cassandra:4.1.6", "10Gi", 0, 0, NULL),
		 sts_json("cass-b", 2, "cassandra:4.1.5", "10Gi", 0, 0, NULL), KEELSON_OBJECT_DRIFTED},
	};
	struct keelson_plan *plan = plan_racks("{\"statefulSets\":[\"cass-a\",\"cass-b\"],\"datacenter\":\"dc1\","
					       "\"managementApiPort\":8080,\"rackQuietPeriod\":\"20s\"}",
					       r, 2, KEELSON_VIEW_PREVIEW);
	ck_assert_uint_eq(F.http_calls, 0);
	char seq[2048] = "";
	for (size_t i = 0; i < plan->count; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		if (s->kind == KEELSON_STEP_HTTP || s->kind == KEELSON_STEP_DELETE_POD) {
			strcat(seq, s->kind == KEELSON_STEP_HTTP ? "drain:" : "delete:");
			strcat(seq, s->name);
			strcat(seq, " ");
		} else if (s->kind == KEELSON_STEP_WAIT && strstr(s->description, "quiet period") != NULL) {
			strcat(seq, "quiet ");
		} else if (s->kind == KEELSON_STEP_BLOCKED) {
			ck_abort_msg("a preview blocked: %s", s->reason);
		}
	}
	ck_assert_str_eq(seq, "drain:cass-a-1 delete:cass-a-1 drain:cass-a-0 delete:cass-a-0 quiet "
			      "drain:cass-b-1 delete:cass-b-1 drain:cass-b-0 delete:cass-b-0 ");
	keelson_plan_free(plan);
}
END_TEST

static Suite *suite_cassandra_plan(void)
{
	Suite *s = suite_create("cassandra_plan");
	TCase *tc = tcase_create("plan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_converged);
	tcase_add_test(tc, test_new_template_is_held_then_applied);
	tcase_add_test(tc, test_restart_drains_highest_ordinal_first);
	tcase_add_test(tc, test_drained_node_is_not_drained_again);
	tcase_add_test(tc, test_another_node_down_waits);
	tcase_add_test(tc, test_probe_failure_fails_closed);
	tcase_add_test(tc, test_schema_disagreement_waits);
	tcase_add_test(tc, test_restarted_node_is_waited_for);
	tcase_add_test(tc, test_without_management_api_says_so);
	tcase_add_test(tc, test_scale_down_below_rf_refused);
	tcase_add_test(tc, test_scale_down_decommissions_first);
	tcase_add_test(tc, test_scale_down_shrinks_after_left);
	tcase_add_test(tc, test_scale_down_with_new_template);
	tcase_add_test(tc, test_scale_down_waits_while_leaving);
	tcase_add_test(tc, test_scale_up_one_join_at_a_time);
	tcase_add_test(tc, test_scale_up_waits_for_joining_node);
	tcase_add_test(tc, test_volume_claim_change_blocked);
	tcase_add_test(tc, test_unlisted_statefulset_blocked);
	tcase_add_test(tc, test_create_empty_then_join);
	tcase_add_test(tc, test_preview_two_racks);
	tcase_add_test(tc, test_volume_expansion_resizes_pvcs_then_deletes_orphaning);
	tcase_add_test(tc, test_volume_expansion_waits_for_orphaning_delete);
	tcase_add_test(tc, test_decommissioned_volumes_kept_by_default);
	tcase_add_test(tc, test_decommissioned_volumes_deleted_on_opt_in);
	tcase_add_test(tc, test_decommissioned_volumes_wait_for_pod_and_ring);
	tcase_add_test(tc, test_volume_shrink_refused);
	tcase_add_test(tc, test_orphaned_pods_adopted);
	tcase_add_test(tc, test_quiet_period_between_racks);
	tcase_add_test(tc, test_quiet_period_running);
	tcase_add_test(tc, test_quiet_period_over);
	tcase_add_test(tc, test_quiet_period_of_another_revision_restarts);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_cassandra_plan)
