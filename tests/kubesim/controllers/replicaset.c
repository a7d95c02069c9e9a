/*
 * ReplicaSet controller: keeps spec.replicas active pods (not finished, not
 * being deleted) made from the template, adopting matching orphans, and
 * reports replicas / readyReplicas / availableReplicas. Surplus pods are
 * deleted least useful first: not ready before ready, Pending before
 * Running, newest first (upstream's ActivePods ranking, simplified).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

#define MAX_BURST 500

struct rsctl {
	const struct ks_resource_type *sets, *pods;
	struct ks_ctl_map *dirty;     /* "ns/name" */
	struct ks_ctl_map *deadlines; /* "ns/name" -> double * */
};

static const char *const rs_resources[] = {"apps/replicasets", "/pods", NULL};

static void rs_mark(struct rsctl *c, const char *ns, const char *name)
{
	char key[600];
	if (!name)
		return;
	ks_ctl_key(key, sizeof(key), ns, name);
	ks_ctl_map_put(c->dirty, key, (void *)1);
}

static void rs_mark_owner(struct rsctl *c, const cJSON *pod)
{
	const cJSON *ref = ks_ctl_controller_ref(pod);
	const char *kind = ks_ctl_str(ks_ctl_at(ref, "kind", NULL));
	if (kind && !strcmp(kind, "ReplicaSet"))
		rs_mark(c, ks_meta_string(pod, "namespace"), ks_ctl_str(ks_ctl_at(ref, "name", NULL)));
}

static void rs_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct rsctl *c = payload;
	if (ev->resource_type == c->sets) {
		if (ev->type != KS_EVENT_DELETED)
			rs_mark(c, ks_meta_string(ev->object, "namespace"),
				ks_meta_string(ev->object, "name"));
		return;
	}
	if (ev->object)
		rs_mark_owner(c, ev->object);
	if (ev->old_object)
		rs_mark_owner(c, ev->old_object);
}

struct rs_filter {
	const char *uid;
	const cJSON *selector;
};

static bool rs_filter_fn(const cJSON *pod, void *payload)
{
	struct rs_filter *f = payload;
	if (ks_ctl_controller_ref(pod))
		return ks_ctl_controlled_by(pod, f->uid);
	return !ks_ctl_terminating(pod) &&
		ks_ctl_selector_matches(f->selector, ks_ctl_at(pod, "metadata", "labels", NULL));
}

struct adopt {
	const cJSON *ref;
};

static int adopt_fn(cJSON *obj, void *payload)
{
	struct adopt *a = payload;
	if (ks_ctl_controller_ref(obj))
		return keelson_error_set(KEELSON_ECONFLICT, "already owned");
	cJSON *meta = ks_ctl_obj(obj, "metadata");
	cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
	if (!cJSON_IsArray(refs)) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
		refs = cJSON_AddArrayToObject(meta, "ownerReferences");
	}
	cJSON_AddItemToArray(refs, cJSON_Duplicate(a->ref, 1));
	return 0;
}

static bool active(const cJSON *pod)
{
	return !ks_ctl_pod_finished(pod) && !ks_ctl_terminating(pod);
}

/* Lower rank = deleted first. */
static int rank(const cJSON *pod)
{
	int r = 0;
	if (ks_ctl_pod_ready(pod))
		r += 2;
	if (!strcmp(ks_ctl_pod_phase(pod), "Running"))
		r += 1;
	return r;
}

static int delete_order(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int rx = rank(x), ry = rank(y);
	if (rx != ry)
		return rx - ry;
	const char *tx = ks_meta_string(x, "creationTimestamp");
	const char *ty = ks_meta_string(y, "creationTimestamp");
	int t = strcmp(ty ? ty : "", tx ? tx : ""); /* newest first */
	if (t)
		return t;
	return strcmp(ks_meta_string(y, "name"), ks_meta_string(x, "name"));
}

