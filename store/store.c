/* SPDX-License-Identifier: MIT */
/*
 * store.c - the engine-neutral front of store.h: picks the engine from the URI
 * scheme at open and sends every other call through the handle's vtable.
 *
 * It also holds what must not differ between engines: the allowed-transition
 * check, the "message state changed" log line and the transition metric, so
 * every state change in msgrelay passes one place (STYLE.md 2.14).
 *
 * Threads: whichever thread owns the handle (one handle per thread);
 * mr_store_migrate() any thread. Errors: an unknown scheme is MR_EINVAL;
 * everything else comes from the engine.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "store/store_int.h"

typedef int (*engine_open_fn)(const char *rest, struct mr_store **out, struct mr_err *err);
typedef int (*engine_migrate_fn)(const char *rest, struct mr_err *err);

/* sqlite_migrate - SQLite migrates at every open: open and close. */
static int sqlite_migrate(const char *rest, struct mr_err *err)
{
    struct mr_store *s = NULL;
    int rc = mr_store_sqlite_open(rest, &s, err);

    mr_store_close(s);
    return rc;
}

/* URI schemes and the engine each opens; "scheme:rest". */
static const struct scheme {
    const char *scheme;
    engine_open_fn open;
    engine_migrate_fn migrate;
} schemes[] = {
    {"sqlite", mr_store_sqlite_open, sqlite_migrate},
    {"mysql", mr_store_mysql_open, mr_store_mysql_migrate},
};

/* find_scheme - the engine of @uri and, in *rest, the URI after "scheme:"; NULL if unknown. */
static const struct scheme *find_scheme(const char *uri, const char **rest)
{
    const char *colon = strchr(uri, ':');
    size_t len;
    size_t i;

    if (colon == NULL)
        return NULL;
    len = (size_t)(colon - uri);
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        if (strlen(schemes[i].scheme) == len && strncmp(uri, schemes[i].scheme, len) == 0) {
            *rest = colon + 1;
            return &schemes[i];
        }
    }
    return NULL;
}

char *mr_store_uri_redacted(const char *uri)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    const char *auth = uri != NULL ? strstr(uri, "://") : NULL;
    const char *end;
    const char *at = NULL;
    const char *colon;
    const char *p;

    if (auth == NULL)
        return mr_xstrdup(uri != NULL ? uri : "");
    auth += 3;
    end = auth + strcspn(auth, "?");
    for (p = auth; p < end; p++) {
        if (*p == '@')
            at = p; /* the last '@', as the engines read it */
    }
    colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon == NULL)
        return mr_xstrdup(uri);
    mr_buf_add(&b, uri, (size_t)(colon + 1 - uri));
    mr_buf_adds(&b, "***");
    mr_buf_adds(&b, at);
    return mr_buf_detach(&b, NULL);
}

/* unknown_scheme - the MR_EINVAL for @uri (its password not repeated). */
static int unknown_scheme(const char *uri, struct mr_err *err)
{
    char *shown = mr_store_uri_redacted(uri);
    int rc = mr_err_set(err, MR_EINVAL, "store: unknown scheme in '%s'", shown);

    free(shown);
    return rc;
}

int mr_store_open(const char *uri, struct mr_store **out, struct mr_err *err)
{
    const struct scheme *sc;
    const char *rest = NULL;

    *out = NULL;
    if (uri == NULL)
        return mr_err_set(err, MR_EINVAL, "store: no store uri");
    sc = find_scheme(uri, &rest);
    if (sc == NULL)
        return unknown_scheme(uri, err);
    return sc->open(rest, out, err);
}

int mr_store_migrate(const char *uri, struct mr_err *err)
{
    const struct scheme *sc;
    const char *rest = NULL;

    if (uri == NULL)
        return mr_err_set(err, MR_EINVAL, "store: no store uri");
    sc = find_scheme(uri, &rest);
    if (sc == NULL)
        return unknown_scheme(uri, err);
    return sc->migrate(rest, err);
}

void mr_store_close(struct mr_store *s)
{
    if (s == NULL)
        return;
    s->eng->close(s);
}

int mr_store_begin(struct mr_store *s, struct mr_err *err)
{
    return s->eng->begin(s, err);
}

int mr_store_commit(struct mr_store *s, struct mr_err *err)
{
    return s->eng->commit(s, err);
}

void mr_store_rollback(struct mr_store *s)
{
    s->eng->rollback(s);
}

int mr_store_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                     struct mr_err *err)
{
    return s->eng->msg_get(s, gid, with_steps, out, err);
}

int mr_store_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    return s->eng->msg_insert(s, m, err);
}

int mr_store_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                            int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    int rc;

    if (!mr_msg_transition_ok(from, to)) {
        return mr_err_set(err, MR_EINVAL, "store: transition '%s' -> '%s' is not allowed",
                          mr_msg_state_name(from), mr_msg_state_name(to));
    }
    rc = s->eng->msg_transition(s, gid, from, to, now_ms, next_cron_ms, next_cron_interval, err);
    if (rc != 0)
        return rc;
    mr_log(MR_LOG_INFO, "message state changed", "gid", gid, "from", mr_msg_state_name(from), "to",
           mr_msg_state_name(to), NULL);
    mr_metrics_transition(from, to);
    return 0;
}

int mr_store_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                          int64_t now_ms, struct mr_err *err)
{
    return s->eng->msg_schedule(s, gid, next_cron_ms, interval, now_ms, err);
}

int mr_store_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                   size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    return s->eng->claim(s, owner, now_ms, lease_until_ms, limit, out, n, err);
}

void mr_store_msgs_free(struct mr_msg **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        mr_msg_free(v[i]);
    free(v);
}

int mr_store_step_record(struct mr_store *s, int64_t step_id, bool success, const char *error,
                         int64_t now_ms, struct mr_err *err)
{
    return s->eng->step_record(s, step_id, success, error, now_ms, err);
}

int mr_store_msg_release(struct mr_store *s, const char *gid, const char *owner,
                         int64_t next_cron_ms, int interval, const char *result, int64_t now_ms,
                         struct mr_err *err)
{
    return s->eng->msg_release(s, gid, owner, next_cron_ms, interval, result, now_ms, err);
}

int mr_store_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    return s->eng->release_owner(s, owner, err);
}

int mr_store_count_due(struct mr_store *s, int64_t now_ms, long *n, struct mr_err *err)
{
    return s->eng->count_due(s, now_ms, n, err);
}

int mr_store_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                      size_t *n, struct mr_err *err)
{
    return s->eng->msg_list(s, f, out, n, err);
}
