/* SPDX-License-Identifier: MIT */
/*
 * call.c - building a call to an application and describing its answer
 * (see call.h): shared by step delivery and the back-check.
 *
 * Must not: make calls, classify answers, keep state between calls.
 * Thread: any. Errors: returned with a message; out of memory aborts (mem.h).
 */
#include "common/call.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/config.h"
#include "common/header.h"
#include "common/mem.h"
#include "common/trace.h"
#include "common/url.h"

/* Cap on a built URL: a stored URL is at most max_url_len, a gid a few hundred escaped bytes. */
#define URL_MAX (64 * 1024)

/* Cap on one header line built from branch_headers. */
#define HEADER_MAX (16 * 1024)

/* How much of an answer's body goes into its text. */
#define SNIPPET_MAX 200

int mr_call_url(struct mr_buf *out, const char *base, const char *gid, const char *branch_id,
                const char *op)
{
    const char *const kv[] = {"gid", gid, "trans_type", "msg", "branch_id", branch_id, "op", op, NULL};

    return mr_url_with_params(out, base, kv);
}

/* add_line - append the header line @line (taken) to @c. */
static void add_line(struct mr_call *c, char *line)
{
    MR_ALLOC_GROW(c->headers, c->nheaders + 1, c->capheaders);
    c->headers[c->nheaders++] = line;
}

/* add_header - add "@name: @value" to @c; an empty value goes as "@name;" (libcurl). */
static void add_header(struct mr_call *c, const char *name, const char *value)
{
    struct mr_buf line = MR_BUF_INIT(HEADER_MAX);

    if (*value == '\0')
        mr_buf_addf(&line, "%s;", name);
    else
        mr_buf_addf(&line, "%s: %s", name, value);
    /* mr_header_check() held names and values far below HEADER_MAX, so line is whole */
    add_line(c, mr_buf_detach(&line, NULL));
}

/* parse_headers - @branch_headers as a JSON object in *@obj (NULL for none), every pair checked. */
static int parse_headers(const char *branch_headers, json_t **obj, bool *own_ct, struct mr_err *err)
{
    json_error_t jerr;
    const char *key;
    json_t *val;

    *obj = NULL;
    *own_ct = false;
    if (branch_headers == NULL || *branch_headers == '\0')
        return 0;
    *obj = json_loads(branch_headers, JSON_DECODE_ANY, &jerr);
    if (*obj == NULL)
        return mr_err_set(err, MR_EINVAL, "branch_headers: invalid json: %s", jerr.text);
    if (json_is_null(*obj)) {
        json_decref(*obj);
        *obj = NULL;
        return 0;
    }
    if (!json_is_object(*obj)) {
        json_decref(*obj);
        *obj = NULL;
        return mr_err_set(err, MR_EINVAL, "branch_headers: not a json object");
    }
    json_object_foreach(*obj, key, val)
    {
        if (!json_is_string(val)) {
            mr_err_set(err, MR_EINVAL, "branch_headers: '%s' is not a string", key);
            break;
        }
        /* the intake's rule again: a row stored before it existed is refused, not sent */
        if (mr_header_check(key, json_string_value(val), json_string_length(val), err) != 0)
            break;
        if (strcasecmp(key, "Content-Type") == 0)
            *own_ct = true;
    }
    if (key != NULL) {
        json_decref(*obj);
        *obj = NULL;
        return MR_EINVAL;
    }
    return 0;
}

/*
 * add_headers - mr_call_headers(), then the trace context of a call under
 * @traceparent (NULL or "" for none): a child traceparent and @tracestate,
 * which replace any of branch_headers' own.
 */
static int add_headers(struct mr_call *c, const char *branch_headers, const char *traceparent,
                       const char *tracestate, struct mr_err *err)
{
    bool traced = traceparent != NULL && traceparent[0] != '\0';
    char child[MR_TRACEPARENT_LEN + 1];
    json_t *obj;
    const char *key;
    json_t *val;
    bool own_ct;
    int rc;

    /* check everything before building, so an error adds nothing */
    rc = parse_headers(branch_headers, &obj, &own_ct, err);
    if (rc != 0)
        return rc;
    if (!own_ct)
        add_header(c, "Content-Type", "application/json");
    json_object_foreach(obj, key, val)
    {
        if (!traced || !mr_trace_header_is(key))
            add_header(c, key, json_string_value(val));
    }
    if (traced) {
        mr_trace_child(traceparent, child);
        add_header(c, "traceparent", child);
        if (tracestate != NULL && tracestate[0] != '\0')
            add_header(c, "tracestate", tracestate);
    }
    /* "Expect:" with no value tells libcurl not to send Expect: 100-continue */
    add_line(c, mr_xstrdup("Expect:"));
    json_decref(obj);
    return 0;
}

int mr_call_headers(struct mr_call *c, const char *branch_headers, struct mr_err *err)
{
    return add_headers(c, branch_headers, NULL, NULL, err);
}

long mr_call_timeout_ms(const struct mr_msg *m)
{
    int s = m->request_timeout > 0 ? m->request_timeout : mr_config.request_timeout;

    /* a message may ask for up to 366 days: the operator's cap wins */
    if (s > mr_config.max_request_timeout && mr_config.max_request_timeout > 0)
        s = mr_config.max_request_timeout;

    return s > 0 ? (long)s * 1000 : 1000;
}

void mr_call_release(struct mr_call *c)
{
    size_t i;

    mr_buf_release(&c->url);
    for (i = 0; i < c->nheaders; i++)
        free(c->headers[i]);
    free(c->headers);
    c->headers = NULL;
    c->nheaders = 0;
    c->capheaders = 0;
}

int mr_call_build(struct mr_call *c, const char *base, const struct mr_msg *m,
                  const char *branch_id, const char *op, struct mr_err *err)
{
    int rc;

    mr_buf_init(&c->url, URL_MAX);
    c->headers = NULL;
    c->nheaders = 0;
    c->capheaders = 0;
    c->timeout_ms = mr_call_timeout_ms(m);
    rc = mr_call_url(&c->url, base, m->gid, branch_id, op);
    if (rc != 0) {
        mr_call_release(c);
        return mr_err_set(err, rc, "url too long");
    }
    rc = add_headers(c, m->branch_headers, m->traceparent, m->tracestate, err);
    if (rc != 0) {
        mr_call_release(c);
        return rc;
    }
    return 0;
}

/* add_snippet - append the start of an answer's body to @out as clean text (see call.h). */
static void add_snippet(struct mr_buf *out, const char *body, size_t len)
{
    const unsigned char *s = (const unsigned char *)body;
    size_t n = len < SNIPPET_MAX ? len : SNIPPET_MAX;
    size_t i = 0;

    while (i < n) {
        size_t l = mr_utf8_len(s + i, n - i);

        if (l == 0) {
            mr_buf_addc(out, '?');
            i++;
        } else if (l == 1 && (s[i] < 0x20 || s[i] == 0x7f)) {
            mr_buf_addc(out, ' ');
            i++;
        } else {
            mr_buf_add(out, s + i, l);
            i += l;
        }
    }
}

void mr_call_text(struct mr_buf *out, const char *what, long status, const char *error,
                  const char *body, size_t len)
{
    mr_buf_reset(out);
    if (status == 0) {
        mr_buf_addf(out, "%s: %s", what, error);
        return;
    }
    mr_buf_addf(out, "%s: HTTP %ld", what, status);
    if (len > 0) {
        mr_buf_adds(out, ": ");
        add_snippet(out, body, len);
    }
}
