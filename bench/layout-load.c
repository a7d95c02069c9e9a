/*
 * Benchmark: cold load and validation of a desired-state repository of
 * 10,000 and 100,000 objects (keelson issue 12 targets: under 1 s and
 * 150 MiB; under 10 s and 1.5 GiB).
 *
 *   bench/layout-load [N ...]        generate, load in a fresh process, print
 *   bench/layout-load --load DIR     load DIR, change one file, reload with the
 *                                    first state as `previous`; one result line
 *
 * Each load runs in a fresh process (re-exec) so ru_maxrss is the peak of
 * that load alone, not of the generator or an earlier size. Run it from a
 * build configured without --enable-sanitizers: ASan multiplies both figures.
 * The generated repository mixes what real ones hold: ConfigMaps, Services
 * and Deployments in each system's namespace, five documents a file, 250
 * objects a system, systems spread over 4 clusters.
 */
#include "config.h"

#include "core/error.h"
#include "layout/dir_source.h"
#include "layout/layout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OBJECTS_PER_SYSTEM 250
#define DOCUMENTS_PER_FILE 5
#define CLUSTERS 4

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* snprintf that refuses to truncate: a cut path would write elsewhere. */
__attribute__((format(printf, 3, 4)))
static void path_printf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "layout-load: path too long\n");
		exit(2);
	}
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "layout-load: mkdir %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "layout-load: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return f;
}

static void write_object(FILE *f, size_t n, const char *ns)
{
	switch (n % 3) {
	case 0:
		fprintf(f,
			"apiVersion: v1\n"
			"kind: ConfigMap\n"
			"metadata:\n"
			"  name: config-%zu\n"
			"  namespace: %s\n"
			"  labels:\n"
			"    app.kubernetes.io/name: app-%zu\n"
			"    app.kubernetes.io/part-of: %s\n"
			"data:\n"
			"  application.properties: |\n"
			"    server.port=8080\n"
			"    pool.size=%zu\n"
			"    feature.flags=alpha,beta\n"
			"  LOG_LEVEL: info\n",
			n, ns, n, ns, n % 64 + 1);
		break;
	case 1:
		fprintf(f,
			"apiVersion: v1\n"
			"kind: Service\n"
			"metadata:\n"
			"  name: svc-%zu\n"
			"  namespace: %s\n"
			"  labels:\n"
			"    app.kubernetes.io/name: app-%zu\n"
			"spec:\n"
			"  type: ClusterIP\n"
			"  selector:\n"
			"    app.kubernetes.io/name: app-%zu\n"
			"  ports:\n"
			"    - name: http\n"
			"      port: 80\n"
			"      targetPort: 8080\n",
			n, ns, n, n);
		break;
	default:
		fprintf(f,
			"apiVersion: apps/v1\n"
			"kind: Deployment\n"
			"metadata:\n"
			"  name: deploy-%zu\n"
			"  namespace: %s\n"
			"  labels:\n"
			"    app.kubernetes.io/name: app-%zu\n"
			"spec:\n"
			"  replicas: 2\n"
			"  selector:\n"
			"    matchLabels:\n"
			"      app.kubernetes.io/name: app-%zu\n"
			"  template:\n"
			"    metadata:\n"
			"      labels:\n"
			"        app.kubernetes.io/name: app-%zu\n"
			"    spec:\n"
			"      containers:\n"
			"        - name: app\n"
			"          image: registry.example.com/app:1.%zu.0\n"
			"          ports:\n"
			"            - containerPort: 8080\n"
			"          resources:\n"
			"            requests: {cpu: 100m, memory: 128Mi}\n"
			"            limits: {memory: 256Mi}\n",
			n, ns, n, n, n, n % 20);
		break;
	}
}

