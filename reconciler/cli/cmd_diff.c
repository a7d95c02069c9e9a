/*
 * `keelson diff`: the desired state of a repository checkout against the
 * live objects of its clusters, printed as a unified diff (like
 * `kubectl diff`) or as JSON.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "diff/diff.h"
#include "json/json_canonical.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/dir_source.h"
#include "layout/layout.h"
#include "reconcile/inventory.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char keelson_cmd_diff_usage[] =
	"Usage: keelson diff [--repo PATH] [--cluster C] [--system S] [--kubeconfig FILE]\n"
	"                    [--context NAME] [--inventory-namespace NS] [--output text|json]\n"
	"                    [--no-color]\n"
	"\n"
	"Compare every object of the repository checkout at PATH with the live object\n"
	"in its cluster. Only fields the repository sets are compared (server defaults,\n"
	"status and metadata the server adds are not drift); quantities compare by\n"
	"value; fields keelson applied before and the repository no longer has are\n"
	"drift. Ignore rules come from spec.ignoreDifferences of each system.yaml.\n"
	"\n"
	"  --repo PATH        repository checkout (default: the current directory)\n"
	"  --cluster C        only cluster C (a directory under clusters/)\n"
	"  --system S         only systems named S\n"
	"  --kubeconfig FILE  kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
	"  --context NAME     kubeconfig context (default: spec.kubeContext of the\n"
	"                     cluster; needs a single cluster, see --cluster)\n"
	"  --output FORMAT    text (default): for each object that differs, one line per\n"
	"                     field (FILE:LINE:COLUMN: POINTER) and a unified diff of live\n"
	"                     (---) against the repository (+++); json: one document\n"
	"  --inventory-namespace NS\n"
	"                     where the inventories of what keelson applied are\n"
	"                     (default keelson-system): objects keelson applied that left\n"
	"                     the repository are reported as not in the repository\n"
	"  --no-color         no colours (also when NO_COLOR is set; colours are only\n"
	"                     used when standard output is a terminal)\n"
	"\n"
	"Exit status: 0 when everything is in sync, 1 when something differs or is\n"
	"missing, 2 on error (bad usage, invalid repository, unreachable cluster).\n";

#define EXIT_DIFF_ERROR 2
/* Longest value shown inline on a field line; the diff shows it whole. */
#define MAX_INLINE_VALUE 80

struct diff_cli {
	const char *repo;
	const char *cluster;
	const char *system;
	const char *kubeconfig;
	const char *context;
	const char *inventory_namespace;
	int json;
	int color;
	cJSON *json_objects;
	size_t in_sync, drifted, missing, not_in_repo, errors;
};

static const char *option_value(int argc, char **argv, int *i, const char *name, int *bad)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "keelson diff: %s needs a value\n", name);
		*bad = 1;
		return NULL;
	}
	return argv[++*i];
}

static void print_value(FILE *out, const cJSON *v, int secret)
{
	if (secret && v != NULL) {
		fputs(KEELSON_DIFF_REDACTED, out);
		return;
	}
	char *text = v ? keelson_json_canonical(v) : NULL;
	if (text == NULL) {
		fputs(v ? "?" : "(absent)", out);
		return;
	}
	if (strlen(text) > MAX_INLINE_VALUE)
		fprintf(out, "%.*s...", MAX_INLINE_VALUE, text);
	else
		fputs(text, out);
	free(text);
}

