/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/client_db.h - a message tied to a local MySQL/MariaDB
 * transaction: mr_client_do_and_submit_db, the C form of DTM's
 * DoAndSubmitDB. Part of libmsgrelay-barrier (pkg-config msgrelay-barrier:
 * it needs mysqlclient as well as the producer API of msgrelay/client.h).
 *
 * Example (tests/e2e/test_install.py compiles it, so it cannot rot):
 *
 *   static int debit(MYSQL *db, void *arg)
 *   {
 *       (void)arg;
 *       if (mysql_query(db, "UPDATE account SET balance = balance - 30 WHERE id = 1") != 0)
 *           return MR_BARRIER_ERROR;
 *       return mysql_affected_rows(db) == 1 ? MR_BARRIER_SUCCESS : MR_BARRIER_FAILURE;
 *   }
 *
 *   int transfer(MYSQL *db, const char *relay, const char *gid)
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
 *           rc = mr_client_do_and_submit_db(m, "http://bank-a/api/QueryPrepared", db, debit,
 *                                           NULL, err, sizeof err);
 *       mr_client_msg_free(m);
 *       return rc;
 *   }
 *
 * The back-check URL must be served by mr_barrier_query_prepared() on the
 * same database and table: mr_backcheck_server_start() (msgrelay/backcheck.h)
 * does that for you. Threads and errors: as msgrelay/client.h and
 * msgrelay/barrier.h.
 */
#ifndef MR_MSGRELAY_CLIENT_DB_H
#define MR_MSGRELAY_CLIENT_DB_H

#include <stddef.h>

#include <mysql.h>

#include "msgrelay/barrier.h"
#include "msgrelay/client.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * mr_client_do_and_submit_db - the local transaction and the message, as one,
 * in the order DTM's DoAndSubmitDB uses (prepare first, then the local
 * transaction, then submit or abort; when the local outcome is unclear, ask
 * the back-check before deciding):
 *   1. mr_client_prepare(@query_prepared); on any error return it, @fn never runs;
 *   2. on @db, in one transaction: INSERT IGNORE the barrier row
 *      ('msg', gid, '00', 'msg', '01', reason 'msg'), run @fn(@db, @arg),
 *      commit (roll back when @fn returns non-zero; no row inserted ->
 *      duplicated, @fn not run);
 *   3. all done -> mr_client_submit(), whose result is returned;
 *      @fn returned MR_BARRIER_FAILURE -> mr_client_abort() (its result is
 *      not returned), return MR_CLIENT_FAILURE;
 *      anything else unclear (duplicated, another callback value, a database
 *      or COMMIT error) -> ask @query_prepared ourselves: rolled back ->
 *      abort; committed -> submit; no answer -> neither (the server's own
 *      back-check settles it after timeout_to_fail); then return
 *      MR_CLIENT_DUPLICATED or MR_CLIENT_ERROR for the local outcome.
 * So MR_CLIENT_ERROR may come with the message submitted (COMMIT succeeded
 * but was reported lost); the message in @errbuf says what was done.
 * @query_prepared (borrowed) must be served by mr_barrier_query_prepared()
 * on the same database and table. @db: as for mr_barrier_call().
 */
int mr_client_do_and_submit_db(struct mr_client_msg *m, const char *query_prepared, MYSQL *db,
                               mr_barrier_fn fn, void *arg, char *errbuf, size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
