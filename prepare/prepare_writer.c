/* SPDX-License-Identifier: MIT */
/*
 * prepare_writer.c - the intake's group-commit writer and the state rules.
 *
 * One thread owns one store connection. HTTP threads queue requests (bounded:
 * a full queue is a 503, never growth); the writer takes everything queued, up
 * to mr_config.max_batch, applies each request's state rule inside ONE
 * transaction, commits, and only then answers: a 200 always means committed.
 * If a batch fails in the store, it is rolled back and replayed one request per
 * transaction, so one bad request cannot fail its neighbours.
 *
 * A submit due now is written leased to this process's relay and, once
 * committed, handed to it through the hooks (struct mr_prepare_hooks), as
 * many as the relay has room for, while no due message waits in the store
 * (prepare_backlog.c); the others wait for the relay's claim, oldest first.
 * While the oldest due message has waited past --backlog-slow-ms the writer
 * waits a little before each group commit.
 * Submits with wait_result stay parked after the commit until the relay
 * reports a pass over their gid (mr_writer_pass_done) or their deadline ends.
 * A message this writer prepared is remembered for a few seconds
 * (prepare_cache.c), so that its submit needs no read of the message and its
 * steps: the submit's conditional write (mr_store_msg_transition_ids) tells
 * whether the memory still holds. Likewise a prepare of a gid it does not
 * remember is taken for a new message without a read: the insert's unique
 * gid tells. When a guess fails the transaction is made again, reading every
 * gid from the store.
 * This file never delivers anything and never calls relay/ or query/.
 *
 * Transactions go through mr_store_run_tx() (tried again when the store lost
 * them); answers through mr_reply_envelope[f]() (prepare_reply.c), never a
 * fixed text buffer.
 */
#include "prepare/prepare_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/kafka_url.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"

struct mr_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct mr_req *head; /* queued, oldest first (mu) */
    struct mr_req *tail;
    int queued;
    bool stopping;
    struct mr_req *waiters; /* committed submits waiting for a pass (mu) */
    struct mr_store *store; /* writer thread only */
    struct mr_prepare_hooks hooks;
    void (*resume)(void *conn);
    /* writer thread only: the messages leased to the relay by this batch's transactions,
       handed over once the batch is answered */
    struct handed *hand;
    size_t nhand;
    size_t caphand;
    size_t room; /* how many more this batch may lease (hooks.room) */
    long left;   /* writer thread only: due messages this batch left in the store unleased */
    /* writer thread only: the messages it prepared a moment ago, and the prepares of this
       batch's transactions that go there once committed */
    struct mr_pcache *cache;
    struct mr_req **fresh;
    size_t nfresh;
    size_t capfresh;
    bool stale;   /* the transaction failed on a guess: a remembered message changed, or a
                     prepare's gid taken for new was stored */
    bool careful; /* this attempt reads every gid: no memory, no guess */
};

/*
 * One message leased to the relay: a new one still in its request (taken
 * from it once committed), or a prepared one the writer loaded (owned).
 */
struct handed {
    struct mr_req *r;
    struct mr_msg *m;
};

/* A request whose answer waits for a relay pass carries this status until then. */
#define WAITING 0

/* How long the writer writes nothing before it gives memory back (idle_turn), ms. */
#define IDLE_SHED_MS 2000

/* store_failure - answer @r for a store error @rc. */
static void store_failure(struct mr_req *r, int rc, const struct mr_err *err)
{
    mr_reply_envelopef(&r->answer, rc == MR_EUNAVAIL || rc == MR_EBUSY ? 503 : 500, "store: %s",
                       err->msg[0] ? err->msg : mr_strerror(rc));
}

/* not_found - 500 "no TransGlobal with gid: <gid> found" as DTM words it. */
static void not_found(struct mr_req *r)
{
    mr_reply_envelopef(&r->answer, 500, "no TransGlobal with gid: %s found", r->gid);
}

/* wait_deadline - how long a wait_result submit may wait for its pass. */
static int64_t wait_deadline(const struct mr_msg *m, size_t nsteps)
{
    int timeout = m->request_timeout ? m->request_timeout : mr_config.request_timeout;

    /* the relay cuts every call at this cap: a connection waits no longer either */
    if (timeout > mr_config.max_request_timeout)
        timeout = mr_config.max_request_timeout;
    return mr_mono_ms() + ((int64_t)timeout * (int64_t)(nsteps + 1) + 5) * 1000;
}

/* after_submit - the answer of a committed submit: 200, or park it for its pass. */
static void after_submit(struct mr_req *r, size_t nsteps, int64_t due_ms, int64_t now)
{
    if (!r->msg->wait_result) {
        mr_reply_envelope(&r->answer, 200, NULL);
    } else if (due_ms > now) {
        /* a delay is pending: the pass cannot come within this request */
        mr_reply_envelope(&r->answer, 409, "wait result not return success: FAILURE");
    } else {
        r->answer.status = WAITING;
        r->wait_deadline_ms = wait_deadline(r->msg, nsteps);
    }
}

/* fill_new - set @r->msg up as a new message in @state: times and schedule. */
static void fill_new(struct mr_req *r, int state, int64_t now)
{
    struct mr_msg *m = r->msg;
    size_t i;

    m->state = state;
    m->create_ms = now;
    m->update_ms = now;
    m->next_cron_interval = mr_backoff_msg_base(m);
    if (state == MR_MSG_PREPARED) {
        int ttf = m->timeout_to_fail ? m->timeout_to_fail : mr_config.timeout_to_fail;

        m->next_cron_ms = now + (int64_t)ttf * 1000;
    } else {
        m->next_cron_ms = now + (int64_t)m->delay * 1000;
    }
    for (i = 0; i < m->nsteps; i++) {
        m->steps[i].create_ms = now;
        m->steps[i].update_ms = now;
    }
}

/* fresh_add - @r prepared a new message in the open transaction: remember it once committed. */
static void fresh_add(struct mr_writer *w, struct mr_req *r)
{
    MR_ALLOC_GROW(w->fresh, w->nfresh + 1, w->capfresh);
    w->fresh[w->nfresh++] = r;
}

/*
 * forget - stop remembering @gid (NULL: every message): what the writer is
 * about to do may change it. Also from the prepares of this batch not yet
 * committed, which are few.
 */
static void forget(struct mr_writer *w, const char *gid)
{
    size_t i;

    if (gid != NULL)
        mr_pcache_drop(w->cache, gid);
    else
        mr_pcache_clear(w->cache);
    for (i = 0; i < w->nfresh; i++) {
        if (w->fresh[i] != NULL && (gid == NULL || strcmp(w->fresh[i]->gid, gid) == 0))
            w->fresh[i] = NULL;
    }
}

