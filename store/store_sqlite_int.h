/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_int.h - what the files of the SQLite engine share: the handle,
 * the statements every handle prepares (one X-macro list, so ids and SQL text
 * cannot drift), the binder, and the functions one file of the engine offers
 * the others. The engine's files:
 *
 *   store_sqlite.c          the engine table, open (pragmas, statements), transactions
 *   store_sqlite_stmt.c     binding, stepping and reading statements, error mapping
 *   store_sqlite_msg.c      one message: read, insert, transition, schedule, list
 *   store_sqlite_batch.c    the batch (group commit) forms: UPDATE ... RETURNING per chunk
 *   store_sqlite_claim.c    claims, leases and step results
 *   store_sqlite_kv.c       the kv table (DTM topics)
 *   store_sqlite_park.c     parked messages: redrive pages and batches, resetCronTime
 *   store_sqlite_registry.c the relay registry
 *   store_sqlite_retention.c retention: the job lease, deleting old final messages
 *   store_sqlite_schema.c   migrations at open
 *
 * Must not: be included outside these files. Threads and errors as in
 * store_sqlite.c.
 */
#ifndef MR_STORE_STORE_SQLITE_INT_H
#define MR_STORE_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/model.h"
#include "store/store_int.h"

/* The msg columns every message query returns, in sq_read_msg()'s order. */
#define MSG_COLS                                                                                   \
    "id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent, "          \
    "wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time, "          \
    "update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner, "         \
    "lease_until, result, retry_limit, query_attempts, parked_from, traceparent, tracestate, "    \
    "ordering_key, order_pos"

/* MSG_COLS qualified with the table, for the claim's join with step. */
#define MSG_COLS_M                                                                                 \
    "msg.id, msg.gid, msg.state, msg.query_prepared, msg.protocol, msg.custom_data, "              \
    "msg.branch_headers, msg.concurrent, msg.wait_result, msg.timeout_to_fail, "                   \
    "msg.retry_interval, msg.request_timeout, msg.delay, msg.create_time, msg.update_time, "       \
    "msg.finish_time, msg.rollback_time, msg.next_cron_time, msg.next_cron_interval, msg.owner, "  \
    "msg.lease_until, msg.result, msg.retry_limit, msg.query_attempts, msg.parked_from, "          \
    "msg.traceparent, msg.tracestate, msg.ordering_key, msg.order_pos"

/* How many columns MSG_COLS has: where the step columns of the claim's join start. */
#define MSG_NCOLS 29

/* The step columns, in sq_read_step()'s order, of step aliased s (ST_STEPS: unqualified). */
#define STEP_COLS_S                                                                                \
    "s.id, s.branch_id, s.url, s.payload, s.state, s.attempts, s.last_error, s.create_time, "      \
    "s.update_time, s.finish_time"

/*
 * The transition's SET clause (after "UPDATE msg"): ?3 the new state, ?4 now, ?5 next_cron_time
 * (< 0 keeps it), ?6 next_cron_interval, ?7 whether the new state is final, ?8 the lease owner
 * to set (NULL keeps the lease; never with a final state) and ?9 its lease_until.
 */
#define TRANSITION_SET                                                                             \
    "SET parked_from = CASE WHEN ?3 = 'parked' THEN state ELSE '' END, "                           \
    "state = ?3, update_time = ?4, "                                                               \
    "finish_time = CASE WHEN ?3 = 'succeed' THEN ?4 ELSE finish_time END, "                        \
    "rollback_time = CASE WHEN ?3 = 'failed' THEN ?4 ELSE rollback_time END, "                     \
    "next_cron_time = CASE WHEN ?5 >= 0 THEN ?5 ELSE next_cron_time END, "                         \
    "next_cron_interval = CASE WHEN ?5 >= 0 THEN ?6 ELSE next_cron_interval END, "                 \
    "owner = CASE WHEN ?7 THEN '' ELSE coalesce(?8, owner) END, "                                  \
    "lease_until = CASE WHEN ?7 THEN 0 WHEN ?8 IS NOT NULL THEN ?9 ELSE lease_until END "

