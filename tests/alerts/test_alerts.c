/*
 * Alert sender against a capture server on loopback, with a fake clock:
 * body shapes for Alertmanager and the generic webhook, the signature,
 * the re-send interval, resolution, retries after failures, stale
 * resolution by epoch.
 */
#include "config.h"

#include "alerts/alerts.h"
#include "core/error.h"
#include "http/hmac.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767225600000LL /* 2026-01-01T00:00:00.000Z */
#define SECRET "alert-hook-secret"

struct captured {
	char path[64];
	char signature[128];
	char *body;
};

static struct {
	pthread_mutex_t lock;
	struct captured req[64];
	size_t count;
	unsigned status;
	struct MHD_Daemon *d;
	unsigned port;
} cap = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct upload {
	char *data;
	size_t len;
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *data, size_t *size, void **con_cls)
{
	struct upload *u = *con_cls;
	if (u == NULL) {
		*con_cls = calloc(1, sizeof(struct upload));
		return MHD_YES;
	}
	if (*size > 0) {
		u->data = realloc(u->data, u->len + *size + 1);
		memcpy(u->data + u->len, data, *size);
		u->len += *size;
		u->data[u->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&cap.lock);
	if (cap.count < 64) {
		struct captured *r = &cap.req[cap.count++];
		snprintf(r->path, sizeof(r->path), "%s", url);
		const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Keelson-Signature-256");
		snprintf(r->signature, sizeof(r->signature), "%s", sig ? sig : "");
		r->body = u->data ? u->data : strdup("");
		u->data = NULL;
	}
	unsigned status = cap.status;
	pthread_mutex_unlock(&cap.lock);
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct upload *u = *con_cls;
	if (u != NULL) {
		free(u->data);
		free(u);
	}
}

static long long fake_now;

static long long fake_clock(void *payload)
{
	return fake_now;
}

static struct keelson_alerts *alerts;

static void setup(void)
{
	cap.count = 0;
	cap.status = 200;
	cap.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, on_req, NULL,
				 MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	ck_assert_ptr_nonnull(cap.d);
	cap.port = MHD_get_daemon_info(cap.d, MHD_DAEMON_INFO_BIND_PORT)->port;
	char am[64], hook[64];
	snprintf(am, sizeof(am), "http://127.0.0.1:%u/am/", cap.port);
	snprintf(hook, sizeof(hook), "http://127.0.0.1:%u/hook", cap.port);
	fake_now = T0;
	struct keelson_alerts_options o = {
		.version = KEELSON_ALERTS_OPTIONS_VERSION,
		.alertmanager_url = am,
		.webhook_url = hook,
		.webhook_secret = SECRET,
		.repeat_interval_ms = 60000,
		.generator_url = "http://keelson.example/status",
		.clock = fake_clock,
	};
	ck_assert_int_eq(keelson_alerts_new(&alerts, &o), 0);
}

static void teardown(void)
{
	keelson_alerts_free(alerts);
	MHD_stop_daemon(cap.d);
	for (size_t i = 0; i < cap.count; i++)
		free(cap.req[i].body);
	cap.count = 0;
}

static size_t captured(void)
{
	pthread_mutex_lock(&cap.lock);
	size_t n = cap.count;
	pthread_mutex_unlock(&cap.lock);
	return n;
}

/* The request to `path` among the last two captured. */
static const struct captured *last_to(const char *path)
{
	for (size_t i = cap.count; i-- > 0 && i + 2 >= cap.count;)
		if (strcmp(cap.req[i].path, path) == 0)
			return &cap.req[i];
	ck_abort_msg("no request to %s", path);
	return NULL;
}

static const struct keelson_alert drift_a = {
	.alertname = KEELSON_ALERT_DRIFT,
	.cluster = "prod",
	.system = "kafka",
	.kind = "StatefulSet",
	.namespace_ = "data",
	.name = "brokers",
	.summary = "Drift in StatefulSet data/brokers",
	.description = "spec.replicas: Git 3, live 4",
};

static const char *str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b != NULL)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	ck_assert_msg(cJSON_IsString(x), "%s.%s missing", a, b ? b : "");
	return x->valuestring;
}

