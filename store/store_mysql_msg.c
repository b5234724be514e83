/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_msg.c - one message on MySQL: read a message row and its steps,
 * insert a message with its steps (multi-row step INSERTs, ids numbered or
 * read back), the compare-and-set transition, the schedule, and the admin
 * list.
 *
 * Must not: check store.h's rules (store.c has) or log a transition.
 * Threads: the handle's. Errors: as in store_mysql.c; a duplicate gid is
 * MR_EEXIST.
 */
#include "store/store_mysql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysqld_error.h>

#include "common/buf.h"
#include "common/mem.h"

/* my_read_msg - the message in the current row of a MSG_COLS query. */
int my_read_msg(struct my_store *ms, struct mr_msg **out, struct mr_err *err)
{
    struct row *r = &ms->row;
    struct mr_msg *m = mr_msg_new(0);
    char *state;

    m->id = r->v[0];
    m->gid = my_take_str(ms, 1);
    state = my_take_str(ms, 2);
    m->state = mr_msg_state_parse(state);
    if (m->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: message '%s' has unknown state '%s'", m->gid, state);
        free(state);
        mr_msg_free(m);
        return MR_ESTORE;
    }
    free(state);
    m->query_prepared = my_take_str(ms, 3);
    m->protocol = my_take_str(ms, 4);
    m->custom_data = my_take_str(ms, 5);
    m->branch_headers = my_take_str(ms, 6);
    m->concurrent = r->v[7] != 0;
    m->wait_result = r->v[8] != 0;
    m->timeout_to_fail = (int)r->v[9];
    m->retry_interval = (int)r->v[10];
    m->request_timeout = (int)r->v[11];
    m->delay = (int)r->v[12];
    m->create_ms = r->v[13];
    m->update_ms = r->v[14];
    m->finish_ms = r->v[15];
    m->rollback_ms = r->v[16];
    m->next_cron_ms = r->v[17];
    m->next_cron_interval = (int)r->v[18];
    m->owner = my_take_str(ms, 19);
    m->lease_until_ms = r->v[20];
    m->result = my_take_str(ms, 21);
    m->retry_limit = (int)r->v[22];
    m->query_attempts = (int)r->v[23];
    state = my_take_str(ms, 24);
    m->parked_from = state[0] != '\0' ? mr_msg_state_parse(state) : MR_MSG_NONE;
    free(state);
    if (m->parked_from < 0)
        m->parked_from = MR_MSG_NONE;
    m->traceparent = my_take_str(ms, 25);
    m->tracestate = my_take_str(ms, 26);
    m->ordering_key = my_take_str(ms, 27);
    m->order_pos = r->v[28];
    *out = m;
    return 0;
}

/* my_add_step - append the step in the current row of a STEP_COLS query to @m. */
int my_add_step(struct my_store *ms, struct mr_msg *m, size_t *cap, struct mr_err *err)
{
    struct row *r = &ms->row;
    struct mr_step *sp;
    char *state;

    sp = mr_store_step_add(m, cap);
    sp->id = r->v[1];
    sp->branch_id = my_take_str(ms, 2);
    sp->url = my_take_str(ms, 3);
    sp->payload_len = r->null[4] ? 0 : (size_t)r->len[4];
    sp->payload = my_take_str(ms, 4);
    state = my_take_str(ms, 5);
    sp->state = mr_step_state_parse(state);
    if (sp->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: step %lld has unknown state '%s'", (long long)sp->id,
                   state);
        free(state);
        return MR_ESTORE;
    }
    free(state);
    sp->attempts = (int)r->v[6];
    sp->last_error = my_take(ms, 7);
    sp->create_ms = r->v[8];
    sp->update_ms = r->v[9];
    sp->finish_ms = r->v[10];
    return 0;
}

/* A message whose steps load_steps() attaches, for steps_row(). */
struct msg_steps {
    struct mr_msg *m;
    size_t cap;
};

/* steps_row - a step row to the message. */
static int steps_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct msg_steps *c = ctx;

    return my_add_step(ms, c->m, &c->cap, err);
}

/* load_steps - attach @m's steps, in id (= branch insert) order. */
static int load_steps(struct my_store *ms, struct mr_msg *m, struct mr_err *err)
{
    struct msg_steps c = {.m = m};

    my_p_reset(ms);
    my_p_int(ms, m->id);
    return my_each_row_id(ms, ST_STEPS, STEP_LAYOUT, steps_row, &c, err);
}

