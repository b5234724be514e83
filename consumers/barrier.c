/* SPDX-License-Identifier: MIT */
/*
 * barrier.c - the branch barrier (see msgrelay/barrier.h): its rules written
 * once over an engine table (consumers/barrier_int.h; PostgreSQL's is in
 * barrier_pg.c) and the MySQL/MariaDB engine:
 * insert-ignore a row and run the caller's work in one local transaction, the
 * back-check handler that inserts a `rollback` row, and the mapping of both
 * onto the HTTP answers the relay's result classifier understands.
 *
 * Must not: keep state between calls (the only state is in the caller's
 * struct mr_barrier), make HTTP calls, or build SQL from values (values go
 * through mysql_stmt_* parameters; only the checked table name is pasted in).
 *
 * Thread: the caller's; a MYSQL connection and a barrier belong to one thread
 * at a time. Errors: every public function returns an MR_BARRIER_* code and a
 * message in the caller's buffer; database errors are MR_BARRIER_ERROR and
 * never abort. After a failed COMMIT the outcome is unknown and we say so.
 */
#include "msgrelay/barrier.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/sdk.h"
#include "consumers/barrier_int.h"

/* Longest trans_type (its column width). */
#define TRANS_TYPE_MAX 45

/* Cap on one statement's text (barrier_int.h). */
#define SQL_MAX MR_BARRIER__SQL_MAX

/* Most parameters a statement here binds. */
#define PARAMS_MAX 6

struct mr_barrier {
    char *trans_type;
    char *gid;
    char *branch_id;
    char *op;
    char *table;  /* NULL: MR_BARRIER_TABLE_DEFAULT */
    int barriers; /* barrier ids handed out so far; the next is "%02d" of barriers + 1 */
};

/* ---- small pure helpers ---- */

int mr_barrier__finish(int rc, const struct mr_err *err, char *errbuf, size_t errlen)
{
    mr_sdk_errbuf(errbuf, errlen, rc == MR_BARRIER_SUCCESS ? "" : err->msg);
    return rc;
}

/* check_field - @value is present, non-empty and at most @max bytes. */
static int check_field(const char *what, const char *value, size_t max, struct mr_err *err)
{
    if (value == NULL || *value == '\0')
        return mr_err_set(err, MR_EINVAL, "invalid trans info: %s is empty", what);
    if (strlen(value) > max)
        return mr_err_set(err, MR_EINVAL, "invalid trans info: %s longer than %zu characters", what,
                          max);
    return 0;
}

/* ---- the statements ---- */

/* exec_text - run a statement that has no parameters and no result (transaction control). */
static int exec_text(void *db, const char *sql, struct mr_err *err)
{
    if (mysql_real_query(db, sql, (unsigned long)strlen(sql)) != 0)
        return mr_err_set(err, MR_ESTORE, "%s: %s", sql, mysql_error(db));
    return 0;
}

/* stmt_fail - record the statement's error for @what, close it, return MR_ESTORE. */
static int stmt_fail(MYSQL_STMT *st, const char *what, struct mr_err *err)
{
    mr_err_set(err, MR_ESTORE, "%s: %s", what, mysql_stmt_error(st));
    mysql_stmt_close(st);
    return MR_ESTORE;
}

/*
 * stmt_run - prepare @sql on @db, bind the @n strings @params, execute.
 * Owned result: *out, mysql_stmt_close(); NULL on error.
 */
static int stmt_run(MYSQL *db, const char *sql, const char *const *params, size_t n,
                    const char *what, MYSQL_STMT **out, struct mr_err *err)
{
    MYSQL_BIND bind[PARAMS_MAX];
    unsigned long lens[PARAMS_MAX];
    MYSQL_STMT *st;
    size_t i;

    *out = NULL;
    st = mysql_stmt_init(db);
    if (st == NULL)
        return mr_err_set(err, MR_ESTORE, "%s: %s", what, mysql_error(db));
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0)
        return stmt_fail(st, what, err);
    memset(bind, 0, sizeof(bind));
    for (i = 0; i < n; i++) {
        lens[i] = (unsigned long)strlen(params[i]);
        bind[i].buffer_type = MYSQL_TYPE_STRING;
        bind[i].buffer = (void *)params[i];
        bind[i].buffer_length = lens[i];
        bind[i].length = &lens[i];
    }
    if (mysql_stmt_bind_param(st, bind) != 0)
        return stmt_fail(st, what, err);
    if (mysql_stmt_execute(st) != 0)
        return stmt_fail(st, what, err);
    *out = st;
    return 0;
}

