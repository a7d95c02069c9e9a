/*
 * Garbage collector (M13), after kube-controller-manager's: a graph of
 * ownerReferences built from the store's events (every type), and two work
 * queues processed on the tick:
 *  - "attempt to delete" a dependent: its owners are looked up in the store
 *    (by kind, name and uid, same namespace); when none is left it is
 *    deleted, when some are left the dangling references are removed;
 *  - "process an owner being deleted" with the orphan finalizer (strip the
 *    dependents' references, then the finalizer) or the foregroundDeletion
 *    finalizer (delete the dependents, drop the finalizer once no dependent
 *    with blockOwnerDeletion remains).
 * The graph only decides what to look at; every decision reads the store.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

struct objinfo {
	const struct ks_resource_type *type;
	bool deleting_fg;
	char *ns;     /* "" for cluster-scoped; points into name_buf */
	char *name;
	char name_buf[];
};

struct gc {
	struct ks_ctl_map *objects;    /* uid -> objinfo */
	struct ks_ctl_map *dependents; /* owner uid -> map of dependent uids */
	struct ks_ctl_map *check;      /* dependent uids to attempt to delete */
	struct ks_ctl_map *owners;     /* owner uids with a deletion finalizer */
};

static const char *const gc_resources[] = {"*", NULL};
#define MARK ((void *)1)

static void deplist_free(void *p)
{
	ks_ctl_map_free(p);
}

/* A map per owner: an owner with many dependents (a big ReplicaSet) costs
 * O(1) per dependent change, not a list scan. */
static void deplist_add(struct gc *g, const char *owner, const char *uid)
{
	struct ks_ctl_map *d = ks_ctl_map_get(g->dependents, owner);
	if (!d) {
		d = ks_ctl_map_new(NULL);
		if (!d || ks_ctl_map_put(g->dependents, owner, d)) {
			ks_ctl_map_free(d);
			return;
		}
	}
	ks_ctl_map_put(d, uid, MARK);
}

static void deplist_remove(struct gc *g, const char *owner, const char *uid)
{
	struct ks_ctl_map *d = ks_ctl_map_get(g->dependents, owner);
	if (!d)
		return;
	ks_ctl_map_remove(d, uid);
	if (ks_ctl_map_count(d) == 0)
		ks_ctl_map_remove(g->dependents, owner);
}

static bool has_finalizer(const cJSON *obj, const char *f)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, ks_ctl_at(obj, "metadata", "finalizers", NULL))
		if (cJSON_IsString(it) && !strcmp(it->valuestring, f))
			return true;
	return false;
}

static const cJSON *owner_refs(const cJSON *obj)
{
	return ks_ctl_at(obj, "metadata", "ownerReferences", NULL);
}

static bool refs_contain(const cJSON *refs, const char *uid)
{
	const cJSON *r;
	cJSON_ArrayForEach(r, refs) {
		const char *u = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(r, "uid"));
		if (u && !strcmp(u, uid))
			return true;
	}
	return false;
}

