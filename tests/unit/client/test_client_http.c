/* SPDX-License-Identifier: MIT */
/*
 * test_client_http.c - the pure pieces of how the producer SDK talks HTTP
 * (client/client_http.c): the URLs it calls, the DTM bodies it sends for
 * prepare / submit / abort, the headers, how an answer is classified through
 * the one classifier and how the server's message is quoted back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_int.h"
#include "common/err.h"

/* new_msg - a message on "http://r:36789/api/dtmsvr" with gid @gid. */
static struct mr_client_msg *new_msg(const char *gid)
{
    struct mr_client_msg *m = NULL;

    assert_int_equal(mr_client_msg_new(&m, "http://r:36789/api/dtmsvr/", gid, NULL, 0),
                     MR_CLIENT_SUCCESS);
    return m;
}

/* body_of - the body of @call for @m, as an owned string. */
static char *body_of(const struct mr_client_msg *m, enum mr_client__call call)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);

    assert_int_equal(mr_client__body(m, call, &b), 0);
    return mr_buf_detach(&b, NULL);
}

static void test_client_route_url_joins_base_and_route(void **state)
{
    struct mr_client_msg *m = new_msg("g1");
    struct mr_buf b = MR_BUF_INIT(1024);

    (void)state;
    /* the trailing '/' of the server URL was dropped by mr_client_msg_new */
    assert_int_equal(mr_client__route_url(&b, m->server, "prepare"), 0);
    assert_string_equal(b.p, "http://r:36789/api/dtmsvr/prepare");
    mr_buf_release(&b);
    mr_client_msg_free(m);
}

static void test_client_backcheck_url_adds_dtm_params(void **state)
{
    struct mr_buf b = MR_BUF_INIT(4096);

    (void)state;
    assert_int_equal(mr_client__backcheck_url(&b, "http://app/qp", "http://r/api/dtmsvr", "g1"), 0);
    assert_string_equal(b.p, "http://app/qp?dtm=http%3A%2F%2Fr%2Fapi%2Fdtmsvr&gid=g1"
                             "&branch_id=00&trans_type=msg&op=msg");
    mr_buf_reset(&b);
    assert_int_equal(mr_client__backcheck_url(&b, "http://app/qp?t=7", "http://r", "g 1"), 0);
    assert_string_equal(b.p, "http://app/qp?t=7&dtm=http%3A%2F%2Fr&gid=g%201"
                             "&branch_id=00&trans_type=msg&op=msg");
    mr_buf_reset(&b);
    assert_int_equal(mr_client__backcheck_url(&b, "http://app/qp?", "http://r", "g"), 0);
    assert_string_equal(b.p, "http://app/qp?dtm=http%3A%2F%2Fr&gid=g"
                             "&branch_id=00&trans_type=msg&op=msg");
    mr_buf_reset(&b);
    assert_int_equal(mr_client__backcheck_url(&b, "http://app/qp", "http://r", "a/b#c+d&e=%?\xc3\xa9"),
                     0);
    assert_string_equal(b.p, "http://app/qp?dtm=http%3A%2F%2Fr&gid=a%2Fb%23c%2Bd%26e%3D%25%3F%C3%A9"
                             "&branch_id=00&trans_type=msg&op=msg");
    mr_buf_reset(&b);
    assert_int_equal(mr_client__backcheck_url(&b, "http://app/qp#f", "http://r", "g"), 0);
    assert_string_equal(b.p, "http://app/qp?dtm=http%3A%2F%2Fr&gid=g"
                             "&branch_id=00&trans_type=msg&op=msg#f");
    mr_buf_release(&b);
}

static void test_client_backcheck_url_respects_cap(void **state)
{
    struct mr_buf b = MR_BUF_INIT(20);

    (void)state;
    assert_int_equal(mr_client__backcheck_url(&b, "http://app/qp", "http://r", "g"), MR_ETOOBIG);
    mr_buf_release(&b);
}

static void test_client_body_minimal(void **state)
{
    struct mr_client_msg *m = new_msg("g1");
    char *s;

    (void)state;
    assert_int_equal(mr_client_msg_add(m, "http://b/TransIn", "{\"amount\":30}", NULL, 0), 0);
    s = body_of(m, MR_CLIENT__PREPARE);
    assert_string_equal(s, "{\"gid\":\"g1\",\"trans_type\":\"msg\","
                           "\"steps\":[{\"action\":\"http://b/TransIn\"}],"
                           "\"payloads\":[\"{\\\"amount\\\":30}\"],\"concurrent\":false}");
    free(s);
    mr_client_msg_free(m);
}

