# Limits on what a plugin plans (docs/security.md "Limits"): a test plugin
# that plans at and past each limit, and the suite that checks the host
# takes the first and refuses the second. Never installed.
check_LTLIBRARIES += tests/plugin/oversize.la
tests_plugin_oversize_la_SOURCES = tests/plugin/oversize.c plugins/include/keelson/plugin.h
tests_plugin_oversize_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -rpath /nowhere

check_PROGRAMS += tests/plugin/test_plugin_limits
TESTS += tests/plugin/test_plugin_limits
tests_plugin_test_plugin_limits_SOURCES = tests/plugin/test_plugin_limits.c tests/plugin/plugin_paths.h \
	tests/plugin/fake_view.h tests/unit/check_main.h
tests_plugin_test_plugin_limits_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_plugin_test_plugin_limits_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)
