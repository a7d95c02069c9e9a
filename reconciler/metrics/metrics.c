/*
 * Metrics registry and text exposition (format 0.0.4).
 */
#include "config.h"

#include "metrics/metrics.h"
#include "core/error.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
	char **values;
	double value;      /* counter/gauge; histogram sum */
	unsigned long long count;
	unsigned long long *buckets; /* per bucket, not cumulative */
	struct series *next;
};

struct keelson_metric {
	struct keelson_metrics *reg;
	enum keelson_metric_type type;
	char *name, *help;
	char **labels;
	size_t label_count;
	double *bounds;
	size_t bound_count;
	struct series *first, *last;
	size_t series_count;
	struct keelson_metric *next;
};

struct keelson_metrics {
	pthread_mutex_t lock;
	struct keelson_metric *first, *last;
};

int keelson_metrics_new(struct keelson_metrics **out)
{
	struct keelson_metrics *reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory creating a metrics registry");
	pthread_mutex_init(&reg->lock, NULL);
	*out = reg;
	return 0;
}

static void free_strings(char **s, size_t n)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

static void free_series(struct series *s, size_t label_count)
{
	free_strings(s->values, label_count);
	free(s->buckets);
	free(s);
}

static void free_family(struct keelson_metric *m)
{
	for (struct series *s = m->first, *n; s != NULL; s = n) {
		n = s->next;
		free_series(s, m->label_count);
	}
	free(m->name);
	free(m->help);
	free_strings(m->labels, m->label_count);
	free(m->bounds);
	free(m);
}

