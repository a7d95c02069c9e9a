/*
 * The kafka plugin's planning (plugins/kafka/ sources compiled in) through the
 * real host, with pods, StatefulSets, broker metrics and Cruise Control's
 * answers (state, kafka_cluster_state, user_tasks) from the input
 * (tests/fuzz/fake_host.h). Checked on every plan, independently of how
 * the plugin reached it:
 *   - never two broker restarts without a wait between them;
 *   - a restart of a Ready broker only when every broker of every listed
 *     StatefulSet exists and is Ready, every scrape answered and parsed
 *     with the gauges a gate needs, URP, UnderMinIsr and offline sum to 0,
 *     exactly one active controller, and (with Cruise Control) its
 *     executor is idle and no partition of the broker is at or below
 *     min.insync.replicas; a restart of a broker that is not Ready only
 *     when it is stuck (down already);
 *   - a pod is deleted only with its own UID as precondition;
 *   - a StatefulSet shrinks only when the scrapes of the leaving brokers
 *     say they hold no partition replica;
 *   - add_broker / remove_broker only while every broker is Ready and
 *     Cruise Control's executor is idle;
 *   - a preview probes nothing;
 *   - planning twice on the same observation gives the same plan.
 */
#include "config.h"

#include "tests/fuzz/fake_host.h"
#include "tests/fuzz/fuzz.h"

#include "plugins/kafka/kafka_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const struct keelson_plugin *keelson_plugin_entry(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_quiet_logs();
	return 0;
}

static const struct keelson_param_value *param(const struct fake_host *f, const char *name)
{
	for (size_t i = 0; i < f->params->count; i++)
		if (strcmp(f->params->values[i].name, name) == 0 && f->params->values[i].is_set)
			return &f->params->values[i];
	return NULL;
}

static int in_list(const struct keelson_param_value *list, const char *s)
{
	for (size_t i = 0; list != NULL && i < list->list_count; i++)
		if (strcmp(list->list[i], s) == 0)
			return 1;
	return 0;
}

struct kstate {
	const struct fake_host *f;
	const char *ns;
	const char *metrics_path;
	const char *cc;
	size_t nsts;
	const char *names[KAFKA_MAX_STS];
	const struct keelson_plan_object *objs[KAFKA_MAX_STS];
	int controller_only[KAFKA_MAX_STS];
};

/* spec.MEMBER as a count (clamped: the input may say 1e300). */
static long number(const cJSON *obj, const char *member, long dflt)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(spec, member);
	if (!cJSON_IsNumber(n))
		return dflt;
	double v = n->valuedouble;
	return isnan(v) ? 0 : v < -1e6 ? -1000000 : v > 1e6 ? 1000000 : (long)v;
}

/* The pods the plugin expects of StatefulSet `s`. */
static long expected_pods(const struct kstate *k, size_t s)
{
	const cJSON *live = k->objs[s]->live;
	return live ? number(live, "replicas", 1) : number(k->objs[s]->desired, "replicas", 1);
}

/* The view's StatefulSet objects of the parameter, as the plugin finds them
 * (kind and name, first one in the view's order). 0 when the plugin would
 * refuse the parameters anyway. */
