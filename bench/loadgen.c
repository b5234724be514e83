/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c - the benchmark's load generator: many concurrent keep-alive
 * connections sending unique messages to msgrelay, each with one HTTP step to
 * the bench sink.
 *
 *   msgrelay-bench-loadgen --api URL --sink URL [--mode submit|prepare]
 *       [--count N] [--concurrency C] [--run ID] [--relay-pid PID] [--drain S]
 *       [--duration S] [--keys K]
 *
 * submit mode sends one submit per message; prepare mode a prepare then a
 * submit. --count N sends N messages; --duration S (the sustained overload)
 * sends for S seconds as fast as the connections allow (a closed loop: each
 * connection sends its next call when the last is answered), N at most.
 * With --keys K, message i carries the ordering key "k<i mod K>" (ordered
 * delivery per key).
 *
 * It prints messages accepted per second; delivered per second while the
 * load ran (what the sink had when the last answer came), after it (until
 * the sink has them all, or --drain S ran out) and over the whole run, and
 * the share delivered during the load of what was accepted then; p50/p99 API
 * latency; p50/p99/max submit-to-delivery lag (from the sink: the payload
 * carries the submit's CLOCK_MONOTONIC µs, so the lag runs from the request
 * that had the message accepted); the relay's peak RSS (VmHWM), its RSS once
 * the load has drained and the relay has sat idle (VmRSS, read until it stops
 * falling, IDLE_WAIT_S at most) and its CPU seconds; duplicates at the sink;
 * its own CPU seconds. Last, one line a script can parse:
 * "BENCH key=value ..." (the keys are those of the report). Exit 0 when every
 * accepted message was delivered, 1 otherwise.
 *
 * The load itself goes through a small HTTP/1.1 client of its own, so that the
 * generator takes as little CPU as it can from the system under test (they
 * share the cores): one thread, one epoll instance, one non-blocking
 * keep-alive connection per concurrent call, one request at a time on each,
 * answers framed by Content-Length (or by the end of the connection). It
 * behaves like the libcurl multi handle it replaces: a call that fails or is
 * not answered 200 within 30 s counts as refused (errors are named with
 * libcurl's texts); a reused connection found dead before any byte of the
 * answer is reconnected and the request sent once more; "Connection: close"
 * or the end of the connection means a new connection for the next call.
 * The sink's /stats, polled during the drain, still goes through libcurl.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench/http1.h"

#define HEAD_MAX    (16 * 1024)   /* an answer's status line and headers */
#define BODY_MAX    (1024 * 1024) /* an answer's Content-Length */
#define CALL_TMO_US (30 * 1000000LL)

enum conn_state {
    C_NONE,       /* no connection */
    C_IDLE,       /* connected, no call on it */
    C_CONNECTING, /* connect() in progress */
    C_SENDING,    /* request not all written yet */
    C_READING,    /* waiting for (the rest of) the answer */
};

struct slot {
    long msg;    /* message index, -1 when idle */
    int phase;   /* 0: prepare (prepare mode), 1: submit */
    int64_t t0;  /* µs when this call started */
    char body[512];
    /* the connection */
    int fd;
    uint32_t gen;   /* bumped per connection: tells stale epoll events apart */
    int state;      /* enum conn_state */
    int reused;     /* this connection has carried an answer already */
    int want_out;   /* EPOLLOUT is in the epoll set */
    /* the call */
    int retried;    /* sent once more on a fresh connection already */
    int got_any;    /* a byte of the answer arrived */
    long status;    /* the answer's status, 0 until its head is read */
    int in_body;    /* head read, body_left bytes of body to skip */
    long body_left; /* -1: until the connection ends */
    int close_after;
    char *req;
    size_t req_len, req_off;
    char *in; /* HEAD_MAX bytes */
    size_t in_len, scan;
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
    long keys; /* > 0: message i carries ordering_key "k<i % keys>" */
    int duration_s; /* > 0: send for this long (count is then a cap) */
};

/* where the calls go: --api parsed once */
struct target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int resolved;
    char prefix[2][768]; /* request line and headers up to "Content-Length: " */
    size_t prefix_len[2];
};

