-- SPDX-License-Identifier: MIT
--
-- sql/sqlite/002_topics.sql - version 2 of the SQLite relay store: the kv
-- table of DTM's topics (cat 'topics', k = the topic name, v = its
-- subscribers as a JSON array [{"url":…,"remark":…}]).
--
-- Applied by store_sqlite.c at open, after 001, in the same transaction as
-- any other pending file; never edited once released.
--
-- version starts at 1 and grows by one at each update: updates compare and
-- set it (optimistic locking), so two relays changing one topic at once do
-- not lose a subscriber. Times are INTEGER UTC milliseconds.

CREATE TABLE kv (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cat         TEXT    NOT NULL,
    k           TEXT    NOT NULL,
    v           TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL DEFAULT 1,
    create_time INTEGER NOT NULL DEFAULT 0,
    update_time INTEGER NOT NULL DEFAULT 0
);

-- one row per (cat, k), and the lookup of a topic by name
CREATE UNIQUE INDEX kv_cat_k ON kv (cat, k);

-- scanKV: one category, newest first by id
CREATE INDEX kv_cat_id ON kv (cat, id);
