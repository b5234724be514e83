/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_claim.c - the relay's work on SQLite: claim due messages
 * under a lease (pick the ids through the msg_due index, lease them in one
 * UPDATE, load them and their steps in one join), record a step's call,
 * release a lease, end an owner's leases, count what is due.
 *
 * Must not: open or commit the claim's transaction (store.c does).
 * Threads: the handle's. Errors: as in store_sqlite.c.
 */
#include "store/store_sqlite_int.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/mem.h"

/* read_id_row, free_id_rows - sq_load_rows() of the ids in the first column. */
static int read_id_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    (void)err;
    *(int64_t *)slot = sqlite3_column_int64(st, 0);
    return 0;
}

static void free_id_rows(void *v, size_t n)
{
    (void)n;
    free(v);
}

/* claim_ids - the ids of up to @limit due, unleased messages, earliest first. */
static int claim_ids(struct sq_store *q, int64_t now_ms, size_t limit, int64_t **ids, size_t *n,
                     struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_CLAIM_IDS);

    sq_bind_int(&b, 1, now_ms);
    sq_bind_int(&b, 2, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    return sq_load_rows(q, &b, sizeof(**ids), read_id_row, free_id_rows, (void **)ids, n, err);
}

/* ids_json - @ids[0..@n) as the JSON array the claim statements read through json_each(). */
static void ids_json(struct mr_buf *b, const int64_t *ids, size_t n)
{
    size_t i;

    mr_buf_addc(b, '[');
    for (i = 0; i < n; i++)
        mr_buf_addf(b, i > 0 ? ",%lld" : "%lld", (long long)ids[i]);
    mr_buf_addc(b, ']');
}

/*
 * claim_load - run the bound ST_CLAIM_LOAD @b: one row per step (one with
 * NULL step columns for a message without steps), messages in claim order,
 * into @v (room for @nids), counting them in *len.
 */
/* The messages claim_load() reads, for claim_row(). */
struct claimed {
    struct mr_msg **v;
    size_t nids;
    size_t *len;
    struct mr_msg *m; /* the message of the last row */
    size_t cap;
};

/* claim_row - a (message, step) row: a new message when its id changes, then its step. */
static int claim_row(sqlite3_stmt *st, void *ctx, struct mr_err *err)
{
    struct claimed *c = ctx;
    int code;

    if (c->m == NULL || c->m->id != sqlite3_column_int64(st, 0)) {
        if (*c->len == c->nids)
            return mr_err_set(err, MR_ESTORE, "store: claim loaded more messages than it took");
        code = sq_read_msg(st, &c->v[*c->len], err);
        if (code != 0)
            return code;
        c->m = c->v[(*c->len)++];
        c->cap = 0;
    }
    if (sqlite3_column_type(st, MSG_NCOLS) == SQLITE_NULL)
        return 0;
    return sq_read_step(st, MSG_NCOLS, mr_store_step_add(c->m, &c->cap), err);
}

static int claim_load(struct sq_store *q, struct binder *b, struct mr_msg **v, size_t nids,
                      size_t *len, struct mr_err *err)
{
    struct claimed c = {.v = v, .nids = nids, .len = len};

    return sq_each_row(q, b, claim_row, &c, err);
}

/*
 * sq_claim - inside the transaction store.c opened for it: pick the ids,
 * lease them all in one UPDATE, and load the messages with their steps in one
 * join (a statement per message and another per message's steps cost more in
 * statement set-up than in reading rows).
 */
