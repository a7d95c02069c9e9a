#include "config.h"

#include "layout/problems.h"

#include "core/error.h"
#include "yaml/yaml_load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[] = {
	[KEELSON_PROBLEM_YAML] = "yaml",
	[KEELSON_PROBLEM_NOT_OBJECT] = "not-object",
	[KEELSON_PROBLEM_MISSING_FIELD] = "missing-field",
	[KEELSON_PROBLEM_WRONG_TYPE] = "wrong-type",
	[KEELSON_PROBLEM_UNKNOWN_KEY] = "unknown-key",
	[KEELSON_PROBLEM_UNSUPPORTED_VERSION] = "unsupported-version",
	[KEELSON_PROBLEM_MISPLACED] = "misplaced",
	[KEELSON_PROBLEM_MISSING_FILE] = "missing-file",
	[KEELSON_PROBLEM_NAME_MISMATCH] = "name-mismatch",
	[KEELSON_PROBLEM_UNKNOWN_PLUGIN] = "unknown-plugin",
	[KEELSON_PROBLEM_DUPLICATE_OBJECT] = "duplicate-object",
	[KEELSON_PROBLEM_CLAIMED_TWICE] = "claimed-twice",
	[KEELSON_PROBLEM_PATH_ESCAPE] = "path-escape",
	[KEELSON_PROBLEM_TOO_LARGE] = "too-large",
	[KEELSON_PROBLEM_UNKNOWN_REFERENCE] = "unknown-reference",
};

const char *keelson_problem_code_name(enum keelson_problem_code code)
{
	if ((size_t)code < sizeof(code_names) / sizeof(code_names[0]) && code_names[code] != NULL)
		return code_names[code];
	return "unknown";
}

struct keelson_problem_list *keelson_problem_list_new(void)
{
	return calloc(1, sizeof(struct keelson_problem_list));
}

void keelson_problem_list_free(struct keelson_problem_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].file);
		free(list->items[i].message);
	}
	free(list->items);
	free(list);
}

static int add_va(struct keelson_problem_list *list, enum keelson_problem_code code,
		  const char *file, unsigned line, unsigned column, const char *fmt, va_list ap)
{
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 16;
		struct keelson_problem *items = realloc(list->items, capacity * sizeof(*items));
		if (items == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory recording a problem");
		list->items = items;
		list->capacity = capacity;
	}
	char *message = NULL;
	if (vasprintf(&message, fmt, ap) < 0)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory recording a problem");
	char *file_copy = strdup(file ? file : "");
	if (file_copy == NULL) {
		free(message);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory recording a problem");
	}
	list->items[list->count++] = (struct keelson_problem){
		.code = code, .file = file_copy, .line = line, .column = line ? column : 0,
		.message = message,
	};
	return 0;
}

int keelson_problem_add(struct keelson_problem_list *list, enum keelson_problem_code code,
			const char *file, unsigned line, unsigned column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = add_va(list, code, file, line, column, fmt, ap);
	va_end(ap);
	return rc;
}

int keelson_problem_add_node(struct keelson_problem_list *list, enum keelson_problem_code code,
			     const struct keelson_yaml_stream *stream, const char *file,
			     const cJSON *node, int at_key, const char *fmt, ...)
{
	const struct keelson_source_pos *pos = NULL;
	if (stream != NULL && node != NULL) {
		if (at_key)
			pos = keelson_yaml_key_position(stream, node);
		if (pos == NULL)
			pos = keelson_yaml_position(stream, node);
	}
	va_list ap;
	va_start(ap, fmt);
	int rc = add_va(list, code, file, pos ? pos->line : 0, pos ? pos->column : 0, fmt, ap);
	va_end(ap);
	return rc;
}

struct ordered {
	struct keelson_problem problem;
	size_t index;
};

static int compare_problems(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	int c = strcmp(x->problem.file, y->problem.file);
	if (c != 0)
		return c;
	if (x->problem.line != y->problem.line)
		return x->problem.line < y->problem.line ? -1 : 1;
	if (x->problem.column != y->problem.column)
		return x->problem.column < y->problem.column ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

void keelson_problem_list_sort(struct keelson_problem_list *list)
{
	if (list->count < 2)
		return;
	/* qsort is not stable; carrying the insertion index makes it so. */
	struct ordered *tmp = malloc(list->count * sizeof(*tmp));
	if (tmp == NULL)
		return; /* unsorted output is still complete output */
	for (size_t i = 0; i < list->count; i++)
		tmp[i] = (struct ordered){list->items[i], i};
	qsort(tmp, list->count, sizeof(*tmp), compare_problems);
	for (size_t i = 0; i < list->count; i++)
		list->items[i] = tmp[i].problem;
	free(tmp);
}

void keelson_problem_list_filter(struct keelson_problem_list *list,
				 int (*drop)(const char *file, void *payload), void *payload)
{
	size_t kept = 0;
	for (size_t i = 0; i < list->count; i++) {
		if (drop(list->items[i].file, payload)) {
			free(list->items[i].file);
			free(list->items[i].message);
		} else {
			list->items[kept++] = list->items[i];
		}
	}
	list->count = kept;
}
