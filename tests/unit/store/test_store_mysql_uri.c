/* SPDX-License-Identifier: MIT */
/*
 * test_store_mysql_uri.c - the MySQL store URI (store/store_mysql_uri.c,
 * my_uri_parse): user, password and database with %-escapes, hosts (names,
 * IPv6, a list of several) and ports, sockets, the timeout options and their limits, and the
 * inputs it refuses, whose error texts never repeat the password. Pure
 * parsing: no server is needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "store/store_mysql_int.h"

/* parse - my_uri_parse() of @rest (the URI after "mysql:") into @c; its result. */
static int parse(const char *rest, struct my_conf *c, struct mr_err *err)
{
    mr_err_clear(err);
    return my_uri_parse(rest, c, err);
}

/* refused - @rest is MR_EINVAL with an error text containing @why and never "secret". */
static void refused(const char *rest, const char *why)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    assert_int_equal(parse(rest, &c, &err), MR_EINVAL);
    if (strstr(err.msg, why) == NULL)
        fail_msg("'%s': error '%s' does not say '%s'", rest, err.msg, why);
    assert_null(strstr(err.msg, "secret"));
    my_conf_free(&c);
}

static void test_uri_host_port_and_defaults(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    (void)state;
    assert_int_equal(parse("//app:secret@db.example:3307/shop", &c, &err), 0);
    assert_string_equal(c.user, "app");
    assert_string_equal(c.pass, "secret");
    assert_string_equal(c.hosts[0].name, "db.example");
    assert_string_equal(c.db, "shop");
    assert_null(c.socket);
    assert_int_equal(c.hosts[0].port, 3307);
    assert_string_equal(c.where, "db.example:3307");
    assert_int_equal(c.connect_timeout, 3);
    assert_int_equal(c.rw_timeout, 30);
    assert_int_equal(c.lock_wait, 10);
    my_conf_free(&c);

    /* no port: 3306; no password: "" */
    assert_int_equal(parse("//app@db/shop", &c, &err), 0);
    assert_string_equal(c.pass, "");
    assert_int_equal(c.hosts[0].port, 3306);
    assert_string_equal(c.where, "db:3306");
    my_conf_free(&c);

    /* the highest and lowest ports */
    assert_int_equal(parse("//app@db:65535/shop", &c, &err), 0);
    assert_int_equal(c.hosts[0].port, 65535);
    my_conf_free(&c);
    assert_int_equal(parse("//app@db:1/shop", &c, &err), 0);
    assert_int_equal(c.hosts[0].port, 1);
    my_conf_free(&c);
}

static void test_uri_ipv6_hosts(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    (void)state;
    assert_int_equal(parse("//app:pw@[::1]:3310/shop", &c, &err), 0);
    assert_string_equal(c.hosts[0].name, "::1");
    assert_int_equal(c.hosts[0].port, 3310);
    assert_string_equal(c.where, "::1:3310");
    my_conf_free(&c);
    assert_int_equal(parse("//app:pw@[fe80::2]/shop", &c, &err), 0);
    assert_string_equal(c.hosts[0].name, "fe80::2");
    assert_int_equal(c.hosts[0].port, 3306);
    my_conf_free(&c);
}

static void test_uri_host_list_in_order(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    (void)state;
    assert_int_equal(parse("//app:pw@n1:3307,[::1]:3308,n3/shop", &c, &err), 0);
    assert_int_equal(c.nhosts, 3);
    assert_string_equal(c.hosts[0].name, "n1");
    assert_int_equal(c.hosts[0].port, 3307);
    assert_string_equal(c.hosts[1].name, "::1");
    assert_int_equal(c.hosts[1].port, 3308);
    assert_string_equal(c.hosts[2].name, "n3");
    assert_int_equal(c.hosts[2].port, 3306);
    assert_string_equal(c.hosts[2].where, "n3:3306");
    assert_string_equal(c.where, "n1:3307,::1:3308,n3:3306");
    /* a dead node is left sooner with several hosts; one host keeps the single-server default */
    assert_int_equal(c.rw_timeout, 10);
    my_conf_free(&c);
    assert_int_equal(parse("//app:pw@n1,n2/shop?read_timeout=40", &c, &err), 0);
    assert_int_equal(c.rw_timeout, 40);
    my_conf_free(&c);
    assert_int_equal(parse("//app:pw@a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p/shop", &c, &err), 0);
    assert_int_equal(c.nhosts, 16);
    my_conf_free(&c);

    refused("//app:secret@n1,,n3/shop", "needs a host");
    refused("//app:secret@n1,/shop", "needs a host");
    refused("//app:secret@,n1/shop", "needs a host");
    refused("//app:secret@n1,n2:0/shop", "bad port '0'");
    refused("//app:secret@a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/shop", "more than 16 hosts");
    refused("//app:secret@n1,n2/shop?socket=/s", "takes no host list");
}

