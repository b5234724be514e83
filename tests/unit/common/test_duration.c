/* SPDX-License-Identifier: MIT */
/*
 * test_duration.c - durations (common/duration.c): units, groups, bare
 * seconds, refusals with their reason, the upper bound, and printing back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/duration.h"

static int64_t parse_ok(const char *text)
{
    struct mr_err err = MR_ERR_INIT;
    int64_t v = -1;

    if (mr_duration_parse(text, &v, &err) != 0)
        fail_msg("'%s' refused: %s", text, err.msg);
    return v;
}

static void assert_refused(const char *text, const char *why)
{
    struct mr_err err = MR_ERR_INIT;
    int64_t v = 12345;

    assert_int_equal(mr_duration_parse(text, &v, &err), MR_EINVAL);
    assert_int_equal(v, 12345);
    if (strstr(err.msg, why) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, why);
}

static void test_duration_units(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("45s"), 45);
    assert_int_equal(parse_ok("90m"), 5400);
    assert_int_equal(parse_ok("2h"), 7200);
    assert_int_equal(parse_ok("7d"), 604800);
    assert_int_equal(parse_ok("0"), 0);
    assert_int_equal(parse_ok("0s"), 0);
    assert_int_equal(parse_ok("3600"), 3600);
}

static void test_duration_groups_largest_first(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1h30m"), 5400);
    assert_int_equal(parse_ok("1d12h"), 129600);
    assert_int_equal(parse_ok("1d2h3m4s"), 93784);
    assert_refused("30m1h", "largest first");
    assert_refused("1h1h", "largest first");
    assert_refused("1h30", "needs a unit");
}

static void test_duration_refuses_what_is_not_one(void **state)
{
    (void)state;
    assert_refused("", "not a duration");
    assert_refused("d", "not a duration");
    assert_refused("-5s", "not a duration");
    assert_refused("1.5h", "not a duration");
    assert_refused("7 d", "not a duration");
    assert_refused("7w", "not a duration");
    assert_refused("7D", "not a duration");
    assert_refused("1h ", "not a duration");
}

static void test_duration_upper_bound(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("36500d"), MR_DURATION_MAX_S);
    assert_refused("36501d", "longer than 36500 days");
    assert_refused("99999999999999999999999s", "longer than");
    assert_refused("36500d1s", "longer than");
}

static void test_duration_format_round_trips(void **state)
{
    static const char *const texts[] = {"0s", "45s", "90m", "2h", "7d", "1h30m", "1d2h3m4s"};
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        mr_duration_format(parse_ok(texts[i]), out, sizeof(out));
        if (strcmp(texts[i], "90m") == 0)
            assert_string_equal(out, "1h30m");
        else
            assert_string_equal(out, texts[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_groups_largest_first),
        cmocka_unit_test(test_duration_refuses_what_is_not_one),
        cmocka_unit_test(test_duration_upper_bound),
        cmocka_unit_test(test_duration_format_round_trips),
    };

    return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
