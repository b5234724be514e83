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

#include <stddef.h>

/* mr_xmalloc - malloc that aborts on failure. Owned result: free(). */
void *mr_xmalloc(size_t n);

/* mr_xcalloc - zeroed array of @n elements of @size; aborts on failure or overflow. */
void *mr_xcalloc(size_t n, size_t size);

/* mr_xrealloc - realloc that aborts on failure. */
void *mr_xrealloc(void *p, size_t n);

/* mr_xstrdup - copy of @s (NULL gives NULL). Owned result: free(). */
char *mr_xstrdup(const char *s);

/* mr_xstrndup - copy of the first @n bytes of @s, NUL-terminated. */
char *mr_xstrndup(const char *s, size_t n);

#endif
