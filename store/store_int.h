/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - what the store room shares inside itself: the engine vtable
 * that store.c dispatches through, the header every engine handle embeds, and
 * the schema files compiled into the binary.
 *
 * An engine (store_sqlite*.c, store_mysql*.c, store_pg*.c) fills one const struct
 * mr_store_engine and puts `struct mr_store` first in its own handle, so a
 * `struct mr_store *` can be cast to the engine's handle. store.c checks
 * every rule of store.h that is not engine-specific before it calls the
 * engine, once for all engines (as SQLite's os.c wraps its VFS): whether a
 * transaction must be open or must not be (struct mr_store's in_tx, which
 * only store.c writes), lease owners, argument limits, the transition table,
 * the log line and the metric, and the begin/claim/commit shells. An engine
 * member may take those as given and does only the SQL. Every member has the
 * contract of the store.h function of the same name unless its comment says
 * otherwise; threads and errors as in store.h. Nothing outside store/
 * includes this header.
 */
#ifndef MR_STORE_STORE_INT_H
#define MR_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/model.h"
#include "store/store.h"

/*
 * One transition of many messages, as store.c hands it to the engine's
 * msg_transition_many: checked; lease_owner is NULL, or non-empty and @to is
 * unfinished (store.c passes NULL otherwise); ids NULL: the rows are found by
 * gid, else ids[i] is gids[i]'s id and the row is found by it.
 */
struct mr_store_tr {
    const char *const *gids;
    const int64_t *ids;
    int from;
    int to;
    int64_t now_ms;
    int64_t next_cron_ms;
    int next_cron_interval;
    const char *lease_owner;
    int64_t lease_until_ms;
};

/*
 * One engine's implementation of store.h, called by store.c only after the
 * checks of store.h's rules: a member marked "inside" runs in an open
 * transaction, "outside" with none open, "in or out" either way.
 */
struct mr_store_engine {
    const char *name; /* "sqlite", "mysql", "postgres" */
    void (*close)(struct mr_store *s);
    /* ready - may the handle run a statement now (in or out of a transaction: see s->in_tx)?
       Called before every operation. MySQL: a dropped transaction is refused, a dropped
       connection outside one is made again. NULL: always ready. */
    int (*ready)(struct mr_store *s, struct mr_err *err);
    int (*relax)(struct mr_store *s, struct mr_err *err); /* outside; NULL: nothing to do */
    void (*shrink)(struct mr_store *s); /* outside; NULL: nothing to do */
    int (*begin)(struct mr_store *s, struct mr_err *err); /* outside; store.c sets in_tx */
    /* commit - inside; on failure store.c calls rollback, then clears in_tx either way */
    int (*commit)(struct mr_store *s, struct mr_err *err);
    void (*rollback)(struct mr_store *s); /* inside; store.c clears in_tx after it */
    int (*msg_get)(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                   struct mr_err *err);
    int (*msg_insert)(struct mr_store *s, struct mr_msg *m, struct mr_err *err);
    int (*msg_transition)(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                          int64_t next_cron_ms, int next_cron_interval, struct mr_err *err);
    int (*msg_schedule)(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                        int64_t now_ms, struct mr_err *err);
    /* msg_get_many - n > 0, out[] all NULL; store.c frees out[] on an error. NULL: store.c
       runs msg_get for each gid */
    int (*msg_get_many)(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                        struct mr_msg **out, struct mr_err *err);
    /* msg_insert, msg_insert_many - store.c has checked each gid, state and step state */
    int (*msg_insert_many)(struct mr_store *s, struct mr_msg *const *v, size_t n,
                           struct mr_err *err);
    /* the n rows of @t (struct mr_store_tr) that are in t->from move; changed[i] says which */
    int (*msg_transition_many)(struct mr_store *s, const struct mr_store_tr *t, size_t n,
                               bool *changed, struct mr_err *err);
    /* claim - inside the transaction store.c opened for it (and commits), @limit > 0 */
    int (*claim)(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                 size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err);
    int (*step_record)(struct mr_store *s, int64_t step_id, bool success, const char *error,
                       int64_t now_ms, struct mr_err *err);
    int (*msg_release)(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                       int interval, const char *result, int64_t now_ms, struct mr_err *err);
    int (*step_succeed_many)(struct mr_store *s, const int64_t *step_ids, size_t n,
                             int64_t now_ms, int *res, struct mr_err *err);
    /* msg_release_many - NULL: store.c runs msg_release for each item */
    int (*msg_release_many)(struct mr_store *s, const struct mr_store_release *v, size_t n,
                            const char *owner, int64_t now_ms, struct mr_err *err);
    int (*release_owner)(struct mr_store *s, const char *owner, struct mr_err *err);
    int (*count_due)(struct mr_store *s, int64_t now_ms, int64_t limit, long *n,
                     int64_t *oldest_ms, struct mr_err *err);
    /* due_by_dest - store.c has checked @key (bounded) and @limit */
    int (*due_by_dest)(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                       size_t limit, long *n, struct mr_err *err);
    int (*count_state)(struct mr_store *s, int state, long *n, struct mr_err *err);
    int (*oldest_in_state)(struct mr_store *s, int state, int64_t *create_ms, struct mr_err *err);
    int (*msg_query_failed)(struct mr_store *s, const char *gid, int64_t now_ms,
                            struct mr_err *err);
    /* redrive_page - the ids (ascending, above @after_id, at most @limit, into the caller's
       @ids) of parked messages matching @f (strings never NULL: "" = any). In or out. */
    int (*redrive_page)(struct mr_store *s, const struct mr_store_redrive *f, int64_t after_id,
                        size_t limit, int64_t *ids, size_t *n, struct mr_err *err);
    /* redrive_ids - redrive those of @ids[0..@n) still parked (see store.h); *changed says
       how many. Inside. */
    int (*redrive_ids)(struct mr_store *s, const int64_t *ids, size_t n, int64_t now_ms,
                       long *changed, struct mr_err *err);
    int (*reset_cron)(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit,
                      long *count, bool *remaining, struct mr_err *err); /* inside */
    int (*msg_list)(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                    size_t *n, struct mr_err *err);
    /* the kv table: store_topics.c builds the topic functions of store.h on these */
    /* kv_get - the rows of (@cat, @k), *@n of them (0 or 1: the key is unique) in *@out (owned:
       mr_store_kvs_free()); store.c hands on the row or NULL. In or out. */
    int (*kv_get)(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out,
                  size_t *n, struct mr_err *err);
    int (*kv_scan)(struct mr_store *s, const char *cat, int64_t position, size_t limit,
                   struct mr_kv **out, size_t *n, struct mr_err *err);
    /* kv_insert - @kv's cat, k, v and times as a new row at version 1 (sets id and version);
       MR_EEXIST when (cat, k) exists, nothing written. Inside. */
    int (*kv_insert)(struct mr_store *s, struct mr_kv *kv, struct mr_err *err);
    /* kv_update - v = @v, version + 1, update_time = @now_ms where id = @id and version =
       @version; MR_ECONFLICT when no such row. Inside. */
    int (*kv_update)(struct mr_store *s, int64_t id, int64_t version, const char *v,
                     int64_t now_ms, struct mr_err *err);
    /* kv_delete - delete (cat, k); MR_ENOENT when there is none. Inside. */
    int (*kv_delete)(struct mr_store *s, const char *cat, const char *k, struct mr_err *err);
    /* retention (store.h): name and owner checked, limit within bounds. Inside. */
    int (*job_lease)(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                     int64_t until_ms, bool *held, struct mr_err *err);
    int (*retention_delete)(struct mr_store *s, int64_t cutoff_ms, size_t limit, size_t *deleted,
                            struct mr_err *err);
    /* the relay registry: store.c builds mr_store_relay_register() on these */
    /* relay_get - the registration of @relay_id into *@out (owned strings), locked until the
       end of the transaction (MySQL: FOR UPDATE); MR_ENOENT when there is none. Inside one. */
    int (*relay_get)(struct mr_store *s, const char *relay_id, struct mr_store_relay *out,
                     struct mr_err *err);
    /* relay_insert - @r as a new row; MR_EEXIST when its relay_id has one. Inside a transaction. */
    int (*relay_insert)(struct mr_store *s, const struct mr_store_relay *r, struct mr_err *err);
    /* relay_replace - every column of @r's row where instance = @old_instance; MR_ECONFLICT
       when no such row. Inside a transaction. */
    int (*relay_replace)(struct mr_store *s, const struct mr_store_relay *r,
                         const char *old_instance, struct mr_err *err);
    /* relay_heartbeat, relay_unregister - as in store.h (own transaction each) */
    int (*relay_heartbeat)(struct mr_store *s, const char *relay_id, const char *instance,
                           int64_t until_ms, struct mr_err *err);
    int (*relay_unregister)(struct mr_store *s, const char *relay_id, const char *instance,
                            struct mr_err *err);
    /* ordered delivery: store.c builds mr_store_order_place() and the wake-ups on these;
       an engine without them (NULL) refuses keyed messages (MR_EINVAL) */
    /* order_of - @gid's ordering key (owned) and place; *@key NULL when no such message. In. */
    int (*order_of)(struct mr_store *s, const char *gid, char **key, int64_t *pos,
                    struct mr_err *err);
    /* order_next - the next place of @key (1 for a new key), its row locked until commit. In. */
    int (*order_next)(struct mr_store *s, const char *key, int64_t *pos, struct mr_err *err);
    /* order_before - the gid (owned) of the nearest unfinished message of @key placed before
       @pos, or NULL; inside a transaction a read that sees every commit made before it (a
       current read, or READ COMMITTED's snapshot of the statement). In or out. */
    int (*order_before)(struct mr_store *s, const char *key, int64_t pos, char **gid,
                        struct mr_err *err);
    /* order_set - @gid's place = @pos; unless @head, it waits (MR_ORDER_WAIT_MS, unleased). In. */
    int (*order_set)(struct mr_store *s, const char *gid, int64_t pos, bool head,
                     struct mr_err *err);
    /* order_lock - lock @key's row (made when missing) until the commit; NULL: nothing to do
       (SQLite holds the whole database already). Inside. */
    int (*order_lock)(struct mr_store *s, const char *key, struct mr_err *err);
    /* order_wake - @gid just finished: the new head of its key (if it is submitted and not
       due yet) becomes due at @now_ms; nothing for an unkeyed message. Inside. */
    int (*order_wake)(struct mr_store *s, const char *gid, int64_t now_ms, struct mr_err *err);
    /* order_place_new - the keyed submitted messages of @v[0..@n) without a place, just
       inserted, their keys locked (order_lock), take their places in @v's order, as
       order_next, order_before and order_set one by one would (m->order_pos set and, unless
       the head, the wait: next_cron_ms, owner, lease); NULL: one by one. Inside. */
    int (*order_place_new)(struct mr_store *s, struct mr_msg *const *v, size_t n,
                           struct mr_err *err);
};

/*
 * mr_store_chunk - how many of @n items, from @at on, one batch statement
 * takes: what is left, at most MR_STORE_BATCH_CHUNK.
 */
static inline size_t mr_store_chunk(size_t n, size_t at)
{
    return n - at < MR_STORE_BATCH_CHUNK ? n - at : MR_STORE_BATCH_CHUNK;
}

/*
 * mr_store_step_add - a zeroed new last step of @m, its array (capacity in
 * *@cap, 0 for a message read without steps) grown as needed. The step is
 * counted in m->nsteps before the engine reads it, so mr_msg_free() frees a
 * half-read one.
 */
struct mr_step *mr_store_step_add(struct mr_msg *m, size_t *cap);

/* The four list statements of an engine, by which filter narrows most (mr_store_list_by()). */
enum mr_store_list_by { MR_LIST_ALL, MR_LIST_GID, MR_LIST_PREFIX, MR_LIST_STATE };

/*
 * mr_store_list_by - the list statement for filter @f: a gid (at most one
 * row), else a gid prefix, else a state (the state/id index), else none (the
 * primary key, newest first).
 */
static inline enum mr_store_list_by mr_store_list_by(const struct mr_store_filter *f)
{
    if (f->gid != NULL && f->gid[0] != '\0')
        return MR_LIST_GID;
    if (f->gid_prefix != NULL && f->gid_prefix[0] != '\0')
        return MR_LIST_PREFIX;
    return f->state != MR_MSG_NONE ? MR_LIST_STATE : MR_LIST_ALL;
}

/* mr_store_gid_at - the position of @gid among the @k gids at @gids, or @k. */
size_t mr_store_gid_at(const char *const *gids, size_t k, const char *gid);

/*
 * One chunk of a msg_get_many as an engine fills it: the @k gids asked for,
 * their slots at @out, and the messages found, in the order read (for
 * loading their steps in one more statement).
 */
struct mr_store_found {
    const char *const *gids;
    size_t k;
    struct mr_msg **out;
    struct mr_msg *found[MR_STORE_BATCH_CHUNK];
    size_t nfound;
};

/*
 * mr_store_found_put - message @m (taken) into the slot of its gid; one not
 * asked for, or a repeated gid whose slot is filled already, is freed.
 */
void mr_store_found_put(struct mr_store_found *c, struct mr_msg *m);

/*
 * An array of rows an engine's row loader fills: elements of @size bytes,
 * @len of them in @v, room for @cap. mr_store_row_add() gives a zeroed new
 * last one, counted before it is read (so a half-read one is freed too).
 */
struct mr_store_rows {
    size_t size;
    char *v;
    size_t len;
    size_t cap;
};
void *mr_store_row_add(struct mr_store_rows *r);

/* The first member of every engine handle. */
struct mr_store {
    const struct mr_store_engine *eng;
    bool in_tx; /* a transaction is open: set and cleared by store.c only, read by engines */
};

/* The transaction rule of a store.h function, for mr_store_enter(). */
enum mr_store_tx {
    MR_STORE_TX_ANY,  /* in or out of a transaction */
    MR_STORE_TX_NEED, /* inside one only */
    MR_STORE_TX_NONE, /* outside one only ("own transaction") */
};

/*
 * mr_store_enter - the door of every store.h operation: MR_EINVAL, naming
 * @what, when the transaction rule @rule is broken, else the engine's
 * ready(). store.c and store_topics.c call it once per operation.
 */
int mr_store_enter(struct mr_store *s, enum mr_store_tx rule, const char *what,
                   struct mr_err *err);

/*
 * mr_store_sqlite_open - open the SQLite database at @path (created when
 * absent), set the pragmas and bring the schema up to date. Called by
 * mr_store_open() for "sqlite:PATH". Owned result: mr_store_close().
 */
int mr_store_sqlite_open(const char *path, struct mr_store **out, struct mr_err *err);

/*
 * mr_store_mysql_open - connect to the MySQL/MariaDB database of @rest (the
 * URI after "mysql:"), check that its schema is current (MR_ESTORE naming
 * `msgrelay migrate` if not) and prepare the statements. Called by
 * mr_store_open() for "mysql:...". Owned result: mr_store_close().
 */
int mr_store_mysql_open(const char *rest, struct mr_store **out, struct mr_err *err);

/*
 * mr_store_mysql_migrate - apply the MySQL schema files newer than the
 * database's version, one migration at a time per database (a server lock),
 * telling @report (may be NULL) what was applied. Called by
 * mr_store_migrate() for "mysql:...". Any thread.
 */
int mr_store_mysql_migrate(const char *rest, struct mr_store_migration_report *report,
                           struct mr_err *err);

/*
 * mr_store_sqlite_migrate - open the SQLite database at @path (which migrates
 * it) and close it, telling @report (may be NULL) what was applied. Called by
 * mr_store_migrate() for "sqlite:PATH".
 */
int mr_store_sqlite_migrate(const char *path, struct mr_store_migration_report *report,
                            struct mr_err *err);

/*
 * mr_store_pg_open - connect to the PostgreSQL database of @rest (the URI
 * after "postgres:" or "postgresql:"), check that its schema is current
 * (MR_ESTORE naming `msgrelay migrate` if not). Statements are prepared at
 * their first use. Called by mr_store_open(). Owned result: mr_store_close().
 */
int mr_store_pg_open(const char *rest, struct mr_store **out, struct mr_err *err);

/*
 * mr_store_pg_migrate - apply the PostgreSQL schema files newer than the
 * database's version, one migration at a time per database (an advisory
 * lock), each file in one transaction, telling @report (may be NULL) what was
 * applied. Called by mr_store_migrate(). Any thread.
 */
int mr_store_pg_migrate(const char *rest, struct mr_store_migration_report *report,
                        struct mr_err *err);

/*
 * The LIKE patterns of a redrive filter for the server engines: the gid and
 * URL prefixes and the error substring of @f, each with '!', '%' and '_'
 * escaped by '!' (the statement says ESCAPE '!'), so a filter of data stays a
 * bound parameter. mr_store_redrive_likes() fills them (bounded by
 * MR_STORE_REDRIVE_TEXT_MAX); release with mr_store_redrive_likes_release().
 */
struct mr_store_redrive_likes {
    struct mr_buf gid;
    struct mr_buf url;
    struct mr_buf error;
};
void mr_store_redrive_likes(struct mr_store_redrive_likes *l, const struct mr_store_redrive *f);
void mr_store_redrive_likes_release(struct mr_store_redrive_likes *l);

/* A page of ids a redrive reads, at most @limit of them into @ids, counted in *@n. */
struct mr_store_id_page {
    int64_t *ids;
    size_t *n;
    size_t limit;
};

/* mr_store_id_page_add - @id into the page, while it has room. */
static inline void mr_store_id_page_add(struct mr_store_id_page *p, int64_t id)
{
    if (*p->n < p->limit)
        p->ids[(*p->n)++] = id;
}

/* One versioned schema file, compiled in from sql/<engine>/NNN_name.sql. */
struct mr_store_schema {
    int version;      /* NNN */
    const char *sql;  /* the file's text, NUL-terminated */
    const char *name; /* the name after NNN_, without .sql ("topics") */
};

/*
 * mr_store_schema_not_newer - MR_ESTORE "schema version N is newer than this
 * msgrelay" when a database's version @have is above @latest, the newest
 * compiled in; else 0. Every engine refuses such a database alike.
 */
int mr_store_schema_not_newer(int64_t have, int latest, struct mr_err *err);

/*
 * mr_store_report_migrated - tell @report (NULL: nothing) that the database
 * went from version @from to @to: set its from and to, and call its applied()
 * for each file of @schema (@n, in version order) in between. Called by an
 * engine once the files are committed.
 */
void mr_store_report_migrated(struct mr_store_migration_report *report,
                              const struct mr_store_schema *schema, size_t n, int64_t from,
                              int64_t to);

/*
 * The SQLite schema files in version order; generated by the Makefile into
 * $(BUILD)/gen/sql_sqlite.c from sql/sqlite/NNN_*.sql. Read-only; any thread.
 */
extern const struct mr_store_schema mr_store_sqlite_schema[];
extern const size_t mr_store_sqlite_schema_count;

/* The MySQL schema files, likewise generated into $(BUILD)/gen/sql_mysql.c from sql/mysql/. */
extern const struct mr_store_schema mr_store_mysql_schema[];
extern const size_t mr_store_mysql_schema_count;

/* The PostgreSQL schema files, generated into $(BUILD)/gen/sql_postgres.c from sql/postgres/. */
extern const struct mr_store_schema mr_store_postgres_schema[];
extern const size_t mr_store_postgres_schema_count;

#endif
