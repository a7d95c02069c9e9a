#include "config.h"

#include "diff/diff.h"

#include "core/error.h"
#include "diff/list_semantics.h"
#include "diff/quantity.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "reconcile/inventory.h"
#include "yaml/yaml_load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than any YAML the loader accepts (its default max_depth is 100). */
#define MAX_PATH_DEPTH 128
/* A managedFields key ("k:{...}", "v:...") is a small JSON value. */
#define MAX_FIELDS_KEY_BYTES 4096

const char *keelson_diff_change_name(enum keelson_diff_change change)
{
	switch (change) {
	case KEELSON_DIFF_CHANGED:
		return "changed";
	case KEELSON_DIFF_NOT_LIVE:
		return "not-live";
	case KEELSON_DIFF_REMOVED:
		return "removed";
	}
	return "unknown";
}

const char *keelson_diff_state_name(enum keelson_diff_state state)
{
	switch (state) {
	case KEELSON_DIFF_IN_SYNC:
		return "in-sync";
	case KEELSON_DIFF_DRIFTED:
		return "drifted";
	case KEELSON_DIFF_MISSING:
		return "missing";
	case KEELSON_DIFF_NOT_IN_REPO:
		return "not-in-repository";
	}
	return "unknown";
}

void keelson_diff_options_init(struct keelson_diff_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_DIFF_OPTIONS_VERSION;
	opts->max_fields = 10000;
}

/* --- Ignore rules -------------------------------------------------------- */

void keelson_diff_ignore_rules_free(struct keelson_diff_ignore_rules *rules)
{
	if (rules == NULL)
		return;
	for (size_t i = 0; i < rules->count; i++) {
		free(rules->items[i].group);
		free(rules->items[i].kind);
		free(rules->items[i].pointer);
	}
	free(rules->items);
	free(rules);
}

/* `node` NULL: no position. A member's error points at its key when
 * `at_key`. */
static int rule_error(const struct keelson_yaml_stream *stream, const cJSON *node, int at_key,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int rule_error(const struct keelson_yaml_stream *stream, const cJSON *node, int at_key,
		      const char *fmt, ...)
{
	const struct keelson_source_pos *pos = NULL;
	if (stream != NULL && node != NULL)
		pos = at_key ? keelson_yaml_key_position(stream, node) : keelson_yaml_position(stream, node);
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (pos != NULL)
		return keelson_error_set(KEELSON_EINVALID, "%s:%u:%u: ignoreDifferences: %s", pos->file,
					 pos->line, pos->column, what);
	return keelson_error_set(KEELSON_EINVALID, "ignoreDifferences: %s", what);
}

static int optional_string(char **out, const cJSON *entry, const char *key,
			   const struct keelson_yaml_stream *stream)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, key);
	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return rule_error(stream, v, 0, "%s must be a string", key);
	*out = strdup(v->valuestring);
	return *out ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory");
}

int keelson_diff_ignore_rules_parse(struct keelson_diff_ignore_rules **out, const cJSON *value,
				    const struct keelson_yaml_stream *stream)
{
	struct keelson_diff_ignore_rules *rules = calloc(1, sizeof(*rules));
	int rc = 0;
	*out = NULL;
	if (rules == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if (value == NULL || cJSON_IsNull(value))
		goto done;
	if (!cJSON_IsArray(value)) {
		rc = rule_error(stream, value, 0, "%s", "must be a list of {group, kind, jsonPointers}");
		goto done;
	}
	size_t total = 0;
	const cJSON *entry;
	cJSON_ArrayForEach(entry, value) {
		const cJSON *pointers = cJSON_GetObjectItemCaseSensitive(entry, "jsonPointers");
		if (!cJSON_IsObject(entry) || !cJSON_IsArray(pointers) || cJSON_GetArraySize(pointers) == 0) {
			rc = rule_error(stream, entry, 0, "%s",
					"each entry needs a non-empty jsonPointers list (group and kind are optional)");
			goto done;
		}
		const cJSON *member;
		cJSON_ArrayForEach(member, entry) {
			if (strcmp(member->string, "group") != 0 && strcmp(member->string, "kind") != 0 &&
			    strcmp(member->string, "jsonPointers") != 0) {
				rc = rule_error(stream, member, 1, "unknown key \"%s\" (known: group, kind, jsonPointers)",
						member->string);
				goto done;
			}
		}
		total += (size_t)cJSON_GetArraySize(pointers);
	}
	if (total > KEELSON_DIFF_MAX_IGNORE_RULES) {
		rc = rule_error(stream, value, 0, "%s", "more than 1000 pointers");
		goto done;
	}
	rules->items = calloc(total ? total : 1, sizeof(*rules->items));
	if (rules->items == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto done;
	}
	cJSON_ArrayForEach(entry, value) {
		char *group, *kind;
		if ((rc = optional_string(&group, entry, "group", stream)) < 0)
			goto done;
		if ((rc = optional_string(&kind, entry, "kind", stream)) < 0) {
			free(group);
			goto done;
		}
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(entry, "jsonPointers")) {
			char **tokens = NULL;
			size_t n = 0;
			if (!cJSON_IsString(p) || keelson_json_pointer_parse(&tokens, &n, p->valuestring) < 0) {
				rc = rule_error(stream, p, 0, "%s",
						"a JSON pointer (RFC 6901) such as /spec/replicas is expected");
				free(group);
				free(kind);
				goto done;
			}
			keelson_json_pointer_tokens_free(tokens, n);
			struct keelson_diff_ignore_rule *r = &rules->items[rules->count++];
			r->group = group ? strdup(group) : NULL;
			r->kind = kind ? strdup(kind) : NULL;
			r->pointer = strdup(p->valuestring);
			if ((group && !r->group) || (kind && !r->kind) || !r->pointer) {
				free(group);
				free(kind);
				rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
				goto done;
			}
		}
		free(group);
		free(kind);
	}
done:
	if (rc < 0) {
		keelson_diff_ignore_rules_free(rules);
		return rc;
	}
	*out = rules;
	return 0;
}

