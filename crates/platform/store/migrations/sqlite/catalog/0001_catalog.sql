-- The catalog: collections, their properties, records, links, the change log, per-actor usage
-- and plugin owners. Written with IF NOT EXISTS: the catalogs every release before versioning
-- made are this version (their tables are left as they are, missing ones created).
CREATE TABLE IF NOT EXISTS cat_collections (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cat_properties (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT,
    inverse TEXT,
    stored INTEGER NOT NULL DEFAULT 1,
    integer INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cat_records (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    props TEXT NOT NULL,
    owner TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_seq INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL,
    PRIMARY KEY (collection, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cat_links (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    property TEXT NOT NULL,
    target TEXT NOT NULL,
    target_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    added_at TEXT,
    method TEXT NOT NULL,
    actor TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, key, property, target_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cat_links_target ON cat_links (target, target_key);
CREATE TABLE IF NOT EXISTS cat_changes (
    seq INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    key TEXT,
    op TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cat_changes_record ON cat_changes (collection, key);
CREATE TABLE IF NOT EXISTS cat_usage (
    actor TEXT PRIMARY KEY,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cat_owners (
    owner TEXT PRIMARY KEY,
    identity TEXT NOT NULL
);
