/*
 * Planning: the example plugin against a fake view (order, gates, fail
 * closed), the built-in generic plugin, and plans the host refuses.
 */
#include "config.h"

#include "core/error.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "tests/plugin/fake_view.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static struct keelson_plugin_registry *registry;
static const struct keelson_plugin *example;
static struct fake fake;
static cJSON *desired, *live, *params_doc;
static struct keelson_plugin_params *params;

static void setup(void)
{
	char path[4096];
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	test_plugin_path(path, sizeof(path), "example", "restart-one-at-a-time");
	ck_assert_int_eq(keelson_plugin_registry_load_file(registry, path), 0);
	test_plugin_path(path, sizeof(path), "testing", "misbehaving");
	ck_assert_int_eq(keelson_plugin_registry_load_file(registry, path), 0);
	example = keelson_plugin_registry_find(registry, "restart-one-at-a-time");
	fake_init(&fake);
	desired = cJSON_Parse(fake_sts_desired);
	live = cJSON_Parse(fake_sts_live);
	params_doc = cJSON_Parse("{\"statefulSet\":\"web\",\"readyTimeout\":\"2m\",\"gracePeriodSeconds\":5}");
	struct keelson_problem_list *problems = keelson_problem_list_new();
	ck_assert_int_eq(keelson_plugin_params_parse(&params, problems, example, params_doc, NULL, "system.yaml"), 0);
	keelson_problem_list_free(problems);
}

static void teardown(void)
{
	keelson_plugin_params_free(params);
	cJSON_Delete(params_doc);
	cJSON_Delete(desired);
	cJSON_Delete(live);
	fake_dispose(&fake);
	keelson_plugin_registry_free(registry);
}

static struct keelson_plan *plan_with(const struct keelson_plugin *plugin, const struct keelson_plugin_params *p,
				       enum keelson_object_state state)
{
	struct keelson_plan_object object = {.desired = desired, .live = state == KEELSON_OBJECT_MISSING ? NULL : live,
					     .state = state, .file = "clusters/sim/web/statefulset.yaml", .line = 1};
	struct keelson_plan_input in = {.cluster = "sim", .system = "web", .revision = "abc", .objects = &object,
					.object_count = 1, .params = p, .env = &fake.env};
	struct keelson_plan *plan = NULL;
	int rc = keelson_plugin_plan(&plan, plugin, &in);
	ck_assert_msg(rc == 0, "plan failed: %s", keelson_error_last()->message);
	return plan;
}

static void assert_step(const struct keelson_plan *plan, size_t i, enum keelson_step_kind kind, const char *has)
{
	ck_assert_msg(i < plan->count, "plan has %zu steps, wanted step %zu", plan->count, i + 1);
	ck_assert_msg(plan->steps[i].kind == kind, "step %zu is %s: %s", i + 1,
		      keelson_step_kind_name(plan->steps[i].kind), plan->steps[i].description);
	ck_assert_msg(strstr(plan->steps[i].description, has) != NULL, "step %zu \"%s\" lacks \"%s\"", i + 1,
		      plan->steps[i].description, has);
}

