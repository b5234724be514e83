/* SPDX-License-Identifier: MIT */
/*
 * err.c - error codes, their names and descriptions, and the error record.
 * Pure functions; safe from any thread.
 */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mr_strerror(int code)
{
    switch (code) {
#define MR_ERR_DESC(name, value, desc)                                                             \
    case value:                                                                                    \
        return desc;
        MR_ERR_LIST(MR_ERR_DESC)
#undef MR_ERR_DESC
    }
    return "unknown error";
}

const char *mr_err_name(int code)
{
    switch (code) {
#define MR_ERR_NAME(name, value, desc)                                                             \
    case value:                                                                                    \
        return #name;
        MR_ERR_LIST(MR_ERR_NAME)
#undef MR_ERR_NAME
    }
    return "MR_E?";
}

int mr_err_vset(struct mr_err *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int mr_err_set(struct mr_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    code = mr_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void mr_err_clear(struct mr_err *err)
{
    if (err == NULL)
        return;
    err->code = MR_OK;
    err->msg[0] = '\0';
}
