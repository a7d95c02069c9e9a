/*
 * Metrics registry: registration rules, updates, text exposition.
 */
#include "config.h"

#include "core/error.h"
#include "metrics/daemon_metrics.h"
#include "metrics/metrics.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(struct keelson_metrics *reg)
{
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(keelson_metrics_render(&text, &len, reg), 0);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

START_TEST(test_counter_render)
{
	struct keelson_metrics *reg;
	struct keelson_metric *c;
	ck_assert_int_eq(keelson_metrics_new(&reg), 0);
	const char *const labels[] = {"verb", "code", NULL};
	ck_assert_int_eq(keelson_metrics_counter(&c, reg, "x_requests_total", "Requests.\nSecond \\ line", labels),
			 0);
	const char *const v1[] = {"get", "200"};
	const char *const v2[] = {"li\"st\\\n", "500"};
	ck_assert_int_eq(keelson_metric_add(c, v1, 1), 0);
	ck_assert_int_eq(keelson_metric_add(c, v1, 2.5), 0);
	ck_assert_int_eq(keelson_metric_add(c, v2, 1), 0);
	ck_assert_int_eq(keelson_metric_add(c, v1, -1), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_metric_set(c, v1, 1), KEELSON_EINVALID);
	double v;
	ck_assert_int_eq(keelson_metric_value(&v, c, v1), 0);
	ck_assert(v == 3.5);
	char *text = render(reg);
	ck_assert_str_eq(text, "# HELP x_requests_total Requests.\\nSecond \\\\ line\n"
			       "# TYPE x_requests_total counter\n"
			       "x_requests_total{verb=\"get\",code=\"200\"} 3.5\n"
			       "x_requests_total{verb=\"li\\\"st\\\\\\n\",code=\"500\"} 1\n");
	free(text);
	keelson_metrics_free(reg);
}
END_TEST

START_TEST(test_gauge_and_remove)
{
	struct keelson_metrics *reg;
	struct keelson_metric *g;
	ck_assert_int_eq(keelson_metrics_new(&reg), 0);
	ck_assert_int_eq(keelson_metrics_gauge(&g, reg, "x_up", "Up.", NULL), 0);
	ck_assert_int_eq(keelson_metric_set(g, NULL, 1e21), 0);
	char *text = render(reg);
	ck_assert_str_eq(text, "# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1e+21\n");
	free(text);
	ck_assert_int_eq(keelson_metric_set(g, NULL, NAN), 0);
	text = render(reg);
	ck_assert_ptr_nonnull(strstr(text, "x_up NaN\n"));
	free(text);
	ck_assert_int_eq(keelson_metric_remove(g, NULL), 0);
	double v;
	ck_assert_int_eq(keelson_metric_value(&v, g, NULL), KEELSON_ENOTFOUND);
	text = render(reg);
	ck_assert_str_eq(text, "# HELP x_up Up.\n# TYPE x_up gauge\n");
	free(text);
	keelson_metrics_free(reg);
}
END_TEST

START_TEST(test_histogram_render)
{
	struct keelson_metrics *reg;
	struct keelson_metric *h;
	ck_assert_int_eq(keelson_metrics_new(&reg), 0);
	const double b[] = {0.005, 0.1, 1};
	const char *const labels[] = {"result", NULL};
	ck_assert_int_eq(keelson_metrics_histogram(&h, reg, "x_seconds", "Time.", labels, b, 3), 0);
	const char *const v[] = {"ok"};
	ck_assert_int_eq(keelson_metric_observe(h, v, 0.005), 0); /* on the bound: counts in it */
	ck_assert_int_eq(keelson_metric_observe(h, v, 0.5), 0);
	ck_assert_int_eq(keelson_metric_observe(h, v, 7), 0);
	ck_assert_int_eq(keelson_metric_add(h, v, 1), KEELSON_EINVALID);
	char *text = render(reg);
	ck_assert_str_eq(text, "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n"
			       "x_seconds_bucket{result=\"ok\",le=\"0.005\"} 1\n"
			       "x_seconds_bucket{result=\"ok\",le=\"0.1\"} 1\n"
			       "x_seconds_bucket{result=\"ok\",le=\"1\"} 2\n"
			       "x_seconds_bucket{result=\"ok\",le=\"+Inf\"} 3\n"
			       "x_seconds_sum{result=\"ok\"} 7.505\n"
			       "x_seconds_count{result=\"ok\"} 3\n");
	free(text);
	keelson_metrics_free(reg);
}
END_TEST

START_TEST(test_registration_rules)
{
	struct keelson_metrics *reg;
	struct keelson_metric *m;
	ck_assert_int_eq(keelson_metrics_new(&reg), 0);
	ck_assert_int_eq(keelson_metrics_counter(&m, reg, "1bad", "", NULL), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_metrics_counter(&m, reg, "bad-name", "", NULL), KEELSON_EINVALID);
	const char *const reserved[] = {"__x", NULL};
	ck_assert_int_eq(keelson_metrics_counter(&m, reg, "ok_total", "", reserved), KEELSON_EINVALID);
	const char *const le[] = {"le", NULL};
	const double b[] = {1, 2};
	ck_assert_int_eq(keelson_metrics_histogram(&m, reg, "h", "", le, b, 2), KEELSON_EINVALID);
	const double unsorted[] = {2, 1};
	ck_assert_int_eq(keelson_metrics_histogram(&m, reg, "h", "", NULL, unsorted, 2), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_metrics_counter(&m, reg, "ns:ok_total", "", NULL), 0);
	ck_assert_int_eq(keelson_metrics_gauge(&m, reg, "ns:ok_total", "", NULL), KEELSON_EEXISTS);
	keelson_metrics_free(reg);
}
END_TEST

START_TEST(test_series_limit)
{
	struct keelson_metrics *reg;
	struct keelson_metric *g;
	ck_assert_int_eq(keelson_metrics_new(&reg), 0);
	const char *const labels[] = {"name", NULL};
	ck_assert_int_eq(keelson_metrics_gauge(&g, reg, "x", "", labels), 0);
	char name[32];
	const char *v[] = {name};
	for (int i = 0; i < KEELSON_METRICS_MAX_SERIES; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ck_assert_int_eq(keelson_metric_set(g, v, i), 0);
	}
	strcpy(name, "one-too-many");
	ck_assert_int_eq(keelson_metric_set(g, v, 1), KEELSON_ELIMIT);
	strcpy(name, "n7"); /* existing series still update */
	ck_assert_int_eq(keelson_metric_set(g, v, 1), 0);
	keelson_metrics_free(reg);
}
END_TEST

START_TEST(test_daemon_metrics)
{
	struct keelson_daemon_metrics *dm;
	ck_assert_int_eq(keelson_daemon_metrics_new(&dm), 0);
	keelson_metrics_record_api_request(dm, "get", 200, 0.02);
	keelson_metrics_record_api_request(dm, "get", 200, 0.03);
	keelson_metrics_set_drift(dm, "prod", "kafka", 3);
	keelson_metrics_set_blocked(dm, "prod", "kafka", true);
	char *text = render(keelson_daemon_metrics_registry(dm));
	ck_assert_ptr_nonnull(strstr(text, "keelson_api_requests_total{verb=\"get\",code=\"200\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "keelson_drift_objects{cluster=\"prod\",system=\"kafka\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(text, "keelson_system_blocked{cluster=\"prod\",system=\"kafka\"} 1\n"));
	free(text);
	keelson_metrics_forget_system(dm, "prod", "kafka");
	text = render(keelson_daemon_metrics_registry(dm));
	ck_assert_ptr_null(strstr(text, "keelson_drift_objects{"));
	free(text);
	keelson_daemon_metrics_free(dm);
}
END_TEST

static void *hammer(void *arg)
{
	struct keelson_metric **m = arg;
	const char *const v[] = {"get", "200"};
	for (int i = 0; i < 10000; i++) {
		keelson_metric_add(m[0], v, 1);
		keelson_metric_observe(m[1], v, i % 3);
	}
	return NULL;
}

START_TEST(test_concurrent_updates)
{
	struct keelson_metrics *reg;
	struct keelson_metric *m[2];
	ck_assert_int_eq(keelson_metrics_new(&reg), 0);
	const char *const labels[] = {"verb", "code", NULL};
	const double b[] = {0.5, 1.5};
	ck_assert_int_eq(keelson_metrics_counter(&m[0], reg, "c_total", "", labels), 0);
	ck_assert_int_eq(keelson_metrics_histogram(&m[1], reg, "h_seconds", "", labels, b, 2), 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, m), 0);
	/* Rendering while others write must not tear a series. */
	for (int i = 0; i < 20; i++)
		free(render(reg));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	const char *const v[] = {"get", "200"};
	double n;
	ck_assert_int_eq(keelson_metric_value(&n, m[0], v), 0);
	ck_assert(n == 40000);
	ck_assert_int_eq(keelson_metric_value(&n, m[1], v), 0);
	ck_assert(n == 40000);
	char *text = render(reg);
	/* i % 3 over 10000: 3334 zeros, 3333 ones, 3333 twos per thread. */
	ck_assert_ptr_nonnull(strstr(text, "h_seconds_bucket{verb=\"get\",code=\"200\",le=\"0.5\"} 13336\n"));
	ck_assert_ptr_nonnull(strstr(text, "h_seconds_bucket{verb=\"get\",code=\"200\",le=\"1.5\"} 26668\n"));
	ck_assert_ptr_nonnull(strstr(text, "h_seconds_sum{verb=\"get\",code=\"200\"} 39996\n"));
	free(text);
	keelson_metrics_free(reg);
}
END_TEST

Suite *suite_metrics(void);

Suite *suite_metrics(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc;
	tc = tcase_create("counter_render");
	tcase_add_test(tc, test_counter_render);
	suite_add_tcase(s, tc);
	tc = tcase_create("gauge_and_remove");
	tcase_add_test(tc, test_gauge_and_remove);
	suite_add_tcase(s, tc);
	tc = tcase_create("histogram_render");
	tcase_add_test(tc, test_histogram_render);
	suite_add_tcase(s, tc);
	tc = tcase_create("registration_rules");
	tcase_add_test(tc, test_registration_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("series_limit");
	tcase_add_test(tc, test_series_limit);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("concurrent_updates");
	tcase_add_test(tc, test_concurrent_updates);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("daemon_metrics");
	tcase_add_test(tc, test_daemon_metrics);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_metrics)
