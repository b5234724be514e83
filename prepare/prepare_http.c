/* SPDX-License-Identifier: MIT */
/*
 * prepare_http.c - the HTTP intake: libmicrohttpd daemon, routes, bodies.
 *
 * Runs on libmicrohttpd's thread pool. Handlers never block on the store:
 * a request that needs it is parsed and validated here, then the connection is
 * suspended and the request queued to the group-commit writer, which resumes
 * the connection once the answer is known (after the commit). Bad input is
 * answered here with 400 "<field>: <problem>" and reaches no store. Bodies are
 * capped at mr_config.max_body while they arrive; one announced larger by its
 * Content-Length is answered 413 before it is read (no "100 Continue").
 *
 * Connections are bounded (--max-clients in all, --max-clients-per-ip from
 * one address) and so is the time a request may take to arrive: its headers
 * must be in --header-timeout after its start, its body --body-timeout after
 * it. A request starts when its connection is accepted or when the answer
 * before it on the connection is sent, so an idle keep-alive connection is
 * held to the header deadline too. libmicrohttpd knows only idle timeouts,
 * so a reaper thread shuts down (shutdown(2)) the socket of a connection
 * past its deadline and libmicrohttpd closes it on its own thread; the
 * connection list is locked around that, and libmicrohttpd reports a
 * connection closed (NOTIFY_CONNECTION) before it closes the socket, so the
 * reaper never touches a socket number already reused.
 *
 * Access: every route has a scope in the one route table (open, api, admin).
 * The token is checked on the request's first call, before its body is read;
 * a request without the right token is answered 401 (403 for the api token on
 * an admin route) and reaches nothing else. Tokens are compared in constant
 * time over their whole length and never logged.
 */
#include "prepare/prepare.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "prepare/prepare_int.h"

/* How often the reaper looks for connections past their deadline. */
#define REAP_EVERY_MS 200

/* One connection, from its accept to its close (MHD_OPTION_NOTIFY_CONNECTION). */
struct conn_slot {
    struct conn_slot *prev; /* in mr_prepare.conns, under conns_mu */
    struct conn_slot *next;
    int fd;
    bool cut;                      /* shut down by the reaper; under conns_mu */
    _Atomic int64_t start_ms;      /* mr_mono_ms() when the current request started */
    _Atomic int64_t deadline_ms;   /* when it must have arrived; 0: being answered */
    _Atomic int64_t headers_us;    /* mr_mono_us() when the current request's headers were in */
};

struct mr_prepare {
    struct MHD_Daemon *daemon;
    struct mr_writer *writer;
    struct mr_redrive *redrive; /* POST /api/msgrelay/redrive, beside the writer */
    /* the open connections and the reaper that enforces their deadlines */
    pthread_mutex_t conns_mu;
    pthread_cond_t reaper_cv;
    struct conn_slot *conns; /* conns_mu */
    bool reaper_stop;        /* conns_mu */
    bool reaper_running;
    pthread_t reaper;
    struct mr_ready *ready;
    struct mr_buf tls_cert; /* PEM, kept while the daemon runs */
    struct mr_buf tls_key;  /* PEM; wiped before it is freed */
    struct sockaddr_storage listen_sa; /* --bind:--port, resolved at start */
    socklen_t listen_len;
};

/* Per-connection request state, from the first call to the completion callback. */
struct conn_ctx {
    struct mr_buf body;
    bool too_big;
    bool answered; /* answered on the first call (401/403/413): the body is dropped unread */
    struct mr_req *req; /* queued to the writer; answered when resumed */
};

static struct conn_slot *slot_of(struct MHD_Connection *conn);

void mr_prepare_count_api(struct MHD_Connection *conn, int route, int status)
{
    struct conn_slot *s = slot_of(conn);
    int64_t us = 0;

    if (s != NULL)
        us = mr_mono_us() - atomic_load_explicit(&s->headers_us, memory_order_relaxed);
    mr_metrics_api(route, status, us);
}

static enum MHD_Result send_text(struct MHD_Connection *conn, int route, int status,
                                 const char *ctype, const char *body)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    /* every 503 is "not now": a full queue, a backlog, a store or a relay not answering */
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    mr_prepare_count_api(conn, route, status);
    return ret;
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, int route, struct mr_answer *a)
{
    return send_text(conn, route, a->status, "application/json; charset=utf-8",
                     a->body ? a->body : "{}");
}

/* send_envelope - answer now with the DTM envelope for @status. */
static enum MHD_Result send_envelope(struct MHD_Connection *conn, int route, int status,
                                     const char *message)
{
    struct mr_answer a = {0, NULL};
    enum MHD_Result ret;

    mr_reply_envelope(&a, status, message);
    ret = send_answer(conn, route, &a);
    free(a.body);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int route, json_t *j)
{
    struct mr_answer a = {0, NULL};
    enum MHD_Result ret;

    mr_reply_json(&a, j);
    ret = send_answer(conn, route, &a);
    free(a.body);
    return ret;
}

/* new_gid - 22 random characters from a 57-letter alphabet, like shortuuid. */
static void new_gid(char out[23])
{
    static const char abc[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    unsigned char rnd[22];
    size_t got = 0;
    size_t i;

    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

        if (n <= 0) {
            /* no entropy source: fall back to time-seeded state, still unique enough with ms */
            uint64_t s = (uint64_t)mr_now_ms() ^ ((uint64_t)getpid() << 32);

            for (i = got; i < sizeof(rnd); i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                rnd[i] = (unsigned char)(s >> 56);
            }
            break;
        }
        got += (size_t)n;
    }
    for (i = 0; i < 22; i++)
        out[i] = abc[rnd[i] % 57];
    out[22] = '\0';
}

static void resume_conn(void *conn)
{
    MHD_resume_connection(conn);
}

/*
 * enqueue - suspend @conn and hand @r to the writer (a redrive to its runner);
 * its answer comes on resume.
 */
static enum MHD_Result enqueue(struct mr_prepare *p, struct MHD_Connection *conn,
                               struct conn_ctx *c, struct mr_req *r)
{
    bool redrive = r->op == MR_OP_REDRIVE;

