/* SPDX-License-Identifier: MIT */
/*
 * call.h - one call to an application on behalf of a message, as step
 * delivery (relay/) and the back-check (query/) both make it: the URL with
 * DTM's query parameters, the request headers from branch_headers, the
 * timeout with its caps; and the text that describes a call's answer.
 *
 * Must not: make the call (relay/relay_http.c does), classify the answer
 * (common/result.h does), or use libcurl: the headers are plain lines.
 *
 * Pure functions on borrowed input and caller-owned results; any thread.
 * Errors: bad stored data comes back as MR_EINVAL / MR_ETOOBIG with a message.
 */
#ifndef MR_COMMON_CALL_H
#define MR_COMMON_CALL_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/model.h"

/*
 * struct mr_call - what to send. Fields are owned; mr_call_release() frees
 * them. Each header line is "Name: value", or "Name;" for an empty value
 * (how libcurl sends a header with no value).
 */
struct mr_call {
    struct mr_buf url;
    char **headers; /* nheaders lines */
    size_t nheaders;
    size_t capheaders;
    long timeout_ms; /* see mr_call_timeout_ms() */
};

/*
 * mr_call_url - append to @out the URL @base with the DTM query parameters
 * gid=@gid&trans_type=msg&branch_id=@branch_id&op=@op, joined with '&' when
 * @base already has a query string, inserted before any '#fragment', each
 * value URL-escaped. All strings are borrowed. 0, or MR_ETOOBIG when @out
 * would pass its cap (then @out holds a partial URL the caller discards).
 */
int mr_call_url(struct mr_buf *out, const char *base, const char *gid, const char *branch_id,
                const char *op);

/*
 * mr_call_headers - add to @c the request headers for a call on behalf of a
 * message: "Content-Type: application/json", then each pair of
 * @branch_headers (a JSON object text {"k":"v"}; NULL, "" or "null" mean none).
 * A Content-Type among @branch_headers replaces the default one. "Expect:" is
 * added so that libcurl does not wait for a 100-continue on larger bodies.
 * MR_EINVAL with a message when @branch_headers is not an object of strings or
 * a pair is refused by mr_header_check() (common/header.h: a framing,
 * hop-by-hop or routing header, a name that is not a token, a value with
 * control bytes or non-ASCII); nothing is added then.
 */
int mr_call_headers(struct mr_call *c, const char *branch_headers, struct mr_err *err);

/*
 * mr_call_timeout_ms - one call's timeout for @m: its request_timeout, else
 * the server's, at most mr_config.max_request_timeout; >= 1 s.
 */
long mr_call_timeout_ms(const struct mr_msg *m);

/*
 * mr_call_build - fill @c (uninitialised memory is fine) with the call to
 * @base for @m: mr_call_url() with @branch_id and @op, mr_call_headers() from
 * m->branch_headers, then, when @m has a traceparent, the call's own trace
 * context (common/trace.h: a child traceparent with a new parent id, and
 * m->tracestate), in place of any traceparent or tracestate among
 * branch_headers; mr_call_timeout_ms(). On error @c holds nothing that
 * needs freeing: MR_ETOOBIG "url too long", or mr_call_headers()'s MR_EINVAL.
 * Owned result: mr_call_release().
 */
int mr_call_build(struct mr_call *c, const char *base, const struct mr_msg *m,
                  const char *branch_id, const char *op, struct mr_err *err);

/* mr_call_release - free what @c holds; it may then be built again. Twice is harmless. */
void mr_call_release(struct mr_call *c);

/*
 * mr_call_text - describe a call's answer into @out (reset first):
 * "@what: <transfer error>" when @status is 0, else "@what: HTTP <status>",
 * then ": " and the start of @body (at most 200 bytes of @len) as clean text:
 * control bytes become spaces and broken UTF-8 (or a sequence cut by the
 * limit) becomes '?', since stored results are rendered in JSON later.
 */
void mr_call_text(struct mr_buf *out, const char *what, long status, const char *error,
                  const char *body, size_t len);

#endif
