/*
 * StatefulSet controller (M14), following the structure of upstream's
 * stateful_set_control.go: revisions first (ControllerRevision per
 * template), then replicas in ordinal order, then condemned pods (scale
 * down, highest first), then the rolling update from the highest ordinal
 * down to the partition; OrderedReady stops at the first pod that is not
 * Running, Ready and Available, Parallel does not wait. Status goes through
 * the status subresource after every sync.
 *
 * Sets are synced on the tick when an event touched them (the set, its pods
 * or revisions), when a minReadySeconds deadline passes on the simulated
 * clock, and every few seconds as a safety net.
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

#define LABEL_POD_NAME "statefulset.kubernetes.io/pod-name"
#define LABEL_POD_INDEX "apps.kubernetes.io/pod-index"
#define LABEL_REVISION "controller-revision-hash"
#define LABEL_HASH "controller.kubernetes.io/hash"
#define MAX_REPLICAS 100000
#define RESYNC_TICKS 500

struct stsctl {
	const struct ks_resource_type *sets, *pods, *revisions, *pvcs;
	struct ks_ctl_map *dirty;     /* "ns/name" -> mark */
	struct ks_ctl_map *deadlines; /* "ns/name" -> double * (simulated time) */
	unsigned ticks;
};

static const char *const sts_resources[] = {
	"apps/statefulsets", "/pods", "apps/controllerrevisions", NULL,
};

/* Ordinal of pod `name` in set `set`, or -1 when it is not "<set>-<n>". */
static long parse_ordinal(const char *name, const char *set)
{
	size_t sl = strlen(set);
	if (strncmp(name, set, sl) || name[sl] != '-')
		return -1;
	const char *d = name + sl + 1;
	size_t n = strlen(d);
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (d[i] < '0' || d[i] > '9')
			return -1;
	return strtol(d, NULL, 10);
}

static void mark_dirty(struct stsctl *c, const char *ns, const char *name)
{
	char key[600];
	ks_ctl_key(key, sizeof(key), ns, name);
	ks_ctl_map_put(c->dirty, key, (void *)1);
}

static void mark_owner(struct stsctl *c, const cJSON *obj, bool pod)
{
	if (!obj)
		return;
	const char *ns = ks_meta_string(obj, "namespace");
	const cJSON *ref = ks_ctl_controller_ref(obj);
	const char *kind = ks_ctl_str(ks_ctl_at(ref, "kind", NULL));
	if (ref) {
		if (kind && !strcmp(kind, "StatefulSet"))
			mark_dirty(c, ns, ks_ctl_str(ks_ctl_at(ref, "name", NULL)));
		return;
	}
	if (!pod)
		return;
	/* An orphan "<set>-<n>" may be adopted by its set. */
	const char *name = ks_meta_string(obj, "name");
	const char *dash = name ? strrchr(name, '-') : NULL;
	if (dash && dash > name && dash[1]) {
		char parent[300];
		size_t len = (size_t)(dash - name);
		if (len < sizeof(parent)) {
			memcpy(parent, name, len);
			parent[len] = '\0';
			if (parse_ordinal(name, parent) >= 0)
				mark_dirty(c, ns, parent);
		}
	}
}

static void sts_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct stsctl *c = payload;
	if (ev->resource_type == c->sets) {
		if (ev->type != KS_EVENT_DELETED)
			mark_dirty(c, ks_meta_string(ev->object, "namespace"),
				ks_meta_string(ev->object, "name"));
		return;
	}
	bool pod = ev->resource_type == c->pods;
	mark_owner(c, ev->object, pod);
	mark_owner(c, ev->old_object, pod);
}

/* ---------------------------------------------------------------------------
 * One sync
 * ------------------------------------------------------------------------- */

struct sync {
	struct stsctl *c;
	struct ks_store *store;
	const cJSON *set;
	const char *ns, *name, *uid;
	long long min_ready;
	double now;
	double next_deadline; /* earliest time a pod becomes available */
	const cJSON *update_rev, *current_rev;
	cJSON *update_tmpl, *current_tmpl;
	cJSON *revisions; /* owned list */
	cJSON *created_rev; /* owned, when we created the update revision */
	long long collision;
};

struct pod_filter {
	const char *uid;
	const char *set_name;
	const cJSON *selector;
};

static bool pod_filter_fn(const cJSON *pod, void *payload)
{
	struct pod_filter *f = payload;
	if (parse_ordinal(ks_meta_string(pod, "name"), f->set_name) < 0)
		return false;
	const cJSON *ref = ks_ctl_controller_ref(pod);
	if (ref)
		return ks_ctl_controlled_by(pod, f->uid);
	return ks_ctl_selector_matches(f->selector, ks_ctl_at(pod, "metadata", "labels", NULL));
}

