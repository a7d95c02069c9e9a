/*
 * Where the Kubernetes API server is and how to authenticate to it.
 *
 * Two sources, as client-go has them: a kubeconfig file (YAML; current or
 * named context) and the in-cluster service-account files. The result is a
 * plain struct the client copies; nothing here opens a connection.
 *
 * Certificate and key material given inline in a kubeconfig
 * (certificate-authority-data, client-certificate-data, client-key-data) is
 * base64-decoded here; material given as a path stays a path, resolved
 * relative to the kubeconfig's directory as kubectl does.
 */
#ifndef KEELSON_KUBE_CONFIG_H
#define KEELSON_KUBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Bound on a kubeconfig or service-account file: real ones are a few KiB
 * (a handful of inline certificates). */
#define KEELSON_KUBE_CONFIG_MAX_BYTES (4u * 1024u * 1024u)

/* Default location of the service-account files inside a pod. */
#define KEELSON_KUBE_SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct keelson_kube_config {
	char *server;           /* "https://host:port", no trailing '/' */
	char *context;          /* context name, or "in-cluster" */
	char *cluster;          /* cluster name ("" in-cluster) */
	char *user;             /* user name ("" in-cluster) */
	char *namespace;        /* context namespace, default "default" */
	char *tls_server_name;  /* SNI/verification name override, or NULL */
	char *proxy_url;        /* cluster proxy-url, or NULL (then curl follows
	                           HTTPS_PROXY/NO_PROXY like kubectl) */
	bool insecure_skip_tls_verify;

	char *ca_file;          /* PEM file, or NULL */
	char *ca_data;          /* PEM bytes, or NULL */
	size_t ca_data_len;

	char *token;            /* bearer token, or NULL */
	char *token_file;       /* re-read periodically (rotating tokens), or NULL */

	char *client_cert_file; /* PEM, or NULL */
	char *client_cert_data;
	size_t client_cert_data_len;
	char *client_key_file;
	char *client_key_data;
	size_t client_key_data_len;
};

#define KEELSON_KUBE_CONFIG_OPTIONS_VERSION 1

struct keelson_kube_config_options {
	unsigned version;    /* KEELSON_KUBE_CONFIG_OPTIONS_VERSION */
	const char *context; /* NULL: the file's current-context */
};

void keelson_kube_config_options_init(struct keelson_kube_config_options *opts);

/* Load the kubeconfig at `path`. `opts` may be NULL (current context).
 * Errors: KEELSON_ENOTFOUND (no file, or the context/cluster/user named does
 * not exist), KEELSON_EINVALID (not YAML, missing server, bad base64, an
 * auth method keelson does not support such as exec or auth-provider). */
int keelson_kube_config_load_file(struct keelson_kube_config **out, const char *path,
	const struct keelson_kube_config_options *opts);

/* Same, from memory. `file_name` is used in messages and relative paths are
 * resolved against its directory (NULL: "<kubeconfig>", relative to cwd). */
int keelson_kube_config_load_buffer(struct keelson_kube_config **out, const char *data,
	size_t len, const char *file_name, const struct keelson_kube_config_options *opts);

/* In-cluster configuration: server from KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT, CA from `sa_dir`/ca.crt, token from
 * `sa_dir`/token (kept as token_file: bound tokens rotate), namespace from
 * `sa_dir`/namespace. `sa_dir` NULL means KEELSON_KUBE_SERVICEACCOUNT_DIR.
 * KEELSON_ENOTFOUND when not running in a cluster. */
int keelson_kube_config_in_cluster(struct keelson_kube_config **out, const char *sa_dir);

/* What kubectl would use: $KUBECONFIG (the first existing file of the
 * colon-separated list; keelson does not merge files), else the in-cluster
 * files when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. */
int keelson_kube_config_load_default(struct keelson_kube_config **out,
	const struct keelson_kube_config_options *opts);

/* Deep copy. */
int keelson_kube_config_dup(struct keelson_kube_config **out, const struct keelson_kube_config *cfg);

/* Accepts NULL. Wipes the token and key material before freeing. */
void keelson_kube_config_free(struct keelson_kube_config *cfg);

/* Decode standard base64 (padding optional, whitespace ignored). *out is
 * NUL-terminated for convenience; caller frees. KEELSON_EINVALID on a
 * character outside the alphabet. */
int keelson_kube_base64_decode(char **out, size_t *out_len, const char *text);

#endif
