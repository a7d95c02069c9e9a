/*
 * Pull-request review: base -> head object changes (field pointers, head
 * positions, removals and prune, moves, immutable fields), the preview
 * environment, plans under KEELSON_VIEW_PREVIEW (the built-in generic
 * plugin and the example plugin), exit codes and the three outputs.
 */
#include "config.h"

#include "core/error.h"
#include "layout/layout.h"
#include "review/review.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- A repository in memory --------------------------------------------------- */

struct mem_file {
	const char *path, *data;
};

struct mem_source {
	struct keelson_file_source base;
	const struct mem_file *files;
};

static int mem_for_each(const struct keelson_file_source *source, size_t max_file_size, keelson_file_visit_fn visit,
			void *payload)
{
	(void)max_file_size;
	const struct mem_source *m = source->impl;
	for (const struct mem_file *f = m->files; f->path != NULL; f++) {
		struct keelson_file file = {.path = f->path, .data = f->data, .size = strlen(f->data)};
		int rc = visit(&file, payload);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void mem_free(struct keelson_file_source *source)
{
	(void)source;
}

static struct keelson_desired_state *load(const struct mem_file *files)
{
	struct mem_source m = {.base = {.version = KEELSON_FILE_SOURCE_VERSION, .description = "mem",
					.for_each_file = mem_for_each, .free = mem_free},
			       .files = files};
	m.base.impl = &m;
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	int rc = keelson_layout_load(&state, &problems, &m.base, NULL);
	if (rc != 0)
		for (size_t i = 0; problems != NULL && i < problems->count; i++)
			fprintf(stderr, "%s:%u:%u: %s\n", problems->items[i].file, problems->items[i].line,
				problems->items[i].column, problems->items[i].message);
	ck_assert_int_eq(rc, 0);
	keelson_problem_list_free(problems);
	return state;
}

#define REPO_DOC \
	"apiVersion: keelson.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: t\nspec:\n" \
	"  statusBranch: keelson/status\n  policy:\n    prune: true\n    driftPolicy: alert\n" \
	"    pollInterval: 1m\n    driftCheckInterval: 10m\n    alertRepeatInterval: 1h\n"
#define CLUSTER_DOC \
	"apiVersion: keelson.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: sim\nspec:\n  kubeContext: sim\n"
#define SYSTEM_DOC(name, plugin, extra) \
	"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: " name "\nspec:\n  plugin: " plugin "\n" extra
#define NAMESPACE_DOC "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"
#define CM_DOC(name, data) \
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " name "\n  namespace: web\ndata:\n" data
#define STS_DOC(image, strategy, label) \
	"apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\n  namespace: web\nspec:\n" \
	"  replicas: 3\n  serviceName: web\n  updateStrategy:\n    type: " strategy "\n" \
	"  selector:\n    matchLabels:\n      app: " label "\n  template:\n    metadata:\n" \
	"      labels:\n        app: " label "\n    spec:\n      containers:\n        - name: web\n" \
	"          image: " image "\n"

static struct keelson_plugin_registry *registry;

static void setup(void)
{
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	const char *dir = getenv("top_builddir");
	char path[4096];
	snprintf(path, sizeof(path), "%s/plugins/example/.libs/restart-one-at-a-time.so", dir ? dir : ".");
	ck_assert_msg(keelson_plugin_registry_load_file(registry, path) == 0, "%s", keelson_error_last()->message);
	ck_assert_int_eq(keelson_plugin_registry_install_layout(registry), 0);
}

static void teardown(void)
{
	keelson_plugin_registry_free(registry);
}

static struct keelson_review *review_of(const struct keelson_desired_state *base,
					const struct keelson_desired_state *head)
{
	struct keelson_review_options opts;
	keelson_review_options_init(&opts);
	opts.repository = "mem";
	opts.base_rev = "main";
	opts.head_rev = "topic";
	opts.base_sha = "1111111111111111111111111111111111111111";
	opts.head_sha = "2222222222222222222222222222222222222222";
	opts.registry = registry;
	struct keelson_review *r = NULL;
	int rc = keelson_review_build(&r, base, head, &opts);
	ck_assert_msg(rc == 0, "review: %s", keelson_error_last()->message);
	return r;
}

static const struct keelson_review_system *find_system(const struct keelson_review *r, const char *name)
{
	for (size_t i = 0; i < r->system_count; i++)
		if (strcmp(r->systems[i].system, name) == 0)
			return &r->systems[i];
	ck_abort_msg("no system %s in the review", name);
	return NULL;
}

static const struct keelson_review_object *find_object(const struct keelson_review_system *s, const char *kind,
						       const char *name)
{
	for (size_t i = 0; i < s->object_count; i++)
		if (strcmp(s->objects[i].kind, kind) == 0 && strcmp(s->objects[i].name, name) == 0)
			return &s->objects[i];
	return NULL;
}

/* --- as applied ------------------------------------------------------------------ */

START_TEST(test_as_applied_fields)
{
	cJSON *body = cJSON_Parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"w\"},"
				  "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"x\"}]}},"
				  "\"selector\":{\"matchLabels\":{\"app\":\"w\"}}}}");
	cJSON *applied = keelson_review_as_applied(body, "apps", "StatefulSet");
	ck_assert_ptr_nonnull(applied);
	const cJSON *mf = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(applied, "metadata"),
								 "managedFields"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(mf, "manager")), "keelson");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(mf, "operation")), "Apply");
	const cJSON *containers = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(mf, "fieldsV1"), "f:spec"), "f:template"), "f:spec"),
		"f:containers"), "k:{\"name\":\"web\"}");
	ck_assert_ptr_nonnull(containers);
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(containers, "."));
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(containers, "f:image"));
	/* The body itself is left alone. */
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "metadata"), "managedFields"));
	cJSON_Delete(applied);
	cJSON_Delete(body);
}
END_TEST