struct add_ref {
	cJSON *ref;
};

static int adopt_fn(cJSON *obj, void *payload)
{
	struct add_ref *a = payload;
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

static int rev_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	long long rx = ks_ctl_num(cJSON_GetObjectItemCaseSensitive(x, "revision"), 0);
	long long ry = ks_ctl_num(cJSON_GetObjectItemCaseSensitive(y, "revision"), 0);
	if (rx != ry)
		return rx < ry ? -1 : 1;
	return strcmp(ks_meta_string(x, "name"), ks_meta_string(y, "name"));
}

static cJSON *revision_data(const cJSON *set)
{
	cJSON *data = cJSON_CreateObject();
	cJSON *tmpl = cJSON_Duplicate(ks_ctl_at(set, "spec", "template", NULL), 1);
	if (!tmpl)
		tmpl = cJSON_CreateObject();
	cJSON_AddStringToObject(tmpl, "$patch", "replace");
	cJSON_AddItemToObject(cJSON_AddObjectToObject(data, "spec"), "template", tmpl);
	return data;
}

static cJSON *template_of(const cJSON *rev)
{
	cJSON *t = cJSON_Duplicate(ks_ctl_at(rev, "data", "spec", "template", NULL), 1);
	if (!t)
		t = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(t, "$patch");
	return t;
}

struct set_revision {
	long long revision;
};

static int set_revision_fn(cJSON *obj, void *payload)
{
	struct set_revision *s = payload;
	ks_ctl_set_num(obj, "revision", (double)s->revision);
	return 0;
}

/* getStatefulSetRevisions: find or create the update revision, find the
 * current one. Returns 0 or an error (sync retried later). */
