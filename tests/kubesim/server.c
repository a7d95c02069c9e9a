#include "config.h"

#include "tests/kubesim/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "yaml/yaml_load.h"
#include "tests/kubesim/patch/json_patch.h"
#include "tests/kubesim/patch/merge_patch.h"
#include "tests/kubesim/proto.h"
#include "tests/kubesim/patch/selectors.h"
#include "tests/kubesim/sim.h"
#include "tests/kubesim/patch/strategic_merge.h"
#include "tests/kubesim/apply/server_side_apply.h"

#define KS_MAX_BODY (8L * 1024 * 1024)
/* Header fields per request; kubectl sends about ten. The bytes of the
 * header are bounded by libmicrohttpd's connection memory (32 KiB). */
#define KS_MAX_HEADERS 100
#define KS_MAX_SEGMENTS 16

struct ks_server {
	struct ks_store *store;
	struct MHD_Daemon *daemon;
	int port;
	char *token;
	bool client_ca;        /* client certificates authenticate too */
	int log_level;
	volatile int stopping;
	/* exec sessions run on their own threads; stop waits for them */
	pthread_mutex_t exec_lock;
	pthread_cond_t exec_done;
	struct exec_session *exec_sessions;
};

struct req {
	char *body;
	size_t len, cap;
	bool too_large;
};

/* The authenticated user of the request being served. libmicrohttpd runs
 * one thread per connection and a request is served start to end on it, so
 * a thread-local carries it to the review handlers without threading it
 * through every route. */
static __thread char request_user[256];
static __thread char request_group[256];

/* Everything a resource handler needs about the request. */
struct rctx {
	struct ks_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const struct ks_resource_type *type;
	char namespace[256];
	char name[256];
	char sub[32];          /* "", "status", "scale", "log", "proxy", ... */
	const char *rest;      /* proxy: path after /proxy */
	const char *body;
	size_t body_len;
	char warning[1024];    /* Warning header text (S7), "" when none */
};

/* ---------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned code, char *text,
	const char *content_type, const char *warning)
{
	if (!text)
		text = strdup("{}");
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
		MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", content_type ? content_type : "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	if (warning && *warning)
		MHD_add_response_header(r, "Warning", warning);
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned code, cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	return send_text(conn, code, text, NULL, NULL);
}

static enum MHD_Result send_obj(struct rctx *c, unsigned code, cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);
	cJSON_Delete(json);
	return send_text(c->conn, code, text, NULL, c->warning);
}

static enum MHD_Result send_status(struct MHD_Connection *conn, int code, const char *reason,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_status(struct MHD_Connection *conn, int code, const char *reason,
	const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json(conn, (unsigned)code, ks_status_new(code, reason, msg, NULL, NULL));
}

/* The Status of the last failed store call. */
static enum MHD_Result send_last_status(struct MHD_Connection *conn)
{
	const cJSON *st = ks_status_last();
	if (!st)
		return send_status(conn, 500, "InternalError", "Internal error occurred: %s",
			keelson_error_last()->message);
	return send_json(conn, (unsigned)ks_status_last_code(), cJSON_Duplicate(st, 1));
}

static enum MHD_Result send_not_found_path(struct MHD_Connection *conn)
{
	return send_status(conn, 404, "NotFound", "the server could not find the requested resource");
}

/* ---------------------------------------------------------------------------
 * Query parameters
 * ------------------------------------------------------------------------- */

