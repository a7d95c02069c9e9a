/*
 * Running a plugin's plan(): the host services table, step validation and
 * copying, the view of a system, and the environment backed by the
 * Kubernetes client.
 */
#include "config.h"

#include "plugin/plugin_host.h"

#include "core/error.h"
#include "core/log.h"
#include "diff/diff.h"
#include "json/json_canonical.h"
#include "json/json_pointer.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "layout/layout.h"
#include "reconcile/rules.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STEPS 10000
#define MAX_OBJECT_JSON (1024 * 1024)
#define MAX_LOG_MESSAGE 2048
#define DEFAULT_HTTP_TIMEOUT_MS 10000

/* Everything the services hand out lives in `arena` until plan() returns. */
struct keelson_plugin_call {
	const struct keelson_plugin *plugin;
	const struct keelson_plan_input *input;
	struct keelson_plan *plan;
	cJSON *arena;        /* owned JSON handed to the plugin */
	char **strings;      /* owned strings handed to the plugin */
	size_t string_count, string_capacity;
	int bad_step;        /* a malformed step was added */
	/* The first refused step, for the error: why, and KEELSON_ELIMIT for a
	 * limit, KEELSON_ERROR for a malformed step. */
	char refusal[512];
	int refusal_code;
	char prefix[160];    /* "[plugin:system]" */
};

static const struct keelson_json *J(const cJSON *node)
{
	return (const struct keelson_json *)node;
}

static const cJSON *C(const struct keelson_json *node)
{
	return (const cJSON *)node;
}

static int keep_string(struct keelson_plugin_call *call, char *s)
{
	if (s == NULL)
		return -1;
	if (call->string_count == call->string_capacity) {
		size_t cap = call->string_capacity ? call->string_capacity * 2 : 16;
		char **grown = realloc(call->strings, cap * sizeof(*grown));
		if (grown == NULL) {
			free(s);
			return -1;
		}
		call->strings = grown;
		call->string_capacity = cap;
	}
	call->strings[call->string_count++] = s;
	return 0;
}

static const cJSON *keep_json(struct keelson_plugin_call *call, cJSON *node)
{
	if (node == NULL)
		return NULL;
	cJSON_AddItemToArray(call->arena, node);
	return node;
}

static const struct keelson_json *json_get(const struct keelson_json *node, const char *pointer)
{
	if (node == NULL || pointer == NULL)
		return NULL;
	cJSON *found = NULL;
	if (keelson_json_pointer_get(&found, C(node), pointer) != 0)
		return NULL;
	return J(found);
}

static const char *json_string(const struct keelson_json *node)
{
	return node != NULL ? cJSON_GetStringValue(C(node)) : NULL;
}

static int json_number(const struct keelson_json *node, double *out)
{
	if (node == NULL || !cJSON_IsNumber(C(node)))
		return -1;
	*out = C(node)->valuedouble;
	return 0;
}

static int json_bool(const struct keelson_json *node)
{
	if (node == NULL || !cJSON_IsBool(C(node)))
		return -1;
	return cJSON_IsTrue(C(node)) ? 1 : 0;
}

static size_t json_count(const struct keelson_json *node)
{
	if (node == NULL || !(cJSON_IsArray(C(node)) || cJSON_IsObject(C(node))))
		return 0;
	return (size_t)cJSON_GetArraySize(C(node));
}

static const struct keelson_json *json_at(const struct keelson_json *node, size_t index)
{
	if (node == NULL || index > (size_t)0x7fffffff || !(cJSON_IsArray(C(node)) || cJSON_IsObject(C(node))))
		return NULL;
	return J(cJSON_GetArrayItem(C(node), (int)index));
}

static const char *json_key(const struct keelson_json *node)
{
	return node != NULL ? C(node)->string : NULL;
}

static int json_equal(const struct keelson_json *a, const struct keelson_json *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return keelson_json_equal(C(a), C(b)) ? 1 : 0;
}

static const char *json_text(struct keelson_plugin_call *call, const struct keelson_json *node)
{
	if (node == NULL)
		return NULL;
	char *text = cJSON_PrintUnformatted(C(node));
	if (keep_string(call, text) != 0)
		return NULL;
	return text;
}

