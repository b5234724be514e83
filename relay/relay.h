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
#include <stdbool.h>
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
 * The subcommands, a bit each: an option of the table in relay_config.c names
 * the commands besides `serve` that take it (serve takes every option).
 */
#define MR_CMD_SERVE         0x01u
#define MR_CMD_MIGRATE       0x02u
#define MR_CMD_SHOW          0x04u
#define MR_CMD_LIST          0x08u
#define MR_CMD_REDRIVE       0x10u
#define MR_CMD_BARRIER_PRUNE 0x20u
#define MR_CMD_VERSION       0x40u
#define MR_CMD_IMPORT_DTM    0x80u

/* A flag of one subcommand only (not a setting of the table), e.g. list's --limit. */
struct mr_cmd_flag {
    const char *flag;  /* "--limit" */
    const char *arg;   /* its value's name in the usage ("N"); NULL: a switch without a value */
    const char *help;  /* one line */
    const char *value; /* out: the value given (borrowed; "" for a switch); NULL: absent */
};

/* A subcommand, as mr_relay_config_parse and the usage see it. */
struct mr_cmd {
    const char *name;          /* "list" */
    unsigned bit;              /* MR_CMD_* */
    const char *arg;           /* its one positional argument ("GID"); NULL: none */
    const char *summary;       /* what it does, one line */
    struct mr_cmd_flag *flags; /* its own flags, ended by a NULL .flag; NULL: none */
    /* filled by mr_relay_config_parse */
    const char *arg_value; /* the positional argument given (borrowed); NULL: absent */
    bool help;             /* --help or -h was given: nothing else was parsed */
};

/*
 * mr_relay_config_parse - fill @c from defaults, then the MSGRELAY_*
 * environment variables of the options @cmd takes, then @argv (the arguments
 * after the subcommand, in any order): the table's options @cmd takes, @cmd's
 * own flags (into their .value) and at most one positional argument (into
 * @cmd->arg_value; "--" ends the flags). MR_EINVAL with a message naming the
 * flag on bad input, an option @cmd does not take included. On --help or -h,
 * 0 with @cmd->help set and @c left at its defaults.
 */
int mr_relay_config_parse(struct mr_cmd *cmd, int argc, char **argv, struct mr_config *c,
                          struct mr_err *err);

/*
 * mr_relay_config_access - for `serve` only, after mr_relay_config_parse():
 * read the token files into @c's tokens, and refuse what cannot be meant (a
 * token given both directly and by file, the same token for both scopes,
 * half a TLS key pair). MR_EINVAL naming the flag; never quotes a token.
 * The admin commands (list, show, migrate) need no token and skip this.
 */
int mr_relay_config_access(struct mr_config *c, struct mr_err *err);

/*
 * mr_relay_config_usage - print to @out the usage of every command of @cmds
 * (@n), then every option with its variable, default and the commands
 * besides serve that take it.
 */
void mr_relay_config_usage(void *out_file, const struct mr_cmd *cmds, size_t n);

/* mr_relay_config_cmd_usage - print to @out the usage of @cmd and every flag it takes. */
void mr_relay_config_cmd_usage(void *out_file, const struct mr_cmd *cmd);

/*
 * mr_import_dtm - `msgrelay import-dtm` (relay/relay_import.c): import a
 * stopped DTM server's msg transactions from its MySQL database into the
 * store, once @cmd's flags (mr_import_dtm_flags) and serve's settings are
 * parsed into it and mr_config. The exit status.
 */
extern struct mr_cmd_flag mr_import_dtm_flags[];
int mr_import_dtm(struct mr_cmd *cmd);

#endif
