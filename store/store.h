/* SPDX-License-Identifier: MIT */
/*
 * store.h - the one interface every part of msgrelay persists through.
 *
 * Engines, chosen by the URI's scheme:
 *   sqlite:PATH                          the embedded default, one file
 *   mysql://USER:PASS@HOST:PORT/DB       MySQL/MariaDB over TCP (PORT default 3306)
 *   mysql://USER:PASS@/DB?socket=PATH    the same over a unix socket
 * MySQL options go in the query part, "&"-separated: socket=PATH,
 * connect_timeout=S (3), read_timeout=S (30, also the write timeout),
 * lock_wait_timeout=S (10). USER, PASS and DB may be %-escaped. Several relays
 * may share one MySQL database (claims skip rows another claim holds).
 *   postgres://USER:PASS@HOST:PORT/DB    PostgreSQL through libpq (also postgresql://)
 * The PostgreSQL URI is libpq's: any libpq connection parameter may be a query
 * parameter (sslmode, connect_timeout, application_name, host=/socket/dir,
 * options, ...); a database is required. Several relays may share one
 * PostgreSQL database as they do a MySQL one.
 * A handle is one connection and belongs to one thread: every thread that
 * touches the store opens its own.
 *
 * Transactions: the intake writer and the relay group many operations into one
 * transaction with mr_store_begin()/mr_store_commit() (group commit). Functions
 * that say "own transaction" must be called outside one. Every other write
 * function must be called inside one.
 *
 * Errors: 0 or a negative MR_E* code; MR_ESTORE for engine failures (with the
 * engine's text in @err). Two codes mean "try the whole transaction again":
 * MR_EUNAVAIL, the database cannot be reached or dropped the connection (the
 * handle connects again at the next mr_store_begin() or call outside a
 * transaction), and MR_EBUSY, a deadlock or lock wait that timed out. After
 * either, inside a transaction, it is lost: every call but mr_store_rollback()
 * fails until the caller rolls back. A failed write inside a transaction leaves
 * the transaction to be rolled back by the caller: nothing half-written is
 * ever committed.
 */
#ifndef MR_STORE_STORE_H
#define MR_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"
#include "common/model.h"

struct mr_store;

/*
 * mr_store_open - connect to @uri and make sure the schema is current. SQLite
 * creates or migrates it here; MySQL only checks it and fails with MR_ESTORE
 * (naming `msgrelay migrate`) when the database is older or newer than this
 * binary. MR_EUNAVAIL when the database cannot be reached.
 * Owned result: mr_store_close().
 */
int mr_store_open(const char *uri, struct mr_store **out, struct mr_err *err);

/*
 * What mr_store_migrate did. @applied (may be NULL) is called once per schema
 * file applied, in order, after it is committed: its version (NNN of
 * sql/<engine>/NNN_name.sql) and name ("topics"; static). @from and @to are
 * filled: the version found and the version the schema is at on return.
 */
struct mr_store_migration_report {
    void (*applied)(void *arg, int version, const char *name);
    void *arg;
    int from;
    int to;
};

/*
 * mr_store_migrate - bring the schema of @uri up to the version compiled in
 * (`msgrelay migrate`, `serve --migrate`). Idempotent; concurrent migrations
 * of one database wait for each other. MR_ESTORE when the database is newer.
 * @report may be NULL; when not, it says what was applied (see above).
 */
int mr_store_migrate(const char *uri, struct mr_store_migration_report *report,
                     struct mr_err *err);

/*
 * mr_store_uri_redacted - @uri with any password replaced by "***"
 * ("mysql://u:***@host/db", "postgres://u@host/db?password=***"), for logs and
 * messages. Owned result: free().
 */
char *mr_store_uri_redacted(const char *uri);

/*
 * mr_store_relax - let this handle's commits return before they are on disk,
 * for a caller whose writes may be lost to a power cut or an OS crash (never
 * to a crash of msgrelay itself): the relay, whose every write only records
 * what at-least-once delivery would otherwise redo (a lease, a step result, a
 * state reached by delivery or back-check). SQLite: synchronous=NORMAL on
 * this connection (the next durable commit syncs these along). MySQL: a
 * no-op, durability is the server's innodb_flush_log_at_trx_commit.
 * PostgreSQL: synchronous_commit=off on this handle's connections (a crash of
 * the server may lose them too). Outside a transaction.
 */
int mr_store_relax(struct mr_store *s, struct mr_err *err);

/*
 * mr_store_shrink - give back the memory the handle keeps for speed, for an
 * owner that has gone idle: SQLite, the connection's statements (each
 * prepared again at its next use) and page cache (refilled from the file on
 * its next use); MySQL, the statements prepared on demand (the multi-row
 * batches: megabytes on the intake's connection), prepared again at their
 * next use; PostgreSQL, nothing. Outside a transaction (inside one it does
 * nothing).
 */
