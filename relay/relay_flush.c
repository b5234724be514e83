/* SPDX-License-Identifier: MIT */
/*
 * relay_flush.c - the relay's group commit: every result the passes gathered
 * in a loop turn (step records, back-check decisions, finished messages,
 * messages to park, leases to end) is written in one store transaction
 * (mr_store_run_tx), and only then acted on: a sequential pass starts its
 * next step, a finished pass is reported (on_pass) and freed, a back-check
 * success is delivered under the same lease, and a parking is announced by
 * park(), the one place where a message is parked.
 *
 * Must not: write a result whose lease has ended or after the relay id was
 * taken over, call on_pass before the commit, or start calls itself (it
 * hands passes back to relay_sched.c). When the store is unreachable the
 * results are kept and written again after a pause (at-least-once); a commit
 * that failed for good drops them and the leases lapse.
 *
 * Thread: the relay thread. Errors: logged, never fatal.
 */
#include "relay/relay_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "query/query.h"
#include "relay/relay_alert.h"
#include "store/store.h"

/* Kept results: the first pause before writing them again, and the cap of its doubling. */
#define WRITE_RETRY_MIN_MS 100
#define WRITE_RETRY_MAX_MS 2000

/* fatal - whether store error @rc spoils the whole transaction (vs. one message that changed
 * meanwhile). */
static bool fatal(int rc)
{
    return rc != 0 && rc != MR_ECONFLICT && rc != MR_ENOENT && rc != MR_EINVAL;
}

/* write_query - back-check pass @p's decision inside the open transaction (query/). 0 or a
 * fatal error. */
static int write_query(struct mr_relay *r, struct mr_relay_pass *p, struct mr_err *err)
{
    const char *detail = p->detail.len && !p->quiet ? p->detail.p : NULL;
    int rc = mr_query_write(r->store, p->msg, r->owner, &p->qd, detail, mr_now_ms(), err);

    return fatal(rc) ? rc : 0;
}

/* record_refused - a record of @p came back @rc (not fatal): stop the pass, or log. */
static void record_refused(struct mr_relay_pass *p, int rc, const char *why)
{
    if (rc == MR_ECONFLICT && !p->stop) {
        /* forceStop finished the message meanwhile: start no further call */
        mr_log(MR_LOG_INFO, "message finished during its delivery", "gid", p->msg->gid, NULL);
        p->stop = true;
        p->yield_why = "message finished meanwhile";
    } else if (rc != 0 && rc != MR_ECONFLICT) {
        mr_log(MR_LOG_WARN, "step record skipped", "gid", p->msg->gid, "error", why, NULL);
    }
}

/* The batched writes of one flush: what write_all() gathers from the dirty passes. */
struct flush_batch {
    int64_t *ok_ids;                /* steps whose call succeeded */
    struct mr_relay_pass **ok_pass; /* and their passes */
    int *ok_res;
    size_t nok;
    const char **fin_gids; /* FIN_SUCCEED: submitted -> succeed */
    struct mr_relay_pass **fin_pass;
    bool *fin_changed;
    size_t nfin;
    struct mr_store_release *rel; /* FIN_RELEASE */
    size_t nrel;
    const char **park_gids; /* FIN_PARK: submitted -> parked */
    struct mr_relay_pass **park_pass;
    bool *park_changed;
    size_t npark;
};

/* batch_init - room for the writes of @list (@npass passes, @nrecs records in all). */
static void batch_init(struct flush_batch *b, size_t npass, size_t nrecs)
{
    memset(b, 0, sizeof(*b));
    b->ok_ids = mr_xcalloc(nrecs + 1, sizeof(*b->ok_ids));
    b->ok_pass = mr_xcalloc(nrecs + 1, sizeof(*b->ok_pass));
    b->ok_res = mr_xcalloc(nrecs + 1, sizeof(*b->ok_res));
    b->fin_gids = mr_xcalloc(npass + 1, sizeof(*b->fin_gids));
    b->fin_pass = mr_xcalloc(npass + 1, sizeof(*b->fin_pass));
    b->fin_changed = mr_xcalloc(npass + 1, sizeof(*b->fin_changed));
    b->rel = mr_xcalloc(npass + 1, sizeof(*b->rel));
    b->park_gids = mr_xcalloc(npass + 1, sizeof(*b->park_gids));
    b->park_pass = mr_xcalloc(npass + 1, sizeof(*b->park_pass));
    b->park_changed = mr_xcalloc(npass + 1, sizeof(*b->park_changed));
}

