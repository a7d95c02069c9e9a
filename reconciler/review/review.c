#include "config.h"

#include "review/review.h"

#include "core/error.h"
#include "diff/list_semantics.h"
#include "json/json_canonical.h"
#include "reconcile/rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Deeper than any Kubernetes object; the YAML loader bounds depth too. */
#define MAX_FIELD_DEPTH 64
#define FIELD_MANAGER "keelson"

const char *keelson_review_change_name(enum keelson_review_change change)
{
	switch (change) {
	case KEELSON_REVIEW_UNCHANGED: return "unchanged";
	case KEELSON_REVIEW_ADDED: return "added";
	case KEELSON_REVIEW_REMOVED: return "removed";
	case KEELSON_REVIEW_MODIFIED: return "modified";
	case KEELSON_REVIEW_MOVED: return "moved";
	}
	return "unknown";
}

const char *keelson_review_prune_name(enum keelson_review_prune prune)
{
	switch (prune) {
	case KEELSON_REVIEW_PRUNE_NONE: return "";
	case KEELSON_REVIEW_PRUNE_DELETE: return "delete";
	case KEELSON_REVIEW_PRUNE_HELD: return "keep (prune off)";
	case KEELSON_REVIEW_PRUNE_UNMANAGED: return "keep (unmanaged)";
	case KEELSON_REVIEW_PRUNE_MOVED: return "keep (moved)";
	}
	return "unknown";
}

void keelson_review_options_init(struct keelson_review_options *options)
{
	memset(options, 0, sizeof(*options));
	options->version = KEELSON_REVIEW_OPTIONS_VERSION;
}

/* --- The base revision as applied --------------------------------------------- */

static cJSON *fields_of(const cJSON *object, const char *group, const char *kind, const char **tokens,
			size_t depth);

static bool add_field(cJSON *set, const char *prefix, const char *name, cJSON *child)
{
	if (child == NULL)
		return false;
	size_t n = strlen(prefix) + strlen(name) + 1;
	char *key = malloc(n);
	if (key == NULL) {
		cJSON_Delete(child);
		return false;
	}
	snprintf(key, n, "%s%s", prefix, name);
	/* A key already there (two list items with the same key) keeps the first. */
	bool ok = cJSON_GetObjectItemCaseSensitive(set, key) != NULL ? (cJSON_Delete(child), true)
								     : cJSON_AddItemToObject(set, key, child);
	free(key);
	return ok;
}

/* The fieldsV1 entry of a list at `tokens`, the way server-side apply
 * records it: keyed items ("k:{...}" with "."), set members ("v:..."), or
 * the whole list as one field. */
static cJSON *list_fields(const cJSON *list, const char *group, const char *kind, const char **tokens, size_t depth)
{
	struct keelson_list_semantics sem;
	keelson_list_semantics_lookup(&sem, group, kind, tokens, depth);
	cJSON *set = cJSON_CreateObject();
	if (set == NULL || sem.type == KEELSON_LIST_ATOMIC)
		return set;
	size_t index = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, list) {
		char index_token[32];
		snprintf(index_token, sizeof(index_token), "%zu", index++);
		char *key_text = NULL;
		cJSON *child = NULL;
		if (sem.type == KEELSON_LIST_SET) {
			key_text = cJSON_PrintUnformatted(item);
			child = cJSON_CreateObject();
		} else if (cJSON_IsObject(item)) {
			cJSON *key = cJSON_CreateObject();
			for (size_t k = 0; key != NULL && k < sem.key_count; k++) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, sem.keys[k]);
				if (v != NULL && !cJSON_IsNull(v))
					cJSON_AddItemToObject(key, sem.keys[k], cJSON_Duplicate(v, 1));
			}
			if (key != NULL && cJSON_GetArraySize(key) > 0) {
				key_text = cJSON_PrintUnformatted(key);
				tokens[depth] = index_token;
				child = fields_of(item, group, kind, tokens, depth + 1);
				if (child != NULL)
					cJSON_AddItemToObject(child, ".", cJSON_CreateObject());
			}
			cJSON_Delete(key);
		}
		if (key_text == NULL) {
			cJSON_Delete(child);
			continue; /* an item without its key fields: the server would refuse it */
		}
		bool ok = add_field(set, sem.type == KEELSON_LIST_SET ? "v:" : "k:", key_text, child);
		free(key_text);
		if (!ok) {
			cJSON_Delete(set);
			return NULL;
		}
	}
	return set;
}

