/* SPDX-License-Identifier: MIT */
/*
 * consumer_int.h - the pure pieces of consumers/consumer_kafka.c, shared with
 * its unit tests (tests/unit/consumers/test_consumer.c); not installed. The
 * MySQL URI split is defined in consumers/consumer_uri.c, so the barrier
 * library (mr_barrier_connect) carries it without the Kafka consumer.
 *
 * Header extraction, the retry / park decision, the back-off and the MySQL
 * URI split: no I/O, no state, any thread. Library-internal names carry a
 * double underscore (mr_consumer__*). Errors: 0 or a negative MR_E* code
 * with a message in struct mr_err.
 */
#ifndef MR_CONSUMERS_CONSUMER_INT_H
#define MR_CONSUMERS_CONSUMER_INT_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "common/err.h"
#include "msgrelay/barrier.h"

/* The barrier fields of one record, NUL-terminated copies. */
struct mr_consumer__fields {
    char gid[MR_BARRIER_GID_MAX + 1];
    char trans_type[MR_BARRIER_OP_MAX + 1];
    char branch_id[MR_BARRIER_BRANCH_ID_MAX + 1];
    char op[MR_BARRIER_OP_MAX + 1];
};

/*
 * mr_consumer__fields_from - the first gid, trans_type, branch_id and op
 * headers of @hdrs (may be NULL: no headers). The relay adds its own four
 * before the message's branch headers, so the first of each name is the
 * relay's. 0, or MR_EINVAL naming the missing, empty, over-long or
 * NUL-carrying header (the record is poison).
 */
int mr_consumer__fields_from(const rd_kafka_headers_t *hdrs, struct mr_consumer__fields *f,
                             struct mr_err *err);

/* What to do with a record after one try. */
enum mr_consumer__next {
    MR_CONSUMER__APPLIED,   /* commit the offset */
    MR_CONSUMER__DUPLICATE, /* commit the offset */
    MR_CONSUMER__TRANSIENT, /* database trouble: back off, reconnect if needed, same try again */
    MR_CONSUMER__RETRY,     /* the callback failed: back off, next attempt */
    MR_CONSUMER__PARK,      /* give up on it: park, then commit the offset */
};

/*
 * mr_consumer__decide - the next step for a record whose try number
 * @attempt (from 1) of at most @max_attempts ended in barrier result @rc;
 * @db_trouble says the connection was lost or the server asked for a retry
 * (deadlock, lock wait timeout). A database error is never the record's
 * fault; a refusal (MR_BARRIER_FAILURE) or bad barrier fields are final.
 */
enum mr_consumer__next mr_consumer__decide(int rc, bool db_trouble, int attempt,
                                           int max_attempts);

/*
 * mr_consumer__db_trouble - whether MySQL error @code (mysql_errno) means
 * "the connection or the server, not the statement": lost or refused
 * connection, deadlock, lock wait timeout, server shutting down.
 */
bool mr_consumer__db_trouble(unsigned int code);

/*
 * mr_consumer__backoff_ms - the wait before retry number @n (from 1):
 * @min_ms doubled n-1 times, at most @max_ms.
 */
int mr_consumer__backoff_ms(int n, int min_ms, int max_ms);

/* The parts of a mysql:// URI, NUL-terminated. */
struct mr_consumer__uri {
    char user[128];
    char pass[128];
    char host[256];
    unsigned int port;
    char db[128];
};

/*
 * mr_consumer__parse_uri - split mysql://USER[:PASS]@HOST[:PORT]/DB into
 * @u (no percent-decoding). 0, or MR_EINVAL saying what is wrong.
 */
int mr_consumer__parse_uri(const char *uri, struct mr_consumer__uri *u, struct mr_err *err);

/*
 * mr_consumer__span_copy - @n bytes at @p into @dst of @size, NUL-terminated;
 * -1 when they do not fit.
 */
int mr_consumer__span_copy(char *dst, size_t size, const char *p, size_t n);

#endif