static void batch_release(struct flush_batch *b)
{
    free(b->ok_ids);
    free(b->ok_pass);
    free(b->ok_res);
    free(b->fin_gids);
    free(b->fin_pass);
    free(b->fin_changed);
    free(b->rel);
    free(b->park_gids);
    free(b->park_pass);
    free(b->park_changed);
}

/*
 * gather - sort @p's writes into @b; what has no batch form (a failed call's
 * record, a back-check decision) is written at once. Returns 0 or a fatal
 * store error.
 */
static int gather(struct mr_relay *r, struct flush_batch *b, struct mr_relay_pass *p,
                  struct mr_err *err)
{
    struct mr_msg *m = p->msg;
    size_t i;
    int rc;

    if (p->fin == FIN_QUERY)
        return write_query(r, p, err); /* a back-check pass: no records, one decision */
    for (i = 0; i < p->nrecs; i++) {
        struct mr_relay_rec *rec = &p->recs[i];

        if (rec->success && p->fin == FIN_SUCCEED)
            continue; /* written by the message's own transition (see store.h) */
        if (rec->success) {
            b->ok_ids[b->nok] = m->steps[rec->step].id;
            b->ok_pass[b->nok++] = p;
            continue;
        }
        rc = mr_store_step_record(r->store, m->steps[rec->step].id, false, rec->error, rec->now_ms,
                                  err);
        if (fatal(rc))
            return rc;
        record_refused(p, rc, err->msg);
    }
    switch (p->fin) {
    case FIN_SUCCEED:
        b->fin_gids[b->nfin] = m->gid;
        b->fin_pass[b->nfin++] = p;
        break;
    case FIN_RELEASE:
        b->rel[b->nrel].gid = m->gid;
        b->rel[b->nrel].next_cron_ms = p->next_cron_ms;
        b->rel[b->nrel].interval = p->interval;
        b->rel[b->nrel].result = p->detail.len && !p->quiet ? p->detail.p : NULL;
        b->nrel++;
        break;
    case FIN_PARK:
        b->park_gids[b->npark] = m->gid;
        b->park_pass[b->npark++] = p;
        break;
    case FIN_QUERY:
    case FIN_NONE:
        break;
    }
    return 0;
}

/* lock_keys - the keys of @b's keyed messages to finish, locked before they change (store.h). */
static int lock_keys(struct mr_relay *r, struct flush_batch *b, struct mr_err *err)
{
    const char **keys = NULL;
    size_t n = 0;
    size_t i;
    int rc;

    for (i = 0; i < b->nfin; i++) {
        const char *key = b->fin_pass[i]->msg->ordering_key;

        if (key == NULL || key[0] == '\0')
            continue;
        if (keys == NULL)
            keys = mr_xcalloc(b->nfin, sizeof(*keys));
        keys[n++] = key;
    }
    rc = mr_store_order_lock(r->store, keys, n, err);
    free(keys);
    return rc;
}

/*
 * wake_successors - the keyed messages of @b that just finished hand their
 * keys on: each key's next message becomes due in this same transaction
 * (unkeyed ones cost nothing here).
 */
static int wake_successors(struct mr_relay *r, struct flush_batch *b, int64_t now,
                           struct mr_err *err)
{
    const char **keyed = NULL;
    size_t n = 0;
    size_t i;
    int rc;

    for (i = 0; i < b->nfin; i++) {
        const char *key = b->fin_pass[i]->msg->ordering_key;

        if (!b->fin_changed[i] || key == NULL || key[0] == '\0')
            continue;
        if (keyed == NULL)
            keyed = mr_xcalloc(b->nfin, sizeof(*keyed));
        keyed[n++] = b->fin_gids[i];
    }
    rc = mr_store_order_finished(r->store, keyed, n, now, err);
    free(keyed);
    /* the next ones are due now: claim them at the next turn, not at the next poll */
    if (rc == 0 && n > 0)
        mr_relay_wake(r);
    return rc;
}

/*
 * write_all - the writes of every pass of @list inside the open transaction,
 * batched: a failed call's record and a back-check decision one by one, the
 * successful calls' records in one call (not those of a pass that finishes
 * its message: the transition to succeed stands for them), then the passes
 * that delivered everything (submitted -> succeed) in one, then the leases to
 * end in one. Each pass touches only its own message, so the order across
 * passes does not matter.
 * Returns 0 or a fatal store error; a replay after one writes the same.
 */