static int resolve_revisions(struct sync *s)
{
	struct stsctl *c = s->c;
	s->revisions = ks_ctl_list(s->store, c->revisions, s->ns, ks_ctl_filter_controlled,
		(void *)s->uid);
	int n = cJSON_GetArraySize(s->revisions);
	const cJSON **sorted = calloc((size_t)n + 1, sizeof(*sorted));
	if (!sorted)
		return KEELSON_ENOMEM;
	for (int i = 0; i < n; i++)
		sorted[i] = cJSON_GetArrayItem(s->revisions, i);
	qsort(sorted, (size_t)n, sizeof(*sorted), rev_cmp);
	/* Keep the list sorted for truncation. */
	cJSON *ordered = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(ordered, cJSON_Duplicate(sorted[i], 1));
	free(sorted);
	cJSON_Delete(s->revisions);
	s->revisions = ordered;

	long long max_rev = 0;
	const cJSON *r, *equal = NULL;
	cJSON *data = revision_data(s->set);
	cJSON_ArrayForEach(r, s->revisions) {
		long long v = ks_ctl_num(cJSON_GetObjectItemCaseSensitive(r, "revision"), 0);
		if (v > max_rev)
			max_rev = v;
		if (keelson_json_equal(cJSON_GetObjectItemCaseSensitive(r, "data"), data))
			equal = r;
	}
	int rc = 0;
	const cJSON *last = cJSON_GetArrayItem(s->revisions, n - 1);
	if (equal && equal == last) {
		s->update_rev = equal;
	} else if (equal && !ks_ctl_terminating(s->set)) {
		/* Rolling back to an earlier template: it becomes the newest. */
		struct set_revision sr = {max_rev + 1};
		cJSON *updated = NULL;
		rc = ks_store_modify(s->store, c->revisions, s->ns, ks_meta_string(equal, "name"),
			set_revision_fn, &sr, NULL, &updated);
		if (rc == 0) {
			cJSON_ReplaceItemViaPointer(s->revisions, (cJSON *)equal, updated);
			s->update_rev = updated;
		}
	} else if (ks_ctl_terminating(s->set)) {
		/* A set being deleted gets no new revision: the GC is removing them
		 * and a fresh one would hold a foreground deletion forever. */
		rc = KEELSON_ENOTFOUND;
	} else {
		s->collision = ks_ctl_num(ks_ctl_at(s->set, "status", "collisionCount", NULL), 0);
		for (int attempt = 0; attempt < 10; attempt++) {
			char hash[16], name[400];
			ks_ctl_template_hash(data, s->collision, hash, sizeof(hash));
			snprintf(name, sizeof(name), "%s-%s", s->name, hash);
			cJSON *rev = cJSON_CreateObject();
			cJSON_AddStringToObject(rev, "apiVersion", "apps/v1");
			cJSON_AddStringToObject(rev, "kind", "ControllerRevision");
			cJSON *meta = cJSON_AddObjectToObject(rev, "metadata");
			cJSON_AddStringToObject(meta, "name", name);
			cJSON_AddStringToObject(meta, "namespace", s->ns);
			cJSON *labels = cJSON_Duplicate(ks_ctl_at(s->set, "spec", "template",
				"metadata", "labels", NULL), 1);
			if (!labels)
				labels = cJSON_CreateObject();
			ks_ctl_set_str(labels, LABEL_HASH, hash);
			cJSON_AddItemToObject(meta, "labels", labels);
			cJSON *refs = cJSON_AddArrayToObject(meta, "ownerReferences");
			cJSON_AddItemToArray(refs, ks_ctl_controller_ref_new(s->set, "apps/v1",
				"StatefulSet"));
			cJSON_AddItemToObject(rev, "data", cJSON_Duplicate(data, 1));
			cJSON_AddNumberToObject(rev, "revision", (double)(max_rev + 1));
			cJSON *stored = NULL;
			rc = ks_store_create(s->store, c->revisions, s->ns, rev, NULL, &stored);
			cJSON_Delete(rev);
			if (rc == 0) {
				s->created_rev = stored;
				s->update_rev = stored;
				break;
			}
			if (rc != KEELSON_EEXISTS)
				break;
			cJSON *existing = NULL;
			if (ks_store_get(s->store, c->revisions, s->ns, name, &existing) == 0 &&
			    keelson_json_equal(cJSON_GetObjectItemCaseSensitive(existing, "data"), data) &&
			    ks_ctl_controlled_by(existing, s->uid)) {
				s->created_rev = existing;
				s->update_rev = existing;
				rc = 0;
				break;
			}
			cJSON_Delete(existing);
			s->collision++; /* same name, different content: a hash collision */
		}
	}
	cJSON_Delete(data);
	if (rc || !s->update_rev)
		return rc ? rc : KEELSON_ERROR;
	const char *cur = ks_ctl_str(ks_ctl_at(s->set, "status", "currentRevision", NULL));
	s->current_rev = NULL;
	cJSON_ArrayForEach(r, s->revisions)
		if (cur && !strcmp(ks_meta_string(r, "name"), cur))
			s->current_rev = r;
	if (!s->current_rev)
		s->current_rev = s->update_rev;
	if (s->collision == 0)
		s->collision = ks_ctl_num(ks_ctl_at(s->set, "status", "collisionCount", NULL), 0);
	s->update_tmpl = template_of(s->update_rev);
	s->current_tmpl = template_of(s->current_rev);
	return 0;
}

static const char *rev_name(const cJSON *rev)
{
	return ks_meta_string(rev, "name");
}

static const char *pod_revision(const cJSON *pod)
{
	const char *r = ks_ctl_label(pod, LABEL_REVISION);
	return r ? r : "";
}

static bool is_unavailable(const struct sync *s, const cJSON *pod)
{
	if (!pod)
		return true;
	if (ks_ctl_terminating(pod) || !ks_ctl_pod_running_ready(pod))
		return true;
	return !ks_ctl_pod_available(pod, s->min_ready, s->now, NULL);
}

static void note_available_deadline(struct sync *s, const cJSON *pod)
{
	double at = 0;
	if (ks_ctl_pod_running_ready(pod) &&
	    !ks_ctl_pod_available(pod, s->min_ready, s->now, &at) && at > 0 &&
	    (s->next_deadline == 0 || at < s->next_deadline))
		s->next_deadline = at;
}

/* ---- PVCs ---- */

static void claim_name(char *buf, size_t size, const cJSON *vct, const char *set, long ord)
{
	snprintf(buf, size, "%s-%s-%ld", ks_meta_string(vct, "name"), set, ord);
}

