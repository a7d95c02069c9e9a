/*
 * The HTTP endpoint on loopback, driven with libcurl: webhook signatures
 * (GitHub HMAC, GitLab token, generic HMAC header), repository and branch
 * matching, body and header limits, burst coalescing, health, readiness
 * and /metrics. Plus the helpers: URL normalisation, HMAC, secret files.
 */
#include "config.h"

#include "core/error.h"
#include "http/hmac.h"
#include "http/http_server.h"
#include "http/nudge.h"
#include "http/readiness.h"
#include "http/webhook.h"
#include "metrics/metrics.h"
#include "tests/unit/check_main.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPO "git@github.com:Example/Config.git"
#define GH_SECRET "It's a Secret to Everybody"
#define GL_TOKEN "gitlab-token-123"
#define GEN_SECRET "generic-secret"

static struct keelson_http_server *server;
static struct keelson_nudge *nudge;
static struct keelson_metrics *registry;
static atomic_bool is_ready;

static bool ready_cb(void *payload, char *reason, size_t size)
{
	if (atomic_load(&is_ready))
		return true;
	snprintf(reason, size, "%s", (const char *)payload);
	return false;
}

static void start(void)
{
	ck_assert_int_eq(keelson_nudge_new(&nudge), 0);
	ck_assert_int_eq(keelson_metrics_new(&registry), 0);
	struct keelson_metric *g;
	ck_assert_int_eq(keelson_metrics_gauge(&g, registry, "sample_gauge", "A gauge.", NULL), 0);
	ck_assert_int_eq(keelson_metric_set(g, NULL, 42), 0);
	atomic_store(&is_ready, false);
	struct keelson_http_server_options o = {
		.version = KEELSON_HTTP_SERVER_OPTIONS_VERSION,
		.address = "127.0.0.1",
		.max_body_bytes = 4096,
		.max_headers = 20,
		.repo_url = REPO,
		.branch = "main",
		.github_secret = GH_SECRET,
		.gitlab_token = GL_TOKEN,
		.generic_secret = GEN_SECRET,
		.nudge = nudge,
		.metrics = registry,
		.ready = ready_cb,
		.ready_payload = "first sync not done",
	};
	ck_assert_int_eq(keelson_http_server_start(&server, &o), 0);
	ck_assert_uint_gt(keelson_http_server_port(server), 0);
}

static void stop(void)
{
	keelson_http_server_stop(server);
	keelson_nudge_free(nudge);
	keelson_metrics_free(registry);
	server = NULL;
}

struct answer {
	long status;
	char body[8192];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct answer *a = userdata;
	size_t len = size * n;
	size_t room = sizeof(a->body) - 1 - a->len;
	size_t take = len < room ? len : room;
	memcpy(a->body + a->len, p, take);
	a->len += take;
	a->body[a->len] = '\0';
	return len;
}

/* One request; `headers` is NULL-terminated "Name: value" strings. */
static struct answer request(const char *method, const char *path, const char *body, size_t len,
			     const char *const *headers)
{
	struct answer a = {0};
	CURL *c = curl_easy_init();
	ck_assert_ptr_nonnull(c);
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", keelson_http_server_port(server), path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return a;
}

static const char *github_push(const char *clone_url, const char *ref)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"ref\":\"%s\",\"before\":\"0000\",\"after\":\"1111\",\"repository\":{\"full_name\":"
		 "\"example/config\",\"clone_url\":\"%s\",\"html_url\":\"https://github.com/example/other\"}}",
		 ref, clone_url);
	return buf;
}

/* POST to /hooks/github signed with `secret` (NULL: no signature header). */
static struct answer post_github(const char *body, const char *secret, const char *event)
{
	char sig[128], ev[64];
	const char *headers[4] = {0};
	size_t n = 0;
	if (secret != NULL) {
		char hex[65];
		ck_assert_int_eq(keelson_hmac_sha256_hex(hex, secret, body, strlen(body)), 0);
		snprintf(sig, sizeof(sig), "X-Hub-Signature-256: sha256=%s", hex);
		headers[n++] = sig;
	}
	snprintf(ev, sizeof(ev), "X-GitHub-Event: %s", event);
	headers[n++] = ev;
	headers[n++] = "Content-Type: application/json";
	return request("POST", "/hooks/github", body, strlen(body), headers);
}

