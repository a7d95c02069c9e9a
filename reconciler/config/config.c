/*
 * keelson's configuration file: a declarative key table per section, so
 * unknown keys are refused and every key is parsed the same way.
 */
#include "config.h"

#include "config/config.h"
#include "core/error.h"
#include "git/git_source.h"
#include "yaml/yaml_load.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type { KEY_STRING, KEY_DURATION, KEY_NUMBER, KEY_UINT, KEY_TRACK, KEY_BYTES, KEY_LISTEN };

struct key_spec {
	const char *name;
	enum key_type type;
	size_t offset; /* into the struct being filled */
};

struct parse_ctx {
	const struct keelson_yaml_stream *stream;
	const char *file;
};

static int fail_at(const struct parse_ctx *ctx, const cJSON *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(const struct parse_ctx *ctx, const cJSON *node, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const struct keelson_source_pos *pos = node ? keelson_yaml_position(ctx->stream, node) : NULL;
	if (pos != NULL)
		return keelson_error_set(KEELSON_EINVALID, "%s:%u:%u: %s", ctx->file, pos->line, pos->column, msg);
	return keelson_error_set(KEELSON_EINVALID, "%s: %s", ctx->file, msg);
}

int keelson_config_parse_duration(unsigned long long *out_ms, const char *text)
{
	static const struct {
		const char *unit;
		unsigned long long ms;
	} units[] = {{"h", 3600000ULL}, {"m", 60000ULL}, {"s", 1000ULL}, {"ms", 1ULL}};
	unsigned long long total = 0;
	size_t next_unit = 0;
	const char *p = text;
	if (text == NULL || *text == '\0')
		return keelson_error_set(KEELSON_EINVALID, "empty duration (write e.g. 30s, 5m, 1h30m, 500ms)");
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			goto bad;
		unsigned long long n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n > 1000000000ULL)
				goto bad;
			n = n * 10 + (unsigned long long)(*p - '0');
			p++;
		}
		/* "ms" must be tried before "m". */
		size_t u;
		size_t len = 0;
		if (strncmp(p, "ms", 2) == 0) {
			u = 3;
			len = 2;
		} else if (*p == 'h' || *p == 'm' || *p == 's') {
			u = *p == 'h' ? 0 : *p == 'm' ? 1 : 2;
			len = 1;
		} else {
			goto bad;
		}
		if (u < next_unit)
			goto bad;
		next_unit = u + 1;
		total += n * units[u].ms;
		p += len;
	}
	if (total == 0)
		return keelson_error_set(KEELSON_EINVALID, "duration \"%s\" must be positive", text);
	*out_ms = total;
	return 0;
bad:
	return keelson_error_set(KEELSON_EINVALID,
				 "malformed duration \"%s\" (write e.g. 30s, 5m, 1h30m, 500ms: integers with "
				 "units h, m, s, ms in that order)",
				 text);
}

/* "ADDRESS:PORT" or "[IPv6]:PORT", the address an IP literal (the HTTP
 * server binds literals only: a name could resolve to a public interface). */
static int parse_listen(const struct parse_ctx *ctx, const cJSON *item, const char *section, const char *key,
			void *base)
{
	struct keelson_config *cfg = base;
	char host[64];
	if (!cJSON_IsString(item))
		goto bad;
	const char *text = item->valuestring, *port_text;
	size_t host_len;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || end[1] != ':')
			goto bad;
		host_len = (size_t)(end - text - 1);
		if (host_len == 0 || host_len >= sizeof(host))
			goto bad;
		memcpy(host, text + 1, host_len);
		port_text = end + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || strchr(text, ':') != colon)
			goto bad;
		host_len = (size_t)(colon - text);
		if (host_len == 0 || host_len >= sizeof(host))
			goto bad;
		memcpy(host, text, host_len);
		port_text = colon + 1;
	}
	host[host_len] = '\0';
	unsigned char addr[16];
	if (inet_pton(strchr(host, ':') ? AF_INET6 : AF_INET, host, addr) != 1)
		goto bad;
	char *end = NULL;
	errno = 0;
	unsigned long port = strtoul(port_text, &end, 10);
	if (port_text[0] < '0' || port_text[0] > '9' || *end != '\0' || errno != 0 || port > 65535)
		goto bad;
	char *copy = strdup(host);
	if (copy == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	free(cfg->http_address);
	cfg->http_address = copy;
	cfg->http_port = (unsigned)port;
	return 0;
bad:
	return fail_at(ctx, item,
		       "%s.%s must be ADDRESS:PORT with an IP address (0.0.0.0:8080, 127.0.0.1:9000, [::]:8080; "
		       "port 0 picks a free one)",
		       section, key);
}

