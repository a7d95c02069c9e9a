/* The C field tables of keelson's documents must say exactly what the JSON
 * Schemas in repo-layout/schema/ say: same keys, same required keys, same
 * types, enums, ranges and patterns. Either side changing alone fails here. */
#include "config.h"

#include "core/error.h"
#include "json/json_pointer.h"
#include "layout/schema_table.h"

#include "tests/unit/check_main.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *load_schema(const char *name)
{
	const char *top = getenv("top_srcdir");
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/repo-layout/schema/%s", top && *top ? top : ".", name), 0);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cJSON *schema = cJSON_Parse(buf);
	ck_assert_msg(schema != NULL, "%s is not valid JSON", path);
	free(path);
	return schema;
}

static const cJSON *resolve(const cJSON *root, const cJSON *node)
{
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
	if (!cJSON_IsString(ref))
		return node;
	ck_assert_msg(ref->valuestring[0] == '#', "only local $ref are used: %s", ref->valuestring);
	cJSON *target = NULL;
	ck_assert_int_eq(keelson_json_pointer_get(&target, root, ref->valuestring + 1), 0);
	return target;
}

static const char *str(const cJSON *node, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void expect_type(const cJSON *schema, const char *type, const char *path)
{
	const char *t = str(schema, "type");
	ck_assert_msg(t != NULL && strcmp(t, type) == 0, "%s: schema type %s, table says %s", path,
		      t ? t : "(none)", type);
}

static void expect_number(const cJSON *schema, const char *key, long long value, const char *path)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(schema, key);
	ck_assert_msg(cJSON_IsNumber(v) && (long long)v->valuedouble == value,
		      "%s: schema %s differs from the table's %lld", path, key, value);
}

static void compare_string(const cJSON *schema, enum keelson_string_format format, const char *path)
{
	expect_type(schema, "string", path);
	const char *pattern = keelson_layout_format_pattern(format);
	const char *schema_pattern = str(schema, "pattern");
	if (pattern == NULL) {
		ck_assert_msg(schema_pattern == NULL, "%s: schema has a pattern, the table none", path);
		expect_number(schema, "minLength", 1, path);
	} else {
		ck_assert_msg(schema_pattern && strcmp(schema_pattern, pattern) == 0,
			      "%s: schema pattern %s, table %s", path, schema_pattern ? schema_pattern : "(none)",
			      pattern);
	}
	if (format == KEELSON_FORMAT_DNS_LABEL)
		expect_number(schema, "maxLength", 63, path);
	if (format == KEELSON_FORMAT_DURATION)
		expect_number(schema, "minLength", 2, path);
}

static void compare_enum(const cJSON *schema, const char *const *values, size_t count, const char *path)
{
	expect_type(schema, "string", path);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	ck_assert_msg(cJSON_IsArray(list) && (size_t)cJSON_GetArraySize(list) == count,
		      "%s: enum sizes differ", path);
	for (size_t i = 0; i < count; i++) {
		const cJSON *item = cJSON_GetArrayItem(list, (int)i);
		ck_assert_msg(cJSON_IsString(item) && strcmp(item->valuestring, values[i]) == 0,
			      "%s: enum value %zu differs", path, i);
	}
}

static void compare_object(const cJSON *root, const cJSON *schema, const struct keelson_field *fields,
			   const char *path);

