/*
 * YAML -> cJSON, decoded the way Kubernetes decodes it, with the source
 * position of every node.
 *
 * Resolution rules. kubectl decodes YAML with sigs.k8s.io/yaml (go-yaml v2,
 * YAML 1.1 flavour) and then reads the result as JSON. keelson must see the
 * same values as the cluster, so scalars are resolved with go-yaml v2's rules,
 * not YAML 1.2's:
 *   - quoted and block (| >) scalars are always strings;
 *   - y Y yes Yes YES on On ON true True TRUE are true, and the same forms of
 *     n no off false are false (only those three case forms: "yEs" is a string);
 *   - "", ~, null, Null, NULL are null;
 *   - integers use Go's base-0 syntax after removing '_': 0644 is octal 420,
 *     0x1F, 0o17, 0b101, +12; 08 and 09.5 are read as floats (8, 9.5);
 *   - plain decimal floats (1e3, .5, 1.) are numbers; .inf and .nan are
 *     rejected, because Kubernetes cannot turn them into JSON;
 *   - timestamps (2001-12-14) and sexagesimal values (12:30:00) stay strings;
 *   - explicit tags !!str !!int !!float !!bool !!null !!timestamp !!binary
 *     behave as in go-yaml (e.g. `!!int "12"` is 12, `!!int abc` is an error);
 *     other tags are ignored and the scalar is a string.
 * Numbers: integers with |n| <= 2^53 are cJSON numbers. Integers that fit in
 * int64 but not exactly in a double are cJSON_Raw nodes whose valuestring is
 * the exact decimal text (cJSON_IsRaw; print them as they are); Kubernetes
 * keeps them exact. Integers beyond int64 and all other numbers are doubles,
 * as Kubernetes reads them. -0 is 0. Note that cJSON_Print writes numbers
 * with "%.15g" when that is within DBL_EPSILON, so it drops digits of
 * integers above 10^15; use keelson_json_canonical() to print values exactly.
 * Mapping keys become strings the way sigs.k8s.io/yaml converts them:
 * `on` -> "true", `n` -> "false", 0644 -> "420", 1.5 -> "1.5", 1e6 -> "1e+06"
 * (go-yaml formats float keys as float32 with %g). A null key, a key beyond
 * int64 and a collection used as a key are errors (Kubernetes rejects them).
 * Merge keys (`<<: *base`, `<<: [*a, *b]`, `<<: {inline}`) are supported;
 * among several merged maps the earlier one wins, and keys written after the
 * merge override merged ones.
 *
 * Deliberate differences from kubectl (each is a file kubectl would accept
 * but read in a way a reviewer cannot see):
 *   - a key written twice in one mapping is an error naming both positions
 *     (kubectl silently keeps the last; keys compare after conversion, so
 *     `on:` and `true:` in one mapping are duplicates);
 *   - a key written BEFORE `<<` that the merge would override is an error
 *     (go-yaml v2 lets the merge win, the YAML merge spec says the explicit key
 *     wins); two `<<` keys in one mapping are an error too (use a list);
 *   - a string containing a NUL character is an error (cJSON cannot hold it).
 * libyaml's scanner is also slightly stricter than go-yaml's in malformed
 * corners (e.g. '[' or ']' inside a tag, `ON?` in a flow list); such files
 * are rejected with libyaml's message.
 *
 * Documents: `---` separates documents. Documents whose root is null (empty,
 * only comments, `~`, `null`) are skipped, as kubectl skips them. A document
 * whose root is not a mapping (a list, a string) is kept: the caller decides
 * whether that is an error. Anchors are local to their document.
 *
 * Positions: 1-based line and column as editors show them; the column counts
 * characters (a tab is one). A node's position is where its text starts,
 * including its anchor or tag; a block mapping starts at its first key, a
 * block sequence at its first '-'. Nodes produced by an alias: the node that
 * replaces `*name` reports the position of `*name`; the nodes inside it report
 * where they are written under the anchor (that is where their text is).
 * Members copied by a merge key report their position (and key position) in
 * the merged map.
 *
 * Limits keep hostile input cheap: alias expansions are counted from the
 * anchored node's size before anything is copied, so a "billion laughs" file
 * fails after a few events with KEELSON_ELIMIT.
 *
 * Errors: KEELSON_EINVALID (syntax, resolution, duplicate keys) or
 * KEELSON_ELIMIT (limits), with the message "file:line:column: what is wrong".
 *
 * Thread safety: a loaded stream is immutable; concurrent readers are fine.
 */
