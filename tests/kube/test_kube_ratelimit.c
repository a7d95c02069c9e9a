#include "config.h"

#include "kube/kube_ratelimit.h"
#include "tests/unit/check_main.h"

#include <check.h>

#define SEC 1000000000ull

START_TEST(burst_then_qps)
{
	struct keelson_kube_ratelimit rl;
	uint64_t t0 = 1000 * SEC;

	keelson_kube_ratelimit_init(&rl, 10, 3, t0);
	/* The burst goes at once. */
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, t0), 0);
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, t0), 0);
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, t0), 0);
	/* Then one request per 1/qps, queued first come first served. */
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, t0), SEC / 10);
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, t0), 2 * SEC / 10);
	/* Time refills the bucket: after 1 s, 10 tokens arrive, 2 were owed. */
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, t0 + SEC), 0);
	keelson_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(refill_capped_at_burst)
{
	struct keelson_kube_ratelimit rl;
	uint64_t t0 = 5 * SEC;

	keelson_kube_ratelimit_init(&rl, 1, 2, t0);
	/* A long idle period does not bank more than `burst` tokens. */
	uint64_t later = t0 + 3600 * SEC;
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, later), 0);
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, later), 0);
	ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, later), SEC);
	keelson_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(unlimited)
{
	struct keelson_kube_ratelimit rl;

	keelson_kube_ratelimit_init(&rl, 0, 0, 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(keelson_kube_ratelimit_reserve(&rl, 0), 0);
	keelson_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(wait_sleeps)
{
	struct keelson_kube_ratelimit rl;

	keelson_kube_ratelimit_init(&rl, 20, 1, keelson_kube_now_ns());
	uint64_t start = keelson_kube_now_ns();
	keelson_kube_ratelimit_wait(&rl);
	keelson_kube_ratelimit_wait(&rl);
	keelson_kube_ratelimit_wait(&rl);
	uint64_t elapsed = keelson_kube_now_ns() - start;
	/* Two waits of 50 ms each at 20 qps. */
	ck_assert_uint_ge(elapsed, 90 * 1000000ull);
	keelson_kube_ratelimit_destroy(&rl);
}
END_TEST

START_TEST(backoff_doubles_and_caps)
{
	ck_assert_uint_eq(keelson_kube_backoff_ms(1, 250, 16000, 0), 250);
	ck_assert_uint_eq(keelson_kube_backoff_ms(2, 250, 16000, 0), 500);
	ck_assert_uint_eq(keelson_kube_backoff_ms(3, 250, 16000, 0), 1000);
	ck_assert_uint_eq(keelson_kube_backoff_ms(7, 250, 16000, 0), 16000);
	ck_assert_uint_eq(keelson_kube_backoff_ms(60, 250, 16000, 0), 16000);
	/* Jitter takes off at most 20%. */
	ck_assert_uint_eq(keelson_kube_backoff_ms(3, 250, 16000, 0.5), 900);
	ck_assert_uint_ge(keelson_kube_backoff_ms(3, 250, 16000, 0.9999), 800);
}
END_TEST

START_TEST(retry_after_values)
{
	ck_assert_int_eq(keelson_kube_retry_after_ms("3", 0, 60000), 3000);
	ck_assert_int_eq(keelson_kube_retry_after_ms(" 0", 0, 60000), 0);
	ck_assert_int_eq(keelson_kube_retry_after_ms("120", 0, 60000), 60000);
	ck_assert_int_eq(keelson_kube_retry_after_ms("99999999999999999999999", 0, 60000), 60000);
	ck_assert_int_eq(keelson_kube_retry_after_ms(NULL, 0, 60000), -1);
	ck_assert_int_eq(keelson_kube_retry_after_ms("", 0, 60000), -1);
	ck_assert_int_eq(keelson_kube_retry_after_ms("3x", 0, 60000), -1);
	ck_assert_int_eq(keelson_kube_retry_after_ms("soon", 0, 60000), -1);
	/* HTTP date: 1994-11-06 08:49:37 UTC is 784111777. */
	ck_assert_int_eq(keelson_kube_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770, 60000), 7000);
	/* A date in the past means now. */
	ck_assert_int_eq(keelson_kube_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111800, 60000), 0);
}
END_TEST

Suite *suite_kube_ratelimit(void);
Suite *suite_kube_ratelimit(void)
{
	Suite *s = suite_create("kube_ratelimit");
	TCase *tc;

	tc = tcase_create("keelson_kube_ratelimit_reserve");
	tcase_add_test(tc, burst_then_qps);
	tcase_add_test(tc, refill_capped_at_burst);
	tcase_add_test(tc, unlimited);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_ratelimit_wait");
	tcase_add_test(tc, wait_sleeps);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_backoff_ms");
	tcase_add_test(tc, backoff_doubles_and_caps);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_retry_after_ms");
	tcase_add_test(tc, retry_after_values);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_kube_ratelimit)
