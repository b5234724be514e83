/* SPDX-License-Identifier: MIT */
/*
 * backoff.h - retry intervals: a base, doubling up to a cap, and jitter; and
 * the one schedule a message follows after a result that is not a success,
 * shared by the back-check (query/) and step delivery (relay/).
 *
 * Must not: write anything (callers store what it computes).
 * Pure functions of the message, mr_config and the caller-owned random
 * state; any thread.
 */
#ifndef MR_COMMON_BACKOFF_H
#define MR_COMMON_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "common/model.h"
#include "common/result.h"

/*
 * mr_backoff_base - the base ("reset") interval in seconds for a message:
 * its own retry_interval if set; else its timeout_to_fail when that is set and
 * shorter than the server's interval; else the server's retry interval.
 */
int mr_backoff_base(int msg_retry_interval, int msg_timeout_to_fail, int server_retry_interval);

/* mr_backoff_next - @cur doubled, never above @cap, never below 1. */
int mr_backoff_next(int cur, int cap);

/*
 * mr_backoff_jitter_ms - @interval_s in milliseconds with +-20% jitter drawn
 * from @rng (a caller-owned xorshift state, any non-zero seed).
 */
int64_t mr_backoff_jitter_ms(int interval_s, uint64_t *rng);

/*
 * mr_backoff_retry_limit - how many failed attempts of one step (or of the
 * back-check) park @m: its own retry_limit, else the server's --retry-limit;
 * 0 = never.
 */
int mr_backoff_retry_limit(const struct mr_msg *m);

/*
 * mr_backoff_should_park - whether the failed attempt (@r: error or failure;
 * an ongoing answer never parks) that made @attempts failed attempts in all
 * reaches @m's retry limit.
 */
bool mr_backoff_should_park(const struct mr_msg *m, enum mr_result r, int attempts);

/* mr_backoff_msg_base - mr_backoff_base() for message @m and the server's --retry-interval. */
int mr_backoff_msg_base(const struct mr_msg *m);

/*
 * mr_backoff_schedule - when to look at @m again after a non-success result
 * @r of a step (@step) or of the back-check: ONGOING -> a step keeps its
 * current interval (at least the base), the back-check goes back to the base
 * (mr_backoff_msg_base), both without jitter; anything else -> the current
 * interval (at least the base) doubled up to mr_config.max_retry_interval, or
 * up to the base when the message's own retry_interval is longer, with +-20%
 * jitter from @rng. Writes the next time (UTC ms) to *next_ms and the
 * interval (s) to *interval.
 */
void mr_backoff_schedule(const struct mr_msg *m, enum mr_result r, bool step, int64_t now_ms,
                         uint64_t *rng, int64_t *next_ms, int *interval);

/* mr_rand64 - next value of the caller-owned xorshift64 state @rng. */
uint64_t mr_rand64(uint64_t *rng);

#endif
