/*
 * Runs a fuzz target's entry point over stored inputs, without libFuzzer:
 * `make check` runs it (gcc, ASan, UBSan) over the target's seed corpus
 * tests/fuzz/corpus/NAME and its crash corpus tests/fuzz/crashes/NAME, so
 * every crash a fuzzer ever found stays a regression test.
 *
 *   replay-NAME                 both corpora of NAME under $top_srcdir
 *   replay-NAME FILE|DIR...     just these inputs
 *
 * Each input is passed in a buffer of exactly its size (as libFuzzer does),
 * so reading one byte past the end is an ASan error.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_TARGET_NAME
#error "FUZZ_TARGET_NAME must name the target"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static size_t inputs_run;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay-%s: %s: %s\n", FUZZ_TARGET_NAME, path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	uint8_t *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *bigger = realloc(buf, cap * 2);
			if (bigger == NULL)
				free(buf);
			buf = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf == NULL) {
		fprintf(stderr, "replay-%s: %s: out of memory\n", FUZZ_TARGET_NAME, path);
		return -1;
	}
	/* An exact-size copy: over-reads past the input are ASan errors. */
	uint8_t *exact = malloc(len ? len : 1);
	if (exact == NULL) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	if (getenv("FUZZ_REPLAY_VERBOSE"))
		fprintf(stderr, "replay-%s: %s (%zu bytes)\n", FUZZ_TARGET_NAME, path, len);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	inputs_run++;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory in name order (reproducible runs); a missing
 * directory is fine when `optional`. */
static int run_path(const char *path, int optional)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (optional && errno == ENOENT)
			return 0;
		fprintf(stderr, "replay-%s: %s: %s\n", FUZZ_TARGET_NAME, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *dir = opendir(path);
	if (dir == NULL) {
		fprintf(stderr, "replay-%s: %s: %s\n", FUZZ_TARGET_NAME, path, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* ., .., and README-like dot files */
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			char **bigger = realloc(names, cap * sizeof(*names));
			if (bigger == NULL) {
				rc = -1;
				break;
			}
			names = bigger;
		}
		size_t len = strlen(path) + strlen(de->d_name) + 2;
		if ((names[count] = malloc(len)) == NULL) {
			rc = -1;
			break;
		}
		snprintf(names[count++], len, "%s/%s", path, de->d_name);
	}
	closedir(dir);
	if (names != NULL)
		qsort(names, count, sizeof(*names), compare_names);
	for (size_t i = 0; i < count; i++) {
		if (rc == 0)
			rc = run_path(names[i], 0);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (run_path(argv[i], 0) != 0)
				return 1;
		printf("replay-%s: %zu inputs, no failure\n", FUZZ_TARGET_NAME, inputs_run);
		return 0;
	}
	const char *top = getenv("top_srcdir");
	if (top == NULL)
		top = FUZZ_SRCDIR;
	char seeds[4096], crashes[4096];
	snprintf(seeds, sizeof(seeds), "%s/tests/fuzz/corpus/%s", top, FUZZ_TARGET_NAME);
	snprintf(crashes, sizeof(crashes), "%s/tests/fuzz/crashes/%s", top, FUZZ_TARGET_NAME);
	if (run_path(seeds, 0) != 0 || run_path(crashes, 1) != 0)
		return 1;
	/* An empty corpus would make this test pass without testing anything. */
	if (inputs_run == 0) {
		fprintf(stderr, "replay-%s: no inputs in %s\n", FUZZ_TARGET_NAME, seeds);
		return 1;
	}
	printf("replay-%s: %zu inputs (seeds and crashes), no failure\n", FUZZ_TARGET_NAME, inputs_run);
	return 0;
}
