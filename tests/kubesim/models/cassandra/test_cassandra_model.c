/*
 * The Cassandra model against a real store with every kubesim controller
 * and the simulated clock at 100x: ring formation, preStop drain, the
 * Management API and nodetool, and each invariant violation. Handlers are
 * called through ks_proxy_lookup / ks_exec_run (no HTTP).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "reconciler/yaml/yaml_load.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/kubesim/models/cassandra/cassandra_model.h"
#include "tests/kubesim/sim.h"
#include "tests/unit/check_main.h"

#ifndef KC_EXAMPLE_DIR
#error "KC_EXAMPLE_DIR must name repo-layout/example/clusters/prod-chicago/cassandra-chicago"
#endif

static struct ks_cassandra_model *model;

/* Simulated seconds for joins and decommissions of the next make_sts();
 * tests that look at a node mid-join or mid-decommission make those last
 * long enough (hundreds of real ms) to be seen under load. */
static const char *join_s = "2", *decommission_s = "3";

#define WAIT_MS 20000

static void setup(void)
{
	join_s = "2";
	decommission_s = "3";
	th_setup();
	ks_sim_reset();
	int rc = ks_cassandra_model_start(th_store, &model);
	ck_assert_msg(rc == 0, "model: %s", keelson_error_last()->message);
}

static void teardown(void)
{
	ks_cassandra_model_stop(model);
	model = NULL;
	th_teardown();
}

/* ---- helpers ---- */

struct http {
	int status;
	char *body;
};

static struct http call(const char *ns, const char *pod, const char *method, const char *path,
	const char *query)
{
	ks_proxy_handler_fn fn = NULL;
	void *payload = NULL;
	struct http h = {503, NULL};
	if (ks_proxy_lookup(ns, "pods", pod, 8080, &fn, &payload))
		return h;
	struct ks_proxy_request req = {
		.method = method, .namespace = ns, .kind = "pods", .name = pod, .port = 8080,
		.path = path, .query = query ? query : "", .body = "", .body_len = 0,
	};
	struct ks_proxy_response resp = {.status = 200};
	if (fn(&req, &resp, payload) < 0) {
		free(resp.body);
		return h;
	}
	h.status = resp.status;
	h.body = resp.body ? resp.body : strdup("");
	return h;
}

static int call_status(const char *pod, const char *method, const char *path, const char *query)
{
	struct http h = call("default", pod, method, path, query);
	free(h.body);
	return h.status;
}

static cJSON *call_json(const char *pod, const char *path, const char *query, int want)
{
	struct http h = call("default", pod, "GET", path, query);
	ck_assert_msg(h.status == want, "GET %s on %s: %d %s", path, pod, h.status,
		h.body ? h.body : "");
	cJSON *j = cJSON_Parse(h.body);
	ck_assert_msg(j != NULL, "GET %s: not JSON: %s", path, h.body);
	free(h.body);
	return j;
}

static int exec_cmd(const char *ns, const char *pod, const char *const *argv, int argc,
	char **out)
{
	struct ks_exec_request req = {
		.namespace = ns, .pod = pod, .container = "cassandra", .argv = argv, .argc = argc,
	};
	struct ks_exec_result res;
	ks_exec_run(&req, &res);
	if (out)
		*out = res.out ? strndup(res.out, res.out_len) : strdup("");
	free(res.out);
	free(res.err);
	return res.exit_code;
}

/* Number of violations whose message contains `needle`. */
static int violations_matching(const char *needle)
{
	cJSON *arr = ks_violations_json(), *v;
	int n = 0;
	cJSON_ArrayForEach(v, arr) {
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(v, "message"));
		if (msg && strstr(msg, needle))
			n++;
	}
	cJSON_Delete(arr);
	return n;
}

static char *violations_text(void)
{
	cJSON *arr = ks_violations_json();
	char *s = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return s;
}

#define ASSERT_NO_VIOLATIONS()                                                    \
	do {                                                                      \
		char *vt_ = violations_text();                                    \
		ck_assert_msg(ks_violations_count() == 0, "violations: %s", vt_); \
		free(vt_);                                                        \
	} while (0)

static int count(const char *state)
{
	return ks_cassandra_model_count(model, "default", state);
}

static const char *state_of(const char *ns, const char *pod, struct ks_cassandra_node_info *info)
{
	if (ks_cassandra_model_node(model, ns, pod, info))
		return "?";
	return info->state;
}

