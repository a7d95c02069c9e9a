#include "config.h"

#include "review/revisions.h"

#include "core/error.h"
#include "core/log.h"
#include "git/git_source.h"

#include <errno.h>
#include <ftw.h>
#include <git2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A tree with more entries than this is not a configuration repository
 * (the Git source's limit). */
#define TREE_MAX_ENTRIES 1000000
#define PATH_MAX_BYTES 4096
#define REV_MAX_BYTES 1024

struct keelson_review_repo {
	char *where;
	char *display;
	git_repository *local; /* a directory opened in place */
	char *tmp_dir;         /* a URL: its temporary bare cache lives below */
	char *cache_dir;
};

static const char *git_message(void)
{
	const git_error *e = git_error_last();
	return e != NULL && e->message != NULL ? e->message : "unknown libgit2 error";
}

static bool looks_like_url(const char *s)
{
	if (strstr(s, "://") != NULL)
		return true;
	/* scp-like user@host:path: an '@' before the first ':' and no '/' before it. */
	const char *at = strchr(s, '@'), *colon = strchr(s, ':'), *slash = strchr(s, '/');
	return at && colon && at < colon && (!slash || slash > colon);
}

static bool is_full_sha(const char *s)
{
	return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

int keelson_review_repo_open(struct keelson_review_repo **out, const char *where)
{
	*out = NULL;
	struct keelson_review_repo *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->where = strdup(where)) == NULL) {
		free(r);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	git_libgit2_init();
	struct stat st;
	int rc = 0;
	if (stat(where, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (git_repository_open_ext(&r->local, where, 0, NULL) < 0) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"%s is not a Git repository (%s); give a clone of the configuration repository "
				"or its URL", where, git_message());
			goto fail;
		}
		if ((r->display = strdup(where)) == NULL)
			goto nomem;
	} else if (looks_like_url(where)) {
		const char *tmp = getenv("TMPDIR");
		if (asprintf(&r->tmp_dir, "%s/keelson-plan-XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp") < 0) {
			r->tmp_dir = NULL;
			goto nomem;
		}
		if (mkdtemp(r->tmp_dir) == NULL) {
			rc = keelson_error_set(KEELSON_ERROR, "cannot create a temporary directory %s: %s",
					       r->tmp_dir, strerror(errno));
			free(r->tmp_dir);
			r->tmp_dir = NULL;
			goto fail;
		}
		if (asprintf(&r->cache_dir, "%s/cache", r->tmp_dir) < 0) {
			r->cache_dir = NULL;
			goto nomem;
		}
		/* Validates the URL (a password in it is refused) and gives the
		 * redacted form for messages, without contacting the remote. */
		struct keelson_git_source *src = NULL;
		struct keelson_git_source_options opts = {
			.version = KEELSON_GIT_SOURCE_OPTIONS_VERSION, .url = where, .cache_dir = r->cache_dir,
			.track = KEELSON_GIT_TRACK_BRANCH, .ref = "main",
			.token_env = "KEELSON_GIT_TOKEN", .username_env = "KEELSON_GIT_USERNAME",
		};
		if ((rc = keelson_git_source_open(&src, &opts)) < 0)
			goto fail;
		r->display = strdup(keelson_git_source_display_url(src));
		keelson_git_source_free(src);
		if (r->display == NULL)
			goto nomem;
	} else {
		rc = keelson_error_set(KEELSON_ENOTFOUND,
			"%s: no such directory, and not a Git URL; give a clone of the configuration "
			"repository or its URL", where);
		goto fail;
	}
	*out = r;
	return 0;
nomem:
	rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
fail:
	keelson_review_repo_free(r);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		keelson_log(KEELSON_LOG_WARN, "cannot remove a temporary file", "path", path, "error",
			    strerror(errno), (const char *)NULL);
	return 0;
}

