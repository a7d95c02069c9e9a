#include "config.h"

#include "strategic_merge.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"
#include "json_util.h"
#include "merge_keys.h"

#define DIRECTIVE_MARKER "$patch"
#define RETAIN_KEYS "$retainKeys"
#define SET_ORDER_PREFIX "$setElementOrder/"
#define DELETE_PRIMITIVE_PREFIX "$deleteFromPrimitiveList/"

/* apimachinery mergepatch sentinel errors. */
#define ERR_RETAIN_KEYS_FORMAT "invalid patch format of retainKeys"
#define ERR_SET_ORDER_FORMAT "invalid patch format of setElementOrder list"

/* Longest JSON excerpt quoted in an error message. */
#define EXCERPT_MAX 200

struct smp_context {
	const char *group;
	const char *kind;
};

/* A borrowed view of a list's items, for ordering without copying. */
struct item_list {
	const cJSON **items;
	size_t count;
};

static int oom(void)
{
	return keelson_error_set(KEELSON_ENOMEM, "out of memory applying a strategic merge patch");
}

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int is_directive_key(const char *key)
{
	return strcmp(key, DIRECTIVE_MARKER) == 0 || strcmp(key, RETAIN_KEYS) == 0 ||
	       has_prefix(key, SET_ORDER_PREFIX) || has_prefix(key, DELETE_PRIMITIVE_PREFIX);
}

/* Compact JSON of `value` cut to EXCERPT_MAX characters, for messages. */
static char *excerpt(const cJSON *value)
{
	char *text = cJSON_PrintUnformatted(value);
	if (text && strlen(text) > EXCERPT_MAX)
		strcpy(text + EXCERPT_MAX - 3, "...");
	return text;
}

/* Member of `patch` named prefix + key, or NULL. */
static const cJSON *find_prefixed(const cJSON *patch, const char *prefix, const char *key)
{
	size_t len = strlen(prefix);
	for (const cJSON *m = patch->child; m; m = m->next)
		if (strncmp(m->string, prefix, len) == 0 && strcmp(m->string + len, key) == 0)
			return m;
	return NULL;
}

/* Copy of a value taken from the patch as a whole: null members, directive
 * keys and directive-only list items dropped, as decoding into the Go
 * types would. */
static cJSON *clean_copy(const cJSON *value)
{
	if (cJSON_IsObject(value)) {
		cJSON *copy = cJSON_CreateObject();
		if (!copy)
			return NULL;
		for (const cJSON *m = value->child; m; m = m->next) {
			if (cJSON_IsNull(m) || is_directive_key(m->string))
				continue;
			cJSON *child = clean_copy(m);
			if (!child || !cJSON_AddItemToObject(copy, m->string, child)) {
				cJSON_Delete(child);
				cJSON_Delete(copy);
				return NULL;
			}
		}
		return copy;
	}
	if (cJSON_IsArray(value)) {
		cJSON *copy = cJSON_CreateArray();
		if (!copy)
			return NULL;
		for (const cJSON *item = value->child; item; item = item->next) {
			if (cJSON_IsObject(item) && cJSON_GetObjectItemCaseSensitive(item, DIRECTIVE_MARKER))
				continue;
			cJSON *child = clean_copy(item);
			if (!child) {
				cJSON_Delete(copy);
				return NULL;
			}
			cJSON_AddItemToArray(copy, child);
		}
		return copy;
	}
	return cJSON_Duplicate(value, 1);
}

static int list_from_array(struct item_list *out, const cJSON *array)
{
	out->items = NULL;
	out->count = 0;
	if (!cJSON_IsArray(array))
		return 0;
	size_t n = (size_t)cJSON_GetArraySize(array);
	if (n == 0)
		return 0;
	out->items = calloc(n, sizeof(*out->items));
	if (!out->items)
		return oom();
	for (const cJSON *item = array->child; item; item = item->next)
		out->items[out->count++] = item;
	return 0;
}

/* Two items are the same list entry when their merge keys are equal (maps)
 * or they are equal (primitives). */
