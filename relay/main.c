/* SPDX-License-Identifier: MIT */
/*
 * main.c - the msgrelay binary: `msgrelay serve`, `msgrelay migrate`, the
 * admin commands `msgrelay show GID` and `msgrelay list` (the store read and
 * printed as the API's query and all answer it), `msgrelay barrier-prune`
 * (libmsgrelay's mr_barrier_prune on an app's database), `--help`, `version`.
 *
 * The only file that sees every room. It reads the configuration, fits the
 * connections in the open-files limit, starts the relay (delivery) and the
 * intake (HTTP), wires the intake's wake-ups to the
 * relay and the relay's pass reports to the intake, then waits for SIGTERM or
 * SIGINT on the main thread (SIGHUP is logged and ignored) and shuts down in order: stop accepting, answer
 * and commit what was received, let deliveries in flight finish (bounded by
 * --shutdown-grace), end this relay's leases, exit 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/mem.h"
#include "prepare/prepare.h"
#include "relay/relay.h"
#include "relay/relay_alert.h"
#include "store/store.h"
#include "msgrelay/barrier.h"

/*
 * The wiring between intake and relay. Callbacks look the other side up under
 * the mutex, so shutdown can unplug a side before freeing it.
 */
struct wiring {
    pthread_mutex_t mu;
    struct mr_relay *relay;
    struct mr_prepare *prepare;
};

static void wire_wake(void *arg)
{
    struct wiring *w = arg;

    pthread_mutex_lock(&w->mu);
    if (w->relay != NULL)
        mr_relay_wake(w->relay);
    pthread_mutex_unlock(&w->mu);
}

