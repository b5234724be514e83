-- SPDX-License-Identifier: MIT
--
-- sql/mysql/008_dest_keys.sql - version 8 of the MySQL/MariaDB relay store:
-- the destination key (common/dest.h) of each step and of each message's
-- back-check, written at insert. Same meaning as sql/sqlite/007_dest_keys.sql.
-- VARBINARY: compared byte for byte (Kafka topics are case-sensitive; hosts
-- are lower-cased in the key already).
--
-- Applied by `msgrelay migrate`; safe to run again should a migration stop
-- half-way. Never edited once released.

SET @msgrelay_007a = (
    SELECT IF(COUNT(*) > 0, 'DO 0', 'ALTER TABLE step ADD COLUMN dest VARBINARY(320) NULL')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'step' AND column_name = 'dest');
PREPARE msgrelay_007a FROM @msgrelay_007a;
EXECUTE msgrelay_007a;
DEALLOCATE PREPARE msgrelay_007a;

SET @msgrelay_007b = (
    SELECT IF(COUNT(*) > 0, 'DO 0', 'ALTER TABLE msg ADD COLUMN query_dest VARBINARY(320) NULL')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND column_name = 'query_dest');
PREPARE msgrelay_007b FROM @msgrelay_007b;
EXECUTE msgrelay_007b;
DEALLOCATE PREPARE msgrelay_007b;
