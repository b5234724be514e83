/* SPDX-License-Identifier: MIT */
/*
 * store_mysql.c - the MySQL/MariaDB engine of store.h, for production and for
 * several relays sharing one database ("mysql://USER:PASS@HOST:PORT/DB" or
 * "mysql://USER:PASS@/DB?socket=PATH"; the options are in store.h).
 *
 * Every statement that carries data is a server-side prepared statement,
 * prepared once per connection at its first use (again after a reconnect);
 * only fixed text (START TRANSACTION, session settings, the compiled-in
 * schema) goes through mysql_real_query. Claims lock due rows with SELECT
 * ... FOR UPDATE SKIP LOCKED, so concurrent claims by several relays never
 * take the same message and never wait for each other. The schema is applied only by
 * mr_store_mysql_migrate(); open refuses a database that is not current.
 *
 * Threads: a handle is one connection owned by one thread. The client library
 * is initialised once (pthread_once) and ended at exit (atexit).
 * Errors: a lost or refused connection is MR_EUNAVAIL ("mysql: database
 * unavailable: ..."); the handle connects again at the next use outside a
 * transaction. A deadlock or lock-wait timeout is MR_EBUSY, after which the
 * open transaction is spoilt: every call but rollback fails until it is
 * rolled back. Other failures are MR_ESTORE "mysql: <server text>".
 * Transaction retries belong to the callers, who own the transactions.
 *
 * This file holds the engine table and open; the engine's topics are split
 * into store_mysql_*.c (listed in store_mysql_int.h). Must not: check
 * store.h's engine-neutral rules (store.c does before any member runs).
 */
#include "store/store_mysql_int.h"

#include <stdlib.h>

#include "common/mem.h"

static const struct mr_store_engine mysql_engine = {
    .name = "mysql",
    .close = my_close,
    .ready = my_ready,
    .shrink = my_shrink,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .msg_get = my_msg_get,
    .msg_insert = my_msg_insert,
    .msg_transition = my_msg_transition,
    .msg_schedule = my_msg_schedule,
    .msg_get_many = my_msg_get_many,
    .msg_insert_many = my_msg_insert_many,
    .msg_transition_many = my_msg_transition_many,
    .claim = my_claim,
    .step_record = my_step_record,
    .msg_release = my_msg_release,
    .step_succeed_many = my_step_succeed_many,
    .msg_release_many = my_msg_release_many,
    .release_owner = my_release_owner,
    .count_due = my_count_due,
    .due_by_dest = my_due_by_dest,
    .count_state = my_count_state,
    .oldest_in_state = my_oldest_in_state,
    .msg_query_failed = my_msg_query_failed,
    .redrive_page = my_redrive_page,
    .redrive_ids = my_redrive_ids,
    .reset_cron = my_reset_cron,
    .msg_list = my_msg_list,
    .kv_get = my_kv_get,
    .kv_scan = my_kv_scan,
    .kv_insert = my_kv_insert,
    .kv_update = my_kv_update,
    .kv_delete = my_kv_delete,
    .job_lease = my_job_lease,
    .retention_delete = my_retention_delete,
    .relay_get = my_relay_get,
    .relay_insert = my_relay_insert,
    .relay_replace = my_relay_replace,
    .relay_heartbeat = my_relay_heartbeat,
    .relay_unregister = my_relay_unregister,
    .order_of = my_order_of,
    .order_next = my_order_next,
    .order_before = my_order_before,
    .order_set = my_order_set,
    .order_wake = my_order_wake,
    .order_lock = my_order_lock,
    .order_place_new = my_order_place_new,
};

/* my_handle_new - a disconnected handle for the URI rest @rest. */
int my_handle_new(const char *rest, struct my_store **out, struct mr_err *err)
{
    struct my_store *ms = mr_xcalloc(1, sizeof(*ms));
    int code;

    ms->base.eng = &mysql_engine;
    code = my_uri_parse(rest, &ms->conf, err);
    if (code != 0) {
        my_close(&ms->base);
        return code;
    }
    *out = ms;
    return 0;
}

int mr_store_mysql_open(const char *rest, struct mr_store **out, struct mr_err *err)
{
    struct my_store *ms = NULL;
    int code;

    *out = NULL;
    code = my_handle_new(rest, &ms, err);
    if (code != 0)
        return code;
    code = my_connect(ms, false, err);
    if (code != 0) {
        my_close(&ms->base);
        return code;
    }
    *out = &ms->base;
    return 0;
}
