/*
 * Plugin host: loading, refusals with their messages, duplicate names,
 * directories, --describe output, parameter parsing (defaults, types,
 * unknown keys with file:line:column) and the layout loader hook.
 */
#include "config.h"

#include "core/error.h"
#include "layout/dir_source.h"
#include "layout/layout.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"
#include "yaml/yaml_load.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[4096];

static struct keelson_plugin_registry *registry(void)
{
	struct keelson_plugin_registry *r = NULL;
	ck_assert_int_eq(keelson_plugin_registry_new(&r), 0);
	return r;
}

static void assert_message_has(const char *needle)
{
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, needle) != NULL, "message \"%s\" lacks \"%s\"", m, needle);
}

START_TEST(test_load_example)
{
	struct keelson_plugin_registry *r = registry();
	ck_assert_uint_eq(keelson_plugin_registry_count(r), 1);
	ck_assert_ptr_nonnull(keelson_plugin_registry_find(r, "generic"));
	test_plugin_path(path, sizeof(path), "example", "restart-one-at-a-time");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), 0);
	ck_assert_uint_eq(keelson_plugin_registry_count(r), 2);
	const struct keelson_plugin *p = keelson_plugin_registry_find(r, "restart-one-at-a-time");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->abi_version, KEELSON_PLUGIN_ABI_VERSION);
	ck_assert_str_eq(p->params[0].name, "statefulSet");
	const char *loaded_from = NULL;
	ck_assert_ptr_eq(keelson_plugin_registry_at(r, 1, &loaded_from), p);
	ck_assert_str_eq(loaded_from, path);
	ck_assert_ptr_null(keelson_plugin_registry_find(r, "kafka"));
	keelson_plugin_registry_free(r);
}
END_TEST

START_TEST(test_refusals)
{
	struct keelson_plugin_registry *r = registry();
	test_plugin_path(path, sizeof(path), "testing", "wrong_abi");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), KEELSON_EINVALID);
	assert_message_has("not binary compatible");
	assert_message_has("built for plugin ABI 42, this keelson has ABI 1");
	assert_message_has("wrong_abi.so");

	test_plugin_path(path, sizeof(path), "testing", "short_struct");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), KEELSON_EINVALID);
	assert_message_has("its descriptor is 16 bytes");
	assert_message_has("rebuild the plugin");

	test_plugin_path(path, sizeof(path), "testing", "no_entry");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), KEELSON_EINVALID);
	assert_message_has("is not a keelson plugin: it does not export keelson_plugin_entry()");

	ck_assert_int_eq(keelson_plugin_registry_load_file(r, "/nonexistent/x.so"), KEELSON_EINVALID);
	assert_message_has("cannot load plugin /nonexistent/x.so");

	/* Nothing refused was kept. */
	ck_assert_uint_eq(keelson_plugin_registry_count(r), 1);
	ck_assert_ptr_null(keelson_plugin_registry_find(r, "wrong-abi"));
	ck_assert_ptr_null(keelson_plugin_registry_find(r, "short-struct"));
	keelson_plugin_registry_free(r);
}
END_TEST

START_TEST(test_duplicate_name)
{
	struct keelson_plugin_registry *r = registry();
	char a[4096], b[4096];
	test_plugin_path(a, sizeof(a), "testing", "twin_a");
	test_plugin_path(b, sizeof(b), "testing", "twin_b");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, a), 0);
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, b), KEELSON_EINVALID);
	assert_message_has("a plugin named \"twin\" is already loaded from");
	assert_message_has("twin_a.so");
	assert_message_has("twin_b.so");
	ck_assert_uint_eq(keelson_plugin_registry_count(r), 2);
	/* The first one stays. */
	ck_assert_str_eq(keelson_plugin_registry_find(r, "twin")->version, "a");
	keelson_plugin_registry_free(r);
}
END_TEST

static void link_into(const char *dir, const char *subdir, const char *name, const char *as)
{
	char target[4096], link_path[4096];
	test_plugin_path(target, sizeof(target), subdir, name);
	char *abs = realpath(target, NULL);
	ck_assert_ptr_nonnull(abs);
	snprintf(link_path, sizeof(link_path), "%s/%s", dir, as);
	ck_assert_int_eq(symlink(abs, link_path), 0);
	free(abs);
}

