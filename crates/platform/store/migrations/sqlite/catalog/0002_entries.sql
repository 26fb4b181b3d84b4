-- Ordered entries (issue 81): a playlist is an ordered list that may repeat a track, which the
-- links of a relation (one per target) cannot hold. One row per entry of a record's `entries`
-- property, by position (1-based); `target` is the collection the entry points into. A catalog
-- made before holds no rows here: a property it kept as JSON text is moved in when declared
-- again as entries (`Catalog::ensure_collection`).
CREATE TABLE IF NOT EXISTS cat_entries (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    property TEXT NOT NULL,
    position INTEGER NOT NULL,
    target TEXT NOT NULL,
    target_key TEXT NOT NULL,
    PRIMARY KEY (collection, key, property, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cat_entries_target ON cat_entries (target, target_key);
