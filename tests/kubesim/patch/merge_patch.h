/*
 * JSON Merge Patch (RFC 7386), for PATCH with Content-Type
 * application/merge-patch+json (kubectl scale, kubectl apply on custom
 * resources) and for computing diffs between two documents.
 */
#ifndef KS_PATCH_MERGE_PATCH_H
#define KS_PATCH_MERGE_PATCH_H

#include <cjson/cJSON.h>

/* Apply `patch` to a copy of `doc`: objects merge recursively, a null
 * member deletes, anything else (arrays included) replaces. On success *out
 * is a new tree owned by the caller; on failure *out is untouched. `doc`
 * may be NULL (treated as absent: the result is the patch with nulls
 * removed). Returns 0 or KEELSON_EINVALID / KEELSON_ENOMEM. */
int ks_merge_patch_apply(cJSON **out, const cJSON *doc, const cJSON *patch);

/* The merge patch that turns `original` into `modified`: members removed
 * become null, changed members are recursed into when both sides are
 * objects and replaced otherwise. Equal documents give {}. When either side
 * is not an object the patch is `modified` itself. Merge patches cannot set
 * a member to null, so a null in `modified` comes out as a deletion.
 * Returns 0 with *out owned by the caller. */
int ks_merge_patch_create(cJSON **out, const cJSON *original, const cJSON *modified);

#endif
