/*
 * Pull-request review: what merging a change (base revision -> head
 * revision of the desired-state repository) would do, per cluster and
 * system: the objects that change, with field diffs as JSON pointers and
 * the head file:line, and the ordered operational plan of the system's
 * plugin.
 *
 * Offline (a preview) the base revision stands in for the cluster: the
 * view's live objects are the base revision's objects, as keelson would
 * have applied them; there are no pods and no probes, and plugins are told
 * so with KEELSON_VIEW_PREVIEW (plugins/include/keelson/plugin.h). Live,
 * a caller-supplied environment (the cluster) answers instead.
 *
 * Rendered as text, Markdown (a pull-request comment) or JSON; the schema
 * of the JSON and the meaning of every field are in docs/pull-requests.md.
 */
#ifndef KEELSON_REVIEW_REVIEW_H
#define KEELSON_REVIEW_REVIEW_H

#include "diff/diff.h"
#include "layout/layout.h"
#include "plugin/plugin_host.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes of `keelson plan --base --head`, for CI jobs. */
enum keelson_review_exit {
	KEELSON_REVIEW_EXIT_NOTHING = 0, /* nothing would change */
	KEELSON_REVIEW_EXIT_CHANGES = 1, /* objects change or steps would run */
	KEELSON_REVIEW_EXIT_ERROR = 2,   /* the review could not be made (invalid head, ...) */
	KEELSON_REVIEW_EXIT_REFUSED = 3, /* a step or a change is refused or blocked */
};

enum keelson_review_change {
	KEELSON_REVIEW_UNCHANGED = 0,
	KEELSON_REVIEW_ADDED,     /* in head only */
	KEELSON_REVIEW_REMOVED,   /* in base only */
	KEELSON_REVIEW_MODIFIED,  /* in both, different */
	KEELSON_REVIEW_MOVED,     /* object: now written in another system of the cluster */
};

/* "unchanged", "added", "removed", "modified", "moved". */
const char *keelson_review_change_name(enum keelson_review_change change);

/* What happens to an object that left the repository. */
enum keelson_review_prune {
	KEELSON_REVIEW_PRUNE_NONE = 0,    /* not a removal */
	KEELSON_REVIEW_PRUNE_DELETE,      /* deleted (the system's prune policy is on) */
	KEELSON_REVIEW_PRUNE_HELD,        /* left in place: prune is off for the system */
	KEELSON_REVIEW_PRUNE_UNMANAGED,   /* its system or cluster left the repository:
					     keelson stops managing it, nothing is deleted */
	KEELSON_REVIEW_PRUNE_MOVED,       /* written in another system now: not deleted */
};

/* "", "delete", "keep (prune off)", "keep (unmanaged)", "keep (moved)". */
const char *keelson_review_prune_name(enum keelson_review_prune prune);

struct keelson_review_object {
	enum keelson_review_change change;
	char *api_version, *group, *kind, *namespace_, *name;
	/* Where head writes it (base for REMOVED); base's file when it moved. */
	char *file;
	unsigned line;
	char *base_file;          /* NULL when ADDED */
	unsigned base_line;
	char *moved_system;       /* MOVED: the system it came from; REMOVED+PRUNE_MOVED: where it went */
	enum keelson_review_prune prune;
	/* The field diff (MODIFIED, MOVED with differences; ADDED: state
	 * MISSING; REMOVED: state NOT_IN_REPO), rendered from it. Owned. */
	struct keelson_diff_object *diff;
	/* Why an apply cannot make this change (an immutable field), or NULL. */
	char *refused;
};

enum keelson_review_plan_status {
	KEELSON_REVIEW_PLAN_NONE = 0, /* no plan: the system left the repository */
	KEELSON_REVIEW_PLAN_OK,
	KEELSON_REVIEW_PLAN_FAILED,   /* the plugin could not plan: the system would be blocked */
};

struct keelson_review_system {
	char *cluster, *system, *plugin;
	enum keelson_review_change change;
	char *file;                /* its system.yaml (head, else base) */
	bool prune;                /* effective prune policy (head, else base) */
	struct keelson_review_object *objects; /* changed objects only, head order then removals */
	size_t object_count;
	size_t unchanged_objects;
	/* Of those, objects whose only differences spec.ignoreDifferences
	 * covers: keelson does not apply them (until something else changes). */
	size_t ignored_only;
	enum keelson_review_plan_status plan_status;
	struct keelson_plan *plan; /* PLAN_OK */
	char *plan_error;          /* PLAN_FAILED */
	size_t changed, steps, refused; /* summary counts */
	bool error;                /* the cluster could not be read (live): plan_error says why */
};