START_TEST(test_fire_and_interval)
{
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	ck_assert_uint_eq(captured(), 2);
	cJSON *am = cJSON_Parse(last_to("/am/api/v2/alerts")->body);
	ck_assert(cJSON_IsArray(am) && cJSON_GetArraySize(am) == 1);
	const cJSON *al = cJSON_GetArrayItem(am, 0);
	ck_assert_str_eq(str(al, "labels", "alertname"), "KeelsonDrift");
	ck_assert_str_eq(str(al, "labels", "cluster"), "prod");
	ck_assert_str_eq(str(al, "labels", "system"), "kafka");
	ck_assert_str_eq(str(al, "labels", "kind"), "StatefulSet");
	ck_assert_str_eq(str(al, "labels", "namespace"), "data");
	ck_assert_str_eq(str(al, "labels", "name"), "brokers");
	ck_assert_str_eq(str(al, "labels", "severity"), "warning");
	ck_assert_str_eq(str(al, "annotations", "description"), "spec.replicas: Git 3, live 4");
	ck_assert_str_eq(str(al, "startsAt", NULL), "2026-01-01T00:00:00.000Z");
	ck_assert_str_eq(str(al, "endsAt", NULL), "2026-01-01T00:04:00.000Z"); /* 4 x interval */
	ck_assert_str_eq(str(al, "generatorURL", NULL), "http://keelson.example/status");
	ck_assert_ptr_null(cJSON_GetObjectItem(al, "status")); /* not part of the AM API */
	cJSON_Delete(am);

	const struct captured *hook = last_to("/hook");
	ck_assert(keelson_hmac_sha256_verify(hook->signature, SECRET, hook->body, strlen(hook->body)));
	cJSON *wh = cJSON_Parse(hook->body);
	ck_assert_int_eq(cJSON_GetObjectItem(wh, "version")->valueint, 1);
	ck_assert_str_eq(str(wh, "source", NULL), "keelson");
	al = cJSON_GetArrayItem(cJSON_GetObjectItem(wh, "alerts"), 0);
	ck_assert_str_eq(str(al, "status", NULL), "firing");
	ck_assert_str_eq(str(al, "labels", "name"), "brokers");
	cJSON_Delete(wh);

	/* The same drift within the interval: nothing sent. */
	fake_now = T0 + 1000;
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	fake_now = T0 + 59999;
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 2);
	/* Due again after the interval, from tick alone. */
	fake_now = T0 + 60000;
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 4);
	am = cJSON_Parse(last_to("/am/api/v2/alerts")->body);
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "startsAt", NULL), "2026-01-01T00:00:00.000Z");
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "endsAt", NULL), "2026-01-01T00:05:00.000Z");
	cJSON_Delete(am);
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	ck_assert_uint_eq(captured(), 4);
}
END_TEST

START_TEST(test_resolve)
{
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	fake_now = T0 + 5500;
	struct keelson_alert key = {.alertname = KEELSON_ALERT_DRIFT,
				    .cluster = "prod",
				    .system = "kafka",
				    .kind = "StatefulSet",
				    .namespace_ = "data",
				    .name = "brokers"};
	ck_assert_int_eq(keelson_alerts_resolve(alerts, &key), 0);
	ck_assert_uint_eq(captured(), 4);
	ck_assert_uint_eq(keelson_alerts_active_count(alerts), 0);
	cJSON *am = cJSON_Parse(last_to("/am/api/v2/alerts")->body);
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "endsAt", NULL), "2026-01-01T00:00:05.500Z");
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "startsAt", NULL), "2026-01-01T00:00:00.000Z");
	cJSON_Delete(am);
	cJSON *wh = cJSON_Parse(last_to("/hook")->body);
	ck_assert_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItem(wh, "alerts"), 0), "status", NULL), "resolved");
	cJSON_Delete(wh);
	/* Not active any more: nothing to send. */
	ck_assert_int_eq(keelson_alerts_resolve(alerts, &key), 0);
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 4);
	/* Drift again: a new episode, sent at once with a new startsAt. */
	fake_now = T0 + 7000;
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	ck_assert_uint_eq(captured(), 6);
	am = cJSON_Parse(last_to("/am/api/v2/alerts")->body);
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "startsAt", NULL), "2026-01-01T00:00:07.000Z");
	cJSON_Delete(am);
}
END_TEST

START_TEST(test_failure_retry)
{
	cap.status = 500;
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "HTTP 500"));
	ck_assert_uint_eq(captured(), 2);
	/* Retries wait min(interval, 10 s). */
	fake_now = T0 + 9999;
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 2);
	cap.status = 200;
	fake_now = T0 + 10000;
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 4);
	/* Delivered: the next one waits for the whole interval. */
	fake_now = T0 + 60000;
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 4);
	fake_now = T0 + 70000;
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(captured(), 6);

	/* A resolution that fails is kept and retried until delivered. */
	cap.status = 503;
	ck_assert_int_eq(keelson_alerts_resolve(alerts, &drift_a), KEELSON_EUNAVAILABLE);
	ck_assert_uint_eq(keelson_alerts_active_count(alerts), 1);
	cap.status = 200;
	fake_now += 10000;
	ck_assert_int_eq(keelson_alerts_tick(alerts), 0);
	ck_assert_uint_eq(keelson_alerts_active_count(alerts), 0);
	cJSON *wh = cJSON_Parse(last_to("/hook")->body);
	ck_assert_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItem(wh, "alerts"), 0), "status", NULL), "resolved");
	cJSON_Delete(wh);
}
END_TEST

