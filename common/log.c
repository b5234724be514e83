/* SPDX-License-Identifier: MIT */
/*
 * log.c - JSON-lines logger (see log.h). The level is set once at start-up;
 * after that the only shared state is the file descriptor, written atomically
 * one line at a time. URL credentials in values are masked here, once for
 * every line (common/url.h).
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/url.h"

static enum mr_log_level min_level = MR_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mr_log_set_level(enum mr_log_level level)
{
    min_level = level;
}

int mr_log_level_parse(const char *s)
{
    int i;

    for (i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0)
            return i;
    }
    if (strcmp(s, "warning") == 0)
        return MR_LOG_WARN;
    return -1;
}

int mr_log_enabled(enum mr_log_level level)
{
    return level >= min_level;
}

/* add_value - @val as a JSON string, with the credentials of any URL in it masked. */
static int add_value(struct mr_buf *b, const char *val)
{
    char *masked;
    int rc;

    if (!mr_url_has_userinfo(val))
        return mr_buf_add_jstr(b, val, strlen(val));
    masked = mr_url_masked(val);
    rc = mr_buf_add_jstr(b, masked, strlen(masked));
    free(masked);
    return rc;
}

void mr_log(enum mr_log_level level, const char *msg, ...)
{
    struct mr_buf b = MR_BUF_INIT(16384);
    char ts[40];
    const char *key;
    va_list ap;

    if (level < min_level)
        return;
    mr_time_rfc3339_ms(mr_now_ms(), ts, sizeof(ts));
    mr_buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
    mr_buf_add_jstr(&b, msg, strlen(msg));
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);

        mr_buf_addc(&b, ',');
        mr_buf_add_jstr(&b, key, strlen(key));
        mr_buf_addc(&b, ':');
        if (val == NULL)
            mr_buf_adds(&b, "null");
        else if (add_value(&b, val) != 0)
            mr_buf_adds(&b, "\"(too long)\"");
    }
    va_end(ap);
    mr_buf_adds(&b, "}\n");
    /* one write per line keeps lines whole across threads; a short write of a log line is not worth
     * a retry loop */
    if (write(STDERR_FILENO, b.p, b.len) < 0) {
        /* nowhere left to report it */
    }
    mr_buf_release(&b);
}