START_TEST(test_converged)
{
	fake_pod(&fake, "web-0", "u0", "rev2", 1);
	fake_pod(&fake, "web-1", "u1", "rev2", 1);
	fake_pod(&fake, "web-2", "u2", "rev2", 1);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 0);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_rolls_highest_first)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake_pod(&fake, "web-1", "u1", "rev1", 1);
	fake_pod(&fake, "web-2", "u2", "rev1", 1);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 5);
	assert_step(plan, 0, KEELSON_STEP_DELETE_POD, "delete pod web/web-2");
	ck_assert_str_eq(plan->steps[0].precondition_uid, "u2");
	ck_assert_int_eq(plan->steps[0].grace_seconds, 5);
	ck_assert_str_eq(plan->steps[0].gate, "all 3 pods of web Ready (now 3)");
	assert_step(plan, 1, KEELSON_STEP_WAIT, "before restarting web-1");
	assert_step(plan, 2, KEELSON_STEP_DELETE_POD, "web-1");
	assert_step(plan, 3, KEELSON_STEP_WAIT, "before restarting web-0");
	assert_step(plan, 4, KEELSON_STEP_DELETE_POD, "web-0");
	ck_assert_int_eq(plan->steps[1].timeout_ms, 120000);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_not_ready_first)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake_pod(&fake, "web-1", "u1", "rev1", 0);
	fake_pod(&fake, "web-2", "u2", "rev1", 1);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_DELETE_POD, "web-1 (out of date, not Ready");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].gate, "this one excepted"));
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_waits_while_restarting)
{
	/* web-2 was deleted (terminating); the next one waits for it. */
	cJSON *p2 = fake_pod(&fake, "web-2", "u2", "rev1", 1);
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(p2, "metadata"), "deletionTimestamp",
				"2026-01-01T00:00:00Z");
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake_pod(&fake, "web-1", "u1", "rev1", 1);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "wait until all 3 pods of web Ready (now 2) before restarting web-1");
	ck_assert_str_eq(plan->steps[0].key, "ready-before/web/web-1/u1");
	/* The terminating pod is never planned again. */
	for (size_t i = 0; i < plan->count; i++)
		ck_assert_ptr_null(strstr(plan->steps[i].description, "web-2"));
	keelson_plan_free(plan);

	/* A missing pod (web-2 gone, not yet recreated) also holds the gate. */
	cJSON_DeleteItemFromArray(fake.pods, 0);
	plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "(now 2)");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_last_restart_settles)
{
	fake_pod(&fake, "web-0", "u0", "rev2", 1);
	fake_pod(&fake, "web-1", "u1", "rev2", 1);
	fake_pod(&fake, "web-2", "u9", "rev2", 0);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "wait until all 3 pods of web are Ready (now 2)");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_fail_closed)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake.fail_reads = 1;
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "cannot be read (gate fails closed)");
	ck_assert_int_eq(plan->steps[0].timeout_ms, 120000);
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_template_change_plans_whole_roll)
{
	/* The pods match the live updateRevision, but the template is about
	 * to change: apply first, then every pod in turn. */
	fake_pod(&fake, "web-0", "u0", "rev2", 1);
	fake_pod(&fake, "web-1", "u1", "rev2", 1);
	fake_pod(&fake, "web-2", "u2", "rev2", 1);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_DRIFTED);
	ck_assert_uint_eq(plan->count, 6);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "apply StatefulSet web/web (drifted)");
	ck_assert_str_eq(plan->steps[0].kind_name, "StatefulSet");
	assert_step(plan, 1, KEELSON_STEP_DELETE_POD, "web-2");
	assert_step(plan, 5, KEELSON_STEP_DELETE_POD, "web-0");
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_requires_on_delete)
{
	cJSON_ReplaceItemInObjectCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(desired, "spec"), "updateStrategy"),
		"type", cJSON_CreateString("RollingUpdate"));
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_BLOCKED, "stop");
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "OnDelete"));
	ck_assert_ptr_nonnull(strstr(plan->steps[0].reason, "statefulset.yaml:1"));
	keelson_plan_free(plan);
}
END_TEST

START_TEST(test_generic)
{
	const struct keelson_plugin *generic = keelson_plugin_registry_find(registry, "generic");
	struct keelson_plan *plan = plan_with(generic, NULL, KEELSON_OBJECT_MISSING);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "apply StatefulSet web/web (missing)");
	ck_assert_ptr_nonnull(plan->steps[0].object);
	ck_assert_int_eq(cJSON_Compare(plan->steps[0].object, desired, 1), 1);
	keelson_plan_free(plan);
	plan = plan_with(generic, NULL, KEELSON_OBJECT_IN_SYNC);
	ck_assert_uint_eq(plan->count, 0);
	keelson_plan_free(plan);
}
END_TEST

/* The view is in apply order whatever the repository order: a plugin that
 * applies what differs in view order creates the Namespace first. */
