/*
 * Plugin registry: dlopen, descriptor checks, the built-in generic plugin,
 * and the tables the layout loader validates System documents against.
 */
#include "config.h"

#include "plugin/plugin_host.h"
#include "plugin/param_fields.h"

#include "core/error.h"
#include "layout/schema_table.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLUGINS 256
#define MAX_PARAMS 256

struct loaded {
	const struct keelson_plugin *plugin;
	char *path;   /* NULL for built-ins */
	void *handle; /* dlopen handle */
};

struct keelson_plugin_registry {
	struct loaded items[MAX_PLUGINS];
	size_t count;
	/* What keelson_layout_set_plugins points at while installed. */
	struct keelson_plugin_info *layout_infos;
	struct keelson_field **layout_fields;
	size_t layout_count;
	bool installed;
};

/* The built-in generic plugin: every missing or drifted object is applied,
 * in repository order; nothing is gated. */
static int generic_plan(const struct keelson_host *host, struct keelson_plugin_call *call,
			const struct keelson_view *view)
{
	for (size_t i = 0; i < view->object_count; i++) {
		const struct keelson_view_object *o = &view->objects[i];
		if (o->state == KEELSON_OBJECT_IN_SYNC)
			continue;
		char description[512];
		snprintf(description, sizeof(description), "apply %s %s%s%s (%s)", o->kind,
			 o->namespace_[0] ? o->namespace_ : "", o->namespace_[0] ? "/" : "", o->name,
			 o->state == KEELSON_OBJECT_MISSING ? "missing" : "drifted");
		struct keelson_step step = {.struct_size = sizeof(step), .kind = KEELSON_STEP_APPLY,
					    .description = description, .object = o->desired};
		if (host->add_step(call, &step) != 0)
			return -1;
	}
	return 0;
}

static const struct keelson_plugin generic_plugin = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "generic",
	.version = PACKAGE_VERSION,
	.description = "applies plain objects in repository order, no data-plane gates (built in)",
	.params = NULL,
	.plan = generic_plan,
};

int keelson_plugin_registry_new(struct keelson_plugin_registry **out)
{
	*out = NULL;
	struct keelson_plugin_registry *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory creating the plugin registry");
	r->items[r->count++].plugin = &generic_plugin;
	*out = r;
	return 0;
}

static void free_layout(struct keelson_plugin_registry *r)
{
	for (size_t i = 0; i < r->layout_count; i++)
		free(r->layout_fields[i]);
	free(r->layout_fields);
	free(r->layout_infos);
	r->layout_fields = NULL;
	r->layout_infos = NULL;
	r->layout_count = 0;
}

void keelson_plugin_registry_free(struct keelson_plugin_registry *registry)
{
	if (registry == NULL)
		return;
	if (registry->installed)
		keelson_plugin_registry_uninstall_layout(registry);
	free_layout(registry);
	for (size_t i = 0; i < registry->count; i++) {
		free(registry->items[i].path);
		if (registry->items[i].handle != NULL)
			dlclose(registry->items[i].handle);
	}
	free(registry);
}

static bool valid_name(const char *name)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > 63)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return name[0] != '-';
}

/* A table the host cannot parse is refused at load time, not at the first
 * system that uses it. */
static int check_params(const struct keelson_plugin *p, const char *path)
{
	if (p->params == NULL)
		return 0;
	size_t n = 0;
	for (const struct keelson_param *a = p->params; a->type != KEELSON_PARAM_END; a++, n++) {
		if (n >= MAX_PARAMS)
			return keelson_error_set(KEELSON_EINVALID,
				"plugin %s (%s): the parameter table has more than %d entries or no "
				"KEELSON_PARAM_END terminator", p->name, path, MAX_PARAMS);
		if (a->name == NULL || a->name[0] == '\0' || a->type > KEELSON_PARAM_ENUM ||
		    (a->type == KEELSON_PARAM_ENUM && a->enum_values == NULL))
			return keelson_error_set(KEELSON_EINVALID,
				"plugin %s (%s): parameter %zu has no name, an unknown type or an enum "
				"without values; rebuild the plugin against keelson/plugin.h",
				p->name, path, n);
		for (const struct keelson_param *b = p->params; b != a; b++)
			if (strcmp(a->name, b->name) == 0)
				return keelson_error_set(KEELSON_EINVALID,
					"plugin %s (%s): parameter \"%s\" is declared twice", p->name, path, a->name);
	}
	return 0;
}