/*
 * insert_row - INSERT IGNORE one barrier row into @table; *inserted tells
 * whether it went in (false: the unique key (gid, branch_id, op, barrier_id)
 * was taken). Values were checked against the column widths, so IGNORE
 * cannot be hiding a truncation here.
 */
static int insert_row(void *db, const char *table, const char *const v[6], bool *inserted,
                      struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(SQL_MAX);
    MYSQL_STMT *st;
    my_ulonglong n;
    int rc;

    *inserted = false;
    rc = mr_buf_addf(&sql,
                     "INSERT IGNORE INTO %s(trans_type, gid, branch_id, op, barrier_id, reason) "
                     "VALUES(?, ?, ?, ?, ?, ?)",
                     table);
    if (rc == 0)
        rc = stmt_run(db, sql.p, v, 6, "barrier insert", &st, err);
    mr_buf_release(&sql);
    if (rc != 0)
        return rc;
    n = mysql_stmt_affected_rows(st);
    mysql_stmt_close(st);
    if (n == (my_ulonglong)-1)
        return mr_err_set(err, MR_ESTORE, "barrier insert: no row count");
    *inserted = n == 1;
    return 0;
}

/*
 * select_reason - the reason of row (@gid, '00', 'msg', '01') in @table, read
 * with a shared lock so it is the latest committed value, not a snapshot.
 * @reason gets "" for a NULL reason; *found is false when there is no row.
 */
static int select_reason(void *db, const char *table, const char *gid, char *reason, size_t size,
                         bool *found, struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(SQL_MAX);
    const char *const v[1] = {gid};
    MYSQL_BIND res;
    unsigned long len = 0;
    MYSQL_STMT *st;
    int rc;

    *found = false;
    memset(reason, 0, size);
    rc = mr_buf_addf(&sql,
                     "SELECT reason FROM %s WHERE gid = ? AND branch_id = '00' AND op = 'msg' "
                     "AND barrier_id = '01' LOCK IN SHARE MODE",
                     table);
    if (rc == 0)
        rc = stmt_run(db, sql.p, v, 1, "barrier select", &st, err);
    mr_buf_release(&sql);
    if (rc != 0)
        return rc;
    memset(&res, 0, sizeof(res));
    res.buffer_type = MYSQL_TYPE_STRING;
    res.buffer = reason;
    res.buffer_length = (unsigned long)size - 1; /* keep the last byte a NUL */
    res.length = &len;
    if (mysql_stmt_bind_result(st, &res) != 0)
        return stmt_fail(st, "barrier select", err);
    rc = mysql_stmt_fetch(st);
    if (rc == 1)
        return stmt_fail(st, "barrier select", err);
    *found = rc == 0 || rc == MYSQL_DATA_TRUNCATED;
    mysql_stmt_close(st);
    return 0;
}

/* ---- the public face ---- */

const char *mr_barrier_result_name(int result)
{
    switch (result) {
    case MR_BARRIER_SUCCESS:
        return "success";
    case MR_BARRIER_FAILURE:
        return "failure";
    case MR_BARRIER_ERROR:
        return "error";
    case MR_BARRIER_DUPLICATED:
        return "duplicated";
    case MR_BARRIER_ONGOING:
        return "ongoing";
    case MR_BARRIER_EINVAL:
        return "einval";
    default:
        return "unknown";
    }
}

