#include "config.h"

/* Leader election against kubesim's coordination.k8s.io/v1 Leases, with a
 * fake clock per candidate: acquire, renew, the 409 of a lost race (another
 * candidate writes between our GET and our PUT), takeover after expiry,
 * step-down when renewals fail for renewDeadline, release, the thread.
 * Skipped (77) when kubesim is not built. */

#include "config/config.h"
#include "core/error.h"
#include "election/election.h"
#include "kube/kube_client.h"
#include "metrics/metrics.h"
#include "tests/lib/kubesim_harness.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct keelson_kube_client *new_client(void)
{
	struct keelson_kube_client_options o;
	keelson_kube_client_options_init(&o);
	o.max_retries = 0; /* as the daemon's elector: a failed attempt is retried by the loop */
	return kubesim_harness_client(&o);
}

/* --- fake clocks --------------------------------------------------------- */

struct fake_clock {
	long long mono_ms;
	long long wall_us;
	/* Run once between the candidate's GET and its write. */
	void (*interleave)(void *arg);
	void *interleave_arg;
};

static long long fake_mono(void *c)
{
	return ((struct fake_clock *)c)->mono_ms;
}

static long long fake_wall(void *c)
{
	struct fake_clock *fc = c;
	if (fc->interleave != NULL) {
		void (*f)(void *) = fc->interleave;
		fc->interleave = NULL;
		f(fc->interleave_arg);
	}
	return fc->wall_us;
}

static void advance(struct fake_clock *c, long long ms)
{
	c->mono_ms += ms;
	c->wall_us += ms * 1000;
}

struct changes {
	int became_leader, stopped_leading;
};

static void on_change(bool leading, void *payload)
{
	struct changes *ch = payload;
	if (leading)
		ch->became_leader++;
	else
		ch->stopped_leading++;
}

struct candidate {
	struct keelson_kube_client *client;
	struct keelson_election *e;
	struct fake_clock clock;
	struct changes changes;
};

static void candidate_init(struct candidate *c, const char *lease, const char *identity, struct keelson_metrics *m)
{
	memset(c, 0, sizeof(*c));
	c->clock.mono_ms = 1000000;
	c->clock.wall_us = 1800000000LL * 1000000LL; /* 2027-01-15 */
	c->client = new_client();
	struct keelson_election_options o;
	keelson_election_options_init(&o);
	o.lease_namespace = "default";
	o.lease_name = lease;
	o.identity = identity;
	o.monotonic_ms = fake_mono;
	o.wall_us = fake_wall;
	o.clock = &c->clock;
	o.on_change = on_change;
	o.payload = &c->changes;
	o.metrics = m;
	ck_assert_msg(keelson_election_new(&c->e, c->client, &o) == 0, "%s", keelson_error_last()->message);
}

static void candidate_free(struct candidate *c)
{
	keelson_election_free(c->e);
	keelson_kube_client_free(c->client);
}

static cJSON *get_lease(struct keelson_kube_client *client, const char *name)
{
	cJSON *lease = NULL;
	int rc = keelson_kube_get(&lease, client, "coordination.k8s.io/v1", "Lease", "default", name);
	ck_assert_msg(rc == 0, "GET lease %s: %s", name, keelson_error_last()->message);
	return lease;
}

static const char *spec_string(const cJSON *lease, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"), field);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int spec_int(const cJSON *lease, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"), field);
	return cJSON_IsNumber(v) ? v->valueint : -1;
}

static char *rv_of(const cJSON *lease)
{
	const cJSON *v =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "metadata"), "resourceVersion");
	ck_assert(cJSON_IsString(v));
	return strdup(v->valuestring);
}

static void set_faults(struct keelson_kube_client *client, const char *json)
{
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = "POST",
					   .path = "/_sim/faults", .body = json, .body_len = strlen(json)};
	struct keelson_kube_response resp;
	memset(&resp, 0, sizeof(resp));
	int rc = keelson_kube_request(&resp, client, &req);
	keelson_kube_response_dispose(&resp);
	ck_assert_msg(rc == 0, "POST /_sim/faults: %s", keelson_error_last()->message);
}

/* --- tests --------------------------------------------------------------- */

