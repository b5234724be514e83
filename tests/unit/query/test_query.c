/* SPDX-License-Identifier: MIT */
/*
 * test_query.c - the back-check room (query/query.c): when a prepared
 * message is due, its request, how its answer is classified, what each
 * result decides, and the writes of each decision on a real SQLite store in a
 * temporary file (the call's URL and headers: tests/unit/common/test_call.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/mem.h"
#include "query/query.h"
#include "store/store.h"

static int setup(void **state)
{
    (void)state;
    mr_config_defaults(&mr_config);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mr_config_free(&mr_config);
    return 0;
}

/* a_msg - a prepared message with one step, as the intake would store it. */
static struct mr_msg *a_msg(const char *gid, const char *qp)
{
    struct mr_msg *m = mr_msg_new(1);
    int64_t now = 1700000000000;

    m->gid = mr_xstrdup(gid);
    m->state = MR_MSG_PREPARED;
    m->query_prepared = mr_xstrdup(qp);
    m->protocol = mr_xstrdup("http");
    m->custom_data = mr_xstrdup("");
    m->branch_headers = mr_xstrdup("");
    m->create_ms = now;
    m->update_ms = now;
    m->next_cron_ms = now + 35000;
    m->next_cron_interval = 10;
    m->owner = mr_xstrdup("");
    m->result = mr_xstrdup("");
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup("http://app/step");
    m->steps[0].payload = mr_xstrdup("{}");
    m->steps[0].payload_len = 2;
    m->steps[0].create_ms = now;
    return m;
}

static void test_query_request_build(void **state)
{
    struct mr_msg *m = a_msg("g 1", "http://app/qp?x=1");
    struct mr_call rq;
    struct mr_err err = MR_ERR_INIT;

    (void)state;
    m->request_timeout = 7;
    free(m->branch_headers);
    m->branch_headers = mr_xstrdup("{\"X-A\":\"b\"}");
    assert_int_equal(mr_query_request_build(m, &rq, &err), 0);
    assert_string_equal(rq.url.p, "http://app/qp?x=1&gid=g%201&trans_type=msg&branch_id=00&op=msg");
    assert_string_equal(rq.headers[0], "Content-Type: application/json");
    assert_string_equal(rq.headers[1], "X-A: b");
    assert_int_equal(rq.timeout_ms, 7000);
    mr_call_release(&rq);
    mr_call_release(&rq); /* twice is harmless */

    /* bad branch_headers: an error and nothing to free */
    free(m->branch_headers);
    m->branch_headers = mr_xstrdup("{");
    assert_int_equal(mr_query_request_build(m, &rq, &err), MR_EINVAL);

    /* no query_prepared: nothing to call */
    free(m->query_prepared);
    m->query_prepared = mr_xstrdup("");
    assert_false(mr_query_needed(m));
    assert_int_equal(mr_query_request_build(m, &rq, &err), MR_EINVAL);
    mr_call_release(&rq);
    mr_msg_free(m);
}

static void test_query_due_time(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");

    (void)state;
    assert_int_equal(mr_query_due_ms(m), m->create_ms + 35000);
    m->timeout_to_fail = 5;
    assert_int_equal(mr_query_due_ms(m), m->create_ms + 5000);
    mr_msg_free(m);
}

static void test_query_when_due_call_or_not(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");
    int64_t due = mr_query_due_ms(m);
    int64_t at = 0;

    (void)state;
    /* claimed before it is due: back at the due time */
    assert_int_equal(mr_query_when(m, due - 1, due + 60000, 1000, &at), MR_QUERY_LATER);
    assert_int_equal(at, due);
    /* due, and the call (3 s) ends 1 s before the lease: call */
    assert_int_equal(mr_query_when(m, due, due + 4000, 1000, &at), MR_QUERY_CALL);
    /* it would not: released, due at once */
    assert_int_equal(mr_query_when(m, due, due + 3999, 1000, &at), MR_QUERY_NO_TIME);
    assert_int_equal(at, due);
    /* no query_prepared: no call at all */
    free(m->query_prepared);
    m->query_prepared = mr_xstrdup("");
    assert_int_equal(mr_query_when(m, due, due + 1, 1000, &at), MR_QUERY_NO_CALL);
    mr_msg_free(m);
}

