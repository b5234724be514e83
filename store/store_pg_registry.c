/* SPDX-License-Identifier: MIT */
/*
 * store_pg_registry.c - the relay registry on PostgreSQL: the row primitives
 * store.c builds mr_store_relay_register() on (a locking read, insert,
 * compare-and-set replace) and the heartbeat and unregister statements.
 *
 * Must not: decide who may take a relay id (store.c does).
 * Threads: the handle's. Errors: as in store_pg.c.
 */
#include "store/store_pg_int.h"

#include <string.h>

/* relay_row - the registry row (one at most: relay_id is the key) into the relay at @ctx. */
static int relay_row(struct pg_store *ps, void *ctx, struct mr_err *err)
{
    struct mr_store_relay *out = ctx;

    (void)err;
    out->relay_id = pg_take_str(ps, 0);
    out->instance = pg_take_str(ps, 1);
    out->host = pg_take_str(ps, 2);
    out->machine = pg_take_str(ps, 3);
    out->pid = pg_int(ps, 4);
    out->pid_start = pg_int(ps, 5);
    out->started_ms = pg_int(ps, 6);
    out->heartbeat_until_ms = pg_int(ps, 7);
    return 0;
}

int pg_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                 struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    memset(out, 0, sizeof(*out));
    pg_p_reset(ps);
    pg_p_text(ps, relay_id);
    code = pg_each_row(ps, ST_RELAY_GET, relay_row, out, err);
    if (code == 0 && out->relay_id == NULL)
        code = mr_err_set(err, MR_ENOENT, "store: relay id '%s' is not registered", relay_id);
    return code;
}

/* p_relay - @r's columns, the relay id first (as RELAY_COLS lists them). */
static void p_relay(struct pg_store *ps, const struct mr_store_relay *r)
{
    pg_p_reset(ps);
    pg_p_text(ps, r->relay_id);
    pg_p_text(ps, r->instance);
    pg_p_text(ps, r->host);
    pg_p_text(ps, r->machine);
    pg_p_int(ps, r->pid);
    pg_p_int(ps, r->pid_start);
    pg_p_int(ps, r->started_ms);
    pg_p_int(ps, r->heartbeat_until_ms);
}

/* pg_relay_insert - an id already registered is skipped: the transaction goes on. */
int pg_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    p_relay(ps, r);
    code = pg_exec(ps, ST_RELAY_INSERT, err);
    if (code == 0 && pg_changed(ps) == 0)
        return mr_err_set(err, MR_EEXIST, "store: relay id '%s' is registered", r->relay_id);
    return code;
}

int pg_relay_replace(struct mr_store *s, const struct mr_store_relay *r, const char *old_instance,
                     struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    p_relay(ps, r);
    pg_p_text(ps, old_instance);
    code = pg_exec(ps, ST_RELAY_REPLACE, err);
    if (code == 0 && pg_changed(ps) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: relay id '%s' changed concurrently",
                          r->relay_id);
    return code;
}

int pg_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                       int64_t until_ms, struct mr_err *err)
{
    struct pg_store *ps = pg(s);
    int code;

    /* one statement outside a transaction: its own; a row matched counts, changed or not */
    pg_p_reset(ps);
    pg_p_int(ps, until_ms);
    pg_p_text(ps, relay_id);
    pg_p_text(ps, instance);
    code = pg_exec(ps, ST_RELAY_HEARTBEAT, err);
    if (code == 0 && pg_changed(ps) == 0)
        return mr_err_set(err, MR_ECONFLICT, "store: relay id '%s' is no longer held by %s",
                          relay_id, instance);
    return code;
}

int pg_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                        struct mr_err *err)
{
    struct pg_store *ps = pg(s);

    pg_p_reset(ps);
    pg_p_text(ps, relay_id);
    pg_p_text(ps, instance);
    return pg_exec(ps, ST_RELAY_DELETE, err);
}
