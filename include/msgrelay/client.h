/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/client.h - the producer SDK: build a two-phase message, prepare,
 * submit or abort it on msgrelay (or a DTM server: the wire is DTM's msg
 * mode). Needs libcurl and jansson only (pkg-config msgrelay): no MySQL, no
 * Kafka. Tying a message to a local MySQL transaction (do_and_submit_db)
 * is msgrelay/client_db.h, in libmsgrelay-barrier.
 *
 * Example (tests/e2e/test_install.py compiles it, so it cannot rot):
 *
 *   int send_order(const char *relay, const char *gid)
 *   {
 *       struct mr_client_msg *m;
 *       char err[512];
 *       int rc = mr_client_msg_new(&m, relay, gid, err, sizeof err);
 *
 *       if (rc != MR_CLIENT_SUCCESS)
 *           return rc;
 *       rc = mr_client_msg_add(m, "http://orders/api/created", "{\"order\":7}", err, sizeof err);
 *       if (rc == MR_CLIENT_SUCCESS)
 *           rc = mr_client_submit(m, err, sizeof err);
 *       mr_client_msg_free(m);
 *       return rc;
 *   }
 *
 * Part of libmsgrelay. HTTP goes through a libcurl easy handle owned by each
 * message (with connect and total timeouts, no signals), so messages on
 * different threads never share state; one message belongs to one thread at
 * a time. Global initialisation is the application's job: call
 * mr_client_global_init() (or curl_global_init()) once in main() before
 * starting threads.
 * Errors: every call returns an MR_CLIENT_* code and, when @errbuf is not
 * NULL, writes a NUL-terminated message of at most @errlen - 1 bytes into it
 * ("" on success; for an answer from the server, its message). Nothing keeps
 * a "last error". Allocation failure aborts the process.
 */
#ifndef MR_MSGRELAY_CLIENT_H
#define MR_MSGRELAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Only the declarations of the public headers are exported by the shared libraries. */
#pragma GCC visibility push(default)

/*
 * MR_CLIENT_* - what a call came to, so the caller can tell apart "done",
 * "refused for good" and "unknown: retry is safe". Stable values (ABI),
 * the same numbers as the barrier's MR_BARRIER_* for the same ideas.
 */
enum mr_client_result {
    /* The server answered 200 without FAILURE in the body. */
    MR_CLIENT_SUCCESS = 0,
    /* Final: the server answered 409 or FAILURE (the message's state does
     * not allow the call, or the request is invalid), or, from
     * do_and_submit_db, the callback refused. Retrying will not help.
     * Exception: a 409 from submit with wait_result means the first delivery
     * pass did not finish; the message stays submitted and is retried. */
    MR_CLIENT_FAILURE = -1,
    /* Anything else: transport error, timeout, another status, or a local
     * database error. The outcome is unknown; retrying the call is safe
     * (prepare, submit and abort are idempotent on the server). */
    MR_CLIENT_ERROR = -2,
    /* do_and_submit_db: the barrier row for this gid was already there (a
     * back-check refused the message first, or it ran before); the callback
     * did not run. */
    MR_CLIENT_DUPLICATED = -3,
    /* Bad argument; nothing was sent. */
    MR_CLIENT_EINVAL = -5,
};

/*
 * mr_client_global_init - the process-wide initialisation the SDK needs
 * (libcurl's): call once in main() before any thread uses the SDK.
 * MR_CLIENT_SUCCESS or MR_CLIENT_ERROR. mr_client_global_cleanup() undoes it
 * at exit, when no SDK call is running.
 */
int mr_client_global_init(void);

/* mr_client_global_cleanup - see mr_client_global_init(). */
void mr_client_global_cleanup(void);

/* mr_client_result_name - "success", "failure", "error", "duplicated", "einval", "unknown". */
const char *mr_client_result_name(int result);

/* Longest gid the SDK accepts (the server's and the barrier's limit). */
#define MR_CLIENT_GID_MAX 128

/* Default timeout of one call to the server or the back-check, in ms. */
#define MR_CLIENT_CALL_TIMEOUT_MS 10000

/* A two-phase message being built and sent. Opaque. */
struct mr_client_msg;

