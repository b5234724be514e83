/* SPDX-License-Identifier: MIT */
/*
 * relay_int.h - declarations shared inside relay/ only: the two sinks the
 * scheduler (relay_sched.c) drives, the HTTP engine (relay_http.c) and the
 * Kafka producer (relay_kafka.c), the process identity the scheduler
 * registers its relay id with (relay_identity.c), and the scheduler's state
 * (the relay, its passes) that relay_sched.c and its group commit
 * (relay_flush.c) share.
 *
 * The HTTP engine is one libcurl multi handle with a free list of easy
 * handles; the Kafka sink is one librdkafka producer. Both belong to the relay
 * thread: every function here must be called from that thread, except
 * mr_relay_http_wakeup(). Neither runs scheduler callbacks: the scheduler asks
 * for finished work (mr_relay_http_done(), mr_relay_kafka_done()) and hands
 * each item back (..._recycle()) once it has read the result.
 */
#ifndef MR_RELAY_RELAY_INT_H
#define MR_RELAY_RELAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/dest.h"
#include "common/err.h"
#include "common/model.h"
#include "common/result.h"
#include "query/query.h"
#include "relay/relay.h"
#include "store/store.h"

/* Response bodies are kept up to this many bytes; the rest is dropped (not an error). */
#define MR_RELAY_BODY_MAX (64 * 1024)

struct mr_relay_http;
struct mr_relay_dest; /* one destination (scheme, host, port), private to relay_http.c */

/* What to send. Borrowed by mr_relay_http_send() except where noted. */
struct mr_relay_http_req {
    const char *url;  /* copied by libcurl */
    bool post;        /* POST @body, else GET */
    const char *body; /* must stay valid until the call is done or cancelled */
    size_t body_len;
    char *const *headers; /* nheaders lines "Name: value" (common/call.h), copied */
    size_t nheaders;
    long timeout_ms; /* whole-call timeout, connect included, counted from when it is sent */
    long wait_ms;    /* longest wait for a connection before that (0: timeout_ms) */
};

/* One call. Public fields are read-only for the scheduler; "_" fields are the engine's. */
struct mr_relay_call {
    /* set by the scheduler at send time */
    void *owner;  /* whom the answer belongs to */
    size_t index; /* which of the owner's calls */
    /* set by the engine when the call is done */
    long status;                 /* HTTP status; 0 when no answer arrived */
    struct mr_buf body;          /* the answer's body, at most MR_RELAY_BODY_MAX bytes */
    bool truncated;              /* the body was longer and was cut */
    char error[CURL_ERROR_SIZE]; /* transfer error text when status is 0 */
    bool not_made;               /* never sent: its destination is stalled (see relay_http.c) */
    bool down;                   /* not_made because its destination is unhealthy */
    bool no_slot;                /* not_made: no connection came free within its wait */
    /* private */
    CURL *_easy;
    struct curl_slist *_headers;
    struct mr_relay_call *_next; /* free list / in-flight list link */
    struct mr_relay_call *_prev;
    long _timeout_ms;            /* the request's timeout_ms */
    long _wait_ms;               /* the request's wait_ms, or timeout_ms */
    int64_t _sent_ms;            /* mr_mono_ms() when queued, then when it went into libcurl */
    int64_t _paused_ms;          /* time the relay thread was away since then (not counted) */
    int64_t _lc_start_ms;        /* mr_mono_ms() when it (or its last hop) went into libcurl */
    long _lc_timeout_ms;         /* the timeout libcurl was given then, plus pauses since */
    bool _clocked;               /* paused in libcurl: its timeout is enforced here (see .c) */
    bool _slot;                  /* http:// call: holds one of max_connections slots */
    struct mr_relay_dest *_dest; /* while waiting or in libcurl */
    int _target;                 /* enum mr_target_verdict of the URL (common/target.h) */
    char _denied[64];            /* the address a connect was refused for by the policy, or "" */
    int _hops;                   /* redirects followed so far */
    long _redirect_status;       /* the status of the last redirect answer, or 0 */
    bool _stripped;              /* branch_headers no longer sent: a hop went to another host */
};