void keelson_metrics_free(struct keelson_metrics *reg)
{
	if (reg == NULL)
		return;
	for (struct keelson_metric *m = reg->first, *n; m != NULL; m = n) {
		n = m->next;
		free_family(m);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

static bool valid_name(const char *s, bool colon)
{
	if (s == NULL || *s == '\0')
		return false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
			  (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static int define(struct keelson_metric **out, struct keelson_metrics *reg, enum keelson_metric_type type,
		  const char *name, const char *help, const char *const *labels, const double *bounds,
		  size_t bound_count)
{
	if (!valid_name(name, true))
		return keelson_error_set(KEELSON_EINVALID,
					 "metric name \"%s\" is not valid (letters, digits, '_' and ':', "
					 "not starting with a digit)",
					 name ? name : "(null)");
	size_t nlabels = 0;
	while (labels != NULL && labels[nlabels] != NULL) {
		const char *l = labels[nlabels];
		if (!valid_name(l, false) || strncmp(l, "__", 2) == 0 ||
		    (type == KEELSON_METRIC_HISTOGRAM && strcmp(l, "le") == 0))
			return keelson_error_set(KEELSON_EINVALID, "metric %s: label name \"%s\" is not valid",
						 name, l);
		nlabels++;
	}
	if (nlabels > KEELSON_METRICS_MAX_LABELS)
		return keelson_error_set(KEELSON_ELIMIT, "metric %s: %zu labels, at most %d", name, nlabels,
					 KEELSON_METRICS_MAX_LABELS);
	if (type == KEELSON_METRIC_HISTOGRAM) {
		if (bound_count == 0 || bound_count > KEELSON_METRICS_MAX_BUCKETS)
			return keelson_error_set(KEELSON_EINVALID, "histogram %s: needs 1 to %d buckets", name,
						 KEELSON_METRICS_MAX_BUCKETS);
		for (size_t i = 0; i < bound_count; i++)
			if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
				return keelson_error_set(KEELSON_EINVALID,
							 "histogram %s: bucket bounds must be finite and "
							 "strictly increasing",
							 name);
	}
	struct keelson_metric *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	m->reg = reg;
	m->type = type;
	m->name = strdup(name);
	m->help = strdup(help ? help : "");
	m->label_count = nlabels;
	m->labels = calloc(nlabels + 1, sizeof(char *));
	bool oom = m->name == NULL || m->help == NULL || m->labels == NULL;
	for (size_t i = 0; !oom && i < nlabels; i++)
		oom = (m->labels[i] = strdup(labels[i])) == NULL;
	if (!oom && type == KEELSON_METRIC_HISTOGRAM) {
		m->bounds = malloc(bound_count * sizeof(double));
		oom = m->bounds == NULL;
		if (!oom) {
			memcpy(m->bounds, bounds, bound_count * sizeof(double));
			m->bound_count = bound_count;
		}
	}
	if (oom) {
		free_family(m);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&reg->lock);
	for (struct keelson_metric *o = reg->first; o != NULL; o = o->next)
		if (strcmp(o->name, name) == 0) {
			pthread_mutex_unlock(&reg->lock);
			free_family(m);
			return keelson_error_set(KEELSON_EEXISTS, "metric %s is already registered", name);
		}
	if (reg->last != NULL)
		reg->last->next = m;
	else
		reg->first = m;
	reg->last = m;
	pthread_mutex_unlock(&reg->lock);
	*out = m;
	return 0;
}

int keelson_metrics_counter(struct keelson_metric **out, struct keelson_metrics *reg, const char *name,
			    const char *help, const char *const *labels)
{
	return define(out, reg, KEELSON_METRIC_COUNTER, name, help, labels, NULL, 0);
}

int keelson_metrics_gauge(struct keelson_metric **out, struct keelson_metrics *reg, const char *name,
			  const char *help, const char *const *labels)
{
	return define(out, reg, KEELSON_METRIC_GAUGE, name, help, labels, NULL, 0);
}

int keelson_metrics_histogram(struct keelson_metric **out, struct keelson_metrics *reg, const char *name,
			      const char *help, const char *const *labels, const double *buckets,
			      size_t bucket_count)
{
	return define(out, reg, KEELSON_METRIC_HISTOGRAM, name, help, labels, buckets, bucket_count);
}

static const char *val(const char *const *values, size_t i)
{
	return values != NULL && values[i] != NULL ? values[i] : "";
}

/* Under the lock. */
static struct series *find(struct keelson_metric *m, const char *const *values, struct series **prev_out)
{
	struct series *prev = NULL;
	for (struct series *s = m->first; s != NULL; prev = s, s = s->next) {
		size_t i = 0;
		while (i < m->label_count && strcmp(s->values[i], val(values, i)) == 0)
			i++;
		if (i == m->label_count) {
			if (prev_out)
				*prev_out = prev;
			return s;
		}
	}
	return NULL;
}

/* Under the lock. */
static int find_or_create(struct series **out, struct keelson_metric *m, const char *const *values)
{
	struct series *s = find(m, values, NULL);
	if (s != NULL) {
		*out = s;
		return 0;
	}
	if (m->series_count >= KEELSON_METRICS_MAX_SERIES)
		return keelson_error_set(KEELSON_ELIMIT, "metric %s: more than %d series; new label values dropped",
					 m->name, KEELSON_METRICS_MAX_SERIES);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	s->values = calloc(m->label_count + 1, sizeof(char *));
	bool oom = s->values == NULL;
	for (size_t i = 0; !oom && i < m->label_count; i++)
		oom = (s->values[i] = strdup(val(values, i))) == NULL;
	if (!oom && m->type == KEELSON_METRIC_HISTOGRAM)
		oom = (s->buckets = calloc(m->bound_count, sizeof(unsigned long long))) == NULL;
	if (oom) {
		free_series(s, m->label_count);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	if (m->last != NULL)
		m->last->next = s;
	else
		m->first = s;
	m->last = s;
	m->series_count++;
	*out = s;
	return 0;
}

static int update(struct keelson_metric *m, const char *const *values, double v, int op)
{
	if (m == NULL)
		return keelson_error_set(KEELSON_EINVALID, "metric not registered");
	static const char *const ops[] = {"add to", "set", "observe on"};
	bool ok = (op == 0 && m->type != KEELSON_METRIC_HISTOGRAM) || (op == 1 && m->type == KEELSON_METRIC_GAUGE) ||
		  (op == 2 && m->type == KEELSON_METRIC_HISTOGRAM);
	if (!ok)
		return keelson_error_set(KEELSON_EINVALID, "metric %s: cannot %s this type", m->name, ops[op]);
	if (op == 0 && m->type == KEELSON_METRIC_COUNTER && !(v >= 0))
		return keelson_error_set(KEELSON_EINVALID, "counter %s: increment %g is negative", m->name, v);
	pthread_mutex_lock(&m->reg->lock);
	struct series *s;
	int rc = find_or_create(&s, m, values);
	if (rc == 0) {
		if (op == 0)
			s->value += v;
		else if (op == 1)
			s->value = v;
		else {
			s->value += v;
			s->count++;
			for (size_t i = 0; i < m->bound_count; i++)
				if (v <= m->bounds[i]) {
					s->buckets[i]++;
					break;
				}
		}
	}
	pthread_mutex_unlock(&m->reg->lock);
	return rc;
}

int keelson_metric_add(struct keelson_metric *m, const char *const *values, double v)
{
	return update(m, values, v, 0);
}

int keelson_metric_set(struct keelson_metric *m, const char *const *values, double v)
{
	return update(m, values, v, 1);
}

int keelson_metric_observe(struct keelson_metric *m, const char *const *values, double v)
{
	return update(m, values, v, 2);
}

int keelson_metric_remove(struct keelson_metric *m, const char *const *values)
{
	pthread_mutex_lock(&m->reg->lock);
	struct series *prev = NULL;
	struct series *s = find(m, values, &prev);
	if (s != NULL) {
		if (prev != NULL)
			prev->next = s->next;
		else
			m->first = s->next;
		if (m->last == s)
			m->last = prev;
		m->series_count--;
		free_series(s, m->label_count);
	}
	pthread_mutex_unlock(&m->reg->lock);
	return 0;
}

int keelson_metric_value(double *out, struct keelson_metric *m, const char *const *values)
{
	pthread_mutex_lock(&m->reg->lock);
	struct series *s = find(m, values, NULL);
	if (s != NULL)
		*out = m->type == KEELSON_METRIC_HISTOGRAM ? (double)s->count : s->value;
	pthread_mutex_unlock(&m->reg->lock);
	return s != NULL ? 0 : keelson_error_set(KEELSON_ENOTFOUND, "metric %s: no such series", m->name);
}

struct buf {
	char *data;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* HELP escapes backslash and newline; label values also the double quote. */
static void put_escaped(struct buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (quote && *s == '"')
			puts_(b, "\\\"");
		else
			put(b, s, 1);
	}
}

/* Shortest text that reads back as the same double, as Prometheus writes. */
static void put_number(struct buf *b, double v)
{
	char s[40];
	if (isnan(v))
		strcpy(s, "NaN");
	else if (isinf(v))
		strcpy(s, v > 0 ? "+Inf" : "-Inf");
	else
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(s, sizeof(s), "%.*g", prec, v);
			if (strtod(s, NULL) == v)
				break;
		}
	puts_(b, s);
}

static void put_labels(struct buf *b, const struct keelson_metric *m, const struct series *s, const char *le)
{
	if (m->label_count == 0 && le == NULL)
		return;
	puts_(b, "{");
	for (size_t i = 0; i < m->label_count; i++) {
		if (i > 0)
			puts_(b, ",");
		puts_(b, m->labels[i]);
		puts_(b, "=\"");
		put_escaped(b, s->values[i], true);
		puts_(b, "\"");
	}
	if (le != NULL) {
		if (m->label_count > 0)
			puts_(b, ",");
		puts_(b, "le=\"");
		puts_(b, le);
		puts_(b, "\"");
	}
	puts_(b, "}");
}

static void put_sample(struct buf *b, const struct keelson_metric *m, const char *suffix, const struct series *s,
		       const char *le, double v)
{
	puts_(b, m->name);
	puts_(b, suffix);
	put_labels(b, m, s, le);
	puts_(b, " ");
	put_number(b, v);
	puts_(b, "\n");
}

int keelson_metrics_render(char **out, size_t *out_len, struct keelson_metrics *reg)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	struct buf b = {0};
	puts_(&b, "");
	pthread_mutex_lock(&reg->lock);
	for (const struct keelson_metric *m = reg->first; m != NULL; m = m->next) {
		puts_(&b, "# HELP ");
		puts_(&b, m->name);
		puts_(&b, " ");
		put_escaped(&b, m->help, false);
		puts_(&b, "\n# TYPE ");
		puts_(&b, m->name);
		puts_(&b, " ");
		puts_(&b, type_names[m->type]);
		puts_(&b, "\n");
		for (const struct series *s = m->first; s != NULL; s = s->next) {
			if (m->type != KEELSON_METRIC_HISTOGRAM) {
				put_sample(&b, m, "", s, NULL, s->value);
				continue;
			}
			unsigned long long cumulative = 0;
			for (size_t i = 0; i < m->bound_count; i++) {
				struct buf le = {0};
				put_number(&le, m->bounds[i]);
				cumulative += s->buckets[i];
				put_sample(&b, m, "_bucket", s, le.oom ? "0" : le.data, (double)cumulative);
				b.oom |= le.oom;
				free(le.data);
			}
			put_sample(&b, m, "_bucket", s, "+Inf", (double)s->count);
			put_sample(&b, m, "_sum", s, NULL, s->value);
			put_sample(&b, m, "_count", s, NULL, (double)s->count);
		}
	}
	pthread_mutex_unlock(&reg->lock);
	if (b.oom) {
		free(b.data);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory rendering metrics");
	}
	*out = b.data;
	if (out_len)
		*out_len = b.len;
	return 0;
}
