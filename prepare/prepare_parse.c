/* SPDX-License-Identifier: MIT */
/*
 * prepare_parse.c - request bodies in, validated messages out.
 *
 * Runs on the HTTP threads, before anything is queued or stored: a body that
 * fails here is answered 400 "<field>: <problem>" and changes nothing. Strict
 * about what is wrong, lenient about what is merely extra: unknown keys and
 * optional keys given as null are ignored, as DTM ignores them.
 * Every size that comes from outside is checked against mr_config.
 */
#include "prepare/prepare_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/config.h"
#include "common/header.h"
#include "common/kafka_url.h"
#include "common/mem.h"
#include "common/target.h"

#define MAX_SECONDS (366 * 24 * 3600)

/*
 * What a gid may not hold, beyond DTM's '\n', '\r' and ';': every other
 * control character (C0, DEL and C1: they break log lines, terminals and
 * header values) and broken UTF-8 (it cannot be rendered in JSON). Anything
 * else DTM takes is taken: '/', '#', '?', '&', '%', '+', spaces, non-ASCII.
 */
#define GID_RULE "gid: must be UTF-8 text without ';' or control characters"

int mr_check_gid(const char *gid, struct mr_err *err)
{
    const unsigned char *s = (const unsigned char *)gid;
    size_t n = strlen(gid);
    size_t i = 0;

    if (n == 0)
        return mr_err_set(err, MR_EINVAL, "gid: must not be empty");
    if (n > (size_t)mr_config.max_gid_len)
        return mr_err_set(err, MR_EINVAL, "gid: longer than %d bytes", mr_config.max_gid_len);
    while (i < n) {
        size_t l = mr_utf8_len(s + i, n - i);

        if (l == 0 || s[i] < 0x20 || s[i] == 0x7f || s[i] == ';' ||
            (l == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0))
            return mr_err_set(err, MR_EINVAL, GID_RULE);
        i += l;
    }
    return 0;
}

/* load_object - parse @body as a JSON object. */
static int load_object(const char *body, size_t len, json_t **out, struct mr_err *err)
{
    json_error_t jerr;
    json_t *j;

    if (len > mr_config.max_body)
        return mr_err_set(err, MR_EINVAL, "body: larger than %zu bytes", mr_config.max_body);
    /* payloads may carry NUL bytes (delivered whole); every other string is checked by has_nul() */
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (j == NULL)
        return mr_err_set(err, MR_EINVAL, "body: not valid JSON: %s (line %d)", jerr.text,
                          jerr.line);
    if (!json_is_object(j)) {
        json_decref(j);
        return mr_err_set(err, MR_EINVAL, "body: must be a JSON object");
    }
    *out = j;
    return 0;
}

/* has_nul - whether the JSON string @v holds a NUL byte (allowed in payloads only). */
static bool has_nul(json_t *v)
{
    return strlen(json_string_value(v)) != json_string_length(v);
}

/* get_gid - the required "gid" string, validated. Owned result. */
static int get_gid(json_t *root, char **gid, struct mr_err *err)
{
    json_t *v = json_object_get(root, "gid");
    int rc;

    if (v == NULL || json_is_null(v))
        return mr_err_set(err, MR_EINVAL, "gid: must not be empty");
    if (!json_is_string(v))
        return mr_err_set(err, MR_EINVAL, "gid: must be a string");
    if (has_nul(v))
        return mr_err_set(err, MR_EINVAL, GID_RULE);
    rc = mr_check_gid(json_string_value(v), err);
    if (rc != 0)
        return rc;
    *gid = mr_xstrdup(json_string_value(v));
    return 0;
}

/* opt_string - optional string @key: NULL/absent gives "", else a copy. */
static int opt_string(json_t *root, const char *key, char **out, struct mr_err *err)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL || json_is_null(v)) {
        *out = mr_xstrdup("");
        return 0;
    }
    if (!json_is_string(v))
        return mr_err_set(err, MR_EINVAL, "%s: must be a string", key);
    if (has_nul(v))
        return mr_err_set(err, MR_EINVAL, "%s: must not contain NUL characters", key);
    *out = mr_xstrndup(json_string_value(v), json_string_length(v));
    return 0;
}

