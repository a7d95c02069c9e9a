# Pull-request plans (issue 9): keelson plan --base --head
libkeelson_core_la_SOURCES += \
	reconciler/review/review.c reconciler/review/review.h \
	reconciler/review/render.c \
	reconciler/review/revisions.c reconciler/review/revisions.h

REVIEW_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
REVIEW_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

check_PROGRAMS += tests/review/test_review
tests_review_test_review_SOURCES = tests/review/test_review.c tests/unit/check_main.h
tests_review_test_review_CFLAGS = $(REVIEW_TEST_CFLAGS)
tests_review_test_review_LDADD = $(REVIEW_TEST_LDADD)

TESTS += tests/review/test_review tests/review/plan-review.sh tests/review/validate-plugins.sh
EXTRA_DIST += tests/review/plan-review.sh tests/review/validate-plugins.sh docs/pull-requests.md reconciler/review/README.md
