/* SPDX-License-Identifier: MIT */
/*
 * client_http.c - how the producer SDK talks HTTP: the URLs and JSON bodies
 * it sends, the one HTTP call (a libcurl easy handle owned by the message),
 * and what an answer means (the relay's own classifier, common/result.h) and
 * says (the server's message, for the caller's error buffer).
 *
 * Must not: keep global state (curl_global_init is the application's job,
 * through mr_client_global_init() or directly),
 * raise signals (CURLOPT_NOSIGNAL), or wait without a timeout.
 *
 * Thread: the caller's; a message and its easy handle belong to one thread at
 * a time. Errors: building functions return MR_ETOOBIG past their caps; the
 * HTTP call never fails as a function, it records status 0 and libcurl's text.
 */
#include "client/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/result.h"
#include "common/url.h"
#include "common/sdk.h"

/* Longest piece of an answer body quoted in a message. */
#define QUOTE_MAX 300

void mr_client__answer_init(struct mr_client_answer *a)
{
    a->status = 0;
    mr_buf_init(&a->body, MR_CLIENT__ANSWER_MAX);
    a->error[0] = '\0';
}

void mr_client__answer_release(struct mr_client_answer *a)
{
    mr_buf_release(&a->body);
    a->status = 0;
    a->error[0] = '\0';
}

/* ---- URLs and bodies ---- */

int mr_client__route_url(struct mr_buf *out, const char *server, const char *route)
{
    return mr_buf_addf(out, "%s/%s", server, route);
}

int mr_client__backcheck_url(struct mr_buf *out, const char *qp, const char *server,
                             const char *gid)
{
    const char *const kv[] = {"dtm",       server, "gid", gid,  "branch_id", "00",
                              "trans_type", "msg",  "op",  "msg", NULL};

    return mr_url_with_params(out, qp, kv);
}

/* add_key - append ",\"@key\":" (without the comma for the first key). */
static int add_key(struct mr_buf *out, const char *key)
{
    return mr_buf_addf(out, "%s\"%s\":", out->p[out->len - 1] == '{' ? "" : ",", key);
}

/* add_str_field - append "key":"value" with @value JSON-escaped. */
static int add_str_field(struct mr_buf *out, const char *key, const char *value)
{
    int rc = add_key(out, key);

    if (rc == 0)
        rc = mr_buf_add_jstr(out, value, strlen(value));
    return rc;
}

/* add_int_field - append "key":n when @n is positive (0 leaves the field to the server). */
static int add_int_field(struct mr_buf *out, const char *key, int n)
{
    int rc;

    if (n <= 0)
        return 0;
    rc = add_key(out, key);
    if (rc == 0)
        rc = mr_buf_addf(out, "%d", n);
    return rc;
}

/* add_steps - append "steps":[{"action":..},..],"payloads":[..,..]. */
static int add_steps(struct mr_buf *out, const struct mr_client_msg *m)
{
    size_t i;
    int rc = add_key(out, "steps");

    if (rc == 0)
        rc = mr_buf_addc(out, '[');
    for (i = 0; rc == 0 && i < m->nsteps; i++) {
        rc = mr_buf_adds(out, i ? ",{\"action\":" : "{\"action\":");
        if (rc == 0)
            rc = mr_buf_add_jstr(out, m->actions[i], strlen(m->actions[i]));
        if (rc == 0)
            rc = mr_buf_addc(out, '}');
    }
    if (rc == 0)
        rc = mr_buf_addc(out, ']');
    if (rc == 0)
        rc = add_key(out, "payloads");
    if (rc == 0)
        rc = mr_buf_addc(out, '[');
    for (i = 0; rc == 0 && i < m->nsteps; i++) {
        if (i)
            rc = mr_buf_addc(out, ',');
        if (rc == 0)
            rc = mr_buf_add_jstr(out, m->payloads[i], strlen(m->payloads[i]));
    }
    if (rc == 0)
        rc = mr_buf_addc(out, ']');
    return rc;
}

/* add_headers - append "branch_headers":{"name":"value",..} when there are any. */
static int add_headers(struct mr_buf *out, const struct mr_client_msg *m)
{
    size_t i;
    int rc;

    if (m->nheaders == 0)
        return 0;
    rc = add_key(out, "branch_headers");
    if (rc == 0)
        rc = mr_buf_addc(out, '{');
    for (i = 0; rc == 0 && i < m->nheaders; i++) {
        if (i)
            rc = mr_buf_addc(out, ',');
        if (rc == 0)
            rc = mr_buf_add_jstr(out, m->headers[i].name, strlen(m->headers[i].name));
        if (rc == 0)
            rc = mr_buf_addc(out, ':');
        if (rc == 0)
            rc = mr_buf_add_jstr(out, m->headers[i].value, strlen(m->headers[i].value));
    }
    if (rc == 0)
        rc = mr_buf_addc(out, '}');
    return rc;
}

