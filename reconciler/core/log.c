#include "config.h"

#include "core/log.h"

#include "core/error.h"
#include "core/redact.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Fields beyond this are dropped with a marker: a log line is not the place
 * for unbounded data, and a fixed array keeps logging allocation-light. */
#define LOG_MAX_FIELDS 32

static enum keelson_log_level log_min_level = KEELSON_LOG_INFO;
static enum keelson_log_format log_format = KEELSON_LOG_LOGFMT;
static FILE *log_out;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void keelson_log_configure(enum keelson_log_level level, enum keelson_log_format format, FILE *out)
{
	log_min_level = level;
	log_format = format;
	log_out = out;
}

int keelson_log_level_parse(enum keelson_log_level *out, const char *name)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum keelson_log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = KEELSON_LOG_WARN;
		return 0;
	}
	return keelson_error_set(KEELSON_EINVALID,
		"unknown log level \"%s\"; use debug, info, warn or error", name);
}

int keelson_log_format_parse(enum keelson_log_format *out, const char *name)
{
	if (strcasecmp(name, "logfmt") == 0) {
		*out = KEELSON_LOG_LOGFMT;
		return 0;
	}
	if (strcasecmp(name, "json") == 0) {
		*out = KEELSON_LOG_JSON;
		return 0;
	}
	return keelson_error_set(KEELSON_EINVALID,
		"unknown log format \"%s\"; use logfmt or json", name);
}

bool keelson_log_enabled(enum keelson_log_level level)
{
	return level >= log_min_level;
}

struct line {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->failed)
		return;
	if (l->len + n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		while (cap < l->len + n + 1)
			cap *= 2;
		char *data = realloc(l->data, cap);
		if (data == NULL) {
			l->failed = true;
			return;
		}
		l->data = data;
		l->cap = cap;
	}
	memcpy(l->data + l->len, s, n);
	l->len += n;
	l->data[l->len] = '\0';
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static bool logfmt_needs_quotes(const char *value)
{
	if (value[0] == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\')
			return true;
	return false;
}

/* Escapes shared by logfmt quoted values and JSON strings. */
static void put_escaped(struct line *l, const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		char buf[8];
		switch (*p) {
		case '"': puts_(l, "\\\""); break;
		case '\\': puts_(l, "\\\\"); break;
		case '\n': puts_(l, "\\n"); break;
		case '\r': puts_(l, "\\r"); break;
		case '\t': puts_(l, "\\t"); break;
		default:
			if (*p < 0x20) {
				snprintf(buf, sizeof(buf), "\\u%04x", *p);
				puts_(l, buf);
			} else {
				put(l, (const char *)p, 1);
			}
		}
	}
}

static void put_field(struct line *l, const char *key, const char *value, bool first)
{
	if (log_format == KEELSON_LOG_JSON) {
		puts_(l, first ? "{\"" : ",\"");
		put_escaped(l, key);
		puts_(l, "\":\"");
		put_escaped(l, value);
		puts_(l, "\"");
		return;
	}
	if (!first)
		puts_(l, " ");
	puts_(l, key);
	puts_(l, "=");
	if (logfmt_needs_quotes(value)) {
		puts_(l, "\"");
		put_escaped(l, value);
		puts_(l, "\"");
	} else {
		puts_(l, value);
	}
}

static void put_safe_field(struct line *l, const char *key, const char *value)
{
	if (value == NULL)
		value = "";
	if (keelson_redact_is_secret_key(key)) {
		put_field(l, key, KEELSON_REDACTED, false);
		return;
	}
	char *scrubbed = keelson_redact_text(value);
	/* Out of memory: drop the value rather than risk logging a secret. */
	put_field(l, key, scrubbed ? scrubbed : "[unavailable]", false);
	free(scrubbed);
}

static void format_time(char *out, size_t size)
{
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03ldZ", now.tv_nsec / 1000000L);
}

void keelson_log_fields(enum keelson_log_level level, const char *message,
			const char *const *fields, size_t count)
{
	struct line l = {0};
	char timestamp[40];

	if (!keelson_log_enabled(level))
		return;
	if (level < KEELSON_LOG_DEBUG || level > KEELSON_LOG_ERROR)
		level = KEELSON_LOG_ERROR;

	format_time(timestamp, sizeof(timestamp));
	put_field(&l, "time", timestamp, true);
	put_field(&l, "level", level_names[level], false);
	put_safe_field(&l, "msg", message ? message : "");
	for (size_t i = 0; i < count; i++)
		put_safe_field(&l, fields[2 * i] ? fields[2 * i] : "field", fields[2 * i + 1]);
	puts_(&l, log_format == KEELSON_LOG_JSON ? "}\n" : "\n");

	FILE *out = log_out ? log_out : stderr;
	if (!l.failed) {
		fwrite(l.data, 1, l.len, out);
		fflush(out);
	} else {
		fputs("keelson: out of memory while logging\n", out);
	}
	free(l.data);
}

void keelson_logv(enum keelson_log_level level, const char *message, va_list ap)
{
	const char *fields[2 * LOG_MAX_FIELDS + 2];
	size_t count = 0;

	if (!keelson_log_enabled(level))
		return;
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (key == NULL)
			break;
		const char *value = va_arg(ap, const char *);
		if (count < LOG_MAX_FIELDS) {
			fields[2 * count] = key;
			fields[2 * count + 1] = value;
			count++;
		} else if (count == LOG_MAX_FIELDS) {
			fields[2 * count] = "fields_dropped";
			fields[2 * count + 1] = "true";
			count++;
		}
	}
	keelson_log_fields(level, message, fields, count);
}

void keelson_log(enum keelson_log_level level, const char *message, ...)
{
	va_list ap;

	va_start(ap, message);
	keelson_logv(level, message, ap);
	va_end(ap);
}
