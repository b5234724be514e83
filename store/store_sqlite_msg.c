/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_msg.c - one message on SQLite: read a message row and its
 * steps, insert a message with its steps (under a savepoint, so a failed
 * insert writes nothing and the caller's batch goes on), the compare-and-set
 * transition, the schedule, and the admin list.
 *
 * Must not: check store.h's rules (store.c has) or log a transition.
 * Threads: the handle's. Errors: as in store_sqlite.c; a duplicate gid is
 * MR_EEXIST.
 */
#include "store/store_sqlite_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* sq_read_msg - the message in the current row of a MSG_COLS query. */
int sq_read_msg(sqlite3_stmt *st, struct mr_msg **out, struct mr_err *err)
{
    struct mr_msg *m = mr_msg_new(0);
    const char *state = (const char *)sqlite3_column_text(st, 2);

    m->id = sqlite3_column_int64(st, 0);
    m->gid = sq_col_str(st, 1);
    m->state = mr_msg_state_parse(state != NULL ? state : "");
    if (m->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: message '%s' has unknown state '%s'", m->gid,
                   state != NULL ? state : "");
        mr_msg_free(m);
        return MR_ESTORE;
    }
    m->query_prepared = sq_col_str(st, 3);
    m->protocol = sq_col_str(st, 4);
    m->custom_data = sq_col_str(st, 5);
    m->branch_headers = sq_col_str(st, 6);
    m->concurrent = sqlite3_column_int(st, 7) != 0;
    m->wait_result = sqlite3_column_int(st, 8) != 0;
    m->timeout_to_fail = sqlite3_column_int(st, 9);
    m->retry_interval = sqlite3_column_int(st, 10);
    m->request_timeout = sqlite3_column_int(st, 11);
    m->delay = sqlite3_column_int(st, 12);
    m->create_ms = sqlite3_column_int64(st, 13);
    m->update_ms = sqlite3_column_int64(st, 14);
    m->finish_ms = sqlite3_column_int64(st, 15);
    m->rollback_ms = sqlite3_column_int64(st, 16);
    m->next_cron_ms = sqlite3_column_int64(st, 17);
    m->next_cron_interval = sqlite3_column_int(st, 18);
    m->owner = sq_col_str(st, 19);
    m->lease_until_ms = sqlite3_column_int64(st, 20);
    m->result = sq_col_str(st, 21);
    m->retry_limit = sqlite3_column_int(st, 22);
    m->query_attempts = sqlite3_column_int(st, 23);
    state = (const char *)sqlite3_column_text(st, 24);
    m->parked_from = state != NULL && state[0] != '\0' ? mr_msg_state_parse(state) : MR_MSG_NONE;
    if (m->parked_from < 0)
        m->parked_from = MR_MSG_NONE;
    m->traceparent = sq_col_str(st, 25);
    m->tracestate = sq_col_str(st, 26);
    m->ordering_key = sq_col_str(st, 27);
    m->order_pos = sqlite3_column_int64(st, 28);
    *out = m;
    return 0;
}

/*
 * sq_read_step - the step in the current row of a query whose step columns (in
 * ST_STEPS's order) start at column @c into @sp (zeroed).
 */
int sq_read_step(sqlite3_stmt *st, int c, struct mr_step *sp, struct mr_err *err)
{
    const void *payload;
    const char *state = (const char *)sqlite3_column_text(st, c + 4);

    sp->id = sqlite3_column_int64(st, c);
    sp->branch_id = sq_col_str(st, c + 1);
    sp->url = sq_col_str(st, c + 2);
    /* column_blob before column_bytes: the order SQLite documents as safe */
    payload = sqlite3_column_blob(st, c + 3);
    sp->payload_len = (size_t)sqlite3_column_bytes(st, c + 3);
    if (payload == NULL)
        sp->payload_len = 0;
    sp->payload = mr_xstrndup(payload != NULL ? payload : "", sp->payload_len);
    sp->state = mr_step_state_parse(state != NULL ? state : "");
    if (sp->state < 0) {
        return mr_err_set(err, MR_ESTORE, "store: step %lld has unknown state '%s'",
                          (long long)sp->id, state != NULL ? state : "");
    }
    sp->attempts = sqlite3_column_int(st, c + 5);
    if (sqlite3_column_type(st, c + 6) != SQLITE_NULL)
        sp->last_error = sq_col_str(st, c + 6);
    sp->create_ms = sqlite3_column_int64(st, c + 7);
    sp->update_ms = sqlite3_column_int64(st, c + 8);
    sp->finish_ms = sqlite3_column_int64(st, c + 9);
    return 0;
}

/* A message whose steps load_steps() attaches, for step_row(). */
struct msg_steps {
    struct mr_msg *m;
    size_t cap;
};