START_TEST(test_acquire)
{
	struct keelson_metrics *m = NULL;
	ck_assert_int_eq(keelson_metrics_new(&m), 0);
	struct candidate a;
	candidate_init(&a, "acquire", "a", m);
	ck_assert(!keelson_election_is_leader(a.e));
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	ck_assert(keelson_election_is_leader(a.e));
	ck_assert_int_eq(a.changes.became_leader, 1);
	cJSON *lease = get_lease(a.client, "acquire");
	ck_assert_str_eq(spec_string(lease, "holderIdentity"), "a");
	ck_assert_int_eq(spec_int(lease, "leaseDurationSeconds"), 15);
	ck_assert_int_eq(spec_int(lease, "leaseTransitions"), 0);
	/* MicroTime, from the fake wall clock. */
	ck_assert_str_eq(spec_string(lease, "acquireTime"), "2027-01-15T08:00:00.000000Z");
	ck_assert_str_eq(spec_string(lease, "renewTime"), "2027-01-15T08:00:00.000000Z");
	cJSON_Delete(lease);
	char *text = NULL;
	size_t len = 0;
	ck_assert_int_eq(keelson_metrics_render(&text, &len, m), 0);
	ck_assert_msg(strstr(text, "keelson_leader{lease=\"default/acquire\",identity=\"a\"} 1") != NULL, "%s", text);
	free(text);
	char holder[64];
	keelson_election_holder(a.e, holder, sizeof(holder));
	ck_assert_str_eq(holder, "a");
	candidate_free(&a);
	keelson_metrics_free(m);
}
END_TEST

START_TEST(test_renew)
{
	struct candidate a;
	candidate_init(&a, "renew", "a", NULL);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	cJSON *before = get_lease(a.client, "renew");
	char *rv_before = rv_of(before);
	advance(&a.clock, 2123);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	cJSON *after = get_lease(a.client, "renew");
	char *rv_after = rv_of(after);
	ck_assert_str_ne(rv_before, rv_after);
	ck_assert_str_eq(spec_string(after, "holderIdentity"), "a");
	ck_assert_str_eq(spec_string(after, "acquireTime"), "2027-01-15T08:00:00.000000Z");
	ck_assert_str_eq(spec_string(after, "renewTime"), "2027-01-15T08:00:02.123000Z");
	ck_assert_int_eq(spec_int(after, "leaseTransitions"), 0);
	ck_assert_int_eq(a.changes.became_leader, 1);
	ck_assert_int_eq(a.changes.stopped_leading, 0);
	free(rv_before);
	free(rv_after);
	cJSON_Delete(before);
	cJSON_Delete(after);
	candidate_free(&a);
}
END_TEST

START_TEST(test_standby_and_expiry_takeover)
{
	struct candidate a, b;
	candidate_init(&a, "expiry", "a", NULL);
	candidate_init(&b, "expiry", "b", NULL);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	/* Held and fresh: b stands by and writes nothing. */
	cJSON *l0 = get_lease(a.client, "expiry");
	char *rv0 = rv_of(l0);
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	ck_assert(!keelson_election_is_leader(b.e));
	char holder[64];
	keelson_election_holder(b.e, holder, sizeof(holder));
	ck_assert_str_eq(holder, "a");
	/* The leader keeps renewing: b's expiry clock restarts each time it
	 * sees a new record, so b never takes over. */
	for (int i = 0; i < 10; i++) {
		advance(&a.clock, 2000);
		advance(&b.clock, 2000);
		ck_assert_int_eq(keelson_election_step(a.e), 1);
		ck_assert_int_eq(keelson_election_step(b.e), 0);
	}
	cJSON *l1 = get_lease(a.client, "expiry");
	ck_assert_str_eq(spec_string(l1, "holderIdentity"), "a");
	/* a dies. b has seen the last record; just short of leaseDuration
	 * after that it still waits. */
	advance(&b.clock, 14999);
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	advance(&b.clock, 2);
	ck_assert_int_eq(keelson_election_step(b.e), 1);
	ck_assert(keelson_election_is_leader(b.e));
	cJSON *l2 = get_lease(b.client, "expiry");
	ck_assert_str_eq(spec_string(l2, "holderIdentity"), "b");
	ck_assert_int_eq(spec_int(l2, "leaseTransitions"), 1);
	ck_assert_str_eq(spec_string(l2, "acquireTime"), spec_string(l2, "renewTime"));
	/* a comes back (it was paused, not dead): it sees b holding the
	 * lease, steps down at once and writes nothing. */
	char *rv2 = rv_of(l2);
	ck_assert_int_eq(keelson_election_step(a.e), 0);
	ck_assert(!keelson_election_is_leader(a.e));
	ck_assert_int_eq(a.changes.stopped_leading, 1);
	cJSON *l3 = get_lease(b.client, "expiry");
	char *rv3 = rv_of(l3);
	ck_assert_str_eq(rv2, rv3);
	free(rv0);
	free(rv2);
	free(rv3);
	cJSON_Delete(l0);
	cJSON_Delete(l1);
	cJSON_Delete(l2);
	cJSON_Delete(l3);
	candidate_free(&a);
	candidate_free(&b);
}
END_TEST

