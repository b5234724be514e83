/* SPDX-License-Identifier: MIT */
/*
 * relay_import.c - `msgrelay import-dtm`: move the msg transactions of a
 * stopped DTM server (its MySQL trans_global / trans_branch_op tables) into
 * msgrelay's store, so that msgrelay carries on where DTM stopped.
 *
 * The DTM tables are read in pages of --batch rows by id (store.h,
 * mr_store_dtm_page), so memory follows the page, not the table. Each msg row
 * becomes a message through the intake's own validation
 * (mr_prepare_check_msg: gid, URLs and the target policy, options, limits),
 * then takes DTM's state, times, schedule and branch states and payloads
 * as they are; a page's new messages are written in one transaction
 * (mr_store_msg_insert_many). Idempotent: a gid already in the store is
 * skipped and counted, so a re-run imports nothing twice. Unfinished
 * messages (prepared, submitted) are imported; finished ones (succeed,
 * failed, aborting) only with --include-finished, in their final state
 * (aborting as failed); other transaction types are skipped and counted. A
 * row that cannot become a message is logged with its gid and skipped.
 *
 * Output: a progress line on stderr after each page, and at the end one
 * JSON object of counts on stdout. Exit 0 when every row was read and none
 * failed, 1 when a row failed or the databases failed, 2 for bad usage.
 */
#include "relay/relay.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "prepare/prepare.h"
#include "store/store.h"

/* DTM rows read per page unless --batch says otherwise. */
#define IMPORT_BATCH_DEFAULT 500

/* The longest branch id taken ("01", "01-02", ...). */
#define BRANCH_ID_MAX 32

/* What the command was asked. */
struct import_opts {
    const char *from;
    bool dry_run;
    bool include_finished;
    size_t batch;
};

/* What it did. */
struct import_counts {
    long read;
    long imported;
    long present;  /* skipped: the gid is in the store already */
    long finished; /* skipped: final in DTM, without --include-finished */
    long not_msg;  /* skipped: saga, tcc, xa, workflow */
    long failed;
};

/* import-dtm's own flags; serve's settings (--store, limits, the target policy) apply too. */
struct mr_cmd_flag mr_import_dtm_flags[] = {
    {"--from", "URI",
     "DTM's database, mysql://USER:PASS@HOST:PORT/dtm (or MSGRELAY_IMPORT_FROM, which keeps the "
     "password out of the process list)",
     NULL},
    {"--dry-run", NULL, "read and count only; write nothing", NULL},
    {"--include-finished", NULL, "also import succeed, failed and aborting (as failed) ones",
     NULL},
    {"--batch", "N", "DTM rows per page and per store transaction, 1 to 10000 (default 500)",
     NULL},
    {NULL, NULL, NULL, NULL},
};

/* row_failed - log a row that is not imported, count it. */
static void row_failed(struct import_counts *c, const char *gid, const char *why)
{
    mr_log(MR_LOG_WARN, "import-dtm: row not imported", "gid", gid, "error", why, NULL);
    c->failed++;
}

/* import_state - DTM's status @s as the state to write, or -1 when it is not one to import. */
static int import_state(const char *s, bool include_finished, bool *final)
{
    *final = false;
    if (strcmp(s, "prepared") == 0)
        return MR_MSG_PREPARED;
    if (strcmp(s, "submitted") == 0)
        return MR_MSG_SUBMITTED;
    *final = strcmp(s, "succeed") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "aborting") == 0;
    if (!*final || !include_finished)
        return -1;
    return strcmp(s, "succeed") == 0 ? MR_MSG_SUCCEED : MR_MSG_FAILED;
}

/* set_text - @o[@key] = the string @v, replacing what the stored options had; -1 when @v is not UTF-8. */
static int set_text(json_t *o, const char *key, const char *v)
{
    json_object_del(o, key);
    return json_object_set_new(o, key, json_string(v));
}

/*
 * body_of - the prepare body DTM would have received for @t: its stored
 * options, gid, one step per action branch (payloads are set afterwards,
 * as bytes), query_prepared, protocol and custom_data. NULL with @err set
 * when the stored row is not JSON-able. Owned result: free().
 */
