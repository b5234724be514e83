/* SPDX-License-Identifier: MIT */
/*
 * prepare_writer.c - the intake's group-commit writer and the state rules.
 *
 * One thread owns one store connection. HTTP threads queue requests (bounded:
 * a full queue is a 503, never growth); the writer takes everything queued, up
 * to mr_config.max_batch, applies each request's state rule inside ONE
 * transaction, commits, and only then answers: a 200 always means committed.
 * If a batch fails in the store, it is rolled back and replayed one request per
 * transaction, so one bad request cannot fail its neighbours.
 *
 * Submits with wait_result stay parked after the commit until the relay
 * reports a pass over their gid (mr_writer_pass_done) or their deadline ends.
 * This file never delivers anything and never calls relay/ or query/.
 */
#include "prepare/prepare_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"

struct mr_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct mr_req *head; /* queued, oldest first (mu) */
    struct mr_req *tail;
    int queued;
    bool stopping;
    struct mr_req *waiters; /* committed submits waiting for a pass (mu) */
    struct mr_store *store; /* writer thread only */
    mr_prepare_wake_fn wake;
    void *wake_arg;
    void (*resume)(void *conn);
};

/* A request whose answer waits for a relay pass carries this status until then. */
#define WAITING 0

static const char not_found_fmt[] = "no TransGlobal with gid: %s found";

/* store_failure - answer @r for a store error @rc. */
static void store_failure(struct mr_req *r, int rc, const struct mr_err *err)
{
    char msg[320];

    snprintf(msg, sizeof(msg), "store: %s", err->msg[0] ? err->msg : mr_strerror(rc));
    mr_reply_envelope(&r->answer, rc == MR_EUNAVAIL || rc == MR_EBUSY ? 503 : 500, msg);
}

/* conflict - 409 "current status '<s>', cannot <what>. FAILURE" as DTM words it. */
static void conflict(struct mr_req *r, const char *fmt, int state)
{
    char msg[200];

    snprintf(msg, sizeof(msg), fmt, mr_msg_state_name(state));
    mr_reply_envelope(&r->answer, 409, msg);
}

static void not_found(struct mr_req *r)
{
    char msg[200];

    snprintf(msg, sizeof(msg), not_found_fmt, r->gid);
    mr_reply_envelope(&r->answer, 500, msg);
}

static int base_interval(const struct mr_msg *m)
{
    return mr_backoff_base(m->retry_interval, m->timeout_to_fail, mr_config.retry_interval);
}

/* wait_deadline - how long a wait_result submit may wait for its pass. */
static int64_t wait_deadline(const struct mr_msg *m, size_t nsteps)
{
    int timeout = m->request_timeout ? m->request_timeout : mr_config.request_timeout;

    return mr_mono_ms() + ((int64_t)timeout * (int64_t)(nsteps + 1) + 5) * 1000;
}

/* after_submit - the answer of a committed submit: 200, or park it for its pass. */
static void after_submit(struct mr_req *r, size_t nsteps, int64_t due_ms, int64_t now)
{
    if (!r->msg->wait_result) {
        mr_reply_envelope(&r->answer, 200, NULL);
    } else if (due_ms > now) {
        /* a delay is pending: the pass cannot come within this request */
        mr_reply_envelope(&r->answer, 409, "wait result not return success: FAILURE");
    } else {
        r->answer.status = WAITING;
        r->wait_deadline_ms = wait_deadline(r->msg, nsteps);
    }
}

/* insert_new - store @r->msg as a new message in @state. */
static int insert_new(struct mr_writer *w, struct mr_req *r, int state, int64_t now,
                      struct mr_err *err)
{
    struct mr_msg *m = r->msg;
    size_t i;