static void compare_field(const cJSON *root, const cJSON *parent_schema, const cJSON *schema,
			  const struct keelson_field *f, const char *path)
{
	switch (f->type) {
	case KEELSON_FIELD_END:
		break;
	case KEELSON_FIELD_CONST:
		ck_assert_msg(str(schema, "const") && strcmp(str(schema, "const"), f->const_value) == 0,
			      "%s: const differs", path);
		break;
	case KEELSON_FIELD_STRING:
		compare_string(schema, f->format, path);
		break;
	case KEELSON_FIELD_BOOLEAN:
		expect_type(schema, "boolean", path);
		break;
	case KEELSON_FIELD_INTEGER:
		expect_type(schema, "integer", path);
		expect_number(schema, "minimum", f->minimum, path);
		expect_number(schema, "maximum", f->maximum, path);
		break;
	case KEELSON_FIELD_ENUM: {
		size_t n = 0;
		while (f->enum_values[n])
			n++;
		compare_enum(schema, f->enum_values, n, path);
		break;
	}
	case KEELSON_FIELD_STRING_LIST:
		expect_type(schema, "array", path);
		compare_string(resolve(root, cJSON_GetObjectItemCaseSensitive(schema, "items")), f->format, path);
		if (f->min_items)
			expect_number(schema, "minItems", (long long)f->min_items, path);
		else
			ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(schema, "minItems"));
		break;
	case KEELSON_FIELD_OBJECT_LIST:
		expect_type(schema, "array", path);
		compare_object(root, cJSON_GetObjectItemCaseSensitive(schema, "items"), f->children, path);
		if (f->min_items)
			expect_number(schema, "minItems", (long long)f->min_items, path);
		else
			ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(schema, "minItems"));
		break;
	case KEELSON_FIELD_STRING_MAP:
		expect_type(schema, "object", path);
		expect_type(cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties"), "string", path);
		break;
	case KEELSON_FIELD_OBJECT:
		compare_object(root, schema, f->children, path);
		break;
	case KEELSON_FIELD_PLUGIN: {
		size_t count;
		const struct keelson_plugin_info *plugins = keelson_layout_plugins(&count);
		const char *names[16];
		ck_assert_uint_le(count, 16);
		for (size_t i = 0; i < count; i++)
			names[i] = plugins[i].name;
		compare_enum(schema, names, count, path);
		break;
	}
	case KEELSON_FIELD_PARAMETERS: {
		expect_type(schema, "object", path);
		size_t count;
		const struct keelson_plugin_info *plugins = keelson_layout_plugins(&count);
		const cJSON *all_of = cJSON_GetObjectItemCaseSensitive(parent_schema, "allOf");
		ck_assert_msg(cJSON_GetArraySize(all_of) == (int)count, "%s: one allOf branch per plugin", path);
		for (size_t i = 0; i < count; i++) {
			char def[128], ref[160];
			snprintf(def, sizeof(def), "/$defs/%sParameters", plugins[i].name);
			snprintf(ref, sizeof(ref), "#%s", def);
			const cJSON *branch = NULL, *item;
			cJSON_ArrayForEach(item, all_of) {
				cJSON *c = NULL;
				if (keelson_json_pointer_get(&c, item, "/if/properties/plugin/const") == 0 &&
				    cJSON_IsString(c) && strcmp(c->valuestring, plugins[i].name) == 0)
					branch = item;
			}
			ck_assert_msg(branch != NULL, "no allOf branch for plugin %s", plugins[i].name);
			cJSON *r = NULL;
			ck_assert_int_eq(keelson_json_pointer_get(&r, branch, "/then/properties/parameters/$ref"), 0);
			ck_assert_str_eq(r->valuestring, ref);
			cJSON *required = NULL;
			int has_required = keelson_json_pointer_get(&required, branch, "/then/required/0") == 0;
			ck_assert_msg(has_required == (int)plugins[i].parameters_required,
				      "plugin %s: schema and table disagree on required parameters", plugins[i].name);
			cJSON *params = NULL;
			ck_assert_int_eq(keelson_json_pointer_get(&params, root, def), 0);
			char sub[512];
			snprintf(sub, sizeof(sub), "%.200s(%.100s)", path, plugins[i].name);
			compare_object(root, params, plugins[i].parameters, sub);
		}
		break;
	}
	}
}