/* --- Object changes ---------------------------------------------------------------- */

static const struct mem_file base_files[] = {
	{"keelson.yaml", REPO_DOC},
	{"clusters/sim/cluster.yaml", CLUSTER_DOC},
	{"clusters/sim/config/system.yaml", SYSTEM_DOC("config", "generic", "")},
	{"clusters/sim/config/namespace.yaml", NAMESPACE_DOC},
	{"clusters/sim/config/settings.yaml", CM_DOC("settings", "  a: \"1\"\n  b: \"2\"\n")},
	{"clusters/sim/config/old.yaml", CM_DOC("old", "  x: \"1\"\n")},
	{"clusters/sim/config/wander.yaml", CM_DOC("wander", "  w: \"1\"\n")},
	{"clusters/sim/keep/system.yaml", SYSTEM_DOC("keep", "generic", "  policy:\n    prune: false\n")},
	{"clusters/sim/keep/held.yaml", CM_DOC("held", "  h: \"1\"\n")},
	{"clusters/sim/gone/system.yaml", SYSTEM_DOC("gone", "generic", "")},
	{"clusters/sim/gone/orphan.yaml", CM_DOC("orphan", "  o: \"1\"\n")},
	{NULL, NULL},
};

static const struct mem_file head_files[] = {
	{"keelson.yaml", REPO_DOC},
	{"clusters/sim/cluster.yaml", CLUSTER_DOC},
	{"clusters/sim/config/system.yaml", SYSTEM_DOC("config", "generic", "")},
	{"clusters/sim/config/namespace.yaml", NAMESPACE_DOC},
	{"clusters/sim/config/new.yaml", CM_DOC("new", "  n: \"1\"\n")},
	{"clusters/sim/config/settings.yaml", CM_DOC("settings", "  a: \"10\"\n")},
	{"clusters/sim/keep/system.yaml", SYSTEM_DOC("keep", "generic", "  policy:\n    prune: false\n")},
	{"clusters/sim/keep/wander.yaml", CM_DOC("wander", "  w: \"1\"\n")},
	{NULL, NULL},
};

