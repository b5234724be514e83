/* SPDX-License-Identifier: MIT */
/*
 * prepare_admin.c - the admin page: its static files under /admin/ and the
 * JSON of GET /api/msgrelay/overview.
 *
 * The overview's store reads (counts by state, the oldest unfinished
 * message) run on the readiness probe's thread and connection
 * (prepare_ready.c), never on the writer.
 *
 * The page (admin/index.html, admin.css, admin.js) is compiled into the
 * binary by the Makefile ($(BUILD)/gen/admin_assets.c, struct
 * mr_admin_asset): nothing is read from disk and nothing is fetched from
 * another origin, so it works offline. The files are open (no token): they
 * hold no data. The page's script asks for the admin token and sends it on
 * its API calls, which are guarded as every API route is.
 *
 * Every file goes out with a Content-Security-Policy that allows only this
 * origin's script, style and API (no inline script, no remote origins, no
 * framing), X-Content-Type-Options: nosniff, Cache-Control: no-cache and
 * an ETag (the file's CRC and length, from the build), so a browser
 * revalidates and gets 304 until the binary changes.
 */
#include "prepare/prepare_int.h"

#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/metrics.h"

/* Where the page lives; "/admin" alone is redirected to it. */
#define ADMIN_PATH "/admin/"

#define ADMIN_CSP                                                                                  \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* find_asset - the file /admin/@name ("" is index.html), or NULL. */
static const struct mr_admin_asset *find_asset(const char *name)
{
    size_t i;

    if (name[0] == '\0')
        name = "index.html";
    for (i = 0; i < mr_admin_asset_count; i++) {
        if (strcmp(mr_admin_assets[i].name, name) == 0)
            return &mr_admin_assets[i];
    }
    return NULL;
}

/* queue - send @resp with @status and the page's security headers; @resp is consumed. */
static int queue(struct MHD_Connection *conn, struct MHD_Response *resp, unsigned int status)
{
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Security-Policy", ADMIN_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    mr_prepare_count_api(conn, MR_ROUTE_ADMIN, (int)status);
    return ret;
}

/* plain - a short text answer @body with @status. */
static int plain(struct MHD_Connection *conn, unsigned int status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

    if (resp != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    return queue(conn, resp, status);
}

int mr_admin_serve(struct MHD_Connection *conn, const char *url, const char *method)
{
    const struct mr_admin_asset *a;
    struct MHD_Response *resp;
    const char *inm;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return plain(conn, 405, "405 method not allowed");
    if (strcmp(url, "/admin") == 0) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp != NULL)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, ADMIN_PATH);
        return queue(conn, resp, 301);
    }
    if (strncmp(url, ADMIN_PATH, strlen(ADMIN_PATH)) != 0)
        return plain(conn, 404, "404 page not found");
    a = find_asset(url + strlen(ADMIN_PATH));
    if (a == NULL)
        return plain(conn, 404, "404 page not found");
    inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm != NULL && strcmp(inm, a->etag) == 0) {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp != NULL)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
        return queue(conn, resp, 304);
    }
    resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (resp != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->ctype);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    }
    return queue(conn, resp, 200);
}

/* render_time - @ms as RFC 3339 text, or null for 0. */
static json_t *render_time(int64_t ms)
{
    char t[32];

    if (ms <= 0)
        return json_null();
    mr_time_rfc3339(ms, t, sizeof(t));
    return json_string(t);
}

/* render_rates - the rate history, per second, oldest first. */
static json_t *render_rates(int64_t now_ms)
{
    struct mr_metrics_rate v[MR_METRICS_RATE_SLOTS + 1];
    size_t n = mr_metrics_rates(now_ms, v);
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++) {
        json_t *o = json_object();
        double secs = v[i].len_ms > 0 ? (double)v[i].len_ms / 1000.0 : 1.0;

        json_object_set_new(o, "t", json_integer(v[i].t_ms));
        json_object_set_new(o, "seconds", json_real(secs));
        json_object_set_new(o, "delivered_per_s", json_real((double)v[i].delivered / secs));
        json_object_set_new(o, "failed_per_s", json_real((double)v[i].failed / secs));
        json_array_append_new(a, o);
    }
    return a;
}

/* render_dests - the destinations the relay has called, with their health. */
static json_t *render_dests(void)
{
    struct mr_metrics_dest v[MR_METRICS_DEST_MAX];
    size_t n = mr_metrics_dests(v);
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++) {
        json_t *o = json_object();

        json_object_set_new(o, "destination", json_string(v[i].label));
        json_object_set_new(o, "up", json_boolean(v[i].up));
        json_object_set_new(o, "calls", json_integer(v[i].calls));
        json_object_set_new(o, "failures", json_integer(v[i].failures));
        json_object_set_new(o, "avg_latency_ms",
                            json_integer(v[i].calls > 0 ? v[i].latency_ms / v[i].calls : 0));
        json_array_append_new(a, o);
    }
    return a;
}

int mr_overview_read(struct mr_store *s, struct mr_overview_counts *c, struct mr_err *err)
{
    static const int waiting[] = {MR_MSG_PREPARED, MR_MSG_SUBMITTED};
    int64_t t;
    size_t i;
    int st;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    for (st = MR_MSG_NONE + 1; rc == 0 && st < MR_MSG_STATE_COUNT; st++)
        rc = mr_store_count_state(s, st, &c->counts[st], err);
    for (i = 0; rc == 0 && i < sizeof(waiting) / sizeof(waiting[0]); i++) {
        rc = mr_store_oldest_in_state(s, waiting[i], &t, err);
        if (rc == 0 && t > 0 && (c->oldest_ms == 0 || t < c->oldest_ms))
            c->oldest_ms = t;
    }
    return rc;
}

/*
 * render_backlog - the due backlog the intake last estimated at @now_ms: its
 * count, the age of its oldest message (ms), and their bounds (0: off).
 */
static json_t *render_backlog(int64_t now_ms)
{
    json_t *b = json_object();

    json_object_set_new(b, "due", json_integer(mr_backlog_now()));
    json_object_set_new(b, "oldest_ms", json_integer(mr_backlog_age_ms(now_ms)));
    json_object_set_new(b, "slow_ms", json_integer(mr_config.backlog_slow_ms));
    json_object_set_new(b, "max", json_integer(mr_config.backlog_max));
    return b;
}

json_t *mr_render_overview(const struct mr_overview_counts *c, int64_t now_ms)
{
    json_t *j = json_object();
    json_t *states = json_object();
    json_t *old = json_null();
    int64_t oldest_ms = c->oldest_ms;
    int st;

    for (st = MR_MSG_NONE + 1; st < MR_MSG_STATE_COUNT; st++)
        json_object_set_new(states, mr_msg_state_name(st), json_integer(c->counts[st]));
    if (oldest_ms > 0) {
        old = json_object();
        json_object_set_new(old, "create_time", render_time(oldest_ms));
        json_object_set_new(old, "age_s",
                            json_integer(now_ms > oldest_ms ? (now_ms - oldest_ms) / 1000 : 0));
    }
    mr_metrics_rate_tick(now_ms);
    json_object_set_new(j, "now", render_time(now_ms));
    json_object_set_new(j, "states", states);
    json_object_set_new(j, "oldest_waiting", old);
    json_object_set_new(j, "rate_interval_s", json_integer(MR_METRICS_RATE_EVERY_MS / 1000));
    json_object_set_new(j, "rates", render_rates(now_ms));
    json_object_set_new(j, "destinations", render_dests());
    json_object_set_new(j, "backlog", render_backlog(now_ms));
    return j;
}
