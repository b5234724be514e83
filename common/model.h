/* SPDX-License-Identifier: MIT */
/*
 * model.h - a message and its steps, as every room sees them.
 *
 * States and their wire names come from one X-macro list each, so
 * mr_msg_state_name() and the store can't drift. The allowed transitions are
 * in mr_msg_transition_ok(); the store's one status-changing function checks it.
 *
 * Ownership: every pointer member of struct mr_msg / struct mr_step is owned by
 * the struct and freed by mr_msg_free().
 */
#ifndef MR_COMMON_MODEL_H
#define MR_COMMON_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(enum, wire name) */
#define MR_MSG_STATE_LIST(X)                                                                       \
    X(MR_MSG_NONE, "")                                                                             \
    X(MR_MSG_PREPARED, "prepared")                                                                 \
    X(MR_MSG_SUBMITTED, "submitted")                                                               \
    X(MR_MSG_SUCCEED, "succeed")                                                                   \
    X(MR_MSG_FAILED, "failed")                                                                     \
    X(MR_MSG_PARKED, "parked")

enum mr_msg_state {
#define MR_MSG_STATE_ENUM(e, name) e,
    MR_MSG_STATE_LIST(MR_MSG_STATE_ENUM)
#undef MR_MSG_STATE_ENUM
        MR_MSG_STATE_COUNT
};

#define MR_STEP_STATE_LIST(X)                                                                      \
    X(MR_STEP_PREPARED, "prepared")                                                                \
    X(MR_STEP_SUCCEED, "succeed")

enum mr_step_state {
#define MR_STEP_STATE_ENUM(e, name) e,
    MR_STEP_STATE_LIST(MR_STEP_STATE_ENUM)
#undef MR_STEP_STATE_ENUM
        MR_STEP_STATE_COUNT
};

/* mr_msg_state_name - wire name of @s ("prepared"); "" for MR_MSG_NONE or out of range. */
const char *mr_msg_state_name(int s);

/* mr_msg_state_parse - wire name -> state; -1 if unknown. */
int mr_msg_state_parse(const char *name);

/* mr_step_state_name - wire name of @s. */
const char *mr_step_state_name(int s);

/* mr_step_state_parse - wire name -> step state; -1 if unknown. */
int mr_step_state_parse(const char *name);

/* mr_msg_state_is_final - succeed or failed. */
bool mr_msg_state_is_final(int s);

/*
 * mr_msg_state_is_live - prepared or submitted: the states the relay works on
 * (claims, leases, calls). Parked and the final states are not live.
 */
bool mr_msg_state_is_live(int s);

/*
 * mr_msg_transition_ok - whether @from -> @to is allowed:
 *   none -> prepared | submitted; prepared -> submitted | failed;
 *   submitted -> succeed | failed (failed only by forceStop);
 *   prepared | submitted -> parked (a back-check or a step failed retry_limit times);
 *   parked -> failed (forceStop) | prepared | submitted (redrive, back to where it was parked).
 */
bool mr_msg_transition_ok(int from, int to);

/* The longest ordering key, bytes. */
#define MR_ORDER_KEY_MAX 128

/*
 * When a keyed message waits for its predecessor (next_cron_time): never of
 * itself; its predecessor's finish makes it due (store.h, ordered delivery).
 */
#define MR_ORDER_WAIT_MS INT64_C(253402300799000)
#define MR_ORDER_WAIT_SQL "253402300799000" /* the same, for the stores' SQL text */

/* The largest retry_limit a message or --retry-limit may give. */
#define MR_RETRY_LIMIT_MAX 1000000

/* One step (a DTM "branch"): where a message must go, and how that went. */
struct mr_step {
    int64_t id;         /* store row id; 0 before insert */
    char *branch_id;    /* "01", or "01-02" for a topic's subscribers */
    char *url;          /* http(s)://… or kafka://… */
    char *payload;      /* body bytes, NUL-terminated for convenience */
    size_t payload_len; /* without the NUL */
    int state;          /* enum mr_step_state */
    int attempts;       /* calls made so far */
    char *last_error;   /* last non-success result, or NULL */
    char *dest;         /* its destination key (common/dest.h), set by the store at insert; or NULL */
    int64_t create_ms;
    int64_t update_ms;
    int64_t finish_ms; /* 0 until succeed */
};

/* A message (a DTM "global transaction" of type msg). Times are UTC ms; 0 = unset. */
struct mr_msg {
    int64_t id; /* store row id; 0 before insert */
    char *gid;
    int state;            /* enum mr_msg_state */
    char *query_prepared; /* back-check URL; "" when none */
    char *query_dest;     /* its destination key (common/dest.h), set by the store at insert; or NULL */
    char *protocol;       /* "http" */
    char *custom_data;    /* as sent, e.g. {"delay":10}; "" when none */
    char *branch_headers; /* JSON object text {"k":"v"}; "" when none */
    bool concurrent;
    bool wait_result;
    int timeout_to_fail; /* seconds; 0 = server default */
    int retry_interval;  /* seconds; 0 = server default */
    int request_timeout; /* seconds; 0 = server default */
    int delay;           /* seconds, from custom_data; 0 = none */
    int64_t create_ms;
    int64_t update_ms;
    int64_t finish_ms;
    int64_t rollback_ms;
    int64_t next_cron_ms;   /* when the relay looks at it next */
    int next_cron_interval; /* seconds; the current back-off interval */
    char *owner;            /* relay holding the lease; "" when none */
    int64_t lease_until_ms; /* lease expiry; 0 when none */
    char *result;           /* last error of a pass, for operators; "" when none */
    int retry_limit;        /* failed attempts before parking; 0 = the server's --retry-limit */
    int query_attempts;     /* back-checks that ended in an error since the last (re)start */
    int parked_from;        /* parked: the state it was parked from (redrive goes back there) */
    char *traceparent;      /* W3C traceparent of its prepare/submit (trace.h); "" if none */
    char *tracestate;       /* its W3C tracestate; "" when none */
    char *ordering_key;     /* its ordering key (MR_ORDER_KEY_MAX bytes at most); "" = unkeyed */
    int64_t order_pos;      /* its place in its key's order, from its submit; 0 = none yet */
    char *order_waits_for;  /* the gid it waits for on its key (mr_store_msg_get with steps
                               fills it), or NULL */
    struct mr_step *steps;
    size_t nsteps;
};

/* mr_msg_new - a zeroed message with @nsteps zeroed steps. Owned result: mr_msg_free(). */
struct mr_msg *mr_msg_new(size_t nsteps);

/* mr_msg_free - free @m and everything it owns. NULL is a no-op. */
void mr_msg_free(struct mr_msg *m);

#endif
