/*
 * The daemon's metric families. Recording never fails the caller: metrics
 * are a view, and a full series table must not stop a rollout.
 */
#include "config.h"

#include "metrics/daemon_metrics.h"
#include "core/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct keelson_daemon_metrics {
	struct keelson_metrics *reg;
	struct keelson_metric *reconcile, *git_total, *git_seconds, *api_total, *api_seconds, *drift, *steps,
		*blocked, *last_sync, *webhooks, *alerts;
};

/* Reconcile cycles and fetches take from milliseconds to minutes. */
static const double slow_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
/* API requests: the client's default buckets. */
static const double api_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

int keelson_daemon_metrics_new(struct keelson_daemon_metrics **out)
{
	struct keelson_daemon_metrics *dm = calloc(1, sizeof(*dm));
	if (dm == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	const char *const result[] = {"result", NULL};
	const char *const verb_code[] = {"verb", "code", NULL};
	const char *const cs[] = {"cluster", "system", NULL};
	const char *const csr[] = {"cluster", "system", "result", NULL};
	const char *const cluster[] = {"cluster", NULL};
	const char *const hook[] = {"hook", "result", NULL};
	const char *const recv[] = {"receiver", "result", NULL};
	size_t nslow = sizeof(slow_buckets) / sizeof(slow_buckets[0]);
	size_t napi = sizeof(api_buckets) / sizeof(api_buckets[0]);
	int rc;
	if ((rc = keelson_metrics_new(&dm->reg)) < 0 ||
	    (rc = keelson_metrics_histogram(&dm->reconcile, dm->reg, "keelson_reconcile_duration_seconds",
					    "Duration of reconcile cycles.", result, slow_buckets, nslow)) < 0 ||
	    (rc = keelson_metrics_counter(&dm->git_total, dm->reg, "keelson_git_fetches_total",
					  "Git polls of the source repository, by result.", result)) < 0 ||
	    (rc = keelson_metrics_histogram(&dm->git_seconds, dm->reg, "keelson_git_fetch_duration_seconds",
					    "Duration of Git polls and fetches.", result, slow_buckets, nslow)) < 0 ||
	    (rc = keelson_metrics_counter(&dm->api_total, dm->reg, "keelson_api_requests_total",
					  "Kubernetes API requests, by verb and HTTP status code (0: no answer).",
					  verb_code)) < 0 ||
	    (rc = keelson_metrics_histogram(&dm->api_seconds, dm->reg, "keelson_api_request_duration_seconds",
					    "Latency of Kubernetes API requests.", verb_code, api_buckets, napi)) < 0 ||
	    (rc = keelson_metrics_gauge(&dm->drift, dm->reg, "keelson_drift_objects",
					"Live objects that differ from Git, per system.", cs)) < 0 ||
	    (rc = keelson_metrics_counter(&dm->steps, dm->reg, "keelson_rollout_steps_total",
					  "Rollout steps carried out, by result.", csr)) < 0 ||
	    (rc = keelson_metrics_gauge(&dm->blocked, dm->reg, "keelson_system_blocked",
					"1 when the system's rollout is blocked.", cs)) < 0 ||
	    (rc = keelson_metrics_gauge(&dm->last_sync, dm->reg, "keelson_last_successful_sync_timestamp_seconds",
					"Unix time of the last cycle that converged, per cluster.", cluster)) < 0 ||
	    (rc = keelson_metrics_counter(&dm->webhooks, dm->reg, "keelson_webhook_requests_total",
					  "Push webhook requests, by hook and result.", hook)) < 0 ||
	    (rc = keelson_metrics_counter(&dm->alerts, dm->reg, "keelson_alerts_sent_total",
					  "Alert deliveries, by receiver and result.", recv)) < 0) {
		keelson_daemon_metrics_free(dm);
		return rc;
	}
	*out = dm;
	return 0;
}

void keelson_daemon_metrics_free(struct keelson_daemon_metrics *dm)
{
	if (dm == NULL)
		return;
	keelson_metrics_free(dm->reg);
	free(dm);
}

static struct keelson_daemon_metrics *global;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void make_global(void)
{
	if (keelson_daemon_metrics_new(&global) < 0)
		global = NULL;
}

struct keelson_daemon_metrics *keelson_daemon_metrics_global(void)
{
	pthread_once(&global_once, make_global);
	return global;
}

static struct keelson_daemon_metrics *pick(struct keelson_daemon_metrics *dm)
{
	return dm != NULL ? dm : keelson_daemon_metrics_global();
}

struct keelson_metrics *keelson_daemon_metrics_registry(struct keelson_daemon_metrics *dm)
{
	dm = pick(dm);
	return dm ? dm->reg : NULL;
}

void keelson_metrics_record_reconcile(struct keelson_daemon_metrics *dm, double seconds, const char *result)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {result};
	keelson_metric_observe(dm->reconcile, v, seconds);
}

void keelson_metrics_record_git_fetch(struct keelson_daemon_metrics *dm, double seconds, const char *result)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {result};
	keelson_metric_add(dm->git_total, v, 1);
	keelson_metric_observe(dm->git_seconds, v, seconds);
}

void keelson_metrics_record_api_request(struct keelson_daemon_metrics *dm, const char *verb, int code,
					double seconds)
{
	if ((dm = pick(dm)) == NULL)
		return;
	char c[16];
	snprintf(c, sizeof(c), "%d", code);
	const char *v[] = {verb, c};
	keelson_metric_add(dm->api_total, v, 1);
	keelson_metric_observe(dm->api_seconds, v, seconds);
}

void keelson_metrics_set_drift(struct keelson_daemon_metrics *dm, const char *cluster, const char *system,
			       size_t objects)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {cluster, system};
	keelson_metric_set(dm->drift, v, (double)objects);
}

void keelson_metrics_record_rollout_step(struct keelson_daemon_metrics *dm, const char *cluster,
					 const char *system, const char *result)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {cluster, system, result};
	keelson_metric_add(dm->steps, v, 1);
}

void keelson_metrics_set_blocked(struct keelson_daemon_metrics *dm, const char *cluster, const char *system,
				 bool blocked)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {cluster, system};
	keelson_metric_set(dm->blocked, v, blocked ? 1 : 0);
}

void keelson_metrics_set_last_sync(struct keelson_daemon_metrics *dm, const char *cluster, time_t when)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {cluster};
	keelson_metric_set(dm->last_sync, v, (double)when);
}

void keelson_metrics_record_webhook(struct keelson_daemon_metrics *dm, const char *hook, const char *result)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {hook, result};
	keelson_metric_add(dm->webhooks, v, 1);
}

void keelson_metrics_record_alert_send(struct keelson_daemon_metrics *dm, const char *receiver, bool ok)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {receiver, ok ? "ok" : "error"};
	keelson_metric_add(dm->alerts, v, 1);
}

void keelson_metrics_forget_system(struct keelson_daemon_metrics *dm, const char *cluster, const char *system)
{
	if ((dm = pick(dm)) == NULL)
		return;
	const char *v[] = {cluster, system};
	keelson_metric_remove(dm->drift, v);
	keelson_metric_remove(dm->blocked, v);
	/* rollout_steps_total keeps its series: counters must not reset while
	 * the process lives, or rate() would read a spurious drop. */
}
