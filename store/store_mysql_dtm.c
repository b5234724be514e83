/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_dtm.c - reading a DTM server's own MySQL tables (trans_global,
 * trans_branch_op; DTM v1.19's layout), for `msgrelay import-dtm`
 * (store.h, "reading a DTM server's MySQL database").
 *
 * Uses the engine's URI parser, connection and row reader, on a handle that
 * never checks or touches msgrelay's schema. The session is read-only and
 * reads DTM's local-time DATETIMEs in the server's global time zone.
 * Every statement is a prepared one with fixed text; only ids are bound.
 *
 * Must not: write to DTM's database. Threads: one handle, one thread.
 * Errors: as the engine's (store_mysql.c).
 */
#include "store/store_mysql_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* a DATETIME column as UTC ms, 0 for NULL */
#define DTM_MS(col) "COALESCE(CAST(UNIX_TIMESTAMP(" col ") AS SIGNED), 0) * 1000"

static const char dtm_global_sql[] =
    "SELECT id, gid, trans_type, status, COALESCE(query_prepared, ''), COALESCE(protocol, ''), "
    "COALESCE(options, ''), COALESCE(custom_data, ''), COALESCE(result, ''), "
    "COALESCE(rollback_reason, ''), " DTM_MS("create_time") ", " DTM_MS("update_time") ", "
    DTM_MS("finish_time") ", " DTM_MS("rollback_time") ", " DTM_MS("next_cron_time") ", "
    "COALESCE(next_cron_interval, 0) "
    "FROM trans_global WHERE id > ? ORDER BY id LIMIT ?";
#define DTM_GLOBAL_LAYOUT "isssssssssiiiiii"

static const char dtm_branch_sql[] =
    "SELECT g.id, b.branch_id, b.op, b.status, b.url, "
    "COALESCE(b.bin_data, CAST(b.data AS BINARY), ''), " DTM_MS("b.create_time") ", "
    DTM_MS("b.update_time") ", " DTM_MS("b.finish_time") " "
    "FROM trans_global g JOIN trans_branch_op b ON b.gid = g.gid "
    "WHERE g.id > ? AND g.id <= ? AND g.trans_type = 'msg' ORDER BY g.id, b.id";
#define DTM_BRANCH_LAYOUT "isssssiii"

struct mr_store_dtm {
    struct my_store *ms;
    MYSQL_STMT *global;
    MYSQL_STMT *branch;
};

int mr_store_dtm_open(const char *uri, struct mr_store_dtm **out, struct mr_err *err)
{
    struct mr_store_dtm *d;
    int code;

    *out = NULL;
    if (strncmp(uri, "mysql:", 6) != 0)
        return mr_err_set(err, MR_EINVAL, "a DTM database is a mysql://USER:PASS@HOST:PORT/DB URI");
    d = mr_xcalloc(1, sizeof(*d));
    code = my_handle_new(uri + 6, &d->ms, err);
    /* the admin connection: no check of msgrelay's schema, no msgrelay statements */
    if (code == 0)
        code = my_connect(d->ms, true, err);
    if (code == 0)
        code = my_query(d->ms, "SET SESSION time_zone = @@GLOBAL.time_zone", err);
    if (code == 0)
        code = my_query(d->ms, "SET SESSION TRANSACTION READ ONLY", err);
    if (code == 0)
        code = my_prepare(d->ms, dtm_global_sql, &d->global, err);
    if (code == 0)
        code = my_prepare(d->ms, dtm_branch_sql, &d->branch, err);
    if (code != 0) {
        mr_store_dtm_close(d);
        return code;
    }
    *out = d;
    return 0;
}

void mr_store_dtm_close(struct mr_store_dtm *d)
{
    if (d == NULL)
        return;
    if (d->global != NULL)
        mysql_stmt_close(d->global);
    if (d->branch != NULL)
        mysql_stmt_close(d->branch);
    if (d->ms != NULL)
        my_close(&d->ms->base);
    free(d);
}

static void free_branches(struct mr_dtm_branch *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(b[i].branch_id);
        free(b[i].op);
        free(b[i].status);
        free(b[i].url);
        free(b[i].data);
    }
    free(b);
}

