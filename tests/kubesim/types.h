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

/* Pod spec defaults (also used for templates). */
void ks_defaults_pod_spec(cJSON *spec);

#endif
