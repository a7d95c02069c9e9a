/*
 * kafka: the keelson plugin for Kafka clusters run as StatefulSets
 * (KRaft combined or separate controllers, or ZooKeeper-based brokers).
 * User documentation: plugins/kafka/README.md.
 *
 * Each plan() observes and decides from scratch (the plugin keeps no
 * state, so a keelson killed at any moment plans the same thing again):
 *
 *   1. objects of the system other than the StatefulSets: applied first
 *      (a broker ConfigMap before the pods that mount it restart);
 *   2. a scale-down: Cruise Control remove_broker for the highest
 *      ordinals, then the StatefulSet shrinks only once those brokers hold
 *      no partition replica (refused and reported otherwise);
 *   3. each StatefulSet applied with updateStrategy OnDelete and the hash
 *      of the ConfigMaps its pods mount in the pod template annotation
 *      keelson.dev/config-hash: a configuration change is a template
 *      change, so it shows as pods out of date like an image change, and
 *      lives in the cluster, not in keelson;
 *   4. a scale-up: new brokers Ready, then Cruise Control add_broker;
 *   5. the roll: pods whose controller-revision-hash differs from their
 *      StatefulSet's updateRevision are deleted one at a time, StatefulSets
 *      in parameter order (KRaft controllers first), not Ready pods first,
 *      the active controller last, each delete gated on every broker's
 *      metrics (and on Cruise Control's per-partition view when
 *      configured), each restart waited for (new pod Ready, caught up)
 *      within restartTimeout.
 *
 * Anything that cannot be observed (metrics, Cruise Control, pods) makes a
 * WAIT, never a disruptive step; the executor turns a WAIT that outlives
 * its timeout into a blocked system.
 */
#include <keelson/plugin.h>

#include "plugins/kafka/kafka_internal.h"
#include "plugins/kafka/cc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SELECTOR 1024
#define TEXT 1024

