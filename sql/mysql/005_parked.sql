-- SPDX-License-Identifier: MIT
--
-- sql/mysql/005_parked.sql - version 5 of the MySQL/MariaDB relay store:
-- parked messages (README "When delivery keeps failing"). Same columns and
-- meaning as sql/sqlite/004_parked.sql.
--
-- - msg.state may be 'parked': a message whose step or back-check failed
--   retry_limit times. It is not unfinished for the claim (due_time stays
--   NULL for it, as the generated column's CASE already says), never called,
--   and leaves that state only by a redrive or a forceStop.
-- - retry_limit: the message's own limit of failed attempts (DTM's field);
--   0 = the relay's --retry-limit.
-- - query_attempts: back-checks that ended in an error since the message was
--   prepared or last redriven.
-- - parked_from: the state a parked message was parked from ('prepared' or
--   'submitted'), where a redrive puts it back; '' otherwise.
--
-- One ALTER (one table copy, atomic), run only while retry_limit is missing,
-- so running this file again is harmless. DROP CONSTRAINT is understood by
-- MariaDB 10.2+ and MySQL 8.0.19+.

SET @msgrelay_005 = (
    SELECT IF(COUNT(*) > 0, 'DO 0',
              'ALTER TABLE msg
                   DROP CONSTRAINT msg_state_ok,
                   ADD COLUMN retry_limit INT NOT NULL DEFAULT 0,
                   ADD COLUMN query_attempts INT NOT NULL DEFAULT 0,
                   ADD COLUMN parked_from VARCHAR(16) NOT NULL DEFAULT '''',
                   ADD CONSTRAINT msg_state_ok
                       CHECK (state IN (''prepared'', ''submitted'', ''succeed'', ''failed'', ''parked''))')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND column_name = 'retry_limit');
PREPARE msgrelay_005 FROM @msgrelay_005;
EXECUTE msgrelay_005;
DEALLOCATE PREPARE msgrelay_005;
