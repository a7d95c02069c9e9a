#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

#define NS "default"

/* A StatefulSet "web" with `extra_spec` members and pod annotations. */
static cJSON *make_set(int replicas, const char *extra_spec, const char *pod_annotations)
{
	char json[4000];
	snprintf(json, sizeof(json),
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\"},"
		"\"spec\":{\"replicas\":%d,\"serviceName\":\"web\","
		"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"},\"annotations\":{%s}},"
		"\"spec\":{\"terminationGracePeriodSeconds\":1,"
		"\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\"}]}}%s%s}}",
		replicas, pod_annotations, extra_spec[0] ? "," : "", extra_spec);
	return th_create("apps", "statefulsets", NS, json);
}

static cJSON *set_get(void)
{
	return th_get("apps", "statefulsets", NS, "web");
}

static cJSON *pod_get(int i)
{
	char name[16];
	snprintf(name, sizeof(name), "web-%d", i);
	return th_get("", "pods", NS, name);
}

static bool pod_exists(int i)
{
	cJSON *p = pod_get(i);
	cJSON_Delete(p);
	return p != NULL;
}

/* Status of "web" reports `ready` ready replicas, all updated, revisions
 * equal, for the current generation. */
static bool settled(long long ready)
{
	cJSON *s = set_get();
	bool ok = s && th_num(s, "status", "readyReplicas", NULL) == ready &&
		th_num(s, "status", "replicas", NULL) == ready &&
		th_num(s, "status", "updatedReplicas", NULL) == ready &&
		th_num(s, "status", "currentReplicas", NULL) == ready &&
		th_num(s, "status", "availableReplicas", NULL) == ready &&
		th_num(s, "status", "observedGeneration", NULL) ==
			th_num(s, "metadata", "generation", NULL) &&
		th_str(s, "status", "updateRevision", NULL) &&
		!strcmp(th_str(s, "status", "updateRevision", NULL),
			th_str(s, "status", "currentRevision", NULL));
	cJSON_Delete(s);
	return ok;
}

static char *status_str(const char *field)
{
	cJSON *s = set_get();
	const char *v = th_str(s, "status", field, NULL);
	char *copy = strdup(v ? v : "");
	cJSON_Delete(s);
	return copy;
}

static char *pod_revision(int i)
{
	cJSON *p = pod_get(i);
	const char *r = p ? ks_ctl_label(p, "controller-revision-hash") : NULL;
	char *copy = strdup(r ? r : "");
	cJSON_Delete(p);
	return copy;
}

static bool pod_at_revision(int i, const char *rev)
{
	char *r = pod_revision(i);
	bool ok = !strcmp(r, rev);
	free(r);
	return ok;
}

