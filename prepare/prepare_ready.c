/* SPDX-License-Identifier: MIT */
/*
 * prepare_ready.c - what GET /api/ready answers: a cached health state kept
 * by a probe thread of its own.
 *
 * Why a thread and a cache: the answer must come at once during an outage,
 * and an MHD thread must never wait on the database (a MySQL connect or read
 * can take seconds, and a handler that waits holds one of a few HTTP threads).
 * Asking the writer would queue the question behind the intake's own retries.
 * So the probe has its own store connection and, once a second, looks the
 * store up (one indexed read of a gid that cannot exist) and asks the relay
 * through the ready hook (Kafka reachable, when configured). The HTTP thread
 * only copies the last result under a mutex. A probe that hangs (a database
 * that accepts but never answers) shows as a result growing stale: older
 * than READY_STALE_MS counts as not ready.
 *
 * Between probes, every BACKLOG_SAMPLE_MS, the thread samples the backlog
 * of due messages on the same connection (prepare_backlog.c): a count and
 * the oldest due time, one read of up to its cap of index entries, which the
 * writer must not wait for.
 *
 * The admin page's overview (GET /api/msgrelay/overview) is read here too,
 * by a counting thread with a connection of its own, opened at the first
 * overview: its counts read every message's index entry, which must not
 * stall the writer's group commits, nor the probe (on 10,000,000 messages
 * they take seconds on MySQL, longer than READY_STALE_MS: counted on the
 * probe's thread they made the relay not ready at every refresh of the admin
 * page). A request is answered from counts at most OVERVIEW_FRESH_MS old;
 * otherwise its connection waits (suspended) for the counting thread, which
 * is woken at once, reads the counts, and answers every overview waiting.
 *
 * Threads: the probe thread, the counting thread; mr_ready_check() and
 * mr_ready_overview() from any thread.
 * Errors: a failed probe is the state "not ready" with a short reason safe to
 * show on an open route (no host names, no URIs); the detail is logged once
 * when the state changes.
 */
#include "prepare/prepare_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"

/* How often the probe runs, and how old its last result may be before it counts as stuck. */
#define READY_PERIOD_MS 1000
#define READY_STALE_MS 3500

/* How long the relay's part of a probe (a Kafka metadata request) may take. */
#define READY_RELAY_TIMEOUT_MS 1000

/*
 * How often the backlog of due messages is sampled: every BACKLOG_SAMPLE_MS,
 * or half --backlog-slow-ms when shorter (at least BACKLOG_SAMPLE_NEAR_MS), so
 * work that comes due by the clock is seen, and its relay woken, before its
 * age nears the bound; every BACKLOG_SAMPLE_NEAR_MS while a few wait
 * (1..BACKLOG_NEAR_MAX, a read of that many index entries), since the age
 * estimate keeps the sampled oldest growing until the next sample even when a
 * relay took it just after; less often while it is large and its age far past
 * --backlog-slow-ms (the intake waits its longest already), where a count
 * reads up to --backlog-max entries.
 */
#define BACKLOG_SAMPLE_MS 250
#define BACKLOG_SAMPLE_NEAR_MS 50
#define BACKLOG_NEAR_MAX 1000
#define BACKLOG_SAMPLE_FAR_MS 1000

/* How old the overview's counts may be when they are shown again. */
#define OVERVIEW_FRESH_MS 2000

/* A gid no client can store (gids may not contain '/'): the probe's lookup finds nothing. */
#define READY_PROBE_GID "/ready-probe"

struct mr_ready {
    pthread_t thread;
    pthread_t counter;            /* the counting thread (answer_waiting) */
    bool counter_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* wakes the probe thread (stop) */
    pthread_cond_t count_cv;      /* wakes the counting thread (an overview waiting, stop) */
    bool stop;                    /* under mu */
    struct mr_prepare_hooks hooks; /* the ready hook asks the relay */
    int64_t at_ms;                /* under mu: monotonic end of the last probe; 0 = none yet */
    char why[256];                /* under mu: "" when ready, else the reason */
    void (*resume)(void *conn);   /* resumes an overview's suspended connection */
    struct mr_req *waiting;       /* under mu: overviews waiting for counts */
    bool closed;                  /* under mu: overviews are answered 503 */
    struct mr_overview_counts counts; /* under mu: the last counts read */
    int64_t counts_at_ms;         /* under mu: monotonic time they were read; 0 = never */
};

/* answer_overview - set @req's answer (the counts @c, or 503 when NULL) and resume it. */
static void answer_overview(struct mr_ready *r, struct mr_req *req,
                            const struct mr_overview_counts *c)
{
    if (c != NULL)
        mr_reply_json(&req->answer, mr_render_overview(c, mr_now_ms()));
    else
        mr_reply_envelope(&req->answer, 503, "overview: the store is not answering, retry later");
    r->resume(req->conn);
}

