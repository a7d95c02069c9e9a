/*
 * kubesim object store, resource-type registry, watch and controller API.
 *
 * The store holds Kubernetes objects as cJSON trees keyed by
 * (resource type, namespace, name) and applies the API server's storage
 * semantics (kubernetes-api-behaviour.md M5, M6, M7, M13) so the HTTP layer
 * and the in-process controllers (StatefulSet, Deployment, kubelet, GC,
 * namespace termination) see exactly the same behaviour:
 *
 *  - one global monotonic resourceVersion (RV), bumped by every write that
 *    changes something; a write that changes nothing returns the stored
 *    object, bumps nothing and emits no event;
 *  - uid, creationTimestamp (second precision), generation (1 on create,
 *    +1 on spec change for built-ins, on any non-metadata change for custom
 *    resources), status/main separation for types with a status subresource;
 *  - 409 Conflict for a stale resourceVersion, 404 / 409 AlreadyExists,
 *    namespace existence and termination checks;
 *  - deletion with finalizers, deletionTimestamp, grace periods and the
 *    foregroundDeletion / orphan finalizers (the GC controller finishes them).
 *
 * Ownership: every function that returns a cJSON tree through an `out`
 * parameter hands over a deep copy the caller frees with cJSON_Delete().
 * Objects passed in are borrowed and copied; the store never keeps callers'
 * pointers. Everything is thread-safe (one store lock); never call the store
 * from inside a ks_mutate_fn (it runs under the lock).
 *
 * Errors: functions return 0 or a keelson error code (core/error.h) with the
 * exact Kubernetes message in keelson_error_last()->message, and the full
 * Status object the API server would answer in ks_status_last():
 *   KEELSON_ENOTFOUND  404 NotFound (object, or its namespace on create)
 *   KEELSON_EEXISTS    409 AlreadyExists
 *   KEELSON_ECONFLICT  409 Conflict (stale resourceVersion, uid precondition)
 *   KEELSON_EINVALID   422 Invalid, 403 Forbidden (terminating namespace),
 *                      400 BadRequest; ks_status_last() tells which
 *   KEELSON_ELIMIT     410 Expired (watch from a compacted resourceVersion)
 *
 * Controllers (owned by the "controllers" part, tests/kubesim/controllers/):
 * the controllers library exports, in tests/kubesim/controllers/controllers.h,
 *     int  ks_controllers_start(struct ks_store *store,
 *                               struct ks_controllers **out);
 *     void ks_controllers_stop(struct ks_controllers *controllers);
 * which kubesim's main() calls after the store is created and before it
 * serves requests. Each controller is a ks_controller (below): a thread that
 * receives the store's events for the resources it names and a periodic tick.
 */
#ifndef KUBESIM_STORE_H
#define KUBESIM_STORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/kubesim/clock.h"

struct ks_store;

/* ---------------------------------------------------------------------------
 * Resource types
 * ------------------------------------------------------------------------- */

/* Subresources a resource type serves (bit flags). */
enum ks_subresource_flags {
	KS_SUB_STATUS = 1 << 0,
	KS_SUB_SCALE = 1 << 1,
	KS_SUB_LOG = 1 << 2,   /* pods/log */
	KS_SUB_EXEC = 1 << 3,  /* pods/exec */
	KS_SUB_PROXY = 1 << 4, /* pods/proxy, services/proxy */
	KS_SUB_FINALIZE = 1 << 5, /* namespaces/finalize */
	KS_SUB_EVICTION = 1 << 6, /* pods/eviction */
};

/* How generation is maintained (M6). */
enum ks_generation_policy {
	KS_GEN_NONE = 0, /* no metadata.generation (ConfigMap, Pod in 1.32, ...) */
	KS_GEN_SPEC,     /* 1 on create, +1 when `spec` changes (built-ins) */
	KS_GEN_CUSTOM,   /* 1 on create, +1 on any change outside metadata (and
	                    outside status when the status subresource is on) */
};

#define KS_RESOURCE_TYPE_VERSION 1
#define KS_MAX_NAMES 8

/*
 * One served resource. Built-in types are registered by ks_store_new();
 * custom resources are registered from CRDs with ks_store_type_register().
 * A registered type is never freed before the store: a CRD update registers
 * a fresh copy and retires the old one, so borrowed pointers stay valid
 * (check `served` before relying on one you kept for long).
 */
