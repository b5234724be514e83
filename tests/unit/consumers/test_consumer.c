/* SPDX-License-Identifier: MIT */
/*
 * test_consumer.c - the pure parts of the Kafka consumer loop
 * (consumers/consumer_kafka.c): the barrier fields read from record headers
 * (the relay's first, poison when missing), the apply / retry / park
 * decision, the back-off, the MySQL error classes that are "not the
 * record's fault", the mysql:// URI split and the option checks that need no
 * broker. The loop itself runs against the mock cluster and a real MariaDB
 * in tests/e2e/test_consumer.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <errmsg.h>
#include <librdkafka/rdkafka.h>
#include <mysqld_error.h>

#include "consumers/consumer_int.h"
#include "msgrelay/consumer.h"
#include "msgrelay/consumer_pg.h"

/* relay_headers - the four headers as the relay writes them, then @extra name/value pairs. */
static rd_kafka_headers_t *relay_headers(const char *const *extra)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);

    rd_kafka_header_add(h, "gid", -1, "g-1", -1);
    rd_kafka_header_add(h, "trans_type", -1, "msg", -1);
    rd_kafka_header_add(h, "branch_id", -1, "01", -1);
    rd_kafka_header_add(h, "op", -1, "action", -1);
    for (; extra != NULL && extra[0] != NULL; extra += 2)
        rd_kafka_header_add(h, extra[0], -1, extra[1], -1);
    return h;
}

static void test_consumer_fields_come_from_the_relays_headers(void **state)
{
    static const char *const extra[] = {"gid", "spoofed", "X-Trace", "t1", NULL};
    rd_kafka_headers_t *h = relay_headers(extra);
    struct mr_consumer__fields f;
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    assert_int_equal(mr_consumer__fields_from(h, &f, &err), 0);
    assert_string_equal(f.gid, "g-1"); /* the first gid: a branch header cannot replace it */
    assert_string_equal(f.trans_type, "msg");
    assert_string_equal(f.branch_id, "01");
    assert_string_equal(f.op, "action");
    rd_kafka_headers_destroy(h);
}

static void test_consumer_record_without_headers_is_poison(void **state)
{
    struct mr_consumer__fields f;
    struct mr_err err = MR_ERR_INIT;
    rd_kafka_headers_t *h;

    (void)state;
    assert_int_equal(mr_consumer__fields_from(NULL, &f, &err), MR_EINVAL);
    assert_string_equal(err.msg, "record header 'gid' missing");

    h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "gid", -1, "g", -1);
    rd_kafka_header_add(h, "trans_type", -1, "msg", -1);
    rd_kafka_header_add(h, "branch_id", -1, "", 0);
    assert_int_equal(mr_consumer__fields_from(h, &f, &err), MR_EINVAL);
    assert_string_equal(err.msg, "record header 'branch_id' empty");
    rd_kafka_headers_destroy(h);
}

static void test_consumer_overlong_or_nul_header_is_poison(void **state)
{
    char gid[MR_BARRIER_GID_MAX + 2];
    struct mr_consumer__fields f;
    struct mr_err err = MR_ERR_INIT;
    rd_kafka_headers_t *h;

    (void)state;
    memset(gid, 'a', sizeof(gid) - 1);
    gid[sizeof(gid) - 1] = '\0';
    h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "gid", -1, gid, -1);
    assert_int_equal(mr_consumer__fields_from(h, &f, &err), MR_EINVAL);
    assert_string_equal(err.msg, "record header 'gid' longer than 128 bytes");
    rd_kafka_headers_destroy(h);

    h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "gid", -1, "a\0b", 3);
    assert_int_equal(mr_consumer__fields_from(h, &f, &err), MR_EINVAL);
    assert_string_equal(err.msg, "record header 'gid' holds a NUL byte");
    rd_kafka_headers_destroy(h);

    /* exactly at the column width is fine */
    gid[MR_BARRIER_GID_MAX] = '\0';
    h = relay_headers(NULL);
    rd_kafka_header_remove(h, "gid");
    rd_kafka_header_add(h, "gid", -1, gid, -1);
    assert_int_equal(mr_consumer__fields_from(h, &f, &err), 0);
    assert_int_equal(strlen(f.gid), MR_BARRIER_GID_MAX);
    rd_kafka_headers_destroy(h);
}

