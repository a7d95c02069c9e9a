# kubesim: Kubernetes API server simulator (see tests/kubesim/README.md).
#
# libkubesim.la holds the object store, watch, controller runtime, clock and
# built-in types (store.h); the controllers part links it for its tests.
KUBESIM_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS)
# server.c checks client certificates on libmicrohttpd's GnuTLS session
# (libmicrohttpd is the GnuTLS build), so the HTTP layer links GnuTLS itself.
KUBESIM_HTTP_LIBS = $(MHD_LIBS) -lgnutls

noinst_LTLIBRARIES += libkubesim.la
libkubesim_la_SOURCES = \
	tests/kubesim/store.c tests/kubesim/store.h \
	tests/kubesim/clock.c tests/kubesim/clock.h \
	tests/kubesim/types.c tests/kubesim/types.h \
	tests/kubesim/sim.c tests/kubesim/sim.h \
	tests/kubesim/proto.c tests/kubesim/proto.h
libkubesim_la_CFLAGS = $(KUBESIM_CFLAGS)
libkubesim_la_LIBADD = libkeelson-core.la $(CJSON_LIBS) $(PTHREAD_LIBS) -lm

# The simulator binary (built by `make`, used by tests, bench and demo).
noinst_PROGRAMS += kubesim
# The HTTP layer, shared by the binary, its tests and the GET benchmark.
noinst_LTLIBRARIES += libkubesim-server.la
libkubesim_server_la_SOURCES = \
	tests/kubesim/server.c tests/kubesim/server.h \
	tests/kubesim/discovery.c tests/kubesim/crd.c tests/kubesim/table.c \
	tests/kubesim/tls.c tests/kubesim/tls.h
libkubesim_server_la_CFLAGS = $(KUBESIM_CFLAGS)
kubesim_SOURCES = tests/kubesim/main.c
kubesim_CFLAGS = $(KUBESIM_CFLAGS)
# Workload models: tests/kubesim/models/local.mk fills KUBESIM_MODEL_LIBS.
kubesim_LDADD = $(KUBESIM_MODEL_LIBS) libkubesim-server.la \
	libkubesim-controllers.la libkubesim-apply.la libkubesim-patch.la \
	libkubesim.la libkeelson-core.la \
	$(KUBESIM_HTTP_LIBS) $(CRYPTO_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS) -lm

kubesim_unit_tests = \
	tests/kubesim/unit/test_store \
	tests/kubesim/unit/test_server
check_PROGRAMS += $(kubesim_unit_tests)
TESTS += $(kubesim_unit_tests)

tests_kubesim_unit_test_store_SOURCES = tests/kubesim/unit/test_store.c
tests_kubesim_unit_test_store_CFLAGS = $(KUBESIM_CFLAGS) $(CHECK_CFLAGS)
tests_kubesim_unit_test_store_LDADD = libkubesim.la libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS)

# The real kubectl against kubesim (skipped when configure found no kubectl).
TESTS += tests/kubesim/kubectl-proof.sh
dist_noinst_SCRIPTS += tests/kubesim/kubectl-proof.sh

# The HTTP layer in-process, driven with libcurl.
tests_kubesim_unit_test_server_SOURCES = tests/kubesim/unit/test_server.c
tests_kubesim_unit_test_server_CFLAGS = $(KUBESIM_CFLAGS) $(CHECK_CFLAGS) $(CURL_CFLAGS)
tests_kubesim_unit_test_server_LDADD = libkubesim-server.la libkubesim-apply.la libkubesim-patch.la libkubesim.la \
	libkeelson-core.la $(CHECK_LIBS) $(CURL_LIBS) $(KUBESIM_HTTP_LIBS) $(CRYPTO_LIBS) $(CJSON_LIBS) \
	$(PTHREAD_LIBS) -lm

# GET throughput benchmark (run by hand; never a timed test).
noinst_PROGRAMS += bench/kubesim-get
bench_kubesim_get_SOURCES = bench/kubesim-get.c
bench_kubesim_get_CFLAGS = $(KUBESIM_CFLAGS) $(CURL_CFLAGS)
bench_kubesim_get_LDADD = libkubesim-server.la libkubesim-apply.la libkubesim-patch.la libkubesim.la \
	libkeelson-core.la $(CURL_LIBS) $(KUBESIM_HTTP_LIBS) $(CRYPTO_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS) -lm
EXTRA_DIST += tests/kubesim/README.md
# Shared start/stop plumbing sourced by the kubesim shell tests.
EXTRA_DIST += tests/lib/kubesim.sh tests/lib/scenario.sh tests/lib/README.md
TESTS += tests/lib/scenario-selftest.sh
dist_noinst_SCRIPTS += tests/lib/scenario-selftest.sh
