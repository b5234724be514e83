/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c - the writer's memory of just-prepared messages
 * (prepare/prepare_cache.c): take and drop by gid, and its bounds: age, the
 * message's back-check time, the number of messages and their bytes.
 * Single-threaded, no store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/mem.h"
#include "prepare/prepare_int.h"

#define NOW 1000000

/* msg - a prepared message @gid due for its back-check at @next_cron_ms, @payload bytes. */
static struct mr_msg *msg(const char *gid, int64_t next_cron_ms, size_t payload)
{
    struct mr_msg *m = mr_msg_new(1);

    m->gid = mr_xstrdup(gid);
    m->id = 7;
    m->state = MR_MSG_PREPARED;
    m->next_cron_ms = next_cron_ms;
    m->steps[0].url = mr_xstrdup("http://svc/a");
    m->steps[0].payload = mr_xcalloc(payload + 1, 1);
    m->steps[0].payload_len = payload;
    return m;
}

static void test_cache_take_gives_the_message_once_and_drop_forgets(void **state)
{
    struct mr_pcache *c = mr_pcache_new();
    struct mr_msg *m;

    (void)state;
    mr_pcache_put(c, msg("a", NOW + 60000, 10), NOW);
    mr_pcache_put(c, msg("b", NOW + 60000, 10), NOW);
    assert_int_equal(mr_pcache_count(c), 2);
    m = mr_pcache_take(c, "a", NOW + 1);
    assert_non_null(m);
    assert_string_equal(m->gid, "a");
    assert_int_equal(m->id, 7);
    mr_msg_free(m);
    assert_null(mr_pcache_take(c, "a", NOW + 1));
    mr_pcache_drop(c, "b");
    assert_null(mr_pcache_take(c, "b", NOW + 1));
    assert_int_equal(mr_pcache_count(c), 0);
    /* a second put of a gid replaces the first */
    mr_pcache_put(c, msg("a", NOW + 60000, 10), NOW);
    mr_pcache_put(c, msg("a", NOW + 60000, 20), NOW);
    assert_int_equal(mr_pcache_count(c), 1);
    m = mr_pcache_take(c, "a", NOW);
    assert_int_equal(m->steps[0].payload_len, 20);
    mr_msg_free(m);
    mr_pcache_free(c);
}

static void test_cache_forgets_by_age_and_back_check_time(void **state)
{
    struct mr_pcache *c = mr_pcache_new();

    (void)state;
    mr_pcache_put(c, msg("old", NOW + 60000, 10), NOW);
    mr_pcache_put(c, msg("soon", NOW + 100, 10), NOW);  /* back-checked from NOW + 100 */
    mr_pcache_put(c, msg("due", NOW, 10), NOW);         /* due already: not kept */
    assert_int_equal(mr_pcache_count(c), 2);
    assert_null(mr_pcache_take(c, "soon", NOW + 100));
    assert_null(mr_pcache_take(c, "due", NOW));
    mr_pcache_expire(c, NOW + MR_PCACHE_AGE_MS - 1);
    assert_int_equal(mr_pcache_count(c), 1);
    mr_pcache_expire(c, NOW + MR_PCACHE_AGE_MS);
    assert_int_equal(mr_pcache_count(c), 0);
    mr_pcache_put(c, msg("x", NOW + 60000, 10), NOW);
    mr_pcache_put(c, msg("y", NOW + 60000, 10), NOW);
    mr_pcache_clear(c);
    assert_int_equal(mr_pcache_count(c), 0);
    mr_pcache_free(c);
}

static void test_cache_keeps_its_bounds_oldest_out_first(void **state)
{
    struct mr_pcache *c = mr_pcache_new();
    struct mr_msg *m;
    char gid[32];
    size_t i;

    (void)state;
    for (i = 0; i <= MR_PCACHE_ENTRIES; i++) {
        snprintf(gid, sizeof(gid), "g%zu", i);
        mr_pcache_put(c, msg(gid, NOW + 60000, 1), NOW);
    }
    assert_int_equal(mr_pcache_count(c), MR_PCACHE_ENTRIES);
    assert_null(mr_pcache_take(c, "g0", NOW));
    m = mr_pcache_take(c, "g1", NOW);
    assert_non_null(m);
    mr_msg_free(m);
    mr_pcache_clear(c);
    /* bytes: a message over a quarter of them is not kept; big ones push the oldest out */
    mr_pcache_put(c, msg("huge", NOW + 60000, MR_PCACHE_BYTES / 4 + 1), NOW);
    assert_int_equal(mr_pcache_count(c), 0);
    for (i = 0; i < 5; i++) {
        snprintf(gid, sizeof(gid), "big%zu", i);
        mr_pcache_put(c, msg(gid, NOW + 60000, MR_PCACHE_BYTES / 4 - 4096), NOW);
    }
    assert_int_equal(mr_pcache_count(c), 4);
    assert_null(mr_pcache_take(c, "big0", NOW));
    m = mr_pcache_take(c, "big4", NOW);
    assert_non_null(m);
    mr_msg_free(m);
    mr_pcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_take_gives_the_message_once_and_drop_forgets),
        cmocka_unit_test(test_cache_forgets_by_age_and_back_check_time),
        cmocka_unit_test(test_cache_keeps_its_bounds_oldest_out_first),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
