/* SPDX-License-Identifier: MIT */
/*
 * store.c - the engine-neutral front of store.h: picks the engine from the URI
 * scheme at open and sends every other call through the handle's vtable,
 * after checking, once for every engine, the rules store.h states: whether a
 * transaction must be open or must not be (the handle's in_tx, which only
 * this file writes: mr_store_enter), lease owners, row and argument limits.
 * It runs the shells the engines share: begin/commit/rollback (a failed
 * commit rolls back), the claim's own transaction, and the per-row loops an
 * engine without a batch statement leaves to it.
 *
 * It also holds what must not differ between engines: the allowed-transition
 * check, the "message state changed" log line and the transition metric, so
 * every state change in msgrelay passes one place (STYLE.md 2.14); and the
 * relay registry's rule of who may take a relay id, built on the engines'
 * row primitives. Must not: run SQL, or know an engine's types.
 *
 * Threads: whichever thread owns the handle (one handle per thread);
 * mr_store_migrate() any thread. Errors: an unknown scheme or a broken rule
 * is MR_EINVAL naming it (a programmer's error, nothing written); everything
 * else comes from the engine.
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/dest.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "store/store_int.h"

typedef int (*engine_open_fn)(const char *rest, struct mr_store **out, struct mr_err *err);
typedef int (*engine_migrate_fn)(const char *rest, struct mr_store_migration_report *report,
                                 struct mr_err *err);

/* URI schemes and the engine each opens; "scheme:rest". */
static const struct scheme {
    const char *scheme;
    engine_open_fn open;
    engine_migrate_fn migrate;
} schemes[] = {
    {"sqlite", mr_store_sqlite_open, mr_store_sqlite_migrate},
    {"mysql", mr_store_mysql_open, mr_store_mysql_migrate},
    {"postgres", mr_store_pg_open, mr_store_pg_migrate},
    {"postgresql", mr_store_pg_open, mr_store_pg_migrate},
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

/* redact_userinfo - @uri with the password of its userinfo replaced by "***". */
static char *redact_userinfo(const char *uri)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    const char *auth = strstr(uri, "://");
    const char *end;
    const char *at = NULL;
    const char *colon;
    const char *p;

    if (auth == NULL)
        return mr_xstrdup(uri);
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

/*
 * mr_store_uri_redacted - also the value of a "password=" query parameter
 * (PostgreSQL's URI may carry the password so).
 */
char *mr_store_uri_redacted(const char *uri)
{
    struct mr_buf b = MR_BUF_INIT(MR_BUF_UNBOUNDED);
    char *head = redact_userinfo(uri != NULL ? uri : "");
    const char *q = strchr(head, '?');
    const char *p;

    if (q == NULL)
        return head;
    mr_buf_add(&b, head, (size_t)(q - head));
    for (p = q; *p != '\0';) {
        size_t n = strcspn(p + 1, "&");

        mr_buf_addc(&b, *p); /* '?' or '&' */
        if (strncmp(p + 1, "password=", 9) == 0)
            mr_buf_adds(&b, "password=***");
        else
            mr_buf_add(&b, p + 1, n);
        p += 1 + n;
    }
    free(head);
    return mr_buf_detach(&b, NULL);
}

/* like - append to @b the LIKE pattern @lead, then @s with '!', '%', '_' escaped, then @tail. */
static void like(struct mr_buf *b, const char *lead, const char *s, const char *tail)
{
    mr_buf_adds(b, lead);
    for (; *s != '\0'; s++) {
        if (*s == '!' || *s == '%' || *s == '_')
            mr_buf_add(b, "!", 1);
        mr_buf_add(b, s, 1);
    }
    mr_buf_adds(b, tail);
}

void mr_store_redrive_likes(struct mr_store_redrive_likes *l, const struct mr_store_redrive *f)
{
    mr_buf_init(&l->gid, 4 * MR_STORE_REDRIVE_TEXT_MAX + 8);
    mr_buf_init(&l->url, 4 * MR_STORE_REDRIVE_TEXT_MAX + 8);
    mr_buf_init(&l->error, 4 * MR_STORE_REDRIVE_TEXT_MAX + 8);
    like(&l->gid, "", f->gid_prefix, "%");
    like(&l->url, "", f->url_prefix, "%");
    like(&l->error, "%", f->error, "%");
}

void mr_store_redrive_likes_release(struct mr_store_redrive_likes *l)
{
    mr_buf_release(&l->gid);
    mr_buf_release(&l->url);
    mr_buf_release(&l->error);
}

/* unknown_scheme - the MR_EINVAL for @uri (its password not repeated). */
static int unknown_scheme(const char *uri, struct mr_err *err)
{
    char *shown = mr_store_uri_redacted(uri);
    int rc = mr_err_set(err, MR_EINVAL, "store: unknown scheme in '%s'", shown);

    free(shown);
    return rc;
}

/* pick_scheme - the engine of @uri into *@sc and the URI after "scheme:" into *@rest. */
static int pick_scheme(const char *uri, const struct scheme **sc, const char **rest,
                       struct mr_err *err)
{
    if (uri == NULL)
        return mr_err_set(err, MR_EINVAL, "store: no store uri");
    *sc = find_scheme(uri, rest);
    if (*sc == NULL)
        return unknown_scheme(uri, err);
    return 0;
}

int mr_store_open(const char *uri, struct mr_store **out, struct mr_err *err)
{
    const struct scheme *sc = NULL;
    const char *rest = NULL;
    int rc;

    *out = NULL;
    rc = pick_scheme(uri, &sc, &rest, err);
    if (rc != 0)
        return rc;
    return sc->open(rest, out, err);
}

int mr_store_migrate(const char *uri, struct mr_store_migration_report *report,
                     struct mr_err *err)
{
    const struct scheme *sc = NULL;
    const char *rest = NULL;
    int rc = pick_scheme(uri, &sc, &rest, err);

    if (rc != 0)
        return rc;
    return sc->migrate(rest, report, err);
}

int mr_store_schema_not_newer(int64_t have, int latest, struct mr_err *err)
{
    if (have > latest) {
        return mr_err_set(err, MR_ESTORE,
                          "store: schema version %lld is newer than this msgrelay (%d)",
                          (long long)have, latest);
    }
    return 0;
}

void mr_store_report_migrated(struct mr_store_migration_report *report,
                              const struct mr_store_schema *schema, size_t n, int64_t from,
                              int64_t to)
{
    size_t i;

    if (report == NULL)
        return;
    report->from = (int)from;
    report->to = (int)to;
    for (i = 0; report->applied != NULL && i < n; i++) {
        if (schema[i].version > from && schema[i].version <= to)
            report->applied(report->arg, schema[i].version, schema[i].name);
    }
}

/* ---- the transaction rules ---- */

int mr_store_enter(struct mr_store *s, enum mr_store_tx rule, const char *what,
                   struct mr_err *err)
{
    if (rule == MR_STORE_TX_NEED && !s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: %s needs an open transaction", what);
    if (rule == MR_STORE_TX_NONE && s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: %s must be called outside a transaction", what);
    return s->eng->ready != NULL ? s->eng->ready(s, err) : 0;
}

int mr_store_relax(struct mr_store *s, struct mr_err *err)
{
    if (s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: relax must be called outside a transaction");
    return s->eng->relax != NULL ? s->eng->relax(s, err) : 0;
}

void mr_store_shrink(struct mr_store *s)
{
    if (s != NULL && !s->in_tx && s->eng->shrink != NULL)
        s->eng->shrink(s);
}

void mr_store_close(struct mr_store *s)
{
    if (s == NULL)
        return;
    s->eng->close(s);
}

int mr_store_begin(struct mr_store *s, struct mr_err *err)
{
    int rc;

    if (s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: a transaction is already open");
    rc = s->eng->begin(s, err);
    if (rc == 0)
        s->in_tx = true;
    return rc;
}

void mr_store_rollback(struct mr_store *s)
{
    if (!s->in_tx)
        return;
    s->eng->rollback(s);
    s->in_tx = false;
}

/* mr_store_commit - store.h promises the transaction is gone after a failed commit, too. */
int mr_store_commit(struct mr_store *s, struct mr_err *err)
{
    int rc;

    if (!s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: commit without a transaction");
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "commit", err);
    if (rc == 0)
        rc = s->eng->commit(s, err);
    if (rc != 0)
        s->eng->rollback(s);
    s->in_tx = false;
    return rc;
}

/* ---- messages ---- */

/*
 * settle_steps - read the steps of a succeed message as succeed: the relay
 * writes the calls that finish a message only through its transition to
 * succeed, so a step still stored prepared succeeded by one more call, at the
 * message's finish (see mr_store_msg_transition in store.h).
 */
static void settle_steps(struct mr_msg *m)
{
    size_t i;

    if (m == NULL || m->state != MR_MSG_SUCCEED)
        return;
    for (i = 0; i < m->nsteps; i++) {
        struct mr_step *st = &m->steps[i];

        if (st->state != MR_STEP_PREPARED)
            continue;
        st->state = MR_STEP_SUCCEED;
        st->attempts++;
        st->update_ms = m->finish_ms;
        st->finish_ms = m->finish_ms;
    }
}

int mr_store_msg_get(struct mr_store *s, const char *gid, bool with_steps, struct mr_msg **out,
                     struct mr_err *err)
{
    int rc;

    *out = NULL;
    rc = mr_store_enter(s, MR_STORE_TX_ANY, "get", err);
    if (rc == 0)
        rc = s->eng->msg_get(s, gid, with_steps, out, err);
    if (rc == 0 && with_steps)
        settle_steps(*out);
    /* a keyed message still in its key's order: what it waits for, if anything */
    if (rc == 0 && with_steps && *out != NULL && (*out)->order_pos > 0 &&
        !mr_msg_state_is_final((*out)->state) && s->eng->order_before != NULL)
        rc = s->eng->order_before(s, (*out)->ordering_key, (*out)->order_pos,
                                  &(*out)->order_waits_for, err);
    if (rc != 0) {
        mr_msg_free(*out);
        *out = NULL;
    }
    return rc;
}

struct mr_step *mr_store_step_add(struct mr_msg *m, size_t *cap)
{
    MR_ALLOC_GROW(m->steps, m->nsteps + 1, *cap);
    memset(&m->steps[m->nsteps], 0, sizeof(*m->steps));
    /* count the step before it is read, so mr_msg_free() frees a half-read one */
    m->nsteps++;
    return &m->steps[m->nsteps - 1];
}

size_t mr_store_gid_at(const char *const *gids, size_t k, const char *gid)
{
    size_t j;

    for (j = 0; j < k; j++) {
        if (strcmp(gids[j], gid) == 0)
            return j;
    }
    return k;
}

void mr_store_found_put(struct mr_store_found *c, struct mr_msg *m)
{
    size_t at = mr_store_gid_at(c->gids, c->k, m->gid);

    if (at < c->k && c->out[at] == NULL) {
        c->out[at] = m;
        c->found[c->nfound++] = m;
    } else {
        mr_msg_free(m); /* a repeated gid: one position has it */
    }
}

void *mr_store_row_add(struct mr_store_rows *r)
{
    if (r->len + 1 > r->cap)
        r->v = mr_xgrow(r->v, r->size, r->len + 1, &r->cap);
    memset(r->v + r->len * r->size, 0, r->size);
    r->len++;
    return r->v + (r->len - 1) * r->size;
}

/* check_owner - the lease functions need a non-empty owner, whatever the engine. */
static int check_owner(const char *owner, const char *what, struct mr_err *err)
{
    if (owner == NULL || owner[0] == '\0')
        return mr_err_set(err, MR_EINVAL, "store: %s needs an owner", what);
    return 0;
}

/*
 * check_insert_lease - a lease needs an owner, and is only ever held on an
 * unfinished message (release_owner and the MySQL schema rely on it).
 */
static int check_insert_lease(const struct mr_msg *m, struct mr_err *err)
{
    bool owned = m->owner != NULL && m->owner[0] != '\0';

    if (!owned && m->lease_until_ms != 0)
        return mr_err_set(err, MR_EINVAL, "store: message '%s' has a lease time but no owner",
                          m->gid != NULL ? m->gid : "");
    if (owned && !mr_msg_state_is_live(m->state))
        return mr_err_set(err, MR_EINVAL, "store: message '%s' is final and cannot be leased",
                          m->gid != NULL ? m->gid : "");
    return 0;
}

/* check_insert_row - a message to insert has a gid and a known state, and so has each step. */
static int check_insert_row(const struct mr_msg *m, struct mr_err *err)
{
    size_t i;

    if (m->gid == NULL || m->state <= MR_MSG_NONE || m->state >= MR_MSG_STATE_COUNT)
        return mr_err_set(err, MR_EINVAL, "store: insert needs a gid and a state");
    if (m->ordering_key != NULL && strlen(m->ordering_key) > MR_ORDER_KEY_MAX)
        return mr_err_set(err, MR_EINVAL, "store: ordering key over %d bytes", MR_ORDER_KEY_MAX);
    for (i = 0; i < m->nsteps; i++) {
        if (m->steps[i].state < 0 || m->steps[i].state >= MR_STEP_STATE_COUNT)
            return mr_err_set(err, MR_EINVAL, "store: step %zu has no valid state", i);
    }
    return 0;
}

/* dest_key - the destination key of @url (common/dest.h) as a new string, or NULL when none. */
static char *dest_key(const char *url)
{
    char key[MR_DEST_KEY_MAX + 1];

    if (url == NULL || !mr_dest_key(url, key))
        return NULL;
    return mr_xstrdup(key);
}

/*
 * set_dest_keys - the destination keys of @m's steps and back-check, which
 * the engines store with them (mr_store_due_by_dest finds them by it).
 */
static void set_dest_keys(struct mr_msg *m)
{
    size_t i;

    if (m->query_dest == NULL)
        m->query_dest = dest_key(m->query_prepared);
    for (i = 0; i < m->nsteps; i++) {
        if (m->steps[i].dest == NULL)
            m->steps[i].dest = dest_key(m->steps[i].url);
    }
}

/*
 * order_place - the place of keyed @gid (key @key, or read from the store
 * when NULL) at the end of its key's order, and whether it is the key's head
 * (else it waits, unleased); see mr_store_order_place(). Inside.
 */
static int order_place(struct mr_store *s, const char *gid, const char *key, int64_t *pos,
                       bool *head, struct mr_err *err)
{
    char *stored = NULL;
    char *before = NULL;
    int rc = 0;

    *pos = 0;
    *head = true;
    if (key == NULL && s->eng->order_of != NULL) {
        rc = s->eng->order_of(s, gid, &stored, pos, err);
        key = stored;
    }
    if (rc == 0 && key != NULL && key[0] != '\0' && s->eng->order_next == NULL)
        rc = mr_err_set(err, MR_EINVAL, "store: the %s store does not order by key",
                        s->eng->name);
    if (rc == 0 && key != NULL && key[0] != '\0') {
        /* placed already (a submit again): it keeps its place */
        if (*pos == 0)
            rc = s->eng->order_next(s, key, pos, err);
        if (rc == 0)
            rc = s->eng->order_before(s, key, *pos, &before, err);
        *head = before == NULL;
        if (rc == 0)
            rc = s->eng->order_set(s, gid, *pos, *head, err);
    }
    free(before);
    free(stored);
    return rc;
}

/* place_new - a keyed message just inserted as submitted takes its place (@m updated). */
static int place_new(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    bool head = true;
    int rc;

    if (m->state != MR_MSG_SUBMITTED || m->ordering_key == NULL || m->ordering_key[0] == '\0')
        return 0;
    rc = order_place(s, m->gid, m->ordering_key, &m->order_pos, &head, err);
    if (rc == 0 && !head) {
        m->next_cron_ms = MR_ORDER_WAIT_MS;
        m->lease_until_ms = 0;
        free(m->owner);
        m->owner = mr_xstrdup("");
    }
    return rc;
}

int mr_store_order_place(struct mr_store *s, const char *gid, const char *key, int64_t *pos,
                         bool *head, struct mr_err *err)
{
    int rc = mr_store_enter(s, MR_STORE_TX_NEED, "order place", err);

    *pos = 0;
    *head = true;
    if (rc == 0 && key != NULL && strlen(key) > MR_ORDER_KEY_MAX)
        rc = mr_err_set(err, MR_EINVAL, "store: ordering key over %d bytes", MR_ORDER_KEY_MAX);
    if (rc != 0)
        return rc;
    return order_place(s, gid, key, pos, head, err);
}

/* cmp_key - qsort() of ordering keys (char *), byte order. */
static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mr_store_order_lock(struct mr_store *s, const char *const *keys, size_t n, struct mr_err *err)
{
    const char **v;
    size_t i;
    int rc;

    rc = mr_store_enter(s, MR_STORE_TX_NEED, "order lock", err);
    if (rc != 0 || n == 0 || s->eng->order_lock == NULL)
        return rc;
    v = mr_xcalloc(n, sizeof(*v));
    memcpy(v, keys, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cmp_key);
    for (i = 0; rc == 0 && i < n; i++) {
        if (v[i][0] != '\0' && (i == 0 || strcmp(v[i], v[i - 1]) != 0))
            rc = s->eng->order_lock(s, v[i], err);
    }
    free(v);
    return rc;
}

/* lock_new_keys - mr_store_order_lock() of the keys of @v's keyed submitted messages. */
static int lock_new_keys(struct mr_store *s, struct mr_msg *const *v, size_t n, struct mr_err *err)
{
    const char **keys = NULL;
    size_t k = 0;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (v[i]->state != MR_MSG_SUBMITTED || v[i]->ordering_key == NULL ||
            v[i]->ordering_key[0] == '\0')
            continue;
        if (keys == NULL)
            keys = mr_xcalloc(n, sizeof(*keys));
        keys[k++] = v[i]->ordering_key;
    }
    rc = mr_store_order_lock(s, keys, k, err);
    free(keys);
    return rc;
}

int mr_store_order_finished(struct mr_store *s, const char *const *gids, size_t n, int64_t now_ms,
                            struct mr_err *err)
{
    size_t i;
    int rc;

    if (n == 0)
        return 0;
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "order wake", err);
    for (i = 0; rc == 0 && s->eng->order_wake != NULL && i < n; i++)
        rc = s->eng->order_wake(s, gids[i], now_ms, err);
    return rc;
}

int mr_store_order_before(struct mr_store *s, const char *key, int64_t pos, char **gid,
                          struct mr_err *err)
{
    int rc = mr_store_enter(s, MR_STORE_TX_ANY, "order before", err);

    *gid = NULL;
    if (rc != 0 || key == NULL || key[0] == '\0' || pos <= 0 || s->eng->order_before == NULL)
        return rc;
    return s->eng->order_before(s, key, pos, gid, err);
}

int mr_store_msg_insert(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    int rc = check_insert_lease(m, err);

    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NEED, "insert", err);
    if (rc == 0)
        rc = check_insert_row(m, err);
    if (rc != 0)
        return rc;
    set_dest_keys(m);
    rc = s->eng->msg_insert(s, m, err);
    if (rc == 0)
        rc = place_new(s, m, err);
    return rc;
}

/* check_transition - @from -> @to must be in the table (mr_msg_transition_ok). */
static int check_transition(int from, int to, struct mr_err *err)
{
    if (!mr_msg_transition_ok(from, to))
        return mr_err_set(err, MR_EINVAL, "store: transition '%s' -> '%s' is not allowed",
                          mr_msg_state_name(from), mr_msg_state_name(to));
    return 0;
}

/* log_transition - the one log line and metric of a state change (STYLE.md 2.14). */
static void log_transition(const char *gid, int from, int to)
{
    mr_log(MR_LOG_INFO, "message state changed", "gid", gid, "from", mr_msg_state_name(from), "to",
           mr_msg_state_name(to), NULL);
    mr_metrics_transition(from, to);
}

int mr_store_msg_transition(struct mr_store *s, const char *gid, int from, int to, int64_t now_ms,
                            int64_t next_cron_ms, int next_cron_interval, struct mr_err *err)
{
    int rc = check_transition(from, to, err);

    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NEED, "transition", err);
    if (rc == 0)
        rc = s->eng->msg_transition(s, gid, from, to, now_ms, next_cron_ms, next_cron_interval,
                                    err);
    if (rc == 0 && mr_msg_state_is_final(to) && s->eng->order_wake != NULL)
        rc = s->eng->order_wake(s, gid, now_ms, err);
    if (rc != 0)
        return rc;
    log_transition(gid, from, to);
    return 0;
}

int mr_store_msg_schedule(struct mr_store *s, const char *gid, int64_t next_cron_ms, int interval,
                          int64_t now_ms, struct mr_err *err)
{
    int rc = mr_store_enter(s, MR_STORE_TX_NEED, "schedule", err);

    if (rc != 0)
        return rc;
    return s->eng->msg_schedule(s, gid, next_cron_ms, interval, now_ms, err);
}

int mr_store_msg_get_many(struct mr_store *s, const char *const *gids, size_t n, bool with_steps,
                          struct mr_msg **out, struct mr_err *err)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0)
        return 0;
    rc = mr_store_enter(s, MR_STORE_TX_ANY, "get", err);
    if (rc == 0 && s->eng->msg_get_many != NULL)
        rc = s->eng->msg_get_many(s, gids, n, with_steps, out, err);
    for (i = 0; rc == 0 && s->eng->msg_get_many == NULL && i < n; i++)
        rc = s->eng->msg_get(s, gids[i], with_steps, &out[i], err);
    for (i = 0; i < n; i++) {
        if (rc != 0) {
            mr_msg_free(out[i]);
            out[i] = NULL;
        } else if (with_steps) {
            settle_steps(out[i]);
        }
    }
    return rc;
}

