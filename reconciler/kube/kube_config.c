#include "config.h"

#include "kube/kube_config.h"

#include "core/error.h"
#include "core/log.h"
#include "yaml/yaml_load.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void keelson_kube_config_options_init(struct keelson_kube_config_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_CONFIG_OPTIONS_VERSION;
}

static void wipe_free(char *p, size_t len)
{
	if (p == NULL)
		return;
	/* volatile so the compiler keeps the wipe of secret material */
	volatile char *v = p;
	for (size_t i = 0; i < len; i++)
		v[i] = 0;
	free(p);
}

void keelson_kube_config_free(struct keelson_kube_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->server);
	free(cfg->context);
	free(cfg->cluster);
	free(cfg->user);
	free(cfg->namespace);
	free(cfg->tls_server_name);
	free(cfg->proxy_url);
	free(cfg->ca_file);
	free(cfg->ca_data);
	wipe_free(cfg->token, cfg->token ? strlen(cfg->token) : 0);
	free(cfg->token_file);
	free(cfg->client_cert_file);
	free(cfg->client_cert_data);
	free(cfg->client_key_file);
	wipe_free(cfg->client_key_data, cfg->client_key_data_len);
	free(cfg);
}

static int dup_str(char **out, const char *s)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory copying kubeconfig");
}

static int dup_mem(char **out, const char *s, size_t len)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	*out = malloc(len + 1);
	if (*out == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory copying kubeconfig");
	memcpy(*out, s, len);
	(*out)[len] = '\0';
	return 0;
}

