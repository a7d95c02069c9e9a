#include "config.h"

#include "kube/kube_client.h"

#include "core/error.h"
#include "core/log.h"
#include "kube/kube_ratelimit.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RETRY_AFTER_CAP_MS 60000
#define ERROR_BODY_MAX KEELSON_KUBE_ERROR_BODY_MAX
#define TOKEN_MAX_BYTES KEELSON_KUBE_TOKEN_MAX_BYTES

struct gv_entry {
	char *group_version;
	struct keelson_kube_resource *resources;
	size_t count;
	bool served;
};

struct keelson_kube_client {
	struct keelson_kube_config *cfg;
	struct keelson_kube_client_options opts;
	char *user_agent;
	char *connect_to; /* for tls-server-name: "name:port:host:port" */
	char *url_base;   /* server, or https://tls-server-name:port */

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t pool_lock;
	CURL **pool;
	size_t pool_len, pool_cap;

	struct keelson_kube_ratelimit limiter;
	atomic_ulong requests;

	pthread_mutex_t token_lock;
	char *token;
	uint64_t token_read_ns;

	pthread_mutex_t discovery_lock; /* the gvs array */
	pthread_mutex_t fetch_lock;     /* one discovery fetch at a time */
	struct gv_entry *gvs;
	size_t gv_count, gv_cap;

	pthread_mutex_t jitter_lock;
	unsigned jitter_state;

	/* Watches in progress, so keelson_kube_watch_wake can end them at once
	 * instead of at libcurl's next progress callback (up to a second). */
	pthread_mutex_t watch_lock;
	struct active_watch *watches;
};

struct active_watch {
	const atomic_bool *stop;
	CURLM *multi;
	struct active_watch *next;
};

void keelson_kube_client_options_init(struct keelson_kube_client_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_CLIENT_OPTIONS_VERSION;
	opts->qps = 50;
	opts->burst = 100;
	opts->max_retries = 5;
	opts->timeout_ms = 30000;
	opts->connect_timeout_ms = 10000;
	opts->backoff_initial_ms = 250;
	opts->backoff_max_ms = 16000;
	opts->max_response_bytes = KEELSON_KUBE_DEFAULT_MAX_RESPONSE;
	opts->user_agent = NULL;
	opts->token_refresh_ms = 60000; /* rotating service-account tokens (client-go: 1 min) */
	opts->max_proxy_response_bytes = KEELSON_KUBE_DEFAULT_MAX_PROXY_RESPONSE;
}

void keelson_kube_list_options_init(struct keelson_kube_list_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_LIST_OPTIONS_VERSION;
	opts->page_size = 500;
	opts->max_items = 1000000;
}

void keelson_kube_write_options_init(struct keelson_kube_write_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_WRITE_OPTIONS_VERSION;
}

void keelson_kube_delete_options_init(struct keelson_kube_delete_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_DELETE_OPTIONS_VERSION;
	opts->grace_period_seconds = -1;
}

void keelson_kube_watch_options_init(struct keelson_kube_watch_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_WATCH_OPTIONS_VERSION;
	opts->timeout_seconds = 300;
	opts->allow_bookmarks = true;
	opts->max_event_bytes = KEELSON_KUBE_DEFAULT_MAX_EVENT;
}

/* --- curl share locking ------------------------------------------------ */

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userptr)
{
	struct keelson_kube_client *client = userptr;
	(void)handle;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&client->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userptr)
{
	struct keelson_kube_client *client = userptr;
	(void)handle;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&client->share_locks[data]);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --- client lifecycle -------------------------------------------------- */

int keelson_kube_client_new(struct keelson_kube_client **out, const struct keelson_kube_config *cfg,
	const struct keelson_kube_client_options *opts)
{
	struct keelson_kube_client *c;
	struct keelson_kube_client_options defaults;
	int error;

	*out = NULL;
	if (opts == NULL) {
		keelson_kube_client_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->version != KEELSON_KUBE_CLIENT_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube client options: version %u, expected %u",
			opts->version, KEELSON_KUBE_CLIENT_OPTIONS_VERSION);
	if (cfg == NULL || cfg->server == NULL)
		return keelson_error_set(KEELSON_EINVALID, "kube client: configuration has no server");
	pthread_once(&curl_once, init_curl);
	if (curl_init_result != CURLE_OK)
		return keelson_error_set(KEELSON_ERROR, "libcurl initialisation failed: %s",
			curl_easy_strerror(curl_init_result));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory creating kube client");
	c->opts = *opts;
	if (c->opts.timeout_ms <= 0)
		c->opts.timeout_ms = 30000;
	if (c->opts.connect_timeout_ms <= 0)
		c->opts.connect_timeout_ms = 10000;
	if (c->opts.max_response_bytes == 0)
		c->opts.max_response_bytes = KEELSON_KUBE_DEFAULT_MAX_RESPONSE;
	if (c->opts.max_proxy_response_bytes == 0)
		c->opts.max_proxy_response_bytes = KEELSON_KUBE_DEFAULT_MAX_PROXY_RESPONSE;
	if (c->opts.backoff_initial_ms == 0)
		c->opts.backoff_initial_ms = 250;
	if (c->opts.backoff_max_ms < c->opts.backoff_initial_ms)
		c->opts.backoff_max_ms = c->opts.backoff_initial_ms;
	if (c->opts.token_refresh_ms == 0)
		c->opts.token_refresh_ms = 60000;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->token_lock, NULL);
	pthread_mutex_init(&c->discovery_lock, NULL);
	pthread_mutex_init(&c->fetch_lock, NULL);
	pthread_mutex_init(&c->jitter_lock, NULL);
	pthread_mutex_init(&c->watch_lock, NULL);
	keelson_kube_ratelimit_init(&c->limiter, opts->qps, opts->burst, keelson_kube_now_ns());
	c->jitter_state = (unsigned)keelson_kube_now_ns();

	if ((error = keelson_kube_config_dup(&c->cfg, cfg)) < 0)
		goto fail;
	c->opts.user_agent = NULL;
	c->user_agent = strdup(opts->user_agent ? opts->user_agent : "keelson/" PACKAGE_VERSION);
	if (c->user_agent == NULL) {
		error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto fail;
	}

	/* tls-server-name: verify the certificate against that name while
	 * connecting to the configured host. */
	if (cfg->tls_server_name != NULL && strncmp(cfg->server, "https://", 8) == 0) {
		const char *hostport = cfg->server + 8;
		const char *colon = strrchr(hostport, ':');
		const char *port = (colon && !strchr(colon, ']')) ? colon + 1 : "443";
		size_t hostlen = (colon && !strchr(colon, ']')) ? (size_t)(colon - hostport) : strlen(hostport);
		size_t need = strlen(cfg->tls_server_name) * 2 + strlen(hostport) + 32;
		c->connect_to = malloc(need);
		c->url_base = malloc(need);
		if (c->connect_to == NULL || c->url_base == NULL) {
			error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto fail;
		}
		snprintf(c->connect_to, need, "%s:%s:%.*s:%s", cfg->tls_server_name, port, (int)hostlen, hostport, port);
		snprintf(c->url_base, need, "https://%s:%s", cfg->tls_server_name, port);
	} else if ((c->url_base = strdup(cfg->server)) == NULL) {
		error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto fail;
	}

	if ((c->share = curl_share_init()) == NULL) {
		error = keelson_error_set(KEELSON_ENOMEM, "curl_share_init failed");
		goto fail;
	}
	/* Connections themselves stay with their easy handle (libcurl does not
	 * support sharing a connection cache between concurrent threads); DNS
	 * and TLS sessions are shared so a new handle resumes the session. */
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	if (cfg->insecure_skip_tls_verify)
		keelson_log(KEELSON_LOG_WARN, "TLS verification of the Kubernetes API server is disabled",
			"server", cfg->server, NULL);
	*out = c;
	return 0;
fail:
	keelson_kube_client_free(c);
	return error;
}

static void free_gvs(struct keelson_kube_client *c)
{
	for (size_t i = 0; i < c->gv_count; i++) {
		free(c->gvs[i].group_version);
		free(c->gvs[i].resources);
	}
	free(c->gvs);
	c->gvs = NULL;
	c->gv_count = c->gv_cap = 0;
}

