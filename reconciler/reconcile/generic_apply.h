/*
 * The generic path: apply the change set of one system with server-side
 * apply, in dependency order, and prune through the system's inventory.
 * This is what the built-in `generic` plugin does; systems whose plugin is
 * not `generic` get the same change set handed to their plugin once the
 * plugin host exists (until then the reconcile loop sends every system
 * here).
 *
 * Requests: one server-side apply per object to apply (field manager
 * `keelson`, keelson's labels merged into the body, see inventory.h); a
 * second, labels-only apply (`keelson-ownership`) only for objects that
 * still lack keelson's system label afterwards.
 *
 * Safety rules (see inventory.h):
 *   - the inventory is written, listing every object about to be applied,
 *     before the first apply, so a crash never leaves an applied object out
 *     of it;
 *   - an object is deleted only if it is in the inventory, carries keelson's
 *     system label, and its uid matches the inventory (delete precondition),
 *     and only when the system's prune policy allows it and nothing failed
 *     earlier in the run; the entry leaves the inventory only after the
 *     delete succeeded (or the object was found gone);
 *   - changes to immutable fields are never applied: they are reported as
 *     needing a planned operation.
 */
#ifndef KEELSON_RECONCILE_GENERIC_APPLY_H
#define KEELSON_RECONCILE_GENERIC_APPLY_H

#include "diff/diff.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "layout/layout.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

enum keelson_change_action {
	KEELSON_CHANGE_NONE = 0,      /* in sync */
	KEELSON_CHANGE_APPLY,         /* missing or different: apply */
	KEELSON_CHANGE_BLOCKED,       /* an immutable field differs: planned operation needed */
	KEELSON_CHANGE_REPORT,        /* drift the system's policy only reports (alert, ignore) */
};

struct keelson_change {
	const struct keelson_object *object;
	struct keelson_diff_object *diff; /* owned by the change set */
	enum keelson_change_action action;
	const char *blocked_reason;       /* static text, for BLOCKED */
	const char *blocked_pointer;      /* borrowed from diff, for BLOCKED */
	bool labelled;                    /* live carries keelson's system label */
	/* Take the fields the repository sets back from other field managers
	 * (server-side apply force). Set for every apply: Git is the source of
	 * truth for the fields it writes, whether the difference is drift being
	 * healed or a new revision; a hand edit to a field would otherwise block
	 * every later revision that sets it. Fields the repository does not
	 * set stay with their managers. */
	bool force;
	/* Set by the reconcile loop: the difference is drift (the inventory
	 * says this revision converged before), not a new revision. */
	bool drifted;
};

/* Everything the generic path needs to know about one system. */
struct keelson_change_set {
	const struct keelson_system *system;
	const char *cluster;
	const char *revision;            /* commit id being applied */
	struct keelson_change *changes;  /* one per desired object */
	size_t change_count;
	/* Whether an identity (an inventory entry of this system that left it)
	 * is still desired by another system of the cluster: then it moved and
	 * is dropped from this inventory without being deleted. */
	bool (*desired_elsewhere)(void *payload, const char *api_version, const char *kind, const char *ns,
				  const char *name);
	void *payload;
};

void keelson_change_set_dispose(struct keelson_change_set *cs);

/* Host services for one cluster. */
struct keelson_apply_context {
	struct keelson_kube_client *client;
	struct keelson_kube_cache *cache;  /* or NULL; used to wait until it shows our writes */
	const char *inventory_namespace;
	long crd_established_timeout_ms;
	const volatile sig_atomic_t *stop; /* abandon between steps when set; may be NULL */
	bool inventory_namespace_ready;    /* set once the namespace was applied */
};

struct keelson_apply_result {
	/* labelled: labels-only applies (`keelson-ownership`); objects labelled
	 * by their own apply count in `applied` only. */
	size_t applied, labelled, pruned, prune_held, blocked, failed;
	bool inventory_changed;
	bool stopped;     /* abandoned between steps on request */
	bool converged;   /* nothing failed, nothing blocked, not stopped */
};

/* Apply one system's change set. Returns 0 when the run went through (read
 * `out->converged`), a negative code when the inventory could not be read
 * or written (then nothing was applied or pruned after that point). Every
 * object-level failure is logged with the object's identity. */
int keelson_generic_apply(struct keelson_apply_result *out, struct keelson_apply_context *ctx,
			  const struct keelson_change_set *cs);

/* Whether the change set needs a request at all: something to apply or
 * label, or the inventory (as cached, `inventory_cm` may be NULL) is not
 * exactly the desired objects with their uids at `revision`. Lets an idle
 * cycle finish without a single request. */
bool keelson_change_set_needs_work(const struct keelson_change_set *cs, const cJSON *inventory_cm);

/* Create ctx->inventory_namespace when it is missing (once per context;
 * an existing namespace is left as it is). The plugin executor keeps its
 * rollout state there too. */
int keelson_apply_ensure_inventory_namespace(struct keelson_apply_context *ctx);

#endif