int mr_store_msg_insert_many(struct mr_store *s, struct mr_msg *const *v, size_t n,
                             struct mr_err *err)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (check_insert_lease(v[i], err) != 0)
            return MR_EINVAL;
    }
    if (n == 0)
        return 0;
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "insert", err);
    for (i = 0; rc == 0 && i < n; i++)
        rc = check_insert_row(v[i], err);
    if (rc != 0)
        return rc;
    for (i = 0; i < n; i++)
        set_dest_keys(v[i]);
    rc = lock_new_keys(s, v, n, err);
    if (rc == 0)
        rc = s->eng->msg_insert_many(s, v, n, err);
    if (rc == 0 && s->eng->order_place_new != NULL)
        return s->eng->order_place_new(s, v, n, err);
    for (i = 0; rc == 0 && i < n; i++)
        rc = place_new(s, v[i], err);
    return rc;
}

/* transition_many - mr_store_msg_transition_many() or, @ids not NULL, _ids(). */
static int transition_many(struct mr_store *s, const char *const *gids, const int64_t *ids,
                           size_t n, int from, int to, int64_t now_ms, int64_t next_cron_ms,
                           int next_cron_interval, const char *lease_owner,
                           int64_t lease_until_ms, bool *changed, struct mr_err *err)
{
    size_t i;
    int rc;

    if (check_transition(from, to, err) != 0)
        return MR_EINVAL;
    if (lease_owner != NULL && check_owner(lease_owner, "transition lease", err) != 0)
        return MR_EINVAL;
    /* a final or parked state ends any lease: the engines see a lease only where it is kept */
    if (!mr_msg_state_is_live(to))
        lease_owner = NULL;
    for (i = 0; i < n; i++)
        changed[i] = false;
    if (n == 0)
        return 0;
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "transition", err);
    if (rc == 0) {
        const struct mr_store_tr t = {.gids = gids,
                                      .ids = ids,
                                      .from = from,
                                      .to = to,
                                      .now_ms = now_ms,
                                      .next_cron_ms = next_cron_ms,
                                      .next_cron_interval = next_cron_interval,
                                      .lease_owner = lease_owner,
                                      .lease_until_ms = lease_until_ms};

        rc = s->eng->msg_transition_many(s, &t, n, changed, err);
    }
    if (rc != 0)
        return rc;
    for (i = 0; i < n; i++) {
        if (changed[i])
            log_transition(gids[i], from, to);
    }
    return 0;
}

