/*
 * The Cassandra model's front ends: the Management API for Apache
 * Cassandra (k8ssandra/management-api-for-apache-cassandra, the paths and
 * JSON shapes of operator-safety-rules.md §2.2) behind the pod proxy, and
 * `nodetool` behind pods/exec (what a preStop hook or a person runs).
 *
 * Drain and the v0 decommission are synchronous like the real ones: the
 * handler releases the model lock and sleeps on the simulated clock until
 * the node is drained or has LEFT.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/models/cassandra/cassandra_internal.h"

/* ---- registrations ---- */

static bool reg_have(struct ks_cassandra_model *m, const char *ns, const char *prefix, int port)
{
	for (int i = 0; i < m->nregs; i++)
		if (!strcmp(m->regs[i].ns, ns) && !strcmp(m->regs[i].prefix, prefix) &&
		    m->regs[i].port == port)
			return true;
	return false;
}

static void reg_add(struct ks_cassandra_model *m, const char *ns, const char *prefix, int port)
{
	if (reg_have(m, ns, prefix, port))
		return;
	struct kc_reg *r = realloc(m->regs, (size_t)(m->nregs + 1) * sizeof(*r));
	if (!r)
		return;
	m->regs = r;
	int rc = port ? ks_proxy_register(ns, "pods", prefix, port, kc_mgmt_handler, m)
		: ks_exec_register(ns, prefix, kc_exec_handler, m);
	if (rc)
		return;
	struct kc_reg *n = &m->regs[m->nregs++];
	snprintf(n->ns, sizeof(n->ns), "%s", ns);
	snprintf(n->prefix, sizeof(n->prefix), "%s", prefix);
	n->port = port;
}

void kc_register_pod(struct ks_cassandra_model *m, const struct kc_node *n, const char *name)
{
	/* The StatefulSet name covers its pods ("cassandra" matches
	 * "cassandra-3"); the handlers answer only for pods they model. */
	const char *prefix = *n->sts ? n->sts : name;
	reg_add(m, n->ns, prefix, 0);
	if (n->mgmt_port)
		reg_add(m, n->ns, prefix, n->mgmt_port);
}

/* ---- helpers ---- */

static int reply(struct ks_proxy_response *resp, int status, const char *ctype,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int reply(struct ks_proxy_response *resp, int status, const char *ctype,
	const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *body = NULL;
	int len = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", ctype);
	resp->body = body;
	resp->body_len = (size_t)len;
	return 0;
}

static int reply_json(struct ks_proxy_response *resp, int status, cJSON *json)
{
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	if (!text)
		return reply(resp, 500, "text/plain", "out of memory");
	resp->status = status;
	snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
	resp->body = text;
	resp->body_len = strlen(text);
	return 0;
}

/* Value of `key` in a raw query string, percent-decoding nothing (the
 * values the plugin sends are plain). */
static bool query_param(const char *query, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);
	const char *p = query ? query : "";
	while (*p) {
		size_t len = strcspn(p, "&");
		if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = len - klen - 1;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(buf, p + klen + 1, vlen);
			buf[vlen] = '\0';
			return true;
		}
		if (len == klen && !strncmp(p, key, klen)) {
			buf[0] = '\0';
			return true;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return false;
}

static double real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long ms(double t)
{
	return (long long)(t * 1000.0);
}

static bool same_ring(const struct kc_node *a, const struct kc_node *b)
{
	return !strcmp(a->ns, b->ns) && !strcmp(a->ring, b->ring);
}

/* Members of `self`'s datacenter that stay when `leaving` goes. */
static int dc_members_without(struct ks_cassandra_model *m, const struct kc_node *leaving)
{
	int count = 0;
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *o = m->nodes[i];
		if (o != leaving && same_ring(o, leaving) && !strcmp(o->dc, leaving->dc) &&
		    kc_node_member(o) && o->state != KC_UL)
			count++;
	}
	return count;
}

/* The keyspace with the largest RF in `dc` (NULL when none replicates there). */
static const struct kc_keyspace *largest_rf(const struct kc_ring *r, const char *dc, int *rf)
{
	const struct kc_keyspace *best = NULL;
	*rf = 0;
	for (int i = 0; r && i < r->nkeyspaces; i++) {
		int v = kc_keyspace_rf(&r->keyspaces[i], dc);
		if (v > *rf) {
			*rf = v;
			best = &r->keyspaces[i];
		}
	}
	return best;
}

/* ---- decommission and jobs ---- */

static struct kc_job *job_find(struct ks_cassandra_model *m, const char *id)
{
	for (int i = 0; i < m->njobs; i++)
		if (!strcmp(m->jobs[i].id, id))
			return &m->jobs[i];
	return NULL;
}

