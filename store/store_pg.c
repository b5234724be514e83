/* SPDX-License-Identifier: MIT */
/*
 * store_pg.c - the PostgreSQL engine of store.h, for several relays sharing
 * one database ("postgres://USER:PASS@HOST:PORT/DB" or "postgresql://...",
 * with libpq's connection parameters as query parameters; see store.h).
 *
 * Every statement that carries data is a named prepared statement, prepared
 * once per connection at its first use and again after a reconnect; only
 * fixed text (BEGIN, COMMIT, session settings, the compiled-in schema) goes
 * through PQexec. Claims lock due rows with SELECT ... FOR UPDATE SKIP
 * LOCKED, so concurrent claims by several relays never take the same message
 * and never wait for each other. The schema is applied only by
 * mr_store_pg_migrate(); open refuses a database that is not current.
 *
 * Threads: a handle is one connection owned by one thread.
 * Errors: a lost or refused connection is MR_EUNAVAIL ("postgres: database
 * unavailable: ..."); the handle connects again at the next use outside a
 * transaction. A serialization failure, deadlock or lock timeout is
 * MR_EBUSY. PostgreSQL aborts a transaction at its first failed statement,
 * so after any error inside one every call but rollback fails (with the same
 * code) until it is rolled back. Other failures are MR_ESTORE
 * "postgres: <server text>". Transaction retries belong to the callers.
 *
 * This file holds the engine table and open; the engine's topics are split
 * into store_pg_*.c (listed in store_pg_int.h). Must not: check store.h's
 * engine-neutral rules (store.c does before any member runs).
 */
#include "store/store_pg_int.h"

#include <stdlib.h>

#include "common/mem.h"

static const struct mr_store_engine pg_engine = {
    .name = "postgres",
    .close = pg_close,
    .ready = pg_ready,
    .relax = pg_relax,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .msg_get = pg_msg_get,
    .msg_insert = pg_msg_insert,
    .msg_transition = pg_msg_transition,
    .msg_schedule = pg_msg_schedule,
    .msg_get_many = pg_msg_get_many,
    .msg_insert_many = pg_msg_insert_many,
    .msg_transition_many = pg_msg_transition_many,
    .claim = pg_claim,
    .step_record = pg_step_record,
    .msg_release = pg_msg_release,
    .step_succeed_many = pg_step_succeed_many,
    .msg_release_many = pg_msg_release_many,
    .release_owner = pg_release_owner,
    .count_due = pg_count_due,
    .due_by_dest = pg_due_by_dest,
    .oldest_in_state = pg_oldest_in_state,
    .count_state = pg_count_state,
    .msg_query_failed = pg_msg_query_failed,
    .redrive_page = pg_redrive_page,
    .redrive_ids = pg_redrive_ids,
    .reset_cron = pg_reset_cron,
    .msg_list = pg_msg_list,
    .kv_get = pg_kv_get,
    .kv_scan = pg_kv_scan,
    .kv_insert = pg_kv_insert,
    .kv_update = pg_kv_update,
    .kv_delete = pg_kv_delete,
    .job_lease = pg_job_lease,
    .retention_delete = pg_retention_delete,
    .relay_get = pg_relay_get,
    .relay_insert = pg_relay_insert,
    .relay_replace = pg_relay_replace,
    .relay_heartbeat = pg_relay_heartbeat,
    .relay_unregister = pg_relay_unregister,
    .order_of = pg_order_of,
    .order_next = pg_order_next,
    .order_before = pg_order_before,
    .order_set = pg_order_set,
    .order_wake = pg_order_wake,
    .order_lock = pg_order_lock,
};

/* pg_handle_new - a disconnected handle for the URI rest @rest (after "postgres:"). */
int pg_handle_new(const char *rest, struct pg_store **out, struct mr_err *err)
{
    struct pg_store *ps = mr_xcalloc(1, sizeof(*ps));
    int code;

    ps->base.eng = &pg_engine;
    code = pg_uri_parse(rest, &ps->conf, err);
    if (code != 0) {
        pg_close(&ps->base);
        return code;
    }
    *out = ps;
    return 0;
}

int mr_store_pg_open(const char *rest, struct mr_store **out, struct mr_err *err)
{
    struct pg_store *ps = NULL;
    int code;

    *out = NULL;
    code = pg_handle_new(rest, &ps, err);
    if (code != 0)
        return code;
    code = pg_connect(ps, false, err);
    if (code != 0) {
        pg_close(&ps->base);
        return code;
    }
    *out = &ps->base;
    return 0;
}