static const struct keelson_param params[] = {
	{.name = "statefulSets", .type = KEELSON_PARAM_STRING_LIST, .flags = KEELSON_PARAM_REQUIRED,
	 .description = "StatefulSets running the Kafka nodes (OnDelete), rolled in this order: KRaft controllers first",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	{.name = "metricsPort", .type = KEELSON_PARAM_INTEGER, .flags = KEELSON_PARAM_REQUIRED, .minimum = 1,
	 .maximum = 65535, .description = "port of the Prometheus JMX exporter on every Kafka pod"},
	{.name = "metricsPath", .type = KEELSON_PARAM_STRING, .default_value = "/metrics",
	 .description = "path of the exporter"},
	{.name = "cruiseControlService", .type = KEELSON_PARAM_STRING,
	 .description = "Service of Cruise Control: per-partition min ISR gate, add_broker and remove_broker on scaling"},
	{.name = "cruiseControlPort", .type = KEELSON_PARAM_INTEGER, .default_value = "9090", .minimum = 1,
	 .maximum = 65535, .description = "Cruise Control port"},
	{.name = "restartTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "5m",
	 .description = "time a restarted broker may take to be Ready and caught up (and a gate to hold) before the "
			"rollout is blocked"},
	{.name = "controllerStatefulSets", .type = KEELSON_PARAM_STRING_LIST,
	 .description = "those of statefulSets whose pods are KRaft controllers only (no replica metrics)",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	{.name = "gracePeriodSeconds", .type = KEELSON_PARAM_INTEGER, .minimum = 0, .maximum = 86400,
	 .description = "grace period of each pod deletion (default: the pod's terminationGracePeriodSeconds)"},
	{.name = "probeTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "10s",
	 .description = "timeout of each metrics scrape and Cruise Control request"},
	{.name = "rebalanceTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "2h",
	 .description = "time a Cruise Control add_broker or remove_broker task may take before the rollout is blocked"},
	{.type = KEELSON_PARAM_END},
};

struct sts {
	const struct keelson_view_object *obj;
	const char *name;
	int controller_only;
	long desired_replicas;
	long live_replicas;           /* -1: not in the cluster */
	const char *update_revision;  /* live status.updateRevision, or NULL */
	int observed;                 /* the controller saw the current generation */
	int has_config;               /* mounts ConfigMaps of the system */
	char config_hash[17];         /* of the desired ConfigMaps */
	int base_has_config;          /* preview: of the base revision's ConfigMaps */
	char base_config_hash[17];
	int needs_apply;              /* the repository's object differs */
	int needs_patch;              /* OnDelete or the config hash to set */
	int template_pending;         /* the pods' template is about to change */
	const char *live_strategy, *live_hash;
	char apply_why[256], patch_why[256];
};

struct pod {
	const struct keelson_json *obj; /* NULL: missing */
	struct sts *sts;
	size_t sts_index;
	char name[256];
	const char *uid;
	long ordinal;
	int ready, terminating, out_of_date;
	const char *stuck;            /* why it cannot start, or NULL */
	long long ready_since;        /* seconds, Ready condition's lastTransitionTime; -1 */
	int metrics_state;            /* 0 not read, 1 read, -1 failed */
	char metrics_error[300];
	struct kafka_metrics m;
};

struct planner {
	const struct keelson_host *h;
	struct keelson_plugin_call *call;
	const struct keelson_view *view;
	int preview;
	const char *ns;
	struct sts sts[KAFKA_MAX_STS];
	size_t nsts;
	struct pod pods[KAFKA_MAX_PODS];
	size_t npods;
	long long restart_timeout, probe_timeout, rebalance_timeout, grace;
	const char *metrics_path;
	char metrics_port[16];
	struct kafka_cc cc;
	int has_cc;
	int metrics_gathered;
	int projected; /* steps added after the first are what will follow */
};

/* --- small helpers ------------------------------------------------------- */

/* snprintf for texts meant for people: truncating a long description is
 * fine (the host takes one line of at most 1024 bytes). */
static int say(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n;
}

static const char *str_at(const struct planner *p, const struct keelson_json *node, const char *pointer)
{
	return p->h->json_string(p->h->json_get(node, pointer));
}

static double num_at(const struct planner *p, const struct keelson_json *node, const char *pointer, double dflt)
{
	double v;
	return p->h->json_number(p->h->json_get(node, pointer), &v) == 0 ? v : dflt;
}

/* A count from a document: a value no long holds (1e300, NaN) would make
 * the cast undefined; such a value is clamped far beyond every bound the
 * plugin checks, so it is refused like any other out-of-range count. */
static long count_at(const struct planner *p, const struct keelson_json *node, const char *pointer, long dflt)
{
	double v = num_at(p, node, pointer, (double)dflt);
	if (!(v > -1e9))
		return -1000000000L;
	return v < 1e9 ? (long)v : 1000000000L;
}

static int add(struct planner *p, struct keelson_step *step)
{
	step->struct_size = sizeof(*step);
	return p->h->add_step(p->call, step);
}

static int blocked(struct planner *p, const char *reason)
{
	struct keelson_step s = {.kind = KEELSON_STEP_BLOCKED, .description = "stop: the Kafka rollout cannot go on safely",
				 .reason = reason};
	return add(p, &s);
}

static int wait_step(struct planner *p, const char *description, const char *key, const char *gate,
		     long long timeout_ms)
{
	struct keelson_step s = {.kind = KEELSON_STEP_WAIT, .description = description, .key = key, .gate = gate,
				 .timeout_ms = timeout_ms};
	return add(p, &s);
}

static long ordinal_of(const char *sts, const char *pod)
{
	size_t n = strlen(sts);
	if (strncmp(pod, sts, n) != 0 || pod[n] != '-' || pod[n + 1] < '0' || pod[n + 1] > '9')
		return -1;
	char *end;
	long v = strtol(pod + n + 1, &end, 10);
	return *end == '\0' && v >= 0 ? v : -1;
}

static int string_in(const struct keelson_param_value *list, const char *s)
{
	for (size_t i = 0; list != NULL && list->is_set && i < list->list_count; i++)
		if (strcmp(list->list[i], s) == 0)
			return 1;
	return 0;
}

static int single_group(const struct planner *p)
{
	return p->nsts == 1;
}

/* "broker 2" with one StatefulSet (node id = ordinal), else the pod name. */
static void node_label(const struct planner *p, const struct pod *pod, char *out, size_t size)
{
	if (single_group(p))
		say(out, size, "broker %ld", pod->ordinal);
	else
		say(out, size, "%s", pod->name);
}

/* --- pods ------------------------------------------------------------------ */

static int condition(const struct planner *p, const struct keelson_json *pod, const char *type, const char **reason,
		     const char **since)
{
	const struct keelson_json *conditions = p->h->json_get(pod, "/status/conditions");
	for (size_t i = 0; i < p->h->json_count(conditions); i++) {
		const struct keelson_json *c = p->h->json_at(conditions, i);
		const char *t = str_at(p, c, "/type");
		if (t != NULL && strcmp(t, type) == 0) {
			if (reason != NULL)
				*reason = str_at(p, c, "/reason");
			if (since != NULL)
				*since = str_at(p, c, "/lastTransitionTime");
			const char *status = str_at(p, c, "/status");
			return status != NULL && strcmp(status, "True") == 0;
		}
	}
	return -1;
}

/* Why a pod cannot start (Strimzi's isPodStuck), or NULL. */
static const char *stuck_reason(const struct planner *p, const struct keelson_json *pod)
{
	const char *phase = str_at(p, pod, "/status/phase");
	const char *reason = NULL;
	if (phase != NULL && strcmp(phase, "Pending") == 0 && condition(p, pod, "PodScheduled", &reason, NULL) == 0 &&
	    reason != NULL && strcmp(reason, "Unschedulable") == 0)
		return "Pending, unschedulable";
	static const char *const waiting[] = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
					      "CreateContainerConfigError"};
	const char *lists[] = {"/status/containerStatuses", "/status/initContainerStatuses"};
	for (size_t l = 0; l < 2; l++) {
		const struct keelson_json *statuses = p->h->json_get(pod, lists[l]);
		for (size_t i = 0; i < p->h->json_count(statuses); i++) {
			const char *r = str_at(p, p->h->json_at(statuses, i), "/state/waiting/reason");
			for (size_t k = 0; r != NULL && k < sizeof(waiting) / sizeof(waiting[0]); k++)
				if (strcmp(r, waiting[k]) == 0)
					return waiting[k];
		}
	}
	return NULL;
}

/* The pods of every StatefulSet, one slot per expected ordinal (missing
 * ones with obj NULL). -1 after a WAIT (pods unreadable) or BLOCKED. */
static int list_pods(struct planner *p, int assume_template_pending)
{
	const struct keelson_host *h = p->h;
	char text[TEXT], key[512];
	p->npods = 0;
	for (size_t s = 0; s < p->nsts; s++) {
		struct sts *st = &p->sts[s];
		long expected = st->live_replicas >= 0 ? st->live_replicas : st->desired_replicas;
		const struct keelson_json *list = NULL;
		char selector[MAX_SELECTOR] = "";
		size_t used = 0;
		const struct keelson_json *labels = h->json_get(st->obj->desired, "/spec/selector/matchLabels");
		for (size_t i = 0; i < h->json_count(labels); i++) {
			const struct keelson_json *l = h->json_at(labels, i);
			const char *v = h->json_string(l);
			int n = say(selector + used, sizeof(selector) - used, "%s%s=%s", used ? "," : "",
					 h->json_key(l), v ? v : "");
			if (n < 0 || (size_t)n >= sizeof(selector) - used) {
				blocked(p, "the StatefulSet's spec.selector.matchLabels is longer than the kafka plugin reads");
				return -1;
			}
			used += (size_t)n;
		}
		if (used == 0) {
			say(text, sizeof(text), "StatefulSet %s/%s has no spec.selector.matchLabels (%s:%u); the kafka "
				 "plugin finds the pods by them", p->ns, st->name, st->obj->file, st->obj->line);
			blocked(p, text);
			return -1;
		}
		if (!p->preview && h->live_list(p->call, "v1", "Pod", p->ns, selector, &list) != 0) {
			say(text, sizeof(text), "wait: the pods of %s/%s cannot be read (gate fails closed)", p->ns,
				 st->name);
			say(key, sizeof(key), "kafka read-pods %s/%s", p->ns, st->name);
			wait_step(p, text, key, NULL, p->restart_timeout);
			return -1;
		}
		if (expected > KAFKA_MAX_PODS || p->npods + (size_t)expected > KAFKA_MAX_PODS) {
			blocked(p, "more than 256 Kafka pods in one system: beyond what the kafka plugin plans");
			return -1;
		}
		for (long o = 0; o < expected; o++) {
			struct pod *pod = &p->pods[p->npods++];
			memset(pod, 0, sizeof(*pod));
			pod->sts = st;
			pod->sts_index = s;
			pod->ordinal = o;
			pod->ready_since = -1;
			say(pod->name, sizeof(pod->name), "%s-%ld", st->name, o);
		}
		size_t count = h->json_count(list);
		for (size_t i = 0; i < count; i++) {
			const struct keelson_json *obj = h->json_at(list, i);
			const char *name = str_at(p, obj, "/metadata/name");
			long o = name != NULL ? ordinal_of(st->name, name) : -1;
			if (o < 0 || o >= expected)
				continue;
			struct pod *pod = &p->pods[p->npods - (size_t)expected + (size_t)o];
			const char *since = NULL;
			pod->obj = obj;
			pod->uid = str_at(p, obj, "/metadata/uid");
			pod->terminating = h->json_get(obj, "/metadata/deletionTimestamp") != NULL;
			pod->ready = condition(p, obj, "Ready", NULL, &since) == 1 && !pod->terminating;
			pod->ready_since = pod->ready ? kafka_parse_time(since) : -1;
			pod->stuck = pod->terminating ? NULL : stuck_reason(p, obj);
			const char *hash = str_at(p, obj, "/metadata/labels/controller-revision-hash");
			pod->out_of_date = !pod->terminating &&
				(assume_template_pending || st->template_pending || hash == NULL ||
				 st->update_revision == NULL || strcmp(hash, st->update_revision) != 0);
		}
	}
	return 0;
}

/* --- metrics gate ------------------------------------------------------- */

/* Scrape every pod that runs. Failures are recorded per pod. */
static void gather_metrics(struct planner *p)
{
	if (p->metrics_gathered || p->preview)
		return;
	p->metrics_gathered = 1;
	const char *gave_up = NULL;
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (gave_up != NULL) {
			/* One plan waits for at most one probe timeout. */
			pod->metrics_state = -1;
			say(pod->metrics_error, sizeof(pod->metrics_error), "metrics of %s not read: %s did not answer",
			    pod->name, gave_up);
			continue;
		}
		if (pod->obj == NULL || pod->terminating) {
			pod->metrics_state = -1;
			say(pod->metrics_error, sizeof(pod->metrics_error), "%s", pod->obj ? "terminating" : "missing");
			continue;
		}
		struct keelson_http_response r;
		if (p->h->http(p->call, KEELSON_PROXY_POD, p->ns, pod->name, p->metrics_port, "GET", p->metrics_path, NULL,
			       p->probe_timeout, &r) != 0) {
			pod->metrics_state = -1;
			say(pod->metrics_error, sizeof(pod->metrics_error), "GET %s:%s%s failed: %s", pod->name,
				 p->metrics_port, p->metrics_path, r.error ? r.error : "no answer");
			if (r.status == 0)
				gave_up = pod->name;
			continue;
		}
		char why[256];
		if (kafka_metrics_parse(&pod->m, r.body, r.body_len, why, sizeof(why)) != 0) {
			pod->metrics_state = -1;
			say(pod->metrics_error, sizeof(pod->metrics_error), "metrics of %s: %s", pod->name, why);
			continue;
		}
		const char *missing = NULL;
		if (pod->sts->controller_only) {
			if (!pod->m.has_active)
				missing = "kafka_controller_kafkacontroller_activecontrollercount";
		} else {
			if (!pod->m.has_urp)
				missing = "kafka_server_replicamanager_underreplicatedpartitions";
			else if (!pod->m.has_umi)
				missing = "kafka_server_replicamanager_underminisrpartitioncount";
			else if (!pod->m.has_partitions)
				missing = "kafka_server_replicamanager_partitioncount";
		}
		if (missing != NULL) {
			pod->metrics_state = -1;
			say(pod->metrics_error, sizeof(pod->metrics_error), "metrics of %s lack %s", pod->name, missing);
			continue;
		}
		pod->metrics_state = 1;
	}
}