static const char *qparam(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* M1: anything but "0"/"false" (case-insensitive) is true; absent is false. */
static bool qbool(struct MHD_Connection *conn, const char *key)
{
	const char *v = qparam(conn, key);
	if (!v)
		return false;
	return strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

static bool parse_int64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool dry_run(struct MHD_Connection *conn)
{
	const char *d = qparam(conn, "dryRun");
	return d && !strcmp(d, "All");
}

/* Field manager: ?fieldManager, else the User-Agent up to the first '/'. */
static void field_manager(struct MHD_Connection *conn, char *buf, size_t size)
{
	const char *fm = qparam(conn, "fieldManager");
	if (fm && *fm) {
		snprintf(buf, size, "%s", fm);
		return;
	}
	const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
	snprintf(buf, size, "%s", ua ? ua : "unknown");
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (size > 128)
		buf[128] = 0;
}

/* ---------------------------------------------------------------------------
 * Body parsing
 * ------------------------------------------------------------------------- */

static cJSON *parse_body(struct rctx *c, enum MHD_Result *ret)
{
	const char *ct = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Type");
	if (ct && strstr(ct, "protobuf") && c->body) {
		/* kubectl's imperative create commands send protobuf. */
		cJSON *obj = NULL;
		if (ks_proto_decode(&obj, (const unsigned char *)c->body, c->body_len) == 0)
			return obj;
		*ret = send_status(c->conn, 415, "UnsupportedMediaType", "%s",
			keelson_error_last()->message);
		return NULL;
	}
	if (ct && (strstr(ct, "protobuf") || strstr(ct, "cbor"))) {
		*ret = send_status(c->conn, 415, "UnsupportedMediaType",
			"the body of the request was in an unknown format - accepted media types include: application/json");
		return NULL;
	}
	if (!c->body || c->body_len == 0) {
		*ret = send_status(c->conn, 400, "BadRequest", "the request body is empty: send a JSON object");
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLength(c->body, c->body_len);
	if (!j && ct && strstr(ct, "yaml")) {
		/* apply-patch+yaml and application/yaml bodies. */
		struct keelson_yaml_stream *ys = NULL;
		if (keelson_yaml_load_buffer(&ys, c->body, c->body_len, "request body", NULL)) {
			*ret = send_status(c->conn, 400, "BadRequest", "error decoding YAML: %s",
				keelson_error_last()->message);
			return NULL;
		}
		if (keelson_yaml_document_count(ys) != 1) {
			keelson_yaml_stream_free(ys);
			*ret = send_status(c->conn, 400, "BadRequest",
				"error decoding YAML: the body must hold exactly one document");
			return NULL;
		}
		j = cJSON_Duplicate(keelson_yaml_document(ys, 0), 1);
		keelson_yaml_stream_free(ys);
		if (j)
			return j;
	}
	if (!j) {
		*ret = send_status(c->conn, 400, "BadRequest",
			"the body of the request could not be decoded as JSON (near byte %ld)",
			(long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - c->body : 0));
		return NULL;
	}
	return j;
}

/* ---------------------------------------------------------------------------
 * Selectors as list/watch filters
 * ------------------------------------------------------------------------- */

struct filter {
	struct ks_label_selector *labels;
	struct ks_field_selector *fields;
};

static bool filter_match(const cJSON *obj, void *payload)
{
	struct filter *f = payload;
	if (f->labels && !ks_label_selector_matches(f->labels, cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels")))
		return false;
	if (f->fields && !ks_field_selector_matches(f->fields, obj))
		return false;
	return true;
}

static void filter_clear(struct filter *f)
{
	ks_label_selector_free(f->labels);
	ks_field_selector_free(f->fields);
	memset(f, 0, sizeof(*f));
}

/* Parse labelSelector / fieldSelector (fields checked against the ones the
 * real server registers for the type's kind); on error sends 400 and
 * returns -1. */
static int filter_parse(struct rctx *c, struct filter *f, enum MHD_Result *ret)
{
	memset(f, 0, sizeof(*f));
	const char *ls = qparam(c->conn, "labelSelector");
	const char *fs = qparam(c->conn, "fieldSelector");
	if (ls && *ls && ks_label_selector_parse(&f->labels, ls)) {
		*ret = send_status(c->conn, 400, "BadRequest", "%s", keelson_error_last()->message);
		return -1;
	}
	if (fs && *fs && ks_field_selector_parse(&f->fields, fs, c->type ? c->type->kind : NULL)) {
		filter_clear(f);
		*ret = send_status(c->conn, 400, "BadRequest", "%s", keelson_error_last()->message);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * GET / LIST
 * ------------------------------------------------------------------------- */

/* S6: kubectl get asks for meta.k8s.io/v1 Tables. */
static bool wants_table(struct MHD_Connection *conn)
{
	const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
	return a && strstr(a, "as=Table") && strstr(a, "g=meta.k8s.io") &&
		(strstr(a, "v=v1;") || strstr(a, "v=v1,") ||
			(strlen(a) >= 4 && !strcmp(a + strlen(a) - 4, "v=v1")));
}

static enum MHD_Result handle_get(struct rctx *c)
{
	if (wants_table(c->conn) && !c->sub[0]) {
		cJSON *obj = NULL;
		if (ks_store_get(c->srv->store, c->type, c->namespace, c->name, &obj))
			return send_last_status(c->conn);
		cJSON *t = ks_table_new(c->type, true);
		cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(t, "metadata"),
			"resourceVersion", ks_meta_string(obj, "resourceVersion"));
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(t, "rows"),
			ks_table_row(c->type, obj));
		cJSON_Delete(obj);
		return send_json(c->conn, 200, t);
	}
	char *text = NULL;
	if (ks_store_get_text(c->srv->store, c->type, c->namespace, c->name, &text))
		return send_last_status(c->conn);
	return send_text(c->conn, 200, text, NULL, NULL);
}

static char *encode_continue(uint64_t rv, const char *key)
{
	size_t n = strlen(key) * 2 + 64;
	char *raw = malloc(n);
	if (!raw)
		return NULL;
	snprintf(raw, n, "%" PRIu64 ":%s", rv, key);
	char *enc = ks_base64_encode((const unsigned char *)raw, strlen(raw));
	free(raw);
	return enc;
}

static char *decode_continue(const char *token)
{
	size_t len = strlen(token);
	if (len == 0 || len > 4096 || len % 4)
		return NULL;
	unsigned char *out = malloc(len);
	if (!out)
		return NULL;
	int n = ks_base64_decode(out, token, len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	out[n] = 0;
	char *colon = strchr((char *)out, ':');
	if (!colon) {
		free(out);
		return NULL;
	}
	char *key = strdup(colon + 1);
	free(out);
	return key;
}

static enum MHD_Result handle_list(struct rctx *c)
{
	enum MHD_Result ret;
	struct filter f;
	if (filter_parse(c, &f, &ret))
		return ret;
	struct ks_list_options lo = {.version = KS_LIST_OPTIONS_VERSION, .namespace = c->namespace,
		.filter = filter_match, .filter_payload = &f};
	int64_t limit = 0;
	const char *lim = qparam(c->conn, "limit");
	const char *rvq = qparam(c->conn, "resourceVersion");
	const char *rvm = qparam(c->conn, "resourceVersionMatch");
	const char *cont = qparam(c->conn, "continue");
	/* S4 list validation */
	const char *invalid = NULL;
	if (rvm && *rvm && (!rvq || !*rvq))
		invalid = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided";
	else if (rvm && *rvm && cont && *cont)
		invalid = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided";
	else if (rvm && !strcmp(rvm, "Exact") && rvq && !strcmp(rvq, "0"))
		invalid = "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"";
	else if (rvm && *rvm && strcmp(rvm, "Exact") && strcmp(rvm, "NotOlderThan"))
		invalid = "resourceVersionMatch: Unsupported value: supported values: \"Exact\", \"NotOlderThan\"";
	if (invalid) {
		filter_clear(&f);
		return send_status(c->conn, 422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: %s",
			invalid);
	}
	/* RV "0" is served from the watch cache, which ignores limit (M8). */
	if (lim && parse_int64(lim, &limit) && limit > 0 && !(rvq && !strcmp(rvq, "0")))
		lo.limit = (size_t)limit;
	char *after = NULL;
	if (cont && *cont) {
		after = decode_continue(cont);
		if (!after) {
			filter_clear(&f);
			return send_status(c->conn, 400, "BadRequest",
				"continue key is not valid: illegal base64 data");
		}
		lo.continue_after = after;
	}
	struct ks_list_result res;
	int rc = ks_store_list(c->srv->store, c->type, &lo, &res);
	filter_clear(&f);
	free(after);
	if (rc)
		return send_last_status(c->conn);
	bool table = wants_table(c->conn);
	cJSON *list = table ? ks_table_new(c->type, true) : cJSON_CreateObject();
	char av[160];
	ks_resource_type_api_version(c->type, av, sizeof(av));
	if (!table) {
		cJSON_AddStringToObject(list, "kind", c->type->list_kind);
		cJSON_AddStringToObject(list, "apiVersion", av);
	}
	cJSON *meta = table ? cJSON_GetObjectItemCaseSensitive(list, "metadata")
			    : cJSON_AddObjectToObject(list, "metadata");
	char rvs[24];
	snprintf(rvs, sizeof(rvs), "%" PRIu64, res.resource_version);
	cJSON_AddStringToObject(meta, "resourceVersion", rvs);
	if (res.continue_after) {
		char *tok = encode_continue(res.resource_version, res.continue_after);
		if (tok)
			cJSON_AddStringToObject(meta, "continue", tok);
		free(tok);
		cJSON_AddNumberToObject(meta, "remainingItemCount", (double)res.remaining);
	}
	if (table) {
		cJSON *rows = cJSON_GetObjectItemCaseSensitive(list, "rows");
		cJSON *item;
		cJSON_ArrayForEach(item, res.items)
			cJSON_AddItemToArray(rows, ks_table_row(c->type, item));
	} else {
		cJSON_AddItemToObject(list, "items", res.items);
		res.items = NULL;
	}
	ks_list_result_clear(&res);
	return send_json(c->conn, 200, list);
}

/* ---------------------------------------------------------------------------
 * WATCH
 * ------------------------------------------------------------------------- */

struct watch_stream {
	struct ks_server *srv;
	struct ks_watch *watch;
	const struct ks_resource_type *type;
	struct filter filter;
	bool bookmarks;
	char name[256];         /* watch on a single object (legacy path) */
	double deadline_ms;     /* monotonic */
	double next_bookmark_ms;
	char *buf;
	size_t len, off, cap;
	int fd;
	bool done;
	bool table;         /* events carry one-row Tables (S6) */
	bool columns_sent;
};

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void ws_append(struct watch_stream *w, const char *type, const char *object_text)
{
	size_t need = strlen(type) + strlen(object_text) + 32;
	if (w->len + need > w->cap) {
		size_t nc = (w->cap ? w->cap * 2 : 4096);
		while (nc < w->len + need)
			nc *= 2;
		char *nb = realloc(w->buf, nc);
		if (!nb) {
			w->done = true;
			return;
		}
		w->buf = nb;
		w->cap = nc;
	}
	w->len += (size_t)snprintf(w->buf + w->len, w->cap - w->len,
		"{\"type\":\"%s\",\"object\":%s}\n", type, object_text);
}

static void ws_append_json(struct watch_stream *w, const char *type, cJSON *obj);

/* An event about `object`: the object itself, or a one-row Table. */
static void ws_append_object(struct watch_stream *w, const char *type, const cJSON *object,
	const char *object_text)
{
	if (!w->table) {
		ws_append(w, type, object_text);
		return;
	}
	cJSON *t = ks_table_new(w->type, !w->columns_sent);
	w->columns_sent = true;
	const char *rv = ks_meta_string(object, "resourceVersion");
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(t, "metadata"), "resourceVersion",
		rv ? rv : "");
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(t, "rows"), ks_table_row(w->type, object));
	ws_append_json(w, type, t);
	cJSON_Delete(t);
}

static void ws_append_json(struct watch_stream *w, const char *type, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	if (text)
		ws_append(w, type, text);
	free(text);
}

static bool ws_matches(struct watch_stream *w, const cJSON *obj)
{
	if (!obj)
		return false;
	if (w->name[0]) {
		const char *n = ks_meta_string(obj, "name");
		if (!n || strcmp(n, w->name))
			return false;
	}
	return filter_match(obj, &w->filter);
}

static bool client_gone(int fd)
{
	if (fd < 0)
		return false;
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};
	if (poll(&p, 1, 0) <= 0)
		return false;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static ssize_t watch_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct watch_stream *w = cls;
	for (;;) {
		if (w->off < w->len) {
			size_t n = w->len - w->off;
			if (n > max)
				n = max;
			memcpy(out, w->buf + w->off, n);
			w->off += n;
			if (w->off == w->len)
				w->off = w->len = 0;
			return (ssize_t)n;
		}
		if (w->done || w->srv->stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		double now = mono_ms();
		if (now >= w->deadline_ms)
			return MHD_CONTENT_READER_END_OF_STREAM;
		double wait = w->deadline_ms - now;
		if (wait > 1000)
			wait = 1000;
		struct ks_event ev;
		int rc = ks_watch_next(w->watch, (int)wait + 1, &ev);
		if (rc == 0) {
			bool now_in = ws_matches(w, ev.object);
			bool was_in = ev.type == KS_EVENT_MODIFIED && ws_matches(w, ev.old_object);
			const char *type = NULL;
			if (ev.type == KS_EVENT_MODIFIED) {
				if (now_in && was_in)
					type = "MODIFIED";
				else if (now_in)
					type = "ADDED";
				else if (was_in)
					type = "DELETED";
			} else if (now_in) {
				type = ks_event_type_name(ev.type);
			}
			if (type) {
				ws_append_object(w, type, ev.object, ev.object_text);
				if (ks_faults_drop_watches()) {
					w->done = true;
					ks_fault_count("droppedWatch", NULL);
				}
			}
			ks_event_release(&ev);
			continue;
		}
		if (rc == KEELSON_ETIMEOUT) {
			if (client_gone(w->fd))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			if (w->bookmarks && mono_ms() >= w->next_bookmark_ms) {
				cJSON *bm = cJSON_CreateObject();
				char av[160], rvs[24];
				ks_resource_type_api_version(w->type, av, sizeof(av));
				cJSON_AddStringToObject(bm, "kind", w->type->kind);
				cJSON_AddStringToObject(bm, "apiVersion", av);
				snprintf(rvs, sizeof(rvs), "%" PRIu64, ks_watch_position(w->watch));
				cJSON_AddStringToObject(cJSON_AddObjectToObject(bm, "metadata"),
					"resourceVersion", rvs);
				ws_append_json(w, "BOOKMARK", bm);
				cJSON_Delete(bm);
				w->next_bookmark_ms = mono_ms() + 60000;
			}
			continue;
		}
		if (rc == KEELSON_ELIMIT) {
			cJSON *st = ks_status_new(410, "Expired", keelson_error_last()->message, NULL, NULL);
			ws_append_json(w, "ERROR", st);
			cJSON_Delete(st);
			w->done = true;
			continue;
		}
		w->done = true;
	}
}

static void watch_free(void *cls)
{
	struct watch_stream *w = cls;
	ks_watch_close(w->watch);
	filter_clear(&w->filter);
	free(w->buf);
	free(w);
}

static enum MHD_Result handle_watch(struct rctx *c)
{
	enum MHD_Result ret;
	struct watch_stream *w = calloc(1, sizeof(*w));
	if (!w)
		return send_status(c->conn, 500, "InternalError", "out of memory");
	w->srv = c->srv;
	w->type = c->type;
	w->fd = -1;
	snprintf(w->name, sizeof(w->name), "%s", c->name);
	if (filter_parse(c, &w->filter, &ret)) {
		free(w);
		return ret;
	}
	w->bookmarks = qbool(c->conn, "allowWatchBookmarks");
	w->table = wants_table(c->conn);
	int64_t timeout = 0;
	const char *ts = qparam(c->conn, "timeoutSeconds");
	if (!ts || !parse_int64(ts, &timeout) || timeout <= 0)
		timeout = 1800 + (int64_t)(mono_ms()) % 1800; /* minRequestTimeout x [1,2) */
	w->deadline_ms = mono_ms() + (double)timeout * 1000.0;
	w->next_bookmark_ms = mono_ms() + 1000;

	const char *rvq = qparam(c->conn, "resourceVersion");
	int64_t since = 0;
	bool initial = !rvq || !*rvq || !strcmp(rvq, "0");
	if (!initial && (!parse_int64(rvq, &since) || since < 0)) {
		watch_free(w);
		return send_status(c->conn, 400, "BadRequest",
			"resourceVersion: Invalid value: \"%s\": must be a non-negative integer", rvq);
	}
	struct ks_list_result res = {0};
	if (initial) {
		struct ks_list_options lo = {.version = KS_LIST_OPTIONS_VERSION,
			.namespace = c->namespace, .filter = filter_match,
			.filter_payload = &w->filter};
		if (ks_store_list(c->srv->store, c->type, &lo, &res)) {
			watch_free(w);
			return send_last_status(c->conn);
		}
		since = (int64_t)res.resource_version;
		cJSON *item;
		cJSON_ArrayForEach(item, res.items) {
			if (!ws_matches(w, item))
				continue;
			if (w->table) {
				ws_append_object(w, "ADDED", item, NULL);
			} else {
				ws_append_json(w, "ADDED", item);
			}
		}
		ks_list_result_clear(&res);
	}
	struct ks_watch_options wo = {.version = KS_WATCH_OPTIONS_VERSION, .type = c->type,
		.namespace = c->namespace, .since_rv = (uint64_t)since};
	if (ks_watch_open(c->srv->store, &wo, &w->watch)) {
		if (ks_status_last_code() != 410) {
			watch_free(w);
			return send_last_status(c->conn);
		}
		/* M9: too old -> 200 and one ERROR event. */
		cJSON *st = cJSON_Duplicate(ks_status_last(), 1);
		ws_append_json(w, "ERROR", st);
		cJSON_Delete(st);
		w->done = true;
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn,
		MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci)
		w->fd = ci->connect_fd;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
		watch_reader, w, watch_free);
	if (!r) {
		watch_free(w);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	ret = MHD_queue_response(c->conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---------------------------------------------------------------------------
 * Writes
 * ------------------------------------------------------------------------- */

static bool is_crd_type(const struct ks_resource_type *t)
{
	return !strcmp(t->group, "apiextensions.k8s.io") &&
		!strcmp(t->resource, "customresourcedefinitions");
}

/* Check kind/apiVersion of a body against the URL's type (400 otherwise). */
static int check_body_kind(struct rctx *c, const cJSON *body, enum MHD_Result *ret)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(body, "apiVersion");
	char want[160];
	ks_resource_type_api_version(c->type, want, sizeof(want));
	if (cJSON_IsString(av) && *av->valuestring && strcmp(av->valuestring, want)) {
		*ret = send_status(c->conn, 400, "BadRequest",
			"the API version in the data (%s) does not match the expected API version (%s)",
			av->valuestring, want);
		return -1;
	}
	if (cJSON_IsString(kind) && *kind->valuestring && strcmp(kind->valuestring, c->type->kind)) {
		*ret = send_status(c->conn, 400, "BadRequest",
			"the kind in the data (%s) does not match the expected kind (%s)",
			kind->valuestring, c->type->kind);
		return -1;
	}
	return 0;
}

/* M18 for custom resources: prune unknown fields (fieldValidation Strict
 * -> 400, Warn (default) -> Warning header, Ignore -> silent), then check
 * the schema (types, required, enum, bounds -> 422). Returns 0 or an error
 * with ks_status_last() set. */
static int check_custom(struct rctx *c, cJSON *obj)
{
	if (!c->type->custom || !c->type->schema)
		return 0;
	cJSON *unknown = cJSON_CreateArray();
	ks_crd_prune(c->type, obj, unknown);
	int n = cJSON_GetArraySize(unknown);
	int rc = 0;
	if (n > 0) {
		const char *fv = qparam(c->conn, "fieldValidation");
		char list[900] = "";
		size_t off = 0;
		cJSON *u;
		char warn[900] = "";
		size_t woff = 0;
		cJSON_ArrayForEach(u, unknown) {
			const char *field = u->valuestring + (u->valuestring[0] == '.');
			int ww = snprintf(warn + woff, sizeof(warn) - woff,
				"%s299 - \"unknown field \\\"%s\\\"\"", woff ? ", " : "", field);
			if (ww > 0 && (size_t)ww < sizeof(warn) - woff)
				woff += (size_t)ww;
			int w = snprintf(list + off, sizeof(list) - off, "%sunknown field \"%s\"",
				off ? ", " : "", field);
			if (w < 0 || (size_t)w >= sizeof(list) - off)
				break;
			off += (size_t)w;
		}
		if (fv && !strcmp(fv, "Strict")) {
			char msg[1200];
			snprintf(msg, sizeof(msg),
				"%s in version \"%s\" cannot be handled as a %s: strict decoding error: %s",
				c->type->kind, c->type->api_version, c->type->kind, list);
			rc = ks_status_set(KEELSON_EINVALID, ks_status_new(400, "BadRequest", msg, NULL,
				NULL));
		} else if (!fv || strcmp(fv, "Ignore")) {
			snprintf(c->warning, sizeof(c->warning), "%s", warn);
		}
	}
	cJSON_Delete(unknown);
	if (rc == 0)
		rc = ks_crd_validate(c->type, obj);
	return rc;
}

/* SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectReview: kubesim
 * has one all-powerful user, so every review says yes. */
static enum MHD_Result handle_review(struct rctx *c, cJSON *body)
{
	char av[160];
	ks_resource_type_api_version(c->type, av, sizeof(av));
	cJSON_DeleteItemFromObjectCaseSensitive(body, "apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(body, "kind");
	cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
	cJSON_AddStringToObject(body, "apiVersion", av);
	cJSON_AddStringToObject(body, "kind", c->type->kind);
	if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(body, "metadata"))) {
		cJSON_DeleteItemFromObjectCaseSensitive(body, "metadata");
		cJSON_AddObjectToObject(body, "metadata");
	}
	cJSON *status = cJSON_AddObjectToObject(body, "status");
	if (!strcmp(c->type->resource, "selfsubjectreviews")) {
		cJSON *ui = cJSON_AddObjectToObject(status, "userInfo");
		cJSON_AddStringToObject(ui, "username", request_user);
		cJSON *groups = cJSON_AddArrayToObject(ui, "groups");
		if (request_group[0])
			cJSON_AddItemToArray(groups, cJSON_CreateString(request_group));
		cJSON_AddItemToArray(groups, cJSON_CreateString("system:authenticated"));
	} else {
		cJSON_AddBoolToObject(status, "allowed", true);
		cJSON_AddStringToObject(status, "reason", "kubesim authorizes every request");
	}
	return send_json(c->conn, 201, body);
}

static enum MHD_Result handle_create(struct rctx *c)
{
	enum MHD_Result ret;
	cJSON *body = parse_body(c, &ret);
	if (!body)
		return ret;
	if (c->type->review && cJSON_IsObject(body))
		return handle_review(c, body);
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return send_status(c->conn, 400, "BadRequest", "the body of the request must be a JSON object");
	}
	if (check_body_kind(c, body, &ret)) {
		cJSON_Delete(body);
		return ret;
	}
	if (check_custom(c, body)) {
		cJSON_Delete(body);
		return send_last_status(c->conn);
	}
	if (is_crd_type(c->type)) {
		cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
		if (!cJSON_IsObject(meta))
			meta = cJSON_AddObjectToObject(body, "metadata");
		cJSON *fin = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
		if (!cJSON_IsArray(fin))
			fin = cJSON_AddArrayToObject(meta, "finalizers");
		cJSON_AddItemToArray(fin, cJSON_CreateString("customresourcecleanup.apiextensions.k8s.io"));
	}
	char fm[160];
	field_manager(c->conn, fm, sizeof(fm));
	struct ks_write_options wo = {.version = KS_WRITE_OPTIONS_VERSION,
		.dry_run = dry_run(c->conn), .field_manager = fm, .operation = "Update"};
	cJSON *out = NULL;
	int rc = ks_store_create(c->srv->store, c->type, c->namespace, body, &wo, &out);
	cJSON_Delete(body);
	if (rc)
		return send_last_status(c->conn);
	if (is_crd_type(c->type) && !wo.dry_run) {
		cJSON *crd = NULL;
		if (ks_crd_after_write(c->srv->store, ks_meta_string(out, "name"), &crd) == 0) {
			cJSON_Delete(out);
			out = crd;
		}
	}
	return send_obj(c, 201, out);
}

static enum MHD_Result handle_update(struct rctx *c)
{
	enum MHD_Result ret;
	cJSON *body = parse_body(c, &ret);
	if (!body)
		return ret;
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return send_status(c->conn, 400, "BadRequest", "the body of the request must be a JSON object");
	}
	if (check_body_kind(c, body, &ret)) {
		cJSON_Delete(body);
		return ret;
	}
	const char *bname = ks_meta_string(body, "name");
	if (bname && strcmp(bname, c->name)) {
		/* bname lives in body: answer before freeing it. */
		ret = send_status(c->conn, 400, "BadRequest",
			"the name of the object (%s) does not match the name on the URL (%s)", bname,
			c->name);
		cJSON_Delete(body);
		return ret;
	}
	if (!bname) {
		cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "metadata");
		if (!cJSON_IsObject(meta))
			meta = cJSON_AddObjectToObject(body, "metadata");
		cJSON_AddStringToObject(meta, "name", c->name);
	}
	if (!c->sub[0] && check_custom(c, body)) {
		cJSON_Delete(body);
		return send_last_status(c->conn);
	}
	char fm[160];
	field_manager(c->conn, fm, sizeof(fm));
	struct ks_write_options wo = {.version = KS_WRITE_OPTIONS_VERSION,
		.dry_run = dry_run(c->conn), .field_manager = fm, .operation = "Update",
		.subresource = c->sub[0] ? c->sub : NULL,
		.validate = true};
	cJSON *out = NULL;
	int rc = ks_store_update(c->srv->store, c->type, c->namespace, body, &wo, &out);
	cJSON_Delete(body);
	if (rc)
		return send_last_status(c->conn);
	if (is_crd_type(c->type) && !wo.dry_run && !c->sub[0]) {
		cJSON *crd = NULL;
		if (ks_crd_after_write(c->srv->store, c->name, &crd) == 0) {
			cJSON_Delete(out);
			out = crd;
		}
	}
	return send_obj(c, 200, out);
}

/* ---- PATCH ---- */

enum patch_kind { PATCH_JSON, PATCH_MERGE, PATCH_SMP, PATCH_APPLY };

struct patch_ctx {
	struct rctx *c;
	enum patch_kind kind;
	const cJSON *patch;
	cJSON *conflict;      /* SSA conflict Status */
	bool force;
	const char *manager;
};

static int apply_patch_doc(struct patch_ctx *p, cJSON **out, const cJSON *doc)
{
	int rc;
	switch (p->kind) {
	case PATCH_JSON:
		rc = ks_json_patch_apply(out, doc, p->patch);
		break;
	case PATCH_MERGE:
		rc = ks_merge_patch_apply(out, doc, p->patch);
		break;
	case PATCH_SMP:
		rc = ks_strategic_merge_apply(out, doc, p->patch, p->c->type->group, p->c->type->kind);
		break;
	default:
		rc = keelson_error_set(KEELSON_EINVALID, "unsupported patch");
	}
	return rc;
}

/* One step of a structured-merge-diff path string (".data.a",
 * ".spec.ports[port=80,protocol=\"TCP\"]", "[=\"x\"]", "[0]") from `at`
 * into `node`; *next is where the following step starts. NULL when the
 * step does not resolve. */
static const cJSON *smd_step(const cJSON *node, const char *at, const char **next)
{
	if (*at == '.') {
		/* Field names may hold dots (annotation keys): the first
		 * candidate that names a member wins. */
		const char *start = at + 1;
		for (const char *end = start;; end++) {
			if (*end == '.' || *end == '[' || !*end) {
				char name[256];
				size_t n = (size_t)(end - start);
				if (n < sizeof(name)) {
					memcpy(name, start, n);
					name[n] = 0;
					const cJSON *v = cJSON_IsObject(node) ?
						cJSON_GetObjectItemCaseSensitive(node, name) : NULL;
					if (v) {
						*next = end;
						return v;
					}
				}
				if (!*end)
					return NULL;
			}
		}
	}
	if (*at != '[' || !cJSON_IsArray(node))
		return NULL;
	const char *close = at + 1;
	bool quoted = false;
	for (; *close && (quoted || *close != ']'); close++) {
		if (*close == '\\' && quoted && close[1])
			close++;
		else if (*close == '"')
			quoted = !quoted;
	}
	if (*close != ']')
		return NULL;
	*next = close + 1;
	char inner[512];
	size_t n = (size_t)(close - at - 1);
	if (n >= sizeof(inner))
		return NULL;
	memcpy(inner, at + 1, n);
	inner[n] = 0;
	if (inner[0] >= '0' && inner[0] <= '9')
		return cJSON_GetArrayItem(node, atoi(inner));
	/* [=value] (set element) or [k=v,k2=v2] (associative list item). */
	const cJSON *item;
	cJSON_ArrayForEach(item, node) {
		bool all = true;
		char *cur = inner;
		while (all && *cur) {
			char *eq = strchr(cur, '=');
			if (!eq)
				return NULL;
			char *end = eq + 1;
			bool q = false;
			for (; *end && (q || *end != ','); end++) {
				if (*end == '\\' && q && end[1])
					end++;
				else if (*end == '"')
					q = !q;
			}
			cJSON *want = cJSON_ParseWithLength(eq + 1, (size_t)(end - eq - 1));
			const cJSON *have = item;
			if (eq > cur) {
				char key[128];
				size_t kn = (size_t)(eq - cur);
				if (kn >= sizeof(key)) {
					cJSON_Delete(want);
					return NULL;
				}
				memcpy(key, cur, kn);
				key[kn] = 0;
				have = cJSON_GetObjectItemCaseSensitive(item, key);
			}
			all = want && have && cJSON_Compare(want, have, 1);
			cJSON_Delete(want);
			cur = *end ? end + 1 : end;
		}
		if (all)
			return item;
	}
	return NULL;
}

static const cJSON *smd_lookup(const cJSON *node, const char *path)
{
	while (node && *path) {
		const char *next = path;
		node = smd_step(node, path, &next);
		if (next == path)
			return NULL;
		path = next;
	}
	return node;
}

/* kube-apiserver's lastAppliedManager: `kubectl apply --server-side` on an
 * object last written by client-side apply may take over, without
 * --force-conflicts, every field whose live value is still the one in the
 * kubectl.kubernetes.io/last-applied-configuration annotation. True when
 * every conflict in `conflict` (a 409 Status) is such a field. */
static bool last_applied_allows(const cJSON *live, const cJSON *conflict)
{
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(live, "metadata"),
			"annotations"), "kubectl.kubernetes.io/last-applied-configuration");
	if (!cJSON_IsString(ann) || !*ann->valuestring)
		return false;
	cJSON *last = cJSON_Parse(ann->valuestring);
	const cJSON *causes = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(conflict, "details"), "causes");
	bool allowed = cJSON_IsObject(last) && cJSON_GetArraySize(causes) > 0;
	const cJSON *cause;
	cJSON_ArrayForEach(cause, causes) {
		const cJSON *field = cJSON_GetObjectItemCaseSensitive(cause, "field");
		const cJSON *was = cJSON_IsString(field) ? smd_lookup(last, field->valuestring) : NULL;
		const cJSON *is = was ? smd_lookup(live, field->valuestring) : NULL;
		if (!is || !cJSON_Compare(was, is, 1)) {
			allowed = false;
			break;
		}
	}
	cJSON_Delete(last);
	return allowed;
}

