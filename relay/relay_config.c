/* SPDX-License-Identifier: MIT */
/*
 * relay_config.c - the configuration from defaults, MSGRELAY_* environment
 * variables and command-line flags, in that order of precedence (flags win).
 *
 * Runs once on the main thread before any other thread starts. One table
 * lists every setting: its flag, its variable, its limits, its help text and
 * the commands besides `serve` that take it, so --help (whole or per
 * command), the README table and the parser cannot drift apart. Each command
 * reads only the settings it takes (a flag it does not take is refused by
 * name, a variable ignored) plus its own flags and argument, in any order.
 * Bad values are errors naming the flag (or variable), never silent clamping.
 */
#include "relay/relay.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/target.h"
#include "relay/relay_alert.h"

/*
 * T_LIST: repeatable flag; its variable holds a comma- or newline-separated list.
 * T_SECRET: a token; its value never appears in --help or in an error message.
 * T_DURATION: "7d", "90m", "1h30m", "45s" or bare seconds (common/duration.h), into a
 * long long of seconds; min and max in seconds.
 */
enum opt_type { T_INT, T_SIZE, T_STR, T_BOOL, T_LEVEL, T_LIST, T_SECRET, T_DURATION };

/*
 * cmds: the commands besides `serve` that take the option (MR_CMD_* bits);
 * left out (0), it is serve's only, and the other commands refuse it.
 */
struct opt {
    const char *flag;
    const char *env;
    enum opt_type type;
    size_t offset;
    long long min;
    long long max;
    const char *help;
    unsigned cmds;
    const char *unset; /* what an unset string option means, for --help ("-" if NULL) */
};

/* The commands that read or write the relay's store. */
#define STORE_CMDS (MR_CMD_MIGRATE | MR_CMD_SHOW | MR_CMD_LIST | MR_CMD_REDRIVE)

#define OFF(f) offsetof(struct mr_config, f)

