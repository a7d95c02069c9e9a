/*
 * Status branch writer, forge commit statuses and `keelson status`, against
 * real repositories made with the git command line and served from disk
 * (file://) and by a real `git daemon` with receive-pack enabled; forge
 * calls go to a libmicrohttpd server inside the test. Everything on
 * 127.0.0.1.
 */
#include "config.h"

#include "core/error.h"
#include "status/forge.h"
#include "status/status_writer.h"
#include "tests/unit/check_main.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHA_A "1111111111111111111111111111111111111111"
#define SHA_B "2222222222222222222222222222222222222222"

static char tmp[512];
static char remote[600];   /* bare repository path */
static char main_sha[41];  /* tip of main, the branch keelson reads */
static pid_t daemon_pid;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Output of a shell command, trailing newline removed; caller frees. */
static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t cap = 1 << 20, n = 0;
	char *buf = calloc(1, cap + 1);
	size_t r;
	while ((r = fread(buf + n, 1, cap - n, p)) > 0)
		n += r;
	pclose(p);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return buf;
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/keelson-status-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	setenv("HOME", tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	snprintf(remote, sizeof(remote), "%s/srv/config.git", tmp);
	ck_assert_int_eq(sh("set -e; cd %s; mkdir srv work; git init -q --bare -b main srv/config.git; "
			    "cd work; git init -q -b main; echo hello > README.md; git add README.md; "
			    "git -c user.name=T -c user.email=t@example.com commit -q -m init; "
			    "git push -q %s main", tmp, remote), 0);
	char *sha = sh_out("git --git-dir=%s rev-parse main", remote);
	snprintf(main_sha, sizeof(main_sha), "%s", sha);
	free(sha);
	daemon_pid = 0;
}

static void teardown(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	sh("rm -rf %s", tmp);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- a test clock ---------------------------------------------------- */

static int64_t fake_now;

static int64_t fake_clock(void *payload)
{
	(void)payload;
	return fake_now;
}

static void writer_options(struct keelson_status_writer_options *o, const char *url, const char *cache)
{
	memset(o, 0, sizeof(*o));
	o->version = KEELSON_STATUS_WRITER_OPTIONS_VERSION;
	o->url = url;
	o->cache_dir = cache;
	o->read_branch = "main";
	o->instance = "test-instance";
	o->interval_ms = 10000;
	o->backoff_initial_ms = 10;
	o->clock = fake_clock;
}

static struct keelson_system_status status_of(const char *rev, enum keelson_status_phase phase,
					      const char *step, const char *error)
{
	struct keelson_system_status s = {
		.version = KEELSON_SYSTEM_STATUS_VERSION,
		.revision = rev,
		.phase = phase,
		.step = step,
		.last_error = error,
	};
	return s;
}

static cJSON *branch_file(const char *path)
{
	char *text = sh_out("git --git-dir=%s show keelson/status:%s 2>/dev/null", remote, path);
	cJSON *doc = cJSON_Parse(text);
	free(text);
	return doc;
}

static int branch_commits(void)
{
	char *n = sh_out("git --git-dir=%s rev-list --count keelson/status 2>/dev/null || echo 0", remote);
	int count = atoi(n);
	free(n);
	return count;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- keelson_status_writer_flush -------------------------------------- */

START_TEST(flush_commits_status_file_and_names_source_commit)
{
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);

	const char *drift[] = {"apps/StatefulSet/kafka/broker"};
	struct keelson_system_status s = status_of(main_sha, KEELSON_PHASE_PROGRESSING,
						   "restart broker-1", NULL);
	s.drifted_objects = 1;
	s.drift = drift;
	s.drift_count = 1;
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka-events", &s), 0);
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq((int)r.files_written, 1);
	ck_assert_int_eq(branch_commits(), 1);

	cJSON *doc = branch_file("status/prod/kafka-events.json");
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(jstr(doc, "kind"), "SystemStatus");
	ck_assert_str_eq(jstr(doc, "cluster"), "prod");
	ck_assert_str_eq(jstr(doc, "system"), "kafka-events");
	ck_assert_str_eq(jstr(doc, "revision"), main_sha);
	ck_assert_str_eq(jstr(doc, "phase"), "Progressing");
	ck_assert_str_eq(jstr(doc, "step"), "restart broker-1");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(doc, "lastError")));
	ck_assert_str_eq(jstr(doc, "observedAt"), "2023-11-14T22:13:20.000Z");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "drift");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(d, "count")->valueint, 1);
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "objects"), 0)->valuestring,
			 drift[0]);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "history")), 1);
	cJSON_Delete(doc);

	/* The message names the source commit; the author is keelson. */
	char *log = sh_out("git --git-dir=%s log -1 --format='%%an <%%ae>%%n%%B' keelson/status", remote);
	ck_assert_msg(strstr(log, "keelson <keelson@localhost>") == log, "author: %s", log);
	char want[80];
	snprintf(want, sizeof(want), "Source-Commit: %s", main_sha);
	ck_assert_msg(strstr(log, want) != NULL, "message: %s", log);
	ck_assert_msg(strstr(log, "prod/kafka-events: Progressing at") != NULL, "message: %s", log);
	free(log);

	/* The branch keelson reads is untouched. */
	char *tip = sh_out("git --git-dir=%s rev-parse main", remote);
	ck_assert_str_eq(tip, main_sha);
	free(tip);

	/* Nothing changed: nothing pending, no commit, even long after. */
	fake_now += 3600 * 1000;
	s.observed_at_ms = 0;
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka-events", &s), 0);
	ck_assert_int_eq((int)keelson_status_writer_next_flush_ms(w), -1);
	ck_assert_int_eq(keelson_status_writer_flush_now(w, &r), 0);
	ck_assert(!r.committed);
	ck_assert_int_eq(branch_commits(), 1);
	keelson_status_writer_free(w);
}
END_TEST

