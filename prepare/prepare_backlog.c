/* SPDX-License-Identifier: MIT */
/*
 * prepare_backlog.c - the backlog of due messages and the intake's
 * back-pressure (README "Back-pressure").
 *
 * The backlog is the number of unfinished messages due now and not leased:
 * work no relay has taken yet, a fact of the store shared by every relay on
 * it. The readiness probe thread samples it (mr_store_count_due, capped) every
 * BACKLOG_SAMPLE_MS on its own connection; between two samples the writer
 * adds what it left in the store due and unleased, so the estimate does not
 * wait for the next sample to grow (it may only overstate until then).
 *
 * What the estimate drives:
 *   - hand-over: the writer hands fresh submits to the relay in memory only
 *     while the backlog is 0, so the oldest due work is never left behind
 *     fresh hand-overs (it is claimed, oldest first, with the fresh ones);
 *   - --backlog-slow: above it the writer waits before each group commit,
 *     longer the further the backlog is over (up to BACKLOG_WAIT_MAX_MS), so
 *     closed-loop producers slow down and the relay gets the CPU;
 *   - --backlog-max: above it a submit is answered 503 with Retry-After
 *     before it reaches the writer.
 *
 * Threads: mr_backlog_sample() on the probe thread; the rest from any thread
 * (plain atomics, no lock).
 */
#include "prepare/prepare_int.h"

#include <stdatomic.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"

/* The least a sample counts up to: the gauge means something with both bounds off. */
#define BACKLOG_CAP_MIN 10000

/* The longest wait before one group commit, ms (at twice --backlog-slow and beyond). */
#define BACKLOG_WAIT_MAX_MS 50

static atomic_long sampled; /* the last sample */
static atomic_long left;    /* due messages the writer left in the store since it */

/* The states the sampler last logged (probe thread only). */
static bool was_slow;
static bool was_refusing;

/* sample_cap - how far a sample counts: past every bound, so each is seen crossed. */
static size_t sample_cap(void)
{
    long long cap = BACKLOG_CAP_MIN;

    if ((long long)mr_config.backlog_max + 1 > cap)
        cap = (long long)mr_config.backlog_max + 1;
    if (2LL * mr_config.backlog_slow + 1 > cap)
        cap = 2LL * mr_config.backlog_slow + 1;
    return (size_t)cap;
}

long mr_backlog_now(void)
{
    return atomic_load_explicit(&sampled, memory_order_relaxed) +
           atomic_load_explicit(&left, memory_order_relaxed);
}

void mr_backlog_left(long n)
{
    if (n > 0)
        atomic_fetch_add_explicit(&left, n, memory_order_relaxed);
}

/* log_change - say once when slowing or refusing starts or stops. */
static void log_change(long n)
{
    bool slow = mr_config.backlog_slow > 0 && n > mr_config.backlog_slow;
    bool refusing = mr_config.backlog_max > 0 && n > mr_config.backlog_max;
    char v[32];

    snprintf(v, sizeof(v), "%ld", n);
    if (refusing != was_refusing)
        mr_log(refusing ? MR_LOG_WARN : MR_LOG_INFO,
               refusing ? "backlog over --backlog-max: submits answered 503"
                        : "backlog under --backlog-max: submits accepted again",
               "backlog", v, NULL);
    if (slow != was_slow)
        mr_log(slow ? MR_LOG_WARN : MR_LOG_INFO,
               slow ? "backlog over --backlog-slow: the intake waits before its commits"
                    : "backlog under --backlog-slow: the intake no longer waits",
               "backlog", v, NULL);
    was_refusing = refusing;
    was_slow = slow;
}

int mr_backlog_sample(struct mr_store *s, bool *far, struct mr_err *err)
{
    int64_t oldest = 0;
    long n = 0;
    int rc;

    *far = false;
    /* what the writer leaves from here on is in the next sample, not this one */
    long had = atomic_exchange_explicit(&left, 0, memory_order_relaxed);

    /* the oldest due time is read with the count; the bound is still a count */
    rc = mr_store_count_due(s, mr_now_ms(), sample_cap(), &n, &oldest, err);
    if (rc != 0) {
        /* keep the estimate: a store that does not answer has not drained */
        atomic_fetch_add_explicit(&left, had, memory_order_relaxed);
        return rc;
    }
    atomic_store_explicit(&sampled, n, memory_order_relaxed);
    log_change(mr_backlog_now());
    mr_metrics_set_backlog(n);
    *far = n > 2L * mr_config.backlog_slow && n > BACKLOG_CAP_MIN;
    return 0;
}

bool mr_backlog_refuse(void)
{
    return mr_config.backlog_max > 0 && mr_backlog_now() > mr_config.backlog_max;
}

int mr_backlog_wait_ms(void)
{
    long slow = mr_config.backlog_slow;
    long over;

    if (slow <= 0)
        return 0;
    over = mr_backlog_now() - slow;
    if (over <= 0)
        return 0;
    /* 0 at the bound, growing linearly to the cap at twice the bound */
    if (over >= slow)
        return BACKLOG_WAIT_MAX_MS;
    return (int)(1 + (long long)over * (BACKLOG_WAIT_MAX_MS - 1) / slow);
}
