/* SPDX-License-Identifier: MIT */
/*
 * test_header.c - the rule for branch_headers (common/header.c): reserved
 * framing, hop-by-hop and routing names in any case, token names, value
 * bytes, and the size limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/header.h"

/* hc - mr_header_check on NUL-terminated @value; the message must start with the field. */
static int hc(const char *name, const char *value)
{
    struct mr_err err = MR_ERR_INIT;
    int rc = mr_header_check(name, value, strlen(value), &err);

    if (rc != 0)
        assert_true(strncmp(err.msg, "branch_headers: ", 16) == 0);
    return rc;
}

static void test_header_reserved_names_are_refused_in_any_case(void **state)
{
    static const char *const names[] = {
        "Content-Length",
        "content-length",
        "Transfer-Encoding",
        "Host",
        "hOsT",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "te",
        "Trailer",
        "Expect",
        "Proxy-Authorization",
        "proxy-connection",
    };
    struct mr_err err = MR_ERR_INIT;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_true(mr_header_is_reserved(names[i]));
        assert_int_equal(mr_header_check(names[i], "v", 1, &err), MR_EINVAL);
        assert_non_null(strstr(err.msg, names[i]));
    }
    assert_false(mr_header_is_reserved("Content-Type"));
    assert_false(mr_header_is_reserved("Authorization"));
    assert_false(mr_header_is_reserved("Hosts"));
    assert_false(mr_header_is_reserved("X-Proxy-Id"));
    assert_int_equal(hc("Content-Type", "text/plain"), 0);
    assert_int_equal(hc("Authorization", "Bearer a.b.c"), 0);
}

static void test_header_names_must_be_tokens(void **state)
{
    (void)state;
    assert_int_equal(hc("X-Ok_1.2~!#$%&'*+^`|", "v"), 0);
    assert_int_equal(hc("", "v"), MR_EINVAL);
    assert_int_equal(hc("X Y", "v"), MR_EINVAL);
    assert_int_equal(hc("X:Y", "v"), MR_EINVAL);
    assert_int_equal(hc("X(Y)", "v"), MR_EINVAL);
    assert_int_equal(hc("X\r\nY", "v"), MR_EINVAL);
    assert_int_equal(hc("X\xc3\xa9", "v"), MR_EINVAL);
}

static void test_header_values_are_visible_ascii_space_and_tab(void **state)
{
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    assert_int_equal(hc("X", ""), 0);
    assert_int_equal(hc("X", "a b\tc ~!"), 0);
    assert_int_equal(hc("X", "a\x01"), MR_EINVAL);
    assert_int_equal(hc("X", "a\x0b"), MR_EINVAL);
    assert_int_equal(hc("X", "a\x7f"), MR_EINVAL);
    assert_int_equal(hc("X", "a\rb"), MR_EINVAL);
    assert_int_equal(hc("X", "a\nb"), MR_EINVAL);
    assert_int_equal(hc("X", "caf\xc3\xa9"), MR_EINVAL);
    /* a NUL hidden inside the value's length */
    assert_int_equal(mr_header_check("X", "a\0b", 3, &err), MR_EINVAL);
}

static void test_header_size_limits(void **state)
{
    char name[MR_HEADER_NAME_MAX + 2];
    char value[MR_HEADER_VALUE_MAX + 2];

    (void)state;
    memset(name, 'n', sizeof(name));
    memset(value, 'v', sizeof(value));
    name[MR_HEADER_NAME_MAX] = '\0';
    value[MR_HEADER_VALUE_MAX] = '\0';
    assert_int_equal(hc(name, value), 0);
    name[MR_HEADER_NAME_MAX] = 'n';
    name[MR_HEADER_NAME_MAX + 1] = '\0';
    assert_int_equal(hc(name, "v"), MR_EINVAL);
    value[MR_HEADER_VALUE_MAX] = 'v';
    value[MR_HEADER_VALUE_MAX + 1] = '\0';
    assert_int_equal(hc("X", value), MR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_reserved_names_are_refused_in_any_case),
        cmocka_unit_test(test_header_names_must_be_tokens),
        cmocka_unit_test(test_header_values_are_visible_ascii_space_and_tab),
        cmocka_unit_test(test_header_size_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
