/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_int.h - what the files of the MySQL/MariaDB engine share: the
 * handle, the statements a connection prepares (one X-macro list each,
 * so ids and SQL text cannot drift), the parameter and row buffers, and the
 * functions one file of the engine offers the others. The engine's files:
 *
 *   store_mysql.c          the engine table and mr_store_mysql_open()
 *   store_mysql_uri.c      the store URI and its options
 *   store_mysql_conn.c     connection, session, error mapping, transactions
 *   store_mysql_stmt.c     prepared statements, parameters, result rows
 *   store_mysql_msg.c      one message: read, insert, transition, schedule, list
 *   store_mysql_batch.c    the batch (group commit) forms and their IN lists
 *   store_mysql_claim.c    claims, leases and step results
 *   store_mysql_kv.c       the kv table (DTM topics)
 *   store_mysql_park.c     parked messages: redrive pages and batches, resetCronTime
 *   store_mysql_registry.c the relay registry
 *   store_mysql_retention.c retention: the job lease, deleting old final messages
 *   store_mysql_schema.c   schema check and migrations
 *   store_mysql_dtm.c      reading a DTM server's tables (import-dtm)
 *
 * Must not: be included outside these files. Threads and errors as in
 * store_mysql.c.
 */
#ifndef MR_STORE_STORE_MYSQL_INT_H
#define MR_STORE_STORE_MYSQL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "common/err.h"
#include "common/model.h"
#include "store/store_int.h"

/* Rows per multi-row step INSERT; a message with more steps takes several. */
#define STEP_CHUNK  16
#define STEP_PARAMS 11

/* Ids per "IN (...)" statement of the claim; a short chunk repeats its last id. */
#define IN_CHUNK 64

/* Parameters of one message row of a (multi-row) msg INSERT. */
#define MSG_PARAMS 26

/* How many row counts the batch statements come in (batch_sizes[] in store_mysql_batch.c). */
#define NBATCH 4

#define MAX_PARAMS (MR_STORE_BATCH_CHUNK * MSG_PARAMS)
#define MAX_COLS   30

/* The msg columns every message query returns, and their kinds ('i' integer, 's' string). */
#define MSG_COLS                                                                                   \
    "id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent, "          \
    "wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time, "          \
    "update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner, "         \
    "lease_until, result, retry_limit, query_attempts, parked_from, traceparent, tracestate, "    \
    "ordering_key, order_pos"
#define MSG_LAYOUT                                                                                 \
    "issssss"                                                                                      \
    "iiiiiiiiiiii"                                                                                 \
    "sis"                                                                                          \
    "iis"                                                                                          \
    "ss"                                                                                           \
    "si"

/* The step columns, the message id first. */
#define STEP_COLS                                                                                  \
    "msg_id, id, branch_id, url, payload, state, attempts, last_error, create_time, "              \
    "update_time, finish_time"
#define STEP_LAYOUT "iissssisiii"

#define UNFINISHED "state IN ('prepared', 'submitted')"

/* Due and not leased at (now, now). due_time is NULL for final messages (see the schema). */
#define DUE "due_time <= ? AND lease_until <= ?"

/*
 * The placed keyed messages that hold key ?'s order (unfinished): order_live_key
 * is their ordering_key then, NULL otherwise (sql/mysql/010_order_live.sql), and
 * msg_order is (order_live_key, order_pos), so a key's finished history is never
 * read.
 */
#define ORDER_LIVE_KEY "order_live_key = ?"

/*
 * A claimable row of msg: unkeyed, prepared (a back-check has no order), or
 * the head of its key (no unfinished message on the key placed before it).
 */
#define ORDER_HEAD                                                                                 \
    "(msg.ordering_key = '' OR msg.state = 'prepared' OR NOT EXISTS (SELECT 1 FROM msg AS p "     \
    "WHERE p.order_live_key = msg.ordering_key AND p.order_pos < msg.order_pos))"

/* One message row's placeholders in a msg INSERT (MSG_PARAMS), and one step row's. */
#define MSG_ROW  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define STEP_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

/* Replaced by IN_CHUNK placeholders when the statement is prepared: IN_ITEMS by "?, ?, ..."
   (so SQL text here has no other '#'), IN_LIST by "(?, ?, ...)". */
