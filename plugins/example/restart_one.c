/*
 * restart-one-at-a-time: an example keelson plugin, and the template for
 * the Kafka, Cassandra and Spark plugins.
 *
 * It drives a StatefulSet whose update strategy is OnDelete: after the
 * repository's objects are applied, every pod whose controller-revision-hash
 * differs from the StatefulSet's updateRevision is deleted, one at a time,
 * and only while every pod of the StatefulSet is Ready (a pod that is not
 * Ready itself and out of date goes first: it is down already). Everything
 * is decided from what is observed, so re-planning after a restart of
 * keelson continues where the cluster is. In a preview
 * (KEELSON_VIEW_PREVIEW, `keelson plan --base --head`) the pods are derived
 * from the StatefulSet instead of observed.
 *
 * Includes only the SDK and libc, as every plugin must.
 */
#include <keelson/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PODS 1000
#define MAX_SELECTOR 1024

static const struct keelson_param params[] = {
	{.name = "statefulSet", .type = KEELSON_PARAM_STRING, .flags = KEELSON_PARAM_REQUIRED,
	 .description = "the StatefulSet (updateStrategy OnDelete) whose pods are restarted",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	{.name = "readyTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "5m",
	 .description = "how long pods may take to be Ready again before the rollout is blocked"},
	{.name = "gracePeriodSeconds", .type = KEELSON_PARAM_INTEGER, .default_value = "30",
	 .minimum = 0, .maximum = 3600, .description = "grace period of each pod deletion"},
	{.type = KEELSON_PARAM_END},
};

struct pod {
	const struct keelson_json *obj;
	const char *name;
	const char *uid;
	long ordinal;
	int ready;
	int terminating;
	int out_of_date;
};

struct planner {
	const struct keelson_host *h;
	struct keelson_plugin_call *call;
	const struct keelson_view *view;
	const char *sts_name;
	const char *ns;
	long long ready_timeout_ms;
	long long grace;
};

static const char *str_at(const struct planner *p, const struct keelson_json *node, const char *pointer)
{
	return p->h->json_string(p->h->json_get(node, pointer));
}

static int add(struct planner *p, struct keelson_step *step)
{
	step->struct_size = sizeof(*step);
	return p->h->add_step(p->call, step);
}

static int blocked(struct planner *p, const char *reason)
{
	struct keelson_step s = {.kind = KEELSON_STEP_BLOCKED, .description = "stop: the rollout cannot go on safely",
				 .reason = reason};
	return add(p, &s);
}

/* Fail closed: what cannot be observed is waited for, then blocks. */
static int wait_for(struct planner *p, const char *description, const char *key)
{
	struct keelson_step s = {.kind = KEELSON_STEP_WAIT, .description = description, .key = key,
				 .timeout_ms = p->ready_timeout_ms};
	return add(p, &s);
}

static int is_ready(const struct planner *p, const struct keelson_json *pod)
{
	const struct keelson_json *conditions = p->h->json_get(pod, "/status/conditions");
	for (size_t i = 0; i < p->h->json_count(conditions); i++) {
		const struct keelson_json *c = p->h->json_at(conditions, i);
		const char *type = str_at(p, c, "/type");
		const char *status = str_at(p, c, "/status");
		if (type != NULL && strcmp(type, "Ready") == 0)
			return status != NULL && strcmp(status, "True") == 0;
	}
	return 0;
}

/* "web-3" of StatefulSet "web" -> 3; -1 for anything else. */
static long ordinal_of(const char *sts, const char *pod)
{
	size_t n = strlen(sts);
	if (strncmp(pod, sts, n) != 0 || pod[n] != '-' || pod[n + 1] == '\0')
		return -1;
	char *end;
	long v = strtol(pod + n + 1, &end, 10);
	return *end == '\0' && v >= 0 ? v : -1;
}

/* Not Ready first (already down), then the highest ordinal, as the
 * StatefulSet controller itself would. */
static int restart_order(const void *a, const void *b)
{
	const struct pod *x = a, *y = b;
	if (x->ready != y->ready)
		return x->ready - y->ready;
	return (y->ordinal > x->ordinal) - (y->ordinal < x->ordinal);
}

static long replicas_of(const struct planner *p, const struct keelson_json *sts)
{
	double replicas = 1;
	if (sts == NULL || p->h->json_number(p->h->json_get(sts, "/spec/replicas"), &replicas) != 0)
		replicas = 1;
	return replicas < 0 ? 0 : (long)replicas;
}

/* KEELSON_VIEW_PREVIEW: no pods and no probes, `live` is the base revision.
 * The pods that would restart are those the base revision's template made
 * and the head revision keeps (ordinals below both replica counts; new
 * ones start from the new template), highest ordinal first, each gated as
 * the live rollout gates it. */
static int plan_preview(struct planner *p, const struct keelson_view_object *sts)
{
	const struct keelson_host *h = p->h;
	if (h->json_equal(h->json_get(sts->desired, "/spec/template"), h->json_get(sts->live, "/spec/template")))
		return 0; /* the pods keep their template: nothing restarts */
	long desired = replicas_of(p, sts->desired), before = replicas_of(p, sts->live);
	long restarts = desired < before ? desired : before;
	char text[1024], gate[512], key[512], pod[300];
	snprintf(gate, sizeof(gate), "all %ld pods of %s Ready", desired, p->sts_name);
	for (long ordinal = restarts - 1; ordinal >= 0; ordinal--) {
		snprintf(pod, sizeof(pod), "%s-%ld", p->sts_name, ordinal);
		if (ordinal != restarts - 1) {
			snprintf(text, sizeof(text), "wait until %s before restarting %s", gate, pod);
			snprintf(key, sizeof(key), "ready-before/%s/%s", p->ns, pod);
			struct keelson_step w = {.kind = KEELSON_STEP_WAIT, .description = text, .key = key,
						 .timeout_ms = p->ready_timeout_ms, .gate = gate};
			if (add(p, &w) != 0)
				return -1;
		}
		snprintf(text, sizeof(text), "delete pod %s/%s (out of date; grace %llds)", p->ns, pod, p->grace);
		/* No pod exists to take a uid from: the live rollout sets the
		 * real one when it gets there. */
		struct keelson_step d = {.kind = KEELSON_STEP_DELETE_POD, .description = text, .gate = gate,
					 .namespace_ = p->ns, .name = pod, .precondition_uid = "preview",
					 .grace_seconds = p->grace, .api_version = "v1", .kind_name = "Pod"};
		if (add(p, &d) != 0)
			return -1;
	}
	if (restarts == 0)
		return 0;
	snprintf(text, sizeof(text), "wait until all %ld pods of %s are Ready", desired, p->sts_name);
	snprintf(key, sizeof(key), "settle/%s/%s", p->ns, p->sts_name);
	struct keelson_step w = {.kind = KEELSON_STEP_WAIT, .description = text, .key = key,
				 .timeout_ms = p->ready_timeout_ms, .gate = gate};
	return add(p, &w);
}

static int plan(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_view *view)
{
	struct planner p = {.h = h, .call = call, .view = view};
	const struct keelson_param_value *v = keelson_view_param(view, "statefulSet");
	p.sts_name = v != NULL ? v->string : NULL;
	v = keelson_view_param(view, "readyTimeout");
	p.ready_timeout_ms = v != NULL ? v->integer : 300000;
	v = keelson_view_param(view, "gracePeriodSeconds");
	p.grace = v != NULL ? v->integer : 30;
	if (p.sts_name == NULL) {
		h->log(call, KEELSON_PLUGIN_LOG_ERROR, "parameter statefulSet is not set");
		return -1;
	}

	const struct keelson_view_object *sts = NULL;
	for (size_t i = 0; i < view->object_count; i++) {
		const struct keelson_view_object *o = &view->objects[i];
		if (strcmp(o->kind, "StatefulSet") == 0 && strcmp(o->name, p.sts_name) == 0)
			sts = o;
	}
	char text[2048], key[512], gate[512];
	if (sts == NULL) {
		snprintf(text, sizeof(text), "StatefulSet %s is not among the objects of system %s; add it or fix "
			 "spec.parameters.statefulSet", p.sts_name, view->system);
		return blocked(&p, text);
	}
	p.ns = sts->namespace_;
	const char *strategy = str_at(&p, sts->desired, "/spec/updateStrategy/type");
	if (strategy == NULL || strcmp(strategy, "OnDelete") != 0) {
		snprintf(text, sizeof(text), "StatefulSet %s/%s must have spec.updateStrategy.type OnDelete (%s:%u) so "
			 "that keelson, not the controller, restarts its pods", p.ns, p.sts_name, sts->file, sts->line);
		return blocked(&p, text);
	}

	/* The repository first: whatever differs is applied, in order. */
	int template_pending = 0;
	for (size_t i = 0; i < view->object_count; i++) {
		const struct keelson_view_object *o = &view->objects[i];
		if (o->state == KEELSON_OBJECT_IN_SYNC)
			continue;
		if (o == sts)
			template_pending = 1;
		snprintf(text, sizeof(text), "apply %s %s%s%s (%s)", o->kind, o->namespace_,
			 o->namespace_[0] ? "/" : "", o->name, o->state == KEELSON_OBJECT_MISSING ? "missing" : "drifted");
		struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = text, .object = o->desired};
		if (add(&p, &s) != 0)
			return -1;
	}
	if (sts->state == KEELSON_OBJECT_MISSING)
		return 0; /* nothing to restart yet: the controller creates the pods */
	if (KEELSON_VIEW_HAS(view, flags) && (view->flags & KEELSON_VIEW_PREVIEW) != 0)
		return plan_preview(&p, sts);

	double replicas_d = 1;
	if (h->json_number(h->json_get(sts->desired, "/spec/replicas"), &replicas_d) != 0)
		replicas_d = 1;
	long replicas = (long)replicas_d;
	const char *update_revision = str_at(&p, sts->live, "/status/updateRevision");
	double generation = 0, observed = -1;
	h->json_number(h->json_get(sts->live, "/metadata/generation"), &generation);
	h->json_number(h->json_get(sts->live, "/status/observedGeneration"), &observed);
	if (!template_pending && (update_revision == NULL || observed < generation)) {
		snprintf(text, sizeof(text), "wait for the StatefulSet controller to observe %s/%s", p.ns, p.sts_name);
		snprintf(key, sizeof(key), "observe-sts/%s/%s", p.ns, p.sts_name);
		return wait_for(&p, text, key);
	}

	/* Pods by the StatefulSet's own selector. */
	char selector[MAX_SELECTOR] = "";
	const struct keelson_json *labels = h->json_get(sts->desired, "/spec/selector/matchLabels");
	size_t used = 0;
	for (size_t i = 0; i < h->json_count(labels); i++) {
		const struct keelson_json *l = h->json_at(labels, i);
		int n = snprintf(selector + used, sizeof(selector) - used, "%s%s=%s", used ? "," : "", h->json_key(l),
				 h->json_string(l) ? h->json_string(l) : "");
		if (n < 0 || (size_t)n >= sizeof(selector) - used)
			return blocked(&p, "the StatefulSet's selector is too long for this plugin");
		used += (size_t)n;
	}
	const struct keelson_json *list = NULL;
	if (h->live_list(call, "v1", "Pod", p.ns, selector, &list) != 0) {
		snprintf(text, sizeof(text), "wait: the pods of %s/%s cannot be read (gate fails closed)", p.ns,
			 p.sts_name);
		snprintf(key, sizeof(key), "read-pods/%s/%s", p.ns, p.sts_name);
		return wait_for(&p, text, key);
	}
	size_t count = h->json_count(list);
	if (count > MAX_PODS)
		return blocked(&p, "more than 1000 pods match the StatefulSet's selector");
	struct pod pods[MAX_PODS];
	size_t n = 0;
	long ready = 0;
	for (size_t i = 0; i < count; i++) {
		const struct keelson_json *obj = h->json_at(list, i);
		const char *name = str_at(&p, obj, "/metadata/name");
		long ordinal = name ? ordinal_of(p.sts_name, name) : -1;
		if (ordinal < 0 || ordinal >= replicas)
			continue;
		struct pod *pod = &pods[n++];
		const char *hash = str_at(&p, obj, "/metadata/labels/controller-revision-hash");
		*pod = (struct pod){.obj = obj, .name = name, .uid = str_at(&p, obj, "/metadata/uid"),
				    .ordinal = ordinal, .ready = is_ready(&p, obj),
				    .terminating = h->json_get(obj, "/metadata/deletionTimestamp") != NULL};
		/* A pending template change makes every pod out of date. */
		pod->out_of_date = !pod->terminating &&
			(template_pending || hash == NULL || strcmp(hash, update_revision) != 0);
		if (pod->ready && !pod->terminating)
			ready++;
	}
	qsort(pods, n, sizeof(pods[0]), restart_order);

	/* Each restart, in order, gated on every other pod being Ready; the
	 * first one is decided now, the rest are what will follow. */
	int first = 1;
	for (size_t i = 0; i < n; i++) {
		struct pod *pod = &pods[i];
		if (!pod->out_of_date)
			continue;
		if (pod->uid == NULL) {
			snprintf(text, sizeof(text), "pod %s/%s has no uid; cannot delete it safely", p.ns, pod->name);
			return blocked(&p, text);
		}
		long others_needed = pod->ready ? replicas : replicas - 1;
		snprintf(gate, sizeof(gate), "all %ld pods of %s Ready%s (now %ld)", replicas, p.sts_name,
			 pod->ready ? "" : ", this one excepted", ready);
		if (first && (long)n == replicas && ready >= others_needed) {
			/* Gate holds now. */
		} else {
			snprintf(text, sizeof(text), "wait until %s before restarting %s", gate, pod->name);
			snprintf(key, sizeof(key), "ready-before/%s/%s/%s", p.ns, pod->name, pod->uid);
			struct keelson_step s = {.kind = KEELSON_STEP_WAIT, .description = text, .key = key,
						 .timeout_ms = p.ready_timeout_ms, .gate = gate};
			if (add(&p, &s) != 0)
				return -1;
		}
		snprintf(text, sizeof(text), "delete pod %s/%s (out of date%s; grace %llds)", p.ns, pod->name,
			 pod->ready ? "" : ", not Ready", p.grace);
		struct keelson_step s = {.kind = KEELSON_STEP_DELETE_POD, .description = text, .gate = gate,
					 .namespace_ = p.ns, .name = pod->name, .precondition_uid = pod->uid,
					 .grace_seconds = p.grace, .api_version = "v1", .kind_name = "Pod"};
		if (add(&p, &s) != 0)
			return -1;
		first = 0;
	}
	if (first && (ready < replicas || (long)n < replicas)) {
		/* Nothing left to restart: the last restart must come back. */
		snprintf(text, sizeof(text), "wait until all %ld pods of %s are Ready (now %ld)", replicas, p.sts_name,
			 ready);
		snprintf(key, sizeof(key), "settle/%s/%s/%s", p.ns, p.sts_name, update_revision ? update_revision : "");
		return wait_for(&p, text, key);
	}
	return 0;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "restart-one-at-a-time",
	.version = "1.0",
	.description = "restarts the pods of an OnDelete StatefulSet one at a time, each while all pods are Ready",
	.params = params,
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