void keelson_review_repo_free(struct keelson_review_repo *repo)
{
	if (repo == NULL)
		return;
	git_repository_free(repo->local);
	if (repo->tmp_dir != NULL)
		nftw(repo->tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(repo->tmp_dir);
	free(repo->cache_dir);
	free(repo->display);
	free(repo->where);
	free(repo);
	git_libgit2_shutdown();
}

const char *keelson_review_repo_display(const struct keelson_review_repo *repo)
{
	return repo->display;
}

/* --- A commit's tree of a local repository as a file source ------------------
 *
 * The same walk as the Git source's (reconciler/git/git_source.c), over a
 * repository opened in place rather than the source's cache: entries with
 * unsafe names, submodules and duplicate names refuse the revision, files
 * come in bytewise path order, oversized ones are visited with too_large.
 * Keep the two in step. */

struct tree_entry {
	char *path;
	git_oid oid;
	enum keelson_file_kind kind;
};

struct walk_state {
	struct tree_entry *items;
	size_t count, cap;
	int rc;
	const char *description;
};

struct tree_source {
	struct keelson_file_source base;
	git_repository *repo;
	git_oid tree_id;
	char *description;
};

static bool safe_entry_name(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       strchr(name, '/') == NULL && strchr(name, '\\') == NULL;
}

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	struct walk_state *w = payload;
	const char *name = git_tree_entry_name(entry);
	if (!safe_entry_name(name)) {
		w->rc = keelson_error_set(KEELSON_EINVALID,
			"%s: tree entry \"%s%s\" has an unsafe name (empty, \".\", \"..\" or containing a slash "
			"or backslash) and could name a file outside the repository; the revision is refused: "
			"remove the entry (git rm) or rewrite the commit", w->description, root, name);
		return -1;
	}
	/* Trees too, before libgit2 descends: crafted nesting must not recurse
	 * without bound. */
	size_t len = strlen(root) + strlen(name);
	if (len >= PATH_MAX_BYTES) {
		w->rc = keelson_error_set(KEELSON_ELIMIT, "%s: path %s%s is longer than %d bytes", w->description,
					  root, name, PATH_MAX_BYTES);
		return -1;
	}
	enum keelson_file_kind kind;
	switch (git_tree_entry_filemode(entry)) {
	case GIT_FILEMODE_TREE:
		return 0;
	case GIT_FILEMODE_BLOB:
		kind = KEELSON_FILE_REGULAR;
		break;
	case GIT_FILEMODE_BLOB_EXECUTABLE:
		kind = KEELSON_FILE_EXECUTABLE;
		break;
	case GIT_FILEMODE_LINK:
		kind = KEELSON_FILE_SYMLINK;
		break;
	case GIT_FILEMODE_COMMIT:
		/* As the Git source: keelson does not fetch submodules, and a
		 * revision without files its author sees is not reviewed. */
		w->rc = keelson_error_set(KEELSON_EINVALID,
			"%s: %s%s is a Git submodule; keelson does not fetch submodules, so the revision is "
			"refused: commit the files themselves instead or remove the submodule",
			w->description, root, name);
		return -1;
	default:
		w->rc = keelson_error_set(KEELSON_EINVALID, "%s: %s%s has an unknown file mode", w->description, root,
					  name);
		return -1;
	}
	if (w->count >= TREE_MAX_ENTRIES) {
		w->rc = keelson_error_set(KEELSON_ELIMIT, "%s: more than %d files", w->description, TREE_MAX_ENTRIES);
		return -1;
	}
	if (w->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct tree_entry *items = realloc(w->items, cap * sizeof(*items));
		if (items == NULL) {
			w->rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			return -1;
		}
		w->items = items;
		w->cap = cap;
	}
	struct tree_entry *e = &w->items[w->count];
	if ((e->path = malloc(len + 1)) == NULL) {
		w->rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		return -1;
	}
	snprintf(e->path, len + 1, "%s%s", root, name);
	git_oid_cpy(&e->oid, git_tree_entry_id(entry));
	e->kind = kind;
	w->count++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->path, ((const struct tree_entry *)b)->path);
}