static bool pod_ready(const char *ns, const char *name)
{
	cJSON *pod = th_get("", "pods", ns, name);
	bool ready = false;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), "conditions")) {
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(c, "type"));
		const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(c, "status"));
		if (t && s && !strcmp(t, "Ready"))
			ready = !strcmp(s, "True") && !ks_meta_string(pod, "deletionTimestamp");
	}
	cJSON_Delete(pod);
	return ready;
}

/* A StatefulSet "cassandra" in "default" with the Management API on 8080
 * and fast simulated durations. */
static void make_sts(int replicas, bool parallel, bool prestop, const char *keyspaces)
{
	char json[4096];
	snprintf(json, sizeof(json),
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
		"\"metadata\":{\"name\":\"cassandra\",\"annotations\":{"
		"\"kubesim.keelson.dev/cassandra-join-s\":\"%s\","
		"\"kubesim.keelson.dev/cassandra-drain-s\":\"2\","
		"\"kubesim.keelson.dev/cassandra-decommission-s\":\"%s\","
		"\"kubesim.keelson.dev/cassandra-start-s\":\"1\","
		"\"kubesim.keelson.dev/cassandra-keyspaces\":\"%s\"}},"
		"\"spec\":{\"replicas\":%d,\"serviceName\":\"cassandra\",%s"
		"\"selector\":{\"matchLabels\":{\"app\":\"cassandra\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"cassandra\","
		"\"cassandra.datastax.com/datacenter\":\"dc1\",\"cassandra.datastax.com/rack\":\"r1\"},"
		"\"annotations\":{\"kubesim.keelson.dev/ready-delay-ms\":\"1000\"}},"
		"\"spec\":{\"terminationGracePeriodSeconds\":120,\"containers\":[{\"name\":\"cassandra\","
		"\"image\":\"cassandra:4.1.5\",\"ports\":[{\"name\":\"mgmt-api-http\",\"containerPort\":8080}]"
		"%s}]}}}}",
		join_s, decommission_s, keyspaces, replicas, parallel ? "\"podManagementPolicy\":\"Parallel\"," : "",
		prestop ? ",\"lifecycle\":{\"preStop\":{\"exec\":{\"command\":[\"/bin/sh\",\"-c\","
			"\"nodetool drain\"]}}}" : "");
	cJSON_Delete(th_create("apps", "statefulsets", "default", json));
}

static void scale(int replicas)
{
	char patch[64];
	snprintf(patch, sizeof(patch), "{\"spec\":{\"replicas\":%d}}", replicas);
	th_patch("apps", "statefulsets", "default", "cassandra", patch, NULL);
}

static void delete_pod(const char *ns, const char *name, long long grace)
{
	struct ks_delete_options opt = {.version = KS_DELETE_OPTIONS_VERSION};
	if (grace >= 0) {
		opt.has_grace_period = true;
		opt.grace_period_seconds = grace;
	}
	int rc = ks_store_delete(th_store, th_type("", "pods"), ns, name, &opt, NULL, NULL);
	ck_assert_msg(rc == 0, "delete pod %s: %s", name, keelson_error_last()->message);
}

static void wait_ring(int un)
{
	ck_assert_msg(TH_WAIT(count("UN") == un, WAIT_MS), "ring: %d UN, %d UJ, %d DN (want %d UN)",
		count("UN"), count("UJ"), count("DN"), un);
}

static const char *pod_uid(const char *ns, const char *name, char *buf)
{
	cJSON *pod = th_get("", "pods", ns, name);
	const char *uid = pod ? ks_meta_string(pod, "uid") : NULL;
	snprintf(buf, 64, "%s", uid ? uid : "");
	cJSON_Delete(pod);
	return buf;
}

/* ---- the example repository's StatefulSet ---- */