START_TEST(test_object_changes)
{
	struct keelson_desired_state *base = load(base_files), *head = load(head_files);
	struct keelson_review *r = review_of(base, head);
	ck_assert_uint_eq(r->system_count, 3);

	const struct keelson_review_system *config = find_system(r, "config");
	ck_assert_int_eq(config->change, KEELSON_REVIEW_MODIFIED);
	ck_assert_uint_eq(config->unchanged_objects, 1); /* the namespace */

	const struct keelson_review_object *settings = find_object(config, "ConfigMap", "settings");
	ck_assert_ptr_nonnull(settings);
	ck_assert_int_eq(settings->change, KEELSON_REVIEW_MODIFIED);
	ck_assert_uint_eq(settings->diff->field_count, 2);
	const struct keelson_diff_field *a = NULL, *b = NULL;
	for (size_t i = 0; i < settings->diff->field_count; i++) {
		if (strcmp(settings->diff->fields[i].pointer, "/data/a") == 0)
			a = &settings->diff->fields[i];
		if (strcmp(settings->diff->fields[i].pointer, "/data/b") == 0)
			b = &settings->diff->fields[i];
	}
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->change, KEELSON_DIFF_CHANGED);
	ck_assert_str_eq(a->live->valuestring, "1");
	ck_assert_str_eq(a->desired->valuestring, "10");
	ck_assert_str_eq(a->file, "clusters/sim/config/settings.yaml");
	ck_assert_uint_eq(a->line, 7);
	/* Dropped from the repository: the next apply removes it. */
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->change, KEELSON_DIFF_REMOVED);

	const struct keelson_review_object *added = find_object(config, "ConfigMap", "new");
	ck_assert_ptr_nonnull(added);
	ck_assert_int_eq(added->change, KEELSON_REVIEW_ADDED);
	ck_assert_str_eq(added->file, "clusters/sim/config/new.yaml");

	const struct keelson_review_object *old = find_object(config, "ConfigMap", "old");
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(old->change, KEELSON_REVIEW_REMOVED);
	ck_assert_int_eq(old->prune, KEELSON_REVIEW_PRUNE_DELETE);
	/* Moved away: listed where it went, not as a removal here. */
	ck_assert_ptr_null(find_object(config, "ConfigMap", "wander"));

	const struct keelson_review_system *keep = find_system(r, "keep");
	const struct keelson_review_object *held = find_object(keep, "ConfigMap", "held");
	ck_assert_ptr_nonnull(held);
	ck_assert_int_eq(held->prune, KEELSON_REVIEW_PRUNE_HELD);
	const struct keelson_review_object *wander = find_object(keep, "ConfigMap", "wander");
	ck_assert_ptr_nonnull(wander);
	ck_assert_int_eq(wander->change, KEELSON_REVIEW_MOVED);
	ck_assert_str_eq(wander->moved_system, "config");

	const struct keelson_review_system *gone = find_system(r, "gone");
	ck_assert_int_eq(gone->change, KEELSON_REVIEW_REMOVED);
	ck_assert_int_eq(gone->plan_status, KEELSON_REVIEW_PLAN_NONE);
	ck_assert_int_eq(find_object(gone, "ConfigMap", "orphan")->prune, KEELSON_REVIEW_PRUNE_UNMANAGED);

	/* The generic plugin applies what is new or changed, nothing else. */
	ck_assert_int_eq(config->plan_status, KEELSON_REVIEW_PLAN_OK);
	ck_assert_uint_eq(config->plan->count, 2);
	ck_assert_ptr_nonnull(strstr(config->plan->steps[0].description, "ConfigMap web/new (missing)"));
	ck_assert_ptr_nonnull(strstr(config->plan->steps[1].description, "ConfigMap web/settings (drifted)"));
	ck_assert_int_eq(keelson_review_exit_code(r), KEELSON_REVIEW_EXIT_CHANGES);

	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_no_change)
{
	struct keelson_desired_state *base = load(base_files), *head = load(base_files);
	struct keelson_review *r = review_of(base, head);
	ck_assert_uint_eq(r->changed, 0);
	ck_assert_uint_eq(r->steps, 0);
	ck_assert_int_eq(keelson_review_exit_code(r), KEELSON_REVIEW_EXIT_NOTHING);
	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_filters)
{
	struct keelson_desired_state *base = load(base_files), *head = load(head_files);
	struct keelson_review_options opts;
	keelson_review_options_init(&opts);
	opts.registry = registry;
	opts.system = "keep";
	struct keelson_review *r = NULL;
	ck_assert_int_eq(keelson_review_build(&r, base, head, &opts), 0);
	ck_assert_uint_eq(r->system_count, 1);
	ck_assert_str_eq(r->systems[0].system, "keep");
	keelson_review_free(r);
	opts.system = NULL;
	opts.cluster = "elsewhere";
	ck_assert_int_eq(keelson_review_build(&r, base, head, &opts), KEELSON_ENOTFOUND);
	ck_assert_ptr_null(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_ignored_differences)
{
	static const struct mem_file before[] = {
		{"keelson.yaml", REPO_DOC},
		{"clusters/sim/cluster.yaml", CLUSTER_DOC},
		{"clusters/sim/config/system.yaml", SYSTEM_DOC("config", "generic", "  ignoreDifferences:\n    - kind: ConfigMap\n      jsonPointers: [/data/a]\n")},
		{"clusters/sim/config/namespace.yaml", NAMESPACE_DOC},
		{"clusters/sim/config/settings.yaml", CM_DOC("settings", "  a: \"1\"\n")},
		{"clusters/sim/config/other.yaml", CM_DOC("other", "  a: \"1\"\n  b: \"1\"\n")},
		{NULL, NULL},
	};
	static const struct mem_file after[] = {
		{"keelson.yaml", REPO_DOC},
		{"clusters/sim/cluster.yaml", CLUSTER_DOC},
		{"clusters/sim/config/system.yaml", SYSTEM_DOC("config", "generic", "  ignoreDifferences:\n    - kind: ConfigMap\n      jsonPointers: [/data/a]\n")},
		{"clusters/sim/config/namespace.yaml", NAMESPACE_DOC},
		{"clusters/sim/config/settings.yaml", CM_DOC("settings", "  a: \"2\"\n")},
		{"clusters/sim/config/other.yaml", CM_DOC("other", "  a: \"2\"\n  b: \"2\"\n")},
		{NULL, NULL},
	};
	struct keelson_desired_state *base = load(before), *head = load(after);
	struct keelson_review *r = review_of(base, head);
	const struct keelson_review_system *s = find_system(r, "config");
	/* settings differs only in an ignored field: not a change keelson makes. */
	ck_assert_uint_eq(s->ignored_only, 1);
	ck_assert_ptr_null(find_object(s, "ConfigMap", "settings"));
	const struct keelson_review_object *other = find_object(s, "ConfigMap", "other");
	ck_assert_ptr_nonnull(other);
	ck_assert_uint_eq(other->diff->field_count, 1);
	ck_assert_str_eq(other->diff->fields[0].pointer, "/data/b");
	ck_assert_uint_eq(other->diff->ignored_count, 1);
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	ck_assert_int_eq(keelson_review_render(f, r, KEELSON_REVIEW_TEXT), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "modified ConfigMap web/other (clusters/sim/config/other.yaml:1) "
					   "(1 more difference ignored by spec.ignoreDifferences)"));
	ck_assert_ptr_nonnull(strstr(text, "1 object differs only in fields spec.ignoreDifferences covers"));
	free(text);
	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

/* --- The preview environment ------------------------------------------------------ */

START_TEST(test_preview_env)
{
	struct keelson_desired_state *base = load(base_files);
	struct keelson_review_index *index = NULL;
	ck_assert_int_eq(keelson_review_index_new(&index, keelson_desired_state_cluster(base, "sim")), 0);
	struct keelson_review_preview_env env;
	keelson_review_preview_env(&env, index);
	cJSON *out = NULL;
	ck_assert_int_eq(env.env.live_get(&out, env.env.payload, "v1", "ConfigMap", "web", "settings"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "data"), "a")), "1");
	cJSON_Delete(out);
	out = NULL;
	ck_assert_int_eq(env.env.live_get(&out, env.env.payload, "v1", "Pod", "web", "web-0"), KEELSON_ENOTFOUND);
	ck_assert_int_eq(env.env.live_list(&out, env.env.payload, "v1", "Pod", "web", "app=web"), 0);
	ck_assert_int_eq(cJSON_GetArraySize(out), 0);
	cJSON_Delete(out);
	long status = -1;
	char *body = NULL;
	size_t len = 0;
	/* No probe ever succeeds in a preview: a gate cannot pass by accident. */
	ck_assert_int_lt(env.env.http(&status, &body, &len, env.env.payload, KEELSON_PROXY_POD, "web", "web-0", "9404",
				      "GET", "/metrics", NULL, 1000), 0);
	ck_assert_ptr_null(body);
	/* Another API version of the same object is the same object. */
	ck_assert_ptr_nonnull(keelson_review_index_find(index, "", "ConfigMap", "web", "old"));
	ck_assert_ptr_null(keelson_review_index_find(index, "apps", "ConfigMap", "web", "old"));
	ck_assert_ptr_null(keelson_review_index_find(index, "", "ConfigMap", "other", "old"));
	keelson_review_index_free(index);
	keelson_desired_state_free(base);
}
END_TEST

