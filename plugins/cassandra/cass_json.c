/*
 * Bounded recursive-descent JSON reader (see cass_json.h).
 */
#include "cass_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const char *s;
	size_t len, pos;
	size_t nodes;
	char *why;
	size_t why_size;
};

static int fail(struct reader *r, const char *what)
{
	snprintf(r->why, r->why_size, "%s at byte %zu", what, r->pos);
	return -1;
}

static void skip_space(struct reader *r)
{
	while (r->pos < r->len && (r->s[r->pos] == ' ' || r->s[r->pos] == '\t' || r->s[r->pos] == '\n' ||
				   r->s[r->pos] == '\r'))
		r->pos++;
}

static int hex4(struct reader *r, unsigned *out)
{
	if (r->len - r->pos < 4)
		return fail(r, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = r->s[r->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(r, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *dst, unsigned cp)
{
	if (cp < 0x80) {
		dst[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (char)(0xC0 | (cp >> 6));
		dst[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (char)(0xE0 | (cp >> 12));
		dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		dst[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	dst[0] = (char)(0xF0 | (cp >> 18));
	dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	dst[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* At the opening quote. A decoded string is never longer than its source. */
static int read_string(struct reader *r, char **out)
{
	r->pos++;
	size_t start = r->pos;
	size_t end = start;
	while (end < r->len && r->s[end] != '"') {
		if (r->s[end] == '\\')
			end++;
		end++;
	}
	if (end >= r->len)
		return fail(r, "unterminated string");
	char *buf = malloc(end - start + 1);
	if (buf == NULL)
		return fail(r, "out of memory");
	size_t n = 0;
	while (r->pos < end) {
		char c = r->s[r->pos++];
		if ((unsigned char)c < 0x20) {
			free(buf);
			return fail(r, "control character in string");
		}
		if (c != '\\') {
			buf[n++] = c;
			continue;
		}
		c = r->s[r->pos++];
		switch (c) {
		case '"': buf[n++] = '"'; break;
		case '\\': buf[n++] = '\\'; break;
		case '/': buf[n++] = '/'; break;
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u': {
			unsigned cp;
			if (hex4(r, &cp) != 0) {
				free(buf);
				return -1;
			}
			if (cp >= 0xD800 && cp < 0xDC00 && r->pos + 6 <= end && r->s[r->pos] == '\\' &&
			    r->s[r->pos + 1] == 'u') {
				unsigned lo;
				r->pos += 2;
				if (hex4(r, &lo) != 0) {
					free(buf);
					return -1;
				}
				if (lo >= 0xDC00 && lo < 0xE000)
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				else
					cp = 0xFFFD;
			} else if (cp >= 0xD800 && cp < 0xE000) {
				cp = 0xFFFD;
			}
			/* A \uXXXX escape is 6 source bytes, its UTF-8 at most 4. */
			n += put_utf8(buf + n, cp);
			break;
		}
		default:
			free(buf);
			return fail(r, "bad escape");
		}
	}
	buf[n] = '\0';
	r->pos = end + 1;
	*out = buf;
	return 0;
}

static int read_value(struct reader *r, struct cass_json *node, int depth);

static int grow(struct reader *r, struct cass_json *node, size_t *cap)
{
	if (node->count < *cap)
		return 0;
	size_t next = *cap ? *cap * 2 : 4;
	struct cass_json *c = realloc(node->children, next * sizeof(*c));
	if (c == NULL)
		return fail(r, "out of memory");
	node->children = c;
	*cap = next;
	return 0;
}

static int read_container(struct reader *r, struct cass_json *node, int depth, int is_object)
{
	char close = is_object ? '}' : ']';
	size_t cap = 0;
	node->type = is_object ? CASS_JSON_OBJECT : CASS_JSON_ARRAY;
	r->pos++;
	skip_space(r);
	if (r->pos < r->len && r->s[r->pos] == close) {
		r->pos++;
		return 0;
	}
	for (;;) {
		if (grow(r, node, &cap) != 0)
			return -1;
		struct cass_json *child = &node->children[node->count];
		memset(child, 0, sizeof(*child));
		node->count++;
		skip_space(r);
		if (is_object) {
			if (r->pos >= r->len || r->s[r->pos] != '"')
				return fail(r, "expected a member name");
			if (read_string(r, &child->key) != 0)
				return -1;
			skip_space(r);
			if (r->pos >= r->len || r->s[r->pos] != ':')
				return fail(r, "expected ':'");
			r->pos++;
		}
		if (read_value(r, child, depth + 1) != 0)
			return -1;
		skip_space(r);
		if (r->pos < r->len && r->s[r->pos] == ',') {
			r->pos++;
			continue;
		}
		if (r->pos < r->len && r->s[r->pos] == close) {
			r->pos++;
			return 0;
		}
		return fail(r, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int read_literal(struct reader *r, const char *word, enum cass_json_type type, struct cass_json *node)
{
	size_t n = strlen(word);
	if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n) != 0)
		return fail(r, "unexpected character");
	r->pos += n;
	node->type = type;
	return 0;
}

static size_t skip_digits(struct reader *r)
{
	size_t n = 0;
	while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') {
		r->pos++;
		n++;
	}
	return n;
}

/* RFC 8259's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ("."
 * or "1e" is not a number; found by tests/fuzz). */
static int read_number(struct reader *r, struct cass_json *node)
{
	size_t start = r->pos;
	if (r->pos < r->len && r->s[r->pos] == '-')
		r->pos++;
	size_t int_start = r->pos, int_digits = skip_digits(r);
	if (int_digits == 0 || (int_digits > 1 && r->s[int_start] == '0'))
		return fail(r, "bad number");
	if (r->pos < r->len && r->s[r->pos] == '.') {
		r->pos++;
		if (skip_digits(r) == 0)
			return fail(r, "bad number");
	}
	if (r->pos < r->len && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
		r->pos++;
		if (r->pos < r->len && (r->s[r->pos] == '+' || r->s[r->pos] == '-'))
			r->pos++;
		if (skip_digits(r) == 0)
			return fail(r, "bad number");
	}
	if (r->pos - start > 64)
		return fail(r, "bad number");
	node->type = CASS_JSON_NUMBER;
	node->text = malloc(r->pos - start + 1);
	if (node->text == NULL)
		return fail(r, "out of memory");
	memcpy(node->text, r->s + start, r->pos - start);
	node->text[r->pos - start] = '\0';
	return 0;
}

static int read_value(struct reader *r, struct cass_json *node, int depth)
{
	if (depth > CASS_JSON_MAX_DEPTH)
		return fail(r, "nested too deeply");
	if (++r->nodes > CASS_JSON_MAX_NODES)
		return fail(r, "too many values");
	skip_space(r);
	if (r->pos >= r->len)
		return fail(r, "unexpected end");
	switch (r->s[r->pos]) {
	case '{': return read_container(r, node, depth, 1);
	case '[': return read_container(r, node, depth, 0);
	case '"':
		node->type = CASS_JSON_STRING;
		return read_string(r, &node->text);
	case 't': return read_literal(r, "true", CASS_JSON_TRUE, node);
	case 'f': return read_literal(r, "false", CASS_JSON_FALSE, node);
	case 'n': return read_literal(r, "null", CASS_JSON_NULL, node);
	default: return read_number(r, node);
	}
}

static void dispose(struct cass_json *node)
{
	for (size_t i = 0; i < node->count; i++)
		dispose(&node->children[i]);
	free(node->children);
	free(node->key);
	free(node->text);
}

void cass_json_free(struct cass_json *node)
{
	if (node == NULL)
		return;
	dispose(node);
	free(node);
}

int cass_json_parse(const char *text, size_t len, struct cass_json **out, char *why, size_t why_size)
{
	*out = NULL;
	struct reader r = {.s = text, .len = len, .why = why, .why_size = why_size};
	if (text == NULL || len > CASS_JSON_MAX_INPUT) {
		snprintf(why, why_size, "body missing or larger than %u bytes", CASS_JSON_MAX_INPUT);
		return -1;
	}
	struct cass_json *root = calloc(1, sizeof(*root));
	if (root == NULL) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	if (read_value(&r, root, 0) != 0) {
		cass_json_free(root);
		return -1;
	}
	skip_space(&r);
	if (r.pos != r.len) {
		fail(&r, "trailing characters");
		cass_json_free(root);
		return -1;
	}
	*out = root;
	return 0;
}

const struct cass_json *cass_json_member(const struct cass_json *node, const char *key)
{
	if (node == NULL || node->type != CASS_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < node->count; i++)
		if (strcmp(node->children[i].key, key) == 0)
			return &node->children[i];
	return NULL;
}

const char *cass_json_string(const struct cass_json *node)
{
	return node != NULL && node->type == CASS_JSON_STRING ? node->text : NULL;
}

/* --- Editing ---------------------------------------------------------------- */

static struct cass_json *member_slot(struct cass_json *node, const char *key)
{
	if (node == NULL || node->type != CASS_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < node->count; i++)
		if (strcmp(node->children[i].key, key) == 0)
			return &node->children[i];
	char *k = strdup(key);
	struct cass_json *c = realloc(node->children, (node->count + 1) * sizeof(*c));
	if (k == NULL || c == NULL) {
		free(k);
		if (c != NULL)
			node->children = c;
		return NULL;
	}
	node->children = c;
	struct cass_json *m = &c[node->count++];
	memset(m, 0, sizeof(*m));
	m->key = k;
	return m;
}

/* Drop a member's value, keeping its key. */
static void clear_value(struct cass_json *m)
{
	for (size_t i = 0; i < m->count; i++)
		dispose(&m->children[i]);
	free(m->children);
	free(m->text);
	m->children = NULL;
	m->text = NULL;
	m->count = 0;
	m->type = CASS_JSON_NULL;
}

struct cass_json *cass_json_object_at(struct cass_json *node, const char *key)
{
	struct cass_json *m = member_slot(node, key);
	if (m == NULL)
		return NULL;
	if (m->type != CASS_JSON_OBJECT) {
		clear_value(m);
		m->type = CASS_JSON_OBJECT;
	}
	return m;
}

int cass_json_set_number(struct cass_json *node, const char *key, long long value)
{
	struct cass_json *m = member_slot(node, key);
	char text[32];
	if (m == NULL)
		return -1;
	snprintf(text, sizeof(text), "%lld", value);
	char *t = strdup(text);
	if (t == NULL)
		return -1;
	clear_value(m);
	m->type = CASS_JSON_NUMBER;
	m->text = t;
	return 0;
}

int cass_json_set_string(struct cass_json *node, const char *key, const char *value)
{
	struct cass_json *m = member_slot(node, key);
	if (m == NULL)
		return -1;
	char *t = strdup(value);
	if (t == NULL)
		return -1;
	clear_value(m);
	m->type = CASS_JSON_STRING;
	m->text = t;
	return 0;
}

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void put_string(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(o, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(o, esc, 6);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

static void write_node(struct out *o, const struct cass_json *n)
{
	switch (n->type) {
	case CASS_JSON_NULL: put(o, "null", 4); break;
	case CASS_JSON_FALSE: put(o, "false", 5); break;
	case CASS_JSON_TRUE: put(o, "true", 4); break;
	case CASS_JSON_NUMBER: put(o, n->text, strlen(n->text)); break;
	case CASS_JSON_STRING: put_string(o, n->text); break;
	case CASS_JSON_ARRAY:
	case CASS_JSON_OBJECT:
		put(o, n->type == CASS_JSON_ARRAY ? "[" : "{", 1);
		for (size_t i = 0; i < n->count; i++) {
			if (i > 0)
				put(o, ",", 1);
			if (n->type == CASS_JSON_OBJECT) {
				put_string(o, n->children[i].key);
				put(o, ":", 1);
			}
			write_node(o, &n->children[i]);
		}
		put(o, n->type == CASS_JSON_ARRAY ? "]" : "}", 1);
		break;
	}
}

char *cass_json_write(const struct cass_json *node)
{
	struct out o = {0};
	write_node(&o, node);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
