/*
 * The keelson plugin SDK: the only header a plugin includes (with libc).
 *
 * A plugin is a shared object exporting one function, keelson_plugin_entry,
 * that returns a static, read-only descriptor (struct keelson_plugin). The
 * host refuses a descriptor whose abi_version differs from the host's or
 * whose struct_size is smaller than the host needs: nothing is guessed
 * about a binary that was built against another layout.
 *
 * Plugins plan, the host executes. plan() is given a view of one system
 * (desired objects, their live counterparts, parameters) and a table of
 * host services (logging, the live cache, HTTP through the API server's
 * pod/service proxy, the clock, JSON accessors). It returns the ordered
 * remaining steps by calling host->add_step(); the host runs only the first
 * step, observes, and asks again. A plugin keeps no state between calls:
 * everything it decides must follow from what it observes, so a keelson
 * killed at any moment and restarted continues correctly.
 *
 * Memory: everything the host hands to plan() (view, JSON nodes, HTTP
 * response bodies, live lists) is borrowed and valid until plan() returns.
 * Everything a plugin passes to the host (steps, log messages) is copied.
 *
 * Compatibility: KEELSON_PLUGIN_ABI_VERSION changes when an existing
 * declaration changes. New host services are appended to struct
 * keelson_host and its version raised; a plugin that uses a service newer
 * than version 1 checks KEELSON_HOST_HAS(host, member) first. New step
 * kinds and step fields are appended too; a plugin adds a step kind only
 * when host->version is at least the version that introduced it (DELETE:
 * 4), and sets struct_size = sizeof(struct keelson_step): the host reads
 * only the fields a struct_size covers.
 */
#ifndef KEELSON_PLUGIN_H
#define KEELSON_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The layout of every declaration in this header. */
#define KEELSON_PLUGIN_ABI_VERSION 1u

/* The one symbol a plugin exports (see KEELSON_PLUGIN_DEFINE). */
#define KEELSON_PLUGIN_ENTRY_NAME "keelson_plugin_entry"

/* --- Parameters --------------------------------------------------------- */

/* Types a parameter may have in spec.parameters of the system document. */
enum keelson_param_type {
	KEELSON_PARAM_END = 0,     /* terminates a parameter table */
	KEELSON_PARAM_STRING,      /* non-empty string */
	KEELSON_PARAM_INTEGER,     /* integer in [minimum, maximum] */
	KEELSON_PARAM_BOOLEAN,     /* true or false */
	KEELSON_PARAM_DURATION,    /* "90s", "5m", "1h30m"; given to plan() in milliseconds */
	KEELSON_PARAM_STRING_LIST, /* non-empty list of non-empty strings */
	KEELSON_PARAM_ENUM,        /* one of enum_values */
};

/* The system document must write the parameter (meaningless with a
 * default_value: the default is used instead). */
#define KEELSON_PARAM_REQUIRED 1u

/* One entry of a plugin's parameter table. The host parses the system
 * document against the table, rejects unknown keys and wrong types with
 * their file:line:column, and prints the table in
 * `keelson plugins --describe NAME`. */
struct keelson_param {
	const char *name;            /* key in spec.parameters */
	enum keelson_param_type type;
	unsigned flags;              /* KEELSON_PARAM_REQUIRED */
	const char *default_value;   /* as it would be written in YAML ("5m", "30",
	                                "true"); NULL: no default */
	const char *description;     /* one line for people */
	long long minimum, maximum;  /* INTEGER: both 0 means no bounds */
	const char *const *enum_values; /* ENUM: NULL-terminated */
	/* STRING or STRING_LIST naming objects of the same system: the
	 * repository is rejected when a name is not among them. */
	const char *refers_group;    /* NULL or "" for the core group */
	const char *refers_kind;     /* e.g. "StatefulSet"; NULL: no check */
};

/* A parsed parameter, given to plan() in table order, one per table entry
 * (the default when the document does not write it). */
struct keelson_param_value {
	const char *name;
	enum keelson_param_type type;
	int is_set;                  /* written in the document, or has a default */
	const char *string;          /* STRING, ENUM; NULL when !is_set */
	long long integer;           /* INTEGER; DURATION in milliseconds; BOOLEAN 0/1 */
	const char *const *list;     /* STRING_LIST */
	size_t list_count;
};

/* --- Steps -------------------------------------------------------------- */

