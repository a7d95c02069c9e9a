/*
 * Deployment controller, after upstream's sync/rolling/recreate logic: the
 * template's hash names the new ReplicaSet <deployment>-<pod-template-hash>
 * (label pod-template-hash on the RS, its selector and its pods); a
 * RollingUpdate scales it up within maxSurge and old ReplicaSets down within
 * maxUnavailable, a Recreate scales old ones to zero and waits for their
 * pods to go before scaling the new one up. The ReplicaSet controller owns
 * the pods. Status carries what `kubectl rollout status deployment` reads
 * (observedGeneration, replicas, updatedReplicas, readyReplicas,
 * availableReplicas, unavailableReplicas, Available/Progressing conditions).
 * Not simulated: proportional scaling of several old ReplicaSets, the
 * progress deadline, pausing beyond "do nothing".
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

#define HASH_LABEL "pod-template-hash"
#define ANN_REVISION "deployment.kubernetes.io/revision"
#define ANN_DESIRED "deployment.kubernetes.io/desired-replicas"
#define ANN_MAX "deployment.kubernetes.io/max-replicas"

struct depctl {
	const struct ks_resource_type *deployments, *sets, *pods;
	struct ks_ctl_map *dirty; /* "ns/name" */
};

static const char *const dep_resources[] = {
	"apps/deployments", "apps/replicasets", "/pods", NULL,
};

static void dep_mark(struct depctl *c, const char *ns, const char *name)
{
	char key[600];
	if (!name)
		return;
	ks_ctl_key(key, sizeof(key), ns, name);
	ks_ctl_map_put(c->dirty, key, (void *)1);
}

static void dep_mark_owner(struct depctl *c, const cJSON *obj, bool pod)
{
	const cJSON *ref = ks_ctl_controller_ref(obj);
	const char *kind = ks_ctl_str(ks_ctl_at(ref, "kind", NULL));
	const char *name = ks_ctl_str(ks_ctl_at(ref, "name", NULL));
	if (!kind || !name)
		return;
	if (!pod && !strcmp(kind, "Deployment")) {
		dep_mark(c, ks_meta_string(obj, "namespace"), name);
	} else if (pod && !strcmp(kind, "ReplicaSet")) {
		/* Recreate waits for old pods: "<deployment>-<hash>" -> deployment. */
		const char *dash = strrchr(name, '-');
		char dep[300];
		size_t len = dash ? (size_t)(dash - name) : 0;
		if (len > 0 && len < sizeof(dep)) {
			memcpy(dep, name, len);
			dep[len] = '\0';
			dep_mark(c, ks_meta_string(obj, "namespace"), dep);
		}
	}
}

static void dep_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct depctl *c = payload;
	if (ev->resource_type == c->deployments) {
		if (ev->type != KS_EVENT_DELETED)
			dep_mark(c, ks_meta_string(ev->object, "namespace"),
				ks_meta_string(ev->object, "name"));
		return;
	}
	bool pod = ev->resource_type == c->pods;
	if (pod && ev->type != KS_EVENT_DELETED && ev->old_object &&
	    ks_ctl_terminating(ev->old_object) == ks_ctl_terminating(ev->object))
		return; /* only pod arrivals and departures matter here */
	dep_mark_owner(c, ev->object, pod);
}

/* int-or-percent against `total` (round up for surge, down otherwise). */
static long long int_or_percent(const cJSON *v, long long total, bool round_up, long long dflt)
{
	if (cJSON_IsNumber(v))
		return (long long)v->valuedouble;
	const char *s = ks_ctl_str(v);
	if (!s)
		return dflt;
	char *end;
	double pct = strtod(s, &end);
	if (*end != '%')
		return dflt;
	double x = pct * (double)total / 100.0;
	return (long long)(round_up ? ceil(x) : floor(x));
}

static long long spec_replicas(const cJSON *obj)
{
	long long r = ks_ctl_num(ks_ctl_at(obj, "spec", "replicas", NULL), 1);
	return r < 0 ? 0 : r;
}