struct ks_resource_type {
	int version;               /* KS_RESOURCE_TYPE_VERSION */
	char group[64];            /* "" for the core group */
	char api_version[16];      /* "v1" */
	char resource[64];         /* plural: "statefulsets" */
	char kind[64];             /* "StatefulSet" */
	char list_kind[72];        /* "StatefulSetList" */
	char singular[64];         /* "statefulset" */
	bool namespaced;
	const char *short_names[KS_MAX_NAMES]; /* NULL-terminated */
	const char *categories[KS_MAX_NAMES];  /* NULL-terminated */
	const char *verbs[KS_MAX_NAMES + 2];    /* NULL-terminated */
	unsigned subresources;     /* enum ks_subresource_flags */
	enum ks_generation_policy generation;
	bool custom;               /* from a CRD: no strategic merge patch,
	                              PUT requires resourceVersion */
	bool returns_object_on_delete; /* pods: DELETE answers the object */
	/* Scale subresource paths (JSON pointers, e.g. "/spec/replicas");
	 * built-ins use "/spec/replicas", "/status/replicas" and
	 * "/spec/selector" (a LabelSelector). */
	char scale_spec_replicas[128];
	char scale_status_replicas[128];
	char scale_label_selector[128];
	/* CRDs: the version's openAPIV3Schema (owned by the type; NULL for
	 * built-ins), used for pruning and Strict validation. */
	cJSON *schema;
	/* Defaulting (M6) applied to the object on create and update, before
	 * generation and no-op checks; NULL when the type has none. Runs under
	 * the store lock and must not call the store. */
	void (*apply_defaults)(cJSON *object);
	/* CRDs: the version's additionalPrinterColumns (owned; NULL when none),
	 * for kubectl get tables. */
	cJSON *printer_columns;
	bool served;               /* false once the CRD is gone or replaced */
	/* Access and identity reviews: create-only, answered by the server
	 * (everything is allowed), never stored. */
	bool review;
};

/* The "<group>/<version>" apiVersion string of `type` ("v1" for core). */
void ks_resource_type_api_version(const struct ks_resource_type *type,
	char *buf, size_t size);

/* "<resource>.<group>" as used in error messages ("statefulsets.apps",
 * "pods" for the core group). */
void ks_resource_type_qualified(const struct ks_resource_type *type,
	char *buf, size_t size);

/* Find a served type by group and plural resource name ("apps",
 * "statefulsets"; "" for the core group). Returns NULL when unknown. The
 * result is borrowed from the store. */
const struct ks_resource_type *ks_store_type_find(struct ks_store *store,
	const char *group, const char *resource);

/* Find a served type by apiVersion ("apps/v1", "v1") and kind. */
const struct ks_resource_type *ks_store_type_find_kind(struct ks_store *store,
	const char *api_version, const char *kind);

/* Call `fn` for every served type, in registration order (built-ins first),
 * stopping early when it returns non-zero (which is then returned). The
 * store lock is not held during the calls. */
int ks_store_type_foreach(struct ks_store *store,
	int (*fn)(const struct ks_resource_type *type, void *payload), void *payload);

/* Register (or replace, keyed by group + resource) a served type. The store
 * copies `type` including short names, categories, verbs and a deep copy of
 * `schema`. Returns 0 or KEELSON_EINVALID for an empty name or kind. */
int ks_store_type_register(struct ks_store *store, const struct ks_resource_type *type);

/* Stop serving group/resource (CRD deleted). Its objects must have been
 * deleted by the caller first; any left are dropped without events. */
int ks_store_type_unregister(struct ks_store *store, const char *group,
	const char *resource);

/* A counter bumped whenever the set of served types changes (discovery and
 * OpenAPI caches compare it). */
uint64_t ks_store_types_epoch(struct ks_store *store);

/* ---------------------------------------------------------------------------
 * Store lifecycle
 * ------------------------------------------------------------------------- */

/* Create a store with the built-in types and the namespaces default,
 * kube-system, kube-public and kube-node-lease. */
int ks_store_new(struct ks_store **out);

/* Stop every watch (ks_watch_next returns KEELSON_ENOTFOUND), then free.
 * Controllers must be stopped before. Accepts NULL. */
void ks_store_free(struct ks_store *store);

/* Drop every object and custom type, recreate the default namespaces. The
 * resourceVersion keeps counting up; open watches are closed. */
void ks_store_reset(struct ks_store *store);

/* Called by ks_store_reset after the default namespaces are back, outside
 * the store lock (it may write to the store): objects a cluster always
 * has, such as the controllers' Node, are recreated here. */
