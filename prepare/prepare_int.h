/* SPDX-License-Identifier: MIT */
/*
 * prepare_int.h - declarations shared inside prepare/ (not a public face).
 *
 * A struct mr_req is one API call that needs the store. The HTTP thread that
 * parsed it owns it until it is queued; from then on the writer thread owns
 * it until it resumes the connection, after which only the HTTP side touches
 * it again (to send the answer and free it).
 */
#ifndef MR_PREPARE_PREPARE_INT_H
#define MR_PREPARE_PREPARE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/model.h"
#include "prepare/prepare.h"
#include "store/store.h"

enum mr_req_op {
    MR_OP_PREPARE,
    MR_OP_SUBMIT,
    MR_OP_ABORT,
    MR_OP_FORCESTOP,
    MR_OP_RESET,
    MR_OP_QUERY,
    MR_OP_ALL,
    MR_OP_SUBSCRIBE,
    MR_OP_UNSUBSCRIBE,
    MR_OP_TOPIC_DELETE,
    MR_OP_SCANKV,
    MR_OP_QUERYKV,
    MR_OP_RESETCRON,
    MR_OP_REDRIVE,
};

/* An answer: HTTP status and the JSON body (owned). */
struct mr_answer {
    int status;
    char *body;
};

struct mr_req {
    struct mr_req *next; /* writer queue / waiter list link */
    enum mr_req_op op;
    int route;                     /* enum mr_route, for metrics */
    void *conn;                    /* the suspended struct MHD_Connection */
    struct mr_msg *msg;            /* prepare, submit: the parsed message (owned) */
    char *gid;                     /* every op but all (owned) */
    struct mr_store_filter filter; /* all (its gid_prefix owned) */
    char *topic;                   /* subscribe, unsubscribe, topic delete (owned) */
    char *url;                     /* subscribe, unsubscribe: the subscriber (owned) */
    char *remark;                  /* subscribe (owned, may be NULL) */
    char *kv_cat;                  /* scanKV, queryKV (owned) */
    char *kv_key;                  /* queryKV (owned) */
    int64_t kv_position;           /* scanKV: ids below this; 0 = from the newest */
    size_t kv_limit;               /* scanKV: page size (callers cap it) */
    int64_t wait_deadline_ms;      /* submit with wait_result: monotonic deadline */
    int64_t cron_after_s;          /* resetCronTime: due later than now + this many seconds */
    size_t cron_limit;             /* resetCronTime: at most this many */
    struct mr_store_redrive redrive; /* redrive: the filter (strings owned, gid is r->gid) */
    bool dry_run;                  /* redrive: count only */
    struct mr_answer answer;       /* filled by the writer (or the pass callback) */
};

/* mr_req_free - free @r and what it owns. NULL is a no-op. */
void mr_req_free(struct mr_req *r);

/* ---- prepare_parse.c ---- */

/*
 * mr_parse_msg - parse and validate a prepare/submit body into a new message
 * (state unset, times unset). With @steps_optional a body without "steps" and
 * "payloads" is accepted with nsteps 0 (a submit after a prepare). On bad input
 * returns MR_EINVAL with "<field>: <problem>" in @err and *out untouched.
 * Owned result: mr_msg_free().
 */
int mr_parse_msg(const char *body, size_t len, bool steps_optional, struct mr_msg **out,
                 struct mr_err *err);

/*
 * mr_parse_gid_body - parse a body that names only a gid (abort, forceStop,
 * resetNextCronTime). Owned result *gid: free().
 */
int mr_parse_gid_body(const char *body, size_t len, char **gid, struct mr_err *err);

/*
 * mr_parse_opt_bool - the optional boolean @key of the JSON object @root into
 * *@out (false when absent or null); MR_EINVAL "<key>: must be true or false"
 * for anything else.
 */
int mr_parse_opt_bool(json_t *root, const char *key, bool *out, struct mr_err *err);