static int read_sts(struct kstate *k, const struct fake_host *f)
{
	memset(k, 0, sizeof(*k));
	k->f = f;
	const struct keelson_param_value *names = param(f, "statefulSets");
	const struct keelson_param_value *ctrl = param(f, "controllerStatefulSets");
	const struct keelson_param_value *path = param(f, "metricsPath");
	const struct keelson_param_value *cc = param(f, "cruiseControlService");
	k->metrics_path = path ? path->string : "/metrics";
	k->cc = cc ? cc->string : NULL;
	if (names == NULL || names->list_count > KAFKA_MAX_STS)
		return 0;
	for (size_t i = 0; i < names->list_count; i++) {
		const struct keelson_plan_object *o = NULL;
		for (size_t j = 0; j < f->object_count && o == NULL; j++) {
			const char *kind = fake_str(f->objects[j].desired, "/kind");
			const char *name = fake_str(f->objects[j].desired, "/metadata/name");
			if (strcmp(kind, "StatefulSet") == 0 && strcmp(name, names->list[i]) == 0)
				o = &f->objects[j];
		}
		if (o == NULL)
			return 0;
		const char *ns = fake_str(o->desired, "/metadata/namespace");
		if (k->ns == NULL)
			k->ns = ns ? ns : "";
		k->names[k->nsts] = names->list[i];
		k->objs[k->nsts] = o;
		k->controller_only[k->nsts] = in_list(ctrl, names->list[i]);
		k->nsts++;
	}
	return 1;
}

static const cJSON *pod_named(const struct kstate *k, const char *name)
{
	return fake_host_find(k->f, "Pod", k->ns, name);
}

/* The scrape of `pod` as the gate must read it, or -1. */
static int scrape(const struct kstate *k, const char *pod, struct kafka_metrics *m)
{
	char *body = fake_host_http_body(k->f, KEELSON_PROXY_POD, pod, k->metrics_path);
	if (body == NULL)
		return -1;
	char why[256];
	int rc = kafka_metrics_parse(m, body, strlen(body), why, sizeof(why));
	free(body);
	return rc;
}

static cJSON *cc_get(const struct kstate *k, const char *path)
{
	char *body = fake_host_http_body(k->f, KEELSON_PROXY_SERVICE, k->cc, path);
	if (body == NULL)
		return NULL;
	cJSON *doc = cJSON_Parse(body);
	free(body);
	return doc;
}

static int cc_idle(const struct kstate *k)
{
	cJSON *st = cc_get(k, "/kafkacruisecontrol/state?json=true");
	const char *state = fake_str(st, "/ExecutorState/state");
	int idle = state != NULL && strcmp(state, "NO_TASK_IN_PROGRESS") == 0;
	cJSON_Delete(st);
	return idle;
}

static int has_broker(const cJSON *list, long id)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, list)
		if (cJSON_IsNumber(v) && v->valuedouble > -1e9 && v->valuedouble < 1e9 && (long)v->valuedouble == id)
			return 1;
	return 0;
}

/* Strimzi's rule, read independently: no partition with more replicas
 * than min-isr that broker `id` replicates is below min-isr, or at it
 * with `id` in sync. */
static int cc_min_isr_ok(const struct kstate *k, long id)
{
	cJSON *doc = cc_get(k, "/kafkacruisecontrol/kafka_cluster_state?json=true&verbose=true");
	const cJSON *lists = cJSON_GetObjectItemCaseSensitive(doc, "KafkaPartitionState");
	int ok = doc != NULL && cJSON_GetObjectItemCaseSensitive(lists, "other") != NULL;
	const cJSON *list;
	cJSON_ArrayForEach(list, lists) {
		const cJSON *ps;
		cJSON_ArrayForEach(ps, list) {
			const cJSON *replicas = cJSON_GetObjectItemCaseSensitive(ps, "replicas");
			const cJSON *isr = cJSON_GetObjectItemCaseSensitive(ps, "in-sync");
			const cJSON *min = cJSON_GetObjectItemCaseSensitive(ps, "min-isr");
			if (!has_broker(replicas, id) || !cJSON_IsNumber(min) || !(min->valuedouble >= 0) ||
			    (double)cJSON_GetArraySize(replicas) <= min->valuedouble)
				continue;
			double in_sync = (double)cJSON_GetArraySize(isr);
			if (in_sync < min->valuedouble || (in_sync == min->valuedouble && has_broker(isr, id)))
				ok = 0;
		}
	}
	cJSON_Delete(doc);
	return ok;
}

