/* SPDX-License-Identifier: MIT */
/*
 * relay.h - the delivery daemon's public face: start it, wake it, stop it,
 * and read the configuration from flags and environment.
 *
 * The relay runs one thread that owns a libcurl multi handle, its own store
 * connection and, with --kafka-brokers, the Kafka producer's delivery reports.
 * It claims due messages in batches under a lease, runs their back-checks
 * (query/) and step deliveries, and records the results in grouped
 * transactions. Messages the intake has just committed and leased to it come
 * in through mr_relay_hand() without a claim. Other threads talk to it only
 * through mr_relay_wake(), mr_relay_room() and mr_relay_hand().
 */
#ifndef MR_RELAY_RELAY_H
#define MR_RELAY_RELAY_H

#include "common/config.h"
#include <stddef.h>

#include "common/err.h"
#include "common/model.h"
#include "common/result.h"

struct mr_relay;

/*
 * Called on the relay thread after the results of one delivery pass over
 * message @gid are committed. @outcome: success (every step succeeded, the
 * message is succeed), ongoing (a step said ONGOING or a delay is pending),
 * failure (a step said FAILURE), error (another problem; @detail says which).
 * The callback must not block and must not call back into the relay.
 * @gid and @detail are borrowed.
 */
typedef void (*mr_relay_pass_cb)(void *arg, const char *gid, enum mr_result outcome,
                                 const char *detail);

/*
 * mr_relay_start - open a store connection (mr_config.store), end the leases a
 * previous run of this relay id (mr_config.relay_id, which must be set) left
 * behind, and start the relay thread.
 * @on_pass may be NULL. Owned result: mr_relay_stop().
 */
int mr_relay_start(mr_relay_pass_cb on_pass, void *arg, struct mr_relay **out, struct mr_err *err);

/*
 * mr_relay_wake - tell the relay that new work may be due (a submit was
 * committed). Any thread; never blocks; a lost or doubled wake-up only costs
 * latency because the relay also scans every poll interval.
 */
void mr_relay_wake(struct mr_relay *r);

/*
 * mr_relay_room - how many messages mr_relay_hand() takes now: the passes
 * mr_config.max_inflight leaves room for. Any thread; never blocks for long.
 */
size_t mr_relay_room(struct mr_relay *r);

/*
 * mr_relay_hand - deliver @v[0..n) (taken, the array borrowed): messages just
 * committed as submitted and due, with their steps, each leased to this
 * relay (mr_config.relay_id) until its lease_until_ms. They skip the claim;
 * past the room they wait in memory, their leases running. Any thread.
 */
void mr_relay_hand(struct mr_relay *r, struct mr_msg **v, size_t n);

/*
 * mr_relay_ready - 0 when the relay can deliver as far as a quick look tells:
 * without --kafka-brokers always; with it, when a broker answers within
 * @timeout_ms (else MR_EIO "kafka: ..."). Blocks up to @timeout_ms: call it
 * from a thread of its own (the readiness probe), never from the relay's.
 */
int mr_relay_ready(struct mr_relay *r, int timeout_ms, struct mr_err *err);

/*
 * mr_relay_stop - stop claiming, let calls in flight finish for at most
 * mr_config.shutdown_grace seconds, record their results, end this relay's
 * leases, join the thread and free @r. NULL is a no-op.
 */
void mr_relay_stop(struct mr_relay *r);

struct mr_retention;

/*
 * mr_retention_start - start retention (relay_retention.c) unless
 * mr_config.retention is 0 (then *out is NULL and 0 is returned): a thread
 * with a store connection of its own that deletes final messages older
 * than --retention, in batches, while this relay (mr_config.relay_id, which
 * must be set) holds the store's "retention" job lease. Owned result:
 * mr_retention_stop().
 */
int mr_retention_start(struct mr_retention **out, struct mr_err *err);

/* mr_retention_stop - stop after the batch in progress, join, free @t. NULL is a no-op. */
void mr_retention_stop(struct mr_retention *t);

/*
 * mr_relay_config_parse - fill @c from defaults, then MSGRELAY_* environment
 * variables, then the flags in @argv (after the subcommand). MR_EINVAL with a
 * message naming the flag on bad input. "--help" is handled by the caller.
 */
int mr_relay_config_parse(int argc, char **argv, struct mr_config *c, struct mr_err *err);

/*
 * mr_relay_config_access - for `serve` only, after mr_relay_config_parse():
 * read the token files into @c's tokens, and refuse what cannot be meant (a
 * token given both directly and by file, the same token for both scopes,
 * half a TLS key pair). MR_EINVAL naming the flag; never quotes a token.
 * The admin commands (list, show, migrate) need no token and skip this.
 */
int mr_relay_config_access(struct mr_config *c, struct mr_err *err);

/* mr_relay_config_usage - print the flags, their variables and defaults to @out. */
void mr_relay_config_usage(void *out_file);

/*
 * mr_import_dtm - `msgrelay import-dtm` (relay/relay_import.c): import a
 * stopped DTM server's msg transactions from its MySQL database into the
 * store; @argv holds the flags after the subcommand. The exit status.
 */
int mr_import_dtm(int argc, char **argv);

#endif
