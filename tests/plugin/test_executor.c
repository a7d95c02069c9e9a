/*
 * Executor: waits and their persisted timers, blocked state (reported once,
 * kept until the revision changes), fail closed when a gate cannot be
 * evaluated, bounded retries with back-off, and continuity across a
 * restart (a new executor on the same store).
 */
#include "config.h"

#include "core/error.h"
#include "layout/problems.h"
#include "plugin/executor.h"
#include "plugin/plugin_host.h"
#include "tests/plugin/fake_view.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <string.h>

struct memory_store {
	struct keelson_executor_store store;
	cJSON *saved;
	unsigned saves;
	int fail;
};

static int mem_load(cJSON **out, void *payload, const char *cluster, const char *system)
{
	struct memory_store *m = payload;
	(void)cluster, (void)system;
	if (m->fail)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "store unreachable");
	*out = m->saved ? cJSON_Duplicate(m->saved, 1) : NULL;
	return 0;
}

static int mem_save(void *payload, const char *cluster, const char *system, const cJSON *state)
{
	struct memory_store *m = payload;
	(void)cluster, (void)system;
	if (m->fail)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "store unreachable");
	cJSON_Delete(m->saved);
	m->saved = cJSON_Duplicate(state, 1);
	m->saves++;
	return 0;
}

static struct keelson_plugin_registry *registry;
static const struct keelson_plugin *example;
static struct fake fake;
static struct memory_store store;
static cJSON *desired, *live, *params_doc;
static struct keelson_plugin_params *params;
static unsigned blocked_calls;
static char blocked_reason[512];

static void on_blocked(void *payload, const char *cluster, const char *system, const char *reason)
{
	(void)payload;
	ck_assert_str_eq(cluster, "sim");
	ck_assert_str_eq(system, "web");
	blocked_calls++;
	snprintf(blocked_reason, sizeof(blocked_reason), "%s", reason);
}

static struct keelson_executor *new_executor(void)
{
	struct keelson_executor_options opts;
	keelson_executor_options_init(&opts);
	opts.env = &fake.env;
	opts.store = &store.store;
	opts.max_attempts = 3;
	opts.backoff_initial_ms = 1000;
	opts.backoff_max_ms = 4000;
	opts.on_blocked = on_blocked;
	struct keelson_executor *e = NULL;
	ck_assert_int_eq(keelson_executor_new(&e, &opts), 0);
	return e;
}

static void setup(void)
{
	char path[4096];
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	test_plugin_path(path, sizeof(path), "example", "restart-one-at-a-time");
	ck_assert_int_eq(keelson_plugin_registry_load_file(registry, path), 0);
	example = keelson_plugin_registry_find(registry, "restart-one-at-a-time");
	fake_init(&fake);
	memset(&store, 0, sizeof(store));
	store.store = (struct keelson_executor_store){.payload = &store, .load = mem_load, .save = mem_save};
	desired = cJSON_Parse(fake_sts_desired);
	live = cJSON_Parse(fake_sts_live);
	params_doc = cJSON_Parse("{\"statefulSet\":\"web\",\"readyTimeout\":\"2m\"}");
	struct keelson_problem_list *problems = keelson_problem_list_new();
	ck_assert_int_eq(keelson_plugin_params_parse(&params, problems, example, params_doc, NULL, "s.yaml"), 0);
	keelson_problem_list_free(problems);
	blocked_calls = 0;
	blocked_reason[0] = '\0';
}

static void teardown(void)
{
	keelson_plugin_params_free(params);
	cJSON_Delete(params_doc);
	cJSON_Delete(desired);
	cJSON_Delete(live);
	cJSON_Delete(store.saved);
	fake_dispose(&fake);
	keelson_plugin_registry_free(registry);
}

static struct keelson_exec_result cycle(struct keelson_executor *e, const char *revision,
					enum keelson_object_state state)
{
	struct keelson_plan_object object = {.desired = desired, .live = live, .state = state, .file = "s.yaml"};
	struct keelson_exec_result r;
	int rc = keelson_executor_cycle_objects(&r, e, example, params, "sim", "web", revision, &object, 1);
	ck_assert_msg(rc == 0, "cycle failed: %s", keelson_error_last()->message);
	return r;
}

