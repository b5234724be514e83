/* SPDX-License-Identifier: MIT */
/*
 * relay_kafka.c - the Kafka sink: one idempotent librdkafka producer
 * (acks=all) per process, producing kafka://TOPIC[?key=K] steps.
 *
 * A step is done only when its delivery report arrives: ok means the broker
 * has the record; anything else is an error the scheduler retries with the
 * usual back-off. Reports are served on the relay thread by rd_kafka_poll();
 * librdkafka writes a byte into a pipe when its report queue turns non-empty,
 * and the relay's mr_relay_http_poll() waits on the pipe's read end. Like the
 * HTTP engine, this file runs no scheduler callbacks: finished deliveries are
 * queued and taken with mr_relay_kafka_done().
 *
 * Health (--unhealthy-after, relay_health.c) is per topic: each report
 * counts toward its topic, a burst of records out together counting once.
 * A down topic gets one record at a time, one per probe interval (the
 * probe); the others are not produced but reported at once with not_made
 * (no attempt counted), so the broker is not hammered while the topic fails
 * and its messages wait cheaply in the store. The first record the broker
 * takes makes the topic healthy again, and the scheduler makes every message
 * waiting on it due. A topic with failures is kept while idle so its count
 * survives, at most TOPIC_KEEP_MAX of them.
 *
 * Thread: the relay thread (librdkafka's threads only log, via mr_log).
 * Errors: start-up problems and records that cannot be queued are returned;
 * a record the broker did not take is a delivery with ok false and its text.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/dest.h"
#include "common/kafka_url.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/trace.h"

/* The relay's default for message.timeout.ms: librdkafka's own (5 min) outlives a lease. */
#define DEFAULT_TIMEOUT_MS "30000"

/* After a purge at shutdown, how long to wait for librdkafka to hand back the purged reports. */
#define PURGE_WAIT_MS 1000

/* Buckets of the topic table (chained). */
#define TOPIC_BUCKETS 256

/* Idle topics kept for their failure count, at most. */
#define TOPIC_KEEP_MAX 1024

/* One topic; lives while it has records out, or is kept for its failure count. */
struct mr_relay_topic {
    struct mr_relay_topic *next;    /* hash chain */
    size_t out;                     /* its records produced, report not yet served */
    bool kept;                      /* idle but kept for its count (counted in nkept) */
    struct mr_relay_health_dest hd; /* its health and metrics; hd.key is "kafka://TOPIC" */
};

struct mr_relay_kafka {
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;        /* the report queue, with the pipe as its io event */
    int pipe_rd;                    /* waited on by the relay's poll */
    int pipe_wr;                    /* written by librdkafka */
    long timeout_ms;                /* message.timeout.ms as librdkafka took it */
    struct mr_relay_delivery *busy; /* produced, report not yet served; doubly linked */
    struct mr_relay_delivery *done; /* reports served, not yet taken; FIFO */
    struct mr_relay_delivery **done_tail;
    size_t nbusy;    /* busy deliveries with an owner */
    size_t norphans; /* busy deliveries cancelled: their reports are dropped */
    struct mr_relay_topic *topics[TOPIC_BUCKETS];
    size_t nkept;                  /* idle topics kept for their failure count */
    struct mr_relay_health health; /* of its topics (relay_health.c) */
};

/* ---- lists ---- */

/* busy_link - put @d at the head of the in-flight list. */
static void busy_link(struct mr_relay_kafka *k, struct mr_relay_delivery *d)
{
    d->_prev = NULL;
    d->_next = k->busy;
    if (k->busy != NULL)
        k->busy->_prev = d;
    k->busy = d;
}

/* busy_unlink - take @d out of the in-flight list. */
static void busy_unlink(struct mr_relay_kafka *k, struct mr_relay_delivery *d)
{
    if (d->_prev != NULL)
        d->_prev->_next = d->_next;
    else
        k->busy = d->_next;
    if (d->_next != NULL)
        d->_next->_prev = d->_prev;
    d->_next = NULL;
    d->_prev = NULL;
}

/* free_list - free every delivery of the list at @head (linked by _next). */
static void free_list(struct mr_relay_delivery *head)
{
    while (head != NULL) {
        struct mr_relay_delivery *next = head->_next;

        free(head);
        head = next;
    }
}

/* ---- topics ---- */

/* topic_bucket - the hash chain of destination key @key (FNV-1a). */
static struct mr_relay_topic **topic_bucket(struct mr_relay_kafka *k, const char *key)
{
    uint64_t x = 1469598103934665603ULL;

