#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_util.h"
#include "tests/unit/check_main.h"

START_TEST(test_map)
{
	struct ks_ctl_map *m = ks_ctl_map_new(free);
	char key[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		int *v = malloc(sizeof(*v));
		*v = i;
		ck_assert_int_eq(ks_ctl_map_put(m, key, v), 0);
	}
	ck_assert_uint_eq(ks_ctl_map_count(m), 1000);
	ck_assert_int_eq(*(int *)ks_ctl_map_get(m, "k777"), 777);
	int *v = malloc(sizeof(*v));
	*v = -1;
	ks_ctl_map_put(m, "k777", v); /* replace frees the old value */
	ck_assert_int_eq(*(int *)ks_ctl_map_get(m, "k777"), -1);
	ck_assert_uint_eq(ks_ctl_map_count(m), 1000);
	ck_assert(ks_ctl_map_remove(m, "k5"));
	ck_assert(!ks_ctl_map_remove(m, "k5"));
	ck_assert_ptr_null(ks_ctl_map_get(m, "k5"));
	size_t n;
	char **keys = ks_ctl_map_keys(m, &n);
	ck_assert_uint_eq(n, 999);
	for (size_t i = 0; i < n; i++)
		ks_ctl_map_remove(m, keys[i]); /* safe: the keys are a snapshot */
	ks_ctl_keys_free(keys, n);
	ck_assert_uint_eq(ks_ctl_map_count(m), 0);
	ks_ctl_map_free(m);
}
END_TEST

static bool sel(const char *selector, const char *labels)
{
	cJSON *s = selector ? cJSON_Parse(selector) : NULL;
	cJSON *l = cJSON_Parse(labels);
	bool r = ks_ctl_selector_matches(s, l);
	cJSON_Delete(s);
	cJSON_Delete(l);
	return r;
}

START_TEST(test_selector)
{
	ck_assert(!sel(NULL, "{\"a\":\"1\"}"));
	ck_assert(sel("{}", "{\"a\":\"1\"}"));
	ck_assert(sel("{\"matchLabels\":{\"a\":\"1\"}}", "{\"a\":\"1\",\"b\":\"2\"}"));
	ck_assert(!sel("{\"matchLabels\":{\"a\":\"1\"}}", "{\"a\":\"2\"}"));
	ck_assert(!sel("{\"matchLabels\":{\"a\":\"1\"}}", "{}"));
	const char *in = "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"In\",\"values\":[\"x\",\"y\"]}]}";
	ck_assert(sel(in, "{\"t\":\"y\"}"));
	ck_assert(!sel(in, "{\"t\":\"z\"}"));
	ck_assert(!sel(in, "{}"));
	const char *notin = "{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"NotIn\",\"values\":[\"x\"]}]}";
	ck_assert(sel(notin, "{}"));
	ck_assert(!sel(notin, "{\"t\":\"x\"}"));
	ck_assert(sel("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"Exists\"}]}", "{\"t\":\"\"}"));
	ck_assert(!sel("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"DoesNotExist\"}]}",
		"{\"t\":\"\"}"));
	ck_assert(!sel("{\"matchExpressions\":[{\"key\":\"t\",\"operator\":\"Bogus\"}]}", "{}"));
}
END_TEST

START_TEST(test_merge_patch)
{
	cJSON *t = cJSON_Parse("{\"a\":{\"b\":1,\"c\":2},\"d\":[1,2],\"e\":\"x\"}");
	cJSON *p = cJSON_Parse("{\"a\":{\"b\":null,\"z\":{\"y\":1}},\"d\":[3],\"e\":null,\"f\":true}");
	ks_ctl_merge_patch(t, p);
	char *s = cJSON_PrintUnformatted(t);
	ck_assert_str_eq(s, "{\"a\":{\"c\":2,\"z\":{\"y\":1}},\"d\":[3],\"f\":true}");
	free(s);
	cJSON_Delete(t);
	cJSON_Delete(p);
}
END_TEST

START_TEST(test_template_hash)
{
	cJSON *a = cJSON_Parse("{\"x\":1,\"y\":[1,2]}");
	cJSON *b = cJSON_Parse("{\"y\":[1,2],\"x\":1}");
	cJSON *c = cJSON_Parse("{\"x\":2,\"y\":[1,2]}");
	char ha[16], hb[16], hc[16], ha1[16];
	ks_ctl_template_hash(a, 0, ha, sizeof(ha));
	ks_ctl_template_hash(b, 0, hb, sizeof(hb));
	ks_ctl_template_hash(c, 0, hc, sizeof(hc));
	ks_ctl_template_hash(a, 1, ha1, sizeof(ha1));
	ck_assert_str_eq(ha, hb);  /* member order does not matter */
	ck_assert_str_ne(ha, hc);
	ck_assert_str_ne(ha, ha1); /* the collision count changes the name */
	ck_assert_uint_ge(strlen(ha), 6);
	ck_assert_uint_eq(strspn(ha, "bcdfghjklmnpqrstvwxz2456789"), strlen(ha));
	char suffix[6];
	ks_ctl_random_suffix(suffix, 5);
	ck_assert_uint_eq(strlen(suffix), 5);
	ck_assert_uint_eq(strspn(suffix, "bcdfghjklmnpqrstvwxz2456789"), 5);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
}
END_TEST

START_TEST(test_conditions)
{
	cJSON *status = cJSON_CreateObject();
	ks_ctl_set_condition(status, "Ready", "False", "ContainersNotReady", "m", 1000.0, true, false);
	ks_ctl_set_condition(status, "Ready", "False", "ContainersNotReady", "m", 2000.0, true, false);
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(status, "conditions"), 0);
	char ts[KS_TIME_BUF];
	ck_assert_str_eq(cJSON_GetObjectItem(c, "lastTransitionTime")->valuestring,
		ks_clock_format(1000.0, ts));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(c, "lastProbeTime")));
	ks_ctl_set_condition(status, "Ready", "True", NULL, NULL, 3000.0, true, false);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(status, "conditions")), 1);
	c = cJSON_GetArrayItem(cJSON_GetObjectItem(status, "conditions"), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(c, "lastTransitionTime")->valuestring,
		ks_clock_format(3000.0, ts));
	ck_assert_ptr_null(cJSON_GetObjectItem(c, "reason"));
	ck_assert_str_eq(ks_ctl_condition(status, "Ready"), "True");
	ck_assert_ptr_null(ks_ctl_condition(status, "Other"));
	cJSON_Delete(status);
}
END_TEST

START_TEST(test_pod_available)
{
	char ts[KS_TIME_BUF], json[600];
	snprintf(json, sizeof(json),
		"{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"%s\"}]}}",
		ks_clock_format(1000.0, ts));
	cJSON *pod = cJSON_Parse(json);
	double at = 0;
	ck_assert(ks_ctl_pod_running_ready(pod));
	ck_assert(ks_ctl_pod_available(pod, 0, 1000.0, NULL));
	ck_assert(!ks_ctl_pod_available(pod, 10, 1005.0, &at));
	ck_assert(at > 1009.9 && at < 1010.1);
	ck_assert(ks_ctl_pod_available(pod, 10, 1010.0, NULL));
	cJSON_Delete(pod);
}
END_TEST

static Suite *suite_ctl_util(void)
{
	Suite *s = suite_create("kubesim_ctl_util");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"map", test_map},
		{"selector_matches", test_selector},
		{"merge_patch", test_merge_patch},
		{"template_hash", test_template_hash},
		{"set_condition", test_conditions},
		{"pod_available", test_pod_available},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_ctl_util)