struct gen {
    const struct cfg *c;
    struct target t;
    struct slot *slots;
    int ep;
    int *ready; /* slots whose next call is to be started */
    int nready;
    int32_t *lat;
    long nlat;
    long lat_cap;
    int64_t t_end; /* --duration: no new message from then on; 0: none */
    long next;
    long accepted;
    long errors;
    long active;
};

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a;
    int32_t y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* target_init - parse http://HOST[:PORT]/PATH of --api and resolve HOST once. */
static int target_init(struct target *t, const char *api)
{
    static const char *const route[2] = {"prepare", "submit"};
    const char *p = api;
    const char *host, *host_end, *slash;
    char hostname[256], port[16] = "80", hostport[300];
    struct addrinfo hints, *res = NULL;
    int i;

    if (strncasecmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    if ((size_t)(slash - p) >= sizeof(hostport) || slash == p)
        return -1;
    memcpy(hostport, p, (size_t)(slash - p));
    hostport[slash - p] = '\0';
    host = hostport;
    if (*host == '[') { /* [v6]:port */
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return -1;
        host++;
        p = host_end + 1;
    } else {
        host_end = strchr(host, ':');
        if (host_end == NULL)
            host_end = host + strlen(host);
        p = host_end;
    }
    if ((size_t)(host_end - host) >= sizeof(hostname))
        return -1;
    memcpy(hostname, host, (size_t)(host_end - host));
    hostname[host_end - host] = '\0';
    if (*p == ':') {
        if (strlen(p + 1) == 0 || strlen(p + 1) >= sizeof(port) ||
            strspn(p + 1, "0123456789") != strlen(p + 1))
            return -1;
        strcpy(port, p + 1);
    } else if (*p != '\0') {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        int n = snprintf(t->prefix[i], sizeof(t->prefix[i]),
                         "POST %s/%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n"
                         "Content-Type: application/json\r\nContent-Length: ",
                         slash, route[i], hostport);

        if (n < 0 || (size_t)n >= sizeof(t->prefix[i]))
            return -1;
        t->prefix_len[i] = (size_t)n;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(hostname, port, &hints, &res) == 0 && res != NULL &&
        res->ai_addrlen <= sizeof(t->addr)) {
        memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
        t->addrlen = res->ai_addrlen;
        t->resolved = 1;
    }
    if (res != NULL)
        freeaddrinfo(res);
    return 0;
}

static void watch(struct gen *g, struct slot *s, int op, int out)
{
    struct epoll_event ev;

    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)(s - g->slots);
    if (epoll_ctl(g->ep, op, s->fd, &ev) != 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    s->want_out = out;
}

static void conn_close(struct slot *s)
{
    if (s->fd >= 0)
        close(s->fd); /* leaves the epoll set with it */
    s->fd = -1;
    s->state = C_NONE;
    s->reused = 0;
    s->want_out = 0;
}

static void push_ready(struct gen *g, struct slot *s)
{
    g->ready[g->nready++] = (int)(s - g->slots);
}

/* finish - the call on @s is over: count it and queue the next one. */
static void finish(struct gen *g, struct slot *s, CURLcode rc, long status)
{
    const struct cfg *c = g->c;

    int64_t now = mono_us();

    if (g->nlat == g->lat_cap) {
        int32_t *v = realloc(g->lat, sizeof(*v) * (size_t)g->lat_cap * 2);

        if (v == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(1);
        }
        g->lat = v;
        g->lat_cap *= 2;
    }
    g->lat[g->nlat++] = (int32_t)(now - s->t0);
    if (rc != CURLE_OK || status != 200) {
        g->errors++;
        if (g->errors <= 5)
            fprintf(stderr, "loadgen: b%s-%ld: %s, HTTP %ld\n", c->run, s->msg,
                    curl_easy_strerror(rc), status);
        s->phase = 2; /* give the message up */
    } else if (c->prepare_mode && s->phase == 0) {
        s->phase = 1;
        push_ready(g, s);
        return;
    } else {
        g->accepted++;
    }
    s->msg = -1;
    g->active--;
    if (g->next < c->count && (g->t_end == 0 || now < g->t_end)) {
        s->msg = g->next++;
        s->phase = 0;
        g->active++;
        push_ready(g, s);
    }
}

static void send_call(struct gen *g, struct slot *s);

/* fail - the call on @s broke with @rc; like libcurl, a reused connection
 * that died before any byte of the answer gets the request once more on a
 * fresh one. */
static void fail(struct gen *g, struct slot *s, CURLcode rc)
{
    int again = s->reused && !s->got_any && !s->retried;

    conn_close(s);
    if (again) {
        s->retried = 1;
        send_call(g, s);
        return;
    }
    finish(g, s, rc, s->status);
}

/* done - the answer is in: keep the connection for the next call, or not. */
static void done(struct gen *g, struct slot *s)
{
    /* in_len: bytes beyond the answer; req_off: answered before it was all sent */
    if (s->close_after || s->in_len > 0 || s->req_off < s->req_len) {
        conn_close(s);
    } else {
        s->state = C_IDLE;
        s->reused = 1;
    }
    finish(g, s, CURLE_OK, s->status);
}

static void do_write(struct gen *g, struct slot *s)
{
    while (s->req_off < s->req_len) {
        ssize_t n = send(s->fd, s->req + s->req_off, s->req_len - s->req_off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!s->want_out)
                    watch(g, s, EPOLL_CTL_MOD, 1);
                return;
            }
            fail(g, s, CURLE_SEND_ERROR);
            return;
        }
        s->req_off += (size_t)n;
    }
    s->state = C_READING;
    if (s->want_out)
        watch(g, s, EPOLL_CTL_MOD, 0);
}

