/*
 * Parameters of a system, parsed against the table its plugin declares.
 * Checking reuses the layout loader's field checks, so a problem in
 * spec.parameters reads the same (file:line:column) whether the layout
 * loader or the host found it.
 */
#include "config.h"

#include "plugin/param_fields.h"
#include "plugin/plugin_host.h"

#include "core/error.h"
#include "layout/problems.h"
#include "layout/schema_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Owned memory behind the values: strings and lists. */
struct params_impl {
	cJSON *defaults; /* parsed default values, kept for their strings */
	char **lists;    /* one per value; pointer arrays */
	size_t count;
};

void keelson_plugin_params_free(struct keelson_plugin_params *params)
{
	if (params == NULL)
		return;
	struct params_impl *impl = params->impl;
	if (impl != NULL) {
		for (size_t i = 0; i < impl->count; i++)
			free(impl->lists[i]);
		free(impl->lists);
		cJSON_Delete(impl->defaults);
		free(impl);
	}
	free(params->values);
	free(params);
}

/* A default as the document would write it ("5m", "30", "true", "a,b"). */
static cJSON *default_node(const struct keelson_param *a)
{
	const char *text = a->default_value;
	switch (a->type) {
	case KEELSON_PARAM_INTEGER: {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (errno != 0 || *end != '\0' || end == text)
			return NULL;
		return cJSON_CreateNumber((double)v);
	}
	case KEELSON_PARAM_BOOLEAN:
		if (strcmp(text, "true") == 0)
			return cJSON_CreateTrue();
		if (strcmp(text, "false") == 0)
			return cJSON_CreateFalse();
		return NULL;
	case KEELSON_PARAM_STRING_LIST: {
		cJSON *list = cJSON_CreateArray();
		const char *p = text;
		while (list != NULL && *p) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			char *item = strndup(p, len);
			cJSON *s = item ? cJSON_CreateString(item) : NULL;
			free(item);
			if (s == NULL) {
				cJSON_Delete(list);
				return NULL;
			}
			cJSON_AddItemToArray(list, s);
			p += len + (comma != NULL);
		}
		return list;
	}
	default:
		return cJSON_CreateString(text);
	}
}

static int set_value(struct keelson_param_value *v, char **list_out, const struct keelson_param *a,
		     const cJSON *node)
{
	v->is_set = 1;
	switch (a->type) {
	case KEELSON_PARAM_STRING:
	case KEELSON_PARAM_ENUM:
		v->string = cJSON_GetStringValue(node);
		return v->string != NULL ? 0 : KEELSON_EINVALID;
	case KEELSON_PARAM_INTEGER:
		if (!cJSON_IsNumber(node))
			return KEELSON_EINVALID;
		v->integer = (long long)node->valuedouble;
		return 0;
	case KEELSON_PARAM_BOOLEAN:
		if (!cJSON_IsBool(node))
			return KEELSON_EINVALID;
		v->integer = cJSON_IsTrue(node) ? 1 : 0;
		return 0;
	case KEELSON_PARAM_DURATION: {
		unsigned long long seconds;
		if (!cJSON_IsString(node) || keelson_layout_duration_parse(&seconds, node->valuestring) != 0 ||
		    seconds > 100ULL * 365 * 86400)
			return KEELSON_EINVALID;
		v->string = node->valuestring;
		v->integer = (long long)seconds * 1000;
		return 0;
	}
	case KEELSON_PARAM_STRING_LIST: {
		size_t n = (size_t)cJSON_GetArraySize(node);
		const char **items = calloc(n + 1, sizeof(*items));
		if (items == NULL)
			return KEELSON_ENOMEM;
		size_t i = 0;
		const cJSON *item;
		cJSON_ArrayForEach(item, node) {
			if (!cJSON_IsString(item)) {
				free(items);
				return KEELSON_EINVALID;
			}
			items[i++] = item->valuestring;
		}
		*list_out = (char *)items;
		v->list = items;
		v->list_count = n;
		return 0;
	}
	case KEELSON_PARAM_END:
		break;
	}
	return KEELSON_EINVALID;
}