static void create_from_yaml(const char *file)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", KC_EXAMPLE_DIR, file);
	struct keelson_yaml_stream *s = NULL;
	int rc = keelson_yaml_load_file(&s, path, NULL);
	ck_assert_msg(rc == 0, "%s: %s", path, keelson_error_last()->message);
	for (size_t i = 0; i < keelson_yaml_document_count(s); i++) {
		const cJSON *doc = keelson_yaml_document(s, i);
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "kind"));
		const char *api = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "apiVersion"));
		const struct ks_resource_type *t = ks_store_type_find_kind(th_store, api, kind);
		ck_assert_msg(t != NULL, "%s: kind %s not served", path, kind);
		cJSON *out = NULL;
		char ns[128];
		const char *dns = ks_meta_string(doc, "namespace");
		snprintf(ns, sizeof(ns), "%s", dns ? dns : "");
		rc = ks_store_create(th_store, t, t->namespaced ? ns : NULL, doc, NULL, &out);
		ck_assert_msg(rc == 0, "%s: create %s: %s", path, kind, keelson_error_last()->message);
		cJSON_Delete(out);
	}
	keelson_yaml_stream_free(s);
}

START_TEST(test_example_ring_and_prestop_drain)
{
	create_from_yaml("namespace.yaml");
	create_from_yaml("configmap.yaml");
	create_from_yaml("statefulset.yaml");
	ck_assert_msg(TH_WAIT(ks_cassandra_model_count(model, "cassandra", "UN") == 5, WAIT_MS),
		"example ring: %d UN", ks_cassandra_model_count(model, "cassandra", "UN"));
	struct ks_cassandra_node_info info;
	ck_assert_str_eq(state_of("cassandra", "cassandra-4", &info), "UN");
	ck_assert_str_eq(info.dc, "chicago"); /* CASSANDRA_DC from the ConfigMap */
	ck_assert_str_eq(info.rack, "rack1");
	ck_assert(TH_WAIT(pod_ready("cassandra", "cassandra-4"), WAIT_MS));

	/* nodetool status, as the example's readiness script runs it. */
	const char *argv[] = {"nodetool", "status"};
	char *out = NULL;
	ck_assert_int_eq(exec_cmd("cassandra", "cassandra-2", argv, 2, &out), 0);
	ck_assert_msg(strstr(out, "Datacenter: chicago\n===================\n") != NULL, "%s", out);
	int un = 0;
	for (const char *p = out; (p = strstr(p, "\nUN  ")) != NULL; p++)
		un++;
	ck_assert_msg(un == 5, "nodetool status shows %d UN:\n%s", un, out);
	free(out);

	/* No Management API port in the example: the proxy refuses. */
	ck_assert_int_eq(call_status("cassandra-1", "GET", "/api/v0/probes/readiness", NULL), 503);

	/* kubectl delete pod: the preStop `nodetool drain` runs within the
	 * 1800 s grace period; the pod goes once drained and comes back. */
	char old_uid[64], new_uid[64];
	pod_uid("cassandra", "cassandra-3", old_uid);
	delete_pod("cassandra", "cassandra-3", -1);
	ck_assert(TH_WAIT(strcmp(pod_uid("cassandra", "cassandra-3", new_uid), old_uid) != 0 &&
		new_uid[0], WAIT_MS));
	ck_assert(TH_WAIT(ks_cassandra_model_count(model, "cassandra", "UN") == 5 &&
		pod_ready("cassandra", "cassandra-3"), WAIT_MS));
	ck_assert_str_eq(state_of("cassandra", "cassandra-3", &info), "UN");
	ck_assert(info.bootstrapped);
	ASSERT_NO_VIOLATIONS();
	char *log = ks_pod_log_get("cassandra", "cassandra-3", "cassandra", -1);
	ck_assert_msg(strstr(log, "preStop hook: nodetool drain (grace period 1800 s)") &&
		strstr(log, "DRAINED"), "%s", log);
	free(log);
}
END_TEST

/* ---- drain and stop ---- */

