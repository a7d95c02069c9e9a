/* Loads fine but plans badly: a step without a description, or -1, chosen
 * by the parameter "mode". The host must refuse the plan, not run it.
 * Mode "probe" reports what the host services answered, for the tests of
 * the services table. Modes "built" and "bad-built" apply an object the
 * plugin wrote itself (object_json), well-formed or without a name. */
#include <keelson/plugin.h>

#include <stdio.h>

static const char *const modes[] = {"bad-step", "fail", "ok", "probe", "built", "bad-built", "status-patch", "bad-subresource", NULL};

static const struct keelson_param params[] = {
	{.name = "mode", .type = KEELSON_PARAM_ENUM, .enum_values = modes, .default_value = "bad-step",
	 .description = "how to misbehave"},
	{.name = "count", .type = KEELSON_PARAM_INTEGER, .minimum = 1, .maximum = 10, .default_value = "2",
	 .description = "a bounded integer"},
	{.name = "names", .type = KEELSON_PARAM_STRING_LIST, .description = "a list"},
	{.name = "enabled", .type = KEELSON_PARAM_BOOLEAN, .default_value = "true", .description = "a flag"},
	{.type = KEELSON_PARAM_END},
};

static int plan(const struct keelson_host *h, struct keelson_plugin_call *c, const struct keelson_view *v)
{
	const struct keelson_param_value *mode = keelson_view_param(v, "mode");
	if (strcmp(mode->string, "fail") == 0) {
		h->log(c, KEELSON_PLUGIN_LOG_ERROR, "failing on purpose");
		return -1;
	}
	if (strcmp(mode->string, "probe") == 0) {
		struct keelson_http_response resp;
		int rc = h->http(c, KEELSON_PROXY_POD, "kafka", "broker-0", "9404", "GET", "/metrics", NULL, 500, &resp);
		const struct keelson_json *pod = NULL;
		int got = h->live_get(c, "v1", "Pod", "kafka", "nope", &pod);
		char text[512];
		snprintf(text, sizeof(text), "http rc=%d status=%ld body=%s error=%s; live_get=%d; now=%lld", rc,
			 resp.status, resp.body, resp.error ? resp.error : "-", got, h->now_ms(c));
		h->log(c, KEELSON_PLUGIN_LOG_INFO, "probed: %s", text);
		struct keelson_step w = {.struct_size = sizeof(w), .kind = KEELSON_STEP_WAIT, .description = text};
		return h->add_step(c, &w);
	}
	if (strcmp(mode->string, "status-patch") == 0 || strcmp(mode->string, "bad-subresource") == 0) {
		struct keelson_step st = {
			.struct_size = sizeof(st), .kind = KEELSON_STEP_PATCH, .description = "record the state",
			.api_version = "sparkoperator.k8s.io/v1beta2", .kind_name = "SparkApplication",
			.namespace_ = "spark", .name = "etl", .patch_type = KEELSON_PATCH_MERGE,
			.patch = "{\"status\":{\"applicationState\":{\"state\":\"RUNNING\"}}}",
			.subresource = strcmp(mode->string, "status-patch") == 0 ? "status" : "exec",
		};
		return h->add_step(c, &st) == 0 ? 0 : -1;
	}
	if (strncmp(mode->string, "built", 5) == 0 || strcmp(mode->string, "bad-built") == 0) {
		struct keelson_step a = {
			.struct_size = sizeof(a), .kind = KEELSON_STEP_APPLY, .description = "create the driver pod",
			.object_json = strcmp(mode->string, "built") == 0
				? "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"etl-driver\","
				  "\"namespace\":\"spark\"},\"spec\":{\"containers\":[{\"name\":\"driver\",\"image\":\"spark:3.5\"}]}}"
				: "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{}}",
		};
		return h->add_step(c, &a) == 0 ? 0 : -1;
	}
	struct keelson_step s = {.struct_size = sizeof(s), .kind = KEELSON_STEP_WAIT,
				 .description = strcmp(mode->string, "ok") == 0 ? "wait for nothing" : NULL};
	h->add_step(c, &s);
	return 0;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "misbehaving",
	.description = "plans badly on purpose",
	.params = params,
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
