#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/patch/json_patch.h"
#include "tests/kubesim/patch/test_support.h"
#include "tests/unit/check_main.h"

struct vector {
	const char *comment;
	const char *doc;
	const char *patch;
	const char *expected; /* NULL: the patch must fail */
	const char *error;    /* substring of the message when it fails, or NULL */
};

/* RFC 6902 appendix A. A.13 (duplicate "op" members) is not representable:
 * cJSON keeps both members and we read the first. */
static const struct vector rfc_vectors[] = {
	{ "A.1 add an object member", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
	  "{\"baz\":\"qux\",\"foo\":\"bar\"}", NULL },
	{ "A.2 add an array element", "{\"foo\":[\"bar\",\"baz\"]}",
	  "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
	  "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", NULL },
	{ "A.3 remove an object member", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
	  "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}", NULL },
	{ "A.4 remove an array element", "{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
	  "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", "{\"foo\":[\"bar\",\"baz\"]}", NULL },
	{ "A.5 replace a value", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
	  "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
	  "{\"baz\":\"boo\",\"foo\":\"bar\"}", NULL },
	{ "A.6 move a value", "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
	  "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
	  "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", NULL },
	{ "A.7 move an array element", "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
	  "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
	  "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", NULL },
	{ "A.8 testing a value: success", "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
	  "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
	  "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", NULL },
	{ "A.9 testing a value: error", "{\"baz\":\"qux\"}",
	  "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL,
	  "testing value /baz failed: test failed" },
	{ "A.10 adding a nested member object", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
	  "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", NULL },
	{ "A.11 ignoring unrecognized elements", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
	  "{\"foo\":\"bar\",\"baz\":\"qux\"}", NULL },
	{ "A.12 adding to a nonexistent target", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", NULL,
	  "add operation does not apply: doc is missing path: \"/baz/bat\": missing value" },
	{ "A.14 ~ escape ordering", "{\"/\":9,\"~1\":10}",
	  "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", "{\"/\":9,\"~1\":10}", NULL },
	{ "A.15 comparing strings and numbers", "{\"/\":9,\"~1\":10}",
	  "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", NULL, "test failed" },
	{ "A.16 adding an array value", "{\"foo\":[\"bar\"]}",
	  "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
	  "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", NULL },
};

#define SPEC_DOC                                                                                \
	"{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,\"i\\\\j\":5," \
	"\"k\\\"l\":6,\" \":7,\"m~n\":8}"

/* Cases in the style of json-patch/json-patch-tests (tests.json and
 * spec_tests.json), written from the behaviour they check. */