/* The repository's spec.statusBranch arrives after start: every system is
 * written to the new branch at once, the old one is left as it was. */
START_TEST(set_branch_moves_status_to_another_branch)
{
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	ck_assert_str_eq(keelson_status_writer_branch(w), "keelson/status");
	struct keelson_system_status s = status_of(main_sha, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka-events", &s), 0);
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);

	ck_assert_int_eq(keelson_status_writer_set_branch(w, "bad..name"), KEELSON_EINVALID);
	ck_assert_str_eq(keelson_status_writer_branch(w), "keelson/status");
	ck_assert_int_eq(keelson_status_writer_set_branch(w, "keelson/status"), 0);
	ck_assert_int_eq(keelson_status_writer_set_branch(w, "ops/status"), 0);
	ck_assert_str_eq(keelson_status_writer_branch(w), "ops/status");
	fake_now += 1000; /* within the interval: the first commit to a new branch is not deferred */
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq((int)r.files_written, 1);
	char *doc = sh_out("git --git-dir=%s show ops/status:status/prod/kafka-events.json", remote);
	ck_assert_msg(strstr(doc, "\"Synced\"") != NULL, "file: %s", doc);
	free(doc);
	ck_assert_int_eq(branch_commits(), 1); /* keelson/status untouched */
	keelson_status_writer_free(w);
}
END_TEST

START_TEST(flush_coalesces_within_interval)
{
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_PROGRESSING, "step 1", NULL);
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);

	/* Two updates within the interval: deferred, then one commit. */
	fake_now += 2000;
	s.step = "step 2";
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.deferred && !r.committed);
	ck_assert_int_eq((int)keelson_status_writer_next_flush_ms(w), 8000);
	fake_now += 2000;
	s = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.deferred && !r.committed);
	ck_assert_int_eq(branch_commits(), 1);

	fake_now += 6000;
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq(branch_commits(), 2);
	cJSON *doc = branch_file("status/prod/kafka.json");
	ck_assert_str_eq(jstr(doc, "phase"), "Synced");
	/* Every transition is in the history, coalesced or not. */
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "history");
	ck_assert_int_eq(cJSON_GetArraySize(h), 3);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(h, 1), "step"), "step 2");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(h, 2), "phase"), "Synced");
	cJSON_Delete(doc);
	keelson_status_writer_free(w);
}
END_TEST