static int same_entry(const cJSON *a, const cJSON *b, const char *merge_key)
{
	if (!merge_key)
		return keelson_json_equal(a, b);
	if (!cJSON_IsObject(a) || !cJSON_IsObject(b))
		return 0;
	const cJSON *ka = cJSON_GetObjectItemCaseSensitive(a, merge_key);
	const cJSON *kb = cJSON_GetObjectItemCaseSensitive(b, merge_key);
	return ka && kb && keelson_json_equal(ka, kb);
}

static long index_in(const struct item_list *list, const cJSON *item, const char *merge_key)
{
	for (size_t i = 0; i < list->count; i++)
		if (same_entry(list->items[i], item, merge_key))
			return (long)i;
	return -1;
}

/* One item of a list being reordered, with its positions precomputed so
 * sorting costs O(n log n) comparisons of integers. */
struct order_entry {
	const cJSON *item;
	long sort_index;   /* index in the list this partition is sorted by */
	long server_index; /* index in the server's list, -1 when absent */
	size_t position;   /* position in the merged list, for stability */
};

static int compare_entries(const void *a, const void *b)
{
	const struct order_entry *x = a, *y = b;
	/* Items the order list does not name keep their merged position,
	 * after the named ones. */
	long xi = x->sort_index < 0 ? LONG_MAX : x->sort_index;
	long yi = y->sort_index < 0 ? LONG_MAX : y->sort_index;
	if (xi != yi)
		return xi < yi ? -1 : 1;
	return x->position < y->position ? -1 : x->position > y->position;
}

/* Rebuild `merged` in the order apimachinery's normalizeElementOrder
 * gives: items named by `patch_order` sorted by it, the others (server-only)
 * sorted by `server_order`, then interleaved (mergeSortedSlice) so that a
 * server-only item goes before the first patch item it preceded on the
 * server. */
static int normalize_order(cJSON **merged, const struct item_list *patch_order,
			   const struct item_list *server_order, const char *merge_key)
{
	size_t total = (size_t)cJSON_GetArraySize(*merged);
	if (total == 0)
		return 0;
	struct order_entry *patch_items = calloc(total, sizeof(*patch_items));
	struct order_entry *server_only = calloc(total, sizeof(*server_only));
	cJSON *result = cJSON_CreateArray();
	size_t n_patch = 0, n_server = 0, position = 0;
	int rc = 0;
	if (!patch_items || !server_only || !result) {
		rc = oom();
		goto cleanup;
	}
	for (const cJSON *item = (*merged)->child; item; item = item->next, position++) {
		struct order_entry e = { item, index_in(patch_order, item, merge_key),
					 index_in(server_order, item, merge_key), position };
		if (e.sort_index >= 0) {
			patch_items[n_patch++] = e;
		} else {
			e.sort_index = e.server_index;
			server_only[n_server++] = e;
		}
	}
	qsort(patch_items, n_patch, sizeof(*patch_items), compare_entries);
	qsort(server_only, n_server, sizeof(*server_only), compare_entries);

	size_t i = 0, j = 0;
	while (i < n_server || j < n_patch) {
		const struct order_entry *next;
		if (i >= n_server)
			next = &patch_items[j++];
		else if (j >= n_patch)
			next = &server_only[i++];
		else if (server_only[i].server_index >= 0 && patch_items[j].server_index >= 0 &&
			 server_only[i].server_index < patch_items[j].server_index)
			next = &server_only[i++];
		else
			next = &patch_items[j++];
		cJSON_AddItemToArray(result, cJSON_DetachItemViaPointer(*merged, (cJSON *)next->item));
	}
	cJSON_Delete(*merged);
	*merged = result;
	result = NULL;
cleanup:
	cJSON_Delete(result);
	free(patch_items);
	free(server_only);
	return rc;
}

/* apimachinery validatePatchWithSetOrderList: the patch list's items must
 * appear in $setElementOrder, in the same relative order. */
