/* SPDX-License-Identifier: MIT */
/*
 * barrier_int.h - what the barrier's engine files share (not installed): the
 * barrier's rules written once (consumers/barrier.c) over a small table of
 * database primitives that each engine fills in (MySQL in barrier.c,
 * PostgreSQL in barrier_pg.c), and the checks of the pruning arguments
 * (barrier_prune.c). Library-internal names carry a double underscore.
 *
 * Thread: the caller's; a connection belongs to one thread at a time.
 * Errors: 0 or a negative MR_E* code with a message in struct mr_err, or
 * the MR_BARRIER_* code of the public function they serve.
 */
#ifndef MR_CONSUMERS_BARRIER_INT_H
#define MR_CONSUMERS_BARRIER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "msgrelay/barrier_common.h"

/* Cap on one statement's text: a fixed statement plus a checked table name. */
#define MR_BARRIER__SQL_MAX 1024

/*
 * One engine's primitives; @db is its connection (MYSQL *, PGconn *). Each
 * returns 0 or a negative MR_E* code with a message in @err.
 */
struct mr_barrier__engine {
    /* @db is usable for a new transaction (connected, not inside one) */
    int (*ready)(void *db, struct mr_err *err);
    /* start a transaction; @read_committed: at READ COMMITTED (the back-check's) */
    int (*begin)(void *db, bool read_committed, struct mr_err *err);
    /* insert row @v (trans_type, gid, branch_id, op, barrier_id, reason) unless its
     * key is taken; *inserted says whether it went in */
    int (*insert)(void *db, const char *table, const char *const v[6], bool *inserted,
                  struct mr_err *err);
    /* the reason of row (@gid, '00', 'msg', '01'), read with a shared lock ("" for NULL) */
    int (*select_reason)(void *db, const char *table, const char *gid, char *reason,
                         size_t size, bool *found, struct mr_err *err);
    int (*commit)(void *db, struct mr_err *err);
    /* best effort: a failed rollback leaves nothing committed */
    void (*rollback)(void *db);
};

/* The caller's callback behind a type-erased pointer: @run(@db, @ctx). */
typedef int (*mr_barrier__run_fn)(void *db, void *ctx);

/* mr_barrier__finish - @err's message (or "" on success) to the caller's buffer; returns @rc. */
int mr_barrier__finish(int rc, const struct mr_err *err, char *errbuf, size_t errlen);

/* mr_barrier__call - mr_barrier_call()'s rules on engine @e. */
int mr_barrier__call(struct mr_barrier *b, const struct mr_barrier__engine *e, void *db,
                     mr_barrier__run_fn run, void *ctx, char *errbuf, size_t errlen);

/* mr_barrier__query_prepared - mr_barrier_query_prepared()'s rules on engine @e. */
int mr_barrier__query_prepared(const struct mr_barrier__engine *e, void *db, const char *table,
                               const char *gid, char *errbuf, size_t errlen);

/* mr_barrier__http_step - mr_barrier_http_step()'s rules on engine @e. */
int mr_barrier__http_step(const struct mr_barrier__engine *e, void *db, const char *table,
                          const char *query, mr_barrier__run_fn run, void *ctx,
                          const char **body, int *result, char *errbuf, size_t errlen);

/*
 * mr_barrier__prune_check - the arguments of a prune are acceptable: a
 * connection, a good table name (*@table set to the default for NULL), a
 * cutoff in range (and at least MR_BARRIER_PRUNE_MIN_S unless forced), a
 * batch of 1 to MR_BARRIER_PRUNE_BATCH_MAX. 0 or MR_EINVAL.
 */
int mr_barrier__prune_check(const void *db, const char **table, long long older_than_s,
                            unsigned batch, int flags, struct mr_err *err);

/* mr_barrier__pause - sleep @ms milliseconds (between prune batches). */
void mr_barrier__pause(unsigned ms);

#endif
