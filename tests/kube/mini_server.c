#include "config.h"

#include "mini_server.h"

#include <gnutls/gnutls.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mini_server {
	struct MHD_Daemon *daemon;
	struct mini_server_options opts;
	atomic_uint requests;
	atomic_bool stopping;
	unsigned short port;
};

struct upload {
	char *data;
	size_t len;
};

struct stream_state {
	struct mini_server *server;
	struct mini_reply reply;
	size_t next_line;
	size_t offset; /* within the current line, '\n' included */
	char *generated; /* current line of a generated stream */
	bool generated_done;
};

const char *mini_arg(const struct mini_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

static bool verify_client_cert(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	unsigned status = 0;
	unsigned count = 0;

	if (info == NULL || info->tls_session == NULL)
		return false;
	gnutls_session_t session = (gnutls_session_t)info->tls_session;
	if (gnutls_certificate_get_peers(session, &count) == NULL || count == 0)
		return false;
	if (gnutls_certificate_verify_peers2(session, &status) != 0)
		return false;
	return status == 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_state *st = cls;
	(void)pos;

	if (st->reply.next != NULL && st->generated == NULL && !st->generated_done) {
		st->generated = st->reply.next(st->reply.next_payload, &st->reply.cursor, &st->reply.end,
			&st->server->stopping);
		if (st->generated == NULL)
			st->generated_done = true;
		st->offset = 0;
	}
	if (st->generated != NULL) {
		const char *line = st->generated;
		size_t len = strlen(line) + 1;
		size_t n = len - st->offset;
		if (n > max)
			n = max;
		for (size_t i = 0; i < n; i++) {
			size_t at = st->offset + i;
			buf[i] = at < len - 1 ? line[at] : '\n';
		}
		st->offset += n;
		if (st->offset == len) {
			free(st->generated);
			st->generated = NULL;
		}
		return (ssize_t)n;
	}
	if (st->next_line < st->reply.line_count) {
		const char *line = st->reply.lines[st->next_line];
		size_t len = strlen(line) + 1;
		size_t n = len - st->offset;
		if (n > max)
			n = max;
		for (size_t i = 0; i < n; i++) {
			size_t at = st->offset + i;
			buf[i] = at < len - 1 ? line[at] : '\n';
		}
		st->offset += n;
		if (st->offset == len) {
			st->offset = 0;
			st->next_line++;
		}
		return (ssize_t)n;
	}
	switch (st->reply.end) {
	case MINI_END_DROP:
		return MHD_CONTENT_READER_END_WITH_ERROR;
	case MINI_END_HOLD:
		while (!atomic_load(&st->server->stopping))
			usleep(10000);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	default:
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void stream_free(void *cls)
{
	struct stream_state *st = cls;
	if (st->reply.next_free != NULL)
		st->reply.next_free(st->reply.next_payload);
	free(st->generated);
	free(st);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
	const char *method, const char *version, const char *upload_data, size_t *upload_data_size,
	void **con_cls)
{
	struct mini_server *s = cls;
	struct upload *up = *con_cls;
	(void)version;

	if (up == NULL) {
		up = calloc(1, sizeof(*up));
		if (up == NULL)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		char *p = realloc(up->data, up->len + *upload_data_size + 1);
		if (p == NULL)
			return MHD_NO;
		memcpy(p + up->len, upload_data, *upload_data_size);
		up->data = p;
		up->len += *upload_data_size;
		up->data[up->len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}

	struct mini_request req = {
		.connection = connection,
		.method = method,
		.path = url,
		.authorization = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization"),
		.content_type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Content-Type"),
		.client_cert_verified = verify_client_cert(connection),
		.body = up->data ? up->data : "",
		.body_len = up->len,
		.number = atomic_fetch_add(&s->requests, 1) + 1,
	};
	struct stream_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return MHD_NO;
	st->server = s;
	st->reply.status = 200;
	s->opts.handler(&req, &st->reply, s->opts.payload);

	struct MHD_Response *resp;
	if (st->reply.stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, stream_read, st, stream_free);
	} else {
		resp = MHD_create_response_from_buffer(strlen(st->reply.body), st->reply.body, MHD_RESPMEM_MUST_COPY);
	}
	if (resp == NULL) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (st->reply.retry_after[0])
		MHD_add_response_header(resp, "Retry-After", st->reply.retry_after);
	unsigned status = st->reply.status;
	if (!st->reply.stream)
		free(st);
	enum MHD_Result ret = MHD_queue_response(connection, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *connection, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;
	(void)cls;
	(void)connection;
	(void)toe;
	if (up) {
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

struct mini_server *mini_server_start(const struct mini_server_options *opts)
{
	struct mini_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in addr;

	if (s == NULL)
		return NULL;
	s->opts = *opts;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = 0;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)opts->key_pem},
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)opts->cert_pem},
		{opts->trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, (void *)opts->trust_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	s->daemon = MHD_start_daemon(
		MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		0, NULL, NULL, handle, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_ARRAY, tls_opts,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_END);
	if (s->daemon == NULL) {
		free(s);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s;
}

unsigned short mini_server_port(const struct mini_server *s)
{
	return s->port;
}

unsigned mini_server_requests(struct mini_server *s)
{
	return atomic_load(&s->requests);
}

void mini_server_stop(struct mini_server *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stopping, true);
	MHD_stop_daemon(s->daemon);
	free(s);
}
