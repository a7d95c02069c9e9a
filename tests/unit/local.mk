# Check suites for the core modules: one program per module.
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
UNIT_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

unit_tests = \
	tests/unit/test_error \
	tests/unit/test_log \
	tests/unit/test_json
check_PROGRAMS += $(unit_tests)
TESTS += $(unit_tests)

tests_unit_test_error_SOURCES = tests/unit/test_error.c tests/unit/check_main.h
tests_unit_test_error_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_error_LDADD = $(UNIT_LDADD)

tests_unit_test_log_SOURCES = tests/unit/test_log.c tests/unit/check_main.h
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(UNIT_LDADD)

tests_unit_test_json_SOURCES = tests/unit/test_json.c tests/unit/check_main.h
tests_unit_test_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_json_LDADD = $(UNIT_LDADD)
