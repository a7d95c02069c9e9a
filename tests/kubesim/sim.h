/*
 * kubesim simulation services for workload models and benchmarks: the
 * pod/service proxy registry, the invariant (violation) log, pod logs,
 * request counters and fault injection. Thread-safe, process-global.
 *
 * A workload model (simulated Kafka broker, Cassandra node, ...) registers
 * a proxy handler; requests to
 *   /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH
 *   /api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH
 * whose target matches (namespace, kind, name prefix, port) are answered by
 * it. A pod target must exist and not be terminating; no handler, or a
 * handler returning a negative value, answers 503 like a proxy to a dead
 * pod.
 */
#ifndef KUBESIM_SIM_H
#define KUBESIM_SIM_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* The proxy carries HTTP headers both ways (Cruise Control's
 * User-Task-ID). Defined so models can compile against older copies. */
#define KS_PROXY_HAS_HEADERS 1
#define KS_PROXY_MAX_HEADERS 8

struct ks_proxy_header { char name[64]; char value[256]; };

struct ks_proxy_request {
	const char *method;     /* "GET", "POST", ... */
	const char *namespace;
	const char *kind;       /* "pods" or "services" */
	const char *name;       /* pod or service name (without :port) */
	int port;               /* 0 when the URL gave none */
	const char *path;       /* "/metrics" (always starts with '/') */
	const char *query;      /* raw query string without '?', may be "" */
	const char *body;
	size_t body_len;
	/* The client's request headers, at most KS_PROXY_MAX_HEADERS; longer
	 * names or values are truncated. Authorization is never included: the
	 * API server authenticates the client itself and does not forward its
	 * credentials to the pod. */
	const struct ks_proxy_header *headers;
	size_t nheaders;
};

struct ks_proxy_response {
	int status;             /* HTTP status; default 200 */
	char content_type[96];  /* default "application/json" */
	char *body;             /* malloc'ed by the handler, freed by kubesim */
	size_t body_len;
	/* Extra response headers sent to the client (Content-Type comes from
	 * content_type above). */
	struct ks_proxy_header headers[KS_PROXY_MAX_HEADERS];
	size_t nheaders;
};

/* Returns 0 after filling `response`, or a negative value for "connection
 * refused" (503). Called on an HTTP thread; must be thread-safe. */
typedef int (*ks_proxy_handler_fn)(const struct ks_proxy_request *request,
	struct ks_proxy_response *response, void *payload);

/* Register a handler for kind "pods" or "services" in `namespace` whose
 * target name starts with `name_prefix` and whose port is `port` (0: any
 * port). The most recently registered matching handler wins. Returns 0 or
 * KEELSON_EINVALID / KEELSON_ENOMEM. */
int ks_proxy_register(const char *namespace, const char *kind, const char *name_prefix,
	int port, ks_proxy_handler_fn handler, void *payload);

/* Remove every registration with this handler and payload. */
void ks_proxy_unregister(ks_proxy_handler_fn handler, void *payload);

/* Find the handler for a target: 0 with out_handler and out_payload set, or
 * KEELSON_ENOTFOUND. */
int ks_proxy_lookup(const char *namespace, const char *kind, const char *name, int port,
	ks_proxy_handler_fn *out_handler, void **out_payload);

/* pods/exec (kubectl exec over WebSocket, v4/v5.channel.k8s.io). A model
 * registers a handler for pods in `namespace` whose name starts with
 * `pod_prefix`; it receives the command and all of stdin and fills the
 * result (stdout/stderr malloc'ed, freed by kubesim). Returning a negative
 * value means "not mine": kubesim then runs its built-ins (echo, true,
 * false, cat, hostname, env; anything else exits 127). */
struct ks_exec_request {
	const char *namespace;
	const char *pod;
	const char *container;
	const char *const *argv;
	int argc;
	const char *stdin_data;
	size_t stdin_len;
};

struct ks_exec_result {
	int exit_code;
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
};

typedef int (*ks_exec_handler_fn)(const struct ks_exec_request *request,
	struct ks_exec_result *result, void *payload);

int ks_exec_register(const char *namespace, const char *pod_prefix, ks_exec_handler_fn handler,
	void *payload);
void ks_exec_unregister(ks_exec_handler_fn handler, void *payload);

