/*
 * A cluster made of one fuzz input, for the plugin planning targets
 * (fuzz_kafka_plan, fuzz_cassandra_plan, fuzz_spark_plan).
 *
 * The plugin plans through the real host (keelson_plugin_plan: the view
 * sorted in apply order, the JSON services, step validation), so what is
 * fuzzed is the plugin as the daemon runs it; only the environment behind
 * the host services (live reads, the pod/service proxy, the clock) is
 * fake, and every answer comes from the input, one JSON document:
 *
 *   {"now": MS,                       the clock (default 1700000000000)
 *    "preview": BOOL,                 KEELSON_VIEW_PREVIEW
 *    "params": {...},                 spec.parameters of the System
 *    "objects": [{"desired": OBJ, "live": OBJ}, ...],
 *                                     the view; without "live" MISSING,
 *                                     in sync when live has every field
 *                                     desired sets, else DRIFTED
 *    "cluster": [OBJ, ...],           what live_get and live_list see
 *                                     besides the view's live objects
 *    "unreadable": ["Pod", ...],      kinds whose live reads fail
 *    "http": [{"target": "pod"|"service", "name": N, "path": P,
 *              "method": M, "status": S, "body": TEXT-or-JSON,
 *              "timeout": BOOL}, ...]}
 *
 * A proxied call is answered by the first "http" entry with its target,
 * name, method (default GET) and path (an entry path without '?' matches
 * any query); none: no answer (status 0, "connection refused"). A body
 * that is not a string is sent as its JSON text.
 *
 * Inputs the host would never give a plugin (parameters its table
 * refuses, objects without kind/name) are skipped, not failures.
 */
#ifndef KEELSON_TESTS_FUZZ_FAKE_HOST_H
#define KEELSON_TESTS_FUZZ_FAKE_HOST_H

#include "plugin/plugin_host.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct fake_host {
	cJSON *input;
	const cJSON *cluster, *http, *unreadable;
	long long now;
	unsigned flags;
	struct keelson_plugin_env env;
	struct keelson_plan_object *objects;
	size_t object_count;
	struct keelson_plugin_params *params;
	unsigned http_calls;
};

/* Read the input. 0, or -1 when it is not a cluster the host could show a
 * plugin (skip it). fake_host_free in both cases. */
int fake_host_load(struct fake_host *f, const struct keelson_plugin *plugin, const uint8_t *data, size_t size);
void fake_host_free(struct fake_host *f);

/* Plan through the real host. 0 and *out, or the host's error (a plugin
 * that returned -1 or made a malformed step); *out NULL then. With
 * FUZZ_PLAN_DUMP set in the environment, the plan is printed to stderr. */
int fake_host_plan(struct fake_host *f, const struct keelson_plugin *plugin, struct keelson_plan **out);

/* fake_host_plan, then the properties every plugin has whatever it
 * manages: a second plan on the same observation is the same plan (a
 * plugin decides from what it observes, not from what it did before), and a
 * preview makes no HTTP call. A violation aborts (fuzz_assert) after
 * printing both plans, `name` first. *out is the first plan. */
int fake_host_plan_checked(struct fake_host *f, const struct keelson_plugin *plugin, const char *name,
			   struct keelson_plan **out);

/* The answer the input gives to a GET of `path` on pod/service `name`, as
 * the plugin would see it: the entry, or NULL (no answer). */
const cJSON *fake_host_http_entry(const struct fake_host *f, enum keelson_proxy_target target, const char *name,
				  const char *method, const char *path);
/* Its body text (a copy; free it), or NULL when there is no 2xx answer. */
char *fake_host_http_body(const struct fake_host *f, enum keelson_proxy_target target, const char *name,
			  const char *path);

/* Whether live reads of `kind` fail. */
int fake_host_unreadable(const struct fake_host *f, const char *kind);

/* The object `kind` namespace/name as live_get answers it, or NULL. */
const cJSON *fake_host_find(const struct fake_host *f, const char *kind, const char *ns, const char *name);

/* Whether two plans have the same steps (a plugin keeps no state, so the
 * same observation must give the same plan). */
int fake_plan_equal(const struct keelson_plan *a, const struct keelson_plan *b);

/* Print a plan to stderr (for a failing property). */
void fake_plan_dump(const struct keelson_plan *plan);

/* Small readers for the properties. */
const char *fake_str(const cJSON *node, const char *pointer);
int fake_pod_ready(const cJSON *pod);

#endif
