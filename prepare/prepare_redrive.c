/* SPDX-License-Identifier: MIT */
/*
 * prepare_redrive.c - POST /api/msgrelay/redrive: put parked messages back to
 * work (README "Parked messages and redrive").
 *
 * A redrive may touch 100,000 messages, so it runs neither on an HTTP thread
 * nor on the writer (which would stall every prepare and submit behind it):
 * it gets a thread and a store connection of its own, and the store works
 * through the matches in batches of REDRIVE_BATCH per transaction, so no lock
 * is held for long and deliveries go on meanwhile. One redrive at a time; a
 * second one while it runs is refused (409), never queued. The connection is
 * suspended meanwhile and resumed with {"matched":N,"redriven":N}; the relay
 * is woken to claim what became due.
 *
 * Must not: run on the writer thread, hold the runner's lock while it works.
 * Errors: bad input 400 "<field>: <problem>" (mr_parse_redrive); a store
 * failure 503 (unreachable) or 500, with what was redriven so far logged.
 */
#include "prepare/prepare_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "store/store.h"

/* Messages redriven per store transaction. */
#define REDRIVE_BATCH 500

/* The latest time a filter may name: 9999-12-31, in epoch milliseconds. */
#define TIME_MAX_MS INT64_C(253402300799999)

struct mr_redrive {
    struct mr_prepare_hooks hooks;
    void (*resume)(void *conn);
    pthread_mutex_t mu;
    bool busy;     /* a redrive runs (mu) */
    bool joinable; /* thread holds one to join (mu) */
    pthread_t thread;
    struct mr_req *req; /* the running one */
};

/* opt_text - optional string @key of at most @max bytes into *@out (owned; NULL when absent). */
static int opt_text(json_t *root, const char *key, size_t max, char **out, struct mr_err *err)
{
    json_t *v = json_object_get(root, key);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mr_err_set(err, MR_EINVAL, "%s: must be a string", key);
    if (json_string_length(v) > max)
        return mr_err_set(err, MR_EINVAL, "%s: longer than %zu bytes", key, max);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return mr_err_set(err, MR_EINVAL, "%s: must not contain NUL", key);
    if (json_string_length(v) > 0)
        *out = mr_xstrdup(json_string_value(v));
    return 0;
}

/* opt_time - optional epoch-milliseconds integer @key (0 when absent). */
static int opt_time(json_t *root, const char *key, int64_t *out, struct mr_err *err)
{
    json_t *v = json_object_get(root, key);

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > TIME_MAX_MS)
        return mr_err_set(err, MR_EINVAL, "%s: must be a time in epoch milliseconds", key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int mr_parse_redrive(const char *body, size_t len, struct mr_req *r, struct mr_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body != NULL ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    char *gid = NULL;
    char *gid_prefix = NULL;
    char *url_prefix = NULL;
    char *error = NULL;
    int64_t since = 0;
    int64_t until = 0;
    bool dry_run = false;
    bool all = false;
    int rc;

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return mr_err_set(err, MR_EINVAL, "body: must be a JSON object");
    }
    rc = opt_text(root, "gid", (size_t)mr_config.max_gid_len, &gid, err);
    if (rc == 0 && gid != NULL)
        rc = mr_check_gid(gid, err);
    if (rc == 0)
        rc = opt_text(root, "gid_prefix", (size_t)mr_config.max_gid_len, &gid_prefix, err);
    if (rc == 0)
        rc = opt_text(root, "url_prefix", (size_t)mr_config.max_url_len, &url_prefix, err);
    if (rc == 0)
        rc = opt_text(root, "error", 1024, &error, err);
    if (rc == 0)
        rc = opt_time(root, "parked_since", &since, err);
    if (rc == 0)
        rc = opt_time(root, "parked_until", &until, err);
    if (rc == 0 && since != 0 && until != 0 && until < since)
        rc = mr_err_set(err, MR_EINVAL, "parked_until: before parked_since");
    if (rc == 0)
        rc = mr_parse_opt_bool(root, "dry_run", &dry_run, err);
    if (rc == 0)
        rc = mr_parse_opt_bool(root, "all", &all, err);
    if (rc == 0 && !all && gid == NULL && gid_prefix == NULL && url_prefix == NULL &&
        error == NULL && since == 0 && until == 0)
        rc = mr_err_set(err, MR_EINVAL,
                        "filter: give gid, gid_prefix, url_prefix, error, parked_since or "
                        "parked_until, or \"all\":true for every parked message");
    json_decref(root);
    if (rc != 0) {
        free(gid);
        free(gid_prefix);
        free(url_prefix);
        free(error);
        return rc;
    }
    free(r->gid);
    r->gid = gid;
    r->redrive.gid = gid;
    r->redrive.gid_prefix = gid_prefix;
    r->redrive.url_prefix = url_prefix;
    r->redrive.error = error;
    r->redrive.parked_from_ms = since;
    r->redrive.parked_to_ms = until;
    r->dry_run = dry_run;
    return 0;
}

