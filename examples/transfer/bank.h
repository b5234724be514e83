/* SPDX-License-Identifier: MIT */
/*
 * bank.h - the database side of the bank-transfer example, one table of
 * functions per engine: bank_mysql.c (MySQL/MariaDB, msgrelay/client_db.h)
 * and bank_pg.c (PostgreSQL, msgrelay/client_db_pg.h). transfer.c picks one
 * by the scheme of --db and stays free of either client library.
 *
 * Each function opens its own connection to @uri and closes it (a
 * connection belongs to one thread; the server has one per request).
 * Errors: MR_* results with a message in @err; nothing aborts on input.
 */
#ifndef MR_EXAMPLES_TRANSFER_BANK_H
#define MR_EXAMPLES_TRANSFER_BANK_H

#include <stddef.h>

#include <jansson.h>

#include "msgrelay/client.h"

/* An account change, filled in by the barrier callbacks. */
struct change {
    long long user_id;
    long long amount;
    char balance[32]; /* the new balance */
    char why[256];
};

struct bank_engine {
    const char *scheme;  /* "mysql://", "postgres://" */
    const char *scheme2; /* another spelling, or NULL */
    /* global initialisation, once before any thread; 0 or -1 */
    int (*init)(void);
    void (*cleanup)(void);
    /* run the SQL statements of file @path; 0 or -1 with the reason in @err */
    int (*schema)(const char *uri, const char *path, char *err, size_t errlen);
    /* TransOut: debit @c->user_id by @c->amount inside do_and_submit_db for @m */
    int (*transfer)(const char *uri, struct mr_client_msg *m, const char *qp, struct change *c,
                    char *err, size_t errlen);
    /* TransIn: credit @c through the barrier of the step in @query; the HTTP status,
     * *body (static) and the barrier's *result */
    int (*trans_in)(const char *uri, const char *table, const char *query, struct change *c,
                    const char **body, int *result, char *err, size_t errlen);
    /* every account's balance, {"1":"970.00",...}, or NULL with the reason in @err */
    json_t *(*balances)(const char *uri, char *err, size_t errlen);
};

/*
 * bank_read_file - the whole of file @path (at most 1 MiB), NUL-terminated;
 * owned result (free()), its length in *@len; NULL with the reason in @err.
 */
char *bank_read_file(const char *path, size_t *len, char *err, size_t errlen);

extern const struct bank_engine bank_mysql;
extern const struct bank_engine bank_pg;

#endif
