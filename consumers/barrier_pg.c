/* SPDX-License-Identifier: MIT */
/*
 * barrier_pg.c - the branch barrier on PostgreSQL (see msgrelay/barrier_pg.h):
 * the engine table of consumers/barrier_int.h through libpq, so the barrier's
 * rules (consumers/barrier.c) are the same on both databases, plus pruning
 * and connecting by a postgres:// URI.
 *
 * Must not: build SQL from values (every statement is PQexecParams with
 * fixed text; only the checked table name is pasted in), keep state between
 * calls, or run on a connection that is inside a transaction.
 *
 * Thread: the caller's; a PGconn belongs to one thread at a time. Errors:
 * MR_BARRIER_* codes with a message in the caller's buffer; every libpq
 * result is checked. COMMIT of a transaction that had failed answers
 * "ROLLBACK": that is an error here, not a success.
 */
#include "msgrelay/barrier_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/sdk.h"
#include "consumers/barrier_int.h"

/* Longest postgres:// URI accepted. */
#define URI_MAX 2048

/* Connect timeout of mr_barrier_connect_pg(), seconds (libpq's text). */
#define CONNECT_TIMEOUT_S "10"

/* pg_error - libpq's message for @db without its trailing newline, into @err. */
static int pg_error(PGconn *db, const char *what, struct mr_err *err)
{
    const char *m = PQerrorMessage(db);
    size_t n = strlen(m);
    char *p;

    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    mr_err_set(err, MR_ESTORE, "%s: %.*s", what, (int)n, m);
    for (p = err->msg; *p != '\0'; p++) /* libpq's message is several lines: one line here */
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return MR_ESTORE;
}

/*
 * pg_run - PQexecParams(@sql, the @n text @params) expecting status @want.
 * Owned result (PQclear), or NULL with the reason in @err.
 */
static PGresult *pg_run(PGconn *db, const char *sql, const char *const *params, int n,
                        ExecStatusType want, const char *what, struct mr_err *err)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);

    if (r == NULL) {
        pg_error(db, what, err);
        return NULL;
    }
    if (PQresultStatus(r) != want) {
        const char *m = PQresultErrorMessage(r);
        size_t len = strlen(m);

        while (len > 0 && m[len - 1] == '\n')
            len--;
        mr_err_set(err, MR_ESTORE, "%s: %.*s", what, (int)len, len > 0 ? m : "unexpected result");
        PQclear(r);
        return NULL;
    }
    return r;
}

/* pg_command - run a statement without rows; 0 or MR_ESTORE. */
static int pg_command(PGconn *db, const char *sql, const char *what, struct mr_err *err)
{
    PGresult *r = pg_run(db, sql, NULL, 0, PGRES_COMMAND_OK, what, err);

    if (r == NULL)
        return MR_ESTORE;
    PQclear(r);
    return 0;
}

/* ---- the engine ---- */

static int pg_ready(void *db, struct mr_err *err)
{
    if (PQstatus(db) != CONNECTION_OK) {
        pg_error(db, "postgres connection lost", err);
        err->code = MR_EUNAVAIL;
        return MR_EUNAVAIL;
    }
    if (PQtransactionStatus(db) != PQTRANS_IDLE)
        return mr_err_set(err, MR_EINVAL, "postgres connection is inside a transaction");
    return 0;
}

static int pg_begin(void *db, bool read_committed, struct mr_err *err)
{
    return pg_command(db, read_committed ? "BEGIN ISOLATION LEVEL READ COMMITTED" : "BEGIN",
                      "begin", err);
}

/*
 * pg_run_on - pg_run() of statement @fmt with the checked table name @table
 * pasted in for each of its (at most two) %s.
 */
static PGresult *pg_run_on(PGconn *db, const char *fmt, const char *table,
                           const char *const *params, int n, ExecStatusType want, const char *what,
                           struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(MR_BARRIER__SQL_MAX);
    PGresult *r = NULL;

    if (mr_buf_addf(&sql, fmt, table, table) != 0)
        mr_err_set(err, MR_ETOOBIG, "%s: statement too long", what);
    else
        r = pg_run(db, sql.p, params, n, want, what, err);
    mr_buf_release(&sql);
    return r;
}

/*
 * pg_insert - INSERT ... ON CONFLICT DO NOTHING one barrier row; a key held
 * by another open transaction makes it wait for that transaction's end.
 */
