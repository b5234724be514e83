/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the SQLite engine of store.h ("sqlite:PATH"), the embedded
 * default: one database file in WAL mode with synchronous=FULL, so a commit
 * that returned is on disk and kill -9 loses nothing acknowledged.
 *
 * Every statement is prepared once per handle at open and reused (reset and
 * unbound after each use); no SQL text is ever built from data. The schema
 * comes from the binary (mr_store_sqlite_schema) and is migrated at open.
 *
 * Threads: a handle is one connection owned by one thread (opened NOMUTEX);
 * every thread opens its own. Other processes may share the file.
 * Must not: check store.h's engine-neutral rules (transactions, owners,
 * limits: store.c does, before any member here runs).
 * Errors: SQLite failures are MR_ESTORE "sqlite: <errmsg>", a lock still held
 * after the 10 s busy timeout is MR_EBUSY, a file that cannot be opened is
 * MR_EUNAVAIL.
 */
#include "store/store_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"

#define BUSY_TIMEOUT_MS 10000

/* The msg columns every message query returns, in sq_read_msg()'s order. */
#define MSG_COLS                                                                                   \
    "id, gid, state, query_prepared, protocol, custom_data, branch_headers, concurrent, "          \
    "wait_result, timeout_to_fail, retry_interval, request_timeout, delay, create_time, "          \
    "update_time, finish_time, rollback_time, next_cron_time, next_cron_interval, owner, "         \
    "lease_until, result"

/* MSG_COLS qualified with the table, for the claim's join with step. */
#define MSG_COLS_M                                                                                 \
    "msg.id, msg.gid, msg.state, msg.query_prepared, msg.protocol, msg.custom_data, "              \
    "msg.branch_headers, msg.concurrent, msg.wait_result, msg.timeout_to_fail, "                   \
    "msg.retry_interval, msg.request_timeout, msg.delay, msg.create_time, msg.update_time, "       \
    "msg.finish_time, msg.rollback_time, msg.next_cron_time, msg.next_cron_interval, msg.owner, "  \
    "msg.lease_until, msg.result"

/* How many columns MSG_COLS has: where the step columns of the claim's join start. */
#define MSG_NCOLS 22

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
    "SET state = ?3, update_time = ?4, "                                                           \
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
#define RELAY_COLS "relay_id, instance, host, machine, pid, pid_start, started_time, heartbeat_until"

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
      "next_cron_interval, result, owner, lease_until) "                                           \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "       \
      "?18, ?19, ?20, ?21)")                                                                       \
    X(ST_STEP_INSERT,                                                                              \
      "INSERT INTO step (msg_id, branch_id, url, payload, state, attempts, last_error, "           \
      "create_time, update_time, finish_time) "                                                    \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                                          \
    X(ST_TRANSITION, "UPDATE msg " TRANSITION_SET "WHERE gid = ?1 AND state = ?2")                 \
    /* pinned: without statistics the planner walks msg_state_id for the state */                  \
    X(ST_TRANSITION_MANY, "UPDATE msg INDEXED BY msg_gid " TRANSITION_SET                          \
                          "WHERE state = ?2 AND gid IN (" IN_LIST ") RETURNING gid")               \
    X(ST_MSG_STATE, "SELECT state FROM msg WHERE gid = ?1")                                        \
    X(ST_SCHEDULE, "UPDATE msg SET next_cron_time = ?2, "                                          \
                   "next_cron_interval = CASE WHEN ?3 >= 0 THEN ?3 ELSE next_cron_interval END, "  \
                   "update_time = ?4 WHERE gid = ?1 AND " UNFINISHED)                              \
    X(ST_CLAIM_IDS, "SELECT id " DUE_FROM " ORDER BY next_cron_time LIMIT ?2")                     \
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
    X(ST_COUNT_DUE, "SELECT count(*) " DUE_FROM)                                                   \
    X(ST_LIST_GID,                                                                                 \
      "SELECT " MSG_COLS " FROM msg WHERE gid = ?1 AND (?2 = '' OR state = ?2)" LIST_TAIL)         \
    X(ST_LIST_STATE, "SELECT " MSG_COLS " FROM msg WHERE state = ?2" LIST_TAIL)                    \
    X(ST_LIST_ALL, "SELECT " MSG_COLS " FROM msg WHERE 1" LIST_TAIL)                              \
    X(ST_KV_GET, "SELECT " KV_COLS " FROM kv WHERE cat = ?1 AND k = ?2")                           \
    X(ST_KV_SCAN, "SELECT " KV_COLS " FROM kv WHERE cat = ?1 AND id < ?2 ORDER BY id DESC "        \
                  "LIMIT ?3")                                                                      \
    X(ST_KV_INSERT, "INSERT INTO kv (cat, k, v, version, create_time, update_time) "               \
                    "VALUES (?1, ?2, ?3, 1, ?4, ?5)")                                              \
    X(ST_KV_UPDATE, "UPDATE kv SET v = ?3, version = version + 1, update_time = ?4 "               \
                    "WHERE id = ?1 AND version = ?2")                                              \
    X(ST_KV_DELETE, "DELETE FROM kv WHERE cat = ?1 AND k = ?2")                                    \
    X(ST_RELAY_GET, "SELECT " RELAY_COLS " FROM relay_registry WHERE relay_id = ?1")              \
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

static const char *const stmt_sql[] = {
#define STMT_SQL(id, sql) sql,
    STMT_LIST(STMT_SQL)
#undef STMT_SQL
};

/* A SQLite handle: the store.h header first, then the connection and its statements. */
struct sq_store {
    struct mr_store base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

/* sq - the SQLite handle behind @s. */
static struct sq_store *sq(struct mr_store *s)
{
    return (struct sq_store *)s;
}

/* sq_fail - report SQLite result @rc as MR_EBUSY or MR_ESTORE with the connection's message. */
static int sq_fail(sqlite3 *db, int rc, struct mr_err *err)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

    if ((rc & 0xff) == SQLITE_BUSY)
        return mr_err_set(err, MR_EBUSY, "sqlite: %s", msg);
    return mr_err_set(err, MR_ESTORE, "sqlite: %s", msg);
}

/* sq_done - make @st ready for its next use: reset, drop bindings. */
static void sq_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
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

