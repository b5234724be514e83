/* SPDX-License-Identifier: MIT */
/*
 * store_pg_conn.c - one PostgreSQL connection: connecting (libpq's URI with
 * our defaults under it) and the session settings, the mapping of
 * PostgreSQL errors (SQLSTATE) to store errors and what an error does to the
 * connection and the transaction, and the engine's transaction members
 * (store.c checks when they may be called).
 *
 * Must not: reconnect inside a transaction (the server has dropped it); run
 * SQL built from data (fixed text only: BEGIN, COMMIT, session settings).
 * Threads: a handle is one connection owned by one thread.
 * Errors: as in store_pg.c.
 */
#include "store/store_pg_int.h"

#include <stdlib.h>
#include <string.h>

/*
 * Connection parameters a URI may override (they come before its own, which
 * libpq reads after them): a short connect timeout, TCP keepalives that find
 * a vanished server within about half a minute, a bounded lock wait, and the
 * name the server's activity view shows.
 */
static const char *const conn_keys[] = {
    "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
    "options",         "application_name", "dbname",           "client_encoding",
    NULL,
};
enum { CONN_URI = 6 };

/* is_gone - whether SQLSTATE @state means the server cannot be reached or dropped us. */
static bool is_gone(const char *state)
{
    static const char *const gone[] = {"57P01", "57P02", "57P03", "53300"};
    size_t i;

    if (state == NULL)
        return false;
    if (strncmp(state, "08", 2) == 0) /* connection exception */
        return true;
    for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        if (strcmp(state, gone[i]) == 0)
            return true;
    }
    return false;
}

/* is_busy - serialization failure, deadlock, lock timeout: try the transaction again. */
static bool is_busy(const char *state)
{
    return state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                             strcmp(state, "55P03") == 0);
}

/* text_of - the first line of @res's error, or of the connection's. */
static const char *text_of(struct pg_store *ps, const PGresult *res, int *len)
{
    const char *t = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (t == NULL)
        t = ps->db != NULL ? PQerrorMessage(ps->db) : "no connection";
    if (t == NULL || t[0] == '\0')
        t = "unknown error";
    *len = (int)strcspn(t, "\n");
    return t;
}

/*
 * pg_fail - turn the failure of the last statement (its result @res, may be
 * NULL) into a store error. A lost connection is marked broken; inside a
 * transaction, which PostgreSQL has aborted, the code is kept for every
 * later call until the rollback.
 */
int pg_fail(struct pg_store *ps, const PGresult *res, struct mr_err *err)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int len;
    const char *t = text_of(ps, res, &len);
    int code;

    if (ps->db == NULL || PQstatus(ps->db) != CONNECTION_OK || is_gone(state)) {
        code = mr_err_set(err, MR_EUNAVAIL, "postgres: database unavailable: %.*s", len, t);
        ps->broken = true;
    } else if (is_busy(state)) {
        code = mr_err_set(err, MR_EBUSY, "postgres: %.*s", len, t);
    } else if (state != NULL && strcmp(state, "23505") == 0) {
        code = mr_err_set(err, MR_EEXIST, "postgres: %.*s", len, t);
    } else {
        code = mr_err_set(err, MR_ESTORE, "postgres: %.*s", len, t);
    }
    if (ps->base.in_tx && ps->tx_lost == 0)
        ps->tx_lost = code == MR_EEXIST ? MR_ESTORE : code;
    return code;
}

/* pg_query - run fixed SQL text of ours (never data) and discard any result. */
int pg_query(struct pg_store *ps, const char *sql, struct mr_err *err)
{
    PGresult *res = PQexec(ps->db, sql);
    ExecStatusType st = PQresultStatus(res);
    int code = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        code = pg_fail(ps, res, err);
    PQclear(res);
    return code;
}

/* disconnect - close the connection; its prepared statements go with it. Flags stay. */
static void disconnect(struct pg_store *ps)
{
    PQclear(ps->res);
    ps->res = NULL;
    if (ps->db != NULL)
        PQfinish(ps->db);
    ps->db = NULL;
    ps->broken = false;
    memset(ps->prepared, 0, sizeof(ps->prepared));
}

/* refused - the error of a connection attempt that failed. */
static int refused(struct pg_store *ps, struct mr_err *err)
{
    int len;
    const char *t = text_of(ps, NULL, &len);

    /* a bad parameter libpq checks only when it connects (sslmode=..., port=...) */
    if (strncmp(t, "invalid ", 8) == 0)
        return mr_err_set(err, MR_EINVAL, "store: postgres uri: %.*s", len, t);
    /* a wrong password, database or role is not going to heal by itself */
    if (strstr(t, "authentication failed") != NULL || strstr(t, "does not exist") != NULL ||
        strstr(t, "no password supplied") != NULL)
        return mr_err_set(err, MR_ESTORE, "postgres: cannot connect to %s: %.*s", ps->conf.where,
                          len, t);
    return mr_err_set(err, MR_EUNAVAIL, "postgres: database unavailable: %s: %.*s",
                      ps->conf.where, len, t);
}

