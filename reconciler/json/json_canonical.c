#include "config.h"

#include "json/json_canonical.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buffer {
	char *data;
	size_t len;
	size_t cap;
	int failed;
};

static void buffer_reserve(struct buffer *b, size_t more)
{
	if (b->failed || b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *data = realloc(b->data, cap);
	if (data == NULL) {
		b->failed = KEELSON_ENOMEM;
		return;
	}
	b->data = data;
	b->cap = cap;
}

static void buffer_append(struct buffer *b, const char *text, size_t len)
{
	buffer_reserve(b, len);
	if (b->failed)
		return;
	memcpy(b->data + b->len, text, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void buffer_append_str(struct buffer *b, const char *text)
{
	buffer_append(b, text, strlen(text));
}

static void write_string(struct buffer *b, const char *s)
{
	buffer_append(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char escape[8];
		switch (*p) {
		case '"': buffer_append(b, "\\\"", 2); break;
		case '\\': buffer_append(b, "\\\\", 2); break;
		case '\b': buffer_append(b, "\\b", 2); break;
		case '\f': buffer_append(b, "\\f", 2); break;
		case '\n': buffer_append(b, "\\n", 2); break;
		case '\r': buffer_append(b, "\\r", 2); break;
		case '\t': buffer_append(b, "\\t", 2); break;
		default:
			if (*p < 0x20) {
				snprintf(escape, sizeof(escape), "\\u%04x", *p);
				buffer_append_str(b, escape);
			} else {
				buffer_append(b, (const char *)p, 1);
			}
		}
	}
	buffer_append(b, "\"", 1);
}

/* Integers up to 2^53 are exact in a double and print without exponent;
 * anything else uses the shortest %g form that reads back identically. */
static void write_number(struct buffer *b, double value)
{
	char text[64];

	if (!isfinite(value)) {
		b->failed = keelson_error_set(KEELSON_EINVALID,
			"cannot write a non-finite number (NaN or infinity) as JSON");
		return;
	}
	if (value == floor(value) && fabs(value) <= 9007199254740992.0) {
		snprintf(text, sizeof(text), "%.0f", value == 0 ? 0.0 : value);
	} else {
		for (int precision = 1; precision <= 17; precision++) {
			snprintf(text, sizeof(text), "%.*g", precision, value);
			if (strtod(text, NULL) == value)
				break;
		}
	}
	buffer_append_str(b, text);
}

struct member {
	const cJSON *node;
	size_t index;
};

/* By key, then by position: a stable order, so that of duplicate keys the
 * one written last stays last. */
static int compare_members(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->node->string, y->node->string);
	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The members of `object` that count, sorted by key: for a key written
 * more than once only the last one, as Kubernetes (Go's encoding/json)
 * reads such a document. Returns the count (*out to free), or (size_t)-1
 * when out of memory. */
static size_t effective_members(struct member **out, const cJSON *object)
{
	size_t count = 0;
	for (const cJSON *child = object->child; child; child = child->next)
		count++;
	*out = NULL;
	if (count == 0)
		return 0;
	struct member *members = malloc(count * sizeof(*members));
	if (members == NULL)
		return (size_t)-1;
	size_t i = 0;
	for (const cJSON *child = object->child; child; child = child->next, i++)
		members[i] = (struct member){.node = child, .index = i};
	if (count > 1)
		qsort(members, count, sizeof(*members), compare_members);
	size_t kept = 0;
	for (i = 0; i < count; i++) {
		if (i + 1 < count && strcmp(members[i].node->string, members[i + 1].node->string) == 0)
			continue;
		members[kept++] = members[i];
	}
	*out = members;
	return kept;
}

static void write_value(struct buffer *b, const cJSON *value);

static void write_object(struct buffer *b, const cJSON *object)
{
	struct member *members = NULL;
	size_t count = effective_members(&members, object);
	if (count == (size_t)-1) {
		b->failed = KEELSON_ENOMEM;
		return;
	}
	buffer_append(b, "{", 1);
	for (size_t i = 0; i < count && !b->failed; i++) {
		if (i > 0)
			buffer_append(b, ",", 1);
		write_string(b, members[i].node->string);
		buffer_append(b, ":", 1);
		write_value(b, members[i].node);
	}
	buffer_append(b, "}", 1);
	free(members);
}

static void write_value(struct buffer *b, const cJSON *value)
{
	if (b->failed)
		return;
	if (cJSON_IsNull(value)) {
		buffer_append_str(b, "null");
	} else if (cJSON_IsTrue(value)) {
		buffer_append_str(b, "true");
	} else if (cJSON_IsFalse(value)) {
		buffer_append_str(b, "false");
	} else if (cJSON_IsNumber(value)) {
		write_number(b, value->valuedouble);
	} else if (cJSON_IsRaw(value)) {
		buffer_append_str(b, value->valuestring ? value->valuestring : "null");
	} else if (cJSON_IsString(value)) {
		write_string(b, value->valuestring ? value->valuestring : "");
	} else if (cJSON_IsArray(value)) {
		buffer_append(b, "[", 1);
		for (const cJSON *child = value->child; child && !b->failed; child = child->next) {
			if (child != value->child)
				buffer_append(b, ",", 1);
			write_value(b, child);
		}
		buffer_append(b, "]", 1);
	} else if (cJSON_IsObject(value)) {
		write_object(b, value);
	} else {
		b->failed = keelson_error_set(KEELSON_EINVALID, "cannot write an invalid JSON node");
	}
}

char *keelson_json_canonical(const cJSON *value)
{
	struct buffer b = {0};

	write_value(&b, value);
	if (b.failed) {
		if (b.failed == KEELSON_ENOMEM)
			keelson_error_set(KEELSON_ENOMEM, "out of memory writing canonical JSON");
		free(b.data);
		return NULL;
	}
	return b.data;
}

static double number_of(const cJSON *node)
{
	if (cJSON_IsRaw(node))
		return strtod(node->valuestring, NULL);
	return node->valuedouble;
}

int keelson_json_equal(const cJSON *a, const cJSON *b)
{
	if (a == b)
		return 1;
	if (a == NULL || b == NULL)
		return 0;

	int a_numeric = cJSON_IsNumber(a) || cJSON_IsRaw(a);
	int b_numeric = cJSON_IsNumber(b) || cJSON_IsRaw(b);
	if (a_numeric || b_numeric) {
		if (!a_numeric || !b_numeric)
			return 0;
		if (cJSON_IsRaw(a) && cJSON_IsRaw(b))
			return strcmp(a->valuestring, b->valuestring) == 0;
		return number_of(a) == number_of(b);
	}
	if ((a->type & 0xFF) != (b->type & 0xFF))
		return 0;
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsArray(a)) {
		const cJSON *x = a->child, *y = b->child;
		for (; x && y; x = x->next, y = y->next)
			if (!keelson_json_equal(x, y))
				return 0;
		return x == NULL && y == NULL;
	}
	if (cJSON_IsObject(a)) {
		/* Fast path: the same keys in the same order (the usual case
		 * between two versions of one object), pairwise equal. */
		const cJSON *x = a->child, *y = b->child;
		for (; x && y; x = x->next, y = y->next)
			if (strcmp(x->string, y->string) != 0 || !keelson_json_equal(x, y))
				break;
		if (x == NULL && y == NULL)
			return 1;
		/* Otherwise by key; a key written twice counts once, with its
		 * last value, so equal means "reads the same" and agrees with
		 * keelson_json_canonical. */
		struct member *ma = NULL, *mb = NULL;
		size_t na = effective_members(&ma, a), nb = effective_members(&mb, b);
		int equal = na != (size_t)-1 && na == nb;
		for (size_t i = 0; equal && i < na; i++)
			equal = strcmp(ma[i].node->string, mb[i].node->string) == 0 &&
				keelson_json_equal(ma[i].node, mb[i].node);
		free(ma);
		free(mb);
		return equal;
	}
	return 1; /* null, true, false: equal types are equal values */
}