/*
 * The batch statements' IN list: MR_STORE_BATCH_CHUNK (64) parameters from
 * ?10 (IN_FIRST), padded by repeating the last item when a chunk is shorter.
 * One statement per chunk, not per row: besides the set-up each statement
 * costs, a statement that sets msg.state builds the CHECK constraint's IN
 * list as a temporary b-tree every time it runs.
 */
#define IN_FIRST 10
#define IN_LIST                                                                                    \
    "?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,"     \
    "?32,?33,?34,?35,?36,?37,?38,?39,?40,?41,?42,?43,?44,?45,?46,?47,?48,?49,?50,?51,?52,?53,"     \
    "?54,?55,?56,?57,?58,?59,?60,?61,?62,?63,?64,?65,?66,?67,?68,?69,?70,?71,?72,?73"

_Static_assert(MR_STORE_BATCH_CHUNK == 64, "IN_LIST has 64 parameters, ?10 to ?73");

/* Unfinished messages; must read exactly as the msg_due index's WHERE. */
#define UNFINISHED "state IN ('prepared', 'submitted')"

/* Due and not leased at ?1 (now). */
#define DUE "next_cron_time <= ?1 AND lease_until <= ?1"

/* Keyed messages that hold their key's order; must read exactly as the msg_order index's WHERE. */
#define ORDER_LIVE "ordering_key <> '' AND state IN ('submitted', 'parked')"

/*
 * A claimable row of msg: unkeyed, prepared (a back-check has no order), or
 * the head of its key (no unfinished message on the key placed before it).
 */
#define ORDER_HEAD                                                                                 \
    "(msg.ordering_key = '' OR msg.state = 'prepared' OR NOT EXISTS (SELECT 1 FROM msg AS p "     \
    "INDEXED BY msg_order WHERE p.ordering_key <> '' AND p.state IN ('submitted', 'parked') "     \
    "AND p.ordering_key = msg.ordering_key AND p.order_pos > 0 AND p.order_pos < msg.order_pos))"

/*
 * Where claim and count_due look. Without ANALYZE statistics the planner
 * prefers msg_state_id (an equality on state) and sorts every unfinished row;
 * msg_due walks the due ones in order and stops at the LIMIT. Pinned with
 * INDEXED BY, so a schema without the index fails at prepare, not slowly.
 */
#define DUE_FROM "FROM msg INDEXED BY msg_due WHERE " UNFINISHED " AND " DUE

/* The tail shared by the three list statements: ?3 position, ?4..?5 create range, ?6 limit. */
#define LIST_TAIL                                                                                  \
    " AND id < ?3 AND create_time >= ?4 AND create_time <= ?5 ORDER BY id DESC LIMIT ?6"

/* The kv columns, in read_kv()'s order. */
#define KV_COLS "id, cat, k, v, version, create_time, update_time"

/* The relay_registry columns, in read_relay()'s and the insert's order. */
#define RELAY_COLS                                                                                 \
    "relay_id, instance, host, machine, pid, pid_start, started_time, heartbeat_until"

