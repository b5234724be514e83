/* SPDX-License-Identifier: MIT */
/*
 * relay_http.c - the HTTP sink's engine: one libcurl multi handle driving
 * every outbound call of the relay from one thread (no thread per call).
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
 * A waiting call keeps its whole-call timeout, checked when its turn comes
 * (libcurl 7.88 let a pending call wait past its timeout until it got a
 * connection).
 *
 * Thread: the relay thread owns everything here; mr_relay_http_wakeup() is the
 * one entry any thread may use (curl_multi_wakeup is thread-safe).
 * Errors: a call that cannot be started is an error return; a call that fails
 * on the wire is a finished call with status 0 and libcurl's text.
 * Allocation failures inside libcurl at set-up abort, like mr_xmalloc.
 */
#include "relay/relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"

/* Idle calls kept for reuse beyond this many are cleaned up, so a burst does not pin memory. */
#define FREE_KEEP_MIN 64

/* An idle call keeps a body buffer up to this size; a larger one is freed. */
#define BODY_KEEP 16384

/* A singly linked queue of calls through _next, oldest first. */
struct fifo {
    struct mr_relay_call *head;
    struct mr_relay_call *tail;
    size_t n;
};

struct mr_relay_http {
    CURLM *multi;
    struct mr_relay_call *busy; /* in libcurl, doubly linked */
    struct fifo wait;           /* http:// calls waiting for a slot */
    struct fifo done;           /* finished, for mr_relay_http_done() */
    struct mr_relay_call *idle; /* free list */
    size_t nbusy;
    size_t nslots;    /* busy calls holding a slot (_slot) */
    size_t max_slots; /* max_connections */
    size_t nidle;
    size_t keep;  /* max idle calls kept */
    int watch_fd; /* an extra fd poll waits on (mr_relay_http_watch_fd), or -1 */
};

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
    c->owner = NULL;
    c->index = 0;
    c->status = 0;
    c->truncated = false;
    c->error[0] = '\0';
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
    /* destinations are http(s) only, and a redirect is an answer, not an order */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
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
    c->_prev = NULL;
    c->_next = h->busy;
    if (h->busy != NULL)
        h->busy->_prev = c;
    h->busy = c;
    h->nbusy++;
    if (c->_slot)
        h->nslots++;
    return CURLM_OK;
}

/* fail - finish @c without libcurl (its error text is set): mr_relay_http_done() reports it. */
static void fail(struct mr_relay_http *h, struct mr_relay_call *c)
{
    c->status = 0;
    fifo_push(&h->done, c);
}

/*
 * promote - start waiting calls while slots are free. A call keeps its
 * whole-call timeout: it gets what is left, and one whose time ran out while
 * waiting fails with libcurl's words for it.
 */
static void promote(struct mr_relay_http *h)
{
    while (h->wait.head != NULL && h->nslots < h->max_slots) {
        struct mr_relay_call *c = fifo_pop(&h->wait);
        long waited = (long)(mr_mono_ms() - c->_sent_ms);
        CURLMcode mc;

        if (c->_timeout_ms > 0) {
            long left = c->_timeout_ms - waited;

            if (left <= 0) {
                snprintf(c->error, sizeof(c->error),
                         "Operation timed out after %ld milliseconds with 0 bytes received",
                         waited);
                fail(h, c);
                continue;
            }
            /* cannot fail: libcurl checked these options at send time */
            curl_easy_setopt(c->_easy, CURLOPT_TIMEOUT_MS, left);
            curl_easy_setopt(c->_easy, CURLOPT_CONNECTTIMEOUT_MS, left);
        }
        mc = start(h, c);
        if (mc != CURLM_OK) {
            snprintf(c->error, sizeof(c->error), "cannot start call: %s",
                     curl_multi_strerror(mc));
            fail(h, c);
        }
    }
}