    r->conn = conn;
    c->req = r;
    /* suspend first: the writer may resume before this handler returns */
    MHD_suspend_connection(conn);
    if (redrive ? mr_redrive_submit(p->redrive, r) != 0 : mr_writer_submit(p->writer, r) != 0) {
        if (redrive)
            mr_reply_envelope(&r->answer, 409, "redrive: another redrive is running, retry later");
        else
            mr_reply_envelope(&r->answer, 503, "intake queue is full or shutting down, retry later");
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

/*
 * send_backlog_full - 503 to a submit over --backlog-max, before the writer:
 * what makes messages due waits until the relays catch up.
 */
static enum MHD_Result send_backlog_full(struct MHD_Connection *conn, int route)
{
    struct mr_answer a = {0, NULL};
    enum MHD_Result ret;

    mr_metrics_backlog_refused();
    mr_reply_envelopef(&a, 503,
                       "backlog: %ld due messages wait for delivery (over --backlog-max %d), "
                       "retry later",
                       mr_backlog_now(), mr_config.backlog_max);
    ret = send_answer(conn, route, &a);
    free(a.body);
    return ret;
}

/* send_too_big - the answer to a body over --max-body. */
static enum MHD_Result send_too_big(struct MHD_Connection *conn, int route)
{
    char msg[80];

    snprintf(msg, sizeof(msg), "body: larger than %zu bytes", mr_config.max_body);
    return send_envelope(conn, route, 400, msg);
}

/* req_new - a new request of @op for @route. */
static struct mr_req *req_new(enum mr_req_op op, int route)
{
    struct mr_req *r = mr_xcalloc(1, sizeof(*r));

    r->op = op;
    r->route = route;
    return r;
}

/*
 * take_trace - the request's W3C trace context into @m (common/trace.h): a
 * valid traceparent and, with it, a tracestate within its limit. An invalid
 * traceparent is dropped with its tracestate; the message then has none.
 */
static void take_trace(struct MHD_Connection *conn, struct mr_msg *m)
{
    const char *tp = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent");
    const char *ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "tracestate");

    if (tp == NULL)
        return;
    if (!mr_trace_parent_ok(tp)) {
        mr_log(MR_LOG_DEBUG, "invalid traceparent dropped", "gid", m->gid, NULL);
        return;
    }
    m->traceparent = mr_xstrdup(tp);
    m->tracestate = mr_xstrdup(ts != NULL && mr_trace_state_ok(ts) ? ts : "");
}

static enum MHD_Result route_write(struct mr_prepare *p, struct MHD_Connection *conn,
                                   struct conn_ctx *c, int route, enum mr_req_op op)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_req *r;
    int rc;

    if (c->too_big)
        return send_too_big(conn, route);
    if (op == MR_OP_SUBMIT && mr_backlog_refuse())
        return send_backlog_full(conn, route);
    r = req_new(op, route);
    if (op == MR_OP_PREPARE || op == MR_OP_SUBMIT) {
        rc = mr_parse_msg(c->body.p, c->body.len, op == MR_OP_SUBMIT, &r->msg, &err);
        if (rc == 0) {
            r->gid = mr_xstrdup(r->msg->gid);
            take_trace(conn, r->msg);
        }
    } else {
        rc = mr_parse_gid_body(c->body.p, c->body.len, &r->gid, &err);
    }
    if (rc != 0) {
        mr_req_free(r);
        mr_log(MR_LOG_DEBUG, "request refused", "route", mr_route_name(route), "error", err.msg,
               NULL);
        return send_envelope(conn, route, 400, err.msg);
    }
    return enqueue(p, conn, c, r);
}

static const char *arg(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* arg_int - query argument @key as a non-negative integer; @def when absent, -1 when bad. */
static long long arg_int(struct MHD_Connection *conn, const char *key, long long def)
{
    const char *s = arg(conn, key);
    char *end;
    long long v;

    if (s == NULL || s[0] == '\0')
        return def;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v < 0)
        return -1;
    return v;
}

static enum MHD_Result route_query(struct mr_prepare *p, struct MHD_Connection *conn,
                                   struct conn_ctx *c)
{
    const char *gid = arg(conn, "gid");
    struct mr_err err = MR_ERR_INIT;
    struct mr_req *r;

    if (gid == NULL || gid[0] == '\0')
        return send_envelope(conn, MR_ROUTE_QUERY, 500, "no gid specified");
    if (mr_check_gid(gid, &err) != 0) /* such a gid cannot be stored */
        return send_json(conn, MR_ROUTE_QUERY, mr_render_query(NULL));
    r = req_new(MR_OP_QUERY, MR_ROUTE_QUERY);
    r->gid = mr_xstrdup(gid);
    return enqueue(p, conn, c, r);
}

static enum MHD_Result route_all(struct mr_prepare *p, struct MHD_Connection *conn,
                                 struct conn_ctx *c)
{
    struct mr_err err = MR_ERR_INIT;
    const char *status = arg(conn, "status");
    const char *tt = arg(conn, "transType");
    const char *gid = arg(conn, "gid");
    const char *prefix = arg(conn, "gidPrefix"); /* msgrelay's: gids starting with it */
    struct mr_store_filter f;
    struct mr_req *r;
    long long position = arg_int(conn, "position", 0);
    long long limit = arg_int(conn, "limit", 100);
    long long from = arg_int(conn, "createTimeStart", 0);
    long long to = arg_int(conn, "createTimeEnd", 0);

