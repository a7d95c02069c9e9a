#include "config.h"

#include "server_side_apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fieldpath.h"
#include "typeinfo.h"

/* More entries than any real object carries; a bound on what we decode. */
#define MAX_MANAGED_ENTRIES 1024
/* The manager that owns everything an object had before its first apply
 * when it carried no managedFields (k8s skipNonAppliedManager). */
#define BEFORE_FIRST_APPLY "before-first-apply"

static int oom(const char *what)
{
	return keelson_error_set(KEELSON_ENOMEM, "out of memory %s", what);
}

static char *dup_or_null(const char *s)
{
	return (s && *s) ? strdup(s) : NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ---- managedFields entries ---------------------------------------------- */

struct entry {
	char *manager;
	bool apply; /* operation Apply; else Update */
	char *api_version;
	char *time;
	char *subresource; /* NULL for the main resource */
	struct ks_fieldset *set;
};

struct managers {
	struct entry *items;
	size_t count;
	size_t cap;
};

static void entry_clear(struct entry *e)
{
	free(e->manager);
	free(e->api_version);
	free(e->time);
	free(e->subresource);
	ks_fieldset_free(e->set);
	memset(e, 0, sizeof(*e));
}

static void managers_clear(struct managers *m)
{
	for (size_t i = 0; i < m->count; i++)
		entry_clear(&m->items[i]);
	free(m->items);
	memset(m, 0, sizeof(*m));
}

/* Entry identity as kube-apiserver builds it (BuildManagerIdentifier):
 * manager, operation, subresource, and apiVersion for Update only. */
static bool entry_same_identity(const struct entry *e, const char *manager, bool apply,
				const char *api_version, const char *subresource)
{
	return str_eq(e->manager, manager) && e->apply == apply && str_eq(e->subresource, subresource) &&
	       (apply || str_eq(e->api_version, api_version));
}

static struct entry *managers_find(struct managers *m, const char *manager, bool apply,
				   const char *api_version, const char *subresource)
{
	for (size_t i = 0; i < m->count; i++)
		if (entry_same_identity(&m->items[i], manager, apply, api_version, subresource))
			return &m->items[i];
	return NULL;
}

/* A new zeroed entry at the end; pointers into items[] are invalidated. */
static struct entry *managers_add(struct managers *m)
{
	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4;
		struct entry *items = realloc(m->items, cap * sizeof(*items));
		if (items == NULL)
			return NULL;
		m->items = items;
		m->cap = cap;
	}
	struct entry *e = &m->items[m->count++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void managers_drop_empty(struct managers *m)
{
	size_t w = 0;
	for (size_t i = 0; i < m->count; i++) {
		if (ks_fieldset_empty(m->items[i].set)) {
			entry_clear(&m->items[i]);
			continue;
		}
		m->items[w++] = m->items[i];
	}
	m->count = w;
}

static const cJSON *managed_fields_of(const cJSON *object)
{
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	return cJSON_GetObjectItemCaseSensitive(metadata, "managedFields");
}

static const char *optional_string(const cJSON *obj, const char *name, int *rc)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsString(v)) {
		*rc = keelson_error_set(KEELSON_EINVALID, "%s must be a string", name);
		return NULL;
	}
	return v->valuestring;
}

static int decode_entry(struct managers *m, const cJSON *json)
{
	if (!cJSON_IsObject(json))
		return keelson_error_set(KEELSON_EINVALID, "entry is not an object");
	int rc = 0;
	const char *manager = optional_string(json, "manager", &rc);
	const char *operation = optional_string(json, "operation", &rc);
	const char *api_version = optional_string(json, "apiVersion", &rc);
	const char *time = optional_string(json, "time", &rc);
	const char *fields_type = optional_string(json, "fieldsType", &rc);
	const char *subresource = optional_string(json, "subresource", &rc);
	if (rc != 0)
		return rc;
	if (operation == NULL || (strcmp(operation, "Apply") != 0 && strcmp(operation, "Update") != 0))
		return keelson_error_set(KEELSON_EINVALID,
					 "operation must be \"Apply\" or \"Update\"");
	if (fields_type == NULL || strcmp(fields_type, "FieldsV1") != 0)
		return keelson_error_set(KEELSON_EINVALID, "fieldsType must be \"FieldsV1\"");
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(json, "fieldsV1");
	struct ks_fieldset *set;
	if (fields == NULL || cJSON_IsNull(fields))
		rc = ks_fieldset_new(&set);
	else
		rc = ks_fieldset_decode(&set, fields);
	if (rc != 0)
		return rc;

	bool apply = strcmp(operation, "Apply") == 0;
	if (subresource && !*subresource)
		subresource = NULL;
	struct entry *same = managers_find(m, manager, apply, api_version, subresource);
	if (same != NULL) {
		/* Duplicate identities collapse into one, as in a Go map. */
		struct ks_fieldset *merged;
		rc = ks_fieldset_union(&merged, same->set, set);
		ks_fieldset_free(set);
		if (rc != 0)
			return rc;
		ks_fieldset_free(same->set);
		same->set = merged;
		return 0;
	}
	struct entry *e = managers_add(m);
	if (e == NULL) {
		ks_fieldset_free(set);
		return oom("decoding managed fields");
	}
	e->set = set;
	e->apply = apply;
	e->manager = strdup(manager ? manager : "");
	e->api_version = dup_or_null(api_version);
	e->time = dup_or_null(time);
	e->subresource = dup_or_null(subresource);
	if (e->manager == NULL || (api_version && *api_version && !e->api_version) ||
	    (time && *time && !e->time) || (subresource && !e->subresource))
		return oom("decoding managed fields");
	return 0;
}

static int managers_decode(struct managers *m, const cJSON *managed_fields)
{
	memset(m, 0, sizeof(*m));
	if (managed_fields == NULL || cJSON_IsNull(managed_fields))
		return 0;
	if (!cJSON_IsArray(managed_fields))
		return keelson_error_set(KEELSON_EINVALID, "metadata.managedFields must be a list");
	if (cJSON_GetArraySize(managed_fields) > MAX_MANAGED_ENTRIES)
		return keelson_error_set(KEELSON_ELIMIT, "metadata.managedFields has more than %d entries",
					 MAX_MANAGED_ENTRIES);
	const cJSON *item;
	size_t i = 0;
	cJSON_ArrayForEach(item, managed_fields) {
		int rc = decode_entry(m, item);
		if (rc != 0) {
			managers_clear(m);
			return keelson_error_wrap(rc, "metadata.managedFields[%zu]", i);
		}
		i++;
	}
	return 0;
}