START_TEST(test_github_signature)
{
	start();
	const char *body = github_push("https://github.com/example/config.git", "refs/heads/main");
	struct answer a = post_github(body, NULL, "push");
	ck_assert_int_eq(a.status, 401);
	a = post_github(body, "wrong secret", "push");
	ck_assert_int_eq(a.status, 401);
	/* A signature of another body under the right secret. */
	char hex[65], sig[128];
	ck_assert_int_eq(keelson_hmac_sha256_hex(hex, GH_SECRET, "{}", 2), 0);
	snprintf(sig, sizeof(sig), "X-Hub-Signature-256: sha256=%s", hex);
	const char *h[] = {sig, "X-GitHub-Event: push", NULL};
	a = request("POST", "/hooks/github", body, strlen(body), h);
	ck_assert_int_eq(a.status, 401);
	const char *garbage[] = {"X-Hub-Signature-256: sha256=zz", NULL};
	a = request("POST", "/hooks/github", body, strlen(body), garbage);
	ck_assert_int_eq(a.status, 401);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 0);

	a = post_github(body, GH_SECRET, "push");
	ck_assert_int_eq(a.status, 202);
	ck_assert_ptr_nonnull(strstr(a.body, "\"accepted\""));
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	a = post_github("{\"zen\":\"hi\"}", GH_SECRET, "ping");
	ck_assert_int_eq(a.status, 200);
	a = post_github(body, GH_SECRET, "issues");
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "ignored"));
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	/* Signed but not JSON: 400, nothing changes. */
	a = post_github("not json", GH_SECRET, "push");
	ck_assert_int_eq(a.status, 400);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	stop();
}
END_TEST

START_TEST(test_wrong_repo_or_branch)
{
	start();
	struct answer a = post_github(github_push("https://github.com/example/other.git", "refs/heads/main"),
				      GH_SECRET, "push");
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "another repository"));
	a = post_github(github_push("https://github.com/example/config", "refs/heads/feature"), GH_SECRET, "push");
	ck_assert_int_eq(a.status, 200);
	ck_assert_ptr_nonnull(strstr(a.body, "another ref"));
	a = post_github(github_push("https://github.com/example/config", "refs/tags/main"), GH_SECRET, "push");
	ck_assert_int_eq(a.status, 200);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 0);
	/* Host case, scheme and .git do not matter. */
	a = post_github(github_push("HTTPS://GitHub.COM/example/config/", "refs/heads/main"), GH_SECRET, "push");
	ck_assert_int_eq(a.status, 202);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	stop();
}
END_TEST

START_TEST(test_gitlab_token)
{
	start();
	const char *body = "{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\",\"project\":{\"git_http_url\":"
			   "\"https://github.com/example/config.git\",\"git_ssh_url\":\"git@github.com:example/"
			   "config.git\"}}";
	const char *none[] = {"X-Gitlab-Event: Push Hook", NULL};
	const char *bad[] = {"X-Gitlab-Event: Push Hook", "X-Gitlab-Token: gitlab-token-12", NULL};
	const char *good[] = {"X-Gitlab-Event: Push Hook", "X-Gitlab-Token: " GL_TOKEN, NULL};
	const char *tag[] = {"X-Gitlab-Event: Tag Push Hook", "X-Gitlab-Token: " GL_TOKEN, NULL};
	ck_assert_int_eq(request("POST", "/hooks/gitlab", body, strlen(body), none).status, 401);
	ck_assert_int_eq(request("POST", "/hooks/gitlab", body, strlen(body), bad).status, 401);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 0);
	ck_assert_int_eq(request("POST", "/hooks/gitlab", body, strlen(body), tag).status, 200);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 0);
	ck_assert_int_eq(request("POST", "/hooks/gitlab", body, strlen(body), good).status, 202);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	/* The token is not a GitHub secret: the GitHub route refuses it. */
	const char *cross[] = {"X-Gitlab-Token: " GL_TOKEN, "X-GitHub-Event: push", NULL};
	ck_assert_int_eq(request("POST", "/hooks/github", body, strlen(body), cross).status, 401);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	stop();
}
END_TEST

