/* SPDX-License-Identifier: MIT */
/*
 * test_pass.c - the relay's pass state machine (relay/relay_sched.c and its
 * group commit, relay/relay_flush.c): a sequential pass starts its next step
 * only once the last result is committed and stops at a failure; a pass that
 * cannot finish a call within its lease yields; a forceStop that wins the
 * race stops the pass; drain at shutdown ends what is in flight and the
 * leases.
 *
 * Both .c files are included to reach their statics; the relay is driven by
 * hand, turn by turn, without its thread. The store is a real SQLite file in
 * /tmp; the destinations are a real HTTP peer on loopback, served by a
 * second thread (one request per connection, "Connection: close").
 */
#include "relay/relay_sched.c"
#include "relay/relay_flush.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

/* ---- the HTTP peer ---- */

#define PEER_MAX 32

struct peer {
    int fd;
    unsigned port;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool release; /* /hang answers once this is set */
    pthread_mutex_t mu;
    char seen[PEER_MAX][256]; /* request targets, in order (mu) */
    int nseen;                /* (mu) */
};

static struct peer peer;

/* peer_count - how many requests the peer has read. */
static int peer_count(void)
{
    int n;

    pthread_mutex_lock(&peer.mu);
    n = peer.nseen;
    pthread_mutex_unlock(&peer.mu);
    return n;
}

/* peer_seen - the target of request @i, or "". */
static const char *peer_seen(int i)
{
    const char *s;

    pthread_mutex_lock(&peer.mu);
    s = i < peer.nseen ? peer.seen[i] : "";
    pthread_mutex_unlock(&peer.mu);
    return s;
}

/* read_request - read one request from @fd; its target into @target. 0 or -1. */
static int read_request(int fd, char *target, size_t size)
{
    char buf[8192];
    size_t len = 0;
    char *end = NULL;
    char *cl;
    size_t body = 0;
    ssize_t n;

    while (end == NULL) {
        if (len + 1 >= sizeof(buf))
            return -1;
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl != NULL && cl < end)
        body = strtoul(cl + 17, NULL, 10);
    /* the rest of the body, which this peer does not look at */
    while (len - (size_t)(end + 4 - buf) < body) {
        n = read(fd, end + 4, sizeof(buf) - (size_t)(end + 4 - buf));
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
    if (sscanf(buf, "%*s %255s", target) != 1)
        return -1;
    (void)size;
    return 0;
}

/* answer - answer the request for @target: /ok -> 200 SUCCESS, /fail -> 409, /hang -> held. */
static void answer(int fd, const char *target)
{
    const char *status = "200 OK";
    const char *body = "{\"dtm_result\":\"SUCCESS\"}";
    char out[512];
    int n;

    if (strncmp(target, "/fail", 5) == 0) {
        status = "409 Conflict";
        body = "{\"dtm_result\":\"FAILURE\"}";
    } else if (strncmp(target, "/hang", 5) == 0) {
        while (!atomic_load(&peer.release) && !atomic_load(&peer.stop))
            usleep(5000);
    }
    n = snprintf(out, sizeof(out),
                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s",
                 status, strlen(body), body);
    if (write(fd, out, (size_t)n) < 0)
        return; /* the relay gave up on the call: nothing to do */
}

/* peer_main - accept, read one request, note it, answer, close; until stopped. */
static void *peer_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&peer.stop)) {
        struct pollfd pfd = {.fd = peer.fd, .events = POLLIN};
        char target[256];
        int c;

        if (poll(&pfd, 1, 20) <= 0)
            continue;
        c = accept(peer.fd, NULL, NULL);
        if (c < 0)
            continue;
        if (read_request(c, target, sizeof(target)) == 0) {
            pthread_mutex_lock(&peer.mu);
            if (peer.nseen < PEER_MAX)
                snprintf(peer.seen[peer.nseen++], sizeof(peer.seen[0]), "%s", target);
            pthread_mutex_unlock(&peer.mu);
            answer(c, target);
        }
        close(c);
    }
    return NULL;
}

static void peer_start(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    memset(&peer, 0, sizeof(peer));
    pthread_mutex_init(&peer.mu, NULL);
    peer.fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(peer.fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(peer.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(peer.fd, 64), 0);
    assert_int_equal(getsockname(peer.fd, (struct sockaddr *)&sa, &len), 0);
    peer.port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&peer.thread, NULL, peer_main, NULL), 0);
}

static void peer_stop(void)
{
    atomic_store(&peer.stop, true);
    pthread_join(peer.thread, NULL);
    close(peer.fd);
    pthread_mutex_destroy(&peer.mu);
}

/* ---- the relay, by hand ---- */

static char db_path[64];

