/* SPDX-License-Identifier: MIT */
/*
 * fuzz_parse.c - fuzz target for the request parser (prepare/prepare_parse.c):
 * a prepare or submit body (mr_parse_msg) and an abort/forceStop/reset body
 * (mr_parse_gid_body), as the intake calls them, and what the intake then does
 * with the result: the 400 envelope of a refusal (prepare_reply.c), or for an
 * accepted message the query answer, the headers and URLs of its calls
 * (query/query.c, as the relay builds them) and its kafka:// steps.
 *
 * Input: the body, any bytes.
 *
 * Each body is parsed four times: with tight limits (--max-body 4096,
 * --max-gid-len 24, --max-steps 4, --max-url-len 128) without and with
 * --kafka-brokers, with steps optional (submit), and with the default limits.
 *
 * Invariants: a refusal is MR_EINVAL, leaves *out NULL, and has a message
 * "<field>: <problem>" naming a field of the body, which the envelope writer
 * carries whole into {"dtm_result":"FAILURE","message":…}. An accepted message
 * respects the limits it was parsed under (gid, number of steps, URL lengths
 * and schemes, payload lengths, seconds, custom_data, branch_headers), and the
 * rest of msgrelay can use it: its headers and call URLs build, its kafka://
 * steps parse, its query answer renders with its gid and payloads. Looser
 * settings never refuse what tighter ones accept, and give the same message.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/call.h"
#include "common/config.h"
#include "common/kafka_url.h"
#include "prepare/prepare.h"
#include "prepare/prepare_int.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SECONDS (366 * 24 * 3600)

/* The settings a parse runs under. */
struct setting {
    size_t max_body;
    int max_gid_len;
    int max_steps;
    int max_url_len;
    bool kafka;
};

static const struct setting tight = {4096, 24, 4, 128, false};
static const struct setting tight_kafka = {4096, 24, 4, 128, true};
static const struct setting loose = {1 << 20, 128, 100, 2048, true};

static void apply(const struct setting *s)
{
    mr_config.max_body = s->max_body;
    mr_config.max_gid_len = s->max_gid_len;
    mr_config.max_steps = s->max_steps;
    mr_config.max_url_len = s->max_url_len;
    free(mr_config.kafka_brokers);
    mr_config.kafka_brokers = s->kafka ? strdup("127.0.0.1:9") : NULL;
}

/* The fields a refusal may name ("steps[N]…" and "payloads[N]" checked apart). */
static const char *const fields[] = {"body",
                                     "gid",
                                     "trans_type",
                                     "steps",
                                     "payloads",
                                     "query_prepared",
                                     "protocol",
                                     "custom_data",
                                     "wait_result",
                                     "concurrent",
                                     "timeout_to_fail",
                                     "retry_interval",
                                     "request_timeout",
                                     "branch_headers",
                                     NULL};

/* names_field - whether @msg starts with "<field>: " for a known field. */
static bool names_field(const char *msg)
{
    const char *colon = strstr(msg, ": ");
    size_t n = colon != NULL ? (size_t)(colon - msg) : 0;
    size_t i;

    if (colon == NULL)
        return false;
    for (i = 0; fields[i] != NULL; i++) {
        if (strlen(fields[i]) == n && strncmp(msg, fields[i], n) == 0)
            return true;
    }
    /* steps[N], steps[N].action, steps[N].data, payloads[N] */
    for (i = 0; i < 2; i++) {
        const char *pre = i == 0 ? "steps[" : "payloads[";
        const char *p = msg + strlen(pre);

        if (strncmp(msg, pre, strlen(pre)) != 0 || !isdigit((unsigned char)*p))
            continue;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == ']' &&
            (p + 1 == colon || (i == 0 && strncmp(p + 1, ".action", 7) == 0 && p + 8 == colon) ||
             (i == 0 && strncmp(p + 1, ".data", 5) == 0 && p + 6 == colon)))
            return true;
    }
    return false;
}

