/* SPDX-License-Identifier: MIT */
/*
 * relay_http.c - the HTTP sink's engine: one libcurl multi handle driving
 * every outbound call of the relay from one thread (no thread per call).
 *
 * The multi handle runs event-driven (curl_multi_socket_action): libcurl
 * tells us which sockets to watch and when its next timer is due, one epoll
 * set owned by the engine waits for them, and each wake-up touches only the
 * sockets that are ready, where curl_multi_perform walks every transfer.
 *
 * Easy handles are reused from a free list, so their buffers and the multi's
 * connection cache (keep-alive, at most max_connections in total) carry over
 * from call to call. Answers are captured into a capped mr_buf: a longer body
 * is cut, which is not an error (the classifier needs only its start).
 *
 * At most max_connections http:// calls are in libcurl at once; the rest wait
 * here, oldest first. libcurl would park them itself (its "pending" state),
 * but it retries its pending transfers whenever a connection frees up and
 * each retry scans the connection cache: with --max-inflight 2048 over 256
 * connections that doubled the CPU per call. https:// calls go straight in,
 * as before, because HTTP/2 may carry many of them over one connection.
 * mr_relay_http_poll() moves finished calls to a done list and starts
 * waiting ones in the freed slots at once, as libcurl did within one
 * curl_multi_perform; a slot left idle until the next relay loop turn would
 * cap each connection at one call per turn.
 * A call's timeout counts from when it goes into libcurl, not from when it
 * was queued: one that spent its time waiting and then went out with a few
 * milliseconds left would reach the target, time out and be made again. The
 * wait for a connection is bounded separately (the request's wait_ms): a call
 * that waited that long is given back unmade (no_slot), as is one that joins
 * a queue its destination cannot work through within that time (its calls'
 * recent durations tell how fast it does), and the scheduler makes it again
 * soon without counting an attempt.
 *
 * Fairness between destinations (scheme, host and port as the URL spells
 * them): at most per_target calls to one destination are in libcurl at once,
 * http:// and https:// alike, and calls wait in one queue per destination.
 * Freed slots go round the destinations that have calls waiting, one call
 * each in turn, so a call to a healthy host never waits behind calls to a
 * full one. A destination with all its per_target calls busy that has
 * finished none for stall_ms is stalled: its waiting calls, and new ones, are
 * not made (reported with not_made) so their messages leave the relay's room
 * to other destinations until it answers again.
 *
 * Health (--unhealthy-after, relay_health.c): each destination counts its
 * calls that got no answer or a 5xx, a burst of calls out together counting
 * once. At the threshold it is down: its waiting calls and every new call
 * while one is in libcurl or waiting, or sooner than a probe interval after
 * the last, are not made (not_made, no attempt counted), so at most one call
 * to it is out at a time, one per probe interval: the probe. Its first
 * answered call makes it healthy again (the scheduler then makes every
 * message waiting on it due). A destination with failures is kept while
 * idle so its count survives, at most DEST_KEEP_MAX of them: past that an
 * idle failing destination is forgotten (counting starts afresh at its next
 * call). Each destination feeds the per-destination metrics from its first
 * call, under its key (common/dest.h).
 *
 * Stalls of the relay thread (a store call that blocks: a cluster that holds
 * commits for seconds while it drops a dead node, a table lock): libcurl's
 * timeouts run on the wall clock and libcurl judges a call's timeout before
 * it reads what arrived, so an answer that came in while the thread was away
 * would be thrown away as a timeout and the call made again. We stop the
 * clock instead: a gap of PAUSE_MIN_MS or more between two polls is credited
 * to every call that was already out (its timeout grows by the gap, waiting
 * calls' too), so the answers are read first and a call times out only when
 * its destination, not the relay, took too long. libcurl arms its timeout
 * timer once per transfer, so for a call given more time that way the
 * deadline is enforced here (expire_paused) with libcurl's own words. We
 * chose this over a second thread for the store write-back: it keeps one
 * owner for every pass and call (no hand-over between threads), and a stall
 * costs nothing but the time it lasted. Delivery stays within the lease: a
 * result written after its lease ended is not written (relay_flush.c).
 *
 * Redirects are followed here, by hand (follow()), not by libcurl's
 * CURLOPT_FOLLOWLOCATION: each hop's URL must pass the target policy's URL
 * rules (names, prefixes) before it is called, which libcurl cannot ask
 * about (its socket-open hook only sees addresses, and CURLINFO_REDIRECT_URL
 * read after a followed hop would be too late); and the headers from
 * branch_headers must stay off other hosts. A hop stays the same call on the
 * same destination: its handle leaves the multi and comes back with the
 * Location as its URL.
 *
 * Thread: the relay thread owns everything here; mr_relay_http_wakeup() is the
 * one entry any thread may use (it only writes to an eventfd in the epoll set).
 * Errors: a call that cannot be started is an error return; a call that fails
 * on the wire is a finished call with status 0 and libcurl's text.
 * Allocation failures inside libcurl at set-up abort, like mr_xmalloc.
 */
#include "relay/relay_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/dest.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/target.h"
#include "common/url.h"

/* Idle calls kept for reuse beyond this many are cleaned up, so a burst does not pin memory. */
#define FREE_KEEP_MIN 64

/* An idle call keeps a body buffer up to this size; a larger one is freed. */
#define BODY_KEEP 16384

/* Room for ready fds beyond one per connection: wake_fd, watch_fd, sockets being closed. */
#define EVENTS_SPARE 16

/* h->fds[fd]: what the epoll set holds for a libcurl socket */
#define FD_IN_SET 0x01 /* registered */
#define FD_WANTED 0x02 /* libcurl wants it watched (cleared by CURL_POLL_REMOVE) */
#define FD_IN 0x04     /* registered for EPOLLIN */
#define FD_OUT 0x08    /* registered for EPOLLOUT */

/* Idle destinations kept for their failure count, at most. */
#define DEST_KEEP_MAX 1024

/* How often, at most, a relay loop waits before looking for stalled destinations. */
#define STALL_CHECK_MS 100

/* A gap between two polls this long or longer is the relay thread away (a stall): not counted. */
#define PAUSE_MIN_MS 500

/* Redirects one call follows at most; the next one fails it (the limit of Go's http client). */
#define REDIRECT_MAX 10

/* A singly linked queue of calls through _next, oldest first. */
struct fifo {
    struct mr_relay_call *head;
    struct mr_relay_call *tail;
    size_t n;
};

/* One destination; lives while it has calls waiting or in libcurl. */
struct mr_relay_dest {
    struct mr_relay_dest *hnext; /* hash chain */
    struct mr_relay_dest *wnext; /* in the list of destinations with calls waiting */
    struct mr_relay_dest *wprev;
    bool waiting_listed;
    uint64_t hash;
    bool https;
    char *host; /* lower-cased, NUL-terminated */
    unsigned port;
    size_t busy;         /* its calls in libcurl */
    struct fifo wait;    /* its calls waiting, oldest first */
    int64_t progress_ms; /* mr_mono_ms() when a call of it last finished, or busy became 1 */
    long avg_ms;         /* its calls' recent duration in libcurl (moving average), 0: none yet */
    bool stalled;        /* said so in the log; cleared when a call finishes */
    bool kept;           /* idle but kept for its count (counted in nkept) */
    struct mr_relay_health_dest hd; /* its health and metrics (relay_health.c) */
};

