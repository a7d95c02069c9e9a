#include "config.h"

#include "json_patch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"
#include "json_util.h"

/* evanphx/json-patch wraps these sentinel errors; their text ends most
 * messages. */
#define ERR_MISSING "missing value"
#define ERR_INVALID_INDEX "invalid index referenced"
#define ERR_TEST_FAILED "test failed"

/* A resolved location: the container holding the target and the last
 * reference token. container is NULL for the whole document (""). */
struct location {
	char **tokens;
	size_t count;
	cJSON *container;
	const char *key;
};

static void location_free(struct location *loc)
{
	keelson_json_pointer_tokens_free(loc->tokens, loc->count);
	memset(loc, 0, sizeof(*loc));
}

/* RFC 6901 array index: "0" or digits without a leading zero. */
static int parse_index(long *out, const char *token)
{
	if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0'))
		return -1;
	for (const char *p = token; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	long value = strtol(token, NULL, 10);
	if (errno != 0 || value > INT32_MAX)
		return -1;
	*out = value;
	return 0;
}

static cJSON *child_of(cJSON *node, const char *token)
{
	if (cJSON_IsObject(node))
		return cJSON_GetObjectItemCaseSensitive(node, token);
	if (cJSON_IsArray(node)) {
		long index;
		if (parse_index(&index, token) < 0)
			return NULL;
		return cJSON_GetArrayItem(node, (int)index);
	}
	return NULL;
}

/* Walk to the container of `path`. Returns 0 with loc->container set,
 * KEELSON_ENOTFOUND when an intermediate step is missing (the caller words
 * the message for its operation), KEELSON_EINVALID for a malformed
 * pointer. */
static int locate(struct location *loc, cJSON *root, const char *path)
{
	memset(loc, 0, sizeof(*loc));
	int rc = keelson_json_pointer_parse(&loc->tokens, &loc->count, path);
	if (rc < 0)
		return rc;
	if (loc->count == 0)
		return 0;
	cJSON *node = root;
	for (size_t i = 0; i + 1 < loc->count; i++) {
		node = child_of(node, loc->tokens[i]);
		if (node == NULL)
			return KEELSON_ENOTFOUND;
	}
	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return KEELSON_ENOTFOUND;
	loc->container = node;
	loc->key = loc->tokens[loc->count - 1];
	return 0;
}

static int invalid_index(const char *prefix, const char *path, const char *token)
{
	return keelson_error_set(KEELSON_EINVALID,
				 "%s for path: '%s': Unable to access invalid index: %s: " ERR_INVALID_INDEX,
				 prefix, path, token);
}

/* Insert `value` (ownership taken, freed on failure) at `loc`. */
static int insert_value(cJSON **docp, struct location *loc, cJSON *value, const char *path,
			const char *error_prefix)
{
	if (loc->count == 0) {
		cJSON_Delete(*docp);
		*docp = value;
		return 0;
	}
	if (cJSON_IsObject(loc->container)) {
		return ks_json_object_set(loc->container, loc->key, value);
	}
	int size = cJSON_GetArraySize(loc->container);
	long index;
	if (strcmp(loc->key, "-") == 0) {
		index = size;
	} else if (parse_index(&index, loc->key) < 0 || index > size) {
		cJSON_Delete(value);
		return invalid_index(error_prefix, path, loc->key);
	}
	return ks_json_array_insert(loc->container, (int)index, value);
}

/* The existing value at `loc` (borrowed), or NULL. */
static cJSON *target_of(const struct location *loc, cJSON *doc)
{
	if (loc->count == 0)
		return doc;
	return child_of(loc->container, loc->key);
}

static int member_string(const char **out, const cJSON *op, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(op, name);
	*out = cJSON_IsString(item) ? item->valuestring : NULL;
	return *out ? 0 : -1;
}

static int op_add(cJSON **docp, const cJSON *op, const char *path)
{
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
	if (!value)
		return keelson_error_set(KEELSON_EINVALID,
					 "add operation for path \"%s\" has no \"value\" member", path);
	struct location loc;
	int rc = locate(&loc, *docp, path);
	if (rc == KEELSON_ENOTFOUND)
		rc = keelson_error_set(KEELSON_EINVALID,
				       "add operation does not apply: doc is missing path: \"%s\": " ERR_MISSING,
				       path);
	if (rc == 0) {
		cJSON *copy = cJSON_Duplicate(value, 1);
		rc = copy ? insert_value(docp, &loc, copy, path, "error in add")
			  : keelson_error_set(KEELSON_ENOMEM, "out of memory applying JSON patch");
	}
	location_free(&loc);
	return rc;
}

/* Detach the value at `path` and hand it to the caller via *detached. */
static int detach_value(cJSON **detached, cJSON *doc, const char *path, int is_move,
			const char *error_prefix)
{
	struct location loc;
	*detached = NULL;
	int rc = locate(&loc, doc, path);
	if (rc == KEELSON_ENOTFOUND && is_move)
		rc = keelson_error_set(KEELSON_EINVALID,
				       "move operation does not apply: doc is missing from path: %s: " ERR_MISSING,
				       path);
	else if (rc == KEELSON_ENOTFOUND)
		rc = keelson_error_set(KEELSON_EINVALID,
				       "remove operation does not apply: doc is missing path: \"%s\": " ERR_MISSING,
				       path);
	if (rc < 0)
		goto cleanup;
	if (loc.count == 0) {
		rc = keelson_error_set(KEELSON_EINVALID,
				       "%s for path: '%s': the whole document cannot be removed",
				       error_prefix, path);
		goto cleanup;
	}
	cJSON *target = child_of(loc.container, loc.key);
	if (!target) {
		if (cJSON_IsObject(loc.container))
			rc = keelson_error_set(KEELSON_EINVALID,
					       "%s for path: '%s': Unable to remove nonexistent key: %s: " ERR_MISSING,
					       error_prefix, path, loc.key);
		else
			rc = invalid_index(error_prefix, path, loc.key);
		goto cleanup;
	}
	*detached = cJSON_DetachItemViaPointer(loc.container, target);
cleanup:
	location_free(&loc);
	return rc;
}

static int op_remove(cJSON **docp, const char *path)
{
	cJSON *removed;
	int rc = detach_value(&removed, *docp, path, 0, "error in remove");
	cJSON_Delete(removed);
	return rc;
}

static int op_replace(cJSON **docp, const cJSON *op, const char *path)
{
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
	if (!value)
		return keelson_error_set(KEELSON_EINVALID,
					 "replace operation for path \"%s\" has no \"value\" member", path);
	struct location loc;
	int rc = locate(&loc, *docp, path);
	if (rc == KEELSON_ENOTFOUND)
		rc = keelson_error_set(KEELSON_EINVALID,
				       "replace operation does not apply: doc is missing path: %s: " ERR_MISSING,
				       path);
	if (rc < 0)
		goto cleanup;
	cJSON *target = target_of(&loc, *docp);
	if (!target) {
		rc = keelson_error_set(KEELSON_EINVALID,
				       "replace operation does not apply: doc is missing key: %s: " ERR_MISSING,
				       path);
		goto cleanup;
	}
	cJSON *copy = cJSON_Duplicate(value, 1);
	if (!copy) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory applying JSON patch");
		goto cleanup;
	}
	if (loc.count == 0) {
		cJSON_Delete(*docp);
		*docp = copy;
	} else {
		rc = ks_json_replace_child(loc.container, target, copy);
	}
cleanup:
	location_free(&loc);
	return rc;
}

