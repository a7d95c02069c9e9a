/*
 * Test driver for the executor against kubesim: loads plugins and a
 * repository checkout, then runs executor cycles for every system until
 * all are converged (exit 0) or one is blocked (exit 3). It keeps nothing
 * between runs except what the executor persists in the cluster, so
 * killing it with SIGKILL and starting it again is exactly a keelson
 * restart. Each cycle prints one line: OUTCOME<TAB>system<TAB>description.
 *
 * Usage: exec_driver REPO KUBECONFIG PLUGIN_DIR STATE_NS REVISION [MAX_SECONDS]
 * With EXEC_DRIVER_CACHE=1 in the environment, live reads come from a watch
 * cache of Namespaces, StatefulSets and Pods, as in the daemon.
 *
 * exec_driver --delete KUBECONFIG API_VERSION KIND NAMESPACE NAME UID PROPAGATION
 * runs one executor cycle of a plugin written here that plans one DELETE
 * step of that object (UID "live": the object's own UID, and nothing once
 * it is gone; another UID: always; PROPAGATION "-": none), and prints
 * OUTCOME<TAB>step kind<TAB>apiVersion kind namespace/name<TAB>description.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/dir_source.h"
#include "layout/layout.h"
#include "layout/problems.h"
#include "plugin/executor.h"
#include "plugin/plugin_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_blocked(void *payload, const char *cluster, const char *system, const char *reason)
{
	(void)payload;
	printf("ALERT\t%s/%s\t%s\n", cluster, system, reason);
	fflush(stdout);
}

/* --- --delete: one DELETE step through the executor ------------------------ */

static const char *del_args[6]; /* api_version, kind, ns, name, uid, propagation */

static int delete_plan(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_view *view)
{
	(void)view;
	const struct keelson_json *live = NULL;
	int rc = h->live_get(call, del_args[0], del_args[1], del_args[2], del_args[3], &live);
	int use_live = strcmp(del_args[4], "live") == 0;
	if (rc == 1 && use_live)
		return 0; /* gone: converged */
	if (rc < 0)
		return -1;
	const char *uid = use_live ? h->json_string(h->json_get(live, "/metadata/uid"))
							 : del_args[4];
	char description[512];
	snprintf(description, sizeof(description), "delete %s %s/%s", del_args[1], del_args[2], del_args[3]);
	struct keelson_step s = {.struct_size = sizeof(s), .kind = KEELSON_STEP_DELETE, .description = description,
				 .api_version = del_args[0], .kind_name = del_args[1], .namespace_ = del_args[2],
				 .name = del_args[3], .precondition_uid = uid,
				 .propagation = strcmp(del_args[5], "-") == 0 ? NULL : del_args[5]};
	return h->add_step(call, &s);
}

static const struct keelson_plugin delete_plugin = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct keelson_plugin),
	.name = "deleter", .version = "1", .description = "deletes one object", .plan = delete_plan};

static int delete_main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: exec_driver --delete KUBECONFIG API_VERSION KIND NAMESPACE NAME UID PROPAGATION\n");
		return 2;
	}
	for (int i = 0; i < 6; i++)
		del_args[i] = argv[i + 1];
	int status = 2;
	struct keelson_kube_config *cfg = NULL;
	struct keelson_kube_client *client = NULL;
	struct keelson_executor *exec = NULL;
	if (keelson_kube_config_load_file(&cfg, argv[0], NULL) != 0 || keelson_kube_client_new(&client, cfg, NULL) != 0)
		goto done;
	struct keelson_plugin_kube_env env;
	keelson_plugin_env_kube(&env, client, NULL);
	struct keelson_executor_kube_store store;
	keelson_executor_store_kube(&store, client, "default");
	struct keelson_executor_options opts;
	keelson_executor_options_init(&opts);
	opts.env = &env.env;
	opts.client = client;
	opts.store = &store.store;
	if (keelson_executor_new(&exec, &opts) != 0)
		goto done;
	struct keelson_exec_result r;
	if (keelson_executor_cycle_objects(&r, exec, &delete_plugin, NULL, "sim", "deleter", "r1", NULL, 0) != 0)
		goto done;
	printf("%s\t%s\t%s %s %s/%s\t%s\n", keelson_exec_outcome_name(r.outcome), r.step_kind, r.target_api_version,
	       r.target_kind, r.target_namespace, r.target_name, r.description);
	status = 0;