static bool rule_covers(const char *rule, const char *pointer)
{
	char **rt = NULL, **pt = NULL;
	size_t rn = 0, pn = 0;
	bool match = false;
	if (keelson_json_pointer_parse(&rt, &rn, rule) < 0)
		return false;
	if (keelson_json_pointer_parse(&pt, &pn, pointer) < 0) {
		keelson_json_pointer_tokens_free(rt, rn);
		return false;
	}
	if (rn <= pn) {
		match = true;
		for (size_t i = 0; i < rn && match; i++)
			match = strcmp(rt[i], "*") == 0 || strcmp(rt[i], pt[i]) == 0;
	}
	keelson_json_pointer_tokens_free(rt, rn);
	keelson_json_pointer_tokens_free(pt, pn);
	return match;
}

bool keelson_diff_ignore_rules_match(const struct keelson_diff_ignore_rules *rules,
				     const char *group, const char *kind, const char *pointer)
{
	if (rules == NULL || pointer == NULL)
		return false;
	for (size_t i = 0; i < rules->count; i++) {
		const struct keelson_diff_ignore_rule *r = &rules->items[i];
		if (r->group != NULL && (group == NULL || strcmp(r->group, group) != 0))
			continue;
		if (r->kind != NULL && (kind == NULL || strcmp(r->kind, kind) != 0))
			continue;
		if (rule_covers(r->pointer, pointer))
			return true;
	}
	return false;
}

/* --- Comparison ---------------------------------------------------------- */

struct ctx {
	const struct keelson_object *desired;
	const struct keelson_diff_options *opts;
	struct keelson_diff_object *obj;
	size_t cap;
	/* Path from the object root in the desired object, for the list
	 * semantics table; list indexes as decimal tokens. */
	const char *tokens[MAX_PATH_DEPTH];
	/* The same path in the live object (keyed list items may sit at
	 * other indexes). Pointers are only built for differences. */
	const char *ltokens[MAX_PATH_DEPTH];
	size_t depth;
	/* Dry run: find out whether anything differs without copying the
	 * live object into `merged` (most objects are in sync). */
	bool dry;
	/* REMOVED fields' live pointers, deleted from `merged` at the end. */
	char **removals;
	size_t removal_count, removal_cap;
	int rc;
};

static int fail(struct ctx *c, int rc)
{
	if (c->rc == 0)
		c->rc = rc;
	return rc;
}

static bool is_zero_value(const cJSON *v)
{
	if (cJSON_IsFalse(v))
		return true;
	if (cJSON_IsNumber(v))
		return v->valuedouble == 0;
	if (cJSON_IsString(v))
		return v->valuestring[0] == '\0';
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child == NULL;
	return false;
}

static void set_position(struct ctx *c, struct keelson_diff_field *f, const cJSON *node, bool exact)
{
	const struct keelson_source_pos *pos = NULL;
	if (c->desired->stream != NULL && node != NULL)
		pos = keelson_yaml_position(c->desired->stream, node);
	f->position_exact = exact && pos != NULL;
	if (pos != NULL) {
		f->file = c->desired->file ? c->desired->file : pos->file;
		f->line = pos->line;
		f->column = pos->column;
	} else {
		f->file = c->desired->file;
		f->line = c->desired->line;
		f->column = c->desired->column;
		f->position_exact = false;
	}
}

/* Record a difference unless an ignore rule covers it. Returns true when
 * recorded (the caller then applies the desired value to `merged`). */
static bool record(struct ctx *c, enum keelson_diff_change change, const char *pointer,
		   const char *live_pointer, const cJSON *desired, const cJSON *live,
		   const cJSON *position_node, bool exact)
{
	struct keelson_diff_object *obj = c->obj;
	if (c->rc < 0)
		return false;
	if (c->opts->ignore != NULL &&
	    (keelson_diff_ignore_rules_match(c->opts->ignore, obj->group, obj->kind, pointer) ||
	     (live_pointer != NULL &&
	      keelson_diff_ignore_rules_match(c->opts->ignore, obj->group, obj->kind, live_pointer)))) {
		obj->ignored_count++;
		return false;
	}
	if (obj->field_count >= c->opts->max_fields) {
		fail(c, keelson_error_set(KEELSON_ELIMIT,
					  "%s %s/%s: more than %zu differing fields; raise max_fields",
					  obj->kind, obj->namespace_, obj->name, c->opts->max_fields));
		return false;
	}
	if (obj->field_count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		void *p = realloc(obj->fields, cap * sizeof(*obj->fields));
		if (p == NULL) {
			fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
			return false;
		}
		obj->fields = p;
		c->cap = cap;
	}
	struct keelson_diff_field *f = &obj->fields[obj->field_count];
	memset(f, 0, sizeof(*f));
	f->change = change;
	f->pointer = strdup(pointer);
	f->live_pointer = live_pointer ? strdup(live_pointer) : NULL;
	/* A Secret's values never leave the diff: every consumer (logs,
	 * alerts, status) prints fields, and one forgetting to redact would
	 * leak them (found by tests/security/secrets-scenario.sh). */
	bool secret = keelson_diff_is_secret_value(obj->group, obj->kind, pointer) ||
		      (live_pointer != NULL && keelson_diff_is_secret_value(obj->group, obj->kind, live_pointer));
	if (secret) {
		f->desired = desired ? cJSON_CreateString(KEELSON_DIFF_REDACTED) : NULL;
		f->live = live ? cJSON_CreateString(KEELSON_DIFF_REDACTED) : NULL;
	} else {
		f->desired = desired ? cJSON_Duplicate(desired, 1) : NULL;
		f->live = live ? cJSON_Duplicate(live, 1) : NULL;
	}
	obj->field_count++;
	if (!f->pointer || (live_pointer && !f->live_pointer) || (desired && !f->desired) ||
	    (live && !f->live)) {
		fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
		return false;
	}
	set_position(c, f, position_node, exact);
	return true;
}

