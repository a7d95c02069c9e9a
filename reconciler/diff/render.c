/*
 * Rendering of a diff for people: YAML text of both sides and a unified
 * diff between them, like `kubectl diff` (which runs `diff -u -N` on two
 * YAML dumps).
 */
#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "json/json_canonical.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Lines of context around each change, as diff -u. */
#define CONTEXT_LINES 3
/* Cells of the LCS table beyond which the changed middle is shown as one
 * block (all removed, all added) instead of a minimal diff. */
#define MAX_LCS_CELLS (16u * 1024u * 1024u)

struct buf {
	char *data;
	size_t len, cap;
	int failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_indent(struct buf *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		buf_add(b, " ", 1);
}

/* Plain scalars YAML 1.1 (kubectl's reader) would read as something other
 * than the string. */
static int resolves_to_non_string(const char *s)
{
	static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
					    "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
					    "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(s, words[i]) == 0)
			return 1;
	/* .inf, -.Inf, .NaN: YAML 1.1 floats strtod does not take. */
	const char *dot = s[0] == '+' || s[0] == '-' ? s + 1 : s;
	if (strcasecmp(dot, ".inf") == 0 || strcasecmp(dot, ".nan") == 0)
		return 1;
	char *end;
	(void)strtod(s, &end);
	if (*end == '\0')
		return 1;
	/* 0x1F, 0o17, 1_000, 12:30 are numbers to some YAML readers. */
	if ((s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '-' || s[0] == '.')
		for (const char *p = s; *p; p++)
			if (*p == '_' || *p == ':' || *p == 'x' || *p == 'o' || *p == 'b')
				return 1;
	return 0;
}

/* Length of the character at `p` that YAML cannot hold as written (C0
 * and C1 controls, DEL, the BOM, U+FFFE/U+FFFF) or reads as a line break
 * (NEL, U+2028, U+2029), and that a terminal may act on; 0 for any other.
 * `newline`: whether '\n' is allowed. (Found by tests/fuzz: such a value
 * in a live object was printed raw.) */
static size_t unsafe_char(const unsigned char *p, int newline)
{
	if (p[0] < 0x20)
		return p[0] == '\n' && newline ? 0 : 1;
	if (p[0] == 0x7f)
		return 1;
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
		return 3;
	if (p[0] == 0xef && ((p[1] == 0xbb && p[2] == 0xbf) || (p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))))
		return 3;
	return 0;
}

static int has_unsafe_char(const char *s, int newline)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (unsafe_char(p, newline))
			return 1;
	return 0;
}

static int is_plain_safe(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) != NULL)
		return 0;
	if (has_unsafe_char(s, 0))
		return 0;
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch == 0x7f)
			return 0;
		if ((ch == ':' && (p[1] == ' ' || p[1] == '\0')) || (ch == '#' && p > s && p[-1] == ' '))
			return 0;
	}
	return !resolves_to_non_string(s);
}

/* A YAML double-quoted scalar; every character unsafe_char() names is
 * escaped, so the text reads back exactly and a terminal shows it inert. */
static void emit_quoted(struct buf *b, const char *s)
{
	buf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t len = unsafe_char(p, 0);
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			buf_add(b, esc, 2);
			p++;
		} else if (*p == '\n' || *p == '\t') {
			buf_str(b, *p == '\n' ? "\\n" : "\\t");
			p++;
		} else if (len > 0) {
			unsigned code = len == 1 ? p[0]
				      : len == 2 ? p[1]
						 : ((unsigned)(p[0] & 0x0f) << 12) | ((unsigned)(p[1] & 0x3f) << 6) |
							   (p[2] & 0x3f);
			snprintf(esc, sizeof(esc), "\\u%04X", code);
			buf_str(b, esc);
			p += len;
		} else {
			buf_add(b, (const char *)p, 1);
			p++;
		}
	}
	buf_add(b, "\"", 1);
}

static void emit_string(struct buf *b, const char *s, unsigned indent)
{
	size_t n = strlen(s);
	if (is_plain_safe(s)) {
		buf_str(b, s);
		return;
	}
	/* Multi-line text (scripts, configuration files) reads best as a
	 * block literal, as kubectl prints it. */
	if (strchr(s, '\n') != NULL && s[0] != ' ' && s[0] != '\n' && !has_unsafe_char(s, 1)) {
		int trailing = n > 0 && s[n - 1] == '\n';
		if (n >= 2 && trailing && s[n - 2] == '\n') {
			emit_quoted(b, s); /* "|+" territory: keep it exact */
			return;
		}
		buf_str(b, trailing ? "|" : "|-");
		const char *line = s;
		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t len = nl ? (size_t)(nl - line) : strlen(line);
			buf_add(b, "\n", 1);
			if (len > 0)
				buf_indent(b, indent);
			buf_add(b, line, len);
			if (nl == NULL)
				break;
			line = nl + 1;
		}
		return;
	}
	emit_quoted(b, s);
}

