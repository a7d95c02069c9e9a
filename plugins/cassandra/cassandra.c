/*
 * cassandra: the keelson plugin for Apache Cassandra datacenters on
 * StatefulSets (one per rack, cass-operator style, or a single one).
 *
 * Rules (operator-safety-rules.md §2): at most one node of the datacenter
 * down at a time, rack by rack, drain before stop, one node joining at a
 * time, decommission (and wait for LEFT) before a StatefulSet shrinks, and
 * never below the largest replication factor of a keyspace. The user
 * documentation is plugins/cassandra/README.md.
 *
 * Everything is decided from observation each time plan() runs: pod
 * revisions against the StatefulSet's updateRevision, pod readiness, the
 * ring as every node sees it (Management API, when configured), and two
 * annotations keelson writes into the cluster (the configuration hash in
 * the pod template, the start of a rack's quiet period). So a keelson
 * killed at any moment continues where the cluster is.
 *
 * Includes only the SDK, libc and the plugin's own JSON reader.
 */
#include <keelson/plugin.h>

#include "cass_json.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RACKS 16
#define MAX_PODS 256            /* per rack */
#define MAX_REPLICAS 100000
#define MAX_TEXT 1024           /* descriptions and gates (the host's limit) */
#define MAX_KEYSPACES 256

#define ANN_CONFIG_HASH "cassandra.keelson.dev/config-hash"
#define ANN_RACK_STARTED "cassandra.keelson.dev/rack-started"

#define NOT_VERIFIED "ring state not verified (no managementApiPort): relying on readiness and the preStop drain"