static void host_log(struct keelson_plugin_call *call, enum keelson_plugin_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Bodies come from pods and services outside keelson's control: bounded,
 * and the whole text must be one value. */
static const struct keelson_json *json_parse(struct keelson_plugin_call *call, const char *text, size_t len)
{
	if (text == NULL)
		return NULL;
	if (len > KEELSON_JSON_PARSE_MAX) {
		host_log(call, KEELSON_PLUGIN_LOG_DEBUG, "json_parse: %zu bytes is more than the %u allowed", len,
			 KEELSON_JSON_PARSE_MAX);
		return NULL;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root == NULL) {
		/* On failure `end` is where parsing stopped (cJSON_GetErrorPtr is
		 * global, not safe with several plans running). */
		host_log(call, KEELSON_PLUGIN_LOG_DEBUG, "json_parse: not JSON (or nested too deeply) near byte %zu",
			 end != NULL && end >= text ? (size_t)(end - text) : (size_t)0);
		return NULL;
	}
	for (const char *p = end; p != NULL && p < text + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			host_log(call, KEELSON_PLUGIN_LOG_DEBUG, "json_parse: text after the JSON value at byte %zu",
				 (size_t)(p - text));
			cJSON_Delete(root);
			return NULL;
		}
	}
	return J(keep_json(call, root));
}

static void host_log(struct keelson_plugin_call *call, enum keelson_plugin_log_level level, const char *fmt, ...)
{
	char text[MAX_LOG_MESSAGE];
	int n = snprintf(text, sizeof(text), "%s ", call->prefix);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(text))
		vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	const char *fields[] = {"plugin", call->plugin->name, "cluster", call->input->cluster ? call->input->cluster : "",
				"system", call->input->system ? call->input->system : ""};
	enum keelson_log_level l = level <= KEELSON_PLUGIN_LOG_DEBUG ? KEELSON_LOG_DEBUG
				 : level == KEELSON_PLUGIN_LOG_INFO ? KEELSON_LOG_INFO
				 : level == KEELSON_PLUGIN_LOG_WARN ? KEELSON_LOG_WARN : KEELSON_LOG_ERROR;
	keelson_log_fields(l, text, fields, 3);
}