/* apply_abort - prepared -> failed; else 409; unknown -> 500 as DTM answers. */
static int apply_abort(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur, int64_t now,
                       struct mr_err *err)
{
    int rc;

    if (cur == NULL) {
        not_found(r);
        return 0;
    }
    if (cur->state != MR_MSG_PREPARED) {
        mr_reply_envelopef(&r->answer, 409,
                           "trans type: 'msg' current status '%s', cannot abort. FAILURE",
                           mr_msg_state_name(cur->state));
        return 0;
    }
    rc = mr_store_msg_transition(w->store, r->gid, MR_MSG_PREPARED, MR_MSG_FAILED, now, -1, 0, err);
    if (rc == 0)
        mr_reply_envelope(&r->answer, 200, NULL);
    return rc;
}

/* apply_forcestop - any unfinished -> failed; finished -> 409. */
static int apply_forcestop(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur,
                           int64_t now, struct mr_err *err)
{
    int rc;

    if (cur == NULL) {
        not_found(r);
        return 0;
    }
    if (mr_msg_state_is_final(cur->state)) {
        mr_reply_envelopef(&r->answer, 409,
                           "global transaction force stop error. status: %s. error: FAILURE",
                           mr_msg_state_name(cur->state));
        return 0;
    }
    rc = mr_store_msg_transition(w->store, r->gid, cur->state, MR_MSG_FAILED, now, -1, 0, err);
    if (rc == 0)
        mr_reply_envelope(&r->answer, 200, NULL);
    return rc;
}

/* apply_reset - make an unfinished message due now ("retry now"). */
static int apply_reset(struct mr_writer *w, struct mr_req *r, const struct mr_msg *cur, int64_t now,
                       bool *woke, struct mr_err *err)
{
    int rc = 0;

    if (cur == NULL) {
        not_found(r);
        return 0;
    }
    if (mr_msg_state_is_live(cur->state)) { /* a parked message waits for a redrive */
        rc = mr_store_msg_schedule(w->store, r->gid, now, -1, now, err);
        *woke = true;
    }
    if (rc == 0)
        mr_reply_envelope(&r->answer, 200, NULL);
    return rc;
}

/* apply_all - one page of the message list. */
static int apply_all(struct mr_writer *w, struct mr_req *r, struct mr_err *err)
{
    struct mr_msg **v = NULL;
    size_t n = 0;
    int rc;

    rc = mr_store_msg_list(w->store, &r->filter, &v, &n, err);
    if (rc == 0)
        mr_reply_json(&r->answer,
                      mr_render_all(v, n, r->filter.limit,
                                    r->filter.gid != NULL ? (long long)r->filter.position : -1));
    mr_store_msgs_free(v, n);
    return rc;
}

/* ---- DTM topics ---- */

/* step_clear - free what step @st owns. */
static void step_clear(struct mr_step *st)
{
    free(st->branch_id);
    free(st->url);
    free(st->payload);
    free(st->last_error);
}

/* step_fill - @st as a new prepared branch @branch_id to @url with @src's payload. */
static void step_fill(struct mr_step *st, const char *branch_id, const char *url,
                      const struct mr_step *src)
{
    memset(st, 0, sizeof(*st));
    st->branch_id = mr_xstrdup(branch_id);
    st->url = mr_xstrdup(url);
    /* payloads may hold NUL bytes: copy by length */
    st->payload = mr_xmalloc(src->payload_len + 1);
    memcpy(st->payload, src->payload, src->payload_len);
    st->payload[src->payload_len] = '\0';
    st->payload_len = src->payload_len;
    st->state = MR_STEP_PREPARED;
}

/* urls_free - free @n strings of @v and @v. */
static void urls_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/*
 * topic_urls - the destinations of step @i named topic://@name: its
 * subscribers, read from the store now. Returns a store error, or 0 with
 * *refused set when @r has been answered (no such topic, no subscribers, a
 * kafka:// subscriber on a relay without brokers).
 */
static int topic_urls(struct mr_writer *w, struct mr_req *r, size_t i, const char *name,
                      char ***urls, size_t *n, bool *refused, struct mr_err *err)
{
    struct mr_err e = MR_ERR_INIT;
    size_t j;
    int rc;

    rc = mr_store_topic_subscribers(w->store, name, urls, n, &e);
    if (rc != 0 && rc != MR_ENOENT) {
        *err = e;
        return rc;
    }
    if (rc == MR_ENOENT || *n == 0) {
        /* DTM: "topic not found" (its clients' tests look for these words) */
        mr_reply_envelopef(&r->answer, 400, "steps[%zu].action: topic not found: '%s'", i, name);
        *refused = true;
        return 0;
    }
    for (j = 0; j < *n; j++) {
        if (mr_kafka_url_is((*urls)[j]) && mr_config.kafka_brokers == NULL) {
            mr_reply_envelopef(&r->answer, 400,
                               "steps[%zu].action: topic '%s' has a kafka:// subscriber and "
                               "kafka destinations are not configured on this relay",
                               i, name);
            *refused = true;
            return 0;
        }
    }
    return 0;
}

/*
 * expand_topics - replace each topic://NAME step of @r->msg by one branch per
 * subscriber of NAME, read from the store inside this transaction (so a topic
 * deleted or changed a moment ago is seen as it is now), all with the step's
 * payload. Branch ids are "%02d-%02d" (step, subscriber); a step with one
 * destination keeps "%02d", as DTM numbers them. Returns a store error, or 0
 * with *refused set when @r has been answered (unknown or empty topic, more
 * branches than mr_config.max_steps). A message without topic steps is left
 * alone, so a replayed transaction finds nothing more to expand.
 */