/* check_refusal - what the intake answers for a refused body. */
static void check_refusal(int rc, const struct mr_err *err)
{
    struct mr_answer a = {0, NULL};
    json_t *j;
    json_t *msg;

    FUZZ_CHECK(rc == MR_EINVAL && err->code == MR_EINVAL, "refused with %d (err %d)", rc,
               err->code);
    FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL, "message not terminated");
    FUZZ_CHECK(names_field(err->msg), "'%s' does not name a field", err->msg);

    mr_reply_envelope(&a, 400, err->msg);
    FUZZ_CHECK(a.status == 400 && a.body != NULL, "no envelope for '%s'", err->msg);
    j = json_loads(a.body, 0, NULL);
    FUZZ_CHECK(j != NULL, "envelope is not JSON: %s", a.body);
    FUZZ_CHECK(json_is_string(json_object_get(j, "dtm_result")) &&
                   strcmp(json_string_value(json_object_get(j, "dtm_result")), "FAILURE") == 0,
               "envelope without FAILURE: %s", a.body);
    msg = json_object_get(j, "message");
    FUZZ_CHECK(json_is_string(msg), "envelope lost the message '%s': %s", err->msg, a.body);
    FUZZ_CHECK(strncmp(json_string_value(msg), err->msg, strcspn(err->msg, ":")) == 0,
               "envelope message '%s' does not start with the field of '%s'",
               json_string_value(msg), err->msg);
    json_decref(j);
    free(a.body);
}

/* no_ctl - whether @s holds no byte <= ' ' or DEL. */
static bool no_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    }
    return true;
}