/* Fields whose values are resource.Quantity in built-in kinds. */
static bool is_quantity_path(const struct ctx *c)
{
	static const char *const quantity_maps[] = {"limits", "requests", "hard", "capacity",
						    "allocatable", "overhead"};
	static const char *const limit_range_maps[] = {"default", "defaultRequest", "max", "min",
						       "maxLimitRequestRatio"};
	const char *kind = c->obj->kind;
	if (c->depth == 0 || strcmp(kind, "ConfigMap") == 0 || strcmp(kind, "Secret") == 0)
		return false;
	const char *leaf = c->tokens[c->depth - 1];
	if (strcmp(leaf, "sizeLimit") == 0)
		return true;
	/* autoscaling/v2 MetricTarget.value and .averageValue */
	if (strcmp(kind, "HorizontalPodAutoscaler") == 0 &&
	    (strcmp(leaf, "value") == 0 || strcmp(leaf, "averageValue") == 0))
		return true;
	if (c->depth < 2)
		return false;
	const char *parent = c->tokens[c->depth - 2];
	for (size_t i = 0; i < sizeof(quantity_maps) / sizeof(quantity_maps[0]); i++)
		if (strcmp(parent, quantity_maps[i]) == 0)
			return true;
	if (strcmp(kind, "LimitRange") == 0)
		for (size_t i = 0; i < sizeof(limit_range_maps) / sizeof(limit_range_maps[0]); i++)
			if (strcmp(parent, limit_range_maps[i]) == 0)
				return true;
	return false;
}

static bool scalars_equal(const struct ctx *c, const cJSON *d, const cJSON *l)
{
	if (keelson_json_equal(d, l))
		return true;
	if (is_quantity_path(c)) {
		struct keelson_quantity qd, ql;
		bool eq = keelson_quantity_from_json(&qd, d) == 0 &&
			  keelson_quantity_from_json(&ql, l) == 0 && keelson_quantity_equal(&qd, &ql);
		keelson_error_clear();
		return eq;
	}
	return false;
}

static void replace_in_merged(struct ctx *c, cJSON *parent, cJSON *item, const cJSON *desired)
{
	if (c->dry)
		return;
	cJSON *copy = cJSON_Duplicate(desired, 1);
	if (copy == NULL) {
		fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
		return;
	}
	if (parent == NULL) {
		cJSON_Delete(copy);
		return;
	}
	/* cJSON_Duplicate copied the desired node's key, which is the live
	 * node's key: objects are matched by member name. */
	if (cJSON_IsObject(parent) && copy->string == NULL) {
		copy->string = strdup(item->string);
		if (copy->string == NULL) {
			cJSON_Delete(copy);
			fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
			return;
		}
	}
	if (cJSON_IsArray(parent) && copy->string != NULL) {
		free(copy->string);
		copy->string = NULL;
	}
	cJSON_ReplaceItemViaPointer(parent, item, copy);
}

static void add_to_merged(struct ctx *c, cJSON *parent, const char *key, const cJSON *desired)
{
	if (c->dry)
		return;
	cJSON *copy = cJSON_Duplicate(desired, 1);
	if (copy == NULL) {
		fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
		return;
	}
	if (cJSON_IsObject(parent) && key != NULL)
		cJSON_AddItemToObject(parent, key, copy);
	else if (cJSON_IsArray(parent))
		cJSON_AddItemToArray(parent, copy);
	else
		cJSON_Delete(copy);
}

static bool push(struct ctx *c, const char *token, const char *live_token)
{
	if (c->depth == MAX_PATH_DEPTH) {
		fail(c, keelson_error_set(KEELSON_ELIMIT, "object nested deeper than %d levels",
					  MAX_PATH_DEPTH));
		return false;
	}
	c->tokens[c->depth] = token;
	c->ltokens[c->depth++] = live_token;
	return true;
}

static char *build_pointer(const char *const *tokens, size_t depth)
{
	char *p = strdup("");
	for (size_t i = 0; p != NULL && i < depth; i++) {
		char *next = keelson_json_pointer_append(p, tokens[i]);
		free(p);
		p = next;
	}
	return p;
}

/* record() at the current path; `with_live`: the field exists live. */
static bool record_here(struct ctx *c, enum keelson_diff_change change, bool with_live,
			const cJSON *desired, const cJSON *live)
{
	char *dp = build_pointer(c->tokens, c->depth);
	char *lp = with_live ? build_pointer(c->ltokens, c->depth) : NULL;
	bool recorded = false;
	if (dp == NULL || (with_live && lp == NULL))
		fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
	else
		recorded = record(c, change, dp, lp, desired, live, desired, true);
	free(dp);
	free(lp);
	return recorded;
}

static void compare(struct ctx *c, const cJSON *d, cJSON *l, cJSON *l_parent, const char *key);

/* A live item of a keyed list matching the desired item's keys. A key the
 * repository leaves out (protocol: TCP is a default) matches any value. */
static cJSON *find_keyed(const struct keelson_list_semantics *sem, const cJSON *want, cJSON *list,
			 size_t *index)
{
	size_t present = 0;
	for (size_t k = 0; k < sem->key_count; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(want, sem->keys[k]);
		if (v != NULL && !cJSON_IsNull(v))
			present++;
	}
	if (present == 0)
		return NULL;
	size_t i = 0;
	cJSON *item;
	cJSON_ArrayForEach(item, list) {
		bool match = cJSON_IsObject(item);
		for (size_t k = 0; k < sem->key_count && match; k++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(want, sem->keys[k]);
			if (v == NULL || cJSON_IsNull(v))
				continue;
			const cJSON *lv = cJSON_GetObjectItemCaseSensitive(item, sem->keys[k]);
			match = lv != NULL && keelson_json_equal(v, lv);
		}
		if (match) {
			*index = i;
			return item;
		}
		i++;
	}
	return NULL;
}

