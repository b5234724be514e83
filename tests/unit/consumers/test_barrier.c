/* SPDX-License-Identifier: MIT */
/*
 * test_barrier.c - the pure parts of the barrier (consumers/barrier.c): the
 * fields a service reads from the relay's query string, what a barrier
 * accepts, the table-name check that lets the name go into SQL, and the
 * mapping of barrier results onto the HTTP answers the relay classifies.
 * The MySQL parts run against a real MariaDB in tests/e2e/test_sdk.py, the
 * PostgreSQL parts against a real server in tests/e2e/test_sdk_pg.py; here,
 * what the PostgreSQL entry points refuse before any connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/sdk.h"
#include "msgrelay/barrier.h"
#include "msgrelay/backcheck.h"
#include "msgrelay/barrier_pg.h"

/* get - the value of @name in @query into a fresh buffer; returns the code. */
static int get(const char *query, const char *name, char *out, size_t size)
{
    struct mr_buf b = MR_BUF_INIT(64);
    int rc = mr_sdk_query_get(query, name, &b);

    snprintf(out, size, "%s", b.p);
    mr_buf_release(&b);
    return rc;
}

static void test_barrier_query_get_reads_and_decodes(void **state)
{
    const char *q = "gid=g%201&trans_type=msg&branch_id=01&op=action&x=a+b&empty=&flag";
    char v[128];

    (void)state;
    assert_int_equal(get(q, "gid", v, sizeof(v)), 0);
    assert_string_equal(v, "g 1");
    assert_int_equal(get(q, "branch_id", v, sizeof(v)), 0);
    assert_string_equal(v, "01");
    assert_int_equal(get(q, "x", v, sizeof(v)), 0);
    assert_string_equal(v, "a b");
    assert_int_equal(get(q, "empty", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    assert_int_equal(get(q, "flag", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    assert_int_equal(get(q, "missing", v, sizeof(v)), MR_ENOENT);
    assert_int_equal(get("?gid=a&gid=b", "gid", v, sizeof(v)), 0);
    assert_string_equal(v, "a"); /* the first one wins */
    assert_int_equal(get("g%69d=enc", "gid", v, sizeof(v)), 0);
    assert_string_equal(v, "enc"); /* keys are decoded too */
    assert_int_equal(get("", "gid", v, sizeof(v)), MR_ENOENT);
    assert_int_equal(get("gidx=1&xgid=2", "gid", v, sizeof(v)), MR_ENOENT);
}

static void test_barrier_query_get_refuses_bad_escapes(void **state)
{
    char v[128];
    char big[200];

    (void)state;
    assert_int_equal(get("gid=%4", "gid", v, sizeof(v)), MR_EINVAL);
    assert_int_equal(get("gid=%", "gid", v, sizeof(v)), MR_EINVAL);
    assert_int_equal(get("gid=%zz", "gid", v, sizeof(v)), MR_EINVAL);
    assert_int_equal(get("gid=a%00b", "gid", v, sizeof(v)), MR_EINVAL);
    memset(big, 'a', sizeof(big));
    memcpy(big, "gid=", 4);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(get(big, "gid", v, sizeof(v)), MR_ETOOBIG);
}

static void test_barrier_from_query_takes_the_four_fields(void **state)
{
    struct mr_barrier *b = NULL;
    char err[256];

    (void)state;
    assert_int_equal(mr_barrier_from_query(&b, "?gid=g-1&trans_type=msg&branch_id=01&op=action",
                                           err, sizeof(err)),
                     MR_BARRIER_SUCCESS);
    assert_string_equal(err, "");
    assert_string_equal(mr_barrier_gid(b), "g-1");
    assert_string_equal(mr_barrier_trans_type(b), "msg");
    assert_string_equal(mr_barrier_branch_id(b), "01");
    assert_string_equal(mr_barrier_op(b), "action");
    mr_barrier_free(b);

    assert_int_equal(mr_barrier_from_query(&b, "gid=g&trans_type=msg&op=action", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_null(b);
    assert_string_equal(err, "invalid trans info: branch_id missing");
    assert_int_equal(
        mr_barrier_from_query(&b, "gid=&trans_type=msg&branch_id=01&op=action", err, sizeof(err)),
        MR_BARRIER_EINVAL);
    assert_string_equal(err, "invalid trans info: gid is empty");
    assert_int_equal(mr_barrier_from_query(&b, "gid=%G1&trans_type=msg&branch_id=01&op=action", err,
                                           sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_int_equal(mr_barrier_from_query(&b, NULL, NULL, 0), MR_BARRIER_EINVAL);
    mr_barrier_free(NULL);
}

static void test_barrier_new_checks_fields_and_ops(void **state)
{
    struct mr_barrier *b = NULL;
    char gid[200];
    char err[256];

    (void)state;
    memset(gid, 'g', sizeof(gid) - 1);
    gid[sizeof(gid) - 1] = '\0';
    assert_int_equal(mr_barrier_new(&b, "msg", gid, "01", "action", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_non_null(strstr(err, "gid longer than 128"));
    gid[128] = '\0';
    assert_int_equal(mr_barrier_new(&b, "msg", gid, "01", "action", err, sizeof(err)),
                     MR_BARRIER_SUCCESS);
    mr_barrier_free(b);
    /* compensation ops need DTM's null-compensation rules: refused, not half-done */
    assert_int_equal(mr_barrier_new(&b, "saga", "g", "01", "compensate", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_non_null(strstr(err, "op 'compensate' not supported"));
    assert_int_equal(mr_barrier_new(&b, "", "g", "01", "msg", err, sizeof(err)), MR_BARRIER_EINVAL);
    assert_int_equal(mr_barrier_new(&b, "msg", "g", NULL, "msg", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_int_equal(mr_barrier_new(&b, "msg", "g", "00", "msg", err, sizeof(err)),
                     MR_BARRIER_SUCCESS);
    assert_int_equal(mr_barrier_set_table(b, "x; DROP TABLE y", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_int_equal(mr_barrier_set_table(b, "app.barrier", err, sizeof(err)), MR_BARRIER_SUCCESS);
    assert_int_equal(mr_barrier_set_table(b, NULL, err, sizeof(err)), MR_BARRIER_SUCCESS);
    /* without a connection or callback nothing is tried */
    assert_int_equal(mr_barrier_call(b, NULL, NULL, NULL, err, sizeof(err)), MR_BARRIER_EINVAL);
    mr_barrier_free(b);
    assert_int_equal(mr_barrier_query_prepared(NULL, NULL, "g", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
}

static void test_barrier_table_names_that_may_go_into_sql(void **state)
{
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    assert_int_equal(mr_sdk_check_table("dtm_barrier.barrier", &err), 0);
    assert_int_equal(mr_sdk_check_table("barrier", &err), 0);
    assert_int_equal(mr_sdk_check_table("a$1.B_2", &err), 0);
    assert_int_equal(mr_sdk_check_table("", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table(NULL, &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table(".b", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table("a.", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table("a..b", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table("a.b.c", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table("a`b", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table("a b", &err), MR_EINVAL);
    assert_int_equal(mr_sdk_check_table("t;--", &err), MR_EINVAL);
}

static void test_barrier_http_answer_follows_the_result_protocol(void **state)
{
    const char *body = NULL;

    (void)state;
    assert_int_equal(mr_barrier_http_answer(MR_BARRIER_SUCCESS, &body), 200);
    assert_string_equal(body, "{\"dtm_result\":\"SUCCESS\"}");
    /* a repeat was applied before: success, so the relay stops asking */
    assert_int_equal(mr_barrier_http_answer(MR_BARRIER_DUPLICATED, &body), 200);
    assert_string_equal(body, "{\"dtm_result\":\"SUCCESS\"}");
    assert_int_equal(mr_barrier_http_answer(MR_BARRIER_FAILURE, &body), 409);
    assert_string_equal(body, "{\"dtm_result\":\"FAILURE\"}");
    assert_int_equal(mr_barrier_http_answer(MR_BARRIER_ONGOING, &body), 425);
    assert_string_equal(body, "{\"dtm_result\":\"ONGOING\"}");
    assert_int_equal(mr_barrier_http_answer(MR_BARRIER_ERROR, &body), 500);
    assert_null(strstr(body, "FAILURE")); /* an error must not read as a final failure */
    assert_null(strstr(body, "ONGOING"));
    assert_int_equal(mr_barrier_http_answer(MR_BARRIER_EINVAL, &body), 400);
    assert_null(strstr(body, "FAILURE"));
    assert_int_equal(mr_barrier_http_answer(12345, NULL), 500);
}

static void test_barrier_http_step_refuses_bad_queries_without_a_database(void **state)
{
    const char *body = NULL;
    int result = 0;
    char err[256];

    (void)state;
    assert_int_equal(mr_barrier_http_step(NULL, NULL, "gid=g&op=action", NULL, NULL, &body, &result,
                                          err, sizeof(err)),
                     400);
    assert_int_equal(result, MR_BARRIER_EINVAL);
    assert_string_equal(err, "invalid trans info: trans_type missing");
    assert_int_equal(mr_barrier_http_step(NULL, "bad table",
                                          "gid=g&trans_type=msg&branch_id=01&op=action", NULL, NULL,
                                          &body, &result, err, sizeof(err)),
                     400);
}

static void test_barrier_pg_refuses_bad_arguments_without_a_server(void **state)
{
    struct mr_barrier *b = NULL;
    const char *body = NULL;
    unsigned long long deleted = 7;
    PGconn *db = (PGconn *)&b;
    int result = 0;
    char err[256];

    (void)state;
    /* not a PostgreSQL URI: nothing is contacted */
    assert_int_equal(mr_barrier_connect_pg(&db, "mysql://u:p@127.0.0.1/db", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_null(db);
    assert_non_null(strstr(err, "postgres://"));
    assert_int_equal(mr_barrier_connect_pg(&db, NULL, err, sizeof(err)), MR_BARRIER_EINVAL);
    /* the same field checks as on MySQL, before the connection is looked at */
    assert_int_equal(mr_barrier_http_step_pg(NULL, NULL, "gid=g&op=action", NULL, NULL, &body,
                                             &result, err, sizeof(err)),
                     400);
    assert_int_equal(result, MR_BARRIER_EINVAL);
    assert_int_equal(mr_barrier_query_prepared_pg(NULL, NULL, "g", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_int_equal(mr_barrier_new(&b, "msg", "g", "01", "action", err, sizeof(err)),
                     MR_BARRIER_SUCCESS);
    assert_int_equal(mr_barrier_call_pg(b, NULL, NULL, NULL, err, sizeof(err)), MR_BARRIER_EINVAL);
    mr_barrier_free(b);
    /* pruning: the limits of mr_barrier_prune, whatever the engine */
    assert_int_equal(mr_barrier_prune_pg(NULL, NULL, 7200, 100, 0, 0, &deleted, err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_int_equal(deleted, 0);
    assert_string_equal(err, "barrier prune: no connection");
}

static void test_backcheck_server_start_pg_checks_its_uri(void **state)
{
    struct mr_backcheck_opts o;
    struct mr_backcheck_server *s = (struct mr_backcheck_server *)&o;
    char err[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    assert_int_equal(mr_backcheck_server_start_pg(&s, &o, NULL, err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_null(s);
    assert_int_equal(mr_backcheck_server_start_pg(&s, &o, "mysql://u@h/db", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_non_null(strstr(err, "postgres://"));
    o.mysql_uri = "mysql://u@h/db"; /* one database: not both */
    assert_int_equal(mr_backcheck_server_start_pg(&s, &o, "postgres://u@h/db", err, sizeof(err)),
                     MR_BARRIER_EINVAL);
    assert_null(s);
    /* and the MySQL start still wants its mysql:// URI */
    o.mysql_uri = "postgres://u@h/db";
    assert_int_equal(mr_backcheck_server_start(&s, &o, err, sizeof(err)), MR_BARRIER_EINVAL);
    assert_null(s);
}

static void test_barrier_result_names(void **state)
{
    (void)state;
    assert_string_equal(mr_barrier_result_name(MR_BARRIER_SUCCESS), "success");
    assert_string_equal(mr_barrier_result_name(MR_BARRIER_DUPLICATED), "duplicated");
    assert_string_equal(mr_barrier_result_name(MR_BARRIER_ONGOING), "ongoing");
    assert_string_equal(mr_barrier_result_name(-99), "unknown");
}

static void test_barrier_errbuf_truncates_and_terminates(void **state)
{
    char buf[4] = "xyz";

    (void)state;
    mr_sdk_errbuf(buf, sizeof(buf), "abcdef");
    assert_string_equal(buf, "abc");
    mr_sdk_errbuf(buf, 1, "abcdef");
    assert_string_equal(buf, "");
    mr_sdk_errbuf(NULL, 10, "abc");
    mr_sdk_errbuf(buf, 0, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier_query_get_reads_and_decodes),
        cmocka_unit_test(test_barrier_query_get_refuses_bad_escapes),
        cmocka_unit_test(test_barrier_from_query_takes_the_four_fields),
        cmocka_unit_test(test_barrier_new_checks_fields_and_ops),
        cmocka_unit_test(test_barrier_table_names_that_may_go_into_sql),
        cmocka_unit_test(test_barrier_http_answer_follows_the_result_protocol),
        cmocka_unit_test(test_barrier_http_step_refuses_bad_queries_without_a_database),
        cmocka_unit_test(test_barrier_pg_refuses_bad_arguments_without_a_server),
        cmocka_unit_test(test_backcheck_server_start_pg_checks_its_uri),
        cmocka_unit_test(test_barrier_result_names),
        cmocka_unit_test(test_barrier_errbuf_truncates_and_terminates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
