#include "config.h"

#include "core/redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const secret_key_fragments[] = {
	"password", "passwd", "secret", "token", "authorization", "apikey",
	"api_key", "api-key", "credential", "private_key", "private-key",
};

static bool contains_case_insensitive(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = haystack; *p; p++)
		if (strncasecmp(p, needle, n) == 0)
			return true;
	return false;
}

bool keelson_redact_is_secret_key(const char *key)
{
	if (key == NULL)
		return false;
	if (strcasecmp(key, "auth") == 0 || strcasecmp(key, "cookie") == 0)
		return true;
	for (size_t i = 0; i < sizeof(secret_key_fragments) / sizeof(*secret_key_fragments); i++)
		if (contains_case_insensitive(key, secret_key_fragments[i]))
			return true;
	return false;
}

struct out {
	char *data;
	size_t len;
	size_t cap;
};

static bool out_put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *data = realloc(o->data, cap);
		if (data == NULL)
			return false;
		o->data = data;
		o->cap = cap;
	}
	memcpy(o->data + o->len, s, n);
	o->len += n;
	o->data[o->len] = '\0';
	return true;
}

/* Characters that end a credential embedded in free text. */
static bool ends_value(char c)
{
	return c == '\0' || c == '&' || c == ' ' || c == '"' || c == '\'' || c == '\n' ||
	       c == '\t' || c == '#' || c == ',' || c == ';';
}

/* At `p`, a URL scheme "xxx://"? Then returns a pointer just past "//". */
static const char *after_scheme(const char *p)
{
	const char *q = p;
	while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
		q++;
	if (q > p && strncmp(q, "://", 3) == 0)
		return q + 3;
	return NULL;
}

/* The query-parameter name that ends right before `p` ('=' at p). */
static bool secret_param_before(const char *start, const char *p)
{
	const char *name = p;
	while (name > start && (isalnum((unsigned char)name[-1]) || name[-1] == '_' || name[-1] == '-'))
		name--;
	if (name == p)
		return false;
	if (name > start && name[-1] != '?' && name[-1] != '&')
		return false;
	char key[64];
	size_t n = (size_t)(p - name);
	if (n >= sizeof(key))
		return false;
	memcpy(key, name, n);
	key[n] = '\0';
	return keelson_redact_is_secret_key(key);
}

char *keelson_redact_text(const char *text)
{
	struct out o = {0};
	const char *p = text;
	bool ok = out_put(&o, "", 0);

	while (ok && *p) {
		/* Only at a word start, so scanning stays linear in the text. */
		bool word_start = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '+' ||
						 p[-1] == '-' || p[-1] == '.');
		const char *host = word_start ? after_scheme(p) : NULL;
		if (host != NULL) {
			/* Copy the scheme; mask the password of "user:password@". */
			ok = out_put(&o, p, (size_t)(host - p));
			const char *at = host;
			while (!ends_value(*at) && *at != '/' && *at != '@')
				at++;
			if (ok && *at == '@') {
				const char *colon = memchr(host, ':', (size_t)(at - host));
				if (colon != NULL) {
					ok = out_put(&o, host, (size_t)(colon + 1 - host)) &&
					     out_put(&o, KEELSON_REDACTED, strlen(KEELSON_REDACTED)) &&
					     out_put(&o, at, 1);
				} else {
					ok = out_put(&o, host, (size_t)(at + 1 - host));
				}
				p = at + 1;
			} else {
				p = host;
			}
			continue;
		}
		if (*p == '=' && secret_param_before(text, p)) {
			ok = out_put(&o, "=", 1) && out_put(&o, KEELSON_REDACTED, strlen(KEELSON_REDACTED));
			p++;
			while (!ends_value(*p))
				p++;
			continue;
		}
		if (strncasecmp(p, "Bearer ", 7) == 0 || strncasecmp(p, "Basic ", 6) == 0) {
			size_t word = (p[1] == 'e' || p[1] == 'E') ? 7 : 6;
			ok = out_put(&o, p, word) && out_put(&o, KEELSON_REDACTED, strlen(KEELSON_REDACTED));
			p += word;
			while (!ends_value(*p))
				p++;
			continue;
		}
		ok = out_put(&o, p, 1);
		p++;
	}
	if (!ok) {
		free(o.data);
		return NULL;
	}
	return o.data;
}
