/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_park.c - parked messages on MySQL/MariaDB: the redrive's pages
 * and batches, and DTM's resetCronTime (store.h "parked messages").
 *
 * Filters are bound parameters: a prefix or substring becomes a LIKE pattern
 * built with its wildcards escaped (mr_store_redrive_likes(), '!' the escape
 * character), never SQL text. Columns are utf8mb4_bin, so matching keeps case, as SQLite's
 * substr()/instr() does. A batch's ids go in IN_CHUNK at a time, padded.
 *
 * Threads and errors as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

#include "common/buf.h"

/* id_row - an id row into the page (@ctx: struct mr_store_id_page). */
static int id_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    (void)err;
    mr_store_id_page_add(ctx, ms->row.v[0]);
    return 0;
}

int my_redrive_page(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                    size_t limit, int64_t *ids, size_t *n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct mr_store_redrive_likes l;
    struct mr_store_id_page p = {.ids = ids, .n = n, .limit = limit};
    int code;

    *n = 0;
    mr_store_redrive_likes(&l, f);
    my_p_reset(ms);
    my_p_int(ms, after_id);
    my_p_text(ms, f->gid);
    my_p_text(ms, f->gid);
    my_p_text(ms, f->gid_prefix);
    my_p_text(ms, l.gid.p);
    my_p_int(ms, f->parked_from_ms);
    my_p_int(ms, f->parked_from_ms);
    my_p_int(ms, f->parked_to_ms);
    my_p_int(ms, f->parked_to_ms);
    my_p_text(ms, f->url_prefix);
    my_p_text(ms, l.url.p);
    my_p_text(ms, l.url.p);
    my_p_text(ms, f->error);
    my_p_text(ms, l.error.p);
    my_p_text(ms, l.error.p);
    my_p_int(ms, (int64_t)limit);
    code = my_each_row_id(ms, ST_REDRIVE_PAGE, "i", id_row, &p, err);
    mr_store_redrive_likes_release(&l);
    return code;
}

/* bind_ids - IN_CHUNK ids of @ids[0..@n) from @from on, the last repeated to fill the list. */
static void bind_ids(struct my_store *ms, const int64_t *ids, size_t n, size_t from)
{
    size_t j;

    for (j = 0; j < IN_CHUNK; j++)
        my_p_int(ms, ids[from + j < n ? from + j : n - 1]);
}

int my_redrive_ids(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms, long *changed,
                   struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    int code = 0;

    *changed = 0;
    for (i = 0; code == 0 && i < n; i += IN_CHUNK) {
        /* steps first, while their messages are still parked */
        my_p_reset(ms);
        bind_ids(ms, ids, n, i);
        code = my_exec_id(ms, ST_REDRIVE_STEPS, err);
        if (code != 0)
            break;
        my_p_reset(ms);
        my_p_int(ms, now_ms);
        my_p_int(ms, now_ms);
        bind_ids(ms, ids, n, i);
        code = my_exec_id(ms, ST_REDRIVE_MSGS, err);
        if (code == 0)
            *changed += (long)my_changed(ms, ST_REDRIVE_MSGS);
    }
    return code;
}

int my_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit, long *count,
                  bool *remaining, struct mr_err *err)
{
    struct my_store *ms = my(s);
    long left = 0;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, after_ms);
    my_p_int(ms, (int64_t)limit);
    code = my_exec_id(ms, ST_RESET_CRON, err);
    if (code != 0)
        return code;
    *count = (long)my_changed(ms, ST_RESET_CRON);
    my_p_reset(ms);
    my_p_int(ms, after_ms);
    code = my_read_int(ms, ST_CRON_LEFT, &left, err);
    if (code == 0)
        *remaining = left != 0;
    return code;
}