int keelson_plugin_registry_load_file(struct keelson_plugin_registry *registry, const char *path)
{
	if (registry->installed)
		return keelson_error_set(KEELSON_ERROR,
			"cannot load %s: the registry is installed in the layout loader; uninstall it first", path);
	if (registry->count >= MAX_PLUGINS)
		return keelson_error_set(KEELSON_ELIMIT, "cannot load %s: more than %d plugins", path, MAX_PLUGINS);
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		const char *why = dlerror();
		return keelson_error_set(KEELSON_EINVALID,
			"cannot load plugin %s: %s; check that the file is a keelson plugin built for "
			"this system and that the libraries it needs are installed", path, why ? why : "unknown error");
	}
	int rc = KEELSON_EINVALID;
	dlerror();
	void *sym = dlsym(handle, KEELSON_PLUGIN_ENTRY_NAME);
	if (sym == NULL) {
		keelson_error_set(KEELSON_EINVALID,
			"%s is not a keelson plugin: it does not export %s(); define it with "
			"KEELSON_PLUGIN_DEFINE from keelson/plugin.h", path, KEELSON_PLUGIN_ENTRY_NAME);
		goto fail;
	}
	keelson_plugin_entry_fn entry;
	memcpy(&entry, &sym, sizeof(entry)); /* ISO C has no object-to-function pointer cast */
	const struct keelson_plugin *p = entry();
	if (p == NULL) {
		keelson_error_set(KEELSON_EINVALID, "plugin %s: %s() returned NULL", path, KEELSON_PLUGIN_ENTRY_NAME);
		goto fail;
	}
	if (p->abi_version != KEELSON_PLUGIN_ABI_VERSION) {
		keelson_error_set(KEELSON_EINVALID,
			"plugin %s is not binary compatible: it was built for plugin ABI %u, this keelson "
			"has ABI %u; rebuild the plugin against this keelson's keelson/plugin.h",
			path, (unsigned)p->abi_version, KEELSON_PLUGIN_ABI_VERSION);
		goto fail;
	}
	if (p->struct_size < sizeof(struct keelson_plugin)) {
		keelson_error_set(KEELSON_EINVALID,
			"plugin %s is not binary compatible: its descriptor is %u bytes, this keelson needs "
			"at least %zu; rebuild the plugin against this keelson's keelson/plugin.h",
			path, (unsigned)p->struct_size, sizeof(struct keelson_plugin));
		goto fail;
	}
	if (!valid_name(p->name)) {
		keelson_error_set(KEELSON_EINVALID,
			"plugin %s has an invalid name (lower-case letters, digits and '-', at most 63)", path);
		goto fail;
	}
	if (p->plan == NULL) {
		keelson_error_set(KEELSON_EINVALID, "plugin %s (%s) has no plan function", p->name, path);
		goto fail;
	}
	for (size_t i = 0; i < registry->count; i++) {
		if (strcmp(registry->items[i].plugin->name, p->name) == 0) {
			const char *other = registry->items[i].path;
			keelson_error_set(KEELSON_EINVALID,
				"plugin %s: a plugin named \"%s\" is already loaded from %s; remove one of them "
				"from the plugin directory", path, p->name, other ? other : "keelson itself (built in)");
			goto fail;
		}
	}
	if ((rc = check_params(p, path)) != 0)
		goto fail;
	char *copy = strdup(path);
	if (copy == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory loading %s", path);
		goto fail;
	}
	registry->items[registry->count++] = (struct loaded){.plugin = p, .path = copy, .handle = handle};
	return 0;