/* sq_bind_text - bind @s; NULL binds '' (the schema keeps strings non-NULL). */
static void sq_bind_text(struct binder *b, int i, const char *s)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_text(b->st, i, s != NULL ? s : "", -1, SQLITE_STATIC);
}

/* sq_bind_text_or_null - bind @s, NULL as SQL NULL. */
static void sq_bind_text_or_null(struct binder *b, int i, const char *s)
{
    if (b->rc != SQLITE_OK)
        return;
    if (s == NULL)
        b->rc = sqlite3_bind_null(b->st, i);
    else
        b->rc = sqlite3_bind_text(b->st, i, s, -1, SQLITE_STATIC);
}

/* sq_bind_blob - bind @n bytes at @p; never NULL (a NULL pointer would bind SQL NULL). */
static void sq_bind_blob(struct binder *b, int i, const void *p, size_t n)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_blob64(b->st, i, p != NULL ? p : "", p != NULL ? n : 0, SQLITE_STATIC);
}

static void sq_bind_int(struct binder *b, int i, int64_t v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->st, i, v);
}

/* sq_binder - start binding the statement @id of @q. */
static struct binder sq_binder(struct sq_store *q, enum stmt_id id)
{
    struct binder b = {q->st[id], SQLITE_OK};

    return b;
}

/* sq_run - step a bound write statement to its end. 0 or the mapped error; @st is reset. */
static int sq_run(struct sq_store *q, struct binder *b, struct mr_err *err)
{
    int code = 0;
    int rc = b->rc;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(b->st);
    /* read the message before the reset */
    if (rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b->st);
    return code;
}

/* sq_exec_stmt - run the parameterless statement @id (BEGIN, COMMIT, savepoints). */
static int sq_exec_stmt(struct sq_store *q, enum stmt_id id, struct mr_err *err)
{
    struct binder b = sq_binder(q, id);

    return sq_run(q, &b, err);
}

/* ---- reading rows ---- */

/* sq_col_str - column @i as a malloc'd string; NULL reads as "". */
static char *sq_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *p = sqlite3_column_text(st, i);

    return mr_xstrndup(p != NULL ? (const char *)p : "", (size_t)sqlite3_column_bytes(st, i));
}

/* sq_read_msg - the message in the current row of a MSG_COLS query. */
static int sq_read_msg(sqlite3_stmt *st, struct mr_msg **out, struct mr_err *err)
{
    struct mr_msg *m = mr_msg_new(0);
    const char *state = (const char *)sqlite3_column_text(st, 2);

    m->id = sqlite3_column_int64(st, 0);
    m->gid = sq_col_str(st, 1);
    m->state = mr_msg_state_parse(state != NULL ? state : "");
    if (m->state < 0) {
        mr_err_set(err, MR_ESTORE, "store: message '%s' has unknown state '%s'", m->gid,
                   state != NULL ? state : "");
        mr_msg_free(m);
        return MR_ESTORE;
    }
    m->query_prepared = sq_col_str(st, 3);
    m->protocol = sq_col_str(st, 4);
    m->custom_data = sq_col_str(st, 5);
    m->branch_headers = sq_col_str(st, 6);
    m->concurrent = sqlite3_column_int(st, 7) != 0;
    m->wait_result = sqlite3_column_int(st, 8) != 0;
    m->timeout_to_fail = sqlite3_column_int(st, 9);
    m->retry_interval = sqlite3_column_int(st, 10);
    m->request_timeout = sqlite3_column_int(st, 11);
    m->delay = sqlite3_column_int(st, 12);
    m->create_ms = sqlite3_column_int64(st, 13);
    m->update_ms = sqlite3_column_int64(st, 14);
    m->finish_ms = sqlite3_column_int64(st, 15);
    m->rollback_ms = sqlite3_column_int64(st, 16);
    m->next_cron_ms = sqlite3_column_int64(st, 17);
    m->next_cron_interval = sqlite3_column_int(st, 18);
    m->owner = sq_col_str(st, 19);
    m->lease_until_ms = sqlite3_column_int64(st, 20);
    m->result = sq_col_str(st, 21);
    *out = m;
    return 0;
}

/*
 * sq_read_step - the step in the current row of a query whose step columns (in
 * ST_STEPS's order) start at column @c into @sp (zeroed).
 */
static int sq_read_step(sqlite3_stmt *st, int c, struct mr_step *sp, struct mr_err *err)
{
    const void *payload;
    const char *state = (const char *)sqlite3_column_text(st, c + 4);

    sp->id = sqlite3_column_int64(st, c);
    sp->branch_id = sq_col_str(st, c + 1);
    sp->url = sq_col_str(st, c + 2);
    /* column_blob before column_bytes: the order SQLite documents as safe */
    payload = sqlite3_column_blob(st, c + 3);
    sp->payload_len = (size_t)sqlite3_column_bytes(st, c + 3);
    if (payload == NULL)
        sp->payload_len = 0;
    sp->payload = mr_xstrndup(payload != NULL ? payload : "", sp->payload_len);
    sp->state = mr_step_state_parse(state != NULL ? state : "");
    if (sp->state < 0) {
        return mr_err_set(err, MR_ESTORE, "store: step %lld has unknown state '%s'",
                          (long long)sp->id, state != NULL ? state : "");
    }
    sp->attempts = sqlite3_column_int(st, c + 5);
    if (sqlite3_column_type(st, c + 6) != SQLITE_NULL)
        sp->last_error = sq_col_str(st, c + 6);
    sp->create_ms = sqlite3_column_int64(st, c + 7);
    sp->update_ms = sqlite3_column_int64(st, c + 8);
    sp->finish_ms = sqlite3_column_int64(st, c + 9);
    return 0;
}

/* sq_step_add - a zeroed new last step of @m, growing its array (@cap) as needed. */
static struct mr_step *sq_step_add(struct mr_msg *m, size_t *cap)
{
    MR_ALLOC_GROW(m->steps, m->nsteps + 1, *cap);
    memset(&m->steps[m->nsteps], 0, sizeof(*m->steps));
    /* count the step before reading it, so mr_msg_free() frees a half-read one */
    m->nsteps++;
    return &m->steps[m->nsteps - 1];
}

