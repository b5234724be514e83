/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_stmt.c - the statement plumbing of the SQLite engine: SQLite
 * result codes to store errors, parameter binding that keeps the first
 * failure, stepping a write to its end, reading text columns, and the one
 * "rows into a new array" loader.
 *
 * Must not: know a table or a column (callers pass readers).
 * Threads: the handle's. Errors: a lock still held after the busy timeout
 * is MR_EBUSY, any other failure MR_ESTORE "sqlite: <errmsg>".
 */
#include "store/store_sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* sq_fail - report SQLite result @rc as MR_EBUSY or MR_ESTORE with the connection's message. */
int sq_fail(sqlite3 *db, int rc, struct mr_err *err)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_BUSY)
        return mr_err_set(err, MR_EBUSY, "sqlite: %s", msg);
    return mr_err_set(err, MR_ESTORE, "sqlite: %s", msg);
}

static const char *const stmt_sql[] = {
#define STMT_SQL(id, sql) sql,
    STMT_LIST(STMT_SQL)
#undef STMT_SQL
};

/* sq_done - make @st ready for its next use: reset, drop bindings. NULL (never prepared): no-op. */
void sq_done(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* sq_bind_text - bind @s; NULL binds '' (the schema keeps strings non-NULL). */
void sq_bind_text(struct binder *b, int i, const char *s)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_text(b->st, i, s != NULL ? s : "", -1, SQLITE_STATIC);
}

/* sq_bind_text_or_null - bind @s, NULL as SQL NULL. */
void sq_bind_text_or_null(struct binder *b, int i, const char *s)
{
    if (b->rc != SQLITE_OK)
        return;
    if (s == NULL)
        b->rc = sqlite3_bind_null(b->st, i);
    else
        b->rc = sqlite3_bind_text(b->st, i, s, -1, SQLITE_STATIC);
}

/* sq_bind_blob - bind @n bytes at @p; never NULL (a NULL pointer would bind SQL NULL). */
void sq_bind_blob(struct binder *b, int i, const void *p, size_t n)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_blob64(b->st, i, p != NULL ? p : "", p != NULL ? n : 0, SQLITE_STATIC);
}

void sq_bind_int(struct binder *b, int i, int64_t v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->st, i, v);
}

/*
 * sq_binder - start binding the statement @id of @q, prepared on its first
 * use and kept for the life of the handle: a connection holds only the
 * statements its thread runs (the relay's, the intake's, retention's), at
 * about 8 kB each. A failed prepare is the binder's first failure, so the
 * statement's sq_step() reports it with the connection's message.
 */
struct binder sq_binder(struct sq_store *q, enum stmt_id id)
{
    struct binder b = {q->st[id], SQLITE_OK};

    if (b.st == NULL) {
        b.rc = sqlite3_prepare_v3(q->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &q->st[id],
                                  NULL);
        b.st = q->st[id];
    }
    return b;
}

/* sq_step - one sqlite3_step() of @b's statement, or the first failure of its binds. */
int sq_step(struct binder *b)
{
    return b->rc == SQLITE_OK ? sqlite3_step(b->st) : b->rc;
}

/* sq_run - step a bound write statement to its end. 0 or the mapped error; @st is reset. */
int sq_run(struct sq_store *q, struct binder *b, struct mr_err *err)
{
    int code = 0;
    int rc = sq_step(b);

    /* read the message before the reset */
    if (rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b->st);
    return code;
}

/*
 * sq_each_row - step the bound query @b and call @fn on each row until it
 * returns an error; the statement is reset whatever happens. 0, or the first
 * error of the query or of @fn.
 */
int sq_each_row(struct sq_store *q, struct binder *b, row_fn fn, void *ctx, struct mr_err *err)
{
    int rc;
    int code = 0;

    while ((rc = sq_step(b)) == SQLITE_ROW) {
        code = fn(b->st, ctx, err);
        if (code != 0)
            break;
    }
    if (code == 0 && rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b->st);
    return code;
}

int sq_run_changing(struct sq_store *q, struct binder *b, int none, struct mr_err *err,
                    const char *fmt, ...)
{
    va_list ap;
    int code = sq_run(q, b, err);

    if (code != 0 || sqlite3_changes(q->db) > 0)
        return code;
    va_start(ap, fmt);
    code = mr_err_vset(err, none, fmt, ap);
    va_end(ap);
    return code;
}

int sq_read_int(struct sq_store *q, struct binder *b, long *v, struct mr_err *err)
{
    int code = 0;
    int rc = sq_step(b);

    if (rc == SQLITE_ROW)
        *v = (long)sqlite3_column_int64(b->st, 0);
    else
        code = sq_fail(q->db, rc, err);
    sq_done(b->st);
    return code;
}

/* sq_exec_stmt - run the parameterless statement @id (BEGIN, COMMIT, savepoints). */
int sq_exec_stmt(struct sq_store *q, enum stmt_id id, struct mr_err *err)
{
    struct binder b = sq_binder(q, id);

    return sq_run(q, &b, err);
}

/* sq_exec_sql - run fixed SQL text of ours (pragmas, schema files); never data. */
int sq_exec_sql(sqlite3 *db, const char *sql, struct mr_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return sq_fail(db, rc, err);
    return 0;
}

/* sq_col_str - column @i as a malloc'd string; NULL reads as "". */
char *sq_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *p = sqlite3_column_text(st, i);

    return mr_xstrndup(p != NULL ? (const char *)p : "", (size_t)sqlite3_column_bytes(st, i));
}

/* The array sq_load_rows() fills and its reader, for load_row(). */
struct load {
    struct mr_store_rows rows;
    read_row_fn read;
};

/* load_row - one more zeroed slot at the end of the array, read by the loader's reader. */
static int load_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    struct load *l = ctx;

    return l->read(st, mr_store_row_add(&l->rows), err);
}

/*
 * sq_load_rows - run the bound query @b into a new array of elements of @size,
 * one per row, each read by @read. On an error the slots read so far, the
 * failed one included (zeroed before @read, which leaves it freeable), are
 * freed with @free_rows. Owned result: *out, *n elements (NULL, 0 for none).
 */
int sq_load_rows(struct sq_store *q, struct binder *b, size_t size, read_row_fn read,
                 free_rows_fn free_rows, void **out, size_t *n, struct mr_err *err)
{
    struct load l = {.rows = {.size = size}, .read = read};
    int code;

    *out = NULL;
    *n = 0;
    code = sq_each_row(q, b, load_row, &l, err);
    if (code != 0) {
        free_rows(l.rows.v, l.rows.len);
        return code;
    }
    *out = l.rows.v;
    *n = l.rows.len;
    return 0;
}