typedef void (*ks_reset_hook_fn)(struct ks_store *store, void *payload);
#define KS_RESET_HOOKS_MAX 8
/* Register `fn`; KEELSON_ELIMIT beyond KS_RESET_HOOKS_MAX. */
int ks_store_add_reset_hook(struct ks_store *store, ks_reset_hook_fn fn, void *payload);
/* Unregister every (fn, payload) registration; unknown ones are ignored. */
void ks_store_remove_reset_hook(struct ks_store *store, ks_reset_hook_fn fn, void *payload);

/* Save every object (and nothing else) to `path` as JSON, atomically
 * (temporary file + rename). */
int ks_store_save(struct ks_store *store, const char *path);

/* Load objects saved by ks_store_save, re-registering CRD types first.
 * The store should be fresh. Keeps the objects' RVs and continues above
 * the highest one. */
int ks_store_load(struct ks_store *store, const char *path);

/* The current (highest) resourceVersion. */
uint64_t ks_store_current_rv(struct ks_store *store);

/* Number of objects stored (all types). */
size_t ks_store_count(struct ks_store *store);

/* Called under the store lock for every create, update and modify (also in
 * dry run), after defaulting and status handling and before the no-op
 * check, with the stored object (NULL on create) and the object about to be
 * stored, which it may edit. The server-side-apply library uses it to record
 * managedFields "Update" entries. A non-zero return aborts the write and is
 * returned (set ks_status_set first for a precise Status). Must not call the
 * store. The no-op rule compares whole objects, managedFields included, so
 * the hook must leave them unchanged (times too) when nothing else changed. */
struct ks_write_options;
typedef int (*ks_write_hook_fn)(const struct ks_resource_type *type,
	const cJSON *old_object, cJSON *new_object,
	const struct ks_write_options *options, void *payload);
void ks_store_set_write_hook(struct ks_store *store, ks_write_hook_fn fn, void *payload);

/* ---------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------- */

/* Deep copy of one object. `namespace` is ignored (may be NULL) for
 * cluster-scoped types. KEELSON_ENOTFOUND if absent. */
int ks_store_get(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name, cJSON **out);

/* The object serialized as compact JSON (what GET answers), cached by the
 * store so hot GETs do not re-serialize. Caller frees with free(). */
int ks_store_get_text(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name, char **out);

/* A list filter: return true to include the object (borrowed, read-only). */
typedef bool (*ks_filter_fn)(const cJSON *object, void *payload);

#define KS_LIST_OPTIONS_VERSION 1
struct ks_list_options {
	int version;             /* KS_LIST_OPTIONS_VERSION */
	const char *namespace;   /* NULL or "": all namespaces */
	ks_filter_fn filter;     /* NULL: everything */
	void *filter_payload;
	size_t limit;            /* 0: no limit */
	const char *continue_after; /* "ns/name" key to start after (paging) */
};

struct ks_list_result {
	cJSON *items;            /* array of deep copies, sorted by ns/name */
	uint64_t resource_version; /* store RV at the time of the list */
	char *continue_after;    /* key of the last item when more remain, else NULL */
	size_t remaining;        /* matching items after this page (approximate) */
};

/* List objects of `type`. Free the result with ks_list_result_clear(). */
int ks_store_list(struct ks_store *store, const struct ks_resource_type *type,
	const struct ks_list_options *options, struct ks_list_result *out);

void ks_list_result_clear(struct ks_list_result *result);

/* ---------------------------------------------------------------------------
 * Writes
 * ------------------------------------------------------------------------- */

#define KS_WRITE_OPTIONS_VERSION 1
struct ks_write_options {
	int version;             /* KS_WRITE_OPTIONS_VERSION; NULL options = defaults */
	bool dry_run;            /* run everything, persist nothing (M11) */
	const char *subresource; /* NULL (main resource) or "status" */
	const char *field_manager; /* for managedFields bookkeeping; may be NULL */
	const char *operation;   /* "Update" (default) or "Apply", same purpose */
	/* Apply the API server's update validation (immutable StatefulSet and
	 * Pod spec fields, 422). The HTTP layer sets it; in-process
	 * controllers leave it false, as they act with the privileges of
	 * kube-controller-manager, the scheduler and the kubelet. */
	bool validate;
};

/* Create `object` (borrowed). Sets uid, creationTimestamp, resourceVersion,
 * generation, namespace (from `namespace` when the body has none), applies
 * defaults, clears status for types with a status subresource, handles
 * generateName. Errors: 409 AlreadyExists, 404 for a missing namespace, 403
 * for a terminating one, 400 for a namespace mismatch, 422 for a missing
 * name. *out (optional) receives the stored object (dry run: RV empty). */