START_TEST(test_generic_hmac)
{
	start();
	const char *body = "{\"repository\":\"ssh://git@github.com:22/example/config.git\",\"ref\":\"refs/heads/main\"}";
	char hex[65], sig[128];
	ck_assert_int_eq(keelson_hmac_sha256_hex(hex, GEN_SECRET, body, strlen(body)), 0);
	snprintf(sig, sizeof(sig), "X-Keelson-Signature-256: %s", hex); /* bare hex is accepted too */
	const char *good[] = {sig, NULL};
	const char *wrong_header[] = {"X-Hub-Signature-256: sha256=00", NULL};
	ck_assert_int_eq(request("POST", "/hooks/generic", body, strlen(body), wrong_header).status, 401);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 0);
	ck_assert_int_eq(request("POST", "/hooks/generic", body, strlen(body), good).status, 202);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 1);
	stop();
}
END_TEST

START_TEST(test_body_limit)
{
	start();
	size_t big = 5000; /* limit is 4096 */
	char *body = malloc(big + 1);
	memset(body, ' ', big);
	body[big] = '\0';
	char hex[65], sig[128];
	ck_assert_int_eq(keelson_hmac_sha256_hex(hex, GH_SECRET, body, big), 0);
	snprintf(sig, sizeof(sig), "X-Hub-Signature-256: sha256=%s", hex);
	const char *h[] = {sig, "X-GitHub-Event: push", NULL};
	struct answer a = request("POST", "/hooks/github", body, big, h);
	ck_assert_int_eq(a.status, 413);
	/* Chunked: no Content-Length, so the limit is found while reading. */
	const char *hc[] = {sig, "X-GitHub-Event: push", "Transfer-Encoding: chunked", NULL};
	a = request("POST", "/hooks/github", body, big, hc);
	ck_assert_int_eq(a.status, 413);
	ck_assert_uint_eq(keelson_nudge_total(nudge), 0);
	free(body);
	stop();
}
END_TEST

START_TEST(test_burst_one_nudge)
{
	start();
	const char *body = github_push("https://github.com/example/config.git", "refs/heads/main");
	for (int i = 0; i < 25; i++)
		ck_assert_int_eq(post_github(body, GH_SECRET, "push").status, 202);
	/* The loop wakes once and takes the whole burst. */
	ck_assert_uint_eq(keelson_nudge_wait(nudge, 1000), 25);
	ck_assert_uint_eq(keelson_nudge_wait(nudge, 50), 0);
	ck_assert_uint_eq(keelson_nudge_take(nudge), 0);
	stop();
}
END_TEST

START_TEST(test_health_ready_metrics)
{
	start();
	struct answer a = request("GET", "/healthz", NULL, 0, NULL);
	ck_assert_int_eq(a.status, 200);
	a = request("GET", "/readyz", NULL, 0, NULL);
	ck_assert_int_eq(a.status, 503);
	ck_assert_ptr_nonnull(strstr(a.body, "first sync not done"));
	atomic_store(&is_ready, true);
	a = request("GET", "/readyz", NULL, 0, NULL);
	ck_assert_int_eq(a.status, 200);
	a = request("GET", "/metrics", NULL, 0, NULL);
	ck_assert_int_eq(a.status, 200);
	ck_assert_str_eq(a.body, "# HELP sample_gauge A gauge.\n# TYPE sample_gauge gauge\nsample_gauge 42\n");
	ck_assert_int_eq(request("POST", "/metrics", "x", 1, NULL).status, 405);
	ck_assert_int_eq(request("GET", "/hooks/github", NULL, 0, NULL).status, 405);
	ck_assert_int_eq(request("GET", "/nope", NULL, 0, NULL).status, 404);
	/* Too many headers (limit 20). */
	char names[30][32];
	const char *many[31] = {0};
	for (int i = 0; i < 30; i++) {
		snprintf(names[i], sizeof(names[i]), "X-Pad-%d: %d", i, i);
		many[i] = names[i];
	}
	ck_assert_int_eq(request("GET", "/healthz", NULL, 0, many).status, 431);
	stop();
}
END_TEST