/* reported by the on_pass callback */
static int passes_reported;
static enum mr_result last_outcome;
static char last_detail[512];

static void on_pass(void *arg, const char *gid, enum mr_result outcome, const char *detail)
{
    (void)arg;
    (void)gid;
    passes_reported++;
    last_outcome = outcome;
    snprintf(last_detail, sizeof(last_detail), "%s", detail != NULL ? detail : "");
}

static int setup(void **state)
{
    struct mr_buf uri = MR_BUF_INIT(256);
    int fd;

    (void)state;
    mr_config_defaults(&mr_config);
    snprintf(db_path, sizeof(db_path), "/tmp/test_pass_XXXXXX");
    fd = mkstemp(db_path);
    assert_true(fd >= 0);
    close(fd);
    unlink(db_path);
    mr_buf_addf(&uri, "sqlite:%s", db_path);
    free(mr_config.store);
    mr_config.store = mr_buf_detach(&uri, NULL);
    mr_config.relay_id = mr_xstrdup("test-relay");
    passes_reported = 0;
    last_detail[0] = '\0';
    peer_start();
    return 0;
}

static int teardown(void **state)
{
    char side[96];

    (void)state;
    peer_stop();
    mr_config_free(&mr_config);
    unlink(db_path);
    snprintf(side, sizeof(side), "%s-wal", db_path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", db_path);
    unlink(side);
    return 0;
}

/* relay_open - what mr_relay_start() builds, without the thread. */
static struct mr_relay *relay_open(void)
{
    struct mr_relay *r = mr_xcalloc(1, sizeof(*r));
    struct mr_err err = MR_ERR_INIT;

    atomic_init(&r->stop, false);
    atomic_init(&r->woken, false);
    atomic_init(&r->busy, 0);
    atomic_init(&r->deposed, false);
    pthread_mutex_init(&r->in_mu, NULL);
    r->on_pass = on_pass;
    r->dirty_tail = &r->dirty;
    r->nby_gid = 64;
    r->by_gid = mr_xcalloc(r->nby_gid, sizeof(*r->by_gid));
    r->rng = 7;
    r->owner = mr_xstrdup(mr_config.relay_id);
    assert_int_equal(mr_store_open(mr_config.store, &r->store, &err), 0);
    mr_relay_identity_init(&r->me, r->owner);
    assert_int_equal(mr_relay_identity_register(r->store, &r->me, heartbeat_ms(), &err), 0);
    r->hb_until_ms = r->me.heartbeat_until_ms;
    r->hb_next = mr_mono_ms() + heartbeat_ms() / 3;
    assert_int_equal(mr_relay_http_new(mr_config.max_connections,
                                       mr_config.max_connections_per_target,
                                       (long)mr_config.request_timeout * 1000, &r->http, &err),
                     0);
    return r;
}

/* relay_close - shut down as the relay thread does (drain), then free. */
static void relay_close(struct mr_relay *r)
{
    atomic_store(&peer.release, true);
    drain(r);
    relay_free(r);
}

/* url - the peer's URL for @path. */
static char *url(const char *path)
{
    struct mr_buf b = MR_BUF_INIT(256);

    mr_buf_addf(&b, "http://127.0.0.1:%u%s", peer.port, path);
    return mr_buf_detach(&b, NULL);
}

/* submit - store a submitted, due message @gid whose steps call @paths (NULL-terminated). */
static void submit(struct mr_relay *r, const char *gid, bool concurrent, const char *const *paths)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_msg *m;
    int64_t now = mr_now_ms();
    size_t n = 0;
    size_t i;

    while (paths[n] != NULL)
        n++;
    m = mr_msg_new(n);
    m->gid = mr_xstrdup(gid);
    m->state = MR_MSG_SUBMITTED;
    m->concurrent = concurrent;
    m->query_prepared = mr_xstrdup("");
    m->protocol = mr_xstrdup("http");
    m->custom_data = mr_xstrdup("");
    m->branch_headers = mr_xstrdup("");
    m->create_ms = now - 1000;
    m->update_ms = now - 1000;
    m->next_cron_ms = now - 1;
    m->owner = mr_xstrdup("");
    m->result = mr_xstrdup("");
    for (i = 0; i < n; i++) {
        char id[24];

        snprintf(id, sizeof(id), "%02zu", i + 1);
        m->steps[i].branch_id = mr_xstrdup(id);
        m->steps[i].url = url(paths[i]);
        m->steps[i].payload = mr_xstrdup("{}");
        m->steps[i].payload_len = 2;
        m->steps[i].create_ms = now - 1000;
    }
    assert_int_equal(mr_store_begin(r->store, &err), 0);
    assert_int_equal(mr_store_msg_insert(r->store, m, &err), 0);
    assert_int_equal(mr_store_commit(r->store, &err), 0);
    mr_msg_free(m);
}

