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
	char *alerts_webhook_secret_file; /* file holding the HMAC secret (wins over the env) */

	/* http: keelson run's HTTP endpoint (webhooks, /metrics, /healthz,
	 * /readyz). Served when the section is present; without it, only when
	 * running in a pod (KUBERNETES_SERVICE_HOST set), at the default. */
	bool http_enabled;               /* the section is present */
	char *http_address;              /* IP literal; default "0.0.0.0" */
	unsigned http_port;              /* default 8080; 0: any free port (tests) */
	size_t http_max_body_bytes;      /* 0: the server's default (1 MiB) */
	char *http_github_secret_file;   /* X-Hub-Signature-256 secret; NULL: /hooks/github off */
	char *http_gitlab_token_file;    /* X-Gitlab-Token; NULL: /hooks/gitlab off */
	char *http_generic_secret_file;  /* HMAC secret of /hooks/generic; NULL: off */
	char *http_generic_header;       /* NULL: X-Keelson-Signature-256 */

	/* status: the status branch (docs/status-branch.md). Written when the
	 * section is present; pushes use the git section's credentials. */
	bool status_enabled;
	char *status_branch;             /* default "keelson/status" */
	unsigned long long status_interval_ms; /* at most one commit per interval; default 30 s */
	char *status_author_name;        /* default "keelson" */
	char *status_author_email;       /* default "keelson@localhost" */
	char *status_instance;           /* default: the host name */
	unsigned status_history;         /* transitions kept per file; default 20 */
	char *status_cache_dir;          /* default: <git.cacheDir>/status-<repository> */

	/* forge: commit statuses on the source commit (needs status). */
	char *forge_api_url;             /* e.g. https://api.github.com */
	char *forge_repository;          /* "owner/repo" */
	char *forge_token_file;
	char *forge_target_url;          /* optional link shown with each status */
	char *forge_ca_file;
	unsigned long long forge_timeout_ms; /* 0: 10 s */

	/* leaderElection: (reconciler/election/README.md). Present: only the
	 * holder of the Lease reconciles and writes status; absent: this
	 * instance always acts. */
	bool leader_election;              /* the section is present */
	char *leader_election_cluster;     /* cluster holding the Lease; NULL: the first */
	char *leader_election_namespace;   /* NULL: inventoryNamespace */
	char *leader_election_lease_name;  /* NULL: "keelson" */
	char *leader_election_identity;    /* NULL: $POD_NAME, else HOSTNAME_PID */
	unsigned long long leader_election_lease_ms;    /* 0: 15 s */
	unsigned long long leader_election_renew_ms;    /* renewDeadline; 0: 10 s */
	unsigned long long leader_election_retry_ms;    /* retryPeriod; 0: 2 s */
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