fail:
	dlclose(handle);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int keelson_plugin_registry_load_dir(struct keelson_plugin_registry *registry, const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
			"cannot read the plugin directory %s: %s; set --plugin-dir or KEELSON_PLUGIN_DIR",
			dir, strerror(errno));
	char *names[MAX_PLUGINS];
	size_t n = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
			continue;
		if (n >= MAX_PLUGINS) {
			rc = keelson_error_set(KEELSON_ELIMIT, "%s holds more than %d plugins", dir, MAX_PLUGINS);
			goto done;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory reading %s", dir);
			goto done;
		}
		n++;
	}
	qsort(names, n, sizeof(names[0]), compare_names);
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t size = strlen(dir) + strlen(names[i]) + 2;
		char *path = malloc(size);
		if (path == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory reading %s", dir);
			break;
		}
		snprintf(path, size, "%s/%s", dir, names[i]);
		rc = keelson_plugin_registry_load_file(registry, path);
		free(path);
	}
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	closedir(d);
	return rc;
}

size_t keelson_plugin_registry_count(const struct keelson_plugin_registry *registry)
{
	return registry->count;
}

const struct keelson_plugin *keelson_plugin_registry_at(const struct keelson_plugin_registry *registry,
							  size_t index, const char **path)
{
	if (index >= registry->count)
		return NULL;
	if (path != NULL)
		*path = registry->items[index].path;
	return registry->items[index].plugin;
}

const struct keelson_plugin *keelson_plugin_registry_find(const struct keelson_plugin_registry *registry,
							    const char *name)
{
	for (size_t i = 0; name != NULL && i < registry->count; i++)
		if (strcmp(registry->items[i].plugin->name, name) == 0)
			return registry->items[i].plugin;
	return NULL;
}

/* The layout loader's field type for a parameter. Defaults are not the
 * loader's business: a parameter with a default is never required. */
void keelson_plugin_param_field(struct keelson_field *f, const struct keelson_param *a)
{
	memset(f, 0, sizeof(*f));
	f->name = a->name;
	f->description = a->description;
	if ((a->flags & KEELSON_PARAM_REQUIRED) && a->default_value == NULL)
		f->flags = KEELSON_FIELD_REQUIRED;
	f->refers_kind = a->refers_kind;
	f->refers_group = a->refers_group != NULL ? a->refers_group : "";
	switch (a->type) {
	case KEELSON_PARAM_STRING:
		f->type = KEELSON_FIELD_STRING;
		break;
	case KEELSON_PARAM_INTEGER:
		f->type = KEELSON_FIELD_INTEGER;
		f->minimum = a->minimum;
		f->maximum = a->maximum;
		if (a->minimum == 0 && a->maximum == 0) {
			/* Doubles hold integers exactly up to 2^53. */
			f->minimum = -9007199254740992LL;
			f->maximum = 9007199254740992LL;
		}
		break;
	case KEELSON_PARAM_BOOLEAN:
		f->type = KEELSON_FIELD_BOOLEAN;
		break;
	case KEELSON_PARAM_DURATION:
		f->type = KEELSON_FIELD_STRING;
		f->format = KEELSON_FORMAT_DURATION;
		break;
	case KEELSON_PARAM_STRING_LIST:
		f->type = KEELSON_FIELD_STRING_LIST;
		f->min_items = 1;
		break;
	case KEELSON_PARAM_ENUM:
		f->type = KEELSON_FIELD_ENUM;
		f->enum_values = a->enum_values;
		break;
	case KEELSON_PARAM_END:
		break;
	}
}