    for (; *key != '\0'; key++)
        x = (x ^ (unsigned char)*key) * 1099511628211ULL;
    return &k->topics[x % TOPIC_BUCKETS];
}

/* topic_idle - whether the topic of @hd has no record out. */
static bool topic_idle(const struct mr_relay_health_dest *hd)
{
    const struct mr_relay_topic *t =
        (const struct mr_relay_topic *)(const void *)((const char *)hd -
                                                      offsetof(struct mr_relay_topic, hd));

    return t->out == 0;
}

/* topic_get - the topic of destination key @key, made when it has none yet. */
static struct mr_relay_topic *topic_get(struct mr_relay_kafka *k, const char *key)
{
    struct mr_relay_topic **b = topic_bucket(k, key);
    struct mr_relay_topic *t;

    for (t = *b; t != NULL; t = t->next) {
        if (strcmp(t->hd.key, key) == 0)
            return t;
    }
    t = mr_xcalloc(1, sizeof(*t));
    mr_relay_health_dest_init(&t->hd, key, topic_idle);
    t->next = *b;
    *b = t;
    return t;
}

/*
 * topic_put - forget @t once it has no record out, unless it counts
 * failures and there is room to keep it (TOPIC_KEEP_MAX).
 */
static void topic_put(struct mr_relay_kafka *k, struct mr_relay_topic *t)
{
    struct mr_relay_topic **link;

    if (t->out > 0)
        return;
    if (mr_relay_health_keep(&k->health, &t->hd)) {
        if (t->kept)
            return;
        if (k->nkept < TOPIC_KEEP_MAX) {
            t->kept = true;
            k->nkept++;
            return;
        }
    }
    if (t->kept)
        k->nkept--;
    mr_relay_health_forget(&k->health, &t->hd);
    for (link = topic_bucket(k, t->hd.key); *link != t;)
        link = &(*link)->next;
    *link = t->next;
    free(t);
}

/* done_push - put @d last on the done list. */
static void done_push(struct mr_relay_kafka *k, struct mr_relay_delivery *d)
{
    d->_next = NULL;
    *k->done_tail = d;
    k->done_tail = &d->_next;
}

/* ---- librdkafka callbacks ---- */

/*
 * on_report - the delivery report of one record (relay thread, inside
 * rd_kafka_poll/flush): move its delivery to the done list, or free it when
 * it was cancelled.
 */
static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct mr_relay_kafka *k = opaque;
    struct mr_relay_delivery *d = m->_private;
    struct mr_relay_topic *t;

    (void)rk;
    if (d == NULL)
        return;
    busy_unlink(k, d);
    t = d->_topic;
    d->_topic = NULL;
    t->out--;
    if (d->owner == NULL) {
        k->norphans--;
        free(d);
        topic_put(k, t);
        return;
    }
    k->nbusy--;
    /* with acks=all, no error means every in-sync replica has the record */
    d->ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!d->ok)
        snprintf(d->error, sizeof(d->error), "kafka topic '%s': %s",
                 m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_err2str(m->err));
    mr_relay_health_count(&k->health, &t->hd, d->ok, d->_sent_ms, mr_mono_ms());
    topic_put(k, t);
    done_push(k, d);
}

/* on_error - a producer-wide error (relay thread, inside rd_kafka_poll). */
static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    char fatal[512];

    (void)opaque;
    if (code != RD_KAFKA_RESP_ERR__FATAL) {
        /* brokers down, transport errors: records wait in librdkafka until their timeout */
        mr_log(MR_LOG_WARN, "kafka error", "error", reason, NULL);
        return;
    }
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    mr_log(MR_LOG_ERROR, "kafka producer failed for good; restart msgrelay", "error", fatal, NULL);
}

/*
 * on_log - librdkafka's log lines (syslog levels) as msgrelay log lines; any
 * librdkafka thread. Its LOG_ERR lines are connection trouble that the
 * producer rides out, so they count as warnings here.
 */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum mr_log_level l = MR_LOG_DEBUG;

    (void)rk;
    if (level <= 2)
        l = MR_LOG_ERROR;
    else if (level <= 4)
        l = MR_LOG_WARN;
    else if (level <= 6)
        l = MR_LOG_INFO;
    mr_log(l, "librdkafka", "facility", fac, "text", buf, NULL);
}

/* ---- set-up ---- */

