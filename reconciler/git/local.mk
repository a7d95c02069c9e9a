# Git source (libgit2): bare cache, poll without fetch when the ref did not
# move, files of a commit from the object database, trigger (interval +
# inotify on local refs), SSH commit signatures.
libkeelson_core_la_SOURCES += \
	reconciler/git/git_source.c reconciler/git/git_source.h \
	reconciler/git/network_deadline.c reconciler/git/network_deadline.h \
	reconciler/git/git_trigger.c reconciler/git/git_trigger.h \
	reconciler/git/known_hosts.c reconciler/git/known_hosts.h \
	reconciler/git/tls_ca.c reconciler/git/tls_ca.h \
	reconciler/git/signature.c reconciler/git/signature.h
libkeelson_core_la_CFLAGS += $(LIBGIT2_CFLAGS) $(CRYPTO_CFLAGS) $(GPGME_CFLAGS)
libkeelson_core_la_LIBADD += $(LIBGIT2_LIBS) $(INOTIFYTOOLS_LIBS) $(CRYPTO_LIBS) $(GPGME_LIBS)

# Tests: real repositories made with the git command line, served by a real
# `git daemon` and by git http-backend behind tests/git/git_http_server.
check_PROGRAMS += tests/git/test_git_source tests/git/git_http_server
TESTS += tests/git/test_git_source

tests_git_test_git_source_SOURCES = tests/git/test_git_source.c tests/unit/check_main.h
tests_git_test_git_source_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBGIT2_CFLAGS)
tests_git_test_git_source_LDADD = libkeelson-core.la $(CHECK_LIBS) $(LIBGIT2_LIBS)

tests_git_git_http_server_SOURCES = tests/git/git_http_server.c
tests_git_git_http_server_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
tests_git_git_http_server_LDADD = $(MHD_LIBS) $(PTHREAD_LIBS)

EXTRA_DIST += reconciler/git/README.md