int sq_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
             size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct mr_buf json;
    struct mr_msg **v = NULL;
    int64_t *ids = NULL;
    size_t nids = 0;
    size_t len = 0;
    struct binder b;
    int code;

    code = claim_ids(q, now_ms, limit, &ids, &nids, err);
    if (code != 0 || nids == 0) {
        free(ids);
        return code;
    }
    /* an id takes at most 20 digits and a comma */
    mr_buf_init(&json, nids * 21 + 2);
    ids_json(&json, ids, nids);
    free(ids);
    b = sq_binder(q, ST_CLAIM_LEASE);
    sq_bind_text(&b, 1, json.p);
    sq_bind_text(&b, 2, owner);
    sq_bind_int(&b, 3, lease_until_ms);
    code = sq_run(q, &b, err);
    if (code == 0 && (size_t)sqlite3_changes(q->db) != nids)
        code = mr_err_set(err, MR_ESTORE, "store: claim leased %d of %zu messages",
                          sqlite3_changes(q->db), nids);
    if (code == 0) {
        v = mr_xcalloc(nids, sizeof(*v));
        b = sq_binder(q, ST_CLAIM_LOAD);
        sq_bind_text(&b, 1, json.p);
        code = claim_load(q, &b, v, nids, &len, err);
    }
    if (code == 0 && len != nids)
        code = mr_err_set(err, MR_ESTORE, "store: %zu claimed messages vanished", nids - len);
    mr_buf_release(&json);
    if (code != 0) {
        mr_store_msgs_free(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

/* sq_step_missing - why step @id was not recorded: MR_ECONFLICT (it exists) or MR_ENOENT. */
int sq_step_missing(struct sq_store *q, int64_t id, int *res, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_STEP_EXISTS);
    int code = 0;
    int rc;

    sq_bind_int(&b, 1, id);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW)
        *res = MR_ECONFLICT;
    else if (rc == SQLITE_DONE)
        *res = MR_ENOENT;
    else
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

int sq_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                   int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_STEP_RECORD);
    int res = 0;
    int code;

    sq_bind_int(&b, 1, step_id);
    sq_bind_int(&b, 2, success);
    sq_bind_int(&b, 3, now_ms);
    sq_bind_text_or_null(&b, 4, error);
    code = sq_run(q, &b, err);
    if (code != 0 || sqlite3_changes(q->db) > 0)
        return code;

    /* nothing changed: a missing step, or one whose message is no longer submitted */
    code = sq_step_missing(q, step_id, &res, err);
    if (code != 0)
        return code;
    if (res == MR_ECONFLICT)
        return mr_err_set(err, MR_ECONFLICT, "store: step %lld: its message is no longer submitted",
                          (long long)step_id);
    return mr_err_set(err, MR_ENOENT, "store: no step %lld", (long long)step_id);
}

int sq_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                   int interval, const char *result, int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELEASE);

    sq_bind_text(&b, 1, gid);
    sq_bind_text(&b, 2, owner);
    sq_bind_int(&b, 3, next_cron_ms);
    sq_bind_int(&b, 4, interval);
    sq_bind_text_or_null(&b, 5, result);
    sq_bind_int(&b, 6, now_ms);
    return sq_run(q, &b, err);
}

int sq_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELEASE_OWNER);

    /* one statement in autocommit mode: its own transaction */
    sq_bind_text(&b, 1, owner);
    return sq_run(q, &b, err);
}

int sq_count_due(struct mr_store *s, int64_t now_ms, int64_t limit, long *n, int64_t *oldest_ms,
                 struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_COUNT_DUE);
    int code = 0;
    int rc;

    sq_bind_int(&b, 1, now_ms);
    sq_bind_int(&b, 2, limit);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        *n = (long)sqlite3_column_int64(b.st, 0);
        *oldest_ms = (int64_t)sqlite3_column_int64(b.st, 1);
    } else {
        code = sq_fail(q->db, rc, err);
    }
    sq_done(b.st);
    return code;
}

int sq_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                   size_t limit, long *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_DUE_BY_DEST);
    int rc;

    /* one statement in autocommit mode: its own transaction */
    sq_bind_text(&b, 1, key);
    sq_bind_int(&b, 2, now_ms);
    sq_bind_int(&b, 3, spread_ms);
    sq_bind_int(&b, 4, (int64_t)limit);
    rc = sq_run(q, &b, err);
    if (rc == 0)
        *n = (long)sqlite3_changes(q->db);
    return rc;
}

/* state_int - the one integer statement @id answers for state @state. */
static int state_int(struct mr_store *s, enum stmt_id id, int state, long *v, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, id);

    sq_bind_text(&b, 1, mr_msg_state_name(state));
    return sq_read_int(q, &b, v, err);
}

int sq_count_state(struct mr_store *s, int state, long *n, struct mr_err *err)
{
    return state_int(s, ST_COUNT_STATE, state, n, err);
}

int sq_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err)
{
    long v = 0;
    int code = state_int(s, ST_OLDEST_STATE, state, &v, err);

    if (code == 0)
        *create_ms = (int64_t)v;
    return code;
}

int sq_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_QUERY_FAILED);

    sq_bind_text(&b, 1, gid);
    sq_bind_int(&b, 2, now_ms);
    return sq_run(q, &b, err);
}
