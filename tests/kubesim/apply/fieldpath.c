#include "config.h"

#include "fieldpath.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct ks_fieldset {
	char *element; /* NULL at the root */
	const cJSON *value;
	bool member;
	/* An inner node that an Update creating it also owns itself (".") */
	bool owned_when_added;
	size_t count;
	size_t cap;
	struct ks_fieldset **children; /* sorted by strcmp(element) */
};

static int oom(const char *what)
{
	return keelson_error_set(KEELSON_ENOMEM, "out of memory %s", what);
}

/* ---- a small growable string ------------------------------------------ */

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

static int sb_append_n(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 64;
		while (cap < sb->len + n + 1)
			cap *= 2;
		char *data = realloc(sb->data, cap);
		if (data == NULL)
			return oom("building a field path");
		sb->data = data;
		sb->cap = cap;
	}
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
	return 0;
}

static int sb_append(struct strbuf *sb, const char *s)
{
	return sb_append_n(sb, s, strlen(s));
}

/* ---- canonical JSON for k: and v: elements ------------------------------ */

static int append_canonical(struct strbuf *sb, const cJSON *v, int depth)
{
	if (depth > KS_TYPE_MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT, "key value nests too deeply");
	if (cJSON_IsObject(v)) {
		size_t n = (size_t)cJSON_GetArraySize(v);
		const cJSON **members = calloc(n ? n : 1, sizeof(*members));
		if (members == NULL)
			return oom("sorting key fields");
		size_t i = 0;
		const cJSON *m;
		cJSON_ArrayForEach(m, v) {
			members[i++] = m;
		}
		/* Insertion sort: key objects have a handful of members. */
		for (size_t a = 1; a < n; a++) {
			const cJSON *cur = members[a];
			size_t b = a;
			while (b > 0 && strcmp(members[b - 1]->string, cur->string) > 0) {
				members[b] = members[b - 1];
				b--;
			}
			members[b] = cur;
		}
		int rc = sb_append(sb, "{");
		for (i = 0; rc == 0 && i < n; i++) {
			cJSON name = { 0 };
			name.type = cJSON_String;
			name.valuestring = members[i]->string;
			if (i > 0)
				rc = sb_append(sb, ",");
			if (rc == 0)
				rc = append_canonical(sb, &name, depth + 1);
			if (rc == 0)
				rc = sb_append(sb, ":");
			if (rc == 0)
				rc = append_canonical(sb, members[i], depth + 1);
		}
		free(members);
		return rc != 0 ? rc : sb_append(sb, "}");
	}
	if (cJSON_IsArray(v)) {
		int rc = sb_append(sb, "[");
		const cJSON *item;
		bool first = true;
		cJSON_ArrayForEach(item, v) {
			if (rc == 0 && !first)
				rc = sb_append(sb, ",");
			if (rc == 0)
				rc = append_canonical(sb, item, depth + 1);
			first = false;
		}
		return rc != 0 ? rc : sb_append(sb, "]");
	}
	/* cJSON_PrintUnformatted on a node prints only that node, but a
	 * detached copy avoids surprises with sibling links. */
	cJSON copy = *v;
	copy.next = copy.prev = NULL;
	copy.string = NULL;
	char *text = cJSON_PrintUnformatted(&copy);
	if (text == NULL)
		return oom("printing a key value");
	int rc = sb_append(sb, text);
	cJSON_free(text);
	return rc;
}

static int canonical_with_prefix(char **out, const char *prefix, const cJSON *value)
{
	struct strbuf sb = { 0 };
	int rc = sb_append(&sb, prefix);
	if (rc == 0)
		rc = append_canonical(&sb, value, 0);
	if (rc != 0) {
		free(sb.data);
		*out = NULL;
		return rc;
	}
	*out = sb.data;
	return 0;
}

int ks_path_element_field(char **out, const char *name)
{
	size_t n = strlen(name);
	*out = malloc(n + 3);
	if (*out == NULL)
		return oom("building a path element");
	memcpy(*out, "f:", 2);
	memcpy(*out + 2, name, n + 1);
	return 0;
}

