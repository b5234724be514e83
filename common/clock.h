/* SPDX-License-Identifier: MIT */
/*
 * clock.h - wall-clock and monotonic time, and RFC 3339 rendering.
 * msgrelay stores times as UTC milliseconds since the epoch (int64) and
 * renders them in RFC 3339 with a Z suffix. Thread-safe.
 */
#ifndef MR_COMMON_CLOCK_H
#define MR_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* mr_now_ms - wall-clock time, UTC milliseconds since the epoch. */
int64_t mr_now_ms(void);

/* mr_mono_ms - monotonic milliseconds, for deadlines and durations. */
int64_t mr_mono_ms(void);

/* mr_mono_us - monotonic microseconds, for short durations (API latency). */
int64_t mr_mono_us(void);

/* mr_time_rfc3339 - "2026-11-23T12:00:00Z" into @out (at least 32 bytes). */
void mr_time_rfc3339(int64_t ms, char *out, size_t size);

/* mr_time_rfc3339_ms - "2026-11-23T12:00:00.123Z" into @out (at least 32 bytes). */
void mr_time_rfc3339_ms(int64_t ms, char *out, size_t size);

#endif
