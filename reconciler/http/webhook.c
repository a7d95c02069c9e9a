/*
 * Push payload parsing (cJSON) and repository/ref matching.
 */
#include "config.h"

#include "http/webhook.h"
#include "core/error.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *keelson_webhook_normalize_url(const char *url)
{
	if (url == NULL)
		return NULL;
	const char *p = url;
	const char *scheme = strstr(p, "://");
	bool had_scheme = scheme != NULL && strcspn(p, "/@") > (size_t)(scheme - p);
	if (had_scheme)
		p = scheme + 3;
	/* user info */
	const char *at = strchr(p, '@');
	const char *first_slash = strchr(p, '/');
	if (at != NULL && (first_slash == NULL || at < first_slash))
		p = at + 1;
	size_t hostlen = strcspn(p, "/:");
	const char *rest = p + hostlen;
	char *out = malloc(strlen(p) + 2);
	if (out == NULL)
		return NULL;
	size_t n = 0;
	bool local = !had_scheme && (*url == '/' || *url == '.');
	if (local) {
		/* A local path has no host. */
		rest = p;
		out[n++] = '/';
	} else {
		for (size_t i = 0; i < hostlen; i++)
			out[n++] = (char)tolower((unsigned char)p[i]);
		if (*rest == ':') {
			/* port (after a scheme) or scp-like path separator */
			rest++;
			if (had_scheme || isdigit((unsigned char)*rest)) {
				const char *q = rest;
				while (isdigit((unsigned char)*q))
					q++;
				if (*q == '/' || *q == '\0')
					rest = q;
			}
		}
		out[n++] = '/';
	}
	while (*rest == '/')
		rest++;
	for (; *rest != '\0' && *rest != '?' && *rest != '#'; rest++)
		out[n++] = (char)tolower((unsigned char)*rest);
	out[n] = '\0';
	for (;;) {
		if (n > 0 && out[n - 1] == '/')
			out[--n] = '\0';
		else if (n >= 4 && strcmp(out + n - 4, ".git") == 0)
			out[n -= 4] = '\0';
		else
			break;
	}
	return out;
}

static const char *str_at(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, a);
	if (b != NULL)
		o = cJSON_GetObjectItemCaseSensitive(o, b);
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

static bool url_matches(const char *candidate, const char *want_norm)
{
	if (candidate == NULL)
		return false;
	char *c = keelson_webhook_normalize_url(candidate);
	bool eq = c != NULL && strcmp(c, want_norm) == 0;
	free(c);
	return eq;
}

int keelson_webhook_match(enum keelson_webhook_kind kind, const char *body, size_t len, const char *repo_url,
			  const char *branch, char *why, size_t why_size)
{
	if (why_size > 0)
		why[0] = '\0';
	cJSON *doc = cJSON_ParseWithLength(body, len);
	if (doc == NULL || !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return keelson_error_set(KEELSON_EINVALID, "webhook body is not a JSON object");
	}
	const char *ref = str_at(doc, "ref", NULL);
	/* Every URL the payload gives for the repository; a push matches if
	 * any of them is ours. */
	const char *urls[8] = {0};
	size_t nurls = 0;
	if (kind == KEELSON_WEBHOOK_GENERIC) {
		urls[nurls++] = str_at(doc, "repository", NULL);
		urls[nurls++] = str_at(doc, "repository_url", NULL);
	}
	if (kind == KEELSON_WEBHOOK_GITHUB || kind == KEELSON_WEBHOOK_GENERIC) {
		urls[nurls++] = str_at(doc, "repository", "clone_url");
		urls[nurls++] = str_at(doc, "repository", "html_url");
		urls[nurls++] = str_at(doc, "repository", "ssh_url");
	}
	if (kind == KEELSON_WEBHOOK_GITLAB || kind == KEELSON_WEBHOOK_GENERIC) {
		urls[nurls++] = str_at(doc, "project", "git_http_url");
		urls[nurls++] = str_at(doc, "project", "git_ssh_url");
		urls[nurls++] = str_at(doc, "project", "web_url");
	}
	const char *full_name = kind == KEELSON_WEBHOOK_GITLAB ? str_at(doc, "project", "path_with_namespace")
							       : str_at(doc, "repository", "full_name");
	size_t present = 0;
	for (size_t i = 0; i < nurls; i++)
		present += urls[i] != NULL;
	int rc;
	char *want = keelson_webhook_normalize_url(repo_url);
	if (want == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (ref == NULL || (present == 0 && full_name == NULL)) {
		rc = keelson_error_set(KEELSON_EINVALID,
				       "webhook body is not a push payload: \"ref\" and a repository URL are required");
		goto cleanup;
	}
	bool repo_ok = false;
	for (size_t i = 0; i < nurls && !repo_ok; i++)
		repo_ok = url_matches(urls[i], want);
	if (!repo_ok && present == 0 && full_name != NULL) {
		/* Only "owner/name": compare with the end of our path. */
		const char *slash = strchr(want, '/');
		repo_ok = slash != NULL && strcasecmp(slash + 1, full_name) == 0;
	}
	if (!repo_ok) {
		snprintf(why, why_size, "push for another repository");
		rc = 0;
		goto cleanup;
	}
	if (branch != NULL) {
		bool full = strncmp(branch, "refs/", 5) == 0;
		bool ref_ok = full ? strcmp(ref, branch) == 0
				   : strncmp(ref, "refs/heads/", 11) == 0 && strcmp(ref + 11, branch) == 0;
		if (!ref_ok) {
			snprintf(why, why_size, "push for another ref (%.200s)", ref);
			rc = 0;
			goto cleanup;
		}
	}
	rc = 1;
cleanup:
	free(want);
	cJSON_Delete(doc);
	return rc;
}
