#include "config.h"

#include "layout/schema_table.h"

#include "core/error.h"
#include "yaml/yaml_load.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tables below mirror the JSON Schemas in repo-layout/schema/; change both. */

static const char *const drift_policies[] = {"alert", "heal", "ignore", NULL};
static const char *const spark_modes[] = {"native", "operator", NULL};
static const char *const spark_on_spec_change[] = {"resubmit", "waitForCompletion", "wait", NULL};

#define STRING_FIELD(n, fmt, fl, desc) \
	{.name = (n), .type = KEELSON_FIELD_STRING, .flags = (fl), .format = (fmt), .description = (desc)}
#define DURATION_FIELD(n, fl, desc) STRING_FIELD(n, KEELSON_FORMAT_DURATION, fl, desc)
#define PORT_FIELD(n, fl, desc) \
	{.name = (n), .type = KEELSON_FIELD_INTEGER, .flags = (fl), .minimum = 1, .maximum = 65535, \
	 .description = (desc)}
#define END_FIELD {.name = NULL, .type = KEELSON_FIELD_END}

static const struct keelson_field metadata_fields[] = {
	STRING_FIELD("name", KEELSON_FORMAT_DNS_LABEL, KEELSON_FIELD_REQUIRED, "name of the document"),
	{.name = "labels", .type = KEELSON_FIELD_STRING_MAP},
	{.name = "annotations", .type = KEELSON_FIELD_STRING_MAP},
	END_FIELD,
};

#define POLICY_FIELDS(fl)                                                                       \
	{.name = "prune", .type = KEELSON_FIELD_BOOLEAN, .flags = (fl),                         \
	 .description = "delete live objects keelson applied earlier that left the repository"}, \
	{.name = "driftPolicy", .type = KEELSON_FIELD_ENUM, .flags = (fl),                      \
	 .enum_values = drift_policies, .description = "what a drift from Git does"},           \
	DURATION_FIELD("pollInterval", fl, "how often the Git remote is polled"),               \
	DURATION_FIELD("driftCheckInterval", fl, "period of the full drift check"),             \
	DURATION_FIELD("alertRepeatInterval", fl, "minimum interval between repeated alerts"),  \
	END_FIELD

static const struct keelson_field policy_required_fields[] = {POLICY_FIELDS(KEELSON_FIELD_REQUIRED)};
static const struct keelson_field policy_optional_fields[] = {POLICY_FIELDS(0)};

static const struct keelson_field repository_spec_fields[] = {
	STRING_FIELD("statusBranch", KEELSON_FORMAT_ANY, KEELSON_FIELD_REQUIRED,
		     "branch keelson commits status to"),
	{.name = "policy", .type = KEELSON_FIELD_OBJECT, .flags = KEELSON_FIELD_REQUIRED,
	 .children = policy_required_fields},
	{.name = "clusterScopedKinds", .type = KEELSON_FIELD_STRING_LIST,
	 .format = KEELSON_FORMAT_GROUP_KIND},
	{.name = "ignorePaths", .type = KEELSON_FIELD_STRING_LIST, .format = KEELSON_FORMAT_ANY},
	END_FIELD,
};

static const struct keelson_field cluster_spec_fields[] = {
	STRING_FIELD("kubeContext", KEELSON_FORMAT_ANY, KEELSON_FIELD_REQUIRED,
		     "kubeconfig context of the cluster"),
	STRING_FIELD("description", KEELSON_FORMAT_ANY, 0, NULL),
	{.name = "policy", .type = KEELSON_FIELD_OBJECT, .children = policy_optional_fields},
	END_FIELD,
};

/* What keelson_diff_ignore_rules_parse (reconciler/diff) reads; the loader
 * also runs that parser, so the two cannot drift apart unnoticed. */
static const struct keelson_field ignore_rule_fields[] = {
	STRING_FIELD("group", KEELSON_FORMAT_API_GROUP, 0, "API group of the objects (\"\" is the core group); any group when absent"),
	STRING_FIELD("kind", KEELSON_FORMAT_KIND, 0, "kind of the objects; any kind when absent"),
	{.name = "jsonPointers", .type = KEELSON_FIELD_STRING_LIST, .flags = KEELSON_FIELD_REQUIRED,
	 .format = KEELSON_FORMAT_JSON_POINTER, .min_items = 1,
	 .description = "fields whose differences are ignored, with everything below them"},
	END_FIELD,
};

