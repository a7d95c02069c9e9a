#include "config.h"

#include "json/json_pointer.h"

#include "core/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Unescape one token in place ("~1" -> '/', "~0" -> '~'). */
static int unescape_token(char *token, const char *pointer)
{
	char *read = token;
	char *write = token;

	while (*read != '\0') {
		if (*read == '~') {
			if (read[1] == '0')
				*write++ = '~';
			else if (read[1] == '1')
				*write++ = '/';
			else
				return keelson_error_set(KEELSON_EINVALID,
					"JSON pointer \"%s\": '~' must be followed by 0 or 1", pointer);
			read += 2;
		} else {
			*write++ = *read++;
		}
	}
	*write = '\0';
	return 0;
}

void keelson_json_pointer_tokens_free(char **tokens, size_t count)
{
	if (tokens == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(tokens[i]);
	free(tokens);
}

int keelson_json_pointer_parse(char ***out_tokens, size_t *out_count, const char *pointer)
{
	char **tokens = NULL;
	size_t count = 0;
	int rc = 0;

	*out_tokens = NULL;
	*out_count = 0;
	if (pointer[0] == '\0')
		return 0;
	if (pointer[0] != '/')
		return keelson_error_set(KEELSON_EINVALID,
			"JSON pointer \"%s\" must be empty or start with '/'", pointer);

	for (const char *p = pointer; *p != '\0'; p++)
		if (*p == '/')
			count++;
	tokens = calloc(count, sizeof(*tokens));
	if (tokens == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory parsing JSON pointer");

	const char *start = pointer + 1;
	for (size_t i = 0; i < count; i++) {
		const char *end = strchr(start, '/');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		tokens[i] = strndup(start, len);
		if (tokens[i] == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory parsing JSON pointer");
			goto cleanup;
		}
		rc = unescape_token(tokens[i], pointer);
		if (rc < 0)
			goto cleanup;
		start = end ? end + 1 : start + len;
	}
	*out_tokens = tokens;
	*out_count = count;
	return 0;

cleanup:
	keelson_json_pointer_tokens_free(tokens, count);
	return rc;
}

/* RFC 6901 array index: "0" or digits without a leading zero. */
static int parse_index(size_t *out, const char *token)
{
	if (token[0] == '\0' || (token[0] == '0' && token[1] != '\0'))
		return -1;
	for (const char *p = token; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	unsigned long long value = strtoull(token, NULL, 10);
	if (errno != 0)
		return -1;
	*out = (size_t)value;
	return 0;
}

int keelson_json_pointer_get(cJSON **out, const cJSON *root, const char *pointer)
{
	char **tokens = NULL;
	size_t count = 0;
	const cJSON *node = root;
	int rc;

	*out = NULL;
	rc = keelson_json_pointer_parse(&tokens, &count, pointer);
	if (rc < 0)
		return rc;

	for (size_t i = 0; i < count; i++) {
		if (cJSON_IsObject(node)) {
			node = cJSON_GetObjectItemCaseSensitive(node, tokens[i]);
		} else if (cJSON_IsArray(node)) {
			size_t index;
			if (parse_index(&index, tokens[i]) < 0) {
				rc = keelson_error_set(KEELSON_EINVALID,
					"JSON pointer \"%s\": \"%s\" is not a valid array index", pointer, tokens[i]);
				goto cleanup;
			}
			if (index >= (size_t)cJSON_GetArraySize(node))
				node = NULL;
			else
				node = cJSON_GetArrayItem(node, (int)index);
		} else {
			node = NULL;
		}
		if (node == NULL) {
			rc = keelson_error_set(KEELSON_ENOTFOUND,
				"JSON pointer \"%s\": no value at \"%s\"", pointer, tokens[i]);
			goto cleanup;
		}
	}
	*out = (cJSON *)node;
	rc = 0;

cleanup:
	keelson_json_pointer_tokens_free(tokens, count);
	return rc;
}

char *keelson_json_pointer_escape(const char *token)
{
	size_t extra = 0;
	for (const char *p = token; *p; p++)
		if (*p == '~' || *p == '/')
			extra++;
	char *escaped = malloc(strlen(token) + extra + 1);
	if (escaped == NULL)
		return NULL;
	char *w = escaped;
	for (const char *p = token; *p; p++) {
		if (*p == '~') {
			*w++ = '~';
			*w++ = '0';
		} else if (*p == '/') {
			*w++ = '~';
			*w++ = '1';
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return escaped;
}

char *keelson_json_pointer_append(const char *base, const char *token)
{
	char *escaped = keelson_json_pointer_escape(token);
	if (escaped == NULL)
		return NULL;
	size_t len = strlen(base) + 1 + strlen(escaped) + 1;
	char *result = malloc(len);
	if (result != NULL)
		snprintf(result, len, "%s/%s", base, escaped);
	free(escaped);
	return result;
}

char *keelson_json_pointer_append_index(const char *base, size_t index)
{
	char token[32];
	snprintf(token, sizeof(token), "%zu", index);
	return keelson_json_pointer_append(base, token);
}
