/*
 * Benchmark (keelson issue 5): time and memory to diff 10,000 and 100,000
 * objects. Each object is a StatefulSet as a repository holds it; its live
 * counterpart carries what a server adds (defaults, status, metadata,
 * managedFields). By default every object is in sync (the issue-12 target
 * is "diff of 10,000 unchanged objects"); --drifted makes every tenth one
 * drift. Only the diff is timed: parsing YAML is the layout loader's cost
 * (bench/layout-load). Each size is diffed --repeat times (default 5) and
 * the median printed with the fastest and slowest.
 *
 *   make tests/diff/bench-diff && tests/diff/bench-diff [--drifted] [--repeat R] [COUNT...]
 *
 * Run it from a build configured without --enable-sanitizers.
 */
#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "yaml/yaml_load.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char template_yaml[] =
	"apiVersion: apps/v1\n"
	"kind: StatefulSet\n"
	"metadata:\n"
	"  name: app-%zu\n"
	"  namespace: ns-%zu\n"
	"  labels: {app: app-%zu, tier: data}\n"
	"spec:\n"
	"  replicas: 3\n"
	"  serviceName: app-%zu\n"
	"  selector:\n"
	"    matchLabels: {app: app-%zu}\n"
	"  template:\n"
	"    metadata:\n"
	"      labels: {app: app-%zu}\n"
	"    spec:\n"
	"      containers:\n"
	"        - name: main\n"
	"          image: registry.example/app:1.%zu\n"
	"          ports:\n"
	"            - {containerPort: 8080, name: http}\n"
	"          env:\n"
	"            - {name: MODE, value: production}\n"
	"            - {name: HEAP, value: 2g}\n"
	"          resources:\n"
	"            requests: {cpu: 500m, memory: 2Gi}\n"
	"            limits: {cpu: 2, memory: 4096Mi}\n";

static size_t drift_every; /* 0: nothing drifted */
static unsigned repeat = 5;

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* What the API server returns for `desired`. */
static cJSON *live_for(const cJSON *desired, size_t i)
{
	cJSON *live = cJSON_Duplicate(desired, 1);
	cJSON *metadata = cJSON_GetObjectItem(live, "metadata");
	cJSON *spec = cJSON_GetObjectItem(live, "spec");
	cJSON_AddStringToObject(metadata, "uid", "0b0e0c5e-1111-2222-3333-444455556666");
	cJSON_AddStringToObject(metadata, "resourceVersion", "123456");
	cJSON_AddNumberToObject(metadata, "generation", 4);
	cJSON_AddStringToObject(metadata, "creationTimestamp", "2026-01-01T00:00:00Z");
	cJSON_AddItemToObject(metadata, "managedFields",
			      cJSON_Parse("[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
					  "\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:app\":{},\"f:tier\":{}}},"
					  "\"f:spec\":{\"f:replicas\":{},\"f:serviceName\":{},\"f:selector\":{},"
					  "\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"main\\\"}\":"
					  "{\".\":{},\"f:image\":{},\"f:name\":{},\"f:env\":{\"k:{\\\"name\\\":\\\"MODE\\\"}\":"
					  "{\".\":{},\"f:name\":{},\"f:value\":{}}}}}}}}}}]"));
	cJSON_AddStringToObject(spec, "podManagementPolicy", "OrderedReady");
	cJSON_AddNumberToObject(spec, "revisionHistoryLimit", 10);
	cJSON *container = cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "template"), "spec"), "containers"), 0);
	cJSON_AddStringToObject(container, "imagePullPolicy", "IfNotPresent");
	cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(container, "ports"), 0), "protocol", "TCP");
	cJSON *limits = cJSON_GetObjectItem(cJSON_GetObjectItem(container, "resources"), "limits");
	cJSON_ReplaceItemInObject(limits, "cpu", cJSON_CreateString("2"));
	cJSON_ReplaceItemInObject(limits, "memory", cJSON_CreateString("4Gi"));
	cJSON_AddItemToObject(live, "status", cJSON_Parse("{\"replicas\":3,\"readyReplicas\":3,\"currentRevision\":\"x\"}"));
	if (drift_every != 0 && i % drift_every == 0)
		cJSON_ReplaceItemInObject(spec, "replicas", cJSON_CreateNumber(5));
	return live;
}

