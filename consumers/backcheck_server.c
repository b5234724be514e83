/* SPDX-License-Identifier: MIT */
/*
 * backcheck_server.c - mr_backcheck_server_* (msgrelay/backcheck.h): the
 * back-check (QueryPrepared) served over HTTP from the barrier table, and the
 * application's other routes handed to its handler.
 *
 * Built on libmicrohttpd, which msgrelay itself already uses for its intake:
 * one thread per connection, a bounded number of connections, a bounded body
 * per request, a connection timeout. The raw request line is taken from the
 * URI log callback, so a handler sees the query string as sent.
 *
 * The application's database is MySQL/MariaDB (opts.mysql_uri) or
 * PostgreSQL (mr_backcheck_server_start_pg's URI); the back-check is the
 * barrier's of that engine.
 *
 * Must not: share a MYSQL or PGconn handle between threads (each back-check connects
 * and disconnects), let a handler's failure take the server down (a NULL
 * body is an empty body; a bad status becomes 500), or read a body without a
 * cap. Thread: start and stop from one thread; the rest runs on libmicrohttpd's.
 * Errors: MR_BARRIER_* codes with a message in the caller's buffer.
 */
#include "msgrelay/backcheck.h"
#include "msgrelay/barrier.h"
#include "msgrelay/barrier_pg.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/sdk.h"

/* Seconds an idle connection stays open. */
#define IDLE_TIMEOUT_S 60u

struct mr_backcheck_server {
    struct MHD_Daemon *daemon;
    char *path;
    char *db_uri; /* the mysql:// or postgres:// URI of the options */
    bool pg;      /* db_uri is PostgreSQL's */
    char *table; /* NULL: the barrier's default */
    mr_backcheck_handler_fn handler;
    mr_backcheck_log_fn log;
    void *arg;
    size_t body_max;
    unsigned short port;
};

/* One request being read. */
struct request {
    char *uri; /* path and query as received */
    bool started;
    bool too_big;
    struct mr_buf body;
};

/* answer - send @status with @body (@len bytes, copied), JSON. */
static enum MHD_Result answer(struct MHD_Connection *conn, int status, const char *body, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (len > 0)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* answer_text - answer() with a static NUL-terminated body. */
static enum MHD_Result answer_text(struct MHD_Connection *conn, int status, const char *body)
{
    return answer(conn, status, body, strlen(body));
}

/* serve_backcheck - the barrier's answer for ?gid= on a fresh connection. */
static enum MHD_Result serve_backcheck(struct mr_backcheck_server *s, struct MHD_Connection *conn)
{
    const char *gid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "gid");
    const char *body = NULL;
    char err[512] = "";
    MYSQL *db = NULL;
    int status;
    int rc;

    if (gid == NULL)
        gid = "";
    /* a bad URI (EINVAL from connect) is the server's, not the request's, fault */
    if (s->pg) {
        PGconn *pg = NULL;

        rc = mr_barrier_connect_pg(&pg, s->db_uri, err, sizeof(err));
        if (rc == MR_BARRIER_SUCCESS)
            rc = mr_barrier_query_prepared_pg(pg, s->table, gid, err, sizeof(err));
        else
            rc = MR_BARRIER_ERROR;
        PQfinish(pg); /* NULL is a no-op */
    } else {
        rc = mr_barrier_connect(&db, s->db_uri, err, sizeof(err));
        if (rc == MR_BARRIER_SUCCESS) {
            rc = mr_barrier_query_prepared(db, s->table, gid, err, sizeof(err));
            mysql_close(db);
        } else {
            rc = MR_BARRIER_ERROR;
        }
    }
    if (s->log != NULL)
        s->log(gid, rc, err, s->arg);
    status = mr_barrier_http_answer(rc, &body);
    return answer_text(conn, status, body);
}

/* serve_handler - the application's answer, or 404 without a handler. */
static enum MHD_Result serve_handler(struct mr_backcheck_server *s, struct MHD_Connection *conn,
                                     const char *method, const char *url, struct request *r)
{
    const char *q = strchr(r->uri, '?');
    struct mr_backcheck_request req = {method, url, q != NULL ? q + 1 : "", r->body.p,
                                       r->body.len};
    enum MHD_Result ret;
    int status = 500;
    char *body;

    if (s->handler == NULL)
        return answer_text(conn, 404, "{\"error\":\"no such route\"}");
    body = s->handler(&req, &status, s->arg);
    if (status < 100 || status > 599)
        status = 500;
    ret = answer(conn, status, body != NULL ? body : "", body != NULL ? strlen(body) : 0);
    free(body);
    return ret;
}

/* on_uri - MHD's URI log callback: the request's state, with the raw URI. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct mr_backcheck_server *s = cls;
    struct request *r = mr_xcalloc(1, sizeof(*r));

    (void)conn;
    r->uri = mr_xstrdup(uri);
    mr_buf_init(&r->body, s->body_max);
    return r;
}

/* on_done - free a request's state. */
static void on_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                    enum MHD_RequestTerminationCode code)
{
    struct request *r = *req_cls;

    (void)cls;
    (void)conn;
    (void)code;
    if (r == NULL)
        return;
    free(r->uri);
    mr_buf_release(&r->body);
    free(r);
    *req_cls = NULL;
}

