/* SPDX-License-Identifier: MIT */
/*
 * fuzz_url.c - fuzz target for the URLs of step calls and back-checks: the
 * intake's check of an http(s) step action, query_prepared and subscriber URL
 * (prepare/prepare_parse.c, reached the way the intake calls it), and the one
 * builder of the URL actually called (common/url.c mr_url_with_params, through
 * common/call.c mr_call_url as the relay uses it).
 *
 * Input: the base URL up to the first newline, then the value given as gid
 * (any bytes up to a NUL).
 *
 * Invariants of the builder, for any base: the result is the base up to its
 * first '#', then '?' (or '&' when the base has a query, nothing when it ends
 * in '?' or '&'), "gid=" + the value escaped to RFC 3986 unreserved bytes and
 * %XX (decoding gives the value back, byte for byte), the fixed DTM
 * parameters, and the base's #fragment last. A cap on the output is honoured:
 * MR_ETOOBIG and never more than the cap.
 *
 * Invariants of the check: an http(s) URL that the intake accepts (as a step,
 * as query_prepared or as a subscriber) is one libcurl can call: its URL
 * parser takes it, with scheme http or https and a host; and the URL built
 * from it has the same scheme, user, password, host, port and path, so the
 * parameters cannot change where a call goes.
 */
#include <ctype.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/call.h"
#include "common/config.h"
#include "common/kafka_url.h"
#include "common/url.h"
#include "prepare/prepare_int.h"
#include "tests/fuzz/fuzz.h"

#define DTM_TAIL "&trans_type=msg&branch_id=01&op=action"

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower-case hex is not what curl writes; refuse it too */
}

/* check_escaped - @e[0..n) is @value escaped: unreserved bytes and %XX, decoding to @value. */
static void check_escaped(const char *e, size_t n, const char *value)
{
    size_t vlen = strlen(value);
    size_t i = 0;
    size_t o = 0;

    while (i < n) {
        int c;

        if (e[i] == '%') {
            FUZZ_CHECK(i + 2 < n && hexval(e[i + 1]) >= 0 && hexval(e[i + 2]) >= 0,
                       "bad escape at %zu of '%.*s'", i, (int)n, e);
            c = hexval(e[i + 1]) * 16 + hexval(e[i + 2]);
            FUZZ_CHECK(!unreserved((unsigned char)c), "unreserved byte 0x%02x escaped", c);
            i += 3;
        } else {
            FUZZ_CHECK(unreserved((unsigned char)e[i]), "byte 0x%02x left unescaped",
                       (unsigned char)e[i]);
            c = (unsigned char)e[i];
            i++;
        }
        FUZZ_CHECK(o < vlen && (unsigned char)value[o] == c, "escaped value decodes differently");
        o++;
    }
    FUZZ_CHECK(o == vlen, "escaped value decodes to %zu of %zu bytes", o, vlen);
}

/* check_built - @out is @base with the DTM parameters, gid = @value. */
static void check_built(const char *base, const char *value, const struct mr_buf *out)
{
    size_t blen = strcspn(base, "#");
    size_t flen = strlen(base) - blen;
    const char *sep;
    const char *mid;
    size_t mlen;
    size_t tail = strlen(DTM_TAIL);

    if (memchr(base, '?', blen) == NULL)
        sep = "?";
    else if (blen > 0 && (base[blen - 1] == '?' || base[blen - 1] == '&'))
        sep = "";
    else
        sep = "&";
    FUZZ_CHECK(strlen(out->p) == out->len, "built URL holds a NUL");
    FUZZ_CHECK(out->len >= blen + flen + strlen(sep) + 4 + tail, "built URL too short: '%s'",
               out->p);
    FUZZ_CHECK(memcmp(out->p, base, blen) == 0, "'%s' does not start with the base", out->p);
    FUZZ_CHECK(memcmp(out->p + out->len - flen, base + blen, flen) == 0,
               "'%s' does not end with the base's fragment", out->p);
    mid = out->p + blen;
    mlen = out->len - blen - flen;
    FUZZ_CHECK(strncmp(mid, sep, strlen(sep)) == 0 && strncmp(mid + strlen(sep), "gid=", 4) == 0,
               "'%s': parameters joined wrongly", out->p);
    FUZZ_CHECK(memcmp(mid + mlen - tail, DTM_TAIL, tail) == 0, "'%s': DTM parameters missing",
               out->p);
    FUZZ_CHECK(memchr(mid, '#', mlen) == NULL, "'%s': '#' inside the parameters", out->p);
    check_escaped(mid + strlen(sep) + 4, mlen - strlen(sep) - 4 - tail, value);
}

/* build - mr_call_url into @out capped at @max; checks it agrees with mr_url_with_params. */
static int build(const char *base, const char *value, size_t max, struct mr_buf *out)
{
    const char *const kv[] = {"gid", value, "trans_type", "msg", "branch_id",
                              "01",  "op",  "action",     NULL};
    struct mr_buf direct = MR_BUF_INIT(max);
    int rc;
    int rc2;

    mr_buf_init(out, max);
    rc = mr_call_url(out, base, value, "01", "action");
    rc2 = mr_url_with_params(&direct, base, kv);
    FUZZ_CHECK(rc == rc2, "query builder %d, url builder %d", rc, rc2);
    FUZZ_CHECK(rc == 0 || rc == MR_ETOOBIG, "builder returned %d", rc);
    FUZZ_CHECK(out->len <= max, "built %zu bytes under a cap of %zu", out->len, max);
    if (rc == 0)
        FUZZ_CHECK(direct.len == out->len && memcmp(direct.p, out->p, out->len) == 0,
                   "the two builders disagree");
    mr_buf_release(&direct);
    return rc;
}

