#include "config.h"

#include "layout/layout.h"

#include "core/error.h"
#include "diff/diff.h"
#include "layout/schema_table.h"
#include "yaml/yaml_load.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_FILE_SIZE (8u * 1024 * 1024)
#define DEFAULT_MAX_FILES 1000000u
#define DEFAULT_MAX_TOTAL_BYTES ((size_t)2 * 1024 * 1024 * 1024)
#define DEFAULT_MAX_OBJECTS 1000000u

#define REPOSITORY_FILE "keelson.yaml"
#define CLUSTERS_DIR "clusters"
#define CLUSTER_FILE "cluster.yaml"
#define SYSTEM_FILE "system.yaml"

void keelson_layout_options_init(struct keelson_layout_options *options)
{
	*options = (struct keelson_layout_options){
		.version = KEELSON_LAYOUT_OPTIONS_VERSION,
		.max_file_size = DEFAULT_MAX_FILE_SIZE,
		.max_files = DEFAULT_MAX_FILES,
		.max_total_bytes = DEFAULT_MAX_TOTAL_BYTES,
		.yaml_limits = NULL,
		.previous = NULL,
		.max_objects = DEFAULT_MAX_OBJECTS,
	};
}

const char *keelson_drift_policy_name(enum keelson_drift_policy policy)
{
	switch (policy) {
	case KEELSON_DRIFT_ALERT:
		return "alert";
	case KEELSON_DRIFT_HEAL:
		return "heal";
	case KEELSON_DRIFT_IGNORE:
		return "ignore";
	}
	return "unknown";
}

/* ---- owned memory of a state ------------------------------------------ */

/* Small strings (names, groups) of 100,000 objects: a bump allocator keeps
 * them out of malloc's per-allocation overhead. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	char data[];
};

/* A parsed file, shared by the states of consecutive revisions when its
 * bytes did not change (options->previous): a commit that touches one file
 * re-parses one file. Immutable once made, so sharing needs only a count. */
struct shared_file {
	unsigned long refs;
	char *path;
	struct keelson_yaml_stream *stream; /* NULL when the file did not parse */
	size_t size;
	/* What identifies the bytes: the source's object id (a Git blob id)
	 * when it gave one, else their SHA-256. */
	unsigned char object_id[32];
	size_t object_id_size;              /* 0: none */
	unsigned char digest[32];           /* SHA-256 of the bytes */
	bool has_digest;
};

struct file_rec {
	struct shared_file *shared;
	const char *path;                          /* = shared->path */
	const struct keelson_yaml_stream *stream;  /* = shared->stream */
	int ignored;
	int reused;                                /* shared with options->previous */
};

struct impl {
	struct file_rec *files;
	size_t file_count, file_capacity;
	struct arena_chunk *arena;
	const char **cluster_scoped_kinds; /* "group/Kind", borrowed from keelson.yaml */
	size_t cluster_scoped_count;
	struct keelson_diff_ignore_rules **ignore_rules; /* of the systems */
	size_t ignore_rules_count, ignore_rules_capacity;
};

static char *arena_strndup(struct impl *impl, const char *s, size_t len)
{
	struct arena_chunk *c = impl->arena;
	if (c == NULL || c->size - c->used < len + 1) {
		size_t size = len + 1 > 65536 ? len + 1 : 65536;
		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->next = impl->arena;
		c->used = 0;
		c->size = size;
		impl->arena = c;
	}
	char *out = c->data + c->used;
	memcpy(out, s, len);
	out[len] = '\0';
	c->used += len + 1;
	return out;
}

static void impl_free(struct impl *impl)
{
	if (impl == NULL)
		return;
	for (size_t i = 0; i < impl->file_count; i++) {
		struct shared_file *shared = impl->files[i].shared;
		if (__atomic_sub_fetch(&shared->refs, 1, __ATOMIC_ACQ_REL) == 0) {
			free(shared->path);
			keelson_yaml_stream_free(shared->stream);
			free(shared);
		}
	}
	free(impl->files);
	while (impl->arena) {
		struct arena_chunk *next = impl->arena->next;
		free(impl->arena);
		impl->arena = next;
	}
	free(impl->cluster_scoped_kinds);
	for (size_t i = 0; i < impl->ignore_rules_count; i++)
		keelson_diff_ignore_rules_free(impl->ignore_rules[i]);
	free(impl->ignore_rules);
	free(impl);
}

/* ---- paths ------------------------------------------------------------- */

/* A path from a file source must be relative, '/'-separated and free of
 * empty, "." and ".." segments; anything else could name a file outside
 * the repository. */
static int path_is_clean(const char *path)
{
	if (path[0] == '\0' || path[0] == '/')
		return 0;
	const char *seg = path;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (end == NULL)
			return 1;
		seg = end + 1;
	}
}

static int path_is_hidden(const char *path)
{
	if (path[0] == '.')
		return 1;
	return strstr(path, "/.") != NULL;
}

static int has_yaml_extension(const char *path)
{
	size_t n = strlen(path);
	return (n > 5 && strcmp(path + n - 5, ".yaml") == 0) || (n > 4 && strcmp(path + n - 4, ".yml") == 0);
}

/* Resolve a symlink target lexically against the link's directory: does it
 * stay inside the repository? */
static int symlink_stays_inside(const char *link_path, const char *target, size_t target_len)
{
	if (target_len == 0 || target[0] == '/')
		return 0;
	long depth = 0;
	for (const char *p = link_path; *p; p++)
		depth += *p == '/';
	const char *seg = target, *end_all = target + target_len;
	while (seg < end_all) {
		const char *end = memchr(seg, '/', (size_t)(end_all - seg));
		size_t len = end ? (size_t)(end - seg) : (size_t)(end_all - seg);
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			if (--depth < 0)
				return 0;
		} else if (len > 0 && !(len == 1 && seg[0] == '.')) {
			depth++;
		}
		seg = end ? end + 1 : end_all;
	}
	return 1;
}

/* ---- the walk ---------------------------------------------------------- */

struct loader {
	const struct keelson_layout_options *options;
	struct keelson_problem_list *problems;
	struct impl *impl;
	size_t files_visited;
	size_t total_bytes;
	size_t objects;            /* objects found so far */
	bool objects_reported;     /* the max_objects problem was added */
	struct shared_file **previous; /* parsed files of options->previous, by path */
	size_t previous_count;
	bool source_reports_too_large; /* file source version >= 2 */
	bool source_is_lazy;           /* walked with for_each_file_lazy */
	size_t reused_by_object_id;    /* files neither read nor hashed */
	size_t systems_reused;         /* objects taken validated from options->previous */
	size_t files_parsed;
};

#define CHECK(expr)                          \
	do {                                 \
		int check_rc_ = (expr);      \
		if (check_rc_ < 0)           \
			return check_rc_;    \
	} while (0)

/* The YAML loader (and the ignore rules parser) report
 * "file:line:column: message"; split it so the problem carries the
 * position. */
static int add_positioned_problem(struct loader *l, const char *path, enum keelson_problem_code code)
{
	const char *message = keelson_error_last()->message;
	size_t plen = strlen(path);
	unsigned line = 0, column = 0;
	const char *rest = message;
	if (strncmp(message, path, plen) == 0 && message[plen] == ':') {
		char *end;
		unsigned long ln = strtoul(message + plen + 1, &end, 10);
		if (*end == ':') {
			unsigned long col = strtoul(end + 1, &end, 10);
			if (end[0] == ':' && end[1] == ' ') {
				line = (unsigned)ln;
				column = (unsigned)col;
				rest = end + 2;
			}
		} else if (end[0] == ' ' || end[0] == '\0') {
			rest = message + plen + 1;
			while (*rest == ' ')
				rest++;
		}
	}
	return keelson_problem_add(l->problems, code, path, line, column, "%s", rest);
}

static int add_yaml_problem(struct loader *l, const char *path, int rc)
{
	return add_positioned_problem(l, path, rc == KEELSON_ELIMIT ? KEELSON_PROBLEM_TOO_LARGE : KEELSON_PROBLEM_YAML);
}

