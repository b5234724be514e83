/* SPDX-License-Identifier: MIT */
/*
 * url.h - adding query parameters to a URL: the one way msgrelay and its SDK
 * build the URLs of step calls and back-checks; and masking the credentials
 * of URLs (user:pass in http://user:pass@host) wherever msgrelay shows or
 * writes them.
 */
#ifndef MR_COMMON_URL_H
#define MR_COMMON_URL_H

#include <stdbool.h>

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

/*
 * mr_url_mask - append @text to @out with the userinfo of every URL in it
 * replaced by three stars: in http://u:p@h:1/x, "u:p" becomes "***". @text may
 * be one URL or any text quoting URLs (an error message, a log value). A URL
 * is a scheme (a letter, then letters, digits, '+', '-', '.') followed by
 * "://"; its authority runs to the first '/', '?', '#', space or control byte,
 * and everything in it up to its last '@' is the userinfo; one that ends in
 * ":***" is masked already and kept (mysql://user:***@host from
 * mr_store_uri_redacted keeps its user name). Text that only
 * looks like a URL is masked too: erring on the side of hiding. The one way
 * msgrelay hides URL credentials (answers, stored error texts, log lines);
 * the URL itself is stored and called unchanged. 0 or MR_ETOOBIG. Any thread.
 */
int mr_url_mask(struct mr_buf *out, const char *text);

/*
 * mr_url_masked - @text (may be NULL) through mr_url_mask(), as a new string;
 * NULL for NULL. Owned result: free().
 */
char *mr_url_masked(const char *text);

/* mr_url_has_userinfo - whether mr_url_mask() would change @text. */
bool mr_url_has_userinfo(const char *text);

/* mr_url_hexval - the value of the hex digit @c (either case), or -1. */
int mr_url_hexval(int c);

#endif
