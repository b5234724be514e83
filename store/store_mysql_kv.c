/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_kv.c - DTM's kv table on MySQL (the rows behind topics): get,
 * scan, insert, and the version compare-and-set update and delete.
 *
 * Must not: read or write the topic JSON (store_topics.c does).
 * Threads: the handle's. Errors: as in store_mysql.c; a duplicate key is
 * MR_EEXIST and leaves the transaction usable.
 */
#include "store/store_mysql_int.h"

#include <stdint.h>

#include <mysqld_error.h>

/* read_kv_row - the current row of a KV_COLS query into the struct mr_kv @slot (zeroed). */
static int read_kv_row(struct my_store *ms, void *slot, struct mr_err *err)
{
    struct mr_kv *kv = slot;

    (void)err;
    kv->id = ms->row.v[0];
    kv->cat = my_take_str(ms, 1);
    kv->k = my_take_str(ms, 2);
    kv->v = my_take_str(ms, 3);
    kv->version = ms->row.v[4];
    kv->create_ms = ms->row.v[5];
    kv->update_ms = ms->row.v[6];
    return 0;
}

static void free_kv_rows(void *v, size_t n)
{
    mr_store_kvs_free(v, n);
}

/* load_kvs - run the bound KV_COLS query @id into a new array (NULL, 0 on failure). */
static int load_kvs(struct my_store *ms, enum stmt_id id, struct mr_kv **out, size_t *n,
                    struct mr_err *err)
{
    MYSQL_STMT *st;
    int code = my_st(ms, id, &st, err);

    *out = NULL;
    *n = 0;
    if (code != 0)
        return code;
    return my_load_rows(ms, st, KV_LAYOUT, sizeof(**out), read_kv_row, free_kv_rows, (void **)out,
                        n, err);
}

int my_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out, size_t *n,
              struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, cat);
    my_p_text(ms, k);
    return load_kvs(ms, ST_KV_GET, out, n, err);
}

int my_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
               struct mr_kv **out, size_t *n, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, cat);
    my_p_int(ms, position > 0 ? position : INT64_MAX);
    my_p_int(ms, limit == 0 || limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    return load_kvs(ms, ST_KV_SCAN, out, n, err);
}

/* my_kv_insert - a duplicate key rolls back only the statement: the transaction goes on. */
int my_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st;
    int code;

    my_p_reset(ms);
    my_p_text(ms, kv->cat);
    my_p_text(ms, kv->k);
    my_p_text(ms, kv->v);
    my_p_int(ms, kv->create_ms);
    my_p_int(ms, kv->update_ms);
    code = my_st(ms, ST_KV_INSERT, &st, err);
    if (code != 0)
        return code;
    code = my_exec(ms, st, err);
    if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
        return mr_err_set(err, MR_EEXIST, "store: kv '%s/%s' already exists", kv->cat, kv->k);
    if (code != 0)
        return code;
    kv->id = (int64_t)mysql_stmt_insert_id(st);
    kv->version = 1;
    return 0;
}

int my_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v, int64_t now_ms,
                 struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, v);
    my_p_int(ms, now_ms);
    my_p_int(ms, id);
    my_p_int(ms, version);
    return my_exec_changing(ms, ST_KV_UPDATE, MR_ECONFLICT, err,
                            "store: kv row %lld changed concurrently", (long long)id);
}

int my_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, cat);
    my_p_text(ms, k);
    return my_exec_changing(ms, ST_KV_DELETE, MR_ENOENT, err, "store: no kv '%s/%s'", cat, k);
}