static int validate_set_order(const struct item_list *patch_items, const cJSON *order,
			      const char *merge_key, const char *path)
{
	struct item_list order_items;
	int rc = list_from_array(&order_items, order);
	if (rc < 0)
		return rc;
	size_t p = 0, o = 0;
	while (p < patch_items->count && o < order_items.count) {
		if (same_entry(patch_items->items[p], order_items.items[o], merge_key))
			p++;
		o++;
	}
	free(order_items.items);
	if (p < patch_items->count) {
		char *text = excerpt(order);
		rc = keelson_error_set(KEELSON_EINVALID,
				       "The order in patch list at %s doesn't match $setElementOrder list: %s",
				       path[0] ? path : "/", text ? text : "?");
		free(text);
	}
	return rc;
}

static int merge_map(cJSON *orig, const cJSON *patch, const char *path,
		     const struct smp_context *ctx, cJSON **replacement);

static int merge_primitive_list(cJSON **out, const cJSON *orig, const cJSON *patch,
				const cJSON *order, const cJSON *delete_list, const char *path)
{
	struct item_list patch_items = { 0 }, order_items = { 0 }, server_items = { 0 };
	cJSON *merged = cJSON_CreateArray();
	int rc = merged ? 0 : oom();
	if (rc < 0)
		goto cleanup;
	/* Deduplicated union: original values first, then new patch values. */
	for (int pass = 0; pass < 2; pass++) {
		const cJSON *source = pass == 0 ? orig : patch;
		for (const cJSON *item = source ? source->child : NULL; item; item = item->next) {
			int skip = 0;
			for (const cJSON *d = pass == 0 && delete_list ? delete_list->child : NULL; d && !skip;
			     d = d->next)
				skip = keelson_json_equal(item, d);
			for (const cJSON *m = merged->child; m && !skip; m = m->next)
				skip = keelson_json_equal(item, m);
			if (skip)
				continue;
			cJSON *copy = cJSON_Duplicate(item, 1);
			if (!copy) {
				rc = oom();
				goto cleanup;
			}
			cJSON_AddItemToArray(merged, copy);
		}
	}
	if ((rc = list_from_array(&patch_items, patch)) < 0 ||
	    (rc = list_from_array(&order_items, order ? order : patch)) < 0 ||
	    (rc = list_from_array(&server_items, orig)) < 0)
		goto cleanup;
	if (order && (rc = validate_set_order(&patch_items, order, NULL, path)) < 0)
		goto cleanup;
	rc = normalize_order(&merged, &order_items, &server_items, NULL);
cleanup:
	free(patch_items.items);
	free(order_items.items);
	free(server_items.items);
	if (rc < 0) {
		cJSON_Delete(merged);
		return rc;
	}
	*out = merged;
	return 0;
}

static int directive_error(const char *kind, const cJSON *directive, const cJSON *container)
{
	char *d = excerpt(directive), *c = excerpt(container);
	int rc = keelson_error_set(KEELSON_EINVALID, "unknown patch type: %s in %s: %s", d ? d : "?",
				   kind, c ? c : "?");
	free(d);
	free(c);
	return rc;
}

static int no_merge_key_error(const cJSON *item, const char *merge_key)
{
	char *text = excerpt(item);
	int rc = keelson_error_set(KEELSON_EINVALID, "map: %s does not contain declared merge key: %s",
				   text ? text : "?", merge_key);
	free(text);
	return rc;
}

/* Remove every item of `list` whose merge key equals `value`. */
static void delete_matching(cJSON *list, const char *merge_key, const cJSON *value)
{
	cJSON *item = list->child;
	while (item) {
		cJSON *next = item->next;
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, merge_key);
		if (k && keelson_json_equal(k, value))
			cJSON_Delete(cJSON_DetachItemViaPointer(list, item));
		item = next;
	}
}

