# Plugin ABI, host and executor (keelson issue 6, "Plugin ABI and host").
# The SDK header is the only public header; plugins include it and libc.
keelsonincludedir = $(includedir)/keelson
keelsoninclude_HEADERS = plugins/include/keelson/plugin.h

libkeelson_core_la_SOURCES += \
	reconciler/plugin/plugin_host.h \
	reconciler/plugin/param_fields.h \
	reconciler/plugin/registry.c \
	reconciler/plugin/params.c \
	reconciler/plugin/plan.c \
	reconciler/plugin/executor.c reconciler/plugin/executor.h \
	reconciler/cli/cmd_plugins.c \
	reconciler/cli/cmd_plan.c
libkeelson_core_la_CFLAGS += -DKEELSON_PLUGIN_DIR='"$(pkglibdir)"'
libkeelson_core_la_LIBADD += -ldl

# Only the entry point is exported: nothing else of a plugin can collide
# with the host or another plugin.
PLUGIN_LDFLAGS = -module -avoid-version -export-symbols-regex '^keelson_plugin_entry$$'

pkglib_LTLIBRARIES = plugins/example/restart-one-at-a-time.la
plugins_example_restart_one_at_a_time_la_SOURCES = plugins/example/restart_one.c plugins/include/keelson/plugin.h
plugins_example_restart_one_at_a_time_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LDFLAGS)

# Broken on purpose, for the host tests; never installed.
TESTING_PLUGIN_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -rpath /nowhere
check_LTLIBRARIES += \
	plugins/testing/wrong_abi.la \
	plugins/testing/short_struct.la \
	plugins/testing/twin_a.la \
	plugins/testing/twin_b.la \
	plugins/testing/no_entry.la \
	plugins/testing/misbehaving.la
plugins_testing_wrong_abi_la_SOURCES = plugins/testing/wrong_abi.c
plugins_testing_wrong_abi_la_LDFLAGS = $(TESTING_PLUGIN_LDFLAGS)
plugins_testing_short_struct_la_SOURCES = plugins/testing/short_struct.c
plugins_testing_short_struct_la_LDFLAGS = $(TESTING_PLUGIN_LDFLAGS)
plugins_testing_twin_a_la_SOURCES = plugins/testing/twin.c
plugins_testing_twin_a_la_CPPFLAGS = $(AM_CPPFLAGS) -DTWIN_VERSION='"a"'
plugins_testing_twin_a_la_LDFLAGS = $(TESTING_PLUGIN_LDFLAGS)
plugins_testing_twin_b_la_SOURCES = plugins/testing/twin.c
plugins_testing_twin_b_la_CPPFLAGS = $(AM_CPPFLAGS) -DTWIN_VERSION='"b"'
plugins_testing_twin_b_la_LDFLAGS = $(TESTING_PLUGIN_LDFLAGS)
plugins_testing_no_entry_la_SOURCES = plugins/testing/no_entry.c
plugins_testing_no_entry_la_LDFLAGS = $(TESTING_PLUGIN_LDFLAGS)
plugins_testing_misbehaving_la_SOURCES = plugins/testing/misbehaving.c
plugins_testing_misbehaving_la_LDFLAGS = $(TESTING_PLUGIN_LDFLAGS)

PLUGIN_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
PLUGIN_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

plugin_tests = \
	tests/plugin/test_plugin_host \
	tests/plugin/test_plugin_plan \
	tests/plugin/test_executor
check_PROGRAMS += $(plugin_tests)
TESTS += $(plugin_tests)

tests_plugin_test_plugin_host_SOURCES = tests/plugin/test_plugin_host.c tests/plugin/plugin_paths.h tests/plugin/fake_view.h tests/unit/check_main.h
tests_plugin_test_plugin_host_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_plugin_test_plugin_host_LDADD = $(PLUGIN_TEST_LDADD)

tests_plugin_test_plugin_plan_SOURCES = tests/plugin/test_plugin_plan.c tests/plugin/plugin_paths.h tests/plugin/fake_view.h tests/unit/check_main.h
tests_plugin_test_plugin_plan_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_plugin_test_plugin_plan_LDADD = $(PLUGIN_TEST_LDADD)

tests_plugin_test_executor_SOURCES = tests/plugin/test_executor.c tests/plugin/plugin_paths.h tests/plugin/fake_view.h tests/unit/check_main.h
tests_plugin_test_executor_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_plugin_test_executor_LDADD = $(PLUGIN_TEST_LDADD)

# The fallback parameter tables of `keelson validate` agree with the plugins.
check_PROGRAMS += tests/plugin/test_provisional_tables
TESTS += tests/plugin/test_provisional_tables
tests_plugin_test_provisional_tables_SOURCES = tests/plugin/test_provisional_tables.c tests/plugin/plugin_paths.h tests/unit/check_main.h
tests_plugin_test_provisional_tables_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_plugin_test_provisional_tables_LDADD = $(PLUGIN_TEST_LDADD)

# The executor against kubesim, killed with SIGKILL mid-roll.
check_PROGRAMS += tests/plugin/exec_driver
tests_plugin_exec_driver_SOURCES = tests/plugin/exec_driver.c
tests_plugin_exec_driver_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_plugin_exec_driver_LDADD = libkeelson-core.la $(CJSON_LIBS)
TESTS += tests/plugin/executor-kubesim.sh tests/plugin/plugins-cli.sh

EXTRA_DIST += \
	docs/internals/plugins.md \
	tests/plugin/executor-kubesim.sh \
	tests/plugin/plugins-cli.sh \
	tests/plugin/repo/keelson.yaml \
	tests/plugin/repo/clusters/sim/cluster.yaml \
	tests/plugin/repo/clusters/sim/web/namespace.yaml \
	tests/plugin/repo/clusters/sim/web/statefulset.yaml \
	tests/plugin/repo/clusters/sim/web/system.yaml
