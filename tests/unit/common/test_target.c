/* SPDX-License-Identifier: MIT */
/*
 * test_target.c - the target policy (common/target.c): parsing the allow and
 * deny lists and refusing bad entries, the defaults and "!defaults", the URL
 * verdict without DNS (names, *.suffixes, prefixes, IP literals in their
 * many spellings), and the connect-time verdict on resolved addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "common/target.h"

/* pol - a policy from @allow and @deny, which must parse. */
static struct mr_target_policy *pol(const char *allow, const char *deny)
{
    struct mr_target_policy *p = NULL;
    struct mr_err err = MR_ERR_INIT;

    assert_int_equal(mr_target_policy_parse(allow, deny, &p, &err), 0);
    assert_non_null(p);
    return p;
}

/* url - the verdict on @u under @p. */
static enum mr_target_verdict url(const struct mr_target_policy *p, const char *u)
{
    return mr_target_check_url(p, u);
}

/* addr - the connect-time verdict on the address text @ip under @p for URL verdict @v. */
static bool addr(const struct mr_target_policy *p, const char *ip, enum mr_target_verdict v)
{
    struct sockaddr_in in;
    struct sockaddr_in6 in6;

    memset(&in, 0, sizeof(in));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, ip, &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        return mr_target_addr_ok(p, (struct sockaddr *)&in, v);
    }
    assert_int_equal(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
    in6.sin6_family = AF_INET6;
    return mr_target_addr_ok(p, (struct sockaddr *)&in6, v);
}

static void test_target_bad_entries_are_refused_naming_the_list(void **state)
{
    static const char *const bad[] = {
        "10.0.0.0/33",   "::/129",        "10.0.0.0/",   "10.0.0.0/x", "1.2.3.4/-1",
        "bad host",      "a..b",          "*.",          "*",          "ftp://x/",
        "http://u:p@x/", "http://x/?q=1", "http://x/#f", "-a b",       "a/b",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mr_target_policy *p = (struct mr_target_policy *)1;
        struct mr_err err = MR_ERR_INIT;

        assert_int_equal(mr_target_policy_parse(bad[i], NULL, &p, &err), MR_EINVAL);
        assert_null(p);
        assert_non_null(strstr(err.msg, "--allow-targets: '"));
        if (strchr(bad[i], '@') == NULL)
            assert_non_null(strstr(err.msg, bad[i]));
        else /* a password in a bad entry is not printed */
            assert_null(strstr(err.msg, ":p@"));
        assert_int_equal(mr_target_policy_parse(NULL, bad[i], &p, &err), MR_EINVAL);
        assert_non_null(strstr(err.msg, "--deny-targets: '"));
    }
}

static void test_target_good_entries_parse(void **state)
{
    struct mr_target_policy *p;

    (void)state;
    p = pol(" api.example.com , *.svc.local,10.0.0.0/8,fd00::/8,192.0.2.7,::1,"
            "https://hooks.example.com/in/,http://127.0.0.1:8080 ,METADATA.internal.",
            ",,");
    assert_int_equal(p->allow.n, 9);
    assert_true(p->allow_has_cidr);
    mr_target_policy_free(p);
    mr_target_policy_free(NULL);
}