START_TEST(flush_after_restart_continues_history)
{
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	o.history_max = 3;
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, NULL), 0);
	keelson_status_writer_free(w);

	/* Restarted with a fresh cache and the same status: no commit. */
	snprintf(cache, sizeof(cache), "%s/cache2", tmp);
	fake_now += 60000;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(!r.committed);
	ck_assert_int_eq(branch_commits(), 1);

	/* A change: history continues from the file, bounded by history_max. */
	for (int i = 0; i < 3; i++) {
		fake_now += 60000;
		s = status_of(SHA_B, i % 2 ? KEELSON_PHASE_SYNCED : KEELSON_PHASE_FAILED, NULL,
			      i % 2 ? NULL : "apply refused");
		ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
		ck_assert_int_eq(keelson_status_writer_flush_now(w, &r), 0);
		ck_assert(r.committed);
	}
	cJSON *doc = branch_file("status/prod/kafka.json");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(doc, "history");
	ck_assert_int_eq(cJSON_GetArraySize(h), 3);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(h, 0), "phase"), "Failed");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(h, 0), "lastError"), "apply refused");
	ck_assert_str_eq(jstr(doc, "phase"), "Failed");
	cJSON_Delete(doc);
	keelson_status_writer_free(w);

	/* Only one change after restart: the file's earlier history is kept. */
	snprintf(cache, sizeof(cache), "%s/cache3", tmp);
	fake_now += 60000;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	s = status_of(SHA_B, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	doc = branch_file("status/prod/kafka.json");
	h = cJSON_GetObjectItemCaseSensitive(doc, "history");
	ck_assert_int_eq(cJSON_GetArraySize(h), 3);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(h, 1), "phase"), "Failed");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(h, 2), "phase"), "Synced");
	cJSON_Delete(doc);
	keelson_status_writer_free(w);
}
END_TEST

START_TEST(flush_keeps_newer_file_of_another_writer)
{
	char url[700], cache_a[600], cache_b[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache_a, sizeof(cache_a), "%s/a", tmp);
	snprintf(cache_b, sizeof(cache_b), "%s/b", tmp);
	struct keelson_status_writer_options oa, ob;
	writer_options(&oa, url, cache_a);
	writer_options(&ob, url, cache_b);
	oa.instance = "a";
	ob.instance = "b";
	struct keelson_status_writer *a = NULL, *b = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&a, &oa), 0);
	ck_assert_int_eq(keelson_status_writer_new(&b, &ob), 0);
	struct keelson_system_status sa = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	struct keelson_system_status sb = status_of(SHA_B, KEELSON_PHASE_DEGRADED, NULL, "old news");
	sa.observed_at_ms = 1700000005000;
	sb.observed_at_ms = 1700000004000;
	fake_now = 1700000010000;
	ck_assert_int_eq(keelson_status_writer_update(a, "prod", "kafka", &sa), 0);
	ck_assert_int_eq(keelson_status_writer_update(b, "prod", "kafka", &sb), 0);
	ck_assert_int_eq(keelson_status_writer_update(b, "prod", "spark", &sb), 0);
	ck_assert_int_eq(keelson_status_writer_flush(a, NULL), 0);
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_flush(b, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq((int)r.files_written, 1);
	cJSON *doc = branch_file("status/prod/kafka.json");
	ck_assert_str_eq(jstr(doc, "instance"), "a");
	ck_assert_str_eq(jstr(doc, "phase"), "Synced");
	cJSON_Delete(doc);
	doc = branch_file("status/prod/spark.json");
	ck_assert_str_eq(jstr(doc, "instance"), "b");
	cJSON_Delete(doc);
	keelson_status_writer_free(a);
	keelson_status_writer_free(b);
}
END_TEST