/* The conversion kube-apiserver applies between the versioned object an
 * apply produces and what it stores: a Secret's stringData goes into data
 * (types.c defaults_secret). Other types have none that matters to the
 * no-op check. */
static void (*apply_conversion(const struct ks_resource_type *t))(cJSON *)
{
	return !t->group[0] && !strcmp(t->resource, "secrets") ? t->apply_defaults : NULL;
}

static int patch_mutate(cJSON *object, void *payload)
{
	struct patch_ctx *p = payload;
	cJSON *result = NULL;
	int rc;
	if (p->kind == PATCH_APPLY) {
		char av[160], now[KS_TIME_BUF];
		ks_resource_type_api_version(p->c->type, av, sizeof(av));
		struct ks_apply_options ao = {.manager = p->manager, .force = p->force,
			.api_version = av, .group = p->c->type->group, .kind = p->c->type->kind,
			.crd_schema = p->c->type->schema,
			.subresource = p->c->sub[0] ? p->c->sub : NULL,
			.now = ks_clock_format(ks_clock_now(), now),
			.status_is_ordinary = p->c->type->custom &&
				!(p->c->type->subresources & KS_SUB_STATUS),
			.convert = apply_conversion(p->c->type)};
		rc = ks_server_side_apply(&result, &p->conflict, object, p->patch, &ao);
		if (rc == KEELSON_ECONFLICT && !strcmp(p->manager, "kubectl") &&
			last_applied_allows(object, p->conflict)) {
			cJSON_Delete(p->conflict);
			p->conflict = NULL;
			ao.force = true;
			rc = ks_server_side_apply(&result, &p->conflict, object, p->patch, &ao);
		}
		if (rc) {
			if (p->conflict)
				return ks_status_set(rc, cJSON_Duplicate(p->conflict, 1));
			return ks_status_set(rc, ks_status_new(500, "InternalError",
				keelson_error_last()->message, NULL, NULL));
		}
	} else {
		rc = apply_patch_doc(p, &result, object);
		if (rc) {
			char msg[1200];
			snprintf(msg, sizeof(msg), "%s", keelson_error_last()->message);
			int code = p->kind == PATCH_JSON ? 422 : 400;
			cJSON *st = ks_status_new(code, code == 422 ? "Invalid" : "BadRequest", msg,
				NULL, NULL);
			return ks_status_set(KEELSON_EINVALID, st);
		}
	}
	if (!cJSON_IsObject(result)) {
		cJSON_Delete(result);
		return ks_status_set(KEELSON_EINVALID, ks_status_new(422, "Invalid",
			"the patch result is not a JSON object", NULL, NULL));
	}
	/* Replace the members of `object` in place with the result's. */
	while (object->child) {
		cJSON *ch = cJSON_DetachItemViaPointer(object, object->child);
		cJSON_Delete(ch);
	}
	while (result->child) {
		cJSON *ch = cJSON_DetachItemViaPointer(result, result->child);
		cJSON_AddItemToObject(object, ch->string, ch);
	}
	cJSON_Delete(result);
	/* Pruning and schema checks run on the patched object, before it is
	 * stored (runs under the store lock; touches only the request). */
	if (!p->c->sub[0])
		return check_custom(p->c, object);
	return 0;
}

static enum MHD_Result handle_scale(struct rctx *c);

