/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_batch.c - the batch forms of store.h on MySQL (group commit):
 * get, insert, transition, step success and release of many messages in
 * multi-row statements of at most MR_STORE_BATCH_CHUNK rows, prepared once
 * per connection for a few fixed row counts (MULTI_LIST; the text is ours,
 * never built from data), and loading the steps of many messages at once.
 *
 * Must not: check store.h's rules (store.c has) or log a transition.
 * Threads: the handle's. Errors: as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

#include <stdlib.h>
#include <string.h>

#include <mysqld_error.h>

#include "common/buf.h"
#include "common/mem.h"

/*
 * The row counts of the batch statements (store.h "batches"), largest first:
 * each is prepared once per connection at its first use. An "IN (...)" list
 * takes the smallest count that holds what is left and repeats its last item
 * to fill it: in_list(). (A multi-row INSERT has a statement for its exact
 * row count: multi_stmt().)
 */
static const size_t batch_sizes[NBATCH] = {MR_STORE_BATCH_CHUNK, 16, 4, 1};

static const struct multi_sql {
    const char *head;
    const char *item;
    const char *tail;
} multi_sql[] = {
#define MULTI_SQL(id, head, item, tail) {head, item, tail},
    MULTI_LIST(MULTI_SQL)
#undef MULTI_SQL
};

/*
 * multi_stmt - batch statement @id with @k items, kept in @slot (ms->mt[id][bi]
 * for batch_sizes[bi] items, or ms->rows[][k]), prepared at its first use.
 *
 * A multi-row INSERT (MT_MSG_INSERT, MT_STEP_INSERT) has a statement of
 * exactly @k (1..MR_STORE_BATCH_CHUNK) rows in ms->rows[]: one statement per
 * chunk whatever its size, as the server's cost of a statement is mostly per
 * statement, and a run of 25 rows cut into 16+4+4+1 paid it four times.
 */
static int multi_stmt(struct my_store *ms, enum multi_id id, size_t k, MYSQL_STMT **slot,
                      MYSQL_STMT **out, struct mr_err *err)
{
    const struct multi_sql *d = &multi_sql[id];
    struct mr_buf sql = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    size_t i;
    int code;

    *out = *slot;
    if (*out != NULL)
        return 0;
    mr_buf_adds(&sql, d->head);
    for (i = 0; i < k; i++) {
        if (i > 0)
            mr_buf_adds(&sql, ", ");
        mr_buf_adds(&sql, d->item);
    }
    mr_buf_adds(&sql, d->tail);
    code = my_prepare(ms, sql.p, slot, err);
    mr_buf_release(&sql);
    *out = *slot;
    return code;
}

/*
 * in_list - one chunk's IN list: the batch statement @id of the smallest of
 * batch_sizes[] that holds the @k (1..MR_STORE_BATCH_CHUNK) items, prepared at
 * its first use (into *@out), and the items bound after the parameters bound
 * since my_p_reset(), the last one repeated to fill it. The items are the gids
 * at @gids, or when @gids is NULL the ids at @ids. Nothing is bound on failure.
 */
static int in_list(struct my_store *ms, enum multi_id id, const char *const *gids,
                   const int64_t *ids, size_t k, MYSQL_STMT **out, struct mr_err *err)
{
    size_t bi = NBATCH - 1;
    size_t j;
    int code;

    while (bi > 0 && batch_sizes[bi] < k)
        bi--;
    code = multi_stmt(ms, id, batch_sizes[bi], &ms->mt[id][bi], out, err);
    for (j = 0; code == 0 && j < batch_sizes[bi]; j++) {
        if (gids != NULL)
            my_p_text(ms, gids[j < k ? j : k - 1]);
        else
            my_p_int(ms, ids[j < k ? j : k - 1]);
    }
    return code;
}

/* in_each_row - in_list(), then my_each_row() of its rows (as @layout says). */
static int in_each_row(struct my_store *ms, enum multi_id id, const char *const *gids,
                       const int64_t *ids, size_t k, const char *layout, row_fn fn, void *ctx,
                       struct mr_err *err)
{
    MYSQL_STMT *st;
    int code = in_list(ms, id, gids, ids, k, &st, err);

    if (code != 0)
        return code;
    return my_each_row(ms, st, layout, fn, ctx, err);
}

/* id_at - the position of @id among the @k ids at @ids, or @k. */
static size_t id_at(const int64_t *ids, size_t k, int64_t id)
{
    size_t j;

    for (j = 0; j < k; j++) {
        if (ids[j] == id)
            return j;
    }
    return k;
}

