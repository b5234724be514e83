/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the store contract (store/store.h through store/store.c),
 * the same test functions run on every engine: SQLite (store_sqlite*.c) on a
 * real file in a fresh mkdtemp directory per test, and MySQL/MariaDB
 * (store_mysql*.c) on a freshly created and migrated database per test when
 * MSGRELAY_TEST_MYSQL holds a server URI (the Makefile's unit target runs
 * `tests/e2e/mariadb.py run -- test_store mysql`, which starts a private
 * mariadbd), and PostgreSQL (store_pg*.c) likewise when MSGRELAY_TEST_POSTGRES
 * holds one (`tests/e2e/postgres.py run -- test_store postgres`). Tests of the
 * database servers only follow: concurrent claims, SKIP LOCKED, lock waits,
 * lost connections, migrate, URI forms.
 *
 * Usage: test_store [all|sqlite|mysql|postgres]. Single-threaded but for the
 * concurrent-claim test; a second handle stands in for a second thread or
 * relay elsewhere. Every failure is a cmocka assertion; setup failures fail
 * the test.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <sqlite3.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/dest.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/model.h"
#include "store/store.h"
#include "store/store_int.h"

enum eng_kind { ENG_SQLITE, ENG_MYSQL, ENG_PG };

/* The server of MSGRELAY_TEST_MYSQL or MSGRELAY_TEST_POSTGRES, parsed by main(). */
struct server {
    char user[64];
    char pass[64];
    char host[64];
    unsigned int port;
    char db[64];
    char uri[256];
    const char *socket; /* MSGRELAY_TEST_MYSQL_SOCKET (_POSTGRES_SOCKET: a directory), or NULL */
};

/* One engine the contract runs on: each test's initial state. */
struct engine {
    enum eng_kind kind;
    const char *prefix;       /* how the engine's error texts start */
    const struct server *srv; /* MySQL, PostgreSQL */
    int schema_latest;        /* the newest schema version compiled in */
};

/* One test's database and an open handle on it. */
struct fx {
    const struct engine *eng;
    char dir[64];   /* SQLite: the private directory */
    char path[128]; /* SQLite: the file */
    char uri[300];
    struct mr_store *s;
    MYSQL *raw; /* MySQL: a plain connection to the test database */
    PGconn *pg; /* PostgreSQL: likewise */
};

/* ---- fixture ---- */

static int sqlite_setup(struct fx *fx)
{
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/mr-store-test-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/relay.db", fx->dir);
    snprintf(fx->uri, sizeof(fx->uri), "sqlite:%s", fx->path);
    return 0;
}

/* sqlite_remove - delete the fixture's database file and its companions. */
static void sqlite_remove(struct fx *fx)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    size_t i;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
}

static void sqlite_teardown(struct fx *fx)
{
    sqlite_remove(fx);
    rmdir(fx->dir);
}

/* raw_connect - a plain client connection to @srv (database @db, may be NULL). */
static MYSQL *raw_connect(const struct server *srv, const char *db)
{
    MYSQL *m = mysql_init(NULL);

    if (mysql_real_connect(m, srv->host, srv->user, srv->pass, db, srv->port, NULL, 0) == NULL) {
        fprintf(stderr, "mysql connect: %s\n", mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* raw_query - run test SQL @sql on @m, discarding any result; 0 or the MySQL error number. */
static unsigned int raw_query(MYSQL *m, const char *sql)
{
    MYSQL_RES *res;

    if (mysql_query(m, sql) != 0)
        return mysql_errno(m);
    res = mysql_store_result(m);
    if (res != NULL)
        mysql_free_result(res);
    return mysql_errno(m);
}

/* recreate_db - drop and create database @name on @m. */
static int recreate_db(MYSQL *m, const char *name)
{
    char sql[200];

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", name);
    if (raw_query(m, sql) != 0)
        return -1;
    snprintf(sql, sizeof(sql), "CREATE DATABASE `%s`", name);
    return raw_query(m, sql) != 0 ? -1 : 0;
}

/* mysql_setup - a fresh, migrated test database and a raw connection to it. */
static int mysql_setup(struct fx *fx)
{
    const struct server *srv = fx->eng->srv;
    struct mr_err err = MR_ERR_INIT;

    fx->raw = raw_connect(srv, NULL);
    if (fx->raw == NULL)
        return -1;
    if (recreate_db(fx->raw, srv->db) != 0 || mysql_select_db(fx->raw, srv->db) != 0) {
        fprintf(stderr, "mysql: %s\n", mysql_error(fx->raw));
        return -1;
    }
    snprintf(fx->uri, sizeof(fx->uri), "%s", srv->uri);
    if (mr_store_migrate(fx->uri, NULL, &err) != 0) {
        fprintf(stderr, "migrate: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* quiet - a libpq notice processor that drops the notices ("... does not exist, skipping"). */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* pg_raw_connect - a plain libpq connection to @srv's server, database @db. */
static PGconn *pg_raw_connect(const struct server *srv, const char *db)
{
    const char *keys[] = {"dbname", "dbname", NULL};
    const char *vals[] = {srv->uri, db, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "postgres connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

/* pg_raw_exec - run test SQL @sql on @c, discarding any result; 0 or -1 (message on stderr). */
static int pg_raw_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);

    PQclear(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
    return -1;
}

/* pg_recreate_db - drop and create database @name (through the maintenance database). */
static int pg_recreate_db(const struct server *srv, const char *name)
{
    PGconn *c = pg_raw_connect(srv, "postgres");
    char sql[200];
    int rc = -1;

    if (c == NULL)
        return -1;
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    if (pg_raw_exec(c, sql) == 0) {
        snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
        rc = pg_raw_exec(c, sql);
    }
    PQfinish(c);
    return rc;
}

/* pg_setup - a fresh, migrated test database and a raw connection to it. */
static int pg_setup(struct fx *fx)
{
    const struct server *srv = fx->eng->srv;
    struct mr_err err = MR_ERR_INIT;

    if (pg_recreate_db(srv, srv->db) != 0)
        return -1;
    fx->pg = pg_raw_connect(srv, srv->db);
    if (fx->pg == NULL)
        return -1;
    snprintf(fx->uri, sizeof(fx->uri), "%s", srv->uri);
    if (mr_store_migrate(fx->uri, NULL, &err) != 0) {
        fprintf(stderr, "migrate: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    const struct engine *eng = *state;
    struct fx *fx = mr_xcalloc(1, sizeof(*fx));
    struct mr_err err = MR_ERR_INIT;
    int rc;

    fx->eng = eng;
    rc = eng->kind == ENG_SQLITE ? sqlite_setup(fx)
         : eng->kind == ENG_PG   ? pg_setup(fx)
                                 : mysql_setup(fx);
    if (rc == 0 && mr_store_open(fx->uri, &fx->s, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        rc = -1;
    }
    if (rc != 0) {
        if (fx->raw != NULL)
            mysql_close(fx->raw);
        if (fx->pg != NULL)
            PQfinish(fx->pg);
        if (eng->kind == ENG_SQLITE && fx->dir[0] != '\0')
            rmdir(fx->dir);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    mr_store_close(fx->s);
    if (fx->eng->kind == ENG_SQLITE)
        sqlite_teardown(fx);
    if (fx->raw != NULL)
        mysql_close(fx->raw);
    if (fx->pg != NULL)
        PQfinish(fx->pg);
    free(fx);
    return 0;
}

/* ---- helpers ---- */

/* new_msg - a message @gid in @state, due at @next_cron_ms, with @nsteps steps. */
static struct mr_msg *new_msg(const char *gid, int state, int64_t next_cron_ms, size_t nsteps)
{
    struct mr_msg *m = mr_msg_new(nsteps);
    char tmp[64];
    size_t i;

    m->gid = mr_xstrdup(gid);
    m->state = state;
    m->query_prepared = mr_xstrdup("http://app/query");
    m->protocol = mr_xstrdup("http");
    m->custom_data = mr_xstrdup("");
    m->branch_headers = mr_xstrdup("");
    m->create_ms = 100;
    m->update_ms = 100;
    m->next_cron_ms = next_cron_ms;
    m->next_cron_interval = 10;
    for (i = 0; i < nsteps; i++) {
        snprintf(tmp, sizeof(tmp), "%02zu", i + 1);
        m->steps[i].branch_id = mr_xstrdup(tmp);
        snprintf(tmp, sizeof(tmp), "http://svc/step%zu", i + 1);
        m->steps[i].url = mr_xstrdup(tmp);
        snprintf(tmp, sizeof(tmp), "{\"n\":%zu}", i + 1);
        m->steps[i].payload = mr_xstrdup(tmp);
        m->steps[i].payload_len = strlen(tmp);
        m->steps[i].state = MR_STEP_PREPARED;
        m->steps[i].create_ms = 100;
        m->steps[i].update_ms = 100;
    }
    return m;
}

/* insert - insert @m in its own transaction and free it; returns its id. */
static int64_t insert(struct mr_store *s, struct mr_msg *m)
{
    struct mr_err err = MR_ERR_INIT;
    int64_t id;

    assert_int_equal(mr_store_begin(s, &err), 0);
    if (mr_store_msg_insert(s, m, &err) != 0)
        fail_msg("insert %s: %s", m->gid, err.msg);
    assert_int_equal(mr_store_commit(s, &err), 0);
    id = m->id;
    mr_msg_free(m);
    return id;
}

/* add - insert a message @gid in @state due at @next_cron_ms with @nsteps steps. */
static int64_t add(struct mr_store *s, const char *gid, int state, int64_t next_cron_ms,
                   size_t nsteps)
{
    return insert(s, new_msg(gid, state, next_cron_ms, nsteps));
}

/* get - load @gid (with steps), failing the test if it is absent. Owned result. */
static struct mr_msg *get(struct mr_store *s, const char *gid)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    assert_int_equal(mr_store_msg_get(s, gid, true, &m, &err), 0);
    if (m == NULL)
        fail_msg("message %s not found", gid);
    return m;
}

/* transition - mr_store_msg_transition in its own transaction; returns its code. */
static int transition(struct mr_store *s, const char *gid, int from, int to, int64_t now,
                      int64_t next_cron, int interval)
{
    struct mr_err err = MR_ERR_INIT;
    int rc;

    assert_int_equal(mr_store_begin(s, &err), 0);
    rc = mr_store_msg_transition(s, gid, from, to, now, next_cron, interval, &err);
    if (rc == 0)
        assert_int_equal(mr_store_commit(s, &err), 0);
    else
        mr_store_rollback(s);
    return rc;
}

/* claim - claim up to @limit at @now for @owner until @until; returns the count. */
static size_t claim(struct mr_store *s, const char *owner, int64_t now, int64_t until, size_t limit,
                    struct mr_msg ***out)
{
    struct mr_err err = MR_ERR_INIT;
    size_t n = 99;

    if (mr_store_claim(s, owner, now, until, limit, out, &n, &err) != 0)
        fail_msg("claim: %s", err.msg);
    return n;
}

/* claim_count - claim and discard; the number claimed. */
static size_t claim_count(struct mr_store *s, const char *owner, int64_t now, int64_t until,
                          size_t limit)
{
    struct mr_msg **v = NULL;
    size_t n = claim(s, owner, now, until, limit, &v);

    mr_store_msgs_free(v, n);
    return n;
}

/* count_due_oldest - mr_store_count_due at @now, at most @cap (0: all); *@oldest its oldest. */
static long count_due_oldest(struct mr_store *s, int64_t now, size_t cap, int64_t *oldest)
{
    struct mr_err err = MR_ERR_INIT;
    long n = -1;

    *oldest = -1;
    assert_int_equal(mr_store_count_due(s, now, cap, &n, oldest, &err), 0);
    return n;
}

/* count_due_cap - mr_store_count_due at @now, counting at most @cap (0: all). */
static long count_due_cap(struct mr_store *s, int64_t now, size_t cap)
{
    int64_t oldest;

    return count_due_oldest(s, now, cap, &oldest);
}

/* oldest_due - the oldest due time mr_store_count_due sees at @now with @cap (0: none due). */
static int64_t oldest_due(struct mr_store *s, int64_t now, size_t cap)
{
    int64_t oldest;

    count_due_oldest(s, now, cap, &oldest);
    return oldest;
}

/* count_due - mr_store_count_due at @now, every one counted. */
static long count_due(struct mr_store *s, int64_t now)
{
    return count_due_cap(s, now, 0);
}

/* raw_int - the integer answer of fixed @sql on a separate plain connection. */
static int64_t raw_int(struct fx *fx, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    MYSQL_RES *res;
    MYSQL_ROW row;
    int64_t v;

    if (fx->eng->kind == ENG_PG) {
        PGresult *r = PQexec(fx->pg, sql);

        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
            fail_msg("%s: %s", sql, PQerrorMessage(fx->pg));
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return v;
    }
    if (fx->eng->kind == ENG_MYSQL) {
        if (mysql_query(fx->raw, sql) != 0)
            fail_msg("%s: %s", sql, mysql_error(fx->raw));
        res = mysql_store_result(fx->raw);
        assert_non_null(res);
        row = mysql_fetch_row(res);
        assert_non_null(row);
        v = row[0] != NULL ? strtoll(row[0], NULL, 10) : 0;
        mysql_free_result(res);
        return v;
    }
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* raw_exec - run fixed @sql on a separate plain connection. */
static void raw_exec(struct fx *fx, const char *sql)
{
    sqlite3 *db = NULL;

    if (fx->eng->kind == ENG_PG) {
        if (pg_raw_exec(fx->pg, sql) != 0)
            fail_msg("%s failed", sql);
        return;
    }
    if (fx->eng->kind == ENG_MYSQL) {
        if (raw_query(fx->raw, sql) != 0)
            fail_msg("%s: %s", sql, mysql_error(fx->raw));
        return;
    }
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* transitions_metric - the current value of the from -> to transition counter. */
static long transitions_metric(const char *from, const char *to)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    char key[128];
    const char *p;
    long v = 0;

    assert_int_equal(mr_metrics_render(&b), 0);
    snprintf(key, sizeof(key), "msgrelay_message_transitions_total{from=\"%s\",to=\"%s\"} ", from,
             to);
    p = strstr(b.p, key);
    if (p != NULL)
        v = strtol(p + strlen(key), NULL, 10);
    mr_buf_release(&b);
    return v;
}

/* ---- insert and get ---- */

static void test_insert_then_get_round_trips_every_field_and_step(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = mr_msg_new(2);
    struct mr_msg *g = NULL;
    static const char bin[] = {'a', '\0', 'b', (char)0xff};

    m->gid = mr_xstrdup("round-trip");
    m->state = MR_MSG_SUBMITTED;
    m->query_prepared = mr_xstrdup("http://app/qp");
    m->protocol = mr_xstrdup("http");
    m->custom_data = mr_xstrdup("{\"delay\":10}");
    m->branch_headers = mr_xstrdup("{\"X-Trace\":\"t1\"}");
    m->concurrent = true;
    m->wait_result = true;
    m->timeout_to_fail = 11;
    m->retry_interval = 12;
    m->request_timeout = 13;
    m->delay = 10;
    m->create_ms = 1700000000001;
    m->update_ms = 1700000000002;
    m->finish_ms = 1700000000003;
    m->rollback_ms = 1700000000004;
    m->next_cron_ms = 1700000000005;
    m->next_cron_interval = 14;
    m->owner = mr_xstrdup("r9");
    m->lease_until_ms = 99;
    m->result = mr_xstrdup("last pass failed");
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup("http://svc/a");
    m->steps[0].payload = mr_xstrndup(bin, sizeof(bin));
    m->steps[0].payload_len = sizeof(bin);
    m->steps[0].state = MR_STEP_SUCCEED;
    m->steps[0].attempts = 3;
    m->steps[0].last_error = mr_xstrdup("http 500");
    m->steps[0].create_ms = 21;
    m->steps[0].update_ms = 22;
    m->steps[0].finish_ms = 23;
    m->steps[1].branch_id = mr_xstrdup("02");
    m->steps[1].url = mr_xstrdup("kafka://orders?key=k1");
    m->steps[1].payload = mr_xstrdup("");
    m->steps[1].state = MR_STEP_PREPARED;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_true(m->id > 0);
    assert_true(m->steps[0].id > 0);
    assert_true(m->steps[1].id > m->steps[0].id);

    g = get(fx->s, "round-trip");
    assert_int_equal(g->id, m->id);
    assert_string_equal(g->gid, "round-trip");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_string_equal(g->query_prepared, "http://app/qp");
    assert_string_equal(g->protocol, "http");
    assert_string_equal(g->custom_data, "{\"delay\":10}");
    assert_string_equal(g->branch_headers, "{\"X-Trace\":\"t1\"}");
    assert_true(g->concurrent);
    assert_true(g->wait_result);
    assert_int_equal(g->timeout_to_fail, 11);
    assert_int_equal(g->retry_interval, 12);
    assert_int_equal(g->request_timeout, 13);
    assert_int_equal(g->delay, 10);
    assert_int_equal(g->create_ms, 1700000000001);
    assert_int_equal(g->update_ms, 1700000000002);
    assert_int_equal(g->finish_ms, 1700000000003);
    assert_int_equal(g->rollback_ms, 1700000000004);
    assert_int_equal(g->next_cron_ms, 1700000000005);
    assert_int_equal(g->next_cron_interval, 14);
    /* the lease as the caller filled it in */
    assert_string_equal(g->owner, "r9");
    assert_int_equal(g->lease_until_ms, 99);
    assert_string_equal(g->result, "last pass failed");

    assert_int_equal(g->nsteps, 2);
    assert_int_equal(g->steps[0].id, m->steps[0].id);
    assert_string_equal(g->steps[0].branch_id, "01");
    assert_string_equal(g->steps[0].url, "http://svc/a");
    assert_int_equal(g->steps[0].payload_len, sizeof(bin));
    assert_memory_equal(g->steps[0].payload, bin, sizeof(bin));
    assert_int_equal(g->steps[0].payload[sizeof(bin)], '\0');
    assert_int_equal(g->steps[0].state, MR_STEP_SUCCEED);
    assert_int_equal(g->steps[0].attempts, 3);
    assert_string_equal(g->steps[0].last_error, "http 500");
    assert_int_equal(g->steps[0].create_ms, 21);
    assert_int_equal(g->steps[0].update_ms, 22);
    assert_int_equal(g->steps[0].finish_ms, 23);
    assert_int_equal(g->steps[1].id, m->steps[1].id);
    assert_string_equal(g->steps[1].branch_id, "02");
    assert_string_equal(g->steps[1].url, "kafka://orders?key=k1");
    assert_int_equal(g->steps[1].payload_len, 0);
    assert_string_equal(g->steps[1].payload, "");
    assert_int_equal(g->steps[1].state, MR_STEP_PREPARED);
    assert_null(g->steps[1].last_error);
    mr_msg_free(g);
    mr_msg_free(m);
}

static void test_get_without_steps_loads_no_steps(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g = NULL;

    add(fx->s, "g1", MR_MSG_PREPARED, 0, 3);
    assert_int_equal(mr_store_msg_get(fx->s, "g1", false, &g, &err), 0);
    assert_non_null(g);
    assert_int_equal(g->nsteps, 0);
    assert_null(g->steps);
    mr_msg_free(g);
}

static void test_insert_stores_null_strings_as_empty_and_protocol_http(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m = mr_msg_new(1);
    struct mr_msg *g;

    m->gid = mr_xstrdup("nulls");
    m->state = MR_MSG_PREPARED;
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup("http://svc/a");
    insert(fx->s, m);

    g = get(fx->s, "nulls");
    assert_string_equal(g->query_prepared, "");
    assert_string_equal(g->protocol, "http");
    assert_string_equal(g->custom_data, "");
    assert_string_equal(g->branch_headers, "");
    assert_string_equal(g->owner, "");
    assert_string_equal(g->result, "");
    assert_non_null(g->steps[0].payload);
    assert_int_equal(g->steps[0].payload_len, 0);
    mr_msg_free(g);
}

static void test_get_unknown_gid_returns_ok_and_null(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g = (struct mr_msg *)&err;

    assert_int_equal(mr_store_msg_get(fx->s, "nope", true, &g, &err), 0);
    assert_null(g);
}

static void test_insert_duplicate_gid_is_eexist_and_changes_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *dup = new_msg("g1", MR_MSG_SUBMITTED, 555, 3);
    struct mr_msg *g2 = new_msg("g2", MR_MSG_PREPARED, 0, 1);
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);

    /* in one batch: a good insert, the duplicate, another good insert */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, g2, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, dup, &err), MR_EEXIST);
    assert_int_equal(err.code, MR_EEXIST);
    assert_non_null(strstr(err.msg, "g1"));
    assert_int_equal(dup->id, 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    assert_int_equal(g->next_cron_ms, 100);
    assert_int_equal(g->nsteps, 1);
    mr_msg_free(g);
    g = get(fx->s, "g2");
    mr_msg_free(g);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 2);
    mr_msg_free(dup);
    mr_msg_free(g2);
}

static void test_insert_failing_on_a_step_writes_nothing_and_keeps_the_batch(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *bad = new_msg("bad", MR_MSG_PREPARED, 0, 2);
    struct mr_msg *good = new_msg("good", MR_MSG_PREPARED, 0, 1);
    struct mr_msg *g = NULL;

    /* two steps with the same (branch_id, op) break the unique key */
    free(bad->steps[1].branch_id);
    bad->steps[1].branch_id = mr_xstrdup("01");

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, bad, &err), MR_ESTORE);
    assert_non_null(strstr(err.msg, fx->eng->prefix));
    assert_int_equal(bad->id, 0);
    assert_int_equal(bad->steps[0].id, 0);
    assert_int_equal(mr_store_msg_insert(fx->s, good, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    assert_int_equal(mr_store_msg_get(fx->s, "bad", true, &g, &err), 0);
    assert_null(g);
    g = get(fx->s, "good");
    assert_int_equal(g->nsteps, 1);
    mr_msg_free(g);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 1);
    mr_msg_free(bad);
    mr_msg_free(good);
}

static void test_write_outside_transaction_is_einval_and_writes_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("g1", MR_MSG_PREPARED, 0, 1);
    struct mr_msg *g = NULL;

    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), MR_EINVAL);
    assert_non_null(strstr(err.msg, "transaction"));
    assert_int_equal(mr_store_msg_get(fx->s, "g1", false, &g, &err), 0);
    assert_null(g);
    mr_msg_free(m);

    add(fx->s, "g1", MR_MSG_PREPARED, 0, 1);
    assert_int_equal(
        mr_store_msg_transition(fx->s, "g1", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 1, -1, 0, &err),
        MR_EINVAL);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    mr_msg_free(g);
}

static void test_rollback_discards_the_insert(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("g1", MR_MSG_PREPARED, 0, 2);
    struct mr_msg *g = NULL;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
    mr_store_rollback(fx->s);
    /* a second rollback with nothing open is harmless */
    mr_store_rollback(fx->s);

    assert_int_equal(mr_store_msg_get(fx->s, "g1", true, &g, &err), 0);
    assert_null(g);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 0);
    /* the handle is usable for a new transaction */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    mr_msg_free(m);
}

static void test_close_rolls_back_an_open_transaction(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("g1", MR_MSG_PREPARED, 0, 1);
    struct mr_msg *g = NULL;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
    mr_store_close(fx->s);
    fx->s = NULL;
    mr_msg_free(m);

    assert_int_equal(mr_store_open(fx->uri, &fx->s, &err), 0);
    assert_int_equal(mr_store_msg_get(fx->s, "g1", true, &g, &err), 0);
    assert_null(g);
}

/* A relaxed handle (the relay's) commits as any other, as far as other handles can tell. */
static void test_relaxed_handle_commits_are_visible_to_a_second_handle(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *relaxed = NULL;
    struct mr_msg *g = NULL;
    struct mr_msg **v = NULL;
    size_t n = 0;

    assert_int_equal(mr_store_open(fx->uri, &relaxed, &err), 0);
    assert_int_equal(mr_store_relax(relaxed, &err), 0);
    add(fx->s, "g1", MR_MSG_SUBMITTED, 0, 1);
    assert_int_equal(mr_store_claim(relaxed, "relay-a", 10, 5000, 10, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    mr_store_msgs_free(v, n);
    assert_int_equal(mr_store_begin(relaxed, &err), 0);
    assert_int_equal(mr_store_msg_transition(relaxed, "g1", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 20,
                                             -1, 0, &err),
                     0);
    assert_int_equal(mr_store_commit(relaxed, &err), 0);
    assert_int_equal(mr_store_msg_get(fx->s, "g1", false, &g, &err), 0);
    assert_non_null(g);
    assert_int_equal(g->state, MR_MSG_SUCCEED);
    mr_msg_free(g);
    mr_store_close(relaxed);
}

static void test_commit_is_visible_to_a_second_handle(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *other = NULL;
    struct mr_msg *g = NULL;

    assert_int_equal(mr_store_open(fx->uri, &other, &err), 0);
    add(fx->s, "g1", MR_MSG_PREPARED, 0, 1);
    assert_int_equal(mr_store_msg_get(other, "g1", true, &g, &err), 0);
    assert_non_null(g);
    assert_int_equal(g->nsteps, 1);
    mr_msg_free(g);
    mr_store_close(other);
}

/* ---- transition ---- */

static void test_transition_moves_state_and_sets_schedule(void **state)
{
    struct fx *fx = *state;
    long before = transitions_metric("prepared", "submitted");
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 5000, 6000, 7), 0);

    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_int_equal(g->update_ms, 5000);
    assert_int_equal(g->next_cron_ms, 6000);
    assert_int_equal(g->next_cron_interval, 7);
    assert_int_equal(g->finish_ms, 0);
    assert_int_equal(g->rollback_ms, 0);
    mr_msg_free(g);
    assert_int_equal(transitions_metric("prepared", "submitted"), before + 1);
}

static void test_transition_with_negative_next_cron_keeps_the_schedule(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 5000, -1, 99), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->next_cron_ms, 100);
    assert_int_equal(g->next_cron_interval, 10);
    mr_msg_free(g);
}