int ks_path_element_key(char **out, const cJSON *key_fields)
{
	if (!cJSON_IsObject(key_fields))
		return keelson_error_set(KEELSON_EINVALID, "list item key must be an object of key fields");
	return canonical_with_prefix(out, "k:", key_fields);
}

int ks_path_element_value(char **out, const cJSON *value)
{
	return canonical_with_prefix(out, "v:", value);
}

int ks_path_element_index(char **out, size_t index)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "i:%zu", index);
	*out = strdup(buf);
	return *out ? 0 : oom("building a path element");
}

/* ---- human-readable paths ----------------------------------------------- */

/* value.ToString of structured-merge-diff: strings quoted, the rest as JSON. */
static int append_display_value(struct strbuf *sb, const cJSON *v)
{
	if (cJSON_IsObject(v)) {
		int rc = sb_append(sb, "{");
		const cJSON *m;
		bool first = true;
		cJSON_ArrayForEach(m, v) {
			if (rc == 0 && !first)
				rc = sb_append(sb, ",");
			if (rc == 0)
				rc = sb_append(sb, m->string);
			if (rc == 0)
				rc = sb_append(sb, "=");
			if (rc == 0)
				rc = append_display_value(sb, m);
			first = false;
		}
		return rc != 0 ? rc : sb_append(sb, "}");
	}
	return append_canonical(sb, v, 0);
}

static int append_display_element(struct strbuf *sb, const char *element)
{
	if (strncmp(element, "f:", 2) == 0) {
		int rc = sb_append(sb, ".");
		return rc != 0 ? rc : sb_append(sb, element + 2);
	}
	if (strncmp(element, "i:", 2) == 0) {
		int rc = sb_append(sb, "[");
		if (rc == 0)
			rc = sb_append(sb, element + 2);
		return rc != 0 ? rc : sb_append(sb, "]");
	}
	bool key = strncmp(element, "k:", 2) == 0;
	if (!key && strncmp(element, "v:", 2) != 0)
		return sb_append(sb, element);
	cJSON *parsed = cJSON_Parse(element + 2);
	if (parsed == NULL)
		return sb_append(sb, element);
	int rc = sb_append(sb, key ? "[" : "[=");
	if (key && cJSON_IsObject(parsed)) {
		const cJSON *m;
		bool first = true;
		cJSON_ArrayForEach(m, parsed) {
			if (rc == 0 && !first)
				rc = sb_append(sb, ",");
			if (rc == 0)
				rc = sb_append(sb, m->string);
			if (rc == 0)
				rc = sb_append(sb, "=");
			if (rc == 0)
				rc = append_display_value(sb, m);
			first = false;
		}
	} else if (rc == 0) {
		rc = append_display_value(sb, parsed);
	}
	cJSON_Delete(parsed);
	return rc != 0 ? rc : sb_append(sb, "]");
}

int ks_path_string(char **out, const char *const *path, size_t length)
{
	struct strbuf sb = { 0 };
	int rc = sb_append(&sb, "");
	for (size_t i = 0; rc == 0 && i < length; i++)
		rc = append_display_element(&sb, path[i]);
	if (rc != 0) {
		free(sb.data);
		*out = NULL;
		return rc;
	}
	*out = sb.data;
	return 0;
}

/* ---- the tree ------------------------------------------------------------ */

static struct ks_fieldset *node_new(const char *element)
{
	struct ks_fieldset *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	if (element != NULL) {
		n->element = strdup(element);
		if (n->element == NULL) {
			free(n);
			return NULL;
		}
	}
	return n;
}

int ks_fieldset_new(struct ks_fieldset **out)
{
	*out = node_new(NULL);
	return *out ? 0 : oom("creating a field set");
}

void ks_fieldset_free(struct ks_fieldset *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++)
		ks_fieldset_free(set->children[i]);
	free(set->children);
	free(set->element);
	free(set);
}

/* Index of `element` among the children, or where it would be inserted. */
static size_t child_position(const struct ks_fieldset *set, const char *element, bool *found)
{
	size_t lo = 0, hi = set->count;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->children[mid]->element, element);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct ks_fieldset *ks_fieldset_child(const struct ks_fieldset *set, const char *element)
{
	if (set == NULL)
		return NULL;
	bool found;
	size_t pos = child_position(set, element, &found);
	return found ? set->children[pos] : NULL;
}

