/* SPDX-License-Identifier: MIT */
/*
 * test_parse.c - request parsing and validation (prepare/prepare_parse.c) and
 * the envelope writer (prepare/prepare_reply.c): every bad body is refused with
 * "<field>: <problem>", every good one yields the message it describes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/mem.h"
#include "prepare/prepare_int.h"

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

/* refused - parse @body, expect MR_EINVAL with a message starting "<field>: ". */
static void refused(const char *body, const char *field)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;
    size_t n = strlen(field);

    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), MR_EINVAL);
    assert_null(m);
    if (strncmp(err.msg, field, n) != 0 || strncmp(err.msg + n, ": ", 2) != 0)
        fail_msg("body %s: expected field '%s', got '%s'", body, field, err.msg);
}

#define STEPS "\"steps\":[{\"action\":\"http://a/x\"}],\"payloads\":[\"{}\"]"

static void test_parse_accepts_go_client_body(void **state)
{
    const char *body =
        "{\"gid\":\"g1\",\"trans_type\":\"msg\",\"concurrent\":false,"
        "\"steps\":[{\"action\":\"http://busi/TransOut\"},{\"action\":\"https://busi/"
        "TransIn?x=1\"}],"
        "\"payloads\":[\"{\\\"amount\\\":30}\",\"{\\\"amount\\\":30}\"],"
        "\"query_prepared\":\"http://busi/QueryPrepared\",\"protocol\":\"\","
        "\"custom_data\":\"{\\\"delay\\\":7}\",\"timeout_to_fail\":9,\"retry_interval\":2,"
        "\"request_timeout\":4,\"wait_result\":true,\"branch_headers\":{\"X-Trace\":\"t1\"}}";
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), 0);
    assert_string_equal(m->gid, "g1");
    assert_int_equal(m->nsteps, 2);
    assert_string_equal(m->steps[0].branch_id, "01");
    assert_string_equal(m->steps[1].branch_id, "02");
    assert_string_equal(m->steps[1].url, "https://busi/TransIn?x=1");
    assert_string_equal(m->steps[0].payload, "{\"amount\":30}");
    assert_int_equal(m->steps[0].payload_len, 13);
    assert_string_equal(m->query_prepared, "http://busi/QueryPrepared");
    assert_string_equal(m->protocol, "http");
    assert_int_equal(m->delay, 7);
    assert_int_equal(m->timeout_to_fail, 9);
    assert_int_equal(m->retry_interval, 2);
    assert_int_equal(m->request_timeout, 4);
    assert_true(m->wait_result);
    assert_false(m->concurrent);
    assert_string_equal(m->branch_headers, "{\"X-Trace\":\"t1\"}");
    mr_msg_free(m);
}

static void test_parse_ignores_extra_and_null_fields(void **state)
{
    const char *body = "{\"gid\":\"g-2_x.y:z@w\",\"trans_type\":\"msg\"," STEPS
                       ",\"custom_data\":null,\"protocol\":null,\"retry_limit\":3,"
                       "\"owner\":\"x\",\"req_extra\":{\"a\":1},\"branch_headers\":null}";
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), 0);
    assert_string_equal(m->custom_data, "");
    assert_string_equal(m->branch_headers, "");
    assert_int_equal(m->delay, 0);
    mr_msg_free(m);
}

static void test_parse_rejects_unparsable_json(void **state)
{
    (void)state;
    refused("{\"gid\":", "body");
    refused("[1,2]", "body");
    refused("", "body");
}

static void test_parse_rejects_bad_gid(void **state)
{
    char body[512];
    char gid[130];

    (void)state;
    refused("{\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"a\\nb\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"a\\rb\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"a\\tb\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"a\\u0085b\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"a\\u007fb\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"a;b\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":7,\"trans_type\":\"msg\"," STEPS "}", "gid");
    memset(gid, 'a', 129);
    gid[129] = '\0';
    snprintf(body, sizeof(body), "{\"gid\":\"%s\",\"trans_type\":\"msg\"," STEPS "}", gid);
    refused(body, "gid");
}

static void test_parse_rejects_wrong_trans_type(void **state)
{
    (void)state;
    refused("{\"gid\":\"g\",\"trans_type\":\"saga\"," STEPS "}", "trans_type");
    refused("{\"gid\":\"g\"," STEPS "}", "trans_type");
}

