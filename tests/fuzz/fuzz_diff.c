/*
 * The diff (reconciler/diff): desired object (YAML, from the repository)
 * against a live object (JSON, from the API server), ignore rules, and
 * rendering. Input: YAML of the desired object, a line "%%", the live
 * object as JSON, optionally another "%%" line and an ignoreDifferences
 * list as YAML. Properties: an object diffed against itself is in sync;
 * keelson_diff_yaml() output loads back as the same value and holds no
 * control character (it is printed on terminals).
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "diff/diff.h"
#include "json/json_canonical.h"
#include "layout/layout.h"
#include "yaml/yaml_load.h"

#include <string.h>

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	devnull = fopen("/dev/null", "w");
	return 0;
}

static const char *string_member(const cJSON *o, const char *key, const char *fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : fallback;
}

static void diff_and_render(const struct keelson_object *desired, const cJSON *live,
			    const struct keelson_diff_ignore_rules *rules)
{
	struct keelson_diff_options opts;
	keelson_diff_options_init(&opts);
	opts.ignore = rules;
	opts.max_fields = 200;
	struct keelson_diff_object *obj = NULL;
	if (keelson_diff_object(&obj, desired, live, &opts) != 0) {
		fuzz_assert(obj == NULL);
		return;
	}
	fuzz_assert(obj->field_count <= opts.max_fields);
	keelson_diff_render_unified(devnull, obj, true);
	cJSON *json = keelson_diff_object_to_json(obj);
	fuzz_assert(json != NULL);
	cJSON_Delete(json);
	keelson_diff_object_free(obj);
}

/* What keelson diff prints goes to a terminal: no control character of a
 * value (an escape sequence in a ConfigMap) may reach it raw. */
static void terminal_safe(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		fuzz_assert(*p >= 0x20 || *p == '\n');
		fuzz_assert(*p != 0x7f);
		fuzz_assert(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f));
	}
}

/* keelson_diff_yaml prints block YAML; the loader must read back the same
 * value (that is what a reviewer copies into the repository). */
static void yaml_round_trip(const cJSON *value)
{
	char *text = keelson_diff_yaml(value);
	if (text == NULL)
		return;
	terminal_safe(text);
	struct keelson_yaml_stream *stream = NULL;
	int rc = keelson_yaml_load_buffer(&stream, text, strlen(text), "diff.yaml", NULL);
	if (rc != 0)
		fprintf(stderr, "keelson_diff_yaml output does not load: %s\n---\n%s\n",
			keelson_error_last()->message, text);
	fuzz_assert(rc == 0);
	/* Null roots are skipped documents. */
	if (!cJSON_IsNull(value)) {
		const cJSON *back = keelson_yaml_document(stream, 0);
		fuzz_assert(back != NULL);
		if (!keelson_json_equal(back, value)) {
			char *a = keelson_json_canonical(value), *b = keelson_json_canonical(back);
			fprintf(stderr, "round trip changed the value:\n%s\n%s\n---\n%s\n", a, b, text);
			free(a);
			free(b);
			fuzz_assert(0);
		}
	}
	keelson_yaml_stream_free(stream);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *desired_text, *rest, *live_text, *rules_text;
	size_t desired_len, rest_len, live_len, rules_len;
	fuzz_split(data, size, "\n%%\n", &desired_text, &desired_len, &rest, &rest_len);
	fuzz_split(rest, rest_len, "\n%%\n", &live_text, &live_len, &rules_text, &rules_len);

	struct keelson_yaml_stream *stream = NULL, *rules_stream = NULL;
	struct keelson_diff_ignore_rules *rules = NULL;
	cJSON *live = NULL;
	if (keelson_yaml_load_buffer(&stream, (const char *)desired_text, desired_len, "obj.yaml", NULL) != 0)
		return 0;
	const cJSON *body = keelson_yaml_document(stream, 0);
	if (!cJSON_IsObject(body))
		goto out;
	if (rules_len > 0 &&
	    keelson_yaml_load_buffer(&rules_stream, (const char *)rules_text, rules_len, "rules.yaml", NULL) == 0 &&
	    keelson_yaml_document_count(rules_stream) > 0 &&
	    keelson_diff_ignore_rules_parse(&rules, keelson_yaml_document(rules_stream, 0), rules_stream) == 0) {
		fuzz_assert(rules != NULL && rules->count <= KEELSON_DIFF_MAX_IGNORE_RULES);
	}

	const char *api_version = string_member(body, "apiVersion", "v1");
	const char *slash = strchr(api_version, '/');
	char group[256] = "";
	if (slash != NULL)
		snprintf(group, sizeof(group), "%.*s", (int)(slash - api_version), api_version);
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	struct keelson_object desired = {
		.api_version = api_version, .group = group,
		.kind = string_member(body, "kind", "ConfigMap"),
		.namespace_ = string_member(metadata, "namespace", ""),
		.name = string_member(metadata, "name", "fuzz"),
		.body = body, .stream = stream, .file = "obj.yaml", .line = 1, .column = 1,
	};

	/* Against itself: nothing can differ. */
	struct keelson_diff_options opts;
	keelson_diff_options_init(&opts);
	struct keelson_diff_object *same = NULL;
	if (keelson_diff_object(&same, &desired, body, &opts) == 0) {
		if (same->state != KEELSON_DIFF_IN_SYNC) {
			char *text = keelson_json_canonical(body);
			fprintf(stderr, "object differs from itself (%s, %zu fields, first %s): %s\n",
				keelson_diff_state_name(same->state), same->field_count,
				same->field_count ? same->fields[0].pointer : "-", text);
			free(text);
		}
		fuzz_assert(same->state == KEELSON_DIFF_IN_SYNC && same->field_count == 0);
		keelson_diff_object_free(same);
	}

	diff_and_render(&desired, NULL, rules);
	live = cJSON_ParseWithLength((const char *)live_text, live_len);
	if (live != NULL) {
		diff_and_render(&desired, live, rules);
		struct keelson_diff_object *gone = NULL;
		if (keelson_diff_not_in_repo(&gone, live) == 0)
			keelson_diff_object_free(gone);
		/* The API server sends valid UTF-8 and unique keys; the YAML
		 * printer need not round-trip anything else. */
		if (fuzz_utf8_valid(live_text, live_len) && !fuzz_has_duplicate_keys(live)) {
			yaml_round_trip(live);
		} else {
			char *text = keelson_diff_yaml(live);
			if (text != NULL)
				terminal_safe(text);
			free(text);
		}
	}
	yaml_round_trip(body);
out:
	cJSON_Delete(live);
	keelson_diff_ignore_rules_free(rules);
	keelson_yaml_stream_free(rules_stream);
	keelson_yaml_stream_free(stream);
	return 0;
}
