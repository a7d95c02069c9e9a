#include "config.h"

#include "tests/kubesim/proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/tls.h"

struct buf {
	const unsigned char *p, *end;
};

struct field {
	uint32_t number;
	unsigned wire;
	uint64_t varint;
	struct buf bytes;
};

static int read_varint(struct buf *b, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (b->p >= b->end)
			return -1;
		unsigned char c = *b->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

/* Next field; 1 when one was read, 0 at the end, -1 on malformed data. */
static int next_field(struct buf *b, struct field *f)
{
	if (b->p >= b->end)
		return 0;
	uint64_t key;
	if (read_varint(b, &key))
		return -1;
	f->number = (uint32_t)(key >> 3);
	f->wire = (unsigned)(key & 7);
	switch (f->wire) {
	case 0:
		return read_varint(b, &f->varint) ? -1 : 1;
	case 1:
		if (b->end - b->p < 8)
			return -1;
		b->p += 8;
		return 1;
	case 5:
		if (b->end - b->p < 4)
			return -1;
		b->p += 4;
		return 1;
	case 2: {
		uint64_t len;
		if (read_varint(b, &len) || len > (uint64_t)(b->end - b->p))
			return -1;
		f->bytes.p = b->p;
		f->bytes.end = b->p + len;
		b->p += len;
		return 1;
	}
	default:
		return -1;
	}
}

static cJSON *string_of(const struct buf *b)
{
	size_t n = (size_t)(b->end - b->p);
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, b->p, n);
	s[n] = 0;
	cJSON *j = cJSON_CreateString(s);
	free(s);
	return j;
}

static cJSON *base64_of(const struct buf *b)
{
	char *s = ks_base64_encode(b->p, (size_t)(b->end - b->p));
	cJSON *j = s ? cJSON_CreateString(s) : NULL;
	free(s);
	return j;
}

/* map<string,string|bytes> entry {1: key, 2: value} into obj. */
static int map_entry(cJSON *obj, const struct buf *entry, bool bytes_value)
{
	struct buf b = *entry;
	struct field f;
	cJSON *key = NULL, *value = NULL;
	int rc;
	while ((rc = next_field(&b, &f)) == 1) {
		if (f.wire != 2)
			continue;
		if (f.number == 1) {
			cJSON_Delete(key);
			key = string_of(&f.bytes);
		} else if (f.number == 2) {
			cJSON_Delete(value);
			value = bytes_value ? base64_of(&f.bytes) : string_of(&f.bytes);
		}
	}
	if (rc < 0 || !key) {
		cJSON_Delete(key);
		cJSON_Delete(value);
		return -1;
	}
	cJSON_AddItemToObject(obj, key->valuestring, value ? value : cJSON_CreateString(""));
	cJSON_Delete(key);
	return 0;
}

static cJSON *child_object(cJSON *parent, const char *name)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, name);
	return c ? c : cJSON_AddObjectToObject(parent, name);
}

static cJSON *child_array(cJSON *parent, const char *name)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, name);
	return c ? c : cJSON_AddArrayToObject(parent, name);
}

static int decode_meta(cJSON *meta, const struct buf *in)
{
	struct buf b = *in;
	struct field f;
	int rc;
	static const char *const strings[] = {NULL, "name", "generateName", "namespace"};
	while ((rc = next_field(&b, &f)) == 1) {
		if (f.wire != 2)
			continue;
		if (f.number >= 1 && f.number <= 3 && f.bytes.end > f.bytes.p)
			cJSON_AddItemToObject(meta, strings[f.number], string_of(&f.bytes));
		else if (f.number == 11 && map_entry(child_object(meta, "labels"), &f.bytes, false))
			return -1;
		else if (f.number == 12 &&
			 map_entry(child_object(meta, "annotations"), &f.bytes, false))
			return -1;
		else if (f.number == 14)
			cJSON_AddItemToArray(child_array(meta, "finalizers"), string_of(&f.bytes));
	}
	return rc < 0 ? -1 : 0;
}

/* Per kind: which field numbers are maps (string or bytes values),
 * strings, string lists and booleans. */