static void test_uri_percent_escapes_in_user_password_database_and_host(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    (void)state;
    assert_int_equal(parse("//u%40corp:p%3Aw%2fd%25@h%2Dx/my%2Ddb", &c, &err), 0);
    assert_string_equal(c.user, "u@corp");
    assert_string_equal(c.pass, "p:w/d%");
    assert_string_equal(c.hosts[0].name, "h-x");
    assert_string_equal(c.db, "my-db");
    my_conf_free(&c);

    /* an unescaped '@' in the password still works: the last '@' ends it */
    assert_int_equal(parse("//app:p@ss@db/shop", &c, &err), 0);
    assert_string_equal(c.user, "app");
    assert_string_equal(c.pass, "p@ss");
    assert_string_equal(c.hosts[0].name, "db");
    my_conf_free(&c);

    /* a ':' in the password: only the first one ends the user */
    assert_int_equal(parse("//app:a:b@db/shop", &c, &err), 0);
    assert_string_equal(c.pass, "a:b");
    my_conf_free(&c);
}

static void test_uri_socket_replaces_the_host(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    (void)state;
    assert_int_equal(parse("//app:pw@/shop?socket=/run/mysqld/mysqld.sock", &c, &err), 0);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.socket, "/run/mysqld/mysqld.sock");
    assert_string_equal(c.where, "/run/mysqld/mysqld.sock");
    my_conf_free(&c);

    /* escaped, and given with a host: the socket wins (the client library needs host NULL) */
    assert_int_equal(parse("//app:pw@localhost/shop?socket=%2Ftmp%2Fm%20y.sock", &c, &err), 0);
    assert_int_equal(c.nhosts, 0);
    assert_string_equal(c.socket, "/tmp/m y.sock");
    my_conf_free(&c);

    /* the last of two sockets counts */
    assert_int_equal(parse("//app@/shop?socket=/a&socket=/b", &c, &err), 0);
    assert_string_equal(c.socket, "/b");
    my_conf_free(&c);
}

static void test_uri_timeout_options_and_their_limits(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct my_conf c;

    (void)state;
    assert_int_equal(
        parse("//app@db/shop?connect_timeout=5&read_timeout=7&lock_wait_timeout=9", &c, &err),
        0);
    assert_int_equal(c.connect_timeout, 5);
    assert_int_equal(c.rw_timeout, 7);
    assert_int_equal(c.lock_wait, 9);
    my_conf_free(&c);

    /* the bounds, and empty segments between '&'s */
    assert_int_equal(parse("//app@db/shop?&connect_timeout=1&&read_timeout=86400&", &c, &err), 0);
    assert_int_equal(c.connect_timeout, 1);
    assert_int_equal(c.rw_timeout, 86400);
    my_conf_free(&c);

    refused("//app@db/shop?connect_timeout=0", "connect_timeout: not a number of seconds 1..86400");
    refused("//app@db/shop?read_timeout=86401", "read_timeout: not a number of seconds");
    refused("//app@db/shop?lock_wait_timeout=", "lock_wait_timeout: not a number");
    refused("//app@db/shop?lock_wait_timeout=1s", "lock_wait_timeout: not a number");
    refused("//app@db/shop?connect_timeout=-1", "connect_timeout: not a number");
    refused("//app@db/shop?connect_timeout=0000000005", "connect_timeout: not a number");
    refused("//app@db/shop?connect_timeout", "connect_timeout: not a number");
    refused("//app@db/shop?timeout=5", "unknown option 'timeout'");
    refused("//app@db/shop?Socket=/s", "unknown option 'Socket'");
    refused("//app@db/shop?socket=", "bad socket path");
    refused("//app@db/shop?socket=%zz", "bad socket path");
}

static void test_uri_refuses_what_is_not_a_mysql_uri(void **state)
{
    (void)state;
    refused("app:secret@db/shop", "mysql uri must be mysql://USER:PASS@HOST:PORT/DB");
    refused("", "mysql uri must be");
    refused("//db/shop", "has no user");
    refused("//@db/shop", "has no user");
    refused("//app:secret@db", "has no database");
    refused("//app:secret@db/", "has no database");
    refused("//app:secret@db?x/y", "has no database");
    refused("//app:secret@/shop", "needs a host or ?socket=PATH");
    refused("//app:secret@:3306/shop", "needs a host");
}

static void test_uri_refuses_bad_ports_hosts_and_escapes(void **state)
{
    (void)state;
    refused("//app:secret@db:0/shop", "bad port '0'");
    refused("//app:secret@db:65536/shop", "bad port '65536'");
    refused("//app:secret@db:33o6/shop", "bad port '33o6'");
    refused("//app:secret@db:/shop", "bad port ''");
    refused("//app:secret@[::1/shop", "unclosed '[' in host");
    refused("//app:secret@[::1]3306/shop", "bad host");
    refused("//app:secret@d%zzb/shop", "bad host");
    refused("//a%zzpp:secret@db/shop", "bad % escape in user or password");
    refused("//app:se%4@db/shop", "bad % escape in user or password");
    refused("//app:se%00cret@db/shop", "bad % escape in user or password");
    refused("//app:secret@db/sh%0op", "bad database name");
    refused("//app:secret@db/sh%00op", "bad database name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_host_port_and_defaults),
        cmocka_unit_test(test_uri_ipv6_hosts),
        cmocka_unit_test(test_uri_host_list_in_order),
        cmocka_unit_test(test_uri_percent_escapes_in_user_password_database_and_host),
        cmocka_unit_test(test_uri_socket_replaces_the_host),
        cmocka_unit_test(test_uri_timeout_options_and_their_limits),
        cmocka_unit_test(test_uri_refuses_what_is_not_a_mysql_uri),
        cmocka_unit_test(test_uri_refuses_bad_ports_hosts_and_escapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