    memset(&f, 0, sizeof(f));
    if (position < 0)
        return send_envelope(conn, MR_ROUTE_ALL, 400, "position: must be a message id");
    if (limit <= 0 || limit > 1000)
        return send_envelope(conn, MR_ROUTE_ALL, 400, "limit: must be between 1 and 1000");
    if (from < 0 || to < 0)
        return send_envelope(conn, MR_ROUTE_ALL, 400,
                             "createTimeStart: must be epoch milliseconds");
    /* DTM's "aborting" is never a msg's state: nothing has it */
    if (status != NULL && strcmp(status, "aborting") == 0)
        return send_json(conn, MR_ROUTE_ALL, mr_render_all(NULL, 0, (size_t)limit, -1));
    if (prefix != NULL && strlen(prefix) > (size_t)mr_config.max_gid_len)
        return send_envelope(conn, MR_ROUTE_ALL, 400, "gidPrefix: longer than --max-gid-len");
    if (status != NULL && status[0] != '\0') {
        f.state = mr_msg_state_parse(status);
        if (f.state < 0)
            return send_envelope(conn, MR_ROUTE_ALL, 400,
                                 "status: must be prepared, submitted, succeed, failed or parked");
    }
    if ((tt != NULL && tt[0] != '\0' && strcmp(tt, "msg") != 0) ||
        (gid != NULL && gid[0] != '\0' && mr_check_gid(gid, &err) != 0))
        return send_json(conn, MR_ROUTE_ALL,
                         mr_render_all(NULL, 0, (size_t)limit,
                                       gid != NULL && gid[0] != '\0' ? position : -1));
    r = req_new(MR_OP_ALL, MR_ROUTE_ALL);
    if (gid != NULL && gid[0] != '\0')
        r->gid = mr_xstrdup(gid);
    f.gid = r->gid;
    f.position = position;
    f.limit = (size_t)limit;
    f.create_from_ms = from;
    f.create_to_ms = to;
    if (prefix != NULL && prefix[0] != '\0')
        f.gid_prefix = mr_xstrdup(prefix);
    r->filter = f;
    return enqueue(p, conn, c, r);
}

/* The longest resetCronTime timeout (366 days) and the largest limit. */
#define CRON_TIMEOUT_MAX (366LL * 86400)
#define CRON_LIMIT_MAX 1000

/*
 * route_reset_cron - GET resetCronTime?timeout=&limit=: DTM's bulk "retry
 * now" for unfinished messages due later than now + timeout seconds (default
 * three times --timeout-to-fail), at most limit (100; 1 to 1000) of them.
 */
static enum MHD_Result route_reset_cron(struct mr_prepare *p, struct MHD_Connection *conn,
                                        struct conn_ctx *c)
{
    long long timeout = arg_int(conn, "timeout", 3LL * mr_config.timeout_to_fail);
    long long limit = arg_int(conn, "limit", 100);
    struct mr_req *r;

    if (timeout < 0 || timeout > CRON_TIMEOUT_MAX)
        return send_envelope(conn, MR_ROUTE_RESETCRONTIME, 400,
                             "timeout: must be 0 to 31622400 seconds");
    if (limit < 1 || limit > CRON_LIMIT_MAX)
        return send_envelope(conn, MR_ROUTE_RESETCRONTIME, 400,
                             "limit: must be between 1 and 1000");
    r = req_new(MR_OP_RESETCRON, MR_ROUTE_RESETCRONTIME);
    r->cron_after_s = timeout;
    r->cron_limit = (size_t)limit;
    return enqueue(p, conn, c, r);
}

/* route_redrive - POST /api/msgrelay/redrive: parked messages back to work (prepare_redrive.c). */
static enum MHD_Result route_redrive(struct mr_prepare *p, struct MHD_Connection *conn,
                                     struct conn_ctx *c)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_req *r;

    if (c->too_big)
        return send_too_big(conn, MR_ROUTE_REDRIVE);
    r = req_new(MR_OP_REDRIVE, MR_ROUTE_REDRIVE);
    if (mr_parse_redrive(c->body.p, c->body.len, r, &err) != 0) {
        mr_req_free(r);
        return send_envelope(conn, MR_ROUTE_REDRIVE, 400, err.msg);
    }
    return enqueue(p, conn, c, r);
}

/* Most bytes of a subscriber's remark. */
#define REMARK_MAX 1024

/* The path prefix of DELETE /api/dtmsvr/topic/NAME. */
#define TOPIC_PATH "/api/dtmsvr/topic/"

/* topic_req - a new request @op on @topic for the writer. */
static struct mr_req *topic_req(enum mr_req_op op, int route, const char *topic)
{
    struct mr_req *r = req_new(op, route);

    r->topic = mr_xstrdup(topic);
    return r;
}

/*
 * route_subscribe - GET subscribe?topic=&url=&remark= and unsubscribe?topic=&url=.
 * DTM's own refusals keep its status and text (500 "empty topic", "empty url");
 * what msgrelay checks beyond DTM (name, URL, sizes) is a 400.
 */
static enum MHD_Result route_subscribe(struct mr_prepare *p, struct MHD_Connection *conn,
                                       struct conn_ctx *c, int route)
{
    const char *topic = arg(conn, "topic");
    const char *url = arg(conn, "url");
    const char *remark = arg(conn, "remark");
    bool sub = route == MR_ROUTE_SUBSCRIBE;
    struct mr_err err = MR_ERR_INIT;
    struct mr_req *r;
    json_t *probe;
    int rc;

    if (topic == NULL || topic[0] == '\0')
        return send_envelope(conn, route, 500, "empty topic");
    if (url == NULL || url[0] == '\0')
        return send_envelope(conn, route, 500, "empty url");
    rc = mr_check_topic(topic, &err);
    if (rc == 0 && sub)
        rc = mr_check_subscriber_url(url, &err);
    else if (rc == 0 && strlen(url) > (size_t)mr_config.max_url_len)
        rc = mr_err_set(&err, MR_EINVAL, "url: longer than %d characters", mr_config.max_url_len);
    if (rc == 0 && sub && remark != NULL) {
        probe = json_string(remark); /* NULL unless UTF-8: it is stored as JSON */
        if (strlen(remark) > REMARK_MAX)
            rc = mr_err_set(&err, MR_EINVAL, "remark: longer than %d bytes", REMARK_MAX);
        else if (probe == NULL)
            rc = mr_err_set(&err, MR_EINVAL, "remark: must be UTF-8 text");
        json_decref(probe);
    }
    if (rc != 0)
        return send_envelope(conn, route, 400, err.msg);
    r = topic_req(sub ? MR_OP_SUBSCRIBE : MR_OP_UNSUBSCRIBE, route, topic);
    r->url = mr_xstrdup(url);
    if (sub && remark != NULL)
        r->remark = mr_xstrdup(remark);
    return enqueue(p, conn, c, r);
}