/* load_steps - attach @m's steps, in id (= branch insert) order. */
static int load_steps(struct sq_store *q, struct mr_msg *m, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_STEPS);
    size_t cap = 0;
    int rc;

    sq_bind_int(&b, 1, m->id);
    rc = b.rc;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(b.st);
        if (rc != SQLITE_ROW)
            break;
        if (sq_read_step(b.st, 0, sq_step_add(m, &cap), err) != 0) {
            sq_done(b.st);
            return MR_ESTORE;
        }
    }
    if (rc != SQLITE_DONE) {
        int code = sq_fail(q->db, rc, err);

        sq_done(b.st);
        return code;
    }
    sq_done(b.st);
    return 0;
}

/*
 * load_one - run the bound single-message query @b; *out is the message (with
 * steps when @with_steps) or NULL when there is no row.
 */
static int load_one(struct sq_store *q, struct binder *b, bool with_steps, struct mr_msg **out,
                    struct mr_err *err)
{
    struct mr_msg *m = NULL;
    int rc = b->rc;
    int code;

    *out = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b->st);
    if (rc == SQLITE_DONE) {
        sq_done(b->st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        code = sq_fail(q->db, rc, err);
        sq_done(b->st);
        return code;
    }
    code = sq_read_msg(b->st, &m, err);
    sq_done(b->st);
    if (code == 0 && with_steps)
        code = load_steps(q, m, err);
    if (code != 0) {
        mr_msg_free(m);
        return code;
    }
    *out = m;
    return 0;
}

/* A reader of the current row of a query into a zeroed array slot, for sq_load_rows(). */
typedef int (*read_row_fn)(sqlite3_stmt *st, void *slot, struct mr_err *err);

/* A destructor of the first @n slots of an array sq_load_rows() filled. */
typedef void (*free_rows_fn)(void *v, size_t n);

/*
 * sq_load_rows - run the bound query @b into a new array of elements of @size,
 * one per row, each read by @read. On an error the slots read so far, the
 * failed one included (zeroed before @read, which leaves it freeable), are
 * freed with @free_rows. Owned result: *out, *n elements (NULL, 0 for none).
 */