struct mr_relay_http {
    CURLM *multi;
    int epfd;          /* libcurl's sockets, wake_fd and watch_fd */
    int wake_fd;       /* eventfd written by mr_relay_http_wakeup() */
    int64_t timer_due; /* libcurl's timer, CLOCK_MONOTONIC microseconds; -1 when unset */
    bool timer_told;   /* on_timer ran since poll last cleared this */
    uint8_t *fds;      /* FD_* by socket number, for libcurl's sockets */
    size_t nfds;
    struct epoll_event *events; /* epoll_wait's output */
    int nevents;                /* its size: every connection ready at once fits */
    struct mr_relay_call *busy; /* in libcurl, doubly linked */
    struct fifo done;           /* finished, for mr_relay_http_done() */
    struct mr_relay_dest **dests; /* by hash, ndests_cap buckets (a power of two) */
    size_t ndests;
    size_t ndests_cap;
    struct mr_relay_dest *wait_head; /* destinations with calls waiting, served in turn */
    struct mr_relay_dest *wait_tail;
    size_t nwait_dests;
    size_t nwait;      /* calls waiting, all destinations */
    size_t per_target; /* calls in libcurl at once per destination */
    long stall_ms;
    struct mr_relay_call *idle; /* free list */
    size_t nbusy;
    size_t nslots;    /* busy calls holding a slot (_slot) */
    size_t max_slots; /* max_connections */
    size_t nidle;
    size_t keep;  /* max idle calls kept */
    int watch_fd; /* an extra fd poll waits on (mr_relay_http_watch_fd), or -1 */
    size_t nkept;        /* idle destinations kept for their failure count */
    struct mr_relay_health health; /* of its destinations (relay_health.c) */
    int64_t left_ms; /* mr_mono_ms() when mr_relay_http_poll() last returned; 0 before */
    size_t nclocked; /* busy calls with _clocked */
};

/* now_us - monotonic microseconds, the clock libcurl's timers run on. */
static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * watch - put @fd in the epoll set for @events, or change its events, and
 * note it in h->fds. A MOD that finds no entry (the socket was closed and its
 * number reused behind our back) falls back to ADD, and the reverse.
 */
static int watch(struct mr_relay_http *h, int fd, uint32_t events)
{
    struct epoll_event ev;
    bool known = h->fds[fd] & FD_IN_SET;
    int rc;

    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.fd = fd;
    rc = epoll_ctl(h->epfd, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (rc != 0 && errno == (known ? ENOENT : EEXIST))
        rc = epoll_ctl(h->epfd, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    if (rc != 0) {
        h->fds[fd] = 0;
        return -1;
    }
    h->fds[fd] = (uint8_t)(FD_IN_SET | FD_WANTED | (events & EPOLLIN ? FD_IN : 0) |
                           (events & EPOLLOUT ? FD_OUT : 0));
    return 0;
}

/* unwatch - take @fd out of the epoll set (closed already: gone by itself). */
static void unwatch(struct mr_relay_http *h, int fd)
{
    epoll_ctl(h->epfd, EPOLL_CTL_DEL, fd, NULL);
    h->fds[fd] = 0;
}

/*
 * on_socket - libcurl socket callback: mirror what libcurl wants to know about
 * socket @s into the epoll set.
 *
 * A kept-alive connection is dropped by its finished call (CURL_POLL_REMOVE)
 * and taken up by the next one moments later; DEL then ADD would cost two
 * epoll_ctl per call. So REMOVE only marks the socket unwanted and leaves it
 * in the set: the next wish is then one MOD (not skipped: after a REMOVE the
 * socket may have been closed and its number reused, which the MOD finds
 * out), and an unwanted socket that turns ready (the server closed it) is
 * taken out in mr_relay_http_poll().
 */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct mr_relay_http *h = userp;
    uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    uint8_t want = (uint8_t)(FD_IN_SET | FD_WANTED | (what & CURL_POLL_IN ? FD_IN : 0) |
                             (what & CURL_POLL_OUT ? FD_OUT : 0));

    (void)easy;
    if (s < 0)
        return 0;
    if ((size_t)s >= h->nfds) {
        size_t old = h->nfds;

        MR_ALLOC_GROW(h->fds, (size_t)s + 1, h->nfds);
        memset(h->fds + old, 0, h->nfds - old);
    }
    if (what == CURL_POLL_REMOVE) {
        h->fds[s] &= (uint8_t)~FD_WANTED;
        return 0;
    }
    /* socketp is set once libcurl has told us about @s since its last REMOVE: same socket */
    if (socketp != NULL && h->fds[s] == want)
        return 0;
    if (watch(h, s, events) != 0) {
        mr_log(MR_LOG_ERROR, "cannot watch a libcurl socket", "error", strerror(errno), NULL);
        return -1;
    }
    curl_multi_assign(h->multi, s, h);
    return 0;
}

/*
 * on_timer - libcurl timer callback: remember when libcurl wants
 * CURL_SOCKET_TIMEOUT (-1: never). mr_relay_http_poll() waits no longer and
 * fires it; libcurl must not be called from here.
 */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct mr_relay_http *h = userp;

    (void)multi;
    h->timer_due = timeout_ms < 0 ? -1 : now_us() + (int64_t)timeout_ms * 1000;
    h->timer_told = true;
    return 0;
}

/* cselect - the CURL_CSELECT_* mask for epoll events @ev. */
static int cselect(uint32_t ev)
{
    /* on an error or hang-up let libcurl look at the socket itself: it finds the real cause */
    if (ev & (EPOLLERR | EPOLLHUP))
        return 0;
    return (ev & EPOLLIN ? CURL_CSELECT_IN : 0) | (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0);
}

/* fifo_push - append @c to @q. */
static void fifo_push(struct fifo *q, struct mr_relay_call *c)
{
    c->_next = NULL;
    c->_prev = NULL;
    if (q->tail != NULL)
        q->tail->_next = c;
    else
        q->head = c;
    q->tail = c;
    q->n++;
}

/* fifo_pop - the oldest call of @q, taken out, or NULL. */
static struct mr_relay_call *fifo_pop(struct fifo *q)
{
    struct mr_relay_call *c = q->head;

    if (c == NULL)
        return NULL;
    q->head = c->_next;
    if (q->head == NULL)
        q->tail = NULL;
    q->n--;
    c->_next = NULL;
    return c;
}

/* ---- destinations ---- */

/* dest_hash - FNV-1a over scheme, lower-cased host and port. */
static uint64_t dest_hash(bool https, const char *host, size_t hostlen, unsigned port)
{
    uint64_t x = 1469598103934665603ULL;
    size_t i;

    x = (x ^ (https ? 1u : 0u)) * 1099511628211ULL;
    for (i = 0; i < hostlen; i++) {
        unsigned char ch = (unsigned char)host[i];

        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch - 'A' + 'a');
        x = (x ^ ch) * 1099511628211ULL;
    }
    x = (x ^ (port & 0xff)) * 1099511628211ULL;
    return (x ^ (port >> 8)) * 1099511628211ULL;
}

/* dest_grow - double the hash table of destinations. */
static void dest_grow(struct mr_relay_http *h)
{
    size_t cap = h->ndests_cap * 2;
    struct mr_relay_dest **v = mr_xcalloc(cap, sizeof(*v));
    size_t i;

    for (i = 0; i < h->ndests_cap; i++) {
        while (h->dests[i] != NULL) {
            struct mr_relay_dest *d = h->dests[i];

            h->dests[i] = d->hnext;
            d->hnext = v[d->hash & (cap - 1)];
            v[d->hash & (cap - 1)] = d;
        }
    }
    free(h->dests);
    h->dests = v;
    h->ndests_cap = cap;
}

