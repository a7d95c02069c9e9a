/*
 * Error codes and the thread-local last-error message.
 *
 * Convention (after libgit2): functions return int; 0 is success, a named
 * negative code is a condition callers act on, -1 (KEELSON_ERROR) is
 * everything else. The human-readable message is kept per thread and read
 * with keelson_error_last(). Callers add context with keelson_error_wrap()
 * instead of overwriting the message.
 *
 * Codes only ever grow; a number is never reused.
 */
#ifndef KEELSON_CORE_ERROR_H
#define KEELSON_CORE_ERROR_H

#include <stddef.h>

enum keelson_error_code {
	KEELSON_OK = 0,
	KEELSON_ERROR = -1,        /* anything callers do not act on */
	KEELSON_ENOTFOUND = -2,    /* the named thing does not exist */
	KEELSON_EINVALID = -3,     /* input did not parse or validate */
	KEELSON_ELIMIT = -4,       /* input exceeded a configured limit */
	KEELSON_ECONFLICT = -5,    /* concurrent modification; retry after re-reading */
	KEELSON_EEXISTS = -6,      /* the thing already exists */
	KEELSON_ETIMEOUT = -7,     /* the operation did not finish in time */
	KEELSON_EUNAVAILABLE = -8, /* a remote could not be reached or answered 5xx */
	KEELSON_ENOMEM = -9,       /* allocation failed */
	KEELSON_EUSAGE = -10,      /* bad command-line usage */
};

struct keelson_error {
	int code;
	const char *message; /* never NULL; "" when no error is recorded */
};

/* Record `code` with a printf-style message; returns `code` so callers can
 * write `return keelson_error_set(KEELSON_EINVALID, "...")`. */
int keelson_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current message with context ("loading x: <old message>") and
 * return `code`. If no message is recorded, behaves like keelson_error_set. */
int keelson_error_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last error recorded on this thread. The pointer stays valid until the
 * next set, wrap or clear on the same thread. */
const struct keelson_error *keelson_error_last(void);

void keelson_error_clear(void);

/* Stable symbolic name of a code ("EINVALID"), for logs and JSON output. */
const char *keelson_error_name(int code);

#endif