static void test_transition_to_succeed_sets_finish_time_and_ends_lease(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 9000, 10), 1);
    g = get(fx->s, "g1");
    assert_string_equal(g->owner, "r1");
    mr_msg_free(g);

    assert_int_equal(transition(fx->s, "g1", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 2000, -1, 0), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_SUCCEED);
    assert_int_equal(g->finish_ms, 2000);
    assert_int_equal(g->rollback_ms, 0);
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);
}

static void test_transition_to_failed_sets_rollback_time_and_ends_lease(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 9000, 10), 1);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_PREPARED, MR_MSG_FAILED, 3000, -1, 0), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_FAILED);
    assert_int_equal(g->rollback_ms, 3000);
    assert_int_equal(g->finish_ms, 0);
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);
}

static void test_transition_from_wrong_state_is_econflict_and_writes_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(
        mr_store_msg_transition(fx->s, "g1", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 5000, 6000, 7, &err),
        MR_ECONFLICT);
    assert_non_null(strstr(err.msg, "prepared"));
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    assert_int_equal(g->update_ms, 100);
    assert_int_equal(g->next_cron_ms, 100);
    assert_int_equal(g->finish_ms, 0);
    mr_msg_free(g);
}

static void test_transition_of_unknown_gid_is_enoent(void **state)
{
    struct fx *fx = *state;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(transition(fx->s, "nope", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 1, -1, 0),
                     MR_ENOENT);
}

static void test_transition_not_in_the_table_is_einval_and_writes_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *g;

    add(fx->s, "p", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "s", MR_MSG_SUCCEED, 100, 1);
    assert_int_equal(transition(fx->s, "p", MR_MSG_PREPARED, MR_MSG_SUCCEED, 1, -1, 0), MR_EINVAL);
    assert_int_equal(transition(fx->s, "s", MR_MSG_SUCCEED, MR_MSG_FAILED, 1, -1, 0), MR_EINVAL);
    assert_int_equal(transition(fx->s, "p", MR_MSG_PREPARED, 42, 1, -1, 0), MR_EINVAL);
    g = get(fx->s, "p");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    mr_msg_free(g);
    g = get(fx->s, "s");
    assert_int_equal(g->state, MR_MSG_SUCCEED);
    assert_int_equal(g->rollback_ms, 0);
    mr_msg_free(g);
}

/* ---- schedule ---- */

static void test_schedule_sets_next_cron_and_negative_interval_keeps_it(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_schedule(fx->s, "g1", 7000, 20, 500, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->next_cron_ms, 7000);
    assert_int_equal(g->next_cron_interval, 20);
    assert_int_equal(g->update_ms, 500);
    mr_msg_free(g);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_schedule(fx->s, "g1", 8000, -1, 600, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->next_cron_ms, 8000);
    assert_int_equal(g->next_cron_interval, 20);
    mr_msg_free(g);
}

static void test_schedule_of_final_or_unknown_message_is_enoent(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    add(fx->s, "done", MR_MSG_SUCCEED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_schedule(fx->s, "done", 7000, 20, 500, &err), MR_ENOENT);
    assert_int_equal(mr_store_msg_schedule(fx->s, "nope", 7000, 20, 500, &err), MR_ENOENT);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "done");
    assert_int_equal(g->next_cron_ms, 100);
    mr_msg_free(g);
}

/* ---- claim ---- */

static void test_claim_takes_only_due_unleased_unfinished_in_cron_order_up_to_limit(void **state)
{
    struct fx *fx = *state;
    struct mr_msg **v = NULL;
    size_t n;

    add(fx->s, "leased", MR_MSG_SUBMITTED, 50, 1);
    assert_int_equal(claim_count(fx->s, "other", 1000, 5000, 10), 1);
    add(fx->s, "a", MR_MSG_PREPARED, 300, 1);
    add(fx->s, "b", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "c", MR_MSG_SUBMITTED, 200, 1);
    add(fx->s, "later", MR_MSG_SUBMITTED, 2000, 1);
    add(fx->s, "done", MR_MSG_SUCCEED, 0, 1);
    add(fx->s, "dead", MR_MSG_FAILED, 0, 1);

    n = claim(fx->s, "r1", 1000, 1500, 2, &v);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->gid, "b");
    assert_string_equal(v[1]->gid, "c");
    assert_string_equal(v[0]->owner, "r1");
    assert_int_equal(v[0]->lease_until_ms, 1500);
    mr_store_msgs_free(v, n);

    n = claim(fx->s, "r1", 1000, 1500, 10, &v);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->gid, "a");
    mr_store_msgs_free(v, n);

    n = claim(fx->s, "r1", 1000, 1500, 10, &v);
    assert_int_equal(n, 0);
    assert_null(v);
}

static void test_claim_lease_blocks_a_second_claim_until_it_lapses(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *other = NULL;
    struct mr_msg **v = NULL;
    size_t n;

    assert_int_equal(mr_store_open(fx->uri, &other, &err), 0);
    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 2000, 10), 1);
    assert_int_equal(claim_count(other, "r2", 1999, 9000, 10), 0);

    n = claim(other, "r2", 2000, 9000, 10, &v);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->owner, "r2");
    assert_int_equal(v[0]->lease_until_ms, 9000);
    mr_store_msgs_free(v, n);
    mr_store_close(other);
}

static void test_claim_returns_steps_in_id_order(void **state)
{
    struct fx *fx = *state;
    struct mr_msg **v = NULL;
    size_t n;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 3);
    n = claim(fx->s, "r1", 1000, 2000, 10, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0]->nsteps, 3);
    assert_string_equal(v[0]->steps[0].branch_id, "01");
    assert_string_equal(v[0]->steps[1].branch_id, "02");
    assert_string_equal(v[0]->steps[2].branch_id, "03");
    assert_string_equal(v[0]->steps[2].url, "http://svc/step3");
    assert_string_equal(v[0]->steps[2].payload, "{\"n\":3}");
    assert_true(v[0]->steps[0].id < v[0]->steps[1].id);
    assert_true(v[0]->steps[1].id < v[0]->steps[2].id);
    mr_store_msgs_free(v, n);
}

static void test_claim_inside_a_transaction_is_einval(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 7;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_claim(fx->s, "r1", 1000, 2000, 10, &v, &n, &err), MR_EINVAL);
    assert_null(v);
    assert_int_equal(n, 0);
    mr_store_rollback(fx->s);
    assert_int_equal(count_due(fx->s, 1000), 1);
}

/* ---- steps ---- */

static void test_step_record_counts_attempts_and_marks_success(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;
    int64_t sid;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 2);
    g = get(fx->s, "g1");
    sid = g->steps[1].id;
    mr_msg_free(g);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, sid, false, "http 503", 1000, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->steps[1].attempts, 1);
    assert_int_equal(g->steps[1].state, MR_STEP_PREPARED);
    assert_string_equal(g->steps[1].last_error, "http 503");
    assert_int_equal(g->steps[1].update_ms, 1000);
    assert_int_equal(g->steps[1].finish_ms, 0);
    assert_int_equal(g->steps[0].attempts, 0);
    mr_msg_free(g);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, sid, false, NULL, 1500, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, sid, true, NULL, 2000, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->steps[1].attempts, 3);
    assert_int_equal(g->steps[1].state, MR_STEP_SUCCEED);
    assert_int_equal(g->steps[1].finish_ms, 2000);
    assert_int_equal(g->steps[1].update_ms, 2000);
    assert_int_equal(g->steps[0].state, MR_STEP_PREPARED);
    mr_msg_free(g);
}

/* The calls that finish a message are not recorded: its steps read back as succeed. */
static void test_steps_of_a_succeed_message_read_as_succeed(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    const char *gids[] = {"g1"};
    struct mr_msg *many[1] = {NULL};
    struct mr_msg *g;
    int64_t sid;
    int i;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 3);
    g = get(fx->s, "g1");
    sid = g->steps[0].id;
    mr_msg_free(g);
    /* step 1 succeeded in an earlier pass, step 2 failed once; then the last pass */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, sid, true, NULL, 1000, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, sid + 1, false, "http 503", 1100, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->steps[1].state, MR_STEP_PREPARED); /* unfinished: as stored */
    assert_int_equal(g->steps[2].attempts, 0);
    mr_msg_free(g);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 3000, -1, 0), 0);

    for (i = 0; i < 2; i++) {
        if (i == 0) {
            g = get(fx->s, "g1");
        } else {
            assert_int_equal(mr_store_msg_get_many(fx->s, gids, 1, true, many, &err), 0);
            g = many[0];
            assert_non_null(g);
        }
        assert_int_equal(g->state, MR_MSG_SUCCEED);
        assert_int_equal(g->nsteps, 3);
        /* recorded: as stored */
        assert_int_equal(g->steps[0].state, MR_STEP_SUCCEED);
        assert_int_equal(g->steps[0].attempts, 1);
        assert_int_equal(g->steps[0].finish_ms, 1000);
        /* one failed call recorded, the successful one not */
        assert_int_equal(g->steps[1].state, MR_STEP_SUCCEED);
        assert_int_equal(g->steps[1].attempts, 2);
        assert_string_equal(g->steps[1].last_error, "http 503");
        assert_int_equal(g->steps[1].finish_ms, 3000);
        /* never recorded */
        assert_int_equal(g->steps[2].state, MR_STEP_SUCCEED);
        assert_int_equal(g->steps[2].attempts, 1);
        assert_int_equal(g->steps[2].finish_ms, 3000);
        assert_int_equal(g->steps[2].update_ms, 3000);
        mr_msg_free(g);
    }
}

static void test_step_record_of_unknown_step_is_enoent(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, 12345, true, NULL, 1, &err), MR_ENOENT);
    mr_store_rollback(fx->s);
}

static void test_step_record_of_finished_message_is_conflict(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;
    int64_t sid;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 2);
    g = get(fx->s, "g1");
    sid = g->steps[0].id;
    mr_msg_free(g);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(
        mr_store_msg_transition(fx->s, "g1", MR_MSG_SUBMITTED, MR_MSG_FAILED, 500, -1, 0, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, sid, true, NULL, 1000, &err), MR_ECONFLICT);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->steps[0].state, MR_STEP_PREPARED);
    assert_int_equal(g->steps[0].attempts, 0);
    mr_msg_free(g);
}

/* ---- release ---- */

static void test_release_by_owner_ends_lease_and_reschedules(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 60000, 10), 1);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(
        mr_store_msg_release(fx->s, "g1", "r1", 9000, 20, "http 500 from 01", 1100, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    assert_int_equal(g->next_cron_ms, 9000);
    assert_int_equal(g->next_cron_interval, 20);
    assert_string_equal(g->result, "http 500 from 01");
    assert_int_equal(g->update_ms, 1100);
    mr_msg_free(g);

    /* due again at 9000, and a NULL result keeps the last one */
    assert_int_equal(claim_count(fx->s, "r1", 9000, 60000, 10), 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_release(fx->s, "g1", "r1", 12000, 40, NULL, 9100, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_string_equal(g->result, "http 500 from 01");
    assert_int_equal(g->next_cron_ms, 12000);
    mr_msg_free(g);
}

static void test_release_by_another_owner_writes_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r2", 1000, 60000, 10), 1);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_release(fx->s, "g1", "r1", 9000, 20, "x", 1100, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_string_equal(g->owner, "r2");
    assert_int_equal(g->lease_until_ms, 60000);
    assert_int_equal(g->next_cron_ms, 100);
    assert_string_equal(g->result, "");
    mr_msg_free(g);
}

static void test_release_owner_ends_only_that_owners_leases(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    add(fx->s, "a", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "b", MR_MSG_SUBMITTED, 200, 1);
    add(fx->s, "c", MR_MSG_SUBMITTED, 300, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 60000, 2), 2);
    assert_int_equal(claim_count(fx->s, "r2", 1000, 60000, 2), 1);
    assert_int_equal(count_due(fx->s, 1000), 0);

    assert_int_equal(mr_store_release_owner(fx->s, "r1", &err), 0);
    assert_int_equal(count_due(fx->s, 1000), 2);
    g = get(fx->s, "a");
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);
    g = get(fx->s, "c");
    assert_string_equal(g->owner, "r2");
    mr_msg_free(g);
}

/* ---- count and list ---- */

static void test_count_due_counts_only_due_unleased_unfinished(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(count_due(fx->s, 1000), 0);
    add(fx->s, "a", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "b", MR_MSG_SUBMITTED, 1000, 1);
    add(fx->s, "later", MR_MSG_SUBMITTED, 1001, 1);
    add(fx->s, "done", MR_MSG_SUCCEED, 0, 1);
    add(fx->s, "dead", MR_MSG_FAILED, 0, 1);
    assert_int_equal(count_due(fx->s, 1000), 2);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 5000, 1), 1);
    assert_int_equal(count_due(fx->s, 1000), 1);
    assert_int_equal(count_due(fx->s, 5000), 3);
}

static void test_count_due_stops_at_its_cap(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;

    add(fx->s, "a", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "b", MR_MSG_SUBMITTED, 200, 1);
    add(fx->s, "c", MR_MSG_SUBMITTED, 300, 1);
    add(fx->s, "later", MR_MSG_SUBMITTED, 5000, 1);
    add(fx->s, "done", MR_MSG_SUCCEED, 0, 1);
    assert_int_equal(count_due_cap(fx->s, 1000, 1), 1);
    assert_int_equal(count_due_cap(fx->s, 1000, 2), 2);
    assert_int_equal(count_due_cap(fx->s, 1000, 3), 3);
    assert_int_equal(count_due_cap(fx->s, 1000, 100), 3); /* fewer due than the cap: all */
    assert_int_equal(count_due_cap(fx->s, 150, 100), 1);
    /* a leased message is not counted until its lease lapses, cap or not */
    assert_int_equal(claim_count(fx->s, "r1", 1000, 2000, 1), 1);
    assert_int_equal(count_due_cap(fx->s, 1000, 3), 2);
    assert_int_equal(count_due_cap(fx->s, 1000, 1), 1);
    assert_int_equal(count_due_cap(fx->s, 2000, 2), 2);
    assert_int_equal(count_due_cap(fx->s, 5000, 10), 4);
    /* inside a transaction too (the writer's and the probe's handles may be in one) */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(count_due_cap(fx->s, 5000, 3), 3);
    mr_store_rollback(fx->s);
}

static void test_count_due_reads_the_oldest_due_time_with_the_count(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    int64_t oldest;

    /* none due: 0 */
    assert_int_equal(count_due_oldest(fx->s, 1000, 0, &oldest), 0);
    assert_int_equal(oldest, 0);
    /* inserted out of due order: the earliest due time, whatever the insertion order */
    add(fx->s, "c", MR_MSG_SUBMITTED, 300, 1);
    add(fx->s, "a", MR_MSG_PREPARED, 200, 1);
    add(fx->s, "b", MR_MSG_SUBMITTED, 250, 1);
    add(fx->s, "later", MR_MSG_SUBMITTED, 5000, 1);
    add(fx->s, "done", MR_MSG_SUCCEED, 0, 1);
    add(fx->s, "dead", MR_MSG_FAILED, 0, 1);
    assert_int_equal(count_due_oldest(fx->s, 1000, 0, &oldest), 3);
    assert_int_equal(oldest, 200);
    assert_int_equal(count_due_oldest(fx->s, 260, 0, &oldest), 2);
    assert_int_equal(oldest, 200);
    assert_int_equal(count_due_oldest(fx->s, 199, 0, &oldest), 0);
    assert_int_equal(oldest, 0);
    /* a cap stops the count, never the oldest: the due index is read oldest first */
    assert_int_equal(count_due_oldest(fx->s, 1000, 1, &oldest), 1);
    assert_int_equal(oldest, 200);
    assert_int_equal(oldest_due(fx->s, 1000, 2), 200);
    /* a leased message is not due: the next oldest is, until the lease lapses */
    assert_int_equal(claim_count(fx->s, "r1", 1000, 2000, 1), 1); /* a, the oldest */
    assert_int_equal(count_due_oldest(fx->s, 1000, 0, &oldest), 2);
    assert_int_equal(oldest, 250);
    assert_int_equal(oldest_due(fx->s, 1000, 1), 250);
    assert_int_equal(count_due_oldest(fx->s, 2000, 0, &oldest), 3);
    assert_int_equal(oldest, 200);
    assert_int_equal(count_due_oldest(fx->s, 5000, 0, &oldest), 4);
    assert_int_equal(oldest, 200);
    /* inside a transaction too */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(oldest_due(fx->s, 1000, 1), 250);
    mr_store_rollback(fx->s);
}

/* oldest - mr_store_oldest_in_state of @st. */
static int64_t oldest(struct mr_store *s, int st)
{
    struct mr_err err = MR_ERR_INIT;
    int64_t t = -1;

    assert_int_equal(mr_store_oldest_in_state(s, st, &t, &err), 0);
    return t;
}

/* add_at - a message @gid in @state created at @create_ms. */
static void add_at(struct mr_store *s, const char *gid, int state, int64_t create_ms)
{
    struct mr_msg *m = new_msg(gid, state, 100, 1);

    m->create_ms = create_ms;
    insert(s, m);
}

