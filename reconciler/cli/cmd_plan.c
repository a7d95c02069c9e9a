/*
 * `keelson plan`: the ordered steps each system's plugin would take for a
 * repository checkout against the live cluster, with their gates. Nothing
 * is changed in the cluster.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "diff/diff.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/dir_source.h"
#include "layout/layout.h"
#include "layout/problems.h"
#include "plugin/plugin_host.h"
#include "yaml/yaml_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char keelson_cmd_plan_usage[] =
	"Usage: keelson plan [--repo PATH] [--cluster C] [--system S] [--kubeconfig FILE]\n"
	"                    [--context NAME] [--plugin-dir DIR] [--revision REV]\n"
	"\n"
	"Print, for each system of the repository checkout at PATH, the ordered steps\n"
	"its plugin plans against the live cluster: applies, pod deletions, HTTP calls,\n"
	"waits and blocks, each with its description and gate. Read-only: probes and\n"
	"reads go to the cluster, nothing is written.\n"
	"\n"
	"  --repo PATH        repository checkout (default: the current directory)\n"
	"  --cluster C        only cluster C\n"
	"  --system S         only systems named S\n"
	"  --kubeconfig FILE  kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
	"  --context NAME     kubeconfig context (default: spec.kubeContext of the cluster)\n"
	"  --plugin-dir DIR   plugin directory (default: $KEELSON_PLUGIN_DIR or the installed one)\n"
	"  --revision REV     revision to name in the plan (default: none)\n"
	"\n"
	"Exit status: 0 when every system is converged, 1 when steps remain or a system\n"
	"is blocked, 2 on error.\n";

#define EXIT_PLAN_ERROR 2

struct plan_cli {
	const char *repo, *cluster, *system, *kubeconfig, *context, *plugin_dir, *revision;
	int pending, errors;
};

static int plan_system(struct plan_cli *cli, const struct keelson_plugin_registry *registry,
		       const struct keelson_plugin_env *env, const struct keelson_cluster *cluster,
		       const struct keelson_system *system)
{
	const struct keelson_plugin *plugin = keelson_plugin_registry_find(registry, system->plugin);
	printf("cluster %s, system %s (plugin %s):\n", cluster->name, system->name, system->plugin);
	if (plugin == NULL) {
		fprintf(stderr, "keelson plan: %s: plugin \"%s\" is not loaded\n", system->file, system->plugin);
		cli->errors++;
		return -1;
	}
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *params = NULL;
	struct keelson_plan_object *objects = NULL;
	size_t count = 0;
	struct keelson_plan *plan = NULL;
	int rc = problems ? keelson_plugin_params_parse(&params, problems, plugin, system->parameters, NULL,
							system->file)
			  : KEELSON_ENOMEM;
	/* The layout loader parsed spec.ignoreDifferences with the revision, so
	 * plan and diff agree on what is drift. */
	struct keelson_diff_options diff;
	keelson_diff_options_init(&diff);
	diff.ignore = system->ignore_rules;
	if (rc == 0)
		rc = keelson_plan_objects_build(&objects, &count, system, env, &diff);
	if (rc == 0)
		rc = keelson_plugin_plan(&plan, plugin, &(struct keelson_plan_input){
			.cluster = cluster->name, .system = system->name, .revision = cli->revision,
			.objects = objects, .object_count = count, .params = params, .env = env});
	if (rc != 0) {
		for (size_t i = 0; problems != NULL && i < problems->count; i++)
			fprintf(stderr, "%s:%u:%u: %s\n", problems->items[i].file, problems->items[i].line,
				problems->items[i].column, problems->items[i].message);
		fprintf(stderr, "keelson plan: system %s: %s\n", system->name, keelson_error_last()->message);
		printf("  cannot plan (see the error output); the system would be blocked\n");
		cli->errors++;
	} else {
		keelson_plan_print(stdout, plan);
		if (plan->count > 0)
			cli->pending++;
	}
	keelson_plan_free(plan);
	keelson_plan_objects_free(objects, count);
	keelson_plugin_params_free(params);
	keelson_problem_list_free(problems);
	return rc;
}