static const struct keelson_param params[] = {
	{.name = "statefulSets", .type = KEELSON_PARAM_STRING_LIST, .flags = KEELSON_PARAM_REQUIRED,
	 .description = "the StatefulSets of the datacenter, one per rack, in rack order",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	{.name = "datacenter", .type = KEELSON_PARAM_STRING,
	 .description = "Cassandra datacenter (default: template label cassandra.datastax.com/datacenter)"},
	{.name = "managementApiPort", .type = KEELSON_PARAM_INTEGER, .minimum = 1, .maximum = 65535,
	 .description = "Management API port; without it ring state is not verified"},
	{.name = "rackQuietPeriod", .type = KEELSON_PARAM_DURATION, .default_value = "20s",
	 .description = "pause between the last restart of one rack and the first of the next"},
	{.name = "restartTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "30m",
	 .description = "how long a restarted node, or an unsafe ring, may take to be Up/Normal before blocking"},
	{.name = "allowVolumeExpansion", .type = KEELSON_PARAM_BOOLEAN, .default_value = "false",
	 .description = "perform volume claim template changes instead of only planning them"},
	{.name = "drainTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "2m",
	 .description = "HTTP timeout of a drain through the Management API"},
	{.name = "streamingTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "12h",
	 .description = "how long a bootstrap (UJ to UN) or a decommission (UL to LEFT) may take"},
	{.name = "deleteDecommissionedVolumes", .type = KEELSON_PARAM_BOOLEAN, .default_value = "false",
	 .description = "delete the PVCs of nodes that LEFT the ring and whose pods a shrink removed (their data)"},
	{.type = KEELSON_PARAM_END},
};

/* A node's state as the other nodes see it. */
enum node_state {
	NODE_UNKNOWN = 0, /* no view could be read */
	NODE_UN,
	NODE_DN,
	NODE_UJ,
	NODE_UL,
	NODE_LEFT,
	NODE_ABSENT,      /* some view does not list the pod's address */
};

static const char *state_name(enum node_state s)
{
	switch (s) {
	case NODE_UN: return "UN";
	case NODE_DN: return "DN";
	case NODE_UJ: return "UJ";
	case NODE_UL: return "UL";
	case NODE_LEFT: return "LEFT";
	case NODE_ABSENT: return "not in the ring";
	case NODE_UNKNOWN: break;
	}
	return "unknown";
}

struct endpoint {
	char dc[128], rack[128], ip[64], status[16];
	int alive;
};

struct pod {
	int exists;
	const struct keelson_json *obj;
	char name[256];
	const char *uid, *ip;
	long ordinal;
	int ready, terminating, current; /* current: at the StatefulSet's updateRevision */
	long long grace;
	/* The pod's own view of the ring (Management API). */
	int view_probed, view_ok;
	char view_error[256];
	struct endpoint *view;
	size_t view_count;
};

struct rack {
	const struct keelson_view_object *obj;
	const char *name, *ns;
	char rack_name[128];
	long desired, live;              /* replicas; live -1 when the StatefulSet is missing */
	int on_delete;                   /* updateStrategy OnDelete (else RollingUpdate) */
	long partition;                  /* live partition (RollingUpdate) */
	long plan_partition;             /* as the plan has left it so far */
	const char *update_revision;
	int observed;                    /* the controller has seen the live generation */
	int hash_pending;                /* the configuration hash in the live template differs */
	int spec_pending;                /* the repository's pod template differs from the live one */
	int template_pending, vct_pending;
	char immutable[256];             /* a change the API server refuses, or "" */
	int other_drift;
	char desired_hash[17], live_hash[17];
	const char *started;             /* ANN_RACK_STARTED on the live StatefulSet */
	struct pod pods[MAX_PODS];
	long pod_slots;                  /* ordinals considered */
	int pods_read;
};

struct planner {
	const struct keelson_host *h;
	struct keelson_plugin_call *call;
	const struct keelson_view *view;
	int preview;
	const char *dc;
	long long mgmt_port;             /* 0: no Management API */
	char port_text[16];
	long long quiet_ms, restart_ms, drain_ms, streaming_ms;
	int allow_volume;
	int delete_volumes;              /* deleteDecommissionedVolumes */
	struct rack racks[MAX_RACKS];
	size_t nracks;
	size_t nsteps;
	int stopped;                     /* a BLOCKED step was added: nothing follows it */
	int scale_down_waits;            /* a decommission waits for its gate: the rack keeps its size */
	int ring_probed;
	const struct pod *ignore_view;   /* a drained node's gossip view is stale */
	char text[MAX_TEXT], gate[MAX_TEXT], key[512], reason[MAX_TEXT];
};

/* --- small helpers -------------------------------------------------------- */

static const char *str_at(const struct planner *p, const struct keelson_json *node, const char *pointer)
{
	return p->h->json_string(p->h->json_get(node, pointer));
}

static long num_at(const struct planner *p, const struct keelson_json *node, const char *pointer, long dflt)
{
	double d;
	if (p->h->json_number(p->h->json_get(node, pointer), &d) != 0)
		return dflt;
	/* Clamped: casting 1e300 or NaN is undefined; far beyond every bound
	 * checked, it is refused like any other out-of-range value. */
	if (!(d > -1e9))
		return -1000000000L;
	return d < 1e9 ? (long)d : 1000000000L;
}

static void fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t size, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(buf, size, f, ap);
	va_end(ap);
	if (n < 0)
		buf[0] = '\0';
	/* Steps are one line: a probe's error text may carry newlines. */
	for (char *c = buf; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

static int add(struct planner *p, struct keelson_step *s)
{
	/* Nothing runs after a BLOCKED step, and a step planned past one was
	 * planned past a refusal (an apply that would shrink a StatefulSet
	 * whose scale-down was just refused): `keelson plan` must not show it. */
	if (p->stopped)
		return 0;
	s->struct_size = sizeof(*s);
	if (p->h->add_step(p->call, s) != 0)
		return -1;
	p->nsteps++;
	return 0;
}

/* Whether the next step is the one the executor would run now (so its
 * gate is evaluated against live signals), rather than one that follows. */
static int acting_now(const struct planner *p)
{
	return p->nsteps == 0 && !p->preview;
}

static int blocked(struct planner *p, const char *reason)
{
	struct keelson_step s = {.kind = KEELSON_STEP_BLOCKED, .description = "stop: the rollout cannot go on safely",
				 .reason = reason};
	int rc = add(p, &s);
	p->stopped = 1;
	return rc;
}

static int wait_step(struct planner *p, const char *description, const char *key, long long timeout_ms,
		     const char *gate)
{
	struct keelson_step s = {.kind = KEELSON_STEP_WAIT, .description = description, .key = key,
				 .timeout_ms = timeout_ms, .gate = gate};
	return add(p, &s);
}

static const char *ring_gate_suffix(const struct planner *p)
{
	return p->mgmt_port ? "" : "; " NOT_VERIFIED;
}

/* "cassandra-3" of StatefulSet "cassandra" -> 3; -1 for anything else. */
static long ordinal_of(const char *sts, const char *pod)
{
	size_t n = strlen(sts);
	if (strncmp(pod, sts, n) != 0 || pod[n] != '-' || pod[n + 1] < '0' || pod[n + 1] > '9')
		return -1;
	char *end;
	long v = strtol(pod + n + 1, &end, 10);
	return *end == '\0' && v >= 0 && v < MAX_REPLICAS ? v : -1;
}

/* Whether every field `d` sets has the same value in `l` (lists item by
 * item): what the API server defaults or adds does not count. */
static int subset(const struct planner *p, const struct keelson_json *d, const struct keelson_json *l)
{
	const struct keelson_host *h = p->h;
	if (d == NULL)
		return 1;
	size_t n = h->json_count(d);
	if (n == 0) {
		if (l != NULL && h->json_equal(d, l))
			return 1;
		double x;
		if (h->json_string(d) != NULL || h->json_number(d, &x) == 0 || h->json_bool(d) >= 0)
			return 0;
		return 1; /* an empty map or list, or null: the server may drop it */
	}
	if (l == NULL)
		return 0;
	if (h->json_key(h->json_at(d, 0)) != NULL) {
		size_t ln = h->json_count(l);
		for (size_t i = 0; i < n; i++) {
			const struct keelson_json *dm = h->json_at(d, i);
			const char *k = h->json_key(dm);
			const struct keelson_json *lm = NULL;
			for (size_t j = 0; j < ln && lm == NULL; j++) {
				const struct keelson_json *c = h->json_at(l, j);
				if (h->json_key(c) != NULL && strcmp(h->json_key(c), k) == 0)
					lm = c;
			}
			if (!subset(p, dm, lm))
				return 0;
		}
		return 1;
	}
	if (h->json_count(l) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!subset(p, h->json_at(d, i), h->json_at(l, i)))
			return 0;
	return 1;
}

static int is_ready(const struct planner *p, const struct keelson_json *pod)
{
	const struct keelson_json *conditions = p->h->json_get(pod, "/status/conditions");
	for (size_t i = 0; i < p->h->json_count(conditions); i++) {
		const struct keelson_json *c = p->h->json_at(conditions, i);
		const char *type = str_at(p, c, "/type"), *status = str_at(p, c, "/status");
		if (type != NULL && strcmp(type, "Ready") == 0)
			return status != NULL && strcmp(status, "True") == 0;
	}
	return 0;
}

/* --- configuration hash ------------------------------------------------------ */

static void hash_bytes(uint64_t *h, const char *s)
{
	for (; s != NULL && *s; s++) {
		*h ^= (unsigned char)*s;
		*h *= 1099511628211ULL;
	}
	*h ^= 0xff;
	*h *= 1099511628211ULL;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* data and binaryData of a ConfigMap, keys sorted, so the order the YAML
 * writes them in does not matter. */
static void hash_configmap(const struct planner *p, uint64_t *hv, const struct keelson_json *cm)
{
	static const char *const sections[] = {"/data", "/binaryData"};
	for (size_t s = 0; s < 2; s++) {
		const struct keelson_json *data = p->h->json_get(cm, sections[s]);
		size_t n = p->h->json_count(data);
		if (n > 4096)
			n = 4096;
		const char *keys[4096];
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (p->h->json_key(p->h->json_at(data, i)) != NULL)
				keys[k++] = p->h->json_key(p->h->json_at(data, i));
		qsort(keys, k, sizeof(keys[0]), by_key);
		hash_bytes(hv, sections[s]);
		for (size_t i = 0; i < k; i++) {
			hash_bytes(hv, keys[i]);
			for (size_t j = 0; j < n; j++) {
				const struct keelson_json *m = p->h->json_at(data, j);
				if (p->h->json_key(m) != NULL && strcmp(p->h->json_key(m), keys[i]) == 0)
					hash_bytes(hv, p->h->json_string(m));
			}
		}
	}
}

static void note_configmap(const char **names, size_t *count, size_t max, const char *name)
{
	if (name == NULL)
		return;
	for (size_t i = 0; i < *count; i++)
		if (strcmp(names[i], name) == 0)
			return;
	if (*count < max)
		names[(*count)++] = name;
}

/* ConfigMaps the pod template reads: mounted volumes (also projected),
 * envFrom and env valueFrom, of containers and init containers. */
static size_t template_configmaps(const struct planner *p, const struct keelson_json *sts, const char **names,
				  size_t max)
{
	const struct keelson_host *h = p->h;
	size_t count = 0;
	const struct keelson_json *vols = h->json_get(sts, "/spec/template/spec/volumes");
	for (size_t i = 0; i < h->json_count(vols); i++) {
		const struct keelson_json *v = h->json_at(vols, i);
		note_configmap(names, &count, max, str_at(p, v, "/configMap/name"));
		const struct keelson_json *src = h->json_get(v, "/projected/sources");
		for (size_t j = 0; j < h->json_count(src); j++)
			note_configmap(names, &count, max, str_at(p, h->json_at(src, j), "/configMap/name"));
	}
	static const char *const lists[] = {"/spec/template/spec/containers", "/spec/template/spec/initContainers"};
	for (size_t l = 0; l < 2; l++) {
		const struct keelson_json *cs = h->json_get(sts, lists[l]);
		for (size_t i = 0; i < h->json_count(cs); i++) {
			const struct keelson_json *c = h->json_at(cs, i);
			const struct keelson_json *ef = h->json_get(c, "/envFrom");
			for (size_t j = 0; j < h->json_count(ef); j++)
				note_configmap(names, &count, max, str_at(p, h->json_at(ef, j), "/configMapRef/name"));
			const struct keelson_json *env = h->json_get(c, "/env");
			for (size_t j = 0; j < h->json_count(env); j++)
				note_configmap(names, &count, max,
					       str_at(p, h->json_at(env, j), "/valueFrom/configMapKeyRef/name"));
		}
	}
	return count;
}

/* The hash of the repository's ConfigMaps a StatefulSet reads; `live`:
 * their live (or, in a preview, base-revision) contents instead. */
static void config_hash(const struct planner *p, const struct rack *r, int live, char out[17])
{
	const char *names[64];
	size_t n = template_configmaps(p, r->obj->desired, names, 64);
	qsort(names, n, sizeof(names[0]), by_key);
	uint64_t hv = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < p->view->object_count; k++) {
			const struct keelson_view_object *o = &p->view->objects[k];
			if (strcmp(o->kind, "ConfigMap") != 0 || strcmp(o->name, names[i]) != 0 ||
			    strcmp(o->namespace_, r->ns) != 0)
				continue;
			hash_bytes(&hv, names[i]);
			hash_configmap(p, &hv, live ? o->live : o->desired);
		}
	}
	snprintf(out, 17, "%016llx", (unsigned long long)hv);
}

/* --- the ring, through the Management API ---------------------------------- */

/* A host JSON node copied into the plugin's own tree. */
static int from_host(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_json *n,
		     struct cass_json *out, int depth)
{
	if (depth > CASS_JSON_MAX_DEPTH)
		return -1;
	size_t count = h->json_count(n);
	double num;
	const char *text;
	if (count > 0 || ((text = h->json_text(call, n)) != NULL && (text[0] == '{' || text[0] == '['))) {
		int is_object = count > 0 ? h->json_key(h->json_at(n, 0)) != NULL : text[0] == '{';
		out->type = is_object ? CASS_JSON_OBJECT : CASS_JSON_ARRAY;
		if (count == 0)
			return 0;
		if ((out->children = calloc(count, sizeof(*out->children))) == NULL)
			return -1;
		out->count = count;
		for (size_t i = 0; i < count; i++) {
			const struct keelson_json *c = h->json_at(n, i);
			if (is_object && (out->children[i].key = strdup(h->json_key(c))) == NULL)
				return -1;
			if (from_host(h, call, c, &out->children[i], depth + 1) != 0)
				return -1;
		}
		return 0;
	}
	if ((text = h->json_string(n)) != NULL) {
		out->type = CASS_JSON_STRING;
		return (out->text = strdup(text)) != NULL ? 0 : -1;
	}
	if (h->json_number(n, &num) == 0) {
		out->type = CASS_JSON_NUMBER;
		text = h->json_text(call, n);
		return text != NULL && (out->text = strdup(text)) != NULL ? 0 : -1;
	}
	int b = h->json_bool(n);
	out->type = b == 1 ? CASS_JSON_TRUE : b == 0 ? CASS_JSON_FALSE : CASS_JSON_NULL;
	return 0;
}

/* Every HTTP body is read here: with the host's parser when it has one
 * (host version 3), else with the plugin's own bounded reader
 * (cass_json.h); either way into the same tree. */
static int parse_body(const struct planner *p, const struct keelson_http_response *resp, struct cass_json **out,
		      char *why, size_t size)
{
	const struct keelson_host *h = p->h;
	if (!KEELSON_HOST_HAS(h, json_parse))
		return cass_json_parse(resp->body, resp->body_len, out, why, size);
	*out = NULL;
	const struct keelson_json *root = resp->body_len <= CASS_JSON_MAX_INPUT ?
		h->json_parse(p->call, resp->body, resp->body_len) : NULL;
	if (root == NULL) {
		snprintf(why, size, "not one JSON value of at most %u bytes", CASS_JSON_MAX_INPUT);
		return -1;
	}
	struct cass_json *tree = calloc(1, sizeof(*tree));
	if (tree == NULL || from_host(h, p->call, root, tree, 0) != 0) {
		cass_json_free(tree);
		snprintf(why, size, "too deep, or out of memory");
		return -1;
	}
	*out = tree;
	return 0;
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

/* GET /api/v0/metadata/endpoints on one pod: its gossip view. */
static void probe_view(struct planner *p, struct rack *r, struct pod *pod)
{
	pod->view_probed = 1;
	if (pod->terminating || pod->ip == NULL) {
		copy(pod->view_error, sizeof(pod->view_error), pod->terminating ? "terminating" : "no pod IP");
		return;
	}
	struct keelson_http_response resp = {0};
	if (p->h->http(p->call, KEELSON_PROXY_POD, r->ns, pod->name, p->port_text, "GET", "/api/v0/metadata/endpoints",
		       NULL, 10000, &resp) != 0) {
		fmt(pod->view_error, sizeof(pod->view_error), "GET /api/v0/metadata/endpoints: %s",
		    resp.error ? resp.error : "failed");
		return;
	}
	struct cass_json *root = NULL;
	char why[128];
	if (parse_body(p, &resp, &root, why, sizeof(why)) != 0) {
		fmt(pod->view_error, sizeof(pod->view_error), "endpoints answer is not JSON (%s)", why);
		return;
	}
	const struct cass_json *entity = cass_json_member(root, "entity");
	if (entity == NULL || entity->type != CASS_JSON_ARRAY || entity->count > 10000) {
		copy(pod->view_error, sizeof(pod->view_error), "endpoints answer has no \"entity\" list");
		cass_json_free(root);
		return;
	}
	pod->view = calloc(entity->count ? entity->count : 1, sizeof(*pod->view));
	if (pod->view == NULL) {
		copy(pod->view_error, sizeof(pod->view_error), "out of memory");
		cass_json_free(root);
		return;
	}
	for (size_t i = 0; i < entity->count; i++) {
		const struct cass_json *e = &entity->children[i];
		struct endpoint *ep = &pod->view[pod->view_count];
		const char *ip = cass_json_string(cass_json_member(e, "ENDPOINT_IP"));
		const char *status = cass_json_string(cass_json_member(e, "STATUS"));
		const char *alive = cass_json_string(cass_json_member(e, "IS_ALIVE"));
		if (ip == NULL || status == NULL || alive == NULL) {
			copy(pod->view_error, sizeof(pod->view_error), "endpoint entry without ENDPOINT_IP, STATUS or IS_ALIVE");
			cass_json_free(root);
			return;
		}
		copy(ep->ip, sizeof(ep->ip), ip);
		copy(ep->dc, sizeof(ep->dc), cass_json_string(cass_json_member(e, "DC")));
		copy(ep->rack, sizeof(ep->rack), cass_json_string(cass_json_member(e, "RACK")));
		/* "NORMAL,<token>", "LEAVING,...", "LEFT,...", "BOOT,...", "removed,..." */
		size_t k = strcspn(status, ",");
		snprintf(ep->status, sizeof(ep->status), "%.*s", (int)(k < 15 ? k : 15), status);
		ep->alive = strcmp(alive, "true") == 0;
		pod->view_count++;
	}
	cass_json_free(root);
	pod->view_ok = 1;
}

static void probe_ring(struct planner *p)
{
	if (p->ring_probed || !p->mgmt_port || p->preview)
		return;
	p->ring_probed = 1;
	for (size_t i = 0; i < p->nracks; i++)
		for (long o = 0; o < p->racks[i].pod_slots; o++)
			if (p->racks[i].pods[o].exists)
				probe_view(p, &p->racks[i], &p->racks[i].pods[o]);
}

static const struct endpoint *find_ep(const struct pod *viewer, const char *ip)
{
	for (size_t i = 0; ip != NULL && i < viewer->view_count; i++)
		if (strcmp(viewer->view[i].ip, ip) == 0)
			return &viewer->view[i];
	return NULL;
}

static enum node_state ep_state(const struct endpoint *e)
{
	if (strcmp(e->status, "LEFT") == 0 || strcmp(e->status, "removed") == 0)
		return NODE_LEFT;
	if (strcmp(e->status, "LEAVING") == 0)
		return NODE_UL;
	if (strcmp(e->status, "BOOT") == 0 || strcmp(e->status, "BOOT_REPLACE") == 0)
		return NODE_UJ;
	if (!e->alive)
		return NODE_DN;
	if (strcmp(e->status, "NORMAL") == 0)
		return NODE_UN;
	return NODE_DN; /* MOVING, hibernate...: not Up/Normal */
}

/* The node of `pod` as every other node sees it (its own view when it is
 * alone). The worst answer wins. */
static enum node_state node_state(struct planner *p, const struct pod *pod)
{
	probe_ring(p);
	int seen = 0;
	enum node_state worst = NODE_UN;
	static const int rank[] = {[NODE_UN] = 0, [NODE_ABSENT] = 1, [NODE_DN] = 2, [NODE_UJ] = 3, [NODE_UL] = 4,
				   [NODE_LEFT] = 5, [NODE_UNKNOWN] = 6};
	size_t pods_total = 0;
	for (size_t i = 0; i < p->nracks; i++)
		for (long o = 0; o < p->racks[i].pod_slots; o++)
			pods_total += p->racks[i].pods[o].exists;
	for (size_t i = 0; i < p->nracks; i++) {
		for (long o = 0; o < p->racks[i].pod_slots; o++) {
			const struct pod *v = &p->racks[i].pods[o];
			if (!v->exists || !v->view_ok || (v == pod && pods_total > 1) || v == p->ignore_view)
				continue;
			seen++;
			const struct endpoint *e = find_ep(v, pod->ip);
			enum node_state s = e != NULL ? ep_state(e) : NODE_ABSENT;
			if (rank[s] > rank[worst])
				worst = s;
		}
	}
	return seen ? worst : NODE_UNKNOWN;
}

/* Whether every node of the datacenter except `target` (NULL: none) is
 * Up/Normal in every view and every pod except it Ready. Otherwise 0 and
 * why in `why`. */
static int ring_check(struct planner *p, const struct pod *target, char *why, size_t size);

/* One schema version among the live nodes (GET /api/v1/ops/node/schema/
 * versions: {"<uuid>":[ips],"UNREACHABLE":[ips]}), asked of the first
 * node other than `target`: a restart during a schema change could leave
 * the restarted node disagreeing. 1 when so, else 0 and why. */
static int schema_agreement(struct planner *p, const struct pod *target, char *why, size_t size)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		for (long o = 0; o < r->pod_slots; o++) {
			struct pod *q = &r->pods[o];
			if (q == target || !q->exists)
				continue;
			struct keelson_http_response resp = {0};
			if (p->h->http(p->call, KEELSON_PROXY_POD, r->ns, q->name, p->port_text, "GET",
				       "/api/v1/ops/node/schema/versions", NULL, 10000, &resp) != 0) {
				fmt(why, size, "schema versions cannot be read from %s (%s)", q->name,
				    resp.error ? resp.error : "failed");
				return 0;
			}
			struct cass_json *root = NULL;
			char perr[128];
			if (parse_body(p, &resp, &root, perr, sizeof(perr)) != 0 || root->type != CASS_JSON_OBJECT) {
				fmt(why, size, "schema versions of %s are not a JSON object", q->name);
				cass_json_free(root);
				return 0;
			}
			size_t versions = 0;
			for (size_t k = 0; k < root->count; k++)
				versions += strcmp(root->children[k].key, "UNREACHABLE") != 0;
			cass_json_free(root);
			if (versions != 1) {
				fmt(why, size, "%zu schema versions in the ring as %s sees it (a schema change is "
				    "propagating)", versions, q->name);
				return 0;
			}
			return 1;
		}
	}
	return 1;
}

