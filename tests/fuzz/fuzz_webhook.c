/*
 * Webhook payloads and signatures (reconciler/http): anyone who can reach
 * the endpoint sends these bytes. Input: first line is the signature header
 * value, the rest is the body. Checked: a signature verifies only when it
 * is the body's real HMAC (and the real one always does); the payload
 * matcher answers 1, 0 or KEELSON_EINVALID with a terminated reason; the
 * normalised URL is lower case without a trailing "/" or ".git".
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "http/hmac.h"
#include "http/webhook.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define SECRET "fuzz-webhook-secret"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

static void match_all_kinds(const char *body, size_t len)
{
	static const enum keelson_webhook_kind kinds[] = {KEELSON_WEBHOOK_GITHUB, KEELSON_WEBHOOK_GITLAB,
							  KEELSON_WEBHOOK_GENERIC};
	static const char *const branches[] = {"main", "refs/heads/main", NULL};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t b = 0; b < sizeof(branches) / sizeof(branches[0]); b++) {
			char why[128];
			memset(why, 'x', sizeof(why));
			int rc = keelson_webhook_match(kinds[k], body, len, "git@github.com:example/config.git",
						       branches[b], why, sizeof(why));
			fuzz_assert(rc == 0 || rc == 1 || rc == KEELSON_EINVALID);
			if (rc == 0)
				fuzz_assert(memchr(why, '\0', sizeof(why)) != NULL);
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *header_bytes, *body;
	size_t header_len, body_len;
	fuzz_split(data, size, "\n", &header_bytes, &header_len, &body, &body_len);
	char *header = fuzz_strndup(header_bytes, header_len);

	char real[65];
	fuzz_assert(keelson_hmac_sha256_hex(real, SECRET, body, body_len) == 0);
	fuzz_assert(strlen(real) == 64);
	if (keelson_hmac_sha256_verify(header, SECRET, body, body_len)) {
		/* Only the real signature, in either accepted form, any case. */
		const char *hex = strncasecmp(header, "sha256=", 7) == 0 ? header + 7 : header;
		fuzz_assert(strlen(hex) == 64);
		for (size_t i = 0; i < 64; i++)
			fuzz_assert(tolower((unsigned char)hex[i]) == real[i]);
	}
	char prefixed[72];
	snprintf(prefixed, sizeof(prefixed), "sha256=%s", real);
	fuzz_assert(keelson_hmac_sha256_verify(real, SECRET, body, body_len));
	fuzz_assert(keelson_hmac_sha256_verify(prefixed, SECRET, body, body_len));
	fuzz_assert(!keelson_hmac_sha256_verify(prefixed, "", body, body_len));
	fuzz_assert(!keelson_secret_equal(header, ""));
	fuzz_assert(keelson_secret_equal(header, header) == (header[0] != '\0'));

	match_all_kinds((const char *)body, body_len);

	/* Normalised form: lower case, no trailing "/" or ".git" (what the
	 * comparison relies on). Not idempotent on non-URLs, and need not be. */
	char *norm = keelson_webhook_normalize_url(header);
	fuzz_assert(norm != NULL);
	size_t n = strlen(norm);
	for (size_t i = 0; i < n; i++)
		fuzz_assert(!isupper((unsigned char)norm[i]));
	fuzz_assert(n == 0 || norm[n - 1] != '/');
	fuzz_assert(n < 4 || strcmp(norm + n - 4, ".git") != 0);
	free(norm);
	free(header);
	return 0;
}