START_TEST(test_drain_then_delete)
{
	make_sts(3, false, true, "app:3");
	wait_ring(3);
	ck_assert_int_eq(call_status("cassandra-2", "GET", "/api/v0/probes/readiness", NULL), 200);
	ck_assert_int_eq(call_status("cassandra-2", "POST", "/api/v0/ops/node/drain", NULL), 200);
	struct ks_cassandra_node_info info;
	ck_assert_str_eq(state_of("default", "cassandra-2", &info), "DN");
	ck_assert(info.drained && info.process_up);
	ck_assert_int_eq(call_status("cassandra-2", "GET", "/api/v0/probes/readiness", NULL), 500);
	ck_assert(TH_WAIT(!pod_ready("default", "cassandra-2"), WAIT_MS));
	delete_pod("default", "cassandra-2", 0);
	ck_assert(TH_WAIT(count("UN") == 3 && pod_ready("default", "cassandra-2"), WAIT_MS));
	ASSERT_NO_VIOLATIONS();

	/* What the plugin does in a rolling restart: drain through the
	 * Management API, then delete the pod with its grace period (120 s
	 * here). The preStop drain has nothing left to do and the pod goes
	 * well before the grace period ends. */
	ck_assert_int_eq(call_status("cassandra-0", "POST", "/api/v0/ops/node/drain", NULL), 200);
	char old_uid[64], new_uid[64];
	pod_uid("default", "cassandra-0", old_uid);
	double t0 = ks_clock_now();
	delete_pod("default", "cassandra-0", -1);
	ck_assert(TH_WAIT(strcmp(pod_uid("default", "cassandra-0", new_uid), old_uid) != 0 &&
		new_uid[0], WAIT_MS));
	ck_assert_msg(ks_clock_now() - t0 < 60, "pod took %.0f s to go", ks_clock_now() - t0);
	ck_assert(TH_WAIT(count("UN") == 3 && pod_ready("default", "cassandra-0"), WAIT_MS));
	ASSERT_NO_VIOLATIONS();

	/* The same through kubectl exec, as a preStop hook would run it. */
	const char *argv[] = {"/bin/sh", "-c", "nodetool drain"};
	ck_assert_int_eq(exec_cmd("default", "cassandra-1", argv, 3, NULL), 0);
	ck_assert_str_eq(state_of("default", "cassandra-1", &info), "DN");
	ck_assert(info.drained);
	delete_pod("default", "cassandra-1", -1);
	ck_assert(TH_WAIT(count("UN") == 3 && pod_ready("default", "cassandra-1"), WAIT_MS));
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_delete_without_drain)
{
	make_sts(3, false, false, "app:3");
	wait_ring(3);
	delete_pod("default", "cassandra-1", -1);
	ck_assert(TH_WAIT(violations_matching("cassandra-1 stopped (SIGTERM) without drain") == 1,
		WAIT_MS));
	wait_ring(3); /* it restarts with its data */
	ck_assert_int_eq(ks_violations_count(), 1);
}
END_TEST

START_TEST(test_grace_zero_skips_prestop)
{
	make_sts(3, false, true, "app:3");
	wait_ring(3);
	delete_pod("default", "cassandra-0", 0);
	ck_assert(TH_WAIT(violations_matching("without drain") == 1, WAIT_MS));
}
END_TEST

START_TEST(test_two_down)
{
	make_sts(5, false, true, "app:3");
	wait_ring(5);
	ASSERT_NO_VIOLATIONS();
	delete_pod("default", "cassandra-1", -1);
	delete_pod("default", "cassandra-3", -1);
	ck_assert(TH_WAIT(violations_matching("2 nodes of datacenter dc1 down at once") == 1,
		WAIT_MS));
	ck_assert_int_eq(violations_matching("without drain"), 0);
	wait_ring(5);
	ck_assert_int_eq(ks_violations_count(), 1);
}
END_TEST

/* ---- scale up ---- */

START_TEST(test_scale_up_one_at_a_time)
{
	make_sts(3, false, true, "app:3");
	wait_ring(3);
	th_patch("apps", "statefulsets", "default", "cassandra", "{\"metadata\":{\"annotations\":"
		"{\"kubesim.keelson.dev/cassandra-join-s\":\"30\"}}}", NULL);
	scale(5);
	/* OrderedReady + readiness that follows the ring: one join at a time. */
	ck_assert(TH_WAIT(count("UJ") == 1, WAIT_MS));
	ck_assert_int_eq(count("UN"), 3);
	struct http h = call("default", "cassandra-3", "GET", "/api/v0/ops/node/streaminfo", NULL);
	ck_assert_int_eq(h.status, 200);
	ck_assert_msg(strstr(h.body, "\"operation\":\"Bootstrap\""), "%s", h.body);
	free(h.body);
	ck_assert_int_eq(call_status("cassandra-3", "GET", "/api/v0/probes/readiness", NULL), 500);
	wait_ring(5);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_two_joining)
{
	make_sts(3, true, true, "app:3");
	/* Parallel: every pod starts at once; the first is the seed, the
	 * other two bootstrap together. */
	ck_assert(TH_WAIT(violations_matching("still joining") >= 1, WAIT_MS));
	wait_ring(3);
}
END_TEST

