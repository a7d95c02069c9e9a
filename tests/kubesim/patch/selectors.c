#include "config.h"

#include "selectors.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- label keys and values (apimachinery util/validation) ---- */

#define QUALIFIED_NAME_MAX 63
#define LABEL_VALUE_MAX 63
#define DNS1123_SUBDOMAIN_MAX 253

#define QUALIFIED_NAME_FMT                                                                             \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
	"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation " \
	"is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define LABEL_VALUE_MSG                                                                                  \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', " \
	"and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "   \
	"'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
#define DNS1123_SUBDOMAIN_MSG                                                                          \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', " \
	"and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "   \
	"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..len). */
static int is_qualified_name_part(const char *s, size_t len)
{
	if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return 0;
	}
	return 1;
}

static int is_dns1123_subdomain(const char *s, size_t len)
{
	if (len == 0 || len > DNS1123_SUBDOMAIN_MAX)
		return 0;
	int label_start = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (c == '.') {
			if (label_start || s[i - 1] == '-')
				return 0;
			label_start = 1;
			continue;
		}
		if (!alnum && c != '-')
			return 0;
		if (label_start && !alnum)
			return 0;
		label_start = 0;
	}
	return !label_start && s[len - 1] != '-';
}

/* The apiserver's message for an invalid label key, or NULL when valid.
 * Returns a static string. */
static const char *label_key_problem(const char *key)
{
	const char *slash = strchr(key, '/');
	const char *name = key;
	if (slash) {
		if (strchr(slash + 1, '/'))
			return "a qualified name " QUALIFIED_NAME_FMT
			       " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
		size_t prefix_len = (size_t)(slash - key);
		if (prefix_len == 0)
			return "prefix part must be non-empty";
		if (!is_dns1123_subdomain(key, prefix_len))
			return "prefix part " DNS1123_SUBDOMAIN_MSG;
		name = slash + 1;
	}
	size_t len = strlen(name);
	if (len == 0)
		return "name part must be non-empty";
	if (len > QUALIFIED_NAME_MAX)
		return "name part must be no more than 63 characters";
	if (!is_qualified_name_part(name, len))
		return "name part " QUALIFIED_NAME_FMT;
	return NULL;
}

static const char *label_value_problem(const char *value)
{
	size_t len = strlen(value);
	if (len > LABEL_VALUE_MAX)
		return "must be no more than 63 characters";
	if (len > 0 && !is_qualified_name_part(value, len))
		return LABEL_VALUE_MSG;
	return NULL;
}

/* ---- label selectors ---- */

enum label_op {
	OP_EQUALS,
	OP_DOUBLE_EQUALS,
	OP_NOT_EQUALS,
	OP_IN,
	OP_NOT_IN,
	OP_EXISTS,
	OP_DOES_NOT_EXIST,
	OP_GREATER_THAN,
	OP_LESS_THAN,
};

struct label_requirement {
	char *key;
	enum label_op op;
	char **values; /* sorted, unique */
	size_t value_count;
};

struct ks_label_selector {
	struct label_requirement *requirements;
	size_t count;
	size_t capacity;
};

static void requirement_clear(struct label_requirement *r)
{
	free(r->key);
	for (size_t i = 0; i < r->value_count; i++)
		free(r->values[i]);
	free(r->values);
	memset(r, 0, sizeof(*r));
}

void ks_label_selector_free(struct ks_label_selector *selector)
{
	if (!selector)
		return;
	for (size_t i = 0; i < selector->count; i++)
		requirement_clear(&selector->requirements[i]);
	free(selector->requirements);
	free(selector);
}

static int oom(void)
{
	return keelson_error_set(KEELSON_ENOMEM, "out of memory parsing a selector");
}

/* Insert `value` into the sorted unique set of `r` (takes a copy). */
static int requirement_add_value(struct label_requirement *r, const char *value)
{
	size_t at = 0;
	while (at < r->value_count) {
		int cmp = strcmp(r->values[at], value);
		if (cmp == 0)
			return 0;
		if (cmp > 0)
			break;
		at++;
	}
	char **values = realloc(r->values, (r->value_count + 1) * sizeof(*values));
	if (!values)
		return oom();
	r->values = values;
	char *copy = strdup(value);
	if (!copy)
		return oom();
	memmove(values + at + 1, values + at, (r->value_count - at) * sizeof(*values));
	values[at] = copy;
	r->value_count++;
	return 0;
}

