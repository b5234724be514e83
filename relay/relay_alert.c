/* SPDX-License-Identifier: MIT */
/*
 * relay_alert.c - the alert webhook (see relay_alert.h): a rate limiter and
 * a bounded queue in front of one sender thread with its own libcurl multi
 * handle.
 *
 * Why its own handle and thread rather than the relay's HTTP engine: an
 * alert must never take a connection slot or a per-destination slot from a
 * delivery, nor add work to the relay loop; and the alerts that matter most
 * come when destinations are failing, exactly when the relay's engine is
 * busiest. At most MR_ALERT_CONCURRENT webhook calls run at once, each with
 * --request-timeout, so the thread costs little and cannot pile up.
 *
 * Must not: block the caller of mr_alert_send() on anything but a short
 * mutex, retry a webhook call more than MR_ALERT_TRIES times, log a URL's
 * credentials, or connect to an address the target policy refuses.
 */
#include "relay/relay_alert.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "common/target.h"
#include "common/url.h"

/* The longest error text an alert carries, bytes. */
#define ERROR_MAX 1000

/* Pause before the second try of a failed webhook call; doubles for the third. */
#define RETRY_PAUSE_MS 200

/* Drops are summed up in one log line at most this often. */
#define DROP_LOG_EVERY_MS 10000

/* How long the sender thread sleeps at most (drop summaries, stop). */
#define IDLE_WAIT_MS 1000

/* Grace for queued and in-flight alerts at stop. */
#define STOP_GRACE_MS 2000

/* One alert to send. */
struct item {
    struct item *next;
    char *body;
    char *gid;   /* for the log */
    int tries;   /* calls made */
    int64_t due; /* mono ms: not before */
    CURL *easy;
    struct curl_slist *headers;
    char error[CURL_ERROR_SIZE];
    char denied[64];
};

static struct {
    bool on;
    pthread_t thread;
    atomic_bool stop;
    CURLM *multi;
    char *url;
    char *url_masked;
    enum mr_target_verdict verdict;
    pthread_mutex_t mu;
    struct item *head; /* mu: waiting, oldest first */
    struct item *tail; /* mu */
    size_t n;          /* mu */
    struct mr_alert_bucket bucket; /* mu */
    long dropped;                  /* mu: since the last summary line */
    long dropped_rate;             /* mu */
    long dropped_queue;            /* mu */
} A = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- the rate limiter ---- */

