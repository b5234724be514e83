/* SPDX-License-Identifier: MIT */
/*
 * producer.c - the smallest producer: one message with one step, submitted.
 *   producer RELAY_URL STEP_URL PAYLOAD     (RELAY_URL: http://127.0.0.1:36789/api/dtmsvr)
 * Prints the gid; exits non-zero with the SDK's message on failure. Needs
 * only msgrelay/client.h: cc producer.c $(pkg-config --cflags --libs msgrelay)
 */
#include <stdio.h>
#include <stdlib.h>

#include "msgrelay/client.h"

int main(int argc, char **argv)
{
    struct mr_client_msg *m = NULL;
    char err[512] = "";
    char *gid = NULL;
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: producer RELAY_URL STEP_URL PAYLOAD\n");
        return 2;
    }
    if (mr_client_global_init() != MR_CLIENT_SUCCESS)
        return 1;
    rc = mr_client_new_gid(argv[1], 0, &gid, err, sizeof err);
    if (rc == MR_CLIENT_SUCCESS)
        rc = mr_client_msg_new(&m, argv[1], gid, err, sizeof err);
    if (rc == MR_CLIENT_SUCCESS)
        rc = mr_client_msg_add(m, argv[2], argv[3], err, sizeof err);
    if (rc == MR_CLIENT_SUCCESS)
        rc = mr_client_submit(m, err, sizeof err);
    if (rc == MR_CLIENT_SUCCESS)
        printf("%s\n", gid);
    else
        fprintf(stderr, "producer: %s: %s\n", mr_client_result_name(rc), err);
    mr_client_msg_free(m);
    free(gid);
    mr_client_global_cleanup();
    return rc == MR_CLIENT_SUCCESS ? 0 : 1;
}
