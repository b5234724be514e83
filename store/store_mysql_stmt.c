/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_stmt.c - the statement plumbing of the MySQL engine: prepare
 * (expanding IN_LIST), bind the parameters of the next execute, execute, and
 * read a result row by row into the handle's row buffer, strings fetched
 * whole at their length; and the one "rows into a new array" loader.
 *
 * Must not: know a table or a column (callers pass layouts and readers).
 * Threads: the handle's. Errors: through my_stmt_fail(); a parameter or
 * column count that does not match is a bug here (assert), not bad input.
 */
#include "store/store_mysql_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"

static const char *const stmt_sql[] = {
#define STMT_SQL(id, sql) sql,
    STMT_LIST(STMT_SQL)
#undef STMT_SQL
};

/* my_prepare - a prepared statement of @sql, each IN_ITEMS expanded to IN_CHUNK placeholders. */
int my_prepare(struct my_store *ms, const char *sql, MYSQL_STMT **out, struct mr_err *err)
{
    struct mr_buf text = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    const char *mark = strstr(sql, IN_ITEMS);
    MYSQL_STMT *st;
    int code = 0;
    int i;

    *out = NULL;
    if (mark != NULL) {
        for (; mark != NULL; mark = strstr(sql, IN_ITEMS)) {
            mr_buf_add(&text, sql, (size_t)(mark - sql));
            for (i = 0; i < IN_CHUNK; i++)
                mr_buf_adds(&text, i > 0 ? ", ?" : "?");
            sql = mark + strlen(IN_ITEMS);
        }
        mr_buf_adds(&text, sql);
        sql = text.p;
    }
    st = mysql_stmt_init(ms->db);
    if (st == NULL) {
        code = my_db_fail(ms, err);
    } else if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        code = my_stmt_fail(ms, st, err);
        mysql_stmt_close(st);
    } else {
        *out = st;
    }
    mr_buf_release(&text);
    return code;
}

/*
 * my_st - the fixed statement @id of the connection into *@out, prepared at
 * its first use (a connection uses a few of them: the readiness probe two or
 * three, the writer a dozen; all ~55 cost ~620 kB of client memory). A
 * failed prepare is classified as a failed execute is (my_stmt_fail: a lost
 * connection breaks it, MR_EUNAVAIL); *@out is NULL then, and the next use
 * prepares again. disconnect() closes what was prepared.
 */
int my_st(struct my_store *ms, enum stmt_id id, MYSQL_STMT **out, struct mr_err *err)
{
    int code = 0;

    if (ms->st[id] == NULL)
        code = my_prepare(ms, stmt_sql[id], &ms->st[id], err);
    *out = ms->st[id];
    return code;
}

void my_p_reset(struct my_store *ms)
{
    ms->p.n = 0;
}

/* p_next - the next parameter slot, cleared. */
static MYSQL_BIND *p_next(struct my_store *ms)
{
    MYSQL_BIND *b;

    assert(ms->p.n < MAX_PARAMS);
    b = &ms->p.b[ms->p.n++];
    memset(b, 0, sizeof(*b));
    return b;
}

void my_p_int(struct my_store *ms, int64_t v)
{
    MYSQL_BIND *b = p_next(ms);
    unsigned int i = ms->p.n - 1;

    ms->p.v[i] = v;
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = &ms->p.v[i];
}

/* my_p_bytes - @n bytes at @s as a string or blob parameter (@type); borrowed until executed. */
void my_p_bytes(struct my_store *ms, enum enum_field_types type, const void *s, size_t n)
{
    MYSQL_BIND *b = p_next(ms);
    unsigned int i = ms->p.n - 1;

    ms->p.len[i] = (unsigned long)n;
    b->buffer_type = type;
    b->buffer = (void *)(s != NULL ? s : "");
    b->buffer_length = (unsigned long)n;
    b->length = &ms->p.len[i];
}

/* my_p_text - @s as a string; NULL binds '' (the schema keeps strings non-NULL). */
void my_p_text(struct my_store *ms, const char *s)
{
    my_p_bytes(ms, MYSQL_TYPE_STRING, s, s != NULL ? strlen(s) : 0);
}

