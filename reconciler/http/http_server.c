/*
 * The HTTP endpoint: routing, body limits, webhook verification.
 */
#include "config.h"

#include "http/http_server.h"
#include "core/error.h"
#include "core/log.h"
#include "http/hmac.h"
#include "http/webhook.h"
#include "metrics/daemon_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct keelson_http_server {
	struct MHD_Daemon *daemon;
	unsigned port;
	size_t max_body;
	unsigned max_headers;
	char *repo_url, *branch, *github_secret, *gitlab_token, *generic_secret, *generic_header;
	struct keelson_nudge *nudge;
	struct keelson_metrics *metrics;
	keelson_http_ready_fn ready;
	void *ready_payload;
};

enum route { ROUTE_NONE, ROUTE_GITHUB, ROUTE_GITLAB, ROUTE_GENERIC, ROUTE_METRICS, ROUTE_HEALTHZ, ROUTE_READYZ };

struct request {
	enum route route;
	char *body;
	size_t len, cap;
	bool too_large;
};

static const char *const hook_names[] = {"", "github", "gitlab", "generic"};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
			     size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Small JSON answers for webhook callers: {"status": ..., "reason": ...}. */
static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *state, const char *reason)
{
	char buf[512];
	/* The reason is our own text; only the ref from a payload reaches it,
	 * so quotes and backslashes are dropped instead of escaped. */
	char clean[300];
	size_t n = 0;
	for (const char *p = reason ? reason : ""; *p && n + 1 < sizeof(clean); p++)
		if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			clean[n++] = *p;
	clean[n] = '\0';
	int len = snprintf(buf, sizeof(buf), "{\"status\":\"%s\",\"reason\":\"%s\"}\n", state, clean);
	return reply(c, status, "application/json", buf, (size_t)len);
}

static const char *text_type = "text/plain; charset=utf-8";

static enum route route_of(const char *url)
{
	static const struct {
		const char *path;
		enum route route;
	} routes[] = {{"/hooks/github", ROUTE_GITHUB}, {"/hooks/gitlab", ROUTE_GITLAB},
		      {"/hooks/generic", ROUTE_GENERIC}, {"/metrics", ROUTE_METRICS},
		      {"/healthz", ROUTE_HEALTHZ}, {"/readyz", ROUTE_READYZ}};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(url, routes[i].path) == 0)
			return routes[i].route;
	return ROUTE_NONE;
}

static const char *hook_secret(const struct keelson_http_server *s, enum route r)
{
	return r == ROUTE_GITHUB ? s->github_secret : r == ROUTE_GITLAB ? s->gitlab_token : s->generic_secret;
}

static enum MHD_Result serve_get(struct keelson_http_server *s, struct MHD_Connection *c, enum route r)
{
	if (r == ROUTE_HEALTHZ)
		return reply(c, MHD_HTTP_OK, text_type, "ok\n", 3);
	if (r == ROUTE_READYZ) {
		char reason[256] = "";
		if (s->ready == NULL || s->ready(s->ready_payload, reason, sizeof(reason)))
			return reply(c, MHD_HTTP_OK, text_type, "ok\n", 3);
		char buf[300];
		int len = snprintf(buf, sizeof(buf), "not ready: %s\n", reason[0] ? reason : "starting");
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_type, buf, (size_t)len);
	}
	if (s->metrics == NULL)
		return reply(c, MHD_HTTP_NOT_FOUND, text_type, "metrics are not enabled\n", 24);
	char *text = NULL;
	size_t len = 0;
	if (keelson_metrics_render(&text, &len, s->metrics) < 0)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text_type, "cannot render metrics\n", 22);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, KEELSON_METRICS_CONTENT_TYPE);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void log_hook(enum keelson_log_level level, const char *msg, enum route r, const char *result,
		     const char *reason)
{
	keelson_metrics_record_webhook(NULL, hook_names[r], result);
	keelson_log(level, msg, "hook", hook_names[r], "result", result, "reason", reason, (const char *)NULL);
}

