/*
 * Just enough Kubernetes protobuf decoding for kubectl's imperative create
 * commands, which send application/vnd.kubernetes.protobuf whatever the
 * server prefers: `kubectl create namespace|configmap|secret|serviceaccount`
 * and `kubectl auth can-i|whoami` (SelfSubjectAccessReview, SelfSubjectReview).
 * Other kinds are refused (the caller answers 415).
 */
#ifndef KUBESIM_PROTO_H
#define KUBESIM_PROTO_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Decode a "k8s\0"-prefixed runtime.Unknown envelope into the JSON object
 * the same request would have carried. KEELSON_EINVALID for malformed input
 * or a kind this decoder does not know (message says which). */
int ks_proto_decode(cJSON **out, const unsigned char *data, size_t len);

#endif
