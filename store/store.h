/* SPDX-License-Identifier: MIT */
/*
 * store.h - the one interface every part of msgrelay persists through.
 *
 * Engines, chosen by the URI's scheme:
 *   sqlite:PATH                          the embedded default, one file
 *   mysql://USER:PASS@HOST:PORT/DB       MySQL/MariaDB over TCP (PORT default 3306)
 *   mysql://USER:PASS@/DB?socket=PATH    the same over a unix socket
 * MySQL options go in the query part, "&"-separated: socket=PATH,
 * connect_timeout=S (3), read_timeout=S (30, also the write timeout),
 * lock_wait_timeout=S (10). USER, PASS and DB may be %-escaped. Several relays
 * may share one MySQL database (claims skip rows another claim holds).
 * A handle is one connection and belongs to one thread: every thread that
 * touches the store opens its own.
 *
 * Transactions: the intake writer and the relay group many operations into one
 * transaction with mr_store_begin()/mr_store_commit() (group commit). Functions
 * that say "own transaction" must be called outside one. Every other write
 * function must be called inside one.
 *
 * Errors: 0 or a negative MR_E* code; MR_ESTORE for engine failures (with the
 * engine's text in @err). Two codes mean "try the whole transaction again":
 * MR_EUNAVAIL, the database cannot be reached or dropped the connection (the
 * handle connects again at the next mr_store_begin() or call outside a
 * transaction), and MR_EBUSY, a deadlock or lock wait that timed out. After
 * either, inside a transaction, it is lost: every call but mr_store_rollback()
 * fails until the caller rolls back. A failed write inside a transaction leaves
 * the transaction to be rolled back by the caller: nothing half-written is
 * ever committed.
 */
#ifndef MR_STORE_STORE_H
#define MR_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/model.h"

struct mr_store;

/*
 * mr_store_open - connect to @uri and make sure the schema is current. SQLite
 * creates or migrates it here; MySQL only checks it and fails with MR_ESTORE
 * (naming `msgrelay migrate`) when the database is older or newer than this
 * binary. MR_EUNAVAIL when the database cannot be reached.
 * Owned result: mr_store_close().
 */
int mr_store_open(const char *uri, struct mr_store **out, struct mr_err *err);

/*
 * mr_store_migrate - bring the schema of @uri up to the version compiled in
 * (`msgrelay migrate`, `serve --migrate`). Idempotent; concurrent migrations
 * of one database wait for each other. MR_ESTORE when the database is newer.
 */
int mr_store_migrate(const char *uri, struct mr_err *err);

/*
 * mr_store_uri_redacted - @uri with any password replaced by "***"
 * ("mysql://u:***@host/db"), for logs and messages. Owned result: free().
 */
char *mr_store_uri_redacted(const char *uri);

/* mr_store_close - close the connection (rolling back an open transaction). NULL is a no-op. */
void mr_store_close(struct mr_store *s);

/* mr_store_begin - start a write transaction. */
int mr_store_begin(struct mr_store *s, struct mr_err *err);

/*
 * mr_store_commit - commit; on failure the transaction is rolled back. After
 * MR_EUNAVAIL the outcome is unknown (the connection broke during the commit):
 * the caller must treat the work as possibly done and possibly not.
 */
int mr_store_commit(struct mr_store *s, struct mr_err *err);

/* mr_store_rollback - roll back the open transaction, if any. */
void mr_store_rollback(struct mr_store *s);

/* ---- messages: intake ---- */

/*
 * mr_store_msg_get - load message @gid, with its steps (in branch order) when
 * @with_steps. *out is NULL (and 0 returned) when there is no such message.
 * Owned result: mr_msg_free(). May be called in or out of a transaction.
 */
int mr_store_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                     struct mr_err *err);

/*
 * mr_store_msg_insert - insert @m and its steps exactly as filled in by the
 * caller (state, times, schedule); owner and lease start empty. Sets m->id and
 * each step's id. MR_EEXIST when the gid is already stored (nothing written).
 * @m is borrowed.
 */
