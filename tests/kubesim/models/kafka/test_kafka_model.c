/*
 * The Kafka model on a real store with every kubesim controller (kubelet,
 * StatefulSet, ...) and the clock at 100x: brokers from a StatefulSet,
 * ISRs through restarts, violations, metrics text and Cruise Control.
 * Handlers are reached through ks_proxy_lookup, as kubesim's proxy does.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/kubesim/models/kafka/kafka_internal.h"
#include "tests/kubesim/models/kafka/kafka_model.h"
#include "tests/kubesim/sim.h"
#include "tests/unit/check_main.h"

#define NS "default"

static struct ks_kafka_model *model;

static void setup(void)
{
	th_setup();
	ks_sim_reset();
	int rc = ks_kafka_model_start(th_store, &model);
	ck_assert_msg(rc == 0, "model: %s", keelson_error_last()->message);
}

static void teardown(void)
{
	ks_kafka_model_stop(model);
	model = NULL;
	th_teardown();
}

static void sync_all(void)
{
	ck_assert_int_eq(ks_controllers_sync(th_controllers, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(ks_kafka_model_sync(model, TH_TIMEOUT_MS), 0);
}

/* A Kafka StatefulSet: catch-up of `catchup_ms` simulated ms. */
static void create_sts(const char *name, int replicas, int catchup_ms, const char *extra_ann)
{
	char json[2048];
	snprintf(json, sizeof(json),
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
		"\"metadata\":{\"name\":\"%s\",\"annotations\":{%s}},"
		"\"spec\":{\"replicas\":%d,\"serviceName\":\"%s-headless\","
		"\"podManagementPolicy\":\"Parallel\",\"updateStrategy\":{\"type\":\"OnDelete\"},"
		"\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"%s\","
		"\"kubesim.keelson.dev/model\":\"kafka\"},"
		"\"annotations\":{\"kubesim.keelson.dev/kafka-catchup-ms\":\"%d\","
		"\"kubesim.keelson.dev/ready-delay-ms\":\"500\"}},"
		"\"spec\":{\"terminationGracePeriodSeconds\":30,\"containers\":[{\"name\":\"kafka\","
		"\"image\":\"apache/kafka:3.7.0\",\"ports\":[{\"name\":\"client\","
		"\"containerPort\":9092},{\"name\":\"metrics\",\"containerPort\":9404}]}]}}}}",
		name, extra_ann ? extra_ann : "", replicas, name, name, name, catchup_ms);
	cJSON_Delete(th_create("apps", "statefulsets", NS, json));
}

static struct ks_kafka_cluster_summary summary_in(const char *ns, const char *name)
{
	struct ks_kafka_cluster_summary s;
	if (ks_kafka_model_summary(model, ns, name, &s))
		memset(&s, 0, sizeof(s));
	return s;
}

static struct ks_kafka_cluster_summary summary(const char *name)
{
	struct ks_kafka_cluster_summary s;
	if (ks_kafka_model_summary(model, NS, name, &s))
		memset(&s, 0, sizeof(s));
	return s;
}

static bool healthy(const char *name, int brokers)
{
	struct ks_kafka_cluster_summary s = summary(name);
	return s.formed && s.brokers_up == brokers && s.under_replicated == 0 &&
		s.offline == 0 && s.controller >= 0;
}

static void wait_healthy(const char *name, int brokers)
{
	ck_assert_msg(TH_WAIT(healthy(name, brokers), TH_TIMEOUT_MS),
		"cluster %s never became healthy with %d brokers (up %d, urp %d, formed %d)", name,
		brokers, summary(name).brokers_up, summary(name).under_replicated,
		summary(name).formed);
}

static void delete_pod(const char *name)
{
	bool removed = false;
	int rc = ks_store_delete(th_store, th_type("", "pods"), NS, name, NULL, NULL, &removed);
	ck_assert_msg(rc == 0, "delete %s: %s", name, keelson_error_last()->message);
	sync_all();
}

/* User-Task-ID sent with the next proxy request and received from the
 * last one (only when sim.h's proxy carries headers). */
static char proxy_task_id[256];

/* Call a proxy handler the way kubesim's server does. */
static int proxy_in(const char *ns, const char *method, const char *kind, const char *name,
	int port, const char *path, const char *query, struct ks_proxy_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	ks_proxy_handler_fn fn;
	void *payload;
	if (ks_proxy_lookup(ns, kind, name, port, &fn, &payload))
		return -2;
	struct ks_proxy_request req = {.method = method, .namespace = ns, .kind = kind,
		.name = name, .port = port, .path = path, .query = query, .body = "",
		.body_len = 0};
	/* The real protocol: send the task's ID back as Cruise Control asks. */
	struct ks_proxy_header h = {.name = "User-Task-ID"};
	if (proxy_task_id[0]) {
		snprintf(h.value, sizeof(h.value), "%s", proxy_task_id);
		req.headers = &h;
		req.nheaders = 1;
	}
	int rc = fn(&req, resp, payload);
	for (size_t i = 0; i < resp->nheaders; i++)
		if (!strcmp(resp->headers[i].name, "User-Task-ID"))
			snprintf(proxy_task_id, sizeof(proxy_task_id), "%s", resp->headers[i].value);
	return rc;
}