/* send_call - write the request of @s, on its connection or a new one. */
static void send_call(struct gen *g, struct slot *s)
{
    s->got_any = 0;
    s->status = 0;
    s->in_body = 0;
    s->close_after = 0;
    s->in_len = 0;
    s->scan = 0;
    s->req_off = 0;
    if (s->fd < 0) {
        int one = 1;

        if (!g->t.resolved) {
            finish(g, s, CURLE_COULDNT_RESOLVE_HOST, 0);
            return;
        }
        s->fd = socket(g->t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
            finish(g, s, CURLE_COULDNT_CONNECT, 0);
            return;
        }
        setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        s->gen++;
        s->reused = 0;
        if (connect(s->fd, (struct sockaddr *)&g->t.addr, g->t.addrlen) != 0 &&
            errno != EINPROGRESS) {
            conn_close(s);
            finish(g, s, CURLE_COULDNT_CONNECT, 0);
            return;
        }
        s->state = C_CONNECTING;
        watch(g, s, EPOLL_CTL_ADD, 1);
        return; /* writable once connected */
    }
    s->state = C_SENDING;
    do_write(g, s);
}

/* start - begin the next call of @s. */
static void start(struct gen *g, struct slot *s)
{
    const struct cfg *c = g->c;
    int route = (c->prepare_mode && s->phase == 0) ? 0 : 1;
    char key[48];
    size_t blen;
    int n;

    s->t0 = mono_us();
    key[0] = '\0';
    if (c->keys > 0)
        snprintf(key, sizeof(key), ",\"ordering_key\":\"k%ld\"", s->msg % c->keys);
    snprintf(s->body, sizeof(s->body),
             "{\"gid\":\"b%s-%ld\",\"trans_type\":\"msg\",\"steps\":[{\"action\":\"%s/step\"}],"
             "\"payloads\":[\"{\\\"t\\\":%lld}\"],\"query_prepared\":\"%s/qp\"%s}",
             c->run, s->msg, c->sink, (long long)s->t0, c->sink, key);
    blen = strlen(s->body);
    memcpy(s->req, g->t.prefix[route], g->t.prefix_len[route]);
    n = sprintf(s->req + g->t.prefix_len[route], "%zu\r\n\r\n", blen);
    memcpy(s->req + g->t.prefix_len[route] + (size_t)n, s->body, blen);
    s->req_len = g->t.prefix_len[route] + (size_t)n + blen;
    s->retried = 0;
    send_call(g, s);
}

