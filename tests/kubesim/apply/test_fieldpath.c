#include "config.h"

#include <check.h>

#include "tests/kubesim/apply/fieldpath.h"
#include "tests/unit/check_main.h"

START_TEST(test_placeholder)
{
	struct ks_fieldset *s;
	ck_assert_int_eq(ks_fieldset_new(&s), 0);
	ks_fieldset_free(s);
}
END_TEST

static Suite *suite_fieldpath(void)
{
	Suite *s = suite_create("fieldpath");
	TCase *tc = tcase_create("new");
	tcase_add_test(tc, test_placeholder);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_fieldpath)
