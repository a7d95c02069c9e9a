/*
 * List semantics of built-in Kubernetes types.
 *
 * Two consumers read the same table: strategic merge patch (the Go struct
 * tags patchMergeKey / patchStrategy) and server-side apply (the OpenAPI
 * x-kubernetes-list-type / x-kubernetes-list-map-keys). They disagree in a
 * few places, so both views are kept per entry: container ports merge by
 * containerPort in SMP but are keyed by containerPort+protocol in SSA.
 *
 * Paths are JSON pointers from the object root with every list index
 * replaced by the token "*": a StatefulSet's container ports are at
 * /spec/template/spec/containers/ * /ports (without the spaces).
 */
#ifndef KS_PATCH_MERGE_KEYS_H
#define KS_PATCH_MERGE_KEYS_H

#include <stddef.h>

enum ks_list_kind {
	KS_LIST_ATOMIC, /* replaced as a whole; SSA owns it as one field */
	KS_LIST_MAP,    /* associative: items identified by ssa_keys */
	KS_LIST_SET,    /* primitive values, each item owned separately */
};

#define KS_LIST_MAX_KEYS 3

struct ks_list_semantics {
	enum ks_list_kind kind;
	/* SMP merge key for lists of objects; NULL when SMP replaces the list
	 * or when the list holds primitives. */
	const char *smp_merge_key;
	/* "merge", "merge,retainKeys", or NULL (SMP replaces the list). A
	 * primitive list with "merge" is merged as a union (finalizers). */
	const char *smp_strategy;
	/* SSA list-map keys in schema order; ssa_key_count is 0 unless kind
	 * is KS_LIST_MAP. */
	const char *ssa_keys[KS_LIST_MAX_KEYS];
	size_t ssa_key_count;
};

/* Fill *out with the semantics of the list at `path` in an object of
 * `group` ("" for the core group) and `kind` ("StatefulSet"). Unknown
 * paths and kinds are atomic (what both SMP and SSA do for lists they have
 * no schema for), except metadata lists, which are the same for every
 * kind. Returns 0, or KEELSON_EINVALID when an argument is NULL. */
int ks_list_semantics_lookup(struct ks_list_semantics *out, const char *group,
			     const char *kind, const char *path);

/* True when SMP merges this list (by key, or as a union of primitives). */
int ks_list_semantics_smp_merges(const struct ks_list_semantics *sem);

/* True when SMP's strategy for the list includes retainKeys. */
int ks_list_semantics_smp_retain_keys(const struct ks_list_semantics *sem);

#endif
