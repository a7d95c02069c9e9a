/*
 * The host's limits on what a plugin plans (docs/security.md, "Limits"),
 * with the oversize test plugin: each limit met is a plan, one past it is
 * no plan at all, KEELSON_ELIMIT (a key past its bound is a malformed
 * step), and the error says which step and which limit.
 */
#include "config.h"

#include "core/error.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "tests/plugin/fake_view.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct keelson_plugin_registry *registry;
static const struct keelson_plugin *oversize;
static struct fake fake;

static void setup(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/plugin/.libs/oversize.so", test_builddir());
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	ck_assert_msg(keelson_plugin_registry_load_file(registry, path) == 0, "%s", keelson_error_last()->message);
	oversize = keelson_plugin_registry_find(registry, "oversize");
	ck_assert_ptr_nonnull(oversize);
	fake_init(&fake);
}

static void teardown(void)
{
	fake_dispose(&fake);
	keelson_plugin_registry_free(registry);
}

static int plan_mode(const char *mode, struct keelson_plan **plan)
{
	char text[128];
	snprintf(text, sizeof(text), "{\"mode\":\"%s\"}", mode);
	cJSON *doc = cJSON_Parse(text);
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *params = NULL;
	ck_assert_int_eq(keelson_plugin_params_parse(&params, problems, oversize, doc, NULL, "system.yaml"), 0);
	struct keelson_plan_input in = {.cluster = "sim", .system = "odd", .params = params, .env = &fake.env};
	*plan = NULL;
	int rc = keelson_plugin_plan(plan, oversize, &in);
	keelson_plugin_params_free(params);
	keelson_problem_list_free(problems);
	cJSON_Delete(doc);
	return rc;
}

static void assert_message(const char *a, const char *b)
{
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, a) != NULL && (b == NULL || strstr(m, b) != NULL), "%s", m);
}

START_TEST(steps_per_plan)
{
	struct keelson_plan *plan = NULL;
	int rc = plan_mode("steps-at-limit", &plan);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(plan->count, 10000);
	ck_assert_str_eq(plan->steps[9999].description, "wait 10000");
	keelson_plan_free(plan);

	ck_assert_int_eq(plan_mode("steps-over", &plan), KEELSON_ELIMIT);
	ck_assert_ptr_null(plan);
	assert_message("plugin oversize could not plan system odd: refused step 10001",
		       "more than 10000 steps in one plan");
}
END_TEST

START_TEST(object_json_per_step)
{
	struct keelson_plan *plan = NULL;
	int rc = plan_mode("object-at-limit", &plan);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(plan->count, 1);
	ck_assert_int_eq(plan->steps[0].kind, KEELSON_STEP_APPLY);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(plan->steps[0].object, "metadata"), "name")),
			 "big");
	keelson_plan_free(plan);

	ck_assert_int_eq(plan_mode("object-over", &plan), KEELSON_ELIMIT);
	ck_assert_ptr_null(plan);
	assert_message("refused step 1 (apply a big ConfigMap): object_json is 1048577 bytes",
		       "more than the 1048576 allowed per step");
}
END_TEST

/* A step's key is kept in the rollout state: bounded like the description,
 * so that a plugin cannot make the state larger than the store allows. */
START_TEST(step_key_length)
{
	struct keelson_plan *plan = NULL;
	int rc = plan_mode("key-at-limit", &plan);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(strlen(plan->steps[0].key), 1024);
	keelson_plan_free(plan);

	ck_assert_int_eq(plan_mode("key-over", &plan), KEELSON_ERROR);
	ck_assert_ptr_null(plan);
	assert_message("malformed step: refused step 1: the key is empty, longer than 1024 bytes", NULL);
}
END_TEST

static Suite *suite_plugin_limits(void)
{
	Suite *s = suite_create("plugin_limits");
	TCase *tc = tcase_create("plan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, steps_per_plan);
	tcase_add_test(tc, object_json_per_step);
	tcase_add_test(tc, step_key_length);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_plugin_limits)