static void create_claims(struct sync *s, long ord)
{
	const cJSON *vct;
	cJSON_ArrayForEach(vct, ks_ctl_at(s->set, "spec", "volumeClaimTemplates", NULL)) {
		const char *cname = ks_meta_string(vct, "name");
		if (!cname)
			continue;
		char name[600];
		claim_name(name, sizeof(name), vct, s->name, ord);
		cJSON *existing = NULL;
		if (ks_store_get(s->store, s->c->pvcs, s->ns, name, &existing) == 0) {
			cJSON_Delete(existing);
			continue;
		}
		cJSON *pvc = cJSON_CreateObject();
		cJSON_AddStringToObject(pvc, "apiVersion", "v1");
		cJSON_AddStringToObject(pvc, "kind", "PersistentVolumeClaim");
		cJSON *meta = cJSON_AddObjectToObject(pvc, "metadata");
		cJSON_AddStringToObject(meta, "name", name);
		cJSON_AddStringToObject(meta, "namespace", s->ns);
		cJSON *labels = cJSON_Duplicate(ks_ctl_at(vct, "metadata", "labels", NULL), 1);
		if (!labels)
			labels = cJSON_CreateObject();
		const cJSON *l;
		cJSON_ArrayForEach(l, ks_ctl_at(s->set, "spec", "selector", "matchLabels", NULL))
			ks_ctl_set(labels, l->string, cJSON_Duplicate(l, 1));
		cJSON_AddItemToObject(meta, "labels", labels);
		const cJSON *ann = ks_ctl_at(vct, "metadata", "annotations", NULL);
		if (ann)
			cJSON_AddItemToObject(meta, "annotations", cJSON_Duplicate(ann, 1));
		const char *when = ks_ctl_str(ks_ctl_at(s->set, "spec",
			"persistentVolumeClaimRetentionPolicy", "whenDeleted", NULL));
		if (when && !strcmp(when, "Delete")) {
			cJSON *ref = ks_ctl_controller_ref_new(s->set, "apps/v1", "StatefulSet");
			cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), ref);
		}
		cJSON *spec = cJSON_Duplicate(ks_ctl_at(vct, "spec", NULL), 1);
		cJSON_AddItemToObject(pvc, "spec", spec ? spec : cJSON_CreateObject());
		cJSON *stored = NULL;
		if (ks_store_create(s->store, s->c->pvcs, s->ns, pvc, NULL, &stored) == 0) {
			/* No provisioner to wait for: bind at once. */
			cJSON *status = cJSON_CreateObject();
			cJSON_AddStringToObject(status, "phase", "Bound");
			const cJSON *modes = ks_ctl_at(stored, "spec", "accessModes", NULL);
			cJSON_AddItemToObject(status, "accessModes",
				modes ? cJSON_Duplicate(modes, 1) : cJSON_CreateArray());
			const cJSON *size = ks_ctl_at(stored, "spec", "resources", "requests",
				"storage", NULL);
			if (size)
				cJSON_AddItemToObject(cJSON_AddObjectToObject(status, "capacity"),
					"storage", cJSON_Duplicate(size, 1));
			ks_ctl_put_status(s->store, s->c->pvcs, s->ns, name,
				ks_meta_string(stored, "uid"), status);
			cJSON_Delete(status);
		}
		cJSON_Delete(stored);
		cJSON_Delete(pvc);
	}
}

/* whenScaled: Delete -> the condemned pod owns its claims, so the GC
 * removes them after the pod. */
static void claims_follow_pod(struct sync *s, const cJSON *pod, long ord)
{
	const char *when = ks_ctl_str(ks_ctl_at(s->set, "spec",
		"persistentVolumeClaimRetentionPolicy", "whenScaled", NULL));
	if (!when || strcmp(when, "Delete"))
		return;
	const cJSON *vct;
	cJSON_ArrayForEach(vct, ks_ctl_at(s->set, "spec", "volumeClaimTemplates", NULL)) {
		char name[600];
		claim_name(name, sizeof(name), vct, s->name, ord);
		cJSON *patch = cJSON_CreateObject();
		cJSON *refs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "metadata"),
			"ownerReferences");
		cJSON *ref = cJSON_CreateObject();
		cJSON_AddStringToObject(ref, "apiVersion", "v1");
		cJSON_AddStringToObject(ref, "kind", "Pod");
		cJSON_AddStringToObject(ref, "name", ks_meta_string(pod, "name"));
		cJSON_AddStringToObject(ref, "uid", ks_meta_string(pod, "uid"));
		cJSON_AddItemToArray(refs, ref);
		ks_ctl_patch(s->store, s->c->pvcs, s->ns, name, NULL, patch, NULL);
		cJSON_Delete(patch);
	}
}

/* ---- pods ---- */