void mr_alert_bucket_init(struct mr_alert_bucket *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate > 0 ? rate : 1;
    b->burst = burst >= 1 ? burst : 1;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

bool mr_alert_bucket_take(struct mr_alert_bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

/* ---- the body ---- */

char *mr_alert_body(const struct mr_alert *a)
{
    char *masked = mr_url_masked(a->error != NULL ? a->error : "");
    const char *bid = a->branch_id != NULL ? a->branch_id : "";
    json_t *o;
    char *text;
    size_t len = strlen(masked);

    if (len > ERROR_MAX) {
        /* cut on a UTF-8 boundary so jansson takes it */
        len = ERROR_MAX;
        while (len > 0 && ((unsigned char)masked[len] & 0xC0) == 0x80)
            len--;
        masked[len] = '\0';
    }
    o = json_object();
    if (o == NULL) {
        free(masked);
        return NULL;
    }
    json_object_set_new(o, "gid", json_string(a->gid != NULL ? a->gid : ""));
    json_object_set_new(o, "status", json_string(a->status != NULL ? a->status : ""));
    json_object_set_new(o, "trans_type", json_string("msg"));
    json_object_set_new(o, "branch", json_string(bid));
    json_object_set_new(o, "branch_id", json_string(bid));
    json_object_set_new(o, "error", json_string(masked));
    json_object_set_new(o, "retry_count", json_integer(a->retry_count));
    json_object_set_new(o, "parked", json_boolean(a->parked));
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(masked);
    return text;
}

int mr_alert_check_url(const char *url, struct mr_err *err)
{
    char *masked;
    int rc = 0;

    if (url == NULL || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return mr_err_set(err, MR_EINVAL, "--alert-webhook: must be an http:// or https:// URL");
    if (mr_target_check_url(mr_config.targets, url) == MR_TARGET_DENY) {
        masked = mr_url_masked(url);
        rc = mr_err_set(err, MR_EINVAL, "--alert-webhook: %s: target denied by policy", masked);
        free(masked);
    }
    return rc;
}

/* ---- sending ---- */

static void item_free(struct item *it)
{
    if (it == NULL)
        return;
    if (it->easy != NULL)
        curl_easy_cleanup(it->easy);
    curl_slist_free_all(it->headers);
    free(it->body);
    free(it->gid);
    free(it);
}

/* drop - count one refused alert (A.mu held). */
static void drop(bool rate)
{
    A.dropped++;
    if (rate)
        A.dropped_rate++;
    else
        A.dropped_queue++;
    mr_metrics_alert(rate ? MR_ALERT_DROPPED_RATE : MR_ALERT_DROPPED_QUEUE);
}

void mr_alert_send(const struct mr_alert *a)
{
    struct item *it;

    if (!A.on)
        return;
    pthread_mutex_lock(&A.mu);
    if (!mr_alert_bucket_take(&A.bucket, mr_mono_ms())) {
        drop(true);
        pthread_mutex_unlock(&A.mu);
        return;
    }
    if (A.n >= MR_ALERT_QUEUE_MAX) {
        drop(false);
        pthread_mutex_unlock(&A.mu);
        return;
    }
    pthread_mutex_unlock(&A.mu);
    it = mr_xcalloc(1, sizeof(*it));
    it->body = mr_alert_body(a);
    it->gid = mr_xstrdup(a->gid != NULL ? a->gid : "");
    if (it->body == NULL) {
        item_free(it);
        return;
    }
    pthread_mutex_lock(&A.mu);
    if (A.tail != NULL)
        A.tail->next = it;
    else
        A.head = it;
    A.tail = it;
    A.n++;
    pthread_mutex_unlock(&A.mu);
    curl_multi_wakeup(A.multi);
}

void mr_alert_attempts(const struct mr_msg *m, const char *branch_id, int attempts,
                       const char *error)
{
    struct mr_alert a;

    if (!A.on || attempts != mr_config.alert_after)
        return;
    memset(&a, 0, sizeof(a));
    a.gid = m->gid;
    a.status = mr_msg_state_name(m->state);
    a.branch_id = branch_id;
    a.error = error;
    a.retry_count = attempts;
    a.parked = false;
    mr_alert_send(&a);
}

void mr_alert_parked(const struct mr_msg *m, const char *branch_id, int retry_count,
                     const char *error)
{
    struct mr_alert a;

    if (!A.on)
        return;
    memset(&a, 0, sizeof(a));
    a.gid = m->gid;
    a.status = "parked";
    a.branch_id = branch_id;
    a.error = error;
    a.retry_count = retry_count;
    a.parked = true;
    mr_alert_send(&a);
}

/* on_open_socket - the target policy on each address the webhook resolves to. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct item *it = clientp;

    if (purpose == CURLSOCKTYPE_IPCXN && !mr_target_addr_ok(mr_config.targets, &addr->addr, A.verdict)) {
        const void *p = addr->family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr
                            : (const void *)&((struct sockaddr_in *)(void *)&addr->addr)->sin_addr;

        if (it->denied[0] == '\0' && inet_ntop(addr->family, p, it->denied, sizeof(it->denied)) == NULL)
            snprintf(it->denied, sizeof(it->denied), "(family %d)", addr->family);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* discard - libcurl write callback: the webhook's answer body is not read. */
static size_t discard(char *p, size_t size, size_t nmemb, void *userdata)
{
    (void)p;
    (void)userdata;
    return size * nmemb;
}

/* start_call - hand @it to libcurl. False (logged, counted) when it cannot be set up. */
static bool start_call(struct item *it)
{
    CURL *e = it->easy;
    long timeout = (long)(mr_config.request_timeout > 0 ? mr_config.request_timeout : 3) * 1000;
    CURLcode rc = CURLE_OK;

    if (e == NULL) {
        e = it->easy = curl_easy_init();
        if (e == NULL)
            return false;
        it->headers = curl_slist_append(NULL, "Content-Type: application/json");
    } else {
        curl_easy_reset(e);
    }
    it->error[0] = '\0';
    it->denied[0] = '\0';
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, A.url);
    SET(CURLOPT_PRIVATE, (void *)it);
    SET(CURLOPT_ERRORBUFFER, it->error);
    SET(CURLOPT_HTTPHEADER, it->headers);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDS, it->body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(it->body));
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_WRITEFUNCTION, discard);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SET(CURLOPT_OPENSOCKETDATA, (void *)it);
#undef SET
    if (rc != CURLE_OK || it->headers == NULL || curl_multi_add_handle(A.multi, e) != CURLM_OK)
        return false;
    it->tries++;
    return true;
}