/* parsed - parse @body, expecting success. Owned result: mr_msg_free(). */
static struct mr_msg *parsed(const char *body)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    if (mr_parse_msg(body, strlen(body), false, &m, &err) != 0)
        fail_msg("body %s refused: %s", body, err.msg);
    return m;
}

static void test_parse_takes_dtm_legacy_data_and_empty_actions(void **state)
{
    struct mr_msg *m;

    (void)state;
    /* steps[].data after the payloads, in step order, empty ones skipped; cut to the steps */
    m = parsed("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"},"
               "{\"action\":\"http://b\",\"data\":\"\"},{\"action\":\"http://c\",\"data\":\"D\"}],"
               "\"payloads\":[\"P1\",\"P2\"]}");
    assert_int_equal(m->nsteps, 3);
    assert_string_equal(m->steps[0].payload, "P1");
    assert_string_equal(m->steps[1].payload, "P2");
    assert_string_equal(m->steps[2].payload, "D");
    mr_msg_free(m);
    m = parsed("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\","
               "\"data\":\"D1\"}],\"payloads\":[\"P1\"]}");
    assert_int_equal(m->nsteps, 1);
    assert_string_equal(m->steps[0].payload, "P1");
    mr_msg_free(m);
    /* an empty, null or missing action: a step without a call */
    m = parsed("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"\"},{\"action\":null},"
               "{}],\"payloads\":[\"a\",\"b\",\"c\"]}");
    assert_int_equal(m->nsteps, 3);
    assert_string_equal(m->steps[0].url, "");
    assert_string_equal(m->steps[2].url, "");
    assert_string_equal(m->steps[2].branch_id, "03");
    mr_msg_free(m);
}

static void test_parse_rejects_bad_steps(void **state)
{
    (void)state;
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"}", "steps");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[],\"payloads\":[]}", "steps");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"}],"
            "\"payloads\":[]}",
            "payloads");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"}]}",
            "payloads");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"ftp://a\"}],"
            "\"payloads\":[\"\"]}",
            "steps[0].action");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"},"
            "{\"action\":5}],\"payloads\":[\"\",\"\"]}",
            "steps[1].action");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\",\"data\":5}]}",
            "steps[0].data");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"}],"
            "\"payloads\":[5]}",
            "payloads[0]");
}

static void test_parse_rejects_too_many_steps_and_long_urls(void **state)
{
    char body[4096];
    char url[2100];

    (void)state;
    mr_config.max_steps = 2;
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"},"
            "{\"action\":\"http://a\"},{\"action\":\"http://a\"}],\"payloads\":[\"\",\"\",\"\"]}",
            "steps");
    mr_config.max_steps = 100;
    memset(url, 'x', sizeof(url) - 1);
    memcpy(url, "http://", 7);
    url[sizeof(url) - 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"%s\"}],"
             "\"payloads\":[\"\"]}",
             url);
    refused(body, "steps[0].action");
}

static void test_parse_rejects_bad_options(void **state)
{
    (void)state;
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"timeout_to_fail\":-1}",
            "timeout_to_fail");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"retry_interval\":\"5\"}",
            "retry_interval");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"query_prepared\":\"ftp://x\"}",
            "query_prepared");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"branch_headers\":[1]}",
            "branch_headers");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"branch_headers\":{\"a\":1}}",
            "branch_headers");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS
            ",\"branch_headers\":{\"a\":\"x\\r\\ny: z\"}}",
            "branch_headers");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"custom_data\":\"nope\"}",
            "custom_data");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"protocol\":\"grpc\"}", "protocol");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"concurrent\":1}", "concurrent");
}

static void test_parse_keeps_nul_in_payload_but_not_elsewhere(void **state)
{
    const char *body =
        "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a/x\"}],"
        "\"payloads\":[\"a\\u0000b\"]}";
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), 0);
    assert_int_equal(m->steps[0].payload_len, 3);
    assert_memory_equal(m->steps[0].payload, "a\0b", 3);
    mr_msg_free(m);
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a/\\u0000x\"}],"
            "\"payloads\":[\"\"]}",
            "steps[0].action");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS
            ",\"query_prepared\":\"http://q/\\u0000\"}",
            "query_prepared");
    refused("{\"gid\":\"g\\u0000h\",\"trans_type\":\"msg\"," STEPS "}", "gid");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\\u0000\"," STEPS "}", "trans_type");
}