static void compare_list(struct ctx *c, const cJSON *d, cJSON *l, cJSON *l_parent)
{
	struct keelson_list_semantics sem;
	keelson_list_semantics_lookup(&sem, c->obj->group, c->obj->kind, c->tokens, c->depth);
	if (sem.type == KEELSON_LIST_MAP) {
		const cJSON *item;
		bool small_list = cJSON_GetArraySize(d) <= 256;
		cJSON_ArrayForEach(item, d) {
			size_t keys_present = 0;
			for (size_t k = 0; cJSON_IsObject(item) && k < sem.key_count; k++) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, sem.keys[k]);
				keys_present += v != NULL && !cJSON_IsNull(v);
			}
			/* Not a list of objects, or an item without any key (the
			 * server refuses it; found by tests/fuzz): items cannot be
			 * matched by key, compare the list whole. */
			if (keys_present == 0) {
				sem.type = KEELSON_LIST_ATOMIC;
				break;
			}
			/* Two items with the same key (the server refuses that too):
			 * matching by key would pair both with one live item.
			 * Quadratic, so only for lists of ordinary length. */
			for (const cJSON *earlier = d->child; earlier != item && small_list; earlier = earlier->next) {
				bool same = true;
				for (size_t k = 0; same && k < sem.key_count; k++)
					same = keelson_json_equal(cJSON_GetObjectItemCaseSensitive(item, sem.keys[k]),
								  cJSON_GetObjectItemCaseSensitive(earlier, sem.keys[k]));
				if (same) {
					sem.type = KEELSON_LIST_ATOMIC;
					break;
				}
			}
			if (sem.type == KEELSON_LIST_ATOMIC)
				break;
		}
	}
	if (sem.type == KEELSON_LIST_ATOMIC) {
		if (cJSON_GetArraySize(d) != cJSON_GetArraySize(l)) {
			if (record_here(c, KEELSON_DIFF_CHANGED, true, d, l))
				replace_in_merged(c, l_parent, l, d);
			return;
		}
		size_t i = 0;
		const cJSON *item;
		cJSON *litem = l->child;
		cJSON_ArrayForEach(item, d) {
			char index[24];
			snprintf(index, sizeof(index), "%zu", i++);
			cJSON *lnext = litem->next; /* compare may replace litem */
			if (!push(c, index, index))
				return;
			compare(c, item, litem, l, NULL);
			c->depth--;
			litem = lnext;
		}
		return;
	}

	size_t i = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, d) {
		char index[24], live_index[24];
		snprintf(index, sizeof(index), "%zu", i++);
		if (cJSON_IsNull(item))
			continue;
		size_t j = 0;
		cJSON *found = NULL;
		if (sem.type == KEELSON_LIST_MAP) {
			found = find_keyed(&sem, item, l, &j);
		} else {
			cJSON *x;
			cJSON_ArrayForEach(x, l) {
				if (keelson_json_equal(item, x)) {
					found = x;
					break;
				}
				j++;
			}
		}
		snprintf(live_index, sizeof(live_index), "%zu", j);
		if (!push(c, index, live_index))
			return;
		if (found == NULL) {
			if (record_here(c, KEELSON_DIFF_NOT_LIVE, false, item, NULL))
				add_to_merged(c, l, NULL, item);
		} else if (sem.type == KEELSON_LIST_MAP) {
			compare(c, item, found, l, NULL);
		}
		c->depth--;
	}
}

/* `d` desired value; `l` the live value inside `merged` (NULL: absent),
 * `l_parent` its parent in `merged`, `key` its member name when the
 * parent is an object. */
static void compare(struct ctx *c, const cJSON *d, cJSON *l, cJSON *l_parent, const char *key)
{
	if (c->rc < 0 || d == NULL || cJSON_IsNull(d))
		return; /* null in an applied object means "not set" */
	if (l == NULL || cJSON_IsNull(l)) {
		/* omitempty: the server does not write zero values back. */
		if (is_zero_value(d))
			return;
		if (record_here(c, KEELSON_DIFF_NOT_LIVE, false, d, NULL)) {
			if (l != NULL)
				replace_in_merged(c, l_parent, l, d);
			else
				add_to_merged(c, l_parent, key, d);
		}
		return;
	}
	if (cJSON_IsObject(d) && cJSON_IsObject(l)) {
		const cJSON *m;
		cJSON_ArrayForEach(m, d) {
			if (!push(c, m->string, m->string))
				return;
			compare(c, m, cJSON_GetObjectItemCaseSensitive(l, m->string), l, m->string);
			c->depth--;
		}
		return;
	}
	if (cJSON_IsArray(d) && cJSON_IsArray(l)) {
		compare_list(c, d, l, l_parent);
		return;
	}
	if (scalars_equal(c, d, l))
		return;
	if (record_here(c, KEELSON_DIFF_CHANGED, true, d, l))
		replace_in_merged(c, l_parent, l, d);
}

/* A Secret's stringData is write-only: the API server merges it into
 * data (base64) and drops it. A key is in force when data holds the same
 * bytes (or, on servers that keep stringData, stringData holds the text). */
static bool secret_string_in_force(const cJSON *merged, const char *key, const char *want)
{
	const cJSON *sd = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(merged, "stringData"), key);
	if (cJSON_IsString(sd) && strcmp(sd->valuestring, want) == 0)
		return true;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(merged, "data"), key);
	if (!cJSON_IsString(d))
		return false;
	char *bytes = NULL;
	size_t len = 0;
	bool same = false;
	if (keelson_kube_base64_decode(&bytes, &len, d->valuestring) == 0)
		same = len == strlen(want) && memcmp(bytes, want, len) == 0;
	else
		keelson_error_clear();
	if (bytes != NULL)
		memset(bytes, 0, len);
	free(bytes);
	return same;
}