/* Takes a reference on `shared` (or, when `stream`-only, makes one). */
static int add_file_rec(struct loader *l, struct shared_file *shared)
{
	struct impl *impl = l->impl;
	if (impl->file_count == impl->file_capacity) {
		size_t capacity = impl->file_capacity ? impl->file_capacity * 2 : 64;
		struct file_rec *files = realloc(impl->files, capacity * sizeof(*files));
		if (files == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory loading %s", shared->path);
		impl->files = files;
		impl->file_capacity = capacity;
	}
	__atomic_add_fetch(&shared->refs, 1, __ATOMIC_RELAXED);
	impl->files[impl->file_count++] = (struct file_rec){
		.shared = shared, .path = shared->path, .stream = shared->stream,
	};
	return 0;
}

static int compare_shared(const void *a, const void *b)
{
	return strcmp((*(struct shared_file *const *)a)->path, (*(struct shared_file *const *)b)->path);
}

static struct shared_file *find_previous(const struct loader *l, const char *path)
{
	size_t lo = 0, hi = l->previous_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->previous[mid]->path, path);
		if (c == 0)
			return l->previous[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A YAML file that was not read (too large): it still counts as present,
 * so that a too large system.yaml is not also reported as missing. */
static int add_unread_file(struct loader *l, const struct keelson_file *file, size_t size)
{
	struct shared_file *shared = calloc(1, sizeof(*shared));
	if (shared == NULL || (shared->path = strdup(file->path)) == NULL) {
		free(shared);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory loading %s", file->path);
	}
	shared->size = size;
	int rc = add_file_rec(l, shared);
	if (rc < 0) {
		free(shared->path);
		free(shared);
	}
	return rc;
}

/* The bytes of a file: at hand, or read now from a lazy source. */
static int file_bytes(struct loader *l, const struct keelson_file *file, const char **data, size_t *size,
		      bool *too_large)
{
	if (file->read == NULL || !l->source_is_lazy) {
		*data = file->data;
		*size = file->size;
		*too_large = l->source_reports_too_large && file->too_large;
		return 0;
	}
	int rc = file->read(file, data, size, too_large);
	if (rc < 0)
		return rc;
	if (!*too_large && *data == NULL && *size > 0)
		return keelson_error_set(KEELSON_ERROR, "%s: the file source returned no bytes", file->path);
	return 0;
}

/* A file whose source gave an object id equal to the previous revision's
 * for the same path: the same bytes, so the same parse. */
static struct shared_file *previous_by_object_id(const struct loader *l, const struct keelson_file *file)
{
	if (l->previous_count == 0 || file->object_id == NULL || file->object_id_size == 0 ||
	    file->object_id_size > sizeof(((struct shared_file *)0)->object_id))
		return NULL;
	struct shared_file *previous = find_previous(l, file->path);
	if (previous == NULL || previous->object_id_size != file->object_id_size ||
	    memcmp(previous->object_id, file->object_id, file->object_id_size) != 0 ||
	    previous->size > l->options->max_file_size)
		return NULL;
	return previous;
}

static int visit_file(const struct keelson_file *file, void *payload)
{
	struct loader *l = payload;

	if (++l->files_visited > l->options->max_files) {
		CHECK(keelson_problem_add(l->problems, KEELSON_PROBLEM_TOO_LARGE, "", 0, 0,
			"the revision has more than %zu files; keelson stops reading here", l->options->max_files));
		return KEELSON_ELIMIT;
	}
	if (!path_is_clean(file->path)) {
		return keelson_problem_add(l->problems, KEELSON_PROBLEM_PATH_ESCAPE, file->path, 0, 0,
			"path is not a plain relative path (it is absolute or has an empty, \".\" or \"..\" segment) "
			"and could name a file outside the repository; rename it");
	}
	if (path_is_hidden(file->path))
		return 0;
	/* Only links and YAML files are ever read: a lazy source never
	 * inflates a script or a README. */
	if (file->kind != KEELSON_FILE_SYMLINK && !has_yaml_extension(file->path))
		return 0;

	const char *data = NULL;
	size_t size = 0;
	bool too_large = false;
	struct shared_file *reuse = file->kind == KEELSON_FILE_SYMLINK ? NULL : previous_by_object_id(l, file);
	if (reuse != NULL) {
		size = reuse->size;
	} else {
		CHECK(file_bytes(l, file, &data, &size, &too_large));
	}

	if (too_large && file->kind == KEELSON_FILE_SYMLINK)
		return keelson_problem_add(l->problems, KEELSON_PROBLEM_PATH_ESCAPE, file->path, 0, 0,
			"symbolic link with a %zu-byte target; replace the link with the file itself", size);
	if (file->kind == KEELSON_FILE_SYMLINK) {
		if (!symlink_stays_inside(file->path, data, size))
			return keelson_problem_add(l->problems, KEELSON_PROBLEM_PATH_ESCAPE, file->path, 0, 0,
				"symbolic link to \"%.*s\" leaves the repository; keelson reads only what is "
				"in the revision: replace the link with the file itself",
				(int)(size > 200 ? 200 : size), data);
		if (has_yaml_extension(file->path))
			return keelson_problem_add(l->problems, KEELSON_PROBLEM_PATH_ESCAPE, file->path, 0, 0,
				"manifest is a symbolic link (to \"%.*s\"); links are not followed, so one file "
				"cannot appear under two paths: replace the link with the file itself",
				(int)(size > 200 ? 200 : size), data);
		/* A linked directory under clusters/ would silently contribute
		 * nothing (links are not followed): say so. */
		if (strncmp(file->path, CLUSTERS_DIR "/", strlen(CLUSTERS_DIR "/")) == 0)
			return keelson_problem_add(l->problems, KEELSON_PROBLEM_PATH_ESCAPE, file->path, 0, 0,
				"symbolic link (to \"%.*s\") under clusters/ is not followed, so whatever it points "
				"to is not part of any system: replace the link with the directory or file itself",
				(int)(size > 200 ? 200 : size), data);
		return 0;
	}
	/* Only YAML files are read, so only their size matters. */
	if (too_large) {
		CHECK(keelson_problem_add(l->problems, KEELSON_PROBLEM_TOO_LARGE, file->path, 0, 0,
			"%zu bytes, more than the limit of %zu bytes per file; split the file, or raise the "
			"limit if it is really needed", size, l->options->max_file_size));
		return add_unread_file(l, file, size);
	}
	l->total_bytes += size;
	if (l->total_bytes > l->options->max_total_bytes) {
		CHECK(keelson_problem_add(l->problems, KEELSON_PROBLEM_TOO_LARGE, file->path, 0, 0,
			"the revision's YAML files exceed %zu bytes in total; keelson stops reading here",
			l->options->max_total_bytes));
		return KEELSON_ELIMIT;
	}
	if (reuse != NULL) {
		int rc = add_file_rec(l, reuse);
		if (rc == 0) {
			l->impl->files[l->impl->file_count - 1].reused = 1;
			l->reused_by_object_id++;
		}
		return rc;
	}

	/* Without an object id, the bytes decide (SHA-256): a directory
	 * source, or a file the previous revision did not have by id. */
	bool by_id = file->object_id != NULL && file->object_id_size > 0 &&
		     file->object_id_size <= sizeof(((struct shared_file *)0)->object_id);
	unsigned char digest[32];
	if (!by_id) {
		unsigned digest_len = 0;
		if (EVP_Digest(data, size, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
		    digest_len != sizeof(digest))
			return keelson_error_set(KEELSON_ERROR, "%s: cannot compute SHA-256", file->path);
		struct shared_file *previous = find_previous(l, file->path);
		if (previous != NULL && previous->has_digest && previous->size == size &&
		    memcmp(previous->digest, digest, sizeof(digest)) == 0) {
			int rc = add_file_rec(l, previous);
			if (rc == 0)
				l->impl->files[l->impl->file_count - 1].reused = 1;
			return rc;
		}
	}

	struct shared_file *shared = calloc(1, sizeof(*shared));
	if (shared == NULL || (shared->path = strdup(file->path)) == NULL) {
		free(shared);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory loading %s", file->path);
	}
	shared->size = size;
	if (by_id) {
		memcpy(shared->object_id, file->object_id, file->object_id_size);
		shared->object_id_size = file->object_id_size;
	} else {
		memcpy(shared->digest, digest, sizeof(digest));
		shared->has_digest = true;
	}
	l->files_parsed++;
	int rc = keelson_yaml_load_buffer(&shared->stream, data, size, file->path,
					  l->options->yaml_limits);
	if (rc < 0 && rc != KEELSON_ENOMEM)
		rc = add_yaml_problem(l, file->path, rc);
	if (rc == 0)
		rc = add_file_rec(l, shared);
	if (rc < 0 || shared->refs == 0) {
		keelson_yaml_stream_free(shared->stream);
		free(shared->path);
		free(shared);
	}
	return rc;
}

/* ---- building the state ------------------------------------------------ */

struct system_builder {
	const char *name; /* arena */
	char *dir;        /* "clusters/C/S" */
	long system_file; /* index in impl->files, -1 when absent */
	size_t *manifests;
	size_t manifest_count, manifest_capacity;
	struct keelson_system system;
	size_t object_capacity;
};

struct cluster_builder {
	const char *name;
	long cluster_file;
	struct system_builder *systems;
	size_t system_count, system_capacity;
	struct keelson_cluster cluster;
};

struct build {
	struct loader *l;
	struct cluster_builder *clusters;
	size_t cluster_count, cluster_capacity;
	const struct keelson_yaml_stream *repo_stream;
	const cJSON *repo_doc;
	long repo_file; /* index of keelson.yaml in impl->files, -1 when absent */
	struct keelson_desired_state *state;
};

static struct cluster_builder *find_cluster(struct build *b, const char *name, size_t len)
{
	for (size_t i = b->cluster_count; i-- > 0;)
		if (strlen(b->clusters[i].name) == len && memcmp(b->clusters[i].name, name, len) == 0)
			return &b->clusters[i];
	if (b->cluster_count == b->cluster_capacity) {
		size_t capacity = b->cluster_capacity ? b->cluster_capacity * 2 : 8;
		struct cluster_builder *grown = realloc(b->clusters, capacity * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		b->clusters = grown;
		b->cluster_capacity = capacity;
	}
	struct cluster_builder *c = &b->clusters[b->cluster_count];
	memset(c, 0, sizeof(*c));
	c->name = arena_strndup(b->l->impl, name, len);
	if (c->name == NULL)
		return NULL;
	c->cluster_file = -1;
	b->cluster_count++;
	return c;
}

static struct system_builder *find_system(struct cluster_builder *c, struct impl *impl,
					  const char *path, const char *name, size_t len)
{
	/* Files of one directory are contiguous in path order: the last one is
	 * almost always the one asked for. */
	for (size_t i = c->system_count; i-- > 0;)
		if (strlen(c->systems[i].name) == len && memcmp(c->systems[i].name, name, len) == 0)
			return &c->systems[i];
	if (c->system_count == c->system_capacity) {
		size_t capacity = c->system_capacity ? c->system_capacity * 2 : 8;
		struct system_builder *grown = realloc(c->systems, capacity * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		c->systems = grown;
		c->system_capacity = capacity;
	}
	struct system_builder *s = &c->systems[c->system_count];
	memset(s, 0, sizeof(*s));
	s->name = arena_strndup(impl, name, len);
	s->dir = arena_strndup(impl, path, (size_t)(name + len - path));
	if (s->name == NULL || s->dir == NULL)
		return NULL;
	s->system_file = -1;
	c->system_count++;
	return s;
}

static int add_manifest(struct system_builder *s, size_t file)
{
	if (s->manifest_count == s->manifest_capacity) {
		size_t capacity = s->manifest_capacity ? s->manifest_capacity * 2 : 16;
		size_t *grown = realloc(s->manifests, capacity * sizeof(*grown));
		if (grown == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		s->manifests = grown;
		s->manifest_capacity = capacity;
	}
	s->manifests[s->manifest_count++] = file;
	return 0;
}

static void builders_free(struct build *b)
{
	for (size_t i = 0; i < b->cluster_count; i++) {
		struct cluster_builder *c = &b->clusters[i];
		for (size_t j = 0; j < c->system_count; j++) {
			free(c->systems[j].manifests);
			free(c->systems[j].system.objects);
		}
		free(c->systems);
	}
	free(b->clusters);
}

static int is_dns_label(const char *s, size_t len)
{
	char buf[64];
	if (len == 0 || len > 63)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return keelson_layout_format_check(KEELSON_FORMAT_DNS_LABEL, buf);
}

/* Put one file where the layout says it belongs, or report why it has no
 * place. */
static int classify(struct build *b, size_t index)
{
	struct impl *impl = b->l->impl;
	const char *path = impl->files[index].path;

	if (strcmp(path, REPOSITORY_FILE) == 0)
		return 0;
	const char *prefix = CLUSTERS_DIR "/";
	size_t prefix_len = strlen(prefix);
	const char *cluster_name = path + prefix_len;
	const char *slash = strncmp(path, prefix, prefix_len) == 0 ? strchr(cluster_name, '/') : NULL;
	if (slash == NULL)
		return keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISPLACED, path, 0, 0,
			"YAML file outside any system directory; manifests live under "
			"clusters/CLUSTER/SYSTEM/, repository settings in keelson.yaml; "
			"list other YAML in spec.ignorePaths of keelson.yaml");
	size_t cluster_len = (size_t)(slash - cluster_name);
	if (!is_dns_label(cluster_name, cluster_len))
		return keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISPLACED, path, 0, 0,
			"cluster directory \"%.*s\" is not a DNS label (lower-case letters, digits, '-', "
			"at most 63 characters); rename the directory", (int)cluster_len, cluster_name);
	struct cluster_builder *c = find_cluster(b, cluster_name, cluster_len);
	if (c == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");

	const char *system_name = slash + 1;
	const char *slash2 = strchr(system_name, '/');
	if (slash2 == NULL) {
		if (strcmp(system_name, CLUSTER_FILE) == 0) {
			c->cluster_file = (long)index;
			return 0;
		}
		return keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISPLACED, path, 0, 0,
			"YAML file directly in a cluster directory; only cluster.yaml belongs here, "
			"manifests go into a system directory clusters/%.*s/SYSTEM/",
			(int)cluster_len, cluster_name);
	}
	size_t system_len = (size_t)(slash2 - system_name);
	if (!is_dns_label(system_name, system_len))
		return keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISPLACED, path, 0, 0,
			"system directory \"%.*s\" is not a DNS label (lower-case letters, digits, '-', "
			"at most 63 characters); rename the directory", (int)system_len, system_name);
	struct system_builder *s = find_system(c, impl, path, system_name, system_len);
	if (s == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if (strcmp(slash2 + 1, SYSTEM_FILE) == 0) {
		s->system_file = (long)index;
		return 0;
	}
	return add_manifest(s, index);
}

static const char *string_member(const cJSON *object, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_keelson_api_version(const char *api_version)
{
	size_t n = strlen(KEELSON_LAYOUT_API_GROUP);
	return api_version != NULL && strncmp(api_version, KEELSON_LAYOUT_API_GROUP, n) == 0 &&
	       api_version[n] == '/';
}

static const char *keelson_kind_home(const char *kind)
{
	if (kind && strcmp(kind, "Repository") == 0)
		return "keelson.yaml at the repository root";
	if (kind && strcmp(kind, "Cluster") == 0)
		return "clusters/CLUSTER/cluster.yaml";
	if (kind && strcmp(kind, "System") == 0)
		return "clusters/CLUSTER/SYSTEM/system.yaml";
	return "no file: keelson has no such document";
}

/* The one keelson document of keelson.yaml, cluster.yaml or system.yaml;
 * NULL (with problems recorded) when the file does not hold exactly that. */
static int keelson_document(const cJSON **out, struct build *b, size_t index, const char *kind,
			    const char *dir_name)
{
	struct file_rec *rec = &b->l->impl->files[index];
	struct keelson_problem_list *problems = b->l->problems;
	*out = NULL;
	if (rec->stream == NULL)
		return 0; /* its YAML problem is already reported */
	size_t count = keelson_yaml_document_count(rec->stream);
	if (count == 0)
		return keelson_problem_add(problems, KEELSON_PROBLEM_MISSING_FILE, rec->path, 0, 0,
			"file has no document; it must hold the %s document (apiVersion: %s, kind: %s)",
			kind, KEELSON_LAYOUT_API_VERSION, kind);
	for (size_t i = 1; i < count; i++)
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_MISPLACED, rec->stream, rec->path,
			keelson_yaml_document(rec->stream, i), 0,
			"%s holds only the %s document; move this document to a manifest file of a system",
			rec->path, kind));

	const cJSON *doc = keelson_yaml_document(rec->stream, 0);
	if (!cJSON_IsObject(doc))
		return keelson_problem_add_node(problems, KEELSON_PROBLEM_NOT_OBJECT, rec->stream, rec->path, doc, 0,
			"document is not a mapping; %s holds the %s document", rec->path, kind);
	const char *api_version = string_member(doc, "apiVersion");
	const char *doc_kind = string_member(doc, "kind");
	if (api_version != NULL && !is_keelson_api_version(api_version))
		return keelson_problem_add_node(problems, KEELSON_PROBLEM_MISPLACED, rec->stream, rec->path, doc, 0,
			"%s must hold the keelson %s document (apiVersion: %s), not a %s object; "
			"Kubernetes manifests go into system directories",
			rec->path, kind, KEELSON_LAYOUT_API_VERSION, doc_kind ? doc_kind : "Kubernetes");
	if (doc_kind != NULL && strcmp(doc_kind, kind) != 0 && keelson_layout_document_fields(doc_kind) != NULL)
		return keelson_problem_add_node(problems, KEELSON_PROBLEM_MISPLACED, rec->stream, rec->path,
			cJSON_GetObjectItemCaseSensitive(doc, "kind"), 0,
			"a %s document belongs in %s; %s holds the %s document",
			doc_kind, keelson_kind_home(doc_kind), rec->path, kind);

	int added = keelson_layout_check_fields(problems, rec->stream, rec->path, doc,
						keelson_layout_document_fields(kind), kind);
	if (added < 0)
		return added;

	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	const char *name = string_member(metadata, "name");
	if (dir_name != NULL && name != NULL && strcmp(name, dir_name) != 0) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_NAME_MISMATCH, rec->stream, rec->path,
			cJSON_GetObjectItemCaseSensitive(metadata, "name"), 0,
			"%s is named \"%s\" but its directory is \"%s\"; names and directories must match",
			kind, name, dir_name));
		added++;
	}
	if (added == 0)
		*out = doc;
	return 0;
}

