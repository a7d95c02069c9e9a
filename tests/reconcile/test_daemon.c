/*
 * keelson run's services (reconcile/daemon.h) without a cluster: the verb of
 * an API request for metrics, Event names, and readiness as /readyz shows it
 * after cycle reports (not ready before a successful cycle, not ready while
 * Git or the API fails, ready again after), served on 127.0.0.1:0; a secret
 * file that cannot be read stops the start with the key named.
 */
#include "config.h"

#include "config/config.h"
#include "core/error.h"
#include "reconcile/daemon.h"
#include "reconcile/events.h"
#include "reconcile/reconcile.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(api_verb_from_method_path_and_type)
{
	static const struct {
		const char *method, *path, *type, *verb;
	} cases[] = {
		{"GET", "/api/v1/namespaces/app/configmaps/settings", NULL, "get"},
		{"GET", "/api/v1/namespaces/app/configmaps?limit=500", NULL, "list"},
		{"GET", "/api/v1/namespaces/app", NULL, "get"},
		{"GET", "/api/v1/namespaces", NULL, "list"},
		{"GET", "/apis/apps/v1/statefulsets?watch=true&resourceVersion=5", NULL, "watch"},
		{"GET", "/apis/apps/v1/namespaces/web/statefulsets/web", NULL, "get"},
		{"GET", "/apis/apps/v1", NULL, "discovery"},
		{"GET", "/api", NULL, "discovery"},
		{"GET", "/api/v1/namespaces/web/pods/web-0:8080/proxy/health", NULL, "proxy"},
		{"POST", "/api/v1/namespaces/web/services/kafka:9090/proxy/state", "application/json", "proxy"},
		{"POST", "/api/v1/namespaces/app/events", "application/json", "create"},
		{"PUT", "/api/v1/namespaces/app/configmaps/x", "application/json", "update"},
		{"PATCH", "/api/v1/namespaces/app/configmaps/x?fieldManager=keelson&force=true",
		 "application/apply-patch+yaml", "apply"},
		{"PATCH", "/api/v1/namespaces/app/configmaps/x", "application/merge-patch+json", "patch"},
		{"DELETE", "/api/v1/namespaces/web/pods/web-0", NULL, "delete"},
		{"OPTIONS", "/api/v1", NULL, "other"},
		{NULL, "/api", NULL, "unknown"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(strcmp(keelson_daemon_api_verb(cases[i].method, cases[i].path, cases[i].type),
				     cases[i].verb) == 0,
			      "case %zu: %s %s -> %s, expected %s", i, cases[i].method, cases[i].path,
			      keelson_daemon_api_verb(cases[i].method, cases[i].path, cases[i].type), cases[i].verb);
}
END_TEST

START_TEST(event_name_is_bounded_and_distinct)
{
	char a[300], b[300], long_name[300];
	keelson_event_name(a, sizeof(a), "web-0", 1);
	keelson_event_name(b, sizeof(b), "web-0", 2);
	ck_assert_str_eq(a, "web-0.0000000000000001");
	ck_assert_str_ne(a, b);
	memset(long_name, 'x', 253);
	long_name[253] = '\0';
	keelson_event_name(a, sizeof(a), long_name, 0x1234);
	ck_assert_uint_le(strlen(a), 253);
	ck_assert_str_eq(a + strlen(a) - 17, ".0000000000001234");
}
END_TEST

struct body {
	char data[1024];
	size_t len;
};

static size_t collect(char *ptr, size_t size, size_t n, void *userdata)
{
	struct body *b = userdata;
	size_t len = size * n;
	size_t room = sizeof(b->data) - 1 - b->len;
	memcpy(b->data + b->len, ptr, len < room ? len : room);
	b->len += len < room ? len : room;
	b->data[b->len] = '\0';
	return len;
}

static long get(unsigned port, const char *path, struct body *out)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	memset(out, 0, sizeof(*out));
	CURL *h = curl_easy_init();
	long code = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static struct keelson_config *config_with(const char *extra)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "git:\n  url: file:///nonexistent/config.git\n  cacheDir: /tmp/keelson-test-daemon\n"
		 "clusters: [{name: a}]\n%s",
		 extra);
	struct keelson_config *cfg = NULL;
	ck_assert_int_eq(keelson_config_load_buffer(&cfg, text, strlen(text), "keelson.yaml"), 0);
	return cfg;
}

