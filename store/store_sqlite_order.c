/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_order.c - ordered delivery per key on SQLite: a key's next
 * place (the order_key row), a message's predecessor, its place and wait, and
 * the wake-up of a key's new head. SQLite holds the whole database from
 * mr_store_begin(), so a place and the commit that makes it visible come in
 * one order without further locks.
 *
 * Must not: decide what is placed or woken (store.c does). Threads: the
 * handle's. Errors: as in store_sqlite.c.
 */
#include "store/store_sqlite_int.h"

#include <stdlib.h>

int sq_order_of(struct mr_store *s, const char *gid, char **key, int64_t *pos,
                struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_ORDER_OF);
    int code = 0;
    int rc;

    *key = NULL;
    *pos = 0;
    sq_bind_text(&b, 1, gid);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        *key = sq_col_str(b.st, 0);
        *pos = sqlite3_column_int64(b.st, 1);
    } else if (rc != SQLITE_DONE) {
        code = sq_fail(q->db, rc, err);
    }
    sq_done(b.st);
    return code;
}

int sq_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_ORDER_NEXT);
    long v = 0;
    int code;

    sq_bind_text(&b, 1, key);
    code = sq_read_int(q, &b, &v, err);
    *pos = v;
    return code;
}

int sq_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                    struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_ORDER_BEFORE);
    int code = 0;
    int rc;

    *gid = NULL;
    sq_bind_text(&b, 1, key);
    sq_bind_int(&b, 2, pos);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW)
        *gid = sq_col_str(b.st, 0);
    else if (rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

int sq_order_set(struct mr_store *s, const char *gid, int64_t pos, bool head, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_ORDER_SET);

    sq_bind_text(&b, 1, gid);
    sq_bind_int(&b, 2, pos);
    sq_bind_int(&b, 3, head);
    sq_bind_int(&b, 4, MR_ORDER_WAIT_MS);
    return sq_run(q, &b, err);
}

int sq_order_wake(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_ORDER_WAKE);

    sq_bind_text(&b, 1, gid);
    sq_bind_int(&b, 2, now_ms);
    return sq_run(q, &b, err);
}