size_t ks_fieldset_child_count(const struct ks_fieldset *set)
{
	return set ? set->count : 0;
}

const struct ks_fieldset *ks_fieldset_child_at(const struct ks_fieldset *set, size_t index)
{
	return set && index < set->count ? set->children[index] : NULL;
}

const char *ks_fieldset_element(const struct ks_fieldset *node)
{
	return node ? node->element : NULL;
}

bool ks_fieldset_is_member(const struct ks_fieldset *node)
{
	return node != NULL && node->member;
}

/* Child `element`, created when missing; NULL on OOM. */
static struct ks_fieldset *child_get_or_add(struct ks_fieldset *set, const char *element)
{
	bool found;
	size_t pos = child_position(set, element, &found);
	if (found)
		return set->children[pos];
	if (set->count == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 4;
		struct ks_fieldset **children = realloc(set->children, cap * sizeof(*children));
		if (children == NULL)
			return NULL;
		set->children = children;
		set->cap = cap;
	}
	struct ks_fieldset *child = node_new(element);
	if (child == NULL)
		return NULL;
	memmove(set->children + pos + 1, set->children + pos,
		(set->count - pos) * sizeof(*set->children));
	set->children[pos] = child;
	set->count++;
	return child;
}

/* Appending in sorted order is the common case when copying a tree. */
static int child_append_node(struct ks_fieldset *set, struct ks_fieldset *child)
{
	if (set->count == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 4;
		struct ks_fieldset **children = realloc(set->children, cap * sizeof(*children));
		if (children == NULL)
			return oom("growing a field set");
		set->children = children;
		set->cap = cap;
	}
	set->children[set->count++] = child;
	return 0;
}

static void child_remove_at(struct ks_fieldset *set, size_t pos)
{
	ks_fieldset_free(set->children[pos]);
	memmove(set->children + pos, set->children + pos + 1,
		(set->count - pos - 1) * sizeof(*set->children));
	set->count--;
}

int ks_fieldset_insert(struct ks_fieldset *set, const char *const *path, size_t length)
{
	struct ks_fieldset *node = set;
	for (size_t i = 0; i < length; i++) {
		node = child_get_or_add(node, path[i]);
		if (node == NULL)
			return oom("inserting into a field set");
	}
	node->member = true;
	return 0;
}

bool ks_fieldset_contains(const struct ks_fieldset *set, const char *const *path, size_t length)
{
	const struct ks_fieldset *node = set;
	for (size_t i = 0; node && i < length; i++)
		node = ks_fieldset_child(node, path[i]);
	return node != NULL && node->member;
}

bool ks_fieldset_empty(const struct ks_fieldset *set)
{
	return set == NULL || (!set->member && set->count == 0);
}

size_t ks_fieldset_size(const struct ks_fieldset *set)
{
	if (set == NULL)
		return 0;
	size_t n = set->member ? 1 : 0;
	for (size_t i = 0; i < set->count; i++)
		n += ks_fieldset_size(set->children[i]);
	return n;
}

bool ks_fieldset_equal(const struct ks_fieldset *a, const struct ks_fieldset *b)
{
	if (ks_fieldset_empty(a) || ks_fieldset_empty(b))
		return ks_fieldset_empty(a) && ks_fieldset_empty(b);
	if (a->member != b->member || a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->children[i]->element, b->children[i]->element) != 0 ||
		    !ks_fieldset_equal(a->children[i], b->children[i]))
			return false;
	}
	return true;
}

enum set_op { OP_UNION, OP_DIFFERENCE, OP_INTERSECTION };

/* Result node for `a` op `b` (either may be NULL), or NULL in *out when the
 * result is empty. Nodes are never shared between sets. */