static int sq_load_rows(struct sq_store *q, struct binder *b, size_t size, read_row_fn read,
                     free_rows_fn free_rows, void **out, size_t *n, struct mr_err *err)
{
    char *v = NULL;
    size_t cap = 0;
    size_t len = 0;
    int rc = b->rc;
    int code = 0;

    *out = NULL;
    *n = 0;
    while (code == 0 && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
        rc = sqlite3_step(b->st);
        if (rc != SQLITE_ROW)
            break;
        if (len + 1 > cap)
            v = mr_xgrow(v, size, len + 1, &cap);
        memset(v + len * size, 0, size);
        len++;
        code = read(b->st, v + (len - 1) * size, err);
    }
    if (code == 0 && rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b->st);
    if (code != 0) {
        free_rows(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

/* read_msg_row, free_msg_rows - sq_load_rows() of messages (struct mr_msg *, no steps). */
static int read_msg_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    return sq_read_msg(st, slot, err);
}

static void free_msg_rows(void *v, size_t n)
{
    mr_store_msgs_free(v, n);
}

/* ---- open: pragmas and schema ---- */

/* sq_exec_sql - run fixed SQL text of ours (pragmas, schema files); never data. */
static int sq_exec_sql(sqlite3 *db, const char *sql, struct mr_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return sq_fail(db, rc, err);
    return 0;
}

/* query_int - the first column of the first row of fixed query @sql (0 when no row). */
static int query_int(sqlite3 *db, const char *sql, int64_t *v, struct mr_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    *v = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        code = sq_fail(db, rc, err);
    sqlite3_finalize(st);
    return code;
}

/* schema_version - the stored schema version; 0 for a database without one. */
static int schema_version(sqlite3 *db, int64_t *v, struct mr_err *err)
{
    int64_t has;
    int code;

    code = query_int(db,
                     "SELECT count(*) FROM sqlite_master "
                     "WHERE type = 'table' AND name = 'schema_version'",
                     &has, err);
    if (code != 0 || has == 0) {
        *v = 0;
        return code;
    }
    return query_int(db, "SELECT coalesce(max(version), 0) FROM schema_version", v, err);
}

/* check_not_newer - the "database is from a newer msgrelay" error. */
static int check_not_newer(int64_t have, int latest, struct mr_err *err)
{
    if (have > latest) {
        return mr_err_set(err, MR_ESTORE,
                          "store: schema version %lld is newer than this msgrelay (%d)",
                          (long long)have, latest);
    }
    return 0;
}

/* record_version - note schema file @version as applied. */
static int record_version(sqlite3 *db, int version, struct mr_err *err)
{
    sqlite3_stmt *st = NULL;
    int code = 0;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO schema_version (version, applied_time) "
                                "VALUES (?1, ?2)",
                                -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 1, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, mr_now_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        code = sq_fail(db, rc, err);
    sqlite3_finalize(st);
    return code;
}

/*
 * sq_migrate - bring the schema to the newest version compiled in: every newer
 * file, in order, in one IMMEDIATE transaction (so two processes opening a new
 * file at once do not both create it: the second re-reads the version under
 * the lock and finds nothing to do).
 */
static int sq_migrate(sqlite3 *db, struct mr_err *err)
{
    int latest = mr_store_sqlite_schema[mr_store_sqlite_schema_count - 1].version;
    int64_t have;
    size_t i;
    int code;

    code = schema_version(db, &have, err);
    if (code == 0)
        code = check_not_newer(have, latest, err);
    if (code != 0 || have == latest)
        return code;

    code = sq_exec_sql(db, "BEGIN IMMEDIATE", err);
    if (code != 0)
        return code;
    code = schema_version(db, &have, err);
    if (code == 0)
        code = check_not_newer(have, latest, err);
    for (i = 0; code == 0 && i < mr_store_sqlite_schema_count; i++) {
        const struct mr_store_schema *f = &mr_store_sqlite_schema[i];

        if (f->version <= have)
            continue;
        code = sq_exec_sql(db, f->sql, err);
        if (code != 0) {
            mr_err_set(err, code, "store: schema %d: %s", f->version,
                       err != NULL ? err->msg : "failed");
            break;
        }
        code = record_version(db, f->version, err);
    }
    if (code == 0)
        code = sq_exec_sql(db, "COMMIT", err);
    if (code != 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return code;
}

/* ---- the engine ---- */

static void sq_close(struct mr_store *s)
{
    struct sq_store *q = sq(s);
    size_t i;

    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    /* closing rolls back an open transaction */
    sqlite3_close(q->db);
    free(q);
}

static int sq_begin(struct mr_store *s, struct mr_err *err)
{
    return sq_exec_stmt(sq(s), ST_BEGIN, err);
}

static void sq_rollback(struct mr_store *s)
{
    struct sq_store *q = sq(s);

    if (!sqlite3_get_autocommit(q->db))
        sq_exec_stmt(q, ST_ROLLBACK, NULL);
}

/* sq_commit - a failed COMMIT may leave the transaction open: store.c rolls it back. */
static int sq_commit(struct mr_store *s, struct mr_err *err)
{
    return sq_exec_stmt(sq(s), ST_COMMIT, err);
}

/*
 * sq_ready - SQLite may roll a transaction back by itself after an error
 * (SQLITE_FULL, SQLITE_IOERR, ...); what follows would then commit statement
 * by statement, so refuse until the caller rolls back.
 */
static int sq_ready(struct mr_store *s, struct mr_err *err)
{
    if (s->in_tx && sqlite3_get_autocommit(sq(s)->db))
        return mr_err_set(err, MR_ESTORE,
                          "sqlite: the transaction was rolled back after an error; roll back");
    return 0;
}

static int sq_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                      struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_MSG_BY_GID);

    sq_bind_text(&b, 1, gid);
    return load_one(q, &b, with_steps, out, err);
}

/* sq_insert_rows - the INSERTs of sq_msg_insert(), inside its savepoint. */
static int sq_insert_rows(struct sq_store *q, struct mr_msg *m, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_MSG_INSERT);
    size_t i;
    int code;
    int rc;

    sq_bind_text(&b, 1, m->gid);
    sq_bind_text(&b, 2, mr_msg_state_name(m->state));
    sq_bind_text(&b, 3, m->query_prepared);
    sq_bind_text(&b, 4, m->protocol != NULL ? m->protocol : "http");
    sq_bind_text(&b, 5, m->custom_data);
    sq_bind_text(&b, 6, m->branch_headers);
    sq_bind_int(&b, 7, m->concurrent);
    sq_bind_int(&b, 8, m->wait_result);
    sq_bind_int(&b, 9, m->timeout_to_fail);
    sq_bind_int(&b, 10, m->retry_interval);
    sq_bind_int(&b, 11, m->request_timeout);
    sq_bind_int(&b, 12, m->delay);
    sq_bind_int(&b, 13, m->create_ms);
    sq_bind_int(&b, 14, m->update_ms);
    sq_bind_int(&b, 15, m->finish_ms);
    sq_bind_int(&b, 16, m->rollback_ms);
    sq_bind_int(&b, 17, m->next_cron_ms);
    sq_bind_int(&b, 18, m->next_cron_interval);
    sq_bind_text(&b, 19, m->result);
    sq_bind_text(&b, 20, m->owner);
    sq_bind_int(&b, 21, m->lease_until_ms);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        sq_done(b.st);
        return mr_err_set(err, MR_EEXIST, "store: message '%s' already exists", m->gid);
    }
    if (rc != SQLITE_DONE) {
        code = sq_fail(q->db, rc, err);
        sq_done(b.st);
        return code;
    }
    sq_done(b.st);
    m->id = sqlite3_last_insert_rowid(q->db);

    for (i = 0; i < m->nsteps; i++) {
        struct mr_step *sp = &m->steps[i];

        b = sq_binder(q, ST_STEP_INSERT);
        sq_bind_int(&b, 1, m->id);
        sq_bind_text(&b, 2, sp->branch_id);
        sq_bind_text(&b, 3, sp->url);
        sq_bind_blob(&b, 4, sp->payload, sp->payload_len);
        sq_bind_text(&b, 5, mr_step_state_name(sp->state));
        sq_bind_int(&b, 6, sp->attempts);
        sq_bind_text_or_null(&b, 7, sp->last_error);
        sq_bind_int(&b, 8, sp->create_ms);
        sq_bind_int(&b, 9, sp->update_ms);
        sq_bind_int(&b, 10, sp->finish_ms);
        code = sq_run(q, &b, err);
        if (code != 0)
            return code;
        sp->id = sqlite3_last_insert_rowid(q->db);
    }
    return 0;
}

/*
 * sq_msg_insert - the message row and its steps under a savepoint, so a failed
 * insert writes nothing and the caller's batch (group commit) goes on.
 */
static int sq_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t i;
    int code;
    int rel;

    code = sq_exec_stmt(q, ST_SAVEPOINT, err);
    if (code != 0)
        return code;
    code = sq_insert_rows(q, m, err);
    if (code != 0) {
        sq_exec_stmt(q, ST_ROLLBACK_SP, NULL);
        m->id = 0;
        for (i = 0; i < m->nsteps; i++)
            m->steps[i].id = 0;
    }
    /* after ROLLBACK TO, RELEASE just drops the savepoint */
    rel = sq_exec_stmt(q, ST_RELEASE_SP, code == 0 ? err : NULL);
    return code != 0 ? code : rel;
}

static int sq_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                             int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_TRANSITION);
    const char *state;
    int code;
    int rc;

    sq_bind_text(&b, 1, gid);
    sq_bind_text(&b, 2, mr_msg_state_name(from));
    sq_bind_text(&b, 3, mr_msg_state_name(to));
    sq_bind_int(&b, 4, now_ms);
    sq_bind_int(&b, 5, next_cron_ms);
    sq_bind_int(&b, 6, next_cron_interval);
    sq_bind_int(&b, 7, mr_msg_state_is_final(to));
    sq_bind_text_or_null(&b, 8, NULL); /* the lease stays as it is */
    code = sq_run(q, &b, err);
    if (code != 0)
        return code;
    if (sqlite3_changes(q->db) > 0)
        return 0;

    /* nothing changed: tell a missing message from one in another state */
    b = sq_binder(q, ST_MSG_STATE);
    sq_bind_text(&b, 1, gid);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_DONE) {
        sq_done(b.st);
        return mr_err_set(err, MR_ENOENT, "store: no message '%s'", gid);
    }
    if (rc != SQLITE_ROW) {
        code = sq_fail(q->db, rc, err);
        sq_done(b.st);
        return code;
    }
    state = (const char *)sqlite3_column_text(b.st, 0);
    code = mr_err_set(err, MR_ECONFLICT, "store: message '%s' is '%s', not '%s'", gid,
                      state != NULL ? state : "", mr_msg_state_name(from));
    sq_done(b.st);
    return code;
}