static void remove_dir(const char *dir, const char *const *names)
{
	char p[4096];
	for (size_t i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

START_TEST(test_load_dir)
{
	char dir[] = "/tmp/keelson-plugin-dir-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	link_into(dir, "example", "restart-one-at-a-time", "b-restart.so");
	link_into(dir, "testing", "twin_a", "a-twin.so");
	static const char *const names[] = {"a-twin.so", "b-restart.so", "c-dup.so", "README", NULL};
	char readme[4096];
	snprintf(readme, sizeof(readme), "%s/README", dir);
	FILE *f = fopen(readme, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a plugin, not *.so: ignored\n", f);
	fclose(f);

	struct keelson_plugin_registry *r = registry();
	ck_assert_int_eq(keelson_plugin_registry_load_dir(r, dir), 0);
	ck_assert_uint_eq(keelson_plugin_registry_count(r), 3);
	/* Name order: a-twin before b-restart. */
	ck_assert_str_eq(keelson_plugin_registry_at(r, 1, NULL)->name, "twin");
	ck_assert_str_eq(keelson_plugin_registry_at(r, 2, NULL)->name, "restart-one-at-a-time");
	keelson_plugin_registry_free(r);

	/* A duplicate in the directory stops the load. */
	link_into(dir, "testing", "twin_b", "c-dup.so");
	r = registry();
	ck_assert_int_eq(keelson_plugin_registry_load_dir(r, dir), KEELSON_EINVALID);
	assert_message_has("c-dup.so: a plugin named \"twin\" is already loaded");
	keelson_plugin_registry_free(r);
	remove_dir(dir, names);

	r = registry();
	ck_assert_int_eq(keelson_plugin_registry_load_dir(r, "/nonexistent-plugin-dir"), KEELSON_ENOTFOUND);
	assert_message_has("/nonexistent-plugin-dir");
	keelson_plugin_registry_free(r);
}
END_TEST

START_TEST(test_describe)
{
	struct keelson_plugin_registry *r = registry();
	test_plugin_path(path, sizeof(path), "example", "restart-one-at-a-time");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	keelson_plugin_describe(out, keelson_plugin_registry_find(r, "restart-one-at-a-time"), path);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "Plugin: restart-one-at-a-time 1.0\n"));
	ck_assert_ptr_nonnull(strstr(text, "  statefulSet (string, required)\n"));
	ck_assert_ptr_nonnull(strstr(text, "  readyTimeout (duration, default 5m)\n"));
	ck_assert_ptr_nonnull(strstr(text, "  gracePeriodSeconds (integer 0..3600, default 30)\n"));
	ck_assert_ptr_nonnull(strstr(text, "grace period of each pod deletion"));
	free(text);
	keelson_plugin_registry_free(r);
}
END_TEST

static struct keelson_plugin_registry *with_misbehaving(void)
{
	struct keelson_plugin_registry *r = registry();
	test_plugin_path(path, sizeof(path), "testing", "misbehaving");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), 0);
	return r;
}

START_TEST(test_params_parse)
{
	struct keelson_plugin_registry *r = with_misbehaving();
	const struct keelson_plugin *p = keelson_plugin_registry_find(r, "misbehaving");
	static const char doc[] =
		"spec:\n"
		"  parameters:\n"
		"    mode: ok\n"
		"    names: [a, b]\n";
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, doc, strlen(doc), "system.yaml", NULL), 0);
	const cJSON *params_node = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(keelson_yaml_document(stream, 0), "spec"), "parameters");
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *params = NULL;
	ck_assert_int_eq(keelson_plugin_params_parse(&params, problems, p, params_node, stream, "system.yaml"), 0);
	ck_assert_uint_eq(problems->count, 0);
	ck_assert_uint_eq(params->count, 4);
	ck_assert_str_eq(params->values[0].name, "mode");
	ck_assert_str_eq(params->values[0].string, "ok");
	ck_assert_int_eq(params->values[1].integer, 2); /* default */
	ck_assert_int_eq(params->values[1].is_set, 1);
	ck_assert_uint_eq(params->values[2].list_count, 2);
	ck_assert_str_eq(params->values[2].list[1], "b");
	ck_assert_int_eq(params->values[3].integer, 1); /* default true */
	keelson_plugin_params_free(params);
	keelson_problem_list_free(problems);
	keelson_yaml_stream_free(stream);
	keelson_plugin_registry_free(r);
}
END_TEST

START_TEST(test_params_problems)
{
	struct keelson_plugin_registry *r = with_misbehaving();
	const struct keelson_plugin *p = keelson_plugin_registry_find(r, "misbehaving");
	static const char doc[] =
		"spec:\n"
		"  parameters:\n"
		"    mode: sideways\n"
		"    count: 11\n"
		"    colour: red\n";
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, doc, strlen(doc), "sys.yaml", NULL), 0);
	const cJSON *params_node = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(keelson_yaml_document(stream, 0), "spec"), "parameters");
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *params = NULL;
	ck_assert_int_eq(keelson_plugin_params_parse(&params, problems, p, params_node, stream, "sys.yaml"),
			 KEELSON_EINVALID);
	ck_assert_ptr_null(params);
	ck_assert_uint_eq(problems->count, 3);
	keelson_problem_list_sort(problems);
	/* mode at 3:11, count at 4:12, the unknown key at its key 5:5 */
	ck_assert_uint_eq(problems->items[0].line, 3);
	ck_assert_uint_eq(problems->items[0].column, 11);
	ck_assert_ptr_nonnull(strstr(problems->items[0].message, "sideways"));
	ck_assert_uint_eq(problems->items[1].line, 4);
	ck_assert_ptr_nonnull(strstr(problems->items[1].message, "from 1 to 10"));
	ck_assert_int_eq(problems->items[2].code, KEELSON_PROBLEM_UNKNOWN_KEY);
	ck_assert_str_eq(problems->items[2].file, "sys.yaml");
	ck_assert_uint_eq(problems->items[2].line, 5);
	ck_assert_uint_eq(problems->items[2].column, 5);
	ck_assert_ptr_nonnull(strstr(problems->items[2].message, "colour"));
	keelson_problem_list_free(problems);
	keelson_yaml_stream_free(stream);
	keelson_plugin_registry_free(r);
}
END_TEST