static int proxy(const char *method, const char *kind, const char *name, int port,
	const char *path, const char *query, struct ks_proxy_response *resp)
{
	return proxy_in(NS, method, kind, name, port, path, query, resp);
}

/* Value of a metric line "name value" or "name{labels} value"; -1000 when
 * absent. */
static double metric(const char *text, const char *series)
{
	size_t l = strlen(series);
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		if (line[0] != '#' && !strncmp(line, series, l) && line[l] == ' ')
			return atof(line + l + 1);
		line = nl ? nl + 1 : NULL;
	}
	return -1000;
}

static char *scrape(const char *pod)
{
	struct ks_proxy_response r;
	int rc = proxy("GET", "pods", pod, 9404, "/metrics", "", &r);
	ck_assert_msg(rc == 0, "metrics of %s: handler returned %d", pod, rc);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(r.body);
	return r.body;
}

static double cluster_sum(const char *sts, int brokers, const char *series)
{
	double sum = 0;
	for (int i = 0; i < brokers; i++) {
		char pod[64];
		snprintf(pod, sizeof(pod), "%s-%d", sts, i);
		struct ks_proxy_response r;
		if (proxy("GET", "pods", pod, 9404, "/metrics", "", &r) == 0 && r.body) {
			double v = metric(r.body, series);
			if (v > -1000)
				sum += v;
		}
		free(r.body);
	}
	return sum;
}

static bool violation_matches(const char *needle)
{
	cJSON *v = ks_violations_json();
	bool hit = false;
	const cJSON *e;
	cJSON_ArrayForEach(e, v) {
		const char *msg = th_str(e, "message", NULL);
		const char *src = th_str(e, "source", NULL);
		if (msg && src && !strcmp(src, "kafka") && strstr(msg, needle))
			hit = true;
	}
	cJSON_Delete(v);
	return hit;
}

static char *violations_text(void)
{
	cJSON *v = ks_violations_json();
	char *t = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	return t;
}

#define ASSERT_NO_VIOLATIONS()                                                  \
	do {                                                                   \
		char *vt_ = violations_text();                                 \
		ck_assert_msg(ks_violations_count() == 0, "violations: %s", vt_); \
		free(vt_);                                                     \
	} while (0)

/* ---------------------------------------------------------------------------
 * Brokers from a StatefulSet
 * ------------------------------------------------------------------------- */

START_TEST(test_three_brokers_healthy)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	struct ks_kafka_cluster_summary s = summary("kafka");
	ck_assert_int_eq(s.partitions, 18); /* 3 topics x 6 partitions */
	ck_assert(s.controller >= 0 && s.controller < 3);
	ck_assert_int_eq(s.under_min_isr, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(s.replicas_on[i], 18); /* RF 3 over 3 brokers */
	ck_assert_double_eq(cluster_sum("kafka", 3,
		"kafka_controller_kafkacontroller_activecontrollercount"), 1);
	ck_assert_double_eq(cluster_sum("kafka", 3,
		"kafka_server_replicamanager_underreplicatedpartitions"), 0);
	ck_assert_double_eq(cluster_sum("kafka", 3, "kafka_server_kafkaserver_brokerstate"), 9);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_five_brokers_healthy)
{
	create_sts("kafka", 5, 60000, NULL);
	wait_healthy("kafka", 5);
	struct ks_kafka_cluster_summary s = summary("kafka");
	ck_assert_int_eq(s.partitions, 18);
	int total = 0;
	for (int i = 0; i < 5; i++) {
		ck_assert_int_gt(s.replicas_on[i], 0);
		total += s.replicas_on[i];
	}
	ck_assert_int_eq(total, 54);
	ck_assert_double_eq(cluster_sum("kafka", 5,
		"kafka_controller_kafkacontroller_activecontrollercount"), 1);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_topics_annotation)
{
	create_sts("kafka", 3, 1000,
		"\"kubesim.keelson.dev/kafka-topics\":\"events:4:3:2,audit:2:2:1\"");
	wait_healthy("kafka", 3);
	struct ks_kafka_cluster_summary s = summary("kafka");
	ck_assert_int_eq(s.partitions, 6);
	ck_assert_int_eq(s.replicas_on[0] + s.replicas_on[1] + s.replicas_on[2], 4 * 3 + 2 * 2);
}
END_TEST

/* The objects of repo-layout/example/clusters/prod-chicago/kafka-events
 * as they matter to the model: only app.kubernetes.io/name=kafka (no
 * kubesim label), the metrics port 9404, a 10 s readiness delay and the
 * broker defaults from the mounted server.properties. */