static char *base64_encode(const char *text)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = (const unsigned char *)text;
	size_t n = strlen(text), o = 0;
	char *out = malloc((n + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static void compare_string_data(struct ctx *c, const cJSON *string_data, cJSON *merged)
{
	const cJSON *m;
	if (!cJSON_IsObject(string_data))
		return;
	cJSON_ArrayForEach(m, string_data) {
		if (!cJSON_IsString(m) || secret_string_in_force(merged, m->string, m->valuestring))
			continue;
		char *dp = keelson_json_pointer_append("/stringData", m->string);
		char *lp = keelson_json_pointer_append("/data", m->string);
		const cJSON *live = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(merged, "data"), m->string);
		if (dp == NULL || lp == NULL) {
			fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
		} else if (record(c, live ? KEELSON_DIFF_CHANGED : KEELSON_DIFF_NOT_LIVE, dp, live ? lp : NULL, m,
				  live, m, true) && !c->dry) {
			/* What the server would store: data[key] = base64(value),
			 * and stringData too where the server keeps it. */
			cJSON *sd = cJSON_GetObjectItemCaseSensitive(merged, "stringData");
			cJSON *old = cJSON_GetObjectItemCaseSensitive(sd, m->string);
			if (old != NULL)
				replace_in_merged(c, sd, old, m);
			char *encoded = base64_encode(m->valuestring);
			cJSON *value = encoded ? cJSON_CreateString(encoded) : NULL;
			cJSON *data = cJSON_GetObjectItemCaseSensitive(merged, "data");
			if (data == NULL)
				data = cJSON_AddObjectToObject(merged, "data");
			if (value == NULL || data == NULL)
				fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
			else if (cJSON_GetObjectItemCaseSensitive(data, m->string) != NULL)
				replace_in_merged(c, data, cJSON_GetObjectItemCaseSensitive(data, m->string), value);
			else
				add_to_merged(c, data, m->string, value);
			cJSON_Delete(value);
			free(encoded);
		}
		free(dp);
		free(lp);
	}
}

bool keelson_diff_is_secret_value(const char *group, const char *kind, const char *pointer)
{
	if (group == NULL || kind == NULL || pointer == NULL || group[0] != '\0' || strcmp(kind, "Secret") != 0)
		return false;
	return strncmp(pointer, "/data", 5) == 0 || strncmp(pointer, "/stringData", 11) == 0;
}

/* --- Fields keelson applied before (managedFields) ------------------------ */

bool keelson_diff_is_keelson_label(const char *pointer)
{
	static const char labels[] = "/metadata/labels/";
	char key[64];
	size_t n = 0;
	if (pointer == NULL || strncmp(pointer, labels, sizeof(labels) - 1) != 0)
		return false;
	/* Unescape the one remaining token ("~1" is '/', "~0" is '~'). */
	for (const char *p = pointer + sizeof(labels) - 1; *p; p++) {
		if (*p == '/' || n + 1 >= sizeof(key))
			return false;
		if (*p == '~') {
			if (p[1] != '0' && p[1] != '1')
				return false;
			key[n++] = p[1] == '1' ? '/' : '~';
			p++;
		} else {
			key[n++] = *p;
		}
	}
	key[n] = '\0';
	return strcmp(key, KEELSON_LABEL_CLUSTER) == 0 || strcmp(key, KEELSON_LABEL_SYSTEM) == 0;
}

static const cJSON *keelson_fields(const cJSON *live, const char *manager)
{
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(live, "metadata");
	const cJSON *entry;
	cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(metadata, "managedFields")) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(entry, "manager");
		const cJSON *op = cJSON_GetObjectItemCaseSensitive(entry, "operation");
		const cJSON *sub = cJSON_GetObjectItemCaseSensitive(entry, "subresource");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(entry, "fieldsType");
		if (!cJSON_IsString(m) || strcmp(m->valuestring, manager) != 0)
			continue;
		if (!cJSON_IsString(op) || strcmp(op->valuestring, "Apply") != 0)
			continue;
		if (cJSON_IsString(sub) && sub->valuestring[0] != '\0')
			continue;
		if (cJSON_IsString(type) && strcmp(type->valuestring, "FieldsV1") != 0)
			continue;
		return cJSON_GetObjectItemCaseSensitive(entry, "fieldsV1");
	}
	return NULL;
}

static void note_removal(struct ctx *c, const char *lptr, const cJSON *live, const cJSON *anchor)
{
	if (!record(c, KEELSON_DIFF_REMOVED, lptr, lptr, NULL, live, anchor, false) || c->dry)
		return;
	if (c->removal_count == c->removal_cap) {
		size_t cap = c->removal_cap ? c->removal_cap * 2 : 8;
		void *p = realloc(c->removals, cap * sizeof(*c->removals));
		if (p == NULL) {
			fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
			return;
		}
		c->removals = p;
		c->removal_cap = cap;
	}
	c->removals[c->removal_count] = strdup(lptr);
	if (c->removals[c->removal_count] == NULL)
		fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
	else
		c->removal_count++;
}

/* The desired item of a list for a "k:{...}" key: every key field the
 * desired item writes must match; key fields it leaves out are defaults. */
static const cJSON *desired_item_for_key(const cJSON *list, const cJSON *key)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, list) {
		if (!cJSON_IsObject(item))
			continue;
		size_t present = 0;
		bool match = true;
		const cJSON *k;
		cJSON_ArrayForEach(k, key) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, k->string);
			if (v == NULL || cJSON_IsNull(v))
				continue;
			present++;
			if (!keelson_json_equal(v, k)) {
				match = false;
				break;
			}
		}
		if (match && present > 0)
			return item;
	}
	return NULL;
}

static cJSON *live_item_for_key(const cJSON *list, const cJSON *key, size_t *index)
{
	size_t i = 0;
	cJSON *item;
	cJSON_ArrayForEach(item, list) {
		bool match = cJSON_IsObject(item);
		const cJSON *k;
		cJSON_ArrayForEach(k, key) {
			if (!match)
				break;
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, k->string);
			match = v != NULL && keelson_json_equal(v, k);
		}
		if (match) {
			*index = i;
			return item;
		}
		i++;
	}
	return NULL;
}

static const cJSON *present(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v) ? NULL : v;
}

/* The live pointer walk_owned is at, built in place: one buffer per walk
 * instead of a string allocated per owned field (profile of 10,000 objects
 * in sync: a third of the walk was snprintf and malloc for pointers only a
 * removal ever reads). */
struct path_buf {
	char *data;
	size_t len, cap;
};

/* Append "/" and `token` escaped; returns the length to truncate back to,
 * or (size_t)-1 out of memory. */
static size_t path_push(struct path_buf *p, const char *token)
{
	size_t mark = p->len, need = p->len + 2 * strlen(token) + 2;
	if (need > p->cap) {
		size_t cap = p->cap ? p->cap : 256;
		while (cap < need)
			cap *= 2;
		char *data = realloc(p->data, cap);
		if (data == NULL)
			return (size_t)-1;
		p->data = data;
		p->cap = cap;
	}
	p->data[p->len++] = '/';
	for (const char *t = token; *t; t++) {
		if (*t == '~' || *t == '/') {
			p->data[p->len++] = '~';
			p->data[p->len++] = *t == '~' ? '0' : '1';
		} else {
			p->data[p->len++] = *t;
		}
	}
	p->data[p->len] = '\0';
	return mark;
}

static size_t path_push_index(struct path_buf *p, size_t index)
{
	char token[32];
	snprintf(token, sizeof(token), "%zu", index);
	return path_push(p, token);
}

static void path_pop(struct path_buf *p, size_t mark)
{
	p->len = mark;
	p->data[mark] = '\0';
}

