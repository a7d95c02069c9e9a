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

static int local_files(struct keelson_file_source **out, char sha_out[41], struct keelson_review_repo *r,
		       const char *rev)
{
	git_object *obj = NULL, *peeled = NULL;
	int rc = 0;
	if (git_revparse_single(&obj, r->local, rev) < 0 || git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
		rc = keelson_error_set(KEELSON_ENOTFOUND,
			"%s: \"%s\" is not a commit of this repository (%s); fetch it first (git fetch origin %s)",
			r->display, rev, git_message(), rev);
		goto cleanup;
	}
	git_oid_tostr(sha_out, 41, git_object_id(peeled));
	/* The Git source's own walk (same refusals, order and limits), over
	 * the repository opened in place rather than a cache. */
	rc = keelson_git_commit_files(out, git_repository_path(r->local), sha_out, r->display, 0);
cleanup:
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
