# Leader election with a coordination.k8s.io Lease (issue 10)
libkeelson_core_la_SOURCES += \
	reconciler/election/election.c reconciler/election/election.h

# Against kubesim with fake clocks (acquire, renew, 409, expiry, renew
# deadline, release), and two `keelson run` processes sharing a rollout.
check_PROGRAMS += tests/election/test_election
tests_election_test_election_SOURCES = tests/election/test_election.c tests/lib/kubesim_harness.c tests/lib/kubesim_harness.h tests/unit/check_main.h
tests_election_test_election_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS) $(CURL_CFLAGS)
tests_election_test_election_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)

TESTS += tests/election/test_election tests/election/ha-kubesim.sh
dist_noinst_SCRIPTS += tests/election/ha-kubesim.sh
EXTRA_DIST += reconciler/election/README.md

# Under 409 Conflict (issue 11): kubesim's conflictRate and real concurrent
# writes against renewals and the release.
check_PROGRAMS += tests/election/test_election_conflicts
tests_election_test_election_conflicts_SOURCES = tests/election/test_election_conflicts.c tests/lib/kubesim_harness.c tests/lib/kubesim_harness.h
tests_election_test_election_conflicts_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS) $(CURL_CFLAGS)
tests_election_test_election_conflicts_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)
TESTS += tests/election/test_election_conflicts
