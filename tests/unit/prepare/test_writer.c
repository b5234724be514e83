/* SPDX-License-Identifier: MIT */
/*
 * test_writer.c - the intake's group-commit writer (prepare/prepare_writer.c),
 * driven through its internal API (prepare_int.h: mr_writer_start, _submit,
 * _pass_done, _stop) as prepare_http.c drives it, on a real writer thread and
 * a real SQLite store in a fresh temporary directory per test.
 *
 * What it answers for prepare, submit, abort, forceStop and resetNextCronTime
 * against each state a message can be in (and an unknown gid); repeats; what
 * a 200 left in the store (the test reads it on its own connection once the
 * answer came: a 200 means committed); fresh submits handed to the relay
 * through the hooks while it has room, and left to its claim (with a wake)
 * when it has none, or while due work waits in the store (the backlog of
 * prepare_backlog.c, sampled here on the test's connection); several requests
 * in one group commit; wait_result submits parked until the pass; MR_EBUSY
 * (the 503) on a full queue.
 *
 * The fake hooks record what they are given. The room hook doubles as a gate:
 * a test can hold the writer inside a batch while it queues more requests, so
 * the next batch holds exactly those. Waits poll with a deadline, never sleep.
 * Threads: the test's own, the writer thread (hooks and resume), under F.mu.
 * Must not reach the writer's statics or include its .c: its internals (retry
 * loop, envelope formatting) change under these tests, its API does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/mem.h"
#include "prepare/prepare_int.h"
#include "store/store.h"

#define RELAY_ID "relay-under-test"

/* How long a test waits for the writer before it calls the writer stuck. */
#define DEADLINE_MS 10000

#define OK_BODY "{\"dtm_result\":\"SUCCESS\"}"

/* One message handed to the relay, as the hand hook saw it. */
struct handed {
    char *gid;
    int state;
    char *owner;
    int64_t lease_until_ms;
    int64_t next_cron_ms;
    size_t nsteps;
    bool step_ids_set;
    char *first_url;
};

/* One request in flight: resumed by the writer (or mr_writer_pass_done) when answered. */
struct call {
    struct mr_req *r;
    bool done;
};

/* The fake relay and the test's side of the writer. */
struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t room;      /* what the room hook answers */
    int room_calls;   /* one per batch */
    bool gate_closed; /* the room hook waits while set */
    bool in_room;     /* the writer is inside the room hook */
    int wake_calls;
    int hand_calls;
    size_t hand_sizes[16]; /* n of each hand call */
    struct handed handed[64];
    size_t nhanded;
};

static struct fake F = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER,
};

/* The fixture: a temporary SQLite store, the writer on it, and the test's own connection. */
struct fx {
    char dir[64];
    char path[128];
    struct mr_store *s; /* the test's connection, for seeding and reading */
    struct mr_writer *w;
};

/* ---- hooks and resume: run on the writer thread ---- */

static void fake_wake(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&F.mu);
    F.wake_calls++;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
}

static size_t fake_room(void *arg)
{
    size_t room;

    (void)arg;
    pthread_mutex_lock(&F.mu);
    F.room_calls++;
    F.in_room = true;
    pthread_cond_broadcast(&F.cv);
    while (F.gate_closed)
        pthread_cond_wait(&F.cv, &F.mu);
    F.in_room = false;
    room = F.room;
    pthread_mutex_unlock(&F.mu);
    return room;
}

/* fake_hand - record what the relay was given, then free it (the hook takes it). */
static void fake_hand(void *arg, struct mr_msg **v, size_t n)
{
    size_t i;
    size_t j;

    (void)arg;
    pthread_mutex_lock(&F.mu);
    if (F.hand_calls < 16)
        F.hand_sizes[F.hand_calls] = n;
    F.hand_calls++;
    for (i = 0; i < n; i++) {
        struct handed *h = &F.handed[F.nhanded < 64 ? F.nhanded : 63];

        h->gid = mr_xstrdup(v[i]->gid);
        h->state = v[i]->state;
        h->owner = mr_xstrdup(v[i]->owner != NULL ? v[i]->owner : "(null)");
        h->lease_until_ms = v[i]->lease_until_ms;
        h->next_cron_ms = v[i]->next_cron_ms;
        h->nsteps = v[i]->nsteps;
        h->step_ids_set = v[i]->id != 0;
        for (j = 0; j < v[i]->nsteps; j++)
            h->step_ids_set = h->step_ids_set && v[i]->steps[j].id != 0;
        h->first_url = mr_xstrdup(v[i]->nsteps > 0 ? v[i]->steps[0].url : "");
        F.nhanded++;
        mr_msg_free(v[i]);
    }
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
}

static void fake_resume(void *conn)
{
    struct call *c = conn;

    pthread_mutex_lock(&F.mu);
    c->done = true;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
}

/* ---- waiting with a deadline ---- */

/* wait_until - wait (F.mu held) until @ok(@arg) holds; false at the deadline. */
static bool wait_until(bool (*ok)(void *), void *arg)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += DEADLINE_MS / 1000;
    while (!ok(arg)) {
        if (pthread_cond_timedwait(&F.cv, &F.mu, &ts) != 0 && !ok(arg))
            return false;
    }
    return true;
}

static bool call_done(void *arg)
{
    return ((struct call *)arg)->done;
}

static bool writer_in_room(void *arg)
{
    (void)arg;
    return F.in_room;
}

static bool hand_calls_at_least(void *arg)
{
    return F.hand_calls >= *(int *)arg;
}

/* ---- fixture ---- */

static void fake_reset(void)
{
    size_t i;

    pthread_mutex_lock(&F.mu);
    for (i = 0; i < F.nhanded && i < 64; i++) {
        free(F.handed[i].gid);
        free(F.handed[i].owner);
        free(F.handed[i].first_url);
    }
    memset(F.handed, 0, sizeof(F.handed));
    memset(F.hand_sizes, 0, sizeof(F.hand_sizes));
    F.nhanded = 0;
    F.room = 0;
    F.room_calls = 0;
    F.gate_closed = false;
    F.in_room = false;
    F.wake_calls = 0;
    F.hand_calls = 0;
    pthread_mutex_unlock(&F.mu);
}

/* sample - sample the backlog on the test's connection (as the probe thread does); the estimate. */
static long sample(struct fx *fx)
{
    struct mr_err err = MR_ERR_INIT;
    bool far = false;

    if (mr_backlog_sample(fx->s, &far, &err) != 0)
        fail_msg("backlog sample: %s", err.msg);
    return mr_backlog_now();
}

