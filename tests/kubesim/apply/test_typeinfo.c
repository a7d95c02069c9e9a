#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/apply/test_support.h"
#include "tests/kubesim/apply/typeinfo.h"
#include "tests/unit/check_main.h"

/* Walk the cursor down a "/"-separated path where "*" enters a list item. */
static void walk(struct ks_type_cursor *c, const struct ks_type_scope *scope, const char *path)
{
	ks_type_cursor_init(c, scope);
	char copy[512];
	snprintf(copy, sizeof(copy), "%s", path);
	struct ks_type_mark mark;
	for (char *tok = strtok(copy, "/"); tok; tok = strtok(NULL, "/")) {
		int rc = strcmp(tok, "*") == 0 ? ks_type_cursor_enter_item(c, &mark)
					       : ks_type_cursor_enter_field(c, tok, &mark);
		ck_assert_int_eq(rc, 0);
	}
}

static const struct ks_type_scope sts = { "apps", "StatefulSet", NULL };

START_TEST(test_cursor_escapes_and_leaves)
{
	struct ks_type_cursor c;
	ks_type_cursor_init(&c, &sts);
	struct ks_type_mark m1, m2, m3;
	ck_assert_int_eq(ks_type_cursor_enter_field(&c, "metadata", &m1), 0);
	ck_assert_int_eq(ks_type_cursor_enter_field(&c, "annotations", &m2), 0);
	ck_assert_int_eq(ks_type_cursor_enter_field(&c, "a/b~c", &m3), 0);
	ck_assert_str_eq(c.pointer, "/metadata/annotations/a~1b~0c");
	ks_type_cursor_leave(&c, &m3);
	ck_assert_str_eq(c.pointer, "/metadata/annotations");
	ks_type_cursor_leave(&c, &m2);
	ks_type_cursor_leave(&c, &m1);
	ck_assert_str_eq(c.pointer, "");
	ck_assert_uint_eq(c.depth, 0);
}
END_TEST

START_TEST(test_cursor_limits_depth)
{
	struct ks_type_cursor c;
	ks_type_cursor_init(&c, &sts);
	struct ks_type_mark m;
	int rc = 0;
	for (int i = 0; i <= KS_TYPE_MAX_DEPTH && rc == 0; i++)
		rc = ks_type_cursor_enter_field(&c, "x", &m);
	ck_assert_int_eq(rc, KEELSON_ELIMIT);
	ck_assert(strstr(keelson_error_last()->message, "deeper than") != NULL);
}
END_TEST

START_TEST(test_list_semantics_builtin)
{
	struct ks_type_cursor c;
	struct ks_list_semantics sem;
	walk(&c, &sts, "spec/template/spec/containers");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_MAP);
	ck_assert_uint_eq(sem.ssa_key_count, 1);
	ck_assert_str_eq(sem.ssa_keys[0], "name");

	walk(&c, &sts, "spec/template/spec/containers/*/ports");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_MAP);
	ck_assert_uint_eq(sem.ssa_key_count, 2);
	ck_assert_str_eq(sem.ssa_keys[1], "protocol");

	walk(&c, &sts, "spec/template/spec/containers/*/args");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_ATOMIC);

	walk(&c, &sts, "metadata/finalizers");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_SET);
}
END_TEST

static const char *schema_text =
	"{'type':'object','properties':{'metadata':{'type':'object'},'spec':{'type':'object','properties':{"
	"'plain':{'type':'array','items':{'type':'object'}},"
	"'keyed':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name','port'],"
	" 'items':{'type':'object','properties':{'name':{'type':'string'},'port':{'type':'integer','default':80}}}},"
	"'tags':{'type':'array','x-kubernetes-list-type':'set','items':{'type':'string'}},"
	"'sel':{'type':'object','x-kubernetes-map-type':'atomic'},"
	"'opts':{'type':'object','additionalProperties':{'type':'object','x-kubernetes-map-type':'atomic'}}}}}}";

START_TEST(test_list_semantics_crd)
{
	cJSON *schema = test_json(schema_text);
	const struct ks_type_scope cr = { "example.com", "Widget", schema };
	struct ks_type_cursor c;
	struct ks_list_semantics sem;
	walk(&c, &cr, "spec/plain");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_ATOMIC);
	walk(&c, &cr, "spec/keyed");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_MAP);
	ck_assert_uint_eq(sem.ssa_key_count, 2);
	ck_assert_str_eq(sem.ssa_keys[0], "name");
	walk(&c, &cr, "spec/tags");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_SET);
	/* Fields the schema does not declare: atomic lists. */
	walk(&c, &cr, "spec/unknown");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_ATOMIC);
	/* metadata is ObjectMeta for every kind. */
	walk(&c, &cr, "metadata/finalizers");
	ks_type_list_semantics(&sem, &c);
	ck_assert_int_eq(sem.kind, KS_LIST_SET);
	cJSON_Delete(schema);
}
END_TEST