/*
 * answer_waiting - read the counts on @s and answer the overviews waiting, if
 * any; false when @s is NULL or did not answer.
 */
static bool answer_waiting(struct mr_ready *r, struct mr_store *s)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_overview_counts c;
    struct mr_req *list;
    struct mr_req *next;
    bool ok;

    pthread_mutex_lock(&r->mu);
    list = r->waiting;
    r->waiting = NULL;
    pthread_mutex_unlock(&r->mu);
    if (list == NULL)
        return s != NULL;
    ok = s != NULL && mr_overview_read(s, &c, &err) == 0;
    if (ok) {
        pthread_mutex_lock(&r->mu);
        r->counts = c;
        r->counts_at_ms = mr_mono_ms();
        pthread_mutex_unlock(&r->mu);
    } else if (s != NULL) {
        mr_log(MR_LOG_WARN, "overview: cannot count messages", "error", err.msg, NULL);
    }
    for (; list != NULL; list = next) {
        next = list->next;
        answer_overview(r, list, ok ? &c : NULL);
    }
    return ok;
}

void mr_ready_overview(struct mr_ready *r, struct mr_req *req)
{
    struct mr_overview_counts c;
    bool fresh;
    bool closed;

    pthread_mutex_lock(&r->mu);
    closed = r->closed;
    fresh = r->counts_at_ms != 0 && mr_mono_ms() - r->counts_at_ms < OVERVIEW_FRESH_MS;
    c = r->counts;
    if (!closed && !fresh) {
        req->next = r->waiting;
        r->waiting = req;
        pthread_cond_signal(&r->count_cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (closed || fresh)
        answer_overview(r, req, closed ? NULL : &c);
}

void mr_ready_close(struct mr_ready *r)
{
    struct mr_req *list;
    struct mr_req *next;

    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->closed = true;
    list = r->waiting;
    r->waiting = NULL;
    pthread_mutex_unlock(&r->mu);
    for (; list != NULL; list = next) {
        next = list->next;
        answer_overview(r, list, NULL);
    }
}

/*
 * probe - one look at the store (on *@s, opened or reopened here) and the
 * relay; 0 or MR_E*, with the shown reason in @why and, for the log, the
 * whole error in @detail.
 */
static int probe(struct mr_ready *r, struct mr_store **s, char *why, size_t n,
                 struct mr_err *detail)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;
    int rc = 0;

    if (*s == NULL)
        rc = mr_store_open(mr_config.store, s, &err);
    if (rc == 0)
        rc = mr_store_msg_get(*s, READY_PROBE_GID, false, &m, &err);
    mr_msg_free(m);
    if (rc != 0) {
        /* a fresh connection next time: the engine's own reconnect may be what failed */
        mr_store_close(*s);
        *s = NULL;
        snprintf(why, n, "store: not answering");
        *detail = err;
        return rc;
    }
    if (r->hooks.ready != NULL) {
        rc = r->hooks.ready(r->hooks.arg, READY_RELAY_TIMEOUT_MS, &err);
        if (rc != 0) {
            /* cut to fit: the reason is a summary, the log has the rest */
            snprintf(why, n, "%.*s", (int)(n - 1), err.msg);
            *detail = err;
            return rc;
        }
    }
    why[0] = '\0';
    return 0;
}

/* wait_until - wait on @r's condition variable (@r->mu held) until monotonic @at_ms at most. */
static void wait_until(struct mr_ready *r, int64_t at_ms)
{
    int64_t left = at_ms - mr_mono_ms();
    struct timespec until;

    if (left <= 0)
        return;
    /* the condition variable runs on CLOCK_MONOTONIC (see mr_ready_start) */
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += left / 1000;
    until.tv_nsec += left % 1000 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &until);
}

/*
 * sample - the backlog's sample on @s (NULL while the store is not reachable:
 * none); how long until the next one, ms. Due work in the store wakes the
 * relay (the wake hook): a message that came due by the clock (a retry, a
 * back-check) is claimed now, not at the relay's next poll, up to
 * --poll-interval-ms later, during which its age would slow the intake.
 */