/* Overlay the fields written in `policy` (already validated) on `out`. */
static void apply_policy(struct keelson_policy *out, const cJSON *policy)
{
	const cJSON *v;
	if (!cJSON_IsObject(policy))
		return;
	if (cJSON_IsBool(v = cJSON_GetObjectItemCaseSensitive(policy, "prune")))
		out->prune = cJSON_IsTrue(v);
	if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(policy, "driftPolicy"))) {
		if (strcmp(v->valuestring, "heal") == 0)
			out->drift_policy = KEELSON_DRIFT_HEAL;
		else if (strcmp(v->valuestring, "ignore") == 0)
			out->drift_policy = KEELSON_DRIFT_IGNORE;
		else
			out->drift_policy = KEELSON_DRIFT_ALERT;
	}
	static const struct {
		const char *name;
		size_t offset;
	} durations[] = {
		{"pollInterval", offsetof(struct keelson_policy, poll_interval_s)},
		{"driftCheckInterval", offsetof(struct keelson_policy, drift_check_interval_s)},
		{"alertRepeatInterval", offsetof(struct keelson_policy, alert_repeat_interval_s)},
	};
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		unsigned long long seconds;
		v = cJSON_GetObjectItemCaseSensitive(policy, durations[i].name);
		if (cJSON_IsString(v) && keelson_layout_duration_parse(&seconds, v->valuestring) == 0)
			*(unsigned long long *)((char *)out + durations[i].offset) = seconds;
	}
}