static long long host_now_ms(struct keelson_plugin_call *call)
{
	const struct keelson_plugin_env *env = call->input->env;
	if (env != NULL && env->now_ms != NULL)
		return env->now_ms(env->payload);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int host_live_get(struct keelson_plugin_call *call, const char *api_version, const char *kind,
			 const char *ns, const char *name, const struct keelson_json **out)
{
	*out = NULL;
	const struct keelson_plugin_env *env = call->input->env;
	if (env == NULL || env->live_get == NULL || api_version == NULL || kind == NULL || name == NULL)
		return -1;
	cJSON *obj = NULL;
	int rc = env->live_get(&obj, env->payload, api_version, kind, ns, name);
	if (rc == KEELSON_ENOTFOUND)
		return 1;
	if (rc != 0) {
		host_log(call, KEELSON_PLUGIN_LOG_WARN, "reading %s %s/%s: %s", kind, ns ? ns : "", name,
			 keelson_error_last()->message);
		return -1;
	}
	*out = J(keep_json(call, obj));
	return 0;
}

static int host_live_list(struct keelson_plugin_call *call, const char *api_version, const char *kind,
			  const char *ns, const char *selector, const struct keelson_json **out)
{
	*out = NULL;
	const struct keelson_plugin_env *env = call->input->env;
	if (env == NULL || env->live_list == NULL || api_version == NULL || kind == NULL)
		return -1;
	cJSON *list = NULL;
	int rc = env->live_list(&list, env->payload, api_version, kind, ns, selector);
	if (rc != 0) {
		host_log(call, KEELSON_PLUGIN_LOG_WARN, "listing %s in %s: %s", kind, ns ? ns : "all namespaces",
			 keelson_error_last()->message);
		return -1;
	}
	*out = J(keep_json(call, list));
	return 0;
}

static int host_http(struct keelson_plugin_call *call, enum keelson_proxy_target target, const char *ns,
		     const char *name, const char *port, const char *method, const char *path, const char *body,
		     long long timeout_ms, struct keelson_http_response *out)
{
	memset(out, 0, sizeof(*out));
	out->body = "";
	const struct keelson_plugin_env *env = call->input->env;
	if (env == NULL || env->http == NULL) {
		out->error = "no HTTP access in this context";
		return -1;
	}
	long status = 0;
	char *resp = NULL;
	size_t len = 0;
	int rc = env->http(&status, &resp, &len, env->payload, target, ns, name, port, method ? method : "GET",
			   path ? path : "/", body, timeout_ms > 0 ? timeout_ms : DEFAULT_HTTP_TIMEOUT_MS);
	out->status = status;
	if (resp != NULL && keep_string(call, resp) == 0) {
		out->body = resp;
		out->body_len = len;
	}
	if (rc != 0) {
		char *why = strdup(keelson_error_last()->message);
		if (keep_string(call, why) == 0)
			out->error = why;
		else
			out->error = "request failed";
		return -1;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void step_dispose(struct keelson_plan_step *s)
{
	free(s->description);
	free(s->gate);
	free(s->key);
	free(s->api_version);
	free(s->kind_name);
	free(s->namespace_);
	free(s->name);
	cJSON_Delete(s->object);
	free(s->patch);
	free(s->precondition_uid);
	free(s->http_port);
	free(s->http_method);
	free(s->http_path);
	free(s->http_body);
	free(s->reason);
	free(s->propagation);
	free(s->subresource);
}

void keelson_plan_free(struct keelson_plan *plan)
{
	if (plan == NULL)
		return;
	for (size_t i = 0; i < plan->count; i++)
		step_dispose(&plan->steps[i]);
	free(plan->steps);
	free(plan);
}

const char *keelson_step_kind_name(enum keelson_step_kind kind)
{
	switch (kind) {
	case KEELSON_STEP_APPLY: return "apply";
	case KEELSON_STEP_PATCH: return "patch";
	case KEELSON_STEP_DELETE_POD: return "delete-pod";
	case KEELSON_STEP_HTTP: return "http";
	case KEELSON_STEP_WAIT: return "wait";
	case KEELSON_STEP_BLOCKED: return "blocked";
	case KEELSON_STEP_DELETE: return "delete";
	}
	return "unknown";
}

static bool one_line(const char *s)
{
	return s != NULL && s[0] != '\0' && strchr(s, '\n') == NULL && strlen(s) <= 1024;
}

/* The struct_size of a plugin built against host version 3 or earlier:
 * the fields after it are appended and read only when covered. */
#define STEP_SIZE_V3 offsetof(struct keelson_step, propagation)

/* The step's propagation, or NULL when its struct_size ends before it. */
static const char *step_propagation(const struct keelson_step *st)
{
	return st->struct_size >= offsetof(struct keelson_step, propagation) + sizeof(st->propagation)
		       ? st->propagation
		       : NULL;
}

/* The step's subresource, or NULL when its struct_size ends before it. */
static const char *step_subresource(const struct keelson_step *st)
{
	return st->struct_size >= offsetof(struct keelson_step, subresource) + sizeof(st->subresource)
		       ? st->subresource
		       : NULL;
}

static bool known_propagation(const char *p)
{
	return p == NULL || strcmp(p, "Orphan") == 0 || strcmp(p, "Background") == 0 ||
	       strcmp(p, "Foreground") == 0;
}

/* What makes a step unrunnable, or NULL. */
static const char *step_problem(const struct keelson_step *st)
{
	if (st->struct_size < STEP_SIZE_V3)
		return "struct_size is smaller than this host's struct keelson_step";
	if (!one_line(st->description))
		return "the description is missing, longer than 1024 bytes or has several lines";
	if (st->gate != NULL && !one_line(st->gate))
		return "the gate is empty, too long or has several lines";
	/* The key is kept in the rollout state (at most 64 KiB). */
	if (st->key != NULL && !one_line(st->key))
		return "the key is empty, longer than 1024 bytes or has several lines";
	switch (st->kind) {
	case KEELSON_STEP_APPLY:
		if (st->object != NULL && st->object_json != NULL)
			return "apply with both object and object_json";
		if (st->object_json != NULL)
			return NULL; /* its size is a limit, checked by host_add_step */
		if (st->object == NULL || !cJSON_IsObject(C(st->object)))
			return "apply without an object";
		return NULL;
	case KEELSON_STEP_PATCH:
		if (!st->api_version || !st->kind_name || !st->name || !st->patch || st->patch_type > KEELSON_PATCH_STRATEGIC)
			return "patch without apiVersion, kind, name, patch or a known patch type";
		if (step_subresource(st) != NULL && strcmp(step_subresource(st), "status") != 0 &&
		    strcmp(step_subresource(st), "scale") != 0)
			return "patch of a subresource other than \"status\" or \"scale\"";
		return NULL;
	case KEELSON_STEP_DELETE_POD:
		if (!st->namespace_ || !st->name || !st->precondition_uid)
			return "delete-pod without namespace, name or precondition_uid";
		return NULL;
	case KEELSON_STEP_HTTP:
		if (!st->namespace_ || !st->name || !st->http_method || !st->http_path || st->http_path[0] != '/' ||
		    st->http_target > KEELSON_PROXY_SERVICE)
			return "http without namespace, name, method or a path starting with '/'";
		return NULL;
	case KEELSON_STEP_WAIT:
		if (st->timeout_ms < 0)
			return "wait with a negative timeout";
		return NULL;
	case KEELSON_STEP_BLOCKED:
		if (!one_line(st->reason))
			return "blocked without a one-line reason";
		return NULL;
	case KEELSON_STEP_DELETE:
		if (st->struct_size < offsetof(struct keelson_step, propagation) + sizeof(st->propagation))
			return "delete from a plugin built for host version 3 or earlier (struct_size lacks propagation)";
		if (!one_line(st->api_version) || !one_line(st->kind_name) || !one_line(st->name))
			return "delete without apiVersion, kind or name";
		/* A stale plan must not delete an object re-created since it was
		 * observed. */
		if (!one_line(st->precondition_uid))
			return "delete without precondition_uid (the UID of the object observed)";
		if (!known_propagation(st->propagation))
			return "delete with a propagation other than \"Orphan\", \"Background\" or \"Foreground\"";
		return NULL;
	}
	return "unknown step kind";
}

/* Why an object a plugin built cannot be applied, or NULL. */
static const char *built_object_problem(const cJSON *o)
{
	if (!cJSON_IsObject(o))
		return "is not a JSON object";
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "apiVersion")) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "kind")) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(md, "name")))
		return "lacks apiVersion, kind or metadata.name";
	return NULL;
}

