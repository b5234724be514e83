/* SPDX-License-Identifier: MIT */
/*
 * config.c - the configuration global and its defaults. Parsing lives in
 * relay/relay_config.c; this file only defines what every room reads.
 */
#include "common/config.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/target.h"

struct mr_config mr_config;

void mr_config_defaults(struct mr_config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = 36789;
    c->bind = mr_xstrdup("0.0.0.0");
    c->store = mr_xstrdup("sqlite:msgrelay.db");
    c->migrate = false;
    c->relay_id = NULL;
    c->log_level = MR_LOG_INFO;
    c->http_threads = 2;
    c->timeout_to_fail = 35;
    c->retry_interval = 10;
    c->max_retry_interval = 300;
    c->request_timeout = 3;
    c->strict_query_prepared = false;
    c->lease = 60;
    c->poll_interval_ms = 1000;
    c->claim_batch = 256;
    c->max_inflight = 2048;
    c->max_connections = 256;
    c->max_body = 1 << 20;
    c->max_gid_len = 128;
    c->max_steps = 100;
    c->max_url_len = 2048;
    c->max_queue = 20000;
    c->max_batch = 512;
    c->backlog_slow_ms = 100;
    c->backlog_max = 100000;
    c->shutdown_grace = 10;
    c->heartbeat = 15;
    c->retention = 7LL * 86400;
    c->retention_batch = 1000;
    c->retention_pause_ms = 100;
    c->retention_share = 5;
    c->max_clients = 4096;
    c->max_clients_per_ip = 256;
    c->header_timeout = 10;
    c->body_timeout = 30;
    c->max_connections_per_target = 0;
    c->max_request_timeout = 30;
    c->alert_after = 3;
    c->alert_rate = 10;
    c->unhealthy_after = 5;
    c->probe_interval = 5;
    c->recovery_spread = 3;
    c->retry_limit = 500;
}

/* free_secret - wipe and free a token, so a core dump of a later process reusing the page
 * does not find it (best effort: copies libc or the kernel made are out of reach). */
static void free_secret(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void mr_config_free(struct mr_config *c)
{
    size_t i;

    free(c->bind);
    free(c->store);
    free(c->relay_id);
    free(c->kafka_brokers);
    for (i = 0; i < c->kafka_properties.n; i++)
        free(c->kafka_properties.v[i]);
    free(c->kafka_properties.v);
    free_secret(c->admin_token);
    free_secret(c->api_token);
    free(c->admin_token_file);
    free(c->api_token_file);
    free(c->tls_cert);
    free(c->tls_key);
    c->admin_token = NULL;
    c->api_token = NULL;
    c->admin_token_file = NULL;
    c->api_token_file = NULL;
    c->tls_cert = NULL;
    c->tls_key = NULL;
    c->bind = NULL;
    c->store = NULL;
    c->relay_id = NULL;
    c->kafka_brokers = NULL;
    c->kafka_properties.v = NULL;
    c->kafka_properties.n = 0;
    c->kafka_properties.cap = 0;
    free(c->allow_targets);
    free(c->deny_targets);
    free(c->alert_webhook);
    c->alert_webhook = NULL;
    mr_target_policy_free(c->targets);
    c->allow_targets = NULL;
    c->deny_targets = NULL;
    c->targets = NULL;
}