/* failed_for_good - log and count @it, which used up its tries. */
static void failed_for_good(struct item *it, const char *why)
{
    char tries[16];

    snprintf(tries, sizeof(tries), "%d", it->tries);
    mr_log(MR_LOG_WARN, "alert webhook failed; alert dropped", "webhook", A.url_masked, "gid",
           it->gid, "tries", tries, "error", why, NULL);
    mr_metrics_alert(MR_ALERT_FAILED);
    item_free(it);
}

/* finished - take in the result of webhook call @it; a failed one goes back to @retry. */
static void finished(struct item *it, CURLcode res, struct item **retry)
{
    long status = 0;
    char why[CURL_ERROR_SIZE + 96];

    curl_multi_remove_handle(A.multi, it->easy);
    if (res == CURLE_OK)
        curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &status);
    if (res == CURLE_OK && status >= 200 && status < 300) {
        mr_log(MR_LOG_DEBUG, "alert sent", "gid", it->gid, NULL);
        mr_metrics_alert(MR_ALERT_SENT);
        item_free(it);
        return;
    }
    if (res != CURLE_OK && it->denied[0] != '\0')
        snprintf(why, sizeof(why), "target address %s denied by policy", it->denied);
    else if (res != CURLE_OK)
        snprintf(why, sizeof(why), "%s", it->error[0] ? it->error : curl_easy_strerror(res));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    if (it->tries >= MR_ALERT_TRIES || atomic_load(&A.stop) || it->denied[0] != '\0') {
        char *masked = mr_url_masked(why);

        failed_for_good(it, masked);
        free(masked);
        return;
    }
    it->due = mr_mono_ms() + ((int64_t)RETRY_PAUSE_MS << (it->tries - 1));
    it->next = *retry;
    *retry = it;
}

/* log_drops - one summary line for the alerts dropped since the last one. */
static void log_drops(int64_t *logged_ms, bool force)
{
    long n;
    long rate;
    long queue;
    char a[32];
    char b[32];
    char c[32];
    int64_t mono = mr_mono_ms();

    if (!force && mono - *logged_ms < DROP_LOG_EVERY_MS)
        return;
    pthread_mutex_lock(&A.mu);
    n = A.dropped;
    rate = A.dropped_rate;
    queue = A.dropped_queue;
    A.dropped = A.dropped_rate = A.dropped_queue = 0;
    pthread_mutex_unlock(&A.mu);
    if (n == 0)
        return;
    *logged_ms = mono;
    snprintf(a, sizeof(a), "%ld", n);
    snprintf(b, sizeof(b), "%ld", rate);
    snprintf(c, sizeof(c), "%ld", queue);
    mr_log(MR_LOG_WARN, "alerts dropped", "dropped", a, "by_rate_limit", b, "by_full_queue", c,
           NULL);
}