static int expand_topics(struct mr_writer *w, struct mr_req *r, bool *refused, struct mr_err *err)
{
    struct mr_msg *m = r->msg;
    struct mr_step *out = NULL;
    size_t nout = 0;
    size_t cap = 0;
    size_t i;
    size_t j;
    int rc = 0;
    bool any = false;

    for (i = 0; i < m->nsteps; i++)
        any = any || strncmp(m->steps[i].url, MR_TOPIC_SCHEME, strlen(MR_TOPIC_SCHEME)) == 0;
    if (!any)
        return 0;
    for (i = 0; rc == 0 && !*refused && i < m->nsteps; i++) {
        const struct mr_step *st = &m->steps[i];
        char *one[1] = {st->url};
        char **urls = one;
        size_t n = 1;
        char id[48];

        if (strncmp(st->url, MR_TOPIC_SCHEME, strlen(MR_TOPIC_SCHEME)) == 0) {
            rc = topic_urls(w, r, i, st->url + strlen(MR_TOPIC_SCHEME), &urls, &n, refused, err);
            if (rc != 0 || *refused) {
                if (urls != one)
                    urls_free(urls, n);
                break;
            }
        }
        if (nout + n > (size_t)mr_config.max_steps) {
            mr_reply_envelopef(&r->answer, 400, "steps: more than %d branches",
                               mr_config.max_steps);
            *refused = true;
        }
        for (j = 0; !*refused && j < n; j++) {
            if (n == 1)
                snprintf(id, sizeof(id), "%02zu", i + 1);
            else
                snprintf(id, sizeof(id), "%02zu-%02zu", i + 1, j + 1);
            MR_ALLOC_GROW(out, nout + 1, cap);
            step_fill(&out[nout++], id, urls[j], st);
        }
        if (urls != one)
            urls_free(urls, n);
    }
    if (rc != 0 || *refused) {
        for (j = 0; j < nout; j++)
            step_clear(&out[j]);
        free(out);
        return rc;
    }
    for (i = 0; i < m->nsteps; i++)
        step_clear(&m->steps[i]);
    free(m->steps);
    m->steps = out;
    m->nsteps = nout;
    return 0;
}

/*
 * apply_topic - subscribe, unsubscribe or delete a topic. DTM's refusals
 * ("this url exists", "no such a topic", ...) are answered 500 with DTM's
 * text and write nothing; a store failure is returned.
 */
static int apply_topic(struct mr_writer *w, struct mr_req *r, struct mr_err *err)
{
    struct mr_err e = MR_ERR_INIT;
    int64_t now = mr_now_ms();
    int rc;

    if (r->op == MR_OP_SUBSCRIBE)
        rc = mr_store_topic_subscribe(w->store, r->topic, r->url, r->remark, now, &e);
    else if (r->op == MR_OP_UNSUBSCRIBE)
        rc = mr_store_topic_unsubscribe(w->store, r->topic, r->url, now, &e);
    else
        rc = mr_store_topic_delete(w->store, r->topic, &e);
    switch (rc) {
    case 0:
        mr_reply_envelope(&r->answer, 200, NULL);
        return 0;
    case MR_EEXIST:
    case MR_ENOENT:
        mr_reply_envelope(&r->answer, 500, e.msg);
        return 0;
    case MR_ECONFLICT:
        /* another relay changed the topic since we read it; DTM answers the lost race so */
        mr_reply_envelope(&r->answer, 500,
                          "storage: NotFound (the topic changed meanwhile; retry)");
        return 0;
    case MR_ETOOBIG:
        mr_reply_envelope(&r->answer, 400, e.msg);
        return 0;
    default:
        *err = e;
        return rc;
    }
}

/* queryKV without a key lists at most this many rows of its category. */
#define KV_LIST_MAX 1000

/* apply_kv - scanKV or queryKV. */
static int apply_kv(struct mr_writer *w, struct mr_req *r, struct mr_err *err)
{
    struct mr_kv *v = NULL;
    size_t n = 0;
    size_t i;
    int rc;

    if (r->op == MR_OP_SCANKV) {
        rc = mr_store_kv_scan(w->store, r->kv_cat, r->kv_position, r->kv_limit, &v, &n, err);
    } else if (r->kv_key == NULL) {
        /* queryKV without a key: the whole category, oldest first as DTM lists it, bounded */
        rc = mr_store_kv_scan(w->store, r->kv_cat, 0, KV_LIST_MAX, &v, &n, err);
        for (i = 0; rc == 0 && i < n / 2; i++) {
            struct mr_kv t = v[i];

            v[i] = v[n - 1 - i];
            v[n - 1 - i] = t;
        }
    } else {
        rc = mr_store_kv_get(w->store, r->kv_cat, r->kv_key, &v, err);
        n = v != NULL ? 1 : 0;
    }
    if (rc == 0)
        mr_reply_json(&r->answer, mr_render_kvs(v, n, r->op == MR_OP_SCANKV, r->kv_limit));
    mr_store_kvs_free(v, n);
    return rc;
}

/* apply_reset_cron - resetCronTime: far-off unfinished messages due now, the relay woken. */
static int apply_reset_cron(struct mr_writer *w, struct mr_req *r, bool *woke, struct mr_err *err)
{
    int64_t now = mr_now_ms();
    long count = 0;
    bool remaining = false;
    json_t *j;
    int rc = mr_store_reset_cron(w->store, now, now + r->cron_after_s * 1000, r->cron_limit,
                                 &count, &remaining, err);

    if (rc != 0)
        return rc;
    if (count > 0)
        *woke = true;
    j = json_object();
    json_object_set_new(j, "has_remaining", json_boolean(remaining));
    json_object_set_new(j, "succeed_count", json_integer(count));
    mr_reply_json(&r->answer, j);
    return 0;
}

/*
 * apply - run @r's state rule inside the open transaction and set its answer
 * (every request but prepare and submit: apply_run()). Returns 0, or a store
 * error after which the transaction must be rolled back.
 */
static int apply(struct mr_writer *w, struct mr_req *r, bool *woke, struct mr_err *err)
{
    struct mr_msg *cur = NULL;
    int64_t now = mr_now_ms();
    int rc;

    if (r->op == MR_OP_ALL)
        return apply_all(w, r, err);
    if (r->op == MR_OP_SUBSCRIBE || r->op == MR_OP_UNSUBSCRIBE || r->op == MR_OP_TOPIC_DELETE)
        return apply_topic(w, r, err);
    if (r->op == MR_OP_SCANKV || r->op == MR_OP_QUERYKV)
        return apply_kv(w, r, err);
    if (r->op == MR_OP_RESETCRON) {
        forget(w, NULL); /* prepared messages may become due for their back-check */
        return apply_reset_cron(w, r, woke, err);
    }
    if (r->op == MR_OP_ABORT || r->op == MR_OP_FORCESTOP || r->op == MR_OP_RESET)
        forget(w, r->gid); /* it changes, or becomes due for its back-check */
    rc = mr_store_msg_get(w->store, r->gid, r->op == MR_OP_QUERY, &cur, err);
    if (rc != 0)
        return rc;
    switch (r->op) {
    case MR_OP_ABORT:
        rc = apply_abort(w, r, cur, now, err);
        break;
    case MR_OP_FORCESTOP:
        rc = apply_forcestop(w, r, cur, now, err);
        break;
    case MR_OP_RESET:
        rc = apply_reset(w, r, cur, now, woke, err);
        break;
    case MR_OP_QUERY:
        mr_reply_json(&r->answer, mr_render_query(cur));
        break;
    case MR_OP_PREPARE: /* apply_run() */
    case MR_OP_SUBMIT:
    case MR_OP_ALL:
    case MR_OP_SUBSCRIBE:
    case MR_OP_UNSUBSCRIBE:
    case MR_OP_TOPIC_DELETE:
    case MR_OP_SCANKV:
    case MR_OP_QUERYKV:
    case MR_OP_RESETCRON:
    case MR_OP_REDRIVE: /* prepare_redrive.c, never the writer */
        break;
    }
    mr_msg_free(cur);
    return rc;
}

