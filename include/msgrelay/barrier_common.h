/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/barrier_common.h - the part of the branch barrier that does not
 * depend on the database: the results, the barrier object (gid, branch,
 * op, table), the HTTP answers and the pruning limits. Included by
 * msgrelay/barrier.h (MySQL/MariaDB, MYSQL *) and msgrelay/barrier_pg.h
 * (PostgreSQL, PGconn *); a program includes the one of its database, and
 * so needs only that database's client headers.
 *
 * Part of libmsgrelay-barrier. Threads and errors: as msgrelay/barrier.h.
 */
#ifndef MR_MSGRELAY_BARRIER_COMMON_H
#define MR_MSGRELAY_BARRIER_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* The barrier table used when none is set: DTM's default. */
#define MR_BARRIER_TABLE_DEFAULT "dtm_barrier.barrier"

/* Longest values the barrier table holds (its column widths). */
#define MR_BARRIER_GID_MAX       128
#define MR_BARRIER_BRANCH_ID_MAX 128
#define MR_BARRIER_OP_MAX        45

/*
 * MR_BARRIER_* - what a barrier call came to. Values are stable (ABI); the
 * producer SDK's MR_CLIENT_* results use the same numbers for the same ideas.
 */
enum mr_barrier_result {
    /* Done: the row is in, the callback succeeded, both are committed. For
     * mr_barrier_query_prepared(): the local transaction committed. */
    MR_BARRIER_SUCCESS = 0,
    /* Final: the callback refused (business failure); row and callback work
     * were rolled back. For mr_barrier_query_prepared(): rolled back or never
     * ran, and now never will. */
    MR_BARRIER_FAILURE = -1,
    /* Database trouble or a callback error: rolled back as far as is known
     * (after a failed COMMIT the outcome is unknown). Trying again is safe. */
    MR_BARRIER_ERROR = -2,
    /* The row was already there: an earlier call did (or a back-check
     * refused) this branch. The callback did not run; nothing changed. */
    MR_BARRIER_DUPLICATED = -3,
    /* The callback said "not yet": rolled back, ask again later. */
    MR_BARRIER_ONGOING = -4,
    /* Bad argument (empty or over-long field, bad table name, unsupported
     * op); nothing was done. */
    MR_BARRIER_EINVAL = -5,
};

/*
 * mr_barrier_result_name - "success", "failure", "error", "duplicated",
 * "ongoing", "einval", or "unknown". Static string; any thread.
 */
const char *mr_barrier_result_name(int result);

/* A barrier for one branch of one global transaction. Opaque. */
struct mr_barrier;

/*
 * mr_barrier_new - a barrier for (@trans_type, @gid, @branch_id, @op), all
 * borrowed (copied). Every field must be non-empty and fit its column; @op
 * must be "action" (a delivered step) or "msg" (the producer's own local
 * transaction, branch "00"): saga/TCC compensation ops need DTM's
 * null-compensation rules, which this barrier does not implement. The table
 * is MR_BARRIER_TABLE_DEFAULT until mr_barrier_set_table().
 * Returns MR_BARRIER_SUCCESS with *out set (owned result: mr_barrier_free()),
 * or MR_BARRIER_EINVAL with *out NULL.
 */
int mr_barrier_new(struct mr_barrier **out, const char *trans_type, const char *gid,
                   const char *branch_id, const char *op, char *errbuf, size_t errlen);

/*
 * mr_barrier_from_query - like mr_barrier_new() with the four fields read
 * from an URL query string (borrowed; a leading '?' is allowed), as the
 * relay sends them on every step: "gid=..&trans_type=msg&branch_id=01&op=action".
 * Values are percent-decoded ('+' is a space); other parameters are ignored.
 * MR_BARRIER_EINVAL names the missing or bad parameter.
 */
int mr_barrier_from_query(struct mr_barrier **out, const char *query, char *errbuf, size_t errlen);

/*
 * mr_barrier_set_table - use table @table (borrowed, copied): "name" or
 * "schema.name" of letters, digits, '_' and '$'. NULL restores the default.
 * MR_BARRIER_EINVAL (nothing changed) for anything else.
 */
int mr_barrier_set_table(struct mr_barrier *b, const char *table, char *errbuf, size_t errlen);

/* mr_barrier_gid - the barrier's gid (owned by @b, valid until mr_barrier_free()). */
const char *mr_barrier_gid(const struct mr_barrier *b);

/* mr_barrier_branch_id - the barrier's branch id (owned by @b). */
const char *mr_barrier_branch_id(const struct mr_barrier *b);

/* mr_barrier_op - the barrier's op (owned by @b). */
const char *mr_barrier_op(const struct mr_barrier *b);

/* mr_barrier_trans_type - the barrier's trans_type (owned by @b). */
const char *mr_barrier_trans_type(const struct mr_barrier *b);

/*
 * mr_barrier_free - free @b. NULL is a no-op.
 */
void mr_barrier_free(struct mr_barrier *b);

/*
 * mr_barrier_http_answer - the HTTP answer a service gives the relay for
 * @result, by the DTM result protocol the relay classifies with:
 *   SUCCESS, DUPLICATED -> 200 {"dtm_result":"SUCCESS"} (a repeat was applied before)
 *   FAILURE             -> 409 {"dtm_result":"FAILURE"}
 *   ONGOING             -> 425 {"dtm_result":"ONGOING"} (asked again after the base interval)
 *   EINVAL              -> 400 {"error":"invalid barrier parameters"}
 *   ERROR, anything else-> 500 {"error":"barrier error"} (retried with back-off)
 * Returns the status; *body (may be NULL) is set to a static JSON text.
 * Pure; any thread.
 */
int mr_barrier_http_answer(int result, const char **body);

/* ---- pruning: old barrier rows leave the table ---- */

/* The shortest mr_barrier_prune() cutoff accepted without MR_BARRIER_PRUNE_FORCE: 1 hour. */
#define MR_BARRIER_PRUNE_MIN_S 3600

/* The most rows one pruning statement deletes. */
#define MR_BARRIER_PRUNE_BATCH_MAX 10000

/* mr_barrier_prune() flags. */
#define MR_BARRIER_PRUNE_FORCE 1 /* accept a cutoff below MR_BARRIER_PRUNE_MIN_S */

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