START_TEST(test_object_is_atomic)
{
	struct ks_type_cursor c;
	walk(&c, &sts, "spec/selector");
	ck_assert(ks_type_object_is_atomic(&c));
	walk(&c, &sts, "spec/template/spec/topologySpreadConstraints/*/labelSelector");
	ck_assert(ks_type_object_is_atomic(&c));
	walk(&c, &sts, "spec/template/spec/containers/*/env/*/valueFrom/secretKeyRef");
	ck_assert(ks_type_object_is_atomic(&c));
	walk(&c, &sts, "spec/template/metadata/labels");
	ck_assert(!ks_type_object_is_atomic(&c));
	const struct ks_type_scope cm = { "", "ConfigMap", NULL };
	walk(&c, &cm, "spec/selector");
	ck_assert(!ks_type_object_is_atomic(&c));

	cJSON *schema = test_json(schema_text);
	const struct ks_type_scope cr = { "example.com", "Widget", schema };
	walk(&c, &cr, "spec/sel");
	ck_assert(ks_type_object_is_atomic(&c));
	walk(&c, &cr, "spec/opts/anything");
	ck_assert(ks_type_object_is_atomic(&c));
	walk(&c, &cr, "spec/opts");
	ck_assert(!ks_type_object_is_atomic(&c));
	cJSON_Delete(schema);
}
END_TEST

START_TEST(test_key_default)
{
	struct ks_type_cursor c;
	cJSON *def = NULL;
	walk(&c, &sts, "spec/template/spec/containers/*/ports");
	ck_assert_int_eq(ks_type_key_default(&def, &c, "protocol"), 0);
	ck_assert_str_eq(def->valuestring, "TCP");
	cJSON_Delete(def);
	ck_assert_int_eq(ks_type_key_default(&def, &c, "containerPort"), 0);
	ck_assert_ptr_null(def);

	cJSON *schema = test_json(schema_text);
	const struct ks_type_scope cr = { "example.com", "Widget", schema };
	walk(&c, &cr, "spec/keyed");
	ck_assert_int_eq(ks_type_key_default(&def, &c, "port"), 0);
	ck_assert_int_eq(def->valueint, 80);
	cJSON_Delete(def);
	ck_assert_int_eq(ks_type_key_default(&def, &c, "name"), 0);
	ck_assert_ptr_null(def);
	cJSON_Delete(schema);
}
END_TEST

START_TEST(test_owned_when_added)
{
	struct ks_type_cursor c;
	walk(&c, &sts, "spec/template/metadata/labels");
	ck_assert(ks_type_owned_when_added(&c, false));
	walk(&c, &sts, "spec/template");
	ck_assert(!ks_type_owned_when_added(&c, false));
	walk(&c, &sts, "spec/template/spec/containers");
	ck_assert(!ks_type_owned_when_added(&c, true));
	walk(&c, &sts, "spec/template/spec/containers/*/ports");
	ck_assert(ks_type_owned_when_added(&c, true));
	cJSON *schema = test_json(schema_text);
	const struct ks_type_scope cr = { "example.com", "Widget", schema };
	walk(&c, &cr, "spec");
	ck_assert(ks_type_owned_when_added(&c, false));
	cJSON_Delete(schema);
}
END_TEST

START_TEST(test_field_is_map_entry)
{
	struct ks_type_cursor c;
	cJSON *schema = test_json(schema_text);
	const struct ks_type_scope cr = { "example.com", "Widget", schema };
	walk(&c, &cr, "");
	ck_assert(!ks_type_field_is_map_entry(&c, "spec"));
	ck_assert(!ks_type_field_is_map_entry(&c, "metadata"));
	ck_assert(ks_type_field_is_map_entry(&c, "undeclared"));
	walk(&c, &cr, "spec/opts");
	ck_assert(ks_type_field_is_map_entry(&c, "anything"));
	walk(&c, &cr, "spec");
	ck_assert(!ks_type_field_is_map_entry(&c, "keyed"));
	walk(&c, &cr, "metadata/labels");
	ck_assert(!ks_type_field_is_map_entry(&c, "app"));
	/* Built-ins never need it. */
	walk(&c, &sts, "spec/template/metadata/labels");
	ck_assert(!ks_type_field_is_map_entry(&c, "app"));
	cJSON_Delete(schema);
}
END_TEST

static Suite *suite_typeinfo(void)
{
	Suite *s = suite_create("typeinfo");
	TCase *tc = tcase_create("ks_type_cursor");
	tcase_add_test(tc, test_cursor_escapes_and_leaves);
	tcase_add_test(tc, test_cursor_limits_depth);
	suite_add_tcase(s, tc);
	tc = tcase_create("ks_type_list_semantics");
	tcase_add_test(tc, test_list_semantics_builtin);
	tcase_add_test(tc, test_list_semantics_crd);
	suite_add_tcase(s, tc);
	tc = tcase_create("ks_type_object_is_atomic");
	tcase_add_test(tc, test_object_is_atomic);
	suite_add_tcase(s, tc);
	tc = tcase_create("ks_type_key_default");
	tcase_add_test(tc, test_key_default);
	suite_add_tcase(s, tc);
	tc = tcase_create("ks_type_field_is_map_entry");
	tcase_add_test(tc, test_field_is_map_entry);
	suite_add_tcase(s, tc);
	tc = tcase_create("ks_type_owned_when_added");
	tcase_add_test(tc, test_owned_when_added);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_typeinfo)
