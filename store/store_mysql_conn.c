/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_conn.c - one MySQL connection: the client library's start, the
 * connection and its session settings, the mapping of MySQL errors to store
 * errors (and what an error does to the connection and the transaction), and
 * the engine's transaction members (store.c checks when they may be called).
 *
 * Must not: reconnect inside a transaction (the server has dropped it); run
 * SQL built from data (fixed text only: START TRANSACTION, session settings).
 * Threads: a handle is one connection owned by one thread; the client library
 * is initialised once (pthread_once) and ended at exit (atexit).
 * Errors: as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysqld_error.h>

static const char *const stmt_sql[] = {
#define STMT_SQL(id, sql) sql,
    STMT_LIST(STMT_SQL)
#undef STMT_SQL
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_end(void)
{
    mysql_library_end();
}

/* lib_init_once - mysql_library_init before any thread's mysql_init (it is not thread-safe). */
static void lib_init_once(void)
{
    if (mysql_library_init(0, NULL, NULL) == 0)
        atexit(lib_end);
}

/* is_gone - whether MySQL error @e means the server cannot be reached or dropped us. */
static bool is_gone(unsigned int e)
{
    switch (e) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_IPSOCK_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_HANDSHAKE_ERR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
        return true;
    default:
        return false;
    }
}

/*
 * fail - turn MySQL error @e with text @msg into a store error. A lost
 * connection is marked broken (torn down at the next connect, not here: the
 * caller may still hold statements of it); a deadlock or lock-wait timeout
 * spoils the open transaction. @msg is copied before anything changes.
 */
static int fail(struct my_store *ms, unsigned int e, const char *msg, struct mr_err *err)
{
    int code;

    if (is_gone(e)) {
        code = mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s", msg);
        ms->broken = true;
        ms->tx_lost = ms->base.in_tx;
        return code;
    }
    if (e == CR_COMMANDS_OUT_OF_SYNC)
        ms->broken = true; /* a bug of ours; a new connection is the way out */
    if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT) {
        /* a deadlock rolled the transaction back; a lock-wait timeout only the statement,
           but the caller rolls back either way, so treat both alike */
        ms->tx_lost = ms->base.in_tx;
        return mr_err_set(err, MR_EBUSY, "mysql: %s", msg);
    }
    return mr_err_set(err, MR_ESTORE, "mysql: %s", msg);
}

/* my_stmt_fail - fail() with @st's error. */
int my_stmt_fail(struct my_store *ms, MYSQL_STMT *st, struct mr_err *err)
{
    return fail(ms, mysql_stmt_errno(st), mysql_stmt_error(st), err);
}

/* my_db_fail - fail() with the connection's error. */
int my_db_fail(struct my_store *ms, struct mr_err *err)
{
    return fail(ms, mysql_errno(ms->db), mysql_error(ms->db), err);
}

/* disconnect - close the connection and every statement of it. The transaction flags stay. */
static void disconnect(struct my_store *ms)
{
    size_t i;

    for (i = 0; i < ST_COUNT; i++) {
        if (ms->st[i] != NULL)
            mysql_stmt_close(ms->st[i]);
        ms->st[i] = NULL;
    }
    for (i = 0; i <= STEP_CHUNK; i++) {
        if (ms->ins[i] != NULL)
            mysql_stmt_close(ms->ins[i]);
        ms->ins[i] = NULL;
    }
    for (i = 0; i < MT_COUNT * NBATCH; i++) {
        if (ms->mt[i / NBATCH][i % NBATCH] != NULL)
            mysql_stmt_close(ms->mt[i / NBATCH][i % NBATCH]);
        ms->mt[i / NBATCH][i % NBATCH] = NULL;
    }
    for (i = 0; i < 2 * (MR_STORE_BATCH_CHUNK + 1); i++) {
        MYSQL_STMT **st = &ms->rows[i / (MR_STORE_BATCH_CHUNK + 1)][i % (MR_STORE_BATCH_CHUNK + 1)];

        if (*st != NULL)
            mysql_stmt_close(*st);
        *st = NULL;
    }
    if (ms->db != NULL)
        mysql_close(ms->db);
    ms->db = NULL;
    ms->broken = false;
}

/* my_query - run fixed SQL text of ours (never data) and discard any result. */
int my_query(struct my_store *ms, const char *sql, struct mr_err *err)
{
    MYSQL_RES *res;

    if (mysql_real_query(ms->db, sql, strlen(sql)) != 0)
        return my_db_fail(ms, err);
    res = mysql_store_result(ms->db);
    if (res != NULL)
        mysql_free_result(res);
    else if (mysql_field_count(ms->db) != 0)
        return my_db_fail(ms, err);
    return 0;
}

/*
 * my_query_int - the first column of the first row of fixed query @sql (0 for
 * no row or NULL). *e is the MySQL error number (0 on success), so a caller
 * can tell "no such table" from a failure.
 */
int my_query_int(struct my_store *ms, const char *sql, int64_t *v, unsigned int *e,
                 struct mr_err *err)
{
    MYSQL_RES *res;
    MYSQL_ROW row;

    *v = 0;
    *e = 0;
    if (mysql_real_query(ms->db, sql, strlen(sql)) != 0) {
        *e = mysql_errno(ms->db);
        return my_db_fail(ms, err);
    }
    res = mysql_store_result(ms->db);
    if (res == NULL) {
        *e = mysql_errno(ms->db);
        return my_db_fail(ms, err);
    }
    row = mysql_fetch_row(res);
    if (row != NULL && row[0] != NULL)
        *v = strtoll(row[0], NULL, 10);
    mysql_free_result(res);
    return 0;
}

