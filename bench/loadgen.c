/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c - the benchmark's load generator: many concurrent keep-alive
 * connections sending unique messages to msgrelay, each with one HTTP step to
 * the bench sink.
 *
 *   msgrelay-bench-loadgen --api URL --sink URL [--mode submit|prepare]
 *       [--count N] [--concurrency C] [--run ID] [--relay-pid PID] [--drain S]
 *
 * submit mode sends one submit per message; prepare mode a prepare then a
 * submit. It prints messages accepted per second, delivered per second,
 * p50/p99 API latency, p50/p99 submit-to-delivery latency (from the sink), the
 * relay's peak RSS and CPU seconds, and checks that delivered equals accepted
 * after the drain. One thread, one libcurl multi handle. Exit 0 when every
 * accepted message was delivered, 1 otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

struct slot {
    CURL *h;
    long msg;       /* message index, -1 when idle */
    int phase;      /* 0: prepare (prepare mode), 1: submit */
    int64_t t0;     /* µs when this call started */
    char body[512];
    char url[256];
};

struct cfg {
    const char *api;
    const char *sink;
    int prepare_mode;
    long count;
    int conc;
    const char *run;
    long relay_pid;
    int drain_s;
};

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a;
    int32_t y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* start - begin the next call of @s. */
static void start(CURLM *m, struct slot *s, const struct cfg *c)
{
    const char *route = (c->prepare_mode && s->phase == 0) ? "prepare" : "submit";

    s->t0 = mono_us();
    snprintf(s->url, sizeof(s->url), "%s/%s", c->api, route);
    snprintf(s->body, sizeof(s->body),
             "{\"gid\":\"b%s-%ld\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"%s/step\"}],"
             "\"payloads\":[\"{\\\"t\\\":%lld}\"],\"query_prepared\":\"%s/qp\"}",
             c->run, s->msg, c->sink, (long long)s->t0, c->sink);
    curl_easy_setopt(s->h, CURLOPT_URL, s->url);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
    curl_multi_add_handle(m, s->h);
}

/* proc_stats - the relay's peak RSS (kB) and CPU seconds, from /proc. */
static void proc_stats(long pid, long *hwm_kb, double *cpu_s)
{
    char path[64];
    char line[512];
    FILE *f;

    *hwm_kb = -1;
    *cpu_s = -1;
    if (pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "VmHWM:", 6) == 0)
                *hwm_kb = atol(line + 6);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(line, sizeof(line), f) != NULL) {
            char *p = strrchr(line, ')');
            unsigned long ut = 0;
            unsigned long st = 0;

            /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
            if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                                    &ut, &st) == 2)
                *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
}

