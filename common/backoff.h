/* SPDX-License-Identifier: MIT */
/*
 * backoff.h - retry intervals: a base, doubling up to a cap, and jitter.
 * Pure functions apart from the caller-owned random state; any thread.
 */
#ifndef MR_COMMON_BACKOFF_H
#define MR_COMMON_BACKOFF_H

#include <stdint.h>

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

/* mr_rand64 - next value of the caller-owned xorshift64 state @rng. */
uint64_t mr_rand64(uint64_t *rng);

#endif
