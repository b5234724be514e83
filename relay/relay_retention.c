/* SPDX-License-Identifier: MIT */
/*
 * relay_retention.c - retention: final messages (succeed, failed) whose
 * finish is older than --retention are deleted with their steps, in batches
 * of --retention-batch per transaction with --retention-pause-ms between
 * batches, by one relay at a time among those sharing a store.
 *
 * It runs on a thread of its own with a store connection of its own, not in
 * the relay loop: a batch (a thousand rows and their steps) takes
 * milliseconds to tens of milliseconds of store time, which the relay's
 * libcurl loop must never wait for; on its own thread it only competes for
 * the store, and the batch bound and the pause keep that share small.
 *
 * One relay at a time: every batch's transaction first takes or renews the
 * store's job lease "retention" for this relay id (mr_store_job_lease) and
 * deletes only while it holds it, so the lease and the deletion commit
 * together. The lease lasts LEASE_MS, renewed at every tick; when its holder
 * dies another relay takes over within LEASE_MS plus a tick.
 *
 * Ticks: one at start-up, then every half of --retention, at least 1 s and at most 10 s, so a
 * message is gone within --retention + 10 s of finishing while one relay
 * runs (+ LEASE_MS after a holder died). Each tick deletes until a batch
 * comes back short.
 *
 * Must not: delete anything but through mr_store_retention_delete (final
 * states only: parked messages stay). Threads: its own, plus the starter's
 * for start and stop. Errors: a failed batch is logged (warn, then at most
 * once a minute) and counted; the next tick tries again.
 */
#include "relay/relay.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "store/store.h"

/* How long a holder's job lease lasts without renewal. */
#define LEASE_MS 20000

/* The tick's bounds. */
#define TICK_MIN_MS 1000
#define TICK_MAX_MS 10000

/* Failed batches are logged at most this often (the first one always). */
#define ERROR_LOG_MS 60000

struct mr_retention {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct mr_store *store;
    int64_t tick_ms;
    int64_t last_error_log; /* mono ms of the last logged failure; 0: none */
    bool failing;
};

/* What one batch does, for mr_store_run_tx(). */
struct batch {
    int64_t now_ms;
    int64_t cutoff_ms;
    bool held;
    size_t deleted;
};

static int batch_tx(struct mr_store *s, void *arg, struct mr_err *err)
{
    struct batch *b = arg;
    int rc;

    b->held = false;
    b->deleted = 0;
    rc = mr_store_job_lease(s, "retention", mr_config.relay_id, b->now_ms, b->now_ms + LEASE_MS,
                            &b->held, err);
    if (rc == 0 && b->held)
        rc = mr_store_retention_delete(s, b->cutoff_ms, (size_t)mr_config.retention_batch,
                                       &b->deleted, err);
    return rc;
}

static const struct mr_store_tx_policy batch_policy = {3, 20, MR_LOG_DEBUG};

/* wait_ms - sleep up to @ms unless stopped; whether to go on. */
static bool wait_ms(struct mr_retention *t, int64_t ms)
{
    struct timespec until;
    bool go;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
        ;
    go = !t->stop;
    pthread_mutex_unlock(&t->mu);
    return go;
}

/* report_error - log a failed batch: the first of a run at once, then once a minute. */
static void report_error(struct mr_retention *t, const struct mr_err *err)
{
    int64_t now = mr_mono_ms();

    mr_metrics_retention(0, true);
    if (!t->failing || now - t->last_error_log >= ERROR_LOG_MS) {
        mr_log(MR_LOG_WARN, "retention batch failed; trying again at the next tick", "error",
               err->msg, NULL);
        t->last_error_log = now;
    }
    t->failing = true;
}

/*
 * share_pause_ms - the pause after a batch that took @batch_ms of store time,
 * so that batches take at most --retention-share percent of the time: at least
 * --retention-pause-ms, and @batch_ms * (100 - share) / share.
 */
static int64_t share_pause_ms(int64_t batch_ms)
{
    int64_t share = mr_config.retention_share;
    int64_t p = batch_ms * (100 - share) / share;

    return p > mr_config.retention_pause_ms ? p : mr_config.retention_pause_ms;
}

/* tick - delete batch after batch until one comes back short, the lease is elsewhere or stop. */
static void tick(struct mr_retention *t)
{
    struct mr_err err = MR_ERR_INIT;
    struct batch b;
    size_t total = 0;
    int64_t began;
    char n[32];

    for (;;) {
        began = mr_mono_ms();
        b.now_ms = mr_now_ms();
        b.cutoff_ms = b.now_ms - mr_config.retention * 1000;
        if (mr_store_run_tx(t->store, batch_tx, NULL, &b, &batch_policy, &err) != 0) {
            report_error(t, &err);
            break;
        }
        if (t->failing)
            mr_log(MR_LOG_INFO, "retention batches work again", NULL);
        t->failing = false;
        total += b.deleted;
        mr_metrics_retention((long)b.deleted, false);
        if (!b.held || b.deleted < (size_t)mr_config.retention_batch)
            break;
        if (!wait_ms(t, share_pause_ms(mr_mono_ms() - began)))
            break;
    }
    if (total > 0) {
        snprintf(n, sizeof(n), "%zu", total);
        mr_log(MR_LOG_INFO, "retention deleted final messages", "count", n, NULL);
    }
}

static void *retention_main(void *arg)
{
    struct mr_retention *t = arg;

    /* at once at start-up (a backlog left while no relay ran), then every tick */
    do
        tick(t);
    while (wait_ms(t, t->tick_ms));
    return NULL;
}

int mr_retention_start(struct mr_retention **out, struct mr_err *err)
{
    struct mr_retention *t;
    int64_t half;
    int rc;

    *out = NULL;
    if (mr_config.retention == 0)
        return 0;
    t = mr_xcalloc(1, sizeof(*t));
    half = mr_config.retention * 1000 / 2;
    t->tick_ms = half < TICK_MIN_MS ? TICK_MIN_MS : half > TICK_MAX_MS ? TICK_MAX_MS : half;
    rc = mr_store_open(mr_config.store, &t->store, err);
    if (rc == 0)
        rc = mr_store_relax(t->store, err); /* a deletion lost to a power cut is done again */
    if (rc != 0) {
        mr_store_close(t->store);
        free(t);
        return rc;
    }
    pthread_mutex_init(&t->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (pthread_create(&t->thread, NULL, retention_main, t) != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        mr_store_close(t->store);
        free(t);
        return mr_err_set(err, MR_ESYS, "retention: cannot start its thread");
    }
    *out = t;
    return 0;
}

void mr_retention_stop(struct mr_retention *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    mr_store_close(t->store);
    free(t);
}
