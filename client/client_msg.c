/* SPDX-License-Identifier: MIT */
/*
 * client_msg.c - the producer SDK's message (see msgrelay/client.h): build it,
 * then prepare, submit or abort it on the server, ask a back-check URL
 * ourselves, and get a gid from newGid.
 *
 * Must not: touch a database (client_db.c does), keep anything but the
 * message's own state, or retry on its own: the caller learns from the
 * MR_CLIENT_* result whether a retry is safe and decides.
 *
 * Thread: the caller's; a message belongs to one thread at a time, distinct
 * messages may be used on distinct threads at once. Errors: MR_CLIENT_EINVAL
 * for bad arguments before any I/O; every answer is classified into SUCCESS /
 * FAILURE / ERROR with the server's message copied into the caller's buffer.
 */
#include "msgrelay/client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "client/client_int.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/sdk.h"
#include "common/trace.h"

/* Cap on a message we write into the caller's buffer. */
#define MSG_MAX 4096

/* The defaults of a new message's token and CA file (mr_client_msg_set_token, _set_ca_file). */
#define ENV_TOKEN "MSGRELAY_API_TOKEN"
#define ENV_CA_FILE "MSGRELAY_CA_FILE"

/* free_secret - wipe and free a token. */
static void free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* is_http_url - whether @s starts with http:// or https:// (any case) and has more. */
static bool is_http_url(const char *s)
{
    if (strncasecmp(s, "http://", 7) == 0)
        return s[7] != '\0';
    if (strncasecmp(s, "https://", 8) == 0)
        return s[8] != '\0';
    return false;
}

/* is_step_url - whether @s is a destination the relay knows: http(s)://, kafka://, topic://. */
static bool is_step_url(const char *s)
{
    if (is_http_url(s))
        return true;
    if (strncmp(s, "kafka://", 8) == 0)
        return s[8] != '\0';
    if (strncmp(s, "topic://", 8) == 0)
        return s[8] != '\0';
    return false;
}

/* header_safe - whether @s may go into a header line: no CR/LF; for a name also non-empty, no ':'.
 */
static bool header_safe(const char *s, bool is_name)
{
    if (is_name && (*s == '\0' || strchr(s, ':') != NULL || strpbrk(s, " \t") != NULL))
        return false;
    return strpbrk(s, "\r\n") == NULL;
}

/* einval - MR_CLIENT_EINVAL with a message. */
static int einval(char *errbuf, size_t errlen, const char *msg)
{
    return mr_client__finish(MR_CLIENT_EINVAL, msg, errbuf, errlen);
}

const char *mr_client_result_name(int result)
{
    switch (result) {
    case MR_CLIENT_SUCCESS:
        return "success";
    case MR_CLIENT_FAILURE:
        return "failure";
    case MR_CLIENT_ERROR:
        return "error";
    case MR_CLIENT_DUPLICATED:
        return "duplicated";
    case MR_CLIENT_EINVAL:
        return "einval";
    default:
        return "unknown";
    }
}

/* ---- building ---- */

int mr_client_msg_new(struct mr_client_msg **out, const char *server, const char *gid, char *errbuf,
                      size_t errlen)
{
    struct mr_client_msg *m;
    const char *env_token;
    const char *env_ca;
    size_t n;

    *out = NULL;
    if (server == NULL || !is_http_url(server))
        return einval(errbuf, errlen, "server: must be an http:// or https:// URL");
    if (gid == NULL || *gid == '\0')
        return einval(errbuf, errlen, "gid: empty");
    if (strlen(gid) > MR_CLIENT_GID_MAX)
        return einval(errbuf, errlen, "gid: longer than 128 bytes");
    env_token = getenv(ENV_TOKEN);
    if (env_token != NULL && env_token[0] != '\0' && !mr_client__token_ok(env_token))
        return einval(errbuf, errlen, ENV_TOKEN ": not a usable token");
    env_ca = getenv(ENV_CA_FILE);
    m = mr_xcalloc(1, sizeof(*m));
    n = strlen(server);
    while (n > 0 && server[n - 1] == '/')
        n--;
    m->server = mr_xstrndup(server, n);
    m->gid = mr_xstrdup(gid);
    m->call_timeout_ms = MR_CLIENT_CALL_TIMEOUT_MS;
    if (env_token != NULL && env_token[0] != '\0')
        m->token = mr_xstrdup(env_token);
    if (env_ca != NULL && env_ca[0] != '\0')
        m->ca_file = mr_xstrdup(env_ca);
    *out = m;
    return mr_client__finish(MR_CLIENT_SUCCESS, "", errbuf, errlen);
}

