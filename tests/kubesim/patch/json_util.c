#include "config.h"

#include "json_util.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int set_member_name(cJSON *item, const char *name)
{
	char *copy = strdup(name);
	if (!copy)
		return -1;
	if (!(item->type & cJSON_StringIsConst))
		free(item->string);
	item->type &= ~cJSON_StringIsConst;
	item->string = copy;
	return 0;
}

int ks_json_array_insert(cJSON *array, int index, cJSON *item)
{
	int size = cJSON_GetArraySize(array);
	if (index >= size) {
		cJSON_AddItemToArray(array, item);
		return 0;
	}
	/* Move the tail aside, append, then put the tail back. */
	cJSON *tail = cJSON_CreateArray();
	if (!tail) {
		cJSON_Delete(item);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory inserting into a JSON array");
	}
	for (int i = index; i < size; i++)
		cJSON_AddItemToArray(tail, cJSON_DetachItemFromArray(array, index));
	cJSON_AddItemToArray(array, item);
	while (tail->child)
		cJSON_AddItemToArray(array, cJSON_DetachItemViaPointer(tail, tail->child));
	cJSON_Delete(tail);
	return 0;
}

int ks_json_replace_child(cJSON *parent, cJSON *existing, cJSON *value)
{
	if (existing->string && set_member_name(value, existing->string) < 0) {
		cJSON_Delete(value);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory replacing a JSON value");
	}
	if (!existing->string && value->string) {
		if (!(value->type & cJSON_StringIsConst))
			free(value->string);
		value->string = NULL;
		value->type &= ~cJSON_StringIsConst;
	}
	cJSON_ReplaceItemViaPointer(parent, existing, value);
	return 0;
}

int ks_json_object_set(cJSON *object, const char *key, cJSON *value)
{
	cJSON *existing = cJSON_GetObjectItemCaseSensitive(object, key);
	if (existing)
		return ks_json_replace_child(object, existing, value);
	if (!cJSON_AddItemToObject(object, key, value)) {
		cJSON_Delete(value);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory setting a JSON member");
	}
	return 0;
}
