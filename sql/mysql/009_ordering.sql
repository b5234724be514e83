-- SPDX-License-Identifier: MIT
--
-- sql/mysql/009_ordering.sql - ordered delivery per key: a message's
-- ordering key and its place in the key's order, and the last place given
-- per key (order_key; its row lock orders the places of concurrent
-- transactions as their commits). Idempotent like 008: a column or key that
-- exists is left alone.

SET @msgrelay_009a = (
    SELECT IF(COUNT(*) > 0, 'DO 0',
              'ALTER TABLE msg ADD COLUMN ordering_key VARCHAR(128) NOT NULL DEFAULT '''', ADD COLUMN order_pos BIGINT NOT NULL DEFAULT 0, ADD KEY msg_order (ordering_key, order_pos)')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'msg' AND column_name = 'ordering_key');
PREPARE msgrelay_009a FROM @msgrelay_009a;
EXECUTE msgrelay_009a;
DEALLOCATE PREPARE msgrelay_009a;

CREATE TABLE IF NOT EXISTS order_key (
    k        VARCHAR(128) NOT NULL,
    next_pos BIGINT       NOT NULL,
    PRIMARY KEY (k)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