static int write_all(struct mr_relay *r, struct mr_relay_pass *list, struct mr_err *err)
{
    struct flush_batch b;
    struct mr_relay_pass *p;
    size_t npass = 0;
    size_t nrecs = 0;
    int64_t now = mr_now_ms();
    size_t i;
    int rc = 0;

    for (p = list; p != NULL; p = p->dirty_next) {
        npass++;
        nrecs += p->nrecs;
    }
    batch_init(&b, npass, nrecs);
    for (p = list; rc == 0 && p != NULL; p = p->dirty_next)
        rc = gather(r, &b, p, err);
    if (rc == 0)
        rc = mr_store_step_succeed_many(r->store, b.ok_ids, b.nok, now, b.ok_res, err);
    for (i = 0; rc == 0 && i < b.nok; i++)
        record_refused(b.ok_pass[i], b.ok_res[i], "no such step");
    if (rc == 0)
        rc = lock_keys(r, &b, err);
    if (rc == 0)
        rc = mr_store_msg_transition_many(r->store, b.fin_gids, b.nfin, MR_MSG_SUBMITTED,
                                          MR_MSG_SUCCEED, now, -1, 0, NULL, 0, b.fin_changed, err);
    if (rc == 0)
        rc = wake_successors(r, &b, now, err);
    for (i = 0; rc == 0 && i < b.nfin; i++) {
        if (b.fin_changed[i])
            continue;
        p = b.fin_pass[i];
        mr_log(MR_LOG_INFO, "message changed during its delivery", "gid", p->msg->gid, NULL);
        p->outcome = MR_RESULT_ERROR;
        mr_buf_reset(&p->detail);
        mr_buf_adds(&p->detail, "message changed meanwhile: it is no longer submitted");
    }
    if (rc == 0)
        rc = mr_store_msg_release_many(r->store, b.rel, b.nrel, r->owner, now, err);
    /* after the step records: they are written only while the message is submitted */
    if (rc == 0)
        rc = mr_store_msg_transition_many(r->store, b.park_gids, b.npark, MR_MSG_SUBMITTED,
                                          MR_MSG_PARKED, now, -1, 0, NULL, 0, b.park_changed,
                                          err);
    for (i = 0; rc == 0 && i < b.npark; i++) {
        p = b.park_pass[i];
        p->park = b.park_changed[i]; /* a replay writes it again: set, never only cleared */
        if (!b.park_changed[i])
            mr_log(MR_LOG_INFO, "message changed during its delivery", "gid", p->msg->gid, NULL);
    }
    batch_release(&b);
    return fatal(rc) ? rc : 0;
}

/*
 * park - the one place where a message is parked, once the move to parked is
 * committed: pass @p's step (or back-check) failed its retry limit. Logged and
 * counted here; whatever else a parking sets off (an alert) starts here too.
 */
static void park(struct mr_relay *r, struct mr_relay_pass *p)
{
    const struct mr_msg *m = p->msg;
    const char *step = "00"; /* the back-check, as DTM names its branch */
    int attempts = m->query_attempts + 1;
    char trace[33];
    char n[24];

    (void)r;
    if (p->fin == FIN_PARK) {
        step = m->steps[p->park_idx].branch_id;
        attempts = m->steps[p->park_idx].attempts;
    }
    snprintf(n, sizeof(n), "%d", attempts);
    mr_log(MR_LOG_WARN, "message parked", "gid", m->gid, "step", step, "attempts", n, "error",
           p->detail.len ? p->detail.p : NULL, MR_TRACE_LOG(m, trace), NULL);
    mr_metrics_parked();
    mr_alert_parked(m, step, attempts, p->detail.len ? p->detail.p : "");
}

/* notify - tell the on_pass callback how the pass over @p went. */
static void notify(struct mr_relay *r, struct mr_relay_pass *p)
{
    if (r->on_pass == NULL || !p->notify)
        return;
    r->on_pass(r->arg, p->msg->gid, p->outcome, p->detail.len ? p->detail.p : NULL);
}