static enum MHD_Result serve_hook(struct keelson_http_server *s, struct MHD_Connection *c, struct request *req)
{
	enum route r = req->route;
	if (req->too_large) {
		log_hook(KEELSON_LOG_WARN, "webhook refused: body too large", r, "too_large", NULL);
		return reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE, "refused", "body too large");
	}
	const char *body = req->body ? req->body : "";
	bool authorized;
	if (r == ROUTE_GITHUB)
		authorized = keelson_hmac_sha256_verify(
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Hub-Signature-256"), s->github_secret, body,
			req->len);
	else if (r == ROUTE_GITLAB)
		authorized = keelson_secret_equal(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Gitlab-Token"),
						  s->gitlab_token);
	else
		authorized = keelson_hmac_sha256_verify(
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, s->generic_header), s->generic_secret, body,
			req->len);
	if (!authorized) {
		log_hook(KEELSON_LOG_WARN, "webhook refused: missing or bad signature", r, "unauthorized", NULL);
		return reply_json(c, MHD_HTTP_UNAUTHORIZED, "refused", "missing or bad signature");
	}
	const char *event = NULL;
	if (r == ROUTE_GITHUB) {
		event = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-GitHub-Event");
		if (event != NULL && strcmp(event, "ping") == 0) {
			log_hook(KEELSON_LOG_INFO, "webhook ping", r, "ignored", "ping");
			return reply_json(c, MHD_HTTP_OK, "pong", "");
		}
		if (event != NULL && strcmp(event, "push") != 0)
			event = "not a push event";
		else
			event = NULL;
	} else if (r == ROUTE_GITLAB) {
		event = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Gitlab-Event");
		event = event != NULL && strcmp(event, "Push Hook") != 0 ? "not a push event" : NULL;
	}
	if (event != NULL) {
		log_hook(KEELSON_LOG_INFO, "webhook ignored", r, "ignored", event);
		return reply_json(c, MHD_HTTP_OK, "ignored", event);
	}
	enum keelson_webhook_kind kind = r == ROUTE_GITHUB   ? KEELSON_WEBHOOK_GITHUB
					 : r == ROUTE_GITLAB ? KEELSON_WEBHOOK_GITLAB
							     : KEELSON_WEBHOOK_GENERIC;
	char why[256];
	int m = keelson_webhook_match(kind, body, req->len, s->repo_url, s->branch, why, sizeof(why));
	if (m < 0) {
		const char *msg = keelson_error_last()->message;
		log_hook(KEELSON_LOG_WARN, "webhook refused: bad payload", r, "bad_request", msg);
		return reply_json(c, MHD_HTTP_BAD_REQUEST, "refused", msg);
	}
	if (m == 0) {
		log_hook(KEELSON_LOG_INFO, "webhook ignored", r, "ignored", why);
		return reply_json(c, MHD_HTTP_OK, "ignored", why);
	}
	keelson_nudge_post(s->nudge);
	log_hook(KEELSON_LOG_INFO, "webhook push accepted; polling Git", r, "accepted", NULL);
	return reply_json(c, MHD_HTTP_ACCEPTED, "accepted", "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct keelson_http_server *s = cls;
	struct request *req = *con_cls;
	if (req == NULL) {
		int headers = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL);
		if (headers < 0 || (unsigned)headers > s->max_headers)
			return reply(c, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, text_type, "too many headers\n", 17);
		enum route r = route_of(url);
		bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
		bool post = strcmp(method, "POST") == 0;
		if (r == ROUTE_NONE)
			return reply(c, MHD_HTTP_NOT_FOUND, text_type, "not found\n", 10);
		if (r == ROUTE_METRICS || r == ROUTE_HEALTHZ || r == ROUTE_READYZ) {
			if (!get)
				return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text_type, "use GET\n", 8);
			return serve_get(s, c, r);
		}
		if (!post)
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text_type, "use POST\n", 9);
		if (hook_secret(s, r) == NULL)
			return reply(c, MHD_HTTP_NOT_FOUND, text_type, "this webhook is not configured\n", 31);
		/* Refuse a declared oversized body before reading any of it. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > s->max_body) {
			log_hook(KEELSON_LOG_WARN, "webhook refused: body too large", r, "too_large", NULL);
			return reply_json(c, MHD_HTTP_CONTENT_TOO_LARGE, "refused", "body too large");
		}
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		req->route = r;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->too_large || req->len + n > s->max_body) {
			/* Chunked body past the limit: drop the rest, answer 413 at the end. */
			req->too_large = true;
			return MHD_YES;
		}
		if (req->len + n + 1 > req->cap) {
			size_t cap = req->cap ? req->cap : 4096;
			while (cap < req->len + n + 1)
				cap *= 2;
			char *b = realloc(req->body, cap);
			if (b == NULL)
				return MHD_NO;
			req->body = b;
			req->cap = cap;
		}
		memcpy(req->body + req->len, upload_data, n);
		req->len += n;
		req->body[req->len] = '\0';
		return MHD_YES;
	}
	return serve_hook(s, c, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;
	if (req != NULL) {
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	keelson_log(KEELSON_LOG_WARN, "HTTP server", "detail", msg, (const char *)NULL);
}

static int dup_opt(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory");
}

static void free_server(struct keelson_http_server *s)
{
	free(s->repo_url);
	free(s->branch);
	keelson_secret_free(s->github_secret);
	keelson_secret_free(s->gitlab_token);
	keelson_secret_free(s->generic_secret);
	free(s->generic_header);
	free(s);
}

int keelson_http_server_start(struct keelson_http_server **out, const struct keelson_http_server_options *opts)
{
	if (opts == NULL || opts->version != KEELSON_HTTP_SERVER_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "HTTP server options: version %u, expected %d",
					 opts ? opts->version : 0, KEELSON_HTTP_SERVER_OPTIONS_VERSION);
	bool hooks = opts->github_secret || opts->gitlab_token || opts->generic_secret;
	if (hooks && (opts->repo_url == NULL || opts->nudge == NULL))
		return keelson_error_set(KEELSON_EINVALID,
					 "HTTP server: a webhook secret is set but the repository URL or the nudge "
					 "is missing");
	const char *addr = opts->address ? opts->address : "127.0.0.1";
	if (opts->port > 65535)
		return keelson_error_set(KEELSON_EINVALID, "HTTP server: port %u is out of range", opts->port);
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	const struct sockaddr *sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)opts->port);
		sa = (const struct sockaddr *)&sin;
	} else if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)opts->port);
		sa = (const struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else
		return keelson_error_set(KEELSON_EINVALID,
					 "HTTP server: bind address \"%s\" is not an IPv4 or IPv6 address "
					 "(write e.g. 127.0.0.1, 0.0.0.0 or ::)",
					 addr);
	struct keelson_http_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	s->max_body = opts->max_body_bytes ? opts->max_body_bytes : KEELSON_HTTP_DEFAULT_MAX_BODY;
	s->max_headers = opts->max_headers ? opts->max_headers : KEELSON_HTTP_DEFAULT_MAX_HEADERS;
	s->nudge = opts->nudge;
	s->metrics = opts->metrics;
	s->ready = opts->ready;
	s->ready_payload = opts->ready_payload;
	int rc;
	if ((rc = dup_opt(&s->repo_url, opts->repo_url)) < 0 || (rc = dup_opt(&s->branch, opts->branch)) < 0 ||
	    (rc = dup_opt(&s->github_secret, opts->github_secret)) < 0 ||
	    (rc = dup_opt(&s->gitlab_token, opts->gitlab_token)) < 0 ||
	    (rc = dup_opt(&s->generic_secret, opts->generic_secret)) < 0 ||
	    (rc = dup_opt(&s->generic_header,
			  opts->generic_header ? opts->generic_header : KEELSON_HTTP_DEFAULT_GENERIC_HEADER)) < 0) {
		free_server(s);
		return rc;
	}
	s->daemon = MHD_start_daemon(
		flags, (uint16_t)opts->port, NULL, NULL, on_request, s,
		/* First, so that MHD's own start-up messages go through it too. */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)(opts->timeout_s ? opts->timeout_s : KEELSON_HTTP_DEFAULT_TIMEOUT_S),
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)(opts->max_connections ? opts->max_connections : KEELSON_HTTP_DEFAULT_MAX_CONNECTIONS),
		/* Bounds the request line and headers together. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KEELSON_HTTP_HEADER_BYTES, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		NULL, MHD_OPTION_END);
	if (s->daemon == NULL) {
		free_server(s);
		return keelson_error_set(KEELSON_EUNAVAILABLE,
					 "HTTP server: cannot listen on %s port %u (in use, or not an address of "
					 "this host); change the listen address in the configuration",
					 addr, opts->port);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : opts->port;
	char port[16];
	snprintf(port, sizeof(port), "%u", s->port);
	keelson_log(KEELSON_LOG_INFO, "HTTP server listening", "address", addr, "port", port, (const char *)NULL);
	*out = s;
	return 0;
}

unsigned keelson_http_server_port(const struct keelson_http_server *s)
{
	return s->port;
}

void keelson_http_server_stop(struct keelson_http_server *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->daemon);
	free_server(s);
}