static void create_pod(struct rsctl *c, struct ks_store *store, const cJSON *rs)
{
	const cJSON *tmpl = ks_ctl_at(rs, "spec", "template", NULL);
	cJSON *pod = cJSON_CreateObject();
	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
	char gen[300];
	char suffix[8];
	ks_ctl_random_suffix(suffix, 5);
	snprintf(gen, sizeof(gen), "%.200s-%s", ks_meta_string(rs, "name"), suffix);
	cJSON_AddStringToObject(meta, "name", gen);
	char prefix[260];
	snprintf(prefix, sizeof(prefix), "%.200s-", ks_meta_string(rs, "name"));
	cJSON_AddStringToObject(meta, "generateName", prefix);
	const char *copy[] = {"labels", "annotations", "finalizers"};
	for (int i = 0; i < 3; i++) {
		const cJSON *v = ks_ctl_at(tmpl, "metadata", copy[i], NULL);
		if (v)
			cJSON_AddItemToObject(meta, copy[i], cJSON_Duplicate(v, 1));
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"),
		ks_ctl_controller_ref_new(rs, "apps/v1", "ReplicaSet"));
	const cJSON *spec = ks_ctl_at(tmpl, "spec", NULL);
	cJSON_AddItemToObject(pod, "spec", spec ? cJSON_Duplicate(spec, 1) : cJSON_CreateObject());
	ks_store_create(store, c->pods, ks_meta_string(rs, "namespace"), pod, NULL, NULL);
	cJSON_Delete(pod);
}

static void sync_rs(struct rsctl *c, struct ks_store *store, const char *ns, const char *name)
{
	cJSON *rs = NULL;
	if (ks_store_get(store, c->sets, ns, name, &rs))
		return;
	const char *uid = ks_meta_string(rs, "uid");
	struct rs_filter f = {uid, ks_ctl_at(rs, "spec", "selector", NULL)};
	cJSON *pods = ks_ctl_list(store, c->pods, ns, rs_filter_fn, &f);
	bool deleting = ks_ctl_terminating(rs);
	cJSON *ref = ks_ctl_controller_ref_new(rs, "apps/v1", "ReplicaSet");
	for (int i = cJSON_GetArraySize(pods) - 1; i >= 0; i--) {
		cJSON *pod = cJSON_GetArrayItem(pods, i);
		if (ks_ctl_controller_ref(pod))
			continue;
		struct adopt a = {ref};
		cJSON *adopted = NULL;
		if (deleting || ks_store_modify(store, c->pods, ns, ks_meta_string(pod, "name"),
				adopt_fn, &a, NULL, &adopted))
			cJSON_DeleteItemFromArray(pods, i);
		else
			cJSON_ReplaceItemInArray(pods, i, adopted);
	}
	cJSON_Delete(ref);

	int n = cJSON_GetArraySize(pods);
	const cJSON **act = calloc((size_t)n + 1, sizeof(*act));
	long long nact = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, pods)
		if (act && active(p))
			act[nact++] = p;
	long long want = ks_ctl_num(ks_ctl_at(rs, "spec", "replicas", NULL), 1);
	if (want < 0)
		want = 0;
	if (act && !deleting) {
		if (nact < want) {
			for (long long i = 0; i < want - nact && i < MAX_BURST; i++)
				create_pod(c, store, rs);
			if (want - nact > MAX_BURST)
				rs_mark(c, ns, name); /* the rest in the next tick */
		} else if (nact > want) {
			qsort(act, (size_t)nact, sizeof(*act), delete_order);
			for (long long i = 0; i < nact - want; i++)
				ks_ctl_delete(store, c->pods, ns, ks_meta_string(act[i], "name"),
					ks_meta_string(act[i], "uid"), KS_PROPAGATION_BACKGROUND, -1);
		}
	}

	long long min_ready = ks_ctl_num(ks_ctl_at(rs, "spec", "minReadySeconds", NULL), 0);
	double now = ks_clock_now(), next = 0;
	long long ready = 0, available = 0, labeled = 0;
	const cJSON *tmpl_labels = ks_ctl_at(rs, "spec", "template", "metadata", "labels", NULL);
	for (long long i = 0; act && i < nact; i++) {
		if (ks_ctl_pod_running_ready(act[i])) {
			ready++;
			double at = 0;
			if (ks_ctl_pod_available(act[i], min_ready, now, &at))
				available++;
			else if (at > 0 && (next == 0 || at < next))
				next = at;
		}
		const cJSON *l;
		bool all = true;
		cJSON_ArrayForEach(l, tmpl_labels) {
			const char *v = ks_ctl_label(act[i], l->string);
			if (!v || !cJSON_IsString(l) || strcmp(v, l->valuestring))
				all = false;
		}
		if (all)
			labeled++;
	}
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(rs, "status");
	cJSON *status = cJSON_CreateObject();
	cJSON_AddNumberToObject(status, "replicas", (double)nact);
	cJSON_AddNumberToObject(status, "fullyLabeledReplicas", (double)labeled);
	cJSON_AddNumberToObject(status, "readyReplicas", (double)ready);
	cJSON_AddNumberToObject(status, "availableReplicas", (double)available);
	cJSON_AddNumberToObject(status, "observedGeneration",
		(double)ks_ctl_num(ks_ctl_at(rs, "metadata", "generation", NULL), 0));
	if (!keelson_json_equal(old, status))
		ks_ctl_put_status(store, c->sets, ns, name, uid, status);
	cJSON_Delete(status);
	if (next > 0) {
		char key[600];
		ks_ctl_key(key, sizeof(key), ns, name);
		double *d = malloc(sizeof(*d));
		if (d) {
			*d = next;
			if (ks_ctl_map_put(c->deadlines, key, d))
				free(d);
		}
	}
	free(act);
	cJSON_Delete(pods);
	cJSON_Delete(rs);
}