static const cJSON *spec_member(const cJSON *doc, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "spec"), name);
}

struct ignore_ctx {
	const cJSON *paths;
};

/* An ignorePaths entry: a clean relative path, optionally ending in '/'. */
static int ignore_entry_is_clean(const char *entry, size_t *out_len)
{
	char buf[4096];
	size_t n = strlen(entry);
	while (n > 0 && entry[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, entry, n);
	buf[n] = '\0';
	*out_len = n;
	return path_is_clean(buf);
}

static int path_is_ignored(const char *path, void *payload)
{
	const struct ignore_ctx *ctx = payload;
	const cJSON *item;
	cJSON_ArrayForEach(item, ctx->paths) {
		size_t n;
		if (!cJSON_IsString(item) || !ignore_entry_is_clean(item->valuestring, &n))
			continue;
		if (strncmp(path, item->valuestring, n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return 1;
	}
	return 0;
}

static int load_repository(struct build *b)
{
	struct impl *impl = b->l->impl;
	long index = -1;
	for (size_t i = 0; i < impl->file_count; i++)
		if (strcmp(impl->files[i].path, REPOSITORY_FILE) == 0)
			index = (long)i;
	if (index < 0) {
		/* A keelson.yml would be an easy mistake to make: say so. */
		return keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISSING_FILE, REPOSITORY_FILE, 0, 0,
			"the repository has no keelson.yaml; it declares the repository-wide defaults "
			"(kind: Repository, see repo-layout/README.md)");
	}
	const cJSON *doc;
	b->repo_file = index;
	CHECK(keelson_document(&doc, b, (size_t)index, "Repository", NULL));
	b->repo_doc = doc;
	b->repo_stream = impl->files[index].stream;

	/* ignorePaths must be plain relative paths: reported here even when the
	 * rest of the document has problems, and only clean ones are used. */
	const struct keelson_yaml_stream *stream = impl->files[index].stream;
	const cJSON *root = stream ? keelson_yaml_document(stream, 0) : NULL;
	const cJSON *ignore = cJSON_IsObject(root) ? spec_member(root, "ignorePaths") : NULL;
	if (cJSON_IsArray(ignore)) {
		const cJSON *item;
		cJSON_ArrayForEach(item, ignore)
			if (cJSON_IsString(item) && item->valuestring[0] != '\0' &&
			    !ignore_entry_is_clean(item->valuestring, &(size_t){0}))
				CHECK(keelson_problem_add_node(b->l->problems, KEELSON_PROBLEM_PATH_ESCAPE, stream,
					REPOSITORY_FILE, item, 0,
					"ignorePaths entry \"%s\" is not a plain relative path inside the repository",
					item->valuestring));
		struct ignore_ctx ctx = {ignore};
		keelson_problem_list_filter(b->l->problems, path_is_ignored, &ctx);
		for (size_t i = 0; i < impl->file_count; i++)
			impl->files[i].ignored = path_is_ignored(impl->files[i].path, &ctx);
	}
	const cJSON *kinds = cJSON_IsObject(root) ? spec_member(root, "clusterScopedKinds") : NULL;
	if (cJSON_IsArray(kinds)) {
		size_t n = (size_t)cJSON_GetArraySize(kinds);
		impl->cluster_scoped_kinds = calloc(n ? n : 1, sizeof(*impl->cluster_scoped_kinds));
		if (impl->cluster_scoped_kinds == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		const cJSON *item;
		cJSON_ArrayForEach(item, kinds)
			if (cJSON_IsString(item))
				impl->cluster_scoped_kinds[impl->cluster_scoped_count++] = item->valuestring;
	}
	return 0;
}

/* Kinds of the Kubernetes API that are cluster-scoped, as (group, kind). */
static const struct {
	const char *group;
	const char *kind;
} builtin_cluster_scoped[] = {
	{"", "Namespace"},
	{"", "Node"},
	{"", "PersistentVolume"},
	{"", "ComponentStatus"},
	{"rbac.authorization.k8s.io", "ClusterRole"},
	{"rbac.authorization.k8s.io", "ClusterRoleBinding"},
	{"apiextensions.k8s.io", "CustomResourceDefinition"},
	{"apiregistration.k8s.io", "APIService"},
	{"storage.k8s.io", "StorageClass"},
	{"storage.k8s.io", "CSIDriver"},
	{"storage.k8s.io", "CSINode"},
	{"storage.k8s.io", "VolumeAttachment"},
	{"scheduling.k8s.io", "PriorityClass"},
	{"networking.k8s.io", "IngressClass"},
	{"node.k8s.io", "RuntimeClass"},
	{"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
	{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
	{"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
	{"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
	{"certificates.k8s.io", "CertificateSigningRequest"},
	{"flowcontrol.apiserver.k8s.io", "FlowSchema"},
	{"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
};

static bool is_cluster_scoped(const struct impl *impl, const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof(builtin_cluster_scoped) / sizeof(builtin_cluster_scoped[0]); i++)
		if (strcmp(builtin_cluster_scoped[i].group, group) == 0 &&
		    strcmp(builtin_cluster_scoped[i].kind, kind) == 0)
			return true;
	size_t glen = strlen(group);
	for (size_t i = 0; i < impl->cluster_scoped_count; i++) {
		const char *gk = impl->cluster_scoped_kinds[i];
		if (strncmp(gk, group, glen) == 0 && gk[glen] == '/' && strcmp(gk + glen + 1, kind) == 0)
			return true;
	}
	return false;
}

bool keelson_desired_state_is_cluster_scoped(const struct keelson_desired_state *state,
					     const char *group, const char *kind)
{
	return is_cluster_scoped(state->impl, group, kind);
}

static int is_path_segment_name(const char *name)
{
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strpbrk(name, "/%") == NULL &&
	       strlen(name) <= 253;
}

/* Check one manifest document; returns 1 when it is a valid object and
 * *out is filled, 0 when problems were recorded, or an error. */
static int check_manifest(struct build *b, struct file_rec *rec, size_t doc_index,
			  struct keelson_object *out)
{
	struct keelson_problem_list *problems = b->l->problems;
	const struct keelson_yaml_stream *stream = rec->stream;
	const cJSON *doc = keelson_yaml_document(stream, doc_index);
	int bad = 0;

	if (!cJSON_IsObject(doc)) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_NOT_OBJECT, stream, rec->path, doc, 0,
			"document is not a mapping; a Kubernetes object starts with apiVersion: and kind:"));
		return 0;
	}
	static const char *const identity_fields[] = {"apiVersion", "kind"};
	const char *values[2] = {NULL, NULL};
	for (size_t i = 0; i < 2; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, identity_fields[i]);
		if (v == NULL) {
			CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_MISSING_FIELD, stream, rec->path, doc, 0,
				"object has no \"%s\"; every Kubernetes object needs one", identity_fields[i]));
			bad = 1;
		} else if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
			CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, rec->path, v, 0,
				"\"%s\" must be a non-empty string", identity_fields[i]));
			bad = 1;
		} else {
			values[i] = v->valuestring;
		}
	}
	if (values[0] != NULL && is_keelson_api_version(values[0]))
		return keelson_problem_add_node(problems, KEELSON_PROBLEM_MISPLACED, stream, rec->path, doc, 0,
			"keelson %s document in a manifest file; it belongs in %s",
			values[1] ? values[1] : "", keelson_kind_home(values[1]));

	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	const cJSON *name = NULL, *ns = NULL;
	if (metadata == NULL) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_MISSING_FIELD, stream, rec->path, doc, 0,
			"object has no \"metadata\"; add metadata.name"));
		return 0;
	}
	if (!cJSON_IsObject(metadata)) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, rec->path, metadata, 0,
			"\"metadata\" must be a mapping"));
		return 0;
	}
	name = cJSON_GetObjectItemCaseSensitive(metadata, "name");
	if (name == NULL) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_MISSING_FIELD, stream, rec->path, metadata, 0,
			"metadata has no \"name\"; every object keelson applies needs one (generateName is not "
			"supported: the object could not be found again)"));
		bad = 1;
	} else if (!cJSON_IsString(name) || name->valuestring[0] == '\0') {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, rec->path, name, 0,
			"metadata.name must be a non-empty string"));
		bad = 1;
	} else if (!is_path_segment_name(name->valuestring)) {
		/* The API server puts every name in a URL path: it refuses these
		 * for every kind, so a revision holding one could not be applied. */
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, rec->path, name, 0,
			"metadata.name \"%s\" cannot be a Kubernetes name: it must not be \".\" or \"..\", contain "
			"'/' or '%%', or be longer than 253 characters", name->valuestring));
		bad = 1;
	}
	if (bad)
		return 0;

	const char *api_version = values[0];
	const char *slash = strrchr(api_version, '/');
	const char *group = slash ? arena_strndup(b->l->impl, api_version, (size_t)(slash - api_version)) : "";
	if (group == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	const char *kind = values[1];
	bool cluster_scoped = is_cluster_scoped(b->l->impl, group, kind);
	ns = cJSON_GetObjectItemCaseSensitive(metadata, "namespace");
	if (ns != NULL && (!cJSON_IsString(ns) || ns->valuestring[0] == '\0')) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, rec->path, ns, 0,
			"metadata.namespace must be a non-empty string"));
		return 0;
	}
	if (ns != NULL && !keelson_layout_format_check(KEELSON_FORMAT_DNS_LABEL, ns->valuestring)) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_WRONG_TYPE, stream, rec->path, ns, 0,
			"metadata.namespace \"%s\" is not a namespace name: lower-case letters, digits and '-', "
			"at most 63 characters, starting and ending with a letter or digit", ns->valuestring));
		return 0;
	}
	if (cluster_scoped && ns != NULL) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_MISPLACED, stream, rec->path, ns, 1,
			"%s is cluster-scoped and takes no metadata.namespace; remove it", kind));
		return 0;
	}
	if (!cluster_scoped && ns == NULL) {
		CHECK(keelson_problem_add_node(problems, KEELSON_PROBLEM_MISSING_FIELD, stream, rec->path, metadata, 0,
			"%s %s has no metadata.namespace; keelson never guesses a namespace: write it%s%s%s%s%s",
			kind, name->valuestring,
			group[0] ? " (or, if it is a cluster-scoped custom resource, list " : "",
			group[0] ? group : "", group[0] ? "/" : "", group[0] ? kind : "",
			group[0] ? " in spec.clusterScopedKinds of keelson.yaml)" : ""));
		return 0;
	}

	const struct keelson_source_pos *pos = keelson_yaml_position(stream, doc);
	*out = (struct keelson_object){
		.api_version = api_version,
		.group = group,
		.kind = kind,
		.namespace_ = ns ? ns->valuestring : "",
		.name = name->valuestring,
		.body = doc,
		.stream = stream,
		.file = rec->path,
		.line = pos ? pos->line : 0,
		.column = pos ? pos->column : 0,
		.document_index = doc_index,
	};
	return 1;
}

