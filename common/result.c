/* SPDX-License-Identifier: MIT */
/*
 * result.c - the result classifier (see result.h). Pure; any thread.
 */
#include "common/result.h"

#include <string.h>

static const char *const names[] = {
#define MR_RESULT_NAME(e, name) name,
    MR_RESULT_LIST(MR_RESULT_NAME)
#undef MR_RESULT_NAME
};

/* contains - whether @needle occurs in the first @len bytes of @hay (which may hold NULs). */
static bool contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    size_t i;

    if (hay == NULL || len < n)
        return false;
    for (i = 0; i + n <= len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return true;
    }
    return false;
}

enum mr_result mr_result_classify(long http_status, const char *body, size_t len, bool strict)
{
    if (http_status == 0)
        return MR_RESULT_ERROR;
    if (http_status == 425 || contains(body, len, "ONGOING"))
        return MR_RESULT_ONGOING;
    if (http_status == 409 || contains(body, len, "FAILURE"))
        return MR_RESULT_FAILURE;
    if (http_status != 200)
        return MR_RESULT_ERROR;
    if (strict && !contains(body, len, "SUCCESS"))
        return MR_RESULT_ERROR;
    return MR_RESULT_SUCCESS;
}

const char *mr_result_name(enum mr_result r)
{
    if ((int)r < 0 || r >= MR_RESULT_COUNT)
        return "?";
    return names[r];
}
