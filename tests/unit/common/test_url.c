/* SPDX-License-Identifier: MIT */
/*
 * test_url.c - common/url.c: the query parameter builder (mr_url_with_params:
 * the joiner after an existing query, escaping of values only, the fragment
 * kept last, the limit) and URL credentials masking (mr_url_mask: one URL,
 * URLs inside free text, what ends an authority, and text left alone).
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

/* params - @base with @kv added, appended after @prefix; compare to @want. */
static void params(const char *prefix, const char *base, const char *const *kv, const char *want)
{
    struct mr_buf b = MR_BUF_INIT(4096);

    assert_int_equal(mr_buf_adds(&b, prefix), 0);
    assert_int_equal(mr_url_with_params(&b, base, kv), 0);
    assert_string_equal(b.p, want);
    mr_buf_release(&b);
}

static void test_url_params_joiner(void **state)
{
    static const char *const one[] = {"a", "1", NULL};
    static const char *const two[] = {"a", "1", "b", "2", NULL};
    static const char *const none[] = {NULL};

    (void)state;
    params("", "http://h/p", one, "http://h/p?a=1");
    params("", "http://h/p", two, "http://h/p?a=1&b=2");
    params("", "http://h/p?x=0", two, "http://h/p?x=0&a=1&b=2");
    /* a base that ends in the joiner already gets no second one */
    params("", "http://h/p?", two, "http://h/p?a=1&b=2");
    params("", "http://h/p?x=0&", one, "http://h/p?x=0&a=1");
    /* a '&' before any '?' is part of the path */
    params("", "http://h/a&b", one, "http://h/a&b?a=1");
    /* no parameters: the base as it is */
    params("", "http://h/p?x=0", none, "http://h/p?x=0");
    params("", "", one, "?a=1");
}

static void test_url_params_fragment_stays_last(void **state)
{
    static const char *const one[] = {"a", "1", NULL};

    (void)state;
    params("", "http://h/p#top", one, "http://h/p?a=1#top");
    params("", "http://h/p?x=0#f?g&h", one, "http://h/p?x=0&a=1#f?g&h");
    /* a '?' only in the fragment is not a query */
    params("", "http://h/p#f?g", one, "http://h/p?a=1#f?g");
    params("", "http://h/p?#", one, "http://h/p?a=1#");
}

static void test_url_params_escape_values_not_names(void **state)
{
    static const char *const kv[] = {"gid", "a b&c=d/e?f#g%+", "n[]", "Az09-._~", NULL};
    static const char *const empty[] = {"e", "", "f", "\xc3\xa9", NULL};

    (void)state;
    params("", "http://h/p", kv, "http://h/p?gid=a%20b%26c%3Dd%2Fe%3Ff%23g%25%2B&n[]=Az09-._~");
    params("", "http://h/p", empty, "http://h/p?e=&f=%C3%A9");
}

static void test_url_params_append_and_pairs_only(void **state)
{
    /* a name without its value ends the list */
    static const char *const odd[] = {"a", "1", "b", NULL};

    (void)state;
    params("GET ", "http://h/p", odd, "GET http://h/p?a=1");
}

static void test_url_params_limit(void **state)
{
    static const char *const kv[] = {"gid", "0123456789", NULL};
    struct mr_buf b = MR_BUF_INIT(24);

    (void)state;
    /* "http://h/p?gid=0123456789" is 25 bytes */
    assert_int_equal(mr_url_with_params(&b, "http://h/p", kv), MR_ETOOBIG);
    assert_true(b.len <= 24);
    mr_buf_release(&b);
    b.max = 25;
    assert_int_equal(mr_url_with_params(&b, "http://h/p", kv), 0);
    assert_string_equal(b.p, "http://h/p?gid=0123456789");
    mr_buf_release(&b);
    /* the base alone too long */
    b.max = 5;
    assert_int_equal(mr_url_with_params(&b, "http://h/p", kv), MR_ETOOBIG);
    mr_buf_release(&b);
}

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
        cmocka_unit_test(test_url_params_joiner),
        cmocka_unit_test(test_url_params_fragment_stays_last),
        cmocka_unit_test(test_url_params_escape_values_not_names),
        cmocka_unit_test(test_url_params_append_and_pairs_only),
        cmocka_unit_test(test_url_params_limit),
        cmocka_unit_test(test_url_mask_one_url),
        cmocka_unit_test(test_url_mask_leaves_urls_without_userinfo),
        cmocka_unit_test(test_url_mask_inside_text),
        cmocka_unit_test(test_url_mask_buffer_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