static struct kc_job *job_new(struct ks_cassandra_model *m, const struct kc_node *n, double now)
{
	struct kc_job *j = &m->jobs[m->job_next];
	m->job_next = (m->job_next + 1) % KC_MAX_JOBS;
	if (m->njobs < KC_MAX_JOBS)
		m->njobs++;
	memset(j, 0, sizeof(*j));
	ks_uuid(j->id);
	snprintf(j->ns, sizeof(j->ns), "%s", n->ns);
	snprintf(j->pod, sizeof(j->pod), "%s", n->pod);
	snprintf(j->uid, sizeof(j->uid), "%s", n->uid);
	j->status = KC_JOB_WAITING;
	j->submit = now;
	return j;
}

void kc_job_fail_for(struct ks_cassandra_model *m, struct kc_node *n, const char *why)
{
	for (int i = 0; i < m->njobs; i++) {
		struct kc_job *j = &m->jobs[i];
		if (j->status == KC_JOB_WAITING && !strcmp(j->ns, n->ns) && !strcmp(j->pod, n->pod)) {
			j->status = KC_JOB_ERROR;
			j->end = ks_clock_now();
			snprintf(j->error, sizeof(j->error), "%s", why);
		}
	}
}

/* Start a decommission of `n`: 0, or an HTTP status with `err` filled
 * with Cassandra's refusal. */
static int decommission_begin(struct ks_cassandra_model *m, struct kc_node *n, bool force,
	double now, char *err, size_t size)
{
	if (!n->process_up) {
		snprintf(err, size, "Cassandra is not running on %s", n->pod);
		return 500;
	}
	if (n->state == KC_UL)
		return 0; /* already leaving: a repeated call waits for the same */
	if (n->state != KC_UN || n->drained || n->draining) {
		snprintf(err, size, "Unsupported operation: node %s is in state %s%s, not NORMAL",
			n->pod, kc_state_name(n->state), n->drained ? " (drained)" : "");
		return 500;
	}
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *o = m->nodes[i];
		if (o != n && same_ring(o, n) && o->process_up &&
		    (o->state == KC_UJ || o->state == KC_UL)) {
			snprintf(err, size, "Other bootstrapping/leaving/moving nodes detected, "
				"cannot decommission while cassandra.consistent.rangemovement is "
				"true (%s is %s)", o->pod, kc_state_name(o->state));
			return 500;
		}
	}
	struct kc_ring *r = kc_ring_find(m, n->ns, n->ring);
	int remaining = dc_members_without(m, n);
	for (int i = 0; !force && r && i < r->nkeyspaces; i++) {
		int rf = kc_keyspace_rf(&r->keyspaces[i], n->dc);
		if (remaining < rf) {
			snprintf(err, size, "Not enough live nodes to maintain replication factor "
				"in keyspace %s (RF = %d, N = %d). Perform a forceful decommission "
				"to ignore.", r->keyspaces[i].name, rf, remaining);
			return 500;
		}
	}
	n->state = KC_UL;
	n->leave_end = now + n->knobs.decommission_s;
	ks_pod_log_append(n->ns, n->pod, "cassandra",
		"DECOMMISSIONING: streaming ranges to the remaining nodes (UL)");
	return 0;
}

void kc_decommission_finish(struct ks_cassandra_model *m, struct kc_node *n, double now)
{
	n->state = KC_LEFT;
	n->bootstrapped = false;
	ks_pod_log_append(n->ns, n->pod, "cassandra", "DECOMMISSIONED: node has LEFT the ring");
	struct kc_ring *r = kc_ring_find(m, n->ns, n->ring);
	int rf;
	const struct kc_keyspace *k = largest_rf(r, n->dc, &rf);
	int remaining = dc_members_without(m, n);
	if (k && remaining < rf) {
		char obj[2 * KC_NAME + 2];
		snprintf(obj, sizeof(obj), "%s/%s", n->ns, n->pod);
		ks_violation_record("cassandra", obj, "decommission of %s left %d node%s in "
			"datacenter %s, fewer than the replication factor %d of keyspace %s",
			n->pod, remaining, remaining == 1 ? "" : "s", n->dc, rf, k->name);
	}
	for (int i = 0; i < m->njobs; i++) {
		struct kc_job *j = &m->jobs[i];
		if (j->status == KC_JOB_WAITING && !strcmp(j->ns, n->ns) && !strcmp(j->pod, n->pod)) {
			j->status = KC_JOB_COMPLETED;
			j->end = now;
		}
	}
}