static void step_other(void *arg)
{
	struct candidate *other = arg;
	ck_assert_int_eq(keelson_election_step(other->e), 1);
}

START_TEST(test_lose_race_on_409)
{
	struct candidate a, b;
	candidate_init(&a, "race", "a", NULL);
	candidate_init(&b, "race", "b", NULL);
	/* Create race: both see no Lease; a creates it between b's GET and
	 * b's POST, b gets 409 AlreadyExists. */
	b.clock.interleave = step_other;
	b.clock.interleave_arg = &a;
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	ck_assert(!keelson_election_is_leader(b.e));
	ck_assert(keelson_election_is_leader(a.e));
	cJSON *l = get_lease(a.client, "race");
	ck_assert_str_eq(spec_string(l, "holderIdentity"), "a");
	cJSON_Delete(l);
	/* Update race: a releases; b reads the free Lease, a takes it again
	 * between b's GET and b's PUT, b's PUT carries a stale
	 * resourceVersion and gets 409 Conflict. */
	ck_assert_int_eq(keelson_election_release(a.e), 0);
	l = get_lease(a.client, "race");
	ck_assert_ptr_null(spec_string(l, "holderIdentity"));
	ck_assert_int_eq(spec_int(l, "leaseDurationSeconds"), 1);
	cJSON_Delete(l);
	b.clock.interleave = step_other;
	b.clock.interleave_arg = &a;
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	ck_assert(!keelson_election_is_leader(b.e));
	ck_assert_int_eq(b.changes.became_leader, 0);
	l = get_lease(a.client, "race");
	ck_assert_str_eq(spec_string(l, "holderIdentity"), "a");
	/* released then acquired: one transition (empty -> a) */
	ck_assert_int_eq(spec_int(l, "leaseTransitions"), 1);
	cJSON_Delete(l);
	candidate_free(&a);
	candidate_free(&b);
}
END_TEST

START_TEST(test_renew_failure_steps_down)
{
	struct candidate a, b;
	candidate_init(&a, "deadline", "a", NULL);
	candidate_init(&b, "deadline", "b", NULL);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	/* The API server fails every request from now on. */
	set_faults(a.client, "{\"errorRate\":{\"*\":1}}");
	advance(&a.clock, 2000);
	ck_assert_int_lt(keelson_election_step(a.e), 0);
	ck_assert(keelson_election_is_leader(a.e)); /* 2 s without renewal: still within the deadline */
	advance(&a.clock, 6000);
	ck_assert_int_lt(keelson_election_step(a.e), 0);
	ck_assert(keelson_election_is_leader(a.e));
	/* The fence: at renewDeadline it stops acting even before the thread
	 * runs another attempt. */
	advance(&a.clock, 2000);
	ck_assert(!keelson_election_is_leader(a.e));
	ck_assert_int_eq(a.changes.stopped_leading, 0);
	ck_assert_int_lt(keelson_election_step(a.e), 0);
	ck_assert(!keelson_election_is_leader(a.e));
	ck_assert_int_eq(a.changes.stopped_leading, 1);
	set_faults(a.client, "{}");
	/* a stopped at 10 s; the lease it holds is valid for 15 s: b must
	 * still wait, so there was no moment with two acting leaders. */
	advance(&b.clock, 10000);
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	advance(&b.clock, 5001);
	ck_assert_int_eq(keelson_election_step(b.e), 1);
	/* a, back in contact, finds b leading and stays standby. */
	advance(&a.clock, 2000);
	ck_assert_int_eq(keelson_election_step(a.e), 0);
	ck_assert_int_eq(a.changes.became_leader, 1);
	candidate_free(&a);
	candidate_free(&b);
}
END_TEST

