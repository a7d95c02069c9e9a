/* Internal to the plugin host: a plugin parameter as a layout field. */
#ifndef KEELSON_PLUGIN_PARAM_FIELDS_H
#define KEELSON_PLUGIN_PARAM_FIELDS_H

#include "keelson/plugin.h"
#include "layout/schema_table.h"

/* The layout loader's field for `param`. A parameter with a default is
 * never required: the document may leave it out. */
void keelson_plugin_param_field(struct keelson_field *out, const struct keelson_param *param);

#endif
