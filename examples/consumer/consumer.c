/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - the example Kafka consumer of libmsgrelay: reads the records
 * the relay produced for kafka:// steps and applies each one exactly once to
 * table `applied` (examples/consumer/schema.sql) through mr_consumer_*.
 *
 *   consumer --brokers HOST:PORT --topic T [--topic T2] --group G
 *            --db mysql://USER:PASS@HOST:PORT/DB [-X name=value]...
 *            (or --db postgres://USER:PASS@HOST:PORT/DB: msgrelay/consumer_pg.h)
 *            [--max-attempts N] [--fail-on TEXT] [--die-after-apply N]
 *
 * Prints one line per record: "applied|duplicate|parked GID BRANCH
 * TOPIC[PARTITION]@OFFSET [reason]". --fail-on makes the callback fail for
 * every payload containing TEXT (a poison record, for tests);
 * --die-after-apply N _exit(9)s after the Nth applied record, between its
 * database commit and its offset commit (the crash window, for tests).
 *
 * Thread: main only. Errors: bad flags exit 2, a failed start 1; SIGTERM and
 * SIGINT stop the loop cleanly (exit 0).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <mysql.h>

#include "msgrelay/consumer.h"
#include "msgrelay/consumer_pg.h"

/* Most --topic and -X flags. */
#define LIST_MAX 32

/* What the callback and the hook need; read-only after start but for @applied. */
struct state {
    const char *fail_on; /* NULL: never fail */
    long die_after;      /* 0: never */
    long applied;
};

/*
 * The consumer the signal handler stops. A signal handler can reach nothing
 * else, so this is the one mutable global; it is set before the handler is
 * installed and only read by it.
 */
static struct mr_consumer *volatile running;

/* on_signal - SIGTERM/SIGINT: ask the loop to return (async-signal-safe). */
static void on_signal(int sig)
{
    (void)sig;
    if (running != NULL)
        mr_consumer_stop(running);
}

/* contains - whether the @n bytes at @p contain @text. */
static bool contains(const void *p, size_t n, const char *text)
{
    size_t t = strlen(text);
    size_t i;

    for (i = 0; p != NULL && t <= n && i + t <= n; i++)
        if (memcmp((const char *)p + i, text, t) == 0)
            return true;
    return false;
}

/* failing - whether --fail-on makes this try of @rec fail (and say so). */
static bool failing(const struct state *s, const struct mr_consumer_record *rec)
{
    if (s->fail_on == NULL || !contains(rec->value, rec->value_len, s->fail_on))
        return false;
    printf("failing %s %s (attempt %d)\n", rec->gid, rec->branch_id, rec->attempt);
    fflush(stdout);
    return true;
}

/* apply - the business work: count the record in `applied` (inside the barrier's transaction). */
static int apply(MYSQL *db, const struct mr_consumer_record *rec, void *arg)
{
    static const char sql[] = "INSERT INTO applied (gid, branch_id, payload, n) VALUES (?, ?, ?, 1) "
                              "ON DUPLICATE KEY UPDATE n = n + 1";
    struct state *s = arg;
    MYSQL_BIND bind[3];
    unsigned long lens[3];
    MYSQL_STMT *st;
    int rc = 0;

    if (failing(s, rec))
        return MR_BARRIER_ERROR;
    memset(bind, 0, sizeof(bind));
    lens[0] = (unsigned long)strlen(rec->gid);
    lens[1] = (unsigned long)strlen(rec->branch_id);
    lens[2] = (unsigned long)rec->value_len;
    bind[0].buffer_type = MYSQL_TYPE_STRING;
    bind[0].buffer = (void *)rec->gid;
    bind[1].buffer_type = MYSQL_TYPE_STRING;
    bind[1].buffer = (void *)rec->branch_id;
    bind[2].buffer_type = MYSQL_TYPE_BLOB;
    bind[2].buffer = (void *)(rec->value != NULL ? rec->value : "");
    for (int i = 0; i < 3; i++) {
        bind[i].buffer_length = lens[i];
        bind[i].length = &lens[i];
    }
    st = mysql_stmt_init(db);
    if (st == NULL)
        return MR_BARRIER_ERROR;
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0 ||
        mysql_stmt_bind_param(st, bind) != 0 || mysql_stmt_execute(st) != 0) {
        printf("apply %s: %s\n", rec->gid, mysql_stmt_error(st));
        rc = MR_BARRIER_ERROR;
    }
    mysql_stmt_close(st);
    return rc;
}

