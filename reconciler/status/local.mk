# Status committed back to Git (keelson issue 9, "Status committed back to
# Git"): the status branch writer, forge commit statuses, `keelson status`.
libkeelson_core_la_SOURCES += \
	reconciler/status/status_writer.c reconciler/status/status_writer.h \
	reconciler/status/forge.c reconciler/status/forge.h \
	reconciler/cli/cmd_status.c
libkeelson_core_la_CFLAGS += $(LIBGIT2_CFLAGS) $(CURL_CFLAGS)
libkeelson_core_la_LIBADD += $(LIBGIT2_LIBS) $(CURL_LIBS)

# Tests: a real bare repository served from disk (file://) and by
# `git daemon` with receive-pack enabled; forge statuses against a
# libmicrohttpd server in the test; `keelson status` output.
check_PROGRAMS += tests/status/test_status
TESTS += tests/status/test_status

tests_status_test_status_SOURCES = tests/status/test_status.c tests/unit/check_main.h
tests_status_test_status_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBGIT2_CFLAGS) $(MHD_CFLAGS) $(CJSON_CFLAGS)
tests_status_test_status_LDADD = libkeelson-core.la $(CHECK_LIBS) $(LIBGIT2_LIBS) $(MHD_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS)
