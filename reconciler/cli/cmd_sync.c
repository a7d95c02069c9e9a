/*
 * `keelson sync --once`: apply the current revision once and exit, for
 * CI/CD pipelines. The exit status says whether the clusters converged.
 */
#include "config.h"

#include "cli/command.h"
#include "config/config.h"
#include "core/error.h"
#include "core/log.h"
#include "plugin/plugin_host.h"
#include "reconcile/daemon.h"
#include "reconcile/reconcile.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char keelson_cmd_sync_usage[] =
	"Usage: keelson sync --once --config FILE [--timeout DURATION] [--plugin-dir DIR]\n"
	"\n"
	"Fetch the tracked ref of the repository named in FILE (see keelson.yaml(5)),\n"
	"validate that revision, apply it to every cluster the file lists (server-side\n"
	"apply, dependency order, prune through each system's inventory) and exit.\n"
	"\n"
	"  --once               apply one revision and exit (the only mode of sync;\n"
	"                       `keelson run` is the daemon)\n"
	"  --config FILE        keelson's configuration file\n"
	"  --timeout DURATION   keep retrying with backoff (retry.initialBackoff up to\n"
	"                       retry.maxBackoff) until converged or DURATION passed,\n"
	"                       e.g. 2m (default: one attempt)\n"
	"  --plugin-dir DIR     plugin shared objects (default: pluginDir of FILE, else\n"
	"                       $KEELSON_PLUGIN_DIR, else the installed directory)\n"
	"\n"
	"A system whose plugin is not generic advances by at most one step per attempt\n"
	"(a pod restarted, say); progress is kept in the cluster, so each run continues\n"
	"the rollout, and it converges when the plugin plans nothing more.\n"
	"\n"
	"With a status section in FILE, the status of every system is committed to the\n"
	"status branch before sync exits (no HTTP server is started).\n"
	"\n"
	"Exit status: 0 converged (every object applied and in sync, prunes done),\n"
	"1 not converged (invalid revision, unreachable cluster, a failed or blocked\n"
	"change, drift left by driftPolicy alert, plugin steps remaining or waiting),\n"
	"2 bad usage, configuration or plugin directory.\n";

static volatile sig_atomic_t sync_stop;

static void on_signal(int sig)
{
	(void)sig;
	sync_stop = 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int keelson_cmd_sync(int argc, char **argv)
{
	const char *config_path = NULL, *timeout_text = NULL, *plugin_dir = NULL;
	unsigned long long timeout_ms = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0)
			continue;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_path = argv[i] + 9;
		else if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc)
			plugin_dir = argv[++i];
		else if (strncmp(argv[i], "--plugin-dir=", 13) == 0)
			plugin_dir = argv[i] + 13;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_text = argv[++i];
		else if (strncmp(argv[i], "--timeout=", 10) == 0)
			timeout_text = argv[i] + 10;
		else {
			fprintf(stderr, "keelson sync: unknown or incomplete argument \"%s\"\n\n%s", argv[i],
				keelson_cmd_sync_usage);
			return KEELSON_EXIT_USAGE;
		}
	}
	if (config_path == NULL) {
		fprintf(stderr, "keelson sync: --config FILE is required\n\n%s", keelson_cmd_sync_usage);
		return KEELSON_EXIT_USAGE;
	}
	if (timeout_text != NULL && keelson_config_parse_duration(&timeout_ms, timeout_text) < 0) {
		fprintf(stderr, "keelson sync: --timeout: %s\n", keelson_error_last()->message);
		return KEELSON_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	struct keelson_config *cfg = NULL;
	struct keelson_reconciler *r = NULL;
	if (keelson_config_load(&cfg, config_path) < 0) {
		fprintf(stderr, "keelson sync: %s\n", keelson_error_last()->message);
		return KEELSON_EXIT_USAGE;
	}
	struct keelson_plugin_registry *plugins = NULL;
	if (keelson_cli_load_plugins(&plugins, "sync", plugin_dir ? plugin_dir : cfg->plugin_dir) != 0) {
		keelson_config_free(cfg);
		return KEELSON_EXIT_USAGE;
	}
	if (keelson_plugin_registry_install_layout(plugins) < 0 || keelson_reconciler_new(&r, cfg, &sync_stop) < 0) {
		fprintf(stderr, "keelson sync: %s\n", keelson_error_last()->message);
		keelson_plugin_registry_uninstall_layout(plugins);
		keelson_plugin_registry_free(plugins);
		keelson_config_free(cfg);
		return KEELSON_EXIT_USAGE;
	}
	keelson_reconciler_set_plugins(r, plugins);
	struct keelson_daemon *services = NULL;
	if (keelson_daemon_start(&services, cfg, KEELSON_DAEMON_NO_HTTP) < 0) {
		fprintf(stderr, "keelson sync: %s\n", keelson_error_last()->message);
		keelson_reconciler_free(r);
		keelson_plugin_registry_uninstall_layout(plugins);
		keelson_plugin_registry_free(plugins);
		keelson_config_free(cfg);
		return KEELSON_EXIT_USAGE;
	}
	keelson_daemon_attach(services, r);
	long deadline = now_ms() + (long)timeout_ms;
	unsigned long long backoff = cfg->retry_initial_ms;
	struct keelson_cycle_report rep;
	int exit_code = KEELSON_EXIT_FAILURE;
	for (;;) {
		if (keelson_reconciler_cycle(&rep, r, true) < 0) {
			fprintf(stderr, "keelson sync: %s\n", keelson_error_last()->message);
			break;
		}
		if (rep.converged) {
			exit_code = KEELSON_EXIT_OK;
			break;
		}
		bool progressed = rep.steps_run > 0 && rep.failed == 0 && rep.clusters_failed == 0;
		if (sync_stop || now_ms() + (long)(progressed ? 0 : backoff) > deadline)
			break;
		if (progressed) /* the cycle waited for the step's effect: plan the next step now */
			continue;
		keelson_log(KEELSON_LOG_INFO, "not converged; retrying", "revision", rep.revision, (const char *)NULL);
		/* Wakes early when a watched object (a pod the plugin waits for) changes. */
		keelson_reconciler_wait(r, (long)backoff, &sync_stop);
		backoff = backoff * 2 > cfg->retry_max_ms ? cfg->retry_max_ms : backoff * 2;
	}
	fprintf(stderr,
		"keelson sync: revision %s: %s (%zu objects, %zu applied, %zu pruned, %zu kept by prune=false, "
		"%zu blocked, %zu failed, %zu drifted, %zu plugin steps run, %zu waiting)\n",
		rep.revision[0] ? rep.revision : "(none)", exit_code == 0 ? "converged" : "NOT converged", rep.objects,
		rep.applied, rep.pruned, rep.prune_held, rep.blocked, rep.failed, rep.drifted, rep.steps_run, rep.waiting);
	keelson_daemon_stop(services); /* commits the status at once */
	keelson_reconciler_free(r);
	keelson_plugin_registry_uninstall_layout(plugins);
	keelson_plugin_registry_free(plugins);
	keelson_config_free(cfg);
	return exit_code;
}
