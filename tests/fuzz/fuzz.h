/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the fuzz targets in tests/fuzz/ share.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and is built twice: with
 * clang and libFuzzer by `make fuzz` (build-fuzz/), and with the normal
 * compiler, linked to replay.c, by `make build`, so that `make test` replays
 * the committed corpus tests/fuzz/corpus/<name>/ (under ASan/UBSan with SAN=1).
 *
 * A target checks invariants, not just survival: FUZZ_CHECK prints what broke
 * and aborts, which libFuzzer and the replay driver both report as a failure
 * of the input at hand.
 */
#ifndef MR_TESTS_FUZZ_FUZZ_H
#define MR_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK - abort with "file:line: invariant failed: <cond>: <detail>" unless @cond holds. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