START_TEST(test_release_lets_standby_take_over_at_once)
{
	struct candidate a, b;
	candidate_init(&a, "release", "a", NULL);
	candidate_init(&b, "release", "b", NULL);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	ck_assert_int_eq(keelson_election_step(b.e), 0);
	ck_assert_int_eq(keelson_election_stop(a.e, true), 0);
	ck_assert(!keelson_election_is_leader(a.e));
	ck_assert_int_eq(a.changes.stopped_leading, 1);
	cJSON *l = get_lease(a.client, "release");
	ck_assert_ptr_null(spec_string(l, "holderIdentity"));
	ck_assert_int_eq(spec_int(l, "leaseTransitions"), 0);
	cJSON_Delete(l);
	/* No waiting for expiry: the holder is empty. */
	advance(&b.clock, 100);
	ck_assert_int_eq(keelson_election_step(b.e), 1);
	l = get_lease(b.client, "release");
	ck_assert_str_eq(spec_string(l, "holderIdentity"), "b");
	ck_assert_int_eq(spec_int(l, "leaseTransitions"), 1);
	ck_assert_int_eq(spec_int(l, "leaseDurationSeconds"), 15);
	cJSON_Delete(l);
	/* Releasing when not leading writes nothing. */
	ck_assert_int_eq(keelson_election_release(a.e), 0);
	l = get_lease(b.client, "release");
	ck_assert_str_eq(spec_string(l, "holderIdentity"), "b");
	cJSON_Delete(l);
	candidate_free(&a);
	candidate_free(&b);
}
END_TEST

START_TEST(test_thread_real_clock)
{
	struct keelson_kube_client *client = new_client();
	struct keelson_election *e = NULL;
	struct keelson_election_options o;
	keelson_election_options_init(&o);
	o.lease_namespace = "default";
	o.lease_name = "thread";
	o.identity = "t";
	o.lease_duration_ms = 2000;
	o.renew_deadline_ms = 1500;
	o.retry_period_ms = 200;
	ck_assert_int_eq(keelson_election_new(&e, client, &o), 0);
	ck_assert_int_eq(keelson_election_start(e), 0);
	ck_assert(keelson_election_wait_leader(e, 20000, NULL));
	cJSON *l1 = get_lease(client, "thread");
	char *rv1 = rv_of(l1);
	/* It renews on its own. */
	char *rv2 = NULL;
	for (int i = 0; i < 200; i++) {
		cJSON *l2 = get_lease(client, "thread");
		free(rv2);
		rv2 = rv_of(l2);
		cJSON_Delete(l2);
		if (strcmp(rv1, rv2) != 0)
			break;
		usleep(50000);
	}
	ck_assert_str_ne(rv1, rv2);
	ck_assert(keelson_election_is_leader(e));
	ck_assert_int_eq(keelson_election_stop(e, true), 0);
	cJSON *l3 = get_lease(client, "thread");
	ck_assert_ptr_null(spec_string(l3, "holderIdentity"));
	volatile sig_atomic_t stop = 1;
	ck_assert(!keelson_election_wait_leader(e, 1000, &stop));
	free(rv1);
	free(rv2);
	cJSON_Delete(l1);
	cJSON_Delete(l3);
	keelson_election_free(e);
	keelson_kube_client_free(client);
}
END_TEST

START_TEST(test_options)
{
	struct keelson_kube_client *client = new_client();
	struct keelson_election *e = NULL;
	struct keelson_election_options o;
	keelson_election_options_init(&o);
	o.lease_namespace = "default";
	o.lease_duration_ms = 10000; /* not longer than the 10 s renew deadline */
	ck_assert_int_eq(keelson_election_new(&e, client, &o), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "renewDeadline"));
	o.lease_duration_ms = 15000;
	o.retry_period_ms = 9000; /* 1.2 x 9 s > 10 s */
	ck_assert_int_eq(keelson_election_new(&e, client, &o), KEELSON_EINVALID);
	o.retry_period_ms = 0;
	o.lease_duration_ms = 15500;
	ck_assert_int_eq(keelson_election_new(&e, client, &o), KEELSON_EINVALID);
	o.lease_duration_ms = 0;
	o.lease_name = "Not_A_Name";
	ck_assert_int_eq(keelson_election_new(&e, client, &o), KEELSON_EINVALID);
	o.lease_name = NULL;
	o.lease_namespace = NULL;
	ck_assert_int_eq(keelson_election_new(&e, client, &o), KEELSON_EINVALID);
	o.lease_namespace = "keelson-system";
	ck_assert_int_eq(keelson_election_new(&e, client, &o), 0);
	ck_assert_str_eq(keelson_election_lease(e), "keelson-system/keelson");
	keelson_election_free(e);
	keelson_kube_client_free(client);
}
END_TEST

START_TEST(test_identity)
{
	char id[300];
	setenv("POD_NAME", "keelson-7d9c-abcde", 1);
	keelson_election_default_identity(id, sizeof(id));
	ck_assert_str_eq(id, "keelson-7d9c-abcde");
	unsetenv("POD_NAME");
	keelson_election_default_identity(id, sizeof(id));
	char host[256];
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	char want[300];
	snprintf(want, sizeof(want), "%s_%ld", host, (long)getpid());
	ck_assert_str_eq(id, want);
	char t[40];
	keelson_election_format_microtime(t, sizeof(t), 1800000000LL * 1000000LL + 42);
	ck_assert_str_eq(t, "2027-01-15T08:00:00.000042Z");
}
END_TEST