int keelson_plugin_registry_install_layout(struct keelson_plugin_registry *registry)
{
	free_layout(registry);
	registry->layout_infos = calloc(registry->count, sizeof(*registry->layout_infos));
	registry->layout_fields = calloc(registry->count, sizeof(*registry->layout_fields));
	if (registry->layout_infos == NULL || registry->layout_fields == NULL)
		goto nomem;
	for (size_t i = 0; i < registry->count; i++) {
		const struct keelson_plugin *p = registry->items[i].plugin;
		size_t n = 0;
		while (p->params != NULL && p->params[n].type != KEELSON_PARAM_END)
			n++;
		struct keelson_field *fields = calloc(n + 1, sizeof(*fields));
		if (fields == NULL)
			goto nomem;
		registry->layout_fields[registry->layout_count++] = fields;
		bool required = false;
		for (size_t j = 0; j < n; j++) {
			keelson_plugin_param_field(&fields[j], &p->params[j]);
			required |= (fields[j].flags & KEELSON_FIELD_REQUIRED) != 0;
		}
		registry->layout_infos[i] = (struct keelson_plugin_info){
			.name = p->name, .description = p->description,
			.parameters_required = required, .parameters = fields};
	}
	keelson_layout_set_plugins(registry->layout_infos, registry->count);
	registry->installed = true;
	return 0;
nomem:
	free_layout(registry);
	return keelson_error_set(KEELSON_ENOMEM, "out of memory installing the plugin parameter tables");
}

void keelson_plugin_registry_uninstall_layout(struct keelson_plugin_registry *registry)
{
	if (!registry->installed)
		return;
	keelson_layout_set_plugins(NULL, 0);
	registry->installed = false;
}

const char *keelson_plugin_default_dir(void)
{
	const char *env = getenv("KEELSON_PLUGIN_DIR");
	if (env != NULL && env[0] != '\0')
		return env;
	return KEELSON_PLUGIN_DIR;
}

static const char *type_name(enum keelson_param_type type)
{
	switch (type) {
	case KEELSON_PARAM_STRING: return "string";
	case KEELSON_PARAM_INTEGER: return "integer";
	case KEELSON_PARAM_BOOLEAN: return "boolean";
	case KEELSON_PARAM_DURATION: return "duration";
	case KEELSON_PARAM_STRING_LIST: return "string list";
	case KEELSON_PARAM_ENUM: return "enum";
	case KEELSON_PARAM_END: break;
	}
	return "?";
}

void keelson_plugin_describe(FILE *out, const struct keelson_plugin *plugin, const char *path)
{
	fprintf(out, "Plugin: %s %s\n", plugin->name, plugin->version ? plugin->version : "");
	fprintf(out, "File: %s\n", path ? path : "(built in)");
	fprintf(out, "Description: %s\n", plugin->description ? plugin->description : "");
	fprintf(out, "ABI: %u\n\n", (unsigned)plugin->abi_version);
	if (plugin->params == NULL || plugin->params[0].type == KEELSON_PARAM_END) {
		fprintf(out, "Parameters: none (spec.parameters must be empty or absent)\n");
		return;
	}
	fprintf(out, "Parameters (spec.parameters of the System document):\n");
	for (const struct keelson_param *a = plugin->params; a->type != KEELSON_PARAM_END; a++) {
		fprintf(out, "  %s (%s", a->name, type_name(a->type));
		if (a->type == KEELSON_PARAM_INTEGER && (a->minimum != 0 || a->maximum != 0))
			fprintf(out, " %lld..%lld", a->minimum, a->maximum);
		if (a->type == KEELSON_PARAM_ENUM) {
			fprintf(out, ":");
			for (const char *const *v = a->enum_values; *v; v++)
				fprintf(out, "%s%s", v == a->enum_values ? " " : "|", *v);
		}
		if (a->default_value != NULL)
			fprintf(out, ", default %s", a->default_value);
		else if (a->flags & KEELSON_PARAM_REQUIRED)
			fprintf(out, ", required");
		else
			fprintf(out, ", optional");
		fprintf(out, ")\n      %s\n", a->description ? a->description : "");
		if (a->refers_kind != NULL)
			fprintf(out, "      names %s objects of the same system\n", a->refers_kind);
	}
}