START_TEST(test_view_apply_order)
{
	const struct keelson_plugin *generic = keelson_plugin_registry_find(registry, "generic");
	cJSON *cm = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"conf\","
				"\"namespace\":\"web\"}}");
	cJSON *ns = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"web\"}}");
	cJSON *crd = cJSON_Parse("{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
				 "\"metadata\":{\"name\":\"things.example.com\"}}");
	cJSON *cm2 = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"conf2\","
				 "\"namespace\":\"web\"}}");
	struct keelson_plan_object objects[] = {
		{.desired = desired, .state = KEELSON_OBJECT_MISSING, .file = "a/statefulset.yaml", .line = 1},
		{.desired = cm, .state = KEELSON_OBJECT_MISSING, .file = "a/configmap.yaml", .line = 1},
		{.desired = ns, .state = KEELSON_OBJECT_MISSING, .file = "a/namespace.yaml", .line = 1},
		{.desired = crd, .state = KEELSON_OBJECT_MISSING, .file = "a/crd.yaml", .line = 1},
		{.desired = cm2, .state = KEELSON_OBJECT_MISSING, .file = "a/configmap.yaml", .line = 8},
	};
	struct keelson_plan_input in = {.cluster = "sim", .system = "web", .objects = objects, .object_count = 5,
					.env = &fake.env};
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(keelson_plugin_plan(&plan, generic, &in), 0);
	ck_assert_uint_eq(plan->count, 5);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "Namespace");
	assert_step(plan, 1, KEELSON_STEP_APPLY, "CustomResourceDefinition");
	assert_step(plan, 2, KEELSON_STEP_APPLY, "ConfigMap web/conf ");
	assert_step(plan, 3, KEELSON_STEP_APPLY, "ConfigMap web/conf2");
	assert_step(plan, 4, KEELSON_STEP_APPLY, "StatefulSet web/web");
	keelson_plan_free(plan);
	cJSON_Delete(cm);
	cJSON_Delete(ns);
	cJSON_Delete(crd);
	cJSON_Delete(cm2);
}
END_TEST

static int plan_misbehaving(const char *mode, struct keelson_plan **plan)
{
	const struct keelson_plugin *p = keelson_plugin_registry_find(registry, "misbehaving");
	char text[128];
	snprintf(text, sizeof(text), "{\"mode\":\"%s\"}", mode);
	cJSON *doc = cJSON_Parse(text);
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *mp = NULL;
	ck_assert_int_eq(keelson_plugin_params_parse(&mp, problems, p, doc, NULL, "x.yaml"), 0);
	struct keelson_plan_input in = {.cluster = "sim", .system = "odd", .params = mp, .env = &fake.env};
	int rc = keelson_plugin_plan(plan, p, &in);
	keelson_plugin_params_free(mp);
	keelson_problem_list_free(problems);
	cJSON_Delete(doc);
	return rc;
}

START_TEST(test_refused_plans)
{
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(plan_misbehaving("bad-step", &plan), KEELSON_ERROR);
	ck_assert_ptr_null(plan);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "malformed step"));
	ck_assert_int_eq(plan_misbehaving("fail", &plan), KEELSON_ERROR);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "plugin misbehaving could not plan system odd"));
	ck_assert_int_eq(plan_misbehaving("ok", &plan), 0);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_WAIT, "wait for nothing");
	keelson_plan_free(plan);
	plan = NULL;
	ck_assert_int_eq(plan_misbehaving("bad-built", &plan), KEELSON_ERROR);
	ck_assert_ptr_null(plan);
}
END_TEST

/* A patch of the status subresource keeps its subresource; any other
 * subresource is refused. */
START_TEST(test_patch_subresource)
{
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(plan_misbehaving("status-patch", &plan), 0);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_PATCH, "record the state");
	ck_assert_str_eq(plan->steps[0].subresource, "status");
	ck_assert_str_eq(plan->steps[0].name, "etl");
	keelson_plan_free(plan);
	plan = NULL;
	ck_assert_int_eq(plan_misbehaving("bad-subresource", &plan), KEELSON_ERROR);
	ck_assert_ptr_null(plan);
}
END_TEST

/* An object the plugin built (object_json) becomes an apply step that
 * owns a parsed copy, with its target taken from the object. */