int mr_store_msg_transition_many(struct mr_store *s, const char *const *gids, size_t n, int from,
                                 int to, int64_t now_ms, int64_t next_cron_ms,
                                 int next_cron_interval, const char *lease_owner,
                                 int64_t lease_until_ms, bool *changed, struct mr_err *err)
{
    return transition_many(s, gids, NULL, n, from, to, now_ms, next_cron_ms, next_cron_interval,
                           lease_owner, lease_until_ms, changed, err);
}

int mr_store_msg_transition_ids(struct mr_store *s, const char *const *gids, const int64_t *ids,
                                size_t n, int from, int to, int64_t now_ms, int64_t next_cron_ms,
                                int next_cron_interval, const char *lease_owner,
                                int64_t lease_until_ms, bool *changed, struct mr_err *err)
{
    return transition_many(s, gids, ids, n, from, to, now_ms, next_cron_ms, next_cron_interval,
                           lease_owner, lease_until_ms, changed, err);
}

/*
 * mr_store_claim - the claim's own transaction around the engine's claim. The
 * relay's handle is relaxed (mr_store_relax): a lost lease only makes work
 * claimable again.
 */
int mr_store_claim(struct mr_store *s, const char *owner, int64_t now_ms, int64_t lease_until_ms,
                   size_t limit, struct mr_msg ***out, size_t *n, struct mr_err *err)
{
    int rc;

    *out = NULL;
    *n = 0;
    if (check_owner(owner, "claim", err) != 0)
        return MR_EINVAL;
    if (s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: claim must be called outside a transaction");
    if (limit == 0)
        return 0;
    rc = mr_store_begin(s, err);
    if (rc != 0)
        return rc;
    rc = s->eng->claim(s, owner, now_ms, lease_until_ms, limit, out, n, err);
    if (rc == 0)
        rc = mr_store_commit(s, err);
    else
        mr_store_rollback(s);
    if (rc != 0) {
        mr_store_msgs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
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
    int rc = mr_store_enter(s, MR_STORE_TX_NEED, "step_record", err);

    if (rc != 0)
        return rc;
    return s->eng->step_record(s, step_id, success, error, now_ms, err);
}

int mr_store_msg_release(struct mr_store *s, const char *gid, const char *owner,
                         int64_t next_cron_ms, int interval, const char *result, int64_t now_ms,
                         struct mr_err *err)
{
    int rc = check_owner(owner, "release", err);

    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NEED, "release", err);
    if (rc != 0)
        return rc;
    return s->eng->msg_release(s, gid, owner, next_cron_ms, interval, result, now_ms, err);
}

int mr_store_step_succeed_many(struct mr_store *s, const int64_t *step_ids, size_t n,
                               int64_t now_ms, int *res, struct mr_err *err)
{
    int rc;

    if (n == 0)
        return 0;
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "step_record", err);
    if (rc != 0)
        return rc;
    return s->eng->step_succeed_many(s, step_ids, n, now_ms, res, err);
}