START_TEST(test_create_identity)
{
	cJSON *set = make_set(3, "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"},"
		"\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		"\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}]", "");
	const char *uid = ks_meta_string(set, "uid");
	ck_assert_msg(TH_WAIT(settled(3), TH_TIMEOUT_MS), "set did not settle");
	char *rev = status_str("updateRevision");
	ck_assert_int_eq(strncmp(rev, "web-", 4), 0);
	for (int i = 0; i < 3; i++) {
		cJSON *p = pod_get(i);
		char name[24], idx[16], claim[32];
		snprintf(name, sizeof(name), "web-%d", i);
		snprintf(idx, sizeof(idx), "%d", i);
		snprintf(claim, sizeof(claim), "data-web-%d", i);
		ck_assert_ptr_nonnull(p);
		ck_assert_str_eq(ks_ctl_label(p, "app"), "web");
		ck_assert_str_eq(ks_ctl_label(p, "statefulset.kubernetes.io/pod-name"), name);
		ck_assert_str_eq(ks_ctl_label(p, "apps.kubernetes.io/pod-index"), idx);
		ck_assert_str_eq(ks_ctl_label(p, "controller-revision-hash"), rev);
		ck_assert_str_eq(th_str(p, "spec", "hostname", NULL), name);
		ck_assert_str_eq(th_str(p, "spec", "subdomain", NULL), "web");
		const cJSON *ref = ks_ctl_controller_ref(p);
		ck_assert_str_eq(th_str(ref, "uid", NULL), uid);
		ck_assert_str_eq(th_str(ref, "kind", NULL), "StatefulSet");
		ck_assert_str_eq(th_str(ref, "apiVersion", NULL), "apps/v1");
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(ref, "blockOwnerDeletion")));
		const cJSON *vol = cJSON_GetArrayItem(ks_ctl_at(p, "spec", "volumes", NULL), 0);
		ck_assert_str_eq(th_str(vol, "name", NULL), "data");
		ck_assert_str_eq(th_str(vol, "persistentVolumeClaim", "claimName", NULL), claim);
		cJSON *pvc = th_get("", "persistentvolumeclaims", NS, claim);
		ck_assert_ptr_nonnull(pvc);
		ck_assert_str_eq(th_str(pvc, "status", "phase", NULL), "Bound");
		ck_assert_str_eq(th_str(pvc, "status", "capacity", "storage", NULL), "1Gi");
		ck_assert_str_eq(ks_ctl_label(pvc, "app"), "web");
		cJSON_Delete(pvc);
		cJSON_Delete(p);
	}
	ck_assert(!pod_exists(3));
	cJSON *cr = th_get("apps", "controllerrevisions", NS, rev);
	ck_assert_ptr_nonnull(cr);
	ck_assert_int_eq(th_num(cr, "revision", NULL), 1);
	ck_assert_str_eq(ks_ctl_label(cr, "controller.kubernetes.io/hash"), rev + 4);
	ck_assert(ks_ctl_controlled_by(cr, uid));
	ck_assert_str_eq(th_str(cr, "data", "spec", "template", "$patch", NULL), "replace");
	cJSON_Delete(cr);
	cJSON *s = set_get();
	ck_assert_int_eq(th_num(s, "status", "collisionCount", NULL), 0);
	ck_assert_int_eq(th_num(s, "status", "observedGeneration", NULL), 1);
	cJSON_Delete(s);
	free(rev);
	cJSON_Delete(set);
}
END_TEST

START_TEST(test_status_zero_replicas)
{
	cJSON_Delete(make_set(0, "", ""));
	cJSON *s = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(s), s = set_get(),
		th_num(s, "status", "observedGeneration", NULL) == 1), TH_TIMEOUT_MS));
	const char *fields[] = {"replicas", "readyReplicas", "currentReplicas", "updatedReplicas",
		"availableReplicas", "collisionCount"};
	for (int i = 0; i < 6; i++)
		ck_assert_msg(th_num(s, "status", fields[i], NULL) == 0, "status.%s", fields[i]);
	ck_assert_ptr_nonnull(th_str(s, "status", "currentRevision", NULL));
	ck_assert_str_eq(th_str(s, "status", "currentRevision", NULL),
		th_str(s, "status", "updateRevision", NULL));
	cJSON_Delete(s);
}
END_TEST

START_TEST(test_ordered_ready_waits)
{
	/* Pods never become Ready: OrderedReady must not go past web-0. */
	cJSON_Delete(make_set(3, "", "\"kubesim.keelson.dev/ready\":\"false\""));
	cJSON *s = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(s), s = set_get(),
		th_num(s, "status", "replicas", NULL) == 1), TH_TIMEOUT_MS));
	cJSON_Delete(s);
	cJSON *p = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(p), p = pod_get(0),
		p && !strcmp(ks_ctl_pod_phase(p), "Running")), TH_TIMEOUT_MS));
	cJSON_Delete(p);
	ck_assert(!TH_WAIT(pod_exists(1), 300));
}
END_TEST

START_TEST(test_parallel_does_not_wait)
{
	cJSON_Delete(make_set(3, "\"podManagementPolicy\":\"Parallel\"",
		"\"kubesim.keelson.dev/ready\":\"false\""));
	ck_assert(TH_WAIT(pod_exists(0) && pod_exists(1) && pod_exists(2), TH_TIMEOUT_MS));
}
END_TEST

START_TEST(test_min_ready_seconds)
{
	/* Ready but not yet Available for an hour: no second pod, available 0. */
	cJSON_Delete(make_set(2, "\"minReadySeconds\":3600", ""));
	cJSON *s = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(s), s = set_get(),
		th_num(s, "status", "readyReplicas", NULL) == 1), TH_TIMEOUT_MS));
	ck_assert_int_eq(th_num(s, "status", "availableReplicas", NULL), 0);
	cJSON_Delete(s);
	ck_assert(!TH_WAIT(pod_exists(1), 300));
}
END_TEST

