/* SPDX-License-Identifier: MIT */
/*
 * relay_alert.h - the alert webhook (--alert-webhook, --alert-after,
 * --alert-rate): a JSON POST telling an operator that a message keeps
 * failing (a step or back-check reached --alert-after failed attempts) or
 * was parked.
 *
 * The body carries DTM's alert fields and a few of msgrelay's:
 *   {"gid":"...","status":"submitted","trans_type":"msg","branch":"01",
 *    "branch_id":"01","error":"step 01: HTTP 500: ...","retry_count":3,
 *    "parked":false}
 * (branch and branch_id are the same: "00" for a back-check.)
 *
 * Alerts never block delivery: mr_alert_send() only takes a token from a
 * rate limiter and appends to a bounded queue (both under a short mutex);
 * one thread of this file sends them with its own libcurl multi handle, so
 * the relay's connections, per-destination slots and event loop are never
 * used. Excess alerts (rate or queue) are dropped, counted and summed up in
 * one log line at most every ten seconds. A webhook call that fails (no
 * answer, timeout, non-2xx) is tried MR_ALERT_TRIES times in all, then
 * logged and counted. The target policy applies to the webhook like to any
 * outbound call: its URL at start-up (mr_alert_check_url), each resolved
 * address at connect time.
 *
 * Thread: mr_alert_start()/mr_alert_stop() on the main thread; the rest from
 * any thread. Without --alert-webhook every function is a cheap no-op.
 */
#ifndef MR_RELAY_RELAY_ALERT_H
#define MR_RELAY_RELAY_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/model.h"

/* Alerts waiting to be sent at most; more are dropped and counted. */
#define MR_ALERT_QUEUE_MAX 256

/* Webhook calls per alert at most (the first and two more), and webhook calls at once. */
#define MR_ALERT_TRIES      3
#define MR_ALERT_CONCURRENT 4

/* One alert. Strings are borrowed (copied into the body by mr_alert_send()); NULL is "". */
struct mr_alert {
    const char *gid;
    const char *status;    /* the message's state name ("submitted", "prepared", "parked") */
    const char *branch_id; /* the step's branch id; "00" for a back-check */
    const char *error;     /* the last failure's text; URL credentials are masked here */
    int retry_count;       /* failed attempts so far */
    bool parked;           /* the message was parked (else: it reached --alert-after) */
};

/* A token bucket: @rate tokens a second, at most @burst kept. Pure; the caller locks. */
struct mr_alert_bucket {
    double tokens;
    double rate;
    double burst;
    int64_t last_ms;
};

/* mr_alert_bucket_init - a full bucket of @burst tokens refilled at @rate a second from @now_ms. */
void mr_alert_bucket_init(struct mr_alert_bucket *b, double rate, double burst, int64_t now_ms);

/* mr_alert_bucket_take - take one token at @now_ms (monotonic): false when none is left. */
bool mr_alert_bucket_take(struct mr_alert_bucket *b, int64_t now_ms);

/*
 * mr_alert_check_url - whether @url may be the webhook: http(s)://, and not
 * refused by the target policy (mr_config.targets) from the URL alone.
 * MR_EINVAL "--alert-webhook: ..." otherwise (the URL is shown masked).
 */
int mr_alert_check_url(const char *url, struct mr_err *err);

/*
 * mr_alert_body - the JSON text of @a (owned result: free()), or NULL when
 * out of memory. The error text is masked (mr_url_masked) and cut to 1000 bytes.
 */
char *mr_alert_body(const struct mr_alert *a);

/*
 * mr_alert_start - start the sender thread when --alert-webhook is set
 * (checked with mr_alert_check_url); 0 and nothing started otherwise.
 * curl_global_init() must have run.
 */
int mr_alert_start(struct mr_err *err);

/*
 * mr_alert_stop - give queued and in-flight alerts up to two seconds, then
 * stop the thread and drop the rest (counted). No-op when not started.
 */
void mr_alert_stop(void);

/*
 * mr_alert_send - queue alert @a unless the rate limit or the queue bound
 * refuses it (dropped, counted). Never blocks on the network. Any thread.
 */
void mr_alert_send(const struct mr_alert *a);

/*
 * mr_alert_attempts - the alert of a failed attempt: when @attempts (the
 * failed attempts of step @branch_id of @m, this one included; "00" for a
 * back-check) is exactly --alert-after, send one alert with @error. Called
 * at every failed attempt; alerts once per message and step at that count.
 */
void mr_alert_attempts(const struct mr_msg *m, const char *branch_id, int attempts,
                       const char *error);

/*
 * mr_alert_parked - the alert of a parking: message @m was parked because
 * step @branch_id ("00": its back-check) failed @retry_count attempts, the
 * last with @error. Always sent (subject to the rate limit), whatever
 * --alert-after says.
 */
void mr_alert_parked(const struct mr_msg *m, const char *branch_id, int retry_count,
                     const char *error);

#endif