static int push_object(struct system_builder *s, const struct keelson_object *object)
{
	if (s->system.object_count == s->object_capacity) {
		size_t capacity = s->object_capacity ? s->object_capacity * 2 : 16;
		struct keelson_object *grown = realloc(s->system.objects, capacity * sizeof(*grown));
		if (grown == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		s->system.objects = grown;
		s->object_capacity = capacity;
	}
	s->system.objects[s->system.object_count++] = *object;
	return 0;
}

/* The table has checked keys and types; the diff engine's own parser has
 * the last word (pointer syntax, the number of rules), so what the loader
 * accepts is exactly what `keelson diff` and the reconcile loop apply. */
static int load_ignore_rules(struct build *b, struct system_builder *s, const struct file_rec *rec,
			     const cJSON *node)
{
	struct impl *impl = b->l->impl;
	struct keelson_diff_ignore_rules *rules = NULL;
	if (node == NULL)
		return 0;
	int rc = keelson_diff_ignore_rules_parse(&rules, node, rec->stream);
	if (rc == KEELSON_EINVALID)
		return add_positioned_problem(b->l, rec->path, KEELSON_PROBLEM_WRONG_TYPE);
	if (rc < 0)
		return rc;
	if (impl->ignore_rules_count == impl->ignore_rules_capacity) {
		size_t capacity = impl->ignore_rules_capacity ? impl->ignore_rules_capacity * 2 : 8;
		struct keelson_diff_ignore_rules **grown =
			realloc(impl->ignore_rules, capacity * sizeof(*grown));
		if (grown == NULL) {
			keelson_diff_ignore_rules_free(rules);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		impl->ignore_rules = grown;
		impl->ignore_rules_capacity = capacity;
	}
	impl->ignore_rules[impl->ignore_rules_count++] = rules;
	s->system.ignore_differences = node;
	s->system.ignore_rules = rules;
	return 0;
}

/* One input of a system's content id: the file's path and what
 * identifies its bytes. */
static int hash_file_identity(EVP_MD_CTX *ctx, const struct impl *impl, long index)
{
	static const unsigned char none = 0;
	if (index < 0)
		return EVP_DigestUpdate(ctx, &none, 1);
	const struct shared_file *f = impl->files[index].shared;
	unsigned char tag = f->object_id_size ? 'o' : f->has_digest ? 'd' : 'u';
	int ok = EVP_DigestUpdate(ctx, f->path, strlen(f->path) + 1) && EVP_DigestUpdate(ctx, &tag, 1);
	if (tag == 'o')
		ok = ok && EVP_DigestUpdate(ctx, f->object_id, f->object_id_size);
	else if (tag == 'd')
		ok = ok && EVP_DigestUpdate(ctx, f->digest, sizeof(f->digest));
	else
		ok = ok && EVP_DigestUpdate(ctx, &f->size, sizeof(f->size));
	return ok;
}

/* The system's content id: everything its desired state is made of (its
 * files, its cluster.yaml, keelson.yaml), so that equal ids in two
 * revisions mean the system did not change. */
static int system_content_id(struct build *b, const struct cluster_builder *c, struct system_builder *s)
{
	const struct impl *impl = b->l->impl;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned len = 0;
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
		 hash_file_identity(ctx, impl, b->repo_file) && hash_file_identity(ctx, impl, c->cluster_file) &&
		 hash_file_identity(ctx, impl, s->system_file);
	for (size_t m = 0; ok && m < s->manifest_count; m++)
		if (!impl->files[s->manifests[m]].ignored)
			ok = hash_file_identity(ctx, impl, (long)s->manifests[m]);
	ok = ok && EVP_DigestFinal_ex(ctx, s->system.content_id, &len) && len == sizeof(s->system.content_id);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : keelson_error_set(KEELSON_ERROR, "%s: cannot compute SHA-256", s->dir);
}

/* The same system in options->previous when its content id is equal: its
 * files, cluster.yaml and keelson.yaml are byte for byte the same, so its
 * objects passed the same checks there (only valid revisions are kept). */
static const struct keelson_system *previous_system(const struct build *b, const struct cluster_builder *c,
						    const struct system_builder *s)
{
	const struct keelson_desired_state *previous = b->l->options->previous;
	if (previous == NULL)
		return NULL;
	const struct keelson_cluster *pc = keelson_desired_state_cluster(previous, c->name);
	const struct keelson_system *ps = pc ? keelson_cluster_system(pc, s->name) : NULL;
	if (ps == NULL || memcmp(ps->content_id, s->system.content_id, sizeof(ps->content_id)) != 0)
		return NULL;
	/* The objects borrow from the parsed files: every manifest must be
	 * the very parse the previous state holds (shared, not parsed again). */
	for (size_t m = 0; m < s->manifest_count; m++) {
		const struct file_rec *rec = &b->l->impl->files[s->manifests[m]];
		if (!rec->ignored && !rec->reused)
			return NULL;
	}
	return ps;
}

/* Take the objects of an unchanged system from the previous state instead
 * of checking every document again. Their strings are borrowed from the
 * parsed files this state shares, except the group, which each state owns. */
static int reuse_objects(struct build *b, struct system_builder *s, const struct keelson_system *ps)
{
	s->system.objects = malloc((ps->object_count ? ps->object_count : 1) * sizeof(*s->system.objects));
	if (s->system.objects == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	s->object_capacity = ps->object_count;
	const char *last_from = NULL, *last_to = NULL;
	for (size_t i = 0; i < ps->object_count; i++) {
		struct keelson_object o = ps->objects[i];
		if (o.group[0] == '\0') {
			o.group = "";
		} else if (last_from != NULL && strcmp(o.group, last_from) == 0) {
			o.group = last_to;
		} else {
			last_from = o.group;
			o.group = arena_strndup(b->l->impl, o.group, strlen(o.group));
			if (o.group == NULL)
				return keelson_error_set(KEELSON_ENOMEM, "out of memory");
			last_to = o.group;
		}
		o.system = NULL; /* set by assemble() */
		s->system.objects[s->system.object_count++] = o;
	}
	b->l->objects += ps->object_count;
	b->l->systems_reused++;
	return 0;
}

static int load_system(struct build *b, struct cluster_builder *c, struct system_builder *s)
{
	struct impl *impl = b->l->impl;
	s->system.name = s->name;
	if (s->system_file < 0) {
		char *file = NULL;
		if (asprintf(&file, "%s/%s", s->dir, SYSTEM_FILE) < 0)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		int rc = keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISSING_FILE, file, 0, 0,
			"system directory %s has manifests but no system.yaml; add one (kind: System) naming "
			"the plugin that owns them", s->dir);
		free(file);
		CHECK(rc);
	} else {
		const cJSON *doc;
		struct file_rec *rec = &impl->files[s->system_file];
		CHECK(keelson_document(&doc, b, (size_t)s->system_file, "System", s->name));
		s->system.file = rec->path;
		if (doc != NULL) {
			const struct keelson_source_pos *pos = keelson_yaml_position(rec->stream, doc);
			s->system.line = pos ? pos->line : 0;
			s->system.column = pos ? pos->column : 0;
			s->system.plugin = string_member(cJSON_GetObjectItemCaseSensitive(doc, "spec"), "plugin");
			s->system.description = string_member(cJSON_GetObjectItemCaseSensitive(doc, "spec"), "description");
			s->system.parameters = spec_member(doc, "parameters");
			s->system.policy = c->cluster.policy;
			apply_policy(&s->system.policy, spec_member(doc, "policy"));
			CHECK(load_ignore_rules(b, s, rec, spec_member(doc, "ignoreDifferences")));
		}
	}
	const struct keelson_system *unchanged = previous_system(b, c, s);
	size_t max_objects = b->l->options->max_objects ? b->l->options->max_objects : DEFAULT_MAX_OBJECTS;
	if (unchanged != NULL && b->l->problems->count == 0 && b->l->objects + unchanged->object_count <= max_objects)
		return reuse_objects(b, s, unchanged);
	for (size_t m = 0; m < s->manifest_count; m++) {
		struct file_rec *rec = &impl->files[s->manifests[m]];
		if (rec->ignored || rec->stream == NULL)
			continue;
		size_t count = keelson_yaml_document_count(rec->stream);
		for (size_t d = 0; d < count; d++) {
			struct keelson_object object;
			int rc = check_manifest(b, rec, d, &object);
			CHECK(rc);
			if (rc != 1)
				continue;
			/* Bounds memory for a repository of huge generated bundles. */
			size_t max = b->l->options->max_objects ? b->l->options->max_objects : DEFAULT_MAX_OBJECTS;
			if (++b->l->objects > max) {
				if (!b->l->objects_reported) {
					b->l->objects_reported = true;
					CHECK(keelson_problem_add(b->l->problems, KEELSON_PROBLEM_TOO_LARGE, rec->path,
						object.line, object.column,
						"the revision has more than %zu objects; keelson stops counting here: "
						"split the repository, or raise the limit if it is really needed", max));
				}
				continue;
			}
			CHECK(push_object(s, &object));
		}
	}
	return 0;
}

/* Parameters that name objects of the system (the StatefulSets a plugin
 * drives) must name objects that are there: a typo would otherwise surface
 * only when the plugin finds nothing to manage. */
static int check_references(struct build *b, struct system_builder *s)
{
	const struct keelson_plugin_info *plugin = keelson_layout_plugin_find(s->system.plugin);
	if (plugin == NULL || !cJSON_IsObject(s->system.parameters) || s->system_file < 0)
		return 0;
	const struct file_rec *rec = &b->l->impl->files[s->system_file];
	for (const struct keelson_field *f = plugin->parameters; f->type != KEELSON_FIELD_END; f++) {
		if (f->refers_kind == NULL)
			continue;
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(s->system.parameters, f->name);
		/* A single string names one object, a list several. */
		int single = cJSON_IsString(value);
		const cJSON *item = single ? value : value != NULL ? value->child : NULL;
		size_t index = 0;
		for (; item != NULL; item = single ? NULL : item->next) {
			size_t this_index = index++;
			char index_buf[32] = "";
			if (!single)
				snprintf(index_buf, sizeof(index_buf), "[%zu]", this_index);
			if (!cJSON_IsString(item))
				continue;
			int found = 0;
			char candidates[256] = "";
			size_t used = 0;
			for (size_t i = 0; i < s->system.object_count && !found; i++) {
				const struct keelson_object *o = &s->system.objects[i];
				if (strcmp(o->kind, f->refers_kind) != 0 || strcmp(o->group, f->refers_group) != 0)
					continue;
				found = strcmp(o->name, item->valuestring) == 0;
				int n = snprintf(candidates + used, sizeof(candidates) - used, "%s%s",
						 used ? ", " : "", o->name);
				if (n > 0 && (size_t)n < sizeof(candidates) - used)
					used += (size_t)n;
			}
			if (found)
				continue;
			CHECK(keelson_problem_add_node(b->l->problems, KEELSON_PROBLEM_UNKNOWN_REFERENCE, rec->stream,
				rec->path, item, 0,
				"spec.parameters.%s%s names %s \"%s\", which is not among the objects of system %s "
				"(%s%s); fix the name or add the %s to %s/",
				f->name, index_buf, f->refers_kind, item->valuestring, s->name,
				used ? "it has: " : "it has no ", used ? candidates : f->refers_kind,
				f->refers_kind, s->dir));
		}
	}
	return 0;
}

static int load_cluster(struct build *b, struct cluster_builder *c)
{
	struct impl *impl = b->l->impl;
	c->cluster.name = c->name;
	c->cluster.policy = b->state->defaults;
	if (c->cluster_file < 0) {
		char *file = NULL;
		if (asprintf(&file, CLUSTERS_DIR "/%s/" CLUSTER_FILE, c->name) < 0)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		int rc = keelson_problem_add(b->l->problems, KEELSON_PROBLEM_MISSING_FILE, file, 0, 0,
			"cluster directory clusters/%s has no cluster.yaml; add one (kind: Cluster) "
			"saying how to reach the cluster", c->name);
		free(file);
		CHECK(rc);
	} else {
		const cJSON *doc;
		CHECK(keelson_document(&doc, b, (size_t)c->cluster_file, "Cluster", c->name));
		c->cluster.file = impl->files[c->cluster_file].path;
		if (doc != NULL) {
			c->cluster.kube_context = string_member(cJSON_GetObjectItemCaseSensitive(doc, "spec"), "kubeContext");
			c->cluster.description = string_member(cJSON_GetObjectItemCaseSensitive(doc, "spec"), "description");
			apply_policy(&c->cluster.policy, spec_member(doc, "policy"));
		}
	}
	for (size_t i = 0; i < c->system_count; i++) {
		CHECK(system_content_id(b, c, &c->systems[i]));
		CHECK(load_system(b, c, &c->systems[i]));
		CHECK(check_references(b, &c->systems[i]));
	}
	return 0;
}

/* ---- identities -------------------------------------------------------- */

static uint64_t hash_bytes(uint64_t h, const char *s)
{
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	h ^= 0x1f; /* separator: ("ab","c") and ("a","bc") differ */
	h *= 1099511628211ULL;
	return h;
}

static uint64_t identity_hash(const struct keelson_object *o)
{
	uint64_t h = 14695981039346656037ULL;
	h = hash_bytes(h, o->group);
	h = hash_bytes(h, o->kind);
	h = hash_bytes(h, o->namespace_);
	return hash_bytes(h, o->name);
}

static int same_identity(const struct keelson_object *a, const struct keelson_object *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->kind, b->kind) == 0 &&
	       strcmp(a->namespace_, b->namespace_) == 0 && strcmp(a->group, b->group) == 0;
}

static void describe(char *buf, size_t size, const struct keelson_object *o)
{
	snprintf(buf, size, "%s%s%s %s%s%s", o->kind, o->group[0] ? "." : "", o->group,
		 o->namespace_, o->namespace_[0] ? "/" : "", o->name);
}

struct slot {
	const struct keelson_object *object;
	const struct system_builder *system;
};

static int check_identities(struct build *b, struct cluster_builder *c)
{
	size_t total = 0;
	for (size_t i = 0; i < c->system_count; i++)
		total += c->systems[i].system.object_count;
	if (total == 0)
		return 0;
	size_t size = 16;
	while (size < total * 2)
		size *= 2;
	struct slot *table = calloc(size, sizeof(*table));
	if (table == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	int rc = 0;
	for (size_t i = 0; i < c->system_count && rc == 0; i++) {
		const struct system_builder *s = &c->systems[i];
		for (size_t j = 0; j < s->system.object_count && rc == 0; j++) {
			const struct keelson_object *o = &s->system.objects[j];
			size_t k = (size_t)identity_hash(o) & (size - 1);
			while (table[k].object != NULL && !same_identity(table[k].object, o))
				k = (k + 1) & (size - 1);
			if (table[k].object == NULL) {
				table[k] = (struct slot){o, s};
				continue;
			}
			const struct keelson_object *first = table[k].object;
			char what[512];
			describe(what, sizeof(what), o);
			if (table[k].system == s)
				rc = keelson_problem_add(b->l->problems, KEELSON_PROBLEM_DUPLICATE_OBJECT, o->file,
					o->line, o->column,
					"%s is defined twice in system %s (first at %s:%u:%u); keep one definition",
					what, s->name, first->file, first->line, first->column);
			else
				rc = keelson_problem_add(b->l->problems, KEELSON_PROBLEM_CLAIMED_TWICE, o->file,
					o->line, o->column,
					"%s is claimed by two systems of cluster %s: %s (%s:%u:%u) and %s; "
					"an object belongs to exactly one system",
					what, c->name, table[k].system->name, first->file, first->line, first->column,
					s->name);
		}
	}
	free(table);
	return rc;
}

/* ---- assembling -------------------------------------------------------- */

static int compare_clusters(const void *a, const void *b)
{
	return strcmp(((const struct keelson_cluster *)a)->name, ((const struct keelson_cluster *)b)->name);
}

static int compare_systems(const void *a, const void *b)
{
	return strcmp(((const struct keelson_system *)a)->name, ((const struct keelson_system *)b)->name);
}

/* Move the builders' results into the state; the builders keep nothing. */
static int assemble(struct build *b)
{
	struct keelson_desired_state *state = b->state;
	state->clusters = calloc(b->cluster_count ? b->cluster_count : 1, sizeof(*state->clusters));
	if (state->clusters == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->cluster_count; i++) {
		struct cluster_builder *c = &b->clusters[i];
		struct keelson_cluster *out = &state->clusters[state->cluster_count++];
		*out = c->cluster;
		out->systems = calloc(c->system_count ? c->system_count : 1, sizeof(*out->systems));
		if (out->systems == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		for (size_t j = 0; j < c->system_count; j++) {
			out->systems[out->system_count++] = c->systems[j].system;
			c->systems[j].system.objects = NULL;
			out->object_count += c->systems[j].system.object_count;
		}
		qsort(out->systems, out->system_count, sizeof(*out->systems), compare_systems);
		state->system_count += out->system_count;
		state->object_count += out->object_count;
	}
	qsort(state->clusters, state->cluster_count, sizeof(*state->clusters), compare_clusters);
	for (size_t i = 0; i < state->cluster_count; i++) {
		struct keelson_cluster *c = &state->clusters[i];
		for (size_t j = 0; j < c->system_count; j++) {
			struct keelson_system *s = &c->systems[j];
			s->cluster = c;
			for (size_t k = 0; k < s->object_count; k++)
				s->objects[k].system = s;
		}
	}
	return 0;
}

static int build_state(struct build *b)
{
	struct impl *impl = b->l->impl;
	struct keelson_desired_state *state = b->state;

	CHECK(load_repository(b));
	if (b->repo_doc != NULL) {
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(b->repo_doc, "spec");
		state->repository_name = string_member(cJSON_GetObjectItemCaseSensitive(b->repo_doc, "metadata"), "name");
		state->status_branch = string_member(spec, "statusBranch");
		apply_policy(&state->defaults, cJSON_GetObjectItemCaseSensitive(spec, "policy"));
	}
	for (size_t i = 0; i < impl->file_count; i++) {
		if (impl->files[i].ignored)
			continue;
		state->file_count++;
		state->files_reused += (size_t)impl->files[i].reused;
		CHECK(classify(b, i));
	}
	for (size_t i = 0; i < b->cluster_count; i++)
		CHECK(load_cluster(b, &b->clusters[i]));
	for (size_t i = 0; i < b->cluster_count; i++)
		CHECK(check_identities(b, &b->clusters[i]));
	return 0;
}

void keelson_desired_state_free(struct keelson_desired_state *state)
{
	if (state == NULL)
		return;
	for (size_t i = 0; i < state->cluster_count; i++) {
		for (size_t j = 0; j < state->clusters[i].system_count; j++)
			free(state->clusters[i].systems[j].objects);
		free(state->clusters[i].systems);
	}
	free(state->clusters);
	impl_free(state->impl);
	free(state);
}

int keelson_layout_load(struct keelson_desired_state **out,
			struct keelson_problem_list **out_problems,
			const struct keelson_file_source *source,
			const struct keelson_layout_options *options)
{
	struct keelson_layout_options defaults;
	struct build b = {0};
	struct loader l = {0};
	int rc = 0;

	*out = NULL;
	*out_problems = keelson_problem_list_new();
	if (*out_problems == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if (source == NULL || source->version < KEELSON_FILE_SOURCE_VERSION_MIN ||
	    source->version > KEELSON_FILE_SOURCE_VERSION)
		return keelson_error_set(KEELSON_EINVALID,
			"file source version %u is not between %u and %u; rebuild the source with this keelson",
			source ? source->version : 0, KEELSON_FILE_SOURCE_VERSION_MIN, KEELSON_FILE_SOURCE_VERSION);
	if (options == NULL) {
		keelson_layout_options_init(&defaults);
		options = &defaults;
	} else if (options->version != KEELSON_LAYOUT_OPTIONS_VERSION) {
		return keelson_error_set(KEELSON_EINVALID, "layout options version %u is not %u",
					 options->version, KEELSON_LAYOUT_OPTIONS_VERSION);
	}

	struct keelson_desired_state *state = calloc(1, sizeof(*state));
	struct impl *impl = calloc(1, sizeof(*impl));
	if (state == NULL || impl == NULL) {
		free(state);
		free(impl);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	state->impl = impl;
	state->source = arena_strndup(impl, source->description ? source->description : "",
				      source->description ? strlen(source->description) : 0);
	if (state->source == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}

	l = (struct loader){.options = options, .problems = *out_problems, .impl = impl,
			    .source_reports_too_large = source->version >= 2};
	if (options->previous != NULL) {
		const struct impl *prev = options->previous->impl;
		l.previous = malloc((prev->file_count ? prev->file_count : 1) * sizeof(*l.previous));
		if (l.previous == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		for (size_t i = 0; i < prev->file_count; i++)
			if (prev->files[i].stream != NULL)
				l.previous[l.previous_count++] = prev->files[i].shared;
		qsort(l.previous, l.previous_count, sizeof(*l.previous), compare_shared);
	}
	l.source_is_lazy = source->version >= 3 && source->for_each_file_lazy != NULL;
	b.repo_file = -1;
	rc = l.source_is_lazy ? source->for_each_file_lazy(source, options->max_file_size, visit_file, &l)
			      : source->for_each_file(source, options->max_file_size, visit_file, &l);
	if (rc == KEELSON_ELIMIT) {
		/* The walk stopped at a limit (too many files or bytes, or a
		 * version 1 source's oversized file): report it; what was not
		 * read cannot be validated, so nothing else is concluded from a
		 * partial tree. */
		if (l.files_visited <= options->max_files && l.total_bytes <= options->max_total_bytes) {
			/* A version 1 source stops at an oversized file; a later one
			 * only at a limit of its own, whose message says what to do. */
			const char *message = keelson_error_last()->message;
			rc = keelson_problem_add(*out_problems, KEELSON_PROBLEM_TOO_LARGE, "", 0, 0, "%s%s", message,
				source->version < 2 ? "; split the file, or raise the limit if it is really needed" : "");
			if (rc < 0)
				goto cleanup;
		}
		rc = KEELSON_EINVALID;
		goto cleanup;
	}
	if (rc == KEELSON_EINVALID) {
		/* The source refused content it will not hand over (a Git
		 * submodule, a crafted tree entry): a problem of the revision,
		 * reported with the others so that every caller shows it. */
		const char *message = keelson_error_last()->message;
		size_t prefix = strlen(state->source);
		if (prefix > 0 && strncmp(message, state->source, prefix) == 0 && message[prefix] == ':')
			message += prefix + 1 + (message[prefix + 1] == ' ');
		rc = keelson_problem_add(*out_problems, KEELSON_PROBLEM_PATH_ESCAPE, "", 0, 0, "%s", message);
		if (rc == 0)
			rc = KEELSON_EINVALID;
		goto cleanup;
	}
	if (rc < 0) {
		keelson_error_wrap(rc, "reading %s", state->source);
		goto cleanup;
	}

	b.l = &l;
	b.state = state;
	rc = build_state(&b);
	if (rc < 0)
		goto cleanup;
	if ((*out_problems)->count > 0) {
		rc = KEELSON_EINVALID;
		goto cleanup;
	}
	rc = assemble(&b);
	if (rc < 0)
		goto cleanup;
	state->files_unread = l.reused_by_object_id;
	state->files_parsed = l.files_parsed;
	state->systems_reused = l.systems_reused;
	*out = state;
	state = NULL;

cleanup:
	free(l.previous);
	builders_free(&b);
	keelson_desired_state_free(state);
	if (rc == KEELSON_EINVALID && (*out_problems)->count > 0) {
		keelson_problem_list_sort(*out_problems);
		keelson_error_set(KEELSON_EINVALID, "%zu problem%s; the revision is rejected",
				  (*out_problems)->count, (*out_problems)->count == 1 ? "" : "s");
	}
	return rc;
}

const struct keelson_cluster *keelson_desired_state_cluster(const struct keelson_desired_state *state,
							   const char *name)
{
	for (size_t i = 0; i < state->cluster_count; i++)
		if (strcmp(state->clusters[i].name, name) == 0)
			return &state->clusters[i];
	return NULL;
}

const struct keelson_system *keelson_cluster_system(const struct keelson_cluster *cluster, const char *name)
{
	for (size_t i = 0; i < cluster->system_count; i++)
		if (strcmp(cluster->systems[i].name, name) == 0)
			return &cluster->systems[i];
	return NULL;
}
