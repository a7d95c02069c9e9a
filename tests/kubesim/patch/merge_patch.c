#include "config.h"

#include "merge_patch.h"

#include "core/error.h"
#include "json/json_canonical.h"
#include "json_util.h"

static int oom(void)
{
	return keelson_error_set(KEELSON_ENOMEM, "out of memory applying a merge patch");
}

/* Copy of `patch` with every null object member removed, as RFC 7386 does
 * when the target has nothing to merge into. */
static cJSON *strip_nulls(const cJSON *patch)
{
	if (!cJSON_IsObject(patch))
		return cJSON_Duplicate(patch, 1);
	cJSON *result = cJSON_CreateObject();
	if (!result)
		return NULL;
	for (const cJSON *member = patch->child; member; member = member->next) {
		if (cJSON_IsNull(member))
			continue;
		cJSON *value = strip_nulls(member);
		if (!value || !cJSON_AddItemToObject(result, member->string, value)) {
			cJSON_Delete(value);
			cJSON_Delete(result);
			return NULL;
		}
	}
	return result;
}

/* Merge object `patch` into object `target` in place; members keep their
 * positions, new ones are appended. */
static int merge_into(cJSON *target, const cJSON *patch)
{
	for (const cJSON *member = patch->child; member; member = member->next) {
		cJSON *existing = cJSON_GetObjectItemCaseSensitive(target, member->string);
		if (cJSON_IsNull(member)) {
			if (existing)
				cJSON_Delete(cJSON_DetachItemViaPointer(target, existing));
			continue;
		}
		if (cJSON_IsObject(existing) && cJSON_IsObject(member)) {
			int rc = merge_into(existing, member);
			if (rc < 0)
				return rc;
			continue;
		}
		cJSON *value = strip_nulls(member);
		if (!value)
			return oom();
		int rc = ks_json_object_set(target, member->string, value);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ks_merge_patch_apply(cJSON **out, const cJSON *doc, const cJSON *patch)
{
	if (!out || !patch)
		return keelson_error_set(KEELSON_EINVALID, "merge patch: a patch is required");
	if (!cJSON_IsObject(doc) || !cJSON_IsObject(patch)) {
		cJSON *result = strip_nulls(patch);
		if (!result)
			return oom();
		*out = result;
		return 0;
	}
	cJSON *work = cJSON_Duplicate(doc, 1);
	if (!work)
		return oom();
	int rc = merge_into(work, patch);
	if (rc < 0) {
		cJSON_Delete(work);
		return rc;
	}
	*out = work;
	return 0;
}

/* Fill object `patch` with the difference between two objects. */
static int diff_objects(cJSON *patch, const cJSON *original, const cJSON *modified)
{
	for (const cJSON *member = original->child; member; member = member->next) {
		if (cJSON_GetObjectItemCaseSensitive(modified, member->string))
			continue;
		if (!cJSON_AddItemToObject(patch, member->string, cJSON_CreateNull()))
			return keelson_error_set(KEELSON_ENOMEM, "out of memory creating a merge patch");
	}
	for (const cJSON *member = modified->child; member; member = member->next) {
		const cJSON *before = cJSON_GetObjectItemCaseSensitive(original, member->string);
		if (before && keelson_json_equal(before, member))
			continue;
		cJSON *value;
		if (cJSON_IsObject(before) && cJSON_IsObject(member)) {
			value = cJSON_CreateObject();
			int rc = value ? diff_objects(value, before, member) : KEELSON_ENOMEM;
			if (rc < 0) {
				cJSON_Delete(value);
				return rc == KEELSON_ENOMEM
					       ? keelson_error_set(KEELSON_ENOMEM, "out of memory creating a merge patch")
					       : rc;
			}
		} else {
			value = cJSON_Duplicate(member, 1);
		}
		if (!value || !cJSON_AddItemToObject(patch, member->string, value)) {
			cJSON_Delete(value);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory creating a merge patch");
		}
	}
	return 0;
}

int ks_merge_patch_create(cJSON **out, const cJSON *original, const cJSON *modified)
{
	if (!out || !original || !modified)
		return keelson_error_set(KEELSON_EINVALID,
					 "merge patch: original and modified documents are required");
	if (!cJSON_IsObject(original) || !cJSON_IsObject(modified)) {
		/* Only a whole-document patch can turn a non-object into
		 * something; {} would turn it into an empty object. */
		cJSON *copy = cJSON_Duplicate(modified, 1);
		if (!copy)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory creating a merge patch");
		*out = copy;
		return 0;
	}
	cJSON *patch = cJSON_CreateObject();
	if (!patch)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory creating a merge patch");
	int rc = diff_objects(patch, original, modified);
	if (rc < 0) {
		cJSON_Delete(patch);
		return rc;
	}
	*out = patch;
	return 0;
}
