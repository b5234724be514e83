-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/007_dest_keys.sql - version 7 of the SQLite relay store: the
-- destination key (common/dest.h) of each step and of each message's
-- back-check, written at insert, so a destination that answers again finds
-- the messages waiting on it by the same key its health counts by, however
-- their URLs spell it (credentials, a default port written or not, the case
-- of the host; Kafka topics exactly).
--
-- Applied by store_sqlite.c at open, after 005, in the same transaction as
-- any other pending file; never edited once released.
--
-- NULL for rows written before this version, and for URLs without a key:
-- those messages wait out their own back-off when their destination returns.
-- No index: the recovery walks the waiting messages (msg_due), as it did.
ALTER TABLE step ADD COLUMN dest TEXT;
ALTER TABLE msg ADD COLUMN query_dest TEXT;
