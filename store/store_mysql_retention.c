/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_retention.c - retention on MySQL/MariaDB: the lease of a
 * periodic job (one relay at a time per database; the row stays locked until
 * the caller's commit) and the deletion of old final messages through
 * msg_done (sql/mysql/005_retention.sql). Steps go by the foreign key's
 * ON DELETE CASCADE.
 *
 * Must not: decide when or how often retention runs (relay_retention.c does).
 * Threads: the handle's. Errors: as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

int my_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                 int64_t until_ms, bool *held, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    my_p_reset(ms);
    my_p_text(ms, owner);
    my_p_int(ms, until_ms);
    my_p_text(ms, name);
    my_p_int(ms, now_ms);
    my_p_text(ms, owner);
    code = my_exec_id(ms, ST_JOB_LEASE, err);
    if (code != 0 || my_changed(ms, ST_JOB_LEASE) > 0) {
        *held = code == 0;
        return code;
    }
    /* the row is there from the migration on; the insert covers a job it does not name */
    my_p_reset(ms);
    my_p_text(ms, name);
    my_p_text(ms, owner);
    my_p_int(ms, until_ms);
    code = my_exec_id(ms, ST_JOB_LEASE_NEW, err);
    *held = code == 0 && my_changed(ms, ST_JOB_LEASE_NEW) > 0;
    return code;
}

int my_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                        struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    my_p_reset(ms);
    my_p_int(ms, cutoff_ms);
    my_p_int(ms, (int64_t)limit);
    code = my_exec_id(ms, ST_RETAIN, err);
    if (code == 0)
        *deleted = (size_t)my_changed(ms, ST_RETAIN);
    return code;
}
