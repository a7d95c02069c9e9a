/*
 * The inventory of a system: what keelson applied for it, kept in the
 * cluster as one ConfigMap per (cluster, system) in the inventory namespace,
 * named keelson-inventory-<cluster>-<system>. Pruning deletes only objects
 * listed here, carrying keelson's labels and whose uid still matches, so
 * keelson never deletes an object it did not create or adopt.
 *
 * The entry list is stored as JSON in data["objects"]:
 *   [{"apiVersion","kind","namespace","name","uid"}, ...]
 * and the last revision that converged in annotation keelson.dev/revision
 * (a difference seen at that revision is drift, at another one a rollout).
 */
#ifndef KEELSON_RECONCILE_INVENTORY_H
#define KEELSON_RECONCILE_INVENTORY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Labels keelson puts on every object it applies. They go into the
 * object's own server-side apply (field manager `keelson`): one request
 * per object. The diff counts them as desired, never as fields the
 * repository removed (keelson_diff_is_keelson_label). The watch cache
 * selects on KEELSON_LABEL_SYSTEM.
 *
 * KEELSON_OWNERSHIP_FIELD_MANAGER applies the two labels alone, forced, to
 * an object that lacks them and is not applied in the run (an in-sync
 * object keelson adopts, a label edited away, drift its policy only
 * reports). Objects keelson labelled before the labels joined the
 * object's apply (always with this manager) keep working: the labels stay
 * owned by it, and are co-owned by `keelson` after the object's next
 * apply. */
#define KEELSON_LABEL_CLUSTER "keelson.dev/cluster"
#define KEELSON_LABEL_SYSTEM "keelson.dev/system"
#define KEELSON_OWNERSHIP_FIELD_MANAGER "keelson-ownership"
#define KEELSON_ANNOTATION_REVISION "keelson.dev/revision"
/* An inventory larger than this is refused (a ConfigMap holds 1 MiB). */
#define KEELSON_INVENTORY_MAX_ENTRIES 5000

struct keelson_inventory_entry {
	char *api_version, *kind, *namespace_, *name;
	char *uid; /* "" until the object was applied and its uid read back */
};

struct keelson_inventory {
	struct keelson_inventory_entry *items;
	size_t count, capacity;
	char *revision; /* last converged revision, or NULL */
	bool exists;    /* the ConfigMap exists in the cluster */
	/* Private to inventory.c: a hash index by identity, so that finding
	 * every object of a system is linear, not quadratic (5,000 entries:
	 * 12.5 million comparisons per lookup pass otherwise). Slots hold an
	 * item index + 1, 0 when empty. Stale after a removal: find then scans,
	 * and the next put rebuilds it. */
	size_t *index_slots;
	size_t index_size;
	bool index_stale;
};

/* "keelson-inventory-<cluster>-<system>" into buf. */
void keelson_inventory_name(char *buf, size_t size, const char *cluster, const char *system);

struct keelson_inventory *keelson_inventory_new(void);
void keelson_inventory_free(struct keelson_inventory *inv); /* accepts NULL */

/* Parse the ConfigMap `cm` (NULL: an empty inventory that does not exist).
 * KEELSON_EINVALID naming the ConfigMap when data["objects"] is malformed:
 * keelson then refuses to prune rather than guess. */
int keelson_inventory_from_configmap(struct keelson_inventory **out, const cJSON *cm);

/* The ConfigMap to apply for `inv`. NULL on allocation failure. */
cJSON *keelson_inventory_to_configmap(const struct keelson_inventory *inv, const char *ns,
				      const char *cluster, const char *system);

/* Index of the entry with this identity (the version of apiVersion is not
 * part of it), or -1. */
long keelson_inventory_find(const struct keelson_inventory *inv, const char *api_version,
			    const char *kind, const char *ns, const char *name);

/* Add an entry, or update the uid (when uid is not NULL/"") and apiVersion
 * of an existing one. */
int keelson_inventory_put(struct keelson_inventory *inv, const char *api_version, const char *kind,
			  const char *ns, const char *name, const char *uid);

void keelson_inventory_remove(struct keelson_inventory *inv, size_t index);

/* The group of an apiVersion ("" for "v1") into buf. */
void keelson_api_group(char *buf, size_t size, const char *api_version);

#endif
