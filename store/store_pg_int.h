/* SPDX-License-Identifier: MIT */
/*
 * store_pg_int.h - what the files of the PostgreSQL engine share: the handle,
 * the statements a connection prepares (one X-macro list, so ids and SQL text
 * cannot drift), the parameters of the next statement and the current result,
 * and the functions one file of the engine offers the others. The engine's
 * files:
 *
 *   store_pg.c            the engine table and mr_store_pg_open()
 *   store_pg_uri.c        the store URI (libpq's own) and its defaults
 *   store_pg_conn.c       connection, session, error mapping, transactions
 *   store_pg_stmt.c       prepared statements, parameters, arrays, result rows
 *   store_pg_msg.c        one message: read, insert, transition, schedule, list
 *   store_pg_batch.c      the batch (group commit) forms
 *   store_pg_claim.c      claims, leases and step results
 *   store_pg_kv.c         the kv table (DTM topics)
 *   store_pg_park.c       parked messages: redrive pages and batches, resetCronTime
 *   store_pg_registry.c   the relay registry
 *   store_pg_retention.c  retention: the job lease, deleting old final messages
 *   store_pg_order.c      ordered delivery per key: places, predecessors, wake-ups
 *   store_pg_schema.c     schema check and migrations
 *
 * Many rows go in one statement as array parameters: "= ANY($1::bigint[])"
 * for an id list, "unnest($1::text[], ...)" for a multi-row INSERT, one array
 * per column. Arrays are built here as PostgreSQL array literals from our own
 * values, every text element quoted (store_pg_stmt.c): data never becomes SQL.
 *
 * Must not: be included outside these files. Threads and errors as in
 * store_pg.c.
 */
#ifndef MR_STORE_STORE_PG_INT_H
#define MR_STORE_STORE_PG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/model.h"
#include "store/store_int.h"

/* The most parameters one statement takes. */
#define MAX_PARAMS 32

/* Columns of one message row of a msg INSERT (one array parameter each). */
#define MSG_PARAMS 26

/* Columns of one step row of a step INSERT. */
#define STEP_PARAMS 11

/* The msg columns every message query returns (read by pg_read_msg()). */
#define MSG_COLS                                                                                   \
    "id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent, "          \
    "wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time, "          \
    "update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner, "         \
    "lease_until, result, retry_limit, query_attempts, parked_from, traceparent, tracestate, "     \
    "ordering_key, order_pos"

/* The step columns, the message id first (read by pg_add_step()). */
#define STEP_COLS                                                                                  \
    "msg_id, id, branch_id, url, payload, state, attempts, last_error, create_time, "              \
    "update_time, finish_time"

#define UNFINISHED "state IN ('prepared', 'submitted')"

/* Due and not leased at $1. due_time is NULL but for unfinished messages (see the schema). */
#define DUE "due_time <= $1 AND lease_until <= $1"

/* Keyed messages that hold their key's order; must read exactly as the msg_order index's WHERE. */
#define ORDER_LIVE "ordering_key <> '' AND state IN ('submitted', 'parked')"

/*
 * A claimable row of msg: unkeyed, prepared (a back-check has no order), or
 * the head of its key (no unfinished message on the key placed before it).
 * The subquery is a plain read of the statement's snapshot: the claim's FOR
 * UPDATE SKIP LOCKED locks (and skips) rows of the outer msg only, never a
 * predecessor the subquery looks at.
 */
#define ORDER_HEAD                                                                                 \
    "(msg.ordering_key = '' OR msg.state = 'prepared' OR NOT EXISTS (SELECT 1 FROM msg AS p "      \
    "WHERE p.ordering_key <> '' AND p.state IN ('submitted', 'parked') "                           \
    "AND p.ordering_key = msg.ordering_key AND p.order_pos > 0 AND p.order_pos < msg.order_pos))"

/* Not waiting for its key's predecessor (store.h, ordered delivery): column @c below the mark. */
#define NOT_WAITING(c) c " < " MR_ORDER_WAIT_SQL

/* The kv and relay_registry columns. */
#define KV_COLS    "id, cat, k, v, version, create_time, update_time"
#define RELAY_COLS "relay_id, instance, host, machine, pid, pid_start, started_time, heartbeat_until"