static void test_consumer_decide_applies_skips_retries_and_parks(void **state)
{
    (void)state;
    assert_int_equal(mr_consumer__decide(MR_BARRIER_SUCCESS, false, 1, 5), MR_CONSUMER__APPLIED);
    assert_int_equal(mr_consumer__decide(MR_BARRIER_DUPLICATED, false, 3, 5),
                     MR_CONSUMER__DUPLICATE);
    /* a callback error counts, and parks at the last attempt */
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ERROR, false, 1, 5), MR_CONSUMER__RETRY);
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ERROR, false, 4, 5), MR_CONSUMER__RETRY);
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ERROR, false, 5, 5), MR_CONSUMER__PARK);
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ONGOING, false, 5, 5), MR_CONSUMER__PARK);
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ONGOING, false, 2, 5), MR_CONSUMER__RETRY);
    /* database trouble never counts, however many tries went before */
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ERROR, true, 5, 5), MR_CONSUMER__TRANSIENT);
    /* a refusal or bad barrier fields are final at once */
    assert_int_equal(mr_consumer__decide(MR_BARRIER_FAILURE, false, 1, 5), MR_CONSUMER__PARK);
    assert_int_equal(mr_consumer__decide(MR_BARRIER_EINVAL, false, 1, 5), MR_CONSUMER__PARK);
    /* one attempt allowed: the first failure parks */
    assert_int_equal(mr_consumer__decide(MR_BARRIER_ERROR, false, 1, 1), MR_CONSUMER__PARK);
}

static void test_consumer_db_trouble_is_the_connection_not_the_statement(void **state)
{
    (void)state;
    assert_true(mr_consumer__db_trouble(CR_SERVER_GONE_ERROR));
    assert_true(mr_consumer__db_trouble(CR_SERVER_LOST));
    assert_true(mr_consumer__db_trouble(CR_CONN_HOST_ERROR));
    assert_true(mr_consumer__db_trouble(ER_LOCK_DEADLOCK));
    assert_true(mr_consumer__db_trouble(ER_LOCK_WAIT_TIMEOUT));
    assert_false(mr_consumer__db_trouble(0));
    assert_false(mr_consumer__db_trouble(ER_DUP_ENTRY));
    assert_false(mr_consumer__db_trouble(ER_NO_SUCH_TABLE));
    assert_false(mr_consumer__db_trouble(ER_PARSE_ERROR));
}

static void test_consumer_backoff_doubles_up_to_the_cap(void **state)
{
    (void)state;
    assert_int_equal(mr_consumer__backoff_ms(1, 100, 5000), 100);
    assert_int_equal(mr_consumer__backoff_ms(2, 100, 5000), 200);
    assert_int_equal(mr_consumer__backoff_ms(4, 100, 5000), 800);
    assert_int_equal(mr_consumer__backoff_ms(7, 100, 5000), 5000);
    assert_int_equal(mr_consumer__backoff_ms(1000, 100, 5000), 5000);
    assert_int_equal(mr_consumer__backoff_ms(3, 7000, 5000), 5000);
}

static void test_consumer_parse_uri_splits_and_refuses(void **state)
{
    struct mr_consumer__uri u;
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    assert_int_equal(mr_consumer__parse_uri("mysql://app:s3cr:t@db.local:3307/shop", &u, &err), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.pass, "s3cr:t");
    assert_string_equal(u.host, "db.local");
    assert_int_equal(u.port, 3307);
    assert_string_equal(u.db, "shop");
    assert_int_equal(mr_consumer__parse_uri("mysql://root@127.0.0.1/x", &u, &err), 0);
    assert_string_equal(u.pass, "");
    assert_int_equal(u.port, 3306);

    assert_int_equal(mr_consumer__parse_uri(NULL, &u, &err), MR_EINVAL);
    assert_int_equal(mr_consumer__parse_uri("postgres://a@b/c", &u, &err), MR_EINVAL);
    assert_int_equal(mr_consumer__parse_uri("mysql://host/db", &u, &err), MR_EINVAL);
    assert_string_equal(err.msg, "mysql uri: no USER@");
    assert_int_equal(mr_consumer__parse_uri("mysql://a@h:99999/db", &u, &err), MR_EINVAL);
    assert_string_equal(err.msg, "mysql uri: bad port");
    assert_int_equal(mr_consumer__parse_uri("mysql://a@h:1/", &u, &err), MR_EINVAL);
    assert_int_equal(mr_consumer__parse_uri("mysql://a@:1/db", &u, &err), MR_EINVAL);
}

