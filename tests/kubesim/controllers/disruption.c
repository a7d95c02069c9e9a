/*
 * Disruption controller: PodDisruptionBudget status (policy/v1), after
 * upstream's disruption.go. For each PDB, the pods of its namespace that
 * match spec.selector give currentHealthy (Ready and not being deleted);
 * expectedPods comes from the scale of the pods' controllers (StatefulSet,
 * ReplicaSet or the Deployment owning it) when maxUnavailable or a
 * percentage minAvailable needs it, else from the pod count; desiredHealthy
 * from minAvailable / maxUnavailable; disruptionsAllowed = currentHealthy -
 * desiredHealthy (never negative). Pods without a known controller count
 * once each (upstream refuses such PDBs). Not simulated: disruptedPods
 * bookkeeping of the eviction API, unhealthyPodEvictionPolicy.
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

struct pdbctl {
	const struct ks_resource_type *pdbs, *pods, *sets, *replicasets, *deployments;
	struct ks_ctl_map *dirty; /* namespace -> mark: re-sync its budgets */
};

static const char *const pdb_resources[] = {"policy/poddisruptionbudgets", "/pods", NULL};

static void pdb_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct pdbctl *c = payload;
	const char *ns = ks_meta_string(ev->object, "namespace");
	if (ns)
		ks_ctl_map_put(c->dirty, ns, (void *)1);
}

/* int-or-percent against `total`, rounding up (upstream uses roundUp for
 * both fields). -1 when unparsable. */
static long long scaled(const cJSON *v, long long total)
{
	if (cJSON_IsNumber(v))
		return (long long)v->valuedouble;
	const char *s = ks_ctl_str(v);
	if (!s)
		return -1;
	char *end;
	double pct = strtod(s, &end);
	if (end == s || strcmp(end, "%"))
		return -1;
	return (long long)ceil(pct * (double)total / 100.0);
}

static long long replicas_of(struct ks_store *store, const struct ks_resource_type *t,
	const char *ns, const char *name, cJSON **out)
{
	cJSON *obj = NULL;
	if (!t || !name || ks_store_get(store, t, ns, name, &obj))
		return -1;
	long long r = ks_ctl_num(ks_ctl_at(obj, "spec", "replicas", NULL), 1);
	if (out)
		*out = obj;
	else
		cJSON_Delete(obj);
	return r;
}

/* The scale of the pod's controller and a key naming it, or -1. */
static long long controller_scale(struct pdbctl *c, struct ks_store *store, const cJSON *pod,
	char *key, size_t size)
{
	const char *ns = ks_meta_string(pod, "namespace");
	const cJSON *ref = ks_ctl_controller_ref(pod);
	const char *kind = ks_ctl_str(ks_ctl_at(ref, "kind", NULL));
	const char *name = ks_ctl_str(ks_ctl_at(ref, "name", NULL));
	if (!kind || !name)
		return -1;
	if (!strcmp(kind, "StatefulSet")) {
		snprintf(key, size, "sts/%.200s", name);
		return replicas_of(store, c->sets, ns, name, NULL);
	}
	if (!strcmp(kind, "ReplicaSet")) {
		cJSON *rs = NULL;
		long long r = replicas_of(store, c->replicasets, ns, name, &rs);
		const cJSON *dref = ks_ctl_controller_ref(rs);
		const char *dkind = ks_ctl_str(ks_ctl_at(dref, "kind", NULL));
		const char *dname = ks_ctl_str(ks_ctl_at(dref, "name", NULL));
		if (dkind && dname && !strcmp(dkind, "Deployment")) {
			snprintf(key, size, "deploy/%.200s", dname);
			r = replicas_of(store, c->deployments, ns, dname, NULL);
		} else {
			snprintf(key, size, "rs/%.200s", name);
		}
		cJSON_Delete(rs);
		return r;
	}
	return -1;
}

