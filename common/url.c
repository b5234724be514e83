/* SPDX-License-Identifier: MIT */
/*
 * url.c - query parameters added to a URL, and URL credentials masked (see
 * url.h). Uses libcurl only for its escaping, which needs no handle; pure
 * otherwise, any thread.
 */
#include "common/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/mem.h"

/* add_escaped - append @s URL-escaped. */
static int add_escaped(struct mr_buf *out, const char *s)
{
    char *e;
    int rc;

    /* curl_easy_escape does not use its handle (since 7.82) */
    e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (e == NULL)
        return MR_ETOOBIG;
    rc = mr_buf_adds(out, e);
    curl_free(e);
    return rc;
}

int mr_url_with_params(struct mr_buf *out, const char *base, const char *const *kv)
{
    const char *frag = strchr(base, '#');
    size_t blen = frag != NULL ? (size_t)(frag - base) : strlen(base);
    const char *sep;
    size_t i;
    int rc;

    if (memchr(base, '?', blen) == NULL)
        sep = "?";
    else if (blen > 0 && (base[blen - 1] == '?' || base[blen - 1] == '&'))
        sep = ""; /* "http://h/p?" or "...&": the joiner is already there */
    else
        sep = "&";
    rc = mr_buf_add(out, base, blen);
    for (i = 0; rc == 0 && kv[i] != NULL && kv[i + 1] != NULL; i += 2) {
        rc = mr_buf_addf(out, "%s%s=", i == 0 ? sep : "&", kv[i]);
        if (rc == 0)
            rc = add_escaped(out, kv[i + 1]);
    }
    if (rc == 0 && frag != NULL)
        rc = mr_buf_adds(out, frag);
    return rc;
}

/* scheme_start - where the scheme ending at @sep ("://" at @text + @sep) starts, or -1. */
static long scheme_start(const char *text, size_t sep)
{
    size_t i = sep;

    while (i > 0 && (isalnum((unsigned char)text[i - 1]) || text[i - 1] == '+' ||
                     text[i - 1] == '-' || text[i - 1] == '.'))
        i--;
    /* skip leading non-letters ("1http://" is "http://" in a sentence) */
    while (i < sep && !isalpha((unsigned char)text[i]))
        i++;
    return i < sep ? (long)i : -1;
}

/* userinfo_end - the length of the userinfo of the authority at @a ("...@"), 0 when none. */
static size_t userinfo_end(const char *a)
{
    size_t n = 0;
    size_t at = 0;

    while (a[n] != '\0' && a[n] != '/' && a[n] != '?' && a[n] != '#' && (unsigned char)a[n] > ' ' &&
           a[n] != 0x7f) {
        if (a[n] == '@')
            at = n + 1;
        n++;
    }
    return at;
}

/*
 * masked_already - whether the userinfo at @a (@ui bytes with its '@') is "***"
 * or "user:***", as mr_store_uri_redacted writes it: kept, user name and all.
 */
static bool masked_already(const char *a, size_t ui)
{
    const char *colon = memchr(a, ':', ui);

    if (ui == 4)
        return memcmp(a, "***@", 4) == 0;
    return ui >= 5 && memcmp(a + ui - 5, ":***@", 5) == 0 && colon == a + ui - 5;
}

int mr_url_mask(struct mr_buf *out, const char *text)
{
    const char *p = text;
    const char *sep;
    int rc = 0;

    while (rc == 0 && (sep = strstr(p, "://")) != NULL) {
        const char *auth = sep + 3;
        size_t ui = scheme_start(text, (size_t)(sep - text)) >= 0 ? userinfo_end(auth) : 0;

        if (ui == 0 || masked_already(auth, ui)) {
            rc = mr_buf_add(out, p, (size_t)(auth + ui - p));
            p = auth + ui;
            continue;
        }
        rc = mr_buf_add(out, p, (size_t)(auth - p));
        if (rc == 0)
            rc = mr_buf_adds(out, "***@");
        p = auth + ui;
    }
    if (rc == 0)
        rc = mr_buf_adds(out, p);
    return rc;
}

char *mr_url_masked(const char *text)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);

    if (text == NULL)
        return NULL;
    mr_url_mask(&b, text);
    return mr_buf_detach(&b, NULL);
}

bool mr_url_has_userinfo(const char *text)
{
    const char *sep = text;

    while ((sep = strstr(sep, "://")) != NULL) {
        size_t ui = scheme_start(text, (size_t)(sep - text)) >= 0 ? userinfo_end(sep + 3) : 0;

        if (ui > 0 && !masked_already(sep + 3, ui))
            return true;
        sep += 3;
    }
    return false;
}

int mr_url_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
