/* Built twice (twin_a, twin_b) under one name: the second load is refused.
 * TWIN_VERSION tells the copies apart. */
#include <keelson/plugin.h>

static int plan(const struct keelson_host *h, struct keelson_plugin_call *c, const struct keelson_view *v)
{
	(void)h, (void)c, (void)v;
	return 0;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "twin",
	.version = TWIN_VERSION,
	.description = "a plugin whose name is used twice",
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
