/*
 * Against the real Alertmanager (started by alertmanager.sh, URL in
 * $ALERTMANAGER_URL): a drift alert is read back from GET /api/v2/alerts
 * with its labels, re-firing within the interval sends nothing (counted by
 * Alertmanager's own alertmanager_alerts_received_total), and after the
 * resolution the alert is gone. A blocked-rollout alert follows the same
 * path through resolve_stale.
 */
#include "config.h"

#include "alerts/alerts.h"
#include "core/error.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct text {
	char *data;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct text *t = userdata;
	size_t len = size * n;
	t->data = realloc(t->data, t->len + len + 1);
	memcpy(t->data + t->len, p, len);
	t->len += len;
	t->data[t->len] = '\0';
	return len;
}

static const char *base_url(void)
{
	const char *u = getenv("ALERTMANAGER_URL");
	ck_assert_msg(u != NULL, "ALERTMANAGER_URL is not set: run this through tests/alerts/alertmanager.sh");
	return u;
}

static char *get(const char *path)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", base_url(), path);
	struct text t = {0};
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	ck_assert_int_eq(status, 200);
	return t.data ? t.data : strdup("");
}

/* alertmanager_alerts_received_total for `status` (firing/resolved), API v2. */
static long received(const char *status)
{
	char *m = get("/metrics");
	char needle[128];
	snprintf(needle, sizeof(needle), "alertmanager_alerts_received_total{status=\"%s\",version=\"v2\"} ", status);
	char *p = strstr(m, needle);
	ck_assert_msg(p != NULL, "no %s in Alertmanager's metrics", needle);
	long n = strtol(p + strlen(needle), NULL, 10);
	free(m);
	return n;
}

/* The alert from GET /api/v2/alerts whose labels match; NULL if absent.
 * Caller deletes *doc. */
static const cJSON *find_alert(cJSON **doc, const char *alertname, const char *name)
{
	char *body = get("/api/v2/alerts");
	*doc = cJSON_Parse(body);
	free(body);
	ck_assert(cJSON_IsArray(*doc));
	const cJSON *a;
	cJSON_ArrayForEach(a, *doc)
	{
		const cJSON *labels = cJSON_GetObjectItem(a, "labels");
		const cJSON *an = cJSON_GetObjectItem(labels, "alertname");
		const cJSON *n = cJSON_GetObjectItem(labels, "name");
		if (cJSON_IsString(an) && strcmp(an->valuestring, alertname) == 0 &&
		    (name == NULL ? n == NULL : (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)))
			return a;
	}
	return NULL;
}

static const char *label(const cJSON *alert, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(alert, "labels"), key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static struct keelson_alerts *make(void)
{
	struct keelson_alerts *a = NULL;
	struct keelson_alerts_options o = {
		.version = KEELSON_ALERTS_OPTIONS_VERSION,
		.alertmanager_url = base_url(),
		.repeat_interval_ms = 60000,
	};
	ck_assert_int_eq(keelson_alerts_new(&a, &o), 0);
	return a;
}

/* Alertmanager applies alerts asynchronously: poll briefly. */
static bool wait_gone(const char *alertname, const char *name)
{
	for (int i = 0; i < 50; i++) {
		cJSON *doc;
		bool gone = find_alert(&doc, alertname, name) == NULL;
		cJSON_Delete(doc);
		if (gone)
			return true;
		usleep(100000);
	}
	return false;
}

START_TEST(test_drift_roundtrip)
{
	struct keelson_alerts *a = make();
	long firing0 = received("firing"), resolved0 = received("resolved");
	struct keelson_alert drift = {
		.alertname = KEELSON_ALERT_DRIFT,
		.cluster = "prod-eu",
		.system = "kafka",
		.kind = "StatefulSet",
		.namespace_ = "data",
		.name = "brokers",
		.summary = "StatefulSet data/brokers drifted from Git",
		.description = "spec.replicas: Git 3, live 4",
	};
	ck_assert_int_eq(keelson_alerts_fire(a, &drift), 0);
	ck_assert_int_eq(received("firing"), firing0 + 1);

	cJSON *doc;
	const cJSON *al = find_alert(&doc, KEELSON_ALERT_DRIFT, "brokers");
	ck_assert_msg(al != NULL, "the drift alert is not in Alertmanager");
	ck_assert_str_eq(label(al, "cluster"), "prod-eu");
	ck_assert_str_eq(label(al, "system"), "kafka");
	ck_assert_str_eq(label(al, "kind"), "StatefulSet");
	ck_assert_str_eq(label(al, "namespace"), "data");
	ck_assert_str_eq(label(al, "severity"), "warning");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(al, "status"), "state")->valuestring, "active");
	ck_assert_str_eq(
		cJSON_GetObjectItem(cJSON_GetObjectItem(al, "annotations"), "description")->valuestring,
		"spec.replicas: Git 3, live 4");
	cJSON_Delete(doc);

	/* Same drift again, within the interval: Alertmanager receives nothing. */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(keelson_alerts_fire(a, &drift), 0);
		ck_assert_int_eq(keelson_alerts_tick(a), 0);
	}
	ck_assert_int_eq(received("firing"), firing0 + 1);

	ck_assert_int_eq(keelson_alerts_resolve(a, &drift), 0);
	ck_assert_int_eq(received("resolved"), resolved0 + 1);
	ck_assert_msg(wait_gone(KEELSON_ALERT_DRIFT, "brokers"), "the resolved alert is still active");
	ck_assert_uint_eq(keelson_alerts_active_count(a), 0);
	keelson_alerts_free(a);
}
END_TEST

START_TEST(test_blocked_roundtrip)
{
	struct keelson_alerts *a = make();
	uint64_t mark = keelson_alerts_mark(a);
	struct keelson_alert blocked = {
		.alertname = KEELSON_ALERT_BLOCKED,
		.cluster = "prod-eu",
		.system = "cassandra",
		.severity = "critical",
		.summary = "Rollout of cassandra is blocked",
		.description = "node dc1-r1-2 is not Ready after 10m",
	};
	ck_assert_int_eq(keelson_alerts_fire(a, &blocked), 0);
	cJSON *doc;
	const cJSON *al = find_alert(&doc, KEELSON_ALERT_BLOCKED, NULL);
	ck_assert_msg(al != NULL, "the blocked alert is not in Alertmanager");
	ck_assert_str_eq(label(al, "system"), "cassandra");
	ck_assert_str_eq(label(al, "severity"), "critical");
	cJSON_Delete(doc);
	/* The next cycle no longer sees it blocked. */
	uint64_t next = keelson_alerts_mark(a);
	ck_assert_uint_gt(next, mark);
	ck_assert_int_eq(keelson_alerts_resolve_stale(a, KEELSON_ALERT_BLOCKED, "prod-eu", "cassandra", next), 0);
	ck_assert_msg(wait_gone(KEELSON_ALERT_BLOCKED, NULL), "the resolved blocked alert is still active");
	keelson_alerts_free(a);
}
END_TEST

Suite *suite_alertmanager(void);

Suite *suite_alertmanager(void)
{
	Suite *s = suite_create("alertmanager");
	TCase *tc = tcase_create("drift_roundtrip");
	tcase_add_test(tc, test_drift_roundtrip);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("blocked_roundtrip");
	tcase_add_test(tc, test_blocked_roundtrip);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_alertmanager)
