/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_claim.c - the relay's work on MySQL: claim due messages under a
 * lease (SELECT ... FOR UPDATE SKIP LOCKED, so concurrent claims by several
 * relays never take the same message and never wait for each other), record
 * a step's call, release a lease, end an owner's leases, count what is due.
 *
 * Must not: open or commit the claim's transaction (store.c does).
 * Threads: the handle's. Errors: as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/mem.h"

/*
 * my_claim - inside the transaction store.c opened for it: lock the due rows
 * (skipping rows another claim holds), lease them, load their steps.
 */
int my_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
             size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct mr_msg **v = NULL;
    size_t len = 0;
    size_t i;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    code = my_load_msgs(ms, ST_CLAIM, &v, &len, err);
    for (i = 0; code == 0 && i < len; i += IN_CHUNK) {
        my_p_reset(ms);
        my_p_text(ms, owner);
        my_p_int(ms, lease_until_ms);
        my_bind_ids(ms, v, len, i);
        code = my_exec_id(ms, ST_LEASE_IN, err);
    }
    for (i = 0; code == 0 && i < len; i++) {
        free(v[i]->owner);
        v[i]->owner = mr_xstrdup(owner);
        v[i]->lease_until_ms = lease_until_ms;
    }
    for (i = 0; code == 0 && i < len; i += IN_CHUNK)
        code = my_load_steps_in(ms, v, len, i, err);
    if (code != 0) {
        mr_store_msgs_free(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

/* exists_row - there is a row: *(bool *)@ctx. */
static int exists_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    (void)ms;
    (void)err;
    *(bool *)ctx = true;
    return 0;
}

/* step_exists - whether step @step_id is stored (into *yes). */
static int step_exists(struct my_store *ms, int64_t step_id, bool *yes, struct mr_err *err)
{
    *yes = false;
    my_p_reset(ms);
    my_p_int(ms, step_id);
    return my_each_row_id(ms, ST_STEP_EXISTS, "i", exists_row, yes, err);
}

int my_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                   int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    bool yes = false;
    int code;

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, success);
    my_p_int(ms, success);
    my_p_int(ms, now_ms);
    my_p_int(ms, success);
    my_p_text_or_null(ms, error);
    my_p_int(ms, step_id);
    code = my_exec_id(ms, ST_STEP_RECORD, err);
    if (code != 0 || my_changed(ms, ST_STEP_RECORD) > 0)
        return code;

    /* nothing changed: a missing step, or one whose message is no longer submitted */
    code = step_exists(ms, step_id, &yes, err);
    if (code != 0)
        return code;
    if (yes)
        return mr_err_set(err, MR_ECONFLICT, "store: step %lld: its message is no longer submitted",
                          (long long)step_id);
    return mr_err_set(err, MR_ENOENT, "store: no step %lld", (long long)step_id);
}

int my_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                   int interval, const char *result, int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_int(ms, next_cron_ms);
    my_p_int(ms, interval >= 0);
    my_p_int(ms, interval);
    my_p_text_or_null(ms, result);
    my_p_int(ms, now_ms);
    my_p_text(ms, gid);
    my_p_text(ms, owner);
    return my_exec_id(ms, ST_RELEASE, err);
}

int my_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    struct my_store *ms = my(s);

    /* one statement in autocommit mode: its own transaction */
    my_p_reset(ms);
    my_p_text(ms, owner);
    return my_exec_id(ms, ST_RELEASE_OWNER, err);
}

/* The two answers of ST_COUNT_DUE, for row_count_due(). */
struct count_due {
    long *n;
    int64_t *oldest_ms;
};

/* row_count_due - my_each_row() of ST_COUNT_DUE: the count and the oldest due time. */
static int row_count_due(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct count_due *c = ctx;

    (void)err;
    *c->n = (long)ms->row.v[0];
    *c->oldest_ms = (int64_t)ms->row.v[1];
    return 0;
}

int my_count_due(struct mr_store *s, int64_t now_ms, int64_t limit, long *n, int64_t *oldest_ms,
                 struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct count_due c = {.n = n, .oldest_ms = oldest_ms};

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, limit);
    return my_each_row_id(ms, ST_COUNT_DUE, "ii", row_count_due, &c, err);
}

int my_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                   size_t limit, long *n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int rc;

    /* one statement in autocommit mode: its own transaction */
    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, spread_ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms + spread_ms);
    my_p_text(ms, key);
    my_p_text(ms, key);
    my_p_int(ms, (int64_t)limit);
    rc = my_exec_id(ms, ST_DUE_BY_DEST, err);
    if (rc == 0)
        *n = (long)my_changed(ms, ST_DUE_BY_DEST);
    return rc;
}

/* state_int - the one integer statement @id answers for state @state. */
static int state_int(struct mr_store *s, enum stmt_id id, int state, long *v, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, mr_msg_state_name(state));
    return my_read_int(ms, id, v, err);
}

int my_count_state(struct mr_store *s, int state, long *n, struct mr_err *err)
{
    return state_int(s, ST_COUNT_STATE, state, n, err);
}

int my_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err)
{
    long v = 0;
    int code = state_int(s, ST_OLDEST_STATE, state, &v, err);

    if (code == 0)
        *create_ms = (int64_t)v;
    return code;
}

int my_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_text(ms, gid);
    return my_exec_id(ms, ST_QUERY_FAILED, err);
}