void mr_store_shrink(struct mr_store *s);

/* mr_store_close - close the connection (rolling back an open transaction). NULL is a no-op. */
void mr_store_close(struct mr_store *s);

/* mr_store_begin - start a write transaction. */
int mr_store_begin(struct mr_store *s, struct mr_err *err);

/*
 * mr_store_commit - commit; on failure the transaction is rolled back. After
 * MR_EUNAVAIL the outcome is unknown (the connection broke during the commit):
 * the caller must treat the work as possibly done and possibly not.
 */
int mr_store_commit(struct mr_store *s, struct mr_err *err);

/* mr_store_rollback - roll back the open transaction, if any. */
void mr_store_rollback(struct mr_store *s);

/* ---- messages: intake ---- */

/*
 * mr_store_msg_get - load message @gid, with its steps (in branch order) when
 * @with_steps. *out is NULL (and 0 returned) when there is no such message.
 * Owned result: mr_msg_free(). May be called in or out of a transaction.
 */
int mr_store_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                     struct mr_err *err);

/*
 * mr_store_msg_insert - insert @m and its steps exactly as filled in by the
 * caller (state, times, schedule, lease): m->owner holds the lease (NULL or ""
 * for none, stored as "") until m->lease_until_ms (0 for none), so a caller
 * may write a message already leased to a relay that needs no claim for it.
 * Sets m->id and each step's id. MR_EEXIST when the gid is already stored,
 * MR_EINVAL for a lease time without an owner or a lease on a final message
 * (nothing written in either case). @m is borrowed.
 */
int mr_store_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err);

/*
 * mr_store_msg_transition - the one function that changes a message's state.
 * Compare-and-set @gid from @from to @to (checked against
 * mr_msg_transition_ok(), else MR_EINVAL), setting update_time = @now_ms,
 * finish_time (to succeed) or rollback_time (to failed), and, when
 * @next_cron_ms >= 0, next_cron_time and next_cron_interval. Reaching a final
 * state also ends any lease. MR_ECONFLICT when the stored state is not @from,
 * MR_ENOENT when there is no such message (nothing written in either case).
 * Logs old -> new and counts the metric after the call succeeds; the caller's
 * transaction may still roll it back, which the metric does not undo.
 * Steps of a succeed message: the relay does not record the calls that finish
 * a message (one row write per step less); whoever reads it with steps
 * (mr_store_msg_get, mr_store_msg_get_many) gets every step still stored
 * prepared as succeed, with one more attempt and the message's finish_time.
 */
int mr_store_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                            int64_t next_cron_ms, int next_cron_interval, struct mr_err *err);

/*
 * mr_store_msg_schedule - set when an unfinished message is looked at next
 * (next_cron_time = @next_cron_ms; next_cron_interval = @interval unless it is
 * negative) and update_time = @now_ms. MR_ENOENT when there is no such
 * unfinished message.
 */
int mr_store_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                          int64_t now_ms, struct mr_err *err);

/* ---- messages: batches (group commit) ----
 *
 * The batch functions do what a loop of the per-row function would, in a few
 * statements: MySQL sends multi-row statements of at most
 * MR_STORE_BATCH_CHUNK rows each, prepared once per connection for a few
 * fixed sizes (the SQL text is ours, never built from data); SQLite runs
 * the state changes and step successes as one UPDATE ... RETURNING per chunk
 * and the rest as loops of its per-row statements (no round trips there). A batch of 0 items
 * is a no-op. The gids of one call must be distinct (the caller merges
 * repeats); a repeated gid gets a result at one position only.
 */

/* The most rows one multi-row statement carries. */
#define MR_STORE_BATCH_CHUNK 64

/*
 * mr_store_msg_get_many - load the messages @gids[0..@n), with their steps
 * (in branch order, as mr_store_msg_get() gives them) when @with_steps:
 * out[i] is the message of gids[i], or NULL when there is none. MySQL reads
 * the steps with one more statement per chunk that found a message. Inside a
 * transaction MySQL locks the message rows found (FOR UPDATE), so what the
 * caller decides from them holds until its commit, against other relays too
 * (SQLite holds the whole database from mr_store_begin()). In or out of a
 * transaction. All or nothing: on error every out[i] is NULL.
 * Owned result: each non-NULL out[i], mr_msg_free(); @out is the caller's
 * array of @n slots.
 */
int mr_store_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                          struct mr_msg **out, struct mr_err *err);

