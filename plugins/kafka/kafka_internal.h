/*
 * The kafka plugin's internal declarations, shared by its sources and its
 * unit tests. libc and the SDK only.
 */
#ifndef KEELSON_PLUGINS_KAFKA_INTERNAL_H
#define KEELSON_PLUGINS_KAFKA_INTERNAL_H

#include <keelson/plugin.h>

#include <stddef.h>

#define KAFKA_MAX_STS 8
#define KAFKA_MAX_PODS 256
#define KAFKA_CONFIG_HASH_ANNOTATION "keelson.dev/config-hash"

/* A growing text buffer; `oom` records a failed allocation (the text is
 * then unusable). */
struct kafka_buf {
	char *text;
	size_t len, cap;
	int oom;
};

void kafka_buf_add(struct kafka_buf *b, const char *s, size_t n);
void kafka_buf_printf(struct kafka_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kafka_buf_json_string(struct kafka_buf *b, const char *s);
void kafka_buf_free(struct kafka_buf *b);

/* What the metrics of one pod say, summed over its series. */
struct kafka_metrics {
	int has_urp, has_umi, has_offline, has_active, has_partitions, has_state;
	double urp;        /* kafka_server_replicamanager_underreplicatedpartitions */
	double umi;        /* kafka_server_replicamanager_underminisrpartitioncount */
	double offline;    /* kafka_controller_kafkacontroller_offlinepartitionscount */
	double active;     /* kafka_controller_kafkacontroller_activecontrollercount */
	double partitions; /* kafka_server_replicamanager_partitioncount */
	double state;      /* kafka_server_kafkaserver_brokerstate */
};

/* Parse a scrape of the JMX exporter. 0, or -1 with why (a malformed
 * body, a NaN or negative value of a gauge the gates read). */
int kafka_metrics_parse(struct kafka_metrics *out, const char *body, size_t len, char *why, size_t why_size);

/* FNV-1a 64 of the data and binaryData of ConfigMap `cm` (keys sorted, so
 * reordering the YAML changes nothing), mixed into *hash. -1 when the
 * object has more keys than the plugin sorts. */
int kafka_hash_configmap(const struct keelson_host *h, const struct keelson_json *cm, unsigned long long *hash);

/* Whether every field `desired` sets is equal in `live` (objects: a subset
 * of keys; arrays: same length, element by element). */
int kafka_json_subset(const struct keelson_host *h, struct keelson_plugin_call *call,
		      const struct keelson_json *desired, const struct keelson_json *live);

/* The JSON text of `node` with the value at each override path replaced by
 * raw JSON text (intermediate objects created). Paths are arrays of keys,
 * not JSON pointers, so keys may contain '/'. */
struct kafka_override {
	const char *path[8];
	size_t depth;
	const char *json;
};
void kafka_json_rewrite(const struct keelson_host *h, struct keelson_plugin_call *call, struct kafka_buf *out,
			const struct keelson_json *node, const struct kafka_override *overrides, size_t count);

/* Seconds since the epoch of an RFC 3339 time ("2026-11-26T01:30:00Z",
 * fractions and offsets accepted), or -1. */
long long kafka_parse_time(const char *text);

#endif