static int merge_map_list(cJSON **out, const cJSON *orig, const cJSON *patch, const cJSON *order,
			  const char *merge_key, const char *path, const struct smp_context *ctx)
{
	struct item_list plain = { 0 }, order_items = { 0 }, server_items = { 0 };
	char *item_path = keelson_json_pointer_append(path, "*");
	cJSON *work = orig ? cJSON_Duplicate(orig, 1) : cJSON_CreateArray();
	int replace = 0, rc = 0;
	if (!item_path || !work) {
		rc = oom();
		goto cleanup;
	}
	if (patch && patch->child) {
		plain.items = calloc((size_t)cJSON_GetArraySize(patch), sizeof(*plain.items));
		if (!plain.items) {
			rc = oom();
			goto cleanup;
		}
	}
	for (const cJSON *item = patch ? patch->child : NULL; item; item = item->next) {
		const cJSON *directive = cJSON_GetObjectItemCaseSensitive(item, DIRECTIVE_MARKER);
		if (!cJSON_IsObject(item)) {
			rc = keelson_error_set(KEELSON_EINVALID,
					       "strategic merge patch at %s: the list is merged by key \"%s\", so every patch item must be an object",
					       path, merge_key);
			goto cleanup;
		}
		if (!directive) {
			plain.items[plain.count++] = item;
			continue;
		}
		if (cJSON_IsString(directive) && strcmp(directive->valuestring, "delete") == 0) {
			const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, merge_key);
			if (!value) {
				rc = no_merge_key_error(item, merge_key);
				goto cleanup;
			}
			delete_matching(work, merge_key, value);
		} else if (cJSON_IsString(directive) && strcmp(directive->valuestring, "replace") == 0) {
			replace = 1;
		} else if (cJSON_IsString(directive) && strcmp(directive->valuestring, "merge") == 0) {
			rc = keelson_error_set(KEELSON_EINVALID,
					       "merging lists cannot yet be specified in the patch");
			goto cleanup;
		} else {
			rc = directive_error("map", directive, item);
			goto cleanup;
		}
	}
	if (replace) {
		cJSON_Delete(work);
		work = cJSON_CreateArray();
		if (!work) {
			rc = oom();
			goto cleanup;
		}
		for (size_t i = 0; i < plain.count; i++) {
			cJSON *copy = clean_copy(plain.items[i]);
			if (!copy) {
				rc = oom();
				goto cleanup;
			}
			cJSON_AddItemToArray(work, copy);
		}
		plain.count = 0;
	}
	for (size_t i = 0; i < plain.count; i++) {
		const cJSON *item = plain.items[i];
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(item, merge_key);
		if (!value) {
			rc = no_merge_key_error(item, merge_key);
			goto cleanup;
		}
		cJSON *target = NULL;
		for (cJSON *w = work->child; w && !target; w = w->next) {
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(w, merge_key);
			if (k && keelson_json_equal(k, value))
				target = w;
		}
		cJSON *replacement = NULL;
		if (target) {
			if ((rc = merge_map(target, item, item_path, ctx, &replacement)) < 0)
				goto cleanup;
			if (replacement && (rc = ks_json_replace_child(work, target, replacement)) < 0)
				goto cleanup;
			continue;
		}
		cJSON *fresh = cJSON_CreateObject();
		if (!fresh) {
			rc = oom();
			goto cleanup;
		}
		if ((rc = merge_map(fresh, item, item_path, ctx, &replacement)) < 0) {
			cJSON_Delete(fresh);
			goto cleanup;
		}
		if (replacement) {
			cJSON_Delete(fresh);
			fresh = replacement;
		}
		cJSON_AddItemToArray(work, fresh);
	}
	if (order && (rc = validate_set_order(&plain, order, merge_key, path)) < 0)
		goto cleanup;
	if (order) {
		if ((rc = list_from_array(&order_items, order)) < 0)
			goto cleanup;
	} else {
		order_items = plain;
		plain.items = NULL;
	}
	/* After a replace nothing is ordered by the patch: the new list keeps
	 * its own order. */
	if (!replace && (rc = list_from_array(&server_items, orig)) == 0)
		rc = normalize_order(&work, &order_items, &server_items, merge_key);
	goto cleanup;

cleanup:
	free(plain.items);
	free(order_items.items);
	free(server_items.items);
	free(item_path);
	if (rc < 0) {
		cJSON_Delete(work);
		return rc;
	}
	*out = work;
	return 0;
}

/* First element that tells what a list holds, or NULL for empty lists. */
static const cJSON *first_item(const cJSON *a, const cJSON *b)
{
	if (a && a->child)
		return a->child;
	return b ? b->child : NULL;
}

/* Merge list `patch` (NULL when only ordering or deleting) into `orig`
 * (NULL when absent); *out is the new list. */