static const struct vector suite_vectors[] = {
	{ "empty patch, empty object", "{}", "[]", "{}", NULL },
	{ "empty patch, empty array", "[]", "[]", "[]", NULL },
	{ "empty patch keeps members", "{\"foo\":1,\"bar\":2}", "[]", "{\"bar\":2,\"foo\":1}", NULL },
	{ "add replaces null member", "{\"foo\":null}",
	  "[{\"op\":\"add\",\"path\":\"/foo\",\"value\":1}]", "{\"foo\":1}", NULL },
	{ "add to top-level array", "[]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":\"foo\"}]",
	  "[\"foo\"]", NULL },
	{ "add with empty-string key", "{}", "[{\"op\":\"add\",\"path\":\"/\",\"value\":1}]",
	  "{\"\":1}", NULL },
	{ "add replaces an existing member", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/foo\",\"value\":\"baz\"}]", "{\"foo\":\"baz\"}", NULL },
	{ "add root replaces document", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"\",\"value\":{\"baz\":\"qux\"}}]", "{\"baz\":\"qux\"}", NULL },
	{ "replace root object with array", "{}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[]}]",
	  "[]", NULL },
	{ "add into array middle", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/1\",\"value\":\"bar\"}]", "[\"foo\",\"bar\",\"sil\"]", NULL },
	{ "add into array front", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/0\",\"value\":\"bar\"}]", "[\"bar\",\"foo\",\"sil\"]", NULL },
	{ "add at array end index", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/2\",\"value\":\"bar\"}]", "[\"foo\",\"sil\",\"bar\"]", NULL },
	{ "add out of bounds (upper)", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/3\",\"value\":\"bar\"}]", NULL,
	  "error in add for path: '/3': Unable to access invalid index: 3: invalid index referenced" },
	{ "add out of bounds (lower)", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/-1\",\"value\":\"bar\"}]", NULL, "invalid index referenced" },
	{ "object operation on array target", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/bar\",\"value\":42}]", NULL, "invalid index" },
	{ "add array value into array", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/1\",\"value\":[\"bar\",\"baz\"]}]",
	  "[\"foo\",[\"bar\",\"baz\"],\"sil\"]", NULL },
	{ "add with bad number", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"add\",\"path\":\"/1e0\",\"value\":\"bar\"}]", NULL, "invalid index" },
	{ "add to - appends", "[1,2]",
	  "[{\"op\":\"add\",\"path\":\"/-\",\"value\":{\"foo\":[\"bar\",\"baz\"]}}]",
	  "[1,2,{\"foo\":[\"bar\",\"baz\"]}]", NULL },
	{ "add to - appends n levels down", "[1,2,[3,[4,5]]]",
	  "[{\"op\":\"add\",\"path\":\"/2/1/-\",\"value\":{\"foo\":[\"bar\",\"baz\"]}}]",
	  "[1,2,[3,[4,5,{\"foo\":[\"bar\",\"baz\"]}]]]", NULL },
	{ "add true, false and null", "{}",
	  "[{\"op\":\"add\",\"path\":\"/t\",\"value\":true},{\"op\":\"add\",\"path\":\"/f\",\"value\":false},"
	  "{\"op\":\"add\",\"path\":\"/n\",\"value\":null}]",
	  "{\"t\":true,\"f\":false,\"n\":null}", NULL },
	{ "add is case sensitive", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/FOO\",\"value\":\"BAR\"}]", "{\"foo\":\"bar\",\"FOO\":\"BAR\"}", NULL },
	{ "add nested in array item", "{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
	  "[{\"op\":\"add\",\"path\":\"/baz/0/foo\",\"value\":\"world\"}]",
	  "{\"foo\":1,\"baz\":[{\"qux\":\"hello\",\"foo\":\"world\"}]}", NULL },
	{ "add beyond array bounds", "{\"bar\":[1,2]}",
	  "[{\"op\":\"add\",\"path\":\"/bar/8\",\"value\":\"5\"}]", NULL, "invalid index referenced" },
	{ "add through a scalar", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"add\",\"path\":\"/foo/bar\",\"value\":1}]", NULL, "doc is missing path" },
	{ "remove nested member", "{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
	  "[{\"op\":\"remove\",\"path\":\"/baz/0/qux\"}]", "{\"foo\":1,\"baz\":[{}]}", NULL },
	{ "remove from array", "[1,2,3,4]", "[{\"op\":\"remove\",\"path\":\"/0\"}]", "[2,3,4]", NULL },
	{ "repeated removes", "[1,2,3,4]",
	  "[{\"op\":\"remove\",\"path\":\"/1\"},{\"op\":\"remove\",\"path\":\"/2\"}]", "[1,3]", NULL },
	{ "remove null member", "{\"foo\":null}", "[{\"op\":\"remove\",\"path\":\"/foo\"}]", "{}", NULL },
	{ "remove nonexistent field", "{\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", NULL,
	  "error in remove for path: '/baz': Unable to remove nonexistent key: baz: missing value" },
	{ "remove deep nonexistent path", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"remove\",\"path\":\"/missing1/missing2\"}]", NULL,
	  "remove operation does not apply: doc is missing path: \"/missing1/missing2\": missing value" },
	{ "remove nonexistent index", "[\"foo\",\"bar\"]", "[{\"op\":\"remove\",\"path\":\"/2\"}]", NULL,
	  "Unable to access invalid index: 2" },
	{ "remove with bad number", "{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
	  "[{\"op\":\"remove\",\"path\":\"/baz/1e0/qux\"}]", NULL, "doc is missing path" },
	{ "remove with bad index", "[1,2,3,4]", "[{\"op\":\"remove\",\"path\":\"/1e0\"}]", NULL,
	  "invalid index" },
	{ "replace member with array", "{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
	  "[{\"op\":\"replace\",\"path\":\"/foo\",\"value\":[1,2,3,4]}]",
	  "{\"foo\":[1,2,3,4],\"baz\":[{\"qux\":\"hello\"}]}", NULL },
	{ "replace nested member", "{\"foo\":[1,2,3,4],\"baz\":[{\"qux\":\"hello\"}]}",
	  "[{\"op\":\"replace\",\"path\":\"/baz/0/qux\",\"value\":\"world\"}]",
	  "{\"foo\":[1,2,3,4],\"baz\":[{\"qux\":\"world\"}]}", NULL },
	{ "replace array items with scalars", "[\"\",\"\",\"\",\"\"]",
	  "[{\"op\":\"replace\",\"path\":\"/0\",\"value\":0},{\"op\":\"replace\",\"path\":\"/1\",\"value\":true},"
	  "{\"op\":\"replace\",\"path\":\"/2\",\"value\":false},{\"op\":\"replace\",\"path\":\"/3\",\"value\":null}]",
	  "[0,true,false,null]", NULL },
	{ "replace array item with array", "[\"foo\",\"sil\"]",
	  "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":[\"bar\",\"baz\"]}]",
	  "[\"foo\",[\"bar\",\"baz\"]]", NULL },
	{ "replace root", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"baz\":\"qux\"}}]", "{\"baz\":\"qux\"}", NULL },
	{ "replace null member", "{\"foo\":null}",
	  "[{\"op\":\"replace\",\"path\":\"/foo\",\"value\":\"truthy\"}]", "{\"foo\":\"truthy\"}", NULL },
	{ "replace with null", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"replace\",\"path\":\"/foo\",\"value\":null}]", "{\"foo\":null}", NULL },
	{ "replace missing member", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":1}]", NULL,
	  "replace operation does not apply: doc is missing key: /baz: missing value" },
	{ "replace with bad number", "[\"\"]",
	  "[{\"op\":\"replace\",\"path\":\"/1e0\",\"value\":false}]", NULL, "doc is missing key" },
	{ "move to same location is a no-op", "{\"foo\":1}",
	  "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo\"}]", "{\"foo\":1}", NULL },
	{ "move member", "{\"foo\":1,\"baz\":[{\"qux\":\"hello\"}]}",
	  "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/bar\"}]",
	  "{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1}", NULL },
	{ "move member into array", "{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1}",
	  "[{\"op\":\"move\",\"from\":\"/baz/0/qux\",\"path\":\"/baz/1\"}]",
	  "{\"baz\":[{},\"hello\"],\"bar\":1}", NULL },
	{ "move null member", "{\"foo\":null}",
	  "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/bar\"}]", "{\"bar\":null}", NULL },
	{ "move with bad number", "{\"foo\":1,\"baz\":[1,2,3,4]}",
	  "[{\"op\":\"move\",\"from\":\"/baz/1e0\",\"path\":\"/foo\"}]", NULL, "invalid index" },
	{ "move from missing", "{\"foo\":1}",
	  "[{\"op\":\"move\",\"from\":\"/bar\",\"path\":\"/foo\"}]", NULL,
	  "Unable to remove nonexistent key: bar" },
	{ "move into own child", "{\"foo\":{\"bar\":1}}",
	  "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo/bar/baz\"}]", NULL, "into itself" },
	{ "copy array item", "{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1}",
	  "[{\"op\":\"copy\",\"from\":\"/baz/0\",\"path\":\"/boo\"}]",
	  "{\"baz\":[{\"qux\":\"hello\"}],\"bar\":1,\"boo\":{\"qux\":\"hello\"}}", NULL },
	{ "copy null member", "{\"foo\":null}",
	  "[{\"op\":\"copy\",\"from\":\"/foo\",\"path\":\"/bar\"}]", "{\"foo\":null,\"bar\":null}", NULL },
	{ "copy with bad number", "{\"baz\":[1,2,3],\"bar\":1}",
	  "[{\"op\":\"copy\",\"from\":\"/baz/1e0\",\"path\":\"/boo\"}]", NULL,
	  "copy operation does not apply: doc is missing from path: /baz/1e0: missing value" },
	{ "copy is deep", "{\"a\":{\"b\":1}}",
	  "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},{\"op\":\"replace\",\"path\":\"/c/b\",\"value\":2}]",
	  "{\"a\":{\"b\":1},\"c\":{\"b\":2}}", NULL },
	{ "test null member", "{\"foo\":null}", "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":null}]",
	  "{\"foo\":null}", NULL },
	{ "test nested structure", "{\"foo\":{\"bar\":[1,2,5,4]}}",
	  "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":{\"bar\":[1,2,5,4]}}]",
	  "{\"foo\":{\"bar\":[1,2,5,4]}}", NULL },
	{ "test nested structure mismatch", "{\"foo\":{\"bar\":[1,2,5,4]}}",
	  "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":[1,2]}]", NULL, "test failed" },
	{ "test whole document", "{\"foo\":1}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"foo\":1}}]",
	  "{\"foo\":1}", NULL },
	{ "test numbers compare by value", "{\"n\":1}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1.0}]",
	  "{\"n\":1}", NULL },
	{ "test member named like a number", "{\"1e0\":\"foo\"}",
	  "[{\"op\":\"test\",\"path\":\"/1e0\",\"value\":\"foo\"}]", "{\"1e0\":\"foo\"}", NULL },
	{ "test leading zero index", "[\"foo\",\"bar\"]",
	  "[{\"op\":\"test\",\"path\":\"/00\",\"value\":\"foo\"}]", NULL, "test failed" },
	{ "test leading zero index 01", "[\"foo\",\"bar\"]",
	  "[{\"op\":\"test\",\"path\":\"/01\",\"value\":\"bar\"}]", NULL, "test failed" },
	{ "test path to nonexistent field", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL, "testing value /baz failed" },
	{ "test below a missing member", "{\"foo\":\"bar\"}",
	  "[{\"op\":\"test\",\"path\":\"/a/b\",\"value\":1}]", NULL,
	  "test operation does not apply: is missing path: /a/b: missing value" },
	{ "test true is not 1", "{\"b\":true}", "[{\"op\":\"test\",\"path\":\"/b\",\"value\":1}]", NULL,
	  "test failed" },
	{ "test false is not true", "{\"b\":false}",
	  "[{\"op\":\"test\",\"path\":\"/b\",\"value\":true}]", NULL, "test failed" },
	{ "missing path", "{}", "[{\"op\":\"add\",\"value\":\"bar\"}]", NULL,
	  "add operation failed to decode path" },
	{ "null path", "{}", "[{\"op\":\"add\",\"path\":null,\"value\":\"bar\"}]", NULL,
	  "add operation failed to decode path" },
	{ "pointer without leading slash", "{}", "[{\"op\":\"add\",\"path\":\"foo\",\"value\":\"bar\"}]",
	  NULL, "must be empty or start with '/'" },
	{ "bad ~ escape", "{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", NULL,
	  "'~' must be followed by 0 or 1" },
	{ "missing value for add", "{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/bar\"}]", NULL,
	  "has no \"value\" member" },
	{ "missing value for replace", "{\"foo\":1}", "[{\"op\":\"replace\",\"path\":\"/foo\"}]", NULL,
	  "has no \"value\" member" },
	{ "missing value for test", "{\"foo\":1}", "[{\"op\":\"test\",\"path\":\"/foo\"}]", NULL,
	  "has no \"value\" member" },
	{ "missing from for move", "{\"foo\":1}", "[{\"op\":\"move\",\"path\":\"/bar\"}]", NULL,
	  "move operation failed to decode from" },
	{ "missing from for copy", "{\"foo\":1}", "[{\"op\":\"copy\",\"path\":\"/bar\"}]", NULL,
	  "copy operation failed to decode from" },
	{ "unrecognized op", "{\"foo\":1}", "[{\"op\":\"spam\",\"path\":\"/foo\",\"value\":1}]", NULL,
	  "Unexpected kind: spam" },
	{ "missing op", "{\"foo\":1}", "[{\"path\":\"/foo\",\"value\":1}]", NULL, "Unexpected kind" },
	{ "operation not an object", "{\"foo\":1}", "[1]", NULL, "operation 0 is not a JSON object" },
	{ "patch not an array", "{\"foo\":1}", "{\"op\":\"add\"}", NULL, "cannot unmarshal object" },
	{ "spec: whole document", SPEC_DOC, "[{\"op\":\"test\",\"path\":\"\",\"value\":" SPEC_DOC "}]",
	  SPEC_DOC, NULL },
	{ "spec: pointer tokens", SPEC_DOC,
	  "[{\"op\":\"test\",\"path\":\"/foo\",\"value\":[\"bar\",\"baz\"]},"
	  "{\"op\":\"test\",\"path\":\"/foo/0\",\"value\":\"bar\"},"
	  "{\"op\":\"test\",\"path\":\"/\",\"value\":0},"
	  "{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},"
	  "{\"op\":\"test\",\"path\":\"/c%d\",\"value\":2},"
	  "{\"op\":\"test\",\"path\":\"/e^f\",\"value\":3},"
	  "{\"op\":\"test\",\"path\":\"/g|h\",\"value\":4},"
	  "{\"op\":\"test\",\"path\":\"/i\\\\j\",\"value\":5},"
	  "{\"op\":\"test\",\"path\":\"/k\\\"l\",\"value\":6},"
	  "{\"op\":\"test\",\"path\":\"/ \",\"value\":7},"
	  "{\"op\":\"test\",\"path\":\"/m~0n\",\"value\":8}]",
	  SPEC_DOC, NULL },
	{ "kubectl-style: scale and add a label", "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1}}",
	  "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":1},"
	  "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3},"
	  "{\"op\":\"add\",\"path\":\"/metadata/labels\",\"value\":{\"app.kubernetes.io~1name\":\"web\"}}]",
	  "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app.kubernetes.io~1name\":\"web\"}},\"spec\":{\"replicas\":3}}",
	  NULL },
};

