/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_retention.c - retention on SQLite: the lease of a periodic
 * job (one relay at a time per store file) and the deletion of old final
 * messages through the partial indexes of sql/sqlite/004_retention.sql.
 *
 * Must not: decide when or how often retention runs (relay_retention.c does).
 * Threads: the handle's. Errors: as in store_sqlite.c.
 */
#include "store/store_sqlite_int.h"

int sq_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                 int64_t until_ms, bool *held, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    enum stmt_id ids[] = {ST_JOB_LEASE, ST_JOB_LEASE_NEW};
    size_t i;
    int code = 0;

    /* the row is there from the migration on; the insert covers a job it does not name */
    for (i = 0; code == 0 && i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct binder b = sq_binder(q, ids[i]);

        sq_bind_text(&b, 1, name);
        sq_bind_text(&b, 2, owner);
        sq_bind_int(&b, 3, now_ms);
        sq_bind_int(&b, 4, until_ms);
        code = sq_run(q, &b, err);
        if (code == 0 && sqlite3_changes(q->db) > 0) {
            *held = true;
            break;
        }
    }
    return code;
}

int sq_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                        struct mr_err *err)
{
    struct sq_store *q = sq(s);
    enum stmt_id ids[] = {ST_RETAIN_SUCCEED, ST_RETAIN_FAILED};
    size_t i;
    int code = 0;

    /* steps go with their message: step.msg_id is ON DELETE CASCADE, foreign_keys is on */
    for (i = 0; code == 0 && i < sizeof(ids) / sizeof(ids[0]) && *deleted < limit; i++) {
        struct binder b = sq_binder(q, ids[i]);

        sq_bind_int(&b, 1, cutoff_ms);
        sq_bind_int(&b, 2, (int64_t)(limit - *deleted));
        code = sq_run(q, &b, err);
        if (code == 0)
            *deleted += (size_t)sqlite3_changes(q->db);
    }
    return code;
}