static void test_oldest_in_state_is_the_first_stored_of_that_state(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    int64_t t = -1;

    assert_int_equal(oldest(fx->s, MR_MSG_SUBMITTED), 0);
    add_at(fx->s, "done", MR_MSG_SUCCEED, 500);
    add_at(fx->s, "s1", MR_MSG_SUBMITTED, 2000);
    add_at(fx->s, "p1", MR_MSG_PREPARED, 3000);
    add_at(fx->s, "s2", MR_MSG_SUBMITTED, 4000);
    assert_int_equal(oldest(fx->s, MR_MSG_SUBMITTED), 2000);
    assert_int_equal(oldest(fx->s, MR_MSG_PREPARED), 3000);
    assert_int_equal(oldest(fx->s, MR_MSG_SUCCEED), 500);
    assert_int_equal(oldest(fx->s, MR_MSG_PARKED), 0);
    /* the oldest leaves the state: the next one is the oldest */
    assert_int_equal(transition(fx->s, "s1", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 5000, -1, 0), 0);
    assert_int_equal(oldest(fx->s, MR_MSG_SUBMITTED), 4000);
    assert_int_equal(mr_store_oldest_in_state(fx->s, MR_MSG_NONE, &t, &err), MR_EINVAL);
    assert_int_equal(t, 0);
}

/* with_urls - a submitted message @gid due at @next_cron with steps to @u1 and @u2 (@done1: first succeed). */
static void with_urls(struct mr_store *s, const char *gid, int64_t next_cron, const char *u1,
                      const char *u2, bool done1)
{
    struct mr_msg *m = new_msg(gid, MR_MSG_SUBMITTED, next_cron, 2);

    free(m->steps[0].url);
    m->steps[0].url = mr_xstrdup(u1);
    free(m->steps[1].url);
    m->steps[1].url = mr_xstrdup(u2);
    if (done1) {
        m->steps[0].state = MR_STEP_SUCCEED;
        m->steps[0].finish_ms = 100;
    }
    insert(s, m);
}

/* due_by_dest - mr_store_due_by_dest, failing the test on an error; the count. */
static long due_by_dest(struct mr_store *s, const char *key, int64_t now, int64_t spread,
                        size_t limit)
{
    struct mr_err err = MR_ERR_INIT;
    long n = -1;

    if (mr_store_due_by_dest(s, key, now, spread, limit, &n, &err) != 0)
        fail_msg("due_by_dest: %s", err.msg);
    return n;
}

/* prepared_checking - a prepared message @gid due at @next_cron whose back-check goes to @url. */
static void prepared_checking(struct mr_store *s, const char *gid, int64_t next_cron,
                              const char *url)
{
    struct mr_msg *m = new_msg(gid, MR_MSG_PREPARED, next_cron, 1);

    free(m->query_prepared);
    m->query_prepared = mr_xstrdup(url);
    insert(s, m);
}

static void test_due_by_dest_pulls_in_waiting_messages_of_one_destination_in_batches(
    void **state)
{
    struct fx *fx = *state;
    const char *gids[] = {"d1", "d2", "d3", "d4", "q1"};
    struct mr_msg *m;
    size_t i;

    /* waiting on svc-a however the URL spells it (case, default port, credentials), due at
       90000, and a prepared one whose back-check goes there */
    with_urls(fx->s, "d1", 90000, "http://SVC-A:80/x", "http://other/y", false);
    with_urls(fx->s, "d2", 90000, "http://other/y", "http://svc-a/z", false);
    with_urls(fx->s, "d3", 90000, "http://svc-a:80/q", "http://svc-a:80/r", false);
    with_urls(fx->s, "d4", 90000, "http://user:s3cret@svc-a/q", "http://other/r", false);
    prepared_checking(fx->s, "q1", 90000, "http://u:p@Svc-A:80/check");
    /* not these: its svc-a step succeeded; another port, host or scheme; due soon already;
       finished; a prepared one checking elsewhere */
    with_urls(fx->s, "done-step", 90000, "http://svc-a/x", "http://other/y", true);
    with_urls(fx->s, "port", 90000, "http://svc-a:8080/x", "http://svc-a.example/y", false);
    with_urls(fx->s, "tls", 90000, "https://svc-a/x", "http://svc-a-2/y", false);
    with_urls(fx->s, "soon", 1500, "http://svc-a/x", "http://svc-a/y", false);
    prepared_checking(fx->s, "q-other", 90000, "http://other/check");
    add(fx->s, "fin", MR_MSG_SUCCEED, 90000, 1);
    /* bounded batches: two, two, then the last one, then none */
    assert_int_equal(due_by_dest(fx->s, "http://svc-a:80", 1000, 2000, 2), 2);
    assert_int_equal(due_by_dest(fx->s, "http://svc-a:80", 1000, 2000, 2), 2);
    assert_int_equal(due_by_dest(fx->s, "http://svc-a:80", 1000, 2000, 2), 1);
    assert_int_equal(due_by_dest(fx->s, "http://svc-a:80", 1000, 2000, 2), 0);
    for (i = 0; i < 5; i++) {
        m = get(fx->s, gids[i]);
        assert_true(m->next_cron_ms >= 1000 && m->next_cron_ms <= 3000);
        assert_int_equal(m->steps[0].attempts, 0);
        mr_msg_free(m);
    }
    m = get(fx->s, "done-step");
    assert_int_equal(m->next_cron_ms, 90000);
    mr_msg_free(m);
    m = get(fx->s, "port");
    assert_int_equal(m->next_cron_ms, 90000);
    mr_msg_free(m);
    m = get(fx->s, "tls");
    assert_int_equal(m->next_cron_ms, 90000);
    mr_msg_free(m);
    m = get(fx->s, "soon");
    assert_int_equal(m->next_cron_ms, 1500);
    mr_msg_free(m);
    m = get(fx->s, "q-other");
    assert_int_equal(m->next_cron_ms, 90000);
    mr_msg_free(m);
    /* due now: the claim finds them */
    assert_int_equal(count_due(fx->s, 3000), 6);
}

static void test_due_by_dest_matches_kafka_topics_exactly(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    with_urls(fx->s, "k1", 90000, "kafka://Orders?key=a", "http://other/y", false);
    with_urls(fx->s, "k2", 90000, "kafka://orders", "kafka://Orders.v2", false);
    assert_int_equal(due_by_dest(fx->s, "kafka://Orders", 1000, 0, 10), 1);
    m = get(fx->s, "k1");
    assert_int_equal(m->next_cron_ms, 1000);
    mr_msg_free(m);
    m = get(fx->s, "k2");
    assert_int_equal(m->next_cron_ms, 90000);
    mr_msg_free(m);
}

static void test_due_by_dest_refuses_bad_keys(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    char longk[MR_DEST_KEY_MAX + 2];
    long n = 7;

    memset(longk, 'a', sizeof(longk) - 1);
    longk[sizeof(longk) - 1] = '\0';
    assert_int_equal(mr_store_due_by_dest(fx->s, "", 1, 1, 1, &n, &err), MR_EINVAL);
    assert_int_equal(n, 0);
    mr_err_clear(&err);
    assert_int_equal(mr_store_due_by_dest(fx->s, longk, 1, 1, 1, &n, &err), MR_EINVAL);
    mr_err_clear(&err);
    assert_int_equal(mr_store_due_by_dest(fx->s, "http://x:80", 1, 1, 0, &n, &err), MR_EINVAL);
}

/* list - run mr_store_msg_list with @f; the gids, comma-joined, into @out. */
static void list(struct mr_store *s, const struct mr_store_filter *f, char *out, size_t size,
                 int64_t *last_id)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;
    size_t i;
    size_t len = 0;

    if (mr_store_msg_list(s, f, &v, &n, &err) != 0)
        fail_msg("list: %s", err.msg);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        assert_int_equal(v[i]->nsteps, 0);
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? "," : "", v[i]->gid);
        assert_true(len < size);
        if (last_id != NULL)
            *last_id = v[i]->id;
    }
    mr_store_msgs_free(v, n);
}

/* next_page - list @f, expect the gids @want, and move @f's position past them. */
static void next_page(struct mr_store *s, struct mr_store_filter *f, const char *want)
{
    char got[256];
    int64_t last = f->position;

    list(s, f, got, sizeof(got), &last);
    assert_string_equal(got, want);
    f->position = last;
}

static void test_list_by_gid_prefix_with_state_and_paging(void **state)
{
    struct fx *fx = *state;
    struct mr_store_filter f = {NULL, MR_MSG_NONE, 0, 0, 0, 2, "order-"};
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;
    char got[256];
    char *longer = mr_xmalloc(MR_STORE_REDRIVE_TEXT_MAX + 2);
    static const char *const gids[] = {"order-1", "orders",  "order-2", "mail-order-3",
                                       "order_4", "order-5", "ORDER-6"};
    size_t i;

    /* all submitted but order-2 */
    for (i = 0; i < sizeof(gids) / sizeof(gids[0]); i++)
        add(fx->s, gids[i], i == 2 ? MR_MSG_SUCCEED : MR_MSG_SUBMITTED, 0, 1);

    /* byte for byte: no wildcard ('_' is a plain character), case counts; pages of 2 */
    next_page(fx->s, &f, "order-5,order-2");
    next_page(fx->s, &f, "order-1");
    f.position = 0;
    f.limit = 10;
    f.state = MR_MSG_SUBMITTED;
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "order-5,order-1");
    f.gid_prefix = "order_";
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "order_4");
    /* an exact gid wins over a prefix */
    f.gid = "orders";
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "orders");
    /* an over-long prefix is refused */
    memset(longer, 'a', MR_STORE_REDRIVE_TEXT_MAX + 1);
    longer[MR_STORE_REDRIVE_TEXT_MAX + 1] = '\0';
    f.gid = NULL;
    f.gid_prefix = longer;
    assert_int_equal(mr_store_msg_list(fx->s, &f, &v, &n, &err), MR_EINVAL);
    assert_int_equal(n, 0);
    free(longer);
}

static void test_list_pages_newest_first_by_position(void **state)
{
    struct fx *fx = *state;
    struct mr_store_filter f = {NULL, MR_MSG_NONE, 0, 0, 0, 2, NULL};
    char got[256];
    int64_t last = 0;

    add(fx->s, "m1", MR_MSG_PREPARED, 0, 1);
    add(fx->s, "m2", MR_MSG_SUBMITTED, 0, 1);
    add(fx->s, "m3", MR_MSG_SUCCEED, 0, 1);
    add(fx->s, "m4", MR_MSG_FAILED, 0, 1);
    add(fx->s, "m5", MR_MSG_SUBMITTED, 0, 1);

    list(fx->s, &f, got, sizeof(got), &last);
    assert_string_equal(got, "m5,m4");
    f.position = last;
    list(fx->s, &f, got, sizeof(got), &last);
    assert_string_equal(got, "m3,m2");
    f.position = last;
    list(fx->s, &f, got, sizeof(got), &last);
    assert_string_equal(got, "m1");
    f.position = last;
    list(fx->s, &f, got, sizeof(got), &last);
    assert_string_equal(got, "");

    /* limit 0 does not filter */
    f.position = 0;
    f.limit = 0;
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "m5,m4,m3,m2,m1");
}

static void test_list_filters_by_state_gid_and_create_time(void **state)
{
    struct fx *fx = *state;
    struct mr_store_filter f = {NULL, MR_MSG_SUBMITTED, 0, 0, 0, 10, NULL};
    struct mr_msg *m;
    char got[256];
    int i;

    for (i = 1; i <= 5; i++) {
        char gid[16];

        snprintf(gid, sizeof(gid), "m%d", i);
        m = new_msg(gid, i % 2 ? MR_MSG_SUBMITTED : MR_MSG_PREPARED, 0, 1);
        m->create_ms = 1000 * i;
        insert(fx->s, m);
    }

    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "m5,m3,m1");

    f.create_from_ms = 2000;
    f.create_to_ms = 4000;
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "m3");

    f.state = MR_MSG_NONE;
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "m4,m3,m2");

    f.create_from_ms = 0;
    f.create_to_ms = 0;
    f.gid = "m2";
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "m2");
    f.state = MR_MSG_SUBMITTED;
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "");
    f.gid = "nope";
    f.state = MR_MSG_NONE;
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "");
}

/* ---- parked messages (README "When delivery keeps failing") ---- */

/* count_state - mr_store_count_state of @st. */
static long count_state(struct mr_store *s, int st)
{
    struct mr_err err = MR_ERR_INIT;
    long n = -1;

    assert_int_equal(mr_store_count_state(s, st, &n, &err), 0);
    return n;
}

static void test_park_ends_the_lease_keeps_its_origin_and_is_never_claimed(void **state)
{
    struct fx *fx = *state;
    struct mr_store_filter f = {NULL, MR_MSG_PARKED, 0, 0, 0, 10, NULL};
    struct mr_msg *g;
    char got[256];

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 2);
    add(fx->s, "g2", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 9000, 10), 2);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_SUBMITTED, MR_MSG_PARKED, 2000, -1, 0), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_PARKED);
    assert_int_equal(g->parked_from, MR_MSG_SUBMITTED);
    assert_int_equal(g->update_ms, 2000);
    assert_int_equal(g->finish_ms, 0);
    assert_int_equal(g->rollback_ms, 0);
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    assert_int_equal(g->nsteps, 2);
    assert_int_equal(g->steps[0].state, MR_STEP_PREPARED); /* not settled as for succeed */
    mr_msg_free(g);

    /* never due, never claimed, whatever the time; counted and listed by its state */
    assert_int_equal(count_due(fx->s, INT64_C(1) << 50), 1); /* g2 only (its lease lapsed) */
    assert_int_equal(claim_count(fx->s, "r2", INT64_C(1) << 50, (INT64_C(1) << 50) + 1, 10), 1);
    assert_int_equal(claim_count(fx->s, "r3", INT64_C(1) << 51, (INT64_C(1) << 51) + 1, 10), 1);
    assert_int_equal(count_state(fx->s, MR_MSG_PARKED), 1);
    assert_int_equal(count_state(fx->s, MR_MSG_SUBMITTED), 1);
    list(fx->s, &f, got, sizeof(got), NULL);
    assert_string_equal(got, "g1");

    /* a step record of a parked message is refused like one of a finished message */
    g = get(fx->s, "g1");
    {
        struct mr_err err = MR_ERR_INIT;

        assert_int_equal(mr_store_begin(fx->s, &err), 0);
        assert_int_equal(mr_store_step_record(fx->s, g->steps[0].id, false, "x", 3000, &err),
                         MR_ECONFLICT);
        mr_store_rollback(fx->s);
    }
    mr_msg_free(g);

    /* nothing leaves parked but forceStop (failed) and a redrive */
    assert_int_equal(transition(fx->s, "g1", MR_MSG_PARKED, MR_MSG_SUCCEED, 3000, -1, 0),
                     MR_EINVAL);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_SUBMITTED, MR_MSG_PARKED, 3000, -1, 0),
                     MR_ECONFLICT);
    assert_int_equal(transition(fx->s, "g1", MR_MSG_PARKED, MR_MSG_FAILED, 4000, -1, 0), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_FAILED);
    assert_int_equal(g->rollback_ms, 4000);
    assert_int_equal(g->parked_from, MR_MSG_NONE);
    mr_msg_free(g);
    assert_int_equal(count_state(fx->s, MR_MSG_PARKED), 0);
}

static void test_park_from_prepared_and_back(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *g;

    add(fx->s, "p1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(transition(fx->s, "p1", MR_MSG_PREPARED, MR_MSG_PARKED, 2000, -1, 0), 0);
    g = get(fx->s, "p1");
    assert_int_equal(g->state, MR_MSG_PARKED);
    assert_int_equal(g->parked_from, MR_MSG_PREPARED);
    mr_msg_free(g);
    assert_int_equal(claim_count(fx->s, "r1", 5000, 9000, 10), 0);

    assert_int_equal(transition(fx->s, "p1", MR_MSG_PARKED, MR_MSG_PREPARED, 3000, 3000, 10), 0);
    g = get(fx->s, "p1");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    assert_int_equal(g->parked_from, MR_MSG_NONE);
    assert_int_equal(g->next_cron_ms, 3000);
    mr_msg_free(g);
    assert_int_equal(claim_count(fx->s, "r1", 5000, 9000, 10), 1);
}

static void test_park_many_moves_only_the_submitted(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    const char *gids[] = {"a", "b", "c"};
    bool changed[3];

    add(fx->s, "a", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "b", MR_MSG_SUCCEED, 100, 1);
    add(fx->s, "c", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 3, MR_MSG_SUBMITTED,
                                                  MR_MSG_PARKED, 2000, -1, 0, NULL, 0, changed,
                                                  &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_true(changed[0]);
    assert_false(changed[1]);
    assert_true(changed[2]);
    assert_int_equal(count_state(fx->s, MR_MSG_PARKED), 2);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg WHERE parked_from = 'submitted'"), 2);
}

static void test_retry_limit_round_trips_and_failed_back_checks_are_counted(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("q1", MR_MSG_PREPARED, 100, 1);
    struct mr_msg *g;

    m->retry_limit = 7;
    insert(fx->s, m);
    add(fx->s, "q2", MR_MSG_SUBMITTED, 100, 1);
    g = get(fx->s, "q1");
    assert_int_equal(g->retry_limit, 7);
    assert_int_equal(g->query_attempts, 0);
    mr_msg_free(g);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_query_failed(fx->s, "q1", 500, &err), 0);
    assert_int_equal(mr_store_msg_query_failed(fx->s, "q1", 600, &err), 0);
    assert_int_equal(mr_store_msg_query_failed(fx->s, "q2", 600, &err), 0); /* not prepared */
    assert_int_equal(mr_store_msg_query_failed(fx->s, "nope", 600, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "q1");
    assert_int_equal(g->query_attempts, 2);
    assert_int_equal(g->update_ms, 600);
    mr_msg_free(g);
    g = get(fx->s, "q2");
    assert_int_equal(g->query_attempts, 0);
    assert_int_equal(g->retry_limit, 0);
    mr_msg_free(g);
    /* outside a transaction it is refused */
    assert_int_equal(mr_store_msg_query_failed(fx->s, "q1", 700, &err), MR_EINVAL);
}

/* park - @gid (submitted, or prepared with @from_prepared) moved to parked at @at. */
static void park_at(struct mr_store *s, const char *gid, bool from_prepared, int64_t at)
{
    int from = from_prepared ? MR_MSG_PREPARED : MR_MSG_SUBMITTED;

    assert_int_equal(transition(s, gid, from, MR_MSG_PARKED, at, -1, 0), 0);
}

/* redrive - mr_store_msg_redrive of @f at @now, batch 2; "matched/redriven". */
static const char *redrive(struct mr_store *s, const struct mr_store_redrive *f, bool dry_run,
                           int64_t now)
{
    static char out[64];
    struct mr_err err = MR_ERR_INIT;
    long matched = -1;
    long redriven = -1;

    if (mr_store_msg_redrive(s, f, now, dry_run, 2, &matched, &redriven, &err) != 0)
        fail_msg("redrive: %s", err.msg);
    snprintf(out, sizeof(out), "%ld/%ld", matched, redriven);
    return out;
}

/* parked_gids - the parked gids, newest first, comma-separated. */
static const char *parked_gids(struct mr_store *s)
{
    static char got[512];
    struct mr_store_filter f = {NULL, MR_MSG_PARKED, 0, 0, 0, 100, NULL};

    list(s, &f, got, sizeof(got), NULL);
    return got;
}

static void test_redrive_selects_by_each_filter_and_dry_run_only_counts(void **state)
{
    struct fx *fx = *state;
    struct mr_store_redrive f;
    struct mr_msg *m;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;

    /* ord-1, ord-2: steps to http://svc/step1; pay_1: another URL and error text; a%b: a
       wildcard in its gid; q-1 parked by its back-check; live-1 not parked */
    add(fx->s, "ord-1", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "ord-2", MR_MSG_SUBMITTED, 100, 2);
    m = new_msg("pay_1", MR_MSG_SUBMITTED, 100, 1);
    free(m->steps[0].url);
    m->steps[0].url = mr_xstrdup("http://pay.example/x");
    insert(fx->s, m);
    add(fx->s, "a%b", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "q-1", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "live-1", MR_MSG_SUBMITTED, 100, 1);
    g = get(fx->s, "pay_1");
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_step_record(fx->s, g->steps[0].id, false, "HTTP 503: Pay Down",
                                          900, &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    mr_msg_free(g);
    park_at(fx->s, "ord-1", false, 1000);
    park_at(fx->s, "ord-2", false, 2000);
    park_at(fx->s, "pay_1", false, 3000);
    park_at(fx->s, "a%b", false, 4000);
    park_at(fx->s, "q-1", true, 5000);

    memset(&f, 0, sizeof(f));
    assert_string_equal(redrive(fx->s, &f, true, 9000), "5/0"); /* every parked one */
    assert_string_equal(parked_gids(fx->s), "q-1,a%b,pay_1,ord-2,ord-1");

    f.gid_prefix = "ord-";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "2/0");
    f.gid_prefix = "a%"; /* the % is a character, not a wildcard */
    assert_string_equal(redrive(fx->s, &f, true, 9000), "1/0");
    f.gid_prefix = "a_";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "0/0");
    f.gid_prefix = "ORD-"; /* case kept */
    assert_string_equal(redrive(fx->s, &f, true, 9000), "0/0");
    f.gid_prefix = NULL;
    f.gid = "ord-2";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "1/0");
    f.gid = "live-1";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "0/0");
    f.gid = NULL;
    f.url_prefix = "http://pay.example/";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "1/0");
    f.url_prefix = "http://app/query"; /* q-1's back-check URL */
    assert_string_equal(redrive(fx->s, &f, true, 9000), "1/0");
    f.url_prefix = NULL;
    f.error = "503: Pay";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "1/0");
    f.error = "pay down";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "0/0");
    f.error = "%";
    assert_string_equal(redrive(fx->s, &f, true, 9000), "0/0");
    f.error = NULL;
    f.parked_from_ms = 2000;
    f.parked_to_ms = 4000;
    assert_string_equal(redrive(fx->s, &f, true, 9000), "3/0");
    assert_string_equal(parked_gids(fx->s), "q-1,a%b,pay_1,ord-2,ord-1"); /* dry runs */

    /* for real: ord-2, pay_1, a%b go back to submitted, due now, attempts afresh */
    assert_string_equal(redrive(fx->s, &f, false, 9000), "3/3");
    assert_string_equal(parked_gids(fx->s), "q-1,ord-1");
    g = get(fx->s, "pay_1");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_int_equal(g->next_cron_ms, 9000);
    assert_int_equal(g->next_cron_interval, 0);
    assert_int_equal(g->update_ms, 9000);
    assert_int_equal(g->parked_from, MR_MSG_NONE);
    assert_int_equal(g->steps[0].attempts, 0);
    assert_string_equal(g->steps[0].last_error, "HTTP 503: Pay Down"); /* kept for people */
    mr_msg_free(g);
    assert_int_equal(claim_count(fx->s, "r1", 9000, 19000, 10), 4); /* with live-1 */

    /* q-1 was parked by its back-check: it goes back to prepared, its count afresh */
    memset(&f, 0, sizeof(f));
    f.gid = "q-1";
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_query_failed(fx->s, "q-1", 9500, &err), 0); /* not prepared */
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_string_equal(redrive(fx->s, &f, false, 10000), "1/1");
    g = get(fx->s, "q-1");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    assert_int_equal(g->query_attempts, 0);
    assert_int_equal(g->next_cron_ms, 10000);
    mr_msg_free(g);
    /* nothing left to match: a second run changes nothing */
    assert_string_equal(redrive(fx->s, &f, false, 11000), "0/0");
}

