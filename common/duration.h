/* SPDX-License-Identifier: MIT */
/*
 * duration.h - durations as people write them on a command line: "7d",
 * "90m", "1h30m", "45s", or a bare number of seconds ("3600").
 *
 * Units: s (seconds), m (minutes), h (hours), d (days). Groups may follow
 * each other, each unit at most once and larger units first ("1d12h", not
 * "12h1d"). No sign, no blanks, no fractions. At most MR_DURATION_MAX_S.
 * Pure functions; any thread.
 */
#ifndef MR_COMMON_DURATION_H
#define MR_COMMON_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The longest duration accepted: 100 years of 365 days, in seconds. */
#define MR_DURATION_MAX_S (100LL * 365 * 86400)

/*
 * mr_duration_parse - @text as a number of seconds into *@seconds. MR_EINVAL
 * with "'TEXT' is not a duration (...)" or "... is longer than ..." in @err
 * (the caller prefixes the flag's name); *@seconds untouched then.
 */
int mr_duration_parse(const char *text, int64_t *seconds, struct mr_err *err);

/*
 * mr_duration_format - @seconds (>= 0) in the largest units that give it
 * exactly ("7d", "90m", "1h30m", "0s") into @out of @size bytes.
 */
void mr_duration_format(int64_t seconds, char *out, size_t size);

#endif