static void test_query_answer_strict_and_text(void **state)
{
    struct mr_buf text = MR_BUF_INIT(1024);

    (void)state;
    assert_int_equal(mr_query_answer(200, "", "ok", 2, &text), MR_RESULT_SUCCESS);
    assert_int_equal(text.len, 0);
    assert_int_equal(mr_query_answer(0, "Connection refused", NULL, 0, &text), MR_RESULT_ERROR);
    assert_string_equal(text.p, "query_prepared: Connection refused");
    assert_int_equal(mr_query_answer(409, "", NULL, 0, &text), MR_RESULT_FAILURE);
    assert_string_equal(text.p, "query_prepared: HTTP 409");
    /* --strict-query-prepared: a 200 must say SUCCESS */
    mr_config.strict_query_prepared = true;
    assert_int_equal(mr_query_answer(200, "", "ok", 2, &text), MR_RESULT_ERROR);
    assert_string_equal(text.p, "query_prepared: HTTP 200: ok");
    assert_int_equal(mr_query_answer(200, "", "SUCCESS", 7, &text), MR_RESULT_SUCCESS);
    mr_buf_release(&text);
}

static void test_query_decide_success_submits(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");
    struct mr_query_decision d;
    uint64_t rng = 1;

    (void)state;
    m->next_cron_interval = 80; /* backed off by earlier errors */
    mr_query_decide(m, MR_RESULT_SUCCESS, m->create_ms + 40000, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_SUBMIT);
    assert_int_equal(d.result, MR_RESULT_SUCCESS);
    /* next_cron_time kept (due again at once should the relay die), interval reset to base */
    assert_int_equal(d.next_cron_ms, m->next_cron_ms);
    assert_int_equal(d.interval, 10);
    mr_msg_free(m);
}

static void test_query_decide_failure_fails(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");
    struct mr_query_decision d;
    uint64_t rng = 1;

    (void)state;
    mr_query_decide(m, MR_RESULT_FAILURE, m->create_ms + 40000, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_FAIL);
    assert_int_equal(d.result, MR_RESULT_FAILURE);
    mr_msg_free(m);
}

static void test_query_decide_ongoing_asks_again_after_base(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");
    struct mr_query_decision d;
    int64_t now = m->create_ms + 40000;
    uint64_t rng = 1;

    (void)state;
    m->next_cron_interval = 160;
    mr_query_decide(m, MR_RESULT_ONGOING, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_RETRY);
    assert_int_equal(d.interval, 10);
    assert_int_equal(d.next_cron_ms, now + 10000);

    /* the message's own retry_interval is the base */
    m->retry_interval = 4;
    mr_query_decide(m, MR_RESULT_ONGOING, now, &rng, &d);
    assert_int_equal(d.interval, 4);
    assert_int_equal(d.next_cron_ms, now + 4000);

    /* a timeout_to_fail shorter than the server interval is the base */
    m->retry_interval = 0;
    m->timeout_to_fail = 3;
    mr_query_decide(m, MR_RESULT_ONGOING, now, &rng, &d);
    assert_int_equal(d.interval, 3);
    mr_msg_free(m);
}

static void test_query_decide_parks_at_the_retry_limit_of_errors_only(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");
    struct mr_query_decision d;
    int64_t now = m->create_ms + 40000;
    uint64_t rng = 7;

    (void)state;
    mr_config.retry_limit = 3;
    m->query_attempts = 1; /* this error makes 2 */
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_RETRY);
    m->query_attempts = 2; /* this one makes 3: parked */
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_PARK);
    assert_int_equal(d.result, MR_RESULT_ERROR);
    /* ongoing never parks; a failure fails; the message's own limit wins; 0 never parks */
    mr_query_decide(m, MR_RESULT_ONGOING, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_RETRY);
    mr_query_decide(m, MR_RESULT_FAILURE, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_FAIL);
    m->retry_limit = 10;
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_RETRY);
    m->retry_limit = 0;
    mr_config.retry_limit = 0;
    m->query_attempts = 1000000;
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_RETRY);
    mr_msg_free(m);
}

