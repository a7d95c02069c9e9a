/*
 * Commit statuses on a forge (GitHub-compatible API): keelson's result for
 * a source commit shows on its commit and pull-request pages.
 *
 *   POST {api_url}/repos/{owner}/{repo}/statuses/{sha}
 *   Authorization: Bearer <token read from token_file>
 *   {"state": "success|pending|failure|error", "context": "keelson/<cluster>/<system>",
 *    "description": "<= 140 characters", "target_url": "..."}
 *
 * The token is read from its file for each call, never kept, logged or put
 * in a message. Calls are bounded by timeout_ms.
 */
#ifndef KEELSON_STATUS_FORGE_H
#define KEELSON_STATUS_FORGE_H

#include <stdbool.h>

#define KEELSON_FORGE_OPTIONS_VERSION 1
#define KEELSON_FORGE_DESCRIPTION_MAX 140

struct keelson_forge_options {
	unsigned version;        /* KEELSON_FORGE_OPTIONS_VERSION */
	const char *api_url;     /* e.g. https://api.github.com (no trailing path) */
	const char *repository;  /* "owner/repo" */
	const char *token_file;  /* first line is the token (required) */
	const char *target_url;  /* optional link shown with the status */
	const char *ca_file;     /* optional PEM bundle for HTTPS */
	unsigned timeout_ms;     /* per call (0: 10 s) */
};

struct keelson_forge;

int keelson_forge_new(struct keelson_forge **out, const struct keelson_forge_options *opts);
void keelson_forge_free(struct keelson_forge *forge); /* accepts NULL */

/* One commit status. `state` is success, pending, failure or error;
 * description is cut to 140 characters (on a UTF-8 boundary). Codes:
 * KEELSON_EINVALID (bad arguments, or the forge answered 401/403/404/422),
 * KEELSON_EUNAVAILABLE (no answer, or 5xx / 429: retry later). */
int keelson_forge_post_status(struct keelson_forge *forge, const char *sha, const char *state,
			      const char *context, const char *description);

#endif