/* The tail of the list statements: position, create range, limit, from parameter $a on. */
#define LIST_TAIL(a, b, c, d)                                                                      \
    " AND id < $" a "::bigint AND create_time >= $" b "::bigint AND create_time <= $" c            \
    "::bigint ORDER BY id DESC LIMIT $" d "::bigint"

/* The SET clause of a state change (after "UPDATE msg"), parameters $1 to $10. */
#define TRANSITION_SET                                                                             \
    "SET parked_from = CASE WHEN $1::text = 'parked' THEN state ELSE '' END, "                     \
    "state = $1::text, update_time = $2::bigint, "                                                 \
    "finish_time = CASE WHEN $3::boolean THEN $2::bigint ELSE finish_time END, "                   \
    "rollback_time = CASE WHEN $4::boolean THEN $2::bigint ELSE rollback_time END, "               \
    "next_cron_time = CASE WHEN $5::boolean THEN $6::bigint ELSE next_cron_time END, "             \
    "next_cron_interval = CASE WHEN $5::boolean THEN $7::int ELSE next_cron_interval END, "        \
    "owner = CASE WHEN $8::boolean THEN $9::text ELSE owner END, "                                 \
    "lease_until = CASE WHEN $8::boolean THEN $10::bigint ELSE lease_until END "

