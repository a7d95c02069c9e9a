#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/apply/fieldpath.h"
#include "tests/kubesim/apply/test_support.h"
#include "tests/unit/check_main.h"

static bool has(const struct ks_fieldset *set, ...)
{
	const char *path[32];
	va_list ap;
	va_start(ap, set);
	size_t n = test_path(path, 32, ap);
	va_end(ap);
	return ks_fieldset_contains(set, path, n);
}

static void add(struct ks_fieldset *set, ...)
{
	const char *path[32];
	va_list ap;
	va_start(ap, set);
	size_t n = test_path(path, 32, ap);
	va_end(ap);
	ck_assert_int_eq(ks_fieldset_insert(set, path, n), 0);
}

static char *encode_text(const struct ks_fieldset *set)
{
	cJSON *json;
	ck_assert_int_eq(ks_fieldset_encode(&json, set), 0);
	char *text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	return text;
}

static const struct ks_type_scope sts_scope = { "apps", "StatefulSet", NULL };

/* ---- path elements ---- */

START_TEST(test_element_key_sorted_compact)
{
	cJSON *key = test_json("{'protocol':'TCP','containerPort':80}");
	char *e;
	ck_assert_int_eq(ks_path_element_key(&e, key), 0);
	ck_assert_str_eq(e, "k:{\"containerPort\":80,\"protocol\":\"TCP\"}");
	free(e);
	cJSON_Delete(key);
}
END_TEST

START_TEST(test_element_value_field_index)
{
	cJSON *v = cJSON_CreateString("example.com/cleanup");
	char *e;
	ck_assert_int_eq(ks_path_element_value(&e, v), 0);
	ck_assert_str_eq(e, "v:\"example.com/cleanup\"");
	free(e);
	cJSON_Delete(v);
	ck_assert_int_eq(ks_path_element_field(&e, "kubectl.kubernetes.io/last-applied-configuration"), 0);
	ck_assert_str_eq(e, "f:kubectl.kubernetes.io/last-applied-configuration");
	free(e);
	ck_assert_int_eq(ks_path_element_index(&e, 12), 0);
	ck_assert_str_eq(e, "i:12");
	free(e);
}
END_TEST

START_TEST(test_element_key_rejects_non_object)
{
	cJSON *v = cJSON_CreateNumber(3);
	char *e = NULL;
	ck_assert_int_eq(ks_path_element_key(&e, v), KEELSON_EINVALID);
	ck_assert_ptr_null(e);
	cJSON_Delete(v);
}
END_TEST

/* ---- path strings ---- */

START_TEST(test_path_string_forms)
{
	const char *p1[] = { "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}",
			     "f:ports", "k:{\"containerPort\":80,\"protocol\":\"TCP\"}", "f:name" };
	char *s;
	ck_assert_int_eq(ks_path_string(&s, p1, 8), 0);
	ck_assert_str_eq(s, ".spec.template.spec.containers[name=\"web\"].ports[containerPort=80,protocol=\"TCP\"].name");
	free(s);
	const char *p2[] = { "f:metadata", "f:finalizers", "v:\"a/b\"" };
	ck_assert_int_eq(ks_path_string(&s, p2, 3), 0);
	ck_assert_str_eq(s, ".metadata.finalizers[=\"a/b\"]");
	free(s);
	const char *p3[] = { "f:spec", "f:args", "i:2" };
	ck_assert_int_eq(ks_path_string(&s, p3, 3), 0);
	ck_assert_str_eq(s, ".spec.args[2]");
	free(s);
}
END_TEST

/* ---- set operations ---- */

START_TEST(test_insert_contains)
{
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_new(&s), 0);
	ck_assert(ks_fieldset_empty(s));
	add(s, "f:spec", "f:replicas", NULL);
	ck_assert(has(s, "f:spec", "f:replicas", NULL));
	ck_assert(!has(s, "f:spec", NULL)); /* parents are not members */
	ck_assert(!has(s, "f:spec", "f:selector", NULL));
	ck_assert_uint_eq(ks_fieldset_size(s), 1);
	ck_assert(!ks_fieldset_empty(s));
	ks_fieldset_free(s);
}
END_TEST