static int64_t sample(struct mr_ready *r, struct mr_store *s)
{
    struct mr_err err = MR_ERR_INIT;
    bool far = false;
    int64_t every = BACKLOG_SAMPLE_MS;
    long n;

    if (mr_config.backlog_slow_ms > 0 && mr_config.backlog_slow_ms / 2 < every)
        every = mr_config.backlog_slow_ms / 2;
    if (every < BACKLOG_SAMPLE_NEAR_MS)
        every = BACKLOG_SAMPLE_NEAR_MS;
    if (s == NULL)
        return every;
    if (mr_backlog_sample(s, &far, &err) != 0) {
        /* a failure keeps the estimate; the next probe sees the store's state and says it */
        mr_log(MR_LOG_DEBUG, "backlog: cannot count due messages", "error", err.msg, NULL);
        return every;
    }
    n = mr_backlog_now();
    if (n == 0)
        return every;
    if (r->hooks.wake != NULL)
        r->hooks.wake(r->hooks.arg);
    if (far)
        return BACKLOG_SAMPLE_FAR_MS;
    return n <= BACKLOG_NEAR_MAX ? BACKLOG_SAMPLE_NEAR_MS : every;
}

static void *probe_main(void *arg)
{
    struct mr_ready *r = arg;
    struct mr_store *s = NULL;
    char why[sizeof(r->why)];
    char was[sizeof(r->why)] = "starting";
    struct mr_err detail;
    int64_t next;
    int64_t next_sample = 0;

    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        pthread_mutex_unlock(&r->mu);
        next = mr_mono_ms() + READY_PERIOD_MS;
        mr_err_clear(&detail);
        probe(r, &s, why, sizeof(why), &detail);
        if (strcmp(why, was) != 0) {
            if (why[0] == '\0')
                mr_log(MR_LOG_INFO, "ready", NULL);
            else
                mr_log(MR_LOG_WARN, "not ready", "reason", why, "error", detail.msg, NULL);
            memcpy(was, why, sizeof(was));
        }
        pthread_mutex_lock(&r->mu);
        memcpy(r->why, why, sizeof(r->why));
        r->at_ms = mr_mono_ms();
        /* until the next probe: backlog samples */
        while (!r->stop) {
            int64_t mono = mr_mono_ms();

            if (mono >= next_sample) {
                pthread_mutex_unlock(&r->mu);
                next_sample = mono + sample(r, s);
                pthread_mutex_lock(&r->mu);
                continue;
            }
            if (mono >= next)
                break;
            wait_until(r, next < next_sample ? next : next_sample);
        }
    }
    pthread_mutex_unlock(&r->mu);
    mr_store_close(s);
    return NULL;
}

/* counter_main - the counting thread: answers the overviews waiting, on a connection of its own. */
static void *counter_main(void *arg)
{
    struct mr_ready *r = arg;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;

    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (r->waiting == NULL) {
            pthread_cond_wait(&r->count_cv, &r->mu);
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        if (s == NULL && mr_store_open(mr_config.store, &s, &err) != 0) {
            mr_log(MR_LOG_WARN, "overview: cannot open the store", "error", err.msg, NULL);
            mr_err_clear(&err);
            s = NULL;
        }
        if (!answer_waiting(r, s)) {
            /* a fresh connection next time: the engine's own reconnect may be what failed */
            mr_store_close(s);
            s = NULL;
        }
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    mr_store_close(s);
    return NULL;
}

int mr_ready_start(const struct mr_prepare_hooks *hooks, void (*resume)(void *conn),
                   struct mr_ready **out, struct mr_err *err)
{
    struct mr_ready *r = mr_xcalloc(1, sizeof(*r));
    pthread_condattr_t ca;

    r->hooks = *hooks;
    r->resume = resume;
    snprintf(r->why, sizeof(r->why), "starting");
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&r->count_cv, NULL);
    if (pthread_create(&r->thread, NULL, probe_main, r) != 0) {
        pthread_cond_destroy(&r->count_cv);
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return mr_err_set(err, MR_ESYS, "ready: cannot start the probe thread");
    }
    if (pthread_create(&r->counter, NULL, counter_main, r) != 0) {
        mr_ready_stop(r);
        return mr_err_set(err, MR_ESYS, "ready: cannot start the counting thread");
    }
    r->counter_started = true;
    *out = r;
    return 0;
}

bool mr_ready_check(struct mr_ready *r, char *why, size_t n)
{
    int64_t age;
    bool ok;

    pthread_mutex_lock(&r->mu);
    age = mr_mono_ms() - r->at_ms;
    if (r->at_ms == 0)
        snprintf(why, n, "%s", r->why);
    else if (age > READY_STALE_MS)
        snprintf(why, n, "store: no answer for %lld ms", (long long)age);
    else
        snprintf(why, n, "%s", r->why);
    pthread_mutex_unlock(&r->mu);
    ok = why[0] == '\0';
    return ok;
}

void mr_ready_stop(struct mr_ready *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_cond_signal(&r->count_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    if (r->counter_started)
        pthread_join(r->counter, NULL);
    mr_ready_close(r);
    pthread_cond_destroy(&r->count_cv);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
