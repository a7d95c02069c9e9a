/*
 * Canonical JSON: object members sorted by key (bytewise), no insignificant
 * whitespace, numbers in a fixed format (integers without exponent up to
 * 2^53, others with the shortest form that round-trips). The same value
 * always gives the same bytes, so the output can be hashed and compared.
 * A key written twice in one object (cJSON keeps both, the API server would
 * not send it, a hostile peer might) counts once with its last value, as
 * Kubernetes reads it; canonical form and equality agree on that.
 */
#ifndef KEELSON_JSON_CANONICAL_H
#define KEELSON_JSON_CANONICAL_H

#include <cjson/cJSON.h>

/* Returns a newly allocated NUL-terminated string (free with free()), or
 * NULL with the error recorded (non-finite numbers are KEELSON_EINVALID). */
char *keelson_json_canonical(const cJSON *value);

/* Deep equality by value: object member order is ignored, numbers compared
 * numerically, cJSON_Raw nodes compared by their text. */
int keelson_json_equal(const cJSON *a, const cJSON *b);

#endif
