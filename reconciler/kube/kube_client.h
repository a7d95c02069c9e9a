/*
 * Kubernetes API client over libcurl.
 *
 * One client per API server, shared by all threads. Requests go through:
 *   - a pool of curl easy handles (each keeps its connections alive; a
 *     handle is used by one thread at a time) with HTTP/2 over TLS where the
 *     server offers it, and DNS and TLS sessions shared between handles;
 *   - a client-side token bucket (qps, burst), watches included;
 *   - retries with exponential backoff on 429 and 5xx, honouring
 *     Retry-After (POST, which is not idempotent, is retried on 429 and on
 *     failures to connect only);
 *   - a timeout on every request (watches: their timeoutSeconds plus a
 *     margin, and a stall detector).
 *
 * Errors are keelson codes with the server's Status message in
 * keelson_error_last()->message:
 *   404                       KEELSON_ENOTFOUND
 *   409 reason AlreadyExists  KEELSON_EEXISTS
 *   409 other (Conflict)      KEELSON_ECONFLICT
 *   400, 415, 422             KEELSON_EINVALID
 *   410 (Expired, Gone)       KEELSON_KUBE_EEXPIRED (= KEELSON_ELIMIT): the
 *                             resourceVersion or continue token is too old;
 *                             list again from scratch
 *   401, 403                  KEELSON_ERROR, the message says what to check
 *   429, 5xx after retries    KEELSON_EUNAVAILABLE
 *   connection failures       KEELSON_EUNAVAILABLE naming the server URL
 *   TLS verification failure  KEELSON_ERROR naming the CA setting to check
 *   request timeout           KEELSON_ETIMEOUT
 * Functions taking a `struct keelson_kube_status *status` fill it (when not
 * NULL) with the HTTP code and the Status reason, so a caller can tell
 * apart cases that share a keelson code.
 *
 * Tokens never reach logs or error messages.
 */
#ifndef KEELSON_KUBE_CLIENT_H
#define KEELSON_KUBE_CLIENT_H

#include "core/error.h"
#include "kube/kube_config.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Returned when the server answers 410 (HTTP or as a watch ERROR event). */
#define KEELSON_KUBE_EEXPIRED KEELSON_ELIMIT

/* The field manager keelson applies with. */
#define KEELSON_KUBE_FIELD_MANAGER "keelson"

struct keelson_kube_client;

#define KEELSON_KUBE_CLIENT_OPTIONS_VERSION 1

struct keelson_kube_client_options {
	unsigned version;           /* KEELSON_KUBE_CLIENT_OPTIONS_VERSION */
	double qps;                 /* default 50; <= 0 disables the limiter */
	unsigned burst;             /* default 100 */
	unsigned max_retries;       /* retries after the first attempt; default 5 */
	long timeout_ms;            /* whole request, default 30000 */
	long connect_timeout_ms;    /* default 10000 */
	unsigned backoff_initial_ms; /* default 250 */
	unsigned backoff_max_ms;    /* default 16000; Retry-After is capped at 60 s */
	size_t max_response_bytes;  /* default 256 MiB (a big list) */
	const char *user_agent;     /* default "keelson/VERSION" */
	unsigned token_refresh_ms;  /* re-read a token file this often; default 60000 */
	/* Replies of pods and services through the API server's proxy
	 * (keelson_kube_proxy: plugin probes). Smaller than max_response_bytes:
	 * a hostile pod must not make keelson allocate 256 MiB. Default
	 * KEELSON_KUBE_DEFAULT_MAX_PROXY_RESPONSE. */
	size_t max_proxy_response_bytes;
};

/* Limits on what the API server (or a pod behind its proxy) sends; a reply
 * over a limit is refused with KEELSON_ELIMIT, except an error body, which
 * is cut to its first KEELSON_KUBE_ERROR_BODY_MAX bytes. */
#define KEELSON_KUBE_DEFAULT_MAX_RESPONSE (256u * 1024u * 1024u)
#define KEELSON_KUBE_DEFAULT_MAX_PROXY_RESPONSE (16u * 1024u * 1024u)
#define KEELSON_KUBE_DEFAULT_MAX_EVENT (16u * 1024u * 1024u)
#define KEELSON_KUBE_ERROR_BODY_MAX (1024u * 1024u)
#define KEELSON_KUBE_TOKEN_MAX_BYTES (64u * 1024u)