static void test_client_body_carries_every_option(void **state)
{
    struct mr_client_msg *m = new_msg("g2");
    char *s;

    (void)state;
    assert_int_equal(mr_client_msg_add(m, "http://b/a", "1", NULL, 0), 0);
    assert_int_equal(mr_client_msg_add(m, "kafka://orders?key=k", "\"x\"", NULL, 0), 0);
    assert_int_equal(mr_client_msg_add_header(m, "X-Trace", "t-1", NULL, 0), 0);
    mr_client_msg_set_timeout_to_fail(m, 7);
    mr_client_msg_set_retry_interval(m, 11);
    mr_client_msg_set_request_timeout(m, 3);
    mr_client_msg_set_concurrent(m, true);
    mr_client_msg_set_wait_result(m, true);
    mr_client_msg_set_delay(m, 5);
    m->query_prepared = strdup("http://a/qp");
    s = body_of(m, MR_CLIENT__PREPARE);
    assert_string_equal(
        s, "{\"gid\":\"g2\",\"trans_type\":\"msg\","
           "\"steps\":[{\"action\":\"http://b/a\"},{\"action\":\"kafka://orders?key=k\"}],"
           "\"payloads\":[\"1\",\"\\\"x\\\"\"],"
           "\"query_prepared\":\"http://a/qp\",\"concurrent\":true,"
           "\"wait_result\":true,\"timeout_to_fail\":7,\"retry_interval\":11,"
           "\"request_timeout\":3,\"branch_headers\":{\"X-Trace\":\"t-1\"}}");
    free(s);
    mr_client_msg_free(m);
}

static void test_client_body_delay_only_on_submit(void **state)
{
    struct mr_client_msg *m = new_msg("g3");
    char *s;

    (void)state;
    assert_int_equal(mr_client_msg_add(m, "topic://t", "{}", NULL, 0), 0);
    mr_client_msg_set_delay(m, 10);
    s = body_of(m, MR_CLIENT__SUBMIT);
    assert_non_null(strstr(s, ",\"custom_data\":\"{\\\"delay\\\":10}\"}"));
    free(s);
    s = body_of(m, MR_CLIENT__PREPARE);
    assert_null(strstr(s, "custom_data"));
    free(s);
    s = body_of(m, MR_CLIENT__ABORT);
    assert_null(strstr(s, "custom_data"));
    free(s);
    mr_client_msg_free(m);
}

static void test_client_body_escapes_strings(void **state)
{
    struct mr_client_msg *m = new_msg("g\"4");
    char *s;

    (void)state;
    assert_int_equal(mr_client_msg_add(m, "http://b/a", "line\nbreak", NULL, 0), 0);
    s = body_of(m, MR_CLIENT__SUBMIT);
    assert_non_null(strstr(s, "\"gid\":\"g\\\"4\""));
    assert_non_null(strstr(s, "\"payloads\":[\"line\\u000abreak\"]"));
    free(s);
    mr_client_msg_free(m);
}

static void test_client_classify_uses_the_one_classifier(void **state)
{
    (void)state;
    assert_int_equal(mr_client__classify(200, "{\"dtm_result\":\"SUCCESS\"}", 24),
                     MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client__classify(200, "", 0), MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client__classify(409, "", 0), MR_CLIENT_FAILURE);
    assert_int_equal(mr_client__classify(400, "{\"dtm_result\":\"FAILURE\"}", 24),
                     MR_CLIENT_FAILURE);
    assert_int_equal(mr_client__classify(200, "xx FAILURE", 10), MR_CLIENT_FAILURE);
    /* ongoing is no final word: retrying is safe */
    assert_int_equal(mr_client__classify(425, "", 0), MR_CLIENT_ERROR);
    assert_int_equal(mr_client__classify(500, "{\"message\":\"x\"}", 15), MR_CLIENT_ERROR);
    assert_int_equal(mr_client__classify(503, "", 0), MR_CLIENT_ERROR);
    assert_int_equal(mr_client__classify(0, NULL, 0), MR_CLIENT_ERROR);
}

/* described - what mr_client__describe says for an answer of @status and @body. */
static char *described(long status, const char *body, const char *error)
{
    struct mr_client_answer a;
    struct mr_buf out = MR_BUF_INIT(4096);

    mr_client__answer_init(&a);
    a.status = status;
    mr_buf_adds(&a.body, body);
    snprintf(a.error, sizeof(a.error), "%s", error);
    mr_client__describe("prepare", "http://r/prepare", &a, &out);
    mr_client__answer_release(&a);
    return mr_buf_detach(&out, NULL);
}