/* mr_check_gid - a gid: not empty, at most max_gid_len bytes, UTF-8 without ; or controls. */
int mr_check_gid(const char *gid, struct mr_err *err);

/* Topic names: 1 to MR_TOPIC_NAME_MAX letters, digits and "-_." (DTM's kv.k is 128 wide). */
#define MR_TOPIC_NAME_MAX 128

/* The scheme of a step that names a topic: topic://NAME. */
#define MR_TOPIC_SCHEME "topic://"

/* mr_check_topic - validate a topic name; MR_EINVAL "topic: <problem>" when it is bad. */
int mr_check_topic(const char *name, struct mr_err *err);

/*
 * mr_check_subscriber_url - validate a subscriber @url as a step's URL is
 * validated: http(s)://, or kafka:// when this relay has --kafka-brokers
 * (common/kafka_url.h), at most mr_config.max_url_len, and an http(s) URL
 * not refused by the target policy (mr_config.targets, judged on the URL
 * alone). MR_EINVAL "url: <problem>".
 */
int mr_check_subscriber_url(const char *url, struct mr_err *err);

/* ---- prepare_reply.c: the one envelope writer and the query renderers ---- */

/*
 * mr_reply_envelope - the DTM answer for @status: 200 {"dtm_result":"SUCCESS"};
 * 400/401/403/409 {"dtm_result":"FAILURE","message":…}; 425 {"dtm_result":"ONGOING",…};
 * anything else {"message":…}. @message may be NULL for 200.
 */
void mr_reply_envelope(struct mr_answer *a, int status, const char *message);

/*
 * mr_reply_envelopef - mr_reply_envelope() with the message formatted
 * printf-style into a struct mr_buf (no fixed array, nothing cut short).
 */