/*
 * mr_client_new_gid - ask @server (borrowed; "http://host:36789/api/dtmsvr")
 * for a fresh gid with GET <server>/newGid, waiting at most @timeout_ms
 * (<= 0: MR_CLIENT_CALL_TIMEOUT_MS). On MR_CLIENT_SUCCESS *gid is an owned
 * result (free()); otherwise it is NULL. Uses its own easy handle, with the
 * token in MSGRELAY_API_TOKEN and the CA file in MSGRELAY_CA_FILE, when set
 * (as a new message does).
 */
int mr_client_new_gid(const char *server, long timeout_ms, char **gid, char *errbuf, size_t errlen);

/*
 * mr_client_msg_new - a message with gid @gid for the server at @server
 * (an http:// or https:// base URL such as
 * "http://127.0.0.1:36789/api/dtmsvr"; a trailing '/' is dropped). Both are
 * borrowed (copied). @gid must be 1 to MR_CLIENT_GID_MAX bytes; the server
 * decides which characters it accepts. Returns MR_CLIENT_SUCCESS with *out
 * set (owned result: mr_client_msg_free()), or MR_CLIENT_EINVAL.
 */
int mr_client_msg_new(struct mr_client_msg **out, const char *server, const char *gid, char *errbuf,
                      size_t errlen);

/* mr_client_msg_free - free @m and its connection. NULL is a no-op. */
void mr_client_msg_free(struct mr_client_msg *m);

/* mr_client_msg_gid - the message's gid (owned by @m, valid until mr_client_msg_free()). */
const char *mr_client_msg_gid(const struct mr_client_msg *m);

/*
 * mr_client_msg_add - append a step: @action is where it goes, an http://
 * or https:// URL (the relay POSTs @payload to it), "kafka://TOPIC[?key=K]"
 * or "topic://NAME"; @payload is the body, sent verbatim (normally JSON
 * text). Both borrowed (copied). MR_CLIENT_EINVAL for a NULL or empty
 * argument or another scheme; the server checks the rest at prepare/submit.
 */
int mr_client_msg_add(struct mr_client_msg *m, const char *action, const char *payload,
                      char *errbuf, size_t errlen);

/*
 * mr_client_msg_add_header - add a header sent with every step call and
 * back-check the server makes (branch_headers), and with the SDK's own
 * back-check call. Both borrowed (copied). MR_CLIENT_EINVAL for an empty
 * name, ':' in the name, or CR/LF anywhere.
 */
int mr_client_msg_add_header(struct mr_client_msg *m, const char *name, const char *value,
                             char *errbuf, size_t errlen);

/*
 * Options. Each is sent with prepare, submit and abort as DTM's field of the
 * same name, in seconds; 0 (the default) leaves the field out so the
 * server's default applies, and negative values count as 0. They change only
 * @m and are read by the next call.
 */

/* mr_client_msg_set_timeout_to_fail - how long a prepared message waits before its back-check. */
void mr_client_msg_set_timeout_to_fail(struct mr_client_msg *m, int seconds);

/* mr_client_msg_set_retry_interval - the base retry interval of the message. */
void mr_client_msg_set_retry_interval(struct mr_client_msg *m, int seconds);

/* mr_client_msg_set_request_timeout - timeout of each step call and back-check the server makes. */
void mr_client_msg_set_request_timeout(struct mr_client_msg *m, int seconds);

/*
 * mr_client_msg_set_delay - deliver no earlier than @seconds after the
 * message was created. Sent on submit only, as custom_data {"delay":N}.
 */
void mr_client_msg_set_delay(struct mr_client_msg *m, int seconds);

/* mr_client_msg_set_concurrent - call all steps at once instead of in order. */
void mr_client_msg_set_concurrent(struct mr_client_msg *m, bool on);

/*
 * mr_client_msg_set_wait_result - submit answers only after the first
 * delivery pass (200 when every step succeeded; see MR_CLIENT_FAILURE).
 */
void mr_client_msg_set_wait_result(struct mr_client_msg *m, bool on);

/*
 * mr_client_msg_set_call_timeout - total timeout of each HTTP call the SDK
 * makes for @m (prepare, submit, abort, the back-check), in ms; <= 0
 * restores MR_CLIENT_CALL_TIMEOUT_MS. The connect timeout is the smaller of
 * this and 5 s. A call that times out is MR_CLIENT_ERROR.
 */
void mr_client_msg_set_call_timeout(struct mr_client_msg *m, long timeout_ms);

