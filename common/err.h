/* SPDX-License-Identifier: MIT */
/*
 * err.h - msgrelay's error codes and the error record passed down call chains.
 *
 * Every function that can fail returns 0 or a negative MR_E* code. One that fails
 * for a reason worth telling takes a `struct mr_err *err` as its last argument
 * (NULL allowed) and fills it through mr_err_set(), which returns the code so it
 * can be the return value. Nothing keeps a "last error".
 *
 * Messages follow one style: lowercase, no full stop, what failed first.
 */
#ifndef MR_COMMON_ERR_H
#define MR_COMMON_ERR_H

#include <stdarg.h>

#include <stddef.h>

/* X(name, value, description) */
#define MR_ERR_LIST(X)                                                                             \
    X(MR_OK, 0, "success")                                                                         \
    X(MR_EINVAL, -1, "invalid argument")                                                           \
    X(MR_ENOENT, -2, "not found")                                                                  \
    X(MR_EEXIST, -3, "already exists")                                                             \
    X(MR_ECONFLICT, -4, "state conflict")                                                          \
    X(MR_ETOOBIG, -5, "too big")                                                                   \
    X(MR_ESTORE, -6, "store error")                                                                \
    X(MR_EUNAVAIL, -7, "unavailable")                                                              \
    X(MR_EIO, -8, "i/o error")                                                                     \
    X(MR_EBUSY, -9, "busy")                                                                        \
    X(MR_ESYS, -10, "system error")                                                                \
    X(MR_ETIMEOUT, -11, "timed out")

enum mr_errcode {
#define MR_ERR_ENUM(name, value, desc) name = value,
    MR_ERR_LIST(MR_ERR_ENUM)
#undef MR_ERR_ENUM
};

/* An error record: a code and a short message. Embedded by the caller. */
struct mr_err {
    int code;
    char msg[256];
};

#define MR_ERR_INIT                                                                                \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* mr_strerror - the description of @code ("unknown error" if none). */
const char *mr_strerror(int code);

/* mr_err_name - the symbolic name of @code ("MR_ENOENT"). */
const char *mr_err_name(int code);

/*
 * mr_err_set - record @code and a printf-style message in @err (which may be NULL).
 * Returns @code, so `return mr_err_set(err, MR_EINVAL, "gid: %s", why);` works.
 * A message longer than the record is truncated: it is for humans.
 */
int mr_err_set(struct mr_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* mr_err_vset - mr_err_set() with a va_list. */
int mr_err_vset(struct mr_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* mr_err_clear - reset @err to success. NULL is a no-op. */
void mr_err_clear(struct mr_err *err);

#endif