static size_t wire_room(void *arg)
{
    struct wiring *w = arg;
    size_t n = 0;

    pthread_mutex_lock(&w->mu);
    if (w->relay != NULL)
        n = mr_relay_room(w->relay);
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void wire_hand(void *arg, struct mr_msg **v, size_t n)
{
    struct wiring *w = arg;
    size_t i;

    pthread_mutex_lock(&w->mu);
    if (w->relay != NULL) {
        mr_relay_hand(w->relay, v, n);
    } else {
        /* no relay any more: the leases lapse and the messages are claimed later */
        for (i = 0; i < n; i++)
            mr_msg_free(v[i]);
    }
    pthread_mutex_unlock(&w->mu);
}

static void wire_pass(void *arg, const char *gid, enum mr_result outcome, const char *detail)
{
    struct wiring *w = arg;

    pthread_mutex_lock(&w->mu);
    if (w->prepare != NULL)
        mr_prepare_pass_done(w->prepare, gid, outcome, detail);
    pthread_mutex_unlock(&w->mu);
}

/*
 * Descriptors kept for everything but HTTP connections: the store's files or
 * sockets, the log, epoll sets and wake-up fds, libmicrohttpd's per-thread
 * ones; Kafka's broker sockets and pipes on top when configured.
 */
#define FD_RESERVE       64
#define FD_RESERVE_KAFKA 64

/* The fewest inbound connections worth serving with. */
#define MIN_CLIENTS 16

/*
 * fit_open_files - raise the soft open-files limit to the hard one, then make
 * the connections fit in it: each outbound connection counts twice (its
 * socket, and a name lookup's socket pair while it resolves), plus the
 * reserve; --max-clients is lowered, with a warning, to what is left. When
 * fewer than MIN_CLIENTS are left the start is refused: 0, or 1 (logged).
 */
static int fit_open_files(void)
{
    struct rlimit rl;
    long long reserve = FD_RESERVE + 4LL * mr_config.http_threads;
    long long room;
    char have[32];
    char fit[32];

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0; /* nothing known to fit against */
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit up = rl;

        up.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    if (mr_config.kafka_brokers != NULL)
        reserve += FD_RESERVE_KAFKA;
    room = (long long)rl.rlim_cur - reserve - 2LL * mr_config.max_connections;
    snprintf(have, sizeof(have), "%llu", (unsigned long long)rl.rlim_cur);
    if (room < MIN_CLIENTS) {
        mr_log(MR_LOG_ERROR,
               "cannot start: the open-files limit leaves no room for inbound connections; raise "
               "it (ulimit -n) or lower --max-connections",
               "nofile", have, NULL);
        return 1;
    }
    if (room < mr_config.max_clients) {
        snprintf(fit, sizeof(fit), "%lld", room);
        mr_log(MR_LOG_WARN, "--max-clients lowered to fit the open-files limit", "nofile", have,
               "max_clients", fit, NULL);
        mr_config.max_clients = (int)room;
    }
    return 0;
}

/*
 * wire_ready - the readiness probe asks the relay (Kafka reachable). Called on
 * the probe's thread; the relay is looked up under the mutex but asked after
 * unlocking, since the answer may take @timeout_ms and the other hooks must
 * not wait for it. Safe: the probe is joined (mr_prepare_stop) before the
 * relay is stopped.
 */
static int wire_ready(void *arg, int timeout_ms, struct mr_err *err)
{
    struct wiring *w = arg;
    struct mr_relay *r;

    pthread_mutex_lock(&w->mu);
    r = w->relay;
    pthread_mutex_unlock(&w->mu);
    return r != NULL ? mr_relay_ready(r, timeout_ms, err) : 0;
}

/* is_loopback - whether the IPv4 text address @a is in 127.0.0.0/8. */
static bool is_loopback(const char *a)
{
    return strncmp(a, "127.", 4) == 0;
}

/*
 * warn_access - say at start-up what is open to anyone who reaches the port,
 * and whether tokens travel in clear, when the relay listens beyond loopback.
 */
static void warn_access(void)
{
    const struct mr_config *c = &mr_config;

    if (is_loopback(c->bind))
        return;
    if (c->admin_token == NULL && c->api_token == NULL)
        mr_log(MR_LOG_WARN,
               "the API is open to anyone who reaches this port: set --api-token and --admin-token",
               "bind", c->bind, NULL);
    else if (c->api_token == NULL)
        mr_log(MR_LOG_WARN,
               "the producer's routes are open to anyone who reaches this port: set --api-token",
               "bind", c->bind, NULL);
    if ((c->admin_token != NULL || c->api_token != NULL) && c->tls_cert == NULL)
        mr_log(MR_LOG_WARN,
               "tokens travel in clear over plain HTTP: set --tls-cert and --tls-key, or keep "
               "a TLS proxy in front",
               "bind", c->bind, NULL);
}

/* default_relay_id - hostname:port, stable across restarts so leases are resumed. */
static char *default_relay_id(void)
{
    char host[256];
    char *id;
    size_t n;

    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    n = strlen(host) + 16;
    id = mr_xmalloc(n);
    snprintf(id, n, "%s:%d", host, mr_config.port);
    return id;
}

/* migrate_store - apply the store's schema files (migrate, serve --migrate); 0 or 1. */
static int migrate_store(void)
{
    struct mr_err err = MR_ERR_INIT;
    char *shown = mr_store_uri_redacted(mr_config.store);
    int rc = mr_store_migrate(mr_config.store, NULL, &err);

    if (rc != 0)
        mr_log(MR_LOG_ERROR, "cannot migrate the store", "store", shown, "error", err.msg, NULL);
    else
        mr_log(MR_LOG_INFO, "store schema is current", "store", shown, NULL);
    free(shown);
    return rc != 0;
}

/* migrate - `msgrelay migrate [--store URI]`: bring the store's schema up to date and exit. */
static int migrate(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    int rc;

    rc = mr_relay_config_parse(argc, argv, &mr_config, &err);
    if (rc != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        mr_config_free(&mr_config);
        return 2;
    }
    mr_log_set_level(mr_config.log_level);
    rc = migrate_store();
    mr_config_free(&mr_config);
    return rc;
}

/* ---- admin commands: read the store, print what the API would answer ---- */

/*
 * take_flag - remove "--@name VALUE" or "--@name=VALUE" from @argv (*@argc
 * items) and return VALUE (borrowed), or NULL when absent. *@bad when the
 * flag is there without a value.
 */
static const char *take_flag(int *argc, char **argv, const char *name, bool *bad)
{
    size_t len = strlen(name);
    const char *val = NULL;
    int i;
    int drop = 0;

    for (i = 0; i < *argc; i++) {
        if (strncmp(argv[i], name, len) != 0)
            continue;
        if (argv[i][len] == '=') {
            val = argv[i] + len + 1;
            drop = 1;
        } else if (argv[i][len] == '\0') {
            if (i + 1 >= *argc) {
                *bad = true;
                return NULL;
            }
            val = argv[i + 1];
            drop = 2;
        } else {
            continue;
        }
        memmove(&argv[i], &argv[i + drop], (size_t)(*argc - i - drop) * sizeof(*argv));
        *argc -= drop;
        return val;
    }
    return NULL;
}

/*
 * admin_open - read serve's flags (--store above all) from @argv and open the
 * store. An admin command never creates a store: a SQLite file must exist.
 * 0, or the exit code (the reason printed).
 */
static int admin_open(int argc, char **argv, struct mr_store **s)
{
    struct mr_err err = MR_ERR_INIT;
    char *shown;

    if (mr_relay_config_parse(argc, argv, &mr_config, &err) != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        return 2;
    }
    mr_log_set_level(MR_LOG_ERROR);
    if (strncmp(mr_config.store, "sqlite:", 7) == 0 && access(mr_config.store + 7, F_OK) != 0) {
        fprintf(stderr, "msgrelay: no store at %s\n", mr_config.store + 7);
        return 1;
    }
    if (mr_store_open(mr_config.store, s, &err) != 0) {
        shown = mr_store_uri_redacted(mr_config.store);
        fprintf(stderr, "msgrelay: %s: %s\n", shown, err.msg);
        free(shown);
        return 1;
    }
    return 0;
}

/* show - `msgrelay show GID [--store URI]`: the message as /api/dtmsvr/query answers it. */
static int show(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    struct mr_msg *m = NULL;
    char *text;
    int rc;

    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "msgrelay: usage: msgrelay show GID [--store URI]\n");
        return 2;
    }
    rc = admin_open(argc - 1, argv + 1, &s);
    if (rc == 0 && mr_store_msg_get(s, argv[0], true, &m, &err) != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        rc = 1;
    } else if (rc == 0 && m == NULL) {
        fprintf(stderr, "msgrelay: no message with gid %s\n", argv[0]);
        rc = 1;
    } else if (rc == 0) {
        text = mr_prepare_query_text(m, true);
        printf("%s\n", text);
        free(text);
    }
    mr_msg_free(m);
    mr_store_close(s);
    mr_config_free(&mr_config);
    return rc;
}