START_TEST(test_config_section)
{
	static const char base[] = "git: {url: /r, cacheDir: /c}\nclusters: [{name: a}, {name: b}]\n";
	char text[1024];
	struct keelson_config *cfg = NULL;
	ck_assert_int_eq(keelson_config_load_buffer(&cfg, base, strlen(base), "k.yaml"), 0);
	ck_assert(!cfg->leader_election);
	keelson_config_free(cfg);
	snprintf(text, sizeof(text), "%sleaderElection: {}\n", base);
	ck_assert_int_eq(keelson_config_load_buffer(&cfg, text, strlen(text), "k.yaml"), 0);
	ck_assert(cfg->leader_election);
	ck_assert_ptr_null(cfg->leader_election_cluster);
	ck_assert(cfg->leader_election_lease_ms == 0);
	keelson_config_free(cfg);
	snprintf(text, sizeof(text),
		 "%sleaderElection:\n  cluster: b\n  namespace: ops\n  leaseName: keelson-b\n  identity: me\n"
		 "  leaseDuration: 30s\n  renewDeadline: 20s\n  retryPeriod: 4s\n",
		 base);
	ck_assert_msg(keelson_config_load_buffer(&cfg, text, strlen(text), "k.yaml") == 0, "%s",
		      keelson_error_last()->message);
	ck_assert_str_eq(cfg->leader_election_cluster, "b");
	ck_assert_str_eq(cfg->leader_election_namespace, "ops");
	ck_assert_str_eq(cfg->leader_election_lease_name, "keelson-b");
	ck_assert_str_eq(cfg->leader_election_identity, "me");
	ck_assert(cfg->leader_election_lease_ms == 30000 && cfg->leader_election_renew_ms == 20000 &&
		  cfg->leader_election_retry_ms == 4000);
	keelson_config_free(cfg);
	snprintf(text, sizeof(text), "%sleaderElection:\n  cluster: c\n", base);
	ck_assert_int_eq(keelson_config_load_buffer(&cfg, text, strlen(text), "k.yaml"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "k.yaml:4:"));
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "\"c\" is not one of the clusters"));
	snprintf(text, sizeof(text), "%sleaderElection:\n  leaseDurationSeconds: 15\n", base);
	ck_assert_int_eq(keelson_config_load_buffer(&cfg, text, strlen(text), "k.yaml"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "unknown key \"leaseDurationSeconds\""));
}
END_TEST

/* A leader frozen past its renew deadline (SIGSTOP, a VM pause) stops
 * acting first thing when it runs again, before any request; if nobody
 * took the lease meanwhile it renews it and leads again. */
static int frozen_steps_seen;
static void count_is_leader(void *arg)
{
	struct candidate *c = arg;
	/* Called between the GET and the write: by then it has stood down. */
	frozen_steps_seen = c->changes.stopped_leading;
}

START_TEST(test_frozen_leader_stands_down_first)
{
	struct candidate a;
	candidate_init(&a, "frozen", "a", NULL);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	advance(&a.clock, 11000);
	ck_assert(!keelson_election_is_leader(a.e));
	a.clock.interleave = count_is_leader;
	a.clock.interleave_arg = &a;
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	ck_assert_int_eq(frozen_steps_seen, 1);
	ck_assert_int_eq(a.changes.stopped_leading, 1);
	ck_assert_int_eq(a.changes.became_leader, 2);
	ck_assert(keelson_election_is_leader(a.e));
	candidate_free(&a);
}
END_TEST

static Suite *suite_election(void)
{
	Suite *s = suite_create("election");
	TCase *pure = tcase_create("pure");
	tcase_add_test(pure, test_identity);
	tcase_add_test(pure, test_config_section);
	suite_add_tcase(s, pure);
	TCase *tc = tcase_create("kubesim");
	tcase_add_unchecked_fixture(tc, kubesim_harness_start, kubesim_harness_stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_acquire);
	tcase_add_test(tc, test_renew);
	tcase_add_test(tc, test_standby_and_expiry_takeover);
	tcase_add_test(tc, test_lose_race_on_409);
	tcase_add_test(tc, test_renew_failure_steps_down);
	tcase_add_test(tc, test_frozen_leader_stands_down_first);
	tcase_add_test(tc, test_release_lets_standby_take_over_at_once);
	tcase_add_test(tc, test_thread_real_clock);
	tcase_add_test(tc, test_options);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_election)
