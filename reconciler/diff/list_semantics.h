/*
 * How server-side apply treats the lists of built-in kinds, the subset the
 * diff needs: which lists are maps keyed by some fields of their items
 * (containers by name, container ports by containerPort+protocol), which
 * are sets of primitives (finalizers), and which are atomic (everything
 * else, and every list of a custom resource: keelson does not read CRD
 * schemas, and SSA treats lists without x-kubernetes-list-type as atomic).
 *
 * This is keelson's own table, written from the Kubernetes OpenAPI
 * (x-kubernetes-list-type / x-kubernetes-list-map-keys); it is not shared
 * with kubesim, whose table serves a different purpose (the simulator).
 */
#ifndef KEELSON_DIFF_LIST_SEMANTICS_H
#define KEELSON_DIFF_LIST_SEMANTICS_H

#include <stddef.h>

enum keelson_list_type {
	KEELSON_LIST_ATOMIC = 0,
	KEELSON_LIST_MAP,
	KEELSON_LIST_SET,
};

#define KEELSON_LIST_MAX_KEYS 2

struct keelson_list_semantics {
	enum keelson_list_type type;
	const char *keys[KEELSON_LIST_MAX_KEYS]; /* KEELSON_LIST_MAP only */
	size_t key_count;
};

/* Semantics of the list at `tokens` (unescaped reference tokens from the
 * object root, list indexes included as they appear) in an object of
 * `group` ("" for core) and `kind`. Unknown lists are atomic. */
void keelson_list_semantics_lookup(struct keelson_list_semantics *out, const char *group,
				   const char *kind, const char *const *tokens, size_t count);

#endif