static cJSON *job_json(const struct kc_job *j)
{
	static const char *const names[] = {"WAITING", "COMPLETED", "ERROR"};
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", j->id);
	cJSON_AddStringToObject(o, "type", "decommission");
	cJSON_AddStringToObject(o, "status", names[j->status]);
	cJSON_AddNumberToObject(o, "submit_time", (double)ms(j->submit));
	cJSON_AddNumberToObject(o, "end_time", j->status == KC_JOB_WAITING ? 0 : (double)ms(j->end));
	if (j->status == KC_JOB_ERROR)
		cJSON_AddStringToObject(o, "error", j->error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON *changes = cJSON_AddArrayToObject(o, "status_changes");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "status", "WAITING");
	cJSON_AddNumberToObject(c, "change_time", (double)ms(j->submit));
	cJSON_AddNullToObject(c, "message");
	cJSON_AddItemToArray(changes, c);
	if (j->status != KC_JOB_WAITING) {
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "status", names[j->status]);
		cJSON_AddNumberToObject(c, "change_time", (double)ms(j->end));
		if (j->status == KC_JOB_ERROR)
			cJSON_AddStringToObject(c, "message", j->error);
		else
			cJSON_AddNullToObject(c, "message");
		cJSON_AddItemToArray(changes, c);
	}
	return o;
}

/* ---- synchronous waits ---- */

enum wait_for { WAIT_DRAINED, WAIT_LEFT };

/* Called with the model lock held and m->inflight counted; returns with
 * the lock held. 0 when reached, else an HTTP status with `err`. */
static int wait_node(struct ks_cassandra_model *m, const char *ns, const char *pod,
	const char *uid, enum wait_for what, char *err, size_t size)
{
	double deadline = real_now() + KC_SYNC_TIMEOUT_REAL_S;
	for (;;) {
		struct kc_node *n = kc_node_find(m, ns, pod);
		if (m->stopping) {
			snprintf(err, size, "Cassandra model stopping");
			return 503;
		}
		/* A drain finished by a preStop hook may already have let the
		 * process exit: drained is still the answer. */
		if (what == WAIT_DRAINED && n && !strcmp(n->uid, uid) && n->drained)
			return 0;
		if (!n || strcmp(n->uid, uid) || !n->process_up) {
			snprintf(err, size, "Cassandra stopped on %s during the operation", pod);
			return 500;
		}
		double remaining;
		if (what == WAIT_DRAINED) {
			if (n->drained)
				return 0;
			if (!n->draining) {
				snprintf(err, size, "drain of %s did not complete", pod);
				return 500;
			}
			remaining = n->drain_end - ks_clock_now();
		} else {
			if (n->state == KC_LEFT)
				return 0;
			if (n->state != KC_UL) {
				snprintf(err, size, "decommission of %s failed (state %s)", pod,
					kc_state_name(n->state));
				return 500;
			}
			remaining = n->leave_end - ks_clock_now();
		}
		if (real_now() > deadline) {
			snprintf(err, size, "timed out after %.0f s waiting for %s", KC_SYNC_TIMEOUT_REAL_S,
				what == WAIT_DRAINED ? "drain" : "decommission");
			return 504;
		}
		pthread_mutex_unlock(&m->mu);
		/* Short real sleeps keep stop responsive; the tick moves the state. */
		double step = ks_clock_factor() * 0.005;
		ks_clock_sleep(remaining > 0 && remaining < step ? remaining + 1e-3 : step);
		pthread_mutex_lock(&m->mu);
	}
}

static int sync_drain(struct ks_cassandra_model *m, struct kc_node *n, char *err, size_t size)
{
	if (!n->process_up) {
		snprintf(err, size, "Cassandra is not running on %s", n->pod);
		return 500;
	}
	kc_drain_begin(n, ks_clock_now());
	char ns[KC_NAME], pod[KC_NAME], uid[64];
	snprintf(ns, sizeof(ns), "%s", n->ns);
	snprintf(pod, sizeof(pod), "%s", n->pod);
	snprintf(uid, sizeof(uid), "%s", n->uid);
	return wait_node(m, ns, pod, uid, WAIT_DRAINED, err, size);
}

static int sync_decommission(struct ks_cassandra_model *m, struct kc_node *n, bool force,
	char *err, size_t size)
{
	int rc = decommission_begin(m, n, force, ks_clock_now(), err, size);
	if (rc)
		return rc;
	char ns[KC_NAME], pod[KC_NAME], uid[64];
	snprintf(ns, sizeof(ns), "%s", n->ns);
	snprintf(pod, sizeof(pod), "%s", n->pod);
	snprintf(uid, sizeof(uid), "%s", n->uid);
	return wait_node(m, ns, pod, uid, WAIT_LEFT, err, size);
}