static enum MHD_Result handle_patch(struct rctx *c)
{
	enum MHD_Result ret;
	const char *ct = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Type");
	char ctype[128] = "";
	if (ct) {
		snprintf(ctype, sizeof(ctype), "%s", ct);
		char *semi = strchr(ctype, ';');
		if (semi)
			*semi = 0;
		for (char *e = ctype + strlen(ctype); e > ctype && e[-1] == ' '; e--)
			e[-1] = 0;
	}
	struct patch_ctx p = {.c = c};
	if (!strcmp(ctype, "application/json-patch+json"))
		p.kind = PATCH_JSON;
	else if (!strcmp(ctype, "application/merge-patch+json"))
		p.kind = PATCH_MERGE;
	else if (!strcmp(ctype, "application/strategic-merge-patch+json") && !c->type->custom)
		p.kind = PATCH_SMP;
	else if (!strcmp(ctype, "application/apply-patch+yaml"))
		p.kind = PATCH_APPLY;
	else
		return send_status(c->conn, 415, "UnsupportedMediaType",
			"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml%s",
			c->type->custom ? "" : ", application/strategic-merge-patch+json");
	if (qparam(c->conn, "force") && p.kind != PATCH_APPLY)
		return send_status(c->conn, 422, "Invalid",
			"PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch");
	cJSON *patch = parse_body(c, &ret);
	if (!patch)
		return ret;
	p.patch = patch;
	p.force = qbool(c->conn, "force");
	char fm[160];
	field_manager(c->conn, fm, sizeof(fm));
	if (p.kind == PATCH_APPLY) {
		const char *q = qparam(c->conn, "fieldManager");
		if (!q || !*q) {
			cJSON_Delete(patch);
			return send_status(c->conn, 422, "Invalid",
				"PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
		}
		if (!cJSON_IsObject(patch)) {
			cJSON_Delete(patch);
			return send_status(c->conn, 400, "BadRequest",
				"error decoding YAML: the apply patch must be an object");
		}
	}
	p.manager = fm;
	if (!strcmp(c->sub, "scale")) {
		cJSON_Delete(patch);
		return handle_scale(c);
	}
	struct ks_write_options wo = {.version = KS_WRITE_OPTIONS_VERSION,
		.dry_run = dry_run(c->conn), .field_manager = fm,
		.operation = p.kind == PATCH_APPLY ? "Apply" : "Update",
		.subresource = c->sub[0] ? c->sub : NULL,
		.validate = true};
	cJSON *out = NULL;
	int rc = ks_store_modify(c->srv->store, c->type, c->namespace, c->name, patch_mutate, &p,
		&wo, &out);
	unsigned code = 200;
	if (rc == KEELSON_ENOTFOUND && p.kind == PATCH_APPLY && !c->sub[0]) {
		/* An apply patch creates a missing object (forceAllowCreate). */
		cJSON *created = NULL;
		char av[160], now[KS_TIME_BUF];
		ks_resource_type_api_version(c->type, av, sizeof(av));
		struct ks_apply_options ao = {.manager = fm, .force = p.force, .api_version = av,
			.group = c->type->group, .kind = c->type->kind, .crd_schema = c->type->schema,
			.now = ks_clock_format(ks_clock_now(), now),
			.status_is_ordinary = c->type->custom &&
				!(c->type->subresources & KS_SUB_STATUS)};
		rc = ks_server_side_apply(&created, &p.conflict, NULL, patch, &ao);
		if (rc == 0) {
			cJSON *meta = cJSON_GetObjectItemCaseSensitive(created, "metadata");
			if (!ks_meta_string(created, "name") && cJSON_IsObject(meta))
				cJSON_AddStringToObject(meta, "name", c->name);
			if (is_crd_type(c->type)) {
				cJSON *fin = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
				if (!cJSON_IsArray(fin))
					fin = cJSON_AddArrayToObject(meta, "finalizers");
				cJSON_AddItemToArray(fin, cJSON_CreateString(
					"customresourcecleanup.apiextensions.k8s.io"));
			}
			rc = check_custom(c, created);
			if (rc == 0)
				rc = ks_store_create(c->srv->store, c->type, c->namespace, created, &wo,
					&out);
			code = 201;
		} else if (p.conflict) {
			ks_status_set(rc, cJSON_Duplicate(p.conflict, 1));
		}
		cJSON_Delete(created);
	}
	cJSON_Delete(patch);
	cJSON_Delete(p.conflict);
	if (rc)
		return send_last_status(c->conn);
	if (is_crd_type(c->type) && !wo.dry_run && !c->sub[0]) {
		cJSON *crd = NULL;
		if (ks_crd_after_write(c->srv->store, c->name, &crd) == 0) {
			cJSON_Delete(out);
			out = crd;
		}
	}
	return send_obj(c, code, out);
}

/* ---- scale subresource (M7) ---- */

static cJSON *pointer_get(cJSON *obj, const char *ptr)
{
	if (!ptr || !*ptr)
		return NULL;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", ptr);
	cJSON *cur = obj;
	for (char *tok = strtok(buf + 1, "/"); tok && cur; tok = strtok(NULL, "/"))
		cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
	return cur;
}

static void pointer_set_number(cJSON *obj, const char *ptr, double v)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", ptr);
	cJSON *cur = obj;
	char *save = NULL;
	char *tok = strtok_r(buf + 1, "/", &save);
	while (tok) {
		char *next = strtok_r(NULL, "/", &save);
		cJSON *child = cJSON_GetObjectItemCaseSensitive(cur, tok);
		if (!next) {
			if (child)
				cJSON_ReplaceItemInObjectCaseSensitive(cur, tok, cJSON_CreateNumber(v));
			else
				cJSON_AddNumberToObject(cur, tok, v);
			return;
		}
		if (!cJSON_IsObject(child)) {
			cJSON_DeleteItemFromObjectCaseSensitive(cur, tok);
			child = cJSON_AddObjectToObject(cur, tok);
		}
		cur = child;
		tok = next;
	}
}

static cJSON *scale_of(const struct ks_resource_type *t, cJSON *obj)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "kind", "Scale");
	cJSON_AddStringToObject(s, "apiVersion", "autoscaling/v1");
	cJSON *m = cJSON_AddObjectToObject(s, "metadata");
	static const char *const keep[] = {"name", "namespace", "uid", "resourceVersion",
		"creationTimestamp"};
	for (size_t i = 0; i < 5; i++) {
		const char *v = ks_meta_string(obj, keep[i]);
		if (v)
			cJSON_AddStringToObject(m, keep[i], v);
	}
	cJSON *sr = pointer_get(obj, t->scale_spec_replicas);
	cJSON *st = pointer_get(obj, t->scale_status_replicas);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(s, "spec"), "replicas",
		cJSON_IsNumber(sr) ? sr->valuedouble : 0);
	cJSON *status = cJSON_AddObjectToObject(s, "status");
	cJSON_AddNumberToObject(status, "replicas", cJSON_IsNumber(st) ? st->valuedouble : 0);
	cJSON *sel = pointer_get(obj, t->scale_label_selector);
	if (cJSON_IsString(sel)) {
		cJSON_AddStringToObject(status, "selector", sel->valuestring);
	} else if (cJSON_IsObject(sel)) {
		char buf[1024] = "";
		size_t off = 0;
		cJSON *kv;
		cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(sel, "matchLabels")) {
			if (!cJSON_IsString(kv))
				continue;
			int w = snprintf(buf + off, sizeof(buf) - off, "%s%s=%s", off ? "," : "",
				kv->string, kv->valuestring);
			if (w < 0 || (size_t)w >= sizeof(buf) - off)
				break;
			off += (size_t)w;
		}
		cJSON_AddStringToObject(status, "selector", buf);
	}
	return s;
}

struct scale_ctx {
	struct rctx *c;
	struct patch_ctx *patch;  /* PATCH on /scale */
	const cJSON *scale_body;  /* PUT on /scale */
};

static int scale_mutate(cJSON *object, void *payload)
{
	struct scale_ctx *s = payload;
	const struct ks_resource_type *t = s->c->type;
	cJSON *scale = scale_of(t, object);
	cJSON *wanted = NULL;
	if (s->patch) {
		int rc = apply_patch_doc(s->patch, &wanted, scale);
		if (rc) {
			cJSON_Delete(scale);
			return ks_status_set(rc, ks_status_new(422, "Invalid",
				keelson_error_last()->message, NULL, NULL));
		}
	} else {
		wanted = cJSON_Duplicate(s->scale_body, 1);
	}
	cJSON_Delete(scale);
	const cJSON *rep = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(wanted, "spec"), "replicas");
	if (!cJSON_IsNumber(rep) || rep->valuedouble < 0) {
		cJSON_Delete(wanted);
		return ks_status_set(KEELSON_EINVALID, ks_status_new(422, "Invalid",
			"Scale.autoscaling \"\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0",
			NULL, NULL));
	}
	const char *rv = ks_meta_string(wanted, "resourceVersion");
	if (rv && *rv) {
		cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
		cJSON_ReplaceItemInObjectCaseSensitive(meta, "resourceVersion", cJSON_CreateString(rv));
	}
	pointer_set_number(object, t->scale_spec_replicas, rep->valuedouble);
	cJSON_Delete(wanted);
	return 0;
}

static enum MHD_Result handle_scale(struct rctx *c)
{
	enum MHD_Result ret;
	struct ks_store *st = c->srv->store;
	if (!strcmp(c->method, "GET")) {
		cJSON *obj = NULL;
		if (ks_store_get(st, c->type, c->namespace, c->name, &obj))
			return send_last_status(c->conn);
		cJSON *s = scale_of(c->type, obj);
		cJSON_Delete(obj);
		return send_json(c->conn, 200, s);
	}
	struct scale_ctx sc = {.c = c};
	struct patch_ctx pc = {.c = c};
	cJSON *body = parse_body(c, &ret);
	if (!body)
		return ret;
	if (!strcmp(c->method, "PATCH")) {
		const char *ct = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Type");
		pc.kind = ct && strstr(ct, "json-patch") ? PATCH_JSON
			: ct && strstr(ct, "strategic") ? PATCH_SMP : PATCH_MERGE;
		pc.patch = body;
		sc.patch = &pc;
	} else {
		sc.scale_body = body;
	}
	char fm[160];
	field_manager(c->conn, fm, sizeof(fm));
	struct ks_write_options wo = {.version = KS_WRITE_OPTIONS_VERSION,
		.dry_run = dry_run(c->conn), .field_manager = fm, .operation = "Update",
		.subresource = NULL};
	cJSON *out = NULL;
	int rc = ks_store_modify(st, c->type, c->namespace, c->name, scale_mutate, &sc, &wo, &out);
	cJSON_Delete(body);
	if (rc)
		return send_last_status(c->conn);
	cJSON *s = scale_of(c->type, out);
	cJSON_Delete(out);
	return send_json(c->conn, 200, s);
}

/* ---- DELETE ---- */

static int parse_delete_options(struct rctx *c, struct ks_delete_options *o, char *uid,
	char *rv, enum MHD_Result *ret)
{
	memset(o, 0, sizeof(*o));
	o->version = KS_DELETE_OPTIONS_VERSION;
	o->dry_run = dry_run(c->conn);
	const char *prop = qparam(c->conn, "propagationPolicy");
	const char *grace = qparam(c->conn, "gracePeriodSeconds");
	const char *orphan = qparam(c->conn, "orphanDependents");
	cJSON *body = NULL;
	if (c->body && c->body_len > 0) {
		body = cJSON_ParseWithLength(c->body, c->body_len);
		if (!cJSON_IsObject(body)) {
			cJSON_Delete(body);
			*ret = send_status(c->conn, 400, "BadRequest",
				"the DeleteOptions in the request body could not be decoded as JSON");
			return -1;
		}
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "propagationPolicy");
		prop = cJSON_IsString(v) ? v->valuestring : NULL;
		v = cJSON_GetObjectItemCaseSensitive(body, "gracePeriodSeconds");
		if (cJSON_IsNumber(v)) {
			o->has_grace_period = true;
			o->grace_period_seconds = (int64_t)v->valuedouble;
		}
		grace = NULL;
		v = cJSON_GetObjectItemCaseSensitive(body, "orphanDependents");
		orphan = cJSON_IsBool(v) ? (cJSON_IsTrue(v) ? "true" : "false") : NULL;
		v = cJSON_GetObjectItemCaseSensitive(body, "dryRun");
		if (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
			o->dry_run = true;
		const cJSON *pre = cJSON_GetObjectItemCaseSensitive(body, "preconditions");
		v = cJSON_GetObjectItemCaseSensitive(pre, "uid");
		if (cJSON_IsString(v)) {
			snprintf(uid, 64, "%s", v->valuestring);
			o->precondition_uid = uid;
		}
		v = cJSON_GetObjectItemCaseSensitive(pre, "resourceVersion");
		if (cJSON_IsString(v)) {
			snprintf(rv, 32, "%s", v->valuestring);
			o->precondition_rv = rv;
		}
	}
	int64_t g;
	if (grace && parse_int64(grace, &g)) {
		o->has_grace_period = true;
		o->grace_period_seconds = g;
	}
	int rc = 0;
	if (prop && *prop) {
		if (!strcmp(prop, "Foreground"))
			o->propagation = KS_PROPAGATION_FOREGROUND;
		else if (!strcmp(prop, "Background"))
			o->propagation = KS_PROPAGATION_BACKGROUND;
		else if (!strcmp(prop, "Orphan"))
			o->propagation = KS_PROPAGATION_ORPHAN;
		else {
			*ret = send_status(c->conn, 422, "Invalid",
				"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"%s\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
				prop);
			rc = -1;
		}
	} else if (orphan && !strcmp(orphan, "true")) {
		o->propagation = KS_PROPAGATION_ORPHAN;
	}
	cJSON_Delete(body);
	return rc;
}

static cJSON *success_status(const struct ks_resource_type *t, const cJSON *obj)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "kind", "Status");
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddObjectToObject(s, "metadata");
	cJSON_AddStringToObject(s, "status", "Success");
	cJSON *d = cJSON_AddObjectToObject(s, "details");
	const char *name = ks_meta_string(obj, "name");
	const char *uid = ks_meta_string(obj, "uid");
	cJSON_AddStringToObject(d, "name", name ? name : "");
	if (t->group[0])
		cJSON_AddStringToObject(d, "group", t->group);
	cJSON_AddStringToObject(d, "kind", t->resource);
	if (uid)
		cJSON_AddStringToObject(d, "uid", uid);
	return s;
}

static enum MHD_Result handle_delete(struct rctx *c)
{
	enum MHD_Result ret;
	struct ks_delete_options o;
	char uid[64], rv[32];
	if (parse_delete_options(c, &o, uid, rv, &ret))
		return ret;
	cJSON *out = NULL;
	bool removed = false;
	if (ks_store_delete(c->srv->store, c->type, c->namespace, c->name, &o, &out, &removed))
		return send_last_status(c->conn);
	if (removed && !c->type->returns_object_on_delete) {
		cJSON *s = success_status(c->type, out);
		cJSON_Delete(out);
		return send_json(c->conn, 200, s);
	}
	return send_json(c->conn, 200, out);
}

