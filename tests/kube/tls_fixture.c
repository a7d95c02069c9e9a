#include "config.h"

#include "tls_fixture.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static char *bio_string(BIO *bio)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	char *s = malloc((size_t)len + 1);
	if (s) {
		memcpy(s, data, (size_t)len);
		s[len] = '\0';
	}
	return s;
}

static char *cert_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;
	if (bio && PEM_write_bio_X509(bio, cert))
		s = bio_string(bio);
	BIO_free(bio);
	return s;
}

static char *key_pem(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL;
	if (bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		s = bio_string(bio);
	BIO_free(bio);
	return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
	const char *san, const char *eku, int is_ca)
{
	X509 *cert = X509_new();
	if (cert == NULL)
		return NULL;
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365);
	X509_set_pubkey(cert, key);
	X509_NAME *name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
	X509 *iss = issuer ? issuer : cert;
	if (add_ext(cert, iss, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") < 0 ||
	    add_ext(cert, iss, NID_key_usage, is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") < 0 ||
	    (san && add_ext(cert, iss, NID_subject_alt_name, san) < 0) ||
	    (eku && add_ext(cert, iss, NID_ext_key_usage, eku) < 0) ||
	    add_ext(cert, iss, NID_subject_key_identifier, "hash") < 0 ||
	    X509_sign(cert, issuer_key, EVP_sha256()) == 0) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int tls_fixture_generate(struct tls_fixture *out)
{
	EVP_PKEY *ca_key = new_key(), *server_key = new_key(), *client_key = new_key();
	X509 *ca = NULL, *server = NULL, *client = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!ca_key || !server_key || !client_key)
		goto done;
	ca = make_cert(ca_key, "keelson-test-ca", NULL, ca_key, 1, NULL, NULL, 1);
	if (ca == NULL)
		goto done;
	server = make_cert(server_key, "kube-apiserver", ca, ca_key, 2, "IP:127.0.0.1,DNS:localhost,DNS:kubernetes",
		"serverAuth", 0);
	client = make_cert(client_key, "keelson", ca, ca_key, 3, NULL, "clientAuth", 0);
	if (!server || !client)
		goto done;
	out->ca_pem = cert_pem(ca);
	out->server_cert_pem = cert_pem(server);
	out->server_key_pem = key_pem(server_key);
	out->client_cert_pem = cert_pem(client);
	out->client_key_pem = key_pem(client_key);
	if (out->ca_pem && out->server_cert_pem && out->server_key_pem && out->client_cert_pem && out->client_key_pem)
		rc = 0;
done:
	X509_free(ca);
	X509_free(server);
	X509_free(client);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(server_key);
	EVP_PKEY_free(client_key);
	if (rc < 0)
		tls_fixture_free(out);
	return rc;
}

void tls_fixture_free(struct tls_fixture *f)
{
	free(f->ca_pem);
	free(f->server_cert_pem);
	free(f->server_key_pem);
	free(f->client_cert_pem);
	free(f->client_key_pem);
	memset(f, 0, sizeof(*f));
}
