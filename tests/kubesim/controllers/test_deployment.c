#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

#define NS "default"

static void make_deployment(int replicas, const char *strategy)
{
	char json[2000];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"api\"},\"spec\":{\"replicas\":%d,%s"
		"\"selector\":{\"matchLabels\":{\"app\":\"api\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"api\"}},\"spec\":{"
		"\"terminationGracePeriodSeconds\":1,"
		"\"containers\":[{\"name\":\"api\",\"image\":\"api:1\"}]}}}}",
		replicas, strategy);
	cJSON_Delete(th_create("apps", "deployments", NS, json));
}

/* What `kubectl rollout status deployment` waits for. */
static bool rolled_out(long long replicas)
{
	cJSON *d = th_get("apps", "deployments", NS, "api");
	bool ok = d && th_num(d, "status", "observedGeneration", NULL) >=
			th_num(d, "metadata", "generation", NULL) &&
		th_num(d, "status", "updatedReplicas", NULL) == replicas &&
		th_num(d, "status", "replicas", NULL) == replicas &&
		th_num(d, "status", "availableReplicas", NULL) == replicas;
	cJSON_Delete(d);
	return ok;
}

static int pods_with_label(const char *key, const char *value)
{
	cJSON *pods = ks_ctl_list(th_store, th_type("", "pods"), NS, NULL, NULL);
	int n = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, pods) {
		const char *v = ks_ctl_label(p, key);
		if (v && !strcmp(v, value) && !ks_ctl_terminating(p))
			n++;
	}
	cJSON_Delete(pods);
	return n;
}

START_TEST(test_rollout)
{
	make_deployment(3, "");
	ck_assert(TH_WAIT(rolled_out(3), TH_TIMEOUT_MS));
	cJSON *d = th_get("apps", "deployments", NS, "api");
	ck_assert_str_eq(ks_ctl_condition(cJSON_GetObjectItem(d, "status"), "Available"), "True");
	ck_assert_str_eq(ks_ctl_annotation(d, "deployment.kubernetes.io/revision"), "1");
	ck_assert_int_eq(th_num(d, "status", "unavailableReplicas", NULL), 0);
	const cJSON *c;
	bool progressed = false;
	cJSON_ArrayForEach(c, ks_ctl_at(d, "status", "conditions", NULL))
		if (!strcmp(th_str(c, "type", NULL), "Progressing"))
			progressed = !strcmp(th_str(c, "reason", NULL), "NewReplicaSetAvailable");
	ck_assert(progressed);
	cJSON_Delete(d);
	cJSON *sets = ks_ctl_list(th_store, th_type("apps", "replicasets"), NS, NULL, NULL);
	ck_assert_int_eq(cJSON_GetArraySize(sets), 1);
	const cJSON *rs = cJSON_GetArrayItem(sets, 0);
	const char *hash = ks_ctl_label(rs, "pod-template-hash");
	ck_assert_ptr_nonnull(hash);
	char name[64];
	snprintf(name, sizeof(name), "api-%s", hash);
	ck_assert_str_eq(ks_meta_string(rs, "name"), name);
	ck_assert_str_eq(th_str(rs, "spec", "selector", "matchLabels", "pod-template-hash", NULL),
		hash);
	ck_assert_int_eq(pods_with_label("pod-template-hash", hash), 3);
	cJSON_Delete(sets);
}
END_TEST

START_TEST(test_rolling_update)
{
	make_deployment(4, "");
	ck_assert(TH_WAIT(rolled_out(4), TH_TIMEOUT_MS));
	th_patch("apps", "deployments", NS, "api",
		"{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"api\","
		"\"image\":\"api:2\"}]}}}}", NULL);
	/* maxSurge 25% of 4 = 1: the ReplicaSets never ask for more than 5 pods
	 * together (pods themselves may briefly overlap while the ReplicaSet
	 * controller catches up, as in a real cluster). */
	double end = th_ms() + TH_TIMEOUT_MS;
	bool done = false;
	while (!done && th_ms() < end) {
		cJSON *sets = ks_ctl_list(th_store, th_type("apps", "replicasets"), NS, NULL, NULL);
		long long total = 0;
		const cJSON *rs;
		cJSON_ArrayForEach(rs, sets)
			total += th_num(rs, "spec", "replicas", NULL);
		cJSON_Delete(sets);
		ck_assert_msg(total <= 5, "ReplicaSets want %lld pods during the rollout", total);
		done = rolled_out(4) && th_count("apps", "replicasets", NS) == 2 &&
			pods_with_label("app", "api") == 4;
		usleep(1000);
	}
	ck_assert(done);
	cJSON *d = th_get("apps", "deployments", NS, "api");
	ck_assert_str_eq(ks_ctl_annotation(d, "deployment.kubernetes.io/revision"), "2");
	cJSON_Delete(d);
	cJSON *sets = ks_ctl_list(th_store, th_type("apps", "replicasets"), NS, NULL, NULL);
	const cJSON *rs;
	int at_zero = 0;
	cJSON_ArrayForEach(rs, sets)
		if (th_num(rs, "spec", "replicas", NULL) == 0)
			at_zero++;
	ck_assert_int_eq(at_zero, 1);
	cJSON_Delete(sets);
}
END_TEST

