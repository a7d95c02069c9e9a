#include "config.h"

/* Leader election under 409 Conflict (issue 11): a renewal refused with a
 * conflict writes nothing and is not retried in a loop, a leader that only
 * meets conflicts steps down at its renew deadline, and a release refused
 * because the Lease changed re-reads it and releases the version that is
 * still ours (or leaves another holder's alone). Conflicts come from
 * kubesim's conflictRate and from real concurrent writes. Skipped (77)
 * when kubesim is not built. */

#include "core/error.h"
#include "election/election.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "tests/lib/kubesim_harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct keelson_kube_client *new_client(void)
{
	struct keelson_kube_client_options o;
	keelson_kube_client_options_init(&o);
	o.max_retries = 0; /* as the daemon's elector */
	return kubesim_harness_client(&o);
}

struct clock {
	long long mono_ms, wall_us;
};

static long long mono(void *c)
{
	return ((struct clock *)c)->mono_ms;
}

static long long wall(void *c)
{
	return ((struct clock *)c)->wall_us;
}

static void advance(struct clock *c, long long ms)
{
	c->mono_ms += ms;
	c->wall_us += ms * 1000;
}

struct candidate {
	struct keelson_kube_client *client;
	struct keelson_election *e;
	struct clock clock;
	int stopped_leading;
};

static void on_change(bool leading, void *payload)
{
	if (!leading)
		((struct candidate *)payload)->stopped_leading++;
}

static void candidate_init(struct candidate *c, const char *lease, const char *identity)
{
	memset(c, 0, sizeof(*c));
	c->clock.mono_ms = 1000000;
	c->clock.wall_us = 1800000000LL * 1000000LL;
	c->client = new_client();
	struct keelson_election_options o;
	keelson_election_options_init(&o);
	o.lease_namespace = "default";
	o.lease_name = lease;
	o.identity = identity;
	o.monotonic_ms = mono;
	o.wall_us = wall;
	o.clock = &c->clock;
	o.on_change = on_change;
	o.payload = c;
	ck_assert_msg(keelson_election_new(&c->e, c->client, &o) == 0, "%s", keelson_error_last()->message);
}

static void candidate_free(struct candidate *c)
{
	keelson_election_free(c->e);
	keelson_kube_client_free(c->client);
}

static cJSON *sim(struct keelson_kube_client *client, const char *method, const char *path, const char *body)
{
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = method, .path = path,
					   .body = body, .body_len = body ? strlen(body) : 0};
	struct keelson_kube_response resp;
	memset(&resp, 0, sizeof(resp));
	int rc = keelson_kube_request(&resp, client, &req);
	ck_assert_msg(rc == 0, "%s %s: %s", method, path, keelson_error_last()->message);
	cJSON *j = cJSON_ParseWithLength(resp.body, resp.body_len);
	keelson_kube_response_dispose(&resp);
	return j;
}

static void set_faults(struct keelson_kube_client *client, const char *json)
{
	cJSON_Delete(sim(client, "POST", "/_sim/faults", json));
}

/* Requests of `verb` on Leases so far, and conflicts injected so far. */
static int lease_requests(struct keelson_kube_client *client, const char *verb)
{
	cJSON *c = sim(client, "GET", "/_sim/counters", NULL);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "byResource"),
						 "leases.coordination.k8s.io"),
		verb);
	int v = cJSON_IsNumber(n) ? n->valueint : 0;
	cJSON_Delete(c);
	return v;
}

static int injected_conflicts(struct keelson_kube_client *client)
{
	cJSON *c = sim(client, "GET", "/_sim/counters", NULL);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "faults"), "conflict");
	int v = cJSON_IsNumber(n) ? n->valueint : -1;
	cJSON_Delete(c);
	return v;
}

static cJSON *get_lease(struct keelson_kube_client *client, const char *name)
{
	cJSON *lease = NULL;
	int rc = keelson_kube_get(&lease, client, "coordination.k8s.io/v1", "Lease", "default", name);
	ck_assert_msg(rc == 0, "GET lease %s: %s", name, keelson_error_last()->message);
	return lease;
}

static const char *holder_of(const cJSON *lease)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"),
							  "holderIdentity");
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *rv_of(const cJSON *lease)
{
	const cJSON *v =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "metadata"), "resourceVersion");
	ck_assert(cJSON_IsString(v));
	return strdup(v->valuestring);
}

