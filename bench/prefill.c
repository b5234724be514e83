/* SPDX-License-Identifier: MIT */
/*
 * prefill.c - fills a store with finished messages, for the retention benchmark.
 *
 *   msgrelay-bench-prefill STORE_URI COUNT AGE_SECONDS
 *
 * Inserts COUNT messages in state succeed, each with one succeed step, that
 * finished AGE_SECONDS ago (spread over the COUNT milliseconds before that),
 * through the store interface (mr_store_msg_insert_many) in transactions of
 * 10,000: a store "already holding" a long history. With AGE_SECONDS past
 * --retention all of them are due for deletion, so a relay started on the
 * store with retention on deletes them while the benchmark runs (the worst
 * case); with --retention 0 they only sit in the tables. Gids are
 * "old-N"; a store prefilled once is copied for each run (bench/retention).
 * Single-threaded; exits 1 with the store's message on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/model.h"
#include "store/store.h"

/* Messages per transaction, and per insert_many call. */
#define TX_ROWS 10000

/* old - finished message number @i, done at @done. Owned result. */
static struct mr_msg *old(long i, int64_t done)
{
    struct mr_msg *m = mr_msg_new(1);
    char gid[64];
    char payload[64];

    snprintf(gid, sizeof(gid), "old-%ld", i);
    snprintf(payload, sizeof(payload), "{\"n\":%ld}", i);
    m->gid = mr_xstrdup(gid);
    m->state = MR_MSG_SUCCEED;
    m->protocol = mr_xstrdup("http");
    m->create_ms = done - 50;
    m->update_ms = done;
    m->finish_ms = done;
    m->next_cron_ms = done - 50;
    m->next_cron_interval = 10;
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup("http://127.0.0.1:9/bench");
    m->steps[0].payload = mr_xstrdup(payload);
    m->steps[0].payload_len = strlen(payload);
    m->steps[0].state = MR_STEP_SUCCEED;
    m->steps[0].attempts = 1;
    m->steps[0].create_ms = done - 50;
    m->steps[0].update_ms = done;
    m->steps[0].finish_ms = done;
    return m;
}

int main(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    struct mr_msg **v;
    long count;
    long age;
    long i;
    int64_t base;
    int rc;

    if (argc != 4 || (count = atol(argv[2])) <= 0 || (age = atol(argv[3])) < 0) {
        fprintf(stderr, "usage: %s STORE_URI COUNT AGE_SECONDS\n", argv[0]);
        return 2;
    }
    base = mr_now_ms() - (int64_t)age * 1000 - count;
    v = mr_xcalloc(TX_ROWS, sizeof(*v));
    rc = mr_store_open(argv[1], &s, &err);
    for (i = 0; rc == 0 && i < count; i += TX_ROWS) {
        long n = count - i < TX_ROWS ? count - i : TX_ROWS;
        long j;

        for (j = 0; j < n; j++)
            v[j] = old(i + j, base + i + j);
        rc = mr_store_begin(s, &err);
        if (rc == 0)
            rc = mr_store_msg_insert_many(s, v, (size_t)n, &err);
        if (rc == 0)
            rc = mr_store_commit(s, &err);
        else
            mr_store_rollback(s);
        for (j = 0; j < n; j++)
            mr_msg_free(v[j]);
    }
    free(v);
    mr_store_close(s);
    if (rc != 0) {
        fprintf(stderr, "prefill: %s\n", err.msg);
        return 1;
    }
    return 0;
}