static enum MHD_Result handle_deletecollection(struct rctx *c)
{
	enum MHD_Result ret;
	struct filter f;
	if (filter_parse(c, &f, &ret))
		return ret;
	struct ks_delete_options o;
	char uid[64], rv[32];
	if (parse_delete_options(c, &o, uid, rv, &ret)) {
		filter_clear(&f);
		return ret;
	}
	struct ks_list_options lo = {.version = KS_LIST_OPTIONS_VERSION, .namespace = c->namespace,
		.filter = filter_match, .filter_payload = &f};
	struct ks_list_result res;
	int rc = ks_store_list(c->srv->store, c->type, &lo, &res);
	filter_clear(&f);
	if (rc)
		return send_last_status(c->conn);
	cJSON *list = cJSON_CreateObject();
	char av[160], rvs[24];
	ks_resource_type_api_version(c->type, av, sizeof(av));
	cJSON_AddStringToObject(list, "kind", c->type->list_kind);
	cJSON_AddStringToObject(list, "apiVersion", av);
	cJSON *meta = cJSON_AddObjectToObject(list, "metadata");
	cJSON *items = cJSON_AddArrayToObject(list, "items");
	cJSON *item;
	cJSON_ArrayForEach(item, res.items) {
		cJSON *out = NULL;
		if (ks_store_delete(c->srv->store, c->type, ks_meta_string(item, "namespace"),
			ks_meta_string(item, "name"), &o, &out, NULL) == 0)
			cJSON_AddItemToArray(items, out);
	}
	snprintf(rvs, sizeof(rvs), "%" PRIu64, ks_store_current_rv(c->srv->store));
	cJSON_AddStringToObject(meta, "resourceVersion", rvs);
	ks_list_result_clear(&res);
	return send_json(c->conn, 200, list);
}

/* ---- pods/eviction (kubectl drain): a graceful delete; PodDisruptionBudgets
 * are not evaluated. ---- */

static enum MHD_Result handle_eviction(struct rctx *c)
{
	enum MHD_Result ret;
	cJSON *body = parse_body(c, &ret);
	if (!body)
		return ret;
	struct ks_delete_options o = {.version = KS_DELETE_OPTIONS_VERSION,
		.dry_run = dry_run(c->conn)};
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "deleteOptions");
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(opts, "gracePeriodSeconds");
	if (cJSON_IsNumber(g)) {
		o.has_grace_period = true;
		o.grace_period_seconds = (int64_t)g->valuedouble;
	}
	cJSON_Delete(body);
	if (ks_store_delete(c->srv->store, c->type, c->namespace, c->name, &o, NULL, NULL))
		return send_last_status(c->conn);
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "kind", "Status");
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddObjectToObject(s, "metadata");
	cJSON_AddStringToObject(s, "status", "Success");
	cJSON_AddNumberToObject(s, "code", 201);
	return send_json(c->conn, 201, s);
}

/* ---- pods/exec over WebSocket (S8): v5.channel.k8s.io / v4.channel.k8s.io.
 * Frames carry a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 status;
 * v5 adds [255, channel] to close a channel. The command runs once stdin
 * is complete (or at once without stdin). ---- */

#define KS_EXEC_MAX_STDIN (4L * 1024 * 1024)
#define KS_EXEC_MAX_ARGS 64

struct exec_session {
	struct ks_server *srv;
	struct exec_session *next;
	bool registered;
	char namespace[256], pod[256], container[256];
	char *argv[KS_EXEC_MAX_ARGS];
	int argc;
	bool want_stdin;
	bool v5;
	char *extra;
	size_t extra_len;
	MHD_socket sock;
	struct MHD_UpgradeResponseHandle *urh;
};

static void exec_session_free(struct exec_session *es)
{
	if (es->registered) {
		pthread_mutex_lock(&es->srv->exec_lock);
		for (struct exec_session **pp = &es->srv->exec_sessions; *pp; pp = &(*pp)->next)
			if (*pp == es) {
				*pp = es->next;
				break;
			}
		pthread_cond_broadcast(&es->srv->exec_done);
		pthread_mutex_unlock(&es->srv->exec_lock);
	}
	for (int i = 0; i < es->argc; i++)
		free(es->argv[i]);
	free(es->extra);
	free(es);
}

static int sock_write_all(MHD_socket s, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(s, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int ws_send(MHD_socket s, unsigned opcode, int channel, const char *data, size_t len)
{
	unsigned char hdr[16];
	size_t plen = len + (channel >= 0 ? 1 : 0), h = 0;
	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (plen < 126) {
		hdr[h++] = (unsigned char)plen;
	} else if (plen < 65536) {
		hdr[h++] = 126;
		hdr[h++] = (unsigned char)(plen >> 8);
		hdr[h++] = (unsigned char)plen;
	} else {
		hdr[h++] = 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)plen >> (8 * i));
	}
	if (channel >= 0)
		hdr[h++] = (unsigned char)channel;
	if (sock_write_all(s, hdr, h))
		return -1;
	return len ? sock_write_all(s, (const unsigned char *)data, len) : 0;
}

/* Buffered reader over the upgraded socket, starting with extra_in. */
struct ws_reader {
	MHD_socket sock;
	const char *extra;
	size_t extra_len, extra_off;
};

static int ws_read_exact(struct ws_reader *r, unsigned char *buf, size_t n)
{
	while (n > 0) {
		if (r->extra_off < r->extra_len) {
			size_t k = r->extra_len - r->extra_off;
			if (k > n)
				k = n;
			memcpy(buf, r->extra + r->extra_off, k);
			r->extra_off += k;
			buf += k;
			n -= k;
			continue;
		}
		ssize_t got = recv(r->sock, buf, n, 0);
		if (got <= 0)
			return -1;
		buf += got;
		n -= (size_t)got;
	}
	return 0;
}

/* One client frame (masked); returns opcode or -1. *out is malloc'ed;
 * *fin tells whether it ends its message. */
static int ws_read_frame(struct ws_reader *r, unsigned char **out, size_t *out_len, bool *fin)
{
	unsigned char h[2], mask[4], ext[8];
	if (ws_read_exact(r, h, 2))
		return -1;
	uint64_t len = h[1] & 0x7f;
	if (len == 126) {
		if (ws_read_exact(r, ext, 2))
			return -1;
		len = ((uint64_t)ext[0] << 8) | ext[1];
	} else if (len == 127) {
		if (ws_read_exact(r, ext, 8))
			return -1;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | ext[i];
	}
	if (len > (uint64_t)KS_EXEC_MAX_STDIN)
		return -1;
	bool masked = h[1] & 0x80;
	if (masked && ws_read_exact(r, mask, 4))
		return -1;
	unsigned char *p = malloc((size_t)len + 1);
	if (!p || ws_read_exact(r, p, (size_t)len)) {
		free(p);
		return -1;
	}
	if (masked)
		for (uint64_t i = 0; i < len; i++)
			p[i] ^= mask[i % 4];
	*out = p;
	*out_len = (size_t)len;
	*fin = (h[0] & 0x80) != 0;
	return h[0] & 0x0f;
}

/* One whole data message (fragments joined; pings answered). Returns the
 * message opcode (1 or 2), 8 for close, -1 on error. */
static int ws_read_message(struct ws_reader *r, MHD_socket sock, unsigned char **out,
	size_t *out_len)
{
	unsigned char *msg = NULL;
	size_t len = 0;
	int msg_op = -1;
	for (;;) {
		unsigned char *f = NULL;
		size_t flen = 0;
		bool fin = false;
		int op = ws_read_frame(r, &f, &flen, &fin);
		if (op < 0 || op == 8) {
			free(f);
			free(msg);
			return op;
		}
		if (op == 9) {
			ws_send(sock, 10, -1, (const char *)f, flen);
			free(f);
			continue;
		}
		if (op == 10) {
			free(f);
			continue;
		}
		if (op != 0)
			msg_op = op;
		if (len + flen > (size_t)KS_EXEC_MAX_STDIN) {
			free(f);
			free(msg);
			return -1;
		}
		unsigned char *nm = realloc(msg, len + flen + 1);
		if (!nm) {
			free(f);
			free(msg);
			return -1;
		}
		msg = nm;
		memcpy(msg + len, f, flen);
		len += flen;
		free(f);
		if (fin) {
			*out = msg;
			*out_len = len;
			return msg_op < 0 ? 2 : msg_op;
		}
	}
}

static void *exec_thread(void *arg)
{
	struct exec_session *es = arg;
	/* MHD hands over a non-blocking socket (a socketpair under TLS). */
	int flags = fcntl(es->sock, F_GETFL, 0);
	if (flags >= 0)
		fcntl(es->sock, F_SETFL, flags & ~O_NONBLOCK);
	struct ws_reader rd = {.sock = es->sock, .extra = es->extra, .extra_len = es->extra_len};
	char *in = NULL;
	size_t in_len = 0;
	bool ok = true;
	while (es->want_stdin) {
		unsigned char *f = NULL;
		size_t flen = 0;
		int op = ws_read_message(&rd, es->sock, &f, &flen);
		if (op < 0 || op == 8) {
			free(f);
			break; /* peer closed: stdin is complete */
		}
		if (flen >= 1 && f[0] == 255) {
			free(f);
			break; /* v5: a channel was closed (stdin) */
		}
		if (flen > 1 && f[0] == 0) {
			if (in_len + flen - 1 > (size_t)KS_EXEC_MAX_STDIN) {
				free(f);
				ok = false;
				break;
			}
			char *ni = realloc(in, in_len + flen);
			if (!ni) {
				free(f);
				ok = false;
				break;
			}
			in = ni;
			memcpy(in + in_len, f + 1, flen - 1);
			in_len += flen - 1;
		}
		free(f);
	}
	if (ok) {
		struct ks_exec_request rq = {.namespace = es->namespace, .pod = es->pod,
			.container = es->container, .argv = (const char *const *)es->argv,
			.argc = es->argc, .stdin_data = in, .stdin_len = in_len};
		struct ks_exec_result res;
		ks_exec_run(&rq, &res);
		if (res.out_len)
			ws_send(es->sock, 2, 1, res.out, res.out_len);
		if (res.err_len)
			ws_send(es->sock, 2, 2, res.err, res.err_len);
		char status[512];
		if (res.exit_code == 0)
			snprintf(status, sizeof(status), "{\"metadata\":{},\"status\":\"Success\"}");
		else
			snprintf(status, sizeof(status),
				"{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with non-zero exit code: exit status %d\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"%d\"}]}}",
				res.exit_code, res.exit_code);
		ws_send(es->sock, 2, 3, status, strlen(status));
		free(res.out);
		free(res.err);
	}
	free(in);
	static const char close_normal[] = {0x03, (char)0xe8};
	ws_send(es->sock, 8, -1, close_normal, 2);
	/* Closing handshake: wait (bounded) for the client's close frame so
	 * the status frame is read before the connection goes away. */
	struct timeval tv = {.tv_sec = 2};
	setsockopt(es->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 64; i++) {
		unsigned char *f = NULL;
		size_t flen = 0;
		int op = ws_read_message(&rd, es->sock, &f, &flen);
		free(f);
		if (op < 0 || op == 8)
			break;
	}
	MHD_upgrade_action(es->urh, MHD_UPGRADE_ACTION_CLOSE);
	exec_session_free(es);
	return NULL;
}

static void exec_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
	const char *extra_in, size_t extra_in_size, MHD_socket sock,
	struct MHD_UpgradeResponseHandle *urh)
{
	(void)connection;
	(void)con_cls;
	struct exec_session *es = cls;
	es->sock = sock;
	es->urh = urh;
	if (extra_in_size) {
		es->extra = malloc(extra_in_size);
		if (es->extra) {
			memcpy(es->extra, extra_in, extra_in_size);
			es->extra_len = extra_in_size;
		}
	}
	pthread_mutex_lock(&es->srv->exec_lock);
	es->next = es->srv->exec_sessions;
	es->srv->exec_sessions = es;
	es->registered = true;
	pthread_mutex_unlock(&es->srv->exec_lock);
	/* MHD forwards TLS data only after this returns: work elsewhere. */
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, exec_thread, es) != 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		exec_session_free(es);
	}
	pthread_attr_destroy(&attr);
}

static enum MHD_Result collect_command(void *cls, enum MHD_ValueKind kind, const char *key,
	const char *value)
{
	(void)kind;
	struct exec_session *es = cls;
	if (!strcmp(key, "command") && value && es->argc < KS_EXEC_MAX_ARGS)
		es->argv[es->argc++] = strdup(value);
	return MHD_YES;
}