START_TEST(test_example_layout)
{
	const char *ns = "kafka-events";
	cJSON_Delete(th_create("", "namespaces", NULL,
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"kafka-events\"}}"));
	cJSON_Delete(th_create("", "configmaps", ns,
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kafka-config\","
		"\"labels\":{\"app.kubernetes.io/name\":\"kafka\"}},\"data\":{\"server.properties\":"
		"\"process.roles=broker,controller\\nnum.partitions=4\\ndefault.replication.factor=3\\n"
		"min.insync.replicas=2\\n\"}}"));
	cJSON_Delete(th_create("apps", "statefulsets", ns,
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"kafka\","
		"\"labels\":{\"app.kubernetes.io/name\":\"kafka\",\"app.kubernetes.io/component\":\"broker\"}},"
		"\"spec\":{\"serviceName\":\"kafka-headless\",\"replicas\":3,"
		"\"podManagementPolicy\":\"Parallel\",\"updateStrategy\":{\"type\":\"OnDelete\"},"
		"\"selector\":{\"matchLabels\":{\"app.kubernetes.io/name\":\"kafka\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app.kubernetes.io/name\":\"kafka\","
		"\"app.kubernetes.io/component\":\"broker\"}},\"spec\":{\"terminationGracePeriodSeconds\":120,"
		"\"containers\":[{\"name\":\"kafka\",\"image\":\"apache/kafka:3.7.0\","
		"\"ports\":[{\"name\":\"client\",\"containerPort\":9092},{\"name\":\"controller\","
		"\"containerPort\":9093},{\"name\":\"metrics\",\"containerPort\":9404}],"
		"\"readinessProbe\":{\"tcpSocket\":{\"port\":\"client\"},\"initialDelaySeconds\":10}}],"
		"\"volumes\":[{\"name\":\"config\",\"configMap\":{\"name\":\"kafka-config\"}}]}}}}"));
	ck_assert(TH_WAIT(({
		struct ks_kafka_cluster_summary s = summary_in(ns, "kafka");
		s.formed && s.brokers_up == 3 && s.under_replicated == 0;
	}), TH_TIMEOUT_MS));
	struct ks_kafka_cluster_summary s = summary_in(ns, "kafka");
	ck_assert_int_eq(s.partitions, 12); /* num.partitions=4 from the ConfigMap */
	struct ks_proxy_response r;
	ck_assert_int_eq(proxy_in(ns, "GET", "pods", "kafka-2", 9404, "/metrics", "", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_double_eq(metric(r.body, "kafka_server_kafkaserver_brokerstate"), 3);
	free(r.body);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

/* ---------------------------------------------------------------------------
 * Restarts, catch-up, violations
 * ------------------------------------------------------------------------- */

START_TEST(test_delete_one_then_rejoin)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	cJSON *old = th_get("", "pods", NS, "kafka-1");
	char old_uid[64];
	snprintf(old_uid, sizeof(old_uid), "%s", ks_meta_string(old, "uid"));
	cJSON_Delete(old);

	delete_pod("kafka-1");
	struct ks_kafka_cluster_summary s = summary("kafka");
	ck_assert_int_eq(s.under_replicated, 18); /* every partition had a replica on 1 */
	ck_assert_int_eq(s.under_min_isr, 0);
	ck_assert_int_eq(s.offline, 0);
	ck_assert_int_eq(s.brokers_up, 2);
	ck_assert_double_gt(cluster_sum("kafka", 3,
		"kafka_server_replicamanager_underreplicatedpartitions"), 0);
	ASSERT_NO_VIOLATIONS();

	/* The replacement pod becomes Ready first, then catches up. */
	ck_assert(TH_WAIT(({
		cJSON *p = th_get("", "pods", NS, "kafka-1");
		bool ok = p && strcmp(ks_meta_string(p, "uid"), old_uid) &&
			ks_ctl_pod_running_ready(p);
		cJSON_Delete(p);
		ok;
	}), TH_TIMEOUT_MS));
	sync_all();
	ck_assert_int_gt(summary("kafka").under_replicated, 0);
	double ready_at = ks_clock_now();

	wait_healthy("kafka", 3);
	ck_assert_msg(ks_clock_now() - ready_at > 50.0, "rejoined after %.1f s, catch-up is 60 s",
		ks_clock_now() - ready_at);
	ck_assert_double_eq(cluster_sum("kafka", 3,
		"kafka_controller_kafkacontroller_activecontrollercount"), 1);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_second_delete_while_urp)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	delete_pod("kafka-0");
	ASSERT_NO_VIOLATIONS();
	delete_pod("kafka-1");
	ck_assert_int_gt(ks_violations_count(), 0);
	ck_assert(violation_matches("under-replicated"));
	ck_assert(violation_matches("was not ready"));
	ck_assert(violation_matches("brokers down at once"));
	ck_assert(violation_matches("below min.insync.replicas"));
}
END_TEST

/* A broker that is already down (readiness failing) may be replaced: the
 * partitions it leaves short are its own gap, not a reason to flag. */
START_TEST(test_replace_stuck_broker)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	th_patch("", "pods", NS, "kafka-1",
		"{\"metadata\":{\"annotations\":{\"kubesim.keelson.dev/ready\":\"false\"}}}", NULL);
	ck_assert(TH_WAIT(summary("kafka").brokers_up == 2, TH_TIMEOUT_MS));
	ck_assert_int_eq(summary("kafka").under_replicated, 18);
	char *m = scrape("kafka-1");
	ck_assert_double_eq(metric(m, "kafka_server_kafkaserver_brokerstate"), 1);
	free(m);
	delete_pod("kafka-1");
	ASSERT_NO_VIOLATIONS();
	/* But deleting a healthy broker now is flagged. */
	delete_pod("kafka-0");
	ck_assert(violation_matches("broker 0 deleted while broker 1 was not ready"));
}
END_TEST