static const char *saved_string(const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(store.saved, name));
}

START_TEST(test_converged)
{
	fake_pod(&fake, "web-0", "u0", "rev2", 1);
	fake_pod(&fake, "web-1", "u1", "rev2", 1);
	fake_pod(&fake, "web-2", "u2", "rev2", 1);
	struct keelson_executor *e = new_executor();
	struct keelson_exec_result r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_CONVERGED);
	ck_assert_uint_eq(r.steps_left, 0);
	/* No step: no target for an Event. */
	ck_assert_str_eq(r.step_kind, "");
	ck_assert_str_eq(r.target_kind, "");
	ck_assert_str_eq(r.target_name, "");
	/* Nothing to remember: nothing is written. */
	ck_assert_uint_eq(store.saves, 0);
	keelson_executor_free(e);
}
END_TEST

START_TEST(test_wait_then_blocked_across_restart)
{
	/* web-2 is being replaced: the plan waits for it before web-1. */
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake_pod(&fake, "web-1", "u1", "rev1", 1);
	fake_pod(&fake, "web-2", "u9", "rev2", 0);
	struct keelson_executor *e = new_executor();
	struct keelson_exec_result r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_WAITING);
	ck_assert_ptr_nonnull(strstr(r.description, "before restarting web-1"));
	ck_assert_str_eq(saved_string("waitKey"), "ready-before/web/web-1/u1");
	/* A wait that names no object. */
	ck_assert_str_eq(r.step_kind, "wait");
	ck_assert_str_eq(r.target_api_version, "");
	ck_assert_str_eq(r.target_name, "");
	long long since = (long long)cJSON_GetObjectItemCaseSensitive(store.saved, "waitSince")->valuedouble;
	ck_assert_int_eq(since, fake.now);

	/* keelson is killed and restarted 100 s later: the timer is not reset. */
	keelson_executor_free(e);
	e = new_executor();
	fake.now += 100000;
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_WAITING);
	ck_assert_int_eq((long long)cJSON_GetObjectItemCaseSensitive(store.saved, "waitSince")->valuedouble, since);

	fake.now += 20001; /* 2m timeout passed */
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_ptr_nonnull(strstr(r.description, "timed out after 120s"));
	ck_assert_uint_eq(blocked_calls, 1);
	ck_assert_ptr_nonnull(strstr(blocked_reason, "before restarting web-1"));
	ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(store.saved, "blocked")), 1);

	/* Now ready again: still blocked (a person must look), alerted once,
	 * and no planning (no reads) while blocked. */
	cJSON_Delete(cJSON_DetachItemFromArray(fake.pods, 2));
	fake_pod(&fake, "web-2", "u9", "rev2", 1);
	unsigned lists = fake.list_calls;
	keelson_executor_free(e);
	e = new_executor();
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_uint_eq(blocked_calls, 1);
	ck_assert_uint_eq(fake.list_calls, lists);

	/* A commit that leaves this system's desired state alone: still blocked. */
	r = cycle(e, "r2", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_uint_eq(blocked_calls, 1);
	ck_assert_str_eq(saved_string("revision"), "r1");

	/* A change to it is a new rollout. Without a client, the delete fails. */
	cJSON *container = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(desired, "spec"), "template"), "spec"), "containers"), 0);
	cJSON_ReplaceItemInObjectCaseSensitive(container, "image", cJSON_CreateString("nginx:1.29"));
	r = cycle(e, "r3", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_FAILED);
	ck_assert_ptr_nonnull(strstr(r.description, "delete pod web/web-1"));
	ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(store.saved, "blocked")), 0);
	ck_assert_str_eq(saved_string("revision"), "r3");
	ck_assert_uint_eq(strlen(saved_string("desired")), 16);
	keelson_executor_free(e);
}
END_TEST

START_TEST(test_gate_unevaluable)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake.fail_reads = 1;
	struct keelson_executor *e = new_executor();
	struct keelson_exec_result r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_WAITING);
	ck_assert_ptr_nonnull(strstr(r.description, "fails closed"));
	fake.now += 60000;
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_WAITING);
	ck_assert_uint_eq(blocked_calls, 0);
	fake.now += 60000;
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_uint_eq(blocked_calls, 1);
	ck_assert_ptr_nonnull(strstr(blocked_reason, "cannot be read"));
	keelson_executor_free(e);
}
END_TEST