struct health {
	int ok;                  /* the gate holds */
	char why[TEXT];          /* what fails, for people */
	struct pod *controller;  /* the active controller, when exactly one */
	double urp, umi, offline;
};

/* Every pod exists, runs Ready, answers metrics; URP, under-min-ISR and
 * offline partitions 0; exactly one active controller. `skip` is a pod
 * allowed to be down (a stuck one about to be replaced), or NULL. */
static void evaluate_health(struct planner *p, struct health *out)
{
	memset(out, 0, sizeof(*out));
	/* The controller orders the roll even while a pod is down: read what
	 * answers first. */
	gather_metrics(p);
	int active = 0, offline_reported = 0;
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (pod->metrics_state == 1 && pod->m.has_active && pod->m.active >= 1) {
			active += pod->m.active < 2 ? 1 : 2; /* 2: "more than one" (no cast of a huge gauge) */
			out->controller = pod;
		}
	}
	if (active != 1)
		out->controller = NULL;
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (pod->obj == NULL) {
			say(out->why, sizeof(out->why), "%s does not exist yet (being recreated)", pod->name);
			return;
		}
		if (pod->terminating) {
			say(out->why, sizeof(out->why), "%s is terminating (restarting)", pod->name);
			return;
		}
		if (!pod->ready) {
			say(out->why, sizeof(out->why), "%s is not Ready%s%s%s%s", pod->name, pod->stuck ? " (" : "",
			    pod->stuck ? pod->stuck : "", pod->stuck ? ")" : "",
			    pod->out_of_date ? "" : " (runs the new version; waiting for it to start)");
			return;
		}
	}
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (pod->metrics_state != 1) {
			say(out->why, sizeof(out->why), "%s (gate fails closed)", pod->metrics_error);
			return;
		}
		out->urp += pod->m.urp;
		out->umi += pod->m.umi;
		out->offline += pod->m.offline;
		offline_reported |= pod->m.has_offline;
	}
	if (out->urp > 0 || out->umi > 0 || out->offline > 0) {
		say(out->why, sizeof(out->why), "URP %.0f, UnderMinIsr %.0f, offline %.0f (the cluster has not caught up)",
			 out->urp, out->umi, out->offline);
		return;
	}
	if (active != 1) {
		say(out->why, sizeof(out->why), "%d active controllers reported, exactly 1 needed", active);
		return;
	}
	if (!offline_reported) {
		say(out->why, sizeof(out->why),
			 "no pod reports kafka_controller_kafkacontroller_offlinepartitionscount (gate fails closed)");
		return;
	}
	out->ok = 1;
}

static void gate_text(const struct planner *p, char *out, size_t size, const struct pod *controller, long brokers,
		      const struct pod *target)
{
	char ctrl[300] = "", cc[300] = "";
	if (p->preview || controller == NULL) {
		say(ctrl, sizeof(ctrl), "; active controller last, decided at run time");
	} else {
		char label[280];
		node_label(p, controller, label, sizeof(label));
		say(ctrl, sizeof(ctrl), " (%s)", label);
	}
	if (p->has_cc && target != NULL && !target->sts->controller_only)
		say(cc, sizeof(cc), ", Cruise Control idle, no partition of broker %ld at min ISR", target->ordinal);
	else if (p->has_cc)
		say(cc, sizeof(cc), ", Cruise Control idle");
	say(out, size, "all %ld %s Ready, URP 0, UnderMinIsr 0, offline 0, 1 active controller%s%s", brokers,
	    p->nsts > 1 ? "Kafka nodes" : "brokers", p->preview || controller == NULL ? cc : ctrl,
	    p->preview || controller == NULL ? ctrl : cc);
}

/* --- StatefulSets ------------------------------------------------------ */

static const struct keelson_view_object *find_object(const struct planner *p, const char *kind, const char *ns,
						      const char *name)
{
	for (size_t i = 0; i < p->view->object_count; i++) {
		const struct keelson_view_object *o = &p->view->objects[i];
		if (strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0 && strcmp(o->namespace_, ns) == 0)
			return o;
	}
	return NULL;
}

/* The hash of the system's ConfigMaps the pod template mounts, from the
 * desired objects (or the base revision's, `base`). 0 none, 1 hashed. */
static int config_hash(struct planner *p, const struct sts *st, int base, char out[17])
{
	const struct keelson_host *h = p->h;
	const struct keelson_json *tmpl = h->json_get(base ? st->obj->live : st->obj->desired, "/spec/template");
	const struct keelson_json *volumes = h->json_get(tmpl, "/spec/volumes");
	unsigned long long hash = 14695981039346656037ULL;
	int found = 0;
	for (size_t i = 0; i < h->json_count(volumes); i++) {
		const struct keelson_json *v = h->json_at(volumes, i);
		const char *names[64];
		size_t n = 0;
		const char *direct = str_at(p, v, "/configMap/name");
		if (direct != NULL)
			names[n++] = direct;
		const struct keelson_json *sources = h->json_get(v, "/projected/sources");
		for (size_t k = 0; k < h->json_count(sources) && n < 64; k++) {
			const char *projected = str_at(p, h->json_at(sources, k), "/configMap/name");
			if (projected != NULL)
				names[n++] = projected;
		}
		for (size_t k = 0; k < n; k++) {
			const struct keelson_view_object *cm = find_object(p, "ConfigMap", p->ns, names[k]);
			const struct keelson_json *doc = cm == NULL ? NULL : base ? cm->live : cm->desired;
			if (doc == NULL)
				continue;
			if (kafka_hash_configmap(h, doc, &hash) != 0)
				continue;
			found = 1;
		}
	}
	say(out, 17, "%016llx", found ? hash : 0ULL);
	return found;
}

