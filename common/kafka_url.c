/* SPDX-License-Identifier: MIT */
/*
 * kafka_url.c - kafka://TOPIC[?key=K] parsing (see kafka_url.h).
 * Pure string work on borrowed input; any thread; bad input is MR_EINVAL.
 */
#include "common/kafka_url.h"

#include <stddef.h>
#include <string.h>

/* topic_char - whether @c may appear in a Kafka topic name. */
static bool topic_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool mr_kafka_url_is(const char *url)
{
    return strncmp(url, MR_KAFKA_SCHEME, strlen(MR_KAFKA_SCHEME)) == 0;
}

int mr_kafka_url_parse(const char *url, struct mr_kafka_url *out, struct mr_err *err)
{
    const char *topic = url + strlen(MR_KAFKA_SCHEME);
    const char *q;
    size_t n;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!mr_kafka_url_is(url))
        return mr_err_set(err, MR_EINVAL, "not a kafka:// URL");
    n = strcspn(topic, "?");
    if (n == 0)
        return mr_err_set(err, MR_EINVAL, "kafka topic must not be empty");
    if (n > MR_KAFKA_TOPIC_MAX)
        return mr_err_set(err, MR_EINVAL, "kafka topic longer than %d characters",
                          MR_KAFKA_TOPIC_MAX);
    for (i = 0; i < n; i++) {
        if (!topic_char((unsigned char)topic[i]))
            return mr_err_set(err, MR_EINVAL,
                              "kafka topic may contain only letters, digits, '.', '_' and '-'");
    }
    if ((n == 1 && topic[0] == '.') || (n == 2 && topic[0] == '.' && topic[1] == '.'))
        return mr_err_set(err, MR_EINVAL, "kafka topic must not be '.' or '..'");
    out->topic.p = topic;
    out->topic.len = n;
    q = topic + n;
    if (*q == '\0')
        return 0;
    if (strncmp(q, "?key=", 5) != 0)
        return mr_err_set(err, MR_EINVAL, "kafka URL: the only query allowed is ?key=K");
    q += 5;
    n = strlen(q);
    if (n == 0)
        return mr_err_set(err, MR_EINVAL, "kafka key must not be empty");
    if (n > MR_KAFKA_KEY_MAX)
        return mr_err_set(err, MR_EINVAL, "kafka key longer than %d bytes", MR_KAFKA_KEY_MAX);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)q[i];

        if (c <= ' ' || c >= 0x7f || c == '&' || c == '#')
            return mr_err_set(err, MR_EINVAL,
                              "kafka key may contain only visible ASCII (no space) other "
                              "than '&' and '#'");
    }
    out->key.p = q;
    out->key.len = n;
    return 0;
}