/* X(id, sql): every statement a handle prepares. */
#define STMT_LIST(X)                                                                               \
    X(ST_BEGIN, "BEGIN IMMEDIATE")                                                                 \
    X(ST_COMMIT, "COMMIT")                                                                         \
    X(ST_ROLLBACK, "ROLLBACK")                                                                     \
    X(ST_SAVEPOINT, "SAVEPOINT mr_insert")                                                         \
    X(ST_RELEASE_SP, "RELEASE mr_insert")                                                          \
    X(ST_ROLLBACK_SP, "ROLLBACK TO mr_insert")                                                     \
    X(ST_MSG_BY_GID, "SELECT " MSG_COLS " FROM msg WHERE gid = ?1")                                \
    X(ST_MSG_BY_ID, "SELECT " MSG_COLS " FROM msg WHERE id = ?1")                                  \
    X(ST_STEPS, "SELECT id, branch_id, url, payload, state, attempts, last_error, "                \
                "create_time, update_time, finish_time FROM step WHERE msg_id = ?1 "               \
                "ORDER BY id")                                                                     \
    X(ST_MSG_INSERT,                                                                               \
      "INSERT INTO msg (gid, state, query_prepared, protocol, custom_data, branch_headers, "       \
      "concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout, delay, "         \
      "create_time, update_time, finish_time, rollback_time, next_cron_time, "                     \
      "next_cron_interval, result, owner, lease_until, retry_limit, traceparent, tracestate, "     \
      "query_dest, ordering_key) "                                                                 \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "       \
      "?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)")                                                   \
    X(ST_STEP_INSERT,                                                                              \
      "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, last_error, "           \
      "create_time, update_time, finish_time, dest) "                                              \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                                     \
    X(ST_TRANSITION, "UPDATE msg " TRANSITION_SET "WHERE gid = ?1 AND state = ?2")                 \
    /* pinned: without statistics the planner walks msg_state_id for the state */                  \
    X(ST_TRANSITION_MANY, "UPDATE msg INDEXED BY msg_gid " TRANSITION_SET                          \
                          "WHERE state = ?2 AND gid IN (" IN_LIST ") RETURNING gid")               \
    /* the same by id (a gid stored again since is left alone), by rowid: NOT INDEXED, else the \
       planner walks msg_state_id for the state and the ids */                                    \
    X(ST_TRANSITION_IDS, "UPDATE msg NOT INDEXED " TRANSITION_SET                                  \
                         "WHERE state = ?2 AND id IN (" IN_LIST ") RETURNING id")                  \
    X(ST_MSG_STATE, "SELECT state FROM msg WHERE gid = ?1")                                        \
    X(ST_SCHEDULE, "UPDATE msg SET next_cron_time = ?2, "                                          \
                   "next_cron_interval = CASE WHEN ?3 >= 0 THEN ?3 ELSE next_cron_interval END, "  \
                   "update_time = ?4 WHERE gid = ?1 AND " UNFINISHED)                              \
    X(ST_CLAIM_IDS, "SELECT id " DUE_FROM " AND " ORDER_HEAD " ORDER BY next_cron_time LIMIT ?2") \
    /* ordered delivery per key (store_sqlite_order.c) */                                         \
    X(ST_ORDER_OF, "SELECT ordering_key, order_pos FROM msg WHERE gid = ?1")                       \
    X(ST_ORDER_NEXT, "INSERT INTO order_key (k, next_pos) VALUES (?1, 1) ON CONFLICT (k) "         \
                     "DO UPDATE SET next_pos = next_pos + 1 RETURNING next_pos")                   \
    /* ?1 key, ?2 position: the nearest unfinished message placed before it, or no row */         \
    X(ST_ORDER_BEFORE, "SELECT gid FROM msg INDEXED BY msg_order WHERE " ORDER_LIVE               \
                       " AND ordering_key = ?1 AND order_pos > 0 AND order_pos < ?2 "                          \
                       "ORDER BY order_pos DESC LIMIT 1") \
    /* ?1 gid, ?2 position, ?3 whether it is its key's head (else it waits, unleased) */          \
    X(ST_ORDER_SET, "UPDATE msg SET order_pos = ?2, "                                              \
                    "next_cron_time = CASE WHEN ?3 THEN next_cron_time ELSE ?4 END, "              \
                    "owner = CASE WHEN ?3 THEN owner ELSE '' END, "                                \
                    "lease_until = CASE WHEN ?3 THEN lease_until ELSE 0 END WHERE gid = ?1")       \
    /* ?1 the finished message's gid, ?2 now: its key's new head becomes due */                   \
    X(ST_ORDER_WAKE, "UPDATE msg SET next_cron_time = ?2, update_time = ?2 WHERE id = "           \
                     "(SELECT n.id FROM msg AS f JOIN msg AS n INDEXED BY msg_order "              \
                     "ON n.ordering_key = f.ordering_key WHERE f.gid = ?1 AND f.ordering_key <> '' " \
                     "AND n.ordering_key <> '' AND n.state IN ('submitted', 'parked') AND n.order_pos > 0 "            \
                     "ORDER BY n.order_pos LIMIT 1) AND state = 'submitted' AND next_cron_time > ?2")                     \
    X(ST_CLAIM_LEASE, "UPDATE msg SET owner = ?2, lease_until = ?3 "                               \
                      "WHERE id IN (SELECT value FROM json_each(?1))")                             \
    X(ST_CLAIM_LOAD, "SELECT " MSG_COLS_M ", " STEP_COLS_S " FROM json_each(?1) AS j "             \
                     "JOIN msg ON msg.id = j.value LEFT JOIN step AS s ON s.msg_id = msg.id "      \
                     "ORDER BY j.key, s.id")                                                       \
    X(ST_STEP_RECORD, "UPDATE step SET attempts = attempts + 1, update_time = ?3, "                \
                      "state = CASE WHEN ?2 THEN 'succeed' ELSE state END, "                       \
                      "finish_time = CASE WHEN ?2 THEN ?3 ELSE finish_time END, "                  \
                      "last_error = CASE WHEN ?2 THEN last_error ELSE ?4 END WHERE id = ?1 "       \
                      "AND EXISTS (SELECT 1 FROM msg WHERE msg.id = step.msg_id "                  \
                      "AND msg.state = 'submitted')")                                              \
    X(ST_STEP_SUCCEED_MANY,                                                                        \
      "UPDATE step SET attempts = attempts + 1, update_time = ?3, state = 'succeed', "             \
      "finish_time = ?3 WHERE id IN (" IN_LIST ") AND EXISTS (SELECT 1 FROM msg "                  \
      "WHERE msg.id = step.msg_id AND msg.state = 'submitted') RETURNING id")                      \
    X(ST_STEP_EXISTS, "SELECT 1 FROM step WHERE id = ?1")                                          \
    X(ST_RELEASE, "UPDATE msg SET owner = '', lease_until = 0, next_cron_time = ?3, "              \
                  "next_cron_interval = CASE WHEN ?4 >= 0 THEN ?4 ELSE next_cron_interval END, "   \
                  "result = coalesce(?5, result), update_time = ?6 "                               \
                  "WHERE gid = ?1 AND owner = ?2 AND " UNFINISHED)                                 \
    X(ST_RELEASE_OWNER, "UPDATE msg SET owner = '', lease_until = 0 "                              \
                        "WHERE owner = ?1 AND owner <> ''")                                        \
    /* count and oldest due time in one read: the first ?2 entries of msg_due, in its order */  \
    X(ST_COUNT_DUE, "SELECT count(*), coalesce(min(d), 0) FROM (SELECT next_cron_time AS d "      \
                    DUE_FROM " ORDER BY next_cron_time LIMIT ?2)")                                 \
    /* a destination answers again (mr_store_due_by_dest): ?1 key, ?2 now, ?3 spread, ?4 limit */  \
    X(ST_DUE_BY_DEST,                                                                              \
      "UPDATE msg SET next_cron_time = min(next_cron_time, ?2 + abs(random() % (?3 + 1))), "       \
      "update_time = ?2 WHERE id IN (SELECT id FROM msg INDEXED BY msg_due WHERE " UNFINISHED      \
      " AND next_cron_time > ?2 + ?3 AND next_cron_time < " MR_ORDER_WAIT_SQL                     \
      " AND ((state = 'submitted' AND EXISTS (SELECT 1 FROM step "     \
      "WHERE step.msg_id = msg.id AND step.state = 'prepared' AND step.dest = ?1)) OR "            \
      "(state = 'prepared' AND query_dest = ?1)) LIMIT ?4)")                                       \
    X(ST_COUNT_STATE, "SELECT count(*) FROM msg WHERE state = ?1")                                 \
    X(ST_OLDEST_STATE, "SELECT coalesce((SELECT create_time FROM msg INDEXED BY msg_state_id "     \
                       "WHERE state = ?1 ORDER BY id LIMIT 1), 0)")                                \
    X(ST_REDRIVE_PAGE,                                                                             \
      "SELECT id FROM msg INDEXED BY msg_state_id WHERE state = 'parked' AND id > ?1 "             \
      "AND (?2 = '' OR gid = ?2) AND (?3 = '' OR substr(gid, 1, length(?3)) = ?3) "                \
      "AND (?4 = 0 OR update_time >= ?4) AND (?5 = 0 OR update_time <= ?5) "                       \
      "AND (?6 = '' OR (parked_from = 'prepared' AND substr(query_prepared, 1, length(?6)) = ?6) " \
      "OR EXISTS (SELECT 1 FROM step WHERE step.msg_id = msg.id AND step.state = 'prepared' "      \
      "AND substr(step.url, 1, length(?6)) = ?6)) "                                                \
      "AND (?7 = '' OR instr(result, ?7) > 0 OR EXISTS (SELECT 1 FROM step "                       \
      "WHERE step.msg_id = msg.id AND instr(coalesce(step.last_error, ''), ?7) > 0)) "             \
      "ORDER BY id LIMIT ?8")                                                                      \
    X(ST_REDRIVE_STEPS, "UPDATE step SET attempts = 0 WHERE state = 'prepared' AND msg_id IN "     \
                        "(SELECT id FROM msg WHERE state = 'parked' AND id IN "                    \
                        "(SELECT value FROM json_each(?1)))")                                      \
    X(ST_REDRIVE_MSGS,                                                                             \
      "UPDATE msg SET state = CASE WHEN parked_from = 'prepared' THEN 'prepared' "                 \
      "ELSE 'submitted' END, parked_from = '', query_attempts = 0, next_cron_time = ?2, "          \
      "next_cron_interval = 0, owner = '', lease_until = 0, update_time = ?2 "                     \
      "WHERE state = 'parked' AND id IN (SELECT value FROM json_each(?1))")                        \
    X(ST_RESET_CRON, "UPDATE msg SET next_cron_time = ?1, update_time = ?1 WHERE id IN "           \
                     "(SELECT id FROM msg INDEXED BY msg_due WHERE " UNFINISHED                    \
                     " AND next_cron_time > ?2 AND next_cron_time < " MR_ORDER_WAIT_SQL " LIMIT ?3)")                                         \
    X(ST_CRON_LEFT, "SELECT EXISTS (SELECT 1 FROM msg INDEXED BY msg_due WHERE " UNFINISHED        \
                    " AND next_cron_time > ?1 AND next_cron_time < " MR_ORDER_WAIT_SQL ")")                                                   \
    X(ST_QUERY_FAILED, "UPDATE msg SET query_attempts = query_attempts + 1, update_time = ?2 "     \
                       "WHERE gid = ?1 AND state = 'prepared'")                                    \
    X(ST_LIST_GID,                                                                                 \
      "SELECT " MSG_COLS " FROM msg WHERE gid = ?1 AND (?2 = '' OR state = ?2)" LIST_TAIL)         \
    X(ST_LIST_STATE, "SELECT " MSG_COLS " FROM msg WHERE state = ?2" LIST_TAIL)                    \
    X(ST_LIST_PREFIX, "SELECT " MSG_COLS " FROM msg WHERE substr(gid, 1, length(?1)) = ?1 "        \
                      "AND (?2 = '' OR state = ?2)" LIST_TAIL)                                     \
    X(ST_LIST_ALL, "SELECT " MSG_COLS " FROM msg WHERE 1" LIST_TAIL)                               \
    X(ST_KV_GET, "SELECT " KV_COLS " FROM kv WHERE cat = ?1 AND k = ?2")                           \
    X(ST_KV_SCAN, "SELECT " KV_COLS " FROM kv WHERE cat = ?1 AND id < ?2 ORDER BY id DESC "        \
                  "LIMIT ?3")                                                                      \
    X(ST_KV_INSERT, "INSERT INTO kv (cat, k, v, version, create_time, update_time) "               \
                    "VALUES (?1, ?2, ?3, 1, ?4, ?5)")                                              \
    X(ST_KV_UPDATE, "UPDATE kv SET v = ?3, version = version + 1, update_time = ?4 "               \
                    "WHERE id = ?1 AND version = ?2")                                              \
    X(ST_KV_DELETE, "DELETE FROM kv WHERE cat = ?1 AND k = ?2")                                    \
    X(ST_JOB_LEASE, "UPDATE job_lease SET owner = ?2, lease_until = ?4 "                           \
                    "WHERE name = ?1 AND (lease_until <= ?3 OR owner = ?2)")                       \
    X(ST_JOB_LEASE_NEW, "INSERT OR IGNORE INTO job_lease (name, owner, lease_until) "              \
                        "VALUES (?1, ?2, ?4)")                                                     \
    /* pinned to the partial indexes of 004_retention.sql: their WHERE word for word */            \
    X(ST_RETAIN_SUCCEED, "DELETE FROM msg WHERE id IN (SELECT id FROM msg "                        \
                         "INDEXED BY msg_succeed_done WHERE state = 'succeed' "                    \
                         "AND finish_time < ?1 ORDER BY finish_time LIMIT ?2)")                    \
    X(ST_RETAIN_FAILED, "DELETE FROM msg WHERE id IN (SELECT id FROM msg "                         \
                        "INDEXED BY msg_failed_done WHERE state = 'failed' "                       \
                        "AND rollback_time < ?1 ORDER BY rollback_time LIMIT ?2)")                 \
    X(ST_RELAY_GET, "SELECT " RELAY_COLS " FROM relay_registry WHERE relay_id = ?1")               \
    X(ST_RELAY_INSERT, "INSERT INTO relay_registry (" RELAY_COLS ") "                              \
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                                  \
    X(ST_RELAY_REPLACE, "UPDATE relay_registry SET instance = ?2, host = ?3, machine = ?4, "       \
                        "pid = ?5, pid_start = ?6, started_time = ?7, heartbeat_until = ?8 "       \
                        "WHERE relay_id = ?1 AND instance = ?9")                                   \
    X(ST_RELAY_HEARTBEAT, "UPDATE relay_registry SET heartbeat_until = ?3 "                        \
                          "WHERE relay_id = ?1 AND instance = ?2")                                 \
    X(ST_RELAY_DELETE, "DELETE FROM relay_registry WHERE relay_id = ?1 AND instance = ?2")