void keelson_kube_client_free(struct keelson_kube_client *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	if (c->share)
		curl_share_cleanup(c->share);
	free_gvs(c);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	keelson_kube_config_free(c->cfg);
	free(c->user_agent);
	free(c->connect_to);
	free(c->url_base);
	keelson_kube_ratelimit_destroy(&c->limiter);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->token_lock);
	pthread_mutex_destroy(&c->discovery_lock);
	pthread_mutex_destroy(&c->fetch_lock);
	pthread_mutex_destroy(&c->jitter_lock);
	pthread_mutex_destroy(&c->watch_lock);
	free(c);
}

const char *keelson_kube_client_server(const struct keelson_kube_client *client)
{
	return client->cfg->server;
}

const char *keelson_kube_client_namespace(const struct keelson_kube_client *client)
{
	return client->cfg->namespace ? client->cfg->namespace : "default";
}

unsigned long keelson_kube_client_request_count(const struct keelson_kube_client *client)
{
	return atomic_load(&((struct keelson_kube_client *)client)->requests);
}

static _Atomic(keelson_kube_observer_fn) request_observer;

void keelson_kube_set_observer(keelson_kube_observer_fn fn)
{
	atomic_store(&request_observer, fn);
}

static void observe_request(const char *method, const char *path, const char *content_type, long code,
	uint64_t started_ns)
{
	keelson_kube_observer_fn fn = atomic_load(&request_observer);
	if (fn != NULL)
		fn(method, path, content_type, code, (double)(keelson_kube_now_ns() - started_ns) / 1e9);
}

static double next_jitter(struct keelson_kube_client *c)
{
	pthread_mutex_lock(&c->jitter_lock);
	c->jitter_state = c->jitter_state * 1103515245u + 12345u;
	unsigned v = (c->jitter_state >> 8) & 0xffff;
	pthread_mutex_unlock(&c->jitter_lock);
	return (double)v / 65536.0;
}

/* --- handles ----------------------------------------------------------- */

static CURL *handle_get(struct keelson_kube_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len > 0)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	if (h == NULL)
		h = curl_easy_init();
	else
		curl_easy_reset(h); /* keeps the handle's live connections */
	return h;
}

static void handle_put(struct keelson_kube_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len == c->pool_cap) {
		size_t cap = c->pool_cap ? c->pool_cap * 2 : 8;
		CURL **p = realloc(c->pool, cap * sizeof(*p));
		if (p == NULL) {
			pthread_mutex_unlock(&c->pool_lock);
			curl_easy_cleanup(h);
			return;
		}
		c->pool = p;
		c->pool_cap = cap;
	}
	c->pool[c->pool_len++] = h;
	pthread_mutex_unlock(&c->pool_lock);
}

static int read_token_file(char **out, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	*out = NULL;
	if (f == NULL)
		return keelson_error_set(KEELSON_ERROR, "cannot read token file %s: %s", path, strerror(errno));
	if ((buf = malloc(TOKEN_MAX_BYTES + 1)) == NULL) {
		fclose(f);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	n = fread(buf, 1, TOKEN_MAX_BYTES + 1, f);
	fclose(f);
	if (n > TOKEN_MAX_BYTES) {
		free(buf);
		return keelson_error_set(KEELSON_ELIMIT,
			"token file %s is larger than %u bytes; a bearer token is a few KiB: check that the "
			"kubeconfig's tokenFile (or the service account's token) names the token", path, TOKEN_MAX_BYTES);
	}
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		free(buf);
		return keelson_error_set(KEELSON_ERROR, "token file %s is empty", path);
	}
	*out = buf;
	return 0;
}

/* "Authorization: Bearer ..." for this request, or NULL for none. */
static int auth_header(char **out, struct keelson_kube_client *c)
{
	int error = 0;

	*out = NULL;
	pthread_mutex_lock(&c->token_lock);
	if (c->cfg->token_file != NULL) {
		uint64_t now = keelson_kube_now_ns();
		if (c->token == NULL || now - c->token_read_ns > (uint64_t)c->opts.token_refresh_ms * 1000000u) {
			char *fresh = NULL;
			if (read_token_file(&fresh, c->cfg->token_file) == 0) {
				if (c->token) {
					memset(c->token, 0, strlen(c->token));
					free(c->token);
				}
				c->token = fresh;
				c->token_read_ns = now;
			} else if (c->token == NULL) {
				error = keelson_error_last()->code;
				goto done;
			} else {
				/* Keep the previous token: a rotation in progress must not
				 * turn into an outage. */
				keelson_log(KEELSON_LOG_WARN, "cannot re-read the token file, using the previous token",
					"file", c->cfg->token_file, "error", keelson_error_last()->message, NULL);
			}
		}
	} else if (c->cfg->token != NULL && c->token == NULL) {
		if ((c->token = strdup(c->cfg->token)) == NULL) {
			error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto done;
		}
	}
	if (c->token != NULL) {
		size_t need = strlen(c->token) + 32;
		if ((*out = malloc(need)) == NULL) {
			error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto done;
		}
		snprintf(*out, need, "Authorization: Bearer %s", c->token);
	}
done:
	pthread_mutex_unlock(&c->token_lock);
	return error;
}

struct buffer {
	char *data;
	size_t len, cap, max;
	bool overflow;
};

static int buffer_append(struct buffer *b, const char *data, size_t len)
{
	if (b->len + len > b->max) {
		b->overflow = true;
		return -1;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (p == NULL)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

struct transfer {
	struct buffer body;
	char retry_after[64];
	char content_type[128];
	CURL *handle;
	/* An error reply's body is only read for its message: the first
	 * ERROR_BODY_MAX bytes are kept and the transfer stops there. */
	bool error_body_cut;
};

static size_t write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * nmemb;
	long code = 0;
	curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &code);
	size_t cut = t->body.max < ERROR_BODY_MAX ? t->body.max : ERROR_BODY_MAX;
	if ((code < 200 || code >= 300) && t->body.len + len > cut) {
		size_t room = t->body.len < cut ? cut - t->body.len : 0;
		if (room > 0 && buffer_append(&t->body, ptr, room) < 0)
			return 0;
		t->error_body_cut = true;
		return 0;
	}
	return buffer_append(&t->body, ptr, len) == 0 ? len : 0;
}

static void copy_header_value(char *dst, size_t dst_size, const char *src, size_t len)
{
	while (len > 0 && (*src == ' ' || *src == '\t')) {
		src++;
		len--;
	}
	while (len > 0 && (src[len - 1] == '\r' || src[len - 1] == '\n' || src[len - 1] == ' '))
		len--;
	if (len >= dst_size)
		len = dst_size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static size_t read_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t len = size * nmemb;

	/* A new status line (after a 100 Continue or a redirect) resets. */
	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		t->retry_after[0] = '\0';
		t->content_type[0] = '\0';
	} else if (len > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
		copy_header_value(t->retry_after, sizeof(t->retry_after), ptr + 12, len - 12);
	} else if (len > 13 && strncasecmp(ptr, "Content-Type:", 13) == 0) {
		copy_header_value(t->content_type, sizeof(t->content_type), ptr + 13, len - 13);
	}
	return len;
}

struct lists {
	struct curl_slist *headers;
	struct curl_slist *connect_to;
};

static void lists_free(struct lists *l)
{
	curl_slist_free_all(l->headers);
	curl_slist_free_all(l->connect_to);
	l->headers = l->connect_to = NULL;
}

/* Options common to every request, watches included. The lists are freed
 * by the caller after the transfer (curl does not copy them). */