static int managers_copy(struct managers *out, const struct managers *in)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < in->count; i++) {
		const struct entry *src = &in->items[i];
		struct entry *e = managers_add(out);
		if (e == NULL)
			goto fail;
		e->apply = src->apply;
		e->manager = strdup(src->manager);
		e->api_version = src->api_version ? strdup(src->api_version) : NULL;
		e->time = src->time ? strdup(src->time) : NULL;
		e->subresource = src->subresource ? strdup(src->subresource) : NULL;
		if (e->manager == NULL || (src->api_version && !e->api_version) ||
		    (src->time && !e->time) || (src->subresource && !e->subresource) ||
		    ks_fieldset_copy(&e->set, src->set) != 0)
			goto fail;
	}
	return 0;
fail:
	managers_clear(out);
	return oom("copying managed fields");
}

/* sortEncodedManagedFields: operation, time, manager, apiVersion, subresource. */
static int entry_order(const void *pa, const void *pb)
{
	const struct entry *a = *(const struct entry *const *)pa;
	const struct entry *b = *(const struct entry *const *)pb;
	int c;
	if (a->apply != b->apply)
		return a->apply ? -1 : 1;
	if ((c = strcmp(a->time ? a->time : "", b->time ? b->time : "")) != 0)
		return c;
	if ((c = strcmp(a->manager, b->manager)) != 0)
		return c;
	if ((c = strcmp(a->api_version ? a->api_version : "", b->api_version ? b->api_version : "")) != 0)
		return c;
	return strcmp(a->subresource ? a->subresource : "", b->subresource ? b->subresource : "");
}

static int add_string(cJSON *obj, const char *name, const char *value)
{
	return cJSON_AddStringToObject(obj, name, value) ? 0 : oom("encoding managed fields");
}

/* The managedFields array, or NULL in *out when there are no entries. */
static int managers_encode(cJSON **out, const struct managers *m)
{
	*out = NULL;
	size_t n = 0;
	const struct entry **order = calloc(m->count ? m->count : 1, sizeof(*order));
	if (order == NULL)
		return oom("encoding managed fields");
	for (size_t i = 0; i < m->count; i++)
		if (!ks_fieldset_empty(m->items[i].set))
			order[n++] = &m->items[i];
	if (n == 0) {
		free(order);
		return 0;
	}
	qsort(order, n, sizeof(*order), entry_order);
	cJSON *array = cJSON_CreateArray();
	int rc = array ? 0 : oom("encoding managed fields");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct entry *e = order[i];
		cJSON *json = cJSON_CreateObject();
		if (json == NULL || !cJSON_AddItemToArray(array, json)) {
			cJSON_Delete(json);
			rc = oom("encoding managed fields");
			break;
		}
		/* Member order of metav1.ManagedFieldsEntry. */
		rc = add_string(json, "manager", e->manager);
		if (rc == 0)
			rc = add_string(json, "operation", e->apply ? "Apply" : "Update");
		if (rc == 0 && e->api_version)
			rc = add_string(json, "apiVersion", e->api_version);
		if (rc == 0 && e->time)
			rc = add_string(json, "time", e->time);
		if (rc == 0)
			rc = add_string(json, "fieldsType", "FieldsV1");
		cJSON *fields = NULL;
		if (rc == 0)
			rc = ks_fieldset_encode(&fields, e->set);
		if (rc == 0 && !cJSON_AddItemToObject(json, "fieldsV1", fields)) {
			cJSON_Delete(fields);
			rc = oom("encoding managed fields");
		}
		if (rc == 0 && e->subresource)
			rc = add_string(json, "subresource", e->subresource);
	}
	free(order);
	if (rc != 0) {
		cJSON_Delete(array);
		return rc;
	}
	*out = array;
	return 0;
}

static bool managers_equal(const struct managers *a, const struct managers *b)
{
	size_t na = 0, nb = 0;
	for (size_t i = 0; i < a->count; i++)
		na += !ks_fieldset_empty(a->items[i].set);
	for (size_t i = 0; i < b->count; i++)
		nb += !ks_fieldset_empty(b->items[i].set);
	if (na != nb)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct entry *ea = &a->items[i];
		if (ks_fieldset_empty(ea->set))
			continue;
		const struct entry *eb = managers_find((struct managers *)b, ea->manager, ea->apply,
						       ea->api_version, ea->subresource);
		if (eb == NULL || !str_eq(ea->time, eb->time) || !str_eq(ea->api_version, eb->api_version) ||
		    !ks_fieldset_equal(ea->set, eb->set))
			return false;
	}
	return true;
}

/* Replace (or remove, when `array` is NULL) metadata.managedFields. */
static int set_managed_fields(cJSON *object, cJSON *array)
{
	cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	if (!cJSON_IsObject(metadata)) {
		if (array == NULL)
			return 0;
		cJSON_DeleteItemFromObjectCaseSensitive(object, "metadata");
		metadata = cJSON_AddObjectToObject(object, "metadata");
		if (metadata == NULL) {
			cJSON_Delete(array);
			return oom("writing managed fields");
		}
	}
	if (array == NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(metadata, "managedFields");
		return 0;
	}
	if (cJSON_GetObjectItemCaseSensitive(metadata, "managedFields") != NULL) {
		cJSON_ReplaceItemInObjectCaseSensitive(metadata, "managedFields", array);
		return 0;
	}
	if (!cJSON_AddItemToObject(metadata, "managedFields", array)) {
		cJSON_Delete(array);
		return oom("writing managed fields");
	}
	return 0;
}

void ks_managed_fields_strip(cJSON *object)
{
	cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	if (cJSON_IsObject(metadata))
		cJSON_DeleteItemFromObjectCaseSensitive(metadata, "managedFields");
}

bool ks_managed_fields_is_reset(const cJSON *object)
{
	/* Only [{}]: an empty list is what clients unaware of managedFields
	 * send, and must not wipe them (server-side-apply.md, "Clearing"). */
	const cJSON *mf = managed_fields_of(object);
	const cJSON *first = cJSON_GetArrayItem(mf, 0);
	return cJSON_IsArray(mf) && cJSON_GetArraySize(mf) == 1 && cJSON_IsObject(first) &&
	       first->child == NULL;
}

/* ---- which fields can be owned ------------------------------------------ */

/* Fields the API server never lets a manager own (k8s stripMetaManager). */
static const char *const stripped_meta[] = {
	"name", "namespace", "creationTimestamp", "selfLink", "uid",
	"clusterName", "generation", "managedFields", "resourceVersion",
};