void mr_client_msg_free(struct mr_client_msg *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->nsteps; i++) {
        free(m->actions[i]);
        free(m->payloads[i]);
    }
    free(m->actions);
    free(m->payloads);
    for (i = 0; i < m->nheaders; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    free(m->server);
    free(m->gid);
    free(m->query_prepared);
    free(m->barrier_table);
    free_secret(m->token);
    free(m->ca_file);
    free(m->traceparent);
    free(m->tracestate);
    if (m->curl != NULL)
        curl_easy_cleanup(m->curl);
    free(m);
}

const char *mr_client_msg_gid(const struct mr_client_msg *m)
{
    return m->gid;
}

int mr_client_msg_add(struct mr_client_msg *m, const char *action, const char *payload,
                      char *errbuf, size_t errlen)
{
    if (action == NULL || !is_step_url(action))
        return einval(errbuf, errlen,
                      "action: must be an http:// or https:// URL, kafka://TOPIC or topic://NAME");
    if (payload == NULL)
        return einval(errbuf, errlen, "payload: missing");
    MR_ALLOC_GROW(m->actions, m->nsteps + 1, m->cap_actions);
    MR_ALLOC_GROW(m->payloads, m->nsteps + 1, m->cap_payloads);
    m->actions[m->nsteps] = mr_xstrdup(action);
    m->payloads[m->nsteps] = mr_xstrdup(payload);
    m->nsteps++;
    return mr_client__finish(MR_CLIENT_SUCCESS, "", errbuf, errlen);
}

int mr_client_msg_add_header(struct mr_client_msg *m, const char *name, const char *value,
                             char *errbuf, size_t errlen)
{
    if (name == NULL || value == NULL || !header_safe(name, true) || !header_safe(value, false))
        return einval(errbuf, errlen,
                      "header: a name without ':' or blanks, and no CR or LF anywhere");
    MR_ALLOC_GROW(m->headers, m->nheaders + 1, m->cap_headers);
    m->headers[m->nheaders].name = mr_xstrdup(name);
    m->headers[m->nheaders].value = mr_xstrdup(value);
    m->nheaders++;
    return mr_client__finish(MR_CLIENT_SUCCESS, "", errbuf, errlen);
}

void mr_client_msg_set_timeout_to_fail(struct mr_client_msg *m, int seconds)
{
    m->timeout_to_fail = seconds > 0 ? seconds : 0;
}

void mr_client_msg_set_retry_interval(struct mr_client_msg *m, int seconds)
{
    m->retry_interval = seconds > 0 ? seconds : 0;
}

void mr_client_msg_set_request_timeout(struct mr_client_msg *m, int seconds)
{
    m->request_timeout = seconds > 0 ? seconds : 0;
}

void mr_client_msg_set_delay(struct mr_client_msg *m, int seconds)
{
    m->delay = seconds > 0 ? seconds : 0;
}

void mr_client_msg_set_concurrent(struct mr_client_msg *m, bool on)
{
    m->concurrent = on;
}

void mr_client_msg_set_wait_result(struct mr_client_msg *m, bool on)
{
    m->wait_result = on;
}

void mr_client_msg_set_call_timeout(struct mr_client_msg *m, long timeout_ms)
{
    m->call_timeout_ms = timeout_ms > 0 ? timeout_ms : MR_CLIENT_CALL_TIMEOUT_MS;
}

int mr_client_msg_set_token(struct mr_client_msg *m, const char *token, char *errbuf,
                            size_t errlen)
{
    if (token != NULL && token[0] != '\0' && !mr_client__token_ok(token))
        return einval(errbuf, errlen,
                      "token: must be at most 4096 visible ASCII characters (no spaces)");
    free_secret(m->token);
    m->token = token != NULL && token[0] != '\0' ? mr_xstrdup(token) : NULL;
    return mr_client__finish(MR_CLIENT_SUCCESS, "", errbuf, errlen);
}