static void print_object_text(struct diff_cli *cli, const struct keelson_diff_object *d,
			      const struct keelson_cluster *cluster, const struct keelson_system *system)
{
	const char *ns = d->namespace_, *slash = d->namespace_[0] ? "/" : "";
	if (d->state == KEELSON_DIFF_MISSING) {
		printf("# %s %s%s%s (cluster %s, system %s, %s:%u): not in the cluster\n", d->kind, ns,
		       slash, d->name, cluster->name, system->name, d->file ? d->file : "?", d->line);
	} else if (d->state == KEELSON_DIFF_NOT_IN_REPO) {
		printf("# %s %s%s%s (cluster %s, system %s): not in the repository; keelson applied it "
		       "(%s)\n",
		       d->kind, ns, slash, d->name, cluster->name, system->name,
		       system->policy.prune ? "prune is on: it will be deleted"
					    : "prune is off for this system: it stays");
	} else {
		printf("# %s %s%s%s (cluster %s, system %s): %zu field%s differ%s", d->kind, ns, slash,
		       d->name, cluster->name, system->name, d->field_count, d->field_count == 1 ? "" : "s",
		       d->field_count == 1 ? "s" : "");
		if (d->ignored_count)
			printf(" (%zu more ignored by ignoreDifferences)", d->ignored_count);
		printf("\n");
		for (size_t i = 0; i < d->field_count; i++) {
			const struct keelson_diff_field *f = &d->fields[i];
			int secret = keelson_diff_is_secret_value(d->group, d->kind, f->pointer);
			printf("#   %s:%u:%u: %s: ", f->file ? f->file : "?", f->line, f->column, f->pointer);
			switch (f->change) {
			case KEELSON_DIFF_CHANGED:
				printf("repository ");
				print_value(stdout, f->desired, secret);
				printf(", live ");
				print_value(stdout, f->live, secret);
				break;
			case KEELSON_DIFF_NOT_LIVE:
				printf("repository ");
				print_value(stdout, f->desired, secret);
				printf(", not set live");
				break;
			case KEELSON_DIFF_REMOVED:
				printf("removed from the repository, still set live: ");
				print_value(stdout, f->live, secret);
				break;
			}
			printf("\n");
		}
	}
	if (keelson_diff_render_unified(stdout, d, cli->color != 0) < 0) {
		fprintf(stderr, "keelson diff: %s\n", keelson_error_last()->message);
		cli->errors++;
	}
}

static void output_report(struct diff_cli *cli, const struct keelson_cluster *cluster,
			  const struct keelson_system *system, const struct keelson_diff_report *report)
{
	cli->in_sync += report->in_sync;
	cli->drifted += report->drifted;
	cli->not_in_repo += report->not_in_repo;
	cli->missing += report->missing;
	for (size_t i = 0; i < report->count; i++) {
		const struct keelson_diff_object *d = report->objects[i];
		if (cli->json) {
			cJSON *j = keelson_diff_object_to_json(d);
			if (j == NULL) {
				cli->errors++;
				continue;
			}
			cJSON_AddStringToObject(j, "cluster", cluster->name);
			cJSON_AddStringToObject(j, "system", system->name);
			cJSON_AddItemToArray(cli->json_objects, j);
		} else if (d->state != KEELSON_DIFF_IN_SYNC) {
			print_object_text(cli, d, cluster, system);
		}
	}
}

/* Whether another system of the cluster has this identity (it moved). */
static bool desired_in_cluster(const struct keelson_cluster *cluster, const struct keelson_inventory_entry *e)
{
	char group[256];
	keelson_api_group(group, sizeof(group), e->api_version);
	for (size_t i = 0; i < cluster->system_count; i++) {
		const struct keelson_system *s = &cluster->systems[i];
		for (size_t j = 0; j < s->object_count; j++) {
			const struct keelson_object *o = &s->objects[j];
			if (strcmp(o->kind, e->kind) == 0 && strcmp(o->name, e->name) == 0 &&
			    strcmp(o->namespace_, e->namespace_) == 0 && strcmp(o->group ? o->group : "", group) == 0)
				return true;
		}
	}
	return false;
}

/* Objects of the system's inventory (what keelson applied) that the
 * repository no longer has, still live with the uid keelson recorded. */
static int add_not_in_repo(struct keelson_diff_report *report, struct keelson_kube_client *client,
			   const char *inventory_namespace, const struct keelson_cluster *cluster,
			   const struct keelson_system *system)
{
	char name[512];
	cJSON *cm = NULL;
	struct keelson_inventory *inv = NULL;
	keelson_inventory_name(name, sizeof(name), cluster->name, system->name);
	int rc = keelson_kube_get(&cm, client, "v1", "ConfigMap", inventory_namespace, name);
	if (rc == KEELSON_ENOTFOUND) {
		keelson_error_clear();
		return 0; /* keelson never applied this system */
	}
	if (rc < 0)
		return keelson_error_wrap(rc, "reading the inventory %s/%s", inventory_namespace, name);
	rc = keelson_inventory_from_configmap(&inv, cm);
	cJSON_Delete(cm);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < inv->count && rc == 0; i++) {
		const struct keelson_inventory_entry *e = &inv->items[i];
		cJSON *live = NULL;
		struct keelson_diff_object *d = NULL;
		if (desired_in_cluster(cluster, e))
			continue;
		rc = keelson_kube_get(&live, client, e->api_version, e->kind, e->namespace_[0] ? e->namespace_ : NULL,
				      e->name);
		if (rc == KEELSON_ENOTFOUND) {
			keelson_error_clear();
			rc = 0;
			continue;
		}
		if (rc < 0) {
			rc = keelson_error_wrap(rc, "%s %s (in the inventory %s)", e->kind, e->name, name);
			break;
		}
		const cJSON *uid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(live, "metadata"), "uid");
		/* Another object by the same name is not the one keelson applied. */
		if (e->uid[0] == '\0' || (cJSON_IsString(uid) && strcmp(uid->valuestring, e->uid) == 0)) {
			rc = keelson_diff_not_in_repo(&d, live);
			if (rc == 0)
				rc = keelson_diff_report_add(report, d);
		}
		cJSON_Delete(live);
	}
	keelson_inventory_free(inv);
	return rc;
}