static int sq_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                           int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_SCHEDULE);
    int code;

    sq_bind_text(&b, 1, gid);
    sq_bind_int(&b, 2, next_cron_ms);
    sq_bind_int(&b, 3, interval);
    sq_bind_int(&b, 4, now_ms);
    code = sq_run(q, &b, err);
    if (code == 0 && sqlite3_changes(q->db) == 0)
        return mr_err_set(err, MR_ENOENT, "store: no unfinished message '%s'", gid);
    return code;
}

/*
 * sq_msg_insert_many - sq_insert_rows() of each message, without sq_msg_insert()'s
 * savepoint: a failed batch is rolled back whole by the caller (store.h).
 */
static int sq_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n,
                              struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t i;
    int code = 0;

    for (i = 0; code == 0 && i < n; i++)
        code = sq_insert_rows(q, v[i], err);
    return code;
}

/* bind_in_ints - bind @v[0..@n) (1 <= @n <= the chunk) to the IN list, padded with the last. */
static void bind_in_ints(struct binder *b, const int64_t *v, size_t n)
{
    size_t i;

    for (i = 0; i < MR_STORE_BATCH_CHUNK; i++)
        sq_bind_int(b, IN_FIRST + (int)i, v[i < n ? i : n - 1]);
}

/* bind_in_texts - bind_in_ints() for strings. */
static void bind_in_texts(struct binder *b, const char *const *v, size_t n)
{
    size_t i;

    for (i = 0; i < MR_STORE_BATCH_CHUNK; i++)
        sq_bind_text(b, IN_FIRST + (int)i, v[i < n ? i : n - 1]);
}

/*
 * find_gid - the position of @gid in @gids[0..@n), looking from *@hint on
 * (RETURNING rows tend to come in a stable order), or @n when absent.
 */
static size_t find_gid(const char *const *gids, size_t n, const char *gid, size_t *hint)
{
    size_t k;

    for (k = 0; k < n; k++) {
        size_t j = (*hint + k) % n;

        if (strcmp(gids[j] != NULL ? gids[j] : "", gid) == 0) {
            *hint = j + 1;
            return j;
        }
    }
    return n;
}

/* transition_chunk - one ST_TRANSITION_MANY over @gids[0..@n), n <= the chunk. */
static int transition_chunk(struct sq_store *q, const char *const *gids, size_t n, int from, int to,
                            int64_t now_ms, int64_t next_cron_ms, int next_cron_interval,
                            const char *lease_owner, int64_t lease_until_ms, bool *changed,
                            struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_TRANSITION_MANY);
    size_t hint = 0;
    int code = 0;
    int rc;

    sq_bind_text(&b, 2, mr_msg_state_name(from));
    sq_bind_text(&b, 3, mr_msg_state_name(to));
    sq_bind_int(&b, 4, now_ms);
    sq_bind_int(&b, 5, next_cron_ms);
    sq_bind_int(&b, 6, next_cron_interval);
    sq_bind_int(&b, 7, mr_msg_state_is_final(to));
    sq_bind_text_or_null(&b, 8, lease_owner);
    sq_bind_int(&b, 9, lease_until_ms);
    bind_in_texts(&b, gids, n);
    rc = b.rc;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        const char *gid;
        size_t j;

        rc = sqlite3_step(b.st);
        if (rc != SQLITE_ROW)
            break;
        gid = (const char *)sqlite3_column_text(b.st, 0);
        j = find_gid(gids, n, gid != NULL ? gid : "", &hint);
        if (j < n)
            changed[j] = true;
    }
    if (rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

/*
 * sq_msg_transition_many - one UPDATE ... RETURNING gid per chunk of 64,
 * leasing in the same UPDATE; a message not in @from is left alone (not
 * returned).
 */
static int sq_msg_transition_many(struct mr_store *s, const char *const *gids, size_t n, int from,
                                  int to, int64_t now_ms, int64_t next_cron_ms,
                                  int next_cron_interval, const char *lease_owner,
                                  int64_t lease_until_ms, bool *changed, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t at;
    int code = 0;

    for (at = 0; code == 0 && at < n; at += MR_STORE_BATCH_CHUNK) {
        size_t len = n - at < MR_STORE_BATCH_CHUNK ? n - at : MR_STORE_BATCH_CHUNK;

        code = transition_chunk(q, gids + at, len, from, to, now_ms, next_cron_ms,
                                next_cron_interval, lease_owner, lease_until_ms, changed + at,
                                err);
    }
    return code;
}

/* read_id_row, free_id_rows - sq_load_rows() of the ids in the first column. */
static int read_id_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    (void)err;
    *(int64_t *)slot = sqlite3_column_int64(st, 0);
    return 0;
}

static void free_id_rows(void *v, size_t n)
{
    (void)n;
    free(v);
}

/* claim_ids - the ids of up to @limit due, unleased messages, earliest first. */
static int claim_ids(struct sq_store *q, int64_t now_ms, size_t limit, int64_t **ids, size_t *n,
                     struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_CLAIM_IDS);

    sq_bind_int(&b, 1, now_ms);
    sq_bind_int(&b, 2, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    return sq_load_rows(q, &b, sizeof(**ids), read_id_row, free_id_rows, (void **)ids, n, err);
}

/* ids_json - @ids[0..@n) as the JSON array the claim statements read through json_each(). */
static void ids_json(struct mr_buf *b, const int64_t *ids, size_t n)
{
    size_t i;

    mr_buf_addc(b, '[');
    for (i = 0; i < n; i++)
        mr_buf_addf(b, i > 0 ? ",%lld" : "%lld", (long long)ids[i]);
    mr_buf_addc(b, ']');
}