static int prepare_sts(struct planner *p, const struct keelson_param_value *names,
		       const struct keelson_param_value *controllers)
{
	const struct keelson_host *h = p->h;
	char text[TEXT];
	if (names == NULL || !names->is_set || names->list_count == 0) {
		h->log(p->call, KEELSON_PLUGIN_LOG_ERROR, "parameter statefulSets is not set");
		return -1;
	}
	if (names->list_count > KAFKA_MAX_STS)
		return blocked(p, "more than 8 StatefulSets in statefulSets: beyond what the kafka plugin plans") != 0 ? -1 : 1;
	for (size_t i = 0; i < names->list_count; i++) {
		const struct keelson_view_object *o = NULL;
		for (size_t k = 0; k < p->view->object_count && o == NULL; k++) {
			const struct keelson_view_object *c = &p->view->objects[k];
			if (strcmp(c->kind, "StatefulSet") == 0 && strcmp(c->name, names->list[i]) == 0)
				o = c;
		}
		if (o == NULL) {
			say(text, sizeof(text), "StatefulSet %s is not among the objects of system %s; add it or fix "
				 "spec.parameters.statefulSets", names->list[i], p->view->system);
			return blocked(p, text) != 0 ? -1 : 1;
		}
		if (p->ns == NULL)
			p->ns = o->namespace_;
		if (strcmp(p->ns, o->namespace_) != 0) {
			say(text, sizeof(text), "StatefulSets %s/%s and %s/%s: the kafka plugin needs all Kafka "
				 "StatefulSets of a system in one namespace", p->ns, p->sts[0].name, o->namespace_, o->name);
			return blocked(p, text) != 0 ? -1 : 1;
		}
		const char *strategy = str_at(p, o->desired, "/spec/updateStrategy/type");
		if (strategy != NULL && strcmp(strategy, "OnDelete") != 0) {
			say(text, sizeof(text), "StatefulSet %s/%s sets spec.updateStrategy.type %s (%s:%u): the kafka "
				 "plugin restarts brokers itself, one at a time behind its gates; write OnDelete or leave "
				 "it out", p->ns, o->name, strategy, o->file, o->line);
			return blocked(p, text) != 0 ? -1 : 1;
		}
		struct sts *st = &p->sts[p->nsts++];
		memset(st, 0, sizeof(*st));
		st->obj = o;
		st->name = o->name;
		st->controller_only = string_in(controllers, o->name);
		st->desired_replicas = count_at(p, o->desired, "/spec/replicas", 1);
		st->live_replicas = o->live == NULL ? -1 : count_at(p, o->live, "/spec/replicas", 1);
		if (st->desired_replicas < 0 || st->desired_replicas > KAFKA_MAX_PODS)
			return blocked(p, "spec.replicas of a Kafka StatefulSet is beyond 0..256") != 0 ? -1 : 1;
	}
	for (size_t i = 0; i < p->nsts; i++) {
		struct sts *st = &p->sts[i];
		const struct keelson_view_object *o = st->obj;
		st->has_config = config_hash(p, st, 0, st->config_hash);
		if (o->live == NULL) {
			st->needs_apply = 1;
			say(st->apply_why, sizeof(st->apply_why), "missing");
			continue;
		}
		int tmpl_drift = !kafka_json_subset(h, p->call, h->json_get(o->desired, "/spec/template"),
						    h->json_get(o->live, "/spec/template"));
		if (p->preview) {
			/* live is the base revision's object, without what this
			 * plugin adds; the configuration from the base ConfigMaps. */
			st->base_has_config = config_hash(p, st, 1, st->base_config_hash);
			int cfg_changed = st->has_config != st->base_has_config ||
					  strcmp(st->config_hash, st->base_config_hash) != 0;
			st->template_pending = tmpl_drift || cfg_changed;
			st->needs_apply = o->state != KEELSON_OBJECT_IN_SYNC ||
					  !kafka_json_subset(h, p->call, o->desired, o->live);
			st->needs_patch = cfg_changed;
			say(st->apply_why, sizeof(st->apply_why), "%s", tmpl_drift ? "pod template changed" : "drifted");
			say(st->patch_why, sizeof(st->patch_why), "broker configuration changed");
			continue;
		}
		st->update_revision = str_at(p, o->live, "/status/updateRevision");
		double generation = num_at(p, o->live, "/metadata/generation", 0);
		double observed = num_at(p, o->live, "/status/observedGeneration", -1);
		st->observed = st->update_revision != NULL && observed >= generation;
		st->live_strategy = str_at(p, o->live, "/spec/updateStrategy/type");
		st->live_hash = h->json_string(h->json_get(o->live,
			"/spec/template/metadata/annotations/keelson.dev~1config-hash"));
		int cfg_drift = st->has_config ? (st->live_hash == NULL || strcmp(st->live_hash, st->config_hash) != 0)
					       : st->live_hash != NULL;
		int strategy_off = st->live_strategy == NULL || strcmp(st->live_strategy, "OnDelete") != 0;
		/* The view's state is the diff engine's: the fields this plugin
		 * adds with a PATCH are not the repository's and not drift. */
		st->needs_apply = o->state != KEELSON_OBJECT_IN_SYNC;
		st->needs_patch = cfg_drift || strategy_off;
		st->template_pending = cfg_drift || (st->needs_apply && tmpl_drift);
		say(st->apply_why, sizeof(st->apply_why), "%s", tmpl_drift ? "pod template changed" : "drifted");
		if (cfg_drift)
			say(st->patch_why, sizeof(st->patch_why), "broker configuration changed: config hash %s -> %s",
			    st->live_hash ? st->live_hash : "none", st->has_config ? st->config_hash : "none");
		else
			say(st->patch_why, sizeof(st->patch_why), "updateStrategy %s -> OnDelete",
			    st->live_strategy ? st->live_strategy : "unset");
	}
	return 0;
}

/* APPLY the StatefulSet as the repository writes it. A missing one is
 * created with 0 replicas (`create`): its pods start only after the PATCH
 * made it OnDelete with the configuration hash, so they never run a
 * template that is about to change. */
static int apply_sts(struct planner *p, struct sts *st, const char *gate, int create)
{
	char text[TEXT];
	long before = st->live_replicas;
	struct kafka_buf b = {0};
	if (create) {
		struct kafka_override ov = {.path = {"spec", "replicas"}, .depth = 2, .json = "0"};
		kafka_json_rewrite(p->h, p->call, &b, st->obj->desired, &ov, 1);
		if (b.oom || b.text == NULL) {
			kafka_buf_free(&b);
			p->h->log(p->call, KEELSON_PLUGIN_LOG_ERROR, "out of memory building StatefulSet %s", st->name);
			return -1;
		}
		say(text, sizeof(text), "create StatefulSet %s/%s with 0 replicas (its pods start once it is OnDelete "
		    "with the config hash)", p->ns, st->name);
	} else if (before >= 0 && before != st->desired_replicas) {
		int tmpl = strcmp(st->apply_why, "pod template changed") == 0;
		say(text, sizeof(text), "apply StatefulSet %s/%s (replicas %ld -> %ld%s)", p->ns, st->name, before,
		    st->desired_replicas, tmpl ? "; pod template changed" : "");
	} else {
		say(text, sizeof(text), "apply StatefulSet %s/%s (%s)", p->ns, st->name, st->apply_why);
	}
	struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = text, .gate = gate};
	if (create)
		s.object_json = b.text;
	else
		s.object = st->obj->desired;
	int rc = add(p, &s);
	kafka_buf_free(&b);
	return rc;
}

static int patch_sts(struct planner *p, struct sts *st);

/* A new StatefulSet: created empty, patched, then as the repository says. */
static int create_sts(struct planner *p, struct sts *st)
{
	say(st->patch_why, sizeof(st->patch_why), "new StatefulSet");
	say(st->apply_why, sizeof(st->apply_why), "%ld replicas", st->desired_replicas);
	if (apply_sts(p, st, NULL, 1) != 0 || patch_sts(p, st) != 0)
		return -1;
	return apply_sts(p, st, NULL, 0);
}

/* PATCH what the plugin adds to a StatefulSet: updateStrategy OnDelete and
 * the configuration hash annotation. A merge patch (an Update, not an
 * apply), so applying the repository's object later keeps both and the
 * diff does not count them as drift. */
