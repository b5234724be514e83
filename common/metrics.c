/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - fixed-shape atomic counters (see metrics.h). Every counter is a
 * relaxed atomic: a scrape may see counters from slightly different instants,
 * which Prometheus tolerates.
 */
#include "common/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/model.h"

/* HTTP statuses we answer with; anything else lands in the last slot. */
static const int status_codes[] = {200, 400, 401, 403, 404, 405, 409, 413, 425, 500, 503, 0};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]))

static atomic_long api_calls[MR_ROUTE_COUNT][NSTATUS];
static atomic_long transitions[MR_MSG_STATE_COUNT][MR_MSG_STATE_COUNT];
static atomic_long steps[MR_RESULT_COUNT];
static atomic_long backchecks[MR_RESULT_COUNT];
static atomic_long passes[2]; /* [0] claimed, [1] handed by the intake */
static atomic_long waiting;
static atomic_long inflight;
static atomic_long alerts[MR_ALERT_OUTCOME_COUNT];

static const char *const alert_outcomes[MR_ALERT_OUTCOME_COUNT] = {"sent", "failed",
                                                                   "dropped_rate", "dropped_queue"};
static atomic_long parkings;
static atomic_long parked;
static atomic_long retention_deleted;
static atomic_long retention_errors;

static const char *const route_names[] = {
#define MR_ROUTE_NAME(e, label) label,
    MR_ROUTE_LIST(MR_ROUTE_NAME)
#undef MR_ROUTE_NAME
};

const char *mr_route_name(int r)
{
    if (r < 0 || r >= MR_ROUTE_COUNT)
        return "other";
    return route_names[r];
}

void mr_metrics_api(int route, int http_status)
{
    size_t i;

    if (route < 0 || route >= MR_ROUTE_COUNT)
        route = MR_ROUTE_OTHER;
    for (i = 0; i + 1 < NSTATUS; i++) {
        if (status_codes[i] == http_status)
            break;
    }
    atomic_fetch_add_explicit(&api_calls[route][i], 1, memory_order_relaxed);
}

void mr_metrics_transition(int from, int to)
{
    if (from < 0 || from >= MR_MSG_STATE_COUNT || to < 0 || to >= MR_MSG_STATE_COUNT)
        return;
    atomic_fetch_add_explicit(&transitions[from][to], 1, memory_order_relaxed);
}

void mr_metrics_step(enum mr_result r)
{
    if ((int)r >= 0 && r < MR_RESULT_COUNT)
        atomic_fetch_add_explicit(&steps[r], 1, memory_order_relaxed);
}

void mr_metrics_backcheck(enum mr_result r)
{
    if ((int)r >= 0 && r < MR_RESULT_COUNT)
        atomic_fetch_add_explicit(&backchecks[r], 1, memory_order_relaxed);
}

void mr_metrics_pass(bool handed)
{
    atomic_fetch_add_explicit(&passes[handed ? 1 : 0], 1, memory_order_relaxed);
}

void mr_metrics_parked(void)
{
    atomic_fetch_add_explicit(&parkings, 1, memory_order_relaxed);
}

void mr_metrics_set_parked(long n)
{
    atomic_store_explicit(&parked, n, memory_order_relaxed);
}

void mr_metrics_set_waiting(long n)
{
    atomic_store_explicit(&waiting, n, memory_order_relaxed);
}

void mr_metrics_set_inflight(long n)
{
    atomic_store_explicit(&inflight, n, memory_order_relaxed);
}

/* One destination's series; slot MR_METRICS_DEST_MAX is "other". */
struct dest_series {
    char label[160];
    atomic_long up; /* 1 up, 0 down */
    atomic_long calls;
    atomic_long failures;
    atomic_long latency_ms;
};

static struct dest_series dests[MR_METRICS_DEST_MAX + 1];
static atomic_int ndests; /* labelled slots in use; their labels are written before this grows */
static pthread_mutex_t dests_mu = PTHREAD_MUTEX_INITIALIZER;

int mr_metrics_dest_slot(const char *label)
{
    char clean[sizeof(dests[0].label)];
    size_t i;
    int n;
    int k;

    for (i = 0; label[i] != '\0' && i + 1 < sizeof(clean); i++) {
        char ch = label[i];
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr(".:/_[]-", ch) != NULL;

        clean[i] = keep ? ch : '_';
    }
    clean[i] = '\0';
    pthread_mutex_lock(&dests_mu);
    n = atomic_load(&ndests);
    for (k = 0; k < n; k++) {
        if (strcmp(dests[k].label, clean) == 0)
            break;
    }
    if (k == n) {
        if (n >= MR_METRICS_DEST_MAX) {
            k = MR_METRICS_DEST_MAX;
        } else {
            snprintf(dests[k].label, sizeof(dests[k].label), "%s", clean);
            atomic_store(&dests[k].up, 1);
            atomic_store(&ndests, n + 1);
        }
    }
    pthread_mutex_unlock(&dests_mu);
    return k;
}

