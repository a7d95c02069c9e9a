/* A descriptor shorter than the host's (an older header's layout). */
#include <keelson/plugin.h>

static int plan(const struct keelson_host *h, struct keelson_plugin_call *c, const struct keelson_view *v)
{
	(void)h, (void)c, (void)v;
	return 0;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = 16,
	.name = "short-struct",
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