static int parse_value(const struct parse_ctx *ctx, const struct key_spec *spec, const cJSON *item,
		       const char *section, void *base)
{
	char *field = (char *)base + spec->offset;
	switch (spec->type) {
	case KEY_STRING:
		if (!cJSON_IsString(item) || item->valuestring[0] == '\0')
			return fail_at(ctx, item, "%s%s%s must be a non-empty string", section, section[0] ? "." : "",
				       spec->name);
		free(*(char **)field);
		if ((*(char **)field = strdup(item->valuestring)) == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		return 0;
	case KEY_DURATION:
		if (!cJSON_IsString(item) || keelson_config_parse_duration((unsigned long long *)field, item->valuestring) < 0)
			return fail_at(ctx, item, "%s%s%s: %s", section, section[0] ? "." : "", spec->name,
				       cJSON_IsString(item) ? keelson_error_last()->message
							    : "must be a duration such as 30s or 5m");
		return 0;
	case KEY_NUMBER:
		if (!cJSON_IsNumber(item) || item->valuedouble <= 0 || item->valuedouble > 1e6)
			return fail_at(ctx, item, "%s.%s must be a positive number (at most 1000000)", section, spec->name);
		*(double *)field = item->valuedouble;
		return 0;
	case KEY_UINT:
		if (!cJSON_IsNumber(item) || item->valuedouble < 1 || item->valuedouble > 1e6 ||
		    item->valuedouble != (double)(unsigned)item->valuedouble)
			return fail_at(ctx, item, "%s.%s must be a whole number from 1 to 1000000", section, spec->name);
		*(unsigned *)field = (unsigned)item->valuedouble;
		return 0;
	case KEY_BYTES:
		if (!cJSON_IsNumber(item) || item->valuedouble < 1024 || item->valuedouble > 64.0 * 1024 * 1024 ||
		    item->valuedouble != (double)(size_t)item->valuedouble)
			return fail_at(ctx, item, "%s.%s must be a whole number of bytes from 1024 to 67108864", section,
				       spec->name);
		*(size_t *)field = (size_t)item->valuedouble;
		return 0;
	case KEY_LISTEN:
		return parse_listen(ctx, item, section, spec->name, base);
	case KEY_TRACK:
		if (cJSON_IsString(item) && strcmp(item->valuestring, "branch") == 0)
			*(int *)field = KEELSON_GIT_TRACK_BRANCH;
		else if (cJSON_IsString(item) && strcmp(item->valuestring, "tag") == 0)
			*(int *)field = KEELSON_GIT_TRACK_TAG;
		else if (cJSON_IsString(item) && strcmp(item->valuestring, "commit") == 0)
			*(int *)field = KEELSON_GIT_TRACK_COMMIT;
		else
			return fail_at(ctx, item, "%s.%s must be branch, tag or commit", section, spec->name);
		return 0;
	}
	return keelson_error_set(KEELSON_ERROR, "internal: unknown key type");
}

static void allowed_list(char *buf, size_t size, const struct key_spec *specs, size_t count)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < count && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", specs[i].name);
}

static int parse_map(const struct parse_ctx *ctx, const cJSON *map, const char *section,
		     const struct key_spec *specs, size_t count, void *base)
{
	char allowed[512];
	if (!cJSON_IsObject(map))
		return fail_at(ctx, map, "%s must be a mapping", section[0] ? section : "the document");
	const cJSON *item;
	cJSON_ArrayForEach(item, map)
	{
		size_t i;
		for (i = 0; i < count; i++)
			if (strcmp(item->string, specs[i].name) == 0)
				break;
		if (i == count) {
			allowed_list(allowed, sizeof(allowed), specs, count);
			const struct keelson_source_pos *pos = keelson_yaml_key_position(ctx->stream, item);
			if (pos != NULL)
				return keelson_error_set(KEELSON_EINVALID, "%s:%u:%u: unknown key \"%s\" in %s (allowed: %s)",
							 ctx->file, pos->line, pos->column, item->string,
							 section[0] ? section : "the top level", allowed);
			return fail_at(ctx, item, "unknown key \"%s\" in %s (allowed: %s)", item->string,
				       section[0] ? section : "the top level", allowed);
		}
		if (parse_value(ctx, &specs[i], item, section, base) < 0)
			return keelson_error_last()->code;
	}
	return 0;
}