static long long status_num(const cJSON *obj, const char *field)
{
	return ks_ctl_num(ks_ctl_at(obj, "status", field, NULL), 0);
}

static int scale_rs(struct depctl *c, struct ks_store *store, const cJSON *rs,
	long long replicas, long long desired, long long max)
{
	if (spec_replicas(rs) == replicas)
		return 0;
	char d[24], m[24];
	snprintf(d, sizeof(d), "%lld", desired);
	snprintf(m, sizeof(m), "%lld", max);
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(patch, "spec"), "replicas", (double)replicas);
	cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"),
		"annotations");
	cJSON_AddStringToObject(ann, ANN_DESIRED, d);
	cJSON_AddStringToObject(ann, ANN_MAX, m);
	int rc = ks_ctl_patch(store, c->sets, ks_meta_string(rs, "namespace"),
		ks_meta_string(rs, "name"), ks_meta_string(rs, "uid"), patch, NULL);
	cJSON_Delete(patch);
	return rc;
}

static int by_creation(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	const char *tx = ks_meta_string(x, "creationTimestamp");
	const char *ty = ks_meta_string(y, "creationTimestamp");
	int t = strcmp(tx ? tx : "", ty ? ty : "");
	return t ? t : strcmp(ks_meta_string(x, "name"), ks_meta_string(y, "name"));
}

static long long revision_of(const cJSON *rs)
{
	const char *r = ks_ctl_annotation(rs, ANN_REVISION);
	return r ? strtoll(r, NULL, 10) : 0;
}

static cJSON *new_rs_object(const cJSON *d, const char *hash, long long replicas,
	long long revision, long long max)
{
	char name[400], rev[24], des[24], mx[24];
	snprintf(name, sizeof(name), "%.250s-%s", ks_meta_string(d, "name"), hash);
	snprintf(rev, sizeof(rev), "%lld", revision);
	snprintf(des, sizeof(des), "%lld", spec_replicas(d));
	snprintf(mx, sizeof(mx), "%lld", max);
	cJSON *rs = cJSON_CreateObject();
	cJSON_AddStringToObject(rs, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(rs, "kind", "ReplicaSet");
	cJSON *meta = cJSON_AddObjectToObject(rs, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "namespace", ks_meta_string(d, "namespace"));
	cJSON *tmpl = cJSON_Duplicate(ks_ctl_at(d, "spec", "template", NULL), 1);
	if (!tmpl)
		tmpl = cJSON_CreateObject();
	cJSON *tlabels = ks_ctl_obj(ks_ctl_obj(tmpl, "metadata"), "labels");
	ks_ctl_set_str(tlabels, HASH_LABEL, hash);
	cJSON_AddItemToObject(meta, "labels", cJSON_Duplicate(tlabels, 1));
	cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
	cJSON_AddStringToObject(ann, ANN_REVISION, rev);
	cJSON_AddStringToObject(ann, ANN_DESIRED, des);
	cJSON_AddStringToObject(ann, ANN_MAX, mx);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"),
		ks_ctl_controller_ref_new(d, "apps/v1", "Deployment"));
	cJSON *spec = cJSON_AddObjectToObject(rs, "spec");
	cJSON_AddNumberToObject(spec, "replicas", (double)replicas);
	cJSON_AddNumberToObject(spec, "minReadySeconds",
		(double)ks_ctl_num(ks_ctl_at(d, "spec", "minReadySeconds", NULL), 0));
	cJSON *sel = cJSON_Duplicate(ks_ctl_at(d, "spec", "selector", NULL), 1);
	if (!sel)
		sel = cJSON_CreateObject();
	ks_ctl_set_str(ks_ctl_obj(sel, "matchLabels"), HASH_LABEL, hash);
	cJSON_AddItemToObject(spec, "selector", sel);
	cJSON_AddItemToObject(spec, "template", tmpl);
	return rs;
}