#define IN_ITEMS "#"
#define IN_LIST  "(" IN_ITEMS ")"

/* The tail shared by the three list statements: position, create range, limit. */
#define LIST_TAIL " AND id < ? AND create_time >= ? AND create_time <= ? ORDER BY id DESC LIMIT ?"

/* The kv columns and their kinds. */
#define KV_COLS   "id, cat, k, v, version, create_time, update_time"
#define KV_LAYOUT "isssiii"

/* The relay_registry columns and their kinds. */
#define RELAY_COLS                                                                                 \
    "relay_id, instance, host, machine, pid, pid_start, started_time, heartbeat_until"
#define RELAY_LAYOUT "ssssiiii"

/* The SET clause of a state change (after "UPDATE msg"), as my_p_transition() binds it. */
#define TRANSITION_SET                                                                             \
    "SET parked_from = IF(? = 'parked', state, ''), state = ?, update_time = ?, "                  \
    "finish_time = IF(?, ?, finish_time), rollback_time = IF(?, ?, rollback_time), "               \
    "next_cron_time = IF(?, ?, next_cron_time), "                                                  \
    "next_cron_interval = IF(?, ?, next_cron_interval), "                                          \
    "owner = IF(?, ?, owner), lease_until = IF(?, ?, lease_until) "