enum stmt_id {
#define STMT_ENUM(id, sql) id,
    STMT_LIST(STMT_ENUM)
#undef STMT_ENUM
        ST_COUNT
};

/* A SQLite handle: the store.h header first, then the connection and its statements. */
struct sq_store {
    struct mr_store base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT]; /* each prepared on its first use (sq_binder), or NULL */
    int64_t busy_since_ms; /* mr_mono_ms() when the current wait for a lock began */
};

/* sq - the SQLite handle behind @s. */
static inline struct sq_store *sq(struct mr_store *s)
{
    return (struct sq_store *)s;
}

/*
 * Parameter binding that keeps the first failure, so a statement's binds read
 * as a list and are checked once. Strings and blobs are bound SQLITE_STATIC:
 * they are the caller's and outlive the step that uses them.
 */
struct binder {
    sqlite3_stmt *st;
    int rc;
};

/* A reader of the current row of a query into a zeroed array slot, for sq_load_rows(). */
typedef int (*read_row_fn)(sqlite3_stmt *st, void *slot, struct mr_err *err);

/* A visitor of the current row, for sq_each_row(): 0 to go on, or an error that stops it. */
typedef int (*row_fn)(sqlite3_stmt *st, void *ctx, struct mr_err *err);

/* A destructor of the first @n slots of an array sq_load_rows() filled. */
typedef void (*free_rows_fn)(void *v, size_t n);

