/*
 * keelson's HTTP endpoint (libmicrohttpd, one internal polling thread):
 *
 *   POST /hooks/github   X-Hub-Signature-256: sha256=HMAC(body)    (GitHub, Gitea, Forgejo)
 *   POST /hooks/gitlab   X-Gitlab-Token: TOKEN
 *   POST /hooks/generic  <generic_header>: sha256=HMAC(body)       (default X-Keelson-Signature-256)
 *   GET  /metrics        Prometheus text format 0.0.4
 *   GET  /healthz        200 while the process serves requests
 *   GET  /readyz         200 when the loop's readiness callback says so, else 503 with the reason
 *
 * One route per forge rather than one /hooks/push with detection: the
 * route says which secret and which signature scheme apply, so a request
 * cannot pick the weakest one by sending a different header. A hook whose
 * secret is not configured answers 404.
 *
 * A push is checked in this order: size (413), signature (401; nothing
 * else happens, not even parsing), payload (400), repository and branch
 * (200 "ignored"), then the nudge is posted (202 "accepted"). Pushes
 * coalesce in the nudge: a burst causes one fetch.
 */
#ifndef KEELSON_HTTP_HTTP_SERVER_H
#define KEELSON_HTTP_HTTP_SERVER_H

#include "http/nudge.h"
#include "metrics/metrics.h"

#include <stdbool.h>
#include <stddef.h>

struct keelson_http_server;

#define KEELSON_HTTP_SERVER_OPTIONS_VERSION 1
#define KEELSON_HTTP_DEFAULT_MAX_BODY (1024u * 1024u)
#define KEELSON_HTTP_DEFAULT_MAX_HEADERS 64u
#define KEELSON_HTTP_DEFAULT_TIMEOUT_S 10u
#define KEELSON_HTTP_DEFAULT_MAX_CONNECTIONS 64u
/* Request line and headers of one connection together (libmicrohttpd's
 * per-connection memory pool): larger is answered 431 and closed. */
#define KEELSON_HTTP_HEADER_BYTES (64u * 1024u)
#define KEELSON_HTTP_DEFAULT_GENERIC_HEADER "X-Keelson-Signature-256"

/* Readiness, asked on every GET /readyz from the server's thread: return
 * true when ready; otherwise write a short reason into `reason`. Must be
 * thread-safe and must not block (read state the loop published). */
typedef bool (*keelson_http_ready_fn)(void *payload, char *reason, size_t reason_size);

struct keelson_http_server_options {
	unsigned version;        /* KEELSON_HTTP_SERVER_OPTIONS_VERSION */
	const char *address;     /* IPv4 or IPv6 literal; NULL: "127.0.0.1" */
	unsigned port;           /* 0: any free port (tests; see keelson_http_server_port) */
	size_t max_body_bytes;   /* 0: KEELSON_HTTP_DEFAULT_MAX_BODY */
	unsigned max_headers;    /* 0: KEELSON_HTTP_DEFAULT_MAX_HEADERS; more is 431 */
	unsigned timeout_s;      /* idle connection timeout (s); 0: KEELSON_HTTP_DEFAULT_TIMEOUT_S */
	/* Open connections at once; 0: KEELSON_HTTP_DEFAULT_MAX_CONNECTIONS.
	 * Past it a new connection is closed without an answer. */
	unsigned max_connections;

	/* Webhooks. Secrets are the values (read them with
	 * keelson_secret_read_file); they are copied. NULL disables a hook. */
	const char *repo_url;    /* the configured repository; required for any hook */
	const char *branch;      /* branch name or full ref; NULL: any ref */
	const char *github_secret;
	const char *gitlab_token;
	const char *generic_secret;
	const char *generic_header; /* NULL: KEELSON_HTTP_DEFAULT_GENERIC_HEADER */
	struct keelson_nudge *nudge; /* borrowed; posted for each accepted push */

	struct keelson_metrics *metrics; /* borrowed; NULL: /metrics is 404 */
	keelson_http_ready_fn ready;     /* NULL: ready as soon as serving */
	void *ready_payload;
};

/* Bind and start serving. KEELSON_EINVALID for bad options (an address
 * that is not a literal, a hook without repo_url or nudge),
 * KEELSON_EUNAVAILABLE when the address cannot be bound. */
int keelson_http_server_start(struct keelson_http_server **out, const struct keelson_http_server_options *opts);

/* The bound port (useful with port 0). */
unsigned keelson_http_server_port(const struct keelson_http_server *s);

/* Stop serving (requests in flight finish) and free. Accepts NULL. */
void keelson_http_server_stop(struct keelson_http_server *s);

#endif