enum keelson_step_kind {
	KEELSON_STEP_APPLY = 1,      /* server-side apply a desired object */
	KEELSON_STEP_PATCH,          /* patch a live object */
	KEELSON_STEP_DELETE_POD,     /* delete a pod with a grace period */
	KEELSON_STEP_HTTP,           /* call a pod or service through the proxy */
	KEELSON_STEP_WAIT,           /* wait for a condition the plugin observes */
	KEELSON_STEP_BLOCKED,        /* cannot go on safely: stop and alert */
	/* Appended in host version 4: delete any object (api_version,
	 * kind_name, namespace_, name) of this incarnation only
	 * (precondition_uid, required), with `propagation`. A plugin must not
	 * add it when host->version < 4: an older host refuses the step. */
	KEELSON_STEP_DELETE,
};

enum keelson_patch_type {
	KEELSON_PATCH_MERGE = 0,     /* application/merge-patch+json */
	KEELSON_PATCH_JSON = 1,      /* application/json-patch+json */
	KEELSON_PATCH_STRATEGIC = 2, /* application/strategic-merge-patch+json */
};

enum keelson_proxy_target {
	KEELSON_PROXY_POD = 0,
	KEELSON_PROXY_SERVICE = 1,
};

struct keelson_json; /* a borrowed JSON node; read it with the host's json_* services */

/* One step of a plan. Zero-initialise, set struct_size = sizeof(struct
 * keelson_step), then the fields of the kind. The host copies everything. */
struct keelson_step {
	size_t struct_size;
	enum keelson_step_kind kind;
	/* One line a person can read: "delete pod web-1 (out of date)". Required. */
	const char *description;
	/* What was checked before this step may run ("all 3 pods Ready"), or
	 * NULL. Printed by `keelson plan`. */
	const char *gate;
	/* Stable identity of the step across re-plans (a WAIT's timer is keyed
	 * by it, so it must not contain anything that changes while waiting);
	 * NULL: the description. */
	const char *key;

	/* Target (PATCH, DELETE_POD; HTTP: the pod or service). APPLY takes
	 * them from `object`. */
	const char *api_version, *kind_name, *namespace_, *name;

	const struct keelson_json *object; /* APPLY: a desired object of the view */

	enum keelson_patch_type patch_type; /* PATCH */
	const char *patch;                  /* PATCH: the patch document, JSON text */

	long long grace_seconds;     /* DELETE_POD: < 0 for the pod's own */
	const char *precondition_uid;/* DELETE_POD: only this incarnation of the pod
	                                (always set it: a stale plan must not delete
	                                the replacement) */

	enum keelson_proxy_target http_target; /* HTTP */
	const char *http_port;       /* HTTP: number or port name; NULL: default */
	const char *http_method;     /* HTTP: "GET", "POST", ... */
	const char *http_path;       /* HTTP: "/path?query" */
	const char *http_body;       /* HTTP: or NULL */

	/* WAIT: how long the condition may take, counted from the first plan
	 * that returned this key (persisted across restarts); then the system
	 * becomes blocked. HTTP: the request timeout. 0: the host's default. */
	long long timeout_ms;

	const char *reason;          /* BLOCKED: why, and what a person should do */

	/* APPLY, instead of `object`: the JSON text of an object the plugin
	 * built itself (a Spark driver pod made from a SparkApplication), at
	 * most 1 MiB, with apiVersion, kind and metadata.name. It is applied
	 * like a repository object (server-side, keelson's field manager) and
	 * recorded in the system's inventory. */
	const char *object_json;

	/* Appended in host version 4. DELETE: what happens to the objects the
	 * deleted one owns: "Orphan" (they are kept: a StatefulSet re-created
	 * around its running pods), "Background" or "Foreground"; NULL:
	 * "Background". The host accepts a struct_size that ends before this
	 * field (a plugin built against version 3) and reads it as NULL. */
	const char *propagation;

	/* Appended in host version 5. PATCH: the subresource to patch,
	 * "status" or "scale"; NULL: the object itself. A custom resource
	 * whose CRD enables the status subresource ignores .status written to
	 * the object, so a plugin that reports in .status patches "status".
	 * Read only when struct_size covers it. */
	const char *subresource;
};

/* --- The view ----------------------------------------------------------- */

enum keelson_object_state {
	KEELSON_OBJECT_IN_SYNC = 0,  /* live has every field the repository sets */
	KEELSON_OBJECT_DRIFTED = 1,  /* live differs from the repository */
	KEELSON_OBJECT_MISSING = 2,  /* not in the cluster */
};

