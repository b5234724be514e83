/* SPDX-License-Identifier: MIT */
/*
 * test_relay_http.c - the HTTP engine's fairness (relay/relay_http.c): how a
 * URL names its destination, the per-destination cap and queue, and a stalled
 * destination's calls reported as not made, and destination health (calls
 * failing in a row make it down: one probe at a time, a probe event when
 * idle, a recovered event on its first answer), and the kept-alive
 * connections closed when idle (shed). The destinations are real loopback
 * sockets that accept (in the kernel) and never answer, and one thread that
 * answers one call and waits for its connection to close.
 */
#include "relay/relay_http.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/config.h"

/* parse - mr_dest_http(@url) must give @https, @host and @port. */
static void parse(const char *url, bool https, const char *host, unsigned port)
{
    const char *h = NULL;
    size_t hl = 0;
    unsigned p = 0;
    bool s = !https;

    assert_true(mr_dest_http(url, &s, &h, &hl, &p));
    assert_int_equal(s, https);
    assert_int_equal(hl, strlen(host));
    assert_memory_equal(h, host, hl);
    assert_int_equal(p, port);
}

static void test_dest_parse_names_scheme_host_and_port(void **state)
{
    (void)state;
    parse("http://Example.com/x?y#z", false, "Example.com", 80);
    parse("https://svc.local", true, "svc.local", 443);
    parse("HTTPS://u:p@h:8443/p?q", true, "h", 8443);
    parse("http://[::1]:9000/", false, "[::1]", 9000);
    parse("http://h?x=a:b@c", false, "h", 80);
    parse("http://h:/", false, "h", 80);
    {
        const char *h;
        size_t hl;
        unsigned p;
        bool s;

        assert_false(mr_dest_http("kafka://t", &s, &h, &hl, &p));
    }
}

/* key - mr_dest_key(@url) must give @want ("" for none). */
static void key(const char *url, const char *want)
{
    char k[MR_DEST_KEY_MAX + 1];

    assert_int_equal(mr_dest_key(url, k), want[0] != '\0');
    assert_string_equal(k, want);
}

static void test_dest_key_is_one_per_destination_however_spelled(void **state)
{
    char longurl[MR_DEST_KEY_MAX + 32];

    (void)state;
    key("http://Svc.Example/x", "http://svc.example:80");
    key("http://svc.example:80/y?z", "http://svc.example:80");
    key("HTTP://user:p%40ss@SVC.example:80/x", "http://svc.example:80");
    key("https://u@h/p", "https://h:443");
    key("https://h:8443", "https://h:8443");
    key("http://[::1]:9000/", "http://[::1]:9000");
    key("kafka://Orders.v1?key=k", "kafka://Orders.v1");
    key("kafka://orders.v1", "kafka://orders.v1");
    key("kafka://", "");
    key("ftp://h/x", "");
    memset(longurl, 'a', sizeof(longurl) - 1);
    longurl[sizeof(longurl) - 1] = '\0';
    memcpy(longurl, "http://", 7);
    key(longurl, "");
}

static void test_dest_get_is_one_per_destination(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_dest *a;

    (void)state;
    assert_int_equal(mr_relay_http_new(8, 2, 1000, &h, NULL), 0);
    a = dest_get(h, "http://HOST.example:80/a");
    assert_ptr_equal(dest_get(h, "http://host.example/b?c"), a);
    assert_ptr_not_equal(dest_get(h, "https://host.example/"), a);
    assert_ptr_not_equal(dest_get(h, "http://host.example:8080/"), a);
    assert_int_equal(h->ndests, 3);
    mr_relay_http_free(h);
}