/* an option that leaves cmds out is serve's only: the table says so by omission */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct opt opts[] = {
    {"--port", "MSGRELAY_PORT", T_INT, OFF(port), 1, 65535, "HTTP port"},
    {"--bind", "MSGRELAY_BIND", T_STR, OFF(bind), 0, 0,
     "listen address: IPv4, IPv6 (::1, [::1], ::) or a host name resolved at start"},
    {"--store", "MSGRELAY_STORE", T_STR, OFF(store), 0, 0,
     "store URI: sqlite:PATH, mysql://USER:PASS@HOST:PORT/DB or "
     "postgres://USER:PASS@HOST:PORT/DB",
     STORE_CMDS},
    {"--migrate", "MSGRELAY_MIGRATE", T_BOOL, OFF(migrate), 0, 0,
     "apply the store's schema migrations at start-up (MySQL, PostgreSQL; SQLite always does)"},
    {"--relay-id", "MSGRELAY_RELAY_ID", T_STR, OFF(relay_id), 0, 0,
     "lease owner name", 0, "hostname:port"},
    {"--log-level", "MSGRELAY_LOG_LEVEL", T_LEVEL, OFF(log_level), 0, 0,
     "debug, info, warn or error", MR_CMD_MIGRATE},
    {"--http-threads", "MSGRELAY_HTTP_THREADS", T_INT, OFF(http_threads), 1, 64,
     "HTTP server threads"},
    {"--timeout-to-fail", "MSGRELAY_TIMEOUT_TO_FAIL", T_INT, OFF(timeout_to_fail), 1, 31622400,
     "seconds a prepared message waits before its back-check"},
    {"--retry-interval", "MSGRELAY_RETRY_INTERVAL", T_INT, OFF(retry_interval), 1, 86400,
     "base retry interval, seconds"},
    {"--max-retry-interval", "MSGRELAY_MAX_RETRY_INTERVAL", T_INT, OFF(max_retry_interval), 1,
     31622400, "back-off cap, seconds"},
    {"--request-timeout", "MSGRELAY_REQUEST_TIMEOUT", T_INT, OFF(request_timeout), 1, 3600,
     "timeout of a step call or back-check, seconds"},
    {"--strict-query-prepared", "MSGRELAY_STRICT_QUERY_PREPARED", T_BOOL,
     OFF(strict_query_prepared), 0, 0, "a back-check's 200 must also say SUCCESS"},
    {"--lease", "MSGRELAY_LEASE", T_INT, OFF(lease), 1, 86400,
     "seconds a relay holds claimed work before another may take it"},
    {"--poll-interval-ms", "MSGRELAY_POLL_INTERVAL_MS", T_INT, OFF(poll_interval_ms), 10, 60000,
     "how often the relay looks for due work when not woken, ms"},
    {"--claim-batch", "MSGRELAY_CLAIM_BATCH", T_INT, OFF(claim_batch), 1, 10000,
     "messages claimed per store round trip"},
    {"--max-inflight", "MSGRELAY_MAX_INFLIGHT", T_INT, OFF(max_inflight), 1, 100000,
     "messages being delivered at once"},
    {"--max-connections", "MSGRELAY_MAX_CONNECTIONS", T_INT, OFF(max_connections), 1, 100000,
     "outbound HTTP connections in total"},
    {"--max-body", "MSGRELAY_MAX_BODY", T_SIZE, OFF(max_body), 256, 64LL << 20,
     "request body limit, bytes"},
    {"--max-gid-len", "MSGRELAY_MAX_GID_LEN", T_INT, OFF(max_gid_len), 1, 128,
     "longest gid accepted, in bytes"},
    {"--max-steps", "MSGRELAY_MAX_STEPS", T_INT, OFF(max_steps), 1, 10000, "steps per message"},
    {"--max-url-len", "MSGRELAY_MAX_URL_LEN", T_INT, OFF(max_url_len), 16, 65536,
     "longest step or back-check URL"},
    {"--max-queue", "MSGRELAY_MAX_QUEUE", T_INT, OFF(max_queue), 1, 1000000,
     "requests waiting for a commit before answering 503"},
    {"--max-batch", "MSGRELAY_MAX_BATCH", T_INT, OFF(max_batch), 1, 100000,
     "requests per intake commit"},
    {"--backlog-slow-ms", "MSGRELAY_BACKLOG_SLOW_MS", T_INT, OFF(backlog_slow_ms), 0, 3600000,
     "age of the oldest due message not yet taken by a relay over which intake answers wait, "
     "ms (0: never)"},
    {"--backlog-max", "MSGRELAY_BACKLOG_MAX", T_INT, OFF(backlog_max), 0, 10000000,
     "due messages not yet taken by a relay over which a submit is answered 503 (0: never)"},
    {"--shutdown-grace", "MSGRELAY_SHUTDOWN_GRACE", T_INT, OFF(shutdown_grace), 0, 3600,
     "seconds to finish calls in flight on SIGTERM"},
    {"--kafka-brokers", "MSGRELAY_KAFKA_BROKERS", T_STR, OFF(kafka_brokers), 0, 0,
     "Kafka bootstrap servers host:port,...; enables kafka:// steps"},
    {"--kafka-property", "MSGRELAY_KAFKA_PROPERTIES", T_LIST, OFF(kafka_properties), 0, 0,
     "librdkafka setting name=value (repeatable)"},
    {"--heartbeat", "MSGRELAY_HEARTBEAT", T_INT, OFF(heartbeat), 3, 3600,
     "seconds a relay id stays held without renewal (renewed every third of it)"},
    {"--max-clients", "MSGRELAY_MAX_CLIENTS", T_INT, OFF(max_clients), 1, 1000000,
     "inbound HTTP connections at once (lowered to fit the open-files limit)"},
    {"--max-clients-per-ip", "MSGRELAY_MAX_CLIENTS_PER_IP", T_INT, OFF(max_clients_per_ip), 0,
     1000000, "inbound HTTP connections from one client address (0: no cap)"},
    {"--header-timeout", "MSGRELAY_HEADER_TIMEOUT", T_INT, OFF(header_timeout), 1, 3600,
     "seconds from a request's start (or the previous answer) until its headers are in"},
    {"--body-timeout", "MSGRELAY_BODY_TIMEOUT", T_INT, OFF(body_timeout), 1, 3600,
     "seconds from a request's start until its body is in"},
    {"--max-connections-per-target", "MSGRELAY_MAX_CONNECTIONS_PER_TARGET", T_INT,
     OFF(max_connections_per_target), 0, 100000,
     "outbound calls at once to one scheme://host:port (0: a quarter of --max-connections)"},
    {"--max-request-timeout", "MSGRELAY_MAX_REQUEST_TIMEOUT", T_INT, OFF(max_request_timeout), 1,
     3600, "cap of a call's timeout, seconds; 2 below --lease at most (lowered to that when unset)"},
    {"--admin-token", "MSGRELAY_ADMIN_TOKEN", T_SECRET, OFF(admin_token), MR_TOKEN_MIN,
     MR_TOKEN_MAX, "bearer token that opens every route"},
    {"--api-token", "MSGRELAY_API_TOKEN", T_SECRET, OFF(api_token), MR_TOKEN_MIN, MR_TOKEN_MAX,
     "bearer token for the producer's routes (every route without an admin token)"},
    {"--admin-token-file", "MSGRELAY_ADMIN_TOKEN_FILE", T_STR, OFF(admin_token_file), 0, 0,
     "file holding the admin token (one trailing newline is dropped)"},
    {"--api-token-file", "MSGRELAY_API_TOKEN_FILE", T_STR, OFF(api_token_file), 0, 0,
     "file holding the api token (one trailing newline is dropped)"},
    {"--tls-cert", "MSGRELAY_TLS_CERT", T_STR, OFF(tls_cert), 0, 0,
     "PEM certificate file: serve the API over HTTPS (with --tls-key)"},
    {"--tls-key", "MSGRELAY_TLS_KEY", T_STR, OFF(tls_key), 0, 0,
     "PEM private key file of --tls-cert"},
    {"--allow-targets", "MSGRELAY_ALLOW_TARGETS", T_STR, OFF(allow_targets), 0, 0,
     "outbound calls may reach only these: host names, *.suffixes, CIDRs, http(s):// URL "
     "prefixes, comma-separated"},
    {"--deny-targets", "MSGRELAY_DENY_TARGETS", T_STR, OFF(deny_targets), 0, 0,
     "outbound calls may not reach these (same forms), added to the link-local and cloud "
     "metadata defaults; !defaults drops those", 0, "none"},
    {"--alert-webhook", "MSGRELAY_ALERT_WEBHOOK", T_STR, OFF(alert_webhook), 0, 0,
     "http(s) URL that alerts are POSTed to (JSON) when a step or back-check keeps failing or a "
     "message is parked"},
    {"--alert-after", "MSGRELAY_ALERT_AFTER", T_INT, OFF(alert_after), 1, 1000000,
     "failed attempts of a step or back-check that raise an alert (once, at that count)"},
    {"--alert-rate", "MSGRELAY_ALERT_RATE", T_INT, OFF(alert_rate), 1, 10000,
     "alerts sent per second at most; the rest are dropped and counted"},
    {"--unhealthy-after", "MSGRELAY_UNHEALTHY_AFTER", T_INT, OFF(unhealthy_after), 0, 1000000,
     "calls in a row to one scheme://host:port or Kafka topic without an answer or with a 5xx "
     "that make it unhealthy: one call at a time until it answers (0: never)"},
    {"--probe-interval", "MSGRELAY_PROBE_INTERVAL", T_INT, OFF(probe_interval), 1, 3600,
     "seconds between probes of an unhealthy destination (a waiting message made due)"},
    {"--recovery-spread", "MSGRELAY_RECOVERY_SPREAD", T_INT, OFF(recovery_spread), 0, 600,
     "seconds over which the messages waiting on a destination that answers again are made due"},
    {"--retry-limit", "MSGRELAY_RETRY_LIMIT", T_INT, OFF(retry_limit), 0, 1000000,
     "failed attempts of a step or back-check before its message is parked (0: never); a "
     "message's own retry_limit wins"},
    {"--retention", "MSGRELAY_RETENTION", T_DURATION, OFF(retention), 0, MR_DURATION_MAX_S,
     "succeed and failed messages are deleted this long after they finished (s, m, h, d; 0: "
     "kept forever)"},
    {"--retention-batch", "MSGRELAY_RETENTION_BATCH", T_INT, OFF(retention_batch), 1, 10000,
     "messages retention deletes per transaction"},
    {"--retention-pause-ms", "MSGRELAY_RETENTION_PAUSE_MS", T_INT, OFF(retention_pause_ms), 0,
     60000, "shortest pause between two retention batches, ms"},
    {"--retention-share", "MSGRELAY_RETENTION_SHARE", T_INT, OFF(retention_share), 1, 100,
     "retention batches take at most this percent of the time (longer pauses after slow batches)"},
};
#pragma GCC diagnostic pop

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/*
 * check_token - whether @len bytes at @t make a usable token: @min..@max bytes of
 * visible ASCII (what a Bearer header can carry). The message never quotes it.
 */