static int bench(size_t count)
{
	size_t cap = count * (sizeof(template_yaml) + 64), len = 0;
	char *text = malloc(cap);
	if (text == NULL)
		return 1;
	for (size_t i = 0; i < count; i++) {
		len += (size_t)snprintf(text + len, cap - len, "---\n");
		len += (size_t)snprintf(text + len, cap - len, template_yaml, i, i % 100, i, i, i, i, i % 7);
	}
	struct keelson_yaml_limits limits;
	keelson_yaml_limits_init(&limits);
	limits.max_bytes = len + 1;
	limits.max_documents = count + 1;
	limits.max_nodes = count * 100;
	struct keelson_yaml_stream *stream = NULL;
	if (keelson_yaml_load_buffer(&stream, text, len, "bench.yaml", &limits) < 0) {
		fprintf(stderr, "bench-diff: %s\n", keelson_error_last()->message);
		free(text);
		return 1;
	}
	free(text);
	struct keelson_object *objects = calloc(count, sizeof(*objects));
	cJSON **lives = calloc(count, sizeof(*lives));
	for (size_t i = 0; i < count; i++) {
		cJSON *doc = keelson_yaml_document(stream, i);
		objects[i].body = doc;
		objects[i].stream = stream;
		objects[i].file = "bench.yaml";
		objects[i].group = "apps";
		lives[i] = live_for(doc, i);
	}
	double times[64], cpus[64];
	size_t expected = drift_every ? (count + drift_every - 1) / drift_every : 0;
	struct keelson_diff_report *report = NULL;
	long rss_before = max_rss_kib(), rss_after = rss_before;
	int bad = 0;
	if (repeat > sizeof(times) / sizeof(times[0]))
		repeat = sizeof(times) / sizeof(times[0]);
	for (unsigned r = 0; r < repeat; r++) {
		keelson_diff_report_free(report);
		report = NULL;
		keelson_diff_report_new(&report, NULL);
		double t0 = now_s(), c0 = cpu_s();
		for (size_t i = 0; i < count; i++) {
			struct keelson_diff_object *d = NULL;
			if (keelson_diff_object(&d, &objects[i], lives[i], NULL) < 0 ||
			    keelson_diff_report_add(report, d) < 0) {
				fprintf(stderr, "bench-diff: %s\n", keelson_error_last()->message);
				return 1;
			}
		}
		times[r] = now_s() - t0;
		cpus[r] = cpu_s() - c0;
		if (r == 0)
			rss_after = max_rss_kib();
		bad |= report->drifted != expected;
	}
	qsort(times, repeat, sizeof(times[0]), compare_double);
	qsort(cpus, repeat, sizeof(cpus[0]), compare_double);
	double elapsed = times[repeat / 2];
	printf("diff %7zu objects: %8.3f s  %6.2f us/object  drifted %zu (expected %zu)  in sync %zu  "
	       "min %.3f s max %.3f s of %u  cpu %.3f s  peak RSS +%ld MiB (results kept)\n",
	       count, elapsed, elapsed * 1e6 / (double)count, report->drifted, expected, report->in_sync,
	       times[0], times[repeat - 1], repeat, cpus[repeat / 2], (rss_after - rss_before) / 1024);
	keelson_diff_report_free(report);
	for (size_t i = 0; i < count; i++)
		cJSON_Delete(lives[i]);
	free(lives);
	free(objects);
	keelson_yaml_stream_free(stream);
	return bad;
}

int main(int argc, char **argv)
{
	int rc = 0, sizes = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--drifted") == 0) {
			drift_every = 10;
		} else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
			repeat = (unsigned)strtoul(argv[++i], NULL, 10);
			if (repeat == 0)
				repeat = 1;
		}
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--drifted") == 0)
			continue;
		if (strcmp(argv[i], "--repeat") == 0) {
			i++;
			continue;
		}
		rc |= bench((size_t)strtoul(argv[i], NULL, 10));
		sizes++;
	}
	if (sizes == 0) {
		rc |= bench(10000);
		rc |= bench(100000);
	}
	return rc;
}