/* ---- two writers racing through git daemon ------------------------------ */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

static bool port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* port 0: a free one. */
static int start_git_daemon(int port)
{
	if (port == 0)
		port = free_port();
	char port_arg[64], base_arg[700], srv[600];
	snprintf(srv, sizeof(srv), "%s/srv", tmp);
	snprintf(port_arg, sizeof(port_arg), "--port=%d", port);
	snprintf(base_arg, sizeof(base_arg), "--base-path=%s", srv);
	daemon_pid = fork();
	ck_assert_int_ge(daemon_pid, 0);
	if (daemon_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char log[700];
		snprintf(log, sizeof(log), "%s/daemon.log", tmp);
		if (!freopen(log, "a", stderr))
			_exit(126);
		execlp("git", "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", port_arg, base_arg,
		       "--export-all", "--enable=receive-pack", "--informative-errors", srv, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && !port_open(port); i++)
		sleep_ms(20);
	ck_assert_msg(port_open(port), "git daemon did not start on port %d", port);
	return port;
}

struct racer {
	const char *url;
	char cache[600];
	const char *cluster;
	int rounds;
	int commits;
	int rc;
	pthread_barrier_t *barrier;
};

static int64_t real_ms(void *payload)
{
	(void)payload;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *race(void *arg)
{
	struct racer *rc = arg;
	struct keelson_status_writer_options o;
	writer_options(&o, rc->url, rc->cache);
	o.instance = rc->cluster;
	o.clock = real_ms;
	o.push_attempts = 20;
	struct keelson_status_writer *w = NULL;
	rc->rc = keelson_status_writer_new(&w, &o);
	if (rc->rc < 0)
		return NULL;
	for (int i = 0; i < rc->rounds && rc->rc == 0; i++) {
		char step[32];
		snprintf(step, sizeof(step), "round %d", i);
		struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_PROGRESSING, step, NULL);
		rc->rc = keelson_status_writer_update(w, rc->cluster, "kafka", &s);
		if (rc->rc == 0)
			rc->rc = keelson_status_writer_update(w, rc->cluster, "spark", &s);
		pthread_barrier_wait(rc->barrier);
		struct keelson_status_flush_report r;
		if (rc->rc == 0)
			rc->rc = keelson_status_writer_flush_now(w, &r);
		if (rc->rc == 0 && r.committed)
			rc->commits++;
	}
	keelson_status_writer_free(w);
	return NULL;
}

START_TEST(racing_writers_keep_both_files_and_linear_history)
{
	int port = start_git_daemon(0);
	char url[200];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/config.git", port);
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, 2);
	struct racer r[2] = {
		{.url = url, .cluster = "east", .rounds = 6, .barrier = &barrier},
		{.url = url, .cluster = "west", .rounds = 6, .barrier = &barrier},
	};
	snprintf(r[0].cache, sizeof(r[0].cache), "%s/east", tmp);
	snprintf(r[1].cache, sizeof(r[1].cache), "%s/west", tmp);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race, &r[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
	ck_assert_msg(r[0].rc == 0 && r[1].rc == 0, "racers: %d %d (%s)", r[0].rc, r[1].rc,
		      keelson_error_last()->message);
	ck_assert_int_eq(r[0].commits, 6);
	ck_assert_int_eq(r[1].commits, 6);
	/* Every commit is on the branch, none lost, no merge commits. */
	ck_assert_int_eq(branch_commits(), 12);
	char *merges = sh_out("git --git-dir=%s rev-list --min-parents=2 keelson/status", remote);
	ck_assert_str_eq(merges, "");
	free(merges);
	const char *files[] = {"status/east/kafka.json", "status/east/spark.json",
			       "status/west/kafka.json", "status/west/spark.json"};
	for (size_t i = 0; i < 4; i++) {
		cJSON *doc = branch_file(files[i]);
		ck_assert_msg(doc != NULL, "%s missing", files[i]);
		ck_assert_str_eq(jstr(doc, "step"), "round 5");
		ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "history")), 6);
		cJSON_Delete(doc);
	}
	char *tip = sh_out("git --git-dir=%s rev-parse main", remote);
	ck_assert_str_eq(tip, main_sha);
	free(tip);
}
END_TEST