static int parse_int64(long long *out, const char *text)
{
	char *end;
	errno = 0;
	if (text[0] == '\0')
		return -1;
	long long v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* apimachinery labels.NewRequirement's checks, on a filled requirement. */
static int requirement_validate(const struct label_requirement *r, const char **values_in_order,
				size_t n_in_order)
{
	const char *problem = label_key_problem(r->key);
	if (problem)
		return keelson_error_set(KEELSON_EINVALID, "key: Invalid value: \"%s\": %s", r->key, problem);
	switch (r->op) {
	case OP_IN:
	case OP_NOT_IN:
		if (r->value_count == 0)
			return keelson_error_set(KEELSON_EINVALID,
						 "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty");
		break;
	case OP_EQUALS:
	case OP_DOUBLE_EQUALS:
	case OP_NOT_EQUALS:
		if (r->value_count != 1)
			return keelson_error_set(KEELSON_EINVALID,
						 "values: Invalid value: %zu values: exact-match compatibility requires one single value",
						 r->value_count);
		break;
	case OP_EXISTS:
	case OP_DOES_NOT_EXIST:
		if (r->value_count != 0)
			return keelson_error_set(KEELSON_EINVALID,
						 "values: Invalid value: %zu values: values set must be empty for exists and does not exist",
						 r->value_count);
		break;
	case OP_GREATER_THAN:
	case OP_LESS_THAN: {
		long long unused;
		if (r->value_count != 1)
			return keelson_error_set(KEELSON_EINVALID,
						 "values: Invalid value: %zu values: for 'Gt', 'Lt' operators, exactly one value is required",
						 r->value_count);
		if (parse_int64(&unused, r->values[0]) < 0)
			return keelson_error_set(KEELSON_EINVALID,
						 "values[0]: Invalid value: \"%s\": for 'Gt', 'Lt' operators, the value must be an integer",
						 r->values[0]);
		break;
	}
	}
	for (size_t i = 0; i < n_in_order; i++) {
		problem = label_value_problem(values_in_order[i]);
		if (problem)
			return keelson_error_set(KEELSON_EINVALID, "values[%zu][%s]: Invalid value: \"%s\": %s", i,
						 r->key, values_in_order[i], problem);
	}
	return 0;
}

static int selector_append(struct ks_label_selector *s, struct label_requirement *r)
{
	if (s->count == s->capacity) {
		size_t cap = s->capacity ? s->capacity * 2 : 4;
		struct label_requirement *grown = realloc(s->requirements, cap * sizeof(*grown));
		if (!grown)
			return oom();
		s->requirements = grown;
		s->capacity = cap;
	}
	s->requirements[s->count++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

/* Requirements sorted by key (stable), as apimachinery sorts them. */
static void selector_sort(struct ks_label_selector *s)
{
	for (size_t i = 1; i < s->count; i++) {
		struct label_requirement r = s->requirements[i];
		size_t j = i;
		while (j > 0 && strcmp(s->requirements[j - 1].key, r.key) > 0) {
			s->requirements[j] = s->requirements[j - 1];
			j--;
		}
		s->requirements[j] = r;
	}
}

/* Lexer (apimachinery labels Lexer). */
enum token_kind {
	TOK_END,
	TOK_IDENT,
	TOK_COMMA,
	TOK_OPEN,
	TOK_CLOSE,
	TOK_NOT,
	TOK_EQUALS,
	TOK_DOUBLE_EQUALS,
	TOK_NOT_EQUALS,
	TOK_GT,
	TOK_LT,
	TOK_IN,
	TOK_NOT_IN,
};

struct token {
	enum token_kind kind;
	char *text;
};

struct lexer {
	const char *input;
	size_t pos;
	struct token peeked;
	int has_peeked;
};

static int is_special(char c)
{
	return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>';
}

static int lex_next(struct lexer *lx, struct token *out)
{
	const char *s = lx->input;
	while (s[lx->pos] && isspace((unsigned char)s[lx->pos]))
		lx->pos++;
	size_t start = lx->pos;
	char c = s[start];
	out->text = NULL;
	if (c == '\0') {
		out->kind = TOK_END;
		out->text = strdup("");
		return out->text ? 0 : oom();
	}
	size_t len = 1;
	if (is_special(c)) {
		char next = s[start + 1];
		switch (c) {
		case '!':
			out->kind = next == '=' ? TOK_NOT_EQUALS : TOK_NOT;
			len = next == '=' ? 2 : 1;
			break;
		case '=':
			out->kind = next == '=' ? TOK_DOUBLE_EQUALS : TOK_EQUALS;
			len = next == '=' ? 2 : 1;
			break;
		case '(': out->kind = TOK_OPEN; break;
		case ')': out->kind = TOK_CLOSE; break;
		case ',': out->kind = TOK_COMMA; break;
		case '<': out->kind = TOK_LT; break;
		default: out->kind = TOK_GT; break;
		}
	} else {
		while (s[start + len] && !isspace((unsigned char)s[start + len]) && !is_special(s[start + len]))
			len++;
		out->kind = TOK_IDENT;
		if (len == 2 && strncmp(s + start, "in", 2) == 0)
			out->kind = TOK_IN;
		else if (len == 5 && strncmp(s + start, "notin", 5) == 0)
			out->kind = TOK_NOT_IN;
	}
	lx->pos = start + len;
	out->text = strndup(s + start, len);
	return out->text ? 0 : oom();
}

/* In value position "in" and "notin" are ordinary identifiers. */
static void as_value(struct token *t)
{
	if (t->kind == TOK_IN || t->kind == TOK_NOT_IN)
		t->kind = TOK_IDENT;
}

static int peek(struct lexer *lx, const struct token **out)
{
	if (!lx->has_peeked) {
		int rc = lex_next(lx, &lx->peeked);
		if (rc < 0)
			return rc;
		lx->has_peeked = 1;
	}
	*out = &lx->peeked;
	return 0;
}

/* Take the next token; the caller frees out->text. */
static int consume(struct lexer *lx, struct token *out)
{
	if (lx->has_peeked) {
		*out = lx->peeked;
		lx->has_peeked = 0;
		return 0;
	}
	return lex_next(lx, out);
}

static void lexer_done(struct lexer *lx)
{
	if (lx->has_peeked)
		free(lx->peeked.text);
	lx->has_peeked = 0;
}

/* Append `owned` (ownership taken) to the written-order list and to the
 * requirement's set. */
static int push_value(struct label_requirement *r, char ***order, size_t *n, char *owned)
{
	if (!owned)
		return oom();
	char **grown = realloc(*order, (*n + 1) * sizeof(**order));
	if (!grown) {
		free(owned);
		return oom();
	}
	*order = grown;
	grown[(*n)++] = owned;
	return requirement_add_value(r, owned);
}

/* Drop the next token (already peeked). */
static void skip(struct lexer *lx)
{
	struct token t;
	if (consume(lx, &t) == 0)
		free(t.text);
}

/* Values inside "( ... )", in the order written (for validation messages)
 * and added to the requirement's set. Mirrors parseValues /
 * parseIdentifiersList, including "()" and "(a,)" meaning the empty value. */
static int parse_value_set(struct lexer *lx, struct label_requirement *r, char ***order, size_t *n)
{
	struct token t;
	const struct token *la;
	int rc = consume(lx, &t);
	if (rc < 0)
		return rc;
	if (t.kind != TOK_OPEN) {
		rc = keelson_error_set(KEELSON_EINVALID, "found '%s' expected: '('", t.text);
		free(t.text);
		return rc;
	}
	free(t.text);
	if ((rc = peek(lx, &la)) < 0)
		return rc;
	if (la->kind == TOK_CLOSE) {
		skip(lx);
		return push_value(r, order, n, strdup(""));
	}
	if (la->kind != TOK_IDENT && la->kind != TOK_IN && la->kind != TOK_NOT_IN && la->kind != TOK_COMMA)
		return keelson_error_set(KEELSON_EINVALID, "found '%s', expected: ',', ')' or identifier",
					 la->text);
	for (;;) {
		if ((rc = consume(lx, &t)) < 0)
			return rc;
		as_value(&t);
		if (t.kind == TOK_IDENT) {
			if ((rc = push_value(r, order, n, t.text)) < 0 || (rc = peek(lx, &la)) < 0)
				return rc;
			if (la->kind == TOK_CLOSE) {
				skip(lx);
				return 0;
			}
			if (la->kind != TOK_COMMA)
				return keelson_error_set(KEELSON_EINVALID, "found '%s', expected: ',' or ')'",
							 la->text);
			continue; /* the comma is handled as the next token */
		}
		if (t.kind == TOK_COMMA) {
			free(t.text);
			/* "(,a)", "(a,)" and "(a,,b)" all add the empty value. */
			if (*n == 0 && (rc = push_value(r, order, n, strdup(""))) < 0)
				return rc;
			if ((rc = peek(lx, &la)) < 0)
				return rc;
			if (la->kind == TOK_CLOSE) {
				skip(lx);
				return push_value(r, order, n, strdup(""));
			}
			if (la->kind == TOK_COMMA && (rc = push_value(r, order, n, strdup(""))) < 0)
				return rc;
			continue;
		}
		rc = keelson_error_set(KEELSON_EINVALID, "found '%s', expected: ',', or identifier", t.text);
		free(t.text);
		return rc;
	}
}

static int parse_requirement(struct lexer *lx, struct label_requirement *r)
{
	struct token t;
	const struct token *la;
	char **order = NULL;
	size_t n = 0;
	int rc = consume(lx, &t);
	if (rc < 0)
		return rc;
	int negated = t.kind == TOK_NOT;
	if (negated) {
		free(t.text);
		if ((rc = consume(lx, &t)) < 0)
			return rc;
	}
	if (t.kind != TOK_IDENT) {
		rc = keelson_error_set(KEELSON_EINVALID, "found '%s', expected: identifier", t.text);
		free(t.text);
		return rc;
	}
	r->key = t.text;
	if ((rc = peek(lx, &la)) < 0)
		goto cleanup;
	if (negated || la->kind == TOK_END || la->kind == TOK_COMMA) {
		r->op = negated ? OP_DOES_NOT_EXIST : OP_EXISTS;
		rc = requirement_validate(r, NULL, 0);
		goto cleanup;
	}
	if ((rc = consume(lx, &t)) < 0)
		goto cleanup;
	switch (t.kind) {
	case TOK_IN: r->op = OP_IN; break;
	case TOK_NOT_IN: r->op = OP_NOT_IN; break;
	case TOK_EQUALS: r->op = OP_EQUALS; break;
	case TOK_DOUBLE_EQUALS: r->op = OP_DOUBLE_EQUALS; break;
	case TOK_NOT_EQUALS: r->op = OP_NOT_EQUALS; break;
	case TOK_GT: r->op = OP_GREATER_THAN; break;
	case TOK_LT: r->op = OP_LESS_THAN; break;
	default:
		rc = keelson_error_set(KEELSON_EINVALID, "found '%s', expected: in, notin, =, ==, !=, gt, lt",
				       t.text);
		free(t.text);
		goto cleanup;
	}
	free(t.text);
	if (r->op == OP_IN || r->op == OP_NOT_IN) {
		rc = parse_value_set(lx, r, &order, &n);
	} else {
		if ((rc = peek(lx, &la)) < 0)
			goto cleanup;
		if (la->kind == TOK_END || la->kind == TOK_COMMA) {
			const char *empty = "";
			if ((rc = requirement_add_value(r, empty)) == 0)
				rc = requirement_validate(r, &empty, 1);
			goto cleanup;
		}
		if ((rc = consume(lx, &t)) < 0)
			goto cleanup;
		as_value(&t);
		if (t.kind != TOK_IDENT) {
			rc = keelson_error_set(KEELSON_EINVALID, "found '%s', expected: identifier", t.text);
			free(t.text);
			goto cleanup;
		}
		rc = requirement_add_value(r, t.text);
		order = malloc(sizeof(*order));
		if (!order) {
			free(t.text);
			rc = oom();
			goto cleanup;
		}
		order[n++] = t.text;
	}
	/* The apiserver validates the sorted set, so indexes refer to it. */
	if (rc == 0)
		rc = requirement_validate(r, (const char **)r->values, r->value_count);
cleanup:
	for (size_t i = 0; i < n; i++)
		free(order[i]);
	free(order);
	return rc;
}

static int label_selector_new(struct ks_label_selector **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : oom();
}

int ks_label_selector_parse(struct ks_label_selector **out, const char *text)
{
	if (!out || !text)
		return keelson_error_set(KEELSON_EINVALID, "label selector: text is required");
	size_t len = strlen(text);
	if (len > KS_SELECTOR_MAX_LENGTH)
		return keelson_error_set(KEELSON_ELIMIT,
					 "label selector is %zu bytes long; at most %d are accepted", len,
					 KS_SELECTOR_MAX_LENGTH);
	struct ks_label_selector *sel;
	int rc = label_selector_new(&sel);
	if (rc < 0)
		return rc;
	struct lexer lx = { .input = text };
	const struct token *la;
	for (;;) {
		if ((rc = peek(&lx, &la)) < 0)
			goto fail;
		if (la->kind == TOK_END && sel->count == 0)
			break;
		if (la->kind != TOK_IDENT && la->kind != TOK_NOT) {
			rc = keelson_error_set(KEELSON_EINVALID,
					       "found '%s', expected: !, identifier, or 'end of string'", la->text);
			goto fail;
		}
		struct label_requirement r = { 0 };
		rc = parse_requirement(&lx, &r);
		if (rc == 0)
			rc = selector_append(sel, &r);
		if (rc < 0) {
			requirement_clear(&r);
			if (rc == KEELSON_EINVALID)
				keelson_error_wrap(KEELSON_EINVALID, "unable to parse requirement");
			goto fail;
		}
		if ((rc = peek(&lx, &la)) < 0)
			goto fail;
		if (la->kind == TOK_END)
			break;
		if (la->kind != TOK_COMMA) {
			rc = keelson_error_set(KEELSON_EINVALID, "found '%s', expected: ',' or 'end of string'",
					       la->text);
			goto fail;
		}
		struct token comma;
		consume(&lx, &comma);
		free(comma.text);
		if ((rc = peek(&lx, &la)) < 0)
			goto fail;
		if (la->kind != TOK_IDENT && la->kind != TOK_NOT) {
			rc = keelson_error_set(KEELSON_EINVALID, "found '%s', expected: identifier after ','",
					       la->text);
			goto fail;
		}
	}
	lexer_done(&lx);
	selector_sort(sel);
	*out = sel;
	return 0;
fail:
	lexer_done(&lx);
	ks_label_selector_free(sel);
	return rc;
}

static int requirement_from_expression(struct label_requirement *r, const cJSON *expr, size_t index)
{
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(expr, "key");
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(expr, "operator");
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(expr, "values");
	if (!cJSON_IsObject(expr) || !cJSON_IsString(key) || !cJSON_IsString(op))
		return keelson_error_set(KEELSON_EINVALID,
					 "matchExpressions[%zu]: key and operator must be strings", index);
	static const struct {
		const char *name;
		enum label_op op;
	} ops[] = { { "In", OP_IN }, { "NotIn", OP_NOT_IN }, { "Exists", OP_EXISTS },
		    { "DoesNotExist", OP_DOES_NOT_EXIST } };
	size_t i;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op->valuestring, ops[i].name) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return keelson_error_set(KEELSON_EINVALID, "\"%s\" is not a valid label selector operator",
					 op->valuestring);
	r->op = ops[i].op;
	if (!(r->key = strdup(key->valuestring)))
		return oom();
	if (values && !cJSON_IsNull(values) && !cJSON_IsArray(values))
		return keelson_error_set(KEELSON_EINVALID, "matchExpressions[%zu].values must be a list", index);
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(values);
	const char **order = cap ? calloc(cap, sizeof(*order)) : NULL;
	if (cap && !order)
		return oom();
	int rc = 0;
	for (const cJSON *v = cJSON_IsArray(values) ? values->child : NULL; v && rc == 0; v = v->next) {
		if (!cJSON_IsString(v)) {
			rc = keelson_error_set(KEELSON_EINVALID,
					       "matchExpressions[%zu].values[%zu] must be a string", index, n);
			break;
		}
		order[n++] = v->valuestring;
		rc = requirement_add_value(r, v->valuestring);
	}
	if (rc == 0)
		rc = requirement_validate(r, order, n);
	free(order);
	return rc;
}

int ks_label_selector_from_object(struct ks_label_selector **out, const cJSON *selector)
{
	if (!out || !cJSON_IsObject(selector))
		return keelson_error_set(KEELSON_EINVALID, "label selector: a LabelSelector object is required");
	struct ks_label_selector *sel;
	int rc = label_selector_new(&sel);
	if (rc < 0)
		return rc;
	const cJSON *match_labels = cJSON_GetObjectItemCaseSensitive(selector, "matchLabels");
	const cJSON *exprs = cJSON_GetObjectItemCaseSensitive(selector, "matchExpressions");
	if ((match_labels && !cJSON_IsNull(match_labels) && !cJSON_IsObject(match_labels)) ||
	    (exprs && !cJSON_IsNull(exprs) && !cJSON_IsArray(exprs))) {
		rc = keelson_error_set(KEELSON_EINVALID,
				       "label selector: matchLabels must be an object and matchExpressions a list");
		goto fail;
	}
	for (const cJSON *m = cJSON_IsObject(match_labels) ? match_labels->child : NULL; m; m = m->next) {
		struct label_requirement r = { .op = OP_EQUALS };
		const char *value = cJSON_IsString(m) ? m->valuestring : NULL;
		if (!value) {
			rc = keelson_error_set(KEELSON_EINVALID, "matchLabels[%s] must be a string", m->string);
			goto fail;
		}
		r.key = strdup(m->string);
		rc = r.key ? requirement_add_value(&r, value) : oom();
		if (rc == 0)
			rc = requirement_validate(&r, &value, 1);
		if (rc == 0)
			rc = selector_append(sel, &r);
		requirement_clear(&r);
		if (rc < 0)
			goto fail;
	}
	size_t index = 0;
	for (const cJSON *e = cJSON_IsArray(exprs) ? exprs->child : NULL; e; e = e->next, index++) {
		struct label_requirement r = { 0 };
		rc = requirement_from_expression(&r, e, index);
		if (rc == 0)
			rc = selector_append(sel, &r);
		requirement_clear(&r);
		if (rc < 0)
			goto fail;
	}
	selector_sort(sel);
	*out = sel;
	return 0;
fail:
	ks_label_selector_free(sel);
	return rc;
}

static int has_value(const struct label_requirement *r, const char *value)
{
	for (size_t i = 0; i < r->value_count; i++)
		if (strcmp(r->values[i], value) == 0)
			return 1;
	return 0;
}

static bool requirement_matches(const struct label_requirement *r, const cJSON *labels)
{
	const cJSON *label = labels ? cJSON_GetObjectItemCaseSensitive(labels, r->key) : NULL;
	const char *value = cJSON_IsString(label) ? label->valuestring : NULL;
	long long have, want;
	switch (r->op) {
	case OP_EQUALS:
	case OP_DOUBLE_EQUALS:
	case OP_IN:
		return value && has_value(r, value);
	case OP_NOT_EQUALS:
	case OP_NOT_IN:
		return !value || !has_value(r, value);
	case OP_EXISTS:
		return value != NULL;
	case OP_DOES_NOT_EXIST:
		return value == NULL;
	case OP_GREATER_THAN:
	case OP_LESS_THAN:
		if (!value || parse_int64(&have, value) < 0 || parse_int64(&want, r->values[0]) < 0)
			return false;
		return r->op == OP_GREATER_THAN ? have > want : have < want;
	}
	return false;
}

bool ks_label_selector_matches(const struct ks_label_selector *selector, const cJSON *labels)
{
	if (!selector)
		return false;
	if (labels && !cJSON_IsObject(labels))
		labels = NULL;
	for (size_t i = 0; i < selector->count; i++)
		if (!requirement_matches(&selector->requirements[i], labels))
			return false;
	return true;
}

bool ks_label_selector_is_empty(const struct ks_label_selector *selector)
{
	return selector && selector->count == 0;
}

struct strbuf {
	char *data;
	size_t len, cap;
	int failed;
};

static void sb_add(struct strbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = 1;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

char *ks_label_selector_format(const struct ks_label_selector *selector)
{
	struct strbuf b = { 0 };
	sb_add(&b, "");
	for (size_t i = 0; selector && i < selector->count; i++) {
		const struct label_requirement *r = &selector->requirements[i];
		if (i > 0)
			sb_add(&b, ",");
		if (r->op == OP_DOES_NOT_EXIST)
			sb_add(&b, "!");
		sb_add(&b, r->key);
		static const char *const op_text[] = {
			[OP_EQUALS] = "=", [OP_DOUBLE_EQUALS] = "==", [OP_NOT_EQUALS] = "!=",
			[OP_IN] = " in ", [OP_NOT_IN] = " notin ", [OP_EXISTS] = "",
			[OP_DOES_NOT_EXIST] = "", [OP_GREATER_THAN] = ">", [OP_LESS_THAN] = "<",
		};
		sb_add(&b, op_text[r->op]);
		if (r->op == OP_EXISTS || r->op == OP_DOES_NOT_EXIST)
			continue;
		int set = r->op == OP_IN || r->op == OP_NOT_IN;
		if (set)
			sb_add(&b, "(");
		for (size_t v = 0; v < r->value_count; v++) {
			if (v > 0)
				sb_add(&b, ",");
			sb_add(&b, r->values[v]);
		}
		if (set)
			sb_add(&b, ")");
	}
	if (b.failed) {
		free(b.data);
		oom();
		return NULL;
	}
	return b.data;
}

/* ---- field selectors ---- */

struct selectable_field;

struct field_term {
	char *field;
	char *value;
	int negated;
	const struct selectable_field *def;
};

struct ks_field_selector {
	struct field_term *terms;
	size_t count;
};

/* Fields kube-apiserver registers per kind (AddFieldLabelConversionFunc
 * in pkg/apis/.../v1/conversion.go); `path` is where the value lives. */
struct selectable_field {
	const char *label;
	const char *path; /* dotted path in the object; NULL: special */
};

static const struct selectable_field meta_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "metadata.namespace", "metadata.namespace" },
	{ NULL, NULL },
};
static const struct selectable_field pod_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "metadata.namespace", "metadata.namespace" },
	{ "spec.nodeName", "spec.nodeName" },
	{ "spec.restartPolicy", "spec.restartPolicy" },
	{ "spec.schedulerName", "spec.schedulerName" },
	{ "spec.serviceAccountName", "spec.serviceAccountName" },
	{ "spec.hostNetwork", "spec.hostNetwork" },
	{ "status.phase", "status.phase" },
	{ "status.podIP", NULL },
	{ "status.nominatedNodeName", "status.nominatedNodeName" },
	{ NULL, NULL },
};
static const struct selectable_field event_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "metadata.namespace", "metadata.namespace" },
	{ "involvedObject.kind", "involvedObject.kind" },
	{ "involvedObject.namespace", "involvedObject.namespace" },
	{ "involvedObject.name", "involvedObject.name" },
	{ "involvedObject.uid", "involvedObject.uid" },
	{ "involvedObject.apiVersion", "involvedObject.apiVersion" },
	{ "involvedObject.resourceVersion", "involvedObject.resourceVersion" },
	{ "involvedObject.fieldPath", "involvedObject.fieldPath" },
	{ "reason", "reason" },
	{ "reportingComponent", "reportingComponent" },
	{ "source", "source.component" },
	{ "type", "type" },
	{ NULL, NULL },
};
static const struct selectable_field secret_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "metadata.namespace", "metadata.namespace" },
	{ "type", "type" },
	{ NULL, NULL },
};
static const struct selectable_field namespace_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "status.phase", "status.phase" },
	{ NULL, NULL },
};
static const struct selectable_field node_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "spec.unschedulable", "spec.unschedulable" },
	{ NULL, NULL },
};
static const struct selectable_field replicas_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "metadata.namespace", "metadata.namespace" },
	{ "status.replicas", "status.replicas" },
	{ NULL, NULL },
};
static const struct selectable_field job_fields[] = {
	{ "metadata.name", "metadata.name" },
	{ "metadata.namespace", "metadata.namespace" },
	{ "status.successful", "status.successful" },
	{ NULL, NULL },
};

