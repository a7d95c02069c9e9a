/*
 * A small smart-HTTP Git server for tests: libmicrohttpd in front of the
 * real `git http-backend` (CGI), on 127.0.0.1 only.
 *
 *   git_http_server --root DIR --port-file FILE --log FILE
 *                   [--user NAME --password-file FILE] [--tls-cert PEM --tls-key PEM]
 *
 * Binds an ephemeral port and writes it to --port-file once listening.
 * Each request is appended to --log as "METHOD PATH wants=N\n", N being the
 * number of "want" lines in the request body, so a test can assert that a
 * poll transferred no pack (no POST to git-upload-pack with wants).
 * With --user, requests must carry that Basic auth user and password.
 * With --tls-cert and --tls-key, it serves HTTPS.
 * Exits on SIGTERM or SIGINT, or when its parent dies.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_BODY (16 * 1024 * 1024)
#define MAX_OUTPUT (64 * 1024 * 1024)

static const char *root;
static const char *log_path;
static const char *auth_user;
static char auth_password[256];
static volatile sig_atomic_t stop;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

struct request {
	char *body;
	size_t len;
	bool too_big;
};

/* A whole small file, NUL-terminated; NULL on error. */
static char *slurp(const char *path)
{
	if (!path)
		return NULL;
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, 65537);
	size_t n = buf ? fread(buf, 1, 65536, f) : 0;
	fclose(f);
	if (buf && n == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static size_t count_wants(const char *body, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(body + i, "want", 4) == 0)
			n++;
	return n;
}

static void log_request(const char *method, const char *url, size_t wants)
{
	pthread_mutex_lock(&log_lock);
	FILE *f = fopen(log_path, "a");
	if (f) {
		fprintf(f, "%s %s wants=%zu\n", method, url, wants);
		fclose(f);
	}
	pthread_mutex_unlock(&log_lock);
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static bool authorized(struct MHD_Connection *c)
{
	if (!auth_user)
		return true;
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &pass);
	bool ok = user && pass && strcmp(user, auth_user) == 0 && strcmp(pass, auth_password) == 0;
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

static char *env_entry(const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value ? value : "") + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s=%s", key, value ? value : "");
	return s;
}

