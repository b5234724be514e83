/* SPDX-License-Identifier: MIT */
/*
 * test_buf.c - the growable, capped buffer (common/buf.c): the empty state,
 * the hard limit (an append past it changes nothing), growth keeping the
 * bytes and the NUL, reset keeping the memory, detach and release handing it
 * on, printf-style appends, and the all-or-nothing JSON string append.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"

/* expect_bytes - @b holds exactly @want (@n bytes), NUL-terminated, within its capacity. */
static void expect_bytes(const struct mr_buf *b, const char *want, size_t n)
{
    assert_int_equal(b->len, n);
    assert_memory_equal(b->p, want, n);
    assert_int_equal(b->p[n], '\0');
    assert_true(b->len <= b->max);
    if (b->cap != 0)
        assert_true(b->len < b->cap);
}

static void test_buf_starts_empty_and_shared(void **state)
{
    struct mr_buf a = MR_BUF_INIT(10);
    struct mr_buf b;

    (void)state;
    mr_buf_init(&b, 10);
    assert_ptr_equal(a.p, mr_buf_empty);
    assert_ptr_equal(b.p, mr_buf_empty);
    assert_string_equal(a.p, "");
    assert_int_equal(a.len, 0);
    assert_int_equal(a.cap, 0);
    assert_int_equal(a.max, 10);
    assert_int_equal(b.max, 10);
    /* appending nothing allocates nothing */
    assert_int_equal(mr_buf_add(&a, "x", 0), 0);
    assert_int_equal(mr_buf_adds(&a, ""), 0);
    assert_int_equal(a.cap, 0);
    assert_ptr_equal(a.p, mr_buf_empty);
    /* reset and release of a buffer that never allocated keep it shared and empty */
    mr_buf_reset(&a);
    mr_buf_release(&a);
    assert_ptr_equal(a.p, mr_buf_empty);
    assert_string_equal(mr_buf_empty, "");
}

static void test_buf_add_up_to_the_limit(void **state)
{
    struct mr_buf b = MR_BUF_INIT(8);

    (void)state;
    assert_int_equal(mr_buf_adds(&b, "abc"), 0);
    expect_bytes(&b, "abc", 3);
    assert_int_equal(mr_buf_addc(&b, 'd'), 0);
    assert_int_equal(mr_buf_add(&b, "efgh", 4), 0);
    /* exactly max bytes is allowed */
    expect_bytes(&b, "abcdefgh", 8);
    /* one more is not, and changes nothing */
    assert_int_equal(mr_buf_addc(&b, 'i'), MR_ETOOBIG);
    assert_int_equal(mr_buf_add(&b, "ij", 2), MR_ETOOBIG);
    assert_int_equal(mr_buf_addf(&b, "%d", 1), MR_ETOOBIG);
    expect_bytes(&b, "abcdefgh", 8);
    mr_buf_release(&b);
}

static void test_buf_add_past_the_limit_changes_nothing(void **state)
{
    struct mr_buf b = MR_BUF_INIT(5);
    struct mr_buf zero = MR_BUF_INIT(0);

    (void)state;
    assert_int_equal(mr_buf_adds(&b, "ab"), 0);
    assert_int_equal(mr_buf_adds(&b, "cdef"), MR_ETOOBIG);
    expect_bytes(&b, "ab", 2);
    /* a size that would wrap len + n around is refused before anything is read */
    assert_int_equal(mr_buf_add(&b, "z", SIZE_MAX), MR_ETOOBIG);
    assert_int_equal(mr_buf_add(&b, "z", SIZE_MAX - 1), MR_ETOOBIG);
    expect_bytes(&b, "ab", 2);
    mr_buf_release(&b);
    /* a zero cap takes nothing but nothing */
    assert_int_equal(mr_buf_addc(&zero, 'x'), MR_ETOOBIG);
    assert_int_equal(mr_buf_add(&zero, "x", 0), 0);
    assert_ptr_equal(zero.p, mr_buf_empty);
    assert_string_equal(mr_buf_empty, "");
}