/* store_sqlite_stmt.c */
int sq_fail(sqlite3 *db, int rc, struct mr_err *err);
void sq_done(sqlite3_stmt *st);
struct binder sq_binder(struct sq_store *q, enum stmt_id id);
void sq_bind_text(struct binder *b, int i, const char *s);
void sq_bind_text_or_null(struct binder *b, int i, const char *s);
void sq_bind_blob(struct binder *b, int i, const void *p, size_t n);
void sq_bind_int(struct binder *b, int i, int64_t v);
int sq_step(struct binder *b);
int sq_run(struct sq_store *q, struct binder *b, struct mr_err *err);
/* sq_run_changing - sq_run(), and when it changed no row the error @none with the message @fmt. */
int sq_run_changing(struct sq_store *q, struct binder *b, int none, struct mr_err *err,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* sq_read_int - step a bound query that answers one integer row into *@v. */
int sq_read_int(struct sq_store *q, struct binder *b, long *v, struct mr_err *err);
int sq_each_row(struct sq_store *q, struct binder *b, row_fn fn, void *ctx, struct mr_err *err);
int sq_exec_stmt(struct sq_store *q, enum stmt_id id, struct mr_err *err);
int sq_exec_sql(sqlite3 *db, const char *sql, struct mr_err *err);
char *sq_col_str(sqlite3_stmt *st, int i);
int sq_load_rows(struct sq_store *q, struct binder *b, size_t size, read_row_fn read,
                 free_rows_fn free_rows, void **out, size_t *n, struct mr_err *err);

/* store_sqlite_msg.c */
int sq_read_msg(sqlite3_stmt *st, struct mr_msg **out, struct mr_err *err);
int sq_read_step(sqlite3_stmt *st, int c, struct mr_step *sp, struct mr_err *err);
int sq_insert_rows(struct sq_store *q, struct mr_msg *m, struct mr_err *err);
int sq_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
               struct mr_err *err);
