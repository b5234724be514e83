/* SPDX-License-Identifier: MIT */
/*
 * dest.h - the destination of a call: what destination health counts by and
 * what the store matches a returning destination's messages by, so the two
 * cannot disagree.
 *
 *   http(s)://[user[:pass]@]HOST[:PORT]/...  "http(s)://host:port", the host
 *                                            lower-cased, the port defaulted
 *                                            from the scheme (80, 443)
 *   kafka://TOPIC[?key=K]                    "kafka://TOPIC" (topics are
 *                                            case-sensitive: kept as written)
 *
 * No name lookup: the host as the URL spells it. Pure functions on borrowed
 * strings; any thread.
 */
#ifndef MR_COMMON_DEST_H
#define MR_COMMON_DEST_H

#include <stdbool.h>
#include <stddef.h>

/* The longest destination key, bytes (without the NUL); a longer one is not made. */
#define MR_DEST_KEY_MAX 320

/*
 * mr_dest_http - scheme, host and port of http(s) URL @url as written:
 * userinfo dropped, the port defaulted from the scheme. @host is a slice of
 * @url (not lower-cased). False when @url is not http(s)://.
 */
bool mr_dest_http(const char *url, bool *https, const char **host, size_t *hostlen,
                  unsigned *port);

/*
 * mr_dest_key - write the destination key of @url (see above) to @out (room
 * for MR_DEST_KEY_MAX + 1 bytes). False, with @out "", when @url has none:
 * another scheme, a kafka:// URL without a valid topic, or a key over
 * MR_DEST_KEY_MAX.
 */
bool mr_dest_key(const char *url, char out[MR_DEST_KEY_MAX + 1]);

#endif