/* dest_idle - whether the destination of @hd has no call in libcurl or waiting. */
static bool dest_idle(const struct mr_relay_health_dest *hd)
{
    const struct mr_relay_dest *d =
        (const struct mr_relay_dest *)(const void *)((const char *)hd -
                                                     offsetof(struct mr_relay_dest, hd));

    return d->busy == 0 && d->wait.n == 0;
}

/* dest_get - the destination of @url, made when it has none yet. */
static struct mr_relay_dest *dest_get(struct mr_relay_http *h, const char *url)
{
    struct mr_relay_dest *d;
    const char *host = "";
    size_t hostlen = 0;
    unsigned port = 0;
    bool https = false;
    uint64_t x;
    size_t i;

    if (!mr_dest_http(url, &https, &host, &hostlen, &port)) {
        host = "";
        hostlen = 0;
        port = 0;
    }
    x = dest_hash(https, host, hostlen, port);
    for (d = h->dests[x & (h->ndests_cap - 1)]; d != NULL; d = d->hnext) {
        if (d->hash == x && d->https == https && d->port == port &&
            strlen(d->host) == hostlen && strncasecmp(d->host, host, hostlen) == 0)
            return d;
    }
    if (h->ndests >= h->ndests_cap)
        dest_grow(h);
    d = mr_xcalloc(1, sizeof(*d));
    d->hash = x;
    d->https = https;
    d->port = port;
    d->host = mr_xstrndup(host, hostlen);
    for (i = 0; i < hostlen; i++) {
        if (d->host[i] >= 'A' && d->host[i] <= 'Z')
            d->host[i] = (char)(d->host[i] - 'A' + 'a');
    }
    {
        char key[MR_DEST_KEY_MAX + 1];

        mr_dest_key(url, key);
        mr_relay_health_dest_init(&d->hd, key, dest_idle);
    }
    d->hnext = h->dests[x & (h->ndests_cap - 1)];
    h->dests[x & (h->ndests_cap - 1)] = d;
    h->ndests++;
    return d;
}

/* wait_list_remove - take @d out of the list of destinations with calls waiting. */
static void wait_list_remove(struct mr_relay_http *h, struct mr_relay_dest *d)
{
    if (!d->waiting_listed)
        return;
    if (d->wprev != NULL)
        d->wprev->wnext = d->wnext;
    else
        h->wait_head = d->wnext;
    if (d->wnext != NULL)
        d->wnext->wprev = d->wprev;
    else
        h->wait_tail = d->wprev;
    d->wnext = NULL;
    d->wprev = NULL;
    d->waiting_listed = false;
    h->nwait_dests--;
}

/* wait_list_append - put @d last in the list of destinations with calls waiting. */
static void wait_list_append(struct mr_relay_http *h, struct mr_relay_dest *d)
{
    if (d->waiting_listed)
        return;
    d->wnext = NULL;
    d->wprev = h->wait_tail;
    if (h->wait_tail != NULL)
        h->wait_tail->wnext = d;
    else
        h->wait_head = d;
    h->wait_tail = d;
    d->waiting_listed = true;
    h->nwait_dests++;
}

/*
 * dest_put - forget @d once it has no call waiting or in libcurl, unless it
 * counts failures and there is room to keep it (DEST_KEEP_MAX).
 */
static void dest_put(struct mr_relay_http *h, struct mr_relay_dest *d)
{
    struct mr_relay_dest **link;

    if (d->busy > 0 || d->wait.n > 0)
        return;
    if (mr_relay_health_keep(&h->health, &d->hd)) {
        if (d->kept)
            return;
        if (h->nkept < DEST_KEEP_MAX) {
            d->kept = true;
            h->nkept++;
            return;
        }
    }
    if (d->kept)
        h->nkept--;
    mr_relay_health_forget(&h->health, &d->hd);
    wait_list_remove(h, d);
    link = &h->dests[d->hash & (h->ndests_cap - 1)];
    while (*link != d)
        link = &(*link)->hnext;
    *link = d->hnext;
    h->ndests--;
    free(d->host);
    free(d);
}

/* dest_stalled - whether @d has all its calls busy and none finished for stall_ms. */
static bool dest_stalled(const struct mr_relay_http *h, const struct mr_relay_dest *d,
                         int64_t mono)
{
    return d->busy >= h->per_target && mono - d->progress_ms >= h->stall_ms;
}

/* on_body - libcurl write callback: keep what fits under the cap, swallow the rest. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata)
{
    struct mr_relay_call *c = userdata;
    size_t n = size * nmemb;
    size_t room = c->body.max - c->body.len;
    size_t take = n < room ? n : room;

    if (take < n)
        c->truncated = true;
    if (take > 0)
        mr_buf_add(&c->body, p, take);
    return n;
}

/* call_free - clean up one call that is in no list. */
static void call_free(struct mr_relay_call *c)
{
    curl_easy_cleanup(c->_easy);
    curl_slist_free_all(c->_headers);
    mr_buf_release(&c->body);
    free(c);
}

/* call_get - an idle call, or a new one. */
static struct mr_relay_call *call_get(struct mr_relay_http *h)
{
    struct mr_relay_call *c = h->idle;

    if (c != NULL) {
        h->idle = c->_next;
        h->nidle--;
        curl_easy_reset(c->_easy);
    } else {
        c = mr_xcalloc(1, sizeof(*c));
        mr_buf_init(&c->body, MR_RELAY_BODY_MAX);
        c->_easy = curl_easy_init();
        if (c->_easy == NULL) {
            mr_log(MR_LOG_ERROR, "curl_easy_init failed", NULL);
            abort();
        }
    }
    c->_next = NULL;
    c->_prev = NULL;
    c->_slot = false;
    c->_dest = NULL;
    c->not_made = false;
    c->down = false;
    c->no_slot = false;
    c->owner = NULL;
    c->index = 0;
    c->status = 0;
    c->truncated = false;
    c->error[0] = '\0';
    c->_denied[0] = '\0';
    c->_hops = 0;
    c->_redirect_status = 0;
    c->_stripped = false;
    c->_paused_ms = 0;
    c->_clocked = false;
    mr_buf_reset(&c->body);
    return c;
}

/* busy_unlink - take @c out of the in-flight list. */
static void busy_unlink(struct mr_relay_http *h, struct mr_relay_call *c)
{
    if (c->_prev != NULL)
        c->_prev->_next = c->_next;
    else
        h->busy = c->_next;
    if (c->_next != NULL)
        c->_next->_prev = c->_prev;
    c->_next = NULL;
    c->_prev = NULL;
    h->nbusy--;
    if (c->_slot)
        h->nslots--;
    if (c->_clocked) {
        c->_clocked = false;
        h->nclocked--;
    }
    c->_dest->busy--;
}

/* elapsed - how long @c has run for its timeout: since it was sent, less the pauses. */
static long elapsed(const struct mr_relay_call *c, int64_t mono)
{
    return (long)(mono - c->_sent_ms - c->_paused_ms);
}

/* call_put - back to the free list, or cleaned up when enough are idle already. */
static void call_put(struct mr_relay_http *h, struct mr_relay_call *c)
{
    curl_slist_free_all(c->_headers);
    c->_headers = NULL;
    if (h->nidle >= h->keep) {
        call_free(c);
        return;
    }
    if (c->body.cap > BODY_KEEP)
        mr_buf_release(&c->body);
    c->_next = h->idle;
    h->idle = c;
    h->nidle++;
}