/* my_p_text_or_null - @s, NULL as SQL NULL. */
void my_p_text_or_null(struct my_store *ms, const char *s)
{
    if (s != NULL) {
        my_p_text(ms, s);
        return;
    }
    p_next(ms)->buffer_type = MYSQL_TYPE_NULL;
}

/* my_exec - execute @st with the parameters bound since my_p_reset(). */
int my_exec(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err)
{
    /* a count mismatch is a bug in this file, not bad input */
    assert(mysql_stmt_param_count(st) == ms->p.n);
    if (ms->p.n > 0 && mysql_stmt_bind_param(st, ms->p.b) != 0)
        return my_stmt_fail(ms, st, err);
    if (mysql_stmt_execute(st) != 0)
        return my_stmt_fail(ms, st, err);
    return 0;
}

/* my_exec_id - my_exec() of the fixed statement @id (my_st()). */
int my_exec_id(struct my_store *ms, enum stmt_id id, struct mr_err *err)
{
    MYSQL_STMT *st;
    int code = my_st(ms, id, &st, err);

    return code != 0 ? code : my_exec(ms, st, err);
}

/* my_exec_changing - my_exec_id(), and none matched (CLIENT_FOUND_ROWS): the error @none. */
int my_exec_changing(struct my_store *ms, enum stmt_id id, int none, struct mr_err *err,
                     const char *fmt, ...)
{
    va_list ap;
    int code = my_exec_id(ms, id, err);

    if (code != 0 || my_changed(ms, id) > 0)
        return code;
    va_start(ap, fmt);
    code = mr_err_vset(err, none, fmt, ap);
    va_end(ap);
    return code;
}

/* my_changed - rows the last execute of @id matched (CLIENT_FOUND_ROWS); after my_exec_id(). */
uint64_t my_changed(struct my_store *ms, enum stmt_id id)
{
    assert(ms->st[id] != NULL);
    return (uint64_t)mysql_stmt_affected_rows(ms->st[id]);
}

/* my_row_clear - free the strings of the current row that were not taken. */
void my_row_clear(struct row *r)
{
    unsigned int i;

    for (i = 0; i < r->n; i++) {
        free(r->s[i]);
        r->s[i] = NULL;
    }
}

/*
 * my_open_rows - execute @st and get its whole result ready for my_next_row(), each
 * column read as @layout says ('i' integer, 's' string or blob). Strings are
 * bound with no buffer: my_next_row() learns each length, then fetches it whole.
 */
int my_open_rows(struct my_store *ms, MYSQL_STMT *st, const char *layout, struct mr_err *err)
{
    struct row *r = &ms->row;
    unsigned int i;
    int code;

    code = my_exec(ms, st, err);
    if (code != 0)
        return code;
    if (mysql_stmt_store_result(st) != 0)
        return my_stmt_fail(ms, st, err);
    assert(mysql_stmt_field_count(st) == strlen(layout) && strlen(layout) <= MAX_COLS);
    r->layout = layout;
    r->n = (unsigned int)strlen(layout);
    memset(r->b, 0, sizeof(r->b));
    for (i = 0; i < r->n; i++) {
        MYSQL_BIND *b = &r->b[i];

        r->s[i] = NULL;
        b->is_null = &r->null[i];
        b->length = &r->len[i];
        b->error = &r->trunc[i];
        if (layout[i] == 'i') {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &r->v[i];
        } else {
            b->buffer_type = MYSQL_TYPE_BLOB;
        }
    }
    if (mysql_stmt_bind_result(st, r->b) != 0) {
        code = my_stmt_fail(ms, st, err);
        mysql_stmt_free_result(st);
        return code;
    }
    return 0;
}

