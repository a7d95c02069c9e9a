/*
 * Watch-based cache of the objects keelson manages.
 *
 * For each resource type added, a thread lists the type (paged) and then
 * watches it from the list's resourceVersion, keeping a hash table of the
 * objects keyed by (group, resource, namespace, name). Reads are served
 * from memory and make no request, so a reconcile cycle with nothing to do
 * costs nothing on the API server (DESIGN.md principle 6).
 *
 * "Only those": a label selector (keelson's managed-by label) and an
 * optional namespace restrict what is listed and watched.
 *
 * Idle cost: a watch stays open for watch_timeout_seconds x [1, 2) (30 to
 * 60 minutes by default, what the API server picks for a watch without a
 * timeout) and asks for bookmarks, so re-opening it resumes from a recent
 * resourceVersion even when no managed object changed (no 410, no relist).
 * Re-opening a watch is the only request an idle cache makes.
 *
 * Failure handling, as client-go's reflector:
 *   - the server ends a watch (timeoutSeconds): watch again from the last
 *     resourceVersion seen (events or bookmarks), no relist;
 *   - 410 Expired, at request time or as an ERROR event: relist, then watch;
 *   - a dropped connection or any other error: back off (exponential, with
 *     jitter) and watch again from the last resourceVersion.
 *
 * Memory: objects are kept in a compact, lossless binary form (a seventh
 * of a cJSON tree for a small ConfigMap, in one allocation) and decoded
 * into a fresh cJSON tree on each read, so a read costs about what a copy
 * did; see keelson_kube_cache_encode.
 *
 * Thread safety: all functions may be called from any thread; reads take a
 * per-type read lock and return copies.
 */
#ifndef KEELSON_KUBE_CACHE_H
#define KEELSON_KUBE_CACHE_H

#include "kube/kube_client.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct keelson_kube_cache;

#define KEELSON_KUBE_CACHE_OPTIONS_VERSION 1

struct keelson_kube_cache_options {
	unsigned version;               /* KEELSON_KUBE_CACHE_OPTIONS_VERSION */
	const char *label_selector;     /* e.g. "app.kubernetes.io/managed-by=keelson", or NULL */
	const char *namespace;          /* NULL: all namespaces */
	unsigned watch_timeout_seconds; /* default 1800, or $KEELSON_KUBE_WATCH_TIMEOUT;
	                                   each watch asks for this times [1, 2) */
	unsigned page_size;             /* default 500 */
	unsigned backoff_initial_ms;    /* default 500 */
	unsigned backoff_max_ms;        /* default 30000 */
};

void keelson_kube_cache_options_init(struct keelson_kube_cache_options *opts);

/* Create an empty cache over `client` (borrowed: it must outlive the
 * cache). Options are copied. */
int keelson_kube_cache_new(struct keelson_kube_cache **out, struct keelson_kube_client *client,
	const struct keelson_kube_cache_options *opts);

/* Start caching a type (resolved through discovery: one request unless
 * known). Adding a type twice is a no-op. */
int keelson_kube_cache_add(struct keelson_kube_cache *cache, const char *api_version, const char *kind);

/* Wait until every added type has been listed once. KEELSON_ETIMEOUT after
 * `timeout_ms` (the message names a type not yet synced and its last
 * error). */
int keelson_kube_cache_wait_synced(struct keelson_kube_cache *cache, long timeout_ms);

/* A copy of the cached object (caller frees with cJSON_Delete).
 * KEELSON_ENOTFOUND when absent; KEELSON_EINVALID when the type is not
 * cached (reading it would need a request: add it first). `ns` is ignored
 * for cluster-scoped types. */
int keelson_kube_cache_get(cJSON **out, struct keelson_kube_cache *cache, const char *api_version,
	const char *kind, const char *ns, const char *name);

/* A JSON array of copies of the cached objects of a type, in `ns` (NULL:
 * all namespaces), sorted by namespace then name. */
int keelson_kube_cache_list(cJSON **out, struct keelson_kube_cache *cache, const char *api_version,
	const char *kind, const char *ns);

/* Increases by at least one on every change to the cached objects. */
uint64_t keelson_kube_cache_generation(struct keelson_kube_cache *cache);

/* Wait until the generation is greater than `since`. 0, or
 * KEELSON_ETIMEOUT after `timeout_ms`. */
int keelson_kube_cache_wait_change(struct keelson_kube_cache *cache, uint64_t since, long timeout_ms);

struct keelson_kube_cache_stats {
	unsigned long lists;     /* complete lists (initial and relists) */
	unsigned long watches;   /* watch requests started */
	unsigned long events;    /* ADDED/MODIFIED/DELETED applied */
	unsigned long errors;    /* failed lists and watches */
	size_t objects;
	size_t bytes;            /* held by the cached objects' compact forms and keys */
};

/* Totals over all types. */
void keelson_kube_cache_stats(struct keelson_kube_cache *cache, struct keelson_kube_cache_stats *out);

/* The compact form the cache keeps each object in, exposed for tests and
 * measurements. Lossless: decoding gives a tree equal to `object` member
 * for member, in order (cJSON_Compare), every number the same double.
 * *out is malloc'd (caller frees). KEELSON_ELIMIT past 1,000 levels of
 * nesting (cJSON's parse limit), KEELSON_ENOMEM. */
int keelson_kube_cache_encode(unsigned char **out, size_t *out_len, const cJSON *object);

/* A new cJSON tree (caller frees with cJSON_Delete) from bytes made by
 * keelson_kube_cache_encode in this process. */
int keelson_kube_cache_decode(cJSON **out, const unsigned char *data, size_t len);

/* Stop all watches (at once: keelson_kube_watch_wake) and free. Accepts
 * NULL. */
void keelson_kube_cache_free(struct keelson_kube_cache *cache);

#endif