static int ring_healthy(struct planner *p, const struct pod *target, char *why, size_t size)
{
	p->ignore_view = target;
	int ok = ring_check(p, target, why, size);
	p->ignore_view = NULL;
	return ok;
}

static int ring_check(struct planner *p, const struct pod *target, char *why, size_t size)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		for (long o = 0; o < r->pod_slots; o++) {
			struct pod *q = &r->pods[o];
			if (q == target)
				continue;
			if (!q->exists) {
				fmt(why, size, "pod %s/%s-%ld does not exist", r->ns, r->name, o);
				return 0;
			}
			if (q->terminating || !q->ready) {
				fmt(why, size, "pod %s/%s is %s", r->ns, q->name, q->terminating ? "terminating" : "not Ready");
				return 0;
			}
		}
	}
	if (!p->mgmt_port)
		return 1;
	probe_ring(p);
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		for (long o = 0; o < r->pod_slots; o++) {
			struct pod *q = &r->pods[o];
			if (q == target)
				continue;
			if (!q->view_ok) {
				fmt(why, size, "the ring as %s sees it cannot be read (%s)", q->name, q->view_error);
				return 0;
			}
			const struct endpoint *self = find_ep(q, q->ip);
			if (self != NULL && self->dc[0] != '\0' && strcmp(self->dc, p->dc) != 0) {
				fmt(why, size, "%s reports datacenter %s, but the system manages datacenter %s", q->name,
				    self->dc, p->dc);
				return 0;
			}
			for (size_t k = 0; k < q->view_count; k++) {
				const struct endpoint *e = &q->view[k];
				if (strcmp(e->dc, p->dc) != 0 || (target != NULL && target->ip != NULL &&
								  strcmp(e->ip, target->ip) == 0))
					continue;
				enum node_state s = ep_state(e);
				if (s != NODE_UN && s != NODE_LEFT) {
					fmt(why, size, "%s sees node %s %s", q->name, e->ip, state_name(s));
					return 0;
				}
			}
			enum node_state s = node_state(p, q);
			if (s != NODE_UN) {
				fmt(why, size, "%s is %s in the ring", q->name, state_name(s));
				return 0;
			}
		}
	}
	return schema_agreement(p, target, why, size);
}

/* --- reading the racks --------------------------------------------------- */

static const struct keelson_view_object *find_object(const struct planner *p, const char *kind, const char *name)
{
	for (size_t i = 0; i < p->view->object_count; i++) {
		const struct keelson_view_object *o = &p->view->objects[i];
		if (strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0)
			return o;
	}
	return NULL;
}

static void analyse_rack(struct planner *p, struct rack *r)
{
	const struct keelson_host *h = p->h;
	const struct keelson_view_object *o = r->obj;
	r->ns = o->namespace_;
	r->name = o->name;
	const char *label = str_at(p, o->desired, "/spec/template/metadata/labels/cassandra.datastax.com~1rack");
	copy(r->rack_name, sizeof(r->rack_name), label != NULL ? label : o->name);
	r->desired = num_at(p, o->desired, "/spec/replicas", 1);
	const char *type = str_at(p, o->desired, "/spec/updateStrategy/type");
	r->on_delete = type != NULL && strcmp(type, "OnDelete") == 0;
	config_hash(p, r, 0, r->desired_hash);
	if (o->live == NULL) {
		r->live = -1;
		return;
	}
	r->live = num_at(p, o->live, "/spec/replicas", 1);
	r->partition = num_at(p, o->live, "/spec/updateStrategy/rollingUpdate/partition", 0);
	r->plan_partition = r->partition;
	r->started = str_at(p, o->live, "/metadata/annotations/" "cassandra.keelson.dev~1rack-started");
	if (p->preview) {
		config_hash(p, r, 1, r->live_hash);
	} else {
		copy(r->live_hash, sizeof(r->live_hash),
		     str_at(p, o->live, "/spec/template/metadata/annotations/cassandra.keelson.dev~1config-hash"));
		r->update_revision = str_at(p, o->live, "/status/updateRevision");
		long gen = num_at(p, o->live, "/metadata/generation", 0);
		long observed = num_at(p, o->live, "/status/observedGeneration", -1);
		r->observed = r->update_revision != NULL && observed >= gen;
	}
	int drifted = o->state != KEELSON_OBJECT_IN_SYNC;
	r->hash_pending = strcmp(r->desired_hash, r->live_hash) != 0;
	r->spec_pending = drifted && !subset(p, h->json_get(o->desired, "/spec/template"),
					     h->json_get(o->live, "/spec/template"));
	r->template_pending = r->hash_pending || r->spec_pending;
	r->vct_pending = drifted && !subset(p, h->json_get(o->desired, "/spec/volumeClaimTemplates"),
					    h->json_get(o->live, "/spec/volumeClaimTemplates"));
	static const char *const immutable[] = {"/spec/selector", "/spec/serviceName", "/spec/podManagementPolicy"};
	for (size_t i = 0; drifted && i < 3; i++)
		if (!subset(p, h->json_get(o->desired, immutable[i]), h->json_get(o->live, immutable[i])))
			fmt(r->immutable, sizeof(r->immutable), "%s", immutable[i] + 6);
	r->other_drift = drifted && !r->template_pending && !r->vct_pending && r->immutable[0] == '\0' &&
			 r->desired == r->live;
}

/* The pods matching the StatefulSet's own selector (matchLabels). */
static int list_pods(struct planner *p, const struct rack *r, const struct keelson_json **out)
{
	const struct keelson_host *h = p->h;
	char selector[1024] = "";
	const struct keelson_json *labels = h->json_get(r->obj->desired, "/spec/selector/matchLabels");
	size_t used = 0;
	for (size_t i = 0; i < h->json_count(labels); i++) {
		const struct keelson_json *l = h->json_at(labels, i);
		int n = snprintf(selector + used, sizeof(selector) - used, "%s%s=%s", used ? "," : "", h->json_key(l),
				 h->json_string(l) ? h->json_string(l) : "");
		if (n < 0 || (size_t)n >= sizeof(selector) - used)
			return -1;
		used += (size_t)n;
	}
	return h->live_list(p->call, "v1", "Pod", r->ns, used ? selector : NULL, out);
}

/* Pods of a rack by the StatefulSet's own selector. 0, or -1 when the
 * cache cannot answer. */