static int ownable_filter(struct ks_fieldset **set, const char *subresource, bool status_is_ordinary)
{
	struct ks_fieldset *strip = NULL, *filtered = NULL;
	int rc = ks_fieldset_new(&strip);
	const char *top[] = { "f:apiVersion", "f:kind", "f:metadata" };
	for (size_t i = 0; rc == 0 && i < 3; i++)
		rc = ks_fieldset_insert(strip, &top[i], 1);
	for (size_t i = 0; rc == 0 && i < sizeof(stripped_meta) / sizeof(stripped_meta[0]); i++) {
		char element[64];
		snprintf(element, sizeof(element), "f:%s", stripped_meta[i]);
		const char *path[] = { "f:metadata", element };
		rc = ks_fieldset_insert(strip, path, 2);
	}
	if (rc == 0)
		rc = ks_fieldset_difference(&filtered, *set, strip);
	ks_fieldset_free(strip);
	if (rc != 0)
		return rc;
	/* Reset fields: the main resource does not own status (it is
	 * written through /status), /status owns nothing else. */
	if (subresource && strcmp(subresource, "status") == 0)
		ks_fieldset_filter_top(filtered, "f:status", true);
	else if (!status_is_ordinary)
		ks_fieldset_filter_top(filtered, "f:status", false);
	ks_fieldset_free(*set);
	*set = filtered;
	return 0;
}

/* The fields of `object` this operation can own; *out_all (optional) gets
 * every field of the object, whoever may own it. */
static int ownable_fields(struct ks_fieldset **out, struct ks_fieldset **out_all, const cJSON *object,
			  const struct ks_type_scope *scope, bool strict, const struct ks_apply_options *o)
{
	struct ks_fieldset *all = NULL;
	*out = NULL;
	int rc = ks_fieldset_from_object(&all, object, scope, strict);
	if (rc == 0)
		rc = ks_fieldset_copy(out, all);
	if (rc == 0)
		rc = ownable_filter(out, o->subresource, o->status_is_ordinary);
	if (rc != 0) {
		ks_fieldset_free(*out);
		*out = NULL;
	}
	if (rc == 0 && out_all != NULL)
		*out_all = all;
	else
		ks_fieldset_free(all);
	return rc;
}

/* Nobody keeps owning what the write left out of the object. */
static void retain_existing(struct managers *m, const struct ks_fieldset *all)
{
	for (size_t i = 0; i < m->count; i++)
		ks_fieldset_retain_existing(m->items[i].set, all);
}

/* ---- Status bodies -------------------------------------------------------- */

static cJSON *status_new(const char *reason, const char *message)
{
	cJSON *s = cJSON_CreateObject();
	if (s == NULL)
		return NULL;
	/* Member order of metav1.Status as the API server writes it. */
	if (!cJSON_AddStringToObject(s, "kind", "Status") || !cJSON_AddStringToObject(s, "apiVersion", "v1") ||
	    !cJSON_AddObjectToObject(s, "metadata") || !cJSON_AddStringToObject(s, "status", "Failure") ||
	    !cJSON_AddStringToObject(s, "message", message) ||
	    (reason && !cJSON_AddStringToObject(s, "reason", reason))) {
		cJSON_Delete(s);
		return NULL;
	}
	return s;
}

static int status_finish(cJSON *s, int code)
{
	return cJSON_AddNumberToObject(s, "code", code) ? 0 : -1;
}

/* Record `rc` with the current message and build the matching Status. */
static int fail_with_status(cJSON **out_status, int rc, int code, const char *reason)
{
	const char *message = keelson_error_last()->message;
	cJSON *s = status_new(reason, message);
	if (s == NULL || status_finish(s, code) != 0) {
		cJSON_Delete(s);
		return oom("building a Status");
	}
	*out_status = s;
	return rc;
}

/* ---- conflicts ------------------------------------------------------------ */

struct conflict {
	const struct entry *owner;
	char *path; /* ".spec.replicas" */
};

struct conflict_list {
	struct conflict *items;
	size_t count;
	size_t cap;
	const struct entry *owner; /* while iterating one owner's set */
};

static int collect_conflict(const char *const *path, size_t length, const cJSON *value, void *payload)
{
	(void)value;
	struct conflict_list *list = payload;
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 8;
		struct conflict *items = realloc(list->items, cap * sizeof(*items));
		if (items == NULL)
			return oom("listing conflicts");
		list->items = items;
		list->cap = cap;
	}
	char *text;
	int rc = ks_path_string(&text, path, length);
	if (rc != 0)
		return rc;
	list->items[list->count].owner = list->owner;
	list->items[list->count].path = text;
	list->count++;
	return 0;
}

static void conflicts_clear(struct conflict_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i].path);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* printManager of k8s conflict.go: "name" [with subresource "s"] [using v]. */
static char *describe_manager(const struct entry *e)
{
	char *quoted_name = NULL, *quoted_sub = NULL;
	cJSON *s = cJSON_CreateString(e->manager);
	if (s != NULL)
		quoted_name = cJSON_PrintUnformatted(s);
	cJSON_Delete(s);
	if (e->subresource) {
		s = cJSON_CreateString(e->subresource);
		if (s != NULL)
			quoted_sub = cJSON_PrintUnformatted(s);
		cJSON_Delete(s);
	}
	char *out = NULL;
	if (quoted_name && (!e->subresource || quoted_sub)) {
		const char *api = e->api_version ? e->api_version : "";
		size_t n = strlen(quoted_name) + (quoted_sub ? strlen(quoted_sub) : 0) + strlen(api) + 40;
		out = malloc(n);
		if (out != NULL) {
			int len = snprintf(out, n, "%s", quoted_name);
			if (quoted_sub)
				len += snprintf(out + len, n - (size_t)len, " with subresource %s", quoted_sub);
			if (!e->apply)
				snprintf(out + len, n - (size_t)len, " using %s", api);
		}
	}
	cJSON_free(quoted_name);
	cJSON_free(quoted_sub);
	return out;
}

static int conflict_order(const void *pa, const void *pb)
{
	const struct conflict *a = pa, *b = pb;
	int c = strcmp(a->owner->manager, b->owner->manager);
	if (c != 0)
		return c;
	if (a->owner != b->owner)
		return a->owner < b->owner ? -1 : 1;
	return strcmp(a->path, b->path);
}

struct text {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
};

static void text_add(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 128;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *data = realloc(t->data, cap);
		if (data == NULL) {
			t->failed = true;
			return;
		}
		t->data = data;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n + 1);
	t->len += n;
}

