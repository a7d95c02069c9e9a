#include "config.h"

#include "core/error.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"
#include "tests/unit/check_main.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6901 section 5 document. */
static const char rfc6901_doc[] =
	"{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, \"e^f\": 3,"
	" \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, \"m~n\": 8}";

static const struct {
	const char *pointer;
	const char *expected_json;
} rfc6901_cases[] = {
	{"", NULL}, /* whole document */
	{"/foo", "[\"bar\",\"baz\"]"},
	{"/foo/0", "\"bar\""},
	{"/", "0"},
	{"/a~1b", "1"},
	{"/c%d", "2"},
	{"/e^f", "3"},
	{"/g|h", "4"},
	{"/i\\j", "5"},
	{"/k\"l", "6"},
	{"/ ", "7"},
	{"/m~0n", "8"},
};

START_TEST(rfc6901_examples)
{
	cJSON *doc = cJSON_Parse(rfc6901_doc);
	ck_assert_ptr_nonnull(doc);
	cJSON *found = NULL;
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, rfc6901_cases[_i].pointer), 0);
	if (rfc6901_cases[_i].expected_json == NULL) {
		ck_assert_ptr_eq(found, doc);
	} else {
		cJSON *expected = cJSON_Parse(rfc6901_cases[_i].expected_json);
		ck_assert_msg(keelson_json_equal(found, expected), "pointer %s", rfc6901_cases[_i].pointer);
		cJSON_Delete(expected);
	}
	cJSON_Delete(doc);
}
END_TEST

START_TEST(pointer_errors)
{
	cJSON *doc = cJSON_Parse("{\"a\":[1,2],\"b\":{\"c\":true}}");
	cJSON *found = (cJSON *)1;
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "a"), KEELSON_EINVALID);
	ck_assert_ptr_null(found);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/a/01"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/a/x"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/a/2"), KEELSON_ENOTFOUND);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/a/-"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/b/d"), KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "\"/b/d\""));
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/b/c/d"), KEELSON_ENOTFOUND);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/b~2"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_json_pointer_get(&found, doc, "/a/1"), 0);
	ck_assert_double_eq(found->valuedouble, 2);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(pointer_build_and_parse_round_trip)
{
	char *p = keelson_json_pointer_append("", "metadata");
	char *q = keelson_json_pointer_append(p, "annotations");
	char *r = keelson_json_pointer_append(q, "example.com/a~b");
	char *s = keelson_json_pointer_append_index(r, 12);
	ck_assert_str_eq(s, "/metadata/annotations/example.com~1a~0b/12");

	char **tokens;
	size_t count;
	ck_assert_int_eq(keelson_json_pointer_parse(&tokens, &count, s), 0);
	ck_assert_uint_eq(count, 4);
	ck_assert_str_eq(tokens[2], "example.com/a~b");
	ck_assert_str_eq(tokens[3], "12");
	keelson_json_pointer_tokens_free(tokens, count);
	ck_assert_int_eq(keelson_json_pointer_parse(&tokens, &count, ""), 0);
	ck_assert_uint_eq(count, 0);
	free(p);
	free(q);
	free(r);
	free(s);
}
END_TEST

static const struct {
	const char *input;
	const char *canonical;
} canonical_cases[] = {
	{"{\"b\":1,\"a\":{\"d\":[3,2,1],\"c\":null}}", "{\"a\":{\"c\":null,\"d\":[3,2,1]},\"b\":1}"},
	{"{ \"z\" : true , \"y\" : false }", "{\"y\":false,\"z\":true}"},
	{"[1.5, 0.1, -0, 1e3, 9007199254740992, 1e300]", "[1.5,0.1,0,1000,9007199254740992,1e+300]"},
	{"\"tab\\tquote\\\"nl\\n\\u0001é\"", "\"tab\\tquote\\\"nl\\n\\u0001é\""},
	{"{\"B\":1,\"a\":2,\"\":3}", "{\"\":3,\"B\":1,\"a\":2}"},
	{"[]", "[]"},
	{"{}", "{}"},
	/* A key written twice counts once, with its last value (found by
	 * tests/fuzz: the canonical form did not read back as equal). */
	{"{\"k\":\"P\",\"a\":1,\"k\":\"Q\"}", "{\"a\":1,\"k\":\"Q\"}"},
};

