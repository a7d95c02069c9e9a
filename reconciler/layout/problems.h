/*
 * Problems found while validating a revision. A revision is rejected as a
 * whole when any problem is found, so validation collects all of them
 * instead of stopping at the first, each with the file and position a
 * person should open.
 */
#ifndef KEELSON_LAYOUT_PROBLEMS_H
#define KEELSON_LAYOUT_PROBLEMS_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct keelson_yaml_stream;

/* Stable kinds of problem; their names (keelson_problem_code_name) appear in
 * `keelson validate --output json` and the test corpus, so only ever add. */
enum keelson_problem_code {
	KEELSON_PROBLEM_YAML = 0,
	KEELSON_PROBLEM_NOT_OBJECT,
	KEELSON_PROBLEM_MISSING_FIELD,
	KEELSON_PROBLEM_WRONG_TYPE,
	KEELSON_PROBLEM_UNKNOWN_KEY,
	KEELSON_PROBLEM_UNSUPPORTED_VERSION,
	KEELSON_PROBLEM_MISPLACED,
	KEELSON_PROBLEM_MISSING_FILE,
	KEELSON_PROBLEM_NAME_MISMATCH,
	KEELSON_PROBLEM_UNKNOWN_PLUGIN,
	KEELSON_PROBLEM_DUPLICATE_OBJECT,
	KEELSON_PROBLEM_CLAIMED_TWICE,
	KEELSON_PROBLEM_PATH_ESCAPE,
	KEELSON_PROBLEM_TOO_LARGE,
	KEELSON_PROBLEM_UNKNOWN_REFERENCE,
};

struct keelson_problem {
	enum keelson_problem_code code;
	char *file;       /* path relative to the repository root; "" for the revision as a whole */
	unsigned line;    /* 1-based; 0 when the problem is about a whole file */
	unsigned column;  /* 1-based; 0 when line is 0 */
	char *message;    /* says what is wrong and what to do */
};

struct keelson_problem_list {
	struct keelson_problem *items;
	size_t count;
	size_t capacity;
};

/* "yaml", "unknown-key", ... */
const char *keelson_problem_code_name(enum keelson_problem_code code);

struct keelson_problem_list *keelson_problem_list_new(void);
void keelson_problem_list_free(struct keelson_problem_list *list); /* accepts NULL */

/* Record a problem. Returns 0, or KEELSON_ENOMEM. */
int keelson_problem_add(struct keelson_problem_list *list, enum keelson_problem_code code,
			const char *file, unsigned line, unsigned column, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Record a problem at the position of `node` in `stream` (its key's position
 * when `at_key` and the node is an object member). Falls back to `file` with
 * no position when the node has none. */
int keelson_problem_add_node(struct keelson_problem_list *list, enum keelson_problem_code code,
			     const struct keelson_yaml_stream *stream, const char *file,
			     const cJSON *node, int at_key, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* Order by file, line, column, then insertion order: deterministic output. */
void keelson_problem_list_sort(struct keelson_problem_list *list);

/* Drop the problems whose file satisfies `drop`. */
void keelson_problem_list_filter(struct keelson_problem_list *list,
				 int (*drop)(const char *file, void *payload), void *payload);

#endif