#define CFG(field) offsetof(struct keelson_config, field)
#define CLU(field) offsetof(struct keelson_config_cluster, field)

static const struct key_spec git_keys[] = {
	{"url", KEY_STRING, CFG(git_url)},
	{"ref", KEY_STRING, CFG(git_ref)},
	{"track", KEY_TRACK, CFG(git_track)},
	{"cacheDir", KEY_STRING, CFG(git_cache_dir)},
	{"pollInterval", KEY_DURATION, CFG(poll_interval_ms)},
	{"usernameFile", KEY_STRING, CFG(git_username_file)},
	{"usernameEnv", KEY_STRING, CFG(git_username_env)},
	{"tokenFile", KEY_STRING, CFG(git_token_file)},
	{"tokenEnv", KEY_STRING, CFG(git_token_env)},
	{"caFile", KEY_STRING, CFG(git_ca_file)},
	{"sshKeyFile", KEY_STRING, CFG(git_ssh_key_file)},
	{"sshUsername", KEY_STRING, CFG(git_ssh_username)},
	{"knownHostsFile", KEY_STRING, CFG(git_known_hosts_file)},
};

static const struct key_spec kube_keys[] = {
	{"qps", KEY_NUMBER, CFG(kube_qps)},
	{"burst", KEY_UINT, CFG(kube_burst)},
	{"timeout", KEY_DURATION, CFG(kube_timeout_ms)},
};

static const struct key_spec retry_keys[] = {
	{"initialBackoff", KEY_DURATION, CFG(retry_initial_ms)},
	{"maxBackoff", KEY_DURATION, CFG(retry_max_ms)},
};

static const struct key_spec alerts_keys[] = {
	{"alertmanagerUrl", KEY_STRING, CFG(alerts_alertmanager_url)},
	{"webhookUrl", KEY_STRING, CFG(alerts_webhook_url)},
	{"webhookSecretFile", KEY_STRING, CFG(alerts_webhook_secret_file)},
	{"webhookSecretEnv", KEY_STRING, CFG(alerts_webhook_secret_env)},
	{"repeatInterval", KEY_DURATION, CFG(alerts_repeat_interval_ms)},
};

static const struct key_spec http_keys[] = {
	{"listen", KEY_LISTEN, 0},
	{"maxBodyBytes", KEY_BYTES, CFG(http_max_body_bytes)},
	{"githubSecretFile", KEY_STRING, CFG(http_github_secret_file)},
	{"gitlabTokenFile", KEY_STRING, CFG(http_gitlab_token_file)},
	{"genericSecretFile", KEY_STRING, CFG(http_generic_secret_file)},
	{"genericHeader", KEY_STRING, CFG(http_generic_header)},
};

static const struct key_spec status_keys[] = {
	{"branch", KEY_STRING, CFG(status_branch)},
	{"interval", KEY_DURATION, CFG(status_interval_ms)},
	{"authorName", KEY_STRING, CFG(status_author_name)},
	{"authorEmail", KEY_STRING, CFG(status_author_email)},
	{"instance", KEY_STRING, CFG(status_instance)},
	{"history", KEY_UINT, CFG(status_history)},
	{"cacheDir", KEY_STRING, CFG(status_cache_dir)},
};

static const struct key_spec forge_keys[] = {
	{"apiUrl", KEY_STRING, CFG(forge_api_url)},
	{"repository", KEY_STRING, CFG(forge_repository)},
	{"tokenFile", KEY_STRING, CFG(forge_token_file)},
	{"targetUrl", KEY_STRING, CFG(forge_target_url)},
	{"caFile", KEY_STRING, CFG(forge_ca_file)},
	{"timeout", KEY_DURATION, CFG(forge_timeout_ms)},
};

