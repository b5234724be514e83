/* SPDX-License-Identifier: MIT */
/*
 * fuzz_kafka_url.c - fuzz target for the kafka:// reader (common/kafka_url.c),
 * shared by the intake and the Kafka sink, and for the subscriber-URL check
 * that uses it (prepare/prepare_parse.c, mr_check_subscriber_url).
 *
 * Input: the URL (up to the first NUL byte, as a C string arrives).
 *
 * Invariants: a URL that parses starts with kafka://; its topic and key are
 * slices of the URL itself (topic right after the scheme, key right after
 * "?key=" and up to the end); "kafka://" + topic [+ "?key=" + key] rebuilds
 * the URL byte for byte; the topic is 1..249 of [A-Za-z0-9._-] and not "." or
 * ".."; the key is 1..1024 printable ASCII bytes other than space, '&' and
 * '#'. A URL that does not parse gets MR_EINVAL with a message. The
 * subscriber check accepts a kafka:// URL (with --kafka-brokers set) exactly
 * when it parses, is ASCII and within --max-url-len.
 */
#include <string.h>

#include "common/config.h"
#include "common/kafka_url.h"
#include "prepare/prepare_int.h"
#include "tests/fuzz/fuzz.h"

static bool topic_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* within - whether the slice @s lies inside @url[0..n]. */
static bool within(struct mr_slice s, const char *url, size_t n)
{
    return s.p >= url && s.p + s.len <= url + n;
}

static void check_parsed(const char *url, size_t n, const struct mr_kafka_url *ku)
{
    size_t scheme = strlen(MR_KAFKA_SCHEME);
    size_t i;

    FUZZ_CHECK(strncmp(url, MR_KAFKA_SCHEME, scheme) == 0, "'%s' parsed without the scheme", url);
    FUZZ_CHECK(ku->topic.p == url + scheme, "topic does not start after the scheme in '%s'", url);
    FUZZ_CHECK(within(ku->topic, url, n), "topic outside '%s'", url);
    FUZZ_CHECK(ku->topic.len >= 1 && ku->topic.len <= MR_KAFKA_TOPIC_MAX, "topic length %zu",
               ku->topic.len);
    for (i = 0; i < ku->topic.len; i++)
        FUZZ_CHECK(topic_char((unsigned char)ku->topic.p[i]), "topic byte 0x%02x",
                   (unsigned char)ku->topic.p[i]);
    FUZZ_CHECK(!(ku->topic.len == 1 && ku->topic.p[0] == '.') &&
                   !(ku->topic.len == 2 && memcmp(ku->topic.p, "..", 2) == 0),
               "topic '.' or '..' accepted");
    if (ku->key.p == NULL) {
        FUZZ_CHECK(ku->key.len == 0, "no key but key length %zu", ku->key.len);
        FUZZ_CHECK(scheme + ku->topic.len == n, "'%s': bytes after the topic but no key", url);
        return;
    }
    FUZZ_CHECK(within(ku->key, url, n), "key outside '%s'", url);
    FUZZ_CHECK(ku->key.len >= 1 && ku->key.len <= MR_KAFKA_KEY_MAX, "key length %zu", ku->key.len);
    for (i = 0; i < ku->key.len; i++) {
        unsigned char c = (unsigned char)ku->key.p[i];

        FUZZ_CHECK(c > ' ' && c < 0x7f && c != '&' && c != '#', "key byte 0x%02x", c);
    }
    /* the URL is exactly kafka://TOPIC?key=KEY */
    FUZZ_CHECK(scheme + ku->topic.len + 5 + ku->key.len == n, "'%s' does not rebuild", url);
    FUZZ_CHECK(memcmp(ku->topic.p + ku->topic.len, "?key=", 5) == 0, "no ?key= in '%s'", url);
    FUZZ_CHECK(ku->key.p == ku->topic.p + ku->topic.len + 5, "key not after ?key= in '%s'", url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool configured;
    char *url = strndup((const char *)data, size);
    struct mr_kafka_url ku;
    struct mr_err err = MR_ERR_INIT;
    struct mr_err serr = MR_ERR_INIT;
    bool ascii = true;
    size_t n;
    size_t i;
    int rc;
    int src;

    if (url == NULL)
        return 0;
    if (!configured) {
        mr_config_defaults(&mr_config);
        mr_config.kafka_brokers = strdup("127.0.0.1:9");
        configured = true;
    }
    n = strlen(url);
    rc = mr_kafka_url_parse(url, &ku, &err);
    if (rc == 0) {
        check_parsed(url, n, &ku);
        FUZZ_CHECK(mr_kafka_url_is(url), "'%s' parsed but is not kafka://", url);
    } else {
        FUZZ_CHECK(rc == MR_EINVAL, "'%s': code %d", url, rc);
        FUZZ_CHECK(err.code == MR_EINVAL && err.msg[0] != '\0', "'%s': refused without a message",
                   url);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL, "message not terminated");
    }

    /* the subscriber check agrees with the reader */
    for (i = 0; i < n; i++)
        ascii = ascii && (unsigned char)url[i] < 0x80;
    src = mr_check_subscriber_url(url, &serr);
    if (mr_kafka_url_is(url)) {
        bool ok = rc == 0 && ascii && n <= (size_t)mr_config.max_url_len;

        FUZZ_CHECK((src == 0) == ok, "'%s': subscriber check %d, parse %d", url, src, rc);
    }
    if (src != 0)
        FUZZ_CHECK(src == MR_EINVAL && strncmp(serr.msg, "url: ", 5) == 0,
                   "subscriber refusal '%s' does not name the field", serr.msg);
    free(url);
    return 0;
}