/* count_calls - @m succeeded: count its calls (the failed ones, one success per step). */
static void count_calls(const struct mr_msg *m)
{
    long calls = 0;
    size_t i;

    for (i = 0; i < m->nsteps; i++)
        calls += m->steps[i].attempts + 1;
    mr_metrics_msg_done(calls);
}

/* after_commit - @p's writes are durable: report, free, or go on delivering. */
static void after_commit(struct mr_relay *r, struct mr_relay_pass *p)
{
    mr_relay_recs_clear(p);
    switch (p->fin) {
    case FIN_NONE:
        /* a sequential pass starts its next step only once the last result is durable */
        mr_relay_pump(r, p);
        return;
    case FIN_QUERY:
        if (p->qd.action == MR_QUERY_SUBMIT) {
            /* delivered in the same pass, under the same lease */
            p->msg->state = MR_MSG_SUBMITTED;
            p->msg->next_cron_interval = p->qd.interval;
            p->fin = FIN_NONE;
            mr_relay_start_submitted(r, p);
            return;
        }
        if (p->qd.action == MR_QUERY_PARK)
            park(r, p);
        break;
    case FIN_PARK:
        if (p->park)
            park(r, p);
        notify(r, p);
        break;
    case FIN_SUCCEED:
        count_calls(p->msg);
        notify(r, p);
        break;
    case FIN_RELEASE:
        notify(r, p);
        break;
    }
    mr_metrics_pass_done(p->outcome == MR_RESULT_SUCCESS, mr_now_ms() - p->msg->create_ms);
    mr_relay_pass_free(r, p);
}

/* after_failure - the commit with @p's writes failed: drop them, and @p too if it finished. */
static void after_failure(struct mr_relay *r, struct mr_relay_pass *p, const char *why)
{
    mr_relay_recs_clear(p);
    if (p->fin == FIN_NONE) {
        /* still delivering; a lost success record only means that step is called again */
        mr_relay_pump(r, p);
        return;
    }
    if (p->notify) {
        p->outcome = MR_RESULT_ERROR;
        mr_buf_reset(&p->detail);
        mr_buf_addf(&p->detail, "store commit failed: %s", why);
        notify(r, p);
    }
    /* its lease lapses and the message is tried again: at-least-once */
    mr_relay_pass_free(r, p);
}

/* dirty_take - detach the list of passes with writes (after_commit may queue new ones). */
static struct mr_relay_pass *dirty_take(struct mr_relay *r)
{
    struct mr_relay_pass *list = r->dirty;

    r->dirty = NULL;
    r->dirty_tail = &r->dirty;
    return list;
}

/* dirty_keep - put @list (detached by dirty_take) back in front of the list, in order. */
static void dirty_keep(struct mr_relay *r, struct mr_relay_pass *list)
{
    struct mr_relay_pass *last = list;

    if (list == NULL)
        return;
    while (last->dirty_next != NULL)
        last = last->dirty_next;
    last->dirty_next = r->dirty;
    if (r->dirty == NULL)
        r->dirty_tail = &last->dirty_next;
    r->dirty = list;
}

/* drop_all - forget the writes of every pass of @list: after_failure() each. */
static void drop_all(struct mr_relay *r, struct mr_relay_pass *list, const char *why)
{
    struct mr_relay_pass *p;
    struct mr_relay_pass *next;

    for (p = list; p != NULL; p = next) {
        next = p->dirty_next;
        p->dirty = false;
        p->dirty_next = NULL;
        after_failure(r, p, why);
    }
}

/*
 * drop_lapsed - of the kept writes, drop those of passes whose lease has
 * ended: another relay may hold the message now. The store's conditional
 * writes would not stop every one of them (a lease end and a back-check
 * decision check the owner; a step's record and the move to succeed check
 * only the message's state), so the relay does not write what it no longer
 * holds: the message is tried again by whoever claims it (at least once).
 */
