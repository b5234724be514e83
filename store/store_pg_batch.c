/* SPDX-License-Identifier: MIT */
/*
 * store_pg_batch.c - the batch forms of store.h on PostgreSQL (group commit):
 * get, insert, transition, step results and release of many messages, one
 * statement per MR_STORE_BATCH_CHUNK rows with the rows as array parameters
 * ("= ANY($1::text[])", "unnest(...)"; the SQL text is fixed), and loading
 * the steps of many messages at once. The single-row forms of store_pg_msg.c
 * and store_pg_claim.c are these with one row.
 *
 * Must not: check store.h's rules (store.c has) or log a transition.
 * Threads: the handle's. Errors: as in store_pg.c.
 */
#include "store/store_pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* A chunk of messages whose steps pg_load_steps_in() attaches, for step_row(). */
struct steps_in {
    struct mr_msg **v;
    size_t k;
    size_t cur;
    size_t caps[MR_STORE_BATCH_CHUNK];
};

/* step_row - a step row to its message: rows come grouped by msg_id, the chunk in its own order. */
static int step_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct steps_in *c = ctx;
    int64_t msg_id = pg_int(ps, 0);
    size_t tries;

    /* the owner is usually the last one */
    for (tries = 0; tries < c->k && c->v[c->cur]->id != msg_id; tries++)
        c->cur = (c->cur + 1) % c->k;
    if (c->v[c->cur]->id != msg_id)
        return mr_err_set(err, MR_ESTORE, "store: step of unrequested message %lld",
                          (long long)msg_id);
    return pg_add_step(ps, c->v[c->cur], &c->caps[c->cur], err);
}

/* pg_load_steps_in - the steps of @v[0..@n) (none loaded yet), each message's in id order. */
int pg_load_steps_in(struct pg_store *ps, struct mr_msg **v, size_t n, struct mr_err *err)
{
    int64_t ids[MR_STORE_BATCH_CHUNK];
    struct steps_in c;
    size_t i;
    size_t j;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += c.k) {
        memset(&c, 0, sizeof(c));
        c.v = v + i;
        c.k = mr_store_chunk(n, i);
        for (j = 0; j < c.k; j++)
            ids[j] = c.v[j]->id;
        pg_p_reset(ps);
        pg_p_ids(ps, ids, c.k);
        code = pg_each_row(ps, ST_STEPS_IN, step_row, &c, err);
    }
    return code;
}

/* get_row - a message row into the slot of its gid (@ctx: struct mr_store_found). */
static int get_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct mr_msg *m;
    int code = pg_read_msg(ps, &m, err);

    if (code == 0)
        mr_store_found_put(ctx, m);
    return code;
}

int pg_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                    struct mr_msg **out, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct mr_store_found c;
    size_t i;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += c.k) {
        memset(&c, 0, sizeof(c));
        c.gids = gids + i;
        c.k = mr_store_chunk(n, i);
        c.out = out + i;
        pg_p_reset(ps);
        pg_p_texts(ps, c.gids, c.k);
        code = pg_each_row(ps, ST_GET_IN, get_row, &c, err);
        if (code == 0 && with_steps && c.nfound > 0)
            code = pg_load_steps_in(ps, c.found, c.nfound, err);
    }
    return code;
}

/* p_columns - the @n column arrays at @cols as the statement's parameters, in order. */
static void p_columns(struct pg_store *ps, struct mr_buf *cols, size_t n)
{
    size_t i;

    pg_p_reset(ps);
    for (i = 0; i < n; i++)
        pg_p_array(ps, &cols[i]);
}

/* msg_columns - message @m as one more element of each of the MSG_PARAMS column arrays. */
static void msg_columns(struct mr_buf *c, const struct mr_msg *m)
{
    pg_arr_text(&c[0], m->gid);
    pg_arr_text(&c[1], mr_msg_state_name(m->state));
    pg_arr_text(&c[2], m->query_prepared != NULL ? m->query_prepared : "");
    pg_arr_text(&c[3], m->protocol != NULL ? m->protocol : "http");
    pg_arr_text(&c[4], m->custom_data != NULL ? m->custom_data : "");
    pg_arr_text(&c[5], m->branch_headers != NULL ? m->branch_headers : "");
    pg_arr_int(&c[6], m->concurrent);
    pg_arr_int(&c[7], m->wait_result);
    pg_arr_int(&c[8], m->timeout_to_fail);
    pg_arr_int(&c[9], m->retry_interval);
    pg_arr_int(&c[10], m->request_timeout);
    pg_arr_int(&c[11], m->delay);
    pg_arr_int(&c[12], m->create_ms);
    pg_arr_int(&c[13], m->update_ms);
    pg_arr_int(&c[14], m->finish_ms);
    pg_arr_int(&c[15], m->rollback_ms);
    pg_arr_int(&c[16], m->next_cron_ms);
    pg_arr_int(&c[17], m->next_cron_interval);
    pg_arr_text(&c[18], m->result != NULL ? m->result : "");
    pg_arr_text(&c[19], m->owner != NULL ? m->owner : "");
    pg_arr_int(&c[20], m->lease_until_ms);
    pg_arr_int(&c[21], m->retry_limit);
    pg_arr_text(&c[22], m->traceparent != NULL ? m->traceparent : "");
    pg_arr_text(&c[23], m->tracestate != NULL ? m->tracestate : "");
    pg_arr_text(&c[24], m->query_dest);
    pg_arr_text(&c[25], m->ordering_key != NULL ? m->ordering_key : "");
}