/* opt_seconds - optional non-negative integer @key (seconds), 0 when absent. */
static int opt_seconds(json_t *root, const char *key, int *out, struct mr_err *err)
{
    json_t *v = json_object_get(root, key);
    json_int_t n;

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return mr_err_set(err, MR_EINVAL, "%s: must be a whole number of seconds", key);
    n = json_integer_value(v);
    if (n < 0)
        return mr_err_set(err, MR_EINVAL, "%s: must not be negative", key);
    if (n > MAX_SECONDS)
        return mr_err_set(err, MR_EINVAL, "%s: larger than %d seconds", key, MAX_SECONDS);
    *out = (int)n;
    return 0;
}

/*
 * opt_retry_limit - optional "retry_limit" (DTM's field): failed attempts of a
 * step or back-check before the message is parked, 0..MR_RETRY_LIMIT_MAX;
 * 0 or absent: the server's --retry-limit.
 */
static int opt_retry_limit(json_t *root, int *out, struct mr_err *err)
{
    json_t *v = json_object_get(root, "retry_limit");
    json_int_t n;

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return mr_err_set(err, MR_EINVAL, "retry_limit: must be a whole number");
    n = json_integer_value(v);
    if (n < 0 || n > MR_RETRY_LIMIT_MAX)
        return mr_err_set(err, MR_EINVAL, "retry_limit: must be between 0 and %d",
                          MR_RETRY_LIMIT_MAX);
    *out = (int)n;
    return 0;
}

int mr_parse_opt_bool(json_t *root, const char *key, bool *out, struct mr_err *err)
{
    json_t *v = json_object_get(root, key);

    *out = false;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return mr_err_set(err, MR_EINVAL, "%s: must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * curl_takes - whether libcurl's URL parser takes @s as it is, with a host. The
 * relay hands the URL to libcurl: one it cannot parse (a port over 65535, an
 * unclosed IPv6 literal) would be accepted here and then fail every call.
 */
static bool curl_takes(const char *s)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok;

    if (u == NULL)
        return false;
    ok = curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] != '\0';
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* is_http_url - an http(s) URL with a host, no spaces or control characters, that libcurl takes. */
static bool is_http_url(const char *s)
{
    const char *rest;
    size_t i;

    if (has_prefix(s, "http://"))
        rest = s + 7;
    else if (has_prefix(s, "https://"))
        rest = s + 8;
    else
        return false;
    if (*rest == '\0' || *rest == '/' || *rest == '?')
        return false;
    for (i = 0; s[i]; i++) {
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    }
    return curl_takes(s);
}

/* The refusal of a target by --allow-targets / --deny-targets, after "<field>: ". */
#define TARGET_DENIED "target denied by policy"

/*
 * target_ok - whether http(s) URL @url passes the target policy as far as the
 * URL tells (names, prefixes, IP literals; no DNS on an HTTP thread). A host
 * name left to an allow CIDR passes here and is judged when the call connects.
 */
static bool target_ok(const char *url)
{
    return mr_target_check_url(mr_config.targets, url) != MR_TARGET_DENY;
}

/* topic characters beyond letters and digits */
static const char topic_extra[] = "-_.";

int mr_check_topic(const char *name, struct mr_err *err)
{
    size_t n = strlen(name);
    size_t i;

    if (n == 0)
        return mr_err_set(err, MR_EINVAL, "topic: must not be empty");
    if (n > MR_TOPIC_NAME_MAX)
        return mr_err_set(err, MR_EINVAL, "topic: longer than %d characters", MR_TOPIC_NAME_MAX);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];

        if (!isalnum(c) && strchr(topic_extra, c) == NULL)
            return mr_err_set(err, MR_EINVAL, "topic: may contain only letters, digits and %s",
                              topic_extra);
    }
    return 0;
}

