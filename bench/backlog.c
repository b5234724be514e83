/* SPDX-License-Identifier: MIT */
/*
 * backlog.c - writes a backlog of committed messages for the drain benchmark.
 *
 *   msgrelay-bench-backlog STORE_URI COUNT URL
 *
 * Inserts COUNT messages in state submitted, due now, each with one step to
 * URL (e.g. kafka://bench), through the store interface in transactions of
 * 1000, as if the intake had accepted them while no relay was running. The
 * drain benchmark then starts a relay on the store and times the delivery.
 * Single-threaded; exits 1 with the store's message on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/model.h"
#include "store/store.h"

/* add - insert message number @i. */
static int add(struct mr_store *s, long i, const char *url, int64_t now, struct mr_err *err)
{
    struct mr_msg *m = mr_msg_new(1);
    char gid[64];
    char payload[64];
    int rc;

    snprintf(gid, sizeof(gid), "drain-%ld", i);
    snprintf(payload, sizeof(payload), "{\"n\":%ld}", i);
    m->gid = mr_xstrdup(gid);
    m->state = MR_MSG_SUBMITTED;
    m->protocol = mr_xstrdup("http");
    m->create_ms = now;
    m->update_ms = now;
    m->next_cron_ms = now;
    m->next_cron_interval = 1;
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup(url);
    m->steps[0].payload = mr_xstrdup(payload);
    m->steps[0].payload_len = strlen(payload);
    m->steps[0].state = MR_STEP_PREPARED;
    m->steps[0].create_ms = now;
    m->steps[0].update_ms = now;
    rc = mr_store_msg_insert(s, m, err);
    mr_msg_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    int64_t now = mr_now_ms();
    long count;
    long i;
    int rc;

    if (argc != 4 || (count = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: %s STORE_URI COUNT URL\n", argv[0]);
        return 2;
    }
    rc = mr_store_open(argv[1], &s, &err);
    for (i = 0; rc == 0 && i < count; i += 1000) {
        long j;

        rc = mr_store_begin(s, &err);
        for (j = i; rc == 0 && j < count && j < i + 1000; j++)
            rc = add(s, j, argv[3], now, &err);
        if (rc == 0)
            rc = mr_store_commit(s, &err);
        else
            mr_store_rollback(s);
    }
    mr_store_close(s);
    if (rc != 0) {
        fprintf(stderr, "backlog: %s\n", err.msg);
        return 1;
    }
    return 0;
}
