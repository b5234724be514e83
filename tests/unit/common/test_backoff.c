/* SPDX-License-Identifier: MIT */
/*
 * test_backoff.c - retry intervals (common/backoff.c): which base applies,
 * doubling up to the cap, and jitter that stays within +-20% and varies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/backoff.h"
#include "common/config.h"

static void test_backoff_base_prefers_msg_retry_interval(void **state)
{
    (void)state;
    assert_int_equal(mr_backoff_base(7, 0, 10), 7);
    assert_int_equal(mr_backoff_base(7, 3, 10), 7);
    assert_int_equal(mr_backoff_base(30, 0, 10), 30);
}

static void test_backoff_base_short_timeout_to_fail(void **state)
{
    (void)state;
    /* timeout_to_fail shorter than the server interval becomes the base */
    assert_int_equal(mr_backoff_base(0, 3, 10), 3);
    /* not when it is as long or longer */
    assert_int_equal(mr_backoff_base(0, 10, 10), 10);
    assert_int_equal(mr_backoff_base(0, 35, 10), 10);
}

static void test_backoff_base_server_default(void **state)
{
    (void)state;
    assert_int_equal(mr_backoff_base(0, 0, 10), 10);
    assert_int_equal(mr_backoff_base(0, 0, 0), 1);
}

static void test_backoff_next_doubles_up_to_cap(void **state)
{
    int cur = 10;
    int i;

    (void)state;
    assert_int_equal(mr_backoff_next(10, 300), 20);
    assert_int_equal(mr_backoff_next(20, 300), 40);
    assert_int_equal(mr_backoff_next(160, 300), 300);
    assert_int_equal(mr_backoff_next(300, 300), 300);
    assert_int_equal(mr_backoff_next(1000, 300), 300);
    /* repeated back-off reaches the cap and stays there */
    for (i = 0; i < 100; i++)
        cur = mr_backoff_next(cur, 300);
    assert_int_equal(cur, 300);
}

static void test_backoff_next_never_overflows_or_drops_below_one(void **state)
{
    (void)state;
    assert_int_equal(mr_backoff_next(0, 300), 2);
    assert_int_equal(mr_backoff_next(-5, 300), 2);
    assert_int_equal(mr_backoff_next(1, 0), 1);
    assert_int_equal(mr_backoff_next(0x7fffffff, 0x7fffffff), 0x7fffffff);
    assert_int_equal(mr_backoff_next(0x40000000, 0x7fffffff), 0x7fffffff);
}

static void test_backoff_jitter_within_20_percent(void **state)
{
    uint64_t rng = 12345;
    int64_t lo = INT64_MAX;
    int64_t hi = 0;
    int i;

    (void)state;
    for (i = 0; i < 10000; i++) {
        int64_t ms = mr_backoff_jitter_ms(10, &rng);

        assert_in_range(ms, 8000, 12000);
        if (ms < lo)
            lo = ms;
        if (ms > hi)
            hi = ms;
    }
    /* it really varies, over most of the allowed span */
    assert_true(lo < 8500);
    assert_true(hi > 11500);
}

static void test_backoff_jitter_other_intervals(void **state)
{
    uint64_t rng = 0; /* a zero seed still works */
    int i;

    (void)state;
    for (i = 0; i < 1000; i++) {
        assert_in_range(mr_backoff_jitter_ms(1, &rng), 800, 1200);
        assert_in_range(mr_backoff_jitter_ms(300, &rng), 240000, 360000);
    }
    assert_int_equal(mr_backoff_jitter_ms(0, &rng), 0);
}

static void test_backoff_rand_is_seeded_by_caller(void **state)
{
    uint64_t a = 42;
    uint64_t b = 42;
    uint64_t c = 43;

    (void)state;
    assert_true(mr_rand64(&a) == mr_rand64(&b));
    assert_true(mr_rand64(&a) != mr_rand64(&c));
}

static void test_backoff_schedule_keeps_a_long_retry_interval_and_an_ongoing_step(void **state)
{
    struct mr_msg *m = mr_msg_new(1);
    uint64_t rng = 7;
    int64_t next;
    int interval;

    (void)state;
    mr_config_defaults(&mr_config);
    mr_config.retry_interval = 1;
    mr_config.max_retry_interval = 4;
    /* the cap bounds the doubling ... */
    m->next_cron_interval = 3;
    mr_backoff_schedule(m, MR_RESULT_ERROR, true, 0, &rng, &next, &interval);
    assert_int_equal(interval, 4);
    /* ... not a message's own longer retry_interval */
    m->retry_interval = 10;
    m->next_cron_interval = 10;
    mr_backoff_schedule(m, MR_RESULT_ERROR, true, 0, &rng, &next, &interval);
    assert_int_equal(interval, 10);
    assert_in_range(next, 8000, 12000);
    /* ONGOING: a step keeps its interval, a back-check goes back to the base, no jitter */
    m->retry_interval = 0;
    m->next_cron_interval = 4;
    mr_backoff_schedule(m, MR_RESULT_ONGOING, true, 1000, &rng, &next, &interval);
    assert_int_equal(interval, 4);
    assert_int_equal(next, 5000);
    mr_backoff_schedule(m, MR_RESULT_ONGOING, false, 1000, &rng, &next, &interval);
    assert_int_equal(interval, 1);
    assert_int_equal(next, 2000);
    mr_msg_free(m);
    mr_config_free(&mr_config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_base_prefers_msg_retry_interval),
        cmocka_unit_test(test_backoff_base_short_timeout_to_fail),
        cmocka_unit_test(test_backoff_base_server_default),
        cmocka_unit_test(test_backoff_next_doubles_up_to_cap),
        cmocka_unit_test(test_backoff_next_never_overflows_or_drops_below_one),
        cmocka_unit_test(test_backoff_jitter_within_20_percent),
        cmocka_unit_test(test_backoff_jitter_other_intervals),
        cmocka_unit_test(test_backoff_rand_is_seeded_by_caller),
        cmocka_unit_test(test_backoff_schedule_keeps_a_long_retry_interval_and_an_ongoing_step),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
