#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/types.h"

#define CRD_FINALIZER "customresourcecleanup.apiextensions.k8s.io"

static const struct ks_resource_type *crd_type(struct ks_store *store)
{
	return ks_store_type_find(store, "apiextensions.k8s.io", "customresourcedefinitions");
}

static cJSON *condition(const cJSON *old_conditions, const char *type, const char *reason,
	const char *message, const char *now)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", "True");
	const char *ltt = now;
	const cJSON *oc;
	cJSON_ArrayForEach(oc, old_conditions) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(oc, "type");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(oc, "status");
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(oc, "lastTransitionTime");
		if (cJSON_IsString(t) && !strcmp(t->valuestring, type) && cJSON_IsString(s) &&
		    !strcmp(s->valuestring, "True") && cJSON_IsString(l))
			ltt = l->valuestring;
	}
	cJSON_AddStringToObject(c, "lastTransitionTime", ltt);
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message);
	return c;
}

/* Status the naming and establishing controllers would write. */
static int crd_status_mutate(cJSON *crd, void *payload)
{
	(void)payload;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(crd, "spec");
	cJSON *old_status = cJSON_GetObjectItemCaseSensitive(crd, "status");
	const cJSON *old_conditions = cJSON_GetObjectItemCaseSensitive(old_status, "conditions");
	char now[KS_TIME_BUF];
	ks_clock_format(ks_clock_now(), now);
	cJSON *status = cJSON_CreateObject();
	cJSON *names = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(spec, "names"), 1);
	cJSON_AddItemToObject(status, "acceptedNames", names ? names : cJSON_CreateObject());
	cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
	cJSON_AddItemToArray(conds, condition(old_conditions, "NamesAccepted", "NoConflicts",
		"no conflicts found", now));
	cJSON_AddItemToArray(conds, condition(old_conditions, "Established",
		"InitialNamesAccepted", "the initial names have been accepted", now));
	cJSON *stored = cJSON_AddArrayToObject(status, "storedVersions");
	const cJSON *old_stored = cJSON_GetObjectItemCaseSensitive(old_status, "storedVersions");
	const cJSON *v;
	cJSON_ArrayForEach(v, old_stored)
		if (cJSON_IsString(v))
			cJSON_AddItemToArray(stored, cJSON_CreateString(v->valuestring));
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(spec, "versions")) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(v, "storage");
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, "name");
		if (!cJSON_IsTrue(st) || !cJSON_IsString(n))
			continue;
		bool have = false;
		const cJSON *s;
		cJSON_ArrayForEach(s, stored)
			have |= !strcmp(s->valuestring, n->valuestring);
		if (!have)
			cJSON_AddItemToArray(stored, cJSON_CreateString(n->valuestring));
	}
	if (old_status)
		cJSON_ReplaceItemInObjectCaseSensitive(crd, "status", status);
	else
		cJSON_AddItemToObject(crd, "status", status);
	return 0;
}

int ks_crd_after_write(struct ks_store *store, const char *name, cJSON **out)
{
	const struct ks_resource_type *t = crd_type(store);
	cJSON *crd = NULL;
	int rc = ks_store_get(store, t, NULL, name, &crd);
	if (rc)
		return rc;
	if (ks_meta_string(crd, "deletionTimestamp")) {
		if (out)
			*out = crd;
		else
			cJSON_Delete(crd);
		return 0;
	}
	rc = ks_crd_register_types(store, crd);
	cJSON_Delete(crd);
	if (rc)
		return rc;
	struct ks_write_options wo = {.version = KS_WRITE_OPTIONS_VERSION,
		.subresource = "status", .field_manager = "kube-apiserver", .operation = "Update"};
	return ks_store_modify(store, t, NULL, name, crd_status_mutate, NULL, &wo, out);
}

/* ---- pruning (M18) ---- */

static void prune_node(const cJSON *schema, cJSON *node, const char *path, cJSON *unknown,
	int depth)
{
	if (!schema || !node || depth > 64)
		return;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, "x-kubernetes-preserve-unknown-fields")))
		return;
	if (cJSON_IsObject(node)) {
		const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
		const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
		cJSON *child = node->child;
		while (child) {
			cJSON *next = child->next;
			char sub[1024];
			snprintf(sub, sizeof(sub), "%s.%s", path, child->string);
			const cJSON *cs = cJSON_GetObjectItemCaseSensitive(props, child->string);
			if (cs) {
				prune_node(cs, child, sub, unknown, depth + 1);
			} else if (cJSON_IsObject(addl)) {
				prune_node(addl, child, sub, unknown, depth + 1);
			} else if (!cJSON_IsTrue(addl) && (props || cJSON_IsFalse(addl) ||
				cJSON_GetObjectItemCaseSensitive(schema, "type"))) {
				if (depth == 0 && (!strcmp(child->string, "apiVersion") ||
					!strcmp(child->string, "kind") ||
					!strcmp(child->string, "metadata"))) {
					child = next;
					continue;
				}
				cJSON_AddItemToArray(unknown, cJSON_CreateString(sub));
				cJSON_Delete(cJSON_DetachItemViaPointer(node, child));
			}
			child = next;
		}
	} else if (cJSON_IsArray(node)) {
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
		int i = 0;
		cJSON *el;
		cJSON_ArrayForEach(el, node) {
			char sub[1024];
			snprintf(sub, sizeof(sub), "%s[%d]", path, i++);
			prune_node(items, el, sub, unknown, depth + 1);
		}
	}
}

