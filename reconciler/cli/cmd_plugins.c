/*
 * `keelson plugins`: the plugins this keelson would load, and with
 * --describe NAME, a plugin's parameter table.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "plugin/plugin_host.h"

#include <stdio.h>
#include <string.h>

const char keelson_cmd_plugins_usage[] =
	"Usage: keelson plugins [--plugin-dir DIR] [--describe NAME]\n"
	"\n"
	"List the plugins loaded from DIR (default: $KEELSON_PLUGIN_DIR, else the\n"
	"installed plugin directory) and the built-in ones. A plugin that cannot be\n"
	"loaded (other ABI, duplicate name, missing entry point) is an error.\n"
	"\n"
	"  --plugin-dir DIR  directory of plugin shared objects (*.so)\n"
	"  --describe NAME   print plugin NAME's parameters (spec.parameters of a System)\n";

/* Shared with `keelson plan`: the registry of DIR, or an error printed. */
int keelson_cli_load_plugins(struct keelson_plugin_registry **out, const char *command, const char *dir)
{
	int rc = keelson_plugin_registry_new(out);
	if (rc == 0) {
		rc = keelson_plugin_registry_load_dir(*out, dir ? dir : keelson_plugin_default_dir());
		/* No directory at all: only the built-ins, which is a valid setup. */
		if (rc == KEELSON_ENOTFOUND && dir == NULL)
			rc = 0;
	}
	if (rc != 0) {
		fprintf(stderr, "keelson %s: %s\n", command, keelson_error_last()->message);
		keelson_plugin_registry_free(*out);
		*out = NULL;
	}
	return rc;
}

int keelson_cmd_plugins(int argc, char **argv)
{
	const char *dir = NULL, *describe = NULL;
	for (int i = 1; i < argc; i++) {
		const char **target = strcmp(argv[i], "--plugin-dir") == 0 ? &dir
				    : strcmp(argv[i], "--describe") == 0 ? &describe : NULL;
		if (target != NULL && i + 1 < argc) {
			*target = argv[++i];
		} else if (strncmp(argv[i], "--plugin-dir=", 13) == 0) {
			dir = argv[i] + 13;
		} else if (strncmp(argv[i], "--describe=", 11) == 0) {
			describe = argv[i] + 11;
		} else {
			fprintf(stderr, "keelson plugins: %s \"%s\"\n\n%s",
				target ? "missing value for" : "unknown argument", argv[i], keelson_cmd_plugins_usage);
			return KEELSON_EXIT_USAGE;
		}
	}
	struct keelson_plugin_registry *registry = NULL;
	if (keelson_cli_load_plugins(&registry, "plugins", dir) != 0)
		return KEELSON_EXIT_FAILURE;
	int status = KEELSON_EXIT_OK;
	size_t count = keelson_plugin_registry_count(registry);
	if (describe != NULL) {
		status = KEELSON_EXIT_FAILURE;
		for (size_t i = 0; i < count; i++) {
			const char *path = NULL;
			const struct keelson_plugin *p = keelson_plugin_registry_at(registry, i, &path);
			if (strcmp(p->name, describe) == 0) {
				keelson_plugin_describe(stdout, p, path);
				status = KEELSON_EXIT_OK;
			}
		}
		if (status != KEELSON_EXIT_OK)
			fprintf(stderr, "keelson plugins: no plugin named \"%s\"; run `keelson plugins` for the list\n",
				describe);
	} else {
		printf("%-24s %-10s %s\n", "NAME", "VERSION", "FILE");
		for (size_t i = 0; i < count; i++) {
			const char *path = NULL;
			const struct keelson_plugin *p = keelson_plugin_registry_at(registry, i, &path);
			printf("%-24s %-10s %s\n", p->name, p->version ? p->version : "-", path ? path : "(built in)");
			printf("  %s\n", p->description ? p->description : "");
		}
	}
	keelson_plugin_registry_free(registry);
	return status;
}
