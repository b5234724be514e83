/* SPDX-License-Identifier: MIT */
/*
 * test_metrics_rates.c - the rate history the admin page charts
 * (common/metrics.c): samples at most every MR_METRICS_RATE_EVERY_MS, the
 * intervals between them with their step counts, the partial interval up
 * to now, the ring that keeps the last MR_METRICS_RATE_SLOTS, and the
 * destination snapshot. The registry is process-global: the tests run in
 * order and each reads what it added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"

static struct mr_metrics_rate got[MR_METRICS_RATE_SLOTS + 1];

/* steps - count @ok successful and @bad failed/erred step calls. */
static void steps(int ok, int bad)
{
    int i;

    for (i = 0; i < ok; i++)
        mr_metrics_step(MR_RESULT_SUCCESS, "01");
    for (i = 0; i < bad; i++)
        mr_metrics_step(i % 2 ? MR_RESULT_FAILURE : MR_RESULT_ERROR, "01");
    /* ongoing is neither a delivery nor a failure */
    mr_metrics_step(MR_RESULT_ONGOING, "01");
}

static void test_rates_are_the_counts_between_samples(void **state)
{
    const int64_t t0 = 1000000;
    size_t n;

    (void)state;
    assert_int_equal(mr_metrics_rates(t0, got), 0); /* no sample yet */
    mr_metrics_rate_tick(t0);
    steps(30, 4);
    /* too soon for another sample: the call changes nothing */
    mr_metrics_rate_tick(t0 + MR_METRICS_RATE_EVERY_MS - 1);
    mr_metrics_rate_tick(t0 + MR_METRICS_RATE_EVERY_MS);
    steps(5, 1);
    n = mr_metrics_rates(t0 + MR_METRICS_RATE_EVERY_MS + 2000, got);
    assert_int_equal(n, 2);
    assert_int_equal(got[0].t_ms, t0 + MR_METRICS_RATE_EVERY_MS);
    assert_int_equal(got[0].len_ms, MR_METRICS_RATE_EVERY_MS);
    assert_int_equal(got[0].delivered, 30);
    assert_int_equal(got[0].failed, 4);
    /* the partial interval from the last sample to now */
    assert_int_equal(got[1].len_ms, 2000);
    assert_int_equal(got[1].delivered, 5);
    assert_int_equal(got[1].failed, 1);
}

static void test_the_ring_keeps_the_last_slots(void **state)
{
    int64_t t = 5000000;
    size_t n;
    int i;

    (void)state;
    for (i = 0; i < MR_METRICS_RATE_SLOTS + 10; i++) {
        mr_metrics_rate_tick(t);
        steps(i, 0);
        t += MR_METRICS_RATE_EVERY_MS;
    }
    mr_metrics_rate_tick(t);
    n = mr_metrics_rates(t, got);
    assert_int_equal(n, MR_METRICS_RATE_SLOTS);
    /* oldest first, consecutive, the newest ending at the last sample */
    assert_int_equal(got[n - 1].t_ms, t);
    assert_int_equal(got[n - 1].delivered, MR_METRICS_RATE_SLOTS + 9);
    assert_int_equal(got[0].delivered, 10);
    for (i = 1; i < (int)n; i++)
        assert_int_equal(got[i].t_ms - got[i - 1].t_ms, MR_METRICS_RATE_EVERY_MS);
}

static void test_destinations_snapshot(void **state)
{
    struct mr_metrics_dest d[MR_METRICS_DEST_MAX];
    int a = mr_metrics_dest_slot("http://a:80");
    int b = mr_metrics_dest_slot("http://b:8080");
    size_t n;

    (void)state;
    mr_metrics_dest_call(a, true, 10);
    mr_metrics_dest_call(a, false, 30);
    mr_metrics_dest_up(b, false);
    n = mr_metrics_dests(d);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].label, "http://a:80");
    assert_true(d[0].up);
    assert_int_equal(d[0].calls, 2);
    assert_int_equal(d[0].failures, 1);
    assert_int_equal(d[0].latency_ms, 40);
    assert_string_equal(d[1].label, "http://b:8080");
    assert_false(d[1].up);
    assert_int_equal(d[1].calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates_are_the_counts_between_samples),
        cmocka_unit_test(test_the_ring_keeps_the_last_slots),
        cmocka_unit_test(test_destinations_snapshot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