/*
 * mr_relay_http_new - a multi handle allowing @max_connections connections
 * in total (kept alive between calls) and @per_target calls at once to one
 * destination; a destination with all @per_target busy that has finished no
 * call for @stall_ms is stalled: its calls are not made (not_made). Owned
 * result: mr_relay_http_free().
 */
int mr_relay_http_new(int max_connections, int per_target, long stall_ms,
                      struct mr_relay_http **out, struct mr_err *err);

/*
 * mr_relay_http_free - cancel every call in flight (without reporting them),
 * clean up every easy handle and the multi handle. NULL is a no-op.
 */
void mr_relay_http_free(struct mr_relay_http *h);

/*
 * mr_relay_http_send - start the call @rq on behalf of @owner/@index. It
 * proceeds in mr_relay_http_poll() and is reported by mr_relay_http_done().
 * MR_EIO with libcurl's text when it cannot be started (nothing in flight then).
 */
int mr_relay_http_send(struct mr_relay_http *h, const struct mr_relay_http_req *rq, void *owner,
                       size_t index, struct mr_err *err);

/*
 * mr_relay_http_poll - wait up to @timeout_ms for socket activity, a libcurl
 * timer or mr_relay_http_wakeup(), then drive every transfer. Returns 0, or
 * MR_EIO (logged) when libcurl failed; the caller simply goes round again.
 */
int mr_relay_http_poll(struct mr_relay_http *h, int timeout_ms);

/*
 * mr_relay_http_done - the next finished call, or NULL. The call is out of
 * the engine until mr_relay_http_recycle() hands it back.
 */
struct mr_relay_call *mr_relay_http_done(struct mr_relay_http *h);

/* mr_relay_http_recycle - return finished call @c for reuse (its easy handle is kept). */
void mr_relay_http_recycle(struct mr_relay_http *h, struct mr_relay_call *c);

/* mr_relay_http_cancel_all - stop every call in flight without reporting it. */
void mr_relay_http_cancel_all(struct mr_relay_http *h);

/*
 * mr_relay_http_shed - for when the relay has gone idle: free the idle calls
 * kept for reuse (their easy handles and buffers) and, when no call is in
 * libcurl or waiting, close the kept-alive connections (the multi handle is
 * replaced by a fresh one). The next burst connects again and builds its
 * calls as needed. Returns the connections closed (sockets libcurl had open).
 */
size_t mr_relay_http_shed(struct mr_relay_http *h);

/* mr_relay_http_inflight - how many calls are in flight (sent and not yet taken by done()). */
size_t mr_relay_http_inflight(const struct mr_relay_http *h);

/*
 * mr_relay_http_full - whether as many http:// calls wait for a connection as
 * there are connections: taking on more work would only make calls wait.
 */
bool mr_relay_http_full(const struct mr_relay_http *h);

/* ---- destination health (relay_health.c), shared by both sinks ---- */

/* A health event of a destination, for the scheduler (relay_health.c). */
struct mr_relay_health_ev {
    struct mr_relay_health_ev *next;
    bool recovered; /* it answers again: make every message waiting on it due (spread);
                       else it is down and idle: make one due, as its probe */
    char key[MR_DEST_KEY_MAX + 1]; /* the destination (common/dest.h) */
    /* the scheduler's, for a recovery done in batches */
    long made_due;
    int tries;
};

/* One destination's health, embedded in a sink's destination. Fields are relay_health.c's. */
struct mr_relay_health_dest {
    char key[MR_DEST_KEY_MAX + 1]; /* the destination (common/dest.h); "" when it has none */
    int fails;                     /* failures counted in a row */
    bool down;                     /* unhealthy: one call at a time */
    int64_t next_probe_ms;         /* down: no call to it before then (mono) */
    int64_t asked_ms;              /* down: when a probe was last asked of the scheduler (mono) */
    int64_t failed_ms;             /* when the last failure was counted (mono) */
    struct mr_relay_health_dest *dnext; /* in the list of down destinations */
    struct mr_relay_health_dest *dprev;
    int slot; /* its per-destination metrics (mr_metrics_dest_slot) */
    /* the sink's answer: whether no call of this destination is out or waiting */
    bool (*idle)(const struct mr_relay_health_dest *hd);
};

