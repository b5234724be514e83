/* SPDX-License-Identifier: MIT */
/*
 * trace.c - W3C Trace Context checks and child span ids (see trace.h).
 */
#include "common/trace.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/clock.h"

/* hex_run - whether @s starts with @n lower-case hex digits, not all '0'. */
static bool hex_run(const char *s, size_t n)
{
    bool nonzero = false;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

bool mr_trace_parent_ok(const char *s)
{
    /* 00-<trace id 32>-<parent id 16>-<flags 2> */
    if (s == NULL || strlen(s) != MR_TRACEPARENT_LEN || strncmp(s, "00-", 3) != 0 || s[35] != '-' ||
        s[52] != '-')
        return false;
    if (!hex_run(s + 3, 32) || !hex_run(s + 36, 16))
        return false;
    /* flags may be 00: check them as hex without the non-zero rule */
    return hex_run(s + 53, 2) || strcmp(s + 53, "00") == 0;
}

bool mr_trace_state_ok(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= MR_TRACESTATE_MAX || s[i] < 0x20 || s[i] > 0x7e)
            return false;
    }
    return true;
}

void mr_trace_child(const char *parent, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[8];
    uint64_t s;
    size_t i;

    memcpy(out, parent, MR_TRACEPARENT_LEN + 1);
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        /* no entropy yet: a time-seeded id is still unique enough for a span */
        s = (uint64_t)mr_mono_us() * 6364136223846793005ULL + 1442695040888963407ULL;
        memcpy(rnd, &s, sizeof(rnd));
    }
    rnd[7] |= 1; /* never all zeros */
    for (i = 0; i < 8; i++) {
        out[36 + 2 * i] = hex[rnd[i] >> 4];
        out[37 + 2 * i] = hex[rnd[i] & 15];
    }
}

bool mr_trace_header_is(const char *name)
{
    return strcasecmp(name, "traceparent") == 0 || strcasecmp(name, "tracestate") == 0;
}

const char *mr_trace_log_key(const struct mr_msg *m, char *buf)
{
    if (m == NULL || m->traceparent == NULL || m->traceparent[0] == '\0')
        return NULL;
    memcpy(buf, m->traceparent + 3, 32);
    buf[32] = '\0';
    return "trace";
}
