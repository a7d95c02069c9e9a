/*
 * keelson: GitOps reconciler for stateful data systems on Kubernetes.
 * Entry point: global options, then one subcommand from the table below.
 */
#include "config.h"

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("keelson %s\n", PACKAGE_VERSION);
	return KEELSON_EXIT_OK;
}

static const struct keelson_command commands[] = {
	{"diff", "compare the repository with the live cluster", keelson_cmd_diff_usage, keelson_cmd_diff},
	{"plan", "print the steps each system's plugin would take", keelson_cmd_plan_usage, keelson_cmd_plan},
	{"plugins", "list the loaded plugins or describe one", keelson_cmd_plugins_usage, keelson_cmd_plugins},
	{"run", "run the reconciler daemon", keelson_cmd_run_usage, keelson_cmd_run},
	{"status", "print the status keelson committed to the status branch", keelson_cmd_status_usage,
	 keelson_cmd_status},
	{"sync", "apply the current revision once and exit (CI/CD)", keelson_cmd_sync_usage, keelson_cmd_sync},
	{"validate", "check a revision of the configuration repository", keelson_cmd_validate_usage,
	 keelson_cmd_validate},
	{"version", "print the version", "Usage: keelson version\n", cmd_version},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: keelson [GLOBAL OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"GitOps reconciler for stateful data systems (Kafka, Cassandra, Spark) on Kubernetes.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Global options:\n"
		"  --log-level LEVEL    debug, info (default), warn or error\n"
		"  --log-format FORMAT  logfmt (default) or json\n"
		"  --version            print the version and exit\n"
		"  --help               print this help and exit\n"
		"\n"
		"Run `keelson COMMAND --help` for a command's options.\n");
}

static const struct keelson_command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Global options take a value either as "--opt VALUE" or "--opt=VALUE". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int main(int argc, char **argv)
{
	enum keelson_log_level level = KEELSON_LOG_INFO;
	enum keelson_log_format format = KEELSON_LOG_LOGFMT;
	int i = 1;

	/* libcurl runs without its own signal handling (threads), so a write to a
	 * connection the server reset must not kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *value;
		if (strcmp(argv[i], "--version") == 0) {
			printf("keelson %s\n", PACKAGE_VERSION);
			return KEELSON_EXIT_OK;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_usage(stdout);
			return KEELSON_EXIT_OK;
		} else if ((value = option_value(argc, argv, &i, "--log-level")) != NULL) {
			if (keelson_log_level_parse(&level, value) < 0) {
				fprintf(stderr, "keelson: %s\n", keelson_error_last()->message);
				return KEELSON_EXIT_USAGE;
			}
		} else if ((value = option_value(argc, argv, &i, "--log-format")) != NULL) {
			if (keelson_log_format_parse(&format, value) < 0) {
				fprintf(stderr, "keelson: %s\n", keelson_error_last()->message);
				return KEELSON_EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "keelson: unknown option \"%s\"\n\n", argv[i]);
			print_usage(stderr);
			return KEELSON_EXIT_USAGE;
		}
	}
	keelson_log_configure(level, format, stderr);

	if (i >= argc) {
		fprintf(stderr, "keelson: no command given\n\n");
		print_usage(stderr);
		return KEELSON_EXIT_USAGE;
	}
	const struct keelson_command *command = find_command(argv[i]);
	if (command == NULL) {
		fprintf(stderr, "keelson: unknown command \"%s\"\n\n", argv[i]);
		print_usage(stderr);
		return KEELSON_EXIT_USAGE;
	}
	for (int j = i + 1; j < argc; j++) {
		if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
			fputs(command->usage, stdout);
			return KEELSON_EXIT_OK;
		}
	}
	return command->run(argc - i, argv + i);
}
