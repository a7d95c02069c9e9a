/*
 * Type information for server-side apply: which lists are associative
 * (and by which keys), which are sets, which objects are atomic.
 *
 * Built-in kinds use the table in tests/kubesim/patch/merge_keys.h plus a
 * small table of atomic structs and key defaults kept here (merge_keys.h
 * only covers lists). Custom resources use their CRD's openAPIV3Schema:
 * x-kubernetes-list-type / x-kubernetes-list-map-keys / x-kubernetes-map-type
 * and `default` on key fields. Lists under /metadata are the same for every
 * kind (finalizers a set, ownerReferences keyed by uid).
 *
 * A cursor follows a walk through an object: it keeps the JSON pointer of
 * the current position with list indexes written as "*" (the form
 * merge_keys.h looks up) and the matching CRD schema node.
 */
#ifndef KS_APPLY_TYPEINFO_H
#define KS_APPLY_TYPEINFO_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "tests/kubesim/patch/merge_keys.h"

/* Deepest object the walkers accept; real objects stay well below 30. */
#define KS_TYPE_MAX_DEPTH 100
/* Longest "*"-pointer tracked; longer paths are refused with KEELSON_ELIMIT. */
#define KS_TYPE_POINTER_MAX 8192

struct ks_type_scope {
	const char *group;       /* "" for the core group */
	const char *kind;        /* "StatefulSet" */
	const cJSON *crd_schema; /* openAPIV3Schema of the CR version; NULL for built-ins */
};

struct ks_type_cursor {
	const struct ks_type_scope *scope;
	const cJSON *schema; /* CR schema node here; NULL when unknown or built-in */
	size_t length;       /* strlen(pointer) */
	size_t depth;
	char pointer[KS_TYPE_POINTER_MAX];
};

/* What ks_type_cursor_leave() needs to step back out. */
struct ks_type_mark {
	const cJSON *schema;
	size_t length;
};

/* Start at the object root ("" pointer, the schema root). */
void ks_type_cursor_init(struct ks_type_cursor *cursor, const struct ks_type_scope *scope);

/* Step into member `name` of the current object, or into an item of the
 * current list. KEELSON_ELIMIT when the path gets too long or too deep. */
int ks_type_cursor_enter_field(struct ks_type_cursor *cursor, const char *name,
			       struct ks_type_mark *mark);
int ks_type_cursor_enter_item(struct ks_type_cursor *cursor, struct ks_type_mark *mark);
void ks_type_cursor_leave(struct ks_type_cursor *cursor, const struct ks_type_mark *mark);

/* Semantics of the list at the cursor: built-ins from merge_keys.h; CRs
 * from x-kubernetes-list-type (atomic when absent), except under /metadata. */
void ks_type_list_semantics(struct ks_list_semantics *out, const struct ks_type_cursor *cursor);

/* True when the object at the cursor is replaced and owned as a whole
 * (LabelSelector and other +structType=atomic types, x-kubernetes-map-type:
 * atomic). */
bool ks_type_object_is_atomic(const struct ks_type_cursor *cursor);

/* Whether an Update that creates the object (is_list false) or list at
 * the cursor owns that node itself as well as what is in it. In Go, a
 * typed object's structs and non-omitempty lists always exist, so only
 * maps and omitempty lists are ever created; custom resources are
 * unstructured, so everything is. */
bool ks_type_owned_when_added(const struct ks_type_cursor *cursor, bool is_list);

/* Whether member `name` of the object at the cursor is an entry of a map
 * rather than a declared field, so that a set owns the entry itself too
 * (structured-merge-diff inserts such paths). Only custom resources say
 * so: their schemas have additionalProperties and unknown-field regions;
 * built-in maps hold scalars, where it makes no difference. */
bool ks_type_field_is_map_entry(const struct ks_type_cursor *cursor, const char *name);

/* Default of key field `key` for items of the list at the cursor
 * (containerPort lists: protocol "TCP"; CRs: the schema's `default`).
 * *out is a new value the caller deletes, or NULL when there is none. */
int ks_type_key_default(cJSON **out, const struct ks_type_cursor *cursor, const char *key);

#endif
