/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/client_db_pg.h - a message tied to a local PostgreSQL
 * transaction: mr_client_do_and_submit_db_pg, DTM's DoAndSubmitDB on a libpq
 * connection. Part of libmsgrelay-barrier (pkg-config msgrelay-barrier).
 * Includes libpq-fe.h, not mysql.h.
 *
 * Example (tests/e2e/test_install.py compiles it, so it cannot rot):
 *
 *   static int debit(PGconn *db, void *arg)
 *   {
 *       PGresult *r = PQexecParams(db, "UPDATE account SET balance = balance - 30 "
 *                                      "WHERE id = 1 AND balance >= 30",
 *                                  0, NULL, NULL, NULL, NULL, 0);
 *       int rc = PQresultStatus(r) != PGRES_COMMAND_OK ? MR_BARRIER_ERROR
 *                : PQcmdTuples(r)[0] == '1'             ? MR_BARRIER_SUCCESS
 *                                                       : MR_BARRIER_FAILURE;
 *       (void)arg;
 *       PQclear(r);
 *       return rc;
 *   }
 *
 *   int transfer(PGconn *db, const char *relay, const char *gid)
 *   {
 *       struct mr_client_msg *m;
 *       char err[512];
 *       int rc = mr_client_msg_new(&m, relay, gid, err, sizeof err);
 *
 *       if (rc != MR_CLIENT_SUCCESS)
 *           return rc;
 *       rc = mr_client_msg_add(m, "http://bank-b/api/TransIn", "{\"user_id\":2,\"amount\":30}",
 *                              err, sizeof err);
 *       if (rc == MR_CLIENT_SUCCESS)
 *           rc = mr_client_do_and_submit_db_pg(m, "http://bank-a/api/QueryPrepared", db, debit,
 *                                              NULL, err, sizeof err);
 *       mr_client_msg_free(m);
 *       return rc;
 *   }
 *
 * The back-check URL must be served by mr_barrier_query_prepared_pg() on the
 * same database and table: mr_backcheck_server_start_pg()
 * (msgrelay/backcheck.h) does that. Threads and errors: as msgrelay/client.h
 * and msgrelay/barrier_pg.h.
 */
#ifndef MR_MSGRELAY_CLIENT_DB_PG_H
#define MR_MSGRELAY_CLIENT_DB_PG_H

#include <stddef.h>

#include "msgrelay/barrier_pg.h"
#include "msgrelay/client.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * mr_client_do_and_submit_db_pg - mr_client_do_and_submit_db()
 * (msgrelay/client_db.h) on PostgreSQL, with the same order and results:
 * prepare; in one local transaction on @db the barrier row
 * ('msg', gid, '00', 'msg', '01', 'msg') INSERTed ON CONFLICT DO NOTHING and
 * @fn(@db, @arg); then submit, abort, or ask @query_prepared first when the
 * local outcome is unclear. @db: as for mr_barrier_call_pg() (idle).
 */
int mr_client_do_and_submit_db_pg(struct mr_client_msg *m, const char *query_prepared,
                                  PGconn *db, mr_barrier_pg_fn fn, void *arg, char *errbuf,
                                  size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