int mr_barrier_new(struct mr_barrier **out, const char *trans_type, const char *gid,
                   const char *branch_id, const char *op, char *errbuf, size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_barrier *b;

    *out = NULL;
    if (check_field("trans_type", trans_type, TRANS_TYPE_MAX, &err) != 0 ||
        check_field("gid", gid, MR_BARRIER_GID_MAX, &err) != 0 ||
        check_field("branch_id", branch_id, MR_BARRIER_BRANCH_ID_MAX, &err) != 0 ||
        check_field("op", op, MR_BARRIER_OP_MAX, &err) != 0)
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    if (strcmp(op, "action") != 0 && strcmp(op, "msg") != 0) {
        mr_err_set(&err, MR_EINVAL, "invalid trans info: op '%s' not supported (action or msg)",
                   op);
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    }
    b = mr_xcalloc(1, sizeof(*b));
    b->trans_type = mr_xstrdup(trans_type);
    b->gid = mr_xstrdup(gid);
    b->branch_id = mr_xstrdup(branch_id);
    b->op = mr_xstrdup(op);
    *out = b;
    return mr_barrier__finish(MR_BARRIER_SUCCESS, &err, errbuf, errlen);
}

int mr_barrier_from_query(struct mr_barrier **out, const char *query, char *errbuf, size_t errlen)
{
    static const char *const names[4] = {"trans_type", "gid", "branch_id", "op"};
    struct mr_buf v[4] = {MR_BUF_INIT(256), MR_BUF_INIT(256), MR_BUF_INIT(256), MR_BUF_INIT(256)};
    struct mr_err err = MR_ERR_INIT;
    int rc = MR_BARRIER_SUCCESS;
    size_t i;

    *out = NULL;
    for (i = 0; i < 4 && rc == MR_BARRIER_SUCCESS; i++) {
        int qrc = mr_sdk_query_get(query != NULL ? query : "", names[i], &v[i]);

        if (qrc == MR_ENOENT)
            mr_err_set(&err, MR_EINVAL, "invalid trans info: %s missing", names[i]);
        else if (qrc != 0)
            mr_err_set(&err, MR_EINVAL, "invalid trans info: %s: %s", names[i],
                       qrc == MR_ETOOBIG ? "too long" : "bad %-escape");
        if (qrc != 0)
            rc = MR_BARRIER_EINVAL;
    }
    if (rc == MR_BARRIER_SUCCESS)
        rc = mr_barrier_new(out, v[0].p, v[1].p, v[2].p, v[3].p, errbuf, errlen);
    else
        mr_barrier__finish(rc, &err, errbuf, errlen);
    for (i = 0; i < 4; i++)
        mr_buf_release(&v[i]);
    return rc;
}

int mr_barrier_set_table(struct mr_barrier *b, const char *table, char *errbuf, size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;

    if (table != NULL && mr_sdk_check_table(table, &err) != 0)
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    free(b->table);
    b->table = mr_xstrdup(table);
    return mr_barrier__finish(MR_BARRIER_SUCCESS, &err, errbuf, errlen);
}

const char *mr_barrier_gid(const struct mr_barrier *b)
{
    return b->gid;
}

const char *mr_barrier_branch_id(const struct mr_barrier *b)
{
    return b->branch_id;
}

const char *mr_barrier_op(const struct mr_barrier *b)
{
    return b->op;
}

const char *mr_barrier_trans_type(const struct mr_barrier *b)
{
    return b->trans_type;
}

void mr_barrier_free(struct mr_barrier *b)
{
    if (b == NULL)
        return;
    free(b->trans_type);
    free(b->gid);
    free(b->branch_id);
    free(b->op);
    free(b->table);
    free(b);
}

/* callback_result - what the callback's return value @r means for the call. */
static int callback_result(int r, struct mr_err *err)
{
    switch (r) {
    case MR_BARRIER_FAILURE:
        mr_err_set(err, MR_ECONFLICT, "callback refused (failure), rolled back");
        return MR_BARRIER_FAILURE;
    case MR_BARRIER_ONGOING:
        mr_err_set(err, MR_EBUSY, "callback said ongoing, rolled back");
        return MR_BARRIER_ONGOING;
    default:
        mr_err_set(err, MR_EIO, "callback failed (%d), rolled back", r);
        return MR_BARRIER_ERROR;
    }
}