/* ---- ring views ---- */

static const char *gossip_status(const struct kc_node *n)
{
	switch (n->state) {
	case KC_UJ: return "BOOT";
	case KC_UL: return "LEAVING";
	case KC_LEFT: return "LEFT";
	default: return "NORMAL";
	}
}

static cJSON *endpoints_json(struct ks_cassandra_model *m, const struct kc_node *self)
{
	struct kc_ring *r = kc_ring_find(m, self->ns, self->ring);
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "entity");
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *n = m->nodes[i];
		if (!same_ring(n, self) || n->state == KC_NONE)
			continue;
		char status[96], addr[64], load[32];
		if (n->state == KC_LEFT)
			snprintf(status, sizeof(status), "LEFT,%" PRId64 ",%lld", n->token,
				ms(n->leave_end) + 3LL * 24 * 3600 * 1000);
		else
			snprintf(status, sizeof(status), "%s,%" PRId64, gossip_status(n), n->token);
		snprintf(addr, sizeof(addr), "%s:9042", n->ip);
		snprintf(load, sizeof(load), "%.1f", n->bootstrapped ? 1.2e9 : 0.0);
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "DC", n->dc);
		cJSON_AddStringToObject(e, "RACK", n->rack);
		cJSON_AddStringToObject(e, "HOST_ID", n->host_id);
		cJSON_AddStringToObject(e, "IS_ALIVE", kc_node_alive(n) ? "true" : "false");
		cJSON_AddStringToObject(e, "ENDPOINT_IP", n->ip);
		cJSON_AddStringToObject(e, "RPC_ADDRESS", n->ip);
		cJSON_AddStringToObject(e, "NATIVE_ADDRESS_AND_PORT", addr);
		cJSON_AddStringToObject(e, "STATUS", status);
		cJSON_AddStringToObject(e, "STATUS_WITH_PORT", status);
		cJSON_AddStringToObject(e, "LOAD", load);
		cJSON_AddStringToObject(e, "SCHEMA", r ? r->schema : "");
		cJSON_AddStringToObject(e, "RELEASE_VERSION", KC_RELEASE_VERSION);
		cJSON_AddStringToObject(e, "TOKENS", "<hidden>");
		cJSON_AddStringToObject(e, "NET_VERSION", "12");
		cJSON_AddStringToObject(e, "RPC_READY", kc_node_alive(n) ? "true" : "false");
		cJSON_AddItemToArray(arr, e);
	}
	return root;
}

static int cmp_token(const void *a, const void *b)
{
	const struct kc_node *x = *(const struct kc_node *const *)a;
	const struct kc_node *y = *(const struct kc_node *const *)b;
	return x->token < y->token ? -1 : x->token > y->token;
}

static int block_for(const char *cl, int rf)
{
	if (!strcmp(cl, "ONE") || !strcmp(cl, "LOCAL_ONE") || !strcmp(cl, "ANY"))
		return 1;
	if (!strcmp(cl, "TWO"))
		return 2;
	if (!strcmp(cl, "THREE"))
		return 3;
	if (!strcmp(cl, "QUORUM") || !strcmp(cl, "LOCAL_QUORUM") || !strcmp(cl, "EACH_QUORUM"))
		return rf / 2 + 1;
	if (!strcmp(cl, "ALL"))
		return rf;
	return -1;
}

/* GET /api/v0/probes/cluster: can every token range reach `cl` in the
 * asking node's datacenter with `rf` replicas there (a keyspace with
 * NetworkTopologyStrategy {dc: rf})? */
