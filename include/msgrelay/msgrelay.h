/* SPDX-License-Identifier: MIT */
/*
 * msgrelay/msgrelay.h - the umbrella header of the C SDK of msgrelay: every
 * public header at once. A program that includes it needs all three
 * libraries (pkg-config msgrelay-consumer); include only what you use to
 * need less:
 *
 *   msgrelay/client.h     the producer: messages, prepare, submit, abort
 *                         (libmsgrelay; pkg-config msgrelay: libcurl, jansson)
 *   msgrelay/barrier.h    the barrier: apply a delivery once, answer the back-check
 *   msgrelay/client_db.h  do_and_submit_db: a message tied to a local transaction
 *   msgrelay/barrier_pg.h, client_db_pg.h  the same two on PostgreSQL
 *   msgrelay/backcheck.h  an HTTP server answering the back-check
 *                         (libmsgrelay-barrier; pkg-config msgrelay-barrier:
 *                         also mysqlclient, libpq, libmicrohttpd)
 *   msgrelay/consumer.h   the Kafka consumer loop on the barrier
 *                         (libmsgrelay-consumer; pkg-config msgrelay-consumer:
 *                         also librdkafka)
 *
 * Call mr_client_global_init() and, with the barrier, mysql_library_init(0,
 * NULL, NULL) once in main() before any thread uses the SDK. Declares
 * nothing of its own but the version.
 */
#ifndef MR_MSGRELAY_MSGRELAY_H
#define MR_MSGRELAY_MSGRELAY_H

#include "msgrelay/backcheck.h"
#include "msgrelay/barrier.h"
#include "msgrelay/barrier_pg.h"
#include "msgrelay/client.h"
#include "msgrelay/client_db.h"
#include "msgrelay/client_db_pg.h"
#include "msgrelay/consumer.h"

/* The SDK's version, the same as the relay's (the shared libraries' MAJOR.MINOR.PATCH). */
#define MR_SDK_VERSION "0.1.0"

#endif
