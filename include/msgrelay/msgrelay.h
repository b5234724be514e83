/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/msgrelay.h - the umbrella header of libmsgrelay, the C SDK of
 * msgrelay: the producer side (msgrelay/client.h: messages, prepare, submit,
 * do_and_submit_db), the barrier (msgrelay/barrier.h: apply a delivery
 * once, answer the back-check) and the Kafka consumer loop on it
 * (msgrelay/consumer.h).
 *
 * Compile with `pkg-config --cflags mysqlclient` (the headers use MYSQL) and
 * link with libmsgrelay.a plus `pkg-config --libs libcurl jansson mysqlclient rdkafka`.
 * Call curl_global_init(CURL_GLOBAL_DEFAULT) and mysql_library_init(0, NULL,
 * NULL) once in main() before any thread uses the SDK. Declares nothing of
 * its own but the version.
 */
#ifndef MR_MSGRELAY_MSGRELAY_H
#define MR_MSGRELAY_MSGRELAY_H

#include "msgrelay/barrier.h"
#include "msgrelay/client.h"
#include "msgrelay/consumer.h"

/* The SDK's version, the same as the relay's. */
#define MR_SDK_VERSION "0.1.0"

#endif
