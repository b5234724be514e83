/* SPDX-License-Identifier: MIT */
/*
 * main.c - the msgrelay binary: `msgrelay serve`, `msgrelay migrate`, the
 * admin commands `msgrelay show GID` and `msgrelay list` (the store read and
 * printed as the API's query and all answer it), `msgrelay redrive`,
 * `msgrelay barrier-prune` (libmsgrelay's mr_barrier_prune or
 * mr_barrier_prune_pg on an app's MySQL or PostgreSQL database), `msgrelay version`. The table `commands` names each with its own
 * flags; relay_config.c parses every command's arguments (any order) and
 * prints `--help`, whole or per command.
 *
 * The only file that sees every room. It reads the configuration, fits the
 * connections in the open-files limit, starts the relay (delivery) and the
 * intake (HTTP), wires the intake's wake-ups to the
 * relay and the relay's pass reports to the intake, then waits for SIGTERM or
 * SIGINT on the main thread (SIGHUP is logged and ignored) and shuts down in order: stop accepting, answer
 * and commit what was received, let deliveries in flight finish (bounded by
 * --shutdown-grace), end this relay's leases, exit 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <sqlite3.h>

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
#include "msgrelay/barrier_pg.h"

#ifndef MR_VERSION
#define MR_VERSION "0.1.0"
#endif
/* git describe of the tree built, written by the Makefile into $(BUILD)/gen/build_info.h */
#if defined(__has_include)
#if __has_include("build_info.h")
#include "build_info.h"
#endif
#endif
#ifndef MR_BUILD_DESCRIBE
#define MR_BUILD_DESCRIBE "an unknown tree"
#endif
#if defined(__clang__)
#define MR_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define MR_COMPILER "gcc " __VERSION__
#else
#define MR_COMPILER "an unknown compiler"
#endif

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

/*
 * warn_access - say at start-up what is open to anyone who reaches the port,
 * and whether tokens travel in clear, when the relay listens beyond loopback
 * (@p's address: 127.0.0.0/8 and ::1 are loopback).
 */
static void warn_access(const struct mr_prepare *p)
{
    const struct mr_config *c = &mr_config;

    if (mr_prepare_on_loopback(p))
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

/* print_applied - tell the operator one schema file was applied (`msgrelay migrate`). */
static void print_applied(void *arg, int version, const char *name)
{
    (void)arg;
    printf("applied migration %03d %s\n", version, name);
}

/* log_applied - the same in the log (`serve --migrate`). */
static void log_applied(void *arg, int version, const char *name)
{
    char v[16];

    (void)arg;
    snprintf(v, sizeof(v), "%d", version);
    mr_log(MR_LOG_INFO, "store migration applied", "version", v, "name", name, NULL);
}

/*
 * migrate_store - apply the store's schema files (migrate, serve --migrate); 0 or 1.
 * Each file applied and the final version are printed (@print) or logged.
 */
static int migrate_store(bool print)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_migration_report rep = {print ? print_applied : log_applied, NULL, 0, 0};
    char *shown = mr_store_uri_redacted(mr_config.store);
    int rc = mr_store_migrate(mr_config.store, &rep, &err);
    char v[16];

    snprintf(v, sizeof(v), "%d", rep.to);
    if (rc != 0 && print)
        fprintf(stderr, "msgrelay: cannot migrate %s: %s\n", shown, err.msg);
    else if (rc != 0)
        mr_log(MR_LOG_ERROR, "cannot migrate the store", "store", shown, "error", err.msg, NULL);
    else if (print && rep.from == rep.to)
        printf("store schema already at version %d, nothing to apply\n", rep.to);
    else if (print)
        printf("store schema is at version %d\n", rep.to);
    else
        mr_log(MR_LOG_INFO, "store schema is current", "store", shown, "version", v, NULL);
    free(shown);
    return rc != 0;
}

/* migrate - `msgrelay migrate [--store URI]`: bring the store's schema up to date and exit. */
static int migrate(struct mr_cmd *cmd)
{
    (void)cmd;
    mr_log_set_level(mr_config.log_level);
    return migrate_store(true);
}

/* ---- admin commands: read the store, print what the API would answer ---- */

/*
 * admin_open - open the store of --store. An admin command never creates a
 * store: a SQLite file must exist. 0, or the exit code (the reason printed).
 */
