/* SPDX-License-Identifier: MIT */
/*
 * main.c - the msgrelay binary: `msgrelay serve`, `msgrelay migrate`, `--help`,
 * `version`.
 *
 * The only file that sees every room. It reads the configuration, starts the
 * relay (delivery) and the intake (HTTP), wires the intake's wake-ups to the
 * relay and the relay's pass reports to the intake, then waits for SIGTERM or
 * SIGINT on the main thread and shuts down in order: stop accepting, answer
 * and commit what was received, let deliveries in flight finish (bounded by
 * --shutdown-grace), end this relay's leases, exit 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "prepare/prepare.h"
#include "relay/relay.h"
#include "store/store.h"

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
    int rc = mr_store_migrate(mr_config.store, &err);

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

static int serve(int argc, char **argv)
{
    struct mr_err err = MR_ERR_INIT;
    struct wiring w;
    struct mr_prepare_hooks hooks = {&w, wire_wake, wire_room, wire_hand};
    sigset_t set;
    char port[16];
    char *shown;
    int sig = 0;
    int rc;

    rc = mr_relay_config_parse(argc, argv, &mr_config, &err);
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

    /* signals are taken by sigwait() below; every thread inherits the mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mr_log(MR_LOG_ERROR, "cannot initialise libcurl", NULL);
        mr_config_free(&mr_config);
        return 1;
    }
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);

    rc = mr_relay_start(wire_pass, &w, &w.relay, &err);
    if (rc == 0)
        rc = mr_prepare_start(&hooks, &w.prepare, &err);
    if (rc != 0) {
        mr_log(MR_LOG_ERROR, "cannot start", "error", err.msg, NULL);
        mr_relay_stop(w.relay);
        curl_global_cleanup();
        mr_config_free(&mr_config);
        return 1;
    }
    snprintf(port, sizeof(port), "%d", mr_config.port);
    shown = mr_store_uri_redacted(mr_config.store);
    mr_log(MR_LOG_INFO, "msgrelay serving", "bind", mr_config.bind, "port", port, "store", shown,
           "relay_id", mr_config.relay_id, NULL);
    free(shown);

    while (sig != SIGTERM && sig != SIGINT) {
        if (sigwait(&set, &sig) != 0)
            break;
    }
    mr_log(MR_LOG_INFO, "shutting down", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);

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
