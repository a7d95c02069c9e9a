/*
 * The repository layout loader (reconciler/layout) over an in-memory file
 * set (mem_source.h): what anyone who can push to the config repository
 * controls. Checked: a valid state is consistent (counts, every object in
 * a system of a cluster), an invalid one has problems and no state, and
 * loading again with the first state as `previous` (the daemon's path for
 * the next commit) gives the same answer.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/mem_source.h"

#include "core/error.h"
#include "layout/layout.h"
#include "yaml/yaml_load.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

static void check_state(const struct keelson_desired_state *state)
{
	size_t systems = 0, objects = 0;
	for (size_t c = 0; c < state->cluster_count; c++) {
		const struct keelson_cluster *cluster = &state->clusters[c];
		fuzz_assert(cluster->name != NULL);
		fuzz_assert(keelson_desired_state_cluster(state, cluster->name) == cluster);
		size_t cluster_objects = 0;
		for (size_t s = 0; s < cluster->system_count; s++) {
			const struct keelson_system *system = &cluster->systems[s];
			fuzz_assert(system->cluster == cluster);
			fuzz_assert(keelson_cluster_system(cluster, system->name) == system);
			for (size_t o = 0; o < system->object_count; o++) {
				const struct keelson_object *object = &system->objects[o];
				fuzz_assert(object->system == system);
				fuzz_assert(object->kind != NULL && object->name != NULL && object->body != NULL);
				fuzz_assert(object->namespace_ != NULL && object->group != NULL);
				keelson_desired_state_is_cluster_scoped(state, object->group, object->kind);
			}
			cluster_objects += system->object_count;
		}
		fuzz_assert(cluster->object_count == cluster_objects);
		systems += cluster->system_count;
		objects += cluster_objects;
	}
	fuzz_assert(state->system_count == systems);
	fuzz_assert(state->object_count == objects);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keelson_file_source *source = NULL;
	if (fuzz_mem_source_new(&source, (const char *)data, size) != 0)
		return 0;

	/* Small limits, so that the limit paths are reachable with small inputs. */
	struct keelson_yaml_limits yaml;
	keelson_yaml_limits_init(&yaml);
	yaml.max_alias_expansions = 1000;
	yaml.max_depth = 40;
	yaml.max_documents = 200;
	struct keelson_layout_options options;
	keelson_layout_options_init(&options);
	options.max_file_size = 16 * 1024;
	options.max_files = 300;
	options.max_total_bytes = 256 * 1024;
	options.yaml_limits = &yaml;

	struct keelson_desired_state *first = NULL;
	struct keelson_problem_list *problems = NULL;
	int rc = keelson_layout_load(&first, &problems, source, &options);
	fuzz_assert(problems != NULL);
	size_t first_problems = problems->count;
	if (rc == 0) {
		fuzz_assert(first != NULL);
		check_state(first);
	} else {
		fuzz_assert(first == NULL);
		if (rc == KEELSON_EINVALID)
			fuzz_assert(problems->count > 0);
		for (size_t i = 0; i < problems->count; i++) {
			fuzz_assert(problems->items[i].message != NULL && problems->items[i].message[0] != '\0');
			fuzz_assert(problems->items[i].file != NULL);
			fuzz_assert(problems->items[i].line > 0 || problems->items[i].column == 0);
		}
	}
	keelson_problem_list_free(problems);

	/* Again, reusing the first parse: the same verdict. */
	options.previous = first;
	struct keelson_desired_state *second = NULL;
	problems = NULL;
	int rc2 = keelson_layout_load(&second, &problems, source, &options);
	fuzz_assert(rc2 == rc);
	fuzz_assert(problems->count == first_problems);
	if (second != NULL) {
		fuzz_assert(first != NULL);
		fuzz_assert(second->object_count == first->object_count);
		fuzz_assert(second->files_reused == second->file_count);
	}
	keelson_problem_list_free(problems);
	/* Either may be freed first. */
	keelson_desired_state_free(first);
	keelson_desired_state_free(second);
	source->free(source);
	return 0;
}