START_TEST(test_resolve_stale)
{
	struct keelson_alert b = drift_a;
	b.name = "zookeeper";
	struct keelson_alert blocked = {.alertname = KEELSON_ALERT_BLOCKED,
					.cluster = "prod",
					.system = "kafka",
					.severity = "critical",
					.summary = "Rollout of kafka blocked"};
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0);
	ck_assert_int_eq(keelson_alerts_fire(alerts, &b), 0);
	ck_assert_int_eq(keelson_alerts_fire(alerts, &blocked), 0);
	ck_assert_uint_eq(keelson_alerts_active_count(alerts), 3);
	cJSON *am = cJSON_Parse(last_to("/am/api/v2/alerts")->body);
	const cJSON *labels = cJSON_GetObjectItem(cJSON_GetArrayItem(am, 0), "labels");
	ck_assert_str_eq(str(labels, "alertname", NULL), "KeelsonRolloutBlocked");
	ck_assert_str_eq(str(labels, "severity", NULL), "critical");
	ck_assert_ptr_null(cJSON_GetObjectItem(labels, "kind")); /* empty labels left out */
	cJSON_Delete(am);
	size_t before = captured();

	fake_now = T0 + 1000;
	uint64_t mark = keelson_alerts_mark(alerts);
	ck_assert_int_eq(keelson_alerts_fire(alerts, &drift_a), 0); /* still drifted, not due */
	ck_assert_uint_eq(captured(), before);
	ck_assert_int_eq(keelson_alerts_resolve_stale(alerts, KEELSON_ALERT_DRIFT, "prod", "kafka", mark), 0);
	/* Only b was resolved; the blocked alert is another alertname. */
	ck_assert_uint_eq(keelson_alerts_active_count(alerts), 2);
	ck_assert_uint_eq(captured(), before + 2);
	am = cJSON_Parse(last_to("/am/api/v2/alerts")->body);
	ck_assert_int_eq(cJSON_GetArraySize(am), 1);
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "labels", "name"), "zookeeper");
	ck_assert_str_eq(str(cJSON_GetArrayItem(am, 0), "endsAt", NULL), "2026-01-01T00:00:01.000Z");
	cJSON_Delete(am);
	/* Another cluster's alerts are left alone. */
	ck_assert_int_eq(keelson_alerts_resolve_stale(alerts, NULL, "staging", NULL, keelson_alerts_mark(alerts)), 0);
	ck_assert_uint_eq(keelson_alerts_active_count(alerts), 2);
}
END_TEST

START_TEST(test_options)
{
	struct keelson_alerts *a = NULL;
	struct keelson_alerts_options o = {.version = KEELSON_ALERTS_OPTIONS_VERSION, .alertmanager_url = "ftp://x"};
	ck_assert_int_eq(keelson_alerts_new(&a, &o), KEELSON_EINVALID);
	o.version = 7;
	o.alertmanager_url = NULL;
	ck_assert_int_eq(keelson_alerts_new(&a, &o), KEELSON_EINVALID);
	/* No receiver: state is kept, nothing is sent. */
	o.version = KEELSON_ALERTS_OPTIONS_VERSION;
	ck_assert_int_eq(keelson_alerts_new(&a, &o), 0);
	ck_assert_int_eq(keelson_alerts_fire(a, &drift_a), 0);
	ck_assert_uint_eq(keelson_alerts_active_count(a), 1);
	struct keelson_alert unnamed = {.cluster = "x"};
	ck_assert_int_eq(keelson_alerts_fire(a, &unnamed), KEELSON_EINVALID);
	keelson_alerts_free(a);
	/* Nothing listens on port 1: a transport error, not a crash. */
	o.alertmanager_url = "http://127.0.0.1:1";
	o.timeout_ms = 2000;
	ck_assert_int_eq(keelson_alerts_new(&a, &o), 0);
	ck_assert_int_eq(keelson_alerts_fire(a, &drift_a), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "alertmanager"));
	keelson_alerts_free(a);
}
END_TEST

Suite *suite_alerts(void);

Suite *suite_alerts(void)
{
	Suite *s = suite_create("alerts");
	struct {
		const char *name;
		const TTest *test;
		bool fixture;
	} tests[] = {
		{"fire_and_interval", test_fire_and_interval, true},
		{"resolve", test_resolve, true},
		{"failure_retry", test_failure_retry, true},
		{"resolve_stale", test_resolve_stale, true},
		{"options", test_options, false},
	};
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		TCase *tc = tcase_create(tests[i].name);
		if (tests[i].fixture)
			tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, tests[i].test);
		tcase_set_timeout(tc, 30);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_alerts)
