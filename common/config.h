/* SPDX-License-Identifier: MIT */
/*
 * config.h - the server configuration, one of msgrelay's two globals.
 *
 * Filled once at start-up by relay/relay_config.c (defaults, then environment,
 * then command-line flags) and read-only once any thread runs. Every room may
 * read it; none may write it.
 */
#ifndef MR_COMMON_CONFIG_H
#define MR_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct mr_target_policy;

/* The values of a repeatable setting, in the order given. Owned by the config. */
struct mr_config_list {
    char **v;
    size_t n;
    size_t cap; /* room in v (MR_ALLOC_GROW) */
};

struct mr_config {
    int port;         /* HTTP port (36789) */
    char *bind;       /* listen address ("0.0.0.0") */
    char *store;      /* store URI ("sqlite:msgrelay.db") */
    bool migrate;     /* apply the store's schema migrations at start-up (false) */
    char *relay_id;   /* lease owner name; default host:port */
    int log_level;    /* enum mr_log_level */
    int http_threads; /* libmicrohttpd thread pool size */

    int timeout_to_fail;        /* s before a prepared message is back-checked (35) */
    int retry_interval;         /* s, base retry interval (10) */
    int max_retry_interval;     /* s, back-off cap (300) */
    int request_timeout;        /* s, outbound call timeout (3) */
    bool strict_query_prepared; /* back-check 200 must say SUCCESS */

    int lease;            /* s a claim is held before others may take over (60) */
    int poll_interval_ms; /* idle scan period of the relay (1000) */
    int claim_batch;      /* messages claimed per round trip (256) */
    int max_inflight;     /* messages being delivered at once (2048) */
    int max_connections;  /* outbound connections in total (256) */

    size_t max_body;    /* request body limit, bytes (1 MiB) */
    int max_gid_len;    /* (128) */
    int max_steps;      /* steps per message (100) */
    int max_url_len;    /* (2048) */
    int max_queue;      /* intake requests waiting for a commit before 503 (20000) */
    int max_batch;      /* intake requests per commit (512) */
    int backlog_slow_ms; /* oldest due message's age over which intake commits wait (250; 0: off) */
    int backlog_max;    /* due backlog over which a submit is answered 503 (100000; 0: off) */
    int shutdown_grace; /* s to finish in-flight work on SIGTERM (10) */

    char *kafka_brokers;                    /* bootstrap servers; NULL: kafka:// is refused */
    struct mr_config_list kafka_properties; /* librdkafka "name=value" settings */

    int heartbeat; /* s a relay's registration stays live without renewal (15) */
    int max_clients;                /* inbound connections at once (4096; fitted to RLIMIT_NOFILE) */
    int max_clients_per_ip;         /* inbound connections from one address (256; 0: no cap) */
    int header_timeout;             /* s from a request's start until its headers are in (10) */
    int body_timeout;               /* s from a request's start until its body is in (30) */
    int max_connections_per_target; /* outbound calls at once to one scheme+host+port (0: auto) */
    int max_request_timeout;        /* s, cap of any call's timeout (30, below --lease) */
    /* Access and transport (see README "Access and HTTPS"). Tokens are secrets:
     * never logged, printed or echoed in an error. NULL = that scope is open. */
    char *admin_token;      /* opens every route */
    char *api_token;        /* opens the producer's routes (and, without admin_token, all) */
    char *admin_token_file; /* where admin_token was read from (NULL: not from a file) */
    char *api_token_file;   /* where api_token was read from */
    char *tls_cert;         /* PEM certificate (chain) of the HTTPS API; NULL: plain HTTP */
    char *tls_key;          /* its PEM private key; set together with tls_cert */
    char *allow_targets; /* comma-separated target policy entries; NULL: no allow list */
    char *deny_targets;  /* added to MR_TARGET_DEFAULT_DENY (unless "!defaults"); NULL: none */
    /* the two lists parsed at start-up (common/target.h); NULL allows every target */
    struct mr_target_policy *targets;
    /* When delivery keeps failing: alerts (README "Alerts and destination health") */
    char *alert_webhook; /* URL alerts are POSTed to; NULL: no alerts */
    int alert_after;     /* failed attempts of a step or back-check that raise an alert (3) */
    int alert_rate;      /* alerts a second at most, the rest dropped and counted (10) */
    /* destination health (relay/relay_http.c) */
    int unhealthy_after; /* calls in a row failing that make a destination unhealthy (5; 0: never) */
    int probe_interval;  /* s between probes of an unhealthy destination (5) */
    int recovery_spread; /* s over which a returning destination's messages are made due (3) */
    /* failed attempts of a step or back-check before its message is parked (500; 0: never);
       a message's own retry_limit wins */
    int retry_limit;
    /* Retention (relay/relay_retention.c): final messages older than this go. */
    long long retention;    /* s from finish until a succeed/failed message goes (7 d; 0: never) */
    int retention_batch;    /* messages deleted per transaction (1000) */
    int retention_pause_ms; /* shortest pause between two batches, ms (100) */
    int retention_share;    /* batches take at most this percent of the time (5) */
};

/* Shortest and longest token accepted, bytes. */
#define MR_TOKEN_MIN 16
#define MR_TOKEN_MAX 4096

extern struct mr_config mr_config;

/* mr_config_defaults - fill @c with the defaults above. */
void mr_config_defaults(struct mr_config *c);

/* mr_config_free - free the strings (and the list of strings) and the target policy in @c. */
void mr_config_free(struct mr_config *c);

#endif