static void gc_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct gc *g = payload;
	const char *uid = ks_meta_string(ev->object, "uid");
	if (!uid)
		return;
	const cJSON *r;
	if (ev->type == KS_EVENT_DELETED) {
		ks_ctl_map_remove(g->objects, uid);
		ks_ctl_map_remove(g->owners, uid);
		ks_ctl_map_remove(g->check, uid);
		cJSON_ArrayForEach(r, owner_refs(ev->object)) {
			const char *o = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(r, "uid"));
			if (!o)
				continue;
			deplist_remove(g, o, uid);
			struct objinfo *oi = ks_ctl_map_get(g->objects, o);
			if (oi && oi->deleting_fg)
				ks_ctl_map_put(g->owners, o, MARK);
		}
		struct ks_ctl_map *d = ks_ctl_map_get(g->dependents, uid);
		if (d) {
			size_t n;
			char **deps = ks_ctl_map_keys(d, &n);
			for (size_t i = 0; i < n; i++)
				ks_ctl_map_put(g->check, deps[i], MARK);
			ks_ctl_keys_free(deps, n);
		}
		return;
	}
	struct objinfo *info = ks_ctl_map_get(g->objects, uid);
	if (!info) {
		const char *ns = ks_meta_string(ev->object, "namespace");
		const char *name = ks_meta_string(ev->object, "name");
		ns = ns ? ns : "";
		name = name ? name : "";
		size_t nl = strlen(ns) + 1, ml = strlen(name) + 1;
		info = calloc(1, sizeof(*info) + nl + ml);
		if (!info)
			return;
		info->ns = info->name_buf;
		info->name = info->name_buf + nl;
		memcpy(info->ns, ns, nl);
		memcpy(info->name, name, ml);
		info->type = ev->resource_type;
		if (ks_ctl_map_put(g->objects, uid, info)) {
			free(info);
			return;
		}
	}
	bool deleting = ks_ctl_terminating(ev->object);
	info->deleting_fg = deleting && has_finalizer(ev->object, "foregroundDeletion");
	if (deleting && (info->deleting_fg || has_finalizer(ev->object, "orphan")))
		ks_ctl_map_put(g->owners, uid, MARK);

	const cJSON *now_refs = owner_refs(ev->object);
	cJSON_ArrayForEach(r, owner_refs(ev->old_object)) {
		const char *o = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(r, "uid"));
		if (!o || refs_contain(now_refs, o))
			continue;
		deplist_remove(g, o, uid);
		struct objinfo *oi = ks_ctl_map_get(g->objects, o);
		if (oi && oi->deleting_fg)
			ks_ctl_map_put(g->owners, o, MARK);
	}
	cJSON_ArrayForEach(r, now_refs) {
		const char *o = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(r, "uid"));
		if (!o)
			continue;
		deplist_add(g, o, uid);
		struct objinfo *oi = ks_ctl_map_get(g->objects, o);
		if (!oi || oi->deleting_fg)
			ks_ctl_map_put(g->check, uid, MARK);
	}
}

/* ---- store edits ---- */

struct edit {
	const char *uid;             /* precondition */
	const char *const *drop_refs; /* owner uids to remove, NULL-terminated */
	const char *drop_finalizer;
};

static int edit_fn(cJSON *obj, void *payload)
{
	struct edit *e = payload;
	const char *uid = ks_meta_string(obj, "uid");
	if (!uid || strcmp(uid, e->uid))
		return keelson_error_set(KEELSON_ECONFLICT, "object was replaced");
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (e->drop_refs) {
		cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
		for (int i = cJSON_GetArraySize(refs) - 1; i >= 0; i--) {
			const char *u = ks_ctl_str(ks_ctl_at(cJSON_GetArrayItem(refs, i), "uid", NULL));
			for (const char *const *d = e->drop_refs; u && *d; d++)
				if (!strcmp(*d, u)) {
					cJSON_DeleteItemFromArray(refs, i);
					break;
				}
		}
		if (refs && cJSON_GetArraySize(refs) == 0)
			cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
	}
	if (e->drop_finalizer) {
		cJSON *fins = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
		for (int i = cJSON_GetArraySize(fins) - 1; i >= 0; i--) {
			const char *f = ks_ctl_str(cJSON_GetArrayItem(fins, i));
			if (f && !strcmp(f, e->drop_finalizer))
				cJSON_DeleteItemFromArray(fins, i);
		}
		if (fins && cJSON_GetArraySize(fins) == 0)
			cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
	}
	return 0;
}

static int edit(struct ks_store *store, const struct objinfo *info, struct edit *e)
{
	struct ks_write_options o = {
		.version = KS_WRITE_OPTIONS_VERSION,
		.field_manager = "garbage-collector",
	};
	return ks_store_modify(store, info->type, info->ns[0] ? info->ns : NULL, info->name,
		edit_fn, e, &o, NULL);
}