/* X(id, sql): every statement a connection prepares (at its first use). */
#define STMT_LIST(X)                                                                               \
    X(ST_MSG_BY_GID, "SELECT " MSG_COLS " FROM msg WHERE gid = $1::text")                          \
    X(ST_STEPS, "SELECT " STEP_COLS " FROM step WHERE msg_id = $1::bigint ORDER BY id")            \
    X(ST_STEPS_IN, "SELECT " STEP_COLS " FROM step WHERE msg_id = ANY($1::bigint[]) "              \
                   "ORDER BY msg_id, id")                                                          \
    /* locks what it finds: what the caller decides from it holds until its commit */              \
    X(ST_GET_IN, "SELECT " MSG_COLS " FROM msg WHERE gid = ANY($1::text[]) FOR UPDATE")            \
    /* a gid already stored is skipped, not an error: the transaction stays usable */              \
    X(ST_MSG_INSERT,                                                                               \
      "INSERT INTO msg (gid, state, query_prepared, protocol, custom_data, branch_headers, "       \
      "concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout, delay, "         \
      "create_time, update_time, finish_time, rollback_time, next_cron_time, "                     \
      "next_cron_interval, result, owner, lease_until, retry_limit, traceparent, tracestate, "     \
      "query_dest, ordering_key) "                                                                 \
      "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "          \
      "$6::text[], $7::smallint[], $8::smallint[], $9::int[], $10::int[], $11::int[], "            \
      "$12::int[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[], "    \
      "$18::int[], $19::text[], $20::text[], $21::bigint[], $22::int[], $23::text[], "             \
      "$24::text[], $25::text[], $26::text[]) "                                                    \
      "ON CONFLICT (gid) DO NOTHING RETURNING id, gid")                                            \
    /* payloads travel as hex text; a repeated branch is skipped (and reported) */                 \
    X(ST_STEP_INSERT,                                                                              \
      "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, last_error, "           \
      "create_time, update_time, finish_time, dest) "                                              \
      "SELECT m, b, u, decode(p, 'hex'), s, a, e, c, t, f, d FROM unnest($1::bigint[], "           \
      "$2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::bigint[], "      \
      "$9::bigint[], $10::bigint[], $11::text[]) AS r(m, b, u, p, s, a, e, c, t, f, d) "           \
      "ON CONFLICT DO NOTHING "                                                                    \
      "RETURNING id, msg_id, branch_id")                                                           \
    X(ST_MSG_DELETE, "DELETE FROM msg WHERE id = ANY($1::bigint[])")                               \
    /* parked_from takes the old state (every SET reads the row as it was) */                      \
    X(ST_TRANSITION, "UPDATE msg " TRANSITION_SET                                                  \
                     "WHERE state = $11::text AND gid = ANY($12::text[]) RETURNING gid")           \
    /* the same by id: a gid stored again since is left alone */                                  \
    X(ST_TRANSITION_IDS, "UPDATE msg " TRANSITION_SET                                              \
                         "WHERE state = $11::text AND id = ANY($12::bigint[]) RETURNING id")       \
    X(ST_MSG_STATE, "SELECT state FROM msg WHERE gid = $1::text")                                  \
    X(ST_SCHEDULE, "UPDATE msg SET next_cron_time = $1::bigint, next_cron_interval = "             \
                   "CASE WHEN $2::int >= 0 THEN $2::int ELSE next_cron_interval END, "             \
                   "update_time = $3::bigint WHERE gid = $4::text AND " UNFINISHED)                \
    /* lock the due rows no other claim holds, lease them, return them in due order */             \
    X(ST_CLAIM,                                                                                    \
      "WITH c AS (SELECT id FROM msg WHERE " DUE " AND " ORDER_HEAD " ORDER BY due_time "          \
      "LIMIT $2 FOR UPDATE SKIP LOCKED), u AS (UPDATE msg SET owner = $3::text, "                  \
      "lease_until = $4::bigint FROM c WHERE msg.id = c.id RETURNING msg.*) "                      \
      "SELECT " MSG_COLS " FROM u ORDER BY next_cron_time, id")                                    \
    /* ordered delivery per key (store_pg_order.c) */                                              \
    X(ST_ORDER_OF, "SELECT ordering_key, order_pos FROM msg WHERE gid = $1::text")                 \
    /* the key's row stays locked (ours) until the commit */                                       \
    X(ST_ORDER_NEXT, "INSERT INTO order_key (k, next_pos) VALUES ($1, 1) ON CONFLICT (k) "         \
                     "DO UPDATE SET next_pos = order_key.next_pos + 1 RETURNING next_pos")         \
    X(ST_ORDER_LOCK, "INSERT INTO order_key (k, next_pos) VALUES ($1, 0) ON CONFLICT (k) "         \
                     "DO UPDATE SET next_pos = order_key.next_pos")                                \
    /* key, position: the nearest unfinished message placed before it, or no row */                \
    X(ST_ORDER_BEFORE, "SELECT gid FROM msg WHERE " ORDER_LIVE " AND ordering_key = $1::text "     \
                       "AND order_pos > 0 AND order_pos < $2::bigint "                             \
                       "ORDER BY order_pos DESC LIMIT 1")                                          \
    /* gid, position, whether it is its key's head (else it waits, unleased), the wait time */     \
    X(ST_ORDER_SET, "UPDATE msg SET order_pos = $2::bigint, "                                      \
                    "next_cron_time = CASE WHEN $3::boolean THEN next_cron_time "                  \
                    "ELSE $4::bigint END, owner = CASE WHEN $3::boolean THEN owner ELSE '' END, "  \
                    "lease_until = CASE WHEN $3::boolean THEN lease_until ELSE 0 END "             \
                    "WHERE gid = $1::text")                                                        \
    /* the finished message's gid: its key's row, locked until the commit, or no row */            \
    X(ST_ORDER_KEY_LOCK, "SELECT k FROM order_key WHERE k = (SELECT ordering_key FROM msg "        \
                         "WHERE gid = $1::text AND ordering_key <> '') FOR UPDATE")                \
    /* key, now: the key's new head becomes due (a fresh snapshot, after the key's lock) */        \
    X(ST_ORDER_WAKE, "UPDATE msg SET next_cron_time = $2::bigint, update_time = $2::bigint "       \
                     "WHERE id = (SELECT id FROM msg WHERE " ORDER_LIVE " AND ordering_key = "     \
                     "$1::text AND order_pos > 0 ORDER BY order_pos LIMIT 1) "                     \
                     "AND state = 'submitted' AND next_cron_time > $2::bigint")                    \
    /* one call of each step: success, or a failure with its error; only while submitted */        \
    X(ST_STEP_RECORD,                                                                              \
      "UPDATE step SET attempts = attempts + 1, update_time = $1::bigint, "                        \
      "state = CASE WHEN $2::boolean THEN 'succeed' ELSE state END, "                              \
      "finish_time = CASE WHEN $2::boolean THEN $1::bigint ELSE finish_time END, "                 \
      "last_error = CASE WHEN $2::boolean THEN last_error ELSE $3::text END "                      \
      "WHERE id = ANY($4::bigint[]) AND EXISTS (SELECT 1 FROM msg WHERE msg.id = step.msg_id "     \
      "AND msg.state = 'submitted') RETURNING id")                                                 \
    X(ST_STEPS_EXIST, "SELECT id FROM step WHERE id = ANY($1::bigint[])")                          \
    /* one lease end per item: gid, next_cron_time, interval (-1 keeps), result (NULL keeps) */    \
    X(ST_RELEASE,                                                                                  \
      "UPDATE msg SET owner = '', lease_until = 0, next_cron_time = r.n, "                         \
      "next_cron_interval = CASE WHEN r.i >= 0 THEN r.i ELSE next_cron_interval END, "             \
      "result = COALESCE(r.t, result), update_time = $5::bigint "                                  \
      "FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[]) AS r(g, n, i, t) "             \
      "WHERE msg.gid = r.g AND owner = $6::text AND " UNFINISHED)                                  \
    /* leases are held on unfinished messages only: msg_due finds them */                          \
    X(ST_RELEASE_OWNER, "UPDATE msg SET owner = '', lease_until = 0 "                              \
                        "WHERE due_time IS NOT NULL AND owner = $1::text AND owner <> ''")         \
    /* count and oldest due time in one read: the first $2 entries of msg_due, in its order */   \
    X(ST_COUNT_DUE, "SELECT COUNT(*), COALESCE(MIN(d), 0) FROM (SELECT due_time AS d FROM msg "    \
                    "WHERE " DUE " ORDER BY due_time LIMIT $2::bigint) AS t")                      \
    /* a destination answers again (mr_store_due_by_dest): now $1, spread $2, key $3, limit $4 */ \
    X(ST_DUE_BY_DEST,                                                                              \
      "UPDATE msg SET next_cron_time = LEAST(next_cron_time, "                                     \
      "$1::bigint + floor(random() * ($2::bigint + 1))::bigint), update_time = $1::bigint "        \
      "WHERE due_time IS NOT NULL AND id IN (SELECT m.id FROM msg m WHERE "                        \
      "m.due_time > $1::bigint + $2::bigint AND " NOT_WAITING("m.due_time")                        \
      " AND ((m.state = 'submitted' AND EXISTS (SELECT 1 "                                         \
      "FROM step WHERE step.msg_id = m.id AND step.state = 'prepared' AND step.dest = $3::text)) " \
      "OR (m.state = 'prepared' AND m.query_dest = $3::text)) LIMIT $4::bigint)")                  \
    X(ST_COUNT_STATE, "SELECT COUNT(*) FROM msg WHERE state = $1::text")                           \
    X(ST_OLDEST_STATE, "SELECT COALESCE((SELECT create_time FROM msg WHERE state = $1::text "      \
                       "ORDER BY id LIMIT 1), 0)")                                                 \
    X(ST_REDRIVE_PAGE,                                                                             \
      "SELECT id FROM msg WHERE state = 'parked' AND id > $1::bigint "                             \
      "AND ($2::text = '' OR gid = $2::text) "                                                     \
      "AND ($3::text = '' OR gid LIKE $4::text ESCAPE '!') "                                       \
      "AND ($5::bigint = 0 OR update_time >= $5::bigint) "                                         \
      "AND ($6::bigint = 0 OR update_time <= $6::bigint) "                                         \
      "AND ($7::text = '' OR (parked_from = 'prepared' AND query_prepared LIKE $8::text "          \
      "ESCAPE '!') OR EXISTS (SELECT 1 FROM step WHERE step.msg_id = msg.id "                      \
      "AND step.state = 'prepared' AND step.url LIKE $8::text ESCAPE '!')) "                       \
      "AND ($9::text = '' OR result LIKE $10::text ESCAPE '!' OR EXISTS (SELECT 1 FROM step "      \
      "WHERE step.msg_id = msg.id AND step.last_error LIKE $10::text ESCAPE '!')) "                \
      "ORDER BY id LIMIT $11::bigint")                                                             \
    X(ST_REDRIVE_STEPS, "UPDATE step SET attempts = 0 FROM msg WHERE msg.id = step.msg_id "        \
                        "AND msg.state = 'parked' AND step.state = 'prepared' "                    \
                        "AND msg.id = ANY($1::bigint[])")                                          \
    /* state is set from the old parked_from (every SET reads the row as it was) */                \
    X(ST_REDRIVE_MSGS,                                                                             \
      "UPDATE msg SET state = CASE WHEN parked_from = 'prepared' THEN 'prepared' "                 \
      "ELSE 'submitted' END, parked_from = '', query_attempts = 0, next_cron_time = $1::bigint, "  \
      "next_cron_interval = 0, owner = '', lease_until = 0, update_time = $1::bigint "             \
      "WHERE state = 'parked' AND id = ANY($2::bigint[])")                                         \
    X(ST_RESET_CRON, "UPDATE msg SET next_cron_time = $1::bigint, update_time = $1::bigint "       \
                     "WHERE due_time > $2::bigint AND " NOT_WAITING("due_time") " AND id IN "      \
                     "(SELECT id FROM msg WHERE due_time > $2::bigint AND "                        \
                     NOT_WAITING("due_time") " LIMIT $3::bigint)")                                 \
    X(ST_CRON_LEFT, "SELECT COUNT(*) FROM (SELECT 1 FROM msg WHERE due_time > $1::bigint "         \
                    "AND " NOT_WAITING("due_time") " LIMIT 1) AS t")                               \
    X(ST_QUERY_FAILED, "UPDATE msg SET query_attempts = query_attempts + 1, "                      \
                       "update_time = $1::bigint WHERE gid = $2::text AND state = 'prepared'")     \
    X(ST_LIST_GID, "SELECT " MSG_COLS " FROM msg WHERE gid = $1::text "                            \
                   "AND ($2::text = '' OR state = $2::text)" LIST_TAIL("3", "4", "5", "6"))        \
    X(ST_LIST_PREFIX,                                                                              \
      "SELECT " MSG_COLS " FROM msg WHERE left(gid, char_length($1::text)) = $1::text "            \
      "AND ($2::text = '' OR state = $2::text)" LIST_TAIL("3", "4", "5", "6"))                     \
    X(ST_LIST_STATE,                                                                               \
      "SELECT " MSG_COLS " FROM msg WHERE state = $1::text" LIST_TAIL("2", "3", "4", "5"))         \
    X(ST_LIST_ALL, "SELECT " MSG_COLS " FROM msg WHERE true" LIST_TAIL("1", "2", "3", "4"))        \
    X(ST_KV_GET, "SELECT " KV_COLS " FROM kv WHERE cat = $1::text AND k = $2::text")               \
    X(ST_KV_SCAN, "SELECT " KV_COLS " FROM kv WHERE cat = $1::text AND id < $2::bigint "           \
                  "ORDER BY id DESC LIMIT $3::bigint")                                             \
    /* a key already stored is skipped, not an error: the transaction stays usable */              \
    X(ST_KV_INSERT, "INSERT INTO kv (cat, k, v, version, create_time, update_time) "               \
                    "VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (cat, k) DO NOTHING RETURNING id") \
    X(ST_KV_UPDATE, "UPDATE kv SET v = $1::text, version = version + 1, "                          \
                    "update_time = $2::bigint WHERE id = $3::bigint AND version = $4::bigint")     \
    X(ST_KV_DELETE, "DELETE FROM kv WHERE cat = $1::text AND k = $2::text")                        \
    X(ST_JOB_LEASE, "UPDATE job_lease SET owner = $1::text, lease_until = $2::bigint "             \
                    "WHERE name = $3::text AND (lease_until <= $4::bigint OR owner = $1::text)")   \
    X(ST_JOB_LEASE_NEW, "INSERT INTO job_lease (name, owner, lease_until) "                        \
                        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")                              \
    /* msg_done walks final messages oldest first; steps go by cascade */                          \
    X(ST_RETAIN, "DELETE FROM msg WHERE id IN (SELECT id FROM msg WHERE done_time < $1::bigint "   \
                 "ORDER BY done_time, id LIMIT $2::bigint) AND state IN ('succeed', 'failed')")    \
    X(ST_RELAY_GET,                                                                                \
      "SELECT " RELAY_COLS " FROM relay_registry WHERE relay_id = $1::text FOR UPDATE")            \
    X(ST_RELAY_INSERT, "INSERT INTO relay_registry (" RELAY_COLS ") "                              \
                       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING")           \
    X(ST_RELAY_REPLACE, "UPDATE relay_registry SET instance = $2::text, host = $3::text, "         \
                        "machine = $4::text, pid = $5::bigint, pid_start = $6::bigint, "           \
                        "started_time = $7::bigint, heartbeat_until = $8::bigint "                 \
                        "WHERE relay_id = $1::text AND instance = $9::text")                       \
    X(ST_RELAY_HEARTBEAT, "UPDATE relay_registry SET heartbeat_until = $1::bigint "                \
                          "WHERE relay_id = $2::text AND instance = $3::text")                     \
    X(ST_RELAY_DELETE,                                                                             \
      "DELETE FROM relay_registry WHERE relay_id = $1::text AND instance = $2::text")             \
    X(ST_SCHEMA_VERSION, "SELECT COALESCE(MAX(version), 0) FROM schema_version")                   \
    X(ST_SCHEMA_APPLIED, "INSERT INTO schema_version (version, applied_time) VALUES ($1, $2)")

