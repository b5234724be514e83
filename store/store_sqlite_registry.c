/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_registry.c - the relay registry on SQLite: the row
 * primitives store.c builds mr_store_relay_register() on (read, insert,
 * compare-and-set replace) and the heartbeat and unregister statements.
 *
 * Must not: decide who may take a relay id (store.c does).
 * Threads: the handle's. Errors: as in store_sqlite.c.
 */
#include "store/store_sqlite_int.h"

#include <string.h>

int sq_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                 struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_GET);
    int code = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    sq_bind_text(&b, 1, relay_id);
    rc = sq_step(&b);
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

int sq_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_INSERT);
    int code;
    int rc;

    bind_relay(&b, r);
    rc = sq_step(&b);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        sq_done(b.st);
        return mr_err_set(err, MR_EEXIST, "store: relay id '%s' is registered", r->relay_id);
    }
    code = rc == SQLITE_DONE ? 0 : sq_fail(q->db, rc, err);
    sq_done(b.st);
    return code;
}

int sq_relay_replace(struct mr_store *s, const struct mr_store_relay *r, const char *old_instance,
                     struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_REPLACE);

    bind_relay(&b, r);
    sq_bind_text(&b, 9, old_instance);
    return sq_run_changing(q, &b, MR_ECONFLICT, err, "store: relay id '%s' changed concurrently",
                           r->relay_id);
}

int sq_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                       int64_t until_ms, struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_HEARTBEAT);

    /* one statement in autocommit mode: its own transaction */
    sq_bind_text(&b, 1, relay_id);
    sq_bind_text(&b, 2, instance);
    sq_bind_int(&b, 3, until_ms);
    return sq_run_changing(q, &b, MR_ECONFLICT, err, "store: relay id '%s' is no longer held by %s",
                           relay_id, instance);
}

int sq_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                        struct mr_err *err)
{
    struct sq_store *q = sq(s);
    struct binder b = sq_binder(q, ST_RELAY_DELETE);

    sq_bind_text(&b, 1, relay_id);
    sq_bind_text(&b, 2, instance);
    return sq_run(q, &b, err);
}
