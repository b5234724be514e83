/* SPDX-License-Identifier: MIT */
/*
 * header.h - which extra HTTP headers a message may carry (branch_headers).
 *
 * One rule, checked twice: at intake, so a bad header is a 400 and nothing is
 * stored, and again when the relay builds the headers of a call, so a row
 * stored before the rule existed is never sent. Framing, hop-by-hop and
 * routing headers belong to the relay (libcurl): one given by a client could
 * make the target read the body as a second request (request smuggling) or
 * send the call elsewhere. Pure functions; any thread.
 */
#ifndef MR_COMMON_HEADER_H
#define MR_COMMON_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Limits on branch_headers. */
#define MR_HEADER_MAX_COUNT  64    /* headers per message */
#define MR_HEADER_NAME_MAX   256   /* bytes of one name */
#define MR_HEADER_VALUE_MAX  4096  /* bytes of one value */
#define MR_HEADERS_TOTAL_MAX 16384 /* bytes of every name and value together */

/*
 * mr_header_is_reserved - whether header @name (any case) is the relay's:
 * Content-Length, Transfer-Encoding, Host, Connection, Keep-Alive, Upgrade,
 * TE, Trailer, Expect and every Proxy-*.
 */
bool mr_header_is_reserved(const char *name);

/*
 * mr_header_check - whether the header @name: @value (@value_len bytes, which
 * may hide a NUL) may be sent for a message: @name an HTTP token (RFC 9110:
 * letters, digits and !#$%&'*+-.^_`|~) of at most MR_HEADER_NAME_MAX bytes and
 * not reserved; @value at most MR_HEADER_VALUE_MAX bytes of visible ASCII,
 * space and tab (no CR, LF, NUL, other control bytes, DEL or non-ASCII).
 * 0, or MR_EINVAL with "branch_headers: <problem naming the header>" in @err.
 */
int mr_header_check(const char *name, const char *value, size_t value_len, struct mr_err *err);

#endif
