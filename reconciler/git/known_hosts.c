#include "config.h"

#include "git/known_hosts.h"

#include "core/error.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A known_hosts line longer than this is not one OpenSSH writes (RSA 16384
 * keys fit); it is skipped rather than parsed. */
#define KNOWN_HOSTS_MAX_LINE 16384
#define KNOWN_HOSTS_MAX_BYTES (4 * 1024 * 1024)

/* Decode standard base64; returns the decoded length or -1. */
static long base64_decode(unsigned char *out, size_t out_cap, const char *in, size_t in_len)
{
	if (in_len == 0 || in_len % 4 != 0 || in_len / 4 * 3 > out_cap)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)in_len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts padding as zero bytes. */
	if (in[in_len - 1] == '=')
		n--;
	if (in[in_len - 2] == '=')
		n--;
	return n;
}

static bool hashed_host_matches(const char *pattern, size_t len, const char *hostspec)
{
	/* |1|base64(salt)|base64(HMAC-SHA1(salt, hostspec)) */
	if (len < 3 || strncmp(pattern, "|1|", 3) != 0)
		return false;
	const char *salt64 = pattern + 3;
	const char *bar = memchr(salt64, '|', len - 3);
	if (!bar)
		return false;
	const char *hash64 = bar + 1;
	size_t hash64_len = len - (size_t)(hash64 - pattern);
	unsigned char salt[64], hash[64], mac[EVP_MAX_MD_SIZE];
	long salt_len = base64_decode(salt, sizeof(salt), salt64, (size_t)(bar - salt64));
	long hash_len = base64_decode(hash, sizeof(hash), hash64, hash64_len);
	if (salt_len <= 0 || hash_len != 20)
		return false;
	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha1(), salt, (int)salt_len, (const unsigned char *)hostspec,
		  strlen(hostspec), mac, &mac_len) || mac_len != 20)
		return false;
	return memcmp(mac, hash, 20) == 0;
}

static bool host_field_matches(const char *field, const char *hostspec)
{
	bool matched = false;
	const char *p = field;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len > 0 && p[0] == '!') {
			/* A negated pattern that matches excludes the host. */
			if (len - 1 == strlen(hostspec) && strncmp(p + 1, hostspec, len - 1) == 0)
				return false;
		} else if (len > 0 && p[0] == '|') {
			if (hashed_host_matches(p, len, hostspec))
				matched = true;
		} else if (len == strlen(hostspec) && strncmp(p, hostspec, len) == 0) {
			matched = true;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return matched;
}

int keelson_git_known_hosts_check(const char *file, const char *host, int port,
				  const unsigned char *key, size_t key_len)
{
	char hostspec[512];
	if (port > 0 && port != 22)
		snprintf(hostspec, sizeof(hostspec), "[%s]:%d", host, port);
	else
		snprintf(hostspec, sizeof(hostspec), "%s", host);

	FILE *f = fopen(file, "r");
	if (!f)
		return keelson_error_set(KEELSON_ENOTFOUND,
			"cannot read known_hosts file %s; add the host key of %s with "
			"`ssh-keyscan -p %d %s >> %s` after checking its fingerprint",
			file, hostspec, port > 0 ? port : 22, host, file);

	char *line = malloc(KNOWN_HOSTS_MAX_LINE);
	unsigned char *decoded = malloc(KNOWN_HOSTS_MAX_LINE);
	int rc = KEELSON_ENOTFOUND;
	bool listed = false, revoked = false, found = false;
	size_t total = 0;
	if (!line || !decoded) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory reading %s", file);
		goto cleanup;
	}
	while (fgets(line, KNOWN_HOSTS_MAX_LINE, f)) {
		size_t len = strlen(line);
		total += len;
		if (total > KNOWN_HOSTS_MAX_BYTES)
			break;
		if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
			/* Over-long line: skip the rest of it. */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		char *save = NULL;
		char *tok = strtok_r(line, " \t\r\n", &save);
		if (!tok || tok[0] == '#')
			continue;
		bool is_revoked = false;
		if (tok[0] == '@') {
			if (strcmp(tok, "@revoked") == 0)
				is_revoked = true;
			else
				continue; /* @cert-authority: certificates are not supported */
			tok = strtok_r(NULL, " \t\r\n", &save);
			if (!tok)
				continue;
		}
		const char *hosts = tok;
		const char *type = strtok_r(NULL, " \t\r\n", &save);
		const char *key64 = strtok_r(NULL, " \t\r\n", &save);
		if (!type || !key64 || !host_field_matches(hosts, hostspec))
			continue;
		long n = base64_decode(decoded, KNOWN_HOSTS_MAX_LINE, key64, strlen(key64));
		if (n < 0)
			continue;
		bool same = (size_t)n == key_len && memcmp(decoded, key, key_len) == 0;
		if (is_revoked) {
			if (same)
				revoked = true;
			continue;
		}
		listed = true;
		if (same)
			found = true;
	}
	if (revoked)
		rc = keelson_error_set(KEELSON_EINVALID,
			"the host key of %s is marked @revoked in %s; refusing to connect",
			hostspec, file);
	else if (found)
		rc = 0;
	else if (listed)
		rc = keelson_error_set(KEELSON_EINVALID,
			"the host key of %s does not match the key listed in %s (the host "
			"key changed, or someone is intercepting the connection); verify "
			"the new key out of band before replacing the entry",
			hostspec, file);
	else
		rc = keelson_error_set(KEELSON_ENOTFOUND,
			"host %s is not listed in %s; add its key with `ssh-keyscan -p %d %s "
			">> %s` after checking the fingerprint",
			hostspec, file, port > 0 ? port : 22, host, file);
cleanup:
	free(line);
	free(decoded);
	fclose(f);
	return rc;
}
