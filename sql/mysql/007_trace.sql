-- SPDX-License-Identifier: MIT
--
-- sql/mysql/007_trace.sql - version 7 of the MySQL/MariaDB relay store: the
-- W3C trace context a message was prepared or submitted with, sent on every
-- call made on its behalf (README "Traces"). Same meaning as
-- sql/sqlite/006_trace.sql.
--
-- Applied by `msgrelay migrate`; safe to run again should a migration stop
-- half-way (one ALTER, only while the columns are missing). Never edited
-- once released.

SET @msgrelay_007 = (
    SELECT IF(COUNT(*) > 0, 'DO 0',
              'ALTER TABLE msg
                   ADD COLUMN traceparent VARCHAR(55)  NOT NULL DEFAULT '''',
                   ADD COLUMN tracestate  VARCHAR(512) NOT NULL DEFAULT ''''')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND column_name = 'traceparent');
PREPARE msgrelay_007 FROM @msgrelay_007;
EXECUTE msgrelay_007;
DEALLOCATE PREPARE msgrelay_007;