/*
 * mr_store_msg_insert_many - mr_store_msg_insert() of every @v[i] (borrowed),
 * in order: each message and its steps exactly as filled in, its lease
 * (owner, lease_until_ms) included, ids set (m->id, each step's id). All or
 * nothing for the caller: on any error, MR_EEXIST when a gid is already
 * stored, some rows may be written, the ids are undefined, and the caller
 * must roll the transaction back.
 */
int mr_store_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n,
                             struct mr_err *err);

/*
 * mr_store_msg_transition_many - mr_store_msg_transition() of each of
 * @gids[0..@n) from @from to @to with the same times: changed[i] (the
 * caller's array of @n) says whether gids[i] was in @from and now is in @to;
 * a message in another state or missing is left alone (false, no error).
 * When @lease_owner is not NULL and @to is unfinished (prepared, submitted),
 * each changed message is also leased to @lease_owner until @lease_until_ms
 * in the same write, whoever held it before; when it is NULL the lease is
 * left as it is. Reaching a final state ends any lease either way.
 * MR_EINVAL (nothing written) for a transition mr_msg_transition_ok()
 * refuses or an empty @lease_owner. Logs and counts each change as
 * mr_store_msg_transition() does. Any other error leaves the transaction to
 * be rolled back.
 */
int mr_store_msg_transition_many(struct mr_store *s, const char *const *gids, size_t n, int from,
                                 int to, int64_t now_ms, int64_t next_cron_ms,
                                 int next_cron_interval, const char *lease_owner,
                                 int64_t lease_until_ms, bool *changed, struct mr_err *err);

/*
 * mr_store_msg_transition_ids - mr_store_msg_transition_many() of messages
 * the caller knows by id too, e.g. ones it inserted a moment ago and kept:
 * @ids[i] is the id gids[i] had then. The rows are found by id (the primary
 * key) and a row moves only while it is in @from, so a message that changed
 * meanwhile (aborted, or submitted by another relay), or that was deleted and
 * stored again under the same gid, is left alone with changed[i] false.
 * Needs no read before it: the caller's memory of the message is a hint,
 * changed[] is the truth. Logs and counts as mr_store_msg_transition_many().
 */
int mr_store_msg_transition_ids(struct mr_store *s, const char *const *gids, const int64_t *ids,
                                size_t n, int from, int to, int64_t now_ms, int64_t next_cron_ms,
                                int next_cron_interval, const char *lease_owner,
                                int64_t lease_until_ms, bool *changed, struct mr_err *err);

/* ---- messages: relay ---- */

/*
 * mr_store_claim - claim due work in one batch under a lease. Own transaction.
 * Takes up to @limit messages in state prepared or submitted whose
 * next_cron_time <= @now_ms and whose lease has lapsed (lease_until <= @now_ms),
 * and, for a keyed submitted one, that is the head of its key (see "ordered
 * delivery per key"), earliest next_cron_time first; sets owner = @owner and lease_until =
 * @lease_until_ms on each, and returns them with their steps.
 * Owned result: *out is an array of *n messages, mr_store_msgs_free().
 */
int mr_store_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                   size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err);

/* mr_store_msgs_free - free an array of @n messages from mr_store_claim() or mr_store_msg_list(). */
void mr_store_msgs_free(struct mr_msg **v, size_t n);

/*
 * mr_store_step_record - record one call of step @step_id: attempts + 1 and
 * update_time = @now_ms; on @success the step becomes succeed with
 * finish_time, otherwise last_error = @error (may be NULL). MR_ECONFLICT
 * (nothing written) when the step's message is no longer submitted (a
 * forceStop finished it): the pass must not go on. MR_ENOENT for no such step.
 */
int mr_store_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                         int64_t now_ms, struct mr_err *err);

/*
 * mr_store_msg_release - end @owner's lease on @gid and set when it is looked
 * at next (@next_cron_ms, @interval) and its result text (@result, NULL keeps
 * it). Returns 0 and writes nothing when @owner no longer holds the lease
 * (it lapsed and another relay took over) or the message is final.
 */
int mr_store_msg_release(struct mr_store *s, const char *gid, const char *owner, int64_t next_cron_ms,
                         int interval, const char *result, int64_t now_ms, struct mr_err *err);

/*
 * mr_store_step_succeed_many - mr_store_step_record() of a successful call of
 * each step @step_ids[0..@n) (distinct), all at @now_ms. Per step, res[i]
 * (the caller's array of @n) is 0, MR_ECONFLICT (its message is no longer
 * submitted; nothing written for it) or MR_ENOENT (no such step); neither of
 * these fails the call. Any other error leaves the transaction to be rolled
 * back (res[] undefined).
 */