/* Run git http-backend for one request; returns the response or NULL. */
static struct MHD_Response *run_backend(struct MHD_Connection *c, const char *method,
					const char *url, const struct request *req, unsigned *status)
{
	char body_path[] = "/tmp/keelson-git-http-XXXXXX";
	int body_fd = mkstemp(body_path);
	if (body_fd < 0)
		return NULL;
	unlink(body_path);
	if (req->len > 0 && write(body_fd, req->body, req->len) != (ssize_t)req->len) {
		close(body_fd);
		return NULL;
	}
	lseek(body_fd, 0, SEEK_SET);

	const char *query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service");
	char qs[256] = "";
	if (query)
		snprintf(qs, sizeof(qs), "service=%s", query);
	char len_str[32];
	snprintf(len_str, sizeof(len_str), "%zu", req->len);
	const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *gitproto = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Git-Protocol");
	const char *encoding = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
	char *envp[] = {
		env_entry("GIT_PROJECT_ROOT", root),
		env_entry("GIT_HTTP_EXPORT_ALL", "1"),
		env_entry("PATH_INFO", url),
		env_entry("QUERY_STRING", qs),
		env_entry("REQUEST_METHOD", method),
		env_entry("CONTENT_TYPE", ctype),
		env_entry("CONTENT_LENGTH", len_str),
		env_entry("REMOTE_ADDR", "127.0.0.1"),
		env_entry("REMOTE_USER", auth_user ? auth_user : ""),
		env_entry("HTTP_GIT_PROTOCOL", gitproto),
		env_entry("HTTP_CONTENT_ENCODING", encoding),
		env_entry("PATH", getenv("PATH")),
		env_entry("HOME", getenv("HOME")),
		NULL,
	};
	int out_pipe[2];
	struct MHD_Response *response = NULL;
	if (pipe(out_pipe) < 0)
		goto cleanup;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, body_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
	posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
	char *argv[] = {"git", "http-backend", NULL};
	pid_t pid;
	int err = posix_spawnp(&pid, "git", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(out_pipe[1]);
	if (err != 0) {
		close(out_pipe[0]);
		goto cleanup;
	}
	size_t cap = 65536, len = 0;
	char *out = malloc(cap);
	for (;;) {
		if (!out)
			break;
		if (len == cap) {
			if (cap >= MAX_OUTPUT)
				break;
			char *bigger = realloc(out, cap * 2);
			if (!bigger)
				break;
			out = bigger;
			cap *= 2;
		}
		ssize_t n = read(out_pipe[0], out + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(out_pipe[0]);
	int wstatus;
	waitpid(pid, &wstatus, 0);
	if (!out)
		goto cleanup;

	/* CGI output: headers, a blank line, the body. */
	*status = 200;
	char *p = out, *end = out + len;
	char *headers[32];
	size_t nheaders = 0;
	while (p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		char *line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		*line_end = '\0';
		char *line = p;
		p = eol + 1;
		if (line[0] == '\0')
			break;
		if (strncasecmp(line, "Status:", 7) == 0)
			*status = (unsigned)atoi(line + 7);
		else if (nheaders < 32)
			headers[nheaders++] = line;
	}
	response = MHD_create_response_from_buffer((size_t)(end - p), p, MHD_RESPMEM_MUST_COPY);
	for (size_t i = 0; response && i < nheaders; i++) {
		char *colon = strchr(headers[i], ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *value = colon + 1;
		while (*value == ' ')
			value++;
		MHD_add_response_header(response, headers[i], value);
	}
	free(out);
cleanup:
	close(body_fd);
	for (size_t i = 0; envp[i]; i++)
		free(envp[i]);
	return response;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct request *req = *con_cls;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (req->len + *upload_data_size > MAX_BODY) {
			req->too_big = true;
		} else {
			char *b = realloc(req->body, req->len + *upload_data_size);
			if (!b)
				return MHD_NO;
			memcpy(b + req->len, upload_data, *upload_data_size);
			req->body = b;
			req->len += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	log_request(method, url, count_wants(req->body, req->len));
	if (req->too_big)
		return reply_text(c, 413, "request body too large\n");
	if (!authorized(c)) {
		/* Empty body: with a body, libgit2 1.5's retry with credentials
		 * on the kept-alive connection failed ("http parser error"). */
		struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, "git", r);
		MHD_destroy_response(r);
		return ret;
	}
	unsigned status = 500;
	struct MHD_Response *r = run_backend(c, method, url, req, &status);
	if (!r)
		return reply_text(c, 500, "git http-backend failed\n");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct request *req = *con_cls;
	if (req) {
		free(req->body);
		free(req);
	}
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *password_file = NULL, *tls_cert = NULL, *tls_key = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--root") == 0)
			root = argv[i + 1];
		else if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[i + 1];
		else if (strcmp(argv[i], "--log") == 0)
			log_path = argv[i + 1];
		else if (strcmp(argv[i], "--user") == 0)
			auth_user = argv[i + 1];
		else if (strcmp(argv[i], "--password-file") == 0)
			password_file = argv[i + 1];
		else if (strcmp(argv[i], "--tls-cert") == 0)
			tls_cert = argv[i + 1];
		else if (strcmp(argv[i], "--tls-key") == 0)
			tls_key = argv[i + 1];
		else {
			fprintf(stderr, "git_http_server: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (!root || !port_file || !log_path || (auth_user && !password_file)) {
		fprintf(stderr, "usage: git_http_server --root DIR --port-file FILE --log FILE "
				"[--user NAME --password-file FILE]\n");
		return 2;
	}
	if (password_file) {
		FILE *f = fopen(password_file, "r");
		if (!f || !fgets(auth_password, sizeof(auth_password), f)) {
			fprintf(stderr, "git_http_server: cannot read %s\n", password_file);
			return 2;
		}
		fclose(f);
		auth_password[strcspn(auth_password, "\r\n")] = '\0';
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
	char *cert_pem = NULL, *key_pem = NULL;
	if (tls_cert || tls_key) {
		cert_pem = slurp(tls_cert);
		key_pem = slurp(tls_key);
		if (!cert_pem || !key_pem) {
			fprintf(stderr, "git_http_server: cannot read the TLS certificate or key\n");
			return 2;
		}
		flags |= MHD_USE_TLS;
	}
	struct MHD_Daemon *d = cert_pem
		? MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
				   (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, request_done,
				   NULL, MHD_OPTION_HTTPS_MEM_CERT, cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
				   key_pem, MHD_OPTION_END)
		: MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
				   (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, request_done,
				   NULL, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "git_http_server: cannot start the HTTP daemon\n");
		return 1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	FILE *pf = fopen(tmp, "w");
	if (!pf || !info) {
		MHD_stop_daemon(d);
		return 1;
	}
	fprintf(pf, "%u\n", (unsigned)info->port);
	fclose(pf);
	rename(tmp, port_file); /* atomically: the test reads a whole number */
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	free(cert_pem);
	free(key_pem);
	return 0;
}
