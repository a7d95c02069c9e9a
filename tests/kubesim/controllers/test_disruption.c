#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

#define NS "default"

static void make_pdb(const char *constraint)
{
	char json[600];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"budget\"},\"spec\":{%s,"
		"\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}", constraint);
	cJSON_Delete(th_create("policy", "poddisruptionbudgets", NS, json));
}

/* status == expected/healthy/desired/allowed */
static bool pdb_is(long long expected, long long healthy, long long desired, long long allowed)
{
	cJSON *p = th_get("policy", "poddisruptionbudgets", NS, "budget");
	bool ok = p && th_num(p, "status", "expectedPods", NULL) == expected &&
		th_num(p, "status", "currentHealthy", NULL) == healthy &&
		th_num(p, "status", "desiredHealthy", NULL) == desired &&
		th_num(p, "status", "disruptionsAllowed", NULL) == allowed;
	cJSON_Delete(p);
	return ok;
}

static char *pdb_status(void)
{
	cJSON *p = th_get("policy", "poddisruptionbudgets", NS, "budget");
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "status"));
	cJSON_Delete(p);
	return s;
}

static void make_pod(const char *name)
{
	char json[600];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"%s\",\"labels\":{\"app\":\"web\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}", name);
	cJSON_Delete(th_create("", "pods", NS, json));
}

START_TEST(test_max_unavailable_statefulset)
{
	cJSON_Delete(th_create("apps", "statefulsets", NS,
		"{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":3,\"serviceName\":\"web\","
		"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
		"\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}}}}"));
	make_pdb("\"maxUnavailable\":1");
	char *s = NULL;
	ck_assert_msg(TH_WAIT(pdb_is(3, 3, 2, 1), TH_TIMEOUT_MS), "status %s", (s = pdb_status()));
	free(s);
	cJSON *p = th_get("policy", "poddisruptionbudgets", NS, "budget");
	ck_assert_str_eq(ks_ctl_condition(cJSON_GetObjectItem(p, "status"), "DisruptionAllowed"),
		"True");
	ck_assert_int_eq(th_num(p, "status", "observedGeneration", NULL), 1);
	cJSON_Delete(p);
	/* One pod fails readiness: no disruption left. */
	th_patch("", "pods", NS, "web-1",
		"{\"metadata\":{\"annotations\":{\"kubesim.keelson.dev/ready\":\"false\"}}}", NULL);
	ck_assert_msg(TH_WAIT(pdb_is(3, 2, 2, 0), TH_TIMEOUT_MS), "status %s", (s = pdb_status()));
	free(s);
	p = th_get("policy", "poddisruptionbudgets", NS, "budget");
	ck_assert_str_eq(ks_ctl_condition(cJSON_GetObjectItem(p, "status"), "DisruptionAllowed"),
		"False");
	cJSON_Delete(p);
}
END_TEST

START_TEST(test_min_available_count)
{
	make_pod("a");
	make_pod("b");
	make_pdb("\"minAvailable\":2");
	char *s = NULL;
	ck_assert_msg(TH_WAIT(pdb_is(2, 2, 2, 0), TH_TIMEOUT_MS), "status %s", (s = pdb_status()));
	free(s);
	make_pod("c");
	ck_assert_msg(TH_WAIT(pdb_is(3, 3, 2, 1), TH_TIMEOUT_MS), "status %s", (s = pdb_status()));
	free(s);
	/* A pod being deleted is not healthy. */
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "pods"), NS, "c", NULL, NULL, NULL), 0);
	ck_assert_msg(TH_WAIT(pdb_is(3, 2, 2, 0) || pdb_is(2, 2, 2, 0), TH_TIMEOUT_MS),
		"status %s", (s = pdb_status()));
	free(s);
}
END_TEST

START_TEST(test_min_available_percent_deployment)
{
	cJSON_Delete(th_create("apps", "deployments", NS,
		"{\"metadata\":{\"name\":\"api\"},\"spec\":{\"replicas\":4,"
		"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
		"\"containers\":[{\"name\":\"api\",\"image\":\"api\"}]}}}}"));
	make_pdb("\"minAvailable\":\"50%\"");
	char *s = NULL;
	ck_assert_msg(TH_WAIT(pdb_is(4, 4, 2, 2), TH_TIMEOUT_MS), "status %s", (s = pdb_status()));
	free(s);
}
END_TEST

static Suite *suite_disruption(void)
{
	Suite *s = suite_create("kubesim_disruption");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"max_unavailable", test_max_unavailable_statefulset},
		{"min_available_count", test_min_available_count},
		{"min_available_percent", test_min_available_percent_deployment},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, th_setup, th_teardown);
		tcase_set_timeout(tc, 40);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_disruption)
