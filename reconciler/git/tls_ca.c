/*
 * A Git server's TLS certificate checked against a configured CA file, for
 * every libgit2 remote keelson opens (the Git source's fetches and the
 * status writer's pushes), so both trust the same servers.
 */
#include "config.h"

#include "git/tls_ca.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <string.h>

static bool is_ip_literal(const char *host)
{
	return strspn(host, "0123456789.") == strlen(host) || strchr(host, ':') != NULL;
}

/* Verify a server certificate (leaf, DER) against the configured CA file.
 * The TLS backend has already checked the chain against the system store;
 * this accepts servers whose leaf is signed directly by a configured CA. */
bool keelson_git_cert_trusted_by_ca_file(const git_cert_x509 *cert, const char *host, const char *ca_file)
{
	const unsigned char *p = cert->data;
	X509 *leaf = d2i_X509(NULL, &p, (long)cert->len);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	if (!leaf || !store || !ctx)
		goto cleanup;
	if (X509_STORE_load_file(store, ca_file) != 1)
		goto cleanup;
	if (X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1)
		goto cleanup;
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	if (is_ip_literal(host))
		X509_VERIFY_PARAM_set1_ip_asc(param, host);
	else
		X509_VERIFY_PARAM_set1_host(param, host, 0);
	ok = X509_verify_cert(ctx) == 1;
cleanup:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	ERR_clear_error();
	return ok;
}
