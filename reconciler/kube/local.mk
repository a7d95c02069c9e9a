# Kubernetes client: kubeconfig, HTTP (libcurl), discovery, verbs, watch
# cache (keelson issue 5, "Kubernetes client").
libkeelson_core_la_SOURCES += \
	reconciler/kube/kube_config.c reconciler/kube/kube_config.h \
	reconciler/kube/kube_ratelimit.c reconciler/kube/kube_ratelimit.h \
	reconciler/kube/kube_client.c reconciler/kube/kube_client.h \
	reconciler/kube/kube_cache.c reconciler/kube/kube_cache.h
libkeelson_core_la_CFLAGS += $(CURL_CFLAGS)
libkeelson_core_la_LIBADD += $(CURL_LIBS)

KUBE_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS) $(CURL_CFLAGS)
KUBE_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)

kube_unit_tests = \
	tests/kube/test_kube_config \
	tests/kube/test_kube_ratelimit
check_PROGRAMS += $(kube_unit_tests)
TESTS += $(kube_unit_tests)

tests_kube_test_kube_config_SOURCES = tests/kube/test_kube_config.c tests/unit/check_main.h
tests_kube_test_kube_config_CFLAGS = $(KUBE_TEST_CFLAGS)
tests_kube_test_kube_config_LDADD = $(KUBE_TEST_LDADD)

tests_kube_test_kube_ratelimit_SOURCES = tests/kube/test_kube_ratelimit.c tests/unit/check_main.h
tests_kube_test_kube_ratelimit_CFLAGS = $(KUBE_TEST_CFLAGS)
tests_kube_test_kube_ratelimit_LDADD = $(KUBE_TEST_LDADD)

# Client tests against a small HTTPS server (libmicrohttpd, GnuTLS) with
# certificates made at start (libcrypto). -lgnutls: the test server checks
# client certificates through the GnuTLS session MHD exposes; -lssl: a raw
# OpenSSL server checks that the client offers HTTP/2 in ALPN.
kube_server_tests = tests/kube/test_kube_client tests/kube/test_kube_cache
check_PROGRAMS += $(kube_server_tests)
TESTS += $(kube_server_tests)

KUBE_SERVER_SOURCES = \
	tests/kube/mini_server.c tests/kube/mini_server.h \
	tests/kube/tls_fixture.c tests/kube/tls_fixture.h \
	tests/unit/check_main.h
KUBE_SERVER_CFLAGS = $(KUBE_TEST_CFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS)
KUBE_SERVER_LDADD = $(KUBE_TEST_LDADD) $(MHD_LIBS) $(CRYPTO_LIBS) -lgnutls -lssl

tests_kube_test_kube_client_SOURCES = tests/kube/test_kube_client.c $(KUBE_SERVER_SOURCES)
tests_kube_test_kube_client_CFLAGS = $(KUBE_SERVER_CFLAGS)
tests_kube_test_kube_client_LDADD = $(KUBE_SERVER_LDADD)

tests_kube_test_kube_cache_SOURCES = tests/kube/test_kube_cache.c $(KUBE_SERVER_SOURCES)
tests_kube_test_kube_cache_CFLAGS = $(KUBE_SERVER_CFLAGS)
tests_kube_test_kube_cache_LDADD = $(KUBE_SERVER_LDADD)

# Client and cache against kubesim (skipped when kubesim is not built).
check_PROGRAMS += tests/kube/test_kube_kubesim
TESTS += tests/kube/test_kube_kubesim
tests_kube_test_kube_kubesim_SOURCES = tests/kube/test_kube_kubesim.c tests/lib/kubesim_harness.c tests/lib/kubesim_harness.h tests/unit/check_main.h
tests_kube_test_kube_kubesim_CFLAGS = $(KUBE_TEST_CFLAGS)
tests_kube_test_kube_kubesim_LDADD = $(KUBE_TEST_LDADD)

# An idle keelson run against kubesim makes no request but re-opening
# watches (runs bench/idle-cost.sh with short watches).
TESTS += tests/kube/idle-kubesim.sh
EXTRA_DIST += tests/kube/idle-kubesim.sh