/*
 * pg_connect - open the connection and, unless @admin (the migration's
 * connection), check the schema. Statements are prepared at their first use
 * and planned at each execution (their parameters decide the plan). Sessions
 * are UTC, READ COMMITTED (the default; claims skip locked rows rather than
 * wait) with a bounded lock wait.
 */
int pg_connect(struct pg_store *ps, bool admin, struct mr_err *err)
{
    const char *vals[] = {"3",
                          "10",
                          "5",
                          "3",
                          "-c lock_timeout=10s -c TimeZone=UTC",
                          "msgrelay",
                          ps->conf.uri,
                          "UTF8",
                          NULL};
    int code = 0;

    _Static_assert(sizeof(vals) == sizeof(conn_keys), "one value per connection key");
    disconnect(ps);
    ps->db = PQconnectdbParams(conn_keys, vals, 1);
    if (ps->db == NULL)
        return mr_err_set(err, MR_ESYS, "postgres: cannot allocate a connection");
    if (PQstatus(ps->db) != CONNECTION_OK) {
        code = refused(ps, err);
        disconnect(ps);
        return code;
    }
    /* a plan per execution: a generic plan made while the tables were small (a fresh
       database) would scan them whole for as long as the connection lives */
    code = pg_query(ps, "SET plan_cache_mode = force_custom_plan", err);
    if (code == 0 && !admin)
        code = pg_check_schema(ps, err);
    if (code == 0 && ps->relaxed)
        code = pg_query(ps, "SET synchronous_commit = off", err);
    if (code != 0)
        disconnect(ps);
    return code;
}

/*
 * pg_relax - synchronous_commit=off on this handle's connections (this one,
 * and any made again later): a commit returns before its WAL is on disk, and
 * a crash of the server or the machine may lose the last fraction of a second
 * of this handle's commits, never another handle's, and never to a crash of
 * msgrelay itself.
 */
int pg_relax(struct mr_store *s, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    ps->relaxed = true;
    if (ps->db == NULL || ps->broken)
        return 0; /* set when it connects again */
    return pg_query(ps, "SET synchronous_commit = off", err);
}

/* ensure - outside a transaction: make sure there is a working connection. */
static int ensure(struct pg_store *ps, struct mr_err *err)
{
    if (ps->db != NULL && !ps->broken && PQstatus(ps->db) == CONNECTION_OK)
        return 0;
    return pg_connect(ps, false, err);
}

/* tx_usable - inside a transaction: the error it answers if the server has aborted it. */
static int tx_usable(struct pg_store *ps, struct mr_err *err)
{
    if (ps->broken || ps->db == NULL)
        return mr_err_set(err, MR_EUNAVAIL, "postgres: database unavailable: connection lost");
    if (ps->tx_lost != 0)
        return mr_err_set(err, ps->tx_lost,
                          "postgres: the transaction was aborted by an earlier error; "
                          "roll back%s",
                          ps->tx_lost == MR_EBUSY ? " and retry" : "");
    return 0;
}

/* pg_ready - outside a transaction, connect again if need be; inside, is it still alive? */
int pg_ready(struct mr_store *s, struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    return ps->base.in_tx ? tx_usable(ps, err) : ensure(ps, err);
}

int pg_begin(struct mr_store *s, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    code = ensure(ps, err);
    if (code == 0) {
        code = pg_query(ps, "BEGIN", err);
        /* a connection the server dropped while it sat idle (a restart) shows only now;
           nothing was done in it, so connect again and try once more */
        if (code == MR_EUNAVAIL) {
            mr_err_clear(err);
            code = ensure(ps, err);
            if (code == 0)
                code = pg_query(ps, "BEGIN", err);
        }
    }
    ps->tx_lost = 0;
    return code;
}

void pg_rollback(struct mr_store *s)
{
    struct pg_store *ps = pg(s);

    if (ps->db != NULL && !ps->broken && PQtransactionStatus(ps->db) != PQTRANS_IDLE)
        pg_query(ps, "ROLLBACK", NULL);
    ps->tx_lost = 0;
}

/*
 * pg_commit - COMMIT of an aborted transaction only rolls it back: that is an
 * error here, never a success. MR_EUNAVAIL means the outcome is unknown (the
 * connection broke during COMMIT). store.c rolls back on failure.
 */
int pg_commit(struct mr_store *s, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    PGresult *res;
    int code = tx_usable(ps, err);

    if (code != 0)
        return code;
    res = PQexec(ps->db, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        code = pg_fail(ps, res, err);
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        code = mr_err_set(err, MR_ESTORE, "postgres: the transaction was rolled back");
    PQclear(res);
    return code;
}

void pg_close(struct mr_store *s)
{
    struct pg_store *ps = pg(s);

    /* closing rolls back an open transaction, on the server */
    disconnect(ps);
    pg_p_reset(ps);
    pg_conf_free(&ps->conf);
    free(ps);
}