static enum MHD_Result handle_exec(struct rctx *c)
{
	const char *upgrade = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Upgrade");
	const char *key = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *protos = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND,
		"Sec-WebSocket-Protocol");
	if (!upgrade || strcasecmp(upgrade, "websocket") || !key)
		return send_status(c->conn, 400, "BadRequest",
			"kubesim serves pods/exec over WebSocket only (v5.channel.k8s.io or v4.channel.k8s.io); SPDY is not supported");
	const char *proto = NULL;
	if (protos && strstr(protos, "v5.channel.k8s.io"))
		proto = "v5.channel.k8s.io";
	else if (protos && strstr(protos, "v4.channel.k8s.io"))
		proto = "v4.channel.k8s.io";
	if (!proto)
		return send_status(c->conn, 400, "BadRequest",
			"unsupported exec subprotocol: offer v5.channel.k8s.io or v4.channel.k8s.io");
	cJSON *pod = NULL;
	if (ks_store_get(c->srv->store, c->type, c->namespace, c->name, &pod))
		return send_last_status(c->conn);
	const char *phase = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(pod, "status"), "phase"));
	bool running = phase && !strcmp(phase, "Running");
	cJSON_Delete(pod);
	if (!running)
		return send_status(c->conn, 400, "BadRequest",
			"unable to upgrade connection: container not found (pod %s is not running)", c->name);
	struct exec_session *es = calloc(1, sizeof(*es));
	if (!es)
		return send_status(c->conn, 500, "InternalError", "out of memory");
	es->srv = c->srv;
	snprintf(es->namespace, sizeof(es->namespace), "%s", c->namespace);
	snprintf(es->pod, sizeof(es->pod), "%s", c->name);
	const char *container = qparam(c->conn, "container");
	snprintf(es->container, sizeof(es->container), "%s", container ? container : "");
	MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, collect_command, es);
	es->want_stdin = qbool(c->conn, "stdin");
	es->v5 = !strcmp(proto, "v5.channel.k8s.io");
	if (es->argc == 0) {
		exec_session_free(es);
		return send_status(c->conn, 400, "BadRequest", "you must specify at least 1 command");
	}
	char concat[256];
	snprintf(concat, sizeof(concat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	unsigned char digest[20];
	unsigned int dlen = 0;
	EVP_Digest(concat, strlen(concat), digest, &dlen, EVP_sha1(), NULL);
	char *accept = ks_base64_encode(digest, dlen);
	struct MHD_Response *r = MHD_create_response_for_upgrade(exec_upgraded, es);
	if (!r || !accept) {
		free(accept);
		if (r)
			MHD_destroy_response(r);
		exec_session_free(es);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Upgrade", "websocket");
	MHD_add_response_header(r, "Connection", "Upgrade");
	MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
	MHD_add_response_header(r, "Sec-WebSocket-Protocol", proto);
	free(accept);
	enum MHD_Result ret = MHD_queue_response(c->conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- pods/log and proxies (S8) ---- */

/* pods/log?follow=true: stream new lines until the pod goes away. */
struct log_stream {
	struct ks_server *srv;
	const struct ks_resource_type *type;
	char namespace[256], pod[256], container[256];
	char *uid;
	uint64_t cursor;
	long tail;
	char *pending;
	size_t len, off;
	int fd;
};

static void log_free(void *cls)
{
	struct log_stream *ls = cls;
	free(ls->pending);
	free(ls->uid);
	free(ls);
}

static ssize_t log_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct log_stream *ls = cls;
	for (;;) {
		if (ls->pending && ls->off < ls->len) {
			size_t n = ls->len - ls->off;
			if (n > max)
				n = max;
			memcpy(out, ls->pending + ls->off, n);
			ls->off += n;
			return (ssize_t)n;
		}
		free(ls->pending);
		ls->pending = ks_pod_log_follow(ls->namespace, ls->pod, ls->container, ls->tail,
			&ls->cursor);
		ls->len = ls->pending ? strlen(ls->pending) : 0;
		ls->off = 0;
		if (ls->len)
			continue;
		if (ls->srv->stopping || client_gone(ls->fd))
			return MHD_CONTENT_READER_END_OF_STREAM;
		cJSON *pod = NULL;
		bool alive = ks_store_get(ls->srv->store, ls->type, ls->namespace, ls->pod, &pod) == 0 &&
			!strcmp(ks_meta_string(pod, "uid") ? ks_meta_string(pod, "uid") : "", ls->uid);
		cJSON_Delete(pod);
		if (!alive)
			return MHD_CONTENT_READER_END_OF_STREAM;
		usleep(200000);
	}
}

static enum MHD_Result handle_log(struct rctx *c)
{
	cJSON *pod = NULL;
	if (ks_store_get(c->srv->store, c->type, c->namespace, c->name, &pod))
		return send_last_status(c->conn);
	const char *container = qparam(c->conn, "container");
	const cJSON *containers = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(pod, "spec"), "containers");
	if (!container || !*container) {
		if (cJSON_GetArraySize(containers) > 1) {
			enum MHD_Result r = send_status(c->conn, 400, "BadRequest",
				"a container name must be specified for pod %s, choose one of: [...]", c->name);
			cJSON_Delete(pod);
			return r;
		}
		const cJSON *first = cJSON_GetArrayItem(containers, 0);
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(first, "name");
		container = cJSON_IsString(n) ? n->valuestring : NULL;
	}
	int64_t tail = -1;
	const char *tl = qparam(c->conn, "tailLines");
	if (tl)
		parse_int64(tl, &tail);
	if (!qbool(c->conn, "follow")) {
		char *text = ks_pod_log_get(c->namespace, c->name, container, (long)tail);
		cJSON_Delete(pod);
		return send_text(c->conn, 200, text, "text/plain", NULL);
	}
	struct log_stream *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		cJSON_Delete(pod);
		return send_status(c->conn, 500, "InternalError", "out of memory");
	}
	ls->srv = c->srv;
	ls->type = c->type;
	ls->cursor = UINT64_MAX;
	ls->tail = (long)tail;
	ls->uid = strdup(ks_meta_string(pod, "uid") ? ks_meta_string(pod, "uid") : "");
	snprintf(ls->namespace, sizeof(ls->namespace), "%s", c->namespace);
	snprintf(ls->pod, sizeof(ls->pod), "%s", c->name);
	snprintf(ls->container, sizeof(ls->container), "%s", container ? container : "");
	cJSON_Delete(pod);
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn,
		MHD_CONNECTION_INFO_CONNECTION_FD);
	ls->fd = ci ? ci->connect_fd : -1;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
		log_reader, ls, log_free);
	if (!r) {
		log_free(ls);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain");
	enum MHD_Result ret = MHD_queue_response(c->conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

struct qbuild {
	char *buf;
	size_t len, cap;
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
	const char *value)
{
	(void)kind;
	struct qbuild *q = cls;
	size_t need = strlen(key) + (value ? strlen(value) : 0) + 3;
	if (q->len + need >= q->cap) {
		size_t nc = (q->cap + need) * 2;
		char *nb = realloc(q->buf, nc);
		if (!nb)
			return MHD_NO;
		q->buf = nb;
		q->cap = nc;
	}
	q->len += (size_t)snprintf(q->buf + q->len, q->cap - q->len, "%s%s%s%s", q->len ? "&" : "",
		key, value ? "=" : "", value ? value : "");
	return MHD_YES;
}

struct hcollect {
	struct ks_proxy_header h[KS_PROXY_MAX_HEADERS];
	size_t n;
};

/* The client's headers go to the pod, except its credentials (the real API
 * server authenticates the client and never forwards Authorization) and the
 * hop-by-hop and framing headers, which belong to this connection; skipping
 * those also keeps the few slots for the headers a pod acts on. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
	const char *value)
{
	static const char *const skip[] = {"Authorization", "Host", "Connection", "Keep-Alive",
		"Content-Length", "Transfer-Encoding", "Accept-Encoding", "Upgrade", "Expect", "TE",
		"Proxy-Authorization"};
	(void)kind;
	struct hcollect *hc = cls;
	if (!key)
		return MHD_YES;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (!strcasecmp(key, skip[i]))
			return MHD_YES;
	if (hc->n >= KS_PROXY_MAX_HEADERS)
		return MHD_NO;
	snprintf(hc->h[hc->n].name, sizeof(hc->h[hc->n].name), "%s", key);
	snprintf(hc->h[hc->n].value, sizeof(hc->h[hc->n].value), "%s", value ? value : "");
	hc->n++;
	return MHD_YES;
}

static enum MHD_Result handle_proxy(struct rctx *c)
{
	/* name may be "[scheme:]name[:port]" */
	char target[256], *name = target;
	snprintf(target, sizeof(target), "%s", c->name);
	int port = 0;
	char *colon = strchr(name, ':');
	if (colon && !strcmp(c->type->resource, "services") &&
	    (!strncmp(name, "http:", 5) || !strncmp(name, "https:", 6))) {
		name = colon + 1;
		colon = strchr(name, ':');
	}
	if (colon) {
		*colon = 0;
		port = atoi(colon + 1);
	}
	cJSON *obj = NULL;
	if (ks_store_get(c->srv->store, c->type, c->namespace, name, &obj))
		return send_last_status(c->conn);
	bool terminating = ks_meta_string(obj, "deletionTimestamp") != NULL;
	cJSON_Delete(obj);
	ks_proxy_handler_fn fn;
	void *payload;
	if (terminating || ks_proxy_lookup(c->namespace, c->type->resource, name, port, &fn,
		&payload))
		return send_status(c->conn, 503, "ServiceUnavailable",
			"error trying to reach service: dial tcp %s:%d: connect: connection refused", name,
			port);
	struct qbuild q = {0};
	MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
	struct hcollect hc = {.n = 0};
	MHD_get_connection_values(c->conn, MHD_HEADER_KIND, collect_header, &hc);
	struct ks_proxy_request pr = {.method = c->method, .namespace = c->namespace,
		.kind = c->type->resource, .name = name, .port = port,
		.path = c->rest && *c->rest ? c->rest : "/", .query = q.buf ? q.buf : "",
		.body = c->body, .body_len = c->body_len, .headers = hc.h, .nheaders = hc.n};
	struct ks_proxy_response resp = {.status = 200};
	int rc = fn(&pr, &resp, payload);
	free(q.buf);
	if (rc < 0) {
		free(resp.body);
		return send_status(c->conn, 503, "ServiceUnavailable",
			"error trying to reach service: dial tcp %s:%d: connect: connection refused", name,
			port);
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(resp.body_len,
		resp.body ? resp.body : (void *)"", resp.body ? MHD_RESPMEM_MUST_FREE
							      : MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type",
		resp.content_type[0] ? resp.content_type : "application/json");
	for (size_t i = 0; i < resp.nheaders && i < KS_PROXY_MAX_HEADERS; i++)
		if (resp.headers[i].name[0] && strcasecmp(resp.headers[i].name, "Content-Type"))
			MHD_add_response_header(r, resp.headers[i].name, resp.headers[i].value);
	enum MHD_Result ret = MHD_queue_response(c->conn, (unsigned)(resp.status ? resp.status : 200),
		r);
	MHD_destroy_response(r);
	return ret;
}

/* ---------------------------------------------------------------------------
 * Admin API /_sim/
 * ------------------------------------------------------------------------- */

static enum MHD_Result handle_sim(struct ks_server *srv, struct MHD_Connection *conn,
	const char *method, const char *what, struct req *rq)
{
	if (!strcmp(what, "reset") && !strcmp(method, "POST")) {
		ks_store_reset(srv->store);
		ks_sim_reset();
		ks_clock_set_factor(1.0);
		cJSON *r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "status", "reset");
		return send_json(conn, 200, r);
	}
	if (!strcmp(what, "counters") && !strcmp(method, "GET"))
		return send_json(conn, 200, ks_counters_json());
	if (!strcmp(what, "violations") && !strcmp(method, "GET")) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "violations", ks_violations_json());
		return send_json(conn, 200, r);
	}
	if (!strcmp(what, "faults")) {
		if (!strcmp(method, "GET"))
			return send_json(conn, 200, ks_faults_json());
		if (!strcmp(method, "POST")) {
			cJSON *cfg = rq->body ? cJSON_ParseWithLength(rq->body, rq->len) : NULL;
			int rc = ks_faults_set(cfg);
			cJSON_Delete(cfg);
			if (rc)
				return send_status(conn, 400, "BadRequest", "%s",
					keelson_error_last()->message);
			return send_json(conn, 200, ks_faults_json());
		}
	}
	if (!strcmp(what, "clock")) {
		if (!strcmp(method, "POST")) {
			cJSON *cfg = rq->body ? cJSON_ParseWithLength(rq->body, rq->len) : NULL;
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(cfg, "factor");
			int rc = cJSON_IsNumber(f) ? ks_clock_set_factor(f->valuedouble)
						   : keelson_error_set(KEELSON_EINVALID,
							     "send {\"factor\": N} with N > 0");
			cJSON_Delete(cfg);
			if (rc)
				return send_status(conn, 400, "BadRequest", "%s",
					keelson_error_last()->message);
		}
		if (!strcmp(method, "POST") || !strcmp(method, "GET")) {
			cJSON *r = cJSON_CreateObject();
			char ts[KS_TIME_BUF];
			cJSON_AddNumberToObject(r, "factor", ks_clock_factor());
			cJSON_AddStringToObject(r, "now", ks_clock_format_micro(ks_clock_now(), ts));
			return send_json(conn, 200, r);
		}
	}
	if (!strcmp(what, "stats") && !strcmp(method, "GET")) {
		cJSON *r = cJSON_CreateObject();
		cJSON_AddNumberToObject(r, "objects", (double)ks_store_count(srv->store));
		cJSON_AddNumberToObject(r, "resourceVersion", (double)ks_store_current_rv(srv->store));
		return send_json(conn, 200, r);
	}
	return send_status(conn, 404, "NotFound",
		"unknown admin endpoint /_sim/%s (reset, counters, faults, clock, violations, stats)",
		what);
}

/* ---------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------- */

static const char *verb_of(const char *method, bool has_name, bool watch)
{
	if (!strcmp(method, "GET"))
		return watch ? "watch" : has_name ? "get" : "list";
	if (!strcmp(method, "POST"))
		return "create";
	if (!strcmp(method, "PUT"))
		return "update";
	if (!strcmp(method, "PATCH"))
		return "patch";
	if (!strcmp(method, "DELETE"))
		return has_name ? "delete" : "deletecollection";
	return "unknown";
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *conn, const char *method)
{
	return send_status(conn, 405, "MethodNotAllowed",
		"the server does not allow this method on the requested resource (%s)", method);
}

static bool valid_name_segment(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 254 && !strchr(s, '/');
}

/* ---- injected conflicts (issue 11) ---- */

/* The request body as JSON, YAML apply patches included; NULL when it is
 * absent or undecodable (the handler then reports that, not a conflict). */
static cJSON *decode_body_quietly(const struct rctx *c)
{
	if (!c->body || c->body_len == 0)
		return NULL;
	cJSON *j = cJSON_ParseWithLength(c->body, c->body_len);
	if (j)
		return j;
	struct keelson_yaml_stream *ys = NULL;
	if (keelson_yaml_load_buffer(&ys, c->body, c->body_len, "request body", NULL))
		return NULL;
	if (keelson_yaml_document_count(ys) == 1)
		j = cJSON_Duplicate(keelson_yaml_document(ys, 0), 1);
	keelson_yaml_stream_free(ys);
	return j;
}

