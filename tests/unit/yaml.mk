# YAML loader tests: the Check suite, the dump tool and the kubectl agreement
# test, which runs kubectl on every fixture and compares with yaml_dump.
check_PROGRAMS += tests/unit/test_yaml tests/unit/yaml_dump
TESTS += tests/unit/test_yaml tests/unit/yaml-kubectl-agreement.sh

tests_unit_test_yaml_SOURCES = tests/unit/test_yaml.c tests/unit/check_main.h
tests_unit_test_yaml_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_yaml_LDADD = $(UNIT_LDADD)

tests_unit_yaml_dump_SOURCES = tests/unit/yaml_dump.c
tests_unit_yaml_dump_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
tests_unit_yaml_dump_LDADD = libkeelson-core.la $(CJSON_LIBS)

EXTRA_DIST += tests/unit/yaml-kubectl-agreement.sh tests/unit/yaml-fixtures