/* reserved - why property @name may not be given by the operator, or NULL when it may. */
static const char *reserved(const char *name)
{
    if (strcmp(name, "bootstrap.servers") == 0 || strcmp(name, "metadata.broker.list") == 0)
        return "use --kafka-brokers";
    if (strcmp(name, "enable.idempotence") == 0 || strcmp(name, "acks") == 0 ||
        strcmp(name, "request.required.acks") == 0)
        return "fixed by msgrelay (idempotent producer, acks=all)";
    return NULL;
}

/* conf_set - set @name=@value on @conf; MR_EINVAL naming the setting when librdkafka refuses. */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, struct mr_err *err)
{
    char why[512];

    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return mr_err_set(err, MR_EINVAL, "--kafka-property %s: %s", name, why);
    return 0;
}

/* build_conf - the producer configuration: msgrelay's settings, then the operator's. */
static int build_conf(struct mr_relay_kafka *k, rd_kafka_conf_t *conf, struct mr_err *err)
{
    char val[64];
    size_t vlen = sizeof(val);
    size_t i;
    int rc;

    rc = conf_set(conf, "bootstrap.servers", mr_config.kafka_brokers, err);
    if (rc == 0)
        rc = conf_set(conf, "enable.idempotence", "true", err);
    if (rc == 0)
        rc = conf_set(conf, "acks", "all", err);
    if (rc == 0)
        rc = conf_set(conf, "client.id", "msgrelay", err);
    if (rc == 0)
        rc = conf_set(conf, "message.timeout.ms", DEFAULT_TIMEOUT_MS, err);
    for (i = 0; rc == 0 && i < mr_config.kafka_properties.n; i++) {
        const char *item = mr_config.kafka_properties.v[i];
        const char *eq = strchr(item, '=');
        char *name = mr_xstrndup(item, (size_t)(eq - item));
        const char *why = reserved(name);

        if (why != NULL)
            rc = mr_err_set(err, MR_EINVAL, "--kafka-property %s: %s", name, why);
        else
            rc = conf_set(conf, name, eq + 1, err);
        free(name);
    }
    if (rc != 0)
        return rc;
    if (rd_kafka_conf_get(conf, "message.timeout.ms", val, &vlen) != RD_KAFKA_CONF_OK)
        return mr_err_set(err, MR_EINVAL, "cannot read back message.timeout.ms");
    k->timeout_ms = strtol(val, NULL, 10);
    if (k->timeout_ms <= 0)
        return mr_err_set(err, MR_EINVAL,
                          "--kafka-property message.timeout.ms: must be above 0 for msgrelay");
    rd_kafka_conf_set_dr_msg_cb(conf, on_report);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, k);
    return 0;
}

/* ---- producing ---- */

/*
 * add_branch_headers - each pair of the JSON object text @json (validated at
 * intake; "" means none) as a record header.
 */
static int add_branch_headers(rd_kafka_headers_t *hdrs, const char *json, bool traced,
                              struct mr_err *err)
{
    json_error_t jerr;
    json_t *obj;
    const char *name;
    json_t *val;

    if (json == NULL || json[0] == '\0' || strcmp(json, "null") == 0)
        return 0;
    obj = json_loads(json, 0, &jerr);
    if (obj == NULL || !json_is_object(obj)) {
        json_decref(obj);
        return mr_err_set(err, MR_EINVAL, "branch_headers: not a JSON object");
    }
    json_object_foreach(obj, name, val)
    {
        if (!json_is_string(val)) {
            json_decref(obj);
            return mr_err_set(err, MR_EINVAL, "branch_headers: value of '%s' is not a string",
                              name);
        }
        if (traced && mr_trace_header_is(name))
            continue; /* the record's own trace context replaces them */
        rd_kafka_header_add(hdrs, name, -1, json_string_value(val),
                            (ssize_t)json_string_length(val));
    }
    json_decref(obj);
    return 0;
}

/*
 * build_headers - gid, trans_type, branch_id, op and the branch headers of
 * @rec, then its trace context: a child traceparent (a new parent id) and
 * the tracestate, as for an HTTP call (common/call.h).
 */