static int check_token(const char *t, size_t len, long long min, long long max, const char *who,
                       struct mr_err *err)
{
    size_t i;

    if ((long long)len < min || (long long)len > max)
        return mr_err_set(err, MR_EINVAL, "%s: a token must be %lld to %lld bytes long (got %zu)",
                          who, min, max, len);
    for (i = 0; i < len; i++) {
        if (t[i] <= ' ' || t[i] > '~')
            return mr_err_set(err, MR_EINVAL,
                              "%s: a token may hold only visible ASCII characters (byte %zu is not)",
                              who, i + 1);
    }
    return 0;
}

/* set - parse @val into the setting @o of @c; @who names the source in errors. */
static int set(const struct opt *o, const char *val, struct mr_config *c, const char *who,
               struct mr_err *err)
{
    char *field = (char *)c + o->offset;
    struct mr_config_list *list;
    struct mr_err derr = MR_ERR_INIT;
    int64_t secs;
    long long v;
    char *end;
    int lvl;

    switch (o->type) {
    case T_LIST:
        /* one "name=value" item, appended */
        if (val[0] == '=' || strchr(val, '=') == NULL)
            return mr_err_set(err, MR_EINVAL, "%s: '%s' is not name=value", who, val);
        list = (struct mr_config_list *)(void *)field;
        MR_ALLOC_GROW(list->v, list->n + 1, list->cap);
        list->v[list->n++] = mr_xstrdup(val);
        return 0;
    case T_SECRET:
        if (check_token(val, strlen(val), o->min, o->max, who, err) != 0)
            return MR_EINVAL;
        free(*(char **)field);
        *(char **)field = mr_xstrdup(val);
        return 0;
    case T_STR:
        if (val[0] == '\0')
            return mr_err_set(err, MR_EINVAL, "%s: must not be empty", who);
        free(*(char **)field);
        *(char **)field = mr_xstrdup(val);
        return 0;
    case T_BOOL:
        if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0)
            *(bool *)field = true;
        else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0)
            *(bool *)field = false;
        else
            return mr_err_set(err, MR_EINVAL, "%s: '%s' is not true or false", who, val);
        return 0;
    case T_LEVEL:
        lvl = mr_log_level_parse(val);
        if (lvl < 0)
            return mr_err_set(err, MR_EINVAL, "%s: '%s' is not debug, info, warn or error", who,
                              val);
        *(int *)field = lvl;
        return 0;
    case T_DURATION:
        if (mr_duration_parse(val, &secs, &derr) != 0)
            return mr_err_set(err, MR_EINVAL, "%s: %s", who, derr.msg);
        if (secs < o->min || secs > o->max)
            return mr_err_set(err, MR_EINVAL, "%s: %lld s is outside %lld..%lld s", who,
                              (long long)secs, o->min, o->max);
        *(long long *)field = (long long)secs;
        return 0;
    case T_INT:
    case T_SIZE:
        errno = 0;
        v = strtoll(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0')
            return mr_err_set(err, MR_EINVAL, "%s: '%s' is not a whole number", who, val);
        if (v < o->min || v > o->max)
            return mr_err_set(err, MR_EINVAL, "%s: %lld is outside %lld..%lld", who, v, o->min,
                              o->max);
        if (o->type == T_INT)
            *(int *)field = (int)v;
        else
            *(size_t *)field = (size_t)v;
        return 0;
    }
    return MR_EINVAL;
}

