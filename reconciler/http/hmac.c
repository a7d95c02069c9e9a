/*
 * HMAC-SHA256 and secret handling.
 */
#include "config.h"

#include "http/hmac.h"
#include "core/error.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hmac_raw(unsigned char out[32], const char *secret, const void *data, size_t len)
{
	unsigned int out_len = 0;
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), data, len, out, &out_len) == NULL || out_len != 32)
		return keelson_error_set(KEELSON_ERROR, "HMAC-SHA256 failed in libcrypto");
	return 0;
}

int keelson_hmac_sha256_hex(char out[65], const char *secret, const void *data, size_t len)
{
	unsigned char mac[32];
	int rc = hmac_raw(mac, secret, data, len);
	if (rc < 0)
		return rc;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool keelson_hmac_sha256_verify(const char *header, const char *secret, const void *data, size_t len)
{
	if (header == NULL || secret == NULL || *secret == '\0')
		return false;
	if (strncasecmp(header, "sha256=", 7) == 0)
		header += 7;
	if (strlen(header) != 64)
		return false;
	unsigned char given[32], mac[32];
	for (int i = 0; i < 32; i++) {
		int hi = hexval(header[2 * i]), lo = hexval(header[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		given[i] = (unsigned char)(hi << 4 | lo);
	}
	if (hmac_raw(mac, secret, data, len) < 0)
		return false;
	bool ok = CRYPTO_memcmp(given, mac, sizeof(mac)) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

bool keelson_secret_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return false;
	unsigned char ha[32], hb[32];
	unsigned int la = 0, lb = 0;
	if (EVP_Digest(a, strlen(a), ha, &la, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(b, strlen(b), hb, &lb, EVP_sha256(), NULL) != 1)
		return false;
	return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

int keelson_secret_read_file(char **out, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
					 "cannot read secret file %s: %s", path, strerror(errno));
	char *buf = malloc(KEELSON_SECRET_MAX_BYTES + 2);
	if (buf == NULL) {
		fclose(f);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	size_t n = fread(buf, 1, KEELSON_SECRET_MAX_BYTES + 1, f);
	bool err = ferror(f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	int rc = 0;
	if (err)
		rc = keelson_error_set(KEELSON_ERROR, "error reading secret file %s", path);
	else if (n == 0)
		rc = keelson_error_set(KEELSON_EINVALID, "secret file %s is empty; put the shared secret in it", path);
	else if (n > KEELSON_SECRET_MAX_BYTES || memchr(buf, '\0', n) != NULL)
		rc = keelson_error_set(KEELSON_EINVALID, "secret file %s is longer than %d bytes or not text", path,
				       KEELSON_SECRET_MAX_BYTES);
	if (rc < 0) {
		keelson_secret_free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

void keelson_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}
