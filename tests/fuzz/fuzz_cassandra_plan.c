/*
 * The cassandra plugin's planning (plugins/cassandra/ sources compiled in)
 * through the real host, with StatefulSets, pods and the Management API's
 * answers (endpoints: every node's view of the ring, schema versions,
 * keyspaces and their replication) from the input (tests/fuzz/fake_host.h).
 * Checked on every plan, reading the input independently of the plugin:
 *   - never two nodes taken down (drain or pod deletion of different
 *     pods) without a wait between them;
 *   - a node is drained, deleted or decommissioned now (the first step,
 *     the one the host runs) only when every other pod of every rack exists, is Ready and
 *     not terminating, and, with the Management API, every other pod's
 *     view of the ring could be read and shows every node of the
 *     datacenter other than the target Up/Normal (or LEFT);
 *   - a pod is deleted only with its own UID as precondition;
 *   - a StatefulSet shrinks now only when the leaving node has LEFT the
 *     ring in some node's view (it was decommissioned), never without the
 *     Management API;
 *   - a preview probes nothing; planning twice gives the same plan.
 */
#include "config.h"

#include "tests/fuzz/fake_host.h"
#include "tests/fuzz/fuzz.h"

#include "json/json_pointer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CASS_MAX_RACKS 16
#define CASS_MAX_PODS 128 /* the plugin's own bound per rack */

const struct keelson_plugin *keelson_plugin_entry(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_quiet_logs();
	return 0;
}

struct cstate {
	const struct fake_host *f;
	const char *dc;
	long long mgmt_port;
	size_t nracks;
	const char *names[CASS_MAX_RACKS];
	const char *ns[CASS_MAX_RACKS];
	const struct keelson_plan_object *objs[CASS_MAX_RACKS];
};

static const struct keelson_param_value *param(const struct fake_host *f, const char *name)
{
	for (size_t i = 0; i < f->params->count; i++)
		if (strcmp(f->params->values[i].name, name) == 0 && f->params->values[i].is_set)
			return &f->params->values[i];
	return NULL;
}

static long count_at(const cJSON *obj, const char *pointer, long dflt)
{
	cJSON *n = NULL;
	if (obj == NULL || keelson_json_pointer_get(&n, obj, pointer) != 0 || !cJSON_IsNumber(n))
		return dflt;
	double v = n->valuedouble;
	return isnan(v) ? 0 : v < -1e6 ? -1000000 : v > 1e6 ? 1000000 : (long)v;
}

static int read_racks(struct cstate *c, const struct fake_host *f)
{
	memset(c, 0, sizeof(*c));
	c->f = f;
	const struct keelson_param_value *sets = param(f, "statefulSets");
	const struct keelson_param_value *dc = param(f, "datacenter");
	const struct keelson_param_value *port = param(f, "managementApiPort");
	c->mgmt_port = port ? port->integer : 0;
	if (sets == NULL || sets->list_count > CASS_MAX_RACKS)
		return 0;
	for (size_t i = 0; i < sets->list_count; i++) {
		const struct keelson_plan_object *o = NULL;
		for (size_t j = 0; j < f->object_count && o == NULL; j++)
			if (strcmp(fake_str(f->objects[j].desired, "/kind"), "StatefulSet") == 0 &&
			    strcmp(fake_str(f->objects[j].desired, "/metadata/name"), sets->list[i]) == 0)
				o = &f->objects[j];
		if (o == NULL)
			return 0;
		const char *ns = fake_str(o->desired, "/metadata/namespace");
		c->names[c->nracks] = sets->list[i];
		c->ns[c->nracks] = ns ? ns : "";
		c->objs[c->nracks] = o;
		c->nracks++;
	}
	c->dc = dc ? dc->string
		   : fake_str(c->objs[0]->desired, "/spec/template/metadata/labels/cassandra.datastax.com~1datacenter");
	return c->dc != NULL;
}

static const cJSON *pod_at(const struct cstate *c, size_t rack, long ordinal)
{
	char name[300];
	snprintf(name, sizeof(name), "%s-%ld", c->names[rack], ordinal);
	return fake_host_find(c->f, "Pod", c->ns[rack], name);
}

static long live_replicas(const struct cstate *c, size_t rack)
{
	const cJSON *live = c->objs[rack]->live;
	long n = live ? count_at(live, "/spec/replicas", 1) : 0;
	return n < 0 ? 0 : n > CASS_MAX_PODS ? CASS_MAX_PODS : n;
}

/* The status word of a gossip entry ("NORMAL,<token>" -> NORMAL). */
static int status_is(const cJSON *e, const char *word)
{
	const char *s = fake_str(e, "/STATUS");
	size_t n = strlen(word);
	return s != NULL && strncmp(s, word, n) == 0 && (s[n] == '\0' || s[n] == ',');
}

