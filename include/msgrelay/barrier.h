/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/barrier.h - the branch barrier: apply one delivery exactly once in
 * the application's MySQL/MariaDB, and answer the relay's back-check.
 *
 * The barrier is a row in a DTM-compatible table (default
 * `dtm_barrier.barrier`, schema in sql/barrier/mysql.sql) keyed by
 * (gid, branch_id, op, barrier_id). mr_barrier_call() inserts that row with
 * INSERT IGNORE and runs the caller's callback in the same local transaction:
 * a repeat finds the row and is skipped, a failing callback rolls both back.
 * mr_barrier_query_prepared() is the back-check handler: it inserts a
 * `rollback` row for the message if none is there, so a local transaction
 * that has not yet inserted its own row is refused later, and one that is
 * still open makes the back-check wait for its end. They cannot both win.
 *
 * Part of libmsgrelay. Every statement is a prepared statement. Threads: any
 * thread, but a MYSQL connection and a struct mr_barrier belong to one thread
 * at a time. Errors: every function returns an MR_BARRIER_* code and, when
 * @errbuf is not NULL, writes a NUL-terminated message of at most @errlen - 1
 * bytes into it ("" on success); nothing keeps a "last error". Allocation
 * failure aborts the process, as everywhere in msgrelay.
 */
#ifndef MR_MSGRELAY_BARRIER_H
#define MR_MSGRELAY_BARRIER_H

#include <stddef.h>

#include <mysql.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* The barrier table used when none is set: DTM's default. */
#define MR_BARRIER_TABLE_DEFAULT "dtm_barrier.barrier"

/* Longest values the barrier table holds (its column widths). */
#define MR_BARRIER_GID_MAX       128
#define MR_BARRIER_BRANCH_ID_MAX 128
#define MR_BARRIER_OP_MAX        45

/*
 * MR_BARRIER_* - what a barrier call came to. Values are stable (ABI); the
 * producer SDK's MR_CLIENT_* results use the same numbers for the same ideas.
 */
enum mr_barrier_result {
    /* Done: the row is in, the callback succeeded, both are committed. For
     * mr_barrier_query_prepared(): the local transaction committed. */
    MR_BARRIER_SUCCESS = 0,
    /* Final: the callback refused (business failure); row and callback work
     * were rolled back. For mr_barrier_query_prepared(): rolled back or never
     * ran, and now never will. */
    MR_BARRIER_FAILURE = -1,
    /* Database trouble or a callback error: rolled back as far as is known
     * (after a failed COMMIT the outcome is unknown). Trying again is safe. */
    MR_BARRIER_ERROR = -2,
    /* The row was already there: an earlier call did (or a back-check
     * refused) this branch. The callback did not run; nothing changed. */
    MR_BARRIER_DUPLICATED = -3,
    /* The callback said "not yet": rolled back, ask again later. */
    MR_BARRIER_ONGOING = -4,
    /* Bad argument (empty or over-long field, bad table name, unsupported
     * op); nothing was done. */
    MR_BARRIER_EINVAL = -5,
};

/*
 * mr_barrier_result_name - "success", "failure", "error", "duplicated",
 * "ongoing", "einval", or "unknown". Static string; any thread.
 */
const char *mr_barrier_result_name(int result);

/*
 * mr_barrier_fn - the application's work for one branch, run inside the
 * barrier's local transaction on @db (the connection passed to the call).
 * Return 0 (MR_BARRIER_SUCCESS) to commit, MR_BARRIER_FAILURE to refuse for
 * good (business failure: e.g. insufficient balance), MR_BARRIER_ONGOING for
 * "not yet", anything else for an error; every non-zero value rolls back.
 * The callback must not commit, roll back or start a transaction on @db, and
 * must not call the barrier on @db again. @arg is the caller's pointer.
 */
typedef int (*mr_barrier_fn)(MYSQL *db, void *arg);

/* A barrier for one branch of one global transaction. Opaque. */
struct mr_barrier;

