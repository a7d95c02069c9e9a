/* Plans at and just past the host's limits, chosen by the parameter
 * "mode": 10,000 or 10,001 steps, an apply whose object_json is 1 MiB or
 * one byte more, a step key of 1024 or 1025 bytes. The host must take the
 * first of each pair and refuse the whole plan for the second
 * (tests/plugin/test_plugin_limits.c). Never installed. */
#include <keelson/plugin.h>

#include <stdio.h>
#include <string.h>

#define STEPS_LIMIT 10000
#define OBJECT_JSON_LIMIT (1024 * 1024)
#define KEY_LIMIT 1024

static const char *const modes[] = {"steps-at-limit", "steps-over", "object-at-limit", "object-over",
				    "key-at-limit", "key-over", NULL};

static const struct keelson_param params[] = {
	{.name = "mode", .type = KEELSON_PARAM_ENUM, .enum_values = modes, .default_value = "steps-over",
	 .description = "which limit to meet or pass"},
	{.type = KEELSON_PARAM_END},
};

static char object_json[OBJECT_JSON_LIMIT + 2];
static char key[KEY_LIMIT + 2];

static int waits(const struct keelson_host *h, struct keelson_plugin_call *c, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		char description[64];
		snprintf(description, sizeof(description), "wait %u", i + 1);
		struct keelson_step w = {.struct_size = sizeof(w), .kind = KEELSON_STEP_WAIT, .description = description};
		if (h->add_step(c, &w) != 0)
			return -1;
	}
	return 0;
}

/* A ConfigMap whose JSON text is exactly `size` bytes. */
static const char *configmap_json(size_t size)
{
	static const char head[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"big\","
				   "\"namespace\":\"odd\"},\"data\":{\"v\":\"";
	size_t n = strlen(head);
	memcpy(object_json, head, n);
	while (n < size - 3)
		object_json[n++] = 'p';
	memcpy(object_json + n, "\"}}", 4);
	return object_json;
}

static int plan(const struct keelson_host *h, struct keelson_plugin_call *c, const struct keelson_view *v)
{
	const char *mode = keelson_view_param(v, "mode")->string;
	if (strncmp(mode, "steps-", 6) == 0)
		return waits(h, c, strcmp(mode, "steps-at-limit") == 0 ? STEPS_LIMIT : STEPS_LIMIT + 1);
	if (strncmp(mode, "object-", 7) == 0) {
		size_t size = strcmp(mode, "object-at-limit") == 0 ? OBJECT_JSON_LIMIT : OBJECT_JSON_LIMIT + 1;
		struct keelson_step a = {.struct_size = sizeof(a), .kind = KEELSON_STEP_APPLY,
					 .description = "apply a big ConfigMap", .object_json = configmap_json(size)};
		return h->add_step(c, &a) == 0 ? 0 : -1;
	}
	size_t len = strcmp(mode, "key-at-limit") == 0 ? KEY_LIMIT : KEY_LIMIT + 1;
	memset(key, 'k', len);
	key[len] = '\0';
	struct keelson_step w = {.struct_size = sizeof(w), .kind = KEELSON_STEP_WAIT,
				 .description = "wait with a long key", .key = key};
	return h->add_step(c, &w) == 0 ? 0 : -1;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "oversize",
	.description = "plans at and past the host's limits",
	.params = params,
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