void keelson_kube_client_options_init(struct keelson_kube_client_options *opts);

/* Create a client. The configuration is copied. `opts` NULL: defaults.
 * Nothing is sent until the first request. */
int keelson_kube_client_new(struct keelson_kube_client **out, const struct keelson_kube_config *cfg,
	const struct keelson_kube_client_options *opts);

void keelson_kube_client_free(struct keelson_kube_client *client);

/* The server URL ("https://host:port") and the context's namespace. */
const char *keelson_kube_client_server(const struct keelson_kube_client *client);
const char *keelson_kube_client_namespace(const struct keelson_kube_client *client);

/* Number of HTTP requests sent (attempts, retries and watches included). */
unsigned long keelson_kube_client_request_count(const struct keelson_kube_client *client);

/* Observer of every HTTP request any client sends (each attempt, retries
 * and watches included), for metrics: method, path with query, content
 * type of the body sent (NULL without one), HTTP code (0: no answer) and
 * duration in seconds (a watch: how long it stayed open). Process-wide;
 * called from the thread that sent the request, so it must be
 * thread-safe and quick. NULL removes it. */
typedef void (*keelson_kube_observer_fn)(const char *method, const char *path, const char *content_type,
	long http_code, double seconds);
void keelson_kube_set_observer(keelson_kube_observer_fn fn);

struct keelson_kube_status {
	long http_code;   /* 0 when no response was received */
	char reason[64];  /* Status.reason ("NotFound", "Expired", ...), or "" */
};

/* --- Raw requests ------------------------------------------------------ */

#define KEELSON_KUBE_REQUEST_VERSION 1

struct keelson_kube_request {
	unsigned version;         /* KEELSON_KUBE_REQUEST_VERSION */
	const char *method;       /* "GET", "POST", ... */
	const char *path;         /* absolute path with query, e.g. "/api/v1/pods?limit=5" */
	const char *content_type; /* of the body; NULL: application/json when there is a body */
	const char *body;
	size_t body_len;
	const char *accept;       /* NULL: application/json */
	long timeout_ms;          /* 0: the client's */
	size_t max_response_bytes; /* 0: the client's max_response_bytes */
};

struct keelson_kube_response {
	long http_code;
	char *body;               /* NUL-terminated; may be "" */
	size_t body_len;
	char *content_type;       /* or NULL */
};

/* Send a request (rate limited, retried). Returns 0 for 2xx. For other
 * codes returns the mapped error and still fills `out` with the last
 * response, so a caller can read the body (its first
 * KEELSON_KUBE_ERROR_BODY_MAX bytes). A 2xx body over the response limit
 * is KEELSON_ELIMIT. Free with
 * keelson_kube_response_dispose() in both cases. */
int keelson_kube_request(struct keelson_kube_response *out, struct keelson_kube_client *client,
	const struct keelson_kube_request *req);

void keelson_kube_response_dispose(struct keelson_kube_response *resp);

/* Turn an HTTP code and a response body into the keelson error (sets the
 * message; returns the code). `what` names the request for the message,
 * e.g. "GET /api/v1/namespaces/x/pods/y". Exposed for tests and for
 * watch ERROR events (code from the Status). */
int keelson_kube_error_from_status(struct keelson_kube_status *status, long http_code,
	const char *body, size_t body_len, const char *what, const char *server);

/* --- Discovery --------------------------------------------------------- */

struct keelson_kube_resource {
	char group[254];     /* "" for the core group */
	char version[64];
	char resource[254];  /* plural, e.g. "statefulsets" */
	char kind[254];
	bool namespaced;
};

/* Map apiVersion ("v1", "apps/v1") and kind to a resource. Served from the
 * discovery cache; an unknown kind (or group-version) refetches that
 * group-version once, so a CRD created a moment ago is found.
 * KEELSON_ENOTFOUND when the server does not serve it. */
int keelson_kube_resolve(struct keelson_kube_resource *out, struct keelson_kube_client *client,
	const char *api_version, const char *kind);

/* Forget all discovery results (e.g. after deleting CRDs). */
void keelson_kube_discovery_invalidate(struct keelson_kube_client *client);

/* Path of a collection or object: "/apis/apps/v1/namespaces/ns/statefulsets[/name]".
 * `ns` is ignored for cluster-scoped resources; NULL or "" for a namespaced
 * resource means all namespaces. `name` NULL: the collection. Names and
 * namespaces are percent-encoded. Caller frees. */