    m->state = state;
    m->create_ms = now;
    m->update_ms = now;
    m->next_cron_interval = base_interval(m);
    if (state == MR_MSG_PREPARED) {
        int ttf = m->timeout_to_fail ? m->timeout_to_fail : mr_config.timeout_to_fail;

        m->next_cron_ms = now + (int64_t)ttf * 1000;
    } else {
        m->next_cron_ms = now + (int64_t)m->delay * 1000;
    }
    for (i = 0; i < m->nsteps; i++) {
        m->steps[i].create_ms = now;
        m->steps[i].update_ms = now;
    }
    return mr_store_msg_insert(w->store, m, err);
}

/* apply_prepare - none -> prepared; prepared -> unchanged (first data kept); else 409. */
static int apply_prepare(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur,
                         int64_t now, struct mr_err *err)
{
    int rc;

    if (cur == NULL) {
        rc = insert_new(w, r, MR_MSG_PREPARED, now, err);
        if (rc == 0) {
            mr_metrics_transition(MR_MSG_NONE, MR_MSG_PREPARED);
            mr_reply_envelope(&r->answer, 200, NULL);
        }
        return rc;
    }
    if (cur->state == MR_MSG_PREPARED)
        mr_reply_envelope(&r->answer, 200, NULL);
    else
        conflict(r, "current status '%s', cannot prepare. FAILURE", cur->state);
    return 0;
}

/*
 * apply_submit - none -> submitted; prepared -> submitted (stored steps kept);
 * submitted -> due now again, so steps not yet succeeded are retried; else 409.
 */
static int apply_submit(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur,
                        int64_t now, bool *woke, struct mr_err *err)
{
    int64_t due;
    int rc;

    if (cur == NULL && r->msg->nsteps == 0) {
        /* only a prepared message may be submitted without its steps */
        mr_reply_envelope(&r->answer, 400, "steps: must not be empty");
        return 0;
    }
    if (cur == NULL) {
        rc = insert_new(w, r, MR_MSG_SUBMITTED, now, err);
        if (rc == 0) {
            mr_metrics_transition(MR_MSG_NONE, MR_MSG_SUBMITTED);
            after_submit(r, r->msg->nsteps, r->msg->next_cron_ms, now);
            *woke = true;
        }
        return rc;
    }
    switch (cur->state) {
    case MR_MSG_PREPARED:
        due = cur->create_ms + (int64_t)r->msg->delay * 1000;
        if (due < now)
            due = now;
        rc = mr_store_msg_transition(w->store, r->gid, MR_MSG_PREPARED, MR_MSG_SUBMITTED, now, due,
                                     cur->next_cron_interval, err);
        break;
    case MR_MSG_SUBMITTED:
        due = now;
        rc = mr_store_msg_schedule(w->store, r->gid, due, -1, now, err);
        break;
    default:
        conflict(r, "current status '%s', cannot sumbmit. FAILURE", cur->state);
        return 0;
    }
    if (rc == MR_ECONFLICT || rc == MR_ENOENT) {
        /* cannot happen inside our transaction; say so rather than guess */
        mr_reply_envelope(&r->answer, 500, "store: message changed during submit, retry");
        return 0;
    }
    if (rc == 0) {
        after_submit(r, cur->nsteps ? cur->nsteps : 10, due,
                     now); /* steps not loaded: a fair guess */
        *woke = true;
    }
    return rc;
}

/* apply_abort - prepared -> failed; else 409; unknown -> 500 as DTM answers. */
static int apply_abort(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur, int64_t now,
                       struct mr_err *err)
{
    int rc;

    if (cur == NULL) {
        not_found(r);
        return 0;
    }
    if (cur->state != MR_MSG_PREPARED) {
        conflict(r, "trans type: 'msg' current status '%s', cannot abort. FAILURE", cur->state);
        return 0;
    }
    rc = mr_store_msg_transition(w->store, r->gid, MR_MSG_PREPARED, MR_MSG_FAILED, now, -1, 0, err);
    if (rc == 0)
        mr_reply_envelope(&r->answer, 200, NULL);
    return rc;
}