static void test_redrive_in_batches_takes_every_match_and_refuses_bad_input(void **state)
{
    struct fx *fx = *state;
    struct mr_store_redrive f;
    struct mr_err err = MR_ERR_INIT;
    char big[MR_STORE_REDRIVE_TEXT_MAX + 2];
    long matched;
    long redriven;
    int i;

    for (i = 0; i < 7; i++) {
        char gid[16];

        snprintf(gid, sizeof(gid), "b%d", i);
        add(fx->s, gid, MR_MSG_SUBMITTED, 100, 1);
        park_at(fx->s, gid, false, 1000 + i);
    }
    memset(&f, 0, sizeof(f));
    /* batch 2: four transactions, every one of the 7 */
    assert_string_equal(redrive(fx->s, &f, false, 9000), "7/7");
    assert_int_equal(count_state(fx->s, MR_MSG_PARKED), 0);
    assert_int_equal(count_state(fx->s, MR_MSG_SUBMITTED), 7);

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    f.error = big;
    assert_int_equal(mr_store_msg_redrive(fx->s, &f, 9000, false, 2, &matched, &redriven, &err),
                     MR_EINVAL);
    assert_string_equal(err.msg, "error: longer than 2048 bytes");
    f.error = NULL;
    assert_int_equal(mr_store_msg_redrive(fx->s, &f, 9000, false, 0, &matched, &redriven, &err),
                     MR_EINVAL);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_redrive(fx->s, &f, 9000, false, 2, &matched, &redriven, &err),
                     MR_EINVAL);
    mr_store_rollback(fx->s);
}

static void test_reset_cron_makes_far_work_due_up_to_the_limit(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    long count = -1;
    bool remaining = true;
    struct mr_msg *g;

    add(fx->s, "far1", MR_MSG_SUBMITTED, 100000, 1);
    add(fx->s, "far2", MR_MSG_PREPARED, 200000, 1);
    add(fx->s, "far3", MR_MSG_SUBMITTED, 300000, 1);
    add(fx->s, "near", MR_MSG_SUBMITTED, 5000, 1);
    add(fx->s, "done", MR_MSG_SUCCEED, 900000, 1);
    add(fx->s, "parked", MR_MSG_SUBMITTED, 900000, 1);
    park_at(fx->s, "parked", false, 1000);

    /* later than now (1000) + 9000: far1..far3, two of them */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_reset_cron(fx->s, 1000, 10000, 2, &count, &remaining, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(count, 2);
    assert_true(remaining);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_reset_cron(fx->s, 1000, 10000, 2, &count, &remaining, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(count, 1);
    assert_false(remaining);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg WHERE next_cron_time = 1000"), 3);
    g = get(fx->s, "near");
    assert_int_equal(g->next_cron_ms, 5000);
    mr_msg_free(g);
    g = get(fx->s, "parked");
    assert_int_equal(g->state, MR_MSG_PARKED);
    assert_int_equal(g->next_cron_ms, 900000);
    mr_msg_free(g);
    assert_int_equal(mr_store_reset_cron(fx->s, 1000, 10000, 2, &count, &remaining, &err),
                     MR_EINVAL); /* outside a transaction */
}

static void test_list_with_unknown_state_is_einval(void **state)
{
    struct fx *fx = *state;
    struct mr_store_filter f = {NULL, 42, 0, 0, 0, 10, NULL};
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;

    assert_int_equal(mr_store_msg_list(fx->s, &f, &v, &n, &err), MR_EINVAL);
    assert_null(v);
}

/* ---- open, schema, persistence ---- */

static void test_reopen_keeps_data_and_schema_version(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    int64_t id = add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 2);
    struct mr_msg *g;

    mr_store_close(fx->s);
    fx->s = NULL;
    assert_int_equal(mr_store_open(fx->uri, &fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->id, id);
    assert_int_equal(g->nsteps, 2);
    mr_msg_free(g);

    /* one row per schema file, applied once; a SQLite file is in WAL mode */
    assert_int_equal(raw_int(fx, "SELECT max(version) FROM schema_version"),
                     fx->eng->schema_latest);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM schema_version"), fx->eng->schema_latest);
    if (fx->eng->kind == ENG_SQLITE)
        assert_int_equal(raw_int(fx, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}

static void test_open_refuses_a_newer_schema_version(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = (struct mr_store *)&err;
    char want[100];

    raw_exec(fx, "INSERT INTO schema_version (version, applied_time) VALUES (999, 0)");
    assert_int_equal(mr_store_open(fx->uri, &s, &err), MR_ESTORE);
    assert_null(s);
    snprintf(want, sizeof(want), "store: schema version 999 is newer than this msgrelay (%d)",
             fx->eng->schema_latest);
    assert_string_equal(err.msg, want);
}

/* What a migration reported: the versions and names applied, in order. */
struct migrated {
    int versions[16];
    char names[16][32];
    size_t n;
};

static void note_migrated(void *arg, int version, const char *name)
{
    struct migrated *m = arg;

    assert_true(m->n < 16);
    m->versions[m->n] = version;
    snprintf(m->names[m->n], sizeof(m->names[m->n]), "%s", name);
    m->n++;
}

/*
 * check_migrate_report - migrate @uri (at version 0) twice: the first reports
 * every file of @schema (@n) by version and name, 0 -> latest; the second
 * nothing, latest -> latest.
 */
static void check_migrate_report(const char *uri, const struct mr_store_schema *schema, size_t n)
{
    struct mr_err err = MR_ERR_INIT;
    struct migrated m;
    struct mr_store_migration_report rep = {note_migrated, &m, -1, -1};
    size_t i;

    memset(&m, 0, sizeof(m));
    assert_int_equal(mr_store_migrate(uri, &rep, &err), 0);
    assert_int_equal(rep.from, 0);
    assert_int_equal(rep.to, schema[n - 1].version);
    assert_int_equal(m.n, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(m.versions[i], schema[i].version);
        assert_true(m.names[i][0] != '\0');
    }
    assert_string_equal(m.names[0], "init");
    /* PostgreSQL's first file holds the whole schema up to the topics and beyond */
    if (n > 1)
        assert_string_equal(m.names[1], schema == mr_store_postgres_schema ? "ordering" : "topics");

    memset(&m, 0, sizeof(m));
    rep.from = rep.to = -1;
    assert_int_equal(mr_store_migrate(uri, &rep, &err), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(rep.from, schema[n - 1].version);
    assert_int_equal(rep.to, schema[n - 1].version);
}

static void test_sqlite_migrate_reports_each_file_applied(void **state)
{
    struct fx *fx = *state;

    mr_store_close(fx->s);
    fx->s = NULL;
    sqlite_remove(fx);
    check_migrate_report(fx->uri, mr_store_sqlite_schema, mr_store_sqlite_schema_count);
}

/*
 * An SQLite store of schema 3 (before parked) is upgraded at open: msg and
 * step are built anew (004_parked.sql) with every row, id, step and the
 * AUTOINCREMENT high-water mark kept, and the new state works at once.
 */
static void test_sqlite_upgrade_to_parked_keeps_messages_steps_and_ids(void **state)
{
    struct fx *fx = *state;
    sqlite3 *db = NULL;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *g;
    size_t i;
    char p[160];

    mr_store_close(fx->s);
    fx->s = NULL;
    unlink(fx->path);
    snprintf(p, sizeof(p), "%s-wal", fx->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", fx->path);
    unlink(p);
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    for (i = 0; i < mr_store_sqlite_schema_count && mr_store_sqlite_schema[i].version <= 3; i++) {
        assert_int_equal(sqlite3_exec(db, mr_store_sqlite_schema[i].sql, NULL, NULL, NULL),
                         SQLITE_OK);
        snprintf(p, sizeof(p), "INSERT INTO schema_version VALUES (%d, 0)",
                 mr_store_sqlite_schema[i].version);
        assert_int_equal(sqlite3_exec(db, p, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(i, 3);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO msg (gid, state, next_cron_time, result) VALUES "
                     "('old1', 'submitted', 100, ''), ('gone', 'succeed', 0, ''), "
                     "('old3', 'prepared', 100, 'x');"
                     "INSERT INTO step (msg_id, branch_id, url, payload, attempts, last_error) "
                     "VALUES (1, '01', 'http://a/1', 'p1', 4, 'HTTP 500'), "
                     "(1, '02', 'http://a/2', 'p2', 0, NULL), (3, '01', 'http://a/3', 'p3', 0, "
                     "NULL);"
                     "DELETE FROM msg WHERE gid = 'gone';",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(mr_store_open(fx->uri, &fx->s, &err), 0);
    assert_int_equal(raw_int(fx, "SELECT max(version) FROM schema_version"), 8);
    g = get(fx->s, "old1");
    assert_int_equal(g->id, 1);
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_int_equal(g->nsteps, 2);
    assert_int_equal(g->steps[0].attempts, 4);
    assert_string_equal(g->steps[0].last_error, "HTTP 500");
    assert_int_equal(g->retry_limit, 0);
    assert_int_equal(g->parked_from, MR_MSG_NONE);
    mr_msg_free(g);
    g = get(fx->s, "old3");
    assert_int_equal(g->id, 3);
    assert_int_equal(g->nsteps, 1);
    mr_msg_free(g);
    /* ids are never reused: the next one is 4, after the deleted 2 and the kept 3 */
    assert_int_equal(add(fx->s, "new", MR_MSG_SUBMITTED, 100, 1), 4);
    /* the new state and the claim's index work on the rebuilt table */
    assert_int_equal(transition(fx->s, "old1", MR_MSG_SUBMITTED, MR_MSG_PARKED, 500, -1, 0), 0);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 2000, 10), 2); /* old3 and new */
    /* the steps still belong to their message: deleting it deletes them */
    raw_exec(fx, "PRAGMA foreign_keys = ON; DELETE FROM msg WHERE gid = 'old3'");
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 3);
}

static void test_open_rejects_unknown_scheme(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = (struct mr_store *)&err;

    (void)state;
    assert_int_equal(mr_store_open("redis:x", &s, &err), MR_EINVAL);
    assert_null(s);
    assert_string_equal(err.msg, "store: unknown scheme in 'redis:x'");
    assert_int_equal(mr_store_open("relay.db", &s, &err), MR_EINVAL);
    assert_string_equal(err.msg, "store: unknown scheme in 'relay.db'");
    assert_int_equal(mr_store_open("sqlite:", &s, &err), MR_EINVAL);
}

static void test_uri_redacted_hides_passwords(void **state)
{
    static const char *const cases[][2] = {
        {"sqlite:relay.db", "sqlite:relay.db"},
        {"mysql://app:s3cret@db:3306/shop", "mysql://app:***@db:3306/shop"},
        {"mysql://app@db/shop?socket=/x", "mysql://app@db/shop?socket=/x"},
        {"postgres://app:p@ss@db/shop?sslmode=require", "postgres://app:***@db/shop?sslmode=require"},
        {"postgres://app@db/shop?sslmode=require&password=s3cret&connect_timeout=2",
         "postgres://app@db/shop?sslmode=require&password=***&connect_timeout=2"},
        {"postgresql://db/shop?password=s3cret", "postgresql://db/shop?password=***"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = mr_store_uri_redacted(cases[i][0]);

        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

static void test_open_of_unreachable_file_is_eunavail(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;

    (void)state;
    assert_int_equal(mr_store_open("sqlite:/nonexistent-dir/x/relay.db", &s, &err), MR_EUNAVAIL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "sqlite: "));
}

/* ---- DTM topics: the kv table ---- */

/* Which topic function topic_tx runs. */
enum topic_op { T_SUB, T_UNSUB, T_DEL };

/* topic_tx - one topic function in its own transaction (committed on success); its code. */
static int topic_tx(struct mr_store *s, enum topic_op op, const char *topic, const char *url,
                    struct mr_err *err)
{
    int rc;

    assert_int_equal(mr_store_begin(s, err), 0);
    if (op == T_SUB)
        rc = mr_store_topic_subscribe(s, topic, url, "r", 500, err);
    else if (op == T_UNSUB)
        rc = mr_store_topic_unsubscribe(s, topic, url, 600, err);
    else
        rc = mr_store_topic_delete(s, topic, err);
    if (rc == 0)
        assert_int_equal(mr_store_commit(s, err), 0);
    else
        mr_store_rollback(s);
    return rc;
}

/* topic_urls - @topic's subscribers joined by ' ', or "-" when there is no such topic. */
static void topic_urls(struct mr_store *s, const char *topic, char *out, size_t size)
{
    struct mr_err err = MR_ERR_INIT;
    char **urls = NULL;
    size_t n = 99;
    size_t i;
    int rc = mr_store_topic_subscribers(s, topic, &urls, &n, &err);

    if (rc == MR_ENOENT) {
        assert_int_equal(n, 0);
        snprintf(out, size, "-");
        return;
    }
    assert_int_equal(rc, 0);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i > 0 ? " " : "", urls[i]);
        free(urls[i]);
    }
    free(urls);
}

static void test_topic_subscribe_creates_then_appends_and_counts_versions(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_kv *kv = NULL;
    char got[200];

    topic_urls(fx->s, "orders", got, sizeof(got));
    assert_string_equal(got, "-");
    assert_int_equal(topic_tx(fx->s, T_SUB, "orders", "http://a/x", &err), 0);
    assert_int_equal(topic_tx(fx->s, T_SUB, "orders", "kafka://k", &err), 0);
    topic_urls(fx->s, "orders", got, sizeof(got));
    assert_string_equal(got, "http://a/x kafka://k");

    assert_int_equal(mr_store_kv_get(fx->s, MR_STORE_TOPICS_CAT, "orders", &kv, &err), 0);
    assert_non_null(kv);
    assert_true(kv->id > 0);
    assert_string_equal(kv->cat, "topics");
    assert_string_equal(kv->k, "orders");
    assert_string_equal(kv->v, "[{\"url\":\"http://a/x\",\"remark\":\"r\"},"
                               "{\"url\":\"kafka://k\",\"remark\":\"r\"}]");
    assert_int_equal(kv->version, 2);
    assert_int_equal(kv->create_ms, 500);
    assert_int_equal(kv->update_ms, 500);
    mr_store_kvs_free(kv, 1);

    kv = (struct mr_kv *)&err;
    assert_int_equal(mr_store_kv_get(fx->s, MR_STORE_TOPICS_CAT, "other", &kv, &err), 0);
    assert_null(kv);
}

static void test_topic_refusals_are_dtms_texts_and_write_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    char got[200];

    assert_int_equal(topic_tx(fx->s, T_UNSUB, "t", "http://a/x", &err), MR_ENOENT);
    assert_string_equal(err.msg, "no such a topic");
    assert_int_equal(topic_tx(fx->s, T_SUB, "t", "http://a/x", &err), 0);
    assert_int_equal(topic_tx(fx->s, T_SUB, "t", "http://a/x", &err), MR_EEXIST);
    assert_string_equal(err.msg, "this url exists");
    assert_int_equal(topic_tx(fx->s, T_UNSUB, "t", "http://b/x", &err), MR_ENOENT);
    assert_string_equal(err.msg, "no such an url ");
    assert_int_equal(raw_int(fx, "SELECT version FROM kv WHERE k = 't'"), 1);

    assert_int_equal(topic_tx(fx->s, T_UNSUB, "t", "http://a/x", &err), 0);
    assert_int_equal(topic_tx(fx->s, T_UNSUB, "t", "http://a/x", &err), MR_ENOENT);
    assert_string_equal(err.msg, "this topic is empty");
    /* an emptied topic stays, with no subscribers */
    topic_urls(fx->s, "t", got, sizeof(got));
    assert_string_equal(got, "");
    assert_int_equal(raw_int(fx, "SELECT version FROM kv WHERE k = 't'"), 2);
    assert_int_equal(raw_int(fx, "SELECT update_time FROM kv WHERE k = 't'"), 600);
}

static void test_topic_delete_forgets_it_and_a_missing_one_is_enoent(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    char got[200];

    assert_int_equal(topic_tx(fx->s, T_DEL, "t", NULL, &err), MR_ENOENT);
    assert_string_equal(err.msg, "storage: NotFound");
    assert_int_equal(topic_tx(fx->s, T_SUB, "t", "http://a/x", &err), 0);
    assert_int_equal(topic_tx(fx->s, T_DEL, "t", NULL, &err), 0);
    topic_urls(fx->s, "t", got, sizeof(got));
    assert_string_equal(got, "-");
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM kv"), 0);
    /* subscribing again starts a new row at version 1 */
    assert_int_equal(topic_tx(fx->s, T_SUB, "t", "http://b/x", &err), 0);
    assert_int_equal(raw_int(fx, "SELECT version FROM kv WHERE k = 't'"), 1);
}

static void test_topic_subscribers_are_capped(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    char url[64];
    int i;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    for (i = 0; i < MR_STORE_TOPIC_MAX_SUBSCRIBERS; i++) {
        snprintf(url, sizeof(url), "http://svc/%d", i);
        assert_int_equal(mr_store_topic_subscribe(fx->s, "big", url, NULL, 500, &err), 0);
    }
    assert_int_equal(mr_store_topic_subscribe(fx->s, "big", "http://svc/x", NULL, 500, &err),
                     MR_ETOOBIG);
    /* the refusal leaves the transaction usable */
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(raw_int(fx, "SELECT version FROM kv WHERE k = 'big'"),
                     MR_STORE_TOPIC_MAX_SUBSCRIBERS);
}

static void test_topic_writes_outside_a_transaction_are_einval(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;

    assert_int_equal(mr_store_topic_subscribe(fx->s, "t", "http://a/x", NULL, 1, &err),
                     MR_EINVAL);
    assert_int_equal(mr_store_topic_delete(fx->s, "t", &err), MR_EINVAL);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM kv"), 0);
}

static void test_kv_scan_pages_newest_first_within_one_cat(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_kv *v = NULL;
    size_t n = 99;

    assert_int_equal(topic_tx(fx->s, T_SUB, "t1", "http://a/x", &err), 0);
    assert_int_equal(topic_tx(fx->s, T_SUB, "t2", "http://a/x", &err), 0);
    assert_int_equal(topic_tx(fx->s, T_SUB, "t3", "http://a/x", &err), 0);
    raw_exec(fx, "INSERT INTO kv (cat, k, v, version, create_time, update_time) "
                 "VALUES ('other', 'o1', '', 1, 0, 0)");

    assert_int_equal(mr_store_kv_scan(fx->s, MR_STORE_TOPICS_CAT, 0, 2, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].k, "t3");
    assert_string_equal(v[1].k, "t2");
    assert_true(v[0].id > v[1].id);
    mr_store_kvs_free(v, n);
    assert_int_equal(mr_store_kv_scan(fx->s, MR_STORE_TOPICS_CAT,
                                      raw_int(fx, "SELECT id FROM kv WHERE k = 't2'"), 2, &v, &n,
                                      &err),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].k, "t1");
    mr_store_kvs_free(v, n);
    assert_int_equal(mr_store_kv_scan(fx->s, "none", 0, 10, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    mr_store_kvs_free(v, n);
}

/* ---- more than one statement's worth ---- */

static void test_insert_of_many_steps_keeps_their_order_and_ids(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("many", MR_MSG_SUBMITTED, 100, 40);
    struct mr_msg *g;
    size_t i;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "many");
    assert_int_equal(g->nsteps, 40);
    for (i = 0; i < 40; i++) {
        char want[32];

        snprintf(want, sizeof(want), "%02zu", i + 1);
        assert_string_equal(g->steps[i].branch_id, want);
        assert_int_equal(g->steps[i].id, m->steps[i].id);
        if (i > 0)
            assert_true(g->steps[i].id > g->steps[i - 1].id);
    }
    mr_msg_free(g);
    mr_msg_free(m);
}

static void test_claim_of_many_messages_returns_each_with_its_own_steps(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n;
    int i;

    /* 150 messages due in the reverse of their insert order, 1 to 3 steps each */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    for (i = 0; i < 150; i++) {
        char gid[16];
        struct mr_msg *m;

        snprintf(gid, sizeof(gid), "m%03d", i);
        m = new_msg(gid, MR_MSG_SUBMITTED, 1000 - i, (size_t)(i % 3 + 1));
        assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
        mr_msg_free(m);
    }
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    n = claim(fx->s, "r1", 5000, 60000, 200, &v);
    assert_int_equal(n, 150);
    for (i = 0; i < 150; i++) {
        char gid[16];
        const struct mr_msg *m = v[i];

        snprintf(gid, sizeof(gid), "m%03d", 149 - i);
        assert_string_equal(m->gid, gid);
        assert_string_equal(m->owner, "r1");
        assert_int_equal(m->lease_until_ms, 60000);
        assert_int_equal(m->nsteps, (size_t)((149 - i) % 3 + 1));
        assert_string_equal(m->steps[m->nsteps - 1].url, m->nsteps == 1   ? "http://svc/step1"
                                                         : m->nsteps == 2 ? "http://svc/step2"
                                                                          : "http://svc/step3");
    }
    mr_store_msgs_free(v, n);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg WHERE owner = 'r1'"), 150);
    assert_int_equal(count_due(fx->s, 5000), 0);
}

/* The trace context of a message comes back from a read, a claim and a batch insert alike. */
static void test_trace_context_round_trips_through_get_claim_and_batch_insert(void **state)
{
    static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    static const char ts[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("traced", MR_MSG_SUBMITTED, 10, 1);
    struct mr_msg *b = new_msg("traced-batch", MR_MSG_SUBMITTED, 20, 1);
    struct mr_msg *plain = new_msg("untraced", MR_MSG_SUBMITTED, 30, 1);
    struct mr_msg *g;
    struct mr_msg **v = NULL;
    size_t n;

    m->traceparent = mr_xstrdup(tp);
    m->tracestate = mr_xstrdup(ts);
    b->traceparent = mr_xstrdup(tp);
    b->tracestate = mr_xstrdup("");
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, &b, 1, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, plain, &err), 0); /* NULL fields: stored as '' */
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    g = get(fx->s, "traced");
    assert_string_equal(g->traceparent, tp);
    assert_string_equal(g->tracestate, ts);
    mr_msg_free(g);
    g = get(fx->s, "untraced");
    assert_string_equal(g->traceparent, "");
    assert_string_equal(g->tracestate, "");
    mr_msg_free(g);

    n = claim(fx->s, "r1", 1000, 60000, 10, &v);
    assert_int_equal(n, 3);
    assert_string_equal(v[0]->gid, "traced");
    assert_string_equal(v[0]->traceparent, tp);
    assert_string_equal(v[0]->tracestate, ts);
    assert_string_equal(v[1]->gid, "traced-batch");
    assert_string_equal(v[1]->traceparent, tp);
    assert_string_equal(v[1]->tracestate, "");
    assert_string_equal(v[2]->traceparent, "");
    mr_store_msgs_free(v, n);
    mr_msg_free(m);
    mr_msg_free(b);
    mr_msg_free(plain);
}

/* ---- batches ---- */

static void test_insert_many_then_get_many_round_trips_ids_and_steps(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[150];
    struct mr_msg *out[152];
    const char *gids[152];
    char names[150][16];
    size_t i;
    size_t j;

    /* 150 = 2 x 64 + 16 + 4 + 2 x 1 rows: every statement size, and 300 steps */
    for (i = 0; i < 150; i++) {
        snprintf(names[i], sizeof(names[i]), "b%03zu", i);
        v[i] = new_msg(names[i], i % 2 ? MR_MSG_PREPARED : MR_MSG_SUBMITTED, 100 + (int64_t)i,
                       i % 3 + 1);
        gids[i] = names[i];
    }
    gids[150] = "nope";
    gids[151] = "also-nope";
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, v, 150, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_get_many(fx->s, gids, 152, false, out, &err), 0);
    mr_store_rollback(fx->s);
    for (i = 0; i < 150; i++) {
        struct mr_msg *g = get(fx->s, names[i]);

        assert_non_null(out[i]);
        assert_string_equal(out[i]->gid, names[i]);
        assert_int_equal(out[i]->id, v[i]->id);
        assert_int_equal(out[i]->state, v[i]->state);
        assert_int_equal(out[i]->next_cron_ms, 100 + (int64_t)i);
        assert_int_equal(out[i]->nsteps, 0);
        assert_int_equal(g->id, v[i]->id);
        assert_int_equal(g->nsteps, v[i]->nsteps);
        for (j = 0; j < g->nsteps; j++) {
            assert_int_equal(g->steps[j].id, v[i]->steps[j].id);
            assert_string_equal(g->steps[j].url, v[i]->steps[j].url);
            assert_string_equal(g->steps[j].payload, v[i]->steps[j].payload);
        }
        mr_msg_free(g);
        mr_msg_free(out[i]);
        mr_msg_free(v[i]);
    }
    assert_null(out[150]);
    assert_null(out[151]);
}

/* insert_batch - @n (<= 70) messages "<prefix>NNN" with 2 steps each, in the open transaction. */
static void insert_batch(struct mr_store *s, const char *prefix, size_t n)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[70];
    char name[48];
    size_t i;

    assert_true(n <= 70);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s%03zu", prefix, i);
        v[i] = new_msg(name, MR_MSG_SUBMITTED, 100, 2);
    }
    assert_int_equal(mr_store_msg_insert_many(s, v, n, &err), 0);
    for (i = 0; i < n; i++)
        mr_msg_free(v[i]);
}

static void test_shrink_gives_back_and_the_handle_goes_on(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    insert_batch(fx->s, "s", 70);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    mr_store_shrink(fx->s);
    /* what was given back is made again at its next use; inside a transaction, nothing is */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    insert_batch(fx->s, "t", 70);
    mr_store_shrink(fx->s);
    insert_batch(fx->s, "u", 69);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    m = get(fx->s, "t069");
    assert_int_equal(m->nsteps, 2);
    mr_msg_free(m);
    m = get(fx->s, "u068");
    assert_int_equal(m->nsteps, 2);
    mr_msg_free(m);
    mr_store_shrink(NULL);
}

static void test_insert_many_with_a_stored_gid_is_eexist(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[2];

    add(fx->s, "old", MR_MSG_SUBMITTED, 100, 1);
    v[0] = new_msg("new", MR_MSG_SUBMITTED, 100, 1);
    v[1] = new_msg("old", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, v, 2, &err), MR_EEXIST);
    mr_store_rollback(fx->s);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg"), 1);
    mr_msg_free(v[0]);
    mr_msg_free(v[1]);
}