int ks_store_create(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const cJSON *object,
	const struct ks_write_options *options, cJSON **out);

/* Replace an object (PUT semantics). A non-empty metadata.resourceVersion
 * in `object` must equal the stored one (else 409 Conflict); an empty one
 * is an unconditional update, refused with 422 for custom types. uid,
 * creationTimestamp, deletionTimestamp, generation are kept from the stored
 * object; status is kept (main resource of a type with a status
 * subresource) or is the only thing taken (subresource "status"). Removing
 * the last finalizer of an object being deleted deletes it. A write that
 * changes nothing returns the stored object with no RV bump and no event. */
int ks_store_update(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const cJSON *object,
	const struct ks_write_options *options, cJSON **out);

/* Read-modify-write under the store lock. `fn` receives a private copy of
 * the stored object and edits it in place (or returns an error code, which
 * aborts and is returned). The result then goes through ks_store_update's
 * rules; a resourceVersion left as the stored one passes, one changed by
 * `fn` (e.g. a patch carrying a precondition) must match. Used for PATCH and
 * by controllers for conflict-free edits. `fn` must not call the store. */
typedef int (*ks_mutate_fn)(cJSON *object, void *payload);
int ks_store_modify(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name, ks_mutate_fn fn, void *payload,
	const struct ks_write_options *options, cJSON **out);

enum ks_propagation {
	KS_PROPAGATION_DEFAULT = 0, /* Background for almost everything */
	KS_PROPAGATION_BACKGROUND,
	KS_PROPAGATION_FOREGROUND,  /* adds finalizer foregroundDeletion */
	KS_PROPAGATION_ORPHAN,      /* adds finalizer orphan */
};

#define KS_DELETE_OPTIONS_VERSION 1
struct ks_delete_options {
	int version;               /* KS_DELETE_OPTIONS_VERSION; NULL = defaults */
	bool dry_run;
	bool has_grace_period;     /* grace_period_seconds is meaningful */
	int64_t grace_period_seconds;
	enum ks_propagation propagation;
	const char *precondition_uid; /* NULL or must match (else 409) */
	const char *precondition_rv;  /* NULL or must match (else 409) */
};

/* Delete (M13). An object without finalizers and without grace is removed
 * at once (event DELETED, stamped with a new RV). Otherwise it becomes
 * pending: deletionTimestamp = now (+ grace for pods: DeleteOptions value,
 * else spec.terminationGracePeriodSeconds, default 30; 0 when unscheduled
 * or finished), deletionGracePeriodSeconds set, event MODIFIED. Deleting a
 * pending pod again with a shorter grace shortens it; grace 0 removes it
 * when no finalizers remain (this is how the kubelet finishes a pod).
 * Namespaces become phase Terminating and stay until the namespace
 * controller clears spec.finalizers with ks_store_update/modify.
 * *out (optional) receives the object's last state; *out_removed tells
 * whether it is gone (true) or pending (false). */
int ks_store_delete(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name,
	const struct ks_delete_options *options, cJSON **out, bool *out_removed);

/* ---------------------------------------------------------------------------
 * Watch
 * ------------------------------------------------------------------------- */

enum ks_event_type {
	KS_EVENT_ADDED = 1,
	KS_EVENT_MODIFIED,
	KS_EVENT_DELETED,
};

/* "ADDED", "MODIFIED", "DELETED". */
const char *ks_event_type_name(enum ks_event_type type);

/* One change. `object` is the new state (for DELETED the last state stamped
 * with the deleting RV), `old_object` the previous state (NULL for ADDED).
 * `object_text` is `object` serialized compactly. All pointers are borrowed
 * and valid until ks_event_release(); never modify them. */
struct ks_event {
	enum ks_event_type type;
	const struct ks_resource_type *resource_type;
	uint64_t resource_version;
	const cJSON *object;
	const cJSON *old_object;
	const char *object_text;
	void *internal_;         /* the store's reference; do not touch */
};

void ks_event_release(struct ks_event *event);

#define KS_WATCH_OPTIONS_VERSION 1
struct ks_watch_options {
	int version;             /* KS_WATCH_OPTIONS_VERSION */
	const struct ks_resource_type *type; /* NULL: every type */
	const char *namespace;   /* NULL or "": all namespaces */
	/* Deliver changes with RV > since_rv. 0 means "from now" (callers that
	 * want synthetic ADDED events list first and watch from the list RV). */
	uint64_t since_rv;
};