int keelson_kube_config_dup(struct keelson_kube_config **out, const struct keelson_kube_config *cfg)
{
	struct keelson_kube_config *c = calloc(1, sizeof(*c));
	int error;

	*out = NULL;
	if (c == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory copying kubeconfig");
	c->insecure_skip_tls_verify = cfg->insecure_skip_tls_verify;
	c->ca_data_len = cfg->ca_data_len;
	c->client_cert_data_len = cfg->client_cert_data_len;
	c->client_key_data_len = cfg->client_key_data_len;
	if ((error = dup_str(&c->server, cfg->server)) < 0 ||
	    (error = dup_str(&c->context, cfg->context)) < 0 ||
	    (error = dup_str(&c->cluster, cfg->cluster)) < 0 ||
	    (error = dup_str(&c->user, cfg->user)) < 0 ||
	    (error = dup_str(&c->namespace, cfg->namespace)) < 0 ||
	    (error = dup_str(&c->tls_server_name, cfg->tls_server_name)) < 0 ||
	    (error = dup_str(&c->proxy_url, cfg->proxy_url)) < 0 ||
	    (error = dup_str(&c->ca_file, cfg->ca_file)) < 0 ||
	    (error = dup_mem(&c->ca_data, cfg->ca_data, cfg->ca_data_len)) < 0 ||
	    (error = dup_str(&c->token, cfg->token)) < 0 ||
	    (error = dup_str(&c->token_file, cfg->token_file)) < 0 ||
	    (error = dup_str(&c->client_cert_file, cfg->client_cert_file)) < 0 ||
	    (error = dup_mem(&c->client_cert_data, cfg->client_cert_data, cfg->client_cert_data_len)) < 0 ||
	    (error = dup_str(&c->client_key_file, cfg->client_key_file)) < 0 ||
	    (error = dup_mem(&c->client_key_data, cfg->client_key_data, cfg->client_key_data_len)) < 0) {
		keelson_kube_config_free(c);
		return error;
	}
	*out = c;
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int keelson_kube_base64_decode(char **out, size_t *out_len, const char *text)
{
	size_t len = strlen(text);
	char *buf = malloc(len / 4 * 3 + 4);
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	bool padding = false;

	*out = NULL;
	*out_len = 0;
	if (buf == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory decoding base64");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			padding = true;
			continue;
		}
		int v = b64_value(c);
		if (v < 0 || padding) {
			free(buf);
			return keelson_error_set(KEELSON_EINVALID,
				"invalid base64: unexpected character at offset %zu", i);
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (bits >= 6) {
		free(buf);
		return keelson_error_set(KEELSON_EINVALID, "invalid base64: truncated input");
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

/* A named entry ("- name: x\n  cluster: {...}") of a kubeconfig list. */
static const cJSON *find_named(const cJSON *root, const char *list, const char *member, const char *name)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, list);
	const cJSON *item;

	if (!cJSON_IsArray(items))
		return NULL;
	cJSON_ArrayForEach(item, items) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
			const cJSON *body = cJSON_GetObjectItemCaseSensitive(item, member);
			return cJSON_IsObject(body) ? body : NULL;
		}
	}
	return NULL;
}

static const char *get_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* kubectl resolves relative paths against the kubeconfig's directory. */
static int resolve_path(char **out, const char *file_name, const char *path)
{
	const char *slash = file_name ? strrchr(file_name, '/') : NULL;

	*out = NULL;
	if (path[0] == '/' || slash == NULL)
		return dup_str(out, path);
	size_t dir_len = (size_t)(slash - file_name);
	size_t need = dir_len + 1 + strlen(path) + 1;
	*out = malloc(need);
	if (*out == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	snprintf(*out, need, "%.*s/%s", (int)dir_len, file_name, path);
	return 0;
}

static int decode_field(char **out, size_t *out_len, const char *b64, const char *file_name,
	const char *what, const char *owner)
{
	if (keelson_kube_base64_decode(out, out_len, b64) < 0)
		return keelson_error_wrap(KEELSON_EINVALID, "%s: %s of \"%s\"", file_name, what, owner);
	return 0;
}

static int parse_kubeconfig(struct keelson_kube_config *c, const cJSON *root, const char *file_name,
	const struct keelson_kube_config_options *opts)
{
	const char *context_name = opts && opts->context ? opts->context : get_string(root, "current-context");
	const cJSON *context, *cluster, *user;
	const char *s;
	int error;

	if (!cJSON_IsObject(root))
		return keelson_error_set(KEELSON_EINVALID, "%s: not a kubeconfig (the document is not a mapping)", file_name);
	if (context_name == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND,
			"%s: no current-context is set; name a context or run `kubectl config use-context NAME`", file_name);
	if ((context = find_named(root, "contexts", "context", context_name)) == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: context \"%s\" not found", file_name, context_name);
	const char *cluster_name = get_string(context, "cluster");
	const char *user_name = get_string(context, "user");
	if (cluster_name == NULL)
		return keelson_error_set(KEELSON_EINVALID, "%s: context \"%s\" names no cluster", file_name, context_name);
	if ((cluster = find_named(root, "clusters", "cluster", cluster_name)) == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: cluster \"%s\" (of context \"%s\") not found",
			file_name, cluster_name, context_name);
	user = NULL;
	if (user_name != NULL && (user = find_named(root, "users", "user", user_name)) == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: user \"%s\" (of context \"%s\") not found",
			file_name, user_name, context_name);

	if ((error = dup_str(&c->context, context_name)) < 0 ||
	    (error = dup_str(&c->cluster, cluster_name)) < 0 ||
	    (error = dup_str(&c->user, user_name ? user_name : "")) < 0 ||
	    (error = dup_str(&c->namespace, get_string(context, "namespace") ?
			get_string(context, "namespace") : "default")) < 0)
		return error;

	if ((s = get_string(cluster, "server")) == NULL)
		return keelson_error_set(KEELSON_EINVALID, "%s: cluster \"%s\" has no server", file_name, cluster_name);
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return keelson_error_set(KEELSON_EINVALID,
			"%s: cluster \"%s\": server \"%s\" must start with https:// (or http://)", file_name, cluster_name, s);
	if ((error = dup_str(&c->server, s)) < 0)
		return error;
	size_t slen = strlen(c->server);
	while (slen > 0 && c->server[slen - 1] == '/')
		c->server[--slen] = '\0';

	const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
	c->insecure_skip_tls_verify = cJSON_IsTrue(insecure);
	if ((error = dup_str(&c->tls_server_name, get_string(cluster, "tls-server-name"))) < 0 ||
	    (error = dup_str(&c->proxy_url, get_string(cluster, "proxy-url"))) < 0)
		return error;
	if ((s = get_string(cluster, "certificate-authority-data")) != NULL) {
		if ((error = decode_field(&c->ca_data, &c->ca_data_len, s, file_name,
				"certificate-authority-data", cluster_name)) < 0)
			return error;
	} else if ((s = get_string(cluster, "certificate-authority")) != NULL) {
		if ((error = resolve_path(&c->ca_file, file_name, s)) < 0)
			return error;
	}

	if (user == NULL)
		return 0;
	if (cJSON_GetObjectItemCaseSensitive(user, "exec") || cJSON_GetObjectItemCaseSensitive(user, "auth-provider"))
		return keelson_error_set(KEELSON_EINVALID,
			"%s: user \"%s\" uses an exec or auth-provider plugin, which keelson does not run; "
			"use a token, token file or client certificate", file_name, user_name);
	if (get_string(user, "username") || get_string(user, "password"))
		return keelson_error_set(KEELSON_EINVALID,
			"%s: user \"%s\" uses basic authentication, removed from Kubernetes in 1.19; "
			"use a token or client certificate", file_name, user_name);
	if ((error = dup_str(&c->token, get_string(user, "token"))) < 0)
		return error;
	if ((s = get_string(user, "tokenFile")) != NULL && (error = resolve_path(&c->token_file, file_name, s)) < 0)
		return error;
	if ((s = get_string(user, "client-certificate-data")) != NULL) {
		if ((error = decode_field(&c->client_cert_data, &c->client_cert_data_len, s, file_name,
				"client-certificate-data", user_name)) < 0)
			return error;
	} else if ((s = get_string(user, "client-certificate")) != NULL) {
		if ((error = resolve_path(&c->client_cert_file, file_name, s)) < 0)
			return error;
	}
	if ((s = get_string(user, "client-key-data")) != NULL) {
		if ((error = decode_field(&c->client_key_data, &c->client_key_data_len, s, file_name,
				"client-key-data", user_name)) < 0)
			return error;
	} else if ((s = get_string(user, "client-key")) != NULL) {
		if ((error = resolve_path(&c->client_key_file, file_name, s)) < 0)
			return error;
	}
	bool has_cert = c->client_cert_data || c->client_cert_file;
	bool has_key = c->client_key_data || c->client_key_file;
	if (has_cert != has_key)
		return keelson_error_set(KEELSON_EINVALID,
			"%s: user \"%s\" has a client %s but no client %s", file_name, user_name,
			has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
	return 0;
}

static void warn_insecure(const struct keelson_kube_config *c)
{
	if (c->insecure_skip_tls_verify)
		keelson_log(KEELSON_LOG_WARN,
			"kubeconfig disables TLS verification (insecure-skip-tls-verify): the API server's identity is not checked",
			"server", c->server, "context", c->context, NULL);
}

static int load_stream(struct keelson_kube_config **out, struct keelson_yaml_stream *stream,
	const char *file_name, const struct keelson_kube_config_options *opts)
{
	struct keelson_kube_config *c = NULL;
	int error;

	if (opts != NULL && opts->version != KEELSON_KUBE_CONFIG_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kubeconfig options: version %u, expected %u",
			opts->version, KEELSON_KUBE_CONFIG_OPTIONS_VERSION);
	if (keelson_yaml_document_count(stream) != 1)
		return keelson_error_set(KEELSON_EINVALID, "%s: a kubeconfig holds exactly one YAML document, found %zu",
			file_name, keelson_yaml_document_count(stream));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory loading kubeconfig");
	if ((error = parse_kubeconfig(c, keelson_yaml_document(stream, 0), file_name, opts)) < 0) {
		keelson_kube_config_free(c);
		return error;
	}
	warn_insecure(c);
	*out = c;
	return 0;
}

static void yaml_limits(struct keelson_yaml_limits *limits)
{
	keelson_yaml_limits_init(limits);
	limits->max_bytes = KEELSON_KUBE_CONFIG_MAX_BYTES;
}

int keelson_kube_config_load_buffer(struct keelson_kube_config **out, const char *data,
	size_t len, const char *file_name, const struct keelson_kube_config_options *opts)
{
	struct keelson_yaml_limits limits;
	struct keelson_yaml_stream *stream = NULL;
	int error;

	*out = NULL;
	yaml_limits(&limits);
	if (file_name == NULL)
		file_name = "<kubeconfig>";
	if ((error = keelson_yaml_load_buffer(&stream, data, len, file_name, &limits)) < 0)
		return keelson_error_wrap(error, "loading kubeconfig");
	error = load_stream(out, stream, file_name, opts);
	keelson_yaml_stream_free(stream);
	return error;
}

int keelson_kube_config_load_file(struct keelson_kube_config **out, const char *path,
	const struct keelson_kube_config_options *opts)
{
	struct keelson_yaml_limits limits;
	struct keelson_yaml_stream *stream = NULL;
	int error;

	*out = NULL;
	yaml_limits(&limits);
	if ((error = keelson_yaml_load_file(&stream, path, &limits)) < 0)
		return keelson_error_wrap(error, "loading kubeconfig %s", path);
	error = load_stream(out, stream, path, opts);
	keelson_yaml_stream_free(stream);
	return error;
}

/* Read a small file whole; trailing newlines are kept (callers trim). */
static int read_small_file(char **out, size_t *out_len, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	*out = NULL;
	if (f == NULL)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
			"cannot read %s: %s", path, strerror(errno));
	buf = malloc(KEELSON_KUBE_CONFIG_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory reading %s", path);
	}
	n = fread(buf, 1, KEELSON_KUBE_CONFIG_MAX_BYTES + 1, f);
	int read_error = ferror(f);
	fclose(f);
	if (read_error) {
		free(buf);
		return keelson_error_set(KEELSON_ERROR, "cannot read %s", path);
	}
	if (n > KEELSON_KUBE_CONFIG_MAX_BYTES) {
		free(buf);
		return keelson_error_set(KEELSON_ELIMIT, "%s is larger than %u bytes", path, KEELSON_KUBE_CONFIG_MAX_BYTES);
	}
	buf[n] = '\0';
	*out = buf;
	if (out_len)
		*out_len = n;
	return 0;
}

int keelson_kube_config_in_cluster(struct keelson_kube_config **out, const char *sa_dir)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct keelson_kube_config *c = NULL;
	char path[4096];
	char *ns = NULL;
	int error;

	*out = NULL;
	if (sa_dir == NULL)
		sa_dir = KEELSON_KUBE_SERVICEACCOUNT_DIR;
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
		return keelson_error_set(KEELSON_ENOTFOUND,
			"not running in a Kubernetes cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	size_t need = strlen(host) + strlen(port) + 16;
	if ((c->server = malloc(need)) == NULL) {
		error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* An IPv6 service host needs brackets in a URL. */
	if (strchr(host, ':') != NULL)
		snprintf(c->server, need, "https://[%s]:%s", host, port);
	else
		snprintf(c->server, need, "https://%s:%s", host, port);

	snprintf(path, sizeof(path), "%s/token", sa_dir);
	struct stat st;
	if (stat(path, &st) != 0) {
		error = keelson_error_set(KEELSON_ENOTFOUND,
			"in-cluster configuration: service-account token %s not found (is automountServiceAccountToken off?)", path);
		goto cleanup;
	}
	if ((error = dup_str(&c->token_file, path)) < 0)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	if ((error = dup_str(&c->ca_file, path)) < 0)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (read_small_file(&ns, NULL, path) == 0) {
		size_t l = strlen(ns);
		while (l > 0 && (ns[l - 1] == '\n' || ns[l - 1] == '\r' || ns[l - 1] == ' '))
			ns[--l] = '\0';
	}
	keelson_error_clear();
	if ((error = dup_str(&c->namespace, ns && ns[0] ? ns : "default")) < 0 ||
	    (error = dup_str(&c->context, "in-cluster")) < 0 ||
	    (error = dup_str(&c->cluster, "")) < 0 ||
	    (error = dup_str(&c->user, "")) < 0)
		goto cleanup;
	*out = c;
	c = NULL;
	error = 0;
cleanup:
	free(ns);
	keelson_kube_config_free(c);
	return error;
}

int keelson_kube_config_load_default(struct keelson_kube_config **out,
	const struct keelson_kube_config_options *opts)
{
	const char *env = getenv("KUBECONFIG");
	char path[4096];

	*out = NULL;
	if (env != NULL && env[0] != '\0') {
		const char *p = env;
		while (*p) {
			const char *end = strchr(p, ':');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			if (len > 0 && len < sizeof(path)) {
				struct stat st;
				memcpy(path, p, len);
				path[len] = '\0';
				if (stat(path, &st) == 0)
					return keelson_kube_config_load_file(out, path, opts);
			}
			p += len;
			if (*p == ':')
				p++;
		}
		return keelson_error_set(KEELSON_ENOTFOUND, "none of the files in KUBECONFIG (%s) exists", env);
	}
	if (getenv("KUBERNETES_SERVICE_HOST") != NULL)
		return keelson_kube_config_in_cluster(out, NULL);
	const char *home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		return keelson_error_set(KEELSON_ENOTFOUND,
			"no kubeconfig: KUBECONFIG and HOME are unset and not running in a cluster");
	snprintf(path, sizeof(path), "%s/.kube/config", home);
	int error = keelson_kube_config_load_file(out, path, opts);
	if (error == KEELSON_ENOTFOUND && *out == NULL && strstr(keelson_error_last()->message, "context") == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND,
			"no kubeconfig: %s does not exist, KUBECONFIG is unset and not running in a cluster", path);
	return error;
}