static int patch_sts(struct planner *p, struct sts *st)
{
	struct kafka_buf b = {0};
	kafka_buf_printf(&b, "{\"spec\":{\"updateStrategy\":{\"type\":\"OnDelete\",\"rollingUpdate\":null},"
			 "\"template\":{\"metadata\":{\"annotations\":{\"" KAFKA_CONFIG_HASH_ANNOTATION "\":");
	if (st->has_config)
		kafka_buf_printf(&b, "\"%s\"", st->config_hash);
	else
		kafka_buf_printf(&b, "null");
	kafka_buf_printf(&b, "}}}}}");
	if (b.oom) {
		kafka_buf_free(&b);
		return -1;
	}
	char text[TEXT];
	say(text, sizeof(text), "patch StatefulSet %s/%s: updateStrategy OnDelete, " KAFKA_CONFIG_HASH_ANNOTATION
	    " %s (%s)", p->ns, st->name, st->has_config ? st->config_hash : "removed", st->patch_why);
	struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = text, .api_version = "apps/v1",
				 .kind_name = "StatefulSet", .namespace_ = p->ns, .name = st->name,
				 .patch_type = KEELSON_PATCH_MERGE, .patch = b.text};
	int rc = add(p, &s);
	kafka_buf_free(&b);
	return rc;
}

/* --- the roll -------------------------------------------------------------- */

static int cmp_restart(const void *a, const void *b)
{
	const struct pod *x = *(const struct pod *const *)a, *y = *(const struct pod *const *)b;
	if (x->sts_index != y->sts_index)
		return x->sts_index < y->sts_index ? -1 : 1;
	if (x->ready != y->ready)
		return x->ready - y->ready;
	return (y->ordinal > x->ordinal) - (y->ordinal < x->ordinal);
}

/* Restart order: StatefulSets in parameter order; within one, not Ready
 * pods first, then the highest ordinal first, the active controller
 * last of its StatefulSet. */
static size_t restart_order(struct planner *p, struct pod **out, const struct pod *controller)
{
	size_t n = 0;
	for (size_t i = 0; i < p->npods; i++)
		if (p->pods[i].obj != NULL && p->pods[i].out_of_date)
			out[n++] = &p->pods[i];
	qsort(out, n, sizeof(*out), cmp_restart);
	for (size_t i = 0; controller != NULL && i < n; i++) {
		if (out[i] != controller)
			continue;
		size_t last = i;
		while (last + 1 < n && out[last + 1]->sts_index == controller->sts_index)
			last++;
		memmove(&out[i], &out[i + 1], (last - i) * sizeof(*out));
		out[last] = (struct pod *)controller;
		break;
	}
	return n;
}

static int delete_pod(struct planner *p, const struct pod *pod, const char *why, const char *gate)
{
	char text[TEXT];
	char grace[48];
	if (p->grace >= 0)
		say(grace, sizeof(grace), "grace %llds", p->grace);
	else
		say(grace, sizeof(grace), "the pod's grace period");
	say(text, sizeof(text), "restart %s: delete pod %s/%s (%s; %s)", pod->name, p->ns, pod->name, why, grace);
	struct keelson_step s = {.kind = KEELSON_STEP_DELETE_POD, .description = text, .gate = gate,
				 .api_version = "v1", .kind_name = "Pod", .namespace_ = p->ns, .name = pod->name,
				 .precondition_uid = pod->uid ? pod->uid : "unknown", .grace_seconds = p->grace};
	return add(p, &s);
}

static void roll_key(const struct planner *p, char *out, size_t size, size_t left)
{
	/* Stable while a restart is in flight: the pod being restarted is
	 * terminating or new (not counted), nothing else changes. */
	const struct sts *last = &p->sts[p->nsts - 1];
	say(out, size, "kafka roll %s/%s to %s: %zu left", p->ns, p->view->system,
		 last->update_revision ? last->update_revision : "pending", left);
}

/* What will follow the first step, for people (`keelson plan`): each
 * remaining restart after the previous one is back. */
static int project_roll(struct planner *p, struct pod **order, size_t n, size_t from, const struct pod *controller,
			long brokers)
{
	char gate[TEXT], text[TEXT], key[512];
	gate_text(p, gate, sizeof(gate), controller, brokers, n > 0 ? order[n - 1] : NULL);
	for (size_t i = from; i < n; i++) {
		gate_text(p, gate, sizeof(gate), controller, brokers, order[i]);
		if (i > 0) {
			say(text, sizeof(text), "wait until %s is back (new pod Ready, caught up: URP 0) before "
				 "restarting %s, within %llds", order[i - 1]->name, order[i]->name,
				 p->restart_timeout / 1000);
			roll_key(p, key, sizeof(key), n - i);
			if (wait_step(p, text, key, gate, p->restart_timeout) != 0)
				return -1;
		}
		char why[300];
		say(why, sizeof(why), "out of date%s", order[i] == controller ? ", active controller last" : "");
		if (delete_pod(p, order[i], why, gate) != 0)
			return -1;
	}
	if (n > 0) {
		say(text, sizeof(text), "wait until %s is back (new pod Ready, caught up: URP 0), within %llds",
			 order[n - 1]->name, p->restart_timeout / 1000);
		roll_key(p, key, sizeof(key), 0);
		if (wait_step(p, text, key, gate, p->restart_timeout) != 0)
			return -1;
	}
	return 0;
}

static long count_brokers(const struct planner *p)
{
	return (long)p->npods;
}

/* The pod was restarted (up to date) but cannot start: a new version that
 * does not work. Deleting others would take a second broker down. */
static int block_stuck_new(struct planner *p, const struct pod *pod)
{
	char text[TEXT];
	say(text, sizeof(text), "%s/%s runs the new version but is stuck (%s); no other broker is restarted. Fix "
		 "the StatefulSet or configuration in Git (a new commit clears the block) or repair the pod, then "
		 "delete ConfigMap keelson-rollout-<cluster>-%s to resume", p->ns, pod->name, pod->stuck,
		 p->view->system);
	return blocked(p, text);
}

/* Nothing out of date and every pod Ready for longer than a restart may
 * take: nothing was restarted lately, so nothing is probed (an idle
 * system costs no scrape per cycle). */
static int idle(const struct planner *p)
{
	long long now = p->h->now_ms(p->call) / 1000, newest = -1;
	for (size_t i = 0; i < p->npods; i++) {
		const struct pod *pod = &p->pods[i];
		if (pod->obj == NULL || pod->terminating || !pod->ready || pod->out_of_date || pod->ready_since < 0)
			return 0;
		if (pod->ready_since > newest)
			newest = pod->ready_since;
	}
	return newest >= 0 && now - newest > p->restart_timeout / 1000 + 60;
}

static int plan_roll(struct planner *p)
{
	char text[TEXT], key[512], gate[TEXT];
	struct pod *order[KAFKA_MAX_PODS];
	if (idle(p))
		return 0;
	/* Metrics are read once the pods are up; the controller orders the roll. */
	struct health health;
	evaluate_health(p, &health);
	size_t n = restart_order(p, order, health.controller);
	long brokers = count_brokers(p);

	/* A stuck pod that is already out of date is down anyway: replace it
	 * without the gate (Strimzi's POD_STUCK). */
	for (size_t i = 0; i < n; i++) {
		if (order[i]->stuck == NULL || order[i]->ready)
			continue;
		say(gate, sizeof(gate), "%s is stuck (%s) and out of date: replaced without the metrics gate, it is "
			 "down already", order[i]->name, order[i]->stuck);
		char why[300];
		say(why, sizeof(why), "out of date, stuck: %s", order[i]->stuck);
		if (delete_pod(p, order[i], why, gate) != 0)
			return -1;
		return 0;
	}
	/* A restarted pod that cannot start blocks everything. */
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (pod->obj != NULL && !pod->out_of_date && !pod->terminating && !pod->ready && pod->stuck != NULL)
			return block_stuck_new(p, pod);
	}
	if (health.ok && n > 0 && p->has_cc && !order[0]->sts->controller_only) {
		/* Cruise Control's per-partition view for the broker to restart. */
		char why[TEXT];
		int rc = kafka_cc_may_restart(&p->cc, order[0]->ordinal, why, sizeof(why));
		if (rc != 0) {
			health.ok = 0;
			say(health.why, sizeof(health.why), "%s", why);
		}
	}
	gate_text(p, gate, sizeof(gate), health.controller, brokers, n > 0 ? order[0] : NULL);
	if (n == 0) {
		if (health.ok)
			return 0;
		say(text, sizeof(text), "wait until every broker is back and caught up: %s", health.why);
		roll_key(p, key, sizeof(key), 0);
		return wait_step(p, text, key, gate, p->restart_timeout);
	}
	if (!health.ok) {
		say(text, sizeof(text), "wait before restarting %s: %s", order[0]->name, health.why);
		roll_key(p, key, sizeof(key), n);
		if (wait_step(p, text, key, gate, p->restart_timeout) != 0)
			return -1;
		return project_roll(p, order, n, 0, health.controller, brokers);
	}
	char why[300];
	say(why, sizeof(why), "out of date%s", order[0] == health.controller ? ", active controller last" : "");
	if (delete_pod(p, order[0], why, gate) != 0)
		return -1;
	return project_roll(p, order, n, 1, health.controller, brokers);
}

