/* SPDX-License-Identifier: MIT */
/*
 * sink.c - the benchmark's fast HTTP sink: counts the step calls it receives.
 *
 *   msgrelay-bench-sink PORT MAX_MESSAGES
 *
 * Answers every POST with 200 {"dtm_result":"SUCCESS"}. The step's gid is
 * "b<run>-<n>"; n marks a bitmap so unique deliveries and duplicates are told
 * apart. The payload {"t":<CLOCK_MONOTONIC µs at submit>} gives the
 * submit-to-delivery latency, kept in a histogram (CLOCK_MONOTONIC is
 * system-wide on Linux, so the load generator's clock is ours).
 * GET /stats answers {"delivered":U,"duplicates":D,"p50_us":…,"p99_us":…}.
 * Runs libmicrohttpd's thread pool; counters are atomics. Exits on SIGTERM.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define NBUCKETS 4096 /* latency histogram: 1 ms buckets up to ~4 s, last bucket = more */

static atomic_uchar *seen;
static long max_messages;
static atomic_long delivered;
static atomic_long duplicates;
static atomic_long hist[NBUCKETS];

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* percentile - the bucket (in µs) below which @q of the samples lie. */
static long percentile(double q)
{
    long total = 0;
    long acc = 0;
    int i;

    for (i = 0; i < NBUCKETS; i++)
        total += atomic_load(&hist[i]);
    if (total == 0)
        return 0;
    for (i = 0; i < NBUCKETS; i++) {
        acc += atomic_load(&hist[i]);
        if ((double)acc >= q * (double)total)
            return (long)(i + 1) * 1000;
    }
    return NBUCKETS * 1000L;
}

/* count - take in one delivery of @gid with body @body. */
static void count(const char *gid, const char *body)
{
    const char *dash = gid ? strrchr(gid, '-') : NULL;
    const char *t = body ? strstr(body, "\"t\":") : NULL;
    long n;

    if (dash == NULL)
        return;
    n = strtol(dash + 1, NULL, 10);
    if (n < 0 || n >= max_messages)
        return;
    if (atomic_exchange(&seen[n], 1)) {
        atomic_fetch_add(&duplicates, 1);
        return;
    }
    atomic_fetch_add(&delivered, 1);
    if (t != NULL) {
        int64_t lat = mono_us() - strtoll(t + 4, NULL, 10);
        long b = lat < 0 ? 0 : (long)(lat / 1000);

        atomic_fetch_add(&hist[b < NBUCKETS ? b : NBUCKETS - 1], 1);
    }
}

struct body {
    char buf[512];
    size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **ctx)
{
    struct body *b = *ctx;
    char stats[256];

    (void)cls;
    (void)version;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *ctx = b;
        return MHD_YES;
    }
    if (*size) {
        size_t n = *size < sizeof(b->buf) - 1 - b->len ? *size : sizeof(b->buf) - 1 - b->len;

        memcpy(b->buf + b->len, data, n);
        b->len += n;
        b->buf[b->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/stats") == 0) {
        snprintf(stats, sizeof(stats),
                 "{\"delivered\":%ld,\"duplicates\":%ld,\"p50_us\":%ld,\"p99_us\":%ld}",
                 atomic_load(&delivered), atomic_load(&duplicates), percentile(0.5),
                 percentile(0.99));
        return reply(c, stats);
    }
    count(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "gid"), b->buf);
    return reply(c, "{\"dtm_result\":\"SUCCESS\"}");
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*ctx);
    *ctx = NULL;
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    sigset_t set;
    int sig;

    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT MAX_MESSAGES\n", argv[0]);
        return 2;
    }
    max_messages = atol(argv[2]);
    if (max_messages <= 0) {
        fprintf(stderr, "sink: MAX_MESSAGES must be positive\n");
        return 2;
    }
    seen = calloc((size_t)max_messages, 1);
    if (seen == NULL)
        return 1;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)atoi(argv[1]),
                         NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE, 2U,
                         MHD_OPTION_CONNECTION_LIMIT, 4096U, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                         NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "sink: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    free(seen);
    return 0;
}