static int build_headers(const struct mr_relay_kafka_rec *rec, rd_kafka_headers_t **out,
                         struct mr_err *err)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    bool traced = rec->traceparent != NULL && rec->traceparent[0] != '\0';
    char child[MR_TRACEPARENT_LEN + 1];
    int rc;

    rd_kafka_header_add(hdrs, "gid", -1, rec->gid, -1);
    rd_kafka_header_add(hdrs, "trans_type", -1, "msg", -1);
    rd_kafka_header_add(hdrs, "branch_id", -1, rec->branch_id, -1);
    rd_kafka_header_add(hdrs, "op", -1, "action", -1);
    rc = add_branch_headers(hdrs, rec->branch_headers, traced, err);
    if (rc != 0) {
        rd_kafka_headers_destroy(hdrs);
        return rc;
    }
    if (traced) {
        mr_trace_child(rec->traceparent, child);
        rd_kafka_header_add(hdrs, "traceparent", -1, child, -1);
        if (rec->tracestate != NULL && rec->tracestate[0] != '\0')
            rd_kafka_header_add(hdrs, "tracestate", -1, rec->tracestate, -1);
    }
    *out = hdrs;
    return 0;
}

/* ---- public ---- */

int mr_relay_kafka_produce(struct mr_relay_kafka *k, const struct mr_relay_kafka_rec *rec,
                           void *owner, size_t index, struct mr_err *err)
{
    struct mr_kafka_url u;
    char topic[MR_KAFKA_TOPIC_MAX + 1];
    char key[MR_DEST_KEY_MAX + 1];
    rd_kafka_headers_t *hdrs = NULL;
    struct mr_relay_delivery *d;
    struct mr_relay_topic *t;
    rd_kafka_resp_err_t ke;
    int64_t mono = mr_mono_ms();
    int rc;

    rc = mr_kafka_url_parse(rec->url, &u, err);
    if (rc != 0)
        return rc;
    memcpy(topic, u.topic.p, u.topic.len);
    topic[u.topic.len] = '\0';
    d = mr_xcalloc(1, sizeof(*d));
    d->owner = owner;
    d->index = index;
    mr_dest_key(rec->url, key);
    t = topic_get(k, key);
    /* one record at a time to a down topic, one per probe interval: its probe */
    if (!mr_relay_health_admit(&k->health, &t->hd, t->out > 0, mono)) {
        d->not_made = true;
        snprintf(d->error, sizeof(d->error), "kafka topic '%s' unhealthy: record not produced",
                 topic);
        topic_put(k, t);
        done_push(k, d);
        return 0;
    }
    rc = build_headers(rec, &hdrs, err);
    if (rc != 0) {
        free(d);
        topic_put(k, t);
        return rc;
    }
    if (u.key.p == NULL) {
        u.key.p = rec->ordering_key != NULL && rec->ordering_key[0] != '\0' ? rec->ordering_key
                                                                            : rec->gid;
        u.key.len = strlen(u.key.p);
    }
    /* F_COPY: the pass may be freed before the report (shutdown); librdkafka keeps its own copy */
    ke = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_VALUE((void *)rec->payload, rec->payload_len),
                           RD_KAFKA_V_KEY((void *)u.key.p, u.key.len), RD_KAFKA_V_HEADERS(hdrs),
                           RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* the headers are ours again when producev fails */
        rd_kafka_headers_destroy(hdrs);
        free(d);
        topic_put(k, t);
        return mr_err_set(err, MR_EIO, "kafka topic '%s': %s", topic, rd_kafka_err2str(ke));
    }
    d->_topic = t;
    d->_sent_ms = mono;
    t->out++;
    busy_link(k, d);
    k->nbusy++;
    return 0;
}

void mr_relay_kafka_poll(struct mr_relay_kafka *k)
{
    char drain[64];

    /* empty the pipe first: a report queued after this read writes a new byte */
    while (read(k->pipe_rd, drain, sizeof(drain)) > 0)
        ;
    rd_kafka_poll(k->rk, 0);
}

struct mr_relay_delivery *mr_relay_kafka_done(struct mr_relay_kafka *k)
{
    struct mr_relay_delivery *d = k->done;

    if (d == NULL)
        return NULL;
    k->done = d->_next;
    if (k->done == NULL)
        k->done_tail = &k->done;
    d->_next = NULL;
    return d;
}

void mr_relay_kafka_recycle(struct mr_relay_kafka *k, struct mr_relay_delivery *d)
{
    (void)k;
    free(d);
}