/* The health of one sink's destinations. Zeroed, then mr_relay_health_init(). */
struct mr_relay_health {
    int unhealthy_after; /* failures in a row that make a destination down; 0: never */
    long probe_ms;       /* a down destination is probed this often */
    struct mr_relay_health_dest *down_head;
    struct mr_relay_health_ev *ev_head; /* for the scheduler, oldest first */
    struct mr_relay_health_ev *ev_tail;
};

/*
 * mr_relay_health_init - turn health on: @unhealthy_after failures in a row
 * make a destination down (0: never); a down one is probed every @probe_ms.
 */
void mr_relay_health_init(struct mr_relay_health *hl, int unhealthy_after, long probe_ms);

/* mr_relay_health_clear - free the events not taken. */
void mr_relay_health_clear(struct mr_relay_health *hl);

/* mr_relay_health_dest_init - a healthy destination @key (copied) with its metrics slot. */
void mr_relay_health_dest_init(struct mr_relay_health_dest *hd, const char *key,
                               bool (*idle)(const struct mr_relay_health_dest *));

/* mr_relay_health_forget - the sink drops @hd: out of the down list, its up gauge back to 1. */
void mr_relay_health_forget(struct mr_relay_health *hl, struct mr_relay_health_dest *hd);

/* mr_relay_health_keep - whether idle @hd should be kept for its failure count. */
bool mr_relay_health_keep(const struct mr_relay_health *hl, const struct mr_relay_health_dest *hd);

/*
 * mr_relay_health_admit - whether a call to @hd may be made at @mono: always
 * when it is healthy; when it is down only as its probe (@others_out false
 * and a probe interval since the last one, which this starts).
 */
bool mr_relay_health_admit(const struct mr_relay_health *hl, struct mr_relay_health_dest *hd,
                           bool others_out, int64_t mono);

/*
 * mr_relay_health_count - count a call to @hd started at @started_ms and
 * finished at @mono (@ok: answered, not 5xx / taken by the broker) in its
 * metrics and health. True when this made @hd down (the sink then drops
 * what waits for it).
 */
bool mr_relay_health_count(struct mr_relay_health *hl, struct mr_relay_health_dest *hd, bool ok,
                           int64_t started_ms, int64_t mono);

/* mr_relay_health_tick - queue a probe event for each down destination idle long enough. */
void mr_relay_health_tick(struct mr_relay_health *hl);

/* mr_relay_health_take - the oldest health event, or NULL. Owned result: free(). */
struct mr_relay_health_ev *mr_relay_health_take(struct mr_relay_health *hl);

/*
 * mr_relay_http_health - turn the HTTP engine's destination health on (see
 * mr_relay_health_init).
 */
void mr_relay_http_health(struct mr_relay_http *h, int unhealthy_after, long probe_ms);

/* mr_relay_http_health_of - the HTTP engine's destination health (tick, take). */
struct mr_relay_health *mr_relay_http_health_of(struct mr_relay_http *h);

/* mr_relay_http_wakeup - make a blocked mr_relay_http_poll() return. Any thread; never blocks. */
void mr_relay_http_wakeup(struct mr_relay_http *h);

/*
 * mr_relay_http_watch_fd - make mr_relay_http_poll() also return when @fd is
 * readable (the Kafka sink's report pipe); -1 watches nothing. @fd is
 * borrowed: it must stay open until it is unwatched or @h is freed.
 */
void mr_relay_http_watch_fd(struct mr_relay_http *h, int fd);

/* ---- the Kafka sink ---- */

struct mr_relay_kafka;

/* What to produce for one kafka:// step. All borrowed; librdkafka copies what it keeps. */
struct mr_relay_kafka_rec {
    const char *url;       /* kafka://TOPIC[?key=K] (common/kafka_url.h) */
    const char *gid;       /* header "gid", and the key when the URL and message name none */
    const char *ordering_key; /* the message's ordering key ("" or NULL: none), the key when
                                 the URL names none, so a key's records share a partition */
    const char *branch_id; /* header "branch_id" */
    const char *payload;   /* the record's value */
    size_t payload_len;
    const char *branch_headers; /* JSON object text, each pair a header; "" for none */
    const char *traceparent;    /* the message's; "" or NULL for none (common/trace.h) */
    const char *tracestate;
};