/* A crash-looping broker runs no exporter: its metrics are unreachable. */
START_TEST(test_crashloop_no_metrics)
{
	create_sts("kafka", 3, 1000, NULL);
	wait_healthy("kafka", 3);
	th_patch("apps", "statefulsets", NS, "kafka",
		"{\"spec\":{\"template\":{\"metadata\":{\"annotations\":"
		"{\"kubesim.keelson.dev/fail\":\"true\"}}}}}", NULL);
	cJSON *old = th_get("", "pods", NS, "kafka-2");
	char old_uid[64];
	snprintf(old_uid, sizeof(old_uid), "%s", ks_meta_string(old, "uid"));
	cJSON_Delete(old);
	delete_pod("kafka-2");
	ck_assert(TH_WAIT(({
		cJSON *p = th_get("", "pods", NS, "kafka-2");
		bool ok = p && strcmp(ks_meta_string(p, "uid"), old_uid) &&
			th_str(cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0),
				"state", "waiting", "reason", NULL) != NULL;
		cJSON_Delete(p);
		ok;
	}), TH_TIMEOUT_MS));
	sync_all();
	struct ks_proxy_response r;
	ck_assert_int_lt(proxy("GET", "pods", "kafka-2", 9404, "/metrics", "", &r), 0);
	ck_assert_int_eq(summary("kafka").brokers_up, 2);
	ck_assert_int_eq(summary("kafka").under_replicated, 18);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_violation_once_per_episode)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	delete_pod("kafka-0");
	delete_pod("kafka-1");
	size_t n = ks_violations_count();
	ck_assert_uint_gt(n, 0);
	/* Time passes (the pods come back but have not caught up): the
	 * partitions stay below min ISR and nothing new is recorded. */
	ks_clock_sleep(20.0);
	sync_all();
	ck_assert_int_gt(summary("kafka").under_min_isr, 0);
	ck_assert_uint_eq(ks_violations_count(), n);
}
END_TEST

/* Every broker down: partitions go offline (their last in-sync replica
 * stays in the ISR); when the brokers return the partitions come back and
 * the other replicas rejoin. */
START_TEST(test_full_outage_recovers)
{
	create_sts("kafka", 3, 1000, NULL);
	wait_healthy("kafka", 3);
	delete_pod("kafka-0");
	delete_pod("kafka-1");
	delete_pod("kafka-2");
	struct ks_kafka_cluster_summary s = summary("kafka");
	ck_assert_int_eq(s.offline, 18);
	ck_assert_int_eq(s.controller, -1);
	ck_assert(violation_matches("offline (no leader"));
	wait_healthy("kafka", 3);
	s = summary("kafka");
	ck_assert_int_eq(s.under_min_isr, 0);
	ck_assert_double_eq(cluster_sum("kafka", 3,
		"kafka_controller_kafkacontroller_offlinepartitionscount"), 0);
}
END_TEST

START_TEST(test_controller_moves)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	int first = summary("kafka").controller;
	ck_assert(first >= 0 && first < 3);
	char pod[64];
	snprintf(pod, sizeof(pod), "kafka-%d", first);
	char *m0 = scrape(pod);
	ck_assert_double_eq(metric(m0, "kafka_controller_kafkacontroller_activecontrollercount"), 1);
	free(m0);
	delete_pod(pod);
	/* The lowest surviving id takes over. */
	int second = summary("kafka").controller;
	ck_assert_int_eq(second, first == 0 ? 1 : 0);
	snprintf(pod, sizeof(pod), "kafka-%d", second);
	char *m1 = scrape(pod);
	ck_assert_double_eq(metric(m1, "kafka_controller_kafkacontroller_activecontrollercount"), 1);
	free(m1);
	/* The old controller comes back: the new one stays. */
	wait_healthy("kafka", 3);
	ck_assert_int_eq(summary("kafka").controller, second);
	ck_assert_double_eq(cluster_sum("kafka", 3,
		"kafka_controller_kafkacontroller_activecontrollercount"), 1);
}
END_TEST