int mr_store_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n,
                               int64_t now_ms, int *res, struct mr_err *err);

/* One lease to end, for mr_store_msg_release_many(); strings borrowed. */
struct mr_store_release {
    const char *gid;
    int64_t next_cron_ms;
    int interval;       /* -1 keeps the stored one */
    const char *result; /* NULL keeps the stored one */
};

/*
 * mr_store_msg_release_many - mr_store_msg_release() of each of @v[0..@n)
 * (distinct gids) for @owner at @now_ms; like it, a message whose lease
 * @owner no longer holds, or that is final, is left alone without an error.
 * MySQL sends one statement per run of consecutive items with the same
 * next_cron_ms, interval and result (e.g. passes yielding "now"), so sort
 * alike items together. Any error leaves the transaction to be rolled back.
 */
int mr_store_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                              const char *owner, int64_t now_ms, struct mr_err *err);

/* mr_store_release_owner - end every lease held by @owner (start-up, shutdown). Own transaction. */
int mr_store_release_owner(struct mr_store *s, const char *owner, struct mr_err *err);

/*
 * mr_store_count_due - how many unfinished messages are due at @now_ms and not
 * leased (a leased message is not due until its lease lapses), counting at
 * most @cap of them (0: every one), and *@oldest_ms, the earliest due time
 * (next_cron_time, epoch ms) among them (0 when none is due). One query: the
 * due index is walked in due-time order and stops after @cap entries, so a
 * large backlog costs no more than @cap to sample and its first entry is the
 * oldest. In or out of a transaction.
 */
int mr_store_count_due(struct mr_store *s, int64_t now_ms, size_t cap, long *n,
                       int64_t *oldest_ms, struct mr_err *err);

/*
 * mr_store_due_by_dest - a destination answers again: make due soon, in one
 * bounded batch, the messages waiting on destination key @key (common/dest.h,
 * 1..MR_DEST_KEY_MAX bytes, compared exactly; the store keeps the key of
 * each step and back-check from insert): submitted ones with an unfinished
 * step to it, prepared ones whose back-check goes to it, that are due later
 * than @now_ms + @spread_ms: next_cron_time becomes @now_ms plus a random
 * 0..@spread_ms (spreading the returning load), at most @limit (> 0)
 * messages. *@n = how many changed; fewer than @limit means none is left.
 * Leases and attempts are untouched. Own transaction.
 */
int mr_store_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                         size_t limit, long *n, struct mr_err *err);
/* mr_store_count_state - how many messages are in state @state (e.g. parked, for its gauge). */
int mr_store_count_state(struct mr_store *s, int state, long *n, struct mr_err *err);

/*
 * mr_store_oldest_in_state - the create time (epoch ms) of the oldest message
 * (lowest id) in state @state into *@create_ms, 0 when none is (the admin
 * page's "oldest waiting message"). One index seek. In or out of a transaction.
 */
int mr_store_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms,
                             struct mr_err *err);

/*
 * mr_store_msg_query_failed - count one back-check of @gid that ended in an
 * error (query_attempts + 1, update_time = @now_ms) while it is prepared; 0
 * and nothing written otherwise. Inside a transaction.
 */
int mr_store_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms,
                              struct mr_err *err);

/* ---- relays: one live process per relay id ----
 *
 * The relay id is the lease owner every message leased by a relay carries, so
 * two live processes must never use the same one (each would take the
 * other's leases for its own). A relay registers its id at start-up with the
 * identity of its process and renews a heartbeat while it runs; a start under
 * an id whose holder's heartbeat is live is refused, unless the caller knows
 * that holder is dead (mr_store_relay_register's @replace).
 */

/* The longest relay id (the width of a lease owner); longer is MR_EINVAL. */
#define MR_STORE_RELAY_ID_MAX 255

/* The longest instance, host and machine texts; longer is MR_EINVAL. */
#define MR_STORE_RELAY_TEXT_MAX 128

/*
 * One registration: relay_id held by the process it describes. Filled by the
 * caller (borrowed) for a write; filled by the store (strings owned, free
 * with mr_store_relay_clear()) when it reports the holder.
 */
struct mr_store_relay {
    char *relay_id;
    char *instance; /* unique per process start (a random token) */
    char *host;     /* host name, for people */
    char *machine;  /* where pid means one process: boot and pid namespace */
    int64_t pid;
    int64_t pid_start;          /* the process's start time, clock ticks since boot */
    int64_t started_ms;         /* when it registered */
    int64_t heartbeat_until_ms; /* it counts as alive until then */
};

/* mr_store_relay_clear - free the strings of @r (filled by the store) and zero it. NULL is a no-op. */
void mr_store_relay_clear(struct mr_store_relay *r);