static int tree_for_each_file(const struct keelson_file_source *source, size_t max_file_size,
			      keelson_file_visit_fn visit, void *payload)
{
	const struct tree_source *ts = source->impl;
	struct walk_state w = {.description = ts->description};
	git_tree *tree = NULL;
	git_odb *odb = NULL;
	int rc = 0;
	if (git_tree_lookup(&tree, ts->repo, &ts->tree_id) < 0 || git_repository_odb(&odb, ts->repo) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "%s: reading the tree: %s", ts->description, git_message());
		goto cleanup;
	}
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &w) < 0) {
		rc = w.rc < 0 ? w.rc
			      : keelson_error_set(KEELSON_ERROR, "%s: walking the tree: %s", ts->description, git_message());
		goto cleanup;
	}
	qsort(w.items, w.count, sizeof(*w.items), entry_cmp);
	for (size_t i = 1; i < w.count; i++) {
		if (strcmp(w.items[i - 1].path, w.items[i].path) == 0) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"%s: the tree has two entries named %s (Git never writes that; the commit was "
				"crafted); the revision is refused: rewrite the commit", ts->description, w.items[i].path);
			goto cleanup;
		}
	}
	for (size_t i = 0; i < w.count; i++) {
		size_t size = 0;
		git_object_t type;
		if (git_odb_read_header(&size, &type, odb, &w.items[i].oid) < 0 || type != GIT_OBJECT_BLOB) {
			rc = keelson_error_set(KEELSON_ERROR, "%s: %s: cannot read the blob: %s", ts->description,
					       w.items[i].path, git_message());
			goto cleanup;
		}
		if (size > max_file_size) {
			struct keelson_file file = {.path = w.items[i].path, .size = size, .kind = w.items[i].kind,
						    .too_large = true};
			if ((rc = visit(&file, payload)) < 0)
				goto cleanup;
			continue;
		}
		git_blob *blob = NULL;
		if (git_blob_lookup(&blob, ts->repo, &w.items[i].oid) < 0) {
			rc = keelson_error_set(KEELSON_ERROR, "%s: %s: cannot read the blob: %s", ts->description,
					       w.items[i].path, git_message());
			goto cleanup;
		}
		struct keelson_file file = {.path = w.items[i].path, .data = git_blob_rawcontent(blob),
					    .size = (size_t)git_blob_rawsize(blob), .kind = w.items[i].kind};
		rc = visit(&file, payload);
		git_blob_free(blob);
		if (rc < 0)
			goto cleanup;
	}
cleanup:
	for (size_t i = 0; i < w.count; i++)
		free(w.items[i].path);
	free(w.items);
	git_odb_free(odb);
	git_tree_free(tree);
	return rc;
}

static void tree_source_free(struct keelson_file_source *source)
{
	if (source == NULL)
		return;
	struct tree_source *ts = source->impl;
	git_repository_free(ts->repo);
	free(ts->description);
	free(ts);
	git_libgit2_shutdown();
}

