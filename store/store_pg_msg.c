/* SPDX-License-Identifier: MIT */
/*
 * store_pg_msg.c - one message on PostgreSQL: read a message row and its
 * steps, insert a message with its steps (the batch insert of one), the
 * compare-and-set transition (the batch statement of one gid), the schedule,
 * and the admin list.
 *
 * Must not: check store.h's rules (store.c has) or log a transition.
 * Threads: the handle's. Errors: as in store_pg.c; a duplicate gid is
 * MR_EEXIST, nothing written and the transaction still usable.
 */
#include "store/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* pg_read_msg - the message in the current row of a MSG_COLS query. */
int pg_read_msg(struct pg_store *ps, struct mr_msg **out, struct mr_err *err)
{
    struct mr_msg *m = mr_msg_new(0);
    const char *parked;

    m->id = pg_int(ps, 0);
    m->gid = pg_take_str(ps, 1);
    m->state = mr_msg_state_parse(pg_str(ps, 2));
    if (m->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: message '%s' has unknown state '%s'", m->gid,
                   pg_str(ps, 2));
        mr_msg_free(m);
        return MR_ESTORE;
    }
    m->query_prepared = pg_take_str(ps, 3);
    m->protocol = pg_take_str(ps, 4);
    m->custom_data = pg_take_str(ps, 5);
    m->branch_headers = pg_take_str(ps, 6);
    m->concurrent = pg_int(ps, 7) != 0;
    m->wait_result = pg_int(ps, 8) != 0;
    m->timeout_to_fail = (int)pg_int(ps, 9);
    m->retry_interval = (int)pg_int(ps, 10);
    m->request_timeout = (int)pg_int(ps, 11);
    m->delay = (int)pg_int(ps, 12);
    m->create_ms = pg_int(ps, 13);
    m->update_ms = pg_int(ps, 14);
    m->finish_ms = pg_int(ps, 15);
    m->rollback_ms = pg_int(ps, 16);
    m->next_cron_ms = pg_int(ps, 17);
    m->next_cron_interval = (int)pg_int(ps, 18);
    m->owner = pg_take_str(ps, 19);
    m->lease_until_ms = pg_int(ps, 20);
    m->result = pg_take_str(ps, 21);
    m->retry_limit = (int)pg_int(ps, 22);
    m->query_attempts = (int)pg_int(ps, 23);
    parked = pg_str(ps, 24);
    m->parked_from = parked[0] != '\0' ? mr_msg_state_parse(parked) : MR_MSG_NONE;
    if (m->parked_from < 0)
        m->parked_from = MR_MSG_NONE;
    m->traceparent = pg_take_str(ps, 25);
    m->tracestate = pg_take_str(ps, 26);
    m->ordering_key = pg_take_str(ps, 27);
    m->order_pos = pg_int(ps, 28);
    *out = m;
    return 0;
}

/* pg_add_step - append the step in the current row of a STEP_COLS query to @m. */
int pg_add_step(struct pg_store *ps, struct mr_msg *m, size_t *cap, struct mr_err *err)
{
    struct mr_step *sp = mr_store_step_add(m, cap);

    sp->id = pg_int(ps, 1);
    sp->branch_id = pg_take_str(ps, 2);
    sp->url = pg_take_str(ps, 3);
    sp->payload = pg_take_bytes(ps, 4, &sp->payload_len);
    sp->state = mr_step_state_parse(pg_str(ps, 5));
    if (sp->state < 0)
        return mr_err_set(err, MR_ESTORE, "store: step %lld has unknown state '%s'",
                          (long long)sp->id, pg_str(ps, 5));
    sp->attempts = (int)pg_int(ps, 6);
    sp->last_error = pg_take(ps, 7);
    sp->create_ms = pg_int(ps, 8);
    sp->update_ms = pg_int(ps, 9);
    sp->finish_ms = pg_int(ps, 10);
    return 0;
}

/* read_msg_row, free_msg_rows - pg_load_rows() of messages (struct mr_msg *, no steps). */
static int read_msg_row(struct pg_store *ps, void *slot, struct mr_err *err)
{
    return pg_read_msg(ps, slot, err);
}

static void free_msg_rows(void *v, size_t n)
{
    mr_store_msgs_free(v, n);
}

