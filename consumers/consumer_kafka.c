/* SPDX-License-Identifier: MIT */
/*
 * consumer_kafka.c - the Kafka consumer loop of libmsgrelay (see
 * msgrelay/consumer.h): poll a consumer group, apply each record once
 * through the barrier, park what cannot be applied, commit offsets.
 *
 * Order per record: barrier + callback committed in MySQL (or a park row
 * committed), then the on_done hook, then the offset committed to Kafka
 * synchronously. Never the other way round: a crash between the two
 * redelivers the record, and the barrier skips it. Must not: commit an
 * offset whose outcome is not durable in MySQL, or build SQL from values
 * (only the checked table names are pasted in).
 *
 * Thread: the consumer's own; it owns its rd_kafka_t and MYSQL handles, and
 * only the stop flag is shared (atomic). Errors: bad options are returned;
 * at run time Kafka and MySQL trouble is logged and waited out with back-off;
 * a record's own failure ends in the park table, never in a blocked loop.
 */
#include "msgrelay/consumer.h"
#include "msgrelay/consumer_pg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errmsg.h>
#include <librdkafka/rdkafka.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/sdk.h"
#include "consumers/consumer_db.h"
#include "consumers/consumer_int.h"

/* How long one poll may wait: the latency of mr_consumer_stop(). */
#define POLL_MS 100

/* Longest reason kept in the park table (its column width). */
#define REASON_MAX 255

/* Cap on one statement's text: a fixed statement plus a checked table name. */
#define SQL_MAX 1024

struct mr_consumer {
    rd_kafka_t *rk;
    const struct mr_consumer__db *engine; /* MySQL's (this file) or PostgreSQL's */
    void *db;     /* MYSQL * or PGconn *; NULL while disconnected */
    struct mr_consumer__uri uri; /* MySQL's, parsed */
    char *pg_uri; /* PostgreSQL's, as given (it may hold a password: wiped on free) */
    char *barrier_table; /* NULL: the barrier's default */
    char *park_table;
    int max_attempts;
    int retry_min_ms;
    int retry_max_ms;
    mr_consumer_fn fn;       /* MySQL's callback, or */
    mr_consumer_pg_fn fn_pg; /* PostgreSQL's */
    mr_consumer_done_fn on_done;
    mr_consumer_log_fn log;
    void *arg;
    atomic_int stop;
};

/* ---- pure pieces (consumer_int.h) ---- */

/* header_copy - the first header @name of @hdrs into @dst (@size bytes with the NUL). */
static int header_copy(const rd_kafka_headers_t *hdrs, const char *name, char *dst, size_t size,
                       struct mr_err *err)
{
    const void *val = NULL;
    size_t len = 0;