static int setup(void **state)
{
    static const struct mr_prepare_hooks hooks = {
        .arg = &F,
        .wake = fake_wake,
        .room = fake_room,
        .hand = fake_hand,
        .ready = NULL,
    };
    struct fx *fx = mr_xcalloc(1, sizeof(*fx));
    struct mr_err err = MR_ERR_INIT;
    char uri[200];

    fake_reset();
    mr_config_defaults(&mr_config);
    mr_config.relay_id = mr_xstrdup(RELAY_ID);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/mr-writer-test-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/relay.db", fx->dir);
    snprintf(uri, sizeof(uri), "sqlite:%s", fx->path);
    free(mr_config.store);
    mr_config.store = mr_xstrdup(uri);
    if (mr_store_open(uri, &fx->s, &err) != 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return -1;
    }
    if (mr_writer_start(&hooks, fake_resume, &fx->w, &err) != 0) {
        fprintf(stderr, "writer: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    /* the backlog estimate outlives a test: start each from the empty store's count */
    return sample(fx) == 0 ? 0 : -1;
}

/* open_gate - let a writer held in the room hook go on. */
static void open_gate(void)
{
    pthread_mutex_lock(&F.mu);
    F.gate_closed = false;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
}

static int teardown(void **state)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    struct fx *fx = *state;
    char p[160];
    size_t i;

    open_gate();
    mr_writer_stop(fx->w);
    mr_store_close(fx->s);
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    mr_config_free(&mr_config);
    fake_reset();
    return 0;
}

/* ---- requests ---- */

/* body - a prepare/submit body for @gid: one step to @url (NULL: no steps), then @extra. */
static char *body(const char *gid, const char *url, const char *extra)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);

    mr_buf_addf(&b, "{\"gid\":\"%s\",\"trans_type\":\"msg\"", gid);
    if (url != NULL)
        mr_buf_addf(&b, ",\"steps\":[{\"action\":\"%s\"}],\"payloads\":[\"{\\\"to\\\":\\\"%s\\\"}\"]",
                    url, url);
    mr_buf_addf(&b, "%s%s}", extra[0] ? "," : "", extra);
    return mr_buf_detach(&b, NULL);
}

/* msg_req - a prepare or submit request parsed from a body, as prepare_http.c makes one. */
static struct mr_req *msg_req(enum mr_req_op op, const char *gid, const char *url,
                              const char *extra)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_req *r = mr_xcalloc(1, sizeof(*r));
    char *b = body(gid, url, extra);

    r->op = op;
    if (mr_parse_msg(b, strlen(b), op == MR_OP_SUBMIT, &r->msg, &err) != 0)
        fail_msg("body %s: %s", b, err.msg);
    r->gid = mr_xstrdup(r->msg->gid);
    free(b);
    return r;
}

/* gid_req - an abort, forceStop or resetNextCronTime request. */
static struct mr_req *gid_req(enum mr_req_op op, const char *gid)
{
    struct mr_req *r = mr_xcalloc(1, sizeof(*r));

    r->op = op;
    r->gid = mr_xstrdup(gid);
    return r;
}

/* start - queue @r (taken) as call @c. */
static void start(struct fx *fx, struct call *c, struct mr_req *r)
{
    c->r = r;
    c->done = false;
    r->conn = c;
    assert_int_equal(mr_writer_submit(fx->w, r), 0);
}

/*
 * finish_with - wait for @c's answer and free the request: @status, and a body
 * that is @want, or (@part not NULL) that starts with @want and holds @part.
 */
static void finish_with(struct call *c, int status, const char *want, const char *part)
{
    const char *body;
    bool ok;

    pthread_mutex_lock(&F.mu);
    ok = wait_until(call_done, c);
    pthread_mutex_unlock(&F.mu);
    if (!ok)
        fail_msg("no answer within %d ms", DEADLINE_MS);
    body = c->r->answer.body;
    assert_int_equal(c->r->answer.status, status);
    assert_non_null(body);
    if (part == NULL)
        assert_string_equal(body, want);
    else if (strncmp(body, want, strlen(want)) != 0 || strstr(body, part) == NULL)
        fail_msg("expected '%s...%s...', got '%s'", want, part, body);
    mr_req_free(c->r);
    c->r = NULL;
}

/* finish - wait for @c's answer, expect exactly @status and @want, free the request. */
static void finish(struct call *c, int status, const char *want)
{
    finish_with(c, status, want, NULL);
}

/* call - queue @r and expect @status with body @want. */
static void call(struct fx *fx, struct mr_req *r, int status, const char *want)
{
    struct call c;

    start(fx, &c, r);
    finish(&c, status, want);
}

/* close_gate - make the writer stop in the room hook of its next batch. */
static void close_gate(void)
{
    pthread_mutex_lock(&F.mu);
    F.gate_closed = true;
    pthread_mutex_unlock(&F.mu);
}

/* wait_in_room - wait until the writer is held in the room hook. */
static void wait_in_room(void)
{
    bool ok;

    pthread_mutex_lock(&F.mu);
    ok = wait_until(writer_in_room, NULL);
    pthread_mutex_unlock(&F.mu);
    if (!ok)
        fail_msg("the writer did not reach the room hook within %d ms", DEADLINE_MS);
}

static void set_room(size_t n)
{
    pthread_mutex_lock(&F.mu);
    F.room = n;
    pthread_mutex_unlock(&F.mu);
}

static int wakes(void)
{
    int n;

    pthread_mutex_lock(&F.mu);
    n = F.wake_calls;
    pthread_mutex_unlock(&F.mu);
    return n;
}

/* ---- the store, on the test's connection ---- */

/* seed - store @gid in @state with one step, due at @next_cron_ms, not leased. */
static void seed(struct fx *fx, const char *gid, int state, int64_t next_cron_ms)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = mr_msg_new(1);

    m->gid = mr_xstrdup(gid);
    m->state = state;
    m->query_prepared = mr_xstrdup("");
    m->protocol = mr_xstrdup("http");
    m->custom_data = mr_xstrdup("");
    m->branch_headers = mr_xstrdup("");
    m->create_ms = 1000;
    m->update_ms = 1000;
    m->next_cron_ms = next_cron_ms;
    m->next_cron_interval = 10;
    if (state == MR_MSG_SUCCEED)
        m->finish_ms = 1000;
    if (state == MR_MSG_FAILED)
        m->rollback_ms = 1000;
    m->steps[0].branch_id = mr_xstrdup("01");
    m->steps[0].url = mr_xstrdup("http://seeded/step");
    m->steps[0].payload = mr_xstrdup("{}");
    m->steps[0].payload_len = 2;
    m->steps[0].state = MR_STEP_PREPARED;
    m->steps[0].create_ms = 1000;
    m->steps[0].update_ms = 1000;
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    if (mr_store_msg_insert(fx->s, m, &err) != 0)
        fail_msg("seed %s: %s", gid, err.msg);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    mr_msg_free(m);
}

/* stored - @gid as the store has it now, with steps; NULL when there is none. */
static struct mr_msg *stored(struct fx *fx, const char *gid)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m = NULL;

    if (mr_store_msg_get(fx->s, gid, true, &m, &err) != 0)
        fail_msg("get %s: %s", gid, err.msg);
    return m;
}