/* The 409 body of k8s internal/conflict.go NewConflictError. */
static int conflict_status(cJSON **out_status, struct conflict_list *list)
{
	qsort(list->items, list->count, sizeof(list->items[0]), conflict_order);
	char **owners = calloc(list->count, sizeof(*owners));
	if (owners == NULL)
		return oom("describing conflicts");
	int rc = 0;
	for (size_t i = 0; i < list->count; i++) {
		owners[i] = describe_manager(list->items[i].owner);
		if (owners[i] == NULL)
			rc = oom("describing conflicts");
	}
	struct text msg = { 0 };
	char count[32];
	if (rc == 0 && list->count == 1) {
		text_add(&msg, "Apply failed with 1 conflict: conflict with ");
		text_add(&msg, owners[0]);
		text_add(&msg, ": ");
		text_add(&msg, list->items[0].path);
	} else if (rc == 0) {
		snprintf(count, sizeof(count), "%zu", list->count);
		text_add(&msg, "Apply failed with ");
		text_add(&msg, count);
		text_add(&msg, " conflicts: ");
		for (size_t i = 0; i < list->count; i++) {
			if (i == 0 || list->items[i].owner != list->items[i - 1].owner) {
				if (i > 0)
					text_add(&msg, "\n");
				text_add(&msg, "conflicts with ");
				text_add(&msg, owners[i]);
				text_add(&msg, ":");
			}
			text_add(&msg, "\n- ");
			text_add(&msg, list->items[i].path);
		}
	}
	if (rc == 0 && msg.failed)
		rc = oom("describing conflicts");

	cJSON *status = NULL;
	if (rc == 0) {
		status = status_new("Conflict", msg.data);
		cJSON *details = status ? cJSON_AddObjectToObject(status, "details") : NULL;
		cJSON *causes = details ? cJSON_AddArrayToObject(details, "causes") : NULL;
		if (causes == NULL)
			rc = oom("building a Status");
		for (size_t i = 0; rc == 0 && i < list->count; i++) {
			struct text cm = { 0 };
			text_add(&cm, "conflict with ");
			text_add(&cm, owners[i]);
			cJSON *cause = cJSON_CreateObject();
			if (cm.failed || cause == NULL || !cJSON_AddItemToArray(causes, cause) ||
			    !cJSON_AddStringToObject(cause, "reason", "FieldManagerConflict") ||
			    !cJSON_AddStringToObject(cause, "message", cm.data) ||
			    !cJSON_AddStringToObject(cause, "field", list->items[i].path)) {
				if (cause && !cause->prev)
					cJSON_Delete(cause);
				rc = oom("building a Status");
			}
			free(cm.data);
		}
		if (rc == 0 && status_finish(status, 409) != 0)
			rc = oom("building a Status");
	}
	if (rc == 0) {
		keelson_error_set(KEELSON_ECONFLICT, "%s", msg.data);
		*out_status = status;
		rc = KEELSON_ECONFLICT;
	} else {
		cJSON_Delete(status);
	}
	for (size_t i = 0; i < list->count; i++)
		free(owners[i]);
	free(owners);
	free(msg.data);
	return rc;
}

/* ---- merge ------------------------------------------------------------------ */

static int merge_value(cJSON **out, const cJSON *live, const cJSON *config, struct ks_type_cursor *cur);

static int dup_into(cJSON **out, const cJSON *v)
{
	*out = cJSON_Duplicate(v, 1);
	return *out ? 0 : oom("merging the applied configuration");
}

static int merge_object(cJSON **out, const cJSON *live, const cJSON *config, struct ks_type_cursor *cur)
{
	cJSON *result = cJSON_Duplicate(live, 1);
	if (result == NULL)
		return oom("merging the applied configuration");
	const cJSON *m;
	cJSON_ArrayForEach(m, config) {
		struct ks_type_mark mark;
		int rc = ks_type_cursor_enter_field(cur, m->string, &mark);
		cJSON *merged = NULL;
		if (rc == 0) {
			rc = merge_value(&merged, cJSON_GetObjectItemCaseSensitive(live, m->string), m, cur);
			ks_type_cursor_leave(cur, &mark);
		}
		if (rc != 0) {
			cJSON_Delete(result);
			return rc;
		}
		if (cJSON_GetObjectItemCaseSensitive(result, m->string) != NULL) {
			cJSON_ReplaceItemInObjectCaseSensitive(result, m->string, merged);
		} else if (!cJSON_AddItemToObject(result, m->string, merged)) {
			cJSON_Delete(merged);
			cJSON_Delete(result);
			return oom("merging the applied configuration");
		}
	}
	*out = result;
	return 0;
}

struct keyed_list {
	const cJSON **items;
	char **elements;
	size_t count;
};

static void keyed_list_clear(struct keyed_list *k)
{
	for (size_t i = 0; i < k->count; i++)
		free(k->elements[i]);
	free(k->elements);
	free(k->items);
	memset(k, 0, sizeof(*k));
}

static int compare_element_ptrs(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorting a copy keeps this O(n log n) for long lists. */
static bool has_duplicate(char **elements, size_t n)
{
	if (n < 2)
		return false;
	char **sorted = malloc(n * sizeof(*sorted));
	if (sorted == NULL) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (strcmp(elements[i], elements[j]) == 0)
					return true;
		return false;
	}
	memcpy(sorted, elements, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), compare_element_ptrs);
	bool dup = false;
	for (size_t i = 1; i < n && !dup; i++)
		dup = strcmp(sorted[i - 1], sorted[i]) == 0;
	free(sorted);
	return dup;
}

/* Key every item; KEELSON_EINVALID when an item cannot be keyed or two
 * share a key (the caller then treats the list as atomic). */
static int keyed_list_build(struct keyed_list *k, const cJSON *list, const struct ks_list_semantics *sem,
			    const struct ks_type_cursor *cur)
{
	memset(k, 0, sizeof(*k));
	size_t n = (size_t)cJSON_GetArraySize(list);
	k->items = calloc(n ? n : 1, sizeof(*k->items));
	k->elements = calloc(n ? n : 1, sizeof(*k->elements));
	if (k->items == NULL || k->elements == NULL) {
		keyed_list_clear(k);
		return oom("keying list items");
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, list) {
		size_t i = k->count;
		int rc = ks_list_item_element(&k->elements[i], item, i, sem, cur);
		if (rc != 0) {
			keyed_list_clear(k);
			return rc;
		}
		k->items[i] = item;
		k->count++;
	}
	if (has_duplicate(k->elements, k->count)) {
		keyed_list_clear(k);
		return keelson_error_set(KEELSON_EINVALID, "duplicate list key");
	}
	return 0;
}

static long keyed_find(const struct keyed_list *k, const char *element)
{
	for (size_t i = 0; i < k->count; i++)
		if (strcmp(k->elements[i], element) == 0)
			return (long)i;
	return -1;
}

static int append_merged_item(cJSON *out, const cJSON *live_item, const cJSON *config_item,
			      struct ks_type_cursor *cur)
{
	cJSON *merged = NULL;
	struct ks_type_mark mark;
	int rc = ks_type_cursor_enter_item(cur, &mark);
	if (rc != 0)
		return rc;
	if (config_item == NULL)
		rc = dup_into(&merged, live_item);
	else
		rc = merge_value(&merged, live_item, config_item, cur);
	ks_type_cursor_leave(cur, &mark);
	if (rc != 0)
		return rc;
	if (!cJSON_AddItemToArray(out, merged)) {
		cJSON_Delete(merged);
		return oom("merging the applied configuration");
	}
	return 0;
}

