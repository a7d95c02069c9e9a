/* Repository layout loader: the example repository, the corpus of broken
 * repositories (tests/layout/broken/CASE/expected-problems), and the
 * limits and path checks a directory cannot express portably. */
#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "layout/dir_source.h"
#include "layout/layout.h"
#include "yaml/yaml_load.h"

#include "tests/unit/check_main.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *srcdir_path(const char *relative)
{
	const char *top = getenv("top_srcdir");
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/%s", top && *top ? top : ".", relative), 0);
	return path;
}

static int load_dir(struct keelson_desired_state **state, struct keelson_problem_list **problems,
		    const char *dir, const struct keelson_layout_options *options)
{
	struct keelson_file_source *source = NULL;
	int rc = keelson_dir_source_open(&source, dir);
	ck_assert_msg(rc == 0, "opening %s: %s", dir, keelson_error_last()->message);
	rc = keelson_layout_load(state, problems, source, options);
	source->free(source);
	return rc;
}

static const struct keelson_object *find_object(const struct keelson_system *s, const char *kind,
						const char *name)
{
	for (size_t i = 0; i < s->object_count; i++)
		if (strcmp(s->objects[i].kind, kind) == 0 && strcmp(s->objects[i].name, name) == 0)
			return &s->objects[i];
	return NULL;
}

static double number_at(const cJSON *root, const char *const *path)
{
	const cJSON *node = root;
	for (; *path; path++)
		node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, atoi(*path))
					   : cJSON_GetObjectItemCaseSensitive(node, *path);
	ck_assert_msg(cJSON_IsNumber(node), "not a number");
	return node->valuedouble;
}

/* ---- the example repository ------------------------------------------- */

