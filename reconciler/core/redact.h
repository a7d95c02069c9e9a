/*
 * Keeping secrets out of logs, status and error messages.
 *
 * The logger calls these for every field, so a token passed by mistake as a
 * log value under a key like "token" or inside a URL never reaches output.
 */
#ifndef KEELSON_CORE_REDACT_H
#define KEELSON_CORE_REDACT_H

#include <stdbool.h>

#define KEELSON_REDACTED "[REDACTED]"

/* True when a field named `key` holds a credential: the key contains, in
 * any case, "password", "passwd", "secret", "token", "authorization",
 * "apikey", "api_key", "api-key", "credential", "private_key" or
 * "private-key", or is exactly "auth" or "cookie". */
bool keelson_redact_is_secret_key(const char *key);

/* A copy of `text` with credentials masked: the password in URL userinfo
 * ("https://user:pw@host" -> "https://user:[REDACTED]@host"), values of
 * secret-looking query parameters ("?access_token=..."), and the value
 * after "Bearer " or "Basic ". Caller frees; NULL on out of memory. */
char *keelson_redact_text(const char *text);

#endif
