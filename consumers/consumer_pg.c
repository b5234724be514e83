/* SPDX-License-Identifier: MIT */
/*
 * consumer_pg.c - the Kafka consumer loop's PostgreSQL side
 * (consumers/consumer_db.h, msgrelay/consumer_pg.h): connecting, telling a
 * lost link from a failed statement, parking a record, and the barrier call
 * through mr_barrier_call_pg.
 *
 * Must not: build SQL from values (the park INSERT is PQexecParams with
 * fixed text; only the checked table name is pasted in; key and payload go
 * as binary parameters). Thread: the consumer's own; it owns its PGconn.
 * Errors: 0 or MR_E* codes with a message, as consumer_db.h.
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/err.h"
#include "consumers/consumer_db.h"
#include "msgrelay/barrier_pg.h"

/* Cap on the park statement: the fixed text plus a checked table name. */
#define SQL_MAX 1024

static int pg_connect(void **out, const void *where, struct mr_err *err)
{
    char why[512];
    PGconn *db = NULL;

    if (mr_barrier_connect_pg(&db, where, why, sizeof(why)) != MR_BARRIER_SUCCESS)
        return mr_err_set(err, MR_EUNAVAIL, "%s", why);
    *out = db;
    return 0;
}

static void pg_close(void *db)
{
    PQfinish(db);
}

/* pg_lost - whether the link is gone: a bad status, or a trivial query failing. */
static bool pg_lost(void *db)
{
    PGresult *r;
    bool ok;

    if (PQstatus(db) != CONNECTION_OK)
        return true;
    r = PQexec(db, "SELECT 1");
    ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return !ok || PQstatus(db) != CONNECTION_OK;
}

/*
 * pg_trouble - only a lost link is the database's fault here: the barrier
 * has rolled back and its statement's SQLSTATE is gone, so a deadlock or a
 * serialization failure counts as an attempt of the record (and is retried).
 */
static bool pg_trouble(void *db, bool *lost)
{
    *lost = pg_lost(db);
    return *lost;
}

static int pg_park(void *db, const char *table, const struct mr_consumer_record *r, int attempts,
                   const char *reason, struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(SQL_MAX);
    char partition[16];
    char offset[24];
    char tries[16];
    const char *v[11];
    int lens[11] = {0};
    int formats[11] = {0};
    PGresult *res;
    int rc;

    snprintf(partition, sizeof(partition), "%d", (int)r->partition);
    snprintf(offset, sizeof(offset), "%lld", (long long)r->offset);
    snprintf(tries, sizeof(tries), "%d", attempts);
    v[0] = r->topic;
    v[1] = partition;
    v[2] = offset;
    v[3] = r->gid;
    v[4] = r->trans_type;
    v[5] = r->branch_id;
    v[6] = r->op;
    v[7] = r->key != NULL ? r->key : "";
    v[8] = r->value != NULL ? r->value : "";
    v[9] = tries;
    v[10] = reason;
    lens[7] = (int)r->key_len;
    lens[8] = (int)r->value_len;
    formats[7] = 1; /* bytea, as bytes */
    formats[8] = 1;
    rc = mr_buf_addf(&sql,
                     "INSERT INTO %s(topic, kafka_partition, kafka_offset, gid, trans_type, "
                     "branch_id, op, record_key, payload, attempts, reason) "
                     "VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                     table);
    if (rc != 0) {
        mr_buf_release(&sql);
        return mr_err_set(err, MR_ETOOBIG, "park: statement too long");
    }
    res = PQexecParams(db, sql.p, 11, NULL, v, lens, formats, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = mr_err_set(err, MR_ESTORE, "park into %s: %s", table, PQerrorMessage(db));
    PQclear(res);
    mr_buf_release(&sql);
    return rc;
}

/* pg_apply - the PostgreSQL barrier's callback: the application's fn on the record. */
static int pg_apply(PGconn *db, void *ctx)
{
    return mr_consumer__apply(db, ctx);
}

static int pg_call(struct mr_barrier *b, void *db, void *ctx, char *why, size_t size)
{
    return mr_barrier_call_pg(b, db, pg_apply, ctx, why, size);
}

const struct mr_consumer__db mr_consumer__pg = {
    pg_connect, pg_close, pg_trouble, pg_lost, pg_park, pg_call,
};