START_TEST(test_union_difference_intersection)
{
	struct ks_fieldset *a, *b, *u, *d, *i;
	ck_assert_int_eq(ks_fieldset_new(&a), 0);
	ck_assert_int_eq(ks_fieldset_new(&b), 0);
	add(a, "f:spec", "f:replicas", NULL);
	add(a, "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", NULL);
	add(a, "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image", NULL);
	add(b, "f:spec", "f:replicas", NULL);
	add(b, "f:metadata", "f:labels", "f:app", NULL);

	ck_assert_int_eq(ks_fieldset_union(&u, a, b), 0);
	ck_assert_uint_eq(ks_fieldset_size(u), 4);
	ck_assert(has(u, "f:metadata", "f:labels", "f:app", NULL));
	ck_assert(has(u, "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", NULL));

	ck_assert_int_eq(ks_fieldset_difference(&d, a, b), 0);
	ck_assert_uint_eq(ks_fieldset_size(d), 2);
	ck_assert(!has(d, "f:spec", "f:replicas", NULL));
	ck_assert(has(d, "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image", NULL));

	ck_assert_int_eq(ks_fieldset_intersection(&i, a, b), 0);
	ck_assert_uint_eq(ks_fieldset_size(i), 1);
	ck_assert(has(i, "f:spec", "f:replicas", NULL));
	/* No empty husks left behind: the encoding has only what is owned. */
	char *text = encode_text(i);
	ck_assert_str_eq(text, "{\"f:spec\":{\"f:replicas\":{}}}");
	free(text);

	struct ks_fieldset *nothing;
	ck_assert_int_eq(ks_fieldset_difference(&nothing, b, b), 0);
	ck_assert(ks_fieldset_empty(nothing));
	text = encode_text(nothing);
	ck_assert_str_eq(text, "{}");
	free(text);
	ck_assert(ks_fieldset_equal(u, u));
	ck_assert(!ks_fieldset_equal(a, b));

	ks_fieldset_free(a);
	ks_fieldset_free(b);
	ks_fieldset_free(u);
	ks_fieldset_free(d);
	ks_fieldset_free(i);
	ks_fieldset_free(nothing);
}
END_TEST

START_TEST(test_filter_top)
{
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_new(&s), 0);
	add(s, "f:spec", "f:replicas", NULL);
	add(s, "f:status", "f:replicas", NULL);
	ks_fieldset_filter_top(s, "f:status", false);
	ck_assert(has(s, "f:spec", "f:replicas", NULL));
	ck_assert(!has(s, "f:status", "f:replicas", NULL));
	add(s, "f:status", "f:readyReplicas", NULL);
	ks_fieldset_filter_top(s, "f:status", true);
	ck_assert(!has(s, "f:spec", "f:replicas", NULL));
	ck_assert(has(s, "f:status", "f:readyReplicas", NULL));
	ks_fieldset_free(s);
}
END_TEST

/* ---- FieldsV1 ---- */

static const char *real_fields =
	"{\"f:spec\":{\"f:replicas\":{},\"f:template\":{\"f:spec\":{\"f:containers\":"
	"{\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}}}}}}}";

START_TEST(test_encode_decode_round_trip)
{
	cJSON *json = cJSON_Parse(real_fields);
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_decode(&s, json), 0);
	ck_assert(has(s, "f:spec", "f:replicas", NULL));
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", NULL));
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image", NULL));
	ck_assert(!has(s, "f:spec", "f:template", NULL));
	ck_assert_uint_eq(ks_fieldset_size(s), 4);
	char *text = encode_text(s);
	ck_assert_str_eq(text, real_fields);
	free(text);
	ks_fieldset_free(s);
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_decode_canonicalizes_keys)
{
	cJSON *json = cJSON_Parse("{\"f:ports\":{\"k:{ \\\"protocol\\\": \\\"TCP\\\", \\\"containerPort\\\": 80 }\":{}}}");
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_decode(&s, json), 0);
	ck_assert(has(s, "f:ports", "k:{\"containerPort\":80,\"protocol\":\"TCP\"}", NULL));
	ks_fieldset_free(s);
	cJSON_Delete(json);
}
END_TEST