static int cluster_probe(struct ks_cassandra_model *m, const struct kc_node *self,
	const char *query, struct ks_proxy_response *resp)
{
	char cl[32], rfs[16];
	if (!query_param(query, "consistency_level", cl, sizeof(cl)))
		return reply(resp, 400, "text/plain", "consistency_level must be provided");
	long rf = 1;
	if (query_param(query, "rf_per_dc", rfs, sizeof(rfs))) {
		char *end;
		rf = strtol(rfs, &end, 10);
		if (*end || rf < 1 || rf > 32)
			return reply(resp, 400, "text/plain", "invalid rf_per_dc: %s", rfs);
	}
	int need = block_for(cl, (int)rf);
	if (need < 0)
		return reply(resp, 400, "text/plain", "Invalid consistency level: %s", cl);

	int total = 0;
	struct kc_node **ring = calloc((size_t)m->nnodes + 1, sizeof(*ring));
	if (!ring)
		return -1;
	for (int i = 0; i < m->nnodes; i++)
		if (same_ring(m->nodes[i], self) && kc_node_member(m->nodes[i]))
			ring[total++] = m->nodes[i];
	qsort(ring, (size_t)total, sizeof(*ring), cmp_token);
	cJSON *errors = cJSON_CreateObject();
	int bad = 0;
	if (total == 0) {
		cJSON *msgs = cJSON_AddArrayToObject(errors,
			"[-9223372036854775808, -9223372036854775808]");
		char text[128];
		snprintf(text, sizeof(text), "%d replicas required, but only 0 nodes in the ring", need);
		cJSON_AddItemToArray(msgs, cJSON_CreateString(text));
		bad = 1;
	}
	for (int i = 0; i < total; i++) {
		/* Range (token[i-1], token[i]]: replicas are the first `rf` local
		 * datacenter members clockwise from token[i]. */
		int replicas = 0, alive = 0;
		for (int k = 0; k < total && replicas < rf; k++) {
			const struct kc_node *o = ring[(i + k) % total];
			if (strcmp(o->dc, self->dc))
				continue;
			replicas++;
			if (kc_node_alive(o))
				alive++;
		}
		if (alive >= need)
			continue;
		char key[64], text[128];
		snprintf(key, sizeof(key), "[%" PRId64 ", %" PRId64 "]",
			ring[(i + total - 1) % total]->token, ring[i]->token);
		snprintf(text, sizeof(text), "%d replicas required, but only %d nodes in the ring",
			need, alive);
		cJSON *msgs = cJSON_AddArrayToObject(errors, key);
		cJSON_AddItemToArray(msgs, cJSON_CreateString(text));
		bad++;
	}
	free(ring);
	if (!bad) {
		cJSON_Delete(errors);
		return reply(resp, 200, "application/json", "{}");
	}
	return reply_json(resp, 500, errors);
}

static cJSON *schema_versions(struct ks_cassandra_model *m, const struct kc_node *self)
{
	struct kc_ring *r = kc_ring_find(m, self->ns, self->ring);
	cJSON *root = cJSON_CreateObject();
	cJSON *up = cJSON_AddArrayToObject(root, r ? r->schema : "unknown");
	cJSON *down = NULL;
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *n = m->nodes[i];
		if (!same_ring(n, self) || n->state == KC_NONE || n->state == KC_LEFT)
			continue;
		if (kc_node_alive(n)) {
			cJSON_AddItemToArray(up, cJSON_CreateString(n->ip));
		} else if (kc_node_member(n)) {
			if (!down)
				down = cJSON_AddArrayToObject(root, "UNREACHABLE");
			cJSON_AddItemToArray(down, cJSON_CreateString(n->ip));
		}
	}
	return root;
}

/* GET /api/v0/ops/keyspace[?keyspaceName=]: a JSON array of names, the
 * system keyspaces included (KeyspaceOpsResources.list). */
static cJSON *keyspace_list(struct ks_cassandra_model *m, const struct kc_node *self, const char *only)
{
	static const char *const local[] = {"system", "system_schema", "system_views", "system_virtual_schema"};
	struct kc_ring *r = kc_ring_find(m, self->ns, self->ring);
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (!only || !*only || !strcmp(only, local[i]))
			cJSON_AddItemToArray(arr, cJSON_CreateString(local[i]));
	for (int i = 0; r && i < r->nkeyspaces; i++)
		if (!only || !*only || !strcmp(only, r->keyspaces[i].name))
			cJSON_AddItemToArray(arr, cJSON_CreateString(r->keyspaces[i].name));
	return arr;
}

/* GET /api/v0/ops/keyspace/replication?keyspaceName=K: the replication
 * map as Cassandra stores it, values as strings
 * (KeyspaceOpsResources.getReplication); 404 for an unknown keyspace. */
