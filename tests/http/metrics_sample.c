/*
 * Starts the HTTP server with the daemon's metrics filled with sample
 * values (every family, awkward label values) and prints its port, so
 * promtool-check.sh can fetch /metrics over HTTP as Prometheus would.
 * Runs until stdin closes.
 */
#include "config.h"

#include "core/error.h"
#include "http/http_server.h"
#include "metrics/daemon_metrics.h"

#include <stdio.h>
#include <time.h>

int main(void)
{
	struct keelson_daemon_metrics *dm = NULL;
	if (keelson_daemon_metrics_new(&dm) < 0) {
		fprintf(stderr, "metrics_sample: %s\n", keelson_error_last()->message);
		return 1;
	}
	keelson_metrics_record_reconcile(dm, 0.7, "converged");
	keelson_metrics_record_reconcile(dm, 12, "not_converged");
	keelson_metrics_record_git_fetch(dm, 0.2, "fetched");
	keelson_metrics_record_git_fetch(dm, 0.01, "unchanged");
	keelson_metrics_record_api_request(dm, "get", 200, 0.004);
	keelson_metrics_record_api_request(dm, "apply", 409, 0.3);
	keelson_metrics_record_api_request(dm, "watch", 0, 31);
	keelson_metrics_set_drift(dm, "prod \"eu\"", "kafka\\main\n", 2);
	keelson_metrics_record_rollout_step(dm, "prod", "kafka", "done");
	keelson_metrics_set_blocked(dm, "prod", "cassandra", true);
	keelson_metrics_set_last_sync(dm, "prod", time(NULL));
	keelson_metrics_record_webhook(dm, "github", "accepted");
	keelson_metrics_record_alert_send(dm, "alertmanager", true);

	struct keelson_http_server_options opts = {
		.version = KEELSON_HTTP_SERVER_OPTIONS_VERSION,
		.address = "127.0.0.1",
		.metrics = keelson_daemon_metrics_registry(dm),
	};
	struct keelson_http_server *s = NULL;
	if (keelson_http_server_start(&s, &opts) < 0) {
		fprintf(stderr, "metrics_sample: %s\n", keelson_error_last()->message);
		keelson_daemon_metrics_free(dm);
		return 1;
	}
	printf("%u\n", keelson_http_server_port(s));
	fflush(stdout);
	while (getchar() != EOF)
		;
	keelson_http_server_stop(s);
	keelson_daemon_metrics_free(dm);
	return 0;
}