char *keelson_kube_resource_path(const struct keelson_kube_resource *res, const char *ns, const char *name);

/* --- Object verbs ------------------------------------------------------ */

/* GET one object. *out is the object (caller frees with cJSON_Delete). */
int keelson_kube_get(cJSON **out, struct keelson_kube_client *client, const char *api_version,
	const char *kind, const char *ns, const char *name);

#define KEELSON_KUBE_LIST_OPTIONS_VERSION 1

struct keelson_kube_list_options {
	unsigned version;           /* KEELSON_KUBE_LIST_OPTIONS_VERSION */
	const char *label_selector; /* or NULL */
	const char *field_selector; /* or NULL */
	unsigned page_size;         /* limit per request; default 500 */
	size_t max_items;           /* more items fail with KEELSON_ERROR; default 1,000,000 */
};

void keelson_kube_list_options_init(struct keelson_kube_list_options *opts);

/* List a collection, following `continue` tokens. *out is a List object
 * {"kind":"<Kind>List","apiVersion":...,"metadata":{"resourceVersion":...},
 * "items":[...]} with every item carrying kind and apiVersion. `ns` NULL:
 * all namespaces. An expired continue token (410) restarts the list once,
 * then fails with KEELSON_KUBE_EEXPIRED. */
int keelson_kube_list(cJSON **out, struct keelson_kube_client *client, const char *api_version,
	const char *kind, const char *ns, const struct keelson_kube_list_options *opts);

#define KEELSON_KUBE_WRITE_OPTIONS_VERSION 1

struct keelson_kube_write_options {
	unsigned version;           /* KEELSON_KUBE_WRITE_OPTIONS_VERSION */
	bool dry_run;               /* ?dryRun=All */
	bool force;                 /* apply only: take ownership on conflicts */
	const char *field_manager;  /* NULL: "keelson" */
	const char *subresource;    /* patch only: "status", "scale", or NULL */
};

void keelson_kube_write_options_init(struct keelson_kube_write_options *opts);

/* POST `obj` to its collection. Namespace from metadata.namespace (or the
 * client's namespace for namespaced kinds without one). */
int keelson_kube_create(cJSON **out, struct keelson_kube_client *client, const cJSON *obj,
	const struct keelson_kube_write_options *opts);

/* Server-side apply: PATCH application/apply-patch+yaml with
 * fieldManager=keelson (or opts->field_manager) and force=false unless
 * opts->force. Creates the object when missing. */
int keelson_kube_apply(cJSON **out, struct keelson_kube_client *client, const cJSON *obj,
	const struct keelson_kube_write_options *opts);

enum keelson_kube_patch_type {
	KEELSON_KUBE_PATCH_MERGE = 0,     /* application/merge-patch+json */
	KEELSON_KUBE_PATCH_JSON = 1,      /* application/json-patch+json */
	KEELSON_KUBE_PATCH_STRATEGIC = 2, /* application/strategic-merge-patch+json */
};

int keelson_kube_patch(cJSON **out, struct keelson_kube_client *client, const char *api_version,
	const char *kind, const char *ns, const char *name, enum keelson_kube_patch_type type,
	const char *patch, const struct keelson_kube_write_options *opts);

enum keelson_kube_propagation {
	KEELSON_KUBE_PROPAGATION_DEFAULT = 0, /* the server's default for the kind */
	KEELSON_KUBE_PROPAGATION_BACKGROUND,
	KEELSON_KUBE_PROPAGATION_FOREGROUND,
	KEELSON_KUBE_PROPAGATION_ORPHAN,
};

#define KEELSON_KUBE_DELETE_OPTIONS_VERSION 1

struct keelson_kube_delete_options {
	unsigned version;                       /* KEELSON_KUBE_DELETE_OPTIONS_VERSION */
	enum keelson_kube_propagation propagation;
	long grace_period_seconds;              /* < 0: the object's default */
	const char *precondition_uid;           /* delete only this incarnation, or NULL */
	const char *precondition_resource_version;
	bool dry_run;
};

void keelson_kube_delete_options_init(struct keelson_kube_delete_options *opts);

/* DELETE with a DeleteOptions body. KEELSON_ENOTFOUND when already gone. */
int keelson_kube_delete(struct keelson_kube_client *client, const char *api_version, const char *kind,
	const char *ns, const char *name, const struct keelson_kube_delete_options *opts);