struct mr_relay_topic; /* one topic's health, private to relay_kafka.c */

/* One record in flight; public fields are read-only for the scheduler, "_" ones private. */
struct mr_relay_delivery {
    void *owner;     /* whom the result belongs to */
    size_t index;    /* which of the owner's steps */
    bool ok;         /* the broker has the record (acks=all) */
    bool not_made;   /* never produced: its topic is unhealthy (see relay_kafka.c) */
    char error[512]; /* librdkafka's text when !ok */
    struct mr_relay_delivery *_next;
    struct mr_relay_delivery *_prev;
    struct mr_relay_topic *_topic; /* while produced */
    int64_t _sent_ms;              /* mr_mono_ms() at produce time */
};

/*
 * mr_relay_kafka_new - the producer for mr_config.kafka_brokers (which must
 * be set): idempotent, acks=all, message.timeout.ms 30000 unless overridden,
 * then every mr_config.kafka_properties item. MR_EINVAL naming the property
 * librdkafka refused, or one msgrelay fixes (bootstrap.servers,
 * enable.idempotence, acks). Owned result: mr_relay_kafka_free().
 */
int mr_relay_kafka_new(struct mr_relay_kafka **out, struct mr_err *err);

/*
 * mr_relay_kafka_free - give records still queued up to @flush_ms to be
 * acknowledged, purge the rest (their deliveries are not reported), destroy
 * the producer and free every delivery. NULL is a no-op.
 */
void mr_relay_kafka_free(struct mr_relay_kafka *k, int flush_ms);

/*
 * mr_relay_kafka_produce - queue the record for @rec on behalf of
 * @owner/@index; its result comes from mr_relay_kafka_done() once the broker
 * has answered or message.timeout.ms has passed. MR_EINVAL (bad URL or
 * branch headers) or MR_EIO (librdkafka refused: queue full, fatal error)
 * with a message; nothing is in flight then. A record to an unhealthy topic
 * beyond its probe is not produced: 0, and its delivery comes from
 * mr_relay_kafka_done() with not_made set.
 */
int mr_relay_kafka_produce(struct mr_relay_kafka *k, const struct mr_relay_kafka_rec *rec,
                           void *owner, size_t index, struct mr_err *err);

/*
 * mr_relay_kafka_poll - empty the report pipe and serve librdkafka's report
 * queue without waiting: finished deliveries move to the done list.
 */
void mr_relay_kafka_poll(struct mr_relay_kafka *k);

/*
 * mr_relay_kafka_done - the next finished delivery, or NULL. It is out of the
 * sink until mr_relay_kafka_recycle() hands it back.
 */
struct mr_relay_delivery *mr_relay_kafka_done(struct mr_relay_kafka *k);

/* mr_relay_kafka_recycle - return finished delivery @d. */
void mr_relay_kafka_recycle(struct mr_relay_kafka *k, struct mr_relay_delivery *d);

/*
 * mr_relay_kafka_cancel_all - forget every delivery in flight or finished:
 * nothing is reported for them any more (the records themselves may still
 * reach the broker; librdkafka cannot take them back).
 */
void mr_relay_kafka_cancel_all(struct mr_relay_kafka *k);

/* mr_relay_kafka_inflight - records produced whose delivery was not yet taken by done(). */
size_t mr_relay_kafka_inflight(const struct mr_relay_kafka *k);

/* mr_relay_kafka_fd - the fd that turns readable when reports wait (for mr_relay_http_watch_fd). */
int mr_relay_kafka_fd(const struct mr_relay_kafka *k);

/* mr_relay_kafka_timeout_ms - the longest a record waits for its report (message.timeout.ms). */
long mr_relay_kafka_timeout_ms(const struct mr_relay_kafka *k);

/*
 * mr_relay_kafka_health - turn per-topic health on (see
 * mr_relay_health_init): a down topic gets one record at a time, one per
 * probe interval; the others are reported not_made.
 */
void mr_relay_kafka_health(struct mr_relay_kafka *k, int unhealthy_after, long probe_ms);

