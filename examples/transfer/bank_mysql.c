/* SPDX-License-Identifier: MIT */
/*
 * bank_mysql.c - the bank-transfer example's database side on MySQL/MariaDB
 * (examples/transfer/bank.h): the debit inside mr_client_do_and_submit_db,
 * the credit inside mr_barrier_http_step, the balances and --schema files.
 *
 * Thread: any; each call opens and closes its own MYSQL connection.
 * Errors: as bank.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "examples/transfer/bank.h"
#include "msgrelay/client_db.h"

/* db_open - a new connection, or NULL with the reason in @why. Close with mysql_close(). */
static MYSQL *db_open(const char *uri, char *why, size_t size)
{
    MYSQL *db = NULL;

    return mr_barrier_connect(&db, uri, why, size) == MR_BARRIER_SUCCESS ? db : NULL;
}

/*
 * run_stmt - prepare @sql, bind the @n integers @params, execute; the number
 * of changed rows goes to *affected, and when @out is not NULL the first
 * column of the first row (as text) to @out. 0, or -1 (the statement failed).
 */
static int run_stmt(MYSQL *db, const char *sql, const long long *params, size_t n,
                    unsigned long long *affected, char *out, size_t outsize)
{
    MYSQL_BIND bind[4];
    MYSQL_BIND res;
    unsigned long len = 0;
    MYSQL_STMT *st = mysql_stmt_init(db);
    size_t i;
    int rc = -1;

    if (st == NULL || n > 4)
        goto done;
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0)
        goto done;
    memset(bind, 0, sizeof(bind));
    for (i = 0; i < n; i++) {
        bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
        bind[i].buffer = (void *)&params[i];
    }
    if (mysql_stmt_bind_param(st, bind) != 0 || mysql_stmt_execute(st) != 0)
        goto done;
    if (affected != NULL)
        *affected = mysql_stmt_affected_rows(st);
    if (out != NULL) {
        memset(out, 0, outsize);
        memset(&res, 0, sizeof(res));
        res.buffer_type = MYSQL_TYPE_STRING;
        res.buffer = out;
        res.buffer_length = (unsigned long)outsize - 1;
        res.length = &len;
        if (mysql_stmt_bind_result(st, &res) != 0 || mysql_stmt_fetch(st) == 1)
            goto done;
    }
    rc = 0;
done:
    if (st != NULL)
        mysql_stmt_close(st);
    return rc;
}

/*
 * debit - TransOut's local work, run by do_and_submit_db inside the
 * transaction that also holds the barrier row. Not enough money is a
 * business failure: MR_BARRIER_FAILURE, so the message is aborted.
 */
static int debit(MYSQL *db, void *arg)
{
    struct change *c = arg;
    long long p[3] = {c->amount, c->user_id, c->amount};
    long long q[1] = {c->user_id};
    unsigned long long n = 0;

    if (run_stmt(db,
                 "UPDATE user_account SET balance = balance - ? WHERE user_id = ? AND balance >= ?",
                 p, 3, &n, NULL, 0) != 0) {
        snprintf(c->why, sizeof(c->why), "debit: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    if (n != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: no such account or balance below %lld",
                 c->user_id, c->amount);
        return MR_BARRIER_FAILURE;
    }
    if (run_stmt(db, "SELECT balance FROM user_account WHERE user_id = ?", q, 1, NULL, c->balance,
                 sizeof(c->balance)) != 0) {
        snprintf(c->why, sizeof(c->why), "read balance: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    return MR_BARRIER_SUCCESS;
}

/* credit - TransIn's work inside the barrier: a repeated delivery never gets here. */
static int credit(MYSQL *db, void *arg)
{
    struct change *c = arg;
    long long p[2] = {c->amount, c->user_id};
    long long q[1] = {c->user_id};
    unsigned long long n = 0;

    if (run_stmt(db, "UPDATE user_account SET balance = balance + ? WHERE user_id = ?", p, 2, &n,
                 NULL, 0) != 0) {
        snprintf(c->why, sizeof(c->why), "credit: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    if (n != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: no such account", c->user_id);
        return MR_BARRIER_FAILURE;
    }
    if (run_stmt(db, "SELECT balance FROM user_account WHERE user_id = ?", q, 1, NULL, c->balance,
                 sizeof(c->balance)) != 0) {
        snprintf(c->why, sizeof(c->why), "read balance: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    return MR_BARRIER_SUCCESS;
}

/* my_schema - run the SQL statements of file @path (--schema). 0 or -1. */
static int my_schema(const char *uri, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *sql = bank_read_file(path, &len, err, errlen);
    MYSQL *db;
    int rc;

    if (sql == NULL)
        return -1;
    db = db_open(uri, err, errlen);
    if (db == NULL) {
        free(sql);
        return -1;
    }
    if (mysql_set_server_option(db, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0 ||
        mysql_real_query(db, sql, (unsigned long)len) != 0) {
        rc = -1;
    } else {
        /* drain every statement's result; an error in any of them stops the file */
        do {
            MYSQL_RES *r = mysql_store_result(db);

            if (r != NULL)
                mysql_free_result(r);
        } while (mysql_next_result(db) == 0);
        rc = mysql_errno(db) != 0 ? -1 : 0;
    }
    if (rc != 0)
        snprintf(err, errlen, "schema %s: %s", path, mysql_error(db));
    mysql_close(db);
    free(sql);
    return rc;
}

/* my_balances - every account's balance: {"1":"970.00",...}. */
static json_t *my_balances(const char *uri, char *err, size_t errlen)
{
    const char *sql = "SELECT user_id, balance FROM user_account ORDER BY user_id";
    MYSQL_RES *res;
    MYSQL_ROW row;
    json_t *j;
    MYSQL *db;

    db = db_open(uri, err, errlen);
    if (db == NULL)
        return NULL;
    res = NULL;
    if (mysql_real_query(db, sql, (unsigned long)strlen(sql)) == 0)
        res = mysql_store_result(db);
    if (res == NULL) {
        snprintf(err, errlen, "balances: %s", mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    j = json_object();
    while ((row = mysql_fetch_row(res)) != NULL)
        json_object_set_new(j, row[0], json_string(row[1] != NULL ? row[1] : ""));
    mysql_free_result(res);
    mysql_close(db);
    return j;
}

/* my_transfer - TransOut's local transaction and the message, by do_and_submit_db. */
static int my_transfer(const char *uri, struct mr_client_msg *m, const char *qp, struct change *c,
                       char *err, size_t errlen)
{
    MYSQL *db = db_open(uri, err, errlen);
    int rc;

    if (db == NULL)
        return MR_CLIENT_ERROR;
    rc = mr_client_do_and_submit_db(m, qp, db, debit, c, err, errlen);
    mysql_close(db);
    return rc;
}

/* my_trans_in - TransIn's credit through the barrier. */
static int my_trans_in(const char *uri, const char *table, const char *query, struct change *c,
                       const char **body, int *result, char *err, size_t errlen)
{
    MYSQL *db = db_open(uri, err, errlen);
    int status;

    *result = MR_BARRIER_ERROR;
    if (db == NULL)
        return mr_barrier_http_answer(MR_BARRIER_ERROR, body);
    status = mr_barrier_http_step(db, table, query, credit, c, body, result, err, errlen);
    mysql_close(db);
    return status;
}

static int my_init(void)
{
    return mysql_library_init(0, NULL, NULL) != 0 ? -1 : 0;
}

static void my_cleanup(void)
{
    mysql_library_end();
}

const struct bank_engine bank_mysql = {
    "mysql://", NULL, my_init, my_cleanup, my_schema, my_transfer, my_trans_in, my_balances,
};