enum stmt_id {
#define STMT_ENUM(id, sql) id,
    STMT_LIST(STMT_ENUM)
#undef STMT_ENUM
        ST_COUNT
};

/* One parsed store URI: libpq's connection string and where it points, for messages. */
struct pg_conf {
    char *uri;   /* "postgresql://...", as libpq reads it (owned) */
    char *where; /* "host:port/db" or the socket directory (never the password) */
};

/*
 * The parameters of the next statement, all in libpq's text format. Integers
 * are printed into num[]; strings are borrowed (they must outlive the
 * execute); array literals built by pg_p_array() are owned and freed at the
 * next pg_p_reset().
 */
struct params {
    const char *val[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    char *own[MAX_PARAMS];
    unsigned int n;
};

/*
 * A PostgreSQL handle: the store.h header first (whose in_tx says whether a
 * transaction is open). db is NULL while disconnected; broken marks a
 * connection that failed and is made again at the next use outside a
 * transaction. tx_lost is 0, or the error every call of a transaction the
 * server has aborted answers until it is rolled back (PostgreSQL aborts a
 * transaction at its first failed statement): only rollback clears it.
 */
struct pg_store {
    struct mr_store base;
    struct pg_conf conf;
    PGconn *db;
    bool broken;
    bool relaxed; /* mr_store_relax(): every connection's commits skip the wait for the disk */
    int tx_lost;
    bool prepared[ST_COUNT];
    struct params p;
    PGresult *res; /* the result of the last statement (rows read from it) */
    int row;       /* the current row of res, for the row readers */
};

/* pg - the PostgreSQL handle behind @s. */
static inline struct pg_store *pg(struct mr_store *s)
{
    return (struct pg_store *)s;
}

/* A reader of the current row into a zeroed array slot, for pg_load_rows(). */
typedef int (*read_row_fn)(struct pg_store *ps, void *slot, struct mr_err *err);

/* A visitor of the current row, for pg_each_row(): 0 to go on, or an error that stops it. */
typedef int (*row_fn)(struct pg_store *ps, void *ctx, struct mr_err *err);

/* A destructor of the first @n slots of an array pg_load_rows() filled. */
typedef void (*free_rows_fn)(void *v, size_t n);

/* store_pg.c */
int pg_handle_new(const char *scheme_rest, struct pg_store **out, struct mr_err *err);

/* store_pg_uri.c */
int pg_uri_parse(const char *rest, struct pg_conf *c, struct mr_err *err);
void pg_conf_free(struct pg_conf *c);

/* store_pg_conn.c (pg_ready .. pg_rollback: the engine's members) */
int pg_fail(struct pg_store *ps, const PGresult *res, struct mr_err *err);
int pg_query(struct pg_store *ps, const char *sql, struct mr_err *err);
int pg_connect(struct pg_store *ps, bool admin, struct mr_err *err);
int pg_ready(struct mr_store *s, struct mr_err *err);
int pg_relax(struct mr_store *s, struct mr_err *err);
void pg_close(struct mr_store *s);
int pg_begin(struct mr_store *s, struct mr_err *err);
int pg_commit(struct mr_store *s, struct mr_err *err);
void pg_rollback(struct mr_store *s);

/* store_pg_stmt.c */
void pg_p_reset(struct pg_store *ps);
void pg_p_int(struct pg_store *ps, int64_t v);
void pg_p_text(struct pg_store *ps, const char *s);
void pg_p_text_or_null(struct pg_store *ps, const char *s);
void pg_p_array(struct pg_store *ps, struct mr_buf *arr);
void pg_p_ids(struct pg_store *ps, const int64_t *ids, size_t n);
void pg_p_texts(struct pg_store *ps, const char *const *v, size_t n);
void pg_arr_int(struct mr_buf *arr, int64_t v);
void pg_arr_text(struct mr_buf *arr, const char *s);
void pg_arr_hex(struct mr_buf *arr, const void *p, size_t n);
int pg_exec(struct pg_store *ps, enum stmt_id id, struct mr_err *err);
uint64_t pg_changed(struct pg_store *ps);
int pg_each_row(struct pg_store *ps, enum stmt_id id, row_fn fn, void *ctx, struct mr_err *err);
int pg_read_int(struct pg_store *ps, enum stmt_id id, long *v, struct mr_err *err);
int64_t pg_int(struct pg_store *ps, int col);
bool pg_null(struct pg_store *ps, int col);
const char *pg_str(struct pg_store *ps, int col);
char *pg_take(struct pg_store *ps, int col);
char *pg_take_str(struct pg_store *ps, int col);
char *pg_take_bytes(struct pg_store *ps, int col, size_t *len);
int pg_load_rows(struct pg_store *ps, enum stmt_id id, size_t size, read_row_fn read,
                 free_rows_fn free_rows, void **out, size_t *n, struct mr_err *err);

/* store_pg_msg.c */
int pg_read_msg(struct pg_store *ps, struct mr_msg **out, struct mr_err *err);
int pg_add_step(struct pg_store *ps, struct mr_msg *m, size_t *cap, struct mr_err *err);
int pg_load_msgs(struct pg_store *ps, enum stmt_id id, struct mr_msg ***out, size_t *n,
                 struct mr_err *err);
int pg_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
               struct mr_err *err);
