/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_park.c - parked messages on SQLite: the redrive's pages and
 * batches, and DTM's resetCronTime (store.h "parked messages").
 *
 * Filters are bound parameters compared with substr()/instr(), never SQL
 * text and never LIKE patterns (no wildcard to escape, case kept). A batch's
 * ids go in as one JSON array (json_each), as the claim's do.
 *
 * Threads and errors as in store_sqlite.c.
 */
#include "store/store_sqlite_int.h"

#include <stdio.h>

#include "common/buf.h"

/* id_row - an id row into the page (@ctx: struct mr_store_id_page). */
static int id_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    (void)err;
    mr_store_id_page_add(ctx, sqlite3_column_int64(st, 0));
    return 0;
}

int sq_redrive_page(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                    size_t limit, int64_t *ids, size_t *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_REDRIVE_PAGE);
    struct mr_store_id_page p = {.ids = ids, .n = n, .limit = limit};

    *n = 0;
    sq_bind_int(&b, 1, after_id);
    sq_bind_text(&b, 2, f->gid);
    sq_bind_text(&b, 3, f->gid_prefix);
    sq_bind_int(&b, 4, f->parked_from_ms);
    sq_bind_int(&b, 5, f->parked_to_ms);
    sq_bind_text(&b, 6, f->url_prefix);
    sq_bind_text(&b, 7, f->error);
    sq_bind_int(&b, 8, (int64_t)limit);
    return sq_each_row(q, &b, id_row, &p, err);
}

int sq_redrive_ids(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms, long *changed,
                   struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct mr_buf list = MR_BUF_INIT(32 * n + 8);
    struct binder b;
    size_t i;
    int code;

    *changed = 0;
    mr_buf_adds(&list, "[");
    for (i = 0; i < n; i++)
        mr_buf_addf(&list, "%s%lld", i ? "," : "", (long long)ids[i]);
    mr_buf_adds(&list, "]");
    /* steps first, while their messages are still parked */
    b = sq_binder(q, ST_REDRIVE_STEPS);
    sq_bind_text(&b, 1, list.p);
    code = sq_run(q, &b, err);
    if (code == 0) {
        b = sq_binder(q, ST_REDRIVE_MSGS);
        sq_bind_text(&b, 1, list.p);
        sq_bind_int(&b, 2, now_ms);
        code = sq_run(q, &b, err);
        if (code == 0)
            *changed = (long)sqlite3_changes(q->db);
    }
    mr_buf_release(&list);
    return code;
}

int sq_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit, long *count,
                  bool *remaining, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RESET_CRON);
    long left = 0;
    int code;

    sq_bind_int(&b, 1, now_ms);
    sq_bind_int(&b, 2, after_ms);
    sq_bind_int(&b, 3, (int64_t)limit);
    code = sq_run(q, &b, err);
    if (code != 0)
        return code;
    *count = (long)sqlite3_changes(q->db);
    b = sq_binder(q, ST_CRON_LEFT);
    sq_bind_int(&b, 1, after_ms);
    code = sq_read_int(q, &b, &left, err);
    if (code == 0)
        *remaining = left != 0;
    return code;
}