static int keyspace_replication(struct ks_cassandra_model *m, const struct kc_node *self, const char *query,
	struct ks_proxy_response *resp)
{
	char name[KC_SHORT];
	if (!query_param(query, "keyspaceName", name, sizeof(name)) || !*name)
		return reply(resp, 400, "text/plain",
			"Get keyspace replication failed. Non-empty 'keyspaceName' must be provided");
	if (!strcmp(name, "system") || !strcmp(name, "system_schema") || !strcmp(name, "system_views") ||
	    !strcmp(name, "system_virtual_schema"))
		return reply(resp, 200, "application/json",
			"{\"class\":\"org.apache.cassandra.locator.LocalStrategy\"}");
	struct kc_ring *r = kc_ring_find(m, self->ns, self->ring);
	for (int i = 0; r && i < r->nkeyspaces; i++) {
		const struct kc_keyspace *k = &r->keyspaces[i];
		if (strcmp(k->name, name))
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "class", "org.apache.cassandra.locator.NetworkTopologyStrategy");
		char rf[16];
		if (k->rf_all) {
			/* Same RF in every datacenter of the ring. */
			for (int d = 0; d < m->nnodes; d++) {
				const struct kc_node *n = m->nodes[d];
				if (!same_ring(n, self) || n->state == KC_NONE || cJSON_GetObjectItem(o, n->dc))
					continue;
				snprintf(rf, sizeof(rf), "%d", k->rf_all);
				cJSON_AddStringToObject(o, n->dc, rf);
			}
		} else {
			for (int d = 0; d < k->ndcs; d++) {
				snprintf(rf, sizeof(rf), "%d", k->rf_dc[d]);
				cJSON_AddStringToObject(o, k->dc[d], rf);
			}
		}
		return reply_json(resp, 200, o);
	}
	return reply(resp, 404, "text/plain",
		"Get keyspace replication failed. Keyspace '%s' does not exist.", name);
}

static cJSON *streaminfo(struct ks_cassandra_model *m, const struct kc_node *self)
{
	cJSON *arr = cJSON_CreateArray();
	if (self->state != KC_UJ && self->state != KC_UL)
		return arr;
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *o = m->nodes[i];
		if (o == self || !same_ring(o, self) || !kc_node_alive(o) || o->state != KC_UN)
			continue;
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "operation",
			self->state == KC_UJ ? "Bootstrap" : "Unbootstrap");
		cJSON_AddStringToObject(s, "peer", o->ip);
		cJSON_AddStringToObject(s, "direction", self->state == KC_UJ ? "IN" : "OUT");
		cJSON_AddStringToObject(s, "state", "STREAMING");
		cJSON_AddItemToArray(arr, s);
	}
	return arr;
}

/* ---- the Management API ---- */

static bool is(const struct ks_proxy_request *req, const char *method, const char *path)
{
	return !strcmp(req->path, path) && !strcmp(req->method, method);
}

static int route(struct ks_cassandra_model *m, struct kc_node *n,
	const struct ks_proxy_request *req, struct ks_proxy_response *resp)
{
	char err[512], buf[64];
	const char *p = req->path;
	if (is(req, "GET", "/api/v0/probes/liveness"))
		return reply(resp, 200, "text/plain", "OK");
	if (is(req, "GET", "/api/v0/probes/readiness")) {
		bool ready = n->process_up && n->bootstrapped && n->state == KC_UN && !n->drained;
		return ready ? reply(resp, 200, "text/plain", "OK") : reply(resp, 500, "text/plain", "%s", "");
	}
	if (is(req, "GET", "/api/v0/metadata/versions/features"))
		return reply(resp, 200, "application/json", "{\"cassandra_version\":\"%s\","
			"\"features\":[\"async_sstable_tasks\",\"rebuild\",\"async_upgrade_sstable_task\","
			"\"async_compaction_task\",\"async_move_task\",\"async_gc_task\","
			"\"async_flush_task\",\"async_scrub_task\"]}", KC_RELEASE_VERSION);
	if (is(req, "POST", "/api/v0/lifecycle/start")) {
		if (n->process_up)
			return reply(resp, 202, "text/plain", "OK");
		n->stopped_by_api = false;
		kc_process_start(m, n, ks_clock_now());
		return reply(resp, 201, "text/plain", "OK");
	}
	if (is(req, "POST", "/api/v0/lifecycle/stop")) {
		kc_process_stop(m, n, "lifecycle/stop");
		n->stopped_by_api = true;
		return reply(resp, 200, "text/plain", "OK");
	}
	/* Everything below talks to the Cassandra process (JMX / CQL). */
	if (!n->process_up)
		return reply(resp, 500, "text/plain",
			"Internal error, unable to connect to Cassandra on %s", n->pod);
	if (is(req, "GET", "/api/v0/probes/cluster"))
		return cluster_probe(m, n, req->query, resp);
	if (is(req, "GET", "/api/v0/metadata/endpoints"))
		return reply_json(resp, 200, endpoints_json(m, n));
	if (is(req, "GET", "/api/v1/ops/node/schema/versions"))
		return reply_json(resp, 200, schema_versions(m, n));
	if (is(req, "GET", "/api/v0/ops/node/streaminfo"))
		return reply_json(resp, 200, streaminfo(m, n));
	if (is(req, "GET", "/api/v0/ops/keyspace")) {
		char only[KC_SHORT] = "";
		query_param(req->query, "keyspaceName", only, sizeof(only));
		return reply_json(resp, 200, keyspace_list(m, n, only));
	}
	if (is(req, "GET", "/api/v0/ops/keyspace/replication"))
		return keyspace_replication(m, n, req->query, resp);
	if (is(req, "POST", "/api/v0/ops/node/drain")) {
		int rc = sync_drain(m, n, err, sizeof(err));
		return rc ? reply(resp, rc, "text/plain", "%s", err) : reply(resp, 200, "text/plain", "OK");
	}
	bool force = query_param(req->query, "force", buf, sizeof(buf)) && !strcmp(buf, "true");
	if (is(req, "POST", "/api/v0/ops/node/decommission")) {
		int rc = sync_decommission(m, n, force, err, sizeof(err));
		return rc ? reply(resp, rc, "text/plain", "%s", err) : reply(resp, 200, "text/plain", "OK");
	}
	if (is(req, "POST", "/api/v1/ops/node/decommission")) {
		double now = ks_clock_now();
		int rc = decommission_begin(m, n, force, now, err, sizeof(err));
		if (rc)
			return reply(resp, rc, "text/plain", "%s", err);
		struct kc_job *j = job_new(m, n, now);
		return reply(resp, 202, "text/plain", "%s", j->id);
	}
	if (is(req, "GET", "/api/v0/ops/executor/job")) {
		char id[64];
		if (!query_param(req->query, "job_id", id, sizeof(id)) || !*id)
			return reply(resp, 400, "text/plain", "job_id must be provided");
		struct kc_job *j = job_find(m, id);
		if (!j || strcmp(j->ns, n->ns) || strcmp(j->pod, n->pod))
			return reply(resp, 404, "text/plain", "Job not found: %s", id);
		return reply_json(resp, 200, job_json(j));
	}
	if (!strncmp(p, "/api/", 5) && (strstr(p, "/probes/") || strstr(p, "/ops/") ||
					 strstr(p, "/metadata/") || strstr(p, "/lifecycle/")))
		return reply(resp, 405, "text/plain", "%s %s is not supported by the kubesim "
			"Cassandra model", req->method, p);
	return reply(resp, 404, "text/plain", "Not found: %s", p);
}