int mr_store_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err);

/*
 * mr_store_msg_transition - the one function that changes a message's state.
 * Compare-and-set @gid from @from to @to (checked against
 * mr_msg_transition_ok(), else MR_EINVAL), setting update_time = @now_ms,
 * finish_time (to succeed) or rollback_time (to failed), and, when
 * @next_cron_ms >= 0, next_cron_time and next_cron_interval. Reaching a final
 * state also ends any lease. MR_ECONFLICT when the stored state is not @from,
 * MR_ENOENT when there is no such message (nothing written in either case).
 * Logs old -> new and counts the metric after the call succeeds; the caller's
 * transaction may still roll it back, which the metric does not undo.
 */
int mr_store_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                            int64_t next_cron_ms, int next_cron_interval, struct mr_err *err);

/*
 * mr_store_msg_schedule - set when an unfinished message is looked at next
 * (next_cron_time = @next_cron_ms; next_cron_interval = @interval unless it is
 * negative) and update_time = @now_ms. MR_ENOENT when there is no such
 * unfinished message.
 */
int mr_store_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                          int64_t now_ms, struct mr_err *err);

/* ---- messages: relay ---- */

/*
 * mr_store_claim - claim due work in one batch under a lease. Own transaction.
 * Takes up to @limit messages in state prepared or submitted whose
 * next_cron_time <= @now_ms and whose lease has lapsed (lease_until <= @now_ms),
 * earliest next_cron_time first; sets owner = @owner and lease_until =
 * @lease_until_ms on each, and returns them with their steps.
 * Owned result: *out is an array of *n messages, mr_store_msgs_free().
 */
int mr_store_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                   size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err);

/* mr_store_msgs_free - free an array of @n messages from mr_store_claim() or mr_store_msg_list(). */
void mr_store_msgs_free(struct mr_msg **v, size_t n);

/*
 * mr_store_step_record - record one call of step @step_id: attempts + 1 and
 * update_time = @now_ms; on @success the step becomes succeed with
 * finish_time, otherwise last_error = @error (may be NULL). MR_ECONFLICT
 * (nothing written) when the step's message is no longer submitted (a
 * forceStop finished it): the pass must not go on. MR_ENOENT for no such step.
 */
int mr_store_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                         int64_t now_ms, struct mr_err *err);

/*
 * mr_store_msg_release - end @owner's lease on @gid and set when it is looked
 * at next (@next_cron_ms, @interval) and its result text (@result, NULL keeps
 * it). Returns 0 and writes nothing when @owner no longer holds the lease
 * (it lapsed and another relay took over) or the message is final.
 */
int mr_store_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                         int interval, const char *result, int64_t now_ms, struct mr_err *err);

/* mr_store_release_owner - end every lease held by @owner (start-up, shutdown). Own transaction. */
int mr_store_release_owner(struct mr_store *s, const char *owner, struct mr_err *err);

/* mr_store_count_due - how many unfinished messages are due at @now_ms and not leased. */
int mr_store_count_due(struct mr_store *s, int64_t now_ms, long *n, struct mr_err *err);

/* ---- messages: admin ---- */

/* Which messages mr_store_msg_list returns. Zero / NULL fields do not filter. */
struct mr_store_filter {
    const char *gid;       /* exact gid */
    int state;             /* enum mr_msg_state; MR_MSG_NONE = any */
    int64_t position;      /* only ids below this; 0 = from the newest */
    int64_t create_from_ms;/* create_time >= this */
    int64_t create_to_ms;  /* create_time <= this */
    size_t limit;          /* at most this many (callers cap it) */
};

/*
 * mr_store_msg_list - messages matching @f, newest (highest id) first, without
 * steps. Owned result: mr_store_msgs_free().
 */
int mr_store_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                      size_t *n, struct mr_err *err);

#endif
