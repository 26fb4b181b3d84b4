-- Ordered entries (issue 81): a playlist is an ordered list that may repeat a track, which the
-- links of a relation (one per target) cannot hold. One row per entry of a record's `entries`
-- property, by position (1-based); `target` is the collection the entry points into (SQLite:
-- `0002_entries.sql`).
CREATE TABLE IF NOT EXISTS cat_entries (
    collection TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    property TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    target_key TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (collection, key, property, position)
);
CREATE INDEX IF NOT EXISTS cat_entries_target ON cat_entries (target, target_key);
