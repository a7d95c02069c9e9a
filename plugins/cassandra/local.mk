# Cassandra plugin (issue 7): plugins/cassandra and its tests
