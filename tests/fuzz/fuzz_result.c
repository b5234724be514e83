/* SPDX-License-Identifier: MIT */
/*
 * fuzz_result.c - fuzz target for the one result classifier
 * (common/result.c, mr_result_classify), shared by step delivery and the
 * back-check.
 *
 * Input: an optional first line "<status>[s]\n" (decimal HTTP status, maybe
 * negative or huge; "s" = strict back-check mode), then the answer body, any
 * bytes including NUL. Without such a line the whole input is the body and
 * the status is 200.
 *
 * Invariants: the result is one of the four known results with its name; it
 * is what the rule in result.h says, checked against a plain restatement of
 * it; strict mode differs from the normal one only by turning a 200 without
 * "SUCCESS" from success into error; the body is read only within its length
 * (the body ends where the input does, so ASan sees any read past it).
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "common/result.h"
#include "tests/fuzz/fuzz.h"

/* has - whether @needle occurs in @hay[0..n), with memmem: not the classifier's own search. */
static bool has(const uint8_t *hay, size_t n, const char *needle)
{
    return n > 0 && memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* expected - the rule of result.h, restated. */
static enum mr_result expected(long status, const uint8_t *body, size_t n, bool strict)
{
    if (status == 0)
        return MR_RESULT_ERROR;
    if (status == 425 || has(body, n, "ONGOING"))
        return MR_RESULT_ONGOING;
    if (status == 409 || has(body, n, "FAILURE"))
        return MR_RESULT_FAILURE;
    if (status != 200)
        return MR_RESULT_ERROR;
    if (strict && !has(body, n, "SUCCESS"))
        return MR_RESULT_ERROR;
    return MR_RESULT_SUCCESS;
}

/* header - read "<status>[s]\n" at the start of @d; the number of bytes it took (0: none). */
static size_t header(const uint8_t *d, size_t n, long *status, bool *strict)
{
    size_t i = 0;
    bool neg = false;
    long v = 0;

    *status = 200;
    *strict = false;
    if (i < n && d[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n || d[i] < '0' || d[i] > '9')
        return 0;
    for (; i < n && d[i] >= '0' && d[i] <= '9'; i++) {
        int digit = d[i] - '0';

        v = v > (LONG_MAX - digit) / 10 ? LONG_MAX : v * 10 + digit; /* saturate */
    }
    if (i < n && d[i] == 's') {
        *strict = true;
        i++;
    }
    if (i >= n || d[i] != '\n')
        return 0;
    *status = neg ? -v : v;
    return i + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *body;
    size_t n;
    size_t off;
    long status;
    bool strict;
    enum mr_result r;
    enum mr_result loose;
    enum mr_result want;
    const char *name;

    off = header(data, size, &status, &strict);
    if (off == 0) {
        status = 200;
        strict = false;
    }
    body = data + off;
    n = size - off;

    r = mr_result_classify(status, (const char *)body, n, strict);
    FUZZ_CHECK(r == MR_RESULT_SUCCESS || r == MR_RESULT_ONGOING || r == MR_RESULT_FAILURE ||
                   r == MR_RESULT_ERROR,
               "status %ld: result %d is not a known result", status, (int)r);
    name = mr_result_name(r);
    FUZZ_CHECK(strcmp(name, "success") == 0 || strcmp(name, "ongoing") == 0 ||
                   strcmp(name, "failure") == 0 || strcmp(name, "error") == 0,
               "result %d has name '%s'", (int)r, name);

    want = expected(status, body, n, strict);
    FUZZ_CHECK(r == want, "status %ld strict %d body of %zu bytes: %s, the rule says %s", status,
               strict, n, name, mr_result_name(want));

    /* strict mode only ever turns a success into an error */
    loose = mr_result_classify(status, (const char *)body, n, false);
    if (strict)
        FUZZ_CHECK(r == loose || (loose == MR_RESULT_SUCCESS && r == MR_RESULT_ERROR),
                   "strict %s vs normal %s", name, mr_result_name(loose));

    /* no status means no answer: the body cannot make it anything but an error */
    if (status == 0)
        FUZZ_CHECK(r == MR_RESULT_ERROR, "status 0 classified %s", name);

    /* an empty body may come as NULL */
    if (n == 0)
        FUZZ_CHECK(mr_result_classify(status, NULL, 0, strict) == r,
                   "NULL body differs from empty");
    return 0;
}
