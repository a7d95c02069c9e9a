# The specification, schemas and example repository ship in the distribution.
# Explicit list (no wildcards); tests/layout/dist-lists.sh checks it is complete.
EXTRA_DIST += \
	repo-layout/README.md \
	repo-layout/example/README.md \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/configmap.yaml \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/namespace.yaml \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/pdb.yaml \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/rbac.yaml \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/service.yaml \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/statefulset.yaml \
	repo-layout/example/clusters/prod-chicago/cassandra-chicago/system.yaml \
	repo-layout/example/clusters/prod-chicago/cluster.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/configmap.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/namespace.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/pdb.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/rbac.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/services.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/statefulset.yaml \
	repo-layout/example/clusters/prod-chicago/kafka-events/system.yaml \
	repo-layout/example/clusters/prod-chicago/platform/priorityclass.yaml \
	repo-layout/example/clusters/prod-chicago/platform/system.yaml \
	repo-layout/example/clusters/prod-chicago/spark-etl/configmap.yaml \
	repo-layout/example/clusters/prod-chicago/spark-etl/namespace.yaml \
	repo-layout/example/clusters/prod-chicago/spark-etl/rbac.yaml \
	repo-layout/example/clusters/prod-chicago/spark-etl/sparkapplication.yaml \
	repo-layout/example/clusters/prod-chicago/spark-etl/system.yaml \
	repo-layout/example/clusters/staging/cluster.yaml \
	repo-layout/example/clusters/staging/spark-etl/configmap.yaml \
	repo-layout/example/clusters/staging/spark-etl/namespace.yaml \
	repo-layout/example/clusters/staging/spark-etl/rbac.yaml \
	repo-layout/example/clusters/staging/spark-etl/sparkapplication.yaml \
	repo-layout/example/clusters/staging/spark-etl/system.yaml \
	repo-layout/example/docs/kafka-client.yaml \
	repo-layout/example/keelson.yaml \
	repo-layout/schema/cluster.schema.json \
	repo-layout/schema/repository.schema.json \
	repo-layout/schema/system.schema.json