#ifndef KEELSON_YAML_LOAD_H
#define KEELSON_YAML_LOAD_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct keelson_source_pos {
	const char *file; /* owned by the stream */
	unsigned line;    /* 1-based */
	unsigned column;  /* 1-based, in characters */
};

#define KEELSON_YAML_LIMITS_VERSION 1

struct keelson_yaml_limits {
	unsigned version;            /* KEELSON_YAML_LIMITS_VERSION */
	size_t max_bytes;            /* size of the whole input */
	unsigned max_depth;          /* nesting of collections, root = 1 */
	size_t max_alias_expansions; /* nodes copied by aliases, per document */
	size_t max_nodes;            /* nodes created, whole stream */
	size_t max_documents;        /* documents in the stream, empty ones included */
};

/* Fill `limits` with the defaults:
 *   max_bytes 8 MiB: several times the largest manifests seen in practice
 *     (CRDs with big schemas are around 1 MiB) and the same order as the
 *     Kubernetes API's request size limit;
 *   max_depth 100: real manifests nest less than 20 deep;
 *   max_alias_expansions 10,000: real anchors copy a few hundred nodes;
 *   max_nodes 1,000,000: an 8 MiB file of ordinary block YAML has about
 *     500,000 nodes, and a million nodes cost roughly 100 MiB;
 *   max_documents 10,000: one file per object is the common layout; a
 *     generated bundle rarely holds more than a few thousand. */
void keelson_yaml_limits_init(struct keelson_yaml_limits *limits);

struct keelson_yaml_stream;

/* Parse `len` bytes of `data` (UTF-8, or UTF-16 with a BOM; need not be
 * NUL-terminated). `file_name` is used in positions and messages (NULL:
 * "<input>"). `limits` NULL means the defaults. On success *out is a stream
 * to free with keelson_yaml_stream_free(); on error *out is NULL. */
int keelson_yaml_load_buffer(struct keelson_yaml_stream **out, const char *data,
	size_t len, const char *file_name, const struct keelson_yaml_limits *limits);

/* Read and parse the file at `path` (also the name used in positions). A file
 * larger than limits->max_bytes is refused before it is read. Returns
 * KEELSON_ENOTFOUND when the file does not exist. */
int keelson_yaml_load_file(struct keelson_yaml_stream **out, const char *path,
	const struct keelson_yaml_limits *limits);

/* Number of non-empty documents, in file order. */
size_t keelson_yaml_document_count(const struct keelson_yaml_stream *stream);

/* Document `index` (borrowed; valid until the stream is freed; do not modify
 * it if you still look up positions). NULL when index is out of range. */
cJSON *keelson_yaml_document(const struct keelson_yaml_stream *stream, size_t index);

/* Where `node`'s value starts. NULL if the node is not from this stream. */
const struct keelson_source_pos *keelson_yaml_position(
	const struct keelson_yaml_stream *stream, const cJSON *node);

/* For a member of an object: where its key starts. NULL for array elements,
 * document roots and nodes not from this stream. */
const struct keelson_source_pos *keelson_yaml_key_position(
	const struct keelson_yaml_stream *stream, const cJSON *node);

/* Position of the value at RFC 6901 `json_pointer` in document `document`.
 * Returns KEELSON_ENOTFOUND when the document or the pointed-to node does not
 * exist, KEELSON_EINVALID for a malformed pointer. */
int keelson_yaml_position_at(struct keelson_source_pos *out,
	const struct keelson_yaml_stream *stream, size_t document,
	const char *json_pointer);

/* Like keelson_yaml_position_at, but when the pointed-to node does not exist
 * (a field that is missing from the file), the position of its deepest
 * existing ancestor: the place a reviewer would add it. *out_exact (may be
 * NULL) tells whether the whole pointer matched. KEELSON_ENOTFOUND only when
 * the document does not exist; KEELSON_EINVALID for a malformed pointer. */
int keelson_yaml_position_nearest(struct keelson_source_pos *out, int *out_exact,
	const struct keelson_yaml_stream *stream, size_t document,
	const char *json_pointer);

/* The file name given at load time. */
const char *keelson_yaml_file_name(const struct keelson_yaml_stream *stream);

/* Accepts NULL. */
void keelson_yaml_stream_free(struct keelson_yaml_stream *stream);

#endif