static int local_files(struct keelson_file_source **out, char sha_out[41], struct keelson_review_repo *r,
		       const char *rev)
{
	git_object *obj = NULL, *peeled = NULL;
	git_tree *tree = NULL;
	struct tree_source *ts = NULL;
	int rc = 0;
	if (git_revparse_single(&obj, r->local, rev) < 0 || git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		rc = keelson_error_set(KEELSON_ENOTFOUND,
			"%s: \"%s\" is not a commit of this repository (%s); fetch it first (git fetch origin %s)",
			r->display, rev, git_message(), rev);
		goto cleanup;
	}
	git_oid_tostr(sha_out, 41, git_object_id(peeled));
	if (git_commit_tree(&tree, (git_commit *)peeled) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "%s: reading the tree of %s: %s", r->display, sha_out,
				       git_message());
		goto cleanup;
	}
	if ((ts = calloc(1, sizeof(*ts))) == NULL ||
	    asprintf(&ts->description, "%s@%.12s", r->display, sha_out) < 0) {
		if (ts != NULL)
			ts->description = NULL;
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	git_libgit2_init();
	/* Its own handle: the source may outlive the review repository. */
	if (git_repository_open(&ts->repo, git_repository_path(r->local)) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "opening %s: %s", r->display, git_message());
		tree_source_free(&ts->base);
		ts = NULL;
		goto cleanup;
	}
	git_oid_cpy(&ts->tree_id, git_tree_id(tree));
	ts->base = (struct keelson_file_source){.version = KEELSON_FILE_SOURCE_VERSION, .description = ts->description,
						.for_each_file = tree_for_each_file, .free = tree_source_free,
						.impl = ts};
	*out = &ts->base;
	ts = NULL;
cleanup:
	if (ts != NULL) {
		free(ts->description);
		free(ts);
	}
	git_tree_free(tree);
	git_object_free(peeled);
	git_object_free(obj);
	return rc;
}

static int url_source_poll(struct keelson_git_source **out, struct keelson_git_revision *revision,
			   const struct keelson_review_repo *r, enum keelson_git_track track, const char *ref)
{
	struct keelson_git_source_options opts = {
		.version = KEELSON_GIT_SOURCE_OPTIONS_VERSION, .url = r->where, .cache_dir = r->cache_dir,
		.track = track, .ref = ref, .token_env = "KEELSON_GIT_TOKEN", .username_env = "KEELSON_GIT_USERNAME",
	};
	bool changed;
	int rc = keelson_git_source_open(out, &opts);
	if (rc == 0)
		rc = keelson_git_source_poll(revision, &changed, *out);
	if (rc < 0) {
		keelson_git_source_free(*out);
		*out = NULL;
	}
	return rc;
}

static int url_files(struct keelson_file_source **out, char sha_out[41], struct keelson_review_repo *r,
		     const char *rev)
{
	struct keelson_git_source *src = NULL;
	struct keelson_git_revision revision;
	int rc;
	if (is_full_sha(rev)) {
		rc = url_source_poll(&src, &revision, r, KEELSON_GIT_TRACK_COMMIT, rev);
	} else if (strncmp(rev, "refs/tags/", 10) == 0) {
		rc = url_source_poll(&src, &revision, r, KEELSON_GIT_TRACK_TAG, rev + 10);
	} else {
		const char *branch = strncmp(rev, "refs/heads/", 11) == 0 ? rev + 11 : rev;
		rc = url_source_poll(&src, &revision, r, KEELSON_GIT_TRACK_BRANCH, branch);
		/* Not a branch: maybe a tag of the same name. */
		if (rc == KEELSON_ENOTFOUND && branch == rev)
			rc = url_source_poll(&src, &revision, r, KEELSON_GIT_TRACK_TAG, rev);
	}
	if (rc == KEELSON_ENOTFOUND)
		return keelson_error_wrap(rc, "\"%s\" is not a branch, tag or full commit id of %s", rev, r->display);
	if (rc < 0)
		return rc;
	memcpy(sha_out, revision.sha, 41);
	rc = keelson_git_source_files(out, src, revision.sha);
	keelson_git_source_free(src);
	return rc;
}

int keelson_review_repo_files(struct keelson_file_source **out, char sha_out[41],
			      struct keelson_review_repo *repo, const char *rev)
{
	*out = NULL;
	sha_out[0] = '\0';
	if (rev == NULL || rev[0] == '\0' || strlen(rev) > REV_MAX_BYTES || rev[0] == '-')
		return keelson_error_set(KEELSON_EINVALID, "\"%s\" is not a revision", rev ? rev : "");
	return repo->local != NULL ? local_files(out, sha_out, repo, rev) : url_files(out, sha_out, repo, rev);
}
