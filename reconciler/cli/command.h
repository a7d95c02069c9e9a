/*
 * Subcommands of the keelson binary. main.c dispatches from one table;
 * each command lives in its own cmd_<name>.c and parses its own options.
 */
#ifndef KEELSON_CLI_COMMAND_H
#define KEELSON_CLI_COMMAND_H

/* Exit codes shared by all subcommands. */
enum keelson_exit {
	KEELSON_EXIT_OK = 0,
	KEELSON_EXIT_FAILURE = 1, /* the command ran and found problems or failed */
	KEELSON_EXIT_USAGE = 2,   /* bad command line */
};

struct keelson_command {
	const char *name;
	const char *summary;  /* one line for `keelson --help` */
	const char *usage;    /* full help for `keelson NAME --help` */
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

int keelson_cmd_diff(int argc, char **argv);
extern const char keelson_cmd_diff_usage[];

int keelson_cmd_run(int argc, char **argv);
extern const char keelson_cmd_run_usage[];

int keelson_cmd_sync(int argc, char **argv);
extern const char keelson_cmd_sync_usage[];

int keelson_cmd_validate(int argc, char **argv);
extern const char keelson_cmd_validate_usage[];

int keelson_cmd_plugins(int argc, char **argv);
extern const char keelson_cmd_plugins_usage[];

int keelson_cmd_plan(int argc, char **argv);
extern const char keelson_cmd_plan_usage[];

int keelson_cmd_status(int argc, char **argv);
extern const char keelson_cmd_status_usage[];

struct keelson_plugin_registry;
/* Load the plugins of `dir` (NULL: the default directory, which may be
 * absent) into a new registry; errors are printed as "keelson COMMAND: ...". */
int keelson_cli_load_plugins(struct keelson_plugin_registry **out, const char *command, const char *dir);

#endif