static void test_buf_grows_keeping_bytes(void **state)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    char want[5000];
    size_t caps = 0;
    size_t last = 0;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(want); i++) {
        want[i] = (char)('a' + i % 26);
        assert_int_equal(mr_buf_addc(&b, want[i]), 0);
        if (b.cap != last) {
            /* the first allocation is 64 bytes, then the capacity doubles */
            assert_int_equal(b.cap, last == 0 ? 64 : 2 * last);
            last = b.cap;
            caps++;
        }
    }
    expect_bytes(&b, want, sizeof(want));
    assert_int_equal(b.cap, 8192);
    assert_int_equal(caps, 8); /* 64 .. 8192 */
    mr_buf_release(&b);
    /* one large append jumps straight to a power-of-two capacity that holds it and the NUL */
    assert_int_equal(mr_buf_add(&b, want, 1000), 0);
    assert_int_equal(b.cap, 1024);
    expect_bytes(&b, want, 1000);
    assert_int_equal(mr_buf_add(&b, want, 23), 0);
    assert_int_equal(b.cap, 1024);
    assert_int_equal(mr_buf_addc(&b, 'x'), 0);
    assert_int_equal(b.cap, 2048); /* 1024 bytes and the NUL do not fit 1024 */
    mr_buf_release(&b);
}

static void test_buf_keeps_binary_bytes(void **state)
{
    struct mr_buf b = MR_BUF_INIT(100);

    (void)state;
    assert_int_equal(mr_buf_add(&b, "a\0b", 3), 0);
    assert_int_equal(mr_buf_addc(&b, '\0'), 0);
    expect_bytes(&b, "a\0b\0", 4);
    mr_buf_release(&b);
}

static void test_buf_reset_keeps_memory(void **state)
{
    struct mr_buf b = MR_BUF_INIT(100);
    char *p;
    size_t cap;

    (void)state;
    assert_int_equal(mr_buf_adds(&b, "hello"), 0);
    p = b.p;
    cap = b.cap;
    mr_buf_reset(&b);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, cap);
    expect_bytes(&b, "", 0);
    assert_int_equal(mr_buf_adds(&b, "again"), 0);
    assert_ptr_equal(b.p, p);
    expect_bytes(&b, "again", 5);
    mr_buf_release(&b);
}

static void test_buf_detach_hands_the_bytes_over(void **state)
{
    struct mr_buf b = MR_BUF_INIT(100);
    size_t len = 99;
    char *p;
    char *q;

    (void)state;
    assert_int_equal(mr_buf_adds(&b, "taken"), 0);
    q = b.p;
    p = mr_buf_detach(&b, &len);
    assert_ptr_equal(p, q);
    assert_string_equal(p, "taken");
    assert_int_equal(len, 5);
    /* the buffer is empty and usable; the limit stays */
    assert_ptr_equal(b.p, mr_buf_empty);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);
    assert_int_equal(mr_buf_adds(&b, "next"), 0);
    assert_ptr_not_equal(b.p, p);
    expect_bytes(&b, "next", 4);
    free(p);
    mr_buf_release(&b);
    /* detaching a buffer that never allocated gives a new empty string, never NULL */
    p = mr_buf_detach(&b, &len);
    assert_non_null(p);
    assert_ptr_not_equal(p, mr_buf_empty);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);
    /* @len may be NULL */
    assert_int_equal(mr_buf_adds(&b, "x"), 0);
    p = mr_buf_detach(&b, NULL);
    assert_string_equal(p, "x");
    free(p);
}

static void test_buf_release_frees_and_keeps_usable(void **state)
{
    struct mr_buf b = MR_BUF_INIT(100);

    (void)state;
    assert_int_equal(mr_buf_adds(&b, "first"), 0);
    mr_buf_release(&b);
    assert_ptr_equal(b.p, mr_buf_empty);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);
    assert_int_equal(mr_buf_adds(&b, "second"), 0);
    expect_bytes(&b, "second", 6);
    mr_buf_release(&b);
    mr_buf_release(&b); /* twice is harmless */
    assert_ptr_equal(b.p, mr_buf_empty);
}