void mr_reply_envelopef(struct mr_answer *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* mr_reply_json - 200 with @j serialised (compact, key order kept); @j is stolen. */
void mr_reply_json(struct mr_answer *a, json_t *j);

/* mr_render_query - the DTM query answer for @m (with steps), NULL meaning unknown. Stolen: none.
 */
json_t *mr_render_query(const struct mr_msg *m);

/*
 * mr_render_all - the DTM all answer for @v[0..n), with @limit the page size
 * asked for; @gid_position < 0 for a scan (next_position: the last id of a
 * full page, else ""), else a lookup by gid, which answers the position asked
 * for (0: "") as DTM does.
 */
json_t *mr_render_all(struct mr_msg **v, size_t n, size_t limit, long long gid_position);

/*
 * mr_render_kvs - {"kv":[…]} for the kv rows @v[0..n), each as DTM shapes a
 * KVStore; with @scan also "next_position" (the last id, or "" when fewer than
 * @limit rows came back), as scanKV answers.
 */
json_t *mr_render_kvs(const struct mr_kv *v, size_t n, bool scan, size_t limit);

/* ---- prepare_ready.c: the state GET /api/ready reports ---- */

struct mr_ready;

/*
 * mr_ready_start - start the probe thread (its own store connection; the
 * hooks' ready, when set, asks the relay) and the overview's counting thread
 * (its own store connection, opened at the first overview). @hooks is copied;
 * @resume resumes a suspended connection (mr_ready_overview). Owned result:
 * mr_ready_stop().
 */
int mr_ready_start(const struct mr_prepare_hooks *hooks, void (*resume)(void *conn),
                   struct mr_ready **out, struct mr_err *err);

/*
 * mr_ready_overview - answer GET /api/msgrelay/overview @r (taken; its
 * connection already suspended) on the counting thread, with its own store
 * connection, never on the writer nor the probe: its counts read every
 * message's index entry. Answers at once from counts less than a second or
 * two old, else once counted; 503 once mr_ready_close() has run. Resumes
 * r->conn.
 */
void mr_ready_overview(struct mr_ready *r, struct mr_req *req);

/* mr_ready_close - answer the overviews waiting (503) and every later one; before the HTTP stop. */
void mr_ready_close(struct mr_ready *r);

/*
 * mr_ready_check - whether the last probe found everything answering, and
 * recently; otherwise the reason in @why (@n bytes, "" when ready). Any
 * thread; never waits on anything but a short mutex.
 */
bool mr_ready_check(struct mr_ready *r, char *why, size_t n);

/* mr_ready_stop - stop and join both threads, close their stores, free @r. NULL is a no-op. */
void mr_ready_stop(struct mr_ready *r);

/* ---- prepare_redrive.c: redrive runs beside the writer, never on it ---- */

struct mr_redrive;

/*
 * mr_parse_redrive - parse a POST /api/msgrelay/redrive body into @r's
 * redrive filter and dry_run (r->gid for "gid"). MR_EINVAL "<field>:
 * <problem>" on bad input, with nothing kept in @r.
 */
int mr_parse_redrive(const char *body, size_t len, struct mr_req *r, struct mr_err *err);

/* mr_redrive_start - the redrive runner (no thread yet). Owned result: mr_redrive_stop(). */
struct mr_redrive *mr_redrive_start(const struct mr_prepare_hooks *hooks,
                                    void (*resume)(void *conn));

/*
 * mr_redrive_submit - run redrive @r (taken) on a thread of its own with its
 * own store connection, in bounded batches, then resume its connection with
 * {"matched":N,"redriven":N}. MR_EBUSY (@r not taken) while another runs.
 */
int mr_redrive_submit(struct mr_redrive *rd, struct mr_req *r);

/* mr_redrive_stop - wait for a running redrive, free @rd. NULL is a no-op. */
void mr_redrive_stop(struct mr_redrive *rd);

/* ---- prepare_http.c ---- */

struct MHD_Connection;

/* mr_prepare_count_api - count the answer @status to the request on @conn, with its latency. */
void mr_prepare_count_api(struct MHD_Connection *conn, int route, int status);

/* ---- prepare_admin.c: the admin page ---- */

/* One file of the admin page, compiled in ($(BUILD)/gen/admin_assets.c from admin/). */
struct mr_admin_asset {
    const char *name;  /* "index.html", "admin.js", ... */
    const char *ctype; /* its Content-Type */
    const char *etag;  /* "\"CRC-LENGTH\"" */
    const unsigned char *data;
    size_t len;
};

extern const struct mr_admin_asset mr_admin_assets[];
extern const size_t mr_admin_asset_count;

struct MHD_Connection;

/*
 * mr_admin_serve - answer GET/HEAD @url under /admin: "/admin" is redirected
 * to "/admin/", "/admin/" is index.html, an unknown file 404. Open (the
 * files hold no data). Returns libmicrohttpd's enum MHD_Result.
 */
int mr_admin_serve(struct MHD_Connection *conn, const char *url, const char *method);

/* What GET /api/msgrelay/overview reads from the store. */
struct mr_overview_counts {
    long counts[MR_MSG_STATE_COUNT]; /* messages by enum mr_msg_state */
    int64_t oldest_ms;               /* create time of the oldest unfinished message; 0: none */
};

/* mr_overview_read - read @c from the store @s (in or out of a transaction). */
int mr_overview_read(struct mr_store *s, struct mr_overview_counts *c, struct mr_err *err);

/*
 * mr_render_overview - GET /api/msgrelay/overview: the counts @c, the rate
 * history and the destinations' health from the metrics, at @now_ms.
 */
json_t *mr_render_overview(const struct mr_overview_counts *c, int64_t now_ms);

/* ---- prepare_backlog.c: the due backlog and the back-pressure it drives ---- */

/*
 * mr_backlog_sample - count the due backlog on @s (the probe's connection) and
 * read its oldest due time, set the estimate and its gauges, and log when
 * slowing or refusing starts or stops. *@far says whether the count is large
 * and the age past the slow bound's range (the intake waits its longest
 * already; only --backlog-max is left to watch, so the next count may come
 * later). On an error the estimate is kept. Probe thread only.
 */
int mr_backlog_sample(struct mr_store *s, bool *far, struct mr_err *err);

/* mr_backlog_left - the writer committed @n messages due now without handing them over. */
void mr_backlog_left(long n);

/* mr_backlog_now - the estimate of the count: the last sample plus what the writer left since. */
long mr_backlog_now(void);

/*
 * mr_backlog_oldest_ms - the estimate of the oldest due time (epoch ms; 0: none):
 * the last sample's, or when it saw none the time the writer first left some since.
 */
int64_t mr_backlog_oldest_ms(void);

/* mr_backlog_age_ms - how long the oldest due message has waited at @now_ms (0: none waits). */
int64_t mr_backlog_age_ms(int64_t now_ms);

/* mr_backlog_refuse - whether a submit is answered 503 now (over --backlog-max). */
bool mr_backlog_refuse(void);

/*
 * mr_backlog_wait_ms - how long the writer waits before its next group commit: 0 up to
 * --backlog-slow-ms of age, growing to BACKLOG_WAIT_MAX_MS at twice it.
 */
int mr_backlog_wait_ms(void);
/* ---- prepare_cache.c: the writer's just-prepared messages (a hint for their submit) ---- */

struct mr_pcache;

/* Its bounds. A submit usually follows its prepare within milliseconds. */
#define MR_PCACHE_ENTRIES 4096
#define MR_PCACHE_BYTES (16u << 20)
#define MR_PCACHE_AGE_MS 5000

/* mr_pcache_new - an empty cache. Owned result: mr_pcache_free(). */
struct mr_pcache *mr_pcache_new(void);

/*
 * mr_pcache_put - remember @m (taken), a message just committed as prepared,
 * with its id and its steps' ids, in place of any entry of its gid; kept until
 * it is taken, dropped, too old or past its back-check time, or pushed out.
 */
void mr_pcache_put(struct mr_pcache *c, struct mr_msg *m, int64_t now_ms);

/* mr_pcache_take - the message of @gid, taken out of the cache (owned), or NULL. */
struct mr_msg *mr_pcache_take(struct mr_pcache *c, const char *gid, int64_t now_ms);

/* mr_pcache_drop - forget @gid, if remembered. */
void mr_pcache_drop(struct mr_pcache *c, const char *gid);

/* mr_pcache_expire - forget the oldest entries whose time is up by @now_ms. */
void mr_pcache_expire(struct mr_pcache *c, int64_t now_ms);

/* mr_pcache_clear - forget everything. */
void mr_pcache_clear(struct mr_pcache *c);

/* mr_pcache_count - how many messages it holds. */
size_t mr_pcache_count(const struct mr_pcache *c);

/* mr_pcache_free - free @c and what it holds. NULL is a no-op. */
void mr_pcache_free(struct mr_pcache *c);

/* ---- prepare_writer.c ---- */

struct mr_writer;

/* mr_writer_start - open a store connection and start the writer thread. @hooks is copied. */
int mr_writer_start(const struct mr_prepare_hooks *hooks, void (*resume)(void *conn),
                    struct mr_writer **out, struct mr_err *err);

/*
 * mr_writer_submit - queue @r (taken). MR_EBUSY when the queue is full or the
 * writer is stopping: then @r is not taken and the caller answers 503.
 */
int mr_writer_submit(struct mr_writer *w, struct mr_req *r);

/* mr_writer_pass_done - answer the requests waiting on a pass over @gid. Any thread. */
void mr_writer_pass_done(struct mr_writer *w, const char *gid, enum mr_result outcome,
                         const char *detail);

/* mr_writer_stop - answer everything queued or waiting, stop the thread, free @w. */
void mr_writer_stop(struct mr_writer *w);

#endif
