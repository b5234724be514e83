/* SPDX-License-Identifier: MIT */
/*
 * test_model.c - the message model (common/model.c): the allowed-transition
 * table checked pair by pair (every allowed move and every refused one,
 * out-of-range states included), state names both ways, which states are
 * final, and a message's life cycle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mem.h"
#include "common/model.h"

/* The allowed moves, as DESIGN and model.h state them; every other pair is refused. */
static const int allowed[][2] = {
    {MR_MSG_NONE, MR_MSG_PREPARED},      /* prepare */
    {MR_MSG_NONE, MR_MSG_SUBMITTED},     /* submit without a prepare */
    {MR_MSG_PREPARED, MR_MSG_SUBMITTED}, /* submit, or a back-check that says SUCCESS */
    {MR_MSG_PREPARED, MR_MSG_FAILED},    /* abort, forceStop, a back-check that says FAILURE */
    {MR_MSG_SUBMITTED, MR_MSG_SUCCEED},  /* every step delivered */
    {MR_MSG_SUBMITTED, MR_MSG_FAILED},   /* forceStop */
    {MR_MSG_PREPARED, MR_MSG_PARKED},    /* back-checks failed retry_limit times */
    {MR_MSG_SUBMITTED, MR_MSG_PARKED},   /* a step failed retry_limit times */
    {MR_MSG_PARKED, MR_MSG_FAILED},      /* forceStop */
    {MR_MSG_PARKED, MR_MSG_PREPARED},    /* redrive of one parked by its back-check */
    {MR_MSG_PARKED, MR_MSG_SUBMITTED},   /* redrive of one parked by a step */
};

static bool in_table(int from, int to)
{
    size_t i;

    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (allowed[i][0] == from && allowed[i][1] == to)
            return true;
    }
    return false;
}

static void test_transition_table_allows_exactly_these(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (!mr_msg_transition_ok(allowed[i][0], allowed[i][1]))
            fail_msg("'%s' -> '%s' refused", mr_msg_state_name(allowed[i][0]),
                     mr_msg_state_name(allowed[i][1]));
    }
}

static void test_transition_table_refuses_every_other_pair(void **state)
{
    int from;
    int to;
    int refused = 0;

    (void)state;
    /* one past each end too: a corrupt state is never a way out */
    for (from = -1; from <= MR_MSG_STATE_COUNT; from++) {
        for (to = -1; to <= MR_MSG_STATE_COUNT; to++) {
            if (in_table(from, to))
                continue;
            if (mr_msg_transition_ok(from, to))
                fail_msg("%d ('%s') -> %d ('%s') allowed", from, mr_msg_state_name(from), to,
                         mr_msg_state_name(to));
            refused++;
        }
    }
    /* 8 x 8 pairs tried, 11 of them allowed */
    assert_int_equal(refused, (MR_MSG_STATE_COUNT + 2) * (MR_MSG_STATE_COUNT + 2) - 11);
}

static void test_transition_never_leaves_a_final_state_or_stays(void **state)
{
    int s;
    int to;

    (void)state;
    for (s = 0; s < MR_MSG_STATE_COUNT; s++) {
        assert_false(mr_msg_transition_ok(s, s));
        assert_false(mr_msg_transition_ok(s, MR_MSG_NONE));
        for (to = 0; mr_msg_state_is_final(s) && to < MR_MSG_STATE_COUNT; to++)
            assert_false(mr_msg_transition_ok(s, to));
    }
    /* no way back to prepared once submitted */
    assert_false(mr_msg_transition_ok(MR_MSG_SUBMITTED, MR_MSG_PREPARED));
    /* nothing is born finished */
    assert_false(mr_msg_transition_ok(MR_MSG_NONE, MR_MSG_SUCCEED));
    assert_false(mr_msg_transition_ok(MR_MSG_NONE, MR_MSG_FAILED));
    /* a prepared message is never delivered without its submit */
    assert_false(mr_msg_transition_ok(MR_MSG_PREPARED, MR_MSG_SUCCEED));
    /* a parked message is never delivered without a redrive, nor parked by a finished one */
    assert_false(mr_msg_transition_ok(MR_MSG_PARKED, MR_MSG_SUCCEED));
    assert_false(mr_msg_transition_ok(MR_MSG_SUCCEED, MR_MSG_PARKED));
    assert_false(mr_msg_transition_ok(MR_MSG_FAILED, MR_MSG_PARKED));
    assert_false(mr_msg_transition_ok(MR_MSG_NONE, MR_MSG_PARKED));
}