/* vadd - mr_buf_vaddf through a variadic wrapper. */
static int vadd(struct mr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int vadd(struct mr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = mr_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

static void test_buf_addf_formats_and_respects_the_limit(void **state)
{
    struct mr_buf b = MR_BUF_INIT(16);

    (void)state;
    assert_int_equal(mr_buf_addf(&b, "%s=%d", "n", 42), 0);
    expect_bytes(&b, "n=42", 4);
    assert_int_equal(vadd(&b, "&%s=%03d", "m", 7), 0);
    expect_bytes(&b, "n=42&m=007", 10);
    /* an empty result appends nothing */
    assert_int_equal(mr_buf_addf(&b, "%s", ""), 0);
    expect_bytes(&b, "n=42&m=007", 10);
    /* 7 more would pass 16: refused whole, nothing written */
    assert_int_equal(mr_buf_addf(&b, "%s", "1234567"), MR_ETOOBIG);
    assert_int_equal(vadd(&b, "%d", 1234567), MR_ETOOBIG);
    expect_bytes(&b, "n=42&m=007", 10);
    /* exactly to the limit */
    assert_int_equal(mr_buf_addf(&b, "%06d", 12), 0);
    expect_bytes(&b, "n=42&m=007000012", 16);
    mr_buf_release(&b);
}

static void test_buf_addf_grows_past_the_first_allocation(void **state)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    char big[300];

    (void)state;
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(mr_buf_adds(&b, "<"), 0);
    assert_int_equal(mr_buf_addf(&b, "%s>", big), 0);
    assert_int_equal(b.len, 301);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[299], 'z');
    assert_int_equal(b.p[300], '>');
    assert_int_equal(b.p[301], '\0');
    assert_int_equal(b.cap, 512);
    mr_buf_release(&b);
}

static void test_buf_add_jstr_escapes(void **state)
{
    struct mr_buf b = MR_BUF_INIT(200);
    const char in[] = "a\"b\\c\n\t\x01\x1f\x7f \xc3\xa9/";

    (void)state;
    assert_int_equal(mr_buf_add_jstr(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\u000a\\u0009\\u0001\\u001f\x7f \xc3\xa9/\"");
    mr_buf_reset(&b);
    /* by length: a NUL byte is escaped, not an end */
    assert_int_equal(mr_buf_add_jstr(&b, "x\0y", 3), 0);
    assert_string_equal(b.p, "\"x\\u0000y\"");
    mr_buf_reset(&b);
    assert_int_equal(mr_buf_add_jstr(&b, "", 0), 0);
    assert_string_equal(b.p, "\"\"");
    mr_buf_release(&b);
}

static void test_buf_add_jstr_is_all_or_nothing(void **state)
{
    struct mr_buf b = MR_BUF_INIT(12);

    (void)state;
    assert_int_equal(mr_buf_adds(&b, "k:"), 0);
    /* "\"abcdefgh\"" is 10 bytes: 12 in all, fits exactly */
    assert_int_equal(mr_buf_add_jstr(&b, "abcdefgh", 8), 0);
    expect_bytes(&b, "k:\"abcdefgh\"", 12);
    mr_buf_reset(&b);
    assert_int_equal(mr_buf_adds(&b, "k:"), 0);
    /* the closing quote does not fit: the partial string is dropped */
    assert_int_equal(mr_buf_add_jstr(&b, "abcdefghi", 9), MR_ETOOBIG);
    expect_bytes(&b, "k:", 2);
    /* an escape does not fit half-way */
    assert_int_equal(mr_buf_add_jstr(&b, "abcdef\n", 7), MR_ETOOBIG);
    expect_bytes(&b, "k:", 2);
    mr_buf_release(&b);
    /* on a buffer that never allocated and cannot take even the quote */
    b.max = 0;
    assert_int_equal(mr_buf_add_jstr(&b, "a", 1), MR_ETOOBIG);
    assert_ptr_equal(b.p, mr_buf_empty);
    assert_string_equal(mr_buf_empty, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_starts_empty_and_shared),
        cmocka_unit_test(test_buf_add_up_to_the_limit),
        cmocka_unit_test(test_buf_add_past_the_limit_changes_nothing),
        cmocka_unit_test(test_buf_grows_keeping_bytes),
        cmocka_unit_test(test_buf_keeps_binary_bytes),
        cmocka_unit_test(test_buf_reset_keeps_memory),
        cmocka_unit_test(test_buf_detach_hands_the_bytes_over),
        cmocka_unit_test(test_buf_release_frees_and_keeps_usable),
        cmocka_unit_test(test_buf_addf_formats_and_respects_the_limit),
        cmocka_unit_test(test_buf_addf_grows_past_the_first_allocation),
        cmocka_unit_test(test_buf_add_jstr_escapes),
        cmocka_unit_test(test_buf_add_jstr_is_all_or_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