static cJSON *fetch(struct ks_store *store, const struct objinfo *info, const char *uid)
{
	cJSON *obj = NULL;
	if (ks_store_get(store, info->type, info->ns[0] ? info->ns : NULL, info->name, &obj))
		return NULL;
	const char *u = ks_meta_string(obj, "uid");
	if (!u || strcmp(u, uid)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

/* ---- attempt to delete a dependent ---- */

enum owner_state { OWNER_SOLID, OWNER_DANGLING, OWNER_WAITING };

static enum owner_state classify(struct ks_store *store, const struct objinfo *dep,
	const cJSON *ref)
{
	const char *api = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "apiVersion"));
	const char *kind = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "kind"));
	const char *name = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "name"));
	const char *uid = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "uid"));
	if (!api || !kind || !name || !uid)
		return OWNER_SOLID; /* unresolvable: keep, like the real GC retrying */
	const struct ks_resource_type *t = ks_store_type_find_kind(store, api, kind);
	if (!t)
		return OWNER_SOLID;
	if (t->namespaced && !dep->ns[0])
		return OWNER_DANGLING; /* a cluster-scoped object cannot have a namespaced owner */
	cJSON *owner = NULL;
	if (ks_store_get(store, t, t->namespaced ? dep->ns : NULL, name, &owner))
		return OWNER_DANGLING;
	enum owner_state s = OWNER_SOLID;
	const char *ou = ks_meta_string(owner, "uid");
	if (!ou || strcmp(ou, uid))
		s = OWNER_DANGLING;
	else if (ks_ctl_terminating(owner) && has_finalizer(owner, "foregroundDeletion"))
		s = OWNER_WAITING;
	cJSON_Delete(owner);
	return s;
}

static void attempt_delete(struct gc *g, struct ks_store *store, const char *uid)
{
	struct objinfo *info = ks_ctl_map_get(g->objects, uid);
	if (!info)
		return;
	cJSON *obj = fetch(store, info, uid);
	if (!obj)
		return;
	const cJSON *refs = owner_refs(obj);
	int n = cJSON_GetArraySize(refs);
	if (n == 0) {
		cJSON_Delete(obj);
		return;
	}
	const char **drop = calloc((size_t)n + 1, sizeof(char *));
	if (!drop) {
		cJSON_Delete(obj);
		return;
	}
	int solid = 0, ndrop = 0, waiting = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, refs) {
		enum owner_state s = classify(store, info, r);
		if (s == OWNER_SOLID) {
			solid++;
			continue;
		}
		if (s == OWNER_WAITING)
			waiting++;
		const char *ou = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(r, "uid"));
		if (ou)
			drop[ndrop++] = ou;
	}
	if (solid > 0) {
		if (ndrop > 0) {
			struct edit e = {.uid = uid, .drop_refs = drop};
			edit(store, info, &e);
		}
	} else if (!ks_ctl_terminating(obj)) {
		enum ks_propagation p = KS_PROPAGATION_BACKGROUND;
		if (waiting > 0 && ks_ctl_map_get(g->dependents, uid))
			p = KS_PROPAGATION_FOREGROUND;
		else if (has_finalizer(obj, "orphan"))
			p = KS_PROPAGATION_ORPHAN;
		else if (has_finalizer(obj, "foregroundDeletion"))
			p = KS_PROPAGATION_FOREGROUND;
		ks_ctl_delete(store, info->type, info->ns[0] ? info->ns : NULL, info->name, uid, p, -1);
	}
	free(drop);
	cJSON_Delete(obj);
}

/* ---- process an owner with a deletion finalizer ---- */

static char **dependents_copy(struct gc *g, const char *uid, size_t *n)
{
	struct ks_ctl_map *d = ks_ctl_map_get(g->dependents, uid);
	*n = 0;
	return d ? ks_ctl_map_keys(d, n) : NULL;
}