/* Walk keelson's fieldsV1 set over the live object; whatever keelson owns,
 * is live and the repository no longer sets is REMOVED. `desired` may be
 * NULL (the repository dropped the whole subtree); `anchor` is the deepest
 * desired node on the way, for the position. */
static void walk_owned(struct ctx *c, const cJSON *fields, const cJSON *live, const cJSON *desired,
		       const cJSON *anchor, struct path_buf *lp, unsigned depth)
{
	if (depth > MAX_PATH_DEPTH) {
		fail(c, keelson_error_set(KEELSON_ELIMIT, "managedFields nested deeper than %d levels",
					  MAX_PATH_DEPTH));
		return;
	}
	const cJSON *f;
	cJSON_ArrayForEach(f, fields) {
		if (c->rc < 0)
			return;
		const char *name = f->string;
		if (name == NULL || strcmp(name, ".") == 0)
			continue;
		/* status is written through its own subresource, not applied. */
		if (depth == 0 && strcmp(name, "f:status") == 0)
			continue;
		if (strncmp(name, "f:", 2) == 0) {
			const cJSON *lchild = cJSON_IsObject(live) ? cJSON_GetObjectItemCaseSensitive(live, name + 2) : NULL;
			if (present(lchild) == NULL)
				continue;
			const cJSON *dchild = cJSON_IsObject(desired) ? present(cJSON_GetObjectItemCaseSensitive(desired, name + 2)) : NULL;
			size_t mark = path_push(lp, name + 2);
			if (mark == (size_t)-1) {
				fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
				return;
			}
			bool leaf = f->child == NULL || (!cJSON_IsObject(lchild) && !cJSON_IsArray(lchild));
			if (leaf) {
				/* keelson's labels go with every apply: desired, never removed. */
				if (dchild == NULL && !(depth == 2 && keelson_diff_is_keelson_label(lp->data)))
					note_removal(c, lp->data, lchild, anchor);
			} else {
				walk_owned(c, f, lchild, dchild, dchild ? dchild : anchor, lp, depth + 1);
			}
			path_pop(lp, mark);
		} else if (strncmp(name, "k:", 2) == 0 || strncmp(name, "v:", 2) == 0) {
			if (!cJSON_IsArray(live) || strlen(name) > MAX_FIELDS_KEY_BYTES)
				continue;
			cJSON *key = cJSON_Parse(name + 2);
			if (key == NULL)
				continue; /* not ours to validate; the server wrote it */
			size_t j = 0;
			const cJSON *litem = NULL, *ditem = NULL;
			if (name[0] == 'k' && cJSON_IsObject(key)) {
				litem = live_item_for_key(live, key, &j);
				ditem = cJSON_IsArray(desired) ? desired_item_for_key(desired, key) : NULL;
			} else if (name[0] == 'v') {
				const cJSON *x;
				cJSON_ArrayForEach(x, live) {
					if (keelson_json_equal(x, key)) {
						litem = x;
						break;
					}
					j++;
				}
				cJSON_ArrayForEach(x, (cJSON_IsArray(desired) ? desired : NULL)) {
					if (keelson_json_equal(x, key)) {
						ditem = x;
						break;
					}
				}
			}
			cJSON_Delete(key);
			if (litem == NULL)
				continue;
			size_t mark = path_push_index(lp, j);
			if (mark == (size_t)-1) {
				fail(c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
				return;
			}
			if (ditem == NULL && (name[0] == 'v' || cJSON_GetObjectItemCaseSensitive(f, ".") != NULL))
				note_removal(c, lp->data, litem, anchor);
			else if (name[0] == 'k')
				walk_owned(c, f, litem, ditem, ditem ? ditem : anchor, lp, depth + 1);
			path_pop(lp, mark);
		}
		/* "i:N" (positions in atomic lists) never appear for applied
		 * objects: atomic lists are owned as a whole by their "f:". */
	}
}

/* --- Objects ------------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static const char *string_at(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int identity_from(struct keelson_diff_object *obj, const char *api_version, const char *group,
			 const char *kind, const char *ns, const char *name)
{
	obj->api_version = dup_or_empty(api_version);
	obj->group = dup_or_empty(group);
	obj->kind = dup_or_empty(kind);
	obj->namespace_ = dup_or_empty(ns);
	obj->name = dup_or_empty(name);
	if (!obj->api_version || !obj->group || !obj->kind || !obj->namespace_ || !obj->name)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	return 0;
}

static void free_fields(struct keelson_diff_object *obj);

void keelson_diff_object_free(struct keelson_diff_object *obj)
{
	if (obj == NULL)
		return;
	free_fields(obj);
	free(obj->api_version);
	free(obj->group);
	free(obj->kind);
	free(obj->namespace_);
	free(obj->name);
	cJSON_Delete(obj->live);
	cJSON_Delete(obj->merged);
	free(obj);
}

static void free_fields(struct keelson_diff_object *obj)
{
	for (size_t i = 0; i < obj->field_count; i++) {
		free(obj->fields[i].pointer);
		free(obj->fields[i].live_pointer);
		cJSON_Delete(obj->fields[i].desired);
		cJSON_Delete(obj->fields[i].live);
	}
	free(obj->fields);
	obj->fields = NULL;
	obj->field_count = 0;
	obj->ignored_count = 0;
}

/* One comparison of the desired object with `target` (a copy of the live
 * object): records the differences and, unless `dry`, turns `target` into
 * what the repository would make of it. */
static int run_pass(const struct keelson_object *desired, const struct keelson_diff_options *opts,
		    struct keelson_diff_object *obj, cJSON *target, bool dry)
{
	struct ctx c;
	const cJSON *body = desired->body;
	memset(&c, 0, sizeof(c));
	c.desired = desired;
	c.opts = opts;
	c.obj = obj;
	c.dry = dry;
	const cJSON *m;
	cJSON_ArrayForEach(m, body) {
		/* What the server owns: status, and identity the URL carries. */
		if (strcmp(m->string, "status") == 0 || strcmp(m->string, "apiVersion") == 0 ||
		    strcmp(m->string, "kind") == 0)
			continue;
		if (strcmp(m->string, "stringData") == 0 && strcmp(obj->group, "") == 0 &&
		    strcmp(obj->kind, "Secret") == 0) {
			compare_string_data(&c, m, target);
			continue;
		}
		c.depth = 0;
		if (push(&c, m->string, m->string))
			compare(&c, m, cJSON_GetObjectItemCaseSensitive(target, m->string), target, m->string);
	}
	const cJSON *owned = keelson_fields(obj->live, opts->field_manager ? opts->field_manager : "keelson");
	if (owned != NULL && c.rc == 0) {
		struct path_buf lp = {0};
		if (path_push(&lp, "") == (size_t)-1) {
			fail(&c, keelson_error_set(KEELSON_ENOMEM, "out of memory"));
		} else {
			path_pop(&lp, 0);
			walk_owned(&c, owned, obj->live, body, body, &lp, 0);
		}
		free(lp.data);
	}
	/* Reverse order: later array items first, so indexes stay valid. */
	for (size_t i = c.removal_count; i-- > 0;) {
		cJSON *node = NULL;
		char *slash = strrchr(c.removals[i], '/');
		if (keelson_json_pointer_get(&node, target, c.removals[i]) == 0 && slash != NULL) {
			cJSON *parent = NULL;
			*slash = '\0';
			if (keelson_json_pointer_get(&parent, target, c.removals[i]) == 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(parent, node));
			/* A map left empty is gone after an apply too (labels). */
			while (parent != NULL && cJSON_IsObject(parent) && parent->child == NULL &&
			       (slash = strrchr(c.removals[i], '/')) != NULL) {
				cJSON *grand = NULL;
				*slash = '\0';
				if (keelson_json_pointer_get(&grand, target, c.removals[i]) < 0)
					break;
				cJSON_Delete(cJSON_DetachItemViaPointer(grand, parent));
				parent = grand;
			}
		}
		free(c.removals[i]);
	}
	free(c.removals);
	/* Lookups above may leave a message; a failure's own must stay. */
	if (c.rc == 0)
		keelson_error_clear();
	return c.rc;
}

/* `owned`: `live` is the caller's to give (NULL: copy `live`). */
static int diff_object(struct keelson_diff_object **out, const struct keelson_object *desired, const cJSON *live,
		       cJSON *owned, const struct keelson_diff_options *opts)
{
	struct keelson_diff_options defaults;
	int rc;
	*out = NULL;
	if (desired == NULL || !cJSON_IsObject(desired->body)) {
		cJSON_Delete(owned);
		return keelson_error_set(KEELSON_EINVALID, "diff: the desired object is missing");
	}
	if (live != NULL && !cJSON_IsObject(live)) {
		cJSON_Delete(owned);
		return keelson_error_set(KEELSON_EINVALID, "diff: the live %s %s is not a JSON object",
					 desired->kind ? desired->kind : "object", desired->name ? desired->name : "");
	}
	if (opts == NULL) {
		keelson_diff_options_init(&defaults);
		opts = &defaults;
	} else if (opts->version != KEELSON_DIFF_OPTIONS_VERSION) {
		cJSON_Delete(owned);
		return keelson_error_set(KEELSON_EINVALID, "diff: options version %u, expected %u",
					 opts->version, KEELSON_DIFF_OPTIONS_VERSION);
	}
	struct keelson_diff_object *obj = calloc(1, sizeof(*obj));
	if (obj == NULL) {
		cJSON_Delete(owned);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	const cJSON *body = desired->body;
	const char *api_version = desired->api_version ? desired->api_version : string_at(body, "apiVersion", NULL);
	const char *kind = desired->kind ? desired->kind : string_at(body, "kind", NULL);
	const char *ns = desired->namespace_ ? desired->namespace_ : string_at(body, "metadata", "namespace");
	const char *name = desired->name ? desired->name : string_at(body, "metadata", "name");
	const char *group = desired->group;
	char group_buf[256] = "";
	if (group == NULL && api_version != NULL && strchr(api_version, '/') != NULL) {
		snprintf(group_buf, sizeof(group_buf), "%.*s", (int)(strchr(api_version, '/') - api_version),
			 api_version);
		group = group_buf;
	}
	/* From here on obj owns the live object: freed with it on failure. */
	obj->live = owned;
	if ((rc = identity_from(obj, api_version, group, kind, ns, name)) < 0)
		goto fail;
	obj->desired = body;
	obj->file = desired->file;
	obj->line = desired->line;
	obj->column = desired->column;
	if (live == NULL) {
		obj->state = KEELSON_DIFF_MISSING;
		*out = obj;
		return 0;
	}
	if (obj->live == NULL && (obj->live = cJSON_Duplicate(live, 1)) == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto fail;
	}
	/* Most objects are in sync: look first, copy only when there is
	 * something to apply to the copy. */
	if ((rc = run_pass(desired, opts, obj, obj->live, true)) < 0)
		goto fail;
	if (obj->field_count > 0) {
		free_fields(obj);
		obj->merged = cJSON_Duplicate(obj->live, 1);
		if (obj->merged == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto fail;
		}
		if ((rc = run_pass(desired, opts, obj, obj->merged, false)) < 0)
			goto fail;
	}
	obj->state = obj->field_count > 0 ? KEELSON_DIFF_DRIFTED : KEELSON_DIFF_IN_SYNC;
	*out = obj;
	return 0;
fail:
	keelson_diff_object_free(obj);
	return rc;
}

int keelson_diff_object(struct keelson_diff_object **out, const struct keelson_object *desired,
			const cJSON *live, const struct keelson_diff_options *opts)
{
	return diff_object(out, desired, live, NULL, opts);
}

int keelson_diff_object_take(struct keelson_diff_object **out, const struct keelson_object *desired, cJSON *live,
			     const struct keelson_diff_options *opts)
{
	return diff_object(out, desired, live, live, opts);
}

int keelson_diff_not_in_repo(struct keelson_diff_object **out, const cJSON *live)
{
	int rc;
	*out = NULL;
	if (!cJSON_IsObject(live))
		return keelson_error_set(KEELSON_EINVALID, "diff: the live object is missing");
	struct keelson_diff_object *obj = calloc(1, sizeof(*obj));
	if (obj == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	const char *api_version = string_at(live, "apiVersion", NULL);
	char group[256] = "";
	if (api_version != NULL && strchr(api_version, '/') != NULL)
		snprintf(group, sizeof(group), "%.*s", (int)(strchr(api_version, '/') - api_version), api_version);
	rc = identity_from(obj, api_version, group, string_at(live, "kind", NULL),
			   string_at(live, "metadata", "namespace"), string_at(live, "metadata", "name"));
	if (rc == 0 && (obj->live = cJSON_Duplicate(live, 1)) == NULL)
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if (rc < 0) {
		keelson_diff_object_free(obj);
		return rc;
	}
	obj->state = KEELSON_DIFF_NOT_IN_REPO;
	*out = obj;
	return 0;
}

cJSON *keelson_diff_object_to_json(const struct keelson_diff_object *obj)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "apiVersion", obj->api_version);
	cJSON_AddStringToObject(o, "kind", obj->kind);
	cJSON_AddStringToObject(o, "namespace", obj->namespace_);
	cJSON_AddStringToObject(o, "name", obj->name);
	cJSON_AddStringToObject(o, "state", keelson_diff_state_name(obj->state));
	if (obj->file != NULL) {
		cJSON_AddStringToObject(o, "file", obj->file);
		cJSON_AddNumberToObject(o, "line", obj->line);
	}
	cJSON *fields = cJSON_AddArrayToObject(o, "fields");
	for (size_t i = 0; fields != NULL && i < obj->field_count; i++) {
		const struct keelson_diff_field *f = &obj->fields[i];
		cJSON *j = cJSON_CreateObject();
		if (j == NULL)
			break;
		cJSON_AddItemToArray(fields, j);
		cJSON_AddStringToObject(j, "pointer", f->pointer);
		if (f->live_pointer != NULL)
			cJSON_AddStringToObject(j, "livePointer", f->live_pointer);
		cJSON_AddStringToObject(j, "change", keelson_diff_change_name(f->change));
		if (keelson_diff_is_secret_value(obj->group, obj->kind, f->pointer)) {
			if (f->desired != NULL)
				cJSON_AddStringToObject(j, "desired", KEELSON_DIFF_REDACTED);
			if (f->live != NULL)
				cJSON_AddStringToObject(j, "live", KEELSON_DIFF_REDACTED);
		} else {
			if (f->desired != NULL)
				cJSON_AddItemToObject(j, "desired", cJSON_Duplicate(f->desired, 1));
			if (f->live != NULL)
				cJSON_AddItemToObject(j, "live", cJSON_Duplicate(f->live, 1));
		}
		if (f->file != NULL) {
			cJSON_AddStringToObject(j, "file", f->file);
			cJSON_AddNumberToObject(j, "line", f->line);
			cJSON_AddNumberToObject(j, "column", f->column);
			cJSON_AddBoolToObject(j, "exact", f->position_exact);
		}
	}
	cJSON_AddNumberToObject(o, "ignored", (double)obj->ignored_count);
	return o;
}

/* --- Systems -------------------------------------------------------------- */

int keelson_diff_live_from_client(cJSON **out, const struct keelson_object *desired, void *payload)
{
	*out = NULL;
	int rc = keelson_kube_get(out, payload, desired->api_version, desired->kind,
				  desired->namespace_ && desired->namespace_[0] ? desired->namespace_ : NULL,
				  desired->name);
	if (rc == KEELSON_ENOTFOUND) {
		keelson_error_clear();
		*out = NULL;
		return 0;
	}
	return rc;
}

int keelson_diff_live_from_cache(cJSON **out, const struct keelson_object *desired, void *payload)
{
	*out = NULL;
	int rc = keelson_kube_cache_get(out, payload, desired->api_version, desired->kind,
					desired->namespace_, desired->name);
	if (rc == KEELSON_ENOTFOUND) {
		keelson_error_clear();
		*out = NULL;
		return 0;
	}
	return rc;
}

int keelson_diff_report_new(struct keelson_diff_report **out, const struct keelson_system *system)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	(*out)->system = system;
	return 0;
}