/* --- scaling ------------------------------------------------------------- */

static void id_list(char *out, size_t size, long from, long to)
{
	size_t used = 0;
	out[0] = '\0';
	for (long i = from; i < to && used + 12 < size; i++)
		used += (size_t)say(out + used, size - used, "%s%ld", i > from ? "," : "", i);
}

/* A shrink of StatefulSet `st` (the highest ordinals go). 1: go on with
 * the apply (the leaving brokers are empty; *gate says so), 0: steps were
 * added and planning stops, -1: error. */
static int plan_scale_down(struct planner *p, struct sts *st, char *gate, size_t gate_size)
{
	char text[TEXT], key[512], ids[512];
	long from = st->desired_replicas, to = st->live_replicas;
	id_list(ids, sizeof(ids), from, to);
	if (p->preview) {
		if (p->has_cc) {
			char path[600];
			kafka_cc_operation_path(path, sizeof(path), "remove_broker", ids);
			say(text, sizeof(text), "ask Cruise Control to move every replica off brokers %s "
				 "(remove_broker, dryrun=false)", ids);
			struct keelson_step s = {.kind = KEELSON_STEP_HTTP, .description = text, .http_target =
				KEELSON_PROXY_SERVICE, .namespace_ = p->ns, .name = p->cc.service, .http_port = p->cc.port,
				.http_method = "POST", .http_path = path, .gate =
				"all brokers Ready, URP 0, Cruise Control idle"};
			if (add(p, &s) != 0)
				return -1;
		}
		say(text, sizeof(text), "wait until brokers %s hold no partition replica (refused otherwise)", ids);
		say(key, sizeof(key), "kafka scale-down %s/%s to %ld", p->ns, st->name, from);
		if (wait_step(p, text, key, NULL, p->rebalance_timeout) != 0)
			return -1;
		say(gate, gate_size, "brokers %s hold no partition replica", ids);
		return 1;
	}
	gather_metrics(p);
	struct kafka_buf held_text = {0};
	double held = 0;
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (pod->sts != st || pod->ordinal < from)
			continue;
		if (pod->metrics_state != 1) {
			say(text, sizeof(text), "wait before shrinking %s/%s to %ld: whether broker %ld still holds "
				 "replicas cannot be read: %s", p->ns, st->name, from, pod->ordinal, pod->metrics_error);
			say(key, sizeof(key), "kafka scale-down %s/%s to %ld", p->ns, st->name, from);
			kafka_buf_free(&held_text);
			return wait_step(p, text, key, NULL, p->restart_timeout) != 0 ? -1 : 0;
		}
		if (pod->m.partitions > 0)
			kafka_buf_printf(&held_text, "%s%ld (%.0f replicas)", held > 0 ? ", " : "", pod->ordinal,
					 pod->m.partitions);
		held += pod->m.partitions;
	}
	if (held == 0) {
		kafka_buf_free(&held_text);
		say(gate, gate_size, "brokers %s hold no partition replica (partitioncount 0)", ids);
		return 1;
	}
	char holding[600];
	say(holding, sizeof(holding), "%s", held_text.text ? held_text.text : "?");
	kafka_buf_free(&held_text);
	if (!p->has_cc) {
		say(text, sizeof(text), "scale-down of %s/%s from %ld to %ld refused: brokers %s still hold partition "
			 "replicas and no cruiseControlService is configured to move them; move them off (Cruise "
			 "Control or kafka-reassign-partitions.sh) or restore spec.replicas %ld in Git", p->ns, st->name,
			 to, from, holding, to);
		return blocked(p, text) != 0 ? -1 : 0;
	}
	enum kafka_cc_task status;
	char task[128], why[TEXT];
	say(key, sizeof(key), "kafka scale-down %s/%s to %ld", p->ns, st->name, from);
	if (kafka_cc_find_task(&p->cc, "remove_broker", ids, &status, task, sizeof(task), why, sizeof(why)) != 0) {
		say(text, sizeof(text), "wait before shrinking %s/%s: %s", p->ns, st->name, why);
		return wait_step(p, text, key, NULL, p->restart_timeout) != 0 ? -1 : 0;
	}
	switch (status) {
	case KAFKA_CC_TASK_ACTIVE:
	case KAFKA_CC_TASK_IN_EXECUTION:
		say(text, sizeof(text), "wait for Cruise Control task %s (remove_broker %s, %s) to move every replica "
			 "off; brokers %s still hold them", task, ids, kafka_cc_task_name(status), holding);
		say(key, sizeof(key), "kafka cc remove_broker %s/%s %s task %s", p->ns, st->name, ids, task);
		return wait_step(p, text, key, NULL, p->rebalance_timeout) != 0 ? -1 : 0;
	case KAFKA_CC_TASK_COMPLETED:
		say(text, sizeof(text), "scale-down of %s/%s from %ld to %ld: Cruise Control task %s (remove_broker "
			 "%s) completed but brokers %s still hold partition replicas; waiting for them to go (refused "
			 "after the timeout)", p->ns, st->name, to, from, task, ids, holding);
		say(key, sizeof(key), "kafka cc remove_broker %s/%s %s task %s done", p->ns, st->name, ids, task);
		return wait_step(p, text, key, NULL, p->restart_timeout) != 0 ? -1 : 0;
	case KAFKA_CC_TASK_COMPLETED_WITH_ERROR: {
		char error[600];
		kafka_cc_task_error(&p->cc, task, error, sizeof(error));
		say(text, sizeof(text), "scale-down of %s/%s from %ld to %ld refused: Cruise Control task %s "
			 "(remove_broker %s) failed: %s; brokers %s still hold replicas", p->ns, st->name, to, from,
			 task, ids, error, holding);
		return blocked(p, text) != 0 ? -1 : 0;
	}
	case KAFKA_CC_TASK_NONE:
		break;
	}
	long rf = 0;
	char partition[300];
	if (kafka_cc_max_replication(&p->cc, &rf, partition, sizeof(partition), why, sizeof(why)) != 0) {
		say(text, sizeof(text), "wait before shrinking %s/%s: %s", p->ns, st->name, why);
		return wait_step(p, text, key, NULL, p->restart_timeout) != 0 ? -1 : 0;
	}
	if (rf > from) {
		say(text, sizeof(text), "scale-down of %s/%s from %ld to %ld refused: brokers %s hold replicas and "
			 "partition %s has %ld replicas, more than the %ld brokers that would remain; lower the "
			 "replication factor first or restore spec.replicas %ld in Git", p->ns, st->name, to, from,
			 holding, partition, rf, from, to);
		return blocked(p, text) != 0 ? -1 : 0;
	}
	struct health health;
	evaluate_health(p, &health);
	if (health.ok && kafka_cc_idle(&p->cc, why, sizeof(why)) != 0) {
		health.ok = 0;
		say(health.why, sizeof(health.why), "%s", why);
	}
	char cc_gate[TEXT];
	gate_text(p, cc_gate, sizeof(cc_gate), health.controller, count_brokers(p), NULL);
	if (!health.ok) {
		say(text, sizeof(text), "wait before asking Cruise Control to empty brokers %s: %s", ids, health.why);
		return wait_step(p, text, key, cc_gate, p->restart_timeout) != 0 ? -1 : 0;
	}
	char path[600];
	kafka_cc_operation_path(path, sizeof(path), "remove_broker", ids);
	say(text, sizeof(text), "ask Cruise Control to move every replica off brokers %s (remove_broker, "
		 "dryrun=false): they hold %s", ids, holding);
	struct keelson_step s = {.kind = KEELSON_STEP_HTTP, .description = text, .gate = cc_gate,
				 .http_target = KEELSON_PROXY_SERVICE, .namespace_ = p->ns, .name = p->cc.service,
				 .http_port = p->cc.port, .http_method = "POST", .http_path = path,
				 .timeout_ms = p->probe_timeout};
	if (add(p, &s) != 0)
		return -1;
	say(text, sizeof(text), "wait for Cruise Control to empty brokers %s, then shrink %s/%s to %ld", ids,
		 p->ns, st->name, from);
	return wait_step(p, text, key, NULL, p->rebalance_timeout) != 0 ? -1 : 0;
}

