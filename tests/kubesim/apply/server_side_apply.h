/*
 * Server-side apply and managedFields bookkeeping for kubesim.
 *
 * Semantics follow structured-merge-diff as used by kube-apiserver v1.32
 * (reference/kubernetes-api-behaviour.md S3): the applied configuration is
 * merged into the live object; fields the manager applied last time and
 * now omits are removed unless another manager owns them; changing a value
 * another manager owns is a conflict unless `force`; updates (POST, PUT,
 * non-apply PATCH) never conflict, they take ownership of what they change.
 *
 * No HTTP here: the kubesim PATCH handler calls ks_server_side_apply() for
 * application/apply-patch+yaml, and every other write calls
 * ks_managed_fields_update() (or ks_managed_fields_record_update()) on the
 * object it is about to store.
 */
#ifndef KS_APPLY_SERVER_SIDE_APPLY_H
#define KS_APPLY_SERVER_SIDE_APPLY_H

#include <cjson/cJSON.h>
#include <stdbool.h>

struct ks_apply_options {
	const char *manager;     /* fieldManager; required */
	bool force;              /* ?force=true */
	const char *api_version; /* "apps/v1", recorded in the entry */
	const char *group;       /* "" for the core group */
	const char *kind;        /* "StatefulSet" */
	const cJSON *crd_schema; /* openAPIV3Schema of the CR version, NULL for built-ins */
	const char *subresource; /* NULL or "status" */
	const char *now;         /* RFC 3339, e.g. "2025-01-02T03:04:05Z" */
	/* A custom resource without the status subresource: `status` is an
	 * ordinary field there, applied and owned like spec. Leave false for
	 * built-ins and CRs with subresources.status. */
	bool status_is_ordinary;
	/* The conversion the API server applies to the merged object before
	 * storing it (a Secret's stringData moved into data), or NULL. Run
	 * before the no-op comparison: an apply whose converted result equals
	 * the live object changes nothing, managedFields times included. */
	void (*convert)(cJSON *object);
};

/*
 * Apply `applied` (the request body, already parsed from YAML/JSON) to
 * `live` (NULL when the object does not exist: apply creates it).
 *
 * On success *out_object is the object to store (caller deletes), with
 * metadata.managedFields updated. When nothing changes it is a copy of
 * `live` that compares equal to it, managedFields and their times
 * included, so the caller can skip the write and the resourceVersion bump.
 * Server-set metadata in `applied` (resourceVersion, uid,
 * creationTimestamp, generation, ...) is ignored; the caller checks
 * resourceVersion as a precondition before calling. `status` is ignored
 * unless options->subresource is "status" (then only `status` is taken).
 *
 * Errors, each with *out_conflict_status set to the complete Status body
 * to send (caller deletes) and the message in keelson_error_last():
 *   KEELSON_ECONFLICT  409 Conflict, details.causes[] one per field
 *                      (reason FieldManagerConflict), message as the API
 *                      server words it.
 *   KEELSON_EINVALID   400 BadRequest for metadata.managedFields in the
 *                      request; 500 "failed to create typed patch object"
 *                      for an associative list item without its key or
 *                      with a duplicate key (what kube-apiserver answers).
 * Other negative codes (bad options, KEELSON_ENOMEM, KEELSON_ELIMIT) leave
 * *out_conflict_status NULL.
 */
int ks_server_side_apply(cJSON **out_object, cJSON **out_conflict_status, const cJSON *live,
			 const cJSON *applied, const struct ks_apply_options *options);

/*
 * Record a non-apply write (POST, PUT, merge/JSON/strategic PATCH) in
 * new_object's metadata.managedFields: the fields that differ from
 * `old_object` (NULL on create) go to the Update entry of
 * (manager, api_version, subresource) and are taken away from every other
 * entry; removed fields are taken away from everyone. Entries left empty
 * are dropped; the entry's time is `now` only when it gained fields.
 *
 * managedFields in new_object: `[{}]` clears them first, then this
 * write's changes are recorded on the empty list; other non-empty valid
 * ones replace the stored ones (that is how kubectl migrates
 * client-side-apply ownership); absent, `[]` or invalid ones mean
 * old_object's.
 *
 * options->force is unused. group, kind and crd_schema give the list and
 * map semantics, as for apply.
 */
int ks_managed_fields_update(cJSON *new_object, const cJSON *old_object,
			     const struct ks_apply_options *options);

/* The same for callers without type details: group from api_version, kind
 * from new_object, no CRD schema (custom resource lists counted as atomic). */
int ks_managed_fields_record_update(cJSON *new_object, const cJSON *old_object, const char *manager,
				    const char *api_version, const char *subresource,
				    const char *now);

/* True when `object` asks for its managedFields to be cleared
 * (metadata.managedFields is [{}]; an empty list does not clear). */
bool ks_managed_fields_is_reset(const cJSON *object);

/* Remove metadata.managedFields from `object` (kubectl diff and
 * get without --show-managed-fields do this client-side; tests use it). */
void ks_managed_fields_strip(cJSON *object);

#endif
