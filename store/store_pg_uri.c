/* SPDX-License-Identifier: MIT */
/*
 * store_pg_uri.c - the PostgreSQL store URI, "//[USER[:PASS]@][HOST[:PORT]]/DB
 * [?name=value&...]" after "postgres:" or "postgresql:", as libpq reads it:
 * any of libpq's connection parameters may be a query parameter (sslmode,
 * connect_timeout, application_name, host=/socket/dir, options, ...), USER,
 * PASS and DB may be %-escaped. It is checked here (libpq's own parser, so
 * what is accepted is exactly what libpq will connect with), and where it
 * points is kept for messages.
 *
 * Must not: connect, or repeat the password in an error text.
 * Threads: any. Errors: MR_EINVAL naming what is wrong.
 */
#include "store/store_pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* conninfo_value - the value of @key among libpq's parsed options, or NULL. */
static const char *conninfo_value(const PQconninfoOption *o, const char *key)
{
    for (; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, key) == 0)
            return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
    }
    return NULL;
}

/* parse_error - MR_EINVAL for @uri, which libpq refused, told without its password. */
static int parse_error(const char *uri, struct mr_err *err)
{
    char *shown = mr_store_uri_redacted(uri);
    char *why = NULL;
    PQconninfoOption *o = PQconninfoParse(shown, &why);
    size_t n;
    int code;

    if (o != NULL) /* what libpq refused was in the password */
        code = mr_err_set(err, MR_EINVAL, "store: postgres uri: bad password part");
    else if (why != NULL && (n = strcspn(why, "\n")) > 0)
        code = mr_err_set(err, MR_EINVAL, "store: postgres uri: %.*s", (int)n, why);
    else
        code = mr_err_set(err, MR_EINVAL, "store: postgres uri: not a connection URI");
    PQconninfoFree(o);
    PQfreemem(why);
    free(shown);
    return code;
}

/* pg_conf_free - free what pg_uri_parse() filled in. */
void pg_conf_free(struct pg_conf *c)
{
    free(c->uri);
    free(c->where);
    memset(c, 0, sizeof(*c));
}

/*
 * pg_uri_parse - @rest, the URI after its scheme, into @c. A database name is
 * required (libpq would otherwise take the user's name); the rest defaults as
 * libpq's do (host: the local socket, port 5432).
 */
int pg_uri_parse(const char *rest, struct pg_conf *c, struct mr_err *err)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    PQconninfoOption *o;
    const char *host;
    const char *port;
    const char *db;
    char *why = NULL;

    memset(c, 0, sizeof(*c));
    if (strncmp(rest, "//", 2) != 0)
        return mr_err_set(err, MR_EINVAL,
                          "store: postgres uri must be postgres://USER:PASS@HOST:PORT/DB");
    mr_buf_adds(&b, "postgresql:");
    mr_buf_adds(&b, rest);
    c->uri = mr_buf_detach(&b, NULL);
    o = PQconninfoParse(c->uri, &why);
    PQfreemem(why);
    if (o == NULL)
        return parse_error(c->uri, err);
    host = conninfo_value(o, "host");
    port = conninfo_value(o, "port");
    db = conninfo_value(o, "dbname");
    if (db == NULL) {
        PQconninfoFree(o);
        return mr_err_set(err, MR_EINVAL, "store: postgres uri has no database (.../DB)");
    }
    if (host == NULL)
        host = conninfo_value(o, "hostaddr");
    if (host != NULL && host[0] == '/')
        mr_buf_addf(&b, "%s (port %s)/%s", host, port != NULL ? port : "5432", db);
    else
        mr_buf_addf(&b, "%s:%s/%s", host != NULL ? host : "localhost",
                    port != NULL ? port : "5432", db);
    c->where = mr_buf_detach(&b, NULL);
    PQconninfoFree(o);
    return 0;
}