void ks_crd_prune(const struct ks_resource_type *type, cJSON *object, cJSON *unknown)
{
	if (!type->schema)
		return;
	prune_node(type->schema, object, "", unknown, 0);
}

/* ---- CRD finalizer controller ---- */

static int remove_finalizer(cJSON *crd, void *payload)
{
	(void)payload;
	cJSON *fin = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(crd, "metadata"), "finalizers");
	for (int i = cJSON_GetArraySize(fin) - 1; i >= 0; i--) {
		const cJSON *f = cJSON_GetArrayItem(fin, i);
		if (cJSON_IsString(f) && !strcmp(f->valuestring, CRD_FINALIZER))
			cJSON_DeleteItemFromArray(fin, i);
	}
	return 0;
}

static bool has_finalizer(const cJSON *crd)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(crd, "metadata"), "finalizers"))
		if (cJSON_IsString(f) && !strcmp(f->valuestring, CRD_FINALIZER))
			return true;
	return false;
}

static void finish_crd(struct ks_store *store, const cJSON *crd)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(crd, "spec");
	const cJSON *group = cJSON_GetObjectItemCaseSensitive(spec, "group");
	const cJSON *plural = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(spec, "names"), "plural");
	const char *name = ks_meta_string(crd, "name");
	if (!cJSON_IsString(group) || !cJSON_IsString(plural) || !name)
		return;
	const struct ks_resource_type *t = ks_store_type_find(store, group->valuestring,
		plural->valuestring);
	if (t) {
		struct ks_list_result res;
		if (ks_store_list(store, t, NULL, &res))
			return;
		size_t left = 0;
		cJSON *item;
		cJSON_ArrayForEach(item, res.items) {
			bool removed = false;
			if (ks_store_delete(store, t, ks_meta_string(item, "namespace"),
				ks_meta_string(item, "name"), NULL, NULL, &removed) || !removed)
				left++;
		}
		ks_list_result_clear(&res);
		if (left)
			return; /* CR finalizers pending: try again on the next tick */
	}
	if (has_finalizer(crd))
		ks_store_modify(store, crd_type(store), NULL, name, remove_finalizer, NULL, NULL, NULL);
	if (t) {
		cJSON *still = NULL;
		if (ks_store_get(store, crd_type(store), NULL, name, &still) == KEELSON_ENOTFOUND)
			ks_store_type_unregister(store, group->valuestring, plural->valuestring);
		cJSON_Delete(still);
	}
}

static void crd_tick(struct ks_store *store, void *payload)
{
	(void)payload;
	struct ks_list_result res;
	if (ks_store_list(store, crd_type(store), NULL, &res))
		return;
	cJSON *crd;
	cJSON_ArrayForEach(crd, res.items) {
		if (ks_meta_string(crd, "deletionTimestamp")) {
			finish_crd(store, crd);
			continue;
		}
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(crd, "spec");
		const cJSON *group = cJSON_GetObjectItemCaseSensitive(spec, "group");
		const cJSON *plural = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(spec, "names"), "plural");
		/* CRDs written by any path (state load, SSA) get served. */
		if (cJSON_IsString(group) && cJSON_IsString(plural) &&
		    !ks_store_type_find(store, group->valuestring, plural->valuestring))
			ks_crd_after_write(store, ks_meta_string(crd, "name"), NULL);
	}
	ks_list_result_clear(&res);
}

static void crd_event(struct ks_store *store, const struct ks_event *event, void *payload)
{
	(void)event;
	crd_tick(store, payload);
}

int ks_crd_controller_start(struct ks_store *store, struct ks_controller **out)
{
	static const char *const resources[] = {"apiextensions.k8s.io/customresourcedefinitions",
		NULL};
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "crd-finalizer",
		.resources = resources,
		.on_event = crd_event,
		.tick_ms = 250,
		.on_tick = crd_tick,
	};
	return ks_controller_start(store, &def, NULL, out);
}