/*
 * list - `msgrelay list [--state S] [--limit N] [--position ID] [--store URI]`:
 * newest first, as /api/dtmsvr/all answers (next_position pages on).
 */
static int list(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_filter f;
    struct mr_store *s = NULL;
    struct mr_msg **v = NULL;
    size_t n = 0;
    bool bad = false;
    const char *state = take_flag(&argc, argv, "--state", &bad);
    const char *limit = take_flag(&argc, argv, "--limit", &bad);
    const char *position = take_flag(&argc, argv, "--position", &bad);
    char *end = NULL;
    char *text;
    int rc;

    memset(&f, 0, sizeof(f));
    f.limit = 20;
    if (bad) {
        fprintf(stderr, "msgrelay: --state, --limit and --position take a value\n");
        return 2;
    }
    if (state != NULL && (f.state = mr_msg_state_parse(state)) <= 0) {
        fprintf(stderr,
                "msgrelay: --state: must be prepared, submitted, succeed, failed or parked\n");
        return 2;
    }
    if (limit != NULL) {
        long l = strtol(limit, &end, 10);

        if (*limit == '\0' || *end != '\0' || l < 1 || l > 1000) {
            fprintf(stderr, "msgrelay: --limit: must be between 1 and 1000\n");
            return 2;
        }
        f.limit = (size_t)l;
    }
    if (position != NULL) {
        long long pos = strtoll(position, &end, 10);

        if (*position == '\0' || *end != '\0' || pos < 0) {
            fprintf(stderr, "msgrelay: --position: must be a message id\n");
            return 2;
        }
        f.position = pos;
    }
    rc = admin_open(argc, argv, &s);
    if (rc == 0 && mr_store_msg_list(s, &f, &v, &n, &err) != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        rc = 1;
    } else if (rc == 0) {
        text = mr_prepare_all_text(v, n, f.limit, true);
        printf("%s\n", text);
        free(text);
    }
    mr_store_msgs_free(v, n);
    mr_store_close(s);
    mr_config_free(&mr_config);
    return rc;
}

