/* SPDX-License-Identifier: MIT */
/*
 * target.c - the target policy (see target.h): parsing the allow and deny
 * lists, judging a URL without DNS, judging a resolved address.
 *
 * URLs are taken apart by libcurl's URL parser (no handle, no I/O), the one
 * the calls themselves use, so the host judged here is the host called:
 * "http://2852039166/" is 169.254.169.254 to both. Pure; any thread. Bad
 * entries are MR_EINVAL naming the list and the entry; a URL that cannot be
 * parsed is left to the call, which fails on it.
 */
#include "common/target.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/mem.h"
#include "common/url.h"

enum rule_kind {
    RULE_NAME,   /* exact host name */
    RULE_SUFFIX, /* *.suffix: names below suffix */
    RULE_CIDR,   /* address block */
    RULE_PREFIX, /* http(s):// URL prefix */
};

struct mr_target_rule {
    enum rule_kind kind;
    char *name;   /* NAME, SUFFIX (without "*."): lower case, no trailing dot; PREFIX: host */
    char *scheme; /* PREFIX: "http" or "https" */
    long port;    /* PREFIX */
    char *path;   /* PREFIX: at least "/" */
    int family;   /* CIDR: AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};

/* The parts of a URL the rules look at. */
struct url_parts {
    char *scheme; /* lower case */
    char *host;   /* lower case, no brackets, no trailing dot */
    long port;
    char *path;
    bool is_ip;
    int family;
    uint8_t addr[16];
};

static void rule_clear(struct mr_target_rule *r)
{
    free(r->name);
    free(r->scheme);
    free(r->path);
}

static void list_clear(struct mr_target_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        rule_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void mr_target_policy_free(struct mr_target_policy *p)
{
    if (p == NULL)
        return;
    list_clear(&p->allow);
    list_clear(&p->deny);
    free(p);
}

/* lower - @s in lower case, in place; returns @s. */
static char *lower(char *s)
{
    char *c;

    for (c = s; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    return s;
}

/* norm_host - @h (owned) lower-cased without IPv6 brackets or a trailing dot. Owned result. */
static char *norm_host(char *h)
{
    size_t n = strlen(h);

    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        memmove(h, h + 1, n - 2);
        h[n - 2] = '\0';
        n -= 2;
    }
    if (n > 1 && h[n - 1] == '.')
        h[n - 1] = '\0';
    return lower(h);
}

/* parse_ip - whether @s is an IPv4 or IPv6 address; fills @family and @addr. */
static bool parse_ip(const char *s, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        /* ::ffff:a.b.c.d is a.b.c.d */
        if (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            *family = AF_INET;
        }
        return true;
    }
    return false;
}

/* valid_name - whether @s is a host name: dot-separated labels of letters, digits, '-', '_'. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    size_t label = 0;
    size_t i;

    if (n == 0 || n > 253)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

static void url_parts_clear(struct url_parts *u)
{
    free(u->scheme);
    free(u->host);
    free(u->path);
    memset(u, 0, sizeof(*u));
}

/* cfree - a libcurl string as a malloc'd copy (libcurl's freed). */
static char *cfree(char *s)
{
    char *c = mr_xstrdup(s);

    curl_free(s);
    return c;
}

/*
 * split_url - the scheme, host, port and path of http(s) URL @url, with
 * libcurl's parser. @has_extra tells whether it carries userinfo, a query or a
 * fragment (refused in a prefix entry). MR_EINVAL when it is none.
 */
static int split_url(const char *url, struct url_parts *u, bool *has_extra)
{
    CURLU *h = curl_url();
    char *s = NULL;
    char *port = NULL;
    int rc = MR_EINVAL;

    memset(u, 0, sizeof(*u));
    if (h == NULL)
        return MR_EINVAL;
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(h, CURLUPART_SCHEME, &s, 0) != CURLUE_OK)
        goto out;
    u->scheme = lower(cfree(s));
    if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0)
        goto out;
    if (curl_url_get(h, CURLUPART_HOST, &s, 0) != CURLUE_OK)
        goto out;
    u->host = norm_host(cfree(s));
    if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    u->port = strtol(port, NULL, 10);
    curl_free(port);
    if (curl_url_get(h, CURLUPART_PATH, &s, 0) != CURLUE_OK)
        goto out;
    u->path = cfree(s);
    if (has_extra != NULL) {
        static const CURLUPart extra[] = {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_QUERY,
                                          CURLUPART_FRAGMENT};
        size_t i;

        *has_extra = false;
        for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
            if (curl_url_get(h, extra[i], &s, 0) == CURLUE_OK) {
                curl_free(s);
                *has_extra = true;
            }
        }
    }
    u->is_ip = parse_ip(u->host, &u->family, u->addr);
    rc = 0;
