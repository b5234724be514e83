/* SPDX-License-Identifier: MIT */
/*
 * query.c - the back-check: how the call to query_prepared is built, what its
 * classified answer means, and the store writes that follow (see query.h).
 *
 * Must not: make HTTP calls (relay/ does, with its libcurl multi handle), call
 * into relay/, or open transactions (mr_query_apply writes inside the caller's
 * group commit).
 *
 * Thread: whichever thread calls; nothing here keeps state between calls.
 * Errors: bad stored data (branch_headers, an over-long URL) comes back as
 * MR_EINVAL / MR_ETOOBIG with a message, store errors as the store returns them.
 */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/header.h"
#include "common/log.h"
#include "common/url.h"
#include "common/mem.h"
#include "store/store.h"

/* Cap on a built URL: a stored URL is at most max_url_len, a gid a few hundred escaped bytes. */
#define URL_MAX (64 * 1024)

/* Cap on one header line built from branch_headers. */
#define HEADER_MAX (16 * 1024)

int mr_query_url_build(struct mr_buf *out, const char *base, const char *gid, const char *branch_id,
                       const char *op)
{
    const char *const kv[] = {"gid", gid, "trans_type", "msg", "branch_id", branch_id, "op", op, NULL};

    return mr_url_with_params(out, base, kv);
}

/* append_header - add "@name: @value" to *@list; an empty value goes as "@name;" (libcurl). */
static void append_header(struct curl_slist **list, const char *name, const char *value)
{
    struct mr_buf line = MR_BUF_INIT(HEADER_MAX);
    struct curl_slist *n;

    if (*value == '\0')
        mr_buf_addf(&line, "%s;", name);
    else
        mr_buf_addf(&line, "%s: %s", name, value);
    /* mr_header_check() held names and values far below HEADER_MAX, so line is whole */
    n = curl_slist_append(*list, line.p);
    mr_buf_release(&line);
    if (n == NULL) {
        mr_log(MR_LOG_ERROR, "out of memory building a header list", NULL);
        abort();
    }
    *list = n;
}

int mr_query_headers_build(const char *branch_headers, struct curl_slist **out, struct mr_err *err)
{
    struct curl_slist *list = NULL;
    struct curl_slist *expect;
    json_t *obj = NULL;
    json_error_t jerr;
    const char *key;
    json_t *val;
    bool own_ct = false;

    *out = NULL;
    if (branch_headers != NULL && *branch_headers != '\0') {
        obj = json_loads(branch_headers, JSON_DECODE_ANY, &jerr);
        if (obj == NULL)
            return mr_err_set(err, MR_EINVAL, "branch_headers: invalid json: %s", jerr.text);
        if (json_is_null(obj)) {
            json_decref(obj);
            obj = NULL;
        } else if (!json_is_object(obj)) {
            json_decref(obj);
            return mr_err_set(err, MR_EINVAL, "branch_headers: not a json object");
        }
    }
    /* check everything before building, so an error leaves nothing to free */
    json_object_foreach(obj, key, val)
    {
        if (!json_is_string(val)) {
            mr_err_set(err, MR_EINVAL, "branch_headers: '%s' is not a string", key);
            json_decref(obj);
            return MR_EINVAL;
        }
        /* the intake's rule again: a row stored before it existed is refused, not sent */
        if (mr_header_check(key, json_string_value(val), json_string_length(val), err) != 0) {
            json_decref(obj);
            return MR_EINVAL;
        }
        if (strcasecmp(key, "Content-Type") == 0)
            own_ct = true;
    }
    if (!own_ct)
        append_header(&list, "Content-Type", "application/json");
    json_object_foreach(obj, key, val)
    {
        append_header(&list, key, json_string_value(val));
    }
    /* "Expect:" with no value tells libcurl not to send Expect: 100-continue */
    expect = curl_slist_append(list, "Expect:");
    if (expect == NULL) {
        mr_log(MR_LOG_ERROR, "out of memory building a header list", NULL);
        abort();
    }
    list = expect;
    json_decref(obj);
    *out = list;
    return 0;
}

long mr_query_timeout_ms(const struct mr_msg *m)
{
    int s = m->request_timeout > 0 ? m->request_timeout : mr_config.request_timeout;

    /* a message may ask for up to 366 days: the operator's cap wins */
    if (s > mr_config.max_request_timeout && mr_config.max_request_timeout > 0)
        s = mr_config.max_request_timeout;

    return s > 0 ? (long)s * 1000 : 1000;
}

