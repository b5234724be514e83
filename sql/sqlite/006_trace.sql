-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/006_trace.sql - version 6 of the SQLite relay store: the W3C
-- trace context a message was prepared or submitted with, sent on every
-- call made on its behalf (README "Traces").
--
-- Applied by store_sqlite.c at open, after 005, in the same transaction as
-- any other pending file; never edited once released.
--
-- traceparent: the version 00 traceparent as received (55 bytes), '' when
-- the request had none or an invalid one; tracestate: its tracestate (at
-- most 512 bytes), '' when none.
ALTER TABLE msg ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
ALTER TABLE msg ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';