int pg_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err);
int pg_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                      int64_t next_cron_ms, int next_cron_interval, struct mr_err *err);
int pg_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                    int64_t now_ms, struct mr_err *err);
int pg_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                size_t *n, struct mr_err *err);

/* store_pg_batch.c */
int pg_load_steps_in(struct pg_store *ps, struct mr_msg **v, size_t n, struct mr_err *err);
int pg_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                    struct mr_msg **out, struct mr_err *err);
int pg_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err);
int pg_msg_transition_many(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                           bool *changed, struct mr_err *err);
int pg_steps_record(struct pg_store *ps, const int64_t *ids, size_t n, bool success,
                    const char *error, int64_t now_ms, int *res, struct mr_err *err);
int pg_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n, int64_t now_ms,
                         int *res, struct mr_err *err);
int pg_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                        const char *owner, int64_t now_ms, struct mr_err *err);

/* store_pg_claim.c */
int pg_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
             size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err);
int pg_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                   int64_t now_ms, struct mr_err *err);
int pg_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                   int interval, const char *result, int64_t now_ms, struct mr_err *err);
int pg_release_owner(struct mr_store *s, const char *owner, struct mr_err *err);
int pg_count_due(struct mr_store *s, int64_t now_ms, int64_t limit, long *n, int64_t *oldest_ms,
                 struct mr_err *err);
