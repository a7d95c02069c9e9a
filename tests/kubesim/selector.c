#include "config.h"

#include "tests/kubesim/selector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define KS_SEL_MAX_REQ 32
#define KS_SEL_MAX_VALUES 32

enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS };

struct requirement {
	char *key;
	enum op op;
	char *values[KS_SEL_MAX_VALUES];
	int nvalues;
};

struct ks_selector {
	struct requirement req[KS_SEL_MAX_REQ];
	int n;
};

static char *trim_dup(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	char *d = malloc(len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = 0;
	}
	return d;
}

void ks_selector_free(struct ks_selector *sel)
{
	if (!sel)
		return;
	for (int i = 0; i < sel->n; i++) {
		free(sel->req[i].key);
		for (int k = 0; k < sel->req[i].nvalues; k++)
			free(sel->req[i].values[k]);
	}
	free(sel);
}

/* Split on commas outside parentheses. */
static int parse_requirement(struct requirement *r, const char *s, size_t len, bool field)
{
	char *text = trim_dup(s, len);
	if (!text)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	int rc = 0;
	char *p;
	if (!*text) {
		rc = keelson_error_set(KEELSON_EINVALID, "empty requirement in selector");
	} else if ((p = strstr(text, "!=")) != NULL) {
		r->op = OP_NE;
		r->key = trim_dup(text, (size_t)(p - text));
		r->values[r->nvalues++] = trim_dup(p + 2, strlen(p + 2));
	} else if ((p = strstr(text, "==")) != NULL) {
		r->op = OP_EQ;
		r->key = trim_dup(text, (size_t)(p - text));
		r->values[r->nvalues++] = trim_dup(p + 2, strlen(p + 2));
	} else if ((p = strchr(text, '=')) != NULL) {
		r->op = OP_EQ;
		r->key = trim_dup(text, (size_t)(p - text));
		r->values[r->nvalues++] = trim_dup(p + 1, strlen(p + 1));
	} else if (field) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"invalid selector: '%s'; can't understand '%s'", text, text);
	} else if (text[0] == '!') {
		r->op = OP_NOT_EXISTS;
		r->key = trim_dup(text + 1, strlen(text + 1));
	} else if ((p = strstr(text, " notin ")) != NULL || (p = strstr(text, " in ")) != NULL) {
		bool notin = !strncmp(p, " notin ", 7);
		r->op = notin ? OP_NOTIN : OP_IN;
		r->key = trim_dup(text, (size_t)(p - text));
		char *open = strchr(p, '(');
		char *close = open ? strchr(open, ')') : NULL;
		if (!open || !close) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"found '%s', expected: '(' ... ')' in \"%s\"", p, text);
		} else {
			char *cur = open + 1;
			while (cur <= close && r->nvalues < KS_SEL_MAX_VALUES) {
				char *end = strchr(cur, ',');
				if (!end || end > close)
					end = close;
				r->values[r->nvalues++] = trim_dup(cur, (size_t)(end - cur));
				cur = end + 1;
			}
		}
	} else {
		r->op = OP_EXISTS;
		r->key = trim_dup(text, strlen(text));
	}
	if (rc == 0 && (!r->key || !*r->key))
		rc = keelson_error_set(KEELSON_EINVALID, "selector requirement \"%s\" has no key", text);
	free(text);
	return rc;
}

int ks_selector_parse(struct ks_selector **out, const char *text, bool field)
{
	*out = NULL;
	if (strlen(text) > 8192)
		return keelson_error_set(KEELSON_ELIMIT, "selector longer than 8192 bytes");
	struct ks_selector *sel = calloc(1, sizeof(*sel));
	if (!sel)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	const char *start = text;
	int depth = 0;
	for (const char *p = text;; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		if ((*p == ',' && depth == 0) || *p == 0) {
			if (p > start || *p == ',') {
				if (sel->n == KS_SEL_MAX_REQ) {
					ks_selector_free(sel);
					return keelson_error_set(KEELSON_ELIMIT,
						"more than %d requirements in selector", KS_SEL_MAX_REQ);
				}
				int rc = parse_requirement(&sel->req[sel->n++], start,
					(size_t)(p - start), field);
				if (rc) {
					ks_selector_free(sel);
					return rc;
				}
			}
			start = p + 1;
		}
		if (*p == 0)
			break;
	}
	*out = sel;
	return 0;
}

static bool in_values(const struct requirement *r, const char *v)
{
	for (int i = 0; i < r->nvalues; i++)
		if (r->values[i] && !strcmp(r->values[i], v))
			return true;
	return false;
}

static bool eval(const struct requirement *r, const char *v)
{
	switch (r->op) {
	case OP_EQ:
	case OP_IN:
		return v && in_values(r, v);
	case OP_NE:
	case OP_NOTIN:
		return !v || !in_values(r, v);
	case OP_EXISTS:
		return v != NULL;
	case OP_NOT_EXISTS:
		return v == NULL;
	}
	return false;
}

bool ks_selector_matches_labels(const struct ks_selector *sel, const cJSON *object)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(object, "metadata"), "labels");
	for (int i = 0; i < sel->n; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, sel->req[i].key);
		if (!eval(&sel->req[i], cJSON_IsString(v) ? v->valuestring : NULL))
			return false;
	}
	return true;
}

bool ks_selector_matches_fields(const struct ks_selector *sel, const cJSON *object)
{
	for (int i = 0; i < sel->n; i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s", sel->req[i].key);
		const cJSON *cur = object;
		char *save = NULL;
		for (char *t = strtok_r(path, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
			cur = cJSON_GetObjectItemCaseSensitive(cur, t);
		char buf[64];
		const char *v = "";
		if (cJSON_IsString(cur))
			v = cur->valuestring;
		else if (cJSON_IsBool(cur))
			v = cJSON_IsTrue(cur) ? "true" : "false";
		else if (cJSON_IsNumber(cur)) {
			snprintf(buf, sizeof(buf), "%g", cur->valuedouble);
			v = buf;
		}
		/* A missing field reads as "" (the real server's field sets
		 * hold every supported field, empty when unset). */
		if (!eval(&sel->req[i], v))
			return false;
	}
	return true;
}
