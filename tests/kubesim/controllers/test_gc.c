#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

#define NS "default"

static cJSON *configmap(const char *name, const char *owner_refs)
{
	char json[2000];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"%s\"%s%s%s},\"data\":{\"k\":\"v\"}}", name,
		owner_refs ? ",\"ownerReferences\":[" : "", owner_refs ? owner_refs : "",
		owner_refs ? "]" : "");
	return th_create("", "configmaps", NS, json);
}

static char *ref_to(const cJSON *owner, bool block)
{
	char *buf = malloc(400);
	snprintf(buf, 400,
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"%s\",\"uid\":\"%s\"%s}",
		ks_meta_string(owner, "name"), ks_meta_string(owner, "uid"),
		block ? ",\"blockOwnerDeletion\":true" : "");
	return buf;
}

static bool cm_exists(const char *name)
{
	return th_exists("", "configmaps", NS, name);
}

static int del(const char *group, const char *resource, const char *name, enum ks_propagation p)
{
	return ks_ctl_delete(th_store, th_type(group, resource), NS, name, NULL, p, -1);
}

START_TEST(test_background)
{
	cJSON *owner = configmap("owner", NULL);
	char *ref = ref_to(owner, false);
	cJSON_Delete(configmap("dep", ref));
	ck_assert_int_eq(del("", "configmaps", "owner", KS_PROPAGATION_BACKGROUND), 0);
	ck_assert(!cm_exists("owner")); /* background: the owner goes at once */
	ck_assert(TH_WAIT(!cm_exists("dep"), TH_TIMEOUT_MS));
	free(ref);
	cJSON_Delete(owner);
}
END_TEST

START_TEST(test_dangling_reference)
{
	cJSON_Delete(configmap("dep", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
		"\"name\":\"ghost\",\"uid\":\"00000000-0000-4000-8000-000000000000\"}"));
	ck_assert(TH_WAIT(!cm_exists("dep"), TH_TIMEOUT_MS));
	/* Same name, other uid: still dangling. */
	cJSON_Delete(configmap("ghost", NULL));
	cJSON_Delete(configmap("dep2", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
		"\"name\":\"ghost\",\"uid\":\"00000000-0000-4000-8000-000000000001\"}"));
	ck_assert(TH_WAIT(!cm_exists("dep2"), TH_TIMEOUT_MS));
	ck_assert(cm_exists("ghost"));
}
END_TEST

START_TEST(test_unknown_owner_kind_kept)
{
	cJSON_Delete(configmap("dep", "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Nothing\","
		"\"name\":\"x\",\"uid\":\"00000000-0000-4000-8000-000000000002\"}"));
	cJSON *alive = configmap("alive", NULL);
	char *ref = ref_to(alive, false);
	cJSON_Delete(configmap("dep2", ref));
	ck_assert(!TH_WAIT(!cm_exists("dep") || !cm_exists("dep2"), 300));
	free(ref);
	cJSON_Delete(alive);
}
END_TEST

START_TEST(test_one_owner_left)
{
	cJSON *a = configmap("a", NULL), *b = configmap("b", NULL);
	char *ra = ref_to(a, false), *rb = ref_to(b, false);
	char refs[900];
	snprintf(refs, sizeof(refs), "%s,%s", ra, rb);
	cJSON_Delete(configmap("dep", refs));
	ck_assert_int_eq(del("", "configmaps", "a", KS_PROPAGATION_BACKGROUND), 0);
	/* The dangling reference is removed, the object stays. */
	cJSON *d = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(d), d = th_get("", "configmaps", NS, "dep"),
		cJSON_GetArraySize(ks_ctl_at(d, "metadata", "ownerReferences", NULL)) == 1),
		TH_TIMEOUT_MS));
	ck_assert_str_eq(th_str(cJSON_GetArrayItem(ks_ctl_at(d, "metadata", "ownerReferences",
		NULL), 0), "uid", NULL), ks_meta_string(b, "uid"));
	cJSON_Delete(d);
	free(ra);
	free(rb);
	cJSON_Delete(a);
	cJSON_Delete(b);
}
END_TEST