static const struct key_spec leader_election_keys[] = {
	{"cluster", KEY_STRING, CFG(leader_election_cluster)},
	{"namespace", KEY_STRING, CFG(leader_election_namespace)},
	{"leaseName", KEY_STRING, CFG(leader_election_lease_name)},
	{"identity", KEY_STRING, CFG(leader_election_identity)},
	{"leaseDuration", KEY_DURATION, CFG(leader_election_lease_ms)},
	{"renewDeadline", KEY_DURATION, CFG(leader_election_renew_ms)},
	{"retryPeriod", KEY_DURATION, CFG(leader_election_retry_ms)},
};

static const struct key_spec top_scalar_keys[] = {
	{"inventoryNamespace", KEY_STRING, CFG(inventory_namespace)},
	{"crdEstablishedTimeout", KEY_DURATION, CFG(crd_established_timeout_ms)},
	{"pluginDir", KEY_STRING, CFG(plugin_dir)},
};

static const struct key_spec cluster_keys[] = {
	{"name", KEY_STRING, CLU(name)},
	{"kubeconfig", KEY_STRING, CLU(kubeconfig)},
	{"context", KEY_STRING, CLU(context)},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int parse_clusters(const struct parse_ctx *ctx, const cJSON *list, struct keelson_config *cfg)
{
	if (!cJSON_IsArray(list))
		return fail_at(ctx, list, "clusters must be a list of {name, kubeconfig, context}");
	size_t n = (size_t)cJSON_GetArraySize(list);
	if (n == 0)
		return fail_at(ctx, list, "clusters is empty: list the clusters this instance manages");
	if (n > KEELSON_CONFIG_MAX_CLUSTERS)
		return fail_at(ctx, list,
			       "clusters lists %zu entries; at most %u: split the clusters over several keelson "
			       "instances (one configuration file each)", n, KEELSON_CONFIG_MAX_CLUSTERS);
	cfg->clusters = calloc(n, sizeof(*cfg->clusters));
	if (cfg->clusters == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	const cJSON *item;
	cJSON_ArrayForEach(item, list)
	{
		struct keelson_config_cluster *c = &cfg->clusters[cfg->cluster_count++];
		if (parse_map(ctx, item, "clusters[]", cluster_keys, COUNT(cluster_keys), c) < 0)
			return keelson_error_last()->code;
		if (c->name == NULL)
			return fail_at(ctx, item, "a clusters entry has no name (the directory under clusters/ in the repository)");
		for (size_t i = 0; i + 1 < cfg->cluster_count; i++)
			if (strcmp(cfg->clusters[i].name, c->name) == 0)
				return fail_at(ctx, item, "cluster \"%s\" is listed twice", c->name);
	}
	return 0;
}

static int parse_document(struct keelson_config *cfg, const struct parse_ctx *ctx, const cJSON *doc)
{
	if (!cJSON_IsObject(doc))
		return fail_at(ctx, doc, "the configuration must be a mapping with git, clusters, ...");
	const cJSON *item;
	cJSON_ArrayForEach(item, doc)
	{
		int rc;
		if (strcmp(item->string, "git") == 0)
			rc = parse_map(ctx, item, "git", git_keys, COUNT(git_keys), cfg);
		else if (strcmp(item->string, "kubernetes") == 0)
			rc = parse_map(ctx, item, "kubernetes", kube_keys, COUNT(kube_keys), cfg);
		else if (strcmp(item->string, "retry") == 0)
			rc = parse_map(ctx, item, "retry", retry_keys, COUNT(retry_keys), cfg);
		else if (strcmp(item->string, "alerts") == 0)
			rc = parse_map(ctx, item, "alerts", alerts_keys, COUNT(alerts_keys), cfg);
		else if (strcmp(item->string, "http") == 0) {
			cfg->http_enabled = true;
			rc = cJSON_IsNull(item) ? 0 : parse_map(ctx, item, "http", http_keys, COUNT(http_keys), cfg);
		} else if (strcmp(item->string, "status") == 0) {
			cfg->status_enabled = true;
			rc = cJSON_IsNull(item) ? 0 : parse_map(ctx, item, "status", status_keys, COUNT(status_keys), cfg);
		} else if (strcmp(item->string, "leaderElection") == 0) {
			cfg->leader_election = true;
			rc = cJSON_IsNull(item) ? 0
						: parse_map(ctx, item, "leaderElection", leader_election_keys,
							    COUNT(leader_election_keys), cfg);
		} else if (strcmp(item->string, "forge") == 0)
			rc = parse_map(ctx, item, "forge", forge_keys, COUNT(forge_keys), cfg);
		else if (strcmp(item->string, "clusters") == 0)
			rc = parse_clusters(ctx, item, cfg);
		else {
			size_t i;
			for (i = 0; i < COUNT(top_scalar_keys); i++)
				if (strcmp(item->string, top_scalar_keys[i].name) == 0)
					break;
			if (i == COUNT(top_scalar_keys)) {
				const struct keelson_source_pos *pos = keelson_yaml_key_position(ctx->stream, item);
				return keelson_error_set(KEELSON_EINVALID,
							 "%s:%u:%u: unknown key \"%s\" at the top level (allowed: git, "
							 "clusters, kubernetes, retry, alerts, http, status, forge, leaderElection, "
							 "inventoryNamespace, "
							 "crdEstablishedTimeout, pluginDir)",
							 ctx->file, pos ? pos->line : 0, pos ? pos->column : 0, item->string);
			}
			rc = parse_value(ctx, &top_scalar_keys[i], item, "", cfg);
		}
		if (rc < 0)
			return rc;
	}
	if (cJSON_GetObjectItemCaseSensitive(doc, "git") == NULL || cfg->git_url == NULL)
		return fail_at(ctx, doc, "git.url is required: the URL or path of the desired-state repository");
	if (cfg->git_cache_dir == NULL)
		return fail_at(ctx, cJSON_GetObjectItemCaseSensitive(doc, "git"),
			       "git.cacheDir is required: a directory keelson may write its Git cache to");
	if (cfg->cluster_count == 0)
		return fail_at(ctx, doc, "clusters is required: list the clusters this instance manages");
	if (cfg->leader_election && cfg->leader_election_cluster != NULL &&
	    keelson_config_cluster(cfg, cfg->leader_election_cluster) == NULL)
		return fail_at(ctx, cJSON_GetObjectItemCaseSensitive(doc, "leaderElection"),
			       "leaderElection.cluster \"%s\" is not one of the clusters listed", cfg->leader_election_cluster);
	const cJSON *forge = cJSON_GetObjectItemCaseSensitive(doc, "forge");
	if (forge != NULL) {
		if (cfg->forge_api_url == NULL || cfg->forge_repository == NULL || cfg->forge_token_file == NULL)
			return fail_at(ctx, forge, "forge needs apiUrl, repository (owner/repo) and tokenFile");
		const char *slash = strchr(cfg->forge_repository, '/');
		if (slash == NULL || slash == cfg->forge_repository || slash[1] == '\0' || strchr(slash + 1, '/'))
			return fail_at(ctx, forge, "forge.repository must be owner/repo, not \"%s\"", cfg->forge_repository);
		if (!cfg->status_enabled)
			return fail_at(ctx, forge,
				       "forge needs a status section: commit statuses are posted when status is committed");
	}
	if (cfg->status_enabled && cfg->status_history > 1000)
		return fail_at(ctx, cJSON_GetObjectItemCaseSensitive(doc, "status"), "status.history is at most 1000");
	if (cfg->status_enabled && cfg->status_branch != NULL && cfg->git_track == KEELSON_GIT_TRACK_BRANCH &&
	    strcmp(cfg->status_branch, cfg->git_ref) == 0)
		return fail_at(ctx, cJSON_GetObjectItemCaseSensitive(doc, "status"),
			       "status.branch \"%s\" is the branch keelson reads (git.ref): keelson never writes that "
			       "branch; choose another (default keelson/status)",
			       cfg->status_branch);
	if (cfg->retry_initial_ms > cfg->retry_max_ms)
		return fail_at(ctx, cJSON_GetObjectItemCaseSensitive(doc, "retry"),
			       "retry.initialBackoff is longer than retry.maxBackoff");
	return 0;
}

int keelson_config_load_buffer(struct keelson_config **out, const char *data, size_t len, const char *file_name)
{
	struct keelson_yaml_stream *stream = NULL;
	struct keelson_config *cfg = NULL;
	int rc;
	*out = NULL;
	if (file_name == NULL)
		file_name = "<config>";
	if (len > KEELSON_CONFIG_MAX_BYTES)
		return keelson_error_set(KEELSON_ELIMIT, "%s: %zu bytes; a configuration file is at most %u bytes",
					 file_name, len, KEELSON_CONFIG_MAX_BYTES);
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	cfg->git_track = KEELSON_GIT_TRACK_BRANCH;
	cfg->kube_qps = 50;
	cfg->kube_burst = 100;
	cfg->kube_timeout_ms = 30000;
	cfg->crd_established_timeout_ms = 60000;
	cfg->retry_initial_ms = 1000;
	cfg->retry_max_ms = 300000;
	cfg->file = strdup(file_name);
	cfg->git_ref = strdup("main");
	cfg->inventory_namespace = strdup("keelson-system");
	cfg->http_address = strdup("0.0.0.0");
	cfg->http_port = 8080;
	if (cfg->file == NULL || cfg->git_ref == NULL || cfg->inventory_namespace == NULL || cfg->http_address == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = keelson_yaml_load_buffer(&stream, data, len, file_name, NULL);
	if (rc < 0)
		goto cleanup;
	if (keelson_yaml_document_count(stream) != 1) {
		rc = keelson_error_set(KEELSON_EINVALID, "%s: expected one YAML document, found %zu", file_name,
				       keelson_yaml_document_count(stream));
		goto cleanup;
	}
	struct parse_ctx ctx = {.stream = stream, .file = file_name};
	rc = parse_document(cfg, &ctx, keelson_yaml_document(stream, 0));
cleanup:
	keelson_yaml_stream_free(stream);
	if (rc < 0) {
		keelson_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int keelson_config_load(struct keelson_config **out, const char *path)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
					 "cannot open configuration file %s: %s", path, strerror(errno));
	char *buf = malloc(KEELSON_CONFIG_MAX_BYTES + 1);
	if (buf == NULL) {
		fclose(f);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	size_t len = fread(buf, 1, KEELSON_CONFIG_MAX_BYTES + 1, f);
	int read_error = ferror(f);
	fclose(f);
	int rc;
	if (read_error)
		rc = keelson_error_set(KEELSON_ERROR, "cannot read configuration file %s", path);
	else
		rc = keelson_config_load_buffer(out, buf, len, path);
	free(buf);
	return rc;
}

const struct keelson_config_cluster *keelson_config_cluster(const struct keelson_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->cluster_count; i++)
		if (strcmp(cfg->clusters[i].name, name) == 0)
			return &cfg->clusters[i];
	return NULL;
}

void keelson_config_free(struct keelson_config *cfg)
{
	if (cfg == NULL)
		return;
	char **strings[] = {&cfg->file, &cfg->git_url, &cfg->git_ref, &cfg->git_cache_dir,
			    &cfg->git_username_file, &cfg->git_username_env, &cfg->git_token_file,
			    &cfg->git_token_env, &cfg->git_ca_file, &cfg->git_ssh_key_file,
			    &cfg->git_ssh_username, &cfg->git_known_hosts_file, &cfg->inventory_namespace, &cfg->plugin_dir,
			    &cfg->alerts_alertmanager_url, &cfg->alerts_webhook_url, &cfg->alerts_webhook_secret_env,
			    &cfg->alerts_webhook_secret_file, &cfg->http_address, &cfg->http_github_secret_file,
			    &cfg->http_gitlab_token_file, &cfg->http_generic_secret_file, &cfg->http_generic_header,
			    &cfg->status_branch, &cfg->status_author_name, &cfg->status_author_email,
			    &cfg->status_instance, &cfg->status_cache_dir, &cfg->forge_api_url, &cfg->forge_repository,
			    &cfg->forge_token_file, &cfg->forge_target_url, &cfg->forge_ca_file,
			    &cfg->leader_election_cluster, &cfg->leader_election_namespace,
			    &cfg->leader_election_lease_name, &cfg->leader_election_identity};
	for (size_t i = 0; i < COUNT(strings); i++)
		free(*strings[i]);
	for (size_t i = 0; i < cfg->cluster_count; i++) {
		free(cfg->clusters[i].name);
		free(cfg->clusters[i].kubeconfig);
		free(cfg->clusters[i].context);
	}
	free(cfg->clusters);
	free(cfg);
}
