/* SPDX-License-Identifier: MIT */
/*
 * sink.c - the benchmark's fast HTTP sink: counts the step calls it receives.
 *
 *   msgrelay-bench-sink PORT MAX_MESSAGES
 *
 * Answers every request but GET /stats with 200 {"dtm_result":"SUCCESS"}. The
 * step's gid (query parameter) is "b<run>-<n>"; n marks a bitmap so unique
 * deliveries and duplicates are told apart. The payload {"t":<CLOCK_MONOTONIC
 * µs at submit>} gives the submit-to-delivery latency, kept in a histogram
 * (CLOCK_MONOTONIC is system-wide on Linux, so the load generator's clock is
 * ours); lags up to ~4 s fall in 1 ms buckets, longer ones in 100 ms buckets up
 * to ~10 min, and the largest is kept exactly. GET /stats answers
 * {"delivered":U,"duplicates":D,"p50_us":…,"p99_us":…,"max_us":…}.
 * Exits on SIGTERM or SIGINT.
 *
 * It shares the benchmark's cores with the system under test, so it is a
 * small HTTP/1.1 server of its own: one thread, one epoll instance
 * (level-triggered), non-blocking sockets. Requests are framed by
 * Content-Length (a head of at most 16 KiB, a body of at most 1 MiB),
 * pipelined or not; connections are kept alive unless the client says
 * "Connection: close" (or speaks HTTP/1.0 without keep-alive);
 * "Expect: 100-continue" gets "100 Continue". A chunked body
 * (Transfer-Encoding) or a malformed request gets a 4xx answer and the
 * connection closed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/http1.h"

#define NFINE     4096 /* latency histogram: 1 ms buckets up to ~4 s, */
#define NCOARSE   6000 /* then 100 ms buckets up to ~10 min, the last one = more */
#define NBUCKETS  (NFINE + NCOARSE)
#define HEAD_MAX  (16 * 1024)
#define BODY_MAX  (1024 * 1024)
#define IN_START  4096
#define OUT_CAP   4096
#define OUT_ROOM  1024 /* an answer (headers and body) always fits in this */
#define MAX_CONNS 4096

static unsigned char *seen;
static long max_messages;
static long delivered;
static long duplicates;
static long hist[NBUCKETS];
static int64_t lag_max; /* µs */

/* bucket_us - the upper bound of histogram bucket @i, in µs. */
static long bucket_us(int i)
{
    return i < NFINE ? (long)(i + 1) * 1000 : NFINE * 1000L + (long)(i - NFINE + 1) * 100000;
}

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
        total += hist[i];
    if (total == 0)
        return 0;
    for (i = 0; i < NBUCKETS; i++) {
        acc += hist[i];
        /* the bucket's upper bound, but no more than the largest lag seen */
        if ((double)acc >= q * (double)total)
            return bucket_us(i) < lag_max ? bucket_us(i) : (long)lag_max;
    }
    return bucket_us(NBUCKETS - 1);
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
    if (seen[n]) {
        duplicates++;
        return;
    }
    seen[n] = 1;
    delivered++;
    if (t != NULL) {
        int64_t lat = mono_us() - strtoll(t + 4, NULL, 10);
        long b = lat < 0 ? 0 : (long)(lat / 1000);

        if (b >= NFINE)
            b = NFINE + (long)((lat - NFINE * 1000LL) / 100000);
        hist[b < NBUCKETS ? b : NBUCKETS - 1]++;
        if (lat > lag_max)
            lag_max = lat;
    }
}

struct conn {
    struct conn *prev, *next; /* all connections, to free them at exit */
    int fd;
    uint32_t mask; /* the epoll events asked for */
    int closing;   /* close once out is written */
    char *in;
    size_t in_len, in_cap;
    size_t scan; /* where to go on looking for the end of the head */
    /* the request whose head is read (head_len > 0) */
    size_t head_len;
    size_t body_len;
    size_t target_off, target_len;
    int is_get, is_head, keep_alive, http10, expect100, sent100;
    size_t out_off, out_len;
    char out[OUT_CAP];
};

static int epfd;
static int nconns;
static struct conn *conns;
static char listen_tag, signal_tag; /* their addresses mark the two fds in epoll */

/* ---- answers ---- */

static char date_hdr[64]; /* "Date: ...\r\n", once per second */
static time_t date_sec = -1;