/* The view lists objects in the order they can be applied (Namespaces and
 * CRDs before what lives in them, ConfigMaps before the workloads that
 * mount them), repository order within a rank: a plugin that applies what
 * differs "in order" then never creates an object before its namespace,
 * and no plugin needs its own copy of the ordering rules. */
static int view_rank(const struct keelson_view_object *o)
{
	char group[256] = "";
	const char *slash = o->api_version ? strchr(o->api_version, '/') : NULL;
	if (slash != NULL && (size_t)(slash - o->api_version) < sizeof(group))
		snprintf(group, sizeof(group), "%.*s", (int)(slash - o->api_version), o->api_version);
	return keelson_apply_rank(group, o->kind ? o->kind : "");
}

#define VIEW_RANKS 8 /* keelson_apply_rank answers 0..7 */

/* Stable counting sort by rank; on allocation failure the repository order
 * stays (plugins still order what they must, this only spares them). */
static void sort_apply_order(struct keelson_view_object *objects, size_t count)
{
	struct keelson_view_object *sorted = malloc((count + 1) * sizeof(*sorted));
	int *ranks = malloc((count + 1) * sizeof(*ranks));
	if (sorted != NULL && ranks != NULL) {
		size_t next = 0;
		for (size_t i = 0; i < count; i++) {
			ranks[i] = view_rank(&objects[i]);
			if (ranks[i] < 0 || ranks[i] >= VIEW_RANKS)
				ranks[i] = VIEW_RANKS - 1;
		}
		for (int r = 0; r < VIEW_RANKS; r++)
			for (size_t i = 0; i < count; i++)
				if (ranks[i] == r)
					sorted[next++] = objects[i];
		memcpy(objects, sorted, count * sizeof(*objects));
	}
	free(sorted);
	free(ranks);
}