/* A copy of tests/plugin/repo with system.yaml replaced. */
static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static int load_repo(struct keelson_problem_list **problems, const char *system_yaml)
{
	char dir[] = "/tmp/keelson-plugin-repo-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "cp -R '%s/tests/plugin/repo/.' '%s/' && chmod -R u+w '%s'", test_srcdir(), dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	char p[4096];
	snprintf(p, sizeof(p), "%s/clusters/sim/web/system.yaml", dir);
	write_file(p, system_yaml);
	struct keelson_file_source *source = NULL;
	ck_assert_int_eq(keelson_dir_source_open(&source, dir), 0);
	struct keelson_desired_state *state = NULL;
	int rc = keelson_layout_load(&state, problems, source, NULL);
	keelson_desired_state_free(state);
	source->free(source);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	return rc;
}

START_TEST(test_layout_hook)
{
	struct keelson_plugin_registry *r = registry();
	test_plugin_path(path, sizeof(path), "example", "restart-one-at-a-time");
	ck_assert_int_eq(keelson_plugin_registry_load_file(r, path), 0);
	ck_assert_int_eq(keelson_plugin_registry_install_layout(r), 0);

	static const char good[] =
		"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: web\nspec:\n"
		"  plugin: restart-one-at-a-time\n  parameters:\n    statefulSet: web\n";
	struct keelson_problem_list *problems = NULL;
	ck_assert_int_eq(load_repo(&problems, good), 0);
	keelson_problem_list_free(problems);

	static const char unknown_key[] =
		"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: web\nspec:\n"
		"  plugin: restart-one-at-a-time\n  parameters:\n    statefulSet: web\n    readyTimout: 5m\n";
	ck_assert_int_eq(load_repo(&problems, unknown_key), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_UNKNOWN_KEY);
	ck_assert_str_eq(problems->items[0].file, "clusters/sim/web/system.yaml");
	ck_assert_uint_eq(problems->items[0].line, 9);
	ck_assert_uint_eq(problems->items[0].column, 5);
	ck_assert_ptr_nonnull(strstr(problems->items[0].message, "readyTimout"));
	keelson_problem_list_free(problems);

	/* Required parameter missing; a reference to an object that is not there. */
	static const char bad_ref[] =
		"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: web\nspec:\n"
		"  plugin: restart-one-at-a-time\n  parameters:\n    statefulSet: webb\n";
	ck_assert_int_eq(load_repo(&problems, bad_ref), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_UNKNOWN_REFERENCE);
	keelson_problem_list_free(problems);

	/* Plugins of the built-in provisional table are unknown now. */
	static const char kafka[] =
		"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: web\nspec:\n"
		"  plugin: kafka\n  parameters:\n    statefulSets: [web]\n    metricsPort: 9404\n";
	ck_assert_int_eq(load_repo(&problems, kafka), KEELSON_EINVALID);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_UNKNOWN_PLUGIN);
	ck_assert_ptr_nonnull(strstr(problems->items[0].message, "restart-one-at-a-time"));
	keelson_problem_list_free(problems);

	/* Uninstalled: the built-in table again. */
	keelson_plugin_registry_uninstall_layout(r);
	ck_assert_int_eq(load_repo(&problems, kafka), 0);
	keelson_problem_list_free(problems);
	keelson_plugin_registry_free(r);
}
END_TEST

START_TEST(test_selector)
{
	cJSON *labels = cJSON_Parse("{\"app\":\"web\",\"tier\":\"db\"}");
	ck_assert_int_eq(keelson_label_selector_match("app=web", labels), 1);
	ck_assert_int_eq(keelson_label_selector_match("app=web,tier==db", labels), 1);
	ck_assert_int_eq(keelson_label_selector_match("app=web,tier!=db", labels), 0);
	ck_assert_int_eq(keelson_label_selector_match("app", labels), 1);
	ck_assert_int_eq(keelson_label_selector_match("!app", labels), 0);
	ck_assert_int_eq(keelson_label_selector_match("zone", labels), 0);
	ck_assert_int_eq(keelson_label_selector_match("", labels), 1);
	ck_assert_int_eq(keelson_label_selector_match("app in (web)", labels), KEELSON_EINVALID);
	cJSON_Delete(labels);
}
END_TEST

Suite *suite_plugin_host(void);
Suite *suite_plugin_host(void)
{
	Suite *s = suite_create("plugin_host");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"registry_load_file", test_load_example},
		{"registry_refusals", test_refusals},
		{"registry_duplicate_name", test_duplicate_name},
		{"registry_load_dir", test_load_dir},
		{"plugin_describe", test_describe},
		{"params_parse", test_params_parse},
		{"params_problems", test_params_problems},
		{"registry_install_layout", test_layout_hook},
		{"label_selector_match", test_selector},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_plugin_host)