static int admin_open(struct mr_store **s)
{
    struct mr_err err = MR_ERR_INIT;
    char *shown;

    mr_log_set_level(MR_LOG_ERROR);
    if (strncmp(mr_config.store, "sqlite:", 7) == 0 && access(mr_config.store + 7, F_OK) != 0) {
        fprintf(stderr, "msgrelay: no store at %s: %s\n", mr_config.store + 7, strerror(errno));
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
static int show(struct mr_cmd *cmd)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    struct mr_msg *m = NULL;
    const char *gid = cmd->arg_value;
    char *text;
    int rc;

    if (gid == NULL) {
        fprintf(stderr, "msgrelay: usage: msgrelay show GID [--store URI] (see msgrelay show "
                        "--help)\n");
        return 2;
    }
    rc = admin_open(&s);
    if (rc == 0 && mr_store_msg_get(s, gid, true, &m, &err) != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        rc = 1;
    } else if (rc == 0 && m == NULL) {
        fprintf(stderr, "msgrelay: no message with gid %s\n", gid);
        rc = 1;
    } else if (rc == 0) {
        text = mr_prepare_query_text(m, true);
        printf("%s\n", text);
        free(text);
    }
    mr_msg_free(m);
    mr_store_close(s);
    return rc;
}

/* list's own flags */
static struct mr_cmd_flag list_flags[] = {
    {"--state", "S", "prepared, submitted, succeed, failed or parked (default: every state)",
     NULL},
    {"--limit", "N", "messages per page, 1 to 1000 (default 20)", NULL},
    {"--position", "ID", "the page after this one: the previous page's next_position", NULL},
    {NULL, NULL, NULL, NULL},
};

/*
 * list - `msgrelay list [--state S] [--limit N] [--position ID] [--store URI]`:
 * newest first, as /api/dtmsvr/all answers (next_position pages on).
 */
static int list(struct mr_cmd *cmd)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_filter f;
    struct mr_store *s = NULL;
    struct mr_msg **v = NULL;
    size_t n = 0;
    const char *state = list_flags[0].value;
    const char *limit = list_flags[1].value;
    const char *position = list_flags[2].value;
    char *end = NULL;
    char *text;
    int rc;

    (void)cmd;
    memset(&f, 0, sizeof(f));
    f.limit = 20;
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
    rc = admin_open(&s);
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
    return rc;
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

/* redrive's own flags */
static struct mr_cmd_flag redrive_flags[] = {
    {"--gid", "G", "the parked message with this gid", NULL},
    {"--gid-prefix", "P", "parked messages whose gid starts with P", NULL},
    {"--url-prefix", "U", "parked messages with a step not yet succeeded whose URL starts with U",
     NULL},
    {"--error", "T", "parked messages whose result or a step's last error contains T", NULL},
    {"--parked-since", "MS", "parked at or after this time (epoch milliseconds)", NULL},
    {"--parked-until", "MS", "parked at or before this time (epoch milliseconds)", NULL},
    {"--all", NULL, "every parked message (needed when no filter is given)", NULL},
    {"--dry-run", NULL, "only count the matches, change nothing", NULL},
    {NULL, NULL, NULL, NULL},
};

/*
 * redrive - `msgrelay redrive [--gid G] [--gid-prefix P] [--url-prefix U]
 * [--error TEXT] [--parked-since MS] [--parked-until MS] [--all] [--dry-run]
 * [--store URI]`: parked messages back to work, as POST
 * /api/msgrelay/redrive does, straight on the store (no running relay
 * needed; a running one claims them within its poll interval).
 */
static int redrive(struct mr_cmd *cmd)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_redrive f;
    struct mr_store *s = NULL;
    const char *one = redrive_flags[0].value;
    const char *gid = redrive_flags[1].value;
    const char *url = redrive_flags[2].value;
    const char *error = redrive_flags[3].value;
    const char *since = redrive_flags[4].value;
    const char *until = redrive_flags[5].value;
    bool all = redrive_flags[6].value != NULL;
    bool dry_run = redrive_flags[7].value != NULL;
    long matched = 0;
    long redriven = 0;
    int rc;

    (void)cmd;
    memset(&f, 0, sizeof(f));
    f.gid = one;
    f.gid_prefix = gid;
    f.url_prefix = url;
    f.error = error;
    f.parked_from_ms = time_flag(since);
    f.parked_to_ms = time_flag(until);
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
    rc = admin_open(&s);
    if (rc == 0 && mr_store_msg_redrive(s, &f, mr_now_ms(), dry_run, 500, &matched, &redriven,
                                        &err) != 0) {
        fprintf(stderr, "msgrelay: %s (redriven so far: %ld)\n", err.msg, redriven);
        rc = 1;
    } else if (rc == 0) {
        printf("{\"matched\":%ld,\"redriven\":%ld}\n", matched, redriven);
    }
    mr_store_close(s);
    return rc;
}

