/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - the metrics registry, msgrelay's other global: atomic counters
 * and histograms any thread may bump, rendered as Prometheus text by prepare/
 * on /api/metrics: msgrelay's own series, the DTM server's series under their
 * DTM names and labels (so dashboards built for DTM keep working), and the
 * process_* series read from /proc/self at each scrape.
 */
#ifndef MR_COMMON_METRICS_H
#define MR_COMMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"

/* API routes, for the per-route counter. X(enum, label) */
#define MR_ROUTE_LIST(X)                                                                           \
    X(MR_ROUTE_NEWGID, "newGid")                                                                   \
    X(MR_ROUTE_PREPARE, "prepare")                                                                 \
    X(MR_ROUTE_SUBMIT, "submit")                                                                   \
    X(MR_ROUTE_ABORT, "abort")                                                                     \
    X(MR_ROUTE_FORCESTOP, "forceStop")                                                             \
    X(MR_ROUTE_QUERY, "query")                                                                     \
    X(MR_ROUTE_ALL, "all")                                                                         \
    X(MR_ROUTE_RESETNEXTCRONTIME, "resetNextCronTime")                                             \
    X(MR_ROUTE_VERSION, "version")                                                                 \
    X(MR_ROUTE_PING, "ping")                                                                       \
    X(MR_ROUTE_METRICS, "metrics")                                                                 \
    X(MR_ROUTE_SUBSCRIBE, "subscribe")                                                             \
    X(MR_ROUTE_UNSUBSCRIBE, "unsubscribe")                                                         \
    X(MR_ROUTE_DELETETOPIC, "deleteTopic")                                                         \
    X(MR_ROUTE_SCANKV, "scanKV")                                                                   \
    X(MR_ROUTE_QUERYKV, "queryKV")                                                                 \
    X(MR_ROUTE_READY, "ready")                                                                     \
    X(MR_ROUTE_REDRIVE, "redrive")                                                                 \
    X(MR_ROUTE_RESETCRONTIME, "resetCronTime")                                                     \
    X(MR_ROUTE_OVERVIEW, "overview")                                                               \
    X(MR_ROUTE_ADMIN, "admin")                                                                     \
    X(MR_ROUTE_OTHER, "other")

enum mr_route {
#define MR_ROUTE_ENUM(e, label) e,
    MR_ROUTE_LIST(MR_ROUTE_ENUM)
#undef MR_ROUTE_ENUM
        MR_ROUTE_COUNT
};

/* mr_route_name - label of @r. */
const char *mr_route_name(int r);

/* The version msgrelay reports (build_info, /api/dtmsvr/version). */
#ifndef MR_VERSION
#define MR_VERSION "0.1.0"
#endif

/* mr_metrics_api - count one answered API call and its latency (from its headers to its answer). */
void mr_metrics_api(int route, int http_status, int64_t latency_us);

/*
 * mr_metrics_set_http_server - the HTTP server library and its version
 * (shown in dtm_server_info's gin_version label, the role gin has in DTM).
 */
void mr_metrics_set_http_server(const char *version);

/* mr_metrics_transition - count one message state change @from -> @to (enum mr_msg_state). */
void mr_metrics_transition(int from, int to);

/*
 * mr_metrics_step - count one call of step @branch_id by its classified
 * outcome. Branch ids get a series each up to a cap (then "other").
 */
void mr_metrics_step(enum mr_result r, const char *branch_id);

/*
 * mr_metrics_delivered - a step succeeded @latency_ms after its message was
 * due (created, plus its delay): to Kafka (@kafka) or over HTTP.
 */
void mr_metrics_delivered(bool kafka, int64_t latency_ms);

/* mr_metrics_msg_done - a message succeeded after @calls step calls in all. */
void mr_metrics_msg_done(long calls);

/*
 * mr_metrics_pass_done - one relay pass over a message ended (after its
 * commit): @ok when it met no failure; @age_ms since the message was created.
 */
void mr_metrics_pass_done(bool ok, int64_t age_ms);

/* mr_metrics_backcheck - count one back-check by its classified outcome. */
void mr_metrics_backcheck(enum mr_result r);

/*
 * mr_metrics_pass - count one relay pass started over a message, by how the
 * relay got it: handed by the intake with its lease (@handed) or claimed.
 */
void mr_metrics_pass(bool handed);

/*
 * mr_metrics_set_backlog - set the gauges of the intake's last due backlog sample: @n
 * messages, the oldest due at @oldest_ms (epoch ms; 0: none), whose age the gauge shows.
 */