/*
 * mr_store_relay_register - make @me (borrowed) the holder of me->relay_id.
 * Own transaction. Written when the id has no holder, when the holder's
 * heartbeat_until_ms <= @now_ms, when the holder is @me's instance already,
 * or when it is the instance @replace (not NULL: the caller found that
 * process dead); compare-and-set, so of two relays racing for one id only
 * one gets it. Otherwise MR_EEXIST and nothing written, with the live holder
 * in *@holder (owned: mr_store_relay_clear()); *@holder is zeroed in every
 * other case. MR_EINVAL for an empty or over-long text.
 */
int mr_store_relay_register(struct mr_store *s, const struct mr_store_relay *me, int64_t now_ms,
                            const char *replace, struct mr_store_relay *holder,
                            struct mr_err *err);

/*
 * mr_store_relay_heartbeat - set heartbeat_until of @relay_id to @until_ms
 * while @instance still holds it, even when it had lapsed (nobody took it
 * over meanwhile). Own transaction. MR_ECONFLICT (nothing written) when
 * another instance holds the id now or nobody does.
 */
int mr_store_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                             int64_t until_ms, struct mr_err *err);

/*
 * mr_store_relay_unregister - remove the registration of @relay_id if
 * @instance still holds it (clean shutdown: the id is free at once); 0 and
 * nothing written otherwise. Own transaction.
 */
int mr_store_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                              struct mr_err *err);

/* ---- ordered delivery per key ----
 *
 * A message may carry an ordering key (m->ordering_key, at most
 * MR_ORDER_KEY_MAX bytes; "" = unkeyed, the default, which none of this
 * touches). The guarantee: of two messages with the same key, the one placed
 * later has no step called before the earlier one is finished (succeed or
 * failed). A keyed message takes its place (m->order_pos: 1, 2, ... per key)
 * in the transaction that makes it submitted: an insert as submitted
 * (mr_store_msg_insert[_many] place it themselves), or a prepared -> submitted
 * transition (submit or back-check: the caller calls mr_store_order_place in
 * the same transaction). The place comes from the key's row of order_key,
 * locked (MySQL: row lock) until the commit, so places follow commit order
 * whatever number of writers and relays share the database. Placed again
 * (a re-submit), a message keeps its place.
 *
 * The head of a key is its unfinished (submitted or parked) message with the
 * lowest place. Only heads are claimable (mr_store_claim tests it in the same
 * statement; prepared messages are not in any order yet); a message placed
 * behind an unfinished one waits: next_cron_time = MR_ORDER_WAIT_MS, no lease.
 * A parked head holds its key until a redrive (it is the head again) or a
 * forceStop (it finishes). When a head finishes, the next one becomes due at
 * once in the same transaction: mr_store_msg_transition to a final state does
 * it itself; after mr_store_msg_transition_many to a final state the caller
 * calls mr_store_order_finished for the keyed ones (unkeyed ones cost
 * nothing). A relay that dies holding a head passes it on at lease expiry as
 * any lease.
 */

/*
 * mr_store_order_place - give @gid, made submitted in this transaction, its
 * place at the end of key @key's order (@key NULL: read from the store; an
 * unkeyed message is left alone with *head = true). *@pos = its place, *@head
 * whether it is the key's head; when it is not, it now waits unleased and the
 * caller must not deliver it (nor hand it to a relay). Inside a transaction.
 */
int mr_store_order_place(struct mr_store *s, const char *gid, const char *key, int64_t *pos,
                         bool *head, struct mr_err *err);

/*
 * mr_store_order_lock - lock the rows of ordering keys @keys[0..@n) ("" is
 * skipped, repeats too) in one order (byte order) until the commit. A
 * transaction that places or finishes keyed messages of several keys takes
 * their locks first with it, so that two such transactions meet on their
 * first common key instead of deadlocking (mr_store_msg_insert_many does it
 * for the messages it places). Inside a transaction.
 */
int mr_store_order_lock(struct mr_store *s, const char *const *keys, size_t n, struct mr_err *err);

/*
 * mr_store_order_finished - @gids[0..@n) finished (succeed or failed) in this
 * transaction: each key's new head, if waiting, becomes due at @now_ms.
 * Unkeyed gids are no-ops (one lookup each). Inside a transaction.
 */
int mr_store_order_finished(struct mr_store *s, const char *const *gids, size_t n, int64_t now_ms,
                            struct mr_err *err);

/*
 * mr_store_order_before - the gid (owned: free(); NULL when none) of the
 * nearest unfinished message of @key placed before @pos: what a waiting
 * message waits for. In or out of a transaction.
 */
