/*
 * `keelson validate PATH`: parse every YAML file of a desired-state
 * repository checkout and check that each document is a Kubernetes object.
 *
 * This is the foundation's validation: syntax, YAML 1.1 scalar resolution
 * as kubectl does it, input limits, and the identity fields every object
 * needs. The repository layout loader (keelson's own documents, plugins'
 * parameters, JSON Schemas) extends it.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "yaml/yaml_load.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char keelson_cmd_validate_usage[] =
	"Usage: keelson validate [PATH]\n"
	"\n"
	"Parse every .yaml and .yml file under PATH (a directory or one file;\n"
	"default: the current directory), the way kubectl reads them, and check\n"
	"that every document is a Kubernetes object with apiVersion, kind and\n"
	"metadata.name. Hidden directories such as .git are skipped.\n"
	"\n"
	"Each problem is printed as FILE:LINE:COLUMN: MESSAGE. Exit status: 0 when\n"
	"everything is valid, 1 when a problem was found, 2 on bad usage.\n";

struct file_list {
	char **paths;
	size_t count;
	size_t cap;
};

static int file_list_add(struct file_list *list, const char *path)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		char **paths = realloc(list->paths, cap * sizeof(*paths));
		if (paths == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory listing files");
		list->paths = paths;
		list->cap = cap;
	}
	list->paths[list->count] = strdup(path);
	if (list->paths[list->count] == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory listing files");
	list->count++;
	return 0;
}

static void file_list_free(struct file_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->paths[i]);
	free(list->paths);
}

static int has_yaml_extension(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Depth bound: a repository deeper than this is a mistake or a symlink loop. */
#define MAX_DIRECTORY_DEPTH 32

static int collect_yaml_files(struct file_list *list, const char *dir, int depth)
{
	if (depth > MAX_DIRECTORY_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT,
			"%s: directories nested deeper than %d levels; is there a symlink loop?",
			dir, MAX_DIRECTORY_DEPTH);
	DIR *d = opendir(dir);
	if (d == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: cannot open directory: %m", dir);

	int rc = 0;
	struct dirent *entry;
	while (rc == 0 && (entry = readdir(d)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		size_t len = strlen(dir) + strlen(entry->d_name) + 2;
		char *path = malloc(len);
		if (path == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory listing files");
			break;
		}
		snprintf(path, len, "%s/%s", dir, entry->d_name);
		struct stat st;
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				rc = collect_yaml_files(list, path, depth + 1);
			else if (S_ISREG(st.st_mode) && has_yaml_extension(entry->d_name))
				rc = file_list_add(list, path);
		}
		free(path);
	}
	closedir(d);
	return rc;
}

static int compare_paths(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void report(const struct keelson_yaml_stream *stream, const char *file,
		   const cJSON *node, const char *message)
{
	const struct keelson_source_pos *pos = node ? keelson_yaml_position(stream, node) : NULL;
	if (pos != NULL)
		fprintf(stderr, "%s:%u:%u: %s\n", pos->file, pos->line, pos->column, message);
	else
		fprintf(stderr, "%s: %s\n", file, message);
}

static int require_string(const struct keelson_yaml_stream *stream, const char *file,
			  const cJSON *object, const char *field, const char *where)
{
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(object, field);
	char message[256];

	if (cJSON_IsString(value) && value->valuestring[0] != '\0')
		return 0;
	if (value == NULL)
		snprintf(message, sizeof(message), "%s has no \"%s\"; every Kubernetes object needs one", where, field);
	else
		snprintf(message, sizeof(message), "%s \"%s\" must be a non-empty string", where, field);
	report(stream, file, value ? value : object, message);
	return 1;
}

/* Returns the number of problems found in one document. */
static int check_document(const struct keelson_yaml_stream *stream, const char *file, const cJSON *doc)
{
	int problems = 0;

	if (!cJSON_IsObject(doc)) {
		report(stream, file, doc, "document is not a mapping; a Kubernetes object starts with apiVersion: and kind:");
		return 1;
	}
	problems += require_string(stream, file, doc, "apiVersion", "object");
	problems += require_string(stream, file, doc, "kind", "object");
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	if (!cJSON_IsObject(metadata)) {
		report(stream, file, metadata ? metadata : doc,
		       "object has no \"metadata\" mapping; add metadata.name");
		return problems + 1;
	}
	problems += require_string(stream, file, metadata, "name", "metadata");
	return problems;
}

int keelson_cmd_validate(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : ".";
	struct file_list files = {0};
	size_t documents = 0;
	int problems = 0;
	int exit_code = KEELSON_EXIT_OK;

	if (argc > 2) {
		fputs(keelson_cmd_validate_usage, stderr);
		return KEELSON_EXIT_USAGE;
	}

	struct stat st;
	if (stat(root, &st) != 0) {
		fprintf(stderr, "keelson validate: %s: no such file or directory\n", root);
		return KEELSON_EXIT_FAILURE;
	}
	int rc = S_ISDIR(st.st_mode) ? collect_yaml_files(&files, root, 0) : file_list_add(&files, root);
	if (rc < 0) {
		fprintf(stderr, "keelson validate: %s\n", keelson_error_last()->message);
		file_list_free(&files);
		return KEELSON_EXIT_FAILURE;
	}
	qsort(files.paths, files.count, sizeof(*files.paths), compare_paths);

	for (size_t i = 0; i < files.count; i++) {
		struct keelson_yaml_stream *stream = NULL;
		if (keelson_yaml_load_file(&stream, files.paths[i], NULL) < 0) {
			fprintf(stderr, "%s\n", keelson_error_last()->message);
			problems++;
			continue;
		}
		size_t count = keelson_yaml_document_count(stream);
		for (size_t d = 0; d < count; d++)
			problems += check_document(stream, files.paths[i], keelson_yaml_document(stream, d));
		documents += count;
		keelson_yaml_stream_free(stream);
	}

	if (problems > 0) {
		printf("%d problem%s in %zu file%s; nothing would be applied from this revision\n",
		       problems, problems == 1 ? "" : "s", files.count, files.count == 1 ? "" : "s");
		exit_code = KEELSON_EXIT_FAILURE;
	} else {
		printf("valid: %zu document%s in %zu file%s\n",
		       documents, documents == 1 ? "" : "s", files.count, files.count == 1 ? "" : "s");
	}
	file_list_free(&files);
	return exit_code;
}
