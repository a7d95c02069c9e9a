/*
 * Kubernetes knowledge the generic apply needs: the order kinds are applied
 * in, and which fields cannot change in place.
 */
#ifndef KEELSON_RECONCILE_RULES_H
#define KEELSON_RECONCILE_RULES_H

#include <cjson/cJSON.h>

/* Apply rank of a kind, lower first: 0 Namespaces, 1 CRDs, 2 ServiceAccounts
 * and RBAC, 3 ConfigMaps and Secrets, 4 Services, 5 PVCs, 6 workloads,
 * 7 everything else. Deletions go in the reverse order. */
int keelson_apply_rank(const char *group, const char *kind);

/* If changing the field at JSON pointer `pointer` of an object of
 * group/kind cannot be done by an apply (the API server refuses it, or only
 * a delete and re-create would do it, losing data), a sentence saying why;
 * else NULL. `live` (may be NULL) is consulted for ConfigMaps and Secrets
 * marked immutable. */
const char *keelson_immutable_field(const char *group, const char *kind, const char *pointer,
				    const cJSON *live);

#endif