static void test_transition_many_moves_only_those_in_from(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    const char *gids[] = {"p1", "s1", "p2", "none", "p3"};
    bool changed[5];
    long before = transitions_metric("prepared", "submitted");
    struct mr_msg *g;

    add(fx->s, "p1", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "s1", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "p2", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "p3", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 5, MR_MSG_PREPARED,
                                                  MR_MSG_SUBMITTED, 2000, 2500, 7, NULL, 0,
                                                  changed, &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_true(changed[0]);
    assert_false(changed[1]);
    assert_true(changed[2]);
    assert_false(changed[3]);
    assert_true(changed[4]);
    assert_int_equal(transitions_metric("prepared", "submitted") - before, 3);
    g = get(fx->s, "p2");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_int_equal(g->update_ms, 2000);
    assert_int_equal(g->next_cron_ms, 2500);
    assert_int_equal(g->next_cron_interval, 7);
    mr_msg_free(g);
    g = get(fx->s, "s1");
    assert_int_equal(g->update_ms, 100);
    mr_msg_free(g);

    /* a transition the table refuses writes nothing */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 1, MR_MSG_SUCCEED, MR_MSG_PREPARED,
                                                  3000, -1, 0, NULL, 0, changed, &err),
                     MR_EINVAL);
    mr_store_rollback(fx->s);
}

/*
 * By id: a message moves only while it is in @from under the id given, so one
 * in another state, one deleted and stored again under its gid and an id that
 * is not stored are left alone; two chunks, each with a miss.
 */
static void test_transition_ids_moves_only_the_same_message_still_in_from(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    enum { N = MR_STORE_BATCH_CHUNK + 6 };
    char names[N][16];
    const char *gids[N];
    int64_t ids[N];
    bool changed[N];
    long before = transitions_metric("prepared", "submitted");
    struct mr_msg *g;
    size_t i;

    for (i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "c%02zu", i);
        gids[i] = names[i];
        ids[i] = add(fx->s, names[i], i == 3 ? MR_MSG_SUBMITTED : MR_MSG_PREPARED, 100, 1);
    }
    /* c66 is deleted and prepared again: a new id under the same gid */
    raw_exec(fx, "DELETE FROM step WHERE msg_id IN (SELECT id FROM msg WHERE gid = 'c66')");
    raw_exec(fx, "DELETE FROM msg WHERE gid = 'c66'");
    add(fx->s, "c66", MR_MSG_PREPARED, 100, 1);
    gids[68] = "none";
    ids[68] = ids[N - 1] + 1000;
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_ids(fx->s, gids, ids, N, MR_MSG_PREPARED,
                                                 MR_MSG_SUBMITTED, 2000, 2500, 7, "w1", 5000,
                                                 changed, &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    for (i = 0; i < N; i++) {
        if (changed[i] != (i != 3 && i != 66 && i != 68))
            fail_msg("%s (id %lld): changed %d", gids[i], (long long)ids[i], changed[i]);
    }
    assert_int_equal(transitions_metric("prepared", "submitted") - before, N - 3);
    g = get(fx->s, "c00");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_int_equal(g->update_ms, 2000);
    assert_int_equal(g->next_cron_ms, 2500);
    assert_int_equal(g->next_cron_interval, 7);
    assert_string_equal(g->owner, "w1");
    assert_int_equal(g->lease_until_ms, 5000);
    mr_msg_free(g);
    g = get(fx->s, "c66");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    assert_int_equal(g->update_ms, 100);
    mr_msg_free(g);
    g = get(fx->s, "c03");
    assert_int_equal(g->update_ms, 100);
    mr_msg_free(g);
    g = get(fx->s, "c68");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    mr_msg_free(g);
}

static void test_step_succeed_many_reports_each_step(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *a = new_msg("a", MR_MSG_SUBMITTED, 100, 2);
    struct mr_msg *b = new_msg("b", MR_MSG_SUBMITTED, 100, 1);
    int64_t ids[4];
    int res[4];
    struct mr_msg *g;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, a, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, b, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(transition(fx->s, "b", MR_MSG_SUBMITTED, MR_MSG_FAILED, 150, -1, 0), 0);
    ids[0] = a->steps[1].id;
    ids[1] = b->steps[0].id;
    ids[2] = 999999;
    ids[3] = a->steps[0].id;
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_step_succeed_many(fx->s, ids, 4, 3000, res, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(res[0], 0);
    assert_int_equal(res[1], MR_ECONFLICT);
    assert_int_equal(res[2], MR_ENOENT);
    assert_int_equal(res[3], 0);
    g = get(fx->s, "a");
    assert_int_equal(g->steps[0].state, MR_STEP_SUCCEED);
    assert_int_equal(g->steps[0].attempts, 1);
    assert_int_equal(g->steps[0].finish_ms, 3000);
    assert_int_equal(g->steps[1].state, MR_STEP_SUCCEED);
    mr_msg_free(g);
    g = get(fx->s, "b");
    assert_int_equal(g->steps[0].state, MR_STEP_PREPARED);
    assert_int_equal(g->steps[0].attempts, 0);
    mr_msg_free(g);
    mr_msg_free(a);
    mr_msg_free(b);
}

static void test_release_many_ends_only_the_owners_leases(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_release v[4] = {
        {"g1", 5000, 20, NULL},
        {"g2", 5000, 20, NULL},
        {"g3", 7000, -1, "http 500"},
        {"other", 5000, 20, NULL},
    };
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "g2", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "g3", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r1", 1000, 60000, 10), 3);
    add(fx->s, "other", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(claim_count(fx->s, "r2", 1000, 60000, 10), 1);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_release_many(fx->s, v, 4, "r1", 1100, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g2");
    assert_string_equal(g->owner, "");
    assert_int_equal(g->next_cron_ms, 5000);
    assert_int_equal(g->next_cron_interval, 20);
    mr_msg_free(g);
    g = get(fx->s, "g3");
    assert_string_equal(g->owner, "");
    assert_int_equal(g->next_cron_ms, 7000);
    assert_int_equal(g->next_cron_interval, 10);
    assert_string_equal(g->result, "http 500");
    mr_msg_free(g);
    g = get(fx->s, "other");
    assert_string_equal(g->owner, "r2");
    mr_msg_free(g);
}

/* assert_same_steps - @a's steps are @b's (as mr_store_msg_get() loaded them), field by field. */
static void assert_same_steps(const struct mr_msg *a, const struct mr_msg *b)
{
    size_t j;

    assert_int_equal(a->nsteps, b->nsteps);
    for (j = 0; j < a->nsteps; j++) {
        const struct mr_step *x = &a->steps[j];
        const struct mr_step *y = &b->steps[j];

        assert_true(x->id > 0);
        assert_int_equal(x->id, y->id);
        assert_string_equal(x->branch_id, y->branch_id);
        assert_string_equal(x->url, y->url);
        assert_int_equal(x->payload_len, y->payload_len);
        assert_memory_equal(x->payload, y->payload, x->payload_len);
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->attempts, y->attempts);
        if (y->last_error == NULL)
            assert_null(x->last_error);
        else
            assert_string_equal(x->last_error, y->last_error);
        assert_int_equal(x->create_ms, y->create_ms);
        assert_int_equal(x->update_ms, y->update_ms);
        assert_int_equal(x->finish_ms, y->finish_ms);
    }
}

static void test_get_many_with_steps_gives_each_its_steps_in_branch_order(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[70];
    struct mr_msg *out[72];
    const char *gids[72];
    char names[70][16];
    struct mr_msg *g;
    size_t i;
    size_t j;

    /* 70 messages (chunks of 64 and 6), a missing gid in each chunk */
    for (i = 0; i < 70; i++) {
        snprintf(names[i], sizeof(names[i]), "m%03zu", i);
        v[i] = new_msg(names[i], MR_MSG_SUBMITTED, 100, i % 3 + 1);
    }
    /* branches stored out of lexical order: the order is the insert (id) order */
    free(v[7]->steps[0].branch_id);
    v[7]->steps[0].branch_id = mr_xstrdup("09");
    for (i = 0, j = 0; i < 72; i++)
        gids[i] = i == 5 ? "nope" : i == 71 ? "also-nope" : names[j++];
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, v, 70, &err), 0);
    /* some steps with attempts, an error, a success */
    assert_int_equal(mr_store_step_record(fx->s, v[2]->steps[1].id, false, "http 503", 700, &err),
                     0);
    assert_int_equal(mr_store_step_record(fx->s, v[2]->steps[2].id, true, NULL, 800, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    /* in a transaction, as the intake writer reads them */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_get_many(fx->s, gids, 72, true, out, &err), 0);
    mr_store_rollback(fx->s);
    assert_null(out[5]);
    assert_null(out[71]);
    for (i = 0; i < 72; i++) {
        if (i == 5 || i == 71)
            continue;
        assert_non_null(out[i]);
        assert_string_equal(out[i]->gid, gids[i]);
        g = get(fx->s, gids[i]);
        assert_int_equal(out[i]->id, g->id);
        assert_same_steps(out[i], g);
        for (j = 1; j < out[i]->nsteps; j++)
            assert_true(out[i]->steps[j - 1].id < out[i]->steps[j].id);
        mr_msg_free(g);
    }
    /* names[2] (gids[2]) carries the recorded calls; names[7] (gids[8]) its "09" branch first */
    assert_int_equal(out[2]->nsteps, 3);
    assert_int_equal(out[2]->steps[0].attempts, 0);
    assert_int_equal(out[2]->steps[1].attempts, 1);
    assert_string_equal(out[2]->steps[1].last_error, "http 503");
    assert_int_equal(out[2]->steps[2].state, MR_STEP_SUCCEED);
    assert_int_equal(out[2]->steps[2].finish_ms, 800);
    assert_string_equal(out[8]->gid, names[7]);
    assert_string_equal(out[8]->steps[0].branch_id, "09");
    assert_string_equal(out[8]->steps[1].branch_id, "02");
    for (i = 0; i < 72; i++)
        mr_msg_free(out[i]);

    /* outside a transaction too, and nothing found is no error */
    gids[0] = "nope";
    gids[1] = names[69];
    assert_int_equal(mr_store_msg_get_many(fx->s, gids, 2, true, out, &err), 0);
    assert_null(out[0]);
    assert_non_null(out[1]);
    assert_int_equal(out[1]->nsteps, 1);
    mr_msg_free(out[1]);
    assert_int_equal(mr_store_msg_get_many(fx->s, gids, 1, true, out, &err), 0);
    assert_null(out[0]);
    for (i = 0; i < 70; i++)
        mr_msg_free(v[i]);
}

/* ---- leases written with the message (no claim needed) ---- */

/* leased - a message @gid like new_msg()'s, leased to @owner until @until. */
static struct mr_msg *leased(const char *gid, int state, size_t nsteps, const char *owner,
                             int64_t until)
{
    struct mr_msg *m = new_msg(gid, state, 100, nsteps);

    m->owner = mr_xstrdup(owner);
    m->lease_until_ms = until;
    return m;
}

/* has_gid - whether one of the @n messages at @v is @gid. */
static bool has_gid(struct mr_msg **v, size_t n, const char *gid)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(v[i]->gid, gid) == 0)
            return true;
    }
    return false;
}

static void test_insert_with_a_lease_keeps_other_claims_away_until_it_lapses(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[3];
    struct mr_msg *one = leased("single", MR_MSG_SUBMITTED, 1, "w1", 5000);
    struct mr_msg **c = NULL;
    struct mr_msg *g;
    size_t n;
    size_t i;

    v[0] = leased("w-a", MR_MSG_SUBMITTED, 2, "w1", 5000);
    v[1] = leased("w-b", MR_MSG_PREPARED, 1, "w1", 5000);
    v[2] = new_msg("free", MR_MSG_SUBMITTED, 100, 1); /* owner NULL, lease 0: no lease */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, v, 3, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, one, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "w-a");
    assert_string_equal(g->owner, "w1");
    assert_int_equal(g->lease_until_ms, 5000);
    mr_msg_free(g);
    g = get(fx->s, "free");
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);

    /* before the lease ends another relay gets only the unleased message */
    n = claim(fx->s, "r2", 1000, 9000, 10, &c);
    assert_int_equal(n, 1);
    assert_string_equal(c[0]->gid, "free");
    mr_store_msgs_free(c, n);
    assert_int_equal(claim_count(fx->s, "r2", 4999, 9000, 10), 0);

    /* at lease_until it has lapsed */
    n = claim(fx->s, "r2", 5000, 9000, 10, &c);
    assert_int_equal(n, 3);
    assert_true(has_gid(c, n, "w-a"));
    assert_true(has_gid(c, n, "w-b"));
    assert_true(has_gid(c, n, "single"));
    for (i = 0; i < n; i++) {
        assert_string_equal(c[i]->owner, "r2");
        assert_int_equal(c[i]->nsteps, strcmp(c[i]->gid, "w-a") == 0 ? 2 : 1);
    }
    mr_store_msgs_free(c, n);
    for (i = 0; i < 3; i++)
        mr_msg_free(v[i]);
    mr_msg_free(one);
}

static void test_insert_refuses_a_lease_without_owner_or_on_a_final_message(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *done = leased("done", MR_MSG_SUCCEED, 1, "w1", 5000);
    struct mr_msg *ownerless = leased("ownerless", MR_MSG_SUBMITTED, 1, "", 5000);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, done, &err), MR_EINVAL);
    assert_int_equal(mr_store_msg_insert_many(fx->s, &done, 1, &err), MR_EINVAL);
    assert_int_equal(mr_store_msg_insert(fx->s, ownerless, &err), MR_EINVAL);
    assert_int_equal(mr_store_msg_insert_many(fx->s, &ownerless, 1, &err), MR_EINVAL);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg"), 0);
    mr_msg_free(done);
    mr_msg_free(ownerless);
}

static void test_transition_many_with_a_lease_leases_what_it_moves(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    const char *gids[] = {"p1", "s1", "p2", "none"};
    const char *p3 = "p3";
    struct mr_msg **c = NULL;
    bool changed[4];
    struct mr_msg *g;
    size_t n;

    add(fx->s, "p1", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "s1", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "p2", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "p3", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 4, MR_MSG_PREPARED,
                                                  MR_MSG_SUBMITTED, 900, 100, 10, "w1", 5000,
                                                  changed, &err),
                     0);
    /* without a lease the lease stays as it is: none */
    assert_int_equal(mr_store_msg_transition_many(fx->s, &p3, 1, MR_MSG_PREPARED,
                                                  MR_MSG_SUBMITTED, 900, 100, 10, NULL, 0,
                                                  changed + 3, &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_true(changed[0]);
    assert_false(changed[1]);
    assert_true(changed[2]);
    assert_true(changed[3]);
    g = get(fx->s, "p1");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_int_equal(g->update_ms, 900);
    assert_string_equal(g->owner, "w1");
    assert_int_equal(g->lease_until_ms, 5000);
    mr_msg_free(g);
    g = get(fx->s, "s1"); /* not moved, so not leased */
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);
    g = get(fx->s, "p3");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);

    /* another relay: s1 and p3 now, p1 and p2 once the lease lapses */
    n = claim(fx->s, "r2", 4999, 60000, 10, &c);
    assert_int_equal(n, 2);
    assert_true(has_gid(c, n, "s1"));
    assert_true(has_gid(c, n, "p3"));
    mr_store_msgs_free(c, n);
    n = claim(fx->s, "r2", 5000, 60000, 10, &c);
    assert_int_equal(n, 2);
    assert_true(has_gid(c, n, "p1"));
    assert_true(has_gid(c, n, "p2"));
    assert_string_equal(c[0]->owner, "r2");
    mr_store_msgs_free(c, n);

    /* a final state ends the lease, a lease owner given or not; an empty one is refused */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 1, MR_MSG_SUBMITTED,
                                                  MR_MSG_SUCCEED, 6000, -1, 0, "w1", 70000,
                                                  changed, &err),
                     0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids + 2, 1, MR_MSG_SUBMITTED,
                                                  MR_MSG_SUCCEED, 6000, -1, 0, "", 70000,
                                                  changed, &err),
                     MR_EINVAL);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "p1");
    assert_int_equal(g->state, MR_MSG_SUCCEED);
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);
    g = get(fx->s, "p2");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    assert_string_equal(g->owner, "r2");
    mr_msg_free(g);
}

