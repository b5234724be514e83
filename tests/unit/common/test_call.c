/* SPDX-License-Identifier: MIT */
/*
 * test_call.c - building a call (common/call.c), as step delivery and the
 * back-check both do: DTM query parameters after an existing query string,
 * escaping, the header lines from branch_headers, the timeout and its cap,
 * and the text that describes an answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/call.h"
#include "common/config.h"
#include "common/mem.h"

static int setup(void **state)
{
    (void)state;
    mr_config_defaults(&mr_config);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mr_config_free(&mr_config);
    return 0;
}

/* url - build with the given base and gid, compare to @want. */
static void url(const char *base, const char *gid, const char *branch, const char *op,
                const char *want)
{
    struct mr_buf b = MR_BUF_INIT(4096);

    assert_int_equal(mr_call_url(&b, base, gid, branch, op), 0);
    assert_string_equal(b.p, want);
    mr_buf_release(&b);
}

static void test_call_url_plain(void **state)
{
    (void)state;
    url("http://app/qp", "g1", "00", "msg",
        "http://app/qp?gid=g1&trans_type=msg&branch_id=00&op=msg");
    url("https://app:8081/api/busi/TransIn", "g1", "01", "action",
        "https://app:8081/api/busi/TransIn?gid=g1&trans_type=msg&branch_id=01&op=action");
}

static void test_call_url_existing_query_string(void **state)
{
    (void)state;
    url("http://app/qp?tenant=7", "g1", "00", "msg",
        "http://app/qp?tenant=7&gid=g1&trans_type=msg&branch_id=00&op=msg");
    url("http://app/qp?", "g1", "00", "msg",
        "http://app/qp?gid=g1&trans_type=msg&branch_id=00&op=msg");
    url("http://app/qp?a=1&", "g1", "00", "msg",
        "http://app/qp?a=1&gid=g1&trans_type=msg&branch_id=00&op=msg");
}

static void test_call_url_fragment_stays_last(void **state)
{
    (void)state;
    url("http://app/qp#frag", "g1", "00", "msg",
        "http://app/qp?gid=g1&trans_type=msg&branch_id=00&op=msg#frag");
    url("http://app/qp?x=1#f?g", "g1", "00", "msg",
        "http://app/qp?x=1&gid=g1&trans_type=msg&branch_id=00&op=msg#f?g");
}

static void test_call_url_escapes_values(void **state)
{
    (void)state;
    url("http://app/qp", "a b&c=d/e?f#g%", "01-02", "action",
        "http://app/qp?gid=a%20b%26c%3Dd%2Fe%3Ff%23g%25&trans_type=msg&branch_id=01-02"
        "&op=action");
    url("http://app/qp", "\xc3\xa9t\xc3\xa9+1", "00", "msg",
        "http://app/qp?gid=%C3%A9t%C3%A9%2B1&trans_type=msg&branch_id=00&op=msg");
    url("http://app/qp", "Az09-._~", "00", "msg",
        "http://app/qp?gid=Az09-._~&trans_type=msg&branch_id=00&op=msg");
}

static void test_call_url_too_long(void **state)
{
    struct mr_buf b = MR_BUF_INIT(40);

    (void)state;
    assert_int_equal(mr_call_url(&b, "http://app/qp", "g1", "00", "msg"), MR_ETOOBIG);
    mr_buf_release(&b);
}

/* headers - build from @bh and join the lines with '|' into @out. */
static int headers(const char *bh, struct mr_buf *out)
{
    struct mr_call c;
    struct mr_err err = MR_ERR_INIT;
    size_t i;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = mr_call_headers(&c, bh, &err);
    for (i = 0; i < c.nheaders; i++) {
        if (i > 0)
            mr_buf_addc(out, '|');
        mr_buf_adds(out, c.headers[i]);
    }
    mr_call_release(&c);
    return rc;
}

static void test_call_headers_default_and_branch_headers(void **state)
{
    struct mr_buf b = MR_BUF_INIT(4096);

    (void)state;
    assert_int_equal(headers(NULL, &b), 0);
    assert_string_equal(b.p, "Content-Type: application/json|Expect:");
    mr_buf_reset(&b);
    assert_int_equal(headers("", &b), 0);
    assert_string_equal(b.p, "Content-Type: application/json|Expect:");
    mr_buf_reset(&b);
    assert_int_equal(headers("null", &b), 0);
    assert_string_equal(b.p, "Content-Type: application/json|Expect:");
    mr_buf_reset(&b);
    assert_int_equal(headers("{\"X-Tenant\":\"7\",\"Authorization\":\"Bearer t\"}", &b), 0);
    assert_string_equal(b.p, "Content-Type: application/json|X-Tenant: 7|"
                             "Authorization: Bearer t|Expect:");
    mr_buf_reset(&b);
    /* an empty value goes as "Name;", libcurl's way to send it empty */
    assert_int_equal(headers("{\"X-Empty\":\"\"}", &b), 0);
    assert_string_equal(b.p, "Content-Type: application/json|X-Empty;|Expect:");
    mr_buf_release(&b);
}

static void test_call_headers_content_type_overridden(void **state)
{
    struct mr_buf b = MR_BUF_INIT(4096);

    (void)state;
    assert_int_equal(headers("{\"content-type\":\"text/plain\"}", &b), 0);
    assert_string_equal(b.p, "content-type: text/plain|Expect:");
    mr_buf_release(&b);
}

