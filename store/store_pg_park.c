/* SPDX-License-Identifier: MIT */
/*
 * store_pg_park.c - parked messages on PostgreSQL: the redrive's pages and
 * batches, and DTM's resetCronTime (store.h "parked messages").
 *
 * Filters are bound parameters: a prefix or substring becomes a LIKE pattern
 * with its wildcards escaped (mr_store_redrive_likes(), '!' the escape character),
 * never SQL text. LIKE keeps case, as SQLite's substr()/instr() does. A
 * batch's ids go as one array parameter.
 *
 * Threads and errors as in store_pg.c.
 */
#include "store/store_pg_int.h"

/* id_row - an id row into the page (@ctx: struct mr_store_id_page). */
static int id_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    (void)err;
    mr_store_id_page_add(ctx, pg_int(ps, 0));
    return 0;
}

int pg_redrive_page(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                    size_t limit, int64_t *ids, size_t *n, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct mr_store_redrive_likes l;
    struct mr_store_id_page p = {.ids = ids, .n = n, .limit = limit};
    int code;

    *n = 0;
    mr_store_redrive_likes(&l, f);
    pg_p_reset(ps);
    pg_p_int(ps, after_id);
    pg_p_text(ps, f->gid);
    pg_p_text(ps, f->gid_prefix);
    pg_p_text(ps, l.gid.p);
    pg_p_int(ps, f->parked_from_ms);
    pg_p_int(ps, f->parked_to_ms);
    pg_p_text(ps, f->url_prefix);
    pg_p_text(ps, l.url.p);
    pg_p_text(ps, f->error);
    pg_p_text(ps, l.error.p);
    pg_p_int(ps, (int64_t)limit);
    code = pg_each_row(ps, ST_REDRIVE_PAGE, id_row, &p, err);
    mr_store_redrive_likes_release(&l);
    return code;
}

int pg_redrive_ids(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms, long *changed,
                   struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    *changed = 0;
    /* steps first, while their messages are still parked */
    pg_p_reset(ps);
    pg_p_ids(ps, ids, n);
    code = pg_exec(ps, ST_REDRIVE_STEPS, err);
    if (code != 0)
        return code;
    pg_p_reset(ps);
    pg_p_int(ps, now_ms);
    pg_p_ids(ps, ids, n);
    code = pg_exec(ps, ST_REDRIVE_MSGS, err);
    if (code == 0)
        *changed = (long)pg_changed(ps);
    return code;
}

int pg_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit, long *count,
                  bool *remaining, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    long left = 0;
    int code;

    pg_p_reset(ps);
    pg_p_int(ps, now_ms);
    pg_p_int(ps, after_ms);
    pg_p_int(ps, (int64_t)limit);
    code = pg_exec(ps, ST_RESET_CRON, err);
    if (code != 0)
        return code;
    *count = (long)pg_changed(ps);
    pg_p_reset(ps);
    pg_p_int(ps, after_ms);
    code = pg_read_int(ps, ST_CRON_LEFT, &left, err);
    if (code == 0)
        *remaining = left != 0;
    return code;
}