/*
 * mr_barrier_new - a barrier for (@trans_type, @gid, @branch_id, @op), all
 * borrowed (copied). Every field must be non-empty and fit its column; @op
 * must be "action" (a delivered step) or "msg" (the producer's own local
 * transaction, branch "00"): saga/TCC compensation ops need DTM's
 * null-compensation rules, which this barrier does not implement. The table
 * is MR_BARRIER_TABLE_DEFAULT until mr_barrier_set_table().
 * Returns MR_BARRIER_SUCCESS with *out set (owned result: mr_barrier_free()),
 * or MR_BARRIER_EINVAL with *out NULL.
 */
int mr_barrier_new(struct mr_barrier **out, const char *trans_type, const char *gid,
                   const char *branch_id, const char *op, char *errbuf, size_t errlen);

/*
 * mr_barrier_from_query - like mr_barrier_new() with the four fields read
 * from an URL query string (borrowed; a leading '?' is allowed), as the
 * relay sends them on every step: "gid=..&trans_type=msg&branch_id=01&op=action".
 * Values are percent-decoded ('+' is a space); other parameters are ignored.
 * MR_BARRIER_EINVAL names the missing or bad parameter.
 */
int mr_barrier_from_query(struct mr_barrier **out, const char *query, char *errbuf, size_t errlen);

/*
 * mr_barrier_set_table - use table @table (borrowed, copied): "name" or
 * "schema.name" of letters, digits, '_' and '$'. NULL restores the default.
 * MR_BARRIER_EINVAL (nothing changed) for anything else.
 */
int mr_barrier_set_table(struct mr_barrier *b, const char *table, char *errbuf, size_t errlen);

/* mr_barrier_gid - the barrier's gid (owned by @b, valid until mr_barrier_free()). */
const char *mr_barrier_gid(const struct mr_barrier *b);

/* mr_barrier_branch_id - the barrier's branch id (owned by @b). */
const char *mr_barrier_branch_id(const struct mr_barrier *b);

/* mr_barrier_op - the barrier's op (owned by @b). */
const char *mr_barrier_op(const struct mr_barrier *b);

/* mr_barrier_trans_type - the barrier's trans_type (owned by @b). */
const char *mr_barrier_trans_type(const struct mr_barrier *b);

/*
 * mr_barrier_free - free @b. NULL is a no-op.
 */
void mr_barrier_free(struct mr_barrier *b);

/*
 * mr_barrier_call - in one local transaction on @db: INSERT IGNORE the
 * barrier row (trans_type, gid, branch_id, op, barrier_id, reason = op),
 * then, if it went in, run @fn(@db, @arg) and commit; roll back when @fn
 * returns non-zero. barrier_id is "01" on the first call on @b, "02" on the
 * second, and so on (DTM's counter). @db must be connected and not inside a
 * transaction (START TRANSACTION would commit it); its autocommit setting
 * does not matter and is left as it was.
 * Returns MR_BARRIER_SUCCESS, MR_BARRIER_DUPLICATED (row already there,
 * @fn not run), MR_BARRIER_FAILURE / MR_BARRIER_ONGOING (what @fn said),
 * MR_BARRIER_ERROR (database error, or @fn returned another value; when the
 * COMMIT itself failed the outcome is unknown, which the message says).
 */
int mr_barrier_call(struct mr_barrier *b, MYSQL *db, mr_barrier_fn fn, void *arg, char *errbuf,
                    size_t errlen);

/*
 * mr_barrier_query_prepared - the back-check handler for message @gid
 * (borrowed) in table @table (NULL: the default): in its own transaction,
 * INSERT IGNORE ('msg', gid, '00', 'msg', '01', 'rollback'), then read the
 * row's reason with a locking read, then commit. If the producer's local
 * transaction is still open, the insert waits for it to end (up to the
 * server's innodb_lock_wait_timeout, then MR_BARRIER_ERROR).
 * Returns MR_BARRIER_SUCCESS (committed: deliver), MR_BARRIER_FAILURE
 * (rolled back or never ran: fail the message; a late local transaction
 * will get MR_BARRIER_DUPLICATED), MR_BARRIER_ERROR, MR_BARRIER_EINVAL.
 * @db must not be inside a transaction.
 */
int mr_barrier_query_prepared(MYSQL *db, const char *table, const char *gid, char *errbuf,
                              size_t errlen);