static void test_release_owner_frees_leases_written_with_the_message(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[2];
    const char *p1 = "p1";
    bool changed;
    struct mr_msg *g;

    v[0] = leased("a", MR_MSG_SUBMITTED, 1, "w1", 60000);
    v[1] = leased("b", MR_MSG_SUBMITTED, 1, "w2", 60000);
    add(fx->s, "p1", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, v, 2, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, &p1, 1, MR_MSG_PREPARED,
                                                  MR_MSG_SUBMITTED, 900, 100, 10, "w1", 60000,
                                                  &changed, &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_true(changed);
    assert_int_equal(count_due(fx->s, 1000), 0);

    assert_int_equal(mr_store_release_owner(fx->s, "w1", &err), 0);
    assert_int_equal(count_due(fx->s, 1000), 2);
    g = get(fx->s, "a");
    assert_string_equal(g->owner, "");
    assert_int_equal(g->lease_until_ms, 0);
    mr_msg_free(g);
    g = get(fx->s, "p1");
    assert_string_equal(g->owner, "");
    mr_msg_free(g);
    g = get(fx->s, "b");
    assert_string_equal(g->owner, "w2");
    mr_msg_free(g);
    assert_int_equal(claim_count(fx->s, "r2", 1000, 9000, 10), 2);
    mr_msg_free(v[0]);
    mr_msg_free(v[1]);
}

/* ---- the relay registry ---- */

/* relay_row - a registration of @id by @instance (borrowed strings), live until @until. */
static struct mr_store_relay relay_row(const char *id, const char *instance, int64_t until)
{
    struct mr_store_relay r;

    memset(&r, 0, sizeof(r));
    r.relay_id = (char *)id;
    r.instance = (char *)instance;
    r.host = (char *)"host-a";
    r.machine = (char *)"boot-1/pidns-1";
    r.pid = 4242;
    r.pid_start = 777;
    r.started_ms = 1000;
    r.heartbeat_until_ms = until;
    return r;
}

static void test_relay_register_takes_a_free_id_and_refuses_a_live_holder(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *other = NULL;
    struct mr_store_relay a = relay_row("r1", "inst-a", 20000);
    struct mr_store_relay b = relay_row("r1", "inst-b", 30000);
    struct mr_store_relay c = relay_row("r2", "inst-b", 30000);
    struct mr_store_relay holder;

    assert_int_equal(mr_store_open(fx->uri, &other, &err), 0);
    assert_int_equal(mr_store_relay_register(fx->s, &a, 10000, NULL, &holder, &err), 0);
    assert_null(holder.instance);

    /* another process (another handle) under the same id while a's heartbeat is live */
    assert_int_equal(mr_store_relay_register(other, &b, 19999, NULL, &holder, &err), MR_EEXIST);
    assert_string_equal(holder.relay_id, "r1");
    assert_string_equal(holder.instance, "inst-a");
    assert_string_equal(holder.host, "host-a");
    assert_string_equal(holder.machine, "boot-1/pidns-1");
    assert_int_equal(holder.pid, 4242);
    assert_int_equal(holder.pid_start, 777);
    assert_int_equal(holder.started_ms, 1000);
    assert_int_equal(holder.heartbeat_until_ms, 20000);
    mr_store_relay_clear(&holder);
    assert_null(holder.instance);

    /* a registers again (same instance): fine; another id is independent */
    assert_int_equal(mr_store_relay_register(fx->s, &a, 10001, NULL, &holder, &err), 0);
    assert_int_equal(mr_store_relay_register(other, &c, 10001, NULL, &holder, &err), 0);
    /* a's row was not changed by b's refusal: its heartbeat still belongs to it */
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-a", 25000, &err), 0);
    mr_store_close(other);
}

static void test_relay_register_takes_over_a_lapsed_or_named_holder(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_relay a = relay_row("r1", "inst-a", 20000);
    struct mr_store_relay b = relay_row("r1", "inst-b", 40000);
    struct mr_store_relay c = relay_row("r1", "inst-c", 50000);
    struct mr_store_relay holder;

    assert_int_equal(mr_store_relay_register(fx->s, &a, 10000, NULL, &holder, &err), 0);
    /* a's heartbeat lapsed at 20000: b takes the id */
    assert_int_equal(mr_store_relay_register(fx->s, &b, 20000, NULL, &holder, &err), 0);
    /* c names a dead instance that is not the holder: refused, the holder is b */
    assert_int_equal(mr_store_relay_register(fx->s, &c, 21000, "inst-a", &holder, &err),
                     MR_EEXIST);
    assert_string_equal(holder.instance, "inst-b");
    mr_store_relay_clear(&holder);
    /* c names b (found dead): taken over although b's heartbeat is live */
    assert_int_equal(mr_store_relay_register(fx->s, &c, 21000, "inst-b", &holder, &err), 0);
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-b", 60000, &err), MR_ECONFLICT);
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-c", 60000, &err), 0);
}

static void test_relay_heartbeat_renews_only_the_holder_even_after_it_lapsed(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_relay a = relay_row("r1", "inst-a", 20000);
    struct mr_store_relay b = relay_row("r1", "inst-b", 90000);
    struct mr_store_relay holder;

    assert_int_equal(mr_store_relay_register(fx->s, &a, 10000, NULL, &holder, &err), 0);
    /* lapsed but not taken over: still a's to renew */
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-a", 80000, &err), 0);
    assert_int_equal(mr_store_relay_register(fx->s, &b, 79999, NULL, &holder, &err), MR_EEXIST);
    assert_int_equal(holder.heartbeat_until_ms, 80000);
    mr_store_relay_clear(&holder);
    /* renewing with the same time still counts as held */
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-a", 80000, &err), 0);
    /* taken over: a's heartbeat is refused and writes nothing */
    assert_int_equal(mr_store_relay_register(fx->s, &b, 80000, NULL, &holder, &err), 0);
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-a", 99999, &err), MR_ECONFLICT);
    assert_int_equal(mr_store_relay_register(fx->s, &a, 90001, NULL, &holder, &err), 0);
    /* an id nobody holds cannot be renewed */
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "nobody", "inst-a", 99999, &err),
                     MR_ECONFLICT);
}

static void test_relay_unregister_frees_the_id_only_for_its_holder(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_relay a = relay_row("r1", "inst-a", 20000);
    struct mr_store_relay b = relay_row("r1", "inst-b", 20000);
    struct mr_store_relay holder;

    assert_int_equal(mr_store_relay_register(fx->s, &a, 10000, NULL, &holder, &err), 0);
    assert_int_equal(mr_store_relay_unregister(fx->s, "r1", "inst-b", &err), 0);
    assert_int_equal(mr_store_relay_register(fx->s, &b, 10000, NULL, &holder, &err), MR_EEXIST);
    mr_store_relay_clear(&holder);
    assert_int_equal(mr_store_relay_unregister(fx->s, "r1", "inst-a", &err), 0);
    assert_int_equal(mr_store_relay_register(fx->s, &b, 10000, NULL, &holder, &err), 0);
    assert_null(holder.instance);
}

static void test_relay_register_refuses_empty_or_over_long_texts_and_writes_nothing(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    char long_id[MR_STORE_RELAY_ID_MAX + 2];
    char long_text[MR_STORE_RELAY_TEXT_MAX + 2];
    struct mr_store_relay r = relay_row("", "inst-a", 20000);
    struct mr_store_relay ok = relay_row("r1", "inst-ok", 20000);
    struct mr_store_relay holder;

    memset(long_id, 'i', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_text, 't', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    assert_int_equal(mr_store_relay_register(fx->s, &r, 10000, NULL, &holder, &err), MR_EINVAL);
    r.relay_id = long_id;
    assert_int_equal(mr_store_relay_register(fx->s, &r, 10000, NULL, &holder, &err), MR_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 255"));
    r.relay_id = (char *)"r1";
    r.host = long_text;
    assert_int_equal(mr_store_relay_register(fx->s, &r, 10000, NULL, &holder, &err), MR_EINVAL);
    r.host = (char *)"h";
    r.instance = (char *)"";
    assert_int_equal(mr_store_relay_register(fx->s, &r, 10000, NULL, &holder, &err), MR_EINVAL);
    assert_int_equal(mr_store_relay_heartbeat(fx->s, long_id, "inst-a", 1, &err), MR_EINVAL);
    /* nothing was written: the id is free */
    assert_int_equal(mr_store_relay_register(fx->s, &ok, 10000, NULL, &holder, &err), 0);
    /* the longest id fits */
    long_id[MR_STORE_RELAY_ID_MAX] = '\0';
    ok.relay_id = long_id;
    assert_int_equal(mr_store_relay_register(fx->s, &ok, 10000, NULL, &holder, &err), 0);
    assert_int_equal(mr_store_relay_heartbeat(fx->s, long_id, "inst-ok", 30000, &err), 0);
}

/*
 * The transaction rules are checked once, in store.c: every engine refuses a
 * nested begin, a commit without a transaction, an own-transaction call
 * inside one and a write outside one alike, and none of them spoils the
 * transaction that is open.
 */
static void test_transaction_rules_read_alike_on_every_engine(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_relay me = relay_row("r1", "inst-a", 20000);
    struct mr_store_relay holder;
    struct mr_msg **v = NULL;
    struct mr_msg *m = new_msg("g1", MR_MSG_PREPARED, 0, 1);
    struct mr_msg *g;
    size_t n = 0;

    assert_int_equal(mr_store_commit(fx->s, &err), MR_EINVAL);
    assert_string_equal(err.msg, "store: commit without a transaction");
    assert_int_equal(mr_store_msg_schedule(fx->s, "g1", 1, -1, 1, &err), MR_EINVAL);
    assert_string_equal(err.msg, "store: schedule needs an open transaction");
    assert_int_equal(mr_store_step_record(fx->s, 1, true, NULL, 1, &err), MR_EINVAL);
    assert_int_equal(mr_store_msg_release(fx->s, "g1", "r1", 1, -1, NULL, 1, &err), MR_EINVAL);

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_begin(fx->s, &err), MR_EINVAL);
    assert_string_equal(err.msg, "store: a transaction is already open");
    assert_int_equal(mr_store_claim(fx->s, "r1", 1000, 2000, 10, &v, &n, &err), MR_EINVAL);
    assert_string_equal(err.msg, "store: claim must be called outside a transaction");
    assert_null(v);
    assert_int_equal(mr_store_release_owner(fx->s, "r1", &err), MR_EINVAL);
    assert_int_equal(mr_store_relax(fx->s, &err), MR_EINVAL);
    assert_int_equal(mr_store_relay_register(fx->s, &me, 10000, NULL, &holder, &err), MR_EINVAL);
    assert_int_equal(mr_store_relay_heartbeat(fx->s, "r1", "inst-a", 30000, &err), MR_EINVAL);
    assert_int_equal(mr_store_relay_unregister(fx->s, "r1", "inst-a", &err), MR_EINVAL);
    /* the open transaction is still good */
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    g = get(fx->s, "g1");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    mr_msg_free(g);
    mr_msg_free(m);

    /* and nothing was registered from inside it */
    assert_int_equal(mr_store_relay_register(fx->s, &me, 10000, NULL, &holder, &err), 0);
}

/* ---- the database servers (MySQL; the shared ones on PostgreSQL too) ---- */

/* mysql_uri - @fx's server URI for database @db with query part @query ("" for none). */
static void mysql_uri(const struct fx *fx, const char *db, const char *query, char *out,
                      size_t size)
{
    const struct server *srv = fx->eng->srv;

    snprintf(out, size, "%s://%s:%s@%s:%u/%s%s", fx->eng->kind == ENG_PG ? "postgres" : "mysql",
             srv->user, srv->pass, srv->host, srv->port, db, query);
}

/* pg_kill_others - end every other connection of the test user (waiting for each); how many. */
static int pg_kill_others(struct fx *fx)
{
    return (int)raw_int(fx, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) "
                            "FROM pg_stat_activity WHERE usename = 'msgrelay' "
                            "AND pid <> pg_backend_pid()) AS t");
}

/* kill_others - KILL every connection of the test user but the raw one; how many. */
static int kill_others(struct fx *fx)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    long ids[64];
    int n = 0;
    int i;

    if (fx->eng->kind == ENG_PG)
        return pg_kill_others(fx);
    if (mysql_query(fx->raw, "SELECT ID FROM information_schema.PROCESSLIST "
                             "WHERE USER = 'msgrelay' AND ID <> CONNECTION_ID()") != 0)
        fail_msg("processlist: %s", mysql_error(fx->raw));
    res = mysql_store_result(fx->raw);
    assert_non_null(res);
    while (n < 64 && (row = mysql_fetch_row(res)) != NULL)
        ids[n++] = strtol(row[0], NULL, 10);
    mysql_free_result(res);
    for (i = 0; i < n; i++) {
        char sql[64];

        snprintf(sql, sizeof(sql), "KILL CONNECTION %ld", ids[i]);
        raw_query(fx->raw, sql);
    }
    return n;
}

static void test_mysql_claim_skips_rows_another_transaction_locks(void **state)
{
    struct fx *fx = *state;
    struct mr_msg **v = NULL;
    int64_t t0;
    size_t n;

    add(fx->s, "a", MR_MSG_SUBMITTED, 100, 1);
    add(fx->s, "b", MR_MSG_SUBMITTED, 200, 1);
    add(fx->s, "c", MR_MSG_SUBMITTED, 300, 1);
    raw_exec(fx, "START TRANSACTION");
    raw_exec(fx, "SELECT id FROM msg WHERE gid = 'a' FOR UPDATE");

    /* without SKIP LOCKED this would wait for the lock (10 s) */
    t0 = mr_mono_ms();
    n = claim(fx->s, "r1", 1000, 60000, 10, &v);
    assert_true(mr_mono_ms() - t0 < 2000);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->gid, "b");
    assert_string_equal(v[1]->gid, "c");
    mr_store_msgs_free(v, n);

    raw_exec(fx, "ROLLBACK");
    n = claim(fx->s, "r1", 1000, 60000, 10, &v);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->gid, "a");
    mr_store_msgs_free(v, n);
}

/* One of the concurrent claimers. */
struct claimer {
    const char *uri;
    const char *owner;
    pthread_barrier_t *start;
    int64_t ids[400];
    size_t n;
    int rc;
    char why[256];
};

static void *claimer_main(void *arg)
{
    struct claimer *c = arg;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;

    c->rc = mr_store_open(c->uri, &s, &err);
    pthread_barrier_wait(c->start);
    while (c->rc == 0) {
        struct mr_msg **v = NULL;
        size_t n = 0;
        size_t i;

        c->rc = mr_store_claim(s, c->owner, 1000, INT64_MAX / 2, 7, &v, &n, &err);
        for (i = 0; c->rc == 0 && i < n && c->n < 400; i++)
            c->ids[c->n++] = v[i]->id;
        mr_store_msgs_free(v, n);
        if (n == 0)
            break;
    }
    if (c->rc != 0)
        snprintf(c->why, sizeof(c->why), "%s", err.msg);
    mr_store_close(s);
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static void test_mysql_concurrent_claims_never_take_the_same_message(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    pthread_barrier_t start;
    struct claimer *c = mr_xcalloc(3, sizeof(*c));
    pthread_t t[3];
    int64_t all[1200];
    size_t total = 0;
    size_t i;
    int k;

    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    for (k = 0; k < 300; k++) {
        char gid[16];
        struct mr_msg *m;

        snprintf(gid, sizeof(gid), "c%03d", k);
        m = new_msg(gid, MR_MSG_SUBMITTED, 100 + k % 17, 1);
        assert_int_equal(mr_store_msg_insert(fx->s, m, &err), 0);
        mr_msg_free(m);
    }
    assert_int_equal(mr_store_commit(fx->s, &err), 0);

    pthread_barrier_init(&start, NULL, 3);
    for (k = 0; k < 3; k++) {
        static const char *const owners[] = {"r1", "r2", "r3"};

        c[k].uri = fx->uri;
        c[k].owner = owners[k];
        c[k].start = &start;
        assert_int_equal(pthread_create(&t[k], NULL, claimer_main, &c[k]), 0);
    }
    for (k = 0; k < 3; k++) {
        pthread_join(t[k], NULL);
        if (c[k].rc != 0)
            fail_msg("claimer %d: %s", k, c[k].why);
        for (i = 0; i < c[k].n; i++)
            all[total++] = c[k].ids[i];
    }
    pthread_barrier_destroy(&start);
    print_message("claims: r1 %zu, r2 %zu, r3 %zu\n", c[0].n, c[1].n, c[2].n);
    assert_int_equal(total, 300);
    qsort(all, total, sizeof(all[0]), cmp_id);
    for (i = 1; i < total; i++) {
        if (all[i] == all[i - 1])
            fail_msg("message %lld claimed twice", (long long)all[i]);
    }
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg WHERE owner IN ('r1', 'r2', 'r3')"),
                     300);
    free(c);
}

static void test_mysql_lock_wait_timeout_is_ebusy_and_spoils_the_transaction(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s2 = NULL;
    char uri[300];
    struct mr_msg *g;

    add(fx->s, "g1", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "g2", MR_MSG_PREPARED, 100, 1);
    mysql_uri(fx, fx->eng->srv->db,
              fx->eng->kind == ENG_PG ? "?options=-c%20lock_timeout%3D1s" : "?lock_wait_timeout=1",
              uri, sizeof(uri));
    assert_int_equal(mr_store_open(uri, &s2, &err), 0);
    raw_exec(fx, "START TRANSACTION");
    raw_exec(fx, "SELECT id FROM msg WHERE gid = 'g1' FOR UPDATE");

    assert_int_equal(mr_store_begin(s2, &err), 0);
    assert_int_equal(
        mr_store_msg_transition(s2, "g2", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 500, -1, 0, &err), 0);
    assert_int_equal(
        mr_store_msg_transition(s2, "g1", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 500, -1, 0, &err),
        MR_EBUSY);
    assert_non_null(strstr(err.msg, fx->eng->prefix));
    /* spoilt: nothing more runs in it, and commit rolls it back */
    assert_int_equal(mr_store_msg_schedule(s2, "g2", 1, -1, 1, &err), MR_EBUSY);
    assert_int_equal(mr_store_commit(s2, &err), MR_EBUSY);
    raw_exec(fx, "ROLLBACK");
    g = get(fx->s, "g2");
    assert_int_equal(g->state, MR_MSG_PREPARED);
    mr_msg_free(g);

    /* the handle is fine for the next transaction */
    assert_int_equal(transition(s2, "g1", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 600, -1, 0), 0);
    mr_store_close(s2);
}

static void test_mysql_lost_connection_is_eunavail_then_reconnects(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m1 = new_msg("g1", MR_MSG_PREPARED, 100, 2);
    struct mr_msg *m2 = new_msg("g2", MR_MSG_PREPARED, 100, 2);
    struct mr_msg *g = NULL;
    int64_t oldest = 0;
    long n = 0;

    add(fx->s, "g0", MR_MSG_SUBMITTED, 100, 1);

    /* dropped inside a transaction: the transaction is lost, nothing of it lands */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m1, &err), 0);
    assert_true(kill_others(fx) >= 1);
    assert_int_equal(mr_store_msg_insert(fx->s, m2, &err), MR_EUNAVAIL);
    assert_non_null(strstr(err.msg, fx->eng->prefix));
    assert_non_null(strstr(err.msg, "database unavailable: "));
    assert_int_equal(
        mr_store_msg_transition(fx->s, "g0", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 1, -1, 0, &err),
        MR_EUNAVAIL);
    assert_int_equal(mr_store_commit(fx->s, &err), MR_EUNAVAIL);
    mr_store_rollback(fx->s);

    /* the next transaction connects again */
    add(fx->s, "g3", MR_MSG_PREPARED, 100, 1);
    assert_int_equal(mr_store_msg_get(fx->s, "g1", false, &g, &err), 0);
    assert_null(g);
    g = get(fx->s, "g0");
    assert_int_equal(g->state, MR_MSG_SUBMITTED);
    mr_msg_free(g);

    /* dropped while idle: begin notices and connects again by itself */
    assert_true(kill_others(fx) >= 1);
    add(fx->s, "g4", MR_MSG_PREPARED, 100, 1);

    /* a call outside a transaction reports the loss once, the next one reconnects */
    assert_true(kill_others(fx) >= 1);
    assert_int_equal(mr_store_count_due(fx->s, 1000, 0, &n, &oldest, &err), MR_EUNAVAIL);
    assert_int_equal(mr_store_count_due(fx->s, 1000, 0, &n, &oldest, &err), 0);
    assert_int_equal(n, 3); /* g0, g3, g4 */
    assert_int_equal(oldest, 100);

    /* dropped before a statement's first use on the new connection (statements are prepared
       on first use): the prepare fails as an execute does, and the transaction is lost */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_true(kill_others(fx) >= 1);
    assert_int_equal(mr_store_count_state(fx->s, MR_MSG_SUBMITTED, &n, &err), MR_EUNAVAIL);
    assert_non_null(strstr(err.msg, "database unavailable: "));
    assert_int_equal(mr_store_commit(fx->s, &err), MR_EUNAVAIL);
    mr_store_rollback(fx->s);
    assert_int_equal(mr_store_count_state(fx->s, MR_MSG_SUBMITTED, &n, &err), 0);
    assert_int_equal(n, 1); /* g0 */
    mr_msg_free(m1);
    mr_msg_free(m2);
}

