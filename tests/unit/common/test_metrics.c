/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the exposition (common/metrics.c): label values escaped
 * as the Prometheus text format wants, histogram buckets cumulative with
 * +Inf equal to _count, DTM's series rendered from the same counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/metrics.h"

/* render - the whole page, owned by the caller. */
static char *render(void)
{
    struct mr_buf b = MR_BUF_INIT(1 << 20);

    assert_int_equal(mr_metrics_render(&b), 0);
    return mr_buf_detach(&b, NULL);
}

/* sample - the value of the sample line that starts with @head ("name{labels}"), or -1. */
static double sample(const char *page, const char *head)
{
    const char *p = page;
    size_t n = strlen(head);

    while ((p = strstr(p, head)) != NULL) {
        if ((p == page || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

static void test_label_values_are_escaped(void **state)
{
    char *page;

    (void)state;
    mr_metrics_set_http_server("a\"b\\c\nd");
    page = render();
    assert_non_null(
        strstr(page, "dtm_server_info{gin_version=\"a\\\"b\\\\c\\nd\",grpc_version=\"none\"} 1\n"));
    free(page);
}

static void test_api_latency_buckets_are_cumulative(void **state)
{
    char *page;

    (void)state;
    mr_metrics_api(MR_ROUTE_PREPARE, 200, 300);      /* 0.3 ms */
    mr_metrics_api(MR_ROUTE_PREPARE, 200, 7000);     /* 7 ms */
    mr_metrics_api(MR_ROUTE_PREPARE, 409, 20000000); /* 20 s: only +Inf */
    page = render();
    assert_true(sample(page, "msgrelay_api_request_duration_seconds_bucket{route=\"prepare\","
                             "le=\"0.0005\"}") == 1);
    assert_true(sample(page, "msgrelay_api_request_duration_seconds_bucket{route=\"prepare\","
                             "le=\"0.01\"}") == 2);
    assert_true(sample(page, "msgrelay_api_request_duration_seconds_bucket{route=\"prepare\","
                             "le=\"10\"}") == 2);
    assert_true(sample(page, "msgrelay_api_request_duration_seconds_bucket{route=\"prepare\","
                             "le=\"+Inf\"}") == 3);
    assert_true(sample(page, "msgrelay_api_request_duration_seconds_count{route=\"prepare\"}") ==
                3);
    /* DTM's view of the same calls: default buckets only, ok/fail by status */
    assert_true(sample(page, "dtm_server_response_duration_bucket{type=\"http\",api=\"prepare\","
                             "le=\"0.005\"}") == 1);
    assert_true(sample(page, "dtm_server_response_duration_bucket{type=\"http\",api=\"prepare\","
                             "le=\"0.0005\"}") == -1);
    assert_true(sample(page, "dtm_server_process_total{type=\"http\",api=\"prepare\","
                             "status=\"ok\"}") == 2);
    assert_true(sample(page, "dtm_server_process_total{type=\"http\",api=\"prepare\","
                             "status=\"fail\"}") == 1);
    free(page);
}

static void test_branches_past_the_cap_share_other(void **state)
{
    char id[16];
    char *page;
    int i;

    (void)state;
    for (i = 0; i < 70; i++) {
        snprintf(id, sizeof(id), "%02d", i + 1);
        mr_metrics_step(MR_RESULT_SUCCESS, id);
    }
    mr_metrics_step(MR_RESULT_FAILURE, "01");
    page = render();
    assert_true(sample(page, "dtm_branch_process_total{model=\"msg\",branchid=\"01\","
                             "branchtype=\"action\",status=\"ok\"}") == 1);
    assert_true(sample(page, "dtm_branch_process_total{model=\"msg\",branchid=\"01\","
                             "branchtype=\"action\",status=\"fail\"}") == 1);
    assert_true(sample(page, "dtm_branch_process_total{model=\"msg\",branchid=\"64\","
                             "branchtype=\"action\",status=\"ok\"}") == 1);
    assert_true(sample(page, "dtm_branch_process_total{model=\"msg\",branchid=\"other\","
                             "branchtype=\"action\",status=\"ok\"}") == 6);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_api_latency_buckets_are_cumulative),
        cmocka_unit_test(test_branches_past_the_cap_share_other),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
