/* SPDX-License-Identifier: MIT */
/*
 * client_int.h - what the files of client/ share (not installed, not a public
 * face): the message struct behind the opaque handle, and the pure pieces of
 * talking to the server (URLs, request bodies, how an answer is classified and
 * described) next to the one function that makes an HTTP call.
 *
 * Library-internal names carry a double underscore (mr_client__*), so they
 * cannot be taken for the public mr_client_* API. Everything here works on
 * caller-owned state; a message belongs to one thread at a time.
 */
#ifndef MR_CLIENT_CLIENT_INT_H
#define MR_CLIENT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/sdk.h"
#include "msgrelay/client.h"

/* Cap on an answer body kept from the server or the back-check. */
#define MR_CLIENT__ANSWER_MAX (64 * 1024)

/* Cap on a request body or URL we build (payloads are the caller's memory anyway). */
#define MR_CLIENT__REQUEST_MAX ((size_t)64 * 1024 * 1024)

/* Cap on a connect, whatever the total timeout. */
#define MR_CLIENT__CONNECT_TIMEOUT_MS 5000L

/* One branch header: sent as "name: value". */
struct mr_client_header {
    char *name;
    char *value;
};

struct mr_client_msg {
    char *server; /* base URL, no trailing '/' */
    char *gid;
    char **actions; /* nsteps step URLs */
    char **payloads;
    size_t nsteps;
    size_t cap_actions;
    size_t cap_payloads;
    struct mr_client_header *headers;
    size_t nheaders;
    size_t cap_headers;
    char *query_prepared; /* NULL until a prepare names one */
    char *barrier_table;  /* NULL: MR_BARRIER_TABLE_DEFAULT */
    int timeout_to_fail;  /* seconds; 0: leave the field out */
    int retry_interval;
    int request_timeout;
    int delay; /* submit only */
    bool concurrent;
    bool wait_result;
    long call_timeout_ms;
    char *token;   /* sent to the server only; NULL: none (wiped when replaced or freed) */
    char *ca_file; /* CURLOPT_CAINFO; NULL: the system's store */
    char *traceparent; /* W3C trace context sent to the server; NULL: none */
    char *tracestate;  /* NULL: none */
    CURL *curl; /* created by the first call, reused so prepare and submit share a connection */
};

/* Which call a request body is for: they differ only in custom_data. */
enum mr_client__call {
    MR_CLIENT__PREPARE,
    MR_CLIENT__SUBMIT,
    MR_CLIENT__ABORT,
};

/* What one HTTP call brought back. Init with mr_client__answer_init(). */
struct mr_client_answer {
    long status;                 /* 0: no answer (refused, timed out, too long...) */
    struct mr_buf body;          /* at most MR_CLIENT__ANSWER_MAX bytes */
    char error[CURL_ERROR_SIZE]; /* libcurl's text when status is 0 */
};

/* mr_client__answer_init - an empty answer. */
void mr_client__answer_init(struct mr_client_answer *a);

/* mr_client__answer_release - free what @a holds; it is empty again. */
void mr_client__answer_release(struct mr_client_answer *a);

/*
 * mr_client__route_url - append "@server/@route" to @out. 0 or MR_ETOOBIG.
 */
int mr_client__route_url(struct mr_buf *out, const char *server, const char *route);

/*
 * mr_client__backcheck_url - append the SDK's own back-check URL to @out:
 * @qp plus dtm=@server&gid=@gid&branch_id=00&trans_type=msg&op=msg, joined
 * with '&' when @qp already has a query, before any '#fragment', values
 * URL-escaped. 0 or MR_ETOOBIG.
 */
int mr_client__backcheck_url(struct mr_buf *out, const char *qp, const char *server,
                             const char *gid);

/*
 * mr_client__body - append the JSON body of @call for @m to @out: DTM's
 * fields (gid, trans_type, steps, payloads, query_prepared, concurrent, and
 * each option that is set); custom_data {"delay":N} on submit only.
 * 0 or MR_ETOOBIG.
 */
