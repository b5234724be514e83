/* SPDX-License-Identifier: MIT */
/*
 * header.c - the rule for a message's extra HTTP headers (see header.h).
 * Pure; any thread. Errors are MR_EINVAL with a message naming the header.
 */
#include "common/header.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Headers only the relay (libcurl) sets: framing, hop-by-hop, routing. */
static const char *const reserved[] = {
    "Content-Length", "Transfer-Encoding", "Host", "Connection",
    "Keep-Alive",     "Upgrade",           "TE",   "Trailer",
    "Expect",
};

bool mr_header_is_reserved(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    }
    /* Proxy-Authorization, Proxy-Connection, ...: meant for a proxy, never for the target */
    return strncasecmp(name, "Proxy-", 6) == 0;
}

/* is_tchar - whether @c may appear in a header name (an RFC 9110 token). */
static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int mr_header_check(const char *name, const char *value, size_t value_len, struct mr_err *err)
{
    size_t n = strlen(name);
    size_t i;

    if (n == 0)
        return mr_err_set(err, MR_EINVAL, "branch_headers: empty header name");
    if (n > MR_HEADER_NAME_MAX)
        return mr_err_set(err, MR_EINVAL, "branch_headers: header name longer than %d bytes",
                          MR_HEADER_NAME_MAX);
    for (i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)name[i]))
            return mr_err_set(err, MR_EINVAL, "branch_headers: bad header name '%.64s'", name);
    }
    if (mr_header_is_reserved(name))
        return mr_err_set(err, MR_EINVAL,
                          "branch_headers: '%s' may not be set (framing, hop-by-hop and routing "
                          "headers are the relay's)",
                          name);
    if (value_len > MR_HEADER_VALUE_MAX)
        return mr_err_set(err, MR_EINVAL, "branch_headers: value of '%s' longer than %d bytes",
                          name, MR_HEADER_VALUE_MAX);
    for (i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return mr_err_set(err, MR_EINVAL,
                              "branch_headers: value of '%s' may hold only visible ASCII, space "
                              "and tab",
                              name);
    }
    return 0;
}
