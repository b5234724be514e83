/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_conn.c - one MySQL connection: the client library's start, the
 * connection and its session settings, the mapping of MySQL errors to store
 * errors (and what an error does to the connection and the transaction), and
 * the engine's transaction members (store.c checks when they may be called).
 *
 * Several hosts (a cluster's nodes, in the URI's order of preference): a
 * connection goes to the first host that answers and is ready to write: not
 * read-only (asked only when the URI lists several hosts), and on a Galera
 * node (wsrep_on) wsrep_ready ON and the node Synced. A node that goes away,
 * answers "not prepared" (1047: not in the primary component, or joining)
 * or turns read-only breaks the connection, and the next connect tries the
 * hosts in order again. A connection on a later host looks whether an
 * earlier one is ready again (a short probe connection) at the next begin
 * after PREFER_EVERY_MS, backing off to PREFER_MAX_MS while it is not, and
 * moves back to it: never on every call. Every handle of the process
 * (writer, relay, probes, retention, ...) follows the same rule on its own.
 * A deadlock or, on Galera, a brute-force abort or certification failure
 * (1213, 1180) is a conflict: MR_EBUSY, counted in
 * msgrelay_store_conflicts_total, for the caller to retry.
 *
 * Must not: reconnect inside a transaction (the server has dropped it); run
 * SQL built from data (fixed text only: START TRANSACTION, session settings).
 * Threads: a handle is one connection owned by one thread; the client library
 * is initialised once (pthread_once) and ended at exit (atexit).
 * Errors: as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errmsg.h>
#include <mysqld_error.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"

