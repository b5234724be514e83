/* SPDX-License-Identifier: MIT */
/*
 * http1.c - the header parsing of the bench's own HTTP/1.1 server and client
 * (see http1.h).
 */
#include <string.h>
#include <strings.h>

#include "bench/http1.h"

int http1_next_field(const char **p, const char *end, const char **name, size_t *nlen,
                     const char **v, const char **ve)
{
    const char *s = *p;
    const char *eol, *le, *colon, *vs;

    if (s >= end)
        return 0;
    eol = memchr(s, '\n', (size_t)(end - s));
    if (eol == NULL)
        eol = end;
    *p = eol < end ? eol + 1 : end;
    le = eol;
    if (le > s && le[-1] == '\r')
        le--;
    if (le == s)
        return 0; /* the empty line */
    colon = memchr(s, ':', (size_t)(le - s));
    if (colon == NULL)
        return -1;
    vs = colon + 1;
    while (vs < le && (*vs == ' ' || *vs == '\t'))
        vs++;
    while (le > vs && (le[-1] == ' ' || le[-1] == '\t'))
        le--;
    *name = s;
    *nlen = (size_t)(colon - s);
    *v = vs;
    *ve = le;
    return 1;
}

int http1_name_is(const char *name, size_t nlen, const char *want)
{
    size_t wl = strlen(want);

    return nlen == wl && strncasecmp(name, want, wl) == 0;
}

int http1_content_length(const char *v, const char *ve, long max, long *cl)
{
    long n = 0;
    const char *x;

    if (v == ve)
        return -1;
    for (x = v; x < ve; x++) {
        if (*x < '0' || *x > '9')
            return -1;
        if (n > max)
            return -2;
        n = n * 10 + (*x - '0');
    }
    if (n > max)
        return -2;
    if (*cl >= 0 && n != *cl)
        return -1;
    *cl = n;
    return 0;
}

/* token_in - whether the comma-separated header value [v, e) holds @tok. */
static int token_in(const char *v, const char *e, const char *tok)
{
    size_t tl = strlen(tok);

    while (v < e) {
        const char *comma = memchr(v, ',', (size_t)(e - v));
        const char *te = comma ? comma : e;

        while (v < te && (*v == ' ' || *v == '\t'))
            v++;
        while (te > v && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - v) == tl && strncasecmp(v, tok, tl) == 0)
            return 1;
        v = comma ? comma + 1 : e;
    }
    return 0;
}

int http1_connection(const char *v, const char *ve)
{
    return (token_in(v, ve, "close") ? HTTP1_CLOSE : 0) |
           (token_in(v, ve, "keep-alive") ? HTTP1_KEEP_ALIVE : 0);
}
