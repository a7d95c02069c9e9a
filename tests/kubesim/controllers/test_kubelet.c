#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/test_harness.h"
#include "tests/unit/check_main.h"

static cJSON *pod(const char *name)
{
	return th_get("", "pods", "default", name);
}

static const char *phase_of(const char *name)
{
	static char buf[32];
	cJSON *p = pod(name);
	snprintf(buf, sizeof(buf), "%s", p ? ks_ctl_pod_phase(p) : "<gone>");
	cJSON_Delete(p);
	return buf;
}

static bool is_ready(const char *name)
{
	cJSON *p = pod(name);
	bool r = p && ks_ctl_pod_running_ready(p);
	cJSON_Delete(p);
	return r;
}

static void make_pod(const char *name, const char *annotations, const char *spec_extra)
{
	char json[2000];
	snprintf(json, sizeof(json),
		"{\"metadata\":{\"name\":\"%s\",\"annotations\":{%s}},"
		"\"spec\":{%s%s%s}}",
		name, annotations,
		strstr(spec_extra, "\"containers\"") ? "" :
			"\"containers\":[{\"name\":\"app\",\"image\":\"nginx:1.27\"}]",
		spec_extra[0] && !strstr(spec_extra, "\"containers\"") ? "," : "", spec_extra);
	cJSON_Delete(th_create("", "pods", "default", json));
}

static double cond_time(const cJSON *p, const char *type)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, ks_ctl_at(p, "status", "conditions", NULL)) {
		if (!strcmp(th_str(c, "type", NULL), type)) {
			double t = 0;
			ck_assert_int_eq(ks_clock_parse(th_str(c, "lastTransitionTime", NULL), &t), 0);
			return t;
		}
	}
	ck_abort_msg("condition %s missing", type);
	return 0;
}

START_TEST(test_pod_lifecycle)
{
	make_pod("web", "\"kubesim.keelson.dev/start-delay-ms\":\"3000\","
		"\"kubesim.keelson.dev/ready-delay-ms\":\"3000\"", "");
	ck_assert_msg(TH_WAIT(is_ready("web"), TH_TIMEOUT_MS), "pod not ready: %s", phase_of("web"));
	cJSON *p = pod("web");
	ck_assert_str_eq(th_str(p, "spec", "nodeName", NULL), KS_NODE_NAME);
	ck_assert_str_eq(th_str(p, "status", "hostIP", NULL), KS_NODE_IP);
	ck_assert_str_eq(th_str(cJSON_GetArrayItem(ks_ctl_at(p, "status", "hostIPs", NULL), 0),
		"ip", NULL), KS_NODE_IP);
	const char *ip = th_str(p, "status", "podIP", NULL);
	ck_assert_ptr_nonnull(ip);
	ck_assert_int_eq(strncmp(ip, "10.24", 5), 0);
	ck_assert_str_eq(th_str(cJSON_GetArrayItem(ks_ctl_at(p, "status", "podIPs", NULL), 0),
		"ip", NULL), ip);
	ck_assert_str_eq(th_str(p, "status", "qosClass", NULL), "BestEffort");
	ck_assert_ptr_nonnull(th_str(p, "status", "startTime", NULL));
	const char *types[] = {"PodScheduled", "PodReadyToStartContainers", "Initialized",
		"ContainersReady", "Ready"};
	for (int i = 0; i < 5; i++) {
		const char *v = ks_ctl_condition(cJSON_GetObjectItem(p, "status"), types[i]);
		ck_assert_msg(v && !strcmp(v, "True"), "%s is %s", types[i], v ? v : "missing");
	}
	const cJSON *cs = cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0);
	ck_assert_str_eq(th_str(cs, "name", NULL), "app");
	ck_assert_str_eq(th_str(cs, "image", NULL), "nginx:1.27");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cs, "ready")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cs, "started")));
	ck_assert_int_eq(th_num(cs, "restartCount", NULL), 0);
	ck_assert_ptr_nonnull(th_str(cs, "state", "running", "startedAt", NULL));
	ck_assert_int_eq(strncmp(th_str(cs, "containerID", NULL), "containerd://", 13), 0);
	/* The delays were applied on the simulated clock: scheduled -> running
	 * 3 s, running -> ready 3 s (second-precision timestamps, so at least 2;
	 * no upper bound: a loaded machine only makes them longer). */
	double sched = cond_time(p, "PodScheduled");
	double running = cond_time(p, "PodReadyToStartContainers");
	double ready = cond_time(p, "Ready");
	ck_assert_msg(ready - running >= 2.0, "ready %.0f running %.0f", ready, running);
	ck_assert_msg(running - sched >= 2.0, "running %.0f sched %.0f", running, sched);
	cJSON_Delete(p);
}
END_TEST

