-- SPDX-License-Identifier: MIT
--
-- sql/mysql/010_order_live.sql - version 10 of the MySQL/MariaDB relay store:
-- the ordering index holds only unfinished keyed messages, as the partial
-- msg_order indexes of SQLite and PostgreSQL do.
--
-- order_live_key: a keyed message's ordering key while it holds its key's
-- order (placed, submitted or parked), NULL otherwise (unkeyed, prepared,
-- finished). msg_order becomes (order_live_key, order_pos): a key's entries
-- there are its unfinished messages only, so finding a key's head or a
-- message's predecessor (an equality on order_live_key, also in the claim's
-- correlated NOT EXISTS) reads those, not the key's whole history (before:
-- every finished message ever placed on the key, for each claim of a keyed
-- message and each keyed submit). STORED for the reason 003 gives for
-- due_time. One ALTER (one table copy), only while the column is missing: on
-- a large store, migrate at a quiet hour.
--
-- Applied by `msgrelay migrate`; safe to run again should a migration stop
-- half-way. Never edited once released.

SET @msgrelay_010 = (
    SELECT IF(COUNT(*) > 0, 'DO 0',
              'ALTER TABLE msg
                   ADD COLUMN order_live_key VARCHAR(128)
                       AS (CASE WHEN order_pos > 0 AND state IN (''submitted'', ''parked'')
                                THEN ordering_key END) STORED,
                   DROP INDEX msg_order,
                   ADD KEY msg_order (order_live_key, order_pos)')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND column_name = 'order_live_key');
PREPARE msgrelay_010 FROM @msgrelay_010;
EXECUTE msgrelay_010;
DEALLOCATE PREPARE msgrelay_010;