int mr_client__body(const struct mr_client_msg *m, enum mr_client__call call, struct mr_buf *out);

/*
 * mr_client__classify - MR_CLIENT_SUCCESS / MR_CLIENT_FAILURE / MR_CLIENT_ERROR
 * for an answer, by the one classifier (common/result.h): success -> success,
 * failure (409 or FAILURE) -> failure, ongoing and error -> error.
 */
int mr_client__classify(long status, const char *body, size_t len);

/*
 * mr_client__describe - append to @out what went wrong with the call @what
 * to @url given answer @a: "what: HTTP 409: <the server's message>" (its
 * "message" or "error" field, else the body, shortened) or, without an
 * answer, "what: <url>: <libcurl's error>". Nothing for a success.
 */
void mr_client__describe(const char *what, const char *url, const struct mr_client_answer *a,
                         struct mr_buf *out);

/*
 * mr_client__http - one HTTP call on easy handle @curl (reset first, so
 * earlier options never leak in; its connections are kept): POST @post
 * (@post_len bytes) when @post is not NULL, else GET; @headers borrowed;
 * total timeout @timeout_ms, connect timeout at most 5 s; no signals; only
 * http and https; certificates checked against @ca_file (NULL: the system's
 * store). Fills @a (status 0 and a message on any transport error, or when
 * the answer passes MR_CLIENT__ANSWER_MAX).
 */
void mr_client__http(CURL *curl, const char *url, const char *post, size_t post_len,
                     struct curl_slist *headers, long timeout_ms, const char *ca_file,
                     struct mr_client_answer *a);

/*
 * mr_client__headers - a header list: "Content-Type: application/json" and
 * "Expect:", then, when @m is not NULL, its branch headers. Owned result:
 * curl_slist_free_all().
 */
struct curl_slist *mr_client__headers(const struct mr_client_msg *m);

/*
 * mr_client__add_bearer - append "Authorization: Bearer @token" to @list
 * (nothing when @token is NULL); the line is wiped once libcurl has copied
 * it. Returns the list.
 */
struct curl_slist *mr_client__add_bearer(struct curl_slist *list, const char *token);

/* mr_client__add_trace - append @m's traceparent and tracestate headers to @list, when set. */
struct curl_slist *mr_client__add_trace(struct curl_slist *list, const struct mr_client_msg *m);

/* mr_client__token_ok - whether @token may be sent: 1 to MR_CLIENT_TOKEN_MAX visible ASCII bytes. */
bool mr_client__token_ok(const char *token);

struct mr_barrier;

/*
 * mr_client__local_fn - the local step of do_and_submit on one database:
 * the barrier call of @b with the caller's connection and callback (@ctx).
 * Returns the MR_BARRIER_* result, a message in @errbuf.
 */
typedef int (*mr_client__local_fn)(struct mr_barrier *b, void *ctx, char *errbuf, size_t errlen);

/*
 * mr_client__do_and_submit - mr_client_do_and_submit_db()'s rule
 * (msgrelay/client_db.h) with the local step @local(@ctx) of any database
 * (client/client_db.c).
 */
int mr_client__do_and_submit(struct mr_client_msg *m, const char *query_prepared,
                             mr_client__local_fn local, void *ctx, char *errbuf, size_t errlen);

/*
 * mr_client__finish - copy @msg into the caller's buffer (see
 * mr_sdk_errbuf) and return @rc; for the public calls' last line. Inline,
 * so client_db.c (in libmsgrelay-barrier) needs nothing hidden inside
 * libmsgrelay's shared library.
 */
static inline int mr_client__finish(int rc, const char *msg, char *errbuf, size_t errlen)
{
    mr_sdk_errbuf(errbuf, errlen, rc == MR_CLIENT_SUCCESS ? "" : msg);
    return rc;
}

#endif