static cJSON *fields_of(const cJSON *object, const char *group, const char *kind, const char **tokens, size_t depth)
{
	cJSON *set = cJSON_CreateObject();
	if (set == NULL || depth >= MAX_FIELD_DEPTH)
		return set;
	const cJSON *member;
	cJSON_ArrayForEach(member, object) {
		cJSON *child;
		tokens[depth] = member->string;
		if (cJSON_IsObject(member) && member->child != NULL)
			child = fields_of(member, group, kind, tokens, depth + 1);
		else if (cJSON_IsArray(member))
			child = list_fields(member, group, kind, tokens, depth + 1);
		else
			child = cJSON_CreateObject();
		if (!add_field(set, "f:", member->string, child)) {
			cJSON_Delete(set);
			return NULL;
		}
	}
	return set;
}

cJSON *keelson_review_as_applied(const cJSON *body, const char *group, const char *kind)
{
	const char *tokens[MAX_FIELD_DEPTH + 1];
	cJSON *copy = cJSON_Duplicate(body, 1);
	cJSON *fields = copy != NULL ? fields_of(body, group ? group : "", kind ? kind : "", tokens, 0) : NULL;
	cJSON *entry = cJSON_CreateObject();
	cJSON *metadata = copy != NULL ? cJSON_GetObjectItemCaseSensitive(copy, "metadata") : NULL;
	if (copy != NULL && metadata == NULL)
		metadata = cJSON_AddObjectToObject(copy, "metadata");
	cJSON *list = cJSON_CreateArray();
	if (fields == NULL || entry == NULL || !cJSON_IsObject(metadata) || list == NULL) {
		cJSON_Delete(list);
		cJSON_Delete(entry);
		cJSON_Delete(fields);
		cJSON_Delete(copy);
		return NULL;
	}
	cJSON_AddStringToObject(entry, "manager", FIELD_MANAGER);
	cJSON_AddStringToObject(entry, "operation", "Apply");
	cJSON *api_version = cJSON_GetObjectItemCaseSensitive(body, "apiVersion");
	if (cJSON_IsString(api_version))
		cJSON_AddStringToObject(entry, "apiVersion", api_version->valuestring);
	cJSON_AddStringToObject(entry, "fieldsType", "FieldsV1");
	cJSON_AddItemToObject(entry, "fieldsV1", fields);
	cJSON_AddItemToArray(list, entry);
	cJSON_DeleteItemFromObjectCaseSensitive(metadata, "managedFields");
	cJSON_AddItemToObject(metadata, "managedFields", list);
	return copy;
}

/* --- Lookups ------------------------------------------------------------------ */

static const char *group_of(const struct keelson_object *o)
{
	return o->group != NULL ? o->group : "";
}

static void api_group(char *buf, size_t size, const char *api_version)
{
	const char *slash = api_version != NULL ? strchr(api_version, '/') : NULL;
	snprintf(buf, size, "%.*s", slash != NULL ? (int)(slash - api_version) : 0, slash != NULL ? api_version : "");
}

struct index_entry {
	char *key;
	const struct keelson_object *object;
};

struct keelson_review_index {
	struct index_entry *items;
	size_t count;
};

/* Fields joined by a byte no Kubernetes name, kind or group contains. */
static char *identity_key(const char *group, const char *kind, const char *ns, const char *name)
{
	char *key = NULL;
	if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%s", group, kind, ns, name) < 0)
		return NULL;
	return key;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct index_entry *)a)->key, ((const struct index_entry *)b)->key);
}

