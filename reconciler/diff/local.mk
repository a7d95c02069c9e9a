# Diff: desired vs live per field, quantities, managedFields, ignore rules,
# unified/JSON rendering, `keelson diff` (keelson issue 5, "Diff").
libkeelson_core_la_SOURCES += \
	reconciler/diff/quantity.c reconciler/diff/quantity.h \
	reconciler/diff/list_semantics.c reconciler/diff/list_semantics.h \
	reconciler/diff/diff.c reconciler/diff/diff.h \
	reconciler/diff/render.c \
	reconciler/cli/cmd_diff.c

DIFF_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
DIFF_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

diff_unit_tests = \
	tests/diff/test_quantity \
	tests/diff/test_diff \
	tests/diff/test_render
check_PROGRAMS += $(diff_unit_tests)
TESTS += $(diff_unit_tests) tests/diff/diff-kubesim.sh

# Against kubesim: keelson's own apply, live state from the watch cache
# (skipped when kubesim is not built).
check_PROGRAMS += tests/diff/test_diff_kubesim
TESTS += tests/diff/test_diff_kubesim
tests_diff_test_diff_kubesim_SOURCES = tests/diff/test_diff_kubesim.c tests/lib/kubesim_harness.c tests/lib/kubesim_harness.h tests/unit/check_main.h
tests_diff_test_diff_kubesim_CFLAGS = $(DIFF_TEST_CFLAGS) $(CURL_CFLAGS)
tests_diff_test_diff_kubesim_LDADD = $(DIFF_TEST_LDADD) $(CURL_LIBS) $(PTHREAD_LIBS)

tests_diff_test_quantity_SOURCES = tests/diff/test_quantity.c tests/unit/check_main.h
tests_diff_test_quantity_CFLAGS = $(DIFF_TEST_CFLAGS)
tests_diff_test_quantity_LDADD = $(DIFF_TEST_LDADD)

tests_diff_test_diff_SOURCES = tests/diff/test_diff.c tests/unit/check_main.h
tests_diff_test_diff_CFLAGS = $(DIFF_TEST_CFLAGS)
tests_diff_test_diff_LDADD = $(DIFF_TEST_LDADD)

tests_diff_test_render_SOURCES = tests/diff/test_render.c tests/unit/check_main.h
tests_diff_test_render_CFLAGS = $(DIFF_TEST_CFLAGS)
tests_diff_test_render_LDADD = $(DIFF_TEST_LDADD)

# Benchmark: time and memory to diff 10,000 and 100,000 objects. Built
# with everything else so it cannot rot; never part of `make check`. Run
# from a build configured without --enable-sanitizers.
noinst_PROGRAMS += tests/diff/bench-diff
tests_diff_bench_diff_SOURCES = tests/diff/bench-diff.c
tests_diff_bench_diff_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
tests_diff_bench_diff_LDADD = libkeelson-core.la $(CJSON_LIBS)

# The repository the kubesim test diffs (explicit list, no wildcards).
EXTRA_DIST += \
	tests/diff/diff-kubesim.sh \
	tests/diff/repo/clusters/sim/cluster.yaml \
	tests/diff/repo/clusters/sim/web/configmap.yaml \
	tests/diff/repo/clusters/sim/web/namespace.yaml \
	tests/diff/repo/clusters/sim/web/secret.yaml \
	tests/diff/repo/clusters/sim/web/service.yaml \
	tests/diff/repo/clusters/sim/web/statefulset.yaml \
	tests/diff/repo/clusters/sim/web/system.yaml \
	tests/diff/repo/keelson.yaml