/* barrier-prune's own flags */
static struct mr_cmd_flag prune_flags[] = {
    {"--db", "URI",
     "the app's database, mysql://USER:PASS@HOST:PORT/DB or postgres://USER:PASS@HOST:PORT/DB "
     "(or the variable MSGRELAY_BARRIER_DB, "
     "which keeps the password out of the process list)",
     NULL},
    {"--older-than", "DURATION", "delete rows older than this: 7d, 36h, 90m (at least 1h)", NULL},
    {"--table", "T", "the barrier table (default dtm_barrier.barrier)", NULL},
    {"--batch", "N", "rows per DELETE, each its own transaction (default 1000)", NULL},
    {"--pause-ms", "N", "pause between two batches, ms (default 100)", NULL},
    {"--force", NULL, "allow a cutoff under 1h", NULL},
    {NULL, NULL, NULL, NULL},
};

/*
 * barrier_prune - `msgrelay barrier-prune --db mysql://...|postgres://... --older-than 7d
 * [--table T] [--batch N] [--pause-ms N] [--force]` (--db may come from
 * MSGRELAY_BARRIER_DB instead): delete an app's message
 * barrier rows older than the cutoff (mr_barrier_prune) and print
 * {"deleted":N,...}. Exit 0 done, 1 database trouble (rows deleted so far
 * still printed), 2 bad usage.
 */
static int barrier_prune(struct mr_cmd *cmd)
{
    const char *uri = prune_flags[0].value; /* or MSGRELAY_BARRIER_DB */
    const char *older = prune_flags[1].value;
    const char *table = prune_flags[2].value;
    const char *batch = prune_flags[3].value;
    const char *pause = prune_flags[4].value;
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
    PGconn *pgdb = NULL;
    bool pg;
    int rc;

    if (prune_flags[5].value != NULL)
        flags |= MR_BARRIER_PRUNE_FORCE;
    /* from the environment, the password stays out of the process list */
    if (uri == NULL && getenv("MSGRELAY_BARRIER_DB") != NULL && getenv("MSGRELAY_BARRIER_DB")[0])
        uri = getenv("MSGRELAY_BARRIER_DB");
    if (uri == NULL || older == NULL) {
        fprintf(stderr, "msgrelay: %s: needs --db (or MSGRELAY_BARRIER_DB) and --older-than "
                        "(see msgrelay %s --help)\n", cmd->name, cmd->name);
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
    pg = strncmp(uri, "postgres://", 11) == 0 || strncmp(uri, "postgresql://", 13) == 0;
    rc = pg ? mr_barrier_connect_pg(&pgdb, uri, msg, sizeof(msg))
            : mr_barrier_connect(&db, uri, msg, sizeof(msg));
    if (rc != MR_BARRIER_SUCCESS) {
        fprintf(stderr, "msgrelay: --db: %s\n", msg);
        return rc == MR_BARRIER_EINVAL ? 2 : 1;
    }
    if (pg) {
        rc = mr_barrier_prune_pg(pgdb, table, (long long)secs, (unsigned)b, (unsigned)p, flags,
                                 &deleted, msg, sizeof(msg));
        PQfinish(pgdb);
    } else {
        rc = mr_barrier_prune(db, table, (long long)secs, (unsigned)b, (unsigned)p, flags,
                              &deleted, msg, sizeof(msg));
        mysql_close(db);
    }
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

static int serve(struct mr_cmd *cmd)
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

    (void)cmd;
    rc = mr_relay_config_access(&mr_config, &err);
    if (rc != 0) {
        fprintf(stderr, "msgrelay: %s\n", err.msg);
        return 2;
    }
    mr_log_set_level(mr_config.log_level);
    if (mr_config.relay_id == NULL || mr_config.relay_id[0] == '\0') {
        free(mr_config.relay_id);
        mr_config.relay_id = default_relay_id();
    }
    if (mr_config.migrate && migrate_store(false) != 0)
        return 1;
    /* before any thread or socket: inbound connections must never starve outbound ones */
    if (fit_open_files() != 0)
        return 1;

    /* signals are taken by sigwait() below; every thread inherits the mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mr_log(MR_LOG_ERROR, "cannot initialise libcurl", NULL);
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
        return 1;
    }
    snprintf(port, sizeof(port), "%d", mr_config.port);
    shown = mr_store_uri_redacted(mr_config.store);
    mr_log(MR_LOG_INFO, "msgrelay serving", "bind", mr_config.bind, "port", port, "store", shown,
           "relay_id", mr_config.relay_id, "scheme", mr_config.tls_cert != NULL ? "https" : "http",
           NULL);
    free(shown);
    warn_access(w.prepare);

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
    return 0;
}

/* version - `msgrelay version`, `msgrelay --version`: the version and how it was built. */
static int version(struct mr_cmd *cmd)
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);

    (void)cmd;
    printf("msgrelay %s\n", MR_VERSION);
    printf("built:            %s with %s\n", MR_BUILD_DESCRIBE, MR_COMPILER);
    printf("libmicrohttpd:    %s\n", MHD_get_version());
    printf("libcurl:          %s (%s)\n", curl->version,
           curl->ssl_version != NULL ? curl->ssl_version : "no TLS");
    printf("sqlite:           %s\n", sqlite3_libversion());
    printf("librdkafka:       %s\n", rd_kafka_version_str());
    printf("MariaDB Connector/C: %s\n", mysql_get_client_info());
    /* PQlibVersion(): major * 10000 + minor since PostgreSQL 10 */
    printf("libpq:            %d.%d\n", PQlibVersion() / 10000, PQlibVersion() % 10000);
    printf("jansson:          %s\n", jansson_version_str());
    return 0;
}

