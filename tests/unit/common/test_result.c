/* SPDX-License-Identifier: MIT */
/*
 * test_result.c - the one result classifier (common/result.c), shared by step
 * delivery and the back-check: statuses 200/425/409/500 and transport errors,
 * ONGOING / FAILURE text anywhere in any body with ONGOING checked first, and
 * the strict back-check mode that wants SUCCESS in a 200.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/result.h"

/* cls - classify a NUL-terminated body (NULL for none). */
static enum mr_result cls(long status, const char *body, bool strict)
{
    return mr_result_classify(status, body, body != NULL ? strlen(body) : 0, strict);
}

static void test_result_200_is_success_whatever_the_body(void **state)
{
    (void)state;
    assert_int_equal(cls(200, NULL, false), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "", false), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "null", false), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "{}", false), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "{\"dtm_result\":\"SUCCESS\"}", false), MR_RESULT_SUCCESS);
}

static void test_result_status_codes(void **state)
{
    (void)state;
    assert_int_equal(cls(425, NULL, false), MR_RESULT_ONGOING);
    assert_int_equal(cls(409, NULL, false), MR_RESULT_FAILURE);
    assert_int_equal(cls(500, NULL, false), MR_RESULT_ERROR);
    assert_int_equal(cls(500, "internal error", false), MR_RESULT_ERROR);
    assert_int_equal(cls(404, "", false), MR_RESULT_ERROR);
    assert_int_equal(cls(201, "", false), MR_RESULT_ERROR);
}

static void test_result_no_status_is_error(void **state)
{
    (void)state;
    assert_int_equal(cls(0, NULL, false), MR_RESULT_ERROR);
    /* no status means no answer: a body from an earlier attempt does not count */
    assert_int_equal(cls(0, "ONGOING", false), MR_RESULT_ERROR);
    assert_int_equal(cls(0, "FAILURE", false), MR_RESULT_ERROR);
}

static void test_result_text_anywhere_regardless_of_status(void **state)
{
    (void)state;
    assert_int_equal(cls(200, "{\"dtm_result\":\"ONGOING\"}", false), MR_RESULT_ONGOING);
    assert_int_equal(cls(200, "{\"dtm_result\":\"FAILURE\"}", false), MR_RESULT_FAILURE);
    assert_int_equal(cls(500, "xxONGOINGxx", false), MR_RESULT_ONGOING);
    assert_int_equal(cls(500, "FAILURE", false), MR_RESULT_FAILURE);
    assert_int_equal(cls(409, "ONGOING", false), MR_RESULT_ONGOING);
    assert_int_equal(cls(425, "FAILURE", false), MR_RESULT_ONGOING);
    assert_int_equal(cls(200, "FAILURE at the end", false), MR_RESULT_FAILURE);
    assert_int_equal(cls(200, "at the end ONGOING", false), MR_RESULT_ONGOING);
}

static void test_result_ongoing_checked_before_failure(void **state)
{
    (void)state;
    assert_int_equal(cls(200, "FAILURE ONGOING", false), MR_RESULT_ONGOING);
    assert_int_equal(cls(409, "FAILURE and ONGOING", false), MR_RESULT_ONGOING);
}

static void test_result_text_is_case_sensitive_and_whole(void **state)
{
    (void)state;
    assert_int_equal(cls(200, "ongoing failure", false), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "ONGOIN", false), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "FAILUR", false), MR_RESULT_SUCCESS);
}

static void test_result_body_with_nul_and_length(void **state)
{
    static const char body[] = "abc\0FAILURE";
    static const char cut[] = "ONGOING";

    (void)state;
    /* bytes after a NUL still count */
    assert_int_equal(mr_result_classify(200, body, sizeof(body) - 1, false), MR_RESULT_FAILURE);
    /* only the first @len bytes count */
    assert_int_equal(mr_result_classify(200, cut, 6, false), MR_RESULT_SUCCESS);
    assert_int_equal(mr_result_classify(200, NULL, 0, true), MR_RESULT_ERROR);
}

static void test_result_strict_wants_success(void **state)
{
    (void)state;
    assert_int_equal(cls(200, "{\"dtm_result\":\"SUCCESS\"}", true), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "SUCCESS", true), MR_RESULT_SUCCESS);
    assert_int_equal(cls(200, "", true), MR_RESULT_ERROR);
    assert_int_equal(cls(200, "{}", true), MR_RESULT_ERROR);
    assert_int_equal(cls(200, "success", true), MR_RESULT_ERROR);
    /* the other rules are unchanged */
    assert_int_equal(cls(425, NULL, true), MR_RESULT_ONGOING);
    assert_int_equal(cls(409, NULL, true), MR_RESULT_FAILURE);
    assert_int_equal(cls(200, "SUCCESS? no: FAILURE", true), MR_RESULT_FAILURE);
    assert_int_equal(cls(500, "SUCCESS", true), MR_RESULT_ERROR);
    assert_int_equal(cls(0, NULL, true), MR_RESULT_ERROR);
}

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(mr_result_name(MR_RESULT_SUCCESS), "success");
    assert_string_equal(mr_result_name(MR_RESULT_ONGOING), "ongoing");
    assert_string_equal(mr_result_name(MR_RESULT_FAILURE), "failure");
    assert_string_equal(mr_result_name(MR_RESULT_ERROR), "error");
    assert_string_equal(mr_result_name(MR_RESULT_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_200_is_success_whatever_the_body),
        cmocka_unit_test(test_result_status_codes),
        cmocka_unit_test(test_result_no_status_is_error),
        cmocka_unit_test(test_result_text_anywhere_regardless_of_status),
        cmocka_unit_test(test_result_ongoing_checked_before_failure),
        cmocka_unit_test(test_result_text_is_case_sensitive_and_whole),
        cmocka_unit_test(test_result_body_with_nul_and_length),
        cmocka_unit_test(test_result_strict_wants_success),
        cmocka_unit_test(test_result_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