static bool old_pods_remain(struct depctl *c, struct ks_store *store, const char *ns,
	const cJSON *olds)
{
	const cJSON *rs;
	cJSON_ArrayForEach(rs, olds) {
		cJSON *pods = ks_ctl_list(store, c->pods, ns, ks_ctl_filter_controlled,
			(void *)ks_meta_string(rs, "uid"));
		const cJSON *p;
		bool any = false;
		cJSON_ArrayForEach(p, pods)
			if (!ks_ctl_pod_finished(p))
				any = true;
		cJSON_Delete(pods);
		if (any)
			return true;
	}
	return false;
}

static void write_status(struct depctl *c, struct ks_store *store, const cJSON *d,
	const cJSON *all, const cJSON *new_rs, long long max_unavailable)
{
	long long replicas = 0, ready = 0, available = 0, updated = 0;
	const cJSON *rs;
	cJSON_ArrayForEach(rs, all) {
		replicas += status_num(rs, "replicas");
		ready += status_num(rs, "readyReplicas");
		available += status_num(rs, "availableReplicas");
	}
	if (new_rs)
		updated = status_num(new_rs, "replicas");
	long long want = spec_replicas(d);
	double now = ks_clock_now();
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(d, "status");
	cJSON *status = cJSON_IsObject(old) ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
	ks_ctl_set_num(status, "observedGeneration",
		(double)ks_ctl_num(ks_ctl_at(d, "metadata", "generation", NULL), 0));
	ks_ctl_set_num(status, "replicas", (double)replicas);
	ks_ctl_set_num(status, "updatedReplicas", (double)updated);
	ks_ctl_set_num(status, "readyReplicas", (double)ready);
	ks_ctl_set_num(status, "availableReplicas", (double)available);
	ks_ctl_set_num(status, "unavailableReplicas", (double)(want > available ? want - available : 0));
	bool min_ok = available >= want - max_unavailable;
	ks_ctl_set_condition(status, "Available", min_ok ? "True" : "False",
		min_ok ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
		min_ok ? "Deployment has minimum availability." :
			"Deployment does not have minimum availability.", now, false, true);
	if (new_rs) {
		char msg[400];
		bool complete = updated == want && replicas == want && available == want;
		snprintf(msg, sizeof(msg), complete ? "ReplicaSet \"%.300s\" has successfully progressed." :
			"ReplicaSet \"%.300s\" is progressing.", ks_meta_string(new_rs, "name"));
		ks_ctl_set_condition(status, "Progressing", "True",
			complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", msg, now, false, true);
	}
	if (!keelson_json_equal(old, status))
		ks_ctl_put_status(store, c->deployments, ks_meta_string(d, "namespace"),
			ks_meta_string(d, "name"), ks_meta_string(d, "uid"), status);
	cJSON_Delete(status);
}

static void sync_deployment(struct depctl *c, struct ks_store *store, const char *ns,
	const char *name)
{
	cJSON *d = NULL;
	if (ks_store_get(store, c->deployments, ns, name, &d))
		return;
	const char *uid = ks_meta_string(d, "uid");
	cJSON *all = ks_ctl_list(store, c->sets, ns, ks_ctl_filter_controlled, (void *)uid);
	long long want = spec_replicas(d);
	const char *type = ks_ctl_str(ks_ctl_at(d, "spec", "strategy", "type", NULL));
	bool recreate = type && !strcmp(type, "Recreate");
	const cJSON *ru = ks_ctl_at(d, "spec", "strategy", "rollingUpdate", NULL);
	long long surge = recreate ? 0 : int_or_percent(ks_ctl_at(ru, "maxSurge", NULL), want, true, 1);
	long long unavail = recreate ? want :
		int_or_percent(ks_ctl_at(ru, "maxUnavailable", NULL), want, false, 0);
	if (!recreate && surge == 0 && unavail == 0)
		unavail = 1;
	if (unavail > want)
		unavail = want;

	long long collision = ks_ctl_num(ks_ctl_at(d, "status", "collisionCount", NULL), 0);
	char hash[16];
	ks_ctl_template_hash(ks_ctl_at(d, "spec", "template", NULL), collision, hash, sizeof(hash));
	char new_name[400];
	snprintf(new_name, sizeof(new_name), "%.250s-%s", name, hash);
	cJSON *new_rs = NULL;
	cJSON *olds = cJSON_CreateArray();
	long long max_rev = 0;
	cJSON *rs;
	cJSON_ArrayForEach(rs, all) {
		if (revision_of(rs) > max_rev)
			max_rev = revision_of(rs);
		if (!strcmp(ks_meta_string(rs, "name"), new_name))
			new_rs = rs;
		else
			cJSON_AddItemReferenceToArray(olds, rs);
	}
	bool paused = ks_ctl_true(ks_ctl_at(d, "spec", "paused", NULL));
	if (ks_ctl_terminating(d) || paused)
		goto status;

	int nold = cJSON_GetArraySize(olds);
	const cJSON **old_sorted = calloc((size_t)nold + 1, sizeof(*old_sorted));
	if (!old_sorted)
		goto status;
	for (int i = 0; i < nold; i++)
		old_sorted[i] = cJSON_GetArrayItem(olds, i);
	qsort(old_sorted, (size_t)nold, sizeof(*old_sorted), by_creation);

	long long all_pods = 0;
	cJSON_ArrayForEach(rs, all)
		all_pods += spec_replicas(rs);

	long long dep_rev = 0;
	if (new_rs && revision_of(new_rs) < max_rev) {
		/* Rolled back to an older template: it becomes the newest revision. */
		char rev[24];
		snprintf(rev, sizeof(rev), "%lld", max_rev + 1);
		cJSON *patch = cJSON_CreateObject();
		cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch,
			"metadata"), "annotations"), ANN_REVISION, rev);
		if (ks_ctl_patch(store, c->sets, ns, new_name, ks_meta_string(new_rs, "uid"),
				patch, NULL) == 0)
			dep_rev = max_rev + 1;
		cJSON_Delete(patch);
	} else if (new_rs) {
		dep_rev = revision_of(new_rs);
	}
	if (recreate) {
		bool scaled_old = false;
		for (int i = 0; i < nold; i++)
			if (spec_replicas(old_sorted[i]) > 0) {
				scale_rs(c, store, old_sorted[i], 0, want, want);
				scaled_old = true;
			}
		if (!scaled_old && !old_pods_remain(c, store, ns, olds)) {
			if (!new_rs) {
				cJSON *obj = new_rs_object(d, hash, want, max_rev + 1, want);
				if (ks_store_create(store, c->sets, ns, obj, NULL, NULL) == 0)
					dep_rev = max_rev + 1;
				cJSON_Delete(obj);
			} else {
				scale_rs(c, store, new_rs, want, want, want);
			}
		}
	} else if (!new_rs) {
		long long max_total = want + surge;
		long long n = max_total - all_pods;
		if (n > want)
			n = want;
		if (n < 0)
			n = 0;
		cJSON *obj = new_rs_object(d, hash, n, max_rev + 1, max_total);
		if (ks_store_create(store, c->sets, ns, obj, NULL, NULL) == 0)
			dep_rev = max_rev + 1;
		cJSON_Delete(obj);
	} else {
		long long max_total = want + surge;
		long long cur = spec_replicas(new_rs);
		if (cur > want) {
			scale_rs(c, store, new_rs, want, want, max_total);
		} else if (cur < want) {
			long long up = max_total - all_pods;
			if (up > want - cur)
				up = want - cur;
			if (up > 0)
				scale_rs(c, store, new_rs, cur + up, want, max_total);
		}
		/* reconcileOldReplicaSets: unhealthy old pods first, then healthy
		 * ones while availability stays above want - maxUnavailable. */
		long long *oldr = calloc((size_t)nold + 1, sizeof(*oldr));
		if (oldr) {
			for (int i = 0; i < nold; i++)
				oldr[i] = spec_replicas(old_sorted[i]);
			long long min_available = want - unavail;
			long long new_unavailable = cur - status_num(new_rs, "availableReplicas");
			long long max_down = all_pods - min_available - new_unavailable;
			long long done = 0;
			if (max_down > 0) {
				for (int i = 0; i < nold && done < max_down; i++) {
					long long unhealthy = oldr[i] -
						status_num(old_sorted[i], "availableReplicas");
					if (unhealthy <= 0)
						continue;
					long long k = unhealthy < max_down - done ? unhealthy : max_down - done;
					oldr[i] -= k;
					done += k;
				}
				long long avail = 0;
				cJSON_ArrayForEach(rs, all)
					avail += status_num(rs, "availableReplicas");
				long long down = avail - min_available;
				for (int i = 0; i < nold && down > 0; i++) {
					long long k = oldr[i] < down ? oldr[i] : down;
					oldr[i] -= k;
					down -= k;
				}
			}
			for (int i = 0; i < nold; i++)
				if (oldr[i] != spec_replicas(old_sorted[i]))
					scale_rs(c, store, old_sorted[i], oldr[i], want, max_total);
			free(oldr);
		}
	}
	/* Revision history: idle old ReplicaSets beyond revisionHistoryLimit. */
	long long limit = ks_ctl_num(ks_ctl_at(d, "spec", "revisionHistoryLimit", NULL), 10);
	int idle = 0;
	for (int i = 0; i < nold; i++)
		if (spec_replicas(old_sorted[i]) == 0 && status_num(old_sorted[i], "replicas") == 0)
			idle++;
	for (int i = 0; i < nold && idle > limit; i++) {
		const cJSON *o = old_sorted[i];
		if (spec_replicas(o) == 0 && status_num(o, "replicas") == 0) {
			ks_ctl_delete(store, c->sets, ns, ks_meta_string(o, "name"),
				ks_meta_string(o, "uid"), KS_PROPAGATION_BACKGROUND, -1);
			idle--;
		}
	}
	free(old_sorted);
	if (dep_rev > 0) {
		char rev[24];
		snprintf(rev, sizeof(rev), "%lld", dep_rev);
		const char *have = ks_ctl_annotation(d, ANN_REVISION);
		if (!have || strcmp(have, rev)) {
			cJSON *patch = cJSON_CreateObject();
			cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch,
				"metadata"), "annotations"), ANN_REVISION, rev);
			ks_ctl_patch(store, c->deployments, ns, name, uid, patch, NULL);
			cJSON_Delete(patch);
		}
	}
