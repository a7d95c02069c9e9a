/*
 * A small, bounded parser of the Prometheus text exposition format (0.0.4),
 * enough to read the JMX exporter's gauges. Part of the kafka plugin: libc
 * only. A body that is not entirely well-formed is refused as a whole, so
 * a gate never decides on half a scrape.
 */
#ifndef KEELSON_PLUGINS_KAFKA_PROM_H
#define KEELSON_PLUGINS_KAFKA_PROM_H

#include <stddef.h>

#define KAFKA_PROM_MAX_BODY (8u * 1024u * 1024u)
#define KAFKA_PROM_MAX_LINE 65536u

struct kafka_prom_sample {
	const char *name;   /* not NUL-terminated: name_len bytes */
	size_t name_len;
	const char *labels; /* between the braces, or NULL; labels_len bytes */
	size_t labels_len;
	double value;       /* may be NaN or infinite */
};

/* Called for each sample in order; a non-zero return stops the parse and
 * is returned. */
typedef int (*kafka_prom_fn)(void *ctx, const struct kafka_prom_sample *sample);

/* Parse `len` bytes. 0 when every line is a comment, blank or a valid
 * sample; -1 with a message in err ("line 12: ...") otherwise; or what fn
 * returned. */
int kafka_prom_parse(const char *text, size_t len, kafka_prom_fn fn, void *ctx, char *err, size_t err_size);

/* Whether the sample's name is `name`. */
int kafka_prom_name_is(const struct kafka_prom_sample *sample, const char *name);

/* The unescaped value of label `name` into out (NUL-terminated, truncated
 * to size): 0, or -1 when the sample has no such label. */
int kafka_prom_label(const struct kafka_prom_sample *sample, const char *name, char *out, size_t size);

#endif
