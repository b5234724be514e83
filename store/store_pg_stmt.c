/* SPDX-License-Identifier: MIT */
/*
 * store_pg_stmt.c - the statement plumbing of the PostgreSQL engine: the
 * parameters of the next execute (integers printed, strings borrowed, array
 * literals built from our own values), preparing a statement of STMT_LIST at
 * its first use on a connection, executing it, and reading its result row by
 * row; and the one "rows into a new array" loader.
 *
 * Array literals: every text element is double-quoted with '"' and '\'
 * escaped, NULL is the bare word NULL, integers are digits, byte strings are
 * hex text (the statement decodes them): whatever the data, it stays one
 * element of one parameter.
 *
 * Must not: know a table or a column (callers read the columns they asked for).
 * Threads: the handle's. Errors: through pg_fail(); a parameter count over
 * MAX_PARAMS is a bug here (assert), not bad input.
 */
#include "store/store_pg_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const char *const stmt_sql[] = {
#define STMT_SQL(id, sql) sql,
    STMT_LIST(STMT_SQL)
#undef STMT_SQL
};

void pg_p_reset(struct pg_store *ps)
{
    unsigned int i;

    for (i = 0; i < MAX_PARAMS; i++) {
        free(ps->p.own[i]);
        ps->p.own[i] = NULL;
    }
    ps->p.n = 0;
}

/* p_next - the index of the next parameter. */
static unsigned int p_next(struct pg_store *ps)
{
    assert(ps->p.n < MAX_PARAMS);
    return ps->p.n++;
}

void pg_p_int(struct pg_store *ps, int64_t v)
{
    unsigned int i = p_next(ps);

    snprintf(ps->p.num[i], sizeof(ps->p.num[i]), "%" PRId64, v);
    ps->p.val[i] = ps->p.num[i];
}

/* pg_p_text - @s, borrowed until executed; NULL binds '' (the schema keeps strings non-NULL). */
void pg_p_text(struct pg_store *ps, const char *s)
{
    ps->p.val[p_next(ps)] = s != NULL ? s : "";
}

/* pg_p_text_or_null - @s, NULL as SQL NULL. */
void pg_p_text_or_null(struct pg_store *ps, const char *s)
{
    ps->p.val[p_next(ps)] = s;
}

/* arr_next - start the next element of the array literal being built in @arr. */
static void arr_next(struct mr_buf *arr)
{
    mr_buf_addc(arr, arr->len == 0 ? '{' : ',');
}

void pg_arr_int(struct mr_buf *arr, int64_t v)
{
    arr_next(arr);
    mr_buf_addf(arr, "%" PRId64, v);
}

/* pg_arr_text - @s as one quoted element; NULL as NULL. */
void pg_arr_text(struct mr_buf *arr, const char *s)
{
    const char *p;

    arr_next(arr);
    if (s == NULL) {
        mr_buf_adds(arr, "NULL");
        return;
    }
    mr_buf_addc(arr, '"');
    for (p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            mr_buf_addc(arr, '\\');
        mr_buf_addc(arr, *p);
    }
    mr_buf_addc(arr, '"');
}

/* pg_arr_hex - the @n bytes at @p as one element of hex text. */
void pg_arr_hex(struct mr_buf *arr, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = p;
    size_t i;

    arr_next(arr);
    mr_buf_addc(arr, '"');
    for (i = 0; i < n; i++) {
        mr_buf_addc(arr, hex[b[i] >> 4]);
        mr_buf_addc(arr, hex[b[i] & 15]);
    }
    mr_buf_addc(arr, '"');
}

/* pg_p_array - the array literal built in @arr as the next parameter (taking its bytes). */
void pg_p_array(struct pg_store *ps, struct mr_buf *arr)
{
    unsigned int i = p_next(ps);

    if (arr->len == 0)
        mr_buf_addc(arr, '{');
    mr_buf_addc(arr, '}');
    ps->p.own[i] = mr_buf_detach(arr, NULL);
    ps->p.val[i] = ps->p.own[i];
}

/* pg_p_ids - @ids[0..@n) as one bigint[] parameter. */
void pg_p_ids(struct pg_store *ps, const int64_t *ids, size_t n)
{
    struct mr_buf arr = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    size_t i;

    for (i = 0; i < n; i++)
        pg_arr_int(&arr, ids[i]);
    pg_p_array(ps, &arr);
}

/* pg_p_texts - @v[0..@n) as one text[] parameter. */
void pg_p_texts(struct pg_store *ps, const char *const *v, size_t n)
{
    struct mr_buf arr = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    size_t i;

    for (i = 0; i < n; i++)
        pg_arr_text(&arr, v[i]);
    pg_p_array(ps, &arr);
}

