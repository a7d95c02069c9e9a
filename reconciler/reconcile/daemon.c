/*
 * The daemon's services next to the loop. See daemon.h.
 */
#include "config.h"

#include "core/error.h"
#include "core/log.h"
#include "git/git_source.h"
#include "http/hmac.h"
#include "http/http_server.h"
#include "http/nudge.h"
#include "http/readiness.h"
#include "kube/kube_client.h"
#include "metrics/daemon_metrics.h"
#include "reconcile/daemon.h"
#include "status/forge.h"
#include "status/status_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct keelson_daemon {
	struct keelson_nudge *nudge;
	struct keelson_readiness *readiness;
	struct keelson_http_server *http;
	struct keelson_forge *forge;
	struct keelson_status_writer *status;
	bool status_failing; /* the last flush failed: log the recovery */
};

/* Path without the query, split after the API prefix ("/api/v1" or
 * "/apis/GROUP/VERSION"): how many segments are left (namespace pair
 * removed) and whether the path names a subresource proxy. */
const char *keelson_daemon_api_verb(const char *method, const char *path, const char *content_type)
{
	char buf[1024];
	const char *segs[32];
	size_t n = 0;
	if (method == NULL || path == NULL)
		return "unknown";
	snprintf(buf, sizeof(buf), "%s", path);
	char *query = strchr(buf, '?');
	bool watch = false;
	if (query != NULL) {
		*query++ = '\0';
		watch = strstr(query, "watch=true") != NULL || strstr(query, "watch=1") != NULL;
	}
	for (char *save = NULL, *p = strtok_r(buf, "/", &save); p != NULL && n < 32; p = strtok_r(NULL, "/", &save))
		segs[n++] = p;
	for (size_t i = 0; i < n; i++)
		if (strcmp(segs[i], "proxy") == 0)
			return "proxy";
	size_t prefix = n > 0 && strcmp(segs[0], "api") == 0 ? 2 : n > 0 && strcmp(segs[0], "apis") == 0 ? 3 : n;
	size_t rest = n > prefix ? n - prefix : 0;
	const char *const *r = segs + prefix;
	/* namespaces/NS/resource...: the resource is what matters */
	if (rest >= 3 && strcmp(r[0], "namespaces") == 0)
		rest -= 2;
	if (strcmp(method, "GET") == 0) {
		if (n <= prefix)
			return "discovery";
		if (watch)
			return "watch";
		return rest <= 1 ? "list" : "get";
	}
	if (strcmp(method, "POST") == 0)
		return "create";
	if (strcmp(method, "PUT") == 0)
		return "update";
	if (strcmp(method, "PATCH") == 0)
		return content_type != NULL && strstr(content_type, "apply-patch") != NULL ? "apply" : "patch";
	if (strcmp(method, "DELETE") == 0)
		return "delete";
	return "other";
}

static void observe_api_request(const char *method, const char *path, const char *content_type, long http_code,
				double seconds)
{
	keelson_metrics_record_api_request(NULL, keelson_daemon_api_verb(method, path, content_type), (int)http_code,
					   seconds);
}

/* Read `path` into *out when given (NULL stays NULL). */
static int read_secret(char **out, const char *path, const char *what)
{
	*out = NULL;
	if (path == NULL)
		return 0;
	int rc = keelson_secret_read_file(out, path);
	if (rc < 0)
		keelson_error_wrap(rc, "%s", what);
	return rc;
}

static int start_http(struct keelson_daemon *d, const struct keelson_config *cfg)
{
	char *github = NULL, *gitlab = NULL, *generic = NULL;
	int rc;
	if ((rc = read_secret(&github, cfg->http_github_secret_file, "http.githubSecretFile")) < 0 ||
	    (rc = read_secret(&gitlab, cfg->http_gitlab_token_file, "http.gitlabTokenFile")) < 0 ||
	    (rc = read_secret(&generic, cfg->http_generic_secret_file, "http.genericSecretFile")) < 0)
		goto cleanup;
	struct keelson_http_server_options o = {
		.version = KEELSON_HTTP_SERVER_OPTIONS_VERSION,
		.address = cfg->http_address,
		.port = cfg->http_port,
		.max_body_bytes = cfg->http_max_body_bytes,
		.repo_url = cfg->git_url,
		/* Tags and pinned commits: any push of the repository is worth a poll. */
		.branch = cfg->git_track == KEELSON_GIT_TRACK_BRANCH ? cfg->git_ref : NULL,
		.github_secret = github,
		.gitlab_token = gitlab,
		.generic_secret = generic,
		.generic_header = cfg->http_generic_header,
		.nudge = d->nudge,
		.metrics = keelson_daemon_metrics_registry(NULL),
		.ready = keelson_readiness_check,
		.ready_payload = d->readiness,
	};
	rc = keelson_http_server_start(&d->http, &o);
	if (rc < 0)
		keelson_error_wrap(rc, "http.listen %s:%u", cfg->http_address, cfg->http_port);
cleanup:
	keelson_secret_free(github);
	keelson_secret_free(gitlab);
	keelson_secret_free(generic);
	return rc;
}