struct keelson_view_object {
	const char *api_version, *kind, *namespace_, *name; /* namespace_ "" if cluster-scoped */
	const struct keelson_json *desired;
	const struct keelson_json *live;   /* NULL when MISSING */
	enum keelson_object_state state;
	const char *file;                  /* where the repository writes it */
	unsigned line;
};

/* The system as the host sees it this cycle. Fields are appended in later
 * host versions; struct_size tells which exist. */
struct keelson_view {
	size_t struct_size;
	const char *cluster;
	const char *system;
	const char *revision;              /* Git revision of the desired state, or "" */
	/* In apply order: Namespaces, CRDs, ServiceAccounts and RBAC,
	 * ConfigMaps and Secrets, Services, PVCs, workloads, the rest;
	 * repository order within each. */
	const struct keelson_view_object *objects;
	size_t object_count;
	const struct keelson_param_value *params; /* one per table entry, table order */
	size_t param_count;
	/* Appended in host version 2 (check with KEELSON_VIEW_HAS). */
	unsigned flags;                    /* KEELSON_VIEW_* */
};

/* Whether the host filled `member` of the view (appended after version 1). */
#define KEELSON_VIEW_HAS(view, member) \
	((view)->struct_size >= offsetof(struct keelson_view, member) + sizeof((view)->member))

/* The plan is a preview for a person reviewing a change (`keelson plan
 * --base A --head B` without --live): nothing will run it. `live` of each
 * object is what the base revision declares (MISSING when the base lacks
 * it); there are no pods or other objects outside the repository
 * (live_list answers an empty list, live_get "does not exist") and no
 * probes (http fails). Plan every step the change would cause, in order,
 * deriving pods from the StatefulSets (replicas, names <sts>-<ordinal>),
 * with each gate written as what will be checked before the step runs;
 * do not WAIT or BLOCK because a probe or pod is unavailable. Do BLOCK
 * what the change itself makes unsafe (a refused scale-down, a forbidden
 * volume change): a refused step is what a reviewer must see. */
#define KEELSON_VIEW_PREVIEW 1u

/* --- Host services ------------------------------------------------------ */

#define KEELSON_HOST_VERSION 5u /* 2: keelson_view.flags; 3: json_parse; 4: KEELSON_STEP_DELETE;
                                  5: keelson_step.subresource */

/* The largest text json_parse accepts. */
#define KEELSON_JSON_PARSE_MAX (16u * 1024u * 1024u)

enum keelson_plugin_log_level {
	KEELSON_PLUGIN_LOG_DEBUG = 0,
	KEELSON_PLUGIN_LOG_INFO = 1,
	KEELSON_PLUGIN_LOG_WARN = 2,
	KEELSON_PLUGIN_LOG_ERROR = 3,
};

struct keelson_http_response {
	long status;                 /* the backend's HTTP status; 0 when none came */
	const char *body;            /* NUL-terminated, borrowed; "" when none */
	size_t body_len;
	const char *error;           /* why the call failed, or NULL when status is 2xx */
};

/* Passed to every service; opaque. */
struct keelson_plugin_call;

struct keelson_host {
	uint32_t version;            /* KEELSON_HOST_VERSION of the host */
	uint32_t struct_size;        /* sizeof(struct keelson_host) of the host */

