/* SPDX-License-Identifier: MIT */
/*
 * http1.h - the HTTP/1.1 header parsing that the bench sink (a server) and the
 * bench load generator (a client) share.
 *
 * Everything works on a head already in memory, as [begin, end) byte ranges
 * that need not be NUL-terminated; nothing allocates, nothing keeps state.
 * What a program does with an odd field (refuse it, skip it) stays with the
 * program: these only split and read.
 */
#ifndef MR_BENCH_HTTP1_H
#define MR_BENCH_HTTP1_H

#include <stddef.h>

/* http1_next_field - read the header line at *@p, in a head that ends at @end,
 * and move *@p past it (a line ends at '\n', a '\r' before it is dropped).
 * Returns 1 for "name:value" with the name in [@name, @name + *@nlen) (up to
 * the first ':', unchecked) and the value, without the white space around it,
 * in [@v, @ve); -1 for a line with no ':' (nothing else set); 0 at the empty
 * line that ends the head, or at @end. */
int http1_next_field(const char **p, const char *end, const char **name, size_t *nlen,
                     const char **v, const char **ve);

/* http1_name_is - whether the field name [@name, @name + @nlen) is @want, caseless. */
int http1_name_is(const char *name, size_t nlen, const char *want);

/* http1_content_length - read the Content-Length value [@v, @ve) into *@cl,
 * which holds -1 or the value of an earlier Content-Length field. Returns 0;
 * -1 when the value is empty, not all digits, or differs from *@cl; -2 when it
 * is above @max (itself at most LONG_MAX / 10 - 1). Digits are read left to
 * right and the first fault found decides: with @max 1048576, "99999999x" is
 * -2 and "9999999x" -1. */
int http1_content_length(const char *v, const char *ve, long max, long *cl);

/* http1_connection - the tokens of the Connection value [@v, @ve) (a
 * comma-separated list, caseless) that tell how the connection goes on: a mask
 * of HTTP1_CLOSE ("close") and HTTP1_KEEP_ALIVE ("keep-alive"). */
#define HTTP1_CLOSE      1
#define HTTP1_KEEP_ALIVE 2
int http1_connection(const char *v, const char *ve);

#endif