    if (hdrs == NULL || rd_kafka_header_get(hdrs, 0, name, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mr_err_set(err, MR_EINVAL, "record header '%s' missing", name);
    if (val == NULL || len == 0)
        return mr_err_set(err, MR_EINVAL, "record header '%s' empty", name);
    if (len >= size)
        return mr_err_set(err, MR_EINVAL, "record header '%s' longer than %zu bytes", name,
                          size - 1);
    if (memchr(val, '\0', len) != NULL)
        return mr_err_set(err, MR_EINVAL, "record header '%s' holds a NUL byte", name);
    memcpy(dst, val, len);
    dst[len] = '\0';
    return 0;
}

int mr_consumer__fields_from(const rd_kafka_headers_t *hdrs, struct mr_consumer__fields *f,
                             struct mr_err *err)
{
    int rc;

    memset(f, 0, sizeof(*f));
    rc = header_copy(hdrs, "gid", f->gid, sizeof(f->gid), err);
    if (rc == 0)
        rc = header_copy(hdrs, "trans_type", f->trans_type, sizeof(f->trans_type), err);
    if (rc == 0)
        rc = header_copy(hdrs, "branch_id", f->branch_id, sizeof(f->branch_id), err);
    if (rc == 0)
        rc = header_copy(hdrs, "op", f->op, sizeof(f->op), err);
    return rc;
}

enum mr_consumer__next mr_consumer__decide(int rc, bool db_trouble, int attempt,
                                           int max_attempts)
{
    switch (rc) {
    case MR_BARRIER_SUCCESS:
        return MR_CONSUMER__APPLIED;
    case MR_BARRIER_DUPLICATED:
        return MR_CONSUMER__DUPLICATE;
    case MR_BARRIER_FAILURE:
    case MR_BARRIER_EINVAL:
        return MR_CONSUMER__PARK; /* final: trying again gives the same answer */
    case MR_BARRIER_ERROR:
        if (db_trouble)
            return MR_CONSUMER__TRANSIENT;
        break;
    default:
        break; /* ONGOING and anything else: the callback's try failed */
    }
    return attempt >= max_attempts ? MR_CONSUMER__PARK : MR_CONSUMER__RETRY;
}

bool mr_consumer__db_trouble(unsigned int code)
{
    switch (code) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_SERVER_SHUTDOWN:
    case ER_CON_COUNT_ERROR:
        return true;
    default:
        return false;
    }
}

int mr_consumer__backoff_ms(int n, int min_ms, int max_ms)
{
    long long ms = min_ms;

    while (--n > 0 && ms < max_ms)
        ms *= 2;
    return ms > max_ms ? max_ms : (int)ms;
}

/* ---- logging and waiting ---- */

/* say - one log line through the caller's hook, else on stderr. */
static void say(struct mr_consumer *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct mr_consumer *c, int level, const char *fmt, ...)
{
    static const char *const names[3] = {"info", "warning", "error"};
    struct mr_buf line = MR_BUF_INIT(4096);
    va_list ap;
    char text[1024];

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap); /* a log line: truncation is acceptable */
    va_end(ap);
    if (c->log != NULL) {
        c->log(level, text, c->arg);
        return;
    }
    mr_buf_addf(&line, "msgrelay consumer: %s: %s\n", names[level < 0 || level > 2 ? 2 : level],
                text);
    fputs(line.p, stderr);
    mr_buf_release(&line);
}

/* stopping - whether mr_consumer_stop() was called. */
static bool stopping(struct mr_consumer *c)
{
    return atomic_load(&c->stop) != 0;
}

