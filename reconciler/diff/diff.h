/*
 * Desired vs live: is what the repository says in force in the live object?
 *
 * Only fields set in the desired object are compared, with server-side
 * apply semantics: maps merge, lists keyed by merge keys (containers by
 * name) are matched by key whatever their order, sets (finalizers) by
 * value, other lists as a whole. So what the server adds (defaults,
 * status, metadata.uid, resourceVersion, managedFields, annotations of
 * other tools, items other managers added to keyed lists) is never drift.
 * A Secret's stringData counts as in force when data holds the same bytes
 * (the server moves it there). Values are normalised the way the API
 * server normalises them:
 * quantities compare by value ("1024Mi" = "1Gi", `cpu: 1` = "1"), and a
 * zero value the server's JSON encoding omits (false, 0, "", {}, [] of an
 * omitempty field) equals an absent one.
 *
 * The other direction: a field keelson applied earlier (owned by field
 * manager "keelson" in metadata.managedFields) that the repository no
 * longer sets, but that is still set live, is drift too: the next apply
 * would remove it. keelson's own labels, applied with every object, are
 * the exception (keelson_diff_is_keelson_label).
 *
 * Each difference carries the JSON pointer of the field, both values and
 * the file:line:column of the desired value (or of its nearest existing
 * parent when the repository no longer has it). Per-system ignore rules
 * drop differences by pointer, optionally per group/kind.
 *
 * See docs/internals/diff.md.
 */
#ifndef KEELSON_DIFF_DIFF_H
#define KEELSON_DIFF_DIFF_H

#include "layout/layout.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* --- Ignore rules -------------------------------------------------------- */

/* One rule: differences at `pointer` or below it are not drift, for objects
 * of `group`/`kind` (NULL: any). A token "*" in the pointer matches any one
 * token (any list index, any map key). */
struct keelson_diff_ignore_rule {
	char *group;
	char *kind;
	char *pointer;
};

struct keelson_diff_ignore_rules {
	struct keelson_diff_ignore_rule *items;
	size_t count;
};

/* Most rules a system may declare; a repository needs a handful. */
#define KEELSON_DIFF_MAX_IGNORE_RULES 1000

/* Parse the `ignoreDifferences` list of a System document:
 *   - group: apps            # optional ("" is the core group)
 *     kind: StatefulSet      # optional
 *     jsonPointers: [/spec/replicas, /metadata/annotations/x~1y]
 * `value` NULL gives an empty rule set. KEELSON_EINVALID with a message
 * naming the entry (and "file:line:column" when `stream` has the node)
 * for a malformed list. Free with keelson_diff_ignore_rules_free. */
struct keelson_yaml_stream;
int keelson_diff_ignore_rules_parse(struct keelson_diff_ignore_rules **out, const cJSON *value,
				    const struct keelson_yaml_stream *stream);

void keelson_diff_ignore_rules_free(struct keelson_diff_ignore_rules *rules);

/* Whether a rule of `rules` covers `pointer` in an object of group/kind. */
bool keelson_diff_ignore_rules_match(const struct keelson_diff_ignore_rules *rules,
				     const char *group, const char *kind, const char *pointer);

/* --- Results ------------------------------------------------------------- */

enum keelson_diff_change {
	KEELSON_DIFF_CHANGED = 0,    /* set in both, different values */
	KEELSON_DIFF_NOT_LIVE,       /* set in the repository, absent live */
	KEELSON_DIFF_REMOVED,        /* removed from the repository, still set live */
};

const char *keelson_diff_change_name(enum keelson_diff_change change);

struct keelson_diff_field {
	enum keelson_diff_change change;
	/* Where the field is in the desired object; for REMOVED, where it
	 * is in the live object (the repository no longer has it). */
	char *pointer;
	/* Where it is in the live object (list items matched by key may sit
	 * at another index); NULL for NOT_LIVE. */
	char *live_pointer;
	/* For a Secret's data and stringData (keelson_diff_is_secret_value)
	 * both are the string KEELSON_DIFF_REDACTED: secret values never
	 * leave the diff. */
	cJSON *desired;          /* NULL when absent (REMOVED) */
	cJSON *live;             /* NULL when absent (NOT_LIVE) */
	/* The desired value's position, or for REMOVED its nearest parent
	 * still in the repository (exact false). file NULL when unknown. */
	const char *file;
	unsigned line, column;
	bool position_exact;
};

enum keelson_diff_state {
	KEELSON_DIFF_IN_SYNC = 0,
	KEELSON_DIFF_DRIFTED,        /* differences in `fields` */
	KEELSON_DIFF_MISSING,        /* in the repository, not in the cluster */
	KEELSON_DIFF_NOT_IN_REPO,    /* in the cluster and owned (inventory), no longer in the repository */
};

const char *keelson_diff_state_name(enum keelson_diff_state state);

struct keelson_diff_object {
	enum keelson_diff_state state;
	/* Identity, owned copies. namespace_ is "" for cluster-scoped. */
	char *api_version, *group, *kind, *namespace_, *name;
	/* Where the object is written (NULL for NOT_IN_REPO). */
	const char *file;
	unsigned line, column;
	/* Borrowed: the desired object (NULL for NOT_IN_REPO); lives as long
	 * as the desired state. */
	const cJSON *desired;
	cJSON *live;   /* owned copy of the live object; NULL when MISSING */
	/* The live object with the repository's fields applied (what a
	 * server-side apply would make of it, as far as the diff knows);
	 * NULL unless DRIFTED (in sync it would equal `live`). Used to render
	 * the diff. */
	cJSON *merged;
	struct keelson_diff_field *fields;
	size_t field_count;
	size_t ignored_count;    /* differences dropped by ignore rules */
};

