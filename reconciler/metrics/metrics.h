/*
 * A small Prometheus metrics registry: counters, gauges and histograms with
 * fixed buckets, each a family with a fixed list of label names, rendered in
 * the text exposition format 0.0.4 (HELP/TYPE lines, escaped label values).
 *
 * Thread-safe: one mutex per registry; an update is a lookup in a short list
 * and an addition, cheap next to the request it measures. The number of
 * series per family is bounded (KEELSON_METRICS_MAX_SERIES), so a label fed
 * from outside (an object name) cannot grow memory without bound.
 */
#ifndef KEELSON_METRICS_METRICS_H
#define KEELSON_METRICS_METRICS_H

#include <stddef.h>

#define KEELSON_METRICS_MAX_SERIES 10000
#define KEELSON_METRICS_MAX_LABELS 8
#define KEELSON_METRICS_MAX_BUCKETS 32

struct keelson_metrics;
struct keelson_metric;

enum keelson_metric_type {
	KEELSON_METRIC_COUNTER = 0,
	KEELSON_METRIC_GAUGE = 1,
	KEELSON_METRIC_HISTOGRAM = 2,
};

int keelson_metrics_new(struct keelson_metrics **out);
void keelson_metrics_free(struct keelson_metrics *reg); /* accepts NULL */

/* Register a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (and not "le" for a
 * histogram); `labels` is NULL-terminated (NULL for none). Histogram
 * `buckets` are strictly increasing upper bounds without +Inf (added on
 * output). The family is owned by the registry: `*out` is borrowed.
 * KEELSON_EEXISTS when the name is taken, KEELSON_EINVALID for bad names. */
int keelson_metrics_counter(struct keelson_metric **out, struct keelson_metrics *reg, const char *name,
			    const char *help, const char *const *labels);
int keelson_metrics_gauge(struct keelson_metric **out, struct keelson_metrics *reg, const char *name,
			  const char *help, const char *const *labels);
int keelson_metrics_histogram(struct keelson_metric **out, struct keelson_metrics *reg, const char *name,
			      const char *help, const char *const *labels, const double *buckets,
			      size_t bucket_count);

/* Update the series whose label values are `values` (as many as the family
 * has label names; NULL values read as ""). add: counters (v >= 0) and
 * gauges; set: gauges; observe: histograms. KEELSON_EINVALID on a type
 * mismatch or a negative counter increment, KEELSON_ELIMIT when a new
 * series would pass KEELSON_METRICS_MAX_SERIES. */
int keelson_metric_add(struct keelson_metric *m, const char *const *values, double v);
int keelson_metric_set(struct keelson_metric *m, const char *const *values, double v);
int keelson_metric_observe(struct keelson_metric *m, const char *const *values, double v);

/* Drop one series (a system that left the repository); 0 also when absent. */
int keelson_metric_remove(struct keelson_metric *m, const char *const *values);

/* Current value of a counter or gauge series, or a histogram's count;
 * KEELSON_ENOTFOUND when the series does not exist (for tests and status). */
int keelson_metric_value(double *out, struct keelson_metric *m, const char *const *values);

/* The whole registry in text format 0.0.4, families in registration order,
 * series in creation order. Caller frees `*out` (NUL-terminated). */
int keelson_metrics_render(char **out, size_t *out_len, struct keelson_metrics *reg);

/* Content-Type of the rendered text. */
#define KEELSON_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