static int read_pods(struct planner *p, struct rack *r)
{
	const struct keelson_host *h = p->h;
	long slots = r->live > r->desired ? r->live : r->desired;
	if (slots > MAX_PODS)
		slots = MAX_PODS;
	r->pod_slots = r->live < 0 ? 0 : (r->live > MAX_PODS ? MAX_PODS : r->live);
	(void)slots;
	for (long i = 0; i < MAX_PODS; i++) {
		r->pods[i].ordinal = i;
		snprintf(r->pods[i].name, sizeof(r->pods[i].name), "%s-%ld", r->name, i);
		r->pods[i].grace = num_at(p, r->obj->desired, "/spec/template/spec/terminationGracePeriodSeconds", 30);
	}
	if (p->preview || r->live < 0)
		return 0;
	const struct keelson_json *list = NULL;
	if (list_pods(p, r, &list) != 0)
		return -1;
	for (size_t i = 0; i < h->json_count(list); i++) {
		const struct keelson_json *obj = h->json_at(list, i);
		const char *name = str_at(p, obj, "/metadata/name");
		long ord = name != NULL ? ordinal_of(r->name, name) : -1;
		if (ord < 0 || ord >= MAX_PODS)
			continue;
		struct pod *pod = &r->pods[ord];
		pod->exists = 1;
		pod->obj = obj;
		pod->uid = str_at(p, obj, "/metadata/uid");
		pod->ip = str_at(p, obj, "/status/podIP");
		pod->ready = is_ready(p, obj);
		pod->terminating = h->json_get(obj, "/metadata/deletionTimestamp") != NULL;
		const char *hash = str_at(p, obj, "/metadata/labels/controller-revision-hash");
		pod->current = hash != NULL && r->update_revision != NULL && strcmp(hash, r->update_revision) == 0;
		pod->grace = num_at(p, obj, "/spec/terminationGracePeriodSeconds", pod->grace);
		if (ord >= r->pod_slots && ord < r->live)
			r->pod_slots = ord + 1;
	}
	r->pods_read = 1;
	return 0;
}

/* --- objects the plugin applies ------------------------------------------- */

/* The repository's StatefulSet with `replicas` (the plugin changes the
 * replica count one node at a time). Nothing else is added: a field keelson
 * applies and the repository lacks would be drift; what the plugin adds
 * (configuration hash, partition) goes in with merge patches. Free with
 * free(). */
static char *sts_object(struct planner *p, const struct rack *r, long replicas, long partition)
{
	const char *text = p->h->json_text(p->call, r->obj->desired);
	struct cass_json *root = NULL;
	char why[128];
	if (text == NULL || cass_json_parse(text, strlen(text), &root, why, sizeof(why)) != 0)
		return NULL;
	int rc = cass_json_set_number(cass_json_object_at(root, "spec"), "replicas", replicas);
	if (partition >= 0)
		rc |= cass_json_set_number(cass_json_object_at(cass_json_object_at(cass_json_object_at(root, "spec"),
			"updateStrategy"), "rollingUpdate"), "partition", partition);
	char *out = rc == 0 ? cass_json_write(root) : NULL;
	cass_json_free(root);
	return out;
}

static int apply_sts_held(struct planner *p, const struct rack *r, long replicas, long partition,
			  const char *description, const char *gate);

static int apply_sts(struct planner *p, const struct rack *r, long replicas, const char *description)
{
	return apply_sts_held(p, r, replicas, -1, description, NULL);
}

static int apply_sts_held(struct planner *p, const struct rack *r, long replicas, long partition,
			  const char *description, const char *gate)
{
	char *json = sts_object(p, r, replicas, partition);
	if (json == NULL) {
		p->h->log(p->call, KEELSON_PLUGIN_LOG_ERROR, "cannot build StatefulSet %s/%s to apply (out of memory?)",
			  r->ns, r->name);
		return -1;
	}
	fmt(p->key, sizeof(p->key), "apply/%s/%s/%ld/%s", r->ns, r->name, replicas, r->desired_hash);
	struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = description, .object_json = json,
				 .key = p->key, .gate = gate};
	int rc = add(p, &s);
	free(json);
	return rc;
}

/* --- steps ------------------------------------------------------------------ */

static const char *pod_uid(const struct planner *p, const struct pod *pod)
{
	/* A preview has no pods: nothing runs the step. */
	return pod->uid != NULL ? pod->uid : (p->preview ? "(uid when the step runs)" : NULL);
}

/* Drain (when the node is up and the Management API is there), let the
 * controller update the pod (RollingUpdate), delete it with its own grace
 * period (the preStop drain), then wait for it to be back. */
static int restart_steps(struct planner *p, struct rack *r, struct pod *pod, int node_up, const char *gate)
{
	const char *uid = pod_uid(p, pod);
	if (uid == NULL) {
		fmt(p->reason, sizeof(p->reason), "pod %s/%s has no uid; it cannot be deleted safely", r->ns, pod->name);
		return blocked(p, p->reason);
	}
	if (p->mgmt_port && node_up) {
		fmt(p->text, sizeof(p->text), "drain %s/%s (POST /api/v0/ops/node/drain: flush memtables, stop "
		    "gossip and client traffic)", r->ns, pod->name);
		fmt(p->key, sizeof(p->key), "drain/%s/%s/%s", r->ns, pod->name, uid);
		struct keelson_step s = {.kind = KEELSON_STEP_HTTP, .description = p->text, .gate = gate, .key = p->key,
					 .api_version = "v1", .kind_name = "Pod", .namespace_ = r->ns,
					 .name = pod->name, .http_target = KEELSON_PROXY_POD, .http_port = p->port_text,
					 .http_method = "POST", .http_path = "/api/v0/ops/node/drain",
					 .timeout_ms = p->drain_ms};
		if (add(p, &s) != 0)
			return -1;
	}
	if (!r->on_delete && r->plan_partition > pod->ordinal) {
		char patch[160];
		snprintf(patch, sizeof(patch), "{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":%ld}}}}",
			 pod->ordinal);
		fmt(p->text, sizeof(p->text), "set the partition of StatefulSet %s/%s to %ld so %s is recreated from "
		    "the new template", r->ns, r->name, pod->ordinal, pod->name);
		fmt(p->key, sizeof(p->key), "partition/%s/%s/%ld", r->ns, r->name, pod->ordinal);
		struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = p->text, .gate = gate,
					 .key = p->key, .api_version = "apps/v1", .kind_name = "StatefulSet",
					 .namespace_ = r->ns, .name = r->name, .patch_type = KEELSON_PATCH_MERGE,
					 .patch = patch};
		if (add(p, &s) != 0)
			return -1;
		r->plan_partition = pod->ordinal;
	}
	fmt(p->text, sizeof(p->text), "delete pod %s/%s (out of date; its own grace period of %llds for the "
	    "preStop drain)", r->ns, pod->name, pod->grace);
	fmt(p->key, sizeof(p->key), "delete/%s/%s/%s", r->ns, pod->name, uid);
	struct keelson_step d = {.kind = KEELSON_STEP_DELETE_POD, .description = p->text, .gate = gate, .key = p->key,
				 .api_version = "v1", .kind_name = "Pod", .namespace_ = r->ns, .name = pod->name,
				 .grace_seconds = -1, .precondition_uid = uid};
	if (add(p, &d) != 0)
		return -1;
	fmt(p->text, sizeof(p->text), "wait until %s/%s is Ready%s", r->ns, pod->name,
	    p->mgmt_port ? " and Up/Normal in every other node's view" : " (" NOT_VERIFIED ")");
	fmt(p->key, sizeof(p->key), "restart/%s/%s/%s", r->ns, pod->name,
	    r->update_revision ? r->update_revision : "new");
	return wait_step(p, p->text, p->key, p->restart_ms, NULL);
}

static int restart_gate(const struct planner *p, char *gate, size_t size, const struct pod *pod)
{
	if (p->mgmt_port)
		fmt(gate, size, "every other node of datacenter %s Up/Normal in every node's view and its pod Ready; "
		    "%s itself Up/Normal or down (no other node down)", p->dc, pod->name);
	else
		fmt(gate, size, "every other pod of datacenter %s Ready%s", p->dc, ring_gate_suffix(p));
	return 0;
}

/* Restart order within a rack: a pod already down first (it is the one
 * node allowed down), then the highest ordinal. */
static size_t restart_order(struct planner *p, struct rack *r, struct pod **out, int all, long limit)
{
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (long o = limit - 1; o >= 0; o--) {
			struct pod *pod = &r->pods[o];
			if (!all && (!pod->exists || pod->current || pod->terminating))
				continue;
			int down = !p->preview && !pod->ready;
			if ((pass == 0) != down)
				continue;
			out[n++] = pod;
		}
	return n;
}

/* Quiet period before a rack (other than the first) starts: stamped on its
 * StatefulSet with keelson's clock, so it survives a restart of keelson. */
static int quiet_period(struct planner *p, struct rack *r, int *holding)
{
	*holding = 0;
	if (p->quiet_ms <= 0)
		return 0;
	fmt(p->key, sizeof(p->key), "rack-quiet/%s/%s/%s", r->ns, r->name, r->update_revision ? r->update_revision : "");
	fmt(p->text, sizeof(p->text), "wait the quiet period of %llds before restarting rack %s (StatefulSet %s/%s)",
	    p->quiet_ms / 1000, r->rack_name, r->ns, r->name);
	if (!acting_now(p))
		return wait_step(p, p->text, p->key, p->quiet_ms + p->restart_ms, NULL);
	long long now = p->h->now_ms(p->call);
	const char *rev = r->update_revision;
	size_t rl = strlen(rev);
	long long since = -1;
	if (r->started != NULL && strncmp(r->started, rev, rl) == 0 && r->started[rl] == '@')
		since = strtoll(r->started + rl + 1, NULL, 10);
	if (since < 0 || since > now + 60000) {
		char patch[512];
		snprintf(patch, sizeof(patch), "{\"metadata\":{\"annotations\":{\"%s\":\"%s@%lld\"}}}", ANN_RACK_STARTED,
			 rev, now);
		char desc[MAX_TEXT];
		fmt(desc, sizeof(desc), "start the quiet period of rack %s (annotate StatefulSet %s/%s)", r->rack_name,
		    r->ns, r->name);
		char key[512];
		fmt(key, sizeof(key), "rack-start/%s/%s/%s", r->ns, r->name, rev);
		struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = desc, .key = key,
					 .api_version = "apps/v1", .kind_name = "StatefulSet", .namespace_ = r->ns,
					 .name = r->name, .patch_type = KEELSON_PATCH_MERGE, .patch = patch};
		*holding = 1;
		if (add(p, &s) != 0)
			return -1;
		return wait_step(p, p->text, p->key, p->quiet_ms + p->restart_ms, NULL);
	}
	if (now < since + p->quiet_ms) {
		*holding = 1;
		return wait_step(p, p->text, p->key, p->quiet_ms + p->restart_ms, NULL);
	}
	return 0;
}

/* --- phases ------------------------------------------------------------------ */

/* Apply order of the objects around the StatefulSets, as keelson's own
 * generic path does it (a namespace before what lives in it). */
/* Objects other than the StatefulSets, in the view's order: the host
 * sorts it in apply order (Namespace, CRDs, RBAC, ConfigMaps and Secrets,
 * Services, PVCs, workloads, the rest). */