/* Every pod of every listed StatefulSet exists and is Ready. */
static int all_ready(const struct kstate *k, char *why, size_t size)
{
	for (size_t s = 0; s < k->nsts; s++) {
		long n = expected_pods(k, s);
		for (long o = 0; o < n && o < KAFKA_MAX_PODS; o++) {
			char name[300];
			snprintf(name, sizeof(name), "%s-%ld", k->names[s], o);
			if (!fake_pod_ready(pod_named(k, name))) {
				snprintf(why, size, "%s is not Ready", name);
				return 0;
			}
		}
	}
	return 1;
}

/* The metrics gate, read independently. */
static int gate_holds(const struct kstate *k, char *why, size_t size)
{
	if (!all_ready(k, why, size))
		return 0;
	double urp = 0, umi = 0, offline = 0;
	int active = 0;
	for (size_t s = 0; s < k->nsts; s++) {
		long n = expected_pods(k, s);
		for (long o = 0; o < n && o < KAFKA_MAX_PODS; o++) {
			char name[300];
			snprintf(name, sizeof(name), "%s-%ld", k->names[s], o);
			struct kafka_metrics m;
			if (scrape(k, name, &m) != 0) {
				snprintf(why, size, "metrics of %s do not answer or parse", name);
				return 0;
			}
			if (k->controller_only[s] ? !m.has_active : !m.has_urp || !m.has_umi) {
				snprintf(why, size, "metrics of %s lack a gauge", name);
				return 0;
			}
			urp += m.urp;
			umi += m.umi;
			offline += m.offline;
			if (m.has_active && m.active >= 1)
				active += m.active >= 2 ? 2 : 1; /* (int) of [1, 2) */
		}
	}
	if (urp != 0 || umi != 0 || offline != 0) {
		snprintf(why, size, "URP %g, UnderMinIsr %g, offline %g", urp, umi, offline);
		return 0;
	}
	if (active != 1) {
		snprintf(why, size, "%d active controllers", active);
		return 0;
	}
	return 1;
}

static int stuck(const cJSON *pod)
{
	const char *phase = fake_str(pod, "/status/phase");
	if (phase != NULL && strcmp(phase, "Pending") == 0)
		return 1;
	const char *lists[] = {"containerStatuses", "initContainerStatuses"};
	for (size_t l = 0; l < 2; l++) {
		const cJSON *statuses =
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "status"), lists[l]);
		const cJSON *c;
		cJSON_ArrayForEach(c, statuses)
			if (fake_str(c, "/state/waiting/reason") != NULL)
				return 1;
	}
	return 0;
}

/* Which listed StatefulSet pod `name` belongs to, and its ordinal. */
static int pod_of(const struct kstate *k, const char *name, size_t *sts, long *ordinal)
{
	for (size_t s = 0; s < k->nsts; s++) {
		size_t n = strlen(k->names[s]);
		if (strncmp(name, k->names[s], n) == 0 && name[n] == '-' && name[n + 1] >= '0' && name[n + 1] <= '9') {
			*sts = s;
			*ordinal = strtol(name + n + 1, NULL, 10);
			return 1;
		}
	}
	return 0;
}

static void fail(const struct keelson_plan *plan, const char *what, const char *detail)
{
	fprintf(stderr, "kafka plan property: %s (%s); the plan:\n", what, detail);
	fake_plan_dump(plan);
}