int keelson_plugin_params_parse(struct keelson_plugin_params **out, struct keelson_problem_list *problems,
				const struct keelson_plugin *plugin, const cJSON *parameters,
				const struct keelson_yaml_stream *stream, const char *file)
{
	*out = NULL;
	size_t n = 0;
	while (plugin->params != NULL && plugin->params[n].type != KEELSON_PARAM_END)
		n++;
	int rc = 0;
	struct keelson_field *fields = calloc(n + 1, sizeof(*fields));
	struct keelson_plugin_params *params = calloc(1, sizeof(*params));
	struct params_impl *impl = calloc(1, sizeof(*impl));
	if (fields == NULL || params == NULL || impl == NULL) {
		free(impl);
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory parsing parameters of plugin %s", plugin->name);
		goto cleanup;
	}
	params->impl = impl;
	params->values = calloc(n + 1, sizeof(*params->values));
	impl->lists = calloc(n + 1, sizeof(*impl->lists));
	impl->defaults = cJSON_CreateArray();
	if (params->values == NULL || impl->lists == NULL || impl->defaults == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory parsing parameters of plugin %s", plugin->name);
		goto cleanup;
	}
	impl->count = n;
	params->count = n;
	for (size_t i = 0; i < n; i++)
		keelson_plugin_param_field(&fields[i], &plugin->params[i]);

	char where[128];
	snprintf(where, sizeof(where), "spec.parameters of plugin %s", plugin->name);
	const cJSON *doc = parameters;
	cJSON *empty = NULL;
	if (doc == NULL || cJSON_IsNull(doc))
		doc = empty = cJSON_CreateObject();
	size_t before = problems->count;
	int found = doc ? keelson_layout_check_fields(problems, stream, file, doc, fields, where)
			: KEELSON_ENOMEM;
	if (found < 0) {
		cJSON_Delete(empty);
		rc = keelson_error_set(found, "out of memory checking parameters of plugin %s", plugin->name);
		goto cleanup;
	}
	for (size_t i = 0; i < n && problems->count == before; i++) {
		const struct keelson_param *a = &plugin->params[i];
		struct keelson_param_value *v = &params->values[i];
		v->name = a->name;
		v->type = a->type;
		const cJSON *node = cJSON_GetObjectItemCaseSensitive(doc, a->name);
		if (node == NULL && a->default_value != NULL) {
			cJSON *d = default_node(a);
			if (d == NULL) {
				keelson_problem_add(problems, KEELSON_PROBLEM_WRONG_TYPE, file ? file : "", 0, 0,
					"plugin %s declares default \"%s\" for parameter %s, which is not a valid %s; "
					"fix the plugin", plugin->name, a->default_value, a->name,
					a->type == KEELSON_PARAM_INTEGER ? "integer" : "value");
				break;
			}
			cJSON_AddItemToArray(impl->defaults, d);
			node = d;
		}
		if (node == NULL)
			continue;
		int vrc = set_value(v, &impl->lists[i], a, node);
		if (vrc == KEELSON_ENOMEM) {
			cJSON_Delete(empty);
			rc = keelson_error_set(vrc, "out of memory parsing parameters of plugin %s", plugin->name);
			goto cleanup;
		}
		if (vrc != 0)
			keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file ? file : "", node, 0,
				"spec.parameters.%s of plugin %s has a value this plugin cannot use", a->name,
				plugin->name);
	}
	cJSON_Delete(empty);
	if (problems->count != before) {
		rc = keelson_error_set(KEELSON_EINVALID, "spec.parameters of plugin %s: %zu problem(s)",
				       plugin->name, problems->count - before);
		goto cleanup;
	}
	*out = params;
	params = NULL;
cleanup:
	free(fields);
	keelson_plugin_params_free(params);
	return rc;
}