static int left(const cJSON *e)
{
	return status_is(e, "LEFT") || status_is(e, "removed");
}

/* `viewer`'s view of the ring (the endpoints entity list), or NULL. */
static cJSON *ring_view(const struct cstate *c, const char *viewer)
{
	char *body = fake_host_http_body(c->f, KEELSON_PROXY_POD, viewer, "/api/v0/metadata/endpoints");
	if (body == NULL)
		return NULL;
	cJSON *doc = cJSON_Parse(body);
	free(body);
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "entity"))) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* The gate of taking `target` (a pod name) down now. */
static int others_healthy(const struct cstate *c, const char *target, char *why, size_t size)
{
	const char *target_ip = NULL;
	for (size_t r = 0; r < c->nracks; r++) {
		long n = live_replicas(c, r);
		for (long o = 0; o < n; o++) {
			const cJSON *pod = pod_at(c, r, o);
			const char *name = fake_str(pod, "/metadata/name");
			if (name != NULL && strcmp(name, target) == 0) {
				target_ip = fake_str(pod, "/status/podIP");
				continue;
			}
			if (!fake_pod_ready(pod)) {
				snprintf(why, size, "%s-%ld is missing, terminating or not Ready", c->names[r], o);
				return 0;
			}
		}
	}
	if (c->mgmt_port == 0)
		return 1;
	for (size_t r = 0; r < c->nracks; r++) {
		long n = live_replicas(c, r);
		for (long o = 0; o < n; o++) {
			const cJSON *pod = pod_at(c, r, o);
			const char *name = fake_str(pod, "/metadata/name");
			if (name == NULL || strcmp(name, target) == 0)
				continue;
			cJSON *view = ring_view(c, name);
			if (view == NULL) {
				snprintf(why, size, "the ring as %s sees it cannot be read", name);
				return 0;
			}
			const cJSON *e;
			int ok = 1;
			cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(view, "entity")) {
				const char *dc = fake_str(e, "/DC"), *ip = fake_str(e, "/ENDPOINT_IP");
				const char *alive = fake_str(e, "/IS_ALIVE");
				if (dc == NULL || strcmp(dc, c->dc) != 0 || ip == NULL)
					continue;
				if (target_ip != NULL && strcmp(ip, target_ip) == 0)
					continue;
				if (left(e))
					continue;
				if (!status_is(e, "NORMAL") || alive == NULL || strcmp(alive, "true") != 0) {
					snprintf(why, size, "%s sees node %.64s of datacenter %.64s not Up/Normal", name, ip,
						 dc);
					ok = 0;
				}
			}
			cJSON_Delete(view);
			if (!ok)
				return 0;
		}
	}
	return 1;
}

/* Whether some node's view shows `pod` (its IP) LEFT, or with `leaving`
 * LEAVING (being decommissioned) too. */
static int has_left(const struct cstate *c, const cJSON *pod, int leaving)
{
	const char *ip = fake_str(pod, "/status/podIP"), *self = fake_str(pod, "/metadata/name");
	if (ip == NULL || self == NULL)
		return 0;
	for (size_t r = 0; r < c->nracks; r++) {
		long n = live_replicas(c, r);
		for (long o = 0; o < n; o++) {
			const char *viewer = fake_str(pod_at(c, r, o), "/metadata/name");
			if (viewer == NULL)
				continue;
			cJSON *view = ring_view(c, viewer);
			const cJSON *e;
			int found = 0;
			cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(view, "entity")) {
				const char *eip = fake_str(e, "/ENDPOINT_IP");
				if (eip != NULL && strcmp(eip, ip) == 0 && (left(e) || (leaving && status_is(e, "LEAVING"))))
					found = 1;
			}
			cJSON_Delete(view);
			if (found)
				return 1;
		}
	}
	return 0;
}

static void fail(const struct keelson_plan *plan, const char *what, const char *detail)
{
	fprintf(stderr, "cassandra plan property: %s (%s); the plan:\n", what, detail);
	fake_plan_dump(plan);
}

/* Which rack a pod named `name` belongs to. */
static int rack_of(const struct cstate *c, const char *name, size_t *rack)
{
	for (size_t r = 0; r < c->nracks; r++) {
		size_t n = strlen(c->names[r]);
		if (strncmp(name, c->names[r], n) == 0 && name[n] == '-' && name[n + 1] >= '0' && name[n + 1] <= '9') {
			*rack = r;
			return 1;
		}
	}
	return 0;
}

