/* SPDX-License-Identifier: MIT */
/*
 * transfer.c - the bank-transfer example of libmsgrelay: one small HTTP
 * service (libmicrohttpd) that plays both banks of DTM's classic example.
 *
 *   POST /api/transfer {"from":1,"to":2,"amount":30[,"gid":"..."]}
 *        TransOut: debits `from` inside mr_client_do_and_submit_db, with one
 *        step for the relay to deliver: POST <public-url>/api/TransIn.
 *   POST /api/TransIn?gid=..&trans_type=msg&branch_id=01&op=action {"user_id":2,"amount":30}
 *        credits through the barrier (mr_barrier_http_step): a repeat credits once.
 *   GET  /api/QueryPrepared?gid=..   the back-check (mr_barrier_query_prepared).
 *   GET  /api/balances               {"1":"970.00","2":"1030.00"}
 *
 * Uses only the public SDK headers. Thread: one thread per connection; each
 * request opens its own MySQL connection (a real service would keep one per
 * worker thread), because a MYSQL handle must not be shared. Errors: every
 * failure becomes an HTTP answer and a line on stdout; nothing aborts on input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <mysql.h>

#include "msgrelay/msgrelay.h"

/* Cap on a request body. */
#define BODY_MAX (64 * 1024)

/* How the service was started; read-only once the server runs. */
struct config {
    const char *bind;
    unsigned short port;
    const char *relay;      /* base URL of the relay's DTM API */
    const char *public_url; /* how the relay reaches this service */
    const char *table;      /* barrier table */
    int timeout_to_fail;    /* the messages' own timeout_to_fail, 0: the relay's */
    /* the --db URI, split */
    char *db_user;
    char *db_pass;
    char *db_host;
    unsigned int db_port;
    char *db_name;
};

/* One HTTP request being read. */
struct req {
    char *uri; /* path and query as received */
    bool started;
    char *body;
    size_t len;
    bool too_big;
};

/* ---- output ---- */

/* say - one line on stdout (line-buffered, so a terminal or a log sees it at once). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- the database ---- */

/*
 * parse_db_uri - split mysql://USER:PASS@HOST[:PORT]/DB into @cfg (no
 * percent-decoding: keep such characters out of the example's passwords).
 */
static int parse_db_uri(const char *uri, struct config *cfg)
{
    const char *p;
    const char *at;
    const char *colon;
    const char *slash;
    const char *hostend;

    if (strncmp(uri, "mysql://", 8) != 0)
        return -1;
    p = uri + 8;
    at = strrchr(p, '@');
    slash = strchr(at != NULL ? at : p, '/');
    if (at == NULL || slash == NULL || slash[1] == '\0')
        return -1;
    colon = memchr(p, ':', (size_t)(at - p));
    cfg->db_user = strndup(p, (size_t)((colon != NULL ? colon : at) - p));
    cfg->db_pass = colon != NULL ? strndup(colon + 1, (size_t)(at - colon - 1)) : strdup("");
    hostend = memchr(at + 1, ':', (size_t)(slash - at - 1));
    cfg->db_host = strndup(at + 1, (size_t)((hostend != NULL ? hostend : slash) - at - 1));
    cfg->db_port = hostend != NULL ? (unsigned int)atoi(hostend + 1) : 3306;
    cfg->db_name = strdup(slash + 1);
    return 0;
}

/* db_open - a new connection, or NULL with the reason in @why. Close with mysql_close(). */
static MYSQL *db_open(const struct config *cfg, char *why, size_t size)
{
    unsigned int connect_timeout = 5;
    MYSQL *db = mysql_init(NULL);

    if (db == NULL) {
        snprintf(why, size, "mysql_init failed");
        return NULL;
    }
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    if (mysql_real_connect(db, cfg->db_host, cfg->db_user, cfg->db_pass, cfg->db_name, cfg->db_port,
                           NULL, CLIENT_MULTI_STATEMENTS) == NULL) {
        snprintf(why, size, "connect to %s:%u: %s", cfg->db_host, cfg->db_port, mysql_error(db));
        mysql_close(db);
        return NULL;
    }
    return db;
}