/* on_request - read the body (up to the cap), then route. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct mr_backcheck_server *s = cls;
    struct request *r = *req_cls;

    (void)version;
    if (r == NULL)
        return MHD_NO;
    if (!r->started) {
        r->started = true;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!r->too_big && mr_buf_add(&r->body, upload, *upload_size) != 0)
            r->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return answer_text(conn, 413, "{\"error\":\"body too large\"}");
    if (strcmp(url, s->path) == 0) {
        if (strcmp(method, "GET") != 0)
            return answer_text(conn, 405, "{\"error\":\"the back-check is a GET\"}");
        return serve_backcheck(s, conn);
    }
    return serve_handler(s, conn, method, url, r);
}

/* server_free - free @s's copies (not the daemon). */
static void server_free(struct mr_backcheck_server *s)
{
    free(s->path);
    if (s->db_uri != NULL)
        memset(s->db_uri, 0, strlen(s->db_uri)); /* it may hold a password */
    free(s->db_uri);
    free(s->table);
    free(s);
}

/*
 * listen_addr - @bind as a socket address in @ss; *@v6 says which family.
 * 0, or MR_EINVAL.
 */
static int listen_addr(const char *bind, unsigned short port, struct sockaddr_storage *ss,
                       bool *v6, struct mr_err *err)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    *v6 = false;
    if (inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, bind, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *v6 = true;
        return 0;
    }
    return mr_err_set(err, MR_EINVAL, "bind %s: not an IPv4 or IPv6 address", bind);
}

/*
 * check_opts - the checks of mr_backcheck_server_start() that need no
 * socket; @pg_uri is mr_backcheck_server_start_pg()'s (NULL for MySQL).
 */
static int check_opts(const struct mr_backcheck_opts *o, const char *pg_uri, struct mr_err *err)
{
    if (pg_uri == NULL && (o->mysql_uri == NULL || strncmp(o->mysql_uri, "mysql://", 8) != 0))
        return mr_err_set(err, MR_EINVAL, "mysql_uri: want mysql://USER[:PASS]@HOST[:PORT]/DB");
    if (pg_uri != NULL && o->mysql_uri != NULL)
        return mr_err_set(err, MR_EINVAL, "mysql_uri: must be NULL on PostgreSQL");
    if (pg_uri != NULL && strncmp(pg_uri, "postgres://", 11) != 0 &&
        strncmp(pg_uri, "postgresql://", 13) != 0)
        return mr_err_set(err, MR_EINVAL, "pg_uri: want postgres://USER[:PASS]@HOST[:PORT]/DB");
    if (o->path != NULL && o->path[0] != '/')
        return mr_err_set(err, MR_EINVAL, "path: must start with '/'");
    if (o->body_max > MR_BACKCHECK_BODY_MAX_LIMIT)
        return mr_err_set(err, MR_EINVAL, "body_max: at most %d bytes",
                          MR_BACKCHECK_BODY_MAX_LIMIT);
    if (o->table != NULL)
        return mr_sdk_check_table(o->table, err);
    return 0;
}

/* server_start - mr_backcheck_server_start() (@pg_uri NULL) or its PostgreSQL form. */
static int server_start(struct mr_backcheck_server **out, const struct mr_backcheck_opts *opts,
                        const char *pg_uri, char *errbuf, size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_backcheck_server *s;
    struct sockaddr_storage addr;
    const union MHD_DaemonInfo *info;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    bool v6;

    *out = NULL;
    if (opts == NULL) {
        mr_sdk_errbuf(errbuf, errlen, "no options");
        return MR_BARRIER_EINVAL;
    }
    if (check_opts(opts, pg_uri, &err) != 0 ||
        listen_addr(opts->bind != NULL ? opts->bind : "127.0.0.1", opts->port, &addr, &v6,
                    &err) != 0) {
        mr_sdk_errbuf(errbuf, errlen, err.msg);
        return MR_BARRIER_EINVAL;
    }
    s = mr_xcalloc(1, sizeof(*s));
    s->path = mr_xstrdup(opts->path != NULL ? opts->path : MR_BACKCHECK_PATH_DEFAULT);
    s->pg = pg_uri != NULL;
    s->db_uri = mr_xstrdup(s->pg ? pg_uri : opts->mysql_uri);
    s->table = opts->table != NULL ? mr_xstrdup(opts->table) : NULL;
    s->handler = opts->handler;
    s->log = opts->log;
    s->arg = opts->arg;
    s->body_max = opts->body_max != 0 ? opts->body_max : MR_BACKCHECK_BODY_MAX_DEFAULT;
    if (v6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, opts->port, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MR_BACKCHECK_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (s->daemon == NULL) {
        mr_err_set(&err, MR_EUNAVAIL, "cannot listen on %s port %u",
                   opts->bind != NULL ? opts->bind : "127.0.0.1", (unsigned)opts->port);
        mr_sdk_errbuf(errbuf, errlen, err.msg);
        server_free(s);
        return MR_BARRIER_ERROR;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL && info->port != 0 ? info->port : opts->port;
    *out = s;
    mr_sdk_errbuf(errbuf, errlen, "");
    return MR_BARRIER_SUCCESS;
}

int mr_backcheck_server_start(struct mr_backcheck_server **out,
                              const struct mr_backcheck_opts *opts, char *errbuf, size_t errlen)
{
    return server_start(out, opts, NULL, errbuf, errlen);
}

int mr_backcheck_server_start_pg(struct mr_backcheck_server **out,
                                 const struct mr_backcheck_opts *opts, const char *pg_uri,
                                 char *errbuf, size_t errlen)
{
    if (pg_uri == NULL) {
        *out = NULL;
        mr_sdk_errbuf(errbuf, errlen, "pg_uri: missing");
        return MR_BARRIER_EINVAL;
    }
    return server_start(out, opts, pg_uri, errbuf, errlen);
}

unsigned short mr_backcheck_server_port(const struct mr_backcheck_server *s)
{
    return s->port;
}

void mr_backcheck_server_stop(struct mr_backcheck_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    server_free(s);
}
