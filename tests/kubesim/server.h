/*
 * kubesim's HTTP(S) front end: the Kubernetes API paths, discovery,
 * OpenAPI, watch streaming, proxies and the /_sim/ admin API, on
 * libmicrohttpd with one thread per connection.
 */
#ifndef KUBESIM_SERVER_H
#define KUBESIM_SERVER_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "tests/kubesim/store.h"
#include "tests/kubesim/tls.h"

#define KS_SERVER_CONFIG_VERSION 1
struct ks_server_config {
	int version;                 /* KS_SERVER_CONFIG_VERSION */
	const char *listen_address;  /* "127.0.0.1" */
	int port;                    /* 0: pick a free port */
	bool insecure_http;          /* plain HTTP (tls ignored) */
	const struct ks_tls_material *tls; /* required unless insecure_http */
	const char *token;           /* bearer token; NULL disables auth */
	int log_level;               /* 0 errors, 1 info, 2 every request */
	/* PEM CA(s) whose client certificates authenticate a request (user =
	 * CN, groups = O) besides the token; NULL: tokens only. TLS only. */
	const char *client_ca_pem;
};

struct ks_server;

/* Start serving `store` (borrowed; must outlive the server). */
int ks_server_start(struct ks_store *store, const struct ks_server_config *config,
	struct ks_server **out);

/* The bound port (the real one when the config asked for 0). */
int ks_server_port(const struct ks_server *server);

/* Stop accepting, end open watches, join threads, free. Accepts NULL. */
void ks_server_stop(struct ks_server *server);

/* Discovery and OpenAPI documents (discovery.c), also used by tests. */
cJSON *ks_discovery_api_versions(void);
cJSON *ks_discovery_api_groups(struct ks_store *store);
/* APIResourceList for group ("" = core) and version; NULL when not served. */
cJSON *ks_discovery_resources(struct ks_store *store, const char *group, const char *version);
/* Aggregated discovery v2: core (legacy=true, /api) or the groups (/apis). */
cJSON *ks_discovery_aggregated(struct ks_store *store, bool legacy);
cJSON *ks_openapi_v3_index(struct ks_store *store);
/* The OpenAPI v3 document of "api/v1" or "apis/<g>/<v>"; NULL if unknown. */
cJSON *ks_openapi_v3_document(struct ks_store *store, const char *group, const char *version);

/* Table output for kubectl get (S6, table.c): a Table with (or without)
 * column definitions and no rows; one row (cells + PartialObjectMetadata)
 * for an object. */
cJSON *ks_table_new(const struct ks_resource_type *type, bool with_columns);
cJSON *ks_table_columns(const struct ks_resource_type *type);
cJSON *ks_table_row(const struct ks_resource_type *type, const cJSON *object);

/* CustomResourceDefinition support (crd.c): after a CRD write, (re)register
 * its type and set status (acceptedNames, NamesAccepted, Established,
 * storedVersions). Returns the updated CRD in *out when non-NULL. */
int ks_crd_after_write(struct ks_store *store, const char *name, cJSON **out);

/* Prune `object` (a custom resource) against the type's schema: unknown
 * fields are removed and their paths appended to `unknown` (an array of
 * strings like ".spec.foo"). */
void ks_crd_prune(const struct ks_resource_type *type, cJSON *object, cJSON *unknown);

/* Validate a custom resource against its schema (type, required, enum,
 * minimum/maximum, minLength/maxLength, pattern-less). Returns 0, or
 * KEELSON_EINVALID with a 422 Invalid Status (one cause per violation) in
 * ks_status_last(). */
int ks_crd_validate(const struct ks_resource_type *type, const cJSON *object);

/* Start the CRD finalizer controller (deletes a deleted CRD's objects, then
 * the CRD and its type). */
int ks_crd_controller_start(struct ks_store *store, struct ks_controller **out);

#endif
