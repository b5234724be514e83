/* SPDX-License-Identifier: MIT */
/*
 * prepare_cache.c - the writer's memory of the messages it prepared a moment
 * ago, so that their submit needs no read of the message and its steps.
 *
 * A hint, never the truth: the submit of a remembered message moves it with
 * mr_store_msg_transition_ids(), which changes the row only while it is still
 * prepared under the same id; when it is not (another relay aborted it, a
 * back-check finished it, it was deleted and prepared again), the writer
 * forgets the hint and decides again from the store (prepare_writer.c).
 *
 * Bounded (prepare_int.h): MR_PCACHE_ENTRIES messages, MR_PCACHE_BYTES bytes
 * of them, each kept MR_PCACHE_AGE_MS at most and never past its back-check
 * time (next_cron_ms), when the relay may look at it. The oldest go first
 * when a bound is reached; a message over a quarter of the bytes is not kept.
 *
 * Must not: touch the store. Threads: the writer's only.
 */
#include "prepare/prepare_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* Buckets of the gid table: a power of two, a few entries each at the most. */
#define PCACHE_BUCKETS 2048

struct pentry {
    struct mr_msg *m;     /* owned */
    size_t bytes;         /* what it counts against MR_PCACHE_BYTES */
    int64_t expire_ms;    /* wall clock, as m->next_cron_ms */
    struct pentry *chain; /* next in its bucket */
    struct pentry *older; /* the age list: oldest at c->oldest */
    struct pentry *newer;
};

struct mr_pcache {
    struct pentry *bucket[PCACHE_BUCKETS];
    struct pentry *oldest;
    struct pentry *newest;
    size_t n;
    size_t bytes;
};

struct mr_pcache *mr_pcache_new(void)
{
    return mr_xcalloc(1, sizeof(struct mr_pcache));
}

/* gid_bucket - the bucket of @gid (FNV-1a). */
static size_t gid_bucket(const char *gid)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *gid != '\0'; gid++) {
        h ^= (unsigned char)*gid;
        h *= 1099511628211ULL;
    }
    return (size_t)(h & (PCACHE_BUCKETS - 1));
}

/* str_len - strlen, 0 for NULL. */
static size_t str_len(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* msg_bytes - about what @m holds in memory. */
static size_t msg_bytes(const struct mr_msg *m)
{
    size_t n = sizeof(*m) + str_len(m->gid) + str_len(m->query_prepared) +
               str_len(m->custom_data) + str_len(m->branch_headers) + str_len(m->traceparent) +
               str_len(m->tracestate) + str_len(m->ordering_key) + str_len(m->query_dest);
    size_t i;

    for (i = 0; i < m->nsteps; i++) {
        const struct mr_step *st = &m->steps[i];

        n += sizeof(*st) + st->payload_len + str_len(st->url) + str_len(st->branch_id) +
             str_len(st->dest);
    }
    return n;
}

/* unlink_entry - take @e out of the table and the age list (not freed). */
static void unlink_entry(struct mr_pcache *c, struct pentry *e)
{
    struct pentry **pp = &c->bucket[gid_bucket(e->m->gid)];

    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->n--;
    c->bytes -= e->bytes;
}

/* drop_entry - forget @e and free it with its message. */
static void drop_entry(struct mr_pcache *c, struct pentry *e)
{
    unlink_entry(c, e);
    mr_msg_free(e->m);
    free(e);
}

/* find - the entry of @gid, or NULL. */
static struct pentry *find(struct mr_pcache *c, const char *gid)
{
    struct pentry *e;

    for (e = c->bucket[gid_bucket(gid)]; e != NULL; e = e->chain) {
        if (strcmp(e->m->gid, gid) == 0)
            return e;
    }
    return NULL;
}

void mr_pcache_put(struct mr_pcache *c, struct mr_msg *m, int64_t now_ms)
{
    struct pentry *e;
    size_t bytes = msg_bytes(m);
    int64_t expire = now_ms + MR_PCACHE_AGE_MS;

    if (m->next_cron_ms < expire)
        expire = m->next_cron_ms; /* the relay may back-check it from then on */
    e = find(c, m->gid);
    if (e != NULL)
        drop_entry(c, e);
    if (bytes > MR_PCACHE_BYTES / 4 || expire <= now_ms) {
        mr_msg_free(m);
        return;
    }
    while (c->oldest != NULL && (c->n >= MR_PCACHE_ENTRIES || c->bytes + bytes > MR_PCACHE_BYTES))
        drop_entry(c, c->oldest);
    e = mr_xcalloc(1, sizeof(*e));
    e->m = m;
    e->bytes = bytes;
    e->expire_ms = expire;
    e->chain = c->bucket[gid_bucket(m->gid)];
    c->bucket[gid_bucket(m->gid)] = e;
    e->older = c->newest;
    if (c->newest != NULL)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->n++;
    c->bytes += bytes;
}

struct mr_msg *mr_pcache_take(struct mr_pcache *c, const char *gid, int64_t now_ms)
{
    struct pentry *e = c->n > 0 ? find(c, gid) : NULL;
    struct mr_msg *m;

    if (e == NULL)
        return NULL;
    if (e->expire_ms <= now_ms) {
        drop_entry(c, e);
        return NULL;
    }
    m = e->m;
    unlink_entry(c, e);
    free(e);
    return m;
}

void mr_pcache_drop(struct mr_pcache *c, const char *gid)
{
    struct pentry *e = c->n > 0 ? find(c, gid) : NULL;

    if (e != NULL)
        drop_entry(c, e);
}

void mr_pcache_expire(struct mr_pcache *c, int64_t now_ms)
{
    struct pentry *e = c->oldest;

    /* the age list is in insertion order: past the first one young enough by age, only an
       early back-check time can have expired, and take() checks that */
    while (e != NULL && e->expire_ms <= now_ms) {
        struct pentry *next = e->newer;

        drop_entry(c, e);
        e = next;
    }
}

void mr_pcache_clear(struct mr_pcache *c)
{
    while (c->oldest != NULL)
        drop_entry(c, c->oldest);
}

size_t mr_pcache_count(const struct mr_pcache *c)
{
    return c->n;
}

void mr_pcache_free(struct mr_pcache *c)
{
    if (c == NULL)
        return;
    mr_pcache_clear(c);
    free(c);
}