void mr_relay_kafka_cancel_all(struct mr_relay_kafka *k)
{
    struct mr_relay_delivery *d;

    /* librdkafka still holds these; their reports are dropped when they come */
    for (d = k->busy; d != NULL; d = d->_next) {
        if (d->owner != NULL) {
            d->owner = NULL;
            k->nbusy--;
            k->norphans++;
        }
    }
    while (k->done != NULL)
        free(mr_relay_kafka_done(k));
}

size_t mr_relay_kafka_inflight(const struct mr_relay_kafka *k)
{
    return k->nbusy;
}

int mr_relay_kafka_fd(const struct mr_relay_kafka *k)
{
    return k->pipe_rd;
}

long mr_relay_kafka_timeout_ms(const struct mr_relay_kafka *k)
{
    return k->timeout_ms;
}

int mr_relay_kafka_reachable(struct mr_relay_kafka *k, int timeout_ms, struct mr_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;

    /* brokers only (no topic): the cheapest request a broker must answer itself */
    e = rd_kafka_metadata(k->rk, 0, NULL, &md, timeout_ms);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return mr_err_set(err, MR_EIO, "kafka: no broker answered within %d ms (%s)", timeout_ms,
                          rd_kafka_err2str(e));
    return 0;
}

void mr_relay_kafka_free(struct mr_relay_kafka *k, int flush_ms)
{
    size_t i;

    if (k == NULL)
        return;
    if (k->rk != NULL) {
        /* what is still queued gets the rest of the grace; then it is purged (its steps are
           not recorded, so they are produced again after a restart: at-least-once) */
        if (rd_kafka_outq_len(k->rk) > 0 && flush_ms > 0)
            rd_kafka_flush(k->rk, flush_ms);
        if (rd_kafka_outq_len(k->rk) > 0) {
            mr_log(MR_LOG_WARN,
                   "kafka records not acknowledged at shutdown; they will be "
                   "produced again",
                   NULL);
            rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(k->rk, PURGE_WAIT_MS);
        }
        rd_kafka_poll(k->rk, 0);
    }
    if (k->mainq != NULL) {
        rd_kafka_queue_io_event_enable(k->mainq, -1, NULL, 0);
        rd_kafka_queue_destroy(k->mainq);
    }
    if (k->rk != NULL)
        rd_kafka_destroy(k->rk);
    /* no report can come any more: whatever is left is ours to free */
    free_list(k->busy);
    free_list(k->done);
    for (i = 0; i < TOPIC_BUCKETS; i++) {
        while (k->topics[i] != NULL) {
            struct mr_relay_topic *t = k->topics[i];

            k->topics[i] = t->next;
            free(t);
        }
    }
    mr_relay_health_clear(&k->health);
    if (k->pipe_rd >= 0)
        close(k->pipe_rd);
    if (k->pipe_wr >= 0)
        close(k->pipe_wr);
    free(k);
}

int mr_relay_kafka_new(struct mr_relay_kafka **out, struct mr_err *err)
{
    struct mr_relay_kafka *k = mr_xcalloc(1, sizeof(*k));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[512];
    int fds[2];
    int rc;

    *out = NULL;
    k->pipe_rd = -1;
    k->pipe_wr = -1;
    k->done_tail = &k->done;
    mr_relay_health_init(&k->health, 0, 0);
    rc = build_conf(k, conf, err);
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        rd_kafka_conf_destroy(conf);
        rc = mr_err_set(err, MR_ESYS, "kafka: cannot make a pipe: %s", strerror(errno));
        goto fail;
    }
    k->pipe_rd = fds[0];
    k->pipe_wr = fds[1];
    /* takes conf on success only */
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (k->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        rc = mr_err_set(err, MR_EINVAL, "kafka: cannot create the producer: %s", why);
        goto fail;
    }
    k->mainq = rd_kafka_queue_get_main(k->rk);
    rd_kafka_queue_io_event_enable(k->mainq, k->pipe_wr, "r", 1);
    /* anything queued before the io event was enabled wrote no byte: serve it now */
    rd_kafka_poll(k->rk, 0);
    mr_log(MR_LOG_INFO, "kafka producer started", "brokers", mr_config.kafka_brokers, NULL);
    *out = k;
    return 0;
fail:
    mr_relay_kafka_free(k, 0);
    return rc;
}

void mr_relay_kafka_health(struct mr_relay_kafka *k, int unhealthy_after, long probe_ms)
{
    mr_relay_health_init(&k->health, unhealthy_after, probe_ms);
}

struct mr_relay_health *mr_relay_kafka_health_of(struct mr_relay_kafka *k)
{
    return &k->health;
}
