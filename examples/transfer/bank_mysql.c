/* SPDX-License-Identifier: MIT */
/*
 * bank_mysql.c - the bank-transfer example's database side on MySQL/MariaDB
 * (examples/transfer/bank.h): prepared statements with integer parameters,
 * the debit inside mr_client_do_and_submit_db, the credit inside
 * mr_barrier_http_step.
 *
 * Thread: any; a MYSQL connection belongs to the request that opened it.
 * Errors: as bank.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "examples/transfer/bank.h"
#include "msgrelay/client_db.h"

static void *my_open(const char *uri, char *err, size_t errlen)
{
    MYSQL *db = NULL;

    return mr_barrier_connect(&db, uri, err, errlen) == MR_BARRIER_SUCCESS ? db : NULL;
}

static void my_close(void *db)
{
    mysql_close(db);
}

static int my_stmt(void *db, const char *sql, const long long *params, int n,
                   unsigned long long *affected, char *out, size_t outsize, struct change *c)
{
    MYSQL_BIND bind[4];
    MYSQL_BIND res;
    unsigned long len = 0;
    MYSQL_STMT *st = mysql_stmt_init(db);
    int i;
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
    if (rc != 0)
        snprintf(c->why, sizeof(c->why), "%s", st != NULL ? mysql_stmt_error(st) : mysql_error(db));
    if (st != NULL)
        mysql_stmt_close(st);
    return rc;
}

/* the schema file: several statements, each result drained; an error stops the file */
static int my_schema(void *db, const char *sql, char *err, size_t errlen)
{
    int rc;

    if (mysql_set_server_option(db, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0 ||
        mysql_real_query(db, sql, (unsigned long)strlen(sql)) != 0) {
        rc = -1;
    } else {
        do {
            MYSQL_RES *r = mysql_store_result(db);

            if (r != NULL)
                mysql_free_result(r);
        } while (mysql_next_result(db) == 0);
        rc = mysql_errno(db) != 0 ? -1 : 0;
    }
    if (rc != 0)
        snprintf(err, errlen, "%s", mysql_error(db));
    return rc;
}

static int debit(MYSQL *db, void *arg)
{
    return bank_debit(&bank_mysql, db, arg);
}

static int credit(MYSQL *db, void *arg)
{
    return bank_credit(&bank_mysql, db, arg);
}

static int my_transfer(void *db, struct mr_client_msg *m, const char *qp, struct change *c,
                       char *err, size_t errlen)
{
    return mr_client_do_and_submit_db(m, qp, db, debit, c, err, errlen);
}

static int my_trans_in(void *db, const char *table, const char *query, struct change *c,
                       const char **body, int *result, char *err, size_t errlen)
{
    return mr_barrier_http_step(db, table, query, credit, c, body, result, err, errlen);
}

static json_t *my_balances(void *db, char *err, size_t errlen)
{
    const char *sql = "SELECT user_id, balance FROM user_account ORDER BY user_id";
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    json_t *j;

    if (mysql_real_query(db, sql, (unsigned long)strlen(sql)) == 0)
        res = mysql_store_result(db);
    if (res == NULL) {
        snprintf(err, errlen, "balances: %s", mysql_error(db));
        return NULL;
    }
    j = json_object();
    while ((row = mysql_fetch_row(res)) != NULL)
        json_object_set_new(j, row[0], json_string(row[1] != NULL ? row[1] : ""));
    mysql_free_result(res);
    return j;
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
    .scheme = "mysql://",
    .scheme2 = NULL,
    .sql = {"UPDATE user_account SET balance = balance - ? WHERE user_id = ? AND balance >= ?",
            "UPDATE user_account SET balance = balance + ? WHERE user_id = ?",
            "SELECT balance FROM user_account WHERE user_id = ?"},
    .init = my_init,
    .cleanup = my_cleanup,
    .open = my_open,
    .close = my_close,
    .schema = my_schema,
    .stmt = my_stmt,
    .transfer = my_transfer,
    .trans_in = my_trans_in,
    .balances = my_balances,
};
