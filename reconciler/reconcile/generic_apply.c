/*
 * The generic apply path. See generic_apply.h for the safety rules.
 */
#include "config.h"

#include "core/error.h"
#include "core/log.h"
#include "reconcile/generic_apply.h"
#include "reconcile/inventory.h"
#include "reconcile/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bound on waiting for the watch cache to show our own writes. */
#define CACHE_CATCH_UP_MS 5000

void keelson_change_set_dispose(struct keelson_change_set *cs)
{
	for (size_t i = 0; i < cs->change_count; i++)
		keelson_diff_object_free(cs->changes[i].diff);
	free(cs->changes);
	cs->changes = NULL;
	cs->change_count = 0;
}

static const char *live_uid(const cJSON *live)
{
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(live, "metadata"), "uid");
	return cJSON_IsString(uid) ? uid->valuestring : "";
}

static const char *meta_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *label_of(const cJSON *obj, const char *key)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stop_requested(const struct keelson_apply_context *ctx)
{
	return ctx->stop != NULL && *ctx->stop;
}

bool keelson_change_set_needs_work(const struct keelson_change_set *cs, const cJSON *inventory_cm)
{
	struct keelson_inventory *inv = NULL;
	bool work = false;
	for (size_t i = 0; i < cs->change_count; i++) {
		const struct keelson_change *c = &cs->changes[i];
		if (c->action == KEELSON_CHANGE_APPLY)
			return true;
		if (c->action != KEELSON_CHANGE_BLOCKED && c->diff->live != NULL && !c->labelled)
			return true;
	}
	if (inventory_cm == NULL || keelson_inventory_from_configmap(&inv, inventory_cm) < 0)
		return true;
	if (inv->revision == NULL || strcmp(inv->revision, cs->revision) != 0) {
		work = true;
		goto done;
	}
	for (size_t i = 0; i < cs->change_count; i++) {
		const struct keelson_object *o = cs->changes[i].object;
		long at = keelson_inventory_find(inv, o->api_version, o->kind, o->namespace_, o->name);
		if (at < 0 || strcmp(inv->items[at].uid, live_uid(cs->changes[i].diff->live)) != 0) {
			work = true;
			goto done;
		}
	}
	if (cs->system->policy.prune && inv->count > cs->change_count)
		work = true; /* entries that left the repository: prune them */
done:
	keelson_inventory_free(inv);
	return work;
}

/* --- inventory I/O ------------------------------------------------------ */

