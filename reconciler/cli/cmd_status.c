/*
 * `keelson status --repo PATH|URL [--branch B] [--output table|json]`: what
 * keelson last committed to the status branch, one row per cluster and
 * system.
 */
#include "config.h"

#include "cli/command.h"
#include "config/config.h"
#include "core/error.h"
#include "status/status_writer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char keelson_cmd_status_usage[] =
	"Usage: keelson status --repo PATH|URL [--branch BRANCH] [--output table|json]\n"
	"       keelson status --config FILE [--output table|json]\n"
	"\n"
	"Read the status branch keelson commits to (see docs/status-branch.md) and\n"
	"print one row per cluster and system: phase, revision applied, current\n"
	"rollout step, drifted objects, when it was observed and the last error.\n"
	"\n"
	"  --repo    the configuration repository: a path, file://, git://,\n"
	"            http(s):// or ssh:// URL. HTTP(S) credentials come from the\n"
	"            environment variables KEELSON_GIT_USERNAME and KEELSON_GIT_TOKEN.\n"
	"  --config  keelson's configuration file (keelson.yaml(5)): the repository,\n"
	"            status.branch and the git section's credentials come from it\n"
	"  --branch  the status branch (default keelson/status)\n"
	"  --output  table (default) or json (the status files as an array)\n"
	"\n"
	"Exit status: 0 when the branch was read, 1 when it could not be (or does\n"
	"not exist yet), 2 on bad usage.\n";

static const char *str_or(const cJSON *o, const char *key, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : fallback;
}

/* One line of a cell: a table row must stay one line. */
static void cell(char *out, size_t size, const char *text, size_t width)
{
	size_t n = strcspn(text, "\r\n\t");
	if (width && n > width)
		n = width;
	snprintf(out, size, "%.*s", (int)n, text);
}

static void print_table(const cJSON *arr)
{
	printf("%-20s %-24s %-12s %-12s %-6s %-24s %-30s %s\n", "CLUSTER", "SYSTEM", "PHASE",
	       "REVISION", "DRIFT", "OBSERVED", "STEP", "LAST ERROR");
	const cJSON *doc;
	cJSON_ArrayForEach(doc, arr) {
		char step[64], err[256], rev[16];
		cell(step, sizeof(step), str_or(doc, "step", "-"), 30);
		cell(err, sizeof(err), str_or(doc, "lastError", "-"), 200);
		cell(rev, sizeof(rev), str_or(doc, "revision", "-"), 12);
		const cJSON *drift = cJSON_GetObjectItemCaseSensitive(doc, "drift");
		const cJSON *count = cJSON_GetObjectItemCaseSensitive(drift, "count");
		char dcount[24];
		snprintf(dcount, sizeof(dcount), "%.0f", cJSON_IsNumber(count) ? count->valuedouble : 0.0);
		char cluster[64], system[64], phase[24], observed[40];
		cell(cluster, sizeof(cluster), str_or(doc, "cluster", "?"), 63);
		cell(system, sizeof(system), str_or(doc, "system", "?"), 63);
		cell(phase, sizeof(phase), str_or(doc, "phase", "?"), 20);
		cell(observed, sizeof(observed), str_or(doc, "observedAt", "-"), 30);
		printf("%-20s %-24s %-12s %-12s %-6s %-24s %-30s %s\n", cluster, system, phase, rev,
		       dcount, observed, step, err);
	}
}

int keelson_cmd_status(int argc, char **argv)
{
	const char *repo = NULL, *branch = NULL, *output = "table", *config_path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **target = strcmp(a, "--repo") == 0     ? &repo
				      : strcmp(a, "--branch") == 0 ? &branch
				      : strcmp(a, "--output") == 0 ? &output
				      : strcmp(a, "--config") == 0 ? &config_path
								   : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(keelson_cmd_status_usage, stdout);
			return KEELSON_EXIT_OK;
		}
		if (!target) {
			fprintf(stderr, "keelson status: unknown argument \"%s\"\n\n%s", a,
				keelson_cmd_status_usage);
			return KEELSON_EXIT_USAGE;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "keelson status: %s needs a value\n", a);
			return KEELSON_EXIT_USAGE;
		}
		*target = argv[++i];
	}
	if (!repo == !config_path) {
		fprintf(stderr, "keelson status: give either --repo PATH|URL or --config FILE\n\n%s",
			keelson_cmd_status_usage);
		return KEELSON_EXIT_USAGE;
	}
	if (strcmp(output, "table") != 0 && strcmp(output, "json") != 0) {
		fprintf(stderr, "keelson status: --output must be table or json, not \"%s\"\n", output);
		return KEELSON_EXIT_USAGE;
	}
	struct keelson_status_writer_options opts = {
		.version = KEELSON_STATUS_WRITER_OPTIONS_VERSION,
		.url = repo,
		.branch = branch,
		.username_env = "KEELSON_GIT_USERNAME",
		.token_env = "KEELSON_GIT_TOKEN",
	};
	struct keelson_config *cfg = NULL;
	if (config_path != NULL) {
		if (keelson_config_load(&cfg, config_path) < 0) {
			fprintf(stderr, "keelson status: %s\n", keelson_error_last()->message);
			return KEELSON_EXIT_USAGE;
		}
		opts.url = cfg->git_url;
		opts.branch = branch ? branch : cfg->status_branch;
		opts.username_file = cfg->git_username_file;
		opts.username_env = cfg->git_username_env;
		opts.token_file = cfg->git_token_file;
		opts.token_env = cfg->git_token_env;
		opts.ssh_key_file = cfg->git_ssh_key_file;
		opts.ssh_username = cfg->git_ssh_username;
		opts.known_hosts_file = cfg->git_known_hosts_file;
	}
	cJSON *arr = NULL;
	int read_rc = keelson_status_read(&arr, &opts, NULL);
	keelson_config_free(cfg);
	if (read_rc < 0) {
		fprintf(stderr, "keelson status: %s\n", keelson_error_last()->message);
		if (read_rc == KEELSON_ENOTFOUND && config_path != NULL && branch == NULL && opts.branch == NULL)
			fprintf(stderr, "keelson status: the configuration names no status.branch; when the repository's "
					"spec.statusBranch is not keelson/status, pass --branch BRANCH\n");
		return KEELSON_EXIT_FAILURE;
	}
	if (strcmp(output, "json") == 0) {
		char *text = cJSON_Print(arr);
		if (!text) {
			cJSON_Delete(arr);
			fprintf(stderr, "keelson status: out of memory\n");
			return KEELSON_EXIT_FAILURE;
		}
		printf("%s\n", text);
		free(text);
	} else {
		print_table(arr);
	}
	cJSON_Delete(arr);
	return KEELSON_EXIT_OK;
}