/* take_switch - remove flag @name (no value) from argv; whether it was there. */
static bool take_switch(int *argc, char **argv, const char *name)
{
    int i;

    for (i = 0; i < *argc; i++) {
        if (strcmp(argv[i], name) != 0)
            continue;
        memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i - 1) * sizeof(*argv));
        (*argc)--;
        return true;
    }
    return false;
}

/* time_flag - @v (may be NULL: 0) as epoch milliseconds; -1 when it is not one. */
static int64_t time_flag(const char *v)
{
    char *end = NULL;
    long long t;

    if (v == NULL)
        return 0;
    t = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || t < 0 || t > 253402300799999LL)
        return -1;
    return t;
}

/*
 * redrive - `msgrelay redrive [--gid G] [--gid-prefix P] [--url-prefix U]
 * [--error TEXT] [--parked-since MS] [--parked-until MS] [--all] [--dry-run]
 * [--store URI]`: parked messages back to work, as POST
 * /api/msgrelay/redrive does, straight on the store (no running relay
 * needed; a running one claims them within its poll interval).
 */
static int redrive(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_redrive f;
    struct mr_store *s = NULL;
    bool bad = false;
    const char *gid = take_flag(&argc, argv, "--gid-prefix", &bad);
    const char *url = take_flag(&argc, argv, "--url-prefix", &bad);
    const char *error = take_flag(&argc, argv, "--error", &bad);
    const char *since = take_flag(&argc, argv, "--parked-since", &bad);
    const char *until = take_flag(&argc, argv, "--parked-until", &bad);
    const char *one = take_flag(&argc, argv, "--gid", &bad);
    bool dry_run = take_switch(&argc, argv, "--dry-run");
    bool all = take_switch(&argc, argv, "--all");
    long matched = 0;
    long redriven = 0;
    int rc;

    memset(&f, 0, sizeof(f));
    f.gid = one;
    f.gid_prefix = gid;
    f.url_prefix = url;
    f.error = error;
    f.parked_from_ms = time_flag(since);
    f.parked_to_ms = time_flag(until);
    if (bad) {
        fprintf(stderr, "msgrelay: --gid, --gid-prefix, --url-prefix, --error, --parked-since and "
                        "--parked-until take a value\n");
        return 2;
    }
    if (f.parked_from_ms < 0 || f.parked_to_ms < 0) {
        fprintf(stderr, "msgrelay: --parked-since, --parked-until: must be epoch milliseconds\n");
        return 2;
    }
    if (!all && (one == NULL || !*one) && (gid == NULL || !*gid) && (url == NULL || !*url) &&
        (error == NULL || !*error) && f.parked_from_ms == 0 && f.parked_to_ms == 0) {
        fprintf(stderr, "msgrelay: redrive: give --gid or a filter, or --all for every parked "
                        "message\n");
        return 2;
    }
    rc = admin_open(argc, argv, &s);
    if (rc == 0 && mr_store_msg_redrive(s, &f, mr_now_ms(), dry_run, 500, &matched, &redriven,
                                        &err) != 0) {
        fprintf(stderr, "msgrelay: %s (redriven so far: %ld)\n", err.msg, redriven);
        rc = 1;
    } else if (rc == 0) {
        printf("{\"matched\":%ld,\"redriven\":%ld}\n", matched, redriven);
    }
    mr_store_close(s);
    mr_config_free(&mr_config);
    return rc;
}

/*
 * barrier_prune - `msgrelay barrier-prune --db mysql://... --older-than 7d
 * [--table T] [--batch N] [--pause-ms N] [--force]` (--db may come from
 * MSGRELAY_BARRIER_DB instead): delete an app's message
 * barrier rows older than the cutoff (mr_barrier_prune) and print
 * {"deleted":N,...}. Exit 0 done, 1 database trouble (rows deleted so far
 * still printed), 2 bad usage.
 */