static bool is_http(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* check_call_url - the relay can build the URL it calls for @base. */
static void check_call_url(const struct mr_msg *m, const char *base, const char *branch_id)
{
    struct mr_buf url = MR_BUF_INIT(64 * 1024); /* query.c's cap */

    FUZZ_CHECK(mr_call_url(&url, base, m->gid, branch_id, "action") == 0,
               "cannot build the call URL of '%s'", base);
    mr_buf_release(&url);
}

/* check_headers - branch_headers is "" or an object the relay turns into safe header lines. */
static void check_headers(const struct mr_msg *m)
{
    struct mr_call call = {0};
    struct mr_err err = MR_ERR_INIT;
    size_t i;
    json_t *h;
    const char *key;
    json_t *val;
    int rc;

    FUZZ_CHECK(m->branch_headers != NULL, "branch_headers NULL");
    if (m->branch_headers[0] != '\0') {
        h = json_loads(m->branch_headers, 0, NULL);
        FUZZ_CHECK(json_is_object(h) && json_object_size(h) >= 1 && json_object_size(h) <= 64,
                   "branch_headers '%s'", m->branch_headers);
        json_object_foreach(h, key, val)
        {
            FUZZ_CHECK(key[0] != '\0' && strlen(key) <= 256, "header name length %zu", strlen(key));
            FUZZ_CHECK(json_is_string(val) && json_string_length(val) <= 4096, "header '%s' value",
                       key);
        }
        json_decref(h);
    }
    rc = mr_call_headers(&call, m->branch_headers, &err);
    FUZZ_CHECK(rc == 0, "accepted branch_headers '%s' cannot be sent: %s", m->branch_headers,
               err.msg);
    for (i = 0; i < call.nheaders; i++) {
        const char *line = call.headers[i];

        FUZZ_CHECK(strpbrk(line, "\r\n") == NULL, "header line with CR/LF");
        /* no framing, hop-by-hop or routing header ever reaches the wire */
        FUZZ_CHECK(strncasecmp(line, "content-length", 14) != 0 &&
                       strncasecmp(line, "transfer-encoding", 17) != 0 &&
                       strncasecmp(line, "host:", 5) != 0 && strncasecmp(line, "host;", 5) != 0 &&
                       strncasecmp(line, "connection", 10) != 0 &&
                       strncasecmp(line, "proxy-", 6) != 0,
                   "framing or hop-by-hop header built: %s", line);
    }
    mr_call_release(&call);
}

/* check_render - the query answer for @m renders, with its gid and payloads. */
static void check_render(const struct mr_msg *m)
{
    char *text = mr_prepare_query_text(m, false);
    json_t *j;
    json_t *t;
    json_t *payloads;
    size_t i;

    FUZZ_CHECK(text != NULL, "no query answer for '%s'", m->gid);
    j = json_loads(text, JSON_ALLOW_NUL, NULL);
    FUZZ_CHECK(j != NULL, "query answer is not JSON: %s", text);
    t = json_object_get(j, "transaction");
    FUZZ_CHECK(json_is_string(json_object_get(t, "gid")) &&
                   strcmp(json_string_value(json_object_get(t, "gid")), m->gid) == 0,
               "query answer lost the gid: %s", text);
    payloads = json_object_get(t, "payloads");
    FUZZ_CHECK(m->nsteps == 0 || json_array_size(payloads) == m->nsteps,
               "query answer has %zu payloads for %zu steps", json_array_size(payloads), m->nsteps);
    for (i = 0; i < m->nsteps; i++) {
        json_t *p = json_array_get(payloads, i);

        FUZZ_CHECK(json_is_string(p) && json_string_length(p) == m->steps[i].payload_len &&
                       memcmp(json_string_value(p), m->steps[i].payload, m->steps[i].payload_len) ==
                           0,
                   "payload %zu changed in the query answer", i);
    }
    json_decref(j);
    free(text);
}

/* check_msg - @m, accepted under @s, respects it and can be used. */
static void check_msg(const struct mr_msg *m, const struct setting *s, bool optional)
{
    struct mr_err err = MR_ERR_INIT;
    size_t i;

    FUZZ_CHECK(m->gid != NULL && mr_check_gid(m->gid, &err) == 0, "gid '%s': %s", m->gid, err.msg);
    FUZZ_CHECK(strlen(m->gid) <= (size_t)s->max_gid_len, "gid of %zu", strlen(m->gid));
    FUZZ_CHECK(m->nsteps <= (size_t)s->max_steps, "%zu steps", m->nsteps);
    FUZZ_CHECK(m->nsteps > 0 || optional, "no steps accepted");
    FUZZ_CHECK(m->nsteps == 0 || m->steps != NULL, "steps NULL");
    for (i = 0; i < m->nsteps; i++) {
        const struct mr_step *st = &m->steps[i];
        char id[24];

        snprintf(id, sizeof(id), "%02zu", i + 1);
        FUZZ_CHECK(st->branch_id != NULL && strcmp(st->branch_id, id) == 0, "step %zu id '%s'", i,
                   st->branch_id);
        FUZZ_CHECK(st->url != NULL, "step %zu without a URL", i);
        FUZZ_CHECK(strlen(st->url) <= (size_t)s->max_url_len, "step URL of %zu", strlen(st->url));
        FUZZ_CHECK(no_ctl(st->url), "step URL '%s' with a space or control byte", st->url);
        FUZZ_CHECK(st->payload != NULL && st->payload_len <= s->max_body &&
                       st->payload[st->payload_len] == '\0',
                   "step %zu payload", i);
        FUZZ_CHECK(st->state == MR_STEP_PREPARED, "step %zu state %d", i, st->state);
        if (st->url[0] == '\0') {
            /* an empty action: a step that succeeds without a call */
        } else if (mr_kafka_url_is(st->url)) {
            struct mr_kafka_url ku;

            FUZZ_CHECK(s->kafka, "kafka step accepted without --kafka-brokers");
            FUZZ_CHECK(mr_kafka_url_parse(st->url, &ku, &err) == 0,
                       "accepted kafka step '%s' does not parse: %s", st->url, err.msg);
        } else if (strncmp(st->url, MR_TOPIC_SCHEME, strlen(MR_TOPIC_SCHEME)) == 0) {
            FUZZ_CHECK(mr_check_topic(st->url + strlen(MR_TOPIC_SCHEME), &err) == 0,
                       "accepted topic step '%s': %s", st->url, err.msg);
        } else {
            FUZZ_CHECK(is_http(st->url), "step URL '%s' of no known scheme", st->url);
            check_call_url(m, st->url, st->branch_id);
        }
    }
    FUZZ_CHECK(m->query_prepared != NULL, "query_prepared NULL");
    if (m->query_prepared[0] != '\0') {
        FUZZ_CHECK(strlen(m->query_prepared) <= (size_t)s->max_url_len, "query_prepared of %zu",
                   strlen(m->query_prepared));
        FUZZ_CHECK(is_http(m->query_prepared) && no_ctl(m->query_prepared), "query_prepared '%s'",
                   m->query_prepared);
        check_call_url(m, m->query_prepared, "00");
    }
    FUZZ_CHECK(m->protocol != NULL && strcmp(m->protocol, "http") == 0, "protocol '%s'",
               m->protocol);
    FUZZ_CHECK(m->custom_data != NULL && strlen(m->custom_data) <= 1024, "custom_data of %zu",
               strlen(m->custom_data));
    FUZZ_CHECK(m->delay >= 0 && m->delay <= MAX_SECONDS, "delay %d", m->delay);
    FUZZ_CHECK(m->delay == 0 || m->custom_data[0] != '\0', "delay without custom_data");
    FUZZ_CHECK(m->timeout_to_fail >= 0 && m->timeout_to_fail <= MAX_SECONDS &&
                   m->retry_interval >= 0 && m->retry_interval <= MAX_SECONDS &&
                   m->request_timeout >= 0 && m->request_timeout <= MAX_SECONDS,
               "seconds out of range");
    FUZZ_CHECK(m->owner != NULL && m->owner[0] == '\0' && m->result != NULL && m->result[0] == '\0',
               "owner/result set");
    check_headers(m);
    check_render(m);
}

static bool same_str(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* check_same - @a and @b, parsed from one body under different settings, are the same message. */
static void check_same(const struct mr_msg *a, const struct mr_msg *b)
{
    size_t i;

    FUZZ_CHECK(same_str(a->gid, b->gid) && a->nsteps == b->nsteps &&
                   same_str(a->query_prepared, b->query_prepared) &&
                   same_str(a->protocol, b->protocol) && same_str(a->custom_data, b->custom_data) &&
                   same_str(a->branch_headers, b->branch_headers) &&
                   a->concurrent == b->concurrent && a->wait_result == b->wait_result &&
                   a->timeout_to_fail == b->timeout_to_fail &&
                   a->retry_interval == b->retry_interval &&
                   a->request_timeout == b->request_timeout && a->delay == b->delay,
               "settings changed the message '%s'", a->gid);
    for (i = 0; i < a->nsteps; i++) {
        FUZZ_CHECK(same_str(a->steps[i].url, b->steps[i].url) &&
                       same_str(a->steps[i].branch_id, b->steps[i].branch_id) &&
                       a->steps[i].payload_len == b->steps[i].payload_len &&
                       memcmp(a->steps[i].payload, b->steps[i].payload, a->steps[i].payload_len) ==
                           0,
                   "settings changed step %zu", i);
    }
}

/* parse - one parse of @body under @s; the message or NULL, checked either way. */
static struct mr_msg *parse(const uint8_t *body, size_t len, const struct setting *s, bool optional)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;
    int rc;

    apply(s);
    rc = mr_parse_msg((const char *)body, len, optional, &m, &err);
    if (rc != 0) {
        FUZZ_CHECK(m == NULL, "refused but *out set");
        check_refusal(rc, &err);
        return NULL;
    }
    FUZZ_CHECK(m != NULL, "accepted without a message");
    FUZZ_CHECK(len <= s->max_body, "a body of %zu accepted under --max-body %zu", len, s->max_body);
    check_msg(m, s, optional);
    return m;
}

/* parse_gid - the abort/forceStop/reset body; its gid or NULL, checked either way. */
static char *parse_gid(const uint8_t *body, size_t len, const struct setting *s)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_err gerr = MR_ERR_INIT;
    char *gid = NULL;
    int rc;

    apply(s);
    rc = mr_parse_gid_body((const char *)body, len, &gid, &err);
    if (rc != 0) {
        FUZZ_CHECK(gid == NULL, "refused but gid set");
        check_refusal(rc, &err);
        return NULL;
    }
    FUZZ_CHECK(gid != NULL && mr_check_gid(gid, &gerr) == 0, "accepted gid '%s': %s", gid,
               gerr.msg);
    return gid;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool configured;
    struct mr_msg *a;
    struct mr_msg *b;
    struct mr_msg *c;
    struct mr_msg *d;
    char *g1;
    char *g2;

    if (!configured) {
        mr_config_defaults(&mr_config);
        configured = true;
    }
    a = parse(data, size, &tight, false);
    b = parse(data, size, &tight_kafka, false);
    c = parse(data, size, &tight_kafka, true);
    d = parse(data, size, &loose, true);
    if (a != NULL) {
        FUZZ_CHECK(b != NULL, "--kafka-brokers refused a body accepted without it");
        check_same(a, b);
    }
    if (b != NULL) {
        FUZZ_CHECK(c != NULL, "a submit refused a body a prepare accepts");
        check_same(b, c);
    }
    if (c != NULL) {
        FUZZ_CHECK(d != NULL, "the default limits refused a body the tight ones accept");
        check_same(c, d);
    }

    g1 = parse_gid(data, size, &tight);
    g2 = parse_gid(data, size, &loose);
    if (g1 != NULL)
        FUZZ_CHECK(same_str(g1, g2), "limits changed the gid");
    if (d != NULL)
        FUZZ_CHECK(same_str(g2, d->gid), "the gid body reads gid '%s', the message '%s'",
                   g2 ? g2 : "(refused)", d->gid);

    free(g1);
    free(g2);
    mr_msg_free(a);
    mr_msg_free(b);
    mr_msg_free(c);
    mr_msg_free(d);
    return 0;
}