int mr_store_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                          struct mr_err *err);

/* ---- messages: admin ---- */

/* Which messages mr_store_msg_list returns. Zero / NULL fields do not filter. */
struct mr_store_filter {
    const char *gid;       /* exact gid */
    int state;             /* enum mr_msg_state; MR_MSG_NONE = any */
    int64_t position;      /* only ids below this; 0 = from the newest */
    int64_t create_from_ms;/* create_time >= this */
    int64_t create_to_ms;  /* create_time <= this */
    size_t limit;          /* at most this many (callers cap it) */
    const char *gid_prefix; /* gid starts with it (byte for byte); ignored with gid */
};

/*
 * mr_store_msg_list - messages matching @f, newest (highest id) first, without
 * steps. A gid prefix (at most MR_STORE_REDRIVE_TEXT_MAX bytes, else
 * MR_EINVAL) and a create time range are looked for newest first through the
 * rows of the state (or all rows) until @f->limit match. Owned result:
 * mr_store_msgs_free().
 */
int mr_store_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                      size_t *n, struct mr_err *err);

/* ---- parked messages: redrive, and DTM's resetCronTime ---- */

/* The longest text of one redrive filter field, bytes. */
#define MR_STORE_REDRIVE_TEXT_MAX 2048

/* The most messages one redrive transaction changes (and mr_store_msg_redrive's @batch cap). */
#define MR_STORE_REDRIVE_BATCH_MAX 1000

/*
 * Which parked messages a redrive takes. NULL or "" text fields and 0 times do
 * not filter; every field set must match. Texts match byte for byte (case
 * included); no character is a wildcard.
 */
struct mr_store_redrive {
    const char *gid;        /* exactly this gid */
    const char *gid_prefix; /* gid starts with it */
    const char *url_prefix; /* a step not yet succeeded (or, for a message parked by its
                               back-check, query_prepared) has a URL starting with it */
    const char *error;      /* the message's result or a step's last_error contains it */
    int64_t parked_from_ms; /* parked at or after (a parked message's update_time) */
    int64_t parked_to_ms;   /* parked at or before */
};

/*
 * mr_store_msg_redrive - put the parked messages matching @f back where they
 * were parked from (submitted, or prepared when their back-check parked
 * them), due at @now_ms, unleased, with the attempts of every step not yet
 * succeeded and the back-check count set to 0 (counted afresh) and the back-off
 * interval reset. Works through them in id order, @batch (1 to
 * MR_STORE_REDRIVE_BATCH_MAX) per transaction, so no lock is held for long.
 * With @dry_run nothing is written: *redriven stays 0 and *matched says how
 * many would be. Own transactions. MR_EINVAL (nothing written) for a field
 * over MR_STORE_REDRIVE_TEXT_MAX or a bad @batch. Logs the counts once (not
 * a "message state changed" line per message, which a bulk redrive would
 * flood the log with; the transition metric is not counted either).
 */
int mr_store_msg_redrive(struct mr_store *s, const struct mr_store_redrive *f, int64_t now_ms,
                         bool dry_run, size_t batch, long *matched, long *redriven,
                         struct mr_err *err);

/*
 * mr_store_reset_cron - DTM's resetCronTime: up to @limit unfinished
 * messages whose next_cron_time is later than @after_ms become due at
 * @now_ms (next_cron_time and update_time = @now_ms); *count says how many,
 * *remaining whether such messages are still left. A keyed message waiting
 * for its predecessor (MR_ORDER_WAIT_MS) is not one of them, nor for
 * mr_store_due_by_dest: its predecessor's finish makes it due. Inside a
 * transaction.
 */
int mr_store_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit,
                        long *count, bool *remaining, struct mr_err *err);

/* ---- DTM topics: the kv table ---- */

/* The kv category of topics; a topic's row has k = its name, v = its subscribers. */
#define MR_STORE_TOPICS_CAT "topics"

/* At most this many subscribers per topic (a subscribe past it is MR_ETOOBIG). */
#define MR_STORE_TOPIC_MAX_SUBSCRIBERS 64

/*
 * One kv row as DTM's kv table holds it. For a topic, v is the JSON array
 * [{"url":"…","remark":"…"}, …] in subscription order. Strings owned.
 */
struct mr_kv {
    int64_t id;
    char *cat;
    char *k;
    char *v;         /* JSON text */
    int64_t version; /* 1 at creation, +1 at each update */
    int64_t create_ms;
    int64_t update_ms;
};

/* mr_store_kvs_free - free an array of @n rows from mr_store_kv_get() or mr_store_kv_scan(). */
void mr_store_kvs_free(struct mr_kv *v, size_t n);

