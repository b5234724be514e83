/* SPDX-License-Identifier: MIT */
/*
 * bank.h - the database side of the bank-transfer example, one table of
 * functions per engine: bank_mysql.c (MySQL/MariaDB, msgrelay/client_db.h)
 * and bank_pg.c (PostgreSQL, msgrelay/client_db_pg.h). transfer.c picks one
 * by the scheme of --db and holds what both share: the debit and the credit
 * (bank_debit, bank_credit), the connection's life around each request.
 *
 * A connection (@db: MYSQL * or PGconn *) belongs to one thread; transfer.c
 * opens one per request. Errors: MR_* results with a message in @err;
 * nothing aborts on input.
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

/* The statements of the example, in the engine's placeholder syntax. */
struct bank_sql {
    const char *debit;   /* (amount, user_id, amount): balance -= amount if enough */
    const char *credit;  /* (amount, user_id): balance += amount */
    const char *balance; /* (user_id): the balance as text */
};

struct bank_engine {
    const char *scheme;  /* "mysql://", "postgres://" */
    const char *scheme2; /* another spelling, or NULL */
    struct bank_sql sql;
    /* global initialisation, once before any thread; 0 or -1 */
    int (*init)(void);
    void (*cleanup)(void);
    /* a new connection to @uri, or NULL with the reason in @err */
    void *(*open)(const char *uri, char *err, size_t errlen);
    void (*close)(void *db);
    /* run the SQL text @sql (a whole --schema file); 0 or -1 with the reason in @err */
    int (*schema)(void *db, const char *sql, char *err, size_t errlen);
    /* @sql with the @n integer @params; changed rows to *@affected, and when @out is
     * not NULL the first column of the first row; 0 or -1 with the reason in @c->why */
    int (*stmt)(void *db, const char *sql, const long long *params, int n,
                unsigned long long *affected, char *out, size_t outsize, struct change *c);
    /* TransOut: bank_debit(@c) inside the engine's do_and_submit_db for @m */
    int (*transfer)(void *db, struct mr_client_msg *m, const char *qp, struct change *c,
                    char *err, size_t errlen);
    /* TransIn: bank_credit(@c) through the engine's mr_barrier_http_step */
    int (*trans_in)(void *db, const char *table, const char *query, struct change *c,
                    const char **body, int *result, char *err, size_t errlen);
    /* every account's balance, {"1":"970.00",...}, or NULL with the reason in @err */
    json_t *(*balances)(void *db, char *err, size_t errlen);
};

/*
 * bank_debit / bank_credit - the barrier callbacks' work on @db of engine @e
 * (transfer.c): not enough money, or no such account, is a business failure
 * (MR_BARRIER_FAILURE); a failed statement MR_BARRIER_ERROR.
 */
int bank_debit(const struct bank_engine *e, void *db, struct change *c);
int bank_credit(const struct bank_engine *e, void *db, struct change *c);

extern const struct bank_engine bank_mysql;
extern const struct bank_engine bank_pg;

#endif
