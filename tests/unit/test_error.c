#include "config.h"

#include "core/error.h"
#include "tests/unit/check_main.h"

#include <pthread.h>
#include <string.h>

START_TEST(set_records_code_and_message)
{
	int rc = keelson_error_set(KEELSON_EINVALID, "%s:%d:%d: bad value", "a.yaml", 3, 7);
	ck_assert_int_eq(rc, KEELSON_EINVALID);
	ck_assert_int_eq(keelson_error_last()->code, KEELSON_EINVALID);
	ck_assert_str_eq(keelson_error_last()->message, "a.yaml:3:7: bad value");
}
END_TEST

START_TEST(wrap_prefixes_context)
{
	keelson_error_set(KEELSON_ENOTFOUND, "no such ref");
	int rc = keelson_error_wrap(KEELSON_ERROR, "fetching %s", "origin");
	ck_assert_int_eq(rc, KEELSON_ERROR);
	ck_assert_str_eq(keelson_error_last()->message, "fetching origin: no such ref");
	ck_assert_int_eq(keelson_error_last()->code, KEELSON_ERROR);
}
END_TEST

START_TEST(wrap_without_previous_message_sets_it)
{
	keelson_error_clear();
	keelson_error_wrap(KEELSON_ETIMEOUT, "waiting for pod");
	ck_assert_str_eq(keelson_error_last()->message, "waiting for pod");
}
END_TEST

START_TEST(clear_resets)
{
	keelson_error_set(KEELSON_EINVALID, "x");
	keelson_error_clear();
	ck_assert_int_eq(keelson_error_last()->code, KEELSON_OK);
	ck_assert_str_eq(keelson_error_last()->message, "");
}
END_TEST

START_TEST(long_messages_are_truncated_visibly)
{
	char big[10000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	keelson_error_set(KEELSON_ERROR, "%s", big);
	const char *m = keelson_error_last()->message;
	size_t n = strlen(m);
	ck_assert_uint_lt(n, sizeof(big));
	ck_assert_str_eq(m + n - 3, "...");
}
END_TEST

static void *set_in_thread(void *arg)
{
	(void)arg;
	keelson_error_set(KEELSON_ECONFLICT, "thread message");
	return NULL;
}

START_TEST(message_is_per_thread)
{
	pthread_t thread;
	keelson_error_set(KEELSON_EINVALID, "main message");
	pthread_create(&thread, NULL, set_in_thread, NULL);
	pthread_join(thread, NULL);
	ck_assert_str_eq(keelson_error_last()->message, "main message");
	ck_assert_int_eq(keelson_error_last()->code, KEELSON_EINVALID);
}
END_TEST

START_TEST(names_are_stable)
{
	ck_assert_str_eq(keelson_error_name(KEELSON_OK), "OK");
	ck_assert_str_eq(keelson_error_name(KEELSON_EINVALID), "EINVALID");
	ck_assert_str_eq(keelson_error_name(KEELSON_ELIMIT), "ELIMIT");
	ck_assert_str_eq(keelson_error_name(KEELSON_EUSAGE), "EUSAGE");
	ck_assert_str_eq(keelson_error_name(-9999), "UNKNOWN");
}
END_TEST

static Suite *suite_error(void)
{
	Suite *s = suite_create("error");
	TCase *tc;

	tc = tcase_create("keelson_error_set");
	tcase_add_test(tc, set_records_code_and_message);
	tcase_add_test(tc, long_messages_are_truncated_visibly);
	tcase_add_test(tc, message_is_per_thread);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_error_wrap");
	tcase_add_test(tc, wrap_prefixes_context);
	tcase_add_test(tc, wrap_without_previous_message_sets_it);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_error_clear");
	tcase_add_test(tc, clear_resets);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_error_name");
	tcase_add_test(tc, names_are_stable);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_error)