static void run_vector(const struct vector *v)
{
	cJSON *doc = ks_test_json(v->doc);
	cJSON *patch = ks_test_json(v->patch);
	char *before = cJSON_PrintUnformatted(doc);
	cJSON *out = (cJSON *)0x1; /* must stay untouched on failure */
	keelson_error_clear();
	int rc = ks_json_patch_apply(&out, doc, patch);
	if (v->expected) {
		ck_assert_msg(rc == 0, "%s: failed: %s", v->comment, keelson_error_last()->message);
		ks_assert_json_eq(out, v->expected);
		cJSON_Delete(out);
	} else {
		ck_assert_msg(rc == KEELSON_EINVALID, "%s: expected EINVALID, got %d", v->comment, rc);
		ck_assert_ptr_eq(out, (cJSON *)0x1);
		if (v->error)
			ck_assert_msg(strstr(keelson_error_last()->message, v->error) != NULL,
				      "%s: message \"%s\" lacks \"%s\"", v->comment,
				      keelson_error_last()->message, v->error);
	}
	/* The input document is never modified. */
	char *after = cJSON_PrintUnformatted(doc);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}

START_TEST(test_rfc6902_appendix_a)
{
	run_vector(&rfc_vectors[_i]);
}
END_TEST

START_TEST(test_json_patch_suite)
{
	run_vector(&suite_vectors[_i]);
}
END_TEST