int keelson_review_index_new(struct keelson_review_index **out, const struct keelson_cluster *cluster)
{
	*out = NULL;
	struct keelson_review_index *ix = calloc(1, sizeof(*ix));
	size_t total = 0;
	for (size_t i = 0; cluster != NULL && i < cluster->system_count; i++)
		total += cluster->systems[i].object_count;
	if (ix == NULL || (total > 0 && (ix->items = calloc(total, sizeof(*ix->items))) == NULL)) {
		free(ix);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory indexing the objects of a cluster");
	}
	for (size_t i = 0; cluster != NULL && i < cluster->system_count; i++) {
		const struct keelson_system *s = &cluster->systems[i];
		for (size_t j = 0; j < s->object_count; j++) {
			const struct keelson_object *o = &s->objects[j];
			struct index_entry *e = &ix->items[ix->count];
			if ((e->key = identity_key(group_of(o), o->kind, o->namespace_, o->name)) == NULL) {
				keelson_review_index_free(ix);
				return keelson_error_set(KEELSON_ENOMEM, "out of memory indexing the objects of a cluster");
			}
			e->object = o;
			ix->count++;
		}
	}
	/* The layout loader refuses an identity written twice in a cluster,
	 * so keys are unique. */
	qsort(ix->items, ix->count, sizeof(*ix->items), entry_cmp);
	*out = ix;
	return 0;
}

void keelson_review_index_free(struct keelson_review_index *index)
{
	if (index == NULL)
		return;
	for (size_t i = 0; i < index->count; i++)
		free(index->items[i].key);
	free(index->items);
	free(index);
}

const struct keelson_object *keelson_review_index_find(const struct keelson_review_index *index, const char *group,
						       const char *kind, const char *namespace_, const char *name)
{
	if (index == NULL || index->count == 0)
		return NULL;
	char *key = identity_key(group ? group : "", kind, namespace_ ? namespace_ : "", name);
	if (key == NULL)
		return NULL;
	struct index_entry want = {.key = key};
	const struct index_entry *found = bsearch(&want, index->items, index->count, sizeof(*index->items), entry_cmp);
	free(key);
	return found != NULL ? found->object : NULL;
}

/* --- The preview environment --------------------------------------------------- */

static int preview_get(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
		       const char *name)
{
	const struct keelson_review_preview_env *e = payload;
	char group[256];
	*out = NULL;
	api_group(group, sizeof(group), api_version);
	const struct keelson_object *o = keelson_review_index_find(e->base, group, kind, ns, name);
	if (o == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s %s/%s is not in the base revision", kind, ns ? ns : "",
					 name);
	*out = keelson_review_as_applied(o->body, group_of(o), o->kind);
	return *out != NULL ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory");
}

/* A preview has no objects outside the repository: pods, endpoints and the
 * like do not exist yet as far as it knows. */
static int preview_list(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
			const char *label_selector)
{
	(void)payload;
	(void)api_version;
	(void)kind;
	(void)ns;
	(void)label_selector;
	*out = cJSON_CreateArray();
	return *out != NULL ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory");
}

static int preview_http(long *out_status, char **out_body, size_t *out_len, void *payload,
			enum keelson_proxy_target target, const char *ns, const char *name, const char *port,
			const char *method, const char *path, const char *body, long long timeout_ms)
{
	(void)payload;
	(void)target;
	(void)port;
	(void)body;
	(void)timeout_ms;
	*out_status = 0;
	*out_body = NULL;
	*out_len = 0;
	return keelson_error_set(KEELSON_EUNAVAILABLE, "preview: no probe is made (%s %s/%s %s)", method, ns, name, path);
}