/* read_msg_row, free_msg_rows - my_load_rows() of messages (struct mr_msg *, no steps). */
static int read_msg_row(struct my_store *ms, void *slot, struct mr_err *err)
{
    return my_read_msg(ms, slot, err);
}

static void free_msg_rows(void *v, size_t n)
{
    mr_store_msgs_free(v, n);
}

/* my_load_msgs - run the bound MSG_COLS query @id into a new array (no steps; NULL, 0 on
   failure). */
int my_load_msgs(struct my_store *ms, enum stmt_id id, struct mr_msg ***out, size_t *n,
                 struct mr_err *err)
{
    MYSQL_STMT *st;
    int code = my_st(ms, id, &st, err);

    *out = NULL;
    *n = 0;
    if (code != 0)
        return code;
    return my_load_rows(ms, st, MSG_LAYOUT, sizeof(**out), read_msg_row, free_msg_rows,
                        (void **)out, n, err);
}

/*
 * my_p_transition - the parameters every state-change UPDATE starts with: new state,
 * the times it sets, the schedule (when @next_cron_ms >= 0), and the lease: ended
 * on a final state, else set to @lease_owner until @lease_until_ms when that is
 * not NULL, else kept. One list for the single and the batched statement.
 */
void my_p_transition(struct my_store *ms, int to, int64_t now_ms, int64_t next_cron_ms,
                     int next_cron_interval, const char *lease_owner, int64_t lease_until_ms)
{
    bool final = !mr_msg_state_is_live(to);
    bool lease = !final && lease_owner != NULL;

    my_p_text(ms, mr_msg_state_name(to)); /* parked_from: the old state when parking */
    my_p_text(ms, mr_msg_state_name(to));
    my_p_int(ms, now_ms);
    my_p_int(ms, to == MR_MSG_SUCCEED);
    my_p_int(ms, now_ms);
    my_p_int(ms, to == MR_MSG_FAILED);
    my_p_int(ms, now_ms);
    my_p_int(ms, next_cron_ms >= 0);
    my_p_int(ms, next_cron_ms);
    my_p_int(ms, next_cron_ms >= 0);
    my_p_int(ms, next_cron_interval);
    my_p_int(ms, final || lease);
    my_p_text(ms, lease ? lease_owner : "");
    my_p_int(ms, final || lease);
    my_p_int(ms, lease ? lease_until_ms : 0);
}

int my_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
               struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct mr_msg **v = NULL;
    size_t n = 0;
    int code;

    my_p_reset(ms);
    my_p_text(ms, gid);
    code = my_load_msgs(ms, ST_MSG_BY_GID, &v, &n, err);
    if (code != 0 || n == 0)
        return code;
    if (with_steps)
        code = load_steps(ms, v[0], err);
    if (code == 0) {
        *out = v[0];
        v[0] = NULL;
    }
    mr_store_msgs_free(v, n);
    return code;
}

/* step_insert_stmt - the INSERT of @k step rows, prepared at its first use. */
static int step_insert_stmt(struct my_store *ms, size_t k, MYSQL_STMT **out, struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    size_t i;
    int code;

    if (ms->ins[k] != NULL) {
        *out = ms->ins[k];
        return 0;
    }
    mr_buf_adds(&sql, "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, "
                      "last_error, create_time, update_time, finish_time, dest) VALUES ");
    for (i = 0; i < k; i++)
        mr_buf_adds(&sql, i > 0 ? ", " STEP_ROW : STEP_ROW);
    code = my_prepare(ms, sql.p, &ms->ins[k], err);
    mr_buf_release(&sql);
    *out = ms->ins[k];
    return code;
}

/* step_id_row - an id row: the id of the next step (@ctx: struct msg_steps, cap counts). */
static int step_id_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct msg_steps *c = ctx;

    (void)err;
    if (c->cap < c->m->nsteps)
        c->m->steps[c->cap].id = ms->row.v[0];
    c->cap++;
    return 0;
}