static void test_parse_rejects_body_over_limit(void **state)
{
    (void)state;
    mr_config.max_body = 16;
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS "}", "body");
    mr_config.max_body = 1 << 20;
}

static void test_parse_submit_may_leave_out_steps(void **state)
{
    const char *body = "{\"gid\":\"g\",\"trans_type\":\"msg\"}";
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    assert_int_equal(mr_parse_msg(body, strlen(body), true, &m, &err), 0);
    assert_int_equal(m->nsteps, 0);
    mr_msg_free(m);
    m = NULL;
    body = "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[]}";
    assert_int_equal(mr_parse_msg(body, strlen(body), true, &m, &err), MR_EINVAL);
    assert_null(m);
}

/* ordering_key: top level or in custom_data, agreeing; bounded, no control characters. */
static void test_parse_ordering_key(void **state)
{
    struct mr_msg *m;
    char body[512];
    char key[130];

    (void)state;
    m = parsed("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"ordering_key\":\"acct-1\"}");
    assert_string_equal(m->ordering_key, "acct-1");
    mr_msg_free(m);
    m = parsed("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS
               ",\"custom_data\":\"{\\\"Ordering_Key\\\":\\\"a\\\",\\\"delay\\\":3}\"}");
    assert_string_equal(m->ordering_key, "a");
    assert_int_equal(m->delay, 3);
    mr_msg_free(m);
    m = parsed("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"ordering_key\":null}");
    assert_string_equal(m->ordering_key, "");
    mr_msg_free(m);
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"ordering_key\":1}", "ordering_key");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"ordering_key\":\"a\\u0001\"}",
            "ordering_key");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"ordering_key\":\"a\",\"custom_data\":"
            "\"{\\\"ordering_key\\\":\\\"b\\\"}\"}",
            "ordering_key");
    refused("{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS ",\"custom_data\":"
            "\"{\\\"ordering_key\\\":[]}\"}",
            "custom_data");
    memset(key, 'k', 129);
    key[129] = '\0';
    snprintf(body, sizeof(body), "{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS
             ",\"ordering_key\":\"%s\"}", key);
    refused(body, "ordering_key");
    key[128] = '\0';
    snprintf(body, sizeof(body), "{\"gid\":\"g\",\"trans_type\":\"msg\"," STEPS
             ",\"ordering_key\":\"%s\"}", key);
    m = parsed(body);
    assert_int_equal(strlen(m->ordering_key), 128);
    mr_msg_free(m);
}

static void test_parse_gid_body(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    char *gid = NULL;

    (void)state;
    assert_int_equal(mr_parse_gid_body("{\"gid\":\"abc\"}", 13, &gid, &err), 0);
    assert_string_equal(gid, "abc");
    free(gid);
    gid = NULL;
    assert_int_equal(mr_parse_gid_body("{\"gid\":\"\"}", 10, &gid, &err), MR_EINVAL);
    assert_null(gid);
    assert_string_equal(err.msg, "gid: must not be empty");
}

static void test_envelope_shapes(void **state)
{
    struct mr_answer a = {0, NULL};

    (void)state;
    mr_reply_envelope(&a, 200, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"dtm_result\":\"SUCCESS\"}");
    mr_reply_envelope(&a, 409, "current status 'succeed', cannot prepare. FAILURE");
    assert_string_equal(a.body, "{\"dtm_result\":\"FAILURE\",\"message\":"
                                "\"current status 'succeed', cannot prepare. FAILURE\"}");
    mr_reply_envelope(&a, 500, "no gid specified");
    assert_string_equal(a.body, "{\"message\":\"no gid specified\"}");
    free(a.body);
}

/* kafka_body - a one-step body with action @url into @out. */
static void kafka_body(char *out, size_t size, const char *url)
{
    snprintf(out, size,
             "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"%s\"}],"
             "\"payloads\":[\"{}\"]}",
             url);
}

static void test_parse_refuses_kafka_without_brokers(void **state)
{
    char body[512];
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    assert_null(mr_config.kafka_brokers);
    kafka_body(body, sizeof(body), "kafka://orders");
    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), MR_EINVAL);
    assert_string_equal(err.msg,
                        "steps[0].action: kafka destinations are not configured on this relay");
}