START_TEST(test_renew_conflicts_until_deadline)
{
	struct candidate a;
	candidate_init(&a, "renew-409", "a");
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	cJSON *l = get_lease(a.client, "renew-409");
	char *rv = rv_of(l);
	cJSON_Delete(l);

	set_faults(a.client, "{\"conflictRate\":{\"update\":1}}");
	int puts = lease_requests(a.client, "update"), conflicts = injected_conflicts(a.client);
	/* Within the renew deadline a refused renewal keeps the leader (it
	 * renewed recently), writes nothing, and costs one PUT per step. */
	for (int i = 0; i < 4; i++) {
		advance(&a.clock, 2000);
		ck_assert_int_eq(keelson_election_step(a.e), 1);
		ck_assert(keelson_election_is_leader(a.e));
	}
	ck_assert_int_eq(lease_requests(a.client, "update") - puts, 4);
	ck_assert_int_eq(injected_conflicts(a.client) - conflicts, 4);
	l = get_lease(a.client, "renew-409");
	char *rv_now = rv_of(l);
	ck_assert_str_eq(rv_now, rv); /* a 409 is never a renewal */
	free(rv_now);
	cJSON_Delete(l);
	/* Past the deadline with nothing but conflicts: step down. */
	advance(&a.clock, 2001);
	ck_assert_int_eq(keelson_election_step(a.e), 0);
	ck_assert(!keelson_election_is_leader(a.e));
	ck_assert_int_eq(a.stopped_leading, 1);
	/* The conflicts end: the lease is still ours, renewed at once. */
	set_faults(a.client, "{}");
	advance(&a.clock, 2000);
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	free(rv);
	candidate_free(&a);
}
END_TEST

/* Someone else writes the Lease (a label) after our last renewal: the
 * release PUT meets a real 409, re-reads, and releases. */
START_TEST(test_release_after_real_conflict)
{
	struct candidate a, b;
	candidate_init(&a, "release-409", "a");
	candidate_init(&b, "release-409", "b");
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	cJSON *out = NULL;
	ck_assert_int_eq(keelson_kube_patch(&out, b.client, "coordination.k8s.io/v1", "Lease", "default", "release-409",
					    KEELSON_KUBE_PATCH_MERGE, "{\"metadata\":{\"labels\":{\"touched\":\"yes\"}}}",
					    NULL),
			 0);
	cJSON_Delete(out);
	int puts = lease_requests(a.client, "update");
	ck_assert_int_eq(keelson_election_release(a.e), 0);
	ck_assert_int_eq(lease_requests(a.client, "update") - puts, 2);
	cJSON *l = get_lease(a.client, "release-409");
	ck_assert_ptr_null(holder_of(l));
	cJSON_Delete(l);
	/* The standby takes over at once rather than after expiry. */
	ck_assert_int_eq(keelson_election_step(b.e), 1);
	candidate_free(&a);
	candidate_free(&b);
}
END_TEST

/* The Lease went to another holder meanwhile: nothing to release, and
 * the other holder's record is left alone. */
START_TEST(test_release_leaves_new_holder_alone)
{
	struct candidate a;
	candidate_init(&a, "release-other", "a");
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	cJSON *l = get_lease(a.client, "release-other");
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(l, "spec");
	cJSON_ReplaceItemInObjectCaseSensitive(spec, "holderIdentity", cJSON_CreateString("c"));
	char *body = cJSON_PrintUnformatted(l);
	cJSON_Delete(l);
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = "PUT",
					   .path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/release-other",
					   .body = body, .body_len = strlen(body)};
	struct keelson_kube_response resp;
	memset(&resp, 0, sizeof(resp));
	ck_assert_int_eq(keelson_kube_request(&resp, a.client, &req), 0);
	keelson_kube_response_dispose(&resp);
	free(body);
	ck_assert_int_eq(keelson_election_release(a.e), 0);
	l = get_lease(a.client, "release-other");
	ck_assert_str_eq(holder_of(l), "c");
	cJSON_Delete(l);
	candidate_free(&a);
}
END_TEST

/* Conflicts on every write: the release tries twice, reports the
 * failure, and writes nothing. */
START_TEST(test_release_gives_up_after_one_reread)
{
	struct candidate a;
	candidate_init(&a, "release-always-409", "a");
	ck_assert_int_eq(keelson_election_step(a.e), 1);
	set_faults(a.client, "{\"conflictRate\":{\"update\":1}}");
	int puts = lease_requests(a.client, "update");
	ck_assert_int_eq(keelson_election_release(a.e), KEELSON_ECONFLICT);
	ck_assert_int_eq(lease_requests(a.client, "update") - puts, 2);
	set_faults(a.client, "{}");
	cJSON *l = get_lease(a.client, "release-always-409");
	ck_assert_str_eq(holder_of(l), "a");
	cJSON_Delete(l);
	candidate_free(&a);
}
END_TEST

static Suite *suite_election_conflicts(void)
{
	Suite *s = suite_create("election_conflicts");
	TCase *tc = tcase_create("kubesim");
	tcase_add_unchecked_fixture(tc, kubesim_harness_start, kubesim_harness_stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_renew_conflicts_until_deadline);
	tcase_add_test(tc, test_release_after_real_conflict);
	tcase_add_test(tc, test_release_leaves_new_holder_alone);
	tcase_add_test(tc, test_release_gives_up_after_one_reread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kubesim_harness_main(suite_election_conflicts);
}
