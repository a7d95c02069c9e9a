/* A plugin built for another ABI: the host must refuse it. */
#include <keelson/plugin.h>

static int plan(const struct keelson_host *h, struct keelson_plugin_call *c, const struct keelson_view *v)
{
	(void)h, (void)c, (void)v;
	return 0;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION + 41,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "wrong-abi",
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