/*
 * mr_barrier_http_answer - the HTTP answer a service gives the relay for
 * @result, by the DTM result protocol the relay classifies with:
 *   SUCCESS, DUPLICATED -> 200 {"dtm_result":"SUCCESS"} (a repeat was applied before)
 *   FAILURE             -> 409 {"dtm_result":"FAILURE"}
 *   ONGOING             -> 425 {"dtm_result":"ONGOING"} (asked again after the base interval)
 *   EINVAL              -> 400 {"error":"invalid barrier parameters"}
 *   ERROR, anything else-> 500 {"error":"barrier error"} (retried with back-off)
 * Returns the status; *body (may be NULL) is set to a static JSON text.
 * Pure; any thread.
 */
int mr_barrier_http_answer(int result, const char **body);

/*
 * mr_barrier_http_step - the whole step handler for a service behind the
 * relay: barrier fields from @query (as mr_barrier_from_query()), table
 * @table (NULL: default), mr_barrier_call(@db, @fn, @arg), and the answer
 * mapped by mr_barrier_http_answer(). Returns the HTTP status to send with
 * *body (static text). The barrier result itself goes to *result when
 * @result is not NULL (e.g. to log repeats). Same threading as the calls it makes.
 */
int mr_barrier_http_step(MYSQL *db, const char *table, const char *query, mr_barrier_fn fn,
                         void *arg, const char **body, int *result, char *errbuf, size_t errlen);

/* ---- pruning: old barrier rows leave the table ---- */

/* The shortest mr_barrier_prune() cutoff accepted without MR_BARRIER_PRUNE_FORCE: 1 hour. */
#define MR_BARRIER_PRUNE_MIN_S 3600

/* The most rows one pruning statement deletes. */
#define MR_BARRIER_PRUNE_BATCH_MAX 10000

/* mr_barrier_prune() flags. */
#define MR_BARRIER_PRUNE_FORCE 1 /* accept a cutoff below MR_BARRIER_PRUNE_MIN_S */

/*
 * mr_barrier_prune - delete the message barrier rows (trans_type 'msg') of
 * @table (NULL: the default) whose create_time is more than @older_than_s
 * seconds before the server's NOW(), oldest first, in batches of @batch
 * rows (1 to MR_BARRIER_PRUNE_BATCH_MAX), each batch one DELETE in its own
 * transaction, with @pause_ms between batches, until a batch comes back
 * short. Rows of other transaction types sharing the table are left alone.
 * *@deleted (may be NULL) counts the rows deleted, also when a later batch
 * fails.
 *
 * Safety: a message's row ('00', 'msg') is what the relay's back-check reads
 * while the message is prepared, and a delivered step's row is what refuses
 * a repeated delivery; pruning either while its message can still be
 * back-checked or delivered again breaks exactly-once. Choose a cutoff well
 * beyond any message's life (the relay's retention of finished messages is
 * a good one: 7 days by default). A cutoff under MR_BARRIER_PRUNE_MIN_S is
 * refused (MR_BARRIER_EINVAL) unless @flags has MR_BARRIER_PRUNE_FORCE.
 * create_time is compared in the connection's time zone, as DTM's schema
 * fills it (DEFAULT now()).
 *
 * Returns MR_BARRIER_SUCCESS, MR_BARRIER_EINVAL (nothing done: bad table,
 * cutoff or batch) or MR_BARRIER_ERROR. @db must not be inside a
 * transaction. Uses the index on create_time of sql/barrier/mysql.sql.
 */
int mr_barrier_prune(MYSQL *db, const char *table, long long older_than_s, unsigned batch,
                     unsigned pause_ms, int flags, unsigned long long *deleted, char *errbuf,
                     size_t errlen);

/*
 * mr_barrier_connect - a new connection to @uri,
 * mysql://USER[:PASS]@HOST[:PORT]/DB (as the consumer's mysql_uri), with 10 s
 * connect, read and write timeouts. Owned result *@out: mysql_close().
 * MR_BARRIER_EINVAL for a bad URI, MR_BARRIER_ERROR when the connection fails
 * (the message names host and port, never the password).
 */
int mr_barrier_connect(MYSQL **out, const char *uri, char *errbuf, size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
