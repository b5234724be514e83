-- SPDX-License-Identifier: MIT
--
-- examples/transfer/compose-init.sql - run once by the MariaDB container of
-- compose.yaml (docker-entrypoint-initdb.d, as root, after
-- sql/barrier/mysql.sql): the bank's database and its user, who may use the
-- barrier table but not change its shape. The relay's own database and user
-- come from the MARIADB_* variables in compose.yaml.

CREATE DATABASE IF NOT EXISTS bank DEFAULT CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'bank'@'%' IDENTIFIED BY 'bank-secret';
GRANT ALL PRIVILEGES ON bank.* TO 'bank'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON dtm_barrier.* TO 'bank'@'%';