static void emit_scalar(struct buf *b, const cJSON *v, unsigned indent)
{
	if (cJSON_IsString(v)) {
		emit_string(b, v->valuestring, indent);
	} else if (cJSON_IsRaw(v)) {
		buf_str(b, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		char *text = keelson_json_canonical(v);
		if (text == NULL) {
			b->failed = 1;
			return;
		}
		buf_str(b, text);
		free(text);
	} else if (cJSON_IsTrue(v)) {
		buf_str(b, "true");
	} else if (cJSON_IsFalse(v)) {
		buf_str(b, "false");
	} else if (cJSON_IsObject(v)) {
		buf_str(b, "{}");
	} else if (cJSON_IsArray(v)) {
		buf_str(b, "[]");
	} else {
		buf_str(b, "null");
	}
}

static int compare_keys(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

static int is_collection(const cJSON *v)
{
	return (cJSON_IsObject(v) || cJSON_IsArray(v)) && v->child != NULL;
}

static void emit_block(struct buf *b, const cJSON *v, unsigned indent, int first_inline);

/* Members of an object at `indent`; the first one continues the current
 * line when `first_inline` (after "- "). */
static void emit_object(struct buf *b, const cJSON *v, unsigned indent, int first_inline)
{
	size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
	const cJSON **members = malloc(n * sizeof(*members));
	if (members == NULL) {
		b->failed = 1;
		return;
	}
	const cJSON *m;
	cJSON_ArrayForEach(m, v) members[i++] = m;
	qsort(members, n, sizeof(*members), compare_keys);
	for (i = 0; i < n; i++) {
		m = members[i];
		if (!(i == 0 && first_inline))
			buf_indent(b, indent);
		if (is_plain_safe(m->string))
			buf_str(b, m->string);
		else
			emit_quoted(b, m->string);
		buf_str(b, ":");
		if (cJSON_IsObject(m) && m->child != NULL) {
			buf_str(b, "\n");
			emit_block(b, m, indent + 2, 0);
		} else if (cJSON_IsArray(m) && m->child != NULL) {
			buf_str(b, "\n");
			emit_block(b, m, indent, 0); /* sequences under a key are not indented */
		} else {
			buf_str(b, " ");
			emit_scalar(b, m, indent + 2);
			buf_str(b, "\n");
		}
	}
	free(members);
}

static void emit_block(struct buf *b, const cJSON *v, unsigned indent, int first_inline)
{
	if (cJSON_IsObject(v)) {
		emit_object(b, v, indent, first_inline);
		return;
	}
	const cJSON *item;
	int first = 1;
	cJSON_ArrayForEach(item, v) {
		if (!(first && first_inline))
			buf_indent(b, indent);
		first = 0;
		buf_str(b, "- ");
		if (is_collection(item)) {
			emit_block(b, item, indent + 2, 1);
		} else {
			emit_scalar(b, item, indent + 2);
			buf_str(b, "\n");
		}
	}
}

char *keelson_diff_yaml(const cJSON *value)
{
	struct buf b = {0};
	if (is_collection(value)) {
		emit_block(&b, value, 0, 0);
	} else {
		emit_scalar(&b, value, 2);
		buf_str(&b, "\n");
	}
	if (b.failed) {
		free(b.data);
		keelson_error_set(KEELSON_ENOMEM, "out of memory");
		return NULL;
	}
	return b.data ? b.data : strdup("");
}

/* --- Unified diff -------------------------------------------------------- */

struct lines {
	const char **start;
	size_t *len;
	size_t count;
};

static int split_lines(struct lines *out, const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			n++;
	out->start = malloc((n + 1) * sizeof(*out->start));
	out->len = malloc((n + 1) * sizeof(*out->len));
	out->count = 0;
	if (out->start == NULL || out->len == NULL)
		return -1;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		out->start[out->count] = p;
		out->len[out->count++] = len;
		p += len + (nl ? 1 : 0);
	}
	return 0;
}

static int line_eq(const struct lines *a, size_t i, const struct lines *b, size_t j)
{
	return a->len[i] == b->len[j] && memcmp(a->start[i], b->start[j], a->len[i]) == 0;
}

/* An edit script: ' ' both, '-' only in a (live), '+' only in b. */
struct edit {
	char op;
	size_t a, b; /* line indexes (the one of its side for '-' and '+') */
};

static int edit_script(struct edit **out, size_t *out_n, const struct lines *a, const struct lines *b)
{
	size_t pre = 0, suf = 0;
	while (pre < a->count && pre < b->count && line_eq(a, pre, b, pre))
		pre++;
	while (suf < a->count - pre && suf < b->count - pre &&
	       line_eq(a, a->count - 1 - suf, b, b->count - 1 - suf))
		suf++;
	size_t n = a->count - pre - suf, m = b->count - pre - suf;
	struct edit *e = malloc((a->count + b->count + 1) * sizeof(*e));
	size_t k = 0;
	if (e == NULL)
		return -1;
	for (size_t i = 0; i < pre; i++)
		e[k++] = (struct edit){' ', i, i};
	unsigned *t = NULL;
	if (n > 0 && m > 0 && (n + 1) * (m + 1) <= MAX_LCS_CELLS)
		t = calloc((n + 1) * (m + 1), sizeof(*t));
	if (t != NULL) {
		/* t[i][j]: LCS length of a[pre+i..] and b[pre+j..]. */
		for (size_t i = n; i-- > 0;)
			for (size_t j = m; j-- > 0;) {
				unsigned *cell = &t[i * (m + 1) + j];
				if (line_eq(a, pre + i, b, pre + j))
					*cell = t[(i + 1) * (m + 1) + j + 1] + 1;
				else {
					unsigned down = t[(i + 1) * (m + 1) + j], right = t[i * (m + 1) + j + 1];
					*cell = down >= right ? down : right;
				}
			}
		size_t i = 0, j = 0;
		while (i < n || j < m) {
			if (i < n && j < m && line_eq(a, pre + i, b, pre + j)) {
				e[k++] = (struct edit){' ', pre + i, pre + j};
				i++;
				j++;
			} else if (i < n && (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1])) {
				e[k++] = (struct edit){'-', pre + i, pre + j};
				i++;
			} else {
				e[k++] = (struct edit){'+', pre + i, pre + j};
				j++;
			}
		}
		free(t);
	} else {
		for (size_t i = 0; i < n; i++)
			e[k++] = (struct edit){'-', pre + i, pre};
		for (size_t j = 0; j < m; j++)
			e[k++] = (struct edit){'+', pre + n, pre + j};
	}
	for (size_t i = 0; i < suf; i++)
		e[k++] = (struct edit){' ', a->count - suf + i, b->count - suf + i};
	*out = e;
	*out_n = k;
	return 0;
}