/* pg_load_msgs - run the bound MSG_COLS query @id into a new array (no steps). */
int pg_load_msgs(struct pg_store *ps, enum stmt_id id, struct mr_msg ***out, size_t *n,
                 struct mr_err *err)
{
    return pg_load_rows(ps, id, sizeof(**out), read_msg_row, free_msg_rows, (void **)out, n, err);
}

int pg_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
               struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct mr_msg **v = NULL;
    size_t n = 0;
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, gid);
    code = pg_load_msgs(ps, ST_MSG_BY_GID, &v, &n, err);
    if (code != 0 || n == 0)
        return code;
    if (with_steps)
        code = pg_load_steps_in(ps, v, 1, err);
    if (code == 0) {
        *out = v[0];
        v[0] = NULL;
    }
    mr_store_msgs_free(v, n);
    return code;
}

/* pg_msg_insert - the batch insert of one message: MR_EEXIST (nothing written) for its gid. */
int pg_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    int code = pg_msg_insert_many(s, &m, 1, err);

    if (code == MR_EEXIST)
        return mr_err_set(err, MR_EEXIST, "store: message '%s' already exists", m->gid);
    return code;
}

/* The size of a state name read back, with its NUL. */
#define STATE_NAME_MAX 32

/* state_row - a state row into the STATE_NAME_MAX bytes at @ctx. */
static int state_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    (void)err;
    snprintf(ctx, STATE_NAME_MAX, "%s", pg_str(ps, 0));
    return 0;
}

int pg_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                      int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    const struct mr_store_tr t = {.gids = &gid,
                                  .from = from,
                                  .to = to,
                                  .now_ms = now_ms,
                                  .next_cron_ms = next_cron_ms,
                                  .next_cron_interval = next_cron_interval};
    char state[STATE_NAME_MAX] = "";
    bool changed = false;
    int code;

    code = pg_msg_transition_many(s, &t, 1, &changed, err);
    if (code != 0 || changed)
        return code;

    /* nothing changed: tell a missing message from one in another state */
    pg_p_reset(ps);
    pg_p_text(ps, gid);
    code = pg_each_row(ps, ST_MSG_STATE, state_row, state, err);
    if (code != 0)
        return code;
    if (state[0] == '\0')
        return mr_err_set(err, MR_ENOENT, "store: no message '%s'", gid);
    return mr_err_set(err, MR_ECONFLICT, "store: message '%s' is '%s', not '%s'", gid, state,
                      mr_msg_state_name(from));
}

int pg_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                    int64_t now_ms, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    pg_p_reset(ps);
    pg_p_int(ps, next_cron_ms);
    pg_p_int(ps, interval);
    pg_p_int(ps, now_ms);
    pg_p_text(ps, gid);
    code = pg_exec(ps, ST_SCHEDULE, err);
    if (code == 0 && pg_changed(ps) == 0)
        return mr_err_set(err, MR_ENOENT, "store: no unfinished message '%s'", gid);
    return code;
}

/*
 * pg_msg_list - one of four fixed statements by which filter narrows most
 * (mr_store_list_by()). Unset bounds bind as the widest range.
 */
int pg_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                size_t *n, struct mr_err *err)
{
    static const enum stmt_id by[] = {ST_LIST_ALL, ST_LIST_GID, ST_LIST_PREFIX, ST_LIST_STATE};
    struct pg_store *ps = pg(s);
    enum stmt_id id = by[mr_store_list_by(f)];

    pg_p_reset(ps);
    if (id == ST_LIST_GID || id == ST_LIST_PREFIX)
        pg_p_text(ps, id == ST_LIST_GID ? f->gid : f->gid_prefix);
    if (id != ST_LIST_ALL)
        pg_p_text(ps, mr_msg_state_name(f->state));
    pg_p_int(ps, f->position > 0 ? f->position : INT64_MAX);
    pg_p_int(ps, f->create_from_ms);
    pg_p_int(ps, f->create_to_ms > 0 ? f->create_to_ms : INT64_MAX);
    pg_p_int(ps, f->limit == 0 || f->limit > INT64_MAX ? INT64_MAX : (int64_t)f->limit);
    return pg_load_msgs(ps, id, out, n, err);
}
