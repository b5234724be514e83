/* SPDX-License-Identifier: MIT */
/*
 * prepare_reply.c - the one JSON envelope writer, and the DTM shapes of the
 * query and all answers.
 *
 * DTM clients read both the status code and the dtm_result text (the Go client
 * treats any body containing FAILURE as an error), so every answer goes
 * through mr_reply_envelope() or mr_reply_json(). Must not: show a URL's
 * credentials (http://user:pass@host): every URL and error text rendered
 * here goes through mr_url_mask(). Pure functions; any thread.
 */
#include "prepare/prepare_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/mem.h"
#include "common/url.h"

void mr_req_free(struct mr_req *r)
{
    if (r == NULL)
        return;
    mr_msg_free(r->msg);
    free(r->gid);
    free(r->topic);
    free(r->url);
    free(r->remark);
    free(r->kv_cat);
    free(r->kv_key);
    free((char *)r->redrive.gid_prefix);
    free((char *)r->redrive.url_prefix);
    free((char *)r->redrive.error);
    free((char *)r->filter.gid_prefix);
    free(r->answer.body);
    free(r);
}

/* jmasked - @s (may be NULL: "") with URL credentials masked, as a JSON string. */
static json_t *jmasked(const char *s)
{
    char *m = mr_url_masked(s != NULL ? s : "");
    json_t *j = json_string(m);

    free(m);
    return j != NULL ? j : json_string("");
}

/*
 * message_string - @message, its URL credentials masked, as a JSON string. A
 * message may quote bytes of a bad request (jansson's "near '...'", a refused
 * header name) or be cut in the middle of a character by struct mr_err's size;
 * jansson refuses such text, so every byte that starts no valid UTF-8 sequence
 * becomes '?' instead of the message being lost.
 */
static json_t *message_string(const char *message)
{
    char *masked = mr_url_masked(message != NULL ? message : "");
    const unsigned char *s = (const unsigned char *)masked;
    size_t left = strlen(masked);
    json_t *j = json_string(masked);
    /* never longer than the text, so no append below can pass the cap */
    struct mr_buf clean = MR_BUF_INIT(left);

    if (j != NULL) {
        free(masked);
        return j;
    }
    while (left > 0) {
        size_t n = mr_utf8_len(s, left);

        if (n == 0)
            mr_buf_addc(&clean, '?');
        else
            mr_buf_add(&clean, s, n);
        s += n > 0 ? n : 1;
        left -= n > 0 ? n : 1;
    }
    j = json_string(clean.p != NULL ? clean.p : "");
    mr_buf_release(&clean);
    free(masked);
    return j != NULL ? j : json_string("");
}

void mr_reply_envelope(struct mr_answer *a, int status, const char *message)
{
    json_t *j = json_object();

    if (status == 200) {
        json_object_set_new(j, "dtm_result", json_string("SUCCESS"));
    } else if (status == 400 || status == 401 || status == 403 || status == 409 ||
               status == 413) {
        json_object_set_new(j, "dtm_result", json_string("FAILURE"));
        json_object_set_new(j, "message", message_string(message));
    } else if (status == 425) {
        json_object_set_new(j, "dtm_result", json_string("ONGOING"));
        json_object_set_new(j, "message", message_string(message));
    } else {
        json_object_set_new(j, "message", message_string(message));
    }
    free(a->body);
    a->status = status;
    a->body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
}

void mr_reply_envelopef(struct mr_answer *a, int status, const char *fmt, ...)
{
    struct mr_buf msg = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    va_list ap;

    va_start(ap, fmt);
    mr_buf_vaddf(&msg, fmt, ap);
    va_end(ap);
    mr_reply_envelope(a, status, msg.p);
    mr_buf_release(&msg);
}

static char *dump(json_t *j, bool indent);

void mr_reply_json(struct mr_answer *a, json_t *j)
{
    free(a->body);
    a->status = 200;
    a->body = dump(j, false);
}