static size_t generate(const char *root, size_t objects)
{
	char path[4096];
	size_t files = 0;
	make_dir(root);
	path_printf(path, sizeof(path), "%s/keelson.yaml", root);
	FILE *f = open_out(path);
	fputs("apiVersion: keelson.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: bench\nspec:\n"
	      "  statusBranch: keelson/status\n  policy:\n    prune: true\n    driftPolicy: alert\n"
	      "    pollInterval: 1m\n    driftCheckInterval: 10m\n    alertRepeatInterval: 1h\n", f);
	fclose(f);
	files++;
	path_printf(path, sizeof(path), "%s/clusters", root);
	make_dir(path);
	for (int c = 0; c < CLUSTERS; c++) {
		path_printf(path, sizeof(path), "%s/clusters/cluster-%d", root, c);
		make_dir(path);
		path_printf(path, sizeof(path), "%s/clusters/cluster-%d/cluster.yaml", root, c);
		f = open_out(path);
		fprintf(f, "apiVersion: keelson.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: cluster-%d\n"
			   "spec:\n  kubeContext: cluster-%d\n", c, c);
		fclose(f);
		files++;
	}
	size_t systems = (objects + OBJECTS_PER_SYSTEM - 1) / OBJECTS_PER_SYSTEM;
	size_t n = 0;
	for (size_t s = 0; s < systems; s++) {
		int c = (int)(s % CLUSTERS);
		char dir[4096], ns[64];
		path_printf(dir, sizeof(dir), "%s/clusters/cluster-%d/system-%zu", root, c, s);
		snprintf(ns, sizeof(ns), "team-%zu", s);
		make_dir(dir);
		path_printf(path, sizeof(path), "%s/system.yaml", dir);
		f = open_out(path);
		fprintf(f, "apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: system-%zu\n"
			   "spec:\n  plugin: generic\n", s);
		fclose(f);
		files++;
		for (size_t k = 0; k < OBJECTS_PER_SYSTEM && n < objects; k += DOCUMENTS_PER_FILE) {
			path_printf(path, sizeof(path), "%s/objects-%04zu.yaml", dir, k / DOCUMENTS_PER_FILE);
			f = open_out(path);
			for (size_t d = 0; d < DOCUMENTS_PER_FILE && n < objects; d++, n++) {
				if (d > 0)
					fputs("---\n", f);
				write_object(f, n, ns);
			}
			fclose(f);
			files++;
		}
	}
	return files;
}