START_TEST(test_built_object)
{
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(plan_misbehaving("built", &plan), 0);
	ck_assert_uint_eq(plan->count, 1);
	assert_step(plan, 0, KEELSON_STEP_APPLY, "create the driver pod");
	ck_assert_str_eq(plan->steps[0].kind_name, "Pod");
	ck_assert_str_eq(plan->steps[0].namespace_, "spark");
	ck_assert_str_eq(plan->steps[0].name, "etl-driver");
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(plan->steps[0].object, "spec"), "containers"), 0), "image");
	ck_assert_str_eq(cJSON_GetStringValue(image), "spark:3.5");
	keelson_plan_free(plan);
}
END_TEST

static int fake_http(long *out_status, char **out_body, size_t *out_len, void *payload,
		     enum keelson_proxy_target target, const char *ns, const char *name, const char *port,
		     const char *method, const char *path, const char *body, long long timeout_ms)
{
	int *mode = payload;
	ck_assert_int_eq(target, KEELSON_PROXY_POD);
	ck_assert_str_eq(ns, "kafka");
	ck_assert_str_eq(name, "broker-0");
	ck_assert_str_eq(port, "9404");
	ck_assert_str_eq(method, "GET");
	ck_assert_str_eq(path, "/metrics");
	ck_assert_ptr_null(body);
	ck_assert_int_eq(timeout_ms, 500);
	*out_status = *mode == 0 ? 200 : 503;
	*out_body = strdup(*mode == 0 ? "up 1" : "down");
	*out_len = strlen(*out_body);
	if (*mode != 0)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "backend answered 503");
	return 0;
}

START_TEST(test_services)
{
	int mode = 0;
	/* Only HTTP: reads have no backend here and must answer "cannot tell". */
	struct keelson_plugin_env http_env = {.version = KEELSON_PLUGIN_ENV_VERSION, .payload = &mode,
					      .http = fake_http};
	const struct keelson_plugin *p = keelson_plugin_registry_find(registry, "misbehaving");
	cJSON *doc = cJSON_Parse("{\"mode\":\"probe\"}");
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *mp = NULL;
	ck_assert_int_eq(keelson_plugin_params_parse(&mp, problems, p, doc, NULL, "x.yaml"), 0);
	struct keelson_plan_input in = {.cluster = "sim", .system = "probe", .params = mp, .env = &http_env};
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(keelson_plugin_plan(&plan, p, &in), 0);
	ck_assert_ptr_nonnull(strstr(plan->steps[0].description, "http rc=0 status=200 body=up 1 error=-; live_get=-1; now="));
	keelson_plan_free(plan);

	mode = 1;
	ck_assert_int_eq(keelson_plugin_plan(&plan, p, &in), 0);
	ck_assert_ptr_nonnull(strstr(plan->steps[0].description,
				     "http rc=-1 status=503 body=down error=backend answered 503"));
	keelson_plan_free(plan);

	/* The fake's env: no HTTP, a missing object is 1, the clock is the env's. */
	in.env = &fake.env;
	ck_assert_int_eq(keelson_plugin_plan(&plan, p, &in), 0);
	ck_assert_ptr_nonnull(strstr(plan->steps[0].description,
				     "error=no HTTP access in this context; live_get=1; now=1700000000000"));
	keelson_plan_free(plan);
	keelson_plugin_params_free(mp);
	keelson_problem_list_free(problems);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(test_print)
{
	fake_pod(&fake, "web-0", "u0", "rev1", 1);
	fake_pod(&fake, "web-1", "u1", "rev1", 1);
	fake_pod(&fake, "web-2", "u2", "rev1", 1);
	struct keelson_plan *plan = plan_with(example, params, KEELSON_OBJECT_IN_SYNC);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	keelson_plan_print(out, plan);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "  1. [delete-pod] delete pod web/web-2 (out of date; grace 5s)\n"
					   "       gate: all 3 pods of web Ready (now 3)\n"));
	ck_assert_ptr_nonnull(strstr(text, "  2. [wait] wait until all 3 pods of web Ready"));
	free(text);
	keelson_plan_free(plan);
}
END_TEST

/* json_parse (host version 3): a plugin defined here, reporting what it
 * parsed in a step's description. */
static const char *parse_input;
static size_t parse_len;

