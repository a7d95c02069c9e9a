/*
 * The repository layout loader: from the files of one revision to the
 * desired state, clusters -> systems -> objects, or to the complete list of
 * problems that reject the revision. The layout is specified in
 * repo-layout/README.md.
 *
 * Everything in a desired state is read-only and lives as long as the state:
 * object bodies are the cJSON trees of the YAML loader, whose streams the
 * state keeps so that any node's file:line:column can still be asked for
 * (keelson_yaml_position(object->stream, node)).
 */
#ifndef KEELSON_LAYOUT_LAYOUT_H
#define KEELSON_LAYOUT_LAYOUT_H

#include "layout/file_source.h"
#include "layout/problems.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct keelson_yaml_stream;
struct keelson_yaml_limits;
struct keelson_diff_ignore_rules;

enum keelson_drift_policy {
	KEELSON_DRIFT_ALERT = 0,
	KEELSON_DRIFT_HEAL,
	KEELSON_DRIFT_IGNORE,
};

const char *keelson_drift_policy_name(enum keelson_drift_policy policy);

/* Effective policy of a system (System over Cluster over Repository). */
struct keelson_policy {
	bool prune;
	enum keelson_drift_policy drift_policy;
	unsigned long long poll_interval_s;
	unsigned long long drift_check_interval_s;
	unsigned long long alert_repeat_interval_s;
};

struct keelson_system;
struct keelson_cluster;

struct keelson_object {
	/* Identity: (group, kind, namespace, name). namespace is "" for
	 * cluster-scoped kinds. All strings are borrowed from `body`, except
	 * group, which the state owns. */
	const char *api_version;
	const char *group;
	const char *kind;
	const char *namespace_;
	const char *name;
	const cJSON *body;
	/* Where the document starts, and the stream to ask for positions of
	 * nodes inside it. */
	const struct keelson_yaml_stream *stream;
	const char *file;
	unsigned line, column;
	size_t document_index;
	const struct keelson_system *system;
};

struct keelson_system {
	const char *name;
	const char *plugin;
	const char *description;   /* NULL when not written */
	const cJSON *parameters;   /* NULL when not written; borrowed */
	/* spec.ignoreDifferences: the node (NULL when not written) and its
	 * rules as reconciler/diff reads them (NULL when not written; pass
	 * as keelson_diff_options.ignore). Both live as long as the state. */
	const cJSON *ignore_differences;
	const struct keelson_diff_ignore_rules *ignore_rules;
	struct keelson_policy policy;
	const char *file;          /* its system.yaml */
	unsigned line, column;
	const struct keelson_cluster *cluster;
	struct keelson_object *objects; /* in file path order, then document order */
	size_t object_count;
	/* Identifies everything the system's desired state is made of: its
	 * files (by path and Git blob id, or SHA-256 of the bytes), its
	 * cluster.yaml and keelson.yaml. Equal in two revisions loaded from
	 * the same kind of source: the system did not change between them. */
	unsigned char content_id[32];
};

struct keelson_cluster {
	const char *name;
	const char *kube_context;
	const char *description;   /* NULL when not written */
	struct keelson_policy policy; /* cluster level: Cluster over Repository */
	const char *file;
	struct keelson_system *systems; /* sorted by name */
	size_t system_count;
	size_t object_count;
};

struct keelson_desired_state {
	const char *source;         /* the file source's description */
	const char *repository_name;
	const char *status_branch;
	struct keelson_policy defaults;
	struct keelson_cluster *clusters; /* sorted by name */
	size_t cluster_count;
	size_t system_count;
	size_t object_count;
	size_t file_count;          /* YAML files read */
	size_t files_reused;        /* of those, taken parsed from options->previous */
	size_t files_unread;        /* of those, matched by object id: neither read nor hashed */
	size_t files_parsed;        /* YAML files parsed for this revision */
	/* Systems whose content id equals the one in options->previous: their
	 * objects were taken from it, already checked, not checked again.
	 * Checks across systems (an object claimed by two) still cover them. */
	size_t systems_reused;
	void *impl;                 /* owned memory; opaque */
};

#define KEELSON_LAYOUT_OPTIONS_VERSION 1

struct keelson_layout_options {
	unsigned version;                /* KEELSON_LAYOUT_OPTIONS_VERSION */
	size_t max_file_size;            /* bytes per file (default 8 MiB) */
	size_t max_files;                /* files visited, any type (default 1,000,000) */
	size_t max_total_bytes;          /* sum of YAML file sizes (default 2 GiB) */
	const struct keelson_yaml_limits *yaml_limits; /* NULL: the YAML loader's defaults */
	/* The state of an earlier revision, or NULL. Files that are unchanged
	 * are not parsed again: the new state shares their parsed form (either
	 * state may be freed first). Unchanged means the same path and object
	 * id (a Git blob id, file source version 3: such a file is neither
	 * read nor hashed), or, from a source without ids, the same path, size
	 * and SHA-256. A system whose content id is unchanged takes its checked
	 * objects from `previous` (systems_reused); everything else, and the
	 * checks across systems, run on the whole revision. Use the same
	 * yaml_limits and plugin registry for both loads. */
	const struct keelson_desired_state *previous;
	/* Objects in the revision (default 1,000,000; 0 means the default):
	 * beyond it the revision is refused with a too-large problem. */
	size_t max_objects;
};

void keelson_layout_options_init(struct keelson_layout_options *options);

/* Load and validate every file of `source`. `options` NULL means defaults.
 *
 * Returns 0 and *out (free with keelson_desired_state_free) when the
 * revision is valid; KEELSON_EINVALID when it is not, with *out NULL and
 * every problem in *out_problems (sorted by file and position); another
 * negative code when the source could not be read (message in
 * keelson_error_last()). *out_problems is always set on return (possibly
 * empty) and freed with keelson_problem_list_free. */
int keelson_layout_load(struct keelson_desired_state **out,
			struct keelson_problem_list **out_problems,
			const struct keelson_file_source *source,
			const struct keelson_layout_options *options);

void keelson_desired_state_free(struct keelson_desired_state *state);

/* Lookups; NULL when absent. */
const struct keelson_cluster *keelson_desired_state_cluster(const struct keelson_desired_state *state,
							   const char *name);
const struct keelson_system *keelson_cluster_system(const struct keelson_cluster *cluster,
						   const char *name);

/* Whether objects of (group, kind) are cluster-scoped: the built-in kinds
 * plus the repository's clusterScopedKinds. */
bool keelson_desired_state_is_cluster_scoped(const struct keelson_desired_state *state,
					     const char *group, const char *kind);

#endif