static void test_target_defaults_deny_link_local_and_metadata(void **state)
{
    struct mr_target_policy *p = pol(NULL, NULL);
    static const char *const denied[] = {
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",          /* 169.254.169.254 as one number */
        "http://0xa9.0xfe.0xa9.0xfe/", /* and in hex */
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]:8080/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "https://Metadata.Google.Internal./",
        "http://metadata.goog/",
        "http://user:pw@169.254.169.254/",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
        assert_int_equal(url(p, denied[i]), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://127.0.0.1:9/x"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "https://api.example.com/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://169.255.0.1/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://x.metadata.google.internal/"), MR_TARGET_ALLOW);
    /* a name resolving into the defaults is caught when connecting */
    assert_false(addr(p, "169.254.169.254", MR_TARGET_ALLOW));
    assert_false(addr(p, "::ffff:169.254.1.1", MR_TARGET_ALLOW));
    assert_false(addr(p, "fe80::abcd", MR_TARGET_ALLOW));
    assert_false(addr(p, "fd00:ec2::254", MR_TARGET_ALLOW));
    assert_true(addr(p, "fd00:ec2::253", MR_TARGET_ALLOW));
    assert_true(addr(p, "10.1.2.3", MR_TARGET_ALLOW));
    assert_true(addr(p, "::1", MR_TARGET_ALLOW));
    mr_target_policy_free(p);
}

static void test_target_deny_adds_to_defaults_unless_dropped(void **state)
{
    struct mr_target_policy *p = pol(NULL, "10.0.0.0/8");
    struct mr_target_policy *q = pol(NULL, "!defaults, 10.0.0.0/8");
    struct mr_target_policy *none = pol(NULL, "!defaults");

    (void)state;
    assert_int_equal(url(p, "http://10.2.3.4/"), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://169.254.169.254/"), MR_TARGET_DENY);
    assert_int_equal(url(q, "http://10.2.3.4/"), MR_TARGET_DENY);
    assert_int_equal(url(q, "http://169.254.169.254/"), MR_TARGET_ALLOW);
    assert_true(addr(q, "169.254.169.254", MR_TARGET_ALLOW));
    assert_false(addr(q, "10.9.9.9", MR_TARGET_ALLOW));
    assert_int_equal(none->deny.n, 0);
    assert_int_equal(url(none, "http://[fe80::1]/"), MR_TARGET_ALLOW);
    mr_target_policy_free(p);
    mr_target_policy_free(q);
    mr_target_policy_free(none);
}

static void test_target_names_suffixes_and_prefixes(void **state)
{
    struct mr_target_policy *p =
        pol(NULL, "blocked.test,*.corp.test,https://api.test/admin/,http://api.test:8080/");

    (void)state;
    assert_int_equal(url(p, "http://BLOCKED.test./x"), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://a.blocked.test/x"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://a.corp.test/"), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://a.b.corp.test:81/"), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://corp.test/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://xcorp.test/"), MR_TARGET_ALLOW);
    /* prefixes: same scheme, host and port (default when none), path prefix */
    assert_int_equal(url(p, "https://api.test/admin/users?x=1"), MR_TARGET_DENY);
    assert_int_equal(url(p, "https://api.test:443/admin/"), MR_TARGET_DENY);
    assert_int_equal(url(p, "https://u:p@api.test/admin/"), MR_TARGET_DENY);
    assert_int_equal(url(p, "https://api.test/administrator"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://api.test/admin/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "https://api.test:8443/admin/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://api.test:8080/anything"), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://api.test/anything"), MR_TARGET_ALLOW);
    /* a prefix is not fooled by userinfo or a longer host */
    assert_int_equal(url(p, "https://api.test.evil/admin/"), MR_TARGET_ALLOW);
    mr_target_policy_free(p);
}

static void test_target_allow_list_admits_only_what_it_names(void **state)
{
    struct mr_target_policy *p =
        pol("https://hooks.test/in/,*.svc.test,192.0.2.0/24,fd00::/8", "bad.svc.test");
    struct mr_target_policy *names = pol("*.svc.test", NULL);

    (void)state;
    assert_int_equal(url(p, "https://hooks.test/in/x"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "https://hooks.test/out/x"), MR_TARGET_CHECK);
    assert_int_equal(url(p, "https://hooks.test@evil.test/in/x"), MR_TARGET_CHECK);
    assert_int_equal(url(p, "http://a.svc.test/"), MR_TARGET_ALLOW);
    /* deny wins */
    assert_int_equal(url(p, "http://bad.svc.test/"), MR_TARGET_DENY);
    /* IP literals are decided at once */
    assert_int_equal(url(p, "http://192.0.2.9/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://[fd00::5]/"), MR_TARGET_ALLOW);
    assert_int_equal(url(p, "http://192.0.3.9/"), MR_TARGET_DENY);
    assert_int_equal(url(p, "http://169.254.169.254/"), MR_TARGET_DENY);
    /* a name the allow list does not name waits for its address */
    assert_int_equal(url(p, "http://other.test/"), MR_TARGET_CHECK);
    assert_true(addr(p, "192.0.2.1", MR_TARGET_CHECK));
    assert_false(addr(p, "192.0.3.1", MR_TARGET_CHECK));
    assert_true(addr(p, "fd00::1", MR_TARGET_CHECK));
    /* a name allowed by name may resolve anywhere but into the deny list */
    assert_true(addr(p, "203.0.113.1", MR_TARGET_ALLOW));
    assert_false(addr(p, "169.254.0.1", MR_TARGET_ALLOW));
    assert_false(addr(p, "192.0.2.1", MR_TARGET_DENY));
    /* without allow CIDRs an unnamed host is refused outright */
    assert_int_equal(url(names, "http://other.test/"), MR_TARGET_DENY);
    assert_int_equal(url(names, "http://10.0.0.1/"), MR_TARGET_DENY);
    mr_target_policy_free(p);
    mr_target_policy_free(names);
}

static void test_target_cidr_edges(void **state)
{
    struct mr_target_policy *p = pol(NULL, "!defaults,10.1.2.128/25,2001:db8::/33,0.0.0.0/0");
    struct mr_target_policy *q = pol(NULL, "!defaults,10.1.2.128/25,2001:db8::/33");

    (void)state;
    assert_false(addr(p, "8.8.8.8", MR_TARGET_ALLOW)); /* /0 holds everything IPv4 */
    assert_true(addr(p, "2001:db9::1", MR_TARGET_ALLOW));
    assert_false(addr(q, "10.1.2.200", MR_TARGET_ALLOW));
    assert_true(addr(q, "10.1.2.127", MR_TARGET_ALLOW));
    assert_false(addr(q, "2001:db8:7fff::1", MR_TARGET_ALLOW));
    assert_true(addr(q, "2001:db8:8000::1", MR_TARGET_ALLOW));
    mr_target_policy_free(q);
    /* an IPv4-mapped block holds the IPv4 addresses, however they are written */
    q = pol(NULL, "!defaults,::ffff:10.0.0.0/104");
    assert_false(addr(q, "10.9.9.9", MR_TARGET_ALLOW));
    assert_false(addr(q, "::ffff:10.9.9.9", MR_TARGET_ALLOW));
    assert_true(addr(q, "11.0.0.1", MR_TARGET_ALLOW));
    assert_int_equal(url(q, "http://10.1.1.1/"), MR_TARGET_DENY);
    assert_int_equal(url(q, "http://[::ffff:10.1.1.1]/"), MR_TARGET_DENY);
    mr_target_policy_free(p);
    mr_target_policy_free(q);
}

static void test_target_null_policy_and_odd_urls(void **state)
{
    struct mr_target_policy *p = pol("api.test", NULL);
    struct sockaddr_in in;

    (void)state;
    assert_int_equal(mr_target_check_url(NULL, "http://169.254.169.254/"), MR_TARGET_ALLOW);
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    assert_true(mr_target_addr_ok(NULL, (struct sockaddr *)&in, MR_TARGET_ALLOW));
    /* what libcurl cannot parse is left to the call, which fails on it */
    assert_int_equal(url(p, "http://a b/"), MR_TARGET_CHECK);
    assert_int_equal(url(p, "http://h:99999/"), MR_TARGET_CHECK);
    in.sin_family = AF_UNIX;
    assert_false(mr_target_addr_ok(p, (struct sockaddr *)&in, MR_TARGET_ALLOW));
    mr_target_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_bad_entries_are_refused_naming_the_list),
        cmocka_unit_test(test_target_good_entries_parse),
        cmocka_unit_test(test_target_defaults_deny_link_local_and_metadata),
        cmocka_unit_test(test_target_deny_adds_to_defaults_unless_dropped),
        cmocka_unit_test(test_target_names_suffixes_and_prefixes),
        cmocka_unit_test(test_target_allow_list_admits_only_what_it_names),
        cmocka_unit_test(test_target_cidr_edges),
        cmocka_unit_test(test_target_null_policy_and_odd_urls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