/* --- The example plugin under KEELSON_VIEW_PREVIEW ----------------------------------- */

#define STS_SYSTEM SYSTEM_DOC("web", "restart-one-at-a-time", "  parameters:\n    statefulSet: web\n    gracePeriodSeconds: 5\n")

static const struct mem_file sts_base[] = {
	{"keelson.yaml", REPO_DOC},
	{"clusters/sim/cluster.yaml", CLUSTER_DOC},
	{"clusters/sim/web/system.yaml", STS_SYSTEM},
	{"clusters/sim/web/namespace.yaml", NAMESPACE_DOC},
	{"clusters/sim/web/statefulset.yaml", STS_DOC("nginx:1.27", "OnDelete", "web")},
	{NULL, NULL},
};

static const struct mem_file sts_bump[] = {
	{"keelson.yaml", REPO_DOC},
	{"clusters/sim/cluster.yaml", CLUSTER_DOC},
	{"clusters/sim/web/system.yaml", STS_SYSTEM},
	{"clusters/sim/web/namespace.yaml", NAMESPACE_DOC},
	{"clusters/sim/web/statefulset.yaml", STS_DOC("nginx:1.28", "OnDelete", "web")},
	{NULL, NULL},
};

static const struct mem_file sts_refused[] = {
	{"keelson.yaml", REPO_DOC},
	{"clusters/sim/cluster.yaml", CLUSTER_DOC},
	{"clusters/sim/web/system.yaml", STS_SYSTEM},
	{"clusters/sim/web/namespace.yaml", NAMESPACE_DOC},
	{"clusters/sim/web/statefulset.yaml", STS_DOC("nginx:1.28", "RollingUpdate", "web")},
	{NULL, NULL},
};