static long long preview_now(void *payload)
{
	(void)payload;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void keelson_review_preview_env(struct keelson_review_preview_env *out, const struct keelson_review_index *base)
{
	*out = (struct keelson_review_preview_env){
		.env = {.version = KEELSON_PLUGIN_ENV_VERSION, .payload = out, .live_get = preview_get,
			.live_list = preview_list, .http = preview_http, .now_ms = preview_now},
		.base = base,
	};
}

/* --- Building the review ------------------------------------------------------- */

struct builder {
	struct keelson_review *review;
	const struct keelson_review_options *opts;
	size_t capacity;
	int rc;
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void object_free(struct keelson_review_object *o)
{
	free(o->api_version);
	free(o->group);
	free(o->kind);
	free(o->namespace_);
	free(o->name);
	free(o->file);
	free(o->base_file);
	free(o->moved_system);
	free(o->refused);
	keelson_diff_object_free(o->diff);
}

static void system_free(struct keelson_review_system *s)
{
	free(s->cluster);
	free(s->system);
	free(s->plugin);
	free(s->file);
	for (size_t i = 0; i < s->object_count; i++)
		object_free(&s->objects[i]);
	free(s->objects);
	keelson_plan_free(s->plan);
	free(s->plan_error);
}

void keelson_review_free(struct keelson_review *review)
{
	if (review == NULL)
		return;
	for (size_t i = 0; i < review->system_count; i++)
		system_free(&review->systems[i]);
	free(review->systems);
	free(review->repository);
	free(review->base_rev);
	free(review->head_rev);
	free(review);
}

static int nomem(void)
{
	return keelson_error_set(KEELSON_ENOMEM, "out of memory building the review");
}

static struct keelson_review_object *add_object(struct keelson_review_system *s, size_t *capacity)
{
	if (s->object_count == *capacity) {
		size_t cap = *capacity ? *capacity * 2 : 8;
		struct keelson_review_object *grown = realloc(s->objects, cap * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		s->objects = grown;
		*capacity = cap;
	}
	struct keelson_review_object *o = &s->objects[s->object_count++];
	memset(o, 0, sizeof(*o));
	return o;
}

static int set_identity(struct keelson_review_object *r, const struct keelson_object *o)
{
	r->api_version = strdup(o->api_version);
	r->group = strdup(group_of(o));
	r->kind = strdup(o->kind);
	r->namespace_ = strdup(o->namespace_);
	r->name = strdup(o->name);
	return r->api_version && r->group && r->kind && r->namespace_ && r->name ? 0 : nomem();
}

/* The first field an apply cannot change, as the generic apply refuses it. */
static int check_immutable(struct keelson_review_object *r, const cJSON *before)
{
	for (size_t i = 0; r->diff != NULL && i < r->diff->field_count; i++) {
		const char *why = keelson_immutable_field(r->group, r->kind, r->diff->fields[i].pointer, before);
		if (why != NULL) {
			if (asprintf(&r->refused, "%s: %s", r->diff->fields[i].pointer, why) < 0) {
				r->refused = NULL;
				return nomem();
			}
			return 0;
		}
	}
	return 0;
}

/* Head objects of the system against the base revision's cluster. */
static int compare_head_objects(struct keelson_review_system *rs, size_t *capacity, const struct keelson_system *hs,
				const struct keelson_review_index *base_index)
{
	struct keelson_diff_options diff;
	keelson_diff_options_init(&diff);
	diff.ignore = hs->ignore_rules;
	for (size_t i = 0; i < hs->object_count; i++) {
		const struct keelson_object *o = &hs->objects[i];
		const struct keelson_object *b =
			keelson_review_index_find(base_index, group_of(o), o->kind, o->namespace_, o->name);
		cJSON *before = b != NULL ? keelson_review_as_applied(b->body, group_of(b), b->kind) : NULL;
		if (b != NULL && before == NULL)
			return nomem();
		struct keelson_diff_object *d = NULL;
		int rc = keelson_diff_object(&d, o, before, &diff);
		if (rc < 0) {
			cJSON_Delete(before);
			return keelson_error_wrap(rc, "%s:%u: comparing %s %s/%s with the base revision", o->file, o->line,
						  o->kind, o->namespace_, o->name);
		}
		bool moved = b != NULL && strcmp(b->system->name, hs->name) != 0;
		if (d->state == KEELSON_DIFF_IN_SYNC && !moved) {
			rs->ignored_only += d->ignored_count > 0;
			keelson_diff_object_free(d);
			cJSON_Delete(before);
			rs->unchanged_objects++;
			continue;
		}
		struct keelson_review_object *r = add_object(rs, capacity);
		if (r == NULL) {
			keelson_diff_object_free(d);
			cJSON_Delete(before);
			return nomem();
		}
		r->diff = d;
		r->change = b == NULL ? KEELSON_REVIEW_ADDED : moved ? KEELSON_REVIEW_MOVED : KEELSON_REVIEW_MODIFIED;
		r->file = strdup(o->file);
		r->line = o->line;
		if (b != NULL) {
			r->base_file = strdup(b->file);
			r->base_line = b->line;
			if (r->base_file == NULL)
				rc = nomem();
		}
		if (moved && (r->moved_system = strdup(b->system->name)) == NULL)
			rc = nomem();
		if (rc == 0 && r->file == NULL)
			rc = nomem();
		if (rc == 0)
			rc = set_identity(r, o);
		if (rc == 0 && b != NULL)
			rc = check_immutable(r, before);
		cJSON_Delete(before);
		if (rc < 0)
			return rc;
		if (r->refused != NULL)
			rs->refused++;
	}
	return 0;
}

/* Base objects of the system that no head system of the cluster writes. */
static int compare_removed_objects(struct keelson_review_system *rs, size_t *capacity,
				   const struct keelson_system *bs, const struct keelson_system *hs,
				   const struct keelson_review_index *head_index)
{
	for (size_t i = 0; i < bs->object_count; i++) {
		const struct keelson_object *b = &bs->objects[i];
		if (keelson_review_index_find(head_index, group_of(b), b->kind, b->namespace_, b->name) != NULL)
			continue; /* still written (here or, moved, in another system: listed there) */
		cJSON *before = keelson_review_as_applied(b->body, group_of(b), b->kind);
		struct keelson_diff_object *d = NULL;
		int rc = before != NULL ? keelson_diff_not_in_repo(&d, before) : nomem();
		cJSON_Delete(before);
		if (rc < 0)
			return rc;
		struct keelson_review_object *r = add_object(rs, capacity);
		if (r == NULL) {
			keelson_diff_object_free(d);
			return nomem();
		}
		r->diff = d;
		r->change = KEELSON_REVIEW_REMOVED;
		r->prune = hs == NULL ? KEELSON_REVIEW_PRUNE_UNMANAGED
			 : hs->policy.prune ? KEELSON_REVIEW_PRUNE_DELETE : KEELSON_REVIEW_PRUNE_HELD;
		r->file = strdup(b->file);
		r->line = b->line;
		r->base_file = strdup(b->file);
		r->base_line = b->line;
		if (r->file == NULL || r->base_file == NULL)
			return nomem();
		if ((rc = set_identity(r, b)) < 0)
			return rc;
	}
	return 0;
}

static void plan_failed(struct keelson_review_system *rs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plan_failed(struct keelson_review_system *rs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rs->plan_status = KEELSON_REVIEW_PLAN_FAILED;
	if (vasprintf(&rs->plan_error, fmt, ap) < 0)
		rs->plan_error = NULL;
	va_end(ap);
	rs->refused++;
}

static int plan_system(struct builder *bld, struct keelson_review_system *rs, const struct keelson_cluster *hc,
		       const struct keelson_system *hs, const struct keelson_plugin_env *env, const char *env_error)
{
	if (env == NULL) {
		/* Not a refusal: the review is incomplete. */
		plan_failed(rs, "cannot read cluster %s: %s", hc->name, env_error);
		rs->refused--;
		rs->error = true;
		return 0;
	}
	const struct keelson_plugin *plugin =
		bld->opts->registry != NULL ? keelson_plugin_registry_find(bld->opts->registry, hs->plugin) : NULL;
	if (plugin == NULL) {
		plan_failed(rs, "%s: plugin \"%s\" is not loaded; give --plugin-dir with the directory that holds it",
			    hs->file, hs->plugin);
		return 0;
	}
	struct keelson_problem_list *problems = keelson_problem_list_new();
	struct keelson_plugin_params *params = NULL;
	struct keelson_plan_object *objects = NULL;
	size_t count = 0;
	if (problems == NULL)
		return nomem();
	int rc = keelson_plugin_params_parse(&params, problems, plugin, hs->parameters, NULL, hs->file);
	struct keelson_diff_options diff;
	keelson_diff_options_init(&diff);
	diff.ignore = hs->ignore_rules;
	if (rc == 0)
		rc = keelson_plan_objects_build(&objects, &count, hs, env, &diff);
	if (rc == 0)
		rc = keelson_plugin_plan(&rs->plan, plugin, &(struct keelson_plan_input){
			.cluster = hc->name, .system = hs->name, .revision = bld->opts->head_sha,
			.objects = objects, .object_count = count, .params = params, .env = env,
			.view_flags = bld->opts->live_env != NULL ? 0u : KEELSON_VIEW_PREVIEW});
	if (rc == KEELSON_ENOMEM) {
		/* Not the plugin's fault: stop the review. */
	} else if (rc < 0) {
		if (problems->count > 0)
			plan_failed(rs, "%s:%u:%u: %s", problems->items[0].file, problems->items[0].line,
				    problems->items[0].column, problems->items[0].message);
		else
			plan_failed(rs, "%s", keelson_error_last()->message);
		rc = 0;
	} else {
		rs->plan_status = KEELSON_REVIEW_PLAN_OK;
		rs->steps = rs->plan->count;
		for (size_t i = 0; i < rs->plan->count; i++)
			if (rs->plan->steps[i].kind == KEELSON_STEP_BLOCKED)
				rs->refused++;
	}
	keelson_plan_objects_free(objects, count);
	keelson_plugin_params_free(params);
	keelson_problem_list_free(problems);
	return rc;
}

static bool system_document_changed(const struct keelson_system *a, const struct keelson_system *b)
{
	return strcmp(a->plugin, b->plugin) != 0 || !keelson_json_equal(a->parameters, b->parameters) ||
	       !keelson_json_equal(a->ignore_differences, b->ignore_differences) ||
	       a->policy.prune != b->policy.prune || a->policy.drift_policy != b->policy.drift_policy;
}

struct cluster_pair {
	const struct keelson_cluster *head, *base;
	const struct keelson_review_index *head_index, *base_index;
	const struct keelson_plugin_env *env; /* NULL: env_error says why */
	const char *env_error;
};

static int review_system(struct builder *bld, const struct cluster_pair *cp, const struct keelson_system *hs,
			 const struct keelson_system *bs)
{
	struct keelson_review *review = bld->review;
	if (review->system_count == bld->capacity) {
		size_t cap = bld->capacity ? bld->capacity * 2 : 8;
		struct keelson_review_system *grown = realloc(review->systems, cap * sizeof(*grown));
		if (grown == NULL)
			return nomem();
		review->systems = grown;
		bld->capacity = cap;
	}
	struct keelson_review_system *rs = &review->systems[review->system_count++];
	memset(rs, 0, sizeof(*rs));
	const struct keelson_system *s = hs != NULL ? hs : bs;
	const struct keelson_cluster *hc = cp->head;
	rs->cluster = strdup(hc != NULL ? hc->name : cp->base->name);
	rs->system = strdup(s->name);
	rs->plugin = strdup(s->plugin);
	rs->file = strdup(s->file);
	rs->prune = s->policy.prune;
	if (!rs->cluster || !rs->system || !rs->plugin || !rs->file)
		return nomem();
	size_t capacity = 0;
	int rc = 0;
	if (hs != NULL)
		rc = compare_head_objects(rs, &capacity, hs, cp->base_index);
	if (rc == 0 && bs != NULL)
		rc = compare_removed_objects(rs, &capacity, bs, hs, cp->head_index);
	if (rc == 0 && hs != NULL)
		rc = plan_system(bld, rs, hc, hs, cp->env, cp->env_error);
	if (rc < 0)
		return rc;
	rs->changed = rs->object_count;
	rs->change = hs == NULL ? KEELSON_REVIEW_REMOVED
		   : bs == NULL ? KEELSON_REVIEW_ADDED
		   : rs->object_count > 0 || system_document_changed(hs, bs) ? KEELSON_REVIEW_MODIFIED
									    : KEELSON_REVIEW_UNCHANGED;
	review->changed += rs->changed;
	review->steps += rs->steps;
	review->refused += rs->refused;
	review->errors += rs->error ? 1 : 0;
	return 0;
}

static int review_cluster(struct builder *bld, const struct keelson_cluster *hc, const struct keelson_cluster *bc)
{
	const struct keelson_review_options *opts = bld->opts;
	struct keelson_review_index *head_index = NULL, *base_index = NULL;
	struct keelson_review_preview_env preview;
	struct cluster_pair cp = {.head = hc, .base = bc};
	char *env_error = NULL;
	int rc = keelson_review_index_new(&head_index, hc);
	if (rc == 0)
		rc = keelson_review_index_new(&base_index, bc);
	if (rc < 0)
		goto done;
	cp.head_index = head_index;
	cp.base_index = base_index;
	if (hc != NULL && opts->live_env != NULL) {
		if (opts->live_env(&cp.env, hc, opts->live_payload) < 0) {
			cp.env = NULL;
			env_error = strdup(keelson_error_last()->message);
		}
	} else {
		keelson_review_preview_env(&preview, base_index);
		cp.env = &preview.env;
	}
	cp.env_error = env_error != NULL ? env_error : "unknown error";
	size_t hi = 0, bi = 0;
	size_t hn = hc != NULL ? hc->system_count : 0, bn = bc != NULL ? bc->system_count : 0;
	/* Both lists are sorted by name: merge them. */
	while (rc == 0 && (hi < hn || bi < bn)) {
		const struct keelson_system *hs = hi < hn ? &hc->systems[hi] : NULL;
		const struct keelson_system *bs = bi < bn ? &bc->systems[bi] : NULL;
		int cmp = hs == NULL ? 1 : bs == NULL ? -1 : strcmp(hs->name, bs->name);
		if (cmp < 0)
			bs = NULL, hi++;
		else if (cmp > 0)
			hs = NULL, bi++;
		else
			hi++, bi++;
		const char *name = hs != NULL ? hs->name : bs->name;
		if (opts->system != NULL && strcmp(opts->system, name) != 0)
			continue;
		rc = review_system(bld, &cp, hs, bs);
	}
done:
	free(env_error);
	keelson_review_index_free(head_index);
	keelson_review_index_free(base_index);
	return rc;
}

int keelson_review_build(struct keelson_review **out, const struct keelson_desired_state *base,
			 const struct keelson_desired_state *head, const struct keelson_review_options *options)
{
	*out = NULL;
	if (options == NULL || options->version != KEELSON_REVIEW_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "keelson_review_build: options of another version");
	struct keelson_review *review = calloc(1, sizeof(*review));
	if (review == NULL)
		return nomem();
	review->repository = dup_or_null(options->repository ? options->repository : "");
	review->base_rev = dup_or_null(options->base_rev ? options->base_rev : "");
	review->head_rev = dup_or_null(options->head_rev ? options->head_rev : "");
	snprintf(review->base_sha, sizeof(review->base_sha), "%s", options->base_sha ? options->base_sha : "");
	snprintf(review->head_sha, sizeof(review->head_sha), "%s", options->head_sha ? options->head_sha : "");
	review->live = options->live_env != NULL;
	struct builder bld = {.review = review, .opts = options};
	int rc = review->repository && review->base_rev && review->head_rev ? 0 : nomem();
	size_t hi = 0, bi = 0;
	while (rc == 0 && (hi < head->cluster_count || bi < base->cluster_count)) {
		const struct keelson_cluster *hc = hi < head->cluster_count ? &head->clusters[hi] : NULL;
		const struct keelson_cluster *bc = bi < base->cluster_count ? &base->clusters[bi] : NULL;
		int cmp = hc == NULL ? 1 : bc == NULL ? -1 : strcmp(hc->name, bc->name);
		if (cmp < 0)
			bc = NULL, hi++;
		else if (cmp > 0)
			hc = NULL, bi++;
		else
			hi++, bi++;
		const char *name = hc != NULL ? hc->name : bc->name;
		if (options->cluster != NULL && strcmp(options->cluster, name) != 0)
			continue;
		rc = review_cluster(&bld, hc, bc);
	}
	if (rc == 0 && review->system_count == 0 && (options->cluster != NULL || options->system != NULL))
		rc = keelson_error_set(KEELSON_ENOTFOUND, "no %s%s%s%s%s in the base or the head revision",
				       options->cluster ? "cluster " : "", options->cluster ? options->cluster : "",
				       options->cluster && options->system ? " with " : "",
				       options->system ? "system " : "", options->system ? options->system : "");
	if (rc < 0) {
		keelson_review_free(review);
		return rc;
	}
	*out = review;
	return 0;
}

int keelson_review_exit_code(const struct keelson_review *review)
{
	if (review->errors > 0)
		return KEELSON_REVIEW_EXIT_ERROR;
	if (review->refused > 0)
		return KEELSON_REVIEW_EXIT_REFUSED;
	if (review->changed > 0 || review->steps > 0)
		return KEELSON_REVIEW_EXIT_CHANGES;
	for (size_t i = 0; i < review->system_count; i++)
		if (review->systems[i].change != KEELSON_REVIEW_UNCHANGED)
			return KEELSON_REVIEW_EXIT_CHANGES;
	return KEELSON_REVIEW_EXIT_NOTHING;
}