int mr_barrier__call(struct mr_barrier *b, const struct mr_barrier__engine *e, void *db,
                     mr_barrier__run_fn run, void *ctx, char *errbuf, size_t errlen)
{
    const char *table = b->table != NULL ? b->table : MR_BARRIER_TABLE_DEFAULT;
    struct mr_err err = MR_ERR_INIT;
    char barrier_id[16];
    const char *v[6];
    bool inserted;
    int r;

    if (db == NULL || run == NULL) {
        mr_err_set(&err, MR_EINVAL, "barrier call: no %s", db == NULL ? "connection" : "callback");
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    }
    if (e->ready(db, &err) != 0)
        return mr_barrier__finish(err.code == MR_EINVAL ? MR_BARRIER_EINVAL : MR_BARRIER_ERROR,
                                  &err, errbuf, errlen);
    b->barriers++;
    snprintf(barrier_id, sizeof(barrier_id), "%02d", b->barriers);
    v[0] = b->trans_type;
    v[1] = b->gid;
    v[2] = b->branch_id;
    v[3] = b->op;
    v[4] = barrier_id;
    v[5] = b->op; /* reason: the op that inserted the row */

    if (e->begin(db, false, &err) != 0)
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    if (e->insert(db, table, v, &inserted, &err) != 0) {
        e->rollback(db);
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    if (!inserted) {
        e->rollback(db);
        mr_err_set(&err, MR_EEXIST, "barrier (%s, %s, %s, %s) already there: not run again", b->gid,
                   b->branch_id, b->op, barrier_id);
        return mr_barrier__finish(MR_BARRIER_DUPLICATED, &err, errbuf, errlen);
    }
    r = run(db, ctx);
    if (r != MR_BARRIER_SUCCESS) {
        int rc = callback_result(r, &err);

        /* a failed rollback leaves nothing committed: the server rolls back on disconnect */
        e->rollback(db);
        return mr_barrier__finish(rc, &err, errbuf, errlen);
    }
    if (e->commit(db, &err) != 0) {
        char why[sizeof(err.msg)];

        snprintf(why, sizeof(why), "%s", err.msg); /* the engine's "commit: ..." */
        mr_err_set(&err, MR_ESTORE, "%.200s (the outcome is unknown)", why);
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    return mr_barrier__finish(MR_BARRIER_SUCCESS, &err, errbuf, errlen);
}

int mr_barrier__query_prepared(const struct mr_barrier__engine *e, void *db, const char *table,
                               const char *gid, char *errbuf, size_t errlen)
{
    const char *v[6] = {"msg", gid, "00", "msg", "01", "rollback"};
    struct mr_err err = MR_ERR_INIT;
    char reason[64];
    bool inserted;
    bool found;

    if (table == NULL)
        table = MR_BARRIER_TABLE_DEFAULT;
    if (db == NULL)
        mr_err_set(&err, MR_EINVAL, "query_prepared: no connection");
    else if (check_field("gid", gid, MR_BARRIER_GID_MAX, &err) == 0)
        mr_sdk_check_table(table, &err);
    if (err.code != 0)
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    if (e->ready(db, &err) != 0)
        return mr_barrier__finish(err.code == MR_EINVAL ? MR_BARRIER_EINVAL : MR_BARRIER_ERROR,
                                  &err, errbuf, errlen);

    /*
     * Insert first, read after, in one transaction: if the producer's local
     * transaction holds the row uncommitted, the insert waits for it; once it
     * ends, either its 'msg' row is there (ignored insert) or ours goes in and
     * refuses it forever. Reading before inserting would let both win.
     */
    if (e->begin(db, true, &err) != 0)
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    if (e->insert(db, table, v, &inserted, &err) != 0 ||
        e->select_reason(db, table, gid, reason, sizeof(reason), &found, &err) != 0) {
        e->rollback(db);
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    if (e->commit(db, &err) != 0) /* the engine's "commit: ..." */
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    if (!found) {
        mr_err_set(&err, MR_ENOENT, "query_prepared: barrier row of '%s' not found after insert",
                   gid);
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    if (strcmp(reason, "rollback") == 0) {
        mr_err_set(&err, MR_ECONFLICT, "'%s' rolled back%s", gid,
                   inserted ? " (refused now: its local transaction never ran)" : "");
        return mr_barrier__finish(MR_BARRIER_FAILURE, &err, errbuf, errlen);
    }
    return mr_barrier__finish(MR_BARRIER_SUCCESS, &err, errbuf, errlen);
}

int mr_barrier_http_answer(int result, const char **body)
{
    const char *text;
    int status;

    switch (result) {
    case MR_BARRIER_SUCCESS:
    case MR_BARRIER_DUPLICATED:
        status = 200;
        text = "{\"dtm_result\":\"SUCCESS\"}";
        break;
    case MR_BARRIER_FAILURE:
        status = 409;
        text = "{\"dtm_result\":\"FAILURE\"}";
        break;
    case MR_BARRIER_ONGOING:
        status = 425;
        text = "{\"dtm_result\":\"ONGOING\"}";
        break;
    case MR_BARRIER_EINVAL:
        status = 400;
        text = "{\"error\":\"invalid barrier parameters\"}";
        break;
    default:
        status = 500;
        text = "{\"error\":\"barrier error\"}";
        break;
    }
    if (body != NULL)
        *body = text;
    return status;
}

int mr_barrier__http_step(const struct mr_barrier__engine *e, void *db, const char *table,
                          const char *query, mr_barrier__run_fn run, void *ctx,
                          const char **body, int *result, char *errbuf, size_t errlen)
{
    struct mr_barrier *b = NULL;
    int rc;

    rc = mr_barrier_from_query(&b, query, errbuf, errlen);
    if (rc == MR_BARRIER_SUCCESS)
        rc = mr_barrier_set_table(b, table, errbuf, errlen);
    if (rc == MR_BARRIER_SUCCESS)
        rc = mr_barrier__call(b, e, db, run, ctx, errbuf, errlen);
    mr_barrier_free(b);
    if (result != NULL)
        *result = rc;
    return mr_barrier_http_answer(rc, body);
}

/* ---- MySQL/MariaDB ---- */

static int my_ready(void *db, struct mr_err *err)
{
    (void)db;
    (void)err; /* START TRANSACTION commits an open one: the caller's rule, not checkable */
    return 0;
}

static int my_begin(void *db, bool read_committed, struct mr_err *err)
{
    (void)read_committed; /* the locking read sees the latest committed row at any level */
    return exec_text(db, "START TRANSACTION", err);
}

static int my_commit(void *db, struct mr_err *err)
{
    if (mysql_commit(db) != 0)
        return mr_err_set(err, MR_ESTORE, "commit: %s", mysql_error(db));
    return 0;
}

static void my_rollback(void *db)
{
    mysql_rollback(db);
}

static const struct mr_barrier__engine my_engine = {
    my_ready, my_begin, insert_row, select_reason, my_commit, my_rollback,
};

/* The caller's MySQL callback and its argument, behind mr_barrier__run_fn. */
struct my_run {
    mr_barrier_fn fn;
    void *arg;
};

static int my_run(void *db, void *ctx)
{
    struct my_run *r = ctx;

    return r->fn(db, r->arg);
}

int mr_barrier_call(struct mr_barrier *b, MYSQL *db, mr_barrier_fn fn, void *arg, char *errbuf,
                    size_t errlen)
{
    struct my_run r = {fn, arg};

    return mr_barrier__call(b, &my_engine, db, fn != NULL ? my_run : NULL, &r, errbuf, errlen);
}

int mr_barrier_query_prepared(MYSQL *db, const char *table, const char *gid, char *errbuf,
                              size_t errlen)
{
    return mr_barrier__query_prepared(&my_engine, db, table, gid, errbuf, errlen);
}

int mr_barrier_http_step(MYSQL *db, const char *table, const char *query, mr_barrier_fn fn,
                         void *arg, const char **body, int *result, char *errbuf, size_t errlen)
{
    struct my_run r = {fn, arg};

    return mr_barrier__http_step(&my_engine, db, table, query, fn != NULL ? my_run : NULL, &r,
                                 body, result, errbuf, errlen);
}
