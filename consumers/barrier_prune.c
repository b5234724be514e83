/* SPDX-License-Identifier: MIT */
/*
 * barrier_prune.c - pruning old message barrier rows (see msgrelay/barrier.h,
 * mr_barrier_prune) in bounded batches, and connecting by a mysql:// URI for
 * callers that have none open (`msgrelay barrier-prune`, the back-check
 * server).
 *
 * Must not: delete rows of other transaction types, or build SQL from values
 * (the cutoff and the batch are parameters; only the checked table name is
 * pasted in). Thread: the caller's; a MYSQL connection belongs to one thread
 * at a time. Errors: MR_BARRIER_* codes with a message in the caller's buffer.
 */
#include "msgrelay/barrier.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/sdk.h"
#include "consumers/barrier_int.h"
#include "consumers/consumer_int.h"

/* Cap on the statement's text: the fixed statement plus a checked table name. */
#define SQL_MAX 1024

/* Connect, read and write timeouts of mr_barrier_connect(), seconds. */
#define CONNECT_TIMEOUT_S 10

void mr_barrier__pause(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

/* bind_ll - bind *@v as a signed 64-bit integer parameter. */
static void bind_ll(MYSQL_BIND *b, long long *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
}

int mr_barrier__prune_check(const void *db, const char **table, long long older_than_s,
                            unsigned batch, int flags, struct mr_err *err)
{
    if (*table == NULL)
        *table = MR_BARRIER_TABLE_DEFAULT;
    if (db == NULL)
        return mr_err_set(err, MR_EINVAL, "barrier prune: no connection");
    if (mr_sdk_check_table(*table, err) != 0)
        return MR_EINVAL;
    if (older_than_s < 0 || older_than_s > 100LL * 365 * 86400)
        return mr_err_set(err, MR_EINVAL, "barrier prune: cutoff %lld s is outside 0..%lld s",
                          older_than_s, 100LL * 365 * 86400);
    if (older_than_s < MR_BARRIER_PRUNE_MIN_S && (flags & MR_BARRIER_PRUNE_FORCE) == 0)
        return mr_err_set(err, MR_EINVAL,
                          "barrier prune: a cutoff of %lld s is under %d s: rows of messages "
                          "still being back-checked or delivered could go (force it if you mean "
                          "it)",
                          older_than_s, MR_BARRIER_PRUNE_MIN_S);
    if (batch < 1 || batch > MR_BARRIER_PRUNE_BATCH_MAX)
        return mr_err_set(err, MR_EINVAL, "barrier prune: batch must be 1 to %d rows",
                          MR_BARRIER_PRUNE_BATCH_MAX);
    return 0;
}

int mr_barrier_prune(MYSQL *db, const char *table, long long older_than_s, unsigned batch,
                     unsigned pause_ms, int flags, unsigned long long *deleted, char *errbuf,
                     size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;
    char sql[SQL_MAX];
    MYSQL_BIND bind[2];
    MYSQL_STMT *st;
    long long cutoff = older_than_s;
    long long limit = batch;
    unsigned long long total = 0;
    my_ulonglong n;
    int rc = MR_BARRIER_SUCCESS;

    if (deleted != NULL)
        *deleted = 0;
    if (mr_barrier__prune_check(db, &table, older_than_s, batch, flags, &err) != 0)
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    /* the table name is checked above: letters, digits, '_', '$' and one '.' */
    snprintf(sql, sizeof(sql),
             "DELETE FROM %s WHERE trans_type = 'msg' "
             "AND create_time < DATE_SUB(NOW(), INTERVAL ? SECOND) "
             "ORDER BY create_time, id LIMIT ?",
             table);
    st = mysql_stmt_init(db);
    if (st == NULL) {
        mr_err_set(&err, MR_ESTORE, "barrier prune: %s", mysql_error(db));
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    bind_ll(&bind[0], &cutoff);
    bind_ll(&bind[1], &limit);
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0 ||
        mysql_stmt_bind_param(st, bind) != 0) {
        mr_err_set(&err, MR_ESTORE, "barrier prune: %s", mysql_stmt_error(st));
        mysql_stmt_close(st);
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    for (;;) {
        /* autocommit is the connection's: make each batch its own transaction either way */
        if (mysql_autocommit(db, 1) != 0 || mysql_stmt_execute(st) != 0) {
            mr_err_set(&err, MR_ESTORE, "barrier prune: %s after %llu rows",
                       mysql_stmt_errno(st) != 0 ? mysql_stmt_error(st) : mysql_error(db), total);
            rc = MR_BARRIER_ERROR;
            break;
        }
        n = mysql_stmt_affected_rows(st);
        total += (unsigned long long)n;
        if (deleted != NULL)
            *deleted = total;
        if (n < (my_ulonglong)batch)
            break;
        mr_barrier__pause(pause_ms);
    }
    mysql_stmt_close(st);
    return mr_barrier__finish(rc, &err, errbuf, errlen);
}

int mr_barrier_connect(MYSQL **out, const char *uri, char *errbuf, size_t errlen)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_consumer__uri u;
    unsigned int timeout = CONNECT_TIMEOUT_S;
    MYSQL *db;

    *out = NULL;
    if (mr_consumer__parse_uri(uri, &u, &err) != 0)
        return mr_barrier__finish(MR_BARRIER_EINVAL, &err, errbuf, errlen);
    db = mysql_init(NULL);
    if (db == NULL) {
        mr_err_set(&err, MR_EUNAVAIL, "mysql_init failed");
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    if (mysql_real_connect(db, u.host, u.user, u.pass, u.db, u.port, NULL, 0) == NULL) {
        mr_err_set(&err, MR_EUNAVAIL, "connect to mysql %s:%u: %s", u.host, u.port,
                   mysql_error(db));
        mysql_close(db);
        memset(&u, 0, sizeof(u));
        return mr_barrier__finish(MR_BARRIER_ERROR, &err, errbuf, errlen);
    }
    memset(&u, 0, sizeof(u));
    *out = db;
    return mr_barrier__finish(MR_BARRIER_SUCCESS, &err, errbuf, errlen);
}
