/* SPDX-License-Identifier: MIT */
/*
 * barrier_int.h - what consumers/barrier.c shares inside libmsgrelay (with
 * client/ and the unit tests); not installed, not a public face.
 *
 * The double underscore marks library-internal names (h2o's convention), so
 * they cannot be mistaken for the public mr_barrier_* API. Pure functions on
 * borrowed strings; any thread.
 */
#ifndef MR_CONSUMERS_BARRIER_INT_H
#define MR_CONSUMERS_BARRIER_INT_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* Longest barrier table name accepted ("schema.table"). */
#define MR_BARRIER__TABLE_MAX 129

/*
 * mr_barrier__errbuf - copy @msg into the caller's @errbuf of @errlen bytes,
 * truncated and always NUL-terminated. NULL @errbuf or 0 @errlen: no-op.
 */
void mr_barrier__errbuf(char *errbuf, size_t errlen, const char *msg);

/*
 * mr_barrier__check_table - whether @table is "name" or "schema.name" of
 * [A-Za-z0-9_$], at most MR_BARRIER__TABLE_MAX bytes (so it can be pasted into
 * SQL unquoted). 0, or MR_EINVAL with a message.
 */
int mr_barrier__check_table(const char *table, struct mr_err *err);

/*
 * mr_barrier__query_get - the percent-decoded value of the first parameter
 * @name in URL query string @query ('+' decodes to a space; a leading '?' is
 * skipped), appended to @out. 0 when found, MR_ENOENT when absent, MR_EINVAL
 * for a bad %-escape or an encoded NUL, MR_ETOOBIG past @out's cap.
 */
int mr_barrier__query_get(const char *query, const char *name, struct mr_buf *out);

#endif
