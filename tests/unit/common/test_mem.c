/* SPDX-License-Identifier: MIT */
/*
 * test_mem.c - the aborting allocators (common/mem.c) and the one grow-array
 * idiom, MR_ALLOC_GROW over mr_xgrow: the first capacity, growth by half
 * again or straight to what is needed, the capacity written back, elements
 * kept, nothing done while the need fits, and an abort (not a wrapped size)
 * when the array could not be addressed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/mem.h"

struct wide {
    int64_t a;
    char s[13];
};

static void test_alloc_grow_from_empty(void **state)
{
    int *v = NULL;
    size_t cap = 0;
    size_t i;

    (void)state;
    MR_ALLOC_GROW(v, 1, cap);
    assert_non_null(v);
    assert_int_equal(cap, 16); /* never fewer than 16 */
    for (i = 0; i < cap; i++)
        v[i] = (int)i; /* every slot is there (ASan would say otherwise) */
    free(v);
}

static void test_alloc_grow_by_half_or_to_the_need(void **state)
{
    int *v = NULL;
    size_t cap = 0;

    (void)state;
    MR_ALLOC_GROW(v, 100, cap);
    assert_int_equal(cap, 100); /* more than 0 + 0/2 and than 16: the need */
    MR_ALLOC_GROW(v, 101, cap);
    assert_int_equal(cap, 150); /* half again */
    MR_ALLOC_GROW(v, 151, cap);
    assert_int_equal(cap, 225);
    MR_ALLOC_GROW(v, 1000, cap);
    assert_int_equal(cap, 1000); /* half again is not enough: the need */
    v[999] = 1;
    free(v);
}

static void test_alloc_grow_untouched_when_it_fits(void **state)
{
    int *v = NULL;
    int *before;
    size_t cap = 0;
    size_t need = 16;
    size_t none = 0;

    (void)state;
    MR_ALLOC_GROW(v, 5, cap);
    before = v;
    assert_int_equal(cap, 16);
    MR_ALLOC_GROW(v, need, cap);
    MR_ALLOC_GROW(v, none, cap);
    MR_ALLOC_GROW(v, 1, cap);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 16);
    /* a pointer that is not from malloc is never passed to realloc while the need fits */
    {
        int fixed[4];
        int *f = fixed;
        size_t fcap = 4;

        MR_ALLOC_GROW(f, 4, fcap);
        assert_ptr_equal(f, fixed);
        assert_int_equal(fcap, 4);
    }
    free(v);
}

static void test_alloc_grow_keeps_elements_in_a_push_loop(void **state)
{
    struct wide *v = NULL;
    size_t n = 0;
    size_t cap = 0;
    size_t grows = 0;
    size_t last = 0;
    size_t i;

    (void)state;
    for (i = 0; i < 10000; i++) {
        MR_ALLOC_GROW(v, n + 1, cap);
        if (cap != last) {
            /* 16, then half again each time: never more than 1.5x the previous */
            assert_true(cap >= n + 1);
            assert_true(last == 0 ? cap == 16 : cap == last + last / 2);
            last = cap;
            grows++;
        }
        v[n].a = (int64_t)i * 3;
        memset(v[n].s, (int)('a' + i % 26), sizeof(v[n].s));
        n++;
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(v[i].a, (int64_t)i * 3);
        assert_int_equal(v[i].s[12], (char)('a' + i % 26));
    }
    assert_true(cap >= n);
    assert_true(grows < 25); /* geometric, not one realloc per element */
    free(v);
}

static void test_xgrow_writes_the_capacity_back(void **state)
{
    size_t cap = 40;
    char *p = mr_xmalloc(40);
    char *q;

    (void)state;
    memset(p, 'k', 40);
    q = mr_xgrow(p, 1, 41, &cap);
    assert_int_equal(cap, 60);
    assert_memory_equal(q, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", 40);
    q[59] = 'e';
    free(q);
    /* an element size of 0 still gives a capacity and a pointer to free */
    cap = 0;
    q = mr_xgrow(NULL, 0, 1, &cap);
    assert_non_null(q);
    assert_int_equal(cap, 16);
    free(q);
}

/* aborts - whether @fn, run in a child process with stderr closed, dies of SIGABRT. */
static bool aborts(void (*fn)(void))
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (null >= 0)
            dup2(null, 2);
        fn();
        _exit(0);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void grow_past_size_max(void)
{
    size_t cap = 0;
    void *p = mr_xgrow(NULL, sizeof(int64_t), SIZE_MAX / 4, &cap);

    free(p);
}

static void grow_fits(void)
{
    size_t cap = 0;
    void *p = mr_xgrow(NULL, sizeof(int64_t), 8, &cap);

    free(p);
}

static void test_xgrow_aborts_when_the_size_overflows(void **state)
{
    (void)state;
    assert_true(aborts(grow_past_size_max));
    assert_false(aborts(grow_fits));
}

static void test_xstrdup_and_xstrndup(void **state)
{
    char *p;

    (void)state;
    assert_null(mr_xstrdup(NULL));
    p = mr_xstrdup("abc");
    assert_string_equal(p, "abc");
    free(p);
    p = mr_xstrndup("abcdef", 3);
    assert_string_equal(p, "abc");
    free(p);
    /* by length: NUL bytes inside are copied, one more ends it */
    p = mr_xstrndup("a\0b", 3);
    assert_memory_equal(p, "a\0b\0", 4);
    free(p);
    p = mr_xcalloc(0, 0); /* never NULL, even for nothing */
    assert_non_null(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_grow_from_empty),
        cmocka_unit_test(test_alloc_grow_by_half_or_to_the_need),
        cmocka_unit_test(test_alloc_grow_untouched_when_it_fits),
        cmocka_unit_test(test_alloc_grow_keeps_elements_in_a_push_loop),
        cmocka_unit_test(test_xgrow_writes_the_capacity_back),
        cmocka_unit_test(test_xgrow_aborts_when_the_size_overflows),
        cmocka_unit_test(test_xstrdup_and_xstrndup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