START_TEST(test_unconfigured_hook_and_options)
{
	ck_assert_int_eq(keelson_nudge_new(&nudge), 0);
	struct keelson_http_server_options o = {
		.version = KEELSON_HTTP_SERVER_OPTIONS_VERSION,
		.repo_url = REPO,
		.github_secret = GH_SECRET,
		.nudge = nudge,
	};
	ck_assert_int_eq(keelson_http_server_start(&server, &o), 0);
	const char *body = "{}";
	ck_assert_int_eq(request("POST", "/hooks/gitlab", body, 2, NULL).status, 404);
	ck_assert_int_eq(request("GET", "/metrics", NULL, 0, NULL).status, 404);
	ck_assert_int_eq(request("GET", "/readyz", NULL, 0, NULL).status, 200);
	/* The port is taken now. */
	struct keelson_http_server *second = NULL;
	o.port = keelson_http_server_port(server);
	ck_assert_int_eq(keelson_http_server_start(&second, &o), KEELSON_EUNAVAILABLE);
	keelson_http_server_stop(server);
	o.port = 0;
	o.address = "localhost";
	ck_assert_int_eq(keelson_http_server_start(&second, &o), KEELSON_EINVALID);
	o.address = NULL;
	o.nudge = NULL;
	ck_assert_int_eq(keelson_http_server_start(&second, &o), KEELSON_EINVALID);
	o.version = 99;
	ck_assert_int_eq(keelson_http_server_start(&second, &o), KEELSON_EINVALID);
	keelson_nudge_free(nudge);
}
END_TEST

START_TEST(test_normalize_url)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"https://GitHub.com/Org/Repo.git", "github.com/org/repo"},
		{"git@github.com:org/repo.git", "github.com/org/repo"},
		{"ssh://git@github.com:2222/org/repo", "github.com/org/repo"},
		{"https://user:pw@gitlab.example:8443/group/sub/repo.git/", "gitlab.example/group/sub/repo"},
		{"http://host/repo?x=1", "host/repo"},
		{"file:///srv/git/config.git", "/srv/git/config"},
		{"/srv/git/config.git", "/srv/git/config"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = keelson_webhook_normalize_url(cases[i].in);
		ck_assert_msg(n != NULL && strcmp(n, cases[i].want) == 0, "%s -> %s, want %s", cases[i].in,
			      n ? n : "(null)", cases[i].want);
		free(n);
	}
}
END_TEST

START_TEST(test_webhook_match)
{
	char why[128];
	const char *gl = "{\"ref\":\"refs/heads/main\",\"project\":{\"git_http_url\":\"https://x.org/a/b.git\"}}";
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GITLAB, gl, strlen(gl), "https://x.org/a/b", "main",
					       why, sizeof(why)),
			 1);
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GITLAB, gl, strlen(gl), "https://x.org/a/b",
					       "refs/heads/main", why, sizeof(why)),
			 1);
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GITLAB, gl, strlen(gl), "https://x.org/a/c", NULL, why,
					       sizeof(why)),
			 0);
	/* GitHub field names are not read for GitLab. */
	const char *gh = "{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"https://x.org/a/b\"}}";
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GITLAB, gh, strlen(gh), "https://x.org/a/b", NULL, why,
					       sizeof(why)),
			 KEELSON_EINVALID);
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GENERIC, gh, strlen(gh), "https://x.org/a/b", NULL,
					       why, sizeof(why)),
			 1);
	const char *noref = "{\"repository\":{\"clone_url\":\"https://x.org/a/b\"}}";
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GITHUB, noref, strlen(noref), "https://x.org/a/b", NULL,
					       why, sizeof(why)),
			 KEELSON_EINVALID);
	const char *arr = "[1,2]";
	ck_assert_int_eq(keelson_webhook_match(KEELSON_WEBHOOK_GITHUB, arr, 5, "https://x.org/a/b", NULL, why,
					       sizeof(why)),
			 KEELSON_EINVALID);
}
END_TEST

START_TEST(test_hmac_and_secrets)
{
	/* RFC 4231 test case 2. */
	char hex[65];
	ck_assert_int_eq(keelson_hmac_sha256_hex(hex, "Jefe", "what do ya want for nothing?", 28), 0);
	ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	ck_assert(keelson_hmac_sha256_verify("sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843",
					     "Jefe", "what do ya want for nothing?", 28));
	ck_assert(!keelson_hmac_sha256_verify("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3844",
					      "Jefe", "what do ya want for nothing?", 28));
	ck_assert(!keelson_hmac_sha256_verify("sha1=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
					      "Jefe", "what do ya want for nothing?", 28));
	ck_assert(!keelson_hmac_sha256_verify(hex, "", "what do ya want for nothing?", 28));
	ck_assert(keelson_secret_equal("abc", "abc"));
	ck_assert(!keelson_secret_equal("abc", "abcd"));
	ck_assert(!keelson_secret_equal("", ""));
	ck_assert(!keelson_secret_equal(NULL, "abc"));

	char path[] = "/tmp/keelson-secret-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s3cr3t\n", 7), 7);
	close(fd);
	char *s = NULL;
	ck_assert_int_eq(keelson_secret_read_file(&s, path), 0);
	ck_assert_str_eq(s, "s3cr3t");
	keelson_secret_free(s);
	FILE *f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	ck_assert_int_eq(keelson_secret_read_file(&s, path), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, path));
	unlink(path);
	ck_assert_int_eq(keelson_secret_read_file(&s, path), KEELSON_ENOTFOUND);
}
END_TEST

