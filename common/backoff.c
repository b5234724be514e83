/* SPDX-License-Identifier: MIT */
/*
 * backoff.c - retry intervals and the schedule after a result (see backoff.h).
 * Must not: write anything. Thread: any; state is the caller's.
 */
#include "common/backoff.h"

#include "common/config.h"

int mr_backoff_base(int msg_retry_interval, int msg_timeout_to_fail, int server_retry_interval)
{
    if (msg_retry_interval > 0)
        return msg_retry_interval;
    if (msg_timeout_to_fail > 0 && msg_timeout_to_fail < server_retry_interval)
        return msg_timeout_to_fail;
    return server_retry_interval > 0 ? server_retry_interval : 1;
}

int mr_backoff_next(int cur, int cap)
{
    int next;

    if (cur < 1)
        cur = 1;
    if (cap < 1)
        cap = 1;
    next = cur > cap / 2 ? cap : cur * 2;
    return next < 1 ? 1 : next;
}

uint64_t mr_rand64(uint64_t *rng)
{
    uint64_t x = *rng ? *rng : 0x9e3779b97f4a7c15ULL;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return x;
}

int64_t mr_backoff_jitter_ms(int interval_s, uint64_t *rng)
{
    int64_t ms = (int64_t)interval_s * 1000;
    int64_t span = ms * 2 / 5; /* 40% wide: -20% .. +20% */
    int64_t off;

    if (span <= 0)
        return ms;
    off = (int64_t)(mr_rand64(rng) % (uint64_t)(span + 1)) - span / 2;
    return ms + off;
}

int mr_backoff_retry_limit(const struct mr_msg *m)
{
    return m->retry_limit > 0 ? m->retry_limit : mr_config.retry_limit;
}

bool mr_backoff_should_park(const struct mr_msg *m, enum mr_result r, int attempts)
{
    int limit = mr_backoff_retry_limit(m);

    if (r != MR_RESULT_ERROR && r != MR_RESULT_FAILURE)
        return false;
    return limit > 0 && attempts >= limit;
}

int mr_backoff_msg_base(const struct mr_msg *m)
{
    return mr_backoff_base(m->retry_interval, m->timeout_to_fail, mr_config.retry_interval);
}

void mr_backoff_schedule(const struct mr_msg *m, enum mr_result r, bool step, int64_t now_ms,
                         uint64_t *rng, int64_t *next_ms, int *interval)
{
    int base = mr_backoff_msg_base(m);
    /* the cap bounds the doubling; a message's own longer retry_interval is kept */
    int cap = mr_config.max_retry_interval > base ? mr_config.max_retry_interval : base;
    /* a fresh message may carry interval 0: the first back-off is then 2 x base, as in DTM */
    int cur = m->next_cron_interval > base ? m->next_cron_interval : base;

    if (r == MR_RESULT_ONGOING) {
        /* a step keeps its interval, a back-check goes back to the base (DTM's keep and reset) */
        *interval = step ? cur : base;
        *next_ms = now_ms + (int64_t)*interval * 1000;
        return;
    }
    *interval = mr_backoff_next(cur, cap);
    *next_ms = now_ms + mr_backoff_jitter_ms(*interval, rng);
}
