/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_registry.c - the relay registry on MySQL: the row primitives
 * store.c builds mr_store_relay_register() on (a locking read, insert,
 * compare-and-set replace) and the heartbeat and unregister statements.
 *
 * Must not: decide who may take a relay id (store.c does).
 * Threads: the handle's. Errors: as in store_mysql.c.
 */
#include "store/store_mysql_int.h"

#include <string.h>

#include <mysqld_error.h>

/* relay_row - the registry row (one at most: relay_id is the key) into the relay at @ctx. */
static int relay_row(struct my_store *ms, void *ctx, struct mr_err *err)
{
    struct mr_store_relay *out = ctx;

    (void)err;
    out->relay_id = my_take_str(ms, 0);
    out->instance = my_take_str(ms, 1);
    out->host = my_take_str(ms, 2);
    out->machine = my_take_str(ms, 3);
    out->pid = ms->row.v[4];
    out->pid_start = ms->row.v[5];
    out->started_ms = ms->row.v[6];
    out->heartbeat_until_ms = ms->row.v[7];
    return 0;
}

int my_relay_get(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                 struct mr_err *err)
{
    struct my_store *ms = my(s);
    int code;

    memset(out, 0, sizeof(*out));
    my_p_reset(ms);
    my_p_text(ms, relay_id);
    code = my_each_row_id(ms, ST_RELAY_GET, RELAY_LAYOUT, relay_row, out, err);
    if (code == 0 && out->relay_id == NULL)
        code = mr_err_set(err, MR_ENOENT, "store: relay id '%s' is not registered", relay_id);
    return code;
}

/* p_relay - @r's columns after the relay id (instance .. heartbeat_until). */
static void p_relay(struct my_store *ms, const struct mr_store_relay *r)
{
    my_p_text(ms, r->instance);
    my_p_text(ms, r->host);
    my_p_text(ms, r->machine);
    my_p_int(ms, r->pid);
    my_p_int(ms, r->pid_start);
    my_p_int(ms, r->started_ms);
    my_p_int(ms, r->heartbeat_until_ms);
}

/* my_relay_insert - a duplicate key rolls back only the statement: the transaction goes on. */
int my_relay_insert(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err)
{
    struct my_store *ms = my(s);
    MYSQL_STMT *st;
    int code;

    my_p_reset(ms);
    my_p_text(ms, r->relay_id);
    p_relay(ms, r);
    code = my_st(ms, ST_RELAY_INSERT, &st, err);
    if (code != 0)
        return code;
    code = my_exec(ms, st, err);
    if (code == MR_ESTORE && mysql_stmt_errno(st) == ER_DUP_ENTRY)
        return mr_err_set(err, MR_EEXIST, "store: relay id '%s' is registered", r->relay_id);
    return code;
}

int my_relay_replace(struct mr_store *s, const struct mr_store_relay *r, const char *old_instance,
                     struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    p_relay(ms, r);
    my_p_text(ms, r->relay_id);
    my_p_text(ms, old_instance);
    return my_exec_changing(ms, ST_RELAY_REPLACE, MR_ECONFLICT, err,
                            "store: relay id '%s' changed concurrently", r->relay_id);
}

int my_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                       int64_t until_ms, struct mr_err *err)
{
    struct my_store *ms = my(s);

    /* one statement in autocommit mode: its own transaction; CLIENT_FOUND_ROWS counts a
       row matched with the same value */
    my_p_reset(ms);
    my_p_int(ms, until_ms);
    my_p_text(ms, relay_id);
    my_p_text(ms, instance);
    return my_exec_changing(ms, ST_RELAY_HEARTBEAT, MR_ECONFLICT, err,
                            "store: relay id '%s' is no longer held by %s", relay_id, instance);
}

int my_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                        struct mr_err *err)
{
    struct my_store *ms = my(s);

    my_p_reset(ms);
    my_p_text(ms, relay_id);
    my_p_text(ms, instance);
    return my_exec_id(ms, ST_RELAY_DELETE, err);
}