static const struct mem_file sts_selector[] = {
	{"keelson.yaml", REPO_DOC},
	{"clusters/sim/cluster.yaml", CLUSTER_DOC},
	{"clusters/sim/web/system.yaml", STS_SYSTEM},
	{"clusters/sim/web/namespace.yaml", NAMESPACE_DOC},
	{"clusters/sim/web/statefulset.yaml", STS_DOC("nginx:1.27", "OnDelete", "other")},
	{NULL, NULL},
};

START_TEST(test_image_bump_plan)
{
	struct keelson_desired_state *base = load(sts_base), *head = load(sts_bump);
	struct keelson_review *r = review_of(base, head);
	const struct keelson_review_system *s = find_system(r, "web");
	ck_assert_uint_eq(s->changed, 1);
	const struct keelson_diff_field *f = &s->objects[0].diff->fields[0];
	ck_assert_str_eq(f->pointer, "/spec/template/spec/containers/0/image");
	ck_assert_uint_eq(f->line, 21);
	ck_assert_int_eq(s->plan_status, KEELSON_REVIEW_PLAN_OK);
	/* apply, then web-2, web-1, web-0 one at a time, each gated, then settle. */
	const struct keelson_plan *p = s->plan;
	ck_assert_uint_eq(p->count, 7);
	ck_assert_int_eq(p->steps[0].kind, KEELSON_STEP_APPLY);
	const char *order[] = {"web-2", "web-1", "web-0"};
	size_t deletes = 0;
	for (size_t i = 1; i < p->count; i++) {
		if (p->steps[i].kind != KEELSON_STEP_DELETE_POD)
			continue;
		ck_assert_str_eq(p->steps[i].name, order[deletes]);
		ck_assert_ptr_nonnull(p->steps[i].gate);
		ck_assert_ptr_nonnull(strstr(p->steps[i].gate, "all 3 pods of web Ready"));
		ck_assert_int_eq(p->steps[i].grace_seconds, 5);
		if (deletes > 0)
			ck_assert_int_eq(p->steps[i - 1].kind, KEELSON_STEP_WAIT);
		deletes++;
	}
	ck_assert_uint_eq(deletes, 3);
	ck_assert_int_eq(p->steps[p->count - 1].kind, KEELSON_STEP_WAIT);
	ck_assert_uint_eq(r->refused, 0);
	ck_assert_int_eq(keelson_review_exit_code(r), KEELSON_REVIEW_EXIT_CHANGES);
	keelson_review_free(r);

	/* The same revision twice: nothing restarts. */
	r = review_of(head, head);
	ck_assert_uint_eq(find_system(r, "web")->steps, 0);
	ck_assert_int_eq(keelson_review_exit_code(r), KEELSON_REVIEW_EXIT_NOTHING);
	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_plugin_refuses)
{
	struct keelson_desired_state *base = load(sts_base), *head = load(sts_refused);
	struct keelson_review *r = review_of(base, head);
	const struct keelson_review_system *s = find_system(r, "web");
	ck_assert_uint_eq(s->plan->count, 1);
	ck_assert_int_eq(s->plan->steps[0].kind, KEELSON_STEP_BLOCKED);
	ck_assert_ptr_nonnull(strstr(s->plan->steps[0].reason, "OnDelete"));
	ck_assert_uint_eq(r->refused, 1);
	ck_assert_int_eq(keelson_review_exit_code(r), KEELSON_REVIEW_EXIT_REFUSED);
	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_immutable_refused)
{
	struct keelson_desired_state *base = load(sts_base), *head = load(sts_selector);
	struct keelson_review *r = review_of(base, head);
	const struct keelson_review_object *o = find_object(find_system(r, "web"), "StatefulSet", "web");
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(o->refused);
	ck_assert_ptr_nonnull(strstr(o->refused, "/spec/selector"));
	ck_assert_int_eq(keelson_review_exit_code(r), KEELSON_REVIEW_EXIT_REFUSED);
	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

/* --- Outputs --------------------------------------------------------------------------- */

static char *render(const struct keelson_review *r, enum keelson_review_format format)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	ck_assert_int_eq(keelson_review_render(f, r, format), 0);
	fclose(f);
	return text;
}