/* The commands, in the order --help lists them; each runs after its flags are parsed. */
static struct {
    struct mr_cmd cmd;
    int (*run)(struct mr_cmd *cmd);
} commands[] = {
    {{"serve", MR_CMD_SERVE, NULL, "run the relay: the HTTP API and delivery", NULL, NULL, false},
     serve},
    {{"migrate", MR_CMD_MIGRATE, NULL,
      "create or upgrade the store's schema, printing each migration applied", NULL, NULL, false},
     migrate},
    {{"show", MR_CMD_SHOW, "GID", "print one message as GET /api/dtmsvr/query answers", NULL,
      NULL, false},
     show},
    {{"list", MR_CMD_LIST, NULL, "print messages newest first, as GET /api/dtmsvr/all answers",
      list_flags, NULL, false},
     list},
    {{"redrive", MR_CMD_REDRIVE, NULL,
      "send parked messages back to work, as POST /api/msgrelay/redrive does", redrive_flags,
      NULL, false},
     redrive},
    {{"barrier-prune", MR_CMD_BARRIER_PRUNE, NULL,
      "delete an app's message barrier rows older than a cutoff", prune_flags, NULL, false},
     barrier_prune},
    {{"import-dtm", MR_CMD_IMPORT_DTM, NULL,
      "import a stopped DTM server's unfinished msg transactions into the store",
      mr_import_dtm_flags, NULL, false},
     mr_import_dtm},
    {{"version", MR_CMD_VERSION, NULL, "print the version and build information (also --version)",
      NULL, NULL, false},
     version},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* usage - the whole usage (every command and setting) to @out. */
static void usage(FILE *out)
{
    struct mr_cmd cmds[NCOMMANDS];
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        cmds[i] = commands[i].cmd;
    mr_relay_config_usage(out, cmds, NCOMMANDS);
}

int main(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_cmd *cmd = NULL;
    size_t i;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].cmd.name) == 0 ||
            (commands[i].run == version && strcmp(argv[1], "--version") == 0))
            cmd = &commands[i].cmd;
        if (cmd != NULL)
            break;
    }
    if (cmd == NULL) {
        fprintf(stderr, "msgrelay: unknown command '%s' (see msgrelay --help)\n", argv[1]);
        return 2;
    }
    rc = mr_relay_config_parse(cmd, argc - 2, argv + 2, &mr_config, &err);
    if (rc != 0) {
        fprintf(stderr, "msgrelay: %s: %s\n", cmd->name, err.msg);
        rc = 2;
    } else if (cmd->help) {
        mr_relay_config_cmd_usage(stdout, cmd);
    } else {
        rc = commands[i].run(cmd);
    }
    mr_config_free(&mr_config);
    return rc;
}
