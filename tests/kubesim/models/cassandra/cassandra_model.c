/*
 * The Cassandra model: ring state, the node state machine driven by pod
 * events and the simulated clock, and the invariant checks. The Management
 * API and nodetool front ends are in cassandra_api.c.
 *
 * Locking: one model mutex guards every ring and node. Store calls (reads
 * of StatefulSets and ConfigMaps, readiness annotations, the pod deletion
 * that ends a drained pod's grace period) happen on the controller thread,
 * store writes only after the mutex is released, so a store lock is never
 * taken inside the model lock for writing and the HTTP handlers never wait
 * for the store.
 */
#include "config.h"

#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/models/cassandra/cassandra_internal.h"

/* ---- small JSON helpers ---- */

const cJSON *kc_at(const cJSON *node, ...)
{
	va_list ap;
	va_start(ap, node);
	const char *key;
	while (node && (key = va_arg(ap, const char *)) != NULL)
		node = cJSON_GetObjectItemCaseSensitive(node, key);
	va_end(ap);
	return node;
}

static const char *str_of(const cJSON *v)
{
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *label(const cJSON *obj, const char *key)
{
	return str_of(kc_at(obj, "metadata", "labels", key, NULL));
}

static const char *annotation(const cJSON *obj, const char *key)
{
	return str_of(kc_at(obj, "metadata", "annotations", key, NULL));
}

/* ---- rings and nodes ---- */

struct kc_ring *kc_ring_find(struct ks_cassandra_model *m, const char *ns, const char *name)
{
	for (int i = 0; i < m->nrings; i++)
		if (!strcmp(m->rings[i]->ns, ns) && !strcmp(m->rings[i]->name, name))
			return m->rings[i];
	return NULL;
}

struct kc_node *kc_node_find(struct ks_cassandra_model *m, const char *ns, const char *pod)
{
	for (int i = 0; i < m->nnodes; i++)
		if (!strcmp(m->nodes[i]->ns, ns) && !strcmp(m->nodes[i]->pod, pod))
			return m->nodes[i];
	return NULL;
}

/* "ks:rf" or "ks:dc=rf/dc=rf", comma separated. Bad entries are skipped
 * with a pod log line rather than failing the pod. */
static void parse_keyspaces(struct kc_ring *r, const char *spec)
{
	if (!spec || !strcmp(spec, r->keyspace_spec))
		return;
	snprintf(r->keyspace_spec, sizeof(r->keyspace_spec), "%s", spec);
	r->nkeyspaces = 0;
	char buf[sizeof(r->keyspace_spec)];
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok && r->nkeyspaces < KC_MAX_KEYSPACES;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *colon = strchr(tok, ':');
		if (!colon || colon == tok || (size_t)(colon - tok) >= KC_SHORT)
			continue;
		struct kc_keyspace *k = &r->keyspaces[r->nkeyspaces];
		memset(k, 0, sizeof(*k));
		memcpy(k->name, tok, (size_t)(colon - tok));
		char *rest = colon + 1;
		if (!strchr(rest, '=')) {
			char *end;
			long rf = strtol(rest, &end, 10);
			if (*end || rf < 1 || rf > 16)
				continue;
			k->rf_all = (int)rf;
		} else {
			char *save2 = NULL;
			for (char *p = strtok_r(rest, "/", &save2); p && k->ndcs < KC_MAX_DCS;
			     p = strtok_r(NULL, "/", &save2)) {
				char *eq = strchr(p, '=');
				if (!eq || eq == p || (size_t)(eq - p) >= KC_SHORT)
					continue;
				char *end;
				long rf = strtol(eq + 1, &end, 10);
				if (*end || rf < 0 || rf > 16)
					continue;
				memcpy(k->dc[k->ndcs], p, (size_t)(eq - p));
				k->dc[k->ndcs][eq - p] = '\0';
				k->rf_dc[k->ndcs++] = (int)rf;
			}
			if (k->ndcs == 0)
				continue;
		}
		r->nkeyspaces++;
	}
}

int kc_keyspace_rf(const struct kc_keyspace *k, const char *dc)
{
	if (k->rf_all)
		return k->rf_all;
	for (int i = 0; i < k->ndcs; i++)
		if (!strcmp(k->dc[i], dc))
			return k->rf_dc[i];
	return 0;
}