/* my_bind_ids - IN_CHUNK ids of @v from @from (padded with the last one). */
void my_bind_ids(struct my_store *ms, struct mr_msg **v, size_t n, size_t from)
{
    size_t j;

    for (j = 0; j < IN_CHUNK; j++)
        my_p_int(ms, v[from + j < n ? from + j : n - 1]->id);
}

/* steps_by_id - put @m's steps in id order (insertion sort: a message has few, often sorted). */
static void steps_by_id(struct mr_msg *m)
{
    size_t i;
    size_t j;

    for (i = 1; i < m->nsteps; i++) {
        struct mr_step t = m->steps[i];

        for (j = i; j > 0 && m->steps[j - 1].id > t.id; j--)
            m->steps[j] = m->steps[j - 1];
        m->steps[j] = t;
    }
}

/*
 * my_load_steps_in - load the steps of @v[from..from+IN_CHUNK) (the messages
 * of a claim or a get_many, none with steps yet) in one query, each
 * message's in id order. The query orders by msg_id only, which the
 * step_branch index gives for free (msg_id, id would be a filesort, and a
 * second read of each row).
 */
/* The chunk of messages my_load_steps_in() fills, for step_row(). */
struct steps_in {
    struct mr_msg **v;
    size_t from;
    size_t end;
    size_t cur;
    size_t caps[IN_CHUNK];
};

/* step_row - a step row to its message: rows come in msg_id order, the chunk in its own. */
static int step_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct steps_in *c = ctx;
    size_t tries;

    /* find the owner, usually the last one */
    for (tries = 0; tries < c->end - c->from && c->v[c->cur]->id != ms->row.v[0]; tries++)
        c->cur = c->cur + 1 < c->end ? c->cur + 1 : c->from;
    if (c->v[c->cur]->id != ms->row.v[0])
        return mr_err_set(err, MR_ESTORE, "store: step of unrequested message %lld",
                          (long long)ms->row.v[0]);
    return my_add_step(ms, c->v[c->cur], &c->caps[c->cur - c->from], err);
}

int my_load_steps_in(struct my_store *ms, struct mr_msg **v, size_t n, size_t from,
                     struct mr_err *err)
{
    struct steps_in c = {.v = v, .from = from, .cur = from};
    size_t i;
    int code;

    c.end = from + IN_CHUNK < n ? from + IN_CHUNK : n;
    my_p_reset(ms);
    my_bind_ids(ms, v, n, from);
    code = my_each_row_id(ms, ST_STEPS_IN, STEP_LAYOUT, step_row, &c, err);
    for (i = from; code == 0 && i < c.end; i++)
        steps_by_id(v[i]);
    return code;
}

_Static_assert(MR_STORE_BATCH_CHUNK <= IN_CHUNK, "a get_many chunk's steps fit one ST_STEPS_IN");

/* get_row - a message row into the slot of its gid (@ctx: struct mr_store_found). */
static int get_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct mr_msg *m;
    int code = my_read_msg(ms, &m, err);

    if (code == 0)
        mr_store_found_put(ctx, m);
    return code;
}

/*
 * get_chunk - load the messages of the @k gids at @gids (one IN list) into
 * @out, and when @with_steps their steps with one more statement (none when
 * no message was found).
 */
static int get_chunk(struct my_store *ms, const char *const *gids, size_t k, bool with_steps,
                     struct mr_msg **out, struct mr_err *err)
{
    struct mr_store_found c = {.gids = gids, .k = k, .out = out};
    int code;

    my_p_reset(ms);
    code = in_each_row(ms, MT_GET, gids, NULL, k, MSG_LAYOUT, get_row, &c, err);
    if (code == 0 && with_steps && c.nfound > 0)
        code = my_load_steps_in(ms, c.found, c.nfound, 0, err);
    return code;
}

int my_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                    struct mr_msg **out, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = mr_store_chunk(n, i);
        code = get_chunk(ms, gids + i, k, with_steps, out + i, err);
    }
    return code;
}

/* One chunk of new messages whose ids are read back, for id_by_gid_row() and step_id_row(). */
struct read_back {
    struct mr_msg *const *v;
    size_t k;
    const char *gids[MR_STORE_BATCH_CHUNK];
    int64_t ids[MR_STORE_BATCH_CHUNK];
    size_t got[MR_STORE_BATCH_CHUNK];
};