START_TEST(test_foreground)
{
	cJSON *owner = configmap("owner", NULL);
	/* A pod with a 20 s (simulated) grace period blocks the owner. */
	char json[1500];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"blocker\",\"ownerReferences\":[{\"apiVersion\":\"v1\","
		"\"kind\":\"ConfigMap\",\"name\":\"owner\",\"uid\":\"%s\",\"blockOwnerDeletion\":true}]},"
		"\"spec\":{\"terminationGracePeriodSeconds\":20,"
		"\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
		ks_meta_string(owner, "uid"));
	cJSON_Delete(th_create("", "pods", NS, json));
	cJSON *p = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(p), p = th_get("", "pods", NS, "blocker"),
		ks_ctl_pod_running_ready(p)), TH_TIMEOUT_MS));
	cJSON_Delete(p);
	char *ref = ref_to(owner, false);
	cJSON_Delete(configmap("nonblocking", ref));
	ck_assert_int_eq(del("", "configmaps", "owner", KS_PROPAGATION_FOREGROUND), 0);
	cJSON *o = th_get("", "configmaps", NS, "owner");
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(ks_meta_string(o, "deletionTimestamp"));
	cJSON_Delete(o);
	double end = th_ms() + TH_TIMEOUT_MS;
	bool done = false;
	while (!done && th_ms() < end) {
		bool has_owner = cm_exists("owner");
		bool has_pod = th_exists("", "pods", NS, "blocker");
		ck_assert_msg(!(has_pod && !has_owner), "owner went before its blocking dependent");
		done = !has_owner && !has_pod && !cm_exists("nonblocking");
		usleep(1000);
	}
	ck_assert(done);
	free(ref);
	cJSON_Delete(owner);
}
END_TEST

START_TEST(test_orphan)
{
	cJSON *owner = configmap("owner", NULL);
	char *ref = ref_to(owner, true);
	cJSON_Delete(configmap("dep", ref));
	ck_assert_int_eq(del("", "configmaps", "owner", KS_PROPAGATION_ORPHAN), 0);
	ck_assert(TH_WAIT(!cm_exists("owner"), TH_TIMEOUT_MS));
	cJSON *d = th_get("", "configmaps", NS, "dep");
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_null(ks_ctl_at(d, "metadata", "ownerReferences", NULL));
	cJSON_Delete(d);
	ck_assert(!TH_WAIT(!cm_exists("dep"), 300));
	free(ref);
	cJSON_Delete(owner);
}
END_TEST

START_TEST(test_statefulset_cascade)
{
	cJSON_Delete(th_create("apps", "statefulsets", NS,
		"{\"metadata\":{\"name\":\"db\"},\"spec\":{\"replicas\":2,\"serviceName\":\"db\","
		"\"selector\":{\"matchLabels\":{\"app\":\"db\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"db\"}},\"spec\":{"
		"\"terminationGracePeriodSeconds\":1,"
		"\"containers\":[{\"name\":\"db\",\"image\":\"postgres\"}]}}}}"));
	ck_assert(TH_WAIT(th_exists("", "pods", NS, "db-1"), TH_TIMEOUT_MS));
	ck_assert_int_eq(th_count("apps", "controllerrevisions", NS), 1);
	ck_assert_int_eq(del("apps", "statefulsets", "db", KS_PROPAGATION_FOREGROUND), 0);
	ck_assert(TH_WAIT(!th_exists("apps", "statefulsets", NS, "db"), TH_TIMEOUT_MS));
	/* Foreground: the set was removed only after its pods and revisions. */
	ck_assert_int_eq(th_count("", "pods", NS), 0);
	ck_assert_int_eq(th_count("apps", "controllerrevisions", NS), 0);
}
END_TEST

START_TEST(test_deployment_cascade_background)
{
	cJSON_Delete(th_create("apps", "deployments", NS,
		"{\"metadata\":{\"name\":\"api\"},\"spec\":{\"replicas\":2,"
		"\"selector\":{\"matchLabels\":{\"app\":\"api\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"api\"}},\"spec\":{"
		"\"terminationGracePeriodSeconds\":1,"
		"\"containers\":[{\"name\":\"api\",\"image\":\"api:1\"}]}}}}"));
	ck_assert(TH_WAIT(th_count("", "pods", NS) == 2, TH_TIMEOUT_MS));
	ck_assert_int_eq(del("apps", "deployments", "api", KS_PROPAGATION_BACKGROUND), 0);
	ck_assert(TH_WAIT(th_count("apps", "replicasets", NS) == 0 &&
		th_count("", "pods", NS) == 0, TH_TIMEOUT_MS));
}
END_TEST

static Suite *suite_gc(void)
{
	Suite *s = suite_create("kubesim_gc");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"background", test_background},
		{"dangling_reference", test_dangling_reference},
		{"unknown_owner_kind", test_unknown_owner_kind_kept},
		{"one_owner_left", test_one_owner_left},
		{"foreground", test_foreground},
		{"orphan", test_orphan},
		{"statefulset_foreground", test_statefulset_cascade},
		{"deployment_background", test_deployment_cascade_background},
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

KEELSON_CHECK_MAIN(suite_gc)
