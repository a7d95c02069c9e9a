/*
 * JSON Patch (RFC 6902) over cJSON trees, for PATCH requests with
 * Content-Type application/json-patch+json.
 *
 * kube-apiserver applies these with evanphx/json-patch; error messages
 * follow that library ("add operation does not apply: doc is missing path:
 * \"/spec/x\": missing value") so clients see the same text. The HTTP layer
 * turns a failure into the apiserver's response:
 *  - patch body not a JSON array of objects: 400 BadRequest;
 *  - KEELSON_ELIMIT (too many operations): 413 RequestEntityTooLarge;
 *  - KEELSON_EINVALID from applying: 422 with Status.message
 *    KS_JSON_PATCH_STATUS_MESSAGE, reason "Invalid" and one cause
 *    {"reason":"UnexpectedServerResponse","message":<our message>}
 *    (apiserver's errors.NewGenericServerResponse).
 *
 * Where evanphx/json-patch deviates from the RFC (negative array indexes,
 * a missing "value" read as null) this follows the RFC.
 */
#ifndef KS_PATCH_JSON_PATCH_H
#define KS_PATCH_JSON_PATCH_H

#include <cjson/cJSON.h>

#define KS_JSON_PATCH_STATUS_MESSAGE \
	"the server rejected our request due to an error in our request"

/* kube-apiserver's default maxJSONPatchOperations. */
#define KS_JSON_PATCH_MAX_OPERATIONS 10000

/* Apply `patch` (a JSON array of operation objects) to a copy of `doc`.
 * On success *out is a new tree owned by the caller (cJSON_Delete). On
 * failure *out is left untouched, `doc` is never modified, and the error is
 * KEELSON_EINVALID (malformed patch or an operation that does not apply),
 * KEELSON_ELIMIT (more than KS_JSON_PATCH_MAX_OPERATIONS operations) or
 * KEELSON_ENOMEM. */
int ks_json_patch_apply(cJSON **out, const cJSON *doc, const cJSON *patch);

#endif
