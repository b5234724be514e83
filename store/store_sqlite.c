/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the SQLite engine of store.h ("sqlite:PATH"), the embedded
 * default: one database file in WAL mode with synchronous=FULL, so a commit
 * that returned is on disk and kill -9 loses nothing acknowledged.
 *
 * Every statement is prepared once per handle, on its first use, and reused
 * (reset and unbound after each use); no SQL text is ever built from data.
 * The schema comes from the binary (mr_store_sqlite_schema) and is migrated
 * at open.
 *
 * Threads: a handle is one connection owned by one thread (opened NOMUTEX);
 * every thread opens its own. Other processes may share the file.
 * Must not: check store.h's engine-neutral rules (transactions, owners,
 * limits: store.c does, before any member here runs).
 * This file holds the engine table, open and the transaction members; the
 * engine's topics are split into store_sqlite_*.c (store_sqlite_int.h).
 * Errors: SQLite failures are MR_ESTORE "sqlite: <errmsg>", a lock still held
 * after the 10 s busy timeout is MR_EBUSY, a file that cannot be opened is
 * MR_EUNAVAIL.
 */
#include "store/store_sqlite_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/mem.h"

#define BUSY_TIMEOUT_MS 10000

/* Between two tries for a lock another connection holds, nanoseconds. */
#define BUSY_STEP_NS 100000L

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

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

/* sq_relax - WAL with synchronous=NORMAL: safe against a crash of the process, not of the OS. */
static int sq_relax(struct mr_store *s, struct mr_err *err)
{
    return sq_exec_sql(sq(s)->db, "PRAGMA synchronous = NORMAL", err);
}

/*
 * sq_shrink - finalize the statements (each is prepared again at its next use)
 * and free the page cache's unused pages (all of them between transactions).
 * The statements go too because they are what a burst leaves scattered
 * through its thread's heap: one prepared late pins a page of its own.
 */
static void sq_shrink(struct mr_store *s)
{
    struct sq_store *q = sq(s);
    size_t i;

    for (i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(q->st[i]);
        q->st[i] = NULL;
    }
    sqlite3_db_release_memory(q->db);
}

static const struct mr_store_engine sqlite_engine = {
    .name = "sqlite",
    .close = sq_close,
    .ready = sq_ready,
    .relax = sq_relax,
    .shrink = sq_shrink,
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
    .due_by_dest = sq_due_by_dest,
    .count_state = sq_count_state,
    .oldest_in_state = sq_oldest_in_state,
    .msg_query_failed = sq_msg_query_failed,
    .redrive_page = sq_redrive_page,
    .redrive_ids = sq_redrive_ids,
    .reset_cron = sq_reset_cron,
    .msg_list = sq_msg_list,
    .kv_get = sq_kv_get,
    .kv_scan = sq_kv_scan,
    .kv_insert = sq_kv_insert,
    .kv_update = sq_kv_update,
    .kv_delete = sq_kv_delete,
    .job_lease = sq_job_lease,
    .retention_delete = sq_retention_delete,
    .relay_get = sq_relay_get,
    .relay_insert = sq_relay_insert,
    .relay_replace = sq_relay_replace,
    .relay_heartbeat = sq_relay_heartbeat,
    .relay_unregister = sq_relay_unregister,
    .order_of = sq_order_of,
    .order_next = sq_order_next,
    .order_before = sq_order_before,
    .order_set = sq_order_set,
    .order_wake = sq_order_wake,
};

/*
 * on_busy - the busy handler of @arg's connection: try again every
 * BUSY_STEP_NS until BUSY_TIMEOUT_MS have passed since the first try.
 * SQLite's own (sqlite3_busy_timeout) backs off to 100 ms between tries; a
 * writer sleeping that long keeps missing the short gaps between another
 * connection's commits (the intake's group commits, back to back under
 * load), so the relay thread sat in it for up to seconds per flush, long
 * enough for its calls in flight to time out with their answers unread.
 */
static int on_busy(void *arg, int tries)
{
    struct sq_store *q = arg;
    struct timespec ts = {0, BUSY_STEP_NS};
    int64_t now = mr_mono_ms();

    if (tries == 0)
        q->busy_since_ms = now;
    else if (now - q->busy_since_ms >= BUSY_TIMEOUT_MS)
        return 0;
    nanosleep(&ts, NULL);
    return 1;
}

/* set_pragmas - the connection settings msgrelay's durability rests on. */
static int set_pragmas(struct sq_store *q, struct mr_err *err)
{
    sqlite3 *db = q->db;
    int code;

    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_handler(db, on_busy, q);
    code = sq_exec_sql(db, "PRAGMA journal_mode = WAL", err);
    if (code == 0)
        code = sq_exec_sql(db, "PRAGMA synchronous = FULL", err);
    if (code == 0)
        code = sq_exec_sql(db, "PRAGMA foreign_keys = ON", err);
    return code;
}

/*
 * lib_config_once - before SQLite initializes (at the first open): no bulk
 * page cache. By default every connection sets aside 20 pages (about 87 kB)
 * at its first read and keeps them until it closes, even through
 * sqlite3_db_release_memory; without, each page is allocated as it is
 * needed, as the pages past those 20 already are. Refused (SQLITE_MISUSE,
 * ignored) when SQLite was initialized before us: nothing is lost but that.
 */
static void lib_config_once(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
}

/* sqlite_open - mr_store_sqlite_open, telling @report (may be NULL) what the migration applied. */
static int sqlite_open(const char *path, struct mr_store_migration_report *report,
                       struct mr_store **out, struct mr_err *err)
{
    struct sq_store *q;
    int code;
    int rc;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        return mr_err_set(err, MR_EINVAL, "store: no path in sqlite store uri");
    pthread_once(&lib_once, lib_config_once);
    q = mr_xcalloc(1, sizeof(*q));
    q->base.eng = &sqlite_engine;
    rc = sqlite3_open_v2(path, &q->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int e = q->db != NULL ? sqlite3_system_errno(q->db) : 0;

        code = mr_err_set(err, (rc & 0xff) == SQLITE_CANTOPEN ? MR_EUNAVAIL : MR_ESTORE,
                          "sqlite: cannot open '%s': %s%s%s", path,
                          q->db != NULL ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc),
                          e != 0 ? ": " : "", e != 0 ? strerror(e) : "");
        goto fail;
    }
    code = set_pragmas(q, err);
    if (code == 0)
        code = sq_migrate(q->db, report, err);
    /* after the migration (an index it builds sorts a whole table, on disk): statement
       journals and temporary b-trees in memory. In files, every transaction of the relay's
       batches created, wrote and unlinked one; every statement the store prepares (on first
       use) is bounded (a LIMIT, one message, or one batch) */
    if (code == 0)
        code = sq_exec_sql(q->db, "PRAGMA temp_store = MEMORY", err);
    if (code != 0)
        goto fail;
    *out = &q->base;
    return 0;

fail:
    sq_close(&q->base);
    return code;
}

int mr_store_sqlite_open(const char *path, struct mr_store **out, struct mr_err *err)
{
    return sqlite_open(path, NULL, out, err);
}

int mr_store_sqlite_migrate(const char *path, struct mr_store_migration_report *report,
                            struct mr_err *err)
{
    struct mr_store *s = NULL;
    int rc = sqlite_open(path, report, &s, err);

    mr_store_close(s);
    return rc;
}