int mr_store_msg_release_many(struct mr_store *s, const struct mr_store_release *v, size_t n,
                              const char *owner, int64_t now_ms, struct mr_err *err)
{
    size_t i;
    int rc;

    if (n == 0)
        return 0;
    rc = check_owner(owner, "release", err);
    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NEED, "release", err);
    if (rc == 0 && s->eng->msg_release_many != NULL)
        return s->eng->msg_release_many(s, v, n, owner, now_ms, err);
    for (i = 0; rc == 0 && i < n; i++)
        rc = s->eng->msg_release(s, v[i].gid, owner, v[i].next_cron_ms, v[i].interval,
                                 v[i].result, now_ms, err);
    return rc;
}

int mr_store_release_owner(struct mr_store *s, const char *owner, struct mr_err *err)
{
    int rc = check_owner(owner, "release_owner", err);

    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NONE, "release_owner", err);
    if (rc != 0)
        return rc;
    return s->eng->release_owner(s, owner, err);
}

int mr_store_count_due(struct mr_store *s, int64_t now_ms, size_t cap, long *n,
                       int64_t *oldest_ms, struct mr_err *err)
{
    int64_t limit = cap == 0 || cap > INT64_MAX ? INT64_MAX : (int64_t)cap;
    int rc;

    *n = 0;
    *oldest_ms = 0;
    rc = mr_store_enter(s, MR_STORE_TX_ANY, "count_due", err);
    if (rc != 0)
        return rc;
    return s->eng->count_due(s, now_ms, limit, n, oldest_ms, err);
}

