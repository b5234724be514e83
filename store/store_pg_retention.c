/* SPDX-License-Identifier: MIT */
/*
 * store_pg_retention.c - retention on PostgreSQL: the lease of a periodic job
 * (one relay at a time per database; the row stays locked until the caller's
 * commit, and a second relay's UPDATE waits for it, then reads the lease
 * taken) and the deletion of old final messages through msg_done
 * (sql/postgres/001_init.sql). Steps go by the foreign key's ON DELETE
 * CASCADE.
 *
 * Must not: decide when or how often retention runs (relay_retention.c does).
 * Threads: the handle's. Errors: as in store_pg.c.
 */
#include "store/store_pg_int.h"

int pg_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                 int64_t until_ms, bool *held, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    pg_p_reset(ps);
    pg_p_text(ps, owner);
    pg_p_int(ps, until_ms);
    pg_p_text(ps, name);
    pg_p_int(ps, now_ms);
    code = pg_exec(ps, ST_JOB_LEASE, err);
    if (code != 0 || pg_changed(ps) > 0) {
        *held = code == 0;
        return code;
    }
    /* the row is there from the migration on; the insert covers a job it does not name */
    pg_p_reset(ps);
    pg_p_text(ps, name);
    pg_p_text(ps, owner);
    pg_p_int(ps, until_ms);
    code = pg_exec(ps, ST_JOB_LEASE_NEW, err);
    *held = code == 0 && pg_changed(ps) > 0;
    return code;
}

int pg_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                        struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    pg_p_reset(ps);
    pg_p_int(ps, cutoff_ms);
    pg_p_int(ps, (int64_t)limit);
    code = pg_exec(ps, ST_RETAIN, err);
    if (code == 0)
        *deleted = (size_t)pg_changed(ps);
    return code;
}