static char *body_of(const struct mr_dtm_trans *t, struct mr_err *err)
{
    static const char *const keys[] = {"gid", "trans_type", "query_prepared", "protocol",
                                       "custom_data"};
    const char *vals[] = {t->gid, "msg", t->query_prepared, t->protocol, t->custom_data};
    json_error_t jerr;
    json_t *root = t->options[0] != '\0' ? json_loads(t->options, 0, &jerr) : json_object();
    json_t *steps = json_array();
    json_t *payloads = json_array();
    char *body = NULL;
    size_t i;

    if (root == NULL || !json_is_object(root)) {
        mr_err_set(err, MR_EINVAL, "options: not a JSON object");
        goto out;
    }
    json_object_del(root, "wait_result"); /* nobody waits for an imported message */
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (set_text(root, keys[i], vals[i]) != 0) {
            mr_err_set(err, MR_EINVAL, "%s: not UTF-8", keys[i]);
            goto out;
        }
    }
    for (i = 0; i < t->nbranches; i++) {
        const struct mr_dtm_branch *b = &t->branches[i];
        json_t *url = json_string(b->url);

        if (strcmp(b->op, "action") != 0 || url == NULL) {
            json_decref(url);
            mr_err_set(err, MR_EINVAL, "branch %s: %s", b->branch_id,
                       url == NULL ? "url is not UTF-8" : "op is not a msg action");
            goto out;
        }
        json_array_append_new(steps, json_pack("{s:o}", "action", url));
        json_array_append_new(payloads, json_string(""));
    }
    json_object_set(root, "steps", steps);
    json_object_set(root, "payloads", payloads);
    body = json_dumps(root, JSON_COMPACT);
    if (body == NULL)
        mr_err_set(err, MR_EINVAL, "options: cannot be serialised");
out:
    json_decref(root);
    json_decref(steps);
    json_decref(payloads);
    return body;
}

/* branch_id_ok - DTM's "01" or "01-02" form: digits and dashes, 1..BRANCH_ID_MAX. */
static bool branch_id_ok(const char *id)
{
    size_t n = strlen(id);

    return n > 0 && n <= BRANCH_ID_MAX && strspn(id, "0123456789-") == n;
}

/* or_else - @a unless it is 0, else @b. */
static int64_t or_else(int64_t a, int64_t b)
{
    return a != 0 ? a : b;
}

/*
 * fill_steps - give the steps of @m (one per branch of @t, in order) DTM's
 * branch ids, payload bytes, states and times.
 */
static int fill_steps(struct mr_msg *m, const struct mr_dtm_trans *t, struct mr_err *err)
{
    size_t i;

    for (i = 0; i < m->nsteps; i++) {
        const struct mr_dtm_branch *b = &t->branches[i];
        struct mr_step *st = &m->steps[i];
        int state = mr_step_state_parse(b->status);

        if (!branch_id_ok(b->branch_id))
            return mr_err_set(err, MR_EINVAL, "branch %zu: branch_id is not DTM's 01 or 01-02 form",
                              i + 1);
        if (state < 0)
            return mr_err_set(err, MR_EINVAL, "branch %s: status '%s' is not prepared or succeed",
                              b->branch_id, b->status);
        if (b->data_len > mr_config.max_body)
            return mr_err_set(err, MR_EINVAL, "branch %s: payload larger than %zu bytes",
                              b->branch_id, mr_config.max_body);
        free(st->branch_id);
        st->branch_id = mr_xstrdup(b->branch_id);
        free(st->payload);
        st->payload = mr_xstrndup(b->data, b->data_len);
        st->payload_len = b->data_len;
        st->state = state;
        st->attempts = state == MR_STEP_SUCCEED ? 1 : 0;
        st->create_ms = or_else(b->create_ms, m->create_ms);
        st->update_ms = or_else(b->update_ms, st->create_ms);
        st->finish_ms = state == MR_STEP_SUCCEED ? or_else(b->finish_ms, st->update_ms) : 0;
    }
    return 0;
}

/*
 * convert - the message to write for DTM row @t in state @state, validated
 * as the intake validates a prepare. Owned result: mr_msg_free().
 */
static int convert(const struct mr_dtm_trans *t, int state, int64_t now, struct mr_msg **out,
                   struct mr_err *err)
{
    char *body = body_of(t, err);
    struct mr_msg *m = NULL;
    int64_t cap_ms = (int64_t)mr_config.max_retry_interval * 1000;
    int rc;

    *out = NULL;
    if (body == NULL)
        return MR_EINVAL;
    rc = mr_prepare_check_msg(body, strlen(body), &m, err);
    free(body);
    if (rc != 0)
        return rc;
    m->state = state;
    m->create_ms = or_else(t->create_ms, now);
    m->update_ms = or_else(t->update_ms, m->create_ms);
    rc = fill_steps(m, t, err);
    if (rc != 0) {
        mr_msg_free(m);
        return rc;
    }
    if (state == MR_MSG_SUCCEED)
        m->finish_ms = or_else(t->finish_ms, m->update_ms);
    if (state == MR_MSG_FAILED)
        m->rollback_ms = or_else(t->rollback_ms, m->update_ms);
    /* DTM doubles without a cap: bring its schedule within this relay's */
    m->next_cron_interval = t->next_cron_interval > 0 ? t->next_cron_interval
                                                      : mr_backoff_msg_base(m);
    if (m->next_cron_interval > mr_config.max_retry_interval)
        m->next_cron_interval = mr_config.max_retry_interval;
    m->next_cron_ms = or_else(t->next_cron_ms, now);
    if (mr_msg_state_is_live(state) && m->next_cron_ms > now + cap_ms)
        m->next_cron_ms = now + cap_ms;
    free(m->result);
    m->result = mr_xstrdup(t->rollback_reason[0] != '\0' ? t->rollback_reason : t->result);
    *out = m;
    return 0;
}