START_TEST(test_example_loads)
{
	char *dir = srcdir_path("repo-layout/example");
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	int rc = load_dir(&state, &problems, dir, NULL);
	if (rc != 0)
		for (size_t i = 0; i < problems->count; i++)
			fprintf(stderr, "%s:%u:%u: %s\n", problems->items[i].file, problems->items[i].line,
				problems->items[i].column, problems->items[i].message);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(problems->count, 0);

	ck_assert_str_eq(state->repository_name, "data-platform");
	ck_assert_str_eq(state->status_branch, "keelson/status");
	ck_assert_uint_eq(state->cluster_count, 2);
	ck_assert_uint_eq(state->system_count, 5);
	ck_assert_uint_eq(state->object_count, 33);
	/* docs/kafka-client.yaml is under ignorePaths: 30 YAML files, 29 read. */
	ck_assert_uint_eq(state->file_count, 29);
	ck_assert(state->defaults.prune);
	ck_assert_int_eq(state->defaults.drift_policy, KEELSON_DRIFT_ALERT);
	ck_assert_uint_eq(state->defaults.poll_interval_s, 60);
	ck_assert_uint_eq(state->defaults.drift_check_interval_s, 600);
	ck_assert_uint_eq(state->defaults.alert_repeat_interval_s, 3600);

	/* Clusters and systems sorted by name. */
	ck_assert_str_eq(state->clusters[0].name, "prod-chicago");
	ck_assert_str_eq(state->clusters[1].name, "staging");
	const struct keelson_cluster *prod = keelson_desired_state_cluster(state, "prod-chicago");
	ck_assert_ptr_eq(prod, &state->clusters[0]);
	ck_assert_str_eq(prod->kube_context, "prod-chicago");
	ck_assert_uint_eq(prod->system_count, 4);
	ck_assert_str_eq(prod->systems[0].name, "cassandra-chicago");
	ck_assert_str_eq(prod->systems[1].name, "kafka-events");
	ck_assert_str_eq(prod->systems[2].name, "platform");
	ck_assert_str_eq(prod->systems[3].name, "spark-etl");

	/* Policy: Cluster overrides driftPolicy, System overrides prune. */
	ck_assert_int_eq(prod->policy.drift_policy, KEELSON_DRIFT_HEAL);
	const struct keelson_system *platform = keelson_cluster_system(prod, "platform");
	ck_assert_ptr_nonnull(platform);
	ck_assert(!platform->policy.prune);
	ck_assert_int_eq(platform->policy.drift_policy, KEELSON_DRIFT_HEAL);
	ck_assert_str_eq(platform->plugin, "generic");
	const struct keelson_cluster *staging = keelson_desired_state_cluster(state, "staging");
	ck_assert_uint_eq(staging->systems[0].policy.poll_interval_s, 30);
	ck_assert_int_eq(staging->systems[0].policy.drift_policy, KEELSON_DRIFT_ALERT);
	ck_assert(staging->systems[0].policy.prune);

	/* Kafka: 3 brokers, OnDelete, with its file position. */
	const struct keelson_system *kafka = keelson_cluster_system(prod, "kafka-events");
	ck_assert_str_eq(kafka->plugin, "kafka");
	ck_assert_ptr_eq(kafka->cluster, prod);
	ck_assert_uint_eq(kafka->object_count, 11);
	ck_assert_str_eq(kafka->file, "clusters/prod-chicago/kafka-events/system.yaml");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(kafka->parameters, "metricsPort");
	ck_assert(cJSON_IsNumber(port));
	ck_assert_int_eq(port->valueint, 9404);
	const struct keelson_object *sts = find_object(kafka, "StatefulSet", "kafka");
	ck_assert_ptr_nonnull(sts);
	ck_assert_ptr_eq(sts->system, kafka);
	ck_assert_str_eq(sts->group, "apps");
	ck_assert_str_eq(sts->api_version, "apps/v1");
	ck_assert_str_eq(sts->namespace_, "kafka-events");
	ck_assert_str_eq(sts->file, "clusters/prod-chicago/kafka-events/statefulset.yaml");
	ck_assert_uint_eq(sts->line, 4);
	ck_assert_uint_eq(sts->column, 1);
	ck_assert_double_eq(number_at(sts->body, (const char *const[]){"spec", "replicas", NULL}), 3);
	/* Positions inside an object stay available through its stream. */
	const struct keelson_source_pos *pos = keelson_yaml_position(
		sts->stream, cJSON_GetObjectItemCaseSensitive(sts->body, "spec"));
	ck_assert_ptr_nonnull(pos);
	ck_assert_uint_eq(pos->line, 13); /* a block mapping starts at its first key */
	pos = keelson_yaml_key_position(sts->stream, cJSON_GetObjectItemCaseSensitive(sts->body, "spec"));
	ck_assert_ptr_nonnull(pos);
	ck_assert_uint_eq(pos->line, 12);
	ck_assert_uint_eq(pos->column, 1);

	/* Second document of a multi-document file. */
	const struct keelson_object *role = find_object(kafka, "Role", "kafka-pod-reader");
	ck_assert_ptr_nonnull(role);
	ck_assert_str_eq(role->group, "rbac.authorization.k8s.io");
	ck_assert_uint_eq(role->document_index, 1);
	ck_assert_uint_eq(role->line, 12);

	/* Cassandra: 5 nodes, 1800 s grace, preStop drain, a claim template. */
	const struct keelson_system *cassandra = keelson_cluster_system(prod, "cassandra-chicago");
	const struct keelson_object *cass = find_object(cassandra, "StatefulSet", "cassandra");
	ck_assert_ptr_nonnull(cass);
	ck_assert_double_eq(number_at(cass->body, (const char *const[]){"spec", "replicas", NULL}), 5);
	ck_assert_double_eq(number_at(cass->body, (const char *const[]){"spec", "template", "spec",
		"terminationGracePeriodSeconds", NULL}), 1800);
	char *text = cJSON_PrintUnformatted(cass->body);
	ck_assert_ptr_nonnull(strstr(text, "\"nodetool drain\""));
	ck_assert_ptr_nonnull(strstr(text, "\"volumeClaimTemplates\""));
	free(text);

	/* Cluster-scoped objects have no namespace. */
	const struct keelson_object *ns = find_object(cassandra, "Namespace", "cassandra");
	ck_assert_ptr_nonnull(ns);
	ck_assert_str_eq(ns->namespace_, "");
	ck_assert_str_eq(ns->group, "");
	ck_assert(keelson_desired_state_is_cluster_scoped(state, "scheduling.k8s.io", "PriorityClass"));
	ck_assert(!keelson_desired_state_is_cluster_scoped(state, "apps", "StatefulSet"));

	const struct keelson_system *spark = keelson_cluster_system(prod, "spark-etl");
	const struct keelson_object *app = find_object(spark, "SparkApplication", "orders-daily");
	ck_assert_ptr_nonnull(app);
	ck_assert_str_eq(app->api_version, "sparkoperator.k8s.io/v1beta2");

	/* Ignore rules: staging's spark-etl has one, production's none. */
	ck_assert_ptr_null(spark->ignore_differences);
	ck_assert_ptr_null(spark->ignore_rules);
	const struct keelson_system *staging_spark = keelson_cluster_system(staging, "spark-etl");
	ck_assert(cJSON_IsArray(staging_spark->ignore_differences));
	ck_assert_ptr_nonnull(staging_spark->ignore_rules);
	ck_assert_uint_eq(staging_spark->ignore_rules->count, 1);
	ck_assert(keelson_diff_ignore_rules_match(staging_spark->ignore_rules, "sparkoperator.k8s.io",
						  "SparkApplication", "/spec/executor/instances"));
	ck_assert(!keelson_diff_ignore_rules_match(staging_spark->ignore_rules, "sparkoperator.k8s.io",
						   "SparkApplication", "/spec/executor/memory"));

	keelson_desired_state_free(state);
	keelson_problem_list_free(problems);
	free(dir);
}
END_TEST

/* A second load with the first as `previous` parses nothing that did not
 * change, and the two states are independent of each other's lifetime. */
START_TEST(test_reuse_previous)
{
	char *dir = srcdir_path("repo-layout/example");
	struct keelson_desired_state *first = NULL, *second = NULL;
	struct keelson_problem_list *problems = NULL;
	ck_assert_int_eq(load_dir(&first, &problems, dir, NULL), 0);
	ck_assert_uint_eq(first->files_reused, 0);
	keelson_problem_list_free(problems);

	struct keelson_layout_options options;
	keelson_layout_options_init(&options);
	options.previous = first;
	ck_assert_int_eq(load_dir(&second, &problems, dir, &options), 0);
	keelson_problem_list_free(problems);
	ck_assert_uint_eq(second->files_reused, 29);
	ck_assert_uint_eq(second->object_count, first->object_count);
	const struct keelson_system *a = keelson_cluster_system(&first->clusters[0], "kafka-events");
	const struct keelson_system *b = keelson_cluster_system(&second->clusters[0], "kafka-events");
	ck_assert_ptr_eq(a->objects[0].body, b->objects[0].body); /* shared, not re-parsed */
	ck_assert_ptr_ne(a->objects, b->objects);

	/* Freeing the earlier state first leaves the later one whole. */
	keelson_desired_state_free(first);
	char *text = cJSON_PrintUnformatted(b->objects[0].body);
	ck_assert_ptr_nonnull(text);
	free(text);
	ck_assert_ptr_nonnull(keelson_yaml_position(b->objects[0].stream, b->objects[0].body));
	keelson_desired_state_free(second);
	free(dir);
}
END_TEST