/* ---- the batch path: runs of prepares and submits, many per statement ---- */

/* What a run knows of one gid: the stored message, with the run's own decisions on top. */
struct gslot {
    const char *gid;        /* borrowed from a request */
    int state;              /* as the requests so far leave it; MR_MSG_NONE = no message */
    int64_t create_ms;      /* of the stored or the inserted message */
    int next_cron_interval; /* likewise */
    struct mr_msg *cur;     /* the stored message with its steps (owned), NULL when none */
    const char *okey;       /* its ordering key ("" = none; borrowed from cur or a request) */
    bool first_submit;      /* the run's first request of the gid is a submit */
    bool hint;              /* cur is the remembered message (prepare_cache.c), not read */
    bool guess;             /* taken for new without a read (its first request: a prepare) */
    struct mr_req *made;    /* the prepare of this run that inserted it, or NULL */
};

/* One prepared -> submitted change of a run, and the submit that asked for it. */
struct subm {
    struct gslot *g;
    int64_t due;
    int interval;
    bool lease; /* leased to the relay and handed to it after the commit */
    struct mr_req *r;
};

/* One run of prepares and submits: its gids and the writes it decided. */
struct run {
    struct mr_writer *w;
    struct gslot *slots; /* distinct gids, first seen first */
    size_t nslots;
    size_t *table; /* open addressing over slots: index + 1, 0 = empty */
    size_t tsize;  /* a power of two, at least twice the requests */
    struct gslot **of; /* of[i]: the slot of request i, NULL when it was answered early */
    struct mr_msg **ins; /* new messages, borrowed from their requests */
    size_t nins;
    struct subm *subs;
    size_t nsubs;
    struct mr_req **again; /* submits of submitted messages: due now again */
    size_t nagain;
    bool guessed; /* some slot is a guess (gslot.guess) */
};