/* New brokers that hold nothing while others hold replicas: Cruise
 * Control add_broker. 1: nothing to do, 0: steps added, -1: error. */
static int plan_scale_up(struct planner *p)
{
	if (!p->has_cc || p->preview || idle(p))
		return 1;
	struct health health;
	evaluate_health(p, &health);
	if (!health.ok)
		return 1; /* the roll waits for health with its own reason */
	char ids[512] = "", text[TEXT], key[512], task[128], why[TEXT];
	size_t used = 0;
	int empty = 0, loaded = 0;
	const struct sts *brokers = &p->sts[p->nsts - 1];
	for (size_t i = 0; i < p->npods; i++) {
		struct pod *pod = &p->pods[i];
		if (pod->sts->controller_only)
			continue;
		if (pod->m.partitions > 0) {
			loaded = 1;
		} else if (pod->sts == brokers && used + 12 < sizeof(ids)) {
			used += (size_t)say(ids + used, sizeof(ids) - used, "%s%ld", empty ? "," : "", pod->ordinal);
			empty = 1;
		}
	}
	if (!loaded)
		return 1;
	if (!empty) {
		/* Every broker holds replicas, but an add_broker may still be
		 * moving them (a broker gets its first replica long before its
		 * share): the scale-up is done when the executor is idle. */
		if (kafka_cc_idle(&p->cc, why, sizeof(why)) == 0)
			return 1;
		say(text, sizeof(text), "wait until Cruise Control has finished moving partitions: %s", why);
		say(key, sizeof(key), "kafka cc executor %s/%s", p->ns, brokers->name);
		return wait_step(p, text, key, NULL, p->rebalance_timeout) != 0 ? -1 : 0;
	}
	enum kafka_cc_task status;
	say(key, sizeof(key), "kafka cc add_broker %s/%s %s", p->ns, brokers->name, ids);
	if (kafka_cc_find_task(&p->cc, "add_broker", ids, &status, task, sizeof(task), why, sizeof(why)) != 0) {
		say(text, sizeof(text), "wait before moving partitions onto new brokers %s: %s", ids, why);
		return wait_step(p, text, key, NULL, p->restart_timeout) != 0 ? -1 : 0;
	}
	switch (status) {
	case KAFKA_CC_TASK_ACTIVE:
	case KAFKA_CC_TASK_IN_EXECUTION:
		say(text, sizeof(text), "wait for Cruise Control task %s (add_broker %s, %s) to move partitions onto "
			 "the new brokers", task, ids, kafka_cc_task_name(status));
		say(key, sizeof(key), "kafka cc add_broker %s/%s %s task %s", p->ns, brokers->name, ids, task);
		return wait_step(p, text, key, NULL, p->rebalance_timeout) != 0 ? -1 : 0;
	case KAFKA_CC_TASK_COMPLETED:
		return 1; /* what Cruise Control found worth moving has moved */
	case KAFKA_CC_TASK_COMPLETED_WITH_ERROR: {
		char error[600];
		kafka_cc_task_error(&p->cc, task, error, sizeof(error));
		say(text, sizeof(text), "Cruise Control task %s (add_broker %s) failed: %s; the new brokers hold no "
			 "partitions. Rebalance by hand or change the system in Git", task, ids, error);
		return blocked(p, text) != 0 ? -1 : 0;
	}
	case KAFKA_CC_TASK_NONE:
		break;
	}
	char gate[TEXT];
	gate_text(p, gate, sizeof(gate), health.controller, count_brokers(p), NULL);
	if (kafka_cc_idle(&p->cc, why, sizeof(why)) != 0) {
		say(text, sizeof(text), "wait before moving partitions onto new brokers %s: %s", ids, why);
		return wait_step(p, text, key, gate, p->restart_timeout) != 0 ? -1 : 0;
	}
	char path[600];
	kafka_cc_operation_path(path, sizeof(path), "add_broker", ids);
	say(text, sizeof(text), "ask Cruise Control to move partitions onto new brokers %s (add_broker, "
		 "dryrun=false)", ids);
	struct keelson_step s = {.kind = KEELSON_STEP_HTTP, .description = text, .gate = gate,
				 .http_target = KEELSON_PROXY_SERVICE, .namespace_ = p->ns, .name = p->cc.service,
				 .http_port = p->cc.port, .http_method = "POST", .http_path = path,
				 .timeout_ms = p->probe_timeout};
	if (add(p, &s) != 0)
		return -1;
	say(text, sizeof(text), "wait for Cruise Control to finish add_broker %s", ids);
	return wait_step(p, text, key, NULL, p->rebalance_timeout) != 0 ? -1 : 0;
}

/* --- plans ---------------------------------------------------------------- */

static int is_kafka_sts(const struct planner *p, const struct keelson_view_object *o)
{
	for (size_t i = 0; i < p->nsts; i++)
		if (p->sts[i].obj == o)
			return 1;
	return 0;
}

/* Objects other than the StatefulSets, in the view's order: the host
 * sorts it in apply order (Namespaces, CRDs, RBAC, ConfigMaps and Secrets,
 * Services, ...), so a ConfigMap is applied before the brokers that mount
 * it restart. */
static int apply_others(struct planner *p, int *acted)
{
	char text[TEXT];
	for (size_t i = 0; i < p->view->object_count; i++) {
		const struct keelson_view_object *o = &p->view->objects[i];
		if (o->state == KEELSON_OBJECT_IN_SYNC || is_kafka_sts(p, o))
			continue;
		say(text, sizeof(text), "apply %s %s%s%s (%s)", o->kind, o->namespace_, o->namespace_[0] ? "/" : "",
			 o->name, o->state == KEELSON_OBJECT_MISSING ? "missing" : "drifted");
		struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = text, .object = o->desired};
		if (add(p, &s) != 0)
			return -1;
		*acted = 1;
	}
	return 0;
}

/* The roll the preview shows: pods the base revision made and the head
 * keeps, highest ordinal first, StatefulSets in order. */
