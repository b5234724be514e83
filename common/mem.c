/* SPDX-License-Identifier: MIT */
/*
 * mem.c - aborting allocators (see mem.h for why). Thread-safe.
 */
#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static void oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
    abort();
}

void *mr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        oom(n);
    return p;
}

void *mr_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom(n * size);
    return p;
}

void *mr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        oom(n);
    return q;
}

void *mr_xgrow(void *p, size_t size, size_t need, size_t *cap)
{
    size_t n = *cap + *cap / 2;

    if (n < need)
        n = need;
    if (n < 16)
        n = 16;
    if (size != 0 && n > SIZE_MAX / size)
        oom(SIZE_MAX);
    *cap = n;
    return mr_xrealloc(p, n * size);
}

char *mr_xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return mr_xstrndup(s, strlen(s));
}

char *mr_xstrndup(const char *s, size_t n)
{
    char *p = mr_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void mr_mem_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