/* --- Pod and service proxy --------------------------------------------- */

enum keelson_kube_proxy_target {
	KEELSON_KUBE_PROXY_POD = 0,
	KEELSON_KUBE_PROXY_SERVICE = 1,
};

/* Call `method` `path` (starting with '/', may hold a query) on a pod or
 * service through the API server's proxy:
 * /api/v1/namespaces/NS/{pods|services}/NAME[:PORT]/proxy/PATH.
 * `port` NULL or "" for the default port, else a number or a port name
 * ("metrics"). The backend's own status is in out->http_code; a
 * non-2xx is returned as an error like any other request (callers probing
 * a gate treat every error as "not safe"). */
int keelson_kube_proxy(struct keelson_kube_response *out, struct keelson_kube_client *client,
	enum keelson_kube_proxy_target target, const char *ns, const char *name, const char *port,
	const char *method, const char *path, const char *body, size_t body_len, long timeout_ms);

/* --- Watch ------------------------------------------------------------- */

enum keelson_kube_event_type {
	KEELSON_KUBE_EVENT_ADDED = 0,
	KEELSON_KUBE_EVENT_MODIFIED,
	KEELSON_KUBE_EVENT_DELETED,
	KEELSON_KUBE_EVENT_BOOKMARK,
};

/* Called for each event, on the watching thread; `object` is borrowed for
 * the call. A non-zero return stops the watch and is returned by
 * keelson_kube_watch. */
typedef int (*keelson_kube_watch_cb)(enum keelson_kube_event_type type, const cJSON *object, void *payload);

#define KEELSON_KUBE_WATCH_OPTIONS_VERSION 1

struct keelson_kube_watch_options {
	unsigned version;              /* KEELSON_KUBE_WATCH_OPTIONS_VERSION */
	const char *label_selector;
	const char *field_selector;
	const char *resource_version;  /* resume after this; NULL: from now, with
	                                  synthetic ADDED for existing objects */
	unsigned timeout_seconds;      /* server closes the watch; default 300 */
	bool allow_bookmarks;          /* default true */
	atomic_bool *stop;             /* set to true to end the watch soon, or NULL */
	size_t max_event_bytes;        /* default 16 MiB */
};

void keelson_kube_watch_options_init(struct keelson_kube_watch_options *opts);

/* Watch a collection until the server ends it (returns 0), `*stop` is set
 * (returns 0), the callback returns non-zero (that value), or an error:
 * an ERROR event or HTTP 410 -> KEELSON_KUBE_EEXPIRED (list again);
 * a dropped connection -> KEELSON_EUNAVAILABLE. The resourceVersion of the
 * last event seen is copied to `last_rv` (size `last_rv_size`, may be
 * NULL) so the caller can resume. */
int keelson_kube_watch(struct keelson_kube_client *client, const struct keelson_kube_resource *res,
	const char *ns, const struct keelson_kube_watch_options *opts, keelson_kube_watch_cb cb,
	void *payload, char *last_rv, size_t last_rv_size);

/* Make the watches running with stop flag `stop` (NULL: every watch of the
 * client) look at their flag now rather than within a second: set the flag
 * first. Safe from any thread. */
void keelson_kube_watch_wake(struct keelson_kube_client *client, const atomic_bool *stop);

/* --- Concurrent apply ----------------------------------------------------- */

struct keelson_kube_apply_item {
	const cJSON *object;                            /* in */
	const struct keelson_kube_write_options *opts;  /* in; NULL: defaults */
	int rc;                                         /* out: 0 or a keelson code */
	cJSON *result;                                  /* out: the object as returned; caller frees */
	char error[1024];                               /* out: the message when rc < 0 */
};

/* Server-side apply of `count` independent objects with up to
 * `concurrency` requests in flight (worker threads over the handle pool;
 * each request goes through the rate limiter and the retries of
 * keelson_kube_apply). The order among the items is not defined: callers
 * batch only objects that do not depend on each other (one apply rank).
 * Returns 0 when every item was attempted (read each item's rc), a
 * negative code only when the batch could not run at all. */
int keelson_kube_apply_batch(struct keelson_kube_client *client, struct keelson_kube_apply_item *items, size_t count,
	unsigned concurrency);

#endif
