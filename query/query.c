/* SPDX-License-Identifier: MIT */
/*
 * query.c - the back-check, whole (see query.h): when a claimed prepared
 * message is due for it, the request to query_prepared, the decision on the
 * answer (mr_query_conclude) and the store writes that follow.
 *
 * Must not: make HTTP calls (relay/ does, with its libcurl multi handle), call
 * into relay/, or open transactions (mr_query_write writes inside the caller's
 * group commit). Building the call is common/call.c's, the schedule after a
 * non-success common/backoff.c's, the classifier common/result.c's.
 *
 * Thread: whichever thread calls; nothing here keeps state between calls.
 * Errors: bad stored data (branch_headers, an over-long URL) comes back as
 * MR_EINVAL / MR_ETOOBIG with a message, store errors as the store returns them.
 */
#include "query/query.h"

#include <string.h>

#include "common/backoff.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "store/store.h"

bool mr_query_needed(const struct mr_msg *m)
{
    return m->query_prepared != NULL && m->query_prepared[0] != '\0';
}

int64_t mr_query_due_ms(const struct mr_msg *m)
{
    int ttf = m->timeout_to_fail > 0 ? m->timeout_to_fail : mr_config.timeout_to_fail;

    return m->create_ms + (int64_t)ttf * 1000;
}

enum mr_query_when mr_query_when(const struct mr_msg *m, int64_t now_ms, int64_t lease_until_ms,
                                 int64_t margin_ms, int64_t *at_ms)
{
    int64_t due = mr_query_due_ms(m);

    if (now_ms < due) {
        /* claimed early (the intake scheduled it sooner): come back when it is due */
        *at_ms = due;
        return MR_QUERY_LATER;
    }
    if (!mr_query_needed(m))
        return MR_QUERY_NO_CALL;
    if (now_ms + mr_call_timeout_ms(m) + margin_ms > lease_until_ms) {
        /* the call could outlive the lease: released, and claimed again with a fresh one */
        *at_ms = now_ms;
        return MR_QUERY_NO_TIME;
    }
    return MR_QUERY_CALL;
}

int mr_query_request_build(const struct mr_msg *m, struct mr_call *rq, struct mr_err *err)
{
    int rc;

    if (!mr_query_needed(m)) {
        memset(rq, 0, sizeof(*rq));
        mr_buf_init(&rq->url, 0);
        return mr_err_set(err, MR_EINVAL, "query_prepared: empty");
    }
    rc = mr_call_build(rq, m->query_prepared, m, "00", "msg", err);
    if (rc == MR_ETOOBIG)
        return mr_err_set(err, rc, "query_prepared: url too long");
    return rc;
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
        d->interval = mr_backoff_msg_base(m);
        break;
    case MR_RESULT_FAILURE:
        d->action = MR_QUERY_FAIL;
        d->next_cron_ms = m->next_cron_ms;
        d->interval = m->next_cron_interval;
        break;
    default:
        d->action = MR_QUERY_RETRY;
        mr_backoff_schedule(m, r, false, now_ms, rng, &d->next_cron_ms, &d->interval);
        if (mr_backoff_should_park(m, r, m->query_attempts + 1))
            d->action = MR_QUERY_PARK;
        break;
    }
}

enum mr_result mr_query_answer(long status, const char *error, const char *body, size_t len,
                               struct mr_buf *text)
{
    enum mr_result res = mr_result_classify(status, body, len, mr_config.strict_query_prepared);

    if (res != MR_RESULT_SUCCESS)
        mr_call_text(text, "query_prepared", status, error, body, len);
    return res;
}

void mr_query_conclude(const struct mr_msg *m, enum mr_result r, const char *text, int64_t now_ms,
                       uint64_t *rng, struct mr_query_decision *d)
{
    char trace[33];

    mr_metrics_backcheck(r);
    mr_query_decide(m, r, now_ms, rng, d);
    if (r != MR_RESULT_SUCCESS)
        mr_log(r == MR_RESULT_ONGOING ? MR_LOG_INFO : MR_LOG_WARN, "back-check", "gid", m->gid,
               "outcome", mr_result_name(r), "error", text, MR_TRACE_LOG(m, trace), NULL);
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
        if (d->result == MR_RESULT_ERROR) {
            int rc = mr_store_msg_query_failed(s, m->gid, now_ms, err);

            if (rc != 0)
                return rc;
        }
        return mr_store_msg_release(s, m->gid, owner, d->next_cron_ms, d->interval, detail, now_ms,
                                    err);
    case MR_QUERY_WAIT:
        break;
    case MR_QUERY_PARK: {
        int rc = mr_store_msg_query_failed(s, m->gid, now_ms, err);

        /* the result text first: the lease (and so the release) ends with the move */
        if (rc == 0)
            rc = mr_store_msg_release(s, m->gid, owner, d->next_cron_ms, d->interval, detail,
                                      now_ms, err);
        if (rc == 0)
            rc = mr_store_msg_transition(s, m->gid, MR_MSG_PREPARED, MR_MSG_PARKED, now_ms, -1, 0,
                                         err);
        return rc;
    }
    }
    return mr_err_set(err, MR_EINVAL, "query decision: unknown action %d", (int)d->action);
}

/* changed_meanwhile - whether store error @rc says the message is not as the pass saw it. */
static bool changed_meanwhile(int rc)
{
    return rc == MR_ECONFLICT || rc == MR_ENOENT || rc == MR_EINVAL;
}

int mr_query_write(struct mr_store *s, const struct mr_msg *m, const char *owner,
                   struct mr_query_decision *d, const char *detail, int64_t now_ms,
                   struct mr_err *err)
{
    int rc;

    if (d->action == MR_QUERY_WAIT)
        d->action = MR_QUERY_SUBMIT; /* a replay of the transaction: decided afresh */
    rc = mr_query_apply(s, m, owner, d, detail, now_ms, err);
    if (rc == 0 && d->action == MR_QUERY_SUBMIT && m->ordering_key != NULL &&
        m->ordering_key[0] != '\0') {
        /* committed by this back-check: it takes its place in its key's order now */
        int64_t pos;
        bool head;

        rc = mr_store_order_place(s, m->gid, m->ordering_key, &pos, &head, err);
        if (rc == 0 && !head)
            d->action = MR_QUERY_WAIT;
        return rc;
    }
    if (!changed_meanwhile(rc))
        return rc;
    /* an abort or a submit won the race: end our lease so the message's real state is
       handled at once (a no-op when it is final) */
    mr_log(MR_LOG_INFO, "message changed during its back-check", "gid", m->gid, "error", err->msg,
           NULL);
    d->action = MR_QUERY_FAIL; /* anything but SUBMIT: do not deliver */
    return mr_store_msg_release(s, m->gid, owner, now_ms, -1, NULL, now_ms, err);
}