/* ---- the broken corpus ------------------------------------------------ */

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(f);
	fclose(mem);
	return buf;
}

static void check_case(const char *corpus, const char *name)
{
	char *dir = NULL, *expected_path = NULL;
	ck_assert_int_ge(asprintf(&dir, "%s/%s", corpus, name), 0);
	ck_assert_int_ge(asprintf(&expected_path, "%s/expected-problems", dir), 0);
	char *expected = read_text(expected_path);

	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	int rc = load_dir(&state, &problems, dir, NULL);
	ck_assert_msg(rc == KEELSON_EINVALID, "%s: loaded with rc %d, expected the revision to be rejected",
		      name, rc);
	ck_assert_ptr_null(state);

	size_t index = 0;
	char *save = NULL;
	for (char *line = strtok_r(expected, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *location = strchr(line, ' ');
		ck_assert_ptr_nonnull(location);
		*location++ = '\0';
		char *message = strchr(location, ' ');
		ck_assert_ptr_nonnull(message);
		*message++ = '\0';

		ck_assert_msg(index < problems->count, "%s: expected problem %zu (%s %s) was not reported",
			      name, index + 1, line, location);
		const struct keelson_problem *p = &problems->items[index];
		char actual_location[1024];
		if (p->file[0] == '\0')
			snprintf(actual_location, sizeof(actual_location), "-");
		else if (p->line == 0)
			snprintf(actual_location, sizeof(actual_location), "%s", p->file);
		else
			snprintf(actual_location, sizeof(actual_location), "%s:%u:%u", p->file, p->line, p->column);
		ck_assert_msg(strcmp(keelson_problem_code_name(p->code), line) == 0 &&
			      strcmp(actual_location, location) == 0 && strcmp(p->message, message) == 0,
			      "%s: problem %zu\n  expected: %s %s %s\n  actual:   %s %s %s", name, index + 1,
			      line, location, message, keelson_problem_code_name(p->code), actual_location,
			      p->message);
		index++;
	}
	ck_assert_msg(index == problems->count, "%s: %zu problems reported, %zu expected; first extra: %s",
		      name, problems->count, index,
		      problems->count > index ? problems->items[index].message : "");
	ck_assert_uint_gt(index, 0);

	keelson_problem_list_free(problems);
	free(expected);
	free(expected_path);
	free(dir);
}

START_TEST(test_broken_corpus)
{
	char *corpus = srcdir_path("tests/layout/broken");
	DIR *d = opendir(corpus);
	ck_assert_msg(d != NULL, "cannot open %s", corpus);
	size_t cases = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		check_case(corpus, de->d_name);
		cases++;
	}
	closedir(d);
	/* Guards against a corpus that silently went missing from the tarball. */
	ck_assert_uint_ge(cases, 18);
	free(corpus);
}
END_TEST

/* ---- an in-memory source: paths a checkout cannot hold ---------------- */

struct mem_file {
	const char *path;
	const char *data;
	enum keelson_file_kind kind;
};

struct mem_source {
	struct keelson_file_source base;
	const struct mem_file *files;
	size_t count;
};

