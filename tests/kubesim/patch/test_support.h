/* Helpers shared by the patch test programs: JSON literals and value
 * assertions. Header-only and static so each test program stays one file. */
#ifndef KS_PATCH_TEST_SUPPORT_H
#define KS_PATCH_TEST_SUPPORT_H

#include <check.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_canonical.h"

static inline cJSON *ks_test_json(const char *text)
{
	cJSON *value = cJSON_Parse(text);
	ck_assert_msg(value != NULL, "test bug: invalid JSON literal: %s", text);
	return value;
}

/* Assert `actual` equals the JSON literal `expected` (member order ignored). */
#define ks_assert_json_eq(actual, expected)                                            \
	do {                                                                           \
		cJSON *ks_expected_ = ks_test_json(expected);                          \
		char *ks_actual_text_ = cJSON_PrintUnformatted(actual);                \
		int ks_equal_ = keelson_json_equal((actual), ks_expected_);            \
		cJSON_Delete(ks_expected_);                                            \
		ck_assert_msg(ks_equal_, "got %s, expected %s",                        \
			      ks_actual_text_ ? ks_actual_text_ : "(null)", expected); \
		free(ks_actual_text_);                                                 \
	} while (0)

/* Same, but member order matters too (for $setElementOrder and append order). */
#define ks_assert_json_text(actual, expected)                                          \
	do {                                                                           \
		cJSON *ks_expected_ = ks_test_json(expected);                          \
		char *ks_e_ = cJSON_PrintUnformatted(ks_expected_);                    \
		char *ks_a_ = cJSON_PrintUnformatted(actual);                          \
		cJSON_Delete(ks_expected_);                                            \
		int ks_same_ = ks_a_ && ks_e_ && strcmp(ks_a_, ks_e_) == 0;            \
		ck_assert_msg(ks_same_, "got %s, expected %s", ks_a_ ? ks_a_ : "(null)", \
			      ks_e_ ? ks_e_ : "(null)");                               \
		free(ks_a_);                                                           \
		free(ks_e_);                                                           \
	} while (0)

#endif
