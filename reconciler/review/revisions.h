/*
 * Two revisions of a desired-state repository, read straight from Git for
 * `keelson plan --base --head`: no checkout, no work tree.
 *
 * A local repository (a directory: a clone, a bare repository, a CI
 * checkout at a detached merge commit) is opened in place and REV is any
 * revision Git understands there ("main", "origin/main", "HEAD~1", an
 * abbreviated commit id, "refs/pull/7/head" when fetched). A URL is fetched
 * by the Git source (reconciler/git: credentials from the environment,
 * timeouts, redacted messages) into a temporary bare cache that is removed
 * when the set is freed; REV is then a branch, a tag or a full commit id.
 */
#ifndef KEELSON_REVIEW_REVISIONS_H
#define KEELSON_REVIEW_REVISIONS_H

#include "layout/file_source.h"

struct keelson_review_repo;

/* Open `where` (a directory, or a URL: file://, git://, http(s)://,
 * ssh://, user@host:path). For a URL nothing is fetched yet. Free with
 * keelson_review_repo_free. */
int keelson_review_repo_open(struct keelson_review_repo **out, const char *where);

/* Removes the temporary cache of a URL. Accepts NULL. */
void keelson_review_repo_free(struct keelson_review_repo *repo);

/* The repository for messages (a URL with credentials redacted). Borrowed. */
const char *keelson_review_repo_display(const struct keelson_review_repo *repo);

/* The files of revision `rev` as a layout file source (free with
 * source->free(source); it may outlive `repo` for a local repository, not
 * for a URL) and its full commit id in `sha_out`. KEELSON_ENOTFOUND, with
 * a message naming the repository and what to do, when `rev` does not
 * name a commit. */
int keelson_review_repo_files(struct keelson_file_source **out, char sha_out[41],
			      struct keelson_review_repo *repo, const char *rev);

#endif