int mr_check_subscriber_url(const char *url, struct mr_err *err)
{
    struct mr_kafka_url ku;
    struct mr_err kerr = MR_ERR_INIT;
    size_t i;

    if (strlen(url) > (size_t)mr_config.max_url_len)
        return mr_err_set(err, MR_EINVAL, "url: longer than %d characters", mr_config.max_url_len);
    for (i = 0; url[i] != '\0'; i++) {
        if ((unsigned char)url[i] >= 0x80)
            return mr_err_set(err, MR_EINVAL, "url: must be ASCII (percent-encode the rest)");
    }
    if (mr_kafka_url_is(url)) {
        if (mr_config.kafka_brokers == NULL)
            return mr_err_set(err, MR_EINVAL,
                              "url: kafka destinations are not configured on this relay");
        if (mr_kafka_url_parse(url, &ku, &kerr) != 0)
            return mr_err_set(err, MR_EINVAL, "url: %s", kerr.msg);
        return 0;
    }
    if (!is_http_url(url))
        return mr_err_set(err, MR_EINVAL, "url: must be an http:// or https:// URL (or kafka://)");
    if (!target_ok(url))
        return mr_err_set(err, MR_EINVAL, "url: %s", TARGET_DENIED);
    return 0;
}

/*
 * legacy_payloads - DTM's older body form: a step may carry its payload as a
 * string "data", which DTM appends to the payloads (after those of "payloads",
 * in step order, empty ones skipped). When any step has one, *@payloads
 * becomes a new array (the caller's reference) holding that list cut to one
 * entry per step, as DTM reads only those; else it is left as it is.
 */
static int legacy_payloads(json_t *steps, json_t **payloads, struct mr_err *err)
{
    json_t *all = NULL;
    json_t *step;
    size_t i;

    if (*payloads != NULL && !json_is_null(*payloads) && !json_is_array(*payloads))
        return 0; /* refused as it is */
    json_array_foreach(steps, i, step)
    {
        json_t *d = json_is_object(step) ? json_object_get(step, "data") : NULL;

        if (d == NULL || json_is_null(d) || (json_is_string(d) && json_string_length(d) == 0))
            continue;
        if (!json_is_string(d)) {
            json_decref(all);
            return mr_err_set(err, MR_EINVAL, "steps[%zu].data: must be a string", i);
        }
        if (all == NULL) {
            all = json_array();
            if (json_is_array(*payloads))
                json_array_extend(all, *payloads);
        }
        json_array_append(all, d);
    }
    if (all == NULL)
        return 0;
    while (json_array_size(all) > json_array_size(steps))
        json_array_remove(all, json_array_size(all) - 1);
    *payloads = all;
    return 0;
}

/*
 * parse_each_step - step i of @steps with payload i of @payloads (as many)
 * into @m->steps. An empty action is a step that succeeds without a call, as
 * in DTM.
 */