/* id_by_gid_row - a (id, gid) row: the id of the message of that gid. */
static int id_by_gid_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct read_back *c = ctx;
    size_t j = mr_store_gid_at(c->gids, c->k, ms->row.s[1] != NULL ? ms->row.s[1] : "");

    (void)err;
    if (j < c->k)
        c->v[j]->id = ms->row.v[0];
    return 0;
}

/* step_id_row - a (msg_id, id) row: the id of that message's next step (rows in id order). */
static int step_id_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct read_back *c = ctx;
    size_t j = id_at(c->ids, c->k, ms->row.v[0]);

    (void)err;
    if (j < c->k && c->got[j] < c->v[j]->nsteps)
        c->v[j]->steps[c->got[j]].id = ms->row.v[1];
    if (j < c->k)
        c->got[j]++;
    return 0;
}

/*
 * ids_read_back - each new message's id by its gid (@steps false), or each new
 * step's id, by message, in id order (@steps true), when ids may have gaps.
 */
static int ids_read_back(struct my_store *ms, struct mr_msg *const *v, size_t n, bool steps,
                         struct mr_err *err)
{
    struct read_back c;
    size_t i;
    size_t j;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += c.k) {
        c.v = v + i;
        c.k = mr_store_chunk(n, i);
        for (j = 0; j < c.k; j++) {
            c.gids[j] = c.v[j]->gid;
            c.ids[j] = c.v[j]->id;
            c.got[j] = 0;
        }
        my_p_reset(ms);
        if (!steps) {
            code = in_each_row(ms, MT_IDS_BY_GID, c.gids, NULL, c.k, "is", id_by_gid_row, &c,
                               err);
            continue;
        }
        /* a multi-row INSERT numbers its rows in increasing order, even with gaps */
        code = in_each_row(ms, MT_STEP_IDS, NULL, c.ids, c.k, "ii", step_id_row, &c, err);
        for (j = 0; code == 0 && j < c.k; j++) {
            if (c.got[j] != c.v[j]->nsteps)
                code = mr_err_set(err, MR_ESTORE,
                                  "store: message '%s': %zu steps written, %zu read back",
                                  c.v[j]->gid, c.v[j]->nsteps, c.got[j]);
        }
    }
    return code;
}

/* insert_msg_rows - the message rows of @v, in multi-row INSERTs; sets each m->id. */
static int insert_msg_rows(struct my_store *ms, struct mr_msg *const *v, size_t n,
                           struct mr_err *err)
{
    size_t i;
    size_t j;
    size_t k;
    int code;

    for (i = 0; i < n; i += k) {
        MYSQL_STMT *st;
        int64_t first;

        k = mr_store_chunk(n, i);
        code = multi_stmt(ms, MT_MSG_INSERT, k, &ms->rows[0][k], &st, err);
        if (code != 0)
            return code;
        my_p_reset(ms);
        for (j = 0; j < k; j++)
            my_bind_msg(ms, v[i + j]);
        code = my_exec(ms, st, err);
        if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
            return mr_err_set(err, MR_EEXIST, "store: a message of the batch already exists");
        if (code != 0)
            return code;
        first = (int64_t)mysql_stmt_insert_id(st);
        for (j = 0; j < k; j++)
            v[i + j]->id = first + (int64_t)j * ms->id_step;
    }
    if (!ms->ids_consecutive)
        return ids_read_back(ms, v, n, false, err);
    return 0;
}

/* insert_step_rows - the steps of every message of @v, in multi-row INSERTs; sets their ids. */
static int insert_step_rows(struct my_store *ms, struct mr_msg *const *v, size_t n,
                            struct mr_err *err)
{
    size_t total = 0;
    size_t mi = 0; /* the message and step of the next row */
    size_t si = 0;
    size_t done;
    size_t i;
    size_t k;
    int code;

    for (i = 0; i < n; i++)
        total += v[i]->nsteps;
    for (done = 0; done < total; done += k) {
        struct mr_step *rows[MR_STORE_BATCH_CHUNK];
        MYSQL_STMT *st;
        int64_t first;

        k = mr_store_chunk(total, done);
        code = multi_stmt(ms, MT_STEP_INSERT, k, &ms->rows[1][k], &st, err);
        if (code != 0)
            return code;
        my_p_reset(ms);
        for (i = 0; i < k; i++) {
            while (si >= v[mi]->nsteps) {
                mi++;
                si = 0;
            }
            rows[i] = &v[mi]->steps[si];
            my_bind_step(ms, v[mi]->id, rows[i]);
            si++;
        }
        code = my_exec(ms, st, err);
        if (code != 0)
            return code;
        first = (int64_t)mysql_stmt_insert_id(st);
        for (i = 0; i < k; i++)
            rows[i]->id = first + (int64_t)i * ms->id_step;
    }
    if (!ms->ids_consecutive && total > 0)
        return ids_read_back(ms, v, n, true, err);
    return 0;
}