static int set_op_node(struct ks_fieldset **out, const char *element, const struct ks_fieldset *a,
		       const struct ks_fieldset *b, enum set_op op)
{
	*out = NULL;
	bool am = a && a->member, bm = b && b->member;
	bool member = op == OP_UNION ? (am || bm) : op == OP_DIFFERENCE ? (am && !bm) : (am && bm);
	struct ks_fieldset *node = node_new(element);
	if (node == NULL)
		return oom("combining field sets");
	node->member = member;
	node->owned_when_added = (a && a->owned_when_added) || (b && b->owned_when_added);
	if (member)
		node->value = (am && a->value) ? a->value : (b ? b->value : NULL);

	/* Merge the two sorted child lists. */
	size_t i = 0, j = 0;
	size_t na = a ? a->count : 0, nb = b ? b->count : 0;
	while (i < na || j < nb) {
		const struct ks_fieldset *ca = i < na ? a->children[i] : NULL;
		const struct ks_fieldset *cb = j < nb ? b->children[j] : NULL;
		int c = !ca ? 1 : !cb ? -1 : strcmp(ca->element, cb->element);
		const struct ks_fieldset *left = c <= 0 ? ca : NULL;
		const struct ks_fieldset *right = c >= 0 ? cb : NULL;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		if (op == OP_INTERSECTION && (!left || !right))
			continue;
		if (op == OP_DIFFERENCE && !left)
			continue;
		struct ks_fieldset *child;
		int rc = set_op_node(&child, left ? left->element : right->element, left, right, op);
		if (rc == 0 && child)
			rc = child_append_node(node, child);
		if (rc != 0) {
			ks_fieldset_free(child);
			ks_fieldset_free(node);
			return rc;
		}
	}
	if (!node->member && node->count == 0 && element != NULL) {
		ks_fieldset_free(node);
		return 0;
	}
	*out = node;
	return 0;
}

static int set_op_root(struct ks_fieldset **out, const struct ks_fieldset *a,
		       const struct ks_fieldset *b, enum set_op op)
{
	int rc = set_op_node(out, NULL, a, b, op);
	if (rc == 0 && *out == NULL)
		rc = ks_fieldset_new(out);
	return rc;
}

int ks_fieldset_union(struct ks_fieldset **out, const struct ks_fieldset *a, const struct ks_fieldset *b)
{
	return set_op_root(out, a, b, OP_UNION);
}

int ks_fieldset_difference(struct ks_fieldset **out, const struct ks_fieldset *a,
			   const struct ks_fieldset *b)
{
	return set_op_root(out, a, b, OP_DIFFERENCE);
}

int ks_fieldset_intersection(struct ks_fieldset **out, const struct ks_fieldset *a,
			     const struct ks_fieldset *b)
{
	return set_op_root(out, a, b, OP_INTERSECTION);
}

int ks_fieldset_copy(struct ks_fieldset **out, const struct ks_fieldset *set)
{
	return set_op_root(out, set, NULL, OP_UNION);
}

void ks_fieldset_filter_top(struct ks_fieldset *set, const char *element, bool keep)
{
	if (!keep) {
		bool found;
		size_t pos = child_position(set, element, &found);
		if (found)
			child_remove_at(set, pos);
		return;
	}
	set->member = false;
	for (size_t i = set->count; i-- > 0;)
		if (strcmp(set->children[i]->element, element) != 0)
			child_remove_at(set, i);
}

static void retain_existing(struct ks_fieldset *node, const struct ks_fieldset *shape)
{
	for (size_t i = node->count; i-- > 0;) {
		struct ks_fieldset *child = node->children[i];
		const struct ks_fieldset *there = ks_fieldset_child(shape, child->element);
		if (there != NULL)
			retain_existing(child, there);
		if (there == NULL || (!child->member && child->count == 0))
			child_remove_at(node, i);
	}
}

void ks_fieldset_retain_existing(struct ks_fieldset *set, const struct ks_fieldset *shape)
{
	if (set != NULL && shape != NULL)
		retain_existing(set, shape);
}

/* ---- FieldsV1 ------------------------------------------------------------ */