static int diff_cluster(struct diff_cli *cli, const struct keelson_cluster *cluster)
{
	struct keelson_kube_config *cfg = NULL;
	struct keelson_kube_client *client = NULL;
	struct keelson_kube_config_options copts;
	int rc;

	keelson_kube_config_options_init(&copts);
	copts.context = cli->context ? cli->context : cluster->kube_context;
	if (cli->kubeconfig != NULL)
		rc = keelson_kube_config_load_file(&cfg, cli->kubeconfig, &copts);
	else
		rc = keelson_kube_config_load_default(&cfg, &copts);
	if (rc == 0)
		rc = keelson_kube_client_new(&client, cfg, NULL);
	if (rc < 0) {
		fprintf(stderr, "keelson diff: cluster %s (%s): %s\n", cluster->name, cluster->file,
			keelson_error_last()->message);
		keelson_kube_config_free(cfg);
		cli->errors++;
		return rc;
	}
	for (size_t i = 0; i < cluster->system_count; i++) {
		const struct keelson_system *system = &cluster->systems[i];
		if (cli->system != NULL && strcmp(system->name, cli->system) != 0)
			continue;
		struct keelson_diff_options opts;
		struct keelson_diff_report *report = NULL;
		keelson_diff_options_init(&opts);
		/* Validated and parsed by the layout loader with the rest of the revision. */
		opts.ignore = system->ignore_rules;
		if (keelson_diff_system(&report, system, keelson_diff_live_from_client, client, &opts) < 0 ||
		    add_not_in_repo(report, client, cli->inventory_namespace, cluster, system) < 0) {
			fprintf(stderr, "keelson diff: cluster %s, system %s: %s\n", cluster->name, system->name,
				keelson_error_last()->message);
			cli->errors++;
		} else {
			output_report(cli, cluster, system, report);
		}
		keelson_diff_report_free(report);
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
		fprintf(stderr, "keelson diff: %s\n", keelson_error_last()->message);
		return rc;
	}
	rc = keelson_layout_load(out, &problems, source, NULL);
	if (rc == KEELSON_EINVALID) {
		for (size_t i = 0; i < problems->count; i++) {
			const struct keelson_problem *p = &problems->items[i];
			fprintf(stderr, "%s:%u:%u: %s [%s]\n", p->file, p->line, p->column, p->message,
				keelson_problem_code_name(p->code));
		}
		fprintf(stderr, "keelson diff: %s is not a valid revision (%zu problem%s); see keelson validate\n",
			repo, problems->count, problems->count == 1 ? "" : "s");
	} else if (rc < 0) {
		fprintf(stderr, "keelson diff: %s\n", keelson_error_last()->message);
	}
	keelson_problem_list_free(problems);
	source->free(source);
	return rc;
}