/*
 * run_stmt - prepare @sql, bind the @n integers @params, execute; the number
 * of changed rows goes to *affected, and when @out is not NULL the first
 * column of the first row (as text) to @out. 0, or -1 (the statement failed).
 */
static int run_stmt(MYSQL *db, const char *sql, const long long *params, size_t n,
                    unsigned long long *affected, char *out, size_t outsize)
{
    MYSQL_BIND bind[4];
    MYSQL_BIND res;
    unsigned long len = 0;
    MYSQL_STMT *st = mysql_stmt_init(db);
    size_t i;
    int rc = -1;

    if (st == NULL || n > 4)
        goto done;
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0)
        goto done;
    memset(bind, 0, sizeof(bind));
    for (i = 0; i < n; i++) {
        bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
        bind[i].buffer = (void *)&params[i];
    }
    if (mysql_stmt_bind_param(st, bind) != 0 || mysql_stmt_execute(st) != 0)
        goto done;
    if (affected != NULL)
        *affected = mysql_stmt_affected_rows(st);
    if (out != NULL) {
        memset(out, 0, outsize);
        memset(&res, 0, sizeof(res));
        res.buffer_type = MYSQL_TYPE_STRING;
        res.buffer = out;
        res.buffer_length = (unsigned long)outsize - 1;
        res.length = &len;
        if (mysql_stmt_bind_result(st, &res) != 0 || mysql_stmt_fetch(st) == 1)
            goto done;
    }
    rc = 0;
done:
    if (st != NULL)
        mysql_stmt_close(st);
    return rc;
}

/* An account change, filled in by the barrier callbacks. */
struct change {
    long long user_id;
    long long amount;
    char balance[32]; /* the new balance */
    char why[256];
};

/*
 * debit - TransOut's local work, run by do_and_submit_db inside the
 * transaction that also holds the barrier row. Not enough money is a
 * business failure: MR_BARRIER_FAILURE, so the message is aborted.
 */