static int barrier_prune(int argc, char **argv)
{
    bool bad = false;
    const char *uri = take_flag(&argc, argv, "--db", &bad); /* or MSGRELAY_BARRIER_DB */
    const char *older = take_flag(&argc, argv, "--older-than", &bad);
    const char *table = take_flag(&argc, argv, "--table", &bad);
    const char *batch = take_flag(&argc, argv, "--batch", &bad);
    const char *pause = take_flag(&argc, argv, "--pause-ms", &bad);
    struct mr_err err = MR_ERR_INIT;
    unsigned long long deleted = 0;
    long b = 1000;
    long p = 100;
    int flags = 0;
    int64_t secs = 0;
    char shown[64];
    char msg[512];
    char *end = NULL;
    MYSQL *db = NULL;
    int rc;
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            flags |= MR_BARRIER_PRUNE_FORCE;
        } else {
            fprintf(stderr, "msgrelay: barrier-prune: unknown argument '%s'\n", argv[i]);
            bad = true;
        }
    }
    /* from the environment, the password stays out of the process list */
    if (uri == NULL && getenv("MSGRELAY_BARRIER_DB") != NULL && getenv("MSGRELAY_BARRIER_DB")[0])
        uri = getenv("MSGRELAY_BARRIER_DB");
    if (bad || uri == NULL || older == NULL) {
        fprintf(stderr, "msgrelay: usage: msgrelay barrier-prune "
                        "--db mysql://USER:PASS@HOST:PORT/DB --older-than DURATION "
                        "[--table dtm_barrier.barrier] [--batch 1000] [--pause-ms 100] [--force]\n");
        return 2;
    }
    if (mr_duration_parse(older, &secs, &err) != 0) {
        fprintf(stderr, "msgrelay: --older-than: %s\n", err.msg);
        return 2;
    }
    if (batch != NULL) {
        b = strtol(batch, &end, 10);
        if (*batch == '\0' || *end != '\0' || b < 1 || b > MR_BARRIER_PRUNE_BATCH_MAX) {
            fprintf(stderr, "msgrelay: --batch: must be 1 to %d\n", MR_BARRIER_PRUNE_BATCH_MAX);
            return 2;
        }
    }
    if (pause != NULL) {
        p = strtol(pause, &end, 10);
        if (*pause == '\0' || *end != '\0' || p < 0 || p > 60000) {
            fprintf(stderr, "msgrelay: --pause-ms: must be 0 to 60000\n");
            return 2;
        }
    }
    if (secs < MR_BARRIER_PRUNE_MIN_S && (flags & MR_BARRIER_PRUNE_FORCE) == 0) {
        fprintf(stderr, "msgrelay: --older-than: %s is under 1h: barrier rows of messages still "
                        "being back-checked or delivered could go; add --force if you mean it\n",
                older);
        return 2;
    }
    rc = mr_barrier_connect(&db, uri, msg, sizeof(msg));
    if (rc != MR_BARRIER_SUCCESS) {
        fprintf(stderr, "msgrelay: --db: %s\n", msg);
        return rc == MR_BARRIER_EINVAL ? 2 : 1;
    }
    rc = mr_barrier_prune(db, table, (long long)secs, (unsigned)b, (unsigned)p, flags, &deleted,
                          msg, sizeof(msg));
    mysql_close(db);
    if (rc == MR_BARRIER_EINVAL) {
        fprintf(stderr, "msgrelay: %s\n", msg);
        return 2;
    }
    mr_duration_format(secs, shown, sizeof(shown));
    printf("{\"deleted\":%llu,\"table\":\"%s\",\"older_than\":\"%s\"}\n", deleted,
           table != NULL ? table : MR_BARRIER_TABLE_DEFAULT, shown);
    if (rc != MR_BARRIER_SUCCESS) {
        fprintf(stderr, "msgrelay: %s\n", msg);
        return 1;
    }
    return 0;
}