static void test_msg_state_names_both_ways(void **state)
{
    static const char *const names[] = {"", "prepared", "submitted", "succeed", "failed",
                                         "parked"};
    int s;

    (void)state;
    assert_int_equal(MR_MSG_STATE_COUNT, 6);
    for (s = 0; s < MR_MSG_STATE_COUNT; s++) {
        assert_string_equal(mr_msg_state_name(s), names[s]);
        if (s != MR_MSG_NONE)
            assert_int_equal(mr_msg_state_parse(names[s]), s);
    }
    assert_string_equal(mr_msg_state_name(-1), "");
    assert_string_equal(mr_msg_state_name(MR_MSG_STATE_COUNT), "");
    assert_string_equal(mr_msg_state_name(1000), "");
    /* "" names no state: it is how "none" is shown, never parsed */
    assert_int_equal(mr_msg_state_parse(""), -1);
    assert_int_equal(mr_msg_state_parse("Prepared"), -1);
    assert_int_equal(mr_msg_state_parse("prepared "), -1);
    assert_int_equal(mr_msg_state_parse("succeeded"), -1);
    assert_int_equal(mr_msg_state_parse("aborting"), -1);
}

static void test_step_state_names_both_ways(void **state)
{
    (void)state;
    assert_int_equal(MR_STEP_STATE_COUNT, 2);
    assert_string_equal(mr_step_state_name(MR_STEP_PREPARED), "prepared");
    assert_string_equal(mr_step_state_name(MR_STEP_SUCCEED), "succeed");
    assert_int_equal(mr_step_state_parse("prepared"), MR_STEP_PREPARED);
    assert_int_equal(mr_step_state_parse("succeed"), MR_STEP_SUCCEED);
    assert_int_equal(mr_step_state_parse("failed"), -1);
    assert_int_equal(mr_step_state_parse(""), -1);
    assert_string_equal(mr_step_state_name(-1), "");
    assert_string_equal(mr_step_state_name(MR_STEP_STATE_COUNT), "");
}

static void test_msg_state_is_final(void **state)
{
    (void)state;
    assert_false(mr_msg_state_is_final(MR_MSG_NONE));
    assert_false(mr_msg_state_is_final(MR_MSG_PREPARED));
    assert_false(mr_msg_state_is_final(MR_MSG_SUBMITTED));
    assert_true(mr_msg_state_is_final(MR_MSG_SUCCEED));
    assert_true(mr_msg_state_is_final(MR_MSG_FAILED));
    /* parked is not final (redrive, forceStop) and not live (never claimed or called) */
    assert_false(mr_msg_state_is_final(MR_MSG_PARKED));
    assert_false(mr_msg_state_is_live(MR_MSG_PARKED));
    assert_true(mr_msg_state_is_live(MR_MSG_PREPARED));
    assert_true(mr_msg_state_is_live(MR_MSG_SUBMITTED));
    assert_false(mr_msg_state_is_live(MR_MSG_SUCCEED));
    assert_false(mr_msg_state_is_final(-1));
    assert_false(mr_msg_state_is_final(MR_MSG_STATE_COUNT));
}

static void test_msg_new_is_zeroed_and_free_takes_everything(void **state)
{
    struct mr_msg *m = mr_msg_new(3);
    struct mr_msg *bare = mr_msg_new(0);
    size_t i;

    (void)state;
    assert_int_equal(m->nsteps, 3);
    assert_non_null(m->steps);
    assert_int_equal(m->state, MR_MSG_NONE);
    assert_null(m->gid);
    for (i = 0; i < m->nsteps; i++) {
        assert_null(m->steps[i].url);
        assert_int_equal(m->steps[i].id, 0);
        assert_int_equal(m->steps[i].state, MR_STEP_PREPARED);
        /* every member owned by the message: freed by mr_msg_free (LeakSanitizer checks) */
        m->steps[i].branch_id = mr_xstrdup("01");
        m->steps[i].url = mr_xstrdup("http://a/x");
        m->steps[i].payload = mr_xstrdup("{}");
        m->steps[i].last_error = mr_xstrdup("e");
    }
    m->gid = mr_xstrdup("g");
    m->query_prepared = mr_xstrdup("");
    m->protocol = mr_xstrdup("http");
    m->custom_data = mr_xstrdup("");
    m->branch_headers = mr_xstrdup("");
    m->owner = mr_xstrdup("r");
    m->result = mr_xstrdup("");
    assert_int_equal(bare->nsteps, 0);
    assert_null(bare->steps);
    mr_msg_free(m);
    mr_msg_free(bare);
    mr_msg_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_table_allows_exactly_these),
        cmocka_unit_test(test_transition_table_refuses_every_other_pair),
        cmocka_unit_test(test_transition_never_leaves_a_final_state_or_stays),
        cmocka_unit_test(test_msg_state_names_both_ways),
        cmocka_unit_test(test_step_state_names_both_ways),
        cmocka_unit_test(test_msg_state_is_final),
        cmocka_unit_test(test_msg_new_is_zeroed_and_free_takes_everything),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
