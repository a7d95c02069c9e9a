# Cassandra plugin (issue 7): plugins/cassandra and its tests
pkglib_LTLIBRARIES += plugins/cassandra/cassandra.la
plugins_cassandra_cassandra_la_SOURCES = \
	plugins/cassandra/cassandra.c \
	plugins/cassandra/cass_json.c plugins/cassandra/cass_json.h \
	plugins/include/keelson/plugin.h
plugins_cassandra_cassandra_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LDFLAGS)

EXTRA_DIST += plugins/cassandra/README.md
