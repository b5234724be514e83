/* SPDX-License-Identifier: MIT */
/*
 * store_pg_claim.c - the relay's work on PostgreSQL: claim due messages under
 * a lease (one statement: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent
 * claims by several relays never take the same message and never wait for
 * each other, and the UPDATE that leases what it locked), record a step's
 * call, release a lease, end an owner's leases, count what is due.
 *
 * Must not: open or commit the claim's transaction (store.c does).
 * Threads: the handle's. Errors: as in store_pg.c.
 */
#include "store/store_pg_int.h"

#include <stdint.h>
#include <stdlib.h>

/* pg_claim - inside the transaction store.c opened for it: lock, lease, load the steps. */
int pg_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
             size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct mr_msg **v = NULL;
    size_t len = 0;
    int code;

    pg_p_reset(ps);
    pg_p_int(ps, now_ms);
    pg_p_int(ps, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    pg_p_text(ps, owner);
    pg_p_int(ps, lease_until_ms);
    code = pg_load_msgs(ps, ST_CLAIM, &v, &len, err);
    if (code == 0)
        code = pg_load_steps_in(ps, v, len, err);
    if (code != 0) {
        mr_store_msgs_free(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

int pg_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                   int64_t now_ms, struct mr_err *err)
{
    int res = 0;
    int code = pg_steps_record(pg(s), &step_id, 1, success, error, now_ms, &res, err);

    if (code != 0 || res == 0)
        return code;
    if (res == MR_ECONFLICT)
        return mr_err_set(err, MR_ECONFLICT, "store: step %lld: its message is no longer submitted",
                          (long long)step_id);
    return mr_err_set(err, MR_ENOENT, "store: no step %lld", (long long)step_id);
}

int pg_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                   int interval, const char *result, int64_t now_ms, struct mr_err *err)
{
    const struct mr_store_release r = {
        .gid = gid, .next_cron_ms = next_cron_ms, .interval = interval, .result = result};

    return pg_msg_release_many(s, &r, 1, owner, now_ms, err);
}

int pg_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    /* one statement outside a transaction: its own */
    pg_p_reset(ps);
    pg_p_text(ps, owner);
    return pg_exec(ps, ST_RELEASE_OWNER, err);
}

/* The two answers of ST_COUNT_DUE, for row_count_due(). */
struct count_due {
    long *n;
    int64_t *oldest_ms;
};

/* row_count_due - pg_each_row() of ST_COUNT_DUE: the count and the oldest due time. */
static int row_count_due(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct count_due *c = ctx;

    (void)err;
    *c->n = (long)pg_int(ps, 0);
    *c->oldest_ms = pg_int(ps, 1);
    return 0;
}

int pg_count_due(struct mr_store *s, int64_t now_ms, int64_t limit, long *n, int64_t *oldest_ms,
                 struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct count_due c = {.n = n, .oldest_ms = oldest_ms};

    pg_p_reset(ps);
    pg_p_int(ps, now_ms);
    pg_p_int(ps, limit);
    return pg_each_row(ps, ST_COUNT_DUE, row_count_due, &c, err);
}

int pg_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                   size_t limit, long *n, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    /* one statement outside a transaction: its own */
    pg_p_reset(ps);
    pg_p_int(ps, now_ms);
    pg_p_int(ps, spread_ms);
    pg_p_text(ps, key);
    pg_p_int(ps, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    code = pg_exec(ps, ST_DUE_BY_DEST, err);
    if (code == 0)
        *n = (long)pg_changed(ps);
    return code;
}

/* state_int - the one integer statement @id answers for state @state. */
static int state_int(struct mr_store *s, enum stmt_id id, int state, long *v, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_text(ps, mr_msg_state_name(state));
    return pg_read_int(ps, id, v, err);
}

int pg_count_state(struct mr_store *s, int state, long *n, struct mr_err *err)
{
    return state_int(s, ST_COUNT_STATE, state, n, err);
}

int pg_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err)
{
    long v = 0;
    int code = state_int(s, ST_OLDEST_STATE, state, &v, err);

    if (code == 0)
        *create_ms = (int64_t)v;
    return code;
}

int pg_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_int(ps, now_ms);
    pg_p_text(ps, gid);
    return pg_exec(ps, ST_QUERY_FAILED, err);
}
