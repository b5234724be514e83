/* SPDX-License-Identifier: MIT */
/*
 * client_db_pg.c - mr_client_do_and_submit_db_pg: do_and_submit's rule
 * (client/client_db.c, mr_client__do_and_submit) with its local step on a
 * PostgreSQL connection (msgrelay/client_db_pg.h).
 *
 * Thread: the caller's (the message and the PGconn are its own). Errors: as
 * mr_client_do_and_submit_db.
 */
#include "msgrelay/client_db_pg.h"

#include "client/client_int.h"

/* The caller's connection and callback for the local step. */
struct pg_local {
    PGconn *db;
    mr_barrier_pg_fn fn;
    void *arg;
};

static int pg_local(struct mr_barrier *b, void *ctx, char *errbuf, size_t errlen)
{
    struct pg_local *l = ctx;

    return mr_barrier_call_pg(b, l->db, l->fn, l->arg, errbuf, errlen);
}

int mr_client_do_and_submit_db_pg(struct mr_client_msg *m, const char *query_prepared,
                                  PGconn *db, mr_barrier_pg_fn fn, void *arg, char *errbuf,
                                  size_t errlen)
{
    struct pg_local l = {db, fn, arg};

    if (db == NULL || fn == NULL)
        return mr_client__finish(MR_CLIENT_EINVAL, "do_and_submit_db: missing argument", errbuf,
                                 errlen);
    return mr_client__do_and_submit(m, query_prepared, pg_local, &l, errbuf, errlen);
}
