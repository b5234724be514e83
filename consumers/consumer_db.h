/* SPDX-License-Identifier: MIT */
/*
 * consumer_db.h - the Kafka consumer loop's view of the application's
 * database (not installed): one table of functions per engine, MySQL's in
 * consumers/consumer_kafka.c and PostgreSQL's in consumers/consumer_pg.c,
 * so the loop (consumer_kafka.c) is written once. Library-internal names
 * carry a double underscore.
 *
 * Thread: the consumer's own. Errors: 0 or a negative MR_E* code with a
 * message in struct mr_err; a barrier call returns its MR_BARRIER_* result.
 */
#ifndef MR_CONSUMERS_CONSUMER_DB_H
#define MR_CONSUMERS_CONSUMER_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "msgrelay/consumer_common.h"

struct mr_barrier;

struct mr_consumer__db {
    /* a new connection to @where (MySQL: a struct mr_consumer__uri *, PostgreSQL: the
     * URI text) in *@db; 0 or MR_EUNAVAIL with the reason */
    int (*connect)(void **db, const void *where, struct mr_err *err);
    void (*close)(void *db);
    /* after a barrier error: whether the connection or the server is to blame (not the
     * record); *@lost when the link is gone (the caller closes it) */
    bool (*trouble)(void *db, bool *lost);
    /* after another failure: whether the link is gone */
    bool (*lost)(void *db);
    /* insert @r into park table @table unless that record is already parked */
    int (*park)(void *db, const char *table, const struct mr_consumer_record *r, int attempts,
                const char *reason, struct mr_err *err);
    /* the engine's barrier call of @b on @db, running mr_consumer__apply(db, @ctx) */
    int (*call)(struct mr_barrier *b, void *db, void *ctx, char *why, size_t size);
};

/* mr_consumer__apply - the application's callback on the record of @ctx (consumer_kafka.c). */
int mr_consumer__apply(void *db, void *ctx);

/* PostgreSQL's table (consumer_pg.c). */
extern const struct mr_consumer__db mr_consumer__pg;

#endif