static int parse_each_step(json_t *steps, json_t *payloads, struct mr_msg *m, struct mr_err *err)
{
    size_t n = json_array_size(steps);
    size_t i;

    m->steps = mr_xcalloc(n, sizeof(*m->steps));
    m->nsteps = n;
    for (i = 0; i < n; i++) {
        json_t *step = json_array_get(steps, i);
        json_t *action = json_is_object(step) ? json_object_get(step, "action") : NULL;
        json_t *payload = json_array_get(payloads, i);
        struct mr_step *st = &m->steps[i];
        const char *url;
        char id[24];

        if (!json_is_object(step))
            return mr_err_set(err, MR_EINVAL, "steps[%zu]: must be an object with an action", i);
        if (action == NULL || json_is_null(action))
            url = "";
        else if (!json_is_string(action))
            return mr_err_set(err, MR_EINVAL, "steps[%zu].action: must be a string", i);
        else
            url = json_string_value(action);
        if (action != NULL && json_is_string(action) && has_nul(action))
            return mr_err_set(err, MR_EINVAL, "steps[%zu].action: must not contain NUL characters",
                              i);
        if (strlen(url) > (size_t)mr_config.max_url_len)
            return mr_err_set(err, MR_EINVAL, "steps[%zu].action: longer than %d characters", i,
                              mr_config.max_url_len);
        if (url[0] == '\0') {
            /* no call: succeeds at its turn */
        } else if (mr_kafka_url_is(url)) {
            struct mr_kafka_url ku;
            struct mr_err kerr = MR_ERR_INIT;

            if (mr_config.kafka_brokers == NULL)
                return mr_err_set(
                    err, MR_EINVAL,
                    "steps[%zu].action: kafka destinations are not configured on this relay", i);
            if (mr_kafka_url_parse(url, &ku, &kerr) != 0)
                return mr_err_set(err, MR_EINVAL, "steps[%zu].action: %s", i, kerr.msg);
        } else if (has_prefix(url, MR_TOPIC_SCHEME)) {
            struct mr_err terr = MR_ERR_INIT;

            /* the writer expands it to the topic's subscribers, read at prepare/submit */
            if (mr_check_topic(url + strlen(MR_TOPIC_SCHEME), &terr) != 0)
                return mr_err_set(err, MR_EINVAL, "steps[%zu].action: %s", i, terr.msg);
        } else if (!is_http_url(url)) {
            return mr_err_set(
                err, MR_EINVAL,
                "steps[%zu].action: must be an http:// or https:// URL (or kafka://, topic://)", i);
        } else if (!target_ok(url)) {
            return mr_err_set(err, MR_EINVAL, "steps[%zu].action: %s", i, TARGET_DENIED);
        }
        if (!json_is_string(payload))
            return mr_err_set(err, MR_EINVAL, "payloads[%zu]: must be a string", i);
        snprintf(id, sizeof(id), "%02zu", i + 1);
        st->branch_id = mr_xstrdup(id);
        st->url = mr_xstrdup(url);
        st->payload = mr_xstrndup(json_string_value(payload), json_string_length(payload));
        st->payload_len = json_string_length(payload);
        st->state = MR_STEP_PREPARED;
    }
    return 0;
}

/*
 * parse_steps - "steps" and "payloads" into @m->steps. With @optional, a body
 * without steps is accepted (nsteps 0): a submit after a prepare may leave them
 * out, and the writer refuses it only when the message turns out to be new.
 */
static int parse_steps(json_t *root, struct mr_msg *m, bool optional, struct mr_err *err)
{
    json_t *steps = json_object_get(root, "steps");
    json_t *payloads = json_object_get(root, "payloads");
    size_t n;
    int rc;

    if (optional && (steps == NULL || json_is_null(steps)) &&
        (payloads == NULL || json_is_null(payloads)))
        return 0;
    if (steps == NULL || json_is_null(steps))
        return mr_err_set(err, MR_EINVAL, "steps: must not be empty");
    if (!json_is_array(steps))
        return mr_err_set(err, MR_EINVAL, "steps: must be an array");
    n = json_array_size(steps);
    if (n == 0)
        return mr_err_set(err, MR_EINVAL, "steps: must not be empty");
    if (n > (size_t)mr_config.max_steps)
        return mr_err_set(err, MR_EINVAL, "steps: more than %d steps", mr_config.max_steps);
    rc = legacy_payloads(steps, &payloads, err);
    if (rc != 0)
        return rc;
    if (payloads == NULL || json_is_null(payloads) || !json_is_array(payloads))
        rc = mr_err_set(err, MR_EINVAL, "payloads: must be an array with one string per step");
    else if (json_array_size(payloads) != n)
        rc = mr_err_set(err, MR_EINVAL, "payloads: %zu entries for %zu steps",
                        json_array_size(payloads), n);
    if (rc == 0)
        rc = parse_each_step(steps, payloads, m, err);
    if (payloads != json_object_get(root, "payloads"))
        json_decref(payloads);
    return rc;
}

/*
 * parse_headers - "branch_headers": an object of header name -> string value,
 * each pair allowed by mr_header_check() (no framing, hop-by-hop or routing
 * header, token names, printable values), within the limits of common/header.h.
 */
