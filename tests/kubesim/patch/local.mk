# kubesim patch engines and selectors: pure cJSON libraries, no HTTP.
noinst_LTLIBRARIES += libkubesim-patch.la
libkubesim_patch_la_SOURCES = \
	tests/kubesim/patch/merge_keys.c tests/kubesim/patch/merge_keys.h \
	tests/kubesim/patch/json_patch.c tests/kubesim/patch/json_patch.h \
	tests/kubesim/patch/json_util.c tests/kubesim/patch/json_util.h \
	tests/kubesim/patch/merge_patch.c tests/kubesim/patch/merge_patch.h \
	tests/kubesim/patch/strategic_merge.c tests/kubesim/patch/strategic_merge.h \
	tests/kubesim/patch/selectors.c tests/kubesim/patch/selectors.h
libkubesim_patch_la_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
libkubesim_patch_la_LIBADD = libkeelson-core.la $(CJSON_LIBS)

KS_PATCH_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
KS_PATCH_TEST_LDADD = libkubesim-patch.la libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

ks_patch_tests = \
	tests/kubesim/patch/test_merge_keys \
	tests/kubesim/patch/test_json_patch \
	tests/kubesim/patch/test_merge_patch \
	tests/kubesim/patch/test_strategic_merge \
	tests/kubesim/patch/test_selectors
check_PROGRAMS += $(ks_patch_tests)
TESTS += $(ks_patch_tests)

tests_kubesim_patch_test_merge_keys_SOURCES = tests/kubesim/patch/test_merge_keys.c
tests_kubesim_patch_test_merge_keys_CFLAGS = $(KS_PATCH_TEST_CFLAGS)
tests_kubesim_patch_test_merge_keys_LDADD = $(KS_PATCH_TEST_LDADD)

tests_kubesim_patch_test_json_patch_SOURCES = tests/kubesim/patch/test_json_patch.c \
	tests/kubesim/patch/test_support.h
tests_kubesim_patch_test_json_patch_CFLAGS = $(KS_PATCH_TEST_CFLAGS)
tests_kubesim_patch_test_json_patch_LDADD = $(KS_PATCH_TEST_LDADD)

tests_kubesim_patch_test_merge_patch_SOURCES = tests/kubesim/patch/test_merge_patch.c \
	tests/kubesim/patch/test_support.h
tests_kubesim_patch_test_merge_patch_CFLAGS = $(KS_PATCH_TEST_CFLAGS)
tests_kubesim_patch_test_merge_patch_LDADD = $(KS_PATCH_TEST_LDADD)

tests_kubesim_patch_test_strategic_merge_SOURCES = tests/kubesim/patch/test_strategic_merge.c \
	tests/kubesim/patch/test_support.h
tests_kubesim_patch_test_strategic_merge_CFLAGS = $(KS_PATCH_TEST_CFLAGS)
tests_kubesim_patch_test_strategic_merge_LDADD = $(KS_PATCH_TEST_LDADD)

tests_kubesim_patch_test_selectors_SOURCES = tests/kubesim/patch/test_selectors.c \
	tests/kubesim/patch/test_support.h
tests_kubesim_patch_test_selectors_CFLAGS = $(KS_PATCH_TEST_CFLAGS)
tests_kubesim_patch_test_selectors_LDADD = $(KS_PATCH_TEST_LDADD)

EXTRA_DIST += tests/kubesim/patch/README.md
