/*
 * keelson's own documents (Repository, Cluster, System) and the plugins'
 * parameters, as declarative field tables. The tables mirror the JSON
 * Schemas in repo-layout/schema/ (tests/layout/test_schema_table.c keeps
 * both in agreement); checking a document against a table reports unknown
 * keys, wrong types and missing required keys with their positions.
 */
#ifndef KEELSON_LAYOUT_SCHEMA_TABLE_H
#define KEELSON_LAYOUT_SCHEMA_TABLE_H

#include "layout/problems.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

struct keelson_yaml_stream;

#define KEELSON_LAYOUT_API_VERSION "keelson.dev/v1alpha1"
#define KEELSON_LAYOUT_API_GROUP "keelson.dev"

enum keelson_field_type {
	KEELSON_FIELD_END = 0,    /* terminates a table */
	KEELSON_FIELD_CONST,      /* string that must equal const_value */
	KEELSON_FIELD_STRING,     /* non-empty string in `format` */
	KEELSON_FIELD_BOOLEAN,
	KEELSON_FIELD_INTEGER,    /* in [minimum, maximum] */
	KEELSON_FIELD_ENUM,       /* one of enum_values */
	KEELSON_FIELD_STRING_LIST,/* list of strings in `format`; min_items */
	KEELSON_FIELD_STRING_MAP, /* mapping of string to string (labels) */
	KEELSON_FIELD_OBJECT,     /* mapping checked against `children` */
	KEELSON_FIELD_PLUGIN,     /* name of a known plugin */
	KEELSON_FIELD_PARAMETERS, /* mapping checked against the sibling plugin's table */
	KEELSON_FIELD_OBJECT_LIST,/* list of mappings, each checked against `children`; min_items */
};

enum keelson_string_format {
	KEELSON_FORMAT_ANY = 0,   /* any non-empty string */
	KEELSON_FORMAT_DNS_LABEL, /* RFC 1123 label, at most 63 characters */
	KEELSON_FORMAT_DURATION,  /* 1h30m, 5m, 30s: positive */
	KEELSON_FORMAT_GROUP_KIND,/* apps.example.com/Widget */
	KEELSON_FORMAT_API_GROUP, /* "" (the core group) or a DNS subdomain: apps, example.com */
	KEELSON_FORMAT_KIND,      /* StatefulSet */
	KEELSON_FORMAT_JSON_POINTER, /* RFC 6901, not the whole document: /spec/replicas, /a~1b */
};

#define KEELSON_FIELD_REQUIRED 1u

struct keelson_field {
	const char *name;
	enum keelson_field_type type;
	unsigned flags;
	enum keelson_string_format format;
	const char *const_value;
	const char *const *enum_values;  /* NULL-terminated */
	long long minimum, maximum;
	size_t min_items;
	const struct keelson_field *children;
	const char *description;
	/* Each value names an object of this kind (and API group) in the same
	 * system; a JSON Schema cannot say so, the loader checks it. */
	const char *refers_group;
	const char *refers_kind;
};

struct keelson_plugin_info {
	const char *name;
	const char *description;
	bool parameters_required;
	const struct keelson_field *parameters; /* KEELSON_FIELD_END-terminated */
};

/* Field table of a keelson document kind ("Repository", "Cluster",
 * "System"), or NULL for an unknown kind. */
const struct keelson_field *keelson_layout_document_fields(const char *kind);

/* The known plugins. Until the plugin host loads plugins from shared
 * objects (issue 6) this built-in table is the set of plugins and their
 * parameters; the host's registry replaces it. */
const struct keelson_plugin_info *keelson_layout_plugins(size_t *count);
const struct keelson_plugin_info *keelson_layout_plugin_find(const char *name);

/* Replace the built-in table with the loaded plugins' tables (the plugin
 * host calls this; `table` must outlive every later load). NULL restores
 * the built-in table. Not thread-safe: call before loading revisions. */
void keelson_layout_set_plugins(const struct keelson_plugin_info *table, size_t count);

/* The regular expression of a string format, exactly as the JSON Schemas
 * write it (NULL for KEELSON_FORMAT_ANY). */
const char *keelson_layout_format_pattern(enum keelson_string_format format);

/* Whether `text` is valid in `format`. */
bool keelson_layout_format_check(enum keelson_string_format format, const char *text);

/* Parse a duration ("1h30m", "45s"). Returns 0 and the number of seconds,
 * or KEELSON_EINVALID for anything else, including zero. */
int keelson_layout_duration_parse(unsigned long long *out_seconds, const char *text);

/* Check `object` (a keelson document or a part of it) against `fields`,
 * adding a problem for each unknown key, wrong type and missing required
 * key. `where` names the object in messages ("spec.policy of System").
 * Returns the number of problems added, or a negative error (ENOMEM). */
int keelson_layout_check_fields(struct keelson_problem_list *problems,
				const struct keelson_yaml_stream *stream, const char *file,
				const cJSON *object, const struct keelson_field *fields,
				const char *where);

#endif
