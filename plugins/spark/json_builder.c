/* Bounded JSON text builder; see json_builder.h. */
#include "json_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jb_init(struct jb *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void jb_dispose(struct jb *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

const char *jb_text(const struct jb *b)
{
	if (b->failed)
		return NULL;
	return b->buf != NULL ? b->buf : "";
}

static void put(struct jb *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->limit) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->limit + 1)
			cap = b->limit + 1;
		char *grown = realloc(b->buf, cap);
		if (grown == NULL) {
			b->failed = 1;
			return;
		}
		b->buf = grown;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void puts_(struct jb *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Before a value or a key: the separator from the previous one. */
static void value_start(struct jb *b)
{
	if (b->need_comma)
		put(b, ",", 1);
}

static void escaped(struct jb *b, const char *s)
{
	put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': puts_(b, "\\\""); break;
		case '\\': puts_(b, "\\\\"); break;
		case '\n': puts_(b, "\\n"); break;
		case '\r': puts_(b, "\\r"); break;
		case '\t': puts_(b, "\\t"); break;
		case '\b': puts_(b, "\\b"); break;
		case '\f': puts_(b, "\\f"); break;
		default:
			if (*p < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				puts_(b, esc);
			} else {
				put(b, (const char *)p, 1);
			}
		}
	}
	put(b, "\"", 1);
}

void jb_begin_object(struct jb *b)
{
	value_start(b);
	put(b, "{", 1);
	b->need_comma = 0;
}

void jb_end_object(struct jb *b)
{
	put(b, "}", 1);
	b->need_comma = 1;
}

void jb_begin_array(struct jb *b)
{
	value_start(b);
	put(b, "[", 1);
	b->need_comma = 0;
}

void jb_end_array(struct jb *b)
{
	put(b, "]", 1);
	b->need_comma = 1;
}

void jb_key(struct jb *b, const char *key)
{
	value_start(b);
	escaped(b, key);
	put(b, ":", 1);
	b->need_comma = 0;
}

void jb_string(struct jb *b, const char *value)
{
	value_start(b);
	if (value == NULL)
		puts_(b, "null");
	else
		escaped(b, value);
	b->need_comma = 1;
}

void jb_int(struct jb *b, long long value)
{
	char text[32];
	value_start(b);
	snprintf(text, sizeof(text), "%lld", value);
	puts_(b, text);
	b->need_comma = 1;
}

void jb_bool(struct jb *b, int value)
{
	value_start(b);
	puts_(b, value ? "true" : "false");
	b->need_comma = 1;
}

void jb_raw(struct jb *b, const char *json)
{
	value_start(b);
	puts_(b, json != NULL ? json : "null");
	b->need_comma = 1;
}

void jb_kv_string(struct jb *b, const char *key, const char *value)
{
	jb_key(b, key);
	jb_string(b, value);
}

void jb_kv_int(struct jb *b, const char *key, long long value)
{
	jb_key(b, key);
	jb_int(b, value);
}