/* parse_head - the status line and headers in s->in[0, hlen): 0, or a libcurl error. */
static CURLcode parse_head(struct slot *s, size_t hlen)
{
    const char *p = s->in;
    const char *end = s->in + hlen;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *name, *v, *ve;
    size_t nlen;
    int minor, r;
    long cl = -1;
    int te = 0, conn = 0;

    /* HTTP/1.x SSS[ reason] */
    if (eol == NULL || eol - p < 5 || memcmp(p, "HTTP/", 5) != 0)
        return CURLE_UNSUPPORTED_PROTOCOL; /* as libcurl names an HTTP/0.9 answer */
    if (eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9' || (eol - p > 12 && p[12] != ' ' && p[12] != '\r'))
        return CURLE_WEIRD_SERVER_REPLY;
    minor = p[7] - '0';
    s->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    p = eol + 1;
    while ((r = http1_next_field(&p, end, &name, &nlen, &v, &ve)) != 0) {
        if (r < 0)
            continue; /* no ':' */
        if (http1_name_is(name, nlen, "Content-Length")) {
            if (http1_content_length(v, ve, BODY_MAX, &cl) != 0)
                return CURLE_WEIRD_SERVER_REPLY;
        } else if (http1_name_is(name, nlen, "Transfer-Encoding")) {
            te = 1;
        } else if (http1_name_is(name, nlen, "Connection")) {
            conn |= http1_connection(v, ve);
        }
    }
    if (te)
        return CURLE_WEIRD_SERVER_REPLY; /* msgrelay frames every answer by length */
    if ((conn & HTTP1_CLOSE) || (minor == 0 && !(conn & HTTP1_KEEP_ALIVE)))
        s->close_after = 1;
    if (s->status < 200 || s->status == 204 || s->status == 304)
        s->body_left = 0;
    else if (cl >= 0)
        s->body_left = cl;
    else {
        s->body_left = -1; /* to the end of the connection */
        s->close_after = 1;
    }
    return CURLE_OK;
}

/* take_in - consume what s->in holds: the answer's head, then its body.
 * Returns 1 when the answer is complete, 0 when more is needed, -1 on a
 * failure (handled). */
static int take_in(struct gen *g, struct slot *s)
{
    for (;;) {
        if (s->in_body) {
            size_t n;

            if (s->body_left < 0) { /* until EOF */
                s->in_len = 0;
                return 0;
            }
            n = s->in_len < (size_t)s->body_left ? s->in_len : (size_t)s->body_left;
            s->body_left -= (long)n;
            memmove(s->in, s->in + n, s->in_len - n);
            s->in_len -= n;
            return s->body_left == 0 ? 1 : 0;
        } else {
            char *e = NULL;
            size_t from = s->scan > 3 ? s->scan - 3 : 0;
            size_t hlen;
            CURLcode rc;

            if (s->in_len >= 4)
                e = memmem(s->in + from, s->in_len - from, "\r\n\r\n", 4);
            if (e == NULL) {
                if (s->in_len >= HEAD_MAX) {
                    fail(g, s, CURLE_WEIRD_SERVER_REPLY);
                    return -1;
                }
                s->scan = s->in_len;
                return 0;
            }
            hlen = (size_t)(e - s->in) + 4;
            rc = parse_head(s, hlen);
            if (rc != CURLE_OK) {
                fail(g, s, rc);
                return -1;
            }
            memmove(s->in, s->in + hlen, s->in_len - hlen);
            s->in_len -= hlen;
            s->scan = 0;
            if (s->status < 200) {
                if (s->status == 101) {
                    fail(g, s, CURLE_WEIRD_SERVER_REPLY);
                    return -1;
                }
                s->status = 0; /* 1xx: the real answer follows */
                s->close_after = 0;
                continue;
            }
            s->in_body = 1;
        }
    }
}

static void do_read(struct gen *g, struct slot *s)
{
    ssize_t n;
    int r;

    if (s->in_body && s->in_len > 0) /* defensive: body bytes are skipped as they come */
        s->in_len = 0;
    n = recv(s->fd, s->in + s->in_len, HEAD_MAX - s->in_len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        fail(g, s, s->got_any ? CURLE_RECV_ERROR : CURLE_GOT_NOTHING);
        return;
    }
    if (n == 0) {
        if (s->in_body && s->body_left < 0) {
            s->close_after = 1;
            done(g, s);
        } else if (!s->got_any) {
            fail(g, s, CURLE_GOT_NOTHING);
        } else {
            fail(g, s, s->in_body ? CURLE_PARTIAL_FILE : CURLE_RECV_ERROR);
        }
        return;
    }
    s->got_any = 1;
    s->in_len += (size_t)n;
    r = take_in(g, s);
    if (r == 1)
        done(g, s);
}

static void on_event(struct gen *g, struct slot *s, uint32_t ev)
{
    switch (s->state) {
    case C_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            fail(g, s, CURLE_COULDNT_CONNECT);
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        s->state = C_SENDING;
        do_write(g, s);
        return;
    }
    case C_SENDING: {
        uint32_t gen = s->gen;

        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            do_write(g, s);
        /* an early answer (or the end) before the request is all out */
        if (s->gen == gen && s->fd >= 0 && s->state == C_SENDING && (ev & (EPOLLIN | EPOLLHUP)))
            do_read(g, s);
        return;
    }
    case C_READING:
        do_read(g, s);
        return;
    case C_IDLE: { /* the server closed a spare connection, or says something unasked */
        char b[64];
        ssize_t n = recv(s->fd, b, sizeof(b), 0);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        conn_close(s);
        return;
    }
    default:
        return;
    }
}

