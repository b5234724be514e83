-- SPDX-License-Identifier: MIT
--
-- sql/mysql/002_topics.sql - version 2 of the MySQL/MariaDB relay store: the
-- kv table of DTM's topics (cat 'topics', k = the topic name, v = its
-- subscribers as a JSON array [{"url":…,"remark":…}]). Same columns and
-- meaning as sql/sqlite/002_topics.sql; DTM's dtm.kv has the same shape with
-- datetime times.
--
-- Applied by `msgrelay migrate`; safe to run again (IF NOT EXISTS) should a
-- migration stop half-way. Never edited once released.
--
-- version starts at 1 and grows by one at each update: updates compare and
-- set it (optimistic locking), so two relays changing one topic at once do
-- not lose a subscriber. Times are BIGINT UTC milliseconds.

CREATE TABLE IF NOT EXISTS kv (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    cat         VARCHAR(45)  NOT NULL,
    k           VARCHAR(128) NOT NULL,
    v           MEDIUMTEXT   NOT NULL,
    version     BIGINT       NOT NULL DEFAULT 1,
    create_time BIGINT       NOT NULL DEFAULT 0,
    update_time BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    -- one row per (cat, k), and the lookup of a topic by name
    UNIQUE KEY kv_cat_k (cat, k),
    -- scanKV: one category, newest first by id
    KEY kv_cat_id (cat, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