static void date_update(void)
{
    time_t now = time(NULL);
    struct tm tm;

    if (now == date_sec)
        return;
    date_sec = now;
    gmtime_r(&now, &tm);
    strftime(date_hdr, sizeof(date_hdr), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static void out_room(struct conn *c)
{
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
}

/* answer - queue a 200 with the JSON @body (headers only for HEAD). */
static void answer(struct conn *c, const char *body)
{
    size_t blen = strlen(body);
    int n;

    out_room(c);
    date_update();
    n = snprintf(c->out + c->out_len, OUT_CAP - c->out_len,
                 "HTTP/1.1 200 OK\r\n%sContent-Length: %zu\r\nContent-Type: application/json\r\n"
                 "%s\r\n%s",
                 !c->keep_alive ? "Connection: close\r\n"
                 : c->http10    ? "Connection: Keep-Alive\r\n"
                                : "",
                 blen, date_hdr, c->is_head ? "" : body);
    if (n > 0 && (size_t)n < OUT_CAP - c->out_len)
        c->out_len += (size_t)n;
}

/* refuse - queue @status and close after it: a request we do not take. */
static void refuse(struct conn *c, const char *status)
{
    int n;

    out_room(c);
    n = snprintf(c->out + c->out_len, OUT_CAP - c->out_len,
                 "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status);
    if (n > 0 && (size_t)n < OUT_CAP - c->out_len)
        c->out_len += (size_t)n;
    c->closing = 1;
}

/* ---- requests ---- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* unescape - %XX-decode [s, e) into @out (NUL-terminated, as long as the input at most). */
static void unescape(const char *s, const char *e, char *out)
{
    while (s < e) {
        int h, l;

        if (*s == '%' && e - s >= 3 && (h = hexval(s[1])) >= 0 && (l = hexval(s[2])) >= 0) {
            *out++ = (char)(h * 16 + l);
            s += 3;
        } else {
            *out++ = *s++;
        }
    }
    *out = '\0';
}

/* handle - the request in c->in is whole: count it and queue the answer. */
static void handle(struct conn *c)
{
    const char *target = c->in + c->target_off;
    const char *tend = target + c->target_len;
    const char *q = memchr(target, '?', c->target_len);
    const char *path_end = q ? q : tend;

    if (c->is_get && path_end - target == 6 && memcmp(target, "/stats", 6) == 0) {
        char stats[256];

        snprintf(stats, sizeof(stats),
                 "{\"delivered\":%ld,\"duplicates\":%ld,\"p50_us\":%ld,\"p99_us\":%ld,"
                 "\"max_us\":%lld}",
                 delivered, duplicates, percentile(0.5), percentile(0.99), (long long)lag_max);
        answer(c, stats);
        return;
    }
    {
        /* the first gid argument, decoded; the body as a string of at most 511 bytes */
        char gid_buf[HEAD_MAX];
        const char *gid = NULL;
        char body[512];
        size_t blen = c->body_len < sizeof(body) - 1 ? c->body_len : sizeof(body) - 1;
        const char *a = q ? q + 1 : tend;

        while (a < tend && gid == NULL) {
            const char *amp = memchr(a, '&', (size_t)(tend - a));
            const char *ae = amp ? amp : tend;
            const char *eq = memchr(a, '=', (size_t)(ae - a));
            const char *ke = eq ? eq : ae;

            unescape(a, ke, gid_buf);
            if (strcasecmp(gid_buf, "gid") == 0) { /* MHD's lookup is caseless */
                if (eq == NULL)
                    break; /* "gid" with no value */
                unescape(eq + 1, ae, gid_buf);
                gid = gid_buf;
            }
            a = ae + 1;
        }
        memcpy(body, c->in + c->head_len, blen);
        body[blen] = '\0';
        count(gid, body);
    }
    answer(c, "{\"dtm_result\":\"SUCCESS\"}");
}

static int is_tchar(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* parse_head - the head in c->in[0, hlen): 0, or the status line to refuse it with. */
static const char *parse_head(struct conn *c, size_t hlen)
{
    const char *p = c->in;
    const char *end = c->in + hlen;
    const char *eol = memchr(p, '\n', hlen);
    const char *le = eol;
    const char *sp1, *sp2, *name, *v, *ve;
    size_t nlen;
    long cl = -1;
    int conn = 0, r;

    if (le > p && le[-1] == '\r')
        le--;
    /* METHOD SP target SP HTTP/1.x */
    for (sp1 = p; sp1 < le && is_tchar((unsigned char)*sp1); sp1++)
        ;
    if (sp1 == p || sp1 >= le || *sp1 != ' ')
        return "400 Bad Request";
    sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1 || le - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
        (sp2[8] != '0' && sp2[8] != '1'))
        return "400 Bad Request";
    {
        const char *x;

        for (x = sp1 + 1; x < sp2; x++)
            if ((unsigned char)*x <= ' ' || *x == 0x7f)
                return "400 Bad Request";
    }
    c->is_get = sp1 - p == 3 && memcmp(p, "GET", 3) == 0;
    c->is_head = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
    c->http10 = sp2[8] == '0';
    c->target_off = (size_t)(sp1 + 1 - c->in);
    c->target_len = (size_t)(sp2 - sp1 - 1);
    c->expect100 = 0;
    c->sent100 = 0;
    p = eol + 1;
    while ((r = http1_next_field(&p, end, &name, &nlen, &v, &ve)) != 0) {
        const char *x;

        if (r < 0 || nlen == 0)
            return "400 Bad Request"; /* no ':', or no name before it */
        for (x = name; x < name + nlen; x++)
            if (!is_tchar((unsigned char)*x))
                return "400 Bad Request"; /* a space before ':', or a folded line */
        for (x = v; x < ve; x++)
            if (*x == '\0' || *x == '\r')
                return "400 Bad Request";
        if (http1_name_is(name, nlen, "Content-Length")) {
            r = http1_content_length(v, ve, BODY_MAX, &cl);
            if (r != 0)
                return r == -2 ? "413 Content Too Large" : "400 Bad Request";
        } else if (http1_name_is(name, nlen, "Transfer-Encoding")) {
            return "400 Bad Request"; /* chunked bodies are not taken */
        } else if (http1_name_is(name, nlen, "Connection")) {
            conn |= http1_connection(v, ve);
        } else if (http1_name_is(name, nlen, "Expect")) {
            c->expect100 = ve - v == 12 && strncasecmp(v, "100-continue", 12) == 0;
        }
    }
    c->body_len = cl > 0 ? (size_t)cl : 0;
    c->keep_alive = !(conn & HTTP1_CLOSE) && (!c->http10 || (conn & HTTP1_KEEP_ALIVE));
    if (c->http10)
        c->expect100 = 0;
    return NULL;
}

/* head_end - the length of the head in c->in (through its empty line), or 0. */
static size_t head_end(struct conn *c)
{
    size_t i = c->scan;

    while (i < c->in_len) {
        const char *nl = memchr(c->in + i, '\n', c->in_len - i);

        if (nl == NULL)
            break;
        i = (size_t)(nl - c->in) + 1;
        if (i < c->in_len && c->in[i] == '\n')
            return i + 1;
        if (i + 1 < c->in_len && c->in[i] == '\r' && c->in[i + 1] == '\n')
            return i + 2;
        if (i >= c->in_len || (i + 1 >= c->in_len && c->in[i] == '\r')) {
            i = (size_t)(nl - c->in); /* look at this line end again with more bytes */
            break;
        }
    }
    c->scan = i;
    return 0;
}

/* process - answer the whole requests in c->in while the answers fit.
 * Returns 1 when it stopped for want of room in c->out. */
static int process(struct conn *c)
{
    while (!c->closing) {
        if (OUT_CAP - (c->out_len - c->out_off) < OUT_ROOM)
            return 1;
        if (c->head_len == 0) {
            size_t h = head_end(c);
            const char *bad;

            if (h == 0 || h > HEAD_MAX) {
                if (h > HEAD_MAX || c->in_len >= HEAD_MAX)
                    refuse(c, "431 Request Header Fields Too Large");
                return 0;
            }
            bad = parse_head(c, h);
            if (bad != NULL) {
                refuse(c, bad);
                return 0;
            }
            c->head_len = h;
        }
        if (c->in_len < c->head_len + c->body_len) {
            if (c->expect100 && !c->sent100) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

                out_room(c);
                memcpy(c->out + c->out_len, cont, sizeof(cont) - 1);
                c->out_len += sizeof(cont) - 1;
                c->sent100 = 1;
            }
            return 0;
        }
        handle(c);
        {
            size_t used = c->head_len + c->body_len;

            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
        }
        c->head_len = 0;
        c->body_len = 0;
        c->scan = 0;
        if (c->in_cap > 64 * 1024 && c->in_len <= IN_START) { /* after a big body */
            char *p = realloc(c->in, IN_START);

            if (p != NULL) {
                c->in = p;
                c->in_cap = IN_START;
            }
        }
        if (!c->keep_alive)
            c->closing = 1;
    }
    return 0;
}

/* ---- connections ---- */

static void conn_free(struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    close(c->fd);
    free(c->in);
    free(c);
    nconns--;
}

static int set_mask(struct conn *c, uint32_t mask)
{
    struct epoll_event ev;

    if (c->mask == mask)
        return 0;
    ev.events = mask;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return -1;
    c->mask = mask;
    return 0;
}

/* flush - write out what is queued: 0 all written, 1 some left, -1 error. */
static int flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = 0;
    c->out_len = 0;
    return 0;
}

/* pump - answer what can be answered, write it, and wait for what comes next. */
static void pump(struct conn *c)
{
    for (;;) {
        int full = process(c);
        int f = flush(c);

        if (f < 0) {
            conn_free(c);
            return;
        }
        if (f > 0) { /* the peer is slow to read: wait, and read no more meanwhile */
            if (set_mask(c, EPOLLOUT) != 0)
                conn_free(c);
            return;
        }
        if (c->closing) {
            conn_free(c);
            return;
        }
        if (!full)
            break;
    }
    if (set_mask(c, EPOLLIN) != 0)
        conn_free(c);
}

static void on_readable(struct conn *c)
{
    size_t limit = c->head_len ? c->head_len + c->body_len : HEAD_MAX;
    ssize_t n;

    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap * 2;
        char *p;

        if (cap > limit)
            cap = limit;
        if (cap < c->in_cap)
            cap = c->in_cap;
        if (cap == c->in_cap) { /* nothing to do with more bytes now */
            pump(c);
            return;
        }
        p = realloc(c->in, cap);
        if (p == NULL) {
            conn_free(c);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_free(c);
        return;
    }
    if (n == 0) { /* the peer is done sending: answer what is whole, then close */
        process(c);
        c->closing = 1;
        if (flush(c) == 1 && set_mask(c, EPOLLOUT) == 0)
            return;
        conn_free(c);
        return;
    }
    c->in_len += (size_t)n;
    pump(c);
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct conn *c;
        struct epoll_event ev;
        int one = 1;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or out of fds: the rest wait in the backlog */
        }
        if (nconns >= MAX_CONNS) {
            close(fd);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (c != NULL)
            c->in = malloc(IN_START);
        if (c == NULL || c->in == NULL) {
            if (c != NULL)
                free(c);
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->in_cap = IN_START;
        c->mask = EPOLLIN;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c->in);
            free(c);
            continue;
        }
        c->next = conns;
        if (conns != NULL)
            conns->prev = c;
        conns = c;
        nconns++;
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct epoll_event ev, evs[256];
    sigset_t set;
    int lfd, sfd, one = 1;
    long port;
    char *end;

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
    sigprocmask(SIG_BLOCK, &set, NULL);

    port = strtol(argv[1], &end, 10);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons((uint16_t)port);
    if (lfd >= 0)
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (*end != '\0' || port < 0 || port > 65535 || lfd < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, SOMAXCONN) != 0) {
        fprintf(stderr, "sink: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (epfd < 0 || sfd < 0) {
        perror("sink");
        return 1;
    }
    ev.events = EPOLLIN;
    ev.data.ptr = &listen_tag;
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    ev.data.ptr = &signal_tag;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
    printf("ready\n");
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), -1);
        int i;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("sink: epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;

            if (tag == &signal_tag) {
                while (conns != NULL)
                    conn_free(conns);
                close(sfd);
                close(lfd);
                close(epfd);
                free(seen);
                return 0;
            }
            if (tag == &listen_tag) {
                on_accept(lfd);
            } else {
                struct conn *c = tag;

                if (c->mask & EPOLLOUT)
                    pump(c); /* writable (or broken: the write tells) */
                else
                    on_readable(c); /* readable, closed or broken: the read tells */
            }
        }
    }
}
