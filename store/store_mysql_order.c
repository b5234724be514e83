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
 * The new messages of a batch insert are placed a chunk at a time
 * (my_order_place_new): under the keys' locks, taken before the insert, the
 * keys' last places and which keys an unfinished message holds are read
 * once (plain reads: the session is READ COMMITTED, so each statement reads
 * every commit made before it, and no commit on the keys can come between),
 * the chunk numbered in order, and its places and waits written in three
 * statements.
 *
 * Must not: decide what is placed or woken (store.c does). Threads: the
 * handle's. Errors: as in store_mysql.c (lock waits and deadlocks are
 * MR_EBUSY: the caller's transaction is tried again).
 */
#include "store/store_mysql_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

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
    rc = my_each_row_id(ms, ST_ORDER_OF, "si", key_row, &kp, err);
    *key = kp.key;
    *pos = kp.pos;
    return rc;
}

int my_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st;
    int64_t v = 0;
    int rc;

    my_p_reset(ms);
    my_p_text(ms, key);
    rc = my_st(ms, ST_ORDER_NEXT, &st, err);
    if (rc == 0)
        rc = my_exec(ms, st, err);
    /* the row stays locked (ours) until the commit */
    if (rc == 0)
        v = (int64_t)mysql_stmt_insert_id(st);
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
    return my_each_row_id(ms, ST_ORDER_BEFORE, "s", gid_row, gid, err);
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
    rc = my_read_int(ms, ST_ORDER_POS, &v, err);
    if (rc == 0) {
        my_p_reset(ms);
        my_p_text(ms, key);
        rc = my_read_int(ms, ST_ORDER_HEAD, &id, err);
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

/* One chunk of new keyed messages being placed (my_order_place_new): its distinct keys, each
   key's last place and whether an unfinished placed message holds it. */
struct place_chunk {
    struct mr_msg *m[IN_CHUNK];
    size_t n;
    const char *keys[IN_CHUNK];
    int64_t next[IN_CHUNK];
    bool found[IN_CHUNK];
    bool live[IN_CHUNK];
    size_t nkeys;
};

/* chunk_key - the index of @key among @c's keys, nkeys when absent. */
static size_t chunk_key(const struct place_chunk *c, const char *key)
{
    size_t i = 0;

    while (i < c->nkeys && strcmp(c->keys[i], key) != 0)
        i++;
    return i;
}

/* bind_texts - @v[0..@n) as IN_CHUNK text parameters, padded with the last one. */
static void bind_texts(struct my_store *ms, const char *const *v, size_t n)
{
    size_t j;

    for (j = 0; j < IN_CHUNK; j++)
        my_p_text(ms, v[j < n ? j : n - 1]);
}

/* bind_ints - @v[0..@n) as IN_CHUNK integer parameters, padded with the last one. */
static void bind_ints(struct my_store *ms, const int64_t *v, size_t n)
{
    size_t j;

    for (j = 0; j < IN_CHUNK; j++)
        my_p_int(ms, v[j < n ? j : n - 1]);
}

/* next_row - my_each_row() of ST_ORDER_KEYS_IN: a key's last place. */
static int next_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct place_chunk *c = ctx;
    char *key = my_take_str(ms, 0);
    size_t i = chunk_key(c, key);

    (void)err;
    if (i < c->nkeys) {
        c->next[i] = ms->row.v[1];
        c->found[i] = true;
    }
    free(key);
    return 0;
}

/* live_row - my_each_row() of ST_ORDER_LIVE_IN: a key an unfinished placed message holds. */
static int live_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct place_chunk *c = ctx;
    char *key = my_take_str(ms, 0);
    size_t i = chunk_key(c, key);

    (void)err;
    if (i < c->nkeys)
        c->live[i] = true;
    free(key);
    return 0;
}

/*
 * place_chunk - place @c's messages: read the keys' last places and which
 * keys are held (the keys' rows are ours, so both read every commit made on
 * them; the chunk's own messages have no place yet and do not count), number
 * the messages in order, write their places, their waits and the keys' last
 * places.
 */
static int place_chunk(struct my_store *ms, struct place_chunk *c, struct mr_err *err)
{
    const char *gids[IN_CHUNK];
    const char *waiting[IN_CHUNK];
    int64_t pos[IN_CHUNK];
    size_t nwait = 0;
    size_t i;
    size_t j;
    int rc;

    for (i = 0; i < c->n; i++) {
        j = chunk_key(c, c->m[i]->ordering_key);
        if (j == c->nkeys)
            c->keys[c->nkeys++] = c->m[i]->ordering_key;
    }
    my_p_reset(ms);
    bind_texts(ms, c->keys, c->nkeys);
    rc = my_each_row_id(ms, ST_ORDER_KEYS_IN, "si", next_row, c, err);
    for (j = 0; rc == 0 && j < c->nkeys; j++) {
        if (!c->found[j])
            rc = mr_err_set(err, MR_ESTORE, "store: ordering key's place not found");
    }
    if (rc == 0) {
        my_p_reset(ms);
        bind_texts(ms, c->keys, c->nkeys);
        rc = my_each_row_id(ms, ST_ORDER_LIVE_IN, "s", live_row, c, err);
    }
    if (rc != 0)
        return rc;
    for (i = 0; i < c->n; i++) {
        struct mr_msg *m = c->m[i];

        j = chunk_key(c, m->ordering_key);
        m->order_pos = ++c->next[j];
        gids[i] = m->gid;
        pos[i] = m->order_pos;
        if (c->live[j]) {
            /* behind an unfinished message: it waits, unleased (as place_new) */
            m->next_cron_ms = MR_ORDER_WAIT_MS;
            m->lease_until_ms = 0;
            free(m->owner);
            m->owner = mr_xstrdup("");
            waiting[nwait++] = m->gid;
        }
        c->live[j] = true;
    }
    my_p_reset(ms);
    bind_texts(ms, gids, c->n);
    bind_ints(ms, pos, c->n);
    bind_texts(ms, gids, c->n);
    rc = my_exec_id(ms, ST_ORDER_POS_IN, err);
    if (rc == 0 && nwait > 0) {
        my_p_reset(ms);
        my_p_int(ms, MR_ORDER_WAIT_MS);
        bind_texts(ms, waiting, nwait);
        rc = my_exec_id(ms, ST_ORDER_WAIT_IN, err);
    }
    if (rc == 0) {
        my_p_reset(ms);
        bind_texts(ms, c->keys, c->nkeys);
        bind_ints(ms, c->next, c->nkeys);
        bind_texts(ms, c->keys, c->nkeys);
        rc = my_exec_id(ms, ST_ORDER_NEXT_IN, err);
    }
    return rc;
}

int my_order_place_new(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err)
{
    struct my_store *ms = my(s);
    struct place_chunk c;
    size_t i = 0;
    int rc = 0;

    while (rc == 0 && i < n) {
        memset(&c, 0, sizeof(c));
        for (; i < n && c.n < IN_CHUNK; i++) {
            struct mr_msg *m = v[i];

            if (m->state == MR_MSG_SUBMITTED && m->ordering_key != NULL &&
                m->ordering_key[0] != '\0' && m->order_pos == 0)
                c.m[c.n++] = m;
        }
        if (c.n > 0)
            rc = place_chunk(ms, &c, err);
    }
    return rc;
}
