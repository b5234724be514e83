/* SPDX-License-Identifier: MIT */
/*
 * store_mysql_uri.c - the MySQL store URI, "//USER[:PASS]@[HOST[:PORT][,HOST
 * [:PORT]...]]/DB[?name=value&...]" (after "mysql:"), into a struct my_conf:
 * %-escapes, IPv6 hosts, a list of hosts in the order they are preferred
 * (a cluster's nodes; store_mysql_conn.c picks one), the socket and the
 * timeout options and their limits (store.h).
 *
 * Must not: connect, or repeat the password in an error text.
 * Threads: any. Errors: MR_EINVAL naming what is wrong.
 */
#include "store/store_mysql_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/url.h"

/* URI option defaults, seconds */
#define DEFAULT_CONNECT_TIMEOUT 3
#define DEFAULT_RW_TIMEOUT      30
/* with several hosts a node that stops answering is left for the next sooner */
#define DEFAULT_RW_TIMEOUT_MULTI 10
#define DEFAULT_LOCK_WAIT       10


/* decode - a copy of the @n bytes at @p with %XX decoded; NULL on a bad escape or %00. */
static char *decode(const char *p, size_t n)
{
    char *out = mr_xmalloc(n + 1);
    size_t i;
    size_t o = 0;

    for (i = 0; i < n; i++) {
        if (p[i] != '%') {
            out[o++] = p[i];
            continue;
        }
        if (i + 2 >= n || mr_url_hexval((unsigned char)p[i + 1]) < 0 ||
            mr_url_hexval((unsigned char)p[i + 2]) < 0 || (p[i + 1] == '0' && p[i + 2] == '0')) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(mr_url_hexval((unsigned char)p[i + 1]) * 16 + mr_url_hexval((unsigned char)p[i + 2]));
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* parse_uint - the whole number in @n bytes at @p, within @min..@max; -1 if it is not. */
static long parse_uint(const char *p, size_t n, long min, long max)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 9)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v < min || v > max ? -1 : v;
}

