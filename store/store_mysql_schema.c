/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_schema.c - the MySQL schema: the check at open (the database
 * must be at exactly the version compiled in) and `msgrelay migrate`, which
 * applies the newer files of sql/mysql/ one migration at a time per database
 * (a server lock).
 *
 * Must not: migrate from mr_store_mysql_open() (only an explicit migrate may).
 * Threads: any (a migration opens its own connection). Errors: MR_ESTORE
 * naming `msgrelay migrate`, or a newer database; MR_EBUSY when another
 * migration held the lock for 60 s.
 */
#include "store/store_mysql_int.h"

#include <string.h>

#include <mysqld_error.h>

#include "common/clock.h"

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

int mr_store_mysql_migrate(const char *rest, struct mr_store_migration_report *report,
                           struct mr_err *err)
{
    struct my_store *ms = NULL;
    int64_t got = 0;
    unsigned int e;
    int code;

    code = my_handle_new(rest, &ms, err);
    if (code != 0)
        return code;
    code = my_connect(ms, true, err);
    /* one migration at a time per database: relays started together with --migrate queue here;
       the lock ends with the connection should we fail before releasing it */
    if (code == 0)
        code = my_query_int(ms, "SELECT GET_LOCK(CONCAT('msgrelay.migrate.', DATABASE()), 60)",
                            &got, &e, err);
    if (code == 0 && got != 1)
        code = mr_err_set(err, MR_EBUSY, "store: another migration held the lock for 60 s");
    if (code == 0)
        code = migrate_locked(ms, report, err);
    my_close(&ms->base);
    return code;
}