static void test_mysql_open_needs_migrate_and_migrate_is_idempotent(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = (struct mr_store *)&err;
    char db[80];
    char uri[300];
    char sql[200];

    snprintf(db, sizeof(db), "%s_m", fx->eng->srv->db);
    assert_int_equal(recreate_db(fx->raw, db), 0);
    mysql_uri(fx, db, "", uri, sizeof(uri));

    assert_int_equal(mr_store_open(uri, &s, &err), MR_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "msgrelay migrate"));

    check_migrate_report(uri, mr_store_mysql_schema, mr_store_mysql_schema_count);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM `%s`.schema_version", db);
    assert_int_equal(raw_int(fx, sql), fx->eng->schema_latest);
    assert_int_equal(mr_store_open(uri, &s, &err), 0);
    add(s, "g1", MR_MSG_PREPARED, 100, 2);
    mr_store_close(s);

    snprintf(sql, sizeof(sql), "INSERT INTO `%s`.schema_version VALUES (999, 0)", db);
    raw_exec(fx, sql);
    assert_int_equal(mr_store_migrate(uri, NULL, &err), MR_ESTORE);
    snprintf(sql, sizeof(sql), "store: schema version 999 is newer than this msgrelay (%d)",
             fx->eng->schema_latest);
    assert_string_equal(err.msg, sql);
    snprintf(sql, sizeof(sql), "DROP DATABASE `%s`", db);
    raw_exec(fx, sql);
}

static void test_mysql_uri_forms(void **state)
{
    struct fx *fx = *state;
    const struct server *srv = fx->eng->srv;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    static const char *const bad[] = {
        "mysql:",
        "mysql:relay",
        "mysql://127.0.0.1/db",
        "mysql://u:p@127.0.0.1:70000/db",
        "mysql://u:p@127.0.0.1:3306",
        "mysql://u:p@127.0.0.1:3306/",
        "mysql://u:p@127.0.0.1/db?nope=1",
        "mysql://u:p@127.0.0.1/db?connect_timeout=0",
        "mysql://u:p@/db",
        "mysql://u%zz:p@127.0.0.1/db",
    };
    char uri[400];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mr_store_open(bad[i], &s, &err) != MR_EINVAL)
            fail_msg("'%s' was not refused: %s", bad[i], err.msg);
        assert_null(s);
    }

    /* unreachable: MR_EUNAVAIL, and the password is never repeated */
    assert_int_equal(
        mr_store_open("mysql://msgrelay:s3cret@127.0.0.1:1/db?connect_timeout=1", &s, &err),
        MR_EUNAVAIL);
    assert_non_null(strstr(err.msg, "mysql: database unavailable: 127.0.0.1:1"));
    assert_null(strstr(err.msg, "s3cret"));

    /* a wrong password is a store error, not "unavailable" */
    snprintf(uri, sizeof(uri), "mysql://%s:wrong@%s:%u/%s", srv->user, srv->host, srv->port,
             srv->db);
    assert_int_equal(mr_store_open(uri, &s, &err), MR_ESTORE);

    /* %-escapes in the user; [v4] host brackets; the unix socket form */
    snprintf(uri, sizeof(uri), "mysql://%%%02x%s:%s@[%s]:%u/%s?read_timeout=5", srv->user[0],
             srv->user + 1, srv->pass, srv->host, srv->port, srv->db);
    assert_int_equal(mr_store_open(uri, &s, &err), 0);
    add(s, "tcp", MR_MSG_PREPARED, 100, 1);
    mr_store_close(s);
    if (srv->socket == NULL) {
        print_message("MSGRELAY_TEST_MYSQL_SOCKET not set: socket form not tried\n");
        return;
    }
    snprintf(uri, sizeof(uri), "mysql://%s:%s@/%s?socket=%s&lock_wait_timeout=3", srv->user,
             srv->pass, srv->db, srv->socket);
    assert_int_equal(mr_store_open(uri, &s, &err), 0);
    mr_msg_free(get(s, "tcp"));
    mr_store_close(s);
}

/* ---- PostgreSQL only ---- */

static void test_pg_open_needs_migrate_and_migrate_is_idempotent(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = (struct mr_store *)&err;
    char db[80];
    char uri[300];
    PGconn *raw;

    snprintf(db, sizeof(db), "%s_m", fx->eng->srv->db);
    assert_int_equal(pg_recreate_db(fx->eng->srv, db), 0);
    mysql_uri(fx, db, "", uri, sizeof(uri));

    assert_int_equal(mr_store_open(uri, &s, &err), MR_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "msgrelay migrate"));

    check_migrate_report(uri, mr_store_postgres_schema, mr_store_postgres_schema_count);
    assert_int_equal(mr_store_open(uri, &s, &err), 0);
    add(s, "g1", MR_MSG_PREPARED, 100, 2);
    mr_store_close(s);

    raw = pg_raw_connect(fx->eng->srv, db);
    assert_non_null(raw);
    assert_int_equal(pg_raw_exec(raw, "INSERT INTO schema_version VALUES (999, 0)"), 0);
    PQfinish(raw);
    assert_int_equal(mr_store_migrate(uri, NULL, &err), MR_ESTORE);
    assert_string_equal(err.msg, "store: schema version 999 is newer than this msgrelay (2)");
}

static void test_pg_uri_forms(void **state)
{
    struct fx *fx = *state;
    const struct server *srv = fx->eng->srv;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    static const char *const bad[] = {
        "postgres:",
        "postgres:relay",
        "postgresql:relay",
        "postgres://u:p@127.0.0.1:5432",
        "postgres://u:p@127.0.0.1:5432/",
        "postgres://u:p@127.0.0.1/db?nope=1",
        "postgres://u:p@127.0.0.1/db?sslmode=sometimes",
        "postgres://u%zz:p@127.0.0.1/db",
    };
    char uri[400];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mr_store_open(bad[i], &s, &err) != MR_EINVAL)
            fail_msg("'%s' was not refused: %s", bad[i], err.msg);
        assert_null(s);
    }
    /* a bad escape in the password is refused without repeating it */
    assert_int_equal(mr_store_open("postgres://u:s3cret%zz@127.0.0.1/db", &s, &err), MR_EINVAL);
    assert_null(strstr(err.msg, "s3cret"));

    /* unreachable: MR_EUNAVAIL, and the password is never repeated */
    assert_int_equal(
        mr_store_open("postgres://msgrelay:s3cret@127.0.0.1:1/db?connect_timeout=1", &s, &err),
        MR_EUNAVAIL);
    assert_non_null(strstr(err.msg, "postgres: database unavailable: 127.0.0.1:1/db"));
    assert_null(strstr(err.msg, "s3cret"));

    /* a wrong password is a store error, not "unavailable" */
    snprintf(uri, sizeof(uri), "postgres://%s:wrong@%s:%u/%s", srv->user, srv->host, srv->port,
             srv->db);
    assert_int_equal(mr_store_open(uri, &s, &err), MR_ESTORE);
    assert_null(strstr(err.msg, "wrong"));

    /* %-escapes in the user, the postgresql scheme, libpq's parameters */
    snprintf(uri, sizeof(uri),
             "postgresql://%%%02x%s:%s@%s:%u/%s?sslmode=disable&application_name=t&"
             "connect_timeout=5",
             srv->user[0], srv->user + 1, srv->pass, srv->host, srv->port, srv->db);
    assert_int_equal(mr_store_open(uri, &s, &err), 0);
    add(s, "tcp", MR_MSG_PREPARED, 100, 1);
    mr_store_close(s);
    if (srv->socket == NULL) {
        print_message("MSGRELAY_TEST_POSTGRES_SOCKET not set: socket form not tried\n");
        return;
    }
    /* a unix socket directory as libpq's host parameter */
    snprintf(uri, sizeof(uri), "postgres://%s:%s@/%s?host=%s&port=%u", srv->user, srv->pass,
             srv->db, srv->socket, srv->port);
    assert_int_equal(mr_store_open(uri, &s, &err), 0);
    mr_msg_free(get(s, "tcp"));
    mr_store_close(s);
}

/* ---- retention ---- */

/* add_final - insert a final message @gid (succeed or failed) that became final at @done_ms. */
static void add_final(struct mr_store *s, const char *gid, int state, int64_t done_ms,
                      size_t nsteps)
{
    struct mr_msg *m = new_msg(gid, state, 0, nsteps);
    size_t i;

    if (state == MR_MSG_SUCCEED) {
        m->finish_ms = done_ms;
        for (i = 0; i < nsteps; i++) {
            m->steps[i].state = MR_STEP_SUCCEED;
            m->steps[i].finish_ms = done_ms;
        }
    } else {
        m->rollback_ms = done_ms;
    }
    insert(s, m);
}

/* retain - mr_store_retention_delete in its own transaction; the number deleted. */
static size_t retain(struct mr_store *s, int64_t cutoff, size_t limit)
{
    struct mr_err err = MR_ERR_INIT;
    size_t n = 99;

    assert_int_equal(mr_store_begin(s, &err), 0);
    if (mr_store_retention_delete(s, cutoff, limit, &n, &err) != 0)
        fail_msg("retention delete: %s", err.msg);
    assert_int_equal(mr_store_commit(s, &err), 0);
    return n;
}

/* exists - whether @gid is stored. */
static bool exists(struct mr_store *s, const char *gid)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;
    bool yes;

    assert_int_equal(mr_store_msg_get(s, gid, false, &m, &err), 0);
    yes = m != NULL;
    mr_msg_free(m);
    return yes;
}

static void test_retention_deletes_old_final_messages_with_their_steps_only(void **state)
{
    struct fx *fx = *state;

    add_final(fx->s, "old-ok", MR_MSG_SUCCEED, 1000, 2);
    add_final(fx->s, "old-bad", MR_MSG_FAILED, 1000, 3);
    add_final(fx->s, "young-ok", MR_MSG_SUCCEED, 5000, 1);
    add_final(fx->s, "young-bad", MR_MSG_FAILED, 5000, 1);
    /* unfinished messages with old times of every kind stay, whatever their age */
    add(fx->s, "old-prepared", MR_MSG_PREPARED, 100, 1);
    add(fx->s, "old-submitted", MR_MSG_SUBMITTED, 100, 2);
    /* a parked message is kept until an operator acts on it, however old */
    add(fx->s, "old-parked", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(transition(fx->s, "old-parked", MR_MSG_SUBMITTED, MR_MSG_PARKED, 200, -1, 0),
                     0);
    raw_exec(fx, "UPDATE msg SET finish_time = 10, rollback_time = 10, update_time = 10 "
                 "WHERE gid IN ('old-prepared', 'old-submitted', 'old-parked')");
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 11);

    assert_int_equal(retain(fx->s, 2000, 100), 2);
    assert_false(exists(fx->s, "old-ok"));
    assert_false(exists(fx->s, "old-bad"));
    assert_true(exists(fx->s, "young-ok"));
    assert_true(exists(fx->s, "young-bad"));
    assert_true(exists(fx->s, "old-prepared"));
    assert_true(exists(fx->s, "old-submitted"));
    assert_true(exists(fx->s, "old-parked"));
    /* their steps went with them, nobody else's */
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 6);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step WHERE msg_id NOT IN "
                                 "(SELECT id FROM msg)"), 0);

    /* nothing left before the cutoff: a no-op; the cutoff is strict */
    assert_int_equal(retain(fx->s, 2000, 100), 0);
    assert_int_equal(retain(fx->s, 5000, 100), 0);
    assert_int_equal(retain(fx->s, 5001, 100), 2);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg"), 3);
}

static void test_retention_respects_the_batch_bound_oldest_first(void **state)
{
    struct fx *fx = *state;
    char gid[32];
    int i;

    for (i = 0; i < 5; i++) {
        snprintf(gid, sizeof(gid), "ok-%d", i);
        add_final(fx->s, gid, MR_MSG_SUCCEED, 1000 + i, 1);
    }
    for (i = 0; i < 2; i++) {
        snprintf(gid, sizeof(gid), "bad-%d", i);
        add_final(fx->s, gid, MR_MSG_FAILED, 1000 + i, 1);
    }
    assert_int_equal(retain(fx->s, 9000, 2), 2);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg"), 5);
    /* the oldest went first */
    assert_false(exists(fx->s, "ok-0") && exists(fx->s, "bad-0"));
    assert_true(exists(fx->s, "ok-4"));
    assert_int_equal(retain(fx->s, 9000, 3), 3);
    assert_int_equal(retain(fx->s, 9000, 3), 2);
    assert_int_equal(retain(fx->s, 9000, 3), 0);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM msg"), 0);
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM step"), 0);
}

static void test_retention_refuses_bad_batches_and_needs_a_transaction(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    size_t n = 7;

    add_final(fx->s, "old", MR_MSG_SUCCEED, 1000, 1);
    assert_int_equal(mr_store_retention_delete(fx->s, 2000, 10, &n, &err), MR_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_retention_delete(fx->s, 2000, 0, &n, &err), MR_EINVAL);
    assert_int_equal(mr_store_retention_delete(fx->s, 2000, MR_STORE_RETENTION_BATCH_MAX + 1, &n,
                                               &err),
                     MR_EINVAL);
    assert_non_null(strstr(err.msg, "retention batch"));
    mr_store_rollback(fx->s);
    assert_true(exists(fx->s, "old"));
}

/* lease - mr_store_job_lease in its own transaction; whether @owner holds @name. */
static bool lease(struct mr_store *s, const char *name, const char *owner, int64_t now,
                  int64_t until)
{
    struct mr_err err = MR_ERR_INIT;
    bool held = false;

    assert_int_equal(mr_store_begin(s, &err), 0);
    if (mr_store_job_lease(s, name, owner, now, until, &held, &err) != 0)
        fail_msg("job lease: %s", err.msg);
    assert_int_equal(mr_store_commit(s, &err), 0);
    return held;
}

static void test_job_lease_has_one_holder_until_it_lapses(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *b = NULL;
    bool held = true;

    assert_int_equal(mr_store_open(fx->uri, &b, &err), 0);
    assert_true(lease(fx->s, "retention", "relay-a", 1000, 2000));
    assert_false(lease(b, "retention", "relay-b", 1500, 2500));
    assert_true(lease(fx->s, "retention", "relay-a", 1500, 2500)); /* renewed */
    assert_false(lease(b, "retention", "relay-b", 2499, 3499));
    assert_true(lease(b, "retention", "relay-b", 2500, 3500)); /* lapsed: taken over */
    assert_false(lease(fx->s, "retention", "relay-a", 2600, 3600));
    /* another job is independent, created on first use */
    assert_true(lease(fx->s, "other-job", "relay-a", 2600, 3600));
    assert_false(lease(b, "other-job", "relay-b", 2600, 3600));
    assert_int_equal(raw_int(fx, "SELECT count(*) FROM job_lease"), 2);

    /* refusals write nothing */
    assert_int_equal(mr_store_job_lease(fx->s, "retention", "relay-a", 1, 2, &held, &err),
                     MR_EINVAL); /* outside a transaction */
    assert_false(held);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_job_lease(fx->s, "retention", "", 9000, 9999, &held, &err),
                     MR_EINVAL);
    assert_int_equal(mr_store_job_lease(fx->s, "", "relay-a", 9000, 9999, &held, &err),
                     MR_EINVAL);
    mr_store_rollback(fx->s);
    assert_false(lease(fx->s, "retention", "relay-a", 3000, 4000));
    mr_store_close(b);
}


/* ---- ordered delivery per key ---- */

/* add_keyed - insert @gid in @state on ordering key @key, due at @due, one step. */
static int64_t add_keyed(struct mr_store *s, const char *gid, int state, const char *key,
                         int64_t due)
{
    struct mr_msg *m = new_msg(gid, state, due, 1);

    m->ordering_key = mr_xstrdup(key);
    return insert(s, m);
}

/* claimed_gids - claim at @now (up to 10) and give the gids in claim order, comma-separated. */
static const char *claimed_gids(struct mr_store *s, const char *owner, int64_t now)
{
    static char got[256];
    struct mr_msg **v = NULL;
    size_t n = claim(s, owner, now, now + 100000, 10, &v);
    size_t i;

    got[0] = '\0';
    for (i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "", v[i]->gid);
    mr_store_msgs_free(v, n);
    return got;
}

/*
 * Keyed messages take places 1, 2, ... per key as they are submitted; only a
 * key's head is claimable (other keys and unkeyed messages are); the ones
 * behind wait unleased; a head that finishes makes the next one due at once.
 */
static void test_order_only_heads_are_claimable_and_a_finish_wakes_the_next(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    add_keyed(fx->s, "a1", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "a2", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "a3", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "b1", MR_MSG_SUBMITTED, "j", 150);
    add(fx->s, "u1", MR_MSG_SUBMITTED, 200, 1);

    m = get(fx->s, "a2");
    assert_int_equal(m->order_pos, 2);
    assert_string_equal(m->ordering_key, "k");
    assert_int_equal(m->next_cron_ms, MR_ORDER_WAIT_MS);
    assert_string_equal(m->order_waits_for, "a1");
    mr_msg_free(m);
    m = get(fx->s, "a1");
    assert_int_equal(m->order_pos, 1);
    assert_null(m->order_waits_for);
    mr_msg_free(m);

    /* even made due by hand (a reset), a message behind its head is not claimed */
    {
        struct mr_err err = MR_ERR_INIT;

        assert_int_equal(mr_store_begin(fx->s, &err), 0);
        assert_int_equal(mr_store_msg_schedule(fx->s, "a3", 100, -1, 100, &err), 0);
        assert_int_equal(mr_store_commit(fx->s, &err), 0);
    }
    assert_string_equal(claimed_gids(fx->s, "r1", 1000), "a1,b1,u1");

    /* a1 succeeds: a2 is due at that moment; a3, due, is still behind it */
    assert_int_equal(transition(fx->s, "a1", MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 2000, -1, 0), 0);
    m = get(fx->s, "a2");
    assert_int_equal(m->next_cron_ms, 2000);
    assert_null(m->order_waits_for);
    mr_msg_free(m);
    assert_string_equal(claimed_gids(fx->s, "r2", 2000), "a2");
    /* a forceStop (failed) hands the key on as well */
    assert_int_equal(transition(fx->s, "a2", MR_MSG_SUBMITTED, MR_MSG_FAILED, 3000, -1, 0), 0);
    assert_string_equal(claimed_gids(fx->s, "r2", 3000), "a3");
}