int mr_client_msg_set_traceparent(struct mr_client_msg *m, const char *traceparent,
                                  const char *tracestate, char *errbuf, size_t errlen)
{
    bool on = traceparent != NULL && traceparent[0] != '\0';
    bool state = on && tracestate != NULL && tracestate[0] != '\0';

    if (on && !mr_trace_parent_ok(traceparent))
        return einval(errbuf, errlen,
                      "traceparent: must be 00-<32 hex>-<16 hex>-<2 hex>, lower case, ids not "
                      "all zeros");
    if (state && !mr_trace_state_ok(tracestate))
        return einval(errbuf, errlen, "tracestate: must be at most 512 bytes of printable ASCII");
    free(m->traceparent);
    free(m->tracestate);
    m->traceparent = on ? mr_xstrdup(traceparent) : NULL;
    m->tracestate = state ? mr_xstrdup(tracestate) : NULL;
    return mr_client__finish(MR_CLIENT_SUCCESS, "", errbuf, errlen);
}

void mr_client_msg_set_ca_file(struct mr_client_msg *m, const char *path)
{
    free(m->ca_file);
    m->ca_file = path != NULL && path[0] != '\0' ? mr_xstrdup(path) : NULL;
}

int mr_client_msg_set_barrier_table(struct mr_client_msg *m, const char *table, char *errbuf,
                                    size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;

    if (table != NULL && mr_sdk_check_table(table, &err) != 0)
        return einval(errbuf, errlen, err.msg);
    free(m->barrier_table);
    m->barrier_table = mr_xstrdup(table);
    return mr_client__finish(MR_CLIENT_SUCCESS, "", errbuf, errlen);
}

/* ---- calls ---- */

/* ensure_curl - the message's easy handle, created on first use. */
static CURL *ensure_curl(struct mr_client_msg *m)
{
    if (m->curl == NULL)
        m->curl = curl_easy_init();
    return m->curl;
}

/*
 * get_or_post - one call to @url (POST @body when not NULL, else GET) with
 * @headers on @curl; classify the answer and describe it into @msg as @what.
 */
static int get_or_post(CURL *curl, const char *what, const char *url, const struct mr_buf *body,
                       struct curl_slist *headers, long timeout_ms, const char *ca_file,
                       struct mr_client_answer *a, struct mr_buf *msg)
{
    if (curl == NULL) {
        mr_buf_addf(msg, "%s: cannot create a libcurl handle", what);
        return MR_CLIENT_ERROR;
    }
    mr_client__http(curl, url, body != NULL ? body->p : NULL, body != NULL ? body->len : 0, headers,
                    timeout_ms, ca_file, a);
    mr_client__describe(what, url, a, msg);
    return mr_client__classify(a->status, a->body.p, a->body.len);
}

/* call_server - POST the body of @call to <server>/@route. */
static int call_server(struct mr_client_msg *m, enum mr_client__call call, const char *route,
                       char *errbuf, size_t errlen)
{
    struct mr_buf url = MR_BUF_INIT(MR_CLIENT__REQUEST_MAX);
    struct mr_buf body = MR_BUF_INIT(MR_CLIENT__REQUEST_MAX);
    struct mr_buf msg = MR_BUF_INIT(MSG_MAX);
    struct mr_client_answer a;
    struct curl_slist *headers;
    int rc;

    if (mr_client__route_url(&url, m->server, route) != 0 || mr_client__body(m, call, &body) != 0) {
        rc = MR_CLIENT_EINVAL;
        mr_buf_addf(&msg, "%s: request larger than %zu bytes", route, MR_CLIENT__REQUEST_MAX);
    } else {
        headers =
            mr_client__add_trace(mr_client__add_bearer(mr_client__headers(NULL), m->token), m);
        mr_client__answer_init(&a);
        rc = get_or_post(ensure_curl(m), route, url.p, &body, headers, m->call_timeout_ms,
                         m->ca_file, &a, &msg);
        mr_client__answer_release(&a);
        curl_slist_free_all(headers);
    }
    rc = mr_client__finish(rc, msg.p, errbuf, errlen);
    mr_buf_release(&msg);
    mr_buf_release(&body);
    mr_buf_release(&url);
    return rc;
}

int mr_client_prepare(struct mr_client_msg *m, const char *query_prepared, char *errbuf,
                      size_t errlen)
{
    if (query_prepared != NULL) {
        free(m->query_prepared);
        m->query_prepared = mr_xstrdup(query_prepared);
    }
    return call_server(m, MR_CLIENT__PREPARE, "prepare", errbuf, errlen);
}

