/*
 * Inventory ConfigMap encoding. See inventory.h.
 */
#include "config.h"

#include "core/error.h"
#include "reconcile/inventory.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void keelson_inventory_name(char *buf, size_t size, const char *cluster, const char *system)
{
	snprintf(buf, size, "keelson-inventory-%s-%s", cluster, system);
}

void keelson_api_group(char *buf, size_t size, const char *api_version)
{
	const char *slash = strchr(api_version, '/');
	if (slash == NULL)
		snprintf(buf, size, "%s", "");
	else
		snprintf(buf, size, "%.*s", (int)(slash - api_version), api_version);
}

struct keelson_inventory *keelson_inventory_new(void)
{
	return calloc(1, sizeof(struct keelson_inventory));
}

static void entry_dispose(struct keelson_inventory_entry *e)
{
	free(e->api_version);
	free(e->kind);
	free(e->namespace_);
	free(e->name);
	free(e->uid);
}

void keelson_inventory_free(struct keelson_inventory *inv)
{
	if (inv == NULL)
		return;
	for (size_t i = 0; i < inv->count; i++)
		entry_dispose(&inv->items[i]);
	free(inv->items);
	free(inv->index_slots);
	free(inv->revision);
	free(inv);
}

/* The group of an apiVersion without copying it: its length ("v1": 0). */
static size_t group_length(const char *api_version)
{
	const char *slash = strchr(api_version, '/');
	return slash ? (size_t)(slash - api_version) : 0;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return (h ^ 0xff) * 1099511628211ULL; /* field separator */
}

static uint64_t identity_hash(const char *api_version, const char *kind, const char *ns, const char *name)
{
	uint64_t h = 14695981039346656037ULL;
	h = fnv1a(h, api_version, group_length(api_version));
	h = fnv1a(h, kind, strlen(kind));
	h = fnv1a(h, ns, strlen(ns));
	return fnv1a(h, name, strlen(name));
}

static bool same_identity(const struct keelson_inventory_entry *e, const char *api_version, const char *kind,
			  const char *ns, const char *name)
{
	size_t group = group_length(api_version);
	return strcmp(e->kind, kind) == 0 && strcmp(e->name, name) == 0 && strcmp(e->namespace_, ns) == 0 &&
	       group_length(e->api_version) == group && strncmp(e->api_version, api_version, group) == 0;
}

static void index_insert(struct keelson_inventory *inv, size_t item)
{
	const struct keelson_inventory_entry *e = &inv->items[item];
	size_t mask = inv->index_size - 1;
	size_t at = (size_t)identity_hash(e->api_version, e->kind, e->namespace_, e->name) & mask;
	while (inv->index_slots[at] != 0)
		at = (at + 1) & mask;
	inv->index_slots[at] = item + 1;
}

/* (Re)build the index with room for `count` entries at most half full.
 * Out of memory leaves it stale: find scans instead. */
static void index_rebuild(struct keelson_inventory *inv, size_t count)
{
	size_t size = 64;
	while (size < 2 * count)
		size *= 2;
	size_t *slots = calloc(size, sizeof(*slots));
	free(inv->index_slots);
	inv->index_slots = slots;
	inv->index_size = slots ? size : 0;
	inv->index_stale = slots == NULL;
	for (size_t i = 0; slots != NULL && i < inv->count; i++)
		index_insert(inv, i);
}

long keelson_inventory_find(const struct keelson_inventory *inv, const char *api_version, const char *kind,
			    const char *ns, const char *name)
{
	ns = ns ? ns : "";
	if (inv->index_slots != NULL && !inv->index_stale) {
		size_t mask = inv->index_size - 1;
		for (size_t at = (size_t)identity_hash(api_version, kind, ns, name) & mask; inv->index_slots[at] != 0;
		     at = (at + 1) & mask) {
			size_t i = inv->index_slots[at] - 1;
			if (same_identity(&inv->items[i], api_version, kind, ns, name))
				return (long)i;
		}
		return -1;
	}
	for (size_t i = 0; i < inv->count; i++)
		if (same_identity(&inv->items[i], api_version, kind, ns, name))
			return (long)i;
	return -1;
}