/* list_clear - empty the list setting @o of @c. */
static void list_clear(const struct opt *o, struct mr_config *c)
{
    struct mr_config_list *list = (struct mr_config_list *)(void *)((char *)c + o->offset);
    size_t i;

    for (i = 0; i < list->n; i++)
        free(list->v[i]);
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

/*
 * set_env_list - the list setting @o from its variable's value @val: items
 * separated by newlines when there is one (so a value may hold commas), else
 * by commas; blanks around items and empty items are skipped.
 */
static int set_env_list(const struct opt *o, const char *val, struct mr_config *c,
                        struct mr_err *err)
{
    const char *sep = strchr(val, '\n') != NULL ? "\n" : ",";
    const char *p = val;
    int rc = 0;

    while (rc == 0 && *p != '\0') {
        size_t n = strcspn(p, sep);
        size_t a = 0;
        size_t b = n;
        char *item;

        while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\r'))
            a++;
        while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\r'))
            b--;
        if (b > a) {
            item = mr_xstrndup(p + a, b - a);
            rc = set(o, item, c, o->env, err);
            free(item);
        }
        p += n;
        if (*p != '\0')
            p++;
    }
    return rc;
}

/* given_flag - whether the setting whose flag is @flag was set by a flag or a variable. */
static bool given_flag(const bool *given, const char *flag)
{
    size_t i;

    for (i = 0; i < NOPTS; i++) {
        if (strcmp(opts[i].flag, flag) == 0)
            return given[i];
    }
    return false;
}

/*
 * check_limits - the settings that bound connections and calls, checked
 * together: a call's timeout (capped by --max-request-timeout) must end 2 s
 * before --lease (1 s of margin, 1 s for the claim to reach the call), a body
 * deadline cannot come before the header deadline, and a per-target cap of 0
 * is a quarter of --max-connections.
 */
static int check_limits(struct mr_config *c, const bool *given, struct mr_err *err)
{
    if (c->body_timeout < c->header_timeout)
        return mr_err_set(err, MR_EINVAL, "--body-timeout: %d is below --header-timeout %d",
                          c->body_timeout, c->header_timeout);
    if (c->max_connections_per_target == 0)
        c->max_connections_per_target = c->max_connections / 4 > 0 ? c->max_connections / 4 : 1;
    if (given_flag(given, "--max-request-timeout")) {
        if (c->max_request_timeout + 2 > c->lease)
            return mr_err_set(err, MR_EINVAL,
                              "--max-request-timeout: %d s must be at least 2 s shorter than "
                              "--lease %d s",
                              c->max_request_timeout, c->lease);
    } else if (c->max_request_timeout + 2 > c->lease) {
        if (c->lease < 3)
            return mr_err_set(err, MR_EINVAL,
                              "--lease: %d s leaves no time for a call (at least 3 s)", c->lease);
        c->max_request_timeout = c->lease - 2;
    }
    if (c->request_timeout > c->max_request_timeout)
        return mr_err_set(err, MR_EINVAL, "--request-timeout: %d is above --max-request-timeout %d",
                          c->request_timeout, c->max_request_timeout);
    return 0;
}

/*
 * read_token_file - the token in the file at @path (a --*-token-file setting, named
 * @who): its bytes without one trailing newline (LF or CRLF), checked as --*-token
 * is. Owned result *out: free().
 */
static int read_token_file(const char *path, const char *who, char **out, struct mr_err *err)
{
    char buf[MR_TOKEN_MAX + 3]; /* the longest token, CRLF, and one byte to see it is longer */
    size_t n;
    FILE *f;
    int rc;

    f = fopen(path, "rb");
    if (f == NULL)
        return mr_err_set(err, MR_EINVAL, "%s: cannot read '%s': %s", who, path,
                          strerror(errno));
    n = fread(buf, 1, sizeof(buf), f);
    rc = ferror(f);
    fclose(f);
    if (rc != 0)
        return mr_err_set(err, MR_EINVAL, "%s: cannot read '%s'", who, path);
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    if (n == 0) {
        rc = mr_err_set(err, MR_EINVAL, "%s: '%s' is empty", who, path);
    } else {
        rc = check_token(buf, n, MR_TOKEN_MIN, MR_TOKEN_MAX, who, err);
        if (rc == 0)
            *out = mr_xstrndup(buf, n);
    }
    explicit_bzero(buf, sizeof(buf));
    return rc;
}

int mr_relay_config_access(struct mr_config *c, struct mr_err *err)
{
    int rc = 0;

    if (c->admin_token_file != NULL && c->admin_token != NULL)
        return mr_err_set(err, MR_EINVAL, "--admin-token-file: --admin-token is set too; give one");
    if (c->api_token_file != NULL && c->api_token != NULL)
        return mr_err_set(err, MR_EINVAL, "--api-token-file: --api-token is set too; give one");
    if (c->admin_token_file != NULL)
        rc = read_token_file(c->admin_token_file, "--admin-token-file", &c->admin_token, err);
    if (rc == 0 && c->api_token_file != NULL)
        rc = read_token_file(c->api_token_file, "--api-token-file", &c->api_token, err);
    if (rc != 0)
        return rc;
    if (c->admin_token != NULL && c->api_token != NULL && strcmp(c->admin_token, c->api_token) == 0)
        return mr_err_set(err, MR_EINVAL,
                          "--api-token: must differ from --admin-token (scopes would not differ)");
    if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        return mr_err_set(err, MR_EINVAL, "%s: needs %s too",
                          c->tls_cert != NULL ? "--tls-cert" : "--tls-key",
                          c->tls_cert != NULL ? "--tls-key" : "--tls-cert");
    return 0;
}

/* takes - whether command @cmd takes the option @o. */
static bool takes(const struct opt *o, const struct mr_cmd *cmd)
{
    /* import-dtm checks what it imports against serve's limits and policy: it takes them all */
    return cmd->bit == MR_CMD_SERVE || cmd->bit == MR_CMD_IMPORT_DTM || (o->cmds & cmd->bit) != 0;
}

/* find_opt - the option whose flag is the @n bytes at @name; NULL when none. */
static const struct opt *find_opt(const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < NOPTS; i++) {
        if (strlen(opts[i].flag) == n && strncmp(name, opts[i].flag, n) == 0)
            return &opts[i];
    }
    return NULL;
}

