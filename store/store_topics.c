/* SPDX-License-Identifier: MIT */
/*
 * store_topics.c - DTM's topics on the kv table: a topic is the kv row
 * (MR_STORE_TOPICS_CAT, name) whose value is the JSON array of its
 * subscribers, [{"url":"…","remark":"…"}, …] in subscription order. This file
 * owns that JSON (reading, finding, appending, removing) and DTM's error
 * texts; the rows themselves are read and written through the engine's kv
 * primitives (store_int.h), which compare and set the row's version, after
 * the transaction rule is checked once (mr_store_enter).
 *
 * Must not: run SQL, or know an engine; cache a topic (a change is seen by
 * the next read, DESIGN's "forgotten at once").
 * Threads: whichever thread owns the handle. Errors: as in store.h; a stored
 * value that is not this file's JSON is MR_ESTORE.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/mem.h"
#include "store/store_int.h"

/* subs_load - a topic row's subscriber list as a JSON array (owned); MR_ESTORE if it is not one. */
static int subs_load(const struct mr_kv *kv, json_t **out, struct mr_err *err)
{
    json_error_t jerr;
    json_t *a = kv->v[0] != '\0' ? json_loads(kv->v, 0, &jerr) : json_array();

    if (a == NULL || !json_is_array(a)) {
        json_decref(a);
        return mr_err_set(err, MR_ESTORE, "store: topic '%s': subscribers are not a JSON array",
                          kv->k);
    }
    *out = a;
    return 0;
}

/* sub_url - the url of subscriber entry @e, or NULL when it has none. Borrowed. */
static const char *sub_url(json_t *e)
{
    json_t *u = json_is_object(e) ? json_object_get(e, "url") : NULL;

    return json_is_string(u) ? json_string_value(u) : NULL;
}

/* subs_find - the index of @url in @a, or -1. */
static long subs_find(json_t *a, const char *url)
{
    size_t i;
    const char *u;

    for (i = 0; i < json_array_size(a); i++) {
        u = sub_url(json_array_get(a, i));
        if (u != NULL && strcmp(u, url) == 0)
            return (long)i;
    }
    return -1;
}

/* subs_entry - a new subscriber entry {"url":…,"remark":…}, the keys in DTM's order. */
static json_t *subs_entry(const char *url, const char *remark)
{
    json_t *e = json_object();

    json_object_set_new(e, "url", json_string(url));
    json_object_set_new(e, "remark", json_string(remark != NULL ? remark : ""));
    return e;
}

/* subs_dump - @a as compact JSON text. Owned result: free(). */
static char *subs_dump(json_t *a)
{
    char *v = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);

    return v != NULL ? v : mr_xstrdup("[]");
}

int mr_store_topic_subscribers(struct mr_store *s, const char *topic, char ***urls, size_t *n,
                               struct mr_err *err)
{
    struct mr_kv *kv = NULL;
    json_t *a = NULL;
    char **v = NULL;
    size_t len = 0;
    size_t i;
    int rc;