static int mem_for_each(const struct keelson_file_source *source, size_t max_file_size,
			keelson_file_visit_fn visit, void *payload)
{
	const struct mem_source *ms = (const struct mem_source *)source;
	for (size_t i = 0; i < ms->count; i++) {
		struct keelson_file f = {.path = ms->files[i].path, .data = ms->files[i].data,
					 .size = strlen(ms->files[i].data), .kind = ms->files[i].kind};
		/* Version 1 sources stop the walk; later ones visit the file unread. */
		if (f.size > max_file_size && source->version < 2)
			return keelson_error_set(KEELSON_ELIMIT, "%s: %zu bytes, more than %zu", f.path, f.size,
						 max_file_size);
		if (f.size > max_file_size) {
			f.data = NULL;
			f.too_large = true;
		}
		int rc = visit(&f, payload);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void mem_free(struct keelson_file_source *source)
{
	(void)source;
}

#define MEM_SOURCE(files_array)                                                               \
	{                                                                                     \
		.base = {.version = KEELSON_FILE_SOURCE_VERSION, .description = "memory",     \
			 .for_each_file = mem_for_each, .free = mem_free},                    \
		.files = (files_array), .count = sizeof(files_array) / sizeof((files_array)[0]) \
	}

static const char repository_yaml[] =
	"apiVersion: keelson.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: mem\nspec:\n"
	"  statusBranch: keelson/status\n  policy:\n    prune: true\n    driftPolicy: heal\n"
	"    pollInterval: 1m\n    driftCheckInterval: 10m\n    alertRepeatInterval: 1h\n";
static const char cluster_yaml[] =
	"apiVersion: keelson.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: c\nspec:\n  kubeContext: c\n";
static const char system_yaml[] =
	"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: s\nspec:\n  plugin: generic\n";
static const char configmap_yaml[] =
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n";

START_TEST(test_paths_leaving_the_repository)
{
	static const struct mem_file files[] = {
		{"../etc/passwd.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"/abs/x.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/./s/y.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s//z.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/escape.yaml", "../../../../etc/kubernetes/admin.yaml", KEELSON_FILE_SYMLINK},
		{"clusters/c/s/inside.yaml", "cm.yaml", KEELSON_FILE_SYMLINK},
		{"clusters/c/s/notes", "/home/someone/notes", KEELSON_FILE_SYMLINK},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/t", "s", KEELSON_FILE_SYMLINK},
		{"docs/readme", "../README.md", KEELSON_FILE_SYMLINK},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	struct mem_source source = MEM_SOURCE(files);
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, NULL), KEELSON_EINVALID);
	ck_assert_ptr_null(state);
	/* Sorted by file; docs/readme stays inside, outside clusters/ and is
	 * not YAML: no problem. The linked system directory clusters/c/t is. */
	static const char *const expected_files[] = {
		"../etc/passwd.yaml", "/abs/x.yaml", "clusters/c/./s/y.yaml", "clusters/c/s//z.yaml",
		"clusters/c/s/escape.yaml", "clusters/c/s/inside.yaml", "clusters/c/s/notes", "clusters/c/t",
	};
	ck_assert_uint_eq(problems->count, sizeof(expected_files) / sizeof(expected_files[0]));
	for (size_t i = 0; i < problems->count; i++) {
		ck_assert_str_eq(problems->items[i].file, expected_files[i]);
		ck_assert_int_eq(problems->items[i].code, KEELSON_PROBLEM_PATH_ESCAPE);
		ck_assert_uint_eq(problems->items[i].line, 0);
	}
	ck_assert_ptr_nonnull(strstr(problems->items[4].message, "leaves the repository"));
	ck_assert_ptr_nonnull(strstr(problems->items[5].message, "links are not followed"));
	ck_assert_ptr_nonnull(strstr(problems->items[7].message, "is not part of any system"));
	keelson_problem_list_free(problems);
}
END_TEST

START_TEST(test_limits)
{
	static const struct mem_file files[] = {
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	struct mem_source source = MEM_SOURCE(files);
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_layout_options options;

	/* Within the limits: valid, and the effective policy is the default. */
	keelson_layout_options_init(&options);
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, &options), 0);
	ck_assert_uint_eq(state->object_count, 1);
	ck_assert_int_eq(state->clusters[0].systems[0].policy.drift_policy, KEELSON_DRIFT_HEAL);
	keelson_desired_state_free(state);
	keelson_problem_list_free(problems);

	/* Too many files. */
	options.max_files = 2;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, &options), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(problems->items[0].message, "more than 2 files"));
	keelson_problem_list_free(problems);

	/* Too many bytes in total. */
	keelson_layout_options_init(&options);
	options.max_total_bytes = sizeof(cluster_yaml) + 10;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, &options), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_str_eq(problems->items[0].file, "clusters/c/s/cm.yaml");
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_TOO_LARGE);
	keelson_problem_list_free(problems);

	/* Files above the per-file limit (all but cm.yaml): each one is a
	 * problem with its path, and the walk goes on. A file not read is not
	 * also reported as missing. */
	keelson_layout_options_init(&options);
	options.max_file_size = sizeof(configmap_yaml) + 1;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, &options), KEELSON_EINVALID);
	static const char *const oversized[] = {"clusters/c/cluster.yaml", "clusters/c/s/system.yaml",
						"keelson.yaml"};
	ck_assert_uint_eq(problems->count, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(problems->items[i].file, oversized[i]);
		ck_assert_int_eq(problems->items[i].code, KEELSON_PROBLEM_TOO_LARGE);
		ck_assert_uint_eq(problems->items[i].line, 0);
		ck_assert_ptr_nonnull(strstr(problems->items[i].message, "more than the limit of"));
	}
	keelson_problem_list_free(problems);

	/* Reported among problems of other kinds, which are still found. */
	static const char bad_system_yaml[] =
		"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: s\nspec:\n  plugin: nope\n";
	static char big_yaml[1024];
	snprintf(big_yaml, sizeof(big_yaml), "%s# %0400d\n", system_yaml, 0);
	const struct mem_file mixed_files[] = {
		{"clusters/c/big/system.yaml", big_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", bad_system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
		{"stray.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
	};
	struct mem_source mixed = MEM_SOURCE(mixed_files);
	options.max_file_size = sizeof(repository_yaml); /* only big_yaml is above */
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &mixed.base, &options), KEELSON_EINVALID);
	ck_assert_uint_ge(problems->count, 3);
	int codes = 0;
	for (size_t i = 0; i < problems->count; i++) {
		const struct keelson_problem *p = &problems->items[i];
		if (p->code == KEELSON_PROBLEM_TOO_LARGE && strcmp(p->file, "clusters/c/big/system.yaml") == 0)
			codes |= 1;
		if (p->code == KEELSON_PROBLEM_UNKNOWN_PLUGIN && strcmp(p->file, "clusters/c/s/system.yaml") == 0)
			codes |= 2;
		if (p->code == KEELSON_PROBLEM_MISPLACED && strcmp(p->file, "stray.yaml") == 0)
			codes |= 4;
	}
	ck_assert_int_eq(codes, 7);
	keelson_problem_list_free(problems);

	/* A version 1 source still stops the walk: that limit is reported
	 * alone, since nothing else can be concluded from a partial tree. */
	source.base.version = 1;
	options.max_file_size = sizeof(configmap_yaml) + 1;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, &options), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(problems->items[0].message, "clusters/c/cluster.yaml"));
	keelson_problem_list_free(problems);

	/* A source built for another interface version is refused. */
	source.base.version = KEELSON_FILE_SOURCE_VERSION + 1;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, NULL), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 0);
	keelson_problem_list_free(problems);
}
END_TEST