int mr_client__body(const struct mr_client_msg *m, enum mr_client__call call, struct mr_buf *out)
{
    int rc = mr_buf_addc(out, '{');

    if (rc == 0)
        rc = add_str_field(out, "gid", m->gid);
    if (rc == 0)
        rc = add_str_field(out, "trans_type", "msg");
    if (rc == 0 && m->nsteps > 0)
        rc = add_steps(out, m);
    if (rc == 0 && m->query_prepared != NULL)
        rc = add_str_field(out, "query_prepared", m->query_prepared);
    if (rc == 0)
        rc = mr_buf_addf(out, ",\"concurrent\":%s", m->concurrent ? "true" : "false");
    if (rc == 0 && m->wait_result)
        rc = mr_buf_adds(out, ",\"wait_result\":true");
    if (rc == 0)
        rc = add_int_field(out, "timeout_to_fail", m->timeout_to_fail);
    if (rc == 0)
        rc = add_int_field(out, "retry_interval", m->retry_interval);
    if (rc == 0)
        rc = add_int_field(out, "request_timeout", m->request_timeout);
    if (rc == 0)
        rc = add_headers(out, m);
    if (rc == 0 && call == MR_CLIENT__SUBMIT && m->delay > 0) {
        char custom[32];

        /* DTM's custom_data is a JSON text inside a JSON string */
        snprintf(custom, sizeof(custom), "{\"delay\":%d}", m->delay);
        rc = add_str_field(out, "custom_data", custom);
    }
    if (rc == 0)
        rc = mr_buf_addc(out, '}');
    return rc;
}

/* ---- answers ---- */

int mr_client__classify(long status, const char *body, size_t len)
{
    switch (mr_result_classify(status, body, len, false)) {
    case MR_RESULT_SUCCESS:
        return MR_CLIENT_SUCCESS;
    case MR_RESULT_FAILURE:
        return MR_CLIENT_FAILURE;
    default:
        /* ongoing is no final word either: retrying is safe */
        return MR_CLIENT_ERROR;
    }
}

/* add_quoted - append the first QUOTE_MAX bytes of @s (@n bytes) with control bytes as spaces. */
static void add_quoted(struct mr_buf *out, const char *s, size_t n)
{
    size_t i;

    if (n > QUOTE_MAX)
        n = QUOTE_MAX;
    for (i = 0; i < n; i++)
        mr_buf_addc(out, (unsigned char)s[i] < 0x20 ? ' ' : s[i]);
    if (n == QUOTE_MAX)
        mr_buf_adds(out, "...");
}

/* server_message - the "message" or "error" string of a JSON answer, or NULL (borrowed from @j). */
static const char *server_message(json_t *j)
{
    const char *keys[2] = {"message", "error"};
    size_t i;

    for (i = 0; i < 2; i++) {
        json_t *v = json_is_object(j) ? json_object_get(j, keys[i]) : NULL;

        if (json_is_string(v) && json_string_length(v) > 0)
            return json_string_value(v);
    }
    return NULL;
}

void mr_client__describe(const char *what, const char *url, const struct mr_client_answer *a,
                         struct mr_buf *out)
{
    json_t *j;
    const char *msg;

    if (a->status == 0) {
        mr_buf_addf(out, "%s: %s: %s", what, url, a->error[0] ? a->error : "no answer");
        return;
    }
    if (mr_client__classify(a->status, a->body.p, a->body.len) == MR_CLIENT_SUCCESS)
        return;
    mr_buf_addf(out, "%s: HTTP %ld: ", what, a->status);
    j = json_loadb(a->body.p, a->body.len, JSON_DECODE_ANY, NULL);
    msg = server_message(j);
    if (msg != NULL)
        add_quoted(out, msg, strlen(msg));
    else if (a->body.len > 0)
        add_quoted(out, a->body.p, a->body.len);
    else
        mr_buf_adds(out, "(empty answer)");
    json_decref(j);
}

/* ---- the call ---- */

/* on_data - libcurl's write callback: keep the body up to its cap, else stop the transfer. */
static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct mr_buf *body = ud;

    if (mr_buf_add(body, p, size * n) != 0)
        return 0; /* CURLE_WRITE_ERROR */
    return size * n;
}

/* check_oom - a libcurl setup call that can fail only for lack of memory. */
static void check_oom(CURLcode c)
{
    if (c != CURLE_OK && c != CURLE_UNKNOWN_OPTION) {
        fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"libcurl setup failed\",\"error\":\"%s\"}\n",
                curl_easy_strerror(c));
        abort();
    }
}

