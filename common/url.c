/* SPDX-License-Identifier: MIT */
/*
 * url.c - query parameters added to a URL (see url.h). Uses libcurl only for
 * its escaping, which needs no handle; pure otherwise, any thread.
 */
#include "common/url.h"

#include <string.h>

#include <curl/curl.h>

#include "common/err.h"

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