/*
 * on_open_socket - libcurl's socket opener, which sees each address a call is
 * about to connect to after DNS: the target policy's second look
 * (mr_target_addr_ok), since a name allowed at intake may resolve to a
 * denied address now. A refused address is noted in the call (collect() puts
 * it in the error text) and libcurl gets no socket, so it tries the next
 * address or fails the call as a connect error.
 */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct mr_relay_call *c = clientp;

    if (purpose == CURLSOCKTYPE_IPCXN &&
        !mr_target_addr_ok(mr_config.targets, &addr->addr, (enum mr_target_verdict)c->_target)) {
        const void *a = addr->family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)(void *)&addr->addr)->sin_addr;

        /* the first refused address names the refusal; libcurl may try others after it */
        if (c->_denied[0] == '\0' &&
            inet_ntop(addr->family, a, c->_denied, sizeof(c->_denied)) == NULL)
            snprintf(c->_denied, sizeof(c->_denied), "(family %d)", addr->family);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* setup - set the options of one call; libcurl copies the URL. */
static CURLcode setup(struct mr_relay_call *c, const struct mr_relay_http_req *rq)
{
    CURL *e = c->_easy;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, rq->url);
    SET(CURLOPT_PRIVATE, (void *)c);
    SET(CURLOPT_ERRORBUFFER, c->error);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)c);
    SET(CURLOPT_HTTPHEADER, c->_headers);
    SET(CURLOPT_TIMEOUT_MS, rq->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms);
    /* threads and signals do not mix: no SIGALRM for DNS timeouts */
    SET(CURLOPT_NOSIGNAL, 1L);
    /* destinations are http(s) only; redirects are followed by hand (follow()) */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    /* the target policy: the URL now (a row may predate the policy), each address at connect */
    c->_target = (int)mr_target_check_url(mr_config.targets, rq->url);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SET(CURLOPT_OPENSOCKETDATA, (void *)c);
    if (rq->post) {
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        /* not copied: the body lives in the message the pass owns until the call ends */
        SET(CURLOPT_POSTFIELDS, rq->body != NULL ? rq->body : "");
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    return rc;
}

/* start - hand @c to libcurl and put it on the in-flight list. */
static CURLMcode start(struct mr_relay_http *h, struct mr_relay_call *c)
{
    CURLMcode mc = curl_multi_add_handle(h->multi, c->_easy);

    if (mc != CURLM_OK)
        return mc;
    c->_lc_start_ms = mr_mono_ms();
    c->_prev = NULL;
    c->_next = h->busy;
    if (h->busy != NULL)
        h->busy->_prev = c;
    h->busy = c;
    h->nbusy++;
    if (c->_slot)
        h->nslots++;
    if (c->_dest->busy++ == 0)
        c->_dest->progress_ms = mr_mono_ms();
    return CURLM_OK;
}

/*
 * fail - finish @c, which is in no list, without libcurl (its error text or
 * not_made is set): mr_relay_http_done() reports it.
 */
static void fail(struct mr_relay_http *h, struct mr_relay_call *c)
{
    struct mr_relay_dest *d = c->_dest;

    c->status = 0;
    c->_dest = NULL;
    fifo_push(&h->done, c);
    dest_put(h, d);
}

/* give_back - report @c, which is in no list, as not made, for @why (a static text). */
static void give_back(struct mr_relay_http *h, struct mr_relay_call *c, const char *why)
{
    c->not_made = true;
    snprintf(c->error, sizeof(c->error), "%s: call not made", why);
    fail(h, c);
}

/* not_made - report @c, which is in no list, as not made: its destination is stalled. */
static void not_made(struct mr_relay_http *h, struct mr_relay_call *c)
{
    give_back(h, c, "destination stalled");
}

/* not_made_down - report @c, which is in no list, as not made: its destination is down. */
static void not_made_down(struct mr_relay_http *h, struct mr_relay_call *c)
{
    c->down = true;
    give_back(h, c, "destination unhealthy");
}

/* not_made_no_slot - report @c, which is in no list, as not made: no connection in time. */
static void not_made_no_slot(struct mr_relay_http *h, struct mr_relay_call *c)
{
    c->no_slot = true;
    give_back(h, c, "no connection free within its wait");
}

/* waited_out - whether @c, waiting, has waited for a connection as long as it may. */
static bool waited_out(const struct mr_relay_call *c, int64_t mono)
{
    return c->_wait_ms > 0 && elapsed(c, mono) >= c->_wait_ms;
}

/* wait_push - queue @c behind the other waiting calls of its destination. */
static void wait_push(struct mr_relay_http *h, struct mr_relay_call *c)
{
    fifo_push(&c->_dest->wait, c);
    h->nwait++;
    wait_list_append(h, c->_dest);
}

/* wait_pop - the oldest waiting call of @d, taken out. */
static struct mr_relay_call *wait_pop(struct mr_relay_http *h, struct mr_relay_dest *d)
{
    struct mr_relay_call *c = fifo_pop(&d->wait);

    if (c != NULL)
        h->nwait--;
    if (d->wait.n == 0)
        wait_list_remove(h, d);
    return c;
}

/*
 * sweep - calls waiting for a stalled destination are not made: say so once
 * in the log, and report each of them. Of the others, those that waited for
 * a connection as long as they may are given back (oldest first).
 */
static void sweep(struct mr_relay_http *h)
{
    int64_t mono = mr_mono_ms();
    struct mr_relay_dest *d = h->wait_head;

    while (d != NULL) {
        struct mr_relay_dest *next = d->wnext;

        if (dest_stalled(h, d, mono)) {
            char port[16];

            if (!d->stalled) {
                d->stalled = true;
                snprintf(port, sizeof(port), "%u", d->port);
                mr_log(MR_LOG_WARN, "destination stalled: its waiting calls are not made",
                       "scheme", d->https ? "https" : "http", "host", d->host, "port", port, NULL);
            }
            /* the last pop may free d: nothing reads it after that */
            while (d->wait.n > 0)
                not_made(h, wait_pop(h, d));
        } else {
            /* the pop that empties the queue may free d: the test reads it before */
            bool more = true;

            while (more && waited_out(d->wait.head, mono)) {
                more = d->wait.n > 1;
                not_made_no_slot(h, wait_pop(h, d));
            }
        }
        d = next;
    }
}

/*
 * start_waiting - start @c, taken from its queue, with its whole timeout
 * (setup() gave it to libcurl): its clock starts now. One that waited as long
 * as it may is given back unmade instead.
 */
static void start_waiting(struct mr_relay_http *h, struct mr_relay_call *c)
{
    int64_t mono = mr_mono_ms();
    CURLMcode mc;

    if (waited_out(c, mono)) {
        not_made_no_slot(h, c);
        return;
    }
    c->_sent_ms = mono;
    c->_paused_ms = 0;
    mc = start(h, c);
    if (mc != CURLM_OK) {
        snprintf(c->error, sizeof(c->error), "cannot start call: %s", curl_multi_strerror(mc));
        fail(h, c);
    }
}

/* can_start - whether a call of @d may go into libcurl now. */
static bool can_start(const struct mr_relay_http *h, const struct mr_relay_dest *d)
{
    return d->busy < h->per_target && (d->https || h->nslots < h->max_slots);
}