START_TEST(readiness_follows_cycle_reports)
{
	struct keelson_config *cfg = config_with("http:\n  listen: 127.0.0.1:0\n");
	struct keelson_daemon *d = NULL;
	ck_assert_int_eq(keelson_daemon_start(&d, cfg, 0), 0);
	keelson_config_free(cfg); /* the daemon keeps nothing of it */
	unsigned port = keelson_daemon_http_port(d);
	ck_assert_uint_ne(port, 0);
	ck_assert_int_eq(keelson_daemon_wait_limit_ms(d), -1); /* no status writer */
	struct body b;
	ck_assert_int_eq(get(port, "/healthz", &b), 200);
	ck_assert_int_eq(get(port, "/readyz", &b), 503);

	struct keelson_cycle_report rep;
	memset(&rep, 0, sizeof(rep));
	/* No revision yet: still not ready. */
	keelson_daemon_after_cycle(d, &rep);
	ck_assert_int_eq(get(port, "/readyz", &b), 503);

	/* A revision in force, clusters reached (even if not converged). */
	snprintf(rep.revision, sizeof(rep.revision), "%040d", 7);
	rep.blocked = 1;
	keelson_daemon_after_cycle(d, &rep);
	ck_assert_int_eq(get(port, "/readyz", &b), 200);

	/* Git fails: not ready, the reason shown. */
	rep.git_failed = true;
	snprintf(rep.git_error, sizeof(rep.git_error), "connecting to git://127.0.0.1:1/x.git failed");
	keelson_daemon_after_cycle(d, &rep);
	ck_assert_int_eq(get(port, "/readyz", &b), 503);
	ck_assert_msg(strstr(b.data, "git://127.0.0.1:1/x.git") != NULL, "reason: %s", b.data);

	/* Git back, the API failing. */
	rep.git_failed = false;
	rep.git_error[0] = '\0';
	rep.clusters_failed = 1;
	snprintf(rep.api_error, sizeof(rep.api_error), "cluster a: connection refused");
	keelson_daemon_after_cycle(d, &rep);
	ck_assert_int_eq(get(port, "/readyz", &b), 503);
	ck_assert_msg(strstr(b.data, "connection refused") != NULL, "reason: %s", b.data);

	rep.clusters_failed = 0;
	rep.api_error[0] = '\0';
	keelson_daemon_after_cycle(d, &rep);
	ck_assert_int_eq(get(port, "/readyz", &b), 200);
	ck_assert_int_eq(get(port, "/metrics", &b), 200);
	keelson_daemon_stop(d);
	ck_assert_int_eq(get(port, "/healthz", &b), 0); /* stopped */
}
END_TEST

START_TEST(start_refuses_an_unreadable_secret)
{
	struct keelson_config *cfg =
		config_with("http:\n  listen: 127.0.0.1:0\n  githubSecretFile: /nonexistent/github-secret\n");
	struct keelson_daemon *d = NULL;
	ck_assert_int_eq(keelson_daemon_start(&d, cfg, 0) < 0, 1);
	ck_assert_ptr_null(d);
	ck_assert_msg(strstr(keelson_error_last()->message, "http.githubSecretFile") != NULL, "%s",
		      keelson_error_last()->message);
	ck_assert_msg(strstr(keelson_error_last()->message, "/nonexistent/github-secret") != NULL, "%s",
		      keelson_error_last()->message);
	keelson_config_free(cfg);

	/* Without http (and not in a pod) nothing listens. */
	cfg = config_with("");
	ck_assert_int_eq(keelson_daemon_start(&d, cfg, 0), 0);
	ck_assert_uint_eq(keelson_daemon_http_port(d), 0);
	keelson_daemon_stop(d);
	keelson_config_free(cfg);
}
END_TEST

static Suite *suite_daemon(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("helpers");
	tcase_add_test(tc, api_verb_from_method_path_and_type);
	tcase_add_test(tc, event_name_is_bounded_and_distinct);
	suite_add_tcase(s, tc);
	tc = tcase_create("services");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, readiness_follows_cycle_reports);
	tcase_add_test(tc, start_refuses_an_unreadable_secret);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_daemon)
