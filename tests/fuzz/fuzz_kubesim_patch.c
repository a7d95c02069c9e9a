/*
 * kubesim's patch engines (tests/kubesim/patch): JSON Patch, JSON Merge
 * Patch and strategic merge patch, as they read PATCH bodies. Input: the
 * document (JSON), a line "%%", the patch (JSON), and optionally "%%" and
 * "group/kind" for the strategic merge. Properties: engines never modify
 * their input; merge patch create then apply gives the modified document
 * back (RFC 7386, when it holds no null and no key twice).
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "json/json_canonical.h"
#include "tests/kubesim/patch/json_patch.h"
#include "tests/kubesim/patch/merge_patch.h"
#include "tests/kubesim/patch/strategic_merge.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

static int has_null(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return 1;
	for (const cJSON *c = v->child; c != NULL; c = c->next)
		if (has_null(c))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *doc_text, *rest, *patch_text, *type_text;
	size_t doc_len, rest_len, patch_len, type_len;
	fuzz_split(data, size, "\n%%\n", &doc_text, &doc_len, &rest, &rest_len);
	fuzz_split(rest, rest_len, "\n%%\n", &patch_text, &patch_len, &type_text, &type_len);
	cJSON *doc = cJSON_ParseWithLength((const char *)doc_text, doc_len);
	cJSON *patch = cJSON_ParseWithLength((const char *)patch_text, patch_len);
	char *type = fuzz_strndup(type_text, type_len);
	type[strcspn(type, "\n")] = '\0';
	char *slash = strchr(type, '/');
	const char *group = "", *kind = type[0] ? type : "Pod";
	if (slash != NULL) {
		*slash = '\0';
		group = type;
		kind = slash + 1;
	}
	if (doc == NULL || patch == NULL)
		goto out;
	char *doc_before = keelson_json_canonical(doc), *patch_before = keelson_json_canonical(patch);
	if (doc_before == NULL || patch_before == NULL) { /* non-finite numbers */
		free(doc_before);
		free(patch_before);
		goto out;
	}

	cJSON *result = NULL;
	if (ks_json_patch_apply(&result, doc, patch) == 0)
		cJSON_Delete(result);
	result = NULL;
	if (ks_merge_patch_apply(&result, doc, patch) == 0)
		cJSON_Delete(result);
	result = NULL;
	if (cJSON_IsObject(doc) && cJSON_IsObject(patch) &&
	    ks_strategic_merge_apply(&result, doc, patch, group, kind) == 0)
		cJSON_Delete(result);

	/* RFC 7386: apply(original, create(original, modified)) == modified. */
	cJSON *created = NULL;
	if (cJSON_IsObject(doc) && cJSON_IsObject(patch) && !has_null(patch) &&
	    !fuzz_has_duplicate_keys(doc) && !fuzz_has_duplicate_keys(patch) &&
	    ks_merge_patch_create(&created, doc, patch) == 0) {
		cJSON *applied = NULL;
		fuzz_assert(ks_merge_patch_apply(&applied, doc, created) == 0);
		fuzz_assert(keelson_json_equal(applied, patch));
		cJSON_Delete(applied);
		cJSON_Delete(created);
	}

	char *doc_after = keelson_json_canonical(doc), *patch_after = keelson_json_canonical(patch);
	fuzz_assert(doc_after != NULL && strcmp(doc_before, doc_after) == 0);
	fuzz_assert(patch_after != NULL && strcmp(patch_before, patch_after) == 0);
	free(doc_before);
	free(patch_before);
	free(doc_after);
	free(patch_after);
out:
	cJSON_Delete(doc);
	cJSON_Delete(patch);
	free(type);
	return 0;
}