static void create_pod(struct sync *s, long ord)
{
	const cJSON *set = s->set;
	const char *type = ks_ctl_str(ks_ctl_at(set, "spec", "updateStrategy", "type", NULL));
	const cJSON *ru = ks_ctl_at(set, "spec", "updateStrategy", "rollingUpdate", NULL);
	long long start = ks_ctl_num(ks_ctl_at(set, "spec", "ordinals", "start", NULL), 0);
	bool use_current = false;
	if (type && !strcmp(type, "RollingUpdate")) {
		if (!ru)
			use_current = ord < start +
				ks_ctl_num(ks_ctl_at(set, "status", "currentReplicas", NULL), 0);
		else
			use_current = ord < start + ks_ctl_num(ks_ctl_at(ru, "partition", NULL), 0);
	}
	const cJSON *tmpl = use_current ? s->current_tmpl : s->update_tmpl;
	const char *revname = rev_name(use_current ? s->current_rev : s->update_rev);

	create_claims(s, ord);

	char name[400], ordbuf[24];
	snprintf(name, sizeof(name), "%s-%ld", s->name, ord);
	snprintf(ordbuf, sizeof(ordbuf), "%ld", ord);
	cJSON *pod = cJSON_CreateObject();
	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "namespace", s->ns);
	cJSON *labels = cJSON_Duplicate(ks_ctl_at(tmpl, "metadata", "labels", NULL), 1);
	if (!labels)
		labels = cJSON_CreateObject();
	ks_ctl_set_str(labels, LABEL_REVISION, revname);
	ks_ctl_set_str(labels, LABEL_POD_NAME, name);
	ks_ctl_set_str(labels, LABEL_POD_INDEX, ordbuf);
	cJSON_AddItemToObject(meta, "labels", labels);
	const char *copy[] = {"annotations", "finalizers"};
	for (int i = 0; i < 2; i++) {
		const cJSON *v = ks_ctl_at(tmpl, "metadata", copy[i], NULL);
		if (v)
			cJSON_AddItemToObject(meta, copy[i], cJSON_Duplicate(v, 1));
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"),
		ks_ctl_controller_ref_new(set, "apps/v1", "StatefulSet"));
	cJSON *spec = cJSON_Duplicate(ks_ctl_at(tmpl, "spec", NULL), 1);
	if (!spec)
		spec = cJSON_CreateObject();
	ks_ctl_set_str(spec, "hostname", name);
	const char *svc = ks_ctl_str(ks_ctl_at(set, "spec", "serviceName", NULL));
	if (svc && *svc)
		ks_ctl_set_str(spec, "subdomain", svc);
	const cJSON *vct;
	cJSON_ArrayForEach(vct, ks_ctl_at(set, "spec", "volumeClaimTemplates", NULL)) {
		const char *vname = ks_meta_string(vct, "name");
		if (!vname)
			continue;
		cJSON *vols = cJSON_GetObjectItemCaseSensitive(spec, "volumes");
		if (!cJSON_IsArray(vols)) {
			cJSON_DeleteItemFromObjectCaseSensitive(spec, "volumes");
			vols = cJSON_AddArrayToObject(spec, "volumes");
		}
		for (int i = cJSON_GetArraySize(vols) - 1; i >= 0; i--) {
			const char *n = ks_ctl_str(ks_ctl_at(cJSON_GetArrayItem(vols, i), "name", NULL));
			if (n && !strcmp(n, vname))
				cJSON_DeleteItemFromArray(vols, i);
		}
		char cname[600];
		claim_name(cname, sizeof(cname), vct, s->name, ord);
		cJSON *vol = cJSON_CreateObject();
		cJSON_AddStringToObject(vol, "name", vname);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(vol, "persistentVolumeClaim"),
			"claimName", cname);
		cJSON_AddItemToArray(vols, vol);
	}
	cJSON_AddItemToObject(pod, "spec", spec);
	ks_store_create(s->store, s->c->pods, s->ns, pod, NULL, NULL);
	cJSON_Delete(pod);
}

static void delete_pod(struct sync *s, const cJSON *pod)
{
	ks_ctl_delete(s->store, s->c->pods, s->ns, ks_meta_string(pod, "name"),
		ks_meta_string(pod, "uid"), KS_PROPAGATION_BACKGROUND, -1);
}

static void fix_identity(struct sync *s, const cJSON *pod, long ord)
{
	const char *name = ks_meta_string(pod, "name");
	char ordbuf[24];
	snprintf(ordbuf, sizeof(ordbuf), "%ld", ord);
	const char *pn = ks_ctl_label(pod, LABEL_POD_NAME);
	const char *pi = ks_ctl_label(pod, LABEL_POD_INDEX);
	if (pn && !strcmp(pn, name) && pi && !strcmp(pi, ordbuf))
		return;
	cJSON *patch = cJSON_CreateObject();
	cJSON *labels = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"),
		"labels");
	cJSON_AddStringToObject(labels, LABEL_POD_NAME, name);
	cJSON_AddStringToObject(labels, LABEL_POD_INDEX, ordbuf);
	ks_ctl_patch(s->store, s->c->pods, s->ns, name, ks_meta_string(pod, "uid"), patch, NULL);
	cJSON_Delete(patch);
}