/* The item order of structured-merge-diff's mergingWalker.visitListItems:
 * live order, with shared items in the order the config gives them and new
 * config items placed where the config puts them. */
static int merge_keyed_lists(cJSON *out, const struct keyed_list *lhs, const struct keyed_list *rhs,
			     struct ks_type_cursor *cur)
{
	size_t *shared = calloc(rhs->count ? rhs->count : 1, sizeof(*shared));
	bool *merged = calloc(rhs->count ? rhs->count : 1, sizeof(*merged));
	if (shared == NULL || merged == NULL) {
		free(shared);
		free(merged);
		return oom("merging a list");
	}
	size_t shared_count = 0, shared_next = 0;
	for (size_t i = 0; i < rhs->count; i++)
		if (keyed_find(lhs, rhs->elements[i]) >= 0)
			shared[shared_count++] = i;
	const char *next_shared = shared_count > 0 ? rhs->elements[shared[shared_next++]] : NULL;

	int rc = 0;
	size_t l = 0, r = 0;
	while (rc == 0 && (l < lhs->count || r < rhs->count)) {
		if (l < lhs->count && r < rhs->count) {
			const char *pe = lhs->elements[l];
			if (strcmp(pe, rhs->elements[r]) == 0) {
				merged[r] = true;
				rc = append_merged_item(out, lhs->items[l], rhs->items[r], cur);
				l++;
				r++;
				next_shared = shared_next < shared_count ? rhs->elements[shared[shared_next++]] : NULL;
				continue;
			}
			if (keyed_find(rhs, pe) >= 0 && next_shared && strcmp(next_shared, pe) != 0) {
				l++;
				continue;
			}
		}
		if (l < lhs->count) {
			long in_rhs = keyed_find(rhs, lhs->elements[l]);
			if (in_rhs < 0) {
				rc = append_merged_item(out, lhs->items[l], NULL, cur);
				l++;
				continue;
			}
			if (merged[in_rhs]) {
				l++;
				continue;
			}
		}
		if (r < rhs->count) {
			long in_lhs = keyed_find(lhs, rhs->elements[r]);
			merged[r] = true;
			rc = append_merged_item(out, in_lhs >= 0 ? lhs->items[in_lhs] : NULL, rhs->items[r], cur);
			if (next_shared && strcmp(next_shared, rhs->elements[r]) == 0)
				next_shared = shared_next < shared_count ? rhs->elements[shared[shared_next++]] : NULL;
			r++;
		}
	}
	free(shared);
	free(merged);
	return rc;
}

static int merge_list(cJSON **out, const cJSON *live, const cJSON *config, struct ks_type_cursor *cur)
{
	struct ks_list_semantics sem;
	ks_type_list_semantics(&sem, cur);
	if (sem.kind == KS_LIST_ATOMIC)
		return dup_into(out, config);
	struct keyed_list lhs, rhs;
	int rc = keyed_list_build(&lhs, live, &sem, cur);
	if (rc == KEELSON_EINVALID) {
		/* The stored list cannot be keyed: the config replaces it. */
		keelson_error_clear();
		return dup_into(out, config);
	}
	if (rc != 0)
		return rc;
	rc = keyed_list_build(&rhs, config, &sem, cur);
	if (rc != 0) {
		keyed_list_clear(&lhs);
		return rc;
	}
	cJSON *result = cJSON_CreateArray();
	rc = result ? merge_keyed_lists(result, &lhs, &rhs, cur) : oom("merging a list");
	keyed_list_clear(&lhs);
	keyed_list_clear(&rhs);
	if (rc != 0) {
		cJSON_Delete(result);
		return rc;
	}
	*out = result;
	return 0;
}

static int merge_value(cJSON **out, const cJSON *live, const cJSON *config, struct ks_type_cursor *cur)
{
	*out = NULL;
	if (live == NULL)
		return dup_into(out, config);
	if (cJSON_IsObject(config) && cJSON_IsObject(live) && !ks_type_object_is_atomic(cur))
		return merge_object(out, live, config, cur);
	if (cJSON_IsArray(config) && cJSON_IsArray(live))
		return merge_list(out, live, config, cur);
	return dup_into(out, config);
}

/* ---- prune -------------------------------------------------------------------- */

/* Find the child of `value` that `element` names; NULL when absent. */
static cJSON *locate(cJSON *value, const char *element, struct ks_type_cursor *cur)
{
	if (strncmp(element, "f:", 2) == 0)
		return cJSON_IsObject(value) ? cJSON_GetObjectItemCaseSensitive(value, element + 2) : NULL;
	if (!cJSON_IsArray(value))
		return NULL;
	if (strncmp(element, "i:", 2) == 0)
		return cJSON_GetArrayItem(value, atoi(element + 2));
	struct ks_list_semantics sem;
	ks_type_list_semantics(&sem, cur);
	if (sem.kind == KS_LIST_ATOMIC)
		return NULL;
	cJSON *item;
	size_t i = 0;
	cJSON_ArrayForEach(item, value) {
		char *e = NULL;
		if (ks_list_item_element(&e, item, i, &sem, cur) != 0) {
			keelson_error_clear();
			i++;
			continue;
		}
		bool match = strcmp(e, element) == 0;
		free(e);
		if (match)
			return item;
		i++;
	}
	return NULL;
}

static void detach_and_delete(cJSON *parent, cJSON *child)
{
	cJSON_Delete(cJSON_DetachItemViaPointer(parent, child));
}

static bool is_key_field(const struct ks_list_semantics *keys, const char *element)
{
	if (keys == NULL || strncmp(element, "f:", 2) != 0)
		return false;
	for (size_t i = 0; i < keys->ssa_key_count; i++)
		if (strcmp(keys->ssa_keys[i], element + 2) == 0)
			return true;
	return false;
}

/* Remove from `value` what `remove` names, except what `owned` still
 * covers; `keys` protects the key fields of a kept associative item.
 * Containers that become empty through the removal, and that nobody owns
 * themselves, go too (what omitempty does for built-ins). */
