/*
 * The step executor: observe, plan, run the first step, persist, return.
 * One call is one cycle for one system; the caller (the reconcile loop)
 * calls again after a change or a poll interval. After KEELSON_EXEC_RAN,
 * wait until the live cache has seen the change
 * (keelson_kube_cache_wait_change) before the next cycle: an apply, patch
 * or HTTP step that is planned again three times in a row right after
 * succeeding is taken to have no effect and blocks the system.
 *
 * Level-triggered: what safety depends on is either observed again every
 * cycle (pod revisions and readiness, by the plugin) or persisted in the
 * cluster before acting, in one ConfigMap per system (the start of the
 * current wait, the blocked state, a fingerprint of the system's desired
 * objects and parameters, the step in flight and its attempts). Only the back-off delay lives in memory: losing it on a
 * restart costs one early retry, never safety.
 */
#ifndef KEELSON_PLUGIN_EXECUTOR_H
#define KEELSON_PLUGIN_EXECUTOR_H

#include "plugin/plugin_host.h"

#include <cjson/cJSON.h>

struct keelson_kube_client;
struct keelson_system;

/* Where the per-system state lives. The daemon uses
 * keelson_executor_store_kube(); tests may keep it in memory. */
struct keelson_executor_store {
	void *payload;
	/* *out: the saved object (caller frees), or NULL when nothing is saved. */
	int (*load)(cJSON **out, void *payload, const char *cluster, const char *system);
	int (*save)(void *payload, const char *cluster, const char *system, const cJSON *state);
};

/* ConfigMap "keelson-rollout-<cluster>-<system>" in `ns`, data key "state". */
struct keelson_executor_kube_store {
	struct keelson_executor_store store; /* pass &this->store */
	struct keelson_kube_client *client;
	char ns[64];
};
void keelson_executor_store_kube(struct keelson_executor_kube_store *out, struct keelson_kube_client *client,
				 const char *ns);

#define KEELSON_EXECUTOR_OPTIONS_VERSION 1

struct keelson_executor_options {
	unsigned version;                    /* KEELSON_EXECUTOR_OPTIONS_VERSION */
	const struct keelson_plugin_env *env; /* observation and probes */
	struct keelson_kube_client *client;  /* runs apply/patch/delete/http steps; NULL: a
	                                        step that needs it fails */
	const struct keelson_executor_store *store;
	long long default_wait_timeout_ms;   /* a WAIT step without timeout (default 300000) */
	unsigned max_attempts;               /* failed attempts of one step before blocked (default 5) */
	long long backoff_initial_ms;        /* default 1000; doubles per failure */
	long long backoff_max_ms;            /* default 300000 */
	/* Called once when a system becomes blocked (not on every cycle while
	 * it stays blocked), for alerts. May be NULL. */
	void (*on_blocked)(void *payload, const char *cluster, const char *system, const char *reason);
	void *on_blocked_payload;
	/* Runs APPLY steps instead of a plain server-side apply with `client`,
	 * so the reconcile loop can record the object in the system's
	 * inventory before applying it (see reconcile/generic_apply.h). 0 or
	 * an error with the message set. May be NULL. */
	int (*apply)(void *payload, const char *cluster, const char *system, const cJSON *object);
	void *apply_payload;
};

void keelson_executor_options_init(struct keelson_executor_options *opts);

enum keelson_exec_outcome {
	KEELSON_EXEC_CONVERGED = 0, /* no steps left */
	KEELSON_EXEC_RAN,           /* ran the first step */
	KEELSON_EXEC_WAITING,       /* the first step is a wait that has not timed out */
	KEELSON_EXEC_BLOCKED,       /* stopped; stays so until the system's desired objects or
	                               parameters change, or the state ConfigMap is deleted */
	KEELSON_EXEC_FAILED,        /* the step or the observation failed; retried after backoff_ms */
	KEELSON_EXEC_BACKOFF,       /* nothing done: an earlier failure's back-off is running */
};

const char *keelson_exec_outcome_name(enum keelson_exec_outcome outcome);

struct keelson_exec_result {
	enum keelson_exec_outcome outcome;
	char description[512];  /* the step run or waited for, or the blocked reason */
	size_t steps_left;      /* steps in the plan, this one included */
	long long backoff_ms;   /* FAILED/BACKOFF: how long before the next attempt */
	/* The step run, waited for or blocked on (RAN, WAITING, FAILED,
	 * BLOCKED by a plan step): its kind (keelson_step_kind_name) and the
	 * object it acts on, for Kubernetes Events about that object. Empty
	 * strings when there is no step (CONVERGED, BACKOFF, blocked before
	 * planning) or the step names no object (a WAIT or BLOCKED step
	 * without a target); values longer than a field are truncated. */
	char step_kind[16];
	char target_api_version[64], target_kind[64], target_namespace[64], target_name[256];
	/* What the plugin checked before that step ("all 5 brokers Ready,
	 * URP 0, ..."), or "" when it gave no gate: logged with the step so
	 * people see why keelson judged it safe. */
	char gate[512];
};

struct keelson_executor;

int keelson_executor_new(struct keelson_executor **out, const struct keelson_executor_options *opts);
void keelson_executor_free(struct keelson_executor *exec); /* accepts NULL */

struct keelson_diff_options;

/* One cycle for `system` of `cluster` at `revision` (NULL or "" when
 * unknown), comparing desired and live under `diff` (NULL: defaults; pass
 * the system's ignore rules). Returns 0 with *out filled whatever the
 * outcome, or a negative error when the state store cannot be read or
 * written (nothing was run). */
int keelson_executor_cycle(struct keelson_exec_result *out, struct keelson_executor *exec,
			   const struct keelson_plugin *plugin, const struct keelson_plugin_params *params,
			   const char *cluster, const struct keelson_system *system, const char *revision,
			   const struct keelson_diff_options *diff);

/* The same with a prepared view (objects already observed): for tests and
 * callers that built the objects themselves. */
int keelson_executor_cycle_objects(struct keelson_exec_result *out, struct keelson_executor *exec,
				   const struct keelson_plugin *plugin, const struct keelson_plugin_params *params,
				   const char *cluster, const char *system, const char *revision,
				   const struct keelson_plan_object *objects, size_t object_count);

#endif