/* sender - the sender thread: start due alerts, drive libcurl, take results. */
static void *sender(void *arg)
{
    struct item *retry = NULL; /* failed once or twice, waiting for their next try */
    int active = 0;
    int64_t logged_ms = mr_mono_ms() - DROP_LOG_EVERY_MS;
    int64_t deadline = -1;

    (void)arg;
    for (;;) {
        int64_t mono = mr_mono_ms();
        int wait = IDLE_WAIT_MS;
        struct item **link;
        int running = 0;
        CURLMsg *msg;
        int left;

        if (atomic_load(&A.stop) && deadline < 0)
            deadline = mono + STOP_GRACE_MS;
        /* retries first, then new alerts, while calls may start */
        for (link = &retry; *link != NULL && active < MR_ALERT_CONCURRENT;) {
            struct item *it = *link;

            if (it->due > mono) {
                if (it->due - mono < wait)
                    wait = (int)(it->due - mono);
                link = &it->next;
                continue;
            }
            *link = it->next;
            it->next = NULL;
            if (start_call(it))
                active++;
            else
                failed_for_good(it, "cannot start the call");
        }
        while (active < MR_ALERT_CONCURRENT) {
            struct item *it;

            pthread_mutex_lock(&A.mu);
            it = A.head;
            if (it != NULL) {
                A.head = it->next;
                if (A.head == NULL)
                    A.tail = NULL;
                A.n--;
            }
            pthread_mutex_unlock(&A.mu);
            if (it == NULL)
                break;
            it->next = NULL;
            if (start_call(it))
                active++;
            else
                failed_for_good(it, "cannot start the call");
        }
        curl_multi_perform(A.multi, &running);
        while ((msg = curl_multi_info_read(A.multi, &left)) != NULL) {
            char *priv = NULL;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            active--;
            finished((struct item *)(void *)priv, msg->data.result, &retry);
        }
        log_drops(&logged_ms, false);
        if (deadline >= 0) {
            bool empty;

            pthread_mutex_lock(&A.mu);
            empty = A.head == NULL;
            pthread_mutex_unlock(&A.mu);
            if ((empty && active == 0 && retry == NULL) || mono >= deadline)
                break;
            if (deadline - mono < wait)
                wait = (int)(deadline - mono);
        }
        curl_multi_poll(A.multi, NULL, 0, wait < 1 ? 1 : wait, NULL);
    }
    /* what is left is dropped: counted as failed */
    while (retry != NULL) {
        struct item *it = retry;

        retry = it->next;
        failed_for_good(it, "relay stopping");
    }
    for (;;) {
        struct item *it;

        pthread_mutex_lock(&A.mu);
        it = A.head;
        if (it != NULL) {
            A.head = it->next;
            A.n--;
        }
        if (A.head == NULL)
            A.tail = NULL;
        pthread_mutex_unlock(&A.mu);
        if (it == NULL)
            break;
        failed_for_good(it, "relay stopping");
    }
    log_drops(&logged_ms, true);
    return NULL;
}

int mr_alert_start(struct mr_err *err)
{
    int rc;

    if (mr_config.alert_webhook == NULL || mr_config.alert_webhook[0] == '\0')
        return 0;
    rc = mr_alert_check_url(mr_config.alert_webhook, err);
    if (rc != 0)
        return rc;
    A.url = mr_xstrdup(mr_config.alert_webhook);
    A.url_masked = mr_url_masked(A.url);
    A.verdict = mr_target_check_url(mr_config.targets, A.url);
    mr_alert_bucket_init(&A.bucket, mr_config.alert_rate, mr_config.alert_rate, mr_mono_ms());
    atomic_init(&A.stop, false);
    A.multi = curl_multi_init();
    if (A.multi == NULL) {
        rc = mr_err_set(err, MR_EIO, "alert webhook: curl_multi_init failed");
        goto fail;
    }
    A.on = true;
    rc = pthread_create(&A.thread, NULL, sender, NULL);
    if (rc != 0) {
        A.on = false;
        rc = mr_err_set(err, MR_ESYS, "cannot start the alert thread: %s", strerror(rc));
        goto fail;
    }
    mr_log(MR_LOG_INFO, "alert webhook on", "webhook", A.url_masked, NULL);
    return 0;
fail:
    if (A.multi != NULL)
        curl_multi_cleanup(A.multi);
    A.multi = NULL;
    free(A.url);
    free(A.url_masked);
    A.url = A.url_masked = NULL;
    return rc;
}

void mr_alert_stop(void)
{
    if (!A.on)
        return;
    atomic_store(&A.stop, true);
    curl_multi_wakeup(A.multi);
    pthread_join(A.thread, NULL);
    A.on = false;
    curl_multi_cleanup(A.multi);
    A.multi = NULL;
    free(A.url);
    free(A.url_masked);
    A.url = A.url_masked = NULL;
}
