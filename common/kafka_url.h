/* SPDX-License-Identifier: MIT */
/*
 * kafka_url.h - the one reader of kafka:// step URLs, shared by the intake
 * (prepare/, which refuses bad ones with 400) and the Kafka sink (relay/,
 * which produces to them), so the two cannot disagree on what a URL means.
 *
 *   kafka://TOPIC           key = the message's ordering key, or its gid when unkeyed
 *   kafka://TOPIC?key=K     key = K, taken verbatim (no percent-decoding)
 *
 * TOPIC is 1 to 249 of [A-Za-z0-9._-], not "." or ".." (Kafka's own rule).
 * K is 1 to MR_KAFKA_KEY_MAX bytes of visible ASCII (no space) other than '&' and '#'.
 * Pure functions on borrowed strings; any thread.
 */
#ifndef MR_COMMON_KAFKA_URL_H
#define MR_COMMON_KAFKA_URL_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/err.h"

#define MR_KAFKA_SCHEME    "kafka://"
#define MR_KAFKA_TOPIC_MAX 249
#define MR_KAFKA_KEY_MAX   1024

/* A parsed kafka:// URL: slices into the URL it was parsed from (borrowed). */
struct mr_kafka_url {
    struct mr_slice topic;
    struct mr_slice key; /* p == NULL when the URL names no key: the gid is the key */
};

/* mr_kafka_url_is - whether @url starts with kafka:// (valid or not). */
bool mr_kafka_url_is(const char *url);

/*
 * mr_kafka_url_parse - split @url into topic and key. MR_EINVAL with a message
 * that names the problem ("topic '...' ...", "key ...") and no field prefix, so
 * the caller can put its own in front.
 */
int mr_kafka_url_parse(const char *url, struct mr_kafka_url *out, struct mr_err *err);

#endif
