/* SPDX-License-Identifier: MIT */
/*
 * relay_sched.c - the relay thread: claims due messages under a lease and
 * runs one pass over each: its back-check (when and what is query/'s, the
 * call is made here) or its step deliveries (calls built by common/call.h,
 * made by relay_http.c for http(s):// and relay_kafka.c for kafka://). The
 * results of a loop turn go to relay_flush.c, which writes them in one store
 * transaction (group commit) and hands the passes back.
 *
 * Must not: hold a message without its lease, start a call that could end
 * after it, hold one message in two passes, write a result before the call
 * it reports has ended, or call the pass callback before the commit; nor
 * decide a back-check (query/ does), build a call's URL or headers itself
 * (common/call.h), or write results outside relay_flush.c.
 * Delivery is at-least-once: when in doubt (a commit that failed for good, a
 * pass cut short by shutdown, a lease that ended before its results could be
 * written) the work is dropped from memory, its lease lapses or is ended, and
 * the message is tried again. Results a commit could not write because the
 * store was unreachable are kept (with their passes, counted against
 * --max-inflight) and written when it answers again, while their leases last.
 *
 * Identity: the relay registers its relay id at start (relay_identity.c) and
 * renews the heartbeat every third of --heartbeat; it claims and writes only
 * while that registration is known to hold. A relay whose id another process
 * took over stops claiming and writing for good, and says so.
 *
 * Thread: one relay thread owns the store handle, both sinks and every
 * pass; other threads only set the atomic flags through mr_relay_wake() and
 * mr_relay_stop(). Errors: start-up failures are returned; everything after
 * that (store, network) is logged and retried, never fatal.
 */
#include "relay/relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/call.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/kafka_url.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/model.h"
#include "common/url.h"
#include "query/query.h"
#include "relay/relay_alert.h"
#include "relay/relay_int.h"
#include "store/store.h"

/* call index of a back-check (steps use their index) */
#define BACKCHECK SIZE_MAX

/* A pass does not start another call unless the call could end this long before the lease. */
#define LEASE_MARGIN_MS 1000

/* A call given back for want of a connection is due again this soon (ms), at the latest. */
#define NO_SLOT_RETRY_MS 1000

/* While the store keeps failing, how often that is logged again (the first failure is at once). */
#define OUTAGE_LOG_EVERY_MS 60000

/* How often the "waiting" gauge is refreshed from the store. */
#define GAUGE_EVERY_MS 5000

/* How long the relay holds nothing before it gives memory back (idle_turn), ms. */
#define IDLE_SHED_MS 2000

/* ---- passes ---- */

/* gid_bucket - the by_gid chain of @gid (FNV-1a). */
static struct mr_relay_pass **gid_bucket(const struct mr_relay *r, const char *gid)
{
    uint64_t h = 1469598103934665603ULL;

    while (*gid != '\0') {
        h ^= (unsigned char)*gid++;
        h *= 1099511628211ULL;
    }
    return &r->by_gid[h & (r->nby_gid - 1)];
}

/* pass_find - the pass over the message @gid, or NULL. */
static struct mr_relay_pass *pass_find(const struct mr_relay *r, const char *gid)
{
    struct mr_relay_pass *p;

    for (p = *gid_bucket(r, gid); p != NULL; p = p->id_next) {
        if (strcmp(p->msg->gid, gid) == 0)
            return p;
    }
    return NULL;
}

/* pass_new - a pass over @msg (taken) under a lease until @lease_until_ms. */
static struct mr_relay_pass *pass_new(struct mr_relay *r, struct mr_msg *msg,
                                      int64_t lease_until_ms)
{
    struct mr_relay_pass *p = mr_xcalloc(1, sizeof(*p));

    p->msg = msg;
    p->lease_until_ms = lease_until_ms;
    p->outcome = MR_RESULT_SUCCESS;
    mr_buf_init(&p->detail, 1024);
    p->next = r->passes;
    if (r->passes != NULL)
        r->passes->prev = p;
    r->passes = p;
    r->npasses++;
    r->worked = true;
    p->id_next = *gid_bucket(r, msg->gid);
    *gid_bucket(r, msg->gid) = p;
    return p;
}

/* mr_relay_recs_clear - forget the pending call results of @p. */
void mr_relay_recs_clear(struct mr_relay_pass *p)
{
    size_t i;

    for (i = 0; i < p->nrecs; i++)
        free(p->recs[i].error);
    p->nrecs = 0;
}

/* mr_relay_pass_free - unlink and free @p: no call in flight, not in the dirty list. */
void mr_relay_pass_free(struct mr_relay *r, struct mr_relay_pass *p)
{
    struct mr_relay_pass **link = gid_bucket(r, p->msg->gid);

    while (*link != p)
        link = &(*link)->id_next;
    *link = p->id_next;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        r->passes = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    r->npasses--;
    mr_relay_recs_clear(p);
    free(p->recs);
    mr_buf_release(&p->detail);
    mr_msg_free(p->msg);
    free(p);
}

/* mark_dirty - put @p in the list of the next commit. */
static void mark_dirty(struct mr_relay *r, struct mr_relay_pass *p)
{
    if (p->dirty)
        return;
    p->dirty = true;
    p->dirty_next = NULL;
    *r->dirty_tail = p;
    r->dirty_tail = &p->dirty_next;
}

/* record - queue the result of one call of step @idx for the next commit. @error is borrowed. */
static void record(struct mr_relay *r, struct mr_relay_pass *p, size_t idx, bool success,
                   const char *error)
{
    struct mr_relay_rec *rc;

    MR_ALLOC_GROW(p->recs, p->nrecs + 1, p->caprecs);
    rc = &p->recs[p->nrecs++];
    rc->step = idx;
    rc->success = success;
    /* stored and shown: a URL's credentials never reach the store (libcurl texts, bodies) */
    rc->error = success ? NULL : mr_url_masked(error);
    rc->now_ms = mr_now_ms();
    if (!success)
        p->msg->steps[idx].attempts++; /* as the record will store it (retry limit) */
    mark_dirty(r, p);
}

/* note_result - keep the first non-success of the pass and its text. */
static void note_result(struct mr_relay_pass *p, enum mr_result res, const char *text)
{
    char *masked;

    if (res == MR_RESULT_SUCCESS || p->outcome != MR_RESULT_SUCCESS)
        return;
    p->outcome = res;
    mr_buf_reset(&p->detail);
    masked = mr_url_masked(text);
    mr_buf_add(&p->detail, masked, strlen(masked) < 1000 ? strlen(masked) : 1000);
    free(masked);
}