static int refuse_step(struct keelson_plugin_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log why a step is refused and remember the first reason: the plan as a
 * whole is refused, and its error says why. Returns -1 for add_step. */
static int refuse_step(struct keelson_plugin_call *call, int code, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	host_log(call, KEELSON_PLUGIN_LOG_ERROR, "%s", why);
	if (!call->bad_step) {
		snprintf(call->refusal, sizeof(call->refusal), "%s", why);
		call->refusal_code = code;
	}
	call->bad_step = 1;
	return -1;
}

static int host_add_step(struct keelson_plugin_call *call, const struct keelson_step *st)
{
	const char *problem = st != NULL ? step_problem(st) : "NULL step";
	if (problem != NULL)
		return refuse_step(call, KEELSON_ERROR, "refused step %zu: %s", call->plan->count + 1, problem);
	struct keelson_plan *plan = call->plan;
	if (plan->count >= MAX_STEPS)
		return refuse_step(call, KEELSON_ELIMIT,
			"refused step %zu: more than %d steps in one plan (a plugin plans the next steps only: it is "
			"asked again after they ran)", plan->count + 1, MAX_STEPS);
	size_t object_json_len;
	if (st->kind == KEELSON_STEP_APPLY && st->object_json != NULL &&
	    (object_json_len = strlen(st->object_json)) > MAX_OBJECT_JSON)
		return refuse_step(call, KEELSON_ELIMIT,
			"refused step %zu (%s): object_json is %zu bytes, more than the %d allowed per step",
			plan->count + 1, st->description, object_json_len, MAX_OBJECT_JSON);
	if (plan->count == plan->capacity) {
		size_t cap = plan->capacity ? plan->capacity * 2 : 8;
		struct keelson_plan_step *grown = realloc(plan->steps, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		plan->steps = grown;
		plan->capacity = cap;
	}
	struct keelson_plan_step s = {
		.kind = st->kind,
		.description = dup_or_null(st->description),
		.gate = dup_or_null(st->gate),
		.key = dup_or_null(st->key ? st->key : st->description),
		.api_version = dup_or_null(st->api_version),
		.kind_name = dup_or_null(st->kind_name),
		.namespace_ = dup_or_null(st->namespace_),
		.name = dup_or_null(st->name),
		.patch_type = st->patch_type,
		.patch = dup_or_null(st->patch),
		.grace_seconds = st->grace_seconds,
		.precondition_uid = dup_or_null(st->precondition_uid),
		.http_target = st->http_target,
		.http_port = dup_or_null(st->http_port),
		.http_method = dup_or_null(st->http_method),
		.http_path = dup_or_null(st->http_path),
		.http_body = dup_or_null(st->http_body),
		.timeout_ms = st->timeout_ms,
		.reason = dup_or_null(st->reason),
		.propagation = dup_or_null(st->kind == KEELSON_STEP_DELETE
						   ? (step_propagation(st) ? step_propagation(st) : "Background")
						   : NULL),
		.subresource = dup_or_null(st->kind == KEELSON_STEP_PATCH ? step_subresource(st) : NULL),
	};
	if (st->kind == KEELSON_STEP_APPLY) {
		const cJSON *o;
		if (st->object_json != NULL) {
			s.object = cJSON_Parse(st->object_json);
			const char *why = built_object_problem(s.object);
			if (why != NULL) {
				refuse_step(call, KEELSON_ERROR, "refused step %zu: object_json %s",
					    call->plan->count + 1, why);
				step_dispose(&s);
				return -1;
			}
			o = s.object;
		} else {
			o = C(st->object);
			s.object = cJSON_Duplicate(o, 1);
		}
		free(s.api_version);
		free(s.kind_name);
		free(s.namespace_);
		free(s.name);
		s.api_version = dup_or_null(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "apiVersion")));
		s.kind_name = dup_or_null(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "kind")));
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
		const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
		s.namespace_ = strdup(ns ? ns : "");
		s.name = dup_or_null(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name")));
	}
	if (s.description == NULL || s.key == NULL || (st->kind == KEELSON_STEP_APPLY && s.object == NULL) ||
	    (st->kind == KEELSON_STEP_DELETE && s.propagation == NULL)) {
		step_dispose(&s);
		return -1;
	}
	plan->steps[plan->count++] = s;
	return 0;
}

