#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "tests/unit/check_main.h"
#include "yaml/yaml_load.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_yaml(const char *json, const char *want)
{
	cJSON *v = cJSON_Parse(json);
	ck_assert_ptr_nonnull(v);
	char *text = keelson_diff_yaml(v);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, want);
	free(text);
	cJSON_Delete(v);
}

START_TEST(test_yaml_block_layout)
{
	assert_yaml("{\"b\":{\"y\":1,\"x\":[1,2]},\"a\":[{\"nm\":\"w\",\"m\":{\"k\":true}},[\"p\"]],\"c\":{},\"d\":[]}",
		    "a:\n"
		    "- m:\n"
		    "    k: true\n"
		    "  nm: w\n"
		    "- - p\n"
		    "b:\n"
		    "  x:\n"
		    "  - 1\n"
		    "  - 2\n"
		    "  \"y\": 1\n"
		    "c: {}\n"
		    "d: []\n");
}
END_TEST

START_TEST(test_yaml_scalars_quoted_when_needed)
{
	/* Strings that YAML 1.1 would read as something else are quoted. */
	assert_yaml("{\"s\":[\"plain\",\"1\",\"1.5\",\"true\",\"yes\",\"on\",\"~\",\"\",\"a: b\",\"-x\",\"x #y\","
		    "\" lead\",\"0x1F\",\"12:30\",\".inf\",\"-.NaN\",\"1Gi\",\"nginx:1.27\",\"a\\tb\"],\"num\":[0,-3,1.5,null,false]}",
		    "num:\n- 0\n- -3\n- 1.5\n- null\n- false\n"
		    "s:\n- plain\n- \"1\"\n- \"1.5\"\n- \"true\"\n- \"yes\"\n- \"on\"\n- \"~\"\n- \"\"\n- \"a: b\"\n"
		    "- \"-x\"\n- \"x #y\"\n- \" lead\"\n- \"0x1F\"\n- \"12:30\"\n- \".inf\"\n- \"-.NaN\"\n- 1Gi\n- nginx:1.27\n- \"a\\tb\"\n");
}
END_TEST

START_TEST(test_yaml_multiline_block)
{
	assert_yaml("{\"data\":{\"run.sh\":\"#!/bin/sh\\n\\necho hi\\n\",\"x\":\"a\\nb\"}}",
		    "data:\n"
		    "  run.sh: |\n"
		    "    #!/bin/sh\n"
		    "\n"
		    "    echo hi\n"
		    "  x: |-\n"
		    "    a\n"
		    "    b\n");
	/* The rendering reads back as the same value. */
	cJSON *v = cJSON_Parse("{\"data\":{\"run.sh\":\"#!/bin/sh\\n\\necho hi\\n\",\"x\":\"a\\nb\",\"q\":\"1\"}}");
	char *text = keelson_diff_yaml(v);
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, text, strlen(text), "t", NULL), 0);
	ck_assert(cJSON_Compare(keelson_yaml_document(stream, 0), v, 1));
	keelson_yaml_stream_free(stream);
	free(text);
	cJSON_Delete(v);
}
END_TEST

static char *render(const struct keelson_diff_object *obj, bool color)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(keelson_diff_render_unified(out, obj, color), 0);
	fclose(out);
	return buf;
}

struct fixture {
	struct keelson_yaml_stream *stream;
	struct keelson_object desired;
	struct keelson_diff_object *obj;
};

static void diff(struct fixture *f, const char *yaml, const char *live_json)
{
	cJSON *live = live_json ? cJSON_Parse(live_json) : NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&f->stream, yaml, strlen(yaml), "x.yaml", NULL), 0);
	memset(&f->desired, 0, sizeof(f->desired));
	f->desired.body = keelson_yaml_document(f->stream, 0);
	f->desired.stream = f->stream;
	f->desired.file = "x.yaml";
	ck_assert_int_eq(keelson_diff_object(&f->obj, &f->desired, live, NULL), 0);
	cJSON_Delete(live);
}

static void fixture_free(struct fixture *f)
{
	keelson_diff_object_free(f->obj);
	keelson_yaml_stream_free(f->stream);
}