/*
 * my_msg_insert_many - every message row in multi-row INSERTs, then every
 * step row likewise: two or three statements per MR_STORE_BATCH_CHUNK
 * messages instead of two per message. With innodb_autoinc_lock_mode 0 or 1
 * a multi-row INSERT numbers its rows consecutively from the insert id; with
 * 2 the ids are read back (by gid, and by message id for the steps).
 */
int my_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    code = insert_msg_rows(ms, v, n, err);
    if (code == 0)
        code = insert_step_rows(ms, v, n, err);
    return code;
}

/*
 * transition_update - the UPDATE of transition_chunk() (every row named, those in @from
 * move): by the gids at @gids, or when @ids is not NULL by the ids there.
 */
static int transition_update(struct my_store *ms, const char *const *gids, const int64_t *ids,
                             size_t k, const struct mr_store_tr *a, MYSQL_STMT **out,
                             struct mr_err *err)
{
    int code;

    my_p_reset(ms);
    my_p_transition(ms, a->to, a->now_ms, a->next_cron_ms, a->next_cron_interval, a->lease_owner,
                    a->lease_until_ms);
    my_p_text(ms, mr_msg_state_name(a->from));
    if (ids != NULL)
        code = in_list(ms, MT_TRANSITION_IDS, NULL, ids, k, out, err);
    else
        code = in_list(ms, MT_TRANSITION, gids, NULL, k, out, err);
    if (code != 0)
        return code;
    return my_exec(ms, *out, err);
}

/* The rows a transition_chunk() found locked in the state it moves from, for locked_row(). */
struct lock_marks {
    const char *const *gids;
    const int64_t *ids; /* not NULL: the rows are named by id */
    size_t k;
    bool *changed;
    size_t found;
};

/* locked_row - a gid (or id) row: mark its position (once). */
static int locked_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct lock_marks *c = ctx;
    size_t at;

    (void)err;
    if (c->ids != NULL)
        at = id_at(c->ids, c->k, ms->row.v[0]);
    else
        at = mr_store_gid_at(c->gids, c->k, ms->row.s[0] != NULL ? ms->row.s[0] : "");
    if (at < c->k && !c->changed[at]) {
        c->changed[at] = true;
        c->found++;
    }
    return 0;
}

/*
 * transition_chunk - move those of the @k rows named at @gids (or, when @ids
 * is not NULL, at @ids) that are in @from, marking them in @changed. The
 * common case is one statement: the UPDATE under a savepoint, and when it
 * matched @k rows (CLIENT_FOUND_ROWS: matched, not changed) every row was in
 * @from and distinct. Otherwise it is undone to the savepoint, and the rows
 * in @from are locked and marked first, then moved: the lock keeps them in
 * @from until the UPDATE, so the marks are what changed.
 */
static int transition_chunk(struct my_store *ms, const char *const *gids, const int64_t *ids,
                            size_t k, const struct mr_store_tr *a, bool *changed,
                            struct mr_err *err)
{
    struct lock_marks lock = {0};
    MYSQL_STMT *st;
    size_t at;
    int code;

    code = my_query(ms, "SAVEPOINT msgrelay_tr", err);
    if (code == 0)
        code = transition_update(ms, gids, ids, k, a, &st, err);
    if (code != 0)
        return code;
    if ((uint64_t)mysql_stmt_affected_rows(st) == k) {
        for (at = 0; at < k; at++)
            changed[at] = true;
        return 0;
    }
    code = my_query(ms, "ROLLBACK TO SAVEPOINT msgrelay_tr", err);
    if (code != 0)
        return code;

    my_p_reset(ms);
    my_p_text(ms, mr_msg_state_name(a->from));
    lock.gids = gids;
    lock.ids = ids;
    lock.k = k;
    lock.changed = changed;
    if (ids != NULL)
        code = in_each_row(ms, MT_LOCK_STATE_IDS, NULL, ids, k, "i", locked_row, &lock, err);
    else
        code = in_each_row(ms, MT_LOCK_STATE, gids, NULL, k, "s", locked_row, &lock, err);
    if (code != 0 || lock.found == 0)
        return code;
    return transition_update(ms, gids, ids, k, a, &st, err);
}