struct mr_redrive *mr_redrive_start(const struct mr_prepare_hooks *hooks,
                                    void (*resume)(void *conn))
{
    struct mr_redrive *rd = mr_xcalloc(1, sizeof(*rd));

    if (hooks != NULL)
        rd->hooks = *hooks;
    rd->resume = resume;
    pthread_mutex_init(&rd->mu, NULL);
    return rd;
}

/* run - the redrive of rd->req on its own connection; fills the request's answer. */
static void run(struct mr_redrive *rd, struct mr_req *r)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store *s = NULL;
    long matched = 0;
    long redriven = 0;
    json_t *j;
    int rc = mr_store_open(mr_config.store, &s, &err);

    if (rc == 0)
        rc = mr_store_msg_redrive(s, &r->redrive, mr_now_ms(), r->dry_run, REDRIVE_BATCH, &matched,
                                  &redriven, &err);
    mr_store_close(s);
    if (redriven > 0 && rd->hooks.wake != NULL)
        rd->hooks.wake(rd->hooks.arg);
    if (rc != 0) {
        mr_reply_envelopef(&r->answer, rc == MR_EUNAVAIL || rc == MR_EBUSY ? 503 : 500,
                           "redrive stopped after %ld of %ld: %s", redriven, matched, err.msg);
        return;
    }
    j = json_object();
    json_object_set_new(j, "matched", json_integer(matched));
    json_object_set_new(j, "redriven", json_integer(redriven));
    mr_reply_json(&r->answer, j);
}

static void *redrive_main(void *arg)
{
    struct mr_redrive *rd = arg;
    struct mr_req *r = rd->req;
    void *conn = r->conn;

    run(rd, r);
    pthread_mutex_lock(&rd->mu);
    rd->busy = false;
    rd->req = NULL;
    pthread_mutex_unlock(&rd->mu);
    /* from here on the HTTP side owns @r (it answers and frees it) */
    rd->resume(conn);
    return NULL;
}

int mr_redrive_submit(struct mr_redrive *rd, struct mr_req *r)
{
    pthread_t old;
    bool join = false;
    int rc = 0;

    pthread_mutex_lock(&rd->mu);
    if (rd->busy) {
        rc = MR_EBUSY;
    } else {
        if (rd->joinable) {
            old = rd->thread;
            join = true;
            rd->joinable = false;
        }
        rd->busy = true;
        rd->req = r;
        if (pthread_create(&rd->thread, NULL, redrive_main, rd) != 0) {
            rd->busy = false;
            rd->req = NULL;
            rc = MR_EBUSY;
        } else {
            rd->joinable = true;
        }
    }
    pthread_mutex_unlock(&rd->mu);
    if (join)
        pthread_join(old, NULL); /* it has finished: busy was false */
    return rc;
}

void mr_redrive_stop(struct mr_redrive *rd)
{
    if (rd == NULL)
        return;
    pthread_mutex_lock(&rd->mu);
    if (rd->joinable) {
        rd->joinable = false;
        pthread_mutex_unlock(&rd->mu);
        pthread_join(rd->thread, NULL);
    } else {
        pthread_mutex_unlock(&rd->mu);
    }
    pthread_mutex_destroy(&rd->mu);
    free(rd);
}