/* A connection on a later host of the list probes the earlier ones this often at first... */
#define PREFER_EVERY_MS 5000
/* ... and, while they stay away, at most this seldom. */
#define PREFER_MAX_MS 60000
/* A probe connection gives up after this many seconds (connect and read). */
#define PROBE_TIMEOUT_S 1

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
 * is_unready - whether MySQL error @e means this node cannot take our work
 * now although it answers: a Galera node outside the primary component or
 * still joining (1047, "WSREP has not yet prepared node for application
 * use"), or a server that turned read-only (1290). Another host may.
 */
static bool is_unready(unsigned int e)
{
    return e == ER_UNKNOWN_COM_ERROR || e == ER_OPTION_PREVENTS_STATEMENT;
}

/*
 * fail - turn MySQL error @e with text @msg into a store error. A lost
 * connection, or a node that cannot take our work, is marked broken (torn
 * down at the next connect, not here: the caller may still hold statements of
 * it); a deadlock, conflict or lock-wait timeout spoils the open transaction.
 * @msg is copied before anything changes.
 */
static int fail(struct my_store *ms, unsigned int e, const char *msg, struct mr_err *err)
{
    int code;

    if (is_gone(e) || is_unready(e)) {
        code = mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s", msg);
        ms->broken = true;
        ms->tx_lost = ms->base.in_tx;
        return code;
    }
    if (e == CR_COMMANDS_OUT_OF_SYNC)
        ms->broken = true; /* a bug of ours; a new connection is the way out */
    if (e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT || e == ER_ERROR_DURING_COMMIT) {
        /* a deadlock (on Galera also a brute-force abort or a certification failure) or a
           failed commit rolled the transaction back; a lock-wait timeout only the statement,
           but the caller rolls back either way, so treat them alike */
        if (e != ER_LOCK_WAIT_TIMEOUT)
            mr_metrics_store_conflict();
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

/*
 * close_on_demand - close the statements prepared on demand (multi-row INSERTs
 * and IN lists by row count: over a hundred of them, some with thousands of
 * parameters, megabytes of client memory on the intake's connection). Their
 * next use prepares them again.
 */
static void close_on_demand(struct my_store *ms)
{
    size_t i;

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
}

/*
 * my_shrink - give back the statements prepared on demand (store.h's mr_store_shrink).
 * The fixed ones (ms->st[]) stay: small, and those a connection uses it uses every turn.
 */
void my_shrink(struct mr_store *s)
{
    close_on_demand(my(s));
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
    close_on_demand(ms);
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

/* The server settings node_check() reads. */
struct node_vars {
    char read_only[8];
    char wsrep_on[8];
    char wsrep_ready[8];
    char local_state[8];
};

/* show_into - run SHOW statement @sql on @db and copy the values node_vars names into @v. */
static int show_into(MYSQL *db, const char *sql, struct node_vars *v)
{
    static const struct {
        const char *name;
        size_t off;
    } want[] = {
        {"read_only", offsetof(struct node_vars, read_only)},
        {"wsrep_on", offsetof(struct node_vars, wsrep_on)},
        {"wsrep_ready", offsetof(struct node_vars, wsrep_ready)},
        {"wsrep_local_state", offsetof(struct node_vars, local_state)},
    };
    MYSQL_RES *res;
    MYSQL_ROW row;
    size_t i;

    if (mysql_real_query(db, sql, strlen(sql)) != 0 || (res = mysql_store_result(db)) == NULL)
        return -1;
    while ((row = mysql_fetch_row(res)) != NULL) {
        for (i = 0; row[0] != NULL && row[1] != NULL && i < sizeof(want) / sizeof(want[0]); i++) {
            if (strcasecmp(row[0], want[i].name) == 0)
                snprintf((char *)v + want[i].off, sizeof(v->read_only), "%s", row[1]);
        }
    }
    mysql_free_result(res);
    return 0;
}

/*
 * node_check - whether the server behind @db can take our writes: NULL if
 * so, else why not ("" when the questions themselves failed: the error is
 * @db's). @writable: a read-only server is refused too.
 */
static const char *node_check(MYSQL *db, bool writable)
{
    struct node_vars v;

    memset(&v, 0, sizeof(v));
    if (show_into(db, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'wsrep_on')",
                  &v) != 0)
        return "";
    if (writable && (strcmp(v.read_only, "ON") == 0 || strcmp(v.read_only, "1") == 0))
        return "the server is read-only";
    if (strcmp(v.wsrep_on, "ON") != 0)
        return NULL; /* not a Galera node */
    if (show_into(db,
                  "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state')",
                  &v) != 0)
        return "";
    if (strcmp(v.wsrep_ready, "ON") != 0)
        return "the Galera node is not ready (wsrep_ready OFF)";
    if (strcmp(v.local_state, "4") != 0)
        return "the Galera node is not synced with its cluster";
    return NULL;
}

/*
 * open_db - a new client connection to host @i of @c (the socket when there are none):
 * @timeout_s seconds to connect, @rw to wait for each answer or write (read_timeout).
 */
static MYSQL *open_db(const struct my_conf *c, size_t i, unsigned int timeout_s,
                      unsigned int rw, bool admin, struct mr_err *err)
{
    unsigned long flags = CLIENT_FOUND_ROWS | (admin ? CLIENT_MULTI_STATEMENTS : 0);
    const char *host = c->nhosts > 0 ? c->hosts[i].name : NULL;
    unsigned int port = c->nhosts > 0 ? c->hosts[i].port : 0;
    const char *where = c->nhosts > 0 ? c->hosts[i].where : c->where;
    MYSQL *db;
    my_bool no = 0;
    unsigned int e;

    pthread_once(&lib_once, lib_init_once);
    db = mysql_init(NULL);
    if (db == NULL) {
        mr_err_set(err, MR_ESYS, "mysql: cannot allocate a connection");
        return NULL;
    }
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &rw);
    mysql_options(db, MYSQL_OPT_RECONNECT, &no); /* a silent reconnect would lose the tx */
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (mysql_real_connect(db, host, c->user, c->pass, c->db, port, c->socket, flags) == NULL) {
        e = mysql_errno(db);
        if (is_gone(e) || is_unready(e))
            mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s: %s", where,
                       mysql_error(db));
        else
            mr_err_set(err, MR_ESTORE, "mysql: cannot connect to %s: %s", where, mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    return db;
}

/* connect_host - my_connect() to host @i of the list only. */
static int connect_host(struct my_store *ms, size_t i, bool admin, struct mr_err *err)
{
    const struct my_conf *c = &ms->conf;
    const char *why;
    int code = 0;

    ms->db = open_db(c, i, c->connect_timeout, c->rw_timeout, admin, err);
    if (ms->db == NULL)
        return err != NULL ? err->code : MR_EUNAVAIL;
    why = node_check(ms->db, c->nhosts > 1);
    if (why != NULL && why[0] == '\0')
        code = my_db_fail(ms, err);
    else if (why != NULL)
        code = mr_err_set(err, MR_EUNAVAIL, "mysql: database unavailable: %s: %s",
                          c->nhosts > 0 ? c->hosts[i].where : c->where, why);
    if (code == 0)
        code = session(ms, err);
    if (code == 0 && !admin)
        code = my_check_schema(ms, err);
    if (code != 0)
        disconnect(ms);
    return code;
}

/*
 * my_connect - open the connection to the first host of the list that is
 * ready (see the file comment), set the session, and unless @admin (the
 * migration's connection, which may run several statements in one call)
 * check the schema (the fixed statements are prepared at their first use,
 * my_st()). MR_EUNAVAIL when no
 * host is; another error (a refused login, an old schema) at once.
 */
int my_connect(struct my_store *ms, bool admin, struct mr_err *err)
{
    size_t n = ms->conf.nhosts > 0 ? ms->conf.nhosts : 1;
    size_t i;
    int code = 0;

    disconnect(ms);
    for (i = 0; i < n; i++) {
        mr_err_clear(err);
        code = connect_host(ms, i, admin, err);
        if (code != MR_EUNAVAIL)
            break;
    }
    if (code != 0)
        return code;
    if (ms->connected && i != ms->host) {
        mr_metrics_store_failover();
        mr_log(MR_LOG_INFO, "store connected to another host", "host", ms->conf.hosts[i].where,
               "before", ms->conf.hosts[ms->host].where, NULL);
    }
    ms->connected = true;
    ms->host = i;
    ms->prefer_every = PREFER_EVERY_MS;
    ms->prefer_at = mr_mono_ms() + ms->prefer_every;
    return 0;
}

/* earlier_ready - whether a host listed before the one in use is ready again (probed). */
static bool earlier_ready(struct my_store *ms)
{
    size_t i;

    for (i = 0; i < ms->host; i++) {
        MYSQL *db = open_db(&ms->conf, i, PROBE_TIMEOUT_S, PROBE_TIMEOUT_S, false, NULL);
        bool ready = db != NULL && node_check(db, true) == NULL;

        if (db != NULL)
            mysql_close(db);
        if (ready)
            return true;
    }
    return false;
}

/*
 * ensure - outside a transaction: make sure there is a working connection,
 * and on a later host of the list, move back to an earlier one that is ready
 * again (looked at after prefer_at only).
 */
static int ensure(struct my_store *ms, struct mr_err *err)
{
    int64_t mono;

    if (ms->db == NULL || ms->broken)
        return my_connect(ms, false, err);
    if (ms->host == 0 || (mono = mr_mono_ms()) < ms->prefer_at)
        return 0;
    if (earlier_ready(ms))
        return my_connect(ms, false, err);
    ms->prefer_every = ms->prefer_every >= PREFER_MAX_MS / 2 ? PREFER_MAX_MS : ms->prefer_every * 2;
    ms->prefer_at = mono + ms->prefer_every;
    return 0;
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