START_TEST(test_scale_down_highest_first)
{
	cJSON_Delete(make_set(3, "", ""));
	ck_assert(TH_WAIT(settled(3), TH_TIMEOUT_MS));
	th_patch("apps", "statefulsets", NS, "web", "{\"spec\":{\"replicas\":1}}", NULL);
	double end = th_ms() + TH_TIMEOUT_MS;
	bool done = false;
	while (!done && th_ms() < end) {
		bool has2 = pod_exists(2), has1 = pod_exists(1);
		ck_assert_msg(!(has2 && !has1), "web-1 went before web-2");
		ck_assert(pod_exists(0));
		done = !has1 && !has2 && settled(1);
		usleep(1000);
	}
	ck_assert(done);
	/* Scale back up: ordinals are reused. */
	th_patch("apps", "statefulsets", NS, "web", "{\"spec\":{\"replicas\":3}}", NULL);
	ck_assert(TH_WAIT(settled(3), TH_TIMEOUT_MS));
	ck_assert(pod_exists(2));
}
END_TEST

START_TEST(test_rolling_update)
{
	cJSON_Delete(make_set(3, "", ""));
	ck_assert(TH_WAIT(settled(3), TH_TIMEOUT_MS));
	char *old_rev = status_str("updateRevision");
	th_patch("apps", "statefulsets", NS, "web",
		"{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"restartedAt\":\"now\"}}}}}",
		NULL);
	char *new_rev = NULL;
	ck_assert(TH_WAIT((free(new_rev), new_rev = status_str("updateRevision"),
		strcmp(new_rev, old_rev) != 0), TH_TIMEOUT_MS));
	double end = th_ms() + TH_TIMEOUT_MS;
	bool done = false;
	while (!done && th_ms() < end) {
		/* Highest ordinal first: a lower pod is never newer than a higher one. */
		bool n0 = pod_at_revision(0, new_rev), n1 = pod_at_revision(1, new_rev);
		bool n2 = pod_at_revision(2, new_rev);
		ck_assert_msg(!(n1 && !n2 && pod_exists(2)), "web-1 updated before web-2");
		ck_assert_msg(!(n0 && !n1 && pod_exists(1)), "web-0 updated before web-1");
		done = settled(3);
		usleep(1000);
	}
	ck_assert(done);
	char *cur = status_str("currentRevision");
	ck_assert_str_eq(cur, new_rev);
	for (int i = 0; i < 3; i++)
		ck_assert(pod_at_revision(i, new_rev));
	cJSON *cr = th_get("apps", "controllerrevisions", NS, new_rev);
	ck_assert_int_eq(th_num(cr, "revision", NULL), 2);
	cJSON_Delete(cr);
	ck_assert(th_exists("apps", "controllerrevisions", NS, old_rev));
	free(cur);
	free(old_rev);
	free(new_rev);
}
END_TEST

START_TEST(test_partition)
{
	cJSON_Delete(make_set(3, "\"updateStrategy\":{\"type\":\"RollingUpdate\","
		"\"rollingUpdate\":{\"partition\":2}}", ""));
	ck_assert(TH_WAIT(settled(3), TH_TIMEOUT_MS));
	char *old_rev = status_str("currentRevision");
	th_patch("apps", "statefulsets", NS, "web",
		"{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"v\":\"2\"}}}}}", NULL);
	char *new_rev = NULL;
	ck_assert(TH_WAIT((free(new_rev), new_rev = status_str("updateRevision"),
		strcmp(new_rev, old_rev) != 0), TH_TIMEOUT_MS));
	cJSON *s = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(s), s = set_get(),
		th_num(s, "status", "updatedReplicas", NULL) == 1 &&
		th_num(s, "status", "readyReplicas", NULL) == 3), TH_TIMEOUT_MS));
	cJSON_Delete(s);
	ck_assert(pod_at_revision(2, new_rev));
	/* Below the partition nothing moves, and the update is not complete. */
	ck_assert(!TH_WAIT(!pod_at_revision(1, old_rev) || !pod_at_revision(0, old_rev), 300));
	char *cur = status_str("currentRevision");
	ck_assert_str_eq(cur, old_rev);
	free(cur);
	/* A deleted pod below the partition comes back at the current revision. */
	ck_assert_int_eq(ks_ctl_delete(th_store, th_type("", "pods"), NS, "web-0", NULL,
		KS_PROPAGATION_BACKGROUND, 0), 0);
	ck_assert(TH_WAIT(pod_exists(0), TH_TIMEOUT_MS));
	ck_assert(pod_at_revision(0, old_rev));
	th_patch("apps", "statefulsets", NS, "web",
		"{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":0}}}}", NULL);
	ck_assert(TH_WAIT(settled(3), TH_TIMEOUT_MS));
	cur = status_str("currentRevision");
	ck_assert_str_eq(cur, new_rev);
	for (int i = 0; i < 3; i++)
		ck_assert(pod_at_revision(i, new_rev));
	free(cur);
	free(old_rev);
	free(new_rev);
}
END_TEST