START_TEST(test_outputs)
{
	struct keelson_desired_state *base = load(sts_base), *head = load(sts_bump);
	struct keelson_review *r = review_of(base, head);

	char *md = render(r, KEELSON_REVIEW_MARKDOWN);
	ck_assert_ptr_nonnull(strstr(md, "| cluster | system | plugin | change | objects changed | steps | refused |"));
	ck_assert_ptr_nonnull(strstr(md, "| sim | web | restart-one-at-a-time | modified | 1 | 7 | 0 |"));
	ck_assert_ptr_nonnull(strstr(md, "`/spec/template/spec/containers/0/image`"));
	ck_assert_ptr_nonnull(strstr(md, "`clusters/sim/web/statefulset.yaml:21:18`"));
	ck_assert_ptr_nonnull(strstr(md, "2. **delete-pod** delete pod web/web-2"));
	ck_assert_ptr_nonnull(strstr(md, "```diff\n"));
	free(md);

	char *text = render(r, KEELSON_REVIEW_TEXT);
	ck_assert_ptr_nonnull(strstr(text, "clusters/sim/web/statefulset.yaml:21:18: /spec/template/spec/containers/0/image: "
					   "\"nginx:1.27\" -> \"nginx:1.28\""));
	ck_assert_ptr_nonnull(strstr(text, "--- base/apps.v1.StatefulSet.web.web"));
	ck_assert_ptr_nonnull(strstr(text, "+++ head/apps.v1.StatefulSet.web.web"));
	free(text);

	cJSON *j = keelson_review_to_json(r);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "exitCode")->valueint, 1);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "result")), "changes");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "mode")), "preview");
	const cJSON *sys = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "systems"), 0);
	const cJSON *steps = cJSON_GetObjectItem(cJSON_GetObjectItem(sys, "plan"), "steps");
	ck_assert_int_eq(cJSON_GetArraySize(steps), 7);
	const cJSON *step2 = cJSON_GetArrayItem(steps, 1);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(step2, "kind")), "delete-pod");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(step2, "target"), "name")), "web-2");
	const cJSON *field = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(sys, "objects"), 0),
								  "fields"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(field, "before")), "nginx:1.27");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(field, "after")), "nginx:1.28");
	cJSON_Delete(j);

	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_long_diff_folds)
{
	/* An added StatefulSet is a diff of more than 15 lines: folded. */
	struct keelson_desired_state *base = load(base_files), *head = load(sts_bump);
	struct keelson_review *r = review_of(base, head);
	char *md = render(r, KEELSON_REVIEW_MARKDOWN);
	ck_assert_ptr_nonnull(strstr(md, "<details><summary>diff of StatefulSet web/web ("));
	ck_assert_ptr_nonnull(strstr(md, "</details>"));
	free(md);
	keelson_review_free(r);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
}
END_TEST