static int parse_plan(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_view *view)
{
	(void)view;
	char text[256];
	if (!KEELSON_HOST_HAS(h, json_parse)) {
		snprintf(text, sizeof(text), "no json_parse");
	} else {
		const struct keelson_json *root = h->json_parse(call, parse_input, parse_len);
		double n = -1;
		h->json_number(h->json_get(root, "/a/1"), &n);
		const char *s = h->json_string(h->json_get(root, "/b"));
		snprintf(text, sizeof(text), "root=%s a1=%g b=%s", root ? "yes" : "no", n, s ? s : "-");
	}
	struct keelson_step st = {.struct_size = sizeof(st), .kind = KEELSON_STEP_WAIT, .description = text};
	return h->add_step(call, &st);
}

static const struct keelson_plugin parse_plugin = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct keelson_plugin),
	.name = "parse", .version = "1", .description = "json_parse test", .plan = parse_plan,
};

static const char *parsed(const char *text, size_t len)
{
	static char description[256];
	parse_input = text;
	parse_len = len;
	struct keelson_plan_input in = {.cluster = "sim", .system = "parse", .env = &fake.env};
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(keelson_plugin_plan(&plan, &parse_plugin, &in), 0);
	ck_assert_uint_eq(plan->count, 1);
	snprintf(description, sizeof(description), "%s", plan->steps[0].description);
	keelson_plan_free(plan);
	return description;
}

START_TEST(test_json_parse)
{
	const char *ok = "{\"a\":[1,2.5],\"b\":\"x\"}\r\n ";
	ck_assert_str_eq(parsed(ok, strlen(ok)), "root=yes a1=2.5 b=x");
	/* Only `len` bytes count: the rest of the buffer is not read. */
	const char *prefix = "{\"b\":\"y\"}GARBAGE";
	ck_assert_str_eq(parsed(prefix, 9), "root=yes a1=-1 b=y");
	const char *trailing = "{\"b\":\"y\"} {}";
	ck_assert_str_eq(parsed(trailing, strlen(trailing)), "root=no a1=-1 b=-");
	ck_assert_str_eq(parsed("{\"b\":", 5), "root=no a1=-1 b=-");
	ck_assert_str_eq(parsed("", 0), "root=no a1=-1 b=-");
	ck_assert_str_eq(parsed(NULL, 0), "root=no a1=-1 b=-");
	/* Deeper than cJSON's nesting limit: refused, not a stack overflow. */
	size_t deep = 5000;
	char *nested = malloc(2 * deep + 1);
	ck_assert_ptr_nonnull(nested);
	memset(nested, '[', deep);
	memset(nested + deep, ']', deep);
	nested[2 * deep] = '\0';
	ck_assert_str_eq(parsed(nested, 2 * deep), "root=no a1=-1 b=-");
	free(nested);
	/* Larger than the limit: refused without reading it. */
	ck_assert_str_eq(parsed(ok, (size_t)KEELSON_JSON_PARSE_MAX + 1), "root=no a1=-1 b=-");
}
END_TEST

/* A plugin written here: adds the DELETE step `delete_case` describes. */
static int delete_case;

static int delete_plan(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_view *view)
{
	(void)view;
	ck_assert_uint_ge(h->version, 4);
	struct keelson_step s = {.struct_size = sizeof(s), .kind = KEELSON_STEP_DELETE,
				 .description = "delete StatefulSet cass/cass keeping its pods",
				 .api_version = "apps/v1", .kind_name = "StatefulSet", .namespace_ = "cass",
				 .name = "cass", .precondition_uid = "sts-uid-1", .propagation = "Orphan"};
	switch (delete_case) {
	case 1: s.precondition_uid = NULL; break;           /* refused: a stale plan could delete a new object */
	case 2: s.propagation = NULL; break;                /* Background */
	case 3: s.propagation = "orphan"; break;            /* refused: not a known policy */
	case 4: s.struct_size = offsetof(struct keelson_step, propagation); break; /* built for host 3 */
	case 5: s.kind_name = NULL; break;                  /* refused: no target */
	case 6: /* host-3 layout, another kind: still accepted */
		s = (struct keelson_step){.struct_size = offsetof(struct keelson_step, propagation),
					  .kind = KEELSON_STEP_WAIT, .description = "wait for it"};
		break;
	}
	return h->add_step(call, &s);
}