static int parse_headers(json_t *root, struct mr_msg *m, struct mr_err *err)
{
    json_t *h = json_object_get(root, "branch_headers");
    const char *key;
    json_t *val;
    size_t total = 0;

    if (h == NULL || json_is_null(h) || (json_is_object(h) && json_object_size(h) == 0)) {
        m->branch_headers = mr_xstrdup("");
        return 0;
    }
    if (!json_is_object(h))
        return mr_err_set(err, MR_EINVAL, "branch_headers: must be an object of strings");
    if (json_object_size(h) > MR_HEADER_MAX_COUNT)
        return mr_err_set(err, MR_EINVAL, "branch_headers: more than %d headers",
                          MR_HEADER_MAX_COUNT);
    json_object_foreach(h, key, val)
    {
        int rc;

        if (!json_is_string(val))
            return mr_err_set(err, MR_EINVAL, "branch_headers: value of '%s' must be a string",
                              key);
        rc = mr_header_check(key, json_string_value(val), json_string_length(val), err);
        if (rc != 0)
            return rc;
        total += strlen(key) + json_string_length(val);
        if (total > MR_HEADERS_TOTAL_MAX)
            return mr_err_set(err, MR_EINVAL, "branch_headers: more than %d bytes in all",
                              MR_HEADERS_TOTAL_MAX);
    }
    m->branch_headers = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (m->branch_headers == NULL)
        return mr_err_set(err, MR_EINVAL, "branch_headers: cannot be serialised");
    return 0;
}

/*
 * order_key - @v, the "ordering_key" of @where, into m->ordering_key: a
 * string of at most MR_ORDER_KEY_MAX bytes (UTF-8, as jansson reads every
 * string) without control characters; "" or null leave the message unkeyed.
 */
static int order_key(struct mr_msg *m, json_t *v, const char *where, struct mr_err *err)
{
    const unsigned char *p;
    size_t len;
    size_t i;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mr_err_set(err, MR_EINVAL, "%sordering_key: must be a string", where);
    p = (const unsigned char *)json_string_value(v);
    len = json_string_length(v);
    if (len > MR_ORDER_KEY_MAX)
        return mr_err_set(err, MR_EINVAL, "%sordering_key: longer than %d bytes", where,
                          MR_ORDER_KEY_MAX);
    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return mr_err_set(err, MR_EINVAL, "%sordering_key: must not hold control characters",
                              where);
    }
    if (m->ordering_key != NULL && m->ordering_key[0] != '\0' &&
        strcmp(m->ordering_key, (const char *)p) != 0)
        return mr_err_set(err, MR_EINVAL,
                          "ordering_key: differs from custom_data's ordering_key");
    free(m->ordering_key);
    m->ordering_key = mr_xstrdup((const char *)p);
    return 0;
}

/* parse_custom - "custom_data": a JSON object text; msg reads its "delay" and "ordering_key". */
static int parse_custom(struct mr_msg *m, struct mr_err *err)
{
    json_error_t jerr;
    json_t *c;
    json_t *d;
    json_t *ok = NULL;
    const char *key;
    json_t *val;
    int rc;

    m->delay = 0;
    if (m->custom_data[0] == '\0')
        return 0;
    if (strlen(m->custom_data) > 1024)
        return mr_err_set(err, MR_EINVAL, "custom_data: longer than 1024 characters");
    c = json_loads(m->custom_data, 0, &jerr);
    if (c == NULL || !json_is_object(c)) {
        json_decref(c);
        return mr_err_set(err, MR_EINVAL,
                          "custom_data: must be a JSON object text such as {\"delay\":10}");
    }
    /* Go's decoder matches the field name case-insensitively; so do we */
    d = NULL;
    json_object_foreach(c, key, val)
    {
        if (strcasecmp(key, "delay") == 0)
            d = val;
        else if (strcasecmp(key, "ordering_key") == 0)
            ok = val;
    }
    rc = order_key(m, ok, "custom_data: ", err);
    if (rc != 0) {
        json_decref(c);
        return rc;
    }
    if (d != NULL && !json_is_null(d)) {
        if (!json_is_integer(d) || json_integer_value(d) < 0 ||
            json_integer_value(d) > MAX_SECONDS) {
            json_decref(c);
            return mr_err_set(err, MR_EINVAL,
                              "custom_data: delay must be a whole number of seconds");
        }
        m->delay = (int)json_integer_value(d);
    }
    json_decref(c);
    return 0;
}