START_TEST(test_recreate)
{
	make_deployment(2, "\"strategy\":{\"type\":\"Recreate\"},");
	ck_assert(TH_WAIT(rolled_out(2), TH_TIMEOUT_MS));
	th_patch("apps", "deployments", NS, "api",
		"{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"v\":\"2\"}}}}}", NULL);
	ck_assert(TH_WAIT(th_count("apps", "replicasets", NS) == 2, TH_TIMEOUT_MS));
	ck_assert(TH_WAIT(rolled_out(2), TH_TIMEOUT_MS));
}
END_TEST

START_TEST(test_scale)
{
	make_deployment(1, "");
	ck_assert(TH_WAIT(rolled_out(1), TH_TIMEOUT_MS));
	th_patch("apps", "deployments", NS, "api", "{\"spec\":{\"replicas\":3}}", NULL);
	ck_assert(TH_WAIT(rolled_out(3), TH_TIMEOUT_MS));
	th_patch("apps", "deployments", NS, "api", "{\"spec\":{\"replicas\":0}}", NULL);
	ck_assert(TH_WAIT(rolled_out(0) && pods_with_label("app", "api") == 0, TH_TIMEOUT_MS));
}
END_TEST

static void make_job(const char *name, const char *spec, const char *annotations)
{
	char json[2000];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"%s\"},\"spec\":{%s"
		"\"template\":{\"metadata\":{\"annotations\":{%s}},\"spec\":{"
		"\"restartPolicy\":\"Never\","
		"\"containers\":[{\"name\":\"job\",\"image\":\"busybox\"}]}}}}",
		name, spec, annotations);
	cJSON_Delete(th_create("batch", "jobs", NS, json));
}

static bool job_condition(const char *name, const char *type)
{
	cJSON *j = th_get("batch", "jobs", NS, name);
	const char *v = ks_ctl_condition(cJSON_GetObjectItem(j, "status"), type);
	bool ok = v && !strcmp(v, "True");
	cJSON_Delete(j);
	return ok;
}

START_TEST(test_job_complete)
{
	make_job("batch", "\"completions\":2,\"parallelism\":1,",
		"\"kubesim.keelson.dev/run-ms\":\"1000\"");
	ck_assert(TH_WAIT(job_condition("batch", "Complete"), TH_TIMEOUT_MS));
	cJSON *j = th_get("batch", "jobs", NS, "batch");
	ck_assert_int_eq(th_num(j, "status", "succeeded", NULL), 2);
	ck_assert_int_eq(th_num(j, "status", "active", NULL), 0);
	ck_assert_ptr_nonnull(th_str(j, "status", "completionTime", NULL));
	ck_assert_ptr_nonnull(th_str(j, "status", "startTime", NULL));
	cJSON_Delete(j);
	ck_assert_int_eq(pods_with_label("job-name", "batch"), 2);
}
END_TEST

START_TEST(test_job_backoff)
{
	make_job("bad", "\"backoffLimit\":1,", "\"kubesim.keelson.dev/fail\":\"true\"");
	ck_assert(TH_WAIT(job_condition("bad", "Failed"), TH_TIMEOUT_MS));
	cJSON *j = th_get("batch", "jobs", NS, "bad");
	ck_assert_int_eq(th_num(j, "status", "failed", NULL), 2);
	ck_assert(!job_condition("bad", "Complete"));
	cJSON_Delete(j);
}
END_TEST

static Suite *suite_deployment(void)
{
	Suite *s = suite_create("kubesim_deployment_job");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"rollout", test_rollout},
		{"rolling_update", test_rolling_update},
		{"recreate", test_recreate},
		{"scale", test_scale},
		{"job_complete", test_job_complete},
		{"job_backoff", test_job_backoff},
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

KEELSON_CHECK_MAIN(suite_deployment)
