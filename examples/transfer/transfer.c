/* SPDX-License-Identifier: MIT */
/*
 * transfer.c - the bank-transfer example of libmsgrelay: one small HTTP
 * service that plays both banks of DTM's classic example. The SDK's
 * back-check server (msgrelay/backcheck.h) listens, answers QueryPrepared
 * itself and hands the other routes to this file's handler.
 *
 *   POST /api/transfer {"from":1,"to":2,"amount":30[,"gid":"..."]}
 *        TransOut: debits `from` inside mr_client_do_and_submit_db(_pg), with one
 *        step for the relay to deliver: POST <public-url>/api/TransIn.
 *   POST /api/TransIn?gid=..&trans_type=msg&branch_id=01&op=action {"user_id":2,"amount":30}
 *        credits through the barrier (mr_barrier_http_step(_pg)): a repeat credits once.
 *   GET  /api/QueryPrepared?gid=..   the back-check, answered by the SDK's server.
 *   GET  /api/balances               {"1":"970.00","2":"1030.00"}
 *
 * The bank is in MySQL/MariaDB (--db mysql://) or PostgreSQL (--db
 * postgres://): the database side is bank_mysql.c or bank_pg.c (bank.h),
 * chosen by the URI's scheme. Uses only the public SDK headers. Thread: the
 * server's, one per connection; each request opens its own database
 * connection (a real service would keep one per worker thread), because a
 * connection must not be shared. Errors:
 * every failure becomes an HTTP answer and a line on stdout; nothing aborts
 * on input.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "examples/transfer/bank.h"
#include "msgrelay/backcheck.h"
#include "msgrelay/client.h"

/* Largest --schema file. */
#define SCHEMA_MAX (1024 * 1024)

/* How the service was started; read-only once the server runs. */
struct config {
    const char *bind;
    unsigned short port;
    const char *relay;      /* base URL of the relay's DTM API */
    const char *public_url; /* how the relay reaches this service */
    const char *table;      /* barrier table */
    int timeout_to_fail;    /* the messages' own timeout_to_fail, 0: the relay's */
    const char *db_uri;     /* mysql:// or postgres://USER:PASS@HOST[:PORT]/DB */
    const struct bank_engine *bank; /* the engine of db_uri */
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

/* ---- the bank, on either database (bank.h) ---- */

/* read_file - the whole of file @path (at most SCHEMA_MAX bytes), NUL-terminated; free(). */
static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text;
    size_t got;

    if (f == NULL) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    text = malloc(SCHEMA_MAX + 1);
    if (text == NULL)
        abort();
    got = fread(text, 1, SCHEMA_MAX + 1, f);
    fclose(f);
    if (got > SCHEMA_MAX) {
        snprintf(err, errlen, "larger than %d bytes", SCHEMA_MAX);
        free(text);
        return NULL;
    }
    text[got] = '\0';
    return text;
}

/* run_schema_file - run the SQL statements of file @path (--schema). 0 or -1. */
static int run_schema_file(const struct config *cfg, const char *path)
{
    char err[512] = "";
    char *sql = read_file(path, err, sizeof(err));
    void *db = NULL;
    int rc = -1;

    if (sql != NULL)
        db = cfg->bank->open(cfg->db_uri, err, sizeof(err));
    if (db != NULL) {
        rc = cfg->bank->schema(db, sql, err, sizeof(err));
        cfg->bank->close(db);
    }
    if (rc != 0)
        say("schema %s: %s", path, err);
    free(sql);
    return rc;
}

/*
 * change_balance - @sql (with @n of @p) must change exactly @c's account,
 * whose new balance is then read into @c->balance. Nothing changed is the
 * business failure @refusal; a failed statement an error.
 */
static int change_balance(const struct bank_engine *e, void *db, struct change *c,
                          const char *sql, const long long *p, int n, const char *refusal)
{
    long long q[1] = {c->user_id};
    unsigned long long changed = 0;

    if (e->stmt(db, sql, p, n, &changed, NULL, 0, c) != 0)
        return MR_BARRIER_ERROR;
    if (changed != 1) {
        snprintf(c->why, sizeof(c->why), "user %lld: %s", c->user_id, refusal);
        return MR_BARRIER_FAILURE;
    }
    if (e->stmt(db, e->sql.balance, q, 1, NULL, c->balance, sizeof(c->balance), c) != 0)
        return MR_BARRIER_ERROR;
    return MR_BARRIER_SUCCESS;
}

