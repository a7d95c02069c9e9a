/*
 * JSON Pointer (RFC 6901) over cJSON trees.
 *
 * Pointers are used everywhere a place inside an object is named: diffs,
 * source positions, patch engines. "" is the whole document; "/a/0/b~1c"
 * is member "b/c" of element 0 of member "a".
 */
#ifndef KEELSON_JSON_POINTER_H
#define KEELSON_JSON_POINTER_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Resolve `pointer` in `root`. On success *out is a node borrowed from
 * `root`. Returns KEELSON_ENOTFOUND when a step does not exist and
 * KEELSON_EINVALID when the pointer is malformed (no leading '/', bad '~'
 * escape, array index with leading zero or not a number). */
int keelson_json_pointer_get(cJSON **out, const cJSON *root, const char *pointer);

/* Split a pointer into unescaped reference tokens. *out_tokens is an array
 * of *out_count strings, each and the array freed with
 * keelson_json_pointer_tokens_free(). */
int keelson_json_pointer_parse(char ***out_tokens, size_t *out_count, const char *pointer);
void keelson_json_pointer_tokens_free(char **tokens, size_t count);

/* New pointer `base` + "/" + escaped(`token`); caller frees. NULL on OOM. */
char *keelson_json_pointer_append(const char *base, const char *token);

/* Same, for an array index. */
char *keelson_json_pointer_append_index(const char *base, size_t index);

/* Escape one reference token ('~' -> "~0", '/' -> "~1"); caller frees. */
char *keelson_json_pointer_escape(const char *token);

#endif