/* pause_ms - wait @ms in slices of POLL_MS, returning early on a stop. */
static void pause_ms(struct mr_consumer *c, int ms)
{
    while (ms > 0 && !stopping(c)) {
        int slice = ms < POLL_MS ? ms : POLL_MS;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000L};

        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* ---- the database, through the engine ---- */

/* db_close - drop the connection; the next try reconnects. */
static void db_close(struct mr_consumer *c)
{
    if (c->db != NULL)
        c->engine->close(c->db);
    c->db = NULL;
}

/* db_connect - connect when not connected. 0 or MR_EUNAVAIL with the reason. */
static int db_connect(struct mr_consumer *c, struct mr_err *err)
{
    if (c->db != NULL)
        return 0;
    return c->engine->connect(&c->db, c->pg_uri != NULL ? (const void *)c->pg_uri : &c->uri, err);
}

/* ---- MySQL ---- */

static int my_connect(void **out, const void *where, struct mr_err *err)
{
    const struct mr_consumer__uri *uri = where;
    unsigned int timeout = 5;
    MYSQL *db;

    db = mysql_init(NULL);
    if (db == NULL)
        return mr_err_set(err, MR_EUNAVAIL, "mysql_init failed");
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    if (mysql_real_connect(db, uri->host, uri->user, uri->pass, uri->db, uri->port, NULL, 0) ==
        NULL) {
        mr_err_set(err, MR_EUNAVAIL, "connect to mysql %s:%u: %s", uri->host, uri->port,
                   mysql_error(db));
        mysql_close(db);
        return MR_EUNAVAIL;
    }
    *out = db;
    return 0;
}

static void my_close(void *db)
{
    mysql_close(db);
}

static bool my_lost(void *db)
{
    return mysql_ping(db) != 0;
}

/*
 * my_trouble - the connection, or the record? The error code survives only
 * when nothing ran after the failing statement (a failed COMMIT); after a
 * rollback it is gone, so ask the server too: a dead link fails the ping.
 * Read the code first: a good ping clears it.
 */
static bool my_trouble(void *db, bool *lost)
{
    unsigned int code = mysql_errno(db);

    *lost = mysql_ping(db) != 0;
    return *lost || mr_consumer__db_trouble(code);
}

/* bind_str - bind @n bytes at @p as a string (or blob) parameter. */
static void bind_str(MYSQL_BIND *b, unsigned long *len, const void *p, size_t n, bool blob)
{
    *len = (unsigned long)n;
    b->buffer_type = blob ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
    b->buffer = (void *)(p != NULL ? p : "");
    b->buffer_length = *len;
    b->length = len;
}

/*
 * park_row - INSERT IGNORE the record into the park table, in autocommit
 * (the unique key (topic, kafka_partition, kafka_offset) makes a second
 * park of a redelivered record a no-op). 0 or MR_ESTORE.
 */
static int my_park(void *db, const char *table, const struct mr_consumer_record *r, int attempts,
                   const char *reason, struct mr_err *err)
{
    struct mr_buf sql = MR_BUF_INIT(SQL_MAX);
    MYSQL_BIND bind[11];
    unsigned long lens[11];
    long long partition = r->partition;
    long long offset = r->offset;
    long long tries = attempts;
    MYSQL_STMT *st = NULL;
    int rc;

    memset(bind, 0, sizeof(bind));
    bind_str(&bind[0], &lens[0], r->topic, strlen(r->topic), false);
    bind[1].buffer_type = MYSQL_TYPE_LONGLONG;
    bind[1].buffer = &partition;
    bind[2].buffer_type = MYSQL_TYPE_LONGLONG;
    bind[2].buffer = &offset;
    bind_str(&bind[3], &lens[3], r->gid, strlen(r->gid), false);
    bind_str(&bind[4], &lens[4], r->trans_type, strlen(r->trans_type), false);
    bind_str(&bind[5], &lens[5], r->branch_id, strlen(r->branch_id), false);
    bind_str(&bind[6], &lens[6], r->op, strlen(r->op), false);
    bind_str(&bind[7], &lens[7], r->key, r->key_len, true);
    bind_str(&bind[8], &lens[8], r->value, r->value_len, true);
    bind[9].buffer_type = MYSQL_TYPE_LONGLONG;
    bind[9].buffer = &tries;
    bind_str(&bind[10], &lens[10], reason, strlen(reason), false);

    rc = mr_buf_addf(&sql,
                     "INSERT IGNORE INTO %s(topic, kafka_partition, kafka_offset, gid, trans_type, "
                     "branch_id, op, record_key, payload, attempts, reason) "
                     "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     table);
    if (rc != 0) {
        mr_buf_release(&sql);
        return mr_err_set(err, MR_ETOOBIG, "park: statement too long");
    }
    st = mysql_stmt_init(db);
    if (st == NULL)
        rc = mr_err_set(err, MR_ESTORE, "park: %s", mysql_error(db));
    else if (mysql_stmt_prepare(st, sql.p, (unsigned long)sql.len) != 0 ||
             mysql_stmt_bind_param(st, bind) != 0 || mysql_stmt_execute(st) != 0)
        rc = mr_err_set(err, MR_ESTORE, "park into %s: %s", table, mysql_stmt_error(st));
    if (st != NULL)
        mysql_stmt_close(st);
    mr_buf_release(&sql);
    return rc;
}

/* ---- one record ---- */

/* What the barrier's callback needs to call the application's. */
struct apply_ctx {
    struct mr_consumer *c;
    const struct mr_consumer_record *rec;
};

int mr_consumer__apply(void *db, void *arg)
{
    struct apply_ctx *ctx = arg;

    if (ctx->c->fn_pg != NULL)
        return ctx->c->fn_pg(db, ctx->rec, ctx->c->arg);
    return ctx->c->fn(db, ctx->rec, ctx->c->arg);
}

/* my_apply - the MySQL barrier's callback: the application's fn on this record. */
static int my_apply(MYSQL *db, void *arg)
{
    return mr_consumer__apply(db, arg);
}

static int my_call(struct mr_barrier *b, void *db, void *ctx, char *why, size_t size)
{
    return mr_barrier_call(b, db, my_apply, ctx, why, size);
}

static const struct mr_consumer__db my_engine = {
    my_connect, my_close, my_trouble, my_lost, my_park, my_call,
};

/*
 * commit_offset - commit @offset + 1 of @topic/@partition, synchronously.
 * A failure (rebalance, coordinator moved) is only logged: the record comes
 * back to whoever owns the partition next, and the barrier skips it.
 */
static void commit_offset(struct mr_consumer *c, const char *topic, int32_t partition,
                          int64_t offset)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset + 1;
    e = rd_kafka_commit(c->rk, l, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        say(c, 1, "commit offset %s[%d]@%lld: %s (the record will be seen again and skipped)",
            topic, (int)partition, (long long)offset, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * park - write @r to the park table, waiting out database trouble. Returns
 * false when a stop came first (nothing committed).
 */
static bool park(struct mr_consumer *c, const struct mr_consumer_record *r, int attempts,
                 const char *why)
{
    char reason[REASON_MAX + 1];
    int tries = 0;

    mr_consumer__span_copy(reason, sizeof(reason), why, strnlen(why, REASON_MAX));
    for (;;) {
        struct mr_err err = MR_ERR_INIT;

        if (stopping(c))
            return false;
        if (db_connect(c, &err) == 0 &&
            c->engine->park(c->db, c->park_table, r, attempts, reason, &err) == 0)
            break;
        if (c->db != NULL && c->engine->lost(c->db))
            db_close(c);
        tries++;
        say(c, 2, "cannot park %s[%d]@%lld: %s; retrying", r->topic, (int)r->partition,
            (long long)r->offset, err.msg);
        pause_ms(c, mr_consumer__backoff_ms(tries, c->retry_min_ms, c->retry_max_ms));
    }
    say(c, 1, "parked %s[%d]@%lld gid '%s' branch '%s' after %d attempt(s): %s", r->topic,
        (int)r->partition, (long long)r->offset, r->gid, r->branch_id, attempts, reason);
    return true;
}

/* finish - tell the hook, then commit the offset: always in this order. */
static void finish(struct mr_consumer *c, const struct mr_consumer_record *r, int outcome,
                   const char *reason)
{
    if (c->on_done != NULL)
        c->on_done(r, outcome, reason, c->arg);
    commit_offset(c, r->topic, r->partition, r->offset);
}

/*
 * try_once - one barrier call for @r. Returns the decision; the barrier's
 * message goes to @why.
 */
static enum mr_consumer__next try_once(struct mr_consumer *c, const struct mr_consumer_record *r,
                                       char *why, size_t size)
{
    struct mr_barrier *b = NULL;
    struct apply_ctx ctx = {c, r};
    struct mr_err err = MR_ERR_INIT;
    bool trouble = false;
    int rc;

    if (db_connect(c, &err) != 0) {
        mr_sdk_errbuf(why, size, err.msg);
        return MR_CONSUMER__TRANSIENT;
    }
    /* a fresh barrier per try: each mr_barrier_call() on one barrier takes the next barrier_id */
    rc = mr_barrier_new(&b, r->trans_type, r->gid, r->branch_id, r->op, why, size);
    if (rc == MR_BARRIER_SUCCESS && c->barrier_table != NULL)
        rc = mr_barrier_set_table(b, c->barrier_table, why, size);
    if (rc == MR_BARRIER_SUCCESS)
        rc = c->engine->call(b, c->db, &ctx, why, size);
    mr_barrier_free(b);
    if (rc == MR_BARRIER_ERROR) {
        bool lost = false;

        trouble = c->engine->trouble(c->db, &lost);
        if (lost)
            db_close(c);
    }
    return mr_consumer__decide(rc, trouble, r->attempt, c->max_attempts);
}

/* handle - apply, skip or park one record, then commit its offset (unless stopped). */
static void handle(struct mr_consumer *c, const rd_kafka_message_t *m)
{
    struct mr_consumer__fields f;
    struct mr_consumer_record r;
    rd_kafka_headers_t *hdrs = NULL;
    struct mr_err err = MR_ERR_INIT;
    char why[512];
    int transient = 0;

    memset(&r, 0, sizeof(r));
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    r.key = m->key;
    r.key_len = m->key_len;
    r.value = m->payload;
    r.value_len = m->len;
    r.gid = f.gid;
    r.trans_type = f.trans_type;
    r.branch_id = f.branch_id;
    r.op = f.op;
    r.attempt = 1;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = NULL;
    if (mr_consumer__fields_from(hdrs, &f, &err) != 0) {
        /* poison: without its barrier fields a record cannot be applied once */
        if (park(c, &r, 0, err.msg))
            finish(c, &r, MR_CONSUMER_PARKED, err.msg);
        return;
    }
    while (!stopping(c)) {
        enum mr_consumer__next next = try_once(c, &r, why, sizeof(why));

        switch (next) {
        case MR_CONSUMER__APPLIED:
            finish(c, &r, MR_CONSUMER_APPLIED, "");
            return;
        case MR_CONSUMER__DUPLICATE:
            finish(c, &r, MR_CONSUMER_DUPLICATE, "");
            return;
        case MR_CONSUMER__PARK:
            if (park(c, &r, r.attempt, why))
                finish(c, &r, MR_CONSUMER_PARKED, why);
            return;
        case MR_CONSUMER__TRANSIENT:
            transient++;
            say(c, 1, "%s[%d]@%lld gid '%s': database trouble: %s; retrying", r.topic,
                (int)r.partition, (long long)r.offset, r.gid, why);
            pause_ms(c, mr_consumer__backoff_ms(transient, c->retry_min_ms, c->retry_max_ms));
            break;
        case MR_CONSUMER__RETRY:
            say(c, 1, "%s[%d]@%lld gid '%s': attempt %d of %d failed: %s", r.topic,
                (int)r.partition, (long long)r.offset, r.gid, r.attempt, c->max_attempts, why);
            pause_ms(c, mr_consumer__backoff_ms(r.attempt, c->retry_min_ms, c->retry_max_ms));
            r.attempt++;
            break;
        }
    }
}

/* ---- set-up ---- */

/* conf_set - one librdkafka property. 0 or MR_EINVAL with librdkafka's reason. */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                    struct mr_err *err)
{
    char why[512];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return mr_err_set(err, MR_EINVAL, "kafka property '%s': %s", name, why);
    return 0;
}

/* build_conf - msgrelay's settings, then the caller's properties. Owned result on success. */
static int build_conf(const struct mr_consumer_options *opt, rd_kafka_conf_t **out,
                      struct mr_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc;
    size_t i;

    *out = NULL;
    rc = conf_set(conf, "bootstrap.servers", opt->brokers, err);
    if (rc == 0)
        rc = conf_set(conf, "group.id", opt->group_id, err);
    if (rc == 0)
        rc = conf_set(conf, "auto.offset.reset", "earliest", err);
    if (rc == 0)
        rc = conf_set(conf, "enable.auto.commit", "false", err);
    if (rc == 0)
        rc = conf_set(conf, "enable.auto.offset.store", "false", err);
    for (i = 0; rc == 0 && opt->properties != NULL && opt->properties[i] != NULL; i++) {
        const char *p = opt->properties[i];
        const char *eq = strchr(p, '=');
        char *name;

        if (eq == NULL || eq == p) {
            rc = mr_err_set(err, MR_EINVAL, "kafka property '%s': not name=value", p);
            break;
        }
        name = mr_xstrndup(p, (size_t)(eq - p));
        if (strcmp(name, "enable.auto.commit") == 0 ||
            strcmp(name, "enable.auto.offset.store") == 0)
            rc = mr_err_set(err, MR_EINVAL,
                            "kafka property '%s': fixed to false (offsets follow the database)",
                            name);
        else
            rc = conf_set(conf, name, eq + 1, err);
        free(name);
    }
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    *out = conf;
    return 0;
}

/* check_options - the required fields and the table names. */
static int check_options(const struct mr_consumer_options *opt, struct mr_err *err)
{
    if (opt == NULL)
        return mr_err_set(err, MR_EINVAL, "consumer: no options");
    if (opt->brokers == NULL || *opt->brokers == '\0')
        return mr_err_set(err, MR_EINVAL, "consumer: brokers missing");
    if (opt->group_id == NULL || *opt->group_id == '\0')
        return mr_err_set(err, MR_EINVAL, "consumer: group_id missing");
    if (opt->topics == NULL || opt->topics[0] == NULL || *opt->topics[0] == '\0')
        return mr_err_set(err, MR_EINVAL, "consumer: no topic");
    if (opt->fn == NULL) /* PostgreSQL's comes apart, see consumer_new() */
        return mr_err_set(err, MR_EINVAL, "consumer: no callback");
    if (opt->max_attempts < 0 || opt->retry_min_ms < 0 || opt->retry_max_ms < 0)
        return mr_err_set(err, MR_EINVAL, "consumer: negative attempts or back-off");
    if (opt->barrier_table != NULL && mr_sdk_check_table(opt->barrier_table, err) != 0)
        return MR_EINVAL;
    if (opt->park_table != NULL && mr_sdk_check_table(opt->park_table, err) != 0)
        return MR_EINVAL;
    return 0;
}

/* subscribe - the topics of @opt. 0 or MR_EINVAL. */
static int subscribe(struct mr_consumer *c, const struct mr_consumer_options *opt,
                     struct mr_err *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    rd_kafka_resp_err_t e;
    size_t i;

    for (i = 0; opt->topics[i] != NULL; i++)
        rd_kafka_topic_partition_list_add(l, opt->topics[i], RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mr_err_set(err, MR_EINVAL, "subscribe: %s", rd_kafka_err2str(e));
    return 0;
}

/* ---- the public face ---- */

const char *mr_consumer_outcome_name(int outcome)
{
    switch (outcome) {
    case MR_CONSUMER_APPLIED:
        return "applied";
    case MR_CONSUMER_DUPLICATE:
        return "duplicate";
    case MR_CONSUMER_PARKED:
        return "parked";
    default:
        return "unknown";
    }
}

void mr_consumer_free(struct mr_consumer *c)
{
    if (c == NULL)
        return;
    if (c->rk != NULL) {
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);

        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            say(c, 1, "leaving the group: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(c->rk);
    }
    db_close(c);
    if (c->pg_uri != NULL)
        memset(c->pg_uri, 0, strlen(c->pg_uri));
    free(c->pg_uri);
    memset(&c->uri, 0, sizeof(c->uri));
    free(c->barrier_table);
    free(c->park_table);
    free(c);
}

/*
 * consumer_new - mr_consumer_new() on MySQL (@pg_uri NULL: @opt's mysql_uri
 * and fn), or on PostgreSQL (@pg_uri and @opt->fn standing for @fn_pg).
 */
static int consumer_new(struct mr_consumer **out, const struct mr_consumer_options *opt,
                        const char *pg_uri, mr_consumer_pg_fn fn_pg, char *errbuf, size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;
    rd_kafka_conf_t *conf = NULL;
    struct mr_consumer *c;
    char why[512];
    int rc;

    *out = NULL;
    rc = check_options(opt, &err);
    c = mr_xcalloc(1, sizeof(*c));
    atomic_init(&c->stop, 0);
    if (rc == 0 && pg_uri == NULL)
        rc = mr_consumer__parse_uri(opt->mysql_uri, &c->uri, &err);
    else if (rc == 0 && strncmp(pg_uri, "postgres://", 11) != 0 &&
             strncmp(pg_uri, "postgresql://", 13) != 0)
        rc = mr_err_set(&err, MR_EINVAL, "pg_uri: want postgres://USER[:PASS]@HOST[:PORT]/DB");
    if (rc == 0)
        rc = build_conf(opt, &conf, &err);
    if (rc != 0) {
        mr_consumer_free(c);
        mr_sdk_errbuf(errbuf, errlen, err.msg);
        return MR_CONSUMER_EINVAL;
    }
    c->barrier_table = mr_xstrdup(opt->barrier_table);
    c->park_table = mr_xstrdup(opt->park_table != NULL ? opt->park_table
                                                       : MR_CONSUMER_PARK_TABLE_DEFAULT);
    c->max_attempts = opt->max_attempts > 0 ? opt->max_attempts : MR_CONSUMER_MAX_ATTEMPTS_DEFAULT;
    c->retry_min_ms = opt->retry_min_ms > 0 ? opt->retry_min_ms : 100;
    c->retry_max_ms = opt->retry_max_ms > 0 ? opt->retry_max_ms : 5000;
    if (c->retry_max_ms < c->retry_min_ms)
        c->retry_max_ms = c->retry_min_ms;
    c->engine = pg_uri != NULL ? &mr_consumer__pg : &my_engine;
    c->pg_uri = mr_xstrdup(pg_uri);
    c->fn = pg_uri != NULL ? NULL : opt->fn;
    c->fn_pg = fn_pg;
    c->on_done = opt->on_done;
    c->log = opt->log;
    c->arg = opt->arg;

    if (db_connect(c, &err) != 0) {
        rd_kafka_conf_destroy(conf);
        mr_consumer_free(c);
        mr_sdk_errbuf(errbuf, errlen, err.msg);
        return MR_CONSUMER_ERROR;
    }
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)); /* takes conf on success */
    if (c->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        mr_err_set(&err, MR_EINVAL, "kafka consumer: %s", why);
        mr_consumer_free(c);
        mr_sdk_errbuf(errbuf, errlen, err.msg);
        return MR_CONSUMER_ERROR;
    }
    rd_kafka_poll_set_consumer(c->rk);
    if (subscribe(c, opt, &err) != 0) {
        mr_consumer_free(c);
        mr_sdk_errbuf(errbuf, errlen, err.msg);
        return MR_CONSUMER_EINVAL;
    }
    *out = c;
    mr_sdk_errbuf(errbuf, errlen, "");
    return MR_CONSUMER_OK;
}

int mr_consumer_new(struct mr_consumer **out, const struct mr_consumer_options *opt,
                    char *errbuf, size_t errlen)
{
    return consumer_new(out, opt, NULL, NULL, errbuf, errlen);
}

/* pg_placeholder - stands in opt.fn for the option checks; never called. */
static int pg_placeholder(MYSQL *db, const struct mr_consumer_record *rec, void *arg)
{
    (void)db;
    (void)rec;
    (void)arg;
    return MR_BARRIER_ERROR;
}

int mr_consumer_new_pg(struct mr_consumer **out, const struct mr_consumer_pg_options *opt,
                       char *errbuf, size_t errlen)
{
    struct mr_consumer_options o;

    *out = NULL;
    if (opt == NULL || opt->pg_uri == NULL || opt->fn == NULL) {
        mr_sdk_errbuf(errbuf, errlen,
                      opt == NULL ? "consumer: no options"
                      : opt->pg_uri == NULL ? "consumer: pg_uri missing"
                                            : "consumer: no callback");
        return MR_CONSUMER_EINVAL;
    }
    memset(&o, 0, sizeof(o));
    o.brokers = opt->brokers;
    o.group_id = opt->group_id;
    o.topics = opt->topics;
    o.properties = opt->properties;
    o.barrier_table = opt->barrier_table;
    o.park_table = opt->park_table;
    o.max_attempts = opt->max_attempts;
    o.retry_min_ms = opt->retry_min_ms;
    o.retry_max_ms = opt->retry_max_ms;
    o.fn = pg_placeholder;
    o.on_done = opt->on_done;
    o.log = opt->log;
    o.arg = opt->arg;
    return consumer_new(out, &o, opt->pg_uri, opt->fn, errbuf, errlen);
}

void mr_consumer_stop(struct mr_consumer *c)
{
    atomic_store(&c->stop, 1);
}

int mr_consumer_run(struct mr_consumer *c, char *errbuf, size_t errlen)
{
    while (!stopping(c)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, POLL_MS);

        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            handle(c, m);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            say(c, 1, "kafka: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
    }
    mr_sdk_errbuf(errbuf, errlen, "");
    return MR_CONSUMER_OK;
}
