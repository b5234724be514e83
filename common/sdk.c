/* SPDX-License-Identifier: MIT */
/*
 * sdk.c - small pure helpers the two SDK rooms (client/, consumers/) share
 * inside libmsgrelay (see sdk.h): the caller's error buffer, the barrier
 * table name check, reading one parameter of a URL query string.
 *
 * Must not: call anything in msgrelay but buf, err and mem; keep state.
 * Thread: any. Errors: returned, with a message where sdk.h says so.
 */
#include "common/sdk.h"

#include <stdbool.h>
#include <string.h>

#include "common/url.h"

void mr_sdk_errbuf(char *errbuf, size_t errlen, const char *msg)
{
    size_t n;

    if (errbuf == NULL || errlen == 0)
        return;
    n = strlen(msg);
    if (n >= errlen)
        n = errlen - 1;
    memcpy(errbuf, msg, n);
    errbuf[n] = '\0';
}

/* ident_char - whether @c may appear in an unquoted table name here. */
static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

int mr_sdk_check_table(const char *table, struct mr_err *err)
{
    size_t n = 0;
    size_t dots = 0;
    size_t i;

    if (table == NULL || *table == '\0')
        return mr_err_set(err, MR_EINVAL, "barrier table: empty name");
    n = strlen(table);
    if (n > MR_SDK_TABLE_MAX)
        return mr_err_set(err, MR_EINVAL, "barrier table: longer than %d characters",
                          MR_SDK_TABLE_MAX);
    for (i = 0; i < n; i++) {
        if (table[i] == '.') {
            /* one dot, with a name on each side */
            if (++dots > 1 || i == 0 || i + 1 == n)
                return mr_err_set(err, MR_EINVAL, "barrier table '%s': not name or schema.name",
                                  table);
        } else if (!ident_char(table[i])) {
            return mr_err_set(err, MR_EINVAL,
                              "barrier table '%s': only letters, digits, '_' and '$' allowed",
                              table);
        }
    }
    return 0;
}


/* decode - append the percent-decoded bytes of @s (@n bytes) to @out. */
static int decode(const char *s, size_t n, struct mr_buf *out)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < n; i++) {
        if (s[i] == '+') {
            rc = mr_buf_addc(out, ' ');
        } else if (s[i] == '%') {
            int hi;
            int lo;

            if (i + 2 >= n)
                return MR_EINVAL; /* "%" or "%4" at the end */
            hi = mr_url_hexval((unsigned char)s[i + 1]);
            lo = mr_url_hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return MR_EINVAL;
            if (hi == 0 && lo == 0)
                return MR_EINVAL; /* an encoded NUL would cut the value short */
            rc = mr_buf_addc(out, (char)(hi * 16 + lo));
            i += 2;
        } else {
            rc = mr_buf_addc(out, s[i]);
        }
    }
    return rc;
}

int mr_sdk_query_get(const char *query, const char *name, struct mr_buf *out)
{
    struct mr_buf key = MR_BUF_INIT(256);
    const char *p = query;
    int rc = MR_ENOENT;

    if (*p == '?')
        p++;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        const char *eq;
        size_t seglen = end != NULL ? (size_t)(end - p) : strlen(p);
        size_t klen;

        eq = memchr(p, '=', seglen);
        klen = eq != NULL ? (size_t)(eq - p) : seglen;
        mr_buf_reset(&key);
        /* a key that does not decode or is too long cannot be @name: skip it */
        if (decode(p, klen, &key) == 0 && strcmp(key.p, name) == 0) {
            if (eq == NULL)
                rc = 0; /* "name" alone: present, empty */
            else
                rc = decode(eq + 1, seglen - klen - 1, out);
            break;
        }
        p += seglen;
        if (*p == '&')
            p++;
    }
    mr_buf_release(&key);
    return rc;
}