START_TEST(test_retries_bounded)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake_pod(&fake, "web-1", "u1", "rev2", 1);
	fake_pod(&fake, "web-2", "u2", "rev2", 1);
	struct keelson_executor *e = new_executor();
	/* No client: the delete fails every time. */
	struct keelson_exec_result r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_FAILED);
	ck_assert_int_eq(r.backoff_ms, 1000);
	ck_assert_str_eq(r.step_kind, "delete-pod");
	ck_assert_str_eq(r.target_api_version, "v1");
	ck_assert_str_eq(r.target_kind, "Pod");
	ck_assert_str_eq(r.target_namespace, "web");
	ck_assert_str_eq(r.target_name, "web-0");
	ck_assert_str_eq(r.gate, "all 3 pods of web Ready (now 3)");
	ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(store.saved, "attempts")->valuedouble, 1);
	/* Within the back-off nothing is attempted or read. */
	unsigned lists = fake.list_calls, saves = store.saves;
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BACKOFF);
	ck_assert_str_eq(r.step_kind, "");
	ck_assert_str_eq(r.target_name, "");
	ck_assert_str_eq(r.gate, "");
	ck_assert_uint_eq(fake.list_calls, lists);
	ck_assert_uint_eq(store.saves, saves);
	fake.now += 1000;
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_FAILED);
	ck_assert_int_eq(r.backoff_ms, 2000);
	/* A restart forgets the back-off but not the attempts. */
	keelson_executor_free(e);
	e = new_executor();
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_FAILED);
	ck_assert_int_eq((int)cJSON_GetObjectItemCaseSensitive(store.saved, "attempts")->valuedouble, 3);
	fake.now += 10000;
	r = cycle(e, "r1", KEELSON_OBJECT_IN_SYNC);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_ptr_nonnull(strstr(r.description, "step failed 3 times: delete pod web/web-0"));
	/* Blocked on a step: the Event still names the pod. */
	ck_assert_str_eq(r.step_kind, "delete-pod");
	ck_assert_str_eq(r.target_name, "web-0");
	ck_assert_uint_eq(blocked_calls, 1);
	keelson_executor_free(e);
}
END_TEST

static unsigned applies;

static int count_apply(void *payload, const char *cluster, const char *system, const cJSON *object)
{
	ck_assert_ptr_eq(payload, &applies);
	ck_assert_str_eq(cluster, "sim");
	ck_assert_str_eq(system, "web");
	ck_assert_int_eq(cJSON_Compare(object, desired, 1), 1);
	applies++;
	return 0;
}

START_TEST(test_apply_hook_and_no_effect)
{
	fake_pod(&fake, "web-0", "u0", "rev2", 1);
	struct keelson_executor_options opts;
	keelson_executor_options_init(&opts);
	opts.env = &fake.env;
	opts.store = &store.store;
	opts.on_blocked = on_blocked;
	opts.apply = count_apply;
	opts.apply_payload = &applies;
	applies = 0;
	struct keelson_executor *e = NULL;
	ck_assert_int_eq(keelson_executor_new(&e, &opts), 0);
	/* The object stays drifted whatever is applied (something else keeps
	 * changing it): three applies, then blocked instead of a loop. */
	for (int i = 0; i < 3; i++) {
		struct keelson_exec_result r = cycle(e, "r1", KEELSON_OBJECT_DRIFTED);
		ck_assert_int_eq(r.outcome, KEELSON_EXEC_RAN);
		ck_assert_str_eq(r.description, "apply StatefulSet web/web (drifted)");
		ck_assert_str_eq(r.step_kind, "apply");
		ck_assert_str_eq(r.target_api_version, "apps/v1");
		ck_assert_str_eq(r.target_kind, "StatefulSet");
		ck_assert_str_eq(r.target_namespace, "web");
		ck_assert_str_eq(r.target_name, "web");
	}
	ck_assert_uint_eq(applies, 3);
	struct keelson_exec_result r = cycle(e, "r1", KEELSON_OBJECT_DRIFTED);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_ptr_nonnull(strstr(r.description, "step ran 3 times without effect: apply StatefulSet web/web"));
	ck_assert_uint_eq(applies, 3);
	ck_assert_uint_eq(blocked_calls, 1);
	keelson_executor_free(e);
}
END_TEST