static const char cm_live[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\","
	"\"uid\":\"u\",\"resourceVersion\":\"9\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\","
	"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:data\":{\"f:old\":{}}}}]},"
	"\"data\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\",\"g\":\"7\",\"h\":\"8\",\"old\":\"x\"}}";

START_TEST(test_unified_diff)
{
	struct fixture f;
	diff(&f,
	     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n"
	     "data: {a: \"1\", b: \"2\", c: \"3\", d: \"4\", e: \"5\", f: \"6\", g: \"7\", h: \"8\", i: \"9\", b2: \"0\"}\n",
	     cm_live);
	ck_assert_int_eq(f.obj->state, KEELSON_DIFF_DRIFTED);
	char *text = render(f.obj, false);
	/* managedFields, uid, resourceVersion, creationTimestamp hidden; b2
	 * added, i added, old removed (keelson applied it before). Hunks as
	 * diff -u makes them: changes 6 lines apart share one. */
	ck_assert_str_eq(text,
			 "diff -u -N live/v1.ConfigMap.a.c repository/v1.ConfigMap.a.c\n"
			 "--- live/v1.ConfigMap.a.c\n"
			 "+++ repository/v1.ConfigMap.a.c\n"
			 "@@ -2,13 +2,14 @@\n"
			 " data:\n"
			 "   a: \"1\"\n"
			 "   b: \"2\"\n"
			 "+  b2: \"0\"\n"
			 "   c: \"3\"\n"
			 "   d: \"4\"\n"
			 "   e: \"5\"\n"
			 "   f: \"6\"\n"
			 "   g: \"7\"\n"
			 "   h: \"8\"\n"
			 "-  old: x\n"
			 "+  i: \"9\"\n"
			 " kind: ConfigMap\n"
			 " metadata:\n"
			 "   name: c\n");
	free(text);
	text = render(f.obj, true);
	ck_assert(strstr(text, "\033[31m-  old: x\033[0m\n") != NULL);
	ck_assert(strstr(text, "\033[32m+  i: \"9\"\033[0m\n") != NULL);
	ck_assert(strstr(text, "\033[36m@@ -2,13 +2,14 @@\033[0m\n") != NULL);
	free(text);
	fixture_free(&f);
}
END_TEST

START_TEST(test_unified_in_sync_and_missing)
{
	struct fixture f;
	diff(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {a: \"1\"}\n", cm_live);
	/* "old" is still owned: not in sync. Drop that and it is. */
	fixture_free(&f);
	diff(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {a: \"1\", old: x}\n",
	     cm_live);
	ck_assert_int_eq(f.obj->state, KEELSON_DIFF_IN_SYNC);
	char *text = render(f.obj, false);
	ck_assert_str_eq(text, "");
	free(text);
	fixture_free(&f);

	diff(&f, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n", NULL);
	text = render(f.obj, false);
	ck_assert_str_eq(text,
			 "diff -u -N live/v1.Namespace.ns repository/v1.Namespace.ns\n"
			 "--- /dev/null\n"
			 "+++ repository/v1.Namespace.ns\n"
			 "@@ -0,0 +1,4 @@\n"
			 "+apiVersion: v1\n"
			 "+kind: Namespace\n"
			 "+metadata:\n"
			 "+  name: ns\n");
	free(text);
	fixture_free(&f);
}
END_TEST

START_TEST(test_unified_separate_hunks)
{
	struct fixture f;
	/* Checked against diff -u on the same two texts. */
	diff(&f,
	     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n"
	     "data: {a: v, c: v, d: v, e: v, f: v, g: v, h: v, i: v, j: v, k: v, l: v, m: v, \"n\": v, o: changed, p: v}\n",
	     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\","
	     "\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsV1\":{\"f:data\":{\"f:b\":{}}}}]},"
	     "\"data\":{\"a\":\"v\",\"b\":\"v\",\"c\":\"v\",\"d\":\"v\",\"e\":\"v\",\"f\":\"v\",\"g\":\"v\",\"h\":\"v\","
	     "\"i\":\"v\",\"j\":\"v\",\"k\":\"v\",\"l\":\"v\",\"m\":\"v\",\"n\":\"v\",\"o\":\"v\",\"p\":\"v\"}}");
	char *text = render(f.obj, false);
	ck_assert_str_eq(text,
			 "diff -u -N live/v1.ConfigMap.a.c repository/v1.ConfigMap.a.c\n"
			 "--- live/v1.ConfigMap.a.c\n"
			 "+++ repository/v1.ConfigMap.a.c\n"
			 "@@ -1,7 +1,6 @@\n"
			 " apiVersion: v1\n"
			 " data:\n"
			 "   a: v\n"
			 "-  b: v\n"
			 "   c: v\n"
			 "   d: v\n"
			 "   e: v\n"
			 "@@ -14,7 +13,7 @@\n"
			 "   l: v\n"
			 "   m: v\n"
			 "   \"n\": v\n"
			 "-  o: v\n"
			 "+  o: changed\n"
			 "   p: v\n"
			 " kind: ConfigMap\n"
			 " metadata:\n");
	free(text);
	fixture_free(&f);
}
END_TEST

START_TEST(test_unified_not_in_repo)
{
	cJSON *live = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"old\","
				  "\"uid\":\"u\"},\"status\":{\"phase\":\"Active\"}}");
	struct keelson_diff_object *obj = NULL;
	ck_assert_int_eq(keelson_diff_not_in_repo(&obj, live), 0);
	char *text = render(obj, false);
	ck_assert_str_eq(text,
			 "diff -u -N live/v1.Namespace.old repository/v1.Namespace.old\n"
			 "--- live/v1.Namespace.old\n"
			 "+++ /dev/null\n"
			 "@@ -1,4 +0,0 @@\n"
			 "-apiVersion: v1\n"
			 "-kind: Namespace\n"
			 "-metadata:\n"
			 "-  name: old\n");
	free(text);
	keelson_diff_object_free(obj);
	cJSON_Delete(live);
}
END_TEST

Suite *suite_render(void);
Suite *suite_render(void)
{
	Suite *s = suite_create("render");
	TCase *tc = tcase_create("keelson_diff_yaml");
	tcase_add_test(tc, test_yaml_block_layout);
	tcase_add_test(tc, test_yaml_scalars_quoted_when_needed);
	tcase_add_test(tc, test_yaml_multiline_block);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_diff_render_unified");
	tcase_add_test(tc, test_unified_diff);
	tcase_add_test(tc, test_unified_separate_hunks);
	tcase_add_test(tc, test_unified_in_sync_and_missing);
	tcase_add_test(tc, test_unified_not_in_repo);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_render)