/* step_columns - step @sp of message @msg_id as one more element of each STEP_PARAMS array. */
static void step_columns(struct mr_buf *c, int64_t msg_id, const struct mr_step *sp)
{
    pg_arr_int(&c[0], msg_id);
    pg_arr_text(&c[1], sp->branch_id != NULL ? sp->branch_id : "");
    pg_arr_text(&c[2], sp->url != NULL ? sp->url : "");
    pg_arr_hex(&c[3], sp->payload, sp->payload != NULL ? sp->payload_len : 0);
    pg_arr_text(&c[4], mr_step_state_name(sp->state));
    pg_arr_int(&c[5], sp->attempts);
    pg_arr_text(&c[6], sp->last_error);
    pg_arr_int(&c[7], sp->create_ms);
    pg_arr_int(&c[8], sp->update_ms);
    pg_arr_int(&c[9], sp->finish_ms);
    pg_arr_text(&c[10], sp->dest);
}

/* columns_init - @n empty column arrays. */
static void columns_init(struct mr_buf *cols, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        mr_buf_init(&cols[i], MR_BUF_UNBOUNDED);
}

/* One chunk of new messages, for msg_id_row(). */
struct new_msgs {
    struct mr_msg *const *v;
    const char *gids[MR_STORE_BATCH_CHUNK];
    size_t k;
    size_t got;
};

/* msg_id_row - an (id, gid) row of the INSERT: the id of the message of that gid. */
static int msg_id_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct new_msgs *c = ctx;
    size_t j = mr_store_gid_at(c->gids, c->k, pg_str(ps, 1));

    (void)err;
    if (j < c->k && c->v[j]->id == 0) {
        c->v[j]->id = pg_int(ps, 0);
        c->got++;
    }
    return 0;
}

/* insert_msg_rows - the message rows of @v, one INSERT per chunk; sets each m->id. */
static int insert_msg_rows(struct pg_store *ps, struct mr_msg *const *v, size_t n,
                           struct mr_err *err)
{
    struct mr_buf cols[MSG_PARAMS];
    struct new_msgs c;
    size_t i;
    size_t j;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += c.k) {
        memset(&c, 0, sizeof(c));
        c.v = v + i;
        c.k = mr_store_chunk(n, i);
        columns_init(cols, MSG_PARAMS);
        for (j = 0; j < c.k; j++) {
            c.v[j]->id = 0;
            c.gids[j] = c.v[j]->gid;
            msg_columns(cols, c.v[j]);
        }
        p_columns(ps, cols, MSG_PARAMS);
        code = pg_each_row(ps, ST_MSG_INSERT, msg_id_row, &c, err);
        /* a gid stored already (or twice in the batch) was skipped */
        if (code == 0 && c.got != c.k)
            code = mr_err_set(err, MR_EEXIST, "store: a message of the batch already exists");
    }
    return code;
}

/* One chunk of new steps, for step_id_row(). */
struct new_steps {
    struct mr_step *rows[MR_STORE_BATCH_CHUNK];
    int64_t msg_ids[MR_STORE_BATCH_CHUNK];
    size_t k;
    size_t got;
};

/* step_id_row - an (id, msg_id, branch_id) row of the INSERT: the id of that step. */
static int step_id_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct new_steps *c = ctx;
    int64_t msg_id = pg_int(ps, 1);
    size_t j;

    (void)err;
    for (j = 0; j < c->k; j++) {
        if (c->rows[j]->id == 0 && c->msg_ids[j] == msg_id &&
            strcmp(c->rows[j]->branch_id != NULL ? c->rows[j]->branch_id : "", pg_str(ps, 2)) ==
                0) {
            c->rows[j]->id = pg_int(ps, 0);
            c->got++;
            break;
        }
    }
    return 0;
}