static int phase_other_objects(struct planner *p)
{
	for (size_t i = 0; i < p->view->object_count; i++) {
		const struct keelson_view_object *o = &p->view->objects[i];
		if (o->state == KEELSON_OBJECT_IN_SYNC || strcmp(o->kind, "StatefulSet") == 0)
			continue;
		fmt(p->text, sizeof(p->text), "apply %s %s%s%s (%s)", o->kind, o->namespace_, o->namespace_[0] ? "/" : "",
		    o->name, o->state == KEELSON_OBJECT_MISSING ? "missing" : "changed");
		struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = p->text, .object = o->desired};
		if (add(p, &s) != 0)
			return -1;
	}
	return 0;
}

static int phase_refusals(struct planner *p)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0)
			continue;
		if (r->immutable[0] != '\0') {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s (%s:%u) changes %s, which Kubernetes does not "
			    "allow to change; revert it, or replace the rack with a new StatefulSet", r->ns, r->name,
			    r->obj->file, r->obj->line, r->immutable);
			return blocked(p, p->reason);
		}
		if (r->vct_pending && !p->allow_volume) {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s (%s:%u) changes volumeClaimTemplates, which "
			    "Kubernetes does not allow on a live StatefulSet. Safe sequence: resize each PVC of the "
			    "rack (storage class with allowVolumeExpansion), then re-create the StatefulSet with "
			    "--cascade=orphan so the pods keep running, then restart the nodes one at a time if the "
			    "file system needs it. Set spec.parameters.allowVolumeExpansion: true to let keelson carry "
			    "it out, or revert the change", r->ns, r->name, r->obj->file, r->obj->line);
			return blocked(p, p->reason);
		}
	}
	return 0;
}

/* "500Gi", "1.5Ti", "10G", "1000" -> bytes; -1 when not a quantity. */
static double quantity(const char *q)
{
	static const struct { const char *suffix; double factor; } units[] = {
		{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
		{"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9},
		{"T", 1e12}, {"P", 1e15}, {"E", 1e18}, {"", 1.0},
	};
	if (q == NULL || *q == '\0' || strlen(q) > 64)
		return -1;
	char *end;
	double v = strtod(q, &end);
	if (end == q || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return v * units[i].factor;
	return -1;
}

/* A larger disk (allowVolumeExpansion): every PVC of the rack is resized in
 * place (online expansion; one PATCH per PVC), then the StatefulSet is
 * deleted with propagation Orphan (host version 4; older hosts ask a
 * person) and phase_create re-creates it around its running pods. Only
 * storage requests may grow. */
static int phase_volumes(struct planner *p)
{
	const struct keelson_host *h = p->h;
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0 || !r->vct_pending || !p->allow_volume)
			continue;
		const struct keelson_json *dv = h->json_get(r->obj->desired, "/spec/volumeClaimTemplates");
		const struct keelson_json *lv = h->json_get(r->obj->live, "/spec/volumeClaimTemplates");
		if (h->json_count(dv) != h->json_count(lv)) {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s (%s:%u) adds or removes volume claim "
			    "templates; only a larger storage request can be carried out. Revert it", r->ns, r->name,
			    r->obj->file, r->obj->line);
			return blocked(p, p->reason);
		}
		for (size_t k = 0; k < h->json_count(dv); k++) {
			const struct keelson_json *d = h->json_at(dv, k), *l = h->json_at(lv, k);
			const char *vname = str_at(p, d, "/metadata/name");
			const char *want = str_at(p, d, "/spec/resources/requests/storage");
			const char *had = str_at(p, l, "/spec/resources/requests/storage");
			static const char *const fixed[] = {"/metadata/name", "/spec/accessModes", "/spec/storageClassName",
							    "/spec/volumeMode", "/spec/selector"};
			for (size_t f = 0; f < 5; f++)
				if (!subset(p, h->json_get(d, fixed[f]), h->json_get(l, fixed[f]))) {
					fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s (%s:%u) changes %s of volume "
					    "claim template %s; only a larger storage request can be carried out. "
					    "Revert it", r->ns, r->name, r->obj->file, r->obj->line, fixed[f] + 1,
					    vname ? vname : "?");
					return blocked(p, p->reason);
				}
			double w = quantity(want), o = quantity(had);
			if (vname == NULL || w < 0 || o < 0 || w < o) {
				fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s (%s:%u): volume claim template %s asks "
				    "for storage %s instead of %s; a volume can only grow. Revert it", r->ns, r->name,
				    r->obj->file, r->obj->line, vname ? vname : "?", want ? want : "(none)",
				    had ? had : "(none)");
				return blocked(p, p->reason);
			}
			if (w == o)
				continue;
			for (long ord = 0; ord < r->live && ord < MAX_PODS; ord++) {
				char pvc[512];
				snprintf(pvc, sizeof(pvc), "%s-%s-%ld", vname, r->name, ord);
				if (!p->preview) {
					const struct keelson_json *obj = NULL;
					int rc = h->live_get(p->call, "v1", "PersistentVolumeClaim", r->ns, pvc, &obj);
					if (rc == 1)
						continue; /* not created yet: it gets the new size */
					if (rc != 0) {
						fmt(p->text, sizeof(p->text), "wait: PersistentVolumeClaim %s/%s cannot be read",
						    r->ns, pvc);
						fmt(p->key, sizeof(p->key), "read-pvc/%s/%s", r->ns, pvc);
						return wait_step(p, p->text, p->key, p->restart_ms, NULL);
					}
					double now_size = quantity(str_at(p, obj, "/spec/resources/requests/storage"));
					if (now_size >= w)
						continue;
				}
				char patch[256];
				snprintf(patch, sizeof(patch), "{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"%s\"}}}}",
					 want);
				fmt(p->text, sizeof(p->text), "resize PersistentVolumeClaim %s/%s to %s (online expansion; "
				    "the pod keeps running)", r->ns, pvc, want);
				fmt(p->key, sizeof(p->key), "resize/%s/%s/%s", r->ns, pvc, want);
				struct keelson_step st = {.kind = KEELSON_STEP_PATCH, .description = p->text, .key = p->key,
							  .api_version = "v1", .kind_name = "PersistentVolumeClaim",
							  .namespace_ = r->ns, .name = pvc, .patch_type = KEELSON_PATCH_MERGE,
							  .patch = patch};
				if (add(p, &st) != 0)
					return -1;
			}
		}
		if (p->h->version < 4) {
			/* An older host has no DELETE step: a person does it. */
			fmt(p->reason, sizeof(p->reason), "the PVCs of StatefulSet %s/%s are resized; Kubernetes does "
			    "not let a StatefulSet's volumeClaimTemplates change, so re-create it around its running "
			    "pods: `kubectl delete statefulset %s -n %s --cascade=orphan`, then delete ConfigMap "
			    "keelson-rollout-%s-%s in keelson's namespace (this keelson is too old to do it itself). "
			    "keelson then re-creates it from the repository, adopting the pods as they are (partition "
			    "held), and restarts them one at a time", r->ns, r->name, r->name, r->ns, p->view->cluster,
			    p->view->system);
			return blocked(p, p->reason);
		}
		if (!p->preview && h->json_get(r->obj->live, "/metadata/deletionTimestamp") != NULL) {
			fmt(p->text, sizeof(p->text), "wait for StatefulSet %s/%s to be deleted (orphaning: its pods and "
			    "PVCs stay)", r->ns, r->name);
			fmt(p->key, sizeof(p->key), "orphan-delete/%s/%s", r->ns, r->name);
			return wait_step(p, p->text, p->key, p->restart_ms, NULL);
		}
		const char *uid = str_at(p, r->obj->live, "/metadata/uid");
		if (uid == NULL)
			uid = p->preview ? "(uid when the step runs)" : NULL;
		if (uid == NULL) {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s has no metadata.uid; keelson deletes only "
			    "the incarnation it observed, so it cannot re-create it for the new volume claim templates",
			    r->ns, r->name);
			return blocked(p, p->reason);
		}
		/* Kubernetes refuses a change of volumeClaimTemplates: the
		 * StatefulSet is deleted without its pods (Orphan), then
		 * phase_create re-creates it around them with the partition
		 * holding them, and the roll restarts them one at a time. */
		fmt(p->text, sizeof(p->text), "delete StatefulSet %s/%s keeping its pods and PVCs (propagation Orphan), "
		    "to re-create it with the new volume claim templates", r->ns, r->name);
		fmt(p->gate, sizeof(p->gate), "every PVC of the rack resized; only StatefulSet uid %s", uid);
		fmt(p->key, sizeof(p->key), "orphan-delete/%s/%s/%s", r->ns, r->name, uid);
		struct keelson_step del = {.kind = KEELSON_STEP_DELETE, .description = p->text, .gate = p->gate,
					   .key = p->key, .api_version = "apps/v1", .kind_name = "StatefulSet",
					   .namespace_ = r->ns, .name = r->name, .precondition_uid = uid,
					   .propagation = "Orphan"};
		return add(p, &del);
	}
	return 0;
}

static int phase_create(struct planner *p)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live >= 0)
			continue;
		/* Pods left by `kubectl delete --cascade=orphan` (re-creating a
		 * StatefulSet to change its volume claim templates): the new one
		 * adopts them as they are, with as many replicas and its partition
		 * holding them all. Created with 0 replicas, it would delete them. */
		long orphans = 0;
		if (!p->preview) {
			const struct keelson_json *list = NULL;
			if (list_pods(p, r, &list) != 0) {
				fmt(p->text, sizeof(p->text), "wait: the pods of StatefulSet %s/%s cannot be read before "
				    "creating it (gate fails closed)", r->ns, r->name);
				fmt(p->key, sizeof(p->key), "read-pods/%s/%s", r->ns, r->name);
				return wait_step(p, p->text, p->key, p->restart_ms, NULL);
			}
			for (size_t k = 0; k < p->h->json_count(list); k++) {
				const char *name = str_at(p, p->h->json_at(list, k), "/metadata/name");
				long ord = name != NULL ? ordinal_of(r->name, name) : -1;
				if (ord >= orphans)
					orphans = ord + 1;
			}
		}
		if (orphans > 0) {
			fmt(p->text, sizeof(p->text), "re-create StatefulSet %s/%s (rack %s) with %ld replicas around its "
			    "%ld running pods, adopted as they are%s", r->ns, r->name, r->rack_name, orphans, orphans,
			    r->on_delete ? "" : " (partition holds them)");
			if (apply_sts_held(p, r, orphans, r->on_delete ? -1 : orphans, p->text, NULL) != 0)
				return -1;
			continue;
		}
		/* Created empty: nodes are then added one at a time. */
		fmt(p->text, sizeof(p->text), "create StatefulSet %s/%s (rack %s) with 0 replicas; its %ld nodes join "
		    "one at a time", r->ns, r->name, r->rack_name, r->desired);
		if (apply_sts(p, r, 0, p->text) != 0)
			return -1;
	}
	return 0;
}

/* A pod whose restart or join is under way: wait for it before anything
 * else. 1 when a wait was added. */