START_TEST(test_decode_rejects_malformed)
{
	static const char *bad[] = {
		"[]",
		"{\"x:spec\":{}}",
		"{\"f:spec\":{\".\":{\"f:a\":{}}}}",
		"{\"f:spec\":3}",
		"{\"f:list\":{\"k:[1]\":{}}}",
		"{\"f:list\":{\"i:01\":{}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *json = cJSON_Parse(bad[i]);
		struct ks_fieldset *s = (struct ks_fieldset *)1;
		int rc = ks_fieldset_decode(&s, json);
		ck_assert_msg(rc == KEELSON_EINVALID, "%s: expected EINVALID, got %d", bad[i], rc);
		ck_assert_ptr_null(s);
		ck_assert(strstr(keelson_error_last()->message, "fieldsV1") != NULL);
		cJSON_Delete(json);
	}
}
END_TEST

static int visit(const char *const *path, size_t length, const cJSON *value, void *payload)
{
	(void)value;
	char *s;
	ck_assert_int_eq(ks_path_string(&s, path, length), 0);
	strcat(payload, s);
	strcat(payload, ";");
	free(s);
	return 0;
}

START_TEST(test_iterate_in_order)
{
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_new(&s), 0);
	add(s, "f:spec", "f:selector", NULL);
	add(s, "f:spec", "f:replicas", NULL);
	add(s, "f:metadata", "f:labels", "f:app", NULL);
	char buf[256] = "";
	ck_assert_int_eq(ks_fieldset_iterate(s, visit, buf), 0);
	ck_assert_str_eq(buf, ".metadata.labels.app;.spec.replicas;.spec.selector;");
	ks_fieldset_free(s);
}
END_TEST

/* ---- sets from objects ---- */

static const char *sts_json =
	"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web','labels':{'app':'web'},"
	"'finalizers':['example.com/a','example.com/b']},"
	"'spec':{'replicas':3,'selector':{'matchLabels':{'app':'web'}},'template':{'spec':{"
	"'containers':[{'name':'web','image':'nginx:1','args':['-v','-x'],"
	"'ports':[{'containerPort':80},{'containerPort':53,'protocol':'UDP'}]}]}}}}";

START_TEST(test_from_object_builtin)
{
	cJSON *obj = test_json(sts_json);
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_from_object(&s, obj, &sts_scope, true), 0);
	ck_assert(has(s, "f:spec", "f:replicas", NULL));
	/* LabelSelector is atomic: owned as one leaf. */
	ck_assert(has(s, "f:spec", "f:selector", NULL));
	ck_assert(!has(s, "f:spec", "f:selector", "f:matchLabels", "f:app", NULL));
	const char *web = "k:{\"name\":\"web\"}";
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", web, NULL));
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", web, "f:name", NULL));
	/* Atomic list: one leaf, no indexes. */
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", web, "f:args", NULL));
	ck_assert_ptr_null(ks_fieldset_child(ks_fieldset_child(ks_fieldset_child(ks_fieldset_child(
		ks_fieldset_child(ks_fieldset_child(ks_fieldset_child(s, "f:spec"), "f:template"), "f:spec"),
		"f:containers"), web), "f:args"), "i:0"));
	/* Ports keyed by containerPort+protocol, protocol defaulted to TCP. */
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", web, "f:ports",
		      "k:{\"containerPort\":80,\"protocol\":\"TCP\"}", "f:containerPort", NULL));
	ck_assert(!has(s, "f:spec", "f:template", "f:spec", "f:containers", web, "f:ports",
		       "k:{\"containerPort\":80,\"protocol\":\"TCP\"}", "f:protocol", NULL));
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", web, "f:ports",
		      "k:{\"containerPort\":53,\"protocol\":\"UDP\"}", "f:protocol", NULL));
	/* Finalizers are a set. */
	ck_assert(has(s, "f:metadata", "f:finalizers", "v:\"example.com/a\"", NULL));
	ck_assert(has(s, "f:metadata", "f:finalizers", "v:\"example.com/b\"", NULL));
	ck_assert(has(s, "f:metadata", "f:labels", "f:app", NULL));

	const struct ks_fieldset *ports = ks_fieldset_child(ks_fieldset_child(ks_fieldset_child(
		ks_fieldset_child(ks_fieldset_child(ks_fieldset_child(s, "f:spec"), "f:template"),
				  "f:spec"), "f:containers"), web), "f:ports");
	cJSON *enc;
	ck_assert_int_eq(ks_fieldset_encode(&enc, ports), 0);
	char *text = cJSON_PrintUnformatted(enc);
	ck_assert_str_eq(text, "{\"k:{\\\"containerPort\\\":53,\\\"protocol\\\":\\\"UDP\\\"}\":{\".\":{},"
			       "\"f:containerPort\":{},\"f:protocol\":{}},"
			       "\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},"
			       "\"f:containerPort\":{}}}");
	free(text);
	cJSON_Delete(enc);
	ks_fieldset_free(s);
	cJSON_Delete(obj);
}
END_TEST

