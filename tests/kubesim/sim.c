#include "config.h"

#include "tests/kubesim/sim.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"

#define KS_MAX_VIOLATIONS 10000
#define KS_MAX_LOG_LINES 2000

static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- proxy registry ---- */

struct proxy_reg {
	char *namespace, *kind, *prefix;
	int port;
	ks_proxy_handler_fn handler;
	void *payload;
	struct proxy_reg *next;
};
static struct proxy_reg *proxies;

int ks_proxy_register(const char *namespace, const char *kind, const char *name_prefix,
	int port, ks_proxy_handler_fn handler, void *payload)
{
	if (!namespace || !kind || !name_prefix || !handler ||
	    (strcmp(kind, "pods") && strcmp(kind, "services")))
		return keelson_error_set(KEELSON_EINVALID,
			"ks_proxy_register needs a namespace, kind \"pods\" or \"services\", a name prefix and a handler");
	struct proxy_reg *r = calloc(1, sizeof(*r));
	if (!r || !(r->namespace = strdup(namespace)) || !(r->kind = strdup(kind)) ||
	    !(r->prefix = strdup(name_prefix))) {
		if (r) {
			free(r->namespace);
			free(r->kind);
		}
		free(r);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	r->port = port;
	r->handler = handler;
	r->payload = payload;
	pthread_mutex_lock(&sim_lock);
	r->next = proxies;
	proxies = r;
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

void ks_proxy_unregister(ks_proxy_handler_fn handler, void *payload)
{
	pthread_mutex_lock(&sim_lock);
	struct proxy_reg **pp = &proxies;
	while (*pp) {
		struct proxy_reg *r = *pp;
		if (r->handler == handler && r->payload == payload) {
			*pp = r->next;
			free(r->namespace);
			free(r->kind);
			free(r->prefix);
			free(r);
		} else {
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&sim_lock);
}

int ks_proxy_lookup(const char *namespace, const char *kind, const char *name, int port,
	ks_proxy_handler_fn *out_handler, void **out_payload)
{
	int rc = KEELSON_ENOTFOUND;
	pthread_mutex_lock(&sim_lock);
	for (struct proxy_reg *r = proxies; r; r = r->next) {
		if (strcmp(r->namespace, namespace) || strcmp(r->kind, kind) ||
		    strncmp(r->prefix, name, strlen(r->prefix)) || (r->port && r->port != port))
			continue;
		*out_handler = r->handler;
		*out_payload = r->payload;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&sim_lock);
	return rc;
}

/* ---- exec handlers ---- */

struct exec_reg {
	char *namespace, *prefix;
	ks_exec_handler_fn handler;
	void *payload;
	struct exec_reg *next;
};
static struct exec_reg *execs;

int ks_exec_register(const char *namespace, const char *pod_prefix, ks_exec_handler_fn handler,
	void *payload)
{
	if (!namespace || !pod_prefix || !handler)
		return keelson_error_set(KEELSON_EINVALID,
			"ks_exec_register needs a namespace, a pod name prefix and a handler");
	struct exec_reg *r = calloc(1, sizeof(*r));
	if (!r || !(r->namespace = strdup(namespace)) || !(r->prefix = strdup(pod_prefix))) {
		if (r)
			free(r->namespace);
		free(r);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	r->handler = handler;
	r->payload = payload;
	pthread_mutex_lock(&sim_lock);
	r->next = execs;
	execs = r;
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

void ks_exec_unregister(ks_exec_handler_fn handler, void *payload)
{
	pthread_mutex_lock(&sim_lock);
	struct exec_reg **pp = &execs;
	while (*pp) {
		struct exec_reg *r = *pp;
		if (r->handler == handler && r->payload == payload) {
			*pp = r->next;
			free(r->namespace);
			free(r->prefix);
			free(r);
		} else {
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&sim_lock);
}

static void set_out(char **dst, size_t *len, const char *data, size_t n)
{
	*dst = malloc(n + 1);
	if (!*dst) {
		*len = 0;
		return;
	}
	memcpy(*dst, data, n);
	(*dst)[n] = 0;
	*len = n;
}

static void exec_builtin(const struct ks_exec_request *rq, struct ks_exec_result *res)
{
	const char *cmd = rq->argc > 0 ? rq->argv[0] : "";
	const char *base = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
	char buf[4096];
	if (!strcmp(base, "echo")) {
		size_t off = 0;
		for (int i = 1; i < rq->argc && off < sizeof(buf) - 2; i++) {
			int w = snprintf(buf + off, sizeof(buf) - off - 1, "%s%s", i > 1 ? " " : "",
				rq->argv[i]);
			if (w < 0)
				break;
			off += (size_t)w < sizeof(buf) - off - 1 ? (size_t)w : sizeof(buf) - off - 2;
		}
		buf[off++] = '\n';
		set_out(&res->out, &res->out_len, buf, off);
	} else if (!strcmp(base, "true")) {
		res->exit_code = 0;
	} else if (!strcmp(base, "false")) {
		res->exit_code = 1;
	} else if (!strcmp(base, "cat") && rq->argc == 1) {
		set_out(&res->out, &res->out_len, rq->stdin_data ? rq->stdin_data : "", rq->stdin_len);
	} else if (!strcmp(base, "hostname")) {
		int w = snprintf(buf, sizeof(buf), "%s\n", rq->pod);
		set_out(&res->out, &res->out_len, buf, (size_t)w < sizeof(buf) ? (size_t)w : 0);
	} else if (!strcmp(base, "env")) {
		int w = snprintf(buf, sizeof(buf),
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nHOSTNAME=%s\n",
			rq->pod);
		set_out(&res->out, &res->out_len, buf, (size_t)w < sizeof(buf) ? (size_t)w : 0);
	} else {
		int w = snprintf(buf, sizeof(buf),
			"kubesim: %s: command not found (register a handler with ks_exec_register)\n",
			cmd);
		set_out(&res->err, &res->err_len, buf, (size_t)w < sizeof(buf) ? (size_t)w : 0);
		res->exit_code = 127;
	}
}

void ks_exec_run(const struct ks_exec_request *request, struct ks_exec_result *result)
{
	memset(result, 0, sizeof(*result));
	ks_exec_handler_fn fn = NULL;
	void *payload = NULL;
	pthread_mutex_lock(&sim_lock);
	for (struct exec_reg *r = execs; r; r = r->next)
		if (!strcmp(r->namespace, request->namespace) &&
		    !strncmp(r->prefix, request->pod, strlen(r->prefix))) {
			fn = r->handler;
			payload = r->payload;
			break;
		}
	pthread_mutex_unlock(&sim_lock);
	if (fn && fn(request, result, payload) >= 0)
		return;
	free(result->out);
	free(result->err);
	memset(result, 0, sizeof(*result));
	exec_builtin(request, result);
}

/* ---- violations ---- */

static cJSON *violations;

void ks_violation_record(const char *source, const char *object, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char ts[KS_TIME_BUF];
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "time", ks_clock_format_micro(ks_clock_now(), ts));
	cJSON_AddStringToObject(v, "source", source ? source : "");
	cJSON_AddStringToObject(v, "object", object ? object : "");
	cJSON_AddStringToObject(v, "message", msg);
	fprintf(stderr, "kubesim: VIOLATION [%s] %s: %s\n", source ? source : "",
		object ? object : "", msg);
	pthread_mutex_lock(&sim_lock);
	if (!violations)
		violations = cJSON_CreateArray();
	if (cJSON_GetArraySize(violations) < KS_MAX_VIOLATIONS)
		cJSON_AddItemToArray(violations, v);
	else
		cJSON_Delete(v);
	pthread_mutex_unlock(&sim_lock);
}

cJSON *ks_violations_json(void)
{
	pthread_mutex_lock(&sim_lock);
	cJSON *copy = violations ? cJSON_Duplicate(violations, 1) : cJSON_CreateArray();
	pthread_mutex_unlock(&sim_lock);
	return copy;
}

size_t ks_violations_count(void)
{
	pthread_mutex_lock(&sim_lock);
	size_t n = violations ? (size_t)cJSON_GetArraySize(violations) : 0;
	pthread_mutex_unlock(&sim_lock);
	return n;
}

/* ---- pod logs: {"ns/pod": {"container": {"lines": [...], "total": N}}} ---- */

static cJSON *logs;

void ks_pod_log_append(const char *namespace, const char *pod, const char *container,
	const char *line)
{
	char key[600];
	snprintf(key, sizeof(key), "%s/%s", namespace, pod);
	pthread_mutex_lock(&sim_lock);
	if (!logs)
		logs = cJSON_CreateObject();
	cJSON *p = cJSON_GetObjectItemCaseSensitive(logs, key);
	if (!p)
		p = cJSON_AddObjectToObject(logs, key);
	const char *c = container ? container : "";
	cJSON *entry = cJSON_GetObjectItemCaseSensitive(p, c);
	if (!entry) {
		entry = cJSON_AddObjectToObject(p, c);
		cJSON_AddArrayToObject(entry, "lines");
		cJSON_AddNumberToObject(entry, "total", 0);
	}
	cJSON *lines = cJSON_GetObjectItemCaseSensitive(entry, "lines");
	cJSON *total = cJSON_GetObjectItemCaseSensitive(entry, "total");
	cJSON_AddItemToArray(lines, cJSON_CreateString(line));
	cJSON_SetNumberValue(total, total->valuedouble + 1);
	if (cJSON_GetArraySize(lines) > KS_MAX_LOG_LINES)
		cJSON_DeleteItemFromArray(lines, 0);
	pthread_mutex_unlock(&sim_lock);
}

/* Lines with absolute index >= *cursor (or the last tail_lines when
 * *cursor is UINT64_MAX); *cursor becomes the total. Under sim_lock. */
static char *log_since_locked(const char *namespace, const char *pod, const char *container,
	long tail_lines, uint64_t *cursor)
{
	char key[600];
	snprintf(key, sizeof(key), "%s/%s", namespace, pod);
	cJSON *p = logs ? cJSON_GetObjectItemCaseSensitive(logs, key) : NULL;
	cJSON *entry = NULL;
	if (p)
		entry = container && *container ? cJSON_GetObjectItemCaseSensitive(p, container)
						: p->child;
	cJSON *lines = cJSON_GetObjectItemCaseSensitive(entry, "lines");
	const cJSON *tot = cJSON_GetObjectItemCaseSensitive(entry, "total");
	uint64_t total = cJSON_IsNumber(tot) ? (uint64_t)tot->valuedouble : 0;
	int n = lines ? cJSON_GetArraySize(lines) : 0;
	uint64_t first_index = total - (uint64_t)n; /* absolute index of lines[0] */
	int start = 0;
	if (*cursor == UINT64_MAX) {
		start = tail_lines >= 0 && tail_lines < n ? n - (int)tail_lines : 0;
	} else if (*cursor > first_index) {
		start = *cursor - first_index > (uint64_t)n ? n : (int)(*cursor - first_index);
	}
	*cursor = total;
	size_t size = 1;
	for (int i = start; i < n; i++)
		size += strlen(cJSON_GetArrayItem(lines, i)->valuestring) + 1;
	char *out = malloc(size);
	if (!out)
		return NULL;
	size_t off = 0;
	for (int i = start; i < n; i++) {
		const char *l = cJSON_GetArrayItem(lines, i)->valuestring;
		size_t len = strlen(l);
		memcpy(out + off, l, len);
		off += len;
		out[off++] = '\n';
	}
	out[off] = 0;
	return out;
}

char *ks_pod_log_get(const char *namespace, const char *pod, const char *container,
	long tail_lines)
{
	uint64_t cursor = UINT64_MAX;
	pthread_mutex_lock(&sim_lock);
	char *out = log_since_locked(namespace, pod, container, tail_lines, &cursor);
	pthread_mutex_unlock(&sim_lock);
	return out;
}

char *ks_pod_log_follow(const char *namespace, const char *pod, const char *container,
	long tail_lines, uint64_t *cursor)
{
	pthread_mutex_lock(&sim_lock);
	char *out = log_since_locked(namespace, pod, container, tail_lines, cursor);
	pthread_mutex_unlock(&sim_lock);
	return out;
}

/* ---- counters ---- */

static cJSON *counters; /* {"total":N,"byVerb":{},"byResource":{},"faults":{}} */
/* conflictEligible is no fault: the writes conflictRate could have hit. */
static const char *const fault_kinds[] = {"error", "throttle", "conflict", "droppedWatch",
	"conflictEligible"};

static void bump(cJSON *obj, const char *key)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (c)
		cJSON_SetNumberValue(c, c->valuedouble + 1);
	else
		cJSON_AddNumberToObject(obj, key, 1);
}

static cJSON *new_counters(void)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddNumberToObject(c, "total", 0);
	cJSON_AddObjectToObject(c, "byVerb");
	cJSON_AddObjectToObject(c, "byResource");
	cJSON *f = cJSON_AddObjectToObject(c, "faults");
	/* Listed even at zero so that scripts can read them unconditionally. */
	for (size_t i = 0; i < sizeof(fault_kinds) / sizeof(fault_kinds[0]); i++)
		cJSON_AddNumberToObject(f, fault_kinds[i], 0);
	return c;
}

static void counters_init_locked(void)
{
	if (!counters)
		counters = new_counters();
}

void ks_counter_add(const char *verb, const char *resource)
{
	pthread_mutex_lock(&sim_lock);
	counters_init_locked();
	bump(counters, "total");
	bump(cJSON_GetObjectItemCaseSensitive(counters, "byVerb"), verb);
	cJSON *br = cJSON_GetObjectItemCaseSensitive(counters, "byResource");
	const char *r = resource && *resource ? resource : "-";
	cJSON *rr = cJSON_GetObjectItemCaseSensitive(br, r);
	if (!rr)
		rr = cJSON_AddObjectToObject(br, r);
	bump(rr, verb);
	pthread_mutex_unlock(&sim_lock);
}

cJSON *ks_counters_json(void)
{
	pthread_mutex_lock(&sim_lock);
	cJSON *c = counters ? cJSON_Duplicate(counters, 1) : NULL;
	pthread_mutex_unlock(&sim_lock);
	return c ? c : new_counters();
}

void ks_fault_count(const char *kind, const char *what)
{
	pthread_mutex_lock(&sim_lock);
	counters_init_locked();
	bump(cJSON_GetObjectItemCaseSensitive(counters, "faults"), kind);
	if (what && *what) {
		cJSON *by = cJSON_GetObjectItemCaseSensitive(counters, "faultsByRequest");
		if (!by)
			by = cJSON_AddObjectToObject(counters, "faultsByRequest");
		cJSON *w = by ? cJSON_GetObjectItemCaseSensitive(by, what) : NULL;
		if (by && !w)
			w = cJSON_AddObjectToObject(by, what);
		if (w)
			bump(w, kind);
	}
	pthread_mutex_unlock(&sim_lock);
}

/* ---- faults ---- */

static cJSON *faults;
static unsigned int fault_seed = 12345;

int ks_faults_set(const cJSON *config)
{
	if (!cJSON_IsObject(config))
		return keelson_error_set(KEELSON_EINVALID, "faults must be a JSON object");
	const cJSON *it;
	cJSON_ArrayForEach(it, config) {
		const char *k = it->string;
		if (!strcmp(k, "errorRate") || !strcmp(k, "conflictRate")) {
			if (!cJSON_IsObject(it))
				return keelson_error_set(KEELSON_EINVALID,
					"%s must map verbs (or \"*\") to probabilities", k);
			const cJSON *r;
			cJSON_ArrayForEach(r, it)
				if (!cJSON_IsNumber(r) || r->valuedouble < 0 || r->valuedouble > 1)
					return keelson_error_set(KEELSON_EINVALID,
						"%s.%s must be a number in [0, 1]", k, r->string);
		} else if (!strcmp(k, "latencyMs") || !strcmp(k, "retryAfterSeconds")) {
			if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 60000)
				return keelson_error_set(KEELSON_EINVALID,
					"%s must be a number in [0, 60000]", k);
		} else if (!strcmp(k, "throttleRate")) {
			if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1)
				return keelson_error_set(KEELSON_EINVALID,
					"throttleRate must be a number in [0, 1]");
		} else if (!strcmp(k, "dropWatches")) {
			if (!cJSON_IsBool(it))
				return keelson_error_set(KEELSON_EINVALID, "dropWatches must be a boolean");
		} else {
			return keelson_error_set(KEELSON_EINVALID,
				"unknown fault \"%s\": use errorRate, conflictRate, latencyMs, throttleRate, retryAfterSeconds or dropWatches",
				k);
		}
	}
	cJSON *copy = cJSON_Duplicate(config, 1);
	pthread_mutex_lock(&sim_lock);
	cJSON_Delete(faults);
	faults = copy;
	pthread_mutex_unlock(&sim_lock);
	return 0;
}

cJSON *ks_faults_json(void)
{
	pthread_mutex_lock(&sim_lock);
	cJSON *c = faults ? cJSON_Duplicate(faults, 1) : cJSON_CreateObject();
	pthread_mutex_unlock(&sim_lock);
	return c;
}

static double get_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int ks_faults_roll(const char *verb, long *latency_ms, long *retry_after_seconds)
{
	*latency_ms = 0;
	*retry_after_seconds = 0;
	int result = 0;
	pthread_mutex_lock(&sim_lock);
	if (faults) {
		*latency_ms = (long)get_num(faults, "latencyMs");
		double throttle = get_num(faults, "throttleRate");
		const cJSON *er = cJSON_GetObjectItemCaseSensitive(faults, "errorRate");
		double err = cJSON_GetObjectItemCaseSensitive(er, verb) ? get_num(er, verb)
									 : get_num(er, "*");
		double r1 = (double)rand_r(&fault_seed) / RAND_MAX;
		double r2 = (double)rand_r(&fault_seed) / RAND_MAX;
		if (throttle > 0 && r1 < throttle) {
			result = 429;
			*retry_after_seconds = (long)get_num(faults, "retryAfterSeconds");
			if (*retry_after_seconds <= 0)
				*retry_after_seconds = 1;
		} else if (err > 0 && r2 < err) {
			result = 500;
		}
	}
	pthread_mutex_unlock(&sim_lock);
	return result;
}

/* The probability configured for `verb` in the rate map `key` ("*" when
 * the verb has no entry of its own). Under sim_lock. */
static double rate_for_locked(const char *key, const char *verb)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(faults, key);
	return cJSON_GetObjectItemCaseSensitive(m, verb) ? get_num(m, verb) : get_num(m, "*");
}

int ks_faults_conflict_possible(const char *verb)
{
	pthread_mutex_lock(&sim_lock);
	int possible = faults && rate_for_locked("conflictRate", verb) > 0;
	pthread_mutex_unlock(&sim_lock);
	return possible;
}

int ks_faults_roll_conflict(const char *verb)
{
	int hit = 0;
	pthread_mutex_lock(&sim_lock);
	if (faults) {
		double rate = rate_for_locked("conflictRate", verb);
		double r = (double)rand_r(&fault_seed) / RAND_MAX;
		hit = rate > 0 && r < rate;
	}
	pthread_mutex_unlock(&sim_lock);
	return hit;
}

int ks_faults_drop_watches(void)
{
	pthread_mutex_lock(&sim_lock);
	int d = faults && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(faults, "dropWatches"));
	pthread_mutex_unlock(&sim_lock);
	return d;
}

void ks_sim_reset(void)
{
	pthread_mutex_lock(&sim_lock);
	cJSON_Delete(violations);
	cJSON_Delete(logs);
	cJSON_Delete(counters);
	cJSON_Delete(faults);
	violations = logs = counters = faults = NULL;
	pthread_mutex_unlock(&sim_lock);
}