/* check_timeouts - calls older than 30 s fail (libcurl's CURLOPT_TIMEOUT). */
static void check_timeouts(struct gen *g, int64_t now)
{
    int i;

    for (i = 0; i < g->c->conc; i++) {
        struct slot *s = &g->slots[i];

        if (s->msg >= 0 && s->state >= C_CONNECTING && now - s->t0 > CALL_TMO_US) {
            s->retried = 1; /* no second chance past the deadline */
            fail(g, s, CURLE_OPERATION_TIMEDOUT);
        }
    }
}

/* proc_stats - the relay's peak and current RSS (kB) and CPU seconds, from /proc. */
static void proc_stats(long pid, long *hwm_kb, long *rss_kb, double *cpu_s)
{
    char path[64];
    char line[512];
    FILE *f;

    *hwm_kb = -1;
    *rss_kb = -1;
    *cpu_s = -1;
    if (pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "VmHWM:", 6) == 0)
                *hwm_kb = atol(line + 6);
            else if (strncmp(line, "VmRSS:", 6) == 0)
                *rss_kb = atol(line + 6);
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

/* How long the relay's idle RSS is watched after the drain: at least, at most (s). */
#define IDLE_MIN_S 3
#define IDLE_WAIT_S 5

/*
 * idle_rss - the relay's VmRSS (kB) once it has gone idle: read every 100 ms
 * until it has fallen and then held for a second, IDLE_MIN_S at least (the
 * relay thread gives memory back 2 s after its work stops, the intake's
 * writer 2 s after its own, which may come first), IDLE_WAIT_S at most.
 * @rss_kb: the reading at the drain.
 */
static long idle_rss(long pid, long rss_kb)
{
    long first = rss_kb;
    long last = rss_kb;
    int steady = 0;
    int i;

    for (i = 0; i < IDLE_WAIT_S * 10 && pid > 0; i++) {
        long hwm, rss;
        double cpu;

        usleep(100000);
        proc_stats(pid, &hwm, &rss, &cpu);
        if (rss < 0)
            break;
        steady = rss == last ? steady + 1 : 0;
        last = rss;
        if (last < first && steady >= 10 && i + 1 >= IDLE_MIN_S * 10)
            break;
    }
    return last;
}

/* What the sink has seen (its GET /stats); lags in µs. */
struct sink_seen {
    long delivered, dups, p50, p99, max;
};

