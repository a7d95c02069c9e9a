/* Label and field selectors for kubesim list/watch filtering (M4, M8). */
#ifndef KUBESIM_SELECTOR_H
#define KUBESIM_SELECTOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>

struct ks_selector;

/* Parse a label selector ("a=b,c!=d,e in (x,y),!f,g") or, with
 * `field` true, a field selector ("metadata.name=x,status.phase!=Running").
 * Returns 0 or KEELSON_EINVALID with a message naming the bad part. */
int ks_selector_parse(struct ks_selector **out, const char *text, bool field);

/* Whether the object's metadata.labels satisfy the label selector. */
bool ks_selector_matches_labels(const struct ks_selector *sel, const cJSON *object);

/* Whether the object's fields (dotted paths, values compared as text)
 * satisfy the field selector. */
bool ks_selector_matches_fields(const struct ks_selector *sel, const cJSON *object);

void ks_selector_free(struct ks_selector *sel);

#endif
