/*
 * `keelson validate [--output text|json] [PATH | URL[@REV]]`: load a
 * revision of a desired-state repository exactly as the daemon would and
 * print every problem, or a summary of what it describes.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "git/git_source.h"
#include "layout/dir_source.h"
#include "layout/layout.h"
#include "layout/schema_table.h"
#include "plugin/plugin_host.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char keelson_cmd_validate_usage[] =
	"Usage: keelson validate [--output text|json] [--cache-dir DIR] [--plugin-dir DIR]\n"
	"                        [PATH | URL[@REV]]\n"
	"\n"
	"Load one revision of a desired-state repository the way the daemon does\n"
	"(layout, keelson's own documents, every manifest; see repo-layout/README.md)\n"
	"and report every problem at once, or a summary of its clusters, systems,\n"
	"plugins, effective policies and object counts.\n"
	"\n"
	"  PATH        a checkout of the repository (default: the current directory)\n"
	"  URL[@REV]   a Git repository: file://, git://, http(s)://, ssh:// or\n"
	"              user@host:path; REV is a branch, a tag or a 40-hex commit\n"
	"              (default: main). Fetched into a bare cache, no checkout.\n"
	"              HTTP(S) credentials come from the environment variables\n"
	"              KEELSON_GIT_USERNAME and KEELSON_GIT_TOKEN, never from the URL.\n"
	"  --output    text (default) or json\n"
	"  --cache-dir bare cache for URL sources (default:\n"
	"              $XDG_CACHE_HOME/keelson/validate/<host-and-path>-<hash>)\n"
	"  --plugin-dir DIR\n"
	"              the plugins (*.so) whose parameter tables check spec.parameters\n"
	"              of every System, as the daemon does (default: $KEELSON_PLUGIN_DIR,\n"
	"              else the installed plugin directory). A directory given here or\n"
	"              in $KEELSON_PLUGIN_DIR must load. When the installed directory\n"
	"              does not exist, keelson falls back to its built-in provisional\n"
	"              tables (generic, kafka, cassandra, spark) and says so on the\n"
	"              error output: install the plugins to check against the real ones.\n"
	"\n"
	"Problems are printed as FILE:LINE:COLUMN: MESSAGE [CODE], FILE relative to\n"
	"the repository root (as in a pull request). Exit status: 0 when the revision\n"
	"is valid, 1 when it is not (nothing in it would be applied) or could not be\n"
	"read, 2 on bad usage or a plugin directory that cannot be loaded.\n";

enum output_format { OUTPUT_TEXT, OUTPUT_JSON };

static void format_duration(char *buf, size_t size, unsigned long long seconds)
{
	unsigned long long h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
	int n = 0;
	buf[0] = '\0';
	if (h)
		n += snprintf(buf + n, size - (size_t)n, "%lluh", h);
	if (m && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, "%llum", m);
	if ((s || seconds == 0) && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "%llus", s);
}

static void print_problems_text(const struct keelson_problem_list *problems, const char *source)
{
	for (size_t i = 0; i < problems->count; i++) {
		const struct keelson_problem *p = &problems->items[i];
		const char *code = keelson_problem_code_name(p->code);
		if (p->file[0] == '\0')
			printf("%s: %s [%s]\n", source, p->message, code);
		else if (p->line == 0)
			printf("%s: %s [%s]\n", p->file, p->message, code);
		else
			printf("%s:%u:%u: %s [%s]\n", p->file, p->line, p->column, p->message, code);
	}
	printf("%zu problem%s in %s; the revision is rejected: nothing in it would be applied\n",
	       problems->count, problems->count == 1 ? "" : "s", source);
}

static void print_policy_text(const struct keelson_policy *p)
{
	char poll[32], drift[32], repeat[32];
	format_duration(poll, sizeof(poll), p->poll_interval_s);
	format_duration(drift, sizeof(drift), p->drift_check_interval_s);
	format_duration(repeat, sizeof(repeat), p->alert_repeat_interval_s);
	printf("prune=%s drift=%s poll=%s drift-check=%s alert-repeat=%s",
	       p->prune ? "true" : "false", keelson_drift_policy_name(p->drift_policy), poll, drift, repeat);
}

/* Which parameter tables checked the systems: loaded plugins, or the
 * built-in provisional table when no plugin directory exists. */