/* ---- status ---- */

struct counts {
	long long replicas, ready, available, current, updated;
};

static void count_pods(struct sync *s, const cJSON *pods, struct counts *n)
{
	const cJSON *p;
	memset(n, 0, sizeof(*n));
	cJSON_ArrayForEach(p, pods) {
		if (ks_ctl_pod_phase(p)[0])
			n->replicas++;
		if (ks_ctl_pod_running_ready(p)) {
			n->ready++;
			if (ks_ctl_pod_available(p, s->min_ready, s->now, NULL))
				n->available++;
			note_available_deadline(s, p);
		}
		if (ks_ctl_pod_phase(p)[0] && !ks_ctl_terminating(p)) {
			const char *r = pod_revision(p);
			if (!strcmp(r, rev_name(s->current_rev)))
				n->current++;
			if (!strcmp(r, rev_name(s->update_rev)))
				n->updated++;
		}
	}
}

static void write_status(struct sync *s, struct counts *n)
{
	const char *cur = rev_name(s->current_rev);
	const char *upd = rev_name(s->update_rev);
	const char *type = ks_ctl_str(ks_ctl_at(s->set, "spec", "updateStrategy", "type", NULL));
	/* completeRollingUpdate */
	if (type && !strcmp(type, "RollingUpdate") && n->updated == n->replicas &&
	    n->ready == n->replicas) {
		n->current = n->updated;
		cur = upd;
	}
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(s->set, "status");
	cJSON *status = cJSON_CreateObject();
	cJSON_AddNumberToObject(status, "observedGeneration",
		(double)ks_ctl_num(ks_ctl_at(s->set, "metadata", "generation", NULL), 0));
	cJSON_AddNumberToObject(status, "replicas", (double)n->replicas);
	cJSON_AddNumberToObject(status, "readyReplicas", (double)n->ready);
	cJSON_AddNumberToObject(status, "currentReplicas", (double)n->current);
	cJSON_AddNumberToObject(status, "updatedReplicas", (double)n->updated);
	cJSON_AddNumberToObject(status, "availableReplicas", (double)n->available);
	cJSON_AddStringToObject(status, "currentRevision", cur);
	cJSON_AddStringToObject(status, "updateRevision", upd);
	cJSON_AddNumberToObject(status, "collisionCount", (double)s->collision);
	const cJSON *conds = cJSON_GetObjectItemCaseSensitive(old, "conditions");
	if (conds)
		cJSON_AddItemToObject(status, "conditions", cJSON_Duplicate(conds, 1));
	if (!keelson_json_equal(old, status))
		ks_ctl_put_status(s->store, s->c->sets, s->ns, s->name, s->uid, status);
	cJSON_Delete(status);
}

static void truncate_history(struct sync *s, const cJSON *pods)
{
	long long limit = ks_ctl_num(ks_ctl_at(s->set, "spec", "revisionHistoryLimit", NULL), 10);
	if (limit < 0)
		return;
	int n = cJSON_GetArraySize(s->revisions);
	const cJSON **history = calloc((size_t)n + 1, sizeof(*history));
	if (!history)
		return;
	int h = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, s->revisions) {
		const char *name = rev_name(r);
		bool live = !strcmp(name, rev_name(s->current_rev)) ||
			!strcmp(name, rev_name(s->update_rev));
		const cJSON *p;
		cJSON_ArrayForEach(p, pods)
			if (!strcmp(pod_revision(p), name))
				live = true;
		if (!live)
			history[h++] = r;
	}
	for (int i = 0; i < h - (int)limit; i++)
		ks_ctl_delete(s->store, s->c->revisions, s->ns, rev_name(history[i]),
			ks_meta_string(history[i], "uid"), KS_PROPAGATION_BACKGROUND, -1);
	free(history);
}

struct condemned {
	long ord;
	const cJSON *pod;
};

