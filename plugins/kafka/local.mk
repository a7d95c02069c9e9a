# Kafka plugin (issue 6): plugins/kafka and its tests