START_TEST(test_unique_ips)
{
	char name[16];
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		make_pod(name, "", "");
	}
	char ips[6][20];
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		ck_assert(TH_WAIT(is_ready(name), TH_TIMEOUT_MS));
		cJSON *p = pod(name);
		snprintf(ips[i], sizeof(ips[i]), "%s", th_str(p, "status", "podIP", NULL));
		cJSON_Delete(p);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ips[i], ips[j]);
	}
}
END_TEST

START_TEST(test_fail_never)
{
	make_pod("crash", "\"kubesim.keelson.dev/fail\":\"true\",\"kubesim.keelson.dev/exit-code\":\"3\"",
		"\"restartPolicy\":\"Never\"");
	ck_assert(TH_WAIT(!strcmp(phase_of("crash"), "Failed"), TH_TIMEOUT_MS));
	cJSON *p = pod("crash");
	const cJSON *cs = cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0);
	ck_assert_int_eq(th_num(cs, "state", "terminated", "exitCode", NULL), 3);
	ck_assert_str_eq(th_str(cs, "state", "terminated", "reason", NULL), "Error");
	ck_assert_str_eq(ks_ctl_condition(cJSON_GetObjectItem(p, "status"), "Ready"), "False");
	cJSON_Delete(p);
}
END_TEST

START_TEST(test_fail_always_crashloops)
{
	make_pod("loop", "\"kubesim.keelson.dev/fail\":\"true\"", "");
	cJSON *p = NULL;
	ck_assert(TH_WAIT((cJSON_Delete(p), p = pod("loop"),
		th_num(cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0),
			"restartCount", NULL) >= 1), TH_TIMEOUT_MS));
	ck_assert_str_eq(ks_ctl_pod_phase(p), "Running");
	ck_assert(!ks_ctl_pod_ready(p));
	const cJSON *cs = cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0);
	ck_assert_str_eq(th_str(cs, "state", "waiting", "reason", NULL), "CrashLoopBackOff");
	ck_assert_int_ge(th_num(cs, "restartCount", NULL), 1);
	ck_assert_int_eq(th_num(cs, "lastState", "terminated", "exitCode", NULL), 1);
	cJSON_Delete(p);
}
END_TEST

START_TEST(test_run_to_completion)
{
	make_pod("ok", "\"kubesim.keelson.dev/run-ms\":\"2000\"", "\"restartPolicy\":\"Never\"");
	make_pod("bad", "\"kubesim.keelson.dev/run-ms\":\"2000\",\"kubesim.keelson.dev/exit-code\":\"2\"",
		"\"restartPolicy\":\"Never\"");
	make_pod("forever", "", "\"restartPolicy\":\"Never\"");
	ck_assert(TH_WAIT(!strcmp(phase_of("ok"), "Succeeded"), TH_TIMEOUT_MS));
	ck_assert(TH_WAIT(!strcmp(phase_of("bad"), "Failed"), TH_TIMEOUT_MS));
	cJSON *p = pod("ok");
	const cJSON *cs = cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0);
	ck_assert_int_eq(th_num(cs, "state", "terminated", "exitCode", NULL), 0);
	ck_assert_str_eq(th_str(cs, "state", "terminated", "reason", NULL), "Completed");
	ck_assert_str_eq(ks_ctl_condition(cJSON_GetObjectItem(p, "status"), "Ready"), "False");
	cJSON_Delete(p);
	p = pod("bad");
	cs = cJSON_GetArrayItem(ks_ctl_at(p, "status", "containerStatuses", NULL), 0);
	ck_assert_int_eq(th_num(cs, "state", "terminated", "exitCode", NULL), 2);
	cJSON_Delete(p);
	/* Without run-ms the container keeps running. */
	ck_assert_str_eq(phase_of("forever"), "Running");
}
END_TEST

START_TEST(test_grace_period)
{
	/* 20 simulated seconds = 200 real ms at TH_FACTOR 100. */
	make_pod("slow", "", "\"terminationGracePeriodSeconds\":20");
	ck_assert(TH_WAIT(is_ready("slow"), TH_TIMEOUT_MS));
	double start = ks_clock_now();
	bool removed = true;
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "pods"), "default", "slow", NULL,
		NULL, &removed), 0);
	ck_assert(!removed);
	cJSON *p = pod("slow");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(ks_meta_string(p, "deletionTimestamp"));
	ck_assert_int_eq(th_num(p, "metadata", "deletionGracePeriodSeconds", NULL), 20);
	cJSON_Delete(p);
	ck_assert(TH_WAIT(!th_exists("", "pods", "default", "slow"), TH_TIMEOUT_MS));
	double took = ks_clock_now() - start;
	/* deletionTimestamp has second precision: allow one second early. */
	ck_assert_msg(took >= 19.0, "deleted after %.1f simulated seconds", took);
}
END_TEST