/* base64 - standard base64 of @n bytes, as Go renders a []byte. Owned result. */
static char *base64(const char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = (const unsigned char *)p;
    char *out = mr_xmalloc((n + 2) / 3 * 4 + 1);
    size_t i;
    size_t o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        out[o++] = tab[s[i] >> 2];
        out[o++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        out[o++] = tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        out[o++] = tab[s[i + 2] & 63];
    }
    if (i < n) {
        out[o++] = tab[s[i] >> 2];
        if (i + 1 < n) {
            out[o++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            out[o++] = tab[(s[i + 1] & 15) << 2];
        } else {
            out[o++] = tab[(s[i] & 3) << 4];
            out[o++] = '=';
        }
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* set_time - @key as RFC 3339, or nothing when @ms is unset (Go's omitempty). */
static void set_time(json_t *o, const char *key, int64_t ms, bool always)
{
    char ts[40];

    if (ms <= 0) {
        if (always)
            json_object_set_new(o, key, json_null());
        return;
    }
    mr_time_rfc3339(ms, ts, sizeof(ts));
    json_object_set_new(o, key, json_string(ts));
}

static void set_str(json_t *o, const char *key, const char *s)
{
    if (s != NULL && s[0] != '\0')
        json_object_set_new(o, key, json_string(s));
}

/* set_masked - set_str() for a URL or a text that may quote one. */
static void set_masked(json_t *o, const char *key, const char *s)
{
    if (s != NULL && s[0] != '\0')
        json_object_set_new(o, key, jmasked(s));
}

/*
 * masked_headers - the message's branch_headers with every value shown as
 * "***": they often carry credentials (Authorization, API keys), and an answer
 * never shows a secret back. The relay still sends the values as stored.
 */
static json_t *masked_headers(const char *text)
{
    json_t *h = json_loads(text, 0, NULL);
    const char *key;
    json_t *v;

    if (!json_is_object(h)) {
        json_decref(h);
        return NULL;
    }
    json_object_foreach(h, key, v)
        json_object_set_new(h, key, json_string("***"));
    return h;
}

static void set_headers(json_t *o, const char *text)
{
    json_t *h;

    if (text == NULL || text[0] == '\0')
        return;
    h = masked_headers(text);
    if (h != NULL)
        json_object_set_new(o, "branch_headers", h);
}

static void set_int(json_t *o, const char *key, long long v)
{
    if (v != 0)
        json_object_set_new(o, key, json_integer(v));
}

/* set_options - the trans options of @m into @o, as DTM writes them. */
static void set_options(json_t *o, const struct mr_msg *m)
{
    if (m->wait_result)
        json_object_set_new(o, "wait_result", json_true());
    set_int(o, "timeout_to_fail", m->timeout_to_fail);
    set_int(o, "request_timeout", m->request_timeout);
    set_int(o, "retry_interval", m->retry_interval);
    set_int(o, "retry_limit", m->retry_limit);
    set_headers(o, m->branch_headers);
    json_object_set_new(o, "concurrent", json_boolean(m->concurrent));
}

/* options_text - the options as DTM stores them: a JSON string of the trans options. */
static char *options_text(const struct mr_msg *m)
{
    json_t *o = json_object();
    char *s;

    set_options(o, m);
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* render_transaction - TransGlobalStore's JSON shape, keys in DTM's order. */
static json_t *render_transaction(const struct mr_msg *m)
{
    json_t *t = json_object();
    char *opts = options_text(m);
    size_t i;

    json_object_set_new(t, "id", json_integer(m->id));
    set_time(t, "create_time", m->create_ms, true);
    set_time(t, "update_time", m->update_ms, true);
    json_object_set_new(t, "gid", json_string(m->gid));
    json_object_set_new(t, "trans_type", json_string("msg"));
    if (m->nsteps > 0) {
        json_t *steps = json_array();
        json_t *payloads = json_array();

        for (i = 0; i < m->nsteps; i++) {
            json_t *s = json_object();

            json_object_set_new(s, "action", jmasked(m->steps[i].url));
            json_array_append_new(steps, s);
            json_array_append_new(payloads,
                                  json_stringn(m->steps[i].payload, m->steps[i].payload_len));
        }
        json_object_set_new(t, "steps", steps);
        json_object_set_new(t, "payloads", payloads);
    }
    json_object_set_new(t, "status", json_string(mr_msg_state_name(m->state)));
    set_masked(t, "query_prepared", m->query_prepared);
    set_str(t, "protocol", m->protocol);
    set_time(t, "finish_time", m->finish_ms, false);
    set_time(t, "rollback_time", m->rollback_ms, false);
    set_masked(t, "result", m->result);
    json_object_set_new(t, "options", json_string(opts ? opts : "{}"));
    set_str(t, "custom_data", m->custom_data);
    set_int(t, "next_cron_interval", m->next_cron_interval);
    if (mr_msg_state_is_live(m->state))
        set_time(t, "next_cron_time", m->next_cron_ms, false);
    set_str(t, "owner", m->owner);
    if (m->ordering_key != NULL && m->ordering_key[0] != '\0') {
        json_object_set_new(t, "ordering_key", json_string(m->ordering_key));
        if (m->order_pos > 0)
            json_object_set_new(t, "ordering_position", json_integer(m->order_pos));
        if (m->order_waits_for != NULL)
            json_object_set_new(t, "waits_for", json_string(m->order_waits_for));
    }
    set_options(t, m);
    free(opts);
    return t;
}

/* render_branch - TransBranchStore's JSON shape, plus msgrelay's attempts and last_error. */
static json_t *render_branch(const struct mr_msg *m, const struct mr_step *s)
{
    json_t *b = json_object();
    char *data = base64(s->payload ? s->payload : "", s->payload_len);

    json_object_set_new(b, "id", json_integer(s->id));
    set_time(b, "create_time", s->create_ms, true);
    set_time(b, "update_time", s->update_ms, true);
    json_object_set_new(b, "gid", json_string(m->gid));
    json_object_set_new(b, "url", jmasked(s->url));
    json_object_set_new(b, "bin_data", json_string(data));
    json_object_set_new(b, "branch_id", json_string(s->branch_id));
    json_object_set_new(b, "op", json_string("action"));
    json_object_set_new(b, "status", json_string(mr_step_state_name(s->state)));
    set_time(b, "finish_time", s->finish_ms, false);
    json_object_set_new(b, "attempts", json_integer(s->attempts));
    set_masked(b, "last_error", s->last_error);
    free(data);
    return b;
}

json_t *mr_render_query(const struct mr_msg *m)
{
    json_t *j = json_object();
    json_t *branches = json_array();
    size_t i;

    if (m != NULL) {
        for (i = 0; i < m->nsteps; i++)
            json_array_append_new(branches, render_branch(m, &m->steps[i]));
    }
    json_object_set_new(j, "branches", branches);
    json_object_set_new(j, "transaction", m ? render_transaction(m) : json_null());
    return j;
}

json_t *mr_render_all(struct mr_msg **v, size_t n, size_t limit, long long gid_position)
{
    json_t *j = json_object();
    json_t *list = json_array();
    char pos[32] = "";
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(list, render_transaction(v[i]));
    if (gid_position > 0)
        snprintf(pos, sizeof(pos), "%lld", gid_position);
    else if (gid_position < 0 && n > 0 && n >= limit)
        snprintf(pos, sizeof(pos), "%lld", (long long)v[n - 1]->id);
    json_object_set_new(j, "transactions", list);
    json_object_set_new(j, "next_position", json_string(pos));
    return j;
}

/*
 * kv_value - a kv row's value as shown: a topic's JSON list of subscribers
 * with each string in it masked (structurally: masking the JSON text could
 * reach past a URL's closing quote); any other value masked as text.
 */
static json_t *kv_value(const char *v)
{
    json_t *list = mr_url_has_userinfo(v) ? json_loads(v, 0, NULL) : NULL;
    json_t *out;
    json_t *sub;
    json_t *val;
    const char *key;
    size_t i;
    char *text;

    if (list == NULL || !json_is_array(list)) {
        json_decref(list);
        return jmasked(v);
    }
    json_array_foreach(list, i, sub)
    {
        json_object_foreach(sub, key, val)
        {
            if (json_is_string(val))
                json_object_set_new(sub, key, jmasked(json_string_value(val)));
        }
    }
    text = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(list);
    out = text != NULL ? json_string(text) : NULL;
    free(text);
    return out != NULL ? out : json_string("[]");
}

/* render_kv - one kv row, keys in DTM's KVStore order. */
static json_t *render_kv(const struct mr_kv *kv)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(kv->id));
    set_time(o, "create_time", kv->create_ms, true);
    set_time(o, "update_time", kv->update_ms, true);
    json_object_set_new(o, "cat", json_string(kv->cat));
    json_object_set_new(o, "k", json_string(kv->k));
    json_object_set_new(o, "v", kv_value(kv->v));
    json_object_set_new(o, "version", json_integer(kv->version));
    return o;
}

json_t *mr_render_kvs(const struct mr_kv *v, size_t n, bool scan, size_t limit)
{
    json_t *o = json_object();
    json_t *a = json_array();
    char pos[24] = "";
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(a, render_kv(&v[i]));
    json_object_set_new(o, "kv", a);
    if (scan) {
        if (n > 0 && n >= limit)
            snprintf(pos, sizeof(pos), "%lld", (long long)v[n - 1].id);
        json_object_set_new(o, "next_position", json_string(pos));
    }
    return o;
}

/* dump - @j as text, compact as the API sends it or indented (@j is stolen). Owned: free(). */
static char *dump(json_t *j, bool indent)
{
    char *text = json_dumps(j, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                   (indent ? JSON_INDENT(2) : JSON_COMPACT));

    json_decref(j);
    return text;
}

char *mr_prepare_query_text(const struct mr_msg *m, bool indent)
{
    return dump(mr_render_query(m), indent);
}

char *mr_prepare_all_text(struct mr_msg **v, size_t n, size_t limit, bool indent)
{
    return dump(mr_render_all(v, n, limit, -1), indent);
}