/* route_delete_topic - DELETE /api/dtmsvr/topic/NAME. */
static enum MHD_Result route_delete_topic(struct mr_prepare *p, struct MHD_Connection *conn,
                                          struct conn_ctx *c, const char *url, const char *method)
{
    const char *name = url + strlen(TOPIC_PATH);
    struct mr_err err = MR_ERR_INIT;

    if (name[0] == '\0' || strchr(name, '/') != NULL)
        return send_text(conn, MR_ROUTE_OTHER, 404, "text/plain; charset=utf-8",
                         "404 page not found");
    if (strcmp(method, "DELETE") != 0)
        return send_envelope(conn, MR_ROUTE_DELETETOPIC, 405, "method not allowed");
    if (mr_check_topic(name, &err) != 0)
        return send_envelope(conn, MR_ROUTE_DELETETOPIC, 400, err.msg);
    return enqueue(p, conn, c, topic_req(MR_OP_TOPIC_DELETE, MR_ROUTE_DELETETOPIC, name));
}

/* kv_arg_ok - whether query argument @s can name a stored cat or key (else nothing matches). */
static bool kv_arg_ok(const char *s, size_t max)
{
    json_t *probe;

    if (s == NULL || s[0] == '\0' || strlen(s) > max)
        return false;
    probe = json_string(s); /* NULL unless UTF-8 */
    json_decref(probe);
    return probe != NULL;
}

/* route_kv - GET scanKV?cat=&position=&limit= and queryKV?cat=&key=. */
static enum MHD_Result route_kv(struct mr_prepare *p, struct MHD_Connection *conn,
                                struct conn_ctx *c, int route)
{
    const char *cat = arg(conn, "cat");
    const char *key = arg(conn, "key");
    bool scan = route == MR_ROUTE_SCANKV;
    long long position = arg_int(conn, "position", 0);
    long long limit = arg_int(conn, "limit", 100);
    struct mr_req *r;

    if (scan && position < 0)
        return send_envelope(conn, route, 400, "position: must be a kv id");
    if (scan && (limit <= 0 || limit > 1000))
        return send_envelope(conn, route, 400, "limit: must be between 1 and 1000");
    /* a cat or key the store could not hold matches nothing: answer the empty list here;
       queryKV without a key lists the category, as DTM's does */
    if (!kv_arg_ok(cat, 45) ||
        (!scan && key != NULL && key[0] != '\0' && !kv_arg_ok(key, MR_TOPIC_NAME_MAX)))
        return send_json(conn, route, mr_render_kvs(NULL, 0, scan, (size_t)limit));
    r = req_new(scan ? MR_OP_SCANKV : MR_OP_QUERYKV, route);
    r->kv_cat = mr_xstrdup(cat);
    if (!scan && key != NULL && key[0] != '\0')
        r->kv_key = mr_xstrdup(key);
    r->kv_position = position;
    r->kv_limit = (size_t)limit;
    return enqueue(p, conn, c, r);
}

static enum MHD_Result route_metrics(struct MHD_Connection *conn)
{
    struct mr_buf b = MR_BUF_INIT(1 << 20);
    enum MHD_Result ret;

    mr_metrics_render(&b);
    /* count this scrape before rendering the next one, not in this one */
    ret = send_text(conn, MR_ROUTE_METRICS, 200, "text/plain; version=0.0.4; charset=utf-8", b.p);
    mr_buf_release(&b);
    return ret;
}

/* route_ready - GET /api/ready: 200 {"status":"ready"} or 503 {"status":"not ready","reason":…}. */
static enum MHD_Result route_ready(struct mr_prepare *p, struct MHD_Connection *conn)
{
    struct mr_answer a = {0, NULL};
    enum MHD_Result ret;
    char why[256];
    json_t *j = json_object();
    bool ok = mr_ready_check(p->ready, why, sizeof(why));

    json_object_set_new(j, "status", json_string(ok ? "ready" : "not ready"));
    if (!ok)
        json_object_set_new(j, "reason", json_string(why));
    mr_reply_json(&a, j);
    if (!ok)
        a.status = 503;
    ret = send_answer(conn, MR_ROUTE_READY, &a);
    free(a.body);
    return ret;
}

/*
 * Who may call a route. API: the producer's routes (what a DTM SDK calls for
 * a message). ADMIN: everything an operator uses; new routes belong here
 * unless they are the producer's. OPEN: liveness, readiness, metrics (counts
 * only, no payloads).
 */
enum scope { SCOPE_OPEN, SCOPE_API, SCOPE_ADMIN };

/* One route: path (under /api, or the admin page's /admin), method, handler kind, scope. */
struct route {
    const char *path;
    const char *method; /* NULL: any */
    int id;             /* enum mr_route */
    int op;             /* enum mr_req_op for write routes, -1 otherwise */
    enum scope scope;
    bool prefix; /* path is a prefix (the rest is the route's argument) */
};