static int serve(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct wiring w;
    struct mr_prepare_hooks hooks = {&w, wire_wake, wire_room, wire_hand, wire_ready};
    struct mr_retention *retention = NULL;
    sigset_t set;
    char port[16];
    char *shown;
    int sig = 0;
    int rc;

    rc = mr_relay_config_parse(argc, argv, &mr_config, &err);
    if (rc == 0)
        rc = mr_relay_config_access(&mr_config, &err);
    if (rc != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        mr_config_free(&mr_config);
        return 2;
    }
    mr_log_set_level(mr_config.log_level);
    if (mr_config.relay_id == NULL || mr_config.relay_id[0] == '\0') {
        free(mr_config.relay_id);
        mr_config.relay_id = default_relay_id();
    }
    if (mr_config.migrate && migrate_store() != 0) {
        mr_config_free(&mr_config);
        return 1;
    }
    /* before any thread or socket: inbound connections must never starve outbound ones */
    if (fit_open_files() != 0) {
        mr_config_free(&mr_config);
        return 1;
    }

    /* signals are taken by sigwait() below; every thread inherits the mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mr_log(MR_LOG_ERROR, "cannot initialise libcurl", NULL);
        mr_config_free(&mr_config);
        return 1;
    }
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);

    /* the HTTP intake comes up last: once /api/ready answers, start-up is over */
    rc = mr_alert_start(&err);
    if (rc == 0)
        rc = mr_relay_start(wire_pass, &w, &w.relay, &err);
    if (rc == 0)
        rc = mr_retention_start(&retention, &err);
    if (rc == 0)
        rc = mr_prepare_start(&hooks, &w.prepare, &err);
    if (rc != 0) {
        mr_log(MR_LOG_ERROR, "cannot start", "error", err.msg, NULL);
        if (w.prepare != NULL) {
            mr_prepare_quiesce(w.prepare);
            mr_prepare_stop(w.prepare);
        }
        mr_retention_stop(retention);
        mr_relay_stop(w.relay);
        mr_alert_stop();
        curl_global_cleanup();
        mr_config_free(&mr_config);
        return 1;
    }
    snprintf(port, sizeof(port), "%d", mr_config.port);
    shown = mr_store_uri_redacted(mr_config.store);
    mr_log(MR_LOG_INFO, "msgrelay serving", "bind", mr_config.bind, "port", port, "store", shown,
           "relay_id", mr_config.relay_id, "scheme", mr_config.tls_cert != NULL ? "https" : "http",
           NULL);
    free(shown);
    warn_access();

    while (sig != SIGTERM && sig != SIGINT) {
        if (sigwait(&set, &sig) != 0)
            break;
        /* a terminal hang-up or a habit of `kill -HUP` to reload: neither ends the relay */
        if (sig == SIGHUP)
            mr_log(MR_LOG_WARN, "SIGHUP ignored: msgrelay does not reload its configuration; "
                                "restart it to apply changes", "signal", "SIGHUP", NULL);
    }
    mr_log(MR_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    mr_retention_stop(retention);

    mr_prepare_quiesce(w.prepare);
    pthread_mutex_lock(&w.mu);
    struct mr_prepare *p = w.prepare;
    w.prepare = NULL;
    pthread_mutex_unlock(&w.mu);
    mr_prepare_stop(p);

    pthread_mutex_lock(&w.mu);
    struct mr_relay *r = w.relay;
    w.relay = NULL;
    pthread_mutex_unlock(&w.mu);
    mr_relay_stop(r);
    mr_alert_stop(); /* after the relay: the alerts of its last results still go out */

    pthread_mutex_destroy(&w.mu);
    curl_global_cleanup();
    mr_log(MR_LOG_INFO, "stopped", NULL);
    mr_config_free(&mr_config);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        mr_relay_config_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("msgrelay 0.1.0\n");
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            mr_relay_config_usage(stdout);
            return 0;
        }
        return serve(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "show") == 0)
        return show(argc - 2, argv + 2);
    if (strcmp(argv[1], "list") == 0)
        return list(argc - 2, argv + 2);
    if (strcmp(argv[1], "redrive") == 0)
        return redrive(argc - 2, argv + 2);
    if (strcmp(argv[1], "barrier-prune") == 0)
        return barrier_prune(argc - 2, argv + 2);
    if (strcmp(argv[1], "migrate") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            mr_relay_config_usage(stdout);
            return 0;
        }
        return migrate(argc - 2, argv + 2);
    }
    fprintf(stderr, "msgrelay: unknown command '%s' (see msgrelay --help)\n", argv[1]);
    return 2;
}