/* ---- decommission and scale down ---- */

START_TEST(test_decommission_sync_then_scale_down)
{
	make_sts(5, false, true, "system_auth:3,app:3");
	wait_ring(5);
	ck_assert_int_eq(call_status("cassandra-4", "POST", "/api/v0/ops/node/decommission",
		"force=true"), 200);
	struct ks_cassandra_node_info info;
	ck_assert_str_eq(state_of("default", "cassandra-4", &info), "LEFT");
	cJSON *eps = call_json("cassandra-0", "/api/v0/metadata/endpoints", NULL, 200);
	bool left = false;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(eps, "entity")) {
		const char *host = cJSON_GetStringValue(cJSON_GetObjectItem(e, "HOST_ID"));
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(e, "STATUS"));
		if (host && !strcmp(host, info.host_id))
			left = st && !strncmp(st, "LEFT,", 5);
	}
	cJSON_Delete(eps);
	ck_assert(left);
	scale(4);
	ck_assert(TH_WAIT(!th_exists("", "pods", "default", "cassandra-4"), WAIT_MS));
	ck_assert(TH_WAIT(ks_cassandra_model_sync(model, 1000) == 0, WAIT_MS));
	ck_assert_int_eq(count("UN"), 4);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_decommission_async_job)
{
	decommission_s = "30";
	make_sts(4, false, true, "app:3");
	wait_ring(4);
	struct http h = call("default", "cassandra-3", "POST", "/api/v1/ops/node/decommission",
		"force=true");
	ck_assert_int_eq(h.status, 202);
	char id[64];
	snprintf(id, sizeof(id), "%s", h.body);
	free(h.body);
	ck_assert_int_eq((int)strlen(id), 36);
	struct ks_cassandra_node_info info;
	ck_assert_str_eq(state_of("default", "cassandra-3", &info), "UL");
	char query[128];
	snprintf(query, sizeof(query), "job_id=%s", id);
	cJSON *job = call_json("cassandra-3", "/api/v0/ops/executor/job", query, 200);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(job, "id")), id);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(job, "type")), "decommission");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(job, "status")), "WAITING");
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(job, "submit_time")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(job, "error")));
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(job, "status_changes")), 1);
	cJSON_Delete(job);
	/* The leaving node shows LEAVING in gossip. */
	cJSON *eps = call_json("cassandra-0", "/api/v0/metadata/endpoints", NULL, 200);
	int leaving = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(eps, "entity")) {
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(e, "STATUS"));
		leaving += st && !strncmp(st, "LEAVING,", 8);
	}
	cJSON_Delete(eps);
	ck_assert_int_eq(leaving, 1);
	/* Poll like cass-operator until the job completes. */
	bool done = TH_WAIT(({
		cJSON *j = call_json("cassandra-3", "/api/v0/ops/executor/job", query, 200);
		bool c = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "COMPLETED");
		if (c) {
			ck_assert(cJSON_GetObjectItem(j, "end_time")->valuedouble >=
				cJSON_GetObjectItem(j, "submit_time")->valuedouble);
			ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "status_changes")), 2);
		}
		cJSON_Delete(j);
		c;
	}), WAIT_MS);
	ck_assert(done);
	ck_assert_str_eq(state_of("default", "cassandra-3", &info), "LEFT");
	ck_assert_int_eq(call_status("cassandra-0", "GET", "/api/v0/ops/executor/job", query), 404);
	scale(3);
	ck_assert(TH_WAIT(!th_exists("", "pods", "default", "cassandra-3"), WAIT_MS));
	ck_assert(TH_WAIT(ks_cassandra_model_sync(model, 1000) == 0, WAIT_MS));
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_scale_down_without_decommission)
{
	make_sts(4, false, true, "app:3");
	wait_ring(4);
	scale(3);
	ck_assert(TH_WAIT(violations_matching("cassandra-3 removed from StatefulSet cassandra "
		"(replicas 3) without decommission") == 1, WAIT_MS));
	ck_assert_int_eq(violations_matching("without drain"), 0); /* preStop drained it */
}
END_TEST