START_TEST(test_store_failure)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	store.fail = 1;
	struct keelson_executor *e = new_executor();
	struct keelson_plan_object object = {.desired = desired, .live = live, .state = KEELSON_OBJECT_IN_SYNC};
	struct keelson_exec_result r;
	/* Without its state the executor does nothing: it cannot know whether
	 * the system is blocked. */
	ck_assert_int_eq(keelson_executor_cycle_objects(&r, e, example, params, "sim", "web", "r1", &object, 1),
			 KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "reading the rollout state of sim/web"));
	ck_assert_uint_eq(fake.list_calls, 0);
	keelson_executor_free(e);
}
END_TEST

/* A plugin written here: deletes StatefulSet web/web (Orphan). */
static int delete_sts_plan(const struct keelson_host *h, struct keelson_plugin_call *call,
			   const struct keelson_view *view)
{
	(void)view;
	struct keelson_step s = {.struct_size = sizeof(s), .kind = KEELSON_STEP_DELETE,
				 .description = "delete StatefulSet web/web keeping its pods",
				 .api_version = "apps/v1", .kind_name = "StatefulSet", .namespace_ = "web",
				 .name = "web", .precondition_uid = "uid-sts-web", .propagation = "Orphan"};
	return h->add_step(call, &s);
}

static const struct keelson_plugin delete_sts_plugin = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct keelson_plugin),
	.name = "delete-sts", .version = "1", .description = "deletes a StatefulSet", .plan = delete_sts_plan};

/* A delete step is reported with its kind and target like any other, and
 * its failures are bounded (no client here: it fails every time). */
START_TEST(test_delete_step_reported)
{
	struct keelson_executor *e = new_executor();
	struct keelson_plan_object object = {.desired = desired, .live = live, .state = KEELSON_OBJECT_IN_SYNC,
					     .file = "s.yaml"};
	struct keelson_exec_result r;
	for (int attempt = 1; attempt <= 3; attempt++) {
		ck_assert_int_eq(keelson_executor_cycle_objects(&r, e, &delete_sts_plugin, NULL, "sim", "web", "r1",
								&object, 1), 0);
		ck_assert_int_eq(r.outcome, KEELSON_EXEC_FAILED);
		ck_assert_ptr_nonnull(strstr(r.description, "delete StatefulSet web/web keeping its pods"));
		ck_assert_str_eq(r.step_kind, "delete");
		ck_assert_str_eq(r.target_api_version, "apps/v1");
		ck_assert_str_eq(r.target_kind, "StatefulSet");
		ck_assert_str_eq(r.target_namespace, "web");
		ck_assert_str_eq(r.target_name, "web");
		fake.now += 10000;
	}
	ck_assert_int_eq(keelson_executor_cycle_objects(&r, e, &delete_sts_plugin, NULL, "sim", "web", "r1", &object, 1),
			 0);
	ck_assert_int_eq(r.outcome, KEELSON_EXEC_BLOCKED);
	ck_assert_ptr_nonnull(strstr(r.description, "step failed 3 times: delete StatefulSet web/web"));
	ck_assert_str_eq(r.step_kind, "delete");
	keelson_executor_free(e);
}
END_TEST

Suite *suite_executor(void);
Suite *suite_executor(void)
{
	Suite *s = suite_create("executor");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"cycle_converged", test_converged},
		{"cycle_wait_blocked_restart", test_wait_then_blocked_across_restart},
		{"cycle_gate_unevaluable", test_gate_unevaluable},
		{"cycle_retries_bounded", test_retries_bounded},
		{"cycle_store_failure", test_store_failure},
		{"cycle_apply_hook_no_effect", test_apply_hook_and_no_effect},
		{"cycle_delete_step_reported", test_delete_step_reported},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_executor)
