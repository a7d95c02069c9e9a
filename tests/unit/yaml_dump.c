/*
 * yaml_dump: print what keelson's YAML loader makes of a file, one document
 * per line as compact JSON. Used by yaml-kubectl-agreement.sh to compare
 * with kubectl, and handy when a manifest does not read as expected.
 *
 *   yaml_dump FILE             documents, one per line
 *   yaml_dump --positions FILE "DOC POINTER LINE:COLUMN" for every node
 *
 * Exit status: 0 ok, 1 the file did not load (message on stderr), 2 usage.
 */
#include "config.h"

#include "core/error.h"
#include "json/json_pointer.h"
#include "yaml/yaml_load.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_positions(const struct keelson_yaml_stream *stream, size_t doc,
	const cJSON *node, const char *pointer)
{
	const struct keelson_source_pos *pos = keelson_yaml_position(stream, node);
	const struct keelson_source_pos *key = keelson_yaml_key_position(stream, node);
	size_t index = 0;

	printf("%zu %s %u:%u", doc, pointer[0] ? pointer : "\"\"", pos ? pos->line : 0,
		pos ? pos->column : 0);
	if (key != NULL)
		printf(" key %u:%u", key->line, key->column);
	putchar('\n');
	for (const cJSON *child = node->child; child != NULL; child = child->next, index++) {
		char *sub = cJSON_IsObject(node) ? keelson_json_pointer_append(pointer, child->string)
						 : keelson_json_pointer_append_index(pointer, index);
		if (sub == NULL)
			return -1;
		int rc = print_positions(stream, doc, child, sub);
		free(sub);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* cJSON_Print writes "%.15g" whenever that is within DBL_EPSILON, which
 * drops digits of integers above 10^15; print numbers exactly instead. */
static int exact_numbers(cJSON *node)
{
	for (cJSON *child = node->child; child != NULL; child = child->next)
		if (exact_numbers(child) < 0)
			return -1;
	if (!cJSON_IsNumber(node))
		return 0;
	char text[64];
	double value = node->valuedouble;
	if (value == floor(value) && fabs(value) <= 9007199254740992.0) {
		snprintf(text, sizeof(text), "%.0f", value);
	} else {
		/* Shortest text that reads back as the same double, marked as a
		 * float so readers do not take 9.007199254740994e16 for an exact
		 * integer (the loader keeps exact integers as raw digits). */
		for (int precision = 1; precision <= 17; precision++) {
			snprintf(text, sizeof(text), "%.*g", precision, value);
			if (strtod(text, NULL) == value)
				break;
		}
		if (strpbrk(text, ".e") == NULL)
			strcat(text, ".0");
	}
	char *copy = strdup(text);
	if (copy == NULL)
		return -1;
	node->type = cJSON_Raw;
	node->valuestring = copy;
	return 0;
}

int main(int argc, char **argv)
{
	struct keelson_yaml_stream *stream = NULL;
	bool positions = argc == 3 && strcmp(argv[1], "--positions") == 0;
	const char *path = positions ? argv[2] : argv[1];
	int status = EXIT_SUCCESS;

	if (argc != 2 + (positions ? 1 : 0)) {
		fprintf(stderr, "usage: yaml_dump [--positions] FILE\n");
		return 2;
	}
	if (keelson_yaml_load_file(&stream, path, NULL) < 0) {
		fprintf(stderr, "yaml_dump: %s\n", keelson_error_last()->message);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < keelson_yaml_document_count(stream); i++) {
		cJSON *doc = keelson_yaml_document(stream, i);
		if (positions) {
			if (print_positions(stream, i, doc, "") < 0)
				status = EXIT_FAILURE;
			continue;
		}
		cJSON *exact = cJSON_Duplicate(doc, true);
		char *text = exact && exact_numbers(exact) == 0 ? cJSON_PrintUnformatted(exact) : NULL;
		cJSON_Delete(exact);
		if (text == NULL) {
			status = EXIT_FAILURE;
			continue;
		}
		puts(text);
		cJSON_free(text);
	}
	keelson_yaml_stream_free(stream);
	return status;
}