START_TEST(test_scale_down_with_replicas)
{
	create_sts("kafka", 3, 1000, NULL);
	wait_healthy("kafka", 3);
	th_patch("apps", "statefulsets", NS, "kafka", "{\"spec\":{\"replicas\":2}}", NULL);
	sync_all();
	ck_assert(TH_WAIT(!th_exists("", "pods", NS, "kafka-2"), TH_TIMEOUT_MS));
	ck_assert(violation_matches("removed (scale-down) while it still held 18 partition replicas"));
}
END_TEST

/* ---------------------------------------------------------------------------
 * Metrics
 * ------------------------------------------------------------------------- */

START_TEST(test_metrics_text)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	char *t = scrape("kafka-0");
	static const char *const names[] = {
		"kafka_server_replicamanager_underreplicatedpartitions",
		"kafka_server_replicamanager_underminisrpartitioncount",
		"kafka_controller_kafkacontroller_offlinepartitionscount",
		"kafka_controller_kafkacontroller_activecontrollercount",
		"kafka_server_kafkaserver_brokerstate",
		"kafka_cluster_partition_underminisr",
		"kafka_cluster_partition_atminisr",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char help[160], type[160];
		snprintf(help, sizeof(help), "# HELP %s ", names[i]);
		snprintf(type, sizeof(type), "# TYPE %s gauge\n", names[i]);
		ck_assert_msg(strstr(t, help) != NULL, "no HELP for %s", names[i]);
		ck_assert_msg(strstr(t, type) != NULL, "no TYPE for %s", names[i]);
	}
	ck_assert_double_eq(metric(t, "kafka_server_kafkaserver_brokerstate"), 3);
	ck_assert_double_eq(metric(t, "kafka_server_replicamanager_underreplicatedpartitions"), 0);
	ck_assert_double_eq(
		metric(t, "kafka_cluster_partition_underminisr{topic=\"topic-0\",partition=\"0\"}"), 0);
	free(t);

	/* One broker down: leaders of the partitions at min ISR report it. */
	delete_pod("kafka-2");
	double atmin = 0;
	for (int b = 0; b < 2; b++) {
		char pod[64];
		snprintf(pod, sizeof(pod), "kafka-%d", b);
		char *x = scrape(pod);
		for (int p = 0; p < 6; p++) {
			char series[128];
			snprintf(series, sizeof(series),
				"kafka_cluster_partition_atminisr{topic=\"topic-0\",partition=\"%d\"}", p);
			double v = metric(x, series);
			if (v > 0)
				atmin += v;
		}
		free(x);
	}
	ck_assert_double_eq(atmin, 6); /* all 6 partitions of topic-0, once each */
	ck_assert_double_eq(cluster_sum("kafka", 2,
		"kafka_server_replicamanager_underreplicatedpartitions"), 18);

	/* Wrong port, unknown pod, terminating pod: nothing listens. */
	struct ks_proxy_response r;
	ck_assert_int_lt(proxy("GET", "pods", "kafka-0", 9092, "/metrics", "", &r), 0);
	ck_assert_int_lt(proxy("GET", "pods", "kafka-9", 9404, "/metrics", "", &r), 0);
	ck_assert_int_eq(proxy("GET", "pods", "kafka-0", 9404, "/other", "", &r), 0);
	ck_assert_int_eq(r.status, 404);
	free(r.body);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Cruise Control
 * ------------------------------------------------------------------------- */

static cJSON *cc_get(const char *path, const char *query)
{
	struct ks_proxy_response r;
	int rc = proxy("GET", "services", "kafka-cruise-control", 9090, path, query, &r);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(r.status == 200, "GET %s: %d %s", path, r.status, r.body);
	cJSON *j = cJSON_Parse(r.body);
	ck_assert_msg(j != NULL, "GET %s: not JSON: %s", path, r.body);
	free(r.body);
	return j;
}

static int array_size(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
	ck_assert_msg(cJSON_IsArray(x), "%s.%s is not an array", a, b);
	return cJSON_GetArraySize(x);
}