void mr_metrics_dest_call(int slot, bool ok, long latency_ms)
{
    if (slot < 0 || slot > MR_METRICS_DEST_MAX)
        return;
    atomic_fetch_add_explicit(&dests[slot].calls, 1, memory_order_relaxed);
    if (!ok)
        atomic_fetch_add_explicit(&dests[slot].failures, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&dests[slot].latency_ms, latency_ms, memory_order_relaxed);
}

void mr_metrics_dest_up(int slot, bool up)
{
    if (slot >= 0 && slot < MR_METRICS_DEST_MAX)
        atomic_store_explicit(&dests[slot].up, up ? 1 : 0, memory_order_relaxed);
}

/* render_dests - the per-destination series. */
static int render_dests(struct mr_buf *out)
{
    int n = atomic_load(&ndests);
    int k;
    int rc = 0;

    rc |= mr_buf_adds(out, "# HELP msgrelay_destination_up Whether a destination is healthy (1) "
                           "or failing and only probed (0).\n"
                           "# TYPE msgrelay_destination_up gauge\n");
    for (k = 0; k < n; k++)
        rc |= mr_buf_addf(out, "msgrelay_destination_up{destination=\"%s\"} %ld\n", dests[k].label,
                          atomic_load_explicit(&dests[k].up, memory_order_relaxed));
    rc |= mr_buf_adds(out, "# HELP msgrelay_destination_failures_total Calls to a destination "
                           "that got no answer or a 5xx.\n"
                           "# TYPE msgrelay_destination_failures_total counter\n");
    for (k = 0; k <= MR_METRICS_DEST_MAX; k++) {
        if (k == n && k < MR_METRICS_DEST_MAX)
            k = MR_METRICS_DEST_MAX;
        if (k == MR_METRICS_DEST_MAX && atomic_load(&dests[k].calls) == 0)
            break;
        rc |= mr_buf_addf(out, "msgrelay_destination_failures_total{destination=\"%s\"} %ld\n",
                          k == MR_METRICS_DEST_MAX ? "other" : dests[k].label,
                          atomic_load_explicit(&dests[k].failures, memory_order_relaxed));
    }
    rc |= mr_buf_adds(out, "# HELP msgrelay_destination_latency_seconds Time from sending a call "
                           "to a destination until it ended.\n"
                           "# TYPE msgrelay_destination_latency_seconds summary\n");
    for (k = 0; k <= MR_METRICS_DEST_MAX; k++) {
        const char *label;

        if (k == n && k < MR_METRICS_DEST_MAX)
            k = MR_METRICS_DEST_MAX;
        if (k == MR_METRICS_DEST_MAX && atomic_load(&dests[k].calls) == 0)
            break;
        label = k == MR_METRICS_DEST_MAX ? "other" : dests[k].label;
        rc |= mr_buf_addf(
            out,
            "msgrelay_destination_latency_seconds_sum{destination=\"%s\"} %.3f\n"
            "msgrelay_destination_latency_seconds_count{destination=\"%s\"} %ld\n",
            label, (double)atomic_load_explicit(&dests[k].latency_ms, memory_order_relaxed) / 1000.0,
            label, atomic_load_explicit(&dests[k].calls, memory_order_relaxed));
    }
    return rc;
}

void mr_metrics_alert(enum mr_alert_outcome o)
{
    if ((int)o >= 0 && o < MR_ALERT_OUTCOME_COUNT)
        atomic_fetch_add_explicit(&alerts[o], 1, memory_order_relaxed);
}

void mr_metrics_retention(long deleted, bool failed)
{
    if (deleted > 0)
        atomic_fetch_add_explicit(&retention_deleted, deleted, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&retention_errors, 1, memory_order_relaxed);
}