/* apply_forcestop - any unfinished -> failed; finished -> 409. */
static int apply_forcestop(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur,
                           int64_t now, struct mr_err *err)
{
    int rc;

    if (cur == NULL) {
        not_found(r);
        return 0;
    }
    if (mr_msg_state_is_final(cur->state)) {
        conflict(r, "global transaction force stop error. status: %s. error: FAILURE", cur->state);
        return 0;
    }
    rc = mr_store_msg_transition(w->store, r->gid, cur->state, MR_MSG_FAILED, now, -1, 0, err);
    if (rc == 0)
        mr_reply_envelope(&r->answer, 200, NULL);
    return rc;
}

/* apply_reset - make an unfinished message due now ("retry now"). */
static int apply_reset(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur, int64_t now,
                       bool *woke, struct mr_err *err)
{
    int rc = 0;

    if (cur == NULL) {
        not_found(r);
        return 0;
    }
    if (!mr_msg_state_is_final(cur->state)) {
        rc = mr_store_msg_schedule(w->store, r->gid, now, -1, now, err);
        *woke = true;
    }
    if (rc == 0)
        mr_reply_envelope(&r->answer, 200, NULL);
    return rc;
}

/* apply_all - one page of the message list. */
static int apply_all(struct mr_writer *w, struct mr_req *r, struct mr_err *err)
{
    struct mr_msg **v = NULL;
    size_t n = 0;
    int rc;

    rc = mr_store_msg_list(w->store, &r->filter, &v, &n, err);
    if (rc == 0)
        mr_reply_json(&r->answer, mr_render_all(v, n, r->filter.limit));
    mr_store_msgs_free(v, n);
    return rc;
}

/*
 * apply - run @r's state rule inside the open transaction and set its answer.
 * Returns 0, or a store error after which the transaction must be rolled back.
 */
static int apply(struct mr_writer *w, struct mr_req *r, bool *woke, struct mr_err *err)
{
    struct mr_msg *cur = NULL;
    int64_t now = mr_now_ms();
    int rc;

    if (r->op == MR_OP_ALL)
        return apply_all(w, r, err);
    rc = mr_store_msg_get(w->store, r->gid, r->op == MR_OP_QUERY, &cur, err);
    if (rc != 0)
        return rc;
    switch (r->op) {
    case MR_OP_PREPARE:
        rc = apply_prepare(w, r, cur, now, err);
        break;
    case MR_OP_SUBMIT:
        rc = apply_submit(w, r, cur, now, woke, err);
        break;
    case MR_OP_ABORT:
        rc = apply_abort(w, r, cur, now, err);
        break;
    case MR_OP_FORCESTOP:
        rc = apply_forcestop(w, r, cur, now, err);
        break;
    case MR_OP_RESET:
        rc = apply_reset(w, r, cur, now, woke, err);
        break;
    case MR_OP_QUERY:
        mr_reply_json(&r->answer, mr_render_query(cur));
        break;
    case MR_OP_ALL:
        break;
    }
    mr_msg_free(cur);
    return rc;
}