START_TEST(test_cc_cluster_state_shape)
{
	create_sts("kafka", 3, 60000, NULL);
	wait_healthy("kafka", 3);
	cJSON *j = cc_get("/kafkacruisecontrol/kafka_cluster_state", "json=true&verbose=true");
	const cJSON *bs = cJSON_GetObjectItemCaseSensitive(j, "KafkaBrokerState");
	static const char *const maps[] = {"LeaderCountByBrokerId", "OutOfSyncCountByBrokerId",
		"ReplicaCountByBrokerId", "OfflineReplicaCountByBrokerId", "IsController",
		"OnlineLogDirsByBrokerId", "OfflineLogDirsByBrokerId", "BrokerSetByBrokerId"};
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(bs, maps[i]);
		ck_assert_msg(cJSON_IsObject(m) && cJSON_GetArraySize(m) == 3, "%s", maps[i]);
	}
	ck_assert_int_eq(th_num(bs, "ReplicaCountByBrokerId", "1", NULL), 18);
	int controllers = 0;
	const cJSON *ic;
	cJSON_ArrayForEach(ic, cJSON_GetObjectItemCaseSensitive(bs, "IsController"))
		controllers += cJSON_IsTrue(ic);
	ck_assert_int_eq(controllers, 1);
	ck_assert_int_eq(th_num(bs, "Summary", "Brokers", NULL), 3);
	ck_assert_int_eq(th_num(bs, "Summary", "Topics", NULL), 3);
	ck_assert_int_eq(th_num(bs, "Summary", "Replicas", NULL), 54);
	ck_assert_int_eq(th_num(bs, "Summary", "Leaders", NULL), 18);
	static const char *const summ[] = {"AvgReplicationFactor", "AvgReplicasPerBroker",
		"AvgLeadersPerBroker", "MaxReplicasPerBroker", "MaxLeadersPerBroker",
		"StdReplicasPerBroker", "StdLeadersPerBroker"};
	for (size_t i = 0; i < sizeof(summ) / sizeof(summ[0]); i++)
		ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(bs, "Summary"), summ[i])), "%s", summ[i]);
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "urp"), 0);
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "offline"), 0);
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "under-min-isr"), 0);
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "with-offline-replicas"), 0);
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "other"), 18);
	ck_assert_int_eq(th_num(j, "version", NULL), 1);
	cJSON_Delete(j);

	delete_pod("kafka-2");
	j = cc_get("/kafkacruisecontrol/kafka_cluster_state", "json=true&topic=topic-1");
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "urp"), 6);
	ck_assert_int_eq(array_size(j, "KafkaPartitionState", "with-offline-replicas"), 6);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "KafkaPartitionState"), "other"));
	const cJSON *ps = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "KafkaPartitionState"), "urp"), 0);
	ck_assert_str_eq(th_str(ps, "topic", NULL), "topic-1");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ps, "replicas")), 3);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ps, "in-sync")), 2);
	ck_assert_int_eq(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ps, "out-of-sync"), 0)
		->valueint, 2);
	ck_assert_int_eq(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ps, "offline"), 0)
		->valueint, 2);
	ck_assert_int_eq(th_num(ps, "min-isr", NULL), 2);
	ck_assert_int_ge(th_num(ps, "leader", NULL), 0);
	ck_assert_int_eq(th_num(ps, "partition", NULL) >= 0, 1);
	cJSON_Delete(j);
}
END_TEST

/* Request through kk_cc_request with the User-Task-ID header made explicit. */
static int cc_post(const char *path, const char *query, const char *task_in, char *task_out,
	char **body)
{
	struct ks_proxy_request req = {.method = "POST", .namespace = NS, .kind = "services",
		.name = "kafka-cruise-control", .port = 9090, .path = path, .query = query,
		.body = "", .body_len = 0};
	struct ks_proxy_response r = {.status = 200};
	ck_assert_int_eq(kk_cc_request(model, &req, task_in, &r, task_out), 0);
	*body = r.body;
	return r.status;
}

static const char *task_status(const char *id)
{
	static char status[32];
	char q[128];
	snprintf(q, sizeof(q), "json=true&fetch_completed_task=true&user_task_ids=%s", id);
	cJSON *j = cc_get("/kafkacruisecontrol/user_tasks", q);
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(j, "userTasks");
	ck_assert_int_eq(cJSON_GetArraySize(tasks), 1);
	const cJSON *t = cJSON_GetArrayItem(tasks, 0);
	ck_assert_str_eq(th_str(t, "UserTaskId", NULL), id);
	ck_assert_ptr_nonnull(th_str(t, "RequestURL", NULL));
	ck_assert_ptr_nonnull(th_str(t, "StartMs", NULL));
	ck_assert_ptr_nonnull(th_str(t, "originalResponse", NULL));
	snprintf(status, sizeof(status), "%s", th_str(t, "Status", NULL));
	cJSON_Delete(j);
	return status;
}

/* Follow a task with its User-Task-ID until the final answer. */
static int follow(const char *path, const char *query, const char *id, char **body,
	bool *saw_execution)
{
	int status = 202;
	double end = th_ms() + TH_TIMEOUT_MS;
	while (status == 202 && th_ms() < end) {
		char out[40];
		free(*body);
		status = cc_post(path, query, id, out, body);
		ck_assert_str_eq(out, id);
		if (status == 202 && !strcmp(task_status(id), "InExecution"))
			*saw_execution = true;
		usleep(2000);
	}
	return status;
}