status:
	write_status(c, store, d, all, new_rs, unavail);
	cJSON_Delete(olds);
	cJSON_Delete(all);
	cJSON_Delete(d);
}

static void dep_tick(struct ks_store *store, void *payload)
{
	struct depctl *c = payload;
	if (!ks_ctl_map_count(c->dirty))
		return;
	size_t n;
	char **keys = ks_ctl_map_keys(c->dirty, &n);
	for (size_t i = 0; i < n; i++) {
		ks_ctl_map_remove(c->dirty, keys[i]);
		char *slash = strchr(keys[i], '/');
		if (!slash)
			continue;
		*slash = '\0';
		sync_deployment(c, store, keys[i], slash + 1);
	}
	ks_ctl_keys_free(keys, n);
	ks_ctl_release_status();
}

static void dep_stop(void *payload)
{
	struct depctl *c = payload;
	ks_ctl_map_free(c->dirty);
	free(c);
}

int ks_ctl_deployment_start(struct ks_store *store, struct ks_controller **out)
{
	struct depctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the deployment controller");
	c->deployments = ks_store_type_find(store, "apps", "deployments");
	c->sets = ks_store_type_find(store, "apps", "replicasets");
	c->pods = ks_store_type_find(store, "", "pods");
	c->dirty = ks_ctl_map_new(NULL);
	if (!c->deployments || !c->sets || !c->pods || !c->dirty) {
		dep_stop(c);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the deployment controller: the store lacks deployments, replicasets or pods");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "deployment",
		.resources = dep_resources,
		.on_event = dep_event,
		.tick_ms = 10,
		.on_tick = dep_tick,
		.on_stop = dep_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		dep_stop(c);
	return rc;
}