/* stored_state - the state of @gid in the store; MR_MSG_NONE when there is none. */
static int stored_state(struct fx *fx, const char *gid)
{
    struct mr_msg *m = stored(fx, gid);
    int state = m != NULL ? m->state : MR_MSG_NONE;

    mr_msg_free(m);
    return state;
}

/* A far-away schedule: a seeded message that is not due during a test. */
#define LATER (mr_now_ms() + 3600 * 1000)

/*
 * conflicts - @op on a message seeded in each of @states[0..@n) is 409 with
 * the message @pre, the state's name, @post (DTM's words), and leaves the
 * message as it was. Prepare and submit carry a body with one step.
 */
static void conflicts(struct fx *fx, enum mr_req_op op, const int *states, size_t n,
                      const char *pre, const char *post)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const char *name = mr_msg_state_name(states[i]);
        struct mr_buf gid = MR_BUF_INIT(64);
        struct mr_buf want = MR_BUF_INIT(512);
        struct mr_req *r;

        mr_buf_addf(&gid, "c-%s", name);
        mr_buf_addf(&want, "{\"dtm_result\":\"FAILURE\",\"message\":\"%s%s%s\"}", pre, name,
                    post);
        seed(fx, gid.p, states[i], LATER);
        if (op == MR_OP_PREPARE || op == MR_OP_SUBMIT)
            r = msg_req(op, gid.p, "http://svc/a", "");
        else
            r = gid_req(op, gid.p);
        call(fx, r, 409, want.p);
        assert_int_equal(stored_state(fx, gid.p), states[i]);
        mr_buf_release(&gid);
        mr_buf_release(&want);
    }
}

/* ---- prepare ---- */

static void test_writer_prepare_stores_a_new_message_prepared(void **state)
{
    struct fx *fx = *state;
    int64_t before = mr_now_ms();
    struct mr_msg *m;

    set_room(8);
    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/a", "\"timeout_to_fail\":9"), 200, OK_BODY);
    m = stored(fx, "p1");
    assert_non_null(m);
    assert_int_equal(m->state, MR_MSG_PREPARED);
    assert_int_equal(m->nsteps, 1);
    assert_string_equal(m->steps[0].url, "http://svc/a");
    assert_true(m->create_ms >= before && m->create_ms <= mr_now_ms());
    /* looked at again (back-checked) once its timeout_to_fail has passed */
    assert_int_equal(m->next_cron_ms, m->create_ms + 9000);
    /* never leased: a prepared message is not the relay's to deliver */
    assert_string_equal(m->owner, "");
    mr_msg_free(m);
    assert_int_equal(F.hand_calls, 0);
    assert_int_equal(wakes(), 0);
}

static void test_writer_prepare_again_keeps_the_first_data(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/first", ""), 200, OK_BODY);
    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/second", ""), 200, OK_BODY);
    m = stored(fx, "p1");
    assert_int_equal(m->state, MR_MSG_PREPARED);
    assert_int_equal(m->nsteps, 1);
    assert_string_equal(m->steps[0].url, "http://svc/first");
    mr_msg_free(m);
}

static void test_writer_prepare_refused_once_submitted_or_finished(void **state)
{
    static const int states[] = {MR_MSG_SUBMITTED, MR_MSG_SUCCEED, MR_MSG_FAILED};

    conflicts(*state, MR_OP_PREPARE, states, 3, "current status '", "', cannot prepare. FAILURE");
}

/* ---- submit ---- */

