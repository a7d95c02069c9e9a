/*
 * Helpers shared by the kubesim controllers: a string-keyed hash map, cJSON
 * accessors, label selectors, owner references, pod predicates, conditions
 * and store wrappers with a uid precondition.
 */
#ifndef KUBESIM_CONTROLLERS_CTL_UTIL_H
#define KUBESIM_CONTROLLERS_CTL_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/kubesim/store.h"

/* ---- string-keyed hash map (values owned when free_value is set) ---- */

struct ks_ctl_map;

struct ks_ctl_map *ks_ctl_map_new(void (*free_value)(void *value));
void ks_ctl_map_free(struct ks_ctl_map *map);
void *ks_ctl_map_get(const struct ks_ctl_map *map, const char *key);
/* Insert or replace (the replaced value is freed). Returns 0 or
 * KEELSON_ENOMEM. */
int ks_ctl_map_put(struct ks_ctl_map *map, const char *key, void *value);
/* Remove and free the value; false when absent. */
bool ks_ctl_map_remove(struct ks_ctl_map *map, const char *key);
size_t ks_ctl_map_count(const struct ks_ctl_map *map);
/* A snapshot of the keys (so callers may modify the map while walking
 * them). Free with ks_ctl_keys_free. */
char **ks_ctl_map_keys(const struct ks_ctl_map *map, size_t *count);
void ks_ctl_keys_free(char **keys, size_t count);

/* ---- cJSON access ---- */

/* Child by a NULL-terminated list of member names; NULL when absent. */
const cJSON *ks_ctl_at(const cJSON *node, ...) __attribute__((sentinel));
const char *ks_ctl_str(const cJSON *node);       /* string value or NULL */
long long ks_ctl_num(const cJSON *node, long long dflt);
bool ks_ctl_true(const cJSON *node);
/* Object member `key`, created (replacing a non-object) when missing. */
cJSON *ks_ctl_obj(cJSON *parent, const char *key);
/* Replace-or-add members; `item` is taken over. */
void ks_ctl_set(cJSON *object, const char *key, cJSON *item);
void ks_ctl_set_str(cJSON *object, const char *key, const char *value);
void ks_ctl_set_num(cJSON *object, const char *key, double value);
/* metadata.labels[key] / metadata.annotations[key] or NULL. */
const char *ks_ctl_label(const cJSON *object, const char *key);
const char *ks_ctl_annotation(const cJSON *object, const char *key);
/* RFC 7386 merge of `patch` into `target` (in place). */
void ks_ctl_merge_patch(cJSON *target, const cJSON *patch);
/* "<ns>/<name>" into buf. */
void ks_ctl_key(char *buf, size_t size, const char *ns, const char *name);

/* ---- selectors and ownership ---- */

/* metav1.LabelSelector semantics: NULL selector matches nothing, an empty
 * one everything; matchLabels and matchExpressions (In, NotIn, Exists,
 * DoesNotExist) are ANDed. */
bool ks_ctl_selector_matches(const cJSON *selector, const cJSON *labels);
/* The ownerReference with controller=true, or NULL. */
const cJSON *ks_ctl_controller_ref(const cJSON *object);
/* True when `object` has a controller reference with this uid. */
bool ks_ctl_controlled_by(const cJSON *object, const char *uid);
/* {apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true} */
cJSON *ks_ctl_controller_ref_new(const cJSON *owner, const char *api_version,
	const char *kind);

/* ---- pods ---- */

const char *ks_ctl_pod_phase(const cJSON *pod);
bool ks_ctl_terminating(const cJSON *object); /* deletionTimestamp set */
bool ks_ctl_pod_ready(const cJSON *pod);      /* condition Ready=True */
bool ks_ctl_pod_running_ready(const cJSON *pod);
/* Ready for at least min_ready seconds at `now` (simulated). When not yet,
 * *available_at (optional) receives the time it will be. */
bool ks_ctl_pod_available(const cJSON *pod, long long min_ready, double now,
	double *available_at);
bool ks_ctl_pod_finished(const cJSON *pod); /* Succeeded or Failed */

/* Set condition `type` in status.conditions: lastTransitionTime changes
 * only when the status changes. `probe` adds lastProbeTime: null (pods),
 * `update_time` lastUpdateTime (deployments). */
void ks_ctl_set_condition(cJSON *status, const char *type, const char *value,
	const char *reason, const char *message, double now, bool probe,
	bool update_time);
/* The condition's status string or NULL. */
const char *ks_ctl_condition(const cJSON *status, const char *type);

/* ---- store wrappers ---- */

/* Apply `patch` (merge patch) to the object, failing with
 * KEELSON_ECONFLICT when its uid is not `uid` (when given). `subresource`
 * NULL or "status". */
int ks_ctl_patch(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, const char *name, const char *uid, const cJSON *patch,
	const char *subresource);
/* Replace the whole status of the object (uid precondition as above). */
int ks_ctl_put_status(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, const char *name, const char *uid, const cJSON *status);
/* Delete with a uid precondition; grace < 0 means the default. */
int ks_ctl_delete(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, const char *name, const char *uid,
	enum ks_propagation propagation, long long grace);
/* Objects of `type` in `ns` passing `filter`; free with cJSON_Delete. */
cJSON *ks_ctl_list(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, ks_filter_fn filter, void *payload);
/* Filter payload for ks_ctl_list: objects controlled by this uid. */
bool ks_ctl_filter_controlled(const cJSON *object, void *uid);

/* Free the store's thread-local Status of the last failed call. Controller
 * callbacks call it before returning: the store keeps that object per
 * thread and would otherwise leak it when the controller thread ends. */
void ks_ctl_release_status(void);

/* ---- hashing ---- */

/* FNV-1a 32-bit of the canonical JSON of `value` (plus a collision count
 * when > 0), encoded like Kubernetes' rand.SafeEncodeString, as used for
 * controller-revision-hash and pod-template-hash. buf >= 16 bytes. */
void ks_ctl_template_hash(const cJSON *value, long long collision, char *buf,
	size_t size);
/* `n` random characters from Kubernetes' name-suffix alphabet. */
void ks_ctl_random_suffix(char *buf, size_t n);

#endif
