/*
 * Label and field selectors, as in `kubectl get -l`, `?labelSelector=`,
 * `?fieldSelector=` and LabelSelector objects (StatefulSet spec.selector).
 *
 * Parsing follows apimachinery pkg/labels (selector.go) and pkg/fields;
 * error texts are the apiserver's ("unable to parse requirement: ...",
 * "field label not supported: spec.foo"). The HTTP layer answers parse
 * errors with 400 BadRequest.
 */
#ifndef KS_PATCH_SELECTORS_H
#define KS_PATCH_SELECTORS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Longest selector text accepted (query strings come from outside). */
#define KS_SELECTOR_MAX_LENGTH 16384

struct ks_label_selector;
struct ks_field_selector;

/* Parse `text` ("app=web,tier in (fe,be),!canary"). "" selects everything.
 * Operators: =, ==, !=, in (...), notin (...), key (exists), !key, and
 * gt / lt (key>3, key<3) for integer values. Keys and values are validated
 * as label keys and values. Returns 0 with *out owned by the caller
 * (ks_label_selector_free), KEELSON_EINVALID with the apiserver's message,
 * or KEELSON_ELIMIT when text exceeds KS_SELECTOR_MAX_LENGTH. */
int ks_label_selector_parse(struct ks_label_selector **out, const char *text);

/* Convert a LabelSelector object ({"matchLabels":{..},"matchExpressions":
 * [{"key","operator","values"}]}). An empty object selects everything.
 * Operators In, NotIn, Exists, DoesNotExist. */
int ks_label_selector_from_object(struct ks_label_selector **out, const cJSON *selector);

/* Whether `labels` (an object of string values; NULL means no labels)
 * satisfies every requirement. */
bool ks_label_selector_matches(const struct ks_label_selector *selector, const cJSON *labels);

/* True when the selector has no requirements (selects everything). */
bool ks_label_selector_is_empty(const struct ks_label_selector *selector);

/* The canonical string form ("app=web,tier in (be,fe)"): requirements
 * sorted by key, set values sorted, as apimachinery's String() prints it
 * (Scale status.selector). Returns a string to free(), or NULL on OOM. */
char *ks_label_selector_format(const struct ks_label_selector *selector);

void ks_label_selector_free(struct ks_label_selector *selector);

/* Parse a field selector ("metadata.name=web-0,status.phase!=Running") for
 * objects of `kind` ("Pod", "Event", ...). Operators =, ==, !=; "\," "\="
 * and "\\" escape. Every kind supports metadata.name and
 * metadata.namespace; other fields are the ones kube-apiserver registers
 * for the kind, anything else fails with "field label not supported:
 * <field>". "" selects everything. */
int ks_field_selector_parse(struct ks_field_selector **out, const char *text, const char *kind);

/* Whether `object` satisfies every term. Missing fields compare as "". */
bool ks_field_selector_matches(const struct ks_field_selector *selector, const cJSON *object);

/* When the selector pins metadata.name with "=" (kubectl get -w NAME,
 * kubectl wait), that name (borrowed), else NULL. */
const char *ks_field_selector_exact_name(const struct ks_field_selector *selector);

void ks_field_selector_free(struct ks_field_selector *selector);

#endif