/*
 * session - the connection settings the engine relies on: strict SQL, UTC,
 * READ COMMITTED (no gap locks: concurrent intake and claims deadlock less),
 * a bounded lock wait, and how multi-row INSERTs number their rows.
 */
static int session(struct my_store *ms, struct mr_err *err)
{
    char sql[160];
    int64_t mode = 0;
    unsigned int e;
    int code;

    snprintf(sql, sizeof(sql),
             "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', "
             "time_zone = '+00:00', innodb_lock_wait_timeout = %u",
             ms->conf.lock_wait);
    code = my_query(ms, sql, err);
    if (code == 0)
        code = my_query(ms, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", err);
    if (code == 0)
        code = my_query_int(ms, "SELECT @@innodb_autoinc_lock_mode", &mode, &e, err);
    if (code == 0)
        code = my_query_int(ms, "SELECT @@auto_increment_increment", &ms->id_step, &e, err);
    /* modes 0 and 1 give a multi-row INSERT consecutive ids; mode 2 only increasing ones */
    ms->ids_consecutive = mode != 2;
    if (ms->id_step < 1)
        ms->id_step = 1;
    return code;
}

/*
 * my_connect - open the connection, set the session, and unless @admin (the
 * migration's connection, which may run several statements in one call)
 * check the schema and prepare every fixed statement.
 */
int my_connect(struct my_store *ms, bool admin, struct mr_err *err)
{
    const struct my_conf *c = &ms->conf;
    unsigned long flags = CLIENT_FOUND_ROWS | (admin ? CLIENT_MULTI_STATEMENTS : 0);
    my_bool no = 0;
    unsigned int e;
    size_t i;
    int code = 0;

    disconnect(ms);
    pthread_once(&lib_once, lib_init_once);
    ms->db = mysql_init(NULL);
    if (ms->db == NULL)
        return mr_err_set(err, MR_ESYS, "mysql: cannot allocate a connection");
    mysql_options(ms->db, MYSQL_OPT_CONNECT_TIMEOUT, &c->connect_timeout);
    mysql_options(ms->db, MYSQL_OPT_READ_TIMEOUT, &c->rw_timeout);
    mysql_options(ms->db, MYSQL_OPT_WRITE_TIMEOUT, &c->rw_timeout);
    mysql_options(ms->db, MYSQL_OPT_RECONNECT, &no); /* a silent reconnect would lose the tx */
    mysql_options(ms->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (mysql_real_connect(ms->db, c->host, c->user, c->pass, c->db, c->port, c->socket, flags) ==
        NULL) {
        e = mysql_errno(ms->db);
        if (is_gone(e))
            code = mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s: %s", c->where,
                              mysql_error(ms->db));
        else
            code = mr_err_set(err, MR_ESTORE, "mysql: cannot connect to %s: %s", c->where,
                              mysql_error(ms->db));
        disconnect(ms);
        return code;
    }
    code = session(ms, err);
    if (code == 0 && !admin)
        code = my_check_schema(ms, err);
    for (i = 0; code == 0 && !admin && i < ST_COUNT; i++)
        code = my_prepare(ms, stmt_sql[i], &ms->st[i], err);
    if (code != 0)
        disconnect(ms);
    return code;
}

/* ensure - outside a transaction: make sure there is a working connection. */
static int ensure(struct my_store *ms, struct mr_err *err)
{
    if (ms->db != NULL && !ms->broken)
        return 0;
    return my_connect(ms, false, err);
}

/* tx_usable - inside a transaction: MR_EUNAVAIL / MR_EBUSY if the server has dropped it. */
static int tx_usable(struct my_store *ms, struct mr_err *err)
{
    if (ms->broken || ms->db == NULL)
        return mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: connection lost");
    if (ms->tx_lost)
        return mr_err_set(err, MR_EBUSY,
                          "mysql: the server rolled the transaction back; roll back and retry");
    return 0;
}

/* my_ready - outside a transaction, connect again if need be; inside, is it still alive? */
int my_ready(struct mr_store *s, struct mr_err *err)
{
    struct my_store *ms = my(s);

    return ms->base.in_tx ? tx_usable(ms, err) : ensure(ms, err);
}

int my_begin(struct mr_store *s, struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    code = ensure(ms, err);
    if (code == 0) {
        code = my_query(ms, "START TRANSACTION", err);
        /* a connection the server dropped while it sat idle (a restart, wait_timeout) shows
           only now; nothing was done in it, so connect again and try once more */
        if (code == MR_EUNAVAIL) {
            mr_err_clear(err);
            code = ensure(ms, err);
            if (code == 0)
                code = my_query(ms, "START TRANSACTION", err);
        }
    }
    if (code == 0)
        ms->tx_lost = false;
    return code;
}

void my_rollback(struct mr_store *s)
{
    struct my_store *ms = my(s);

    if (ms->db != NULL && !ms->broken)
        my_query(ms, "ROLLBACK", NULL);
    ms->tx_lost = false;
}

/*
 * my_commit - MR_EUNAVAIL here means the outcome is unknown (the connection
 * broke during COMMIT). store.c rolls back on failure.
 */
int my_commit(struct mr_store *s, struct mr_err *err)
{
    return my_query(my(s), "COMMIT", err);
}

void my_close(struct mr_store *s)
{
    struct my_store *ms = my(s);

    /* closing rolls back an open transaction, on the server */
    disconnect(ms);
    my_row_clear(&ms->row);
    my_conf_free(&ms->conf);
    free(ms);
}