int mr_store_due_by_dest(struct mr_store *s, const char *key, int64_t now_ms, int64_t spread_ms,
                         size_t limit, long *n, struct mr_err *err)
{
    int rc;

    *n = 0;
    if (key == NULL || key[0] == '\0' || strlen(key) > MR_DEST_KEY_MAX)
        return mr_err_set(err, MR_EINVAL, "due_by_dest: key must be 1 to %d bytes",
                          MR_DEST_KEY_MAX);
    if (limit == 0 || spread_ms < 0)
        return mr_err_set(err, MR_EINVAL, "due_by_dest: limit must be above 0, spread not "
                                          "below 0");
    rc = mr_store_enter(s, MR_STORE_TX_NONE, "due_by_dest", err);
    if (rc != 0)
        return rc;
    return s->eng->due_by_dest(s, key, now_ms, spread_ms, limit, n, err);
}

/* enter_state - check @state (a stored one) and enter the store for the read @what. */
static int enter_state(struct mr_store *s, int state, const char *what, struct mr_err *err)
{
    if (state <= MR_MSG_NONE || state >= MR_MSG_STATE_COUNT)
        return mr_err_set(err, MR_EINVAL, "store: %s of unknown state %d", what, state);
    return mr_store_enter(s, MR_STORE_TX_ANY, what, err);
}

