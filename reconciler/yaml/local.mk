# YAML loader: libyaml -> cJSON with source positions (keelson issue 2).
libkeelson_core_la_SOURCES += \
	reconciler/yaml/yaml_load.c reconciler/yaml/yaml_load.h
