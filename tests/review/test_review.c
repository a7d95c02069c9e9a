#include "config.h"
#include "tests/unit/check_main.h"
static Suite *suite_review(void) { return suite_create("review"); }
KEELSON_CHECK_MAIN(suite_review)