static int debit(MYSQL *db, void *arg)
{
    struct change *c = arg;
    long long p[3] = {c->amount, c->user_id, c->amount};
    long long q[1] = {c->user_id};
    unsigned long long n = 0;

    if (run_stmt(db,
                 "UPDATE user_account SET balance = balance - ? WHERE user_id = ? AND balance >= ?",
                 p, 3, &n, NULL, 0) != 0) {
        snprintf(c->why, sizeof(c->why), "debit: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    if (n != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: no such account or balance below %lld",
                 c->user_id, c->amount);
        return MR_BARRIER_FAILURE;
    }
    if (run_stmt(db, "SELECT balance FROM user_account WHERE user_id = ?", q, 1, NULL, c->balance,
                 sizeof(c->balance)) != 0) {
        snprintf(c->why, sizeof(c->why), "read balance: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    return MR_BARRIER_SUCCESS;
}

/* credit - TransIn's work inside the barrier: a repeated delivery never gets here. */
static int credit(MYSQL *db, void *arg)
{
    struct change *c = arg;
    long long p[2] = {c->amount, c->user_id};
    long long q[1] = {c->user_id};
    unsigned long long n = 0;

    if (run_stmt(db, "UPDATE user_account SET balance = balance + ? WHERE user_id = ?", p, 2, &n,
                 NULL, 0) != 0) {
        snprintf(c->why, sizeof(c->why), "credit: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    if (n != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: no such account", c->user_id);
        return MR_BARRIER_FAILURE;
    }
    if (run_stmt(db, "SELECT balance FROM user_account WHERE user_id = ?", q, 1, NULL, c->balance,
                 sizeof(c->balance)) != 0) {
        snprintf(c->why, sizeof(c->why), "read balance: %s", mysql_error(db));
        return MR_BARRIER_ERROR;
    }
    return MR_BARRIER_SUCCESS;
}

/* run_schema_file - run the SQL statements of file @path on @db (--schema). 0 or -1. */
static int run_schema_file(MYSQL *db, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *sql = NULL;
    size_t len = 0;
    size_t cap = 0;
    int rc;

    if (f == NULL) {
        say("schema %s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;

        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            sql = realloc(sql, cap);
            if (sql == NULL)
                abort();
        }
        got = fread(sql + len, 1, cap - len - 1, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    sql[len] = '\0';
    if (mysql_real_query(db, sql, (unsigned long)len) != 0) {
        rc = -1;
    } else {
        /* drain every statement's result; an error in any of them stops the file */
        do {
            MYSQL_RES *r = mysql_store_result(db);

            if (r != NULL)
                mysql_free_result(r);
        } while (mysql_next_result(db) == 0);
        rc = mysql_errno(db) != 0 ? -1 : 0;
    }
    if (rc != 0)
        say("schema %s: %s", path, mysql_error(db));
    free(sql);
    return rc;
}

/* ---- HTTP answers ---- */

/* answer - send @status with JSON text @body (copied by libmicrohttpd). */
static enum MHD_Result answer(struct MHD_Connection *conn, unsigned int status, const char *body)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* answer_json - send @status with @j serialised; @j is stolen (decref'd here). */
static enum MHD_Result answer_json(struct MHD_Connection *conn, unsigned int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    enum MHD_Result ret;

    json_decref(j);
    if (text == NULL)
        return answer(conn, 500, "{\"error\":\"out of memory\"}");
    ret = answer(conn, status, text);
    free(text);
    return ret;
}

/* answer_error - {"error": @msg} with @status. */
static enum MHD_Result answer_error(struct MHD_Connection *conn, unsigned int status,
                                    const char *msg)
{
    return answer_json(conn, status, json_pack("{s:s}", "error", msg));
}

/* ---- the routes ---- */

/* int_field - the integer @key of object @j into *out; false when absent or not an integer. */
static bool int_field(json_t *j, const char *key, long long *out)
{
    json_t *v = json_object_get(j, key);

    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

/* status_of - the HTTP status /api/transfer answers with for SDK result @rc. */
static unsigned int status_of(int rc)
{
    switch (rc) {
    case MR_CLIENT_SUCCESS:
        return 200;
    case MR_CLIENT_FAILURE:
    case MR_CLIENT_DUPLICATED:
        return 409;
    case MR_CLIENT_EINVAL:
        return 400;
    default:
        return 500;
    }
}

/*
 * transfer - TransOut: the debit and the message to TransIn, made atomic in
 * effect by do_and_submit_db.
 */
static enum MHD_Result route_transfer(const struct config *cfg, struct MHD_Connection *conn,
                                      const struct req *r)
{
    struct change c = {0};
    struct mr_client_msg *m = NULL;
    char err[1024] = "";
    char url[1024];
    char qp[1024];
    char *gid = NULL;
    char *payload;
    long long to;
    json_t *j;
    MYSQL *db;
    int rc;

    j = json_loadb(r->body != NULL ? r->body : "", r->len, 0, NULL);
    if (!json_is_object(j) || !int_field(j, "from", &c.user_id) || !int_field(j, "to", &to) ||
        !int_field(j, "amount", &c.amount) || c.amount <= 0) {
        json_decref(j);
        return answer_error(conn, 400, "body: want {\"from\":1,\"to\":2,\"amount\":30}");
    }
    if (json_is_string(json_object_get(j, "gid")))
        gid = strdup(json_string_value(json_object_get(j, "gid")));
    json_decref(j);
    if (gid == NULL && mr_client_new_gid(cfg->relay, 0, &gid, err, sizeof(err)) != 0) {
        say("[TransOut] newGid: %s", err);
        return answer_error(conn, 500, err);
    }

    rc = mr_client_msg_new(&m, cfg->relay, gid, err, sizeof(err));
    j = json_pack("{s:I,s:I}", "user_id", to, "amount", c.amount);
    payload = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    snprintf(url, sizeof(url), "%s/api/TransIn", cfg->public_url);
    snprintf(qp, sizeof(qp), "%s/api/QueryPrepared", cfg->public_url);
    if (rc == MR_CLIENT_SUCCESS)
        rc = mr_client_msg_add(m, url, payload, err, sizeof(err));
    if (rc == MR_CLIENT_SUCCESS)
        rc = mr_client_msg_set_barrier_table(m, cfg->table, err, sizeof(err));
    free(payload);
    if (rc == MR_CLIENT_SUCCESS) {
        mr_client_msg_set_timeout_to_fail(m, cfg->timeout_to_fail);
        db = db_open(cfg, err, sizeof(err));
        if (db == NULL) {
            rc = MR_CLIENT_ERROR;
        } else {
            rc = mr_client_do_and_submit_db(m, qp, db, debit, &c, err, sizeof(err));
            mysql_close(db);
        }
    }
    if (rc == MR_CLIENT_SUCCESS)
        say("[TransOut] %s: user %lld -%lld, balance now %s; TransIn of user %lld submitted", gid,
            c.user_id, c.amount, c.balance, to);
    else
        say("[TransOut] %s: %s: %s%s%s", gid, mr_client_result_name(rc), err, c.why[0] ? " / " : "",
            c.why);
    j = json_pack("{s:s,s:s}", "gid", gid, "result", mr_client_result_name(rc));
    if (rc != MR_CLIENT_SUCCESS)
        json_object_set_new(j, "message", json_string(c.why[0] ? c.why : err));
    mr_client_msg_free(m);
    free(gid);
    return answer_json(conn, status_of(rc), j);
}

/* trans_in - TransIn, called by the relay: the credit, once per gid/branch. */
static enum MHD_Result route_trans_in(const struct config *cfg, struct MHD_Connection *conn,
                                      const struct req *r)
{
    const char *query = strchr(r->uri, '?');
    struct change c = {0};
    const char *body = NULL;
    char err[512] = "";
    unsigned int status;
    int result = 0;
    json_t *j;
    MYSQL *db;

    j = json_loadb(r->body != NULL ? r->body : "", r->len, 0, NULL);
    if (!json_is_object(j) || !int_field(j, "user_id", &c.user_id) ||
        !int_field(j, "amount", &c.amount) || c.amount <= 0) {
        json_decref(j);
        return answer_error(conn, 400, "body: want {\"user_id\":2,\"amount\":30}");
    }
    json_decref(j);
    db = db_open(cfg, err, sizeof(err));
    if (db == NULL) {
        say("[TransIn] %s", err);
        return answer_error(conn, 500, err);
    }
    status = (unsigned int)mr_barrier_http_step(db, cfg->table, query != NULL ? query + 1 : "",
                                                credit, &c, &body, &result, err, sizeof(err));
    mysql_close(db);
    if (result == MR_BARRIER_SUCCESS)
        say("[TransIn] user %lld +%lld, balance now %s", c.user_id, c.amount, c.balance);
    else if (result == MR_BARRIER_DUPLICATED)
        say("[TransIn] repeat ignored: %s", err);
    else
        say("[TransIn] %s: %s%s%s", mr_barrier_result_name(result), err, c.why[0] ? " / " : "",
            c.why);
    return answer(conn, status, body);
}

/* query_prepared - the back-check: did the TransOut transaction of ?gid= commit? */
static enum MHD_Result route_query_prepared(const struct config *cfg, struct MHD_Connection *conn)
{
    const char *gid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "gid");
    const char *body = NULL;
    unsigned int status;
    char err[512] = "";
    MYSQL *db;
    int rc;

    db = db_open(cfg, err, sizeof(err));
    if (db == NULL) {
        say("[QueryPrepared] %s", err);
        return answer_error(conn, 500, err);
    }
    rc = mr_barrier_query_prepared(db, cfg->table, gid != NULL ? gid : "", err, sizeof(err));
    mysql_close(db);
    say("[QueryPrepared] %s: %s%s%s", gid != NULL ? gid : "(no gid)",
        rc == MR_BARRIER_SUCCESS   ? "committed"
        : rc == MR_BARRIER_FAILURE ? "rolled back"
                                   : mr_barrier_result_name(rc),
        err[0] ? ": " : "", err);
    status = (unsigned int)mr_barrier_http_answer(rc, &body);
    return answer(conn, status, body);
}

/* balances - every account's balance: {"1":"970.00",...}. */
static enum MHD_Result route_balances(const struct config *cfg, struct MHD_Connection *conn)
{
    const char *sql = "SELECT user_id, balance FROM user_account ORDER BY user_id";
    char err[512] = "";
    MYSQL_RES *res;
    MYSQL_ROW row;
    json_t *j;
    MYSQL *db;

    db = db_open(cfg, err, sizeof(err));
    if (db == NULL)
        return answer_error(conn, 500, err);
    res = NULL;
    if (mysql_real_query(db, sql, (unsigned long)strlen(sql)) == 0)
        res = mysql_store_result(db);
    if (res == NULL) {
        snprintf(err, sizeof(err), "balances: %s", mysql_error(db));
        mysql_close(db);
        return answer_error(conn, 500, err);
    }
    j = json_object();
    while ((row = mysql_fetch_row(res)) != NULL)
        json_object_set_new(j, row[0], json_string(row[1] != NULL ? row[1] : ""));
    mysql_free_result(res);
    mysql_close(db);
    return answer_json(conn, 200, j);
}

/* ---- libmicrohttpd glue ---- */

/* on_uri - MHD's URI log callback: the one place the raw query string is seen. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct req *r = calloc(1, sizeof(*r));

    (void)cls;
    (void)conn;
    if (r == NULL)
        abort();
    r->uri = strdup(uri);
    if (r->uri == NULL)
        abort();
    return r;
}

/* on_done - free a request's state. */
static void on_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                    enum MHD_RequestTerminationCode code)
{
    struct req *r = *req_cls;

    (void)cls;
    (void)conn;
    (void)code;
    if (r == NULL)
        return;
    free(r->uri);
    free(r->body);
    free(r);
    *req_cls = NULL;
}

/* path_is - whether the path of @uri (before any '?') is @path. */
static bool path_is(const char *uri, const char *path)
{
    size_t n = strlen(path);

    return strncmp(uri, path, n) == 0 && (uri[n] == '\0' || uri[n] == '?');
}

/* on_request - read the body, then route. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    const struct config *cfg = cls;
    struct req *r = *req_cls;
    bool post = strcmp(method, "POST") == 0;

    (void)url;
    (void)version;
    if (r == NULL)
        return MHD_NO;
    if (!r->started) {
        r->started = true;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->len + *upload_size > BODY_MAX) {
            r->too_big = true;
        } else {
            char *nb = realloc(r->body, r->len + *upload_size + 1);

            if (nb == NULL)
                abort();
            r->body = nb;
            memcpy(r->body + r->len, upload, *upload_size);
            r->len += *upload_size;
            r->body[r->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return answer_error(conn, 413, "body too large");
    if (post && path_is(r->uri, "/api/transfer"))
        return route_transfer(cfg, conn, r);
    if (post && path_is(r->uri, "/api/TransIn"))
        return route_trans_in(cfg, conn, r);
    if (path_is(r->uri, "/api/QueryPrepared"))
        return route_query_prepared(cfg, conn);
    if (path_is(r->uri, "/api/balances"))
        return route_balances(cfg, conn);
    return answer_error(conn, 404, "no such route");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: transfer --db mysql://USER:PASS@HOST[:PORT]/DB [options]\n"
               "  --port N            HTTP port (8082)\n"
               "  --bind ADDR         listen address (127.0.0.1)\n"
               "  --relay URL         the relay's DTM API (http://127.0.0.1:36789/api/dtmsvr)\n"
               "  --public-url URL    how the relay reaches this service (http://127.0.0.1:PORT)\n"
               "  --barrier-table T   barrier table (dtm_barrier.barrier)\n"
               "  --timeout-to-fail N the messages' timeout_to_fail, seconds (the relay's)\n"
               "  --schema FILE       run the SQL in FILE first (repeatable)\n");
}

int main(int argc, char **argv)
{
    struct config cfg = {.bind = "127.0.0.1",
                         .port = 8082,
                         .relay = "http://127.0.0.1:36789/api/dtmsvr",
                         .table = MR_BARRIER_TABLE_DEFAULT};
    const char *schemas[8];
    size_t nschemas = 0;
    struct sockaddr_in addr;
    char public_url[128];
    struct MHD_Daemon *d;
    const char *db_uri = NULL;
    sigset_t sigs;
    int status = 1;
    int sig;
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--port") == 0)
            cfg.port = (unsigned short)atoi(v);
        else if (strcmp(a, "--bind") == 0)
            cfg.bind = v;
        else if (strcmp(a, "--db") == 0)
            db_uri = v;
        else if (strcmp(a, "--relay") == 0)
            cfg.relay = v;
        else if (strcmp(a, "--public-url") == 0)
            cfg.public_url = v;
        else if (strcmp(a, "--barrier-table") == 0)
            cfg.table = v;
        else if (strcmp(a, "--timeout-to-fail") == 0)
            cfg.timeout_to_fail = atoi(v);
        else if (strcmp(a, "--schema") == 0 && nschemas < 8)
            schemas[nschemas++] = v;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (db_uri == NULL || parse_db_uri(db_uri, &cfg) != 0) {
        fprintf(stderr, "transfer: --db mysql://USER:PASS@HOST[:PORT]/DB is required\n");
        usage(stderr);
        return 2;
    }
    if (cfg.public_url == NULL) {
        snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%u", cfg.port);
        cfg.public_url = public_url;
    }

    /* the SDK's rule: global initialisation once, before any thread */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || mysql_library_init(0, NULL, NULL)) {
        fprintf(stderr, "transfer: library initialisation failed\n");
        return 1;
    }
    if (nschemas > 0) {
        char why[512];
        MYSQL *db = db_open(&cfg, why, sizeof(why));
        size_t k;

        if (db == NULL) {
            say("transfer: %s", why);
            goto out;
        }
        for (k = 0; k < nschemas; k++) {
            if (run_schema_file(db, schemas[k]) != 0) {
                mysql_close(db);
                goto out;
            }
        }
        mysql_close(db);
    }

    /* block the stop signals before MHD starts its threads, then wait for one */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(cfg.port);
    if (inet_pton(AF_INET, cfg.bind, &addr.sin_addr) != 1) {
        fprintf(stderr, "transfer: --bind %s: not an IPv4 address\n", cfg.bind);
        goto out;
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                             MHD_USE_ERROR_LOG,
                         cfg.port, NULL, NULL, on_request, &cfg, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                         on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "transfer: cannot listen on %s:%u\n", cfg.bind, cfg.port);
        goto out;
    }
    say("transfer: listening on http://%s:%u (relay %s, reached as %s)", cfg.bind, cfg.port,
        cfg.relay, cfg.public_url);
    sigwait(&sigs, &sig);
    say("transfer: stopping");
    MHD_stop_daemon(d);
    status = 0;
out:
    mysql_library_end();
    curl_global_cleanup();
    free(cfg.db_user);
    free(cfg.db_pass);
    free(cfg.db_host);
    free(cfg.db_name);
    return status;
}