static int setup_handle(struct keelson_kube_client *c, CURL *h, const char *path, struct lists *l,
	const char *accept, const char *content_type)
{
	const struct keelson_kube_config *cfg = c->cfg;
	char *auth = NULL;
	char line[256];
	int error;

	size_t url_len = strlen(c->url_base) + strlen(path) + 1;
	char *url = malloc(url_len);
	if (url == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	snprintf(url, url_len, "%s%s", c->url_base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* never squash dot segments */
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* compression if the server offers it */
	if (cfg->proxy_url != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy_url);
	if (c->connect_to != NULL) {
		if ((l->connect_to = curl_slist_append(NULL, c->connect_to)) == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, l->connect_to);
	}

	if (cfg->insecure_skip_tls_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (cfg->ca_data != NULL) {
#if LIBCURL_VERSION_NUM >= 0x074d00 /* 7.77: CURLOPT_CAINFO_BLOB */
		struct curl_blob blob = {cfg->ca_data, cfg->ca_data_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
#else
		return keelson_error_set(KEELSON_EINVALID,
			"certificate-authority-data needs libcurl 7.77 or later; use certificate-authority (a file)");
#endif
	} else if (cfg->ca_file != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (cfg->client_cert_data != NULL) {
		struct curl_blob blob = {cfg->client_cert_data, cfg->client_cert_data_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (cfg->client_cert_file != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert_file);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (cfg->client_key_data != NULL) {
		struct curl_blob blob = {cfg->client_key_data, cfg->client_key_data_len, CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (cfg->client_key_file != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key_file);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}

	if ((error = auth_header(&auth, c)) < 0)
		return error;
	if (auth != NULL) {
		l->headers = curl_slist_append(l->headers, auth);
		memset(auth, 0, strlen(auth));
		free(auth);
		if (l->headers == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	snprintf(line, sizeof(line), "Accept: %s", accept ? accept : "application/json");
	struct curl_slist *hl = curl_slist_append(l->headers, line);
	if (hl != NULL && content_type != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		hl = curl_slist_append(hl, line);
	}
	if (hl != NULL)
		hl = curl_slist_append(hl, "Expect:");
	if (hl == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	l->headers = hl;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l->headers);
	return 0;
}

/* --- errors ------------------------------------------------------------ */

/* client-go's messages for a response without a Status body
 * (apimachinery errors.NewGenericServerResponse). */
static const char *generic_message(long code)
{
	switch (code) {
	case 400: return "the server rejected our request for an unknown reason";
	case 401: return "the server has asked for the client to provide credentials";
	case 403: return "the server does not allow access to the requested resource";
	case 404: return "the server could not find the requested resource";
	case 405: return "the server does not allow this method on the requested resource";
	case 409: return "the server reported a conflict";
	case 410: return "the resource version is too old (the server answered 410 Gone)";
	case 415: return "the server responded with the status code 415 but did not return more information";
	case 422: return "the server rejected our request due to an error in our request";
	case 429: return "the server has received too many requests and has asked us to try again later";
	case 500: return "an error on the server has prevented the request from succeeding";
	case 503: return "the server is currently unable to handle the request";
	case 504: return "the server was unable to return a response in the time allotted, but may still be processing the request";
	default: return "the server responded with an unexpected status code";
	}
}

int keelson_kube_error_from_status(struct keelson_kube_status *status, long http_code,
	const char *body, size_t body_len, const char *what, const char *server)
{
	cJSON *json = NULL;
	const char *message = NULL;
	const char *reason = "";
	int code;

	if (body != NULL && body_len > 0)
		json = cJSON_ParseWithLength(body, body_len);
	if (json != NULL) {
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(json, "kind");
		if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, "message");
			const cJSON *r = cJSON_GetObjectItemCaseSensitive(json, "reason");
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(json, "code");
			if (cJSON_IsString(m) && m->valuestring[0])
				message = m->valuestring;
			if (cJSON_IsString(r))
				reason = r->valuestring;
			/* Watch ERROR events carry the code only in the Status. */
			if (http_code == 0 && cJSON_IsNumber(c))
				http_code = (long)c->valuedouble;
		}
	}
	if (message == NULL)
		message = generic_message(http_code);
	if (status != NULL) {
		status->http_code = http_code;
		snprintf(status->reason, sizeof(status->reason), "%s", reason);
	}

	switch (http_code) {
	case 400:
	case 415:
	case 422:
		code = KEELSON_EINVALID;
		break;
	case 404:
		code = KEELSON_ENOTFOUND;
		break;
	case 409:
		code = strcmp(reason, "AlreadyExists") == 0 ? KEELSON_EEXISTS : KEELSON_ECONFLICT;
		break;
	case 410:
		code = KEELSON_KUBE_EEXPIRED;
		break;
	case 401:
		keelson_error_set(KEELSON_ERROR,
			"%s: %s (401 Unauthorized from %s): the credentials were rejected; check the token, token file "
			"or client certificate of the kubeconfig user, and that it has not expired",
			what, message, server);
		cJSON_Delete(json);
		return KEELSON_ERROR;
	case 403:
		keelson_error_set(KEELSON_ERROR,
			"%s: %s (403 Forbidden): check the RBAC permissions (Role/ClusterRole bindings) of keelson's "
			"user or service account", what, message);
		cJSON_Delete(json);
		return KEELSON_ERROR;
	case 408:
	case 504:
		code = KEELSON_ETIMEOUT;
		break;
	default:
		code = (http_code == 429 || http_code >= 500) ? KEELSON_EUNAVAILABLE : KEELSON_ERROR;
		break;
	}
	keelson_error_set(code, "%s: %s (%ld%s%s)", what, message, http_code, reason[0] ? " " : "", reason);
	cJSON_Delete(json);
	return code;
}

static int curl_failure(CURLcode rc, const char *errbuf, const char *what, const char *server)
{
	const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return keelson_error_set(KEELSON_ETIMEOUT, "%s: no answer from the Kubernetes API server %s in time: %s",
			what, server, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return keelson_error_set(KEELSON_ERROR,
			"%s: TLS verification of %s failed: %s; check certificate-authority(-data) in the kubeconfig "
			"cluster (or the in-cluster ca.crt)", what, server, detail);
	case CURLE_SSL_CERTPROBLEM:
		return keelson_error_set(KEELSON_ERROR,
			"%s: cannot use the client certificate or key: %s; check client-certificate(-data) and "
			"client-key(-data) in the kubeconfig user", what, detail);
	case CURLE_OUT_OF_MEMORY:
		return keelson_error_set(KEELSON_ENOMEM, "%s: out of memory", what);
	default:
		return keelson_error_set(KEELSON_EUNAVAILABLE, "%s: cannot reach the Kubernetes API server %s: %s",
			what, server, detail);
	}
}

/* Whether a transport failure may be retried: connection-level failures
 * before anything was sent are always safe; others only for idempotent
 * methods. */
static bool retryable_transport(CURLcode rc, bool idempotent)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return true;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return idempotent;
	default:
		return false;
	}
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void keelson_kube_response_dispose(struct keelson_kube_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->content_type);
	memset(resp, 0, sizeof(*resp));
}

static int copy_response(struct keelson_kube_response *out, long code, struct transfer *t)
{
	out->http_code = code;
	if (t->body.data == NULL) {
		out->body = strdup("");
		out->body_len = 0;
	} else {
		out->body = t->body.data;
		out->body_len = t->body.len;
		t->body.data = NULL;
	}
	out->content_type = t->content_type[0] ? strdup(t->content_type) : NULL;
	return out->body ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory");
}

int keelson_kube_request(struct keelson_kube_response *out, struct keelson_kube_client *c,
	const struct keelson_kube_request *req)
{
	const char *method = req->method ? req->method : "GET";
	bool idempotent = strcmp(method, "POST") != 0;
	char what[512];
	int error = 0;

	memset(out, 0, sizeof(*out));
	if (req->version != KEELSON_KUBE_REQUEST_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube request: version %u, expected %u",
			req->version, KEELSON_KUBE_REQUEST_VERSION);
	if (req->path == NULL || req->path[0] != '/')
		return keelson_error_set(KEELSON_EINVALID, "kube request: the path must start with '/'");
	snprintf(what, sizeof(what), "%s %s", method, req->path);

	for (unsigned attempt = 0;; attempt++) {
		size_t max_bytes = req->max_response_bytes ? req->max_response_bytes : c->opts.max_response_bytes;
		struct transfer t = {.body = {.max = max_bytes}};
		struct lists l = {NULL, NULL};
		char errbuf[CURL_ERROR_SIZE] = "";
		long code = 0;
		CURL *h = handle_get(c);

		if (h == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "%s: cannot create a curl handle", what);
		t.handle = h;
		const char *ctype = req->content_type;
		if (ctype == NULL && req->body != NULL)
			ctype = "application/json";
		if ((error = setup_handle(c, h, req->path, &l, req->accept, ctype)) < 0) {
			lists_free(&l);
			handle_put(c, h);
			return error;
		}
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : c->opts.timeout_ms);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
		if (req->body != NULL) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		}
		if (strcmp(method, "GET") == 0 && req->body == NULL)
			curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		else if (strcmp(method, "HEAD") == 0)
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		else
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

		keelson_kube_ratelimit_wait(&c->limiter);
		atomic_fetch_add(&c->requests, 1);
		uint64_t started = keelson_kube_now_ns();
		CURLcode rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (rc == CURLE_WRITE_ERROR && t.error_body_cut)
			rc = CURLE_OK; /* stopped on purpose: the error is in the part kept */
		lists_free(&l);
		handle_put(c, h);
		observe_request(method, req->path, ctype, code, started);

		if (keelson_log_enabled(KEELSON_LOG_DEBUG)) {
			char ms[32], status[16];
			snprintf(ms, sizeof(ms), "%llu", (unsigned long long)((keelson_kube_now_ns() - started) / 1000000u));
			snprintf(status, sizeof(status), "%ld", code);
			keelson_log(KEELSON_LOG_DEBUG, "kube request", "method", method, "path", req->path,
				"status", status, "ms", ms, "curl", rc == CURLE_OK ? "" : curl_easy_strerror(rc), NULL);
		}

		bool retry = false;
		int64_t delay_ms = -1;
		if (rc != CURLE_OK) {
			if (t.body.overflow)
				error = keelson_error_set(KEELSON_ELIMIT,
					"%s: the response is larger than %zu bytes, keelson's limit; narrow the "
					"request (a label selector, smaller pages) or check what the server sends",
					what, max_bytes);
			else
				error = curl_failure(rc, errbuf, what, c->cfg->server);
			retry = retryable_transport(rc, idempotent);
		} else {
			if (code >= 200 && code < 300) {
				error = copy_response(out, code, &t);
				free(t.body.data);
				return error;
			}
			error = keelson_kube_error_from_status(NULL, code, t.body.data, t.body.len, what, c->cfg->server);
			retry = code == 429 || (idempotent && (code == 500 || code == 502 || code == 503 || code == 504));
			delay_ms = keelson_kube_retry_after_ms(t.retry_after, (int64_t)time(NULL), RETRY_AFTER_CAP_MS);
		}
		if (!retry || attempt >= c->opts.max_retries) {
			if (rc == CURLE_OK)
				copy_response(out, code, &t);
			free(t.body.data);
			if (retry && attempt > 0)
				keelson_error_wrap(error, "after %u attempts", attempt + 1);
			return error;
		}
		free(t.body.data);
		if (delay_ms < 0)
			delay_ms = (int64_t)keelson_kube_backoff_ms(attempt + 1, c->opts.backoff_initial_ms,
				c->opts.backoff_max_ms, next_jitter(c));
		char delay[32];
		snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
		keelson_log(KEELSON_LOG_INFO, "retrying Kubernetes API request", "method", method,
			"path", req->path, "error", keelson_error_last()->message, "delay_ms", delay, NULL);
		sleep_ms((uint64_t)delay_ms);
	}
}

/* --- paths ------------------------------------------------------------- */

static int append_str(struct buffer *b, const char *s)
{
	return buffer_append(b, s, strlen(s));
}

static bool unreserved(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Append `s` as one path segment, percent-encoded (everything but
 * unreserved characters). "." and ".." are encoded whole: as literal dot
 * segments they would climb the path ("configmaps/.." is the namespace),
 * so a malformed name in a manifest could address another object. */
static int append_escaped(struct buffer *b, const char *s)
{
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return append_str(b, s[1] ? "%2E%2E" : "%2E");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (unreserved(ch)) {
			if (buffer_append(b, (const char *)&ch, 1) < 0)
				return -1;
		} else {
			char enc[4];
			snprintf(enc, sizeof(enc), "%%%02X", ch);
			if (buffer_append(b, enc, 3) < 0)
				return -1;
		}
	}
	return 0;
}

/* Append "&key=value" (or "?key=value" for the first parameter). */
static int append_query(struct buffer *b, const char *key, const char *value)
{
	if (value == NULL)
		return 0;
	bool first = b->data == NULL || strchr(b->data, '?') == NULL;
	if (append_str(b, first ? "?" : "&") < 0 || append_str(b, key) < 0 || append_str(b, "=") < 0)
		return -1;
	return append_escaped(b, value);
}

static int append_base(struct buffer *b, const struct keelson_kube_resource *res, const char *ns)
{
	int rc;
	if (res->group[0] == '\0')
		rc = append_str(b, "/api/");
	else
		rc = append_str(b, "/apis/") | append_escaped(b, res->group) | append_str(b, "/");
	rc |= append_escaped(b, res->version);
	if (res->namespaced && ns != NULL && ns[0] != '\0')
		rc |= append_str(b, "/namespaces/") | append_escaped(b, ns);
	rc |= append_str(b, "/") | append_escaped(b, res->resource);
	return rc ? -1 : 0;
}

char *keelson_kube_resource_path(const struct keelson_kube_resource *res, const char *ns, const char *name)
{
	struct buffer b = {.max = 1u << 20};

	if (append_base(&b, res, ns) < 0 ||
	    (name != NULL && (append_str(&b, "/") < 0 || append_escaped(&b, name) < 0))) {
		free(b.data);
		return NULL;
	}
	return b.data;
}

/* --- discovery --------------------------------------------------------- */

static int split_api_version(char *group, size_t gsize, char *version, size_t vsize, const char *api_version)
{
	const char *slash = strchr(api_version, '/');

	if (api_version[0] == '\0' || (slash && (slash == api_version || slash[1] == '\0' || strchr(slash + 1, '/'))))
		return keelson_error_set(KEELSON_EINVALID, "invalid apiVersion \"%s\": expected \"v1\" or \"group/version\"",
			api_version);
	/* Groups are DNS subdomains, versions DNS labels: anything else
	 * cannot be served and must not reach a URL path. */
	for (const char *p = api_version; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '.' || *p == '/'))
			return keelson_error_set(KEELSON_EINVALID,
				"invalid apiVersion \"%s\": only lower-case letters, digits, '-', '.' and one '/' are allowed",
				api_version);
	if (slash == NULL) {
		group[0] = '\0';
		snprintf(version, vsize, "%s", api_version);
	} else {
		size_t glen = (size_t)(slash - api_version);
		if (glen >= gsize || strlen(slash + 1) >= vsize)
			return keelson_error_set(KEELSON_EINVALID, "invalid apiVersion \"%s\": too long", api_version);
		memcpy(group, api_version, glen);
		group[glen] = '\0';
		snprintf(version, vsize, "%s", slash + 1);
	}
	return 0;
}

static struct gv_entry *find_gv(struct keelson_kube_client *c, const char *gv)
{
	for (size_t i = 0; i < c->gv_count; i++)
		if (strcmp(c->gvs[i].group_version, gv) == 0)
			return &c->gvs[i];
	return NULL;
}

static const struct keelson_kube_resource *find_kind(const struct gv_entry *e, const char *kind)
{
	for (size_t i = 0; e && i < e->count; i++)
		if (strcmp(e->resources[i].kind, kind) == 0)
			return &e->resources[i];
	return NULL;
}

/* GET /api/v1 or /apis/G/V (no lock held: it is network I/O). */
static int fetch_gv(struct keelson_kube_resource **out, size_t *out_count, bool *served,
	struct keelson_kube_client *c, const char *api_version, const char *group, const char *version)
{
	struct keelson_kube_response resp;
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = "GET"};
	char path[600];
	struct keelson_kube_resource *list = NULL;
	size_t n = 0;
	int error;

	*out = NULL;
	*out_count = 0;
	*served = true;
	struct buffer pb = {.max = sizeof(path) - 1};
	int rc = group[0] ? (append_str(&pb, "/apis/") | append_escaped(&pb, group) | append_str(&pb, "/"))
			  : append_str(&pb, "/api/");
	rc |= append_escaped(&pb, version);
	if (rc) {
		free(pb.data);
		return keelson_error_set(KEELSON_EINVALID, "invalid apiVersion \"%s\"", api_version);
	}
	snprintf(path, sizeof(path), "%s", pb.data);
	free(pb.data);
	req.path = path;
	error = keelson_kube_request(&resp, c, &req);
	if (error == KEELSON_ENOTFOUND) {
		*served = false;
		keelson_kube_response_dispose(&resp);
		return 0;
	}
	if (error < 0) {
		keelson_kube_response_dispose(&resp);
		return keelson_error_wrap(error, "discovering apiVersion %s", api_version);
	}
	cJSON *json = cJSON_ParseWithLength(resp.body, resp.body_len);
	const cJSON *resources = cJSON_GetObjectItemCaseSensitive(json, "resources");
	const cJSON *r;
	keelson_kube_response_dispose(&resp);
	if (!cJSON_IsArray(resources)) {
		cJSON_Delete(json);
		return keelson_error_set(KEELSON_ERROR, "discovering apiVersion %s: %s did not return an APIResourceList",
			api_version, path);
	}
	if ((list = calloc((size_t)cJSON_GetArraySize(resources) + 1, sizeof(*list))) == NULL) {
		cJSON_Delete(json);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	cJSON_ArrayForEach(r, resources) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(r, "kind");
		const cJSON *namespaced = cJSON_GetObjectItemCaseSensitive(r, "namespaced");
		if (!cJSON_IsString(name) || !cJSON_IsString(kind) || strchr(name->valuestring, '/') ||
		    strlen(name->valuestring) >= sizeof(list[0].resource) || strlen(kind->valuestring) >= sizeof(list[0].kind))
			continue; /* subresources, malformed entries */
		struct keelson_kube_resource *res = &list[n++];
		snprintf(res->group, sizeof(res->group), "%s", group);
		snprintf(res->version, sizeof(res->version), "%s", version);
		snprintf(res->resource, sizeof(res->resource), "%s", name->valuestring);
		snprintf(res->kind, sizeof(res->kind), "%s", kind->valuestring);
		res->namespaced = cJSON_IsTrue(namespaced);
	}
	cJSON_Delete(json);
	*out = list;
	*out_count = n;
	return 0;
}

/* Replace (or add) a group-version's resources; takes `list`. Called with
 * the discovery lock held. */
static int install_gv(struct keelson_kube_client *c, const char *api_version, struct keelson_kube_resource *list,
	size_t n, bool served)
{
	struct gv_entry *e = find_gv(c, api_version);
	if (e == NULL) {
		if (c->gv_count == c->gv_cap) {
			size_t cap = c->gv_cap ? c->gv_cap * 2 : 16;
			struct gv_entry *p = realloc(c->gvs, cap * sizeof(*p));
			if (p == NULL) {
				free(list);
				return keelson_error_set(KEELSON_ENOMEM, "out of memory");
			}
			c->gvs = p;
			c->gv_cap = cap;
		}
		e = &c->gvs[c->gv_count];
		memset(e, 0, sizeof(*e));
		if ((e->group_version = strdup(api_version)) == NULL) {
			free(list);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		c->gv_count++;
	}
	free(e->resources);
	e->resources = list;
	e->count = n;
	e->served = served;
	return 0;
}

int keelson_kube_resolve(struct keelson_kube_resource *out, struct keelson_kube_client *c,
	const char *api_version, const char *kind)
{
	char group[254], version[64];
	const struct keelson_kube_resource *found;
	struct keelson_kube_resource *list = NULL;
	size_t n = 0;
	bool served = true;
	int error;

	memset(out, 0, sizeof(*out));
	if (api_version == NULL || kind == NULL || kind[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "an object needs apiVersion and kind");
	if ((error = split_api_version(group, sizeof(group), version, sizeof(version), api_version)) < 0)
		return error;
	pthread_mutex_lock(&c->discovery_lock);
	found = find_kind(find_gv(c, api_version), kind);
	if (found != NULL)
		*out = *found;
	pthread_mutex_unlock(&c->discovery_lock);
	if (found != NULL)
		return 0;

	/* Unknown here: the kind may have appeared since (a CRD applied
	 * earlier in this revision). Ask the server again. Fetches are
	 * serialised; cached lookups go on meanwhile. */
	pthread_mutex_lock(&c->fetch_lock);
	if ((error = fetch_gv(&list, &n, &served, c, api_version, group, version)) < 0) {
		pthread_mutex_unlock(&c->fetch_lock);
		return error;
	}
	pthread_mutex_lock(&c->discovery_lock);
	error = install_gv(c, api_version, list, n, served);
	found = error < 0 ? NULL : find_kind(find_gv(c, api_version), kind);
	if (found != NULL)
		*out = *found;
	pthread_mutex_unlock(&c->discovery_lock);
	pthread_mutex_unlock(&c->fetch_lock);
	if (error < 0 || found != NULL)
		return error;
	if (!served)
		return keelson_error_set(KEELSON_ENOTFOUND,
			"the server %s does not serve apiVersion %s (kind %s); if it is a custom resource, "
			"is its CustomResourceDefinition installed and Established?", c->cfg->server, api_version, kind);
	return keelson_error_set(KEELSON_ENOTFOUND,
		"the server %s has no kind %s in apiVersion %s; check the kind's spelling and version",
		c->cfg->server, kind, api_version);
}

void keelson_kube_discovery_invalidate(struct keelson_kube_client *c)
{
	pthread_mutex_lock(&c->discovery_lock);
	free_gvs(c);
	pthread_mutex_unlock(&c->discovery_lock);
}

/* --- object verbs ------------------------------------------------------ */

static int parse_object(cJSON **out, const struct keelson_kube_response *resp, const char *what)
{
	*out = cJSON_ParseWithLength(resp->body, resp->body_len);
	if (*out == NULL)
		return keelson_error_set(KEELSON_ERROR, "%s: the server's answer is not JSON", what);
	return 0;
}

/* Send, then parse the JSON answer into *out (when out is not NULL). */
static int call(cJSON **out, struct keelson_kube_client *c, const char *method, const char *path,
	const char *content_type, const char *body)
{
	struct keelson_kube_request req = {
		.version = KEELSON_KUBE_REQUEST_VERSION,
		.method = method,
		.path = path,
		.content_type = content_type,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};
	struct keelson_kube_response resp;
	char what[512];
	int error;

	if (out)
		*out = NULL;
	error = keelson_kube_request(&resp, c, &req);
	if (error == 0 && out != NULL) {
		snprintf(what, sizeof(what), "%s %s", method, path);
		error = parse_object(out, &resp, what);
	}
	keelson_kube_response_dispose(&resp);
	return error;
}

static const char *object_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct target {
	struct keelson_kube_resource res;
	const char *ns;
	const char *name;
};

/* Resolve an object's type and identity for a write. */
static int object_target(struct target *t, struct keelson_kube_client *c, const cJSON *obj, bool need_name)
{
	const char *api_version = object_string(obj, "apiVersion");
	const char *kind = object_string(obj, "kind");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	int error;

	if (api_version == NULL || kind == NULL)
		return keelson_error_set(KEELSON_EINVALID, "the object has no apiVersion or kind");
	t->name = object_string(meta, "name");
	t->ns = object_string(meta, "namespace");
	if (need_name && (t->name == NULL || t->name[0] == '\0'))
		return keelson_error_set(KEELSON_EINVALID, "%s object has no metadata.name", kind);
	if ((error = keelson_kube_resolve(&t->res, c, api_version, kind)) < 0)
		return error;
	if (t->res.namespaced && (t->ns == NULL || t->ns[0] == '\0'))
		t->ns = keelson_kube_client_namespace(c);
	return 0;
}

int keelson_kube_get(cJSON **out, struct keelson_kube_client *c, const char *api_version,
	const char *kind, const char *ns, const char *name)
{
	struct keelson_kube_resource res;
	int error;

	*out = NULL;
	if (name == NULL || name[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "get %s: no name given", kind ? kind : "object");
	if ((error = keelson_kube_resolve(&res, c, api_version, kind)) < 0)
		return error;
	if (res.namespaced && (ns == NULL || ns[0] == '\0'))
		ns = keelson_kube_client_namespace(c);
	char *path = keelson_kube_resource_path(&res, ns, name);
	if (path == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	error = call(out, c, "GET", path, NULL, NULL);
	free(path);
	return error;
}

static int set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *v = cJSON_CreateString(value);
	if (v == NULL)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v) ? 0 : -1;
	return cJSON_AddItemToObject(obj, key, v) ? 0 : -1;
}

static int list_once(cJSON **out, struct keelson_kube_client *c, const struct keelson_kube_resource *res,
	const char *api_version, const char *ns, const struct keelson_kube_list_options *opts)
{
	cJSON *result = cJSON_CreateObject();
	cJSON *items = cJSON_CreateArray();
	char *cont = NULL;
	size_t count = 0;
	char list_kind[300];
	int error = 0;

	*out = NULL;
	if (result == NULL || items == NULL) {
		cJSON_Delete(result);
		cJSON_Delete(items);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	snprintf(list_kind, sizeof(list_kind), "%sList", res->kind);
	cJSON_AddStringToObject(result, "kind", list_kind);
	cJSON_AddStringToObject(result, "apiVersion", api_version);
	cJSON *meta = cJSON_AddObjectToObject(result, "metadata");
	cJSON_AddItemToObject(result, "items", items);

	for (;;) {
		struct buffer b = {.max = 1u << 20};
		char limit[32];
		cJSON *page = NULL;

		snprintf(limit, sizeof(limit), "%u", opts->page_size ? opts->page_size : 500);
		if (append_base(&b, res, ns) < 0 || append_query(&b, "limit", limit) < 0 ||
		    append_query(&b, "labelSelector", opts->label_selector) < 0 ||
		    append_query(&b, "fieldSelector", opts->field_selector) < 0 ||
		    append_query(&b, "continue", cont) < 0) {
			free(b.data);
			error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			break;
		}
		error = call(&page, c, "GET", b.data, NULL, NULL);
		free(b.data);
		if (error < 0)
			break;
		cJSON *page_items = cJSON_GetObjectItemCaseSensitive(page, "items");
		cJSON *page_meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
		if (!cJSON_IsArray(page_items) && !cJSON_IsNull(page_items) && page_items != NULL) {
			cJSON_Delete(page);
			error = keelson_error_set(KEELSON_ERROR, "listing %s: the server's answer has no items array", res->resource);
			break;
		}
		/* The list RV is the same on every page; keep the first. */
		if (cont == NULL) {
			const char *rv = object_string(page_meta, "resourceVersion");
			cJSON_AddStringToObject(meta, "resourceVersion", rv ? rv : "");
		}
		while (cJSON_IsArray(page_items) && cJSON_GetArraySize(page_items) > 0) {
			cJSON *item = cJSON_DetachItemFromArray(page_items, 0);
			if (++count > opts->max_items) {
				cJSON_Delete(item);
				cJSON_Delete(page);
				free(cont);
				cJSON_Delete(result);
				return keelson_error_set(KEELSON_ERROR, "listing %s: more than %zu objects; refusing to hold them all",
					res->resource, opts->max_items);
			}
			/* List items may omit kind and apiVersion; callers get them. */
			if (set_string(item, "kind", res->kind) < 0 || set_string(item, "apiVersion", api_version) < 0) {
				cJSON_Delete(item);
				error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
				break;
			}
			cJSON_AddItemToArray(items, item);
		}
		const char *next = object_string(page_meta, "continue");
		free(cont);
		cont = (next && next[0]) ? strdup(next) : NULL;
		cJSON_Delete(page);
		if (error < 0 || cont == NULL)
			break;
	}
	free(cont);
	if (error < 0) {
		cJSON_Delete(result);
		return error;
	}
	*out = result;
	return 0;
}

int keelson_kube_list(cJSON **out, struct keelson_kube_client *c, const char *api_version,
	const char *kind, const char *ns, const struct keelson_kube_list_options *opts)
{
	struct keelson_kube_list_options defaults;
	struct keelson_kube_resource res;
	int error;

	*out = NULL;
	if (opts == NULL) {
		keelson_kube_list_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->version != KEELSON_KUBE_LIST_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube list options: version %u, expected %u",
			opts->version, KEELSON_KUBE_LIST_OPTIONS_VERSION);
	if ((error = keelson_kube_resolve(&res, c, api_version, kind)) < 0)
		return error;
	error = list_once(out, c, &res, api_version, ns, opts);
	/* An expired continue token means the pages would mix snapshots:
	 * start over once, as client-go's pager does. */
	if (error == KEELSON_KUBE_EEXPIRED)
		error = list_once(out, c, &res, api_version, ns, opts);
	return error;
}

static int write_query(struct buffer *b, const struct keelson_kube_write_options *opts, bool apply)
{
	const char *manager = opts->field_manager ? opts->field_manager : KEELSON_KUBE_FIELD_MANAGER;
	int rc = append_query(b, "fieldManager", manager);
	if (apply)
		rc |= append_query(b, "force", opts->force ? "true" : "false");
	if (opts->dry_run)
		rc |= append_query(b, "dryRun", "All");
	return rc ? -1 : 0;
}

static int check_write_opts(const struct keelson_kube_write_options **opts, struct keelson_kube_write_options *defaults)
{
	if (*opts == NULL) {
		keelson_kube_write_options_init(defaults);
		*opts = defaults;
	}
	if ((*opts)->version != KEELSON_KUBE_WRITE_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube write options: version %u, expected %u",
			(*opts)->version, KEELSON_KUBE_WRITE_OPTIONS_VERSION);
	return 0;
}

static void wrap_object_error(int error, const char *verb, const struct target *t)
{
	if (t->ns && t->res.namespaced)
		keelson_error_wrap(error, "%s %s %s/%s", verb, t->res.kind, t->ns, t->name ? t->name : "");
	else
		keelson_error_wrap(error, "%s %s %s", verb, t->res.kind, t->name ? t->name : "");
}

int keelson_kube_create(cJSON **out, struct keelson_kube_client *c, const cJSON *obj,
	const struct keelson_kube_write_options *opts)
{
	struct keelson_kube_write_options defaults;
	struct target t;
	struct buffer b = {.max = 1u << 20};
	char *body = NULL;
	int error;

	if (out)
		*out = NULL;
	if ((error = check_write_opts(&opts, &defaults)) < 0 || (error = object_target(&t, c, obj, false)) < 0)
		return error;
	if (append_base(&b, &t.res, t.ns) < 0 || write_query(&b, opts, false) < 0 ||
	    (body = cJSON_PrintUnformatted(obj)) == NULL) {
		free(b.data);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	if ((error = call(out, c, "POST", b.data, "application/json", body)) < 0)
		wrap_object_error(error, "creating", &t);
	free(body);
	free(b.data);
	return error;
}

int keelson_kube_apply(cJSON **out, struct keelson_kube_client *c, const cJSON *obj,
	const struct keelson_kube_write_options *opts)
{
	struct keelson_kube_write_options defaults;
	struct target t;
	struct buffer b = {.max = 1u << 20};
	char *body = NULL;
	int error;

	if (out)
		*out = NULL;
	if ((error = check_write_opts(&opts, &defaults)) < 0 || (error = object_target(&t, c, obj, true)) < 0)
		return error;
	/* The server rejects an apply that carries managedFields. */
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (cJSON_GetObjectItemCaseSensitive(meta, "managedFields") != NULL) {
		cJSON *copy = cJSON_Duplicate(obj, 1);
		if (copy != NULL) {
			cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(copy, "metadata"),
				"managedFields");
			body = cJSON_PrintUnformatted(copy);
			cJSON_Delete(copy);
		}
	} else {
		body = cJSON_PrintUnformatted(obj);
	}
	if (body == NULL || append_base(&b, &t.res, t.ns) < 0 || append_str(&b, "/") < 0 ||
	    append_escaped(&b, t.name) < 0 || write_query(&b, opts, true) < 0) {
		free(body);
		free(b.data);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	/* JSON is YAML: the apply body may be sent as JSON (kubectl does). */
	if ((error = call(out, c, "PATCH", b.data, "application/apply-patch+yaml", body)) < 0)
		wrap_object_error(error, "applying", &t);
	free(body);
	free(b.data);
	return error;
}

int keelson_kube_patch(cJSON **out, struct keelson_kube_client *c, const char *api_version,
	const char *kind, const char *ns, const char *name, enum keelson_kube_patch_type type,
	const char *patch, const struct keelson_kube_write_options *opts)
{
	static const char *const types[] = {
		"application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json",
	};
	struct keelson_kube_write_options defaults;
	struct target t = {.ns = ns, .name = name};
	struct buffer b = {.max = 1u << 20};
	int error;

	if (out)
		*out = NULL;
	if ((unsigned)type > KEELSON_KUBE_PATCH_STRATEGIC)
		return keelson_error_set(KEELSON_EINVALID, "unknown patch type %d", (int)type);
	if (patch == NULL || name == NULL || name[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "patch: a name and a patch are required");
	if ((error = check_write_opts(&opts, &defaults)) < 0 ||
	    (error = keelson_kube_resolve(&t.res, c, api_version, kind)) < 0)
		return error;
	if (t.res.namespaced && (t.ns == NULL || t.ns[0] == '\0'))
		t.ns = keelson_kube_client_namespace(c);
	if (append_base(&b, &t.res, t.ns) < 0 || append_str(&b, "/") < 0 || append_escaped(&b, name) < 0 ||
	    (opts->subresource && (append_str(&b, "/") < 0 || append_escaped(&b, opts->subresource) < 0)) ||
	    write_query(&b, opts, false) < 0) {
		free(b.data);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	if ((error = call(out, c, "PATCH", b.data, types[type], patch)) < 0)
		wrap_object_error(error, "patching", &t);
	free(b.data);
	return error;
}

int keelson_kube_delete(struct keelson_kube_client *c, const char *api_version, const char *kind,
	const char *ns, const char *name, const struct keelson_kube_delete_options *opts)
{
	static const char *const policies[] = {NULL, "Background", "Foreground", "Orphan"};
	struct keelson_kube_delete_options defaults;
	struct target t = {.ns = ns, .name = name};
	char *path = NULL, *body = NULL;
	cJSON *options = NULL;
	int error;

	if (opts == NULL) {
		keelson_kube_delete_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->version != KEELSON_KUBE_DELETE_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube delete options: version %u, expected %u",
			opts->version, KEELSON_KUBE_DELETE_OPTIONS_VERSION);
	if ((unsigned)opts->propagation > KEELSON_KUBE_PROPAGATION_ORPHAN)
		return keelson_error_set(KEELSON_EINVALID, "unknown propagation policy %d", (int)opts->propagation);
	if (name == NULL || name[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "delete: no name given");
	if ((error = keelson_kube_resolve(&t.res, c, api_version, kind)) < 0)
		return error;
	if (t.res.namespaced && (t.ns == NULL || t.ns[0] == '\0'))
		t.ns = keelson_kube_client_namespace(c);

	options = cJSON_CreateObject();
	if (options == NULL)
		goto oom;
	cJSON_AddStringToObject(options, "kind", "DeleteOptions");
	cJSON_AddStringToObject(options, "apiVersion", "v1");
	if (policies[opts->propagation])
		cJSON_AddStringToObject(options, "propagationPolicy", policies[opts->propagation]);
	if (opts->grace_period_seconds >= 0)
		cJSON_AddNumberToObject(options, "gracePeriodSeconds", (double)opts->grace_period_seconds);
	if (opts->precondition_uid || opts->precondition_resource_version) {
		cJSON *pre = cJSON_AddObjectToObject(options, "preconditions");
		if (pre && opts->precondition_uid)
			cJSON_AddStringToObject(pre, "uid", opts->precondition_uid);
		if (pre && opts->precondition_resource_version)
			cJSON_AddStringToObject(pre, "resourceVersion", opts->precondition_resource_version);
	}
	if (opts->dry_run) {
		cJSON *dry = cJSON_AddArrayToObject(options, "dryRun");
		if (dry)
			cJSON_AddItemToArray(dry, cJSON_CreateString("All"));
	}
	if ((body = cJSON_PrintUnformatted(options)) == NULL ||
	    (path = keelson_kube_resource_path(&t.res, t.ns, name)) == NULL)
		goto oom;
	if ((error = call(NULL, c, "DELETE", path, "application/json", body)) < 0)
		wrap_object_error(error, "deleting", &t);
	goto cleanup;
oom:
	error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
cleanup:
	cJSON_Delete(options);
	free(body);
	free(path);
	return error;
}

int keelson_kube_proxy(struct keelson_kube_response *out, struct keelson_kube_client *c,
	enum keelson_kube_proxy_target target, const char *ns, const char *name, const char *port,
	const char *method, const char *path, const char *body, size_t body_len, long timeout_ms)
{
	struct buffer b = {.max = 1u << 20};
	int error;

	memset(out, 0, sizeof(*out));
	if (ns == NULL || ns[0] == '\0' || name == NULL || name[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "proxy: a namespace and a name are required");
	if (path == NULL || path[0] != '/')
		return keelson_error_set(KEELSON_EINVALID, "proxy: the path must start with '/'");
	/* A dot segment would leave the proxy prefix and address the API
	 * itself with keelson's credentials. */
	for (const char *p = path; *p && *p != '?'; p++) {
		if (p[0] == '/' && p[1] == '.' &&
		    (p[2] == '/' || p[2] == '\0' || p[2] == '?' || (p[2] == '.' && (p[3] == '/' || p[3] == '\0' || p[3] == '?'))))
			return keelson_error_set(KEELSON_EINVALID, "proxy: the path \"%s\" has a '.' or '..' segment", path);
		if (p[0] == '%')
			return keelson_error_set(KEELSON_EINVALID,
				"proxy: the path \"%s\" is percent-encoded; pass it decoded", path);
	}
	/* "name:port" or "scheme:name:port": the ':' separators stay literal. */
	int rc = append_str(&b, "/api/v1/namespaces/") | append_escaped(&b, ns) |
		append_str(&b, target == KEELSON_KUBE_PROXY_SERVICE ? "/services/" : "/pods/") |
		append_escaped(&b, name);
	if (port != NULL && port[0] != '\0') {
		for (const char *p = port; *p; p++)
			if (!unreserved((unsigned char)*p) && *p != ':') {
				free(b.data);
				return keelson_error_set(KEELSON_EINVALID, "proxy: invalid port \"%s\"", port);
			}
		rc |= append_str(&b, ":") | append_str(&b, port);
	}
	rc |= append_str(&b, "/proxy") | append_str(&b, path);
	if (rc) {
		free(b.data);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	struct keelson_kube_request req = {
		.version = KEELSON_KUBE_REQUEST_VERSION,
		.method = method ? method : "GET",
		.path = b.data,
		.body = body,
		.body_len = body_len,
		.accept = "*/*",
		.timeout_ms = timeout_ms,
		.max_response_bytes = c->opts.max_proxy_response_bytes,
	};
	error = keelson_kube_request(out, c, &req);
	free(b.data);
	return error;
}

/* --- watch ------------------------------------------------------------- */

struct watch_state {
	struct keelson_kube_client *client;
	CURL *handle;
	const struct keelson_kube_watch_options *opts;
	keelson_kube_watch_cb cb;
	void *payload;
	const char *what;
	long code;
	struct buffer line;
	struct buffer error_body;
	int error;        /* set when the stream reported an error */
	int cb_result;    /* non-zero: the callback asked to stop */
	char *last_rv;
	size_t last_rv_size;
};

static int watch_event(struct watch_state *w, const char *text, size_t len)
{
	static const struct {
		const char *name;
		enum keelson_kube_event_type type;
	} types[] = {
		{"ADDED", KEELSON_KUBE_EVENT_ADDED},
		{"MODIFIED", KEELSON_KUBE_EVENT_MODIFIED},
		{"DELETED", KEELSON_KUBE_EVENT_DELETED},
		{"BOOKMARK", KEELSON_KUBE_EVENT_BOOKMARK},
	};
	cJSON *event = cJSON_ParseWithLength(text, len);
	int rc = 0;

	if (event == NULL) {
		w->error = keelson_error_set(KEELSON_ERROR, "%s: the server sent a watch event that is not JSON", w->what);
		return -1;
	}
	const char *type = object_string(event, "type");
	const cJSON *object = cJSON_GetObjectItemCaseSensitive(event, "object");
	if (type == NULL || !cJSON_IsObject(object)) {
		cJSON_Delete(event);
		w->error = keelson_error_set(KEELSON_ERROR, "%s: a watch event without type or object", w->what);
		return -1;
	}
	if (strcmp(type, "ERROR") == 0) {
		char *status = cJSON_PrintUnformatted(object);
		w->error = keelson_kube_error_from_status(NULL, 0, status, status ? strlen(status) : 0, w->what,
			w->client->cfg->server);
		free(status);
		cJSON_Delete(event);
		return -1;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(type, types[i].name) != 0)
			continue;
		const char *rv = object_string(cJSON_GetObjectItemCaseSensitive(object, "metadata"), "resourceVersion");
		if (rv != NULL && w->last_rv != NULL && w->last_rv_size > 0)
			snprintf(w->last_rv, w->last_rv_size, "%s", rv);
		rc = w->cb(types[i].type, object, w->payload);
		if (rc != 0)
			w->cb_result = rc;
		break;
	}
	cJSON_Delete(event);
	return rc != 0 ? -1 : 0;
}

static int watch_event_too_large(const struct watch_state *w)
{
	return keelson_error_set(KEELSON_ELIMIT,
		"%s: a watch event is larger than %zu bytes, keelson's limit; the event is dropped and "
		"the watch ends with this error (its owner lists and watches again); the API server "
		"itself stores objects of at most 1.5 MiB, so check the server", w->what, w->line.max);
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct watch_state *w = userdata;
	size_t len = size * nmemb;

	if (w->code == 0)
		curl_easy_getinfo(w->handle, CURLINFO_RESPONSE_CODE, &w->code);
	if (w->code != 200) {
		/* Read for its message only: past the bound the transfer stops. */
		if (buffer_append(&w->error_body, ptr, len) == 0)
			return len;
		size_t room = w->error_body.max > w->error_body.len ? w->error_body.max - w->error_body.len : 0;
		if (room > 0)
			buffer_append(&w->error_body, ptr, room);
		return 0;
	}
	/* One event per line; a line may arrive in several pieces. */
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (ptr[i] != '\n')
			continue;
		if (buffer_append(&w->line, ptr + start, i - start) < 0) {
			w->error = watch_event_too_large(w);
			return 0;
		}
		start = i + 1;
		if (w->line.len > 0 && watch_event(w, w->line.data, w->line.len) < 0)
			return 0;
		w->line.len = 0;
	}
	if (start < len && buffer_append(&w->line, ptr + start, len - start) < 0) {
		w->error = watch_event_too_large(w);
		return 0;
	}
	return len;
}

static int watch_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct watch_state *w = clientp;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return (w->opts->stop != NULL && atomic_load(w->opts->stop)) ? 1 : 0;
}

/* curl_easy_perform through a multi handle of its own, so that
 * keelson_kube_watch_wake can interrupt the wait with curl_multi_wakeup. */
static CURLcode watch_perform(struct keelson_kube_client *c, CURL *h, const atomic_bool *stop)
{
	struct active_watch self = {.stop = stop};
	CURLcode result = CURLE_OK;

	if ((self.multi = curl_multi_init()) == NULL)
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(self.multi, h) != CURLM_OK) {
		curl_multi_cleanup(self.multi);
		return CURLE_FAILED_INIT;
	}
	pthread_mutex_lock(&c->watch_lock);
	self.next = c->watches;
	c->watches = &self;
	pthread_mutex_unlock(&c->watch_lock);

	for (;;) {
		int running = 0;
		if (curl_multi_perform(self.multi, &running) != CURLM_OK) {
			result = CURLE_RECV_ERROR;
			break;
		}
		if (running == 0) {
			int queued;
			CURLMsg *msg = curl_multi_info_read(self.multi, &queued);
			result = (msg != NULL && msg->msg == CURLMSG_DONE) ? msg->data.result : CURLE_RECV_ERROR;
			break;
		}
		if (stop != NULL && atomic_load(stop)) {
			result = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_poll(self.multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			result = CURLE_RECV_ERROR;
			break;
		}
	}

	pthread_mutex_lock(&c->watch_lock);
	for (struct active_watch **p = &c->watches; *p; p = &(*p)->next)
		if (*p == &self) {
			*p = self.next;
			break;
		}
	pthread_mutex_unlock(&c->watch_lock);
	curl_multi_remove_handle(self.multi, h);
	curl_multi_cleanup(self.multi);
	return result;
}

void keelson_kube_watch_wake(struct keelson_kube_client *c, const atomic_bool *stop)
{
	pthread_mutex_lock(&c->watch_lock);
	for (struct active_watch *w = c->watches; w; w = w->next)
		if (stop == NULL || w->stop == stop)
			curl_multi_wakeup(w->multi);
	pthread_mutex_unlock(&c->watch_lock);
}

int keelson_kube_watch(struct keelson_kube_client *c, const struct keelson_kube_resource *res,
	const char *ns, const struct keelson_kube_watch_options *opts, keelson_kube_watch_cb cb,
	void *payload, char *last_rv, size_t last_rv_size)
{
	struct keelson_kube_watch_options defaults;
	struct buffer path = {.max = 1u << 20};
	struct lists l = {NULL, NULL};
	char errbuf[CURL_ERROR_SIZE] = "";
	char what[600];
	char timeout[32];
	int error;

	if (opts == NULL) {
		keelson_kube_watch_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->version != KEELSON_KUBE_WATCH_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube watch options: version %u, expected %u",
			opts->version, KEELSON_KUBE_WATCH_OPTIONS_VERSION);
	if (res == NULL || cb == NULL)
		return keelson_error_set(KEELSON_EINVALID, "kube watch: a resource and a callback are required");
	unsigned timeout_s = opts->timeout_seconds ? opts->timeout_seconds : 300;
	snprintf(timeout, sizeof(timeout), "%u", timeout_s);
	if (append_base(&path, res, ns) < 0 || append_query(&path, "watch", "true") < 0 ||
	    append_query(&path, "resourceVersion", opts->resource_version) < 0 ||
	    append_query(&path, "timeoutSeconds", timeout) < 0 ||
	    (opts->allow_bookmarks && append_query(&path, "allowWatchBookmarks", "true") < 0) ||
	    append_query(&path, "labelSelector", opts->label_selector) < 0 ||
	    append_query(&path, "fieldSelector", opts->field_selector) < 0) {
		free(path.data);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	snprintf(what, sizeof(what), "watch %s", path.data);

	struct watch_state w = {
		.client = c,
		.opts = opts,
		.cb = cb,
		.payload = payload,
		.what = what,
		.line = {.max = opts->max_event_bytes ? opts->max_event_bytes : KEELSON_KUBE_DEFAULT_MAX_EVENT},
		.error_body = {.max = ERROR_BODY_MAX},
		.last_rv = last_rv,
		.last_rv_size = last_rv_size,
	};
	CURL *h = handle_get(c);
	if (h == NULL) {
		free(path.data);
		return keelson_error_set(KEELSON_ENOMEM, "cannot create a curl handle");
	}
	w.handle = h;
	if ((error = setup_handle(c, h, path.data, &l, NULL, NULL)) < 0)
		goto cleanup;
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	/* The server ends the watch after timeoutSeconds; the margin catches a
	 * server that does not. */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s + 30) * 1000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);

	keelson_kube_ratelimit_wait(&c->limiter);
	atomic_fetch_add(&c->requests, 1);
	uint64_t watch_started = keelson_kube_now_ns();
	CURLcode rc = watch_perform(c, h, opts->stop);
	if (w.code == 0)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &w.code);
	observe_request("GET", path.data, NULL, w.code, watch_started);

	if (w.error != 0) {
		error = w.error;
	} else if (w.cb_result != 0) {
		error = w.cb_result;
	} else if (rc == CURLE_ABORTED_BY_CALLBACK) {
		error = 0; /* stopped */
	} else if (w.code != 0 && w.code != 200) {
		error = keelson_kube_error_from_status(NULL, w.code, w.error_body.data, w.error_body.len, what,
			c->cfg->server);
	} else if (rc != CURLE_OK) {
		if (w.code == 200 && rc != CURLE_OPERATION_TIMEDOUT)
			error = keelson_error_set(KEELSON_EUNAVAILABLE, "%s: the connection to %s dropped: %s", what,
				c->cfg->server, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		else
			error = curl_failure(rc, errbuf, what, c->cfg->server);
	} else {
		/* A last line without '\n' at a clean end still counts. */
		if (w.line.len > 0 && watch_event(&w, w.line.data, w.line.len) < 0)
			error = w.error ? w.error : w.cb_result;
		else
			error = 0;
	}
cleanup:
	lists_free(&l);
	handle_put(c, h);
	free(path.data);
	free(w.line.data);
	free(w.error_body.data);
	return error;
}

/* --- concurrent apply ---------------------------------------------------- */

struct apply_batch {
	struct keelson_kube_client *client;
	struct keelson_kube_apply_item *items;
	size_t count;
	atomic_size_t next;
};

static void *apply_batch_worker(void *arg)
{
	struct apply_batch *b = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&b->next, 1);
		if (i >= b->count)
			break;
		struct keelson_kube_apply_item *it = &b->items[i];
		it->result = NULL;
		it->error[0] = '\0';
		it->rc = keelson_kube_apply(&it->result, b->client, it->object, it->opts);
		if (it->rc < 0)
			snprintf(it->error, sizeof(it->error), "%s", keelson_error_last()->message);
	}
	return NULL;
}

int keelson_kube_apply_batch(struct keelson_kube_client *c, struct keelson_kube_apply_item *items, size_t count,
	unsigned concurrency)
{
	struct apply_batch b = {.client = c, .items = items, .count = count};
	pthread_t threads[64];
	size_t started = 0;

	atomic_init(&b.next, 0);
	if (concurrency == 0)
		concurrency = 1;
	if (concurrency > sizeof(threads) / sizeof(threads[0]))
		concurrency = sizeof(threads) / sizeof(threads[0]);
	/* The calling thread works too: a batch of one costs no thread. */
	size_t helpers = count < concurrency ? (count > 0 ? count - 1 : 0) : concurrency - 1;
	for (; started < helpers; started++)
		if (pthread_create(&threads[started], NULL, apply_batch_worker, &b) != 0)
			break; /* fewer threads: slower, not wrong */
	apply_batch_worker(&b);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
