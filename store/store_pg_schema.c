/* SPDX-License-Identifier: MIT */
/*
 * store_pg_schema.c - the PostgreSQL schema: the check at open (the database
 * must be at exactly the version compiled in) and `msgrelay migrate`, which
 * applies the newer files of sql/postgres/ one migration at a time per
 * database (an advisory lock), each file in one transaction with the row
 * that records it (PostgreSQL's DDL is transactional).
 *
 * Must not: migrate from mr_store_pg_open() (only an explicit migrate may).
 * Threads: any (a migration opens its own connection). Errors: MR_ESTORE
 * naming `msgrelay migrate`, or a newer database; MR_EBUSY when another
 * migration held the lock for 60 s.
 */
#include "store/store_pg_int.h"

#include <string.h>

#include "common/clock.h"

/* schema_version - the stored schema version; 0 for a database without the table. */
static int schema_version(struct pg_store *ps, int64_t *v, struct mr_err *err)
{
    long got = 0;
    PGresult *res;
    bool exists;
    int code;

    res = PQexec(ps->db, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        code = pg_fail(ps, res, err);
        PQclear(res);
        return code;
    }
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    *v = 0;
    if (!exists)
        return 0;
    pg_p_reset(ps);
    code = pg_read_int(ps, ST_SCHEMA_VERSION, &got, err);
    *v = got;
    return code;
}

/* latest_version - the newest schema compiled in. */
static int latest_version(void)
{
    return mr_store_postgres_schema[mr_store_postgres_schema_count - 1].version;
}

/* pg_check_schema - the database must be at exactly the version compiled in. */
int pg_check_schema(struct pg_store *ps, struct mr_err *err)
{
    int64_t have;
    int code = schema_version(ps, &have, err);

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

/* apply - schema file @f and the row that records it, in one transaction. */
static int apply(struct pg_store *ps, const struct mr_store_schema *f, struct mr_err *err)
{
    int code = pg_query(ps, "BEGIN", err);

    if (code == 0)
        code = pg_query(ps, f->sql, err);
    if (code == 0) {
        pg_p_reset(ps);
        pg_p_int(ps, f->version);
        pg_p_int(ps, mr_now_ms());
        code = pg_exec(ps, ST_SCHEMA_APPLIED, err);
    }
    if (code == 0)
        return pg_query(ps, "COMMIT", err);
    mr_err_set(err, code, "store: schema %d: %s", f->version, err != NULL ? err->msg : "failed");
    pg_query(ps, "ROLLBACK", NULL);
    return code;
}

/*
 * migrate_locked - apply every schema file newer than the stored version, in
 * order; @report hears each one committed (each file commits on its own, so
 * those before a failure stay applied and are reported).
 */
static int migrate_locked(struct pg_store *ps, struct mr_store_migration_report *report,
                          struct mr_err *err)
{
    int64_t have;
    int64_t now;
    size_t i;
    int code;

    code = schema_version(ps, &have, err);
    if (code == 0)
        code = mr_store_schema_not_newer(have, latest_version(), err);
    if (code != 0)
        return code;
    now = have;
    for (i = 0; code == 0 && i < mr_store_postgres_schema_count; i++) {
        if (mr_store_postgres_schema[i].version <= have)
            continue;
        code = apply(ps, &mr_store_postgres_schema[i], err);
        if (code == 0)
            now = mr_store_postgres_schema[i].version;
    }
    mr_store_report_migrated(report, mr_store_postgres_schema, mr_store_postgres_schema_count,
                             have, now);
    return code;
}

int mr_store_pg_migrate(const char *rest, struct mr_store_migration_report *report,
                        struct mr_err *err)
{
    struct pg_store *ps = NULL;
    int code;

    code = pg_handle_new(rest, &ps, err);
    if (code != 0)
        return code;
    code = pg_connect(ps, true, err);
    /* one migration at a time per database (advisory locks are per database): relays started
       together with --migrate queue here; the lock ends with the connection */
    if (code == 0)
        code = pg_query(ps, "SET lock_timeout = '60s'", err);
    if (code == 0)
        code = pg_query(ps, "SELECT pg_advisory_lock(hashtext('msgrelay.migrate'))", err);
    if (code == MR_EBUSY)
        code = mr_err_set(err, MR_EBUSY, "store: another migration held the lock for 60 s");
    if (code == 0)
        code = migrate_locked(ps, report, err);
    pg_close(&ps->base);
    return code;
}
