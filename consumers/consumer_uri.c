/* SPDX-License-Identifier: MIT */
/*
 * consumer_uri.c - the mysql://USER[:PASS]@HOST[:PORT]/DB split
 * (mr_consumer__parse_uri, consumers/consumer_int.h) that the Kafka consumer
 * and mr_barrier_connect share. A file of its own so the barrier library
 * carries it without the Kafka consumer, and the consumer library without
 * the barrier's internals.
 *
 * Pure: no I/O, no state, any thread. Errors: MR_EINVAL with a message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "consumers/consumer_int.h"

int mr_consumer__span_copy(char *dst, size_t size, const char *p, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

int mr_consumer__parse_uri(const char *uri, struct mr_consumer__uri *u, struct mr_err *err)
{
    const char *p;
    const char *at;
    const char *slash;
    const char *colon;
    const char *port;
    char *end = NULL;
    long v;

    memset(u, 0, sizeof(*u));
    u->port = 3306;
    if (uri == NULL || strncmp(uri, "mysql://", 8) != 0)
        return mr_err_set(err, MR_EINVAL, "mysql uri: not mysql://USER[:PASS]@HOST[:PORT]/DB");
    p = uri + 8;
    at = strrchr(p, '@');
    if (at == NULL || at == p)
        return mr_err_set(err, MR_EINVAL, "mysql uri: no USER@");
    slash = strchr(at, '/');
    if (slash == NULL || slash[1] == '\0')
        return mr_err_set(err, MR_EINVAL, "mysql uri: no /DB");
    colon = memchr(p, ':', (size_t)(at - p));
    if (mr_consumer__span_copy(u->user, sizeof(u->user), p, (size_t)((colon != NULL ? colon : at) - p)) != 0 ||
        (colon != NULL && mr_consumer__span_copy(u->pass, sizeof(u->pass), colon + 1,
                                    (size_t)(at - colon - 1)) != 0))
        return mr_err_set(err, MR_EINVAL, "mysql uri: user or password too long");
    port = memchr(at + 1, ':', (size_t)(slash - at - 1));
    if (mr_consumer__span_copy(u->host, sizeof(u->host), at + 1,
                  (size_t)((port != NULL ? port : slash) - at - 1)) != 0 ||
        u->host[0] == '\0')
        return mr_err_set(err, MR_EINVAL, "mysql uri: bad host");
    if (port != NULL) {
        errno = 0;
        v = strtol(port + 1, &end, 10);
        if (errno != 0 || end != slash || v < 1 || v > 65535)
            return mr_err_set(err, MR_EINVAL, "mysql uri: bad port");
        u->port = (unsigned int)v;
    }
    if (mr_consumer__span_copy(u->db, sizeof(u->db), slash + 1, strlen(slash + 1)) != 0 ||
        strchr(u->db, '/') != NULL || strchr(u->db, '?') != NULL)
        return mr_err_set(err, MR_EINVAL, "mysql uri: bad database name");
    return 0;
}
