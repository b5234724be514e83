/* SPDX-License-Identifier: MIT */
/*
 * fuzz_target.c - libFuzzer target for the target policy and URL masking
 * (common/target.c, common/url.c): the input's first line is a policy list
 * (tried as the allow and as the deny list), the rest a URL or text that is
 * judged by the policies and masked. Nothing may crash, leak or read out of
 * bounds, and masking must be idempotent (a masked text has nothing left to
 * hide); a verdict is one of the three, and the default deny list judges the
 * metadata address 169.254.169.254 denied whatever the input adds to it.
 * make fuzz runs it; make test replays tests/fuzz/corpus/fuzz_target/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/target.h"
#include "common/url.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_verdict - a verdict is one of the three the header names. */
static void check_verdict(enum mr_target_verdict v)
{
    FUZZ_CHECK(v == MR_TARGET_ALLOW || v == MR_TARGET_CHECK || v == MR_TARGET_DENY,
               "verdict %d", (int)v);
}

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
        check_verdict(mr_target_check_url(p, url));
        mr_target_policy_free(p);
    }
    if (mr_target_policy_parse(NULL, text, &p, NULL) == 0) {
        check_verdict(mr_target_check_url(p, url));
        /* an entry may add to the defaults; only "!defaults" drops them */
        FUZZ_CHECK(strstr(text, MR_TARGET_NO_DEFAULTS) != NULL ||
                       mr_target_check_url(p, "http://169.254.169.254/latest") == MR_TARGET_DENY,
                   "deny list '%s' lets the metadata address through", text);
        mr_target_policy_free(p);
    }
    masked = mr_url_masked(url);
    again = mr_url_masked(masked);
    FUZZ_CHECK(strcmp(masked, again) == 0, "masking '%s' left a userinfo behind: '%s'", url,
               masked);
    free(again);
    free(masked);
    free(text);
    return 0;
}
