/* SPDX-License-Identifier: MIT */
/*
 * sdk.h - small helpers the two SDK rooms share inside libmsgrelay
 * (client/, consumers/ and their unit tests): the caller's error buffer, the
 * barrier table name check, one parameter of a URL query string. Not
 * installed, not a public face: so client/ needs no consumers/ internals.
 *
 * Must not: grow into a grab bag; a helper only one room uses stays there.
 * Pure functions on borrowed strings; any thread.
 */
#ifndef MR_COMMON_SDK_H
#define MR_COMMON_SDK_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

/* Longest barrier table name accepted ("schema.table"). */
#define MR_SDK_TABLE_MAX 129

/*
 * mr_sdk_errbuf - copy @msg into the caller's @errbuf of @errlen bytes,
 * truncated and always NUL-terminated. NULL @errbuf or 0 @errlen: no-op.
 */
void mr_sdk_errbuf(char *errbuf, size_t errlen, const char *msg);

/*
 * mr_sdk_check_table - whether @table is "name" or "schema.name" of
 * [A-Za-z0-9_$], at most MR_SDK_TABLE_MAX bytes (so it can be pasted into
 * SQL unquoted). 0, or MR_EINVAL with a message.
 */
int mr_sdk_check_table(const char *table, struct mr_err *err);

/*
 * mr_sdk_query_get - the percent-decoded value of the first parameter
 * @name in URL query string @query ('+' decodes to a space; a leading '?' is
 * skipped), appended to @out. 0 when found, MR_ENOENT when absent, MR_EINVAL
 * for a bad %-escape or an encoded NUL, MR_ETOOBIG past @out's cap.
 */
int mr_sdk_query_get(const char *query, const char *name, struct mr_buf *out);

#endif
