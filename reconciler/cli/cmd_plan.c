/*
 * `keelson plan`: the ordered steps each system's plugin would take for a
 * repository checkout against the live cluster, with their gates. Nothing
 * is changed in the cluster. With --base and --head: the review of a pull
 * request, base revision -> head revision (reconciler/review).
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
#include "review/review.h"
#include "review/revisions.h"
#include "yaml/yaml_load.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char keelson_cmd_plan_usage[] =
	"Usage: keelson plan [--repo PATH] [--cluster C] [--system S] [--kubeconfig FILE]\n"
	"                    [--context NAME] [--plugin-dir DIR] [--revision REV]\n"
	"       keelson plan --repo PATH|URL --base REV --head REV [--cluster C] [--system S]\n"
	"                    [--output text|markdown|json] [--live [--kubeconfig FILE]\n"
	"                    [--context NAME]] [--plugin-dir DIR]\n"
	"\n"
	"Without --base/--head: print, for each system of the repository checkout at\n"
	"PATH, the ordered steps its plugin plans against the live cluster: applies, pod\n"
	"deletions, HTTP calls, waits and blocks, each with its description and gate.\n"
	"Read-only: probes and reads go to the cluster, nothing is written.\n"
	"\n"
	"With --base and --head (pull-request review): what merging the change from\n"
	"revision BASE to revision HEAD would do. Both revisions are read straight from\n"
	"Git (no checkout); for each cluster and system: the objects that change (added;\n"
	"removed, and whether prune deletes them; modified, one line per field as a JSON\n"
	"pointer with the head file:line:column, and a unified diff), then the ordered\n"
	"plan of the system's plugin with the gate of each step and what it refuses.\n"
	"The plan is a preview made offline: the base revision stands for the cluster,\n"
	"there are no pods and no probes. With --live it is made against the cluster\n"
	"(kubeconfig as below) instead. See docs/pull-requests.md.\n"
	"\n"
	"  --repo PATH|URL    repository: a checkout (default: the current directory), or\n"
	"                     with --base/--head also a Git URL (file://, git://,\n"
	"                     http(s)://, ssh://), fetched into a temporary bare clone;\n"
	"                     HTTP(S) credentials from KEELSON_GIT_USERNAME/KEELSON_GIT_TOKEN\n"
	"  --base REV         the revision the change starts from (the target branch):\n"
	"                     any revision Git knows in a local repository (main,\n"
	"                     origin/main, HEAD~1, a commit id); with a URL a branch, a\n"
	"                     tag or a full commit id\n"
	"  --head REV         the revision under review (the pull request's head)\n"
	"  --output FORMAT    text (default), markdown (a pull-request comment) or json\n"
	"  --live             plan against the cluster's current state, not a preview\n"
	"  --cluster C        only cluster C\n"
	"  --system S         only systems named S\n"
	"  --kubeconfig FILE  kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
	"  --context NAME     kubeconfig context (default: spec.kubeContext of the cluster)\n"
	"  --plugin-dir DIR   plugin directory (default: $KEELSON_PLUGIN_DIR or the installed one)\n"
	"  --revision REV     (without --base/--head) revision to name in the plan\n"
	"\n"
	"Exit status without --base/--head: 0 when every system is converged, 1 when\n"
	"steps remain or a system is blocked, 2 on error.\n"
	"Exit status with --base/--head: 0 nothing would change, 1 objects change or\n"
	"steps would run, 2 error (the head revision is invalid: its problems are\n"
	"printed as FILE:LINE:COLUMN; a revision not found; a bad option), 3 the plan\n"
	"contains a refused or blocked step, or a change an apply cannot make.\n";

#define EXIT_PLAN_ERROR 2

struct plan_cli {
	const char *repo, *cluster, *system, *kubeconfig, *context, *plugin_dir, *revision;
	const char *base, *head, *output;
	bool live;
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

/* A client for `cluster` from the kubeconfig options. */
static int connect_cluster(struct keelson_kube_config **cfg, struct keelson_kube_client **client,
			   const struct plan_cli *cli, const struct keelson_cluster *cluster)
{
	struct keelson_kube_config_options copts;
	keelson_kube_config_options_init(&copts);
	copts.context = cli->context ? cli->context : cluster->kube_context;
	*cfg = NULL;
	*client = NULL;
	int rc = cli->kubeconfig != NULL ? keelson_kube_config_load_file(cfg, cli->kubeconfig, &copts)
					 : keelson_kube_config_load_default(cfg, &copts);
	if (rc == 0)
		rc = keelson_kube_client_new(client, *cfg, NULL);
	if (rc != 0) {
		keelson_kube_config_free(*cfg);
		*cfg = NULL;
	}
	return rc;
}

