/*
 * keelson's own configuration file (`keelson run --config FILE`,
 * `keelson sync --config FILE`): where the desired-state repository is,
 * which clusters this instance manages and how to reach them. Documented in
 * docs/man/keelson.yaml.5.
 *
 * The file is YAML read with the core loader; unknown keys and values of the
 * wrong type are refused with file:line:column, so a typo never silently
 * falls back to a default. Credentials are never in this file: only the
 * names of files or environment variables that hold them.
 */
#ifndef KEELSON_CONFIG_CONFIG_H
#define KEELSON_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Bound on the configuration file: real ones are well under a KiB. */
#define KEELSON_CONFIG_MAX_BYTES (1024u * 1024u)
/* Most clusters one instance manages. */
#define KEELSON_CONFIG_MAX_CLUSTERS 256

struct keelson_config_cluster {
	char *name;       /* cluster name in the repository (clusters/NAME) */
	char *kubeconfig; /* kubeconfig file, or NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
	char *context;    /* kubeconfig context, or NULL: spec.kubeContext of the cluster */
};

struct keelson_config {
	char *file; /* the path it was read from */

	/* git: */
	char *git_url;
	char *git_ref;         /* default "main" */
	int git_track;         /* enum keelson_git_track; default branch */
	char *git_cache_dir;   /* root of the Git caches */
	unsigned long long poll_interval_ms; /* 0: the repository's pollInterval */
	char *git_username_file, *git_username_env, *git_token_file, *git_token_env;
	char *git_ca_file, *git_ssh_key_file, *git_ssh_username, *git_known_hosts_file;

	/* clusters: */
	struct keelson_config_cluster *clusters;
	size_t cluster_count;

	/* kubernetes: */
	double kube_qps;          /* default 50 */
	unsigned kube_burst;      /* default 100 */
	unsigned long long kube_timeout_ms; /* default 30 s */

	char *inventory_namespace;               /* default "keelson-system" */
	unsigned long long crd_established_timeout_ms; /* default 60 s */
	unsigned long long retry_initial_ms;     /* default 1 s */
	unsigned long long retry_max_ms;         /* default 5 min */

	/* Plugin shared objects; NULL: --plugin-dir, else $KEELSON_PLUGIN_DIR,
	 * else the installed directory. */
	char *plugin_dir;

	/* alerts: (blocked rollouts); none configured: log lines only. */
	char *alerts_alertmanager_url;   /* e.g. http://alertmanager:9093 */
	char *alerts_webhook_url;        /* generic JSON webhook */
	char *alerts_webhook_secret_env; /* environment variable holding the HMAC secret */
	unsigned long long alerts_repeat_interval_ms; /* 0: the sender's default (5 min) */
};

/* Read and validate the file at `path`. KEELSON_ENOTFOUND when it does not
 * exist; KEELSON_EINVALID with "file:line:column: what" for the first
 * problem found. Free with keelson_config_free. */
int keelson_config_load(struct keelson_config **out, const char *path);

/* Same, from memory; `file_name` is used in messages. */
int keelson_config_load_buffer(struct keelson_config **out, const char *data, size_t len,
			       const char *file_name);

/* The entry for cluster `name`, or NULL when this instance does not manage it. */
const struct keelson_config_cluster *keelson_config_cluster(const struct keelson_config *cfg,
							    const char *name);

/* Parse "1h30m", "45s", "500ms" (units h, m, s, ms, each at most once, in
 * that order, integers) into milliseconds. KEELSON_EINVALID otherwise. */
int keelson_config_parse_duration(unsigned long long *out_ms, const char *text);

void keelson_config_free(struct keelson_config *cfg); /* accepts NULL */

#endif
