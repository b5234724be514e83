/* SPDX-License-Identifier: MIT */
/*
 * buf.c - the growable, capped, NUL-terminated buffer (see buf.h).
 * Not thread-safe: a buffer belongs to one thread at a time.
 */
#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"

char mr_buf_empty[1];

void mr_buf_init(struct mr_buf *b, size_t max)
{
    b->p = mr_buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* grow - make room for @extra more bytes plus the NUL. */
static int grow(struct mr_buf *b, size_t extra)
{
    size_t want;
    size_t ncap;

    if (extra > b->max || b->len + extra > b->max)
        return MR_ETOOBIG;
    want = b->len + extra + 1;
    if (want <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < want)
        ncap *= 2;
    if (b->cap == 0) {
        b->p = mr_xmalloc(ncap);
        b->p[0] = '\0';
    } else {
        b->p = mr_xrealloc(b->p, ncap);
    }
    b->cap = ncap;
    return 0;
}

int mr_buf_add(struct mr_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (grow(b, n) != 0)
        return MR_ETOOBIG;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int mr_buf_adds(struct mr_buf *b, const char *s)
{
    return mr_buf_add(b, s, strlen(s));
}

int mr_buf_addc(struct mr_buf *b, char c)
{
    return mr_buf_add(b, &c, 1);
}

int mr_buf_vaddf(struct mr_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return MR_EINVAL;
    if (grow(b, (size_t)n) != 0)
        return MR_ETOOBIG;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int mr_buf_addf(struct mr_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = mr_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void mr_buf_reset(struct mr_buf *b)
{
    b->len = 0;
    if (b->cap)
        b->p[0] = '\0';
}

char *mr_buf_detach(struct mr_buf *b, size_t *len)
{
    char *p;

    if (b->cap == 0)
        p = mr_xstrdup("");
    else
        p = b->p;
    if (len != NULL)
        *len = b->len;
    b->p = mr_buf_empty;
    b->len = 0;
    b->cap = 0;
    return p;
}

void mr_buf_release(struct mr_buf *b)
{
    if (b->cap)
        free(b->p);
    b->p = mr_buf_empty;
    b->len = 0;
    b->cap = 0;
}

int mr_buf_add_jstr(struct mr_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    size_t i;
    int rc = mr_buf_addc(b, '"');

    for (i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = mr_buf_add(b, esc, 2);
        } else if (c < 0x20) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            rc = mr_buf_add(b, esc, 6);
        } else {
            rc = mr_buf_addc(b, (char)c);
        }
    }
    if (rc == 0)
        rc = mr_buf_addc(b, '"');
    if (rc != 0) {
        /* all or nothing: drop the partial string */
        b->len = start;
        if (b->cap)
            b->p[start] = '\0';
    }
    return rc;
}

size_t mr_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    size_t len;
    size_t i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (len > n)
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0; /* no overlong forms */
    else if (s[0] == 0xed)
        hi = 0x9f; /* no surrogates */
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f; /* nothing past U+10FFFF */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}
