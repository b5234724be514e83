/* SPDX-License-Identifier: MIT */
/*
 * mem.h - allocation that never returns NULL.
 *
 * Memory in msgrelay is bounded by design (queues, bodies, batches all have caps),
 * so an allocation failure means the host is failing: these wrappers log and
 * abort instead of making every call site handle NULL. Never use them for sizes
 * that come from outside without checking the size against its limit first.
 */
#ifndef MR_COMMON_MEM_H
#define MR_COMMON_MEM_H

#include <stdbool.h>
#include <stddef.h>

/* mr_xmalloc - malloc that aborts on failure. Owned result: free(). */
void *mr_xmalloc(size_t n);

/* mr_xcalloc - zeroed array of @n elements of @size; aborts on failure or overflow. */
void *mr_xcalloc(size_t n, size_t size);

/* mr_xrealloc - realloc that aborts on failure. */
void *mr_xrealloc(void *p, size_t n);

/*
 * mr_xgrow - @p (an array of elements of @size, @*cap of them) resized to
 * hold at least @need: the capacity grows by half again, at least to @need
 * and at least to 16, and is written back to @*cap. Aborts on overflow.
 * Use it through MR_ALLOC_GROW.
 */
void *mr_xgrow(void *p, size_t size, size_t need, size_t *cap);

/*
 * MR_ALLOC_GROW - make the array @v (its capacity in the size_t @cap) hold at
 * least @need elements, as git's ALLOC_GROW does:
 *
 *     MR_ALLOC_GROW(v, n + 1, cap);
 *     v[n++] = x;
 *
 * Nothing happens while @need fits; new elements are not initialised.
 */
#define MR_ALLOC_GROW(v, need, cap)                                          \
    do {                                                                     \
        if ((size_t)(need) > (cap))                                          \
            (v) = mr_xgrow((v), sizeof(*(v)), (size_t)(need), &(cap));       \
    } while (0)

/* mr_xstrdup - copy of @s (NULL gives NULL). Owned result: free(). */
char *mr_xstrdup(const char *s);

/* mr_xstrndup - copy of the first @n bytes of @s, NUL-terminated. */
char *mr_xstrndup(const char *s, size_t n);

/*
 * mr_mem_trim - give the allocator's free memory back to the system: glibc's
 * malloc_trim(0), which releases the free pages of every arena (each thread's
 * included), not only the top of the main heap. It walks every arena under
 * its lock, so call it when the process has gone idle, never on a hot path.
 * @worked: the calling thread has worked since its last call. Its cache of
 * free chunks (glibc's tcache, which malloc_trim leaves alone) is then first
 * swapped for chunks cut together from one place, so the ones it held, spread
 * over pages otherwise free, go back too. The swap fills the cache (about
 * 240 kB), which work fills anyway; a thread that has not worked keeps its
 * own. Does nothing where the C library has no malloc_trim (the swap, nothing
 * under AddressSanitizer either, whose allocator is its own).
 */
void mr_mem_trim(bool worked);

#endif
