/* SPDX-License-Identifier: MIT */
/*
 * store_pg_kv.c - DTM's kv table on PostgreSQL (the rows behind topics): get,
 * scan, insert, and the version compare-and-set update and delete.
 *
 * Must not: read or write the topic JSON (store_topics.c does).
 * Threads: the handle's. Errors: as in store_pg.c; a duplicate key is
 * MR_EEXIST and leaves the transaction usable (the INSERT skips it).
 */
#include "store/store_pg_int.h"

#include <stdint.h>

/* read_kv_row - the current row of a KV_COLS query into the struct mr_kv @slot (zeroed). */
static int read_kv_row(struct pg_store *ps, void *slot, struct mr_err *err)
{
    struct mr_kv *kv = slot;

    (void)err;
    kv->id = pg_int(ps, 0);
    kv->cat = pg_take_str(ps, 1);
    kv->k = pg_take_str(ps, 2);
    kv->v = pg_take_str(ps, 3);
    kv->version = pg_int(ps, 4);
    kv->create_ms = pg_int(ps, 5);
    kv->update_ms = pg_int(ps, 6);
    return 0;
}

static void free_kv_rows(void *v, size_t n)
{
    mr_store_kvs_free(v, n);
}

/* load_kvs - run the bound KV_COLS query @id into a new array. */
static int load_kvs(struct pg_store *ps, enum stmt_id id, struct mr_kv **out, size_t *n,
                    struct mr_err *err)
{
    return pg_load_rows(ps, id, sizeof(**out), read_kv_row, free_kv_rows, (void **)out, n, err);
}

int pg_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out, size_t *n,
              struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_text(ps, cat);
    pg_p_text(ps, k);
    return load_kvs(ps, ST_KV_GET, out, n, err);
}

int pg_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
               struct mr_kv **out, size_t *n, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_text(ps, cat);
    pg_p_int(ps, position > 0 ? position : INT64_MAX);
    pg_p_int(ps, limit == 0 || limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    return load_kvs(ps, ST_KV_SCAN, out, n, err);
}

int pg_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    long id = 0;
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, kv->cat);
    pg_p_text(ps, kv->k);
    pg_p_text(ps, kv->v);
    pg_p_int(ps, kv->create_ms);
    pg_p_int(ps, kv->update_ms);
    code = pg_read_int(ps, ST_KV_INSERT, &id, err);
    if (code != 0)
        return code;
    if (pg_changed(ps) == 0)
        return mr_err_set(err, MR_EEXIST, "store: kv '%s/%s' already exists", kv->cat, kv->k);
    kv->id = (int64_t)id;
    kv->version = 1;
    return 0;
}

int pg_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v, int64_t now_ms,
                 struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, v);
    pg_p_int(ps, now_ms);
    pg_p_int(ps, id);
    pg_p_int(ps, version);
    code = pg_exec(ps, ST_KV_UPDATE, err);
    if (code == 0 && pg_changed(ps) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: kv row %lld changed concurrently",
                          (long long)id);
    return code;
}

int pg_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, cat);
    pg_p_text(ps, k);
    code = pg_exec(ps, ST_KV_DELETE, err);
    if (code == 0 && pg_changed(ps) == 0)
        return mr_err_set(err, MR_ENOENT, "store: no kv '%s/%s'", cat, k);
    return code;
}