static int plan_cluster(struct plan_cli *cli, const struct keelson_plugin_registry *registry,
			const struct keelson_cluster *cluster)
{
	struct keelson_kube_config *cfg = NULL;
	struct keelson_kube_client *client = NULL;
	int rc = connect_cluster(&cfg, &client, cli, cluster);
	if (rc != 0) {
		fprintf(stderr, "keelson plan: cluster %s (%s): %s\n", cluster->name, cluster->file,
			keelson_error_last()->message);
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

/* --- Pull-request review: --base and --head --------------------------------- */

/* The clusters a live review connected to; freed together at the end. */
struct live_cluster {
	struct keelson_kube_config *cfg;
	struct keelson_kube_client *client;
	struct keelson_plugin_kube_env env;
};

struct live_clusters {
	const struct plan_cli *cli;
	struct live_cluster *items[256];
	size_t count;
};

static int live_env(const struct keelson_plugin_env **out, const struct keelson_cluster *cluster, void *payload)
{
	struct live_clusters *live = payload;
	if (live->count == sizeof(live->items) / sizeof(live->items[0]))
		return keelson_error_set(KEELSON_ELIMIT, "more than %zu clusters; review them one at a time with --cluster",
					 live->count);
	struct live_cluster *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	int rc = connect_cluster(&c->cfg, &c->client, live->cli, cluster);
	if (rc != 0) {
		free(c);
		return keelson_error_wrap(rc, "cluster %s (%s)", cluster->name, cluster->file);
	}
	keelson_plugin_env_kube(&c->env, c->client, NULL);
	live->items[live->count++] = c;
	*out = &c->env.env;
	return 0;
}

static void live_clusters_free(struct live_clusters *live)
{
	for (size_t i = 0; i < live->count; i++) {
		keelson_kube_client_free(live->items[i]->client);
		keelson_kube_config_free(live->items[i]->cfg);
		free(live->items[i]);
	}
	live->count = 0;
}

/* Load revision `rev`; on failure *problems (when the revision is invalid)
 * and a message for the error report. */
static int load_revision(struct keelson_desired_state **out, struct keelson_problem_list **problems, char sha[41],
			 char **message, struct keelson_review_repo *repo, const char *rev, const char *which,
			 const struct keelson_desired_state *previous)
{
	struct keelson_file_source *source = NULL;
	*out = NULL;
	*problems = NULL;
	int rc = keelson_review_repo_files(&source, sha, repo, rev);
	if (rc < 0) {
		if (asprintf(message, "%s revision: %s", which, keelson_error_last()->message) < 0)
			*message = NULL;
		return rc;
	}
	struct keelson_layout_options opts;
	keelson_layout_options_init(&opts);
	opts.previous = previous;
	rc = keelson_layout_load(out, problems, source, &opts);
	source->free(source);
	if (rc == KEELSON_EINVALID && *problems != NULL && (*problems)->count > 0) {
		/* keelson never applied an invalid base: the cluster runs an
		 * earlier revision, which is what to compare with. */
		if (asprintf(message, "the %s revision %s (%.12s) is not valid: %zu problem%s; nothing in it would be "
			     "applied%s", which, rev, sha, (*problems)->count, (*problems)->count == 1 ? "" : "s",
			     previous == NULL ? "; give --base the last valid revision, the one keelson applies" : "") < 0)
			*message = NULL;
	} else if (rc < 0) {
		if (asprintf(message, "%s revision %s (%.12s): %s", which, rev, sha, keelson_error_last()->message) < 0)
			*message = NULL;
	}
	return rc;
}

static int plan_review(const struct plan_cli *cli, const struct keelson_plugin_registry *registry)
{
	int format = keelson_review_format_parse(cli->output ? cli->output : "text");
	if (format < 0) {
		fprintf(stderr, "keelson plan: --output takes text, markdown or json, not \"%s\"\n", cli->output);
		return KEELSON_REVIEW_EXIT_ERROR;
	}
	struct keelson_review_repo *repo = NULL;
	struct keelson_desired_state *base = NULL, *head = NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_review *review = NULL;
	struct live_clusters live = {.cli = cli};
	char base_sha[41] = "", head_sha[41] = "";
	char *message = NULL;
	int status = KEELSON_REVIEW_EXIT_ERROR;
	const char *display = cli->repo;

	if (keelson_review_repo_open(&repo, cli->repo) < 0) {
		if (asprintf(&message, "%s", keelson_error_last()->message) < 0)
			message = NULL;
		goto fail;
	}
	display = keelson_review_repo_display(repo);
	if (load_revision(&base, &problems, base_sha, &message, repo, cli->base, "base", NULL) < 0)
		goto fail;
	keelson_problem_list_free(problems);
	problems = NULL;
	if (load_revision(&head, &problems, head_sha, &message, repo, cli->head, "head", base) < 0)
		goto fail;
	struct keelson_review_options opts;
	keelson_review_options_init(&opts);
	opts.repository = display;
	opts.base_rev = cli->base;
	opts.head_rev = cli->head;
	opts.base_sha = base_sha;
	opts.head_sha = head_sha;
	opts.cluster = cli->cluster;
	opts.system = cli->system;
	opts.registry = registry;
	if (cli->live) {
		opts.live_env = live_env;
		opts.live_payload = &live;
	}
	if (keelson_review_build(&review, base, head, &opts) < 0) {
		if (asprintf(&message, "%s", keelson_error_last()->message) < 0)
			message = NULL;
		goto fail;
	}
	if (keelson_review_render(stdout, review, (enum keelson_review_format)format) < 0) {
		fprintf(stderr, "keelson plan: %s\n", keelson_error_last()->message);
		goto done;
	}
	status = keelson_review_exit_code(review);
	goto done;
fail:
	/* Text errors go to the error output; Markdown and JSON to the
	 * output, where the CI job that posts the comment reads them. */
	keelson_review_render_error(format == KEELSON_REVIEW_TEXT ? stderr : stdout, (enum keelson_review_format)format,
				    display, cli->base, base_sha, cli->head, head_sha, message ? message : "out of memory",
				    problems);
	if (format != KEELSON_REVIEW_TEXT)
		fprintf(stderr, "keelson plan: %s\n", message ? message : "out of memory");
done:
	fflush(stdout);
	keelson_review_free(review);
	live_clusters_free(&live);
	keelson_problem_list_free(problems);
	keelson_desired_state_free(head);
	keelson_desired_state_free(base);
	keelson_review_repo_free(repo);
	free(message);
	return status;
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
		{"--base", &cli.base}, {"--head", &cli.head}, {"--output", &cli.output}, {"-o", &cli.output},
	};
	for (int i = 1; i < argc; i++) {
		int matched = 0;
		if (strcmp(argv[i], "--live") == 0) {
			cli.live = true;
			continue;
		}
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
	bool review = cli.base != NULL || cli.head != NULL;
	if (review && (cli.base == NULL || cli.head == NULL)) {
		fprintf(stderr, "keelson plan: --base and --head go together\n\n%s", keelson_cmd_plan_usage);
		return KEELSON_EXIT_USAGE;
	}
	if (!review && (cli.live || cli.output != NULL)) {
		fprintf(stderr, "keelson plan: --live and --output need --base and --head\n\n%s", keelson_cmd_plan_usage);
		return KEELSON_EXIT_USAGE;
	}
	struct keelson_plugin_registry *registry = NULL;
	if (keelson_cli_load_plugins(&registry, "plan", cli.plugin_dir) != 0)
		return EXIT_PLAN_ERROR;
	if (review) {
		int status = KEELSON_REVIEW_EXIT_ERROR;
		if (keelson_plugin_registry_install_layout(registry) != 0)
			fprintf(stderr, "keelson plan: %s\n", keelson_error_last()->message);
		else
			status = plan_review(&cli, registry);
		keelson_plugin_registry_free(registry);
		return status;
	}
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
