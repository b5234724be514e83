/* SPDX-License-Identifier: MIT */
/*
 * query.h - the back-check ("query prepared") room, whole.
 *
 * A message left in `prepared` past its timeout_to_fail is back-checked: a GET
 * to its query_prepared URL asks the application whether its local transaction
 * committed. This header says when a claimed prepared message is due for it,
 * what the request is, what the answer decides (the one classifier,
 * common/result.h) and what is written to the store. Where a back-check
 * decides: query.c, mr_query_conclude().
 *
 * The call itself (URL, headers, timeout) is built by common/call.h, as for
 * step delivery; the schedule after a non-success is common/backoff.h's. The
 * relay's HTTP engine makes the call, so query/ never touches relay/ and
 * this header shows no libcurl type.
 *
 * Every function works on caller-owned state, any thread; mr_query_conclude()
 * also logs and counts (metrics), mr_query_apply()/mr_query_write() write to
 * the caller's store handle.
 */
#ifndef MR_QUERY_QUERY_H
#define MR_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/call.h"
#include "common/err.h"
#include "common/model.h"
#include "common/result.h"

struct mr_store;

/* ---- the back-check ---- */

/* mr_query_needed - whether @m has a query_prepared URL (empty: treat as success, no call). */
bool mr_query_needed(const struct mr_msg *m);

/*
 * mr_query_due_ms - when prepared message @m may first be back-checked:
 * create_ms + its timeout_to_fail (else the server's) in seconds.
 */
int64_t mr_query_due_ms(const struct mr_msg *m);

/* MR_QUERY_* - what to do now with a claimed prepared message (mr_query_when()). */
enum mr_query_when {
    MR_QUERY_LATER,   /* not due yet (claimed early): release it until *at_ms */
    MR_QUERY_NO_CALL, /* no query_prepared URL: decide success without a call */
    MR_QUERY_NO_TIME, /* the call could outlive the lease: release it, due at once (*at_ms) */
    MR_QUERY_CALL,    /* build the request and make the call */
};

/*
 * mr_query_when - what to do at @now_ms with prepared message @m held under
 * a lease until @lease_until_ms: no call may end later than @margin_ms before
 * the lease does. *at_ms is set for LATER and NO_TIME.
 */
enum mr_query_when mr_query_when(const struct mr_msg *m, int64_t now_ms, int64_t lease_until_ms,
                                 int64_t margin_ms, int64_t *at_ms);

/*
 * mr_query_request_build - fill @rq (uninitialised memory is fine) with the
 * GET for @m's back-check: query_prepared with gid, trans_type=msg,
 * branch_id=00, op=msg (common/call.h). On error @rq holds nothing that needs
 * freeing; MR_EINVAL when m has no query_prepared or bad branch_headers,
 * MR_ETOOBIG "query_prepared: url too long". Owned result: mr_call_release().
 */
int mr_query_request_build(const struct mr_msg *m, struct mr_call *rq, struct mr_err *err);

/* ---- what an answer means ---- */

/* MR_QUERY_* - what a back-check answer makes of a prepared message. */
enum mr_query_action {
    MR_QUERY_SUBMIT, /* success: prepared -> submitted, steps are delivered in the same pass */
    MR_QUERY_FAIL,   /* failure: prepared -> failed, finished */
    MR_QUERY_RETRY,  /* ongoing or error: stays prepared, asked again at next_cron_ms */
    MR_QUERY_PARK,   /* an error that made retry_limit failed back-checks: prepared -> parked */
    MR_QUERY_WAIT,   /* (set by mr_query_write only) SUBMIT of a keyed message placed behind an
                        unfinished one: submitted, but it waits for its predecessor, undelivered */
};

struct mr_query_decision {
    enum mr_query_action action;
    enum mr_result result; /* the classified answer it came from */
    int64_t next_cron_ms;  /* SUBMIT: kept as stored; RETRY: next back-check */
    int interval;          /* SUBMIT: reset to the base; RETRY: see mr_backoff_schedule() */
};

/*
 * mr_query_decide - turn the classified back-check answer @r for @m into a
 * decision (filled into @d). @rng is the caller's jitter state.
 */
void mr_query_decide(const struct mr_msg *m, enum mr_result r, int64_t now_ms, uint64_t *rng,
                     struct mr_query_decision *d);

/*
 * mr_query_answer - classify the answer to a back-check (@status 0: none
 * arrived, @error says why; @body of @len bytes) with
 * --strict-query-prepared; on a non-success, its text ("query_prepared: HTTP
 * 500: ...", common/call.h) goes into @text.
 */
enum mr_result mr_query_answer(long status, const char *error, const char *body, size_t len,
                               struct mr_buf *text);

/*
 * mr_query_conclude - where a back-check decides: the result @r of @m's
 * back-check (@text: its error, or NULL) is counted, logged when it is not a
 * success, and turned into decision @d (mr_query_decide()).
 */
void mr_query_conclude(const struct mr_msg *m, enum mr_result r, const char *text, int64_t now_ms,
                       uint64_t *rng, struct mr_query_decision *d);

/*
 * mr_query_apply - write decision @d about @m, held under a lease by @owner,
 * to @s inside the caller's transaction: SUBMIT and FAIL through
 * mr_store_msg_transition(), RETRY through mr_store_msg_release() with
 * @detail (borrowed, may be NULL) as the message's result text. A back-check
 * that ended in an error is counted (mr_store_msg_query_failed); PARK then
 * moves the message to parked (its result text @detail too).
 * MR_ECONFLICT / MR_ENOENT when the message changed meanwhile (an abort or a
 * submit won; nothing written); other store errors as returned by the store.
 * Relay thread (or whoever holds @s).
 */
int mr_query_apply(struct mr_store *s, const struct mr_msg *m, const char *owner,
                   const struct mr_query_decision *d, const char *detail, int64_t now_ms,
                   struct mr_err *err);

/*
 * mr_query_write - what a back-check writes: mr_query_apply(), and when the
 * message changed meanwhile (an abort or a submit won the race: MR_ECONFLICT,
 * MR_ENOENT or MR_EINVAL) that is logged, @d's action becomes MR_QUERY_FAIL
 * (do not deliver) and @owner's lease on it is ended, so its real state is
 * handled at once (a no-op when it is final). Returns 0, or the error of the
 * last write (for the caller to judge). Inside the caller's transaction.
 */
int mr_query_write(struct mr_store *s, const struct mr_msg *m, const char *owner,
                   struct mr_query_decision *d, const char *detail, int64_t now_ms,
                   struct mr_err *err);

#endif
