/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_order.c - ordered delivery per key on MySQL/MariaDB: a key's
 * next place, a message's predecessor, its place and wait, and the wake-up of
 * a key's new head.
 *
 * Several writers and relays share the database, so the order of places must
 * be the order of commits: a place is taken by an upsert of the key's
 * order_key row, whose row lock holds until the commit, so a second
 * transaction on the key waits for the first to commit before it takes the
 * next place. The predecessor test is a current (locking) read, not the
 * transaction's snapshot, and the wake-up locks the key's row before it looks
 * for the new head: of a finish and a place racing on one key, the second to
 * take the key's row sees the first committed, so a message never waits for
 * a predecessor that finished unseen.
 *
 * Must not: decide what is placed or woken (store.c does). Threads: the
 * handle's. Errors: as in store_mysql.c (lock waits and deadlocks are
 * MR_EBUSY: the caller's transaction is tried again).
 */
#include "store/store_mysql_int.h"

#include <stdlib.h>

/* key_row - my_each_row() of ST_ORDER_OF: (key, place) into the struct key_pos. */
struct key_pos {
    char *key;
    int64_t pos;
};

static int key_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct key_pos *kp = ctx;

    (void)err;
    free(kp->key);
    kp->key = my_take_str(ms, 0);
    kp->pos = ms->row.v[1];
    return 0;
}

int my_order_of(struct mr_store *s, const char *gid, char **key, int64_t *pos,
                struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct key_pos kp = {0};
    int rc;

    my_p_reset(ms);
    my_p_text(ms, gid);
    rc = my_each_row(ms, ms->st[ST_ORDER_OF], "si", key_row, &kp, err);
    *key = kp.key;
    *pos = kp.pos;
    return rc;
}

int my_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int64_t v = 0;
    int rc;

    my_p_reset(ms);
    my_p_text(ms, key);
    rc = my_exec_id(ms, ST_ORDER_NEXT, err);
    /* the row stays locked (ours) until the commit */
    if (rc == 0)
        v = (int64_t)mysql_stmt_insert_id(ms->st[ST_ORDER_NEXT]);
    if (rc == 0 && v <= 0)
        rc = mr_err_set(err, MR_ESTORE, "store: ordering key's place not found");
    *pos = v;
    return rc;
}

/* gid_row - my_each_row() of a one-column gid query into *(char **)@ctx. */
static int gid_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    char **gid = ctx;

    (void)err;
    free(*gid);
    *gid = my_take_str(ms, 0);
    return 0;
}

int my_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                    struct mr_err *err)
{
    struct my_store *ms = my(s);

    *gid = NULL;
    my_p_reset(ms);
    my_p_text(ms, key);
    my_p_int(ms, pos);
    return my_each_row(ms, ms->st[ST_ORDER_BEFORE], "s", gid_row, gid, err);
}

int my_order_set(struct mr_store *s, const char *gid, int64_t pos, bool head, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_int(ms, pos);
    my_p_int(ms, head);
    my_p_int(ms, MR_ORDER_WAIT_MS);
    my_p_int(ms, head);
    my_p_int(ms, head);
    my_p_text(ms, gid);
    return my_exec_id(ms, ST_ORDER_SET, err);
}

int my_order_wake(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);
    char *key = NULL;
    int64_t pos = 0;
    long v = 0;
    long id = 0;
    int rc;

    rc = my_order_of(s, gid, &key, &pos, err);
    if (rc != 0 || key == NULL || key[0] == '\0') {
        free(key);
        return rc;
    }
    /* the key's row first: a place being taken on it commits before we look (file top) */
    my_p_reset(ms);
    my_p_text(ms, key);
    rc = my_read_int(ms, ms->st[ST_ORDER_POS], &v, err);
    if (rc == 0) {
        my_p_reset(ms);
        my_p_text(ms, key);
        rc = my_read_int(ms, ms->st[ST_ORDER_HEAD], &id, err);
    }
    free(key);
    if (rc != 0 || id == 0)
        return rc;
    my_p_reset(ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, now_ms);
    my_p_int(ms, id);
    my_p_int(ms, now_ms);
    return my_exec_id(ms, ST_ORDER_DUE, err);
}

int my_order_lock(struct mr_store *s, const char *key, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, key);
    return my_exec_id(ms, ST_ORDER_LOCK, err);
}