/*
 * wait_fits - whether @c, about to wait for a connection to its destination,
 * can expect one within its wait: each round of per_target calls (of
 * max_connections, for an http:// call) ahead of it takes about as long as
 * the destination's recent calls did, or as long as it has gone without an
 * answer if that is longer (a hanging destination).
 */
static bool wait_fits(const struct mr_relay_http *h, const struct mr_relay_call *c, int64_t mono)
{
    const struct mr_relay_dest *d = c->_dest;
    size_t ahead = d->wait.n / h->per_target;
    int64_t round = mono - d->progress_ms;

    if (c->_slot && h->max_slots > 0 && h->nwait / h->max_slots > ahead)
        ahead = h->nwait / h->max_slots;
    if (d->busy == 0 || round < d->avg_ms)
        round = d->avg_ms;
    return c->_wait_ms <= 0 || (int64_t)(ahead + 1) * round < c->_wait_ms;
}

/*
 * promote - start waiting calls while their destinations and the slots
 * allow: one call per destination in turn, round the destinations with calls
 * waiting, until a whole round starts nothing.
 */
static void promote(struct mr_relay_http *h)
{
    bool started = true;

    while (started && h->wait_head != NULL) {
        size_t n = h->nwait_dests;
        size_t i;

        started = false;
        for (i = 0; i < n && h->wait_head != NULL; i++) {
            struct mr_relay_dest *d = h->wait_head;

            /* to the end of the list: the others come first next time */
            wait_list_remove(h, d);
            if (can_start(h, d)) {
                struct mr_relay_call *c = fifo_pop(&d->wait);

                h->nwait--;
                if (d->wait.n > 0)
                    wait_list_append(h, d);
                start_waiting(h, c);
                started = true;
            } else {
                wait_list_append(h, d);
            }
        }
    }
}

/* header_list - libcurl's list of the header lines of @rq. Owned result: curl_slist_free_all(). */
static struct curl_slist *header_list(const struct mr_relay_http_req *rq)
{
    struct curl_slist *list = NULL;
    size_t i;

    for (i = 0; i < rq->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(list, rq->headers[i]);

        if (n == NULL) {
            mr_log(MR_LOG_ERROR, "out of memory building a header list", NULL);
            abort();
        }
        list = n;
    }
    return list;
}

int mr_relay_http_send(struct mr_relay_http *h, const struct mr_relay_http_req *rq, void *owner,
                       size_t index, struct mr_err *err)
{
    struct mr_relay_call *c = call_get(h);
    CURLcode ec;
    CURLMcode mc;

    c->owner = owner;
    c->index = index;
    c->_headers = header_list(rq);
    c->_timeout_ms = rq->timeout_ms;
    c->_wait_ms = rq->wait_ms > 0 && rq->wait_ms < rq->timeout_ms ? rq->wait_ms : rq->timeout_ms;
    c->_lc_timeout_ms = rq->timeout_ms;
    c->_sent_ms = mr_mono_ms();
    c->_slot = strncasecmp(rq->url, "http://", 7) == 0;
    ec = setup(c, rq);
    if (ec != CURLE_OK) {
        call_put(h, c);
        return mr_err_set(err, MR_EIO, "cannot set up call: %s", curl_easy_strerror(ec));
    }
    c->_dest = dest_get(h, rq->url);
    if (c->_target == MR_TARGET_DENY) {
        /* not even a cached connection may carry it: finished at once, as a call error */
        snprintf(c->error, sizeof(c->error), "target denied by policy");
        fail(h, c);
        return 0;
    }
    if (c->_dest->stalled && dest_stalled(h, c->_dest, c->_sent_ms)) {
        not_made(h, c);
        return 0;
    }
    /* one call at a time to a down destination, one per probe interval: its probe */
    if (!mr_relay_health_admit(&h->health, &c->_dest->hd,
                               c->_dest->busy > 0 || c->_dest->wait.n > 0, c->_sent_ms)) {
        not_made_down(h, c);
        return 0;
    }
    if (c->_dest->wait.n > 0 || !can_start(h, c->_dest)) {
        if (wait_fits(h, c, c->_sent_ms))
            wait_push(h, c);
        else
            not_made_no_slot(h, c);
        return 0;
    }
    mc = start(h, c);
    if (mc != CURLM_OK) {
        struct mr_relay_dest *d = c->_dest;

        c->_dest = NULL;
        call_put(h, c);
        dest_put(h, d);
        return mr_err_set(err, MR_EIO, "cannot start call: %s", curl_multi_strerror(mc));
    }
    return 0;
}

/*
 * health - count call @c to @d, started at @started_ms (@ok: answered, not
 * 5xx), toward @d's health; when that makes @d down, what waits for it is
 * not made (d is kept: it has failures, or its last busy call ends).
 */
static void health(struct mr_relay_http *h, struct mr_relay_dest *d, bool ok, int64_t started_ms,
                   int64_t mono)
{
    if (!mr_relay_health_count(&h->health, &d->hd, ok, started_ms, mono))
        return;
    while (d->wait.n > 0 && d->busy + d->wait.n > 1)
        not_made_down(h, wait_pop(h, d));
}

/*
 * finished - @c left libcurl with an answer (@ok: not a 5xx) or an error:
 * its destination made progress, and its health and metrics count it
 * (@counted false: a connect the target policy refused says nothing of the
 * destination).
 */
static void finished(struct mr_relay_http *h, struct mr_relay_call *c, bool ok, bool counted)
{
    struct mr_relay_dest *d = c->_dest;
    int64_t mono = mr_mono_ms();

    c->_dest = NULL;
    d->progress_ms = mono;
    /* an average over about the last 8 calls */
    d->avg_ms = d->avg_ms == 0 ? (long)(mono - c->_sent_ms) + 1
                               : (d->avg_ms * 7 + (long)(mono - c->_sent_ms)) / 8 + 1;
    if (d->stalled) {
        d->stalled = false;
        mr_log(MR_LOG_INFO, "destination answers again", "host", d->host, NULL);
    }
    if (counted)
        health(h, d, ok, c->_sent_ms, mono);
    dest_put(h, d);
}

/*
 * framing_suspect - whether the connection of a call that ended with @res and
 * HTTP status @status may be out of step with the target: a transport error
 * or timeout (the answer may still be on its way), an answer that is not
 * final, or an error status other than DTM's 409 and 425, which targets
 * often send before reading the request body (that body would then be read
 * as the next request). 2xx, 409 and 425 are answers the application gave
 * deliberately after the whole request: keeping those connections keeps
 * keep-alive for the common case.
 */
static bool framing_suspect(CURLcode res, long status)
{
    if (res != CURLE_OK)
        return true;
    if (status < 200)
        return true;
    return status >= 400 && status != 409 && status != 425;
}

/*
 * forbid_reuse - make sure no later call reuses the connection of @c.
 *
 * What libcurl (7.88) does already: a transfer that ends in an error or a
 * timeout is done "prematurely", and libcurl closes an HTTP/1 connection
 * then; so does an answer with more bytes than its framing says ("excess
 * found"), one that asks to close, or one read until close; and before
 * reusing an idle connection libcurl drops it when it is readable (bytes
 * nobody asked for). What it cannot see: a late answer still on its way
 * when the next call takes the connection, or an answer to a request it
 * never sent, as when the target took the body for a second request. So
 * after a suspect call (framing_suspect) the connection goes, whatever
 * libcurl decided: CURLOPT_FORBID_REUSE would have to be set before the
 * call ends, and libcurl options may not be changed from its callbacks, so
 * the socket of a connection libcurl kept is shut down instead; libcurl
 * finds it dead at its next reuse check and closes it. (Should libcurl have
 * handed it to a call from its own waiting list meanwhile, that call fails
 * and is retried: better than reading the stray answer.) HTTP/2 is left
 * alone: its streams are framed by the protocol, and one stream's error
 * does not shift the others; an https call without an answer may have been
 * HTTP/2, so it too is left to libcurl, which closes HTTP/1 after an error.
 */