static const struct route routes[] = {
    {"/api/dtmsvr/prepare", "POST", MR_ROUTE_PREPARE, MR_OP_PREPARE, SCOPE_API, false},
    {"/api/dtmsvr/submit", "POST", MR_ROUTE_SUBMIT, MR_OP_SUBMIT, SCOPE_API, false},
    {"/api/dtmsvr/abort", "POST", MR_ROUTE_ABORT, MR_OP_ABORT, SCOPE_API, false},
    {"/api/dtmsvr/forceStop", "POST", MR_ROUTE_FORCESTOP, MR_OP_FORCESTOP, SCOPE_ADMIN, false},
    {"/api/dtmsvr/resetNextCronTime", "POST", MR_ROUTE_RESETNEXTCRONTIME, MR_OP_RESET,
     SCOPE_ADMIN, false},
    {"/api/dtmsvr/query", "GET", MR_ROUTE_QUERY, -1, SCOPE_API, false},
    {"/api/dtmsvr/all", "GET", MR_ROUTE_ALL, -1, SCOPE_ADMIN, false},
    {"/api/dtmsvr/newGid", "GET", MR_ROUTE_NEWGID, -1, SCOPE_API, false},
    {"/api/dtmsvr/version", "GET", MR_ROUTE_VERSION, -1, SCOPE_ADMIN, false},
    {"/api/dtmsvr/subscribe", "GET", MR_ROUTE_SUBSCRIBE, -1, SCOPE_ADMIN, false},
    {"/api/dtmsvr/unsubscribe", "GET", MR_ROUTE_UNSUBSCRIBE, -1, SCOPE_ADMIN, false},
    {"/api/dtmsvr/scanKV", "GET", MR_ROUTE_SCANKV, -1, SCOPE_ADMIN, false},
    {"/api/dtmsvr/queryKV", "GET", MR_ROUTE_QUERYKV, -1, SCOPE_ADMIN, false},
    {TOPIC_PATH, "DELETE", MR_ROUTE_DELETETOPIC, -1, SCOPE_ADMIN, true},
    {"/api/metrics", "GET", MR_ROUTE_METRICS, -1, SCOPE_OPEN, false},
    {"/api/ping", NULL, MR_ROUTE_PING, -1, SCOPE_OPEN, false},
    {"/api/ready", "GET", MR_ROUTE_READY, -1, SCOPE_OPEN, false},
    {"/api/dtmsvr/resetCronTime", "GET", MR_ROUTE_RESETCRONTIME, -1, SCOPE_ADMIN, false},
    {"/api/msgrelay/redrive", "POST", MR_ROUTE_REDRIVE, -1, SCOPE_ADMIN, false},
    /* the admin page's own data; its static files are open (they hold no data) */
    {"/api/msgrelay/overview", "GET", MR_ROUTE_OVERVIEW, -1, SCOPE_ADMIN, false},
    {"/admin", NULL, MR_ROUTE_ADMIN, -1, SCOPE_OPEN, true},
};

/* find_route - the route for @url, or NULL. */
static const struct route *find_route(const char *url)
{
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (routes[i].prefix ? strncmp(url, routes[i].path, strlen(routes[i].path)) == 0
                             : strcmp(url, routes[i].path) == 0)
            return &routes[i];
    }
    return NULL;
}

/*
 * token_eq - whether @given (@glen bytes, from the request) is the token @want,
 * in time that depends only on @want's length: every byte is looked at, there
 * is no early exit, and a length mismatch only sets a bit.
 */