static const struct {
	const char *kind;
	const struct selectable_field *fields;
} kind_fields[] = {
	{ "Pod", pod_fields },
	{ "Event", event_fields },
	{ "Secret", secret_fields },
	{ "Namespace", namespace_fields },
	{ "Node", node_fields },
	{ "ReplicaSet", replicas_fields },
	{ "ReplicationController", replicas_fields },
	{ "Job", job_fields },
};

static const struct selectable_field *fields_for(const char *kind)
{
	for (size_t i = 0; kind && i < sizeof(kind_fields) / sizeof(kind_fields[0]); i++)
		if (strcmp(kind_fields[i].kind, kind) == 0)
			return kind_fields[i].fields;
	return meta_fields;
}

static const struct selectable_field *find_field(const struct selectable_field *fields, const char *label)
{
	for (; fields->label; fields++)
		if (strcmp(fields->label, label) == 0)
			return fields;
	return NULL;
}

void ks_field_selector_free(struct ks_field_selector *selector)
{
	if (!selector)
		return;
	for (size_t i = 0; i < selector->count; i++) {
		free(selector->terms[i].field);
		free(selector->terms[i].value);
	}
	free(selector->terms);
	free(selector);
}

/* pkg/fields UnescapeValue: "\\" "\," "\=" are escapes; a bare ',' or '='
 * in a value is an error. */
