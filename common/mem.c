/* SPDX-License-Identifier: MIT */
/*
 * mem.c - aborting allocators (see mem.h for why), and giving memory back
 * once idle (mr_mem_trim), which knows glibc's allocator. Thread-safe.
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

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#define MEM_TCACHE_SWAP 1
#endif

#ifdef MEM_TCACHE_SWAP
/*
 * glibc's per-thread cache (tcache): TCACHE_BINS bins of chunk sizes
 * TCACHE_CHUNK(0) = 32, 48, ... 1040 bytes, each holding up to TCACHE_FILL
 * free chunks (glibc's default for glibc.malloc.tcache_count). A request of
 * TCACHE_CHUNK(b) - 8 bytes is a chunk of exactly TCACHE_CHUNK(b).
 */
#define TCACHE_BINS 64
#define TCACHE_FILL 7
#define TCACHE_CHUNK(b) ((size_t)32 + (size_t)16 * (size_t)(b))
#define TCACHE_GROUP 16 /* bins per block carved: under 128 kB, below the mmap threshold */

/*
 * tcache_fill - fill the calling thread's cache, bins @first up to @first +
 * TCACHE_GROUP, with chunks cut from one block: realloc() shrinking a chunk
 * frees its tail as a chunk of its own, and free() puts a chunk in the
 * cache while its bin has room.
 */
static void tcache_fill(int first)
{
    size_t left = 0;
    char *p;
    int b;
    int i;

    for (b = first; b < first + TCACHE_GROUP; b++)
        left += TCACHE_FILL * TCACHE_CHUNK(b);
    p = malloc(left - 8);
    if (p == NULL)
        return;
    for (b = first + TCACHE_GROUP - 1; b >= first; b--) {
        for (i = 0; i < TCACHE_FILL; i++) {
            char *q;

            left -= TCACHE_CHUNK(b);
            if (left == 0)
                break;
            q = realloc(p, left - 8);
            if (q == NULL)
                break;
            p = q;
        }
    }
    free(p);
}

/*
 * tcache_swap - give the calling thread's cache chunks that sit together.
 * What it holds after a burst are the last chunks the burst freed, all over
 * the heap, and malloc_trim cannot give back a page one of them is on: after
 * a burst of the relay thread they kept about 1 MB of pages. Take them out,
 * fill the cache from a few blocks cut together, then free what was taken:
 * the cache is full, so those go back to the arena, where malloc_trim finds
 * them. With a larger tcache_count, or another allocator, the swap is partial
 * or does nothing: memory, never correctness.
 */
static void tcache_swap(void)
{
    void *old[TCACHE_BINS][TCACHE_FILL];
    int b;
    int i;

    for (b = 0; b < TCACHE_BINS; b++) {
        for (i = 0; i < TCACHE_FILL; i++)
            old[b][i] = malloc(TCACHE_CHUNK(b) - 8);
    }
    for (b = 0; b < TCACHE_BINS; b += TCACHE_GROUP)
        tcache_fill(b);
    for (b = 0; b < TCACHE_BINS; b++) {
        for (i = 0; i < TCACHE_FILL; i++)
            free(old[b][i]);
    }
}
#endif

void mr_mem_trim(bool worked)
{
#ifdef MEM_TCACHE_SWAP
    if (worked)
        tcache_swap();
#else
    (void)worked;
#endif
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
