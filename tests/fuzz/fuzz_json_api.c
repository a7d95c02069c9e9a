/*
 * JSON read from the data plane and the API server: Kubernetes API
 * responses, the Cassandra Management API and Cruise Control (the plugins
 * read these through the host's HTTP probes). Parsed with cJSON, then
 * what keelson does with such documents: canonical form, equality, JSON
 * pointers. Input: first line a JSON pointer, the rest the document.
 * Checked: the canonical form reads back as an equal value and is a fixed
 * point; a pointer that resolves names a node of the document.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *pointer_bytes, *doc_bytes;
	size_t pointer_len, doc_len;
	fuzz_split(data, size, "\n", &pointer_bytes, &pointer_len, &doc_bytes, &doc_len);
	char *pointer = fuzz_strndup(pointer_bytes, pointer_len);

	char **tokens = NULL;
	size_t count = 0;
	if (keelson_json_pointer_parse(&tokens, &count, pointer) == 0) {
		/* Escaping the tokens again gives the pointer back. */
		char *rebuilt = strdup("");
		for (size_t i = 0; i < count && rebuilt != NULL; i++) {
			char *next = keelson_json_pointer_append(rebuilt, tokens[i]);
			free(rebuilt);
			rebuilt = next;
		}
		fuzz_assert(rebuilt != NULL && strcmp(rebuilt, pointer) == 0);
		free(rebuilt);
		keelson_json_pointer_tokens_free(tokens, count);
	}

	cJSON *doc = cJSON_ParseWithLength((const char *)doc_bytes, doc_len);
	if (doc == NULL)
		goto out;
	char *text = keelson_json_canonical(doc);
	if (text != NULL) {
		cJSON *back = cJSON_Parse(text);
		fuzz_assert(back != NULL);
		if (!keelson_json_equal(doc, back))
			fprintf(stderr, "canonical form reads back differently: %s\n", text);
		fuzz_assert(keelson_json_equal(doc, back));
		char *again = keelson_json_canonical(back);
		fuzz_assert(again != NULL && strcmp(text, again) == 0);
		free(again);
		cJSON_Delete(back);
		free(text);
	}
	cJSON *node = NULL;
	int rc = keelson_json_pointer_get(&node, doc, pointer);
	fuzz_assert(rc == 0 || rc == KEELSON_ENOTFOUND || rc == KEELSON_EINVALID);
	if (rc == 0)
		fuzz_assert(node != NULL);
	fuzz_assert(keelson_json_equal(doc, doc));
	cJSON_Delete(doc);
out:
	free(pointer);
	return 0;
}