START_TEST(canonical_output)
{
	cJSON *value = cJSON_Parse(canonical_cases[_i].input);
	ck_assert_ptr_nonnull(value);
	char *text = keelson_json_canonical(value);
	ck_assert_str_eq(text, canonical_cases[_i].canonical);
	/* Canonical output parses back to an equal value. */
	cJSON *again = cJSON_Parse(text);
	ck_assert(keelson_json_equal(value, again));
	cJSON_Delete(again);
	free(text);
	cJSON_Delete(value);
}
END_TEST

START_TEST(canonical_keeps_raw_big_integers_and_rejects_nan)
{
	cJSON *object = cJSON_CreateObject();
	cJSON_AddItemToObject(object, "big", cJSON_CreateRaw("9007199254740993"));
	char *text = keelson_json_canonical(object);
	ck_assert_str_eq(text, "{\"big\":9007199254740993}");
	free(text);
	cJSON_AddNumberToObject(object, "bad", NAN);
	ck_assert_ptr_null(keelson_json_canonical(object));
	ck_assert_int_eq(keelson_error_last()->code, KEELSON_EINVALID);
	cJSON_Delete(object);
}
END_TEST

START_TEST(equality)
{
	cJSON *a = cJSON_Parse("{\"x\":[1,{\"y\":\"z\"}],\"n\":null,\"t\":true}");
	cJSON *b = cJSON_Parse("{\"t\":true,\"n\":null,\"x\":[1.0,{\"y\":\"z\"}]}");
	cJSON *c = cJSON_Parse("{\"t\":true,\"n\":null,\"x\":[{\"y\":\"z\"},1]}");
	cJSON *d = cJSON_Parse("{\"t\":true,\"n\":null,\"x\":[1,{\"y\":\"z\"}],\"extra\":0}");
	cJSON *e = cJSON_Parse("{\"t\":\"true\",\"n\":null,\"x\":[1,{\"y\":\"z\"}]}");
	ck_assert(keelson_json_equal(a, b));
	ck_assert(!keelson_json_equal(a, c));
	ck_assert(!keelson_json_equal(a, d));
	ck_assert(!keelson_json_equal(d, a));
	ck_assert(!keelson_json_equal(a, e));
	ck_assert(!keelson_json_equal(a, NULL));
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(c);
	cJSON_Delete(d);
	cJSON_Delete(e);
}
END_TEST

/* Found by tests/fuzz (crashes/json_api): two copies of a document with a
 * duplicate key were not equal, and equality depended on member order. */
START_TEST(equality_with_duplicate_keys)
{
	cJSON *a = cJSON_Parse("{\"k\":\"P\",\"x\":1,\"k\":\"Q\"}");
	cJSON *b = cJSON_Parse("{\"x\":1,\"k\":\"P\",\"k\":\"Q\"}");
	cJSON *c = cJSON_Parse("{\"x\":1,\"k\":\"Q\"}");
	cJSON *d = cJSON_Parse("{\"x\":1,\"k\":\"Q\",\"k\":\"P\"}");
	cJSON *a2 = cJSON_Duplicate(a, 1);
	ck_assert(keelson_json_equal(a, a2));
	ck_assert(keelson_json_equal(a, b));
	ck_assert(keelson_json_equal(b, a));
	ck_assert(keelson_json_equal(a, c));
	ck_assert(keelson_json_equal(c, a));
	ck_assert(!keelson_json_equal(a, d));
	ck_assert(!keelson_json_equal(d, c));
	cJSON_Delete(a);
	cJSON_Delete(a2);
	cJSON_Delete(b);
	cJSON_Delete(c);
	cJSON_Delete(d);
}
END_TEST

static Suite *suite_json(void)
{
	Suite *s = suite_create("json");
	TCase *tc;

	tc = tcase_create("keelson_json_pointer_get");
	tcase_add_loop_test(tc, rfc6901_examples, 0, sizeof(rfc6901_cases) / sizeof(rfc6901_cases[0]));
	tcase_add_test(tc, pointer_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_json_pointer_append");
	tcase_add_test(tc, pointer_build_and_parse_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_json_canonical");
	tcase_add_loop_test(tc, canonical_output, 0, sizeof(canonical_cases) / sizeof(canonical_cases[0]));
	tcase_add_test(tc, canonical_keeps_raw_big_integers_and_rejects_nan);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_json_equal");
	tcase_add_test(tc, equality);
	tcase_add_test(tc, equality_with_duplicate_keys);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_json)