/*
 * claim_load - run the bound ST_CLAIM_LOAD @b: one row per step (one with
 * NULL step columns for a message without steps), messages in claim order,
 * into @v (room for @nids), counting them in *len.
 */
static int claim_load(struct sq_store *q, struct binder *b, struct mr_msg **v, size_t nids,
                      size_t *len, struct mr_err *err)
{
    struct mr_msg *m = NULL;
    size_t cap = 0;
    int rc = b->rc;
    int code = 0;

    while (code == 0 && (rc == SQLITE_OK || rc == SQLITE_ROW)) {
        rc = sqlite3_step(b->st);
        if (rc != SQLITE_ROW)
            break;
        if (m == NULL || m->id != sqlite3_column_int64(b->st, 0)) {
            if (*len == nids) {
                code = mr_err_set(err, MR_ESTORE, "store: claim loaded more messages than it took");
                break;
            }
            code = sq_read_msg(b->st, &v[*len], err);
            if (code != 0)
                break;
            m = v[(*len)++];
            cap = 0;
        }
        if (sqlite3_column_type(b->st, MSG_NCOLS) != SQLITE_NULL)
            code = sq_read_step(b->st, MSG_NCOLS, sq_step_add(m, &cap), err);
    }
    if (code == 0 && rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b->st);
    return code;
}

/*
 * sq_claim - inside the transaction store.c opened for it: pick the ids,
 * lease them all in one UPDATE, and load the messages with their steps in one
 * join (a statement per message and another per message's steps cost more in
 * statement set-up than in reading rows).
 */
static int sq_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                    size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct mr_buf json;
    struct mr_msg **v = NULL;
    int64_t *ids = NULL;
    size_t nids = 0;
    size_t len = 0;
    struct binder b;
    int code;

    code = claim_ids(q, now_ms, limit, &ids, &nids, err);
    if (code != 0 || nids == 0) {
        free(ids);
        return code;
    }
    /* an id takes at most 20 digits and a comma */
    mr_buf_init(&json, nids * 21 + 2);
    ids_json(&json, ids, nids);
    free(ids);
    b = sq_binder(q, ST_CLAIM_LEASE);
    sq_bind_text(&b, 1, json.p);
    sq_bind_text(&b, 2, owner);
    sq_bind_int(&b, 3, lease_until_ms);
    code = sq_run(q, &b, err);
    if (code == 0 && (size_t)sqlite3_changes(q->db) != nids)
        code = mr_err_set(err, MR_ESTORE, "store: claim leased %d of %zu messages",
                          sqlite3_changes(q->db), nids);
    if (code == 0) {
        v = mr_xcalloc(nids, sizeof(*v));
        b = sq_binder(q, ST_CLAIM_LOAD);
        sq_bind_text(&b, 1, json.p);
        code = claim_load(q, &b, v, nids, &len, err);
    }
    if (code == 0 && len != nids)
        code = mr_err_set(err, MR_ESTORE, "store: %zu claimed messages vanished", nids - len);
    mr_buf_release(&json);
    if (code != 0) {
        mr_store_msgs_free(v, len);
        return code;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sq_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                          int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_STEP_RECORD);
    int code;
    int rc;

    sq_bind_int(&b, 1, step_id);
    sq_bind_int(&b, 2, success);
    sq_bind_int(&b, 3, now_ms);
    sq_bind_text_or_null(&b, 4, error);
    code = sq_run(q, &b, err);
    if (code != 0 || sqlite3_changes(q->db) > 0)
        return code;

    /* nothing changed: a missing step, or one whose message is no longer submitted */
    b = sq_binder(q, ST_STEP_EXISTS);
    sq_bind_int(&b, 1, step_id);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_ROW)
        code = mr_err_set(err, MR_ECONFLICT, "store: step %lld: its message is no longer submitted",
                          (long long)step_id);
    else if (rc == SQLITE_DONE)
        code = mr_err_set(err, MR_ENOENT, "store: no step %lld", (long long)step_id);
    else
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

static int sq_msg_release(struct mr_store *s, const char *gid, const char *owner,
                          int64_t next_cron_ms, int interval, const char *result, int64_t now_ms,
                          struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELEASE);

    sq_bind_text(&b, 1, gid);
    sq_bind_text(&b, 2, owner);
    sq_bind_int(&b, 3, next_cron_ms);
    sq_bind_int(&b, 4, interval);
    sq_bind_text_or_null(&b, 5, result);
    sq_bind_int(&b, 6, now_ms);
    return sq_run(q, &b, err);
}

/* step_missing - why step @id was not recorded: MR_ECONFLICT (it exists) or MR_ENOENT. */
static int step_missing(struct sq_store *q, int64_t id, int *res, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_STEP_EXISTS);
    int code = 0;
    int rc;

    sq_bind_int(&b, 1, id);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_ROW)
        *res = MR_ECONFLICT;
    else if (rc == SQLITE_DONE)
        *res = MR_ENOENT;
    else
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

/* step_succeed_chunk - one ST_STEP_SUCCEED_MANY over @ids[0..@n), n <= the chunk. */
static int step_succeed_chunk(struct sq_store *q, const int64_t *ids, size_t n, int64_t now_ms,
                              int *res, struct mr_err *err)
{
    struct binder b = sq_binder(q, ST_STEP_SUCCEED_MANY);
    size_t hint = 0;
    size_t i;
    int code = 0;
    int rc;

    for (i = 0; i < n; i++)
        res[i] = MR_ENOENT; /* until RETURNING names it */
    sq_bind_int(&b, 3, now_ms);
    bind_in_ints(&b, ids, n);
    rc = b.rc;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        int64_t id;
        size_t k;

        rc = sqlite3_step(b.st);
        if (rc != SQLITE_ROW)
            break;
        id = sqlite3_column_int64(b.st, 0);
        for (k = 0; k < n; k++) {
            size_t j = (hint + k) % n;

            if (ids[j] == id) {
                res[j] = 0;
                hint = j + 1;
                break;
            }
        }
    }
    if (rc != SQLITE_DONE)
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    for (i = 0; code == 0 && i < n; i++) {
        if (res[i] != 0)
            code = step_missing(q, ids[i], &res[i], err);
    }
    return code;
}

