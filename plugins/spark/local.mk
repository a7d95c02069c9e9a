# Spark plugin (issue 8): plugins/spark and its tests