/* step_ids_read_back - each step's id, read back in id order (when ids may have gaps). */
static int step_ids_read_back(struct my_store *ms, struct mr_msg *m, struct mr_err *err)
{
    struct msg_steps c = {.m = m};
    int code;

    my_p_reset(ms);
    my_p_int(ms, m->id);
    /* a multi-row INSERT numbers its rows in increasing order, even with gaps */
    code = my_each_row_id(ms, ST_STEP_IDS, "i", step_id_row, &c, err);
    if (code == 0 && c.cap != m->nsteps)
        code = mr_err_set(err, MR_ESTORE, "store: message '%s': %zu steps written, %zu read back",
                          m->gid, m->nsteps, c.cap);
    return code;
}

/* my_bind_step - the STEP_PARAMS parameters of step @sp of message @msg_id. */
void my_bind_step(struct my_store *ms, int64_t msg_id, const struct mr_step *sp)
{
    my_p_int(ms, msg_id);
    my_p_text(ms, sp->branch_id);
    my_p_text(ms, sp->url);
    my_p_bytes(ms, MYSQL_TYPE_BLOB, sp->payload, sp->payload != NULL ? sp->payload_len : 0);
    my_p_text(ms, mr_step_state_name(sp->state));
    my_p_int(ms, sp->attempts);
    my_p_text_or_null(ms, sp->last_error);
    my_p_int(ms, sp->create_ms);
    my_p_int(ms, sp->update_ms);
    my_p_int(ms, sp->finish_ms);
    my_p_text_or_null(ms, sp->dest);
}

/* insert_steps - @m's steps, STEP_CHUNK rows per statement. */
static int insert_steps(struct my_store *ms, struct mr_msg *m, struct mr_err *err)
{
    size_t i;
    size_t j;
    int code;

    for (i = 0; i < m->nsteps; i += STEP_CHUNK) {
        size_t k = m->nsteps - i < STEP_CHUNK ? m->nsteps - i : STEP_CHUNK;
        MYSQL_STMT *st;
        int64_t first;

        code = step_insert_stmt(ms, k, &st, err);
        if (code != 0)
            return code;
        my_p_reset(ms);
        for (j = i; j < i + k; j++)
            my_bind_step(ms, m->id, &m->steps[j]);
        code = my_exec(ms, st, err);
        if (code != 0)
            return code;
        first = (int64_t)mysql_stmt_insert_id(st);
        for (j = 0; j < k; j++)
            m->steps[i + j].id = first + (int64_t)j * ms->id_step;
    }
    if (!ms->ids_consecutive && m->nsteps > 0)
        return step_ids_read_back(ms, m, err);
    return 0;
}

/* my_bind_msg - the MSG_PARAMS parameters of message @m's row. */
void my_bind_msg(struct my_store *ms, const struct mr_msg *m)
{
    my_p_text(ms, m->gid);
    my_p_text(ms, mr_msg_state_name(m->state));
    my_p_text(ms, m->query_prepared);
    my_p_text(ms, m->protocol != NULL ? m->protocol : "http");
    my_p_text(ms, m->custom_data);
    my_p_text(ms, m->branch_headers);
    my_p_int(ms, m->concurrent);
    my_p_int(ms, m->wait_result);
    my_p_int(ms, m->timeout_to_fail);
    my_p_int(ms, m->retry_interval);
    my_p_int(ms, m->request_timeout);
    my_p_int(ms, m->delay);
    my_p_int(ms, m->create_ms);
    my_p_int(ms, m->update_ms);
    my_p_int(ms, m->finish_ms);
    my_p_int(ms, m->rollback_ms);
    my_p_int(ms, m->next_cron_ms);
    my_p_int(ms, m->next_cron_interval);
    my_p_text(ms, m->result);
    my_p_text(ms, m->owner);
    my_p_int(ms, m->lease_until_ms);
    my_p_int(ms, m->retry_limit);
    my_p_text(ms, m->traceparent);
    my_p_text(ms, m->tracestate);
    my_p_text_or_null(ms, m->query_dest);
    my_p_text(ms, m->ordering_key != NULL ? m->ordering_key : "");
}

/*
 * my_msg_insert - the message row, then its steps in multi-row INSERTs. Each
 * statement is atomic on its own; should the steps fail, the message row is
 * deleted again (taking any steps with it), so a failed insert writes nothing
 * and the caller's batch (group commit) goes on.
 */
