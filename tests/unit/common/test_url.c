/* SPDX-License-Identifier: MIT */
/*
 * test_url.c - URL credentials masking (common/url.c mr_url_mask): one URL,
 * URLs inside free text, what ends an authority, and text left alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/url.h"

/* check - @in masks to @want, and mr_url_has_userinfo agrees on whether it changed. */
static void check(const char *in, const char *want)
{
    char *got = mr_url_masked(in);

    assert_string_equal(got, want);
    assert_true(mr_url_has_userinfo(in) == (strcmp(in, want) != 0));
    free(got);
}

static void test_url_mask_one_url(void **state)
{
    (void)state;
    check("http://user:pass@host:8080/path?q=1#f", "http://***@host:8080/path?q=1#f");
    check("https://token@api.example.com", "https://***@api.example.com");
    check("http://u:p%40ss@h/x", "http://***@h/x");
    /* the last '@' of the authority ends the userinfo */
    check("http://u:p@ss@h/x", "http://***@h/x");
    check("http://:@h/", "http://***@h/");
    check("mysql://app:secret@db:3306/shop", "mysql://***@db:3306/shop");
    check("kafka://orders?key=a@b", "kafka://orders?key=a@b");
    /* masked already: the user name stays */
    check("mysql://app:***@db:3306/shop", "mysql://app:***@db:3306/shop");
    check("http://***@h/", "http://***@h/");
    check("http://a:b:***@h/", "http://***@h/");
}

static void test_url_mask_leaves_urls_without_userinfo(void **state)
{
    (void)state;
    check("http://host/path", "http://host/path");
    check("http://host/users/@me?to=a@b#c@d", "http://host/users/@me?to=a@b#c@d");
    check("", "");
    check("no url here: a@b", "no url here: a@b");
    check("://u:p@h", "://u:p@h");
}

static void test_url_mask_inside_text(void **state)
{
    (void)state;
    check("step 01: HTTP 500: see http://u:p@h/x and https://a:b@k:1/y",
          "step 01: HTTP 500: see http://***@h/x and https://***@k:1/y");
    check("(http://u:p@h) done", "(http://***@h) done");
    check("x1http://u:p@h/", "x1http://***@h/");
    check("'http://u:p@h'\nnext http://q@r", "'http://***@h'\nnext http://***@r");
    /* a NUL-free control byte ends the authority too */
    check("http://h\tu@x/", "http://h\tu@x/");
}

static void test_url_mask_buffer_limit(void **state)
{
    struct mr_buf b = MR_BUF_INIT(10);

    (void)state;
    assert_int_equal(mr_url_mask(&b, "http://u:p@hostname/"), MR_ETOOBIG);
    mr_buf_release(&b);
    assert_null(mr_url_masked(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_mask_one_url),
        cmocka_unit_test(test_url_mask_leaves_urls_without_userinfo),
        cmocka_unit_test(test_url_mask_inside_text),
        cmocka_unit_test(test_url_mask_buffer_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