/*
 * sq_step_succeed_many - one UPDATE ... RETURNING id per chunk of 64; a step
 * not returned is looked up to tell MR_ECONFLICT from MR_ENOENT.
 */
static int sq_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n,
                                int64_t now_ms, int *res, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    size_t at;
    int code = 0;

    for (at = 0; code == 0 && at < n; at += MR_STORE_BATCH_CHUNK) {
        size_t len = n - at < MR_STORE_BATCH_CHUNK ? n - at : MR_STORE_BATCH_CHUNK;

        code = step_succeed_chunk(q, step_ids + at, len, now_ms, res + at, err);
    }
    return code;
}

static int sq_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELEASE_OWNER);

    /* one statement in autocommit mode: its own transaction */
    sq_bind_text(&b, 1, owner);
    return sq_run(q, &b, err);
}

static int sq_count_due(struct mr_store *s, int64_t now_ms, long *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_COUNT_DUE);
    int code = 0;
    int rc;

    sq_bind_int(&b, 1, now_ms);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_ROW)
        *n = (long)sqlite3_column_int64(b.st, 0);
    else
        code = sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

/*
 * sq_msg_list - one of three fixed statements by which filter narrows most: a
 * gid (at most one row), a state (the state/id index), or none (the primary
 * key, newest first). Unset bounds bind as the widest range.
 */
static int sq_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                       size_t *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    enum stmt_id id = ST_LIST_ALL;
    struct binder b;

    if (f->gid != NULL && f->gid[0] != '\0')
        id = ST_LIST_GID;
    else if (f->state != MR_MSG_NONE)
        id = ST_LIST_STATE;
    b = sq_binder(q, id);
    if (id == ST_LIST_GID)
        sq_bind_text(&b, 1, f->gid);
    if (id != ST_LIST_ALL)
        sq_bind_text(&b, 2, mr_msg_state_name(f->state));
    sq_bind_int(&b, 3, f->position > 0 ? f->position : INT64_MAX);
    sq_bind_int(&b, 4, f->create_from_ms);
    sq_bind_int(&b, 5, f->create_to_ms > 0 ? f->create_to_ms : INT64_MAX);
    /* LIMIT -1 is no limit in SQLite */
    sq_bind_int(&b, 6, f->limit == 0 || f->limit > INT64_MAX ? -1 : (int64_t)f->limit);
    return sq_load_rows(q, &b, sizeof(**out), read_msg_row, free_msg_rows, (void **)out, n, err);
}

/* ---- the kv table (DTM topics) ---- */

/* read_kv_row - the current row of a KV_COLS query into the struct mr_kv @slot (zeroed). */
static int read_kv_row(sqlite3_stmt *st, void *slot, struct mr_err *err)
{
    struct mr_kv *kv = slot;

    (void)err;
    kv->id = sqlite3_column_int64(st, 0);
    kv->cat = sq_col_str(st, 1);
    kv->k = sq_col_str(st, 2);
    kv->v = sq_col_str(st, 3);
    kv->version = sqlite3_column_int64(st, 4);
    kv->create_ms = sqlite3_column_int64(st, 5);
    kv->update_ms = sqlite3_column_int64(st, 6);
    return 0;
}

static void free_kv_rows(void *v, size_t n)
{
    mr_store_kvs_free(v, n);
}

/* load_kvs - run the bound KV_COLS query @b into a new array. */
static int load_kvs(struct sq_store *q, struct binder *b, struct mr_kv **out, size_t *n,
                    struct mr_err *err)
{
    return sq_load_rows(q, b, sizeof(**out), read_kv_row, free_kv_rows, (void **)out, n, err);
}

static int sq_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out,
                     struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_GET);
    struct mr_kv *v = NULL;
    size_t n = 0;
    int code;

    sq_bind_text(&b, 1, cat);
    sq_bind_text(&b, 2, k);
    code = load_kvs(q, &b, &v, &n, err);
    if (code == 0 && n > 0)
        *out = v;
    else
        mr_store_kvs_free(v, n);
    return code;
}

static int sq_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
                      struct mr_kv **out, size_t *n, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_SCAN);

    sq_bind_text(&b, 1, cat);
    sq_bind_int(&b, 2, position > 0 ? position : INT64_MAX);
    sq_bind_int(&b, 3, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit);
    return load_kvs(q, &b, out, n, err);
}

/* sq_kv_insert - a unique violation rolls back only the statement: the transaction goes on. */
static int sq_kv_insert(struct mr_store *s, struct mr_kv *kv, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_INSERT);
    int code;
    int rc;

    sq_bind_text(&b, 1, kv->cat);
    sq_bind_text(&b, 2, kv->k);
    sq_bind_text(&b, 3, kv->v);
    sq_bind_int(&b, 4, kv->create_ms);
    sq_bind_int(&b, 5, kv->update_ms);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        sq_done(b.st);
        return mr_err_set(err, MR_EEXIST, "store: kv '%s/%s' already exists", kv->cat, kv->k);
    }
    code = rc == SQLITE_DONE ? 0 : sq_fail(q->db, rc, err);
    sq_done(b.st);
    if (code != 0)
        return code;
    kv->id = sqlite3_last_insert_rowid(q->db);
    kv->version = 1;
    return 0;
}

static int sq_kv_update(struct mr_store *s, int64_t id, int64_t version, const char *v,
                        int64_t now_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_UPDATE);
    int code;

    sq_bind_int(&b, 1, id);
    sq_bind_int(&b, 2, version);
    sq_bind_text(&b, 3, v);
    sq_bind_int(&b, 4, now_ms);
    code = sq_run(q, &b, err);
    if (code == 0 && sqlite3_changes(q->db) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: kv row %lld changed concurrently",
                          (long long)id);
    return code;
}

static int sq_kv_delete(struct mr_store *s, const char *cat, const char *k, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_KV_DELETE);
    int code;

    sq_bind_text(&b, 1, cat);
    sq_bind_text(&b, 2, k);
    code = sq_run(q, &b, err);
    if (code == 0 && sqlite3_changes(q->db) == 0)
        return mr_err_set(err, MR_ENOENT, "store: no kv '%s/%s'", cat, k);
    return code;
}

/* ---- the relay registry ---- */

