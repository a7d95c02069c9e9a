#include "config.h"

#include <stdarg.h>
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

/* ---- schema validation (M18) ---- */

struct verrs {
	cJSON *causes;
	int count;
};

static void verr(struct verrs *e, const char *field, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void verr(struct verrs *e, const char *field, const char *reason, const char *fmt, ...)
{
	if (e->count++ >= 20)
		return;
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", msg);
	cJSON_AddStringToObject(c, "field", field);
	cJSON_AddItemToArray(e->causes, c);
}

static const char *json_type_name(const cJSON *n)
{
	if (cJSON_IsString(n))
		return "string";
	if (cJSON_IsNumber(n))
		return n->valuedouble == (double)(long long)n->valuedouble ? "integer" : "number";
	if (cJSON_IsBool(n))
		return "boolean";
	if (cJSON_IsArray(n))
		return "array";
	if (cJSON_IsObject(n))
		return "object";
	return "null";
}

static void value_text(const cJSON *n, char *buf, size_t size)
{
	char *t = cJSON_PrintUnformatted(n);
	snprintf(buf, size, "%s", t ? t : "?");
	free(t);
}

static void validate_node(const cJSON *schema, const cJSON *node, const char *path,
	struct verrs *e, int depth)
{
	if (!cJSON_IsObject(schema) || depth > 64)
		return;
	const char *field = path[0] == '.' ? path + 1 : path;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	bool int_or_string = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema,
		"x-kubernetes-int-or-string"));
	char val[200];
	if (cJSON_IsNull(node)) {
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, "nullable")) &&
		    cJSON_IsString(type))
			verr(e, field, "FieldValueTypeInvalid",
				"Invalid value: \"null\": %s in body must be of type %s: \"null\"", field,
				type->valuestring);
		return;
	}
	if (int_or_string) {
		if (!cJSON_IsString(node) && !(cJSON_IsNumber(node) &&
			!strcmp(json_type_name(node), "integer")))
			verr(e, field, "FieldValueTypeInvalid",
				"Invalid value: \"%s\": %s in body must be of type integer-or-string",
				json_type_name(node), field);
		return;
	}
	if (cJSON_IsString(type)) {
		const char *want = type->valuestring, *got = json_type_name(node);
		bool ok = !strcmp(want, got) || (!strcmp(want, "number") && !strcmp(got, "integer"));
		if (!ok) {
			verr(e, field, "FieldValueTypeInvalid",
				"Invalid value: \"%s\": %s in body must be of type %s: \"%s\"", got, field,
				want, got);
			return;
		}
	}
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	if (cJSON_IsArray(en)) {
		bool found = false;
		const cJSON *v;
		cJSON_ArrayForEach(v, en)
			found |= cJSON_Compare(v, node, 1);
		if (!found) {
			char allowed[400] = "";
			size_t off = 0;
			cJSON_ArrayForEach(v, en) {
				char t[100];
				value_text(v, t, sizeof(t));
				int w = snprintf(allowed + off, sizeof(allowed) - off, "%s%s", off ? ", " : "", t);
				if (w < 0 || (size_t)w >= sizeof(allowed) - off)
					break;
				off += (size_t)w;
			}
			value_text(node, val, sizeof(val));
			verr(e, field, "FieldValueNotSupported",
				"Unsupported value: %s: supported values: %s", val, allowed);
		}
	}
	if (cJSON_IsNumber(node)) {
		const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
		const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
		value_text(node, val, sizeof(val));
		if (cJSON_IsNumber(mn) && node->valuedouble < mn->valuedouble)
			verr(e, field, "FieldValueInvalid",
				"Invalid value: %s: %s in body should be greater than or equal to %g", val,
				field, mn->valuedouble);
		if (cJSON_IsNumber(mx) && node->valuedouble > mx->valuedouble)
			verr(e, field, "FieldValueInvalid",
				"Invalid value: %s: %s in body should be less than or equal to %g", val, field,
				mx->valuedouble);
	}
	if (cJSON_IsString(node)) {
		const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
		const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
		size_t len = strlen(node->valuestring);
		if (cJSON_IsNumber(mn) && (double)len < mn->valuedouble)
			verr(e, field, "FieldValueInvalid",
				"Invalid value: \"%.100s\": %s in body should be at least %g chars long",
				node->valuestring, field, mn->valuedouble);
		if (cJSON_IsNumber(mx) && (double)len > mx->valuedouble)
			verr(e, field, "FieldValueTooLong",
				"Too long: may not be more than %g bytes", mx->valuedouble);
	}
	if (cJSON_IsObject(node)) {
		const cJSON *req;
		cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(schema, "required")) {
			if (!cJSON_IsString(req) || cJSON_GetObjectItemCaseSensitive(node, req->valuestring))
				continue;
			char sub[600];
			snprintf(sub, sizeof(sub), "%s.%s", field, req->valuestring);
			verr(e, sub[0] == '.' ? sub + 1 : sub, "FieldValueRequired", "Required value");
		}
		const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
		const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
		const cJSON *child;
		cJSON_ArrayForEach(child, node) {
			if (depth == 0 && (!strcmp(child->string, "metadata") ||
				!strcmp(child->string, "apiVersion") || !strcmp(child->string, "kind")))
				continue;
			char sub[600];
			snprintf(sub, sizeof(sub), "%s.%s", path, child->string);
			const cJSON *cs = cJSON_GetObjectItemCaseSensitive(props, child->string);
			validate_node(cs ? cs : (cJSON_IsObject(addl) ? addl : NULL), child, sub, e,
				depth + 1);
		}
	}
	if (cJSON_IsArray(node)) {
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
		int i = 0;
		const cJSON *el;
		cJSON_ArrayForEach(el, node) {
			char sub[600];
			snprintf(sub, sizeof(sub), "%s[%d]", path, i++);
			validate_node(items, el, sub, e, depth + 1);
		}
	}
}

int ks_crd_validate(const struct ks_resource_type *type, const cJSON *object)
{
	if (!type->schema)
		return 0;
	struct verrs e = {.causes = cJSON_CreateArray()};
	validate_node(type->schema, object, "", &e, 0);
	if (e.count == 0) {
		cJSON_Delete(e.causes);
		return 0;
	}
	const char *name = ks_meta_string(object, "name");
	char msg[2048];
	size_t off = (size_t)snprintf(msg, sizeof(msg), "%s.%s \"%s\" is invalid: %s", type->kind,
		type->group, name ? name : "", e.count > 1 ? "[" : "");
	const cJSON *c;
	int i = 0;
	cJSON_ArrayForEach(c, e.causes) {
		if (off >= sizeof(msg))
			break;
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s: %s", i++ ? ", " : "",
			cJSON_GetObjectItemCaseSensitive(c, "field")->valuestring,
			cJSON_GetObjectItemCaseSensitive(c, "message")->valuestring);
	}
	if (e.count > 1 && off < sizeof(msg) - 1)
		snprintf(msg + off, sizeof(msg) - off, "]");
	cJSON *st = ks_status_new(422, "Invalid", msg, NULL, NULL);
	cJSON *d = cJSON_AddObjectToObject(st, "details");
	cJSON_AddStringToObject(d, "name", name ? name : "");
	cJSON_AddStringToObject(d, "group", type->group);
	cJSON_AddStringToObject(d, "kind", type->kind);
	cJSON_AddItemToObject(d, "causes", e.causes);
	return ks_status_set(KEELSON_EINVALID, st);
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