/* finish - the pass is over; its final write goes into the next commit. */
static void finish(struct mr_relay *r, struct mr_relay_pass *p, enum mr_relay_fin fin,
                   int64_t next_cron_ms, int interval)
{
    p->fin = fin;
    p->next_cron_ms = next_cron_ms;
    p->interval = interval;
    p->phase = PH_DONE;
    mark_dirty(r, p);
}

/* ---- steps ---- */

/* is_http - whether the HTTP sink serves @url. */
static bool is_http(const char *url)
{
    return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* calls_inflight - calls and records of every pass in flight, in both sinks. */
static size_t calls_inflight(const struct mr_relay *r)
{
    size_t n = mr_relay_http_inflight(r->http);

    if (r->kafka != NULL)
        n += mr_relay_kafka_inflight(r->kafka);
    return n;
}

/* step_timeout_ms - the longest the call of step @idx of @m may take, in its sink. */
static long step_timeout_ms(const struct mr_relay *r, const struct mr_msg *m, size_t idx)
{
    if (r->kafka != NULL && mr_kafka_url_is(m->steps[idx].url))
        return mr_relay_kafka_timeout_ms(r->kafka);
    return mr_call_timeout_ms(m);
}

/*
 * step_result - take in the classified result @res of step @idx, whichever
 * sink made the call (@text: its error, unused on success): count it, queue
 * its record, keep the pass's first non-success, and stop a sequential pass.
 */
static void step_result(struct mr_relay *r, struct mr_relay_pass *p, size_t idx, enum mr_result res,
                        const char *text)
{
    mr_metrics_step(res, p->msg->steps[idx].branch_id);
    if (res == MR_RESULT_SUCCESS) {
        mr_metrics_delivered(mr_kafka_url_is(p->msg->steps[idx].url),
                             mr_now_ms() - p->msg->create_ms - (int64_t)p->msg->delay * 1000);
        p->msg->steps[idx].state = MR_STEP_SUCCEED;
        record(r, p, idx, true, NULL);
        return;
    }
    record(r, p, idx, false, text);
    note_result(p, res, text);
    /* record() has counted this call in the step's attempts: alert once when they reach
       --alert-after */
    mr_alert_attempts(p->msg, p->msg->steps[idx].branch_id, p->msg->steps[idx].attempts, text);
    if (!p->park && mr_backoff_should_park(p->msg, res, p->msg->steps[idx].attempts)) {
        p->park = true;
        p->park_idx = idx;
        p->stop = true; /* a concurrent pass starts nothing more either */
    }
    if (!p->msg->concurrent)
        p->stop = true;
}

/* step_failed_early - step @idx could not even be called: record it like a failed call. */
static void step_failed_early(struct mr_relay *r, struct mr_relay_pass *p, size_t idx,
                              const char *why)
{
    struct mr_buf text = MR_BUF_INIT(2048);

    mr_buf_addf(&text, "step %s: %s", p->msg->steps[idx].branch_id, why);
    step_result(r, p, idx, MR_RESULT_ERROR, text.p);
    mr_buf_release(&text);
}

/* start_kafka_step - produce the record of kafka:// step @idx of @p. */
static void start_kafka_step(struct mr_relay *r, struct mr_relay_pass *p, size_t idx)
{
    struct mr_msg *m = p->msg;
    struct mr_step *st = &m->steps[idx];
    struct mr_relay_kafka_rec rec;
    struct mr_err err = MR_ERR_INIT;

    if (r->kafka == NULL) {
        /* stored by a relay that had brokers configured; retried until one is again */
        step_failed_early(r, p, idx, "kafka destinations are not configured on this relay");
        return;
    }
    rec.url = st->url;
    rec.gid = m->gid;
    rec.ordering_key = m->ordering_key;
    rec.branch_id = st->branch_id;
    rec.payload = st->payload;
    rec.payload_len = st->payload_len;
    rec.branch_headers = m->branch_headers;
    rec.traceparent = m->traceparent;
    rec.tracestate = m->tracestate;
    if (mr_relay_kafka_produce(r->kafka, &rec, p, idx, &err) != 0) {
        step_failed_early(r, p, idx, err.msg);
        return;
    }
    p->calls_out++;
}

/*
 * slot_wait_ms - how long a call of @p with timeout @timeout_ms may wait for
 * a connection: sent at the end of that wait, it still ends within the lease.
 */
static long slot_wait_ms(const struct mr_relay_pass *p, long timeout_ms)
{
    int64_t slack = p->lease_until_ms - mr_now_ms() - timeout_ms - LEASE_MARGIN_MS;

    return slack < 1 ? 1 : slack < timeout_ms ? (long)slack : timeout_ms;
}

/* start_step - start the call of step @idx of @p. */
static void start_step(struct mr_relay *r, struct mr_relay_pass *p, size_t idx)
{
    struct mr_msg *m = p->msg;
    struct mr_step *st = &m->steps[idx];
    struct mr_call call;
    struct mr_relay_http_req rq;
    struct mr_err err = MR_ERR_INIT;
    int rc;

    if (st->url[0] == '\0') {
        /* an empty action: a step that succeeds without a call, as in DTM */
        step_result(r, p, idx, MR_RESULT_SUCCESS, NULL);
        return;
    }
    p->calls_made++;
    if (mr_kafka_url_is(st->url)) {
        start_kafka_step(r, p, idx);
        return;
    }
    if (!is_http(st->url)) {
        step_failed_early(r, p, idx, "no sink for this destination");
        return;
    }
    rc = mr_call_build(&call, st->url, m, st->branch_id, "action", &err);
    if (rc == 0) {
        memset(&rq, 0, sizeof(rq));
        rq.url = call.url.p;
        /* DTM's client POSTs a payload and GETs without one */
        rq.post = st->payload_len > 0;
        rq.body = st->payload;
        rq.body_len = st->payload_len;
        rq.headers = call.headers;
        rq.nheaders = call.nheaders;
        rq.timeout_ms = call.timeout_ms;
        rq.wait_ms = slot_wait_ms(p, call.timeout_ms);
        rc = mr_relay_http_send(r->http, &rq, p, idx, &err);
        mr_call_release(&call);
    }
    if (rc != 0) {
        step_failed_early(r, p, idx, err.msg);
        return;
    }
    p->calls_out++;
}

/* all_steps_succeed - whether every step of @m is succeed (in memory). */
static bool all_steps_succeed(const struct mr_msg *m)
{
    size_t i;

    for (i = 0; i < m->nsteps; i++) {
        if (m->steps[i].state != MR_STEP_SUCCEED)
            return false;
    }
    return true;
}

/* log_pass - one line on a pass over a submitted message that did not finish it. */
static void log_pass(const struct mr_relay_pass *p, int64_t next_ms)
{
    char when[40];
    char trace[33];

    mr_time_rfc3339(next_ms, when, sizeof(when));
    mr_log(p->outcome == MR_RESULT_ONGOING ? MR_LOG_INFO : MR_LOG_WARN, "delivery not finished",
           "gid", p->msg->gid, "outcome", mr_result_name(p->outcome), "error",
           p->detail.len ? p->detail.p : NULL, "next", when, MR_TRACE_LOG(p->msg, trace), NULL);
}

/* steps_maybe_finish - end the delivery pass when nothing is in flight or left to start. */
static void steps_maybe_finish(struct mr_relay *r, struct mr_relay_pass *p)
{
    struct mr_msg *m = p->msg;
    char trace[33];
    int64_t now;
    int64_t next;
    int interval;

    if (p->phase != PH_STEPS || p->calls_out > 0)
        return;
    if (!p->stop && p->cursor < m->nsteps)
        return;
    now = mr_now_ms();
    if (p->park) {
        finish(r, p, FIN_PARK, -1, 0); /* relay_flush.c parks it in the group commit */
        return;
    }
    if (p->outcome != MR_RESULT_SUCCESS) {
        mr_backoff_schedule(m, p->outcome, true, now, &r->rng, &next, &interval);
        log_pass(p, next);
        finish(r, p, FIN_RELEASE, next, interval);
        return;
    }
    if (all_steps_succeed(m)) {
        mr_log(MR_LOG_DEBUG, "message delivered", "gid", m->gid, MR_TRACE_LOG(m, trace), NULL);
        finish(r, p, FIN_SUCCEED, -1, 0);
        return;
    }
    /* stopped early without a failure (lease or shutdown): take it up again at once */
    p->outcome = MR_RESULT_ONGOING;
    p->quiet = true;
    mr_buf_reset(&p->detail);
    mr_buf_adds(&p->detail, p->yield_why != NULL ? p->yield_why : "pass ended early");
    finish(r, p, FIN_RELEASE, p->yield_at_ms > now ? p->yield_at_ms : now, -1);
}

/*
 * mr_relay_pump - start what @p may start now: sequentially the next prepared step once
 * the previous one succeeded, or with concurrent every prepared step, within
 * the call budget (max_inflight calls in all). Then finish the pass if it is over.
 */
void mr_relay_pump(struct mr_relay *r, struct mr_relay_pass *p)
{
    struct mr_msg *m = p->msg;
    size_t budget = mr_config.max_inflight > 0 ? (size_t)mr_config.max_inflight : 1;

    while (p->phase == PH_STEPS && !p->stop && p->cursor < m->nsteps) {
        if (m->steps[p->cursor].state != MR_STEP_PREPARED) {
            p->cursor++;
            continue;
        }
        /* sequential: one call at a time, and the next only after the last result is
           committed, so that a forceStop in between is seen (step_record refuses it) */
        if (!m->concurrent && (p->calls_out > 0 || p->dirty))
            break;
        if (atomic_load(&r->stop)) {
            p->stop = true;
            p->yield_why = "relay stopping";
            break;
        }
        if (atomic_load(&r->deposed)) {
            p->stop = true;
            p->yield_why = "relay id taken over";
            break;
        }
        /* no call outlives the lease (another relay may take the message over then), the
           first one neither: a message handed over late is released and claimed afresh */
        if (mr_now_ms() + step_timeout_ms(r, m, p->cursor) + LEASE_MARGIN_MS > p->lease_until_ms) {
            p->stop = true;
            p->yield_why = "pass reached the end of its lease";
            break;
        }
        if (calls_inflight(r) >= budget) {
            r->starved = true;
            break;
        }
        start_step(r, p, p->cursor++);
    }
    steps_maybe_finish(r, p);
}

/* mr_relay_start_submitted - begin delivering submitted message @p, unless its delay is pending. */
void mr_relay_start_submitted(struct mr_relay *r, struct mr_relay_pass *p)
{
    struct mr_msg *m = p->msg;
    int64_t due = m->create_ms + (int64_t)m->delay * 1000;

    p->notify = true;
    if (m->delay > 0 && mr_now_ms() < due) {
        p->outcome = MR_RESULT_ONGOING;
        p->quiet = true;
        mr_buf_reset(&p->detail);
        mr_buf_adds(&p->detail, "delay pending");
        finish(r, p, FIN_RELEASE, due, -1);
        return;
    }
    p->phase = PH_STEPS;
    p->cursor = 0;
    mr_relay_pump(r, p);
}

/* ---- back-check ---- */

/* backcheck_decided - queue the decision on back-check result @res (@text: its error, or NULL). */
static void backcheck_decided(struct mr_relay *r, struct mr_relay_pass *p, enum mr_result res,
                              const char *text)
{
    mr_query_conclude(p->msg, res, text, mr_now_ms(), &r->rng, &p->qd);
    if (res != MR_RESULT_SUCCESS)
        note_result(p, res, text != NULL ? text : mr_result_name(res));
    /* a back-check that errs counts toward its retry limit: alert at --alert-after */
    if (res == MR_RESULT_ERROR)
        mr_alert_attempts(p->msg, "00", p->msg->query_attempts + 1,
                          text != NULL ? text : mr_result_name(res));
    p->fin = FIN_QUERY;
    p->phase = p->qd.action == MR_QUERY_SUBMIT ? PH_SUBMITTING : PH_DONE;
    mark_dirty(r, p);
}

/* start_backcheck - prepared message @p: call query_prepared once it is due (query/). */
static void start_backcheck(struct mr_relay *r, struct mr_relay_pass *p)
{
    struct mr_msg *m = p->msg;
    struct mr_call rq;
    struct mr_relay_http_req hr;
    struct mr_err err = MR_ERR_INIT;
    int64_t at = 0;
    int rc;

    switch (mr_query_when(m, mr_now_ms(), p->lease_until_ms, LEASE_MARGIN_MS, &at)) {
    case MR_QUERY_LATER:
    case MR_QUERY_NO_TIME:
        finish(r, p, FIN_RELEASE, at, -1);
        return;
    case MR_QUERY_NO_CALL:
        backcheck_decided(r, p, MR_RESULT_SUCCESS, NULL);
        return;
    case MR_QUERY_CALL:
        break;
    }
    rc = mr_query_request_build(m, &rq, &err);
    if (rc == 0) {
        memset(&hr, 0, sizeof(hr));
        hr.url = rq.url.p;
        hr.post = false;
        hr.headers = rq.headers;
        hr.nheaders = rq.nheaders;
        hr.timeout_ms = rq.timeout_ms;
        hr.wait_ms = slot_wait_ms(p, rq.timeout_ms);
        rc = mr_relay_http_send(r->http, &hr, p, BACKCHECK, &err);
        mr_call_release(&rq);
    }
    if (rc != 0) {
        struct mr_buf text = MR_BUF_INIT(1024);

        mr_buf_addf(&text, "query_prepared: %s", err.msg);
        backcheck_decided(r, p, MR_RESULT_ERROR, text.p);
        mr_buf_release(&text);
        return;
    }
    p->phase = PH_CHECK;
    p->calls_out++;
}

/* ---- finished calls ---- */

/*
 * call_not_made - a sink did not make call @index of @p: its destination is
 * stalled (relay_http.c), unhealthy (@down, relay_health.c), or no
 * connection to it came free in time (@no_slot). Nothing was sent, so
 * nothing is recorded and no attempt counts: the pass ends, leaving its room
 * to messages for other destinations. Its message is due again after its
 * base retry interval (at most NO_SLOT_RETRY_MS when it only waited for a
 * connection); when the destination is unhealthy, after the longest back-off
 * (--max-retry-interval) instead, since the destination's return makes every
 * message waiting on it due at once: until then it waits in the store rather
 * than going round through claims.
 */
static void call_not_made(struct mr_relay *r, struct mr_relay_pass *p, size_t index, bool down,
                          bool no_slot)
{
    const struct mr_msg *m = p->msg;
    int64_t wait_ms = 1000 * (down && mr_config.max_retry_interval > mr_backoff_msg_base(m)
                                  ? mr_config.max_retry_interval
                                  : mr_backoff_msg_base(m));
    int64_t at;

    if (no_slot && wait_ms > NO_SLOT_RETRY_MS)
        wait_ms = NO_SLOT_RETRY_MS;
    at = mr_now_ms() + wait_ms;

    if (index == BACKCHECK) {
        finish(r, p, FIN_RELEASE, at, -1);
        return;
    }
    p->stop = true;
    p->yield_why = no_slot ? "no connection free in time: call not made"
                           : "destination stalled or unhealthy: call not made";
    if (p->yield_at_ms < at)
        p->yield_at_ms = at;
    mr_relay_pump(r, p);
}

/* on_call_done - take in the answer of call @c. */
static void on_call_done(struct mr_relay *r, struct mr_relay_call *c)
{
    struct mr_relay_pass *p = c->owner;
    struct mr_buf text = MR_BUF_INIT(2048);
    enum mr_result res;

    p->calls_out--;
    if (c->not_made) {
        call_not_made(r, p, c->index, c->down, c->no_slot);
        mr_buf_release(&text);
        return;
    }
    if (c->index == BACKCHECK) {
        res = mr_query_answer(c->status, c->error, c->body.p, c->body.len, &text);
        backcheck_decided(r, p, res, res != MR_RESULT_SUCCESS ? text.p : NULL);
    } else {
        res = mr_result_classify(c->status, c->body.p, c->body.len, false);
        if (res != MR_RESULT_SUCCESS) {
            struct mr_buf what = MR_BUF_INIT(256);

            mr_buf_addf(&what, "step %s", p->msg->steps[c->index].branch_id);
            mr_call_text(&text, what.p, c->status, c->error, c->body.p, c->body.len);
            mr_buf_release(&what);
        }
        step_result(r, p, c->index, res, text.p);
        mr_relay_pump(r, p);
    }
    mr_buf_release(&text);
}

/*
 * on_delivery_done - take in the delivery report of Kafka record @d: the
 * broker has it (success) or it was not taken in time (error, retried with
 * back-off like an HTTP transport error).
 */
static void on_delivery_done(struct mr_relay *r, struct mr_relay_delivery *d)
{
    struct mr_relay_pass *p = d->owner;
    struct mr_buf text = MR_BUF_INIT(2048);

    p->calls_out--;
    if (d->not_made) {
        call_not_made(r, p, d->index, true, false);
        mr_buf_release(&text);
        return;
    }
    if (!d->ok)
        mr_buf_addf(&text, "step %s: %s", p->msg->steps[d->index].branch_id, d->error);
    step_result(r, p, d->index, d->ok ? MR_RESULT_SUCCESS : MR_RESULT_ERROR, text.p);
    mr_buf_release(&text);
    mr_relay_pump(r, p);
}

/* reap - take in every finished call. */
static void reap(struct mr_relay *r)
{
    for (;;) {
        struct mr_relay_call *c = mr_relay_http_done(r->http);

        if (c == NULL)
            break;
        on_call_done(r, c);
        mr_relay_http_recycle(r->http, c);
    }
    if (r->kafka == NULL)
        return;
    mr_relay_kafka_poll(r->kafka);
    for (;;) {
        struct mr_relay_delivery *d = mr_relay_kafka_done(r->kafka);

        if (d == NULL)
            break;
        on_delivery_done(r, d);
        mr_relay_kafka_recycle(r->kafka, d);
    }
}

/* ---- claiming ---- */

/* start_pass - begin a pass over claimed message @m (taken). */
static void start_pass(struct mr_relay *r, struct mr_msg *m, int64_t lease_until_ms)
{
    struct mr_relay_pass *p = pass_new(r, m, lease_until_ms);

    if (m->state == MR_MSG_PREPARED) {
        start_backcheck(r, p);
    } else if (m->state == MR_MSG_SUBMITTED) {
        mr_relay_start_submitted(r, p);
    } else {
        /* the claim contract says this cannot happen; drop it and let the lease lapse */
        mr_log(MR_LOG_ERROR, "claimed a message in an unexpected state", "gid", m->gid, "state",
               mr_msg_state_name(m->state), NULL);
        mr_relay_pass_free(r, p);
    }
}

/*
 * held - whether a pass over @m's message is in memory already (a handed
 * message claimed first, or a claim that found this relay's own lease
 * lapsed): then @m (taken) is dropped and the live pass keeps the lease,
 * now until @lease_until_ms. A message is never called by two passes at once.
 */
static bool held(struct mr_relay *r, struct mr_msg *m, int64_t lease_until_ms)
{
    struct mr_relay_pass *p = pass_find(r, m->gid);

    if (p == NULL)
        return false;
    mr_log(MR_LOG_DEBUG, "message taken again while its pass runs; left to that pass", "gid",
           m->gid, NULL);
    if (lease_until_ms > p->lease_until_ms)
        p->lease_until_ms = lease_until_ms;
    mr_msg_free(m);
    return true;
}

/*
 * pass_room - how many more passes --max-inflight allows now: none while a
 * full set of calls waits for the outbound connections (more would only wait).
 */
static size_t pass_room(const struct mr_relay *r)
{
    size_t max = (size_t)mr_config.max_inflight;

    if (mr_relay_http_full(r->http))
        return 0;

    return max > r->npasses ? max - r->npasses : 0;
}

/*
 * take_handed - start the passes of handed messages, as many as there is room
 * for; the rest wait for the next turn.
 */
static void take_handed(struct mr_relay *r)
{
    size_t room = pass_room(r);
    struct mr_msg **v;
    size_t n;
    size_t i;

    pthread_mutex_lock(&r->in_mu);
    n = r->nin < room ? r->nin : room;
    if (n == 0) {
        pthread_mutex_unlock(&r->in_mu);
        return;
    }
    v = mr_xcalloc(n, sizeof(*v));
    memcpy(v, r->in, n * sizeof(*v));
    memmove(r->in, r->in + n, (r->nin - n) * sizeof(*v));
    r->nin -= n;
    pthread_mutex_unlock(&r->in_mu);
    for (i = 0; i < n; i++) {
        if (atomic_load(&r->deposed)) {
            /* leased under a name that is not ours any more: the lease lapses */
            mr_msg_free(v[i]);
            continue;
        }
        if (held(r, v[i], v[i]->lease_until_ms))
            continue;
        mr_metrics_pass(true);
        start_pass(r, v[i], v[i]->lease_until_ms);
    }
    free(v);
}

/*
 * mr_relay_store_failed - log a store call of @what ("claim", "write", "heartbeat")
 * that failed with @error: the first of a run at once, then once a minute with
 * the count, so a store that is down for an hour is not a line a second.
 */
void mr_relay_store_failed(struct mr_relay *r, const char *what, const char *error)
{
    int64_t mono = mr_mono_ms();
    char fails[32];

    if (r->outage_fails++ == 0) {
        r->outage_since = mono;
        r->outage_logged = mono;
        mr_log(MR_LOG_ERROR, "store unavailable", "during", what, "error", error, NULL);
        return;
    }
    if (mono - r->outage_logged < OUTAGE_LOG_EVERY_MS)
        return;
    r->outage_logged = mono;
    snprintf(fails, sizeof(fails), "%ld", r->outage_fails);
    mr_log(MR_LOG_ERROR, "store still unavailable", "during", what, "error", error, "failures",
           fails, NULL);
}

/* mr_relay_store_ok - a store call worked: say so after failures, and write at once. */
void mr_relay_store_ok(struct mr_relay *r)
{
    char secs[32];

    r->write_retry_at = 0; /* kept results go into the next flush, not after their pause */
    if (mr_now_ms() + LEASE_MARGIN_MS >= r->hb_until_ms)
        r->hb_next = 0; /* the registration is about to lapse: renew it in this turn */
    if (r->outage_fails == 0)
        return;
    snprintf(secs, sizeof(secs), "%.1f", (double)(mr_mono_ms() - r->outage_since) / 1000.0);
    mr_log(MR_LOG_INFO, "store available again", "after_s", secs, NULL);
    r->outage_fails = 0;
}

/* heartbeat_ms - how long a registration holds without renewal (--heartbeat). */
static int64_t heartbeat_ms(void)
{
    return (int64_t)(mr_config.heartbeat > 0 ? mr_config.heartbeat : 15) * 1000;
}

/*
 * depose - another process holds our relay id now: it owns every lease under
 * that name, so this relay must not claim, write or start a call any more.
 * Passes end at their next step; their results are dropped (the new holder
 * redoes the work).
 */
static void depose(struct mr_relay *r, const char *why)
{
    if (atomic_exchange(&r->deposed, true))
        return;
    mr_log(MR_LOG_ERROR,
           "relay id taken over by another process: this relay stops claiming and writing "
           "results; restart it with its own --relay-id",
           "relay_id", r->owner, "instance", r->me.instance, "error", why, NULL);
}

/*
 * heartbeat - renew the registration when due: it must hold for every claim
 * and write. MR_ECONFLICT means another process took the
 * id over (its heartbeat had lapsed, e.g. while this process was stopped).
 */
static void heartbeat(struct mr_relay *r)
{
    struct mr_err err = MR_ERR_INIT;
    int64_t mono = mr_mono_ms();
    int64_t until;
    int rc;

    if (atomic_load(&r->deposed) || mono < r->hb_next)
        return;
    until = mr_now_ms() + heartbeat_ms();
    rc = mr_store_relay_heartbeat(r->store, r->owner, r->me.instance, until, &err);
    if (rc == MR_ECONFLICT) {
        depose(r, err.msg);
        return;
    }
    if (rc != 0) {
        /* try again within the second; mr_relay_identity_ok() stops the writes once it lapses */
        r->hb_next = mono + 1000;
        mr_relay_store_failed(r, "heartbeat", err.msg);
        return;
    }
    r->hb_until_ms = until;
    r->hb_next = mono + heartbeat_ms() / 3;
    mr_relay_store_ok(r);
}

/*
 * mr_relay_identity_ok - whether this relay may claim or write now: not deposed, and
 * its registration (as last renewed) holds past the next second, so no other
 * process can have taken the id. Renews it first when it is close to lapsing
 * (at most once a second while that fails).
 */
bool mr_relay_identity_ok(struct mr_relay *r)
{
    if (!atomic_load(&r->deposed) && mr_now_ms() + LEASE_MARGIN_MS >= r->hb_until_ms)
        heartbeat(r);
    return !atomic_load(&r->deposed) && mr_now_ms() + LEASE_MARGIN_MS < r->hb_until_ms;
}

/* claim - take a batch of due work, as much as there is room for. */
static void claim(struct mr_relay *r)
{
    size_t room = pass_room(r);
    size_t limit = (size_t)(mr_config.claim_batch > 0 ? mr_config.claim_batch : 1);
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;
    size_t i;
    int64_t now;
    int64_t until;
    int rc;

    if (room < limit)
        limit = room;
    if (limit == 0) {
        r->more_due = true;
        return;
    }
    if (!mr_relay_identity_ok(r)) {
        r->more_due = false;
        return;
    }
    now = mr_now_ms();
    until = now + (int64_t)mr_config.lease * 1000;
    rc = mr_store_claim(r->store, r->owner, now, until, limit, &v, &n, &err);
    if (rc == MR_EBUSY) {
        /* a deadlock rolled the claim back (rare on one server: locked rows are skipped; on a
           Galera cluster SKIP LOCKED is per node, and the cluster aborts the claim that lost
           a row to a relay on another node); once more now */
        mr_log(MR_LOG_DEBUG, "claim lost to a conflict, trying again", "error", err.msg, NULL);
        mr_err_clear(&err);
        rc = mr_store_claim(r->store, r->owner, now, until, limit, &v, &n, &err);
    }
    if (rc == MR_EBUSY) {
        /* another relay holds that work: not an outage; look again at the next scan */
        mr_log(MR_LOG_DEBUG, "claim lost to a conflict again, next scan", "error", err.msg, NULL);
        r->more_due = false;
        return;
    }
    if (rc != 0) {
        mr_relay_store_failed(r, "claim", err.msg);
        r->more_due = false;
        return;
    }
    mr_relay_store_ok(r);
    r->more_due = n == limit;
    for (i = 0; i < n; i++) {
        struct mr_msg *m = v[i];

        v[i] = NULL; /* the pass owns it now */
        if (held(r, m, until))
            continue;
        mr_metrics_pass(false);
        start_pass(r, m, until);
    }
    mr_store_msgs_free(v, n);
}

/* ---- destination health ---- */

/* probe_ms - how often a down destination is probed (--probe-interval). */
static long probe_ms(void)
{
    return (long)(mr_config.probe_interval > 0 ? mr_config.probe_interval : 5) * 1000;
}

/* Messages made due per store call when a destination answers again. */
#define RECOVERY_BATCH 256

/* Store calls a recovery may fail before it is given up (its messages wait out their back-off). */
#define RECOVERY_TRIES 10

/*
 * recover_batch - make the next batch of messages waiting on @ev's
 * destination due; true when the recovery is over (all done, or given up).
 */
static bool recover_batch(struct mr_relay *r, struct mr_relay_health_ev *ev)
{
    struct mr_err err = MR_ERR_INIT;
    int64_t spread = (int64_t)mr_config.recovery_spread * 1000;
    char count[32];
    long n = 0;

    if (mr_store_due_by_dest(r->store, ev->key, mr_now_ms(), spread, RECOVERY_BATCH, &n,
                             &err) != 0) {
        mr_relay_store_failed(r, "due_by_dest", err.msg);
        return ++ev->tries >= RECOVERY_TRIES;
    }
    mr_relay_store_ok(r);
    ev->made_due += n;
    if (n >= RECOVERY_BATCH)
        return false;
    snprintf(count, sizeof(count), "%ld", ev->made_due);
    mr_log(MR_LOG_INFO, "messages waiting on a returning destination made due", "destination",
           ev->key, "messages", count, NULL);
    return true;
}

/*
 * health_events - act on the health events of one sink: a down idle
 * destination gets one waiting message made due as its probe; one that
 * answers again is queued for recovery.
 */
static void health_events(struct mr_relay *r, struct mr_relay_health *hl)
{
    struct mr_relay_health_ev *ev;

    mr_relay_health_tick(hl);
    while ((ev = mr_relay_health_take(hl)) != NULL) {
        struct mr_err err = MR_ERR_INIT;
        long n = 0;

        if (ev->recovered) {
            ev->next = r->recovering;
            r->recovering = ev;
            continue;
        }
        if (mr_store_due_by_dest(r->store, ev->key, mr_now_ms(), 0, 1, &n, &err) != 0)
            mr_relay_store_failed(r, "due_by_dest", err.msg);
        else if (n > 0)
            r->more_due = true; /* the probe: claim it now */
        free(ev);
    }
}

/*
 * health_turn - act on both sinks' health events; a returning destination
 * gets every waiting message made due, spread over --recovery-spread, one
 * bounded batch per recovery and loop turn.
 */
static void health_turn(struct mr_relay *r)
{
    struct mr_relay_health_ev *ev;
    struct mr_relay_health_ev **link;

    health_events(r, mr_relay_http_health_of(r->http));
    if (r->kafka != NULL)
        health_events(r, mr_relay_kafka_health_of(r->kafka));
    for (link = &r->recovering; *link != NULL;) {
        ev = *link;
        if (recover_batch(r, ev)) {
            *link = ev->next;
            free(ev);
        } else {
            link = &ev->next;
        }
    }
}

/* ---- the loop ---- */

/* pump_starved - give passes that waited for the call budget another go. */
static void pump_starved(struct mr_relay *r)
{
    struct mr_relay_pass *p;
    struct mr_relay_pass *next;

    if (!r->starved)
        return;
    r->starved = false;
    /* O(passes), but only on turns after the budget ran out */
    for (p = r->passes; p != NULL; p = next) {
        next = p->next;
        if (p->phase == PH_STEPS)
            mr_relay_pump(r, p);
    }
}

/*
 * refresh_gauges - the inflight gauge every turn; the waiting one, and a
 * sample for the rate history, every few seconds.
 */
static void refresh_gauges(struct mr_relay *r, int64_t *next_due_ms)
{
    int64_t mono = mr_mono_ms();
    struct mr_err err = MR_ERR_INIT;
    int64_t oldest_ms = 0;
    long n = 0;

    mr_metrics_set_inflight((long)r->npasses);
    if (mono < *next_due_ms)
        return;
    *next_due_ms = mono + GAUGE_EVERY_MS;
    mr_metrics_rate_tick(mr_now_ms());
    if (mr_store_count_due(r->store, mr_now_ms(), 0, &n, &oldest_ms, &err) == 0)
        mr_metrics_set_waiting(n);
    if (mr_store_count_state(r->store, MR_MSG_PARKED, &n, &err) == 0)
        mr_metrics_set_parked(n);
}

/* drain - after the grace period: cancel what is in flight and write what is known. */
static void drain(struct mr_relay *r)
{
    struct mr_relay_pass *p;
    struct mr_relay_pass *next;
    struct mr_err err = MR_ERR_INIT;
    int rounds;

    mr_relay_http_cancel_all(r->http);
    if (r->kafka != NULL)
        mr_relay_kafka_cancel_all(r->kafka);
    for (p = r->passes; p != NULL; p = next) {
        next = p->next;
        if (p->calls_out == 0)
            continue;
        /* the answer will never be read: treat the call as not made */
        p->calls_out = 0;
        p->stop = true;
        if (p->phase == PH_STEPS) {
            if (p->outcome == MR_RESULT_SUCCESS)
                p->quiet = true; /* not worth replacing the last real error in the store */
            note_result(p, MR_RESULT_ERROR, "relay stopped during the call");
            finish(r, p, FIN_RELEASE, mr_now_ms(), -1);
        } else if (p->phase == PH_CHECK) {
            finish(r, p, FIN_RELEASE, mr_now_ms(), -1);
        }
    }
    /* a back-check success turns into a delivery pass that stops at once: two rounds at most */
    for (rounds = 0; rounds < 3 && r->dirty != NULL; rounds++)
        mr_relay_flush(r, true);
    while (r->passes != NULL)
        mr_relay_pass_free(r, r->passes);
    if (atomic_load(&r->deposed)) {
        /* the leases under this name are the new holder's: leave them and its registration */
        mr_metrics_set_inflight(0);
        return;
    }
    if (mr_store_release_owner(r->store, r->owner, &err) != 0)
        mr_log(MR_LOG_ERROR, "cannot end this relay's leases", "error", err.msg, NULL);
    /* the id is free at once for the next start, on this host or another */
    mr_err_clear(&err);
    if (mr_store_relay_unregister(r->store, r->owner, r->me.instance, &err) != 0)
        mr_log(MR_LOG_ERROR, "cannot end this relay's registration", "error", err.msg, NULL);
    mr_metrics_set_inflight(0);
}

/*
 * idle_turn - once the relay has held no pass and no result for IDLE_SHED_MS,
 * give back what the last busy spell left behind: the HTTP calls kept for
 * reuse and the kept-alive connections, the store connection's statements and
 * page cache, an empty hand-over array grown to the peak, and the allocator's
 * free pages in every thread's arena (the intake's writer does the same for
 * its own handle). Once per idle spell, off the hot path: the next burst
 * connects again and prepares its statements again, nothing else.
 */
static void idle_turn(struct mr_relay *r)
{
    int64_t mono = mr_mono_ms();
    char ms[24];
    char conns[24];
    size_t closed;

    if (r->npasses > 0 || r->dirty != NULL) {
        r->idle_since = -1;
        return;
    }
    if (r->idle_since < 0) {
        r->idle_since = mono;
        r->shed = false;
        return;
    }
    if (r->shed || mono - r->idle_since < IDLE_SHED_MS)
        return;
    r->shed = true;
    closed = mr_relay_http_shed(r->http);
    mr_store_shrink(r->store);
    pthread_mutex_lock(&r->in_mu);
    if (r->nin == 0) {
        free(r->in);
        r->in = NULL;
        r->capin = 0;
    }
    pthread_mutex_unlock(&r->in_mu);
    mr_mem_trim(r->worked);
    r->worked = false;
    snprintf(ms, sizeof(ms), "%lld", (long long)(mr_mono_ms() - mono));
    snprintf(conns, sizeof(conns), "%zu", closed);
    mr_log(MR_LOG_DEBUG, "idle: memory given back", "ms", ms, "connections_closed", conns, NULL);
}

/* poll_timeout - how long the loop may sleep before something is due. */
static int poll_timeout(struct mr_relay *r, int64_t next_scan, int64_t deadline)
{
    int64_t mono = mr_mono_ms();
    int64_t t = next_scan - mono;

    if (r->dirty != NULL) {
        if (mono >= r->write_retry_at)
            return 0;
        if (r->write_retry_at - mono < t)
            t = r->write_retry_at - mono; /* kept results: their next try */
    }
    if (r->more_due && pass_room(r) > 0 && !atomic_load(&r->stop))
        return 0;
    if (pass_room(r) > 0 && !atomic_load(&r->stop)) {
        size_t nin;

        pthread_mutex_lock(&r->in_mu);
        nin = r->nin;
        pthread_mutex_unlock(&r->in_mu);
        if (nin > 0)
            return 0;
    }
    if (r->starved && calls_inflight(r) < (size_t)mr_config.max_inflight)
        return 0;
    if (deadline >= 0 && deadline - mono < t)
        t = deadline - mono;
    if (r->idle_since >= 0 && !r->shed && r->idle_since + IDLE_SHED_MS - mono < t)
        t = r->idle_since + IDLE_SHED_MS - mono;
    if (t > GAUGE_EVERY_MS)
        t = GAUGE_EVERY_MS;
    return t < 0 ? 0 : (int)t;
}

/* relay_main - the relay thread. */
static void *relay_main(void *arg)
{
    struct mr_relay *r = arg;
    int64_t next_scan = 0;
    int64_t next_gauge = 0;
    int64_t deadline = -1;
    int poll_ms = mr_config.poll_interval_ms > 0 ? mr_config.poll_interval_ms : 1000;

    for (;;) {
        bool stopping = atomic_load(&r->stop);
        bool woke = atomic_exchange(&r->woken, false);
        int64_t mono = mr_mono_ms();

        if (stopping && deadline < 0)
            deadline = mono + (int64_t)mr_config.shutdown_grace * 1000;
        reap(r);
        if (!stopping)
            health_turn(r);
        pump_starved(r);
        if (!stopping)
            take_handed(r);
        if (!stopping && (woke || r->more_due || mono >= next_scan)) {
            claim(r);
            next_scan = mono + poll_ms;
        }
        heartbeat(r);
        mr_relay_flush(r, false);
        refresh_gauges(r, &next_gauge);
        if (!stopping)
            idle_turn(r);
        atomic_store(&r->busy, r->npasses);
        if (stopping && (r->npasses == 0 || mr_mono_ms() >= deadline))
            break;
        mr_relay_http_poll(r->http, poll_timeout(r, next_scan, deadline));
    }
    if (deadline > mr_mono_ms())
        r->flush_ms = (int)(deadline - mr_mono_ms());
    drain(r);
    return NULL;
}

/* ---- public ---- */

/* relay_free - free what start built; each part may be missing. */
static void relay_free(struct mr_relay *r)
{
    size_t i;

    /* handed but never started: their leases were ended with the others' */
    for (i = 0; i < r->nin; i++)
        mr_msg_free(r->in[i]);
    free(r->in);
    while (r->recovering != NULL) {
        struct mr_relay_health_ev *ev = r->recovering;

        r->recovering = ev->next;
        free(ev);
    }
    pthread_mutex_destroy(&r->in_mu);
    mr_relay_http_free(r->http);
    mr_relay_kafka_free(r->kafka, r->flush_ms);
    mr_store_close(r->store);
    mr_store_relay_clear(&r->me);
    free(r->owner);
    free(r->by_gid);
    free(r);
}

int mr_relay_start(mr_relay_pass_cb on_pass, void *arg, struct mr_relay **out, struct mr_err *err)
{
    struct mr_relay *r = mr_xcalloc(1, sizeof(*r));
    int rc;

    *out = NULL;
    atomic_init(&r->stop, false);
    atomic_init(&r->woken, false);
    atomic_init(&r->busy, 0);
    atomic_init(&r->deposed, false);
    pthread_mutex_init(&r->in_mu, NULL);
    r->on_pass = on_pass;
    r->arg = arg;
    r->dirty_tail = &r->dirty;
    r->idle_since = -1;
    r->nby_gid = 64;
    while (r->nby_gid < 2 * (size_t)mr_config.max_inflight)
        r->nby_gid *= 2;
    r->by_gid = mr_xcalloc(r->nby_gid, sizeof(*r->by_gid));
    r->rng = ((uint64_t)mr_now_ms() * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)(uintptr_t)r;
    if (r->rng == 0)
        r->rng = 1;
    if (mr_config.relay_id == NULL || mr_config.relay_id[0] == '\0') {
        rc = mr_err_set(err, MR_EINVAL, "no relay id configured");
        goto fail;
    }
    r->owner = mr_xstrdup(mr_config.relay_id);
    rc = mr_store_open(mr_config.store, &r->store, err);
    if (rc == 0)
        rc = mr_store_relax(r->store, err); /* every relay write is redone if lost */
    if (rc != 0)
        goto fail;
    /* one live process per relay id: refused while another holds it, taken over at once from
       a dead one (kill -9) */
    mr_relay_identity_init(&r->me, r->owner);
    rc = mr_relay_identity_register(r->store, &r->me, heartbeat_ms(), err);
    if (rc != 0)
        goto fail;
    r->hb_until_ms = r->me.heartbeat_until_ms;
    r->hb_next = mr_mono_ms() + heartbeat_ms() / 3;
    /* a restarted relay takes its own work up again at once instead of waiting out its leases */
    rc = mr_store_release_owner(r->store, r->owner, err);
    if (rc != 0)
        goto fail;
    rc = mr_relay_http_new(mr_config.max_connections, mr_config.max_connections_per_target,
                           (long)mr_config.request_timeout * 1000, &r->http, err);
    if (rc != 0)
        goto fail;
    mr_relay_http_health(r->http, mr_config.unhealthy_after, probe_ms());
    if (mr_config.kafka_brokers != NULL) {
        rc = mr_relay_kafka_new(&r->kafka, err);
        if (rc != 0)
            goto fail;
        mr_relay_kafka_health(r->kafka, mr_config.unhealthy_after, probe_ms());
        /* a record must be reported before the lease of its pass ends (see pump), with a
           second more for the claim to reach it, as --max-request-timeout has */
        if (mr_relay_kafka_timeout_ms(r->kafka) + 2 * LEASE_MARGIN_MS >
            (long)mr_config.lease * 1000) {
            rc = mr_err_set(err, MR_EINVAL,
                            "--kafka-property message.timeout.ms: %ld ms does not fit in --lease "
                            "%d s",
                            mr_relay_kafka_timeout_ms(r->kafka), mr_config.lease);
            goto fail;
        }
        /* a delivery report wakes the loop like a finished HTTP call */
        mr_relay_http_watch_fd(r->http, mr_relay_kafka_fd(r->kafka));
    }
    rc = pthread_create(&r->thread, NULL, relay_main, r);
    if (rc != 0) {
        rc = mr_err_set(err, MR_ESYS, "cannot start the relay thread: %s", strerror(rc));
        goto fail;
    }
    mr_log(MR_LOG_INFO, "relay started", "owner", r->owner, "instance", r->me.instance, NULL);
    *out = r;
    return 0;
fail:
    if (r->hb_until_ms != 0) {
        /* registered but not started: free the id for the next try at once */
        struct mr_err ignored = MR_ERR_INIT;

        mr_store_relay_unregister(r->store, r->owner, r->me.instance, &ignored);
    }
    relay_free(r);
    return rc;
}

void mr_relay_wake(struct mr_relay *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->woken, true);
    mr_relay_http_wakeup(r->http);
}