struct plugin_tables {
	const char *dir;          /* NULL: the provisional tables */
	const struct keelson_plugin_registry *registry;
};

static void print_plugins_text(const struct plugin_tables *tables)
{
	if (tables->dir == NULL) {
		printf("plugins: keelson's provisional tables (no plugin directory):");
		size_t count = 0;
		const struct keelson_plugin_info *infos = keelson_layout_plugins(&count);
		for (size_t i = 0; i < count; i++)
			printf(" %s", infos[i].name);
	} else {
		printf("plugins: %s:", tables->dir);
		for (size_t i = 0; i < keelson_plugin_registry_count(tables->registry); i++)
			printf(" %s", keelson_plugin_registry_at(tables->registry, i, NULL)->name);
	}
	printf("\n");
}

static void print_summary_text(const struct keelson_desired_state *state, const struct plugin_tables *tables)
{
	printf("%s: valid: repository %s, status branch %s\n", state->source,
	       state->repository_name, state->status_branch);
	print_plugins_text(tables);
	printf("defaults: ");
	print_policy_text(&state->defaults);
	printf("\n");
	for (size_t i = 0; i < state->cluster_count; i++) {
		const struct keelson_cluster *c = &state->clusters[i];
		printf("\ncluster %s (kube context %s): %zu system%s, %zu object%s\n", c->name, c->kube_context,
		       c->system_count, c->system_count == 1 ? "" : "s", c->object_count,
		       c->object_count == 1 ? "" : "s");
		for (size_t j = 0; j < c->system_count; j++) {
			const struct keelson_system *s = &c->systems[j];
			printf("  %-24s plugin %-10s %5zu object%s  ", s->name, s->plugin, s->object_count,
			       s->object_count == 1 ? " " : "s");
			print_policy_text(&s->policy);
			printf("\n");
		}
	}
	printf("\n%zu cluster%s, %zu system%s, %zu object%s in %zu YAML file%s\n",
	       state->cluster_count, state->cluster_count == 1 ? "" : "s",
	       state->system_count, state->system_count == 1 ? "" : "s",
	       state->object_count, state->object_count == 1 ? "" : "s",
	       state->file_count, state->file_count == 1 ? "" : "s");
}

static cJSON *policy_json(const struct keelson_policy *p)
{
	char buf[32];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "prune", p->prune);
	cJSON_AddStringToObject(o, "driftPolicy", keelson_drift_policy_name(p->drift_policy));
	format_duration(buf, sizeof(buf), p->poll_interval_s);
	cJSON_AddStringToObject(o, "pollInterval", buf);
	format_duration(buf, sizeof(buf), p->drift_check_interval_s);
	cJSON_AddStringToObject(o, "driftCheckInterval", buf);
	format_duration(buf, sizeof(buf), p->alert_repeat_interval_s);
	cJSON_AddStringToObject(o, "alertRepeatInterval", buf);
	return o;
}

/* One JSON document on stdout whatever happened, so a machine reading it
 * never has to parse text. */
