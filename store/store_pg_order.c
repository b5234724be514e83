/* SPDX-License-Identifier: MIT */
/*
 * store_pg_order.c - ordered delivery per key on PostgreSQL: a key's next
 * place, a message's predecessor, its place and wait, and the wake-up of a
 * key's new head.
 *
 * Several writers and relays share the database, so the order of places must
 * be the order of commits: a place is taken by an upsert of the key's
 * order_key row, whose row lock holds until the commit, so a second
 * transaction on the key waits for the first to commit before it takes the
 * next place. The wake-up locks the key's row before it looks for the new
 * head. Under READ COMMITTED every statement reads a snapshot taken when it
 * starts, so the statements that follow the key's lock see every transaction
 * that held it before: of a finish and a place racing on one key, the second
 * to take the key's row sees the first committed, and a message never waits
 * for a predecessor that finished unseen. The predecessor test is therefore
 * a plain read (a share lock on the predecessor would wait for a finisher
 * that waits for our key's row).
 *
 * Must not: decide what is placed or woken (store.c does). Threads: the
 * handle's. Errors: as in store_pg.c (lock waits and deadlocks are MR_EBUSY:
 * the caller's transaction is tried again).
 */
#include "store/store_pg_int.h"

#include <stdlib.h>

/* key_row - pg_each_row() of ST_ORDER_OF: (key, place) into the struct key_pos. */
struct key_pos {
    char *key;
    int64_t pos;
};

static int key_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct key_pos *kp = ctx;

    (void)err;
    free(kp->key);
    kp->key = pg_take_str(ps, 0);
    kp->pos = pg_int(ps, 1);
    return 0;
}

int pg_order_of(struct mr_store *s, const char *gid, char **key, int64_t *pos, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    struct key_pos kp = {0};
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, gid);
    code = pg_each_row(ps, ST_ORDER_OF, key_row, &kp, err);
    *key = kp.key;
    *pos = kp.pos;
    return code;
}

int pg_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    long v = 0;
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, key);
    code = pg_read_int(ps, ST_ORDER_NEXT, &v, err);
    if (code == 0 && v <= 0)
        code = mr_err_set(err, MR_ESTORE, "store: ordering key's place not found");
    *pos = v;
    return code;
}

/* gid_row - pg_each_row() of a one-column gid query into *(char **)@ctx. */
static int gid_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    char **gid = ctx;

    (void)err;
    free(*gid);
    *gid = pg_take_str(ps, 0);
    return 0;
}

int pg_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                    struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    *gid = NULL;
    pg_p_reset(ps);
    pg_p_text(ps, key);
    pg_p_int(ps, pos);
    return pg_each_row(ps, ST_ORDER_BEFORE, gid_row, gid, err);
}

int pg_order_set(struct mr_store *s, const char *gid, int64_t pos, bool head, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_text(ps, gid);
    pg_p_int(ps, pos);
    pg_p_int(ps, head);
    pg_p_int(ps, MR_ORDER_WAIT_MS);
    return pg_exec(ps, ST_ORDER_SET, err);
}

int pg_order_wake(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    char *key = NULL;
    int code;

    /* the key's row first: a place being taken on it commits before we look (file top) */
    pg_p_reset(ps);
    pg_p_text(ps, gid);
    code = pg_each_row(ps, ST_ORDER_KEY_LOCK, gid_row, &key, err);
    if (code == 0 && key != NULL) {
        pg_p_reset(ps);
        pg_p_text(ps, key);
        pg_p_int(ps, now_ms);
        code = pg_exec(ps, ST_ORDER_WAKE, err);
    }
    free(key);
    return code;
}

int pg_order_lock(struct mr_store *s, const char *key, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_text(ps, key);
    return pg_exec(ps, ST_ORDER_LOCK, err);
}