START_TEST(test_cc_add_broker_async)
{
	create_sts("kafka", 3, 1000, "\"kubesim.keelson.dev/kafka-move-ms\":\"5000\"");
	wait_healthy("kafka", 3);
	th_patch("apps", "statefulsets", NS, "kafka", "{\"spec\":{\"replicas\":5}}", NULL);
	wait_healthy("kafka", 5);
	ck_assert_int_eq(summary("kafka").replicas_on[3], 0);

	/* dryrun defaults to true: a proposal, nothing moves. */
	char id[40], *body = NULL;
	int st = cc_post("/kafkacruisecontrol/add_broker", "brokerid=3,4&json=true", NULL, id, &body);
	ck_assert_int_eq(st, 202);
	ck_assert_int_eq(strlen(id), 36);
	ck_assert_ptr_nonnull(strstr(body, "\"progress\""));
	bool exec = false;
	st = follow("/kafkacruisecontrol/add_broker", "brokerid=3,4&json=true", id, &body, &exec);
	ck_assert_int_eq(st, 200);
	ck_assert(!exec);
	cJSON *j = cJSON_Parse(body);
	ck_assert_int_eq(th_num(j, "summary", "numReplicaMovements", NULL), 20);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "proposals")), 20);
	cJSON_Delete(j);
	free(body);
	body = NULL;
	ck_assert_int_eq(summary("kafka").replicas_on[3], 0);
	ck_assert_str_eq(task_status(id), "Completed");

	/* dryrun=false: 202 while replicas move, then 200. */
	const char *q = "brokerid=3,4&dryrun=false&json=true";
	st = cc_post("/kafkacruisecontrol/add_broker", q, NULL, id, &body);
	ck_assert_int_eq(st, 202);
	const char *first = task_status(id);
	ck_assert_msg(!strcmp(first, "Active") || !strcmp(first, "InExecution"), "%s", first);
	exec = false;
	st = follow("/kafkacruisecontrol/add_broker", q, id, &body, &exec);
	ck_assert_msg(st == 200, "final %d: %s", st, body);
	ck_assert(exec);
	free(body);
	ck_assert_str_eq(task_status(id), "Completed");
	sync_all();
	struct ks_kafka_cluster_summary s = summary("kafka");
	for (int i = 0; i < 5; i++) {
		ck_assert_int_ge(s.replicas_on[i], 10);
		ck_assert_int_le(s.replicas_on[i], 12);
	}
	ck_assert(!s.task_running);
	ck_assert(TH_WAIT(healthy("kafka", 5), TH_TIMEOUT_MS));
	cJSON *state = cc_get("/kafkacruisecontrol/state", "json=true");
	ck_assert_str_eq(th_str(state, "ExecutorState", "state", NULL), "NO_TASK_IN_PROGRESS");
	cJSON_Delete(state);
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_cc_remove_broker_then_scale_down)
{
	create_sts("kafka", 5, 1000, "\"kubesim.keelson.dev/kafka-move-ms\":\"5000\"");
	wait_healthy("kafka", 5);
	ck_assert_int_gt(summary("kafka").replicas_on[4], 0);
	/* Through the proxy: the helper sends back the User-Task-ID header. */
	const char *q = "brokerid=3,4&dryrun=false&json=true";
	struct ks_proxy_response r;
	proxy_task_id[0] = 0;
	ck_assert_int_eq(proxy("POST", "services", "kafka-cruise-control", 9090,
		"/kafkacruisecontrol/remove_broker", q, &r), 0);
	ck_assert_int_eq(r.status, 202);
	free(r.body);
	bool running = false;
	double end = th_ms() + TH_TIMEOUT_MS;
	int st = 202;
	while (st == 202 && th_ms() < end) {
		ck_assert_int_eq(proxy("POST", "services", "kafka-cruise-control", 9090,
			"/kafkacruisecontrol/remove_broker", q, &r), 0);
		st = r.status;
		free(r.body);
		if (st == 202) {
			cJSON *state = cc_get("/kafkacruisecontrol/state", "");
			running = running || !strcmp(th_str(state, "ExecutorState", "state", NULL),
				"INTER_BROKER_REPLICA_MOVEMENT_TASK_IN_PROGRESS");
			cJSON_Delete(state);
		}
		usleep(2000);
	}
	ck_assert_int_eq(st, 200);
	ck_assert(running);
	struct ks_kafka_cluster_summary s = summary("kafka");
	ck_assert_int_eq(s.replicas_on[3], 0);
	ck_assert_int_eq(s.replicas_on[4], 0);
	ck_assert_int_eq(s.replicas_on[0] + s.replicas_on[1] + s.replicas_on[2], 54);
	/* A new request after the final answer is a new task. */
	proxy_task_id[0] = 0;
	ck_assert_int_eq(proxy("POST", "services", "kafka-cruise-control", 9090,
		"/kafkacruisecontrol/remove_broker", "brokerid=3", &r), 0);
	ck_assert_int_eq(r.status, 202);
	free(r.body);
	cJSON *tasks = cc_get("/kafkacruisecontrol/user_tasks", "json=true");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(tasks, "userTasks")), 2);
	cJSON_Delete(tasks);

	th_patch("apps", "statefulsets", NS, "kafka", "{\"spec\":{\"replicas\":3}}", NULL);
	ck_assert(TH_WAIT(!th_exists("", "pods", NS, "kafka-3") &&
		!th_exists("", "pods", NS, "kafka-4"), TH_TIMEOUT_MS));
	sync_all();
	ck_assert(healthy("kafka", 3));
	ASSERT_NO_VIOLATIONS();
}
END_TEST