#define KEELSON_DIFF_OPTIONS_VERSION 1

struct keelson_diff_options {
	unsigned version;                 /* KEELSON_DIFF_OPTIONS_VERSION */
	const char *field_manager;        /* NULL: "keelson" */
	const struct keelson_diff_ignore_rules *ignore; /* or NULL */
	size_t max_fields;                /* differences kept per object (default 10,000) */
};

void keelson_diff_options_init(struct keelson_diff_options *opts);

/* Compare `desired` (an object of a loaded desired state, or one built by
 * the caller with body, group, kind and optionally stream/file) with
 * `live` (NULL: not in the cluster, state MISSING). `live` is copied.
 * Free *out with keelson_diff_object_free. */
int keelson_diff_object(struct keelson_diff_object **out, const struct keelson_object *desired,
			const cJSON *live, const struct keelson_diff_options *opts);

/* Same, taking ownership of `live` (freed also on failure) instead of
 * copying it: for a caller that holds a private copy anyway (one read from
 * the watch cache), it saves copying every live object again per drift
 * check (half the time of diffing an object in sync). */
int keelson_diff_object_take(struct keelson_diff_object **out, const struct keelson_object *desired, cJSON *live,
			     const struct keelson_diff_options *opts);

/* An object in the cluster that keelson owns (per the system's inventory)
 * and the repository no longer has: state NOT_IN_REPO. */
int keelson_diff_not_in_repo(struct keelson_diff_object **out, const cJSON *live);

void keelson_diff_object_free(struct keelson_diff_object *obj);

/* The object as JSON for machines: identity, state, file/line, fields
 * ({pointer, livePointer, change, desired, live, file, line, column,
 * exact}), ignored. NULL on allocation failure. */
cJSON *keelson_diff_object_to_json(const struct keelson_diff_object *obj);

/* Whether `pointer` names a Secret value (data, stringData). Rendered
 * output and JSON never show these: they print KEELSON_DIFF_REDACTED, and
 * the unified diff "*** (before)" / "*** (after)" as kubectl diff does. */
bool keelson_diff_is_secret_value(const char *group, const char *kind, const char *pointer);

#define KEELSON_DIFF_REDACTED "*** (redacted)"

/* Whether the live `pointer` is one of the labels keelson puts on every
 * object it applies, in the same apply as the repository's fields
 * (KEELSON_LABEL_CLUSTER and KEELSON_LABEL_SYSTEM of reconcile/inventory.h):
 * "/metadata/labels/keelson.dev~1cluster" or ".../keelson.dev~1system".
 * The diff counts them as desired: owned by field manager `keelson` and
 * absent from the repository, they are not fields the repository removed.
 * Their values are not compared (the repository does not write them);
 * the reconcile loop checks the system label itself
 * (keelson_change.labelled). */
bool keelson_diff_is_keelson_label(const char *pointer);

/* --- Systems -------------------------------------------------------------- */

/* Where live objects come from. Set *out to a new object (the diff frees
 * it) or to NULL when it does not exist. A negative return stops the diff
 * of the system with that error. */
typedef int (*keelson_diff_live_fn)(cJSON **out, const struct keelson_object *desired, void *payload);

/* GET through the client (`payload` is a struct keelson_kube_client *):
 * one request per object, for the CLI. A kind the server does not serve
 * (a CRD not created yet) is a missing object. */
int keelson_diff_live_from_client(cJSON **out, const struct keelson_object *desired, void *payload);

/* From the watch cache (`payload` is a struct keelson_kube_cache * with
 * the object's type added): no request, for the daemon. */
int keelson_diff_live_from_cache(cJSON **out, const struct keelson_object *desired, void *payload);

/* The diff of every object of one system, in the system's object order. */
struct keelson_diff_report {
	const struct keelson_system *system; /* borrowed; NULL when built by hand */
	struct keelson_diff_object **objects;
	size_t count;
	size_t in_sync, drifted, missing, not_in_repo;
	size_t capacity;
};

/* Diff each object of `system` against what `live` returns. On error *out
 * is NULL and the message names the object (file:line, kind, name). */
int keelson_diff_system(struct keelson_diff_report **out, const struct keelson_system *system,
			keelson_diff_live_fn live, void *payload, const struct keelson_diff_options *opts);

/* An empty report (for NOT_IN_REPO objects from an inventory, or a report
 * assembled by the caller). */
int keelson_diff_report_new(struct keelson_diff_report **out, const struct keelson_system *system);

/* Append `obj`; the report takes ownership (also on failure, when it is
 * freed). */
int keelson_diff_report_add(struct keelson_diff_report *report, struct keelson_diff_object *obj);

/* Nothing drifted, missing or left the repository. */
bool keelson_diff_report_in_sync(const struct keelson_diff_report *report);

void keelson_diff_report_free(struct keelson_diff_report *report);

/* --- Rendering ----------------------------------------------------------- */

/* Print a unified diff of the object, live ("---") against what the
 * repository would make of it ("+++"), as YAML with managedFields, status,
 * resourceVersion, uid, creationTimestamp and generation hidden, like
 * `kubectl diff`. Nothing is printed for an object in sync. `color`: ANSI
 * colours (red removed, green added, cyan hunk headers). */
int keelson_diff_render_unified(FILE *out, const struct keelson_diff_object *obj, bool color);

/* `value` as block YAML (keys sorted), in a newly allocated string. */
char *keelson_diff_yaml(const cJSON *value);

#endif