static int prune_node(cJSON *value, const struct ks_fieldset *remove, const struct ks_fieldset *owned,
		      struct ks_type_cursor *cur, const struct ks_list_semantics *keys)
{
	for (size_t i = 0; i < ks_fieldset_child_count(remove); i++) {
		const struct ks_fieldset *r = ks_fieldset_child_at(remove, i);
		const char *element = ks_fieldset_element(r);
		if (is_key_field(keys, element))
			continue;
		cJSON *target = locate(value, element, cur);
		if (target == NULL)
			continue;
		const struct ks_fieldset *o = ks_fieldset_child(owned, element);
		bool kept = ks_fieldset_is_member(o) || ks_fieldset_child_count(o) > 0;
		if (ks_fieldset_is_member(r) && !kept) {
			detach_and_delete(value, target);
			continue;
		}
		if (ks_fieldset_child_count(r) == 0 || !(cJSON_IsObject(target) || cJSON_IsArray(target)))
			continue;

		/* Read the list's key names at the list, before entering the item. */
		struct ks_list_semantics item_keys;
		const struct ks_list_semantics *child_keys = NULL;
		if (strncmp(element, "k:", 2) == 0) {
			ks_type_list_semantics(&item_keys, cur);
			child_keys = &item_keys;
		}
		struct ks_type_mark mark;
		int rc = strncmp(element, "f:", 2) == 0 ? ks_type_cursor_enter_field(cur, element + 2, &mark)
						       : ks_type_cursor_enter_item(cur, &mark);
		if (rc != 0)
			return rc;
		bool had_children = target->child != NULL;
		rc = prune_node(target, r, o, cur, child_keys);
		ks_type_cursor_leave(cur, &mark);
		if (rc != 0)
			return rc;
		if (had_children && target->child == NULL && !ks_fieldset_is_member(o))
			detach_and_delete(value, target);
	}
	return 0;
}

/* ---- the applied configuration ---------------------------------------------- */

static void strip_nulls(cJSON *value)
{
	cJSON *child = value ? value->child : NULL;
	while (child != NULL) {
		cJSON *next = child->next;
		if (cJSON_IsObject(value) && cJSON_IsNull(child))
			detach_and_delete(value, child);
		else
			strip_nulls(child);
		child = next;
	}
}

static const char *const server_metadata[] = {
	"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
};

static int sanitize_config(cJSON **out, const cJSON *applied, const struct ks_apply_options *o)
{
	cJSON *config = cJSON_Duplicate(applied, 1);
	if (config == NULL)
		return oom("copying the applied configuration");
	strip_nulls(config);
	cJSON *metadata = cJSON_GetObjectItemCaseSensitive(config, "metadata");
	if (cJSON_IsObject(metadata)) {
		for (size_t i = 0; i < sizeof(server_metadata) / sizeof(server_metadata[0]); i++)
			cJSON_DeleteItemFromObjectCaseSensitive(metadata, server_metadata[i]);
	}
	if (o->subresource && strcmp(o->subresource, "status") == 0) {
		cJSON *child = config->child;
		while (child != NULL) {
			cJSON *next = child->next;
			if (strcmp(child->string, "status") != 0 && strcmp(child->string, "apiVersion") != 0 &&
			    strcmp(child->string, "kind") != 0 && strcmp(child->string, "metadata") != 0)
				detach_and_delete(config, child);
			child = next;
		}
		if (cJSON_IsObject(metadata)) {
			child = metadata->child;
			while (child != NULL) {
				cJSON *next = child->next;
				if (strcmp(child->string, "name") != 0 && strcmp(child->string, "namespace") != 0)
					detach_and_delete(metadata, child);
				child = next;
			}
		}
	} else if (!o->status_is_ordinary) {
		cJSON_DeleteItemFromObjectCaseSensitive(config, "status");
	}
	*out = config;
	return 0;
}

static int check_options(const struct ks_apply_options *o)
{
	if (o == NULL || o->manager == NULL || !*o->manager || o->api_version == NULL ||
	    o->group == NULL || o->kind == NULL || o->now == NULL)
		return keelson_error_set(KEELSON_EINVALID,
					 "server-side apply needs manager, api_version, group, kind and now");
	return 0;
}

static void set_time(struct entry *e, const char *now, int *rc)
{
	char *t = strdup(now);
	if (t == NULL) {
		*rc = oom("recording a time");
		return;
	}
	free(e->time);
	e->time = t;
}

/* Everything any entry owns. */
static int owned_by_anyone(struct ks_fieldset **out, const struct managers *m)
{
	int rc = ks_fieldset_new(out);
	for (size_t i = 0; rc == 0 && i < m->count; i++) {
		struct ks_fieldset *u;
		rc = ks_fieldset_union(&u, *out, m->items[i].set);
		if (rc == 0) {
			ks_fieldset_free(*out);
			*out = u;
		}
	}
	return rc;
}

/* Take `fields` away from entry e; returns non-zero only on error. */
static int entry_subtract(struct entry *e, const struct ks_fieldset *fields)
{
	if (ks_fieldset_empty(fields))
		return 0;
	struct ks_fieldset *rest;
	int rc = ks_fieldset_difference(&rest, e->set, fields);
	if (rc != 0)
		return rc;
	ks_fieldset_free(e->set);
	e->set = rest;
	return 0;
}

struct apply_run {
	const struct ks_apply_options *o;
	struct ks_type_scope scope;
	cJSON *config;
	cJSON *base;   /* live without managedFields, or {} */
	cJSON *merged;
	struct managers before; /* as decoded from live */
	struct managers after;
	struct ks_fieldset *config_set;
	struct ks_fieldset *last_set;
	struct ks_fieldset *owned;
	struct ks_fieldset *base_set;
	struct ks_fieldset *merged_set;
	struct ks_fieldset *merged_all;
	struct ks_fieldset *added;
	struct ks_fieldset *removed;
	struct ks_fieldset *modified;
	struct ks_fieldset *changed;
	struct conflict_list conflicts;
};

static void apply_run_clear(struct apply_run *a)
{
	cJSON_Delete(a->config);
	cJSON_Delete(a->base);
	cJSON_Delete(a->merged);
	managers_clear(&a->before);
	managers_clear(&a->after);
	ks_fieldset_free(a->config_set);
	ks_fieldset_free(a->last_set);
	ks_fieldset_free(a->owned);
	ks_fieldset_free(a->base_set);
	ks_fieldset_free(a->merged_set);
	ks_fieldset_free(a->merged_all);
	ks_fieldset_free(a->added);
	ks_fieldset_free(a->removed);
	ks_fieldset_free(a->modified);
	ks_fieldset_free(a->changed);
	conflicts_clear(&a->conflicts);
}

static int typed_patch_error(cJSON **out_status, int rc, const cJSON *applied, const struct ks_apply_options *o)
{
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(applied, "metadata");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(metadata, "namespace");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(metadata, "name");
	const char *version = strchr(o->api_version, '/');
	version = version ? version + 1 : o->api_version;
	keelson_error_wrap(rc, "failed to create typed patch object (%s/%s; %s/%s, Kind=%s)",
			   cJSON_IsString(ns) ? ns->valuestring : "",
			   cJSON_IsString(name) ? name->valuestring : "", o->group, version, o->kind);
	return fail_with_status(out_status, rc, 500, NULL);
}