static int start_status(struct keelson_daemon *d, const struct keelson_config *cfg)
{
	char *cache_dir = NULL;
	int rc;
	if (cfg->forge_api_url != NULL) {
		struct keelson_forge_options fo = {
			.version = KEELSON_FORGE_OPTIONS_VERSION,
			.api_url = cfg->forge_api_url,
			.repository = cfg->forge_repository,
			.token_file = cfg->forge_token_file,
			.target_url = cfg->forge_target_url,
			.ca_file = cfg->forge_ca_file,
			.timeout_ms = (unsigned)cfg->forge_timeout_ms,
		};
		if ((rc = keelson_forge_new(&d->forge, &fo)) < 0)
			return keelson_error_wrap(rc, "forge");
	}
	if (cfg->status_cache_dir == NULL) {
		char *source_cache = NULL;
		if ((rc = keelson_git_cache_dir_for_url(&source_cache, cfg->git_cache_dir, cfg->git_url)) < 0)
			return rc;
		size_t n = strlen(source_cache) + sizeof(".status");
		cache_dir = malloc(n);
		if (cache_dir != NULL)
			snprintf(cache_dir, n, "%s.status", source_cache);
		free(source_cache);
		if (cache_dir == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	struct keelson_status_writer_options so = {
		.version = KEELSON_STATUS_WRITER_OPTIONS_VERSION,
		.url = cfg->git_url,
		.cache_dir = cfg->status_cache_dir ? cfg->status_cache_dir : cache_dir,
		.branch = cfg->status_branch,
		.read_branch = cfg->git_track == KEELSON_GIT_TRACK_BRANCH ? cfg->git_ref : NULL,
		.author_name = cfg->status_author_name,
		.author_email = cfg->status_author_email,
		.instance = cfg->status_instance,
		.interval_ms = cfg->status_interval_ms,
		.history_max = cfg->status_history,
		.username_file = cfg->git_username_file,
		.username_env = cfg->git_username_env,
		.token_file = cfg->git_token_file,
		.token_env = cfg->git_token_env,
		.ssh_key_file = cfg->git_ssh_key_file,
		.ssh_username = cfg->git_ssh_username,
		.known_hosts_file = cfg->git_known_hosts_file,
		.ca_file = cfg->git_ca_file,
		.forge = d->forge,
	};
	rc = keelson_status_writer_new(&d->status, &so);
	if (rc < 0)
		keelson_error_wrap(rc, "status");
	free(cache_dir);
	return rc;
}

int keelson_daemon_start(struct keelson_daemon **out, const struct keelson_config *cfg, unsigned flags)
{
	struct keelson_daemon *d = calloc(1, sizeof(*d));
	int rc;
	*out = NULL;
	if (d == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if ((rc = keelson_nudge_new(&d->nudge)) < 0 || (rc = keelson_readiness_new(&d->readiness)) < 0)
		goto fail;
	if (keelson_daemon_metrics_global() == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto fail;
	}
	if (cfg->status_enabled && (rc = start_status(d, cfg)) < 0)
		goto fail;
	if (!(flags & KEELSON_DAEMON_NO_HTTP) && (cfg->http_enabled || (flags & KEELSON_DAEMON_IN_POD)) &&
	    (rc = start_http(d, cfg)) < 0)
		goto fail;
	keelson_kube_set_observer(observe_api_request);
	*out = d;
	return 0;
fail:
	keelson_daemon_stop(d);
	return rc;
}

void keelson_daemon_attach(struct keelson_daemon *d, struct keelson_reconciler *r)
{
	keelson_reconciler_set_nudge(r, d->http != NULL ? d->nudge : NULL);
	keelson_reconciler_set_status(r, d->status);
}

static void flush_status(struct keelson_daemon *d, bool now)
{
	if (d->status == NULL)
		return;
	struct keelson_status_flush_report fr;
	int rc = now ? keelson_status_writer_flush_now(d->status, &fr) : keelson_status_writer_flush(d->status, &fr);
	if (rc < 0) {
		keelson_log(KEELSON_LOG_ERROR, "status not committed; kept and retried at the next flush", "error",
			    keelson_error_last()->message, (const char *)NULL);
		d->status_failing = true;
		return;
	}
	if (d->status_failing && fr.committed)
		keelson_log(KEELSON_LOG_INFO, "status commits work again", "commit", fr.commit, (const char *)NULL);
	if (fr.committed)
		d->status_failing = false;
}

void keelson_daemon_after_cycle(struct keelson_daemon *d, const struct keelson_cycle_report *rep)
{
	keelson_readiness_set_git(d->readiness, !rep->git_failed, rep->git_error[0] ? rep->git_error : "Git poll failed");
	keelson_readiness_set_api(d->readiness, rep->clusters_failed == 0,
				  rep->api_error[0] ? rep->api_error : "Kubernetes API not reachable");
	if (!rep->git_failed && rep->revision[0] != '\0' && rep->clusters_failed == 0)
		keelson_readiness_set_synced(d->readiness);
	flush_status(d, false);
}

long keelson_daemon_wait_limit_ms(const struct keelson_daemon *d)
{
	if (d->status == NULL)
		return -1;
	long long next = keelson_status_writer_next_flush_ms(d->status);
	if (next < 0)
		return d->status_failing ? 10000 : -1;
	/* A failing push is retried no faster than every 10 s. */
	if (d->status_failing && next < 10000)
		next = 10000;
	return (long)next;
}

unsigned keelson_daemon_http_port(const struct keelson_daemon *d)
{
	return d->http != NULL ? keelson_http_server_port(d->http) : 0;
}

void keelson_daemon_stop(struct keelson_daemon *d)
{
	if (d == NULL)
		return;
	keelson_kube_set_observer(NULL);
	keelson_http_server_stop(d->http);
	flush_status(d, true);
	keelson_status_writer_free(d->status);
	keelson_forge_free(d->forge);
	keelson_readiness_free(d->readiness);
	keelson_nudge_free(d->nudge);
	free(d);
}