static const struct keelson_plugin delete_plugin = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct keelson_plugin),
	.name = "deleter", .version = "1", .description = "adds one delete step", .plan = delete_plan};

static int plan_delete_case(int which, struct keelson_plan **plan)
{
	delete_case = which;
	struct keelson_plan_input in = {.cluster = "sim", .system = "cass", .env = &fake.env};
	return keelson_plugin_plan(plan, &delete_plugin, &in);
}

START_TEST(test_delete_step)
{
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(plan_delete_case(0, &plan), 0);
	ck_assert_uint_eq(plan->count, 1);
	const struct keelson_plan_step *st = &plan->steps[0];
	ck_assert_int_eq(st->kind, KEELSON_STEP_DELETE);
	ck_assert_str_eq(keelson_step_kind_name(st->kind), "delete");
	ck_assert_str_eq(st->api_version, "apps/v1");
	ck_assert_str_eq(st->kind_name, "StatefulSet");
	ck_assert_str_eq(st->namespace_, "cass");
	ck_assert_str_eq(st->name, "cass");
	ck_assert_str_eq(st->precondition_uid, "sts-uid-1");
	ck_assert_str_eq(st->propagation, "Orphan");
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	keelson_plan_print(out, plan);
	fclose(out);
	ck_assert_str_eq(text, "  1. [delete] delete StatefulSet cass/cass keeping its pods\n"
			       "       delete: apps/v1 StatefulSet cass/cass (uid sts-uid-1, propagation Orphan)\n");
	free(text);
	keelson_plan_free(plan);

	plan = NULL;
	ck_assert_int_eq(plan_delete_case(2, &plan), 0);
	ck_assert_str_eq(plan->steps[0].propagation, "Background");
	keelson_plan_free(plan);

	static const int refused_cases[] = {1, 3, 4, 5};
	for (size_t i = 0; i < sizeof(refused_cases) / sizeof(refused_cases[0]); i++) {
		int refused = refused_cases[i];
		plan = NULL;
		ck_assert_msg(plan_delete_case(refused, &plan) == KEELSON_ERROR, "case %d was accepted", refused);
		ck_assert_ptr_null(plan);
		ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "malformed step"));
	}
	/* A step laid out for host version 3 without DELETE is still fine. */
	plan = NULL;
	ck_assert_int_eq(plan_delete_case(6, &plan), 0);
	ck_assert_int_eq(plan->steps[0].kind, KEELSON_STEP_WAIT);
	ck_assert_ptr_null(plan->steps[0].propagation);
	keelson_plan_free(plan);
}
END_TEST

/* An older plugin's DELETE (struct_size before `propagation`) is refused
 * rather than read past its end. */
START_TEST(test_delete_step_old_layout)
{
	struct keelson_plan *plan = NULL;
	ck_assert_int_eq(plan_delete_case(4, &plan), KEELSON_ERROR);
	ck_assert_ptr_null(plan);
}
END_TEST

Suite *suite_plugin_plan(void);
Suite *suite_plugin_plan(void)
{
	Suite *s = suite_create("plugin_plan");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"plan_converged", test_converged},
		{"plan_rolls_highest_first", test_rolls_highest_first},
		{"plan_not_ready_first", test_not_ready_first},
		{"plan_waits_while_restarting", test_waits_while_restarting},
		{"plan_last_restart_settles", test_last_restart_settles},
		{"plan_fail_closed", test_fail_closed},
		{"plan_template_change", test_template_change_plans_whole_roll},
		{"plan_requires_on_delete", test_requires_on_delete},
		{"plan_generic", test_generic},
		{"plan_view_apply_order", test_view_apply_order},
		{"plan_refused", test_refused_plans},
		{"plan_built_object", test_built_object},
		{"plan_patch_subresource", test_patch_subresource},
		{"plan_print", test_print},
		{"plan_host_services", test_services},
		{"plan_json_parse", test_json_parse},
		{"plan_delete_step", test_delete_step},
		{"plan_delete_step_old_layout", test_delete_step_old_layout},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_plugin_plan)
