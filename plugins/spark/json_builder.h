/*
 * A small bounded JSON text builder for the Spark plugin (libc only): the
 * driver pod and the status patches are built as text and handed to the
 * host, which parses and checks them. Strings are escaped per RFC 8259.
 * Running past `limit` or out of memory sets `failed`; every later call
 * is a no-op, so callers check once at the end.
 */
#ifndef KEELSON_PLUGINS_SPARK_JSON_BUILDER_H
#define KEELSON_PLUGINS_SPARK_JSON_BUILDER_H

#include <stddef.h>

struct jb {
	char *buf;
	size_t len, cap, limit;
	int failed;
	int need_comma; /* a value was written at the current nesting level */
};

/* limit: the largest text accepted, in bytes. */
void jb_init(struct jb *b, size_t limit);
void jb_dispose(struct jb *b);
/* The text, NUL-terminated, or NULL when building failed. */
const char *jb_text(const struct jb *b);

void jb_begin_object(struct jb *b);
void jb_end_object(struct jb *b);
void jb_begin_array(struct jb *b);
void jb_end_array(struct jb *b);
/* A member key; the next call writes its value. */
void jb_key(struct jb *b, const char *key);
void jb_string(struct jb *b, const char *value); /* NULL writes null */
void jb_int(struct jb *b, long long value);
void jb_bool(struct jb *b, int value);
/* Already valid JSON text (from the host's json_text); NULL writes null. */
void jb_raw(struct jb *b, const char *json);

/* Shorthands: "key": value. */
void jb_kv_string(struct jb *b, const char *key, const char *value);
void jb_kv_int(struct jb *b, const char *key, long long value);

#endif