static void compare_object(const cJSON *root, const cJSON *schema, const struct keelson_field *fields,
			   const char *path)
{
	schema = resolve(root, schema);
	expect_type(schema, "object", path);
	const cJSON *additional = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
	ck_assert_msg(cJSON_IsFalse(additional), "%s: schema must reject unknown keys", path);
	const cJSON *properties = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");

	size_t table_count = 0, table_required = 0;
	for (const struct keelson_field *f = fields; f->type != KEELSON_FIELD_END; f++) {
		table_count++;
		char sub[512];
		snprintf(sub, sizeof(sub), "%.300s.%.100s", path, f->name);
		const cJSON *prop = cJSON_GetObjectItemCaseSensitive(properties, f->name);
		ck_assert_msg(prop != NULL, "%s: in the table, not in the schema", sub);
		int in_required = 0;
		const cJSON *r;
		cJSON_ArrayForEach(r, required)
			in_required |= cJSON_IsString(r) && strcmp(r->valuestring, f->name) == 0;
		ck_assert_msg(in_required == !!(f->flags & KEELSON_FIELD_REQUIRED),
			      "%s: required in one and not the other", sub);
		table_required += in_required;
		compare_field(root, schema, resolve(root, prop), f, sub);
	}
	ck_assert_msg((size_t)cJSON_GetArraySize(properties) == table_count,
		      "%s: the schema has keys the table does not", path);
	ck_assert_msg((size_t)cJSON_GetArraySize(required) == table_required,
		      "%s: the schema requires keys the table does not", path);
}

START_TEST(test_tables_match_schemas)
{
	static const char *const kinds[] = {"Repository", "Cluster", "System"};
	static const char *const files[] = {"repository.schema.json", "cluster.schema.json", "system.schema.json"};
	for (size_t i = 0; i < 3; i++) {
		cJSON *schema = load_schema(files[i]);
		const struct keelson_field *fields = keelson_layout_document_fields(kinds[i]);
		ck_assert_ptr_nonnull(fields);
		compare_object(schema, schema, fields, kinds[i]);
		cJSON_Delete(schema);
	}
	ck_assert_ptr_null(keelson_layout_document_fields("Clustre"));
}
END_TEST

/* The hand-written format checks must accept what the schema's regular
 * expression accepts (POSIX ERE reads these patterns as ECMA-262 does). */