/* step_row - a step row to the message. */
static int step_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    struct msg_steps *c = ctx;

    return sq_read_step(st, 0, mr_store_step_add(c->m, &c->cap), err);
}

/* load_steps - attach @m's steps, in id (= branch insert) order. */
static int load_steps(struct sq_store *q, struct mr_msg *m, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_STEPS);
    struct msg_steps c = {.m = m};

    sq_bind_int(&b, 1, m->id);
    return sq_each_row(q, &b, step_row, &c, err);
}

/*
 * load_one - run the bound single-message query @b; *out is the message (with
 * steps when @with_steps) or NULL when there is no row.
 */
static int load_one(struct sq_store *q, struct binder *b, bool with_steps, struct mr_msg **out,
                    struct mr_err *err)
{
    struct mr_msg *m = NULL;
    int rc = sq_step(b);
    int code;

    *out = NULL;
    if (rc == SQLITE_DONE) {
        sq_done(b->st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        code = sq_fail(q->db, rc, err);
        sq_done(b->st);
        return code;
    }
    code = sq_read_msg(b->st, &m, err);
    sq_done(b->st);
    if (code == 0 && with_steps)
        code = load_steps(q, m, err);
    if (code != 0) {
        mr_msg_free(m);
        return code;
    }
    *out = m;
    return 0;
}

/* read_msg_row, free_msg_rows - sq_load_rows() of messages (struct mr_msg *, no steps). */
static int read_msg_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    return sq_read_msg(st, slot, err);
}

static void free_msg_rows(void *v, size_t n)
{
    mr_store_msgs_free(v, n);
}

int sq_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
               struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_MSG_BY_GID);

    sq_bind_text(&b, 1, gid);
    return load_one(q, &b, with_steps, out, err);
}

/* sq_insert_rows - the INSERTs of sq_msg_insert(), inside its savepoint. */
int sq_insert_rows(struct sq_store *q, struct mr_msg *m, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_MSG_INSERT);
    size_t i;
    int code;
    int rc;

    sq_bind_text(&b, 1, m->gid);
    sq_bind_text(&b, 2, mr_msg_state_name(m->state));
    sq_bind_text(&b, 3, m->query_prepared);
    sq_bind_text(&b, 4, m->protocol != NULL ? m->protocol : "http");
    sq_bind_text(&b, 5, m->custom_data);
    sq_bind_text(&b, 6, m->branch_headers);
    sq_bind_int(&b, 7, m->concurrent);
    sq_bind_int(&b, 8, m->wait_result);
    sq_bind_int(&b, 9, m->timeout_to_fail);
    sq_bind_int(&b, 10, m->retry_interval);
    sq_bind_int(&b, 11, m->request_timeout);
    sq_bind_int(&b, 12, m->delay);
    sq_bind_int(&b, 13, m->create_ms);
    sq_bind_int(&b, 14, m->update_ms);
    sq_bind_int(&b, 15, m->finish_ms);
    sq_bind_int(&b, 16, m->rollback_ms);
    sq_bind_int(&b, 17, m->next_cron_ms);
    sq_bind_int(&b, 18, m->next_cron_interval);
    sq_bind_text(&b, 19, m->result);
    sq_bind_text(&b, 20, m->owner);
    sq_bind_int(&b, 21, m->lease_until_ms);
    sq_bind_int(&b, 22, m->retry_limit);
    sq_bind_text(&b, 23, m->traceparent);
    sq_bind_text(&b, 24, m->tracestate);
    sq_bind_text_or_null(&b, 25, m->query_dest);
    sq_bind_text(&b, 26, m->ordering_key != NULL ? m->ordering_key : "");
    rc = sq_step(&b);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        sq_done(b.st);
        return mr_err_set(err, MR_EEXIST, "store: message '%s' already exists", m->gid);
    }
    if (rc != SQLITE_DONE) {
        code = sq_fail(q->db, rc, err);
        sq_done(b.st);
        return code;
    }
    sq_done(b.st);
    m->id = sqlite3_last_insert_rowid(q->db);

    for (i = 0; i < m->nsteps; i++) {
        struct mr_step *sp = &m->steps[i];

        b = sq_binder(q, ST_STEP_INSERT);
        sq_bind_int(&b, 1, m->id);
        sq_bind_text(&b, 2, sp->branch_id);
        sq_bind_text(&b, 3, sp->url);
        sq_bind_blob(&b, 4, sp->payload, sp->payload_len);
        sq_bind_text(&b, 5, mr_step_state_name(sp->state));
        sq_bind_int(&b, 6, sp->attempts);
        sq_bind_text_or_null(&b, 7, sp->last_error);
        sq_bind_int(&b, 8, sp->create_ms);
        sq_bind_int(&b, 9, sp->update_ms);
        sq_bind_int(&b, 10, sp->finish_ms);
        sq_bind_text_or_null(&b, 11, sp->dest);
        code = sq_run(q, &b, err);
        if (code != 0)
            return code;
        sp->id = sqlite3_last_insert_rowid(q->db);
    }
    return 0;
}