static int encode_node(cJSON *into, const struct ks_fieldset *node)
{
	if (node->member && node->count > 0) {
		cJSON *dot = cJSON_CreateObject();
		if (dot == NULL || !cJSON_AddItemToObject(into, ".", dot)) {
			cJSON_Delete(dot);
			return oom("encoding managed fields");
		}
	}
	for (size_t i = 0; i < node->count; i++) {
		cJSON *child = cJSON_CreateObject();
		if (child == NULL || !cJSON_AddItemToObject(into, node->children[i]->element, child)) {
			cJSON_Delete(child);
			return oom("encoding managed fields");
		}
		int rc = encode_node(child, node->children[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ks_fieldset_encode(cJSON **out, const struct ks_fieldset *set)
{
	*out = cJSON_CreateObject();
	if (*out == NULL)
		return oom("encoding managed fields");
	int rc = encode_node(*out, set);
	if (rc != 0) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

/* Canonical form of a decoded element; NULL in *out with an error set when
 * it is not one. */
static int canonical_element(char **out, const char *element)
{
	*out = NULL;
	size_t len = strlen(element);
	if (len > KS_FIELDSET_ELEMENT_MAX)
		return keelson_error_set(KEELSON_ELIMIT, "path element longer than %d bytes",
					 KS_FIELDSET_ELEMENT_MAX);
	if (len < 2 || element[1] != ':')
		return keelson_error_set(KEELSON_EINVALID,
					 "path element \"%s\" does not start with f:, k:, v: or i:",
					 element);
	switch (element[0]) {
	case 'f':
		*out = strdup(element);
		return *out ? 0 : oom("decoding managed fields");
	case 'i': {
		const char *digits = element + 2;
		if (*digits == '\0' || (digits[0] == '0' && digits[1] != '\0') ||
		    strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9)
			return keelson_error_set(KEELSON_EINVALID,
						 "path element \"%s\" is not a list index", element);
		*out = strdup(element);
		return *out ? 0 : oom("decoding managed fields");
	}
	case 'k':
	case 'v': {
		cJSON *parsed = cJSON_Parse(element + 2);
		if (parsed == NULL || (element[0] == 'k' && !cJSON_IsObject(parsed))) {
			cJSON_Delete(parsed);
			return keelson_error_set(KEELSON_EINVALID,
						 "path element \"%s\" does not hold %s", element,
						 element[0] == 'k' ? "a JSON object of key fields"
								   : "a JSON value");
		}
		int rc = canonical_with_prefix(out, element[0] == 'k' ? "k:" : "v:", parsed);
		cJSON_Delete(parsed);
		return rc;
	}
	default:
		return keelson_error_set(KEELSON_EINVALID,
					 "path element \"%s\" does not start with f:, k:, v: or i:",
					 element);
	}
}

static int decode_node(struct ks_fieldset *node, const cJSON *json, int depth)
{
	if (depth > KS_TYPE_MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT, "nests deeper than %d levels",
					 KS_TYPE_MAX_DEPTH);
	if (!cJSON_IsObject(json))
		return keelson_error_set(KEELSON_EINVALID, "expected an object");
	if (json->child == NULL) {
		node->member = true;
		return 0;
	}
	const cJSON *m;
	cJSON_ArrayForEach(m, json) {
		if (strcmp(m->string, ".") == 0) {
			if (!cJSON_IsObject(m) || m->child != NULL)
				return keelson_error_set(KEELSON_EINVALID, "\".\" must be {}");
			node->member = true;
			continue;
		}
		char *element;
		int rc = canonical_element(&element, m->string);
		if (rc != 0)
			return rc;
		struct ks_fieldset *child = child_get_or_add(node, element);
		free(element);
		if (child == NULL)
			return oom("decoding managed fields");
		rc = decode_node(child, m, depth + 1);
		if (rc != 0)
			return keelson_error_wrap(rc, "%s", m->string);
	}
	return 0;
}

int ks_fieldset_decode(struct ks_fieldset **out, const cJSON *fields_v1)
{
	*out = NULL;
	if (!cJSON_IsObject(fields_v1))
		return keelson_error_set(KEELSON_EINVALID, "fieldsV1 must be a JSON object");
	struct ks_fieldset *set;
	int rc = ks_fieldset_new(&set);
	if (rc != 0)
		return rc;
	/* The top-level object of FieldsV1 is the root node: "{}" there is the
	 * empty set, not the whole object. */
	if (fields_v1->child != NULL) {
		rc = decode_node(set, fields_v1, 0);
		if (rc != 0) {
			ks_fieldset_free(set);
			return keelson_error_wrap(rc, "fieldsV1");
		}
	}
	*out = set;
	return 0;
}

/* ---- iteration ----------------------------------------------------------- */

struct iterate_state {
	const char *path[KS_TYPE_MAX_DEPTH + 1];
	ks_fieldset_visit_fn visit;
	void *payload;
};

static int iterate_node(const struct ks_fieldset *node, size_t depth, struct iterate_state *st)
{
	if (node->member) {
		int rc = st->visit(st->path, depth, node->value, st->payload);
		if (rc != 0)
			return rc;
	}
	if (node->count > 0 && depth >= KS_TYPE_MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT, "field set nests deeper than %d levels",
					 KS_TYPE_MAX_DEPTH);
	for (size_t i = 0; i < node->count; i++) {
		st->path[depth] = node->children[i]->element;
		int rc = iterate_node(node->children[i], depth + 1, st);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ks_fieldset_iterate(const struct ks_fieldset *set, ks_fieldset_visit_fn visit, void *payload)
{
	struct iterate_state st = { .visit = visit, .payload = payload };
	return set ? iterate_node(set, 0, &st) : 0;
}

/* ---- sets from objects --------------------------------------------------- */

struct build {
	struct ks_type_cursor cursor;
	bool strict;
	size_t depth;
	const char *path[KS_TYPE_MAX_DEPTH + 1];
};

static int build_error_at(struct build *b, int rc)
{
	char *where = NULL;
	if (ks_path_string(&where, b->path, b->depth) != 0)
		return rc;
	rc = keelson_error_wrap(rc, "%s", where[0] ? where : ".");
	free(where);
	return rc;
}

static void leaf(struct ks_fieldset *node, const cJSON *value)
{
	node->member = true;
	node->value = value;
}

int ks_list_item_element(char **out, const cJSON *item, size_t index,
			 const struct ks_list_semantics *sem, const struct ks_type_cursor *cursor)
{
	*out = NULL;
	if (sem->kind == KS_LIST_SET) {
		if (cJSON_IsObject(item) || cJSON_IsArray(item))
			return keelson_error_set(KEELSON_EINVALID,
						 "element %zu: set items must be scalars", index);
		return ks_path_element_value(out, item);
	}
	if (!cJSON_IsObject(item))
		return keelson_error_set(KEELSON_EINVALID,
					 "element %zu: associative list with keys has an element that is not a map",
					 index);
	cJSON *keys = cJSON_CreateObject();
	if (keys == NULL)
		return oom("building a list key");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sem->ssa_key_count; i++) {
		const char *name = sem->ssa_keys[i];
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, name);
		cJSON *copy = NULL;
		if (v != NULL && !cJSON_IsNull(v)) {
			if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
				rc = keelson_error_set(KEELSON_EINVALID,
						       "element %zu: key field \"%s\" must be a scalar",
						       index, name);
				break;
			}
			copy = cJSON_Duplicate(v, 1);
			if (copy == NULL)
				rc = oom("building a list key");
		} else {
			rc = ks_type_key_default(&copy, cursor, name);
			if (rc == 0 && copy == NULL)
				rc = keelson_error_set(KEELSON_EINVALID,
						       "element %zu: associative list with keys has an element that omits key field \"%s\" (and doesn't have default value)",
						       index, name);
		}
		if (rc == 0 && !cJSON_AddItemToObject(keys, name, copy)) {
			cJSON_Delete(copy);
			rc = oom("building a list key");
		}
	}
	if (rc == 0)
		rc = ks_path_element_key(out, keys);
	cJSON_Delete(keys);
	return rc;
}

static int build_value(struct ks_fieldset *node, const cJSON *value, struct build *b);

static int build_object_fields(struct ks_fieldset *node, const cJSON *object, struct build *b)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, object) {
		if (m->string == NULL)
			continue;
		char *element;
		int rc = ks_path_element_field(&element, m->string);
		if (rc != 0)
			return rc;
		struct ks_fieldset *child = child_get_or_add(node, element);
		free(element);
		if (child == NULL)
			return oom("building a field set");
		if (ks_type_field_is_map_entry(&b->cursor, m->string))
			leaf(child, m);
		struct ks_type_mark mark;
		rc = ks_type_cursor_enter_field(&b->cursor, m->string, &mark);
		if (rc != 0)
			return rc;
		b->path[b->depth++] = child->element;
		rc = build_value(child, m, b);
		b->depth--;
		ks_type_cursor_leave(&b->cursor, &mark);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void free_elements(char **elements, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(elements[i]);
	free(elements);
}

static int compare_element_ptrs(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Key every item; on failure (strict) the error names the list. Returns
 * KEELSON_EINVALID when the list cannot be treated as associative. */
static int key_items(char ***out, const cJSON *list, size_t n, const struct ks_list_semantics *sem,
		     struct build *b)
{
	char **elements = calloc(n, sizeof(*elements));
	if (elements == NULL)
		return oom("keying list items");
	size_t i = 0;
	const cJSON *item;
	int rc = 0;
	cJSON_ArrayForEach(item, list) {
		rc = ks_list_item_element(&elements[i], item, i, sem, &b->cursor);
		if (rc != 0)
			break;
		i++;
	}
	const char *duplicate = NULL;
	if (rc == 0 && n > 1) {
		char **sorted = malloc(n * sizeof(*sorted));
		if (sorted == NULL) {
			rc = oom("keying list items");
		} else {
			memcpy(sorted, elements, n * sizeof(*sorted));
			qsort(sorted, n, sizeof(*sorted), compare_element_ptrs);
			for (size_t j = 1; j < n && !duplicate; j++)
				if (strcmp(sorted[j - 1], sorted[j]) == 0)
					duplicate = sorted[j];
			if (duplicate) {
				char *shown = NULL;
				const char *one[1] = { duplicate };
				if (ks_path_string(&shown, one, 1) != 0)
					shown = NULL;
				rc = keelson_error_set(KEELSON_EINVALID, "duplicate entries for key %s",
						       shown ? shown : duplicate);
				free(shown);
			}
			free(sorted);
		}
	}
	if (rc != 0) {
		free_elements(elements, n);
		return rc;
	}
	*out = elements;
	return 0;
}

static int build_list(struct ks_fieldset *node, const cJSON *list, struct build *b)
{
	size_t n = (size_t)cJSON_GetArraySize(list);
	struct ks_list_semantics sem;
	ks_type_list_semantics(&sem, &b->cursor);
	if (n == 0 || sem.kind == KS_LIST_ATOMIC) {
		leaf(node, list);
		return 0;
	}
	char **elements;
	int rc = key_items(&elements, list, n, &sem, b);
	if (rc == KEELSON_EINVALID && !b->strict) {
		/* A stored object with an un-keyable list still has to be
		 * ownable: own the list as one value. */
		keelson_error_clear();
		leaf(node, list);
		return 0;
	}
	if (rc != 0)
		return b->strict ? build_error_at(b, rc) : rc;

	size_t i = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, list) {
		struct ks_fieldset *child = child_get_or_add(node, elements[i]);
		if (child == NULL) {
			rc = oom("building a field set");
			break;
		}
		leaf(child, item);
		if (sem.kind == KS_LIST_MAP && cJSON_IsObject(item)) {
			struct ks_type_mark mark;
			rc = ks_type_cursor_enter_item(&b->cursor, &mark);
			if (rc != 0)
				break;
			b->path[b->depth++] = child->element;
			rc = build_object_fields(child, item, b);
			b->depth--;
			ks_type_cursor_leave(&b->cursor, &mark);
			if (rc != 0)
				break;
		}
		i++;
	}
	free_elements(elements, n);
	return rc;
}

static int build_value(struct ks_fieldset *node, const cJSON *value, struct build *b)
{
	if (b->depth >= KS_TYPE_MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT, "object nests deeper than %d levels",
					 KS_TYPE_MAX_DEPTH);
	if (cJSON_IsObject(value)) {
		if (value->child == NULL || ks_type_object_is_atomic(&b->cursor)) {
			leaf(node, value);
			return 0;
		}
		node->owned_when_added = ks_type_owned_when_added(&b->cursor, false);
		return build_object_fields(node, value, b);
	}
	if (cJSON_IsArray(value)) {
		node->owned_when_added = ks_type_owned_when_added(&b->cursor, true);
		return build_list(node, value, b);
	}
	leaf(node, value);
	return 0;
}

int ks_fieldset_from_object(struct ks_fieldset **out, const cJSON *object,
			    const struct ks_type_scope *scope, bool strict)
{
	*out = NULL;
	if (!cJSON_IsObject(object))
		return keelson_error_set(KEELSON_EINVALID, "expected a JSON object");
	struct build *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return oom("building a field set");
	ks_type_cursor_init(&b->cursor, scope);
	b->strict = strict;
	struct ks_fieldset *set;
	int rc = ks_fieldset_new(&set);
	if (rc == 0 && object->child != NULL)
		rc = build_object_fields(set, object, b);
	free(b);
	if (rc != 0) {
		ks_fieldset_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

/* ---- containers an Update creates ---- */

static int mark_added(struct ks_fieldset *out, const struct ks_fieldset *new_node,
		      const struct ks_fieldset *old_node, const char **path, size_t depth)
{
	if (depth > 0 && new_node->count > 0 && new_node->owned_when_added && old_node == NULL) {
		int rc = ks_fieldset_insert(out, path, depth);
		if (rc != 0)
			return rc;
	}
	if (depth >= KS_TYPE_MAX_DEPTH)
		return 0;
	for (size_t i = 0; i < new_node->count; i++) {
		const struct ks_fieldset *child = new_node->children[i];
		path[depth] = child->element;
		int rc = mark_added(out, child, ks_fieldset_child(old_node, child->element), path,
				    depth + 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ks_fieldset_add_created_containers(struct ks_fieldset *out, const struct ks_fieldset *old_set,
				       const struct ks_fieldset *new_set)
{
	const char *path[KS_TYPE_MAX_DEPTH + 1];
	return mark_added(out, new_set, old_set, path, 0);
}

/* ---- comparison ----------------------------------------------------------- */

static int collect_modified(struct ks_fieldset *out, const struct ks_fieldset *a,
			    const struct ks_fieldset *b, const char **path, size_t depth)
{
	if (a->member && b->member && a->count == 0 && b->count == 0 && a->value && b->value &&
	    !cJSON_Compare(a->value, b->value, 1)) {
		int rc = ks_fieldset_insert(out, path, depth);
		if (rc != 0)
			return rc;
		struct ks_fieldset *node = out;
		for (size_t i = 0; i < depth; i++)
			node = (struct ks_fieldset *)ks_fieldset_child(node, path[i]);
		node->value = b->value;
	}
	if (depth >= KS_TYPE_MAX_DEPTH)
		return 0;
	for (size_t i = 0; i < a->count; i++) {
		const struct ks_fieldset *cb = ks_fieldset_child(b, a->children[i]->element);
		if (cb == NULL)
			continue;
		path[depth] = a->children[i]->element;
		int rc = collect_modified(out, a->children[i], cb, path, depth + 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ks_fieldset_compare(struct ks_fieldset **out_added, struct ks_fieldset **out_removed,
			struct ks_fieldset **out_modified, const struct ks_fieldset *old_set,
			const struct ks_fieldset *new_set)
{
	struct ks_fieldset *added = NULL, *removed = NULL, *modified = NULL;
	int rc = 0;
	if (out_added)
		rc = ks_fieldset_difference(&added, new_set, old_set);
	if (rc == 0 && out_removed)
		rc = ks_fieldset_difference(&removed, old_set, new_set);
	if (rc == 0 && out_modified) {
		rc = ks_fieldset_new(&modified);
		const char *path[KS_TYPE_MAX_DEPTH + 1];
		if (rc == 0)
			rc = collect_modified(modified, old_set, new_set, path, 0);
	}
	if (rc != 0) {
		ks_fieldset_free(added);
		ks_fieldset_free(removed);
		ks_fieldset_free(modified);
		return rc;
	}
	if (out_added)
		*out_added = added;
	if (out_removed)
		*out_removed = removed;
	if (out_modified)
		*out_modified = modified;
	return 0;
}
