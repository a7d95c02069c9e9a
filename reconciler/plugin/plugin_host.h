/*
 * The plugin host: loads plugin shared objects, checks their descriptors,
 * parses system parameters against the tables plugins declare, and runs a
 * plugin's plan() with the host services of plugins/include/keelson/plugin.h.
 *
 * The registry always holds the built-in `generic` plugin (apply every
 * object that is missing or drifted, no gates).
 */
#ifndef KEELSON_PLUGIN_PLUGIN_HOST_H
#define KEELSON_PLUGIN_PLUGIN_HOST_H

#include "keelson/plugin.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

struct keelson_problem_list;
struct keelson_yaml_stream;
struct keelson_system;

/* --- Registry ------------------------------------------------------------ */

struct keelson_plugin_registry;

/* A registry holding only the built-in plugins. */
int keelson_plugin_registry_new(struct keelson_plugin_registry **out);

/* Accepts NULL. Unloads the shared objects: free only after every pointer
 * into a plugin (descriptor, parameter table) is gone, and after
 * keelson_plugin_registry_uninstall_layout. */
void keelson_plugin_registry_free(struct keelson_plugin_registry *registry);

/* Load one plugin shared object. Refuses (KEELSON_EINVALID, message naming
 * the file and what to do) a file that dlopen cannot load, lacks the entry
 * point, returns NULL, has another ABI version, a struct_size smaller than
 * this host's, a malformed name or parameter table, or a name already
 * loaded. */
int keelson_plugin_registry_load_file(struct keelson_plugin_registry *registry, const char *path);

/* Load every "*.so" file of `dir`, in name order. Stops at the first
 * refusal: a daemon must not run with a plugin silently missing.
 * KEELSON_ENOTFOUND when the directory does not exist. */
int keelson_plugin_registry_load_dir(struct keelson_plugin_registry *registry, const char *dir);

/* Plugins in load order, built-ins first. `path` is NULL for built-ins. */
size_t keelson_plugin_registry_count(const struct keelson_plugin_registry *registry);
const struct keelson_plugin *keelson_plugin_registry_at(const struct keelson_plugin_registry *registry,
							  size_t index, const char **path);
const struct keelson_plugin *keelson_plugin_registry_find(const struct keelson_plugin_registry *registry,
							    const char *name);

/* Make the layout loader validate `plugin:` and `spec.parameters` of every
 * System against this registry (unknown plugins, unknown keys, types,
 * references, with file:line:column). The registry must outlive the loads;
 * uninstall restores the built-in table. */
int keelson_plugin_registry_install_layout(struct keelson_plugin_registry *registry);
void keelson_plugin_registry_uninstall_layout(struct keelson_plugin_registry *registry);

/* The default plugin directory: $KEELSON_PLUGIN_DIR, else the configured
 * $(pkglibdir). */
const char *keelson_plugin_default_dir(void);

/* Print the plugin's name, description and parameter table for people. */
void keelson_plugin_describe(FILE *out, const struct keelson_plugin *plugin, const char *path);

/* --- Parameters ---------------------------------------------------------- */

struct keelson_plugin_params {
	struct keelson_param_value *values; /* one per table entry */
	size_t count;
	void *impl;
};

/* Parse `parameters` (a system's spec.parameters, may be NULL) against the
 * plugin's table. Unknown keys, wrong types and missing required
 * parameters are problems added to `problems` with their position in
 * `stream` (may be NULL) / `file`; returns KEELSON_EINVALID when any was
 * added. Defaults fill what the document does not write. String values
 * borrow from `parameters`, which must outlive *out. */
int keelson_plugin_params_parse(struct keelson_plugin_params **out, struct keelson_problem_list *problems,
				const struct keelson_plugin *plugin, const cJSON *parameters,
				const struct keelson_yaml_stream *stream, const char *file);

void keelson_plugin_params_free(struct keelson_plugin_params *params);

/* --- Environment: where host services get their answers ------------------- */

#define KEELSON_PLUGIN_ENV_VERSION 1

/* The I/O behind the host services. The daemon and `keelson plan` use
 * keelson_plugin_env_kube(); tests may supply their own. */