static void test_parse_accepts_kafka_urls_when_brokers_are_set(void **state)
{
    static const char *const good[] = {
        "kafka://orders",
        "kafka://Orders.v2_x-y",
        "kafka://orders?key=k-1",
        "kafka://o?key=a:b/c?d=e",
    };
    char body[2048];
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;
    size_t i;

    (void)state;
    mr_config.kafka_brokers = mr_xstrdup("127.0.0.1:9092");
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        kafka_body(body, sizeof(body), good[i]);
        if (mr_parse_msg(body, strlen(body), false, &m, &err) != 0)
            fail_msg("%s refused: %s", good[i], err.msg);
        assert_string_equal(m->steps[0].url, good[i]);
        mr_msg_free(m);
        m = NULL;
    }
    free(mr_config.kafka_brokers);
    mr_config.kafka_brokers = NULL;
}

static void test_parse_rejects_bad_kafka_urls(void **state)
{
    static const char *const bad[] = {
        "kafka://",          "kafka://a b",       "kafka://a/b",     "kafka://.",
        "kafka://..",        "kafka://t?",        "kafka://t?k=1",   "kafka://t?key=",
        "kafka://t?key=a b", "kafka://t?key=a&b", "kafka://t?key=#", "kafka://?key=k",
    };
    char body[4096];
    char url[1200];
    size_t i;

    (void)state;
    mr_config.kafka_brokers = mr_xstrdup("127.0.0.1:9092");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kafka_body(body, sizeof(body), bad[i]);
        refused(body, "steps[0].action");
    }
    /* topic: 249 characters at most */
    memcpy(url, "kafka://", 8);
    memset(url + 8, 't', 249);
    url[8 + 249] = '\0';
    kafka_body(body, sizeof(body), url);
    {
        struct mr_err err = MR_ERR_INIT;
        struct mr_msg *m = NULL;

        assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), 0);
        mr_msg_free(m);
    }
    url[8 + 249] = 't';
    url[8 + 250] = '\0';
    kafka_body(body, sizeof(body), url);
    refused(body, "steps[0].action");
    /* key: 1024 bytes at most */
    memcpy(url, "kafka://t?key=", 14);
    memset(url + 14, 'k', 1025);
    url[14 + 1025] = '\0';
    kafka_body(body, sizeof(body), url);
    refused(body, "steps[0].action");
    free(mr_config.kafka_brokers);
    mr_config.kafka_brokers = NULL;
}

static void test_parse_keeps_topic_steps_for_the_writer(void **state)
{
    char body[512];
    char name[MR_TOPIC_NAME_MAX + 2];
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    kafka_body(body, sizeof(body), "topic://Orders.v2_x-y");
    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), 0);
    assert_string_equal(m->steps[0].url, "topic://Orders.v2_x-y");
    assert_string_equal(m->steps[0].branch_id, "01");
    mr_msg_free(m);

    kafka_body(body, sizeof(body), "topic://");
    refused(body, "steps[0].action: topic");
    kafka_body(body, sizeof(body), "topic://a/b");
    refused(body, "steps[0].action: topic");
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":"
             "\"topic://%s\"}],\"payloads\":[\"{}\"]}", name);
    refused(body, "steps[0].action: topic");
}

static void test_check_subscriber_url(void **state)
{
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    assert_int_equal(mr_check_subscriber_url("http://svc/in", &err), 0);
    assert_int_equal(mr_check_subscriber_url("https://svc/in?x=1", &err), 0);
    assert_int_equal(mr_check_subscriber_url("ftp://svc/in", &err), MR_EINVAL);
    assert_int_equal(mr_check_subscriber_url("topic://t", &err), MR_EINVAL);
    assert_int_equal(mr_check_subscriber_url("http://svc/\xc3\xa9", &err), MR_EINVAL);
    assert_int_equal(mr_check_subscriber_url("kafka://orders", &err), MR_EINVAL);
    assert_string_equal(err.msg, "url: kafka destinations are not configured on this relay");
    mr_config.kafka_brokers = mr_xstrdup("127.0.0.1:9092");
    assert_int_equal(mr_check_subscriber_url("kafka://orders?key=k", &err), 0);
    assert_int_equal(mr_check_subscriber_url("kafka://a b", &err), MR_EINVAL);
    free(mr_config.kafka_brokers);
    mr_config.kafka_brokers = NULL;
}