#define RED "\033[31m"
#define GREEN "\033[32m"
#define CYAN "\033[36m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

static void print_hunks(FILE *out, const struct edit *e, size_t n, const struct lines *a,
			const struct lines *b, bool color)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && e[i].op == ' ')
			i++;
		if (i == n)
			break;
		/* Hunk: from CONTEXT_LINES before this change to CONTEXT_LINES
		 * after the last change that is at most 2*CONTEXT_LINES apart. */
		size_t start = i >= CONTEXT_LINES ? i - CONTEXT_LINES : 0, end = i;
		for (size_t j = i; j < n; j++) {
			if (e[j].op != ' ')
				end = j;
			else if (j - end > 2 * CONTEXT_LINES)
				break;
		}
		end = end + CONTEXT_LINES + 1 < n ? end + CONTEXT_LINES + 1 : n;
		size_t a_count = 0, b_count = 0;
		for (size_t j = start; j < end; j++) {
			if (e[j].op != '+')
				a_count++;
			if (e[j].op != '-')
				b_count++;
		}
		size_t a_start = e[start].a + (a_count ? 1 : 0), b_start = e[start].b + (b_count ? 1 : 0);
		/* diff -u leaves out a count of 1. */
		char a_range[48], b_range[48];
		if (a_count == 1)
			snprintf(a_range, sizeof(a_range), "%zu", a_start);
		else
			snprintf(a_range, sizeof(a_range), "%zu,%zu", a_start, a_count);
		if (b_count == 1)
			snprintf(b_range, sizeof(b_range), "%zu", b_start);
		else
			snprintf(b_range, sizeof(b_range), "%zu,%zu", b_start, b_count);
		fprintf(out, "%s@@ -%s +%s @@%s\n", color ? CYAN : "", a_range, b_range, color ? RESET : "");
		for (size_t j = start; j < end; j++) {
			const struct lines *side = e[j].op == '+' ? b : a;
			size_t idx = e[j].op == '+' ? e[j].b : e[j].a;
			const char *on = "", *off = "";
			if (color && e[j].op != ' ') {
				on = e[j].op == '-' ? RED : GREEN;
				off = RESET;
			}
			fprintf(out, "%s%c%.*s%s\n", on, e[j].op, (int)side->len[idx], side->start[idx], off);
		}
		i = end;
	}
}

