/*
 * `keelson run --config FILE`: the daemon. A cycle per new revision (Git
 * poll interval, or at once for a local repository whose ref moved), on
 * every change of a watched object (drift), and every driftCheckInterval;
 * failed cycles are retried with exponential backoff. SIGTERM/SIGINT end it
 * between steps; SIGHUP reloads the configuration file.
 */
#include "config.h"

#include "alerts/alerts.h"
#include "cli/command.h"
#include "config/config.h"
#include "core/error.h"
#include "core/log.h"
#include "election/election.h"
#include "metrics/daemon_metrics.h"
#include "http/hmac.h"
#include "plugin/plugin_host.h"
#include "reconcile/daemon.h"
#include "reconcile/reconcile.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char keelson_cmd_run_usage[] =
	"Usage: keelson run --config FILE [--plugin-dir DIR]\n"
	"\n"
	"Run the reconciler daemon with the configuration in FILE (see keelson.yaml(5)).\n"
	"Each new revision of the tracked ref is validated and applied to the clusters\n"
	"FILE lists; live objects are watched and drift is reported or healed as each\n"
	"system's driftPolicy says. Systems whose plugin is not generic are rolled out\n"
	"step by step by their plugin, loaded from DIR (default: pluginDir of FILE, else\n"
	"$KEELSON_PLUGIN_DIR, else the installed plugin directory). With a leaderElection\n"
	"section in FILE, only the instance holding the Lease acts; the others stand by.\n"
	"\n"
	"With an http section in FILE (or when running in a pod), an HTTP endpoint serves\n"
	"/healthz, /readyz, /metrics and push webhooks (/hooks/github, /hooks/gitlab,\n"
	"/hooks/generic) that make keelson poll Git at once; with a status section, the\n"
	"status of every system is committed to a status branch (keelson status reads it).\n"
	"\n"
	"Signals: SIGTERM or SIGINT finish the current request, stop serving HTTP, commit\n"
	"pending status and stop; SIGHUP re-reads FILE (an invalid file is reported and\n"
	"the running configuration kept; http, status and forge need a restart).\n";

static volatile sig_atomic_t run_stop, run_reload;
/* The reconciler's stop flag: set on SIGTERM/SIGINT and, with leader
 * election, when this instance stops leading (set from the election
 * thread), so a cycle in progress ends after the request in flight. */
static volatile sig_atomic_t act_stop;

static void on_stop(int sig)
{
	(void)sig;
	run_stop = 1;
	act_stop = 1;
}

static void on_leadership(bool leading, void *payload)
{
	(void)payload;
	if (!leading)
		act_stop = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	run_reload = 1;
}

/* The alert sender of `cfg`'s alerts section, or NULL when it names no
 * receiver. */