/* parse_fields - everything of a prepare/submit body into @m. */
static int parse_fields(json_t *root, struct mr_msg *m, bool steps_optional, struct mr_err *err)
{
    json_t *tt = json_object_get(root, "trans_type");
    int rc;

    rc = get_gid(root, &m->gid, err);
    if (rc != 0)
        return rc;
    if (tt == NULL || !json_is_string(tt) || has_nul(tt) ||
        strcmp(json_string_value(tt), "msg") != 0)
        return mr_err_set(err, MR_EINVAL, "trans_type: must be \"msg\"");
    rc = parse_steps(root, m, steps_optional, err);
    if (rc == 0)
        rc = opt_string(root, "query_prepared", &m->query_prepared, err);
    if (rc == 0 && m->query_prepared[0] != '\0') {
        if (strlen(m->query_prepared) > (size_t)mr_config.max_url_len)
            rc = mr_err_set(err, MR_EINVAL, "query_prepared: longer than %d characters",
                            mr_config.max_url_len);
        else if (!is_http_url(m->query_prepared))
            rc = mr_err_set(err, MR_EINVAL, "query_prepared: must be an http:// or https:// URL");
        else if (!target_ok(m->query_prepared))
            rc = mr_err_set(err, MR_EINVAL, "query_prepared: %s", TARGET_DENIED);
    }
    if (rc == 0)
        rc = opt_string(root, "protocol", &m->protocol, err);
    if (rc == 0) {
        if (m->protocol[0] != '\0' && strcmp(m->protocol, "http") != 0)
            rc = mr_err_set(err, MR_EINVAL, "protocol: only \"http\" is supported");
        free(m->protocol);
        m->protocol = mr_xstrdup("http");
    }
    if (rc == 0)
        rc = opt_string(root, "custom_data", &m->custom_data, err);
    if (rc == 0)
        rc = parse_custom(m, err);
    if (rc == 0)
        rc = order_key(m, json_object_get(root, "ordering_key"), "", err);
    if (rc == 0 && m->ordering_key == NULL)
        m->ordering_key = mr_xstrdup("");
    if (rc == 0)
        rc = mr_parse_opt_bool(root, "wait_result", &m->wait_result, err);
    if (rc == 0)
        rc = mr_parse_opt_bool(root, "concurrent", &m->concurrent, err);
    if (rc == 0)
        rc = opt_seconds(root, "timeout_to_fail", &m->timeout_to_fail, err);
    if (rc == 0)
        rc = opt_seconds(root, "retry_interval", &m->retry_interval, err);
    if (rc == 0)
        rc = opt_seconds(root, "request_timeout", &m->request_timeout, err);
    if (rc == 0)
        rc = opt_retry_limit(root, &m->retry_limit, err);
    if (rc == 0)
        rc = parse_headers(root, m, err);
    return rc;
}

int mr_parse_msg(const char *body, size_t len, bool steps_optional, struct mr_msg **out,
                 struct mr_err *err)
{
    json_t *root;
    struct mr_msg *m;
    int rc;

    rc = load_object(body, len, &root, err);
    if (rc != 0)
        return rc;
    m = mr_msg_new(0);
    rc = parse_fields(root, m, steps_optional, err);
    json_decref(root);
    if (rc != 0) {
        mr_msg_free(m);
        return rc;
    }
    m->owner = mr_xstrdup("");
    m->result = mr_xstrdup("");
    *out = m;
    return 0;
}

int mr_prepare_check_msg(const char *body, size_t len, struct mr_msg **out, struct mr_err *err)
{
    return mr_parse_msg(body, len, false, out, err);
}

int mr_parse_gid_body(const char *body, size_t len, char **gid, struct mr_err *err)
{
    json_t *root;
    json_t *tt;
    int rc;

    rc = load_object(body, len, &root, err);
    if (rc != 0)
        return rc;
    tt = json_object_get(root, "trans_type");
    if (tt != NULL && !json_is_null(tt) &&
        (!json_is_string(tt) || has_nul(tt) || strcmp(json_string_value(tt), "msg") != 0))
        rc = mr_err_set(err, MR_EINVAL, "trans_type: must be \"msg\"");
    if (rc == 0)
        rc = get_gid(root, gid, err);
    json_decref(root);
    return rc;
}