START_TEST(test_from_object_missing_key_strict)
{
	cJSON *obj = test_json("{'spec':{'template':{'spec':{'containers':[{'image':'x'}]}}}}");
	struct ks_fieldset *s = NULL;
	ck_assert_int_eq(ks_fieldset_from_object(&s, obj, &sts_scope, true), KEELSON_EINVALID);
	ck_assert_ptr_null(s);
	ck_assert_str_eq(keelson_error_last()->message,
			 ".spec.template.spec.containers: element 0: associative list with keys has an "
			 "element that omits key field \"name\" (and doesn't have default value)");
	/* Lenient (a stored object): the list is owned whole. */
	ck_assert_int_eq(ks_fieldset_from_object(&s, obj, &sts_scope, false), 0);
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", NULL));
	ks_fieldset_free(s);
	cJSON_Delete(obj);
}
END_TEST

START_TEST(test_from_object_duplicate_key_strict)
{
	const struct ks_type_scope svc = { "", "Service", NULL };
	cJSON *obj = test_json("{'spec':{'ports':[{'port':80},{'port':80,'protocol':'TCP'}]}}");
	struct ks_fieldset *s = NULL;
	ck_assert_int_eq(ks_fieldset_from_object(&s, obj, &svc, true), KEELSON_EINVALID);
	ck_assert_str_eq(keelson_error_last()->message,
			 ".spec.ports: duplicate entries for key [port=80,protocol=\"TCP\"]");
	cJSON_Delete(obj);
}
END_TEST

static const char *crd_schema_json =
	"{'type':'object','properties':{'spec':{'type':'object','properties':{"
	"'plain':{'type':'array','items':{'type':'object','properties':{'name':{'type':'string'}}}},"
	"'keyed':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name','zone'],"
	" 'items':{'type':'object','properties':{'name':{'type':'string'},'zone':{'type':'string','default':'a'},"
	"  'size':{'type':'integer'}}}},"
	"'tags':{'type':'array','x-kubernetes-list-type':'set','items':{'type':'string'}},"
	"'sel':{'type':'object','x-kubernetes-map-type':'atomic','additionalProperties':{'type':'string'}},"
	"'extra':{'type':'object','additionalProperties':{'type':'object','properties':{'v':{'type':'integer'}}}}"
	"}}}}";

START_TEST(test_from_object_crd_schema)
{
	cJSON *schema = test_json(crd_schema_json);
	const struct ks_type_scope scope = { "example.com", "Widget", schema };
	cJSON *obj = test_json("{'metadata':{'finalizers':['x']},'spec':{'plain':[{'name':'a'}],"
			       "'keyed':[{'name':'a','size':1},{'name':'a','zone':'b'}],"
			       "'tags':['t1','t2'],'sel':{'k':'v'},'extra':{'one':{'v':1}}}}");
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_from_object(&s, obj, &scope, true), 0);
	ck_assert(has(s, "f:spec", "f:plain", NULL)); /* no list-type: atomic */
	ck_assert(!has(s, "f:spec", "f:plain", "k:{\"name\":\"a\"}", NULL));
	ck_assert(has(s, "f:spec", "f:keyed", "k:{\"name\":\"a\",\"zone\":\"a\"}", "f:size", NULL));
	ck_assert(has(s, "f:spec", "f:keyed", "k:{\"name\":\"a\",\"zone\":\"b\"}", "f:zone", NULL));
	ck_assert(has(s, "f:spec", "f:tags", "v:\"t2\"", NULL));
	ck_assert(has(s, "f:spec", "f:sel", NULL));
	ck_assert(!has(s, "f:spec", "f:sel", "f:k", NULL));
	ck_assert(has(s, "f:spec", "f:extra", "f:one", "f:v", NULL));
	/* An entry of a map of objects is owned itself, a declared field not. */
	ck_assert(has(s, "f:spec", "f:extra", "f:one", NULL));
	ck_assert(!has(s, "f:spec", "f:extra", NULL));
	ck_assert(!has(s, "f:spec", NULL));
	ck_assert(has(s, "f:metadata", "f:finalizers", "v:\"x\"", NULL));
	ks_fieldset_free(s);
	cJSON_Delete(obj);
	cJSON_Delete(schema);
}
END_TEST

