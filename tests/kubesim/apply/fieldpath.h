/*
 * Field sets: the fields an object, an applied configuration or a manager
 * owns, and their FieldsV1 encoding (metadata.managedFields[].fieldsV1).
 *
 * A set is a tree. Each node is one path element, written as in FieldsV1:
 *   "f:<name>"            an object member
 *   "k:<json of keys>"    an associative-list item, keys sorted, compact:
 *                         k:{"containerPort":80,"protocol":"TCP"}
 *   "v:<json value>"      a set item: v:"example.com/finalizer"
 *   "i:<n>"               a list index (decoded and kept, never produced:
 *                         atomic lists are owned as one leaf)
 * A node is a *member* when the path it names is itself in the set: a leaf
 * (`{}` in FieldsV1) or an inner node that also carries ".": {}.
 *
 * Sets built from an object remember, per member, the value found there
 * (borrowed from the object), so two such sets can be compared by value.
 */
#ifndef KS_APPLY_FIELDPATH_H
#define KS_APPLY_FIELDPATH_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "typeinfo.h"

struct ks_fieldset;

/* Longest path element accepted when decoding FieldsV1 (a k: or v: element
 * holds JSON; real ones are far shorter). */
#define KS_FIELDSET_ELEMENT_MAX 4096

/* An empty set. */
int ks_fieldset_new(struct ks_fieldset **out);
/* Frees a set; NULL is fine. */
void ks_fieldset_free(struct ks_fieldset *set);

/* Path element constructors; *out is freed with free(). key_fields must be
 * an object of the key members (sorted on output), value a JSON value. */
int ks_path_element_field(char **out, const char *name);
int ks_path_element_key(char **out, const cJSON *key_fields);
int ks_path_element_value(char **out, const cJSON *value);
int ks_path_element_index(char **out, size_t index);

/* Human form used in conflict messages: `.spec.containers[name="web"].image`,
 * `.metadata.finalizers[="a"]`, `.spec.args[0]`. */
int ks_path_string(char **out, const char *const *path, size_t length);

/* Add `path` (length elements) as a member. */
int ks_fieldset_insert(struct ks_fieldset *set, const char *const *path, size_t length);
bool ks_fieldset_contains(const struct ks_fieldset *set, const char *const *path, size_t length);
bool ks_fieldset_empty(const struct ks_fieldset *set);
/* Number of members. */
size_t ks_fieldset_size(const struct ks_fieldset *set);
/* Same members (values are not compared). */
bool ks_fieldset_equal(const struct ks_fieldset *a, const struct ks_fieldset *b);

/* New sets; values are taken from `a` where it has them, else from `b`. */
int ks_fieldset_union(struct ks_fieldset **out, const struct ks_fieldset *a, const struct ks_fieldset *b);
int ks_fieldset_difference(struct ks_fieldset **out, const struct ks_fieldset *a,
			   const struct ks_fieldset *b);
int ks_fieldset_intersection(struct ks_fieldset **out, const struct ks_fieldset *a,
			     const struct ks_fieldset *b);
int ks_fieldset_copy(struct ks_fieldset **out, const struct ks_fieldset *set);

/* Remove the whole subtree under top-level element `element` (keep=false),
 * or everything except it, the root member included (keep=true). */
void ks_fieldset_filter_top(struct ks_fieldset *set, const char *element, bool keep);

/* Drop from `set` every path that names no node of `shape` (a set built
 * from the object): ownership of fields that no longer exist. */
void ks_fieldset_retain_existing(struct ks_fieldset *set, const struct ks_fieldset *shape);

/* Encode as a FieldsV1 object ({} for the empty set). */
int ks_fieldset_encode(cJSON **out, const struct ks_fieldset *set);
/* Decode a FieldsV1 object. KEELSON_EINVALID (with the place) when it is
 * not one; k: and v: elements are re-written in canonical form. */
int ks_fieldset_decode(struct ks_fieldset **out, const cJSON *fields_v1);

/* Members in order (a node before its children, children sorted by
 * element). `value` is the remembered value or NULL. A non-zero return
 * from `visit` stops the walk and is returned. */
typedef int (*ks_fieldset_visit_fn)(const char *const *path, size_t length, const cJSON *value,
				    void *payload);
int ks_fieldset_iterate(const struct ks_fieldset *set, ks_fieldset_visit_fn visit, void *payload);

/* Navigation, for walkers that follow a set through an object. */
const struct ks_fieldset *ks_fieldset_child(const struct ks_fieldset *set, const char *element);
size_t ks_fieldset_child_count(const struct ks_fieldset *set);
const struct ks_fieldset *ks_fieldset_child_at(const struct ks_fieldset *set, size_t index);
const char *ks_fieldset_element(const struct ks_fieldset *node);
bool ks_fieldset_is_member(const struct ks_fieldset *node);

/*
 * The fields `object` specifies, as server-side apply sees them: scalars,
 * atomic lists and objects, and empty objects and lists are leaves; items
 * of associative lists and sets are members themselves, and an associative
 * item's own fields are below it; so are entries of a custom resource's
 * maps (ks_type_field_is_map_entry). Types come from `scope`.
 *
 * strict (applied configurations): an associative item without a key (and
 * no default) or a duplicate key is KEELSON_EINVALID, with the message SSA
 * gives ("<path>: element 0: associative list with keys has an element that
 * omits key field \"name\" (and doesn't have default value)").
 * Not strict (stored objects): such a list is owned as one atomic leaf.
 * The set borrows values from `object`: free it first.
 */
int ks_fieldset_from_object(struct ks_fieldset **out, const cJSON *object,
			    const struct ks_type_scope *scope, bool strict);

/* Key element ("k:{...}" or "v:...") identifying `item` in the list at
 * `cursor`, whose semantics are `sem` (MAP or SET). KEELSON_EINVALID with a
 * reason relative to the list when the item cannot be keyed. */
int ks_list_item_element(char **out, const cJSON *item, size_t index,
			 const struct ks_list_semantics *sem, const struct ks_type_cursor *cursor);

/* Differences between two sets built by ks_fieldset_from_object:
 * added = new - old, removed = old - new, modified = leaves in both whose
 * values differ. Any out pointer may be NULL when not wanted. */
int ks_fieldset_compare(struct ks_fieldset **out_added, struct ks_fieldset **out_removed,
			struct ks_fieldset **out_modified, const struct ks_fieldset *old_set,
			const struct ks_fieldset *new_set);

/*
 * Add to `out` the inner nodes of new_set that old_set lacks entirely and
 * that an Update creating them owns as a whole (".": {}): maps and
 * omitempty lists of built-ins, every object and list of a custom
 * resource. This is what makes `f:labels: {".": {}, "f:app": {}}` in the
 * entry of the write that created the labels. Both sets must come from
 * ks_fieldset_from_object.
 */
int ks_fieldset_add_created_containers(struct ks_fieldset *out, const struct ks_fieldset *old_set,
				       const struct ks_fieldset *new_set);

#endif