int mr_relay_http_send(struct mr_relay_http *h, const struct mr_relay_http_req *rq, void *owner,
                       size_t index, struct mr_err *err)
{
    struct mr_relay_call *c = call_get(h);
    CURLcode ec;
    CURLMcode mc;

    c->owner = owner;
    c->index = index;
    c->_headers = rq->headers;
    c->_timeout_ms = rq->timeout_ms;
    c->_sent_ms = mr_mono_ms();
    c->_slot = strncasecmp(rq->url, "http://", 7) == 0;
    ec = setup(c, rq);
    if (ec != CURLE_OK) {
        call_put(h, c);
        return mr_err_set(err, MR_EIO, "cannot set up call: %s", curl_easy_strerror(ec));
    }
    if (c->_slot && (h->nslots >= h->max_slots || h->wait.head != NULL)) {
        fifo_push(&h->wait, c);
        return 0;
    }
    mc = start(h, c);
    if (mc != CURLM_OK) {
        call_put(h, c);
        return mr_err_set(err, MR_EIO, "cannot start call: %s", curl_multi_strerror(mc));
    }
    return 0;
}

/*
 * collect - move every call libcurl has finished to the done list, then
 * start waiting calls in the slots that freed up. Returns how many started.
 */
static size_t collect(struct mr_relay_http *h)
{
    size_t before;

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
        /* m points into the handle: read it all before removing */
        curl_multi_remove_handle(h->multi, c->_easy);
        busy_unlink(h, c);
        if (res == CURLE_OK) {
            curl_easy_getinfo(c->_easy, CURLINFO_RESPONSE_CODE, &c->status);
        } else {
            c->status = 0;
            if (c->error[0] == '\0')
                snprintf(c->error, sizeof(c->error), "%s", curl_easy_strerror(res));
        }
        fifo_push(&h->done, c);
    }
    before = h->nbusy;
    promote(h);
    return h->nbusy - before;
}

int mr_relay_http_poll(struct mr_relay_http *h, int timeout_ms)
{
    struct curl_waitfd extra = {h->watch_fd, CURL_WAIT_POLLIN, 0};
    int running = 0;
    CURLMcode mc;

    if (timeout_ms < 0)
        timeout_ms = 0;
    /* curl_multi_poll waits no longer than libcurl's own next timer */
    mc = curl_multi_poll(h->multi, h->watch_fd >= 0 ? &extra : NULL, h->watch_fd >= 0 ? 1 : 0,
                         timeout_ms, NULL);
    if (mc == CURLM_OK)
        mc = curl_multi_perform(h->multi, &running);
    /*
     * Calls waiting for a slot start now, not a relay loop turn later, and
     * are driven at once: a connection goes straight on to its next call.
     */
    if (mc == CURLM_OK && collect(h) > 0)
        mc = curl_multi_perform(h->multi, &running);
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
    while (h->busy != NULL) {
        struct mr_relay_call *c = h->busy;

        curl_multi_remove_handle(h->multi, c->_easy);
        busy_unlink(h, c);
        call_put(h, c);
    }
    while (h->wait.head != NULL)
        call_put(h, fifo_pop(&h->wait));
    while (h->done.head != NULL)
        call_put(h, fifo_pop(&h->done));
}

size_t mr_relay_http_inflight(const struct mr_relay_http *h)
{
    return h->nbusy + h->wait.n + h->done.n;
}

void mr_relay_http_wakeup(struct mr_relay_http *h)
{
    curl_multi_wakeup(h->multi);
}

void mr_relay_http_watch_fd(struct mr_relay_http *h, int fd)
{
    h->watch_fd = fd;
}

void mr_relay_http_free(struct mr_relay_http *h)
{
    if (h == NULL)
        return;
    mr_relay_http_cancel_all(h);
    while (h->idle != NULL) {
        struct mr_relay_call *c = h->idle;

        h->idle = c->_next;
        call_free(c);
    }
    curl_multi_cleanup(h->multi);
    free(h);
}

int mr_relay_http_new(int max_connections, struct mr_relay_http **out, struct mr_err *err)
{
    struct mr_relay_http *h = mr_xcalloc(1, sizeof(*h));
    long conns = max_connections > 0 ? max_connections : 1;

    *out = NULL;
    h->multi = curl_multi_init();
    if (h->multi == NULL) {
        free(h);
        return mr_err_set(err, MR_EIO, "curl_multi_init failed");
    }
    h->keep = (size_t)conns > FREE_KEEP_MIN ? (size_t)conns : FREE_KEEP_MIN;
    h->max_slots = (size_t)conns;
    h->watch_fd = -1;
    /* total connections open at once, and how many idle ones the cache keeps alive */
    if (curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, conns) != CURLM_OK) {
        curl_multi_cleanup(h->multi);
        free(h);
        return mr_err_set(err, MR_EIO, "cannot set the connection limit");
    }
    *out = h;
    return 0;
}