int mr_store_count_state(struct mr_store *s, int state, long *n, struct mr_err *err)
{
    int rc;

    *n = 0;
    rc = enter_state(s, state, "count_state", err);
    if (rc != 0)
        return rc;
    return s->eng->count_state(s, state, n, err);
}

int mr_store_oldest_in_state(struct mr_store *s, int state, int64_t *create_ms,
                             struct mr_err *err)
{
    int rc;

    *create_ms = 0;
    rc = enter_state(s, state, "oldest_in_state", err);
    if (rc != 0)
        return rc;
    return s->eng->oldest_in_state(s, state, create_ms, err);
}

int mr_store_msg_query_failed(struct mr_store *s, const char *gid, int64_t now_ms,
                              struct mr_err *err)
{
    int rc = mr_store_enter(s, MR_STORE_TX_NEED, "query_failed", err);

    if (rc != 0)
        return rc;
    return s->eng->msg_query_failed(s, gid, now_ms, err);
}

/* redrive_text - @v as the engines take it ("" for NULL); MR_EINVAL when over the limit. */
static int redrive_text(const char *v, const char *name, const char **out, struct mr_err *err)
{
    *out = v != NULL ? v : "";
    if (strlen(*out) > MR_STORE_REDRIVE_TEXT_MAX)
        return mr_err_set(err, MR_EINVAL, "%s: longer than %d bytes", name,
                          MR_STORE_REDRIVE_TEXT_MAX);
    return 0;
}

/* One redrive batch, for mr_store_run_tx(). */
struct redrive_tx {
    const int64_t *ids;
    size_t n;
    int64_t now_ms;
    long changed;
};

static int redrive_tx(struct mr_store *s, void *arg, struct mr_err *err)
{
    struct redrive_tx *t = arg;

    t->changed = 0;
    return s->eng->redrive_ids(s, t->ids, t->n, t->now_ms, &t->changed, err);
}

/* A redrive batch lost to a deadlock or a dropped connection is tried again, like the relay's. */
static const struct mr_store_tx_policy redrive_policy = {
    .tries = 3,
    .backoff_ms = 20,
    .log_level = MR_LOG_INFO,
};

int mr_store_msg_redrive(struct mr_store *s, const struct mr_store_redrive *f, int64_t now_ms,
                         bool dry_run, size_t batch, long *matched, long *redriven,
                         struct mr_err *err)
{
    struct mr_store_redrive g;
    int64_t *ids;
    int64_t after = 0;
    size_t n;
    char a[24];
    char b[24];
    int rc;

    *matched = 0;
    *redriven = 0;
    if (batch == 0 || batch > MR_STORE_REDRIVE_BATCH_MAX)
        return mr_err_set(err, MR_EINVAL, "store: redrive batch must be 1 to %d",
                          MR_STORE_REDRIVE_BATCH_MAX);
    memset(&g, 0, sizeof(g));
    rc = redrive_text(f->gid, "gid", &g.gid, err);
    if (rc == 0)
        rc = redrive_text(f->gid_prefix, "gid_prefix", &g.gid_prefix, err);
    if (rc == 0)
        rc = redrive_text(f->url_prefix, "url_prefix", &g.url_prefix, err);
    if (rc == 0)
        rc = redrive_text(f->error, "error", &g.error, err);
    if (rc != 0)
        return rc;
    g.parked_from_ms = f->parked_from_ms;
    g.parked_to_ms = f->parked_to_ms;
    if (s->in_tx)
        return mr_err_set(err, MR_EINVAL, "store: redrive must be called outside a transaction");
    ids = mr_xcalloc(batch, sizeof(*ids));
    do {
        rc = mr_store_enter(s, MR_STORE_TX_NONE, "redrive", err);
        if (rc == 0)
            rc = s->eng->redrive_page(s, &g, after, batch, ids, &n, err);
        if (rc != 0)
            break;
        *matched += (long)n;
        if (n > 0 && !dry_run) {
            struct redrive_tx t = {ids, n, now_ms, 0};

            rc = mr_store_run_tx(s, redrive_tx, NULL, &t, &redrive_policy, err);
            if (rc != 0)
                break;
            *redriven += t.changed;
        }
        if (n > 0)
            after = ids[n - 1];
    } while (n == batch);
    free(ids);
    snprintf(a, sizeof(a), "%ld", *matched);
    snprintf(b, sizeof(b), "%ld", *redriven);
    if (rc == 0 && !dry_run && *matched > 0)
        mr_log(MR_LOG_INFO, "parked messages redriven", "matched", a, "redriven", b, NULL);
    else if (rc != 0)
        mr_log(MR_LOG_WARN, "redrive stopped", "matched", a, "redriven", b, "error", err->msg,
               NULL);
    return rc;
}