/* noop - a callback that is never called here. */
static int noop(MYSQL *db, const struct mr_consumer_record *rec, void *arg)
{
    (void)db;
    (void)rec;
    (void)arg;
    return 0;
}

static void test_consumer_new_refuses_bad_options_before_connecting(void **state)
{
    static const char *const topics[] = {"t", NULL};
    static const char *const fixed[] = {"enable.auto.commit=true", NULL};
    static const char *const bogus[] = {"no.such.property=1", NULL};
    struct mr_consumer_options o;
    struct mr_consumer *c = (struct mr_consumer *)&o;
    char why[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    assert_int_equal(mr_consumer_new(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_null(c);
    assert_string_equal(why, "consumer: brokers missing");
    o.brokers = "127.0.0.1:1";
    o.group_id = "g";
    o.topics = topics;
    o.fn = noop;
    o.mysql_uri = "mysql://u@127.0.0.1:1/db";
    o.properties = fixed;
    assert_int_equal(mr_consumer_new(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_non_null(strstr(why, "enable.auto.commit"));
    o.properties = bogus;
    assert_int_equal(mr_consumer_new(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_non_null(strstr(why, "no.such.property"));
    o.properties = NULL;
    o.park_table = "parked; DROP TABLE x";
    assert_int_equal(mr_consumer_new(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    o.park_table = NULL;
    o.mysql_uri = "mysql://nohost";
    assert_int_equal(mr_consumer_new(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_null(c);
    mr_consumer_free(NULL);
}

static int noop_pg(PGconn *db, const struct mr_consumer_record *rec, void *arg)
{
    (void)db;
    (void)rec;
    (void)arg;
    return 0;
}

static void test_consumer_new_pg_refuses_bad_options_before_connecting(void **state)
{
    static const char *const topics[] = {"t", NULL};
    static const char *const fixed[] = {"enable.auto.offset.store=true", NULL};
    struct mr_consumer_pg_options o;
    struct mr_consumer *c = (struct mr_consumer *)&o;
    char why[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_null(c);
    assert_string_equal(why, "consumer: pg_uri missing");
    o.pg_uri = "postgres://u:p@127.0.0.1:1/db";
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_string_equal(why, "consumer: no callback");
    o.fn = noop_pg;
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_string_equal(why, "consumer: brokers missing");
    o.brokers = "127.0.0.1:1";
    o.group_id = "g";
    o.topics = topics;
    o.properties = fixed;
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_non_null(strstr(why, "enable.auto.offset.store"));
    o.properties = NULL;
    o.barrier_table = "barrier where 1=1";
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    o.barrier_table = NULL;
    o.pg_uri = "mysql://u@127.0.0.1:1/db";
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_EINVAL);
    assert_non_null(strstr(why, "postgres://"));
    assert_null(c);
    /* a good URI with nobody listening: an error, not a bad option */
    o.pg_uri = "postgres://u:p@127.0.0.1:1/db";
    assert_int_equal(mr_consumer_new_pg(&c, &o, why, sizeof(why)), MR_CONSUMER_ERROR);
    assert_null(c);
    assert_null(strstr(why, "u:p"));
}

static void test_consumer_outcome_names(void **state)
{
    (void)state;
    assert_string_equal(mr_consumer_outcome_name(MR_CONSUMER_APPLIED), "applied");
    assert_string_equal(mr_consumer_outcome_name(MR_CONSUMER_DUPLICATE), "duplicate");
    assert_string_equal(mr_consumer_outcome_name(MR_CONSUMER_PARKED), "parked");
    assert_string_equal(mr_consumer_outcome_name(42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consumer_fields_come_from_the_relays_headers),
        cmocka_unit_test(test_consumer_record_without_headers_is_poison),
        cmocka_unit_test(test_consumer_overlong_or_nul_header_is_poison),
        cmocka_unit_test(test_consumer_decide_applies_skips_retries_and_parks),
        cmocka_unit_test(test_consumer_db_trouble_is_the_connection_not_the_statement),
        cmocka_unit_test(test_consumer_backoff_doubles_up_to_the_cap),
        cmocka_unit_test(test_consumer_parse_uri_splits_and_refuses),
        cmocka_unit_test(test_consumer_new_refuses_bad_options_before_connecting),
        cmocka_unit_test(test_consumer_new_pg_refuses_bad_options_before_connecting),
        cmocka_unit_test(test_consumer_outcome_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
