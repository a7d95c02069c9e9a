/*
 * `keelson validate` without any plugin directory falls back to the
 * provisional parameter tables of reconciler/layout/schema_table.c (and
 * repo-layout/schema/system.schema.json mirrors them). They must say what
 * the real kafka, cassandra and spark plugins declare, or a repository
 * valid for the daemon is refused by validate (or the reverse). This test
 * loads each plugin and compares the two tables field by field.
 */
#include "config.h"

#include "core/error.h"
#include "layout/schema_table.h"
#include "plugin/param_fields.h"
#include "plugin/plugin_host.h"
#include "tests/plugin/plugin_paths.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <string.h>

static const struct keelson_field *provisional_field(const struct keelson_plugin_info *info, const char *name)
{
	for (const struct keelson_field *f = info->parameters; f != NULL && f->type != KEELSON_FIELD_END; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static bool same_enum(const char *const *a, const char *const *b)
{
	size_t i = 0;
	for (; a != NULL && b != NULL && a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return (a == NULL || a[i] == NULL) && (b == NULL || b[i] == NULL);
}

static void compare_plugin(const char *name)
{
	size_t count;
	keelson_layout_set_plugins(NULL, 0); /* the built-in (provisional) tables */
	const struct keelson_plugin_info *info = keelson_layout_plugin_find(name);
	ck_assert_msg(info != NULL, "no provisional table for plugin %s", name);
	(void)keelson_layout_plugins(&count);

	struct keelson_plugin_registry *registry = NULL;
	char path[4096];
	ck_assert_int_eq(keelson_plugin_registry_new(&registry), 0);
	test_plugin_path(path, sizeof(path), name, name);
	ck_assert_msg(keelson_plugin_registry_load_file(registry, path) == 0, "%s: %s", path,
		      keelson_error_last()->message);
	const struct keelson_plugin *plugin = keelson_plugin_registry_find(registry, name);
	ck_assert_ptr_nonnull(plugin);

	size_t declared = 0;
	for (const struct keelson_param *p = plugin->params; p != NULL && p->type != KEELSON_PARAM_END; p++) {
		declared++;
		struct keelson_field real;
		keelson_plugin_param_field(&real, p);
		const struct keelson_field *prov = provisional_field(info, p->name);
		ck_assert_msg(prov != NULL, "plugin %s declares parameter %s; the provisional table lacks it", name,
			      p->name);
		ck_assert_msg(prov->type == real.type, "%s.%s: provisional type %d, plugin type %d", name, p->name,
			      prov->type, real.type);
		ck_assert_msg((prov->flags & KEELSON_FIELD_REQUIRED) == (real.flags & KEELSON_FIELD_REQUIRED),
			      "%s.%s: provisional and plugin disagree on whether it is required", name, p->name);
		if (real.format == KEELSON_FORMAT_DURATION)
			ck_assert_msg(prov->format == KEELSON_FORMAT_DURATION, "%s.%s: the plugin reads a duration",
				      name, p->name);
		if (real.type == KEELSON_FIELD_ENUM)
			ck_assert_msg(same_enum(prov->enum_values, real.enum_values),
				      "%s.%s: provisional and plugin enum values differ", name, p->name);
	}
	size_t provisional = 0;
	for (const struct keelson_field *f = info->parameters; f->type != KEELSON_FIELD_END; f++)
		provisional++;
	ck_assert_msg(provisional == declared, "plugin %s declares %zu parameters, the provisional table %zu", name,
		      declared, provisional);
	keelson_plugin_registry_free(registry);
}

START_TEST(test_kafka)
{
	compare_plugin("kafka");
}
END_TEST

START_TEST(test_cassandra)
{
	compare_plugin("cassandra");
}
END_TEST

START_TEST(test_spark)
{
	compare_plugin("spark");
}
END_TEST

Suite *suite_provisional_tables(void);
Suite *suite_provisional_tables(void)
{
	Suite *s = suite_create("provisional_tables");
	TCase *tc = tcase_create("provisional_matches_plugin");
	tcase_add_test(tc, test_kafka);
	tcase_add_test(tc, test_cassandra);
	tcase_add_test(tc, test_spark);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_provisional_tables)