static const struct keelson_field system_spec_fields[] = {
	{.name = "plugin", .type = KEELSON_FIELD_PLUGIN, .flags = KEELSON_FIELD_REQUIRED},
	STRING_FIELD("description", KEELSON_FORMAT_ANY, 0, NULL),
	{.name = "policy", .type = KEELSON_FIELD_OBJECT, .children = policy_optional_fields},
	{.name = "parameters", .type = KEELSON_FIELD_PARAMETERS},
	{.name = "ignoreDifferences", .type = KEELSON_FIELD_OBJECT_LIST, .children = ignore_rule_fields,
	 .description = "differences between the repository and the cluster that are not drift"},
	END_FIELD,
};

#define DOCUMENT_FIELDS(kind_name, spec)                                                     \
	{.name = "apiVersion", .type = KEELSON_FIELD_CONST, .flags = KEELSON_FIELD_REQUIRED,  \
	 .const_value = KEELSON_LAYOUT_API_VERSION},                                          \
	{.name = "kind", .type = KEELSON_FIELD_CONST, .flags = KEELSON_FIELD_REQUIRED,        \
	 .const_value = (kind_name)},                                                         \
	{.name = "metadata", .type = KEELSON_FIELD_OBJECT, .flags = KEELSON_FIELD_REQUIRED,   \
	 .children = metadata_fields},                                                        \
	{.name = "spec", .type = KEELSON_FIELD_OBJECT, .flags = KEELSON_FIELD_REQUIRED,       \
	 .children = (spec)},                                                                 \
	END_FIELD

static const struct keelson_field repository_fields[] = {DOCUMENT_FIELDS("Repository", repository_spec_fields)};
static const struct keelson_field cluster_fields[] = {DOCUMENT_FIELDS("Cluster", cluster_spec_fields)};
static const struct keelson_field system_fields[] = {DOCUMENT_FIELDS("System", system_spec_fields)};

const struct keelson_field *keelson_layout_document_fields(const char *kind)
{
	if (kind == NULL)
		return NULL;
	if (strcmp(kind, "Repository") == 0)
		return repository_fields;
	if (strcmp(kind, "Cluster") == 0)
		return cluster_fields;
	if (strcmp(kind, "System") == 0)
		return system_fields;
	return NULL;
}

/* Built-in plugin table: the plugin host (issue 6) replaces it with the
 * parameter tables the loaded plugins declare. */
static const struct keelson_field generic_parameters[] = {END_FIELD};