static const struct keelson_host host_services = {
	.version = KEELSON_HOST_VERSION,
	.struct_size = sizeof(struct keelson_host),
	.log = host_log,
	.now_ms = host_now_ms,
	.live_get = host_live_get,
	.live_list = host_live_list,
	.http = host_http,
	.add_step = host_add_step,
	.json_get = json_get,
	.json_string = json_string,
	.json_number = json_number,
	.json_bool = json_bool,
	.json_count = json_count,
	.json_at = json_at,
	.json_key = json_key,
	.json_equal = json_equal,
	.json_text = json_text,
	.json_parse = json_parse,
};

static const char *member_string(const cJSON *object, const char *a, const char *b)
{
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(object, a);
	if (b != NULL)
		node = cJSON_GetObjectItemCaseSensitive(node, b);
	const char *s = cJSON_GetStringValue(node);
	return s != NULL ? s : "";
}

int keelson_plugin_plan(struct keelson_plan **out, const struct keelson_plugin *plugin,
			const struct keelson_plan_input *input)
{
	*out = NULL;
	int rc = 0;
	struct keelson_plugin_call call = {.plugin = plugin, .input = input};
	struct keelson_view_object *objects = calloc(input->object_count + 1, sizeof(*objects));
	call.plan = calloc(1, sizeof(*call.plan));
	call.arena = cJSON_CreateArray();
	if (objects == NULL || call.plan == NULL || call.arena == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory planning system %s", input->system);
		goto cleanup;
	}
	snprintf(call.prefix, sizeof(call.prefix), "[%s:%s]", plugin->name, input->system ? input->system : "");
	for (size_t i = 0; i < input->object_count; i++) {
		const struct keelson_plan_object *o = &input->objects[i];
		objects[i] = (struct keelson_view_object){
			.api_version = member_string(o->desired, "apiVersion", NULL),
			.kind = member_string(o->desired, "kind", NULL),
			.namespace_ = member_string(o->desired, "metadata", "namespace"),
			.name = member_string(o->desired, "metadata", "name"),
			.desired = J(o->desired),
			.live = J(o->live),
			.state = o->state,
			.file = o->file ? o->file : "",
			.line = o->line,
		};
	}
	sort_apply_order(objects, input->object_count);
	static const struct keelson_param_value no_params[1];
	struct keelson_view view = {
		.struct_size = sizeof(view),
		.cluster = input->cluster ? input->cluster : "",
		.system = input->system ? input->system : "",
		.revision = input->revision ? input->revision : "",
		.objects = objects,
		.object_count = input->object_count,
		.params = input->params ? input->params->values : no_params,
		.param_count = input->params ? input->params->count : 0,
		.flags = input->view_flags,
	};
	int prc = plugin->plan(&host_services, &call, &view);
	if (prc != 0 || call.bad_step) {
		if (call.bad_step && call.refusal_code == KEELSON_ELIMIT)
			rc = keelson_error_set(KEELSON_ELIMIT, "plugin %s could not plan system %s: %s", plugin->name,
				view.system, call.refusal);
		else
			rc = keelson_error_set(KEELSON_ERROR,
				"plugin %s could not plan system %s%s%s (see the plugin's log lines above)", plugin->name,
				view.system, call.bad_step ? ": it produced a malformed step: " : "",
				call.bad_step ? call.refusal : "");
		goto cleanup;
	}
	*out = call.plan;
	call.plan = NULL;
cleanup:
	keelson_plan_free(call.plan);
	cJSON_Delete(call.arena);
	for (size_t i = 0; i < call.string_count; i++)
		free(call.strings[i]);
	free(call.strings);
	free(objects);
	return rc;
}