static void test_writer_submit_hands_a_new_message_to_the_relay(void **state)
{
    struct fx *fx = *state;
    int64_t before = mr_now_ms();
    struct mr_msg *m;

    set_room(8);
    call(fx, msg_req(MR_OP_SUBMIT, "n1", "http://svc/a", ""), 200, OK_BODY);
    /* handed before the answer, once, with its lease and its stored steps */
    assert_int_equal(F.hand_calls, 1);
    assert_int_equal(F.nhanded, 1);
    assert_string_equal(F.handed[0].gid, "n1");
    assert_int_equal(F.handed[0].state, MR_MSG_SUBMITTED);
    assert_string_equal(F.handed[0].owner, RELAY_ID);
    assert_true(F.handed[0].lease_until_ms >= before + 60 * 1000);
    assert_int_equal(F.handed[0].nsteps, 1);
    assert_true(F.handed[0].step_ids_set);
    assert_string_equal(F.handed[0].first_url, "http://svc/a");
    /* the relay needs no wake for what it was handed */
    assert_int_equal(wakes(), 0);
    m = stored(fx, "n1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->owner, RELAY_ID);
    assert_int_equal(m->lease_until_ms, F.handed[0].lease_until_ms);
    assert_true(m->next_cron_ms <= mr_now_ms());
    mr_msg_free(m);
}

static void test_writer_submit_without_room_leaves_it_to_the_claim(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;
    int64_t now;
    struct mr_msg *m;

    set_room(0);
    call(fx, msg_req(MR_OP_SUBMIT, "n1", "http://svc/a", ""), 200, OK_BODY);
    assert_int_equal(F.hand_calls, 0);
    assert_int_equal(wakes(), 1);
    m = stored(fx, "n1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->owner, "");
    assert_int_equal(m->lease_until_ms, 0);
    mr_msg_free(m);
    /* due now and not leased: the relay's claim finds it */
    now = mr_now_ms();
    assert_int_equal(mr_store_claim(fx->s, "claimer", now, now + 1000, 10, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->gid, "n1");
    mr_store_msgs_free(v, n);
}

static void test_writer_no_hand_over_while_due_work_waits_in_the_store(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    size_t n = 0;
    int64_t now;
    struct mr_msg *m;

    seed(fx, "old", MR_MSG_SUBMITTED, 1000);
    assert_int_equal(sample(fx), 1);
    set_room(8);
    call(fx, msg_req(MR_OP_SUBMIT, "n1", "http://svc/a", ""), 200, OK_BODY);
    /* stored unleased, the relay woken: it claims both, the oldest first */
    assert_int_equal(F.hand_calls, 0);
    assert_int_equal(wakes(), 1);
    assert_int_equal(mr_backlog_now(), 2); /* the sample, and what the writer left since */
    m = stored(fx, "n1");
    assert_string_equal(m->owner, "");
    mr_msg_free(m);
    now = mr_now_ms();
    assert_int_equal(mr_store_claim(fx->s, "claimer", now, now + 60000, 10, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->gid, "old");
    assert_string_equal(v[1]->gid, "n1");
    mr_store_msgs_free(v, n);
    /* nothing due is left: hand-over again */
    assert_int_equal(sample(fx), 0);
    call(fx, msg_req(MR_OP_SUBMIT, "n2", "http://svc/a", ""), 200, OK_BODY);
    assert_int_equal(F.hand_calls, 1);
    assert_string_equal(F.handed[0].gid, "n2");
}

static void test_writer_backlog_max_follows_the_sampled_count(void **state)
{
    struct fx *fx = *state;
    int64_t now = mr_now_ms();
    char gid[16];
    int i;

    for (i = 0; i < 5; i++) {
        snprintf(gid, sizeof(gid), "d%d", i);
        seed(fx, gid, MR_MSG_SUBMITTED, now);
    }
    seed(fx, "later", MR_MSG_SUBMITTED, INT64_C(1) << 50); /* not due: not counted */
    mr_config.backlog_slow_ms = 60000;
    mr_config.backlog_max = 5;
    assert_int_equal(sample(fx), 5);
    assert_false(mr_backlog_refuse()); /* 5 is not over 5 */
    mr_config.backlog_max = 4;
    assert_true(mr_backlog_refuse());
    /* the count drives the refusal, never the wait: 5 due messages, all young */
    assert_int_equal(mr_backlog_wait_ms(), 0);
    mr_config.backlog_slow_ms = 1;
    mr_config.backlog_max = 0; /* 0 never refuses */
    assert_false(mr_backlog_refuse());
}

static void test_writer_waits_by_the_age_of_the_oldest_due_message(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg **v = NULL;
    int64_t now = mr_now_ms();
    size_t n = 0;
    int ms;

    seed(fx, "old", MR_MSG_SUBMITTED, now - 10000); /* due 10 s ago, still waiting */
    seed(fx, "young", MR_MSG_SUBMITTED, now);
    seed(fx, "later", MR_MSG_SUBMITTED, INT64_C(1) << 50);
    mr_config.backlog_max = 0;
    mr_config.backlog_slow_ms = 20000;
    assert_int_equal(sample(fx), 2);
    assert_int_equal(mr_backlog_oldest_ms(), now - 10000);
    assert_true(mr_backlog_age_ms(mr_now_ms()) >= 10000);
    assert_int_equal(mr_backlog_wait_ms(), 0); /* 10 s is under the bound */
    /* 0 at the bound, growing linearly to 50 ms at twice it: 1 + over * 49 / bound */
    mr_config.backlog_slow_ms = 8000; /* 2 s over (and the test's own time): about 13 ms */
    ms = mr_backlog_wait_ms();
    assert_true(ms >= 13 && ms < 25);
    mr_config.backlog_slow_ms = 6000; /* 4 s over: about 33 ms */
    ms = mr_backlog_wait_ms();
    assert_true(ms >= 33 && ms < 45);
    mr_config.backlog_slow_ms = 5000; /* twice the bound and past it: the longest */
    assert_int_equal(mr_backlog_wait_ms(), 50);
    mr_config.backlog_slow_ms = 1000;
    assert_int_equal(mr_backlog_wait_ms(), 50);
    mr_config.backlog_slow_ms = 0; /* 0 never waits */
    assert_int_equal(mr_backlog_wait_ms(), 0);
    /* a submit past the bound still commits and is answered, after its wait */
    mr_config.backlog_slow_ms = 1000;
    call(fx, msg_req(MR_OP_SUBMIT, "n1", "http://svc/a", ""), 200, OK_BODY);
    assert_int_equal(stored_state(fx, "n1"), MR_MSG_SUBMITTED);
    /* the relay takes the oldest: the next sample's oldest is young, whatever the count */
    assert_int_equal(mr_store_claim(fx->s, "claimer", mr_now_ms(), mr_now_ms() + 60000, 1, &v,
                                    &n, &err),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->gid, "old");
    mr_store_msgs_free(v, n);
    assert_int_equal(sample(fx), 2);
    assert_true(mr_backlog_oldest_ms() >= now);
    assert_int_equal(mr_backlog_wait_ms(), 0);
}

/* wait_for_a_wait - poll, with a deadline and no new sample, until the writer would wait. */
static bool wait_for_a_wait(void)
{
    int64_t deadline = mr_mono_ms() + DEADLINE_MS;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 5 * 1000000L};

    while (mr_backlog_wait_ms() == 0) {
        if (mr_mono_ms() >= deadline)
            return false;
        nanosleep(&ts, NULL);
    }
    return true;
}

static void test_writer_backlog_age_grows_between_samples(void **state)
{
    struct fx *fx = *state;
    int64_t now = mr_now_ms();

    seed(fx, "d", MR_MSG_SUBMITTED, now - 500);
    mr_config.backlog_slow_ms = 1000;
    assert_int_equal(sample(fx), 1);
    assert_int_equal(mr_backlog_wait_ms(), 0); /* 0.5 s, under the bound */
    /* no sample comes: the age grows by itself past the bound */
    assert_true(wait_for_a_wait());
    assert_true(mr_backlog_age_ms(mr_now_ms()) > 1000);
    assert_int_equal(mr_backlog_oldest_ms(), now - 500);
}

static void test_writer_left_messages_stand_for_the_oldest_until_the_next_sample(void **state)
{
    struct fx *fx = *state;
    int64_t before;
    int64_t after;
    int64_t left_at;
    struct mr_msg *m;

    assert_int_equal(mr_backlog_oldest_ms(), 0); /* the setup's sample: nothing due */
    assert_int_equal(mr_backlog_age_ms(mr_now_ms()), 0);
    mr_config.backlog_slow_ms = 100;
    set_room(0);
    before = mr_now_ms();
    call(fx, msg_req(MR_OP_SUBMIT, "n1", "http://svc/a", ""), 200, OK_BODY);
    after = mr_now_ms();
    /* left in the store due and unleased: the time it was left stands for the oldest */
    assert_int_equal(mr_backlog_now(), 1);
    left_at = mr_backlog_oldest_ms();
    assert_true(left_at >= before && left_at <= after);
    /* a second one leaves the oldest as it is */
    call(fx, msg_req(MR_OP_SUBMIT, "n2", "http://svc/a", ""), 200, OK_BODY);
    assert_int_equal(mr_backlog_now(), 2);
    assert_int_equal(mr_backlog_oldest_ms(), left_at);
    /* and it ages until the next sample, which reads the stored due time */
    assert_true(wait_for_a_wait());
    m = stored(fx, "n1");
    assert_int_equal(sample(fx), 2);
    assert_int_equal(mr_backlog_oldest_ms(), m->next_cron_ms);
    mr_msg_free(m);
}

static void test_writer_submit_without_steps_of_an_unknown_gid_is_400(void **state)
{
    struct fx *fx = *state;

    set_room(8);
    call(fx, msg_req(MR_OP_SUBMIT, "n1", NULL, ""), 400,
         "{\"dtm_result\":\"FAILURE\",\"message\":\"steps: must not be empty\"}");
    assert_int_equal(stored_state(fx, "n1"), MR_MSG_NONE);
    assert_int_equal(F.hand_calls, 0);
}

static void test_writer_submit_of_a_prepared_message_keeps_its_steps(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    set_room(8);
    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/prepared", ""), 200, OK_BODY);
    /* a submit after a prepare may carry no steps; if it does, the stored ones win */
    call(fx, msg_req(MR_OP_SUBMIT, "p1", NULL, ""), 200, OK_BODY);
    m = stored(fx, "p1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_int_equal(m->nsteps, 1);
    assert_string_equal(m->steps[0].url, "http://svc/prepared");
    assert_string_equal(m->owner, RELAY_ID);
    mr_msg_free(m);
    /* the message as prepared (remembered by the writer, with its step ids) goes to the relay */
    assert_int_equal(F.nhanded, 1);
    assert_string_equal(F.handed[0].gid, "p1");
    assert_int_equal(F.handed[0].state, MR_MSG_SUBMITTED);
    assert_string_equal(F.handed[0].owner, RELAY_ID);
    assert_true(F.handed[0].step_ids_set);
    assert_string_equal(F.handed[0].first_url, "http://svc/prepared");
    assert_int_equal(wakes(), 0);
}

/* drop - delete @gid and its steps on a plain connection of its own (another relay's doing). */
static void drop(struct fx *fx, const char *gid)
{
    sqlite3 *db = NULL;
    char sql[256];

    snprintf(sql, sizeof(sql),
             "DELETE FROM step WHERE msg_id IN (SELECT id FROM msg WHERE gid = '%s');"
             "DELETE FROM msg WHERE gid = '%s';",
             gid, gid);
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, DEADLINE_MS);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/*
 * The writer remembers what it prepared; another connection (a relay on the
 * same store) aborts it meanwhile: the submit is decided on the stored state.
 */
static void test_writer_submit_of_a_remembered_message_aborted_meanwhile_is_409(void **state)
{
    struct fx *fx = *state;
    struct mr_err err = MR_ERR_INIT;
    struct call c;

    set_room(8);
    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/prepared", ""), 200, OK_BODY);
    assert_int_equal(mr_store_begin(fx->s, &err), 0);
    assert_int_equal(mr_store_msg_transition(fx->s, "p1", MR_MSG_PREPARED, MR_MSG_FAILED,
                                             mr_now_ms(), -1, 0, &err),
                     0);
    assert_int_equal(mr_store_commit(fx->s, &err), 0);
    start(fx, &c, msg_req(MR_OP_SUBMIT, "p1", NULL, ""));
    finish_with(&c, 409, "{\"dtm_result\":\"FAILURE\"",
                "current status 'failed', cannot sumbmit. FAILURE");
    assert_int_equal(stored_state(fx, "p1"), MR_MSG_FAILED);
    assert_int_equal(F.hand_calls, 0);
    /* and a submit of one it prepared meanwhile, in the same batch or not, still goes */
    call(fx, msg_req(MR_OP_PREPARE, "p2", "http://svc/prepared", ""), 200, OK_BODY);
    call(fx, msg_req(MR_OP_SUBMIT, "p2", NULL, ""), 200, OK_BODY);
    assert_int_equal(stored_state(fx, "p2"), MR_MSG_SUBMITTED);
    assert_int_equal(F.nhanded, 1);
    assert_string_equal(F.handed[0].gid, "p2");
}

/*
 * Deleted and prepared again under the same gid by someone else (a new id,
 * other steps): the submit moves and hands the stored message, not the
 * remembered one.
 */
static void test_writer_submit_of_a_message_prepared_anew_hands_the_stored_one(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    set_room(8);
    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/first", ""), 200, OK_BODY);
    drop(fx, "p1");
    seed(fx, "p1", MR_MSG_PREPARED, LATER);
    call(fx, msg_req(MR_OP_SUBMIT, "p1", NULL, ""), 200, OK_BODY);
    m = stored(fx, "p1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->steps[0].url, "http://seeded/step");
    mr_msg_free(m);
    assert_int_equal(F.nhanded, 1);
    assert_string_equal(F.handed[0].first_url, "http://seeded/step");
}

/*
 * A prepare of a gid the writer does not remember is taken for new without a
 * read; one stored by another relay (here: seeded) makes the insert fail, and
 * the batch is made again from the store: every request answered as stored.
 */
static void test_writer_prepare_of_a_gid_stored_elsewhere_in_a_batch_is_a_repeat(void **state)
{
    struct fx *fx = *state;
    struct call first;
    struct call c[3];
    struct mr_msg *m;

    seed(fx, "p0", MR_MSG_PREPARED, LATER);
    seed(fx, "s0", MR_MSG_SUBMITTED, LATER);
    close_gate();
    start(fx, &first, msg_req(MR_OP_PREPARE, "n0", "http://svc/n", ""));
    wait_in_room();
    start(fx, &c[0], msg_req(MR_OP_PREPARE, "n1", "http://svc/n", ""));
    start(fx, &c[1], msg_req(MR_OP_PREPARE, "p0", "http://svc/again", ""));
    start(fx, &c[2], msg_req(MR_OP_PREPARE, "s0", "http://svc/again", ""));
    open_gate();
    finish(&first, 200, OK_BODY);
    finish(&c[0], 200, OK_BODY);
    finish(&c[1], 200, OK_BODY); /* the first data is kept */
    finish(&c[2], 409,
           "{\"dtm_result\":\"FAILURE\",\"message\":\"current status 'submitted', cannot "
           "prepare. FAILURE\"}");
    assert_int_equal(stored_state(fx, "n0"), MR_MSG_PREPARED);
    assert_int_equal(stored_state(fx, "n1"), MR_MSG_PREPARED);
    m = stored(fx, "p0");
    assert_int_equal(m->state, MR_MSG_PREPARED);
    assert_string_equal(m->steps[0].url, "http://seeded/step");
    mr_msg_free(m);
    /* and what the careful pass prepared is remembered like the rest */
    set_room(8);
    call(fx, msg_req(MR_OP_SUBMIT, "n1", NULL, ""), 200, OK_BODY);
    assert_int_equal(F.nhanded, 1);
    assert_string_equal(F.handed[0].first_url, "http://svc/n");
}

/* An abort through this writer forgets the message: a submit then is 409, nothing handed. */
static void test_writer_submit_after_an_abort_through_the_writer_is_409(void **state)
{
    struct fx *fx = *state;
    struct call c;

    set_room(8);
    call(fx, msg_req(MR_OP_PREPARE, "p1", "http://svc/prepared", ""), 200, OK_BODY);
    call(fx, gid_req(MR_OP_ABORT, "p1"), 200, OK_BODY);
    start(fx, &c, msg_req(MR_OP_SUBMIT, "p1", NULL, ""));
    finish_with(&c, 409, "{\"dtm_result\":\"FAILURE\"",
                "current status 'failed', cannot sumbmit. FAILURE");
    assert_int_equal(F.hand_calls, 0);
}

static void test_writer_submit_of_a_prepared_message_without_room_wakes(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    set_room(0);
    seed(fx, "p1", MR_MSG_PREPARED, LATER);
    call(fx, msg_req(MR_OP_SUBMIT, "p1", "http://svc/ignored", ""), 200, OK_BODY);
    m = stored(fx, "p1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->steps[0].url, "http://seeded/step");
    assert_string_equal(m->owner, "");
    assert_true(m->next_cron_ms <= mr_now_ms());
    mr_msg_free(m);
    assert_int_equal(F.hand_calls, 0);
    assert_int_equal(wakes(), 1);
}

static void test_writer_submit_again_is_200_and_due_now(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    set_room(8);
    seed(fx, "s1", MR_MSG_SUBMITTED, LATER);
    call(fx, msg_req(MR_OP_SUBMIT, "s1", "http://svc/a", ""), 200, OK_BODY);
    m = stored(fx, "s1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    /* steps not yet succeeded are tried again now */
    assert_true(m->next_cron_ms <= mr_now_ms());
    assert_int_equal(m->nsteps, 1);
    mr_msg_free(m);
    /* not handed (the relay may hold it already): woken to look */
    assert_int_equal(F.hand_calls, 0);
    assert_int_equal(wakes(), 1);
}

static void test_writer_submit_refused_once_finished(void **state)
{
    static const int states[] = {MR_MSG_SUCCEED, MR_MSG_FAILED};

    /* "sumbmit": DTM's spelling, which its clients may match */
    conflicts(*state, MR_OP_SUBMIT, states, 2, "current status '", "', cannot sumbmit. FAILURE");
}

static void test_writer_submit_with_a_delay_is_not_handed(void **state)
{
    struct fx *fx = *state;
    struct mr_msg *m;

    set_room(8);
    call(fx, msg_req(MR_OP_SUBMIT, "d1", "http://svc/a", "\"custom_data\":\"{\\\"delay\\\":30}\""),
         200, OK_BODY);
    m = stored(fx, "d1");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_int_equal(m->next_cron_ms, m->create_ms + 30000);
    assert_string_equal(m->owner, "");
    mr_msg_free(m);
    assert_int_equal(F.hand_calls, 0);
    assert_int_equal(wakes(), 1);
}

/* ---- abort, forceStop, resetNextCronTime ---- */

static void test_writer_unknown_gid_is_500_not_found(void **state)
{
    static const enum mr_req_op ops[] = {MR_OP_ABORT, MR_OP_FORCESTOP, MR_OP_RESET};
    struct fx *fx = *state;
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        call(fx, gid_req(ops[i], "nope"), 500,
             "{\"message\":\"no TransGlobal with gid: nope found\"}");
    assert_int_equal(stored_state(fx, "nope"), MR_MSG_NONE);
    assert_int_equal(wakes(), 0);
}

static void test_writer_abort_fails_a_prepared_message_only(void **state)
{
    static const int states[] = {MR_MSG_SUBMITTED, MR_MSG_SUCCEED, MR_MSG_FAILED};
    struct fx *fx = *state;
    int64_t before = mr_now_ms();
    struct mr_msg *m;

    seed(fx, "p", MR_MSG_PREPARED, LATER);
    call(fx, gid_req(MR_OP_ABORT, "p"), 200, OK_BODY);
    m = stored(fx, "p");
    assert_int_equal(m->state, MR_MSG_FAILED);
    assert_true(m->rollback_ms >= before);
    mr_msg_free(m);
    conflicts(fx, MR_OP_ABORT, states, 3, "trans type: 'msg' current status '",
              "', cannot abort. FAILURE");
}

static void test_writer_forcestop_fails_any_unfinished_message(void **state)
{
    static const int states[] = {MR_MSG_SUCCEED, MR_MSG_FAILED};
    struct fx *fx = *state;
    int64_t before = mr_now_ms();
    struct mr_msg *m;

    seed(fx, "p", MR_MSG_PREPARED, LATER);
    seed(fx, "s", MR_MSG_SUBMITTED, LATER);
    call(fx, gid_req(MR_OP_FORCESTOP, "p"), 200, OK_BODY);
    call(fx, gid_req(MR_OP_FORCESTOP, "s"), 200, OK_BODY);
    m = stored(fx, "s");
    assert_int_equal(m->state, MR_MSG_FAILED);
    assert_true(m->rollback_ms >= before);
    mr_msg_free(m);
    assert_int_equal(stored_state(fx, "p"), MR_MSG_FAILED);
    conflicts(fx, MR_OP_FORCESTOP, states, 2, "global transaction force stop error. status: ",
              ". error: FAILURE");
}

static void test_writer_reset_makes_an_unfinished_message_due_now(void **state)
{
    struct fx *fx = *state;
    int64_t later = LATER;
    struct mr_msg *m;

    seed(fx, "p", MR_MSG_PREPARED, later);
    seed(fx, "s", MR_MSG_SUBMITTED, later);
    seed(fx, "ok", MR_MSG_SUCCEED, later);
    seed(fx, "ko", MR_MSG_FAILED, later);
    call(fx, gid_req(MR_OP_RESET, "p"), 200, OK_BODY);
    assert_int_equal(wakes(), 1);
    call(fx, gid_req(MR_OP_RESET, "s"), 200, OK_BODY);
    assert_int_equal(wakes(), 2);
    m = stored(fx, "p");
    assert_int_equal(m->state, MR_MSG_PREPARED);
    assert_true(m->next_cron_ms <= mr_now_ms());
    mr_msg_free(m);
    m = stored(fx, "s");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_true(m->next_cron_ms <= mr_now_ms());
    mr_msg_free(m);
    /* a finished message: 200, nothing changes, nobody is woken */
    call(fx, gid_req(MR_OP_RESET, "ok"), 200, OK_BODY);
    call(fx, gid_req(MR_OP_RESET, "ko"), 200, OK_BODY);
    assert_int_equal(wakes(), 2);
    m = stored(fx, "ok");
    assert_int_equal(m->state, MR_MSG_SUCCEED);
    assert_int_equal(m->next_cron_ms, later);
    mr_msg_free(m);
    m = stored(fx, "ko");
    assert_int_equal(m->state, MR_MSG_FAILED);
    assert_int_equal(m->next_cron_ms, later);
    mr_msg_free(m);
}

/* ---- wait_result ---- */

/* start_waiting - queue a wait_result submit of new @gid as @c and wait until it is handed. */
static void start_waiting(struct fx *fx, struct call *c, const char *gid)
{
    int want;
    bool ok;
    bool done;

    pthread_mutex_lock(&F.mu);
    want = F.hand_calls + 1;
    pthread_mutex_unlock(&F.mu);
    start(fx, c, msg_req(MR_OP_SUBMIT, gid, "http://svc/a", "\"wait_result\":true"));
    pthread_mutex_lock(&F.mu);
    ok = wait_until(hand_calls_at_least, &want);
    done = c->done;
    pthread_mutex_unlock(&F.mu);
    if (!ok)
        fail_msg("%s was not handed within %d ms", gid, DEADLINE_MS);
    /* committed and handed, and still not answered: it waits for the relay's pass */
    assert_false(done);
    assert_int_equal(stored_state(fx, gid), MR_MSG_SUBMITTED);
}

static void test_writer_wait_result_is_answered_by_the_pass(void **state)
{
    struct fx *fx = *state;
    struct call c[4];

    set_room(8);
    start_waiting(fx, &c[0], "w0");
    start_waiting(fx, &c[1], "w1");
    start_waiting(fx, &c[2], "w2");
    start_waiting(fx, &c[3], "w3");
    /* a pass over another gid answers none of them */
    mr_writer_pass_done(fx->w, "other", MR_RESULT_SUCCESS, NULL);
    assert_false(c[0].done);
    mr_writer_pass_done(fx->w, "w0", MR_RESULT_SUCCESS, NULL);
    finish(&c[0], 200, OK_BODY);
    mr_writer_pass_done(fx->w, "w1", MR_RESULT_FAILURE, "step 01: FAILURE");
    finish(&c[1], 409,
           "{\"dtm_result\":\"FAILURE\",\"message\":\"a step answered FAILURE; msgrelay retries "
           "it: step 01: FAILURE\"}");
    mr_writer_pass_done(fx->w, "w2", MR_RESULT_ONGOING, "step 01: ONGOING");
    finish(&c[2], 409,
           "{\"dtm_result\":\"FAILURE\",\"message\":\"wait result not return success: "
           "FAILURE\"}");
    mr_writer_pass_done(fx->w, "w3", MR_RESULT_ERROR, "step 01: HTTP 502");
    finish(&c[3], 500, "{\"message\":\"step 01: HTTP 502\"}");
}

static void test_writer_wait_result_with_a_delay_is_409_at_once(void **state)
{
    struct fx *fx = *state;

    set_room(8);
    call(fx,
         msg_req(MR_OP_SUBMIT, "d1", "http://svc/a",
                 "\"wait_result\":true,\"custom_data\":\"{\\\"delay\\\":30}\""),
         409,
         "{\"dtm_result\":\"FAILURE\",\"message\":\"wait result not return success: "
         "FAILURE\"}");
    /* refused to wait, but committed */
    assert_int_equal(stored_state(fx, "d1"), MR_MSG_SUBMITTED);
}

static void test_writer_stop_answers_the_waiting_submits(void **state)
{
    struct fx *fx = *state;
    struct call c;

    set_room(8);
    start_waiting(fx, &c, "w0");
    mr_writer_stop(fx->w);
    fx->w = NULL;
    assert_true(c.done);
    assert_int_equal(c.r->answer.status, 409);
    assert_string_equal(c.r->answer.body,
                        "{\"dtm_result\":\"FAILURE\",\"message\":\"wait result not return "
                        "success: FAILURE\"}");
    mr_req_free(c.r);
}

/* ---- group commit and the queue ---- */

static void test_writer_group_commits_what_is_queued_meanwhile(void **state)
{
    static const char *const gids[] = {"g1", "g2", "g3", "g4", "g5"};
    struct fx *fx = *state;
    struct call first;
    struct call c[5];
    struct call prep;
    struct call subm;
    struct call prep2;
    size_t nleased = 0;
    size_t i;

    set_room(3);
    /* hold the writer inside its first batch (one submit) */
    close_gate();
    start(fx, &first, msg_req(MR_OP_SUBMIT, "g0", "http://svc/a", ""));
    wait_in_room();
    /* queued meanwhile: five new submits, and a prepare and submit of one more gid */
    for (i = 0; i < 5; i++)
        start(fx, &c[i], msg_req(MR_OP_SUBMIT, gids[i], "http://svc/a", ""));
    start(fx, &prep, msg_req(MR_OP_PREPARE, "gp", "http://svc/p", ""));
    start(fx, &subm, msg_req(MR_OP_SUBMIT, "gp", NULL, ""));
    start(fx, &prep2, msg_req(MR_OP_PREPARE, "gp", "http://svc/p2", ""));
    open_gate();
    finish(&first, 200, OK_BODY);
    for (i = 0; i < 5; i++)
        finish(&c[i], 200, OK_BODY);
    finish(&prep, 200, OK_BODY);
    finish(&subm, 200, OK_BODY);
    /* the prepare after the submit, in the same batch, sees it submitted */
    finish(&prep2, 409,
           "{\"dtm_result\":\"FAILURE\",\"message\":\"current status 'submitted', cannot "
           "prepare. FAILURE\"}");
    /* two batches: the held one, then everything queued meanwhile */
    assert_int_equal(F.room_calls, 2);
    assert_int_equal(F.hand_calls, 2);
    assert_int_equal(F.hand_sizes[0], 1);
    /* the relay had room for 3 of the second batch, handed in one call */
    assert_int_equal(F.hand_sizes[1], 3);
    assert_string_equal(F.handed[0].gid, "g0");
    assert_string_equal(F.handed[1].gid, "g1");
    assert_string_equal(F.handed[2].gid, "g2");
    assert_string_equal(F.handed[3].gid, "g3");
    /* the rest are left to the claim: one wake for the whole batch */
    assert_int_equal(wakes(), 1);
    for (i = 0; i < 5; i++) {
        struct mr_msg *m = stored(fx, gids[i]);

        assert_int_equal(m->state, MR_MSG_SUBMITTED);
        nleased += strcmp(m->owner, RELAY_ID) == 0;
        mr_msg_free(m);
    }
    assert_int_equal(nleased, 3);
    {
        /* prepared and submitted in one batch: the stored steps of the prepare, not leased */
        struct mr_msg *m = stored(fx, "gp");

        assert_int_equal(m->state, MR_MSG_SUBMITTED);
        assert_string_equal(m->steps[0].url, "http://svc/p");
        assert_string_equal(m->owner, "");
        mr_msg_free(m);
    }
}

static void test_writer_repeats_in_one_batch_are_answered_as_repeats(void **state)
{
    struct fx *fx = *state;
    struct call first;
    struct call a;
    struct call b;
    struct call p1;
    struct call p2;
    struct mr_msg *m;

    set_room(8);
    close_gate();
    start(fx, &first, gid_req(MR_OP_RESET, "nope"));
    wait_in_room();
    start(fx, &a, msg_req(MR_OP_SUBMIT, "dup", "http://svc/one", ""));
    start(fx, &b, msg_req(MR_OP_SUBMIT, "dup", "http://svc/two", ""));
    start(fx, &p1, msg_req(MR_OP_PREPARE, "pp", "http://svc/one", ""));
    start(fx, &p2, msg_req(MR_OP_PREPARE, "pp", "http://svc/two", ""));
    open_gate();
    finish(&first, 500, "{\"message\":\"no TransGlobal with gid: nope found\"}");
    finish(&a, 200, OK_BODY);
    finish(&b, 200, OK_BODY);
    finish(&p1, 200, OK_BODY);
    finish(&p2, 200, OK_BODY);
    /* one message each, with the first request's data */
    m = stored(fx, "dup");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->steps[0].url, "http://svc/one");
    mr_msg_free(m);
    m = stored(fx, "pp");
    assert_int_equal(m->state, MR_MSG_PREPARED);
    assert_string_equal(m->steps[0].url, "http://svc/one");
    mr_msg_free(m);
    assert_int_equal(F.room_calls, 2);
    assert_int_equal(F.nhanded, 1);
    assert_string_equal(F.handed[0].gid, "dup");
}

static void test_writer_full_queue_is_ebusy_and_keeps_the_request(void **state)
{
    struct fx *fx = *state;
    struct call first;
    struct call c[2];
    struct mr_req *extra;
    struct call xc;
    size_t i;

    mr_config.max_queue = 2;
    set_room(0);
    close_gate();
    start(fx, &first, msg_req(MR_OP_SUBMIT, "q0", "http://svc/a", ""));
    wait_in_room();
    /* the held batch took q0 off the queue: two more fit, the third does not */
    start(fx, &c[0], msg_req(MR_OP_SUBMIT, "q1", "http://svc/a", ""));
    start(fx, &c[1], msg_req(MR_OP_SUBMIT, "q2", "http://svc/a", ""));
    extra = msg_req(MR_OP_SUBMIT, "q3", "http://svc/a", "");
    xc.r = extra;
    xc.done = false;
    extra->conn = &xc;
    assert_int_equal(mr_writer_submit(fx->w, extra), MR_EBUSY);
    open_gate();
    finish(&first, 200, OK_BODY);
    for (i = 0; i < 2; i++)
        finish(&c[i], 200, OK_BODY);
    /* not taken: still the caller's, never answered nor written */
    assert_false(xc.done);
    assert_string_equal(extra->gid, "q3");
    assert_int_equal(extra->answer.status, 0);
    mr_req_free(extra);
    assert_int_equal(stored_state(fx, "q3"), MR_MSG_NONE);
    assert_int_equal(stored_state(fx, "q2"), MR_MSG_SUBMITTED);
    /* room again once the queue drained */
    call(fx, msg_req(MR_OP_SUBMIT, "q4", "http://svc/a", ""), 200, OK_BODY);
}

/*
 * refuse_inserts_of - make the store refuse to insert message @gid: a trigger
 * created on a connection of the test's own, a store error no retry cures.
 */
static void refuse_inserts_of(struct fx *fx, const char *gid)
{
    sqlite3 *db = NULL;
    char *sql;

    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sql = sqlite3_mprintf("CREATE TRIGGER refuse_%s BEFORE INSERT ON msg WHEN NEW.gid = %Q "
                          "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                          gid, gid);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("trigger: %s", sqlite3_errmsg(db));
    sqlite3_free(sql);
    sqlite3_close(db);
}

static void test_writer_failed_group_commit_is_replayed_one_by_one(void **state)
{
    struct fx *fx = *state;
    struct call first;
    struct call good1;
    struct call bad;
    struct call good2;
    struct call good3;

    set_room(8);
    refuse_inserts_of(fx, "bad");
    close_gate();
    start(fx, &first, gid_req(MR_OP_RESET, "nope"));
    wait_in_room();
    start(fx, &good1, msg_req(MR_OP_SUBMIT, "good1", "http://svc/a", ""));
    start(fx, &bad, msg_req(MR_OP_SUBMIT, "bad", "http://svc/a", ""));
    start(fx, &good2, msg_req(MR_OP_SUBMIT, "good2", "http://svc/a", ""));
    start(fx, &good3, msg_req(MR_OP_PREPARE, "good3", "http://svc/a", ""));
    open_gate();
    finish(&first, 500, "{\"message\":\"no TransGlobal with gid: nope found\"}");
    /* the one bad request fails alone; its neighbours are committed one by one */
    finish(&good1, 200, OK_BODY);
    finish_with(&bad, 500, "{\"message\":\"store: ", "refused by the test");
    finish(&good2, 200, OK_BODY);
    finish(&good3, 200, OK_BODY);
    assert_int_equal(stored_state(fx, "good1"), MR_MSG_SUBMITTED);
    assert_int_equal(stored_state(fx, "bad"), MR_MSG_NONE);
    assert_int_equal(stored_state(fx, "good2"), MR_MSG_SUBMITTED);
    assert_int_equal(stored_state(fx, "good3"), MR_MSG_PREPARED);
    /* what the rolled-back group transaction leased is not handed: only the replays' */
    assert_int_equal(F.hand_calls, 1);
    assert_int_equal(F.nhanded, 2);
    assert_string_equal(F.handed[0].gid, "good1");
    assert_string_equal(F.handed[1].gid, "good2");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_writer_prepare_stores_a_new_message_prepared),
        T(test_writer_prepare_again_keeps_the_first_data),
        T(test_writer_prepare_refused_once_submitted_or_finished),
        T(test_writer_submit_hands_a_new_message_to_the_relay),
        T(test_writer_submit_without_room_leaves_it_to_the_claim),
        T(test_writer_no_hand_over_while_due_work_waits_in_the_store),
        T(test_writer_backlog_max_follows_the_sampled_count),
        T(test_writer_waits_by_the_age_of_the_oldest_due_message),
        T(test_writer_backlog_age_grows_between_samples),
        T(test_writer_left_messages_stand_for_the_oldest_until_the_next_sample),
        T(test_writer_submit_without_steps_of_an_unknown_gid_is_400),
        T(test_writer_submit_of_a_prepared_message_keeps_its_steps),
        T(test_writer_submit_of_a_remembered_message_aborted_meanwhile_is_409),
        T(test_writer_submit_of_a_message_prepared_anew_hands_the_stored_one),
        T(test_writer_submit_after_an_abort_through_the_writer_is_409),
        T(test_writer_prepare_of_a_gid_stored_elsewhere_in_a_batch_is_a_repeat),
        T(test_writer_submit_of_a_prepared_message_without_room_wakes),
        T(test_writer_submit_again_is_200_and_due_now),
        T(test_writer_submit_refused_once_finished),
        T(test_writer_submit_with_a_delay_is_not_handed),
        T(test_writer_unknown_gid_is_500_not_found),
        T(test_writer_abort_fails_a_prepared_message_only),
        T(test_writer_forcestop_fails_any_unfinished_message),
        T(test_writer_reset_makes_an_unfinished_message_due_now),
        T(test_writer_wait_result_is_answered_by_the_pass),
        T(test_writer_wait_result_with_a_delay_is_409_at_once),
        T(test_writer_stop_answers_the_waiting_submits),
        T(test_writer_group_commits_what_is_queued_meanwhile),
        T(test_writer_repeats_in_one_batch_are_answered_as_repeats),
        T(test_writer_full_queue_is_ebusy_and_keeps_the_request),
        T(test_writer_failed_group_commit_is_replayed_one_by_one),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
