/* SPDX-License-Identifier: MIT */
/*
 * result.h - the one result classifier, shared by step delivery and the
 * back-check, as the DTM result protocol defines it:
 *
 *   status 425, or "ONGOING" anywhere in the body  -> ongoing
 *   else status 409, or "FAILURE" in the body       -> failure
 *   else status other than 200, or transport error  -> error
 *   else                                            -> success
 *
 * With @strict (--strict-query-prepared, back-checks only) a 200 must also
 * contain "SUCCESS" to count as success; otherwise it is an error.
 */
#ifndef MR_COMMON_RESULT_H
#define MR_COMMON_RESULT_H

#include <stdbool.h>
#include <stddef.h>

#define MR_RESULT_LIST(X)                                                                          \
    X(MR_RESULT_SUCCESS, "success")                                                                \
    X(MR_RESULT_ONGOING, "ongoing")                                                                \
    X(MR_RESULT_FAILURE, "failure")                                                                \
    X(MR_RESULT_ERROR, "error")

enum mr_result {
#define MR_RESULT_ENUM(e, name) e,
    MR_RESULT_LIST(MR_RESULT_ENUM)
#undef MR_RESULT_ENUM
        MR_RESULT_COUNT
};

/*
 * mr_result_classify - classify an HTTP answer. @http_status 0 means the call
 * failed before a status arrived (connect refused, timeout). @body may be NULL
 * when @len is 0; it need not be NUL-terminated.
 */
enum mr_result mr_result_classify(long http_status, const char *body, size_t len, bool strict);

/* mr_result_name - "success", "ongoing", "failure", "error". */
const char *mr_result_name(enum mr_result r);

#endif
