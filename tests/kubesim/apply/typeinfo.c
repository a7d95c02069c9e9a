#include "config.h"

#include "typeinfo.h"

#include <string.h>

#include "core/error.h"

/* Go types marked +structType=atomic or +mapType=atomic that appear in the
 * built-in kinds kubesim serves (k8s.io/api v1.32 types.go). SSA replaces
 * them as a whole, so a manager owns e.g. `f:selector` and not its keys. */
struct atomic_object_rule {
	const char *group;
	const char *kind; /* NULL: every kind of the group set */
	const char *path;
};

static const struct atomic_object_rule atomic_object_paths[] = {
	{ "apps", "StatefulSet", "/spec/selector" },
	{ "apps", "Deployment", "/spec/selector" },
	{ "apps", "ReplicaSet", "/spec/selector" },
	{ "apps", "DaemonSet", "/spec/selector" },
	{ "batch", "Job", "/spec/selector" },
	{ "policy", "PodDisruptionBudget", "/spec/selector" },
	{ "", "Service", "/spec/selector" },
	{ "", "ReplicationController", "/spec/selector" },
	{ "", "PersistentVolumeClaim", "/spec/selector" },
};

/* Last pointer tokens that name an atomic struct wherever they occur in a
 * built-in (LabelSelector, the env valueFrom selectors). */
static const char *const atomic_object_suffixes[] = {
	"/labelSelector",
	"/namespaceSelector",
	"/valueFrom/configMapKeyRef",
	"/valueFrom/secretKeyRef",
	"/valueFrom/fieldRef",
	"/valueFrom/resourceFieldRef",
};

void ks_type_cursor_init(struct ks_type_cursor *cursor, const struct ks_type_scope *scope)
{
	cursor->scope = scope;
	cursor->schema = scope->crd_schema;
	cursor->length = 0;
	cursor->depth = 0;
	cursor->pointer[0] = '\0';
}

static int cursor_append(struct ks_type_cursor *cursor, const char *token, struct ks_type_mark *mark)
{
	mark->schema = cursor->schema;
	mark->length = cursor->length;
	if (cursor->depth >= KS_TYPE_MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT,
					 "object nests deeper than %d levels at %s; flatten it",
					 KS_TYPE_MAX_DEPTH, cursor->pointer);
	size_t len = cursor->length;
	char *p = cursor->pointer;
	if (len + 1 >= KS_TYPE_POINTER_MAX)
		goto too_long;
	p[len++] = '/';
	for (const char *t = token; *t; t++) {
		const char *piece = *t == '~' ? "~0" : *t == '/' ? "~1" : NULL;
		size_t n = piece ? 2 : 1;
		if (len + n >= KS_TYPE_POINTER_MAX)
			goto too_long;
		if (piece) {
			memcpy(p + len, piece, 2);
		} else {
			p[len] = *t;
		}
		len += n;
	}
	p[len] = '\0';
	cursor->length = len;
	cursor->depth++;
	return 0;
too_long:
	p[mark->length] = '\0';
	return keelson_error_set(KEELSON_ELIMIT,
				 "field path longer than %d bytes below %s; shorten the field names",
				 KS_TYPE_POINTER_MAX, cursor->pointer);
}

static const cJSON *schema_member(const cJSON *schema, const char *name)
{
	return cJSON_IsObject(schema) ? cJSON_GetObjectItemCaseSensitive(schema, name) : NULL;
}

int ks_type_cursor_enter_field(struct ks_type_cursor *cursor, const char *name,
			       struct ks_type_mark *mark)
{
	int rc = cursor_append(cursor, name, mark);
	if (rc != 0)
		return rc;
	const cJSON *schema = cursor->schema;
	const cJSON *child = schema_member(schema_member(schema, "properties"), name);
	if (!cJSON_IsObject(child)) {
		child = schema_member(schema, "additionalProperties");
		if (!cJSON_IsObject(child))
			child = NULL;
	}
	cursor->schema = child;
	return 0;
}

int ks_type_cursor_enter_item(struct ks_type_cursor *cursor, struct ks_type_mark *mark)
{
	int rc = cursor_append(cursor, "*", mark);
	if (rc != 0)
		return rc;
	const cJSON *items = schema_member(cursor->schema, "items");
	cursor->schema = cJSON_IsObject(items) ? items : NULL;
	return 0;
}

void ks_type_cursor_leave(struct ks_type_cursor *cursor, const struct ks_type_mark *mark)
{
	cursor->schema = mark->schema;
	cursor->length = mark->length;
	cursor->pointer[mark->length] = '\0';
	if (cursor->depth > 0)
		cursor->depth--;
}

static bool is_custom_resource(const struct ks_type_cursor *cursor)
{
	return cursor->scope->crd_schema != NULL;
}

static bool under_metadata(const struct ks_type_cursor *cursor)
{
	return strncmp(cursor->pointer, "/metadata", 9) == 0 &&
	       (cursor->pointer[9] == '\0' || cursor->pointer[9] == '/');
}