int sq_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err);
int sq_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                      int64_t next_cron_ms, int next_cron_interval, struct mr_err *err);
void sq_bind_transition(struct binder *b, int from, int to, int64_t now_ms, int64_t next_cron_ms,
                        int next_cron_interval, const char *lease_owner, int64_t lease_until_ms);
int sq_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                    int64_t now_ms, struct mr_err *err);
int sq_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                size_t *n, struct mr_err *err);

/* store_sqlite_batch.c */
int sq_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err);
int sq_msg_transition_many(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                           bool *changed, struct mr_err *err);
int sq_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n, int64_t now_ms,
                         int *res, struct mr_err *err);

/* store_sqlite_claim.c */
int sq_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
             size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err);
int sq_step_missing(struct sq_store *q, int64_t id, int *res, struct mr_err *err);
int sq_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                   int64_t now_ms, struct mr_err *err);
int sq_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                   int interval, const char *result, int64_t now_ms, struct mr_err *err);
int sq_release_owner(struct mr_store *s, const char *owner, struct mr_err *err);
int sq_count_due(struct mr_store *s, int64_t now_ms, int64_t limit, long *n, int64_t *oldest_ms,
                 struct mr_err *err);
int sq_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                   size_t limit, long *n, struct mr_err *err);
int sq_count_state(struct mr_store *s, int state, long *n, struct mr_err *err);
int sq_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err);
int sq_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);
int sq_redrive_page(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                    size_t limit, int64_t *ids, size_t *n, struct mr_err *err);
int sq_redrive_ids(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms, long *changed,
                   struct mr_err *err);