size_t mr_metrics_dests(struct mr_metrics_dest *out)
{
    int n = atomic_load(&ndests);
    int k;

    for (k = 0; k < n; k++) {
        memcpy(out[k].label, dests[k].label, sizeof(out[k].label));
        out[k].up = atomic_load_explicit(&dests[k].up, memory_order_relaxed) != 0;
        out[k].calls = atomic_load_explicit(&dests[k].calls, memory_order_relaxed);
        out[k].failures = atomic_load_explicit(&dests[k].failures, memory_order_relaxed);
        out[k].latency_ms = atomic_load_explicit(&dests[k].latency_ms, memory_order_relaxed);
    }
    return (size_t)n;
}

/* One sample of the step counters, for the rate history. */
struct rate_sample {
    int64_t t_ms;
    long delivered;
    long failed;
};

/* The last MR_METRICS_RATE_SLOTS + 1 samples (so as many intervals), a ring under rates_mu. */
static struct rate_sample rate_ring[MR_METRICS_RATE_SLOTS + 1];
static size_t rate_head; /* where the next sample goes */
static size_t rate_n;
static pthread_mutex_t rates_mu = PTHREAD_MUTEX_INITIALIZER;

/* rate_now - the step counters now, stamped @now_ms. */
static struct rate_sample rate_now(int64_t now_ms)
{
    struct rate_sample s;

    s.t_ms = now_ms;
    s.delivered = atomic_load_explicit(&steps[MR_RESULT_SUCCESS], memory_order_relaxed);
    s.failed = atomic_load_explicit(&steps[MR_RESULT_FAILURE], memory_order_relaxed) +
               atomic_load_explicit(&steps[MR_RESULT_ERROR], memory_order_relaxed);
    return s;
}

/* rate_interval - the interval from sample @a to sample @b. */
static struct mr_metrics_rate rate_interval(const struct rate_sample *a,
                                            const struct rate_sample *b)
{
    struct mr_metrics_rate r;

    r.t_ms = b->t_ms;
    r.len_ms = b->t_ms - a->t_ms;
    r.delivered = b->delivered - a->delivered;
    r.failed = b->failed - a->failed;
    return r;
}

void mr_metrics_rate_tick(int64_t now_ms)
{
    const size_t cap = MR_METRICS_RATE_SLOTS + 1;

    pthread_mutex_lock(&rates_mu);
    if (rate_n == 0 || now_ms - rate_ring[(rate_head + cap - 1) % cap].t_ms >=
                           MR_METRICS_RATE_EVERY_MS) {
        rate_ring[rate_head] = rate_now(now_ms);
        rate_head = (rate_head + 1) % cap;
        if (rate_n < cap)
            rate_n++;
    }
    pthread_mutex_unlock(&rates_mu);
}

size_t mr_metrics_rates(int64_t now_ms, struct mr_metrics_rate *out)
{
    const size_t cap = MR_METRICS_RATE_SLOTS + 1;
    size_t first;
    size_t i;
    size_t n = 0;
    struct rate_sample last;

    pthread_mutex_lock(&rates_mu);
    first = (rate_head + cap - rate_n) % cap;
    for (i = 1; i < rate_n; i++)
        out[n++] = rate_interval(&rate_ring[(first + i - 1) % cap], &rate_ring[(first + i) % cap]);
    if (rate_n > 0) {
        last = rate_now(now_ms);
        if (now_ms > rate_ring[(rate_head + cap - 1) % cap].t_ms)
            out[n++] = rate_interval(&rate_ring[(rate_head + cap - 1) % cap], &last);
    }
    pthread_mutex_unlock(&rates_mu);
    return n;
}

