/*
 * Readiness as the loop sees it, published for /readyz: ready when the
 * first sync succeeded and the last Git poll and the last Kubernetes API
 * contact worked. The loop sets; the HTTP thread reads through
 * keelson_readiness_check, which has the keelson_http_ready_fn shape:
 *     opts.ready = keelson_readiness_check; opts.ready_payload = readiness;
 */
#ifndef KEELSON_HTTP_READINESS_H
#define KEELSON_HTTP_READINESS_H

#include <stdbool.h>
#include <stddef.h>

struct keelson_readiness;

int keelson_readiness_new(struct keelson_readiness **out);
void keelson_readiness_free(struct keelson_readiness *r); /* accepts NULL */

/* A cycle converged at least once (never reset: a later failed cycle is
 * reported through git/api, not by going back to "starting"). */
void keelson_readiness_set_synced(struct keelson_readiness *r);

/* Outcome of the last Git poll / API contact; `why` (copied, may be NULL)
 * is shown by /readyz when not ok. Keep secrets out of it. */
void keelson_readiness_set_git(struct keelson_readiness *r, bool ok, const char *why);
void keelson_readiness_set_api(struct keelson_readiness *r, bool ok, const char *why);

/* keelson_http_ready_fn: true when ready, else the reason in `reason`. */
bool keelson_readiness_check(void *payload, char *reason, size_t reason_size);

#endif