START_TEST(test_decommission_below_rf)
{
	make_sts(3, false, true, "app:3");
	wait_ring(3);
	struct http h = call("default", "cassandra-2", "POST", "/api/v0/ops/node/decommission", NULL);
	ck_assert_int_eq(h.status, 500);
	ck_assert_msg(strstr(h.body, "Not enough live nodes to maintain replication factor in "
		"keyspace app (RF = 3, N = 2)"), "%s", h.body);
	free(h.body);
	ASSERT_NO_VIOLATIONS();
	const char *argv[] = {"nodetool", "decommission", "--force"};
	ck_assert_int_eq(exec_cmd("default", "cassandra-2", argv, 3, NULL), 0);
	ck_assert_int_eq(violations_matching("decommission of cassandra-2 left 2 nodes in "
		"datacenter dc1, fewer than the replication factor 3 of keyspace app"), 1);
}
END_TEST

/* ---- cass-operator layout: one StatefulSet per rack ---- */

static void make_rack_sts(const char *rack)
{
	char json[4096];
	snprintf(json, sizeof(json),
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
		"\"metadata\":{\"name\":\"demo-dc1-%s-sts\",\"annotations\":{"
		"\"kubesim.keelson.dev/cassandra-join-s\":\"2\","
		"\"kubesim.keelson.dev/cassandra-drain-s\":\"2\","
		"\"kubesim.keelson.dev/cassandra-start-s\":\"1\","
		"\"kubesim.keelson.dev/cassandra-keyspaces\":\"app:dc1=3/dc2=1\"}},"
		"\"spec\":{\"replicas\":2,\"serviceName\":\"demo\","
		"\"selector\":{\"matchLabels\":{\"rack\":\"%s\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"rack\":\"%s\","
		"\"cassandra.datastax.com/cluster\":\"demo\","
		"\"cassandra.datastax.com/datacenter\":\"dc1\",\"cassandra.datastax.com/rack\":\"%s\"},"
		"\"annotations\":{\"kubesim.keelson.dev/ready-delay-ms\":\"1000\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"cassandra\",\"image\":\"cassandra:4.1.5\","
		"\"ports\":[{\"name\":\"mgmt-api-http\",\"containerPort\":8080}],"
		"\"lifecycle\":{\"preStop\":{\"exec\":{\"command\":[\"wget\",\"-qO-\","
		"\"--post-data=\",\"http://localhost:8080/api/v0/ops/node/drain\"]}}}}]}}}}",
		rack, rack, rack, rack);
	cJSON_Delete(th_create("apps", "statefulsets", "default", json));
}

START_TEST(test_racks_one_ring)
{
	make_rack_sts("r1");
	ck_assert(TH_WAIT(count("UN") == 2, WAIT_MS));
	make_rack_sts("r2");
	wait_ring(4);
	cJSON *eps = call_json("demo-dc1-r2-sts-1", "/api/v0/metadata/endpoints", NULL, 200);
	int r1 = 0, r2 = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(eps, "entity")) {
		const char *rack = cJSON_GetStringValue(cJSON_GetObjectItem(e, "RACK"));
		r1 += !strcmp(rack, "r1");
		r2 += !strcmp(rack, "r2");
	}
	cJSON_Delete(eps);
	ck_assert_int_eq(r1, 2);
	ck_assert_int_eq(r2, 2);
	/* Keyspaces and their replication, as KeyspaceOpsResources answers. */
	cJSON *ks = call_json("demo-dc1-r1-sts-0", "/api/v0/ops/keyspace", NULL, 200);
	ck_assert(cJSON_IsArray(ks));
	int has_app = 0, has_system = 0;
	cJSON_ArrayForEach(e, ks) {
		has_app += !strcmp(cJSON_GetStringValue(e), "app");
		has_system += !strcmp(cJSON_GetStringValue(e), "system");
	}
	cJSON_Delete(ks);
	ck_assert_int_eq(has_app, 1);
	ck_assert_int_eq(has_system, 1);
	cJSON *rep = call_json("demo-dc1-r1-sts-0", "/api/v0/ops/keyspace/replication", "keyspaceName=app", 200);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "class")),
		"org.apache.cassandra.locator.NetworkTopologyStrategy");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "dc1")), "3");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(rep, "dc2")), "1");
	cJSON_Delete(rep);
	ck_assert_int_eq(call_status("demo-dc1-r1-sts-0", "GET",
		"/api/v0/ops/keyspace/replication", "keyspaceName=nope"), 404);
	/* RF 3 in dc1 (per-datacenter keyspace spec): 4 -> 3 is allowed,
	 * the next one is refused without force. */
	ck_assert_int_eq(call_status("demo-dc1-r2-sts-1", "POST", "/api/v0/ops/node/decommission",
		NULL), 200);
	struct http h = call("default", "demo-dc1-r1-sts-1", "POST", "/api/v0/ops/node/decommission",
		NULL);
	ck_assert_int_eq(h.status, 500);
	ck_assert_msg(strstr(h.body, "keyspace app (RF = 3, N = 2)"), "%s", h.body);
	free(h.body);
	ASSERT_NO_VIOLATIONS();
	/* One node down in each rack is two down in the datacenter (the
	 * preStop hook drains through the Management API). */
	delete_pod("default", "demo-dc1-r1-sts-0", -1);
	delete_pod("default", "demo-dc1-r2-sts-0", -1);
	ck_assert(TH_WAIT(violations_matching("2 nodes of datacenter dc1 down at once") == 1,
		WAIT_MS));
	ck_assert_int_eq(violations_matching("without drain"), 0);
}
END_TEST