static void test_query_decide_error_backs_off_capped_with_jitter(void **state)
{
    struct mr_msg *m = a_msg("g", "http://app/qp");
    struct mr_query_decision d;
    int64_t now = m->create_ms + 40000;
    uint64_t rng = 99;
    int i;

    (void)state;
    m->next_cron_interval = 10;
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.action, MR_QUERY_RETRY);
    assert_int_equal(d.result, MR_RESULT_ERROR);
    assert_int_equal(d.interval, 20);
    assert_in_range(d.next_cron_ms, now + 16000, now + 24000);

    /* an interval of 0 (never backed off) starts from the base */
    m->next_cron_interval = 0;
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.interval, 20);

    /* doubling stops at max_retry_interval */
    m->next_cron_interval = 10;
    for (i = 0; i < 20; i++) {
        mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
        m->next_cron_interval = d.interval;
    }
    assert_int_equal(d.interval, 300);
    assert_in_range(d.next_cron_ms, now + 240000, now + 360000);
    mr_config.max_retry_interval = 60;
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(d.interval, 60);
    mr_msg_free(m);
}

/* ---- mr_query_apply on a real store ---- */

struct db {
    char path[64];
    struct mr_store *s;
};

/* db_open - a fresh SQLite store in a temporary file holding @m (claimed by "r1"). */
static void db_open(struct db *db, struct mr_msg *m)
{
    struct mr_buf uri = MR_BUF_INIT(256);
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;
    int fd;

    snprintf(db->path, sizeof(db->path), "/tmp/test_query_XXXXXX");
    fd = mkstemp(db->path);
    assert_true(fd >= 0);
    close(fd);
    unlink(db->path);
    mr_buf_addf(&uri, "sqlite:%s", db->path);
    assert_int_equal(mr_store_open(uri.p, &db->s, &err), 0);
    mr_buf_release(&uri);
    assert_int_equal(mr_store_begin(db->s, &err), 0);
    assert_int_equal(mr_store_msg_insert(db->s, m, &err), 0);
    assert_int_equal(mr_store_commit(db->s, &err), 0);
    assert_int_equal(
        mr_store_claim(db->s, "r1", m->next_cron_ms, m->next_cron_ms + 60000, 10, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    mr_store_msgs_free(v, n);
}

static void db_close(struct db *db)
{
    char side[80];

    mr_store_close(db->s);
    unlink(db->path);
    snprintf(side, sizeof(side), "%s-wal", db->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", db->path);
    unlink(side);
}

/* apply - apply @d in a transaction of its own; returns mr_query_apply's code. */
static int apply(struct db *db, struct mr_msg *m, const struct mr_query_decision *d,
                 const char *detail, int64_t now)
{
    struct mr_err err = MR_ERR_INIT;
    int rc;

    assert_int_equal(mr_store_begin(db->s, &err), 0);
    rc = mr_query_apply(db->s, m, "r1", d, detail, now, &err);
    assert_int_equal(mr_store_commit(db->s, &err), 0);
    return rc;
}

static struct mr_msg *reload(struct db *db, const char *gid)
{
    struct mr_msg *m = NULL;

    assert_int_equal(mr_store_msg_get(db->s, gid, false, &m, NULL), 0);
    assert_non_null(m);
    return m;
}

static void test_query_apply_submit(void **state)
{
    struct mr_msg *m = a_msg("g-submit", "http://app/qp");
    struct mr_query_decision d;
    struct mr_msg *got;
    struct db db;
    uint64_t rng = 1;
    int64_t now = m->next_cron_ms + 5;

    (void)state;
    m->next_cron_interval = 40;
    db_open(&db, m);
    mr_query_decide(m, MR_RESULT_SUCCESS, now, &rng, &d);
    assert_int_equal(apply(&db, m, &d, NULL, now), 0);
    got = reload(&db, "g-submit");
    assert_int_equal(got->state, MR_MSG_SUBMITTED);
    assert_int_equal(got->next_cron_interval, 10);
    assert_int_equal(got->next_cron_ms, m->next_cron_ms);
    /* the lease is still ours: the steps go out in the same pass */
    assert_string_equal(got->owner, "r1");
    mr_msg_free(got);

    /* applied again, the message is no longer prepared: a conflict, nothing written */
    assert_int_equal(apply(&db, m, &d, NULL, now), MR_ECONFLICT);
    db_close(&db);
    mr_msg_free(m);
}

static void test_query_apply_fail(void **state)
{
    struct mr_msg *m = a_msg("g-fail", "http://app/qp");
    struct mr_query_decision d;
    struct mr_msg *got;
    struct db db;
    uint64_t rng = 1;
    int64_t now = m->next_cron_ms + 5;

    (void)state;
    db_open(&db, m);
    mr_query_decide(m, MR_RESULT_FAILURE, now, &rng, &d);
    assert_int_equal(apply(&db, m, &d, NULL, now), 0);
    got = reload(&db, "g-fail");
    assert_int_equal(got->state, MR_MSG_FAILED);
    assert_int_equal(got->rollback_ms, now);
    assert_string_equal(got->owner, "");
    mr_msg_free(got);
    db_close(&db);
    mr_msg_free(m);
}

static void test_query_write_after_a_conflict_ends_the_lease(void **state)
{
    struct mr_msg *m = a_msg("g-raced", "http://app/qp");
    struct mr_query_decision d;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *got;
    struct db db;
    uint64_t rng = 1;
    int64_t now = m->next_cron_ms + 5;

    (void)state;
    db_open(&db, m);
    /* an abort won the race: the message is failed before the decision is written */
    assert_int_equal(mr_store_begin(db.s, &err), 0);
    assert_int_equal(
        mr_store_msg_transition(db.s, "g-raced", MR_MSG_PREPARED, MR_MSG_FAILED, now, -1, 0, &err),
        0);
    assert_int_equal(mr_store_commit(db.s, &err), 0);
    mr_query_decide(m, MR_RESULT_SUCCESS, now, &rng, &d);
    assert_int_equal(mr_store_begin(db.s, &err), 0);
    assert_int_equal(mr_query_write(db.s, m, "r1", &d, NULL, now, &err), 0);
    assert_int_equal(mr_store_commit(db.s, &err), 0);
    /* not delivered, and the failed message keeps its state */
    assert_int_equal(d.action, MR_QUERY_FAIL);
    got = reload(&db, "g-raced");
    assert_int_equal(got->state, MR_MSG_FAILED);
    mr_msg_free(got);
    db_close(&db);
    mr_msg_free(m);
}

static void test_query_apply_retry(void **state)
{
    struct mr_msg *m = a_msg("g-retry", "http://app/qp");
    struct mr_query_decision d;
    struct mr_msg *got;
    struct db db;
    uint64_t rng = 1;
    int64_t now = m->next_cron_ms + 5;

    (void)state;
    db_open(&db, m);
    mr_query_decide(m, MR_RESULT_ERROR, now, &rng, &d);
    assert_int_equal(apply(&db, m, &d, "query_prepared: HTTP 500: boom", now), 0);
    got = reload(&db, "g-retry");
    assert_int_equal(got->state, MR_MSG_PREPARED);
    assert_int_equal(got->next_cron_ms, d.next_cron_ms);
    assert_int_equal(got->next_cron_interval, 20);
    assert_string_equal(got->owner, "");
    assert_string_equal(got->result, "query_prepared: HTTP 500: boom");
    mr_msg_free(got);
    db_close(&db);
    mr_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_request_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_due_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_when_due_call_or_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_answer_strict_and_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_decide_success_submits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_decide_failure_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_decide_ongoing_asks_again_after_base, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_decide_parks_at_the_retry_limit_of_errors_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_decide_error_backs_off_capped_with_jitter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_apply_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_apply_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_apply_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_write_after_a_conflict_ends_the_lease, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
