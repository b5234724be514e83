/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/backcheck.h - a small HTTP server for an application that answers
 * the relay's back-check (DTM's QueryPrepared) from the barrier table, and
 * optionally serves the application's own routes, so an app needs no HTTP
 * plumbing of its own.
 *
 *   GET <path>?gid=G&trans_type=msg&branch_id=00&op=msg
 *
 * is answered by mr_barrier_query_prepared() (or, started with
 * mr_backcheck_server_start_pg(), mr_barrier_query_prepared_pg()) on a fresh
 * connection to the application's database, mapped by mr_barrier_http_answer():
 * committed -> 200 {"dtm_result":"SUCCESS"}, rolled back or never ran ->
 * 409 {"dtm_result":"FAILURE"}, a missing or bad gid -> 400, a database
 * error -> 500 (the relay asks again later). Every other request goes to the
 * application's handler, if it gave one (404 otherwise).
 *
 * Part of libmsgrelay-barrier (pkg-config msgrelay-barrier), built on
 * libmicrohttpd. Threads: one thread per connection (at most
 * MR_BACKCHECK_CONNECTIONS at once), so a back-check that waits on an open
 * local transaction never holds up the others, and the SDK's own back-check
 * from mr_client_do_and_submit_db() inside a handler can reach this same
 * server. Each back-check opens and closes its own MYSQL or PGconn
 * connection (a handle belongs to one thread). Errors: MR_BARRIER_* codes with a
 * message in the caller's buffer.
 */
#ifndef MR_MSGRELAY_BACKCHECK_H
#define MR_MSGRELAY_BACKCHECK_H

#include <stddef.h>

#include "msgrelay/barrier.h" /* MYSQL: programs written for it use it through here */

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* The back-check path when none is given. */
#define MR_BACKCHECK_PATH_DEFAULT "/api/QueryPrepared"

/* The largest request body passed to a handler when body_max is 0 (bigger: 413). */
#define MR_BACKCHECK_BODY_MAX_DEFAULT (64 * 1024)

/* The most request bodies a server accepts, whatever body_max says. */
#define MR_BACKCHECK_BODY_MAX_LIMIT (16 * 1024 * 1024)

/* The most connections served at once; more wait in the listen queue. */
#define MR_BACKCHECK_CONNECTIONS 64

/* One request for the application's handler; every field borrowed for the call. */
struct mr_backcheck_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* the path, without the query */
    const char *query;  /* the raw query string after '?', "" when none */
    const char *body;   /* NUL-terminated (a body holding NUL is cut there for C strings) */
    size_t body_len;
};

/*
 * mr_backcheck_handler_fn - the application's answer to @req: set *@status
 * (e.g. 200) and return the body (JSON text, malloc()ed; the server frees
 * it) or NULL for an empty body. Runs on the connection's thread; @arg is
 * the opts' arg.
 */
typedef char *(*mr_backcheck_handler_fn)(const struct mr_backcheck_request *req, int *status,
                                         void *arg);

/*
 * mr_backcheck_log_fn - told about each back-check answered: the gid ("" when
 * none), the MR_BARRIER_* result and the barrier's message ("" when none).
 */
typedef void (*mr_backcheck_log_fn)(const char *gid, int result, const char *msg, void *arg);

struct mr_backcheck_opts {
    /* IPv4 or IPv6 address to listen on; NULL: "127.0.0.1". */
    const char *bind;
    /* TCP port; 0: any free port (see mr_backcheck_server_port()). */
    unsigned short port;
    /* The back-check route; NULL: MR_BACKCHECK_PATH_DEFAULT. */
    const char *path;
    /* Required by mr_backcheck_server_start(): the application's database,
     * mysql://USER[:PASS]@HOST[:PORT]/DB. Left NULL for mr_backcheck_server_start_pg(). */
    const char *mysql_uri;
    /* The barrier table; NULL: MR_BARRIER_TABLE_DEFAULT. */
    const char *table;
    /* Every other request; NULL: 404. */
    mr_backcheck_handler_fn handler;
    /* Told each back-check's outcome; NULL: nothing. */
    mr_backcheck_log_fn log;
    /* Passed to handler and log. */
    void *arg;
    /* Largest request body, bytes; 0: MR_BACKCHECK_BODY_MAX_DEFAULT. */
    size_t body_max;
};

/* A running server. Opaque. */
struct mr_backcheck_server;

/*
 * mr_backcheck_server_start - check @opts (strings are copied) and start
 * listening. MR_BARRIER_SUCCESS with *@out set (owned result:
 * mr_backcheck_server_stop()), MR_BARRIER_EINVAL (bad option: no
 * mysql_uri, a bind that is not an address, a path not starting with '/', a
 * bad table name, body_max over MR_BACKCHECK_BODY_MAX_LIMIT) or
 * MR_BARRIER_ERROR (cannot listen, with the reason), with *@out NULL.
 * The database is not contacted before the first back-check.
 */
int mr_backcheck_server_start(struct mr_backcheck_server **out,
                              const struct mr_backcheck_opts *opts, char *errbuf, size_t errlen);

/*
 * mr_backcheck_server_start_pg - mr_backcheck_server_start() for an
 * application on PostgreSQL: back-checks are answered by
 * mr_barrier_query_prepared_pg() (msgrelay/barrier_pg.h) on a fresh
 * connection to @pg_uri, postgres://USER[:PASS]@HOST[:PORT]/DB or
 * postgresql://... (libpq's query parameters allowed; borrowed, copied).
 * @opts->mysql_uri must be NULL. Same results; stopped by
 * mr_backcheck_server_stop().
 */
int mr_backcheck_server_start_pg(struct mr_backcheck_server **out,
                                 const struct mr_backcheck_opts *opts, const char *pg_uri,
                                 char *errbuf, size_t errlen);

/* mr_backcheck_server_port - the port @s listens on (the one chosen when opts.port was 0). */
unsigned short mr_backcheck_server_port(const struct mr_backcheck_server *s);

/*
 * mr_backcheck_server_stop - stop listening, wait for the requests being
 * served, free @s. NULL is a no-op. Not from inside a handler.
 */
void mr_backcheck_server_stop(struct mr_backcheck_server *s);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
