-- SPDX-License-Identifier: MIT
--
-- examples/transfer/schema.sql - the bank of the transfer example, in the
-- database the service connects to (its --db URI names it). Two accounts
-- with 1000 each; running it again changes nothing. The barrier table the
-- service also needs is sql/barrier/mysql.sql (dtm_barrier.barrier).

CREATE TABLE IF NOT EXISTS user_account (
    id              int PRIMARY KEY AUTO_INCREMENT,
    user_id         int NOT NULL UNIQUE,
    balance         decimal(10, 2) NOT NULL DEFAULT 0,
    trading_balance decimal(10, 2) NOT NULL DEFAULT 0,
    create_time     datetime DEFAULT now(),
    update_time     datetime DEFAULT now() ON UPDATE now()
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

INSERT IGNORE INTO user_account (user_id, balance) VALUES (1, 1000), (2, 1000);
