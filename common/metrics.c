/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - fixed-shape atomic counters and histograms (see metrics.h).
 * Every counter is a relaxed atomic: a scrape may see counters from slightly
 * different instants, which Prometheus tolerates. A histogram keeps one
 * (non-cumulative) count per bucket and is summed up at render time; DTM's
 * series are rendered from the same counts as msgrelay's own (an API call is
 * counted once and shown in both).
 */
#include "common/metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/model.h"

/* HTTP statuses we answer with; anything else lands in the last slot. */
static const int status_codes[] = {200, 400, 401, 403, 404, 405, 409, 413, 425, 500, 503, 0};
#define NSTATUS (sizeof(status_codes) / sizeof(status_codes[0]))

static atomic_long api_calls[MR_ROUTE_COUNT][NSTATUS];

/*
 * A histogram's shape: its upper bounds in integer units (microseconds for
 * durations, plain counts otherwise), ascending, and what one unit is worth
 * in the rendered value (1e-6 for microseconds to seconds).
 */
#define HIST_BUCKETS_MAX 16
struct hist_shape {
    long bounds[HIST_BUCKETS_MAX];
    size_t n;
    double unit;
};

/* A histogram: count per bucket ([n] is +Inf), sum in units. */
struct hist {
    atomic_long b[HIST_BUCKETS_MAX + 1];
    atomic_long sum;
};

/* API latency; its 4th to 14th bounds are the Prometheus client's default buckets (DTM's). */
static const struct hist_shape api_shape = {{500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
                                             250000, 500000, 1000000, 2500000, 5000000, 10000000},
                                            14,
                                            1e-6};
#define DTM_DEFAULT_BUCKETS 0x3ff8u /* api_shape bounds 3..13: 0.005 s to 10 s */

/* DTM's handled duration (seconds since create_time), default buckets. */
static const struct hist_shape age_shape = {
    {5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000},
    11,
    1e-6};

/* Delivery latency, from 1 ms to an hour. */
static const struct hist_shape delivery_shape = {{1000, 5000, 10000, 25000, 50000, 100000, 250000,
                                                  500000, 1000000, 2500000, 5000000, 10000000,
                                                  30000000, 60000000, 300000000, 3600000000L},
                                                 16,
                                                 1e-6};

/* Step calls per delivered message. */
static const struct hist_shape calls_shape = {{1, 2, 3, 4, 5, 10, 20, 50, 100, 1000}, 10, 1};

static struct hist api_latency[MR_ROUTE_COUNT];
static struct hist delivery_latency[2]; /* [0] http, [1] kafka */
static struct hist msg_calls;
static struct hist pass_age;
static atomic_long passes_done[2]; /* [0] failed, [1] ok */
static char http_server[64] = "unknown";

