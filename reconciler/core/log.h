/*
 * Structured logging.
 *
 * Every line is a message plus key=value fields, so a line about an object
 * carries its identity (kind, namespace, name) in fields a log system can
 * index. Output is logfmt (default, for people) or JSON (for collectors).
 * Values of secret-looking keys are replaced by [REDACTED], and every value
 * is scrubbed of URL passwords, bearer tokens and token query parameters
 * (core/redact.h), so credentials never reach the log.
 */
#ifndef KEELSON_CORE_LOG_H
#define KEELSON_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum keelson_log_level {
	KEELSON_LOG_DEBUG = 0,
	KEELSON_LOG_INFO = 1,
	KEELSON_LOG_WARN = 2,
	KEELSON_LOG_ERROR = 3,
};

enum keelson_log_format {
	KEELSON_LOG_LOGFMT = 0,
	KEELSON_LOG_JSON = 1,
};

/* Set the minimum level, the format and the stream (NULL = stderr). The
 * default is info, logfmt, stderr. Not thread-safe against concurrent
 * logging: call at start-up. */
void keelson_log_configure(enum keelson_log_level level, enum keelson_log_format format, FILE *out);

/* Parse "debug", "info", "warn"/"warning", "error" (any case). */
int keelson_log_level_parse(enum keelson_log_level *out, const char *name);

/* Parse "logfmt" or "json". */
int keelson_log_format_parse(enum keelson_log_format *out, const char *name);

bool keelson_log_enabled(enum keelson_log_level level);

/* Log `message` with fields given as const char * pairs, key then value,
 * terminated by a single NULL key:
 *     keelson_log(KEELSON_LOG_INFO, "applied object",
 *                 "kind", "StatefulSet", "namespace", ns, "name", name, NULL);
 * A NULL value is written as an empty string. Thread-safe: one line is
 * written with one call. */
void keelson_log(enum keelson_log_level level, const char *message, ...)
	__attribute__((sentinel));

void keelson_logv(enum keelson_log_level level, const char *message, va_list fields);

/* Same, with the fields as an array of 2*count strings (for wrappers such as
 * the plugin host, which adds a "[plugin:system]" prefix to the message). */
void keelson_log_fields(enum keelson_log_level level, const char *message,
			const char *const *fields, size_t count);

#endif
