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
 * The database-neutral part (results, the barrier object, the HTTP answers)
 * is msgrelay/barrier_common.h, included here; the same calls on
 * PostgreSQL are in msgrelay/barrier_pg.h.
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

#include "msgrelay/barrier_common.h"

#include <mysql.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

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
 * mr_barrier_http_step - the whole step handler for a service behind the
 * relay: barrier fields from @query (as mr_barrier_from_query()), table
 * @table (NULL: default), mr_barrier_call(@db, @fn, @arg), and the answer
 * mapped by mr_barrier_http_answer(). Returns the HTTP status to send with
 * *body (static text). The barrier result itself goes to *result when
 * @result is not NULL (e.g. to log repeats). Same threading as the calls it makes.
 */
int mr_barrier_http_step(MYSQL *db, const char *table, const char *query, mr_barrier_fn fn,
                         void *arg, const char **body, int *result, char *errbuf, size_t errlen);

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
