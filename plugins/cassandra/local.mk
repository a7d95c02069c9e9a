# Cassandra plugin (issue 7): plugins/cassandra and its tests
pkglib_LTLIBRARIES += plugins/cassandra/cassandra.la
plugins_cassandra_cassandra_la_SOURCES = \
	plugins/cassandra/cassandra.c \
	plugins/cassandra/cass_json.c plugins/cassandra/cass_json.h \
	plugins/include/keelson/plugin.h
plugins_cassandra_cassandra_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LDFLAGS)

# The planner against a fake host (loads the built plugin).
check_PROGRAMS += tests/cassandra/test_cassandra_plan
tests_cassandra_test_cassandra_plan_SOURCES = tests/cassandra/test_cassandra_plan.c \
	tests/plugin/plugin_paths.h tests/unit/check_main.h
tests_cassandra_test_cassandra_plan_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_cassandra_test_cassandra_plan_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

# Scenario tests: keelson run with the plugin against kubesim's Cassandra model.
cassandra_scenarios = \
	tests/cassandra/roll-one-rack.sh \
	tests/cassandra/roll-three-racks.sh \
	tests/cassandra/dn-blocked.sh \
	tests/cassandra/scale.sh \
	tests/cassandra/example.sh \
	tests/cassandra/volume-expansion.sh
TESTS += tests/cassandra/test_cassandra_plan $(cassandra_scenarios)

EXTRA_DIST += \
	plugins/cassandra/README.md \
	$(cassandra_scenarios) \
	tests/cassandra/lib.sh \
	tests/cassandra/repo/keelson.yaml \
	tests/cassandra/repo/clusters/sim/cluster.yaml \
	tests/cassandra/repo/clusters/sim/cass/namespace.yaml \
	tests/cassandra/repo/clusters/sim/cass/configmap.yaml \
	tests/cassandra/repo/clusters/sim/cass/statefulset.yaml \
	tests/cassandra/repo/clusters/sim/cass/system.yaml \
	tests/cassandra/repo-racks/keelson.yaml \
	tests/cassandra/repo-racks/clusters/sim/cluster.yaml \
	tests/cassandra/repo-racks/clusters/sim/cass/namespace.yaml \
	tests/cassandra/repo-racks/clusters/sim/cass/configmap.yaml \
	tests/cassandra/repo-racks/clusters/sim/cass/statefulset-a.yaml \
	tests/cassandra/repo-racks/clusters/sim/cass/statefulset-b.yaml \
	tests/cassandra/repo-racks/clusters/sim/cass/statefulset-c.yaml \
	tests/cassandra/repo-racks/clusters/sim/cass/system.yaml