static struct kc_ring *ring_get(struct ks_cassandra_model *m, const char *ns, const char *name)
{
	struct kc_ring *r = kc_ring_find(m, ns, name);
	if (r)
		return r;
	struct kc_ring **arr = realloc(m->rings, (size_t)(m->nrings + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	m->rings = arr;
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	snprintf(r->ns, sizeof(r->ns), "%s", ns);
	snprintf(r->name, sizeof(r->name), "%s", name);
	ks_uuid(r->schema);
	parse_keyspaces(r, KC_DEFAULT_KEYSPACES);
	m->rings[m->nrings++] = r;
	return r;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* A fresh identity, as a node bootstrapping with empty data gets. */
static void node_new_identity(struct kc_node *n)
{
	ks_uuid(n->host_id);
	n->token = (int64_t)fnv1a(n->host_id);
}

static struct kc_node *node_get(struct ks_cassandra_model *m, const char *ns, const char *pod)
{
	struct kc_node *n = kc_node_find(m, ns, pod);
	if (n)
		return n;
	struct kc_node **arr = realloc(m->nodes, (size_t)(m->nnodes + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	m->nodes = arr;
	if (!(n = calloc(1, sizeof(*n))))
		return NULL;
	snprintf(n->ns, sizeof(n->ns), "%s", ns);
	snprintf(n->pod, sizeof(n->pod), "%s", pod);
	n->ordinal = -1;
	n->ready_written = -1;
	node_new_identity(n);
	m->nodes[m->nnodes++] = n;
	return n;
}

static void node_drop(struct ks_cassandra_model *m, struct kc_node *n)
{
	for (int i = 0; i < m->nnodes; i++)
		if (m->nodes[i] == n) {
			m->nodes[i] = m->nodes[--m->nnodes];
			break;
		}
	free(n);
}

const char *kc_state_name(enum kc_state s)
{
	switch (s) {
	case KC_UJ: return "UJ";
	case KC_UN: return "UN";
	case KC_UL: return "UL";
	case KC_DN: return "DN";
	case KC_LEFT: return "LEFT";
	default: return "";
	}
}

/* Up in gossip: the process runs and listens (a drained node does not). */
bool kc_node_alive(const struct kc_node *n)
{
	return n->process_up && !n->drained && (n->state == KC_UN || n->state == KC_UJ ||
		n->state == KC_UL);
}

/* Owns token ranges: bootstrapped and not gone. */
bool kc_node_member(const struct kc_node *n)
{
	return n->bootstrapped && n->state != KC_LEFT && n->state != KC_NONE &&
		n->state != KC_UJ;
}

static bool node_down(const struct kc_node *n)
{
	return kc_node_member(n) && !kc_node_alive(n);
}

static void violation(const struct kc_node *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void violation(const struct kc_node *n, const char *fmt, ...)
{
	char msg[768], obj[2 * KC_NAME + 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(obj, sizeof(obj), "%s/%s", n->ns, n->pod);
	ks_violation_record("cassandra", obj, "%s", msg);
	char line[900];
	snprintf(line, sizeof(line), "kubesim cassandra model: VIOLATION: %s", msg);
	ks_pod_log_append(n->ns, n->pod, "cassandra", line);
}

static void node_log(const struct kc_node *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void node_log(const struct kc_node *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ks_pod_log_append(n->ns, n->pod, "cassandra", msg);
}

/* Invariant 1: at most one node of a datacenter down. Recorded once per
 * episode (until the datacenter has fewer than two down again). */
void kc_check_two_down(struct ks_cassandra_model *m, struct kc_node *trigger)
{
	struct kc_ring *r = kc_ring_find(m, trigger->ns, trigger->ring);
	if (!r)
		return;
	int slot = -1;
	for (int i = 0; i < r->ndcflags; i++)
		if (!strcmp(r->dcflags[i].dc, trigger->dc))
			slot = i;
	if (slot < 0 && r->ndcflags < KC_MAX_DCS) {
		slot = r->ndcflags++;
		snprintf(r->dcflags[slot].dc, sizeof(r->dcflags[slot].dc), "%s", trigger->dc);
		r->dcflags[slot].two_down = false;
	}
	if (slot < 0)
		return;
	char names[512] = "";
	int down = 0;
	bool teardown = false;
	for (int i = 0; i < m->nnodes; i++) {
		struct kc_node *n = m->nodes[i];
		if (strcmp(n->ns, trigger->ns) || strcmp(n->ring, trigger->ring) ||
		    strcmp(n->dc, trigger->dc) || !node_down(n))
			continue;
		teardown |= n->teardown;
		size_t len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s%s", down ? ", " : "", n->pod);
		down++;
	}
	if (down < 2) {
		r->dcflags[slot].two_down = false;
		return;
	}
	if (r->dcflags[slot].two_down || teardown)
		return;
	r->dcflags[slot].two_down = true;
	violation(trigger, "%d nodes of datacenter %s down at once (%s): at most one node "
		"of a datacenter may be down", down, trigger->dc, names);
}

static bool seedless_ring(struct ks_cassandra_model *m, const struct kc_node *self)
{
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *n = m->nodes[i];
		if (n != self && !strcmp(n->ns, self->ns) && !strcmp(n->ring, self->ring) &&
		    n->bootstrapped && n->state != KC_LEFT)
			return false;
	}
	return true;
}

/* The Cassandra process starts (pod Running, or lifecycle/start). */
void kc_process_start(struct ks_cassandra_model *m, struct kc_node *n, double now)
{
	if (n->process_up)
		return;
	n->process_up = true;
	n->drained = false;
	n->draining = false;
	n->stopped_by_api = false;
	if (n->bootstrapped && n->state != KC_LEFT) {
		/* Restart with its data: down until the process has started. */
		n->state = KC_DN;
		n->start_end = now + n->knobs.start_s;
		node_log(n, "Cassandra starting (existing node, host ID %s)", n->host_id);
		return;
	}
	if (n->state == KC_LEFT) {
		node_new_identity(n); /* a decommissioned node rejoins with empty data */
		n->bootstrapped = false;
	}
	if (n->seed || seedless_ring(m, n)) {
		/* Seeds (and the first node of a new ring) do not bootstrap. */
		n->state = KC_DN;
		n->bootstrapped = true;
		n->start_end = now + n->knobs.start_s;
		node_log(n, "Cassandra starting as a seed (host ID %s)", n->host_id);
		return;
	}
	n->state = KC_UJ;
	n->join_end = now + n->knobs.join_s;
	node_log(n, "Cassandra bootstrapping: joining the ring (UJ) for %.0f s", n->knobs.join_s);
	for (int i = 0; i < m->nnodes; i++) {
		struct kc_node *o = m->nodes[i];
		if (o != n && !strcmp(o->ns, n->ns) && !strcmp(o->ring, n->ring) &&
		    o->state == KC_UJ && o->process_up) {
			violation(n, "%s started joining the ring while %s is still joining: "
				"nodes must bootstrap one at a time", n->pod, o->pod);
			break;
		}
	}
}

/* The Cassandra process ends (pod gone, SIGTERM, lifecycle/stop). */
void kc_process_stop(struct ks_cassandra_model *m, struct kc_node *n, const char *why)
{
	if (!n->process_up)
		return;
	n->process_up = false;
	n->draining = false;
	enum kc_state was = n->state;
	if (was == KC_LEFT) {
		node_log(n, "Cassandra stopped (%s) after decommission", why);
		return;
	}
	if (was == KC_UJ) {
		/* Not an owner yet: the aborted join leaves nothing behind. */
		n->state = KC_NONE;
		node_log(n, "Cassandra stopped (%s) while joining; bootstrap aborted", why);
		return;
	}
	bool drained = n->drained;
	if (was == KC_UL) {
		if (!n->teardown)
			violation(n, "%s stopped (%s) while decommissioning (UL): the ranges it was "
				"streaming are left under-replicated", n->pod, why);
		/* The decommission fails; the node stays a member, down. */
		kc_job_fail_for(m, n, "Cassandra stopped during decommission");
	} else if (!drained && was == KC_UN && !n->teardown) {
		violation(n, "%s stopped (%s) without drain: run nodetool drain (or POST "
			"/api/v0/ops/node/drain) before stopping a node", n->pod, why);
	}
	n->state = KC_DN;
	node_log(n, "Cassandra stopped (%s)%s", why, drained ? " after drain" : "");
	kc_check_two_down(m, n);
}

/* Start a drain (preStop or API); done at drain_end. */
void kc_drain_begin(struct kc_node *n, double now)
{
	if (n->drained || n->draining || !n->process_up)
		return;
	n->draining = true;
	n->drain_end = now + n->knobs.drain_s;
	node_log(n, "DRAINING: flushing memtables, stopping client and gossip traffic");
}

/* ---- pod parsing ---- */

static bool is_cassandra_pod(const cJSON *pod)
{
	const char *v = label(pod, "kubesim.keelson.dev/model");
	if (v)
		return !strcmp(v, "cassandra");
	if (label(pod, "cassandra.datastax.com/cluster"))
		return true;
	v = label(pod, "app");
	if (v && !strcmp(v, "cassandra"))
		return true;
	v = label(pod, "app.kubernetes.io/name");
	return v && !strcmp(v, "cassandra");
}

static const cJSON *main_container(const cJSON *pod)
{
	const cJSON *cs = kc_at(pod, "spec", "containers", NULL), *c;
	cJSON_ArrayForEach(c, cs) {
		const char *name = str_of(cJSON_GetObjectItemCaseSensitive(c, "name"));
		if (name && !strcmp(name, "cassandra"))
			return c;
	}
	return cJSON_GetArrayItem(cs, 0);
}

/* An environment value of the Cassandra container: env value, else the
 * key of an envFrom ConfigMap (the docker image's CASSANDRA_DC and
 * friends). */
static bool pod_env(struct ks_cassandra_model *m, const cJSON *pod, const char *key,
	char *buf, size_t size)
{
	const cJSON *c = main_container(pod), *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "env")) {
		const char *name = str_of(cJSON_GetObjectItemCaseSensitive(e, "name"));
		const char *val = str_of(cJSON_GetObjectItemCaseSensitive(e, "value"));
		if (name && val && !strcmp(name, key)) {
			snprintf(buf, size, "%s", val);
			return true;
		}
	}
	const char *ns = str_of(kc_at(pod, "metadata", "namespace", NULL));
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "envFrom")) {
		const char *cm = str_of(kc_at(e, "configMapRef", "name", NULL));
		if (!cm || !ns || !m->configmaps)
			continue;
		cJSON *obj = NULL;
		if (ks_store_get(m->store, m->configmaps, ns, cm, &obj))
			continue;
		const char *val = str_of(kc_at(obj, "data", key, NULL));
		if (val)
			snprintf(buf, size, "%s", val);
		cJSON_Delete(obj);
		if (val)
			return true;
	}
	return false;
}

static bool has_prestop_drain(const cJSON *pod)
{
	const cJSON *c = main_container(pod);
	const cJSON *pre = kc_at(c, "lifecycle", "preStop", NULL);
	if (!pre)
		return false;
	const cJSON *a;
	cJSON_ArrayForEach(a, kc_at(pre, "exec", "command", NULL)) {
		const char *s = str_of(a);
		if (s && (strstr(s, "nodetool drain") || strstr(s, "ops/node/drain") ||
			  !strcmp(s, "drain")))
			return true;
	}
	const char *path = str_of(kc_at(pre, "httpGet", "path", NULL));
	return path && strstr(path, "ops/node/drain");
}

static int mgmt_port(const cJSON *pod)
{
	const char *v = annotation(pod, KC_ANN_MGMT_PORT);
	if (v) {
		long p = strtol(v, NULL, 10);
		return p > 0 && p < 65536 ? (int)p : 0;
	}
	const cJSON *c, *p;
	cJSON_ArrayForEach(c, kc_at(pod, "spec", "containers", NULL)) {
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports")) {
			const char *name = str_of(cJSON_GetObjectItemCaseSensitive(p, "name"));
			const cJSON *num = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
			if (!cJSON_IsNumber(num))
				continue;
			if ((name && !strcmp(name, "mgmt-api-http")) || num->valueint == KC_MGMT_PORT)
				return num->valueint;
		}
	}
	return 0;
}

static const char *owner_sts(const cJSON *pod, const char **uid)
{
	const cJSON *ref;
	cJSON_ArrayForEach(ref, kc_at(pod, "metadata", "ownerReferences", NULL)) {
		const char *kind = str_of(cJSON_GetObjectItemCaseSensitive(ref, "kind"));
		if (kind && !strcmp(kind, "StatefulSet")) {
			*uid = str_of(cJSON_GetObjectItemCaseSensitive(ref, "uid"));
			return str_of(cJSON_GetObjectItemCaseSensitive(ref, "name"));
		}
	}
	*uid = NULL;
	return NULL;
}

/* A knob: the pod's annotation, else its StatefulSet's, else NULL. */
static const char *knob(const cJSON *pod, const cJSON *sts, const char *key)
{
	const char *v = annotation(pod, key);
	return v ? v : annotation(sts, key);
}

static double knob_seconds(const cJSON *pod, const cJSON *sts, const char *key, double dflt)
{
	const char *v = knob(pod, sts, key);
	if (!v)
		return dflt;
	char *end;
	double d = strtod(v, &end);
	if (end == v || *end || d < 0 || d > 86400.0 * 30)
		return dflt;
	return d;
}

static bool knob_bool(const cJSON *pod, const cJSON *sts, const char *key, bool dflt)
{
	const char *v = knob(pod, sts, key);
	if (!v)
		return dflt;
	return !strcmp(v, "true");
}

static bool name_in_seeds(const char *seeds, const char *pod)
{
	size_t len = strlen(pod);
	const char *p = seeds;
	while (*p) {
		while (*p == ',' || *p == ' ')
			p++;
		if (!strncmp(p, pod, len) && (p[len] == '.' || p[len] == ',' || p[len] == '\0' ||
					      p[len] == ':'))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Everything the model needs from a new incarnation of the pod (a new
 * uid): identity in the ring, knobs, hooks. */
static void read_pod_config(struct ks_cassandra_model *m, struct kc_node *n, const cJSON *pod)
{
	cJSON *sts = NULL;
	const char *owner_uid;
	const char *owner = owner_sts(pod, &owner_uid);
	if (owner_uid && n->sts_uid[0] && strcmp(n->sts_uid, owner_uid)) {
		/* A new StatefulSet under an old name (recreated, or kubesim was
		 * reset): new volumes, so a new node. */
		n->bootstrapped = false;
		n->state = KC_NONE;
		n->drained = n->draining = false;
		node_new_identity(n);
	}
	snprintf(n->sts_uid, sizeof(n->sts_uid), "%s", owner_uid ? owner_uid : "");
	snprintf(n->sts, sizeof(n->sts), "%s", owner ? owner : "");
	if (owner && m->statefulsets)
		ks_store_get(m->store, m->statefulsets, n->ns, owner, &sts);
	const char *dash = strrchr(n->pod, '-');
	n->ordinal = owner && dash ? atoi(dash + 1) : -1;

	char buf[KC_NAME];
	const char *v = label(pod, "cassandra.datastax.com/cluster");
	if (!v && pod_env(m, pod, "CASSANDRA_CLUSTER_NAME", buf, sizeof(buf)))
		v = buf;
	snprintf(n->ring, sizeof(n->ring), "%s", v ? v : "cassandra");
	v = label(pod, "cassandra.datastax.com/datacenter");
	if (!v && pod_env(m, pod, "CASSANDRA_DC", buf, sizeof(buf)))
		v = buf;
	snprintf(n->dc, sizeof(n->dc), "%.63s", v && *v ? v : "dc1");
	v = label(pod, "cassandra.datastax.com/rack");
	if (!v && pod_env(m, pod, "CASSANDRA_RACK", buf, sizeof(buf)))
		v = buf;
	snprintf(n->rack, sizeof(n->rack), "%.63s", v && *v ? v : "rack1");

	v = label(pod, "cassandra.datastax.com/seed-node");
	char seeds[1024];
	n->seed = (v && !strcmp(v, "true")) ||
		(pod_env(m, pod, "CASSANDRA_SEEDS", seeds, sizeof(seeds)) &&
		 name_in_seeds(seeds, n->pod));

	n->knobs.join_s = knob_seconds(pod, sts, KC_ANN_JOIN, KC_DEFAULT_JOIN_S);
	n->knobs.drain_s = knob_seconds(pod, sts, KC_ANN_DRAIN, KC_DEFAULT_DRAIN_S);
	n->knobs.decommission_s = knob_seconds(pod, sts, KC_ANN_DECOMMISSION,
		KC_DEFAULT_DECOMMISSION_S);
	n->knobs.start_s = knob_seconds(pod, sts, KC_ANN_START, KC_DEFAULT_START_S);
	n->knobs.autostart = knob_bool(pod, sts, KC_ANN_AUTOSTART, true);
	n->knobs.exit_after_drain = knob_bool(pod, sts, KC_ANN_EXIT_AFTER_DRAIN, true);
	v = knob(pod, sts, KC_ANN_READINESS);
	n->knobs.ring_readiness = !v || strcmp(v, "kubelet");
	n->prestop_drain = has_prestop_drain(pod);
	n->mgmt_port = mgmt_port(pod);
	n->grace_s = (double)cJSON_GetNumberValue(kc_at(pod, "spec",
		"terminationGracePeriodSeconds", NULL));

	struct kc_ring *r = ring_get(m, n->ns, n->ring);
	if (r)
		parse_keyspaces(r, knob(pod, sts, KC_ANN_KEYSPACES));
	cJSON_Delete(sts);
}

/* Whether pod removal is part of removing the whole ring (its StatefulSet
 * gone or being deleted): no invariant applies then. */
static bool sts_removed(struct ks_cassandra_model *m, const struct kc_node *n,
	long long *replicas)
{
	*replicas = -1;
	if (!*n->sts || !m->statefulsets)
		return false;
	cJSON *sts = NULL;
	if (ks_store_get(m->store, m->statefulsets, n->ns, n->sts, &sts))
		return true;
	const char *uid = ks_meta_string(sts, "uid");
	if (n->sts_uid[0] && uid && strcmp(uid, n->sts_uid)) {
		cJSON_Delete(sts);
		return true; /* same name, another StatefulSet: ours is gone */
	}
	bool gone = ks_meta_string(sts, "deletionTimestamp") != NULL;
	const cJSON *rep = kc_at(sts, "spec", "replicas", NULL);
	*replicas = cJSON_IsNumber(rep) ? (long long)rep->valuedouble : 1;
	cJSON_Delete(sts);
	return gone;
}

static void check_removed(struct kc_node *n, long long replicas)
{
	if (n->flag_removed || n->ordinal < 0 || replicas < 0 || n->ordinal < replicas ||
	    !n->bootstrapped || n->state == KC_LEFT || n->state == KC_NONE || n->teardown)
		return;
	n->flag_removed = true;
	violation(n, "%s removed from StatefulSet %s (replicas %lld) without decommission: "
		"its token ranges stay down in the ring", n->pod, n->sts, replicas);
}

static void on_pod(struct ks_cassandra_model *m, const struct ks_event *ev, double now)
{
	const cJSON *pod = ev->object;
	const char *ns = ks_meta_string(pod, "namespace");
	const char *name = ks_meta_string(pod, "name");
	const char *uid = ks_meta_string(pod, "uid");
	if (!ns || !name || !uid || !is_cassandra_pod(pod))
		return;
	struct kc_node *n;
	if (ev->type == KS_EVENT_DELETED) {
		n = kc_node_find(m, ns, name);
		if (!n || strcmp(n->uid, uid))
			return;
		long long replicas;
		n->teardown = sts_removed(m, n, &replicas);
		n->pod_exists = false;
		n->terminating = false;
		kc_process_stop(m, n, "pod deleted");
		check_removed(n, replicas);
		return;
	}
	if (!(n = node_get(m, ns, name)))
		return;
	if (strcmp(n->uid, uid)) {
		const char *owner_uid;
		owner_sts(pod, &owner_uid);
		if (owner_uid && n->sts_uid[0] && strcmp(owner_uid, n->sts_uid))
			n->teardown = true; /* the old StatefulSet and its ring are gone */
		if (n->pod_exists)
			kc_process_stop(m, n, "pod replaced");
		snprintf(n->uid, sizeof(n->uid), "%s", uid);
		n->pod_exists = true;
		n->terminating = false;
		n->teardown = false;
		n->flag_removed = false;
		n->stopped_by_api = false;
		n->exit_pending = false;
		n->ready_written = -1;
		read_pod_config(m, n, pod);
		kc_register_pod(m, n, name);
	} else {
		/* The same pod adopted by a new StatefulSet of the same name
		 * (re-created with --cascade=orphan, as for a volume claim
		 * template change): its PVCs, and so its data, stay; later
		 * incarnations under the new StatefulSet are the same node. */
		const char *owner_uid;
		const char *owner = owner_sts(pod, &owner_uid);
		if (owner && owner_uid && strcmp(owner_uid, n->sts_uid)) {
			snprintf(n->sts_uid, sizeof(n->sts_uid), "%s", owner_uid);
			snprintf(n->sts, sizeof(n->sts), "%s", owner);
		}
	}
	const char *ip = str_of(kc_at(pod, "status", "podIP", NULL));
	if (ip && *ip)
		snprintf(n->ip, sizeof(n->ip), "%s", ip);
	const char *phase = str_of(kc_at(pod, "status", "phase", NULL));
	bool running = phase && !strcmp(phase, "Running");
	bool terminating = ks_meta_string(pod, "deletionTimestamp") != NULL;
	if (terminating && !n->terminating) {
		n->terminating = true;
		const cJSON *g = kc_at(pod, "metadata", "deletionGracePeriodSeconds", NULL);
		double grace = cJSON_IsNumber(g) ? g->valuedouble : 0;
		long long replicas;
		n->teardown = sts_removed(m, n, &replicas);
		if (n->process_up && n->prestop_drain && grace > 0 && !n->drained) {
			node_log(n, "preStop hook: nodetool drain (grace period %.0f s)", grace);
			kc_drain_begin(n, now);
		} else if (!n->draining) {
			/* Nothing (more) to drain: SIGTERM stops the process at once.
			 * A drain already running ends in the tick, which stops it. */
			if (n->process_up)
				kc_process_stop(m, n, n->drained ? "SIGTERM after drain" :
					grace > 0 ? "SIGTERM" : "pod deleted with grace 0");
			n->exit_pending = n->knobs.exit_after_drain;
		}
	}
	if (running && !terminating && !n->process_up && n->knobs.autostart &&
	    !n->stopped_by_api && n->ip[0])
		kc_process_start(m, n, now);
}

static void on_sts(struct ks_cassandra_model *m, const struct ks_event *ev)
{
	const char *ns = ks_meta_string(ev->object, "namespace");
	const char *name = ks_meta_string(ev->object, "name");
	if (!ns || !name)
		return;
	bool deleted = ev->type == KS_EVENT_DELETED ||
		ks_meta_string(ev->object, "deletionTimestamp") != NULL;
	const cJSON *rep = kc_at(ev->object, "spec", "replicas", NULL);
	long long replicas = cJSON_IsNumber(rep) ? (long long)rep->valuedouble : 1;
	const char *ks = annotation(ev->object, KC_ANN_KEYSPACES);
	for (int i = 0; i < m->nnodes; i++) {
		struct kc_node *n = m->nodes[i];
		if (strcmp(n->ns, ns) || strcmp(n->sts, name))
			continue;
		if (ks) {
			struct kc_ring *r = kc_ring_find(m, n->ns, n->ring);
			if (r)
				parse_keyspaces(r, ks);
		}
		if (deleted) {
			n->teardown = true;
			continue;
		}
		/* A pod deleted first and its StatefulSet shrunk afterwards. */
		if (!n->pod_exists)
			check_removed(n, replicas);
	}
}

static void model_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct ks_cassandra_model *m = payload;
	double now = ks_clock_now();
	pthread_mutex_lock(&m->mu);
	if (ev->resource_type == m->pods)
		on_pod(m, ev, now);
	else if (ev->resource_type == m->statefulsets)
		on_sts(m, ev);
	pthread_mutex_unlock(&m->mu);
}

/* ---- the clock: joins, drains, decommissions, readiness ---- */

struct pending_write {
	char ns[KC_NAME], pod[KC_NAME], uid[64];
	int ready;       /* -1: delete the pod (process exited), else the value */
};

static int set_ready(cJSON *pod, void *payload)
{
	const struct pending_write *w = payload;
	const char *uid = ks_meta_string(pod, "uid");
	if (!uid || strcmp(uid, w->uid))
		return KEELSON_ECONFLICT;
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
	if (!cJSON_IsObject(ann)) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
		ann = cJSON_AddObjectToObject(meta, "annotations");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(ann, KC_ANN_KUBELET_READY);
	if (!cJSON_AddStringToObject(ann, KC_ANN_KUBELET_READY, w->ready ? "true" : "false"))
		return KEELSON_ENOMEM;
	return 0;
}

static void tick_node(struct ks_cassandra_model *m, struct kc_node *n, double now,
	struct pending_write *w, int *nw, int cap)
{
	if (n->draining && now >= n->drain_end) {
		n->draining = false;
		n->drained = true;
		node_log(n, "DRAINED");
		kc_check_two_down(m, n);
		if (n->terminating) {
			/* preStop done: the kubelet sends SIGTERM and Cassandra exits. */
			kc_process_stop(m, n, "SIGTERM after preStop drain");
			n->exit_pending = n->knobs.exit_after_drain;
		}
	}
	if (n->exit_pending && n->terminating && n->pod_exists && *nw < cap) {
		/* The containers ended: the kubelet removes the pod before its
		 * grace period is over. */
		n->exit_pending = false;
		struct pending_write *p = &w[(*nw)++];
		snprintf(p->ns, sizeof(p->ns), "%s", n->ns);
		snprintf(p->pod, sizeof(p->pod), "%s", n->pod);
		snprintf(p->uid, sizeof(p->uid), "%s", n->uid);
		p->ready = -1;
	}
	if (n->process_up && n->state == KC_UJ && now >= n->join_end) {
		n->state = KC_UN;
		n->bootstrapped = true;
		node_log(n, "JOINING: bootstrap complete, node is Up/Normal (UN)");
	}
	if (n->process_up && n->state == KC_DN && !n->drained && now >= n->start_end) {
		n->state = KC_UN;
		node_log(n, "Startup complete, node is Up/Normal (UN)");
		kc_check_two_down(m, n);
	}
	if (n->process_up && n->state == KC_UL && now >= n->leave_end)
		kc_decommission_finish(m, n, now);
	if (n->pod_exists && !n->terminating && n->knobs.ring_readiness && *nw < cap) {
		int want = n->process_up && n->state == KC_UN && !n->drained && !n->draining;
		if (want != n->ready_written) {
			struct pending_write *p = &w[(*nw)++];
			snprintf(p->ns, sizeof(p->ns), "%s", n->ns);
			snprintf(p->pod, sizeof(p->pod), "%s", n->pod);
			snprintf(p->uid, sizeof(p->uid), "%s", n->uid);
			p->ready = want;
			n->ready_written = want;
		}
	}
}

static bool pod_present(struct ks_cassandra_model *m, const struct kc_node *n)
{
	if (!n->pod_exists)
		return false;
	cJSON *pod = NULL;
	if (ks_store_get(m->store, m->pods, n->ns, n->pod, &pod))
		return false;
	const char *uid = ks_meta_string(pod, "uid");
	bool same = uid && !strcmp(uid, n->uid);
	cJSON_Delete(pod);
	return same;
}

static void model_tick(struct ks_store *store, void *payload)
{
	struct ks_cassandra_model *m = payload;
	enum { CAP = 64 };
	struct pending_write w[CAP];
	int nw = 0;
	double now = ks_clock_now();
	bool sweep = ++m->ticks % 100 == 0;
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nnodes; i++)
		tick_node(m, m->nodes[i], now, w, &nw, CAP);
	pthread_mutex_unlock(&m->mu);
	for (int i = 0; i < nw; i++) {
		if (w[i].ready < 0) {
			struct ks_delete_options opt = {
				.version = KS_DELETE_OPTIONS_VERSION,
				.has_grace_period = true,
				.grace_period_seconds = 0,
				.precondition_uid = w[i].uid,
			};
			ks_store_delete(store, m->pods, w[i].ns, w[i].pod, &opt, NULL, NULL);
		} else if (ks_store_modify(store, m->pods, w[i].ns, w[i].pod, set_ready, &w[i],
				NULL, NULL)) {
			pthread_mutex_lock(&m->mu);
			struct kc_node *n = kc_node_find(m, w[i].ns, w[i].pod);
			if (n && !strcmp(n->uid, w[i].uid))
				n->ready_written = -1; /* try again next tick */
			pthread_mutex_unlock(&m->mu);
		}
	}
	if (!sweep)
		return;
	/* Forget nodes whose pod and StatefulSet are both gone (ring deleted,
	 * or kubesim reset, which drops objects without DELETED events). */
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nnodes;) {
		struct kc_node *n = m->nodes[i];
		long long replicas;
		if (*n->sts && sts_removed(m, n, &replicas) && replicas < 0 &&
		    !pod_present(m, n)) {
			node_drop(m, n);
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&m->mu);
}

/* ---- lifecycle ---- */

static const char *const model_resources[] = {"/pods", "apps/statefulsets", NULL};

static void model_free(struct ks_cassandra_model *m)
{
	for (int i = 0; i < m->nnodes; i++)
		free(m->nodes[i]);
	for (int i = 0; i < m->nrings; i++)
		free(m->rings[i]);
	free(m->nodes);
	free(m->rings);
	free(m->regs);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int ks_cassandra_model_start(struct ks_store *store, struct ks_cassandra_model **out)
{
	*out = NULL;
	struct ks_cassandra_model *m = calloc(1, sizeof(*m));
	if (!m)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the Cassandra model");
	pthread_mutex_init(&m->mu, NULL);
	m->store = store;
	m->pods = ks_store_type_find(store, "", "pods");
	m->statefulsets = ks_store_type_find(store, "apps", "statefulsets");
	m->configmaps = ks_store_type_find(store, "", "configmaps");
	if (!m->pods) {
		model_free(m);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the Cassandra model: the store serves no pods");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "cassandra-model",
		.resources = model_resources,
		.on_event = model_event,
		.tick_ms = 10,
		.on_tick = model_tick,
	};
	int rc = ks_controller_start(store, &def, m, &m->controller);
	if (rc) {
		model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void ks_cassandra_model_stop(struct ks_cassandra_model *m)
{
	if (!m)
		return;
	ks_proxy_unregister(kc_mgmt_handler, m);
	ks_exec_unregister(kc_exec_handler, m);
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	pthread_mutex_unlock(&m->mu);
	/* Blocked drain/decommission calls see `stopping` and return. */
	for (;;) {
		pthread_mutex_lock(&m->mu);
		int inflight = m->inflight;
		pthread_mutex_unlock(&m->mu);
		if (inflight == 0)
			break;
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	ks_controller_stop(m->controller);
	model_free(m);
}

int ks_cassandra_model_sync(struct ks_cassandra_model *m, int timeout_ms)
{
	return ks_controller_sync(m->controller, timeout_ms);
}

int ks_cassandra_model_node(struct ks_cassandra_model *m, const char *ns, const char *pod,
	struct ks_cassandra_node_info *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->mu);
	struct kc_node *n = kc_node_find(m, ns, pod);
	if (n) {
		const char *s = kc_node_alive(n) || !kc_node_member(n) ? kc_state_name(n->state) : "DN";
		snprintf(out->state, sizeof(out->state), "%s", s);
		snprintf(out->dc, sizeof(out->dc), "%s", n->dc);
		snprintf(out->rack, sizeof(out->rack), "%s", n->rack);
		snprintf(out->host_id, sizeof(out->host_id), "%s", n->host_id);
		out->process_up = n->process_up;
		out->drained = n->drained;
		out->bootstrapped = n->bootstrapped;
	}
	pthread_mutex_unlock(&m->mu);
	if (!n)
		return keelson_error_set(KEELSON_ENOTFOUND,
			"the Cassandra model knows no node for pod %s/%s", ns, pod);
	return 0;
}

int ks_cassandra_model_count(struct ks_cassandra_model *m, const char *ns, const char *state)
{
	int count = 0;
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *n = m->nodes[i];
		if (strcmp(n->ns, ns))
			continue;
		const char *s = kc_node_alive(n) || !kc_node_member(n) ? kc_state_name(n->state) : "DN";
		if (!strcmp(s, state))
			count++;
	}
	pthread_mutex_unlock(&m->mu);
	return count;
}