int mr_client_submit(struct mr_client_msg *m, char *errbuf, size_t errlen)
{
    return call_server(m, MR_CLIENT__SUBMIT, "submit", errbuf, errlen);
}

int mr_client_abort(struct mr_client_msg *m, char *errbuf, size_t errlen)
{
    return call_server(m, MR_CLIENT__ABORT, "abort", errbuf, errlen);
}

int mr_client_query_prepared(struct mr_client_msg *m, const char *query_prepared, char *errbuf,
                             size_t errlen)
{
    struct mr_buf url = MR_BUF_INIT(MR_CLIENT__REQUEST_MAX);
    struct mr_buf msg = MR_BUF_INIT(MSG_MAX);
    struct mr_client_answer a;
    struct curl_slist *headers;
    int rc;

    if (query_prepared == NULL)
        query_prepared = m->query_prepared;
    if (query_prepared == NULL || !is_http_url(query_prepared))
        return einval(errbuf, errlen, "query_prepared: must be an http:// or https:// URL");
    if (mr_client__backcheck_url(&url, query_prepared, m->server, m->gid) != 0) {
        rc = MR_CLIENT_EINVAL;
        mr_buf_adds(&msg, "back-check: URL too long");
    } else {
        /* the application's own URL: its branch headers, never the relay's token */
        headers = mr_client__headers(m);
        mr_client__answer_init(&a);
        rc = get_or_post(ensure_curl(m), "back-check", url.p, NULL, headers, m->call_timeout_ms,
                         m->ca_file, &a, &msg);
        mr_client__answer_release(&a);
        curl_slist_free_all(headers);
    }
    rc = mr_client__finish(rc, msg.p, errbuf, errlen);
    mr_buf_release(&msg);
    mr_buf_release(&url);
    return rc;
}

/* gid_of - the non-empty "gid" string of a newGid answer, or NULL (borrowed from @j). */
static const char *gid_of(json_t *j)
{
    json_t *v = json_is_object(j) ? json_object_get(j, "gid") : NULL;

    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > MR_CLIENT_GID_MAX)
        return NULL;
    return json_string_value(v);
}

int mr_client_new_gid(const char *server, long timeout_ms, char **gid, char *errbuf, size_t errlen)
{
    struct mr_buf url = MR_BUF_INIT(MR_CLIENT__REQUEST_MAX);
    struct mr_buf msg = MR_BUF_INIT(MSG_MAX);
    struct mr_client_answer a;
    struct curl_slist *headers;
    const char *token;
    const char *ca_file;
    CURL *curl;
    size_t n;
    int rc;

    *gid = NULL;
    if (server == NULL || !is_http_url(server))
        return einval(errbuf, errlen, "server: must be an http:// or https:// URL");
    n = strlen(server);
    while (n > 0 && server[n - 1] == '/')
        n--;
    mr_buf_add(&url, server, n);
    mr_buf_adds(&url, "/newGid");
    token = getenv(ENV_TOKEN);
    if (token != NULL && token[0] != '\0' && !mr_client__token_ok(token)) {
        mr_buf_release(&url);
        return einval(errbuf, errlen, ENV_TOKEN ": not a usable token");
    }
    ca_file = getenv(ENV_CA_FILE);
    curl = curl_easy_init();
    headers = mr_client__add_bearer(mr_client__headers(NULL),
                                    token != NULL && token[0] != '\0' ? token : NULL);
    mr_client__answer_init(&a);
    rc = get_or_post(curl, "newGid", url.p, NULL, headers,
                     timeout_ms > 0 ? timeout_ms : MR_CLIENT_CALL_TIMEOUT_MS,
                     ca_file != NULL && ca_file[0] != '\0' ? ca_file : NULL, &a, &msg);
    if (rc == MR_CLIENT_SUCCESS) {
        json_t *j = json_loadb(a.body.p, a.body.len, 0, NULL);
        const char *g = gid_of(j);

        if (g != NULL) {
            *gid = mr_xstrdup(g);
        } else {
            rc = MR_CLIENT_ERROR;
            mr_buf_adds(&msg, "newGid: answer without a usable gid");
        }
        json_decref(j);
    }
    mr_client__answer_release(&a);
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    rc = mr_client__finish(rc, msg.p, errbuf, errlen);
    mr_buf_release(&msg);
    mr_buf_release(&url);
    return rc;
}