/*
 * mr_store_kv_get - the row (@cat, @k) (queryKV); *out is NULL (and 0
 * returned) when there is none. In or out of a transaction.
 * Owned result: mr_store_kvs_free(*out, 1).
 */
int mr_store_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out,
                    struct mr_err *err);

/*
 * mr_store_kv_scan - up to @limit rows of @cat with id below @position (0 =
 * from the newest), newest first (scanKV). In or out of a transaction.
 * Owned result: *out is an array of *n rows, mr_store_kvs_free().
 */
int mr_store_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
                     struct mr_kv **out, size_t *n, struct mr_err *err);

/*
 * mr_store_topic_subscribers - the subscriber URLs of @topic, in subscription
 * order, read from the store (no cache: a change is seen by the next call).
 * MR_ENOENT when there is no such topic; a topic whose subscribers were all
 * removed gives *n = 0. MR_ESTORE when the stored list is not the JSON this
 * file writes. In or out of a transaction.
 * Owned result: *urls is an array of *n strings; free each, then the array.
 */
int mr_store_topic_subscribers(struct mr_store *s, const char *topic, char ***urls, size_t *n,
                               struct mr_err *err);

/*
 * mr_store_topic_subscribe - add @url (with @remark, may be NULL) to @topic's
 * subscribers, creating the topic when it does not exist. The update compares
 * and sets the row's version, so a concurrent change by another relay is
 * MR_ECONFLICT (nothing written; try again) rather than a lost subscriber.
 * MR_EEXIST "this url exists" when @url is subscribed already, MR_ETOOBIG
 * when the topic has MR_STORE_TOPIC_MAX_SUBSCRIBERS. Inside a transaction;
 * none of these errors writes anything or spoils the transaction. The
 * messages of MR_EEXIST and MR_ENOENT below are DTM's texts, which the API
 * answers verbatim.
 */
int mr_store_topic_subscribe(struct mr_store *s, const char *topic, const char *url,
                             const char *remark, int64_t now_ms, struct mr_err *err);

/*
 * mr_store_topic_unsubscribe - remove @url from @topic's subscribers (the
 * topic stays, possibly empty). MR_ENOENT "no such a topic", "this topic is
 * empty" or "no such an url " (DTM's texts, trailing space included);
 * MR_ECONFLICT as for subscribe. Inside a transaction; errors write nothing.
 */
int mr_store_topic_unsubscribe(struct mr_store *s, const char *topic, const char *url,
                               int64_t now_ms, struct mr_err *err);

/*
 * mr_store_topic_delete - delete @topic and its subscriber list. MR_ENOENT
 * "storage: NotFound" (DTM's text) when there is no such topic. Inside a
 * transaction.
 */
int mr_store_topic_delete(struct mr_store *s, const char *topic, struct mr_err *err);

/* ---- retention: final messages leave after a while ---- */

/* The most messages one mr_store_retention_delete() takes; more is MR_EINVAL. */
#define MR_STORE_RETENTION_BATCH_MAX 10000

/* The longest job name of mr_store_job_lease(); longer is MR_EINVAL. */
#define MR_STORE_JOB_NAME_MAX 64

/*
 * mr_store_job_lease - take or renew, for @owner (a relay id), the lease of
 * periodic job @name ("retention") that only one relay sharing the store may
 * run at a time: written (lease_until = @until_ms) when nobody holds it, its
 * lease lapsed (lease_until <= @now_ms) or @owner holds it already; *@held
 * says whether @owner holds it now. Inside a transaction, whose work the
 * lease then covers: SQLite holds the whole database from mr_store_begin(),
 * MySQL locks the job's row until the commit, so a second relay waits for the
 * commit and then finds the lease taken. MR_EINVAL for an empty owner or an
 * empty or over-long name (nothing written).
 */
int mr_store_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                       int64_t until_ms, bool *held, struct mr_err *err);

/*
 * mr_store_retention_delete - delete at most @limit (1 to
 * MR_STORE_RETENTION_BATCH_MAX) final messages that became final before
 * @cutoff_ms (succeed: finish_time < @cutoff_ms; failed: rollback_time <
 * @cutoff_ms), oldest first (per state on SQLite), with their steps; *@deleted says how many
 * messages went. Only the states succeed and failed are ever deleted:
 * unfinished ones, and any state added later (parked), stay whatever their
 * times. Every engine finds them through an index on the finish time, so a
 * call reads about what it deletes. Inside a transaction.
 */
int mr_store_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit,
                              size_t *deleted, struct mr_err *err);

/* ---- one transaction, tried again when the store lost it ---- */