/* mr_relay_kafka_health_of - the Kafka sink's per-topic health (tick, take). */
struct mr_relay_health *mr_relay_kafka_health_of(struct mr_relay_kafka *k);

/* ---- the relay's identity (relay_identity.c) ---- */

/*
 * mr_relay_identity_init - fill @me with this process's registration for
 * @relay_id (borrowed): a fresh random instance, host, machine, pid, its start
 * time, started_ms = now; heartbeat_until_ms is left 0. Owned strings:
 * mr_store_relay_clear().
 */
void mr_relay_identity_init(struct mr_store_relay *me, const char *relay_id);

/*
 * mr_relay_identity_dead - whether the process of registration @holder is
 * provably gone: it ran on @me's machine (same boot, same pid namespace) and
 * its pid is free now or belongs to a process started at another time.
 */
bool mr_relay_identity_dead(const struct mr_store_relay *me, const struct mr_store_relay *holder);

/*
 * mr_relay_identity_register - register @me (heartbeat until now + @ttl_ms,
 * written into @me) on @s, taking the id over at once from a holder that
 * mr_relay_identity_dead() finds dead (logged). MR_EEXIST with a message
 * naming the live holder's host, pid and heartbeat; other store errors as
 * mr_store_relay_register().
 */
int mr_relay_identity_register(struct mr_store *s, struct mr_store_relay *me, int64_t ttl_ms,
                               struct mr_err *err);
/*
 * mr_relay_kafka_reachable - 0 when a broker answers a metadata request
 * within @timeout_ms, else MR_EIO "kafka: ...". Blocks up to @timeout_ms; any
 * thread but the relay's (librdkafka is thread-safe; the relay must not wait).
 */
int mr_relay_kafka_reachable(struct mr_relay_kafka *k, int timeout_ms, struct mr_err *err);

/* ---- the scheduler's state, shared by relay_sched.c and relay_flush.c ---- */

/* One call's result waiting to be written (mr_store_step_record). */
struct mr_relay_rec {
    size_t step;
    bool success;
    char *error; /* owned; NULL on success */
    int64_t now_ms;
};

enum mr_relay_phase {
    PH_CHECK,      /* back-check in flight */
    PH_SUBMITTING, /* back-check said success; prepared -> submitted waits for the commit */
    PH_STEPS,      /* delivering steps */
    PH_DONE,       /* final write waits for the commit */
};

/* What a finished pass writes. */
enum mr_relay_fin {
    FIN_NONE,    /* not finished */
    FIN_QUERY,   /* a back-check decision (mr_query_apply) */
    FIN_SUCCEED, /* every step succeeded: submitted -> succeed */
    FIN_RELEASE, /* end the lease, look again at next_cron_ms */
    FIN_PARK,    /* a step failed retry_limit times: submitted -> parked */
};

/* One pass over one claimed message; lives from the claim to the commit of its results. */
struct mr_relay_pass {
    struct mr_relay_pass *prev;
    struct mr_relay_pass *next;
    struct mr_relay_pass *id_next;    /* in the relay's table of passes by gid */
    struct mr_relay_pass *dirty_next; /* in the relay's list of passes with writes to commit */
    bool dirty;
    struct mr_msg *msg; /* owned */
    enum mr_relay_phase phase;
    int64_t lease_until_ms;
    size_t cursor;          /* next step to consider */
    int calls_out;          /* calls in flight */
    int calls_made;         /* calls started in this pass */
    bool stop;              /* start no more calls */
    const char *yield_why;  /* static text when the pass gave up early for the lease or shutdown */
    int64_t yield_at_ms;    /* when a pass that gave up early is due again; 0: at once */
    bool notify;            /* call on_pass after the commit (passes over submitted messages) */
    enum mr_result outcome; /* first non-success, else success */
    struct mr_buf detail;   /* its text */
    bool quiet;             /* detail is for on_pass only, not the stored result (delay, yield) */
    struct mr_relay_rec *recs;
    size_t nrecs;
    size_t caprecs;
    enum mr_relay_fin fin;
    bool park;       /* a step of this pass reached its retry limit: park when the pass ends */
    size_t park_idx; /* that step */
    struct mr_query_decision qd; /* FIN_QUERY */
    int64_t next_cron_ms;        /* FIN_RELEASE */
    int interval;                /* FIN_RELEASE; -1 keeps the stored one */
};

