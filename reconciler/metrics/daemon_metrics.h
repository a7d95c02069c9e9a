/*
 * The daemon's own metrics, all in one registry served at /metrics. One
 * process-wide instance (keelson_daemon_metrics_global()) so the Git
 * source, the Kubernetes client and the loop can record without passing a
 * handle through every layer; tests make their own with _new.
 *
 * Names (all prefixed keelson_):
 *   reconcile_duration_seconds{result}            histogram; result=converged|not_converged|skipped
 *   git_fetches_total{result}                     counter; result=fetched|unchanged|error
 *   git_fetch_duration_seconds{result}            histogram
 *   api_requests_total{verb,code}                 counter; code="0" when no HTTP answer
 *   api_request_duration_seconds{verb,code}       histogram
 *   drift_objects{cluster,system}                 gauge
 *   rollout_steps_total{cluster,system,result}    counter; result=done|failed|blocked
 *   system_blocked{cluster,system}                gauge 0/1
 *   last_successful_sync_timestamp_seconds{cluster} gauge, Unix time
 *   webhook_requests_total{hook,result}           counter; result=accepted|ignored|unauthorized|too_large|bad_request
 *   alerts_sent_total{receiver,result}            counter; receiver=alertmanager|webhook, result=ok|error
 * Every recording function accepts NULL for the global instance.
 */
#ifndef KEELSON_METRICS_DAEMON_METRICS_H
#define KEELSON_METRICS_DAEMON_METRICS_H

#include "metrics/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct keelson_daemon_metrics;

int keelson_daemon_metrics_new(struct keelson_daemon_metrics **out);
void keelson_daemon_metrics_free(struct keelson_daemon_metrics *dm); /* accepts NULL */

/* The process-wide instance, created on first use; NULL only when out of
 * memory. Never freed (it lives as long as the process). */
struct keelson_daemon_metrics *keelson_daemon_metrics_global(void);

/* The registry to render (for the HTTP server). */
struct keelson_metrics *keelson_daemon_metrics_registry(struct keelson_daemon_metrics *dm);

void keelson_metrics_record_reconcile(struct keelson_daemon_metrics *dm, double seconds, const char *result);
void keelson_metrics_record_git_fetch(struct keelson_daemon_metrics *dm, double seconds, const char *result);
/* `verb`: get, list, watch, apply, patch, delete, create, update, proxy... */
void keelson_metrics_record_api_request(struct keelson_daemon_metrics *dm, const char *verb, int code,
					double seconds);
void keelson_metrics_set_drift(struct keelson_daemon_metrics *dm, const char *cluster, const char *system,
			       size_t objects);
void keelson_metrics_record_rollout_step(struct keelson_daemon_metrics *dm, const char *cluster,
					 const char *system, const char *result);
void keelson_metrics_set_blocked(struct keelson_daemon_metrics *dm, const char *cluster, const char *system,
				 bool blocked);
void keelson_metrics_set_last_sync(struct keelson_daemon_metrics *dm, const char *cluster, time_t when);
void keelson_metrics_record_webhook(struct keelson_daemon_metrics *dm, const char *hook, const char *result);
void keelson_metrics_record_alert_send(struct keelson_daemon_metrics *dm, const char *receiver, bool ok);

/* Forget the per-system series of a system that left the repository. */
void keelson_metrics_forget_system(struct keelson_daemon_metrics *dm, const char *cluster, const char *system);

#endif