static int phase_in_flight(struct planner *p)
{
	if (p->preview)
		return 0;
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0)
			continue;
		if (!r->observed) {
			fmt(p->text, sizeof(p->text), "wait for the StatefulSet controller to observe %s/%s", r->ns,
			    r->name);
			fmt(p->key, sizeof(p->key), "observe/%s/%s", r->ns, r->name);
			return wait_step(p, p->text, p->key, p->restart_ms, NULL) != 0 ? -1 : 1;
		}
		/* Nodes above the rack's share are the scale-down's business. */
		for (long o = 0; o < r->pod_slots && o < r->desired; o++) {
			struct pod *pod = &r->pods[o];
			int settling = !pod->exists || pod->terminating || (pod->current && !pod->ready);
			enum node_state s = NODE_UN;
			if (pod->exists && !pod->terminating && pod->current && p->mgmt_port) {
				s = node_state(p, pod);
				settling |= s != NODE_UN;
			}
			if (!settling)
				continue;
			const char *what = !pod->exists ? "to be created" : pod->terminating ? "to terminate and come back" :
					   !pod->ready ? "to become Ready" : "to be Up/Normal in every node's view";
			int show = p->mgmt_port && pod->exists && pod->current;
			fmt(p->text, sizeof(p->text), "wait for %s/%s %s (now %s%s%s); no other node is touched until "
			    "it is %s%s", r->ns, pod->name, what, !pod->exists ? "missing" : pod->ready ? "Ready" : "not Ready",
			    show ? ", " : "", show ? state_name(s) : "",
			    p->mgmt_port ? "Ready and Up/Normal" : "Ready", p->mgmt_port ? "" : "; " NOT_VERIFIED);
			fmt(p->key, sizeof(p->key), "settle/%s/%s/%s", r->ns, pod->name, r->update_revision);
			long long timeout = s == NODE_UJ ? p->streaming_ms : p->restart_ms;
			return wait_step(p, p->text, p->key, timeout, NULL) != 0 ? -1 : 1;
		}
	}
	return 0;
}

/* The largest replication factor of any keyspace in the datacenter, from
 * the Management API of `pod`. 0 and *rf, or -1 with why. */
static int max_replication(struct planner *p, struct rack *r, const struct pod *pod, long *rf, char *ks_out,
			   size_t ks_size, char *why, size_t size)
{
	struct keelson_http_response resp = {0};
	if (p->h->http(p->call, KEELSON_PROXY_POD, r->ns, pod->name, p->port_text, "GET", "/api/v0/ops/keyspace", NULL,
		       10000, &resp) != 0) {
		fmt(why, size, "GET /api/v0/ops/keyspace on %s: %s", pod->name, resp.error ? resp.error : "failed");
		return -1;
	}
	struct cass_json *list = NULL;
	char perr[128];
	if (parse_body(p, &resp, &list, perr, sizeof(perr)) != 0 || list->type != CASS_JSON_ARRAY ||
	    list->count > MAX_KEYSPACES) {
		fmt(why, size, "keyspace list of %s is not a JSON list%s%s", pod->name, list ? "" : ": ", list ? "" : perr);
		cass_json_free(list);
		return -1;
	}
	*rf = 0;
	int rc = 0;
	for (size_t i = 0; i < list->count && rc == 0; i++) {
		const char *ks = cass_json_string(&list->children[i]);
		char path[384];
		if (ks == NULL || strlen(ks) > 200 || strspn(ks, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							     "0123456789_") != strlen(ks)) {
			fmt(why, size, "keyspace list of %s has an unexpected entry", pod->name);
			rc = -1;
			break;
		}
		snprintf(path, sizeof(path), "/api/v0/ops/keyspace/replication?keyspaceName=%s", ks);
		struct keelson_http_response rr = {0};
		if (p->h->http(p->call, KEELSON_PROXY_POD, r->ns, pod->name, p->port_text, "GET", path, NULL, 10000,
			       &rr) != 0) {
			fmt(why, size, "GET %s on %s: %s", path, pod->name, rr.error ? rr.error : "failed");
			rc = -1;
			break;
		}
		struct cass_json *map = NULL;
		if (parse_body(p, &rr, &map, perr, sizeof(perr)) != 0 || map->type != CASS_JSON_OBJECT) {
			fmt(why, size, "replication of keyspace %s is not a JSON object", ks);
			cass_json_free(map);
			rc = -1;
			break;
		}
		const char *cls = cass_json_string(cass_json_member(map, "class"));
		const char *value = NULL;
		if (cls != NULL && strstr(cls, "NetworkTopologyStrategy") != NULL)
			value = cass_json_string(cass_json_member(map, p->dc));
		else if (cls != NULL && strstr(cls, "SimpleStrategy") != NULL)
			value = cass_json_string(cass_json_member(map, "replication_factor"));
		else if (cls == NULL) {
			fmt(why, size, "replication of keyspace %s has no class", ks);
			rc = -1;
		}
		if (value != NULL) {
			/* "3", or "3/1" with transient replicas: the full count. */
			long v = strtol(value, NULL, 10);
			if (v > *rf) {
				*rf = v;
				copy(ks_out, ks_size, ks);
			}
		}
		cass_json_free(map);
	}
	cass_json_free(list);
	return rc;
}

/* Nodes of the datacenter still in the ring (not LEFT), as `pod` sees it. */
static long dc_members(const struct planner *p, const struct pod *pod)
{
	long n = 0;
	for (size_t i = 0; i < pod->view_count; i++)
		if (strcmp(pod->view[i].dc, p->dc) == 0 && ep_state(&pod->view[i]) != NODE_LEFT)
			n++;
	return n;
}

static int phase_scale_down(struct planner *p)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0 || r->live <= r->desired)
			continue;
		for (long target = r->live; target > r->desired; target--) {
			long ord = target - 1;
			struct pod *pod = &r->pods[ord < MAX_PODS ? ord : MAX_PODS - 1];
			if (!p->mgmt_port) {
				fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s goes from %ld to %ld replicas, but "
				    "without managementApiPort keelson can neither decommission %s nor see it leave "
				    "the ring; decommission it by hand (nodetool decommission), or configure the "
				    "Management API", r->ns, r->name, r->live, r->desired, pod->name);
				return blocked(p, p->reason);
			}
			char gate[MAX_TEXT];
			fmt(gate, sizeof(gate), "every node of datacenter %s Up/Normal; after it leaves, at least as "
			    "many nodes remain as the largest replication factor of any keyspace", p->dc);
			enum node_state s = acting_now(p) ? node_state(p, pod) : NODE_UN;
			if (acting_now(p) && s == NODE_LEFT) {
				fmt(p->text, sizeof(p->text), "shrink StatefulSet %s/%s to %ld replicas (%s has LEFT the "
				    "ring)", r->ns, r->name, ord, pod->name);
				if (apply_sts(p, r, ord, p->text) != 0)
					return -1;
				continue;
			}
			if (acting_now(p) && s == NODE_UL) {
				fmt(p->text, sizeof(p->text), "wait until %s/%s has LEFT the ring (decommissioning: UL)",
				    r->ns, pod->name);
				fmt(p->key, sizeof(p->key), "decommission/%s/%s/%s", r->ns, pod->name,
				    pod->uid ? pod->uid : "");
				if (wait_step(p, p->text, p->key, p->streaming_ms, NULL) != 0)
					return -1;
			} else if (acting_now(p)) {
				char why[MAX_TEXT] = "";
				int ok = s == NODE_UN && ring_healthy(p, NULL, why, sizeof(why));
				if (s != NODE_UN && why[0] == '\0')
					fmt(why, sizeof(why), "%s is %s", pod->name, state_name(s));
				if (!ok) {
					fmt(p->text, sizeof(p->text), "wait until the ring is healthy before "
					    "decommissioning %s/%s: %s", r->ns, pod->name, why);
					fmt(p->key, sizeof(p->key), "gate-decommission/%s/%s/%s", r->ns, pod->name,
					    pod->uid ? pod->uid : "");
					p->scale_down_waits = 1;
					return wait_step(p, p->text, p->key, p->restart_ms, gate);
				}
				long rf = 0;
				char ks[256] = "";
				if (max_replication(p, r, pod, &rf, ks, sizeof(ks), why, sizeof(why)) != 0) {
					fmt(p->text, sizeof(p->text), "wait: replication factors cannot be read before "
					    "decommissioning %s/%s (%s)", r->ns, pod->name, why);
					fmt(p->key, sizeof(p->key), "gate-decommission/%s/%s/%s", r->ns, pod->name,
					    pod->uid ? pod->uid : "");
					p->scale_down_waits = 1;
					return wait_step(p, p->text, p->key, p->restart_ms, gate);
				}
				long members = dc_members(p, pod);
				if (members - 1 < rf) {
					fmt(p->reason, sizeof(p->reason), "refusing to decommission %s/%s: datacenter %s "
					    "would keep %ld nodes, fewer than the replication factor %ld of keyspace "
					    "%s. Lower that keyspace's replication factor in %s first (ALTER KEYSPACE), "
					    "or keep StatefulSet %s at %ld replicas (%s:%u)", r->ns, pod->name, p->dc,
					    members - 1, rf, ks, p->dc, r->name, r->live, r->obj->file, r->obj->line);
					return blocked(p, p->reason);
				}
				fmt(gate, sizeof(gate), "every node of datacenter %s Up/Normal; %ld nodes remain, "
				    "replication factor at most %ld (keyspace %s)", p->dc, members - 1, rf,
				    ks[0] ? ks : "-");
			}
			if (s != NODE_UL) {
				fmt(p->text, sizeof(p->text), "decommission %s/%s (POST /api/v1/ops/node/decommission"
				    "?force=false: it streams its data to the other nodes, then LEFT)", r->ns, pod->name);
				fmt(p->key, sizeof(p->key), "decommission-start/%s/%s/%s", r->ns, pod->name,
				    pod_uid(p, pod) ? pod_uid(p, pod) : "");
				struct keelson_step s2 = {.kind = KEELSON_STEP_HTTP, .description = p->text, .gate = gate,
							  .key = p->key, .api_version = "v1", .kind_name = "Pod",
							  .namespace_ = r->ns, .name = pod->name,
							  .http_target = KEELSON_PROXY_POD, .http_port = p->port_text,
							  .http_method = "POST",
							  .http_path = "/api/v1/ops/node/decommission?force=false",
							  .timeout_ms = 60000};
				if (add(p, &s2) != 0)
					return -1;
				fmt(p->text, sizeof(p->text), "wait until %s/%s has LEFT the ring", r->ns, pod->name);
				fmt(p->key, sizeof(p->key), "decommission/%s/%s/%s", r->ns, pod->name,
				    pod->uid ? pod->uid : "");
				if (wait_step(p, p->text, p->key, p->streaming_ms, NULL) != 0)
					return -1;
			}
			fmt(p->text, sizeof(p->text), "shrink StatefulSet %s/%s to %ld replicas", r->ns, r->name, ord);
			if (apply_sts(p, r, ord, p->text) != 0)
				return -1;
		}
	}
	return 0;
}