static const char *schema_string(const cJSON *schema, const char *name)
{
	const cJSON *v = schema_member(schema, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void schema_list_semantics(struct ks_list_semantics *out, const cJSON *schema)
{
	memset(out, 0, sizeof(*out));
	out->kind = KS_LIST_ATOMIC;
	const char *type = schema_string(schema, "x-kubernetes-list-type");
	if (type == NULL || strcmp(type, "atomic") == 0)
		return;
	if (strcmp(type, "set") == 0) {
		out->kind = KS_LIST_SET;
		return;
	}
	if (strcmp(type, "map") != 0)
		return;
	const cJSON *keys = schema_member(schema, "x-kubernetes-list-map-keys");
	const cJSON *key;
	size_t count = 0;
	cJSON_ArrayForEach(key, keys) {
		/* A schema with more keys than we track cannot be honoured;
		 * atomic is what the API server does for lists it cannot key. */
		if (!cJSON_IsString(key) || count == KS_LIST_MAX_KEYS)
			return;
		out->ssa_keys[count++] = key->valuestring;
	}
	if (count == 0)
		return;
	out->kind = KS_LIST_MAP;
	out->ssa_key_count = count;
}

void ks_type_list_semantics(struct ks_list_semantics *out, const struct ks_type_cursor *cursor)
{
	if (is_custom_resource(cursor) && !under_metadata(cursor)) {
		schema_list_semantics(out, cursor->schema);
		return;
	}
	const struct ks_type_scope *scope = cursor->scope;
	if (ks_list_semantics_lookup(out, scope->group ? scope->group : "",
				     scope->kind ? scope->kind : "", cursor->pointer) != 0) {
		memset(out, 0, sizeof(*out));
		out->kind = KS_LIST_ATOMIC;
	}
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

bool ks_type_object_is_atomic(const struct ks_type_cursor *cursor)
{
	if (is_custom_resource(cursor)) {
		const char *type = schema_string(cursor->schema, "x-kubernetes-map-type");
		return type != NULL && strcmp(type, "atomic") == 0;
	}
	const struct ks_type_scope *scope = cursor->scope;
	const char *group = scope->group ? scope->group : "";
	const char *kind = scope->kind ? scope->kind : "";
	for (size_t i = 0; i < sizeof(atomic_object_paths) / sizeof(atomic_object_paths[0]); i++) {
		const struct atomic_object_rule *r = &atomic_object_paths[i];
		if (strcmp(r->group, group) == 0 && (!r->kind || strcmp(r->kind, kind) == 0) &&
		    strcmp(r->path, cursor->pointer) == 0)
			return true;
	}
	for (size_t i = 0; i < sizeof(atomic_object_suffixes) / sizeof(atomic_object_suffixes[0]); i++)
		if (has_suffix(cursor->pointer, cursor->length, atomic_object_suffixes[i]))
			return true;
	return false;
}

/* Built-in fields of Go map type (map[string]...), by last pointer token. */
static const char *const builtin_map_fields[] = {
	"labels", "annotations", "nodeSelector", "data", "binaryData", "stringData",
	"limits", "requests", "capacity", "allocatable", "parameters", "matchLabels",
	"volumeAttributes", "hard", "used",
};

/* Built-in lists serialized even when empty (no omitempty tag). */
static const char *const builtin_required_lists[] = { "containers", "subjects", "rules" };

static const char *last_token(const struct ks_type_cursor *cursor)
{
	const char *slash = strrchr(cursor->pointer, '/');
	return slash ? slash + 1 : cursor->pointer;
}

bool ks_type_owned_when_added(const struct ks_type_cursor *cursor, bool is_list)
{
	if (is_custom_resource(cursor))
		return true;
	const char *name = last_token(cursor);
	if (is_list) {
		for (size_t i = 0; i < sizeof(builtin_required_lists) / sizeof(builtin_required_lists[0]); i++)
			if (strcmp(name, builtin_required_lists[i]) == 0)
				return false;
		return true;
	}
	for (size_t i = 0; i < sizeof(builtin_map_fields) / sizeof(builtin_map_fields[0]); i++)
		if (strcmp(name, builtin_map_fields[i]) == 0)
			return true;
	return false;
}

bool ks_type_field_is_map_entry(const struct ks_type_cursor *cursor, const char *name)
{
	if (!is_custom_resource(cursor) || under_metadata(cursor))
		return false;
	if (cursor->length == 0 && (strcmp(name, "apiVersion") == 0 || strcmp(name, "kind") == 0 ||
				    strcmp(name, "metadata") == 0))
		return false;
	const cJSON *declared = schema_member(schema_member(cursor->schema, "properties"), name);
	return !cJSON_IsObject(declared);
}

int ks_type_key_default(cJSON **out, const struct ks_type_cursor *cursor, const char *key)
{
	*out = NULL;
	if (is_custom_resource(cursor) && !under_metadata(cursor)) {
		const cJSON *items = schema_member(cursor->schema, "items");
		const cJSON *field = schema_member(schema_member(items, "properties"), key);
		const cJSON *def = schema_member(field, "default");
		if (def == NULL)
			return 0;
		*out = cJSON_Duplicate(def, 1);
	} else {
		/* ContainerPort.protocol and ServicePort.protocol default to TCP,
		 * and both are list-map keys. */
		if (strcmp(key, "protocol") != 0 || !has_suffix(cursor->pointer, cursor->length, "/ports"))
			return 0;
		*out = cJSON_CreateString("TCP");
	}
	if (*out == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory copying a key default");
	return 0;
}
