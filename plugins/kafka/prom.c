/*
 * Prometheus text format parser (see prom.h).
 */
#include "plugins/kafka/prom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/* Walk the labels of `p` (just after '{') up to the closing '}' within
 * `end`. For each label call `visit` (may be NULL). Returns the position
 * after '}', or NULL when malformed. */
typedef int (*label_visit)(void *ctx, const char *name, size_t name_len, const char *value, size_t value_len);

static const char *walk_labels(const char *p, const char *end, label_visit visit, void *ctx)
{
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '}')
			return p + 1;
		const char *name = p;
		if (p >= end || !name_start(*p))
			return NULL;
		while (p < end && name_char(*p))
			p++;
		size_t name_len = (size_t)(p - name);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end || *p != '=')
			return NULL;
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= end || *p != '"')
			return NULL;
		const char *value = ++p;
		while (p < end && *p != '"') {
			if (*p == '\\') {
				if (p + 1 >= end)
					return NULL;
				p++;
			}
			p++;
		}
		if (p >= end)
			return NULL;
		size_t value_len = (size_t)(p - value);
		p++;
		if (visit != NULL && visit(ctx, name, name_len, value, value_len) != 0)
			return p; /* found what the visitor wanted */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			return p + 1;
		return NULL;
	}
}

/* A number as the format writes it: a float, NaN, +Inf, -Inf. */
static int parse_value(const char *p, size_t n, double *out)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (strcmp(buf, "NaN") == 0) {
		*out = NAN;
		return 0;
	}
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
		*out = INFINITY;
		return 0;
	}
	if (strcmp(buf, "-Inf") == 0) {
		*out = -INFINITY;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' || buf[i] == 'e' || buf[i] == 'E' ||
		      buf[i] == '+' || buf[i] == '-'))
			return -1;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (*end != '\0' || end == buf || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

static int parse_line(const char *p, const char *end, struct kafka_prom_sample *s, const char **why)
{
	memset(s, 0, sizeof(*s));
	if (!name_start(*p)) {
		*why = "a sample must start with a metric name";
		return -1;
	}
	s->name = p;
	while (p < end && name_char(*p))
		p++;
	s->name_len = (size_t)(p - s->name);
	if (p < end && *p == '{') {
		const char *open = p + 1;
		const char *after = walk_labels(open, end, NULL, NULL);
		if (after == NULL) {
			*why = "malformed labels";
			return -1;
		}
		s->labels = open;
		s->labels_len = (size_t)(after - 1 - open);
		p = after;
	}
	if (p >= end || (*p != ' ' && *p != '\t')) {
		*why = "no value after the metric name";
		return -1;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *v = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	if (parse_value(v, (size_t)(p - v), &s->value) != 0) {
		*why = "the value is not a number";
		return -1;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end) { /* an optional integer timestamp */
		const char *t = p;
		if (*p == '-')
			p++;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p != end || t == p) {
			*why = "unexpected text after the value";
			return -1;
		}
	}
	return 0;
}

int kafka_prom_parse(const char *text, size_t len, kafka_prom_fn fn, void *ctx, char *err, size_t err_size)
{
	if (text == NULL || len > KAFKA_PROM_MAX_BODY) {
		snprintf(err, err_size, "body missing or larger than %u bytes", KAFKA_PROM_MAX_BODY);
		return -1;
	}
	const char *p = text, *stop = text + len;
	unsigned long line = 0;
	while (p < stop) {
		line++;
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		const char *end = nl != NULL ? nl : stop;
		if ((size_t)(end - p) > KAFKA_PROM_MAX_LINE) {
			snprintf(err, err_size, "line %lu: longer than %u bytes", line, KAFKA_PROM_MAX_LINE);
			return -1;
		}
		if (end > p && end[-1] == '\r')
			end--;
		if (memchr(p, '\0', (size_t)(end - p)) != NULL) {
			snprintf(err, err_size, "line %lu: NUL byte", line);
			return -1;
		}
		const char *q = p;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q != '#') {
			struct kafka_prom_sample s;
			const char *why = NULL;
			if (parse_line(q, end, &s, &why) != 0) {
				snprintf(err, err_size, "line %lu: %s", line, why);
				return -1;
			}
			int rc = fn(ctx, &s);
			if (rc != 0)
				return rc;
		}
		p = nl != NULL ? nl + 1 : stop;
	}
	return 0;
}

int kafka_prom_name_is(const struct kafka_prom_sample *sample, const char *name)
{
	size_t n = strlen(name);
	return sample->name_len == n && memcmp(sample->name, name, n) == 0;
}

struct label_find {
	const char *name;
	char *out;
	size_t size;
	int found;
};

static int find_label(void *ctx, const char *name, size_t name_len, const char *value, size_t value_len)
{
	struct label_find *f = ctx;
	if (strlen(f->name) != name_len || memcmp(f->name, name, name_len) != 0)
		return 0;
	size_t o = 0;
	for (size_t i = 0; i < value_len && o + 1 < f->size; i++) {
		char c = value[i];
		if (c == '\\' && i + 1 < value_len) {
			c = value[++i];
			if (c == 'n')
				c = '\n';
		}
		f->out[o++] = c;
	}
	if (f->size > 0)
		f->out[o] = '\0';
	f->found = 1;
	return 1;
}

int kafka_prom_label(const struct kafka_prom_sample *sample, const char *name, char *out, size_t size)
{
	if (size > 0)
		out[0] = '\0';
	if (sample->labels == NULL)
		return -1;
	struct label_find f = {.name = name, .out = out, .size = size};
	walk_labels(sample->labels, sample->labels + sample->labels_len + 1, find_label, &f);
	return f.found ? 0 : -1;
}
