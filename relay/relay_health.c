/* SPDX-License-Identifier: MIT */
/*
 * relay_health.c - destination health, the part both sinks share: the HTTP
 * engine (relay_http.c) counts per scheme, host and port, the Kafka sink
 * (relay_kafka.c) per topic; each embeds a struct mr_relay_health and one
 * struct mr_relay_health_dest per destination, and keeps its own table of
 * destinations and its own calls.
 *
 * A destination counts its failures in a row (no answer, a 5xx, a record
 * the broker did not take). A burst of calls that were out together is one
 * piece of evidence, not many: a failure counts only when its call started
 * after the previous counted failure, so calls started at once and failing at
 * once (a connect storm, a broker restart) count once, and only failures one
 * after another add up. At --unhealthy-after the destination is down: a call
 * to it is admitted only when none of its calls is out and a probe interval
 * has passed since the last (the probe). A down idle destination asks the
 * scheduler every probe interval for a probe (an event: make one of its
 * waiting messages due); its first success makes it healthy again and raises
 * a "recovered" event, on which the scheduler makes every message waiting on
 * it due, spread over --recovery-spread. Events name the destination by its
 * key (common/dest.h), which the store also keeps with each step and
 * back-check, so the match does not depend on how a URL spells it. Each
 * destination feeds the per-destination metrics under its key.
 *
 * Thread: the relay thread. Errors: none; allocation failures abort (mem.h).
 */
#include "relay/relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"

void mr_relay_health_init(struct mr_relay_health *hl, int unhealthy_after, long probe_ms)
{
    hl->unhealthy_after = unhealthy_after > 0 ? unhealthy_after : 0;
    hl->probe_ms = probe_ms > 0 ? probe_ms : 1000;
}

void mr_relay_health_clear(struct mr_relay_health *hl)
{
    struct mr_relay_health_ev *ev;

    while ((ev = mr_relay_health_take(hl)) != NULL)
        free(ev);
}

void mr_relay_health_dest_init(struct mr_relay_health_dest *hd, const char *key,
                               bool (*idle)(const struct mr_relay_health_dest *))
{
    memset(hd, 0, sizeof(*hd));
    snprintf(hd->key, sizeof(hd->key), "%s", key);
    hd->idle = idle;
    hd->slot = mr_metrics_dest_slot(key[0] != '\0' ? key : "other");
}

/* down_unlink - take @hd out of the list of down destinations. */
static void down_unlink(struct mr_relay_health *hl, struct mr_relay_health_dest *hd)
{
    if (hd->dprev != NULL)
        hd->dprev->dnext = hd->dnext;
    else if (hl->down_head == hd)
        hl->down_head = hd->dnext;
    if (hd->dnext != NULL)
        hd->dnext->dprev = hd->dprev;
    hd->dnext = NULL;
    hd->dprev = NULL;
}

void mr_relay_health_forget(struct mr_relay_health *hl, struct mr_relay_health_dest *hd)
{
    if (!hd->down)
        return;
    hd->down = false;
    down_unlink(hl, hd);
    mr_metrics_dest_up(hd->slot, true); /* forgotten: no longer known to be down */
}

bool mr_relay_health_keep(const struct mr_relay_health *hl, const struct mr_relay_health_dest *hd)
{
    return hd->fails > 0 && hl->unhealthy_after > 0;
}

bool mr_relay_health_admit(const struct mr_relay_health *hl, struct mr_relay_health_dest *hd,
                           bool others_out, int64_t mono)
{
    if (!hd->down)
        return true;
    if (others_out || mono < hd->next_probe_ms)
        return false;
    hd->next_probe_ms = mono + hl->probe_ms;
    return true;
}

/* event - queue a health event about @hd for the scheduler (mr_relay_health_take). */
static void event(struct mr_relay_health *hl, const struct mr_relay_health_dest *hd,
                  bool recovered)
{
    struct mr_relay_health_ev *ev;

    if (hd->key[0] == '\0')
        return; /* no key (too long): its messages wait out their back-off */
    ev = mr_xcalloc(1, sizeof(*ev));
    ev->recovered = recovered;
    memcpy(ev->key, hd->key, sizeof(ev->key));
    if (hl->ev_tail != NULL)
        hl->ev_tail->next = ev;
    else
        hl->ev_head = ev;
    hl->ev_tail = ev;
}

bool mr_relay_health_count(struct mr_relay_health *hl, struct mr_relay_health_dest *hd, bool ok,
                           int64_t started_ms, int64_t mono)
{
    char fails[16];

    mr_metrics_dest_call(hd->slot, ok, (long)(mono - started_ms));
    if (ok) {
        hd->fails = 0;
        if (!hd->down)
            return false;
        hd->down = false;
        down_unlink(hl, hd);
        mr_metrics_dest_up(hd->slot, true);
        mr_log(MR_LOG_INFO, "destination healthy again: its waiting messages are due",
               "destination", hd->key, NULL);
        event(hl, hd, true);
        return false;
    }
    /* out together with the last counted failure: the same piece of evidence */
    if (hd->fails > 0 && started_ms < hd->failed_ms)
        return false;
    hd->failed_ms = mono;
    if (hd->fails < 1000000000)
        hd->fails++;
    if (hd->down || hl->unhealthy_after <= 0 || hd->fails < hl->unhealthy_after)
        return false;
    hd->down = true;
    hd->next_probe_ms = mono + hl->probe_ms;
    hd->asked_ms = mono;
    hd->dprev = NULL;
    hd->dnext = hl->down_head;
    if (hl->down_head != NULL)
        hl->down_head->dprev = hd;
    hl->down_head = hd;
    mr_metrics_dest_up(hd->slot, false);
    snprintf(fails, sizeof(fails), "%d", hd->fails);
    mr_log(MR_LOG_WARN, "destination unhealthy: one call at a time until it answers",
           "destination", hd->key, "failures", fails, NULL);
    return true;
}

void mr_relay_health_tick(struct mr_relay_health *hl)
{
    struct mr_relay_health_dest *hd;
    int64_t mono;

    if (hl->down_head == NULL)
        return;
    mono = mr_mono_ms();
    for (hd = hl->down_head; hd != NULL; hd = hd->dnext) {
        if (!hd->idle(hd) || mono < hd->next_probe_ms || mono - hd->asked_ms < hl->probe_ms)
            continue;
        hd->asked_ms = mono;
        event(hl, hd, false);
    }
}

struct mr_relay_health_ev *mr_relay_health_take(struct mr_relay_health *hl)
{
    struct mr_relay_health_ev *ev = hl->ev_head;

    if (ev == NULL)
        return NULL;
    hl->ev_head = ev->next;
    if (hl->ev_head == NULL)
        hl->ev_tail = NULL;
    ev->next = NULL;
    return ev;
}