/* sink_stats - ask the sink how much arrived (@h: one handle, kept alive between polls). */
static int sink_stats(CURL *h, const struct cfg *c, struct sink_seen *st)
{
    char url[256];
    char buf[512] = "";
    FILE *mem = fmemopen(buf, sizeof(buf) - 1, "w");
    CURLcode rc;

    if (mem == NULL)
        return -1;
    snprintf(url, sizeof(url), "%s/stats", c->sink);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    rc = curl_easy_perform(h);
    fclose(mem);
    if (rc != CURLE_OK)
        return -1;
    if (sscanf(buf,
               "{\"delivered\":%ld,\"duplicates\":%ld,\"p50_us\":%ld,\"p99_us\":%ld,"
               "\"max_us\":%ld}",
               &st->delivered, &st->dups, &st->p50, &st->p99, &st->max) != 5)
        return -1;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: loadgen --api URL --sink URL [--mode submit|prepare] [--count N]\n"
                    "               [--concurrency C] [--run ID] [--relay-pid PID] [--drain S]\n"
                    "               [--duration S] [--keys K]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct cfg c = {NULL, NULL, 0, 100000, 64, "0", 0, 120, 0, 0};
    static struct gen g;
    struct epoll_event evs[256];
    struct sink_seen at_load = {0, 0, 0, 0, 0}, seen = {0, 0, 0, 0, 0};
    int64_t t_start, t_load, t_drain, t_check;
    long hwm, rss;
    double cpu0, cpu1;
    struct rusage ru;
    CURL *stats_h;
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
        else if (strcmp(argv[i], "--keys") == 0)
            c.keys = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--duration") == 0)
            c.duration_s = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (i != argc || c.api == NULL || c.sink == NULL || c.count <= 0 || c.conc <= 0)
        return usage();
    if (target_init(&g.t, c.api) != 0) {
        fprintf(stderr, "loadgen: --api: only http://HOST[:PORT]/PATH is supported\n");
        return usage();
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    g.c = &c;
    g.slots = calloc((size_t)c.conc, sizeof(*g.slots));
    g.ready = malloc(sizeof(*g.ready) * (size_t)c.conc);
    g.lat_cap = 65536;
    g.lat = malloc(sizeof(*g.lat) * (size_t)g.lat_cap);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.slots == NULL || g.ready == NULL || g.lat == NULL || g.ep < 0)
        return 1;
    for (i = 0; i < c.conc; i++) {
        struct slot *s = &g.slots[i];

        s->fd = -1;
        s->msg = -1;
        s->req = malloc(g.t.prefix_len[0] + g.t.prefix_len[1] + sizeof(s->body) + 32);
        s->in = malloc(HEAD_MAX);
        if (s->req == NULL || s->in == NULL)
            return 1;
    }
    proc_stats(c.relay_pid, &hwm, &rss, &cpu0);

    t_start = mono_us();
    t_check = t_start;
    if (c.duration_s > 0)
        g.t_end = t_start + (int64_t)c.duration_s * 1000000;
    for (i = 0; i < c.conc; i++) {
        struct slot *s = &g.slots[i];

        if (g.next < c.count) {
            s->msg = g.next++;
            s->phase = 0;
            g.active++;
            push_ready(&g, s);
        }
    }
    for (;;) {
        int64_t now;
        int n;

        while (g.nready > 0)
            start(&g, &g.slots[g.ready[--g.nready]]);
        if (g.active == 0) /* finish() starts no message past --count or --duration */
            break;
        n = epoll_wait(g.ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), 100);
        if (n < 0 && errno != EINTR) {
            perror("loadgen: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            struct slot *s = &g.slots[(uint32_t)evs[i].data.u64];

            if ((uint32_t)(evs[i].data.u64 >> 32) != s->gen || s->fd < 0)
                continue; /* an event of a connection closed meanwhile */
            on_event(&g, s, evs[i].events);
        }
        now = mono_us();
        if (now - t_check >= 100000) {
            t_check = now;
            check_timeouts(&g, now);
        }
    }
    t_load = mono_us();
    for (i = 0; i < c.conc; i++)
        conn_close(&g.slots[i]);

    /* what reached the sink while the load ran, then the drain: until it has them all */
    stats_h = curl_easy_init();
    if (stats_h == NULL)
        return 1;
    if (sink_stats(stats_h, &c, &at_load) != 0)
        fprintf(stderr, "loadgen: the sink's /stats did not answer at the end of the load\n");
    seen = at_load;
    t_drain = t_load;
    while (seen.delivered < g.accepted && mono_us() - t_load <= (int64_t)c.drain_s * 1000000) {
        usleep(20000);
        sink_stats(stats_h, &c, &seen); /* a failed poll keeps the last figures */
    }
    t_drain = mono_us();
    curl_easy_cleanup(stats_h);
    proc_stats(c.relay_pid, &hwm, &rss, &cpu1);
    rss = idle_rss(c.relay_pid, rss);
    qsort(g.lat, (size_t)g.nlat, sizeof(*g.lat), cmp_i32);

    {
        double load_s = (double)(t_load - t_start) / 1e6;
        double after_s = (double)(t_drain - t_load) / 1e6;
        double all_s = (double)(t_drain - t_start) / 1e6;
        double acc_ps = (double)g.accepted / load_s;
        double during_ps = (double)at_load.delivered / load_s;
        double after_ps = after_s > 0 ? (double)(seen.delivered - at_load.delivered) / after_s : 0;
        double keep_up = g.accepted > 0 ? (double)at_load.delivered / (double)g.accepted : 0;
        double api50 = g.nlat ? g.lat[g.nlat / 2] / 1000.0 : 0.0;
        double api99 = g.nlat ? g.lat[(long)((double)g.nlat * 0.99)] / 1000.0 : 0.0;
        double cpu_self;
        const char *mode = c.prepare_mode ? "prepare" : "submit";

        getrusage(RUSAGE_SELF, &ru);
        cpu_self = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        printf("mode                      %s%s\n", c.prepare_mode ? "prepare+submit" : "submit",
               c.duration_s > 0 ? ", sustained overload (closed loop)" : "");
        printf("messages                  %ld sent, %ld accepted, %ld refused\n", g.next,
               g.accepted, g.errors);
        printf("concurrency               %d connections\n", c.conc);
        printf("accepted per second       %.0f (%.2f s of load)\n", acc_ps, load_s);
        printf("delivered per second      %.0f during the load (%.0f %% of accepted), "
               "%.0f after it (%.2f s)\n",
               during_ps, keep_up * 100, after_ps, after_s);
        printf("delivered per second      %.0f over the whole run (%.2f s to deliver all)\n",
               (double)seen.delivered / all_s, all_s);
        printf("API latency p50 / p99     %.2f / %.2f ms\n", api50, api99);
        printf("submit-to-delivery lag    p50 %.0f / p99 %.0f / max %.0f ms\n", seen.p50 / 1000.0,
               seen.p99 / 1000.0, seen.max / 1000.0);
        if (c.relay_pid > 0)
            printf("relay RSS / CPU           %.1f MB peak, %.1f MB drained and idle / %.2f s\n",
                   (double)hwm / 1024.0, (double)rss / 1024.0, cpu1 - cpu0);
        printf("duplicates at the sink    %ld\n", seen.dups);
        printf("bench: %s: delivered %ld of %ld accepted\n",
               seen.delivered == g.accepted ? "OK" : "MISSING", seen.delivered, g.accepted);
        printf("loadgen CPU               %.2f s\n", cpu_self);
        printf("BENCH mode=%s duration_s=%d conc=%d sent=%ld accepted=%ld refused=%ld "
               "load_s=%.2f accepted_per_s=%.0f delivered_during_per_s=%.0f keep_up=%.3f "
               "delivered_after_per_s=%.0f drain_s=%.2f delivered_per_s=%.0f api_p50_ms=%.2f "
               "api_p99_ms=%.2f lag_p50_ms=%.0f lag_p99_ms=%.0f lag_max_ms=%.0f duplicates=%ld "
               "delivered=%ld rss_peak_mb=%.1f rss_idle_mb=%.1f relay_cpu_s=%.2f "
               "loadgen_cpu_s=%.2f ok=%d\n",
               mode, c.duration_s, c.conc, g.next, g.accepted, g.errors, load_s, acc_ps,
               during_ps, keep_up, after_ps, after_s, (double)seen.delivered / all_s, api50, api99,
               seen.p50 / 1000.0, seen.p99 / 1000.0, seen.max / 1000.0, seen.dups, seen.delivered,
               (double)hwm / 1024.0, (double)rss / 1024.0, cpu1 - cpu0, cpu_self,
               seen.delivered == g.accepted);
    }

    for (i = 0; i < c.conc; i++) {
        free(g.slots[i].req);
        free(g.slots[i].in);
    }
    close(g.ep);
    curl_global_cleanup();
    free(g.slots);
    free(g.ready);
    free(g.lat);
    return seen.delivered == g.accepted ? 0 : 1;
}
