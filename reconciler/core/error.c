#include "config.h"

#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Large enough for a path, a position and a sentence of explanation, with
 * a few levels of context. Longer messages are truncated with "...". */
#define ERROR_MESSAGE_MAX 4096

static _Thread_local char error_message[ERROR_MESSAGE_MAX];
static _Thread_local struct keelson_error last_error = {KEELSON_OK, ""};

static void mark_truncated(int written)
{
	if (written >= ERROR_MESSAGE_MAX)
		memcpy(error_message + ERROR_MESSAGE_MAX - 4, "...", 4);
}

int keelson_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int written = vsnprintf(error_message, sizeof(error_message), fmt, ap);
	va_end(ap);
	if (written < 0)
		error_message[0] = '\0';
	mark_truncated(written);
	last_error.code = code;
	last_error.message = error_message;
	return code;
}

int keelson_error_wrap(int code, const char *fmt, ...)
{
	char previous[ERROR_MESSAGE_MAX];
	char context[ERROR_MESSAGE_MAX];
	va_list ap;

	if (last_error.message == NULL || last_error.message[0] == '\0') {
		va_start(ap, fmt);
		int written = vsnprintf(error_message, sizeof(error_message), fmt, ap);
		va_end(ap);
		if (written < 0)
			error_message[0] = '\0';
		mark_truncated(written);
		last_error.code = code;
		last_error.message = error_message;
		return code;
	}

	memcpy(previous, error_message, sizeof(previous));
	va_start(ap, fmt);
	if (vsnprintf(context, sizeof(context), fmt, ap) < 0)
		context[0] = '\0';
	va_end(ap);
	int written = snprintf(error_message, sizeof(error_message), "%s: %s", context, previous);
	mark_truncated(written);
	last_error.code = code;
	last_error.message = error_message;
	return code;
}

const struct keelson_error *keelson_error_last(void)
{
	if (last_error.message == NULL)
		last_error.message = "";
	return &last_error;
}

void keelson_error_clear(void)
{
	error_message[0] = '\0';
	last_error.code = KEELSON_OK;
	last_error.message = error_message;
}

const char *keelson_error_name(int code)
{
	switch (code) {
	case KEELSON_OK: return "OK";
	case KEELSON_ERROR: return "ERROR";
	case KEELSON_ENOTFOUND: return "ENOTFOUND";
	case KEELSON_EINVALID: return "EINVALID";
	case KEELSON_ELIMIT: return "ELIMIT";
	case KEELSON_ECONFLICT: return "ECONFLICT";
	case KEELSON_EEXISTS: return "EEXISTS";
	case KEELSON_ETIMEOUT: return "ETIMEOUT";
	case KEELSON_EUNAVAILABLE: return "EUNAVAILABLE";
	case KEELSON_ENOMEM: return "ENOMEM";
	case KEELSON_EUSAGE: return "EUSAGE";
	default: return "UNKNOWN";
	}
}