/* Borrowed value at `path`, or NULL with rc set to ENOTFOUND/EINVALID. */
static int get_value(cJSON **out, cJSON *doc, const char *path)
{
	struct location loc;
	*out = NULL;
	int rc = locate(&loc, doc, path);
	if (rc == 0) {
		*out = target_of(&loc, doc);
		if (!*out)
			rc = KEELSON_ENOTFOUND;
	}
	location_free(&loc);
	return rc;
}

static int is_proper_prefix(const char *prefix, const char *path)
{
	size_t len = strlen(prefix);
	return strncmp(prefix, path, len) == 0 && path[len] == '/';
}

static int op_move(cJSON **docp, const char *from, const char *path)
{
	if (strcmp(from, path) == 0) {
		cJSON *unused;
		int rc = get_value(&unused, *docp, from);
		if (rc == KEELSON_ENOTFOUND)
			return keelson_error_set(KEELSON_EINVALID,
						 "move operation does not apply: doc is missing from path: %s: " ERR_MISSING,
						 from);
		return rc;
	}
	if (is_proper_prefix(from, path) || from[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID,
					 "move operation does not apply: path %s is inside from path %s; a value cannot be moved into itself",
					 path, from);
	cJSON *value;
	int rc = detach_value(&value, *docp, from, 1, "error in move");
	if (rc < 0)
		return rc;
	struct location loc;
	rc = locate(&loc, *docp, path);
	if (rc == KEELSON_ENOTFOUND)
		rc = keelson_error_set(KEELSON_EINVALID,
				       "move operation does not apply: doc is missing destination path: %s: " ERR_MISSING,
				       path);
	if (rc == 0)
		rc = insert_value(docp, &loc, value, path, "error in move");
	else
		cJSON_Delete(value);
	location_free(&loc);
	return rc;
}

static int op_copy(cJSON **docp, const char *from, const char *path)
{
	cJSON *source;
	int rc = get_value(&source, *docp, from);
	if (rc == KEELSON_ENOTFOUND)
		return keelson_error_set(KEELSON_EINVALID,
					 "copy operation does not apply: doc is missing from path: %s: " ERR_MISSING,
					 from);
	if (rc < 0)
		return rc;
	cJSON *copy = cJSON_Duplicate(source, 1);
	if (!copy)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory applying JSON patch");
	struct location loc;
	rc = locate(&loc, *docp, path);
	if (rc == KEELSON_ENOTFOUND)
		rc = keelson_error_set(KEELSON_EINVALID,
				       "copy operation does not apply: doc is missing destination path: %s: " ERR_MISSING,
				       path);
	if (rc == 0)
		rc = insert_value(docp, &loc, copy, path, "error while adding value during copy");
	else
		cJSON_Delete(copy);
	location_free(&loc);
	return rc;
}

static int op_test(cJSON *doc, const cJSON *op, const char *path)
{
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
	if (!value)
		return keelson_error_set(KEELSON_EINVALID,
					 "test operation for path \"%s\" has no \"value\" member", path);
	struct location loc;
	int rc = locate(&loc, doc, path);
	cJSON *actual = rc == 0 ? target_of(&loc, doc) : NULL;
	location_free(&loc);
	if (rc == KEELSON_ENOTFOUND)
		return keelson_error_set(KEELSON_EINVALID,
					 "test operation does not apply: is missing path: %s: " ERR_MISSING, path);
	if (rc < 0)
		return rc;
	if (!actual)
		return keelson_error_set(KEELSON_EINVALID, "testing value %s failed: " ERR_TEST_FAILED,
					 path);
	if (!keelson_json_equal(actual, value))
		return keelson_error_set(KEELSON_EINVALID, "testing value %s failed: " ERR_TEST_FAILED,
					 path);
	return 0;
}

static int apply_operation(cJSON **docp, const cJSON *op, int index)
{
	const char *kind, *path, *from;
	if (!cJSON_IsObject(op))
		return keelson_error_set(KEELSON_EINVALID,
					 "json patch operation %d is not a JSON object", index);
	if (member_string(&kind, op, "op") < 0)
		return keelson_error_set(KEELSON_EINVALID,
					 "Unexpected kind: %s: unknown object type",
					 cJSON_GetObjectItemCaseSensitive(op, "op") ? "(not a string)" : "unknown");
	if (member_string(&path, op, "path") < 0)
		return keelson_error_set(KEELSON_EINVALID,
					 "%s operation failed to decode path: operation missing path field: " ERR_MISSING,
					 kind);

	int rc;
	if (strcmp(kind, "add") == 0) {
		rc = op_add(docp, op, path);
	} else if (strcmp(kind, "remove") == 0) {
		rc = op_remove(docp, path);
	} else if (strcmp(kind, "replace") == 0) {
		rc = op_replace(docp, op, path);
	} else if (strcmp(kind, "test") == 0) {
		rc = op_test(*docp, op, path);
	} else if (strcmp(kind, "move") == 0 || strcmp(kind, "copy") == 0) {
		if (member_string(&from, op, "from") < 0)
			return keelson_error_set(KEELSON_EINVALID,
						 "%s operation failed to decode from: operation missing from field: " ERR_MISSING,
						 kind);
		rc = kind[0] == 'm' ? op_move(docp, from, path) : op_copy(docp, from, path);
	} else {
		return keelson_error_set(KEELSON_EINVALID, "Unexpected kind: %s: unknown object type",
					 kind);
	}
	return rc;
}

int ks_json_patch_apply(cJSON **out, const cJSON *doc, const cJSON *patch)
{
	if (!out || !doc || !patch)
		return keelson_error_set(KEELSON_EINVALID,
					 "json patch: document and patch are required");
	if (!cJSON_IsArray(patch))
		return keelson_error_set(KEELSON_EINVALID,
					 "json: cannot unmarshal %s into Go value of type jsonpatch.Patch",
					 cJSON_IsObject(patch) ? "object" : "non-array value");
	int count = cJSON_GetArraySize(patch);
	if (count > KS_JSON_PATCH_MAX_OPERATIONS)
		return keelson_error_set(KEELSON_ELIMIT,
					 "The allowed operations in a JSON patch is %d, got %d",
					 KS_JSON_PATCH_MAX_OPERATIONS, count);

	cJSON *work = cJSON_Duplicate(doc, 1);
	if (!work)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory applying JSON patch");
	int index = 0, rc = 0;
	for (const cJSON *op = patch->child; op; op = op->next, index++) {
		rc = apply_operation(&work, op, index);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		cJSON_Delete(work);
		return rc;
	}
	*out = work;
	return 0;
}
