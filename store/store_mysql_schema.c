/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_schema.c - the MySQL schema: the check at open (the database
 * must be at exactly the version compiled in) and `msgrelay migrate`, which
 * applies the newer files of sql/mysql/ one migration at a time per database.
 *
 * The migration lock is a lease in a one-row table of ours (migrate_lock,
 * made here if missing, outside the numbered schema): taken by a committed
 * UPDATE of that row, so it holds on every node of a Galera cluster, where
 * GET_LOCK and row locks are local to one node (two takers on two nodes
 * conflict at commit and one of them loses). It is given back at the end; a
 * migration that died keeps it until its lease (MIGRATE_LEASE_MS) runs out.
 * The schema files' DDL commits implicitly, which is why the lock is a
 * committed lease and not a lock held in an open transaction.
 *
 * Must not: migrate from mr_store_mysql_open() (only an explicit migrate may).
 * Threads: any (a migration opens its own connection). Errors: MR_ESTORE
 * naming `msgrelay migrate`, or a newer database; MR_EBUSY when another
 * migration held the lock for MIGRATE_WAIT_MS.
 */
#include "store/store_mysql_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mysqld_error.h>

#include "common/clock.h"

/* A migration's hold on the lock lapses after this long should it die holding it. */
#define MIGRATE_LEASE_MS (300 * 1000)
/* How long a migration waits for another one to finish. */
#define MIGRATE_WAIT_MS (60 * 1000)
/* How often a waiting migration looks again. */
#define MIGRATE_POLL_MS 200

/* schema_version - the stored schema version; 0 for a database without the table. */
static int schema_version(struct my_store *ms, int64_t *v, struct mr_err *err)
{
    unsigned int e;
    int code = my_query_int(ms, "SELECT COALESCE(MAX(version), 0) FROM schema_version", v, &e, err);

    if (code != 0 && e == ER_NO_SUCH_TABLE) {
        mr_err_clear(err);
        *v = 0;
        return 0;
    }
    return code;
}

/* latest_version - the newest schema compiled in. */
static int latest_version(void)
{
    return mr_store_mysql_schema[mr_store_mysql_schema_count - 1].version;
}

/* my_check_schema - the database must be at exactly the version compiled in. */
int my_check_schema(struct my_store *ms, struct mr_err *err)
{
    int64_t have;
    int code = schema_version(ms, &have, err);

    if (code == 0)
        code = mr_store_schema_not_newer(have, latest_version(), err);
    if (code == 0 && have < latest_version()) {
        code = mr_err_set(err, MR_ESTORE,
                          "store: database schema is at version %lld, this msgrelay needs %d: "
                          "run 'msgrelay migrate --store URI' or serve with --migrate",
                          (long long)have, latest_version());
    }
    return code;
}

/* run_script - run one schema file (several statements) and drain every result. */
static int run_script(struct my_store *ms, const char *sql, struct mr_err *err)
{
    MYSQL_RES *res;
    int status;

    if (mysql_real_query(ms->db, sql, strlen(sql)) != 0)
        return my_db_fail(ms, err);
    do {
        res = mysql_store_result(ms->db);
        if (res != NULL)
            mysql_free_result(res);
        else if (mysql_field_count(ms->db) != 0)
            return my_db_fail(ms, err);
        status = mysql_next_result(ms->db);
    } while (status == 0);
    if (status > 0)
        return my_db_fail(ms, err);
    return 0;
}

/* record_version - note schema file @version as applied (a one-off prepared statement). */
static int record_version(struct my_store *ms, int version, struct mr_err *err)
{
    MYSQL_STMT *st = NULL;
    int code;

    code = my_prepare(ms, "INSERT INTO schema_version (version, applied_time) VALUES (?, ?)", &st,
                      err);
    if (code != 0)
        return code;
    my_p_reset(ms);
    my_p_int(ms, version);
    my_p_int(ms, mr_now_ms());
    code = my_exec(ms, st, err);
    mysql_stmt_close(st);
    return code;
}

/*
 * migrate_locked - apply every schema file newer than the stored version, in
 * order; @report hears each one committed (each file commits on its own, so
 * those before a failure stay applied and are reported).
 */
static int migrate_locked(struct my_store *ms, struct mr_store_migration_report *report,
                          struct mr_err *err)
{
    int64_t have;
    int64_t now;
    size_t i;
    int code;