/* Run `request` through the registered handlers, then the built-ins. */
void ks_exec_run(const struct ks_exec_request *request, struct ks_exec_result *result);

/* Append an invariant violation ("broker deleted while partitions were
 * under-replicated"): `source` names the model ("kafka"), `object` the
 * object concerned ("kafka/broker-1"), message is printf-style. Listed by
 * GET /_sim/violations. */
void ks_violation_record(const char *source, const char *object, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* JSON array of violations {time, source, object, message} (caller frees). */
cJSON *ks_violations_json(void);

/* Number of violations recorded. */
size_t ks_violations_count(void);

/* Append one line to a container's log (served by pods/log). */
void ks_pod_log_append(const char *namespace, const char *pod, const char *container,
	const char *line);

/* The log of a container (NULL container: the first one logged), newline
 * terminated lines, at most the last `tail_lines` when >= 0. Caller frees;
 * "" when nothing was logged. */
char *ks_pod_log_get(const char *namespace, const char *pod, const char *container,
	long tail_lines);

/* For pods/log?follow=true: with *cursor == UINT64_MAX the last
 * `tail_lines` (all when < 0), otherwise the lines appended since the
 * cursor; *cursor is then advanced. Caller frees; "" when nothing new. */
char *ks_pod_log_follow(const char *namespace, const char *pod, const char *container,
	long tail_lines, uint64_t *cursor);

/* Count one request ("get", "list", "watch", "create", "update", "patch",
 * "delete", "deletecollection" and resource "statefulsets.apps"). */
void ks_counter_add(const char *verb, const char *resource);

/* Count one injected fault: `kind` "error" (500), "throttle" (429),
 * "conflict" (409) or "droppedWatch" (a watch ended after an event), or
 * "conflictEligible" (a write conflictRate applied to, answered or not);
 * `what` (may be NULL) names the request, "<verb> <resource>" such as
 * "patch sparkapplications.sparkoperator.k8s.io", so that a soak can tell
 * which of its writes met the fault. */
void ks_fault_count(const char *kind, const char *what);

/* {"total":N,"byVerb":{"get":N,...},"byResource":{"pods":{"get":N}},
 *  "faults":{"error":N,"throttle":N,"conflict":N,"droppedWatch":N,
 *            "conflictEligible":N},
 *  "faultsByRequest":{"update leases.coordination.k8s.io":{"conflict":N}}}
 * (faultsByRequest only once a fault was injected). */
cJSON *ks_counters_json(void);

/* Fault injection settings (POST /_sim/faults body):
 *   {"errorRate":{"get":0.1,"*":0.01},   500 InternalError with probability
 *    "latencyMs":50,                     added to every API request
 *    "throttleRate":0.2, "retryAfterSeconds":1,   429 TooManyRequests
 *    "dropWatches":true,                 end watch streams after each event
 *    "conflictRate":{"update":0.2,"*":0.05}}   409 Conflict
 * conflictRate applies only to writes the real API server can answer with
 * 409 Conflict: an update (PUT) carrying metadata.resourceVersion, a patch
 * whose result carries one (merge, strategic, JSON patch), a server-side
 * apply without force, and a delete with preconditions, each on an
 * existing object (server.c, inject_conflict). Unconditional writes are
 * retried inside the real server and never see a conflict.
 * Unknown keys are rejected. An empty object clears everything. */
int ks_faults_set(const cJSON *config);
cJSON *ks_faults_json(void);

/* Decide the fault for one request: 0 none, 500 or 429; *latency_ms gets
 * the added latency. */
int ks_faults_roll(const char *verb, long *latency_ms, long *retry_after_seconds);

/* Whether any conflictRate applies to `verb` (a cheap test before the
 * request is examined). */
int ks_faults_conflict_possible(const char *verb);

/* The field manager an injected server-side apply conflict names. */
#define KS_INJECTED_CONFLICT_MANAGER "kubesim-injected-conflict"

/* Roll the conflict fault for one eligible write of `verb`: 1 to answer
 * 409 Conflict. */
int ks_faults_roll_conflict(const char *verb);

/* Whether watches should be dropped after their next event. */
int ks_faults_drop_watches(void);

/* Clear counters, violations, logs, faults (POST /_sim/reset). Proxy
 * registrations are kept: models outlive a reset. */
void ks_sim_reset(void);

#endif