static void rs_tick(struct ks_store *store, void *payload)
{
	struct rsctl *c = payload;
	size_t n;
	if (ks_ctl_map_count(c->deadlines)) {
		double now = ks_clock_now();
		char **keys = ks_ctl_map_keys(c->deadlines, &n);
		for (size_t i = 0; i < n; i++) {
			double *d = ks_ctl_map_get(c->deadlines, keys[i]);
			if (d && *d <= now) {
				ks_ctl_map_remove(c->deadlines, keys[i]);
				ks_ctl_map_put(c->dirty, keys[i], (void *)1);
			}
		}
		ks_ctl_keys_free(keys, n);
	}
	if (!ks_ctl_map_count(c->dirty))
		return;
	char **keys = ks_ctl_map_keys(c->dirty, &n);
	for (size_t i = 0; i < n; i++) {
		ks_ctl_map_remove(c->dirty, keys[i]);
		const char *slash = strchr(keys[i], '/');
		if (!slash)
			continue;
		*(char *)slash = '\0';
		sync_rs(c, store, keys[i], slash + 1);
	}
	ks_ctl_keys_free(keys, n);
	ks_ctl_release_status();
}

static void rs_stop(void *payload)
{
	struct rsctl *c = payload;
	ks_ctl_map_free(c->dirty);
	ks_ctl_map_free(c->deadlines);
	free(c);
}

int ks_ctl_replicaset_start(struct ks_store *store, struct ks_controller **out)
{
	struct rsctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the replicaset controller");
	c->sets = ks_store_type_find(store, "apps", "replicasets");
	c->pods = ks_store_type_find(store, "", "pods");
	c->dirty = ks_ctl_map_new(NULL);
	c->deadlines = ks_ctl_map_new(free);
	if (!c->sets || !c->pods || !c->dirty || !c->deadlines) {
		rs_stop(c);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the replicaset controller: the store lacks replicasets or pods");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "replicaset",
		.resources = rs_resources,
		.on_event = rs_event,
		.tick_ms = 10,
		.on_tick = rs_tick,
		.on_stop = rs_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		rs_stop(c);
	return rc;
}
