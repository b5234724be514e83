/* SPDX-License-Identifier: MIT */
/*
 * test_client_msg.c - the producer SDK's calls (client/client_msg.c and the
 * first step of client/client_db.c) against a scripted HTTP server on a real
 * loopback socket (libmicrohttpd, one thread per connection): argument
 * checks, what prepare / submit / abort / newGid / the back-check send, how
 * each answer comes back as SUCCESS / FAILURE / ERROR with the server's
 * message, timeouts, do_and_submit_db never running the callback when
 * prepare fails, the bearer token going to the server only, and HTTPS with a
 * private CA (a certificate made by the openssl CLI for the test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <unistd.h>

#include "client/client_int.h"
#include "msgrelay/client_db.h"

/* ---- the scripted server ---- */

struct server {
    struct MHD_Daemon *d;
    unsigned short port;
    pthread_mutex_t lock;
    /* the answer for the next request */
    unsigned int status;
    char answer[512];
    unsigned int delay_ms;
    /* the last request */
    char method[16];
    char path[128];
    char body[4096];
    char gid[64];
    char dtm[128];
    char branch_id[16];
    char trans_type[16];
    char op[16];
    char content_type[64];
    char trace[64];
    char authorization[128];
    int requests;
};

struct upload {
    char body[4096];
    size_t len;
    bool started;
};

static struct server srv;

/* copy_value - @dst = the request value @name of @kind, or "". */
static void copy_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *name,
                       char *dst, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, kind, name);

    snprintf(dst, size, "%s", v != NULL ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req_cls)
{
    struct upload *u = *req_cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    unsigned int status;
    unsigned int delay;
    char answer[512];

    (void)cls;
    (void)version;
    if (u == NULL) {
        u = calloc(1, sizeof(*u));
        *req_cls = u;
        return MHD_YES;
    }
    if (*size > 0) {
        size_t n = *size < sizeof(u->body) - 1 - u->len ? *size : sizeof(u->body) - 1 - u->len;

        memcpy(u->body + u->len, data, n);
        u->len += n;
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.lock);
    srv.requests++;
    snprintf(srv.method, sizeof(srv.method), "%s", method);
    snprintf(srv.path, sizeof(srv.path), "%s", url);
    snprintf(srv.body, sizeof(srv.body), "%.*s", (int)u->len, u->body);
    copy_value(c, MHD_GET_ARGUMENT_KIND, "gid", srv.gid, sizeof(srv.gid));
    copy_value(c, MHD_GET_ARGUMENT_KIND, "dtm", srv.dtm, sizeof(srv.dtm));
    copy_value(c, MHD_GET_ARGUMENT_KIND, "branch_id", srv.branch_id, sizeof(srv.branch_id));
    copy_value(c, MHD_GET_ARGUMENT_KIND, "trans_type", srv.trans_type, sizeof(srv.trans_type));
    copy_value(c, MHD_GET_ARGUMENT_KIND, "op", srv.op, sizeof(srv.op));
    copy_value(c, MHD_HEADER_KIND, "Content-Type", srv.content_type, sizeof(srv.content_type));
    copy_value(c, MHD_HEADER_KIND, "X-Trace", srv.trace, sizeof(srv.trace));
    copy_value(c, MHD_HEADER_KIND, "Authorization", srv.authorization, sizeof(srv.authorization));
    status = srv.status;
    delay = srv.delay_ms;
    snprintf(answer, sizeof(answer), "%s", srv.answer);
    pthread_mutex_unlock(&srv.lock);
    if (delay > 0)
        usleep(delay * 1000);
    resp = MHD_create_response_from_buffer(strlen(answer), answer, MHD_RESPMEM_MUST_COPY);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*req_cls);
    *req_cls = NULL;
}

/* script - answer the next requests with @status and @answer after @delay_ms. */
static void script(unsigned int status, const char *answer, unsigned int delay_ms)
{
    pthread_mutex_lock(&srv.lock);
    srv.status = status;
    snprintf(srv.answer, sizeof(srv.answer), "%s", answer);
    srv.delay_ms = delay_ms;
    pthread_mutex_unlock(&srv.lock);
}

static int server_start(void **state)
{
    const union MHD_DaemonInfo *info;

    (void)state;
    pthread_mutex_init(&srv.lock, NULL);
    srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                             NULL, NULL, on_request, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                             NULL, MHD_OPTION_END);
    if (srv.d == NULL)
        return -1;
    info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
    srv.port = info->port;
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(srv.d);
    pthread_mutex_destroy(&srv.lock);
    return 0;
}

