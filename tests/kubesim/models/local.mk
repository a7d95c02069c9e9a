# Workload models behind kubesim's pod/service proxy. Each model adds its
# library to KUBESIM_MODEL_LIBS, which the kubesim binary links.
KUBESIM_MODEL_LIBS =

# Kafka model (kafka/README.md): simulated brokers behind the pod proxy,
# Cruise Control behind the service proxy, invariant log source "kafka".
# kubesim's main() calls ks_kafka_model_start() (kafka/kafka_model.h).
KS_KAFKA_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)

noinst_LTLIBRARIES += libkubesim-kafka.la
KUBESIM_MODEL_LIBS += libkubesim-kafka.la
libkubesim_kafka_la_SOURCES = \
	tests/kubesim/models/kafka/kafka_model.c tests/kubesim/models/kafka/kafka_model.h \
	tests/kubesim/models/kafka/kafka_internal.h \
	tests/kubesim/models/kafka/kafka_metrics.c \
	tests/kubesim/models/kafka/kafka_cc.c
libkubesim_kafka_la_CFLAGS = $(KS_KAFKA_CFLAGS)
libkubesim_kafka_la_LIBADD = libkubesim-controllers.la libkubesim.la libkeelson-core.la \
	$(CJSON_LIBS) $(PTHREAD_LIBS) -lm

check_PROGRAMS += tests/kubesim/models/kafka/test_kafka_model
TESTS += tests/kubesim/models/kafka/test_kafka_model
tests_kubesim_models_kafka_test_kafka_model_SOURCES = \
	tests/kubesim/models/kafka/test_kafka_model.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_models_kafka_test_kafka_model_CFLAGS = $(KS_KAFKA_CFLAGS) $(CHECK_CFLAGS)
tests_kubesim_models_kafka_test_kafka_model_LDADD = libkubesim-kafka.la \
	libkubesim-controllers.la libkubesim.la libkeelson-core.la \
	$(CHECK_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS) -lm

EXTRA_DIST += tests/kubesim/models/kafka/README.md

# Cassandra model (cassandra/README.md): simulated ring behind the pod proxy
# (Management API) and pods/exec (nodetool), preStop drain honoured,
# invariant log source "cassandra". kubesim's main() calls
# ks_cassandra_model_start() (cassandra/cassandra_model.h).
KS_CASSANDRA_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)

noinst_LTLIBRARIES += libkubesim-cassandra.la
KUBESIM_MODEL_LIBS += libkubesim-cassandra.la
libkubesim_cassandra_la_SOURCES = \
	tests/kubesim/models/cassandra/cassandra_model.c \
	tests/kubesim/models/cassandra/cassandra_model.h \
	tests/kubesim/models/cassandra/cassandra_internal.h \
	tests/kubesim/models/cassandra/cassandra_api.c
libkubesim_cassandra_la_CFLAGS = $(KS_CASSANDRA_CFLAGS)
libkubesim_cassandra_la_LIBADD = libkubesim.la libkeelson-core.la \
	$(CJSON_LIBS) $(PTHREAD_LIBS) -lm

check_PROGRAMS += tests/kubesim/models/cassandra/test_cassandra_model
TESTS += tests/kubesim/models/cassandra/test_cassandra_model
tests_kubesim_models_cassandra_test_cassandra_model_SOURCES = \
	tests/kubesim/models/cassandra/test_cassandra_model.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_models_cassandra_test_cassandra_model_CFLAGS = $(KS_CASSANDRA_CFLAGS) $(CHECK_CFLAGS) \
	-DKC_EXAMPLE_DIR='"$(abs_top_srcdir)/repo-layout/example/clusters/prod-chicago/cassandra-chicago"'
tests_kubesim_models_cassandra_test_cassandra_model_LDADD = libkubesim-cassandra.la \
	libkubesim-controllers.la libkubesim.la libkeelson-core.la \
	$(CHECK_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS) -lm

EXTRA_DIST += tests/kubesim/models/cassandra/README.md

# The model inside the kubesim binary with the real kubectl (skips, 77,
# until kubesim links $(KUBESIM_MODEL_LIBS) and starts the model).
TESTS += tests/kubesim/models/kafka/kafka-kubesim.sh
dist_noinst_SCRIPTS += tests/kubesim/models/kafka/kafka-kubesim.sh

# Spark model (spark/README.md): keelson-labelled driver pods run and end,
# executors owned by them, invariant log source "spark". kubesim's main()
# calls ks_spark_model_start() (spark/spark_model.h).
KS_SPARK_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)

noinst_LTLIBRARIES += libkubesim-spark.la
KUBESIM_MODEL_LIBS += libkubesim-spark.la
libkubesim_spark_la_SOURCES = \
	tests/kubesim/models/spark/spark_model.c tests/kubesim/models/spark/spark_model.h
libkubesim_spark_la_CFLAGS = $(KS_SPARK_CFLAGS)
libkubesim_spark_la_LIBADD = libkubesim-controllers.la libkubesim.la libkeelson-core.la \
	$(CJSON_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/kubesim/models/spark/test_spark_model
TESTS += tests/kubesim/models/spark/test_spark_model
tests_kubesim_models_spark_test_spark_model_SOURCES = \
	tests/kubesim/models/spark/test_spark_model.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_models_spark_test_spark_model_CFLAGS = $(KS_SPARK_CFLAGS) $(CHECK_CFLAGS)
tests_kubesim_models_spark_test_spark_model_LDADD = libkubesim-spark.la \
	libkubesim-controllers.la libkubesim.la libkeelson-core.la \
	$(CHECK_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS) -lm

EXTRA_DIST += tests/kubesim/models/spark/README.md