/* Before a new pod template reaches a rack: hold its pods (RollingUpdate:
 * partition = replicas, so the controller replaces none by itself), record
 * the configuration hash in the template, then apply the repository's
 * template. Nothing restarts yet. */
static int hold_steps(struct planner *p, struct rack *r, long replicas)
{
	int hold = !r->on_delete && r->plan_partition < replicas;
	if (hold || r->hash_pending) {
		char patch[512], part[128] = "", ann[256] = "";
		if (hold)
			snprintf(part, sizeof(part), "\"updateStrategy\":{\"rollingUpdate\":{\"partition\":%ld}}", replicas);
		if (r->hash_pending)
			snprintf(ann, sizeof(ann), "\"template\":{\"metadata\":{\"annotations\":{\"%s\":\"%s\"}}}",
				 ANN_CONFIG_HASH, r->desired_hash);
		snprintf(patch, sizeof(patch), "{\"spec\":{%s%s%s}}", part, hold && r->hash_pending ? "," : "", ann);
		fmt(p->text, sizeof(p->text), "%s%s%s StatefulSet %s/%s (rack %s)%s",
		    hold ? "hold the pods of" : "", hold && r->hash_pending ? " and " : "",
		    r->hash_pending ? "record the configuration hash in" : "", r->ns, r->name, r->rack_name,
		    hold ? ": partition = replicas, so no pod restarts until keelson lets it" : "");
		fmt(p->key, sizeof(p->key), "hold/%s/%s/%ld/%s", r->ns, r->name, replicas, r->desired_hash);
		struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = p->text, .key = p->key,
					 .api_version = "apps/v1", .kind_name = "StatefulSet", .namespace_ = r->ns,
					 .name = r->name, .patch_type = KEELSON_PATCH_MERGE, .patch = patch};
		if (add(p, &s) != 0)
			return -1;
		if (hold)
			r->plan_partition = replicas;
	}
	if (r->spec_pending) {
		fmt(p->text, sizeof(p->text), "apply StatefulSet %s/%s (rack %s): new pod template%s", r->ns, r->name,
		    r->rack_name, r->on_delete ? " (OnDelete: no pod restarts by itself)" : "");
		if (apply_sts(p, r, replicas, p->text) != 0)
			return -1;
	}
	return 0;
}

/* A StatefulSet whose new template is not applied yet is held first
 * (RollingUpdate), so that no other step (a shrink applies the
 * repository's StatefulSet) lets the controller restart pods on its own. */
static int phase_hold(struct planner *p)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live <= 0 || !r->spec_pending || r->on_delete || r->plan_partition >= r->live)
			continue;
		char patch[160];
		snprintf(patch, sizeof(patch), "{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":%ld}}}}",
			 r->live);
		fmt(p->text, sizeof(p->text), "hold the pods of StatefulSet %s/%s (rack %s): partition = replicas, so no "
		    "pod restarts until keelson lets it", r->ns, r->name, r->rack_name);
		fmt(p->key, sizeof(p->key), "hold/%s/%s/%ld", r->ns, r->name, r->live);
		struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = p->text, .key = p->key,
					 .api_version = "apps/v1", .kind_name = "StatefulSet", .namespace_ = r->ns,
					 .name = r->name, .patch_type = KEELSON_PATCH_MERGE, .patch = patch};
		if (add(p, &s) != 0)
			return -1;
		r->plan_partition = r->live;
	}
	return 0;
}

static int phase_roll(struct planner *p)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0)
			continue;
		long replicas = r->live > r->desired ? r->desired : r->live;
		struct pod *order[MAX_PODS];
		size_t n;
		if (r->template_pending) {
			if (hold_steps(p, r, replicas) != 0)
				return -1;
			if (i > 0) {
				int holding;
				if (quiet_period(p, r, &holding) != 0)
					return -1;
			}
			n = restart_order(p, r, order, 1, replicas);
		} else {
			/* Nodes above the rack's share leave instead (scale-down). */
			n = restart_order(p, r, order, 0, r->pod_slots < r->desired ? r->pod_slots : r->desired);
			if (n == 0)
				continue;
			int started = 0;
			for (long o = 0; o < r->pod_slots; o++)
				started |= r->pods[o].exists && r->pods[o].current;
			if (i > 0 && !started) {
				int holding;
				if (quiet_period(p, r, &holding) != 0)
					return -1;
			}
		}
		for (size_t k = 0; k < n; k++) {
			struct pod *pod = order[k];
			char gate[MAX_TEXT];
			restart_gate(p, gate, sizeof(gate), pod);
			int node_up = 1;
			if (acting_now(p)) {
				char why[MAX_TEXT];
				enum node_state s = p->mgmt_port ? node_state(p, pod) : NODE_UN;
				int ok = ring_healthy(p, pod, why, sizeof(why));
				if (ok && (s == NODE_UJ || s == NODE_UL || s == NODE_LEFT || s == NODE_UNKNOWN)) {
					ok = 0;
					fmt(why, sizeof(why), "%s itself is %s", pod->name, state_name(s));
				}
				if (!ok) {
					fmt(p->text, sizeof(p->text), "wait before restarting %s/%s: %s%s", r->ns, pod->name,
					    why, ring_gate_suffix(p));
					fmt(p->key, sizeof(p->key), "gate/%s/%s/%s", r->ns, pod->name,
					    pod->uid ? pod->uid : "");
					if (wait_step(p, p->text, p->key, p->restart_ms, gate) != 0)
						return -1;
				}
				node_up = pod->ready && (s == NODE_UN);
			} else if (!p->preview) {
				node_up = pod->ready;
			}
			if (restart_steps(p, r, pod, node_up, gate) != 0)
				return -1;
		}
	}
	return 0;
}

static int phase_scale_up(struct planner *p)
{
	long added[MAX_RACKS] = {0};
	for (;;) {
		struct rack *pick = NULL;
		size_t pick_i = 0;
		for (size_t i = 0; i < p->nracks; i++) {
			struct rack *r = &p->racks[i];
			long have = (r->live < 0 ? 0 : r->live) + added[i];
			if (have >= r->desired)
				continue;
			if (pick == NULL || have < (pick->live < 0 ? 0 : pick->live) + added[pick_i]) {
				pick = r;
				pick_i = i;
			}
		}
		if (pick == NULL)
			return 0;
		struct rack *r = pick;
		long have = (r->live < 0 ? 0 : r->live) + added[pick_i];
		char gate[MAX_TEXT];
		fmt(gate, sizeof(gate), "every node of datacenter %s Up/Normal and its pod Ready, none joining%s", p->dc,
		    ring_gate_suffix(p));
		if (acting_now(p)) {
			char why[MAX_TEXT];
			if (!ring_healthy(p, NULL, why, sizeof(why))) {
				fmt(p->text, sizeof(p->text), "wait before adding node %s/%s-%ld: %s", r->ns, r->name, have,
				    why);
				fmt(p->key, sizeof(p->key), "gate-join/%s/%s-%ld", r->ns, r->name, have);
				if (wait_step(p, p->text, p->key, p->restart_ms, gate) != 0)
					return -1;
			}
		}
		fmt(p->text, sizeof(p->text), "scale StatefulSet %s/%s to %ld replicas: %s-%ld joins the ring (the only "
		    "node joining)", r->ns, r->name, have + 1, r->name, have);
		if (apply_sts_held(p, r, have + 1, -1, p->text, gate) != 0)
			return -1;
		fmt(p->text, sizeof(p->text), "wait until %s/%s-%ld has joined (UJ to UN) and is Ready%s", r->ns, r->name,
		    have, ring_gate_suffix(p));
		fmt(p->key, sizeof(p->key), "join/%s/%s-%ld", r->ns, r->name, have);
		if (wait_step(p, p->text, p->key, p->streaming_ms, NULL) != 0)
			return -1;
		added[pick_i]++;
		if (p->nsteps > 4 * (size_t)MAX_PODS)
			return 0;
	}
}

static int phase_other_drift(struct planner *p)
{
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0 || !r->other_drift)
			continue;
		fmt(p->text, sizeof(p->text), "apply StatefulSet %s/%s (settings other than pods and replicas)", r->ns,
		    r->name);
		if (apply_sts(p, r, r->live, p->text) != 0)
			return -1;
	}
	return 0;
}

static int phase_settle(struct planner *p)
{
	if (!acting_now(p) || !p->mgmt_port)
		return 0;
	char why[MAX_TEXT];
	if (ring_healthy(p, NULL, why, sizeof(why)))
		return 0;
	fmt(p->text, sizeof(p->text), "wait until every node of datacenter %s is Up/Normal: %s", p->dc, why);
	fmt(p->key, sizeof(p->key), "ring/%s", p->dc);
	return wait_step(p, p->text, p->key, p->restart_ms, NULL);
}

/* The ordinal of PVC `pvc` of StatefulSet `sts` for claim template `vct`
 * ("<vct>-<sts>-<ordinal>"), or -1. */
static long pvc_ordinal(const char *pvc, const char *vct, const char *sts)
{
	size_t lv = strlen(vct), ls = strlen(sts);
	if (strncmp(pvc, vct, lv) != 0 || pvc[lv] != '-' || strncmp(pvc + lv + 1, sts, ls) != 0 ||
	    pvc[lv + 1 + ls] != '-')
		return -1;
	const char *digits = pvc + lv + ls + 2;
	if (*digits == '\0' || strlen(digits) > 6 || strspn(digits, "0123456789") != strlen(digits))
		return -1;
	return strtol(digits, NULL, 10);
}

/* Whether every node's view of the ring lists exactly as many members of
 * the datacenter (not LEFT) as there are pods: then no node whose pod was
 * removed is still in the ring (it LEFT). 0 and why otherwise (a view
 * that cannot be read counts as "no"). */
static int ring_matches_pods(struct planner *p, char *why, size_t size)
{
	probe_ring(p);
	long pods = 0;
	for (size_t i = 0; i < p->nracks; i++)
		for (long o = 0; o < p->racks[i].pod_slots; o++)
			pods += p->racks[i].pods[o].exists;
	for (size_t i = 0; i < p->nracks; i++)
		for (long o = 0; o < p->racks[i].pod_slots; o++) {
			const struct pod *v = &p->racks[i].pods[o];
			if (!v->exists)
				continue;
			if (!v->view_ok) {
				fmt(why, size, "the ring as %s sees it cannot be read (%s)", v->name, v->view_error);
				return 0;
			}
			long members = dc_members(p, v);
			if (members != pods) {
				fmt(why, size, "%s sees %ld members of datacenter %s in the ring, but %ld pods run", v->name,
				    members, p->dc, pods);
				return 0;
			}
		}
	if (pods == 0) {
		fmt(why, size, "no pod runs to confirm the ring");
		return 0;
	}
	return 1;
}