/* insert_step_rows - the steps of every message of @v, one INSERT per chunk; sets their ids. */
static int insert_step_rows(struct pg_store *ps, struct mr_msg *const *v, size_t n,
                            struct mr_err *err)
{
    struct mr_buf cols[STEP_PARAMS];
    struct new_steps c;
    size_t total = 0;
    size_t mi = 0; /* the message and step of the next row */
    size_t si = 0;
    size_t done;
    size_t i;
    int code = 0;

    for (i = 0; i < n; i++)
        total += v[i]->nsteps;
    for (done = 0; code == 0 && done < total; done += c.k) {
        memset(&c, 0, sizeof(c));
        c.k = mr_store_chunk(total, done);
        columns_init(cols, STEP_PARAMS);
        for (i = 0; i < c.k; i++) {
            while (si >= v[mi]->nsteps) {
                mi++;
                si = 0;
            }
            c.rows[i] = &v[mi]->steps[si++];
            c.rows[i]->id = 0;
            c.msg_ids[i] = v[mi]->id;
            step_columns(cols, v[mi]->id, c.rows[i]);
        }
        p_columns(ps, cols, STEP_PARAMS);
        code = pg_each_row(ps, ST_STEP_INSERT, step_id_row, &c, err);
        if (code == 0 && c.got != c.k)
            code = mr_err_set(err, MR_ESTORE,
                              "postgres: a message repeats a step's branch id (%zu of %zu "
                              "steps written)",
                              c.got, c.k);
    }
    return code;
}

/*
 * undo_msgs - after a step the INSERT skipped, delete the messages of @v just
 * written (their steps cascade) and forget their ids, so the call wrote
 * nothing; the transaction goes on. When that fails too, it is lost.
 */
static void undo_msgs(struct pg_store *ps, struct mr_msg *const *v, size_t n)
{
    int64_t ids[MR_STORE_BATCH_CHUNK];
    size_t i;
    size_t j;
    size_t k;

    for (i = 0; i < n; i += k) {
        k = mr_store_chunk(n, i);
        for (j = 0; j < k; j++)
            ids[j] = v[i + j]->id;
        pg_p_reset(ps);
        pg_p_ids(ps, ids, k);
        if (ps->tx_lost == 0 && pg_exec(ps, ST_MSG_DELETE, NULL) != 0 && ps->tx_lost == 0)
            ps->tx_lost = MR_ESTORE;
    }
    for (i = 0; i < n; i++) {
        v[i]->id = 0;
        for (j = 0; j < v[i]->nsteps; j++)
            v[i]->steps[j].id = 0;
    }
}

/*
 * pg_msg_insert_many - every message row, then every step row, one INSERT
 * per MR_STORE_BATCH_CHUNK rows, the ids read from RETURNING. A gid already
 * stored is skipped by the INSERT (ON CONFLICT DO NOTHING) and reported as
 * MR_EEXIST, so a lone insert of one writes nothing and leaves the
 * transaction usable; so is a repeated step, after which the messages are
 * deleted again (MR_ESTORE, nothing written).
 */
int pg_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    code = insert_msg_rows(ps, v, n, err);
    if (code == 0)
        code = insert_step_rows(ps, v, n, err);
    if (code == MR_ESTORE && ps->tx_lost == 0)
        undo_msgs(ps, v, n);
    return code;
}

/* The rows a transition changed, for changed_row(). */
struct marks {
    const char *const *gids;
    const int64_t *ids; /* not NULL: the rows are named, and returned, by id */
    size_t k;
    bool *changed;
};

/* changed_row - a gid (or id) row of the UPDATE: mark its position. */
static int changed_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct marks *c = ctx;
    size_t at = c->k;
    size_t j;

    (void)err;
    if (c->ids == NULL) {
        at = mr_store_gid_at(c->gids, c->k, pg_str(ps, 0));
    } else {
        int64_t id = pg_int(ps, 0);

        for (j = 0; j < c->k && at == c->k; j++) {
            if (c->ids[j] == id)
                at = j;
        }
    }
    if (at < c->k)
        c->changed[at] = true;
    return 0;
}

/*
 * pg_msg_transition_many - one UPDATE per chunk, which returns the gids (or
 * ids) it moved: the state test is part of its WHERE, which PostgreSQL
 * evaluates again on a row another transaction changed meanwhile, so what it
 * returns is what changed. A lease goes in the same UPDATE.
 */
