/*
 * The cassandra plugin's JSON reader (plugins/cassandra/cass_json.c,
 * compiled into this target): it reads every Management API answer the
 * drain and decommission gates decide on. Checked: a refusal says why;
 * what it accepts, cJSON accepts too (no laxer reading than the host's);
 * writing a parsed document and parsing it again is a fixed point.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "plugins/cassandra/cass_json.h"

#include <cjson/cJSON.h>
#include <string.h>

static int has_surrogate_escape(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 3 < size; i++)
		if (data[i] == '\\' && data[i + 1] == 'u' && (data[i + 2] == 'd' || data[i + 2] == 'D') &&
		    strchr("89abAB", data[i + 3]) != NULL && data[i + 3] != '\0')
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cass_json *doc = NULL;
	char why[128];
	memset(why, 'x', sizeof(why));
	if (cass_json_parse((const char *)data, size, &doc, why, sizeof(why)) != 0) {
		fuzz_assert(doc == NULL);
		fuzz_assert(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0');
		return 0;
	}
	fuzz_assert(doc != NULL);
	/* cJSON refuses an unpaired UTF-16 surrogate escape ("\uD900"), which
	 * the grammar allows and cass_json decodes as three bytes; no gate reads
	 * such a string, so that difference is left alone. */
	if (has_surrogate_escape(data, size)) {
		cass_json_free(doc);
		return 0;
	}
	cJSON *oracle = cJSON_ParseWithLength((const char *)data, size);
	if (oracle == NULL)
		fprintf(stderr, "cass_json accepted what cJSON refuses: %.*s\n", (int)(size > 200 ? 200 : size),
			(const char *)data);
	fuzz_assert(oracle != NULL);
	cJSON_Delete(oracle);

	cass_json_member(doc, "entity");
	cass_json_string(cass_json_member(doc, "status"));
	char *once = cass_json_write(doc);
	fuzz_assert(once != NULL);
	struct cass_json *back = NULL;
	int rc = cass_json_parse(once, strlen(once), &back, why, sizeof(why));
	if (rc != 0)
		fprintf(stderr, "written form does not parse (%s): %.200s\n", why, once);
	fuzz_assert(rc == 0);
	char *twice = cass_json_write(back);
	fuzz_assert(twice != NULL && strcmp(once, twice) == 0);
	free(once);
	free(twice);
	cass_json_free(back);
	cass_json_free(doc);
	return 0;
}