START_TEST(test_from_object_empty_containers_are_leaves)
{
	cJSON *obj = test_json("{'spec':{'template':{'spec':{'volumes':[{'name':'d','emptyDir':{}}],"
			       "'containers':[]}}}}");
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_from_object(&s, obj, &sts_scope, true), 0);
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:volumes", "k:{\"name\":\"d\"}", "f:emptyDir", NULL));
	ck_assert(has(s, "f:spec", "f:template", "f:spec", "f:containers", NULL));
	ks_fieldset_free(s);
	cJSON_Delete(obj);
}
END_TEST

START_TEST(test_compare_added_removed_modified)
{
	cJSON *old_obj = test_json("{'spec':{'replicas':1,'serviceName':'web','template':{'spec':{'containers':"
				   "[{'name':'web','image':'a'},{'name':'side','image':'s'}]}}}}");
	cJSON *new_obj = test_json("{'spec':{'replicas':2,'template':{'spec':{'containers':"
				   "[{'name':'web','image':'a'},{'name':'log','image':'l'}]}},'minReadySeconds':5}}");
	struct ks_fieldset *o, *n, *added, *removed, *modified;
	ck_assert_int_eq(ks_fieldset_from_object(&o, old_obj, &sts_scope, false), 0);
	ck_assert_int_eq(ks_fieldset_from_object(&n, new_obj, &sts_scope, false), 0);
	ck_assert_int_eq(ks_fieldset_compare(&added, &removed, &modified, o, n), 0);
	const char *c = "f:containers";
	ck_assert(has(modified, "f:spec", "f:replicas", NULL));
	ck_assert_uint_eq(ks_fieldset_size(modified), 1);
	ck_assert(has(added, "f:spec", "f:minReadySeconds", NULL));
	ck_assert(has(added, "f:spec", "f:template", "f:spec", c, "k:{\"name\":\"log\"}", NULL));
	ck_assert(has(added, "f:spec", "f:template", "f:spec", c, "k:{\"name\":\"log\"}", "f:image", NULL));
	ck_assert_uint_eq(ks_fieldset_size(added), 4);
	ck_assert(has(removed, "f:spec", "f:serviceName", NULL));
	ck_assert(has(removed, "f:spec", "f:template", "f:spec", c, "k:{\"name\":\"side\"}", NULL));
	ck_assert_uint_eq(ks_fieldset_size(removed), 4);
	ks_fieldset_free(o);
	ks_fieldset_free(n);
	ks_fieldset_free(added);
	ks_fieldset_free(removed);
	ks_fieldset_free(modified);
	cJSON_Delete(old_obj);
	cJSON_Delete(new_obj);
}
END_TEST

static Suite *suite_fieldpath(void)
{
	Suite *s = suite_create("fieldpath");
	TCase *tc = tcase_create("path_element");
	tcase_add_test(tc, test_element_key_sorted_compact);
	tcase_add_test(tc, test_element_value_field_index);
	tcase_add_test(tc, test_element_key_rejects_non_object);
	suite_add_tcase(s, tc);

	tc = tcase_create("path_string");
	tcase_add_test(tc, test_path_string_forms);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_operations");
	tcase_add_test(tc, test_insert_contains);
	tcase_add_test(tc, test_union_difference_intersection);
	tcase_add_test(tc, test_filter_top);
	tcase_add_test(tc, test_iterate_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields_v1");
	tcase_add_test(tc, test_encode_decode_round_trip);
	tcase_add_test(tc, test_decode_canonicalizes_keys);
	tcase_add_test(tc, test_decode_rejects_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("from_object");
	tcase_add_test(tc, test_from_object_builtin);
	tcase_add_test(tc, test_from_object_missing_key_strict);
	tcase_add_test(tc, test_from_object_duplicate_key_strict);
	tcase_add_test(tc, test_from_object_crd_schema);
	tcase_add_test(tc, test_from_object_empty_containers_are_leaves);
	suite_add_tcase(s, tc);

	tc = tcase_create("compare");
	tcase_add_test(tc, test_compare_added_removed_modified);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_fieldpath)