START_TEST(test_on_delete)
{
	cJSON_Delete(make_set(2, "\"updateStrategy\":{\"type\":\"OnDelete\"}", ""));
	cJSON *s = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(s), s = set_get(),
		th_num(s, "status", "readyReplicas", NULL) == 2), TH_TIMEOUT_MS));
	cJSON_Delete(s);
	char *old_rev = status_str("currentRevision");
	th_patch("apps", "statefulsets", NS, "web",
		"{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"v\":\"2\"}}}}}", NULL);
	char *new_rev = NULL;
	ck_assert(TH_WAIT((free(new_rev), new_rev = status_str("updateRevision"),
		strcmp(new_rev, old_rev) != 0), TH_TIMEOUT_MS));
	ck_assert(!TH_WAIT(!pod_at_revision(0, old_rev) || !pod_at_revision(1, old_rev), 300));
	cJSON *p1 = pod_get(1);
	char *uid = strdup(ks_meta_string(p1, "uid"));
	cJSON_Delete(p1);
	ck_assert_int_eq(ks_ctl_delete(th_store, th_type("", "pods"), NS, "web-1", NULL,
		KS_PROPAGATION_BACKGROUND, 0), 0);
	ck_assert(TH_WAIT(pod_at_revision(1, new_rev), TH_TIMEOUT_MS));
	p1 = pod_get(1);
	ck_assert_str_ne(ks_meta_string(p1, "uid"), uid);
	cJSON_Delete(p1);
	ck_assert(pod_at_revision(0, old_rev));
	free(uid);
	free(old_rev);
	free(new_rev);
}
END_TEST

START_TEST(test_failed_pod_replaced)
{
	cJSON_Delete(make_set(1, "", ""));
	ck_assert(TH_WAIT(settled(1), TH_TIMEOUT_MS));
	cJSON *p = pod_get(0);
	char *uid = strdup(ks_meta_string(p, "uid"));
	cJSON_Delete(p);
	th_patch("", "pods", NS, "web-0", "{\"status\":{\"phase\":\"Failed\"}}", "status");
	ck_assert(TH_WAIT((p = pod_get(0), p && strcmp(ks_meta_string(p, "uid"), uid) &&
		ks_ctl_pod_running_ready(p) ? (cJSON_Delete(p), true) : (cJSON_Delete(p), false)),
		TH_TIMEOUT_MS));
	free(uid);
}
END_TEST

START_TEST(test_revision_history_limit)
{
	cJSON_Delete(make_set(1, "\"revisionHistoryLimit\":1", ""));
	ck_assert(TH_WAIT(settled(1), TH_TIMEOUT_MS));
	for (int v = 1; v <= 3; v++) {
		char patch[200];
		snprintf(patch, sizeof(patch),
			"{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"v\":\"%d\"}}}}}", v);
		th_patch("apps", "statefulsets", NS, "web", patch, NULL);
		cJSON *s = NULL;
		ck_assert(TH_WAIT((cJSON_Delete(s), s = set_get(),
			th_num(s, "status", "observedGeneration", NULL) == v + 1), TH_TIMEOUT_MS));
		cJSON_Delete(s);
		ck_assert(TH_WAIT(settled(1), TH_TIMEOUT_MS));
	}
	/* Live revision + one of history. */
	ck_assert(TH_WAIT(th_count("apps", "controllerrevisions", NS) == 2, TH_TIMEOUT_MS));
}
END_TEST