done:
	if (status != 0)
		fprintf(stderr, "exec_driver: %s\n", keelson_error_last()->message);
	keelson_executor_free(exec);
	keelson_kube_client_free(client);
	keelson_kube_config_free(cfg);
	return status;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--delete") == 0)
		return delete_main(argc - 2, argv + 2);
	if (argc < 6) {
		fprintf(stderr, "usage: exec_driver REPO KUBECONFIG PLUGIN_DIR STATE_NS REVISION [MAX_SECONDS]\n");
		return 2;
	}
	const char *repo = argv[1], *kubeconfig = argv[2], *plugin_dir = argv[3], *state_ns = argv[4],
		   *revision = argv[5];
	long max_seconds = argc > 6 ? atol(argv[6]) : 60;
	int status = 2;
	struct keelson_plugin_registry *registry = NULL;
	struct keelson_file_source *source = NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_desired_state *state = NULL;
	struct keelson_kube_config *cfg = NULL;
	struct keelson_kube_client *client = NULL;
	struct keelson_executor *exec = NULL;
	struct keelson_plugin_params **params = NULL;
	struct keelson_kube_cache *cache = NULL;

	if (keelson_cli_load_plugins(&registry, "exec_driver", plugin_dir) != 0)
		goto done;
	if (keelson_plugin_registry_install_layout(registry) != 0 || keelson_dir_source_open(&source, repo) != 0)
		goto fail;
	if (keelson_layout_load(&state, &problems, source, NULL) != 0) {
		for (size_t i = 0; problems && i < problems->count; i++)
			fprintf(stderr, "%s:%u:%u: %s\n", problems->items[i].file, problems->items[i].line,
				problems->items[i].column, problems->items[i].message);
		goto fail;
	}
	if (keelson_kube_config_load_file(&cfg, kubeconfig, NULL) != 0 ||
	    keelson_kube_client_new(&client, cfg, NULL) != 0)
		goto fail;
	const char *use_cache = getenv("EXEC_DRIVER_CACHE");
	if (use_cache != NULL && strcmp(use_cache, "1") == 0) {
		if (keelson_kube_cache_new(&cache, client, NULL) != 0 ||
		    keelson_kube_cache_add(cache, "v1", "Namespace") != 0 ||
		    keelson_kube_cache_add(cache, "apps/v1", "StatefulSet") != 0 ||
		    keelson_kube_cache_add(cache, "v1", "Pod") != 0 ||
		    keelson_kube_cache_wait_synced(cache, 10000) != 0)
			goto fail;
	}
	struct keelson_plugin_kube_env env;
	keelson_plugin_env_kube(&env, client, cache);
	struct keelson_executor_kube_store store;
	keelson_executor_store_kube(&store, client, state_ns);
	struct keelson_executor_options opts;
	keelson_executor_options_init(&opts);
	opts.env = &env.env;
	opts.client = client;
	opts.store = &store.store;
	opts.backoff_initial_ms = 200;
	opts.backoff_max_ms = 2000;
	opts.on_blocked = on_blocked;
	if (keelson_executor_new(&exec, &opts) != 0)
		goto fail;

	const struct keelson_cluster *cluster = &state->clusters[0];
	params = calloc(cluster->system_count + 1, sizeof(*params));
	if (params == NULL)
		goto fail;
	for (size_t i = 0; i < cluster->system_count; i++) {
		const struct keelson_system *sys = &cluster->systems[i];
		const struct keelson_plugin *p = keelson_plugin_registry_find(registry, sys->plugin);
		if (p == NULL || keelson_plugin_params_parse(&params[i], problems, p, sys->parameters, NULL, sys->file) != 0)
			goto fail;
	}
	time_t deadline = time(NULL) + max_seconds;
	while (time(NULL) < deadline) {
		int converged = 1;
		for (size_t i = 0; i < cluster->system_count; i++) {
			const struct keelson_system *sys = &cluster->systems[i];
			const struct keelson_plugin *p = keelson_plugin_registry_find(registry, sys->plugin);
			struct keelson_exec_result r;
			if (keelson_executor_cycle(&r, exec, p, params[i], cluster->name, sys, revision, NULL) != 0) {
				printf("ERROR\t%s\t%s\n", sys->name, keelson_error_last()->message);
				converged = 0;
				continue;
			}
			printf("%s\t%s\t%s\n", keelson_exec_outcome_name(r.outcome), sys->name, r.description);
			fflush(stdout);
			if (r.outcome == KEELSON_EXEC_BLOCKED) {
				status = 3;
				goto done;
			}
			if (r.outcome != KEELSON_EXEC_CONVERGED)
				converged = 0;
		}
		if (converged) {
			status = 0;
			goto done;
		}
		if (cache != NULL) /* let the cache see what the step did */
			keelson_kube_cache_wait_change(cache, keelson_kube_cache_generation(cache), 200);
		else
			usleep(100 * 1000);
	}
	fprintf(stderr, "exec_driver: not converged after %ld s\n", max_seconds);
	status = 4;
	goto done;
fail:
	fprintf(stderr, "exec_driver: %s\n", keelson_error_last()->message);
done:
	for (size_t i = 0; params && state && i < state->clusters[0].system_count; i++)
		keelson_plugin_params_free(params[i]);
	free(params);
	keelson_executor_free(exec);
	keelson_kube_cache_free(cache);
	keelson_kube_client_free(client);
	keelson_kube_config_free(cfg);
	keelson_desired_state_free(state);
	keelson_problem_list_free(problems);
	if (source)
		source->free(source);
	keelson_plugin_registry_free(registry);
	return status;
}