START_TEST(test_readiness)
{
	struct keelson_readiness *r;
	ck_assert_int_eq(keelson_readiness_new(&r), 0);
	char why[128];
	ck_assert(!keelson_readiness_check(r, why, sizeof(why)));
	ck_assert_str_eq(why, "first sync not done");
	keelson_readiness_set_synced(r);
	ck_assert(keelson_readiness_check(r, why, sizeof(why)));
	keelson_readiness_set_git(r, false, "connection refused");
	ck_assert(!keelson_readiness_check(r, why, sizeof(why)));
	ck_assert_str_eq(why, "Git source unreachable: connection refused");
	keelson_readiness_set_git(r, true, NULL);
	keelson_readiness_set_api(r, false, "HTTP 503");
	ck_assert(!keelson_readiness_check(r, why, sizeof(why)));
	ck_assert_str_eq(why, "Kubernetes API unreachable: HTTP 503");
	keelson_readiness_set_api(r, true, NULL);
	ck_assert(keelson_readiness_check(r, why, sizeof(why)));

	/* Through the server. */
	ck_assert_int_eq(keelson_nudge_new(&nudge), 0);
	struct keelson_http_server_options o = {
		.version = KEELSON_HTTP_SERVER_OPTIONS_VERSION,
		.ready = keelson_readiness_check,
		.ready_payload = r,
	};
	ck_assert_int_eq(keelson_http_server_start(&server, &o), 0);
	ck_assert_int_eq(request("GET", "/readyz", NULL, 0, NULL).status, 200);
	keelson_readiness_set_api(r, false, "timeout");
	struct answer a = request("GET", "/readyz", NULL, 0, NULL);
	ck_assert_int_eq(a.status, 503);
	ck_assert_str_eq(a.body, "not ready: Kubernetes API unreachable: timeout\n");
	keelson_http_server_stop(server);
	keelson_nudge_free(nudge);
	keelson_readiness_free(r);
}
END_TEST

/* ---- connection limits, with raw sockets ---------------------------------- */

static struct keelson_http_server *start_limited(unsigned max_connections, unsigned timeout_s)
{
	struct keelson_http_server_options o = {
		.version = KEELSON_HTTP_SERVER_OPTIONS_VERSION,
		.address = "127.0.0.1",
		.max_connections = max_connections,
		.timeout_s = timeout_s,
	};
	struct keelson_http_server *s = NULL;
	ck_assert_int_eq(keelson_http_server_start(&s, &o), 0);
	return s;
}