START_TEST(test_adopts_orphans)
{
	cJSON_Delete(make_set(1, "", ""));
	ck_assert(TH_WAIT(settled(1), TH_TIMEOUT_MS));
	/* What `kubectl delete --cascade=orphan` leaves behind. */
	ck_assert_int_eq(ks_ctl_delete(th_store, th_type("apps", "statefulsets"), NS, "web", NULL,
		KS_PROPAGATION_ORPHAN, -1), 0);
	ck_assert(TH_WAIT(!th_exists("apps", "statefulsets", NS, "web"), TH_TIMEOUT_MS));
	cJSON *p = pod_get(0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(ks_ctl_controller_ref(p));
	char *uid = strdup(ks_meta_string(p, "uid"));
	cJSON_Delete(p);
	cJSON *set = make_set(1, "", "");
	ck_assert(TH_WAIT((p = pod_get(0),
		ks_ctl_controlled_by(p, ks_meta_string(set, "uid")) ? (cJSON_Delete(p), true) :
		(cJSON_Delete(p), false)), TH_TIMEOUT_MS));
	p = pod_get(0);
	ck_assert_str_eq(ks_meta_string(p, "uid"), uid);
	cJSON_Delete(p);
	cJSON_Delete(set);
	free(uid);
}
END_TEST

START_TEST(test_claim_retention_delete)
{
	cJSON *set = make_set(2, "\"persistentVolumeClaimRetentionPolicy\":{\"whenDeleted\":\"Delete\","
		"\"whenScaled\":\"Delete\"},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"},"
		"\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		"\"resources\":{\"requests\":{\"storage\":\"1Gi\"}}}}]", "");
	ck_assert(TH_WAIT(settled(2), TH_TIMEOUT_MS));
	ck_assert(th_exists("", "persistentvolumeclaims", NS, "data-web-1"));
	/* whenScaled: Delete -> the claim of the removed pod goes with it. */
	th_patch("apps", "statefulsets", NS, "web", "{\"spec\":{\"replicas\":1}}", NULL);
	ck_assert(TH_WAIT(!th_exists("", "persistentvolumeclaims", NS, "data-web-1"), TH_TIMEOUT_MS));
	ck_assert(th_exists("", "persistentvolumeclaims", NS, "data-web-0"));
	/* whenDeleted: Delete -> the set owns its claims. */
	ck_assert_int_eq(ks_ctl_delete(th_store, th_type("apps", "statefulsets"), NS, "web", NULL,
		KS_PROPAGATION_BACKGROUND, -1), 0);
	ck_assert(TH_WAIT(!th_exists("", "persistentvolumeclaims", NS, "data-web-0"), TH_TIMEOUT_MS));
	cJSON_Delete(set);
}
END_TEST

START_TEST(test_claim_retention_retain)
{
	cJSON_Delete(make_set(2, "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"},"
		"\"spec\":{\"accessModes\":[\"ReadWriteOnce\"]}}]", ""));
	ck_assert(TH_WAIT(settled(2), TH_TIMEOUT_MS));
	th_patch("apps", "statefulsets", NS, "web", "{\"spec\":{\"replicas\":1}}", NULL);
	ck_assert(TH_WAIT(settled(1), TH_TIMEOUT_MS));
	ck_assert(!TH_WAIT(!th_exists("", "persistentvolumeclaims", NS, "data-web-1"), 300));
}
END_TEST

START_TEST(test_ordinals_start)
{
	cJSON_Delete(make_set(2, "\"ordinals\":{\"start\":5}", ""));
	ck_assert(TH_WAIT(settled(2), TH_TIMEOUT_MS));
	ck_assert(pod_exists(5) && pod_exists(6));
	ck_assert(!pod_exists(0));
	cJSON *p = pod_get(6);
	ck_assert_str_eq(ks_ctl_label(p, "apps.kubernetes.io/pod-index"), "6");
	cJSON_Delete(p);
}
END_TEST

static Suite *suite_statefulset(void)
{
	Suite *s = suite_create("kubesim_statefulset");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"create_identity", test_create_identity},
		{"status_zero_replicas", test_status_zero_replicas},
		{"ordered_ready", test_ordered_ready_waits},
		{"parallel", test_parallel_does_not_wait},
		{"min_ready_seconds", test_min_ready_seconds},
		{"scale_down", test_scale_down_highest_first},
		{"rolling_update", test_rolling_update},
		{"partition", test_partition},
		{"on_delete", test_on_delete},
		{"failed_pod", test_failed_pod_replaced},
		{"revision_history_limit", test_revision_history_limit},
		{"adoption", test_adopts_orphans},
		{"claims_retention_delete", test_claim_retention_delete},
		{"claims_retention_retain", test_claim_retention_retain},
		{"ordinals_start", test_ordinals_start},
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

KEELSON_CHECK_MAIN(suite_statefulset)