int keelson_apply_ensure_inventory_namespace(struct keelson_apply_context *ctx)
{
	if (ctx->inventory_namespace_ready)
		return 0;
	cJSON *ns = cJSON_CreateObject(), *out = NULL;
	cJSON *meta = ns ? cJSON_AddObjectToObject(ns, "metadata") : NULL;
	if (meta == NULL || !cJSON_AddStringToObject(ns, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(ns, "kind", "Namespace") ||
	    !cJSON_AddStringToObject(meta, "name", ctx->inventory_namespace)) {
		cJSON_Delete(ns);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	/* Created only when missing: another tool may own the namespace. */
	cJSON *existing = NULL;
	int rc = keelson_kube_get(&existing, ctx->client, "v1", "Namespace", NULL, ctx->inventory_namespace);
	if (rc == KEELSON_ENOTFOUND)
		rc = keelson_kube_create(&out, ctx->client, ns, NULL);
	if (rc == KEELSON_EEXISTS)
		rc = 0;
	cJSON_Delete(existing);
	cJSON_Delete(out);
	cJSON_Delete(ns);
	if (rc < 0)
		return keelson_error_wrap(rc, "creating the inventory namespace %s", ctx->inventory_namespace);
	ctx->inventory_namespace_ready = true;
	return 0;
}

static int read_inventory(struct keelson_inventory **out, struct keelson_apply_context *ctx,
			  const struct keelson_change_set *cs)
{
	char name[300];
	cJSON *cm = NULL;
	keelson_inventory_name(name, sizeof(name), cs->cluster, cs->system->name);
	/* Read from the server, not the cache: prune decisions rest on it. */
	int rc = keelson_kube_get(&cm, ctx->client, "v1", "ConfigMap", ctx->inventory_namespace, name);
	if (rc == KEELSON_ENOTFOUND)
		return keelson_inventory_from_configmap(out, NULL);
	if (rc < 0)
		return keelson_error_wrap(rc, "reading the inventory ConfigMap %s/%s", ctx->inventory_namespace, name);
	rc = keelson_inventory_from_configmap(out, cm);
	cJSON_Delete(cm);
	return rc;
}

struct expectation {
	char *api_version, *kind, *ns, *name, *rv; /* rv NULL: expect the object gone */
};

struct expectations {
	struct expectation *items;
	size_t count, capacity;
};

static void expect(struct expectations *e, const char *api_version, const char *kind, const char *ns,
		   const char *name, const char *rv)
{
	if (e->count == e->capacity) {
		size_t cap = e->capacity ? e->capacity * 2 : 16;
		void *p = realloc(e->items, cap * sizeof(*e->items));
		if (p == NULL)
			return; /* only an optimisation: the cache catches up anyway */
		e->items = p;
		e->capacity = cap;
	}
	struct expectation *x = &e->items[e->count++];
	x->api_version = strdup(api_version);
	x->kind = strdup(kind);
	x->ns = strdup(ns ? ns : "");
	x->name = strdup(name);
	x->rv = rv ? strdup(rv) : NULL;
}

static void expectations_dispose(struct expectations *e)
{
	for (size_t i = 0; i < e->count; i++) {
		free(e->items[i].api_version);
		free(e->items[i].kind);
		free(e->items[i].ns);
		free(e->items[i].name);
		free(e->items[i].rv);
	}
	free(e->items);
}

/* Whether `have` is `want` or newer. resourceVersions are opaque, but every
 * API server in practice (etcd revisions, kubesim) uses increasing integers;
 * controllers update status after our write, so equality alone would wait
 * for a version the cache may never hold. */
static bool rv_at_least(const char *have, const char *want)
{
	char *end1, *end2;
	unsigned long long h = strtoull(have, &end1, 10), w = strtoull(want, &end2, 10);
	if (*have && *want && *end1 == '\0' && *end2 == '\0')
		return h >= w;
	return strcmp(have, want) == 0;
}

/* Wait (bounded) until the cache shows what we wrote, so the next cycle does
 * not mistake the cache's lag for drift and re-apply. */
static void wait_for_cache(struct keelson_apply_context *ctx, const struct expectations *e)
{
	if (ctx->cache == NULL)
		return;
	long deadline = now_ms() + CACHE_CATCH_UP_MS;
	for (size_t i = 0; i < e->count; i++) {
		const struct expectation *x = &e->items[i];
		if (x->api_version == NULL || x->kind == NULL || x->ns == NULL || x->name == NULL)
			continue;
		for (;;) {
			cJSON *obj = NULL;
			int rc = keelson_kube_cache_get(&obj, ctx->cache, x->api_version, x->kind, x->ns[0] ? x->ns : NULL,
							x->name);
			bool done;
			if (rc == KEELSON_EINVALID)
				done = true; /* type not cached */
			else if (x->rv == NULL)
				done = rc == KEELSON_ENOTFOUND;
			else {
				const char *rv = rc == 0 ? meta_string(obj, "resourceVersion") : NULL;
				done = rv != NULL && rv_at_least(rv, x->rv);
			}
			cJSON_Delete(obj);
			if (done || now_ms() >= deadline || stop_requested(ctx))
				break;
			sleep_ms(20);
		}
	}
}

static int write_inventory(struct keelson_apply_context *ctx, const struct keelson_change_set *cs,
			   const struct keelson_inventory *inv, struct expectations *expected)
{
	char name[300];
	int rc = keelson_apply_ensure_inventory_namespace(ctx);
	if (rc < 0)
		return rc;
	keelson_inventory_name(name, sizeof(name), cs->cluster, cs->system->name);
	cJSON *cm = keelson_inventory_to_configmap(inv, ctx->inventory_namespace, cs->cluster, cs->system->name);
	if (cm == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	struct keelson_kube_write_options wo;
	keelson_kube_write_options_init(&wo);
	wo.force = true; /* keelson's own object */
	cJSON *out = NULL;
	rc = keelson_kube_apply(&out, ctx->client, cm, &wo);
	if (rc == 0)
		expect(expected, "v1", "ConfigMap", ctx->inventory_namespace, name, meta_string(out, "resourceVersion"));
	cJSON_Delete(out);
	cJSON_Delete(cm);
	if (rc < 0)
		return keelson_error_wrap(rc, "writing the inventory ConfigMap %s/%s", ctx->inventory_namespace, name);
	return 0;
}

/* --- apply ----------------------------------------------------------------- */

static void log_object(enum keelson_log_level level, const char *message, const struct keelson_change_set *cs,
		       const char *kind, const char *ns, const char *name, const char *k1, const char *v1,
		       const char *k2, const char *v2)
{
	keelson_log(level, message, "cluster", cs->cluster, "system", cs->system->name, "kind", kind, "namespace",
		    ns, "name", name, k1, v1, k2, v2, (const char *)NULL);
}

static int wait_crd_established(struct keelson_apply_context *ctx, const char *name)
{
	long deadline = now_ms() + ctx->crd_established_timeout_ms;
	for (;;) {
		cJSON *crd = NULL;
		int rc = keelson_kube_get(&crd, ctx->client, "apiextensions.k8s.io/v1", "CustomResourceDefinition", NULL,
					  name);
		bool established = false;
		if (rc == 0) {
			const cJSON *c;
			const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(crd, "status"), "conditions");
			cJSON_ArrayForEach(c, conds)
			{
				const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
				const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "status");
				if (cJSON_IsString(t) && strcmp(t->valuestring, "Established") == 0 && cJSON_IsString(s) &&
				    strcmp(s->valuestring, "True") == 0)
					established = true;
			}
		}
		cJSON_Delete(crd);
		if (established)
			return 0;
		if (now_ms() >= deadline)
			return keelson_error_set(KEELSON_ETIMEOUT,
						 "CustomResourceDefinition %s is not Established after %ld ms; objects of "
						 "its kind cannot be applied yet",
						 name, ctx->crd_established_timeout_ms);
		if (stop_requested(ctx))
			return keelson_error_set(KEELSON_ETIMEOUT, "stopped while waiting for CRD %s", name);
		sleep_ms(200);
	}
}

/* Whether `obj` carries keelson's system label for this system. Only the
 * system label is checked: it is what the watch cache selects on, what
 * pruning requires, and what the reconcile loop's `labelled` flag reads. */
static bool has_system_label(const struct keelson_change_set *cs, const cJSON *obj)
{
	const char *value = label_of(obj, KEELSON_LABEL_SYSTEM);
	return value != NULL && strcmp(value, cs->system->name) == 0;
}

static bool is_keelson_label(const char *key)
{
	return strcmp(key, KEELSON_LABEL_CLUSTER) == 0 || strcmp(key, KEELSON_LABEL_SYSTEM) == 0;
}

/* The object as it is applied under field manager `keelson`: the
 * repository's body with keelson's two labels merged into metadata.labels,
 * so that one request writes the object and labels it (the diff counts
 * these labels as desired, see keelson_diff_is_keelson_label). Built from
 * references to the body's members: nothing of the body is copied, and
 * deleting the result leaves the body alone. keelson's values replace
 * labels of the same keys written in the repository. NULL when out of
 * memory. */
static cJSON *labelled_body(const struct keelson_change_set *cs, const cJSON *body)
{
	const cJSON *body_meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	const cJSON *body_labels = cJSON_GetObjectItemCaseSensitive(body_meta, "labels");
	const cJSON *m;
	if (!cJSON_IsObject(body_meta))
		body_meta = NULL;
	if (!cJSON_IsObject(body_labels))
		body_labels = NULL;
	cJSON *obj = cJSON_CreateObject();
	if (obj == NULL)
		return NULL;
	/* The reference API takes non-const pointers; references are never
	 * written through. */
	cJSON_ArrayForEach(m, body) {
		if (strcmp(m->string, "metadata") != 0 && !cJSON_AddItemReferenceToObject(obj, m->string, (cJSON *)m))
			goto fail;
	}
	cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
	if (meta == NULL)
		goto fail;
	cJSON_ArrayForEach(m, body_meta) {
		if (strcmp(m->string, "labels") != 0 && !cJSON_AddItemReferenceToObject(meta, m->string, (cJSON *)m))
			goto fail;
	}
	cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
	if (labels == NULL)
		goto fail;
	cJSON_ArrayForEach(m, body_labels) {
		if (!is_keelson_label(m->string) && !cJSON_AddItemReferenceToObject(labels, m->string, (cJSON *)m))
			goto fail;
	}
	if (!cJSON_AddStringToObject(labels, KEELSON_LABEL_CLUSTER, cs->cluster) ||
	    !cJSON_AddStringToObject(labels, KEELSON_LABEL_SYSTEM, cs->system->name))
		goto fail;
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}

/* Whether keelson's labels may go into the object's own apply. Always when
 * forced (every apply of the reconcile loop and of plugin steps). Unforced,
 * only when the live labels are absent or already keelson's values: a
 * different value may belong to another field manager, and an unforced
 * apply would then fail on the conflict; those objects are labelled by
 * the separate, forced `keelson-ownership` apply instead. */
static bool labels_in_apply(const struct keelson_change_set *cs, const struct keelson_change *c)
{
	if (c->force)
		return true;
	const cJSON *live = c->diff->live;
	const char *system = label_of(live, KEELSON_LABEL_SYSTEM), *cluster = label_of(live, KEELSON_LABEL_CLUSTER);
	return (system == NULL || strcmp(system, cs->system->name) == 0) &&
	       (cluster == NULL || strcmp(cluster, cs->cluster) == 0);
}

/* keelson's labels alone, applied with their own field manager
 * (KEELSON_OWNERSHIP_FIELD_MANAGER, forced) to an object that is not
 * applied in this run (in sync, or drift its policy only reports) but lacks
 * them: an object keelson adopts, or one whose label was edited away. They
 * cannot go in an apply under `keelson` with nothing else: that apply
 * would drop every field `keelson` applied before. NULL when out of
 * memory. */
static cJSON *label_object(const struct keelson_change_set *cs, const struct keelson_object *o)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *meta = obj ? cJSON_AddObjectToObject(obj, "metadata") : NULL;
	cJSON *labels = meta ? cJSON_AddObjectToObject(meta, "labels") : NULL;
	if (labels == NULL || !cJSON_AddStringToObject(obj, "apiVersion", o->api_version) ||
	    !cJSON_AddStringToObject(obj, "kind", o->kind) || !cJSON_AddStringToObject(meta, "name", o->name) ||
	    (o->namespace_[0] && !cJSON_AddStringToObject(meta, "namespace", o->namespace_)) ||
	    !cJSON_AddStringToObject(labels, KEELSON_LABEL_CLUSTER, cs->cluster) ||
	    !cJSON_AddStringToObject(labels, KEELSON_LABEL_SYSTEM, cs->system->name)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

static int compare_rank(const void *a, const void *b)
{
	const struct keelson_change *x = *(const struct keelson_change *const *)a;
	const struct keelson_change *y = *(const struct keelson_change *const *)b;
	int rx = keelson_apply_rank(x->object->group, x->object->kind);
	int ry = keelson_apply_rank(y->object->group, y->object->kind);
	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x < y ? -1 : x > y; /* stable: repository order */
}

/* Requests in flight while applying one rank of objects (they do not
 * depend on each other); every request still passes the client's rate
 * limit. */
#ifndef APPLY_CONCURRENCY
#define APPLY_CONCURRENCY 8
#endif

/* One object of a rank group on its way through the phases below. */
struct applying {
	const struct keelson_change *c;
	cJSON *out;        /* the object as the last write returned it, or NULL */
	bool failed;
};

/* Apply one rank of objects: the server-side applies concurrently (each
 * object with keelson's labels merged in: one request per object), then in
 * repository order the results (CRDs waited for), then concurrently the
 * `keelson-ownership` label applies of the objects that still lack the
 * system label (not applied in this run, or labels left out of an unforced
 * apply), then in order the inventory. Same outcome as one object after
 * the other, fewer round trips of waiting. */
static int apply_group(struct keelson_apply_result *res, struct keelson_apply_context *ctx,
		       const struct keelson_change_set *cs, const struct keelson_change **changes, size_t n,
		       struct keelson_inventory *inv, struct expectations *expected)
{
	struct applying *a = calloc(n ? n : 1, sizeof(*a));
	struct keelson_kube_apply_item *items = calloc(n ? n : 1, sizeof(*items));
	size_t *index = calloc(n ? n : 1, sizeof(*index));
	struct keelson_kube_write_options *wo = calloc(n ? n : 1, sizeof(*wo));
	cJSON **bodies = calloc(n ? n : 1, sizeof(*bodies));
	cJSON **labels = calloc(n ? n : 1, sizeof(*labels));
	size_t count = 0;
	int rc = 0;
	if (a == NULL || items == NULL || index == NULL || wo == NULL || bodies == NULL || labels == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto done;
	}

	/* Phase 1: the applies, keelson's labels merged in where they may be. */
	for (size_t i = 0; i < n; i++) {
		a[i].c = changes[i];
		if (changes[i]->action != KEELSON_CHANGE_APPLY)
			continue;
		const cJSON *body = changes[i]->object->body;
		if (labels_in_apply(cs, changes[i])) {
			if ((bodies[count] = labelled_body(cs, body)) == NULL) {
				rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
				goto done;
			}
			body = bodies[count];
		}
		keelson_kube_write_options_init(&wo[count]);
		wo[count].force = changes[i]->force;
		items[count].object = body;
		items[count].opts = &wo[count];
		index[count++] = i;
	}
	keelson_kube_apply_batch(ctx->client, items, count, APPLY_CONCURRENCY);
	for (size_t k = 0; k < count; k++) {
		struct applying *x = &a[index[k]];
		const struct keelson_object *o = x->c->object;
		if (items[k].rc < 0) {
			char where[600];
			snprintf(where, sizeof(where), "%s:%u:%u", o->file, o->line, o->column);
			log_object(KEELSON_LOG_ERROR, "apply failed", cs, o->kind, o->namespace_, o->name, "file", where,
				   "error", items[k].error);
			keelson_error_set(items[k].rc, "%s", items[k].error);
			res->failed++;
			x->failed = true;
			continue;
		}
		x->out = items[k].result;
		items[k].result = NULL;
		res->applied++;
		log_object(KEELSON_LOG_INFO, "applied", cs, o->kind, o->namespace_, o->name, "revision", cs->revision,
			   "resourceVersion", meta_string(x->out, "resourceVersion"));
		bool is_crd = strcmp(o->group, "apiextensions.k8s.io") == 0 &&
			      strcmp(o->kind, "CustomResourceDefinition") == 0;
		if (is_crd && wait_crd_established(ctx, o->name) < 0) {
			log_object(KEELSON_LOG_ERROR, "CRD not established", cs, o->kind, "", o->name, "error",
				   keelson_error_last()->message, NULL, NULL);
			res->failed++;
			x->failed = true;
		}
	}

	/* Phase 2: keelson's labels where they are still missing. */
	count = 0;
	for (size_t i = 0; i < n; i++) {
		struct applying *x = &a[i];
		if (x->failed || has_system_label(cs, x->out ? x->out : x->c->diff->live))
			continue;
		if ((labels[count] = label_object(cs, x->c->object)) == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto done;
		}
		keelson_kube_write_options_init(&wo[count]);
		wo[count].field_manager = KEELSON_OWNERSHIP_FIELD_MANAGER;
		wo[count].force = true;
		memset(&items[count], 0, sizeof(items[count]));
		items[count].object = labels[count];
		items[count].opts = &wo[count];
		index[count++] = i;
	}
	keelson_kube_apply_batch(ctx->client, items, count, APPLY_CONCURRENCY);
	for (size_t k = 0; k < count; k++) {
		struct applying *x = &a[index[k]];
		const struct keelson_object *o = x->c->object;
		if (items[k].rc < 0) {
			keelson_error_set(items[k].rc, "%s", items[k].error);
			log_object(KEELSON_LOG_ERROR, "labelling failed", cs, o->kind, o->namespace_, o->name, "error",
				   items[k].error, NULL, NULL);
			res->failed++;
			x->failed = true;
			continue;
		}
		res->labelled++;
		log_object(KEELSON_LOG_INFO, "labelled", cs, o->kind, o->namespace_, o->name, "fieldManager",
			   KEELSON_OWNERSHIP_FIELD_MANAGER, "resourceVersion", meta_string(items[k].result, "resourceVersion"));
		cJSON_Delete(x->out);
		x->out = items[k].result;
		items[k].result = NULL;
	}

/* Phase 3: what the cache must show, and the inventory. */
	for (size_t i = 0; i < n; i++) {
		struct applying *x = &a[i];
		const struct keelson_object *o = x->c->object;
		if (x->failed)
			continue;
		if (x->out != NULL)
			expect(expected, o->api_version, o->kind, o->namespace_, o->name,
			       meta_string(x->out, "resourceVersion"));
		const char *uid = live_uid(x->out ? x->out : x->c->diff->live);
		long at = keelson_inventory_find(inv, o->api_version, o->kind, o->namespace_, o->name);
		if (at < 0 || strcmp(inv->items[at].uid, uid) != 0 ||
		    strcmp(inv->items[at].api_version, o->api_version) != 0) {
			if (keelson_inventory_put(inv, o->api_version, o->kind, o->namespace_, o->name, uid) < 0)
				res->failed++;
			else
				res->inventory_changed = true;
		}
	}
done:
	for (size_t i = 0; a != NULL && i < n; i++)
		cJSON_Delete(a[i].out);
	for (size_t k = 0; labels != NULL && k < n; k++)
		cJSON_Delete(labels[k]);
	for (size_t k = 0; bodies != NULL && k < n; k++)
		cJSON_Delete(bodies[k]);
	free(labels);
	free(bodies);
	free(wo);
	free(index);
	free(items);
	free(a);
	return rc;
}

/* --- prune ------------------------------------------------------------------ */

static int compare_entry_rank_desc(const void *a, const void *b, void *inv_)
{
	const struct keelson_inventory *inv = inv_;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	char ga[256], gb[256];
	keelson_api_group(ga, sizeof(ga), inv->items[ia].api_version);
	keelson_api_group(gb, sizeof(gb), inv->items[ib].api_version);
	int ra = keelson_apply_rank(ga, inv->items[ia].kind), rb = keelson_apply_rank(gb, inv->items[ib].kind);
	if (ra != rb)
		return ra > rb ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

/* Decide and run the deletion of inventory entry `e`. Returns true when the
 * entry may leave the inventory. */
static bool prune_one(struct keelson_apply_result *res, struct keelson_apply_context *ctx,
		      const struct keelson_change_set *cs, const struct keelson_inventory_entry *e,
		      struct expectations *expected)
{
	if (cs->desired_elsewhere != NULL &&
	    cs->desired_elsewhere(cs->payload, e->api_version, e->kind, e->namespace_, e->name)) {
		log_object(KEELSON_LOG_INFO, "object moved to another system; not pruned", cs, e->kind, e->namespace_,
			   e->name, NULL, NULL, NULL, NULL);
		return true;
	}
	if (!cs->system->policy.prune) {
		log_object(KEELSON_LOG_WARN, "object left the repository; prune is off for this system, left in place", cs,
			   e->kind, e->namespace_, e->name, "policy", "prune=false", NULL, NULL);
		res->prune_held++;
		return false;
	}
	cJSON *live = NULL;
	int rc = keelson_kube_get(&live, ctx->client, e->api_version, e->kind, e->namespace_[0] ? e->namespace_ : NULL,
				  e->name);
	if (rc == KEELSON_ENOTFOUND) {
		log_object(KEELSON_LOG_INFO, "object to prune is already gone", cs, e->kind, e->namespace_, e->name, NULL,
			   NULL, NULL, NULL);
		return true;
	}
	if (rc < 0) {
		log_object(KEELSON_LOG_ERROR, "prune: reading the live object failed", cs, e->kind, e->namespace_, e->name,
			   "error", keelson_error_last()->message, NULL, NULL);
		res->failed++;
		return false;
	}
	const char *label = label_of(live, KEELSON_LABEL_SYSTEM);
	const char *uid = live_uid(live);
	bool ours = label != NULL && strcmp(label, cs->system->name) == 0 && e->uid[0] != '\0' &&
		    strcmp(uid, e->uid) == 0;
	if (!ours) {
		/* Someone else's object now (re-created, relabelled): never ours to delete. */
		log_object(KEELSON_LOG_WARN,
			   "not pruning: the live object lacks keelson's label or its uid differs from the inventory", cs,
			   e->kind, e->namespace_, e->name, "uid", uid, "inventoryUid", e->uid);
		cJSON_Delete(live);
		return true;
	}
	cJSON_Delete(live);
	struct keelson_kube_delete_options dopts;
	keelson_kube_delete_options_init(&dopts);
	dopts.propagation = KEELSON_KUBE_PROPAGATION_BACKGROUND;
	dopts.precondition_uid = e->uid;
	rc = keelson_kube_delete(ctx->client, e->api_version, e->kind, e->namespace_[0] ? e->namespace_ : NULL, e->name,
				 &dopts);
	if (rc < 0 && rc != KEELSON_ENOTFOUND) {
		log_object(KEELSON_LOG_ERROR, "prune failed", cs, e->kind, e->namespace_, e->name, "error",
			   keelson_error_last()->message, NULL, NULL);
		res->failed++;
		return false;
	}
	log_object(KEELSON_LOG_INFO, "pruned", cs, e->kind, e->namespace_, e->name, "uid", e->uid, NULL, NULL);
	res->pruned++;
	expect(expected, e->api_version, e->kind, e->namespace_, e->name, NULL);
	return true;
}

static int prune(struct keelson_apply_result *res, struct keelson_apply_context *ctx,
		 const struct keelson_change_set *cs, struct keelson_inventory *inv, struct expectations *expected)
{
	size_t *order = NULL, n = 0;
	if (inv->count == 0)
		return 0;
	order = malloc(inv->count * sizeof(*order));
	bool *desired = calloc(inv->count, sizeof(*desired));
	if (order == NULL || desired == NULL) {
		free(order);
		free(desired);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	/* Entries still in the repository (the identity leaves the version out). */
	for (size_t i = 0; i < cs->change_count; i++) {
		const struct keelson_object *o = cs->changes[i].object;
		long at = keelson_inventory_find(inv, o->api_version, o->kind, o->namespace_, o->name);
		if (at >= 0)
			desired[at] = true;
	}
	for (size_t i = 0; i < inv->count; i++)
		if (!desired[i])
			order[n++] = i;
	free(desired);
	qsort_r(order, n, sizeof(*order), compare_entry_rank_desc, inv);
	bool *drop = calloc(inv->count, sizeof(*drop));
	if (drop == NULL) {
		free(order);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		if (stop_requested(ctx)) {
			res->stopped = true;
			break;
		}
		drop[order[k]] = prune_one(res, ctx, cs, &inv->items[order[k]], expected);
		/* Shrink after each delete, so the inventory never lists less than what exists. */
		if (drop[order[k]])
			res->inventory_changed = true;
	}
	for (size_t i = inv->count; i-- > 0;)
		if (drop[i])
			keelson_inventory_remove(inv, i);
	free(drop);
	free(order);
	return rc;
}

int keelson_generic_apply(struct keelson_apply_result *out, struct keelson_apply_context *ctx,
			  const struct keelson_change_set *cs)
{
	struct keelson_inventory *inv = NULL;
	struct expectations expected = {0};
	const struct keelson_change **order = NULL;
	int rc;
	memset(out, 0, sizeof(*out));

	rc = read_inventory(&inv, ctx, cs);
	if (rc < 0)
		goto cleanup;

	/* Grow the inventory before the first apply. */
	bool grown = !inv->exists;
	for (size_t i = 0; i < cs->change_count; i++) {
		const struct keelson_object *o = cs->changes[i].object;
		if (cs->changes[i].action == KEELSON_CHANGE_BLOCKED && cs->changes[i].diff->live == NULL)
			continue;
		if (keelson_inventory_find(inv, o->api_version, o->kind, o->namespace_, o->name) >= 0)
			continue;
		if ((rc = keelson_inventory_put(inv, o->api_version, o->kind, o->namespace_, o->name, NULL)) < 0)
			goto cleanup;
		grown = true;
	}
	if (grown && (rc = write_inventory(ctx, cs, inv, &expected)) < 0)
		goto cleanup;

	order = malloc((cs->change_count ? cs->change_count : 1) * sizeof(*order));
	if (order == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < cs->change_count; i++)
		order[i] = &cs->changes[i];
	qsort(order, cs->change_count, sizeof(*order), compare_rank);

	/* One rank at a time (a rank's objects do not depend on each other):
	 * what goes to the server is collected per rank and sent in one
	 * concurrent batch by apply_group. */
	const struct keelson_change **group = malloc((cs->change_count ? cs->change_count : 1) * sizeof(*group));
	size_t group_count = 0;
	if (group == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < cs->change_count; i++) {
		const struct keelson_change *c = order[i];
		const struct keelson_object *o = c->object;
		if (stop_requested(ctx)) {
			out->stopped = true;
			break;
		}
		if (c->action == KEELSON_CHANGE_BLOCKED) {
			char where[600];
			snprintf(where, sizeof(where), "%s:%u:%u", o->file, o->line, o->column);
			keelson_log(KEELSON_LOG_ERROR,
				    "change to an immutable field needs a planned operation; not applied", "cluster",
				    cs->cluster, "system", cs->system->name, "kind", o->kind, "namespace", o->namespace_,
				    "name", o->name, "field", c->blocked_pointer, "file", where, "reason",
				    c->blocked_reason, (const char *)NULL);
			out->blocked++;
			continue;
		}
		if (c->action == KEELSON_CHANGE_NONE || c->action == KEELSON_CHANGE_REPORT) {
			if (c->diff->live == NULL)
				continue; /* reported, not created (driftPolicy) */
			/* In sync or only reported: still make sure it is labelled and inventoried. */
		}
		int rank = keelson_apply_rank(o->group, o->kind);
		if (group_count > 0 && keelson_apply_rank(group[0]->object->group, group[0]->object->kind) != rank) {
			rc = apply_group(out, ctx, cs, group, group_count, inv, &expected);
			group_count = 0;
			if (rc < 0) {
				free(group);
				goto cleanup;
			}
		}
		group[group_count++] = c;
	}
	if (group_count > 0 && !out->stopped) {
		rc = apply_group(out, ctx, cs, group, group_count, inv, &expected);
		if (rc < 0) {
			free(group);
			goto cleanup;
		}
	}
	free(group);

	if (out->failed == 0 && out->blocked == 0 && !out->stopped) {
		if ((rc = prune(out, ctx, cs, inv, &expected)) < 0)
			goto cleanup;
	} else if (!out->stopped) {
		keelson_log(KEELSON_LOG_WARN, "not pruning: earlier steps failed or are blocked", "cluster", cs->cluster,
			    "system", cs->system->name, (const char *)NULL);
	}
	if (out->failed == 0 && !out->stopped &&
	    (inv->revision == NULL || strcmp(inv->revision, cs->revision) != 0)) {
		char *rev = strdup(cs->revision);
		if (rev == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		free(inv->revision);
		inv->revision = rev;
		out->inventory_changed = true;
	}
	if (out->inventory_changed && (rc = write_inventory(ctx, cs, inv, &expected)) < 0)
		goto cleanup;
	wait_for_cache(ctx, &expected);
	out->converged = out->failed == 0 && out->blocked == 0 && !out->stopped;
	rc = 0;
cleanup:
	if (rc < 0)
		keelson_log(KEELSON_LOG_ERROR, "system not reconciled", "cluster", cs->cluster, "system",
			    cs->system->name, "error", keelson_error_last()->message, (const char *)NULL);
	expectations_dispose(&expected);
	free(order);
	keelson_inventory_free(inv);
	return rc;
}