/* sink_stats - ask the sink how much arrived. */
static int sink_stats(const struct cfg *c, long *delivered, long *dups, long *p50, long *p99)
{
    char url[256];
    char buf[512] = "";
    FILE *mem = fmemopen(buf, sizeof(buf) - 1, "w");
    CURL *h = curl_easy_init();
    CURLcode rc;

    snprintf(url, sizeof(url), "%s/stats", c->sink);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    fclose(mem);
    if (rc != CURLE_OK)
        return -1;
    if (sscanf(buf, "{\"delivered\":%ld,\"duplicates\":%ld,\"p50_us\":%ld,\"p99_us\":%ld}",
               delivered, dups, p50, p99) != 4)
        return -1;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: loadgen --api URL --sink URL [--mode submit|prepare] [--count N]\n"
                    "               [--concurrency C] [--run ID] [--relay-pid PID] [--drain S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct cfg c = {NULL, NULL, 0, 100000, 64, "0", 0, 120};
    struct curl_slist *hdrs = NULL;
    struct slot *slots;
    int32_t *lat;
    long nlat = 0;
    long next = 0;
    long accepted = 0;
    long errors = 0;
    long delivered = 0, dups = 0, d50 = 0, d99 = 0;
    int64_t t_start, t_load, t_drain;
    long hwm;
    double cpu0, cpu1;
    CURLM *m;
    int i;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--api") == 0)
            c.api = argv[i + 1];
        else if (strcmp(argv[i], "--sink") == 0)
            c.sink = argv[i + 1];
        else if (strcmp(argv[i], "--mode") == 0)
            c.prepare_mode = strcmp(argv[i + 1], "prepare") == 0;
        else if (strcmp(argv[i], "--count") == 0)
            c.count = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--concurrency") == 0)
            c.conc = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--run") == 0)
            c.run = argv[i + 1];
        else if (strcmp(argv[i], "--relay-pid") == 0)
            c.relay_pid = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--drain") == 0)
            c.drain_s = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (i != argc || c.api == NULL || c.sink == NULL || c.count <= 0 || c.conc <= 0)
        return usage();

    curl_global_init(CURL_GLOBAL_DEFAULT);
    m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c.conc);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    slots = calloc((size_t)c.conc, sizeof(*slots));
    lat = malloc(sizeof(*lat) * (size_t)c.count * 2);
    if (slots == NULL || lat == NULL)
        return 1;
    proc_stats(c.relay_pid, &hwm, &cpu0);

    t_start = mono_us();
    for (i = 0; i < c.conc; i++) {
        struct slot *s = &slots[i];

        s->h = curl_easy_init();
        curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(s->h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
        s->msg = -1;
        if (next < c.count) {
            s->msg = next++;
            s->phase = 0;
            start(m, s, &c);
        }
    }
    for (;;) {
        int running = 0;
        int left;
        CURLMsg *msg;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            struct slot *s;
            long status = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(m, s->h);
            lat[nlat++] = (int32_t)(mono_us() - s->t0);
            if (msg->data.result != CURLE_OK || status != 200) {
                errors++;
                if (errors <= 5)
                    fprintf(stderr, "loadgen: b%s-%ld: %s, HTTP %ld\n", c.run, s->msg,
                            curl_easy_strerror(msg->data.result), status);
                s->phase = 2; /* give the message up */
            } else if (c.prepare_mode && s->phase == 0) {
                s->phase = 1;
                start(m, s, &c);
                continue;
            } else {
                accepted++;
            }
            s->msg = -1;
            if (next < c.count) {
                s->msg = next++;
                s->phase = 0;
                start(m, s, &c);
            }
        }
        if (running == 0 && next >= c.count)
            break;
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    t_load = mono_us();

    /* drain: wait until the sink has seen every accepted message */
    t_drain = t_load;
    for (;;) {
        long p50, p99;

        if (sink_stats(&c, &delivered, &dups, &p50, &p99) == 0) {
            d50 = p50;
            d99 = p99;
            if (delivered >= accepted) {
                t_drain = mono_us();
                break;
            }
        }
        if (mono_us() - t_load > (int64_t)c.drain_s * 1000000) {
            t_drain = mono_us();
            break;
        }
        usleep(20000);
    }
    proc_stats(c.relay_pid, &hwm, &cpu1);
    qsort(lat, (size_t)nlat, sizeof(*lat), cmp_i32);

    {
        double load_s = (double)(t_load - t_start) / 1e6;
        double all_s = (double)(t_drain - t_start) / 1e6;

        printf("mode                      %s\n", c.prepare_mode ? "prepare+submit" : "submit");
        printf("messages                  %ld sent, %ld accepted, %ld refused\n", c.count,
               accepted, errors);
        printf("concurrency               %d connections\n", c.conc);
        printf("accepted per second       %.0f (%.2f s)\n", (double)accepted / load_s, load_s);
        printf("delivered per second      %.0f (%.2f s to deliver all)\n",
               (double)delivered / all_s, all_s);
        printf("API latency p50 / p99     %.2f / %.2f ms\n",
               nlat ? lat[nlat / 2] / 1000.0 : 0.0,
               nlat ? lat[(long)((double)nlat * 0.99)] / 1000.0 : 0.0);
        printf("submit-to-delivery p50/p99 %.0f / %.0f ms (1 ms buckets)\n", d50 / 1000.0,
               d99 / 1000.0);
        if (c.relay_pid > 0)
            printf("relay peak RSS / CPU      %.1f MB / %.2f s\n", (double)hwm / 1024.0,
                   cpu1 - cpu0);
        printf("duplicates at the sink    %ld\n", dups);
        printf("bench: %s: delivered %ld of %ld accepted\n",
               delivered == accepted ? "OK" : "MISSING", delivered, accepted);
    }

    for (i = 0; i < c.conc; i++)
        curl_easy_cleanup(slots[i].h);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    free(slots);
    free(lat);
    return delivered == accepted ? 0 : 1;
}
