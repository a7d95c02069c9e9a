#include "config.h"

#include "core/log.h"
#include "core/redact.h"
#include "tests/unit/check_main.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static char *captured;
static size_t captured_size;
static FILE *capture;

static void capture_start(enum keelson_log_level level, enum keelson_log_format format)
{
	capture = open_memstream(&captured, &captured_size);
	keelson_log_configure(level, format, capture);
}

static const char *capture_end(void)
{
	fclose(capture);
	keelson_log_configure(KEELSON_LOG_INFO, KEELSON_LOG_LOGFMT, NULL);
	return captured;
}

static void capture_free(void)
{
	free(captured);
	captured = NULL;
}

START_TEST(logfmt_line_has_time_level_message_and_fields)
{
	capture_start(KEELSON_LOG_INFO, KEELSON_LOG_LOGFMT);
	keelson_log(KEELSON_LOG_INFO, "applied object", "kind", "StatefulSet",
		    "namespace", "kafka", "name", "broker", NULL);
	const char *line = capture_end();
	ck_assert_msg(strncmp(line, "time=", 5) == 0, "line: %s", line);
	ck_assert_ptr_nonnull(strstr(line, " level=info msg=\"applied object\" kind=StatefulSet namespace=kafka name=broker\n"));
	capture_free();
}
END_TEST

START_TEST(logfmt_quotes_and_escapes_values)
{
	capture_start(KEELSON_LOG_INFO, KEELSON_LOG_LOGFMT);
	keelson_log(KEELSON_LOG_WARN, "x", "reason", "say \"hi\"\nnow", "empty", "", "null", NULL, NULL);
	const char *line = capture_end();
	ck_assert_ptr_nonnull(strstr(line, "reason=\"say \\\"hi\\\"\\nnow\" empty=\"\" null=\"\""));
	ck_assert_int_eq(strchr(line, '\n') - line, (long)strlen(line) - 1);
	capture_free();
}
END_TEST

START_TEST(json_line_parses_with_fields)
{
	capture_start(KEELSON_LOG_DEBUG, KEELSON_LOG_JSON);
	keelson_log(KEELSON_LOG_ERROR, "step failed", "step", "delete pod \"a\"", NULL);
	const char *line = capture_end();
	cJSON *json = cJSON_Parse(line);
	ck_assert_ptr_nonnull(json);
	ck_assert_str_eq(cJSON_GetObjectItem(json, "level")->valuestring, "error");
	ck_assert_str_eq(cJSON_GetObjectItem(json, "msg")->valuestring, "step failed");
	ck_assert_str_eq(cJSON_GetObjectItem(json, "step")->valuestring, "delete pod \"a\"");
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(json, "time"));
	cJSON_Delete(json);
	capture_free();
}
END_TEST

START_TEST(lines_below_level_are_dropped)
{
	capture_start(KEELSON_LOG_WARN, KEELSON_LOG_LOGFMT);
	keelson_log(KEELSON_LOG_INFO, "quiet", NULL);
	keelson_log(KEELSON_LOG_DEBUG, "quieter", NULL);
	const char *out = capture_end();
	ck_assert_str_eq(out, "");
	capture_free();
}
END_TEST

START_TEST(secret_keys_are_redacted)
{
	capture_start(KEELSON_LOG_INFO, KEELSON_LOG_LOGFMT);
	keelson_log(KEELSON_LOG_INFO, "auth", "token", "s3cr3t-token", "gitPassword", "hunter2", NULL);
	const char *line = capture_end();
	ck_assert_ptr_null(strstr(line, "s3cr3t"));
	ck_assert_ptr_null(strstr(line, "hunter2"));
	ck_assert_ptr_nonnull(strstr(line, "token=[REDACTED] gitPassword=[REDACTED]"));
	capture_free();
}
END_TEST

START_TEST(secrets_inside_values_are_scrubbed)
{
	capture_start(KEELSON_LOG_INFO, KEELSON_LOG_JSON);
	keelson_log(KEELSON_LOG_INFO, "fetch https://bot:pa55@git.example/repo.git failed",
		    "url", "https://host/x?access_token=abc123&ref=main",
		    "header", "Authorization: Bearer eyJhbGci", NULL);
	const char *line = capture_end();
	ck_assert_ptr_null(strstr(line, "pa55"));
	ck_assert_ptr_null(strstr(line, "abc123"));
	ck_assert_ptr_null(strstr(line, "eyJhbGci"));
	ck_assert_ptr_nonnull(strstr(line, "https://bot:[REDACTED]@git.example/repo.git"));
	ck_assert_ptr_nonnull(strstr(line, "access_token=[REDACTED]&ref=main"));
	capture_free();
}
END_TEST

START_TEST(parse_level_and_format)
{
	enum keelson_log_level level;
	enum keelson_log_format format;
	ck_assert_int_eq(keelson_log_level_parse(&level, "DEBUG"), 0);
	ck_assert_int_eq(level, KEELSON_LOG_DEBUG);
	ck_assert_int_eq(keelson_log_level_parse(&level, "warning"), 0);
	ck_assert_int_eq(level, KEELSON_LOG_WARN);
	ck_assert_int_lt(keelson_log_level_parse(&level, "loud"), 0);
	ck_assert_int_eq(keelson_log_format_parse(&format, "json"), 0);
	ck_assert_int_eq(format, KEELSON_LOG_JSON);
	ck_assert_int_lt(keelson_log_format_parse(&format, "xml"), 0);
}
END_TEST

START_TEST(secret_key_detection)
{
	ck_assert(keelson_redact_is_secret_key("password"));
	ck_assert(keelson_redact_is_secret_key("GIT_TOKEN"));
	ck_assert(keelson_redact_is_secret_key("webhookSecret"));
	ck_assert(keelson_redact_is_secret_key("Authorization"));
	ck_assert(keelson_redact_is_secret_key("auth"));
	ck_assert(!keelson_redact_is_secret_key("author"));
	ck_assert(!keelson_redact_is_secret_key("name"));
	ck_assert(!keelson_redact_is_secret_key(NULL));
}
END_TEST

START_TEST(redact_text_leaves_clean_text_alone)
{
	char *out = keelson_redact_text("https://github.com/org/repo.git ref=main a=b");
	ck_assert_str_eq(out, "https://github.com/org/repo.git ref=main a=b");
	free(out);
	out = keelson_redact_text("ssh://git@host/repo");
	ck_assert_str_eq(out, "ssh://git@host/repo");
	free(out);
	out = keelson_redact_text("Basic dXNlcjpwYXNz end");
	ck_assert_str_eq(out, "Basic [REDACTED] end");
	free(out);
}
END_TEST

static Suite *suite_log(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("keelson_log");
	tcase_add_test(tc, logfmt_line_has_time_level_message_and_fields);
	tcase_add_test(tc, logfmt_quotes_and_escapes_values);
	tcase_add_test(tc, json_line_parses_with_fields);
	tcase_add_test(tc, lines_below_level_are_dropped);
	tcase_add_test(tc, secret_keys_are_redacted);
	tcase_add_test(tc, secrets_inside_values_are_scrubbed);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_log_level_parse");
	tcase_add_test(tc, parse_level_and_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_redact");
	tcase_add_test(tc, secret_key_detection);
	tcase_add_test(tc, redact_text_leaves_clean_text_alone);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_log)