static int unescape_value(char **out, const char *text, size_t len)
{
	char *value = malloc(len + 1);
	if (!value)
		return oom();
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '\\') {
			if (i + 1 >= len || (text[i + 1] != '\\' && text[i + 1] != ',' && text[i + 1] != '=')) {
				free(value);
				return keelson_error_set(KEELSON_EINVALID,
							 "invalid field selector: invalid escape sequence: %.*s",
							 (int)(i + 1 < len ? 2 : 1), text + i);
			}
			value[w++] = text[++i];
		} else if (c == ',' || c == '=') {
			free(value);
			return keelson_error_set(KEELSON_EINVALID,
						 "invalid field selector: unescaped character in value: %c", c);
		} else {
			value[w++] = c;
		}
	}
	value[w] = '\0';
	*out = value;
	return 0;
}

static int add_term(struct ks_field_selector *sel, const char *whole, const char *term, size_t len,
		    const struct selectable_field *fields)
{
	/* First unescaped operator, trying "!=", "==", "=" at each position. */
	static const char *const ops[] = { "!=", "==", "=" };
	size_t at = len, op_len = 0;
	int op = -1;
	for (size_t i = 0; i < len && op < 0; i++) {
		if (term[i] == '\\') {
			i++;
			continue;
		}
		for (int k = 0; k < 3; k++) {
			size_t n = strlen(ops[k]);
			if (i + n <= len && strncmp(term + i, ops[k], n) == 0) {
				op = k;
				at = i;
				op_len = n;
				break;
			}
		}
	}
	if (op < 0)
		return keelson_error_set(KEELSON_EINVALID, "invalid selector: '%s'; can't understand '%.*s'",
					 whole, (int)len, term);
	char *field = strndup(term, at);
	if (!field)
		return oom();
	const struct selectable_field *def = find_field(fields, field);
	if (!def) {
		int rc = keelson_error_set(KEELSON_EINVALID, "field label not supported: %s", field);
		free(field);
		return rc;
	}
	char *value = NULL;
	int rc = unescape_value(&value, term + at + op_len, len - at - op_len);
	if (rc < 0) {
		free(field);
		return rc;
	}
	struct field_term *grown = realloc(sel->terms, (sel->count + 1) * sizeof(*grown));
	if (!grown) {
		free(field);
		free(value);
		return oom();
	}
	sel->terms = grown;
	grown[sel->count++] = (struct field_term){ field, value, op == 0, def };
	return 0;
}