int my_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st;
    size_t i;
    int code;

    my_p_reset(ms);
    my_bind_msg(ms, m);
    code = my_st(ms, ST_MSG_INSERT, &st, err);
    if (code != 0)
        return code;
    code = my_exec(ms, st, err);
    if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
        return mr_err_set(err, MR_EEXIST, "store: message '%s' already exists", m->gid);
    if (code != 0)
        return code;
    m->id = (int64_t)mysql_stmt_insert_id(st);

    code = insert_steps(ms, m, err);
    if (code == 0)
        return 0;
    if (code != MR_EBUSY && code != MR_EUNAVAIL) {
        /* the transaction is still alive: undo the message row (the steps cascade) */
        my_p_reset(ms);
        my_p_int(ms, m->id);
        if (my_exec_id(ms, ST_MSG_DELETE, NULL) != 0)
            ms->tx_lost = true; /* could not undo: the caller must roll back */
    }
    m->id = 0;
    for (i = 0; i < m->nsteps; i++)
        m->steps[i].id = 0;
    return code;
}

/* The size of a state name read back, with its NUL. */
#define STATE_NAME_MAX 32

/* state_row - a state row into the STATE_NAME_MAX bytes at @ctx. */
static int state_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    (void)err;
    snprintf(ctx, STATE_NAME_MAX, "%s", ms->row.s[0] != NULL ? ms->row.s[0] : "");
    return 0;
}

/* read_state - the stored state of @gid into @state; "" when there is none. */
static int read_state(struct my_store *ms, const char *gid, char state[STATE_NAME_MAX],
                      struct mr_err *err)
{
    state[0] = '\0';
    my_p_reset(ms);
    my_p_text(ms, gid);
    return my_each_row_id(ms, ST_MSG_STATE, "s", state_row, state, err);
}

int my_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                      int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    struct my_store *ms = my(s);
    char state[STATE_NAME_MAX];
    int code;

    my_p_reset(ms);
    my_p_transition(ms, to, now_ms, next_cron_ms, next_cron_interval, NULL, 0);
    my_p_text(ms, gid);
    my_p_text(ms, mr_msg_state_name(from));
    code = my_exec_id(ms, ST_TRANSITION, err);
    if (code != 0 || my_changed(ms, ST_TRANSITION) > 0)
        return code;

    /* nothing changed: tell a missing message from one in another state */
    code = read_state(ms, gid, state, err);
    if (code != 0)
        return code;
    if (state[0] == '\0')
        return mr_err_set(err, MR_ENOENT, "store: no message '%s'", gid);
    return mr_err_set(err, MR_ECONFLICT, "store: message '%s' is '%s', not '%s'", gid, state,
                      mr_msg_state_name(from));
}

int my_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                    int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_int(ms, next_cron_ms);
    my_p_int(ms, interval >= 0);
    my_p_int(ms, interval);
    my_p_int(ms, now_ms);
    my_p_text(ms, gid);
    return my_exec_changing(ms, ST_SCHEDULE, MR_ENOENT, err, "store: no unfinished message '%s'",
                            gid);
}

/*
 * my_msg_list - one of four fixed statements by which filter narrows most
 * (mr_store_list_by()). Unset bounds bind as the widest range.
 */
int my_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                size_t *n, struct mr_err *err)
{
    static const enum stmt_id by[] = {ST_LIST_ALL, ST_LIST_GID, ST_LIST_PREFIX, ST_LIST_STATE};
    struct my_store *ms = my(s);
    enum stmt_id id = by[mr_store_list_by(f)];

    my_p_reset(ms);
    if (id == ST_LIST_GID) {
        my_p_text(ms, f->gid);
        my_p_text(ms, mr_msg_state_name(f->state));
    } else if (id == ST_LIST_PREFIX) {
        my_p_text(ms, f->gid_prefix);
        my_p_text(ms, f->gid_prefix);
        my_p_text(ms, mr_msg_state_name(f->state));
    }
    if (id != ST_LIST_ALL)
        my_p_text(ms, mr_msg_state_name(f->state));
    my_p_int(ms, f->position > 0 ? f->position : INT64_MAX);
    my_p_int(ms, f->create_from_ms);
    my_p_int(ms, f->create_to_ms > 0 ? f->create_to_ms : INT64_MAX);
    my_p_int(ms, f->limit == 0 || f->limit > INT64_MAX ? INT64_MAX : (int64_t)f->limit);
    return my_load_msgs(ms, id, out, n, err);
}
