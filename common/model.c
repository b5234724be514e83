/* SPDX-License-Identifier: MIT */
/*
 * model.c - state names, the transition table, and message life cycle.
 * Pure functions; safe from any thread.
 */
#include "common/model.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

static const char *const msg_state_names[] = {
#define MR_MSG_STATE_NAME(e, name) name,
    MR_MSG_STATE_LIST(MR_MSG_STATE_NAME)
#undef MR_MSG_STATE_NAME
};

static const char *const step_state_names[] = {
#define MR_STEP_STATE_NAME(e, name) name,
    MR_STEP_STATE_LIST(MR_STEP_STATE_NAME)
#undef MR_STEP_STATE_NAME
};

const char *mr_msg_state_name(int s)
{
    if (s < 0 || s >= MR_MSG_STATE_COUNT)
        return "";
    return msg_state_names[s];
}

int mr_msg_state_parse(const char *name)
{
    int i;

    for (i = 1; i < MR_MSG_STATE_COUNT; i++) {
        if (strcmp(name, msg_state_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *mr_step_state_name(int s)
{
    if (s < 0 || s >= MR_STEP_STATE_COUNT)
        return "";
    return step_state_names[s];
}

int mr_step_state_parse(const char *name)
{
    int i;

    for (i = 0; i < MR_STEP_STATE_COUNT; i++) {
        if (strcmp(name, step_state_names[i]) == 0)
            return i;
    }
    return -1;
}

bool mr_msg_state_is_final(int s)
{
    return s == MR_MSG_SUCCEED || s == MR_MSG_FAILED;
}

bool mr_msg_state_is_live(int s)
{
    return s == MR_MSG_PREPARED || s == MR_MSG_SUBMITTED;
}

bool mr_msg_transition_ok(int from, int to)
{
    switch (from) {
    case MR_MSG_NONE:
        return to == MR_MSG_PREPARED || to == MR_MSG_SUBMITTED;
    case MR_MSG_PREPARED:
        return to == MR_MSG_SUBMITTED || to == MR_MSG_FAILED || to == MR_MSG_PARKED;
    case MR_MSG_SUBMITTED:
        return to == MR_MSG_SUCCEED || to == MR_MSG_FAILED || to == MR_MSG_PARKED;
    case MR_MSG_PARKED:
        return to == MR_MSG_FAILED || to == MR_MSG_PREPARED || to == MR_MSG_SUBMITTED;
    default:
        return false;
    }
}

struct mr_msg *mr_msg_new(size_t nsteps)
{
    struct mr_msg *m = mr_xcalloc(1, sizeof(*m));

    if (nsteps) {
        m->steps = mr_xcalloc(nsteps, sizeof(*m->steps));
        m->nsteps = nsteps;
    }
    return m;
}

void mr_msg_free(struct mr_msg *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->nsteps; i++) {
        free(m->steps[i].branch_id);
        free(m->steps[i].url);
        free(m->steps[i].payload);
        free(m->steps[i].last_error);
        free(m->steps[i].dest);
    }
    free(m->steps);
    free(m->gid);
    free(m->query_prepared);
    free(m->query_dest);
    free(m->protocol);
    free(m->custom_data);
    free(m->branch_headers);
    free(m->traceparent);
    free(m->tracestate);
    free(m->ordering_key);
    free(m->order_waits_for);
    free(m->owner);
    free(m->result);
    free(m);
}
