/* SPDX-License-Identifier: MIT */
/*
 * bank_pg.c - the bank-transfer example's database side on PostgreSQL
 * (examples/transfer/bank.h): the debit inside
 * mr_client_do_and_submit_db_pg, the credit inside mr_barrier_http_step_pg,
 * the balances and --schema files. Values go as PQexecParams parameters.
 *
 * Thread: any; each call opens and closes its own PGconn. Errors: as bank.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "examples/transfer/bank.h"
#include "msgrelay/client_db_pg.h"

/* db_open - a new connection, or NULL with the reason in @why. Close with PQfinish(). */
static PGconn *db_open(const char *uri, char *why, size_t size)
{
    PGconn *db = NULL;

    return mr_barrier_connect_pg(&db, uri, why, size) == MR_BARRIER_SUCCESS ? db : NULL;
}

/*
 * run_stmt - @sql with the @n integers @params; the number of changed rows to
 * *affected, and when @out is not NULL the first column of the first row to
 * @out. 0, or -1 with libpq's message in @c->why prefixed by @what.
 */
static int run_stmt(PGconn *db, const char *sql, const long long *params, int n,
                    unsigned long long *affected, char *out, size_t outsize, const char *what,
                    struct change *c)
{
    char text[4][32];
    const char *v[4];
    PGresult *r;
    int i;
    int ok;

    for (i = 0; i < n && i < 4; i++) {
        snprintf(text[i], sizeof(text[i]), "%lld", params[i]);
        v[i] = text[i];
    }
    r = PQexecParams(db, sql, n, NULL, v, NULL, NULL, 0);
    ok = r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
                       PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok) {
        snprintf(c->why, sizeof(c->why), "%s: %s", what, PQerrorMessage(db));
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

/* debit - TransOut's local work; not enough money is a business failure. */
static int debit(PGconn *db, void *arg)
{
    struct change *c = arg;
    long long p[2] = {c->amount, c->user_id};
    long long q[1] = {c->user_id};
    unsigned long long n = 0;

    if (run_stmt(db,
                 "UPDATE user_account SET balance = balance - $1 "
                 "WHERE user_id = $2 AND balance >= $1",
                 p, 2, &n, NULL, 0, "debit", c) != 0)
        return MR_BARRIER_ERROR;
    if (n != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: no such account or balance below %lld",
                 c->user_id, c->amount);
        return MR_BARRIER_FAILURE;
    }
    if (run_stmt(db, "SELECT balance::text FROM user_account WHERE user_id = $1", q, 1, NULL,
                 c->balance, sizeof(c->balance), "read balance", c) != 0)
        return MR_BARRIER_ERROR;
    return MR_BARRIER_SUCCESS;
}

/* credit - TransIn's work inside the barrier: a repeated delivery never gets here. */
static int credit(PGconn *db, void *arg)
{
    struct change *c = arg;
    long long p[2] = {c->amount, c->user_id};
    long long q[1] = {c->user_id};
    unsigned long long n = 0;

    if (run_stmt(db, "UPDATE user_account SET balance = balance + $1 WHERE user_id = $2", p, 2,
                 &n, NULL, 0, "credit", c) != 0)
        return MR_BARRIER_ERROR;
    if (n != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: no such account", c->user_id);
        return MR_BARRIER_FAILURE;
    }
    if (run_stmt(db, "SELECT balance::text FROM user_account WHERE user_id = $1", q, 1, NULL,
                 c->balance, sizeof(c->balance), "read balance", c) != 0)
        return MR_BARRIER_ERROR;
    return MR_BARRIER_SUCCESS;
}

/* pg_schema - run the SQL statements of file @path (--schema), a trusted local file. */
static int pg_schema(const char *uri, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *sql = bank_read_file(path, &len, err, errlen);
    PGresult *r;
    PGconn *db;
    int rc = 0;

    if (sql == NULL)
        return -1;
    db = db_open(uri, err, errlen);
    if (db == NULL) {
        free(sql);
        return -1;
    }
    r = PQexec(db, sql); /* several statements: the simple protocol, no parameters */
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "schema %s: %s", path, PQerrorMessage(db));
        rc = -1;
    }
    PQclear(r);
    PQfinish(db);
    free(sql);
    return rc;
}

/* pg_transfer - TransOut's local transaction and the message, by do_and_submit_db_pg. */
static int pg_transfer(const char *uri, struct mr_client_msg *m, const char *qp, struct change *c,
                       char *err, size_t errlen)
{
    PGconn *db = db_open(uri, err, errlen);
    int rc;

    if (db == NULL)
        return MR_CLIENT_ERROR;
    rc = mr_client_do_and_submit_db_pg(m, qp, db, debit, c, err, errlen);
    PQfinish(db);
    return rc;
}

/* pg_trans_in - TransIn's credit through the barrier. */
static int pg_trans_in(const char *uri, const char *table, const char *query, struct change *c,
                       const char **body, int *result, char *err, size_t errlen)
{
    PGconn *db = db_open(uri, err, errlen);
    int status;

    *result = MR_BARRIER_ERROR;
    if (db == NULL)
        return mr_barrier_http_answer(MR_BARRIER_ERROR, body);
    status = mr_barrier_http_step_pg(db, table, query, credit, c, body, result, err, errlen);
    PQfinish(db);
    return status;
}

/* pg_balances - every account's balance: {"1":"970.00",...}. */
static json_t *pg_balances(const char *uri, char *err, size_t errlen)
{
    PGconn *db = db_open(uri, err, errlen);
    PGresult *r;
    json_t *j = NULL;
    int i;

    if (db == NULL)
        return NULL;
    r = PQexecParams(db, "SELECT user_id::text, balance::text FROM user_account ORDER BY user_id",
                     0, NULL, NULL, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "balances: %s", PQerrorMessage(db));
    } else {
        j = json_object();
        for (i = 0; i < PQntuples(r); i++)
            json_object_set_new(j, PQgetvalue(r, i, 0), json_string(PQgetvalue(r, i, 1)));
    }
    PQclear(r);
    PQfinish(db);
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
    "postgres://", "postgresql://", pg_init, pg_cleanup, pg_schema, pg_transfer, pg_trans_in,
    pg_balances,
};
