/* SPDX-License-Identifier: MIT */
/*
 * trace.h - W3C Trace Context (traceparent, tracestate) for a message: the
 * check of what a producer sends, the child span id of each call made on the
 * message's behalf, and the trace id in log lines.
 *
 * A traceparent is kept only in version 00's exact form
 * "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>" (lower-case hex,
 * neither id all zeros); anything else is dropped, as the W3C rule says, and
 * then the tracestate too. A tracestate is kept up to MR_TRACESTATE_MAX bytes
 * of printable ASCII; a longer one is dropped whole.
 *
 * Pure functions on borrowed input; any thread.
 */
#ifndef MR_COMMON_TRACE_H
#define MR_COMMON_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/model.h"

/* Length of a version 00 traceparent. */
#define MR_TRACEPARENT_LEN 55

/* Most bytes of a tracestate kept (the W3C's recommended minimum to propagate). */
#define MR_TRACESTATE_MAX 512

/* mr_trace_parent_ok - whether @s is a valid version 00 traceparent (see above). */
bool mr_trace_parent_ok(const char *s);

/* mr_trace_state_ok - whether @s is a tracestate to keep: printable ASCII, at most
 * MR_TRACESTATE_MAX bytes. */
bool mr_trace_state_ok(const char *s);

/*
 * mr_trace_child - into @out (MR_TRACEPARENT_LEN + 1 bytes) the traceparent
 * of a call made under @parent (valid): the same version, trace id and
 * flags, a new random parent id (never all zeros).
 */
void mr_trace_child(const char *parent, char *out);

/* mr_trace_header_is - whether header @name is traceparent or tracestate (any case). */
bool mr_trace_header_is(const char *name);

/*
 * mr_trace_log_key - "trace" when @m has a traceparent, its trace id then in
 * @buf (33 bytes); else NULL. Meant as the LAST key of an mr_log() line
 * (MR_TRACE_LOG): a NULL key ends the pairs there, so lines about a message
 * without a trace carry no trace key.
 */
const char *mr_trace_log_key(const struct mr_msg *m, char *buf);

#define MR_TRACE_LOG(m, buf) mr_trace_log_key((m), (buf)), (buf)

#endif
