/* A small HTTPS server (libmicrohttpd, GnuTLS) on 127.0.0.1 for the client
 * tests: each test installs a handler that decides the reply, so the tests
 * can produce what kubesim cannot (yet): 429 with Retry-After, 5xx, a
 * watch that drops mid-stream, a 410 at request time. */
#ifndef KEELSON_TESTS_KUBE_MINI_SERVER_H
#define KEELSON_TESTS_KUBE_MINI_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;

struct mini_request {
	struct MHD_Connection *connection;
	const char *method;
	const char *path;          /* without the query */
	const char *authorization; /* header value or NULL */
	const char *content_type;
	bool client_cert_verified; /* a client certificate signed by the CA */
	const char *body;
	size_t body_len;
	unsigned number;           /* 1 for the first request the server saw */
};

/* Query argument of the request, or NULL. */
const char *mini_arg(const struct mini_request *req, const char *key);

enum mini_stream_end {
	MINI_END_CLEAN = 0,  /* terminating chunk: a normal end of watch */
	MINI_END_DROP = 1,   /* the connection is cut mid-stream */
	MINI_END_HOLD = 2,   /* keep the stream open (until the server stops) */
};

#define MINI_MAX_LINES 16

struct mini_reply {
	unsigned status;          /* default 200 */
	char body[8192];
	char retry_after[32];
	/* Streaming (watch) reply when stream is true: lines are sent one per
	 * chunk, each followed by '\n', then the stream ends as `end` says. */
	bool stream;
	const char *lines[MINI_MAX_LINES];
	size_t line_count;
	enum mini_stream_end end;
	/* Generated stream (instead of `lines`): called until it returns NULL,
	 * then the stream ends as *end says. Returns a malloc'd line without
	 * '\n'. May block waiting for news (one thread per connection), but
	 * must return NULL soon once *stopping is true. */
	char *(*next)(void *payload, unsigned *cursor, enum mini_stream_end *end, const atomic_bool *stopping);
	void *next_payload;
	void (*next_free)(void *next_payload); /* called when the stream is freed, or NULL */
	unsigned cursor;
};

typedef void (*mini_handler)(const struct mini_request *req, struct mini_reply *reply, void *payload);

struct mini_server;

struct mini_server_options {
	const char *cert_pem;
	const char *key_pem;
	const char *trust_pem; /* CA for client certificates, or NULL */
	mini_handler handler;
	void *payload;
};

/* Start on 127.0.0.1, a free port. NULL on failure. */
struct mini_server *mini_server_start(const struct mini_server_options *opts);
unsigned short mini_server_port(const struct mini_server *s);
/* Requests answered so far. */
unsigned mini_server_requests(struct mini_server *s);
void mini_server_stop(struct mini_server *s);

#endif