/* stored - the message @gid as the store has it now. Owned result: mr_msg_free(). */
static struct mr_msg *stored(struct mr_relay *r, const char *gid)
{
    struct mr_msg *m = NULL;

    assert_int_equal(mr_store_msg_get(r->store, gid, true, &m, NULL), 0);
    assert_non_null(m);
    return m;
}

/* poll_until_dirty - run the sinks (no commit) until @p has results to write, at most 5 s. */
static void poll_until_dirty(struct mr_relay *r, struct mr_relay_pass *p)
{
    int64_t deadline = mr_mono_ms() + 5000;

    while (!p->dirty && mr_mono_ms() < deadline) {
        mr_relay_http_poll(r->http, 20);
        reap(r);
    }
    assert_true(p->dirty);
}

/* run_until_gone - whole loop turns until the pass over @gid is over, at most 5 s. */
static void run_until_gone(struct mr_relay *r, const char *gid)
{
    int64_t deadline = mr_mono_ms() + 5000;

    while (pass_find(r, gid) != NULL && mr_mono_ms() < deadline) {
        mr_relay_http_poll(r->http, 20);
        reap(r);
        pump_starved(r);
        mr_relay_flush(r, false);
    }
    assert_null(pass_find(r, gid));
}

/* ---- the tests ---- */

static void test_pass_sequential_next_step_waits_for_the_commit(void **state)
{
    const char *const paths[] = {"/ok/1", "/ok/2", NULL};
    struct mr_relay *r = relay_open();
    struct mr_relay_pass *p;
    struct mr_msg *m;

    (void)state;
    submit(r, "g-seq", false, paths);
    claim(r);
    p = pass_find(r, "g-seq");
    assert_non_null(p);
    assert_int_equal(p->phase, PH_STEPS);
    assert_int_equal(p->calls_out, 1);

    /* the first answer is in, not yet committed: the second step is not started */
    poll_until_dirty(r, p);
    assert_int_equal(p->calls_out, 0);
    assert_int_equal(mr_relay_http_inflight(r->http), 0);
    mr_relay_pump(r, p);
    assert_int_equal(mr_relay_http_inflight(r->http), 0);
    m = stored(r, "g-seq");
    assert_int_equal(m->steps[0].state, MR_STEP_PREPARED);
    mr_msg_free(m);

    /* committed: the first step is succeed in the store, and the second one starts */
    mr_relay_flush(r, false);
    m = stored(r, "g-seq");
    assert_int_equal(m->steps[0].state, MR_STEP_SUCCEED);
    mr_msg_free(m);
    assert_int_equal(mr_relay_http_inflight(r->http), 1);

    run_until_gone(r, "g-seq");
    m = stored(r, "g-seq");
    assert_int_equal(m->state, MR_MSG_SUCCEED);
    mr_msg_free(m);
    assert_int_equal(peer_count(), 2);
    assert_true(
        strncmp(peer_seen(0), "/ok/1?gid=g-seq&trans_type=msg&branch_id=01&op=action", 52) == 0);
    assert_true(strncmp(peer_seen(1), "/ok/2?", 6) == 0);
    assert_int_equal(passes_reported, 1);
    assert_int_equal(last_outcome, MR_RESULT_SUCCESS);
    relay_close(r);
}

static void test_pass_sequential_failure_stops_and_backs_off(void **state)
{
    const char *const paths[] = {"/fail/1", "/ok/2", NULL};
    struct mr_relay *r = relay_open();
    struct mr_msg *m;
    int64_t before = mr_now_ms();

    (void)state;
    submit(r, "g-fail", false, paths);
    claim(r);
    run_until_gone(r, "g-fail");
    /* one call: the failed step stops a sequential pass */
    assert_int_equal(peer_count(), 1);
    m = stored(r, "g-fail");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->owner, "");
    assert_int_equal(m->steps[1].state, MR_STEP_PREPARED);
    assert_non_null(strstr(m->result, "step 01: HTTP 409"));
    /* backed off: twice the base (10 s) with +-20% jitter */
    assert_int_equal(m->next_cron_interval, 20);
    assert_in_range(m->next_cron_ms, before + 16000, mr_now_ms() + 24000);
    mr_msg_free(m);
    assert_int_equal(last_outcome, MR_RESULT_FAILURE);
    relay_close(r);
}

