#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

#define NS "default"

static int count(const cJSON *ep, const char *list)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(
		cJSON_GetObjectItem(ep, "subsets"), 0), list));
}

static bool endpoints_are(int ready, int not_ready)
{
	cJSON *ep = th_get("", "endpoints", NS, "web");
	bool ok = ep && count(ep, "addresses") == ready && count(ep, "notReadyAddresses") == not_ready;
	cJSON_Delete(ep);
	return ok;
}

START_TEST(test_statefulset_service)
{
	cJSON_Delete(th_create("", "services", NS,
		"{\"metadata\":{\"name\":\"web\",\"labels\":{\"tier\":\"front\"}},\"spec\":{"
		"\"clusterIP\":\"None\",\"selector\":{\"app\":\"web\"},"
		"\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"},"
		"{\"name\":\"admin\",\"port\":9000,\"targetPort\":9001}]}}"));
	cJSON_Delete(th_create("apps", "statefulsets", NS,
		"{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":2,\"serviceName\":\"web\","
		"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
		"\"containers\":[{\"name\":\"web\",\"image\":\"nginx\","
		"\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]}}}}"));
	ck_assert(TH_WAIT(endpoints_are(2, 0), TH_TIMEOUT_MS));
	cJSON *ep = th_get("", "endpoints", NS, "web");
	ck_assert_str_eq(ks_ctl_label(ep, "tier"), "front");
	const cJSON *subset = cJSON_GetArrayItem(cJSON_GetObjectItem(ep, "subsets"), 0);
	const cJSON *a;
	int hosts = 0;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(subset, "addresses")) {
		const char *h = th_str(a, "hostname", NULL);
		ck_assert_ptr_nonnull(h);
		ck_assert_str_eq(th_str(a, "targetRef", "name", NULL), h);
		ck_assert_str_eq(th_str(a, "targetRef", "kind", NULL), "Pod");
		ck_assert_int_eq(strncmp(th_str(a, "ip", NULL), "10.24", 5), 0);
		hosts++;
	}
	ck_assert_int_eq(hosts, 2);
	const cJSON *ports = cJSON_GetObjectItem(subset, "ports");
	ck_assert_int_eq(cJSON_GetArraySize(ports), 2);
	ck_assert_int_eq(th_num(cJSON_GetArrayItem(ports, 0), "port", NULL), 8080);
	ck_assert_str_eq(th_str(cJSON_GetArrayItem(ports, 0), "name", NULL), "http");
	ck_assert_int_eq(th_num(cJSON_GetArrayItem(ports, 1), "port", NULL), 9001);
	cJSON_Delete(ep);

	th_patch("", "pods", NS, "web-1",
		"{\"metadata\":{\"annotations\":{\"kubesim.keelson.dev/ready\":\"false\"}}}", NULL);
	ck_assert(TH_WAIT(endpoints_are(1, 1), TH_TIMEOUT_MS));

	ck_assert_int_eq(ks_ctl_delete(th_store, th_type("", "services"), NS, "web", NULL,
		KS_PROPAGATION_BACKGROUND, -1), 0);
	ck_assert(TH_WAIT(!th_exists("", "endpoints", NS, "web"), TH_TIMEOUT_MS));
}
END_TEST

START_TEST(test_service_without_selector)
{
	cJSON_Delete(th_create("", "services", NS,
		"{\"metadata\":{\"name\":\"ext\"},\"spec\":{\"ports\":[{\"port\":5432}]}}"));
	cJSON_Delete(th_create("", "endpoints", NS,
		"{\"metadata\":{\"name\":\"ext\"},\"subsets\":[{\"addresses\":[{\"ip\":\"192.0.2.1\"}],"
		"\"ports\":[{\"port\":5432}]}]}"));
	cJSON_Delete(th_create("", "pods", NS,
		"{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"web\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}"));
	cJSON *p = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(p), p = th_get("", "pods", NS, "p"),
		ks_ctl_pod_running_ready(p)), TH_TIMEOUT_MS));
	cJSON_Delete(p);
	ck_assert(!TH_WAIT(({
		cJSON *ep = th_get("", "endpoints", NS, "ext");
		const char *ip = th_str(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(
			cJSON_GetObjectItem(ep, "subsets"), 0), "addresses"), 0), "ip", NULL);
		bool changed = !ip || strcmp(ip, "192.0.2.1");
		cJSON_Delete(ep);
		changed;
	}), 300));
}
END_TEST

static Suite *suite_endpoints(void)
{
	Suite *s = suite_create("kubesim_endpoints");
	TCase *tc = tcase_create("selector_service");
	tcase_add_checked_fixture(tc, th_setup, th_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_statefulset_service);
	suite_add_tcase(s, tc);
	tc = tcase_create("service_without_selector");
	tcase_add_checked_fixture(tc, th_setup, th_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_service_without_selector);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_endpoints)