START_TEST(test_stop_delay)
{
	/* Grace 600 s (6 real seconds), but the containers exit after 2 s. */
	make_pod("quick", "\"kubesim.keelson.dev/stop-delay-ms\":\"2000\"",
		"\"terminationGracePeriodSeconds\":600");
	ck_assert(TH_WAIT(is_ready("quick"), TH_TIMEOUT_MS));
	double start = ks_clock_now();
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "pods"), "default", "quick", NULL,
		NULL, NULL), 0);
	ck_assert(TH_WAIT(!th_exists("", "pods", "default", "quick"), TH_TIMEOUT_MS));
	double took = ks_clock_now() - start;
	ck_assert_msg(took >= 1.9 && took < 300.0, "deleted after %.1f simulated seconds", took);
}
END_TEST

START_TEST(test_grace_shortened)
{
	/* Deleted with 600 s of grace, then again with 2 s: the shorter wins. */
	make_pod("twice", "", "\"terminationGracePeriodSeconds\":600");
	ck_assert(TH_WAIT(is_ready("twice"), TH_TIMEOUT_MS));
	double start = ks_clock_now();
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "pods"), "default", "twice", NULL,
		NULL, NULL), 0);
	struct ks_delete_options o = {.version = KS_DELETE_OPTIONS_VERSION,
		.has_grace_period = true, .grace_period_seconds = 2};
	ck_assert_int_eq(ks_store_delete(th_store, th_type("", "pods"), "default", "twice", &o,
		NULL, NULL), 0);
	ck_assert(TH_WAIT(!th_exists("", "pods", "default", "twice"), TH_TIMEOUT_MS));
	double took = ks_clock_now() - start;
	ck_assert_msg(took >= 1.0 && took < 300.0, "deleted after %.1f simulated seconds", took);
}
END_TEST

START_TEST(test_qos_classes)
{
	make_pod("g", "", "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":"
		"{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]");
	make_pod("b", "", "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":"
		"{\"requests\":{\"cpu\":\"1\"}}}]");
	ck_assert(TH_WAIT(is_ready("g") && is_ready("b"), TH_TIMEOUT_MS));
	cJSON *g = pod("g"), *b = pod("b");
	ck_assert_str_eq(th_str(g, "status", "qosClass", NULL), "Guaranteed");
	ck_assert_str_eq(th_str(b, "status", "qosClass", NULL), "Burstable");
	cJSON_Delete(g);
	cJSON_Delete(b);
}
END_TEST

START_TEST(test_ready_annotation)
{
	make_pod("r", "", "");
	ck_assert(TH_WAIT(is_ready("r"), TH_TIMEOUT_MS));
	th_patch("", "pods", "default", "r",
		"{\"metadata\":{\"annotations\":{\"kubesim.keelson.dev/ready\":\"false\"}}}", NULL);
	ck_assert(TH_WAIT(!is_ready("r"), TH_TIMEOUT_MS));
	ck_assert_str_eq(phase_of("r"), "Running");
	th_patch("", "pods", "default", "r",
		"{\"metadata\":{\"annotations\":{\"kubesim.keelson.dev/ready\":null}}}", NULL);
	ck_assert(TH_WAIT(is_ready("r"), TH_TIMEOUT_MS));
}
END_TEST

START_TEST(test_node_object)
{
	cJSON *n = th_get("", "nodes", NULL, KS_NODE_NAME);
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(ks_ctl_condition(cJSON_GetObjectItem(n, "status"), "Ready"), "True");
	cJSON_Delete(n);
}
END_TEST

static Suite *suite_kubelet(void)
{
	Suite *s = suite_create("kubesim_kubelet");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"pod_lifecycle", test_pod_lifecycle},
		{"unique_pod_ips", test_unique_ips},
		{"fail_restart_never", test_fail_never},
		{"fail_restart_always", test_fail_always_crashloops},
		{"run_to_completion", test_run_to_completion},
		{"grace_period", test_grace_period},
		{"stop_delay", test_stop_delay},
		{"grace_shortened", test_grace_shortened},
		{"qos_class", test_qos_classes},
		{"ready_annotation", test_ready_annotation},
		{"node_object", test_node_object},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, th_setup, th_teardown);
		tcase_set_timeout(tc, 30);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_kubelet)
