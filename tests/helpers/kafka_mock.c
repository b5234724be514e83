/* SPDX-License-Identifier: MIT */
/*
 * kafka_mock.c - a Kafka cluster for tests: librdkafka's mock cluster (the
 * real Kafka protocol on loopback) in a process of its own.
 *
 *   kafka_mock [--brokers N] [--rtt MS] [--flaky-topic TOPIC]
 *
 * Prints the bootstrap address ("127.0.0.1:PORT,...") as one line on stdout,
 * then serves until SIGTERM or SIGINT. SIGUSR1 takes every broker down
 * (connections dropped and refused), SIGUSR2 brings them back; each is
 * acknowledged with a line "down" / "up" on stdout once done. --rtt adds a
 * round-trip delay to every broker answer. Topics are created on first use.
 * --flaky-topic creates TOPIC (one partition) at start; then SIGRTMIN takes
 * its partition's leader away (records to it wait and time out while the
 * brokers and other topics stay up) and SIGRTMIN+1 gives it back, each
 * acknowledged with "topic-down" / "topic-up".
 *
 * Thread: main only (librdkafka runs the brokers on its own threads); signals
 * are taken with sigwait(). Errors: bad arguments exit 2, a failed start 1.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* usage - print how to call and return the exit code for bad arguments. */
static int usage(void)
{
    fprintf(stderr, "usage: kafka_mock [--brokers N] [--rtt MS] [--flaky-topic TOPIC]\n");
    return 2;
}

/*
 * serve - run @mc until SIGTERM/SIGINT, taking brokers down and up on
 * SIGUSR1/SIGUSR2, and @flaky's leader (when not NULL) on SIGRTMIN/SIGRTMIN+1.
 */
static void serve(rd_kafka_mock_cluster_t *mc, const sigset_t *set, const char *flaky)
{
    int sig = 0;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            return;
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (sig == SIGUSR1) {
            rd_kafka_mock_broker_set_down(mc, -1);
            printf("down\n");
        } else if (sig == SIGUSR2) {
            rd_kafka_mock_broker_set_up(mc, -1);
            printf("up\n");
        } else if (flaky != NULL && sig == SIGRTMIN) {
            rd_kafka_mock_partition_set_leader(mc, flaky, 0, -1);
            printf("topic-down\n");
        } else if (flaky != NULL && sig == SIGRTMIN + 1) {
            rd_kafka_mock_partition_set_leader(mc, flaky, 0, 1);
            printf("topic-up\n");
        }
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    sigset_t set;
    char why[512];
    const char *flaky = NULL;
    int brokers = 1;
    int rtt = 0;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rtt") == 0 && i + 1 < argc)
            rtt = atoi(argv[++i]);
        else if (strcmp(argv[i], "--flaky-topic") == 0 && i + 1 < argc)
            flaky = argv[++i];
        else
            return usage();
    }
    if (brokers < 1 || brokers > 16 || rtt < 0)
        return usage();

    /* before librdkafka starts its threads, so they inherit the mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGRTMIN);
    sigaddset(&set, SIGRTMIN + 1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    /* the mock cluster needs an rd_kafka_t for its book keeping; a producer does */
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", why);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: cannot create the handle: %s\n", why);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    if (rtt > 0)
        rd_kafka_mock_broker_set_rtt(mc, -1, rtt);
    if (flaky != NULL && rd_kafka_mock_topic_create(mc, flaky, 1, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka_mock: cannot create topic %s\n", flaky);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    serve(mc, &set, flaky);

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
