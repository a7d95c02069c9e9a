/*
 * The libFuzzer entry points of tests/fuzz, and what they share.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput (and, if it needs one-time
 * setup, LLVMFuzzerInitialize). The same object is linked two ways:
 *   - with clang -fsanitize=fuzzer into tests/fuzz/fuzz-NAME (configure
 *     --enable-fuzzing; `make fuzz` runs them), and
 *   - with replay_main.c into tests/fuzz/replay-NAME, a plain program that
 *     `make check` runs over the seed and crash corpora of NAME, so every
 *     entry point also runs under gcc with ASan and UBSan in CI.
 * An entry point must not depend on the order of inputs, must free
 * everything it allocates (a leak is a finding), and must check the
 * properties it can (round trips, invariants) with fuzz_assert, not only
 * "does not crash".
 */
#ifndef KEELSON_TESTS_FUZZ_H
#define KEELSON_TESTS_FUZZ_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property violated: print and abort, so that libFuzzer saves the
 * input and the replay program fails. */
#define fuzz_assert(cond)                                                                     \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                       \
			abort();                                                              \
		}                                                                             \
	} while (0)

/* The input as a NUL-terminated string (a copy; free it). Inputs with an
 * embedded NUL are cut there, which is what a C string API sees anyway. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Split the input at the first occurrence of `sep` (a byte sequence):
 * *a is what comes before, *b what comes after (both point into data).
 * Without the separator, *a is everything and *b is empty. */
void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *a_len,
		const uint8_t **b, size_t *b_len);

/* Whether `v` holds an object with a key written twice anywhere (JSON
 * allows it, cJSON keeps both; the API server never sends it). */
int fuzz_has_duplicate_keys(const cJSON *v);

/* Whether the bytes are valid UTF-8 (what the API server sends). */
int fuzz_utf8_valid(const uint8_t *data, size_t size);

/* Quiet the core logger: the targets provoke errors by the million. */
void fuzz_quiet_logs(void);

#endif