/* park - put the committed submits that wait for a pass on the waiter list. */
static void park(struct mr_writer *w, struct mr_req **batch, size_t n)
{
    size_t i;

    pthread_mutex_lock(&w->mu);
    for (i = 0; i < n; i++) {
        if (batch[i] != NULL && batch[i]->answer.status == WAITING) {
            batch[i]->next = w->waiters;
            w->waiters = batch[i];
            batch[i] = NULL; /* the waiter list owns it now */
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* unpark - take back the waiters among @batch (their commit failed). */
static void unpark(struct mr_writer *w, struct mr_req **batch, size_t n)
{
    struct mr_req **pp;
    size_t i;

    pthread_mutex_lock(&w->mu);
    for (i = 0; i < n; i++) {
        for (pp = &w->waiters; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == batch[i]) {
                *pp = batch[i]->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/*
 * run_txn_once - apply @n requests in one transaction. Waiting submits are parked
 * before the commit: the relay cannot see the message before it, and must
 * find the waiter as soon as it can. Returns 0 or the store error.
 */
static int run_txn_once(struct mr_writer *w, struct mr_req **batch, size_t n, bool *woke,
                        struct mr_err *err)
{
    struct mr_req *waiting[n > 0 ? n : 1];
    size_t nwait = 0;
    size_t i;
    int rc;

    rc = mr_store_begin(w->store, err);
    for (i = 0; rc == 0 && i < n; i++)
        rc = apply(w, batch[i], woke, err);
    if (rc != 0) {
        mr_store_rollback(w->store);
        return rc;
    }
    for (i = 0; i < n; i++) {
        if (batch[i]->answer.status == WAITING)
            waiting[nwait++] = batch[i];
    }
    park(w, waiting, nwait);
    rc = mr_store_commit(w->store, err);
    if (rc != 0) {
        unpark(w, waiting, nwait);
        return rc;
    }
    return 0;
}

/* How often a transaction is tried when the store says "try again", and the first pause. */
#define TXN_TRIES      3
#define TXN_BACKOFF_MS 20

/* store_retryable - whether store error @rc asks for the whole transaction again. */
static bool store_retryable(int rc)
{
    return rc == MR_EBUSY || rc == MR_EUNAVAIL;
}

/*
 * run_txn - run_txn_once(), tried again (TXN_TRIES in all, pausing 20 then 40
 * ms) when the store lost the transaction: a deadlock or lock-wait timeout
 * (MR_EBUSY), or a lost connection (MR_EUNAVAIL; the store connects again at
 * the next begin). Replaying is safe: apply() re-reads every message and sets
 * each answer afresh, and a commit whose outcome was unknown is seen by the
 * re-read (a repeated prepare or submit is answered as DTM answers a repeat).
 */
static int run_txn(struct mr_writer *w, struct mr_req **batch, size_t n, bool *woke,
                   struct mr_err *err)
{
    int tries = 1;
    int rc;

    for (;;) {
        rc = run_txn_once(w, batch, n, woke, err);
        if (!store_retryable(rc) || tries == TXN_TRIES)
            return rc;
        mr_log(MR_LOG_WARN, "store transaction lost, trying again", "error", err->msg, NULL);
        usleep((useconds_t)(TXN_BACKOFF_MS << (tries - 1)) * 1000);
        tries++;
        mr_err_clear(err);
    }
}

/* answer - hand @r back to its connection. @r belongs to the HTTP side afterwards. */
static void answer(struct mr_writer *w, struct mr_req *r)
{
    w->resume(r->conn);
}

/* run_batch - group commit @n requests; on a store error, replay them one by one. */
static void run_batch(struct mr_writer *w, struct mr_req **batch, size_t n)
{
    struct mr_err err = MR_ERR_INIT;
    bool woke = false;
    size_t i;
    int rc;

    rc = run_txn(w, batch, n, &woke, &err);
    /* one by one isolates a bad request; a store that is down or deadlocking would only fail
       each of them in turn, n times slower, so those answer 503 at once */
    if (rc != 0 && n > 1 && !store_retryable(rc)) {
        mr_log(MR_LOG_WARN, "group commit failed, replaying one by one", "error", err.msg, NULL);
        woke = false;
        for (i = 0; i < n; i++) {
            mr_err_clear(&err);
            rc = run_txn(w, &batch[i], 1, &woke, &err);
            if (rc != 0)
                store_failure(batch[i], rc, &err);
        }
    } else if (rc != 0) {
        mr_log(MR_LOG_ERROR, "store write failed", "error", err.msg, NULL);
        for (i = 0; i < n; i++)
            store_failure(batch[i], rc, &err);
    }
    if (woke && w->wake != NULL)
        w->wake(w->wake_arg);
    for (i = 0; i < n; i++) {
        if (batch[i]->answer.status != WAITING)
            answer(w, batch[i]);
    }
}

/*
 * detach_waiters - take off the waiter list, and return, the waiting submits
 * for @gid, or when @gid is NULL those whose deadline is at or before @deadline.
 */
static struct mr_req *detach_waiters(struct mr_writer *w, const char *gid, int64_t deadline)
{
    struct mr_req *done = NULL;
    struct mr_req **pp;
    struct mr_req *r;

    pthread_mutex_lock(&w->mu);
    pp = &w->waiters;
    while (*pp != NULL) {
        r = *pp;
        if (gid != NULL ? strcmp(r->gid, gid) == 0 : r->wait_deadline_ms <= deadline) {
            *pp = r->next;
            r->next = done;
            done = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return done;
}

/* expire_waiters - answer waiting submits whose deadline passed (or all, when stopping). */
static void expire_waiters(struct mr_writer *w, bool all)
{
    struct mr_req *done = detach_waiters(w, NULL, all ? INT64_MAX : mr_mono_ms());
    struct mr_req *r;

    while (done != NULL) {
        r = done;
        done = r->next;
        mr_reply_envelope(&r->answer, 409, "wait result not return success: FAILURE");
        answer(w, r);
    }
}

static void *writer_main(void *arg)
{
    struct mr_writer *w = arg;
    size_t max = (size_t)(mr_config.max_batch > 0 ? mr_config.max_batch : 1);
    struct mr_req **batch = mr_xcalloc(max, sizeof(*batch));

    for (;;) {
        size_t n = 0;
        bool stop;

        pthread_mutex_lock(&w->mu);
        if (w->head == NULL && !w->stopping) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        while (w->head != NULL && n < max) {
            batch[n] = w->head;
            w->head = w->head->next;
            batch[n]->next = NULL;
            n++;
        }
        if (w->head == NULL)
            w->tail = NULL;
        w->queued -= (int)n;
        stop = w->stopping && w->head == NULL;
        pthread_mutex_unlock(&w->mu);

        if (n > 0)
            run_batch(w, batch, n);
        expire_waiters(w, false);
        if (stop && n == 0)
            break;
    }
    expire_waiters(w, true);
    free(batch);
    return NULL;
}

int mr_writer_start(mr_prepare_wake_fn wake, void *wake_arg, void (*resume)(void *conn),
                    struct mr_writer **out, struct mr_err *err)
{
    struct mr_writer *w = mr_xcalloc(1, sizeof(*w));
    int rc;

    rc = mr_store_open(mr_config.store, &w->store, err);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->wake = wake;
    w->wake_arg = wake_arg;
    w->resume = resume;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        mr_store_close(w->store);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return mr_err_set(err, MR_ESYS, "cannot start the intake writer thread");
    }
    *out = w;
    return 0;
}

int mr_writer_submit(struct mr_writer *w, struct mr_req *r)
{
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->queued >= mr_config.max_queue) {
        rc = MR_EBUSY;
    } else {
        r->next = NULL;
        if (w->tail != NULL)
            w->tail->next = r;
        else
            w->head = r;
        w->tail = r;
        w->queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void mr_writer_pass_done(struct mr_writer *w, const char *gid, enum mr_result outcome,
                         const char *detail)
{
    struct mr_req *done = detach_waiters(w, gid, 0);
    struct mr_req *r;

    while (done != NULL) {
        char msg[400];

        r = done;
        done = r->next;
        switch (outcome) {
        case MR_RESULT_SUCCESS:
            mr_reply_envelope(&r->answer, 200, NULL);
            break;
        case MR_RESULT_FAILURE:
            snprintf(msg, sizeof(msg), "a step answered FAILURE; msgrelay retries it: %s",
                     detail ? detail : "");
            mr_reply_envelope(&r->answer, 409, msg);
            break;
        case MR_RESULT_ONGOING:
            mr_reply_envelope(&r->answer, 409, "wait result not return success: FAILURE");
            break;
        default:
            snprintf(msg, sizeof(msg), "%s", detail && detail[0] ? detail : "step call failed");
            mr_reply_envelope(&r->answer, 500, msg);
            break;
        }
        answer(w, r);
    }
}

void mr_writer_stop(struct mr_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    mr_store_close(w->store);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