/*
 * write_one - insert @m in a transaction of its own: 1 written, 0 its gid
 * is stored already, or an error.
 */
static int write_one(struct mr_store *s, struct mr_msg *m, struct mr_err *err)
{
    size_t i;
    int rc;

    m->id = 0; /* what a failed batch may have left */
    for (i = 0; i < m->nsteps; i++)
        m->steps[i].id = 0;
    rc = mr_store_begin(s, err);
    if (rc == 0)
        rc = mr_store_msg_insert(s, m, err);
    if (rc == 0)
        rc = mr_store_commit(s, err);
    else
        mr_store_rollback(s);
    if (rc == MR_EEXIST) {
        mr_err_clear(err);
        return 0;
    }
    return rc == 0 ? 1 : rc;
}

/*
 * write_page - the messages @v[0..n) that are not in the store yet, in one
 * transaction; when that fails (a message another writer stored meanwhile,
 * a row the store refuses), one by one so the rest still goes in. Counts
 * into @c; frees nothing. 0, or a store error that ends the import.
 */
static int write_page(struct mr_store *s, struct mr_msg **v, size_t n, bool dry_run,
                      struct import_counts *c, struct mr_err *err)
{
    const char **gids = mr_xcalloc(n + 1, sizeof(*gids));
    struct mr_msg **have = mr_xcalloc(n + 1, sizeof(*have));
    struct mr_msg **fresh = mr_xcalloc(n + 1, sizeof(*fresh));
    size_t k = 0;
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++)
        gids[i] = v[i]->gid;
    if (s != NULL && n > 0)
        rc = mr_store_msg_get_many(s, gids, n, false, have, err);
    for (i = 0; rc == 0 && i < n; i++) {
        if (have[i] != NULL)
            c->present++;
        else
            fresh[k++] = v[i];
        mr_msg_free(have[i]);
    }
    if (rc == 0 && (dry_run || k == 0)) {
        c->imported += (long)k;
    } else if (rc == 0) {
        rc = mr_store_begin(s, err);
        if (rc == 0)
            rc = mr_store_msg_insert_many(s, fresh, k, err);
        if (rc == 0)
            rc = mr_store_commit(s, err);
        else
            mr_store_rollback(s);
        if (rc == 0)
            c->imported += (long)k;
    }
    if (rc != 0 && rc != MR_EUNAVAIL && !dry_run && k > 0) {
        /* the page as one transaction failed: row by row, so one bad row stops only itself */
        mr_err_clear(err);
        rc = 0;
        for (i = 0; rc == 0 && i < k; i++) {
            struct mr_err one = MR_ERR_INIT;
            int w = write_one(s, fresh[i], &one);

            if (w == 1)
                c->imported++;
            else if (w == 0)
                c->present++;
            else if (w == MR_EUNAVAIL)
                rc = mr_err_set(err, w, "%s", one.msg);
            else
                row_failed(c, fresh[i]->gid, one.msg);
        }
    }
    free(gids);
    free(have);
    free(fresh);
    return rc;
}

/* progress - the counts so far, one line on stderr. */
static void progress(const struct import_counts *c, bool dry_run, bool done)
{
    fprintf(stderr,
            "msgrelay: import-dtm%s: %sread %ld, %s %ld, skipped %ld (in the store already %ld, "
            "finished %ld, not msg %ld), failed %ld\n",
            dry_run ? " (dry run)" : "", done ? "done: " : "", c->read,
            dry_run ? "would import" : "imported", c->imported, c->present + c->finished + c->not_msg,
            c->present, c->finished, c->not_msg, c->failed);
}

/*
 * import_page - turn the DTM rows @t[0..n) into messages and write them.
 * 0, or a store error that ends the import.
 */
static int import_page(struct mr_store *s, const struct import_opts *o,
                       const struct mr_dtm_trans *t, size_t n, struct import_counts *c,
                       struct mr_err *err)
{
    struct mr_msg **v = mr_xcalloc(n + 1, sizeof(*v));
    int64_t now = mr_now_ms();
    size_t k = 0;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        struct mr_err why = MR_ERR_INIT;
        bool final;
        int state;