/*
 * bank_debit - TransOut's local work, run by do_and_submit_db inside the
 * transaction that also holds the barrier row. Not enough money is a
 * business failure: MR_BARRIER_FAILURE, so the message is aborted.
 */
int bank_debit(const struct bank_engine *e, void *db, struct change *c)
{
    long long p[3] = {c->amount, c->user_id, c->amount};
    char refusal[96];

    snprintf(refusal, sizeof(refusal), "no such account or balance below %lld", c->amount);
    return change_balance(e, db, c, e->sql.debit, p, 3, refusal);
}

/* bank_credit - TransIn's work inside the barrier: a repeated delivery never gets here. */
int bank_credit(const struct bank_engine *e, void *db, struct change *c)
{
    long long p[2] = {c->amount, c->user_id};

    return change_balance(e, db, c, e->sql.credit, p, 2, "no such account");
}

/* ---- HTTP answers (the server sends them) ---- */

/* reply - @j serialised as the body, @code as *status; @j is stolen (decref'd here). */
static char *reply(int *status, int code, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    *status = text != NULL ? code : 500;
    return text;
}

/* reply_error - {"error": @msg} with @code. */
static char *reply_error(int *status, int code, const char *msg)
{
    return reply(status, code, json_pack("{s:s}", "error", msg));
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
static char *route_transfer(const struct config *cfg, const struct mr_backcheck_request *r,
                            int *status)
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
    int rc;

    j = json_loadb(r->body, r->body_len, 0, NULL);
    if (!json_is_object(j) || !int_field(j, "from", &c.user_id) || !int_field(j, "to", &to) ||
        !int_field(j, "amount", &c.amount) || c.amount <= 0) {
        json_decref(j);
        return reply_error(status, 400, "body: want {\"from\":1,\"to\":2,\"amount\":30}");
    }
    if (json_is_string(json_object_get(j, "gid")))
        gid = strdup(json_string_value(json_object_get(j, "gid")));
    json_decref(j);
    if (gid == NULL && mr_client_new_gid(cfg->relay, 0, &gid, err, sizeof(err)) != 0) {
        say("[TransOut] newGid: %s", err);
        return reply_error(status, 500, err);
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
        void *db = cfg->bank->open(cfg->db_uri, err, sizeof(err));

        rc = MR_CLIENT_ERROR;
        if (db != NULL) {
            rc = cfg->bank->transfer(db, m, qp, &c, err, sizeof(err));
            cfg->bank->close(db);
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
    return reply(status, status_of(rc), j);
}

/* trans_in - TransIn, called by the relay: the credit, once per gid/branch. */
static char *route_trans_in(const struct config *cfg, const struct mr_backcheck_request *r,
                            int *status)
{
    struct change c = {0};
    const char *body = NULL;
    char err[512] = "";
    int result = 0;
    void *db;
    json_t *j;

    j = json_loadb(r->body, r->body_len, 0, NULL);
    if (!json_is_object(j) || !int_field(j, "user_id", &c.user_id) ||
        !int_field(j, "amount", &c.amount) || c.amount <= 0) {
        json_decref(j);
        return reply_error(status, 400, "body: want {\"user_id\":2,\"amount\":30}");
    }
    json_decref(j);
    db = cfg->bank->open(cfg->db_uri, err, sizeof(err));
    if (db == NULL) {
        say("[TransIn] %s", err);
        return reply_error(status, 500, err);
    }
    *status = cfg->bank->trans_in(db, cfg->table, r->query, &c, &body, &result, err, sizeof(err));
    cfg->bank->close(db);
    if (result == MR_BARRIER_SUCCESS)
        say("[TransIn] user %lld +%lld, balance now %s", c.user_id, c.amount, c.balance);
    else if (result == MR_BARRIER_DUPLICATED)
        say("[TransIn] repeat ignored: %s", err);
    else
        say("[TransIn] %s: %s%s%s", mr_barrier_result_name(result), err, c.why[0] ? " / " : "",
            c.why);
    return strdup(body);
}

/* log_backcheck - the SDK's server answered the back-check of @gid: say how. */
static void log_backcheck(const char *gid, int rc, const char *err, void *arg)
{
    (void)arg;
    say("[QueryPrepared] %s: %s%s%s", gid[0] ? gid : "(no gid)",
        rc == MR_BARRIER_SUCCESS   ? "committed"
        : rc == MR_BARRIER_FAILURE ? "rolled back"
                                   : mr_barrier_result_name(rc),
        err[0] ? ": " : "", err);
}

/* balances - every account's balance: {"1":"970.00",...}. */
static char *route_balances(const struct config *cfg, int *status)
{
    char err[512] = "";
    void *db = cfg->bank->open(cfg->db_uri, err, sizeof(err));
    json_t *j = NULL;

    if (db != NULL) {
        j = cfg->bank->balances(db, err, sizeof(err));
        cfg->bank->close(db);
    }
    return j != NULL ? reply(status, 200, j) : reply_error(status, 500, err);
}

/* route - the SDK's server hands every request but the back-check here. */
static char *route(const struct mr_backcheck_request *r, int *status, void *arg)
{
    const struct config *cfg = arg;
    bool post = strcmp(r->method, "POST") == 0;

    if (post && strcmp(r->path, "/api/transfer") == 0)
        return route_transfer(cfg, r, status);
    if (post && strcmp(r->path, "/api/TransIn") == 0)
        return route_trans_in(cfg, r, status);
    if (strcmp(r->path, "/api/balances") == 0)
        return route_balances(cfg, status);
    return reply_error(status, 404, "no such route");
}

/* bank_of - the engine of @uri by its scheme, NULL for another. */
static const struct bank_engine *bank_of(const char *uri)
{
    static const struct bank_engine *const all[] = {&bank_mysql, &bank_pg};
    size_t i;

    for (i = 0; uri != NULL && i < sizeof(all) / sizeof(all[0]); i++) {
        const struct bank_engine *e = all[i];

        if (strncmp(uri, e->scheme, strlen(e->scheme)) == 0 ||
            (e->scheme2 != NULL && strncmp(uri, e->scheme2, strlen(e->scheme2)) == 0))
            return e;
    }
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: transfer --db mysql://USER:PASS@HOST[:PORT]/DB [options]\n"
               "       transfer --db postgres://USER:PASS@HOST[:PORT]/DB [options]\n"
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
    struct mr_backcheck_opts opts = {0};
    struct mr_backcheck_server *srv = NULL;
    const char *schemas[8];
    size_t nschemas = 0;
    char public_url[128];
    char why[512];
    sigset_t sigs;
    size_t k;
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
            cfg.db_uri = v;
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
    cfg.bank = bank_of(cfg.db_uri);
    if (cfg.bank == NULL) {
        fprintf(stderr, "transfer: --db mysql:// or postgres://USER:PASS@HOST[:PORT]/DB is "
                        "required\n");
        usage(stderr);
        return 2;
    }
    if (cfg.public_url == NULL) {
        snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%u", cfg.port);
        cfg.public_url = public_url;
    }

    /* the SDK's rule: global initialisation once, before any thread */
    if (mr_client_global_init() != MR_CLIENT_SUCCESS || cfg.bank->init() != 0) {
        fprintf(stderr, "transfer: library initialisation failed\n");
        return 1;
    }
    for (k = 0; k < nschemas; k++)
        if (run_schema_file(&cfg, schemas[k]) != 0)
            goto out;

    /* block the stop signals before the server starts its threads, then wait for one */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    opts.bind = cfg.bind;
    opts.port = cfg.port;
    if (cfg.bank != &bank_pg)
        opts.mysql_uri = cfg.db_uri;
    opts.table = cfg.table;
    opts.handler = route;
    opts.log = log_backcheck;
    opts.arg = &cfg;
    if ((cfg.bank == &bank_pg
             ? mr_backcheck_server_start_pg(&srv, &opts, cfg.db_uri, why, sizeof(why))
             : mr_backcheck_server_start(&srv, &opts, why, sizeof(why))) != MR_BARRIER_SUCCESS) {
        fprintf(stderr, "transfer: %s\n", why);
        goto out;
    }
    say("transfer: listening on http://%s:%u (relay %s, reached as %s)", cfg.bind, cfg.port,
        cfg.relay, cfg.public_url);
    sigwait(&sigs, &sig);
    say("transfer: stopping");
    mr_backcheck_server_stop(srv);
    status = 0;
out:
    cfg.bank->cleanup();
    mr_client_global_cleanup();
    return status;
}