/* gid_hash - FNV-1a of @gid. */
static size_t gid_hash(const char *gid)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *gid != '\0'; gid++) {
        h ^= (unsigned char)*gid;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

/* run_slot - the slot of @r's gid, added (as @r's) when it is new. */
static struct gslot *run_slot(struct run *run, const struct mr_req *r)
{
    const char *gid = r->gid;
    size_t i = gid_hash(gid) & (run->tsize - 1);
    struct gslot *g;

    while (run->table[i] != 0) {
        g = &run->slots[run->table[i] - 1];
        if (strcmp(g->gid, gid) == 0)
            return g;
        i = (i + 1) & (run->tsize - 1);
    }
    g = &run->slots[run->nslots++];
    g->gid = gid;
    g->first_submit = r->op == MR_OP_SUBMIT;
    run->table[i] = run->nslots;
    return g;
}

/* run_init - room for a run of @n requests. */
static void run_init(struct run *run, struct mr_writer *w, size_t n)
{
    memset(run, 0, sizeof(*run));
    run->w = w;
    run->tsize = 16;
    while (run->tsize < 2 * n)
        run->tsize *= 2;
    run->table = mr_xcalloc(run->tsize, sizeof(*run->table));
    run->slots = mr_xcalloc(n, sizeof(*run->slots));
    run->of = mr_xcalloc(n, sizeof(*run->of));
    run->ins = mr_xcalloc(n, sizeof(*run->ins));
    run->subs = mr_xcalloc(n, sizeof(*run->subs));
    run->again = mr_xcalloc(n, sizeof(*run->again));
}

static void run_release(struct run *run)
{
    size_t i;

    for (i = 0; i < run->nslots; i++)
        mr_msg_free(run->slots[i].cur);
    free(run->table);
    free(run->slots);
    free(run->of);
    free(run->ins);
    free(run->subs);
    free(run->again);
}

/* ---- handing due submits to the relay ---- */

/* hand_add - note a message leased to the relay: @r's new one, or @m (taken). */
static void hand_add(struct mr_writer *w, struct mr_req *r, struct mr_msg *m)
{
    MR_ALLOC_GROW(w->hand, w->nhand + 1, w->caphand);
    w->hand[w->nhand].r = r;
    w->hand[w->nhand].m = m;
    w->nhand++;
}

/* hand_truncate - forget the handed messages past @mark (their transaction rolled back). */
static void hand_truncate(struct mr_writer *w, size_t mark)
{
    while (w->nhand > mark) {
        w->nhand--;
        mr_msg_free(w->hand[w->nhand].m);
        w->room++;
    }
}

/*
 * hand_over - give the relay every message leased by the batch's committed
 * transactions: a new one is taken from its request (which needs only its gid
 * and answer from now on).
 */
static void hand_over(struct mr_writer *w)
{
    struct mr_msg **v;
    size_t n = 0;
    size_t i;

    if (w->nhand == 0)
        return;
    v = mr_xcalloc(w->nhand, sizeof(*v));
    for (i = 0; i < w->nhand; i++) {
        struct mr_req *r = w->hand[i].r;

        if (r != NULL && r->msg->lease_until_ms == 0) {
            /* a keyed message the store made wait for its predecessor (not leased) */
            w->room++;
            continue;
        }
        if (r != NULL) {
            v[n++] = r->msg;
            r->msg = NULL;
        } else {
            v[n++] = w->hand[i].m;
        }
    }
    if (n > 0)
        w->hooks.hand(w->hooks.arg, v, n);
    w->nhand = 0;
    free(v);
}

/* set_lease - @m as leased to this process's relay from @now, or (!@lease) not leased. */
static void set_lease(struct mr_msg *m, bool lease, int64_t now)
{
    free(m->owner);
    m->owner = lease ? mr_xstrdup(mr_config.relay_id) : NULL;
    m->lease_until_ms = lease ? now + (int64_t)mr_config.lease * 1000 : 0;
}

/* may_lease - whether a message due at @due may be leased to the relay now (takes a room). */
static bool may_lease(struct mr_writer *w, int64_t due, int64_t now)
{
    if (due > now || w->room == 0 || w->hooks.hand == NULL)
        return false;
    w->room--;
    return true;
}

/* slot_set - @g's view from its stored (or remembered) message @m, NULL when none. */
static void slot_set(struct gslot *g, struct mr_msg *m)
{
    g->state = m != NULL ? m->state : MR_MSG_NONE;
    g->create_ms = m != NULL ? m->create_ms : 0;
    g->next_cron_interval = m != NULL ? m->next_cron_interval : 0;
    g->cur = m;
    g->okey = m != NULL && m->ordering_key != NULL ? m->ordering_key : "";
}

/*
 * run_load - read every gid of the run, with steps, in one batched lookup
 * (locking the rows), but two kinds the writer guesses (unless w->careful):
 * a gid whose first request is a submit of a message it remembers is taken
 * as it was prepared, a hint its conditional write checks (run_write_subs);
 * one whose first request is a prepare of a gid it does not remember is
 * taken for new, which the insert checks (run_write). A gid the run reads is
 * forgotten: its requests may change it.
 */
static int run_load(struct mr_writer *w, struct run *run, struct mr_err *err)
{
    const char **gids = mr_xcalloc(run->nslots, sizeof(*gids));
    struct mr_msg **cur = mr_xcalloc(run->nslots, sizeof(*cur));
    struct gslot **of = mr_xcalloc(run->nslots, sizeof(*of));
    int64_t now = mr_now_ms();
    size_t n = 0;
    size_t i;
    int rc;

    for (i = 0; i < run->nslots; i++) {
        struct gslot *g = &run->slots[i];
        struct mr_msg *m = NULL;

        if (!w->careful && g->first_submit)
            m = mr_pcache_take(w->cache, g->gid, now);
        if (m != NULL) {
            slot_set(g, m);
            g->hint = true;
            continue;
        }
        m = !w->careful && !g->first_submit ? mr_pcache_take(w->cache, g->gid, now) : NULL;
        if (m == NULL && !w->careful && !g->first_submit) {
            slot_set(g, NULL);
            g->guess = true;
            run->guessed = true;
            continue;
        }
        mr_msg_free(m); /* a repeated prepare: read it */
        forget(w, g->gid);
        of[n] = g;
        gids[n++] = g->gid;
    }
    rc = mr_store_msg_get_many(w->store, gids, n, true, cur, err);
    for (i = 0; i < n; i++)
        slot_set(of[i], cur[i]);
    free(gids);
    free(cur);
    free(of);
    return rc;
}

/* run_new - @r's message becomes a new one in @state, inserted with the run's writes. */
static void run_new(struct run *run, struct gslot *g, struct mr_req *r, int state, int64_t now)
{
    bool lease;

    fill_new(r, state, now);
    lease = state == MR_MSG_SUBMITTED && may_lease(run->w, r->msg->next_cron_ms, now);
    set_lease(r->msg, lease, now);
    if (lease)
        hand_add(run->w, r, NULL);
    else if (state == MR_MSG_SUBMITTED && r->msg->next_cron_ms <= now)
        run->w->left++;
    run->ins[run->nins++] = r->msg;
    g->okey = r->msg->ordering_key != NULL ? r->msg->ordering_key : "";
    g->state = state;
    g->create_ms = r->msg->create_ms;
    g->next_cron_interval = r->msg->next_cron_interval;
}

/* run_decide_prepare - the prepare rule on the run's view of the gid. */
static void run_decide_prepare(struct run *run, struct gslot *g, struct mr_req *r, int64_t now)
{
    if (g->state == MR_MSG_NONE) {
        run_new(run, g, r, MR_MSG_PREPARED, now);
        g->made = r;
        mr_reply_envelope(&r->answer, 200, NULL);
    } else if (g->state == MR_MSG_PREPARED) {
        mr_reply_envelope(&r->answer, 200, NULL); /* the first data is kept */
    } else {
        mr_reply_envelopef(&r->answer, 409, "current status '%s', cannot prepare. FAILURE",
                           mr_msg_state_name(g->state));
    }
}

/*
 * run_decide_submit - the submit rule on the run's view of the gid: none ->
 * submitted; prepared -> submitted (stored steps kept); submitted -> due now
 * again, so steps not yet succeeded are retried; else 409. A submit due now
 * is leased to the relay and handed to it when there is room, else the relay
 * is woken to look.
 */
static void run_decide_submit(struct run *run, struct gslot *g, struct mr_req *r, int64_t now,
                              bool *woke)
{
    struct subm *sb;
    int64_t due;

    switch (g->state) {
    case MR_MSG_NONE:
        if (r->msg->nsteps == 0) {
            /* only a prepared message may be submitted without its steps */
            mr_reply_envelope(&r->answer, 400, "steps: must not be empty");
            return;
        }
        run_new(run, g, r, MR_MSG_SUBMITTED, now);
        after_submit(r, r->msg->nsteps, r->msg->next_cron_ms, now);
        if (r->msg->owner == NULL)
            *woke = true;
        return;
    case MR_MSG_PREPARED:
        /* a delay counts from the submit, as DTM's submit pass counts it */
        due = now + (int64_t)r->msg->delay * 1000;
        sb = &run->subs[run->nsubs++];
        sb->g = g;
        sb->due = due;
        sb->interval = g->next_cron_interval;
        /* a message prepared in this very run is not loaded: the relay claims it */
        sb->lease = g->cur != NULL && may_lease(run->w, due, now);
        sb->r = r;
        if (!sb->lease && due <= now)
            run->w->left++;
        g->state = MR_MSG_SUBMITTED;
        after_submit(r, g->cur != NULL ? g->cur->nsteps : 10, due, now);
        if (!sb->lease)
            *woke = true;
        return;
    case MR_MSG_SUBMITTED:
        run->again[run->nagain++] = r;
        run->w->left++;
        after_submit(r, g->cur != NULL ? g->cur->nsteps : 10, now, now);
        *woke = true;
        return;
    default:
        mr_reply_envelopef(&r->answer, 409, "current status '%s', cannot sumbmit. FAILURE",
                           mr_msg_state_name(g->state));
        return;
    }
}

/* run_handed - prepared message @sb->g->cur is now submitted and leased: hand it after commit. */
static void run_handed(struct run *run, struct subm *sb, int64_t now)
{
    struct mr_msg *m = sb->g->cur;

    sb->g->cur = NULL;
    m->state = MR_MSG_SUBMITTED;
    m->update_ms = now;
    m->next_cron_ms = sb->due;
    m->next_cron_interval = sb->interval;
    set_lease(m, true, now);
    hand_add(run->w, NULL, m);
}

/* sub_id - the id of @sb's message: read, remembered, or inserted by this run (0: none). */
static int64_t sub_id(const struct subm *sb)
{
    if (sb->g->cur != NULL)
        return sb->g->cur->id;
    return sb->g->made != NULL && sb->g->made->msg != NULL ? sb->g->made->msg->id : 0;
}

/*
 * stale_hint - the remembered message @gid is no longer prepared under its id
 * (another relay aborted or submitted it, its back-check ended, it was stored
 * anew): fail the transaction, which run_txn() makes again from the store.
 */
static int stale_hint(struct mr_writer *w, const char *gid, struct mr_err *err)
{
    mr_log(MR_LOG_INFO, "prepared message changed since its prepare, deciding from the store",
           "gid", gid, NULL);
    w->stale = true;
    return mr_err_set(err, MR_ECONFLICT, "store: message '%s' changed since its prepare", gid);
}

/*
 * run_write_subs - the run's prepared -> submitted changes, one batched call
 * per (due, interval, lease) group (usually one: due is "now" without a delay),
 * by id: the rows read are locked, and a remembered one (g->hint) moves only
 * if it is still the prepared message the writer remembers.
 */
static int run_write_subs(struct mr_writer *w, struct run *run, int64_t now, struct mr_err *err)
{
    int64_t *ids = mr_xcalloc(run->nsubs + 1, sizeof(*ids));
    const char **gids = mr_xcalloc(run->nsubs + 1, sizeof(*gids));
    struct subm **grp = mr_xcalloc(run->nsubs + 1, sizeof(*grp));
    bool *changed = mr_xcalloc(run->nsubs + 1, sizeof(*changed));
    bool *done = mr_xcalloc(run->nsubs + 1, sizeof(*done));
    int64_t lease_until = now + (int64_t)mr_config.lease * 1000;
    size_t i;
    size_t j;
    size_t k;
    int rc;

    /* the keys these submits take places on, locked first in one order (store.h) */
    for (i = 0; i < run->nsubs; i++)
        gids[i] = run->subs[i].g->okey;
    rc = mr_store_order_lock(w->store, gids, run->nsubs, err);

    for (i = 0; rc == 0 && i < run->nsubs; i++) {
        struct subm *first = &run->subs[i];

        if (done[i])
            continue;
        k = 0;
        for (j = i; j < run->nsubs; j++) {
            struct subm *sb = &run->subs[j];

            if (!done[j] && sb->due == first->due && sb->interval == first->interval &&
                sb->lease == first->lease) {
                done[j] = true;
                grp[k] = sb;
                ids[k] = sub_id(sb);
                gids[k++] = sb->g->gid;
            }
        }
        rc = mr_store_msg_transition_ids(w->store, gids, ids, k, MR_MSG_PREPARED,
                                         MR_MSG_SUBMITTED, now, first->due, first->interval,
                                         first->lease ? mr_config.relay_id : NULL,
                                         first->lease ? lease_until : 0, changed, err);
        for (j = 0; rc == 0 && j < k; j++) {
            if (!changed[j] && grp[j]->g->hint)
                rc = stale_hint(w, gids[j], err);
        }
        for (j = 0; rc == 0 && j < k; j++) {
            bool head = true;

            /* a keyed message takes its place in its key's order with this commit */
            if (changed[j] && grp[j]->g->okey[0] != '\0') {
                int64_t pos;

                rc = mr_store_order_place(w->store, gids[j], grp[j]->g->okey, &pos, &head, err);
                if (rc != 0)
                    break;
            }
            if (changed[j] && !head) {
                /* it waits for its predecessor: the relay is not given it */
                if (grp[j]->lease)
                    w->room++;
            } else if (!changed[j]) {
                /* cannot happen under the rows' locks (nor to one this run inserted) */
                mr_reply_envelope(&grp[j]->r->answer, 500,
                                  "store: message changed during submit, retry");
                if (grp[j]->lease)
                    w->room++;
            } else if (grp[j]->lease) {
                run_handed(run, grp[j], now);
            }
        }
    }
    free(ids);
    free(gids);
    free(grp);
    free(changed);
    free(done);
    return rc;
}

/* run_write - the run's writes: new messages, then submits of prepared ones, then re-submits. */
static int run_write(struct mr_writer *w, struct run *run, int64_t now, struct mr_err *err)
{
    size_t i;
    int rc;

    rc = mr_store_msg_insert_many(w->store, run->ins, run->nins, err);
    if (rc == MR_EEXIST && run->guessed) {
        /* a prepare's gid taken for new is stored: a repeat, or another relay's */
        mr_log(MR_LOG_DEBUG, "a prepared gid exists, deciding from the store", NULL);
        w->stale = true;
    }
    if (rc != 0)
        return rc;
    for (i = 0; i < run->nins; i++)
        mr_metrics_transition(MR_MSG_NONE, run->ins[i]->state);
    rc = run_write_subs(w, run, now, err);
    for (i = 0; rc == 0 && i < run->nagain; i++) {
        rc = mr_store_msg_schedule(w->store, run->again[i]->gid, now, -1, now, err);
        if (rc == MR_ECONFLICT || rc == MR_ENOENT) {
            mr_reply_envelope(&run->again[i]->answer, 500,
                              "store: message changed during submit, retry");
            mr_err_clear(err);
            rc = 0;
        }
    }
    return rc;
}

/*
 * apply_run - @n prepares and submits in the open transaction, each answered
 * as its rule says: one batched lookup of their gids, a decision per request
 * in order on the run's own view (a gid may come twice, a prepare then its
 * submit), then the batched writes.
 */
static int apply_run(struct mr_writer *w, struct mr_req **reqs, size_t n, bool *woke,
                     struct mr_err *err)
{
    int64_t now = mr_now_ms();
    struct run run;
    size_t i;
    int rc = 0;

    run_init(&run, w, n);
    for (i = 0; rc == 0 && i < n; i++) {
        bool refused = false;

        /* before the existence check, as DTM generates branches before it looks */
        rc = expand_topics(w, reqs[i], &refused, err);
        if (rc == 0 && !refused)
            run.of[i] = run_slot(&run, reqs[i]);
    }
    if (rc == 0)
        rc = run_load(w, &run, err);
    for (i = 0; rc == 0 && i < n; i++) {
        if (run.of[i] == NULL)
            continue;
        if (reqs[i]->op == MR_OP_PREPARE)
            run_decide_prepare(&run, run.of[i], reqs[i], now);
        else
            run_decide_submit(&run, run.of[i], reqs[i], now, woke);
    }
    if (rc == 0)
        rc = run_write(w, &run, now, err);
    for (i = 0; rc == 0 && i < run.nslots; i++) {
        if (run.slots[i].made != NULL && run.slots[i].state == MR_MSG_PREPARED)
            fresh_add(w, run.slots[i].made);
    }
    run_release(&run);
    return rc;
}

/* batchable - whether @r goes through the batch path. */
static bool batchable(const struct mr_req *r)
{
    return r->op == MR_OP_PREPARE || r->op == MR_OP_SUBMIT;
}

/*
 * apply_batch - apply @n requests in order inside the open transaction: runs
 * of prepares and submits through apply_run(), anything else through
 * apply(). A run's writes land before the next request is applied, so each
 * sees the ones before it.
 */
static int apply_batch(struct mr_writer *w, struct mr_req **batch, size_t n, bool *woke,
                       struct mr_err *err)
{
    size_t i = 0;
    size_t j;
    int rc = 0;

    while (rc == 0 && i < n) {
        for (j = i; j < n && batchable(batch[j]); j++)
            continue;
        if (j > i) {
            rc = apply_run(w, batch + i, j - i, woke, err);
            i = j;
        } else {
            rc = apply(w, batch[i], woke, err);
            i++;
        }
    }
    return rc;
}

/*
 * park - put the submits of @batch that wait for a pass on the waiter list
 * (before their commit). @batch keeps naming them, for unpark().
 */
static void park(struct mr_writer *w, struct mr_req **batch, size_t n)
{
    size_t i;

    pthread_mutex_lock(&w->mu);
    for (i = 0; i < n; i++) {
        if (batch[i] != NULL && batch[i]->answer.status == WAITING) {
            batch[i]->next = w->waiters;
            w->waiters = batch[i];
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* unpark - take back the waiters among @batch (their commit failed). */
static void unpark(struct mr_writer *w, struct mr_req **batch, size_t n)
{
    struct mr_req **pp;
    size_t i;

    pthread_mutex_lock(&w->mu);
    for (i = 0; i < n; i++) {
        for (pp = &w->waiters; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == batch[i]) {
                *pp = batch[i]->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* One group-commit attempt's state, for mr_store_run_tx()'s callbacks. */
struct txn {
    struct mr_writer *w;
    struct mr_req **batch;
    size_t n;
    bool *woke;
    size_t mark;            /* w->nhand before the transaction */
    long left_mark;         /* w->left before it */
    size_t fresh_mark;      /* w->nfresh before it */
    size_t room;            /* w->room before it */
    struct mr_req **waiting; /* parked before the commit, n of room */
    size_t nwait;
};

/*
 * txn_apply - apply the requests of @arg inside the open transaction.
 * Waiting submits are parked before the commit: the relay cannot see the
 * message before it, and must find the waiter as soon as it can.
 */
static int txn_apply(struct mr_store *s, void *arg, struct mr_err *err)
{
    struct txn *t = arg;
    size_t i;
    int rc;

    (void)s;
    t->nwait = 0;
    rc = apply_batch(t->w, t->batch, t->n, t->woke, err);
    if (rc != 0)
        return rc;
    for (i = 0; i < t->n; i++) {
        if (t->batch[i]->answer.status == WAITING)
            t->waiting[t->nwait++] = t->batch[i];
    }
    park(t->w, t->waiting, t->nwait);
    return 0;
}

/* txn_undo - the attempt did not commit: unpark its waiters, forget what it handed and made. */
static void txn_undo(void *arg)
{
    struct txn *t = arg;

    unpark(t->w, t->waiting, t->nwait);
    t->nwait = 0;
    hand_truncate(t->w, t->mark);
    t->w->left = t->left_mark;
    t->w->room = t->room; /* leases it decided but never handed included */
    t->w->nfresh = t->fresh_mark;
}

/*
 * How often a transaction is tried when the store says "try again", the first
 * pause (20 then 40 ms), and how loud a lost one is.
 */
static const struct mr_store_tx_policy txn_policy = {
    .tries = 3,
    .backoff_ms = 20,
    .log_level = MR_LOG_WARN,
};

/*
 * run_txn - apply @n requests in one transaction, tried again (txn_policy)
 * when the store lost it (mr_store_retryable()). Replaying is safe: apply()
 * re-reads every message and sets each answer afresh, and a commit whose
 * outcome was unknown is seen by the re-read (a repeated prepare or submit is
 * answered as DTM answers a repeat). A transaction that failed on a guess
 * (stale_hint(), a prepare's gid found stored) is made once more, reading
 * every gid from the store. Returns 0 or the store error.
 */
static int run_txn(struct mr_writer *w, struct mr_req **batch, size_t n, bool *woke,
                   struct mr_err *err)
{
    struct mr_req *waiting[n > 0 ? n : 1];
    struct txn t = {.w = w,
                    .batch = batch,
                    .n = n,
                    .woke = woke,
                    .mark = w->nhand,
                    .left_mark = w->left,
                    .fresh_mark = w->nfresh,
                    .room = w->room,
                    .waiting = waiting};
    int rc;

    w->stale = false;
    rc = mr_store_run_tx(w->store, txn_apply, txn_undo, &t, &txn_policy, err);
    if (rc != 0 && w->stale) {
        w->stale = false;
        w->careful = true;
        mr_err_clear(err);
        rc = mr_store_run_tx(w->store, txn_apply, txn_undo, &t, &txn_policy, err);
        w->careful = false;
    }
    return rc;
}

/* keep_prepared - remember the messages the batch's committed transactions left prepared. */
static void keep_prepared(struct mr_writer *w)
{
    int64_t now = w->nfresh > 0 ? mr_now_ms() : 0;
    size_t i;

    for (i = 0; i < w->nfresh; i++) {
        struct mr_req *r = w->fresh[i];

        if (r != NULL && r->msg != NULL && r->answer.status == 200) {
            mr_pcache_put(w->cache, r->msg, now); /* the request needs only its answer now */
            r->msg = NULL;
        }
    }
    w->nfresh = 0;
}

/* answer - hand @r back to its connection. @r belongs to the HTTP side afterwards. */
static void answer(struct mr_writer *w, struct mr_req *r)
{
    w->resume(r->conn);
}

/*
 * run_batch - group commit @n requests; on a store error, replay them one by
 * one. Then hand the relay what was leased to it, wake it, and answer.
 */
static void run_batch(struct mr_writer *w, struct mr_req **batch, size_t n)
{
    struct mr_err err = MR_ERR_INIT;
    bool woke = false;
    size_t nanswer = 0;
    size_t i;
    int rc;

    w->nhand = 0;
    w->left = 0;
    w->room = w->hooks.room != NULL ? w->hooks.room(w->hooks.arg) : 0;
    if (w->room > n)
        w->room = n;
    /* due work waits in the store: the relay claims it, oldest first, with these */
    if (mr_backlog_now() > 0)
        w->room = 0;
    rc = run_txn(w, batch, n, &woke, &err);
    /* one by one isolates a bad request; a store that is down or deadlocking would only fail
       each of them in turn, n times slower, so those answer 503 at once */
    if (rc != 0 && n > 1 && !mr_store_retryable(rc)) {
        mr_log(MR_LOG_WARN, "group commit failed, replaying one by one", "error", err.msg, NULL);
        woke = false;
        for (i = 0; i < n; i++) {
            mr_err_clear(&err);
            rc = run_txn(w, &batch[i], 1, &woke, &err);
            if (rc != 0)
                store_failure(batch[i], rc, &err);
        }
    } else if (rc != 0) {
        mr_log(MR_LOG_ERROR, "store write failed", "error", err.msg, NULL);
        for (i = 0; i < n; i++)
            store_failure(batch[i], rc, &err);
    }
    /* a waiting submit belongs to the waiter list (and the relay's pass) from here on:
       pick the ones to answer before the relay can get at the others */
    for (i = 0; i < n; i++) {
        if (batch[i]->answer.status != WAITING)
            batch[nanswer++] = batch[i];
    }
    mr_backlog_left(w->left);
    hand_over(w);
    keep_prepared(w);
    if (woke && w->hooks.wake != NULL)
        w->hooks.wake(w->hooks.arg);
    for (i = 0; i < nanswer; i++)
        answer(w, batch[i]);
}

/*
 * detach_waiters - take off the waiter list, and return, the waiting submits
 * for @gid, or when @gid is NULL those whose deadline is at or before @deadline.
 */
static struct mr_req *detach_waiters(struct mr_writer *w, const char *gid, int64_t deadline)
{
    struct mr_req *done = NULL;
    struct mr_req **pp;
    struct mr_req *r;

    pthread_mutex_lock(&w->mu);
    pp = &w->waiters;
    while (*pp != NULL) {
        r = *pp;
        if (gid != NULL ? strcmp(r->gid, gid) == 0 : r->wait_deadline_ms <= deadline) {
            *pp = r->next;
            r->next = done;
            done = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return done;
}

/* expire_waiters - answer waiting submits whose deadline passed (or all, when stopping). */
static void expire_waiters(struct mr_writer *w, bool all)
{
    struct mr_req *done = detach_waiters(w, NULL, all ? INT64_MAX : mr_mono_ms());
    struct mr_req *r;

    while (done != NULL) {
        r = done;
        done = r->next;
        mr_reply_envelope(&r->answer, 409, "wait result not return success: FAILURE");
        answer(w, r);
    }
}

/*
 * backlog_wait - past --backlog-slow-ms, wait before the next group commit
 * (requests keep queueing meanwhile and join it). The writer's lock is not held.
 */
static void backlog_wait(void)
{
    int ms = mr_backlog_wait_ms();
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = 0;
    ts.tv_nsec = (long)ms * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    mr_metrics_backlog_wait(ms);
}

/*
 * idle_turn - once the writer has written nothing for IDLE_SHED_MS, give back
 * what its store handle keeps for speed (mr_store_shrink) and the allocator's
 * free pages: once per idle spell, never while requests come in.
 */
static void idle_turn(struct mr_writer *w, size_t n, int64_t *idle_since)
{
    int64_t mono = mr_mono_ms();

    if (n > 0) {
        *idle_since = mono;
        return;
    }
    if (*idle_since < 0 || mono - *idle_since < IDLE_SHED_MS)
        return;
    *idle_since = -1;
    mr_store_shrink(w->store);
    mr_mem_trim(true); /* only ever after a batch */
}

static void *writer_main(void *arg)
{
    struct mr_writer *w = arg;
    size_t max = (size_t)(mr_config.max_batch > 0 ? mr_config.max_batch : 1);
    struct mr_req **batch = mr_xcalloc(max, sizeof(*batch));
    int64_t idle_since = -1; /* mono: the last batch, while its idle_turn is due; -1 after */

    for (;;) {
        size_t n = 0;
        bool stop;

        pthread_mutex_lock(&w->mu);
        if (w->head == NULL && !w->stopping) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        if (w->head != NULL && !w->stopping) {
            pthread_mutex_unlock(&w->mu);
            backlog_wait();
            pthread_mutex_lock(&w->mu);
        }
        while (w->head != NULL && n < max) {
            batch[n] = w->head;
            w->head = w->head->next;
            batch[n]->next = NULL;
            n++;
        }
        if (w->head == NULL)
            w->tail = NULL;
        w->queued -= (int)n;
        stop = w->stopping && w->head == NULL;
        pthread_mutex_unlock(&w->mu);

        if (n > 0)
            run_batch(w, batch, n);
        mr_pcache_expire(w->cache, mr_now_ms());
        expire_waiters(w, false);
        idle_turn(w, n, &idle_since);
        if (stop && n == 0)
            break;
    }
    expire_waiters(w, true);
    free(batch);
    return NULL;
}

int mr_writer_start(const struct mr_prepare_hooks *hooks, void (*resume)(void *conn),
                    struct mr_writer **out, struct mr_err *err)
{
    struct mr_writer *w = mr_xcalloc(1, sizeof(*w));
    int rc;

    rc = mr_store_open(mr_config.store, &w->store, err);
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->hooks = *hooks;
    w->resume = resume;
    w->cache = mr_pcache_new();
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        mr_pcache_free(w->cache);
        mr_store_close(w->store);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return mr_err_set(err, MR_ESYS, "cannot start the intake writer thread");
    }
    *out = w;
    return 0;
}

int mr_writer_submit(struct mr_writer *w, struct mr_req *r)
{
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->queued >= mr_config.max_queue) {
        rc = MR_EBUSY;
    } else {
        r->next = NULL;
        if (w->tail != NULL)
            w->tail->next = r;
        else
            w->head = r;
        w->tail = r;
        w->queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void mr_writer_pass_done(struct mr_writer *w, const char *gid, enum mr_result outcome,
                         const char *detail)
{
    struct mr_req *done = detach_waiters(w, gid, 0);
    struct mr_req *r;

    while (done != NULL) {
        r = done;
        done = r->next;
        switch (outcome) {
        case MR_RESULT_SUCCESS:
            mr_reply_envelope(&r->answer, 200, NULL);
            break;
        case MR_RESULT_FAILURE:
            mr_reply_envelopef(&r->answer, 409, "a step answered FAILURE; msgrelay retries it: %s",
                               detail ? detail : "");
            break;
        case MR_RESULT_ONGOING:
            mr_reply_envelope(&r->answer, 409, "wait result not return success: FAILURE");
            break;
        default:
            mr_reply_envelope(&r->answer, 500, detail && detail[0] ? detail : "step call failed");
            break;
        }
        answer(w, r);
    }
}

void mr_writer_stop(struct mr_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    mr_store_close(w->store);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    mr_pcache_free(w->cache);
    free(w->hand);
    free(w->fresh);
    free(w);
}