/* Longest token the SDK sends (the server's limit). */
#define MR_CLIENT_TOKEN_MAX 4096

/*
 * mr_client_msg_set_token - send "Authorization: Bearer @token" with every
 * call to the server (prepare, submit, abort), for a relay started with
 * --api-token (or --admin-token). Never sent to the back-check URL or to
 * steps. @token is borrowed (copied); NULL or "" sends none. A new message
 * starts with the value of the environment variable MSGRELAY_API_TOKEN, when
 * set. MR_CLIENT_EINVAL for a token longer than MR_CLIENT_TOKEN_MAX or with
 * a byte that is not visible ASCII. A relay that does not accept the token
 * answers 401 (403: a token of the wrong scope) with FAILURE: the call is
 * MR_CLIENT_FAILURE, nothing was done, and @errbuf says "HTTP 401: ...".
 */
int mr_client_msg_set_token(struct mr_client_msg *m, const char *token, char *errbuf,
                            size_t errlen);

/*
 * mr_client_msg_set_traceparent - send the W3C trace context @traceparent
 * (and @tracestate, NULL or "" for none; both borrowed, copied) with every
 * call to the server (prepare, submit, abort): the relay keeps it with the
 * message and sends it on, with a span id of its own per call, on every step
 * call, back-check and Kafka record. NULL or "" @traceparent sends none.
 * MR_CLIENT_EINVAL for a traceparent that is not version 00's
 * "00-<32 hex>-<16 hex>-<2 hex>" (lower-case, neither id all zeros) or a
 * tracestate over 512 bytes or with a byte that is not printable ASCII.
 */
int mr_client_msg_set_traceparent(struct mr_client_msg *m, const char *traceparent,
                                  const char *tracestate, char *errbuf, size_t errlen);

/*
 * mr_client_msg_set_ca_file - trust the PEM certificates in @path (borrowed,
 * copied) for an https:// server and back-check URL, instead of the
 * system's store: for a relay serving a private or self-signed certificate
 * (--tls-cert). NULL restores the system's store. A new message starts with
 * MSGRELAY_CA_FILE, when set. The file is read by libcurl at each call.
 */
void mr_client_msg_set_ca_file(struct mr_client_msg *m, const char *path);

/*
 * mr_client_msg_set_barrier_table - the barrier table do_and_submit_db
 * writes to (borrowed, copied; NULL: MR_BARRIER_TABLE_DEFAULT, msgrelay/barrier.h). The
 * QueryPrepared handler must use the same table. MR_CLIENT_EINVAL for a
 * name mr_barrier_set_table() refuses.
 */
int mr_client_msg_set_barrier_table(struct mr_client_msg *m, const char *table, char *errbuf,
                                    size_t errlen);

/*
 * mr_client_prepare - POST <server>/prepare: register the message as
 * prepared, with @query_prepared (borrowed, copied; NULL keeps the URL of an
 * earlier prepare) as the back-check URL the server will GET if the message
 * is neither submitted nor aborted within timeout_to_fail. Nothing is
 * delivered yet. A repeat on a prepared message succeeds.
 */
int mr_client_prepare(struct mr_client_msg *m, const char *query_prepared, char *errbuf,
                      size_t errlen);

/*
 * mr_client_submit - POST <server>/submit: the message is committed; the
 * server delivers every step. Works with or without an earlier prepare.
 * The delay option goes out here only.
 */
int mr_client_submit(struct mr_client_msg *m, char *errbuf, size_t errlen);

/*
 * mr_client_abort - POST <server>/abort: a prepared message is given up
 * (it ends failed, nothing is delivered). MR_CLIENT_FAILURE when it is not
 * prepared any more (e.g. already submitted or failed).
 */
int mr_client_abort(struct mr_client_msg *m, char *errbuf, size_t errlen);

/*
 * mr_client_query_prepared - the SDK's own back-check: GET
 * @query_prepared?dtm=<server>&gid=<gid>&branch_id=00&trans_type=msg&op=msg
 * with the message's headers, classified like the relay classifies it.
 * MR_CLIENT_SUCCESS: committed; MR_CLIENT_FAILURE: rolled back (409 or
 * FAILURE); MR_CLIENT_ERROR: no clear answer (including ONGOING).
 */
int mr_client_query_prepared(struct mr_client_msg *m, const char *query_prepared, char *errbuf,
                             size_t errlen);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