START_TEST(test_failure_is_atomic)
{
	/* The first operation applies, the second fails: nothing may stick. */
	cJSON *doc = ks_test_json("{\"a\":1,\"list\":[1,2]}");
	cJSON *patch = ks_test_json("[{\"op\":\"remove\",\"path\":\"/a\"},{\"op\":\"add\",\"path\":\"/list/-\",\"value\":3},"
				    "{\"op\":\"test\",\"path\":\"/list/0\",\"value\":9}]");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_json_patch_apply(&out, doc, patch), KEELSON_EINVALID);
	ck_assert_ptr_null(out);
	ks_assert_json_text(doc, "{\"a\":1,\"list\":[1,2]}");
	ck_assert_str_eq(keelson_error_last()->message, "testing value /list/0 failed: test failed");
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_add_keeps_member_order)
{
	cJSON *doc = ks_test_json("{\"a\":1,\"b\":2,\"c\":3}");
	cJSON *patch = ks_test_json("[{\"op\":\"add\",\"path\":\"/b\",\"value\":20},{\"op\":\"add\",\"path\":\"/d\",\"value\":4}]");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_json_patch_apply(&out, doc, patch), 0);
	ks_assert_json_text(out, "{\"a\":1,\"b\":20,\"c\":3,\"d\":4}");
	cJSON_Delete(out);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_operation_limit)
{
	cJSON *doc = ks_test_json("{}");
	cJSON *patch = cJSON_CreateArray();
	for (int i = 0; i <= KS_JSON_PATCH_MAX_OPERATIONS; i++)
		cJSON_AddItemToArray(patch, ks_test_json("{\"op\":\"test\",\"path\":\"\",\"value\":{}}"));
	cJSON *out = NULL;
	ck_assert_int_eq(ks_json_patch_apply(&out, doc, patch), KEELSON_ELIMIT);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(keelson_error_last()->message,
			 "The allowed operations in a JSON patch is 10000, got 10001");
	cJSON_Delete(cJSON_DetachItemFromArray(patch, 0));
	ck_assert_int_eq(ks_json_patch_apply(&out, doc, patch), 0);
	cJSON_Delete(out);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_null_arguments)
{
	cJSON *doc = ks_test_json("{}");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_json_patch_apply(&out, doc, NULL), KEELSON_EINVALID);
	ck_assert_int_eq(ks_json_patch_apply(&out, NULL, doc), KEELSON_EINVALID);
	ck_assert_ptr_null(out);
	cJSON_Delete(doc);
}
END_TEST

static Suite *suite_json_patch(void)
{
	Suite *s = suite_create("json_patch");
	TCase *tc = tcase_create("ks_json_patch_apply");
	tcase_add_loop_test(tc, test_rfc6902_appendix_a, 0,
			    (int)(sizeof(rfc_vectors) / sizeof(rfc_vectors[0])));
	tcase_add_loop_test(tc, test_json_patch_suite, 0,
			    (int)(sizeof(suite_vectors) / sizeof(suite_vectors[0])));
	tcase_add_test(tc, test_failure_is_atomic);
	tcase_add_test(tc, test_add_keeps_member_order);
	tcase_add_test(tc, test_operation_limit);
	tcase_add_test(tc, test_null_arguments);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_json_patch)
