#include "config.h"

#include "tests/kubesim/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

static char *bio_to_string(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len < 0)
		return NULL;
	char *s = malloc((size_t)len + 1);
	if (!s)
		return NULL;
	memcpy(s, data, (size_t)len);
	s[len] = 0;
	return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

enum cert_kind { CERT_CA, CERT_SERVER, CERT_CLIENT };

static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *org, X509 *issuer,
	EVP_PKEY *issuer_key, enum cert_kind kind, long serial)
{
	X509 *cert = X509_new();
	if (!cert)
		return NULL;
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
	X509_set_pubkey(cert, key);
	X509_NAME *name = X509_get_subject_name(cert);
	if (org)
		X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)org, -1,
			-1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
	X509 *iss = issuer ? issuer : cert;
	int rc = 0;
	if (kind == CERT_CA) {
		rc |= add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE");
		rc |= add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
		rc |= add_ext(cert, iss, NID_subject_key_identifier, "hash");
	} else if (kind == CERT_CLIENT) {
		rc |= add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE");
		rc |= add_ext(cert, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		rc |= add_ext(cert, iss, NID_ext_key_usage, "clientAuth");
	} else {
		rc |= add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE");
		rc |= add_ext(cert, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		rc |= add_ext(cert, iss, NID_ext_key_usage, "serverAuth");
		rc |= add_ext(cert, iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
	}
	if (rc || !X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256())) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

int ks_tls_generate(struct ks_tls_material *out)
{
	memset(out, 0, sizeof(*out));
	int rc = KEELSON_ERROR;
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca = NULL, *srv = NULL;
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem()), *b3 = BIO_new(BIO_s_mem());
	if (!ca_key || !srv_key || !b1 || !b2 || !b3)
		goto done;
	BIO *b4 = BIO_new(BIO_s_mem());
	ca = make_cert(ca_key, "kubesim-ca", NULL, NULL, NULL, CERT_CA, 1);
	srv = ca ? make_cert(srv_key, "kubesim", NULL, ca, ca_key, CERT_SERVER, 2) : NULL;
	if (!srv || !b4 ||
	    !PEM_write_bio_X509(b1, ca) || !PEM_write_bio_X509(b2, srv) ||
	    !PEM_write_bio_PrivateKey(b3, srv_key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_PrivateKey(b4, ca_key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b4);
		goto done;
	}
	out->ca_pem = bio_to_string(b1);
	out->cert_pem = bio_to_string(b2);
	out->key_pem = bio_to_string(b3);
	out->ca_key_pem = bio_to_string(b4);
	BIO_free(b4);
	if (out->ca_pem && out->cert_pem && out->key_pem && out->ca_key_pem)
		rc = 0;
done:
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	BIO_free(b1);
	BIO_free(b2);
	BIO_free(b3);
	if (rc) {
		ks_tls_material_clear(out);
		return keelson_error_set(KEELSON_ERROR,
			"cannot generate the TLS certificate with OpenSSL; use --tls-cert/--tls-key or --insecure-http");
	}
	return 0;
}

int ks_tls_client_cert(const struct ks_tls_material *m, const char *cn, const char *org,
	char **cert_pem, char **key_pem)
{
	*cert_pem = *key_pem = NULL;
	if (!m->ca_key_pem || !m->ca_pem)
		return keelson_error_set(KEELSON_EINVALID,
			"no CA key to sign a client certificate: only kubesim's own generated CA can (drop --tls-cert/--tls-key)");
	int rc = KEELSON_ERROR;
	BIO *in_ca = BIO_new_mem_buf(m->ca_pem, -1), *in_key = BIO_new_mem_buf(m->ca_key_pem, -1);
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
	X509 *ca = in_ca ? PEM_read_bio_X509(in_ca, NULL, NULL, NULL) : NULL;
	EVP_PKEY *ca_key = in_key ? PEM_read_bio_PrivateKey(in_key, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	/* time-based serial: distinct from the CA's (1) and server's (2) */
	X509 *cert = ca && ca_key && key ? make_cert(key, cn, org, ca, ca_key, CERT_CLIENT,
		(long)time(NULL)) : NULL;
	if (cert && b1 && b2 && PEM_write_bio_X509(b1, cert) &&
	    PEM_write_bio_PrivateKey(b2, key, NULL, NULL, 0, NULL, NULL)) {
		*cert_pem = bio_to_string(b1);
		*key_pem = bio_to_string(b2);
		if (*cert_pem && *key_pem)
			rc = 0;
	}
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	BIO_free(in_ca);
	BIO_free(in_key);
	BIO_free(b1);
	BIO_free(b2);
	if (rc) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
		return keelson_error_set(KEELSON_ERROR, "cannot issue a client certificate for %s with OpenSSL", cn);
	}
	return 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = malloc(1024 * 1024);
	size_t n = buf ? fread(buf, 1, 1024 * 1024 - 1, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = 0;
	return buf;
}

int ks_tls_load(struct ks_tls_material *out, const char *cert_path, const char *key_path,
	const char *ca_path)
{
	memset(out, 0, sizeof(*out));
	out->cert_pem = read_file(cert_path);
	out->key_pem = read_file(key_path);
	out->ca_pem = read_file(ca_path ? ca_path : cert_path);
	if (!out->cert_pem || !out->key_pem || !out->ca_pem) {
		ks_tls_material_clear(out);
		return keelson_error_set(KEELSON_ENOTFOUND,
			"cannot read TLS files (--tls-cert %s, --tls-key %s, --ca-cert %s)", cert_path,
			key_path, ca_path ? ca_path : "(cert)");
	}
	return 0;
}

void ks_tls_material_clear(struct ks_tls_material *m)
{
	free(m->ca_pem);
	free(m->cert_pem);
	free(m->key_pem);
	free(m->ca_key_pem);
	memset(m, 0, sizeof(*m));
}

char *ks_base64_encode(const unsigned char *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (!out)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int ks_base64_decode(unsigned char *out, const char *in, size_t len)
{
	if (len % 4)
		return -1;
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts padding bytes as output. */
	if (len >= 1 && in[len - 1] == '=')
		n--;
	if (len >= 2 && in[len - 2] == '=')
		n--;
	return n;
}