/* Give every field `base` has to `before-first-apply`, for objects written
 * before anything recorded managedFields (k8s skipNonAppliedManager). */
static int adopt_unmanaged_fields(struct apply_run *a)
{
	struct ks_fieldset *all;
	int rc = ownable_fields(&all, NULL, a->base, &a->scope, false, a->o);
	if (rc != 0)
		return rc;
	if (ks_fieldset_empty(all)) {
		ks_fieldset_free(all);
		return 0;
	}
	struct entry *e = managers_add(&a->after);
	if (e == NULL) {
		ks_fieldset_free(all);
		return oom("recording managed fields");
	}
	e->set = all;
	e->manager = strdup(BEFORE_FIRST_APPLY);
	e->api_version = strdup(a->o->api_version);
	e->time = strdup(a->o->now);
	if (!e->manager || !e->api_version || !e->time)
		return oom("recording managed fields");
	return 0;
}

int ks_server_side_apply(cJSON **out_object, cJSON **out_conflict_status, const cJSON *live,
			 const cJSON *applied, const struct ks_apply_options *options)
{
	*out_object = NULL;
	*out_conflict_status = NULL;
	int rc = check_options(options);
	if (rc != 0)
		return rc;
	if (!cJSON_IsObject(applied))
		return keelson_error_set(KEELSON_EINVALID, "the applied configuration must be a JSON object");
	if (live != NULL && !cJSON_IsObject(live))
		return keelson_error_set(KEELSON_EINVALID, "the live object must be a JSON object");
	const cJSON *requested = managed_fields_of(applied);
	if (cJSON_IsArray(requested) ? cJSON_GetArraySize(requested) > 0
				     : (requested != NULL && !cJSON_IsNull(requested))) {
		keelson_error_set(KEELSON_EINVALID, "metadata.managedFields must be nil");
		return fail_with_status(out_conflict_status, KEELSON_EINVALID, 400, "BadRequest");
	}

	struct apply_run a = { .o = options };
	a.scope.group = options->group;
	a.scope.kind = options->kind;
	a.scope.crd_schema = options->crd_schema;
	const char *sub = options->subresource && *options->subresource ? options->subresource : NULL;

	rc = sanitize_config(&a.config, applied, options);
	if (rc != 0)
		goto done;
	a.base = live ? cJSON_Duplicate(live, 1) : cJSON_CreateObject();
	if (a.base == NULL) {
		rc = oom("copying the live object");
		goto done;
	}
	ks_managed_fields_strip(a.base);

	if (live != NULL && managers_decode(&a.before, managed_fields_of(live)) != 0) {
		/* Unreadable stored managedFields are dropped, as the API
		 * server resets them rather than failing every write. */
		keelson_error_clear();
		memset(&a.before, 0, sizeof(a.before));
	}
	rc = managers_copy(&a.after, &a.before);
	if (rc == 0 && live != NULL && a.before.count == 0)
		rc = adopt_unmanaged_fields(&a);
	if (rc != 0)
		goto done;

	rc = ownable_fields(&a.config_set, NULL, a.config, &a.scope, true, options);
	if (rc == KEELSON_EINVALID) {
		rc = typed_patch_error(out_conflict_status, rc, applied, options);
		goto done;
	}
	if (rc != 0)
		goto done;
	struct ks_type_cursor *cur = calloc(1, sizeof(*cur));
	if (cur == NULL) {
		rc = oom("merging");
		goto done;
	}
	ks_type_cursor_init(cur, &a.scope);
	rc = merge_value(&a.merged, a.base, a.config, cur);
	if (rc != 0) {
		free(cur);
		goto done;
	}

	/* This manager's Apply entry now owns exactly the config's fields. */
	struct entry *self = managers_find(&a.after, options->manager, true, NULL, sub);
	bool self_is_new = self == NULL;
	if (self == NULL) {
		self = managers_add(&a.after);
		if (self == NULL || !(self->manager = strdup(options->manager)) ||
		    (sub && !(self->subresource = strdup(sub)))) {
			free(cur);
			rc = oom("recording managed fields");
			goto done;
		}
		self->apply = true;
	} else {
		a.last_set = self->set;
		self->set = NULL;
	}
	size_t self_index = (size_t)(self - a.after.items);
	free(self->api_version);
	self->api_version = strdup(options->api_version);
	rc = self->api_version ? ks_fieldset_copy(&self->set, a.config_set) : oom("recording managed fields");
	if (rc == 0)
		rc = owned_by_anyone(&a.owned, &a.after);
	if (rc == 0 && a.last_set != NULL) {
		struct ks_fieldset *remove;
		rc = ks_fieldset_difference(&remove, a.last_set, a.owned);
		if (rc == 0) {
			ks_type_cursor_init(cur, &a.scope);
			rc = prune_node(a.merged, remove, a.owned, cur, NULL);
			ks_fieldset_free(remove);
		}
	}
	free(cur);
	if (rc != 0)
		goto done;

	/* What the apply changes in the object, and who else owned it. */
	rc = ownable_fields(&a.base_set, NULL, a.base, &a.scope, false, options);
	if (rc == 0)
		rc = ownable_fields(&a.merged_set, &a.merged_all, a.merged, &a.scope, false, options);
	if (rc == 0)
		rc = ks_fieldset_compare(&a.added, &a.removed, &a.modified, a.base_set, a.merged_set);
	if (rc == 0)
		rc = ks_fieldset_union(&a.changed, a.added, a.modified);
	struct ks_fieldset **taken = NULL;
	if (rc == 0) {
		taken = calloc(a.after.count ? a.after.count : 1, sizeof(*taken));
		if (taken == NULL)
			rc = oom("checking conflicts");
	}
	for (size_t i = 0; rc == 0 && i < a.after.count; i++) {
		if (i == self_index)
			continue;
		rc = ks_fieldset_intersection(&taken[i], a.after.items[i].set, a.changed);
		if (rc == 0 && !ks_fieldset_empty(taken[i]) && !options->force) {
			a.conflicts.owner = &a.after.items[i];
			rc = ks_fieldset_iterate(taken[i], collect_conflict, &a.conflicts);
		}
	}
	if (rc == 0 && a.conflicts.count > 0) {
		rc = conflict_status(out_conflict_status, &a.conflicts);
	} else {
		for (size_t i = 0; rc == 0 && i < a.after.count; i++) {
			if (i == self_index)
				continue;
			rc = entry_subtract(&a.after.items[i], taken[i]);
			if (rc == 0)
				rc = entry_subtract(&a.after.items[i], a.removed);
		}
	}
	if (taken != NULL) {
		for (size_t i = 0; i < a.after.count; i++)
			ks_fieldset_free(taken[i]);
		free(taken);
	}
	if (rc != 0)
		goto done;

	retain_existing(&a.after, a.merged_all);
	if (options->convert != NULL)
		options->convert(a.merged);
	bool object_changed = !cJSON_Compare(a.base, a.merged, 1);
	self = &a.after.items[self_index];
	if (object_changed || self_is_new || !ks_fieldset_equal(a.last_set, self->set))
		set_time(self, options->now, &rc);
	if (rc != 0)
		goto done;
	managers_drop_empty(&a.after);

	if (live != NULL && !object_changed && managers_equal(&a.before, &a.after)) {
		*out_object = cJSON_Duplicate(live, 1);
		rc = *out_object ? 0 : oom("copying the live object");
		goto done;
	}
	cJSON *array;
	rc = managers_encode(&array, &a.after);
	if (rc == 0)
		rc = set_managed_fields(a.merged, array);
	if (rc == 0) {
		*out_object = a.merged;
		a.merged = NULL;
	}
done:
	apply_run_clear(&a);
	return rc;
}

