/* SPDX-License-Identifier: MIT */
/*
 * test_kafka_url.c - kafka://TOPIC[?key=K] (common/kafka_url.c): the forms
 * accepted (topic and key as slices of the URL, the key verbatim), the
 * limits on each part, and every form refused, with the problem named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kafka_url.h"
#include "common/mem.h"

/* accepted - @url parses into @topic and @key (NULL: no key, the gid is the key). */
static void accepted(const char *url, const char *topic, const char *key)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_kafka_url k;

    if (mr_kafka_url_parse(url, &k, &err) != 0)
        fail_msg("%s: refused: %s", url, err.msg);
    assert_true(mr_kafka_url_is(url));
    /* slices into the URL itself, not copies */
    assert_ptr_equal(k.topic.p, url + strlen(MR_KAFKA_SCHEME));
    assert_int_equal(k.topic.len, strlen(topic));
    assert_memory_equal(k.topic.p, topic, k.topic.len);
    if (key == NULL) {
        assert_null(k.key.p);
        assert_int_equal(k.key.len, 0);
    } else {
        assert_non_null(k.key.p);
        assert_true(k.key.p > url && k.key.p < url + strlen(url));
        assert_int_equal(k.key.len, strlen(key));
        assert_memory_equal(k.key.p, key, k.key.len);
    }
}

/* refused - @url is MR_EINVAL with a message containing @why. */
static void refused(const char *url, const char *why)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_kafka_url k;

    assert_int_equal(mr_kafka_url_parse(url, &k, &err), MR_EINVAL);
    assert_int_equal(err.code, MR_EINVAL);
    if (strstr(err.msg, why) == NULL)
        fail_msg("%s: expected '%s' in '%s'", url, why, err.msg);
    /* no field prefix: the caller puts its own in front */
    assert_true(strncmp(err.msg, "kafka", 5) == 0 || strncmp(err.msg, "not a", 5) == 0);
    /* and a NULL error record is fine */
    assert_int_equal(mr_kafka_url_parse(url, &k, NULL), MR_EINVAL);
}

/* repeat - @prefix, @n copies of @c, then @suffix, as a new string. Owned result: free(). */
static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t p = strlen(prefix);
    size_t s = strlen(suffix);
    char *out = mr_xmalloc(p + n + s + 1);

    memcpy(out, prefix, p);
    memset(out + p, c, n);
    memcpy(out + p + n, suffix, s + 1);
    return out;
}

static void test_kafka_url_is_only_the_exact_scheme(void **state)
{
    (void)state;
    assert_true(mr_kafka_url_is("kafka://orders"));
    assert_true(mr_kafka_url_is("kafka://")); /* recognised, though not valid */
    assert_false(mr_kafka_url_is("KAFKA://orders"));
    assert_false(mr_kafka_url_is("kafka:/orders"));
    assert_false(mr_kafka_url_is("kafka:orders"));
    assert_false(mr_kafka_url_is(" kafka://orders"));
    assert_false(mr_kafka_url_is("http://kafka://orders"));
    assert_false(mr_kafka_url_is(""));
}

static void test_kafka_url_accepts_topics(void **state)
{
    (void)state;
    accepted("kafka://orders", "orders", NULL);
    accepted("kafka://o", "o", NULL);
    accepted("kafka://Orders.v2_x-y", "Orders.v2_x-y", NULL);
    accepted("kafka://0", "0", NULL);
    /* only "." and ".." are reserved; more dots are a name */
    accepted("kafka://...", "...", NULL);
    accepted("kafka://.a", ".a", NULL);
    accepted("kafka://a..", "a..", NULL);
}

static void test_kafka_url_accepts_keys_verbatim(void **state)
{
    (void)state;
    accepted("kafka://orders?key=k-1", "orders", "k-1");
    accepted("kafka://o?key=a:b/c?d=e", "o", "a:b/c?d=e");
    /* no percent-decoding */
    accepted("kafka://o?key=%41%20", "o", "%41%20");
    accepted("kafka://o?key=?key=x", "o", "?key=x");
    accepted("kafka://o?key=!~", "o", "!~");
}