static int ordinal_desc(const void *a, const void *b)
{
	long x = ((const struct condemned *)a)->ord, y = ((const struct condemned *)b)->ord;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* updateStatefulSet: the replica, condemned and update passes. */
static void reconcile(struct sync *s, cJSON *pods)
{
	const cJSON *set = s->set;
	long long replicas = ks_ctl_num(ks_ctl_at(set, "spec", "replicas", NULL), 1);
	if (replicas < 0)
		replicas = 0;
	if (replicas > MAX_REPLICAS)
		replicas = MAX_REPLICAS;
	long long start = ks_ctl_num(ks_ctl_at(set, "spec", "ordinals", "start", NULL), 0);
	const char *policy = ks_ctl_str(ks_ctl_at(set, "spec", "podManagementPolicy", NULL));
	bool monotonic = !(policy && !strcmp(policy, "Parallel"));

	const cJSON **slot = calloc((size_t)replicas + 1, sizeof(*slot));
	int npods = cJSON_GetArraySize(pods);
	struct condemned *cd = calloc((size_t)npods + 1, sizeof(*cd));
	if (!slot || !cd)
		goto out;
	size_t ncondemned = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, pods) {
		long ord = parse_ordinal(ks_meta_string(p, "name"), s->name);
		if (ord < 0)
			continue;
		if (ord >= start && ord < start + replicas) {
			slot[ord - start] = p;
		} else {
			cd[ncondemned].ord = ord;
			cd[ncondemned++].pod = p;
		}
	}
	qsort(cd, ncondemned, sizeof(*cd), ordinal_desc);
	const cJSON *first_unhealthy = NULL;
	bool first_is_missing = false;
	for (long long i = 0; i < replicas && !first_unhealthy && !first_is_missing; i++) {
		if (!slot[i])
			first_is_missing = true;
		else if (is_unavailable(s, slot[i]))
			first_unhealthy = slot[i];
	}
	for (size_t i = ncondemned; i-- > 0 && !first_unhealthy && !first_is_missing;)
		if (is_unavailable(s, cd[i].pod))
			first_unhealthy = cd[i].pod;

	/* Replicas, in ordinal order. */
	for (long long i = 0; i < replicas; i++) {
		const cJSON *pod = slot[i];
		long ord = (long)(start + i);
		if (!pod) {
			create_pod(s, ord);
			if (monotonic)
				goto out;
			continue;
		}
		if (ks_ctl_pod_finished(pod)) {
			if (!ks_ctl_terminating(pod))
				delete_pod(s, pod);
			if (monotonic)
				goto out;
			continue;
		}
		if (!strcmp(ks_ctl_pod_phase(pod), "Pending"))
			create_claims(s, ord);
		if (monotonic && (ks_ctl_terminating(pod) || !ks_ctl_pod_running_ready(pod)))
			goto out;
		if (monotonic && !ks_ctl_pod_available(pod, s->min_ready, s->now, NULL))
			goto out;
		fix_identity(s, pod, ord);
	}

	/* Condemned, highest ordinal first. */
	for (size_t i = 0; i < ncondemned; i++) {
		const cJSON *pod = cd[i].pod;
		if (ks_ctl_terminating(pod)) {
			if (monotonic)
				goto out;
			continue;
		}
		if (monotonic && pod != first_unhealthy && is_unavailable(s, pod))
			goto out;
		claims_follow_pod(s, pod, cd[i].ord);
		delete_pod(s, pod);
		if (monotonic)
			goto out;
	}

	const char *type = ks_ctl_str(ks_ctl_at(set, "spec", "updateStrategy", "type", NULL));
	if (!type || strcmp(type, "RollingUpdate"))
		goto out; /* OnDelete: pods change only when deleted by someone */
	long long update_min = ks_ctl_num(ks_ctl_at(set, "spec", "updateStrategy",
		"rollingUpdate", "partition", NULL), 0);
	if (update_min < 0)
		update_min = 0;
	for (long long t = replicas - 1; t >= update_min; t--) {
		const cJSON *pod = slot[t];
		if (!pod)
			goto out;
		if (strcmp(pod_revision(pod), rev_name(s->update_rev)) && !ks_ctl_terminating(pod)) {
			delete_pod(s, pod);
			goto out;
		}
		if (is_unavailable(s, pod))
			goto out;
	}
out:
	free(slot);
	free(cd);
}

