#include "config.h"

#include "core/error.h"
#include "diff/quantity.h"
#include "tests/unit/check_main.h"

#include <cjson/cJSON.h>

static int same(const char *a, const char *b)
{
	struct keelson_quantity qa, qb;
	ck_assert_msg(keelson_quantity_parse(&qa, a) == 0, "%s: %s", a, keelson_error_last()->message);
	ck_assert_msg(keelson_quantity_parse(&qb, b) == 0, "%s: %s", b, keelson_error_last()->message);
	return keelson_quantity_equal(&qa, &qb);
}

START_TEST(test_parse_equal_values)
{
	ck_assert(same("1024Mi", "1Gi"));
	ck_assert(same("1Gi", "1073741824"));
	ck_assert(same("1000m", "1"));
	ck_assert(same("1500m", "1.5"));
	ck_assert(same("0.5", "500m"));
	ck_assert(same("1e3", "1k"));
	ck_assert(same("1E3", "1000"));
	ck_assert(same("1000M", "1G"));
	ck_assert(same("12e-3", "12m"));
	ck_assert(same("+5", "5"));
	ck_assert(same("0", "0Gi"));
	ck_assert(same("-0", "0m"));
	ck_assert(same(".5", "0.50"));
	ck_assert(same("1Ki", "1.024k"));
	ck_assert(same("1Ei", "1152921504606846976"));
	ck_assert(same("100.000", "100"));
	ck_assert(same("0.001k", "1"));
}
END_TEST

START_TEST(test_parse_different_values)
{
	ck_assert(!same("1Gi", "1G"));
	ck_assert(!same("1Mi", "1M"));
	ck_assert(!same("1", "1001m"));
	ck_assert(!same("-1", "1"));
	ck_assert(!same("1E", "1Ei"));
	ck_assert(!same("1.000000000000000001", "1"));
	/* 2^-1 and 5^-1 keep their exact value: 0.5 != 0.2. */
	ck_assert(!same("0.5", "0.2"));
}
END_TEST

START_TEST(test_parse_rejects)
{
	struct keelson_quantity q;
	const char *bad[] = {"", "Gi", "1.2.3", "1Gb", "1 Gi", "1e", "1e+", "1ee3", "1e1001",
			     "12345678901234567891", "abc", "1x", ".", "--1", "1e18i"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(keelson_quantity_parse(&q, bad[i]) == KEELSON_EINVALID, "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(keelson_quantity_parse(&q, NULL), KEELSON_EINVALID);
	/* Trailing zeros are exponent, not significant digits. */
	ck_assert_int_eq(keelson_quantity_parse(&q, "100000000000000000000000000000"), 0);
	ck_assert_uint_eq(q.coefficient, 1);
	ck_assert_int_eq(q.exp2, 29);
	ck_assert_int_eq(q.exp5, 29);
}
END_TEST

START_TEST(test_normal_form)
{
	struct keelson_quantity q;
	ck_assert_int_eq(keelson_quantity_parse(&q, "1536Mi"), 0); /* 3 * 2^29 */
	ck_assert_int_eq(q.sign, 1);
	ck_assert_uint_eq(q.coefficient, 3);
	ck_assert_int_eq(q.exp2, 29);
	ck_assert_int_eq(q.exp5, 0);
	ck_assert_int_eq(keelson_quantity_parse(&q, "-250m"), 0); /* -1 * 2^-2 */
	ck_assert_int_eq(q.sign, -1);
	ck_assert_uint_eq(q.coefficient, 1);
	ck_assert_int_eq(q.exp2, -2);
	ck_assert_int_eq(q.exp5, 0);
}
END_TEST

START_TEST(test_from_json)
{
	struct keelson_quantity a, b;
	cJSON *n = cJSON_CreateNumber(2), *s = cJSON_CreateString("2000m");
	cJSON *half = cJSON_CreateNumber(0.5), *h = cJSON_CreateString("500m");
	cJSON *tenth = cJSON_CreateNumber(0.1), *t = cJSON_CreateString("100m");
	cJSON *flag = cJSON_CreateTrue();
	ck_assert_int_eq(keelson_quantity_from_json(&a, n), 0);
	ck_assert_int_eq(keelson_quantity_from_json(&b, s), 0);
	ck_assert(keelson_quantity_equal(&a, &b));
	ck_assert_int_eq(keelson_quantity_from_json(&a, half), 0);
	ck_assert_int_eq(keelson_quantity_from_json(&b, h), 0);
	ck_assert(keelson_quantity_equal(&a, &b));
	ck_assert_int_eq(keelson_quantity_from_json(&a, tenth), 0);
	ck_assert_int_eq(keelson_quantity_from_json(&b, t), 0);
	ck_assert(keelson_quantity_equal(&a, &b));
	ck_assert_int_eq(keelson_quantity_from_json(&a, flag), KEELSON_EINVALID);
	cJSON_Delete(n);
	cJSON_Delete(s);
	cJSON_Delete(half);
	cJSON_Delete(h);
	cJSON_Delete(tenth);
	cJSON_Delete(t);
	cJSON_Delete(flag);
}
END_TEST

Suite *suite_quantity(void);
Suite *suite_quantity(void)
{
	Suite *s = suite_create("quantity");
	TCase *tc = tcase_create("keelson_quantity_parse");
	tcase_add_test(tc, test_parse_equal_values);
	tcase_add_test(tc, test_parse_different_values);
	tcase_add_test(tc, test_parse_rejects);
	tcase_add_test(tc, test_normal_form);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_quantity_from_json");
	tcase_add_test(tc, test_from_json);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_quantity)