START_TEST(flush_unreachable_keeps_changes_pending)
{
	int port = start_git_daemon(0);
	char url[200], cache[600];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/config.git", port);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	kill(daemon_pid, SIGTERM);
	waitpid(daemon_pid, NULL, 0);
	daemon_pid = 0;
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "status stays pending"));
	ck_assert_int_eq((int)keelson_status_writer_next_flush_ms(w), 0);
	ck_assert_int_eq(branch_commits(), 0);

	/* The server is back: the same writer commits the pending change. */
	ck_assert_int_eq(start_git_daemon(port), port);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq(branch_commits(), 1);
	keelson_status_writer_free(w);
}
END_TEST

START_TEST(flush_times_out_on_a_silent_server)
{
	/* The kernel completes connections nobody ever accepts or answers. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	char url[200], cache[600];
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/config.git", ntohs(a.sin_port));
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	o.timeout_ms = 500;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	int64_t start = real_ms(NULL);
	ck_assert_int_eq(keelson_status_writer_flush(w, NULL), KEELSON_ETIMEOUT);
	int64_t took = real_ms(NULL) - start;
	ck_assert_msg(took >= 450 && took < 10000, "took %lld ms", (long long)took);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "within 500 ms"));
	ck_assert_int_eq((int)keelson_status_writer_next_flush_ms(w), 0);
	keelson_status_writer_free(w);
	close(fd);
}
END_TEST

/* tests/git/git_http_server (git http-backend behind libmicrohttpd) with
 * Basic auth; http-backend accepts pushes from an authenticated user.
 * Returns the port, or 0 when the server is not built. */
static int start_http_server(const char *user, const char *password)
{
	const char *builddir = getenv("top_builddir");
	char bin[1024], port_file[700], log_file[700], pw_file[700], srv[600];
	snprintf(bin, sizeof(bin), "%s/tests/git/git_http_server", builddir ? builddir : ".");
	if (access(bin, X_OK) != 0)
		return 0;
	snprintf(srv, sizeof(srv), "%s/srv", tmp);
	snprintf(port_file, sizeof(port_file), "%s/http.port", tmp);
	snprintf(log_file, sizeof(log_file), "%s/http.log", tmp);
	snprintf(pw_file, sizeof(pw_file), "%s/http.password", tmp);
	ck_assert_int_eq(sh("printf '%%s' '%s' > %s", password, pw_file), 0);
	daemon_pid = fork();
	ck_assert_int_ge(daemon_pid, 0);
	if (daemon_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, "--root", srv, "--port-file", port_file, "--log", log_file, "--user", user,
		      "--password-file", pw_file, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250 && access(port_file, R_OK) != 0; i++)
		sleep_ms(20);
	FILE *f = fopen(port_file, "r");
	ck_assert_msg(f != NULL, "git_http_server did not start");
	int port = 0;
	ck_assert_int_eq(fscanf(f, "%d", &port), 1);
	fclose(f);
	return port;
}

START_TEST(flush_over_http_with_token_file)
{
	int port = start_http_server("alice", "open-sesame");
	if (port == 0) {
		printf("SKIP: tests/git/git_http_server is not built\n");
		return;
	}
	char url[200], cache[600], token[600];
	snprintf(url, sizeof(url), "http://alice@127.0.0.1:%d/config.git", port);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	snprintf(token, sizeof(token), "%s/token", tmp);
	ck_assert_int_eq(sh("echo wrong-token > %s", token), 0);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	o.token_file = token;
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);

	/* A wrong token: refused once, reported, never shown; still pending. */
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), KEELSON_EINVALID);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "rejected the configured credentials") != NULL, "%s", m);
	ck_assert_ptr_null(strstr(m, "wrong-token"));
	ck_assert_int_eq((int)keelson_status_writer_next_flush_ms(w), 0);

	ck_assert_int_eq(sh("echo open-sesame > %s", token), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq(branch_commits(), 1);
	keelson_status_writer_free(w);
}
END_TEST