static const char *content_type_of(const struct rctx *c)
{
	const char *ct = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Type");
	return ct ? ct : "";
}

static bool has_resource_version(const cJSON *obj)
{
	const char *rv = ks_meta_string(obj, "resourceVersion");
	return rv && *rv;
}

/* A JSON patch that sets or tests /metadata/resourceVersion makes it a
 * precondition of the patched result. */
static bool json_patch_sets_rv(const cJSON *ops)
{
	const cJSON *op;
	cJSON_ArrayForEach(op, ops) {
		const cJSON *path = cJSON_GetObjectItemCaseSensitive(op, "path");
		if (cJSON_IsString(path) && !strcmp(path->valuestring, "/metadata/resourceVersion"))
			return true;
	}
	return false;
}

/* The path of the first field an apply patch sets outside the object's
 * identity (".spec.replicas"): what a conflicting manager would own. A
 * list ends the path, as an atomic list is owned whole. */
static bool first_applied_field(const cJSON *obj, char *out, size_t size)
{
	size_t len = 0;
	out[0] = 0;
	const cJSON *node = obj;
	bool top = true;
	while (cJSON_IsObject(node)) {
		const cJSON *pick = NULL, *it;
		cJSON_ArrayForEach(it, node) {
			if (top && (!strcmp(it->string, "apiVersion") || !strcmp(it->string, "kind") ||
				    !strcmp(it->string, "metadata") || !strcmp(it->string, "status")))
				continue;
			if (cJSON_IsObject(it) && !it->child)
				continue;
			pick = it;
			break;
		}
		if (!pick)
			return false;
		int n = snprintf(out + len, size - len, ".%s", pick->string);
		if (n < 0 || (size_t)n >= size - len)
			return false;
		len += (size_t)n;
		node = pick;
		top = false;
	}
	return len > 0;
}

/* Whether this write carries a precondition the real server checks (so a
 * concurrent writer could make it fail with 409), and for apply patches
 * the field a conflicting manager would own. */
static bool conflict_eligible(const struct rctx *c, const char *verb, bool *ssa,
	char *field, size_t field_size)
{
	*ssa = false;
	if (!strcmp(verb, "delete")) {
		/* Only a resourceVersion precondition: the real server
		 * answers a UID precondition 409 only when the UID differs
		 * (the object was replaced), which no injected fault can make
		 * true; a client rightly takes that 409 as "already gone". */
		cJSON *opts = decode_body_quietly(c);
		const cJSON *pre = cJSON_GetObjectItemCaseSensitive(opts, "preconditions");
		const cJSON *rv = cJSON_GetObjectItemCaseSensitive(pre, "resourceVersion");
		bool ok = cJSON_IsString(rv) && *rv->valuestring;
		cJSON_Delete(opts);
		return ok;
	}
	if (strcmp(verb, "update") && strcmp(verb, "patch"))
		return false;
	const char *ct = content_type_of(c);
	if (strstr(ct, "protobuf") || strstr(ct, "cbor"))
		return false;
	cJSON *body = decode_body_quietly(c);
	bool ok = false;
	if (!strcmp(verb, "update")) {
		ok = cJSON_IsObject(body) && has_resource_version(body);
	} else if (strstr(ct, "application/apply-patch+yaml")) {
		*ssa = true;
		/* force=true takes the fields over: the real server never
		 * answers a forced apply with a conflict. */
		ok = cJSON_IsObject(body) && !qbool(c->conn, "force") &&
			first_applied_field(body, field, field_size);
	} else if (strstr(ct, "application/json-patch+json")) {
		ok = cJSON_IsArray(body) && json_patch_sets_rv(body);
	} else {
		ok = cJSON_IsObject(body) && has_resource_version(body);
	}
	cJSON_Delete(body);
	return ok;
}

/* conflictRate (sim.h): answer an eligible write of an existing object
 * with the 409 the real API server sends when a concurrent writer got
 * there first. Returns true when it answered (*ret set). */
static bool inject_conflict(struct rctx *c, const char *verb, enum MHD_Result *ret)
{
	bool ssa;
	char field[256];
	if (!conflict_eligible(c, verb, &ssa, field, sizeof(field)))
		return false;
	/* A missing object is a 404 on the real server, and an apply
	 * creates it: no conflict either way. */
	cJSON *live = NULL;
	if (ks_store_get(c->srv->store, c->type, c->namespace, c->name, &live))
		return false;
	cJSON_Delete(live);
	char qres[200], what[300];
	ks_resource_type_qualified(c->type, qres, sizeof(qres));
	snprintf(what, sizeof(what), "%s %s%s%s", verb, qres, c->sub[0] ? "/" : "", c->sub);
	ks_fault_count("conflictEligible", what);
	if (!ks_faults_roll_conflict(verb))
		return false;
	ks_fault_count("conflict", what);
	char msg[768];
	cJSON *st;
	if (ssa) {
		/* S3: an Update manager's field; no details.name/kind, only
		 * the causes (AM pkg/util/managedfields/internal/conflict.go). */
		char av[160], with[256];
		ks_resource_type_api_version(c->type, av, sizeof(av));
		snprintf(with, sizeof(with), "conflict with \"%s\" using %s",
			KS_INJECTED_CONFLICT_MANAGER, av);
		snprintf(msg, sizeof(msg), "Apply failed with 1 conflict: %s: %s", with, field);
		st = ks_status_new(409, "Conflict", msg, NULL, NULL);
		cJSON *cause = cJSON_CreateObject();
		cJSON_AddStringToObject(cause, "reason", "FieldManagerConflict");
		cJSON_AddStringToObject(cause, "message", with);
		cJSON_AddStringToObject(cause, "field", field);
		cJSON *causes = cJSON_AddArrayToObject(cJSON_AddObjectToObject(st, "details"),
			"causes");
		cJSON_AddItemToArray(causes, cause);
	} else {
		/* M5 (AS pkg/registry/generic/registry/store.go): the stale
		 * resourceVersion answer, details {name, group, kind=plural}. A
		 * delete precondition fails the same way when the object was
		 * modified in between. */
		char q[200];
		ks_resource_type_qualified(c->type, q, sizeof(q));
		snprintf(msg, sizeof(msg),
			"Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your changes to the latest version and try again",
			q, c->name);
		st = ks_status_new(409, "Conflict", msg, c->type, c->name);
	}
	*ret = send_json(c->conn, 409, st);
	return true;
}

static enum MHD_Result route_resource(struct ks_server *srv, struct MHD_Connection *conn,
	const char *method, const char *group, const char *version, char **seg, int nseg,
	const char *proxy_rest, struct req *rq)
{
	struct rctx c;
	memset(&c, 0, sizeof(c));
	c.srv = srv;
	c.conn = conn;
	c.method = method;
	c.body = rq->body;
	c.body_len = rq->len;
	int i = 0;
	/* namespaces/{ns}/{resource}... vs namespaces/{name}[/status|finalize] */
	if (nseg >= 3 && !strcmp(seg[0], "namespaces") && !group[0] &&
	    strcmp(seg[2], "status") && strcmp(seg[2], "finalize")) {
		snprintf(c.namespace, sizeof(c.namespace), "%s", seg[1]);
		i = 2;
	} else if (nseg >= 3 && !strcmp(seg[0], "namespaces") && group[0]) {
		snprintf(c.namespace, sizeof(c.namespace), "%s", seg[1]);
		i = 2;
	}
	if (i >= nseg)
		return send_not_found_path(conn);
	const char *resource = seg[i++];
	c.type = ks_store_type_find(srv->store, group, resource);
	if (!c.type || strcmp(c.type->api_version, version))
		return send_not_found_path(conn);
	if (!c.type->namespaced && c.namespace[0])
		return send_not_found_path(conn);
	if (i < nseg) {
		if (!valid_name_segment(seg[i]))
			return send_not_found_path(conn);
		snprintf(c.name, sizeof(c.name), "%s", seg[i++]);
	}
	if (i < nseg)
		snprintf(c.sub, sizeof(c.sub), "%s", seg[i++]);
	if (i < nseg && strcmp(c.sub, "proxy"))
		return send_not_found_path(conn);
	c.rest = proxy_rest;

	bool watch = !strcmp(method, "GET") && qbool(conn, "watch");
	const char *verb = verb_of(method, c.name[0] != 0, watch);
	char qres[200];
	ks_resource_type_qualified(c.type, qres, sizeof(qres));
	if (c.sub[0]) {
		char full[240];
		snprintf(full, sizeof(full), "%s/%s", qres, c.sub);
		ks_counter_add(verb, full);
	} else {
		ks_counter_add(verb, qres);
	}
	char fault_what[300];
	snprintf(fault_what, sizeof(fault_what), "%s %s%s%s", verb, qres, c.sub[0] ? "/" : "", c.sub);
	long latency, retry_after;
	int fault = ks_faults_roll(verb, &latency, &retry_after);
	if (latency > 0)
		usleep((useconds_t)latency * 1000);
	if (fault == 429) {
		ks_fault_count("throttle", fault_what);
		char msg[64];
		snprintf(msg, sizeof(msg), "%ld", retry_after);
		cJSON *st = ks_status_new(429, "TooManyRequests",
			"the server has received too many requests and has asked us to try again later",
			NULL, NULL);
		cJSON_AddNumberToObject(cJSON_AddObjectToObject(st, "details"), "retryAfterSeconds",
			(double)retry_after);
		char *text = cJSON_PrintUnformatted(st);
		cJSON_Delete(st);
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
			MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "Retry-After", msg);
		enum MHD_Result ret = MHD_queue_response(conn, 429, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (fault == 500) {
		ks_fault_count("error", fault_what);
		return send_status(conn, 500, "InternalError",
			"Internal error occurred: injected fault (kubesim /_sim/faults)");
	}

	if (c.type->review && (strcmp(method, "POST") || c.name[0]))
		return method_not_allowed(conn, method);
	if (c.type->namespaced && !c.namespace[0] && c.name[0])
		return send_not_found_path(conn);
	if (c.type->namespaced && !c.namespace[0] && strcmp(method, "GET"))
		return send_not_found_path(conn); /* writes need a namespace in the path */

	enum MHD_Result conflict_ret;
	if (c.name[0] && (!c.sub[0] || !strcmp(c.sub, "status") || !strcmp(c.sub, "scale")) &&
	    ks_faults_conflict_possible(verb) && inject_conflict(&c, verb, &conflict_ret))
		return conflict_ret;

	if (!c.sub[0]) {
		if (!c.name[0]) {
			if (!strcmp(method, "GET"))
				return watch ? handle_watch(&c) : handle_list(&c);
			if (!strcmp(method, "POST"))
				return handle_create(&c);
			if (!strcmp(method, "DELETE"))
				return handle_deletecollection(&c);
			return method_not_allowed(conn, method);
		}
		if (!strcmp(method, "GET"))
			return watch ? handle_watch(&c) : handle_get(&c);
		if (!strcmp(method, "PUT"))
			return handle_update(&c);
		if (!strcmp(method, "PATCH"))
			return handle_patch(&c);
		if (!strcmp(method, "DELETE"))
			return handle_delete(&c);
		return method_not_allowed(conn, method);
	}
	if (!strcmp(c.sub, "status") && (c.type->subresources & KS_SUB_STATUS)) {
		if (!strcmp(method, "GET"))
			return handle_get(&c);
		if (!strcmp(method, "PUT"))
			return handle_update(&c);
		if (!strcmp(method, "PATCH"))
			return handle_patch(&c);
		return method_not_allowed(conn, method);
	}
	if (!strcmp(c.sub, "finalize") && (c.type->subresources & KS_SUB_FINALIZE) &&
	    !strcmp(method, "PUT")) {
		/* namespaces/{name}/finalize: only spec.finalizers changes. */
		snprintf(c.sub, sizeof(c.sub), "%s", "");
		return handle_update(&c);
	}
	if (!strcmp(c.sub, "scale") && (c.type->subresources & KS_SUB_SCALE)) {
		if (!strcmp(method, "PATCH"))
			return handle_patch(&c);
		return handle_scale(&c);
	}
	if (!strcmp(c.sub, "eviction") && (c.type->subresources & KS_SUB_EVICTION) &&
	    !strcmp(method, "POST"))
		return handle_eviction(&c);
	if (!strcmp(c.sub, "exec") && (c.type->subresources & KS_SUB_EXEC) &&
	    (!strcmp(method, "GET") || !strcmp(method, "POST")))
		return handle_exec(&c);
	if (!strcmp(c.sub, "log") && (c.type->subresources & KS_SUB_LOG) && !strcmp(method, "GET"))
		return handle_log(&c);
	if (!strcmp(c.sub, "proxy") && (c.type->subresources & KS_SUB_PROXY))
		return handle_proxy(&c);
	return send_not_found_path(conn);
}

static bool wants_aggregated(struct MHD_Connection *conn)
{
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
	return accept && strstr(accept, "as=APIGroupDiscoveryList") && strstr(accept, "v=v2;") &&
		strstr(accept, "g=apidiscovery.k8s.io");
}

/* S1: aggregated discovery carries an ETag (hash of the document) and
 * answers a matching If-None-Match with 304. */
static enum MHD_Result send_aggregated(struct MHD_Connection *conn, cJSON *doc)
{
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		return send_status(conn, 500, "InternalError", "out of memory");
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = text; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	char etag[40];
	snprintf(etag, sizeof(etag), "\"%016" PRIX64 "\"", h);
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
	struct MHD_Response *r;
	unsigned code = 200;
	if (inm && !strcmp(inm, etag)) {
		free(text);
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		code = 304;
	} else {
		r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	}
	MHD_add_response_header(r, "Content-Type",
		"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
	MHD_add_response_header(r, "Vary", "Accept");
	MHD_add_response_header(r, "ETag", etag);
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result route(struct ks_server *srv, struct MHD_Connection *conn,
	const char *url, const char *method, struct req *rq)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", url);
	char *seg[KS_MAX_SEGMENTS];
	size_t seg_off[KS_MAX_SEGMENTS];
	int nseg = 0;
	char *save = NULL;
	const char *proxy_rest = NULL;
	char rest_buf[4096];
	for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (nseg == KS_MAX_SEGMENTS)
			return send_not_found_path(conn);
		seg_off[nseg] = (size_t)(t - path);
		seg[nseg++] = t;
		/* .../pods|services/{name}/proxy/<rest>: the rest keeps its
		 * slashes and is not routed further. */
		if (nseg >= 3 && !strcmp(t, "proxy") && (!strcmp(seg[nseg - 3], "pods") ||
			!strcmp(seg[nseg - 3], "services"))) {
			const char *rest = url + seg_off[nseg - 1] + strlen("proxy");
			snprintf(rest_buf, sizeof(rest_buf), "%s", *rest ? rest : "/");
			proxy_rest = rest_buf;
			break;
		}
	}
	bool get = !strcmp(method, "GET");
	if (nseg == 0)
		return send_not_found_path(conn);
	if (!strcmp(seg[0], "_sim") && nseg == 2)
		return handle_sim(srv, conn, method, seg[1], rq);
	if (nseg == 1 && get && (!strcmp(seg[0], "healthz") || !strcmp(seg[0], "livez") ||
		!strcmp(seg[0], "readyz")))
		return send_text(conn, 200, strdup("ok"), "text/plain", NULL);
	if (nseg == 1 && get && !strcmp(seg[0], "version")) {
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "major", "1");
		cJSON_AddStringToObject(v, "minor", "32");
		cJSON_AddStringToObject(v, "gitVersion", "v1.32.9");
		cJSON_AddStringToObject(v, "gitCommit", "4f5a9d1b8a1c7d1e3b2f6c7d8e9f0a1b2c3d4e5f");
		cJSON_AddStringToObject(v, "gitTreeState", "clean");
		cJSON_AddStringToObject(v, "buildDate", "2025-01-01T00:00:00Z");
		cJSON_AddStringToObject(v, "goVersion", "go1.23.0");
		cJSON_AddStringToObject(v, "compiler", "gc");
		cJSON_AddStringToObject(v, "platform", "linux/amd64");
		return send_json(conn, 200, v);
	}
	if (!strcmp(seg[0], "openapi")) {
		if (!get)
			return method_not_allowed(conn, method);
		if (nseg == 2 && !strcmp(seg[1], "v3"))
			return send_json(conn, 200, ks_openapi_v3_index(srv->store));
		cJSON *doc = NULL;
		if (nseg == 4 && !strcmp(seg[1], "v3") && !strcmp(seg[2], "api"))
			doc = ks_openapi_v3_document(srv->store, "", seg[3]);
		else if (nseg == 5 && !strcmp(seg[1], "v3") && !strcmp(seg[2], "apis"))
			doc = ks_openapi_v3_document(srv->store, seg[3], seg[4]);
		if (!doc)
			return send_not_found_path(conn);
		return send_json(conn, 200, doc);
	}
	if (!strcmp(seg[0], "api")) {
		if (nseg == 1 && get)
			return wants_aggregated(conn)
				? send_aggregated(conn, ks_discovery_aggregated(srv->store, true))
				: send_json(conn, 200, ks_discovery_api_versions());
		if (strcmp(seg[1], "v1"))
			return send_not_found_path(conn);
		if (nseg == 2 && get)
			return send_json(conn, 200, ks_discovery_resources(srv->store, "", "v1"));
		if (nseg == 2)
			return method_not_allowed(conn, method);
		return route_resource(srv, conn, method, "", seg[1], seg + 2, nseg - 2, proxy_rest,
			rq);
	}
	if (!strcmp(seg[0], "apis")) {
		if (nseg == 1 && get)
			return wants_aggregated(conn)
				? send_aggregated(conn, ks_discovery_aggregated(srv->store, false))
				: send_json(conn, 200, ks_discovery_api_groups(srv->store));
		if (nseg == 2 && get) {
			cJSON *groups = ks_discovery_api_groups(srv->store);
			cJSON *g;
			cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(groups, "groups")) {
				const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, "name");
				if (!strcmp(n->valuestring, seg[1])) {
					cJSON *copy = cJSON_Duplicate(g, 1);
					cJSON_AddStringToObject(copy, "kind", "APIGroup");
					cJSON_AddStringToObject(copy, "apiVersion", "v1");
					cJSON_Delete(groups);
					return send_json(conn, 200, copy);
				}
			}
			cJSON_Delete(groups);
			return send_not_found_path(conn);
		}
		if (nseg == 3 && get) {
			cJSON *r = ks_discovery_resources(srv->store, seg[1], seg[2]);
			return r ? send_json(conn, 200, r) : send_not_found_path(conn);
		}
		if (nseg < 4)
			return send_not_found_path(conn);
		return route_resource(srv, conn, method, seg[1], seg[2], seg + 3, nseg - 3,
			proxy_rest, rq);
	}
	return send_not_found_path(conn);
}