static int plan_cluster(struct plan_cli *cli, const struct keelson_plugin_registry *registry,
			const struct keelson_cluster *cluster)
{
	struct keelson_kube_config *cfg = NULL;
	struct keelson_kube_client *client = NULL;
	struct keelson_kube_config_options copts;
	keelson_kube_config_options_init(&copts);
	copts.context = cli->context ? cli->context : cluster->kube_context;
	int rc = cli->kubeconfig != NULL ? keelson_kube_config_load_file(&cfg, cli->kubeconfig, &copts)
					 : keelson_kube_config_load_default(&cfg, &copts);
	if (rc == 0)
		rc = keelson_kube_client_new(&client, cfg, NULL);
	if (rc != 0) {
		fprintf(stderr, "keelson plan: cluster %s (%s): %s\n", cluster->name, cluster->file,
			keelson_error_last()->message);
		keelson_kube_config_free(cfg);
		cli->errors++;
		return rc;
	}
	struct keelson_plugin_kube_env env;
	keelson_plugin_env_kube(&env, client, NULL);
	for (size_t i = 0; i < cluster->system_count; i++) {
		if (cli->system == NULL || strcmp(cluster->systems[i].name, cli->system) == 0)
			plan_system(cli, registry, &env.env, cluster, &cluster->systems[i]);
	}
	keelson_kube_client_free(client);
	keelson_kube_config_free(cfg);
	return 0;
}

static int load_state(struct keelson_desired_state **out, const char *repo)
{
	struct keelson_file_source *source = NULL;
	struct keelson_problem_list *problems = NULL;
	int rc = keelson_dir_source_open(&source, repo);
	if (rc < 0) {
		fprintf(stderr, "keelson plan: %s\n", keelson_error_last()->message);
		return rc;
	}
	rc = keelson_layout_load(out, &problems, source, NULL);
	if (rc == KEELSON_EINVALID) {
		for (size_t i = 0; i < problems->count; i++) {
			const struct keelson_problem *p = &problems->items[i];
			fprintf(stderr, "%s:%u:%u: %s [%s]\n", p->file, p->line, p->column, p->message,
				keelson_problem_code_name(p->code));
		}
		fprintf(stderr, "keelson plan: %s is not a valid revision (%zu problem%s)\n", repo, problems->count,
			problems->count == 1 ? "" : "s");
	} else if (rc < 0) {
		fprintf(stderr, "keelson plan: %s\n", keelson_error_last()->message);
	}
	keelson_problem_list_free(problems);
	source->free(source);
	return rc;
}

int keelson_cmd_plan(int argc, char **argv)
{
	struct plan_cli cli = {.repo = "."};
	struct {
		const char *name;
		const char **target;
	} options[] = {
		{"--repo", &cli.repo}, {"--cluster", &cli.cluster}, {"--system", &cli.system},
		{"--kubeconfig", &cli.kubeconfig}, {"--context", &cli.context},
		{"--plugin-dir", &cli.plugin_dir}, {"--revision", &cli.revision},
	};
	for (int i = 1; i < argc; i++) {
		int matched = 0;
		for (size_t o = 0; o < sizeof(options) / sizeof(options[0]) && !matched; o++) {
			size_t n = strlen(options[o].name);
			if (strcmp(argv[i], options[o].name) == 0 && i + 1 < argc) {
				*options[o].target = argv[++i];
				matched = 1;
			} else if (strncmp(argv[i], options[o].name, n) == 0 && argv[i][n] == '=') {
				*options[o].target = argv[i] + n + 1;
				matched = 1;
			}
		}
		if (!matched) {
			fprintf(stderr, "keelson plan: unknown argument or missing value \"%s\"\n\n%s", argv[i],
				keelson_cmd_plan_usage);
			return KEELSON_EXIT_USAGE;
		}
	}
	struct keelson_plugin_registry *registry = NULL;
	if (keelson_cli_load_plugins(&registry, "plan", cli.plugin_dir) != 0)
		return EXIT_PLAN_ERROR;
	struct keelson_desired_state *state = NULL;
	int status = EXIT_PLAN_ERROR;
	if (keelson_plugin_registry_install_layout(registry) != 0) {
		fprintf(stderr, "keelson plan: %s\n", keelson_error_last()->message);
		goto done;
	}
	if (load_state(&state, cli.repo) != 0)
		goto done;
	int found = 0;
	for (size_t i = 0; i < state->cluster_count; i++) {
		if (cli.cluster != NULL && strcmp(state->clusters[i].name, cli.cluster) != 0)
			continue;
		found = 1;
		plan_cluster(&cli, registry, &state->clusters[i]);
	}
	if (!found) {
		fprintf(stderr, "keelson plan: no cluster %s in %s\n", cli.cluster ? cli.cluster : "at all", cli.repo);
		goto done;
	}
	status = cli.errors ? EXIT_PLAN_ERROR : cli.pending ? KEELSON_EXIT_FAILURE : KEELSON_EXIT_OK;
done:
	keelson_desired_state_free(state);
	keelson_plugin_registry_free(registry);
	return status;
}
