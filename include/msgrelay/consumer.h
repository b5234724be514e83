/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/consumer.h - the Kafka consumer loop of libmsgrelay: read the
 * records the relay produced for kafka:// steps in a consumer group and
 * apply each one exactly once in the application's MySQL/MariaDB, through
 * the barrier (msgrelay/barrier.h).
 *
 * For each record: the barrier fields come from the record headers the relay
 * writes (gid, trans_type, branch_id, op); in one local transaction the
 * barrier row is inserted and the caller's callback runs (mr_barrier_call);
 * after that commit, the record's offset is stored and committed to Kafka
 * synchronously. A record seen again (redelivered after a crash, produced
 * twice by a relay that crashed) finds its barrier row and is skipped.
 * A record that cannot be applied - no barrier headers, a callback that
 * refuses it (MR_BARRIER_FAILURE) or fails max_attempts times in a row - is
 * *parked*: one row in a park table (default `dtm_barrier.parked`, schema in
 * sql/barrier/mysql.sql) with its topic, partition, offset, key, payload and
 * the reason; then its offset is committed and the loop goes on. A lost
 * database connection (no answer to a ping after the failure) is not the
 * record's fault: the loop reconnects and retries with back-off, without
 * counting an attempt or committing. The attempt count lives in memory.
 *
 * The database-neutral part (results, the record, the hooks, run / stop /
 * free) is msgrelay/consumer_common.h, included here; the same loop on
 * PostgreSQL is msgrelay/consumer_pg.h (mr_consumer_new_pg).
 *
 * Threads: one struct mr_consumer per thread; it owns its rd_kafka_t and its
 * MYSQL connection. Only mr_consumer_stop() may be called from another thread
 * or a signal handler. Errors: functions return an MR_CONSUMER_* code and,
 * when @errbuf is not NULL, a NUL-terminated message in it; nothing keeps a
 * "last error". Allocation failure aborts the process, as everywhere in
 * msgrelay. Link with librdkafka as well as the SDK's other libraries.
 */
#ifndef MR_MSGRELAY_CONSUMER_H
#define MR_MSGRELAY_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "msgrelay/barrier.h"
#include "msgrelay/consumer_common.h"


#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/*
 * mr_consumer_fn - the application's work for one record, run inside the
 * barrier's local transaction on @db (the consumer's connection). Return 0
 * to commit; MR_BARRIER_FAILURE to refuse the record for good (it is parked
 * at once); MR_BARRIER_ONGOING or any other value to fail this try (retried
 * with back-off, parked after max_attempts). Every non-zero value rolls
 * back. The rules of mr_barrier_fn hold: no COMMIT, ROLLBACK or START
 * TRANSACTION on @db. Runs on the consumer's thread; @arg is the caller's.
 */
typedef int (*mr_consumer_fn)(MYSQL *db, const struct mr_consumer_record *rec, void *arg);

/*
 * The options of mr_consumer_new(). Zero-initialise, then fill in; every
 * pointer is borrowed for the call (copied). Required: brokers, group_id,
 * topics, mysql_uri, fn.
 */
struct mr_consumer_options {
    const char *brokers;            /* bootstrap.servers */
    const char *group_id;           /* group.id */
    const char *const *topics;      /* NULL-terminated list, at least one */
    /* NULL-terminated "name=value" librdkafka properties (SASL, TLS,
     * session.timeout.ms...), applied after msgrelay's defaults
     * (auto.offset.reset=earliest). enable.auto.commit and
     * enable.auto.offset.store are fixed to false and refused here. */
    const char *const *properties;
    /* mysql://USER[:PASS]@HOST[:PORT]/DB (no percent-decoding) */
    const char *mysql_uri;
    const char *barrier_table;      /* NULL: MR_BARRIER_TABLE_DEFAULT */
    const char *park_table;         /* NULL: MR_CONSUMER_PARK_TABLE_DEFAULT */
    int max_attempts;               /* 0: MR_CONSUMER_MAX_ATTEMPTS_DEFAULT */
    int retry_min_ms;               /* first back-off, 0: 100 ms; doubles... */
    int retry_max_ms;               /* ...up to this cap, 0: 5000 ms */
    mr_consumer_fn fn;
    mr_consumer_done_fn on_done;    /* may be NULL */
    mr_consumer_log_fn log;         /* may be NULL: stderr */
    void *arg;                      /* passed to fn, on_done and log */
};

/*
 * mr_consumer_new - check @opt, connect to MySQL, create the Kafka consumer
 * and subscribe to the topics (the group is joined by mr_consumer_run()).
 * Returns MR_CONSUMER_OK with *out set (owned result: mr_consumer_free()),
 * or MR_CONSUMER_EINVAL / MR_CONSUMER_ERROR with *out NULL and a message.
 * Call mysql_library_init() first when other threads use MySQL.
 */
int mr_consumer_new(struct mr_consumer **out, const struct mr_consumer_options *opt,
                    char *errbuf, size_t errlen);


#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif