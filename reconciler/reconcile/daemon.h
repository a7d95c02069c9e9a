/*
 * What `keelson run` runs next to the reconcile loop (keelson issue 9):
 * the HTTP endpoint (push webhooks, /metrics, /healthz, /readyz), the
 * readiness it reports, the status branch writer (with optional forge
 * commit statuses) and the Kubernetes API request metrics.
 *
 * Built from the configuration at start; everything is copied, so a
 * SIGHUP reload may free the configuration. Settings of these services are
 * not reloaded: changing http, status or forge needs a restart (logged).
 *
 * Readiness (/readyz): not ready until a cycle succeeded — the Git poll
 * worked, a valid revision is in force and every managed cluster's API
 * was reached (systems may still be progressing or blocked: readiness
 * says whether keelson can do its job, not whether the cluster is
 * converged). After that, not ready while the last Git poll or the last
 * API access of a cycle failed; ready again when they work.
 */
#ifndef KEELSON_RECONCILE_DAEMON_H
#define KEELSON_RECONCILE_DAEMON_H

#include "config/config.h"
#include "reconcile/reconcile.h"

#include <stdbool.h>

struct keelson_daemon;

/* keelson_daemon_start flags. */
#define KEELSON_DAEMON_IN_POD 1u  /* serve HTTP even without an http section */
#define KEELSON_DAEMON_NO_HTTP 2u /* never serve HTTP (keelson sync) */

/* Start the services `cfg` asks for: the HTTP server when cfg->http_enabled
 * (or with KEELSON_DAEMON_IN_POD: then at cfg's default address), the
 * status writer when cfg->status_enabled. Installs the API request metrics
 * observer. Errors (a secret file that cannot be read, an address that
 * cannot be bound, an invalid status branch) are returned with the message
 * set; nothing is left running. */
int keelson_daemon_start(struct keelson_daemon **out, const struct keelson_config *cfg, unsigned flags);

/* Wire the nudge (webhook pushes) and the status writer into `r`; call
 * again after replacing the reconciler (SIGHUP). */
void keelson_daemon_attach(struct keelson_daemon *d, struct keelson_reconciler *r);

/* After each cycle: publish readiness, commit status when due (coalesced
 * to one commit per status.interval). */
void keelson_daemon_after_cycle(struct keelson_daemon *d, const struct keelson_cycle_report *rep);

/* How long the loop may sleep before the daemon needs it again (a
 * deferred status commit); -1: no limit. */
long keelson_daemon_wait_limit_ms(const struct keelson_daemon *d);

/* The bound HTTP port (0 when no server runs). */
unsigned keelson_daemon_http_port(const struct keelson_daemon *d);

/* Stop the HTTP server (requests in flight finish), commit pending status
 * at once, remove the observer and free. Accepts NULL. */
void keelson_daemon_stop(struct keelson_daemon *d);

/* The verb of a Kubernetes API request for metrics: get, list, watch,
 * create, update, patch, apply, delete, proxy, discovery. */
const char *keelson_daemon_api_verb(const char *method, const char *path, const char *content_type);

#endif
