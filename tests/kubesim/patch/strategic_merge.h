/*
 * Strategic merge patch for built-in Kubernetes types, for PATCH with
 * Content-Type application/strategic-merge-patch+json (client-side
 * `kubectl apply`, `kubectl patch`, `kubectl edit`).
 *
 * Follows apimachinery pkg/util/strategicpatch (mergeMap / mergeSlice)
 * with the list semantics of merge_keys.h:
 *  - maps merge recursively; null deletes a member;
 *  - lists with a merge key merge item by item (matching items are merged,
 *    new ones added; the order is apimachinery's: patch items in patch or
 *    $setElementOrder order, each server-only item slotted in before the
 *    first patch item it preceded on the server, so a new container lands
 *    first), lists without one are replaced, primitive lists
 *    with strategy "merge" (finalizers) become a deduplicated union;
 *  - "$patch": "replace" (map or list item) replaces, "$patch": "delete"
 *    (list item with its merge key) removes matching items and on a map
 *    leaves it empty, as the apiserver does; "$patch": "merge" is rejected
 *    like the apiserver does (merge is a struct-tag strategy, not a
 *    directive);
 *  - "$setElementOrder/<list>" orders the result (items only on the server
 *    keep their relative place); "$retainKeys" clears members not listed;
 *    "$deleteFromPrimitiveList/<list>" removes values.
 * Directive keys never appear in the result. Values taken from the patch
 * as a whole are cleaned of null members and directives, as decoding into
 * the Go types does.
 *
 * Errors are KEELSON_EINVALID with the apiserver's message ("map: ... does
 * not contain declared merge key: name", "invalid patch format of
 * retainKeys", "unknown patch type: ..."); the HTTP layer answers them
 * with 400 BadRequest, as the apiserver does for malformed patches.
 */
#ifndef KS_PATCH_STRATEGIC_MERGE_H
#define KS_PATCH_STRATEGIC_MERGE_H

#include <cjson/cJSON.h>

/* Apply `patch` (a JSON object) to a copy of `doc` (a JSON object) of
 * `group` ("" for core) and `kind`. On success *out is a new tree owned by
 * the caller; on failure *out is untouched and `doc` is never modified. */
int ks_strategic_merge_apply(cJSON **out, const cJSON *doc, const cJSON *patch,
			     const char *group, const char *kind);

#endif