int keelson_cmd_diff(int argc, char **argv)
{
	struct diff_cli cli = {.repo = ".", .inventory_namespace = "keelson-system"};
	const char *output = "text";
	int no_color = getenv("NO_COLOR") != NULL && getenv("NO_COLOR")[0] != '\0';
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = option_value(argc, argv, &i, "--repo", &bad)) != NULL)
			cli.repo = v;
		else if ((v = option_value(argc, argv, &i, "--cluster", &bad)) != NULL)
			cli.cluster = v;
		else if ((v = option_value(argc, argv, &i, "--system", &bad)) != NULL)
			cli.system = v;
		else if ((v = option_value(argc, argv, &i, "--kubeconfig", &bad)) != NULL)
			cli.kubeconfig = v;
		else if ((v = option_value(argc, argv, &i, "--context", &bad)) != NULL)
			cli.context = v;
		else if ((v = option_value(argc, argv, &i, "--inventory-namespace", &bad)) != NULL)
			cli.inventory_namespace = v;
		else if ((v = option_value(argc, argv, &i, "--output", &bad)) != NULL)
			output = v;
		else if (strcmp(argv[i], "--no-color") == 0)
			no_color = 1;
		else if (!bad) {
			fprintf(stderr, "keelson diff: unknown argument \"%s\"\n\n%s", argv[i], keelson_cmd_diff_usage);
			return EXIT_DIFF_ERROR;
		}
		if (bad)
			return EXIT_DIFF_ERROR;
	}
	if (strcmp(output, "text") == 0) {
		cli.json = 0;
	} else if (strcmp(output, "json") == 0) {
		cli.json = 1;
	} else {
		fprintf(stderr, "keelson diff: --output must be text or json, not \"%s\"\n", output);
		return EXIT_DIFF_ERROR;
	}
	cli.color = !no_color && !cli.json && isatty(STDOUT_FILENO);

	struct keelson_desired_state *state = NULL;
	if (load_state(&state, cli.repo) < 0)
		return EXIT_DIFF_ERROR;

	int exit_code = EXIT_DIFF_ERROR;
	size_t clusters = 0, systems = 0;
	for (size_t i = 0; i < state->cluster_count; i++) {
		const struct keelson_cluster *c = &state->clusters[i];
		if (cli.cluster != NULL && strcmp(c->name, cli.cluster) != 0)
			continue;
		clusters++;
		if (cli.system != NULL && keelson_cluster_system(c, cli.system) != NULL)
			systems++;
	}
	if (cli.cluster != NULL && clusters == 0) {
		fprintf(stderr, "keelson diff: no cluster \"%s\" in %s (clusters are the directories under clusters/)\n",
			cli.cluster, cli.repo);
		goto out;
	}
	if (cli.system != NULL && systems == 0) {
		fprintf(stderr, "keelson diff: no system \"%s\" in the selected cluster%s\n", cli.system,
			clusters == 1 ? "" : "s");
		goto out;
	}
	if (cli.context != NULL && clusters > 1) {
		fprintf(stderr, "keelson diff: --context applies to one cluster; add --cluster (the repository has %zu)\n",
			clusters);
		goto out;
	}
	if (cli.json && (cli.json_objects = cJSON_CreateArray()) == NULL) {
		fprintf(stderr, "keelson diff: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < state->cluster_count; i++) {
		const struct keelson_cluster *c = &state->clusters[i];
		if (cli.cluster != NULL && strcmp(c->name, cli.cluster) != 0)
			continue;
		if (cli.system != NULL && keelson_cluster_system(c, cli.system) == NULL)
			continue;
		diff_cluster(&cli, c);
	}
	if (cli.json) {
		cJSON *doc = cJSON_CreateObject();
		if (doc != NULL) {
			cJSON_AddBoolToObject(doc, "inSync",
					      cli.drifted == 0 && cli.missing == 0 && cli.not_in_repo == 0 && cli.errors == 0);
			cJSON *counts = cJSON_AddObjectToObject(doc, "counts");
			cJSON_AddNumberToObject(counts, "inSync", (double)cli.in_sync);
			cJSON_AddNumberToObject(counts, "drifted", (double)cli.drifted);
			cJSON_AddNumberToObject(counts, "missing", (double)cli.missing);
			cJSON_AddNumberToObject(counts, "notInRepository", (double)cli.not_in_repo);
			cJSON_AddNumberToObject(counts, "errors", (double)cli.errors);
			cJSON_AddItemToObject(doc, "objects", cli.json_objects);
			cli.json_objects = NULL;
			char *text = cJSON_Print(doc);
			if (text != NULL)
				printf("%s\n", text);
			else
				cli.errors++;
			free(text);
			cJSON_Delete(doc);
		} else {
			cli.errors++;
		}
	} else {
		fprintf(stderr, "keelson diff: %zu in sync, %zu drifted, %zu missing, %zu not in the repository%s\n",
			cli.in_sync, cli.drifted, cli.missing, cli.not_in_repo,
			cli.errors ? ", with errors (see above)" : "");
	}
	if (cli.errors)
		exit_code = EXIT_DIFF_ERROR;
	else
		exit_code = cli.drifted || cli.missing || cli.not_in_repo ? 1 : 0;
out:
	cJSON_Delete(cli.json_objects);
	keelson_desired_state_free(state);
	return exit_code;
}