void mr_client__http(CURL *curl, const char *url, const char *post, size_t post_len,
                     struct curl_slist *headers, long timeout_ms, const char *ca_file,
                     struct mr_client_answer *a)
{
    long connect_ms =
        timeout_ms < MR_CLIENT__CONNECT_TIMEOUT_MS ? timeout_ms : MR_CLIENT__CONNECT_TIMEOUT_MS;
    CURLcode c;

    mr_buf_reset(&a->body);
    a->status = 0;
    a->error[0] = '\0';
    curl_easy_reset(curl);
    check_oom(curl_easy_setopt(curl, CURLOPT_URL, url));
    check_oom(curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https"));
    check_oom(curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L));
    check_oom(curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms));
    check_oom(curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms));
    check_oom(curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers));
    check_oom(curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data));
    check_oom(curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a->body));
    check_oom(curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, a->error));
    if (ca_file != NULL)
        check_oom(curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file));
    if (post != NULL) {
        check_oom(curl_easy_setopt(curl, CURLOPT_POST, 1L));
        check_oom(curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post));
        check_oom(curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len));
    } else {
        check_oom(curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L));
    }
    c = curl_easy_perform(curl);
    if (c == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    } else {
        if (c == CURLE_WRITE_ERROR)
            snprintf(a->error, sizeof(a->error), "answer longer than %d bytes",
                     MR_CLIENT__ANSWER_MAX);
        else if (a->error[0] == '\0')
            snprintf(a->error, sizeof(a->error), "%s", curl_easy_strerror(c));
        a->status = 0;
    }
    /* the error buffer and the header list are the caller's: leave no pointer to them behind */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
}

/* slist_add - append @line to @list; out of memory aborts, as mr_xmalloc does. */
static struct curl_slist *slist_add(struct curl_slist *list, const char *line)
{
    struct curl_slist *n = curl_slist_append(list, line);

    if (n == NULL) {
        fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory building headers\"}\n");
        abort();
    }
    return n;
}

/* add_header_line - append "name: value" (or "name;" for an empty value, libcurl's way). */
static struct curl_slist *add_header_line(struct curl_slist *list, const char *name,
                                          const char *value)
{
    struct mr_buf line = MR_BUF_INIT(MR_BUF_UNBOUNDED);

    if (*value == '\0')
        mr_buf_addf(&line, "%s;", name);
    else
        mr_buf_addf(&line, "%s: %s", name, value);
    list = slist_add(list, line.p);
    mr_buf_release(&line);
    return list;
}

bool mr_client__token_ok(const char *token)
{
    size_t i;

    for (i = 0; token[i] != '\0'; i++) {
        if (i >= MR_CLIENT_TOKEN_MAX || token[i] <= ' ' || token[i] > '~')
            return false;
    }
    return i > 0;
}

struct curl_slist *mr_client__add_bearer(struct curl_slist *list, const char *token)
{
    struct mr_buf line = MR_BUF_INIT(MR_BUF_UNBOUNDED);

    if (token == NULL)
        return list;
    mr_buf_addf(&line, "Authorization: Bearer %s", token);
    list = slist_add(list, line.p); /* libcurl keeps its own copy */
    explicit_bzero(line.p, line.len);
    mr_buf_release(&line);
    return list;
}

struct curl_slist *mr_client__add_trace(struct curl_slist *list, const struct mr_client_msg *m)
{
    if (m->traceparent != NULL)
        list = add_header_line(list, "traceparent", m->traceparent);
    if (m->tracestate != NULL)
        list = add_header_line(list, "tracestate", m->tracestate);
    return list;
}

struct curl_slist *mr_client__headers(const struct mr_client_msg *m)
{
    struct curl_slist *list = NULL;
    bool own_ct = false;
    size_t i;

    for (i = 0; m != NULL && i < m->nheaders; i++)
        own_ct = own_ct || strcasecmp(m->headers[i].name, "Content-Type") == 0;
    if (!own_ct)
        list = add_header_line(list, "Content-Type", "application/json");
    /* "Expect:" with nothing after it removes the header: no 100-continue round trip */
    list = slist_add(list, "Expect:");
    for (i = 0; m != NULL && i < m->nheaders; i++)
        list = add_header_line(list, m->headers[i].name, m->headers[i].value);
    return list;
}

int mr_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? MR_CLIENT_SUCCESS : MR_CLIENT_ERROR;
}

void mr_client_global_cleanup(void)
{
    curl_global_cleanup();
}