static int plan_preview(struct planner *p)
{
	int acted = 0;
	char text[TEXT], key[512], ids[512];
	if (apply_others(p, &acted) != 0)
		return -1;
	for (size_t i = 0; i < p->nsts; i++) {
		struct sts *st = &p->sts[i];
		char gate[TEXT] = "";
		if (st->live_replicas >= 0 && st->desired_replicas < st->live_replicas) {
			int rc = plan_scale_down(p, st, gate, sizeof(gate));
			if (rc <= 0)
				return rc;
		}
		if (st->live_replicas < 0) {
			if (create_sts(p, st) != 0)
				return -1;
			continue;
		}
		if (st->needs_patch && patch_sts(p, st) != 0)
			return -1;
		if (st->needs_apply && apply_sts(p, st, gate[0] ? gate : NULL, 0) != 0)
			return -1;
		if (st->desired_replicas > st->live_replicas) {
			id_list(ids, sizeof(ids), st->live_replicas, st->desired_replicas);
			say(text, sizeof(text), "wait until the new brokers %s of %s/%s are Ready", ids, p->ns, st->name);
			say(key, sizeof(key), "kafka scale-up %s/%s", p->ns, st->name);
			if (wait_step(p, text, key, NULL, p->restart_timeout) != 0)
				return -1;
			if (p->has_cc && i == p->nsts - 1) {
				char path[600];
				kafka_cc_operation_path(path, sizeof(path), "add_broker", ids);
				say(text, sizeof(text), "ask Cruise Control to move partitions onto new brokers %s "
					 "(add_broker, dryrun=false)", ids);
				struct keelson_step s = {.kind = KEELSON_STEP_HTTP, .description = text,
							 .gate = "all brokers Ready, URP 0, Cruise Control idle",
							 .http_target = KEELSON_PROXY_SERVICE, .namespace_ = p->ns,
							 .name = p->cc.service, .http_port = p->cc.port,
							 .http_method = "POST", .http_path = path};
				if (add(p, &s) != 0)
					return -1;
				say(text, sizeof(text), "wait for Cruise Control to finish add_broker %s", ids);
				if (wait_step(p, text, key, NULL, p->rebalance_timeout) != 0)
					return -1;
			}
		}
	}
	/* Derived pods: ordinals both revisions have. */
	p->npods = 0;
	long brokers = 0;
	for (size_t i = 0; i < p->nsts; i++) {
		struct sts *st = &p->sts[i];
		brokers += st->desired_replicas;
		if (st->live_replicas < 0 || !st->template_pending)
			continue;
		long keep = st->desired_replicas < st->live_replicas ? st->desired_replicas : st->live_replicas;
		for (long o = 0; o < keep && p->npods < KAFKA_MAX_PODS; o++) {
			struct pod *pod = &p->pods[p->npods++];
			memset(pod, 0, sizeof(*pod));
			pod->sts = st;
			pod->sts_index = i;
			pod->ordinal = o;
			pod->ready = 1;
			pod->out_of_date = 1;
			pod->uid = "preview";
			pod->obj = p->view->objects[0].desired; /* a placeholder: "exists" */
			say(pod->name, sizeof(pod->name), "%s-%ld", st->name, o);
		}
	}
	struct pod *order[KAFKA_MAX_PODS];
	size_t n = restart_order(p, order, NULL);
	return project_roll(p, order, n, 0, NULL, brokers);
}

static int plan_live(struct planner *p)
{
	int acted = 0;
	char text[TEXT], key[512];
	if (apply_others(p, &acted) != 0)
		return -1;
	char gates[KAFKA_MAX_STS][TEXT];
	for (size_t i = 0; i < p->nsts; i++) {
		struct sts *st = &p->sts[i];
		gates[i][0] = '\0';
		if (st->live_replicas < 0 || st->desired_replicas >= st->live_replicas)
			continue;
		if (acted)
			return 0; /* the other objects first; the shrink is decided after */
		if (st->controller_only) {
			say(text, sizeof(text), "scale-down of the KRaft controllers %s/%s from %ld to %ld refused: the "
				 "kafka plugin does not change the controller quorum; restore spec.replicas %ld in Git",
				 p->ns, st->name, st->live_replicas, st->desired_replicas, st->live_replicas);
			return blocked(p, text);
		}
		if (list_pods(p, 0) != 0)
			return 0;
		int rc = plan_scale_down(p, st, gates[i], sizeof(gates[i]));
		if (rc <= 0)
			return rc;
	}
	int missing = 0;
	for (size_t i = 0; i < p->nsts; i++) {
		if (p->sts[i].live_replicas < 0) {
			if (create_sts(p, &p->sts[i]) != 0)
				return -1;
			missing = 1;
		}
	}
	if (missing)
		return 0; /* the StatefulSet controller creates the pods; nothing to restart */
	for (size_t i = 0; i < p->nsts; i++) {
		if (p->sts[i].needs_patch) {
			if (patch_sts(p, &p->sts[i]) != 0)
				return -1;
			acted = 1;
		}
	}
	for (size_t i = 0; i < p->nsts; i++) {
		struct sts *st = &p->sts[i];
		if (!st->needs_apply)
			continue;
		if (apply_sts(p, st, gates[i][0] ? gates[i] : NULL, 0) != 0)
			return -1;
		acted = 1;
	}
	if (acted) {
		/* What the applies will cause, for `keelson plan`. */
		if (list_pods(p, 0) != 0)
			return 0;
		struct health health;
		evaluate_health(p, &health);
		struct pod *order[KAFKA_MAX_PODS];
		size_t n = restart_order(p, order, health.controller);
		p->projected = 1;
		return project_roll(p, order, n, 0, health.controller, count_brokers(p));
	}
	for (size_t i = 0; i < p->nsts; i++) {
		struct sts *st = &p->sts[i];
		if (st->observed)
			continue;
		say(text, sizeof(text), "wait for the StatefulSet controller to observe %s/%s", p->ns, st->name);
		say(key, sizeof(key), "kafka observe %s/%s generation %.0f", p->ns, st->name,
			 num_at(p, st->obj->live, "/metadata/generation", 0));
		return wait_step(p, text, key, NULL, p->restart_timeout);
	}
	if (list_pods(p, 0) != 0)
		return 0;
	int rc = plan_scale_up(p);
	if (rc <= 0)
		return rc;
	return plan_roll(p);
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
	const struct keelson_param_value *v;
	long long port = (v = keelson_view_param(view, "metricsPort")) && v->is_set ? v->integer : 9404;
	say(p->metrics_port, sizeof(p->metrics_port), "%lld", port);
	p->metrics_path = (v = keelson_view_param(view, "metricsPath")) && v->is_set ? v->string : "/metrics";
	p->restart_timeout = (v = keelson_view_param(view, "restartTimeout")) && v->is_set ? v->integer : 300000;
	p->probe_timeout = (v = keelson_view_param(view, "probeTimeout")) && v->is_set ? v->integer : 10000;
	p->rebalance_timeout = (v = keelson_view_param(view, "rebalanceTimeout")) && v->is_set ? v->integer : 7200000;
	p->grace = (v = keelson_view_param(view, "gracePeriodSeconds")) && v->is_set ? v->integer : -1;
	int rc = prepare_sts(p, keelson_view_param(view, "statefulSets"),
			     keelson_view_param(view, "controllerStatefulSets"));
	if (rc == 0) {
		v = keelson_view_param(view, "cruiseControlService");
		if (v != NULL && v->is_set) {
			p->has_cc = 1;
			p->cc = (struct kafka_cc){.h = h, .call = call, .ns = p->ns, .service = v->string,
						  .timeout_ms = p->probe_timeout};
			const struct keelson_param_value *cp = keelson_view_param(view, "cruiseControlPort");
			say(p->cc.port, sizeof(p->cc.port), "%lld", cp && cp->is_set ? cp->integer : 9090);
		}
		rc = p->preview ? plan_preview(p) : plan_live(p);
	} else if (rc > 0) {
		rc = 0; /* a BLOCKED step says why */
	}
	free(p);
	return rc;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "kafka",
	.version = "1.0",
	.description = "Kafka on StatefulSets: one broker at a time behind metrics gates, active controller last, "
		       "Cruise Control on scaling",
	.params = params,
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
