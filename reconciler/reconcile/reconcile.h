/*
 * The reconcile loop's engine: one cycle = poll Git, load the revision when
 * it moved (an invalid revision is rejected whole and the last good one
 * stays), then for every cluster this instance manages, diff each system's
 * objects against the watch cache and hand the change set to the generic
 * apply path.
 *
 * Incremental: a cycle caused only by a new commit diffs only the systems
 * whose files (or cluster.yaml, keelson.yaml) the commit changed, changed
 * systems first; a generic system left unchanged keeps the revision its
 * content last changed in (its inventory is not rewritten) and is compared
 * again at the drift check or on a watch event. A system that had not
 * converged is never skipped.
 *
 * Level-triggered: every cycle recomputes from the revision, the live
 * objects (cache) and the inventories in the cluster; nothing that matters
 * for safety lives only in memory. Cheap when idle: a cycle where the
 * revision, the cache and the inventories agree makes no Kubernetes request.
 */
#ifndef KEELSON_RECONCILE_RECONCILE_H
#define KEELSON_RECONCILE_RECONCILE_H

#include "config/config.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keelson_reconciler;

struct keelson_cycle_report {
	char revision[41];        /* revision in force ("" when none yet) */
	bool new_revision;        /* a new valid revision was loaded this cycle */
	bool revision_rejected;   /* the newest revision is invalid; the last good one stays */
	bool git_failed;          /* the Git remote could not be polled */
	bool skipped;             /* nothing changed since the last converged cycle */
	bool converged;           /* every managed cluster matches the revision */
	size_t objects, applied, pruned, prune_held, blocked, failed, drifted;
	size_t clusters_failed;   /* could not be reached or read */
	/* Systems whose plugin is not `generic` (run by the plugin executor): */
	size_t steps_run;         /* plugin steps run this cycle (progress) */
	size_t waiting;           /* systems waiting on a condition (a pod becoming Ready) */
	/* Systems compared with the cluster this cycle, and systems a new
	 * commit left unchanged that were therefore not compared (a generic
	 * system that converged at its content's revision is compared again at
	 * the next drift check or watch event, not on every commit). */
	size_t systems_diffed, systems_unchanged;
	/* Why Git or a cluster's API failed this cycle ("" when it did not),
	 * for /readyz; no credentials in them. */
	char git_error[256];
	char api_error[256];
};

/* Create a reconciler for `cfg` (borrowed; must outlive it). Opens the Git
 * cache; contacts nothing yet. `stop` (may be NULL) is checked between
 * steps: when set, the current step finishes and the rest is abandoned. */
int keelson_reconciler_new(struct keelson_reconciler **out, const struct keelson_config *cfg,
			   const volatile sig_atomic_t *stop);

void keelson_reconciler_free(struct keelson_reconciler *r); /* accepts NULL */

struct keelson_plugin_registry;

/* The plugins that run systems whose plugin is not `generic`: each cycle
 * runs at most one step of such a system through the plugin executor
 * (rollout state in ConfigMap keelson-rollout-CLUSTER-SYSTEM of the
 * inventory namespace), objects its steps apply are recorded in the
 * system's inventory, and the system converges when the plan is empty.
 * `plugins` is borrowed: it must outlive `r` (install it in the layout
 * loader too, keelson_plugin_registry_install_layout). Without it such
 * systems fail with a message. */
void keelson_reconciler_set_plugins(struct keelson_reconciler *r, const struct keelson_plugin_registry *plugins);

struct keelson_alerts;

/* Where blocked rollouts are alerted (KeelsonRolloutBlocked, fired every
 * cycle the system is blocked, resolved when it is not). Borrowed; NULL:
 * log lines only. */
void keelson_reconciler_set_alerts(struct keelson_reconciler *r, struct keelson_alerts *alerts);

struct keelson_nudge;

/* Webhook pushes: keelson_reconciler_wait returns 1 (Git) as soon as the
 * nudge is posted, so the next cycle polls Git at once; posts made before
 * the wait looks coalesce into one poll. Borrowed; NULL: none. */
void keelson_reconciler_set_nudge(struct keelson_reconciler *r, struct keelson_nudge *nudge);

struct keelson_status_writer;

/* Where the status of each system evaluated by a cycle is recorded (phase,
 * step, last error, drift); the caller flushes it. Borrowed; NULL: none.
 * Without status.branch in the configuration, the writer is switched to
 * the repository's spec.statusBranch whenever a revision is loaded (never
 * to the branch keelson reads). */
void keelson_reconciler_set_status(struct keelson_reconciler *r, struct keelson_status_writer *status);

/* Kubernetes Events on the objects plugin steps act on and on healed drift
 * (default on; `keelson sync` and `keelson run` leave it on). */
void keelson_reconciler_set_events(struct keelson_reconciler *r, bool on);

/* Run one cycle. `full` forces a complete drift check even when nothing
 * seems to have changed. Returns 0 when the cycle ran (see the report),
 * a negative code only for errors that stop the loop (out of memory). */
int keelson_reconciler_cycle(struct keelson_cycle_report *out, struct keelson_reconciler *r, bool full);

/* Sleep until the Git trigger fires (poll interval, or a ref of a local
 * repository changed), a webhook nudge is posted, a cached object changed,
 * `max_wait_ms` passed, or `stop`/`wake` is set. Returns what woke it:
 * 0 timeout, 1 Git (trigger or nudge), 2 cache. */
int keelson_reconciler_wait(struct keelson_reconciler *r, long max_wait_ms, const volatile sig_atomic_t *wake);

/* The effective drift-check period: the shortest driftCheckInterval of the
 * systems in force (ms), or 10 minutes without a revision. */
unsigned long long keelson_reconciler_drift_check_ms(const struct keelson_reconciler *r);

#endif