void mr_metrics_set_backlog(long n, int64_t oldest_ms);

/* mr_metrics_backlog_wait - count @ms the intake waited before a commit (--backlog-slow-ms). */
void mr_metrics_backlog_wait(long ms);

/* mr_metrics_backlog_refused - count one submit answered 503 for the backlog (--backlog-max). */
void mr_metrics_backlog_refused(void);

/* mr_metrics_set_waiting - set the gauge of due work not yet being delivered. */
void mr_metrics_set_waiting(long n);

/* mr_metrics_parked - count one message parked (a step or back-check failed retry_limit times). */
void mr_metrics_parked(void);

/* mr_metrics_store_conflict - count one store transaction aborted for a conflict (retried). */
void mr_metrics_store_conflict(void);

/* mr_metrics_store_failover - count one store connection made to another host than before. */
void mr_metrics_store_failover(void);

/* mr_metrics_set_parked - set the gauge of messages in state parked. */
void mr_metrics_set_parked(long n);

/* mr_metrics_set_inflight - set the gauge of messages being delivered now. */
void mr_metrics_set_inflight(long n);

/* What became of one alert (relay/relay_alert.h). */
enum mr_alert_outcome {
    MR_ALERT_SENT,          /* the webhook answered 2xx */
    MR_ALERT_FAILED,        /* the webhook failed every try (or the relay stopped first) */
    MR_ALERT_DROPPED_RATE,  /* refused by the rate limit (--alert-rate) */
    MR_ALERT_DROPPED_QUEUE, /* refused: the queue of alerts to send was full */
    MR_ALERT_OUTCOME_COUNT
};

/* mr_metrics_alert - count one alert by what became of it. */
void mr_metrics_alert(enum mr_alert_outcome o);

/*
 * Per-destination metrics (relay/relay_http.c's destinations): at most
 * MR_METRICS_DEST_MAX labelled series; destinations past the cap share the
 * series labelled destination="other" (it has no up gauge).
 */
#define MR_METRICS_DEST_MAX 64

/*
 * mr_metrics_dest_slot - the slot of destination @label ("http://host:port"),
 * made on first use, or the shared "other" slot when MR_METRICS_DEST_MAX are
 * taken. Characters other than [a-zA-Z0-9.:/_[]-] are shown as '_'. Any thread.
 */
int mr_metrics_dest_slot(const char *label);

/* mr_metrics_dest_call - count one finished call to @slot: @ok (answered, not 5xx), its latency. */
void mr_metrics_dest_call(int slot, bool ok, long latency_ms);

/* mr_metrics_dest_up - set the up/down gauge of @slot. */
void mr_metrics_dest_up(int slot, bool up);

/*
 * mr_metrics_retention - count one retention batch: @deleted final messages
 * removed, or a failed batch (@failed).
 */
void mr_metrics_retention(long deleted, bool failed);

/*
 * The rate history the admin page charts: the relay samples the step
 * counters about every MR_METRICS_RATE_EVERY_MS (mr_metrics_rate_tick), and
 * the last MR_METRICS_RATE_SLOTS intervals are kept (15 minutes).
 */
#define MR_METRICS_RATE_EVERY_MS 10000
#define MR_METRICS_RATE_SLOTS 90

/* One interval of the rate history: step calls that succeeded, and that failed or erred. */
struct mr_metrics_rate {
    int64_t t_ms;   /* the interval's end, epoch milliseconds */
    int64_t len_ms; /* its length */
    long delivered;
    long failed;
};

/* mr_metrics_rate_tick - take a sample at @now_ms (epoch ms) when the last is old enough. Any thread. */
void mr_metrics_rate_tick(int64_t now_ms);

/*
 * mr_metrics_rates - the kept intervals, oldest first, into @out (room for
 * MR_METRICS_RATE_SLOTS + 1), the last one from the newest sample to @now_ms
 * (when later). Returns how many.
 */
size_t mr_metrics_rates(int64_t now_ms, struct mr_metrics_rate *out);

/* One destination as the metrics see it (mr_metrics_dests). */
struct mr_metrics_dest {
    char label[160]; /* "http://host:port" */
    bool up;
    long calls;
    long failures;
    long latency_ms; /* summed over its calls */
};

/* mr_metrics_dests - the labelled destinations into @out (room for MR_METRICS_DEST_MAX); how many. */
size_t mr_metrics_dests(struct mr_metrics_dest *out);

/* mr_metrics_render - append the Prometheus text exposition to @out. */
int mr_metrics_render(struct mr_buf *out);

#endif