/* ---- updates ----------------------------------------------------------------- */

int ks_managed_fields_update(cJSON *new_object, const cJSON *old_object,
			     const struct ks_apply_options *options)
{
	int rc = check_options(options);
	if (rc != 0)
		return rc;
	if (!cJSON_IsObject(new_object))
		return keelson_error_set(KEELSON_EINVALID, "the new object must be a JSON object");
	/* A reset happens first; the write's own changes are then recorded
	 * on the emptied list, so the writer owns what it changed. */
	bool reset = ks_managed_fields_is_reset(new_object);
	const struct ks_type_scope scope = { options->group, options->kind, options->crd_schema };
	const char *sub = options->subresource && *options->subresource ? options->subresource : NULL;
	struct managers before = { 0 }, after = { 0 };
	struct ks_fieldset *old_set = NULL, *new_set = NULL, *new_all = NULL, *added = NULL,
			   *removed = NULL, *modified = NULL, *changed = NULL;
	const cJSON *source = NULL;

	const cJSON *requested = managed_fields_of(new_object);
	if (reset) {
		source = NULL;
	} else if (cJSON_IsArray(requested) && cJSON_GetArraySize(requested) > 0 &&
		   managers_decode(&before, requested) == 0 && before.count > 0) {
		source = requested;
	} else {
		keelson_error_clear();
		managers_clear(&before);
		if (old_object != NULL && managers_decode(&before, managed_fields_of(old_object)) != 0) {
			keelson_error_clear();
			memset(&before, 0, sizeof(before));
		} else if (old_object != NULL) {
			source = managed_fields_of(old_object);
		}
	}

	cJSON *empty = NULL;
	const cJSON *old_view = old_object;
	if (old_view == NULL) {
		empty = cJSON_CreateObject();
		if (empty == NULL) {
			rc = oom("recording managed fields");
			goto done;
		}
		old_view = empty;
	}
	/* managedFields themselves are never owned: the filter strips them. */
	rc = ownable_fields(&old_set, NULL, old_view, &scope, false, options);
	if (rc == 0)
		rc = ownable_fields(&new_set, &new_all, new_object, &scope, false, options);
	if (rc == 0)
		rc = ks_fieldset_compare(&added, &removed, &modified, old_set, new_set);
	if (rc == 0)
		rc = ks_fieldset_union(&changed, added, modified);
	if (rc == 0)
		rc = ks_fieldset_add_created_containers(changed, old_set, new_set);
	if (rc == 0)
		rc = ownable_filter(&changed, options->subresource, options->status_is_ordinary);
	if (rc == 0)
		rc = managers_copy(&after, &before);
	if (rc != 0)
		goto done;

	struct entry *self = managers_find(&after, options->manager, false, options->api_version, sub);
	for (size_t i = 0; rc == 0 && i < after.count; i++) {
		rc = entry_subtract(&after.items[i], removed);
		if (rc == 0 && &after.items[i] != self)
			rc = entry_subtract(&after.items[i], changed);
	}
	if (rc == 0 && !ks_fieldset_empty(changed)) {
		if (self == NULL) {
			self = managers_add(&after);
			if (self == NULL || !(self->manager = strdup(options->manager)) ||
			    !(self->api_version = strdup(options->api_version)) ||
			    (sub && !(self->subresource = strdup(sub))) || ks_fieldset_new(&self->set) != 0) {
				rc = oom("recording managed fields");
				goto done;
			}
		}
		struct ks_fieldset *grown;
		rc = ks_fieldset_union(&grown, self->set, changed);
		if (rc == 0) {
			ks_fieldset_free(self->set);
			self->set = grown;
			set_time(self, options->now, &rc);
		}
	}
	if (rc != 0)
		goto done;
	retain_existing(&after, new_all);
	managers_drop_empty(&after);

	if (managers_equal(&before, &after)) {
		/* Unchanged: keep the stored bytes so a no-op write stays a no-op. */
		cJSON *copy = source ? cJSON_Duplicate(source, 1) : NULL;
		if (source && !copy) {
			rc = oom("recording managed fields");
			goto done;
		}
		rc = set_managed_fields(new_object, copy);
	} else {
		cJSON *array;
		rc = managers_encode(&array, &after);
		if (rc == 0)
			rc = set_managed_fields(new_object, array);
	}
done:
	cJSON_Delete(empty);
	managers_clear(&before);
	managers_clear(&after);
	ks_fieldset_free(old_set);
	ks_fieldset_free(new_set);
	ks_fieldset_free(new_all);
	ks_fieldset_free(added);
	ks_fieldset_free(removed);
	ks_fieldset_free(modified);
	ks_fieldset_free(changed);
	return rc;
}

int ks_managed_fields_record_update(cJSON *new_object, const cJSON *old_object, const char *manager,
				    const char *api_version, const char *subresource,
				    const char *now)
{
	if (api_version == NULL)
		return keelson_error_set(KEELSON_EINVALID, "recording an update needs the apiVersion");
	char group[256] = "";
	const char *slash = strchr(api_version, '/');
	if (slash != NULL) {
		size_t n = (size_t)(slash - api_version);
		if (n >= sizeof(group))
			return keelson_error_set(KEELSON_EINVALID, "apiVersion \"%s\" is too long", api_version);
		memcpy(group, api_version, n);
		group[n] = '\0';
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(new_object, "kind");
	struct ks_apply_options o = {
		.manager = manager,
		.api_version = api_version,
		.group = group,
		.kind = cJSON_IsString(kind) ? kind->valuestring : "",
		.subresource = subresource,
		.now = now,
	};
	return ks_managed_fields_update(new_object, old_object, &o);
}
