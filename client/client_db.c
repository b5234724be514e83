/* SPDX-License-Identifier: MIT */
/*
 * client_db.c - mr_client_do_and_submit_db: a message and a local database
 * transaction made atomic in effect (the rule once, mr_client__do_and_submit;
 * MySQL's local step here, PostgreSQL's in client_db_pg.c), in exactly the order of DTM's
 * DoAndSubmitDB: prepare; barrier row + the caller's work in one
 * transaction; then submit, abort, or ask the back-check first when the
 * local outcome is unclear (msgrelay/client_db.h has the whole rule).
 *
 * Must not: run the callback when prepare failed, submit when the local
 * outcome is unclear without asking the back-check first, or abort a message
 * whose local transaction may have committed. When in doubt it does neither
 * and leaves the decision to the server's back-check.
 *
 * Thread: the caller's (the message and the MYSQL connection are its own).
 * Errors: the MR_CLIENT_* result of the local step when it did not succeed,
 * else submit's; the caller's buffer says what was done after it.
 */
#include "msgrelay/client_db.h"

#include "client/client_int.h"
#include "common/buf.h"

/* Cap on the combined message. */
#define MSG_MAX 4096

/* local_result - the MR_CLIENT_* result do_and_submit returns for barrier result @b. */
static int local_result(int b)
{
    switch (b) {
    case MR_BARRIER_SUCCESS:
        return MR_CLIENT_SUCCESS;
    case MR_BARRIER_FAILURE:
        return MR_CLIENT_FAILURE;
    case MR_BARRIER_DUPLICATED:
        return MR_CLIENT_DUPLICATED;
    case MR_BARRIER_EINVAL:
        return MR_CLIENT_EINVAL;
    default:
        return MR_CLIENT_ERROR; /* error, ongoing, or a value we do not know */
    }
}

/*
 * settle_unclear - the local outcome is unclear (duplicated, an error, a lost
 * COMMIT): ask @qp as the server would, then abort (rolled back), submit
 * (committed) or leave it (no answer). Appends what happened to @msg.
 */
static void settle_unclear(struct mr_client_msg *m, const char *qp, struct mr_buf *msg)
{
    char why[512];
    int bc;
    int rc;

    bc = mr_client_query_prepared(m, qp, why, sizeof(why));
    if (bc == MR_CLIENT_FAILURE) {
        rc = mr_client_abort(m, why, sizeof(why));
        mr_buf_addf(msg, "; back-check: rolled back; %s",
                    rc == MR_CLIENT_SUCCESS ? "abort: done" : why);
    } else if (bc == MR_CLIENT_SUCCESS) {
        rc = mr_client_submit(m, why, sizeof(why));
        mr_buf_addf(msg, "; back-check: committed; %s",
                    rc == MR_CLIENT_SUCCESS ? "submit: done" : why);
    } else {
        mr_buf_addf(msg, "; %s; left to the server's back-check", why);
    }
}

int mr_client__do_and_submit(struct mr_client_msg *m, const char *query_prepared,
                             mr_client__local_fn local, void *ctx, char *errbuf, size_t errlen)
{
    struct mr_buf msg = MR_BUF_INIT(MSG_MAX);
    struct mr_barrier *b = NULL;
    char why_local[512];
    int rc;
    int lb;

    if (local == NULL || query_prepared == NULL)
        return mr_client__finish(MR_CLIENT_EINVAL, "do_and_submit_db: missing argument", errbuf,
                                 errlen);
    /* 1. the barrier first: a bad gid or table must not leave a prepared message behind */
    lb = mr_barrier_new(&b, "msg", m->gid, "00", "msg", why_local, sizeof(why_local));
    if (lb == MR_BARRIER_SUCCESS)
        lb = mr_barrier_set_table(b, m->barrier_table, why_local, sizeof(why_local));
    if (lb != MR_BARRIER_SUCCESS) {
        mr_barrier_free(b);
        return mr_client__finish(MR_CLIENT_EINVAL, why_local, errbuf, errlen);
    }

    /* 2. prepare; on any error the business code does not run */
    rc = mr_client_prepare(m, query_prepared, errbuf, errlen);
    if (rc != MR_CLIENT_SUCCESS) {
        mr_barrier_free(b);
        return rc;
    }

    /* 3. barrier row and the caller's work, one local transaction */
    lb = local(b, ctx, why_local, sizeof(why_local));
    mr_barrier_free(b);

    /* 4. decide */
    if (lb == MR_BARRIER_SUCCESS)
        return mr_client_submit(m, errbuf, errlen);
    rc = local_result(lb);
    mr_buf_addf(&msg, "local transaction: %s", why_local);
    if (lb == MR_BARRIER_FAILURE) {
        char why[512];
        int ab = mr_client_abort(m, why, sizeof(why));

        mr_buf_addf(&msg, "; %s", ab == MR_CLIENT_SUCCESS ? "abort: done" : why);
    } else {
        settle_unclear(m, query_prepared, &msg);
    }
    rc = mr_client__finish(rc, msg.p, errbuf, errlen);
    mr_buf_release(&msg);
    return rc;
}

/* ---- MySQL/MariaDB ---- */

/* The caller's connection and callback for the local step. */
struct my_local {
    MYSQL *db;
    mr_barrier_fn fn;
    void *arg;
};

static int my_local(struct mr_barrier *b, void *ctx, char *errbuf, size_t errlen)
{
    struct my_local *l = ctx;

    return mr_barrier_call(b, l->db, l->fn, l->arg, errbuf, errlen);
}

int mr_client_do_and_submit_db(struct mr_client_msg *m, const char *query_prepared, MYSQL *db,
                               mr_barrier_fn fn, void *arg, char *errbuf, size_t errlen)
{
    struct my_local l = {db, fn, arg};

    if (db == NULL || fn == NULL)
        return mr_client__finish(MR_CLIENT_EINVAL, "do_and_submit_db: missing argument", errbuf,
                                 errlen);
    return mr_client__do_and_submit(m, query_prepared, my_local, &l, errbuf, errlen);
}