int ks_field_selector_parse(struct ks_field_selector **out, const char *text, const char *kind)
{
	if (!out || !text)
		return keelson_error_set(KEELSON_EINVALID, "field selector: text is required");
	size_t len = strlen(text);
	if (len > KS_SELECTOR_MAX_LENGTH)
		return keelson_error_set(KEELSON_ELIMIT,
					 "field selector is %zu bytes long; at most %d are accepted", len,
					 KS_SELECTOR_MAX_LENGTH);
	struct ks_field_selector *sel = calloc(1, sizeof(*sel));
	if (!sel)
		return oom();
	const struct selectable_field *fields = fields_for(kind);
	size_t start = 0;
	int rc = 0;
	for (size_t i = 0; i <= len && rc == 0; i++) {
		if (i < len && text[i] == '\\') {
			i++;
			continue;
		}
		if (i < len && text[i] != ',')
			continue;
		if (i > start)
			rc = add_term(sel, text, text + start, i - start, fields);
		start = i + 1;
	}
	if (rc < 0) {
		ks_field_selector_free(sel);
		return rc;
	}
	*out = sel;
	return 0;
}

/* String form of the field at dotted `path`, as the apiserver's
 * *ToSelectableFields give it ("" when absent). Writes into buf. */
static const char *field_value(const cJSON *object, const struct selectable_field *field, char *buf,
			       size_t size)
{
	const cJSON *node = object;
	if (!field->path) {
		/* status.podIP: podIPs[0].ip when set, as PodToSelectableFields. */
		const cJSON *ips = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(object, "status"), "podIPs");
		const cJSON *first = cJSON_GetArrayItem(ips, 0);
		const cJSON *ip = cJSON_GetObjectItemCaseSensitive(first, "ip");
		if (cJSON_IsString(ip))
			return ip->valuestring;
		node = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(object, "status"), "podIP");
		return cJSON_IsString(node) ? node->valuestring : "";
	}
	const char *p = field->path;
	while (node && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		char key[64];
		if (n >= sizeof(key))
			return "";
		memcpy(key, p, n);
		key[n] = '\0';
		node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, key) : NULL;
		p += n + (dot ? 1 : 0);
	}
	if (cJSON_IsString(node))
		return node->valuestring;
	if (cJSON_IsBool(node))
		return cJSON_IsTrue(node) ? "true" : "false";
	if (cJSON_IsNumber(node)) {
		snprintf(buf, size, "%.0f", node->valuedouble);
		return buf;
	}
	return "";
}

bool ks_field_selector_matches(const struct ks_field_selector *selector, const cJSON *object)
{
	if (!selector)
		return false;
	for (size_t i = 0; i < selector->count; i++) {
		const struct field_term *t = &selector->terms[i];
		char buf[32];
		const char *value = field_value(object, t->def, buf, sizeof(buf));
		int equal = strcmp(value, t->value) == 0;
		if (equal == t->negated)
			return false;
	}
	return true;
}

const char *ks_field_selector_exact_name(const struct ks_field_selector *selector)
{
	for (size_t i = 0; selector && i < selector->count; i++)
		if (!selector->terms[i].negated && strcmp(selector->terms[i].field, "metadata.name") == 0)
			return selector->terms[i].value;
	return NULL;
}