START_TEST(test_markdown_escapes)
{
	struct keelson_problem_list *problems = keelson_problem_list_new();
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	ck_assert_int_eq(keelson_review_render_error(f, KEELSON_REVIEW_MARKDOWN, "r", "main", NULL, "x`y", NULL, "<b>|*bad*", problems), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "&lt;b&gt;\\|\\*bad\\*"));
	ck_assert_ptr_nonnull(strstr(text, "``x`y``"));
	free(text);
	keelson_problem_list_free(problems);
	ck_assert_int_eq(keelson_review_format_parse("md"), KEELSON_REVIEW_MARKDOWN);
	ck_assert_int_eq(keelson_review_format_parse("yaml"), -1);
}
END_TEST

static Suite *suite_review(void)
{
	Suite *s = suite_create("review");
	TCase *t = tcase_create("as_applied");
	tcase_add_test(t, test_as_applied_fields);
	suite_add_tcase(s, t);
	t = tcase_create("build");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_object_changes);
	tcase_add_test(t, test_no_change);
	tcase_add_test(t, test_filters);
	tcase_add_test(t, test_ignored_differences);
	tcase_add_test(t, test_preview_env);
	suite_add_tcase(s, t);
	t = tcase_create("plans");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_image_bump_plan);
	tcase_add_test(t, test_plugin_refuses);
	tcase_add_test(t, test_immutable_refused);
	suite_add_tcase(s, t);
	t = tcase_create("render");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_outputs);
	tcase_add_test(t, test_long_diff_folds);
	tcase_add_test(t, test_markdown_escapes);
	suite_add_tcase(s, t);
	return s;
}

KEELSON_CHECK_MAIN(suite_review)