/* ---- keelson_status_writer_new ----------------------------------------- */

START_TEST(new_refuses_the_branch_keelson_reads)
{
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	o.branch = "main";
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), KEELSON_EINVALID);
	ck_assert_ptr_null(w);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "branch keelson reads"));
	/* A cache that belongs to another URL is refused. */
	o.branch = NULL;
	struct keelson_status_writer *ok = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&ok, &o), 0);
	keelson_status_writer_free(ok);
	o.url = "file:///elsewhere/config.git";
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), KEELSON_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "belongs to"));
	o.url = url;
	o.branch = "bad..name";
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), KEELSON_EINVALID);
	o.branch = NULL;
	o.url = "https://user:pw@example.com/repo.git";
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), KEELSON_EINVALID);
	ck_assert_ptr_null(strstr(keelson_error_last()->message, "pw@"));
}
END_TEST

/* ---- keelson_status_writer_update ---------------------------------------- */

START_TEST(update_validates_names_and_revision)
{
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(SHA_A, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "../etc", "kafka", &s), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "Kafka", &s), KEELSON_EINVALID);
	s.revision = "not-a-sha";
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), KEELSON_EINVALID);
	s.revision = SHA_A;
	s.version = 99;
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), KEELSON_EINVALID);
	ck_assert_int_eq((int)keelson_status_writer_next_flush_ms(w), -1);
	keelson_status_writer_free(w);
	enum keelson_status_phase p;
	ck_assert_int_eq(keelson_status_phase_parse(&p, "Blocked"), 0);
	ck_assert_int_eq(p, KEELSON_PHASE_BLOCKED);
	ck_assert_int_eq(keelson_status_phase_parse(&p, "blocked"), KEELSON_EINVALID);
}
END_TEST

/* ---- forge commit statuses ---------------------------------------------- */

struct forge_req {
	char path[256];
	char auth[256];
	char body[2048];
	size_t len;
};

static struct forge_req forge_reqs[16];
static int forge_count;
static int forge_answer = 201;
static pthread_mutex_t forge_lock = PTHREAD_MUTEX_INITIALIZER;

static enum MHD_Result forge_handler(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version, const char *data,
				     size_t *size, void **state)
{
	(void)cls;
	(void)version;
	struct forge_req *req = *state;
	if (!req) {
		req = calloc(1, sizeof(*req));
		snprintf(req->path, sizeof(req->path), "%s %s", method, url);
		const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		snprintf(req->auth, sizeof(req->auth), "%s", a ? a : "");
		*state = req;
		return MHD_YES;
	}
	if (*size) {
		size_t n = *size < sizeof(req->body) - 1 - req->len ? *size : sizeof(req->body) - 1 - req->len;
		memcpy(req->body + req->len, data, n);
		req->len += n;
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&forge_lock);
	if (forge_count < 16)
		forge_reqs[forge_count++] = *req;
	int code = forge_answer;
	pthread_mutex_unlock(&forge_lock);
	free(req);
	*state = NULL;
	static char reply[] = "{}";
	struct MHD_Response *resp = MHD_create_response_from_buffer(2, reply, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)code, resp);
	MHD_destroy_response(resp);
	return rc;
}