int keelson_plan_objects_build(struct keelson_plan_object **out, size_t *out_count,
			       const struct keelson_system *system, const struct keelson_plugin_env *env,
			       const struct keelson_diff_options *diff)
{
	*out = NULL;
	*out_count = 0;
	struct keelson_plan_object *objects = calloc(system->object_count + 1, sizeof(*objects));
	if (objects == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory building the view of %s", system->name);
	for (size_t i = 0; i < system->object_count; i++) {
		const struct keelson_object *o = &system->objects[i];
		cJSON *live = NULL;
		int rc = env->live_get(&live, env->payload, o->api_version, o->kind, o->namespace_, o->name);
		if (rc != 0 && rc != KEELSON_ENOTFOUND) {
			keelson_plan_objects_free(objects, i);
			return keelson_error_wrap(rc, "reading %s %s/%s", o->kind, o->namespace_, o->name);
		}
		objects[i] = (struct keelson_plan_object){.desired = o->body, .live = live, .file = o->file,
							   .line = o->line, .state = KEELSON_OBJECT_MISSING};
		if (live != NULL) {
			struct keelson_diff_object *d = NULL;
			rc = keelson_diff_object(&d, o, live, diff);
			if (rc != 0) {
				keelson_plan_objects_free(objects, i + 1);
				return keelson_error_wrap(rc, "comparing %s %s/%s", o->kind, o->namespace_, o->name);
			}
			objects[i].state = d->state == KEELSON_DIFF_IN_SYNC ? KEELSON_OBJECT_IN_SYNC : KEELSON_OBJECT_DRIFTED;
			keelson_diff_object_free(d);
		}
	}
	*out = objects;
	*out_count = system->object_count;
	return 0;
}

void keelson_plan_objects_free(struct keelson_plan_object *objects, size_t count)
{
	if (objects == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		cJSON_Delete((cJSON *)objects[i].live);
	free(objects);
}

void keelson_plan_print(FILE *out, const struct keelson_plan *plan)
{
	if (plan->count == 0) {
		fprintf(out, "  nothing to do: the system is converged\n");
		return;
	}
	for (size_t i = 0; i < plan->count; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		fprintf(out, "  %zu. [%s] %s\n", i + 1, keelson_step_kind_name(s->kind), s->description);
		if (s->gate != NULL)
			fprintf(out, "       gate: %s\n", s->gate);
		if (s->kind == KEELSON_STEP_BLOCKED)
			fprintf(out, "       blocked: %s\n", s->reason);
		if (s->kind == KEELSON_STEP_DELETE)
			fprintf(out, "       delete: %s %s %s%s%s (uid %s, propagation %s)\n", s->api_version,
				s->kind_name, s->namespace_ && *s->namespace_ ? s->namespace_ : "",
				s->namespace_ && *s->namespace_ ? "/" : "", s->name, s->precondition_uid, s->propagation);
		if (s->kind == KEELSON_STEP_WAIT && s->timeout_ms > 0)
			fprintf(out, "       timeout: %llds\n", s->timeout_ms / 1000);
	}
}

/* --- Label selectors ------------------------------------------------------ */

int keelson_label_selector_match(const char *selector, const cJSON *labels)
{
	if (selector == NULL || selector[0] == '\0')
		return 1;
	if (strlen(selector) > 4096)
		return keelson_error_set(KEELSON_ELIMIT, "label selector longer than 4096 bytes");
	if (strchr(selector, '(') != NULL)
		return keelson_error_set(KEELSON_EINVALID,
			"set-based label selector \"%s\" is not supported here; use key=value terms", selector);
	char *copy = strdup(selector);
	if (copy == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	int match = 1;
	char *save = NULL;
	for (char *term = strtok_r(copy, ",", &save); term != NULL && match; term = strtok_r(NULL, ",", &save)) {
		while (*term == ' ')
			term++;
		int negate = 0;
		char *value = NULL;
		char *op;
		if ((op = strstr(term, "!=")) != NULL) {
			negate = 1;
			*op = '\0';
			value = op + 2;
		} else if ((op = strstr(term, "==")) != NULL) {
			*op = '\0';
			value = op + 2;
		} else if ((op = strchr(term, '=')) != NULL) {
			*op = '\0';
			value = op + 1;
		}
		int exists_only = value == NULL;
		if (exists_only && term[0] == '!') {
			negate = 1;
			term++;
		}
		const char *have = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, term));
		int ok = exists_only ? have != NULL : (have != NULL && strcmp(have, value) == 0);
		match = negate ? !ok : ok;
	}
	free(copy);
	return match;
}

/* --- Kubernetes-backed environment ------------------------------------------ */

static int kube_live_get(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
			 const char *name)
{
	struct keelson_plugin_kube_env *e = payload;
	if (e->cache != NULL) {
		int rc = keelson_kube_cache_get(out, e->cache, api_version, kind, ns, name);
		if (rc != KEELSON_EINVALID) /* EINVALID: type not cached, ask the server */
			return rc;
	}
	return keelson_kube_get(out, e->client, api_version, kind, ns, name);
}

static int kube_live_list(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
			  const char *selector)
{
	struct keelson_plugin_kube_env *e = payload;
	*out = NULL;
	if (e->cache != NULL) {
		cJSON *all = NULL;
		int rc = keelson_kube_cache_list(&all, e->cache, api_version, kind, ns);
		if (rc == 0) {
			cJSON *kept = cJSON_CreateArray();
			cJSON *item = all ? all->child : NULL;
			while (kept != NULL && item != NULL) {
				cJSON *next = item->next;
				const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(item, "metadata"), "labels");
				int m = keelson_label_selector_match(selector, labels);
				if (m < 0) {
					cJSON_Delete(all);
					cJSON_Delete(kept);
					return m;
				}
				if (m == 1)
					cJSON_AddItemToArray(kept, cJSON_DetachItemViaPointer(all, item));
				item = next;
			}
			cJSON_Delete(all);
			if (kept == NULL)
				return keelson_error_set(KEELSON_ENOMEM, "out of memory");
			*out = kept;
			return 0;
		}
		if (rc != KEELSON_EINVALID)
			return rc;
	}
	struct keelson_kube_list_options opts;
	keelson_kube_list_options_init(&opts);
	opts.label_selector = selector;
	cJSON *list = NULL;
	int rc = keelson_kube_list(&list, e->client, api_version, kind, ns, &opts);
	if (rc != 0)
		return rc;
	cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(list, "items");
	cJSON_Delete(list);
	if (items == NULL)
		items = cJSON_CreateArray();
	if (items == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	*out = items;
	return 0;
}

static int kube_http(long *out_status, char **out_body, size_t *out_len, void *payload,
		     enum keelson_proxy_target target, const char *ns, const char *name, const char *port,
		     const char *method, const char *path, const char *body, long long timeout_ms)
{
	struct keelson_plugin_kube_env *e = payload;
	struct keelson_kube_response resp = {0};
	int rc = keelson_kube_proxy(&resp, e->client,
				    target == KEELSON_PROXY_SERVICE ? KEELSON_KUBE_PROXY_SERVICE : KEELSON_KUBE_PROXY_POD,
				    ns, name, port, method, path, body, body ? strlen(body) : 0, (long)timeout_ms);
	*out_status = resp.http_code;
	*out_body = resp.body;
	*out_len = resp.body_len;
	resp.body = NULL;
	keelson_kube_response_dispose(&resp);
	return rc;
}

static long long kube_now_ms(void *payload)
{
	(void)payload;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void keelson_plugin_env_kube(struct keelson_plugin_kube_env *out, struct keelson_kube_client *client,
			     struct keelson_kube_cache *cache)
{
	out->client = client;
	out->cache = cache;
	out->env = (struct keelson_plugin_env){
		.version = KEELSON_PLUGIN_ENV_VERSION,
		.payload = out,
		.live_get = kube_live_get,
		.live_list = kube_live_list,
		.http = kube_http,
		.now_ms = kube_now_ms,
	};
}
