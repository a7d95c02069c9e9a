/*
 * The YAML loader (reconciler/yaml) on arbitrary bytes: every file of the
 * config repository goes through it. Properties checked on what loads:
 * every node has a position, keelson_yaml_position_at() finds the same
 * position from the node's JSON pointer, and the canonical JSON of each
 * document is valid JSON that cJSON reads back.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"
#include "yaml/yaml_load.h"

#include <string.h>

/* Pointer checks are O(depth) each: a budget keeps one input fast. */
#define POINTER_CHECKS_PER_INPUT 500

static void check_positions(const struct keelson_yaml_stream *stream, size_t doc, const cJSON *node,
			    const char *pointer, size_t *budget)
{
	const struct keelson_source_pos *pos = keelson_yaml_position(stream, node);
	fuzz_assert(pos != NULL);
	fuzz_assert(pos->line >= 1 && pos->column >= 1);
	if (*budget > 0) {
		(*budget)--;
		struct keelson_source_pos at;
		fuzz_assert(keelson_yaml_position_at(&at, stream, doc, pointer) == 0);
		fuzz_assert(at.line == pos->line && at.column == pos->column);
		int exact = 0;
		fuzz_assert(keelson_yaml_position_nearest(&at, &exact, stream, doc, pointer) == 0);
		fuzz_assert(exact);
	}
	size_t index = 0;
	for (const cJSON *child = node->child; child != NULL; child = child->next, index++) {
		if (cJSON_IsObject(node))
			fuzz_assert(keelson_yaml_key_position(stream, child) != NULL);
		char *sub = cJSON_IsObject(node) ? keelson_json_pointer_append(pointer, child->string)
						 : keelson_json_pointer_append_index(pointer, index);
		fuzz_assert(sub != NULL);
		check_positions(stream, doc, child, sub, budget);
		free(sub);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keelson_yaml_stream *stream = NULL;
	int rc = keelson_yaml_load_buffer(&stream, (const char *)data, size, "fuzz.yaml", NULL);
	if (rc < 0) {
		fuzz_assert(stream == NULL);
		fuzz_assert(rc == KEELSON_EINVALID || rc == KEELSON_ELIMIT || rc == KEELSON_ENOMEM);
		/* Messages name the file and say where. */
		fuzz_assert(strncmp(keelson_error_last()->message, "fuzz.yaml", 9) == 0);
		return 0;
	}
	size_t budget = POINTER_CHECKS_PER_INPUT;
	for (size_t i = 0; i < keelson_yaml_document_count(stream); i++) {
		const cJSON *doc = keelson_yaml_document(stream, i);
		fuzz_assert(doc != NULL);
		check_positions(stream, i, doc, "", &budget);
		char *text = keelson_json_canonical(doc);
		fuzz_assert(text != NULL);
		cJSON *back = cJSON_Parse(text);
		fuzz_assert(back != NULL);
		cJSON_Delete(back);
		free(text);
	}
	fuzz_assert(keelson_yaml_document(stream, keelson_yaml_document_count(stream)) == NULL);
	keelson_yaml_stream_free(stream);
	return 0;
}