START_TEST(forge_posts_commit_status_and_retries)
{
	forge_count = 0;
	forge_answer = 500;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
						forge_handler, NULL, MHD_OPTION_SOCK_ADDR, &addr,
						MHD_OPTION_END);
	ck_assert_ptr_nonnull(d);
	int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	char api[64], token_file[600];
	snprintf(api, sizeof(api), "http://127.0.0.1:%d/", port);
	snprintf(token_file, sizeof(token_file), "%s/forge-token", tmp);
	ck_assert_int_eq(sh("printf 's3cret-token\\n' > %s", token_file), 0);
	struct keelson_forge_options fo = {.version = KEELSON_FORGE_OPTIONS_VERSION, .api_url = api,
					   .repository = "acme/config", .token_file = token_file,
					   .target_url = "https://keelson.example/prod"};
	struct keelson_forge *forge = NULL;
	ck_assert_int_eq(keelson_forge_new(&forge, &fo), 0);

	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	o.forge = forge;
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(main_sha, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);

	/* The forge fails: the status commit is made anyway. */
	struct keelson_status_flush_report r;
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert(r.committed);
	ck_assert_int_eq((int)r.forge_failed, 1);
	ck_assert_int_eq((int)r.forge_posted, 0);

	/* Next cycle: retried, posted once. */
	forge_answer = 201;
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert_int_eq((int)r.forge_posted, 1);
	ck_assert_int_eq(forge_count, 2);
	char want[128];
	snprintf(want, sizeof(want), "POST /repos/acme/config/statuses/%s", main_sha);
	ck_assert_str_eq(forge_reqs[1].path, want);
	ck_assert_str_eq(forge_reqs[1].auth, "Bearer s3cret-token");
	cJSON *body = cJSON_Parse(forge_reqs[1].body);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(jstr(body, "state"), "success");
	ck_assert_str_eq(jstr(body, "context"), "keelson/prod/kafka");
	ck_assert_str_eq(jstr(body, "description"), "Synced");
	ck_assert_str_eq(jstr(body, "target_url"), "https://keelson.example/prod");
	cJSON_Delete(body);

	/* Same state again: not re-posted. A blocked rollout: failure, with why. */
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert_int_eq(forge_count, 2);
	char long_reason[400];
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	s = status_of(main_sha, KEELSON_PHASE_BLOCKED, "restart broker-2", long_reason);
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, &r), 0);
	ck_assert_int_eq(forge_count, 3);
	body = cJSON_Parse(forge_reqs[2].body);
	ck_assert_str_eq(jstr(body, "state"), "failure");
	ck_assert_int_eq((int)strlen(jstr(body, "description")), KEELSON_FORGE_DESCRIPTION_MAX);
	ck_assert(strncmp(jstr(body, "description"), "Blocked: xxx", 12) == 0);
	cJSON_Delete(body);

	/* A bad token file: refused with the file named, token never shown. */
	ck_assert_int_eq(keelson_forge_post_status(forge, "nothex", "success", "c", "d"), KEELSON_EINVALID);
	forge_answer = 401;
	ck_assert_int_eq(keelson_forge_post_status(forge, main_sha, "success", "c", "d"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, token_file));
	ck_assert_ptr_null(strstr(keelson_error_last()->message, "s3cret"));

	keelson_status_writer_free(w);
	keelson_forge_free(forge);
	MHD_stop_daemon(d);
}
END_TEST

/* ---- keelson status ------------------------------------------------------ */