static int merge_list(cJSON **out, const cJSON *orig, const cJSON *patch, const cJSON *order,
		      const cJSON *delete_list, const char *path, const struct smp_context *ctx)
{
	struct ks_list_semantics sem;
	int rc = ks_list_semantics_lookup(&sem, ctx->group, ctx->kind, path);
	if (rc < 0)
		return rc;
	if (order && !cJSON_IsArray(order))
		return keelson_error_set(KEELSON_EINVALID, ERR_SET_ORDER_FORMAT);
	if (delete_list && !cJSON_IsArray(delete_list))
		return keelson_error_set(KEELSON_EINVALID,
					 "invalid patch format of primitive list");
	if (!ks_list_semantics_smp_merges(&sem)) {
		/* Replaced lists take the patch as is; order and delete
		 * directives only mean something for merged lists. */
		*out = patch ? clean_copy(patch) : cJSON_Duplicate(orig, 1);
		return *out ? 0 : oom();
	}
	const cJSON *sample = first_item(orig, patch);
	if (!sample) {
		*out = cJSON_CreateArray();
		return *out ? 0 : oom();
	}
	if (!cJSON_IsObject(sample))
		return merge_primitive_list(out, orig, patch, order, delete_list, path);
	if (!sem.smp_merge_key)
		return keelson_error_set(KEELSON_EINVALID, "cannot merge lists without merge key for %s",
					 path);
	return merge_map_list(out, orig, patch, order, sem.smp_merge_key, path, ctx);
}

/* Merge `patch_value` (NULL: only `order` / `delete_list`) into member
 * `key` of `parent`. */
static int merge_member(cJSON *parent, const char *key, const cJSON *patch_value,
			const cJSON *order, const cJSON *delete_list, const char *parent_path,
			const struct smp_context *ctx)
{
	cJSON *existing = cJSON_GetObjectItemCaseSensitive(parent, key);
	cJSON *result = NULL;
	int rc = 0;
	if (cJSON_IsNull(patch_value)) {
		if (existing)
			cJSON_Delete(cJSON_DetachItemViaPointer(parent, existing));
		return 0;
	}
	char *path = keelson_json_pointer_append(parent_path, key);
	if (!path)
		return oom();
	if (cJSON_IsArray(patch_value) || (!patch_value && cJSON_IsArray(existing))) {
		rc = merge_list(&result, cJSON_IsArray(existing) ? existing : NULL, patch_value, order,
				delete_list, path, ctx);
	} else if (!patch_value) {
		/* Ordering or deleting from a list that is not there. */
	} else if (cJSON_IsObject(patch_value) && cJSON_IsObject(existing)) {
		rc = merge_map(existing, patch_value, path, ctx, &result);
	} else if (cJSON_IsObject(patch_value)) {
		cJSON *fresh = cJSON_CreateObject();
		rc = fresh ? merge_map(fresh, patch_value, path, ctx, &result) : oom();
		if (rc == 0 && !result)
			result = fresh;
		else
			cJSON_Delete(fresh);
	} else {
		result = cJSON_Duplicate(patch_value, 1);
		if (!result)
			rc = oom();
	}
	free(path);
	if (rc < 0 || !result)
		return rc;
	return ks_json_object_set(parent, key, result);
}

static int apply_retain_keys(cJSON *orig, const cJSON *patch, const cJSON *retain)
{
	if (!cJSON_IsArray(retain))
		return keelson_error_set(KEELSON_EINVALID, ERR_RETAIN_KEYS_FORMAT);
	for (const cJSON *k = retain->child; k; k = k->next)
		if (!cJSON_IsString(k))
			return keelson_error_set(KEELSON_EINVALID, ERR_RETAIN_KEYS_FORMAT);
	for (const cJSON *m = patch->child; m; m = m->next) {
		if (cJSON_IsNull(m) || is_directive_key(m->string))
			continue;
		int listed = 0;
		for (const cJSON *k = retain->child; k && !listed; k = k->next)
			listed = strcmp(k->valuestring, m->string) == 0;
		if (!listed)
			return keelson_error_set(KEELSON_EINVALID,
						 ERR_RETAIN_KEYS_FORMAT ": \"%s\" is in the patch but not in $retainKeys",
						 m->string);
	}
	cJSON *member = orig->child;
	while (member) {
		cJSON *next = member->next;
		int listed = 0;
		for (const cJSON *k = retain->child; k && !listed; k = k->next)
			listed = strcmp(k->valuestring, member->string) == 0;
		if (!listed)
			cJSON_Delete(cJSON_DetachItemViaPointer(orig, member));
		member = next;
	}
	return 0;
}

