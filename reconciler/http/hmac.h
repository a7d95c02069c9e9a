/*
 * HMAC-SHA256 signatures of webhook bodies (libcrypto), verified in
 * constant time, and secrets read from files. Used by the webhook receiver
 * and by the alert webhook sender, so both ends sign the same way.
 */
#ifndef KEELSON_HTTP_HMAC_H
#define KEELSON_HTTP_HMAC_H

#include <stdbool.h>
#include <stddef.h>

/* Longest secret accepted from a file. */
#define KEELSON_SECRET_MAX_BYTES 4096

/* Lower-case hex HMAC-SHA256 of `data` under `secret` into out (65 bytes
 * with the NUL). */
int keelson_hmac_sha256_hex(char out[65], const char *secret, const void *data, size_t len);

/* True when `header` ("sha256=<64 hex>" or just the 64 hex digits, any
 * case) is the HMAC-SHA256 of `data` under `secret`. Constant time in the
 * signature; false for NULL, a malformed header or an empty secret. */
bool keelson_hmac_sha256_verify(const char *header, const char *secret, const void *data, size_t len);

/* Equality of two secrets that takes the same time whatever they contain
 * (both are hashed first, so not even the length leaks). False when either
 * is NULL or empty. */
bool keelson_secret_equal(const char *a, const char *b);

/* Read a secret from `path`: trailing newlines and spaces removed; empty or
 * longer than KEELSON_SECRET_MAX_BYTES is KEELSON_EINVALID. The message
 * names the file, never its content. Caller frees with keelson_secret_free,
 * which wipes the memory. */
int keelson_secret_read_file(char **out, const char *path);
void keelson_secret_free(char *secret); /* accepts NULL */

#endif