static cJSON *without_server_fields(const cJSON *obj)
{
	static const char *const hidden[] = {"managedFields", "resourceVersion", "uid",
					     "creationTimestamp", "generation"};
	if (obj == NULL)
		return NULL;
	cJSON *copy = cJSON_Duplicate(obj, 1);
	if (copy == NULL)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "status");
	cJSON *metadata = cJSON_GetObjectItemCaseSensitive(copy, "metadata");
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(metadata, hidden[i]);
	return copy;
}

static void set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *v = cJSON_CreateString(value);
	if (v != NULL && !cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v))
		cJSON_Delete(v);
}

/* Secret values never reach a terminal or a CI log: equal values show as
 * "***", changed ones as "*** (before)" / "*** (after)", as kubectl diff. */
static void mask_secret(cJSON *left, cJSON *right)
{
	static const char *const sections[] = {"data", "stringData"};
	for (size_t i = 0; i < 2; i++) {
		cJSON *l = cJSON_GetObjectItemCaseSensitive(left, sections[i]);
		cJSON *r = cJSON_GetObjectItemCaseSensitive(right, sections[i]);
		cJSON *m, *next;
		/* Right first: its values are compared with the left's
		 * originals. `next` is read first: set_string frees `m`. */
		for (m = r ? r->child : NULL; m != NULL; m = next) {
			next = m->next;
			cJSON *other = cJSON_GetObjectItemCaseSensitive(l, m->string);
			set_string(r, m->string, other != NULL && cJSON_Compare(m, other, 1) ? "***" : "*** (after)");
		}
		for (m = l ? l->child : NULL; m != NULL; m = next) {
			next = m->next;
			cJSON *other = cJSON_GetObjectItemCaseSensitive(r, m->string);
			int same = cJSON_IsString(other) && strcmp(other->valuestring, "***") == 0;
			set_string(l, m->string, same ? "***" : "*** (before)");
		}
	}
}

static char *yaml_of(const cJSON *shown, int *failed)
{
	if (shown == NULL)
		return strdup("");
	char *text = keelson_diff_yaml(shown);
	if (text == NULL)
		*failed = 1;
	return text;
}

int keelson_diff_render_unified(FILE *out, const struct keelson_diff_object *obj, bool color)
{
	const cJSON *left = NULL, *right = NULL;
	switch (obj->state) {
	case KEELSON_DIFF_IN_SYNC:
		return 0;
	case KEELSON_DIFF_DRIFTED:
		left = obj->live;
		right = obj->merged;
		break;
	case KEELSON_DIFF_MISSING:
		right = obj->desired;
		break;
	case KEELSON_DIFF_NOT_IN_REPO:
		left = obj->live;
		break;
	}
	int failed = 0, rc = 0;
	cJSON *left_shown = without_server_fields(left), *right_shown = without_server_fields(right);
	if ((left != NULL && left_shown == NULL) || (right != NULL && right_shown == NULL))
		failed = 1;
	if (strcmp(obj->group, "") == 0 && strcmp(obj->kind, "Secret") == 0)
		mask_secret(left_shown, right_shown);
	char *a_text = yaml_of(left_shown, &failed), *b_text = yaml_of(right_shown, &failed);
	cJSON_Delete(left_shown);
	cJSON_Delete(right_shown);
	struct lines a = {0}, b = {0};
	struct edit *e = NULL;
	size_t n = 0;
	if (failed || a_text == NULL || b_text == NULL || split_lines(&a, a_text) < 0 ||
	    split_lines(&b, b_text) < 0 || edit_script(&e, &n, &a, &b) < 0) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory rendering the diff of %s %s",
				       obj->kind, obj->name);
		goto cleanup;
	}
	/* Named as kubectl diff names its temporary files. */
	char name[1024];
	char version[256];
	snprintf(version, sizeof(version), "%s", obj->api_version);
	for (char *p = version; *p; p++)
		if (*p == '/')
			*p = '.';
	if (obj->namespace_[0] != '\0')
		snprintf(name, sizeof(name), "%s.%s.%s.%s", version, obj->kind, obj->namespace_, obj->name);
	else
		snprintf(name, sizeof(name), "%s.%s.%s", version, obj->kind, obj->name);
	fprintf(out, "%sdiff -u -N live/%s repository/%s%s\n", color ? BOLD : "", name, name,
		color ? RESET : "");
	fprintf(out, "%s--- %s%s%s\n", color ? BOLD : "", left ? "live/" : "/dev/null", left ? name : "",
		color ? RESET : "");
	fprintf(out, "%s+++ %s%s%s\n", color ? BOLD : "", right ? "repository/" : "/dev/null",
		right ? name : "", color ? RESET : "");
	print_hunks(out, e, n, &a, &b, color);
cleanup:
	free(e);
	free(a.start);
	free(a.len);
	free(b.start);
	free(b.len);
	free(a_text);
	free(b_text);
	return rc;
}
