/* SPDX-License-Identifier: MIT */
/*
 * prefill.c - fills a store with a long history, for the retention and the
 * large-store benchmarks.
 *
 *   msgrelay-bench-prefill STORE_URI COUNT AGE_SECONDS [WAITING]
 *
 * Inserts COUNT messages through the store interface (mr_store_msg_insert_many)
 * in transactions of 10,000: a store "already holding" a long history. Gids
 * are "old-N"; a store prefilled once is copied for each run.
 *
 * COUNT - WAITING of them are finished, one step each, done AGE_SECONDS ago
 * (spread over the COUNT milliseconds before that). With AGE_SECONDS past
 * --retention all of them are due for deletion, so a relay started on the
 * store with retention on deletes them while the benchmark runs (the worst
 * case, bench/retention); with --retention 0, or a younger AGE_SECONDS, they
 * only sit in the tables.
 *
 * Without WAITING all are succeed (bench/retention). With it, 3 in 100 of the
 * finished ones are failed (aborted), and WAITING of them, spread evenly among
 * the finished ones, are unfinished but not due for a month: prepared messages
 * waiting for their back-check (4 in 10), submitted messages delayed into the
 * future (5 in 10), and parked ones (1 in 10) - the rows a relay's due scan
 * must skip (bench/large).
 *
 * Prints a progress line to stderr every 1,000,000 messages. Single-threaded;
 * exits 1 with the store's message on any error.
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

/* Messages between two progress lines. */
#define PROGRESS_ROWS 1000000

/* How far in the future a waiting message is next looked at: 30 days, in ms. */
#define WAIT_AHEAD_MS (INT64_C(30) * 86400 * 1000)

/*
 * old - message number @i, finished at @done; or, when @waiting > 0, the
 * (@waiting - 1)-th waiting one, created then; with @mix, 3 in 100 finished
 * ones are failed. Owned result.
 */
static struct mr_msg *old(long i, int64_t done, int64_t waiting, int mix)
{
    struct mr_msg *m = mr_msg_new(1);
    char gid[64];
    char payload[64];

    snprintf(gid, sizeof(gid), "old-%ld", i);
    snprintf(payload, sizeof(payload), "{\"n\":%ld}", i);
    m->gid = mr_xstrdup(gid);
    m->protocol = mr_xstrdup("http");
    m->create_ms = done - 50;
    m->update_ms = done;
    m->next_cron_interval = 10;
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup("http://127.0.0.1:9/bench");
    m->steps[0].payload = mr_xstrdup(payload);
    m->steps[0].payload_len = strlen(payload);
    m->steps[0].create_ms = done - 50;
    if (waiting) {
        int kind = (int)((waiting - 1) % 10);

        m->state = kind < 4 ? MR_MSG_PREPARED : kind < 9 ? MR_MSG_SUBMITTED : MR_MSG_PARKED;
        if (m->state == MR_MSG_PREPARED)
            m->query_prepared = mr_xstrdup("http://127.0.0.1:9/query");
        if (m->state == MR_MSG_SUBMITTED)
            m->delay = 30 * 86400;
        m->next_cron_ms = done + WAIT_AHEAD_MS;
        m->steps[0].state = MR_STEP_PREPARED;
        m->steps[0].update_ms = done - 50;
        return m;
    }
    m->state = mix && i % 100 >= 97 ? MR_MSG_FAILED : MR_MSG_SUCCEED;
    if (m->state == MR_MSG_SUCCEED)
        m->finish_ms = done;
    else
        m->rollback_ms = done;
    m->next_cron_ms = done - 50;
    m->steps[0].state = m->state == MR_MSG_SUCCEED ? MR_STEP_SUCCEED : MR_STEP_PREPARED;
    m->steps[0].attempts = 1;
    m->steps[0].update_ms = done;
    m->steps[0].finish_ms = m->state == MR_MSG_SUCCEED ? done : 0;
    return m;
}

int main(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    struct mr_msg **v;
    long count;
    long age;
    long waiting = 0;
    long i;
    int64_t base;
    int64_t t0 = mr_mono_ms();
    int rc;

    if ((argc != 4 && argc != 5) || (count = atol(argv[2])) <= 0 || (age = atol(argv[3])) < 0 ||
        (argc == 5 && ((waiting = atol(argv[4])) < 0 || waiting > count))) {
        fprintf(stderr, "usage: %s STORE_URI COUNT AGE_SECONDS [WAITING]\n", argv[0]);
        return 2;
    }
    base = mr_now_ms() - (int64_t)age * 1000 - count;
    v = mr_xcalloc(TX_ROWS, sizeof(*v));
    rc = mr_store_open(argv[1], &s, &err);
    for (i = 0; rc == 0 && i < count; i += TX_ROWS) {
        long n = count - i < TX_ROWS ? count - i : TX_ROWS;
        long j;

        for (j = 0; j < n; j++) {
            int64_t k = i + j;
            /* row k is waiting when WAITING / COUNT of k crosses an integer: evenly spread */
            int64_t w = (k + 1) * waiting / count;

            if (w == k * waiting / count)
                w = 0;
            v[j] = old((long)k, base + k, w, argc == 5);
        }
        rc = mr_store_begin(s, &err);
        if (rc == 0)
            rc = mr_store_msg_insert_many(s, v, (size_t)n, &err);
        if (rc == 0)
            rc = mr_store_commit(s, &err);
        else
            mr_store_rollback(s);
        for (j = 0; j < n; j++)
            mr_msg_free(v[j]);
        if (rc == 0 && (i + n) % PROGRESS_ROWS == 0) {
            int64_t ms = mr_mono_ms() - t0;

            fprintf(stderr, "prefill: %ld of %ld messages, %.0f s, %.0f/s\n", i + n, count,
                    (double)ms / 1000, (double)(i + n) * 1000 / (double)(ms > 0 ? ms : 1));
        }
    }
    free(v);
    mr_store_close(s);
    if (rc != 0) {
        fprintf(stderr, "prefill: %s\n", err.msg);
        return 1;
    }
    return 0;
}