/* find_own - @cmd's own flag named by the @n bytes at @name; NULL when none. */
static struct mr_cmd_flag *find_own(struct mr_cmd *cmd, const char *name, size_t n)
{
    struct mr_cmd_flag *f;

    for (f = cmd->flags; f != NULL && f->flag != NULL; f++) {
        if (strlen(f->flag) == n && strncmp(name, f->flag, n) == 0)
            return f;
    }
    return NULL;
}

/* wants_help - whether --help or -h is among @argv before any "--". */
static bool wants_help(int argc, char **argv)
{
    int a;

    for (a = 0; a < argc && strcmp(argv[a], "--") != 0; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
            return true;
    }
    return false;
}

/*
 * refuse_option - the error for option @o given to @cmd, which does not take
 * it: names the flag and the flags @cmd does take.
 */
static int refuse_option(const struct opt *o, const struct mr_cmd *cmd, struct mr_err *err)
{
    struct mr_buf b;
    const struct mr_cmd_flag *f;
    size_t i;
    int rc;

    mr_buf_init(&b, 4096);
    for (f = cmd->flags; f != NULL && f->flag != NULL; f++)
        mr_buf_addf(&b, "%s%s", b.len > 0 ? ", " : "", f->flag);
    for (i = 0; i < NOPTS; i++) {
        if (takes(&opts[i], cmd))
            mr_buf_addf(&b, "%s%s", b.len > 0 ? ", " : "", opts[i].flag);
    }
    rc = mr_err_set(err, MR_EINVAL, "%s: only `msgrelay serve` takes it; %s takes %s", o->flag,
                    cmd->name, b.len > 0 ? b.p : "no flags");
    mr_buf_release(&b);
    return rc;
}