struct keelson_review {
	char *repository;
	char *base_rev, *head_rev;       /* as given */
	char base_sha[41], head_sha[41];
	bool live;                       /* plans made against the cluster */
	struct keelson_review_system *systems; /* cluster, then system name order */
	size_t system_count;
	size_t changed, steps, refused;  /* totals */
	size_t errors;                   /* systems that could not be planned for lack of the cluster */
};

/* Where the plan's environment comes from in a live review: one
 * environment per cluster (the caller connects to it). Return 0 and *out,
 * or an error (message set): the cluster's systems then fail to plan. */
typedef int (*keelson_review_env_fn)(const struct keelson_plugin_env **out, const struct keelson_cluster *cluster,
				     void *payload);

#define KEELSON_REVIEW_OPTIONS_VERSION 1

struct keelson_review_options {
	unsigned version;               /* KEELSON_REVIEW_OPTIONS_VERSION */
	const char *repository;         /* for people: path or redacted URL */
	const char *base_rev, *head_rev;
	const char *base_sha, *head_sha;
	const char *cluster;            /* only this cluster, or NULL */
	const char *system;             /* only systems of this name, or NULL */
	const struct keelson_plugin_registry *registry; /* plugins for the plans */
	/* NULL: a preview from the base revision (KEELSON_VIEW_PREVIEW). */
	keelson_review_env_fn live_env;
	void *live_payload;
};

void keelson_review_options_init(struct keelson_review_options *options);

/* Compare `base` with `head` (both loaded by the layout loader with the
 * same plugin tables installed) and plan every selected system of head.
 * KEELSON_ENOTFOUND when --cluster/--system select nothing in either
 * revision. Free with keelson_review_free. */
int keelson_review_build(struct keelson_review **out, const struct keelson_desired_state *base,
			 const struct keelson_desired_state *head, const struct keelson_review_options *options);

void keelson_review_free(struct keelson_review *review);

/* KEELSON_REVIEW_EXIT_* for a review that was made: ERROR when a live
 * cluster could not be read (the review is incomplete), then REFUSED,
 * CHANGES, NOTHING. */
int keelson_review_exit_code(const struct keelson_review *review);

/* The objects of one cluster (every system) by identity: group, kind,
 * namespace, name (the API version may differ between revisions). Lookups
 * are O(log n): a review of a large repository stays linear-ish. */
struct keelson_review_index;

/* `cluster` NULL: an empty index. Borrows the cluster's objects. */
int keelson_review_index_new(struct keelson_review_index **out, const struct keelson_cluster *cluster);
void keelson_review_index_free(struct keelson_review_index *index);
const struct keelson_object *keelson_review_index_find(const struct keelson_review_index *index, const char *group,
						       const char *kind, const char *namespace_, const char *name);

/* The preview environment over the base revision's cluster: live_get
 * answers its objects as keelson would have applied them (and "does not
 * exist" for anything else), live_list an empty list, http always fails.
 * `out` must stay where it is while used; the index must outlive it. */
struct keelson_review_preview_env {
	struct keelson_plugin_env env; /* pass &this->env */
	const struct keelson_review_index *base;
};
void keelson_review_preview_env(struct keelson_review_preview_env *out, const struct keelson_review_index *base);

/* A copy of `body` as the API server would hold it after keelson applied
 * it: metadata.managedFields names field manager "keelson" (operation
 * Apply) as the owner of every field the body sets, so the diff engine
 * reports fields a later revision drops as removed. NULL when out of
 * memory. */
cJSON *keelson_review_as_applied(const cJSON *body, const char *group, const char *kind);

/* --- Output ---------------------------------------------------------------- */

enum keelson_review_format {
	KEELSON_REVIEW_TEXT = 0,
	KEELSON_REVIEW_MARKDOWN,
	KEELSON_REVIEW_JSON,
};

/* Parse "text", "markdown" (or "md"), "json"; -1 for anything else. */
int keelson_review_format_parse(const char *name);

int keelson_review_render(FILE *out, const struct keelson_review *review, enum keelson_review_format format);

/* The JSON document of a review (schema in docs/pull-requests.md). */
cJSON *keelson_review_to_json(const struct keelson_review *review);

/* A review that could not be made (exit 2), in the same format, so a CI
 * job posts the reason: `message`, and the problems of an invalid head
 * (may be NULL) with their file:line:column. The commit ids may be NULL or
 * "" when not known (yet). */
struct keelson_problem_list;
int keelson_review_render_error(FILE *out, enum keelson_review_format format, const char *repository,
				const char *base_rev, const char *base_sha, const char *head_rev,
				const char *head_sha, const char *message,
				const struct keelson_problem_list *problems);

#endif