/* apply_pg - apply() on PostgreSQL. */
static int apply_pg(PGconn *db, const struct mr_consumer_record *rec, void *arg)
{
    static const char sql[] = "INSERT INTO applied (gid, branch_id, payload, n) "
                              "VALUES ($1, $2, $3, 1) "
                              "ON CONFLICT (gid, branch_id) DO UPDATE SET n = applied.n + 1";
    const char *v[3] = {rec->gid, rec->branch_id, rec->value != NULL ? rec->value : ""};
    int lens[3] = {0, 0, (int)rec->value_len};
    int formats[3] = {0, 0, 1};
    PGresult *r;
    int rc = 0;

    if (failing(arg, rec))
        return MR_BARRIER_ERROR;
    r = PQexecParams(db, sql, 3, NULL, v, lens, formats, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        printf("apply %s: %s\n", rec->gid, PQerrorMessage(db));
        rc = MR_BARRIER_ERROR;
    }
    PQclear(r);
    return rc;
}

/* on_done - print what happened; the test-only crash window sits here. */
static void on_done(const struct mr_consumer_record *rec, int outcome, const char *reason,
                    void *arg)
{
    struct state *s = arg;

    printf("%s %s %s %s[%d]@%lld%s%s\n", mr_consumer_outcome_name(outcome), rec->gid,
           rec->branch_id, rec->topic, (int)rec->partition, (long long)rec->offset,
           *reason != '\0' ? " " : "", reason);
    fflush(stdout);
    if (outcome == MR_CONSUMER_APPLIED && s->die_after > 0 && ++s->applied >= s->die_after) {
        printf("dying after %ld applied record(s), before the offset commit\n", s->applied);
        fflush(stdout);
        _exit(9);
    }
}

/* usage - how to call; returns the exit code for bad flags. */
static int usage(void)
{
    fprintf(stderr, "usage: consumer --brokers B --topic T [--topic T2] --group G --db URI\n"
                    "                [-X name=value]... [--max-attempts N] [--fail-on TEXT]\n"
                    "                [--die-after-apply N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct mr_consumer_options opt;
    const char *topics[LIST_MAX + 1];
    const char *props[LIST_MAX + 1];
    struct state s = {NULL, 0, 0};
    struct mr_consumer *c = NULL;
    struct sigaction sa;
    size_t ntopics = 0;
    size_t nprops = 0;
    char why[512];
    int rc;

    memset(&opt, 0, sizeof(opt));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--brokers") == 0)
            opt.brokers = v;
        else if (strcmp(a, "--group") == 0)
            opt.group_id = v;
        else if (strcmp(a, "--db") == 0)
            opt.mysql_uri = v;
        else if (strcmp(a, "--topic") == 0 && ntopics < LIST_MAX)
            topics[ntopics++] = v;
        else if (strcmp(a, "-X") == 0 && nprops < LIST_MAX)
            props[nprops++] = v;
        else if (strcmp(a, "--max-attempts") == 0)
            opt.max_attempts = atoi(v);
        else if (strcmp(a, "--fail-on") == 0)
            s.fail_on = v;
        else if (strcmp(a, "--die-after-apply") == 0)
            s.die_after = atol(v);
        else
            return usage();
    }
    topics[ntopics] = NULL;
    props[nprops] = NULL;
    opt.topics = topics;
    opt.properties = props;
    opt.fn = apply;
    opt.on_done = on_done;
    opt.arg = &s;

    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "consumer: mysql_library_init failed\n");
        return 1;
    }
    if (opt.mysql_uri != NULL && (strncmp(opt.mysql_uri, "postgres://", 11) == 0 ||
                                  strncmp(opt.mysql_uri, "postgresql://", 13) == 0)) {
        struct mr_consumer_pg_options pg = {
            .brokers = opt.brokers, .group_id = opt.group_id, .topics = opt.topics,
            .properties = opt.properties, .pg_uri = opt.mysql_uri,
            .max_attempts = opt.max_attempts, .fn = apply_pg, .on_done = on_done, .arg = &s,
        };

        rc = mr_consumer_new_pg(&c, &pg, why, sizeof(why));
    } else {
        rc = mr_consumer_new(&c, &opt, why, sizeof(why));
    }
    if (rc != MR_CONSUMER_OK) {
        fprintf(stderr, "consumer: %s\n", why);
        mysql_library_end();
        return rc == MR_CONSUMER_EINVAL ? 2 : 1;
    }
    running = c;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("consuming %s as group %s\n", topics[0], opt.group_id);
    fflush(stdout);

    mr_consumer_run(c, why, sizeof(why));
    running = NULL;
    mr_consumer_free(c);
    mysql_library_end();
    printf("stopped\n");
    return 0;
}