static int load_once(const char *dir)
{
	struct keelson_file_source *source = NULL;
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;
	struct rusage before, after;

	getrusage(RUSAGE_SELF, &before);
	double start = now();
	if (keelson_dir_source_open(&source, dir) < 0) {
		fprintf(stderr, "layout-load: %s\n", keelson_error_last()->message);
		return 2;
	}
	int rc = keelson_layout_load(&state, &problems, source, NULL);
	double elapsed = now() - start;
	getrusage(RUSAGE_SELF, &after);
	if (rc != 0) {
		fprintf(stderr, "layout-load: the generated repository did not validate: %s\n",
			keelson_error_last()->message);
		for (size_t i = 0; problems && i < problems->count && i < 5; i++)
			fprintf(stderr, "  %s:%u:%u: %s\n", problems->items[i].file, problems->items[i].line,
				problems->items[i].column, problems->items[i].message);
		return 2;
	}
	double cpu = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
		     (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
		     (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
		     (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
	long cold_peak = after.ru_maxrss;

	/* Reload after a commit that changed one file: only that file is
	 * parsed again, the whole revision is validated again. */
	char changed[4096];
	path_printf(changed, sizeof(changed), "%s/clusters/cluster-0/system-0/objects-0000.yaml", dir);
	FILE *f = fopen(changed, "a");
	if (f == NULL) {
		perror("layout-load: reopening a generated file");
		return 2;
	}
	fputs("# changed by the benchmark\n", f);
	fclose(f);
	struct keelson_layout_options options;
	keelson_layout_options_init(&options);
	options.previous = state;
	struct keelson_desired_state *next = NULL;
	keelson_problem_list_free(problems);
	problems = NULL;
	getrusage(RUSAGE_SELF, &before);
	start = now();
	rc = keelson_layout_load(&next, &problems, source, &options);
	double reload = now() - start;
	getrusage(RUSAGE_SELF, &after);
	if (rc != 0 || next->files_reused + 1 != next->file_count) {
		fprintf(stderr, "layout-load: the reload did not reuse all but one file\n");
		return 2;
	}
	double reload_cpu = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
			    (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
			    (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
			    (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;

	/* objects files seconds cpu-seconds peak-KiB reload-seconds reload-cpu */
	printf("%zu %zu %.3f %.3f %ld %.3f %.3f\n", state->object_count, state->file_count, elapsed, cpu,
	       cold_peak, reload, reload_cpu);
	keelson_desired_state_free(next);
	keelson_desired_state_free(state);
	keelson_problem_list_free(problems);
	source->free(source);
	return 0;
}

static int run_size(size_t objects, const char *self)
{
	char dir[] = "/tmp/keelson-bench-layout-XXXXXX";
	if (mkdtemp(dir) == NULL) {
		perror("layout-load: mkdtemp");
		return 2;
	}
	char root[4096];
	path_printf(root, sizeof(root), "%s/repo", dir);
	double start = now();
	size_t files = generate(root, objects);
	fprintf(stderr, "layout-load: generated %zu objects in %zu files in %.1f s\n", objects, files,
		now() - start);

	int pipefd[2];
	if (pipe(pipefd) != 0) {
		perror("layout-load: pipe");
		return 2;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(self, self, "--load", root, (char *)NULL);
		perror("layout-load: exec");
		_exit(2);
	}
	close(pipefd[1]);
	char line[256] = "";
	FILE *in = fdopen(pipefd[0], "r");
	if (fgets(line, sizeof(line), in) == NULL)
		line[0] = '\0';
	fclose(in);
	int status = 0;
	waitpid(pid, &status, 0);

	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "layout-load: could not remove %s\n", dir);

	size_t loaded = 0, loaded_files = 0;
	double seconds = 0, cpu = 0, reload = 0, reload_cpu = 0;
	long peak_kib = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(line, "%zu %zu %lf %lf %ld %lf %lf", &loaded, &loaded_files, &seconds, &cpu, &peak_kib,
		   &reload, &reload_cpu) != 7) {
		fprintf(stderr, "layout-load: the load of %zu objects failed\n", objects);
		return 1;
	}
	/* Targets from issue 12: 1 s and 150 MiB per 10,000 objects, scaling
	 * linearly (10 s and 1.5 GiB at 100,000). */
	double target_s = (double)objects / 10000.0;
	double target_mib = 150.0 * (double)objects / 10000.0;
	double peak_mib = (double)peak_kib / 1024.0;
	printf("%-9zu %-7zu %8.2f s %8.2f s %9.1f MiB   < %.0f s, < %.0f MiB   %-6s %8.3f s %8.3f s\n", loaded,
	       loaded_files, seconds, cpu, peak_mib, target_s, target_mib,
	       seconds < target_s && peak_mib < target_mib ? "met" : "MISSED", reload, reload_cpu);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--load") == 0)
		return load_once(argv[2]);

	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("layout-load: /proc/self/exe");
		return 2;
	}
	self[n] = '\0';

	static const size_t default_sizes[] = {10000, 100000};
	size_t sizes[16];
	size_t count = 0;
	for (int i = 1; i < argc && count < 16; i++) {
		char *end;
		unsigned long long v = strtoull(argv[i], &end, 10);
		if (*end != '\0' || v == 0 || v > 10000000) {
			fprintf(stderr, "usage: %s [OBJECTS ...] | --load DIR\n", argv[0]);
			return 2;
		}
		sizes[count++] = (size_t)v;
	}
	if (count == 0) {
		memcpy(sizes, default_sizes, sizeof(default_sizes));
		count = 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("keelson layout load + validation (cold, one process per size)\n");
	printf("%-9s %-7s %10s %10s %13s   %-24s %-6s %10s %10s\n", "objects", "files", "wall", "cpu", "peak RSS",
	       "target", "", "reload-1", "reload cpu");
	int rc = 0;
	for (size_t i = 0; i < count; i++)
		rc |= run_size(sizes[i], self);
	return rc;
}