int pg_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                   size_t limit, long *n, struct mr_err *err);
int pg_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err);
int pg_count_state(struct mr_store *s, int state, long *n, struct mr_err *err);
int pg_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);

/* store_pg_park.c */
int pg_redrive_page(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                    size_t limit, int64_t *ids, size_t *n, struct mr_err *err);
int pg_redrive_ids(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms,
                   long *changed, struct mr_err *err);
int pg_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit,
                  long *count, bool *remaining, struct mr_err *err);

/* store_pg_kv.c */
int pg_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out, size_t *n,
              struct mr_err *err);
int pg_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
               struct mr_kv **out, size_t *n, struct mr_err *err);
int pg_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err);
int pg_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v, int64_t now_ms,
                 struct mr_err *err);
int pg_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err);

/* store_pg_retention.c */
int pg_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                 int64_t until_ms, bool *held, struct mr_err *err);
int pg_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                        struct mr_err *err);

/* store_pg_registry.c */
int pg_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                 struct mr_err *err);
int pg_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err);
int pg_relay_replace(struct mr_store *s, const struct mr_store_relay *r, const char *old_instance,
                     struct mr_err *err);
int pg_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                       int64_t until_ms, struct mr_err *err);
int pg_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                        struct mr_err *err);

/* store_pg_order.c */
int pg_order_of(struct mr_store *s, const char *gid, char **key, int64_t *pos,
                struct mr_err *err);
int pg_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err);
int pg_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                    struct mr_err *err);
int pg_order_set(struct mr_store *s, const char *gid, int64_t pos, bool head, struct mr_err *err);
int pg_order_wake(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);
int pg_order_lock(struct mr_store *s, const char *key, struct mr_err *err);

/* store_pg_schema.c */
int pg_check_schema(struct pg_store *ps, struct mr_err *err);

#endif