static const struct keelson_field kafka_parameters[] = {
	{.name = "statefulSets", .type = KEELSON_FIELD_STRING_LIST, .flags = KEELSON_FIELD_REQUIRED,
	 .format = KEELSON_FORMAT_DNS_LABEL, .min_items = 1,
	 .description = "StatefulSets running the Kafka nodes, KRaft controllers first",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	PORT_FIELD("metricsPort", KEELSON_FIELD_REQUIRED, "Prometheus JMX exporter port"),
	STRING_FIELD("metricsPath", KEELSON_FORMAT_ANY, 0, "path of the exporter (default /metrics)"),
	STRING_FIELD("cruiseControlService", KEELSON_FORMAT_DNS_LABEL, 0, "Service of Cruise Control"),
	PORT_FIELD("cruiseControlPort", 0, "Cruise Control port (default 9090)"),
	DURATION_FIELD("restartTimeout", 0, "time a restarted broker may take to catch up (default 5m)"),
	{.name = "controllerStatefulSets", .type = KEELSON_FIELD_STRING_LIST, .format = KEELSON_FORMAT_DNS_LABEL,
	 .min_items = 1, .description = "those of statefulSets whose pods are KRaft controllers only",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	{.name = "gracePeriodSeconds", .type = KEELSON_FIELD_INTEGER, .minimum = 0, .maximum = 86400,
	 .description = "grace period of each pod deletion (default: the pod's own)"},
	DURATION_FIELD("probeTimeout", 0, "timeout of each metrics scrape and Cruise Control request (default 10s)"),
	DURATION_FIELD("rebalanceTimeout", 0, "time a Cruise Control task may take (default 2h)"),
	END_FIELD,
};

static const struct keelson_field cassandra_parameters[] = {
	{.name = "statefulSets", .type = KEELSON_FIELD_STRING_LIST, .flags = KEELSON_FIELD_REQUIRED,
	 .format = KEELSON_FORMAT_DNS_LABEL, .min_items = 1,
	 .description = "one StatefulSet per rack, in rack order",
	 .refers_group = "apps", .refers_kind = "StatefulSet"},
	STRING_FIELD("datacenter", KEELSON_FORMAT_ANY, 0,
		     "Cassandra datacenter (default: template label cassandra.datastax.com/datacenter)"),
	PORT_FIELD("managementApiPort", 0, "Management API port; without it ring state is not verified"),
	DURATION_FIELD("rackQuietPeriod", 0, "pause between racks (default 20s)"),
	DURATION_FIELD("restartTimeout", 0, "time a restarted node may take to be Up/Normal (default 30m)"),
	{.name = "allowVolumeExpansion", .type = KEELSON_FIELD_BOOLEAN,
	 .description = "perform volume claim template changes instead of only planning them"},
	DURATION_FIELD("drainTimeout", 0, "HTTP timeout of a drain through the Management API (default 2m)"),
	DURATION_FIELD("streamingTimeout", 0, "how long a bootstrap or a decommission may take (default 12h)"),
	{.name = "deleteDecommissionedVolumes", .type = KEELSON_FIELD_BOOLEAN,
	 .description = "delete the PVCs of nodes that left the ring and whose pods a shrink removed"},
	END_FIELD,
};

static const struct keelson_field spark_parameters[] = {
	{.name = "mode", .type = KEELSON_FIELD_ENUM, .flags = KEELSON_FIELD_REQUIRED,
	 .enum_values = spark_modes, .description = "keelson creates driver pods, or a spark-operator does"},
	{.name = "onSpecChange", .type = KEELSON_FIELD_ENUM, .enum_values = spark_on_spec_change,
	 .description = "what a spec change of a running application does (default resubmit)"},
	DURATION_FIELD("driverPodCreationGracePeriod", 0, "native: a recorded driver pod missing for longer has failed"),
	DURATION_FIELD("killTimeout", 0, "how long a killed driver and its executors may take to be gone (default 5m)"),
	DURATION_FIELD("completionTimeout", 0, "waitForCompletion: how long the running attempt may take (default 24h)"),
	DURATION_FIELD("operatorTimeout", 0, "operator mode: how long spark-operator may take to settle (default 10m)"),
	END_FIELD,
};

static const struct keelson_plugin_info plugins[] = {
	{"generic", "applies plain objects, no data-plane gates", false, generic_parameters},
	{"kafka", "Kafka brokers on StatefulSets: gated one-at-a-time restarts", true, kafka_parameters},
	{"cassandra", "Cassandra racks: drain, one node at a time, decommission", true, cassandra_parameters},
	{"spark", "SparkApplications: submit, kill and resubmit on spec change", true, spark_parameters},
};

/* Installed by the plugin host (reconciler/plugin/); NULL: the built-in table. */
static const struct keelson_plugin_info *installed_plugins;
static size_t installed_count;

void keelson_layout_set_plugins(const struct keelson_plugin_info *table, size_t count)
{
	installed_plugins = table;
	installed_count = table != NULL ? count : 0;
}

const struct keelson_plugin_info *keelson_layout_plugins(size_t *count)
{
	if (installed_plugins != NULL) {
		*count = installed_count;
		return installed_plugins;
	}
	*count = sizeof(plugins) / sizeof(plugins[0]);
	return plugins;
}

const struct keelson_plugin_info *keelson_layout_plugin_find(const char *name)
{
	size_t count;
	const struct keelson_plugin_info *all = keelson_layout_plugins(&count);
	for (size_t i = 0; name != NULL && i < count; i++)
		if (strcmp(all[i].name, name) == 0)
			return &all[i];
	return NULL;
}

const char *keelson_layout_format_pattern(enum keelson_string_format format)
{
	switch (format) {
	case KEELSON_FORMAT_DNS_LABEL:
		return "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
	case KEELSON_FORMAT_DURATION:
		return "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
	case KEELSON_FORMAT_GROUP_KIND:
		return "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Z][A-Za-z0-9]*$";
	case KEELSON_FORMAT_API_GROUP:
		return "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$";
	case KEELSON_FORMAT_KIND:
		return "^[A-Z][A-Za-z0-9]*$";
	case KEELSON_FORMAT_JSON_POINTER:
		return "^(/([^~]|~[01])*)+$";
	case KEELSON_FORMAT_ANY:
		break;
	}
	return NULL;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool check_dns_label(const char *s, size_t len, bool allow_dot)
{
	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-' && !(allow_dot && s[i] == '.'))
			return false;
	return true;
}

int keelson_layout_duration_parse(unsigned long long *out_seconds, const char *text)
{
	static const struct {
		char unit;
		unsigned long long seconds;
	} units[] = {{'h', 3600}, {'m', 60}, {'s', 1}};
	const char *p = text;
	unsigned long long total = 0;
	size_t next_unit = 0;

	if (text == NULL || *text == '\0')
		goto invalid;
	while (*p != '\0') {
		unsigned long long value = 0;
		if (!isdigit((unsigned char)*p))
			goto invalid;
		while (isdigit((unsigned char)*p)) {
			/* Bounded well below overflow: a year is 3.2e7 seconds. */
			if (value > 1000000000ULL)
				goto invalid;
			value = value * 10 + (unsigned long long)(*p++ - '0');
		}
		while (next_unit < 3 && units[next_unit].unit != *p)
			next_unit++;
		if (next_unit == 3)
			goto invalid;
		total += value * units[next_unit].seconds;
		next_unit++;
		p++;
	}
	if (total == 0)
		goto invalid;
	*out_seconds = total;
	return 0;
invalid:
	return keelson_error_set(KEELSON_EINVALID,
		"\"%s\" is not a positive duration; write hours, minutes and seconds in that order, e.g. 1h30m, 5m, 45s",
		text ? text : "");
}

static bool check_kind(const char *kind)
{
	if (!(kind[0] >= 'A' && kind[0] <= 'Z'))
		return false;
	for (const char *k = kind; *k; k++)
		if (!isalnum((unsigned char)*k))
			return false;
	return true;
}

static bool check_json_pointer(const char *text)
{
	if (text[0] != '/')
		return false;
	for (const char *p = text; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return false;
	return true;
}

bool keelson_layout_format_check(enum keelson_string_format format, const char *text)
{
	size_t len = strlen(text);
	switch (format) {
	case KEELSON_FORMAT_ANY:
		return len > 0;
	case KEELSON_FORMAT_DNS_LABEL:
		return len <= 63 && check_dns_label(text, len, false);
	case KEELSON_FORMAT_DURATION: {
		unsigned long long seconds;
		return keelson_layout_duration_parse(&seconds, text) == 0;
	}
	case KEELSON_FORMAT_GROUP_KIND: {
		const char *slash = strchr(text, '/');
		if (slash == NULL || !check_dns_label(text, (size_t)(slash - text), true))
			return false;
		return check_kind(slash + 1);
	}
	case KEELSON_FORMAT_API_GROUP:
		return len == 0 || check_dns_label(text, len, true);
	case KEELSON_FORMAT_KIND:
		return check_kind(text);
	case KEELSON_FORMAT_JSON_POINTER:
		return check_json_pointer(text);
	}
	return false;
}

static const char *format_hint(enum keelson_string_format format)
{
	switch (format) {
	case KEELSON_FORMAT_DNS_LABEL:
		return "a DNS label: lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit";
	case KEELSON_FORMAT_DURATION:
		return "a positive duration such as 1h30m, 5m or 45s";
	case KEELSON_FORMAT_GROUP_KIND:
		return "GROUP/KIND, such as example.com/Widget";
	case KEELSON_FORMAT_API_GROUP:
		return "an API group such as apps or example.com, or \"\" for the core group";
	case KEELSON_FORMAT_KIND:
		return "a kind such as StatefulSet: a capital letter, then letters and digits";
	case KEELSON_FORMAT_JSON_POINTER:
		return "a JSON pointer (RFC 6901) such as /spec/replicas: '/' before each token, '~1' for '/' and '~0' for '~' inside one";
	case KEELSON_FORMAT_ANY:
		break;
	}
	return "a non-empty string";
}

static const char *json_type_name(const cJSON *node)
{
	if (cJSON_IsObject(node))
		return "a mapping";
	if (cJSON_IsArray(node))
		return "a list";
	if (cJSON_IsString(node))
		return "a string";
	if (cJSON_IsBool(node))
		return "a boolean";
	if (cJSON_IsNull(node))
		return "null";
	return "a number";
}

/* Levenshtein distance, bounded: only short keys are compared. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int unknown_key(struct keelson_problem_list *problems, const struct keelson_yaml_stream *stream,
		       const char *file, const cJSON *member, const struct keelson_field *fields,
		       const char *where)
{
	char allowed[512] = "";
	size_t used = 0;
	const char *suggestion = NULL;
	size_t best = 3;
	for (const struct keelson_field *f = fields; f->type != KEELSON_FIELD_END; f++) {
		int n = snprintf(allowed + used, sizeof(allowed) - used, "%s%s", used ? ", " : "", f->name);
		if (n > 0 && (size_t)n < sizeof(allowed) - used)
			used += (size_t)n;
		size_t d = edit_distance(member->string, f->name);
		if (d < best) {
			best = d;
			suggestion = f->name;
		}
	}
	if (fields->type == KEELSON_FIELD_END)
		return keelson_problem_add_node(problems, KEELSON_PROBLEM_UNKNOWN_KEY, stream, file, member, 1,
			"unknown key \"%s\" in %s, which takes no keys", member->string, where);
	if (suggestion != NULL)
		return keelson_problem_add_node(problems, KEELSON_PROBLEM_UNKNOWN_KEY, stream, file, member, 1,
			"unknown key \"%s\" in %s; did you mean \"%s\"? (allowed: %s)",
			member->string, where, suggestion, allowed);
	return keelson_problem_add_node(problems, KEELSON_PROBLEM_UNKNOWN_KEY, stream, file, member, 1,
		"unknown key \"%s\" in %s (allowed: %s)", member->string, where, allowed);
}

static int wrong_type(struct keelson_problem_list *problems, const struct keelson_yaml_stream *stream,
		      const char *file, const cJSON *value, const char *path, const char *expected)
{
	return keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
		"%s must be %s, not %s", path, expected, json_type_name(value));
}

/* Problem-recording helpers return 0 or an error; checks return the number
 * of problems added (here: one) or the error. */
static int one(int rc)
{
	return rc < 0 ? rc : 1;
}

static int count_or_error(int rc, int *problems_added)
{
	if (rc < 0)
		return rc;
	(*problems_added)++;
	return 0;
}

static int check_string_value(struct keelson_problem_list *problems,
			      const struct keelson_yaml_stream *stream, const char *file,
			      const cJSON *value, const char *path, enum keelson_string_format format)
{
	if (!cJSON_IsString(value))
		return one(wrong_type(problems, stream, file, value, path, format_hint(format)));
	if (!keelson_layout_format_check(format, value->valuestring))
		return one(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
			"%s is \"%s\"; it must be %s", path, value->valuestring, format_hint(format)));
	return 0;
}

static char *join_path(const char *base, const char *name)
{
	char *out = NULL;
	if (asprintf(&out, "%s%s%s", base, base[0] ? "." : "", name) < 0)
		return NULL;
	return out;
}

static int check_value(struct keelson_problem_list *problems, const struct keelson_yaml_stream *stream,
		       const char *file, const cJSON *parent, const cJSON *value,
		       const struct keelson_field *field, const char *path, const char *kind);

static int check_object(struct keelson_problem_list *problems, const struct keelson_yaml_stream *stream,
			const char *file, const cJSON *object, const struct keelson_field *fields,
			const char *path, const char *kind)
{
	int added = 0, rc = 0;
	char where[256];
	if (path[0] != '\0')
		snprintf(where, sizeof(where), "%s of %s", path, kind);
	else
		snprintf(where, sizeof(where), "%s", kind);

	const cJSON *member;
	cJSON_ArrayForEach(member, object) {
		const struct keelson_field *f = fields;
		while (f->type != KEELSON_FIELD_END && strcmp(f->name, member->string) != 0)
			f++;
		if (f->type == KEELSON_FIELD_END) {
			if ((rc = count_or_error(unknown_key(problems, stream, file, member, fields, where), &added)) < 0)
				return rc;
			continue;
		}
		char *child_path = join_path(path, f->name);
		if (child_path == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory checking %s", file);
		rc = check_value(problems, stream, file, object, member, f, child_path, kind);
		free(child_path);
		if (rc < 0)
			return rc;
		added += rc;
	}
	for (const struct keelson_field *f = fields; f->type != KEELSON_FIELD_END; f++) {
		if (!(f->flags & KEELSON_FIELD_REQUIRED) || cJSON_GetObjectItemCaseSensitive(object, f->name))
			continue;
		rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_MISSING_FIELD, stream, file, object, 0,
			"%s has no \"%s\"; it is required%s%s", where, f->name,
			f->description ? ": " : "", f->description ? f->description : "");
		if ((rc = count_or_error(rc, &added)) < 0)
			return rc;
	}
	return added;
}

static int check_value(struct keelson_problem_list *problems, const struct keelson_yaml_stream *stream,
		       const char *file, const cJSON *parent, const cJSON *value,
		       const struct keelson_field *field, const char *path, const char *kind)
{
	int added = 0, rc = 0;
	char expected[256];

	switch (field->type) {
	case KEELSON_FIELD_END:
		break;
	case KEELSON_FIELD_CONST:
		if (!cJSON_IsString(value) || strcmp(value->valuestring, field->const_value) != 0) {
			snprintf(expected, sizeof(expected), "\"%s\"", field->const_value);
			rc = cJSON_IsString(value)
				? keelson_problem_add_node(problems, KEELSON_PROBLEM_UNSUPPORTED_VERSION, stream, file,
					value, 0, "%s is \"%s\"; this keelson reads %s", path, value->valuestring, expected)
				: wrong_type(problems, stream, file, value, path, expected);
			return one(rc);
		}
		break;
	case KEELSON_FIELD_STRING:
		return check_string_value(problems, stream, file, value, path, field->format);
	case KEELSON_FIELD_BOOLEAN:
		if (!cJSON_IsBool(value))
			return one(wrong_type(problems, stream, file, value, path,
				"true or false"));
		break;
	case KEELSON_FIELD_INTEGER:
		/* The range first: casting 1e23 or NaN to long long is undefined. */
		if (!cJSON_IsNumber(value) || !(value->valuedouble > -9.2e18 && value->valuedouble < 9.2e18) ||
		    value->valuedouble != (double)(long long)value->valuedouble ||
		    value->valuedouble < (double)field->minimum || value->valuedouble > (double)field->maximum) {
			snprintf(expected, sizeof(expected), "an integer from %lld to %lld", field->minimum,
				 field->maximum);
			if (cJSON_IsNumber(value))
				rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
					"%s is %g; it must be %s", path, value->valuedouble, expected);
			else
				rc = wrong_type(problems, stream, file, value, path, expected);
			return one(rc);
		}
		break;
	case KEELSON_FIELD_ENUM: {
		size_t used = 0;
		expected[0] = '\0';
		for (const char *const *e = field->enum_values; *e; e++) {
			if (cJSON_IsString(value) && strcmp(value->valuestring, *e) == 0)
				return 0;
			int n = snprintf(expected + used, sizeof(expected) - used, "%s%s", used ? ", " : "", *e);
			if (n > 0 && (size_t)n < sizeof(expected) - used)
				used += (size_t)n;
		}
		if (cJSON_IsString(value))
			rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
				"%s is \"%s\"; it must be one of: %s", path, value->valuestring, expected);
		else
			rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
				"%s must be one of: %s; not %s", path, expected, json_type_name(value));
		return one(rc);
	}
	case KEELSON_FIELD_STRING_LIST: {
		if (!cJSON_IsArray(value)) {
			snprintf(expected, sizeof(expected), "a list of strings (each %s)", format_hint(field->format));
			return one(wrong_type(problems, stream, file, value, path, expected));
		}
		size_t index = 0;
		const cJSON *item;
		cJSON_ArrayForEach(item, value) {
			char item_path[300];
			snprintf(item_path, sizeof(item_path), "%s[%zu]", path, index++);
			if ((rc = check_string_value(problems, stream, file, item, item_path, field->format)) < 0)
				return rc;
			added += rc;
		}
		if (index < field->min_items) {
			rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
				"%s has %zu item%s; it needs at least %zu", path, index, index == 1 ? "" : "s",
				field->min_items);
			if ((rc = count_or_error(rc, &added)) < 0)
				return rc;
		}
		return added;
	}
	case KEELSON_FIELD_OBJECT_LIST: {
		if (!cJSON_IsArray(value))
			return one(wrong_type(problems, stream, file, value, path, "a list of mappings"));
		size_t index = 0;
		const cJSON *item;
		cJSON_ArrayForEach(item, value) {
			char item_path[300];
			snprintf(item_path, sizeof(item_path), "%s[%zu]", path, index++);
			if (!cJSON_IsObject(item))
				rc = one(wrong_type(problems, stream, file, item, item_path, "a mapping"));
			else
				rc = check_object(problems, stream, file, item, field->children, item_path, kind);
			if (rc < 0)
				return rc;
			added += rc;
		}
		if (index < field->min_items) {
			rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, file, value, 0,
				"%s has %zu item%s; it needs at least %zu", path, index, index == 1 ? "" : "s",
				field->min_items);
			if ((rc = count_or_error(rc, &added)) < 0)
				return rc;
		}
		return added;
	}
	case KEELSON_FIELD_STRING_MAP: {
		if (!cJSON_IsObject(value))
			return one(wrong_type(problems, stream, file, value, path,
				"a mapping of strings"));
		const cJSON *item;
		cJSON_ArrayForEach(item, value) {
			if (cJSON_IsString(item))
				continue;
			char item_path[300];
			snprintf(item_path, sizeof(item_path), "%s.%s", path, item->string);
			if ((rc = count_or_error(wrong_type(problems, stream, file, item, item_path,
				"a string (quote it)"), &added)) < 0)
				return rc;
		}
		return added;
	}
	case KEELSON_FIELD_OBJECT:
		if (!cJSON_IsObject(value))
			return one(wrong_type(problems, stream, file, value, path, "a mapping"));
		return check_object(problems, stream, file, value, field->children, path, kind);
	case KEELSON_FIELD_PLUGIN:
		if (!cJSON_IsString(value))
			return one(wrong_type(problems, stream, file, value, path,
				"the name of a plugin"));
		if (keelson_layout_plugin_find(value->valuestring) == NULL) {
			size_t count, used = 0;
			const struct keelson_plugin_info *all = keelson_layout_plugins(&count);
			expected[0] = '\0';
			for (size_t i = 0; i < count; i++) {
				int n = snprintf(expected + used, sizeof(expected) - used, "%s%s", used ? ", " : "", all[i].name);
				if (n > 0 && (size_t)n < sizeof(expected) - used)
					used += (size_t)n;
			}
			rc = keelson_problem_add_node(problems, KEELSON_PROBLEM_UNKNOWN_PLUGIN, stream, file, value, 0,
				"unknown plugin \"%s\"; known plugins: %s", value->valuestring, expected);
			return one(rc);
		}
		break;
	case KEELSON_FIELD_PARAMETERS: {
		const cJSON *plugin_name = cJSON_GetObjectItemCaseSensitive(parent, "plugin");
		const struct keelson_plugin_info *plugin =
			cJSON_IsString(plugin_name) ? keelson_layout_plugin_find(plugin_name->valuestring) : NULL;
		if (!cJSON_IsObject(value))
			return one(wrong_type(problems, stream, file, value, path, "a mapping"));
		if (plugin == NULL)
			return 0; /* unknown plugin already reported; its parameters cannot be checked */
		char where[128];
		snprintf(where, sizeof(where), "plugin %s", plugin->name);
		return check_object(problems, stream, file, value, plugin->parameters, path, where);
	}
	}
	return 0;
}

int keelson_layout_check_fields(struct keelson_problem_list *problems,
				const struct keelson_yaml_stream *stream, const char *file,
				const cJSON *object, const struct keelson_field *fields,
				const char *where)
{
	int rc = check_object(problems, stream, file, object, fields, "", where);
	if (rc < 0)
		return rc;
	/* Required-if: a plugin with a parameter table needs the mapping,
	 * whose own required keys are then checked. */
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(object, "spec");
	if (fields == system_fields && cJSON_IsObject(spec)) {
		const cJSON *plugin_name = cJSON_GetObjectItemCaseSensitive(spec, "plugin");
		const struct keelson_plugin_info *plugin =
			cJSON_IsString(plugin_name) ? keelson_layout_plugin_find(plugin_name->valuestring) : NULL;
		if (plugin != NULL && plugin->parameters_required &&
		    cJSON_GetObjectItemCaseSensitive(spec, "parameters") == NULL) {
			int added = keelson_problem_add_node(problems, KEELSON_PROBLEM_MISSING_FIELD, stream, file,
				spec, 0, "spec of System has no \"parameters\"; plugin %s requires them (see repo-layout/README.md)",
				plugin->name);
			if (added < 0)
				return added;
			rc++;
		}
	}
	return rc;
}