int mr_store_reset_cron(struct mr_store *s, int64_t now_ms, int64_t after_ms, size_t limit,
                        long *count, bool *remaining, struct mr_err *err)
{
    int rc;

    *count = 0;
    *remaining = false;
    if (limit == 0)
        return mr_err_set(err, MR_EINVAL, "store: reset_cron needs a limit");
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "reset_cron", err);
    if (rc != 0)
        return rc;
    return s->eng->reset_cron(s, now_ms, after_ms, limit, count, remaining, err);
}

int mr_store_msg_list(struct mr_store *s, const struct mr_store_filter *f, struct mr_msg ***out,
                      size_t *n, struct mr_err *err)
{
    int rc;

    *out = NULL;
    *n = 0;
    if (f->state < MR_MSG_NONE || f->state >= MR_MSG_STATE_COUNT)
        return mr_err_set(err, MR_EINVAL, "store: list filter has an unknown state %d", f->state);
    if (f->gid_prefix != NULL && strlen(f->gid_prefix) > MR_STORE_REDRIVE_TEXT_MAX)
        return mr_err_set(err, MR_EINVAL, "store: list filter gid prefix longer than %d bytes",
                          MR_STORE_REDRIVE_TEXT_MAX);
    rc = mr_store_enter(s, MR_STORE_TX_ANY, "list", err);
    if (rc != 0)
        return rc;
    return s->eng->msg_list(s, f, out, n, err);
}

/* ---- retention ---- */

int mr_store_job_lease(struct mr_store *s, const char *name, const char *owner, int64_t now_ms,
                       int64_t until_ms, bool *held, struct mr_err *err)
{
    int rc;

    *held = false;
    if (name == NULL || name[0] == '\0' || strlen(name) > MR_STORE_JOB_NAME_MAX)
        return mr_err_set(err, MR_EINVAL, "store: job lease needs a name of 1 to %d bytes",
                          MR_STORE_JOB_NAME_MAX);
    rc = check_owner(owner, "job lease", err);
    if (rc == 0 && strlen(owner) > MR_STORE_RELAY_ID_MAX)
        rc = mr_err_set(err, MR_EINVAL, "store: job lease owner is longer than %d bytes",
                        MR_STORE_RELAY_ID_MAX);
    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NEED, "job lease", err);
    if (rc != 0)
        return rc;
    return s->eng->job_lease(s, name, owner, now_ms, until_ms, held, err);
}

int mr_store_retention_delete(struct mr_store *s, int64_t cutoff_ms, size_t limit,
                              size_t *deleted, struct mr_err *err)
{
    int rc;

    *deleted = 0;
    if (limit < 1 || limit > MR_STORE_RETENTION_BATCH_MAX)
        return mr_err_set(err, MR_EINVAL, "store: retention batch must be 1 to %d messages",
                          MR_STORE_RETENTION_BATCH_MAX);
    rc = mr_store_enter(s, MR_STORE_TX_NEED, "retention delete", err);
    if (rc != 0)
        return rc;
    return s->eng->retention_delete(s, cutoff_ms, limit, deleted, err);
}

/* ---- the kv table (DTM topics: store_topics.c) ---- */

void mr_store_kvs_free(struct mr_kv *v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(v[i].cat);
        free(v[i].k);
        free(v[i].v);
    }
    free(v);
}

int mr_store_kv_get(struct mr_store *s, const char *cat, const char *k, struct mr_kv **out,
                    struct mr_err *err)
{
    struct mr_kv *v = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    rc = mr_store_enter(s, MR_STORE_TX_ANY, "kv get", err);
    if (rc == 0)
        rc = s->eng->kv_get(s, cat, k, &v, &n, err);
    if (rc == 0 && n == 1) {
        *out = v;
        return 0;
    }
    mr_store_kvs_free(v, n);
    return rc;
}

int mr_store_kv_scan(struct mr_store *s, const char *cat, int64_t position, size_t limit,
                     struct mr_kv **out, size_t *n, struct mr_err *err)
{
    int rc;

    *out = NULL;
    *n = 0;
    rc = mr_store_enter(s, MR_STORE_TX_ANY, "kv scan", err);
    if (rc != 0)
        return rc;
    return s->eng->kv_scan(s, cat, position, limit, out, n, err);
}

/* ---- the relay registry ---- */

void mr_store_relay_clear(struct mr_store_relay *r)
{
    if (r == NULL)
        return;
    free(r->relay_id);
    free(r->instance);
    free(r->host);
    free(r->machine);
    memset(r, 0, sizeof(*r));
}

/* check_text - @s must be non-empty (unless @may_be_empty) and at most @max bytes. */
static int check_text(const char *s, size_t max, bool may_be_empty, const char *what,
                      struct mr_err *err)
{
    if (s == NULL || (s[0] == '\0' && !may_be_empty))
        return mr_err_set(err, MR_EINVAL, "store: relay registration needs a %s", what);
    if (strlen(s) > max)
        return mr_err_set(err, MR_EINVAL, "store: relay %s longer than %zu bytes", what, max);
    return 0;
}

/* check_relay - the limits of a registration (store.h), whatever the engine. */
static int check_relay(const struct mr_store_relay *r, struct mr_err *err)
{
    if (check_text(r->relay_id, MR_STORE_RELAY_ID_MAX, false, "relay id", err) != 0 ||
        check_text(r->instance, MR_STORE_RELAY_TEXT_MAX, false, "instance", err) != 0 ||
        check_text(r->host, MR_STORE_RELAY_TEXT_MAX, true, "host", err) != 0 ||
        check_text(r->machine, MR_STORE_RELAY_TEXT_MAX, true, "machine", err) != 0)
        return MR_EINVAL;
    return 0;
}