/*
 * mr_store_retryable - whether store error @rc lost the whole transaction and
 * asks for it again: a deadlock or lock-wait timeout (MR_EBUSY) or a lost
 * connection (MR_EUNAVAIL; the store connects again at the next begin).
 */
bool mr_store_retryable(int rc);

/* How mr_store_run_tx() tries again. */
struct mr_store_tx_policy {
    int tries;                   /* attempts in all, at least 1 */
    int backoff_ms;              /* pause after the first lost attempt; doubles after each */
    enum mr_log_level log_level; /* of the "store transaction lost, trying again" line */
};

/*
 * mr_store_tx_fn - the writes of one attempt, inside the open transaction:
 * 0, or a store error (the attempt is rolled back). Called again on a retry,
 * so it must write the same when replayed.
 */
typedef int (*mr_store_tx_fn)(struct mr_store *s, void *arg, struct mr_err *err);

/* mr_store_tx_undo - forget what an attempt that did not commit left in @arg's memory. */
typedef void (*mr_store_tx_undo)(void *arg);

/*
 * mr_store_run_tx - begin, @fn, commit; rolled back when begin or @fn fail.
 * After an attempt that did not commit, @undo (may be NULL) runs; while the
 * error is mr_store_retryable() and @policy allows, the attempt is logged
 * (a conflict, MR_EBUSY, at debug level only), paused for (backoff_ms << (try - 1)) ms and made again with @err cleared.
 * Returns 0 once committed, else the last error (in @err too). The thread
 * that owns @s; it sleeps between attempts.
 */
int mr_store_run_tx(struct mr_store *s, mr_store_tx_fn fn, mr_store_tx_undo undo, void *arg,
                    const struct mr_store_tx_policy *policy, struct mr_err *err);

/* ---- reading a DTM server's MySQL database (msgrelay import-dtm) ----
 *
 * A read-only connection to the database of a DTM server (its trans_global
 * and trans_branch_op tables, DTM v1.19 layout), read in pages by id so
 * that memory follows the page size, not the table. DTM writes local-time
 * DATETIMEs; they are read in the database server's global time zone (the
 * zone DTM and its database normally share) and returned as UTC ms.
 */

struct mr_store_dtm;

/* One trans_branch_op row. Strings owned; NULL columns read as "". */
struct mr_dtm_branch {
    char *branch_id;
    char *op;     /* action, compensate, ... */
    char *status; /* prepared, succeed, failed */
    char *url;
    char *data; /* bin_data (the deprecated data column when bin_data is NULL) */
    size_t data_len;
    int64_t create_ms; /* 0 for NULL, as every time below */
    int64_t update_ms;
    int64_t finish_ms;
};

/* One trans_global row, with its branches (msg rows only) in stored order. Strings owned. */
struct mr_dtm_trans {
    int64_t id;
    char *gid;
    char *trans_type;
    char *status;
    char *query_prepared;
    char *protocol;
    char *options;     /* TransOptions JSON text, or "" */
    char *custom_data; /* or "" */
    char *result;
    char *rollback_reason;
    int64_t create_ms;
    int64_t update_ms;
    int64_t finish_ms;
    int64_t rollback_ms;
    int64_t next_cron_ms;
    int next_cron_interval;
    struct mr_dtm_branch *branches;
    size_t nbranches;
};

/* The most trans_global rows one mr_store_dtm_page() reads. */
#define MR_STORE_DTM_PAGE_MAX 10000

/*
 * mr_store_dtm_open - connect to the DTM database of @uri ("mysql://...",
 * the store URI syntax of this file's top, options included) in a read-only
 * session. MR_EINVAL for a URI that is not mysql:, MR_EUNAVAIL when it cannot
 * be reached, MR_ESTORE when DTM's tables are not there. Owned result:
 * mr_store_dtm_close().
 */
int mr_store_dtm_open(const char *uri, struct mr_store_dtm **out, struct mr_err *err);

/* mr_store_dtm_close - close the connection. NULL is a no-op. */
void mr_store_dtm_close(struct mr_store_dtm *d);

/*
 * mr_store_dtm_page - up to @limit (1 to MR_STORE_DTM_PAGE_MAX) trans_global
 * rows with id above @after_id, in id order, every type and status; the
 * branches are read for the msg rows only. *n < @limit means the table is
 * done. Owned result: *out, mr_store_dtm_free(*out, *n).
 */
int mr_store_dtm_page(struct mr_store_dtm *d, int64_t after_id, size_t limit,
                      struct mr_dtm_trans **out, size_t *n, struct mr_err *err);

/* mr_store_dtm_free - free @n rows from mr_store_dtm_page(). */
void mr_store_dtm_free(struct mr_dtm_trans *v, size_t n);

#endif