/*
 * set_own - @cmd's own flag @f from argv[*a] (its name @n bytes long, "=value" or not);
 * a value without "=" is the next argument (*a moves on).
 */
static int set_own(struct mr_cmd_flag *f, int argc, char **argv, int *a, size_t n,
                   struct mr_err *err)
{
    const char *arg = argv[*a];

    if (f->arg == NULL) {
        if (arg[n] == '=')
            return mr_err_set(err, MR_EINVAL, "%s: takes no value", f->flag);
        f->value = "";
    } else if (arg[n] == '=') {
        f->value = arg + n + 1;
    } else if (*a + 1 < argc) {
        f->value = argv[++*a];
    } else {
        return mr_err_set(err, MR_EINVAL, "%s: needs a value", f->flag);
    }
    return 0;
}

int mr_relay_config_parse(struct mr_cmd *cmd, int argc, char **argv, struct mr_config *c,
                          struct mr_err *err)
{
    bool flagged[NOPTS] = {false}; /* a list given by flag replaces its variable's list */
    bool given[NOPTS] = {false};   /* set by a flag or a variable, not defaulted */
    bool dashes = false;           /* past "--": positional arguments only */
    size_t i;
    int a;
    int rc;

    mr_config_defaults(c);
    cmd->arg_value = NULL;
    cmd->help = wants_help(argc, argv);
    if (cmd->help)
        return 0;
    for (i = 0; i < NOPTS; i++) {
        const char *v = getenv(opts[i].env);

        if (v != NULL && v[0] != '\0' && takes(&opts[i], cmd)) {
            if (opts[i].type == T_LIST)
                rc = set_env_list(&opts[i], v, c, err);
            else
                rc = set(&opts[i], v, c, opts[i].env, err);
            if (rc != 0)
                return rc;
            given[i] = true;
        }
    }
    for (a = 0; a < argc; a++) {
        const char *arg = argv[a];
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        struct mr_cmd_flag *own;
        const struct opt *o;
        const char *val;

        if (!dashes && strcmp(arg, "--") == 0) {
            dashes = true;
            continue;
        }
        if (dashes || arg[0] != '-' || arg[1] == '\0') {
            if (cmd->arg == NULL || cmd->arg_value != NULL)
                return mr_err_set(err, MR_EINVAL,
                                  "unexpected argument '%s' (see msgrelay %s --help)", arg,
                                  cmd->name);
            cmd->arg_value = arg;
            continue;
        }
        own = find_own(cmd, arg, n);
        if (own != NULL) {
            rc = set_own(own, argc, argv, &a, n, err);
            if (rc != 0)
                return rc;
            continue;
        }
        o = find_opt(arg, n);
        if (o == NULL)
            /* the name only: "--api-tokn=SECRET" must not print the secret */
            return mr_err_set(err, MR_EINVAL, "unknown flag '%.*s' (see msgrelay %s --help)",
                              (int)n, arg, cmd->name);
        if (!takes(o, cmd))
            return refuse_option(o, cmd, err);
        if (o->type == T_LIST && !flagged[o - opts]) {
            list_clear(o, c);
            flagged[o - opts] = true;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (o->type == T_BOOL) {
            val = "true";
        } else if (a + 1 < argc) {
            val = argv[++a];
        } else {
            return mr_err_set(err, MR_EINVAL, "%s: needs a value", o->flag);
        }
        rc = set(o, val, c, o->flag, err);
        if (rc != 0)
            return rc;
        given[o - opts] = true;
    }
    if (c->kafka_properties.n > 0 && c->kafka_brokers == NULL)
        return mr_err_set(err, MR_EINVAL, "--kafka-property: needs --kafka-brokers");
    if (c->max_retry_interval < c->retry_interval)
        return mr_err_set(err, MR_EINVAL, "--max-retry-interval: %d is below --retry-interval %d",
                          c->max_retry_interval, c->retry_interval);
    rc = check_limits(c, given, err);
    if (rc != 0)
        return rc;
    /* parsed once, read by every thread: a bad entry stops the start */
    rc = mr_target_policy_parse(c->allow_targets, c->deny_targets, &c->targets, err);
    if (rc != 0)
        return rc;
    /* the webhook passes the target policy like every outbound call: refused at start */
    if (c->alert_webhook != NULL && c->alert_webhook[0] != '\0') {
        struct mr_target_policy *saved = mr_config.targets;

        mr_config.targets = c->targets;
        rc = mr_alert_check_url(c->alert_webhook, err);
        mr_config.targets = saved;
    }
    return rc;
}

/* default_text - the default of @o as text, for --help. */
static void default_text(const struct opt *o, const struct mr_config *d, char *out, size_t size)
{
    const char *field = (const char *)d + o->offset;
    static const char *const levels[] = {"debug", "info", "warn", "error"};

    switch (o->type) {
    case T_STR:
        snprintf(out, size, "%s", *(char *const *)field ? *(char *const *)field
                                  : o->unset ? o->unset : "-");
        break;
    case T_BOOL:
        snprintf(out, size, "%s", *(const bool *)field ? "true" : "false");
        break;
    case T_LEVEL:
        snprintf(out, size, "%s", levels[*(const int *)field & 3]);
        break;
    case T_INT:
        snprintf(out, size, "%d", *(const int *)field);
        break;
    case T_SIZE:
        snprintf(out, size, "%zu", *(const size_t *)field);
        break;
    case T_DURATION:
        mr_duration_format(*(const long long *)field, out, size);
        break;
    case T_LIST:
    case T_SECRET:
        snprintf(out, size, "none");
        break;
    }
}

/* metavar - the name of @o's value in a usage line: its variable without MSGRELAY_. */
static const char *metavar(const struct opt *o)
{
    return o->env + strlen("MSGRELAY_");
}

/* print_opt - one line of the options table: flag, variable, help, default, other commands. */
static void print_opt(FILE *out, const struct opt *o, const struct mr_config *d,
                      const struct mr_cmd *cmds, size_t n)
{
    const char *sep = "; also ";
    char def[64];
    size_t i;


    default_text(o, d, def, sizeof(def));
    fprintf(out, "  %-26s %-32s %s (default %s", o->flag, o->env, o->help, def);
    for (i = 0; cmds != NULL && i < n; i++) {
        if (cmds[i].bit != MR_CMD_SERVE && (o->cmds & cmds[i].bit) != 0) {
            fprintf(out, "%s%s", sep, cmds[i].name);
            sep = ", ";
        }
    }
    fprintf(out, ")\n");
}

/* print_word - add @w to a usage line at column *@col, wrapping at 79 under column @indent. */
static void print_word(FILE *out, const char *w, size_t *col, size_t indent)
{
    size_t len = strlen(w);

    if (*col + 1 + len > 79) {
        fprintf(out, "\n%*s", (int)indent, "");
        *col = indent;
    } else {
        fputc(' ', out);
        (*col)++;
    }
    fputs(w, out);
    *col += len;
}

/* print_synopsis - "msgrelay NAME [ARG] [--flag V]..." for @cmd, wrapped; @lead starts it. */
static void print_synopsis(FILE *out, const char *lead, const struct mr_cmd *cmd)
{
    const struct mr_cmd_flag *f;
    size_t indent = strlen(lead) + strlen("msgrelay ") + strlen(cmd->name) + 1;
    size_t col;
    char w[96];
    size_t i;

    col = (size_t)fprintf(out, "%smsgrelay %s", lead, cmd->name);
    if (cmd->arg != NULL)
        print_word(out, cmd->arg, &col, indent);
    for (f = cmd->flags; f != NULL && f->flag != NULL; f++) {
        snprintf(w, sizeof(w), "[%s%s%s]", f->flag, f->arg != NULL ? " " : "",
                 f->arg != NULL ? f->arg : "");
        print_word(out, w, &col, indent);
    }
    if (cmd->bit == MR_CMD_SERVE) {
        print_word(out, "[flags]", &col, indent);
    } else if (cmd->bit == MR_CMD_IMPORT_DTM) {
        print_word(out, "[serve's flags]", &col, indent);
    } else {
        for (i = 0; i < NOPTS; i++) {
            if (!takes(&opts[i], cmd))
                continue;
            snprintf(w, sizeof(w), "[%s%s%s]", opts[i].flag, opts[i].type == T_BOOL ? "" : " ",
                     opts[i].type == T_BOOL ? "" : metavar(&opts[i]));
            print_word(out, w, &col, indent);
        }
    }
    fputc('\n', out);
}

void mr_relay_config_usage(void *out_file, const struct mr_cmd *cmds, size_t n)
{
    FILE *out = out_file;
    struct mr_config d;
    size_t i;

    mr_config_defaults(&d);
    for (i = 0; i < n; i++)
        print_synopsis(out, i == 0 ? "usage: " : "       ", &cmds[i]);
    fprintf(out, "       msgrelay --help | --version\n\nCommands (flags and arguments in any "
                 "order; msgrelay COMMAND --help tells more):\n");
    for (i = 0; i < n; i++)
        fprintf(out, "  %-14s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "\nFlags of serve (each also read from its environment variable; flags win; "
                 "\"also\" names the other commands that take it):\n");
    for (i = 0; i < NOPTS; i++)
        print_opt(out, &opts[i], &d, cmds, n);
    mr_config_free(&d);
}

void mr_relay_config_cmd_usage(void *out_file, const struct mr_cmd *cmd)
{
    FILE *out = out_file;
    const struct mr_cmd_flag *f;
    struct mr_config d;
    char w[96];
    size_t i;

    mr_config_defaults(&d);
    print_synopsis(out, "usage: ", cmd);
    fprintf(out, "\nmsgrelay %s: %s.\n", cmd->name, cmd->summary);
    if (cmd->flags != NULL && cmd->flags[0].flag != NULL)
        fprintf(out, "\nFlags of %s:\n", cmd->name);
    for (f = cmd->flags; f != NULL && f->flag != NULL; f++) {
        snprintf(w, sizeof(w), "%s%s%s", f->flag, f->arg != NULL ? " " : "",
                 f->arg != NULL ? f->arg : "");
        fprintf(out, "  %-26s %s\n", w, f->help);
    }
    for (i = 0; i < NOPTS && !takes(&opts[i], cmd); i++)
        ;
    if (i < NOPTS)
        fprintf(out, "\nSettings (each also read from its environment variable; flags win):\n");
    for (i = 0; i < NOPTS; i++) {
        if (takes(&opts[i], cmd))
            print_opt(out, &opts[i], &d, NULL, 0);
    }
    mr_config_free(&d);
}