int sq_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit, long *count,
                  bool *remaining, struct mr_err *err);

/* store_sqlite_kv.c */
int sq_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out, size_t *n,
              struct mr_err *err);
int sq_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
               struct mr_kv **out, size_t *n, struct mr_err *err);
int sq_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err);
int sq_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v, int64_t now_ms,
                 struct mr_err *err);
int sq_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err);

/* store_sqlite_retention.c */
int sq_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                 int64_t until_ms, bool *held, struct mr_err *err);
int sq_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                        struct mr_err *err);

/* store_sqlite_registry.c */
int sq_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                 struct mr_err *err);
int sq_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err);
int sq_relay_replace(struct mr_store *s, const struct mr_store_relay *r, const char *old_instance,
                     struct mr_err *err);
int sq_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                       int64_t until_ms, struct mr_err *err);
int sq_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                        struct mr_err *err);

/* store_sqlite_schema.c */
/* store_sqlite_order.c */
int sq_order_of(struct mr_store *s, const char *gid, char **key, int64_t *pos,
                struct mr_err *err);
int sq_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err);
int sq_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                    struct mr_err *err);
int sq_order_set(struct mr_store *s, const char *gid, int64_t pos, bool head, struct mr_err *err);
int sq_order_wake(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);

int sq_migrate(sqlite3 *db, struct mr_store_migration_report *report, struct mr_err *err);

#endif