static bool token_eq(const char *given, size_t glen, const char *want)
{
    size_t wlen = strlen(want);
    unsigned char diff = glen != wlen;
    size_t i;

    for (i = 0; i < wlen; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

/*
 * check_access - 0 when @conn may call a route of @scope; else 401 or 403 with
 * the reason in *@why. The rule (README "Access and HTTPS"): an api route
 * takes the api or the admin token and is open without --api-token; an admin
 * route takes the admin token, or the api token when no admin token is set,
 * and is open only when neither is set.
 */
static int check_access(struct MHD_Connection *conn, enum scope scope, const char **why)
{
    const char *admin = mr_config.admin_token;
    const char *api = mr_config.api_token;
    const char *h;
    size_t len;
    bool ok;

    if (scope == SCOPE_OPEN || (scope == SCOPE_API && api == NULL) ||
        (scope == SCOPE_ADMIN && admin == NULL && api == NULL))
        return 0;
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        *why = "authorization: a bearer token is required";
        return 401;
    }
    h += 7;
    while (*h == ' ')
        h++;
    len = strlen(h);
    if (len > MR_TOKEN_MAX) {
        *why = "authorization: token not accepted";
        return 401;
    }
    if (scope == SCOPE_API) {
        ok = token_eq(h, len, api);
        ok |= admin != NULL && token_eq(h, len, admin);
    } else {
        ok = token_eq(h, len, admin != NULL ? admin : api);
        if (!ok && admin != NULL && api != NULL && token_eq(h, len, api)) {
            *why = "authorization: the api token does not open this route";
            return 403;
        }
    }
    if (ok)
        return 0;
    *why = "authorization: token not accepted";
    return 401;
}

/* send_denied - the 401/403 envelope with its WWW-Authenticate challenge (RFC 6750). */
static enum MHD_Result send_denied(struct MHD_Connection *conn, int route, int status,
                                   const char *why, bool had_token)
{
    struct mr_answer a = {0, NULL};
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *challenge = status == 403 ? "Bearer realm=\"msgrelay\", error=\"insufficient_scope\""
                            : had_token   ? "Bearer realm=\"msgrelay\", error=\"invalid_token\""
                                          : "Bearer realm=\"msgrelay\"";

    mr_reply_envelope(&a, status, why);
    resp = MHD_create_response_from_buffer(strlen(a.body), a.body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(a.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge);
    ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    mr_prepare_count_api(conn, route, status);
    return ret;
}

static enum MHD_Result dispatch(struct mr_prepare *p, struct MHD_Connection *conn, const char *url,
                                const char *method, struct conn_ctx *c)
{
    const struct route *rt = find_route(url);
    struct mr_req *r;
    json_t *j;
    char gid[23];

    if (rt == NULL)
        return send_text(conn, MR_ROUTE_OTHER, 404, "text/plain; charset=utf-8",
                         "404 page not found");
    if (rt->id == MR_ROUTE_ADMIN)
        return (enum MHD_Result)mr_admin_serve(conn, url, method);
    if (rt->prefix)
        return route_delete_topic(p, conn, c, url, method);
    if (rt->method != NULL && strcmp(method, rt->method) != 0 &&
        !(strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
        return send_envelope(conn, rt->id, 405, "method not allowed");
    if (rt->op >= 0)
        return route_write(p, conn, c, rt->id, (enum mr_req_op)rt->op);
    switch (rt->id) {
    case MR_ROUTE_QUERY:
        return route_query(p, conn, c);
    case MR_ROUTE_ALL:
        return route_all(p, conn, c);
    case MR_ROUTE_SUBSCRIBE:
    case MR_ROUTE_UNSUBSCRIBE:
        return route_subscribe(p, conn, c, rt->id);
    case MR_ROUTE_SCANKV:
    case MR_ROUTE_QUERYKV:
        return route_kv(p, conn, c, rt->id);
    case MR_ROUTE_RESETCRONTIME:
        return route_reset_cron(p, conn, c);
    case MR_ROUTE_REDRIVE:
        return route_redrive(p, conn, c);
    case MR_ROUTE_OVERVIEW:
        r = mr_xcalloc(1, sizeof(*r));
        r->route = MR_ROUTE_OVERVIEW;
        r->conn = conn;
        c->req = r;
        /* suspend first: the probe thread may resume before this handler returns */
        MHD_suspend_connection(conn);
        mr_ready_overview(p->ready, r);
        return MHD_YES;
    case MR_ROUTE_NEWGID:
        new_gid(gid);
        j = json_object();
        json_object_set_new(j, "gid", json_string(gid));
        json_object_set_new(j, "dtm_result", json_string("SUCCESS"));
        return send_json(conn, rt->id, j);
    case MR_ROUTE_VERSION:
        j = json_object();
        json_object_set_new(j, "version", json_string("msgrelay-" MR_VERSION));
        return send_json(conn, rt->id, j);
    case MR_ROUTE_METRICS:
        return route_metrics(conn);
    case MR_ROUTE_READY:
        return route_ready(p, conn);
    default:
        j = json_object();
        json_object_set_new(j, "msg", json_string("pong"));
        return send_json(conn, rt->id, j);
    }
}

/* slot_of - the connection slot of @conn (set by on_connection), or NULL. */
static struct conn_slot *slot_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

/* slot_next_request - the request on @conn is over: the next one starts now. */
static void slot_next_request(struct MHD_Connection *conn)
{
    struct conn_slot *s = slot_of(conn);
    int64_t now = mr_mono_ms();

    if (s == NULL)
        return;
    atomic_store_explicit(&s->start_ms, now, memory_order_relaxed);
    atomic_store_explicit(&s->deadline_ms, now + (int64_t)mr_config.header_timeout * 1000,
                          memory_order_relaxed);
}

/*
 * on_connection - libmicrohttpd's connection callback: keep each open
 * connection in the list the reaper walks, with its first request's header
 * deadline.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct mr_prepare *p = cls;
    struct conn_slot *s;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        s = mr_xcalloc(1, sizeof(*s));
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        s->fd = ci != NULL ? ci->connect_fd : -1;
        atomic_init(&s->start_ms, mr_mono_ms());
        atomic_init(&s->headers_us, mr_mono_us());
        atomic_init(&s->deadline_ms,
                    atomic_load(&s->start_ms) + (int64_t)mr_config.header_timeout * 1000);
        pthread_mutex_lock(&p->conns_mu);
        s->next = p->conns;
        if (p->conns != NULL)
            p->conns->prev = s;
        p->conns = s;
        pthread_mutex_unlock(&p->conns_mu);
        *socket_context = s;
        return;
    }
    s = *socket_context;
    if (s == NULL)
        return;
    /* called before libmicrohttpd closes the socket: once unlinked, the reaper cannot see it */
    pthread_mutex_lock(&p->conns_mu);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        p->conns = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&p->conns_mu);
    free(s);
    *socket_context = NULL;
}

/* reaper_main - the reaper thread: cut connections whose request is past its deadline. */
static void *reaper_main(void *arg)
{
    struct mr_prepare *p = arg;
    struct timespec ts;

    pthread_mutex_lock(&p->conns_mu);
    while (!p->reaper_stop) {
        int64_t now;
        struct conn_slot *s;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += REAP_EVERY_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->reaper_cv, &p->conns_mu, &ts);
        now = mr_mono_ms();
        /* O(connections) five times a second, under the lock new connections take too */
        for (s = p->conns; s != NULL; s = s->next) {
            int64_t due = atomic_load_explicit(&s->deadline_ms, memory_order_relaxed);

            if (due == 0 || now < due || s->cut || s->fd < 0)
                continue;
            /* libmicrohttpd sees the end of the stream and closes it on its own thread */
            shutdown(s->fd, SHUT_RDWR);
            s->cut = true;
            mr_log(MR_LOG_DEBUG, "request not in by its deadline: connection closed", NULL);
        }
    }
    pthread_mutex_unlock(&p->conns_mu);
    return NULL;
}

/* reaper_stop - stop the reaper thread, if it runs. */
static void reaper_stop(struct mr_prepare *p)
{
    if (!p->reaper_running)
        return;
    pthread_mutex_lock(&p->conns_mu);
    p->reaper_stop = true;
    pthread_cond_signal(&p->reaper_cv);
    pthread_mutex_unlock(&p->conns_mu);
    pthread_join(p->reaper, NULL);
    p->reaper_running = false;
}

/*
 * too_big_announced - whether @conn's Content-Length is over the body limit.
 * An unreadable one is left to libmicrohttpd, which refuses it.
 */
static bool too_big_announced(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n;
    char *end;

    if (cl == NULL || cl[0] < '0' || cl[0] > '9')
        return false;
    n = strtoull(cl, &end, 10);
    return *end == '\0' && n > (unsigned long long)mr_config.max_body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct mr_prepare *p = cls;
    struct conn_ctx *c = *con_cls;
    struct conn_slot *s;
    const struct route *rt;
    const char *why = NULL;
    int denied;

    (void)version;
    if (c == NULL) {
        /* the headers are in: from now on the body deadline counts */
        s = slot_of(conn);
        if (s != NULL)
            atomic_store_explicit(&s->headers_us, mr_mono_us(), memory_order_relaxed);
        if (s != NULL)
            atomic_store_explicit(&s->deadline_ms,
                                  atomic_load_explicit(&s->start_ms, memory_order_relaxed) +
                                      (int64_t)mr_config.body_timeout * 1000,
                                  memory_order_relaxed);
        c = mr_xcalloc(1, sizeof(*c));
        mr_buf_init(&c->body, mr_config.max_body);
        *con_cls = c;
        /* the headers are in: refuse a request without its token before reading its body */
        rt = find_route(url);
        denied = rt != NULL ? check_access(conn, rt->scope, &why) : 0;
        if (denied != 0) {
            c->answered = true;
            mr_log(MR_LOG_DEBUG, "request refused", "route", mr_route_name(rt->id), "error", why,
                   NULL);
            return send_denied(conn, rt->id, denied, why,
                               MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_AUTHORIZATION) != NULL);
        }
        if (too_big_announced(conn)) {
            char msg[80];

            /* answered before any "100 Continue": the body is never read */
            c->answered = true;
            snprintf(msg, sizeof(msg), "body: larger than %zu bytes", mr_config.max_body);
            return send_envelope(conn, MR_ROUTE_OTHER, 413, msg);
        }
        return MHD_YES;
    }
    if (c->answered) {
        /* already answered; whatever still arrives is dropped unread */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        if (!c->too_big && mr_buf_add(&c->body, upload_data, *upload_data_size) != 0) {
            c->too_big = true;
            mr_buf_release(&c->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (c->req != NULL)
        return send_answer(conn, c->req->route, &c->req->answer);
    /* the whole request is in: no deadline while it is answered */
    s = slot_of(conn);
    if (s != NULL)
        atomic_store_explicit(&s->deadline_ms, 0, memory_order_relaxed);
    return dispatch(p, conn, url, method, c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_ctx *c = *con_cls;

    (void)cls;
    (void)toe;
    slot_next_request(conn);
    if (c == NULL)
        return;
    mr_buf_release(&c->body);
    mr_req_free(c->req);
    free(c);
    *con_cls = NULL;
}

void mr_prepare_pass_done(void *arg, const char *gid, enum mr_result outcome, const char *detail)
{
    struct mr_prepare *p = arg;

    mr_writer_pass_done(p->writer, gid, outcome, detail);
}

/*
 * bind_errno - why the daemon could not listen on @sa (@len bytes): bind a
 * socket there the way libmicrohttpd does (SO_REUSEADDR, never SO_REUSEPORT,
 * so a port another process listens on is EADDRINUSE; IPv6 only unless
 * @dual) and return the errno, or 0 when that works (the daemon failed for
 * another reason). libmicrohttpd keeps the reason to its own log.
 */
static int bind_errno(const struct sockaddr_storage *sa, socklen_t len, bool dual)
{
    int one = 1;
    int v6only = dual ? 0 : 1;
    int e = 0;
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (sa->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) ||
        bind(fd, (const struct sockaddr *)sa, len) != 0 || listen(fd, 1) != 0)
        e = errno;
    close(fd);
    return e;
}

/* bind_host - --bind without the brackets an IPv6 address may come in, into @host; 0 or -1. */
static int bind_host(char host[NI_MAXHOST])
{
    const char *b = mr_config.bind;
    size_t n = strlen(b);

    if (n > 2 && b[0] == '[' && b[n - 1] == ']') {
        b++;
        n -= 2;
    }
    if (n >= NI_MAXHOST)
        return -1;
    memcpy(host, b, n);
    host[n] = '\0';
    return 0;
}

/*
 * resolve_bind - --bind and --port as the socket address @p listens on: an
 * IPv4 address, an IPv6 one (bare or in brackets: "::1", "[::1]", "::"), or a
 * host name resolved here, once (its first address: "localhost").
 */
static int resolve_bind(struct mr_prepare *p, struct mr_err *err)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char host[NI_MAXHOST];
    char port[16];
    int rc;

    if (bind_host(host) != 0)
        return mr_err_set(err, MR_EINVAL, "--bind: longer than %d bytes", NI_MAXHOST - 1);
    snprintf(port, sizeof(port), "%d", mr_config.port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return mr_err_set(err, MR_EINVAL, "--bind: cannot resolve '%s': %s", mr_config.bind,
                          rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    memcpy(&p->listen_sa, res->ai_addr, res->ai_addrlen);
    p->listen_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/*
 * listen_text - where @p listens, for a message: "127.0.0.1:36789", "[::1]:36789",
 * or "localhost ([::1]:36789)" when --bind is a name.
 */
static void listen_text(const struct mr_prepare *p, char *out, size_t size)
{
    char host[NI_MAXHOST];
    char given[NI_MAXHOST];
    bool v6 = p->listen_sa.ss_family == AF_INET6;
    bool named;

    if (getnameinfo((const struct sockaddr *)&p->listen_sa, p->listen_len, host, sizeof(host),
                    NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(host, sizeof(host), "?");
    named = bind_host(given) == 0 && strcmp(given, host) != 0;
    snprintf(out, size, "%s%s%s%s%s:%d%s", named ? mr_config.bind : "", named ? " (" : "",
             v6 ? "[" : "", host, v6 ? "]" : "", mr_config.port, named ? ")" : "");
}

bool mr_prepare_on_loopback(const struct mr_prepare *p)
{
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&p->listen_sa;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&p->listen_sa;

    if (p->listen_sa.ss_family == AF_INET)
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    if (p->listen_sa.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127);
    return false;
}

/* Largest PEM file read for --tls-cert or --tls-key (a long chain fits). */
#define TLS_FILE_MAX (1 << 20)

/* GnuTLS priorities: its defaults, but TLS 1.2 and 1.3 only (1.0 and 1.1 are deprecated, RFC 8996). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* read_pem - the PEM file at @path (named @who in errors) into @b. */
static int read_pem(const char *path, const char *who, struct mr_buf *b, struct mr_err *err)
{
    char chunk[4096];
    size_t n;
    FILE *f = fopen(path, "rb");
    int rc = 0;

    if (f == NULL)
        return mr_err_set(err, MR_EINVAL, "%s: cannot read '%s': %s", who, path, strerror(errno));
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = mr_buf_add(b, chunk, n);
    if (rc != 0)
        rc = mr_err_set(err, MR_EINVAL, "%s: '%s' is larger than %d bytes", who, path,
                        TLS_FILE_MAX);
    else if (ferror(f))
        rc = mr_err_set(err, MR_EINVAL, "%s: cannot read '%s'", who, path);
    else if (strstr(b->p, "-----BEGIN ") == NULL)
        rc = mr_err_set(err, MR_EINVAL, "%s: '%s' is not a PEM file", who, path);
    explicit_bzero(chunk, sizeof(chunk));
    fclose(f);
    return rc;
}

/* tls_options - read the key pair into @p and fill @o (4 items) for MHD_OPTION_ARRAY. */
static int tls_options(struct mr_prepare *p, struct MHD_OptionItem *o, struct mr_err *err)
{
    int rc;

    o[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (mr_config.tls_cert == NULL)
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return mr_err_set(err, MR_EINVAL,
                          "--tls-cert: this libmicrohttpd was built without TLS (GnuTLS)");
    mr_buf_init(&p->tls_cert, TLS_FILE_MAX);
    mr_buf_init(&p->tls_key, TLS_FILE_MAX);
    rc = read_pem(mr_config.tls_cert, "--tls-cert", &p->tls_cert, err);
    if (rc == 0)
        rc = read_pem(mr_config.tls_key, "--tls-key", &p->tls_key, err);
    if (rc != 0)
        return rc;
    o[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, p->tls_cert.p};
    o[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, p->tls_key.p};
    o[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES};
    o[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

/* free_tls - wipe the key and free both PEM copies. */
static void free_tls(struct mr_prepare *p)
{
    if (p->tls_key.len > 0)
        explicit_bzero(p->tls_key.p, p->tls_key.len);
    mr_buf_release(&p->tls_key);
    mr_buf_release(&p->tls_cert);
}

int mr_prepare_start(const struct mr_prepare_hooks *hooks, struct mr_prepare **out,
                     struct mr_err *err)
{
    struct mr_prepare *p = mr_xcalloc(1, sizeof(*p));
    struct MHD_OptionItem tls[4];
    unsigned int family = 0;
    bool dual = false;
    char where[NI_MAXHOST + 300];
    char ver[64];
    int rc;

    pthread_mutex_init(&p->conns_mu, NULL);
    pthread_cond_init(&p->reaper_cv, NULL);
    snprintf(ver, sizeof(ver), "libmicrohttpd-%s", MHD_get_version());
    mr_metrics_set_http_server(ver);

    if (resolve_bind(p, err) != 0) {
        free(p);
        return MR_EINVAL;
    }
    if (p->listen_sa.ss_family == AF_INET6) {
        /* "::" takes IPv4 too, as 0.0.0.0 would; any other IPv6 address only itself */
        dual = IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&p->listen_sa)->sin6_addr);
        family = dual ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    }
    rc = tls_options(p, tls, err);
    if (rc == 0)
        rc = mr_ready_start(hooks, resume_conn, &p->ready, err);
    if (rc == 0)
        rc = mr_writer_start(hooks, resume_conn, &p->writer, err);
    if (rc == 0)
        p->redrive = mr_redrive_start(hooks, resume_conn);
    if (rc != 0) {
        mr_ready_stop(p->ready);
        free_tls(p);
        free(p);
        return rc;
    }
    p->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
            family | (mr_config.tls_cert != NULL ? MHD_USE_TLS : 0),
        (uint16_t)mr_config.port, NULL, NULL, on_request, p, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&p->listen_sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)mr_config.http_threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)mr_config.max_clients,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)mr_config.max_clients_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, p, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (p->daemon == NULL) {
        int e = bind_errno(&p->listen_sa, p->listen_len, dual);

        listen_text(p, where, sizeof(where));
        mr_redrive_stop(p->redrive);
        mr_writer_stop(p->writer);
        mr_ready_stop(p->ready);
        free_tls(p);
        free(p);
        if (e == 0 && mr_config.tls_cert != NULL)
            return mr_err_set(err, MR_ESYS,
                              "http: cannot listen on %s with TLS: are --tls-cert and "
                              "--tls-key a valid PEM certificate and its key?",
                              where);
        return mr_err_set(err, MR_ESYS, "http: cannot listen on %s: %s", where,
                          e != 0 ? strerror(e) : "the server did not start");
    }
    rc = pthread_create(&p->reaper, NULL, reaper_main, p);
    if (rc != 0) {
        MHD_stop_daemon(p->daemon);
        mr_writer_stop(p->writer);
        free(p);
        return mr_err_set(err, MR_ESYS, "http: cannot start the reaper thread: %s",
                          strerror(rc));
    }
    p->reaper_running = true;
    *out = p;
    return 0;
}

void mr_prepare_quiesce(struct mr_prepare *p)
{
    MHD_socket s;

    if (p == NULL || p->daemon == NULL)
        return;
    s = MHD_quiesce_daemon(p->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
}

void mr_prepare_stop(struct mr_prepare *p)
{
    int64_t deadline;

    if (p == NULL)
        return;
    mr_prepare_quiesce(p);
    /* answers every queued request (after its commit) and every waiting submit */
    mr_writer_stop(p->writer);
    /* a running redrive is finished (its batches are short) and answered */
    mr_redrive_stop(p->redrive);
    /* and the admin page's overviews waiting on the probe */
    mr_ready_close(p->ready);
    /* give the resumed connections a moment to send what is now answered */
    deadline = mr_mono_ms() + 2000;
    while (mr_mono_ms() < deadline) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(p->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

        if (info == NULL || info->num_connections == 0)
            break;
        usleep(20 * 1000);
    }
    reaper_stop(p);
    MHD_stop_daemon(p->daemon);
    pthread_cond_destroy(&p->reaper_cv);
    pthread_mutex_destroy(&p->conns_mu);
    mr_ready_stop(p->ready);
    free_tls(p);
    free(p);
}