static void drop_lapsed(struct mr_relay *r)
{
    struct mr_relay_pass *list = dirty_take(r);
    struct mr_relay_pass *keep = NULL;
    struct mr_relay_pass **keep_tail = &keep;
    struct mr_relay_pass *lapsed = NULL;
    struct mr_relay_pass **lapsed_tail = &lapsed;
    struct mr_relay_pass *p;
    struct mr_relay_pass *next;
    int64_t now = mr_now_ms();
    size_t n = 0;
    char count[32];

    for (p = list; p != NULL; p = next) {
        next = p->dirty_next;
        p->dirty_next = NULL;
        if (p->lease_until_ms > now) {
            *keep_tail = p;
            keep_tail = &p->dirty_next;
        } else {
            *lapsed_tail = p;
            lapsed_tail = &p->dirty_next;
            n++;
        }
    }
    dirty_keep(r, keep);
    if (lapsed != NULL) {
        snprintf(count, sizeof(count), "%zu", n);
        mr_log(MR_LOG_WARN, "lease ended before the results could be written; dropping them",
               "messages", count, "gid", lapsed->msg->gid, NULL);
    }
    drop_all(r, lapsed, "lease ended before the results could be written");
}

/* What one flush writes, for mr_store_run_tx(). */
struct flush_tx {
    struct mr_relay *r;
    struct mr_relay_pass *list;
};

/* flush_tx - the writes of one flush inside the open transaction (see write_all()). */
static int flush_tx(struct mr_store *s, void *arg, struct mr_err *err)
{
    struct flush_tx *fx = arg;

    (void)s;
    return write_all(fx->r, fx->list, err);
}

/* How often a lost store transaction is tried in all, the first pause, how loud. */
static const struct mr_store_tx_policy flush_policy = {
    .tries = 3,
    .backoff_ms = 20,
    .log_level = MR_LOG_DEBUG,
};

/*
 * mr_relay_flush - write every pending result in one transaction, then act on it.
 * When the store cannot be reached, the results are kept and written again
 * after a pause (doubling to WRITE_RETRY_MAX_MS; at once when another store
 * call succeeds first), as long as their leases and the relay's registration
 * last. @last (shutdown): one go, then what failed is dropped.
 */
void mr_relay_flush(struct mr_relay *r, bool last)
{
    struct mr_relay_pass *list;
    struct mr_relay_pass *p;
    struct mr_relay_pass *next;
    struct mr_err err = MR_ERR_INIT;
    struct flush_tx fx;
    int rc;

    if (r->dirty == NULL)
        return;
    if (atomic_load(&r->deposed)) {
        drop_all(r, dirty_take(r), "relay id taken over by another process");
        return;
    }
    if (!last && mr_mono_ms() < r->write_retry_at)
        return;
    drop_lapsed(r);
    if (r->dirty == NULL)
        return;
    if (!mr_relay_identity_ok(r)) {
        if (atomic_load(&r->deposed)) {
            drop_all(r, dirty_take(r), "relay id taken over by another process");
            return;
        }
        /* not renewed (the store is down): another process may hold the id by now */
        rc = MR_EUNAVAIL;
        mr_err_set(&err, rc, "relay id registration not renewed");
        list = dirty_take(r);
        goto failed;
    }
    list = dirty_take(r);
    /* a deadlock or lock-wait timeout (MR_EBUSY) or a lost connection (MR_EUNAVAIL) lost the
       transaction: write it all again (flush_policy; the store reconnects at the next begin).
       write_all() only re-reads the passes, so a replay writes the same. */
    fx.r = r;
    fx.list = list;
    rc = mr_store_run_tx(r->store, flush_tx, NULL, &fx, &flush_policy, &err);
    if (rc == 0) {
        r->write_backoff_ms = 0;
        mr_relay_store_ok(r);
        for (p = list; p != NULL; p = next) {
            next = p->dirty_next;
            p->dirty = false;
            p->dirty_next = NULL;
            after_commit(r, p);
        }
        return;
    }
failed:
    if (mr_store_retryable(rc) && !last) {
        /* keep them: a sequential pass waits (pump sees it dirty), a concurrent one goes on
           and adds its next results to the same write */
        mr_relay_store_failed(r, "write", err.msg);
        mr_log(MR_LOG_DEBUG, "results kept until the store answers", "error", err.msg, NULL);
        r->write_backoff_ms = r->write_backoff_ms == 0 ? WRITE_RETRY_MIN_MS
                              : r->write_backoff_ms >= WRITE_RETRY_MAX_MS / 2
                                  ? WRITE_RETRY_MAX_MS
                                  : r->write_backoff_ms * 2;
        r->write_retry_at = mr_mono_ms() + r->write_backoff_ms;
        dirty_keep(r, list);
        return;
    }
    mr_log(MR_LOG_ERROR, "store commit failed; dropping the results of this turn", "error", err.msg,
           NULL);
    drop_all(r, list, err.msg);
}