static int print_json(const char *source, const struct keelson_desired_state *state,
		      const struct keelson_problem_list *problems, const char *error,
		      const struct plugin_tables *tables)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "source", source);
	cJSON *plugins = cJSON_AddObjectToObject(root, "plugins");
	cJSON_AddStringToObject(plugins, "tables", tables->dir != NULL ? "loaded" : "provisional");
	if (tables->dir != NULL)
		cJSON_AddStringToObject(plugins, "dir", tables->dir);
	else
		cJSON_AddNullToObject(plugins, "dir");
	cJSON *names = cJSON_AddArrayToObject(plugins, "names");
	if (tables->dir != NULL) {
		for (size_t i = 0; i < keelson_plugin_registry_count(tables->registry); i++)
			cJSON_AddItemToArray(names, cJSON_CreateString(
				keelson_plugin_registry_at(tables->registry, i, NULL)->name));
	} else {
		size_t count = 0;
		const struct keelson_plugin_info *infos = keelson_layout_plugins(&count);
		for (size_t i = 0; i < count; i++)
			cJSON_AddItemToArray(names, cJSON_CreateString(infos[i].name));
	}
	cJSON_AddBoolToObject(root, "valid", state != NULL);
	if (error != NULL)
		cJSON_AddStringToObject(root, "error", error);
	cJSON *list = cJSON_AddArrayToObject(root, "problems");
	for (size_t i = 0; problems != NULL && i < problems->count; i++) {
		const struct keelson_problem *p = &problems->items[i];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "file", p->file);
		cJSON_AddNumberToObject(item, "line", p->line);
		cJSON_AddNumberToObject(item, "column", p->column);
		cJSON_AddStringToObject(item, "code", keelson_problem_code_name(p->code));
		cJSON_AddStringToObject(item, "message", p->message);
		cJSON_AddItemToArray(list, item);
	}
	if (state != NULL) {
		cJSON_AddStringToObject(root, "repository", state->repository_name);
		cJSON_AddStringToObject(root, "statusBranch", state->status_branch);
		cJSON_AddItemToObject(root, "defaults", policy_json(&state->defaults));
		cJSON *clusters = cJSON_AddArrayToObject(root, "clusters");
		for (size_t i = 0; i < state->cluster_count; i++) {
			const struct keelson_cluster *c = &state->clusters[i];
			cJSON *cj = cJSON_CreateObject();
			cJSON_AddStringToObject(cj, "name", c->name);
			cJSON_AddStringToObject(cj, "kubeContext", c->kube_context);
			cJSON_AddNumberToObject(cj, "objects", (double)c->object_count);
			cJSON *systems = cJSON_AddArrayToObject(cj, "systems");
			for (size_t j = 0; j < c->system_count; j++) {
				const struct keelson_system *s = &c->systems[j];
				cJSON *sj = cJSON_CreateObject();
				cJSON_AddStringToObject(sj, "name", s->name);
				cJSON_AddStringToObject(sj, "plugin", s->plugin);
				cJSON_AddStringToObject(sj, "file", s->file);
				cJSON_AddNumberToObject(sj, "objects", (double)s->object_count);
				cJSON_AddItemToObject(sj, "policy", policy_json(&s->policy));
				cJSON_AddItemToArray(systems, sj);
			}
			cJSON_AddItemToArray(clusters, cj);
		}
		cJSON *counts = cJSON_AddObjectToObject(root, "counts");
		cJSON_AddNumberToObject(counts, "clusters", (double)state->cluster_count);
		cJSON_AddNumberToObject(counts, "systems", (double)state->system_count);
		cJSON_AddNumberToObject(counts, "objects", (double)state->object_count);
		cJSON_AddNumberToObject(counts, "files", (double)state->file_count);
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	if (text == NULL) {
		fprintf(stderr, "keelson validate: out of memory printing JSON\n");
		return -1;
	}
	puts(text);
	free(text);
	return 0;
}

static int looks_like_url(const char *s)
{
	if (strstr(s, "://") != NULL)
		return 1;
	/* scp-like user@host:path: an '@' before the first ':' and no '/' before it. */
	const char *at = strchr(s, '@'), *colon = strchr(s, ':'), *slash = strchr(s, '/');
	return at && colon && at < colon && (!slash || slash > colon);
}

static int is_commit_id(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 40 && s[40] == '\0';
}

/* Split "URL@REV": REV is what follows the last '@' that comes after the
 * URL's host part (so user@host: is not mistaken for a revision). */
static void split_url(const char *arg, char **url, char **rev)
{
	const char *host_end = arg;
	const char *scheme = strstr(arg, "://");
	if (scheme != NULL) {
		host_end = strchr(scheme + 3, '/');
		if (host_end == NULL)
			host_end = arg + strlen(arg);
	} else if (looks_like_url(arg)) {
		host_end = strchr(arg, ':');
	}
	const char *at = strrchr(arg, '@');
	if (at != NULL && at > host_end && at[1] != '\0') {
		*url = strndup(arg, (size_t)(at - arg));
		*rev = strdup(at + 1);
	} else {
		*url = strdup(arg);
		*rev = strdup("main");
	}
}

/* The Git source's own naming under a per-user root, so a URL maps to the
 * same readable, credential-free directory name here as in the daemon. */