/* my_next_row - read the next row of @st: 1 when there is one, 0 at the end, or an error. */
int my_next_row(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err)
{
    struct row *r = &ms->row;
    unsigned int i;
    int rc;

    my_row_clear(r);
    rc = mysql_stmt_fetch(st);
    if (rc == MYSQL_NO_DATA)
        return 0;
    if (rc == 1)
        return my_stmt_fail(ms, st, err);
    for (i = 0; i < r->n; i++) {
        MYSQL_BIND b;
        unsigned long got = 0;

        if (r->layout[i] != 's' || r->null[i])
            continue;
        r->s[i] = mr_xmalloc((size_t)r->len[i] + 1);
        r->s[i][r->len[i]] = '\0';
        if (r->len[i] == 0)
            continue;
        memset(&b, 0, sizeof(b));
        b.buffer_type = MYSQL_TYPE_BLOB;
        b.buffer = r->s[i];
        b.buffer_length = r->len[i];
        b.length = &got;
        if (mysql_stmt_fetch_column(st, &b, i, 0) != 0)
            return my_stmt_fail(ms, st, err);
    }
    return 1;
}

/* my_close_rows - done with @st's result. */
void my_close_rows(struct my_store *ms, MYSQL_STMT *st)
{
    my_row_clear(&ms->row);
    mysql_stmt_free_result(st);
}

/*
 * my_each_row - execute @st (columns as @layout says) and call @fn on each row
 * until it returns an error; the result is closed whatever happens. 0, or the
 * first error of the query or of @fn.
 */
int my_each_row(struct my_store *ms, MYSQL_STMT *st, const char *layout, row_fn fn, void *ctx,
                struct mr_err *err)
{
    int code = my_open_rows(ms, st, layout, err);

    if (code != 0)
        return code;
    while ((code = my_next_row(ms, st, err)) > 0) {
        code = fn(ms, ctx, err);
        if (code != 0)
            break;
    }
    my_close_rows(ms, st);
    return code;
}

/* my_each_row_id - my_each_row() of the fixed statement @id (my_st()). */
int my_each_row_id(struct my_store *ms, enum stmt_id id, const char *layout, row_fn fn, void *ctx,
                   struct mr_err *err)
{
    MYSQL_STMT *st;
    int code = my_st(ms, id, &st, err);

    return code != 0 ? code : my_each_row(ms, st, layout, fn, ctx, err);
}

/* row_int - my_each_row() of my_read_int(): the row's one integer into *(long *)@ctx. */
static int row_int(struct my_store *ms, void *ctx, struct mr_err *err)
{
    (void)err;
    *(long *)ctx = (long)ms->row.v[0];
    return 0;
}

int my_read_int(struct my_store *ms, enum stmt_id id, long *v, struct mr_err *err)
{
    return my_each_row_id(ms, id, "i", row_int, v, err);
}

/* my_take - string column @i of the current row (owned result; NULL for SQL NULL). */
char *my_take(struct my_store *ms, unsigned int i)
{
    char *s = ms->row.s[i];

    ms->row.s[i] = NULL;
    return s;
}

/* my_take_str - my_take(), with NULL read as "". */
char *my_take_str(struct my_store *ms, unsigned int i)
{
    char *s = my_take(ms, i);

    return s != NULL ? s : mr_xstrdup("");
}

/* The array my_load_rows() fills and its reader, for load_row(). */
struct load {
    struct mr_store_rows rows;
    read_row_fn read;
};

/* load_row - one more zeroed slot at the end of the array, read by the loader's reader. */
static int load_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct load *l = ctx;

    return l->read(ms, mr_store_row_add(&l->rows), err);
}

/*
 * my_load_rows - run the bound query @st (columns as @layout says) into a new
 * array of elements of @size, one per row, each read by @read. On an error
 * the slots read so far, the failed one included (zeroed before @read, which
 * leaves it freeable), are freed with @free_rows. Owned result: *out, *n
 * elements (NULL, 0 for none).
 */
int my_load_rows(struct my_store *ms, MYSQL_STMT *st, const char *layout, size_t size,
                 read_row_fn read, free_rows_fn free_rows, void **out, size_t *n,
                 struct mr_err *err)
{
    struct load l = {.rows = {.size = size}, .read = read};
    int code;

    *out = NULL;
    *n = 0;
    code = my_each_row(ms, st, layout, load_row, &l, err);
    if (code != 0) {
        free_rows(l.rows.v, l.rows.len);
        return code;
    }
    *out = l.rows.v;
    *n = l.rows.len;
    return 0;
}
