-- SPDX-License-Identifier: MIT
--
-- sql/mysql/003_lean_msg_indexes.sql - version 3 of the MySQL/MariaDB relay
-- store: less index upkeep per message on the hot path (MySQL/MariaDB only;
-- the SQLite schema is unchanged).
--
-- - due_time becomes a STORED generated column (same expression, same
--   meaning; msg_due keeps its name and key). InnoDB keeps an index on a
--   VIRTUAL column by computing the value again for every write, undo
--   record and purge of the row; a stored value is read like any other.
-- - msg_owner goes: it only served release_owner (a relay's start and stop),
--   which now reads the unfinished rows through msg_due instead (a lease is
--   only ever held on an unfinished message). The claim, the release and the
--   final transition no longer rewrite it.
--
-- MySQL cannot turn a virtual column into a stored one in place, hence the
-- drop and add. One ALTER does all of it (one table copy, atomic), and only
-- while msg_owner still exists, so running this file again is harmless.

SET @msgrelay_003 = (
    SELECT IF(COUNT(*) = 0, 'DO 0',
              'ALTER TABLE msg
                   DROP INDEX msg_owner,
                   DROP INDEX msg_due,
                   DROP COLUMN due_time,
                   ADD COLUMN due_time BIGINT AS (CASE WHEN state IN (''prepared'', ''submitted'')
                                                       THEN next_cron_time END) STORED,
                   ADD KEY msg_due (due_time, lease_until)')
    FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND index_name = 'msg_owner');
PREPARE msgrelay_003 FROM @msgrelay_003;
EXECUTE msgrelay_003;
DEALLOCATE PREPARE msgrelay_003;