/* server_url - "http://127.0.0.1:PORT@path" into @out. */
static const char *server_url(char *out, size_t size, const char *path)
{
    snprintf(out, size, "http://127.0.0.1:%u%s", srv.port, path);
    return out;
}

/* new_msg - a message with one step on the scripted server's /api/dtmsvr. */
static struct mr_client_msg *new_msg(const char *gid)
{
    struct mr_client_msg *m = NULL;
    char url[128];

    assert_int_equal(
        mr_client_msg_new(&m, server_url(url, sizeof(url), "/api/dtmsvr"), gid, NULL, 0),
        MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client_msg_add(m, "http://b/TransIn", "{\"amount\":30}", NULL, 0), 0);
    return m;
}

/* ---- argument checks ---- */

static void test_client_new_refuses_bad_arguments(void **state)
{
    struct mr_client_msg *m = (void *)1;
    char err[256];
    char long_gid[200];

    (void)state;
    memset(long_gid, 'g', sizeof(long_gid) - 1);
    long_gid[sizeof(long_gid) - 1] = '\0';
    assert_int_equal(mr_client_msg_new(&m, "ftp://x", "g", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_null(m);
    assert_string_equal(err, "server: must be an http:// or https:// URL");
    assert_int_equal(mr_client_msg_new(&m, "http://", "g", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_new(&m, "http://x", "", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_string_equal(err, "gid: empty");
    assert_int_equal(mr_client_msg_new(&m, "http://x", NULL, err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_new(&m, "http://x", long_gid, err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_new(&m, "HTTPS://x/api", "g", err, sizeof(err)),
                     MR_CLIENT_SUCCESS);
    assert_string_equal(err, "");
    assert_string_equal(mr_client_msg_gid(m), "g");
    mr_client_msg_free(m);
    mr_client_msg_free(NULL);
}

static void test_client_add_refuses_unknown_destinations(void **state)
{
    struct mr_client_msg *m = new_msg("g-add");
    char err[256];

    (void)state;
    assert_int_equal(mr_client_msg_add(m, "grpc://x/y", "{}", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_non_null(strstr(err, "action:"));
    assert_int_equal(mr_client_msg_add(m, "kafka://", "{}", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_add(m, NULL, "{}", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_add(m, "http://x", NULL, err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_add(m, "topic://t", "", err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_int_equal(m->nsteps, 2);
    assert_int_equal(mr_client_msg_add_header(m, "X:Y", "v", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_add_header(m, "", "v", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_add_header(m, "X", "a\r\nB: c", err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_set_barrier_table(m, "a.b.c", err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_non_null(strstr(err, "barrier table"));
    assert_int_equal(mr_client_msg_set_barrier_table(m, "app.barrier", err, sizeof(err)),
                     MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client_msg_set_barrier_table(m, NULL, err, sizeof(err)), MR_CLIENT_SUCCESS);
    mr_client_msg_free(m);
}

static void test_client_result_names(void **state)
{
    (void)state;
    assert_string_equal(mr_client_result_name(MR_CLIENT_SUCCESS), "success");
    assert_string_equal(mr_client_result_name(MR_CLIENT_FAILURE), "failure");
    assert_string_equal(mr_client_result_name(MR_CLIENT_ERROR), "error");
    assert_string_equal(mr_client_result_name(MR_CLIENT_DUPLICATED), "duplicated");
    assert_string_equal(mr_client_result_name(MR_CLIENT_EINVAL), "einval");
    assert_string_equal(mr_client_result_name(42), "unknown");
    /* the same numbers for the same ideas as the barrier */
    assert_int_equal(MR_CLIENT_FAILURE, MR_BARRIER_FAILURE);
    assert_int_equal(MR_CLIENT_DUPLICATED, MR_BARRIER_DUPLICATED);
}

/* ---- the calls ---- */

static void test_client_prepare_posts_the_body_and_succeeds(void **state)
{
    struct mr_client_msg *m = new_msg("g-prep");
    char err[256] = "untouched";

    (void)state;
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(mr_client_prepare(m, "http://a/qp", err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(err, "");
    assert_string_equal(srv.method, "POST");
    assert_string_equal(srv.path, "/api/dtmsvr/prepare");
    assert_string_equal(srv.content_type, "application/json");
    assert_non_null(strstr(srv.body, "\"query_prepared\":\"http://a/qp\""));
    assert_non_null(strstr(srv.body, "\"gid\":\"g-prep\""));
    /* NULL keeps the earlier back-check URL */
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.path, "/api/dtmsvr/submit");
    assert_non_null(strstr(srv.body, "\"query_prepared\":\"http://a/qp\""));
    assert_int_equal(mr_client_abort(m, NULL, 0), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.path, "/api/dtmsvr/abort");
    mr_client_msg_free(m);
}

static void test_client_answers_are_told_apart(void **state)
{
    struct mr_client_msg *m = new_msg("g-ans");
    char err[256];

    (void)state;
    script(409,
           "{\"dtm_result\":\"FAILURE\",\"message\":\"current status 'failed', cannot prepare\"}",
           0);
    assert_int_equal(mr_client_prepare(m, "http://a/qp", err, sizeof(err)), MR_CLIENT_FAILURE);
    assert_string_equal(err, "prepare: HTTP 409: current status 'failed', cannot prepare");

    script(400, "{\"dtm_result\":\"FAILURE\",\"message\":\"steps: must not be empty\"}", 0);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_FAILURE);
    assert_string_equal(err, "submit: HTTP 400: steps: must not be empty");

    script(200, "{\"dtm_result\":\"FAILURE\"}", 0);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_FAILURE);

    script(500, "{\"message\":\"store: disk full\"}", 0);
    assert_int_equal(mr_client_abort(m, err, sizeof(err)), MR_CLIENT_ERROR);
    assert_string_equal(err, "abort: HTTP 500: store: disk full");

    script(503, "", 0);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_ERROR);
    assert_string_equal(err, "submit: HTTP 503: (empty answer)");

    /* a small caller buffer gets a truncated, terminated message */
    script(500, "{\"message\":\"store: disk full\"}", 0);
    assert_int_equal(mr_client_abort(m, err, 8), MR_CLIENT_ERROR);
    assert_string_equal(err, "abort: ");
    mr_client_msg_free(m);
}

static void test_client_unreachable_server_is_an_error(void **state)
{
    struct mr_client_msg *m = NULL;
    char err[256];

    (void)state;
    /* port 1 on loopback: nothing listens, the connect is refused at once */
    assert_int_equal(mr_client_msg_new(&m, "http://127.0.0.1:1/api/dtmsvr", "g-down", NULL, 0), 0);
    assert_int_equal(mr_client_msg_add(m, "http://b/x", "{}", NULL, 0), 0);
    assert_int_equal(mr_client_prepare(m, "http://a/qp", err, sizeof(err)), MR_CLIENT_ERROR);
    assert_non_null(strstr(err, "prepare: http://127.0.0.1:1/api/dtmsvr/prepare: "));
    mr_client_msg_free(m);
}

static void test_client_slow_server_times_out(void **state)
{
    struct mr_client_msg *m = new_msg("g-slow");
    char err[256];

    (void)state;
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 1500);
    mr_client_msg_set_call_timeout(m, 200);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_ERROR);
    assert_non_null(strstr(err, "submit: http://127.0.0.1:"));
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    mr_client_msg_free(m);
}

static void test_client_query_prepared_asks_like_the_relay(void **state)
{
    struct mr_client_msg *m = new_msg("g-bc");
    char url[128];
    char err[256];

    (void)state;
    assert_int_equal(mr_client_msg_add_header(m, "X-Trace", "t-9", NULL, 0), 0);
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(
        mr_client_query_prepared(m, server_url(url, sizeof(url), "/qp"), err, sizeof(err)),
        MR_CLIENT_SUCCESS);
    assert_string_equal(srv.method, "GET");
    assert_string_equal(srv.path, "/qp");
    assert_string_equal(srv.gid, "g-bc");
    assert_string_equal(srv.branch_id, "00");
    assert_string_equal(srv.trans_type, "msg");
    assert_string_equal(srv.op, "msg");
    assert_string_equal(srv.trace, "t-9");
    assert_string_equal(srv.dtm, server_url(url, sizeof(url), "/api/dtmsvr"));

    script(409, "{\"dtm_result\":\"FAILURE\"}", 0);
    assert_int_equal(
        mr_client_query_prepared(m, server_url(url, sizeof(url), "/qp"), err, sizeof(err)),
        MR_CLIENT_FAILURE);
    script(425, "", 0);
    assert_int_equal(
        mr_client_query_prepared(m, server_url(url, sizeof(url), "/qp"), err, sizeof(err)),
        MR_CLIENT_ERROR);
    /* no URL at all: nothing to ask */
    assert_int_equal(mr_client_query_prepared(m, NULL, err, sizeof(err)), MR_CLIENT_EINVAL);
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    mr_client_msg_free(m);
}

static void test_client_new_gid(void **state)
{
    char url[128];
    char err[256];
    char *gid = NULL;

    (void)state;
    script(200, "{\"gid\":\"Xy9abcdefghijklmnopqrs\",\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(
        mr_client_new_gid(server_url(url, sizeof(url), "/api/dtmsvr/"), 0, &gid, err, sizeof(err)),
        MR_CLIENT_SUCCESS);
    assert_string_equal(srv.path, "/api/dtmsvr/newGid");
    assert_string_equal(gid, "Xy9abcdefghijklmnopqrs");
    free(gid);
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(
        mr_client_new_gid(server_url(url, sizeof(url), "/api/dtmsvr"), 0, &gid, err, sizeof(err)),
        MR_CLIENT_ERROR);
    assert_null(gid);
    assert_non_null(strstr(err, "without a usable gid"));
    assert_int_equal(mr_client_new_gid("nope", 0, &gid, err, sizeof(err)), MR_CLIENT_EINVAL);
}

/* never_called - a callback do_and_submit_db must not run. */
static int never_called(MYSQL *db, void *arg)
{
    (void)db;
    *(int *)arg += 1;
    return 0;
}

static void test_client_do_and_submit_prepare_failure_skips_the_callback(void **state)
{
    struct mr_client_msg *m = new_msg("g-das");
    MYSQL *db = mysql_init(NULL); /* never connected: the callback must not get that far */
    int runs = 0;
    int before;
    char url[128];
    char err[256];

    (void)state;
    server_url(url, sizeof(url), "/qp");
    script(409, "{\"dtm_result\":\"FAILURE\",\"message\":\"current status 'succeed'\"}", 0);
    assert_int_equal(mr_client_do_and_submit_db(m, url, db, never_called, &runs, err, sizeof(err)),
                     MR_CLIENT_FAILURE);
    assert_string_equal(err, "prepare: HTTP 409: current status 'succeed'");
    script(500, "oops", 0);
    before = srv.requests;
    assert_int_equal(mr_client_do_and_submit_db(m, url, db, never_called, &runs, err, sizeof(err)),
                     MR_CLIENT_ERROR);
    assert_int_equal(srv.requests, before + 1); /* the prepare, and nothing after it */
    assert_int_equal(runs, 0);
    /* bad arguments send nothing */
    assert_int_equal(
        mr_client_do_and_submit_db(m, url, NULL, never_called, &runs, err, sizeof(err)),
        MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_do_and_submit_db(m, NULL, db, never_called, &runs, err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_int_equal(srv.requests, before + 1);
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    mysql_close(db);
    mr_client_msg_free(m);
}

/* ---- the bearer token and HTTPS ---- */

#define TOKEN "sdk-token-0123456789abcdef"

static void test_client_token_goes_to_the_server_only(void **state)
{
    struct mr_client_msg *m = new_msg("g-token");
    char url[128];
    char err[256];

    (void)state;
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(mr_client_prepare(m, server_url(url, sizeof(url), "/qp"), err, sizeof(err)),
                     MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, ""); /* none unless asked for */
    assert_int_equal(mr_client_msg_set_token(m, TOKEN, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client_prepare(m, NULL, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.path, "/api/dtmsvr/submit");
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    assert_int_equal(mr_client_abort(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    /* the back-check is the application's own URL: the relay's token stays home */
    assert_int_equal(mr_client_query_prepared(m, NULL, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.path, "/qp");
    assert_string_equal(srv.authorization, "");
    /* a token that cannot be a header value is refused, the old one kept */
    assert_int_equal(mr_client_msg_set_token(m, "two words", err, sizeof(err)), MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_msg_set_token(m, "a\r\nX-Evil: 1", err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    assert_int_equal(mr_client_msg_set_token(m, NULL, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, "");
    /* the relay's refusal is final for this token (its envelope says FAILURE), and says why */
    script(401, "{\"dtm_result\":\"FAILURE\",\"message\":\"authorization: token not accepted\"}",
           0);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_FAILURE);
    assert_non_null(strstr(err, "HTTP 401: authorization: token not accepted"));
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    mr_client_msg_free(m);
}

static void test_client_token_defaults_to_the_environment(void **state)
{
    struct mr_client_msg *m;
    char url[128];
    char err[256];
    char *gid = NULL;

    (void)state;
    setenv("MSGRELAY_API_TOKEN", TOKEN, 1);
    m = new_msg("g-env");
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    mr_client_msg_free(m);
    script(200, "{\"gid\":\"Xy9abcdefghijklmnopqrs\",\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(
        mr_client_new_gid(server_url(url, sizeof(url), "/api/dtmsvr"), 0, &gid, err, sizeof(err)),
        MR_CLIENT_SUCCESS);
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    free(gid);
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    setenv("MSGRELAY_API_TOKEN", "bad\ntoken", 1);
    m = NULL;
    assert_int_equal(mr_client_msg_new(&m, server_url(url, sizeof(url), "/api/dtmsvr"), "g-bad",
                                       err, sizeof(err)),
                     MR_CLIENT_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err, "MSGRELAY_API_TOKEN"));
    assert_null(strstr(err, "bad"));
    unsetenv("MSGRELAY_API_TOKEN");
}

/* read_all - the whole file at @path as a NUL-terminated string (owned), or NULL. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *p = calloc(1, 65536);
    size_t n;

    if (f == NULL) {
        free(p);
        return NULL;
    }
    n = fread(p, 1, 65535, f);
    p[n] = '\0';
    fclose(f);
    return p;
}

static void test_client_https_server_with_a_private_ca(void **state)
{
    char dir[] = "/tmp/mr-sdk-tls-XXXXXX";
    char cmd[1024];
    char cert_path[128];
    char url[128];
    char err[512];
    char *cert;
    char *key;
    struct MHD_Daemon *d;
    struct mr_client_msg *m = NULL;
    const union MHD_DaemonInfo *info;

    (void)state;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        print_message("libmicrohttpd without TLS: skipped\n");
        return;
    }
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    cert = read_all(cert_path);
    snprintf(cmd, sizeof(cmd), "%s/key.pem", dir);
    key = read_all(cmd);
    assert_non_null(cert);
    assert_non_null(key);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                             MHD_USE_TLS,
                         0, NULL, NULL, on_request, NULL, MHD_OPTION_HTTPS_MEM_CERT, cert,
                         MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                         NULL, MHD_OPTION_END);
    assert_non_null(d);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/api/dtmsvr", info->port);
    script(200, "{\"dtm_result\":\"SUCCESS\"}", 0);
    assert_int_equal(mr_client_msg_new(&m, url, "g-tls", err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client_msg_add(m, "http://b/TransIn", "{}", NULL, 0), 0);
    mr_client_msg_set_call_timeout(m, 5000);
    /* the system's store does not know the test's certificate */
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_ERROR);
    mr_client_msg_set_ca_file(m, cert_path);
    assert_int_equal(mr_client_msg_set_token(m, TOKEN, NULL, 0), MR_CLIENT_SUCCESS);
    assert_int_equal(mr_client_submit(m, err, sizeof(err)), MR_CLIENT_SUCCESS);
    assert_string_equal(srv.path, "/api/dtmsvr/submit");
    assert_string_equal(srv.authorization, "Bearer " TOKEN);
    mr_client_msg_free(m);
    MHD_stop_daemon(d);
    free(cert);
    free(key);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_new_refuses_bad_arguments),
        cmocka_unit_test(test_client_add_refuses_unknown_destinations),
        cmocka_unit_test(test_client_result_names),
        cmocka_unit_test(test_client_prepare_posts_the_body_and_succeeds),
        cmocka_unit_test(test_client_answers_are_told_apart),
        cmocka_unit_test(test_client_unreachable_server_is_an_error),
        cmocka_unit_test(test_client_slow_server_times_out),
        cmocka_unit_test(test_client_query_prepared_asks_like_the_relay),
        cmocka_unit_test(test_client_new_gid),
        cmocka_unit_test(test_client_do_and_submit_prepare_failure_skips_the_callback),
        cmocka_unit_test(test_client_token_goes_to_the_server_only),
        cmocka_unit_test(test_client_token_defaults_to_the_environment),
        cmocka_unit_test(test_client_https_server_with_a_private_ca),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    mysql_library_init(0, NULL, NULL);
    rc = cmocka_run_group_tests(tests, server_start, server_stop);
    mysql_library_end();
    curl_global_cleanup();
    return rc;
}