struct ks_watch;

/* Open a watch. KEELSON_ELIMIT (410 Expired, "too old resource version:
 * N (M)") when since_rv is older than the retained event history. */
int ks_watch_open(struct ks_store *store, const struct ks_watch_options *options,
	struct ks_watch **out);

/* Wait up to `timeout_ms` (real ms; 0 = poll, < 0 = forever) for the next
 * event. Returns 0 with *event filled (release it), KEELSON_ETIMEOUT when
 * nothing arrived, KEELSON_ELIMIT when the watcher fell so far behind that
 * events were dropped (the client must relist), KEELSON_ENOTFOUND when the
 * watch was closed by ks_watch_interrupt, a reset or store shutdown. */
int ks_watch_next(struct ks_watch *watch, int timeout_ms, struct ks_event *event);

/* The resourceVersion up to which this watch has seen events (for
 * bookmarks). */
uint64_t ks_watch_position(struct ks_watch *watch);

/* Make a blocked ks_watch_next return KEELSON_ENOTFOUND (from another
 * thread), e.g. when the HTTP client went away. */
void ks_watch_interrupt(struct ks_watch *watch);

/* Close and free. Accepts NULL. */
void ks_watch_close(struct ks_watch *watch);

/* ---------------------------------------------------------------------------
 * Controllers
 * ------------------------------------------------------------------------- */

#define KS_CONTROLLER_DEF_VERSION 1
struct ks_controller_def {
	int version;               /* KS_CONTROLLER_DEF_VERSION */
	const char *name;          /* for logs: "statefulset" */
	/* Resources whose events the controller receives, as "group/resource"
	 * ("apps/statefulsets", "/pods" for core), NULL-terminated; NULL for
	 * none. "*" receives every type. */
	const char *const *resources;
	/* Called on the controller's own thread for each event, in RV order. */
	void (*on_event)(struct ks_store *store, const struct ks_event *event,
		void *payload);
	/* Called every tick_ms real milliseconds (0: never). Controllers that
	 * wait on simulated time compare deadlines with ks_clock_now() here. */
	unsigned tick_ms;
	void (*on_tick)(struct ks_store *store, void *payload);
	/* Called once on ks_controller_stop, after the thread ended. */
	void (*on_stop)(void *payload);
};

struct ks_controller;

/* Start a controller thread. It first gets ADDED events for every existing
 * object of its resources (like an informer's initial list), then live
 * events; it survives ks_store_reset (re-listing). `def` is copied; the
 * strings it points to must stay valid until stop. */
int ks_controller_start(struct ks_store *store, const struct ks_controller_def *def,
	void *payload, struct ks_controller **out);

/* Wait until the controller processed every event up to the store's
 * current RV (tests use it to make controller effects deterministic).
 * KEELSON_ETIMEOUT after `timeout_ms`. */
int ks_controller_sync(struct ks_controller *controller, int timeout_ms);

/* Stop the thread, call on_stop, free. Accepts NULL. */
void ks_controller_stop(struct ks_controller *controller);

/* ---------------------------------------------------------------------------
 * Status objects and small helpers
 * ------------------------------------------------------------------------- */

/* The Status object (kind Status, apiVersion v1, code, reason, message,
 * details) describing the last failed store call on this thread, or NULL.
 * Borrowed; valid until the next store call on the thread. */
const cJSON *ks_status_last(void);

/* The HTTP code of ks_status_last(), or 500 when there is none. */
int ks_status_last_code(void);

/* Build a Failure Status: {"kind":"Status","apiVersion":"v1","metadata":{},
 * "status":"Failure","message":...,"reason":...,"code":...} plus
 * details {name, group, kind} when `type` is given. Caller owns it. */
cJSON *ks_status_new(int http_code, const char *reason, const char *message,
	const struct ks_resource_type *type, const char *name);

/* Record `status` (taken over) as ks_status_last() and set the keelson
 * error `code` with its message; returns `code`. For handlers and
 * controllers that produce API errors of their own. */
int ks_status_set(int code, cJSON *status);

/* metadata.<field> of an object as a string, or NULL ("name", "namespace",
 * "uid", "resourceVersion", "deletionTimestamp", ...). Borrowed. */
const char *ks_meta_string(const cJSON *object, const char *field);

/* New random RFC 4122 version-4 UUID string into buf (37 bytes). */
void ks_uuid(char *buf);

#endif