static int connect_to(const struct keelson_http_server *s)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)keelson_http_server_port(s))};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (const struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the server closed: the caller looks at what it answered */
		data += n;
		len -= (size_t)n;
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read until the headers of a reply are in, the peer closes, or
 * `timeout_ms` passes. Returns the HTTP status, 0 when the connection was
 * closed without one, -1 on timeout. */
static int read_status(int fd, int timeout_ms)
{
	char buf[4096];
	size_t len = 0;
	double deadline = now_s() + timeout_ms / 1000.0;
	for (;;) {
		int left = (int)((deadline - now_s()) * 1000);
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -1;
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || len == sizeof(buf) - 1)
			break;
	}
	int status = 0;
	if (len > 0 && sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
	return status;
}

static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/* At most max_connections at once: one more is not answered while the
 * others are open, and is served again once one of them has gone. The
 * server answers with "Connection: close", so the connections it holds
 * are requests whose headers have not ended yet. */
START_TEST(test_connection_limit)
{
	ck_assert_uint_eq(KEELSON_HTTP_DEFAULT_MAX_CONNECTIONS, 64);
	struct keelson_http_server *s = start_limited(4, 30);
	static const char unfinished[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	int fds[4];
	for (int i = 0; i < 4; i++) {
		fds[i] = connect_to(s);
		send_all(fds[i], unfinished, strlen(unfinished));
	}
	int extra = connect_to(s);
	send_all(extra, healthz, strlen(healthz));
	int status = read_status(extra, 2000);
	ck_assert_msg(status <= 0, "a fifth connection was answered %d", status);
	close(extra);
	/* The first request ends: answered, and its slot is free. */
	send_all(fds[0], "\r\n", 2);
	ck_assert_int_eq(read_status(fds[0], 10000), 200);
	close(fds[0]);
	int again = -1;
	double deadline = now_s() + 10;
	do {
		int fd = connect_to(s);
		send_all(fd, healthz, strlen(healthz));
		again = read_status(fd, 1000);
		close(fd);
	} while (again != 200 && now_s() < deadline);
	ck_assert_int_eq(again, 200);
	for (int i = 1; i < 4; i++)
		close(fds[i]);
	keelson_http_server_stop(s);
}
END_TEST

/* A connection that sends nothing is closed after timeout_s. */
START_TEST(test_idle_timeout)
{
	ck_assert_uint_eq(KEELSON_HTTP_DEFAULT_TIMEOUT_S, 10);
	struct keelson_http_server *s = start_limited(0, 1);
	int fd = connect_to(s);
	double started = now_s();
	int status = read_status(fd, 8000);
	double waited = now_s() - started;
	ck_assert_int_eq(status, 0); /* closed, not timed out on our side */
	ck_assert_msg(waited >= 0.9 && waited < 6, "closed after %.2f s", waited);
	close(fd);

	/* Half a request, then silence: closed too, without an answer. */
	fd = connect_to(s);
	send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n", 33);
	ck_assert_int_eq(read_status(fd, 8000), 0);
	close(fd);
	keelson_http_server_stop(s);
}
END_TEST

/* The request line and headers of a connection are bounded in bytes, not
 * only in count: a few huge fields get 431, below the bound 200. */
static int get_with_headers(struct keelson_http_server *s, unsigned fields, size_t field_bytes)
{
	size_t cap = 256 + fields * (field_bytes + 32);
	char *req = malloc(cap);
	ck_assert_ptr_nonnull(req);
	size_t n = (size_t)snprintf(req, cap, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
	for (unsigned i = 0; i < fields; i++) {
		n += (size_t)snprintf(req + n, cap - n, "X-Pad-%u: ", i);
		memset(req + n, 'h', field_bytes);
		n += field_bytes;
		memcpy(req + n, "\r\n", 2);
		n += 2;
	}
	memcpy(req + n, "\r\n", 2);
	n += 2;
	int fd = connect_to(s);
	send_all(fd, req, n);
	int status = read_status(fd, 10000);
	close(fd);
	free(req);
	return status;
}

START_TEST(test_header_bytes)
{
	ck_assert_uint_eq(KEELSON_HTTP_HEADER_BYTES, 64 * 1024);
	struct keelson_http_server *s = start_limited(0, 0);
	ck_assert_int_eq(get_with_headers(s, 10, 2000), 200);       /* 20 KB */
	ck_assert_int_eq(get_with_headers(s, 10, 7000), 431);       /* 70 KB */
	ck_assert_int_eq(get_with_headers(s, 1, 70 * 1024), 431);   /* one field */
	ck_assert_int_eq(get_with_headers(s, 1, 10), 200);          /* still serving */
	keelson_http_server_stop(s);
}
END_TEST

Suite *suite_http_server(void);

Suite *suite_http_server(void)
{
	Suite *s = suite_create("http_server");
	struct {
		const char *name;
		const TTest *test;
	} tests[] = {
		{"github_signature", test_github_signature},
		{"wrong_repo_or_branch", test_wrong_repo_or_branch},
		{"gitlab_token", test_gitlab_token},
		{"generic_hmac", test_generic_hmac},
		{"body_limit", test_body_limit},
		{"burst_one_nudge", test_burst_one_nudge},
		{"health_ready_metrics", test_health_ready_metrics},
		{"unconfigured_hook_and_options", test_unconfigured_hook_and_options},
		{"normalize_url", test_normalize_url},
		{"webhook_match", test_webhook_match},
		{"hmac_and_secrets", test_hmac_and_secrets},
		{"readiness", test_readiness},
		{"connection_limit", test_connection_limit},
		{"idle_timeout", test_idle_timeout},
		{"header_bytes", test_header_bytes},
	};
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		TCase *tc = tcase_create(tests[i].name);
		tcase_add_test(tc, tests[i].test);
		tcase_set_timeout(tc, 60);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_http_server)