static int default_cache_dir(char **out, const char *url)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *root = NULL;
	int rc;
	*out = NULL;
	if (xdg != NULL && xdg[0] == '/')
		rc = asprintf(&root, "%s/keelson/validate", xdg);
	else if (home != NULL && home[0] == '/')
		rc = asprintf(&root, "%s/.cache/keelson/validate", home);
	else
		rc = asprintf(&root, "/tmp/keelson-validate-%lu", (unsigned long)getuid());
	if (rc < 0)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	rc = keelson_git_cache_dir_for_url(out, root, url);
	free(root);
	return rc;
}

static int mkdir_parents(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL)
		return -1;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}

/* Fetch REV of URL into the cache and return the files of that commit. */
static int open_git_source(struct keelson_file_source **out, struct keelson_git_source **git_out,
			   const char *arg, const char *cache_dir_option)
{
	char *url = NULL, *rev = NULL, *cache_dir = NULL;
	struct keelson_git_source *git = NULL;
	int rc;

	split_url(arg, &url, &rev);
	if (url == NULL || rev == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (cache_dir_option != NULL) {
		if ((cache_dir = strdup(cache_dir_option)) == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
	} else if ((rc = default_cache_dir(&cache_dir, url)) < 0) {
		goto cleanup;
	}
	if (mkdir_parents(cache_dir) != 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot create the parent directories of cache %s: %s",
				       cache_dir, strerror(errno));
		goto cleanup;
	}
	struct keelson_git_source_options opts = {
		.version = KEELSON_GIT_SOURCE_OPTIONS_VERSION,
		.url = url,
		.cache_dir = cache_dir,
		.track = is_commit_id(rev) ? KEELSON_GIT_TRACK_COMMIT : KEELSON_GIT_TRACK_BRANCH,
		.ref = rev,
		.token_env = "KEELSON_GIT_TOKEN",
		.username_env = "KEELSON_GIT_USERNAME",
	};
	struct keelson_git_revision revision;
	bool changed;
	rc = keelson_git_source_open(&git, &opts);
	if (rc == 0)
		rc = keelson_git_source_poll(&revision, &changed, git);
	if (rc == KEELSON_ENOTFOUND && opts.track == KEELSON_GIT_TRACK_BRANCH) {
		/* Not a branch: maybe a tag of the same name. */
		keelson_git_source_free(git);
		git = NULL;
		opts.track = KEELSON_GIT_TRACK_TAG;
		rc = keelson_git_source_open(&git, &opts);
		if (rc == 0)
			rc = keelson_git_source_poll(&revision, &changed, git);
	}
	if (rc == 0)
		rc = keelson_git_source_files(out, git, revision.sha);
	if (rc == 0) {
		*git_out = git;
		git = NULL;
	}
cleanup:
	keelson_git_source_free(git);
	free(url);
	free(rev);
	free(cache_dir);
	return rc;
}

/* The parameter tables System documents are checked against: the plugins
 * of `dir` (or $KEELSON_PLUGIN_DIR), which must load when named; else the
 * installed directory, and without one the built-in provisional tables,
 * with a warning, so that validating a repository on a laptop without
 * plugins still checks everything else. */
static int load_plugin_tables(struct keelson_plugin_registry **out, struct plugin_tables *tables, const char *dir)
{
	const char *env = getenv("KEELSON_PLUGIN_DIR");
	bool named = dir != NULL || (env != NULL && env[0] != '\0');
	const char *path = dir != NULL ? dir : keelson_plugin_default_dir();
	int rc = keelson_plugin_registry_new(out);
	if (rc == 0)
		rc = keelson_plugin_registry_load_dir(*out, path);
	if (rc == KEELSON_ENOTFOUND && !named) {
		fprintf(stderr, "keelson validate: warning: no plugin directory %s; the parameters of kafka, cassandra "
			"and spark systems are checked against keelson's provisional tables, and other plugins are "
			"unknown: install the plugins, or give --plugin-dir DIR or KEELSON_PLUGIN_DIR\n", path);
		keelson_plugin_registry_free(*out);
		*out = NULL;
		return 0;
	}
	if (rc == 0)
		rc = keelson_plugin_registry_install_layout(*out);
	if (rc < 0) {
		fprintf(stderr, "keelson validate: %s\n", keelson_error_last()->message);
		keelson_plugin_registry_free(*out);
		*out = NULL;
		return rc;
	}
	tables->dir = path;
	tables->registry = *out;
	return 0;
}

int keelson_cmd_validate(int argc, char **argv)
{
	enum output_format output = OUTPUT_TEXT;
	const char *target = NULL;
	const char *cache_dir = NULL;
	const char *plugin_dir = NULL;

	for (int i = 1; i < argc; i++) {
		const char *value = NULL;
		if (strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) {
			value = i + 1 < argc ? argv[++i] : NULL;
		} else if (strncmp(argv[i], "--output=", 9) == 0) {
			value = argv[i] + 9;
		} else if (strcmp(argv[i], "--cache-dir") == 0 && i + 1 < argc) {
			cache_dir = argv[++i];
			continue;
		} else if (strncmp(argv[i], "--cache-dir=", 12) == 0) {
			cache_dir = argv[i] + 12;
			continue;
		} else if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc) {
			plugin_dir = argv[++i];
			continue;
		} else if (strncmp(argv[i], "--plugin-dir=", 13) == 0) {
			plugin_dir = argv[i] + 13;
			continue;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "keelson validate: unknown option \"%s\"\n\n%s", argv[i],
				keelson_cmd_validate_usage);
			return KEELSON_EXIT_USAGE;
		} else if (target == NULL) {
			target = argv[i];
			continue;
		} else {
			fprintf(stderr, "keelson validate: more than one repository given\n\n%s",
				keelson_cmd_validate_usage);
			return KEELSON_EXIT_USAGE;
		}
		if (value != NULL && strcmp(value, "text") == 0) {
			output = OUTPUT_TEXT;
		} else if (value != NULL && strcmp(value, "json") == 0) {
			output = OUTPUT_JSON;
		} else {
			fprintf(stderr, "keelson validate: --output takes text or json\n");
			return KEELSON_EXIT_USAGE;
		}
	}
	if (target == NULL)
		target = ".";

	struct keelson_plugin_registry *registry = NULL;
	struct plugin_tables tables = {0};
	if (load_plugin_tables(&registry, &tables, plugin_dir) < 0)
		return KEELSON_EXIT_USAGE;

	struct keelson_file_source *source = NULL;
	struct keelson_git_source *git = NULL;
	struct stat st;
	int rc;
	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
		rc = keelson_dir_source_open(&source, target);
	else if (looks_like_url(target) || strchr(target, '@') != NULL)
		rc = open_git_source(&source, &git, target, cache_dir);
	else if (stat(target, &st) == 0)
		rc = keelson_error_set(KEELSON_EINVALID,
			"%s is a file; give the root directory of a checkout of the configuration repository", target);
	else
		rc = keelson_error_set(KEELSON_ENOTFOUND, "%s: no such directory, and not a Git URL", target);

	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	const char *description = source && source->description ? source->description : target;
	if (rc == 0)
		rc = keelson_layout_load(&state, &problems, source, NULL);

	int exit_code = rc == 0 ? KEELSON_EXIT_OK : KEELSON_EXIT_FAILURE;
	if (output == OUTPUT_JSON) {
		const char *error = rc < 0 && rc != KEELSON_EINVALID ? keelson_error_last()->message : NULL;
		if (rc == KEELSON_EINVALID && (problems == NULL || problems->count == 0))
			error = keelson_error_last()->message;
		if (print_json(description, state, problems, error, &tables) < 0)
			exit_code = KEELSON_EXIT_FAILURE;
	} else if (rc == 0) {
		print_summary_text(state, &tables);
	} else if (rc == KEELSON_EINVALID && problems != NULL && problems->count > 0) {
		print_problems_text(problems, description);
	} else {
		fprintf(stderr, "keelson validate: %s\n", keelson_error_last()->message);
	}

	keelson_desired_state_free(state);
	keelson_problem_list_free(problems);
	if (source != NULL)
		source->free(source);
	keelson_git_source_free(git);
	keelson_plugin_registry_free(registry);
	return exit_code;
}