static int make_alerts(struct keelson_alerts **out, const struct keelson_config *cfg)
{
	*out = NULL;
	if (cfg->alerts_alertmanager_url == NULL && cfg->alerts_webhook_url == NULL)
		return 0;
	struct keelson_alerts_options o = {.version = KEELSON_ALERTS_OPTIONS_VERSION};
	o.alertmanager_url = cfg->alerts_alertmanager_url;
	o.webhook_url = cfg->alerts_webhook_url;
	o.repeat_interval_ms = cfg->alerts_repeat_interval_ms;
	if (cfg->alerts_webhook_secret_file != NULL) {
		char *secret = NULL;
		int rc = keelson_secret_read_file(&secret, cfg->alerts_webhook_secret_file);
		if (rc < 0)
			return keelson_error_wrap(rc, "%s: alerts.webhookSecretFile", cfg->file);
		o.webhook_secret = secret;
		rc = keelson_alerts_new(out, &o); /* copies the secret */
		keelson_secret_free(secret);
		return rc;
	}
	if (cfg->alerts_webhook_secret_env != NULL) {
		o.webhook_secret = getenv(cfg->alerts_webhook_secret_env);
		if (o.webhook_secret == NULL || o.webhook_secret[0] == '\0')
			return keelson_error_set(KEELSON_EINVALID,
						 "%s: alerts.webhookSecretEnv names %s, which is not set in the environment",
						 cfg->file, cfg->alerts_webhook_secret_env);
	}
	return keelson_alerts_new(out, &o);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int keelson_cmd_run(int argc, char **argv)
{
	const char *config_path = NULL, *plugin_dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_path = argv[i] + 9;
		else if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc)
			plugin_dir = argv[++i];
		else if (strncmp(argv[i], "--plugin-dir=", 13) == 0)
			plugin_dir = argv[i] + 13;
		else {
			fprintf(stderr, "keelson run: unknown or incomplete argument \"%s\"\n\n%s", argv[i],
				keelson_cmd_run_usage);
			return KEELSON_EXIT_USAGE;
		}
	}
	if (config_path == NULL) {
		fprintf(stderr, "keelson run: --config FILE is required\n\n%s", keelson_cmd_run_usage);
		return KEELSON_EXIT_USAGE;
	}
	struct keelson_config *cfg = NULL;
	struct keelson_reconciler *r = NULL;
	struct keelson_plugin_registry *plugins = NULL;
	if (keelson_config_load(&cfg, config_path) < 0) {
		fprintf(stderr, "keelson run: %s\n", keelson_error_last()->message);
		return KEELSON_EXIT_USAGE;
	}
	/* Loaded once, before the first revision is validated against them. */
	if (keelson_cli_load_plugins(&plugins, "run", plugin_dir ? plugin_dir : cfg->plugin_dir) != 0) {
		keelson_config_free(cfg);
		return KEELSON_EXIT_USAGE;
	}
	struct keelson_alerts *alerts = NULL;
	if (make_alerts(&alerts, cfg) < 0 || keelson_plugin_registry_install_layout(plugins) < 0 ||
	    keelson_reconciler_new(&r, cfg, &act_stop) < 0) {
		fprintf(stderr, "keelson run: %s\n", keelson_error_last()->message);
		keelson_alerts_free(alerts);
		keelson_plugin_registry_uninstall_layout(plugins);
		keelson_plugin_registry_free(plugins);
		keelson_config_free(cfg);
		return KEELSON_EXIT_USAGE;
	}
	keelson_reconciler_set_plugins(r, plugins);
	keelson_reconciler_set_alerts(r, alerts);
	/* HTTP endpoint, readiness, status branch, API metrics. */
	struct keelson_daemon *daemon = NULL;
	if (keelson_daemon_start(&daemon, cfg, getenv("KUBERNETES_SERVICE_HOST") ? KEELSON_DAEMON_IN_POD : 0) < 0) {
		fprintf(stderr, "keelson run: %s\n", keelson_error_last()->message);
		keelson_reconciler_free(r);
		keelson_alerts_free(alerts);
		keelson_plugin_registry_uninstall_layout(plugins);
		keelson_plugin_registry_free(plugins);
		keelson_config_free(cfg);
		return KEELSON_EXIT_USAGE;
	}
	keelson_daemon_attach(daemon, r);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	keelson_log(KEELSON_LOG_INFO, "keelson started", "config", config_path, "repository", cfg->git_url, "ref",
		    cfg->git_ref, (const char *)NULL);
	int exit_code = KEELSON_EXIT_OK;
	/* leaderElection: only the Lease holder cycles. Created once; a
	 * reload keeps it. */
	struct keelson_election *election = NULL;
	if (keelson_election_from_config(&election, cfg, on_leadership, NULL,
					 keelson_daemon_metrics_registry(keelson_daemon_metrics_global())) < 0 ||
	    (election != NULL && keelson_election_start(election) < 0)) {
		fprintf(stderr, "keelson run: %s\n", keelson_error_last()->message);
		exit_code = KEELSON_EXIT_USAGE;
		run_stop = 1;
	}
	unsigned long long backoff = 0;
	long last_full = 0;
	bool first = true;
	while (!run_stop) {
		if (run_reload) {
			run_reload = 0;
			struct keelson_config *fresh = NULL;
			struct keelson_reconciler *fresh_r = NULL;
			if (keelson_config_load(&fresh, config_path) == 0 &&
			    keelson_reconciler_new(&fresh_r, fresh, &act_stop) == 0) {
				keelson_reconciler_free(r);
				keelson_config_free(cfg);
				keelson_reconciler_set_plugins(fresh_r, plugins);
				keelson_reconciler_set_alerts(fresh_r, alerts);
				keelson_daemon_attach(daemon, fresh_r);
				r = fresh_r;
				cfg = fresh;
				backoff = 0;
				first = true;
				keelson_log(KEELSON_LOG_INFO, "configuration reloaded", "config", config_path, "plugins and alerts",
					    "as at start", "http, status and forge", "as at start (restart to change)",
					    (const char *)NULL);
			} else {
				keelson_log(KEELSON_LOG_ERROR, "configuration not reloaded; the running one stays",
					    "config", config_path, "error", keelson_error_last()->message,
					    (const char *)NULL);
				keelson_config_free(fresh);
			}
		}
		if (election != NULL) {
			if (!keelson_election_is_leader(election)) {
				/* Standby: no Git poll, no cycle, no write. */
				keelson_election_wait_leader(election, 1000, &run_stop);
				continue;
			}
			if (act_stop && !run_stop) {
				/* Leading again after a step-down: a full cycle. */
				act_stop = 0;
				first = true;
			}
		}
		unsigned long long drift_ms = keelson_reconciler_drift_check_ms(r);
		bool full = first || now_ms() - last_full >= (long)drift_ms;
		struct keelson_cycle_report rep;
		if (keelson_reconciler_cycle(&rep, r, full) < 0) {
			keelson_log(KEELSON_LOG_ERROR, "stopping", "error", keelson_error_last()->message,
				    (const char *)NULL);
			exit_code = KEELSON_EXIT_FAILURE;
			break;
		}
		if (full)
			last_full = now_ms();
		first = false;
		long wait_ms;
		if (rep.steps_run > 0 && rep.failed == 0 && rep.clusters_failed == 0) {
			/* A plugin step ran and the cache shows it: plan the next one now. */
			backoff = 0;
			wait_ms = 0;
		} else if (rep.converged || rep.skipped) {
			backoff = 0;
			wait_ms = (long)drift_ms - (now_ms() - last_full);
		} else {
			backoff = backoff == 0 ? cfg->retry_initial_ms
					       : (backoff * 2 > cfg->retry_max_ms ? cfg->retry_max_ms : backoff * 2);
			char retry[32];
			snprintf(retry, sizeof(retry), "%llu", backoff);
			keelson_log(KEELSON_LOG_WARN, "not converged; retrying with backoff", "revision", rep.revision,
				    "retryInMs", retry, (const char *)NULL);
			wait_ms = (long)backoff;
		}
		keelson_daemon_after_cycle(daemon, &rep);
		long daemon_wait = keelson_daemon_wait_limit_ms(daemon);
		if (daemon_wait >= 0 && daemon_wait < wait_ms)
			wait_ms = daemon_wait; /* a deferred status commit */
		if (wait_ms < 0)
			wait_ms = 0;
		if (alerts != NULL) {
			keelson_alerts_tick(alerts); /* re-sends and retries */
			if (wait_ms > 10000)
				wait_ms = 10000; /* failed deliveries are retried every 10 s at most */
		}
		keelson_reconciler_wait(r, wait_ms, &run_reload);
	}
	/* Stops serving, then commits the pending status at once. */
	keelson_daemon_stop(daemon);
	/* After the last cycle and status commit: release the Lease so a
	 * standby takes over at once (client-go's ReleaseOnCancel). */
	keelson_election_stop(election, true);
	keelson_election_free(election);
	keelson_log(KEELSON_LOG_INFO, "keelson stopped", (const char *)NULL);
	keelson_reconciler_free(r);
	keelson_alerts_free(alerts);
	keelson_plugin_registry_uninstall_layout(plugins);
	keelson_plugin_registry_free(plugins);
	keelson_config_free(cfg);
	return exit_code;
}