/* listener - a loopback socket that never accepts; its port in *port. */
static int listener(unsigned *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* send_to - a GET of @url with a 10 s timeout, owner index @i. */
static void send_to(struct mr_relay_http *h, const char *url, size_t i)
{
    struct mr_relay_http_req rq;

    memset(&rq, 0, sizeof(rq));
    rq.url = url;
    rq.timeout_ms = 10000;
    assert_int_equal(mr_relay_http_send(h, &rq, NULL, i, NULL), 0);
}

static void test_full_destination_waits_alone_and_stalls(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_call *c;
    unsigned pa;
    unsigned pb;
    int a = listener(&pa);
    int b = listener(&pb);
    char ua[64];
    char ub[64];
    size_t i;
    size_t not_made = 0;
    int64_t deadline;

    (void)state;
    snprintf(ua, sizeof(ua), "http://127.0.0.1:%u/hang", pa);
    snprintf(ub, sizeof(ub), "http://127.0.0.1:%u/ok", pb);
    assert_int_equal(mr_relay_http_new(8, 2, 300, &h, NULL), 0);
    for (i = 0; i < 5; i++)
        send_to(h, ua, i);
    /* the other destination is not queued behind the full one */
    send_to(h, ub, 5);
    assert_int_equal(h->nbusy, 3);
    assert_int_equal(h->nwait, 3);
    assert_int_equal(mr_relay_http_inflight(h), 6);
    /* no call of the first destination finishes: after 300 ms its waiting calls are not made */
    deadline = mr_mono_ms() + 3000;
    while (not_made < 3 && mr_mono_ms() < deadline) {
        assert_int_equal(mr_relay_http_poll(h, 50), 0);
        while ((c = mr_relay_http_done(h)) != NULL) {
            assert_true(c->not_made);
            assert_true(c->index >= 2 && c->index < 5);
            not_made++;
            mr_relay_http_recycle(h, c);
        }
    }
    assert_int_equal(not_made, 3);
    assert_int_equal(h->nbusy, 3);
    /* and a new call to it is not made at once */
    send_to(h, ua, 6);
    c = mr_relay_http_done(h);
    assert_non_null(c);
    assert_true(c->not_made);
    mr_relay_http_recycle(h, c);
    mr_relay_http_free(h);
    close(a);
    close(b);
}

/* take - the next health event; its kind must be @recovered. Owned result: free(). */
static struct mr_relay_health_ev *take(struct mr_relay_http *h, bool recovered)
{
    struct mr_relay_health_ev *ev = mr_relay_health_take(&h->health);

    assert_non_null(ev);
    assert_int_equal(ev->recovered, recovered);
    return ev;
}

static void test_health_down_after_failures_in_a_row_then_recovered(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_dest *d;
    struct mr_relay_health_ev *ev;
    int64_t mono = mr_mono_ms();
    size_t n;

    (void)state;
    assert_int_equal(mr_relay_http_new(8, 2, 1000, &h, NULL), 0);
    mr_relay_http_health(h, 3, 1000);
    d = dest_get(h, "http://Svc.Example:8080/x");
    health(h, d, false, mono, mono);
    health(h, d, true, mono, mono); /* an answer resets the count */
    health(h, d, false, mono, mono);
    health(h, d, false, mono, mono);
    assert_false(d->hd.down);
    /* idle with failures: kept for its count */
    n = h->ndests;
    dest_put(h, d);
    assert_int_equal(h->ndests, n);
    assert_true(d->kept);
    health(h, d, false, mono, mono);
    assert_true(d->hd.down);
    assert_ptr_equal(h->health.down_head, &d->hd);
    /* not yet a probe interval: no event */
    mr_relay_health_tick(&h->health);
    assert_null(mr_relay_health_take(&h->health));
    /* a probe interval on: one probe event, then none until the next interval */
    d->hd.next_probe_ms = d->hd.asked_ms = mr_mono_ms() - 2000;
    mr_relay_health_tick(&h->health);
    ev = take(h, false);
    assert_string_equal(ev->key, "http://svc.example:8080");
    free(ev);
    mr_relay_health_tick(&h->health);
    assert_null(mr_relay_health_take(&h->health));
    /* its first answer: healthy, one recovered event, forgotten once idle */
    health(h, d, true, mono, mono);
    assert_false(d->hd.down);
    assert_null(h->health.down_head);
    ev = take(h, true);
    assert_string_equal(ev->key, "http://svc.example:8080");
    free(ev);
    dest_put(h, d);
    assert_int_equal(h->ndests, n - 1);
    assert_int_equal(h->nkept, 0);
    mr_relay_http_free(h);
}

static void test_health_prefixes_of_a_default_port_and_health_off(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_dest *d;
    struct mr_relay_health_ev *ev;
    int i;

    (void)state;
    assert_int_equal(mr_relay_http_new(8, 2, 1000, &h, NULL), 0);
    /* off by default: never down, an idle failing destination is not kept */
    d = dest_get(h, "https://h.example/x");
    for (i = 0; i < 10; i++)
        health(h, d, false, 0, 0);
    assert_false(d->hd.down);
    dest_put(h, d);
    assert_int_equal(h->ndests, 0);
    mr_relay_http_health(h, 1, 1000);
    d = dest_get(h, "https://H.example/x");
    health(h, d, false, 0, 0);
    assert_true(d->hd.down);
    health(h, d, true, 0, 0);
    ev = take(h, true);
    assert_string_equal(ev->key, "https://h.example:443");
    free(ev);
    mr_relay_http_free(h);
}

static void test_health_counts_a_burst_of_calls_out_together_once(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_dest *d;
    int i;

    (void)state;
    assert_int_equal(mr_relay_http_new(8, 64, 1000, &h, NULL), 0);
    mr_relay_http_health(h, 3, 1000);
    d = dest_get(h, "http://burst.example/x");
    /* 64 calls started together at 1000 all fail at 3900: one failure */
    for (i = 0; i < 64; i++)
        health(h, d, false, 1000, 3900 + i);
    assert_int_equal(d->hd.fails, 1);
    assert_false(d->hd.down);
    /* calls started after it, failing one after another, add up */
    health(h, d, false, 3950, 4000);
    assert_int_equal(d->hd.fails, 2);
    assert_false(d->hd.down);
    health(h, d, false, 1000, 4001); /* another of the first burst */
    assert_int_equal(d->hd.fails, 2);
    health(h, d, false, 4001, 4100);
    assert_true(d->hd.down);
    /* an answer, even from an old call, resets the count; the first failure after it counts */
    health(h, d, true, 4100, 4200);
    assert_false(d->hd.down);
    health(h, d, false, 1000, 4300);
    assert_int_equal(d->hd.fails, 1);
    mr_relay_health_clear(&h->health);
    mr_relay_http_free(h);
}

static void test_down_destination_gets_one_call_at_a_time(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_dest *d;
    struct mr_relay_call *c;
    unsigned pa;
    int a = listener(&pa);
    char ua[64];

    (void)state;
    snprintf(ua, sizeof(ua), "http://127.0.0.1:%u/down", pa);
    assert_int_equal(mr_relay_http_new(8, 4, 10000, &h, NULL), 0);
    mr_relay_http_health(h, 2, 60000);
    d = dest_get(h, ua);
    health(h, d, false, mr_mono_ms(), mr_mono_ms());
    health(h, d, false, mr_mono_ms(), mr_mono_ms());
    dest_put(h, d);
    assert_true(d->hd.down);
    /* within the probe interval of the fall: not made, no attempt */
    send_to(h, ua, 0);
    c = mr_relay_http_done(h);
    assert_non_null(c);
    assert_true(c->not_made);
    assert_non_null(strstr(c->error, "unhealthy"));
    mr_relay_http_recycle(h, c);
    /* the probe goes; a second call while it is out is not made */
    d->hd.next_probe_ms = 0;
    send_to(h, ua, 1);
    assert_int_equal(h->nbusy, 1);
    assert_null(mr_relay_http_done(h));
    d->hd.next_probe_ms = 0;
    send_to(h, ua, 2);
    assert_int_equal(h->nbusy, 1);
    c = mr_relay_http_done(h);
    assert_non_null(c);
    assert_true(c->not_made);
    assert_int_equal(c->index, 2);
    mr_relay_http_recycle(h, c);
    mr_relay_http_free(h);
    close(a);
}

/* One connection answered once, then read until the relay closes it. */
struct answerer {
    int lfd;
    pthread_t t;
    _Atomic bool closed; /* the connection was closed by the other end */
};

/* answer_main - accept one connection, answer its request 200, wait for its end. */
static void *answer_main(void *arg)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct answerer *a = arg;
    char buf[4096];
    size_t got = 0;
    int fd = accept(a->lfd, NULL, NULL);

    if (fd < 0)
        return NULL;
    while (got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    if (send(fd, ok, sizeof(ok) - 1, 0) == (ssize_t)(sizeof(ok) - 1)) {
        while (recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        atomic_store(&a->closed, true);
    }
    close(fd);
    return NULL;
}

static void test_shed_closes_kept_alive_connections_only_when_no_call_is_out(void **state)
{
    struct mr_relay_http *h = NULL;
    struct mr_relay_call *c = NULL;
    struct answerer a;
    unsigned pa;
    unsigned ph;
    int hang = listener(&ph);
    char ua[64];
    char uh[64];
    CURLM *multi;
    int64_t deadline;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.lfd = listener(&pa);
    atomic_init(&a.closed, false);
    assert_int_equal(pthread_create(&a.t, NULL, answer_main, &a), 0);
    snprintf(ua, sizeof(ua), "http://127.0.0.1:%u/ok", pa);
    snprintf(uh, sizeof(uh), "http://127.0.0.1:%u/hang", ph);
    assert_int_equal(mr_relay_http_new(8, 2, 10000, &h, NULL), 0);
    send_to(h, ua, 0);
    deadline = mr_mono_ms() + 5000;
    while (c == NULL && mr_mono_ms() < deadline) {
        assert_int_equal(mr_relay_http_poll(h, 50), 0);
        c = mr_relay_http_done(h);
    }
    assert_non_null(c);
    assert_int_equal(c->status, 200);
    mr_relay_http_recycle(h, c);
    /* a call out elsewhere: the connection stays for the next call */
    send_to(h, uh, 1);
    assert_int_equal(mr_relay_http_poll(h, 50), 0);
    multi = h->multi;
    assert_int_equal(mr_relay_http_shed(h), 0);
    assert_ptr_equal(h->multi, multi);
    assert_int_equal(h->nbusy, 1);
    assert_false(atomic_load(&a.closed));
    /* nothing out: the kept-alive connection is closed, the engine works on */
    mr_relay_http_cancel_all(h);
    assert_int_equal(mr_relay_http_shed(h), 1);
    assert_ptr_not_equal(h->multi, multi);
    assert_int_equal(pthread_join(a.t, NULL), 0);
    assert_true(atomic_load(&a.closed));
    send_to(h, uh, 2);
    assert_int_equal(h->nbusy, 1);
    assert_int_equal(mr_relay_http_poll(h, 50), 0);
    mr_relay_http_free(h);
    close(a.lfd);
    close(hang);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dest_parse_names_scheme_host_and_port),
        cmocka_unit_test(test_dest_key_is_one_per_destination_however_spelled),
        cmocka_unit_test(test_dest_get_is_one_per_destination),
        cmocka_unit_test(test_full_destination_waits_alone_and_stalls),
        cmocka_unit_test(test_health_down_after_failures_in_a_row_then_recovered),
        cmocka_unit_test(test_health_prefixes_of_a_default_port_and_health_off),
        cmocka_unit_test(test_health_counts_a_burst_of_calls_out_together_once),
        cmocka_unit_test(test_down_destination_gets_one_call_at_a_time),
        cmocka_unit_test(test_shed_closes_kept_alive_connections_only_when_no_call_is_out),
    };
    int rc;

    mr_config_defaults(&mr_config);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    mr_config_free(&mr_config);
    return rc;
}