/* ---- kubesim reset: a new StatefulSet under the old name is a new ring ---- */

START_TEST(test_reset_forgets_old_ring)
{
	make_sts(3, false, true, "app:2");
	wait_ring(3);
	struct ks_cassandra_node_info old0;
	ck_assert_str_eq(state_of("default", "cassandra-0", &old0), "UN");
	ks_store_reset(th_store);
	ks_sim_reset();
	make_sts(2, false, true, "app:2");
	struct ks_cassandra_node_info scratch;
	ck_assert_msg(TH_WAIT(count("UN") == 2 && count("DN") == 0 &&
		ks_cassandra_model_node(model, "default", "cassandra-2", &scratch) == KEELSON_ENOTFOUND,
		WAIT_MS), "after reset: %d UN, %d DN, %d LEFT, cassandra-2 %s", count("UN"), count("DN"),
		count("LEFT"), state_of("default", "cassandra-2", &scratch));
	struct ks_cassandra_node_info info;
	ck_assert_str_eq(state_of("default", "cassandra-0", &info), "UN");
	ck_assert_str_ne(info.host_id, old0.host_id);
	/* Only the new ring counts: one node down is fine. */
	delete_pod("default", "cassandra-1", -1);
	ck_assert(TH_WAIT(count("UN") == 2 && pod_ready("default", "cassandra-1"), WAIT_MS));
	ASSERT_NO_VIOLATIONS();
}
END_TEST

/* ---- API shapes ---- */