/* X(id, sql): every fixed statement, prepared at its first use (my_st). Parameters in order. */
#define STMT_LIST(X)                                                                               \
    X(ST_MSG_BY_GID, "SELECT " MSG_COLS " FROM msg WHERE gid = ?")                                 \
    X(ST_STEPS, "SELECT " STEP_COLS " FROM step WHERE msg_id = ? ORDER BY id")                     \
    /* msg_id order comes from step_branch; my_load_steps_in() puts each message's in id order */  \
    X(ST_STEPS_IN, "SELECT " STEP_COLS " FROM step WHERE msg_id IN " IN_LIST " ORDER BY msg_id")   \
    X(ST_MSG_INSERT,                                                                               \
      "INSERT INTO msg (gid, state, query_prepared, protocol, custom_data, branch_headers, "       \
      "concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout, delay, "         \
      "create_time, update_time, finish_time, rollback_time, next_cron_time, "                     \
      "next_cron_interval, result, owner, lease_until, retry_limit, traceparent, tracestate, "     \
      "query_dest, ordering_key) VALUES " MSG_ROW)                                                               \
    X(ST_MSG_DELETE, "DELETE FROM msg WHERE id = ?")                                               \
    X(ST_STEP_IDS, "SELECT id FROM step WHERE msg_id = ? ORDER BY id")                             \
    X(ST_TRANSITION, "UPDATE msg " TRANSITION_SET "WHERE gid = ? AND state = ?")                  \
    X(ST_MSG_STATE, "SELECT state FROM msg WHERE gid = ?")                                         \
    X(ST_SCHEDULE, "UPDATE msg SET next_cron_time = ?, "                                           \
                   "next_cron_interval = IF(?, ?, next_cron_interval), update_time = ? "           \
                   "WHERE gid = ? AND " UNFINISHED)                                                \
    X(ST_CLAIM, "SELECT " MSG_COLS " FROM msg WHERE " DUE " AND " ORDER_HEAD                        \
                " ORDER BY due_time LIMIT ? FOR UPDATE SKIP LOCKED")                               \
    /* ordered delivery per key (store_mysql_order.c) */                                          \
    X(ST_ORDER_OF, "SELECT ordering_key, order_pos FROM msg WHERE gid = ?")                        \
    /* the place given comes back as the statement's insert id (LAST_INSERT_ID(expr)) */        \
    X(ST_ORDER_NEXT, "INSERT INTO order_key (k, next_pos) VALUES (?, LAST_INSERT_ID(1)) "          \
                     "ON DUPLICATE KEY UPDATE next_pos = LAST_INSERT_ID(next_pos + 1)")           \
    X(ST_ORDER_POS, "SELECT next_pos FROM order_key WHERE k = ? FOR UPDATE")                       \
    X(ST_ORDER_LOCK, "INSERT INTO order_key (k, next_pos) VALUES (?, 0) "                          \
                     "ON DUPLICATE KEY UPDATE next_pos = next_pos")                       \
    /* key, position: the nearest unfinished message placed before it (a current read) */         \
    X(ST_ORDER_BEFORE, "SELECT gid FROM msg WHERE " ORDER_LIVE_KEY                                \
                       " AND order_pos < ? ORDER BY order_pos DESC LIMIT 1 LOCK IN SHARE MODE")    \
    /* position, head, the wait time, head, head, gid */                                         \
    X(ST_ORDER_SET, "UPDATE msg SET order_pos = ?, next_cron_time = IF(?, next_cron_time, ?), "    \
                    "owner = IF(?, owner, ''), lease_until = IF(?, lease_until, 0) WHERE gid = ?") \
    /* the places of a chunk of new messages (my_order_place_new): the keys' last places, */    \
    /* the keys holding an unfinished placed message, then the places and waits written */       \
    X(ST_ORDER_KEYS_IN, "SELECT k, next_pos FROM order_key WHERE k IN " IN_LIST)                   \
    X(ST_ORDER_LIVE_IN, "SELECT DISTINCT order_live_key FROM msg WHERE order_live_key IN "         \
                        IN_LIST)                                                                   \
    X(ST_ORDER_NEXT_IN, "UPDATE order_key SET next_pos = ELT(FIELD(k, " IN_ITEMS "), " IN_ITEMS   \
                        ") WHERE k IN " IN_LIST)                                                   \
    X(ST_ORDER_POS_IN, "UPDATE msg SET order_pos = ELT(FIELD(gid, " IN_ITEMS "), " IN_ITEMS       \
                       ") WHERE gid IN " IN_LIST)                                                  \
    X(ST_ORDER_WAIT_IN, "UPDATE msg SET next_cron_time = ?, owner = '', lease_until = 0 "          \
                        "WHERE gid IN " IN_LIST)                                                   \
    X(ST_ORDER_HEAD, "SELECT id FROM msg WHERE " ORDER_LIVE_KEY                                   \
                     " ORDER BY order_pos LIMIT 1 FOR UPDATE")                                     \
    /* now, now, id, now */                                                                       \
    X(ST_ORDER_DUE, "UPDATE msg SET next_cron_time = ?, update_time = ? WHERE id = ? "             \
                    "AND state = 'submitted' AND next_cron_time > ?")                               \
    X(ST_LEASE_IN, "UPDATE msg SET owner = ?, lease_until = ? WHERE id IN " IN_LIST)               \
    X(ST_STEP_RECORD, "UPDATE step SET attempts = attempts + 1, update_time = ?, "                 \
                      "state = IF(?, 'succeed', state), finish_time = IF(?, ?, finish_time), "     \
                      "last_error = IF(?, last_error, ?) WHERE id = ? "                            \
                      "AND EXISTS (SELECT 1 FROM msg WHERE msg.id = step.msg_id "                  \
                      "AND msg.state = 'submitted')")                                              \
    X(ST_STEP_EXISTS, "SELECT id FROM step WHERE id = ?")                                          \
    X(ST_RELEASE, "UPDATE msg SET owner = '', lease_until = 0, next_cron_time = ?, "               \
                  "next_cron_interval = IF(?, ?, next_cron_interval), "                            \
                  "result = COALESCE(?, result), update_time = ? "                                 \
                  "WHERE gid = ? AND owner = ? AND " UNFINISHED)                                   \
    /* leases are held on unfinished messages only: msg_due finds them (no owner index), */       \
    /* index-only (it holds lease_until), so only the leased rows are read, not every */           \
    /* unfinished one (500,000 waiting messages: 0.13 s, not 10 s past the read timeout) */       \
    X(ST_RELEASE_OWNER, "UPDATE msg JOIN (SELECT id FROM msg WHERE due_time IS NOT NULL "          \
                        "AND lease_until > 0) AS leased ON leased.id = msg.id "                    \
                        "SET msg.owner = '', msg.lease_until = 0 "                                 \
                        "WHERE msg.owner = ? AND msg.owner <> ''")                                 \
    /* count and oldest due time in one read: the first ? entries of msg_due, in its order */    \
    X(ST_COUNT_DUE, "SELECT COUNT(*), COALESCE(MIN(d), 0) FROM (SELECT due_time AS d FROM msg "    \
                    "WHERE " DUE " ORDER BY due_time LIMIT ?) AS t")                               \
    /* a destination answers again (mr_store_due_by_dest): now, spread, now, now + spread, */      \
    /* the key twice, limit. A range of msg_due (due_time is next_cron_time while unfinished): */ \
    /* a store's finished messages are never read, nor locked */                                   \
    X(ST_DUE_BY_DEST,                                                                              \
      "UPDATE msg SET next_cron_time = LEAST(next_cron_time, ? + FLOOR(RAND() * (? + 1))), "       \
      "update_time = ? WHERE due_time > ? AND due_time < " MR_ORDER_WAIT_SQL                       \
      " AND ((state = 'submitted' AND EXISTS (SELECT 1 "                                           \
      "FROM step WHERE step.msg_id = msg.id AND step.state = 'prepared' AND step.dest = ?)) OR "   \
      "(state = 'prepared' AND query_dest = ?)) LIMIT ?")                                          \
    X(ST_COUNT_STATE, "SELECT COUNT(*) FROM msg WHERE state = ?")                                  \
    X(ST_OLDEST_STATE, "SELECT COALESCE((SELECT create_time FROM msg "                             \
                       "WHERE state = ? ORDER BY id LIMIT 1), 0)")                                 \
    X(ST_REDRIVE_PAGE,                                                                             \
      "SELECT id FROM msg WHERE state = 'parked' AND id > ? AND (? = '' OR gid = ?) "              \
      "AND (? = '' OR gid LIKE ? ESCAPE '!') "                                                     \
      "AND (? = 0 OR update_time >= ?) AND (? = 0 OR update_time <= ?) "                           \
      "AND (? = '' OR (parked_from = 'prepared' AND query_prepared LIKE ? ESCAPE '!') "            \
      "OR EXISTS (SELECT 1 FROM step WHERE step.msg_id = msg.id AND step.state = 'prepared' "      \
      "AND step.url LIKE ? ESCAPE '!')) "                                                          \
      "AND (? = '' OR result LIKE ? ESCAPE '!' OR EXISTS (SELECT 1 FROM step "                     \
      "WHERE step.msg_id = msg.id AND step.last_error LIKE ? ESCAPE '!')) "                        \
      "ORDER BY id LIMIT ?")                                                                       \
    X(ST_REDRIVE_STEPS, "UPDATE step JOIN msg ON msg.id = step.msg_id SET step.attempts = 0 "      \
                        "WHERE msg.state = 'parked' AND step.state = 'prepared' "                  \
                        "AND msg.id IN " IN_LIST)                                                  \
    /* state is set from parked_from before parked_from is cleared (left to right) */              \
    X(ST_REDRIVE_MSGS,                                                                             \
      "UPDATE msg SET state = IF(parked_from = 'prepared', 'prepared', 'submitted'), "             \
      "parked_from = '', query_attempts = 0, next_cron_time = ?, next_cron_interval = 0, "         \
      "owner = '', lease_until = 0, update_time = ? WHERE state = 'parked' AND id IN " IN_LIST)    \
    /* a message waiting for its key's predecessor is not retried (store.h, ordered delivery) */  \
    X(ST_RESET_CRON, "UPDATE msg SET next_cron_time = ?, update_time = ? WHERE due_time > ? "      \
                     "AND due_time < " MR_ORDER_WAIT_SQL " LIMIT ?")                                                                    \
    X(ST_CRON_LEFT, "SELECT COUNT(*) FROM (SELECT 1 FROM msg WHERE due_time > ? "                  \
                    "AND due_time < " MR_ORDER_WAIT_SQL " LIMIT 1) AS t")    \
    X(ST_QUERY_FAILED, "UPDATE msg SET query_attempts = query_attempts + 1, update_time = ? "      \
                       "WHERE gid = ? AND state = 'prepared'")                                     \
    X(ST_LIST_GID,                                                                                 \
      "SELECT " MSG_COLS " FROM msg WHERE gid = ? AND (? = '' OR state = ?)" LIST_TAIL)            \
    X(ST_LIST_STATE, "SELECT " MSG_COLS " FROM msg WHERE state = ?" LIST_TAIL)                     \
    X(ST_LIST_PREFIX, "SELECT " MSG_COLS " FROM msg WHERE LEFT(gid, CHAR_LENGTH(?)) = ? "          \
                      "AND (? = '' OR state = ?)" LIST_TAIL)                                       \
    X(ST_LIST_ALL, "SELECT " MSG_COLS " FROM msg WHERE 1 = 1" LIST_TAIL)                           \
    X(ST_KV_GET, "SELECT " KV_COLS " FROM kv WHERE cat = ? AND k = ?")                             \
    X(ST_KV_SCAN, "SELECT " KV_COLS " FROM kv WHERE cat = ? AND id < ? ORDER BY id DESC LIMIT ?")  \
    X(ST_KV_INSERT, "INSERT INTO kv (cat, k, v, version, create_time, update_time) "               \
                    "VALUES (?, ?, ?, 1, ?, ?)")                                                   \
    X(ST_KV_UPDATE, "UPDATE kv SET v = ?, version = version + 1, update_time = ? "                 \
                    "WHERE id = ? AND version = ?")                                                \
    X(ST_KV_DELETE, "DELETE FROM kv WHERE cat = ? AND k = ?")                                      \
    X(ST_JOB_LEASE, "UPDATE job_lease SET owner = ?, lease_until = ? "                             \
                    "WHERE name = ? AND (lease_until <= ? OR owner = ?)")                          \
    X(ST_JOB_LEASE_NEW,                                                                            \
      "INSERT IGNORE INTO job_lease (name, owner, lease_until) VALUES (?, ?, ?)")                  \
    /* msg_done walks final messages oldest first (NULL for the rest); steps go by cascade */      \
    X(ST_RETAIN, "DELETE FROM msg WHERE done_time < ? AND state IN ('succeed', 'failed') "         \
                 "ORDER BY done_time, id LIMIT ?")                                                 \
    X(ST_RELAY_GET, "SELECT " RELAY_COLS " FROM relay_registry WHERE relay_id = ? FOR UPDATE")     \
    X(ST_RELAY_INSERT, "INSERT INTO relay_registry (" RELAY_COLS ") "                              \
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")                                          \
    X(ST_RELAY_REPLACE, "UPDATE relay_registry SET instance = ?, host = ?, machine = ?, "          \
                        "pid = ?, pid_start = ?, started_time = ?, heartbeat_until = ? "           \
                        "WHERE relay_id = ? AND instance = ?")                                     \
    X(ST_RELAY_HEARTBEAT, "UPDATE relay_registry SET heartbeat_until = ? "                         \
                          "WHERE relay_id = ? AND instance = ?")                                   \
    X(ST_RELAY_DELETE, "DELETE FROM relay_registry WHERE relay_id = ? AND instance = ?")

enum stmt_id {
#define STMT_ENUM(id, sql) id,
    STMT_LIST(STMT_ENUM)
#undef STMT_ENUM
        ST_COUNT
};

/*
 * X(id, head, item, tail): the batch statements. The text is head, then item
 * k times joined by ", ", then tail, for each k of batch_sizes[]. Parameters
 * in text order: those of head, then k items', then tail's.
 */
#define MULTI_LIST(X)                                                                              \
    X(MT_GET, "SELECT " MSG_COLS " FROM msg WHERE gid IN (", "?", ") FOR UPDATE")                  \
    X(MT_MSG_INSERT,                                                                               \
      "INSERT INTO msg (gid, state, query_prepared, protocol, custom_data, branch_headers, "       \
      "concurrent, wait_result, timeout_to_fail, retry_interval, request_timeout, delay, "         \
      "create_time, update_time, finish_time, rollback_time, next_cron_time, "                     \
      "next_cron_interval, result, owner, lease_until, retry_limit, traceparent, tracestate, "     \
      "query_dest, ordering_key) VALUES ",                                                                       \
      MSG_ROW, "")                                                                                 \
    X(MT_STEP_INSERT,                                                                              \
      "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, "                       \
      "last_error, create_time, update_time, finish_time, dest) VALUES ",                          \
      STEP_ROW, "")                                                                                \
    X(MT_IDS_BY_GID, "SELECT id, gid FROM msg WHERE gid IN (", "?", ")")                           \
    X(MT_STEP_IDS, "SELECT msg_id, id FROM step WHERE msg_id IN (", "?", ") ORDER BY msg_id, id")  \
    X(MT_LOCK_STATE, "SELECT gid FROM msg WHERE state = ? AND gid IN (", "?", ") FOR UPDATE")      \
    X(MT_TRANSITION, "UPDATE msg " TRANSITION_SET "WHERE state = ? AND gid IN (", "?", ")")       \
    /* the same by id (a gid stored again since is left alone), through the primary key: left  \
       to itself the optimizer takes msg_state_id (state, id) and buffers the rows it moves */   \
    X(MT_LOCK_STATE_IDS, "SELECT id FROM msg FORCE INDEX (PRIMARY) WHERE state = ? AND id IN (",   \
      "?", ") FOR UPDATE")                                                                         \
    X(MT_TRANSITION_IDS,                                                                           \
      "UPDATE msg FORCE INDEX (PRIMARY) " TRANSITION_SET "WHERE state = ? AND id IN (", "?", ")")  \
    X(MT_STEPS_OK,                                                                                 \
      "UPDATE step SET attempts = attempts + 1, update_time = ?, state = 'succeed', "              \
      "finish_time = ? WHERE EXISTS (SELECT 1 FROM msg WHERE msg.id = step.msg_id "                \
      "AND msg.state = 'submitted') AND id IN (",                                                  \
      "?", ")")                                                                                    \
    X(MT_STEPS_LIVE,                                                                               \
      "SELECT step.id FROM step JOIN msg ON msg.id = step.msg_id "                                 \
      "WHERE msg.state = 'submitted' AND step.id IN (",                                            \
      "?", ")")                                                                                    \
    X(MT_STEPS_EXIST, "SELECT id FROM step WHERE id IN (", "?", ")")                               \
    X(MT_RELEASE,                                                                                  \
      "UPDATE msg SET owner = '', lease_until = 0, next_cron_time = ?, "                           \
      "next_cron_interval = IF(?, ?, next_cron_interval), "                                        \
      "result = COALESCE(?, result), update_time = ? "                                             \
      "WHERE owner = ? AND " UNFINISHED " AND gid IN (",                                           \
      "?", ")")

enum multi_id {
#define MULTI_ENUM(id, head, item, tail) id,
    MULTI_LIST(MULTI_ENUM)
#undef MULTI_ENUM
        MT_COUNT
};

/* Hosts one store URI may list (a cluster's nodes), at most. */
#define MY_HOSTS_MAX 16

/* One host of a store URI. Strings owned. */
struct my_host {
    char *name;
    char *where; /* "name:port", for messages */
    unsigned int port;
};

/*
 * One parsed store URI. Strings owned. hosts in the order they are
 * preferred; a socket replaces the host (nhosts 0, or the one host the
 * client library then ignores).
 */
struct my_conf {
    char *user;
    char *pass;
    char *db;
    char *socket;
    char *where; /* the hosts ("host:port,...") or the socket path, for messages (never the password) */
    struct my_host hosts[MY_HOSTS_MAX];
    size_t nhosts;
    unsigned int connect_timeout;
    unsigned int rw_timeout;
    unsigned int lock_wait;
};

/*
 * The parameters of the next statement. Values are copied (integers) or
 * borrowed (strings, which must outlive the execute).
 */
struct params {
    MYSQL_BIND b[MAX_PARAMS];
    long long v[MAX_PARAMS];
    unsigned long len[MAX_PARAMS];
    unsigned int n;
};

/* The current row of a result: integers in v, strings fetched into s (owned until taken). */
struct row {
    MYSQL_BIND b[MAX_COLS];
    long long v[MAX_COLS];
    unsigned long len[MAX_COLS];
    my_bool null[MAX_COLS];
    my_bool trunc[MAX_COLS];
    char *s[MAX_COLS];
    const char *layout;
    unsigned int n;
};

/*
 * A MySQL handle: the store.h header first (whose in_tx says whether a
 * transaction is open). db is NULL while disconnected; broken marks a
 * connection that failed and is torn down at the next connect. tx_lost marks
 * a transaction the server rolled back (deadlock, lock-wait timeout, lost
 * connection): only rollback clears it.
 */
struct my_store {
    struct mr_store base;
    struct my_conf conf;
    MYSQL *db;
    size_t host;          /* the host of conf.hosts connected to (or last connected to) */
    bool connected;       /* has been connected once (host is meaningful) */
    int64_t prefer_at;    /* mr_mono_ms(): on a later host, look at the earlier ones then */
    int64_t prefer_every; /* how long after the last look (doubles while they stay away) */
    bool broken;
    bool tx_lost;
    bool ids_consecutive; /* a multi-row INSERT gets consecutive auto-increment ids */
    int64_t id_step;      /* @@auto_increment_increment */
    MYSQL_STMT *st[ST_COUNT];         /* the fixed statements, prepared at first use (my_st) */
    MYSQL_STMT *ins[STEP_CHUNK + 1];  /* multi-row step INSERTs by row count, prepared on demand */
    MYSQL_STMT *mt[MT_COUNT][NBATCH]; /* batch statements by batch_sizes[], prepared on demand */
    /* multi-row msg ([0]) and step ([1]) INSERTs of exactly k rows, prepared on demand */
    MYSQL_STMT *rows[2][MR_STORE_BATCH_CHUNK + 1];
    struct params p;
    struct row row;
};

/* my - the MySQL handle behind @s. */
static inline struct my_store *my(struct mr_store *s)
{
    return (struct my_store *)s;
}

/* A reader of the current row into a zeroed array slot, for my_load_rows(). */
typedef int (*read_row_fn)(struct my_store *ms, void *slot, struct mr_err *err);

/* A visitor of the current row, for my_each_row(): 0 to go on, or an error that stops it. */
typedef int (*row_fn)(struct my_store *ms, void *ctx, struct mr_err *err);

/* A destructor of the first @n slots of an array my_load_rows() filled. */
typedef void (*free_rows_fn)(void *v, size_t n);

/* store_mysql.c: the engine table of the handles my_handle_new() makes */
int my_handle_new(const char *rest, struct my_store **out, struct mr_err *err);

/* store_mysql_uri.c */
int my_uri_parse(const char *rest, struct my_conf *c, struct mr_err *err);
void my_conf_free(struct my_conf *c);

/* store_mysql_conn.c (my_ready .. my_rollback: the engine's members) */
int my_stmt_fail(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err);
int my_db_fail(struct my_store *ms, struct mr_err *err);
int my_query(struct my_store *ms, const char *sql, struct mr_err *err);
int my_query_int(struct my_store *ms, const char *sql, int64_t *v, unsigned int *e,
                 struct mr_err *err);
int my_connect(struct my_store *ms, bool admin, struct mr_err *err);
int my_ready(struct mr_store *s, struct mr_err *err);
void my_close(struct mr_store *s);
void my_shrink(struct mr_store *s);
int my_begin(struct mr_store *s, struct mr_err *err);
int my_commit(struct mr_store *s, struct mr_err *err);
void my_rollback(struct mr_store *s);

/* store_mysql_stmt.c */
int my_prepare(struct my_store *ms, const char *sql, MYSQL_STMT **out, struct mr_err *err);
int my_st(struct my_store *ms, enum stmt_id id, MYSQL_STMT **out, struct mr_err *err);
void my_p_reset(struct my_store *ms);
void my_p_int(struct my_store *ms, int64_t v);
void my_p_bytes(struct my_store *ms, enum enum_field_types type, const void *s, size_t n);
void my_p_text(struct my_store *ms, const char *s);
void my_p_text_or_null(struct my_store *ms, const char *s);
int my_exec(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err);
int my_exec_id(struct my_store *ms, enum stmt_id id, struct mr_err *err);
uint64_t my_changed(struct my_store *ms, enum stmt_id id);
/* my_exec_changing - my_exec_id(), and when it changed no row the error @none with the message
 * @fmt. */
int my_exec_changing(struct my_store *ms, enum stmt_id id, int none, struct mr_err *err,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void my_row_clear(struct row *r);
int my_open_rows(struct my_store *ms, MYSQL_STMT *st, const char *layout, struct mr_err *err);
int my_next_row(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err);
void my_close_rows(struct my_store *ms, MYSQL_STMT *st);
int my_each_row(struct my_store *ms, MYSQL_STMT *st, const char *layout, row_fn fn, void *ctx,
                struct mr_err *err);
int my_each_row_id(struct my_store *ms, enum stmt_id id, const char *layout, row_fn fn, void *ctx,
                   struct mr_err *err);
/* my_read_int - run fixed statement @id with the bound parameters; *@v = its first row's one
   integer column, left as it is when there is no row. */
int my_read_int(struct my_store *ms, enum stmt_id id, long *v, struct mr_err *err);
char *my_take(struct my_store *ms, unsigned int i);
char *my_take_str(struct my_store *ms, unsigned int i);
int my_load_rows(struct my_store *ms, MYSQL_STMT *st, const char *layout, size_t size,
                 read_row_fn read, free_rows_fn free_rows, void **out, size_t *n,
                 struct mr_err *err);

/* store_mysql_msg.c */
int my_read_msg(struct my_store *ms, struct mr_msg **out, struct mr_err *err);
int my_add_step(struct my_store *ms, struct mr_msg *m, size_t *cap, struct mr_err *err);
int my_load_msgs(struct my_store *ms, enum stmt_id id, struct mr_msg ***out, size_t *n,
                 struct mr_err *err);
void my_p_transition(struct my_store *ms, int to, int64_t now_ms, int64_t next_cron_ms,
                     int next_cron_interval, const char *lease_owner, int64_t lease_until_ms);
void my_bind_msg(struct my_store *ms, const struct mr_msg *m);
void my_bind_step(struct my_store *ms, int64_t msg_id, const struct mr_step *sp);
int my_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
               struct mr_err *err);
int my_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err);
int my_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                      int64_t next_cron_ms, int next_cron_interval, struct mr_err *err);
int my_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                    int64_t now_ms, struct mr_err *err);
int my_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                size_t *n, struct mr_err *err);

