# Apply, prune and the reconcile loop (keelson issue 5, "Apply and prune",
# "Reconcile loop and CLI"): daemon configuration, inventory, generic apply,
# the cycle, `keelson run` and `keelson sync --once`.
libkeelson_core_la_SOURCES += \
	reconciler/config/config.c reconciler/config/config.h \
	reconciler/reconcile/rules.c reconciler/reconcile/rules.h \
	reconciler/reconcile/inventory.c reconciler/reconcile/inventory.h \
	reconciler/reconcile/generic_apply.c reconciler/reconcile/generic_apply.h \
	reconciler/reconcile/events.c reconciler/reconcile/events.h \
	reconciler/reconcile/daemon.c reconciler/reconcile/daemon.h \
	reconciler/reconcile/reconcile.c reconciler/reconcile/reconcile.h \
	reconciler/cli/cmd_run.c reconciler/cli/cmd_sync.c

RECONCILE_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
RECONCILE_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

reconcile_unit_tests = \
	tests/reconcile/test_config \
	tests/reconcile/test_reconcile_rules \
	tests/reconcile/test_generic_apply \
	tests/reconcile/test_daemon
check_PROGRAMS += $(reconcile_unit_tests)
TESTS += $(reconcile_unit_tests) tests/reconcile/reconcile-kubesim.sh tests/reconcile/plugin-rollout-kubesim.sh \
	tests/status/daemon-kubesim.sh

tests_reconcile_test_config_SOURCES = tests/reconcile/test_config.c tests/unit/check_main.h
tests_reconcile_test_config_CFLAGS = $(RECONCILE_TEST_CFLAGS)
tests_reconcile_test_config_LDADD = $(RECONCILE_TEST_LDADD)

tests_reconcile_test_reconcile_rules_SOURCES = tests/reconcile/test_reconcile_rules.c tests/unit/check_main.h
tests_reconcile_test_reconcile_rules_CFLAGS = $(RECONCILE_TEST_CFLAGS)
tests_reconcile_test_reconcile_rules_LDADD = $(RECONCILE_TEST_LDADD)

tests_reconcile_test_generic_apply_SOURCES = tests/reconcile/test_generic_apply.c tests/unit/check_main.h
tests_reconcile_test_generic_apply_CFLAGS = $(RECONCILE_TEST_CFLAGS) $(CURL_CFLAGS)
tests_reconcile_test_generic_apply_LDADD = $(RECONCILE_TEST_LDADD)

EXTRA_DIST += tests/reconcile/reconcile-kubesim.sh tests/reconcile/plugin-rollout-kubesim.sh tests/status/daemon-kubesim.sh docs/man/keelson.yaml.5 reconciler/reconcile/README.md

tests_reconcile_test_daemon_SOURCES = tests/reconcile/test_daemon.c tests/unit/check_main.h
tests_reconcile_test_daemon_CFLAGS = $(RECONCILE_TEST_CFLAGS) $(CURL_CFLAGS)
tests_reconcile_test_daemon_LDADD = $(RECONCILE_TEST_LDADD) $(CURL_LIBS)

# Incremental commits (issue 12): only changed systems are diffed; the Git tree entry limit.
TESTS += tests/reconcile/incremental-kubesim.sh
EXTRA_DIST += tests/reconcile/incremental-kubesim.sh
# One server-side apply per new object, keelson's labels included; the
# upgrade from labels applied apart by field manager keelson-ownership.
TESTS += tests/reconcile/apply-requests-kubesim.sh
EXTRA_DIST += tests/reconcile/apply-requests-kubesim.sh