static void test_client_describe_quotes_the_server(void **state)
{
    char *s;

    (void)state;
    s = described(409, "{\"dtm_result\":\"FAILURE\",\"message\":\"current status 'failed'\"}", "");
    assert_string_equal(s, "prepare: HTTP 409: current status 'failed'");
    free(s);
    s = described(500, "{\"error\":\"db down\"}", "");
    assert_string_equal(s, "prepare: HTTP 500: db down");
    free(s);
    s = described(502, "bad\ngateway", "");
    assert_string_equal(s, "prepare: HTTP 502: bad gateway");
    free(s);
    s = described(503, "", "");
    assert_string_equal(s, "prepare: HTTP 503: (empty answer)");
    free(s);
    s = described(0, "", "Couldn't connect to server");
    assert_string_equal(s, "prepare: http://r/prepare: Couldn't connect to server");
    free(s);
    s = described(200, "{\"dtm_result\":\"SUCCESS\"}", "");
    assert_string_equal(s, "");
    free(s);
}

static void test_client_describe_shortens_long_bodies(void **state)
{
    char big[1000];
    char *s;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = described(500, big, "");
    assert_true(strlen(s) < 400);
    assert_non_null(strstr(s, "xxx..."));
    free(s);
}

static void test_client_headers_default_and_branch_headers(void **state)
{
    struct mr_client_msg *m = new_msg("g5");
    struct curl_slist *h;
    struct curl_slist *p;
    char joined[512] = "";

    (void)state;
    h = mr_client__headers(NULL);
    for (p = h; p != NULL; p = p->next) {
        strcat(joined, p->data);
        strcat(joined, "|");
    }
    assert_string_equal(joined, "Content-Type: application/json|Expect:|");
    curl_slist_free_all(h);

    assert_int_equal(mr_client_msg_add_header(m, "content-type", "text/plain", NULL, 0), 0);
    assert_int_equal(mr_client_msg_add_header(m, "X-Empty", "", NULL, 0), 0);
    h = mr_client__headers(m);
    joined[0] = '\0';
    for (p = h; p != NULL; p = p->next) {
        strcat(joined, p->data);
        strcat(joined, "|");
    }
    assert_string_equal(joined, "Expect:|content-type: text/plain|X-Empty;|");
    curl_slist_free_all(h);
    mr_client_msg_free(m);
}

static void test_client_traceparent_is_checked_and_sent_to_the_server(void **state)
{
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    struct mr_client_msg *m = new_msg("g6");
    struct curl_slist *h;
    struct curl_slist *p;
    char joined[512] = "";
    char err[256];

    (void)state;
    h = mr_client__add_trace(NULL, m);
    assert_null(h); /* none until set */
    assert_int_equal(mr_client_msg_set_traceparent(m, "00-0-0-01", NULL, err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_non_null(strstr(err, "traceparent"));
    assert_int_equal(mr_client_msg_set_traceparent(m, tp, "a=b\n", err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_set_traceparent(m, tp, "a=b", err, sizeof(err)),
                     MR_CLIENT_SUCCESS);
    h = mr_client__add_trace(NULL, m);
    for (p = h; p != NULL; p = p->next) {
        strcat(joined, p->data);
        strcat(joined, "|");
    }
    assert_string_equal(joined, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
                                "00f067aa0ba902b7-01|tracestate: a=b|");
    curl_slist_free_all(h);
    assert_int_equal(mr_client_msg_set_traceparent(m, NULL, NULL, err, sizeof(err)),
                     MR_CLIENT_SUCCESS);
    assert_null(mr_client__add_trace(NULL, m));
    mr_client_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_route_url_joins_base_and_route),
        cmocka_unit_test(test_client_backcheck_url_adds_dtm_params),
        cmocka_unit_test(test_client_backcheck_url_respects_cap),
        cmocka_unit_test(test_client_body_minimal),
        cmocka_unit_test(test_client_body_carries_every_option),
        cmocka_unit_test(test_client_body_delay_only_on_submit),
        cmocka_unit_test(test_client_body_escapes_strings),
        cmocka_unit_test(test_client_classify_uses_the_one_classifier),
        cmocka_unit_test(test_client_describe_quotes_the_server),
        cmocka_unit_test(test_client_describe_shortens_long_bodies),
        cmocka_unit_test(test_client_headers_default_and_branch_headers),
        cmocka_unit_test(test_client_traceparent_is_checked_and_sent_to_the_server),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
