/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_batch.c - the batch forms of store.h on SQLite (group
 * commit): inserts as a loop of the per-message INSERTs (no round trips
 * here), state changes and step successes as one UPDATE ... RETURNING per
 * chunk of MR_STORE_BATCH_CHUNK, the IN list padded by its last item.
 *
 * Must not: check store.h's rules (store.c has) or log a transition.
 * Threads: the handle's. Errors: as in store_sqlite.c.
 */
#include "store/store_sqlite_int.h"

#include <stdint.h>
#include <string.h>

/*
 * sq_msg_insert_many - sq_insert_rows() of each message, without sq_msg_insert()'s
 * savepoint: a failed batch is rolled back whole by the caller (store.h).
 */
int sq_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t i;
    int code = 0;

    for (i = 0; code == 0 && i < n; i++)
        code = sq_insert_rows(q, v[i], err);
    return code;
}

/* bind_in_ints - bind @v[0..@n) (1 <= @n <= the chunk) to the IN list, padded with the last. */
static void bind_in_ints(struct binder *b, const int64_t *v, size_t n)
{
    size_t i;

    for (i = 0; i < MR_STORE_BATCH_CHUNK; i++)
        sq_bind_int(b, IN_FIRST + (int)i, v[i < n ? i : n - 1]);
}

/* bind_in_texts - bind_in_ints() for strings. */
static void bind_in_texts(struct binder *b, const char *const *v, size_t n)
{
    size_t i;

    for (i = 0; i < MR_STORE_BATCH_CHUNK; i++)
        sq_bind_text(b, IN_FIRST + (int)i, v[i < n ? i : n - 1]);
}

/*
 * find_gid - the position of @gid in @gids[0..@n), looking from *@hint on
 * (RETURNING rows tend to come in a stable order), or @n when absent.
 */
static size_t find_gid(const char *const *gids, size_t n, const char *gid, size_t *hint)
{
    size_t k;

    for (k = 0; k < n; k++) {
        size_t j = (*hint + k) % n;

        if (strcmp(gids[j] != NULL ? gids[j] : "", gid) == 0) {
            *hint = j + 1;
            return j;
        }
    }
    return n;
}

/* find_id - find_gid() for ids. */
static size_t find_id(const int64_t *ids, size_t n, int64_t id, size_t *hint)
{
    size_t k;

    for (k = 0; k < n; k++) {
        size_t j = (*hint + k) % n;

        if (ids[j] == id) {
            *hint = j + 1;
            return j;
        }
    }
    return n;
}

/* The items of a chunk whose RETURNING rows mark them, for gid_row() and id_row(). */
struct marks {
    const char *const *gids;
    const int64_t *ids;
    size_t n;
    size_t hint;
    bool *changed; /* gid_row(): a returned gid changed */
    int *res;      /* id_row(): a returned id's result is 0 */
};

/* gid_row - a RETURNING gid row: that gid changed. */
static int gid_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    struct marks *c = ctx;
    const char *gid = (const char *)sqlite3_column_text(st, 0);
    size_t j = find_gid(c->gids, c->n, gid != NULL ? gid : "", &c->hint);

    (void)err;
    if (j < c->n)
        c->changed[j] = true;
    return 0;
}

/* id_row - a RETURNING id row: that id's result is 0. */
static int id_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    struct marks *c = ctx;
    size_t j = find_id(c->ids, c->n, sqlite3_column_int64(st, 0), &c->hint);

    (void)err;
    if (j < c->n)
        c->res[j] = 0;
    return 0;
}

/* changed_id_row - a RETURNING id row of a transition by id: that one changed. */
static int changed_id_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    struct marks *c = ctx;
    size_t j = find_id(c->ids, c->n, sqlite3_column_int64(st, 0), &c->hint);

    (void)err;
    if (j < c->n)
        c->changed[j] = true;
    return 0;
}

/* transition_chunk - one ST_TRANSITION_MANY (or _IDS) over the @n rows from @at, n <= the chunk. */
static int transition_chunk(struct sq_store *q, const struct mr_store_tr *t, size_t at, size_t n,
                            bool *changed, struct mr_err *err)
{
    struct binder b = sq_binder(q, t->ids != NULL ? ST_TRANSITION_IDS : ST_TRANSITION_MANY);
    struct marks c = {.n = n, .changed = changed};

    sq_bind_transition(&b, t->from, t->to, t->now_ms, t->next_cron_ms, t->next_cron_interval,
                       t->lease_owner, t->lease_until_ms);
    if (t->ids != NULL) {
        c.ids = t->ids + at;
        bind_in_ints(&b, c.ids, n);
        return sq_each_row(q, &b, changed_id_row, &c, err);
    }
    c.gids = t->gids + at;
    bind_in_texts(&b, c.gids, n);
    return sq_each_row(q, &b, gid_row, &c, err);
}

/*
 * sq_msg_transition_many - one UPDATE ... RETURNING gid (or id) per chunk of
 * 64, leasing in the same UPDATE; a message not in @from is left alone (not
 * returned).
 */
int sq_msg_transition_many(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                           bool *changed, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t at;
    int code = 0;

    for (at = 0; code == 0 && at < n; at += MR_STORE_BATCH_CHUNK)
        code = transition_chunk(q, t, at, mr_store_chunk(n, at), changed + at, err);
    return code;
}

/* step_succeed_chunk - one ST_STEP_SUCCEED_MANY over @ids[0..@n), n <= the chunk. */
static int step_succeed_chunk(struct sq_store *q, const int64_t *ids, size_t n, int64_t now_ms,
                              int *res, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_STEP_SUCCEED_MANY);
    struct marks c = {.ids = ids, .n = n, .res = res};
    size_t i;
    int code;

    for (i = 0; i < n; i++)
        res[i] = MR_ENOENT; /* until RETURNING names it */
    sq_bind_int(&b, 3, now_ms);
    bind_in_ints(&b, ids, n);
    code = sq_each_row(q, &b, id_row, &c, err);
    for (i = 0; code == 0 && i < n; i++) {
        if (res[i] != 0)
            code = sq_step_missing(q, ids[i], &res[i], err);
    }
    return code;
}

/*
 * sq_step_succeed_many - one UPDATE ... RETURNING id per chunk of 64; a step
 * not returned is looked up to tell MR_ECONFLICT from MR_ENOENT.
 */
int sq_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n, int64_t now_ms,
                         int *res, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t at;
    int code = 0;

    for (at = 0; code == 0 && at < n; at += MR_STORE_BATCH_CHUNK) {
        size_t len = mr_store_chunk(n, at);

        code = step_succeed_chunk(q, step_ids + at, len, now_ms, res + at, err);
    }
    return code;
}