/* my_msg_transition_many - transition_chunk() per chunk; a lease goes in the same UPDATE. */
int my_msg_transition_many(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                           bool *changed, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = mr_store_chunk(n, i);
        code = transition_chunk(ms, t->gids + i, t->ids != NULL ? t->ids + i : NULL, k, t,
                                changed + i, err);
    }
    return code;
}

/* The results mark_ids() sets, for id_mark_row(). */
struct id_marks {
    const int64_t *ids;
    size_t k;
    int *res;
    int val;
};

/* id_mark_row - an id row: its position's result is the mark. */
static int id_mark_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct id_marks *c = ctx;
    size_t at = id_at(c->ids, c->k, ms->row.v[0]);

    (void)err;
    if (at < c->k)
        c->res[at] = c->val;
    return 0;
}

/* mark_ids - run the id query @id over the @k ids at @ids; res[j] = @val for each it returns. */
static int mark_ids(struct my_store *ms, enum multi_id id, const int64_t *ids, size_t k, int *res,
                    int val, struct mr_err *err)
{
    struct id_marks c = {.ids = ids, .k = k, .res = res, .val = val};

    my_p_reset(ms);
    return in_each_row(ms, id, NULL, ids, k, "i", id_mark_row, &c, err);
}

/*
 * succeed_chunk - one UPDATE for the @k step ids at @ids. When it matched
 * fewer rows than asked, two reads tell, per step, a missing one from one
 * whose message is no longer submitted.
 */
static int succeed_chunk(struct my_store *ms, const int64_t *ids, size_t k, int64_t now_ms,
                         int *res, struct mr_err *err)
{
    MYSQL_STMT *st;
    size_t j;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    code = in_list(ms, MT_STEPS_OK, NULL, ids, k, &st, err);
    if (code != 0)
        return code;
    code = my_exec(ms, st, err);
    if (code != 0)
        return code;
    for (j = 0; j < k; j++)
        res[j] = 0;
    if ((uint64_t)mysql_stmt_affected_rows(st) >= k)
        return 0;
    for (j = 0; j < k; j++)
        res[j] = MR_ENOENT;
    code = mark_ids(ms, MT_STEPS_EXIST, ids, k, res, MR_ECONFLICT, err);
    if (code == 0)
        code = mark_ids(ms, MT_STEPS_LIVE, ids, k, res, 0, err);
    return code;
}

int my_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n, int64_t now_ms,
                         int *res, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = mr_store_chunk(n, i);
        code = succeed_chunk(ms, step_ids + i, k, now_ms, res + i, err);
    }
    return code;
}

/* same_release - whether @a and @b write the same values (and so fit one statement). */
static bool same_release(const struct mr_store_release *a, const struct mr_store_release *b)
{
    if (a->next_cron_ms != b->next_cron_ms || a->interval != b->interval)
        return false;
    if (a->result == NULL || b->result == NULL)
        return a->result == b->result;
    return strcmp(a->result, b->result) == 0;
}

/* release_run - end @owner's lease on the @k alike items at @v, in IN lists. */
static int release_run(struct my_store *ms, const struct mr_store_release *v, size_t k,
                       const char *owner, int64_t now_ms, struct mr_err *err)
{
    const char *gids[MR_STORE_BATCH_CHUNK];
    size_t i;
    size_t j;
    size_t c;
    int code = 0;

    for (i = 0; code == 0 && i < k; i += c) {
        MYSQL_STMT *st;

        c = mr_store_chunk(k, i);
        for (j = 0; j < c; j++)
            gids[j] = v[i + j].gid;
        my_p_reset(ms);
        my_p_int(ms, v[i].next_cron_ms);
        my_p_int(ms, v[i].interval >= 0);
        my_p_int(ms, v[i].interval);
        my_p_text_or_null(ms, v[i].result);
        my_p_int(ms, now_ms);
        my_p_text(ms, owner);
        code = in_list(ms, MT_RELEASE, gids, NULL, c, &st, err);
        if (code == 0)
            code = my_exec(ms, st, err);
    }
    return code;
}

int my_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                        const char *owner, int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    size_t i;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        for (k = 1; i + k < n && same_release(&v[i], &v[i + k]); k++)
            continue;
        code = release_run(ms, v + i, k, owner, now_ms, err);
    }
    return code;
}
