/* SPDX-License-Identifier: MIT */
/*
 * url.h - adding query parameters to a URL: the one way msgrelay and its SDK
 * build the URLs of step calls and back-checks.
 */
#ifndef MR_COMMON_URL_H
#define MR_COMMON_URL_H

#include "common/buf.h"

/*
 * mr_url_with_params - append @base to @out with the query parameters @kv
 * added: @kv is a NULL-terminated list of name, value strings; values are
 * URL-escaped (RFC 3986 unreserved bytes stay), names are taken as they are.
 * The first parameter is joined with '?', or '&' when @base has a query
 * already (nothing when it ends in '?' or '&'); a #fragment stays last.
 * 0 or MR_ETOOBIG (@out may then hold a partial URL). Any thread.
 */
int mr_url_with_params(struct mr_buf *out, const char *base, const char *const *kv);

#endif