START_TEST(cli_status_prints_table_and_json)
{
	const char *builddir = getenv("top_builddir");
	if (!builddir)
		builddir = ".";
	char bin[700];
	snprintf(bin, sizeof(bin), "%s/keelson", builddir);
	if (access(bin, X_OK) != 0) {
		printf("SKIP: %s not built\n", bin);
		return;
	}
	char url[700], cache[600];
	snprintf(url, sizeof(url), "file://%s", remote);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);

	/* No status branch yet: exit 1 with a message that says so. */
	char *out = sh_out("%s status --repo %s 2>&1; echo rc=$?", bin, remote);
	ck_assert_msg(strstr(out, "has no branch keelson/status") && strstr(out, "rc=1"), "%s", out);
	free(out);

	struct keelson_status_writer_options o;
	writer_options(&o, url, cache);
	fake_now = 1700000000000;
	struct keelson_status_writer *w = NULL;
	ck_assert_int_eq(keelson_status_writer_new(&w, &o), 0);
	struct keelson_system_status s = status_of(main_sha, KEELSON_PHASE_BLOCKED, "restart broker-1",
						   "2 partitions under-replicated");
	ck_assert_int_eq(keelson_status_writer_update(w, "prod", "kafka-events", &s), 0);
	s = status_of(main_sha, KEELSON_PHASE_SYNCED, NULL, NULL);
	ck_assert_int_eq(keelson_status_writer_update(w, "dev", "spark", &s), 0);
	ck_assert_int_eq(keelson_status_writer_flush(w, NULL), 0);
	keelson_status_writer_free(w);

	out = sh_out("%s status --repo %s", bin, remote);
	char *line2 = strchr(out, '\n');
	ck_assert_ptr_nonnull(line2);
	ck_assert_msg(strncmp(out, "CLUSTER", 7) == 0, "%s", out);
	char *line3 = strchr(line2 + 1, '\n');
	ck_assert_ptr_nonnull(line3);
	/* Sorted by cluster: dev before prod. */
	ck_assert_msg(strncmp(line2 + 1, "dev ", 4) == 0 && strstr(line2, "Synced"), "%s", out);
	ck_assert_msg(strncmp(line3 + 1, "prod ", 5) == 0 && strstr(line3, "Blocked") &&
		      strstr(line3, "restart broker-1") && strstr(line3, "2 partitions under-replicated"),
		      "%s", out);
	char short_sha[13];
	snprintf(short_sha, sizeof(short_sha), "%.12s", main_sha);
	ck_assert_ptr_nonnull(strstr(line3, short_sha));
	free(out);

	out = sh_out("%s status --repo file://%s --output json", bin, remote);
	cJSON *arr = cJSON_Parse(out);
	ck_assert_msg(cJSON_IsArray(arr), "%s", out);
	ck_assert_int_eq(cJSON_GetArraySize(arr), 2);
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(arr, 1), "system"), "kafka-events");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(arr, 1), "phase"), "Blocked");
	ck_assert_str_eq(jstr(cJSON_GetArrayItem(arr, 1), "revision"), main_sha);
	cJSON_Delete(arr);
	free(out);

	out = sh_out("%s status --repo %s --output yaml 2>&1; echo rc=$?", bin, remote);
	ck_assert_msg(strstr(out, "rc=2"), "%s", out);
	free(out);
}
END_TEST

static Suite *suite_status(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("keelson_status_writer_flush");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, flush_commits_status_file_and_names_source_commit);
	tcase_add_test(tc, flush_coalesces_within_interval);
	tcase_add_test(tc, set_branch_moves_status_to_another_branch);
	tcase_add_test(tc, flush_after_restart_continues_history);
	tcase_add_test(tc, flush_keeps_newer_file_of_another_writer);
	tcase_add_test(tc, racing_writers_keep_both_files_and_linear_history);
	tcase_add_test(tc, flush_unreachable_keeps_changes_pending);
	tcase_add_test(tc, flush_over_http_with_token_file);
	tcase_add_test(tc, flush_times_out_on_a_silent_server);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_status_writer_new");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, new_refuses_the_branch_keelson_reads);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_status_writer_update");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, update_validates_names_and_revision);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_forge_post_status");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, forge_posts_commit_status_and_retries);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_cmd_status");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cli_status_prints_table_and_json);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_status)
