/* SPDX-License-Identifier: MIT */
/*
 * prepare.h - the HTTP intake's public face.
 *
 * The intake serves the DTM-compatible API under /api/dtmsvr (and /api/ping,
 * /api/ready, /api/metrics) with libmicrohttpd, over HTTPS with --tls-cert,
 * each route guarded by the token of its scope when one is set. Requests that touch the store are queued
 * to one writer thread that applies many of them in one transaction (group
 * commit) and answers each only after that commit. The intake never delivers
 * and never calls into relay/ or query/: after a commit that made work due it
 * calls the hooks it was given (struct mr_prepare_hooks).
 */
#ifndef MR_PREPARE_PREPARE_H
#define MR_PREPARE_PREPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/model.h"
#include "common/result.h"

struct mr_prepare;

/*
 * What the intake tells the relay after a commit. Every hook runs on the
 * writer thread and must not block.
 *   wake: work may be due that the relay must look for in the store (a
 *     submit with a delay, a resetNextCronTime, a submit it could not hand).
 *   room: how many messages hand() would take now; the writer leases at most
 *     that many in the transaction it is about to run.
 *   hand: @v[0..n) were just committed as submitted and due now, each leased
 *     to mr_config.relay_id until its lease_until_ms, with their steps (ids
 *     set): the relay delivers them without claiming them. Taken.
 *   ready (may be NULL): unlike the others, runs on the readiness probe's
 *     thread and may block up to @timeout_ms: 0 when the relay can deliver,
 *     else an error whose message GET /api/ready shows (an open route: no
 *     host names or credentials in it).
 */
struct mr_prepare_hooks {
    void *arg;
    void (*wake)(void *arg);
    size_t (*room)(void *arg);
    void (*hand)(void *arg, struct mr_msg **v, size_t n);
    int (*ready)(void *arg, int timeout_ms, struct mr_err *err);
};

/*
 * mr_prepare_start - open the writer's store connection, start the writer
 * thread and the readiness probe, and listen on mr_config.bind:port (an
 * IPv4 or IPv6 address or a host name, resolved here once; HTTPS with
 * mr_config.tls_cert and tls_key, read here). @hooks is copied. Owned result:
 * mr_prepare_stop().
 */
int mr_prepare_start(const struct mr_prepare_hooks *hooks, struct mr_prepare **out,
                     struct mr_err *err);

/*
 * mr_prepare_on_loopback - whether @p listens on a loopback address only
 * (127.0.0.0/8, ::1), so nobody beyond this host reaches the API.
 */
bool mr_prepare_on_loopback(const struct mr_prepare *p);

/*
 * mr_prepare_pass_done - a relay pass over @gid finished with @outcome: answer
 * submits that wait for it (wait_result). Any thread; never blocks for long.
 * Matches mr_relay_pass_cb, with @arg the struct mr_prepare.
 */
void mr_prepare_pass_done(void *arg, const char *gid, enum mr_result outcome, const char *detail);

/*
 * mr_prepare_query_text - the answer GET /api/dtmsvr/query gives for @m (with
 * its steps; NULL = unknown gid), pretty-printed when @indent, for
 * `msgrelay show`. Owned result: free().
 */
char *mr_prepare_query_text(const struct mr_msg *m, bool indent);

/*
 * mr_prepare_all_text - the answer GET /api/dtmsvr/all gives for the page
 * @v[0..n) asked with @limit, pretty-printed when @indent, for `msgrelay
 * list`. Owned result: free().
 */
char *mr_prepare_all_text(struct mr_msg **v, size_t n, size_t limit, bool indent);

/* mr_prepare_quiesce - stop accepting new connections (the first step of shutdown). */
void mr_prepare_quiesce(struct mr_prepare *p);

/*
 * mr_prepare_stop - answer what is queued, stop the writer and the HTTP
 * server, close the store and free @p. NULL is a no-op.
 */
void mr_prepare_stop(struct mr_prepare *p);

/*
 * mr_prepare_check_msg - parse and validate the prepare body @body (@len
 * bytes) as the intake does (gid, steps and their URLs against the target
 * policy, query_prepared, options, the limits of mr_config) into a new
 * message whose state, times and lease are left to the caller: for writers
 * of messages that do not come over HTTP (import-dtm). MR_EINVAL
 * "<field>: <problem>". Owned result: mr_msg_free().
 */
int mr_prepare_check_msg(const char *body, size_t len, struct mr_msg **out, struct mr_err *err);

#endif
