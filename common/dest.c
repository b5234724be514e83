/* SPDX-License-Identifier: MIT */
/*
 * dest.c - the destination key of a call URL (see dest.h).
 */
#include "common/dest.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/kafka_url.h"

bool mr_dest_http(const char *url, bool *https, const char **host, size_t *hostlen,
                  unsigned *port)
{
    const char *p;
    const char *end;
    const char *h;
    const char *hend;
    size_t i;

    if (strncasecmp(url, "http://", 7) == 0) {
        *https = false;
        *port = 80;
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        *https = true;
        *port = 443;
        p = url + 8;
    } else {
        return false;
    }
    end = p + strcspn(p, "/?#");
    h = p;
    for (i = 0; p + i < end; i++) {
        if (p[i] == '@')
            h = p + i + 1;
    }
    hend = end;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));

        if (close != NULL)
            hend = close + 1;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));

        if (colon != NULL)
            hend = colon;
    }
    if (hend < end && *hend == ':' && hend + 1 < end) {
        unsigned v = 0;

        for (i = 1; hend + i < end && hend[i] >= '0' && hend[i] <= '9' && v < 100000; i++)
            v = v * 10 + (unsigned)(hend[i] - '0');
        *port = v;
    }
    *host = h;
    *hostlen = (size_t)(hend - h);
    return true;
}

bool mr_dest_key(const char *url, char out[MR_DEST_KEY_MAX + 1])
{
    const char *host;
    size_t hostlen;
    unsigned port;
    bool https;
    int n;

    out[0] = '\0';
    if (mr_dest_http(url, &https, &host, &hostlen, &port)) {
        size_t i;

        if (hostlen > MR_DEST_KEY_MAX)
            return false;
        n = snprintf(out, MR_DEST_KEY_MAX + 1, "%s://%.*s:%u", https ? "https" : "http",
                     (int)hostlen, host, port);
        if (n < 0 || n > MR_DEST_KEY_MAX) {
            out[0] = '\0';
            return false;
        }
        for (i = 0; out[i] != '\0'; i++) {
            if (out[i] >= 'A' && out[i] <= 'Z')
                out[i] = (char)(out[i] - 'A' + 'a');
        }
        return true;
    }
    if (mr_kafka_url_is(url)) {
        struct mr_kafka_url u;

        if (mr_kafka_url_parse(url, &u, NULL) != 0)
            return false;
        n = snprintf(out, MR_DEST_KEY_MAX + 1, "%s%.*s", MR_KAFKA_SCHEME, (int)u.topic.len,
                     u.topic.p);
        if (n < 0 || n > MR_DEST_KEY_MAX) {
            out[0] = '\0';
            return false;
        }
        return true;
    }
    return false;
}
