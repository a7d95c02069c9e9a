#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

START_TEST(test_namespace_deletion)
{
	cJSON_Delete(th_create("", "namespaces", NULL, "{\"metadata\":{\"name\":\"team\"}}"));
	cJSON_Delete(th_create("", "configmaps", "team", "{\"metadata\":{\"name\":\"cfg\"}}"));
	cJSON_Delete(th_create("", "pods", "team",
		"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"terminationGracePeriodSeconds\":10,"
		"\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"));
	cJSON_Delete(th_create("apps", "statefulsets", "team",
		"{\"metadata\":{\"name\":\"db\"},\"spec\":{\"replicas\":1,\"serviceName\":\"db\","
		"\"selector\":{\"matchLabels\":{\"app\":\"db\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"db\"}},\"spec\":{"
		"\"containers\":[{\"name\":\"db\",\"image\":\"postgres\"}]}}}}"));
	cJSON_Delete(th_create("", "configmaps", "default", "{\"metadata\":{\"name\":\"keep\"}}"));
	ck_assert(TH_WAIT(th_exists("", "pods", "team", "db-0"), TH_TIMEOUT_MS));
	cJSON *p = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(p), p = th_get("", "pods", "team", "p"),
		ks_ctl_pod_running_ready(p)), TH_TIMEOUT_MS));
	cJSON_Delete(p);

	bool removed = true;
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "namespaces"), NULL, "team", NULL,
		NULL, &removed), 0);
	ck_assert(!removed);
	cJSON *ns = th_get("", "namespaces", NULL, "team");
	ck_assert_ptr_nonnull(ns);
	ck_assert_str_eq(th_str(ns, "status", "phase", NULL), "Terminating");
	cJSON_Delete(ns);
	ck_assert(TH_WAIT(!th_exists("", "namespaces", NULL, "team"), TH_TIMEOUT_MS));
	/* Everything inside went first; other namespaces are untouched. */
	ck_assert_int_eq(th_count("", "configmaps", "team"), 0);
	ck_assert_int_eq(th_count("", "pods", "team"), 0);
	ck_assert_int_eq(th_count("apps", "statefulsets", "team"), 0);
	ck_assert_int_eq(th_count("apps", "controllerrevisions", "team"), 0);
	ck_assert(th_exists("", "configmaps", "default", "keep"));
}
END_TEST

START_TEST(test_waits_for_finalizers)
{
	cJSON_Delete(th_create("", "namespaces", NULL, "{\"metadata\":{\"name\":\"fin\"}}"));
	cJSON_Delete(th_create("", "configmaps", "fin",
		"{\"metadata\":{\"name\":\"held\",\"finalizers\":[\"example.com/hold\"]}}"));
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "namespaces"), NULL, "fin", NULL,
		NULL, NULL), 0);
	/* The content cannot go while its finalizer stays, so neither can the namespace. */
	cJSON *cm = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(cm), cm = th_get("", "configmaps", "fin", "held"),
		cm && ks_meta_string(cm, "deletionTimestamp")), TH_TIMEOUT_MS));
	cJSON_Delete(cm);
	cJSON *ns = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(ns), ns = th_get("", "namespaces", NULL, "fin"),
		ks_ctl_condition(cJSON_GetObjectItem(ns, "status"), "NamespaceContentRemaining")),
		TH_TIMEOUT_MS));
	const cJSON *st = cJSON_GetObjectItem(ns, "status");
	ck_assert_str_eq(ks_ctl_condition(st, "NamespaceFinalizersRemaining"), "True");
	const cJSON *cond;
	cJSON_ArrayForEach(cond, cJSON_GetObjectItem(st, "conditions")) {
		const char *type = th_str(cond, "type", NULL);
		const char *msg = th_str(cond, "message", NULL);
		if (!strcmp(type, "NamespaceContentRemaining"))
			ck_assert_str_eq(msg, "Some resources are remaining: configmaps has 1 resource instances");
		if (!strcmp(type, "NamespaceFinalizersRemaining"))
			ck_assert_str_eq(msg, "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances");
	}
	cJSON_Delete(ns);
	ck_assert(!TH_WAIT(!th_exists("", "namespaces", NULL, "fin"), 300));
	th_patch("", "configmaps", "fin", "held", "{\"metadata\":{\"finalizers\":null}}", NULL);
	ck_assert(TH_WAIT(!th_exists("", "namespaces", NULL, "fin"), TH_TIMEOUT_MS));
}
END_TEST

static Suite *suite_namespace(void)
{
	Suite *s = suite_create("kubesim_namespace");
	TCase *tc = tcase_create("namespace_deletion");
	tcase_add_checked_fixture(tc, th_setup, th_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_namespace_deletion);
	suite_add_tcase(s, tc);
	tc = tcase_create("content_finalizers");
	tcase_add_checked_fixture(tc, th_setup, th_teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, test_waits_for_finalizers);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_namespace)
