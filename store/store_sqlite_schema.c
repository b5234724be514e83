/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_schema.c - the SQLite schema, migrated at every open: every
 * file of sql/sqlite/ newer than the stored version, in one IMMEDIATE
 * transaction, refusing a database from a newer msgrelay.
 *
 * Must not: use the handle's prepared statements (they are prepared after).
 * Threads: the opening thread. Errors: MR_ESTORE naming the schema file, or
 * the newer version.
 */
#include "store/store_sqlite_int.h"

#include <stdint.h>

#include "common/clock.h"

/* query_int - the first column of the first row of fixed query @sql (0 when no row). */
static int query_int(sqlite3 *db, const char *sql, int64_t *v, struct mr_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    *v = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        code = sq_fail(db, rc, err);
    sqlite3_finalize(st);
    return code;
}

/* schema_version - the stored schema version; 0 for a database without one. */
static int schema_version(sqlite3 *db, int64_t *v, struct mr_err *err)
{
    int64_t has;
    int code;

    code = query_int(db,
                     "SELECT count(*) FROM sqlite_master "
                     "WHERE type = 'table' AND name = 'schema_version'",
                     &has, err);
    if (code != 0 || has == 0) {
        *v = 0;
        return code;
    }
    return query_int(db, "SELECT coalesce(max(version), 0) FROM schema_version", v, err);
}

/* record_version - note schema file @version as applied. */
static int record_version(sqlite3 *db, int version, struct mr_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = 0;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO schema_version (version, applied_time) "
                                "VALUES (?1, ?2)",
                                -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 1, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, mr_now_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        code = sq_fail(db, rc, err);
    sqlite3_finalize(st);
    return code;
}

/*
 * sq_migrate - bring the schema to the newest version compiled in: every newer
 * file, in order, in one IMMEDIATE transaction (so two processes opening a new
 * file at once do not both create it: the second re-reads the version under
 * the lock and finds nothing to do). @report (may be NULL) hears what was
 * applied once it is committed.
 */
int sq_migrate(sqlite3 *db, struct mr_store_migration_report *report, struct mr_err *err)
{
    int latest = mr_store_sqlite_schema[mr_store_sqlite_schema_count - 1].version;
    int64_t have;
    size_t i;
    int code;

    code = schema_version(db, &have, err);
    if (code == 0)
        code = mr_store_schema_not_newer(have, latest, err);
    if (code == 0 && have == latest)
        mr_store_report_migrated(report, NULL, 0, have, have);
    if (code != 0 || have == latest)
        return code;

    code = sq_exec_sql(db, "BEGIN IMMEDIATE", err);
    if (code != 0)
        return code;
    code = schema_version(db, &have, err);
    if (code == 0)
        code = mr_store_schema_not_newer(have, latest, err);
    for (i = 0; code == 0 && i < mr_store_sqlite_schema_count; i++) {
        const struct mr_store_schema *f = &mr_store_sqlite_schema[i];

        if (f->version <= have)
            continue;
        code = sq_exec_sql(db, f->sql, err);
        if (code != 0) {
            mr_err_set(err, code, "store: schema %d: %s", f->version,
                       err != NULL ? err->msg : "failed");
            break;
        }
        code = record_version(db, f->version, err);
    }
    if (code == 0)
        code = sq_exec_sql(db, "COMMIT", err);
    if (code != 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (code == 0)
        mr_store_report_migrated(report, mr_store_sqlite_schema, mr_store_sqlite_schema_count,
                                 have, latest);
    return code;
}
