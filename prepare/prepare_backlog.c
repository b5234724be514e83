/* SPDX-License-Identifier: MIT */
/*
 * prepare_backlog.c - the backlog of due messages and the intake's
 * back-pressure (README "Back-pressure").
 *
 * The backlog is the unfinished messages due now and not leased: work no
 * relay has taken yet, a fact of the store shared by every relay on it. The
 * readiness probe thread samples it (mr_store_count_due, capped) a few times a
 * second on its own connection (prepare_ready.c says how often): how many,
 * and the due time of the oldest, in one read. Between two samples the
 * estimate does not wait for the next one: the writer adds what it left in
 * the store due and unleased (it may only overstate until then), and the age
 * of the oldest (now minus its due time) grows by itself; when the sample saw
 * none, the time the writer first left some stands for the oldest.
 *
 * What the estimate drives:
 *   - hand-over (the count): the writer hands fresh submits to the relay in
 *     memory only while the backlog is 0, so the oldest due work is never left
 *     behind fresh hand-overs (it is claimed, oldest first, with the fresh ones);
 *   - --backlog-slow-ms (the age): while the oldest due message has waited
 *     longer than it, the writer waits before each group commit, longer the
 *     further the age is over (up to BACKLOG_WAIT_MAX_MS at twice the bound),
 *     so closed-loop producers slow down and the relay gets the CPU. An age,
 *     not a count: the same count is 0.08 s of delivery on one engine and
 *     0.2 s on another, while the lag a producer sees is a time;
 *   - --backlog-max (the count): above it a submit is answered 503 with
 *     Retry-After before it reaches the writer.
 *
 * Threads: mr_backlog_sample() on the probe thread; the rest from any thread
 * (plain atomics, no lock).
 */
#include "prepare/prepare_int.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/metrics.h"

/* The least a sample counts up to: the gauge means something with both bounds off. */
#define BACKLOG_CAP_MIN 10000

/* The longest wait before one group commit, ms (at twice --backlog-slow-ms and beyond). */
#define BACKLOG_WAIT_MAX_MS 50

static atomic_long sampled; /* the last sample's count */
static atomic_long left;    /* due messages the writer left in the store since it */
static _Atomic int64_t sampled_oldest; /* the last sample's oldest due time, epoch ms; 0: none */
static _Atomic int64_t left_since;     /* when the writer first left some since it; 0: never */

/* The states the sampler last logged (probe thread only). */
static bool was_slow;
static bool was_refusing;

/* sample_cap - how far a sample counts: past --backlog-max, so it is seen crossed. */
static size_t sample_cap(void)
{
    long long cap = BACKLOG_CAP_MIN;

    if ((long long)mr_config.backlog_max + 1 > cap)
        cap = (long long)mr_config.backlog_max + 1;
    return (size_t)cap;
}

long mr_backlog_now(void)
{
    return atomic_load_explicit(&sampled, memory_order_relaxed) +
           atomic_load_explicit(&left, memory_order_relaxed);
}

int64_t mr_backlog_oldest_ms(void)
{
    int64_t s = atomic_load_explicit(&sampled_oldest, memory_order_relaxed);
    int64_t l = atomic_load_explicit(&left_since, memory_order_relaxed);

    if (s == 0 || (l != 0 && l < s))
        return l;
    return s;
}

int64_t mr_backlog_age_ms(int64_t now_ms)
{
    int64_t oldest = mr_backlog_oldest_ms();

    return oldest > 0 && now_ms > oldest ? now_ms - oldest : 0;
}

void mr_backlog_left(long n)
{
    int64_t none = 0;

    if (n <= 0)
        return;
    atomic_fetch_add_explicit(&left, n, memory_order_relaxed);
    /* the first since the sample stands for the oldest while the sample saw none */
    if (atomic_load_explicit(&left_since, memory_order_relaxed) == 0)
        atomic_compare_exchange_strong_explicit(&left_since, &none, mr_now_ms(),
                                                memory_order_relaxed, memory_order_relaxed);
}

/* log_change - say once when slowing or refusing starts or stops. */
static void log_change(long n, int64_t age_ms)
{
    bool slow = mr_config.backlog_slow_ms > 0 && age_ms > mr_config.backlog_slow_ms;
    bool refusing = mr_config.backlog_max > 0 && n > mr_config.backlog_max;
    char v[32];
    char a[32];

    snprintf(v, sizeof(v), "%ld", n);
    snprintf(a, sizeof(a), "%lld", (long long)age_ms);
    if (refusing != was_refusing)
        mr_log(refusing ? MR_LOG_WARN : MR_LOG_INFO,
               refusing ? "backlog over --backlog-max: submits answered 503"
                        : "backlog under --backlog-max: submits accepted again",
               "backlog", v, NULL);
    if (slow != was_slow)
        mr_log(slow ? MR_LOG_WARN : MR_LOG_INFO,
               slow ? "backlog older than --backlog-slow-ms: the intake waits before its commits"
                    : "backlog no older than --backlog-slow-ms: the intake no longer waits",
               "oldest_ms", a, "backlog", v, NULL);
    was_refusing = refusing;
    was_slow = slow;
}

int mr_backlog_sample(struct mr_store *s, bool *far, struct mr_err *err)
{
    int64_t oldest = 0;
    int64_t none = 0;
    int64_t age;
    long n = 0;
    int rc;

    *far = false;
    /* what the writer leaves from here on is in the next sample, not this one */
    long had = atomic_exchange_explicit(&left, 0, memory_order_relaxed);
    int64_t had_since = atomic_exchange_explicit(&left_since, 0, memory_order_relaxed);

    rc = mr_store_count_due(s, mr_now_ms(), sample_cap(), &n, &oldest, err);
    if (rc != 0) {
        /* keep the estimate: a store that does not answer has not drained */
        atomic_fetch_add_explicit(&left, had, memory_order_relaxed);
        atomic_compare_exchange_strong_explicit(&left_since, &none, had_since,
                                                memory_order_relaxed, memory_order_relaxed);
        return rc;
    }
    atomic_store_explicit(&sampled, n, memory_order_relaxed);
    atomic_store_explicit(&sampled_oldest, oldest, memory_order_relaxed);
    age = mr_backlog_age_ms(mr_now_ms());
    log_change(mr_backlog_now(), age);
    mr_metrics_set_backlog(n, oldest);
    /* counting is the cost; past the slow bound's range only --backlog-max is left to see */
    *far = n > BACKLOG_CAP_MIN && age >= 2LL * mr_config.backlog_slow_ms;
    return 0;
}

bool mr_backlog_refuse(void)
{
    return mr_config.backlog_max > 0 && mr_backlog_now() > mr_config.backlog_max;
}

int mr_backlog_wait_ms(void)
{
    int64_t slow = mr_config.backlog_slow_ms;
    int64_t over;

    if (slow <= 0)
        return 0;
    over = mr_backlog_age_ms(mr_now_ms()) - slow;
    if (over <= 0)
        return 0;
    /* 0 at the bound, growing linearly to the cap at twice the bound */
    if (over >= slow)
        return BACKLOG_WAIT_MAX_MS;
    return (int)(1 + over * (BACKLOG_WAIT_MAX_MS - 1) / slow);
}