bool mr_query_needed(const struct mr_msg *m)
{
    return m->query_prepared != NULL && m->query_prepared[0] != '\0';
}

int64_t mr_query_due_ms(const struct mr_msg *m)
{
    int ttf = m->timeout_to_fail > 0 ? m->timeout_to_fail : mr_config.timeout_to_fail;

    return m->create_ms + (int64_t)ttf * 1000;
}

void mr_query_request_release(struct mr_query_request *rq)
{
    mr_buf_release(&rq->url);
    curl_slist_free_all(rq->headers);
    rq->headers = NULL;
}

int mr_query_request_build(const struct mr_msg *m, struct mr_query_request *rq, struct mr_err *err)
{
    int rc;

    mr_buf_init(&rq->url, URL_MAX);
    rq->headers = NULL;
    rq->timeout_ms = mr_query_timeout_ms(m);
    if (!mr_query_needed(m))
        return mr_err_set(err, MR_EINVAL, "query_prepared: empty");
    rc = mr_query_url_build(&rq->url, m->query_prepared, m->gid, "00", "msg");
    if (rc != 0) {
        mr_buf_release(&rq->url);
        return mr_err_set(err, rc, "query_prepared: url too long");
    }
    rc = mr_query_headers_build(m->branch_headers, &rq->headers, err);
    if (rc != 0) {
        mr_buf_release(&rq->url);
        return rc;
    }
    return 0;
}

void mr_query_schedule(const struct mr_msg *m, enum mr_result r, int64_t now_ms, uint64_t *rng,
                       int64_t *next_ms, int *interval)
{
    int base = mr_backoff_base(m->retry_interval, m->timeout_to_fail, mr_config.retry_interval);
    int cur;

    if (r == MR_RESULT_ONGOING) {
        *interval = base;
        *next_ms = now_ms + (int64_t)base * 1000;
        return;
    }
    /* a fresh message may carry interval 0: the first back-off is then 2 x base, as in DTM */
    cur = m->next_cron_interval > base ? m->next_cron_interval : base;
    *interval = mr_backoff_next(cur, mr_config.max_retry_interval);
    *next_ms = now_ms + mr_backoff_jitter_ms(*interval, rng);
}

void mr_query_decide(const struct mr_msg *m, enum mr_result r, int64_t now_ms, uint64_t *rng,
                     struct mr_query_decision *d)
{
    d->result = r;
    switch (r) {
    case MR_RESULT_SUCCESS:
        d->action = MR_QUERY_SUBMIT;
        /* keep the (past) next_cron_time: should the relay die before delivering, the
           message is due again as soon as the lease lapses; steps back off from the base */
        d->next_cron_ms = m->next_cron_ms;
        d->interval =
            mr_backoff_base(m->retry_interval, m->timeout_to_fail, mr_config.retry_interval);
        break;
    case MR_RESULT_FAILURE:
        d->action = MR_QUERY_FAIL;
        d->next_cron_ms = m->next_cron_ms;
        d->interval = m->next_cron_interval;
        break;
    default:
        d->action = MR_QUERY_RETRY;
        mr_query_schedule(m, r, now_ms, rng, &d->next_cron_ms, &d->interval);
        break;
    }
}

int mr_query_apply(struct mr_store *s, const struct mr_msg *m, const char *owner,
                   const struct mr_query_decision *d, const char *detail, int64_t now_ms,
                   struct mr_err *err)
{
    switch (d->action) {
    case MR_QUERY_SUBMIT:
        return mr_store_msg_transition(s, m->gid, MR_MSG_PREPARED, MR_MSG_SUBMITTED, now_ms,
                                       d->next_cron_ms, d->interval, err);
    case MR_QUERY_FAIL:
        return mr_store_msg_transition(s, m->gid, MR_MSG_PREPARED, MR_MSG_FAILED, now_ms, -1, 0,
                                       err);
    case MR_QUERY_RETRY:
        return mr_store_msg_release(s, m->gid, owner, d->next_cron_ms, d->interval, detail, now_ms,
                                    err);
    }
    return mr_err_set(err, MR_EINVAL, "query decision: unknown action %d", (int)d->action);
}