/* Merge object `patch` into object `orig` in place. When a "$patch"
 * directive replaces the whole map, *replacement receives the new value
 * and `orig` is left alone. */
static int merge_map(cJSON *orig, const cJSON *patch, const char *path,
		     const struct smp_context *ctx, cJSON **replacement)
{
	*replacement = NULL;
	const cJSON *directive = cJSON_GetObjectItemCaseSensitive(patch, DIRECTIVE_MARKER);
	if (directive) {
		if (cJSON_IsString(directive) && strcmp(directive->valuestring, "replace") == 0)
			*replacement = clean_copy(patch);
		else if (cJSON_IsString(directive) && strcmp(directive->valuestring, "delete") == 0)
			*replacement = cJSON_CreateObject();
		else
			return directive_error("map", directive, patch);
		return *replacement ? 0 : oom();
	}
	const cJSON *retain = cJSON_GetObjectItemCaseSensitive(patch, RETAIN_KEYS);
	int rc;
	if (retain && (rc = apply_retain_keys(orig, patch, retain)) < 0)
		return rc;

	for (const cJSON *m = patch->child; m; m = m->next) {
		const char *key = m->string;
		if (strcmp(key, DIRECTIVE_MARKER) == 0 || strcmp(key, RETAIN_KEYS) == 0)
			continue;
		if (has_prefix(key, SET_ORDER_PREFIX)) {
			const char *list_key = key + strlen(SET_ORDER_PREFIX);
			const cJSON *list = cJSON_GetObjectItemCaseSensitive(patch, list_key);
			rc = merge_member(orig, list_key, list, m,
					  find_prefixed(patch, DELETE_PRIMITIVE_PREFIX, list_key), path, ctx);
		} else if (has_prefix(key, DELETE_PRIMITIVE_PREFIX)) {
			const char *list_key = key + strlen(DELETE_PRIMITIVE_PREFIX);
			if (find_prefixed(patch, SET_ORDER_PREFIX, list_key) ||
			    cJSON_GetObjectItemCaseSensitive(patch, list_key))
				continue; /* handled with the list itself */
			rc = merge_member(orig, list_key, NULL, NULL, m, path, ctx);
		} else {
			if (find_prefixed(patch, SET_ORDER_PREFIX, key))
				continue; /* handled with its $setElementOrder */
			rc = merge_member(orig, key, m, NULL,
					  find_prefixed(patch, DELETE_PRIMITIVE_PREFIX, key), path, ctx);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ks_strategic_merge_apply(cJSON **out, const cJSON *doc, const cJSON *patch,
			     const char *group, const char *kind)
{
	if (!out || !doc || !patch || !group || !kind)
		return keelson_error_set(KEELSON_EINVALID,
					 "strategic merge patch: document, patch, group and kind are required");
	if (!cJSON_IsObject(patch))
		return keelson_error_set(KEELSON_EINVALID,
					 "json: cannot unmarshal %s into Go value of type map[string]interface {}",
					 cJSON_IsArray(patch) ? "array" : "non-object value");
	if (!cJSON_IsObject(doc))
		return keelson_error_set(KEELSON_EINVALID,
					 "strategic merge patch: the %s document is not a JSON object", kind);
	struct smp_context ctx = { group, kind };
	cJSON *work = cJSON_Duplicate(doc, 1);
	if (!work)
		return oom();
	cJSON *replacement = NULL;
	int rc = merge_map(work, patch, "", &ctx, &replacement);
	if (rc < 0) {
		cJSON_Delete(work);
		return rc;
	}
	if (replacement) {
		cJSON_Delete(work);
		work = replacement;
	}
	*out = work;
	return 0;
}