START_TEST(test_api_shapes)
{
	make_sts(3, false, true, "system_auth:3,app:3");
	wait_ring(3);
	ck_assert_int_eq(call_status("cassandra-0", "GET", "/api/v0/probes/liveness", NULL), 200);
	ck_assert_int_eq(call_status("cassandra-0", "GET", "/api/v0/probes/cluster",
		"consistency_level=LOCAL_QUORUM&rf_per_dc=3"), 200);
	ck_assert_int_eq(call_status("cassandra-0", "GET", "/api/v0/probes/cluster",
		"rf_per_dc=3"), 400);
	ck_assert_int_eq(call_status("cassandra-0", "GET", "/api/v0/no/such", NULL), 404);

	cJSON *eps = call_json("cassandra-0", "/api/v0/metadata/endpoints", NULL, 200);
	cJSON *arr = cJSON_GetObjectItem(eps, "entity");
	ck_assert_int_eq(cJSON_GetArraySize(arr), 3);
	static const char *const keys[] = {"DC", "RACK", "HOST_ID", "IS_ALIVE", "ENDPOINT_IP",
		"RPC_ADDRESS", "NATIVE_ADDRESS_AND_PORT", "STATUS", "STATUS_WITH_PORT", "LOAD",
		"SCHEMA", "RELEASE_VERSION"};
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			ck_assert_msg(cJSON_IsString(cJSON_GetObjectItem(e, keys[i])), "missing %s",
				keys[i]);
		ck_assert_str_eq(cJSON_GetObjectItem(e, "DC")->valuestring, "dc1");
		ck_assert_str_eq(cJSON_GetObjectItem(e, "RACK")->valuestring, "r1");
		ck_assert_str_eq(cJSON_GetObjectItem(e, "IS_ALIVE")->valuestring, "true");
		ck_assert(!strncmp(cJSON_GetObjectItem(e, "STATUS")->valuestring, "NORMAL,", 7));
	}
	cJSON_Delete(eps);

	cJSON *schema = call_json("cassandra-1", "/api/v1/ops/node/schema/versions", NULL, 200);
	ck_assert_int_eq(cJSON_GetArraySize(schema), 1);
	ck_assert_int_eq(cJSON_GetArraySize(schema->child), 3);
	cJSON_Delete(schema);

	/* Stop two processes: LOCAL_QUORUM of RF 3 fails for every range. */
	ck_assert_int_eq(call_status("cassandra-1", "POST", "/api/v0/lifecycle/stop", NULL), 200);
	ck_assert_int_eq(call_status("cassandra-2", "POST", "/api/v0/lifecycle/stop", NULL), 200);
	ck_assert_int_eq(violations_matching("stopped (lifecycle/stop) without drain"), 2);
	ck_assert_int_eq(violations_matching("2 nodes of datacenter dc1 down at once"), 1);
	ck_assert_int_eq(call_status("cassandra-1", "GET", "/api/v0/metadata/endpoints", NULL), 500);
	cJSON *probe = call_json("cassandra-0", "/api/v0/probes/cluster",
		"consistency_level=LOCAL_QUORUM&rf_per_dc=3", 500);
	ck_assert_int_eq(cJSON_GetArraySize(probe), 3);
	const cJSON *range;
	cJSON_ArrayForEach(range, probe) {
		ck_assert_msg(range->string[0] == '[' && strstr(range->string, ", "), "key %s",
			range->string);
		ck_assert(cJSON_IsArray(range));
		ck_assert_str_eq(cJSON_GetArrayItem(range, 0)->valuestring,
			"2 replicas required, but only 1 nodes in the ring");
	}
	cJSON_Delete(probe);
	/* rf_per_dc=1 with ONE: the ranges owned by the live node pass. */
	schema = call_json("cassandra-0", "/api/v1/ops/node/schema/versions", NULL, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(schema, "UNREACHABLE")), 2);
	cJSON_Delete(schema);
	ck_assert_int_eq(call_status("cassandra-1", "POST", "/api/v0/lifecycle/start", NULL), 201);
	ck_assert_int_eq(call_status("cassandra-2", "POST", "/api/v0/lifecycle/start", NULL), 201);
	wait_ring(3);
	ck_assert_int_eq(call_status("cassandra-0", "GET", "/api/v0/probes/cluster",
		"consistency_level=LOCAL_QUORUM&rf_per_dc=3"), 200);
	ck_assert_int_eq(call_status("cassandra-0", "POST", "/api/v0/lifecycle/start", NULL), 202);

	const char *argv[] = {"/bin/sh", "-c", "nodetool status"};
	char *out = NULL;
	ck_assert_int_eq(exec_cmd("default", "cassandra-0", argv, 3, &out), 0);
	ck_assert_msg(strstr(out, "Status=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n"), "%s",
		out);
	ck_assert_msg(strstr(out, "100.0%"), "%s", out);
	free(out);
	const char *echo[] = {"echo", "hi"};
	ck_assert_int_eq(exec_cmd("default", "cassandra-0", echo, 2, &out), 0);
	ck_assert_str_eq(out, "hi\n"); /* not nodetool: kubesim's built-ins */
	free(out);
}
END_TEST

static Suite *suite_cassandra_model(void)
{
	Suite *s = suite_create("cassandra_model");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"example", test_example_ring_and_prestop_drain},
		{"drain", test_drain_then_delete},
		{"stop_without_drain", test_delete_without_drain},
		{"grace_zero", test_grace_zero_skips_prestop},
		{"two_down", test_two_down},
		{"scale_up", test_scale_up_one_at_a_time},
		{"two_joining", test_two_joining},
		{"decommission_sync", test_decommission_sync_then_scale_down},
		{"decommission_async", test_decommission_async_job},
		{"scale_down_without_decommission", test_scale_down_without_decommission},
		{"decommission_below_rf", test_decommission_below_rf},
		{"racks", test_racks_one_ring},
		{"reset", test_reset_forgets_old_ring},
		{"api_shapes", test_api_shapes},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_cassandra_model)