struct mr_relay {
    pthread_t thread;
    atomic_bool stop;
    atomic_bool woken;
    mr_relay_pass_cb on_pass;
    void *arg;
    struct mr_store *store;
    struct mr_relay_http *http;
    struct mr_relay_kafka *kafka; /* NULL without --kafka-brokers */
    int flush_ms;                 /* at exit: grace left for Kafka records still queued */
    char *owner;
    struct mr_store_relay me; /* this process's registration of owner */
    int64_t hb_until_ms;      /* the registration holds until then (wall clock), as last written */
    int64_t hb_next;          /* mono: when to renew it */
    atomic_bool deposed;      /* another process took the relay id over: claim and write nothing */
    uint64_t rng;
    struct mr_relay_pass *passes; /* every pass in memory */
    size_t npasses;
    /* the same passes, chained by gid hash: a message is never held twice */
    struct mr_relay_pass **by_gid;
    size_t nby_gid; /* buckets, a power of two */
    struct mr_relay_pass *dirty; /* passes with writes for the next commit */
    struct mr_relay_pass **dirty_tail;
    bool more_due; /* the last claim was full: claim again when there is room */
    bool starved;  /* a pass waits for the call budget */
    /* store calls failing in a row (the store is down): since when, how often, last logged when */
    int64_t outage_since;
    long outage_fails;
    int64_t outage_logged;
    /* kept results: not written before this (mono), and the pause after the next failure */
    int64_t write_retry_at;
    int write_backoff_ms;
    /* messages handed by the intake (mr_relay_hand), waiting for their passes */
    pthread_mutex_t in_mu;
    struct mr_msg **in; /* in_mu */
    size_t nin;         /* in_mu */
    size_t capin;       /* in_mu */
    atomic_size_t busy; /* npasses as of the last loop turn, for mr_relay_room() */
    /* destinations that answer again, their waiting messages made due in batches */
    struct mr_relay_health_ev *recovering;
    /* since when (mono) the relay has held no pass and no result, -1 while it does; and
       whether that idle spell's memory was given back (idle_turn) */
    int64_t idle_since;
    bool shed;
    bool worked; /* a pass was made since the last give-back */
};

/* In relay_sched.c: passes, delivery, store health. Relay thread only. */

/* mr_relay_recs_clear - forget the pending call results of @p. */
void mr_relay_recs_clear(struct mr_relay_pass *p);

/* mr_relay_pass_free - unlink and free @p; no call in flight, not in the dirty list. */
void mr_relay_pass_free(struct mr_relay *r, struct mr_relay_pass *p);

/*
 * mr_relay_pump - start what @p may start now (its next step, or every one
 * with concurrent, within the call budget), then finish the pass if it is over.
 */
void mr_relay_pump(struct mr_relay *r, struct mr_relay_pass *p);

/* mr_relay_start_submitted - begin delivering submitted message @p, unless its delay is pending. */
void mr_relay_start_submitted(struct mr_relay *r, struct mr_relay_pass *p);

/* mr_relay_store_failed - log a failed store call of @what, rate-limited in an outage. */
void mr_relay_store_failed(struct mr_relay *r, const char *what, const char *error);

/* mr_relay_store_ok - a store call worked: say so if the ones before it failed, write at once. */
void mr_relay_store_ok(struct mr_relay *r);

/*
 * mr_relay_identity_ok - whether this relay may claim or write now: not
 * deposed, and its registration holds past the next second (renewed first
 * when it is close to lapsing).
 */
bool mr_relay_identity_ok(struct mr_relay *r);

/* In relay_flush.c: the group commit. Relay thread only. */

/*
 * mr_relay_flush - write every pending result in one store transaction, then
 * act on it (go on delivering, report, free). Results the store could not
 * take are kept and written again after a pause while their leases last;
 * @last (shutdown): one go, then what failed is dropped.
 */
void mr_relay_flush(struct mr_relay *r, bool last);

#endif