/* hist_observe - count @v (in units) in @h. */
static void hist_observe(struct hist *h, const struct hist_shape *s, long v)
{
    size_t i = 0;

    if (v < 0)
        v = 0;
    while (i < s->n && v > s->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

/* hist_empty - whether nothing was observed in @h (a value of 0 lands in the first bucket). */
static bool hist_empty(const struct hist *h)
{
    return atomic_load_explicit(&h->sum, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&h->b[0], memory_order_relaxed) == 0;
}

/*
 * add_label - append @v as a label value: backslash, double quote and
 * newline escaped as the exposition format wants.
 */
static int add_label(struct mr_buf *out, const char *v)
{
    int rc = 0;

    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            rc |= mr_buf_addc(out, '\\') | mr_buf_addc(out, *v);
        else if (*v == '\n')
            rc |= mr_buf_adds(out, "\\n");
        else
            rc |= mr_buf_addc(out, *v);
    }
    return rc;
}

/*
 * hist_render - the samples of @h as @name with @labels (already rendered,
 * "k=\"v\"" or ""): cumulative _bucket lines for the bounds whose bit is set
 * in @shown (all when 0) and +Inf, then _sum and _count.
 */
static int hist_render(struct mr_buf *out, const char *name, const char *labels,
                       const struct hist *h, const struct hist_shape *s, unsigned shown)
{
    const char *sep = labels[0] != '\0' ? "," : "";
    long cum = 0;
    size_t i;
    int rc = 0;

    for (i = 0; i <= s->n; i++) {
        cum += atomic_load_explicit(&h->b[i], memory_order_relaxed);
        if (i < s->n && shown != 0 && !(shown & (1u << i)))
            continue;
        if (i < s->n)
            rc |= mr_buf_addf(out, "%s_bucket{%s%sle=\"%g\"} %ld\n", name, labels, sep,
                              (double)s->bounds[i] * s->unit, cum);
        else
            rc |= mr_buf_addf(out, "%s_bucket{%s%sle=\"+Inf\"} %ld\n", name, labels, sep, cum);
    }
    if (labels[0] != '\0')
        rc |= mr_buf_addf(out, "%s_sum{%s} %.6f\n%s_count{%s} %ld\n", name, labels,
                          (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * s->unit,
                          name, labels, cum);
    else
        rc |= mr_buf_addf(out, "%s_sum %.6f\n%s_count %ld\n", name,
                          (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * s->unit,
                          name, cum);
    return rc;
}
static atomic_long transitions[MR_MSG_STATE_COUNT][MR_MSG_STATE_COUNT];
static atomic_long steps[MR_RESULT_COUNT];
static atomic_long backchecks[MR_RESULT_COUNT];
static atomic_long passes[2]; /* [0] claimed, [1] handed by the intake */
static atomic_long waiting;
static atomic_long inflight;
static atomic_long backlog;
static _Atomic int64_t backlog_oldest_ms;
static atomic_long backlog_wait_ms;
static atomic_long backlog_refused;
static atomic_long alerts[MR_ALERT_OUTCOME_COUNT];

static const char *const alert_outcomes[MR_ALERT_OUTCOME_COUNT] = {"sent", "failed",
                                                                   "dropped_rate", "dropped_queue"};
static atomic_long parkings;
static atomic_long parked;
static atomic_long retention_deleted;
static atomic_long store_conflicts;
static atomic_long store_failovers;
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

void mr_metrics_api(int route, int http_status, int64_t latency_us)
{
    size_t i;

    if (route < 0 || route >= MR_ROUTE_COUNT)
        route = MR_ROUTE_OTHER;
    for (i = 0; i + 1 < NSTATUS; i++) {
        if (status_codes[i] == http_status)
            break;
    }
    atomic_fetch_add_explicit(&api_calls[route][i], 1, memory_order_relaxed);
    hist_observe(&api_latency[route], &api_shape, (long)latency_us);
}

void mr_metrics_set_http_server(const char *version)
{
    /* called once at start-up, before the first scrape */
    snprintf(http_server, sizeof(http_server), "%s", version);
}

void mr_metrics_delivered(bool kafka, int64_t latency_ms)
{
    hist_observe(&delivery_latency[kafka ? 1 : 0], &delivery_shape, (long)latency_ms * 1000);
}

void mr_metrics_msg_done(long calls)
{
    hist_observe(&msg_calls, &calls_shape, calls);
}

void mr_metrics_pass_done(bool ok, int64_t age_ms)
{
    atomic_fetch_add_explicit(&passes_done[ok ? 1 : 0], 1, memory_order_relaxed);
    hist_observe(&pass_age, &age_shape, (long)age_ms * 1000);
}

void mr_metrics_transition(int from, int to)
{
    if (from < 0 || from >= MR_MSG_STATE_COUNT || to < 0 || to >= MR_MSG_STATE_COUNT)
        return;
    atomic_fetch_add_explicit(&transitions[from][to], 1, memory_order_relaxed);
}

/*
 * label_slot - the index of @clean among the labels of a slot table (@n in
 * use, each slot @stride bytes from @base, its label array of @size bytes
 * first), added under @mu when missing and fewer than @cap are used (@fresh,
 * if any, sets the new slot up before it is published); @cap when full.
 * A label is written before @n counts its slot, so the first look, at the
 * labels already published, needs no lock.
 */
static int label_slot(char *base, size_t stride, size_t size, atomic_int *n, int cap,
                      pthread_mutex_t *mu, const char *clean, void (*fresh)(int))
{
    int used = atomic_load(n);
    int k;

    for (k = 0; k < used; k++) {
        if (strcmp(base + (size_t)k * stride, clean) == 0)
            return k;
    }
    pthread_mutex_lock(mu);
    used = atomic_load(n);
    for (k = 0; k < used; k++) {
        if (strcmp(base + (size_t)k * stride, clean) == 0)
            break;
    }
    if (k == used && used < cap) {
        snprintf(base + (size_t)k * stride, size, "%s", clean);
        if (fresh != NULL)
            fresh(k);
        atomic_store(n, used + 1);
    }
    pthread_mutex_unlock(mu);
    return k < cap ? k : cap;
}

/* Step calls per branch id (DTM's dtm_branch_process_total); slot BRANCH_MAX is "other". */
#define BRANCH_MAX 64
struct branch_series {
    char label[32];
    atomic_long ok;
    atomic_long fail;
};
static struct branch_series branches[BRANCH_MAX + 1];
static atomic_int nbranches;
static pthread_mutex_t branches_mu = PTHREAD_MUTEX_INITIALIZER;

void mr_metrics_step(enum mr_result r, const char *branch_id)
{
    char id[sizeof(branches[0].label)];
    int k;

    if ((int)r < 0 || r >= MR_RESULT_COUNT)
        return;
    atomic_fetch_add_explicit(&steps[r], 1, memory_order_relaxed);
    /* cut to the label's size first, so that a long id finds its slot again */
    snprintf(id, sizeof(id), "%s", branch_id != NULL ? branch_id : "");
    k = label_slot(branches[0].label, sizeof(branches[0]), sizeof(branches[0].label), &nbranches,
                   BRANCH_MAX, &branches_mu, id, NULL);
    atomic_fetch_add_explicit(r == MR_RESULT_SUCCESS ? &branches[k].ok : &branches[k].fail, 1,
                              memory_order_relaxed);
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

void mr_metrics_store_conflict(void)
{
    atomic_fetch_add_explicit(&store_conflicts, 1, memory_order_relaxed);
}

void mr_metrics_store_failover(void)
{
    atomic_fetch_add_explicit(&store_failovers, 1, memory_order_relaxed);
}

void mr_metrics_set_parked(long n)
{
    atomic_store_explicit(&parked, n, memory_order_relaxed);
}

void mr_metrics_set_backlog(long n, int64_t oldest_ms)
{
    atomic_store_explicit(&backlog, n, memory_order_relaxed);
    atomic_store_explicit(&backlog_oldest_ms, oldest_ms, memory_order_relaxed);
}

/* backlog_age_s - the age of the last sample's oldest due message at scrape time, s (0: none). */
static double backlog_age_s(void)
{
    int64_t oldest = atomic_load_explicit(&backlog_oldest_ms, memory_order_relaxed);
    int64_t now = mr_now_ms();

    return oldest > 0 && now > oldest ? (double)(now - oldest) / 1000.0 : 0.0;
}

void mr_metrics_backlog_wait(long ms)
{
    atomic_fetch_add_explicit(&backlog_wait_ms, ms, memory_order_relaxed);
}

void mr_metrics_backlog_refused(void)
{
    atomic_fetch_add_explicit(&backlog_refused, 1, memory_order_relaxed);
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

/* dest_fresh - a new destination starts up. */
static void dest_fresh(int k)
{
    atomic_store(&dests[k].up, 1);
}

int mr_metrics_dest_slot(const char *label)
{
    char clean[sizeof(dests[0].label)];
    size_t i;
    int k;

    for (i = 0; label[i] != '\0' && i + 1 < sizeof(clean); i++) {
        char ch = label[i];
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr(".:/_[]-", ch) != NULL;

        clean[i] = keep ? ch : '_';
    }
    clean[i] = '\0';
    k = label_slot(dests[0].label, sizeof(dests[0]), sizeof(dests[0].label), &ndests,
                   MR_METRICS_DEST_MAX, &dests_mu, clean, dest_fresh);
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

/* dtm_api - DTM's api label for route @r: its name in lower case (DTM's last path segment). */
static void dtm_api(int r, char *out, size_t size)
{
    const char *name = route_names[r];
    size_t i;

    for (i = 0; name[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

/* render_dtm - DTM's series (names, types and labels as the DTM server exports them). */
static int render_dtm(struct mr_buf *out)
{
    struct mr_buf lbl = MR_BUF_INIT(256);
    char api[32];
    size_t r;
    size_t i;
    int rc = 0;

    rc |= mr_buf_adds(out, "# HELP dtm_server_info DTM-compatible: this server (always 1).\n"
                           "# TYPE dtm_server_info gauge\n"
                           "dtm_server_info{gin_version=\"");
    rc |= add_label(out, http_server);
    rc |= mr_buf_adds(out, "\",grpc_version=\"none\"} 1\n");
    rc |= mr_buf_adds(
        out,
        "# HELP dtm_server_process_total DTM-compatible: API calls answered, by api and ok/fail.\n"
        "# TYPE dtm_server_process_total counter\n");
    for (r = 0; r < MR_ROUTE_COUNT; r++) {
        long ok = 0;
        long fail = 0;

        for (i = 0; i < NSTATUS; i++) {
            long v = atomic_load_explicit(&api_calls[r][i], memory_order_relaxed);

            if (status_codes[i] != 0 && status_codes[i] < 400)
                ok += v;
            else
                fail += v;
        }
        dtm_api((int)r, api, sizeof(api));
        if (ok > 0)
            rc |= mr_buf_addf(out,
                              "dtm_server_process_total{type=\"http\",api=\"%s\",status=\"ok\"} "
                              "%ld\n",
                              api, ok);
        if (fail > 0)
            rc |= mr_buf_addf(out,
                              "dtm_server_process_total{type=\"http\",api=\"%s\",status=\"fail\"} "
                              "%ld\n",
                              api, fail);
    }
    rc |=
        mr_buf_adds(out, "# HELP dtm_server_response_duration DTM-compatible: API call latency in "
                         "seconds, by api.\n"
                         "# TYPE dtm_server_response_duration histogram\n");
    for (r = 0; r < MR_ROUTE_COUNT; r++) {
        if (hist_empty(&api_latency[r]))
            continue;
        dtm_api((int)r, api, sizeof(api));
        mr_buf_reset(&lbl);
        mr_buf_addf(&lbl, "type=\"http\",api=\"%s\"", api);
        rc |= hist_render(out, "dtm_server_response_duration", lbl.p, &api_latency[r], &api_shape,
                          DTM_DEFAULT_BUCKETS);
    }
    rc |= mr_buf_addf(out,
                      "# HELP dtm_transaction_process_total DTM-compatible: relay passes over a "
                      "message, by outcome.\n"
                      "# TYPE dtm_transaction_process_total counter\n"
                      "dtm_transaction_process_total{model=\"msg\",status=\"ok\"} %ld\n"
                      "dtm_transaction_process_total{model=\"msg\",status=\"fail\"} %ld\n"
                      "# HELP dtm_transaction_handled_duration DTM-compatible: age of a message "
                      "in seconds when a pass over it ended.\n"
                      "# TYPE dtm_transaction_handled_duration histogram\n",
                      atomic_load_explicit(&passes_done[1], memory_order_relaxed),
                      atomic_load_explicit(&passes_done[0], memory_order_relaxed));
    rc |= hist_render(out, "dtm_transaction_handled_duration", "model=\"msg\"", &pass_age,
                      &age_shape, 0);
    rc |= mr_buf_adds(
        out,
        "# HELP dtm_branch_process_total DTM-compatible: step calls, by branch id and outcome.\n"
        "# TYPE dtm_branch_process_total counter\n");
    for (r = 0; r <= BRANCH_MAX; r++) {
        const char *bid = branches[r].label;
        long ok;
        long fail;

        if ((int)r == atomic_load(&nbranches) && r < BRANCH_MAX)
            r = BRANCH_MAX;
        if (r == BRANCH_MAX)
            bid = "other";
        ok = atomic_load_explicit(&branches[r].ok, memory_order_relaxed);
        fail = atomic_load_explicit(&branches[r].fail, memory_order_relaxed);
        mr_buf_reset(&lbl);
        mr_buf_adds(&lbl, "model=\"msg\",branchid=\"");
        add_label(&lbl, bid);
        mr_buf_adds(&lbl, "\",branchtype=\"action\"");
        if (ok > 0)
            rc |= mr_buf_addf(out, "dtm_branch_process_total{%s,status=\"ok\"} %ld\n", lbl.p, ok);
        if (fail > 0)
            rc |=
                mr_buf_addf(out, "dtm_branch_process_total{%s,status=\"fail\"} %ld\n", lbl.p, fail);
    }
    mr_buf_release(&lbl);
    return rc;
}

/* render_hists - msgrelay's histograms. */
static int render_hists(struct mr_buf *out)
{
    static const char *const kinds[2] = {"http", "kafka"};
    char lbl[64];
    size_t r;
    int rc = 0;

    rc |= mr_buf_adds(out, "# HELP msgrelay_api_request_duration_seconds API calls, from their "
                           "headers to their answer, by route.\n"
                           "# TYPE msgrelay_api_request_duration_seconds histogram\n");
    for (r = 0; r < MR_ROUTE_COUNT; r++) {
        if (hist_empty(&api_latency[r]))
            continue;
        snprintf(lbl, sizeof(lbl), "route=\"%s\"", route_names[r]);
        rc |= hist_render(out, "msgrelay_api_request_duration_seconds", lbl, &api_latency[r],
                          &api_shape, 0);
    }
    rc |= mr_buf_adds(out, "# HELP msgrelay_delivery_duration_seconds From when a message was due "
                           "(created, plus its delay) to a step's success, by destination kind.\n"
                           "# TYPE msgrelay_delivery_duration_seconds histogram\n");
    for (r = 0; r < 2; r++) {
        snprintf(lbl, sizeof(lbl), "kind=\"%s\"", kinds[r]);
        rc |= hist_render(out, "msgrelay_delivery_duration_seconds", lbl, &delivery_latency[r],
                          &delivery_shape, 0);
    }
    rc |= mr_buf_adds(out, "# HELP msgrelay_message_calls Step calls it took to deliver a message "
                           "(observed when it succeeds).\n"
                           "# TYPE msgrelay_message_calls histogram\n");
    rc |= hist_render(out, "msgrelay_message_calls", "", &msg_calls, &calls_shape, 0);
    return rc;
}

/* proc_stat_fields - fields 14 (utime) to 24 (rss) of /proc/self/stat into @f[14..24]; 0 or -1. */
static int proc_stat_fields(unsigned long long f[25])
{
    char line[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    char *p;
    int k;

    if (fp == NULL)
        return -1;
    p = fgets(line, sizeof(line), fp);
    fclose(fp);
    if (p == NULL || (p = strrchr(line, ')')) == NULL)
        return -1;
    /* after "pid (comm)": field 3 is the state letter, then numbers */
    p += 2;
    for (k = 3; k <= 24; k++) {
        char *end;

        if (k == 3) {
            p = strchr(p, ' ');
            if (p == NULL)
                return -1;
            continue;
        }
        f[k] = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
    }
    return 0;
}

/* boot_time_s - the system's boot time (btime of /proc/stat), or 0. */
static long long boot_time_s(void)
{
    char line[256];
    long long bt = 0;
    FILE *fp = fopen("/proc/stat", "r");

    if (fp == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    }
    fclose(fp);
    return bt;
}

/* open_fds - the descriptors open in this process, or -1. */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* render_process - the standard process_* series, read from /proc/self now. */
static int render_process(struct mr_buf *out)
{
    unsigned long long f[25] = {0};
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    struct rlimit rl;
    long fds = open_fds();
    int rc = 0;

    if (proc_stat_fields(f) == 0 && tck > 0 && page > 0)
        rc |= mr_buf_addf(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total %.2f\n"
            "# HELP process_start_time_seconds Start time of the process since unix epoch in "
            "seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds %.2f\n"
            "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
            "# TYPE process_virtual_memory_bytes gauge\n"
            "process_virtual_memory_bytes %llu\n"
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\n"
            "process_resident_memory_bytes %llu\n",
            (double)(f[14] + f[15]) / (double)tck,
            (double)boot_time_s() + (double)f[22] / (double)tck, f[23],
            f[24] * (unsigned long long)page);
    if (fds >= 0)
        rc |= mr_buf_addf(out,
                          "# HELP process_open_fds Number of open file descriptors.\n"
                          "# TYPE process_open_fds gauge\n"
                          "process_open_fds %ld\n",
                          fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        rc |= mr_buf_addf(out,
                          "# HELP process_max_fds Maximum number of open file descriptors.\n"
                          "# TYPE process_max_fds gauge\n"
                          "process_max_fds %llu\n",
                          (unsigned long long)rl.rlim_cur);
    rc |= mr_buf_adds(out, "# HELP msgrelay_build_info The msgrelay build (always 1).\n"
                           "# TYPE msgrelay_build_info gauge\n"
                           "msgrelay_build_info{version=\"");
    rc |= add_label(out, MR_VERSION);
    rc |= mr_buf_adds(out, "\"} 1\n");
    return rc;
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
    rc |= mr_buf_addf(
        out,
        "# HELP msgrelay_backlog_due Messages due and not leased, as the intake last sampled "
        "them (counted up to a cap past --backlog-max); drives --backlog-max.\n"
        "# TYPE msgrelay_backlog_due gauge\n"
        "msgrelay_backlog_due %ld\n"
        "# HELP msgrelay_backlog_oldest_seconds How long the oldest of them has waited past its "
        "due time (0: none due); drives the intake's waits (--backlog-slow-ms).\n"
        "# TYPE msgrelay_backlog_oldest_seconds gauge\n"
        "msgrelay_backlog_oldest_seconds %.3f\n"
        "# HELP msgrelay_backlog_wait_seconds_total Time the intake waited before its commits "
        "because the backlog's oldest message was older than --backlog-slow-ms.\n"
        "# TYPE msgrelay_backlog_wait_seconds_total counter\n"
        "msgrelay_backlog_wait_seconds_total %.3f\n"
        "# HELP msgrelay_backlog_refused_total Submits answered 503 because the backlog was "
        "over --backlog-max.\n"
        "# TYPE msgrelay_backlog_refused_total counter\n"
        "msgrelay_backlog_refused_total %ld\n",
        atomic_load_explicit(&backlog, memory_order_relaxed), backlog_age_s(),
        (double)atomic_load_explicit(&backlog_wait_ms, memory_order_relaxed) / 1000.0,
        atomic_load_explicit(&backlog_refused, memory_order_relaxed));
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
    rc |= mr_buf_addf(
        out,
        "# HELP msgrelay_store_conflicts_total Store transactions the database aborted for a "
        "conflict (a deadlock, or a cluster's brute-force abort or certification failure), "
        "retried.\n"
        "# TYPE msgrelay_store_conflicts_total counter\n"
        "msgrelay_store_conflicts_total %ld\n"
        "# HELP msgrelay_store_failovers_total Store connections made to another host of the "
        "store URI than the one used before (a node went away, or the preferred one came back).\n"
        "# TYPE msgrelay_store_failovers_total counter\n"
        "msgrelay_store_failovers_total %ld\n",
        atomic_load_explicit(&store_conflicts, memory_order_relaxed),
        atomic_load_explicit(&store_failovers, memory_order_relaxed));
    rc |= render_hists(out);
    rc |= render_dtm(out);
    rc |= render_process(out);
    return rc ? MR_ETOOBIG : 0;
}