/* prepare - statement @id on this connection, named after its id, once. */
static int prepare(struct pg_store *ps, enum stmt_id id, const char *name, struct mr_err *err)
{
    PGresult *res;
    int code = 0;

    if (ps->prepared[id])
        return 0;
    res = PQprepare(ps->db, name, stmt_sql[id], 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        code = pg_fail(ps, res, err);
    else
        ps->prepared[id] = true;
    PQclear(res);
    return code;
}

/* pg_exec - execute statement @id with the parameters bound since pg_p_reset(); its
   result (rows, counts) stays in ps->res until the next execute. */
int pg_exec(struct pg_store *ps, enum stmt_id id, struct mr_err *err)
{
    char name[16];
    ExecStatusType st;
    int code;

    snprintf(name, sizeof(name), "mr%d", (int)id);
    PQclear(ps->res);
    ps->res = NULL;
    ps->row = -1;
    code = prepare(ps, id, name, err);
    if (code != 0)
        return code;
    ps->res = PQexecPrepared(ps->db, name, (int)ps->p.n, ps->p.val, NULL, NULL, 0);
    st = PQresultStatus(ps->res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_fail(ps, ps->res, err);
    return 0;
}

/* pg_changed - rows the last execute wrote (or returned). */
uint64_t pg_changed(struct pg_store *ps)
{
    const char *t = ps->res != NULL ? PQcmdTuples(ps->res) : "";

    return t[0] != '\0' ? strtoull(t, NULL, 10) : (uint64_t)PQntuples(ps->res);
}

/*
 * pg_each_row - execute @id and call @fn on each row of its result (the
 * current row for the readers below) until it returns an error. 0, or the
 * first error of the query or of @fn.
 */
int pg_each_row(struct pg_store *ps, enum stmt_id id, row_fn fn, void *ctx, struct mr_err *err)
{
    int code = pg_exec(ps, id, err);
    int n;

    if (code != 0)
        return code;
    n = PQntuples(ps->res);
    for (ps->row = 0; ps->row < n; ps->row++) {
        code = fn(ps, ctx, err);
        if (code != 0)
            return code;
    }
    return 0;
}

/* row_int - pg_each_row() of pg_read_int(): the row's one integer into *(long *)@ctx. */
static int row_int(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    (void)err;
    *(long *)ctx = (long)pg_int(ps, 0);
    return 0;
}

/* pg_read_int - run @id; *@v = its first row's one integer column, left as is without a row. */
int pg_read_int(struct pg_store *ps, enum stmt_id id, long *v, struct mr_err *err)
{
    return pg_each_row(ps, id, row_int, v, err);
}

/* pg_int - integer column @col of the current row (0 for NULL). */
int64_t pg_int(struct pg_store *ps, int col)
{
    return strtoll(PQgetvalue(ps->res, ps->row, col), NULL, 10);
}

/* pg_null - whether column @col of the current row is NULL. */
bool pg_null(struct pg_store *ps, int col)
{
    return PQgetisnull(ps->res, ps->row, col) != 0;
}

/* pg_str - text column @col of the current row, borrowed from the result ("" for NULL). */
const char *pg_str(struct pg_store *ps, int col)
{
    return PQgetvalue(ps->res, ps->row, col);
}

/* pg_take - a copy of text column @col of the current row (owned; NULL for SQL NULL). */
char *pg_take(struct pg_store *ps, int col)
{
    return pg_null(ps, col) ? NULL : mr_xstrdup(pg_str(ps, col));
}

/* pg_take_str - pg_take(), with NULL read as "". */
char *pg_take_str(struct pg_store *ps, int col)
{
    return mr_xstrdup(pg_str(ps, col));
}

/* pg_take_bytes - bytea column @col of the current row (owned, NUL-terminated; *@len bytes). */
char *pg_take_bytes(struct pg_store *ps, int col, size_t *len)
{
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)pg_str(ps, col), &n);
    char *out = mr_xmalloc(n + 1);

    if (raw != NULL && n > 0)
        memcpy(out, raw, n);
    out[raw != NULL ? n : 0] = '\0';
    *len = raw != NULL ? n : 0;
    PQfreemem(raw);
    return out;
}

/* The array pg_load_rows() fills and its reader, for load_row(). */
struct load {
    struct mr_store_rows rows;
    read_row_fn read;
};

/* load_row - one more zeroed slot at the end of the array, read by the loader's reader. */
static int load_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct load *l = ctx;

    return l->read(ps, mr_store_row_add(&l->rows), err);
}

/*
 * pg_load_rows - run statement @id (parameters bound) into a new array of
 * elements of @size, one per row, each read by @read. On an error the slots
 * read so far, the failed one included (zeroed before @read, which leaves it
 * freeable), are freed with @free_rows. Owned result: *out, *n elements
 * (NULL, 0 for none).
 */
int pg_load_rows(struct pg_store *ps, enum stmt_id id, size_t size, read_row_fn read,
                 free_rows_fn free_rows, void **out, size_t *n, struct mr_err *err)
{
    struct load l = {.rows = {.size = size}, .read = read};
    int code;

    *out = NULL;
    *n = 0;
    code = pg_each_row(ps, id, load_row, &l, err);
    if (code != 0) {
        free_rows(l.rows.v, l.rows.len);
        return code;
    }
    *out = l.rows.v;
    *n = l.rows.len;
    return 0;
}