static void test_kafka_url_topic_length_limit(void **state)
{
    char *max = repeat("kafka://", 't', MR_KAFKA_TOPIC_MAX, "");
    char *over = repeat("kafka://", 't', MR_KAFKA_TOPIC_MAX + 1, "");
    char *max_key = repeat("kafka://", 't', MR_KAFKA_TOPIC_MAX, "?key=k");

    (void)state;
    assert_int_equal(MR_KAFKA_TOPIC_MAX, 249);
    accepted(max, max + strlen(MR_KAFKA_SCHEME), NULL);
    refused(over, "kafka topic longer than 249 characters");
    /* the query does not count against the topic */
    assert_int_equal(mr_kafka_url_parse(max_key, &(struct mr_kafka_url){0}, NULL), 0);
    free(max);
    free(over);
    free(max_key);
}

static void test_kafka_url_key_length_limit(void **state)
{
    char *max = repeat("kafka://t?key=", 'k', MR_KAFKA_KEY_MAX, "");
    char *over = repeat("kafka://t?key=", 'k', MR_KAFKA_KEY_MAX + 1, "");
    struct mr_kafka_url k;

    (void)state;
    assert_int_equal(mr_kafka_url_parse(max, &k, NULL), 0);
    assert_int_equal(k.key.len, MR_KAFKA_KEY_MAX);
    refused(over, "kafka key longer than 1024 bytes");
    free(max);
    free(over);
}

static void test_kafka_url_refuses_bad_topics(void **state)
{
    (void)state;
    refused("http://orders", "not a kafka:// URL");
    refused("kafka:/orders", "not a kafka:// URL");
    refused("kafka://", "kafka topic must not be empty");
    refused("kafka://?key=k", "kafka topic must not be empty");
    refused("kafka://.", "kafka topic must not be '.' or '..'");
    refused("kafka://..", "kafka topic must not be '.' or '..'");
    refused("kafka://..?key=k", "kafka topic must not be '.' or '..'");
    refused("kafka://a b", "kafka topic may contain only");
    refused("kafka://a/b", "kafka topic may contain only");
    refused("kafka://a:9092", "kafka topic may contain only");
    refused("kafka://user@t", "kafka topic may contain only");
    refused("kafka://t#f", "kafka topic may contain only");
    refused("kafka://t&key=k", "kafka topic may contain only");
    refused("kafka://caf\xc3\xa9", "kafka topic may contain only");
    refused("kafka://a+b", "kafka topic may contain only");
}

static void test_kafka_url_refuses_bad_queries_and_keys(void **state)
{
    (void)state;
    refused("kafka://t?", "the only query allowed is ?key=K");
    refused("kafka://t?k=1", "the only query allowed is ?key=K");
    refused("kafka://t?KEY=1", "the only query allowed is ?key=K");
    refused("kafka://t?partition=1", "the only query allowed is ?key=K");
    refused("kafka://t?key", "the only query allowed is ?key=K");
    refused("kafka://t??key=k", "the only query allowed is ?key=K");
    refused("kafka://t?key=", "kafka key must not be empty");
    refused("kafka://t?key=a b", "kafka key may contain only");
    refused("kafka://t?key=a&b", "kafka key may contain only");
    refused("kafka://t?key=a&key=b", "kafka key may contain only");
    refused("kafka://t?key=#", "kafka key may contain only");
    refused("kafka://t?key=a\tb", "kafka key may contain only");
    refused("kafka://t?key=a\x7f", "kafka key may contain only");
    refused("kafka://t?key=\xc3\xa9", "kafka key may contain only");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_url_is_only_the_exact_scheme),
        cmocka_unit_test(test_kafka_url_accepts_topics),
        cmocka_unit_test(test_kafka_url_accepts_keys_verbatim),
        cmocka_unit_test(test_kafka_url_topic_length_limit),
        cmocka_unit_test(test_kafka_url_key_length_limit),
        cmocka_unit_test(test_kafka_url_refuses_bad_topics),
        cmocka_unit_test(test_kafka_url_refuses_bad_queries_and_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