START_TEST(test_formats_match_patterns)
{
	static const struct {
		enum keelson_string_format format;
		const char *text;
	} samples[] = {
		{KEELSON_FORMAT_DNS_LABEL, "kafka-events"}, {KEELSON_FORMAT_DNS_LABEL, "a"},
		{KEELSON_FORMAT_DNS_LABEL, "0abc9"}, {KEELSON_FORMAT_DNS_LABEL, "-kafka"},
		{KEELSON_FORMAT_DNS_LABEL, "kafka-"}, {KEELSON_FORMAT_DNS_LABEL, "Kafka"},
		{KEELSON_FORMAT_DNS_LABEL, "kafka_events"}, {KEELSON_FORMAT_DNS_LABEL, "a.b"},
		{KEELSON_FORMAT_DURATION, "1h30m"}, {KEELSON_FORMAT_DURATION, "45s"},
		{KEELSON_FORMAT_DURATION, "2h3m4s"}, {KEELSON_FORMAT_DURATION, "5 m"},
		{KEELSON_FORMAT_DURATION, "30m1h"}, {KEELSON_FORMAT_DURATION, "1d"},
		{KEELSON_FORMAT_DURATION, "10"}, {KEELSON_FORMAT_DURATION, "1h1h"},
		{KEELSON_FORMAT_GROUP_KIND, "example.com/Widget"}, {KEELSON_FORMAT_GROUP_KIND, "a/B"},
		{KEELSON_FORMAT_GROUP_KIND, "example.com/widget"}, {KEELSON_FORMAT_GROUP_KIND, "/Widget"},
		{KEELSON_FORMAT_GROUP_KIND, "Example.com/Widget"}, {KEELSON_FORMAT_GROUP_KIND, "x.io/Wid-get"},
		{KEELSON_FORMAT_API_GROUP, ""}, {KEELSON_FORMAT_API_GROUP, "apps"},
		{KEELSON_FORMAT_API_GROUP, "autoscaling.k8s.io"}, {KEELSON_FORMAT_API_GROUP, "Apps"},
		{KEELSON_FORMAT_API_GROUP, "apps/v1"}, {KEELSON_FORMAT_API_GROUP, ".apps"},
		{KEELSON_FORMAT_KIND, "StatefulSet"}, {KEELSON_FORMAT_KIND, "statefulSet"},
		{KEELSON_FORMAT_KIND, "Stateful Set"}, {KEELSON_FORMAT_KIND, ""},
		{KEELSON_FORMAT_JSON_POINTER, "/spec/replicas"}, {KEELSON_FORMAT_JSON_POINTER, "/a~1b/~0c/*"},
		{KEELSON_FORMAT_JSON_POINTER, "/"}, {KEELSON_FORMAT_JSON_POINTER, "//x"},
		{KEELSON_FORMAT_JSON_POINTER, ""}, {KEELSON_FORMAT_JSON_POINTER, "spec/replicas"},
		{KEELSON_FORMAT_JSON_POINTER, "/a~2"}, {KEELSON_FORMAT_JSON_POINTER, "/a~"},
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		regex_t re;
		ck_assert_int_eq(regcomp(&re, keelson_layout_format_pattern(samples[i].format),
					 REG_EXTENDED | REG_NOSUB), 0);
		int by_regex = regexec(&re, samples[i].text, 0, NULL, 0) == 0;
		regfree(&re);
		ck_assert_msg(by_regex == keelson_layout_format_check(samples[i].format, samples[i].text),
			      "\"%s\": pattern says %d, checker disagrees", samples[i].text, by_regex);
	}
	/* Stricter than the pattern, on purpose: zero is not a duration. */
	ck_assert(!keelson_layout_format_check(KEELSON_FORMAT_DURATION, "0s"));
	ck_assert(!keelson_layout_format_check(KEELSON_FORMAT_DNS_LABEL,
		"a234567890123456789012345678901234567890123456789012345678901234"));
}
END_TEST

START_TEST(test_duration_parse)
{
	unsigned long long s = 0;
	ck_assert_int_eq(keelson_layout_duration_parse(&s, "1h30m"), 0);
	ck_assert_uint_eq(s, 5400);
	ck_assert_int_eq(keelson_layout_duration_parse(&s, "2h3m4s"), 0);
	ck_assert_uint_eq(s, 7384);
	ck_assert_int_eq(keelson_layout_duration_parse(&s, "90s"), 0);
	ck_assert_uint_eq(s, 90);
	ck_assert_int_eq(keelson_layout_duration_parse(&s, "0h0m"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_layout_duration_parse(&s, ""), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_layout_duration_parse(&s, "99999999999h"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "1h30m"));
}
END_TEST

START_TEST(test_plugin_find)
{
	ck_assert_str_eq(keelson_layout_plugin_find("kafka")->name, "kafka");
	ck_assert(keelson_layout_plugin_find("cassandra")->parameters_required);
	ck_assert(!keelson_layout_plugin_find("generic")->parameters_required);
	ck_assert_ptr_null(keelson_layout_plugin_find("zookeeper"));
	ck_assert_ptr_null(keelson_layout_plugin_find(NULL));
}
END_TEST

static Suite *suite_schema_table(void)
{
	Suite *s = suite_create("schema_table");
	TCase *tc = tcase_create("keelson_layout_document_fields");
	tcase_add_test(tc, test_tables_match_schemas);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_layout_format_check");
	tcase_add_test(tc, test_formats_match_patterns);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_layout_duration_parse");
	tcase_add_test(tc, test_duration_parse);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_layout_plugin_find");
	tcase_add_test(tc, test_plugin_find);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_schema_table)