/*
 * sq_msg_insert - the message row and its steps under a savepoint, so a failed
 * insert writes nothing and the caller's batch (group commit) goes on.
 */
int sq_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t i;
    int code;
    int rel;

    code = sq_exec_stmt(q, ST_SAVEPOINT, err);
    if (code != 0)
        return code;
    code = sq_insert_rows(q, m, err);
    if (code != 0) {
        sq_exec_stmt(q, ST_ROLLBACK_SP, NULL);
        m->id = 0;
        for (i = 0; i < m->nsteps; i++)
            m->steps[i].id = 0;
    }
    /* after ROLLBACK TO, RELEASE just drops the savepoint */
    rel = sq_exec_stmt(q, ST_RELEASE_SP, code == 0 ? err : NULL);
    return code != 0 ? code : rel;
}

/*
 * sq_bind_transition - ?2..?9 of TRANSITION_SET's statements: @from, @to, the
 * times and schedule, and the lease (@lease_owner NULL keeps it). One list for
 * the single and the batched statement.
 */
void sq_bind_transition(struct binder *b, int from, int to, int64_t now_ms, int64_t next_cron_ms,
                        int next_cron_interval, const char *lease_owner, int64_t lease_until_ms)
{
    sq_bind_text(b, 2, mr_msg_state_name(from));
    sq_bind_text(b, 3, mr_msg_state_name(to));
    sq_bind_int(b, 4, now_ms);
    sq_bind_int(b, 5, next_cron_ms);
    sq_bind_int(b, 6, next_cron_interval);
    sq_bind_int(b, 7, !mr_msg_state_is_live(to));
    sq_bind_text_or_null(b, 8, lease_owner);
    sq_bind_int(b, 9, lease_until_ms);
}

int sq_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                      int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_TRANSITION);
    const char *state;
    int code;
    int rc;

    sq_bind_text(&b, 1, gid);
    sq_bind_transition(&b, from, to, now_ms, next_cron_ms, next_cron_interval, NULL, 0);
    code = sq_run(q, &b, err);
    if (code != 0)
        return code;
    if (sqlite3_changes(q->db) > 0)
        return 0;

    /* nothing changed: tell a missing message from one in another state */
    b = sq_binder(q, ST_MSG_STATE);
    sq_bind_text(&b, 1, gid);
    rc = sq_step(&b);
    if (rc == SQLITE_DONE) {
        sq_done(b.st);
        return mr_err_set(err, MR_ENOENT, "store: no message '%s'", gid);
    }
    if (rc != SQLITE_ROW) {
        code = sq_fail(q->db, rc, err);
        sq_done(b.st);
        return code;
    }
    state = (const char *)sqlite3_column_text(b.st, 0);
    code = mr_err_set(err, MR_ECONFLICT, "store: message '%s' is '%s', not '%s'", gid,
                      state != NULL ? state : "", mr_msg_state_name(from));
    sq_done(b.st);
    return code;
}

int sq_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                    int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_SCHEDULE);

    sq_bind_text(&b, 1, gid);
    sq_bind_int(&b, 2, next_cron_ms);
    sq_bind_int(&b, 3, interval);
    sq_bind_int(&b, 4, now_ms);
    return sq_run_changing(q, &b, MR_ENOENT, err, "store: no unfinished message '%s'", gid);
}

/*
 * sq_msg_list - one of four fixed statements by which filter narrows most
 * (mr_store_list_by()). Unset bounds bind as the widest range.
 */
int sq_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                size_t *n, struct mr_err *err)
{
    static const enum stmt_id by[] = {ST_LIST_ALL, ST_LIST_GID, ST_LIST_PREFIX, ST_LIST_STATE};
    struct sq_store *q = sq(s);
    enum stmt_id id = by[mr_store_list_by(f)];
    struct binder b = sq_binder(q, id);

    if (id == ST_LIST_GID || id == ST_LIST_PREFIX)
        sq_bind_text(&b, 1, id == ST_LIST_GID ? f->gid : f->gid_prefix);
    if (id != ST_LIST_ALL)
        sq_bind_text(&b, 2, mr_msg_state_name(f->state));
    sq_bind_int(&b, 3, f->position > 0 ? f->position : INT64_MAX);
    sq_bind_int(&b, 4, f->create_from_ms);
    sq_bind_int(&b, 5, f->create_to_ms > 0 ? f->create_to_ms : INT64_MAX);
    /* LIMIT -1 is no limit in SQLite */
    sq_bind_int(&b, 6, f->limit == 0 || f->limit > INT64_MAX ? -1 : (int64_t)f->limit);
    return sq_load_rows(q, &b, sizeof(**out), read_msg_row, free_msg_rows, (void **)out, n, err);
}
