/*
 * Push webhook payloads: which repository and ref a push is for, and
 * whether that is the repository and branch keelson tracks.
 *
 * Repository URLs are compared after normalisation: scheme, user info and
 * port dropped, scp-like "git@host:path" read as host/path, host and path
 * folded to lower case, trailing "/" and ".git" removed. So the HTTPS clone
 * URL in a GitHub payload matches an SSH URL in keelson's configuration.
 * Folding the path's case can only make two different repositories match
 * on a server with case-sensitive paths; the cost of that is one poll that
 * fetches nothing, while the opposite mistake would lose a push.
 */
#ifndef KEELSON_HTTP_WEBHOOK_H
#define KEELSON_HTTP_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

enum keelson_webhook_kind {
	KEELSON_WEBHOOK_GITHUB = 0,  /* GitHub, Gitea/Forgejo (same push payload) */
	KEELSON_WEBHOOK_GITLAB = 1,
	KEELSON_WEBHOOK_GENERIC = 2, /* {"repository": URL, "ref": REF}, or either forge's shape */
};

/* Normalised form of a repository URL or path, as described above. Caller
 * frees; NULL when out of memory. */
char *keelson_webhook_normalize_url(const char *url);

/* Decide whether `body` (JSON) is a push of `branch` of `repo_url`.
 * `branch` is a branch name ("main") or a full ref ("refs/heads/main");
 * NULL accepts every ref of the repository (tag tracking).
 * Returns 1 for a match, 0 for a push of another repository or ref (with
 * the reason in `why`, NUL-terminated, for the response and the log), or
 * KEELSON_EINVALID when the body is not a push payload. */
int keelson_webhook_match(enum keelson_webhook_kind kind, const char *body, size_t len, const char *repo_url,
			  const char *branch, char *why, size_t why_size);

#endif
