/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_kv.c - DTM's kv table on SQLite (the rows behind topics): get,
 * scan, insert, and the version compare-and-set update and delete.
 *
 * Must not: read or write the topic JSON (store_topics.c does).
 * Threads: the handle's. Errors: as in store_sqlite.c; a duplicate key is
 * MR_EEXIST and leaves the transaction usable.
 */
#include "store/store_sqlite_int.h"

#include <stdint.h>

/* read_kv_row - the current row of a KV_COLS query into the struct mr_kv @slot (zeroed). */
static int read_kv_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    struct mr_kv *kv = slot;

    (void)err;
    kv->id = sqlite3_column_int64(st, 0);
    kv->cat = sq_col_str(st, 1);
    kv->k = sq_col_str(st, 2);
    kv->v = sq_col_str(st, 3);
    kv->version = sqlite3_column_int64(st, 4);
    kv->create_ms = sqlite3_column_int64(st, 5);
    kv->update_ms = sqlite3_column_int64(st, 6);
    return 0;
}

static void free_kv_rows(void *v, size_t n)
{
    mr_store_kvs_free(v, n);
}

/* load_kvs - run the bound KV_COLS query @b into a new array. */
static int load_kvs(struct sq_store *q, struct binder *b, struct mr_kv **out, size_t *n,
                    struct mr_err *err)
{
    return sq_load_rows(q, b, sizeof(**out), read_kv_row, free_kv_rows, (void **)out, n, err);
}

int sq_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out, size_t *n,
              struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_GET);

    sq_bind_text(&b, 1, cat);
    sq_bind_text(&b, 2, k);
    return load_kvs(q, &b, out, n, err);
}

int sq_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
               struct mr_kv **out, size_t *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_SCAN);

    sq_bind_text(&b, 1, cat);
    sq_bind_int(&b, 2, position > 0 ? position : INT64_MAX);
    sq_bind_int(&b, 3, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit);
    return load_kvs(q, &b, out, n, err);
}

/* sq_kv_insert - a unique violation rolls back only the statement: the transaction goes on. */
int sq_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_INSERT);
    int code;
    int rc;

    sq_bind_text(&b, 1, kv->cat);
    sq_bind_text(&b, 2, kv->k);
    sq_bind_text(&b, 3, kv->v);
    sq_bind_int(&b, 4, kv->create_ms);
    sq_bind_int(&b, 5, kv->update_ms);
    rc = sq_step(&b);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        sq_done(b.st);
        return mr_err_set(err, MR_EEXIST, "store: kv '%s/%s' already exists", kv->cat, kv->k);
    }
    code = rc == SQLITE_DONE ? 0 : sq_fail(q->db, rc, err);
    sq_done(b.st);
    if (code != 0)
        return code;
    kv->id = sqlite3_last_insert_rowid(q->db);
    kv->version = 1;
    return 0;
}

int sq_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v, int64_t now_ms,
                 struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_UPDATE);

    sq_bind_int(&b, 1, id);
    sq_bind_int(&b, 2, version);
    sq_bind_text(&b, 3, v);
    sq_bind_int(&b, 4, now_ms);
    return sq_run_changing(q, &b, MR_ECONFLICT, err, "store: kv row %lld changed concurrently",
                           (long long)id);
}

int sq_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_DELETE);

    sq_bind_text(&b, 1, cat);
    sq_bind_text(&b, 2, k);
    return sq_run_changing(q, &b, MR_ENOENT, err, "store: no kv '%s/%s'", cat, k);
}