static void forbid_reuse(struct mr_relay_call *c)
{
    curl_socket_t s = CURL_SOCKET_BAD;
    long version = 0;
    char *scheme = NULL;

    curl_easy_getinfo(c->_easy, CURLINFO_HTTP_VERSION, &version);
    if (version == CURL_HTTP_VERSION_2_0 || version == CURL_HTTP_VERSION_3)
        return;
    curl_easy_getinfo(c->_easy, CURLINFO_SCHEME, &scheme);
    if (version == 0 && (scheme == NULL || strcasecmp(scheme, "http") != 0))
        return;
    /* CURL_SOCKET_BAD when libcurl closed the connection itself */
    if (curl_easy_getinfo(c->_easy, CURLINFO_ACTIVESOCKET, &s) == CURLE_OK && s != CURL_SOCKET_BAD)
        shutdown(s, SHUT_RDWR);
}

/* same_host - whether http(s) @url names the host @host (any case; the port is not compared). */
static bool same_host(const char *url, const char *host)
{
    const char *h;
    size_t hlen;
    unsigned port;
    bool https;

    return mr_dest_http(url, &https, &h, &hlen, &port) && strlen(host) == hlen &&
           strncasecmp(h, host, hlen) == 0;
}

/*
 * strip_headers - the header list of @c without what the message's
 * branch_headers added: only Content-Type and the "Expect:" line stay. Set on
 * the handle, the old list freed.
 */
static void strip_headers(struct mr_relay_call *c)
{
    struct curl_slist *kept = NULL;
    struct curl_slist *l;

    for (l = c->_headers; l != NULL; l = l->next) {
        if (strncasecmp(l->data, "Content-Type:", 13) != 0 && strcmp(l->data, "Expect:") != 0)
            continue;
        kept = curl_slist_append(kept, l->data);
        if (kept == NULL) {
            mr_log(MR_LOG_ERROR, "out of memory building a header list", NULL);
            abort();
        }
    }
    curl_easy_setopt(c->_easy, CURLOPT_HTTPHEADER, kept);
    curl_slist_free_all(c->_headers);
    c->_headers = kept;
    c->_stripped = true;
}

/* refuse - end @c's redirect chain with the error @why (@loc is masked into it). */
static bool refuse(struct mr_relay_call *c, const char *why, const char *loc)
{
    char *masked = mr_url_masked(loc);

    c->status = 0;
    snprintf(c->error, sizeof(c->error), "redirect (HTTP %ld) %s: %s", c->_redirect_status, why,
             masked);
    free(masked);
    return false;
}

/*
 * follow - when the answer of @c (taken out of the multi handle) is a
 * redirect that Go's http client follows (301, 302, 303, 307, 308 with a
 * Location), send @c on to its next hop and return true: it stays busy on the
 * destination it was sent to. Each hop's URL is checked here as at send time:
 * http(s) only and the target policy (on_open_socket checks its addresses);
 * at most REDIRECT_MAX hops, and the whole chain within the call's timeout.
 * 307 and 308 keep the method and the body; 301, 302 and 303 go on as a GET
 * without a body. From the first hop to another host on, the headers from
 * branch_headers are not sent (they often carry credentials; Go's client
 * drops Authorization and cookies there), and a Location's own userinfo is
 * the only one sent. False when @c is finished: not a redirect, or a refused
 * one (then status 0 and the reason in its error text).
 */