int keelson_inventory_put(struct keelson_inventory *inv, const char *api_version, const char *kind,
			  const char *ns, const char *name, const char *uid)
{
	if (inv->index_slots == NULL || inv->index_stale || 2 * (inv->count + 1) > inv->index_size)
		index_rebuild(inv, inv->count + 1 > inv->capacity ? inv->count + 1 : inv->capacity);
	long at = keelson_inventory_find(inv, api_version, kind, ns, name);
	if (at >= 0) {
		struct keelson_inventory_entry *e = &inv->items[at];
		char *v = strdup(api_version);
		char *u = uid && uid[0] ? strdup(uid) : NULL;
		if (v == NULL || (uid && uid[0] && u == NULL)) {
			free(v);
			free(u);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		free(e->api_version);
		e->api_version = v;
		if (u != NULL) {
			free(e->uid);
			e->uid = u;
		}
		return 0;
	}
	if (inv->count >= KEELSON_INVENTORY_MAX_ENTRIES)
		return keelson_error_set(KEELSON_ELIMIT, "an inventory holds at most %d objects; split the system",
					 KEELSON_INVENTORY_MAX_ENTRIES);
	if (inv->count == inv->capacity) {
		size_t cap = inv->capacity ? inv->capacity * 2 : 16;
		void *p = realloc(inv->items, cap * sizeof(*inv->items));
		if (p == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		inv->items = p;
		inv->capacity = cap;
	}
	struct keelson_inventory_entry *e = &inv->items[inv->count];
	e->api_version = strdup(api_version);
	e->kind = strdup(kind);
	e->namespace_ = strdup(ns ? ns : "");
	e->name = strdup(name);
	e->uid = strdup(uid ? uid : "");
	if (!e->api_version || !e->kind || !e->namespace_ || !e->name || !e->uid) {
		entry_dispose(e);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	inv->count++;
	if (!inv->index_stale && inv->index_slots != NULL)
		index_insert(inv, inv->count - 1);
	return 0;
}

void keelson_inventory_remove(struct keelson_inventory *inv, size_t index)
{
	if (index >= inv->count)
		return;
	entry_dispose(&inv->items[index]);
	memmove(&inv->items[index], &inv->items[index + 1], (inv->count - index - 1) * sizeof(*inv->items));
	inv->count--;
	inv->index_stale = true; /* later items moved: the next put rebuilds the index */
}

static const char *member_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int keelson_inventory_from_configmap(struct keelson_inventory **out, const cJSON *cm)
{
	struct keelson_inventory *inv = keelson_inventory_new();
	cJSON *list = NULL;
	int rc = 0;
	*out = NULL;
	if (inv == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if (cm == NULL)
		goto done;
	inv->exists = true;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(cm, "metadata");
	const char *cm_name = member_string(meta, "name");
	const char *rev = member_string(cJSON_GetObjectItemCaseSensitive(meta, "annotations"), KEELSON_ANNOTATION_REVISION);
	if (rev != NULL && (inv->revision = strdup(rev)) == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto done;
	}
	const char *text = member_string(cJSON_GetObjectItemCaseSensitive(cm, "data"), "objects");
	if (text == NULL)
		goto done;
	list = cJSON_Parse(text);
	if (!cJSON_IsArray(list)) {
		rc = keelson_error_set(KEELSON_EINVALID,
				       "inventory ConfigMap %s: data.objects is not a JSON list; keelson will not "
				       "prune from it (fix or delete the ConfigMap)",
				       cm_name ? cm_name : "?");
		goto done;
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, list)
	{
		const char *av = member_string(item, "apiVersion"), *kind = member_string(item, "kind");
		const char *ns = member_string(item, "namespace"), *name = member_string(item, "name");
		const char *uid = member_string(item, "uid");
		if (!av || !kind || !name || !av[0] || !kind[0] || !name[0]) {
			rc = keelson_error_set(KEELSON_EINVALID,
					       "inventory ConfigMap %s: an entry lacks apiVersion, kind or name; keelson "
					       "will not prune from it (fix or delete the ConfigMap)",
					       cm_name ? cm_name : "?");
			goto done;
		}
		if ((rc = keelson_inventory_put(inv, av, kind, ns, name, uid)) < 0)
			goto done;
	}
done:
	cJSON_Delete(list);
	if (rc < 0) {
		keelson_inventory_free(inv);
		return rc;
	}
	*out = inv;
	return 0;
}

cJSON *keelson_inventory_to_configmap(const struct keelson_inventory *inv, const char *ns, const char *cluster,
				      const char *system)
{
	char name[300];
	keelson_inventory_name(name, sizeof(name), cluster, system);
	cJSON *cm = cJSON_CreateObject();
	cJSON *list = cJSON_CreateArray();
	char *text = NULL;
	if (cm == NULL || list == NULL)
		goto fail;
	for (size_t i = 0; i < inv->count; i++) {
		const struct keelson_inventory_entry *e = &inv->items[i];
		cJSON *o = cJSON_CreateObject();
		if (o == NULL)
			goto fail;
		cJSON_AddItemToArray(list, o);
		if (!cJSON_AddStringToObject(o, "apiVersion", e->api_version) ||
		    !cJSON_AddStringToObject(o, "kind", e->kind) ||
		    !cJSON_AddStringToObject(o, "namespace", e->namespace_) ||
		    !cJSON_AddStringToObject(o, "name", e->name) || !cJSON_AddStringToObject(o, "uid", e->uid))
			goto fail;
	}
	text = cJSON_PrintUnformatted(list);
	if (text == NULL)
		goto fail;
	cJSON *meta;
	cJSON *labels, *annotations, *data;
	if (!cJSON_AddStringToObject(cm, "apiVersion", "v1") || !cJSON_AddStringToObject(cm, "kind", "ConfigMap") ||
	    !(meta = cJSON_AddObjectToObject(cm, "metadata")) || !cJSON_AddStringToObject(meta, "name", name) ||
	    !cJSON_AddStringToObject(meta, "namespace", ns) || !(labels = cJSON_AddObjectToObject(meta, "labels")) ||
	    !cJSON_AddStringToObject(labels, KEELSON_LABEL_CLUSTER, cluster) ||
	    !cJSON_AddStringToObject(labels, KEELSON_LABEL_SYSTEM, system) ||
	    !cJSON_AddStringToObject(labels, "keelson.dev/inventory", "true") ||
	    !(data = cJSON_AddObjectToObject(cm, "data")) || !cJSON_AddStringToObject(data, "objects", text))
		goto fail;
	if (inv->revision != NULL) {
		if (!(annotations = cJSON_AddObjectToObject(meta, "annotations")) ||
		    !cJSON_AddStringToObject(annotations, KEELSON_ANNOTATION_REVISION, inv->revision))
			goto fail;
	}
	free(text);
	cJSON_Delete(list);
	return cm;
fail:
	free(text);
	cJSON_Delete(list);
	cJSON_Delete(cm);
	return NULL;
}