    *urls = NULL;
    *n = 0;
    rc = mr_store_kv_get(s, MR_STORE_TOPICS_CAT, topic, &kv, err);
    if (rc != 0)
        return rc;
    if (kv == NULL)
        return mr_err_set(err, MR_ENOENT, "store: no topic '%s'", topic);
    rc = subs_load(kv, &a, err);
    if (rc == 0 && json_array_size(a) > 0)
        v = mr_xcalloc(json_array_size(a), sizeof(*v));
    for (i = 0; rc == 0 && i < json_array_size(a); i++) {
        const char *u = sub_url(json_array_get(a, i));

        if (u == NULL)
            rc = mr_err_set(err, MR_ESTORE, "store: topic '%s': subscriber %zu has no url", topic,
                            i);
        else
            v[len++] = mr_xstrdup(u);
    }
    json_decref(a);
    mr_store_kvs_free(kv, 1);
    if (rc != 0) {
        for (i = 0; i < len; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *urls = v;
    *n = len;
    return 0;
}

/*
 * topic_read - @topic's row into *@kv (left NULL when there is none), for the
 * write @what, which runs inside a transaction only.
 */
static int topic_read(struct mr_store *s, const char *topic, const char *what, struct mr_kv **kv,
                      struct mr_err *err)
{
    int rc = mr_store_enter(s, MR_STORE_TX_NEED, what, err);

    if (rc != 0)
        return rc;
    return mr_store_kv_get(s, MR_STORE_TOPICS_CAT, topic, kv, err);
}

/* subs_save - @a as the new subscriber list of the row @kv, compare-and-set on its version. */
static int subs_save(struct mr_store *s, const struct mr_kv *kv, json_t *a, int64_t now_ms,
                     struct mr_err *err)
{
    char *v = subs_dump(a);
    int rc = s->eng->kv_update(s, kv->id, kv->version, v, now_ms, err);

    free(v);
    return rc;
}

/* topic_create - the first subscriber of a new topic. */
static int topic_create(struct mr_store *s, const char *topic, const char *url, const char *remark,
                        int64_t now_ms, struct mr_err *err)
{
    json_t *a = json_array();
    struct mr_kv kv;
    int rc;

    json_array_append_new(a, subs_entry(url, remark));
    memset(&kv, 0, sizeof(kv));
    kv.cat = (char *)MR_STORE_TOPICS_CAT;
    kv.k = (char *)topic;
    kv.v = subs_dump(a);
    kv.create_ms = now_ms;
    kv.update_ms = now_ms;
    json_decref(a);
    rc = s->eng->kv_insert(s, &kv, err);
    free(kv.v);
    if (rc == MR_EEXIST)
        return mr_err_set(err, MR_ECONFLICT, "store: topic '%s' was created concurrently", topic);
    return rc;
}

int mr_store_topic_subscribe(struct mr_store *s, const char *topic, const char *url,
                             const char *remark, int64_t now_ms, struct mr_err *err)
{
    struct mr_kv *kv = NULL;
    json_t *a = NULL;
    int rc;

    rc = topic_read(s, topic, "topic subscribe", &kv, err);
    if (rc != 0)
        return rc;
    if (kv == NULL)
        return topic_create(s, topic, url, remark, now_ms, err);
    rc = subs_load(kv, &a, err);
    if (rc == 0 && subs_find(a, url) >= 0)
        rc = mr_err_set(err, MR_EEXIST, "this url exists");
    if (rc == 0 && json_array_size(a) >= MR_STORE_TOPIC_MAX_SUBSCRIBERS)
        rc = mr_err_set(err, MR_ETOOBIG, "topic '%s' has %d subscribers, the most allowed", topic,
                        MR_STORE_TOPIC_MAX_SUBSCRIBERS);
    if (rc == 0) {
        json_array_append_new(a, subs_entry(url, remark));
        rc = subs_save(s, kv, a, now_ms, err);
    }
    json_decref(a);
    mr_store_kvs_free(kv, 1);
    return rc;
}

int mr_store_topic_unsubscribe(struct mr_store *s, const char *topic, const char *url,
                               int64_t now_ms, struct mr_err *err)
{
    struct mr_kv *kv = NULL;
    json_t *a = NULL;
    long at = -1;
    int rc;

    rc = topic_read(s, topic, "topic unsubscribe", &kv, err);
    if (rc != 0)
        return rc;
    if (kv == NULL)
        return mr_err_set(err, MR_ENOENT, "no such a topic");
    rc = subs_load(kv, &a, err);
    if (rc == 0 && json_array_size(a) == 0)
        rc = mr_err_set(err, MR_ENOENT, "this topic is empty");
    if (rc == 0) {
        at = subs_find(a, url);
        if (at < 0)
            rc = mr_err_set(err, MR_ENOENT, "no such an url ");
    }
    if (rc == 0) {
        json_array_remove(a, (size_t)at);
        rc = subs_save(s, kv, a, now_ms, err);
    }
    json_decref(a);
    mr_store_kvs_free(kv, 1);
    return rc;
}

int mr_store_topic_delete(struct mr_store *s, const char *topic, struct mr_err *err)
{
    int rc = mr_store_enter(s, MR_STORE_TX_NEED, "topic delete", err);

    if (rc == 0)
        rc = s->eng->kv_delete(s, MR_STORE_TOPICS_CAT, topic, err);
    if (rc == MR_ENOENT)
        return mr_err_set(err, MR_ENOENT, "storage: NotFound");
    return rc;
}