/* store_mysql_batch.c */
void my_bind_ids(struct my_store *ms, struct mr_msg **v, size_t n, size_t from);
int my_load_steps_in(struct my_store *ms, struct mr_msg **v, size_t n, size_t from,
                     struct mr_err *err);
int my_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                    struct mr_msg **out, struct mr_err *err);
int my_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err);
int my_msg_transition_many(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                           bool *changed, struct mr_err *err);
int my_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n, int64_t now_ms,
                         int *res, struct mr_err *err);
int my_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                        const char *owner, int64_t now_ms, struct mr_err *err);

/* store_mysql_claim.c */
int my_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
             size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err);
int my_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                   int64_t now_ms, struct mr_err *err);
int my_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                   int interval, const char *result, int64_t now_ms, struct mr_err *err);
int my_release_owner(struct mr_store *s, const char *owner, struct mr_err *err);
int my_count_due(struct mr_store *s, int64_t now_ms, int64_t limit, long *n, int64_t *oldest_ms,
                 struct mr_err *err);
int my_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                   size_t limit, long *n, struct mr_err *err);
int my_count_state(struct mr_store *s, int state, long *n, struct mr_err *err);
int my_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err);
int my_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);
int my_redrive_page(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                    size_t limit, int64_t *ids, size_t *n, struct mr_err *err);
int my_redrive_ids(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms, long *changed,
                   struct mr_err *err);
