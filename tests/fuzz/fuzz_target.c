/* SPDX-License-Identifier: MIT */
/*
 * fuzz_target.c - libFuzzer target for the target policy and URL masking
 * (common/target.c, common/url.c): the input's first line is a policy list
 * (tried as the allow and as the deny list), the rest a URL or text that is
 * judged by the policies and masked. Nothing may crash, leak or read out of
 * bounds, and masking must be idempotent (a masked text has nothing left to
 * hide). Build: make fuzz; run: build/fuzz/fuzz_target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/target.h"
#include "common/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = mr_xstrndup((const char *)data, size); /* stops at a NUL, as C strings do */
    char *nl = strchr(text, '\n');
    const char *url = nl != NULL ? nl + 1 : text;
    struct mr_target_policy *p = NULL;
    char *masked;
    char *again;

    if (nl != NULL)
        *nl = '\0';
    if (mr_target_policy_parse(text, NULL, &p, NULL) == 0) {
        (void)mr_target_check_url(p, url);
        mr_target_policy_free(p);
    }
    if (mr_target_policy_parse(NULL, text, &p, NULL) == 0) {
        (void)mr_target_check_url(p, url);
        mr_target_policy_free(p);
    }
    masked = mr_url_masked(url);
    again = mr_url_masked(masked);
    if (strcmp(masked, again) != 0)
        abort(); /* the first pass left a userinfo behind */
    free(again);
    free(masked);
    free(text);
    return 0;
}