/* What the schema table lets through, the diff engine's parser still
 * judges: more pointers than it takes is a problem at the list. */
START_TEST(test_ignore_differences_parser)
{
	static char big_system[16384];
	int used = snprintf(big_system, sizeof(big_system), "%s  ignoreDifferences:\n    - jsonPointers: [",
			    system_yaml);
	for (int i = 0; i <= KEELSON_DIFF_MAX_IGNORE_RULES; i++)
		used += snprintf(big_system + used, sizeof(big_system) - (size_t)used, "%s/p%d", i ? ", " : "", i);
	snprintf(big_system + used, sizeof(big_system) - (size_t)used, "]\n");
	ck_assert_uint_lt((size_t)used, sizeof(big_system) - 4);
	const struct mem_file files[] = {
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", big_system, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	struct mem_source source = MEM_SOURCE(files);
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, &source.base, NULL), KEELSON_EINVALID);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_str_eq(problems->items[0].file, "clusters/c/s/system.yaml");
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_WRONG_TYPE);
	ck_assert_uint_eq(problems->items[0].line, 8);
	ck_assert_uint_eq(problems->items[0].column, 5);
	ck_assert_ptr_nonnull(strstr(problems->items[0].message, "more than 1000"));
	keelson_problem_list_free(problems);
}
END_TEST

/* Mutated revisions: whatever the bytes, the loader either accepts the
 * revision or rejects it with at least one problem, and every problem
 * points into a file that exists, at a line that exists. */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state >> 32);
}

static size_t count_lines(const char *text)
{
	size_t lines = 1;
	for (; *text; text++)
		lines += *text == '\n';
	return lines;
}