int my_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit, long *count,
                  bool *remaining, struct mr_err *err);

/* store_mysql_kv.c */
int my_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out, size_t *n,
              struct mr_err *err);
int my_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
               struct mr_kv **out, size_t *n, struct mr_err *err);
int my_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err);
int my_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v, int64_t now_ms,
                 struct mr_err *err);
int my_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err);

/* store_mysql_retention.c */
int my_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                 int64_t until_ms, bool *held, struct mr_err *err);
int my_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                        struct mr_err *err);

/* store_mysql_registry.c */
int my_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                 struct mr_err *err);
int my_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err);
int my_relay_replace(struct mr_store *s, const struct mr_store_relay *r, const char *old_instance,
                     struct mr_err *err);
int my_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                       int64_t until_ms, struct mr_err *err);
int my_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                        struct mr_err *err);

/* store_mysql_order.c */
int my_order_of(struct mr_store *s, const char *gid, char **key, int64_t *pos,
                struct mr_err *err);
int my_order_next(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err);
int my_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                    struct mr_err *err);
int my_order_set(struct mr_store *s, const char *gid, int64_t pos, bool head, struct mr_err *err);
int my_order_wake(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);
int my_order_lock(struct mr_store *s, const char *key, struct mr_err *err);
int my_order_place_new(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err);

/* store_mysql_schema.c */
int my_check_schema(struct my_store *ms, struct mr_err *err);

#endif
