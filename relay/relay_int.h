/* SPDX-License-Identifier: MIT */
/*
 * relay_int.h - declarations shared inside relay/ only: the HTTP engine
 * (relay_http.c) that the scheduler (relay_sched.c) drives.
 *
 * The engine is one libcurl multi handle with a free list of easy handles.
 * It belongs to the relay thread: every function here must be called from that
 * thread, except mr_relay_http_wakeup(). It runs no callbacks: the scheduler
 * asks for finished calls with mr_relay_http_done() and hands each back with
 * mr_relay_http_recycle() once it has read the answer.
 */
#ifndef MR_RELAY_RELAY_INT_H
#define MR_RELAY_RELAY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/err.h"

/* Response bodies are kept up to this many bytes; the rest is dropped (not an error). */
#define MR_RELAY_BODY_MAX (64 * 1024)

struct mr_relay_http;

/* What to send. Borrowed by mr_relay_http_send() except where noted. */
struct mr_relay_http_req {
    const char *url;  /* copied by libcurl */
    bool post;        /* POST @body, else GET */
    const char *body; /* must stay valid until the call is done or cancelled */
    size_t body_len;
    struct curl_slist *headers; /* taken: freed by the engine, even when sending fails */
    long timeout_ms;            /* whole-call timeout, connect included */
};

/* One call. Public fields are read-only for the scheduler; "_" fields are the engine's. */
struct mr_relay_call {
    /* set by the scheduler at send time */
    void *owner;  /* whom the answer belongs to */
    size_t index; /* which of the owner's calls */
    /* set by the engine when the call is done */
    long status;                 /* HTTP status; 0 when no answer arrived */
    struct mr_buf body;          /* the answer's body, at most MR_RELAY_BODY_MAX bytes */
    bool truncated;              /* the body was longer and was cut */
    char error[CURL_ERROR_SIZE]; /* transfer error text when status is 0 */
    /* private */
    CURL *_easy;
    struct curl_slist *_headers;
    struct mr_relay_call *_next; /* free list / in-flight list link */
    struct mr_relay_call *_prev;
};

/*
 * mr_relay_http_new - a multi handle allowing @max_connections connections
 * in total (kept alive between calls). Owned result: mr_relay_http_free().
 */
int mr_relay_http_new(int max_connections, struct mr_relay_http **out, struct mr_err *err);

/*
 * mr_relay_http_free - cancel every call in flight (without reporting them),
 * clean up every easy handle and the multi handle. NULL is a no-op.
 */
void mr_relay_http_free(struct mr_relay_http *h);

/*
 * mr_relay_http_send - start the call @rq on behalf of @owner/@index. It
 * proceeds in mr_relay_http_poll() and is reported by mr_relay_http_done().
 * MR_EIO with libcurl's text when it cannot be started (nothing in flight then).
 */
int mr_relay_http_send(struct mr_relay_http *h, const struct mr_relay_http_req *rq, void *owner,
                       size_t index, struct mr_err *err);

/*
 * mr_relay_http_poll - wait up to @timeout_ms for socket activity, a libcurl
 * timer or mr_relay_http_wakeup(), then drive every transfer. Returns 0, or
 * MR_EIO (logged) when libcurl failed; the caller simply goes round again.
 */
int mr_relay_http_poll(struct mr_relay_http *h, int timeout_ms);

/*
 * mr_relay_http_done - the next finished call, or NULL. The call is out of
 * the engine until mr_relay_http_recycle() hands it back.
 */
struct mr_relay_call *mr_relay_http_done(struct mr_relay_http *h);

/* mr_relay_http_recycle - return finished call @c for reuse (its easy handle is kept). */
void mr_relay_http_recycle(struct mr_relay_http *h, struct mr_relay_call *c);

/* mr_relay_http_cancel_all - stop every call in flight without reporting it. */
void mr_relay_http_cancel_all(struct mr_relay_http *h);

/* mr_relay_http_inflight - how many calls are in flight (sent and not yet taken by done()). */
size_t mr_relay_http_inflight(const struct mr_relay_http *h);

/* mr_relay_http_wakeup - make a blocked mr_relay_http_poll() return. Any thread; never blocks. */
void mr_relay_http_wakeup(struct mr_relay_http *h);

#endif