static int decode_object(cJSON *obj, const char *kind, const struct buf *raw)
{
	struct buf b = *raw;
	struct field f;
	int rc;
	while ((rc = next_field(&b, &f)) == 1) {
		if (f.number == 1 && f.wire == 2) {
			if (decode_meta(child_object(obj, "metadata"), &f.bytes))
				return -1;
			continue;
		}
		if (!strcmp(kind, "Namespace")) {
			if (f.number == 2 && f.wire == 2) {
				cJSON *spec = child_object(obj, "spec");
				struct buf sb = f.bytes;
				struct field sf;
				while ((rc = next_field(&sb, &sf)) == 1)
					if (sf.number == 1 && sf.wire == 2)
						cJSON_AddItemToArray(child_array(spec, "finalizers"),
							string_of(&sf.bytes));
				if (rc < 0)
					return -1;
			}
		} else if (!strcmp(kind, "ConfigMap")) {
			if (f.number == 2 && f.wire == 2 &&
			    map_entry(child_object(obj, "data"), &f.bytes, false))
				return -1;
			if (f.number == 3 && f.wire == 2 &&
			    map_entry(child_object(obj, "binaryData"), &f.bytes, true))
				return -1;
			if (f.number == 4 && f.wire == 0)
				cJSON_AddBoolToObject(obj, "immutable", f.varint != 0);
		} else if (!strcmp(kind, "Secret")) {
			if (f.number == 2 && f.wire == 2 &&
			    map_entry(child_object(obj, "data"), &f.bytes, true))
				return -1;
			if (f.number == 3 && f.wire == 2)
				cJSON_AddItemToObject(obj, "type", string_of(&f.bytes));
			if (f.number == 4 && f.wire == 2 &&
			    map_entry(child_object(obj, "stringData"), &f.bytes, false))
				return -1;
			if (f.number == 5 && f.wire == 0)
				cJSON_AddBoolToObject(obj, "immutable", f.varint != 0);
		} else if (!strcmp(kind, "SelfSubjectAccessReview") && f.number == 2 && f.wire == 2) {
			/* spec {1: resourceAttributes, 2: nonResourceAttributes} */
			cJSON *spec = child_object(obj, "spec");
			struct buf sb = f.bytes;
			struct field sf;
			while ((rc = next_field(&sb, &sf)) == 1) {
				if (sf.wire != 2 || (sf.number != 1 && sf.number != 2))
					continue;
				static const char *const ra[] = {NULL, "namespace", "verb", "group",
					"version", "resource", "subresource", "name"};
				static const char *const nra[] = {NULL, "path", "verb"};
				cJSON *attrs = child_object(spec, sf.number == 1 ? "resourceAttributes"
									   : "nonResourceAttributes");
				struct buf ab = sf.bytes;
				struct field af;
				while ((rc = next_field(&ab, &af)) == 1) {
					unsigned max = sf.number == 1 ? 7 : 2;
					if (af.wire == 2 && af.number >= 1 && af.number <= max &&
					    af.bytes.end > af.bytes.p)
						cJSON_AddItemToObject(attrs,
							sf.number == 1 ? ra[af.number] : nra[af.number],
							string_of(&af.bytes));
				}
				if (rc < 0)
					return -1;
			}
			if (rc < 0)
				return -1;
		} else if (!strcmp(kind, "ServiceAccount")) {
			if (f.number == 4 && f.wire == 0)
				cJSON_AddBoolToObject(obj, "automountServiceAccountToken", f.varint != 0);
		}
	}
	return rc < 0 ? -1 : 0;
}

int ks_proto_decode(cJSON **out, const unsigned char *data, size_t len)
{
	*out = NULL;
	if (len < 4 || memcmp(data, "k8s\0", 4) != 0)
		return keelson_error_set(KEELSON_EINVALID,
			"protobuf body without the k8s envelope prefix");
	struct buf b = {data + 4, data + len};
	struct field f;
	char api_version[128] = "", kind[128] = "";
	struct buf raw = {NULL, NULL};
	int rc;
	while ((rc = next_field(&b, &f)) == 1) {
		if (f.wire != 2)
			continue;
		if (f.number == 1) {
			struct buf tb = f.bytes;
			struct field tf;
			while ((rc = next_field(&tb, &tf)) == 1) {
				size_t n = tf.wire == 2 ? (size_t)(tf.bytes.end - tf.bytes.p) : 0;
				char *dst = tf.number == 1 ? api_version : tf.number == 2 ? kind : NULL;
				if (dst && n < 128) {
					memcpy(dst, tf.bytes.p, n);
					dst[n] = 0;
				}
			}
			if (rc < 0)
				break;
		} else if (f.number == 2) {
			raw = f.bytes;
		}
	}
	if (rc < 0 || !raw.p)
		return keelson_error_set(KEELSON_EINVALID, "malformed protobuf envelope");
	if (strcmp(kind, "Namespace") && strcmp(kind, "ConfigMap") && strcmp(kind, "Secret") &&
	    strcmp(kind, "ServiceAccount") && strcmp(kind, "SelfSubjectAccessReview") &&
	    strcmp(kind, "SelfSubjectReview"))
		return keelson_error_set(KEELSON_EINVALID,
			"kubesim cannot decode protobuf for kind \"%s\"; send JSON (kubectl create -f or apply with a manifest)",
			kind);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "apiVersion", api_version);
	cJSON_AddStringToObject(obj, "kind", kind);
	if (decode_object(obj, kind, &raw)) {
		cJSON_Delete(obj);
		return keelson_error_set(KEELSON_EINVALID, "malformed protobuf %s", kind);
	}
	*out = obj;
	return 0;
}