/* parse_option - one "name=value" of the URI's query part. */
static int parse_option(struct my_conf *c, const char *p, size_t n, struct mr_err *err)
{
    const char *eq = memchr(p, '=', n);
    size_t klen = eq != NULL ? (size_t)(eq - p) : n;
    const char *v = eq != NULL ? eq + 1 : p + n;
    size_t vlen = (size_t)(p + n - v);
    unsigned int *field = NULL;
    long x;

    if (klen == 6 && strncmp(p, "socket", 6) == 0) {
        free(c->socket);
        c->socket = decode(v, vlen);
        if (c->socket == NULL || c->socket[0] == '\0')
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad socket path");
        return 0;
    }
    if (klen == 15 && strncmp(p, "connect_timeout", 15) == 0)
        field = &c->connect_timeout;
    else if (klen == 12 && strncmp(p, "read_timeout", 12) == 0)
        field = &c->rw_timeout;
    else if (klen == 17 && strncmp(p, "lock_wait_timeout", 17) == 0)
        field = &c->lock_wait;
    if (field == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: unknown option '%.*s'", (int)klen, p);
    x = parse_uint(v, vlen, 1, 86400);
    if (x < 0)
        return mr_err_set(err, MR_EINVAL,
                          "store: mysql uri: %.*s: not a number of seconds 1..86400", (int)klen, p);
    *field = (unsigned int)x;
    return 0;
}

/* parse_host - "host", "host:port", "[v6]" or "[v6]:port" (@n bytes at @p) into @h. */
static int parse_host(struct my_host *h, const char *p, size_t n, struct mr_err *err)
{
    const char *host = p;
    size_t hlen = n;
    const char *port = NULL;
    size_t plen = 0;
    struct mr_buf where = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    long x;

    if (n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', n);

        if (close == NULL)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: unclosed '[' in host");
        host = p + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < p + n) {
            if (close[1] != ':')
                return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad host");
            port = close + 2;
            plen = (size_t)(p + n - port);
        }
    } else {
        const char *colon = memchr(p, ':', n);

        if (colon != NULL) {
            hlen = (size_t)(colon - p);
            port = colon + 1;
            plen = (size_t)(p + n - port);
        }
    }
    h->port = 3306;
    if (port != NULL) {
        x = parse_uint(port, plen, 1, 65535);
        if (x < 0)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad port '%.*s'", (int)plen, port);
        h->port = (unsigned int)x;
    }
    if (hlen == 0)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri needs a host: an empty one in the list");
    h->name = decode(host, hlen);
    if (h->name == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad host");
    mr_buf_addf(&where, "%s:%u", h->name, h->port);
    h->where = mr_buf_detach(&where, NULL);
    return 0;
}

/* parse_hosts - the comma-separated host list (@n bytes at @p, maybe empty). */
static int parse_hosts(struct my_conf *c, const char *p, size_t n, struct mr_err *err)
{
    const char *end = p + n;
    int code;

    while (n > 0 && p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((comma != NULL ? comma : end) - p);

        if (c->nhosts == MY_HOSTS_MAX)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: more than %d hosts",
                              MY_HOSTS_MAX);
        code = parse_host(&c->hosts[c->nhosts], p, len, err);
        c->nhosts++; /* freed by my_conf_free even when half filled */
        if (code != 0)
            return code;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

/* my_conf_free - free what parse_uri filled in. */
void my_conf_free(struct my_conf *c)
{
    size_t i;

    free(c->user);
    free(c->pass);
    for (i = 0; i < c->nhosts; i++) {
        free(c->hosts[i].name);
        free(c->hosts[i].where);
    }
    free(c->db);
    free(c->socket);
    free(c->where);
    memset(c, 0, sizeof(*c));
}

/*
 * my_uri_parse - "//USER[:PASS]@[HOST[:PORT][,HOST[:PORT]...]]/DB[?name=value&...]",
 * the part of the URI after "mysql:". Error texts never repeat the password.
 */
int my_uri_parse(const char *rest, struct my_conf *c, struct mr_err *err)
{
    const char *s;
    const char *end;
    const char *at;
    const char *slash;
    const char *colon;
    const char *q;
    struct mr_buf where = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    int code;

    memset(c, 0, sizeof(*c));
    c->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    c->lock_wait = DEFAULT_LOCK_WAIT;
    if (strncmp(rest, "//", 2) != 0)
        return mr_err_set(err, MR_EINVAL,
                          "store: mysql uri must be mysql://USER:PASS@HOST:PORT/DB");
    s = rest + 2;
    end = s + strcspn(s, "?");
    at = NULL;
    for (q = s; q < end; q++) {
        if (*q == '@')
            at = q; /* the last '@': an unescaped one in a password still works */
    }
    if (at == NULL || at == s)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri has no user (mysql://USER:PASS@...)");
    colon = memchr(s, ':', (size_t)(at - s));
    c->user = decode(s, (size_t)((colon != NULL ? colon : at) - s));
    c->pass = colon != NULL ? decode(colon + 1, (size_t)(at - colon - 1)) : mr_xstrdup("");
    if (c->user == NULL || c->pass == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad %% escape in user or password");
    slash = memchr(at + 1, '/', (size_t)(end - at - 1));
    if (slash == NULL || slash + 1 == end)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri has no database (.../DB)");
    c->db = decode(slash + 1, (size_t)(end - slash - 1));
    if (c->db == NULL)
        return mr_err_set(err, MR_EINVAL, "store: mysql uri: bad database name");
    code = parse_hosts(c, at + 1, (size_t)(slash - at - 1), err);
    if (code != 0)
        return code;
    for (q = *end == '?' ? end + 1 : end; *q != '\0';) {
        size_t n = strcspn(q, "&");

        if (n > 0) {
            code = parse_option(c, q, n, err);
            if (code != 0)
                return code;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    if (c->rw_timeout == 0)
        c->rw_timeout = c->nhosts > 1 ? DEFAULT_RW_TIMEOUT_MULTI : DEFAULT_RW_TIMEOUT;
    if (c->socket != NULL) {
        /* the client library takes the socket when the host is NULL or "localhost" */
        if (c->nhosts > 1)
            return mr_err_set(err, MR_EINVAL, "store: mysql uri: ?socket= takes no host list");
        if (c->nhosts == 1) {
            free(c->hosts[0].name);
            free(c->hosts[0].where);
            c->nhosts = 0;
        }
        mr_buf_adds(&where, c->socket);
    } else if (c->nhosts == 0) {
        return mr_err_set(err, MR_EINVAL, "store: mysql uri needs a host or ?socket=PATH");
    } else {
        for (size_t i = 0; i < c->nhosts; i++)
            mr_buf_addf(&where, "%s%s", i > 0 ? "," : "", c->hosts[i].where);
    }
    c->where = mr_buf_detach(&where, NULL);
    return 0;
}