out:
    curl_url_cleanup(h);
    if (rc != 0)
        url_parts_clear(u);
    return rc;
}

/* parse_cidr - "ADDR" or "ADDR/BITS" into @r. */
static bool parse_cidr(const char *s, struct mr_target_rule *r)
{
    const char *slash = strchr(s, '/');
    char ip[64];
    size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
    int max;

    if (n == 0 || n >= sizeof(ip))
        return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, r->addr) == 1) {
        r->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, ip, r->addr) == 1) {
        r->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    r->bits = max;
    if (slash != NULL) {
        char *end;
        long b;

        if (slash[1] < '0' || slash[1] > '9')
            return false;
        b = strtol(slash + 1, &end, 10);
        if (*end != '\0' || b < 0 || b > max)
            return false;
        r->bits = (int)b;
    }
    /* addresses are judged with ::ffff:a.b.c.d folded into IPv4: fold such a block too */
    if (r->family == AF_INET6 && r->bits >= 96 &&
        memcmp(r->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        memmove(r->addr, r->addr + 12, 4);
        memset(r->addr + 4, 0, 12);
        r->family = AF_INET;
        r->bits -= 96;
    }
    r->kind = RULE_CIDR;
    return true;
}

/* parse_entry - one list entry @s into @r. */
static bool parse_entry(const char *s, struct mr_target_rule *r)
{
    bool suffix;
    char *name;

    memset(r, 0, sizeof(*r));
    if (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0) {
        struct url_parts u;
        bool extra;

        if (split_url(s, &u, &extra) != 0)
            return false;
        if (extra || u.host[0] == '\0') {
            url_parts_clear(&u);
            return false;
        }
        r->kind = RULE_PREFIX;
        r->scheme = u.scheme;
        r->name = u.host;
        r->port = u.port;
        r->path = u.path;
        return true;
    }
    if (parse_cidr(s, r))
        return true;
    suffix = strncmp(s, "*.", 2) == 0;
    name = norm_host(mr_xstrdup(suffix ? s + 2 : s));
    if (!valid_name(name)) {
        free(name);
        return false;
    }
    r->kind = suffix ? RULE_SUFFIX : RULE_NAME;
    r->name = name;
    return true;
}

/*
 * add_list - append the entries of comma-separated @text to @l. @deny lets
 * "!defaults" through (and sets *no_defaults). @who names the list in errors.
 */
static int add_list(struct mr_target_list *l, const char *text, bool deny, bool *no_defaults,
                    const char *who, struct mr_err *err)
{
    const char *p = text;

    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, ",");
        size_t a = 0;
        size_t b = n;
        char *item;

        while (a < b && isspace((unsigned char)p[a]))
            a++;
        while (b > a && isspace((unsigned char)p[b - 1]))
            b--;
        if (b > a) {
            if (b - a > MR_TARGET_ENTRY_MAX)
                return mr_err_set(err, MR_EINVAL, "%s: an entry is longer than %d bytes", who,
                                  MR_TARGET_ENTRY_MAX);
            if (l->n >= MR_TARGET_MAX_ENTRIES)
                return mr_err_set(err, MR_EINVAL, "%s: more than %d entries", who,
                                  MR_TARGET_MAX_ENTRIES);
            item = mr_xstrndup(p + a, b - a);
            if (deny && strcmp(item, MR_TARGET_NO_DEFAULTS) == 0) {
                *no_defaults = true;
            } else {
                l->v = mr_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
                if (!parse_entry(item, &l->v[l->n])) {
                    char *shown = mr_url_masked(item); /* a prefix may carry a password */

                    mr_err_set(err, MR_EINVAL,
                               "%s: '%.200s' is not a host name, *.suffix, IP address, CIDR or "
                               "http(s):// URL prefix",
                               who, shown);
                    free(shown);
                    free(item);
                    return MR_EINVAL;
                }
                l->n++;
            }
            free(item);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int mr_target_policy_parse(const char *allow, const char *deny, struct mr_target_policy **out,
                           struct mr_err *err)
{
    struct mr_target_policy *p = mr_xcalloc(1, sizeof(*p));
    struct mr_target_list mine = {NULL, 0};
    bool no_defaults = false;
    size_t i;
    int rc;

    *out = NULL;
    rc = add_list(&p->allow, allow, false, NULL, "--allow-targets", err);
    if (rc == 0)
        rc = add_list(&mine, deny, true, &no_defaults, "--deny-targets", err);
    if (rc == 0 && !no_defaults)
        rc = add_list(&p->deny, MR_TARGET_DEFAULT_DENY, false, NULL, "defaults", err);
    if (rc != 0) {
        list_clear(&mine);
        mr_target_policy_free(p);
        return rc;
    }
    /* the defaults first, then the operator's */
    p->deny.v = mr_xrealloc(p->deny.v, (p->deny.n + mine.n + 1) * sizeof(*p->deny.v));
    for (i = 0; i < mine.n; i++)
        p->deny.v[p->deny.n++] = mine.v[i];
    free(mine.v);
    for (i = 0; i < p->allow.n; i++)
        p->allow_has_cidr = p->allow_has_cidr || p->allow.v[i].kind == RULE_CIDR;
    *out = p;
    return 0;
}

/* in_cidr - whether address @addr of @family lies in CIDR rule @r. */
static bool in_cidr(const struct mr_target_rule *r, int family, const uint8_t *addr)
{
    int full = r->bits / 8;
    int rest = r->bits % 8;

    if (r->kind != RULE_CIDR || r->family != family)
        return false;
    if (memcmp(addr, r->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((addr[full] ^ r->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* below - whether host @h lies below domain @s ("a.b.c" below "b.c"). */
static bool below(const char *h, const char *s)
{
    size_t hn = strlen(h);
    size_t sn = strlen(s);

    return hn > sn + 1 && h[hn - sn - 1] == '.' && strcmp(h + hn - sn, s) == 0;
}

/* url_matches - whether URL @u matches rule @r without DNS. */
static bool url_matches(const struct mr_target_rule *r, const struct url_parts *u)
{
    switch (r->kind) {
    case RULE_NAME:
        return !u->is_ip && strcmp(u->host, r->name) == 0;
    case RULE_SUFFIX:
        return !u->is_ip && below(u->host, r->name);
    case RULE_CIDR:
        return u->is_ip && in_cidr(r, u->family, u->addr);
    case RULE_PREFIX:
        return strcmp(u->scheme, r->scheme) == 0 && strcmp(u->host, r->name) == 0 &&
               u->port == r->port && strncmp(u->path, r->path, strlen(r->path)) == 0;
    }
    return false;
}

/* any_match - whether some rule of @l matches @u. */
static bool any_match(const struct mr_target_list *l, const struct url_parts *u)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (url_matches(&l->v[i], u))
            return true;
    }
    return false;
}

enum mr_target_verdict mr_target_check_url(const struct mr_target_policy *p, const char *url)
{
    struct url_parts u;
    enum mr_target_verdict v;

    if (p == NULL)
        return MR_TARGET_ALLOW;
    if (split_url(url, &u, NULL) != 0)
        return MR_TARGET_CHECK;
    if (any_match(&p->deny, &u))
        v = MR_TARGET_DENY;
    else if (p->allow.n == 0 || any_match(&p->allow, &u))
        v = MR_TARGET_ALLOW;
    else if (!u.is_ip && p->allow_has_cidr)
        v = MR_TARGET_CHECK;
    else
        v = MR_TARGET_DENY;
    url_parts_clear(&u);
    return v;
}

/* any_cidr - whether a CIDR rule of @l holds @addr of @family. */
static bool any_cidr(const struct mr_target_list *l, int family, const uint8_t *addr)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (in_cidr(&l->v[i], family, addr))
            return true;
    }
    return false;
}

bool mr_target_addr_ok(const struct mr_target_policy *p, const struct sockaddr *sa,
                       enum mr_target_verdict v)
{
    uint8_t addr[16];
    int family;

    if (p == NULL)
        return true;
    if (v == MR_TARGET_DENY)
        return false;
    memset(addr, 0, sizeof(addr));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        memcpy(addr, &in->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        memcpy(addr, &in6->sin6_addr, 16);
        family = AF_INET6;
        if (memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            family = AF_INET;
        }
    } else {
        return false;
    }
    if (any_cidr(&p->deny, family, addr))
        return false;
    if (v == MR_TARGET_CHECK)
        return any_cidr(&p->allow, family, addr);
    return true;
}