static bool follow(struct mr_relay_http *h, struct mr_relay_call *c)
{
    char *loc = NULL;
    long waited;
    enum mr_target_verdict v;
    CURLcode ec = CURLE_OK;
    CURLMcode mc;

    if ((c->status < 301 || c->status > 303) && c->status != 307 && c->status != 308)
        return false;
    if (curl_easy_getinfo(c->_easy, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || loc == NULL)
        return false; /* no (usable) Location: the 3xx is the answer */
    c->_redirect_status = c->status;
    if (c->_hops >= REDIRECT_MAX)
        return refuse(c, "stopped after 10 redirects, the next to", loc);
    if (strncasecmp(loc, "http://", 7) != 0 && strncasecmp(loc, "https://", 8) != 0)
        return refuse(c, "to a URL that is not http(s)", loc);
    v = mr_target_check_url(mr_config.targets, loc);
    if (v == MR_TARGET_DENY)
        return refuse(c, "target denied by policy", loc);
    waited = elapsed(c, mr_mono_ms());
    if (c->_timeout_ms > 0 && waited >= c->_timeout_ms)
        return refuse(c, "not followed: the call's timeout ran out, next", loc);
    c->_hops++;
    c->_target = (int)v;
    if (!c->_stripped && !same_host(loc, c->_dest->host))
        strip_headers(c);
    ec = curl_easy_setopt(c->_easy, CURLOPT_URL, loc);
    if (ec == CURLE_OK && c->status <= 303)
        ec = curl_easy_setopt(c->_easy, CURLOPT_HTTPGET, 1L);
    if (ec == CURLE_OK && c->_timeout_ms > 0)
        ec = curl_easy_setopt(c->_easy, CURLOPT_TIMEOUT_MS, c->_timeout_ms - waited);
    if (ec == CURLE_OK && c->_timeout_ms > 0)
        ec = curl_easy_setopt(c->_easy, CURLOPT_CONNECTTIMEOUT_MS, c->_timeout_ms - waited);
    if (ec != CURLE_OK)
        return refuse(c, curl_easy_strerror(ec), loc);
    c->status = 0;
    mr_buf_reset(&c->body);
    c->truncated = false;
    mc = curl_multi_add_handle(h->multi, c->_easy);
    if (mc != CURLM_OK) {
        snprintf(c->error, sizeof(c->error), "cannot start call: %s", curl_multi_strerror(mc));
        return false;
    }
    c->_lc_start_ms = mr_mono_ms();
    c->_lc_timeout_ms = c->_timeout_ms - waited;
    return true;
}

/*
 * collect - move every call libcurl has finished to the done list, then
 * start waiting calls in the slots that freed up. Returns how many started
 * (redirect hops included).
 */
static size_t collect(struct mr_relay_http *h)
{
    size_t before;
    size_t hops = 0;

    for (;;) {
        int left;
        CURLMsg *m = curl_multi_info_read(h->multi, &left);
        struct mr_relay_call *c;
        CURLcode res;
        char *priv = NULL;

        if (m == NULL)
            break;
        if (m->msg != CURLMSG_DONE)
            continue;
        res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        c = (struct mr_relay_call *)(void *)priv;
        c->status = 0;
        if (res == CURLE_OK)
            curl_easy_getinfo(c->_easy, CURLINFO_RESPONSE_CODE, &c->status);
        /* while the handle is in the multi: its kept connection is found through it */
        if (framing_suspect(res, c->status))
            forbid_reuse(c);
        /* m points into the handle: read it all before removing */
        curl_multi_remove_handle(h->multi, c->_easy);
        if (res == CURLE_OK && follow(h, c)) {
            hops++;
            continue;
        }
        busy_unlink(h, c);
        finished(h, c, res == CURLE_OK && (c->status > 0 || c->_redirect_status > 0) && c->status < 500,
                 c->_denied[0] == '\0');
        if (res != CURLE_OK) {
            if (c->_denied[0] != '\0')
                snprintf(c->error, sizeof(c->error), "target address %s denied by policy",
                         c->_denied);
            else if (c->error[0] == '\0')
                snprintf(c->error, sizeof(c->error), "%s", curl_easy_strerror(res));
        }
        fifo_push(&h->done, c);
    }
    before = h->nbusy;
    if (h->wait_head != NULL)
        sweep(h);
    promote(h);
    return h->nbusy - before + hops;
}

/*
 * pause_credit - the relay thread was away @gap ms up to @mono: give that
 * time back to every call that was out meanwhile, waiting or in libcurl (see
 * the file comment); one sent during the turn gets the time since it was
 * sent, at most. A call in libcurl gets a longer libcurl timeout, enforced
 * here.
 */
static void pause_credit(struct mr_relay_http *h, int64_t gap, int64_t mono)
{
    struct mr_relay_dest *d;
    struct mr_relay_call *c;
    int64_t credit;
    size_t i;

    for (c = h->busy; c != NULL; c = c->_next) {
        credit = mono - c->_lc_start_ms < gap ? mono - c->_lc_start_ms : gap;
        if (c->_timeout_ms <= 0 || credit <= 0)
            continue;
        c->_paused_ms += credit;
        c->_lc_timeout_ms += (long)credit;
        /* a plain number into a handle libcurl already checked: cannot fail */
        curl_easy_setopt(c->_easy, CURLOPT_TIMEOUT_MS, c->_lc_timeout_ms);
        curl_easy_setopt(c->_easy, CURLOPT_CONNECTTIMEOUT_MS, c->_lc_timeout_ms);
        if (!c->_clocked) {
            c->_clocked = true;
            h->nclocked++;
        }
    }
    for (d = h->wait_head; d != NULL; d = d->wnext) {
        for (c = d->wait.head; c != NULL; c = c->_next)
            c->_paused_ms += mono - c->_sent_ms < gap ? mono - c->_sent_ms : gap;
    }
    /* nor is a destination stalled for the time we did not look */
    for (i = 0; i < h->ndests_cap; i++) {
        for (d = h->dests[i]; d != NULL; d = d->hnext)
            d->progress_ms += gap;
    }
}

/* expire_paused - fail the calls given more time by pause_credit() whose time is up now. */
static void expire_paused(struct mr_relay_http *h)
{
    int64_t mono = mr_mono_ms();
    struct mr_relay_call *c = h->busy;
    struct mr_relay_call *next;

    while (h->nclocked > 0 && c != NULL) {
        next = c->_next;
        if (c->_clocked && mono - c->_lc_start_ms >= c->_lc_timeout_ms) {
            /* removed unfinished: libcurl closes its connection (no stray answer is read) */
            curl_multi_remove_handle(h->multi, c->_easy);
            busy_unlink(h, c);
            finished(h, c, false, true);
            snprintf(c->error, sizeof(c->error),
                     "Operation timed out after %ld milliseconds (the relay's own pauses not "
                     "counted)",
                     elapsed(c, mono));
            fifo_push(&h->done, c);
        }
        c = next;
    }
}

/*
 * multi_new - a multi handle for @h, its callbacks and connection limits
 * set, in @*out. Returns 0 or MR_EIO (libcurl out of memory).
 */
static int multi_new(struct mr_relay_http *h, CURLM **out, struct mr_err *err)
{
    CURLM *m = curl_multi_init();
    long conns = (long)h->max_slots;

    *out = NULL;
    if (m == NULL)
        return mr_err_set(err, MR_EIO, "curl_multi_init failed");
    if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, (void *)h) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, (void *)h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return mr_err_set(err, MR_EIO, "cannot set the multi callbacks");
    }
    /* total connections open at once, and how many idle ones the cache keeps alive */
    if (curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, conns) != CURLM_OK) {
        curl_multi_cleanup(m);
        return mr_err_set(err, MR_EIO, "cannot set the connection limit");
    }
    *out = m;
    return 0;
}

/*
 * close_idle_connections - close the kept-alive connections of @h, which has
 * no call in libcurl and none waiting: libcurl has no call to close its cache
 * short of cleaning up the multi handle, so a fresh one takes its place (the
 * old one stays should the new one fail). Its sockets leave the epoll set
 * first and h->fds forgets them. Returns how many were in the set: the open
 * connections (a socket libcurl closed earlier left the set by itself).
 */
static size_t close_idle_connections(struct mr_relay_http *h)
{
    CURLM *m;
    size_t fd;
    size_t open = 0;
    struct mr_err err = MR_ERR_INIT;

    /* no socket since the last time (a relay that has called no one): nothing to close */
    for (fd = 0; fd < h->nfds && !(h->fds[fd] & FD_IN_SET); fd++)
        ;
    if (fd == h->nfds)
        return 0;
    if (multi_new(h, &m, &err) != 0) {
        mr_log(MR_LOG_WARN, "cannot close the idle connections", "error", err.msg, NULL);
        return 0;
    }
    for (fd = 0; fd < h->nfds; fd++) {
        /* a number closed behind our back may be the watched fd's now: never drop that */
        if (!(h->fds[fd] & FD_IN_SET) || (int)fd == h->wake_fd || (int)fd == h->watch_fd)
            continue;
        if (epoll_ctl(h->epfd, EPOLL_CTL_DEL, (int)fd, NULL) == 0)
            open++;
    }
    curl_multi_cleanup(h->multi); /* closes them; may call on_socket and on_timer */
    h->multi = m;
    h->timer_due = -1;
    h->timer_told = false;
    free(h->fds);
    h->fds = NULL;
    h->nfds = 0;
    return open;
}

