/* SPDX-License-Identifier: MIT */
/*
 * query.h - the back-check ("query prepared") room.
 *
 * A message left in `prepared` past its timeout_to_fail is back-checked: a GET
 * to its query_prepared URL asks the application whether its local transaction
 * committed. This header says how that call is built, what a classified answer
 * means and how the decision is written to the store. It does no I/O of its own
 * apart from the store writes in mr_query_apply(): the relay's HTTP engine makes
 * the call, so query/ never touches relay/.
 *
 * The call conventions (DTM query parameters, headers, timeout, retry schedule)
 * are the same for step delivery, so relay/ uses them too: one way to do each.
 *
 * Every function is pure or works on caller-owned state; any thread.
 */
#ifndef MR_QUERY_QUERY_H
#define MR_QUERY_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/model.h"
#include "common/result.h"

struct mr_store;

/* ---- how the application is called ---- */

/*
 * mr_query_url_build - append to @out the URL @base with the DTM query
 * parameters gid=@gid&trans_type=msg&branch_id=@branch_id&op=@op, joined with
 * '&' when @base already has a query string, inserted before any '#fragment',
 * each value URL-escaped. All strings are borrowed. 0, or MR_ETOOBIG when @out
 * would pass its cap (then @out holds a partial URL the caller discards).
 */
int mr_query_url_build(struct mr_buf *out, const char *base, const char *gid, const char *branch_id,
                       const char *op);

/*
 * mr_query_headers_build - the request headers for a call on behalf of a
 * message: "Content-Type: application/json", then each pair of
 * @branch_headers (a JSON object text {"k":"v"}; NULL, "" or "null" mean none).
 * A Content-Type among @branch_headers replaces the default one. "Expect:" is
 * added so that libcurl does not wait for a 100-continue on larger bodies.
 * MR_EINVAL with a message when @branch_headers is not an object of strings or
 * a pair is refused by mr_header_check() (common/header.h: a framing,
 * hop-by-hop or routing header, a name that is not a token, a value with
 * control bytes or non-ASCII); nothing is sent then.
 * Owned result: *out, curl_slist_free_all(); NULL on error.
 */
int mr_query_headers_build(const char *branch_headers, struct curl_slist **out, struct mr_err *err);

/*
 * mr_query_timeout_ms - one call's timeout for @m: its request_timeout, else
 * the server's, at most mr_config.max_request_timeout; >= 1 s.
 */
long mr_query_timeout_ms(const struct mr_msg *m);

/* ---- the back-check ---- */

/* mr_query_needed - whether @m has a query_prepared URL (empty: treat as success, no call). */
bool mr_query_needed(const struct mr_msg *m);

/*
 * mr_query_due_ms - when prepared message @m may first be back-checked:
 * create_ms + its timeout_to_fail (else the server's) in seconds.
 */
int64_t mr_query_due_ms(const struct mr_msg *m);

/* What to send for one back-check. Fields are owned; mr_query_request_release() frees them. */
struct mr_query_request {
    struct mr_buf url;          /* query_prepared + gid, trans_type=msg, branch_id=00, op=msg */
    struct curl_slist *headers; /* see mr_query_headers_build() */
    long timeout_ms;            /* see mr_query_timeout_ms() */
};

/*
 * mr_query_request_build - fill @rq (uninitialised memory is fine) with the
 * GET for @m's back-check. On error @rq holds nothing that needs freeing;
 * MR_EINVAL when m has no query_prepared or bad branch_headers, MR_ETOOBIG
 * when the URL is too long. Owned result: mr_query_request_release().
 */
int mr_query_request_build(const struct mr_msg *m, struct mr_query_request *rq, struct mr_err *err);

/* mr_query_request_release - free what @rq holds; it may then be built again. */
void mr_query_request_release(struct mr_query_request *rq);

/* ---- what an answer means ---- */

/*
 * mr_query_schedule - when to look at @m again after a non-success result @r,
 * shared by the back-check and step delivery so both follow one rule:
 * ONGOING -> the base interval (mr_backoff_base), no jitter; anything else ->
 * the current interval (at least the base) doubled up to
 * mr_config.max_retry_interval, with +-20% jitter from @rng.
 * Writes the next time (UTC ms) to *next_ms and the interval (s) to *interval.
 */
void mr_query_schedule(const struct mr_msg *m, enum mr_result r, int64_t now_ms, uint64_t *rng,
                       int64_t *next_ms, int *interval);

/* MR_QUERY_* - what a back-check answer makes of a prepared message. */
enum mr_query_action {
    MR_QUERY_SUBMIT, /* success: prepared -> submitted, steps are delivered in the same pass */
    MR_QUERY_FAIL,   /* failure: prepared -> failed, finished */
    MR_QUERY_RETRY,  /* ongoing or error: stays prepared, asked again at next_cron_ms */
};

struct mr_query_decision {
    enum mr_query_action action;
    enum mr_result result; /* the classified answer it came from */
    int64_t next_cron_ms;  /* SUBMIT: kept as stored; RETRY: next back-check */
    int interval;          /* SUBMIT: reset to the base; RETRY: see mr_query_schedule() */
};

/*
 * mr_query_decide - turn the classified back-check answer @r for @m into a
 * decision (filled into @d). @rng is the caller's jitter state.
 */
void mr_query_decide(const struct mr_msg *m, enum mr_result r, int64_t now_ms, uint64_t *rng,
                     struct mr_query_decision *d);

/*
 * mr_query_apply - write decision @d about @m, held under a lease by @owner,
 * to @s inside the caller's transaction: SUBMIT and FAIL through
 * mr_store_msg_transition(), RETRY through mr_store_msg_release() with
 * @detail (borrowed, may be NULL) as the message's result text.
 * MR_ECONFLICT / MR_ENOENT when the message changed meanwhile (an abort or a
 * submit won; nothing written); other store errors as returned by the store.
 * Relay thread (or whoever holds @s).
 */
int mr_query_apply(struct mr_store *s, const struct mr_msg *m, const char *owner,
                   const struct mr_query_decision *d, const char *detail, int64_t now_ms,
                   struct mr_err *err);

#endif
