/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/consumer_common.h - the part of the Kafka consumer loop that does
 * not depend on the application's database: results, outcomes, the record,
 * the hooks, and run / stop / free. Included by msgrelay/consumer.h
 * (MySQL/MariaDB: mr_consumer_new) and msgrelay/consumer_pg.h (PostgreSQL:
 * mr_consumer_new_pg); a program includes the one of its database.
 *
 * Part of libmsgrelay-consumer. Threads and errors: as msgrelay/consumer.h.
 */
#ifndef MR_MSGRELAY_CONSUMER_COMMON_H
#define MR_MSGRELAY_CONSUMER_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "msgrelay/barrier_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* The park table used when none is set. */
#define MR_CONSUMER_PARK_TABLE_DEFAULT "dtm_barrier.parked"

/* Attempts of the callback on one record before it is parked, when 0 is given. */
#define MR_CONSUMER_MAX_ATTEMPTS_DEFAULT 5

/* MR_CONSUMER_* - results of the functions below. Values are stable (ABI). */
enum mr_consumer_result {
    MR_CONSUMER_OK = 0,
    /* Bad options (missing field, bad URI or table name, a forbidden
     * property); nothing was started. */
    MR_CONSUMER_EINVAL = -1,
    /* Kafka or MySQL refused to start (bad property value, no connection). */
    MR_CONSUMER_ERROR = -2,
};

/*
 * What the loop did with one record; passed to the on_done hook. Values are
 * stable (ABI).
 */
enum mr_consumer_outcome {
    MR_CONSUMER_APPLIED = 0,    /* barrier row + callback committed now */
    MR_CONSUMER_DUPLICATE = 1,  /* barrier row already there: skipped */
    MR_CONSUMER_PARKED = 2,     /* written to the park table, not applied */
};

/*
 * One record as the callback sees it. Every pointer is borrowed: valid only
 * during the call. @gid, @trans_type, @branch_id and @op are NUL-terminated;
 * @key and @value are not (they may be NULL with length 0). @attempt counts
 * from 1 for the callback's tries on this record in this process.
 */
struct mr_consumer_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const char *gid;
    const char *trans_type;
    const char *branch_id;
    const char *op;
    int attempt;
};

/*
 * mr_consumer_done_fn - told what became of a record, after that outcome is
 * committed in MySQL and BEFORE its offset is committed to Kafka (so a
 * process that ends here sees the record again, and skips it). @reason is
 * "" unless @outcome is MR_CONSUMER_PARKED. Borrowed arguments; consumer's
 * thread; must not call back into the consumer.
 */
typedef void (*mr_consumer_done_fn)(const struct mr_consumer_record *rec, int outcome,
                                    const char *reason, void *arg);

/*
 * mr_consumer_log_fn - one log line (no trailing newline) at @level, 0 info,
 * 1 warning, 2 error. Without one, lines go to stderr.
 */
typedef void (*mr_consumer_log_fn)(int level, const char *line, void *arg);

/* A consumer: one rd_kafka_t, one database connection. Opaque. */
struct mr_consumer;

/*
 * mr_consumer_run - the loop: poll, apply, commit, until mr_consumer_stop().
 * A record being retried when the stop comes is left uncommitted (it is
 * delivered again later). Returns MR_CONSUMER_OK once stopped; it never
 * gives up on its own: Kafka and MySQL outages are logged and waited out.
 * The thread that created @c, one call at a time.
 */
int mr_consumer_run(struct mr_consumer *c, char *errbuf, size_t errlen);

/*
 * mr_consumer_stop - ask mr_consumer_run() to return within about 100 ms
 * (or after the back-off sleep slice in progress). Async-signal-safe: only
 * stores an atomic flag; any thread.
 */
void mr_consumer_stop(struct mr_consumer *c);

/*
 * mr_consumer_free - leave the group (rd_kafka_consumer_close: committed
 * offsets stay, partitions are handed back), destroy the Kafka handle,
 * close the MySQL connection, free @c. NULL is a no-op. Not during
 * mr_consumer_run().
 */
void mr_consumer_free(struct mr_consumer *c);

/* mr_consumer_outcome_name - "applied", "duplicate", "parked" or "unknown". Static. */
const char *mr_consumer_outcome_name(int outcome);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
