/* SPDX-License-Identifier: MIT */
/*
 * duration.c - parse and print durations ("7d", "90m", "1h30m"); see duration.h.
 *
 * Must not: allocate. Threads: any. Errors: MR_EINVAL naming the text (cut
 * at 64 bytes) and what is wrong.
 */
#include "common/duration.h"

#include <stdio.h>
#include <string.h>

/* The units, largest first: the order groups must follow. */
static const struct {
    char unit;
    int64_t seconds;
} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

#define NUNITS (sizeof(units) / sizeof(units[0]))

int mr_duration_parse(const char *text, int64_t *seconds, struct mr_err *err)
{
    const char *p = text;
    size_t next = 0; /* the first unit still allowed */
    int64_t total = 0;

    if (text == NULL || *text == '\0')
        return mr_err_set(err, MR_EINVAL, "'' is not a duration (e.g. 7d, 90m, 45s)");
    while (*p != '\0') {
        int64_t n = 0;
        size_t i;

        if (*p < '0' || *p > '9')
            return mr_err_set(err, MR_EINVAL, "'%.64s' is not a duration (e.g. 7d, 90m, 45s)",
                              text);
        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p - '0');
            if (n > MR_DURATION_MAX_S)
                return mr_err_set(err, MR_EINVAL, "'%.64s' is longer than %lld days", text,
                                  MR_DURATION_MAX_S / 86400);
            p++;
        }
        if (*p == '\0') {
            /* a bare number is seconds, and only alone */
            if (p - text != (long)strlen(text) || next != 0)
                return mr_err_set(err, MR_EINVAL,
                                  "'%.64s' is not a duration (a number needs a unit: s, m, h, d)",
                                  text);
            total = n;
            break;
        }
        for (i = next; i < NUNITS && units[i].unit != *p; i++)
            ;
        if (i == NUNITS)
            return mr_err_set(err, MR_EINVAL,
                              "'%.64s' is not a duration (units s, m, h, d, largest first)", text);
        total += n * units[i].seconds;
        if (total > MR_DURATION_MAX_S)
            return mr_err_set(err, MR_EINVAL, "'%.64s' is longer than %lld days", text,
                              MR_DURATION_MAX_S / 86400);
        next = i + 1;
        p++;
    }
    *seconds = total;
    return 0;
}

void mr_duration_format(int64_t seconds, char *out, size_t size)
{
    size_t used = 0;
    size_t i;

    if (size == 0)
        return;
    out[0] = '\0';
    if (seconds <= 0) {
        snprintf(out, size, "0s");
        return;
    }
    for (i = 0; i < NUNITS && used < size; i++) {
        int64_t n = seconds / units[i].seconds;
        int w;

        if (n == 0)
            continue;
        seconds -= n * units[i].seconds;
        w = snprintf(out + used, size - used, "%lld%c", (long long)n, units[i].unit);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}