START_TEST(test_cc_errors)
{
	create_sts("kafka", 3, 1000, NULL);
	wait_healthy("kafka", 3);
	char id[40], *body = NULL;
	ck_assert_int_eq(cc_post("/kafkacruisecontrol/add_broker", "brokerid=7", NULL, id, &body),
		500);
	ck_assert_ptr_nonnull(strstr(body, "does not exist"));
	free(body);
	ck_assert_int_eq(cc_post("/kafkacruisecontrol/remove_broker", "dryrun=false", NULL, id,
		&body), 400);
	free(body);
	ck_assert_int_eq(cc_post("/kafkacruisecontrol/add_broker", "brokerid=1&dryrun=maybe", NULL,
		id, &body), 400);
	free(body);
	/* Removing a broker of a 3-broker cluster with RF 3 cannot work. */
	ck_assert_int_eq(cc_post("/kafkacruisecontrol/remove_broker", "brokerid=2&dryrun=false",
		NULL, id, &body), 500);
	ck_assert_ptr_nonnull(strstr(body, "OptimizationFailureException"));
	free(body);
	ck_assert_int_eq(cc_post("/kafkacruisecontrol/add_broker", "brokerid=1",
		"00000000-0000-4000-8000-000000000000", id, &body), 400);
	free(body);
	struct ks_proxy_response r;
	ck_assert_int_eq(proxy("GET", "services", "kafka-cruise-control", 9090,
		"/kafkacruisecontrol/add_broker", "brokerid=1", &r), 0);
	ck_assert_int_eq(r.status, 404);
	free(r.body);
	ck_assert_int_eq(proxy("GET", "services", "kafka-other", 9090,
		"/kafkacruisecontrol/state", "", &r), -2);
}
END_TEST

START_TEST(test_cc_stop_execution)
{
	create_sts("kafka", 3, 1000, "\"kubesim.keelson.dev/kafka-move-ms\":\"60000\"");
	wait_healthy("kafka", 3);
	th_patch("apps", "statefulsets", NS, "kafka", "{\"spec\":{\"replicas\":4}}", NULL);
	wait_healthy("kafka", 4);
	char id[40], *body = NULL;
	ck_assert_int_eq(cc_post("/kafkacruisecontrol/add_broker", "brokerid=3&dryrun=false", NULL,
		id, &body), 202);
	free(body);
	ck_assert(TH_WAIT(summary("kafka").task_running, TH_TIMEOUT_MS));
	struct ks_proxy_response r;
	ck_assert_int_eq(proxy("POST", "services", "kafka-cruise-control", 9090,
		"/kafkacruisecontrol/stop_proposal_execution", "", &r), 0);
	ck_assert_int_eq(r.status, 200);
	free(r.body);
	ck_assert_str_eq(task_status(id), "CompletedWithError");
	ck_assert(!summary("kafka").task_running);
}
END_TEST

Suite *suite_kafka_model(void);
Suite *suite_kafka_model(void)
{
	Suite *s = suite_create("kafka_model");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"three_brokers_healthy", test_three_brokers_healthy},
		{"five_brokers_healthy", test_five_brokers_healthy},
		{"topics_annotation", test_topics_annotation},
		{"example_layout", test_example_layout},
		{"delete_one_then_rejoin", test_delete_one_then_rejoin},
		{"second_delete_while_urp", test_second_delete_while_urp},
		{"replace_stuck_broker", test_replace_stuck_broker},
		{"crashloop_no_metrics", test_crashloop_no_metrics},
		{"violation_once_per_episode", test_violation_once_per_episode},
		{"controller_moves", test_controller_moves},
		{"full_outage_recovers", test_full_outage_recovers},
		{"scale_down_with_replicas", test_scale_down_with_replicas},
		{"metrics_text", test_metrics_text},
		{"cc_cluster_state_shape", test_cc_cluster_state_shape},
		{"cc_add_broker_async", test_cc_add_broker_async},
		{"cc_remove_broker_then_scale_down", test_cc_remove_broker_then_scale_down},
		{"cc_errors", test_cc_errors},
		{"cc_stop_execution", test_cc_stop_execution},
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

KEELSON_CHECK_MAIN(suite_kafka_model)