        c->read++;
        if (strcmp(t[i].trans_type, "msg") != 0) {
            c->not_msg++;
            continue;
        }
        state = import_state(t[i].status, o->include_finished, &final);
        if (state < 0 && final) {
            c->finished++;
        } else if (state < 0) {
            mr_err_set(&why, MR_EINVAL, "status '%s' is not one of DTM's msg states",
                       t[i].status);
            row_failed(c, t[i].gid, why.msg);
        } else if (convert(&t[i], state, now, &v[k], &why) != 0) {
            row_failed(c, t[i].gid, why.msg);
        } else {
            k++;
        }
    }
    rc = write_page(s, v, k, o->dry_run, c, err);
    for (i = 0; i < k; i++)
        mr_msg_free(v[i]);
    free(v);
    return rc;
}

/* run - the import proper, on the configuration already read. */
static int run(const struct import_opts *o, struct import_counts *c)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_store_dtm *d = NULL;
    struct mr_store *s = NULL;
    struct mr_dtm_trans *t = NULL;
    size_t n = 0;
    int64_t after = 0;
    char *shown;
    int rc;

    rc = mr_store_dtm_open(o->from, &d, &err);
    if (rc != 0) {
        shown = mr_store_uri_redacted(o->from);
        fprintf(stderr, "msgrelay: import-dtm: --from %s: %s\n", shown, err.msg);
        free(shown);
        return 1;
    }
    /* a dry run creates nothing: no SQLite file yet means nothing is stored */
    if (!o->dry_run || strncmp(mr_config.store, "sqlite:", 7) != 0 ||
        access(mr_config.store + 7, F_OK) == 0)
        rc = mr_store_open(mr_config.store, &s, &err);
    if (rc != 0) {
        shown = mr_store_uri_redacted(mr_config.store);
        fprintf(stderr, "msgrelay: import-dtm: --store %s: %s\n", shown, err.msg);
        free(shown);
        mr_store_dtm_close(d);
        return 1;
    }
    do {
        rc = mr_store_dtm_page(d, after, o->batch, &t, &n, &err);
        if (rc == 0 && n > 0) {
            after = t[n - 1].id;
            rc = import_page(s, o, t, n, c, &err);
            progress(c, o->dry_run, false);
        }
        mr_store_dtm_free(t, n);
    } while (rc == 0 && n == o->batch);
    mr_store_close(s);
    mr_store_dtm_close(d);
    progress(c, o->dry_run, true);
    if (rc != 0) {
        fprintf(stderr, "msgrelay: import-dtm: stopped after DTM id %lld: %s\n", (long long)after,
                err.msg);
        return 1;
    }
    return c->failed > 0;
}

int mr_import_dtm(struct mr_cmd *cmd)
{
    struct import_opts o = {NULL, false, false, IMPORT_BATCH_DEFAULT};
    struct import_counts c;
    const char *batch = mr_import_dtm_flags[3].value;
    int rc;

    (void)cmd;
    o.from = mr_import_dtm_flags[0].value;
    o.dry_run = mr_import_dtm_flags[1].value != NULL;
    o.include_finished = mr_import_dtm_flags[2].value != NULL;
    if (batch != NULL) {
        char *end = NULL;
        long b = strtol(batch, &end, 10);

        if (*batch == '\0' || *end != '\0' || b < 1 || b > MR_STORE_DTM_PAGE_MAX) {
            fprintf(stderr, "msgrelay: import-dtm: --batch: must be 1 to %d\n",
                    MR_STORE_DTM_PAGE_MAX);
            return 2;
        }
        o.batch = (size_t)b;
    }
    if (o.from == NULL && getenv("MSGRELAY_IMPORT_FROM") != NULL &&
        getenv("MSGRELAY_IMPORT_FROM")[0] != '\0')
        o.from = getenv("MSGRELAY_IMPORT_FROM");
    if (o.from == NULL || o.from[0] == '\0') {
        fprintf(stderr, "msgrelay: import-dtm: --from (or MSGRELAY_IMPORT_FROM) is required "
                        "(see msgrelay import-dtm --help)\n");
        return 2;
    }
    mr_log_set_level(mr_config.log_level > MR_LOG_WARN ? mr_config.log_level : MR_LOG_WARN);
    memset(&c, 0, sizeof(c));
    rc = run(&o, &c);
    printf("{\"read\":%ld,\"imported\":%ld,\"skipped_present\":%ld,\"skipped_finished\":%ld,"
           "\"skipped_not_msg\":%ld,\"failed\":%ld,\"dry_run\":%s}\n",
           c.read, c.imported, c.present, c.finished, c.not_msg, c.failed,
           o.dry_run ? "true" : "false");
    return rc;
}