START_TEST(test_mutations)
{
	static const char *const originals[] = {repository_yaml, cluster_yaml, system_yaml, configmap_yaml};
	static const char alphabet[] = "-:#&*!|>'\"{}[],? \n\tab0~";
	/* KEELSON_MUTATION_ROUNDS runs longer locally; CI keeps it quick. */
	const char *env = getenv("KEELSON_MUTATION_ROUNDS");
	int rounds = env && atoi(env) > 0 ? atoi(env) : 400;
	for (int round = 0; round < rounds; round++) {
		char texts[4][512];
		for (size_t i = 0; i < 4; i++)
			snprintf(texts[i], sizeof(texts[i]), "%s", originals[i]);
		size_t victim = next_random() % 4;
		char *t = texts[victim];
		size_t len = strlen(t);
		for (int edits = 1 + (int)(next_random() % 3); edits > 0; edits--) {
			size_t at = next_random() % (len + 1);
			switch (next_random() % 3) {
			case 0: /* truncate */
				t[at] = '\0';
				len = at;
				break;
			case 1: /* overwrite a byte */
				if (at < len)
					t[at] = alphabet[next_random() % (sizeof(alphabet) - 1)];
				break;
			default: /* insert a byte */
				if (len + 1 < sizeof(texts[0])) {
					memmove(t + at + 1, t + at, len - at + 1);
					t[at] = alphabet[next_random() % (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			}
		}
		const struct mem_file files[] = {
			{"clusters/c/cluster.yaml", texts[1], KEELSON_FILE_REGULAR},
			{"clusters/c/s/cm.yaml", texts[3], KEELSON_FILE_REGULAR},
			{"clusters/c/s/system.yaml", texts[2], KEELSON_FILE_REGULAR},
			{"keelson.yaml", texts[0], KEELSON_FILE_REGULAR},
		};
		struct mem_source source = MEM_SOURCE(files);
		struct keelson_desired_state *state = NULL;
		struct keelson_problem_list *problems = NULL;
		int rc = keelson_layout_load(&state, &problems, &source.base, NULL);
		ck_assert_msg(rc == 0 || rc == KEELSON_EINVALID, "round %d: rc %d: %s", round, rc,
			      keelson_error_last()->message);
		ck_assert_int_eq(rc == 0, state != NULL);
		ck_assert_int_eq(rc == 0, problems->count == 0);
		for (size_t i = 0; i < problems->count; i++) {
			const struct keelson_problem *p = &problems->items[i];
			const char *text = NULL;
			for (size_t f = 0; f < 4; f++)
				if (strcmp(files[f].path, p->file) == 0)
					text = files[f].data;
			ck_assert_msg(text != NULL, "round %d: problem in unknown file \"%s\": %s", round, p->file,
				      p->message);
			/* libyaml puts an error at end of input on the line after an
			 * unterminated last line, column 1: that much is allowed. */
			ck_assert_msg(p->line <= count_lines(text) || (p->line == count_lines(text) + 1 && p->column == 1),
				      "round %d: %s:%u:%u beyond the file's %zu lines: %s\n---\n%s---", round, p->file,
				      p->line, p->column, count_lines(text), p->message, text);
			ck_assert(p->message[0] != '\0');
		}
		keelson_desired_state_free(state);
		keelson_problem_list_free(problems);
	}
}
END_TEST

START_TEST(test_reuse_changed_file)
{
	static const char configmap_v2[] =
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm2\n  namespace: ns\n";
	static const struct mem_file v1[] = {
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	static const struct mem_file v2[] = {
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_v2, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	struct mem_source s1 = MEM_SOURCE(v1), s2 = MEM_SOURCE(v2);
	struct keelson_desired_state *first = NULL, *second = NULL, *third = NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_layout_options options;
	keelson_layout_options_init(&options);

	ck_assert_int_eq(keelson_layout_load(&first, &problems, &s1.base, &options), 0);
	keelson_problem_list_free(problems);
	options.previous = first;
	ck_assert_int_eq(keelson_layout_load(&second, &problems, &s2.base, &options), 0);
	keelson_problem_list_free(problems);
	ck_assert_uint_eq(second->files_reused, 3);
	ck_assert_str_eq(second->clusters[0].systems[0].objects[0].name, "cm2");
	ck_assert_str_eq(first->clusters[0].systems[0].objects[0].name, "cm");

	/* Back to v1 from v2: the ConfigMap is parsed again (v2 never had v1's). */
	options.previous = second;
	ck_assert_int_eq(keelson_layout_load(&third, &problems, &s1.base, &options), 0);
	keelson_problem_list_free(problems);
	ck_assert_uint_eq(third->files_reused, 3);
	ck_assert_str_eq(third->clusters[0].systems[0].objects[0].name, "cm");
	keelson_desired_state_free(second);
	keelson_desired_state_free(first);
	ck_assert_str_eq(third->clusters[0].systems[0].objects[0].name, "cm");
	keelson_desired_state_free(third);
}
END_TEST

/* ---- a lazy source with object ids (file source version 3) ------------ */

/* Like the Git source: each file carries an id of its bytes and is read
 * only when the loader asks; reads are counted per load. */
struct lazy_source {
	struct keelson_file_source base;
	const struct mem_file *files;
	size_t count;
	size_t reads;
	char read_paths[16][64];
};

struct lazy_file {
	struct keelson_file file; /* first: read() gets this pointer */
	struct lazy_source *source;
	const char *bytes;
	unsigned char id[8];
};

static int lazy_read(const struct keelson_file *file, const char **out_data, size_t *out_size,
		     bool *out_too_large)
{
	struct lazy_file *lf = (struct lazy_file *)file;
	if (lf->source->reads < 16)
		snprintf(lf->source->read_paths[lf->source->reads], 64, "%s", file->path);
	lf->source->reads++;
	*out_data = lf->bytes;
	*out_size = strlen(lf->bytes);
	*out_too_large = false;
	return 0;
}

static int lazy_for_each(const struct keelson_file_source *source, size_t max_file_size,
			 keelson_file_visit_fn visit, void *payload)
{
	struct lazy_source *ls = source->impl;
	(void)max_file_size;
	for (size_t i = 0; i < ls->count; i++) {
		struct lazy_file lf = {
			.file = {.path = ls->files[i].path, .kind = ls->files[i].kind, .read = lazy_read},
			.source = ls,
			.bytes = ls->files[i].data,
		};
		/* FNV-1a of the bytes: equal bytes, equal id, as a blob id. */
		uint64_t h = 14695981039346656037ULL;
		for (const char *p = lf.bytes; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		memcpy(lf.id, &h, sizeof(lf.id));
		lf.file.object_id = lf.id;
		lf.file.object_id_size = sizeof(lf.id);
		int rc = visit(&lf.file, payload);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int lazy_for_each_eager(const struct keelson_file_source *source, size_t max_file_size,
			       keelson_file_visit_fn visit, void *payload)
{
	(void)source, (void)max_file_size, (void)visit, (void)payload;
	ck_abort_msg("a version 3 source with for_each_file_lazy is walked lazily");
	return 0;
}

#define LAZY_SOURCE(ls, files_array)                                                                  \
	do {                                                                                          \
		memset(&(ls), 0, sizeof(ls));                                                         \
		(ls).base = (struct keelson_file_source){.version = KEELSON_FILE_SOURCE_VERSION,      \
							 .description = "lazy",                       \
							 .for_each_file = lazy_for_each_eager,        \
							 .for_each_file_lazy = lazy_for_each,         \
							 .free = mem_free, .impl = &(ls)};            \
		(ls).files = (files_array);                                                           \
		(ls).count = sizeof(files_array) / sizeof((files_array)[0]);                          \
	} while (0)

static const char system_b_yaml[] =
	"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: b\nspec:\n  plugin: generic\n";
static const char configmap_b_yaml[] =
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-b\n  namespace: ns\n";
static const char configmap_b2_yaml[] =
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-b\n  namespace: ns\ndata:\n  k: v2\n";
/* System b claims system s's ConfigMap too. */
static const char configmap_b_claims_yaml[] =
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-b\n  namespace: ns\n---\n"
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: ns\n";
static const char repository_v2_yaml[] =
	"apiVersion: keelson.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: mem\nspec:\n"
	"  statusBranch: keelson/status\n  policy:\n    prune: false\n    driftPolicy: heal\n"
	"    pollInterval: 1m\n    driftCheckInterval: 10m\n    alertRepeatInterval: 1h\n";

static const struct keelson_system *system_named(const struct keelson_desired_state *state, const char *name)
{
	return keelson_cluster_system(&state->clusters[0], name);
}

static bool same_content(const struct keelson_desired_state *a, const struct keelson_desired_state *b,
			 const char *system)
{
	return memcmp(system_named(a, system)->content_id, system_named(b, system)->content_id,
		      sizeof(system_named(a, system)->content_id)) == 0;
}

/* With object ids, an unchanged file is neither read nor parsed again;
 * a system's content id changes only with its own files, its cluster.yaml
 * or keelson.yaml; cross-system checks still see the unchanged systems. */
START_TEST(test_lazy_source_reads_only_changed_files)
{
	static const struct mem_file v1[] = {
		{"README.md", "not read", KEELSON_FILE_REGULAR},
		{"clusters/c/b/cm.yaml", configmap_b_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/b/system.yaml", system_b_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
		{"run.sh", "#!/bin/sh\n", KEELSON_FILE_EXECUTABLE},
	};
	static const struct mem_file v2[] = {
		{"README.md", "not read", KEELSON_FILE_REGULAR},
		{"clusters/c/b/cm.yaml", configmap_b2_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/b/system.yaml", system_b_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	static const struct mem_file v3_claims[] = {
		{"clusters/c/b/cm.yaml", configmap_b_claims_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/b/system.yaml", system_b_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_yaml, KEELSON_FILE_REGULAR},
	};
	static const struct mem_file v4_policy[] = {
		{"clusters/c/b/cm.yaml", configmap_b2_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/b/system.yaml", system_b_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/cluster.yaml", cluster_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/cm.yaml", configmap_yaml, KEELSON_FILE_REGULAR},
		{"clusters/c/s/system.yaml", system_yaml, KEELSON_FILE_REGULAR},
		{"keelson.yaml", repository_v2_yaml, KEELSON_FILE_REGULAR},
	};
	struct lazy_source s1, s2, s3, s4;
	LAZY_SOURCE(s1, v1);
	LAZY_SOURCE(s2, v2);
	LAZY_SOURCE(s3, v3_claims);
	LAZY_SOURCE(s4, v4_policy);
	struct keelson_desired_state *first = NULL, *second = NULL, *third = NULL, *fourth = NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_layout_options options;
	keelson_layout_options_init(&options);

	/* Cold: every YAML file read once, nothing else. */
	ck_assert_int_eq(keelson_layout_load(&first, &problems, &s1.base, &options), 0);
	keelson_problem_list_free(problems);
	ck_assert_uint_eq(s1.reads, 6);
	ck_assert_uint_eq(first->files_parsed, 6);
	ck_assert_uint_eq(first->files_unread, 0);

	/* One file of system b changed: only it is read. */
	options.previous = first;
	ck_assert_int_eq(keelson_layout_load(&second, &problems, &s2.base, &options), 0);
	keelson_problem_list_free(problems);
	ck_assert_uint_eq(s2.reads, 1);
	ck_assert_str_eq(s2.read_paths[0], "clusters/c/b/cm.yaml");
	ck_assert_uint_eq(second->files_parsed, 1);
	ck_assert_uint_eq(second->files_unread, 5);
	ck_assert_uint_eq(second->files_reused, 5);
	ck_assert(same_content(first, second, "s"));
	ck_assert(!same_content(first, second, "b"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(system_named(second, "b")->objects[0].body, "data"));
	/* s is unchanged: its checked objects come from the first state, and
	 * stay valid when that state is freed. */
	ck_assert_uint_eq(second->systems_reused, 1);
	ck_assert_uint_eq(second->object_count, 2);
	keelson_desired_state_free(first);
	first = NULL;
	const struct keelson_object *cm = &system_named(second, "s")->objects[0];
	ck_assert_str_eq(cm->name, "cm");
	ck_assert_str_eq(cm->group, "");
	ck_assert_str_eq(cm->file, "clusters/c/s/cm.yaml");
	ck_assert_ptr_eq(cm->system, system_named(second, "s"));
	ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cm->body, "kind")->valuestring, "ConfigMap");

	/* System b now claims system s's ConfigMap: s did not change, yet the
	 * revision is refused. */
	options.previous = second;
	ck_assert_int_eq(keelson_layout_load(&third, &problems, &s3.base, &options), KEELSON_EINVALID);
	ck_assert_ptr_null(third);
	ck_assert_uint_eq(s3.reads, 1);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_CLAIMED_TWICE);
	ck_assert_msg(strstr(problems->items[0].message, "claimed by two systems") != NULL, "%s",
		      problems->items[0].message);
	keelson_problem_list_free(problems);

	/* keelson.yaml changed: every system's content changed with it. */
	ck_assert_int_eq(keelson_layout_load(&fourth, &problems, &s4.base, &options), 0);
	keelson_problem_list_free(problems);
	ck_assert_uint_eq(s4.reads, 1);
	ck_assert_uint_eq(fourth->systems_reused, 0);
	ck_assert(!same_content(second, fourth, "s"));
	ck_assert(!same_content(second, fourth, "b"));
	ck_assert(!system_named(fourth, "s")->policy.prune);

	keelson_desired_state_free(first);
	keelson_desired_state_free(second);
	keelson_desired_state_free(fourth);
}
END_TEST

/* ---- the directory source --------------------------------------------- */

static void write_file(const char *dir, const char *relative, const char *text)
{
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, relative), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

struct seen {
	char paths[16][64];
	enum keelson_file_kind kinds[16];
	bool too_large[16];
	size_t sizes[16];
	size_t count;
};

static int record(const struct keelson_file *file, void *payload)
{
	struct seen *seen = payload;
	ck_assert_uint_lt(seen->count, 16);
	ck_assert(file->too_large == (file->data == NULL));
	snprintf(seen->paths[seen->count], sizeof(seen->paths[0]), "%s", file->path);
	seen->too_large[seen->count] = file->too_large;
	seen->sizes[seen->count] = file->size;
	seen->kinds[seen->count++] = file->kind;
	return 0;
}

START_TEST(test_dir_source)
{
	char dir[] = "/tmp/keelson-layout-test-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *sub = NULL, *git = NULL, *link = NULL;
	ck_assert_int_ge(asprintf(&sub, "%s/a", dir), 0);
	ck_assert_int_ge(asprintf(&git, "%s/.git", dir), 0);
	ck_assert_int_ge(asprintf(&link, "%s/b.yaml", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(mkdir(git, 0700), 0);
	write_file(dir, "a/x.yaml", "x: 1\n");
	write_file(dir, "a.yaml", "y: 1\n");
	write_file(dir, "a-b.yaml", "z: 1\n");
	write_file(dir, ".git/HEAD", "ref: refs/heads/main\n");
	ck_assert_int_eq(symlink("/etc/passwd", link), 0);

	struct keelson_file_source *source = NULL;
	ck_assert_int_eq(keelson_dir_source_open(&source, dir), 0);
	ck_assert_str_eq(source->description, dir);
	struct seen seen = {0};
	ck_assert_int_eq(source->for_each_file(source, 1024, record, &seen), 0);
	/* Bytewise order of full paths, as Git orders trees: "a-b.yaml" <
	 * "a.yaml" < "a/x.yaml"; .git is not part of a revision. */
	ck_assert_uint_eq(seen.count, 4);
	ck_assert_str_eq(seen.paths[0], "a-b.yaml");
	ck_assert_str_eq(seen.paths[1], "a.yaml");
	ck_assert_str_eq(seen.paths[2], "a/x.yaml");
	ck_assert_str_eq(seen.paths[3], "b.yaml");
	ck_assert_int_eq(seen.kinds[3], KEELSON_FILE_SYMLINK);

	/* Files above max_file_size are visited unread, with their size, and
	 * the walk goes on. */
	seen.count = 0;
	ck_assert_int_eq(source->for_each_file(source, 4, record, &seen), 0);
	ck_assert_uint_eq(seen.count, 4);
	ck_assert(seen.too_large[0] && seen.too_large[1] && seen.too_large[2]);
	ck_assert_uint_eq(seen.sizes[0], 5);
	ck_assert(!seen.too_large[3]); /* the link: its 11-byte target is not a file's content */
	source->free(source);

	/* Through the loader: the symlink to /etc/passwd is reported. */
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	ck_assert_int_eq(load_dir(&state, &problems, dir, NULL), KEELSON_EINVALID);
	int found = 0;
	for (size_t i = 0; i < problems->count; i++)
		if (strcmp(problems->items[i].file, "b.yaml") == 0 &&
		    problems->items[i].code == KEELSON_PROBLEM_PATH_ESCAPE)
			found = 1;
	ck_assert(found);
	keelson_problem_list_free(problems);

	ck_assert_int_eq(keelson_dir_source_open(&source, link), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_dir_source_open(&source, "/nonexistent/keelson"), KEELSON_ENOTFOUND);

	char *cmd = NULL;
	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(sub);
	free(git);
	free(link);
}
END_TEST

static int count_visits(const struct keelson_file *file, void *payload)
{
	(void)file;
	++*(size_t *)payload;
	return 0;
}

/* A checkout nested 64 directories deep is read; one level more is refused
 * with a problem naming the limit. */
START_TEST(test_dir_source_depth_limit)
{
	char dir[] = "/tmp/keelson-layout-depth-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[4096];
	size_t len = (size_t)snprintf(path, sizeof(path), "%s", dir);
	for (int level = 1; level <= 64; level++) {
		len += (size_t)snprintf(path + len, sizeof(path) - len, "/d");
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	write_file(path, "x.yaml", "x: 1\n");
	struct keelson_file_source *source = NULL;
	size_t visits = 0;
	ck_assert_int_eq(keelson_dir_source_open(&source, dir), 0);
	ck_assert_int_eq(source->for_each_file(source, 1024, count_visits, &visits), 0);
	ck_assert_uint_eq(visits, 1);

	len += (size_t)snprintf(path + len, sizeof(path) - len, "/d");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	write_file(path, "y.yaml", "y: 1\n");
	visits = 0;
	ck_assert_int_eq(source->for_each_file(source, 1024, count_visits, &visits), KEELSON_ELIMIT);
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, source, NULL), KEELSON_EINVALID);
	ck_assert_ptr_null(state);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_TOO_LARGE);
	ck_assert_msg(strstr(problems->items[0].message, "nested deeper than 64 levels") != NULL &&
		      strstr(problems->items[0].message, "refused") != NULL, "%s", problems->items[0].message);
	keelson_problem_list_free(problems);
	source->free(source);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite_layout(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("keelson_layout_load");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_example_loads);
	tcase_add_test(tc, test_broken_corpus);
	tcase_add_test(tc, test_paths_leaving_the_repository);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_ignore_differences_parser);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_reuse_previous);
	tcase_add_test(tc, test_reuse_changed_file);
	tcase_add_test(tc, test_lazy_source_reads_only_changed_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_dir_source_open");
	tcase_add_test(tc, test_dir_source);
	tcase_add_test(tc, test_dir_source_depth_limit);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_layout)