/* accepted - whether the intake takes @url as a step action (@as_qp false) or query_prepared. */
static bool accepted(const char *url, bool as_qp)
{
    json_t *s = json_string(url); /* NULL unless valid UTF-8: such a body is refused anyway */
    json_t *body;
    struct mr_msg *m = NULL;
    struct mr_err err = MR_ERR_INIT;
    char *text;
    int rc;

    if (s == NULL)
        return false;
    body = json_pack("{s:s, s:s, s:[{s:o}], s:[s]}", "gid", "g", "trans_type", "msg", "steps",
                     "action", as_qp ? json_string("http://h/") : json_incref(s), "payloads", "");
    if (as_qp)
        json_object_set(body, "query_prepared", s);
    json_decref(s);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    FUZZ_CHECK(text != NULL, "cannot build a body");
    rc = mr_parse_msg(text, strlen(text), false, &m, &err);
    free(text);
    if (rc == 0) {
        FUZZ_CHECK(strcmp(as_qp ? m->query_prepared : m->steps[0].url, url) == 0,
                   "accepted URL changed on the way in");
        mr_msg_free(m);
    }
    return rc == 0;
}

/* part - the URL part @what of @h, or "" when it has none. Owned result: curl_free(). */
static char *part(CURLU *h, CURLUPart what)
{
    char *v = NULL;

    if (curl_url_get(h, what, &v, 0) != CURLUE_OK || v == NULL)
        return NULL;
    return v;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* check_callable - libcurl takes @url, and the URL built from it goes to the same place. */
static void check_callable(const char *url, const char *value)
{
    static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_USER, CURLUPART_PASSWORD,
                                      CURLUPART_HOST,   CURLUPART_PORT, CURLUPART_PATH};
    CURLU *a = curl_url();
    CURLU *b = curl_url();
    struct mr_buf built;
    CURLUcode uc;
    char *scheme;
    char *host;
    size_t i;

    FUZZ_CHECK(a != NULL && b != NULL, "curl_url failed");
    uc = curl_url_set(a, CURLUPART_URL, url, 0);
    FUZZ_CHECK(uc == CURLUE_OK, "'%s' accepted by the intake, refused by libcurl: %s", url,
               curl_url_strerror(uc));
    scheme = part(a, CURLUPART_SCHEME);
    host = part(a, CURLUPART_HOST);
    FUZZ_CHECK(scheme != NULL && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0),
               "'%s': libcurl sees scheme '%s'", url, scheme ? scheme : "(none)");
    FUZZ_CHECK(host != NULL && host[0] != '\0', "'%s': libcurl sees no host", url);
    curl_free(scheme);
    curl_free(host);

    FUZZ_CHECK(build(url, value, 64 * 1024, &built) == 0, "cannot build a call to '%s'", url);
    uc = curl_url_set(b, CURLUPART_URL, built.p, 0);
    FUZZ_CHECK(uc == CURLUE_OK, "built '%s' refused by libcurl: %s", built.p,
               curl_url_strerror(uc));
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char *pa = part(a, parts[i]);
        char *pb = part(b, parts[i]);

        FUZZ_CHECK(same(pa, pb), "'%s' -> '%s': part %d '%s' became '%s'", url, built.p,
                   (int)parts[i], pa ? pa : "(none)", pb ? pb : "(none)");
        curl_free(pa);
        curl_free(pb);
    }
    mr_buf_release(&built);
    curl_url_cleanup(a);
    curl_url_cleanup(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool configured;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ulen = nl != NULL ? (size_t)(nl - data) : size;
    char *url = strndup((const char *)data, ulen);
    char *value = nl != NULL ? strndup((const char *)nl + 1, size - ulen - 1) : strdup("g1");
    struct mr_buf out;
    struct mr_err err = MR_ERR_INIT;
    bool http;
    int rc;

    if (url == NULL || value == NULL) {
        free(url);
        free(value);
        return 0;
    }
    if (!configured) {
        mr_config_defaults(&mr_config);
        configured = true;
    }

    /* the builder, on any base */
    rc = build(url, value, MR_BUF_UNBOUNDED, &out);
    FUZZ_CHECK(rc == 0, "unbounded build failed: %d", rc);
    check_built(url, value, &out);
    if (out.len > 0) {
        struct mr_buf capped;

        FUZZ_CHECK(build(url, value, out.len - 1, &capped) == MR_ETOOBIG,
                   "a cap one byte short was not reported");
        mr_buf_release(&capped);
        FUZZ_CHECK(build(url, value, out.len, &capped) == 0 && capped.len == out.len,
                   "a cap of exactly the length was refused");
        mr_buf_release(&capped);
    }
    mr_buf_release(&out);

    /* the intake's checks: what they accept, libcurl can call */
    http = strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
    if (accepted(url, false)) {
        if (http)
            check_callable(url, value);
        else
            /* "" is a step that succeeds without a call */
            FUZZ_CHECK(url[0] == '\0' || strncmp(url, "kafka://", 8) == 0 ||
                           strncmp(url, "topic://", 8) == 0,
                       "step action '%s' accepted with another scheme", url);
    }
    if (url[0] != '\0' && accepted(url, true)) { /* "" means no back-check */
        FUZZ_CHECK(http, "query_prepared '%s' accepted without http(s)", url);
        check_callable(url, value);
    }
    if (mr_check_subscriber_url(url, &err) == 0 && !mr_kafka_url_is(url)) {
        FUZZ_CHECK(http, "subscriber '%s' accepted without http(s)", url);
        check_callable(url, value);
    }
    free(url);
    free(value);
    return 0;
}
