/* Helpers shared by the apply test programs. */
#ifndef KS_APPLY_TEST_SUPPORT_H
#define KS_APPLY_TEST_SUPPORT_H

#include <check.h>
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Parse JSON written with single quotes (so C literals stay readable);
 * the tests never need a literal apostrophe. */
static inline cJSON *test_json(const char *text)
{
	char *copy = strdup(text);
	ck_assert_ptr_nonnull(copy);
	for (char *p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	cJSON *json = cJSON_Parse(copy);
	ck_assert_msg(json != NULL, "test JSON does not parse: %s", text);
	free(copy);
	return json;
}

/* A NULL-terminated list of path elements, e.g. "f:spec", "f:replicas". */
static inline size_t test_path(const char **out, size_t max, va_list ap)
{
	size_t n = 0;
	const char *e;
	while ((e = va_arg(ap, const char *)) != NULL && n < max)
		out[n++] = e;
	return n;
}

/* The property TCase of the server-side apply program (test_apply_properties.c). */
TCase *tcase_server_side_apply_properties(void);

#endif
