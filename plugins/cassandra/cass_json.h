/*
 * A small, bounded JSON reader for the Management API's response bodies.
 *
 * The plugin SDK hands plugins JSON nodes only for objects of the view;
 * bodies of HTTP probes arrive as text. Until every supported host offers
 * a parse service, the plugin reads them with this parser: every body goes
 * through cass_json_parse() and nothing else, so switching to a host
 * service later touches one place.
 *
 * Limits (a probe answer breaking them is "not safe", never truncated):
 * input at most CASS_JSON_MAX_INPUT bytes, nesting CASS_JSON_MAX_DEPTH,
 * CASS_JSON_MAX_NODES values.
 */
#ifndef KEELSON_PLUGINS_CASSANDRA_CASS_JSON_H
#define KEELSON_PLUGINS_CASSANDRA_CASS_JSON_H

#include <stddef.h>

#define CASS_JSON_MAX_INPUT (4u << 20)
#define CASS_JSON_MAX_DEPTH 32
#define CASS_JSON_MAX_NODES 200000

enum cass_json_type {
	CASS_JSON_NULL = 0,
	CASS_JSON_FALSE,
	CASS_JSON_TRUE,
	CASS_JSON_NUMBER,
	CASS_JSON_STRING,
	CASS_JSON_ARRAY,
	CASS_JSON_OBJECT,
};

struct cass_json {
	enum cass_json_type type;
	char *key;                 /* member name inside an object, else NULL */
	char *text;                /* STRING: the decoded value; NUMBER: as written */
	struct cass_json *children;/* ARRAY, OBJECT */
	size_t count;
};

/* Parse `len` bytes of `text`. 0 and *out (free with cass_json_free), or
 * -1 with a short reason in `why` (what and at which byte). */
int cass_json_parse(const char *text, size_t len, struct cass_json **out, char *why, size_t why_size);

void cass_json_free(struct cass_json *node); /* accepts NULL */

/* Member `key` of an object, or NULL. */
const struct cass_json *cass_json_member(const struct cass_json *node, const char *key);

/* The string value, or NULL when `node` is not a string. */
const char *cass_json_string(const struct cass_json *node);

/* --- Editing, to build the objects the plugin applies ------------------ */

/* Member `key` of object `node`, added as an empty object when absent;
 * a member of another type is replaced by an empty object. NULL when
 * `node` is not an object or memory ran out. */
struct cass_json *cass_json_object_at(struct cass_json *node, const char *key);

/* Set member `key` of object `node` to a number or a string. 0 or -1. */
int cass_json_set_number(struct cass_json *node, const char *key, long long value);
int cass_json_set_string(struct cass_json *node, const char *key, const char *value);

/* Compact JSON text of `node` (free() it), or NULL when out of memory. */
char *cass_json_write(const struct cass_json *node);

#endif