static int sq_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                        struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_GET);
    int code = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    sq_bind_text(&b, 1, relay_id);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_ROW) {
        out->relay_id = sq_col_str(b.st, 0);
        out->instance = sq_col_str(b.st, 1);
        out->host = sq_col_str(b.st, 2);
        out->machine = sq_col_str(b.st, 3);
        out->pid = sqlite3_column_int64(b.st, 4);
        out->pid_start = sqlite3_column_int64(b.st, 5);
        out->started_ms = sqlite3_column_int64(b.st, 6);
        out->heartbeat_until_ms = sqlite3_column_int64(b.st, 7);
    } else if (rc == SQLITE_DONE) {
        code = mr_err_set(err, MR_ENOENT, "store: relay id '%s' is not registered", relay_id);
    } else {
        code = sq_fail(q->db, rc, err);
    }
    sq_done(b.st);
    return code;
}

/* bind_relay - @r's columns as ?1..?8 of @b, in RELAY_COLS order. */
static void bind_relay(struct binder *b, const struct mr_store_relay *r)
{
    sq_bind_text(b, 1, r->relay_id);
    sq_bind_text(b, 2, r->instance);
    sq_bind_text(b, 3, r->host);
    sq_bind_text(b, 4, r->machine);
    sq_bind_int(b, 5, r->pid);
    sq_bind_int(b, 6, r->pid_start);
    sq_bind_int(b, 7, r->started_ms);
    sq_bind_int(b, 8, r->heartbeat_until_ms);
}

static int sq_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_INSERT);
    int code;
    int rc;

    bind_relay(&b, r);
    rc = b.rc;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(b.st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        sq_done(b.st);
        return mr_err_set(err, MR_EEXIST, "store: relay id '%s' is registered", r->relay_id);
    }
    code = rc == SQLITE_DONE ? 0 : sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

static int sq_relay_replace(struct mr_store *s, const struct mr_store_relay *r,
                            const char *old_instance, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_REPLACE);
    int code;

    bind_relay(&b, r);
    sq_bind_text(&b, 9, old_instance);
    code = sq_run(q, &b, err);
    if (code == 0 && sqlite3_changes(q->db) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: relay id '%s' changed concurrently",
                          r->relay_id);
    return code;
}

static int sq_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                              int64_t until_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_HEARTBEAT);
    int code;

    /* one statement in autocommit mode: its own transaction */
    sq_bind_text(&b, 1, relay_id);
    sq_bind_text(&b, 2, instance);
    sq_bind_int(&b, 3, until_ms);
    code = sq_run(q, &b, err);
    if (code == 0 && sqlite3_changes(q->db) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: relay id '%s' is no longer held by %s",
                          relay_id, instance);
    return code;
}

static int sq_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                               struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_DELETE);

    sq_bind_text(&b, 1, relay_id);
    sq_bind_text(&b, 2, instance);
    return sq_run(q, &b, err);
}

/* sq_relax - WAL with synchronous=NORMAL: safe against a crash of the process, not of the OS. */
static int sq_relax(struct mr_store *s, struct mr_err *err)
{
    return sq_exec_sql(sq(s)->db, "PRAGMA synchronous = NORMAL", err);
}

static const struct mr_store_engine sqlite_engine = {
    .name = "sqlite",
    .close = sq_close,
    .ready = sq_ready,
    .relax = sq_relax,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .msg_get = sq_msg_get,
    .msg_insert = sq_msg_insert,
    .msg_transition = sq_msg_transition,
    .msg_schedule = sq_msg_schedule,
    .msg_get_many = NULL, /* store.c's loop of msg_get: a statement step costs no round trip */
    .msg_insert_many = sq_msg_insert_many,
    .msg_transition_many = sq_msg_transition_many,
    .claim = sq_claim,
    .step_record = sq_step_record,
    .msg_release = sq_msg_release,
    .step_succeed_many = sq_step_succeed_many,
    .msg_release_many = NULL, /* store.c's loop of msg_release */
    .release_owner = sq_release_owner,
    .count_due = sq_count_due,
    .msg_list = sq_msg_list,
    .kv_get = sq_kv_get,
    .kv_scan = sq_kv_scan,
    .kv_insert = sq_kv_insert,
    .kv_update = sq_kv_update,
    .kv_delete = sq_kv_delete,
    .relay_get = sq_relay_get,
    .relay_insert = sq_relay_insert,
    .relay_replace = sq_relay_replace,
    .relay_heartbeat = sq_relay_heartbeat,
    .relay_unregister = sq_relay_unregister,
};

/* prepare_all - prepare every statement of @q once, for the life of the handle. */
static int prepare_all(struct sq_store *q, struct mr_err *err)
{
    size_t i;
    int rc;

    for (i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
        if (rc != SQLITE_OK)
            return sq_fail(q->db, rc, err);
    }
    return 0;
}

/* set_pragmas - the connection settings msgrelay's durability rests on. */
static int set_pragmas(sqlite3 *db, struct mr_err *err)
{
    int code;

    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    code = sq_exec_sql(db, "PRAGMA journal_mode = WAL", err);
    if (code == 0)
        code = sq_exec_sql(db, "PRAGMA synchronous = FULL", err);
    if (code == 0)
        code = sq_exec_sql(db, "PRAGMA foreign_keys = ON", err);
    return code;
}

int mr_store_sqlite_open(const char *path, struct mr_store **out, struct mr_err *err)
{
    struct sq_store *q;
    int code;
    int rc;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return mr_err_set(err, MR_EINVAL, "store: no path in sqlite store uri");
    q = mr_xcalloc(1, sizeof(*q));
    q->base.eng = &sqlite_engine;
    rc = sqlite3_open_v2(path, &q->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        code = mr_err_set(err, (rc & 0xff) == SQLITE_CANTOPEN ? MR_EUNAVAIL : MR_ESTORE,
                          "sqlite: cannot open '%s': %s", path,
                          q->db != NULL ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        goto fail;
    }
    code = set_pragmas(q->db, err);
    if (code == 0)
        code = sq_migrate(q->db, err);
    if (code == 0)
        code = prepare_all(q, err);
    if (code != 0)
        goto fail;
    *out = &q->base;
    return 0;

fail:
    sq_close(&q->base);
    return code;
}