/* check_holder - @relay_id and @instance of a heartbeat or unregister, whatever the engine. */
static int check_holder(const char *relay_id, const char *instance, struct mr_err *err)
{
    if (check_text(relay_id, MR_STORE_RELAY_ID_MAX, false, "relay id", err) != 0 ||
        check_text(instance, MR_STORE_RELAY_TEXT_MAX, false, "instance", err) != 0)
        return MR_EINVAL;
    return 0;
}

/*
 * register_once - one try of mr_store_relay_register() in its own
 * transaction. MR_EEXIST with *holder for a live holder; MR_EBUSY when a
 * concurrent register won a race (insert or compare-and-set), to be tried
 * again.
 */
static int register_once(struct mr_store *s, const struct mr_store_relay *me, int64_t now_ms,
                         const char *replace, struct mr_store_relay *holder, struct mr_err *err)
{
    struct mr_store_relay cur;
    bool free_to_take;
    int rc;

    memset(&cur, 0, sizeof(cur));
    rc = mr_store_begin(s, err);
    if (rc != 0)
        return rc;
    rc = s->eng->relay_get(s, me->relay_id, &cur, err);
    if (rc == MR_ENOENT) {
        mr_err_clear(err);
        rc = s->eng->relay_insert(s, me, err);
        if (rc == MR_EEXIST)
            rc = mr_err_set(err, MR_EBUSY, "store: relay id '%s' registered concurrently",
                            me->relay_id);
    } else if (rc == 0) {
        free_to_take = cur.heartbeat_until_ms <= now_ms || strcmp(cur.instance, me->instance) == 0 ||
                       (replace != NULL && strcmp(cur.instance, replace) == 0);
        if (free_to_take) {
            rc = s->eng->relay_replace(s, me, cur.instance, err);
            if (rc == MR_ECONFLICT)
                rc = mr_err_set(err, MR_EBUSY, "store: relay id '%s' registered concurrently",
                                me->relay_id);
        } else {
            rc = mr_err_set(err, MR_EEXIST, "store: relay id '%s' is held by instance %s",
                            me->relay_id, cur.instance);
            *holder = cur;
            memset(&cur, 0, sizeof(cur));
        }
    }
    mr_store_relay_clear(&cur);
    if (rc == 0)
        return mr_store_commit(s, err);
    mr_store_rollback(s);
    return rc;
}

int mr_store_relay_register(struct mr_store *s, const struct mr_store_relay *me, int64_t now_ms,
                            const char *replace, struct mr_store_relay *holder,
                            struct mr_err *err)
{
    int tries;
    int rc;

    memset(holder, 0, sizeof(*holder));
    if (check_relay(me, err) != 0)
        return MR_EINVAL;
    if (s->in_tx)
        return mr_err_set(err, MR_EINVAL,
                          "store: relay register must be called outside a transaction");
    /* a race with another register of the same id (or a deadlock on its new row) is
       decided by the next look at the row */
    for (tries = 0;; tries++) {
        rc = register_once(s, me, now_ms, replace, holder, err);
        if (rc != MR_EBUSY || tries == 2)
            return rc;
        mr_err_clear(err);
    }
}

int mr_store_relay_heartbeat(struct mr_store *s, const char *relay_id, const char *instance,
                             int64_t until_ms, struct mr_err *err)
{
    int rc = check_holder(relay_id, instance, err);

    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NONE, "relay heartbeat", err);
    if (rc != 0)
        return rc;
    return s->eng->relay_heartbeat(s, relay_id, instance, until_ms, err);
}

int mr_store_relay_unregister(struct mr_store *s, const char *relay_id, const char *instance,
                              struct mr_err *err)
{
    int rc = check_holder(relay_id, instance, err);

    if (rc == 0)
        rc = mr_store_enter(s, MR_STORE_TX_NONE, "relay unregister", err);
    if (rc != 0)
        return rc;
    return s->eng->relay_unregister(s, relay_id, instance, err);
}

/* ---- one transaction, tried again when the store lost it (see store.h) ---- */

#include <unistd.h>

bool mr_store_retryable(int rc)
{
    return rc == MR_EBUSY || rc == MR_EUNAVAIL;
}

/* run_tx_once - one attempt: begin, @fn, commit; rolled back when begin or @fn fail. */
static int run_tx_once(struct mr_store *s, mr_store_tx_fn fn, void *arg, struct mr_err *err)
{
    int rc = mr_store_begin(s, err);

    if (rc == 0)
        rc = fn(s, arg, err);
    if (rc != 0) {
        mr_store_rollback(s);
        return rc;
    }
    return mr_store_commit(s, err);
}

int mr_store_run_tx(struct mr_store *s, mr_store_tx_fn fn, mr_store_tx_undo undo, void *arg,
                    const struct mr_store_tx_policy *policy, struct mr_err *err)
{
    int tries;
    int rc;

    for (tries = 1;; tries++) {
        rc = run_tx_once(s, fn, arg, err);
        if (rc != 0 && undo != NULL)
            undo(arg);
        if (!mr_store_retryable(rc) || tries >= policy->tries)
            return rc;
        /* a conflict (a deadlock, a cluster's brute-force abort or certification failure) is
           how the database says another writer got there first: expected, so said quietly */
        mr_log(rc == MR_EBUSY ? MR_LOG_DEBUG : policy->log_level,
               "store transaction lost, trying again", "error", err->msg, NULL);
        usleep((useconds_t)(policy->backoff_ms << (tries - 1)) * 1000);
        mr_err_clear(err);
    }
}
