#include "config.h"

#include <string.h>

#include "core/error.h"
#include "tests/kubesim/patch/merge_patch.h"
#include "tests/kubesim/patch/test_support.h"
#include "tests/unit/check_main.h"

/* RFC 7386 appendix A, every row. */
static const char *const rfc_vectors[][3] = {
	{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}" },
	{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "{\"a\":\"foo\"}", "null", "null" },
	{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
	/* Section 3's worked example. */
	{ "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
	  "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}",
	  "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{\"familyName\":null},"
	  "\"tags\":[\"example\"]}",
	  "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
	  "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}" },
	/* What kubectl scale sends to /scale. */
	{ "{\"spec\":{\"replicas\":1},\"status\":{\"replicas\":1,\"selector\":\"app=web\"}}",
	  "{\"spec\":{\"replicas\":3}}",
	  "{\"spec\":{\"replicas\":3},\"status\":{\"replicas\":1,\"selector\":\"app=web\"}}" },
};

START_TEST(test_rfc7386_appendix_a)
{
	cJSON *doc = ks_test_json(rfc_vectors[_i][0]);
	cJSON *patch = ks_test_json(rfc_vectors[_i][1]);
	char *before = cJSON_PrintUnformatted(doc);
	cJSON *out = NULL;
	ck_assert_int_eq(ks_merge_patch_apply(&out, doc, patch), 0);
	ks_assert_json_eq(out, rfc_vectors[_i][2]);
	char *after = cJSON_PrintUnformatted(doc);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	cJSON_Delete(out);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_apply_keeps_member_order)
{
	cJSON *doc = ks_test_json("{\"a\":1,\"b\":{\"x\":1,\"y\":2},\"c\":3}");
	cJSON *patch = ks_test_json("{\"b\":{\"x\":10},\"a\":null,\"d\":{\"e\":null,\"f\":1}}");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_merge_patch_apply(&out, doc, patch), 0);
	ks_assert_json_text(out, "{\"b\":{\"x\":10,\"y\":2},\"c\":3,\"d\":{\"f\":1}}");
	cJSON_Delete(out);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_apply_null_document)
{
	cJSON *patch = ks_test_json("{\"a\":{\"b\":null,\"c\":1}}");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_merge_patch_apply(&out, NULL, patch), 0);
	ks_assert_json_text(out, "{\"a\":{\"c\":1}}");
	cJSON_Delete(out);
	out = NULL;
	ck_assert_int_eq(ks_merge_patch_apply(&out, patch, NULL), KEELSON_EINVALID);
	ck_assert_ptr_null(out);
	cJSON_Delete(patch);
}
END_TEST

/* original, modified, expected patch */
static const char *const create_vectors[][3] = {
	{ "{\"a\":1}", "{\"a\":1}", "{}" },
	{ "{\"a\":1}", "{\"a\":2}", "{\"a\":2}" },
	{ "{\"a\":1,\"b\":2}", "{\"b\":2}", "{\"a\":null}" },
	{ "{}", "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1}}" },
	{ "{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"b\":1,\"c\":3,\"d\":4}}", "{\"a\":{\"c\":3,\"d\":4}}" },
	{ "{\"a\":{\"b\":1}}", "{\"a\":{}}", "{\"a\":{\"b\":null}}" },
	{ "{\"a\":[1,2]}", "{\"a\":[1,2,3]}", "{\"a\":[1,2,3]}" },
	{ "{\"a\":[1,2]}", "{\"a\":[1,2]}", "{}" },
	{ "{\"a\":\"x\"}", "{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1}}" },
	{ "{\"n\":1}", "{\"n\":1.0}", "{}" },
	{ "[1]", "[2]", "[2]" },
	{ "[1]", "[1]", "[1]" },
	{ "{\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"a:1\"}]}}}}",
	  "{\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"a:2\"}]}}}}",
	  "{\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"a:2\"}]}}}}" },
};

START_TEST(test_create)
{
	cJSON *original = ks_test_json(create_vectors[_i][0]);
	cJSON *modified = ks_test_json(create_vectors[_i][1]);
	cJSON *patch = NULL;
	ck_assert_int_eq(ks_merge_patch_create(&patch, original, modified), 0);
	ks_assert_json_eq(patch, create_vectors[_i][2]);
	/* Round trip: applying the patch to the original gives the modified. */
	cJSON *result = NULL;
	ck_assert_int_eq(ks_merge_patch_apply(&result, original, patch), 0);
	ck_assert(keelson_json_equal(result, modified));
	cJSON_Delete(result);
	cJSON_Delete(patch);
	cJSON_Delete(original);
	cJSON_Delete(modified);
}
END_TEST

START_TEST(test_create_invalid_arguments)
{
	cJSON *doc = ks_test_json("{}");
	cJSON *patch = NULL;
	ck_assert_int_eq(ks_merge_patch_create(&patch, doc, NULL), KEELSON_EINVALID);
	ck_assert_int_eq(ks_merge_patch_create(&patch, NULL, doc), KEELSON_EINVALID);
	ck_assert_ptr_null(patch);
	cJSON_Delete(doc);
}
END_TEST

static Suite *suite_merge_patch(void)
{
	Suite *s = suite_create("merge_patch");
	TCase *apply = tcase_create("ks_merge_patch_apply");
	tcase_add_loop_test(apply, test_rfc7386_appendix_a, 0,
			    (int)(sizeof(rfc_vectors) / sizeof(rfc_vectors[0])));
	tcase_add_test(apply, test_apply_keeps_member_order);
	tcase_add_test(apply, test_apply_null_document);
	suite_add_tcase(s, apply);
	TCase *create = tcase_create("ks_merge_patch_create");
	tcase_add_loop_test(create, test_create, 0,
			    (int)(sizeof(create_vectors) / sizeof(create_vectors[0])));
	tcase_add_test(create, test_create_invalid_arguments);
	suite_add_tcase(s, create);
	return s;
}

KEELSON_CHECK_MAIN(suite_merge_patch)
