/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/consumer_pg.h - the Kafka consumer loop of msgrelay/consumer.h
 * with the application's database on PostgreSQL: each record is applied
 * once through the barrier of msgrelay/barrier_pg.h (the barrier row and
 * the callback's work in one local transaction on a PGconn), a record that
 * cannot be applied is parked in a park table (default
 * `dtm_barrier.parked`, schema in sql/barrier/postgres.sql), and the offset
 * is committed to Kafka only after that transaction committed. Includes
 * libpq-fe.h, not mysql.h.
 *
 * The loop, its order and its rules are those of msgrelay/consumer.h; only
 * the connection differs. A lost connection (PQstatus bad after a failure)
 * is waited out with back-off and a reconnect, without counting an
 * attempt; any other database error counts as an attempt of the record.
 *
 * Part of libmsgrelay-consumer (pkg-config msgrelay-consumer). Threads and
 * errors: as msgrelay/consumer.h; the consumer owns its PGconn.
 */
#ifndef MR_MSGRELAY_CONSUMER_PG_H
#define MR_MSGRELAY_CONSUMER_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "msgrelay/barrier_pg.h"
#include "msgrelay/consumer_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * mr_consumer_pg_fn - the application's work for one record, run inside the
 * barrier's local transaction on @db (the consumer's connection). Return
 * values as mr_consumer_fn (msgrelay/consumer.h): 0 commits,
 * MR_BARRIER_FAILURE parks at once, anything else fails this try. No BEGIN,
 * COMMIT or ROLLBACK on @db.
 */
typedef int (*mr_consumer_pg_fn)(PGconn *db, const struct mr_consumer_record *rec, void *arg);

/*
 * The options of mr_consumer_new_pg(): those of struct mr_consumer_options
 * with pg_uri and a PostgreSQL callback. Zero-initialise, then fill in;
 * every pointer is borrowed for the call (copied). Required: brokers,
 * group_id, topics, pg_uri, fn.
 */
struct mr_consumer_pg_options {
    const char *brokers;            /* bootstrap.servers */
    const char *group_id;           /* group.id */
    const char *const *topics;      /* NULL-terminated list, at least one */
    const char *const *properties;  /* as mr_consumer_options.properties */
    /* postgres://USER[:PASS]@HOST[:PORT]/DB or postgresql://... (libpq's URI) */
    const char *pg_uri;
    const char *barrier_table;      /* NULL: MR_BARRIER_TABLE_DEFAULT */
    const char *park_table;         /* NULL: MR_CONSUMER_PARK_TABLE_DEFAULT */
    int max_attempts;               /* 0: MR_CONSUMER_MAX_ATTEMPTS_DEFAULT */
    int retry_min_ms;               /* first back-off, 0: 100 ms; doubles... */
    int retry_max_ms;               /* ...up to this cap, 0: 5000 ms */
    mr_consumer_pg_fn fn;
    mr_consumer_done_fn on_done;    /* may be NULL */
    mr_consumer_log_fn log;         /* may be NULL: stderr */
    void *arg;                      /* passed to fn, on_done and log */
};

/*
 * mr_consumer_new_pg - mr_consumer_new() on PostgreSQL: check @opt, connect
 * to @opt->pg_uri, create the Kafka consumer and subscribe. Returns
 * MR_CONSUMER_OK with *out set (owned result: mr_consumer_free()), or
 * MR_CONSUMER_EINVAL / MR_CONSUMER_ERROR with *out NULL and a message.
 */
int mr_consumer_new_pg(struct mr_consumer **out, const struct mr_consumer_pg_options *opt,
                       char *errbuf, size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