static void process_owner(struct gc *g, struct ks_store *store, const char *uid)
{
	struct objinfo *info = ks_ctl_map_get(g->objects, uid);
	if (!info)
		return;
	cJSON *owner = fetch(store, info, uid);
	if (!owner)
		return;
	if (!ks_ctl_terminating(owner)) {
		cJSON_Delete(owner);
		return;
	}
	size_t n;
	char **deps = dependents_copy(g, uid, &n);
	if (has_finalizer(owner, "orphan")) {
		bool ok = true;
		const char *drop[] = {uid, NULL};
		for (size_t i = 0; i < n; i++) {
			struct objinfo *di = ks_ctl_map_get(g->objects, deps[i]);
			if (!di)
				continue;
			struct edit e = {.uid = deps[i], .drop_refs = drop};
			int rc = edit(store, di, &e);
			if (rc && rc != KEELSON_ENOTFOUND && rc != KEELSON_ECONFLICT)
				ok = false;
		}
		if (ok) {
			struct edit e = {.uid = uid, .drop_finalizer = "orphan"};
			edit(store, info, &e);
		}
	} else if (has_finalizer(owner, "foregroundDeletion")) {
		int blocking = 0;
		for (size_t i = 0; i < n; i++) {
			struct objinfo *di = ks_ctl_map_get(g->objects, deps[i]);
			if (!di)
				continue;
			cJSON *dep = fetch(store, di, deps[i]);
			if (!dep)
				continue;
			const cJSON *r;
			bool blocks = false, refers = false;
			cJSON_ArrayForEach(r, owner_refs(dep)) {
				const char *u = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(r, "uid"));
				if (u && !strcmp(u, uid)) {
					refers = true;
					blocks = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r,
						"blockOwnerDeletion"));
				}
			}
			bool terminating = ks_ctl_terminating(dep);
			cJSON_Delete(dep);
			if (!refers)
				continue;
			if (blocks)
				blocking++;
			if (!terminating)
				attempt_delete(g, store, deps[i]);
		}
		if (blocking == 0) {
			struct edit e = {.uid = uid, .drop_finalizer = "foregroundDeletion"};
			edit(store, info, &e);
		}
	}
	ks_ctl_keys_free(deps, n);
	cJSON_Delete(owner);
}

static void gc_tick(struct ks_store *store, void *payload)
{
	struct gc *g = payload;
	size_t n;
	if (ks_ctl_map_count(g->owners)) {
		char **uids = ks_ctl_map_keys(g->owners, &n);
		for (size_t i = 0; i < n; i++) {
			ks_ctl_map_remove(g->owners, uids[i]);
			process_owner(g, store, uids[i]);
		}
		ks_ctl_keys_free(uids, n);
	}
	if (ks_ctl_map_count(g->check)) {
		char **uids = ks_ctl_map_keys(g->check, &n);
		for (size_t i = 0; i < n; i++) {
			ks_ctl_map_remove(g->check, uids[i]);
			attempt_delete(g, store, uids[i]);
		}
		ks_ctl_keys_free(uids, n);
	}
	ks_ctl_release_status();
}

static void gc_stop(void *payload)
{
	struct gc *g = payload;
	ks_ctl_map_free(g->objects);
	ks_ctl_map_free(g->dependents);
	ks_ctl_map_free(g->check);
	ks_ctl_map_free(g->owners);
	free(g);
}

static void info_free(void *p)
{
	free(p);
}

int ks_ctl_gc_start(struct ks_store *store, struct ks_controller **out)
{
	struct gc *g = calloc(1, sizeof(*g));
	if (!g)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the garbage collector");
	g->objects = ks_ctl_map_new(info_free);
	g->dependents = ks_ctl_map_new(deplist_free);
	g->check = ks_ctl_map_new(NULL);
	g->owners = ks_ctl_map_new(NULL);
	if (!g->objects || !g->dependents || !g->check || !g->owners) {
		gc_stop(g);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the garbage collector");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "garbage-collector",
		.resources = gc_resources,
		.on_event = gc_event,
		.tick_ms = 20,
		.on_tick = gc_tick,
		.on_stop = gc_stop,
	};
	int rc = ks_controller_start(store, &def, g, out);
	if (rc)
		gc_stop(g);
	return rc;
}