static int pg_insert(void *db, const char *table, const char *const v[6], bool *inserted,
                     struct mr_err *err)
{
    PGresult *r = pg_run_on(db,
                            "INSERT INTO %s(trans_type, gid, branch_id, op, barrier_id, reason) "
                            "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                            table, v, 6, PGRES_COMMAND_OK, "barrier insert", err);

    *inserted = false;
    if (r == NULL)
        return MR_ESTORE;
    *inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return 0;
}

/* pg_select_reason - the reason of row (@gid, '00', 'msg', '01'), FOR SHARE. */
static int pg_select_reason(void *db, const char *table, const char *gid, char *reason,
                            size_t size, bool *found, struct mr_err *err)
{
    const char *const v[1] = {gid};
    PGresult *r = pg_run_on(db,
                            "SELECT reason FROM %s WHERE gid = $1 AND branch_id = '00' "
                            "AND op = 'msg' AND barrier_id = '01' FOR SHARE",
                            table, v, 1, PGRES_TUPLES_OK, "barrier select", err);

    *found = false;
    memset(reason, 0, size);
    if (r == NULL)
        return MR_ESTORE;
    *found = PQntuples(r) > 0;
    if (*found && !PQgetisnull(r, 0, 0))
        snprintf(reason, size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int pg_commit(void *db, struct mr_err *err)
{
    PGresult *r = pg_run(db, "COMMIT", NULL, 0, PGRES_COMMAND_OK, "commit", err);
    int rc = 0;

    if (r == NULL)
        return MR_ESTORE;
    /* a transaction that had failed is rolled back by COMMIT, which then says so */
    if (strcmp(PQcmdStatus(r), "COMMIT") != 0)
        rc = mr_err_set(err, MR_ESTORE, "commit: the transaction had failed and was rolled back");
    PQclear(r);
    return rc;
}

static void pg_rollback(void *db)
{
    PGresult *r = PQexec(db, "ROLLBACK");

    PQclear(r); /* a failed rollback leaves nothing committed */
}

static const struct mr_barrier__engine pg_engine = {
    pg_ready, pg_begin, pg_insert, pg_select_reason, pg_commit, pg_rollback,
};

/* The caller's PostgreSQL callback and its argument, behind mr_barrier__run_fn. */
struct pg_run_ctx {
    mr_barrier_pg_fn fn;
    void *arg;
};

static int pg_run_cb(void *db, void *ctx)
{
    struct pg_run_ctx *r = ctx;

    return r->fn(db, r->arg);
}

/* ---- the public face ---- */

int mr_barrier_call_pg(struct mr_barrier *b, PGconn *db, mr_barrier_pg_fn fn, void *arg,
                       char *errbuf, size_t errlen)
{
    struct pg_run_ctx r = {fn, arg};

    return mr_barrier__call(b, &pg_engine, db, fn != NULL ? pg_run_cb : NULL, &r, errbuf, errlen);
}

int mr_barrier_query_prepared_pg(PGconn *db, const char *table, const char *gid, char *errbuf,
                                 size_t errlen)
{
    return mr_barrier__query_prepared(&pg_engine, db, table, gid, errbuf, errlen);
}

int mr_barrier_http_step_pg(PGconn *db, const char *table, const char *query,
                            mr_barrier_pg_fn fn, void *arg, const char **body, int *result,
                            char *errbuf, size_t errlen)
{
    struct pg_run_ctx r = {fn, arg};

    return mr_barrier__http_step(&pg_engine, db, table, query, fn != NULL ? pg_run_cb : NULL, &r,
                                 body, result, errbuf, errlen);
}

int mr_barrier_prune_pg(PGconn *db, const char *table, long long older_than_s, unsigned batch,
                        unsigned pause_ms, int flags, unsigned long long *deleted, char *errbuf,
                        size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;
    char cutoff[32];
    char limit[32];
    const char *const v[2] = {cutoff, limit};
    unsigned long long total = 0;
    int rc = MR_BARRIER_SUCCESS;

    if (deleted != NULL)
        *deleted = 0;
    if (mr_barrier__prune_check(db, &table, older_than_s, batch, flags, &err) != 0 ||
        pg_ready(db, &err) != 0)
        return mr_barrier__finish(err.code == MR_EINVAL ? MR_BARRIER_EINVAL : MR_BARRIER_ERROR,
                                  &err, errbuf, errlen);
    snprintf(cutoff, sizeof(cutoff), "%lld", older_than_s);
    snprintf(limit, sizeof(limit), "%u", batch);
    for (;;) {
        /* outside BEGIN, each DELETE is its own transaction; the table name is checked */
        PGresult *r = pg_run_on(db,
                                "DELETE FROM %s WHERE id IN (SELECT id FROM %s "
                                "WHERE trans_type = 'msg' "
                                "AND create_time < now() - $1::bigint * interval '1 second' "
                                "ORDER BY create_time, id LIMIT $2::bigint)",
                                table, v, 2, PGRES_COMMAND_OK, "barrier prune", &err);
        unsigned long long n;

        if (r == NULL) {
            rc = MR_BARRIER_ERROR;
            break;
        }
        n = strtoull(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        total += n;
        if (deleted != NULL)
            *deleted = total;
        if (n < batch)
            break;
        mr_barrier__pause(pause_ms);
    }
    if (rc != MR_BARRIER_SUCCESS) {
        char why[sizeof(err.msg)];

        snprintf(why, sizeof(why), "%s", err.msg);
        mr_err_set(&err, MR_ESTORE, "%.200s after %llu rows", why, total);
    }
    return mr_barrier__finish(rc, &err, errbuf, errlen);
}

int mr_barrier_connect_pg(PGconn **out, const char *uri, char *errbuf, size_t errlen)
{
    static const char *const keys[] = {"dbname", "connect_timeout", NULL};
    struct mr_err err = MR_ERR_INIT;
    const char *vals[3] = {uri, CONNECT_TIMEOUT_S, NULL};
    PGconn *db;

    *out = NULL;
    if (uri == NULL ||
        (strncmp(uri, "postgres://", 11) != 0 && strncmp(uri, "postgresql://", 13) != 0)) {
        mr_err_set(&err, MR_EINVAL, "postgres uri: not postgres://USER[:PASS]@HOST[:PORT]/DB");
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    }
    if (strlen(uri) > URI_MAX) {
        mr_err_set(&err, MR_EINVAL, "postgres uri: longer than %d bytes", URI_MAX);
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    }
    db = PQconnectdbParams(keys, vals, 1);
    if (db == NULL) {
        mr_err_set(&err, MR_EUNAVAIL, "connect to postgres: out of memory");
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    if (PQstatus(db) != CONNECTION_OK) {
        pg_error(db, "connect to postgres", &err);
        PQfinish(db);
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    *out = db;
    return mr_barrier__finish(MR_BARRIER_SUCCESS, &err, errbuf, errlen);
}
