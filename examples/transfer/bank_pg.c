/* SPDX-License-Identifier: MIT */
/*
 * bank_pg.c - the bank-transfer example's database side on PostgreSQL
 * (examples/transfer/bank.h): statements through PQexecParams (values as
 * parameters), the debit inside mr_client_do_and_submit_db_pg, the credit
 * inside mr_barrier_http_step_pg.
 *
 * Thread: any; a PGconn belongs to the request that opened it. Errors: as
 * bank.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "examples/transfer/bank.h"
#include "msgrelay/client_db_pg.h"

static void *pg_open(const char *uri, char *err, size_t errlen)
{
    PGconn *db = NULL;

    return mr_barrier_connect_pg(&db, uri, err, errlen) == MR_BARRIER_SUCCESS ? db : NULL;
}

static void pg_close(void *db)
{
    PQfinish(db);
}

static int pg_stmt(void *db, const char *sql, const long long *params, int n,
                   unsigned long long *affected, char *out, size_t outsize, struct change *c)
{
    char text[4][32];
    const char *v[4];
    PGresult *r;
    int i;

    for (i = 0; i < n && i < 4; i++) {
        snprintf(text[i], sizeof(text[i]), "%lld", params[i]);
        v[i] = text[i];
    }
    r = PQexecParams(db, sql, n < 4 ? n : 4, NULL, v, NULL, NULL, 0);
    if (r == NULL ||
        (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)) {
        snprintf(c->why, sizeof(c->why), "%s", PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    if (affected != NULL)
        *affected = strtoull(PQcmdTuples(r), NULL, 10);
    if (out != NULL)
        snprintf(out, outsize, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

/* the schema file: several statements, so the simple protocol (a trusted local file) */
static int pg_schema(void *db, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(db, sql);
    int rc = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

    if (rc != 0)
        snprintf(err, errlen, "%s", PQerrorMessage(db));
    PQclear(r);
    return rc;
}

static int debit(PGconn *db, void *arg)
{
    return bank_debit(&bank_pg, db, arg);
}

static int credit(PGconn *db, void *arg)
{
    return bank_credit(&bank_pg, db, arg);
}

static int pg_transfer(void *db, struct mr_client_msg *m, const char *qp, struct change *c,
                       char *err, size_t errlen)
{
    return mr_client_do_and_submit_db_pg(m, qp, db, debit, c, err, errlen);
}

static int pg_trans_in(void *db, const char *table, const char *query, struct change *c,
                       const char **body, int *result, char *err, size_t errlen)
{
    return mr_barrier_http_step_pg(db, table, query, credit, c, body, result, err, errlen);
}

static json_t *pg_balances(void *db, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(db,
                               "SELECT user_id::text, balance::text FROM user_account "
                               "ORDER BY user_id",
                               0, NULL, NULL, NULL, NULL, 0);
    json_t *j = NULL;
    int i;

    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "balances: %s", PQerrorMessage(db));
    } else {
        j = json_object();
        for (i = 0; i < PQntuples(r); i++)
            json_object_set_new(j, PQgetvalue(r, i, 0), json_string(PQgetvalue(r, i, 1)));
    }
    PQclear(r);
    return j;
}

static int pg_init(void)
{
    return 0;
}

static void pg_cleanup(void)
{
}

const struct bank_engine bank_pg = {
    .scheme = "postgres://",
    .scheme2 = "postgresql://",
    .sql = {"UPDATE user_account SET balance = balance - $1 WHERE user_id = $2 AND balance >= $3",
            "UPDATE user_account SET balance = balance + $1 WHERE user_id = $2",
            "SELECT balance::text FROM user_account WHERE user_id = $1"},
    .init = pg_init,
    .cleanup = pg_cleanup,
    .open = pg_open,
    .close = pg_close,
    .schema = pg_schema,
    .stmt = pg_stmt,
    .transfer = pg_transfer,
    .trans_in = pg_trans_in,
    .balances = pg_balances,
};