struct keelson_plugin_env {
	unsigned version; /* KEELSON_PLUGIN_ENV_VERSION */
	void *payload;
	/* 0 and *out (caller frees), KEELSON_ENOTFOUND, or another error. */
	int (*live_get)(cJSON **out, void *payload, const char *api_version, const char *kind,
			const char *ns, const char *name);
	/* A JSON array of objects (caller frees). */
	int (*live_list)(cJSON **out, void *payload, const char *api_version, const char *kind,
			 const char *ns, const char *label_selector);
	/* 0 for 2xx; otherwise an error with the message set. *out_status
	 * and *out_body (caller frees, may stay NULL) are filled when an
	 * answer came. */
	int (*http)(long *out_status, char **out_body, size_t *out_len, void *payload,
		    enum keelson_proxy_target target, const char *ns, const char *name, const char *port,
		    const char *method, const char *path, const char *body, long long timeout_ms);
	long long (*now_ms)(void *payload);
};

struct keelson_kube_client;
struct keelson_kube_cache;

struct keelson_plugin_kube_env {
	struct keelson_plugin_env env; /* pass &this->env */
	struct keelson_kube_client *client;
	struct keelson_kube_cache *cache;
};

/* Live reads from `cache` when given (types not cached fall back to the
 * client), HTTP through the client's proxy, the system clock. `out` is the
 * payload: it must stay where it is while the env is used. */
void keelson_plugin_env_kube(struct keelson_plugin_kube_env *out, struct keelson_kube_client *client,
			     struct keelson_kube_cache *cache);

/* Whether `labels` (an object of strings, may be NULL) matches an
 * equality-based selector ("a=b,c!=d,e,!f"). KEELSON_EINVALID for a
 * selector this host does not understand (set-based). Returns 1/0. */
int keelson_label_selector_match(const char *selector, const cJSON *labels);

/* --- Planning -------------------------------------------------------------- */

/* A step as the host keeps it: owned copies. */
struct keelson_plan_step {
	enum keelson_step_kind kind;
	char *description, *gate, *key;
	char *api_version, *kind_name, *namespace_, *name;
	cJSON *object;              /* APPLY */
	enum keelson_patch_type patch_type;
	char *patch;
	long long grace_seconds;
	char *precondition_uid;
	enum keelson_proxy_target http_target;
	char *http_port, *http_method, *http_path, *http_body;
	long long timeout_ms;
	char *reason;
	char *propagation;          /* DELETE: "Orphan", "Background" or "Foreground" */
	char *subresource;          /* PATCH: "status", "scale" or NULL */
};

struct keelson_plan {
	struct keelson_plan_step *steps;
	size_t count;
	size_t capacity;
};

void keelson_plan_free(struct keelson_plan *plan);

/* "apply", "patch", "delete-pod", "http", "wait", "blocked", "delete". */
const char *keelson_step_kind_name(enum keelson_step_kind kind);

/* One object of the view the host builds. */
struct keelson_plan_object {
	const cJSON *desired;
	const cJSON *live;        /* NULL when missing */
	enum keelson_object_state state;
	const char *file;
	unsigned line;
};

struct keelson_plan_input {
	const char *cluster;
	const char *system;
	const char *revision;     /* or NULL */
	const struct keelson_plan_object *objects;
	size_t object_count;
	const struct keelson_plugin_params *params;
	const struct keelson_plugin_env *env;
	unsigned view_flags;      /* KEELSON_VIEW_*, copied to keelson_view.flags */
};

/* Ask `plugin` for the remaining steps. KEELSON_ERROR (message set) when
 * the plugin returned -1 or added a malformed step: callers treat the
 * system as blocked. */
int keelson_plugin_plan(struct keelson_plan **out, const struct keelson_plugin *plugin,
			const struct keelson_plan_input *input);

struct keelson_diff_options;

/* Build the objects of a plan input for `system`: each desired object with
 * its live counterpart read through `env` and its diff state under `diff`
 * (NULL: defaults; pass the system's ignore rules, or ignored differences
 * look like drift the plugin would apply again and again). Frees with
 * keelson_plan_objects_free (which also frees the live copies). */
int keelson_plan_objects_build(struct keelson_plan_object **out, size_t *out_count,
			       const struct keelson_system *system, const struct keelson_plugin_env *env,
			       const struct keelson_diff_options *diff);
void keelson_plan_objects_free(struct keelson_plan_object *objects, size_t count);

/* Print a plan for people: numbered steps with description and gate. */
void keelson_plan_print(FILE *out, const struct keelson_plan *plan);

#endif
