#include "config.h"

#include "status/forge.h"

#include "core/error.h"
#include "core/redact.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX_BYTES 4096
#define DEFAULT_TIMEOUT_MS 10000
/* Only the start of an error answer is kept, for the message. */
#define RESPONSE_KEEP 512

struct keelson_forge {
	char *api_url;
	char *repository;
	char *token_file;
	char *target_url;
	char *ca_file;
	unsigned timeout_ms;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void keelson_forge_free(struct keelson_forge *forge)
{
	if (!forge)
		return;
	free(forge->api_url);
	free(forge->repository);
	free(forge->token_file);
	free(forge->target_url);
	free(forge->ca_file);
	free(forge);
}

static bool valid_repository(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_./", *p))
			return false;
	return strstr(s, "..") == NULL;
}

int keelson_forge_new(struct keelson_forge **out, const struct keelson_forge_options *opts)
{
	*out = NULL;
	if (!opts || opts->version != KEELSON_FORGE_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "forge options version %u is not supported (expected %d)",
					 opts ? opts->version : 0, KEELSON_FORGE_OPTIONS_VERSION);
	if (!opts->api_url || (strncmp(opts->api_url, "http://", 7) != 0 &&
			       strncmp(opts->api_url, "https://", 8) != 0))
		return keelson_error_set(KEELSON_EINVALID,
			"forge: api_url must be an http:// or https:// URL (e.g. https://api.github.com)");
	if (!opts->repository || !valid_repository(opts->repository))
		return keelson_error_set(KEELSON_EINVALID,
			"forge: repository \"%s\" is not of the form owner/repo",
			opts->repository ? opts->repository : "");
	if (!opts->token_file || !*opts->token_file)
		return keelson_error_set(KEELSON_EINVALID, "forge: token_file is required");
	struct keelson_forge *f = calloc(1, sizeof(*f));
	if (!f)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	f->api_url = strdup(opts->api_url);
	if (f->api_url) {
		size_t n = strlen(f->api_url);
		while (n > 0 && f->api_url[n - 1] == '/')
			f->api_url[--n] = '\0';
	}
	f->repository = strdup(opts->repository);
	f->token_file = strdup(opts->token_file);
	f->target_url = dup_or_null(opts->target_url);
	f->ca_file = dup_or_null(opts->ca_file);
	f->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (!f->api_url || !f->repository || !f->token_file || (opts->target_url && !f->target_url) ||
	    (opts->ca_file && !f->ca_file)) {
		keelson_forge_free(f);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*out = f;
	return 0;
}

static int read_token(char **out, const char *file)
{
	*out = NULL;
	FILE *fp = fopen(file, "r");
	if (!fp)
		return keelson_error_set(KEELSON_EINVALID, "forge: cannot read the token file %s: %s",
					 file, strerror(errno));
	char *buf = calloc(1, TOKEN_MAX_BYTES + 2);
	if (!buf) {
		fclose(fp);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	size_t n = fread(buf, 1, TOKEN_MAX_BYTES + 1, fp);
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (n > TOKEN_MAX_BYTES || buf[0] == '\0') {
		explicit_bzero(buf, TOKEN_MAX_BYTES + 2);
		free(buf);
		return keelson_error_set(KEELSON_EINVALID, "forge: the token file %s is %s", file,
					 n > TOKEN_MAX_BYTES ? "too large" : "empty");
	}
	*out = buf;
	return 0;
}

struct response {
	char text[RESPONSE_KEEP + 1];
	size_t len;
};

static size_t write_cb(char *data, size_t size, size_t nmemb, void *payload)
{
	struct response *r = payload;
	size_t n = size * nmemb;
	size_t room = RESPONSE_KEEP - r->len;
	size_t take = n < room ? n : room;
	memcpy(r->text + r->len, data, take);
	r->len += take;
	r->text[r->len] = '\0';
	return n;
}

/* Cut to at most max bytes without splitting a UTF-8 sequence. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

static bool is_hex40(const char *s)
{
	if (!s || strlen(s) != 40)
		return false;
	for (int i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int keelson_forge_post_status(struct keelson_forge *forge, const char *sha, const char *state,
			      const char *context, const char *description)
{
	if (!is_hex40(sha))
		return keelson_error_set(KEELSON_EINVALID, "forge: \"%s\" is not a 40-hex commit id",
					 sha ? sha : "");
	if (!state || (strcmp(state, "success") != 0 && strcmp(state, "pending") != 0 &&
		       strcmp(state, "failure") != 0 && strcmp(state, "error") != 0))
		return keelson_error_set(KEELSON_EINVALID,
			"forge: state \"%s\" is not one of success, pending, failure, error",
			state ? state : "");
	if (!context || !*context)
		return keelson_error_set(KEELSON_EINVALID, "forge: a status needs a context");

	int rc = 0;
	char *token = NULL, *body = NULL, *auth = NULL, *url = NULL;
	struct curl_slist *headers = NULL;
	CURL *curl = NULL;
	cJSON *doc = cJSON_CreateObject();
	char desc[KEELSON_FORGE_DESCRIPTION_MAX * 4 + 1];
	snprintf(desc, sizeof(desc), "%s", description ? description : "");
	/* GitHub counts characters; bytes are a safe upper bound. */
	cut_utf8(desc, KEELSON_FORGE_DESCRIPTION_MAX);
	if (!doc || !cJSON_AddStringToObject(doc, "state", state) ||
	    !cJSON_AddStringToObject(doc, "context", context) ||
	    !cJSON_AddStringToObject(doc, "description", desc) ||
	    (forge->target_url && !cJSON_AddStringToObject(doc, "target_url", forge->target_url)) ||
	    !(body = cJSON_PrintUnformatted(doc))) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	size_t url_len = strlen(forge->api_url) + strlen(forge->repository) + 64;
	url = malloc(url_len);
	if (!url) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(url, url_len, "%s/repos/%s/statuses/%s", forge->api_url, forge->repository, sha);
	if ((rc = read_token(&token, forge->token_file)) < 0)
		goto cleanup;
	size_t auth_len = strlen(token) + 32;
	auth = malloc(auth_len);
	if (!auth) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(auth, auth_len, "Authorization: Bearer %s", token);
	struct curl_slist *h;
	if (!(h = curl_slist_append(headers, auth)) || !(headers = h) ||
	    !(h = curl_slist_append(headers, "Content-Type: application/json")) || !(headers = h) ||
	    !(h = curl_slist_append(headers, "Accept: application/vnd.github+json")) || !(headers = h)) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	curl = curl_easy_init();
	if (!curl) {
		rc = keelson_error_set(KEELSON_ERROR, "forge: cannot create an HTTP handle");
		goto cleanup;
	}
	struct response resp = {.len = 0};
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "keelson/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)forge->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	if (forge->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, forge->ca_file);
	CURLcode cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		rc = keelson_error_set(KEELSON_EUNAVAILABLE,
			"forge: POST %s failed: %s; the status is retried at the next cycle", url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto cleanup;
	}
	long code = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code < 300)
		goto cleanup;
	/* The answer could echo a header; it goes through redaction. */
	char *clean = keelson_redact_text(resp.text);
	if (code >= 500 || code == 429 || code == 408)
		rc = keelson_error_set(KEELSON_EUNAVAILABLE,
			"forge: POST %s answered %ld (%s); retried at the next cycle", url, code,
			clean ? clean : "");
	else
		rc = keelson_error_set(KEELSON_EINVALID,
			"forge: POST %s answered %ld (%s); check the token in %s (it needs the "
			"repo:status scope) and the repository name", url, code, clean ? clean : "",
			forge->token_file);
	free(clean);
cleanup:
	if (token)
		explicit_bzero(token, strlen(token));
	if (auth)
		explicit_bzero(auth, strlen(auth));
	free(token);
	free(auth);
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	free(url);
	free(body);
	cJSON_Delete(doc);
	return rc;
}
