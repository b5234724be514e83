/* SPDX-License-Identifier: MIT */
/*
 * test_alert.c - the alert webhook's pure parts (relay/relay_alert.c): the
 * token bucket that rate-limits alerts, the JSON body (DTM's fields and
 * msgrelay's, credentials masked, long errors cut), and the start-up check
 * of the webhook URL against the target policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/config.h"
#include "common/target.h"
#include "relay/relay_alert.h"

static void test_bucket_allows_burst_then_refuses(void **state)
{
    struct mr_alert_bucket b;
    int i;

    (void)state;
    mr_alert_bucket_init(&b, 5, 5, 1000);
    for (i = 0; i < 5; i++)
        assert_true(mr_alert_bucket_take(&b, 1000));
    assert_false(mr_alert_bucket_take(&b, 1000));
    assert_false(mr_alert_bucket_take(&b, 1100)); /* half a token */
}

static void test_bucket_refills_at_rate_up_to_burst(void **state)
{
    struct mr_alert_bucket b;
    int i;
    int n = 0;

    (void)state;
    mr_alert_bucket_init(&b, 5, 5, 0);
    while (mr_alert_bucket_take(&b, 0))
        ;
    /* 200 ms is one token at 5 a second */
    assert_true(mr_alert_bucket_take(&b, 200));
    assert_false(mr_alert_bucket_take(&b, 200));
    /* an hour idle refills only up to the burst */
    for (i = 0; i < 100; i++)
        n += mr_alert_bucket_take(&b, 3600 * 1000) ? 1 : 0;
    assert_int_equal(n, 5);
    /* a clock that goes back adds nothing */
    assert_false(mr_alert_bucket_take(&b, 1000));
}

static void test_body_has_dtm_and_msgrelay_fields(void **state)
{
    struct mr_alert a = {.gid = "g-1",
                         .status = "submitted",
                         .branch_id = "01",
                         .error = "step 01: HTTP 500 from http://bob:secret@svc.example/x",
                         .retry_count = 3,
                         .parked = false};
    char *text = mr_alert_body(&a);
    json_error_t je;
    json_t *o;

    (void)state;
    assert_non_null(text);
    o = json_loads(text, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "gid")), "g-1");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "submitted");
    assert_string_equal(json_string_value(json_object_get(o, "trans_type")), "msg");
    assert_string_equal(json_string_value(json_object_get(o, "branch")), "01");
    assert_string_equal(json_string_value(json_object_get(o, "branch_id")), "01");
    assert_int_equal(json_integer_value(json_object_get(o, "retry_count")), 3);
    assert_true(json_is_false(json_object_get(o, "parked")));
    assert_null(strstr(json_string_value(json_object_get(o, "error")), "secret"));
    assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "HTTP 500"));
    json_decref(o);
    free(text);
}

static void test_body_cuts_long_error(void **state)
{
    char *err = malloc(5001);
    struct mr_alert a = {.gid = "g", .status = "parked", .branch_id = "00", .parked = true};
    char *text;
    json_t *o;

    (void)state;
    memset(err, 'x', 5000);
    err[5000] = '\0';
    a.error = err;
    text = mr_alert_body(&a);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "error"))), 1000);
    assert_true(json_is_true(json_object_get(o, "parked")));
    json_decref(o);
    free(text);
    free(err);
}

static void test_check_url_applies_target_policy(void **state)
{
    struct mr_err err = MR_ERR_INIT;
    struct mr_target_policy *p = NULL;

    (void)state;
    assert_int_equal(mr_target_policy_parse(NULL, NULL, &p, &err), 0);
    mr_config.targets = p;
    assert_int_equal(mr_alert_check_url("http://127.0.0.1:9/hook", &err), 0);
    assert_int_equal(mr_alert_check_url("http://169.254.169.254/latest", &err), MR_EINVAL);
    assert_non_null(strstr(err.msg, "--alert-webhook"));
    mr_err_clear(&err);
    assert_int_equal(mr_alert_check_url("http://u:pw@metadata.google.internal/x", &err),
                     MR_EINVAL);
    assert_null(strstr(err.msg, "pw@"));
    mr_err_clear(&err);
    assert_int_equal(mr_alert_check_url("ftp://example.com/x", &err), MR_EINVAL);
    mr_config.targets = NULL;
    mr_target_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_allows_burst_then_refuses),
        cmocka_unit_test(test_bucket_refills_at_rate_up_to_burst),
        cmocka_unit_test(test_body_has_dtm_and_msgrelay_fields),
        cmocka_unit_test(test_body_cuts_long_error),
        cmocka_unit_test(test_check_url_applies_target_policy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
