/*
 * Small cJSON helpers shared by the patch engines. They exist because
 * cJSON 1.7.15's cJSON_InsertItemInArray fails for valid indexes and
 * cJSON_ReplaceItemViaPointer keeps the replacement's own member name.
 */
#ifndef KS_PATCH_JSON_UTIL_H
#define KS_PATCH_JSON_UTIL_H

#include <cjson/cJSON.h>

/* Insert `item` (ownership taken) before position `index` of `array`;
 * index == size appends. Returns 0, or KEELSON_ENOMEM with `item` freed. */
int ks_json_array_insert(cJSON *array, int index, cJSON *item);

/* Set member `key` of `object` to `value` (ownership taken), keeping the
 * member's position when it exists and appending it otherwise. Returns 0,
 * or KEELSON_ENOMEM with `value` freed. */
int ks_json_object_set(cJSON *object, const char *key, cJSON *value);

/* Replace `existing` (a child of `parent`, object or array) by `value`
 * (ownership taken), keeping its position and member name. */
int ks_json_replace_child(cJSON *parent, cJSON *existing, cJSON *value);

#endif
