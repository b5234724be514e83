/* SPDX-License-Identifier: MIT */
/*
 * log.h - structured logging: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-23T12:00:00.123Z","level":"info","msg":"message delivered","gid":"g1"}
 *
 * Thread-safe: each line is built in a local buffer and written with one write(2).
 */
#ifndef MR_COMMON_LOG_H
#define MR_COMMON_LOG_H

enum mr_log_level {
    MR_LOG_DEBUG = 0,
    MR_LOG_INFO = 1,
    MR_LOG_WARN = 2,
    MR_LOG_ERROR = 3,
};

/* mr_log_set_level - lines below @level are dropped. Call before threads start. */
void mr_log_set_level(enum mr_log_level level);

/* mr_log_level_parse - "debug", "info", "warn", "error" -> level; -1 if unknown. */
int mr_log_level_parse(const char *s);

/* mr_log_enabled - whether a line at @level would be written. */
int mr_log_enabled(enum mr_log_level level);

/*
 * mr_log - write one line. After @msg come key, value string pairs (both
 * `const char *`; a NULL value is written as null), ended by a NULL key.
 * The userinfo of any URL in a value is written as "***" (mr_url_mask):
 *   mr_log(MR_LOG_INFO, "message delivered", "gid", gid, NULL);
 */
void mr_log(enum mr_log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