static void check_takedown(const struct cstate *c, const struct keelson_plan *plan, const struct keelson_plan_step *s,
			   const char *what)
{
	size_t rack;
	char why[512] = "";
	fuzz_assert(s->name != NULL && rack_of(c, s->name, &rack));
	const cJSON *pod = fake_host_find(c->f, "Pod", c->ns[rack], s->name);
	if (pod == NULL || fake_host_unreadable(c->f, "Pod"))
		fail(plan, "a pod that was not observed is taken down", s->name);
	fuzz_assert(pod != NULL && !fake_host_unreadable(c->f, "Pod"));
	if (s->kind == KEELSON_STEP_DELETE_POD) {
		const char *uid = fake_str(pod, "/metadata/uid");
		fuzz_assert(uid != NULL && s->precondition_uid != NULL && strcmp(uid, s->precondition_uid) == 0);
	}
	int ok = others_healthy(c, s->name, why, sizeof(why));
	if (!ok)
		fail(plan, what, why);
	fuzz_assert(ok);
}

/* Whether a step before `upto` decommissions pod `name`. */
static int decommissioned_before(const struct keelson_plan *plan, size_t upto, const char *name)
{
	for (size_t i = 0; i < upto; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		if (s->kind == KEELSON_STEP_HTTP && s->http_path != NULL && s->name != NULL &&
		    strncmp(s->http_path, "/api/v1/ops/node/decommission", 29) == 0 && strcmp(s->name, name) == 0)
			return 1;
	}
	return 0;
}

/* A shrink runs now only after the leaving node LEFT; a shrink that
 * follows is planned after its decommission. */
static void check_shrink(const struct cstate *c, const struct keelson_plan *plan, size_t i)
{
	const struct keelson_plan_step *s = &plan->steps[i];
	const char *kind = fake_str(s->object, "/kind"), *name = fake_str(s->object, "/metadata/name");
	if (kind == NULL || strcmp(kind, "StatefulSet") != 0 || name == NULL)
		return;
	for (size_t r = 0; r < c->nracks; r++) {
		if (strcmp(c->names[r], name) != 0 || c->objs[r]->live == NULL)
			continue;
		long want = count_at(s->object, "/spec/replicas", 1), live = count_at(c->objs[r]->live, "/spec/replicas", 1);
		for (long o = want < 0 ? 0 : want; o < live && o < CASS_MAX_PODS; o++) {
			const cJSON *pod = pod_at(c, r, o);
			char which[300];
			snprintf(which, sizeof(which), "%s-%ld", name, o);
			int gone = c->mgmt_port != 0 &&
				   (i == 0 ? pod != NULL && has_left(c, pod, 0)
					  : decommissioned_before(plan, i, which) || (pod != NULL && has_left(c, pod, 1)));
			if (!gone) {
				fail(plan, "a StatefulSet shrinks before the leaving node was decommissioned", which);
			}
			fuzz_assert(gone);
		}
	}
}

static void check_plan(const struct cstate *c, const struct keelson_plan *plan)
{
	const char *down = NULL; /* the node taken down since the last wait */
	for (size_t i = 0; i < plan->count; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		if (s->kind == KEELSON_STEP_WAIT || s->kind == KEELSON_STEP_BLOCKED) {
			down = NULL;
			continue;
		}
		int drain = s->kind == KEELSON_STEP_HTTP && s->http_path != NULL &&
			    strcmp(s->http_path, "/api/v0/ops/node/drain") == 0;
		int decommission = s->kind == KEELSON_STEP_HTTP && s->http_path != NULL &&
				   strncmp(s->http_path, "/api/v1/ops/node/decommission", 29) == 0;
		if (decommission && c->mgmt_port == 0)
			fail(plan, "a decommission without the Management API", s->name ? s->name : "?");
		fuzz_assert(!decommission || c->mgmt_port != 0);
		if (s->kind == KEELSON_STEP_DELETE_POD || drain || decommission) {
			fuzz_assert(s->name != NULL);
			if (down != NULL && strcmp(down, s->name) != 0)
				fail(plan, "two nodes taken down without a wait between them", s->name);
			fuzz_assert(down == NULL || strcmp(down, s->name) == 0);
			down = s->name;
			/* The host runs the first step now; the others are what
			 * follows, planned again before they run. */
			if (i == 0)
				check_takedown(c, plan, s, decommission ? "a node is decommissioned while the ring is not healthy"
									: "a node is taken down while another is not Up/Normal "
									  "and Ready");
		}
		if (s->kind == KEELSON_STEP_APPLY)
			check_shrink(c, plan, i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct keelson_plugin *plugin = keelson_plugin_entry();
	struct fake_host f;
	if (fake_host_load(&f, plugin, data, size) != 0) {
		fake_host_free(&f);
		return 0;
	}
	struct keelson_plan *first = NULL;
	if (fake_host_plan_checked(&f, plugin, "cassandra", &first) == 0) {
		int preview = (f.flags & KEELSON_VIEW_PREVIEW) != 0;
		struct cstate c;
		if (!preview && read_racks(&c, &f))
			check_plan(&c, first);
	}
	keelson_plan_free(first);
	fake_host_free(&f);
	return 0;
}