int keelson_diff_report_add(struct keelson_diff_report *report, struct keelson_diff_object *obj)
{
	if (report->count == report->capacity) {
		size_t cap = report->capacity ? report->capacity * 2 : 16;
		void *p = realloc(report->objects, cap * sizeof(*report->objects));
		if (p == NULL) {
			keelson_diff_object_free(obj);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		report->objects = p;
		report->capacity = cap;
	}
	report->objects[report->count++] = obj;
	switch (obj->state) {
	case KEELSON_DIFF_IN_SYNC:
		report->in_sync++;
		break;
	case KEELSON_DIFF_DRIFTED:
		report->drifted++;
		break;
	case KEELSON_DIFF_MISSING:
		report->missing++;
		break;
	case KEELSON_DIFF_NOT_IN_REPO:
		report->not_in_repo++;
		break;
	}
	return 0;
}

bool keelson_diff_report_in_sync(const struct keelson_diff_report *report)
{
	return report->drifted == 0 && report->missing == 0 && report->not_in_repo == 0;
}

void keelson_diff_report_free(struct keelson_diff_report *report)
{
	if (report == NULL)
		return;
	for (size_t i = 0; i < report->count; i++)
		keelson_diff_object_free(report->objects[i]);
	free(report->objects);
	free(report);
}

int keelson_diff_system(struct keelson_diff_report **out, const struct keelson_system *system,
			keelson_diff_live_fn live, void *payload, const struct keelson_diff_options *opts)
{
	struct keelson_diff_report *report = NULL;
	int rc = keelson_diff_report_new(&report, system);
	*out = NULL;
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < system->object_count; i++) {
		const struct keelson_object *o = &system->objects[i];
		cJSON *object = NULL;
		struct keelson_diff_object *d = NULL;
		rc = live(&object, o, payload);
		if (rc < 0) {
			rc = keelson_error_wrap(rc, "%s:%u: %s %s%s%s: reading the live object", o->file ? o->file : "?",
						o->line, o->kind, o->namespace_ ? o->namespace_ : "",
						o->namespace_ && o->namespace_[0] ? "/" : "", o->name);
			goto fail;
		}
		rc = keelson_diff_object(&d, o, object, opts);
		cJSON_Delete(object);
		if (rc < 0) {
			rc = keelson_error_wrap(rc, "%s:%u: %s %s", o->file ? o->file : "?", o->line, o->kind, o->name);
			goto fail;
		}
		if ((rc = keelson_diff_report_add(report, d)) < 0)
			goto fail;
	}
	*out = report;
	return 0;
fail:
	keelson_diff_report_free(report);
	return rc;
}
