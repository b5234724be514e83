/* SPDX-License-Identifier: MIT */
/*
 * test_store_pg_uri.c - the PostgreSQL store URI (store/store_pg_uri.c,
 * pg_uri_parse): libpq's URI with its query parameters, %-escapes, hosts
 * (names, IPv6, a unix socket directory) and ports, where it points for
 * messages, and the inputs it refuses, whose error texts never repeat the
 * password. Pure parsing: no server is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "store/store_pg_int.h"

/*
 * check - pg_uri_parse() of @rest (the URI after "postgres:") answers @want:
 * 0 with c.where = @text and libpq's URI kept whole, or an error whose text
 * says @text and never "secret".
 */
static void check(const char *rest, int want, const char *text)
{
    struct mr_err err = MR_ERR_INIT;
    struct pg_conf c;
    int rc = pg_uri_parse(rest, &c, &err);

    if (rc != want)
        fail_msg("'%s': %d (%s), not %d", rest, rc, err.msg, want);
    if (want == 0) {
        assert_string_equal(c.where, text);
        assert_int_equal(strncmp(c.uri, "postgresql:", 11), 0);
        assert_string_equal(c.uri + 11, rest);
    }
    if (want != 0 && (strstr(err.msg, text) == NULL || strstr(err.msg, "secret") != NULL))
        fail_msg("'%s': error '%s' does not say '%s' or repeats the password", rest, err.msg,
                 text);
    pg_conf_free(&c);
}

/* parsed, refused - check() of a URI accepted (pointing @where) or refused (saying @why). */
static void parsed(const char *rest, const char *where)
{
    check(rest, 0, where);
}

static void refused(const char *rest, const char *why)
{
    check(rest, MR_EINVAL, why);
}

static void test_uri_hosts_ports_and_where(void **state)
{
    (void)state;
    parsed("//app:secret@db.example:5433/shop", "db.example:5433/shop");
    parsed("//app@db/shop", "db:5432/shop");
    parsed("//app:secret@[::1]:6000/shop", "::1:6000/shop");
    parsed("//app:p%40ss@127.0.0.1/sh%6Fp", "127.0.0.1:5432/shop");
    /* a unix socket directory as libpq's host parameter */
    parsed("//app:secret@/shop?host=/var/run/postgresql", "/var/run/postgresql (port 5432)/shop");
    parsed("///shop?host=%2Ftmp%2Fpg&port=5999", "/tmp/pg (port 5999)/shop");
    /* the database as a parameter */
    parsed("//app@db?dbname=shop", "db:5432/shop");
}

static void test_uri_takes_libpq_parameters(void **state)
{
    (void)state;
    parsed("//app@db/shop?sslmode=verify-full&sslrootcert=/etc/ssl/db.pem", "db:5432/shop");
    parsed("//app@db/shop?connect_timeout=10&application_name=relay-eu1", "db:5432/shop");
    parsed("//app@db/shop?options=-c%20lock_timeout%3D5s&target_session_attrs=read-write",
           "db:5432/shop");
}

static void test_uri_refusals_never_repeat_the_password(void **state)
{
    (void)state;
    refused("", "postgres://USER:PASS@HOST:PORT/DB");
    refused("relay", "postgres://USER:PASS@HOST:PORT/DB");
    refused("//app:secret@db:5432", "no database");
    refused("//app:secret@db:5432/", "no database");
    refused("//app:secret@db/shop?nope=1", "nope");
    refused("//app:secret%zz@db/shop", "password");
    refused("//app:secret@db/shop?password=secret&nope=1", "nope");
    refused("//app:secret@[::1/shop", "postgres uri");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_hosts_ports_and_where),
        cmocka_unit_test(test_uri_takes_libpq_parameters),
        cmocka_unit_test(test_uri_refusals_never_repeat_the_password),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