	/* Log a line; the host prefixes "[plugin:system]" and adds the plugin,
	 * cluster and system as fields. printf-style. */
	void (*log)(struct keelson_plugin_call *call, enum keelson_plugin_log_level level,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

	/* Wall-clock time in milliseconds since the epoch (the host's clock:
	 * tests may move it). */
	long long (*now_ms)(struct keelson_plugin_call *call);

	/* One live object from the cache: 0 and *out, 1 when it does not exist,
	 * -1 when the cache cannot answer (treat as "not safe"). */
	int (*live_get)(struct keelson_plugin_call *call, const char *api_version, const char *kind,
			const char *namespace_, const char *name, const struct keelson_json **out);

	/* Live objects of a kind in a namespace, optionally by label selector
	 * ("app=web,tier in (a,b)" as Kubernetes writes it; NULL: all). *out is a
	 * JSON array. 0, or -1 when the cache cannot answer. */
	int (*live_list)(struct keelson_plugin_call *call, const char *api_version, const char *kind,
			 const char *namespace_, const char *label_selector, const struct keelson_json **out);

	/* Call a pod or service through the API server's proxy. Returns 0 for a
	 * 2xx answer, -1 otherwise (out->error says why: timeout, connection,
	 * status). timeout_ms 0: 10 s. A probe that fails means "not safe". */
	int (*http)(struct keelson_plugin_call *call, enum keelson_proxy_target target,
		    const char *namespace_, const char *name, const char *port, const char *method,
		    const char *path, const char *body, long long timeout_ms,
		    struct keelson_http_response *out);

	/* Add a step at the end of the plan (copied). 0, or -1 when the step is
	 * malformed (the reason is logged) or memory ran out. */
	int (*add_step)(struct keelson_plugin_call *call, const struct keelson_step *step);

	/* JSON accessors. Every accessor accepts NULL and then answers "absent". */
	/* The node at RFC 6901 `pointer` below `node` ("" is the node). */
	const struct keelson_json *(*json_get)(const struct keelson_json *node, const char *pointer);
	/* The string value, or NULL when not a string. */
	const char *(*json_string)(const struct keelson_json *node);
	/* 0 and *out for a number, -1 otherwise. */
	int (*json_number)(const struct keelson_json *node, double *out);
	/* 1 true, 0 false, -1 not a boolean. */
	int (*json_bool)(const struct keelson_json *node);
	/* Elements of an array or members of an object; 0 otherwise. */
	size_t (*json_count)(const struct keelson_json *node);
	/* Element or member `index`, or NULL. */
	const struct keelson_json *(*json_at)(const struct keelson_json *node, size_t index);
	/* The member's key when `node` is an object member, else NULL. */
	const char *(*json_key)(const struct keelson_json *node);
	/* Deep equality (numbers by value, objects regardless of key order). */
	int (*json_equal)(const struct keelson_json *a, const struct keelson_json *b);
	/* Compact JSON text of the node, borrowed until plan() returns; NULL
	 * when out of memory. */
	const char *(*json_text)(struct keelson_plugin_call *call, const struct keelson_json *node);

	/* Added in host version 3 (check KEELSON_HOST_HAS(host, json_parse)). */
	/* Parse `len` bytes of JSON text (an HTTP response body): the root
	 * node, borrowed until plan() returns, or NULL when the text is not
	 * one JSON value (trailing whitespace allowed), is nested deeper than
	 * the host allows, is longer than KEELSON_JSON_PARSE_MAX, or memory
	 * ran out (the reason is logged at debug level). */
	const struct keelson_json *(*json_parse)(struct keelson_plugin_call *call, const char *text, size_t len);
};

/* Whether the host offers `member` (a service added after version 1). */
#define KEELSON_HOST_HAS(host, member) \
	((host)->struct_size >= offsetof(struct keelson_host, member) + sizeof((host)->member) && \
	 (host)->member != NULL)

/* --- The descriptor ----------------------------------------------------- */

struct keelson_plugin {
	uint32_t abi_version;        /* KEELSON_PLUGIN_ABI_VERSION */
	uint32_t struct_size;        /* sizeof(struct keelson_plugin) */
	const char *name;            /* [a-z0-9-]+, unique among loaded plugins */
	const char *version;         /* the plugin's own version, for people */
	const char *description;     /* one line */
	const struct keelson_param *params; /* KEELSON_PARAM_END-terminated; may be NULL */

	/* Plan the remaining steps of `view` in order, calling host->add_step()
	 * for each; no steps means the system is converged. Return 0, or -1 when
	 * no plan can be made (log why): the host then treats the system as
	 * blocked. Must not keep pointers past its return, must not block for
	 * long except in host services, and must be safe to call from any one
	 * thread at a time per system. */
	int (*plan)(const struct keelson_host *host, struct keelson_plugin_call *call,
		    const struct keelson_view *view);
};

typedef const struct keelson_plugin *(*keelson_plugin_entry_fn)(void);

/* Define the entry point of a plugin:
 *     KEELSON_PLUGIN_DEFINE(my_descriptor)
 * Build with -export-symbols-regex '^keelson_plugin_entry$' so nothing
 * else leaks into the host's symbol space. */
#define KEELSON_PLUGIN_DEFINE(descriptor) \
	const struct keelson_plugin *keelson_plugin_entry(void); \
	__attribute__((visibility("default"))) const struct keelson_plugin *keelson_plugin_entry(void) \
	{ \
		return &(descriptor); \
	}

/* The parsed value of parameter `name`, or NULL (a name not in the table). */
static inline const struct keelson_param_value *keelson_view_param(const struct keelson_view *view,
								    const char *name)
{
	for (size_t i = 0; i < view->param_count; i++)
		if (strcmp(view->params[i].name, name) == 0)
			return &view->params[i];
	return NULL;
}

#ifdef __cplusplus
}
#endif

#endif
