/* SPDX-License-Identifier: MIT */
/*
 * test_identity.c - the relay's process identity (relay/relay_identity.c):
 * what a registration of this process holds, and which holders count as
 * provably dead (a real child process that has exited, a live parent, a pid
 * reused by a process started at another time, another machine).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "relay/relay_int.h"
#include "store/store.h"

/* copy_of - a registration like @me but owned separately (for the holder side). */
static struct mr_store_relay copy_of(const struct mr_store_relay *me)
{
    struct mr_store_relay h = *me;

    h.relay_id = strdup(me->relay_id);
    h.instance = strdup("someone-else");
    h.host = strdup(me->host);
    h.machine = strdup(me->machine);
    return h;
}

/* start_ticks - field 22 of /proc/self/stat, read here independently of the code under test. */
static long long start_ticks(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;
    char *p;
    char *tok;
    int field = 3;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    assert_non_null(p);
    for (tok = strtok(p + 1, " "); tok != NULL; tok = strtok(NULL, " ")) {
        if (field++ == 22)
            return atoll(tok);
    }
    fail_msg("no field 22 in /proc/self/stat");
    return -1;
}

static void test_identity_describes_this_process(void **state)
{
    struct mr_store_relay me;
    struct mr_store_relay again;

    (void)state;
    mr_relay_identity_init(&me, "r1");
    mr_relay_identity_init(&again, "r1");
    assert_string_equal(me.relay_id, "r1");
    assert_int_equal(me.pid, (int64_t)getpid());
    assert_true(me.pid_start > 0);
    assert_int_equal(me.pid_start, start_ticks());
    assert_int_equal(me.pid_start, again.pid_start);
    assert_true(strlen(me.instance) == 32);
    assert_string_not_equal(me.instance, again.instance);
    assert_non_null(strstr(me.machine, "/pid:["));
    assert_string_equal(me.machine, again.machine);
    assert_true(me.host[0] != '\0');
    assert_true(me.started_ms > 0 && me.started_ms <= mr_now_ms());
    mr_store_relay_clear(&me);
    mr_store_relay_clear(&again);
}

static void test_an_exited_process_on_this_machine_is_dead(void **state)
{
    struct mr_store_relay me;
    struct mr_store_relay h;
    pid_t child;
    int status;

    (void)state;
    mr_relay_identity_init(&me, "r1");
    h = copy_of(&me);
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, &status, 0), child);
    h.pid = child;
    assert_true(mr_relay_identity_dead(&me, &h));
    mr_store_relay_clear(&h);
    mr_store_relay_clear(&me);
}

static void test_a_live_process_is_alive_unless_its_pid_was_reused(void **state)
{
    struct mr_store_relay me;
    struct mr_store_relay h;
    int64_t child_start = 0;
    pid_t child;
    int status;
    int up[2];
    int down[2];
    char c;

    (void)state;
    mr_relay_identity_init(&me, "r1");
    /* the holder: a child that sends its own registration's start time, then waits */
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct mr_store_relay mine;

        mr_relay_identity_init(&mine, "r1");
        if (write(up[1], &mine.pid_start, sizeof(mine.pid_start)) < 0 || read(down[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    assert_int_equal(read(up[0], &child_start, sizeof(child_start)), (ssize_t)sizeof(child_start));
    h = copy_of(&me);
    h.pid = child;
    h.pid_start = child_start;
    assert_false(mr_relay_identity_dead(&me, &h));
    /* the same pid with another start time: the holder is gone, its pid reused */
    h.pid_start = child_start + 1;
    assert_true(mr_relay_identity_dead(&me, &h));
    /* another machine's (or pid namespace's) pids mean nothing here */
    free(h.machine);
    h.machine = strdup("another-boot/pid:[1]");
    h.pid_start = child_start + 1;
    assert_false(mr_relay_identity_dead(&me, &h));
    /* nor do those of a holder that could not say where it ran */
    free(h.machine);
    h.machine = strdup("");
    assert_false(mr_relay_identity_dead(&me, &h));
    /* our own pid is never a dead holder */
    free(h.machine);
    h.machine = strdup(me.machine);
    h.pid = me.pid;
    assert_false(mr_relay_identity_dead(&me, &h));
    assert_int_equal(write(down[1], "x", 1), 1);
    assert_int_equal(waitpid(child, &status, 0), child);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    mr_store_relay_clear(&h);
    mr_store_relay_clear(&me);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_describes_this_process),
        cmocka_unit_test(test_an_exited_process_on_this_machine_is_dead),
        cmocka_unit_test(test_a_live_process_is_alive_unless_its_pid_was_reused),
    };

    return cmocka_run_group_tests_name("relay identity", tests, NULL, NULL);
}