static void test_pass_yields_when_a_call_cannot_end_within_the_lease(void **state)
{
    const char *const paths[] = {"/ok/1", NULL};
    struct mr_relay *r;
    struct mr_relay_pass *p;
    struct mr_msg *m;
    int64_t before;

    (void)state;
    mr_config.lease = 3; /* a 3 s call needs 3 s + 1 s of margin */
    r = relay_open();
    submit(r, "g-lease", false, paths);
    before = mr_now_ms();
    claim(r);
    p = pass_find(r, "g-lease");
    assert_non_null(p);
    assert_int_equal(p->phase, PH_DONE);
    assert_int_equal(p->fin, FIN_RELEASE);
    assert_string_equal(p->yield_why, "pass reached the end of its lease");
    assert_int_equal(mr_relay_http_inflight(r->http), 0);

    mr_relay_flush(r, false);
    assert_null(pass_find(r, "g-lease"));
    assert_int_equal(peer_count(), 0);
    /* released, due again at once, the stored result untouched */
    m = stored(r, "g-lease");
    assert_string_equal(m->owner, "");
    assert_in_range(m->next_cron_ms, before, mr_now_ms());
    assert_string_equal(m->result, "");
    mr_msg_free(m);
    assert_int_equal(last_outcome, MR_RESULT_ONGOING);
    assert_string_equal(last_detail, "pass reached the end of its lease");
    relay_close(r);
}

static void test_pass_forcestop_during_delivery_stops_the_pass(void **state)
{
    const char *const paths[] = {"/ok/1", "/ok/2", NULL};
    struct mr_relay *r = relay_open();
    struct mr_store *other = NULL;
    struct mr_err err = MR_ERR_INIT;
    struct mr_relay_pass *p;
    struct mr_msg *m;

    (void)state;
    submit(r, "g-stop", false, paths);
    claim(r);
    p = pass_find(r, "g-stop");
    assert_non_null(p);
    poll_until_dirty(r, p);

    /* forceStop on the intake's connection wins before the first result is written */
    assert_int_equal(mr_store_open(mr_config.store, &other, &err), 0);
    assert_int_equal(mr_store_begin(other, &err), 0);
    assert_int_equal(mr_store_msg_transition(other, "g-stop", MR_MSG_SUBMITTED, MR_MSG_FAILED,
                                             mr_now_ms(), -1, 0, &err),
                     0);
    assert_int_equal(mr_store_commit(other, &err), 0);
    mr_store_close(other);

    /* the record is refused: the pass starts no further call */
    mr_relay_flush(r, false);
    assert_true(p->stop);
    assert_string_equal(p->yield_why, "message finished meanwhile");
    assert_int_equal(mr_relay_http_inflight(r->http), 0);
    run_until_gone(r, "g-stop");
    assert_int_equal(peer_count(), 1);
    m = stored(r, "g-stop");
    assert_int_equal(m->state, MR_MSG_FAILED);
    assert_int_equal(m->steps[1].state, MR_STEP_PREPARED);
    mr_msg_free(m);
    relay_close(r);
}

static void test_pass_drain_ends_calls_in_flight_and_leases(void **state)
{
    const char *const paths[] = {"/hang/1", NULL};
    struct mr_relay *r = relay_open();
    struct mr_relay_pass *p;
    struct mr_msg *m;
    int64_t deadline = mr_mono_ms() + 5000;
    int64_t before;

    (void)state;
    submit(r, "g-drain", false, paths);
    claim(r);
    p = pass_find(r, "g-drain");
    assert_non_null(p);
    while (peer_count() == 0 && mr_mono_ms() < deadline)
        mr_relay_http_poll(r->http, 20);
    assert_int_equal(peer_count(), 1);
    assert_int_equal(p->calls_out, 1);

    /* shutdown with the call unanswered: cancelled, released, the lease ended */
    before = mr_now_ms();
    atomic_store(&r->stop, true);
    drain(r);
    assert_null(r->passes);
    assert_int_equal(mr_relay_http_inflight(r->http), 0);
    m = stored(r, "g-drain");
    assert_int_equal(m->state, MR_MSG_SUBMITTED);
    assert_string_equal(m->owner, "");
    assert_true(m->next_cron_ms >= before && m->next_cron_ms <= mr_now_ms());
    assert_int_equal(m->steps[0].state, MR_STEP_PREPARED);
    /* no real error happened: the stored result is not replaced by the shutdown */
    assert_string_equal(m->result, "");
    mr_msg_free(m);
    assert_int_equal(last_outcome, MR_RESULT_ERROR);
    assert_string_equal(last_detail, "relay stopped during the call");
    atomic_store(&peer.release, true);
    relay_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass_sequential_next_step_waits_for_the_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pass_sequential_failure_stops_and_backs_off, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pass_yields_when_a_call_cannot_end_within_the_lease,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_forcestop_during_delivery_stops_the_pass, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pass_drain_ends_calls_in_flight_and_leases, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