/* deleteDecommissionedVolumes: the PVCs of ordinals at or above both the
 * live and the desired replica count, once their pod is gone and the
 * ring shows no node without a pod (the node LEFT: keelson shrinks a
 * StatefulSet only after its decommission). Only when nothing else is to
 * be done, never in a preview (it cannot see PVCs), each PVC by its UID. */
static int phase_cleanup(struct planner *p)
{
	if (!p->delete_volumes || !acting_now(p))
		return 0;
	const struct keelson_host *h = p->h;
	if (h->version < 4) {
		h->log(p->call, KEELSON_PLUGIN_LOG_WARN, "deleteDecommissionedVolumes: this keelson (host version %u) "
		       "cannot delete objects; PVCs of decommissioned nodes are kept", (unsigned)h->version);
		return 0;
	}
	int ring_checked = 0;
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		if (r->live < 0 || !r->pods_read)
			continue;
		long keep = r->live > r->desired ? r->live : r->desired;
		const struct keelson_json *vcts = h->json_get(r->obj->live, "/spec/volumeClaimTemplates");
		if (h->json_count(vcts) == 0)
			continue;
		const struct keelson_json *list = NULL;
		if (h->live_list(p->call, "v1", "PersistentVolumeClaim", r->ns, NULL, &list) != 0) {
			fmt(p->text, sizeof(p->text), "wait: the PersistentVolumeClaims in %s cannot be read to clean up "
			    "after decommissioned nodes", r->ns);
			fmt(p->key, sizeof(p->key), "read-pvcs/%s/%s", r->ns, r->name);
			return wait_step(p, p->text, p->key, p->restart_ms, NULL);
		}
		for (size_t k = 0; k < h->json_count(list); k++) {
			const struct keelson_json *pvc = h->json_at(list, k);
			const char *name = str_at(p, pvc, "/metadata/name");
			const char *uid = str_at(p, pvc, "/metadata/uid");
			if (name == NULL || uid == NULL || h->json_get(pvc, "/metadata/deletionTimestamp") != NULL)
				continue;
			long ord = -1;
			for (size_t v = 0; v < h->json_count(vcts) && ord < 0; v++) {
				const char *vname = str_at(p, h->json_at(vcts, v), "/metadata/name");
				if (vname != NULL)
					ord = pvc_ordinal(name, vname, r->name);
			}
			if (ord < 0 || ord < keep)
				continue;
			if (!p->mgmt_port) {
				h->log(p->call, KEELSON_PLUGIN_LOG_WARN, "not deleting PersistentVolumeClaim %s/%s: without "
				       "managementApiPort keelson cannot see that its node left the ring", r->ns, name);
				continue;
			}
			if (ord < MAX_PODS && r->pods[ord].exists) {
				fmt(p->text, sizeof(p->text), "wait for pod %s/%s-%ld to be gone before deleting its "
				    "PersistentVolumeClaim %s", r->ns, r->name, ord, name);
				fmt(p->key, sizeof(p->key), "gate-delete-pvc/%s/%s", r->ns, name);
				return wait_step(p, p->text, p->key, p->restart_ms, NULL);
			}
			char why[MAX_TEXT] = "";
			if (!ring_checked && !ring_matches_pods(p, why, sizeof(why))) {
				fmt(p->text, sizeof(p->text), "wait until the ring shows no node without a pod before "
				    "deleting PersistentVolumeClaim %s/%s: %s", r->ns, name, why);
				fmt(p->key, sizeof(p->key), "gate-delete-pvc/%s/%s", r->ns, name);
				return wait_step(p, p->text, p->key, p->restart_ms, NULL);
			}
			ring_checked = 1;
			fmt(p->text, sizeof(p->text), "delete PersistentVolumeClaim %s/%s of decommissioned node %s-%ld "
			    "(deleteDecommissionedVolumes: its data is deleted)", r->ns, name, r->name, ord);
			fmt(p->gate, sizeof(p->gate), "pod %s-%ld gone; every node's view of datacenter %s lists only "
			    "running pods; only PVC uid %s", r->name, ord, p->dc, uid);
			fmt(p->key, sizeof(p->key), "delete-pvc/%s/%s/%s", r->ns, name, uid);
			struct keelson_step del = {.kind = KEELSON_STEP_DELETE, .description = p->text, .gate = p->gate,
						   .key = p->key, .api_version = "v1", .kind_name = "PersistentVolumeClaim",
						   .namespace_ = r->ns, .name = name, .precondition_uid = uid,
						   .propagation = "Background"};
			if (add(p, &del) != 0)
				return -1;
		}
	}
	return 0;
}

/* --- plan ------------------------------------------------------------------ */

static long long param_int(const struct keelson_view *view, const char *name, long long dflt)
{
	const struct keelson_param_value *v = keelson_view_param(view, name);
	return v != NULL && v->is_set ? v->integer : dflt;
}

static int plan_racks(struct planner *p)
{
	const struct keelson_view *view = p->view;
	const struct keelson_param_value *sets = keelson_view_param(view, "statefulSets");
	if (sets == NULL || !sets->is_set || sets->list_count == 0) {
		p->h->log(p->call, KEELSON_PLUGIN_LOG_ERROR, "parameter statefulSets is not set");
		return -1;
	}
	if (sets->list_count > MAX_RACKS) {
		fmt(p->reason, sizeof(p->reason), "statefulSets lists %zu StatefulSets; this plugin handles at most %d racks",
		    sets->list_count, MAX_RACKS);
		return blocked(p, p->reason);
	}
	for (size_t i = 0; i < sets->list_count; i++) {
		const struct keelson_view_object *o = find_object(p, "StatefulSet", sets->list[i]);
		if (o == NULL) {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s (spec.parameters.statefulSets) is not among the "
			    "objects of system %s; add it or fix the parameter", sets->list[i], view->system);
			return blocked(p, p->reason);
		}
		p->racks[p->nracks++].obj = o;
	}
	for (size_t i = 0; i < view->object_count; i++) {
		const struct keelson_view_object *o = &view->objects[i];
		int listed = 0;
		for (size_t k = 0; k < sets->list_count; k++)
			listed |= strcmp(o->kind, "StatefulSet") == 0 && strcmp(o->name, sets->list[k]) == 0;
		if (strcmp(o->kind, "StatefulSet") == 0 && !listed) {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s (%s:%u) is not in spec.parameters.statefulSets "
			    "of system %s: keelson would change it without any of the Cassandra rules; list it (in rack "
			    "order) or move it to another system", o->namespace_, o->name, o->file, o->line, view->system);
			return blocked(p, p->reason);
		}
	}
	const struct keelson_param_value *dc = keelson_view_param(view, "datacenter");
	p->dc = dc != NULL && dc->is_set ? dc->string : NULL;
	if (p->dc == NULL)
		p->dc = str_at(p, p->racks[0].obj->desired,
			       "/spec/template/metadata/labels/cassandra.datastax.com~1datacenter");
	if (p->dc == NULL) {
		fmt(p->reason, sizeof(p->reason), "the datacenter of system %s is unknown: set spec.parameters.datacenter "
		    "or the pod template label cassandra.datastax.com/datacenter", view->system);
		return blocked(p, p->reason);
	}
	for (size_t i = 0; i < p->nracks; i++) {
		struct rack *r = &p->racks[i];
		analyse_rack(p, r);
		if (r->desired > MAX_PODS || r->live > MAX_PODS || r->desired < 0) {
			fmt(p->reason, sizeof(p->reason), "StatefulSet %s/%s asks for %ld replicas (live %ld); this plugin "
			    "handles 0 to %d nodes per rack: split the rack", r->ns, r->name, r->desired, r->live, MAX_PODS);
			return blocked(p, p->reason);
		}
	}

	if (phase_other_objects(p) != 0)
		return -1;
	size_t before = p->nsteps;
	if (phase_refusals(p) != 0)
		return -1;
	if (p->nsteps != before)
		return 0;
	if (phase_volumes(p) != 0)
		return -1;
	if (p->nsteps != before)
		return 0;
	if (phase_create(p) != 0 || phase_hold(p) != 0)
		return -1;
	for (size_t i = 0; i < p->nracks; i++) {
		if (read_pods(p, &p->racks[i]) != 0) {
			struct rack *r = &p->racks[i];
			fmt(p->text, sizeof(p->text), "wait: the pods of StatefulSet %s/%s cannot be read (gate fails closed)",
			    r->ns, r->name);
			fmt(p->key, sizeof(p->key), "read-pods/%s/%s", r->ns, r->name);
			return wait_step(p, p->text, p->key, p->restart_ms, NULL);
		}
	}
	if (acting_now(p) && phase_in_flight(p) < 0)
		return -1;
	if (phase_scale_down(p) != 0)
		return -1;
	/* What would follow applies the repository's smaller replica count
	 * (the roll's apply): not before the leaving node is decommissioned. */
	if (p->scale_down_waits)
		return 0;
	if (phase_roll(p) != 0 || phase_scale_up(p) != 0 || phase_other_drift(p) != 0)
		return -1;
	if (phase_settle(p) != 0)
		return -1;
	return phase_cleanup(p);
}

static int plan(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_view *view)
{
	struct planner *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		h->log(call, KEELSON_PLUGIN_LOG_ERROR, "out of memory");
		return -1;
	}
	p->h = h;
	p->call = call;
	p->view = view;
	p->preview = KEELSON_VIEW_HAS(view, flags) && (view->flags & KEELSON_VIEW_PREVIEW) != 0;
	p->mgmt_port = param_int(view, "managementApiPort", 0);
	snprintf(p->port_text, sizeof(p->port_text), "%lld", p->mgmt_port);
	p->quiet_ms = param_int(view, "rackQuietPeriod", 20000);
	p->restart_ms = param_int(view, "restartTimeout", 1800000);
	p->drain_ms = param_int(view, "drainTimeout", 120000);
	p->streaming_ms = param_int(view, "streamingTimeout", 43200000);
	p->allow_volume = (int)param_int(view, "allowVolumeExpansion", 0);
	p->delete_volumes = (int)param_int(view, "deleteDecommissionedVolumes", 0);
	if (!p->mgmt_port && !p->preview)
		h->log(call, KEELSON_PLUGIN_LOG_WARN, "no managementApiPort: ring state (UN/UJ/UL/DN) is not being "
		       "verified; keelson relies on pod readiness and the pods' preStop drain");
	int rc = plan_racks(p);
	for (size_t i = 0; i < p->nracks; i++)
		for (long o = 0; o < MAX_PODS; o++)
			free(p->racks[i].pods[o].view);
	free(p);
	return rc;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "cassandra",
	.version = "1.0",
	.description = "Cassandra racks on StatefulSets: drain, one node at a time, rack by rack; decommission "
		       "before removal",
	.params = params,
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