/* The CN (user) and first O (group) of a client certificate that verifies
 * against the configured client CA; false without one. */
static bool client_cert_user(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
		MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	gnutls_session_t session = (gnutls_session_t)ci->tls_session;
	unsigned status = 0;
	if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status)
		return false;
	unsigned n = 0;
	const gnutls_datum_t *chain = gnutls_certificate_get_peers(session, &n);
	if (!chain || !n)
		return false;
	gnutls_x509_crt_t crt;
	if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
		return false;
	bool ok = false;
	char cn[sizeof(request_user)], org[sizeof(request_group)];
	size_t cn_len = sizeof(cn), org_len = sizeof(org);
	/* verify_peers2 checked the chain; like kube-apiserver (Go's x509
	 * verification for client auth), a certificate that lists extended key
	 * usages must include clientAuth, one that lists none is accepted */
	unsigned critical = 0;
	if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS &&
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_len) ==
		    GNUTLS_E_SUCCESS && cn[0]) {
		char oid[128];
		size_t oid_len;
		bool client_auth = false;
		for (unsigned i = 0; !client_auth; i++) {
			oid_len = sizeof(oid);
			int e = gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &oid_len, &critical);
			if (e < 0) {
				client_auth = i == 0 && e == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE;
				break;
			}
			client_auth = !strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) ||
				!strcmp(oid, GNUTLS_KP_ANY);
		}
		if (client_auth) {
			snprintf(request_user, sizeof(request_user), "%s", cn);
			if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, 0,
				org, &org_len) == GNUTLS_E_SUCCESS)
				snprintf(request_group, sizeof(request_group), "%s", org);
			ok = true;
		}
	}
	gnutls_x509_crt_deinit(crt);
	return ok;
}

static bool authorized(struct ks_server *srv, struct MHD_Connection *conn)
{
	snprintf(request_user, sizeof(request_user), "kubesim-admin");
	snprintf(request_group, sizeof(request_group), "system:masters");
	if (!srv->token)
		return true;
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (auth && !strncasecmp(auth, "Bearer ", 7)) {
		const char *tok = auth + 7;
		size_t a = strlen(tok), b = strlen(srv->token);
		unsigned diff = (unsigned)(a ^ b);
		for (size_t i = 0; i < a && i < b; i++)
			diff |= (unsigned)(tok[i] ^ srv->token[i]);
		if (diff == 0)
			return true;
	}
	request_user[0] = request_group[0] = 0;
	return srv->client_ca && client_cert_user(conn);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data, size_t *upload_data_size,
	void **con_cls)
{
	(void)version;
	struct ks_server *srv = cls;
	struct req *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!rq->too_large) {
			if (rq->len + *upload_data_size > (size_t)KS_MAX_BODY) {
				rq->too_large = true;
			} else {
				if (rq->len + *upload_data_size + 1 > rq->cap) {
					size_t nc = (rq->len + *upload_data_size + 1) * 2;
					char *nb = realloc(rq->body, nc);
					if (!nb)
						return MHD_NO;
					rq->body = nb;
					rq->cap = nc;
				}
				memcpy(rq->body + rq->len, upload_data, *upload_data_size);
				rq->len += *upload_data_size;
				rq->body[rq->len] = 0;
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (srv->log_level >= 2)
		fprintf(stderr, "kubesim: %s %s\n", method, url);
	if (!authorized(srv, conn)) {
		cJSON *st = ks_status_new(401, "Unauthorized", "Unauthorized", NULL, NULL);
		return send_json(conn, 401, st);
	}
	if (rq->too_large)
		return send_status(conn, 413, "RequestEntityTooLarge",
			"the request body is larger than %ld bytes", KS_MAX_BODY);
	int headers = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
	if (headers < 0 || headers > KS_MAX_HEADERS)
		return send_status(conn, 431, "RequestHeaderFieldsTooLarge",
			"the request has more than %d header fields", KS_MAX_HEADERS);
	return route(srv, conn, url, method, rq);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct ks_server *srv = cls;
	if (srv->log_level < 1)
		return;
	fprintf(stderr, "kubesim: microhttpd: ");
	vfprintf(stderr, fmt, ap);
}

/* Records managedFields "Update" entries for every non-apply write that
 * names a manager (API requests do; in-process controllers do not). A
 * bookkeeping failure never fails the write itself. */
static int managed_fields_hook(const struct ks_resource_type *type, const cJSON *old_object,
	cJSON *new_object, const struct ks_write_options *options, void *payload)
{
	(void)payload;
	if (!options || !options->field_manager || (options->operation &&
		!strcmp(options->operation, "Apply")))
		return 0;
	char av[160], now[KS_TIME_BUF];
	ks_resource_type_api_version(type, av, sizeof(av));
	struct ks_apply_options ao = {.manager = options->field_manager, .api_version = av,
		.group = type->group, .kind = type->kind, .crd_schema = type->schema,
		.subresource = options->subresource,
		.now = ks_clock_format(ks_clock_now(), now),
		.status_is_ordinary = type->custom && !(type->subresources & KS_SUB_STATUS)};
	if (ks_managed_fields_update(new_object, old_object, &ao))
		fprintf(stderr, "kubesim: managedFields not recorded for %s %s: %s\n", type->kind,
			ks_meta_string(new_object, "name") ? ks_meta_string(new_object, "name") : "",
			keelson_error_last()->message);
	return 0;
}

int ks_server_start(struct ks_store *store, const struct ks_server_config *config,
	struct ks_server **out)
{
	if (!config || config->version != KS_SERVER_CONFIG_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "server config version mismatch");
	struct ks_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	srv->store = store;
	srv->log_level = config->log_level;
	pthread_mutex_init(&srv->exec_lock, NULL);
	pthread_cond_init(&srv->exec_done, NULL);
	if (config->token)
		srv->token = strdup(config->token);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)config->port);
	if (inet_pton(AF_INET, config->listen_address ? config->listen_address : "127.0.0.1",
		&addr.sin_addr) != 1) {
		free(srv->token);
		free(srv);
		return keelson_error_set(KEELSON_EINVALID,
			"--listen address \"%s\" is not an IPv4 address (use 127.0.0.1:PORT)",
			config->listen_address);
	}
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
	if (!config->insecure_http) {
		if (!config->tls || !config->tls->cert_pem || !config->tls->key_pem) {
			free(srv->token);
			free(srv);
			return keelson_error_set(KEELSON_EINVALID, "HTTPS needs a certificate and key");
		}
		flags |= MHD_USE_TLS;
	}
	if (config->insecure_http)
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, srv,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
			MHD_OPTION_END);
	else if (config->client_ca_pem) {
		/* MHD then asks for (does not require) a client certificate, so
		 * token clients keep working */
		srv->client_ca = true;
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, srv,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
			MHD_OPTION_HTTPS_MEM_KEY, config->tls->key_pem,
			MHD_OPTION_HTTPS_MEM_CERT, config->tls->cert_pem,
			MHD_OPTION_HTTPS_MEM_TRUST, config->client_ca_pem,
			MHD_OPTION_END);
	} else
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, srv,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
			MHD_OPTION_HTTPS_MEM_KEY, config->tls->key_pem,
			MHD_OPTION_HTTPS_MEM_CERT, config->tls->cert_pem,
			MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv->token);
		free(srv);
		return keelson_error_set(KEELSON_EUNAVAILABLE,
			"cannot listen on %s:%d (port in use, or TLS setup failed)",
			config->listen_address ? config->listen_address : "127.0.0.1", config->port);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon,
		MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : config->port;
	ks_store_set_write_hook(store, managed_fields_hook, NULL);
	*out = srv;
	return 0;
}

int ks_server_port(const struct ks_server *server)
{
	return server->port;
}

void ks_server_stop(struct ks_server *server)
{
	if (!server)
		return;
	server->stopping = 1;
	/* End exec sessions (a blocked stdin read returns) and wait for them:
	 * MHD must not stop under an upgraded connection. */
	pthread_mutex_lock(&server->exec_lock);
	for (struct exec_session *es = server->exec_sessions; es; es = es->next)
		shutdown(es->sock, SHUT_RDWR);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	while (server->exec_sessions &&
	       pthread_cond_timedwait(&server->exec_done, &server->exec_lock, &deadline) == 0)
		;
	pthread_mutex_unlock(&server->exec_lock);
	MHD_stop_daemon(server->daemon);
	pthread_mutex_destroy(&server->exec_lock);
	pthread_cond_destroy(&server->exec_done);
	free(server->token);
	free(server);
}
