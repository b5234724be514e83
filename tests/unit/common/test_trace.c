/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - W3C Trace Context (common/trace.c): the strict traceparent
 * check, the tracestate limit, child span ids, and the trace context that
 * mr_call_build() puts on a call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/call.h"
#include "common/mem.h"
#include "common/trace.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_traceparent_check_is_strict(void **state)
{
    (void)state;
    assert_true(mr_trace_parent_ok(TP));
    assert_true(mr_trace_parent_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    assert_false(mr_trace_parent_ok(NULL));
    assert_false(mr_trace_parent_ok(""));
    assert_false(mr_trace_parent_ok("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(mr_trace_parent_ok("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(mr_trace_parent_ok("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
    assert_false(mr_trace_parent_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
    assert_false(mr_trace_parent_ok("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_false(mr_trace_parent_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
    assert_false(mr_trace_parent_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));
    assert_false(mr_trace_parent_ok("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(mr_trace_parent_ok("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"));
}

static void test_tracestate_is_kept_up_to_its_limit(void **state)
{
    char s[MR_TRACESTATE_MAX + 2];

    (void)state;
    assert_true(mr_trace_state_ok(""));
    assert_true(mr_trace_state_ok("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
    memset(s, 'a', MR_TRACESTATE_MAX);
    s[MR_TRACESTATE_MAX] = '\0';
    assert_true(mr_trace_state_ok(s));
    s[MR_TRACESTATE_MAX] = 'a';
    s[MR_TRACESTATE_MAX + 1] = '\0';
    assert_false(mr_trace_state_ok(s));
    assert_false(mr_trace_state_ok("a=b\nc=d"));
    assert_false(mr_trace_state_ok("a=\xc3\xa9"));
    assert_false(mr_trace_state_ok(NULL));
}

static void test_child_keeps_trace_id_and_flags_with_a_new_parent_id(void **state)
{
    char a[MR_TRACEPARENT_LEN + 1];
    char b[MR_TRACEPARENT_LEN + 1];

    (void)state;
    mr_trace_child(TP, a);
    mr_trace_child(TP, b);
    assert_true(mr_trace_parent_ok(a));
    assert_int_equal(memcmp(a, TP, 36), 0);
    assert_string_equal(a + 52, "-01");
    assert_memory_not_equal(a + 36, TP + 36, 16);
    assert_memory_not_equal(a + 36, b + 36, 16);
}

/* header - the value of header @name in @c, or NULL; asserts it is there at most once. */
static const char *header(const struct mr_call *c, const char *name)
{
    const char *found = NULL;
    size_t n = strlen(name);
    size_t i;

    for (i = 0; i < c->nheaders; i++) {
        if (strncmp(c->headers[i], name, n) == 0 && c->headers[i][n] == ':') {
            assert_null(found);
            found = c->headers[i] + n + 2;
        }
    }
    return found;
}

static void test_call_carries_the_trace_context_in_place_of_branch_headers_own(void **state)
{
    struct mr_msg *m = mr_msg_new(0);
    struct mr_err err = MR_ERR_INIT;
    struct mr_call c;

    (void)state;
    m->gid = mr_xstrdup("g1");
    m->branch_headers =
        mr_xstrdup("{\"traceparent\":\"00-11111111111111111111111111111111-2222222222222222-01\","
                   "\"X-A\":\"1\"}");
    m->traceparent = mr_xstrdup(TP);
    m->tracestate = mr_xstrdup("k=v");
    assert_int_equal(mr_call_build(&c, "http://svc/a", m, "01", "action", &err), 0);
    assert_non_null(header(&c, "traceparent"));
    assert_int_equal(memcmp(header(&c, "traceparent"), TP, 36), 0);
    assert_string_equal(header(&c, "tracestate"), "k=v");
    assert_string_equal(header(&c, "X-A"), "1");
    mr_call_release(&c);

    /* without a trace of its own, a message's branch_headers go as they are */
    free(m->traceparent);
    m->traceparent = mr_xstrdup("");
    assert_int_equal(mr_call_build(&c, "http://svc/a", m, "01", "action", &err), 0);
    assert_string_equal(header(&c, "traceparent"),
                        "00-11111111111111111111111111111111-2222222222222222-01");
    assert_null(header(&c, "tracestate"));
    mr_call_release(&c);
    mr_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent_check_is_strict),
        cmocka_unit_test(test_tracestate_is_kept_up_to_its_limit),
        cmocka_unit_test(test_child_keeps_trace_id_and_flags_with_a_new_parent_id),
        cmocka_unit_test(test_call_carries_the_trace_context_in_place_of_branch_headers_own),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
