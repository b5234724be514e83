/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/barrier_pg.h - the branch barrier on PostgreSQL: the calls of
 * msgrelay/barrier.h with a libpq connection (PGconn *) in place of MySQL's.
 * A program on PostgreSQL includes this header (and libpq-fe.h through it),
 * not msgrelay/barrier.h, so it needs no MySQL headers.
 *
 * The table has DTM's layout on PostgreSQL (default `dtm_barrier.barrier`,
 * schema in sql/barrier/postgres.sql), keyed by (gid, branch_id, op,
 * barrier_id). The rules are MySQL's, with INSERT ... ON CONFLICT DO NOTHING
 * where MySQL uses INSERT IGNORE: mr_barrier_call_pg() inserts the row and
 * runs the callback in one local transaction (a repeat finds the row and is
 * skipped); mr_barrier_query_prepared_pg() inserts a `rollback` row when none
 * is there, then reads which row is there, in one READ COMMITTED
 * transaction, so a local transaction still open makes it wait, and one that
 * never ran is refused for good.
 *
 * Part of libmsgrelay-barrier (pkg-config msgrelay-barrier). Every statement
 * is PQexecParams with fixed text (values are parameters; only the checked
 * table name is pasted in). Threads: any thread, but a PGconn and a struct
 * mr_barrier belong to one thread at a time. Errors: MR_BARRIER_* codes and
 * a message in @errbuf, as msgrelay/barrier.h.
 */
#ifndef MR_MSGRELAY_BARRIER_PG_H
#define MR_MSGRELAY_BARRIER_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "msgrelay/barrier_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * mr_barrier_pg_fn - the application's work for one branch, run inside the
 * barrier's local transaction on @db. Return values as mr_barrier_fn
 * (msgrelay/barrier.h): 0 commits, MR_BARRIER_FAILURE refuses for good,
 * MR_BARRIER_ONGOING means "not yet", anything else is an error; every
 * non-zero value rolls back. No BEGIN, COMMIT or ROLLBACK on @db inside.
 * A failed statement inside aborts the transaction: return non-zero then.
 */
typedef int (*mr_barrier_pg_fn)(PGconn *db, void *arg);

/*
 * mr_barrier_call_pg - mr_barrier_call() on PostgreSQL: BEGIN; INSERT the
 * barrier row ON CONFLICT DO NOTHING; if it went in, @fn(@db, @arg) and
 * COMMIT, else ROLLBACK (MR_BARRIER_DUPLICATED). The transaction runs at
 * the connection's default isolation level. @db must be connected and idle
 * (not inside a transaction: MR_BARRIER_EINVAL otherwise).
 * Returns as mr_barrier_call().
 */
int mr_barrier_call_pg(struct mr_barrier *b, PGconn *db, mr_barrier_pg_fn fn, void *arg,
                       char *errbuf, size_t errlen);

/*
 * mr_barrier_query_prepared_pg - mr_barrier_query_prepared() on PostgreSQL:
 * in one READ COMMITTED transaction, INSERT ('msg', gid, '00', 'msg', '01',
 * 'rollback') ON CONFLICT DO NOTHING (it waits for a producer's local
 * transaction holding that key), then SELECT the row's reason FOR SHARE,
 * then COMMIT. Returns MR_BARRIER_SUCCESS (committed), MR_BARRIER_FAILURE
 * (rolled back or never ran), MR_BARRIER_ERROR or MR_BARRIER_EINVAL. @db
 * must be idle.
 */
int mr_barrier_query_prepared_pg(PGconn *db, const char *table, const char *gid, char *errbuf,
                                 size_t errlen);

/*
 * mr_barrier_http_step_pg - mr_barrier_http_step() on PostgreSQL: fields
 * from @query, table @table (NULL: default), mr_barrier_call_pg() and the
 * answer of mr_barrier_http_answer().
 */
int mr_barrier_http_step_pg(PGconn *db, const char *table, const char *query,
                            mr_barrier_pg_fn fn, void *arg, const char **body, int *result,
                            char *errbuf, size_t errlen);

/*
 * mr_barrier_prune_pg - mr_barrier_prune() on PostgreSQL: the message
 * barrier rows (trans_type 'msg') whose create_time is more than
 * @older_than_s seconds before the server's now(), oldest first, @batch at
 * a time, each batch one DELETE in its own transaction. Same limits, flags
 * and results. Rows whose create_time is NULL (a table made without
 * sql/barrier/postgres.sql's DEFAULT now()) are never pruned.
 */
int mr_barrier_prune_pg(PGconn *db, const char *table, long long older_than_s, unsigned batch,
                        unsigned pause_ms, int flags, unsigned long long *deleted, char *errbuf,
                        size_t errlen);

/*
 * mr_barrier_connect_pg - a new connection to @uri,
 * postgres://USER[:PASS]@HOST[:PORT]/DB or postgresql://... (libpq's URI:
 * query parameters such as sslmode=require are passed on), with a 10 s
 * connect timeout. Owned result *@out: PQfinish(). MR_BARRIER_EINVAL for a
 * URI of another scheme, MR_BARRIER_ERROR when the connection fails (the
 * message is libpq's, which names host and port, never the password).
 */
int mr_barrier_connect_pg(PGconn **out, const char *uri, char *errbuf, size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