void mr_store_dtm_free(struct mr_dtm_trans *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        struct mr_dtm_trans *t = &v[i];

        free(t->gid);
        free(t->trans_type);
        free(t->status);
        free(t->query_prepared);
        free(t->protocol);
        free(t->options);
        free(t->custom_data);
        free(t->result);
        free(t->rollback_reason);
        free_branches(t->branches, t->nbranches);
    }
    free(v);
}

/* read_global - the trans_global row in the current row into @slot. */
static int read_global(struct my_store *ms, void *slot, struct mr_err *err)
{
    struct mr_dtm_trans *t = slot;
    const long long *v = ms->row.v;

    (void)err;
    t->id = v[0];
    t->gid = my_take_str(ms, 1);
    t->trans_type = my_take_str(ms, 2);
    t->status = my_take_str(ms, 3);
    t->query_prepared = my_take_str(ms, 4);
    t->protocol = my_take_str(ms, 5);
    t->options = my_take_str(ms, 6);
    t->custom_data = my_take_str(ms, 7);
    t->result = my_take_str(ms, 8);
    t->rollback_reason = my_take_str(ms, 9);
    t->create_ms = v[10];
    t->update_ms = v[11];
    t->finish_ms = v[12];
    t->rollback_ms = v[13];
    t->next_cron_ms = v[14];
    t->next_cron_interval = v[15] < 0 ? 0 : v[15] > INT32_MAX ? INT32_MAX : (int)v[15];
    return 0;
}

static void free_globals(void *v, size_t n)
{
    mr_store_dtm_free(v, n);
}

/* The page of rows attach_branches() hangs branches on, for branch_row(). */
struct page_branches {
    struct mr_dtm_trans *v;
    size_t n;
    size_t j; /* the row of the last branch */
    size_t cap;
};

/* branch_row - a trans_branch_op row (by gid id order) onto its trans_global row. */
static int branch_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct page_branches *c = ctx;
    struct mr_dtm_trans *t;
    struct mr_dtm_branch *b;

    (void)err;
    while (c->j < c->n && c->v[c->j].id < ms->row.v[0]) {
        c->j++;
        c->cap = 0;
    }
    if (c->j == c->n || c->v[c->j].id != ms->row.v[0])
        return 0; /* a row inserted since the page was read */
    t = &c->v[c->j];
    if (t->nbranches == c->cap)
        t->branches = mr_xgrow(t->branches, sizeof(*t->branches), t->nbranches + 1, &c->cap);
    b = &t->branches[t->nbranches++];
    memset(b, 0, sizeof(*b));
    b->branch_id = my_take_str(ms, 1);
    b->op = my_take_str(ms, 2);
    b->status = my_take_str(ms, 3);
    b->url = my_take_str(ms, 4);
    b->data_len = ms->row.len[5];
    b->data = my_take_str(ms, 5);
    b->create_ms = ms->row.v[6];
    b->update_ms = ms->row.v[7];
    b->finish_ms = ms->row.v[8];
    return 0;
}

/*
 * attach_branches - read the branches of the msg rows of @v[0..n) (ids in
 * order) and hang each on its row.
 */
static int attach_branches(struct mr_store_dtm *d, struct mr_dtm_trans *v, size_t n,
                           int64_t after_id, struct mr_err *err)
{
    struct page_branches c = {.v = v, .n = n};

    my_p_reset(d->ms);
    my_p_int(d->ms, after_id);
    my_p_int(d->ms, v[n - 1].id);
    return my_each_row(d->ms, d->branch, DTM_BRANCH_LAYOUT, branch_row, &c, err);
}

int mr_store_dtm_page(struct mr_store_dtm *d, int64_t after_id, size_t limit,
                      struct mr_dtm_trans **out, size_t *n, struct mr_err *err)
{
    struct my_store *ms = d->ms;
    int code;

    *out = NULL;
    *n = 0;
    if (limit < 1 || limit > MR_STORE_DTM_PAGE_MAX)
        return mr_err_set(err, MR_EINVAL, "dtm: page size must be 1 to %d",
                          MR_STORE_DTM_PAGE_MAX);
    my_p_reset(ms);
    my_p_int(ms, after_id);
    my_p_int(ms, (int64_t)limit);
    code = my_load_rows(ms, d->global, DTM_GLOBAL_LAYOUT, sizeof(**out), read_global,
                        free_globals, (void **)out, n, err);
    if (code == 0 && *n > 0)
        code = attach_branches(d, *out, *n, after_id, err);
    if (code != 0) {
        mr_store_dtm_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return code;
}