static void sync_pdb(struct pdbctl *c, struct ks_store *store, const cJSON *pdb,
	const cJSON *pods)
{
	const char *ns = ks_meta_string(pdb, "namespace");
	const cJSON *selector = ks_ctl_at(pdb, "spec", "selector", NULL);
	const cJSON *min_av = ks_ctl_at(pdb, "spec", "minAvailable", NULL);
	const cJSON *max_un = ks_ctl_at(pdb, "spec", "maxUnavailable", NULL);
	long long healthy = 0, npods = 0, expected = 0;
	struct ks_ctl_map *seen = ks_ctl_map_new(NULL);
	const cJSON *p;
	cJSON_ArrayForEach(p, pods) {
		if (!ks_ctl_selector_matches(selector, ks_ctl_at(p, "metadata", "labels", NULL)))
			continue;
		npods++;
		if (ks_ctl_pod_ready(p) && !ks_ctl_terminating(p))
			healthy++;
		char key[300];
		long long scale = seen ? controller_scale(c, store, p, key, sizeof(key)) : -1;
		if (scale < 0)
			expected++;
		else if (!ks_ctl_map_get(seen, key) && ks_ctl_map_put(seen, key, (void *)1) == 0)
			expected += scale;
	}
	ks_ctl_map_free(seen);
	long long desired;
	if (max_un) {
		long long mu = scaled(max_un, expected);
		desired = mu < 0 ? expected : expected - mu;
	} else if (cJSON_IsNumber(min_av)) {
		expected = npods;
		desired = (long long)min_av->valuedouble;
	} else if (min_av) {
		long long ma = scaled(min_av, expected);
		desired = ma < 0 ? expected : ma;
	} else {
		expected = npods;
		desired = 0; /* no constraint given: upstream treats it as minAvailable 0 */
	}
	if (desired < 0)
		desired = 0;
	long long allowed = expected > 0 && healthy > desired ? healthy - desired : 0;

	const cJSON *old = cJSON_GetObjectItemCaseSensitive(pdb, "status");
	cJSON *status = cJSON_IsObject(old) ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
	ks_ctl_set_num(status, "observedGeneration",
		(double)ks_ctl_num(ks_ctl_at(pdb, "metadata", "generation", NULL), 0));
	if (!cJSON_GetObjectItemCaseSensitive(status, "disruptedPods"))
		ks_ctl_set(status, "disruptedPods", cJSON_CreateObject());
	ks_ctl_set_num(status, "disruptionsAllowed", (double)allowed);
	ks_ctl_set_num(status, "currentHealthy", (double)healthy);
	ks_ctl_set_num(status, "desiredHealthy", (double)desired);
	ks_ctl_set_num(status, "expectedPods", (double)expected);
	ks_ctl_set_condition(status, "DisruptionAllowed", allowed > 0 ? "True" : "False",
		allowed > 0 ? "SufficientPods" : "InsufficientPods", "", ks_clock_now(), false,
		false);
	if (!keelson_json_equal(old, status))
		ks_ctl_put_status(store, c->pdbs, ns, ks_meta_string(pdb, "name"),
			ks_meta_string(pdb, "uid"), status);
	cJSON_Delete(status);
}

static void pdb_tick(struct ks_store *store, void *payload)
{
	struct pdbctl *c = payload;
	if (!ks_ctl_map_count(c->dirty))
		return;
	size_t n;
	char **namespaces = ks_ctl_map_keys(c->dirty, &n);
	for (size_t i = 0; i < n; i++) {
		ks_ctl_map_remove(c->dirty, namespaces[i]);
		cJSON *pdbs = ks_ctl_list(store, c->pdbs, namespaces[i], NULL, NULL);
		if (cJSON_GetArraySize(pdbs) > 0) {
			cJSON *pods = ks_ctl_list(store, c->pods, namespaces[i], NULL, NULL);
			const cJSON *pdb;
			cJSON_ArrayForEach(pdb, pdbs)
				sync_pdb(c, store, pdb, pods);
			cJSON_Delete(pods);
		}
		cJSON_Delete(pdbs);
	}
	ks_ctl_keys_free(namespaces, n);
	ks_ctl_release_status();
}

static void pdb_stop(void *payload)
{
	struct pdbctl *c = payload;
	ks_ctl_map_free(c->dirty);
	free(c);
}

int ks_ctl_disruption_start(struct ks_store *store, struct ks_controller **out)
{
	struct pdbctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the disruption controller");
	c->pdbs = ks_store_type_find(store, "policy", "poddisruptionbudgets");
	c->pods = ks_store_type_find(store, "", "pods");
	c->sets = ks_store_type_find(store, "apps", "statefulsets");
	c->replicasets = ks_store_type_find(store, "apps", "replicasets");
	c->deployments = ks_store_type_find(store, "apps", "deployments");
	c->dirty = ks_ctl_map_new(NULL);
	if (!c->pdbs || !c->pods || !c->dirty) {
		pdb_stop(c);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the disruption controller: the store lacks poddisruptionbudgets or pods");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "disruption",
		.resources = pdb_resources,
		.on_event = pdb_event,
		.tick_ms = 20,
		.on_tick = pdb_tick,
		.on_stop = pdb_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		pdb_stop(c);
	return rc;
}
