/*
 * Alerts: drift and blocked rollouts, sent to Prometheus Alertmanager (API
 * v2, POST /api/v2/alerts) and/or a generic JSON webhook.
 *
 * An alert is identified by its key: (alertname, cluster, system, object
 * kind, namespace, name). The sender keeps the state of every active key:
 *   - firing a new key sends at once;
 *   - firing a key that is already active sends again only when the last
 *     delivery to that receiver is at least repeat_interval old. Alertmanager
 *     needs these re-sends: each one carries endsAt = now + 4 x interval, so
 *     the alert stays active between re-sends whatever resolve_timeout says,
 *     and ends by itself if keelson stops sending (it died);
 *   - resolving an active key sends it with endsAt = now, then forgets it.
 * A delivery that failed is retried (by the next fire, resolve or tick) at
 * most every min(repeat_interval, 10 s); it is logged and counted in
 * keelson_alerts_sent_total{result="error"}.
 *
 * Level-triggered use, per cycle and system:
 *     uint64_t mark = keelson_alerts_mark(a);
 *     for each drifted object: keelson_alerts_fire(a, &alert);
 *     keelson_alerts_resolve_stale(a, KEELSON_ALERT_DRIFT, cluster, system, mark);
 * and keelson_alerts_tick(a) whenever the loop wakes, for re-sends.
 *
 * Sends are synchronous (libcurl, bounded by timeout_ms) and the object is
 * not thread-safe: call it from the loop's thread.
 *
 * Generic webhook body (Content-Type: application/json):
 *   {"version": 1, "source": "keelson",
 *    "alerts": [{"status": "firing"|"resolved",
 *                "labels": {"alertname", "cluster", "system", "kind", "namespace", "name", "severity"},
 *                "annotations": {"summary", "description"},
 *                "startsAt": RFC 3339, "endsAt": RFC 3339, "generatorURL"?: URL}]}
 * Empty labels are left out. With a webhook secret, the header
 * (default X-Keelson-Signature-256) is "sha256=" + hex HMAC-SHA256 of the
 * body, the same scheme keelson's own /hooks/generic verifies.
 */
#ifndef KEELSON_ALERTS_ALERTS_H
#define KEELSON_ALERTS_ALERTS_H

#include "metrics/daemon_metrics.h"

#include <stddef.h>
#include <stdint.h>

#define KEELSON_ALERT_DRIFT "KeelsonDrift"
#define KEELSON_ALERT_BLOCKED "KeelsonRolloutBlocked"

/* Most active alerts kept; firing more is KEELSON_ELIMIT (and logged). */
#define KEELSON_ALERTS_MAX_ACTIVE 10000

struct keelson_alerts;

/* Wall clock in milliseconds since the Unix epoch (injectable for tests). */
typedef long long (*keelson_alerts_clock_fn)(void *payload);

#define KEELSON_ALERTS_OPTIONS_VERSION 1

struct keelson_alerts_options {
	unsigned version;                   /* KEELSON_ALERTS_OPTIONS_VERSION */
	const char *alertmanager_url;       /* e.g. "http://127.0.0.1:9093"; NULL: none */
	const char *webhook_url;            /* generic JSON webhook; NULL: none */
	const char *webhook_secret;         /* NULL: unsigned */
	const char *webhook_signature_header; /* NULL: "X-Keelson-Signature-256" */
	unsigned long long repeat_interval_ms; /* 0: 5 minutes */
	unsigned long long timeout_ms;      /* per request; 0: 5 s */
	const char *generator_url;          /* optional link in each alert */
	struct keelson_daemon_metrics *metrics; /* NULL: the global instance */
	keelson_alerts_clock_fn clock;      /* NULL: the real clock */
	void *clock_payload;
};

/* What an alert says. Strings are copied. kind/namespace/name are NULL or
 * "" for a system-level alert (a blocked rollout). */
struct keelson_alert {
	const char *alertname; /* KEELSON_ALERT_DRIFT, KEELSON_ALERT_BLOCKED, or another */
	const char *cluster;
	const char *system;
	const char *kind;
	const char *namespace_;
	const char *name;
	const char *severity;  /* NULL: "warning" */
	const char *summary;
	const char *description;
};

int keelson_alerts_new(struct keelson_alerts **out, const struct keelson_alerts_options *opts);
void keelson_alerts_free(struct keelson_alerts *a); /* accepts NULL; sends nothing */

/* Raise or keep raising `alert` (see above). 0 when delivered or not due;
 * KEELSON_EUNAVAILABLE when a due delivery failed (it will be retried). */
int keelson_alerts_fire(struct keelson_alerts *a, const struct keelson_alert *alert);

/* End the alert with the same key (other fields ignored). 0 also when it
 * was not active. KEELSON_EUNAVAILABLE when the delivery failed (retried
 * by tick until it succeeds). */
int keelson_alerts_resolve(struct keelson_alerts *a, const struct keelson_alert *alert);

/* A new epoch: alerts fired after this call are "seen" in it. */
uint64_t keelson_alerts_mark(struct keelson_alerts *a);

/* Resolve every active alert with this alertname, cluster and system (NULL
 * matches any) that was not fired since `mark`. */
int keelson_alerts_resolve_stale(struct keelson_alerts *a, const char *alertname, const char *cluster,
				 const char *system, uint64_t mark);

/* Re-send what is due and retry failed deliveries. */
int keelson_alerts_tick(struct keelson_alerts *a);

/* Active alerts (resolutions not yet delivered included). */
size_t keelson_alerts_active_count(const struct keelson_alerts *a);

#endif