/* A message quoting bytes of a bad body keeps its text; what is not UTF-8 becomes '?'. */
static void test_envelope_keeps_a_message_that_is_not_utf8(void **state)
{
    const char *body = "{\"gid\":\"g\",\"custom_data\":\"{\\\xd6\x9b}\"}";
    struct mr_answer a = {0, NULL};
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    (void)state;
    mr_reply_envelope(&a, 400,
                      "body: near '\xd6' and '\xc3\xa9' and '\xed\xa0\x80' and '\xe2\x82'");
    assert_string_equal(a.body, "{\"dtm_result\":\"FAILURE\",\"message\":"
                                "\"body: near '?' and '\xc3\xa9' and '?\?\?' and '?\?'\"}");
    /* jansson quotes the byte after the bad escape: half a character */
    assert_int_equal(mr_parse_msg(body, strlen(body), false, &m, &err), MR_EINVAL);
    mr_reply_envelope(&a, 400, err.msg);
    assert_non_null(strstr(a.body, "\"message\":\"body: not valid JSON: invalid escape"));
    free(a.body);
}

/* http(s) URLs that libcurl cannot call: refused at the door, not at every delivery. */
static void test_parse_refuses_urls_libcurl_cannot_call(void **state)
{
    static const char *const bad[] = {"http://h:99999/p", "http://h:ab/p", "http://[::1/p",
                                      "http://:80/p", NULL};
    struct mr_err err = MR_ERR_INIT;
    char body[512];
    size_t i;

    (void)state;
    for (i = 0; bad[i] != NULL; i++) {
        snprintf(body, sizeof(body),
                 "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"%s\"}],"
                 "\"payloads\":[\"\"]}",
                 bad[i]);
        refused(body, "steps[0].action");
        snprintf(body, sizeof(body),
                 "{\"gid\":\"g\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"http://a\"}],"
                 "\"payloads\":[\"\"],\"query_prepared\":\"%s\"}",
                 bad[i]);
        refused(body, "query_prepared");
        assert_int_equal(mr_check_subscriber_url(bad[i], &err), MR_EINVAL);
    }
    /* what libcurl takes stays accepted: ports, userinfo, IPv6 literals */
    assert_int_equal(mr_check_subscriber_url("http://u:p@[::1]:8080/p?q=1#f", &err), 0);
    assert_int_equal(mr_check_subscriber_url("https://h:443", &err), 0);
}

static void test_render_query_unknown(void **state)
{
    json_t *j = mr_render_query(NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

    (void)state;
    assert_string_equal(s, "{\"branches\":[],\"transaction\":null}");
    free(s);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_go_client_body),
        cmocka_unit_test(test_parse_ordering_key),
        cmocka_unit_test(test_parse_ignores_extra_and_null_fields),
        cmocka_unit_test(test_parse_rejects_unparsable_json),
        cmocka_unit_test(test_parse_rejects_bad_gid),
        cmocka_unit_test(test_parse_rejects_wrong_trans_type),
        cmocka_unit_test(test_parse_rejects_bad_steps),
        cmocka_unit_test(test_parse_takes_dtm_legacy_data_and_empty_actions),
        cmocka_unit_test(test_parse_rejects_too_many_steps_and_long_urls),
        cmocka_unit_test(test_parse_rejects_bad_options),
        cmocka_unit_test(test_parse_keeps_nul_in_payload_but_not_elsewhere),
        cmocka_unit_test(test_parse_rejects_body_over_limit),
        cmocka_unit_test(test_parse_submit_may_leave_out_steps),
        cmocka_unit_test(test_parse_gid_body),
        cmocka_unit_test(test_envelope_shapes),
        cmocka_unit_test(test_render_query_unknown),
        cmocka_unit_test(test_parse_refuses_kafka_without_brokers),
        cmocka_unit_test(test_parse_accepts_kafka_urls_when_brokers_are_set),
        cmocka_unit_test(test_parse_rejects_bad_kafka_urls),
        cmocka_unit_test(test_parse_keeps_topic_steps_for_the_writer),
        cmocka_unit_test(test_check_subscriber_url),
        cmocka_unit_test(test_parse_refuses_urls_libcurl_cannot_call),
        cmocka_unit_test(test_envelope_keeps_a_message_that_is_not_utf8),
    };

    return cmocka_run_group_tests_name("prepare_parse", tests, setup, teardown);
}