static void sync_set(struct stsctl *c, struct ks_store *store, const char *ns, const char *name)
{
	cJSON *set = NULL;
	if (ks_store_get(store, c->sets, ns, name, &set))
		return;
	struct sync s = {
		.c = c,
		.store = store,
		.set = set,
		.ns = ns,
		.name = name,
		.uid = ks_meta_string(set, "uid"),
		.min_ready = ks_ctl_num(ks_ctl_at(set, "spec", "minReadySeconds", NULL), 0),
		.now = ks_clock_now(),
	};
	const cJSON *selector = ks_ctl_at(set, "spec", "selector", NULL);
	struct pod_filter f = {s.uid, name, selector};
	cJSON *pods = ks_ctl_list(store, c->pods, ns, pod_filter_fn, &f);
	bool deleting = ks_ctl_terminating(set);
	cJSON *ref = ks_ctl_controller_ref_new(set, "apps/v1", "StatefulSet");
	for (int i = cJSON_GetArraySize(pods) - 1; i >= 0; i--) {
		cJSON *pod = cJSON_GetArrayItem(pods, i);
		if (ks_ctl_controller_ref(pod))
			continue;
		/* Adopt orphans (e.g. left by `delete --cascade=orphan`). */
		struct add_ref a = {ref};
		cJSON *adopted = NULL;
		struct ks_write_options o = {.version = KS_WRITE_OPTIONS_VERSION};
		if (deleting || ks_store_modify(store, c->pods, ns, ks_meta_string(pod, "name"),
				adopt_fn, &a, &o, &adopted))
			cJSON_DeleteItemFromArray(pods, i);
		else
			cJSON_ReplaceItemInArray(pods, i, adopted);
	}
	cJSON_Delete(ref);

	if (resolve_revisions(&s) == 0) {
		struct counts n;
		if (!deleting)
			reconcile(&s, pods);
		count_pods(&s, pods, &n);
		write_status(&s, &n);
		truncate_history(&s, pods);
	}
	if (s.next_deadline > 0) {
		char key[600];
		ks_ctl_key(key, sizeof(key), ns, name);
		double *d = malloc(sizeof(*d));
		if (d) {
			*d = s.next_deadline;
			if (ks_ctl_map_put(c->deadlines, key, d))
				free(d);
		}
	}
	cJSON_Delete(s.update_tmpl);
	cJSON_Delete(s.current_tmpl);
	cJSON_Delete(s.revisions);
	cJSON_Delete(s.created_rev);
	cJSON_Delete(pods);
	cJSON_Delete(set);
}

static void sync_key(struct stsctl *c, struct ks_store *store, const char *key)
{
	const char *slash = strchr(key, '/');
	if (!slash)
		return;
	char ns[300];
	size_t len = (size_t)(slash - key);
	if (len >= sizeof(ns))
		return;
	memcpy(ns, key, len);
	ns[len] = '\0';
	sync_set(c, store, ns, slash + 1);
}

static void sts_tick(struct ks_store *store, void *payload)
{
	struct stsctl *c = payload;
	size_t n;
	if (++c->ticks % RESYNC_TICKS == 0) {
		cJSON *sets = ks_ctl_list(store, c->sets, NULL, NULL, NULL);
		const cJSON *set;
		cJSON_ArrayForEach(set, sets)
			mark_dirty(c, ks_meta_string(set, "namespace"), ks_meta_string(set, "name"));
		cJSON_Delete(sets);
	}
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
	if (ks_ctl_map_count(c->dirty) == 0)
		return;
	char **keys = ks_ctl_map_keys(c->dirty, &n);
	for (size_t i = 0; i < n; i++) {
		ks_ctl_map_remove(c->dirty, keys[i]);
		sync_key(c, store, keys[i]);
	}
	ks_ctl_keys_free(keys, n);
	ks_ctl_release_status();
}

static void sts_stop(void *payload)
{
	struct stsctl *c = payload;
	ks_ctl_map_free(c->dirty);
	ks_ctl_map_free(c->deadlines);
	free(c);
}

int ks_ctl_statefulset_start(struct ks_store *store, struct ks_controller **out)
{
	struct stsctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the statefulset controller");
	c->sets = ks_store_type_find(store, "apps", "statefulsets");
	c->pods = ks_store_type_find(store, "", "pods");
	c->revisions = ks_store_type_find(store, "apps", "controllerrevisions");
	c->pvcs = ks_store_type_find(store, "", "persistentvolumeclaims");
	c->dirty = ks_ctl_map_new(NULL);
	c->deadlines = ks_ctl_map_new(free);
	if (!c->sets || !c->pods || !c->revisions || !c->pvcs || !c->dirty || !c->deadlines) {
		sts_stop(c);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the statefulset controller: the store lacks statefulsets, pods, controllerrevisions or persistentvolumeclaims");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "statefulset",
		.resources = sts_resources,
		.on_event = sts_event,
		.tick_ms = 10,
		.on_tick = sts_tick,
		.on_stop = sts_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		sts_stop(c);
	return rc;
}