    code = schema_version(ms, &have, err);
    if (code == 0)
        code = mr_store_schema_not_newer(have, latest_version(), err);
    if (code != 0)
        return code;
    now = have;
    for (i = 0; code == 0 && i < mr_store_mysql_schema_count; i++) {
        const struct mr_store_schema *f = &mr_store_mysql_schema[i];

        if (f->version <= have)
            continue;
        code = run_script(ms, f->sql, err);
        if (code != 0) {
            mr_err_set(err, code, "store: schema %d: %s", f->version,
                       err != NULL ? err->msg : "failed");
            break;
        }
        code = record_version(ms, f->version, err);
        if (code == 0)
            now = f->version;
    }
    mr_store_report_migrated(report, mr_store_mysql_schema, mr_store_mysql_schema_count, have,
                             now);
    return code;
}

/*
 * lock_set - run fixed statement @sql (parameters: @owner, then @until_ms and
 * @now_ms when @lease) on the lock row; *@got: whether it matched the row.
 */
static int lock_set(struct my_store *ms, const char *sql, const char *owner, bool lease,
                    int64_t now_ms, bool *got, struct mr_err *err)
{
    MYSQL_STMT *st = NULL;
    int code = my_prepare(ms, sql, &st, err);

    if (code == 0) {
        my_p_reset(ms);
        my_p_text(ms, owner);
        if (lease) {
            my_p_int(ms, now_ms + MIGRATE_LEASE_MS);
            my_p_int(ms, now_ms);
        }
        code = my_exec(ms, st, err);
    }
    if (code == 0 && got != NULL)
        *got = mysql_stmt_affected_rows(st) == 1; /* CLIENT_FOUND_ROWS: rows matched */
    if (st != NULL)
        mysql_stmt_close(st);
    return code;
}

/*
 * lock_take - take the migration lock for @owner, waiting up to
 * MIGRATE_WAIT_MS while another migration holds it. A conflict (two takers
 * at once, on one node or two) is tried again.
 */
static int lock_take(struct my_store *ms, const char *owner, struct mr_err *err)
{
    int64_t deadline = mr_mono_ms() + MIGRATE_WAIT_MS;
    bool got = false;
    int code;

    code = my_query(ms,
                    "CREATE TABLE IF NOT EXISTS migrate_lock (id INT NOT NULL PRIMARY KEY, "
                    "owner VARCHAR(128) NOT NULL, until_ms BIGINT NOT NULL) ENGINE=InnoDB",
                    err);
    for (;;) {
        if (code == 0)
            code = my_query(ms, "INSERT IGNORE INTO migrate_lock (id, owner, until_ms) "
                                "VALUES (1, '', 0)", err);
        if (code == 0)
            code = lock_set(ms,
                            "UPDATE migrate_lock SET owner = ?, until_ms = ? "
                            "WHERE id = 1 AND (owner = '' OR until_ms < ?)",
                            owner, true, mr_now_ms(), &got, err);
        if (code == MR_EBUSY) {
            mr_err_clear(err);
            code = 0;
        }
        if (code != 0 || got)
            return code;
        if (mr_mono_ms() >= deadline)
            return mr_err_set(err, MR_EBUSY, "store: another migration held the lock for %d s",
                              MIGRATE_WAIT_MS / 1000);
        usleep(MIGRATE_POLL_MS * 1000);
    }
}

int mr_store_mysql_migrate(const char *rest, struct mr_store_migration_report *report,
                           struct mr_err *err)
{
    struct my_store *ms = NULL;
    char owner[64];
    int code;

    code = my_handle_new(rest, &ms, err);
    if (code != 0)
        return code;
    snprintf(owner, sizeof(owner), "pid %ld at %lld", (long)getpid(), (long long)mr_now_ms());
    code = my_connect(ms, true, err);
    /* one migration at a time per database, cluster-wide: relays started together with
       --migrate queue here */
    if (code == 0)
        code = lock_take(ms, owner, err);
    if (code == 0) {
        code = migrate_locked(ms, report, err);
        /* given back even after a failure; should that fail too, the lease runs out */
        lock_set(ms, "UPDATE migrate_lock SET owner = '', until_ms = 0 WHERE id = 1 AND owner = ?",
                 owner, false, 0, NULL, NULL);
    }
    my_close(&ms->base);
    return code;
}