static void test_call_headers_rejects_bad_branch_headers(void **state)
{
    struct mr_call c;
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(mr_call_headers(&c, "{", &err), MR_EINVAL);
    assert_int_equal(c.nheaders, 0);
    assert_non_null(strstr(err.msg, "branch_headers"));
    assert_int_equal(mr_call_headers(&c, "[1]", NULL), MR_EINVAL);
    assert_int_equal(mr_call_headers(&c, "{\"a\":1}", NULL), MR_EINVAL);
    assert_int_equal(mr_call_headers(&c, "{\"a\":\"x\\r\\nEvil: 1\"}", NULL), MR_EINVAL);
    assert_int_equal(mr_call_headers(&c, "{\"a:b\":\"x\"}", NULL), MR_EINVAL);
    assert_int_equal(mr_call_headers(&c, "{\"\":\"x\"}", NULL), MR_EINVAL);
    /* nothing was added by any of them */
    assert_int_equal(c.nheaders, 0);
    mr_call_release(&c);
}

static void test_call_build_step(void **state)
{
    struct mr_msg *m = mr_msg_new(0);
    struct mr_call c;
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    m->gid = mr_xstrdup("g 1");
    m->branch_headers = mr_xstrdup("{\"X-A\":\"b\"}");
    m->request_timeout = 7;
    assert_int_equal(mr_call_build(&c, "http://app/s?x=1", m, "01", "action", &err), 0);
    assert_string_equal(c.url.p,
                        "http://app/s?x=1&gid=g%201&trans_type=msg&branch_id=01&op=action");
    assert_int_equal(c.nheaders, 3);
    assert_string_equal(c.headers[0], "Content-Type: application/json");
    assert_string_equal(c.headers[1], "X-A: b");
    assert_string_equal(c.headers[2], "Expect:");
    assert_int_equal(c.timeout_ms, 7000);
    mr_call_release(&c);
    mr_call_release(&c); /* twice is harmless */

    /* bad branch_headers: an error and nothing to free */
    free(m->branch_headers);
    m->branch_headers = mr_xstrdup("{");
    assert_int_equal(mr_call_build(&c, "http://app/s", m, "01", "action", &err), MR_EINVAL);
    assert_null(c.headers);
    mr_msg_free(m);
}

static void test_call_timeouts(void **state)
{
    struct mr_msg m;

    (void)state;
    memset(&m, 0, sizeof(m));
    assert_int_equal(mr_call_timeout_ms(&m), 3000);
    m.request_timeout = 12;
    assert_int_equal(mr_call_timeout_ms(&m), 12000);
    mr_config.request_timeout = 0;
    m.request_timeout = 0;
    assert_int_equal(mr_call_timeout_ms(&m), 1000);
}

static void test_call_text_transport_error_and_status(void **state)
{
    struct mr_buf b = MR_BUF_INIT(4096);

    (void)state;
    mr_call_text(&b, "step 01", 0, "Connection refused", NULL, 0);
    assert_string_equal(b.p, "step 01: Connection refused");
    mr_call_text(&b, "query_prepared", 500, "", NULL, 0);
    assert_string_equal(b.p, "query_prepared: HTTP 500");
    mr_call_text(&b, "query_prepared", 409, "", "{\"dtm_result\":\"FAILURE\"}", 24);
    assert_string_equal(b.p, "query_prepared: HTTP 409: {\"dtm_result\":\"FAILURE\"}");
    mr_buf_release(&b);
}

static void test_call_text_cleans_the_body(void **state)
{
    struct mr_buf b = MR_BUF_INIT(4096);
    char big[300];

    (void)state;
    /* control bytes become spaces, broken UTF-8 '?', valid UTF-8 stays */
    mr_call_text(&b, "s", 500, "", "a\nb\x7f\xc3\xa9\xff", 7);
    assert_string_equal(b.p, "s: HTTP 500: a b \xc3\xa9?");
    /* at most 200 bytes of the body; a sequence cut by the limit becomes '?' */
    memset(big, 'x', sizeof(big));
    big[199] = '\xc3';
    big[200] = '\xa9';
    mr_call_text(&b, "s", 500, "", big, sizeof(big));
    assert_int_equal(b.len, strlen("s: HTTP 500: ") + 200);
    assert_int_equal(b.p[b.len - 1], '?');
    mr_buf_release(&b);
}

/* A message's request_timeout (up to 366 days) is cut at --max-request-timeout. */
static void test_call_timeout_capped_at_max_request_timeout(void **state)
{
    struct mr_msg m;

    (void)state;
    memset(&m, 0, sizeof(m));
    mr_config.request_timeout = 3;
    mr_config.max_request_timeout = 20;
    assert_int_equal(mr_call_timeout_ms(&m), 3000);
    m.request_timeout = 31622400;
    assert_int_equal(mr_call_timeout_ms(&m), 20000);
    m.request_timeout = 7;
    assert_int_equal(mr_call_timeout_ms(&m), 7000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_url_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_url_existing_query_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_url_fragment_stays_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_url_escapes_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_url_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_headers_default_and_branch_headers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_call_headers_content_type_overridden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_headers_rejects_bad_branch_headers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_call_build_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_timeout_capped_at_max_request_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_call_text_transport_error_and_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_text_cleans_the_body, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