size_t mr_relay_room(struct mr_relay *r)
{
    size_t max = (size_t)mr_config.max_inflight;
    size_t used;

    if (r == NULL || atomic_load(&r->stop) || atomic_load(&r->deposed))
        return 0;
    pthread_mutex_lock(&r->in_mu);
    used = atomic_load(&r->busy) + r->nin;
    pthread_mutex_unlock(&r->in_mu);
    return used < max ? max - used : 0;
}

void mr_relay_hand(struct mr_relay *r, struct mr_msg **v, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&r->in_mu);
    MR_ALLOC_GROW(r->in, r->nin + n, r->capin);
    memcpy(r->in + r->nin, v, n * sizeof(*v));
    r->nin += n;
    pthread_mutex_unlock(&r->in_mu);
    mr_relay_http_wakeup(r->http);
}

int mr_relay_ready(struct mr_relay *r, int timeout_ms, struct mr_err *err)
{
    /* r->kafka is set before the relay thread starts and freed only by mr_relay_stop() */
    if (r->kafka == NULL)
        return 0;
    return mr_relay_kafka_reachable(r->kafka, timeout_ms, err);
}

void mr_relay_stop(struct mr_relay *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stop, true);
    mr_relay_http_wakeup(r->http);
    pthread_join(r->thread, NULL);
    mr_log(MR_LOG_INFO, "relay stopped", "owner", r->owner, NULL);
    relay_free(r);
}