int mr_relay_http_poll(struct mr_relay_http *h, int timeout_ms)
{
    int wait = timeout_ms < 0 ? 0 : timeout_ms;
    int running = 0;
    CURLMcode mc = CURLM_OK;
    int64_t mono = mr_mono_ms();
    int n;
    int i;

    if (h->left_ms > 0 && mono - h->left_ms >= PAUSE_MIN_MS)
        pause_credit(h, mono - h->left_ms, mono);

    if (h->timer_due >= 0) {
        /* rounded up: waking before the timer is due would only arm it again */
        int64_t left = (h->timer_due - now_us() + 999) / 1000;

        if (left < wait)
            wait = left < 0 ? 0 : (int)left;
    }
    /* a destination may stall while calls wait for it: look again soon */
    if ((h->wait_head != NULL || h->nclocked > 0) && wait > STALL_CHECK_MS)
        wait = STALL_CHECK_MS;
    n = epoll_wait(h->epfd, h->events, h->nevents, wait);
    if (n < 0) {
        if (errno != EINTR) {
            mr_log(MR_LOG_ERROR, "epoll_wait failed", "error", strerror(errno), NULL);
            return MR_EIO;
        }
        n = 0;
    }
    for (i = 0; i < n && mc == CURLM_OK; i++) {
        int fd = h->events[i].data.fd;

        if (fd == h->wake_fd) {
            uint64_t v;

            if (read(h->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                mr_log(MR_LOG_WARN, "cannot read the wake-up eventfd", "error", strerror(errno),
                       NULL);
            continue;
        }
        if (fd == h->watch_fd)
            continue; /* its owner empties it (mr_relay_kafka_poll) */
        if ((size_t)fd < h->nfds && !(h->fds[fd] & FD_WANTED)) {
            unwatch(h, fd); /* an idle kept-alive connection the server closed, say */
            continue;
        }
        mc = curl_multi_socket_action(h->multi, fd, cselect(h->events[i].events), &running);
    }
    /* socket_action above has run every expired timer too; this covers a wait that only timed out */
    if (mc == CURLM_OK && h->timer_due >= 0 && now_us() >= h->timer_due) {
        h->timer_told = false;
        mc = curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        /*
         * libcurl calls on_timer when its earliest timer changes (7.88 also
         * after every CURL_SOCKET_TIMEOUT). Should no call come, the old due
         * time is spent: ask for the new one rather than spin or stall.
         */
        if (mc == CURLM_OK && !h->timer_told) {
            long ms = -1;

            mc = curl_multi_timeout(h->multi, &ms);
            h->timer_due = ms < 0 ? -1 : now_us() + (int64_t)ms * 1000;
        }
    }
    /* what arrived is read above; only now are the calls given more time judged */
    if (mc == CURLM_OK && h->nclocked > 0)
        expire_paused(h);
    /*
     * Calls waiting for a slot start now, not a relay loop turn later, and
     * are driven at once: a connection goes straight on to its next call.
     */
    if (mc == CURLM_OK && collect(h) > 0)
        mc = curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    h->left_ms = mr_mono_ms();
    if (mc != CURLM_OK) {
        mr_log(MR_LOG_ERROR, "curl multi failed", "error", curl_multi_strerror(mc), NULL);
        return MR_EIO;
    }
    return 0;
}

struct mr_relay_call *mr_relay_http_done(struct mr_relay_http *h)
{
    return fifo_pop(&h->done);
}

void mr_relay_http_recycle(struct mr_relay_http *h, struct mr_relay_call *c)
{
    if (c != NULL)
        call_put(h, c);
}

void mr_relay_http_cancel_all(struct mr_relay_http *h)
{
    struct mr_relay_dest *d;
    struct mr_relay_call *c;

    while (h->busy != NULL) {
        c = h->busy;

        curl_multi_remove_handle(h->multi, c->_easy);
        busy_unlink(h, c);
        d = c->_dest;
        c->_dest = NULL;
        call_put(h, c);
        dest_put(h, d);
    }
    while (h->wait_head != NULL) {
        d = h->wait_head;
        c = wait_pop(h, d);
        c->_dest = NULL;
        call_put(h, c);
        dest_put(h, d);
    }
    while (h->done.head != NULL)
        call_put(h, fifo_pop(&h->done));
}

size_t mr_relay_http_shed(struct mr_relay_http *h)
{
    struct mr_relay_call *c;

    while (h->idle != NULL) {
        c = h->idle;
        h->idle = c->_next;
        call_free(c);
    }
    h->nidle = 0;
    if (h->busy != NULL || h->nwait > 0)
        return 0;
    return close_idle_connections(h);
}

size_t mr_relay_http_inflight(const struct mr_relay_http *h)
{
    return h->nbusy + h->nwait + h->done.n;
}

bool mr_relay_http_full(const struct mr_relay_http *h)
{
    return h->max_slots > 0 && h->nwait >= h->max_slots;
}

void mr_relay_http_wakeup(struct mr_relay_http *h)
{
    uint64_t one = 1;

    /* EAGAIN only when the counter is full: poll is woken already */
    if (write(h->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        mr_log(MR_LOG_WARN, "cannot write the wake-up eventfd", "error", strerror(errno), NULL);
}

void mr_relay_http_watch_fd(struct mr_relay_http *h, int fd)
{
    struct epoll_event ev;

    if (fd == h->watch_fd)
        return;
    if (h->watch_fd >= 0)
        epoll_ctl(h->epfd, EPOLL_CTL_DEL, h->watch_fd, NULL);
    h->watch_fd = -1;
    if (fd < 0)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        mr_log(MR_LOG_ERROR, "cannot watch fd", "error", strerror(errno), NULL);
        return;
    }
    h->watch_fd = fd;
}

void mr_relay_http_free(struct mr_relay_http *h)
{
    size_t i;

    if (h == NULL)
        return;
    mr_relay_http_cancel_all(h);
    while (h->idle != NULL) {
        struct mr_relay_call *c = h->idle;

        h->idle = c->_next;
        call_free(c);
    }
    /* closes the cached connections, which may still call on_socket: epfd goes last */
    curl_multi_cleanup(h->multi);
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    if (h->epfd >= 0)
        close(h->epfd);
    free(h->events);
    free(h->fds);
    for (i = 0; h->dests != NULL && i < h->ndests_cap; i++) {
        while (h->dests[i] != NULL) {
            struct mr_relay_dest *d = h->dests[i];

            h->dests[i] = d->hnext;
            free(d->host);
            free(d);
        }
    }
    free(h->dests);
    mr_relay_health_clear(&h->health);
    free(h);
}

int mr_relay_http_new(int max_connections, int per_target, long stall_ms,
                      struct mr_relay_http **out, struct mr_err *err)
{
    struct mr_relay_http *h = mr_xcalloc(1, sizeof(*h));
    size_t conns = max_connections > 0 ? (size_t)max_connections : 1;
    struct epoll_event ev;
    int rc;

    *out = NULL;
    h->epfd = -1;
    h->wake_fd = -1;
    h->watch_fd = -1;
    h->timer_due = -1;
    h->keep = conns > FREE_KEEP_MIN ? conns : FREE_KEEP_MIN;
    h->max_slots = conns;
    h->per_target = per_target > 0 ? (size_t)per_target : 1;
    h->stall_ms = stall_ms > 0 ? stall_ms : 1000;
    h->ndests_cap = 64;
    h->dests = mr_xcalloc(h->ndests_cap, sizeof(*h->dests));
    mr_relay_health_init(&h->health, 0, 0);
    /*
     * Sized so one wait takes every ready socket: the relay loop may be away
     * for tens of milliseconds of store work, and a ready socket left for the
     * next turn waits that long again (level-triggered, so none is lost).
     */
    h->nevents = (int)conns + EVENTS_SPARE;
    h->events = mr_xcalloc((size_t)h->nevents, sizeof(*h->events));
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd < 0) {
        rc = mr_err_set(err, MR_ESYS, "cannot create the epoll set: %s", strerror(errno));
        goto fail;
    }
    h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->wake_fd < 0) {
        rc = mr_err_set(err, MR_ESYS, "cannot create the wake-up eventfd: %s", strerror(errno));
        goto fail;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = h->wake_fd;
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wake_fd, &ev) != 0) {
        rc = mr_err_set(err, MR_ESYS, "cannot watch the wake-up eventfd: %s", strerror(errno));
        goto fail;
    }
    rc = multi_new(h, &h->multi, err);
    if (rc != 0)
        goto fail;
    *out = h;
    return 0;
fail:
    mr_relay_http_free(h);
    return rc;
}

void mr_relay_http_health(struct mr_relay_http *h, int unhealthy_after, long probe_ms)
{
    mr_relay_health_init(&h->health, unhealthy_after, probe_ms);
}

struct mr_relay_health *mr_relay_http_health_of(struct mr_relay_http *h)
{
    return &h->health;
}