/* mr_store_order_finished wakes the next of each keyed gid after a batch transition. */
static void test_order_finished_after_a_batch_transition_wakes_each_key(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    const char *gids[] = {"a1", "b1", "u1"};
    bool changed[3];
    struct mr_msg *m;

    add_keyed(fx->s, "a1", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "a2", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "b1", MR_MSG_SUBMITTED, "j", 100);
    add_keyed(fx->s, "b2", MR_MSG_SUBMITTED, "j", 100);
    add(fx->s, "u1", MR_MSG_SUBMITTED, 100, 1);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 3, MR_MSG_SUBMITTED,
                                                  MR_MSG_SUCCEED, 500, -1, 0, NULL, 0, changed,
                                                  &err),
                     0);
    assert_int_equal(mr_store_order_finished(fx->s, gids, 3, 500, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    m = get(fx->s, "b2");
    assert_int_equal(m->next_cron_ms, 500);
    mr_msg_free(m);
    assert_string_equal(claimed_gids(fx->s, "r1", 600), "a2,b2");
}

/*
 * A parked head holds its key; redriven it is the head again. A prepared
 * message has no place until it is submitted: its place is behind every
 * message submitted before that, whenever it was prepared.
 */
static void test_order_parked_head_holds_and_a_prepared_one_is_placed_at_submit(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_redrive f = {.gid = "a1"};
    struct mr_msg *m;
    int64_t pos = -1;
    bool head = true;

    add_keyed(fx->s, "p0", MR_MSG_PREPARED, "k", 100);
    add_keyed(fx->s, "a1", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "a2", MR_MSG_SUBMITTED, "k", 100);
    assert_int_equal(transition(fx->s, "a1", MR_MSG_SUBMITTED, MR_MSG_PARKED, 200, -1, 0), 0);
    /* p0 (prepared: a back-check, no order yet) is claimable; a2 is not */
    assert_string_equal(claimed_gids(fx->s, "r1", 1000), "p0");
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition(fx->s, "p0", MR_MSG_PREPARED, MR_MSG_SUBMITTED, 1000,
                                             1000, 1, &err),
                     0);
    assert_int_equal(mr_store_order_place(fx->s, "p0", NULL, &pos, &head, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(pos, 3);
    assert_false(head);
    m = get(fx->s, "p0");
    assert_int_equal(m->next_cron_ms, MR_ORDER_WAIT_MS);
    assert_string_equal(m->owner, "");
    assert_string_equal(m->order_waits_for, "a2");
    mr_msg_free(m);
    assert_string_equal(claimed_gids(fx->s, "r1", 5000), "");
    assert_string_equal(redrive(fx->s, &f, false, 6000), "1/1");
    assert_string_equal(claimed_gids(fx->s, "r1", 6000), "a1");
}

/* resetCronTime leaves a message waiting for its predecessor as it is. */
static void test_order_reset_cron_leaves_waiting_messages_alone(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    long count = -1;
    bool remaining = true;
    struct mr_msg *m;

    add_keyed(fx->s, "a1", MR_MSG_SUBMITTED, "k", 100);
    add_keyed(fx->s, "a2", MR_MSG_SUBMITTED, "k", 100);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_reset_cron(fx->s, 1000, 1000, 10, &count, &remaining, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    assert_int_equal(count, 0);
    assert_false(remaining);
    m = get(fx->s, "a2");
    assert_int_equal(m->next_cron_ms, MR_ORDER_WAIT_MS);
    mr_msg_free(m);
}

/*
 * A batch insert places its keyed messages in the batch's order, past a
 * chunk's end, behind what the store holds already: a key's first message of
 * the batch is its head only when nothing unfinished holds the key; the rest
 * wait, unleased, in the store and in the caller's messages.
 */
static void test_order_insert_many_places_in_batch_order(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *v[100];
    const size_t n = sizeof(v) / sizeof(v[0]);
    const char *keys[] = {"k", "j", ""};
    int64_t next[] = {1, 2, 0};
    char gid[16];
    size_t i;

    add_keyed(fx->s, "j0", MR_MSG_SUBMITTED, "j", 100);
    for (i = 0; i < n; i++) {
        snprintf(gid, sizeof(gid), "m%02zu", i);
        v[i] = new_msg(gid, MR_MSG_SUBMITTED, 100, 1);
        v[i]->ordering_key = mr_xstrdup(keys[i % 3]);
        free(v[i]->owner);
        v[i]->owner = mr_xstrdup("r1");
        v[i]->lease_until_ms = 5000;
    }
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert_many(fx->s, v, n, &err), 0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    for (i = 0; i < n; i++) {
        struct mr_msg *m = get(fx->s, v[i]->gid);
        int64_t pos = i % 3 == 2 ? 0 : next[i % 3]++;
        bool waits = i % 3 == 1 || (i % 3 == 0 && i > 0);

        assert_int_equal(v[i]->order_pos, pos);
        assert_int_equal(m->order_pos, pos);
        assert_int_equal(v[i]->next_cron_ms, waits ? MR_ORDER_WAIT_MS : 100);
        assert_int_equal(m->next_cron_ms, waits ? MR_ORDER_WAIT_MS : 100);
        assert_string_equal(m->owner, waits ? "" : "r1");
        assert_int_equal(m->lease_until_ms, waits ? 0 : 5000);
        mr_msg_free(m);
        mr_msg_free(v[i]);
    }
    assert_string_equal(claimed_gids(fx->s, "r2", 1000), "j0");
}
/*
 * index_reads - the server's count of index lookups and steps so far
 * (MySQL/MariaDB: Handler_read_key, _next, _prev, _first, _last; not the
 * table scans, which the status query itself makes).
 */
static int64_t index_reads(struct fx *fx)
{
    return raw_int(fx, "SELECT SUM(variable_value) FROM information_schema.global_status "
                       "WHERE variable_name IN ('HANDLER_READ_KEY', 'HANDLER_READ_NEXT', "
                       "'HANDLER_READ_PREV', 'HANDLER_READ_FIRST', 'HANDLER_READ_LAST')");
}

/*
 * A key's finished history is not read again: the claim of its head and the
 * placing of its next message read its unfinished messages only, however many
 * it delivered before (MySQL/MariaDB: msg_order on order_live, NULL once
 * final; SQLite and PostgreSQL have partial indexes, and no such counter).
 */
static void test_order_a_keys_finished_history_is_not_read(void **state)
{
    struct fx *fx = *state;
    char gid[32];
    int64_t before;
    int i;

    if (fx->eng->kind != ENG_MYSQL)
        skip();
    for (i = 0; i < 200; i++) {
        snprintf(gid, sizeof(gid), "h%d", i);
        add_keyed(fx->s, gid, MR_MSG_SUBMITTED, "k", 100);
        assert_int_equal(transition(fx->s, gid, MR_MSG_SUBMITTED, MR_MSG_SUCCEED, 200, -1, 0), 0);
    }
    before = index_reads(fx);
    add_keyed(fx->s, "next", MR_MSG_SUBMITTED, "k", 300);
    assert_in_range(index_reads(fx) - before, 0, 50);
    before = index_reads(fx);
    assert_string_equal(claimed_gids(fx->s, "r1", 1000), "next");
    assert_in_range(index_reads(fx) - before, 0, 50);
}


/* The key's limit is checked by the store too. */
static void test_order_key_over_its_limit_is_einval(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = new_msg("long", MR_MSG_SUBMITTED, 100, 1);
    char key[MR_ORDER_KEY_MAX + 2];

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    m->ordering_key = mr_xstrdup(key);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, m, &err), MR_EINVAL);
    mr_store_rollback(fx->s);
    mr_msg_free(m);
}


/* ---- MySQL and PostgreSQL: places follow commit order across connections ---- */

/* A second connection that submits one keyed message in its own transaction. */
struct placer {
    const char *uri;
    const char *gid;
    const char *key;
    int64_t pos;
    int64_t next_cron_ms;
    int rc;
    char why[256];
};

static void *placer_main(void *arg)
{
    struct placer *p = arg;
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    struct mr_msg *m = new_msg(p->gid, MR_MSG_SUBMITTED, 100, 1);

    m->ordering_key = mr_xstrdup(p->key);
    int rc;

    rc = mr_store_open(p->uri, &s, &err);
    if (rc == 0)
        rc = mr_store_begin(s, &err);
    if (rc == 0)
        rc = mr_store_msg_insert(s, m, &err);
    if (rc == 0)
        rc = mr_store_commit(s, &err);
    p->rc = rc;
    p->pos = m->order_pos;
    p->next_cron_ms = m->next_cron_ms;
    if (rc != 0)
        snprintf(p->why, sizeof(p->why), "%s", err.msg);
    mr_msg_free(m);
    mr_store_close(s);
    return NULL;
}

/*
 * wait_lock_wait - poll (10 s at most) until @p's transaction waits for the
 * key's row lock.
 */
static void wait_lock_wait(struct fx *fx, const struct placer *p)
{
    int64_t deadline = mr_mono_ms() + 10000;
    const char *sql = fx->eng->kind == ENG_PG
                          ? "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND query LIKE 'INSERT INTO order_key%'"
                          : "SELECT count(*) FROM information_schema.processlist "
                            "WHERE info LIKE 'INSERT INTO order_key%'";

    /* its upsert of the key's row shows in the process list while it waits for our lock */
    while (raw_int(fx, sql) == 0) {
        if (mr_mono_ms() > deadline)
            fail_msg("the second transaction never waited for the key's lock (%d: %s)", p->rc,
                     p->why);
        usleep(5000);
    }
}

/*
 * Two transactions submitting on one key: the second to take a place waits
 * for the first's commit (the key's row lock), so places follow commit order;
 * and a head finishing while a submit on its key is in flight: whichever
 * commits first, the new message is not left waiting for a finished head.
 */
static void test_mysql_order_places_follow_commit_order_across_connections(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct placer p = {.uri = fx->uri, .gid = "y", .key = "q", .rc = 1};
    struct placer p2 = {.uri = fx->uri, .gid = "z", .key = "q", .rc = 1};
    struct mr_msg *x = new_msg("x", MR_MSG_SUBMITTED, 100, 1);
    const char *gids[] = {"x"};
    bool changed[1];
    pthread_t t;

    x->ordering_key = mr_xstrdup("q");
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(fx->s, x, &err), 0);
    assert_int_equal(x->order_pos, 1);
    mr_msg_free(x);
    assert_int_equal(pthread_create(&t, NULL, placer_main, &p), 0);
    wait_lock_wait(fx, &p); /* y cannot take a place before x's transaction ends */
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    pthread_join(t, NULL);
    if (p.rc != 0)
        fail_msg("second submit: %s", p.why);
    assert_int_equal(p.pos, 2);
    assert_int_equal(p.next_cron_ms, MR_ORDER_WAIT_MS);

    /* x finishes while z is being submitted: z waits for x's commit, then finds y its head */
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition_many(fx->s, gids, 1, MR_MSG_SUBMITTED,
                                                  MR_MSG_SUCCEED, 500, -1, 0, NULL, 0, changed,
                                                  &err),
                     0);
    assert_int_equal(mr_store_order_finished(fx->s, gids, 1, 500, &err), 0);
    assert_int_equal(pthread_create(&t, NULL, placer_main, &p2), 0);
    wait_lock_wait(fx, &p2);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    pthread_join(t, NULL);
    if (p2.rc != 0)
        fail_msg("third submit: %s", p2.why);
    assert_int_equal(p2.pos, 3);
    x = get(fx->s, "y");
    assert_int_equal(x->next_cron_ms, 500); /* woken by x's finish */
    mr_msg_free(x);
    assert_string_equal(claimed_gids(fx->s, "r1", 1000), "y");
}

/* The contract: every engine passes these. */
#define CONTRACT_TESTS(T)                                                                          \
    T(test_insert_then_get_round_trips_every_field_and_step)                                       \
    T(test_get_without_steps_loads_no_steps)                                                       \
    T(test_insert_stores_null_strings_as_empty_and_protocol_http)                                  \
    T(test_get_unknown_gid_returns_ok_and_null)                                                    \
    T(test_insert_duplicate_gid_is_eexist_and_changes_nothing)                                     \
    T(test_insert_failing_on_a_step_writes_nothing_and_keeps_the_batch)                            \
    T(test_write_outside_transaction_is_einval_and_writes_nothing)                                 \
    T(test_transaction_rules_read_alike_on_every_engine)                                           \
    T(test_rollback_discards_the_insert)                                                           \
    T(test_close_rolls_back_an_open_transaction)                                                   \
    T(test_relaxed_handle_commits_are_visible_to_a_second_handle)                                  \
    T(test_commit_is_visible_to_a_second_handle)                                                   \
    T(test_transition_moves_state_and_sets_schedule)                                               \
    T(test_transition_with_negative_next_cron_keeps_the_schedule)                                  \
    T(test_transition_to_succeed_sets_finish_time_and_ends_lease)                                  \
    T(test_transition_to_failed_sets_rollback_time_and_ends_lease)                                 \
    T(test_transition_from_wrong_state_is_econflict_and_writes_nothing)                            \
    T(test_transition_of_unknown_gid_is_enoent)                                                    \
    T(test_transition_not_in_the_table_is_einval_and_writes_nothing)                               \
    T(test_schedule_sets_next_cron_and_negative_interval_keeps_it)                                 \
    T(test_schedule_of_final_or_unknown_message_is_enoent)                                         \
    T(test_claim_takes_only_due_unleased_unfinished_in_cron_order_up_to_limit)                     \
    T(test_claim_lease_blocks_a_second_claim_until_it_lapses)                                      \
    T(test_claim_returns_steps_in_id_order)                                                        \
    T(test_claim_inside_a_transaction_is_einval)                                                   \
    T(test_step_record_counts_attempts_and_marks_success)                                          \
    T(test_steps_of_a_succeed_message_read_as_succeed)                                             \
    T(test_step_record_of_unknown_step_is_enoent)                                                  \
    T(test_step_record_of_finished_message_is_conflict)                                            \
    T(test_release_by_owner_ends_lease_and_reschedules)                                            \
    T(test_release_by_another_owner_writes_nothing)                                                \
    T(test_release_owner_ends_only_that_owners_leases)                                             \
    T(test_count_due_counts_only_due_unleased_unfinished)                                          \
    T(test_count_due_stops_at_its_cap)                                                             \
    T(test_count_due_reads_the_oldest_due_time_with_the_count)                                     \
    T(test_oldest_in_state_is_the_first_stored_of_that_state)                                      \
    T(test_list_by_gid_prefix_with_state_and_paging)                                               \
    T(test_due_by_dest_pulls_in_waiting_messages_of_one_destination_in_batches)                    \
    T(test_due_by_dest_matches_kafka_topics_exactly)                                               \
    T(test_due_by_dest_refuses_bad_keys)                                                           \
    T(test_list_pages_newest_first_by_position)                                                    \
    T(test_list_filters_by_state_gid_and_create_time)                                              \
    T(test_list_with_unknown_state_is_einval)                                                      \
    T(test_park_ends_the_lease_keeps_its_origin_and_is_never_claimed)                              \
    T(test_park_from_prepared_and_back)                                                            \
    T(test_park_many_moves_only_the_submitted)                                                     \
    T(test_retry_limit_round_trips_and_failed_back_checks_are_counted)                             \
    T(test_redrive_selects_by_each_filter_and_dry_run_only_counts)                                 \
    T(test_redrive_in_batches_takes_every_match_and_refuses_bad_input)                             \
    T(test_reset_cron_makes_far_work_due_up_to_the_limit)                                          \
    T(test_reopen_keeps_data_and_schema_version)                                                   \
    T(test_open_refuses_a_newer_schema_version)                                                    \
    T(test_insert_of_many_steps_keeps_their_order_and_ids)                                         \
    T(test_claim_of_many_messages_returns_each_with_its_own_steps)                                 \
    T(test_trace_context_round_trips_through_get_claim_and_batch_insert)                           \
    T(test_insert_many_then_get_many_round_trips_ids_and_steps)                                    \
    T(test_shrink_gives_back_and_the_handle_goes_on)                                               \
    T(test_insert_many_with_a_stored_gid_is_eexist)                                                \
    T(test_order_insert_many_places_in_batch_order)                                                \
    T(test_transition_many_moves_only_those_in_from)                                               \
    T(test_transition_ids_moves_only_the_same_message_still_in_from)                               \
    T(test_step_succeed_many_reports_each_step)                                                    \
    T(test_release_many_ends_only_the_owners_leases)                                               \
    T(test_get_many_with_steps_gives_each_its_steps_in_branch_order)                               \
    T(test_insert_with_a_lease_keeps_other_claims_away_until_it_lapses)                            \
    T(test_insert_refuses_a_lease_without_owner_or_on_a_final_message)                             \
    T(test_transition_many_with_a_lease_leases_what_it_moves)                                      \
    T(test_release_owner_frees_leases_written_with_the_message)                                    \
    T(test_topic_subscribe_creates_then_appends_and_counts_versions)                               \
    T(test_topic_refusals_are_dtms_texts_and_write_nothing)                                        \
    T(test_topic_delete_forgets_it_and_a_missing_one_is_enoent)                                    \
    T(test_topic_subscribers_are_capped)                                                           \
    T(test_topic_writes_outside_a_transaction_are_einval)                                          \
    T(test_kv_scan_pages_newest_first_within_one_cat)                                              \
    T(test_relay_register_takes_a_free_id_and_refuses_a_live_holder)                               \
    T(test_relay_register_takes_over_a_lapsed_or_named_holder)                                     \
    T(test_relay_heartbeat_renews_only_the_holder_even_after_it_lapsed)                            \
    T(test_relay_unregister_frees_the_id_only_for_its_holder)                                      \
    T(test_relay_register_refuses_empty_or_over_long_texts_and_writes_nothing)                     \
    T(test_retention_deletes_old_final_messages_with_their_steps_only)                             \
    T(test_retention_respects_the_batch_bound_oldest_first)                                        \
    T(test_retention_refuses_bad_batches_and_needs_a_transaction)                                  \
    T(test_job_lease_has_one_holder_until_it_lapses)                                               \
    T(test_order_only_heads_are_claimable_and_a_finish_wakes_the_next)                             \
    T(test_order_finished_after_a_batch_transition_wakes_each_key)                                 \
    T(test_order_parked_head_holds_and_a_prepared_one_is_placed_at_submit)                         \
    T(test_order_reset_cron_leaves_waiting_messages_alone)                                         \
    T(test_order_key_over_its_limit_is_einval)                                                     \
    T(test_order_a_keys_finished_history_is_not_read)

/* parse_server - the URI of @env (SCHEME://USER:PASS@HOST:PORT/DB) into @srv; -1 if not. */
static int parse_server(const char *scheme, const char *env, struct server *srv)
{
    const char *uri = getenv(env);
    char fmt[64];
    char sock[64];

    memset(srv, 0, sizeof(*srv));
    snprintf(fmt, sizeof(fmt), "%s://%%63[^:]:%%63[^@]@%%63[^:]:%%u/%%63[^?]", scheme);
    if (uri == NULL || sscanf(uri, fmt, srv->user, srv->pass, srv->host, &srv->port, srv->db) != 5)
        return -1;
    snprintf(srv->uri, sizeof(srv->uri), "%s", uri);
    snprintf(sock, sizeof(sock), "%s_SOCKET", env);
    srv->socket = getenv(sock);
    return 0;
}

/*
 * run_server - the group @tests (@n of them) of the engine @name when @which
 * asks for it ("all" or @name) and its server's URI is in @env (as @scheme
 * URIs); a missing URI skips it for "all" and is an error (2) when asked for.
 */
static int run_server(const char *which, const char *name, const char *scheme, const char *env,
                      struct server *srv, const struct CMUnitTest *tests, size_t n)
{
    char group[64];

    if (strcmp(which, "all") != 0 && strcmp(which, name) != 0)
        return 0;
    if (getenv(env) == NULL || getenv(env)[0] == '\0') {
        if (strcmp(which, name) == 0) {
            fprintf(stderr, "test_store: %s is not set (run it through tests/e2e/%s.py run --)\n",
                    env, strcmp(name, "mysql") == 0 ? "mariadb" : name);
            return 2;
        }
        printf("%s not set: the %s pass is skipped\n", env, name);
        return 0;
    }
    if (parse_server(scheme, env, srv) != 0) {
        fprintf(stderr, "test_store: %s is not %s://USER:PASS@HOST:PORT/DB\n", env, scheme);
        return 2;
    }
    snprintf(group, sizeof(group), "store on %s", name);
    return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

int main(int argc, char **argv)
{
    static const struct engine sqlite_eng = {ENG_SQLITE, "sqlite: ", NULL, 8};
    const char *which = argc > 1 ? argv[1] : "all";
    struct server my_srv;
    struct server pg_srv;
    struct engine mysql_eng = {ENG_MYSQL, "mysql: ", &my_srv, 10};
    struct engine pg_eng = {ENG_PG, "postgres: ", &pg_srv, 2};
    int failed = 0;

    /* one test per line */
    /* clang-format off */
#define ON_SQLITE(f) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)&sqlite_eng),
#define ON_MYSQL(f) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &mysql_eng),
#define ON_PG(f) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &pg_eng),
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(ON_SQLITE)
        ON_SQLITE(test_open_rejects_unknown_scheme)
        ON_SQLITE(test_sqlite_upgrade_to_parked_keeps_messages_steps_and_ids)
        ON_SQLITE(test_sqlite_migrate_reports_each_file_applied)
        ON_SQLITE(test_open_of_unreachable_file_is_eunavail)
        ON_SQLITE(test_uri_redacted_hides_passwords)
    };
    const struct CMUnitTest mysql_tests[] = {
        CONTRACT_TESTS(ON_MYSQL)
        ON_MYSQL(test_mysql_claim_skips_rows_another_transaction_locks)
        ON_MYSQL(test_mysql_concurrent_claims_never_take_the_same_message)
        ON_MYSQL(test_mysql_order_places_follow_commit_order_across_connections)
        ON_MYSQL(test_mysql_lock_wait_timeout_is_ebusy_and_spoils_the_transaction)
        ON_MYSQL(test_mysql_lost_connection_is_eunavail_then_reconnects)
        ON_MYSQL(test_mysql_open_needs_migrate_and_migrate_is_idempotent)
        ON_MYSQL(test_mysql_uri_forms)
    };
    /* the server tests of the MySQL section run on PostgreSQL as they are */
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(ON_PG)
        ON_PG(test_mysql_claim_skips_rows_another_transaction_locks)
        ON_PG(test_mysql_concurrent_claims_never_take_the_same_message)
        ON_PG(test_mysql_order_places_follow_commit_order_across_connections)
        ON_PG(test_mysql_lock_wait_timeout_is_ebusy_and_spoils_the_transaction)
        ON_PG(test_mysql_lost_connection_is_eunavail_then_reconnects)
        ON_PG(test_pg_open_needs_migrate_and_migrate_is_idempotent)
        ON_PG(test_pg_uri_forms)
    };
#undef ON_SQLITE
#undef ON_MYSQL
#undef ON_PG
    /* clang-format on */

    /* transitions log at info; keep the test output to cmocka's */
    mr_log_set_level(MR_LOG_WARN);
    if (strcmp(which, "all") != 0 && strcmp(which, "sqlite") != 0 && strcmp(which, "mysql") != 0 &&
        strcmp(which, "postgres") != 0) {
        fprintf(stderr, "usage: test_store [all|sqlite|mysql|postgres]\n");
        return 2;
    }
    if (strcmp(which, "all") == 0 || strcmp(which, "sqlite") == 0)
        failed += cmocka_run_group_tests_name("store on sqlite", sqlite_tests, NULL, NULL);
    failed += run_server(which, "mysql", "mysql", "MSGRELAY_TEST_MYSQL", &my_srv, mysql_tests,
                         sizeof(mysql_tests) / sizeof(mysql_tests[0]));
    failed += run_server(which, "postgres", "postgres", "MSGRELAY_TEST_POSTGRES", &pg_srv,
                         pg_tests, sizeof(pg_tests) / sizeof(pg_tests[0]));
    return failed;
}