int mr_metrics_render(struct mr_buf *out)
{
    size_t r;
    size_t i;
    int rc = 0;

    rc |= mr_buf_adds(
        out, "# HELP msgrelay_api_requests_total API calls answered, by route and HTTP status.\n"
             "# TYPE msgrelay_api_requests_total counter\n");
    for (r = 0; r < MR_ROUTE_COUNT; r++) {
        for (i = 0; i < NSTATUS; i++) {
            long v = atomic_load_explicit(&api_calls[r][i], memory_order_relaxed);

            if (v == 0)
                continue;
            if (status_codes[i])
                rc |=
                    mr_buf_addf(out, "msgrelay_api_requests_total{route=\"%s\",code=\"%d\"} %ld\n",
                                route_names[r], status_codes[i], v);
            else
                rc |= mr_buf_addf(out,
                                  "msgrelay_api_requests_total{route=\"%s\",code=\"other\"} %ld\n",
                                  route_names[r], v);
        }
    }
    rc |= mr_buf_adds(out, "# HELP msgrelay_message_transitions_total Message state changes.\n"
                           "# TYPE msgrelay_message_transitions_total counter\n");
    for (r = 0; r < MR_MSG_STATE_COUNT; r++) {
        for (i = 1; i < MR_MSG_STATE_COUNT; i++) {
            long v = atomic_load_explicit(&transitions[r][i], memory_order_relaxed);

            if (v == 0)
                continue;
            rc |=
                mr_buf_addf(out, "msgrelay_message_transitions_total{from=\"%s\",to=\"%s\"} %ld\n",
                            r ? mr_msg_state_name((int)r) : "none", mr_msg_state_name((int)i), v);
        }
    }
    rc |= mr_buf_adds(out, "# HELP msgrelay_step_calls_total Step deliveries, by outcome.\n"
                           "# TYPE msgrelay_step_calls_total counter\n");
    for (r = 0; r < MR_RESULT_COUNT; r++)
        rc |= mr_buf_addf(out, "msgrelay_step_calls_total{outcome=\"%s\"} %ld\n",
                          mr_result_name((enum mr_result)r),
                          atomic_load_explicit(&steps[r], memory_order_relaxed));
    rc |= mr_buf_adds(out, "# HELP msgrelay_backchecks_total Back-check calls, by outcome.\n"
                           "# TYPE msgrelay_backchecks_total counter\n");
    for (r = 0; r < MR_RESULT_COUNT; r++)
        rc |= mr_buf_addf(out, "msgrelay_backchecks_total{outcome=\"%s\"} %ld\n",
                          mr_result_name((enum mr_result)r),
                          atomic_load_explicit(&backchecks[r], memory_order_relaxed));
    rc |= mr_buf_addf(
        out,
        "# HELP msgrelay_relay_passes_total Relay passes started, by source: claimed from the "
        "store, or handed by the intake.\n"
        "# TYPE msgrelay_relay_passes_total counter\n"
        "msgrelay_relay_passes_total{source=\"claim\"} %ld\n"
        "msgrelay_relay_passes_total{source=\"intake\"} %ld\n",
        atomic_load_explicit(&passes[0], memory_order_relaxed),
        atomic_load_explicit(&passes[1], memory_order_relaxed));
    rc |= mr_buf_addf(
        out,
        "# HELP msgrelay_work_waiting Messages due for delivery or back-check, not yet claimed.\n"
        "# TYPE msgrelay_work_waiting gauge\n"
        "msgrelay_work_waiting %ld\n"
        "# HELP msgrelay_work_inflight Messages being delivered or back-checked now.\n"
        "# TYPE msgrelay_work_inflight gauge\n"
        "msgrelay_work_inflight %ld\n",
        atomic_load_explicit(&waiting, memory_order_relaxed),
        atomic_load_explicit(&inflight, memory_order_relaxed));
    rc |= mr_buf_adds(out, "# HELP msgrelay_alerts_total Alerts (--alert-webhook), by outcome.\n"
                           "# TYPE msgrelay_alerts_total counter\n");
    for (r = 0; r < MR_ALERT_OUTCOME_COUNT; r++)
        rc |= mr_buf_addf(out, "msgrelay_alerts_total{outcome=\"%s\"} %ld\n", alert_outcomes[r],
                          atomic_load_explicit(&alerts[r], memory_order_relaxed));
    rc |= render_dests(out);
    rc |= mr_buf_addf(
        out,
        "# HELP msgrelay_messages_parked Messages parked: a step or back-check failed retry_limit "
        "times; they wait for a redrive or a forceStop.\n"
        "# TYPE msgrelay_messages_parked gauge\n"
        "msgrelay_messages_parked %ld\n"
        "# HELP msgrelay_parkings_total Messages this relay parked.\n"
        "# TYPE msgrelay_parkings_total counter\n"
        "msgrelay_parkings_total %ld\n",
        atomic_load_explicit(&parked, memory_order_relaxed),
        atomic_load_explicit(&parkings, memory_order_relaxed));
    rc |= mr_buf_addf(
        out,
        "# HELP msgrelay_retention_deleted_total Final messages deleted by --retention (this "
        "relay).\n"
        "# TYPE msgrelay_retention_deleted_total counter\n"
        "msgrelay_retention_deleted_total %ld\n"
        "# HELP msgrelay_retention_errors_total Retention batches that failed (logged).\n"
        "# TYPE msgrelay_retention_errors_total counter\n"
        "msgrelay_retention_errors_total %ld\n",
        atomic_load_explicit(&retention_deleted, memory_order_relaxed),
        atomic_load_explicit(&retention_errors, memory_order_relaxed));
    return rc ? MR_ETOOBIG : 0;
}