int pg_msg_transition_many(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                           bool *changed, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    bool final = !mr_msg_state_is_live(t->to);
    bool lease = !final && t->lease_owner != NULL;
    struct marks c;
    size_t i;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += c.k) {
        c.gids = t->gids + i;
        c.ids = t->ids != NULL ? t->ids + i : NULL;
        c.k = mr_store_chunk(n, i);
        c.changed = changed + i;
        memset(c.changed, 0, c.k * sizeof(*c.changed));
        pg_p_reset(ps);
        pg_p_text(ps, mr_msg_state_name(t->to));
        pg_p_int(ps, t->now_ms);
        pg_p_int(ps, t->to == MR_MSG_SUCCEED);
        pg_p_int(ps, t->to == MR_MSG_FAILED);
        pg_p_int(ps, t->next_cron_ms >= 0);
        pg_p_int(ps, t->next_cron_ms);
        pg_p_int(ps, t->next_cron_interval);
        pg_p_int(ps, final || lease); /* a final state ends the lease */
        pg_p_text(ps, lease ? t->lease_owner : "");
        pg_p_int(ps, lease ? t->lease_until_ms : 0);
        pg_p_text(ps, mr_msg_state_name(t->from));
        if (c.ids != NULL)
            pg_p_ids(ps, c.ids, c.k);
        else
            pg_p_texts(ps, c.gids, c.k);
        code = pg_each_row(ps, c.ids != NULL ? ST_TRANSITION_IDS : ST_TRANSITION, changed_row, &c,
                           err);
    }
    return code;
}

/* The results steps_record() sets, for result_row(). */
struct results {
    const int64_t *ids;
    size_t k;
    int *res;
    int val;
};

/* result_row - an id row: its position's result, unless 0 already, becomes the mark. */
static int result_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct results *c = ctx;
    int64_t id = pg_int(ps, 0);
    size_t j;

    (void)err;
    for (j = 0; j < c->k; j++) {
        if (c->ids[j] == id && c->res[j] != 0)
            c->res[j] = c->val;
    }
    return 0;
}

/*
 * pg_steps_record - one call of each step @ids[0..@n) (success, or a failure
 * with @error), one UPDATE per chunk returning the steps it wrote; res[i] is
 * 0 for those, else MR_ECONFLICT (the step's message is no longer submitted)
 * or MR_ENOENT (no such step), told apart by one more read.
 */
int pg_steps_record(struct pg_store *ps, const int64_t *ids, size_t n, bool success,
                    const char *error, int64_t now_ms, int *res, struct mr_err *err)
{
    struct results c;
    size_t i;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += c.k) {
        size_t j;

        c.ids = ids + i;
        c.k = mr_store_chunk(n, i);
        c.res = res + i;
        for (j = 0; j < c.k; j++)
            c.res[j] = MR_ENOENT;
        c.val = 0;
        pg_p_reset(ps);
        pg_p_int(ps, now_ms);
        pg_p_int(ps, success);
        pg_p_text_or_null(ps, error);
        pg_p_ids(ps, c.ids, c.k);
        code = pg_each_row(ps, ST_STEP_RECORD, result_row, &c, err);
        if (code != 0 || pg_changed(ps) >= c.k)
            continue;
        /* those not written: stored (their message moved on) or missing */
        c.val = MR_ECONFLICT;
        pg_p_reset(ps);
        pg_p_ids(ps, c.ids, c.k);
        code = pg_each_row(ps, ST_STEPS_EXIST, result_row, &c, err);
    }
    return code;
}

int pg_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n, int64_t now_ms,
                         int *res, struct mr_err *err)
{
    return pg_steps_record(pg(s), step_ids, n, true, NULL, now_ms, res, err);
}

/* pg_msg_release_many - one UPDATE per chunk, each item's values as one element of each array. */
int pg_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                        const char *owner, int64_t now_ms, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct mr_buf cols[4];
    size_t i;
    size_t j;
    size_t k;
    int code = 0;

    for (i = 0; code == 0 && i < n; i += k) {
        k = mr_store_chunk(n, i);
        columns_init(cols, 4);
        for (j = i; j < i + k; j++) {
            pg_arr_text(&cols[0], v[j].gid);
            pg_arr_int(&cols[1], v[j].next_cron_ms);
            pg_arr_int(&cols[2], v[j].interval);
            pg_arr_text(&cols[3], v[j].result);
        }
        p_columns(ps, cols, 4);
        pg_p_int(ps, now_ms);
        pg_p_text(ps, owner);
        code = pg_exec(ps, ST_RELEASE, err);
    }
    return code;
}
