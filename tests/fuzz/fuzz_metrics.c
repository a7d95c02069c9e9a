/*
 * Prometheus text exposition format. keelson writes it (/metrics, with
 * label values that come from outside: system and object names), and the
 * plugins read it from pods (Kafka's JMX exporter). Until a plugin's
 * reader exists in the tree this target fuzzes the writer: label values
 * and a help text from the input (lines 1-3; line 4 a number), rendered,
 * then read back by a strict reader of the 0.0.4 grammar here, which must
 * find every label value and the number exactly as set, and by the kafka
 * plugin's reader (plugins/kafka/prom.c), which must accept all of it.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "metrics/metrics.h"
#include "plugins/kafka/prom.h"

#include <math.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

/* Read `name{a="...",b="..."} VALUE` from `line`; label values unescaped
 * into a and b (caller frees). 0 on success, -1 when malformed. */
static int read_sample(const char *line, const char *name, char **a, char **b, double *value)
{
	size_t n = strlen(name);
	if (strncmp(line, name, n) != 0 || line[n] != '{')
		return -1;
	const char *p = line + n + 1;
	char **outs[2] = {a, b};
	const char *keys[2] = {"system=\"", "object=\""};
	for (int i = 0; i < 2; i++) {
		size_t kl = strlen(keys[i]);
		if (strncmp(p, keys[i], kl) != 0)
			return -1;
		p += kl;
		char *v = malloc(strlen(p) + 1), *w = v;
		if (v == NULL)
			abort();
		for (; *p != '"'; p++) {
			if (*p == '\0' || *p == '\n') {
				free(v);
				return -1;
			}
			if (*p == '\\') {
				p++;
				if (*p == 'n')
					*w++ = '\n';
				else if (*p == '\\' || *p == '"')
					*w++ = *p;
				else {
					free(v);
					return -1;
				}
			} else {
				*w++ = *p;
			}
		}
		*w = '\0';
		*outs[i] = v;
		p++;
		if (*p != (i == 0 ? ',' : '}'))
			return -1;
		p++;
	}
	if (*p++ != ' ')
		return -1;
	char *end;
	*value = strtod(p, &end);
	if (strncmp(p, "+Inf", 4) == 0 || strncmp(p, "-Inf", 4) == 0 || strncmp(p, "NaN", 3) == 0)
		return 0;
	return end == p || (*end != '\n' && *end != '\0') ? -1 : 0;
}

struct plugin_seen {
	const char *system;
	double value;
	size_t count;
};

static int plugin_sample(void *ctx, const struct kafka_prom_sample *sample)
{
	struct plugin_seen *seen = ctx;
	fuzz_assert(kafka_prom_name_is(sample, "fuzz_gauge"));
	char system[4096];
	fuzz_assert(kafka_prom_label(sample, "system", system, sizeof(system)) == 0);
	if (strlen(seen->system) < sizeof(system) - 1)
		fuzz_assert(strcmp(system, seen->system) == 0);
	fuzz_assert(isnan(seen->value) ? isnan(sample->value) : sample->value == seen->value);
	seen->count++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	char *fields[4] = {text, "", "", "0"};
	for (int i = 1; i < 4; i++) {
		char *nl = strchr(fields[i - 1], '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		fields[i] = nl + 1;
	}
	char *nl = strchr(fields[3], '\n');
	if (nl != NULL)
		*nl = '\0';
	double value = strtod(fields[3], NULL);

	struct keelson_metrics *reg = NULL;
	fuzz_assert(keelson_metrics_new(&reg) == 0);
	struct keelson_metric *gauge = NULL;
	static const char *const labels[] = {"system", "object", NULL};
	fuzz_assert(keelson_metrics_gauge(&gauge, reg, "fuzz_gauge", fields[2], labels) == 0);
	const char *values[] = {fields[0], fields[1]};
	fuzz_assert(keelson_metric_set(gauge, values, value) == 0);
	char *out = NULL;
	size_t out_len = 0;
	fuzz_assert(keelson_metrics_render(&out, &out_len, reg) == 0);
	fuzz_assert(strlen(out) == out_len);

	/* The HELP line is one line; exactly one sample line. */
	size_t samples = 0;
	for (char *line = out; *line != '\0';) {
		char *end = strchr(line, '\n');
		fuzz_assert(end != NULL); /* every line ends with a newline */
		*end = '\0';
		if (line[0] == '#') {
			fuzz_assert(strncmp(line, "# HELP fuzz_gauge ", 18) == 0 ||
				    strcmp(line, "# HELP fuzz_gauge") == 0 ||
				    strcmp(line, "# TYPE fuzz_gauge gauge") == 0);
		} else if (line[0] != '\0') {
			char *a = NULL, *b = NULL;
			double got = 0;
			int rc = read_sample(line, "fuzz_gauge", &a, &b, &got);
			if (rc != 0)
				fprintf(stderr, "unreadable sample line: %s\n", line);
			fuzz_assert(rc == 0);
			fuzz_assert(strcmp(a, fields[0]) == 0 && strcmp(b, fields[1]) == 0);
			fuzz_assert(isnan(value) ? isnan(got) : got == value);
			free(a);
			free(b);
			samples++;
		}
		line = end + 1;
	}
	fuzz_assert(samples == 1);

	/* The same text through the kafka plugin's reader: keelson's writer and
	 * the plugin's reader agree on the format. (The writer's output was
	 * cut into lines above; render again.) */
	free(out);
	fuzz_assert(keelson_metrics_render(&out, &out_len, reg) == 0);
	struct plugin_seen seen = {.system = fields[0], .value = value};
	char err[128];
	int rc = kafka_prom_parse(out, out_len, plugin_sample, &seen, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "the kafka plugin refuses keelson's metrics (%s):\n%s\n", err, out);
	fuzz_assert(rc == 0 && seen.count == 1);
	free(out);
	keelson_metrics_free(reg);
	free(text);
	return 0;
}
