/*
 * Built-in resource types, their defaulting (M6) and resource types derived
 * from CustomResourceDefinitions. Internal to kubesim.
 */
#ifndef KUBESIM_TYPES_H
#define KUBESIM_TYPES_H

#include <cjson/cJSON.h>

#include "tests/kubesim/store.h"

/* Register every built-in type (called by ks_store_new). */
int ks_builtin_types_register(struct ks_store *store);

/* Register the served storage version of `crd` (a CustomResourceDefinition
 * object) as a custom resource type. Returns 0, or KEELSON_EINVALID with a
 * message naming the missing field. */
int ks_crd_register_types(struct ks_store *store, const cJSON *crd);

/* Update validation of immutable fields (M14 StatefulSet spec, Pod spec).
 * Returns 0, or fills `field` and `detail` (the part after "<field>: ") and
 * returns KEELSON_EINVALID. */
int ks_validate_update(const struct ks_resource_type *type, const cJSON *old_object,
	const cJSON *new_object, char *field, size_t field_size, char *detail,
	size_t detail_size);

/* Pod spec defaults (also used for templates). */
void ks_defaults_pod_spec(cJSON *spec);

#endif