int kc_mgmt_handler(const struct ks_proxy_request *req, struct ks_proxy_response *resp,
	void *payload)
{
	struct ks_cassandra_model *m = payload;
	pthread_mutex_lock(&m->mu);
	struct kc_node *n = kc_node_find(m, req->namespace, req->name);
	if (m->stopping || !n || !n->pod_exists || !n->mgmt_port ||
	    (req->port && req->port != n->mgmt_port)) {
		pthread_mutex_unlock(&m->mu);
		return -1; /* connection refused */
	}
	m->inflight++;
	int rc = route(m, n, req, resp);
	m->inflight--;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ---- nodetool through pods/exec ---- */

static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static void set_err(struct ks_exec_result *res, int code, char *text)
{
	res->exit_code = code;
	res->err = text;
	res->err_len = text ? strlen(text) : 0;
}

static void set_out(struct ks_exec_result *res, char *text)
{
	res->exit_code = 0;
	res->out = text;
	res->out_len = text ? strlen(text) : 0;
}

static char *nodetool_status(struct ks_cassandra_model *m, const struct kc_node *self)
{
	struct kc_ring *r = kc_ring_find(m, self->ns, self->ring);
	size_t cap = 4096 + (size_t)m->nnodes * 200, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	char done[KC_MAX_DCS][KC_SHORT];
	int ndone = 0;
	for (int i = 0; i < m->nnodes; i++) {
		const struct kc_node *d = m->nodes[i];
		if (!same_ring(d, self) || d->state == KC_NONE || d->state == KC_LEFT)
			continue;
		bool seen = false;
		for (int k = 0; k < ndone; k++)
			seen |= !strcmp(done[k], d->dc);
		if (seen || ndone == KC_MAX_DCS)
			continue;
		snprintf(done[ndone++], KC_SHORT, "%s", d->dc);
		int members = 0, rf;
		for (int k = 0; k < m->nnodes; k++)
			if (same_ring(m->nodes[k], self) && !strcmp(m->nodes[k]->dc, d->dc) &&
			    kc_node_member(m->nodes[k]))
				members++;
		largest_rf(r, d->dc, &rf);
		double owns = members ? 100.0 * (rf < members ? rf : members) / members : 0;
		char rule[80];
		size_t hl = strlen("Datacenter: ") + strlen(d->dc);
		memset(rule, '=', hl < sizeof(rule) - 1 ? hl : sizeof(rule) - 1);
		rule[hl < sizeof(rule) - 1 ? hl : sizeof(rule) - 1] = '\0';
		len += (size_t)snprintf(out + len, cap - len, "%sDatacenter: %s\n%s\n"
			"Status=Up/Down\n|/ State=Normal/Leaving/Joining/Moving\n"
			"--  Address         Load        Tokens  Owns (effective)  Host ID"
			"                               Rack\n", len ? "\n" : "", d->dc, rule);
		for (int k = 0; k < m->nnodes && len < cap - 256; k++) {
			const struct kc_node *n = m->nodes[k];
			if (!same_ring(n, self) || strcmp(n->dc, d->dc) || n->state == KC_NONE ||
			    n->state == KC_LEFT)
				continue;
			char st = n->state == KC_UJ ? 'J' : n->state == KC_UL ? 'L' : 'N';
			char owns_s[16];
			snprintf(owns_s, sizeof(owns_s), "%.1f%%", n->state == KC_UJ ? 0.0 : owns);
			len += (size_t)snprintf(out + len, cap - len,
				"%c%c  %-15s %-11s %-7d %-17s %-36s  %s\n",
				kc_node_alive(n) ? 'U' : 'D', st, n->ip,
				n->bootstrapped ? "1.12 GiB" : "96.5 KiB", 16, owns_s, n->host_id,
				n->rack);
		}
	}
	return out;
}

/* Split `sh -c "nodetool drain"` or argv into words. */
static int words_of(const struct ks_exec_request *req, char *buf, size_t size, char **w, int max)
{
	int n = 0;
	if (req->argc >= 3 && (strstr(req->argv[0], "sh")) && !strcmp(req->argv[1], "-c")) {
		snprintf(buf, size, "%s", req->argv[2]);
		char *save = NULL;
		for (char *t = strtok_r(buf, " \t\n", &save); t && n < max;
		     t = strtok_r(NULL, " \t\n", &save))
			w[n++] = t;
		return n;
	}
	for (int i = 0; i < req->argc && n < max; i++)
		w[n++] = (char *)req->argv[i];
	return n;
}

static void nodetool(struct ks_cassandra_model *m, struct kc_node *n, char **w, int nw,
	struct ks_exec_result *res)
{
	char err[512];
	if (!n->process_up) {
		set_err(res, 1, fmt_alloc("nodetool: Failed to connect to '127.0.0.1:7199' - "
			"ConnectException: 'Connection refused (Connection refused)'.\n"));
		return;
	}
	const char *cmd = nw > 1 ? w[1] : "";
	if (!strcmp(cmd, "status")) {
		set_out(res, nodetool_status(m, n));
	} else if (!strcmp(cmd, "drain")) {
		int rc = sync_drain(m, n, err, sizeof(err));
		if (rc)
			set_err(res, 2, fmt_alloc("error: %s\n", err));
		else
			set_out(res, fmt_alloc("%s", ""));
	} else if (!strcmp(cmd, "decommission")) {
		bool force = nw > 2 && (!strcmp(w[2], "--force") || !strcmp(w[2], "-f"));
		int rc = sync_decommission(m, n, force, err, sizeof(err));
		if (rc)
			set_err(res, 2, fmt_alloc("error: %s\n-- StackTrace --\n", err));
		else
			set_out(res, fmt_alloc("%s", ""));
	} else if (!strcmp(cmd, "version")) {
		set_out(res, fmt_alloc("ReleaseVersion: %s\n", KC_RELEASE_VERSION));
	} else {
		set_err(res, 1, fmt_alloc("nodetool: Found unexpected parameters: [%s]\n"
			"See 'nodetool help' or 'nodetool help <command>'.\n", cmd));
	}
}

int kc_exec_handler(const struct ks_exec_request *req, struct ks_exec_result *res, void *payload)
{
	struct ks_cassandra_model *m = payload;
	char buf[1024];
	char *w[16];
	int nw = words_of(req, buf, sizeof(buf), w, 16);
	if (nw < 1)
		return -1;
	const char *base = strrchr(w[0], '/');
	base = base ? base + 1 : w[0];
	if (strcmp(base, "nodetool"))
		return -1;
	pthread_mutex_lock(&m->mu);
	struct kc_node *n = kc_node_find(m, req->namespace, req->pod);
	if (m->stopping || !n || !n->pod_exists) {
		pthread_mutex_unlock(&m->mu);
		return -1;
	}
	m->inflight++;
	nodetool(m, n, w, nw, res);
	m->inflight--;
	pthread_mutex_unlock(&m->mu);
	return 0;
}