static void check_restart(const struct kstate *k, const struct keelson_plan *plan,
			  const struct keelson_plan_step *s)
{
	size_t sts;
	long ordinal;
	fuzz_assert(pod_of(k, s->name, &sts, &ordinal));
	const cJSON *pod = pod_named(k, s->name);
	if (pod == NULL || fake_host_unreadable(k->f, "Pod"))
		fail(plan, "a pod that was not observed is deleted", s->name);
	fuzz_assert(pod != NULL && !fake_host_unreadable(k->f, "Pod"));
	const char *uid = fake_str(pod, "/metadata/uid");
	if (uid != NULL)
		fuzz_assert(s->precondition_uid != NULL && strcmp(s->precondition_uid, uid) == 0);
	char why[512] = "";
	if (!fake_pod_ready(pod)) {
		if (!stuck(pod))
			fail(plan, "a broker that is not Ready and not stuck is restarted", s->name);
		fuzz_assert(stuck(pod));
		return;
	}
	int ok = gate_holds(k, why, sizeof(why));
	if (ok && k->cc != NULL && !k->controller_only[sts]) {
		if (!cc_idle(k))
			ok = 0, snprintf(why, sizeof(why), "Cruise Control not idle");
		else if (!cc_min_isr_ok(k, ordinal))
			ok = 0, snprintf(why, sizeof(why), "a partition of broker %ld at min ISR", ordinal);
	}
	if (!ok)
		fail(plan, "a Ready broker is restarted although the gate inputs say no", why);
	fuzz_assert(ok);
}

static void check_shrink(const struct kstate *k, const struct keelson_plan *plan, const struct keelson_plan_step *s)
{
	const char *kind = fake_str(s->object, "/kind"), *name = fake_str(s->object, "/metadata/name");
	if (kind == NULL || strcmp(kind, "StatefulSet") != 0 || name == NULL)
		return;
	for (size_t i = 0; i < k->nsts; i++) {
		if (strcmp(k->names[i], name) != 0 || k->objs[i]->live == NULL)
			continue;
		long want = number(s->object, "replicas", 1), live = number(k->objs[i]->live, "replicas", 1);
		for (long o = want; o < live; o++) {
			char pod[300];
			snprintf(pod, sizeof(pod), "%s-%ld", name, o);
			struct kafka_metrics m;
			int empty = scrape(k, pod, &m) == 0 && m.has_partitions && m.partitions == 0;
			if (!empty)
				fail(plan, "a StatefulSet shrinks while a leaving broker may hold replicas", pod);
			fuzz_assert(empty);
		}
	}
}

static void check_plan(const struct kstate *k, const struct keelson_plan *plan, int preview)
{
	int restart_since_wait = 0;
	for (size_t i = 0; i < plan->count; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		if (s->kind == KEELSON_STEP_WAIT || s->kind == KEELSON_STEP_BLOCKED) {
			restart_since_wait = 0;
			continue;
		}
		if (s->kind == KEELSON_STEP_DELETE_POD) {
			if (restart_since_wait)
				fail(plan, "two restarts without a wait between them", s->name);
			fuzz_assert(!restart_since_wait);
			restart_since_wait = 1;
			/* What follows the first step is re-planned after it runs;
			 * the first one runs now, on this observation. */
			if (!preview && i == 0)
				check_restart(k, plan, s);
		}
		if (!preview && s->kind == KEELSON_STEP_APPLY)
			check_shrink(k, plan, s);
		if (!preview && i == 0 && s->kind == KEELSON_STEP_HTTP && s->http_method != NULL &&
		    strcmp(s->http_method, "POST") == 0) {
			char why[512] = "";
			int ok = all_ready(k, why, sizeof(why)) && cc_idle(k);
			if (!ok)
				fail(plan, "Cruise Control is asked to move data while a broker is down or it is busy",
				     s->http_path ? s->http_path : "?");
			fuzz_assert(ok);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct keelson_plugin *kafka = keelson_plugin_entry();
	struct fake_host f;
	if (fake_host_load(&f, kafka, data, size) != 0) {
		fake_host_free(&f);
		return 0;
	}
	struct keelson_plan *first = NULL;
	if (fake_host_plan_checked(&f, kafka, "kafka", &first) == 0) {
		int preview = (f.flags & KEELSON_VIEW_PREVIEW) != 0;
		struct kstate k;
		if (read_sts(&k, &f))
			check_plan(&k, first, preview);
	}
	keelson_plan_free(first);
	fake_host_free(&f);
	return 0;
}
